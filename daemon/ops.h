/* The operations of the wire protocol: parameter checks and dispatch. */
#ifndef MCPPOOL_OPS_H
#define MCPPOOL_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

struct daemon;
struct session;

/* The params an op may read, by name. */
enum op_param {
	P_USER,
	P_MCP,
	P_TOOL,
	P_ARGUMENTS,
	P_METHOD,
	P_PARAMS,
	P_CURSOR,
	P_AUTH,
	P_TIMEOUT_MS,
	P_EVENTS,
	P_URIS,
	P_INPUT_RESPONSES,
	P_REQUEST_STATE,
	P_TOKEN,
	P_LOG_LEVEL,
	P__COUNT
};

/*
 * A request's params map indexed in one walk: v[P_x] is the value of key "x", or
 * NULL when absent. Of a repeated key the first counts; other keys are ignored.
 */
struct op_params {
	const msgpack_object *v[P__COUNT];
};

/*
 * Runs the request op (not NUL-terminated) with params (a map) for session s,
 * which is answered exactly once under client id id: at once for admin ops and
 * for bad requests, later for MCP ops.
 */
void ops_dispatch(struct daemon *d, struct session *s, uint64_t id, const char *op,
		  size_t op_len, const msgpack_object *params);

#endif
