/* An MCP client session over one transport: lifecycle, JSON-RPC ids, multiplexing. */
#ifndef MCPPOOL_MCPCONN_H
#define MCPPOOL_MCPCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>
#include <jansson.h>

#include "metrics.h"
#include "transport.h"

struct jsonrpc_msg;

/* The protocol version we offer, and every version we accept in the answer. */
#define MCP_PROTOCOL_VERSION "2025-11-25"

enum mcpconn_state {
	MCPCONN_STARTING, /* spawned; initialize sent; requests are queued */
	MCPCONN_READY,    /* initialized; requests go straight upstream */
	MCPCONN_DEAD,     /* the child is gone or start failed; on_dead was called */
	MCPCONN_CLOSED,   /* mcpconn_close() was called; no callback will follow */
};

/*
 * The outcome of one request, delivered exactly once to its reply function:
 * code ERR_OK with the result's JSON text (result, result_len: a span of the
 * server's line, not NUL-terminated; line and scan are that line and its
 * jsonrpc_scan_keep, for jsonrpc_pack of scan->result), ERR_UPSTREAM_ERROR with
 * rpc_error (the server's JSON-RPC error object: code, message, data), or
 * another errcode with message. Everything is borrowed for the duration of the
 * call.
 */
struct mcp_reply {
	int code;
	const char *message;
	const char *result;
	size_t result_len;
	const char *line;
	const struct jsonrpc_msg *scan;
	json_t *rpc_error;
};

typedef void (*mcpconn_reply_fn)(void *arg, const struct mcp_reply *reply);

struct mcpconn;

struct mcpconn_callbacks {
	/* initialize completed; the connection serves requests. */
	void (*on_ready)(void *ctx, struct mcpconn *c);
	/*
	 * The connection is gone: start failed (code ERR_UPSTREAM_START_FAILED) or
	 * the child exited or broke the protocol (ERR_UPSTREAM_CLOSED); why is
	 * CLOSE_START_FAILED, CLOSE_LOST or CLOSE_STDIN_FULL. Called at most once.
	 * The owner must call mcpconn_close() (which fails whatever is still in
	 * flight with this code and reason).
	 */
	void (*on_dead)(void *ctx, struct mcpconn *c, int code, enum close_reason why,
			const char *reason);
};

struct mcpconn_options {
	struct transport_options transport;
	uint64_t start_timeout_ms; /* until initialize is answered */
};

/*
 * Opens the transport of spec (spawns the child, or prepares the HTTP session)
 * and sends initialize. Returns NULL with the reason in err when it cannot be
 * started at all (exec failure). The spec is only read; the caller wipes it.
 */
struct mcpconn *mcpconn_start(struct ev_loop *loop, const struct transport_spec *spec,
			      const struct mcpconn_options *opt,
			      const struct mcpconn_callbacks *cb, void *ctx,
			      char *err, size_t errlen);

/*
 * Sends a request (queued while STARTING). params is the JSON text of the
 * params object (params_len bytes; NULL for none), copied. fn is called
 * exactly once, unless mcpconn_cancel() is called first. Returns the request's
 * handle (> 0), or 0 when the connection is dead or closed, or memory ran out
 * (fn is not called then).
 */
uint64_t mcpconn_request(struct mcpconn *c, const char *method, const char *params,
			 size_t params_len, mcpconn_reply_fn fn, void *arg);

/*
 * Forgets a request in flight: its reply function will not be called, and a
 * request already sent upstream is followed by notifications/cancelled with
 * reason.
 */
void mcpconn_cancel(struct mcpconn *c, uint64_t handle, const char *reason);

/*
 * Ends the connection: every request still in flight gets code/reason, then the
 * child is shut down (stdin closed, SIGTERM, SIGKILL, reaped). No callback
 * follows; the memory is freed once no callback of this connection is running.
 * Safe to call from the connection's own callbacks and reply functions.
 */
void mcpconn_close(struct mcpconn *c, int code, const char *reason);

enum mcpconn_state mcpconn_state(const struct mcpconn *c);
pid_t mcpconn_pid(const struct mcpconn *c);
/* "stdio" or "http". */
const char *mcpconn_transport_name(const struct mcpconn *c);
unsigned mcpconn_inflight(const struct mcpconn *c);
/* The version the server answered with ("" while starting). */
const char *mcpconn_protocol_version(const struct mcpconn *c);

/*
 * The server as initialize described it: {protocolVersion, capabilities,
 * serverInfo, instructions?}; NULL while starting. Owned by the connection.
 */
const json_t *mcpconn_server(const struct mcpconn *c);

/* True when v is a protocol version we accept in an initialize answer. */
bool mcp_version_supported(const char *v);

#endif
