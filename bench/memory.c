/* Section 6: the daemon's resident memory with 0, 100 and --count pooled connections. */
#include <stdio.h>

#include "bench.h"

static void print_row(unsigned n, uint64_t rss, uint64_t rss0)
{
	printf("| %u | %llu | ", n, (unsigned long long)(rss / 1024));
	if (n)
		printf("%.0f", ((double)rss - (double)rss0) / n);
	else
		fputs("—", stdout);
	puts(" |");
}

int section_memory(const struct bench_opts *o)
{
	const unsigned steps[] = { 0, o->count / 10, o->count };
	mcppool_conn *c;
	uint64_t rss0 = 0;
	uint64_t t0;

	if (!o->daemon_pid || o->count < 10)
		die("memory needs --daemon-pid and --count of at least 10");
	c = daemon_connect(o);
	/* The hello goes out with the first request: one that opens no connection. */
	if (mcppool_servers(c, NULL, NULL) < 0)
		die("servers: the daemon does not answer");
	puts("| pooled connections | daemon RSS (KiB) | bytes per connection (above 0) |");
	puts("|---:|---:|---:|");
	t0 = now_ns();
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		uint64_t rss;

		if (i)
			daemon_warm_users(c, o, "mem-", steps[i - 1], steps[i], 64);
		rss = proc_rss_bytes(o->daemon_pid);
		if (!i)
			rss0 = rss;
		print_row(steps[i], rss, rss0);
	}
	printf("\n%u fixture servers started in %.1f s (`warm`, 64 in flight).\n", o->count,
	       (double)(now_ns() - t0) / 1e9);
	mcppool_close(c);
	return 0;
}
