/* Section 1: latency of one small tools/call through mcppoold, directly, and on the physical floor. */
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "direct.h"
#include "rawecho.h"

#define WARMUP 200
#define MAX_ROUNDS 32

/*
 * PATH_RELAY, the same fixture behind bench/relay (the least a proxy does), runs
 * when --relay is given; PATH_ALT, a second mcppoold with other settings, when --alt is.
 */
enum path { PATH_RAW, PATH_DIRECT, PATH_RELAY, PATH_DAEMON, PATH_ALT, NPATHS };

/* CPU time of the process serving a path (the daemon, or the fixture driven directly), and the app's. */
struct cpu_use {
	uint64_t user, sys;
	uint64_t children; /* the daemon's MCP servers */
	uint64_t app;      /* this thread: the calling side (libmcppool, or the direct JSON-RPC) */
};

struct hotpath {
	const struct bench_opts *o;
	int echo_fd;
	char frame[256];
	size_t frame_len;
	struct direct direct, relay;
	mcppool_conn *daemon, *alt;
	char user[32];      /* of this round's calls through the daemons: a new server each round */
	enum path paths[NPATHS]; /* the paths this run measures */
	int npaths;
	struct samples lat[NPATHS];  /* every sample of every round */
	double med[NPATHS][MAX_ROUNDS], p99[NPATHS][MAX_ROUNDS]; /* each round's own */
	unsigned round;
	struct cpu_use used[NPATHS]; /* over the measured windows only */
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void cpu_use_take(struct cpu_use *u, pid_t pid)
{
	if (pid) {
		proc_cpu_split(pid, &u->user, &u->sys);
		u->children = proc_children_cpu_ns(pid);
	}
	u->app = thread_cpu_ns();
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
	case PATH_RELAY:
		direct_call(&h->relay, "hello");
		break;
	case PATH_DAEMON:
		daemon_call(h->daemon, h->o, h->user);
		break;
	default:
		daemon_call(h->alt, h->o, h->user);
		break;
	}
}

/* The process whose CPU a path's calls cost (0: not measured). */
static pid_t server_of(const struct hotpath *h, enum path p)
{
	switch (p) {
	case PATH_RAW:
		return h->o->echo_pid;
	case PATH_DIRECT:
		return h->direct.pid;
	case PATH_RELAY:
		return h->o->relay_pid;
	case PATH_DAEMON:
		return h->o->daemon_pid;
	default:
		return h->o->alt_pid;
	}
}

/* n timed calls, after a warm-up; the server's CPU over the timed window is added to used. */
static void measure(struct hotpath *h, enum path p, unsigned n)
{
	pid_t pid = server_of(h, p);
	struct cpu_use a = { 0 }, b = { 0 };
	struct samples round;

	samples_init(&round);
	for (unsigned i = 0; i < WARMUP; i++)
		one_call(h, p);
	cpu_use_take(&a, pid);
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		one_call(h, p);
		samples_add(&round, now_ns() - t0);
	}
	cpu_use_take(&b, pid);
	h->med[p][h->round] = samples_quantile_us(&round, 0.5);
	h->p99[p][h->round] = samples_quantile_us(&round, 0.99);
	samples_merge(&h->lat[p], &round);
	samples_destroy(&round);
	h->used[p].user += b.user - a.user;
	h->used[p].sys += b.sys - a.sys;
	h->used[p].children += b.children - a.children;
	h->used[p].app += b.app - a.app;
}

/*
 * Each round serves every path from a server process started for it (a new
 * fixture for the direct path, a new user, so a new child, for the daemons'):
 * where the scheduler places a pair of processes tends to stick for their life,
 * so a run of long-lived ones would measure one placement, not the usual mix.
 */
static void new_round(struct hotpath *h, unsigned r)
{
	snprintf(h->user, sizeof(h->user), "bench-hot-%u", r);
	if (r > 0)
		direct_stop(&h->direct);
	direct_start(&h->direct, h->o->fixture);
	if (h->o->relay) {
		if (r > 0)
			direct_stop(&h->relay);
		direct_start_relay(&h->relay, h->o->relay);
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
	h->daemon = daemon_connect(o);
	h->paths[h->npaths++] = PATH_RAW;
	h->paths[h->npaths++] = PATH_DIRECT;
	if (o->relay)
		h->paths[h->npaths++] = PATH_RELAY;
	h->paths[h->npaths++] = PATH_DAEMON;
	if (o->alt) {
		struct bench_opts alt = *o;

		alt.daemon = o->alt;
		h->alt = daemon_connect(&alt);
		h->paths[h->npaths++] = PATH_ALT;
	}
	for (int p = 0; p < NPATHS; p++)
		samples_init(&h->lat[p]);
}

static void hotpath_close(struct hotpath *h)
{
	close(h->echo_fd);
	direct_stop(&h->direct);
	if (h->o->relay)
		direct_stop(&h->relay);
	mcppool_close(h->daemon);
	mcppool_close(h->alt);
	for (int p = 0; p < NPATHS; p++)
		samples_destroy(&h->lat[p]);
}

/* Path p's median over base's, round by round (each round's pair measured back to back). */
static void ratios(const struct hotpath *h, enum path p, enum path base, double *out)
{
	for (unsigned r = 0; r < h->o->rounds; r++)
		out[r] = h->med[p][r] / h->med[base][r];
}

/*
 * One path: its per-round median and p99 as "median of the rounds (min–max)", the
 * 10th and 90th percentiles of all its samples (two far-apart values there show a
 * bimodal path that one median would hide), and the median in raw round trips and
 * over the direct path's, each per round.
 */
static void print_row(const struct hotpath *h, const char *what, enum path p)
{
	struct samples *all = (struct samples *)&h->lat[p];
	double ratio[MAX_ROUNDS];

	printf("| %s | ", what);
	spread_print(h->med[p], h->o->rounds, 1);
	printf(" | %.1f / %.1f | ", samples_quantile_us(all, 0.1), samples_quantile_us(all, 0.9));
	spread_print(h->p99[p], h->o->rounds, 1);
	printf(" | ");
	ratios(h, p, PATH_RAW, ratio);
	spread_print(ratio, h->o->rounds, 1);
	printf(" | ");
	if (p == PATH_RAW) {
		puts(" |");
		return;
	}
	ratios(h, p, PATH_DIRECT, ratio);
	spread_print(ratio, h->o->rounds, 1);
	puts(p >= PATH_DAEMON ? " (target ≤ 1.5) |" : " |");
}

/* What path p adds to path base, round by round. */
static void print_added(const struct hotpath *h, const char *what, enum path p, enum path base)
{
	double d[MAX_ROUNDS], d99[MAX_ROUNDS], ratio[MAX_ROUNDS];

	for (unsigned r = 0; r < h->o->rounds; r++) {
		d[r] = h->med[p][r] - h->med[base][r];
		d99[r] = h->p99[p][r] - h->p99[base][r];
		ratio[r] = d[r] / h->med[PATH_RAW][r];
	}
	printf("| %s | ", what);
	spread_print(d, h->o->rounds, 1);
	printf(" | | ");
	spread_print(d99, h->o->rounds, 1);
	printf(" | **");
	spread_print(ratio, h->o->rounds, 1);
	puts("** (target ≤ 1.5) | |");
}

/* One daemon's two rows: its own, and what it adds to the direct path. */
static void print_daemon(const struct hotpath *h, enum path p, const char *settings)
{
	char label[256];

	snprintf(label, sizeof(label), "mcppoold%s%s: `mcppool_call` → daemon → the same fixture",
		 settings ? ", " : "", settings ? settings : "");
	print_row(h, label, p);
	snprintf(label, sizeof(label), "**added by mcppoold**%s%s (− direct, per round)",
		 settings ? ", " : "", settings ? settings : "");
	print_added(h, label, p, PATH_DIRECT);
}

static void print_table(struct hotpath *h)
{
	char floor_label[96];

	printf("| path (%u rounds × %zu samples) | median µs: of the rounds (min–max) | p10 / p90 µs, "
	       "all samples | p99 µs: of the rounds (min–max) | median in raw round trips | "
	       "median ÷ direct |\n",
	       h->o->rounds, h->lat[PATH_RAW].n / h->o->rounds);
	puts("|---|---:|---:|---:|---:|---:|");
	snprintf(floor_label, sizeof(floor_label),
		 "(b) raw Unix-socket echo round trip, %zu-byte frames: the floor", h->frame_len);
	print_row(h, floor_label, PATH_RAW);
	print_row(h, "(a) direct: the benchmark speaks JSON-RPC to the fixture over its stdio pipes",
		  PATH_DIRECT);
	if (h->o->relay)
		print_row(h, "(c) the same through a minimal relay process (bench/relay: epoll, read, write; "
			  "no parsing): the floor of any proxy", PATH_RELAY);
	print_daemon(h, PATH_DAEMON, h->o->daemon_label);
	if (h->o->alt)
		print_daemon(h, PATH_ALT, h->o->alt_label);
}

/* CPU per call: the serving process (user, system), what it spawned, and the calling thread. */
static void print_cpu_row(const char *who, const struct cpu_use *u, double calls, bool children)
{
	printf("| %s | %.1f | %.1f | %.1f | ", who, (double)(u->user + u->sys) / calls / 1000.0,
	       (double)u->user / calls / 1000.0, (double)u->sys / calls / 1000.0);
	if (children)
		printf("%.1f", (double)u->children / calls / 1000.0);
	printf(" | %.1f |\n", (double)u->app / calls / 1000.0);
}

static void print_cpu(struct hotpath *h)
{
	const struct bench_opts *o = h->o;
	double n = (double)h->lat[PATH_DAEMON].n;
	char who[192];

	puts("\n| path: process (utime + stime over the timed calls) | CPU per call (µs) | user | system "
	     "| its fixture | the calling thread |");
	puts("|---|---:|---:|---:|---:|---:|");
	if (o->echo_pid)
		print_cpu_row("raw: echo server", &h->used[PATH_RAW], n, false);
	print_cpu_row("direct: the fixture", &h->used[PATH_DIRECT], n, false);
	if (o->relay_pid)
		print_cpu_row("relay", &h->used[PATH_RELAY], n, true);
	if (o->daemon_pid) {
		snprintf(who, sizeof(who), "mcppoold%s%s", o->daemon_label ? ", " : "",
			 o->daemon_label ? o->daemon_label : "");
		print_cpu_row(who, &h->used[PATH_DAEMON], n, true);
	}
	if (o->alt_pid) {
		snprintf(who, sizeof(who), "mcppoold, %s", o->alt_label ? o->alt_label : "other settings");
		print_cpu_row(who, &h->used[PATH_ALT], n, true);
	}
}

int section_hotpath(const struct bench_opts *o)
{
	struct hotpath h = { 0 };
	unsigned per_round = o->iterations / o->rounds;

	if (o->rounds > MAX_ROUNDS)
		die("hotpath takes at most %d rounds", MAX_ROUNDS);
	hotpath_open(&h, o);
	/* Rounds rotate the paths so that drift in the machine hits each one alike. */
	for (unsigned r = 0; r < o->rounds; r++) {
		h.round = r;
		new_round(&h, r);
		for (int k = 0; k < h.npaths; k++)
			measure(&h, h.paths[(r + (unsigned)k) % (unsigned)h.npaths],
				per_round ? per_round : 1);
	}
	print_table(&h);
	print_cpu(&h);
	hotpath_close(&h);
	return 0;
}
