/* Stable error codes of the mcppool wire protocol, shared by daemon and library. */
#ifndef MCPPOOL_ERRCODE_H
#define MCPPOOL_ERRCODE_H

/*
 * The numeric values are those of enum mcppool_code in client/mcppool.h (the
 * library checks this at compile time); the strings are the contract: they go
 * over the wire and into mcpctl's JSON, and are never renamed.
 */
enum errcode {
	ERR_OK = 0,
	ERR_BAD_REQUEST,           /* malformed, oversized or unknown request */
	ERR_UNKNOWN_MCP,           /* no catalog entry of that name */
	ERR_AUTH_INVALID,          /* auth lacks a referenced key or has an extra one */
	ERR_POOL_EXHAUSTED,        /* at a limit and every connection is busy */
	ERR_UPSTREAM_START_FAILED, /* the MCP server could not be started/initialized */
	ERR_UPSTREAM_CLOSED,       /* the MCP server went away with the request in flight */
	ERR_UPSTREAM_TIMEOUT,      /* the request's deadline passed */
	ERR_UPSTREAM_ERROR,        /* the MCP server answered with a JSON-RPC error */
	ERR_FORBIDDEN,             /* the peer may not run this command */
	ERR_SHUTTING_DOWN,         /* the daemon is stopping */
	ERR_INTERNAL,              /* a bug or resource failure inside the daemon */
	ERR_UNSUPPORTED_VERSION,   /* the client speaks a protocol version we do not */
	ERR_NOT_CONNECTED,         /* library: the daemon cannot be reached */
	ERR_PROTOCOL,              /* library: the connection's framing was lost */
	ERR_TIMEOUT,               /* library: no reply within the client's own timeout */
	ERR_CANCELLED,             /* the caller cancelled the request */
	ERR_TOO_MANY_CLIENTS,      /* the daemon serves MCPPOOL_MAX_CLIENTS connections already */
	ERR_AUTH_REQUIRED,         /* an HTTP server answered 401/403: data carries its challenge */
	ERR_CONFIG_INVALID,        /* a reload was refused: the new .env or catalog is invalid */
	ERR__COUNT
};

/* The stable string of a code ("BAD_REQUEST"); "INTERNAL" for out-of-range values. */
const char *errcode_name(int code);

/* The code for a stable string; ERR_INTERNAL when it is unknown. */
int errcode_from_name(const char *name, unsigned long len);

#endif
