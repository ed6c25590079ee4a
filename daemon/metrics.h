/* Counters of the daemon's work, and their Prometheus text exposition. */
#ifndef MCPPOOL_METRICS_H
#define MCPPOOL_METRICS_H

#include <stdint.h>

#include "errcode.h"

/* Every counter only grows; gauges are read from the pool and sessions when exposed. */
struct metrics {
	uint64_t requests;              /* MCP requests accepted (call, request, tools, warm) */
	uint64_t replies_by_code[ERR__COUNT];
	uint64_t spawns;                /* children started */
	uint64_t spawn_failures;        /* starts that never became ready */
	uint64_t reuses;                /* requests served by an existing connection */
	uint64_t auth_reconnects;       /* connections retired because the auth changed */
	uint64_t evictions;             /* idle connections closed to make room */
	uint64_t idle_closed;           /* idle connections closed by the sweep or cleanup */
	uint64_t upstream_lost;         /* connections whose child exited or broke the protocol */
	uint64_t upstream_hung;         /* connections closed because a health ping went unanswered */
	uint64_t clients_accepted;
	uint64_t frames_bad;            /* frames answered with BAD_REQUEST */
	uint64_t input_waits;           /* times a client paused until its large frame fit MCPPOOL_MAX_INPUT */
};

struct daemon;

/* Returns the Prometheus text exposition (malloc'd), or NULL when out of memory. */
char *metrics_render(const struct daemon *d);

#endif
