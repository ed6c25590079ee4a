/* libmcppool: the C client of mcppoold (blocking and non-blocking), see libmcppool(3). */
#ifndef MCPPOOL_H
#define MCPPOOL_H

/*
 * Results are handed out as msgpack-c objects, so this header includes
 * <msgpack.h>; `pkg-config --cflags --libs mcppool` supplies its flags.
 *
 * Thread safety: a connection is not thread-safe. Use one connection per
 * thread, or serialize every call on a connection with your own lock (the
 * callbacks run inside the thread that calls mcppool_process() or a blocking
 * function). Different connections share no state and may be used from
 * different threads at the same time. Results are plain data: once a thread
 * owns one, it may pass it to another.
 *
 * The library never raises SIGPIPE (it writes with MSG_NOSIGNAL), never
 * installs signal handlers and never prints anything.
 */

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MCPPOOL_BUILDING) && defined(__GNUC__)
#define MCPPOOL_API __attribute__((visibility("default")))
#else
#define MCPPOOL_API
#endif

#define MCPPOOL_VERSION "0.1.0"
#define MCPPOOL_VERSION_MAJOR 0
#define MCPPOOL_VERSION_MINOR 1
#define MCPPOOL_VERSION_PATCH 0

/*
 * Stable error codes. Their names (mcppool_code_name) are the strings of the
 * wire protocol and of mcpctl's JSON output; neither is ever renamed. The
 * values equal those of the protocol's enum errcode. NOT_CONNECTED, PROTOCOL
 * and TIMEOUT come from the library itself and never cross the wire.
 */
enum mcppool_code {
	MCPPOOL_OK = 0,
	MCPPOOL_BAD_REQUEST,           /* malformed, oversized or unknown request or param */
	MCPPOOL_UNKNOWN_MCP,           /* no catalog entry of that name */
	MCPPOOL_AUTH_INVALID,          /* auth lacks a referenced key or has an extra one */
	MCPPOOL_POOL_EXHAUSTED,        /* a limit is reached and every connection is busy */
	MCPPOOL_UPSTREAM_START_FAILED, /* the MCP server could not be started/initialized */
	MCPPOOL_UPSTREAM_CLOSED,       /* the MCP server went away with the request in flight */
	MCPPOOL_UPSTREAM_TIMEOUT,      /* the request's deadline passed in the daemon */
	MCPPOOL_UPSTREAM_ERROR,        /* a JSON-RPC error from the MCP server; see data */
	MCPPOOL_FORBIDDEN,             /* this peer may not run the op (admin ops) */
	MCPPOOL_SHUTTING_DOWN,         /* the daemon is stopping */
	MCPPOOL_INTERNAL,              /* a bug or resource failure (daemon or library) */
	MCPPOOL_UNSUPPORTED_VERSION,   /* the daemon does not speak our protocol version */
	MCPPOOL_NOT_CONNECTED,         /* library: the daemon cannot be reached, or went away */
	MCPPOOL_PROTOCOL,              /* library: the daemon broke the wire protocol */
	MCPPOOL_TIMEOUT,               /* library: no reply within mcppool_set_timeout() */
	MCPPOOL_CANCELLED,             /* the request was cancelled, or its connection closed */
	MCPPOOL_TOO_MANY_CLIENTS,      /* the daemon serves MCPPOOL_MAX_CLIENTS connections already */
	MCPPOOL_AUTH_REQUIRED,         /* an HTTP server answered 401/403: the error's data is its challenge */
	MCPPOOL_CONFIG_INVALID,        /* a reload was refused: the new .env or catalog is invalid (kept the old) */
};

/* The stable name of a code ("BAD_REQUEST"); "INTERNAL" for unknown values. Never NULL. */
MCPPOOL_API const char *mcppool_code_name(int code);

/* The library's version string, MCPPOOL_VERSION of the build actually loaded. */
MCPPOOL_API const char *mcppool_version(void);

typedef struct mcppool_conn mcppool_conn;
typedef struct mcppool_result mcppool_result;

/*
 * An error: a stable code, a human-readable message (never a secret), and,
 * for errors that carry one (UPSTREAM_ERROR: {code, message, data?} as the MCP
 * server sent them), a data value; NULL otherwise.
 *
 * data is borrowed. In a callback it is valid until the callback returns.
 * Filled by a blocking function, it is valid until the next blocking call on
 * the same connection, or mcppool_close(). Functions that take an
 * mcppool_error * accept NULL and write to it only when they fail.
 */
typedef struct mcppool_error {
	int code;          /* enum mcppool_code */
	char message[512]; /* NUL-terminated; truncated if longer */
	const msgpack_object *data;
} mcppool_error;

/* One auth value, referenced as ${auth.KEY} by the daemon's catalog. */
typedef struct mcppool_auth_pair {
	const char *key;
	const char *value;
} mcppool_auth_pair;

/*
 * The caller's auth map: count pairs. Pass NULL (or count 0) for none. The
 * library copies the strings into its output buffer and wipes that buffer
 * once the bytes are written to the socket; wiping the caller's own copies is
 * the caller's business.
 */
typedef struct mcppool_auth {
	const mcppool_auth_pair *pairs;
	size_t count;
} mcppool_auth;

/* ---- connections ------------------------------------------------------------- */

/*
 * Connects to the daemon's Unix socket: socket_path when non-NULL and
 * non-empty, else $MCPPOOL_SOCKET, else $XDG_RUNTIME_DIR/mcppool.sock, else
 * /tmp/mcppool-UID.sock. The protocol's hello is queued at once and goes out
 * with the first request, so connect does not wait for the daemon's answer; a
 * daemon that refuses the hello fails that first request (e.g. with
 * UNSUPPORTED_VERSION). Returns a connection to free with mcppool_close(), or
 * NULL with *err filled (NOT_CONNECTED when nobody listens there).
 */
MCPPOOL_API mcppool_conn *mcppool_connect(const char *socket_path, mcppool_error *err);

/*
 * Closes the connection and frees it. Every request still in flight gets its
 * callback once, with CANCELLED; the daemon then cancels them upstream. NULL
 * is accepted. May be called from a callback: the connection is then released
 * when the mcppool_process() running that callback returns, and the handle
 * must not be used after mcppool_close() in any case.
 */
MCPPOOL_API void mcppool_close(mcppool_conn *conn);

/*
 * Client-side timeout of the blocking functions, in milliseconds; 0 (the
 * default) waits forever, since the daemon enforces each request's deadline
 * itself. A blocking call that times out fails with TIMEOUT, and the request
 * is cancelled in the daemon; its late reply is dropped.
 */
MCPPOOL_API void mcppool_set_timeout(mcppool_conn *conn, unsigned int timeout_ms);

/* 1 while the connection is usable, 0 once it is broken (see mcppool_conn_error()). */
MCPPOOL_API int mcppool_connected(const mcppool_conn *conn);

/*
 * The connection's last error that belongs to no request: a submit that was
 * refused, a reply of id 0 (the daemon could not attribute a frame to a
 * request, e.g. one it found oversized), a reply to an unknown id, or the
 * breakage of the connection. code is MCPPOOL_OK when there was none. The
 * pointer stays valid as long as the connection; data is always NULL.
 */
MCPPOOL_API const mcppool_error *mcppool_conn_error(const mcppool_conn *conn);

/*
 * Called with each connection-level error that comes from the daemon or from
 * the breakage of the connection, as it is recorded (see mcppool_conn_error());
 * it runs inside mcppool_process() or a blocking call, and has the same
 * rights as a request callback. Refused submits do not call it. fn may be
 * NULL to unset.
 */
typedef void (*mcppool_error_handler)(mcppool_conn *conn, const mcppool_error *err, void *arg);
MCPPOOL_API void mcppool_set_error_handler(mcppool_conn *conn, mcppool_error_handler fn,
					   void *arg);

/* ---- results ----------------------------------------------------------------- */

#define MCPPOOL_JSON_PRETTY 1 /* indent JSON by two spaces */

/* The decoded result value; owned by result. NULL for a NULL result. */
MCPPOOL_API const msgpack_object *mcppool_result_value(const mcppool_result *result);

/*
 * The result as JSON text (compact, or indented with MCPPOOL_JSON_PRETTY).
 * Returns a malloc'd string to free(), or NULL when the value has no JSON
 * form (bin, ext, non-string map keys) or memory ran out.
 */
MCPPOOL_API char *mcppool_result_json(const mcppool_result *result, int flags);

/* Any msgpack value (e.g. mcppool_error.data) as JSON text; as mcppool_result_json(). */
MCPPOOL_API char *mcppool_value_json(const msgpack_object *value, int flags);

/* The value of key in a msgpack map; NULL when absent or when map is not a map. */
MCPPOOL_API const msgpack_object *mcppool_map_get(const msgpack_object *map, const char *key);

/* Frees a result and everything its value points to. NULL is accepted. */
MCPPOOL_API void mcppool_result_free(mcppool_result *result);

/*
 * Inside a callback only, on the result it was given: takes ownership of it.
 * The library then does not free it when the callback returns; the caller
 * frees it with mcppool_result_free(). Returns result.
 */
MCPPOOL_API mcppool_result *mcppool_result_keep(const mcppool_result *result);

/* ---- blocking calls ---------------------------------------------------------- */

/*
 * Each blocking function sends one request and waits for its reply. On
 * success it returns 0 and stores a result to free with mcppool_result_free()
 * in *result (result may be NULL to discard it). On failure it returns -1,
 * sets *result to NULL and fills *err. Callbacks of requests submitted
 * earlier on the same connection may run while it waits.
 *
 * Common parameters:
 *   user        the user id (non-empty, at most 256 bytes, no ':' or control characters)
 *   mcp         the catalog name of the MCP server
 *   auth        the user's auth values, or NULL
 *   timeout_ms  the request's deadline in the daemon; 0 = its REQUEST_TIMEOUT
 *
 * JSON parameters (args_json, params_json) must hold a JSON object, or be NULL
 * for none; they are sent as native msgpack maps. Text that is not a JSON
 * object fails with BAD_REQUEST, the message giving the parse position, and
 * nothing is sent. The _msgpack variants take the map already packed (exactly
 * one msgpack map, len bytes; NULL/0 for none).
 */

/* tools/call: the result is the MCP CallToolResult (isError: true is still success). */
MCPPOOL_API int mcppool_call(mcppool_conn *conn, const char *user, const char *mcp,
			     const char *tool, const char *args_json, const mcppool_auth *auth,
			     unsigned int timeout_ms, mcppool_result **result, mcppool_error *err);
MCPPOOL_API int mcppool_call_msgpack(mcppool_conn *conn, const char *user, const char *mcp,
				     const char *tool, const char *args, size_t args_len,
				     const mcppool_auth *auth, unsigned int timeout_ms,
				     mcppool_result **result, mcppool_error *err);

/* Any MCP request (e.g. "resources/list"): the result is the JSON-RPC result. */
MCPPOOL_API int mcppool_request(mcppool_conn *conn, const char *user, const char *mcp,
				const char *method, const char *params_json,
				const mcppool_auth *auth, unsigned int timeout_ms,
				mcppool_result **result, mcppool_error *err);
MCPPOOL_API int mcppool_request_msgpack(mcppool_conn *conn, const char *user, const char *mcp,
					const char *method, const char *params, size_t params_len,
					const mcppool_auth *auth, unsigned int timeout_ms,
					mcppool_result **result, mcppool_error *err);

/* tools/list, from cursor (NULL for the first page): the MCP ListToolsResult. */
MCPPOOL_API int mcppool_tools(mcppool_conn *conn, const char *user, const char *mcp,
			      const char *cursor, const mcppool_auth *auth,
			      unsigned int timeout_ms, mcppool_result **result,
			      mcppool_error *err);

/* Opens (or finds) user's connection to mcp ahead of use: {key, state, pid, reused}. */
MCPPOOL_API int mcppool_warm(mcppool_conn *conn, const char *user, const char *mcp,
			     const mcppool_auth *auth, unsigned int timeout_ms,
			     mcppool_result **result, mcppool_error *err);

/* Closes user's connections (to mcp only, unless NULL); busy ones drain first: {evicted}. */
MCPPOOL_API int mcppool_evict(mcppool_conn *conn, const char *user, const char *mcp,
			      mcppool_result **result, mcppool_error *err);

/* Admin ops (the daemon's uid or root): the seed's pool-status and cleanup objects. */
MCPPOOL_API int mcppool_pool_status(mcppool_conn *conn, mcppool_result **result,
				    mcppool_error *err);
MCPPOOL_API int mcppool_cleanup(mcppool_conn *conn, mcppool_result **result,
				mcppool_error *err);

/*
 * Admin op: the daemon reloads its .env file and catalog, as on SIGHUP:
 * {added, removed, changed: [names], settings: ["NAME OLD->NEW", ...], summary}.
 * A configuration the daemon refuses is BAD_REQUEST naming the problem; the
 * running one stays.
 */
MCPPOOL_API int mcppool_reload(mcppool_conn *conn, mcppool_result **result,
			       mcppool_error *err);

/*
 * Sends the admin token (the daemon's MCPPOOL_ADMIN_TOKEN_FILE): admin ops are
 * then allowed on this connection for a peer that is neither the daemon's
 * uid, root, nor in MCPPOOL_ADMIN_GROUP. A wrong token is FORBIDDEN. Returns 0
 * or -1 with err filled.
 */
MCPPOOL_API int mcppool_admin_token(mcppool_conn *conn, const char *token, mcppool_error *err);

/* The catalog without secrets: {servers: [{name, transport, command or url, authKeys}]}. */
MCPPOOL_API int mcppool_servers(mcppool_conn *conn, mcppool_result **result,
				mcppool_error *err);

/* Prometheus text exposition: {text}. */
MCPPOOL_API int mcppool_metrics(mcppool_conn *conn, mcppool_result **result,
				mcppool_error *err);

/*
 * Any op of the protocol, params a packed msgpack map (NULL/0 for an empty
 * one). The building block of the functions above.
 */
MCPPOOL_API int mcppool_exec(mcppool_conn *conn, const char *op, const char *params,
			     size_t params_len, mcppool_result **result, mcppool_error *err);

/* ---- non-blocking use ---------------------------------------------------------- */

#define MCPPOOL_READ 1
#define MCPPOOL_WRITE 2

/*
 * Completion of a submitted request. Exactly one of result and err is
 * non-NULL. Called exactly once per request that a submit function accepted:
 * with the daemon's reply, or with an error when the connection breaks
 * (NOT_CONNECTED: the daemon went away; PROTOCOL: it broke the protocol) or is
 * closed (CANCELLED). result is freed when the callback returns unless it calls
 * mcppool_result_keep() (its memory may be reused for the next reply: nothing
 * reached through it may be used later without that call). A callback may
 * submit, cancel, and close the connection; it must not call mcppool_process()
 * or a blocking function.
 */
typedef void (*mcppool_callback)(mcppool_conn *conn, uint64_t id, const mcppool_result *result,
				 const mcppool_error *err, void *arg);

/* The socket to watch; -1 once the connection is broken. */
MCPPOOL_API int mcppool_fd(const mcppool_conn *conn);

/*
 * What to watch the socket for now: MCPPOOL_READ while connected, plus
 * MCPPOOL_WRITE while output is queued. 0 once the connection is broken.
 * Check it again after every submit, cancel and mcppool_process().
 */
MCPPOOL_API int mcppool_events(const mcppool_conn *conn);

/*
 * Does the I/O that revents (MCPPOOL_READ / MCPPOOL_WRITE, as reported ready
 * by your poller) allows without blocking, and runs the callbacks of the
 * replies that arrived. Queued output is attempted in any case. Returns 0, or
 * -1 when the connection is (now) broken; every request in flight has then
 * had its callback.
 */
MCPPOOL_API int mcppool_process(mcppool_conn *conn, int revents);

/*
 * Submit functions queue one request and return its id (>= 1), or 0 when the
 * request was refused (the connection is broken, a JSON parameter is invalid,
 * the request exceeds the daemon's frame size, memory ran out); the reason is
 * then in mcppool_conn_error() and cb is never called. Nothing is written
 * until mcppool_process() or a blocking call runs. The parameters are those of
 * the blocking functions; the strings are copied before the function returns.
 */
MCPPOOL_API uint64_t mcppool_submit(mcppool_conn *conn, const char *op, const char *params,
				    size_t params_len, mcppool_callback cb, void *arg);
MCPPOOL_API uint64_t mcppool_submit_call(mcppool_conn *conn, const char *user,
					 const char *mcp, const char *tool,
					 const char *args_json, const mcppool_auth *auth,
					 unsigned int timeout_ms, mcppool_callback cb, void *arg);
MCPPOOL_API uint64_t mcppool_submit_call_msgpack(mcppool_conn *conn, const char *user,
						 const char *mcp, const char *tool,
						 const char *args, size_t args_len,
						 const mcppool_auth *auth, unsigned int timeout_ms,
						 mcppool_callback cb, void *arg);
MCPPOOL_API uint64_t mcppool_submit_request(mcppool_conn *conn, const char *user,
					    const char *mcp, const char *method,
					    const char *params_json, const mcppool_auth *auth,
					    unsigned int timeout_ms, mcppool_callback cb,
					    void *arg);
MCPPOOL_API uint64_t mcppool_submit_request_msgpack(mcppool_conn *conn, const char *user,
						    const char *mcp, const char *method,
						    const char *params, size_t params_len,
						    const mcppool_auth *auth,
						    unsigned int timeout_ms, mcppool_callback cb,
						    void *arg);
MCPPOOL_API uint64_t mcppool_submit_tools(mcppool_conn *conn, const char *user,
					  const char *mcp, const char *cursor,
					  const mcppool_auth *auth, unsigned int timeout_ms,
					  mcppool_callback cb, void *arg);
MCPPOOL_API uint64_t mcppool_submit_warm(mcppool_conn *conn, const char *user,
					 const char *mcp, const mcppool_auth *auth,
					 unsigned int timeout_ms, mcppool_callback cb, void *arg);
MCPPOOL_API uint64_t mcppool_submit_evict(mcppool_conn *conn, const char *user,
					  const char *mcp, mcppool_callback cb, void *arg);

/*
 * Asks the daemon to cancel request id (queues the protocol's cancel
 * notification). The request's callback still runs once: with CANCELLED, or
 * with its result if the reply was already on its way. Returns 0, or -1 when
 * id is not in flight or the connection is broken.
 */
MCPPOOL_API int mcppool_cancel(mcppool_conn *conn, uint64_t id);

/* ---- events (wire protocol v2) --------------------------------------------------- */

/*
 * An event of a request in flight: event is its name ("progress": params
 * {progress, total?, message?}; "message": a log notification, params {level,
 * logger?, data}; see proto/PROTOCOL.md), params a msgpack map. Both are
 * borrowed: valid until the callback returns. Every event of a request runs
 * before its completion, never after; events for requests no longer in flight
 * (e.g. just cancelled, or abandoned by a timed-out blocking call) and events
 * from a daemon that speaks only version 1 never arrive. The callback has the
 * rights of a completion callback (mcppool_callback).
 */
typedef void (*mcppool_event_callback)(mcppool_conn *conn, uint64_t id, const char *event,
				       const msgpack_object *params, void *arg);

/*
 * mcppool_submit_call() and mcppool_submit_request() that ask the daemon for
 * the request's events (events: true) and hand each to on_event, with the same
 * arg as cb. on_event may be NULL (no events are asked for).
 */
MCPPOOL_API uint64_t mcppool_submit_call_events(mcppool_conn *conn, const char *user,
						const char *mcp, const char *tool,
						const char *args_json, const mcppool_auth *auth,
						unsigned int timeout_ms,
						mcppool_event_callback on_event,
						mcppool_callback cb, void *arg);
MCPPOOL_API uint64_t mcppool_submit_request_events(mcppool_conn *conn, const char *user,
						   const char *mcp, const char *method,
						   const char *params_json,
						   const mcppool_auth *auth,
						   unsigned int timeout_ms,
						   mcppool_event_callback on_event,
						   mcppool_callback cb, void *arg);

/*
 * Submits a listen (wire protocol v2; proto/PROTOCOL.md): the daemon opens or
 * finds user's connection to mcp, subscribes to each of the n_uris resources
 * (resources/subscribe) and hands every change notification the server sends
 * on that connection to on_event as a "notification" event (params {method,
 * params}), with arg. The request stays in flight until mcppool_cancel()
 * (cb gets CANCELLED) or the connection ends (UPSTREAM_CLOSED); a failed
 * subscribe fails it with UPSTREAM_ERROR. Added in 0.2.
 */
MCPPOOL_API uint64_t mcppool_submit_listen(mcppool_conn *conn, const char *user,
					   const char *mcp, const char *const *uris,
					   size_t n_uris, const mcppool_auth *auth,
					   mcppool_event_callback on_event, mcppool_callback cb,
					   void *arg);

/*
 * mcppool_call() and mcppool_request() that ask for the request's events and
 * run on_event(conn, id, event, params, event_arg) for each while they wait.
 * Each event also restarts the client-side timeout (mcppool_set_timeout()), as
 * a progress event restarts the request's deadline in the daemon.
 */
MCPPOOL_API int mcppool_call_events(mcppool_conn *conn, const char *user, const char *mcp,
				    const char *tool, const char *args_json,
				    const mcppool_auth *auth, unsigned int timeout_ms,
				    mcppool_event_callback on_event, void *event_arg,
				    mcppool_result **result, mcppool_error *err);
MCPPOOL_API int mcppool_request_events(mcppool_conn *conn, const char *user, const char *mcp,
				       const char *method, const char *params_json,
				       const mcppool_auth *auth, unsigned int timeout_ms,
				       mcppool_event_callback on_event, void *event_arg,
				       mcppool_result **result, mcppool_error *err);

/* ---- input requests (one model for both MCP eras) ------------------------------ */

/*
 * A call or request may complete with an input_required result (a success):
 *   {"resultType": "input_required", "inputRequests": {KEY: {"method":
 *    "elicitation/create" | "sampling/createMessage" | "roots/list", "params": {...}}},
 *    "requestState": "..."}
 * The app answers each input request and retries the same call with
 * inputResponses (keyed as inputRequests: {KEY: ElicitResult | CreateMessageResult
 * | ListRootsResult}) and the requestState it got, unchanged; the retry may
 * complete or be input_required again. For a request, both go inside its params.
 * Returns 1 when result (a result's value) is an input_required result, else 0.
 * Added in 0.3.
 */
MCPPOOL_API int mcppool_input_required(const msgpack_object *result);

/*
 * The options of mcppool_call_with() and mcppool_submit_call_with(). Every
 * field is optional: initialize with `mcppool_call_opts o = {0};` and set what
 * you need. Fields are only ever added in place of `reserved`, so the size and
 * layout stay as they are (reserved must stay zero). Added in 0.3.
 */
typedef struct mcppool_call_opts {
	const mcppool_auth *auth;      /* as for mcppool_call() */
	unsigned int timeout_ms;       /* as for mcppool_call() */
	/* The retry of an input_required result: the answers, as a JSON object */
	const char *input_responses_json;
	/* ... or as one packed msgpack map of input_responses_len bytes (not both) */
	const char *input_responses;
	size_t input_responses_len;
	const char *request_state;     /* echoed unchanged from the result; NULL: none */
	/* Ask for the call's events (NULL: none). The blocking function passes
	 * event_arg to on_event; the submit function passes its own arg. */
	mcppool_event_callback on_event;
	void *event_arg;
	/* With on_event: the least severe log message a 2026-07-28 server is asked
	 * to send (debug, info, notice, warning, error, critical, alert,
	 * emergency); NULL: info. Not sent without on_event. Added in 0.4. */
	const char *log_level;
	void *reserved[7];
} mcppool_call_opts;

/*
 * tools/call with options (opts may be NULL): mcppool_call() and
 * mcppool_submit_call() plus inputResponses, requestState and events.
 * Added in 0.3.
 */
MCPPOOL_API int mcppool_call_with(mcppool_conn *conn, const char *user, const char *mcp,
				  const char *tool, const char *args_json,
				  const mcppool_call_opts *opts, mcppool_result **result,
				  mcppool_error *err);
MCPPOOL_API uint64_t mcppool_submit_call_with(mcppool_conn *conn, const char *user,
					      const char *mcp, const char *tool,
					      const char *args_json,
					      const mcppool_call_opts *opts, mcppool_callback cb,
					      void *arg);

/*
 * A request with options (opts may be NULL): its auth, timeout_ms, on_event,
 * event_arg and log_level, as for mcppool_call_with(). A request's
 * inputResponses and requestState go inside params_json: setting those
 * fields fails with MCPPOOL_BAD_REQUEST. Added in 0.4.
 */
MCPPOOL_API int mcppool_request_with(mcppool_conn *conn, const char *user, const char *mcp,
				     const char *method, const char *params_json,
				     const mcppool_call_opts *opts, mcppool_result **result,
				     mcppool_error *err);
MCPPOOL_API uint64_t mcppool_submit_request_with(mcppool_conn *conn, const char *user,
						 const char *mcp, const char *method,
						 const char *params_json,
						 const mcppool_call_opts *opts, mcppool_callback cb,
						 void *arg);

/*
 * The protocol version the daemon settled on in its hello reply (1 or 2); 0
 * while that reply has not arrived. Events need version 2.
 */
MCPPOOL_API int mcppool_protocol_version(const mcppool_conn *conn);

/* Submitted requests whose callback has not run yet. */
MCPPOOL_API size_t mcppool_inflight(const mcppool_conn *conn);

#ifdef __cplusplus
}
#endif

#endif
