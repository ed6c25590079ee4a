/* Section 4: the first call of a new key (spawn + initialize + call) against a call on a warm one. */
#include <stdio.h>
#include <time.h>

#include "bench.h"

#define STEADY_WARMUP 200 /* calls before the steady warm samples of a round */
#define MAX_ROUNDS 16
#define AFTER_SPAWN 10    /* calls on the warm connection after each cold sample */

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

/* One round's samples, added to the run's: its medians and p99 kept per round. */
struct cold_run {
	struct samples cold, warm, after; /* every sample of the run */
	double cold_ms[MAX_ROUNDS], warm_us[MAX_ROUNDS], warm_p99_us[MAX_ROUNDS], ratio[MAX_ROUNDS];
};

/*
 * Round r: n cold samples (each a new user), each followed by the calls on the warm
 * connection that the spawn's work still costs (kept apart: the new server starting,
 * the evicted one exiting), then STEADY_WARMUP calls and o->warm steady samples.
 */
static void cold_round(mcppool_conn *c, const struct bench_opts *o, const char *warm_user,
		       unsigned r, unsigned n, struct cold_run *run)
{
	struct samples cold, warm;
	char user[96];

	samples_init(&cold);
	samples_init(&warm);
	for (unsigned i = 0; i < n; i++) {
		snprintf(user, sizeof(user), "cold-%s-%u-%u", o->mcp, r, i);
		timed_call(c, o, user, &cold);
		retire(c, o, user);
		for (unsigned k = 0; k < AFTER_SPAWN; k++)
			timed_call(c, o, warm_user, &run->after);
	}
	for (unsigned i = 0; i < STEADY_WARMUP; i++)
		daemon_call(c, o, warm_user);
	for (unsigned i = 0; i < o->warm; i++)
		timed_call(c, o, warm_user, &warm);
	run->cold_ms[r] = samples_quantile_us(&cold, 0.5) / 1000.0;
	run->warm_us[r] = samples_quantile_us(&warm, 0.5);
	run->warm_p99_us[r] = samples_quantile_us(&warm, 0.99);
	run->ratio[r] = run->cold_ms[r] * 1000.0 / run->warm_us[r];
	samples_merge(&run->cold, &cold);
	samples_merge(&run->warm, &warm);
	samples_destroy(&cold);
	samples_destroy(&warm);
}

int section_cold(const struct bench_opts *o)
{
	mcppool_conn *c;
	unsigned per_round;
	struct cold_run run;
	char warm_user[96];

	if (o->rounds > MAX_ROUNDS || o->count < o->rounds || !o->warm)
		die("cold needs --rounds of at most %d, --count of at least one per round, --warm of at "
		    "least 1", MAX_ROUNDS);
	c = daemon_connect(o);
	per_round = o->count / o->rounds;
	samples_init(&run.cold);
	samples_init(&run.warm);
	samples_init(&run.after);
	snprintf(warm_user, sizeof(warm_user), "warm-%s", o->mcp);
	for (unsigned i = 0; i < 20; i++)
		daemon_call(c, o, warm_user);
	for (unsigned r = 0; r < o->rounds; r++)
		cold_round(c, o, warm_user, r, per_round, &run);
	printf("| %s | %u × %u | ", o->label, o->rounds, per_round);
	spread_print(run.cold_ms, o->rounds, 1);
	printf(" | %.1f | %u × %u | ", samples_quantile_us(&run.cold, 0.99) / 1000.0, o->rounds, o->warm);
	spread_print(run.warm_us, o->rounds, 1);
	printf(" | ");
	spread_print(run.warm_p99_us, o->rounds, 1);
	printf(" | %.1f / %.1f | ", samples_quantile_us(&run.after, 0.5),
	       samples_quantile_us(&run.after, 0.99));
	spread_print(run.ratio, o->rounds, 0);
	puts(" |");
	retire(c, o, warm_user);
	samples_destroy(&run.cold);
	samples_destroy(&run.warm);
	samples_destroy(&run.after);
	mcppool_close(c);
	return 0;
}
