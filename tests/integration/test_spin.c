/* Integration: polling for fast servers' replies (MCPPOOL_REPLY_SPIN_US) answers everything and sleeps when no reply is due. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "mcppool.h"

TestSuite(spin, .init = it_subreaper, .timeout = 120);

/* The longest window: any spinning past a reply, or for a slow one, would show as CPU. */
static const char *const spin_env[] = { "MCPPOOL_REPLY_SPIN_US=10000", NULL };

/*
 * Over window_ms the daemon sleeps: it is seen in state S, and it uses at most
 * a twentieth of the window's ticks (spinning would use them all).
 */
static void assert_daemon_sleeps(struct itd *d, unsigned window_ms, const char *when)
{
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long before, after;
	char state;

	before = it_cpu_ticks(d->pid, NULL);
	it_sleep_ms(window_ms);
	after = it_cpu_ticks(d->pid, &state);
	cr_assert_eq(state, 'S', "%s: the daemon is in state %c, not sleeping", when, state);
	cr_assert_leq(after - before, (unsigned long long)hz * window_ms / 1000 / 20,
		      "%s: the daemon used %llu ticks (of %ld per second) in %u ms", when,
		      after - before, hz, window_ms);
}

static mcppool_conn *connect_to(struct itd *d)
{
	mcppool_error err;
	mcppool_conn *c = mcppool_connect(d->sock, &err);

	cr_assert_not_null(c, "%s", err.message);
	mcppool_set_timeout(c, 20000);
	return c;
}

Test(spin, a_daemon_polling_for_fast_replies_answers_every_call_then_sleeps)
{
	mcppool_conn *c;
	struct itd d;

	itd_start(&d, NULL, spin_env);
	c = connect_to(&d);
	for (unsigned i = 0; i < 300; i++) {
		char args[64], want[32], *json;
		mcppool_result *res;
		mcppool_error err;

		snprintf(want, sizeof(want), "call-%u", i);
		snprintf(args, sizeof(args), "{\"message\":\"%s\"}", want);
		cr_assert_eq(mcppool_call(c, "alice", "demo", "echo", args, NULL, 0, &res, &err), 0,
			     "call %u: %s: %s", i, mcppool_code_name(err.code), err.message);
		json = mcppool_result_json(res, 0);
		cr_assert(json && strstr(json, want), "call %u answered %s", i, json);
		free(json);
		mcppool_result_free(res);
	}
	/* The connection stays open: only the absence of replies due lets the daemon sleep. */
	assert_daemon_sleeps(&d, 500, "after the calls were answered");
	mcppool_close(c);
	itd_stop(&d);
	it_assert_no_children();
}

static void on_slept(mcppool_conn *c, uint64_t id, const mcppool_result *res,
		     const mcppool_error *err, void *arg)
{
	(void)c;
	(void)id;
	*(int *)arg = res ? 1 : -1;
	if (err)
		fprintf(stderr, "sleep failed: %s: %s\n", mcppool_code_name(err->code), err->message);
}

Test(spin, a_reply_slower_than_the_window_is_waited_for_asleep)
{
	mcppool_conn *c;
	struct itd d;
	int done = 0;

	itd_start(&d, NULL, spin_env);
	c = connect_to(&d);
	cr_assert_eq(mcppool_call(c, "alice", "demo", "echo", "{\"message\":\"warm\"}", NULL, 0, NULL,
				  NULL), 0);
	cr_assert_neq(mcppool_submit_call(c, "alice", "demo", "sleep", "{\"ms\":3000}", NULL, 0,
					  on_slept, &done), 0u);
	cr_assert_eq(mcppool_process(c, 0), 0);
	cr_assert(itd_wait_inflight_total(&d, 1, 5000), "the sleep never reached the server");
	/* Its reply is due, but not within 10 ms: the loop must not poll for it. */
	assert_daemon_sleeps(&d, 1000, "while a slow reply was due");
	while (!done) {
		struct pollfd p = { .fd = mcppool_fd(c), .events = POLLIN };

		cr_assert_gt(poll(&p, 1, 10000), 0, "no reply to the sleep");
		cr_assert_eq(mcppool_process(c, MCPPOOL_READ), 0);
	}
	cr_assert_eq(done, 1);
	mcppool_close(c);
	itd_stop(&d);
	it_assert_no_children();
}
