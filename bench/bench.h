/* The benchmark's sections and what they share: options, daemon helpers, Markdown output. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stddef.h>
#include <sys/types.h>

#include <mcppool.h>

#include "load.h"

/* Command-line options; each section reads the ones it needs. */
struct bench_opts {
	const char *daemon;     /* --daemon: mcppoold's socket */
	pid_t daemon_pid;       /* --daemon-pid */
	const char *daemon_label; /* --daemon-label: how hotpath names that daemon's settings */
	const char *alt;        /* --alt: a second mcppoold's socket, started with other settings (hotpath) */
	pid_t alt_pid;          /* --alt-pid */
	const char *alt_label;  /* --alt-label: its settings, for the table */
	const char *relay;      /* --relay: bench/relay's socket (hotpath's proxy floor) */
	pid_t relay_pid;        /* --relay-pid */
	const char *echo;       /* --echo: echo_server's socket */
	pid_t echo_pid;         /* --echo-pid */
	const char *fixture;    /* --fixture: the fixture server binary, for the direct path */
	const char *mcp;        /* --mcp: catalog name (default "fixture") */
	const char *label;      /* --label: the server's name in the cold table */
	const char *url;        /* --url: supergateway's Streamable HTTP endpoint */
	pid_t peer_pid;         /* --peer-pid: supergateway's node process */
	unsigned iterations;    /* --iterations: latency samples per path */
	unsigned rounds;        /* --rounds: interleaved repetitions */
	unsigned count;         /* --count: calls (calls), cold samples (cold), connections (memory) */
	unsigned warm;          /* --warm: warm samples (cold) */
	unsigned from;          /* --from: the smallest pool size memory prints a row for */
	unsigned threads;       /* --threads: load workers */
	double seconds;         /* --seconds: each throughput window */
};

int section_hotpath(const struct bench_opts *o);
int section_throughput(const struct bench_opts *o);
int section_peers(const struct bench_opts *o);
int section_cold(const struct bench_opts *o);
int section_memory(const struct bench_opts *o);
int section_calls(const struct bench_opts *o);

/* A connection to the daemon, its blocking calls bounded to 30 s; dies when it cannot be made. */
mcppool_conn *daemon_connect(const struct bench_opts *o);

/* One blocking tools/call of echo for user; dies unless it succeeds. */
void daemon_call(mcppool_conn *c, const struct bench_opts *o, const char *user);

/*
 * Opens users <prefix><from> .. <prefix><to - 1> with `warm`, window requests in
 * flight at once. Dies on any failure, or when it takes over 300 s.
 */
void daemon_warm_users(mcppool_conn *c, const struct bench_opts *o, const char *prefix,
		       unsigned from, unsigned to, unsigned window);

/* The load shape of a throughput cell against the daemon or the echo server. */
struct load_spec load_shape(const struct bench_opts *o, enum load_target target, unsigned conns,
			    unsigned users);

/* Bytes of the direct path's tools/call line: the size of the echo frames. */
size_t echo_frame_len(void);

/* Prints a ratio as "1.23", or "—" when the denominator is 0. */
void print_ratio(double num, double den);

#endif
