/* Pooled MCP connections and the requests that run on them. */
#ifndef MCPPOOL_BACKEND_H
#define MCPPOOL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>

#include "auth.h"
#include "catalog.h"
#include "list.h"

struct daemon;
struct session;
struct backend;

enum request_kind {
	REQ_RESULT, /* call, request, tools: the reply is the MCP result */
	REQ_WARM,   /* warm: a ping; the reply describes the connection */
};

/*
 * One app request running on a pooled connection. It is answered exactly once:
 * by the server's reply, its deadline, a cancel, or the connection's end. A
 * request whose session went away is forgotten without a reply.
 */
struct request {
	struct daemon *d;
	struct session *session;
	struct list_node session_node; /* on the session's request list */
	uint64_t client_id;
	struct backend *be;
	uint64_t handle; /* the mcpconn's id for it */
	enum request_kind kind;
	bool reused;
	uint64_t timeout_ms;
	ev_timer deadline;
};

/* What an app asks for; auth is wiped by backend_submit(). */
struct mcp_call {
	const char *user;
	const struct catalog_entry *entry;
	struct auth *auth;
	const char *method;
	const char *params; /* JSON text of the method's params object, or NULL */
	size_t params_len;
	uint64_t timeout_ms;
	enum request_kind kind;
};

/* Creates the pool and the sweep timer. Returns 0, or -1 when out of memory. */
int backend_init(struct daemon *d);

/*
 * Runs call for the session's request client_id: reuses the pooled connection
 * of (user, mcp) when the auth hash matches, retires it and starts a new one
 * when it does not, makes room under the limits, and answers the session
 * exactly once (at once when it fails: UNKNOWN_MCP is the caller's; here
 * POOL_EXHAUSTED, UPSTREAM_START_FAILED, SHUTTING_DOWN, INTERNAL).
 */
void backend_submit(struct daemon *d, struct session *s, uint64_t client_id, struct mcp_call *call);

/*
 * Ends r before its reply: the server is told (notifications/cancelled), and the
 * session gets an error with code (ERR_CANCELLED), or nothing when code is
 * ERR_OK (the session is going away).
 */
void backend_cancel(struct request *r, int code, const char *reason);

/* Cancels the session's request with that client id, if it is in flight. */
void backend_cancel_by_client_id(struct session *s, uint64_t client_id);

/* Closes idle connections unused for longer than CONNECTION_TIMEOUT; returns how many. */
size_t backend_cleanup(struct daemon *d);

/* Closes a user's connections (all, or the one of mcp); busy ones drain first. */
size_t backend_evict(struct daemon *d, const char *user, const char *mcp);

/* Closes every connection (their requests get SHUTTING_DOWN) and frees the pool. */
void backend_shutdown(struct daemon *d);

/* The pid of an entry's child, 0 when unknown. */
struct pool_entry;
long backend_entry_pid(const struct pool_entry *e);
/* "stdio" or "http". */
const char *backend_entry_transport(const struct pool_entry *e);

#endif
