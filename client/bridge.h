/* mcpctl bridge: a stdio MCP server in front of one pooled connection (see mcpctl(1)). */
#ifndef MCPPOOL_BRIDGE_H
#define MCPPOOL_BRIDGE_H

#include <stdio.h>

#include "mcppool.h"

/* The JSON-RPC error codes the bridge answers with (besides the server's own). */
#define BRIDGE_PARSE_ERROR -32700
#define BRIDGE_INVALID_REQUEST -32600
#define BRIDGE_INVALID_PARAMS -32602
#define BRIDGE_INTERNAL_ERROR -32603
#define BRIDGE_POOL_ERROR -32000      /* the pool could not serve it: data.mcppool names why */
#define BRIDGE_TIMEOUT -32001         /* UPSTREAM_TIMEOUT / TIMEOUT (the SDKs' RequestTimeout) */
#define BRIDGE_UNSUPPORTED_VERSION -32022

/* What the bridge serves: one user's connection to one catalog entry. */
struct bridge_opts {
	const char *socket;        /* NULL: libmcppool's default path */
	const char *user, *mcp;
	const mcppool_auth *auth;  /* sent with every request; borrowed for the bridge's life */
	unsigned int timeout_ms;   /* each request's deadline in the daemon; 0: its default */
};

/*
 * Serves the MCP host on in_fd (newline-delimited JSON-RPC) and out, logging to
 * errf only, until in_fd reaches end of file; requests still in flight are then
 * cancelled and the pooled connection is left open (warm) for the next bridge.
 * Single-threaded: poll() on in_fd and the daemon's socket. Returns the exit
 * status: 0 after end of file, 69 when the daemon cannot be reached at start,
 * 1 when out cannot be written any more (the host went away).
 */
int bridge_run(const struct bridge_opts *o, int in_fd, FILE *out, FILE *errf);

#endif
