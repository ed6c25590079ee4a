/* The open-file limit: raised to its hard limit at start, and checked against the configuration. */
#ifndef MCPPOOL_RLIMIT_H
#define MCPPOOL_RLIMIT_H

#include <stddef.h>

#include "catalog.h"
#include "config.h"

/*
 * Descriptors one pooled connection holds, by transport:
 * - stdio: STDIO_FDS_PER_CHILD (stdiochild.h): the server's stdin and stdout
 *   pipes (2, MCPPOOL_SERVER_STDIO=pipes, the default) or the one socket that
 *   is both (1, socket), plus its stderr pipe with MCPPOOL_SERVER_STDERR=log
 *   (the default; none with inherit or discard): 3 by default, 1 at least.
 * - HTTP (Streamable or SSE): measured while idle against server-everything
 *   (Streamable HTTP, 2025-era), 4: the two ends of its curl multi handle's
 *   wake-up socketpair, the listening GET stream's socket and the kept-alive
 *   socket of the last POST. Each further request in flight at once opens one
 *   more socket, which this bound does not count: it is the idle pool's.
 */
#define RLIMIT_FDS_PER_HTTP_CONNECTION 4u

/*
 * What the daemon needs beyond connections and clients: epoll, libev's eventfd,
 * the listening sockets, the log, the metrics listener, the five slots every
 * spawn uses (stdio_reserve()) and the 8 descriptors of a spawn in progress
 * (four pairs), with room to spare.
 */
#define RLIMIT_FDS_RESERVED 32u

/*
 * Descriptors per pooled connection for cfg and cat: the stdio cost under
 * MCPPOOL_SERVER_STDIO and MCPPOOL_SERVER_STDERR, or the HTTP one when cat
 * (may be NULL) has an HTTP entry.
 */
unsigned rlimit_fds_per_connection(const struct config *cfg, const struct catalog *cat);

/*
 * Raises RLIMIT_NOFILE's soft limit to its hard limit (to fs.nr_open when the
 * hard limit is unlimited), then checks that MAX_TOTAL_CONNECTIONS pooled
 * connections of catalog cat (may be NULL: stdio only), MCPPOOL_MAX_CLIENTS
 * clients and the reserve fit in it. Returns 0 when they do; -1 with the
 * arithmetic, each term named, and the fix in err when they do not or the
 * limit cannot be read. A soft limit that cannot be raised is only logged: the
 * check is then against the soft limit.
 */
int rlimit_fit(const struct config *cfg, const struct catalog *cat, char *err, size_t errlen);

#endif
