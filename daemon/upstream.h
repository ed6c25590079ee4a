/* One pooled MCP connection (an upstream) and the requests that run on it. */
#ifndef MCPPOOL_UPSTREAM_H
#define MCPPOOL_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "auth.h"
#include "catalog.h"
#include "list.h"
#include "metrics.h"

/*
 * A request goes session -> ops -> upstream -> transport -> server, and its
 * answer comes back the same way: the transport hands each server message to
 * the upstream, which scans it once (jsonrpc_scan_keep), finds the request by
 * the JSON-RPC id the daemon sent, and answers the request's session.
 *
 * Lifecycle of an upstream (u->state), moved only by upstream_set_state(),
 * which also moves its pool entry:
 *   STARTING  the transport is open; the era is being found (daemon/era.h:
 *             the server/discover probe, then initialize for a legacy
 *             server); app requests wait on the send queue. Pool entry STARTING.
 *   READY     the era is known (and initialize answered, for a legacy
 *             server): requests go straight to the server. Pool entry IDLE,
 *             ACTIVE or DRAINING (the pool counts the requests).
 *   CLOSED    every request was answered (UPSTREAM_CLOSED, SHUTTING_DOWN, ...),
 *             the transport is closed and the entry is out of the pool; the
 *             memory goes at the daemon's next deferred free.
 * STARTING -> READY -> CLOSED, or STARTING -> CLOSED; nothing else.
 */
enum upstream_state {
	UPSTREAM_STARTING,
	UPSTREAM_READY,
	UPSTREAM_CLOSED,
};

/* The legacy protocol version we offer at initialize (the modern one is in era.h). */
#define MCP_PROTOCOL_VERSION "2025-11-25"
/* Who the daemon says it is: initialize's clientInfo, and a modern request's _meta. */
#define MCP_CLIENT_NAME "mcppool"
#define MCP_CLIENT_VERSION "0.1.0"

struct daemon;
struct session;
struct upstream;
struct pool_entry;
struct cache_ask;

enum request_kind {
	REQ_RESULT,     /* call, request, tools: the reply is the MCP result */
	REQ_WARM,       /* warm: a ping (server/discover when modern); the reply describes the connection */
	REQ_INITIALIZE, /* the upstream's own: its answer makes the connection READY */
	REQ_PING,       /* the upstream's own: a health ping (server/discover when modern) */
	REQ_LISTEN,     /* listen: never sent, no deadline; gets the connection's change notifications */
	REQ_SUBSCRIBE,  /* the upstream's own: resources/subscribe for a listen (listen_id) */
	REQ_UNSUBSCRIBE,/* the upstream's own: resources/unsubscribe when a listen ends */
	REQ_DISCOVER,   /* the upstream's own: the server/discover probe that finds the era */
};

/*
 * The one record of a request in flight. It is in its upstream's id table,
 * keyed by the JSON-RPC id the daemon sent, from submission until it is
 * answered; an app request (REQ_RESULT, REQ_WARM, REQ_LISTEN) is also on its session's
 * list. It is answered exactly once: by the server's reply, its deadline, a
 * cancel, or the upstream's close; one whose session went away is dropped
 * without a reply. Between an input_required result and its retry an app
 * request has no session (inputreq.h): only the retry or its deadline ends
 * it. The upstream's own requests (initialize, health pings)
 * have no session: their deadline closes the connection (the server/discover
 * probe's makes it legacy instead).
 */
struct request {
	struct upstream *u;
	uint64_t rpc_id;         /* the id sent upstream: key of u's id table */
	struct request *hnext;   /* id table chain */
	enum request_kind kind;
	ev_timer deadline;
	struct list_node send_node; /* on u's send queue while it starts */
	/*
	 * What was asked (params as the app gave them, NULL for none), kept while
	 * it waits on the send queue (the era decides its line) and, on a modern
	 * connection, until it is answered: an UnsupportedProtocolVersionError or
	 * a broken response stream sends it again, once, with a new id.
	 */
	char *method;
	char *params;
	size_t params_len;
	unsigned resends;

	/* app requests */
	struct session *session;
	struct list_node session_node; /* on the session's request list */
	uint64_t client_id;
	bool reused;
	bool events;             /* wire v2: its progress token is rpc_id; events go to the session */
	const char *log_level;   /* events on a modern server: the _meta logLevel asked for (era.h) */
	uint64_t timeout_ms;
	uint64_t started_ms;     /* monotonic: progress extends the deadline up to MCPPOOL_MAX_REQUEST_TIME */
	ev_tstamp sent_at;       /* call, request, tools, warm, ping: when its line was written, to time the reply; 0 once timed */
	bool spinning;           /* the loop polls for its reply: counted in the daemon's spin_due */

	/* listen: the uris subscribed, NUL-separated; subscribe: the listen it serves */
	char *uris;
	size_t uris_len;
	uint64_t listen_id;

	struct metrics_req obs; /* app requests: timing, server and outcome for metrics and the access log */
	/* server requests held for the app (inputreq.h); while it has no session it waits for the retry */
	struct inputreq_hold *hold;
	/* a cacheable list request: where its result may be stored (upstream.c "the list cache"); NULL: nowhere */
	struct cache_ask *cache;
};

/* What an app asks for; auth is wiped by upstream_submit(). */
struct mcp_call {
	const char *user;
	const struct catalog_entry *entry;
	struct auth *auth;
	const char *method;
	const char *params; /* JSON text of the method's params object, or NULL */
	size_t params_len;
	uint64_t timeout_ms;
	enum request_kind kind; /* REQ_RESULT, REQ_WARM or REQ_LISTEN */
	bool events;            /* send the request's events (the session speaks wire v2) */
	const char *log_level;  /* with events: the log level a modern server is asked for (era_log_level()), NULL: the default */
	const char *uris;       /* REQ_LISTEN: resources to subscribe to, each NUL-terminated */
	size_t uris_len;        /* bytes of uris, every NUL included */
	/* A retry of an input_required result whose requestState the daemon minted (inputreq.h). */
	const char *request_state;   /* NUL-terminated, or NULL */
	const char *input_responses; /* its inputResponses as JSON text, or NULL */
	size_t input_responses_len;
};

/* Creates the pool and the sweep timer. Returns 0, or -1 when out of memory. */
int upstream_init(struct daemon *d);

/*
 * Runs call for the session's request client_id: reuses the pooled upstream
 * of (user, mcp) when the auth hash matches, retires it and starts a new one
 * when it does not, makes room under the limits, and answers the session
 * exactly once (at once when it fails: POOL_EXHAUSTED, UPSTREAM_START_FAILED,
 * SHUTTING_DOWN, INTERNAL).
 *
 * A REQ_RESULT call of a cacheable list (listcache_method(): tools/list,
 * prompts/list, resources/list, resources/templates/list, resources/read),
 * without inputResponses or requestState, is first looked up in
 * d->cache (MCPPOOL_CACHE_BYTES) and answered from it when fresh, without
 * reaching the server; else its result is stored when it comes, if it may be:
 * - a modern server's, with a positive ttlMs (resultType complete): under its
 *   catalog entry for cacheScope "public" (any user of the entry gets it),
 *   else under its pool entry (the same user, catalog entry and auth hash),
 *   until now + ttlMs; a reload starts the cache afresh;
 * - a legacy server's list, when it declared that list's listChanged at
 *   initialize: under its connection, until the server's
 *   notifications/.../list_changed or the connection's close.
 * The key is the method and the params as the app sent them (the daemon's
 * _meta and progress token are added after).
 *
 * A REQ_LISTEN call stays in flight (counted by the pool, without a
 * deadline) and gets the connection's change notifications as `notification`
 * events, until it is cancelled (CANCELLED), its session goes, or the
 * connection ends (UPSTREAM_CLOSED). Legacy: it is never sent; it hears every
 * change notification of the connection; each of its uris is subscribed to
 * (resources/subscribe; an error answer fails the listen with UPSTREAM_ERROR)
 * and unsubscribed from when the listen ends on a live connection. Modern: it
 * is sent as subscriptions/listen (every list change, resources/updated for
 * its uris) and hears the notifications carrying its id as subscriptionId;
 * its end is notifications/cancelled (stdio) or the stream's close (HTTP); the
 * server ending it answers UPSTREAM_CLOSED; a broken stream of a listen the
 * server acknowledged is listened again, once per acknowledgement.
 */
void upstream_submit(struct daemon *d, struct session *s, uint64_t client_id, struct mcp_call *call);

/*
 * Ends r before its reply: the server is told (notifications/cancelled), and
 * the session gets an error with code (ERR_CANCELLED), or nothing when code is
 * ERR_OK (the session is going away).
 */
void upstream_cancel(struct request *r, int code, const char *reason);

/* Cancels the session's request with that client id, if it is in flight. */
void upstream_cancel_by_client_id(struct session *s, uint64_t client_id);

/* Closes idle upstreams unused for longer than CONNECTION_TIMEOUT; returns how many. */
size_t upstream_cleanup(struct daemon *d);

/* Closes a user's upstreams (all, or the one of mcp); busy ones drain first. */
size_t upstream_evict(struct daemon *d, const char *user, const char *mcp);

/*
 * A reload changed or removed the catalog entry mcp: every live connection
 * to it is retired (idle ones close now, busy ones finish their requests in
 * flight, then close; the next request starts a new one) and its start
 * failures are forgotten (a fixed command is tried at once). Returns how many
 * connections were retired.
 */
size_t upstream_retire_server(struct daemon *d, const char *mcp);

/*
 * A reload changed the limits or CLEANUP_INTERVAL (already in d->cfg): the
 * pool takes the limits at once (idle connections over a lowered limit close)
 * and the sweep timer the interval. Returns how many connections closed.
 */
size_t upstream_apply_config(struct daemon *d);

/*
 * Ends every listen request with code (a drain: listens never end by themselves,
 * and would hold it until MCPPOOL_SHUTDOWN_TIMEOUT); their subscriptions are
 * undone. Other requests go on.
 */
void upstream_end_listens(struct daemon *d, int code, const char *reason);

/* Closes every upstream (their requests get SHUTTING_DOWN) and frees the pool. */
void upstream_shutdown(struct daemon *d);

/* The pid of an entry's server process, 0 when there is none. */
long upstream_entry_pid(const struct pool_entry *e);
/* "stdio" or "http". */
const char *upstream_entry_transport(const struct pool_entry *e);
/* The MCP protocol version spoken ("2026-07-28" for a modern server), "" while it starts. */
const char *upstream_entry_protocol(const struct pool_entry *e);

/* Sends line (ending with '\n') to u's server: our answer to one of its requests. */
void upstream_send_response(struct upstream *u, const char *line, size_t len);

/* Handles line[0..len) (NUL-terminated, modifiable) as if u's server had just sent it. */
void upstream_replay(struct upstream *u, char *line, size_t len);

/* True when v is a protocol version we accept in an initialize answer. */
bool mcp_version_supported(const char *v);

#endif
