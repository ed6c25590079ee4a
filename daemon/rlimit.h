/* The open-file limit: raised to its hard limit at start, and checked against the configuration. */
#ifndef MCPPOOL_RLIMIT_H
#define MCPPOOL_RLIMIT_H

#include <stddef.h>

#include "config.h"

/*
 * Descriptors one pooled connection holds while idle, measured: a stdio server's
 * stdin, stdout and stderr pipes; an HTTP server's socket plus the two ends of its
 * curl multi handle's wake-up socketpair (each further HTTP request in flight at
 * once opens one more socket).
 */
#define RLIMIT_FDS_PER_CONNECTION 3u

/*
 * What the daemon needs beyond connections and clients: epoll, libev's eventfd,
 * the listening sockets, the log, the metrics listener, and the 8 descriptors of
 * a spawn in progress (four pipes), with room to spare.
 */
#define RLIMIT_FDS_RESERVED 32u

/*
 * Raises RLIMIT_NOFILE's soft limit to its hard limit (to fs.nr_open when the
 * hard limit is unlimited), then checks that MAX_TOTAL_CONNECTIONS pooled
 * connections, MCPPOOL_MAX_CLIENTS clients and the reserve fit in it. Returns 0
 * when they do; -1 with the arithmetic and the fix in err when they do not or the
 * limit cannot be read. A soft limit that cannot be raised is only logged: the
 * check is then against the soft limit.
 */
int rlimit_fit(const struct config *cfg, char *err, size_t errlen);

#endif
