/* One app connection on the daemon's socket: frames in, replies out. */
#ifndef MCPPOOL_SESSION_H
#define MCPPOOL_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <msgpack.h>

#include "list.h"

struct jsonrpc_msg;
struct jsonrpc_span;

struct daemon;
struct session;

/* Takes over an accepted, non-blocking socket. Returns NULL (fd closed) on failure. */
struct session *session_new(struct daemon *d, int fd);

/*
 * Closes the session: stops reading and writing, and queues it for the daemon's
 * deferred free, which cancels its requests in flight (their MCP servers are
 * told) and frees it; safe to call from anywhere. Replies to a closed session
 * are dropped. reason is logged.
 */
void session_kill(struct session *s, const char *reason);

/* Kills every session (daemon shutdown); their queued replies are flushed first, best effort. */
void session_kill_all(struct daemon *d, const char *reason);

/*
 * True when no client has a request in flight or a reply still waiting to be
 * written: what a draining daemon (first SIGTERM/SIGINT) waits for.
 */
bool session_all_quiet(const struct daemon *d);

/* Sets up the daemon's session lists. */
void session_init(struct daemon *d);

/*
 * True when the peer may run admin ops (pool_status, cleanup, metrics,
 * reload): our uid, root, a member of MCPPOOL_ADMIN_GROUP when it connected,
 * or a session that sent the admin token (session_grant_admin()).
 */
bool session_is_admin(const struct session *s);

/* The session sent the right admin token: admin ops are allowed from now on. */
void session_grant_admin(struct session *s);

/* The peer's uid (-1 when unknown) and pid, for logs. */
void session_peer(const struct session *s, long *uid, long *pid);

/* The list of requests in flight of this session (struct request, by its session node). */
struct list_node *session_requests(struct session *s);

/* Adds a request's node to the session's list / takes it off (idempotent). */
void session_track(struct session *s, struct list_node *node);
void session_untrack(struct session *s, struct list_node *node);

/*
 * Replies. Each packs one whole reply frame onto the session's output and tries
 * to send it. A killed session ignores them.
 *
 * session_reply_begin() returns a packer positioned at the result: the caller
 * packs exactly one object, then calls session_reply_end() with the same start.
 */
msgpack_packer *session_reply_begin(struct session *s, uint64_t id, size_t *start);
void session_reply_end(struct session *s, size_t start);

/*
 * An event of request id (wire v2, proto/PROTOCOL.md "Events"), packed the same
 * way: the caller packs exactly one map, the event's params. An event that does
 * not fit in a frame is dropped (the request's reply still comes); a killed
 * session ignores it.
 */
msgpack_packer *session_event_begin(struct session *s, uint64_t id, const char *event,
				    size_t *start);
void session_event_end(struct session *s, size_t start);

/* The wire protocol version hello settled: 1, or 2 (events); 0 before hello. */
unsigned session_version(const struct session *s);
/*
 * A result given as the value of member, a span of the JSON-RPC line that m was
 * scanned from (jsonrpc_scan_keep: packed without scanning it again), relayed as
 * msgpack without building a tree.
 */
void session_reply_json_member(struct session *s, uint64_t id, const char *line,
			       const struct jsonrpc_msg *m, const struct jsonrpc_span *member);
void session_reply_error(struct session *s, uint64_t id, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* An error with a data object (the server's JSON-RPC error for UPSTREAM_ERROR). */
void session_reply_error_data(struct session *s, uint64_t id, int code, const char *message,
			      const json_t *data);

#endif
