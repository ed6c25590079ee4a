/* mcpctl top: a live terminal view of the pool (see mcpctl(1)). */
#ifndef MCPPOOL_TOP_H
#define MCPPOOL_TOP_H

#include <stdbool.h>
#include <stdio.h>

struct top_opts {
	const char *socket; /* NULL: libmcppool's default path */
	bool once;          /* print one frame and exit (for scripts, and when out is no terminal) */
};

/*
 * Shows the pool each second on out: totals against the limits, each catalog
 * server's connections, request and error rates and mean latency (from the
 * deltas of the daemon's metrics between two frames), and each connection
 * (user, server, state, requests in flight, idle time, pid). On a terminal
 * the screen is redrawn in place and 'q' quits (as do SIGINT and SIGTERM);
 * otherwise frames follow each other. Returns the exit status: 0, 1 when
 * the daemon refused (an admin op), 69 when it cannot be reached.
 */
int top_run(const struct top_opts *opts, FILE *out, FILE *errf);

#endif
