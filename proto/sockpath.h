/* The default socket path, resolved the same way by mcppoold, mcpctl and libmcppool. */
#ifndef MCPPOOL_SOCKPATH_H
#define MCPPOOL_SOCKPATH_H

#include <stddef.h>

/*
 * Writes the socket path to use into buf: explicit when non-NULL and non-empty,
 * else $MCPPOOL_SOCKET, else $XDG_RUNTIME_DIR/mcppool.sock, else
 * /tmp/mcppool-UID.sock. Returns 0, or -1 when the path does not fit in a
 * sockaddr_un (108 bytes) or in buf.
 */
int sockpath_resolve(const char *explicit_path, char *buf, size_t buflen);

#endif
