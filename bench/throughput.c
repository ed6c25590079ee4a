/* Section 2: calls/s through mcppoold across app and pooled connections, beside two baselines. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define MAX_ROUNDS 16

static const unsigned conns_grid[] = { 1, 16, 256 };
static const unsigned users_grid[] = { 1, 4, 16, 64 };

#define NCONNS (sizeof(conns_grid) / sizeof(conns_grid[0]))
#define NUSERS (sizeof(users_grid) / sizeof(users_grid[0]))

/* One cell of the table, over all rounds. */
struct cell {
	double rate[MAX_ROUNDS], lat_med[MAX_ROUNDS], lat_p99[MAX_ROUNDS]; /* per round; latency in µs */
	unsigned rounds;
	uint64_t calls, errors;
	uint64_t cpu_ns, children_cpu_ns, client_cpu_ns;
};

/* A row's cells (conns_grid[c] app connections): the baselines, then mcppoold per users_grid[u]. */
enum { CELL_ECHO, CELL_DIRECT, CELL_DAEMON, NCELLS = CELL_DAEMON + NUSERS };

/* The calls/s a row's cells are compared with. */
struct baselines {
	double echo, direct;
};

struct grid {
	struct cell cells[NCONNS][NCELLS];
};

static void cell_run(struct cell *cell, const struct load_spec *spec)
{
	struct load_result res;

	load_run(spec, &res);
	cell->lat_med[cell->rounds] = samples_quantile_us(&res.lat, 0.5);
	cell->lat_p99[cell->rounds] = samples_quantile_us(&res.lat, 0.99);
	cell->rate[cell->rounds++] = (double)res.calls / res.seconds;
	cell->calls += res.calls;
	cell->errors += res.errors;
	cell->cpu_ns += res.cpu_ns;
	cell->children_cpu_ns += res.children_cpu_ns;
	cell->client_cpu_ns += res.client_cpu_ns;
	load_result_destroy(&res);
}

/* The direct baseline's load: the fixture spawned per app connection, no daemon to measure. */
static struct load_spec direct_shape(const struct bench_opts *o, unsigned conns)
{
	struct load_spec spec = load_shape(o, LOAD_DIRECT, conns, 1);

	spec.socket = NULL;
	spec.command = o->fixture;
	spec.server_pid = 0;
	return spec;
}

static void grid_round(struct grid *g, const struct bench_opts *o)
{
	for (size_t c = 0; c < NCONNS; c++) {
		struct load_spec echo = load_shape(o, LOAD_ECHO, conns_grid[c], 1);
		struct load_spec direct = direct_shape(o, conns_grid[c]);

		cell_run(&g->cells[c][CELL_ECHO], &echo);
		cell_run(&g->cells[c][CELL_DIRECT], &direct);
		for (size_t u = 0; u < NUSERS; u++) {
			struct load_spec d = load_shape(o, LOAD_DAEMON, conns_grid[c], users_grid[u]);

			cell_run(&g->cells[c][CELL_DAEMON + u], &d);
		}
	}
}

static double cell_rate(const struct cell *cell)
{
	double r[MAX_ROUNDS];

	memcpy(r, cell->rate, cell->rounds * sizeof(*r));
	return median(r, cell->rounds);
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

/* A CPU column shows "—" where nothing ran (the direct baseline has no daemon). */
static void print_cell(struct cell *cell, unsigned conns, const char *pooled,
		       const struct baselines *base)
{
	double rate = cell_rate(cell);

	printf("| %u × 8 | %s | ", conns, pooled);
	spread_print(cell->rate, cell->rounds, 0);
	fputs(" | ", stdout);
	spread_print(cell->lat_med, cell->rounds, 0);
	fputs(" | ", stdout);
	spread_print(cell->lat_p99, cell->rounds, 0);
	fputs(" | ", stdout);
	print_per_call(cell->cpu_ns, cell->cpu_ns ? cell->calls : 0);
	print_per_call(cell->children_cpu_ns, cell->children_cpu_ns ? cell->calls : 0);
	print_per_call(cell->client_cpu_ns, cell->calls);
	print_ratio(rate, base->echo);
	fputs(" | ", stdout);
	print_ratio(rate, base->direct);
	puts(" |");
}

static void print_header(unsigned rounds)
{
	puts("Rows per number of app connections: the echo server; *direct (no pooler)*, where the "
	     "benchmark itself speaks JSON-RPC over stdio pipes to an mcp-fixture of its own per app "
	     "connection (1 server per app connection, the same 8 calls in flight on each); then "
	     "mcppoold, whose calls from all app connections rotate over N users, that is over N "
	     "pooled connections (N servers) shared by all app connections. *vs echo server* and "
	     "*vs direct* divide the row's calls/s by theirs.\n");
	printf("| app conns × in flight | pooled conns | calls/s: median (min–max) of %u rounds | latency median (µs), "
	       "of the rounds (min–max) | latency p99 (µs), of the rounds (min–max) | CPU/call (µs): daemon or echo server | CPU/call: fixtures "
	       "| CPU/call: load generator | vs echo server | vs direct |\n", rounds);
	puts("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
}

/* Prints the table; returns the number of mcppoold cells within 80 % of the echo server. */
static unsigned print_grid(struct grid *g, unsigned rounds, uint64_t *errors)
{
	unsigned met = 0;
	char pooled[16];

	print_header(rounds);
	for (size_t c = 0; c < NCONNS; c++) {
		struct cell *row = g->cells[c];
		struct baselines base = { cell_rate(&row[CELL_ECHO]), cell_rate(&row[CELL_DIRECT]) };

		print_cell(&row[CELL_ECHO], conns_grid[c], "echo server", &base);
		print_cell(&row[CELL_DIRECT], conns_grid[c],
			   "direct (no pooler), 1 server per app connection", &base);
		*errors += row[CELL_DIRECT].errors;
		for (size_t u = 0; u < NUSERS; u++) {
			struct cell *cell = &row[CELL_DAEMON + u];

			snprintf(pooled, sizeof(pooled), "%u", users_grid[u]);
			print_cell(cell, conns_grid[c], pooled, &base);
			met += cell_rate(cell) >= 0.8 * base.echo;
			*errors += cell->errors;
		}
	}
	return met;
}

/* What share of the echo server's calls/s the direct baseline reaches, row by row. */
static void print_direct_share(struct grid *g)
{
	unsigned below = 0;

	fputs("The direct baseline (this MCP server, no pooler) reaches", stdout);
	for (size_t c = 0; c < NCONNS; c++) {
		double echo = cell_rate(&g->cells[c][CELL_ECHO]);
		double direct = cell_rate(&g->cells[c][CELL_DIRECT]);

		fputs(c ? ", " : " ", stdout);
		print_ratio(direct, echo);
		printf(" (%u × 8)", conns_grid[c]);
		below += !(direct >= 0.8 * echo);
	}
	printf(" of the echo server's calls/s: in %u of %zu rows it is itself below 0.80, that is, "
	       "even with no pooler in between this MCP server does not reach 80 %% of the echo "
	       "server on this machine.\n", below, NCONNS);
}

int section_throughput(const struct bench_opts *o)
{
	static struct grid g;
	mcppool_conn *c;
	uint64_t errors = 0;
	unsigned met;

	if (!o->echo || !o->daemon_pid || !o->echo_pid || !o->fixture || o->rounds > MAX_ROUNDS)
		die("throughput needs --echo, --daemon-pid, --echo-pid, --fixture and at most %d rounds",
		    MAX_ROUNDS);
	c = daemon_connect(o);
	daemon_warm_users(c, o, LOAD_USER_PREFIX, 0, users_grid[NUSERS - 1], 16);
	mcppool_close(c);
	for (unsigned r = 0; r < o->rounds; r++)
		grid_round(&g, o);
	met = print_grid(&g, o->rounds, &errors);
	printf("\nWithin 80 %% of the echo server's calls/s: %u of %zu mcppoold cells. ", met,
	       NCONNS * NUSERS);
	printf("Failed calls: %llu. Each cell: %.1f s after a 0.25 s warm-up, %u worker threads.\n\n",
	       (unsigned long long)errors, o->seconds, o->threads);
	print_direct_share(&g);
	return 0;
}
