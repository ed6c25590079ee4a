/* Section 2: calls per second through mcppoold across app and pooled connections, against echo_server. */
#include <stdio.h>

#include "bench.h"

#define MAX_ROUNDS 16

static const unsigned conns_grid[] = { 1, 16, 256 };
static const unsigned users_grid[] = { 1, 4, 16, 64 };

#define NCONNS (sizeof(conns_grid) / sizeof(conns_grid[0]))
#define NUSERS (sizeof(users_grid) / sizeof(users_grid[0]))

/* One cell of the table, over all rounds. */
struct cell {
	double rate[MAX_ROUNDS];
	unsigned rounds;
	uint64_t calls, errors;
	uint64_t cpu_ns, children_cpu_ns, client_cpu_ns;
	struct samples lat;
};

/* cells[c][0] is the echo server under conns_grid[c]; cells[c][1 + u] mcppoold with users_grid[u]. */
struct grid {
	struct cell cells[NCONNS][1 + NUSERS];
};

static void cell_run(struct cell *cell, const struct load_spec *spec)
{
	struct load_result res;

	load_run(spec, &res);
	cell->rate[cell->rounds++] = (double)res.calls / res.seconds;
	cell->calls += res.calls;
	cell->errors += res.errors;
	cell->cpu_ns += res.cpu_ns;
	cell->children_cpu_ns += res.children_cpu_ns;
	cell->client_cpu_ns += res.client_cpu_ns;
	samples_merge(&cell->lat, &res.lat);
	load_result_destroy(&res);
}

static void grid_round(struct grid *g, const struct bench_opts *o)
{
	for (size_t c = 0; c < NCONNS; c++) {
		struct load_spec echo = load_shape(o, LOAD_ECHO, conns_grid[c], 1);

		cell_run(&g->cells[c][0], &echo);
		for (size_t u = 0; u < NUSERS; u++) {
			struct load_spec d = load_shape(o, LOAD_DAEMON, conns_grid[c], users_grid[u]);

			cell_run(&g->cells[c][1 + u], &d);
		}
	}
}

static double cell_rate(struct cell *cell)
{
	return median(cell->rate, cell->rounds);
}

/* Prints ns per call in µs, then the column separator. */
static void print_per_call(uint64_t ns, uint64_t calls)
{
	if (calls)
		printf("%.2f", (double)ns / (double)calls / 1000.0);
	else
		fputs("—", stdout);
	fputs(" | ", stdout);
}

static void print_cell(struct cell *cell, unsigned conns, const char *pooled, double echo_rate)
{
	double rate = cell_rate(cell);

	printf("| %u × 8 | %s | %.0f | %.0f | %.0f | ", conns, pooled, rate,
	       samples_quantile_us(&cell->lat, 0.5), samples_quantile_us(&cell->lat, 0.99));
	print_per_call(cell->cpu_ns, cell->calls);
	print_per_call(cell->children_cpu_ns, cell->children_cpu_ns ? cell->calls : 0);
	print_per_call(cell->client_cpu_ns, cell->calls);
	print_ratio(rate, echo_rate);
	puts(" |");
}

/* Prints the table; returns the number of mcppoold cells within 80 % of the echo server. */
static unsigned print_grid(struct grid *g, unsigned rounds, uint64_t *errors)
{
	unsigned met = 0;
	char pooled[16];

	printf("| app conns × in flight | pooled conns | calls/s (median of %u) | latency median (µs) "
	       "| latency p99 (µs) | CPU/call (µs): daemon or echo server | CPU/call: fixtures "
	       "| CPU/call: load generator | vs echo server |\n", rounds);
	puts("|---|---|---:|---:|---:|---:|---:|---:|---:|");
	for (size_t c = 0; c < NCONNS; c++) {
		double echo_rate = cell_rate(&g->cells[c][0]);

		print_cell(&g->cells[c][0], conns_grid[c], "echo server", echo_rate);
		for (size_t u = 0; u < NUSERS; u++) {
			struct cell *cell = &g->cells[c][1 + u];

			snprintf(pooled, sizeof(pooled), "%u", users_grid[u]);
			print_cell(cell, conns_grid[c], pooled, echo_rate);
			met += cell_rate(cell) >= 0.8 * echo_rate;
			*errors += cell->errors;
		}
	}
	return met;
}

int section_throughput(const struct bench_opts *o)
{
	static struct grid g;
	mcppool_conn *c;
	uint64_t errors = 0;
	unsigned met;

	if (!o->echo || !o->daemon_pid || !o->echo_pid || o->rounds > MAX_ROUNDS)
		die("throughput needs --echo, --daemon-pid, --echo-pid and at most %d rounds",
		    MAX_ROUNDS);
	c = daemon_connect(o);
	daemon_warm_users(c, o, LOAD_USER_PREFIX, 0, users_grid[NUSERS - 1], 16);
	mcppool_close(c);
	for (size_t i = 0; i < NCONNS; i++)
		for (size_t j = 0; j < 1 + NUSERS; j++)
			samples_init(&g.cells[i][j].lat);
	for (unsigned r = 0; r < o->rounds; r++)
		grid_round(&g, o);
	met = print_grid(&g, o->rounds, &errors);
	printf("\nWithin 80 %% of the echo server's calls/s: %u of %zu mcppoold cells. ", met,
	       NCONNS * NUSERS);
	printf("Failed calls: %llu. Each cell: %.1f s after a 0.25 s warm-up, %u worker threads.\n",
	       (unsigned long long)errors, o->seconds, o->threads);
	for (size_t i = 0; i < NCONNS; i++)
		for (size_t j = 0; j < 1 + NUSERS; j++)
			samples_destroy(&g.cells[i][j].lat);
	return 0;
}
