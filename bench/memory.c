/* Section 6: scale: the daemon and its servers at 0 to --count pooled connections. */
#include <stdio.h>

#include "bench.h"

#define STATUS_SAMPLES 5
#define CALL_WARMUP 100
#define CALL_SAMPLES 1000
#define COLD_SAMPLES 5

/* The time of one pool-status (the whole pool walked and sent), in µs. */
static double pool_status_us(mcppool_conn *c)
{
	mcppool_result *res;
	mcppool_error err;
	uint64_t t0 = now_ns();

	if (mcppool_pool_status(c, &res, &err) < 0)
		die("pool-status: %s", err.message);
	t0 = now_ns() - t0;
	mcppool_result_free(res);
	return (double)t0 / 1000.0;
}

/*
 * The time (ms) of a new connection (spawn + initialize) with n already pooled,
 * median of COLD_SAMPLES; each is evicted again so that the pool keeps n.
 */
static double cold_ms(mcppool_conn *c, const struct bench_opts *o, unsigned n)
{
	double ms[COLD_SAMPLES];
	mcppool_result *res;
	mcppool_error err;
	char user[64];

	for (int i = 0; i < COLD_SAMPLES; i++) {
		uint64_t t0 = now_ns();

		snprintf(user, sizeof(user), "scale-cold-%u-%d", n, i);
		if (mcppool_warm(c, user, o->mcp, NULL, 0, &res, &err) < 0)
			die("warm %s: %s", user, err.message);
		ms[i] = (double)(now_ns() - t0) / 1e6;
		mcppool_result_free(res);
		if (mcppool_evict(c, user, o->mcp, NULL, &err) < 0)
			die("evict %s: %s", user, err.message);
	}
	return median(ms, COLD_SAMPLES);
}

/* One row: memory, pool-status time and warm-call latency on the first user's connection. */
static void print_row(mcppool_conn *c, const struct bench_opts *o, unsigned n, uint64_t pss0)
{
	double status[STATUS_SAMPLES], m;
	uint64_t rss = proc_rss_bytes(o->daemon_pid), pss = proc_pss_bytes(o->daemon_pid);
	unsigned nservers;
	uint64_t servers = proc_children_pss_bytes(o->daemon_pid, &nservers);
	struct samples lat;

	for (int i = 0; i < STATUS_SAMPLES; i++)
		status[i] = pool_status_us(c);
	m = median(status, STATUS_SAMPLES);
	samples_init(&lat);
	if (n) {
		for (int i = 0; i < CALL_WARMUP; i++)
			daemon_call(c, o, "mem-0");
		for (int i = 0; i < CALL_SAMPLES; i++) {
			uint64_t t0 = now_ns();

			daemon_call(c, o, "mem-0");
			samples_add(&lat, now_ns() - t0);
		}
	}
	printf("| %u | %s | %u | %.1f | %.1f | ", n, o->label, nservers, (double)rss / 1048576.0,
	       (double)pss / 1048576.0);
	if (n)
		printf("%.0f | %.1f | %.0f | ", ((double)pss - (double)pss0) / n,
		       (double)servers / 1048576.0, (double)servers / nservers / 1024.0);
	else
		fputs("— | 0 | — | ", stdout);
	printf("%.0f (%.0f–%.0f) | ", m, status[0], status[STATUS_SAMPLES - 1]);
	if (n)
		printf("%.1f / %.1f | ", samples_quantile_us(&lat, 0.5), samples_quantile_us(&lat, 0.99));
	else
		fputs("— | ", stdout);
	printf("%.1f |\n", cold_ms(c, o, n));
	fflush(stdout);
	samples_destroy(&lat);
}

int section_memory(const struct bench_opts *o)
{
	const unsigned sizes[] = { 0, 100, 1000, 5000, 10000, 20000, 50000 };
	mcppool_conn *c;
	uint64_t pss0, t0, warm_ns = 0;
	unsigned done = 0;

	if (!o->daemon_pid || !o->count)
		die("memory needs --daemon-pid and --count of at least 1");
	c = daemon_connect(o);
	/* The hello goes out with the first request: one that opens no connection. */
	if (mcppool_servers(c, NULL, NULL) < 0)
		die("servers: the daemon does not answer");
	pss0 = proc_pss_bytes(o->daemon_pid);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && done < o->count; i++) {
		unsigned n = sizes[i] < o->count ? sizes[i] : o->count;

		if (n < done)
			continue;
		t0 = now_ns();
		daemon_warm_users(c, o, "mem-", done, n, 64);
		warm_ns += now_ns() - t0;
		done = n;
		if (n >= o->from)
			print_row(c, o, n, pss0);
		if (n == o->count)
			break;
	}
	fprintf(stderr, "bench: %u fixture servers started in %.1f s (`warm`, 64 in flight)\n", done,
		(double)warm_ns / 1e9);
	mcppool_close(c);
	return 0;
}
