/* Section 1: latency of one small tools/call through mcppoold, directly, and on the physical floor. */
#include <stdio.h>
#include <unistd.h>

#include "bench.h"
#include "direct.h"
#include "rawecho.h"

#define WARMUP 200

/* PATH_BUSY, mcppoold with MCPPOOL_BUSY_POLL_US, runs when --busy is given. */
enum path { PATH_RAW, PATH_DIRECT, PATH_DAEMON, PATH_BUSY, NPATHS };

/* CPU time of the process serving a path (the daemon, or the fixture driven directly). */
struct cpu_use {
	uint64_t user, sys;
	uint64_t children; /* the daemon's MCP servers */
};

struct hotpath {
	const struct bench_opts *o;
	int echo_fd;
	char frame[256];
	size_t frame_len;
	struct direct direct;
	mcppool_conn *daemon, *busy;
	int npaths;
	struct samples lat[NPATHS];
	struct cpu_use before[NPATHS]; /* after the warm-up, of the process serving each path */
};

static void cpu_use_take(struct cpu_use *u, pid_t pid)
{
	proc_cpu_split(pid, &u->user, &u->sys);
	u->children = proc_children_cpu_ns(pid);
}

static void one_call(struct hotpath *h, enum path p)
{
	switch (p) {
	case PATH_RAW:
		rawecho_roundtrip(h->echo_fd, h->frame, h->frame_len);
		break;
	case PATH_DIRECT:
		direct_call(&h->direct, "hello");
		break;
	case PATH_DAEMON:
		daemon_call(h->daemon, h->o, "bench-hot");
		break;
	default:
		daemon_call(h->busy, h->o, "bench-hot");
		break;
	}
}

static void measure(struct hotpath *h, enum path p, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		one_call(h, p);
		samples_add(&h->lat[p], now_ns() - t0);
	}
}

static void hotpath_open(struct hotpath *h, const struct bench_opts *o)
{
	if (!o->echo || !o->fixture)
		die("hotpath needs --echo and --fixture");
	h->o = o;
	h->frame_len = echo_frame_len();
	rawecho_frame(h->frame, h->frame_len);
	h->echo_fd = rawecho_connect(o->echo);
	direct_start(&h->direct, o->fixture);
	h->daemon = daemon_connect(o);
	h->npaths = PATH_DAEMON + 1;
	if (o->busy) {
		struct bench_opts busy = *o;

		busy.daemon = o->busy;
		h->busy = daemon_connect(&busy);
		h->npaths = PATH_BUSY + 1;
	}
	for (int p = 0; p < h->npaths; p++) {
		samples_init(&h->lat[p]);
		for (unsigned i = 0; i < WARMUP; i++)
			one_call(h, (enum path)p);
	}
	if (o->echo_pid)
		cpu_use_take(&h->before[PATH_RAW], o->echo_pid);
	cpu_use_take(&h->before[PATH_DIRECT], h->direct.pid);
	if (o->daemon_pid)
		cpu_use_take(&h->before[PATH_DAEMON], o->daemon_pid);
	if (o->busy_pid)
		cpu_use_take(&h->before[PATH_BUSY], o->busy_pid);
}

static void hotpath_close(struct hotpath *h)
{
	close(h->echo_fd);
	direct_stop(&h->direct);
	mcppool_close(h->daemon);
	mcppool_close(h->busy);
	for (int p = 0; p < h->npaths; p++)
		samples_destroy(&h->lat[p]);
}

static void print_row(const char *what, double median, double p99, double floor)
{
	printf("| %s | %.1f | %.1f | ", what, median, p99);
	print_ratio(median, floor);
	puts(" |");
}

static void print_table(struct hotpath *h)
{
	double med[NPATHS], p99[NPATHS];
	char floor_label[96], label[160];

	for (int p = 0; p < h->npaths; p++) {
		med[p] = samples_quantile_us(&h->lat[p], 0.5);
		p99[p] = samples_quantile_us(&h->lat[p], 0.99);
	}
	printf("| path (%zu samples each) | median (µs) | p99 (µs) | in raw round trips |\n",
	       h->lat[PATH_RAW].n);
	puts("|---|---:|---:|---:|");
	snprintf(floor_label, sizeof(floor_label),
		 "(b) raw Unix-socket echo round trip, %zu-byte frames: the floor", h->frame_len);
	print_row(floor_label, med[PATH_RAW], p99[PATH_RAW], med[PATH_RAW]);
	print_row("(a) direct: the benchmark speaks JSON-RPC to the fixture over its stdio pipes",
		  med[PATH_DIRECT], p99[PATH_DIRECT], med[PATH_RAW]);
	print_row("mcppoold: `mcppool_call` → daemon → the same fixture", med[PATH_DAEMON],
		  p99[PATH_DAEMON], med[PATH_RAW]);
	print_row("**added by mcppoold** (mcppoold − direct; target ≤ 1.5 round trips)",
		  med[PATH_DAEMON] - med[PATH_DIRECT], p99[PATH_DAEMON] - p99[PATH_DIRECT],
		  med[PATH_RAW]);
	if (h->npaths <= PATH_BUSY)
		return;
	snprintf(label, sizeof(label), "mcppoold with `MCPPOOL_BUSY_POLL_US=%u` → the same fixture",
		 h->o->busy_us);
	print_row(label, med[PATH_BUSY], p99[PATH_BUSY], med[PATH_RAW]);
	print_row("**added by mcppoold polling** (mcppoold polling − direct)",
		  med[PATH_BUSY] - med[PATH_DIRECT], p99[PATH_BUSY] - p99[PATH_DIRECT], med[PATH_RAW]);
}

static void print_cpu_row(const char *who, const struct cpu_use *a, const struct cpu_use *b,
			  double calls)
{
	printf("| %s | %.1f | %.1f | %.1f |\n", who,
	       (double)(b->user + b->sys - a->user - a->sys) / calls / 1000.0,
	       (double)(b->user - a->user) / calls / 1000.0, (double)(b->sys - a->sys) / calls / 1000.0);
}

/* Each server works only in its path's turns: its CPU time over the section is that of its calls. */
static void print_cpu(struct hotpath *h)
{
	const struct bench_opts *o = h->o;
	double n = (double)h->lat[PATH_DAEMON].n;
	struct cpu_use now;

	puts("\n| process (utime + stime over the section) | CPU per call (µs) | user | system |");
	puts("|---|---:|---:|---:|");
	if (o->echo_pid) {
		cpu_use_take(&now, o->echo_pid);
		print_cpu_row("echo server, per round trip", &h->before[PATH_RAW], &now, n);
	}
	cpu_use_take(&now, h->direct.pid);
	print_cpu_row("fixture, driven directly", &h->before[PATH_DIRECT], &now, n);
	if (o->daemon_pid) {
		cpu_use_take(&now, o->daemon_pid);
		print_cpu_row("mcppoold", &h->before[PATH_DAEMON], &now, n);
		printf("| fixture behind mcppoold | %.1f | | |\n",
		       (double)(now.children - h->before[PATH_DAEMON].children) / n / 1000.0);
	}
	if (o->busy_pid) {
		cpu_use_take(&now, o->busy_pid);
		print_cpu_row("mcppoold polling (its CPU also runs between its turns: an upper bound)",
			      &h->before[PATH_BUSY], &now, n);
	}
}

int section_hotpath(const struct bench_opts *o)
{
	struct hotpath h = { 0 };
	unsigned per_round = o->iterations / o->rounds;

	hotpath_open(&h, o);
	/* Rounds rotate the paths so that drift in the machine hits each one alike. */
	for (unsigned r = 0; r < o->rounds; r++)
		for (int k = 0; k < h.npaths; k++)
			measure(&h, (enum path)((r + (unsigned)k) % (unsigned)h.npaths),
				per_round ? per_round : 1);
	print_table(&h);
	print_cpu(&h);
	hotpath_close(&h);
	return 0;
}
