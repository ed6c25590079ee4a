/* Held server requests: a legacy server's question to the user, turned into an input_required result. */
#ifndef MCPPOOL_INPUTREQ_H
#define MCPPOOL_INPUTREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The 2026-07-28 protocol asks the client for input by answering a request
 * with {"resultType":"input_required","inputRequests":{KEY:{method,params}},
 * "requestState":S}; the client retries the request with "inputResponses"
 * (same keys) and S. A legacy server asks instead with a request of its own
 * (elicitation/create, sampling/createMessage, roots/list) in the middle of
 * one of ours. Apps see one model for both: here such a server request is
 * held, and the app request it belongs to completes with an input_required
 * result whose requestState the daemon minted. The retry (a new app request
 * with that state) answers the held server requests and then waits for the
 * original request's outcome, which may be another input_required.
 *
 * A hold belongs to the original request (request->hold) and lives no longer:
 * when the request ends (its answer relayed, its deadline, a cancel, the
 * connection's close) inputreq_release() answers what is still held with a
 * JSON-RPC error and frees the hold. Between the input_required and the retry
 * the request has no session ("detached"): the app may retry from any
 * connection to the daemon, and nothing but the deadline ends it.
 *
 * A requestState is "mcppool." and 32 random bytes in base64url: unguessable,
 * valid only for the user, MCP server and auth hash of the connection the
 * request runs on, and only while its hold lives.
 */

struct daemon;
struct session;
struct upstream;
struct request;
struct pool_entry;
struct mcp_call;
struct jsonrpc_msg;

/* Bytes of a daemon-minted requestState ("mcppool." + 43 base64url characters). */
#define INPUTREQ_STATE_LEN 51

/* What inputreq needs of the connection a server request came on. */
struct inputreq_origin {
	struct daemon *d;
	struct upstream *u;
	const struct pool_entry *entry; /* its pool key and auth hash bind the requestState */
	const char *client_caps;        /* the catalog entry's clientCapabilities, JSON text */
	const char *tag;                /* for logs */
};

/* True when s[0..len) has the shape of a requestState the daemon minted. */
bool inputreq_state_is_ours(const char *s, size_t len);

/*
 * A server request m (of line) for which r is the app request in flight it
 * belongs to (NULL: none). Returns true when it was taken: held (and, when
 * r's app waits, delivered to it as an input_required result) or refused
 * with an error naming why. Returns false for what is not ours to answer
 * (other methods, capabilities the entry does not declare): the caller
 * answers it as before.
 */
bool inputreq_server_request(const struct inputreq_origin *o, struct request *r,
			     const char *line, const struct jsonrpc_msg *m);

/*
 * The server answered r (line[0..len)) while no app waits on it (after its
 * input_required, before the retry): keeps a copy for the retry and returns
 * true (a later answer, or one without memory for its copy, is dropped).
 * False when r is not detached: the answer goes its usual way.
 */
bool inputreq_park(struct request *r, const char *line, size_t len);

/*
 * A retry: call carries a daemon-minted request_state (and input_responses).
 * Answers the held server requests with the responses given, then makes the
 * session's request client_id the one that waits for the original request's
 * outcome: a kept answer at once, another input_required when some held
 * request got no response, or whatever the server sends next. A state that is
 * unknown, expired, of another user, server or auth, or already being retried
 * gets BAD_REQUEST. The session is answered exactly once.
 */
void inputreq_resume(struct daemon *d, struct session *s, uint64_t client_id,
		     const struct mcp_call *call);

/* r ends: what it still holds gets a JSON-RPC error, its state is forgotten. Called by request_finish(). */
void inputreq_release(struct request *r);

/* Frees the map of states (every hold was released with its request). */
void inputreq_shutdown(struct daemon *d);

#endif
