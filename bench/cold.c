/* Section 4: the first call of a new key (spawn + initialize + call) against a call on a warm one. */
#include <stdio.h>
#include <time.h>

#include "bench.h"

#define STEADY_WARMUP 200 /* calls before the steady warm samples */

/* The pid of user's live connection, from `warm` (which finds it, being reused). */
static pid_t connection_pid(mcppool_conn *c, const struct bench_opts *o, const char *user)
{
	mcppool_result *res;
	mcppool_error err;
	const msgpack_object *pid;
	pid_t out;

	if (mcppool_warm(c, user, o->mcp, NULL, 0, &res, &err) < 0)
		die("warm %s: %s", user, err.message);
	pid = mcppool_map_get(mcppool_result_value(res), "pid");
	if (!pid || pid->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		die("warm %s: no pid in the result", user);
	out = (pid_t)pid->via.u64;
	mcppool_result_free(res);
	return out;
}

/* Evicts user and waits (at most 10 s) for its server to be gone, so that it costs the next sample nothing. */
static void retire(mcppool_conn *c, const struct bench_opts *o, const char *user)
{
	struct timespec tick = { .tv_nsec = 5 * 1000 * 1000 };
	pid_t pid = connection_pid(c, o, user);
	mcppool_error err;

	if (mcppool_evict(c, user, o->mcp, NULL, &err) < 0)
		die("evict %s: %s", user, err.message);
	for (int i = 0; i < 2000 && proc_alive(pid); i++)
		nanosleep(&tick, NULL);
}

static void timed_call(mcppool_conn *c, const struct bench_opts *o, const char *user,
		       struct samples *into)
{
	uint64_t t0 = now_ns();

	daemon_call(c, o, user);
	samples_add(into, now_ns() - t0);
}

int section_cold(const struct bench_opts *o)
{
	mcppool_conn *c;
	unsigned warm_each;
	struct samples cold, warm, after;
	char user[96], warm_user[96];
	double cold_med;

	if (!o->count || !o->warm)
		die("cold needs --count and --warm of at least 1");
	c = daemon_connect(o);
	warm_each = (o->warm + o->count - 1) / o->count;
	samples_init(&cold);
	samples_init(&warm);
	samples_init(&after);
	snprintf(warm_user, sizeof(warm_user), "warm-%s", o->mcp);
	for (unsigned i = 0; i < 20; i++)
		daemon_call(c, o, warm_user);
	/*
	 * Each cold sample is a new user. The calls on a warm connection right after
	 * each spawn are kept apart from the steady ones: the spawn's work (the new
	 * server starting, the evicted one exiting) is still going on and costs them.
	 */
	for (unsigned i = 0; i < o->count; i++) {
		snprintf(user, sizeof(user), "cold-%s-%u", o->mcp, i);
		timed_call(c, o, user, &cold);
		retire(c, o, user);
		for (unsigned k = 0; k < warm_each; k++)
			timed_call(c, o, warm_user, &after);
	}
	for (unsigned i = 0; i < STEADY_WARMUP; i++)
		daemon_call(c, o, warm_user);
	for (unsigned i = 0; i < o->warm * 5; i++)
		timed_call(c, o, warm_user, &warm);
	cold_med = samples_quantile_us(&cold, 0.5);
	printf("| %s | %zu | %.1f | %.1f | %zu | %.1f | %.1f | %.1f / %.1f | %.0f |\n", o->label,
	       cold.n, cold_med / 1000.0, samples_quantile_us(&cold, 0.99) / 1000.0, warm.n,
	       samples_quantile_us(&warm, 0.5), samples_quantile_us(&warm, 0.99),
	       samples_quantile_us(&after, 0.5), samples_quantile_us(&after, 0.99),
	       cold_med / samples_quantile_us(&warm, 0.5));
	retire(c, o, warm_user);
	samples_destroy(&cold);
	samples_destroy(&warm);
	samples_destroy(&after);
	mcppool_close(c);
	return 0;
}
