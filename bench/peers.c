/* Section 5: the same calls through supergateway (stdio → Streamable HTTP), side by side with mcppoold. */
#include <stdio.h>

#include "bench.h"
#include "http.h"

#define WARMUP 100
#define MAX_ROUNDS 16

static const unsigned conns_grid[] = { 1, 16 };

#define NCONNS (sizeof(conns_grid) / sizeof(conns_grid[0]))

enum side { SIDE_DAEMON, SIDE_PEER, NSIDES };

struct peers {
	const struct bench_opts *o;
	mcppool_conn *daemon;
	struct http_session http;
	double lat_med[NSIDES][MAX_ROUNDS], lat_p99[NSIDES][MAX_ROUNDS]; /* µs, per round */
	double rate[NCONNS][NSIDES][MAX_ROUNDS];
	uint64_t calls[NSIDES], cpu_ns[NSIDES], children_cpu_ns[NSIDES]; /* at the largest load */
};

static void one_call(struct peers *p, enum side s)
{
	if (s == SIDE_DAEMON)
		daemon_call(p->daemon, p->o, "bench-peer");
	else
		http_session_call(&p->http);
}

static void measure_latency(struct peers *p, enum side s, unsigned n, unsigned round)
{
	struct samples lat;

	samples_init(&lat);
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		one_call(p, s);
		samples_add(&lat, now_ns() - t0);
	}
	p->lat_med[s][round] = samples_quantile_us(&lat, 0.5);
	p->lat_p99[s][round] = samples_quantile_us(&lat, 0.99);
	samples_destroy(&lat);
}

/* One throughput window of conns × 8 calls in flight: app connections, or HTTP connections. */
static void measure_rate(struct peers *p, size_t c, enum side s, unsigned round)
{
	struct load_result res;

	if (s == SIDE_DAEMON) {
		struct load_spec spec = load_shape(p->o, LOAD_DAEMON, conns_grid[c], 1);

		load_run(&spec, &res);
	} else {
		struct http_load_spec spec = { .session = &p->http, .inflight = conns_grid[c] * 8,
					       .warmup_s = 0.25, .seconds = p->o->seconds,
					       .server_pid = p->o->peer_pid };

		http_load_run(&spec, &res);
	}
	p->rate[c][s][round] = (double)res.calls / res.seconds;
	if (c == NCONNS - 1) {
		p->calls[s] += res.calls;
		p->cpu_ns[s] += res.cpu_ns;
		p->children_cpu_ns[s] += res.children_cpu_ns;
	}
	load_result_destroy(&res);
}

static void print_row(const char *what, double daemon, double peer, int decimals)
{
	printf("| %s | %.*f | %.*f | ", what, decimals, daemon, decimals, peer);
	print_ratio(peer, daemon);
	puts(" |");
}

/* A figure taken once per round: "median (min–max)" of each side, and of their ratio round by round. */
static void print_rounds(const char *what, const double *daemon, const double *peer, unsigned n,
			 int decimals)
{
	double ratio[MAX_ROUNDS];

	for (unsigned r = 0; r < n; r++)
		ratio[r] = daemon[r] > 0 ? peer[r] / daemon[r] : 0;
	printf("| %s | ", what);
	spread_print(daemon, n, decimals);
	printf(" | ");
	spread_print(peer, n, decimals);
	printf(" | ");
	spread_print(ratio, n, 2);
	puts(" |");
}

static double per_call_us(uint64_t ns, uint64_t calls)
{
	return calls ? (double)ns / (double)calls / 1000.0 : 0;
}

static void print_table(struct peers *p)
{
	char what[96];

	snprintf(what, sizeof(what), "figure: median of %u rounds (min–max)", p->o->rounds);
	printf("| %s | mcppoold | supergateway | supergateway / mcppoold |\n", what);
	puts("|---|---:|---:|---:|");
	print_rounds("latency median (µs)", p->lat_med[SIDE_DAEMON], p->lat_med[SIDE_PEER], p->o->rounds, 1);
	print_rounds("latency p99 (µs)", p->lat_p99[SIDE_DAEMON], p->lat_p99[SIDE_PEER], p->o->rounds, 1);
	for (size_t c = 0; c < NCONNS; c++) {
		snprintf(what, sizeof(what), "calls/s, %u × 8 in flight", conns_grid[c]);
		print_rounds(what, p->rate[c][SIDE_DAEMON], p->rate[c][SIDE_PEER], p->o->rounds, 0);
	}
	snprintf(what, sizeof(what), "proxy CPU per call (µs), %u × 8 in flight, all rounds",
		 conns_grid[NCONNS - 1]);
	print_row(what, per_call_us(p->cpu_ns[SIDE_DAEMON], p->calls[SIDE_DAEMON]),
		  per_call_us(p->cpu_ns[SIDE_PEER], p->calls[SIDE_PEER]), 1);
	snprintf(what, sizeof(what), "fixture CPU per call (µs), %u × 8 in flight, all rounds",
		 conns_grid[NCONNS - 1]);
	print_row(what, per_call_us(p->children_cpu_ns[SIDE_DAEMON], p->calls[SIDE_DAEMON]),
		  per_call_us(p->children_cpu_ns[SIDE_PEER], p->calls[SIDE_PEER]), 1);
}

int section_peers(const struct bench_opts *o)
{
	struct peers p = { .o = o };
	unsigned per_round = o->iterations / o->rounds;

	if (!o->url || !o->daemon_pid || !o->peer_pid || o->rounds > MAX_ROUNDS)
		die("peers needs --url, --daemon-pid, --peer-pid and at most %d rounds", MAX_ROUNDS);
	p.daemon = daemon_connect(o);
	http_session_open(&p.http, o->url);
	for (int s = 0; s < NSIDES; s++)
		for (unsigned i = 0; i < WARMUP; i++)
			one_call(&p, (enum side)s);
	for (unsigned r = 0; r < o->rounds; r++) {
		for (int k = 0; k < NSIDES; k++)
			measure_latency(&p, (enum side)((r + (unsigned)k) % NSIDES),
					per_round ? per_round : 1, r);
		for (size_t c = 0; c < NCONNS; c++)
			for (int s = 0; s < NSIDES; s++)
				measure_rate(&p, c, (enum side)s, r);
	}
	print_table(&p);
	http_session_close(&p.http);
	mcppool_close(p.daemon);
	return 0;
}
