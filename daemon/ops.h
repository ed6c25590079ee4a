/* The operations of the wire protocol: parameter checks and dispatch. */
#ifndef MCPPOOL_OPS_H
#define MCPPOOL_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

struct daemon;
struct session;

/*
 * Runs the request op (not NUL-terminated) with params (a map) for session s,
 * which is answered exactly once under client id id: at once for admin ops and
 * for bad requests, later for MCP ops.
 */
void ops_dispatch(struct daemon *d, struct session *s, uint64_t id, const char *op,
		  size_t op_len, const msgpack_object *params);

#endif
