/* Counters of the daemon's work, and their Prometheus text exposition. */
#ifndef MCPPOOL_METRICS_H
#define MCPPOOL_METRICS_H

#include <stdint.h>

#include "errcode.h"

/*
 * Why a pooled connection closed. Each close is counted once, under one of
 * these, by the one function that closes connections (upstream_close in upstream.c).
 */
enum close_reason {
	CLOSE_IDLE,         /* idle longer than CONNECTION_TIMEOUT (sweep or cleanup) */
	CLOSE_EVICTED,      /* idle, closed to make room under the limits */
	CLOSE_RETIRED,      /* replaced (auth changed) or evicted, once drained */
	CLOSE_START_FAILED, /* never became ready */
	CLOSE_LOST,         /* the server exited, closed its output or broke the protocol */
	CLOSE_HUNG,         /* a health ping went unanswered */
	CLOSE_STDIN_FULL,   /* the server did not read its stdin (MCPPOOL_MAX_STDIN_QUEUE) */
	CLOSE_SHUTDOWN,     /* the daemon stops */
	CLOSE__COUNT
};

/* The reason's label in metrics and logs: "idle", "evicted", ... */
const char *close_reason_name(enum close_reason r);

/* Every counter only grows; gauges are read from the pool and sessions when exposed. */
struct metrics {
	uint64_t requests;              /* MCP requests accepted (call, request, tools, warm) */
	uint64_t replies_by_code[ERR__COUNT];
	uint64_t spawns;                /* children started */
	uint64_t spawn_failures;        /* starts that never became ready */
	uint64_t reuses;                /* requests served by an existing connection */
	uint64_t auth_reconnects;       /* connections retired because the auth changed */
	uint64_t closed[CLOSE__COUNT];  /* connections closed, by why */
	uint64_t clients_accepted;
	uint64_t frames_bad;            /* frames answered with BAD_REQUEST */
	uint64_t slow_clients_closed;   /* clients closed because they did not take their replies */
	uint64_t hello_timeouts;        /* clients closed because they sent no hello in time */
	uint64_t input_waits;           /* times a client paused until its large frame fit MCPPOOL_MAX_INPUT */
	uint64_t events_sent;           /* wire v2 events sent to apps (progress, message, notification) */
};

struct daemon;

/* Returns the Prometheus text exposition (malloc'd), or NULL when out of memory. */
char *metrics_render(const struct daemon *d);

#endif
