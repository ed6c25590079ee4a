/* Throughput load: many app connections, several requests in flight each, for a fixed time. */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* The user ids of LOAD_DAEMON runs: this prefix and a number. */
#define LOAD_USER_PREFIX "bench-u"

enum load_target {
	LOAD_DAEMON, /* tools/call echo through mcppoold (libmcppool, non-blocking) */
	LOAD_ECHO,   /* frames through echo_server: the same load shape on the physical floor */
	LOAD_DIRECT, /* tools/call echo to an MCP server of its own per app connection, no pooler */
};

struct load_spec {
	enum load_target target;
	const char *socket;  /* the daemon's or the echo server's */
	const char *mcp;     /* LOAD_DAEMON: catalog name of the server to call */
	const char *command; /* LOAD_DIRECT: the MCP server spawned for each app connection */
	unsigned conns;      /* app connections */
	unsigned inflight;   /* requests kept in flight on each */
	unsigned users;      /* LOAD_DAEMON: calls rotate over users LOAD_USER_PREFIX 0 .. users-1 */
	unsigned threads;    /* worker threads; connection i belongs to thread i % threads */
	size_t frame_len;    /* LOAD_ECHO: bytes per frame, header included */
	double warmup_s;     /* load before the measurement window */
	double seconds;      /* the measurement window */
	pid_t server_pid;    /* process whose CPU time is measured over the window; 0: none */
};

struct load_result {
	uint64_t calls;     /* completed successfully within the window */
	uint64_t errors;    /* failed within the window */
	double seconds;     /* the window's actual length */
	uint64_t cpu_ns;          /* server_pid's utime + stime over the window */
	uint64_t children_cpu_ns; /* that of server_pid's children; LOAD_DIRECT: of its servers */
	uint64_t client_cpu_ns;   /* that of this process (the load generator) */
	struct samples lat; /* latency of each call completed within the window */
};

/*
 * Runs the load: the workers connect (LOAD_DIRECT: spawn and initialize their
 * servers) and keep spec->inflight requests going on each connection; once all
 * are up, the warm-up and then the window run. Afterwards the workers drain
 * what is in flight (at most 5 s) and disconnect (LOAD_DIRECT: stop and reap
 * their servers). Fills res (to free with load_result_destroy()). Dies when a
 * connection cannot be made or breaks.
 */
void load_run(const struct load_spec *spec, struct load_result *res);
void load_result_destroy(struct load_result *res);

/* Sets res's CPU times to what was spent between marks a and b. */
void load_result_cpu(struct load_result *res, const struct cpu_mark *a, const struct cpu_mark *b);


#endif
