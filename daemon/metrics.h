/* Counters of the daemon's work, and their Prometheus text exposition. */
#ifndef MCPPOOL_METRICS_H
#define MCPPOOL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
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

/* Upper bounds (seconds) of the latency histograms' buckets; +Inf is implied. */
#define METRICS_CALL_BUCKETS 15  /* 1 ms .. 60 s: a request, submission to reply */
#define METRICS_START_BUCKETS 11 /* 50 ms .. 120 s: a cold start, spawn to ready */

/*
 * One catalog server's counters (the "server" label: the catalog name, never
 * a user). Kept for the daemon's life under the name, so that a reload that
 * keeps an entry keeps its counts. Buckets are not cumulative here; the
 * exposition sums them.
 */
struct server_metrics {
	char *name;
	uint64_t requests;                     /* MCP requests that reached the pool */
	uint64_t replies_by_code[ERR__COUNT];  /* their outcomes */
	uint64_t call_buckets[METRICS_CALL_BUCKETS + 1]; /* REQ_RESULT requests only */
	uint64_t call_sum_ns;
	uint64_t start_buckets[METRICS_START_BUCKETS + 1];
	uint64_t start_sum_ns;
	uint64_t start_failures;               /* starts that never became ready */
};

/*
 * What the daemon notes of one app request from submission to reply, kept in
 * its request record (struct request's obs): no allocation unless the access
 * log is on.
 */
struct metrics_req {
	uint64_t t0_ns;  /* monotonic, at submission */
	unsigned slot;   /* 1 + index in metrics.servers; 0: not observed */
	int code;        /* the outcome the app got (enum errcode); ERR_OK until set */
	bool timed;      /* counted in the latency histogram (call, request, tools) */
	char *access;    /* MCPPOOL_ACCESS_LOG on: "user:mcp\tmethod\ttool" (malloc'd), else NULL */
};

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
	uint64_t pings_sent;            /* health pings sent (upstream.c) */
	unsigned pings_in_flight_peak;  /* the most health pings ever in flight at once */

	struct server_metrics *servers; /* by slot; grows, never shrinks (see metrics_server) */
	size_t nservers, cap_servers;
	int last_error_code;            /* of the last error reply packed (session.c): what a request refused before it had a record got */
	bool pool_above_80;             /* the pool was above 80 % of MAX_TOTAL_CONNECTIONS at its last growth */
	uint64_t pool_warned_ms;        /* monotonic: the last 80 % warning (at most one a minute); 0: none yet */
};

struct daemon;
struct catalog_entry;
struct mcp_call;

/* Returns the Prometheus text exposition (malloc'd), or NULL when out of memory. */
char *metrics_render(const struct daemon *d);

/* Frees the per-server counters; m is empty after. */
void metrics_free(struct metrics *m);

/* Monotonic nanoseconds (CLOCK_MONOTONIC): cheap (vDSO), for latencies. */
uint64_t metrics_now_ns(void);

/*
 * The counters of a catalog entry's server. The first use binds the entry to
 * the slot of its name (creating it), so a reloaded catalog finds its
 * servers' counts again; after that it is an index. Never NULL: when out of
 * memory, a shared slot that is not exposed.
 */
struct server_metrics *metrics_server(struct metrics *m, const struct catalog_entry *e);

/*
 * An app request for call->entry starts: fills *rq (the timer, the server)
 * and counts it. With the access log on, copies what its line will name
 * (key, method, tool: never arguments nor auth). Never fails: without
 * memory the access line is left out.
 */
void metrics_request_begin(struct daemon *d, struct metrics_req *rq, const struct mcp_call *call);

/*
 * The request of rq ended with code (the reply the app got; ERR_CANCELLED
 * when its client went away): counted by server and code, its latency
 * observed, its access line written; rq->access freed. Idempotent.
 */
void metrics_request_end(struct daemon *d, struct metrics_req *rq, int code);

/* A server (the part of key "user:mcp" after the ':') became ready start_ns after its spawn. */
void metrics_start_observed(struct metrics *m, const char *key, uint64_t start_ns);

/* A start of key "user:mcp" failed (never became ready, or could not be launched). */
void metrics_start_failed(struct metrics *m, const char *key);

/*
 * Called when a connection was added: past 80 % of MAX_TOTAL_CONNECTIONS the
 * daemon warns (the source document's alert), at most once a minute while it
 * stays there.
 */
void metrics_pool_grew(struct daemon *d);

#endif
