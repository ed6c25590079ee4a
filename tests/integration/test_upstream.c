/* Integration: the middle layer's faults: frees, timers, bounded queues and deadlines. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(upstream, .init = it_subreaper, .timeout = 60);

static long pid_of(struct itd *d, const char *mcp)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("call", "alice", mcp, "pid"));
	cr_assert_eq(st, 0, "pid call failed");
	long pid = atol(it_text(r));
	json_decref(r);
	return pid;
}

/* The value of a metric line "name value" (labels included in name), -1 when absent. */
static long long metric(struct itd *d, const char *name)
{
	char *m = NULL, needle[256], *p;
	long long v = -1;

	itd_ctl(d, &m, NULL, ARGS("metrics"));
	snprintf(needle, sizeof(needle), "\n%s ", name);
	if (m && (p = strstr(m, needle)))
		v = atoll(p + strlen(needle));
	free(m);
	return v;
}

/* Polls metric name until it reaches at least want; false after ms. */
static __attribute__((unused)) bool metric_reaches(struct itd *d, const char *name, long long want, unsigned ms)
{
	for (unsigned waited = 0; waited < ms; waited += 50) {
		if (metric(d, name) >= want)
			return true;
		it_sleep_ms(50);
	}
	return false;
}

/* Reads one frame on fd; asserts it is a reply. */
static void raw_expect_reply(int fd, msgpack_zone *z, uint64_t id)
{
	struct wire_msg m;

	cr_assert_eq(it_raw_recv(fd, z, &m, 5000), 0, "no reply to %llu", (unsigned long long)id);
	cr_assert_eq(m.type, WIRE_REPLY);
	cr_assert_eq(m.id, id);
}

/*
 * A reply for a client that has just hung up, and SIGTERM, handled in one loop
 * iteration: the reply must not arm a watcher of the closed session, and the
 * session's free must stop its watchers, or the shutdown's loop runs a freed
 * session's callback. The daemon is stopped (SIGSTOP) while the three events
 * pile up, so that one iteration sees them all: the server's answer first, the
 * hang-up next, the signal last (libev runs a batch's callbacks last-in first).
 */
Test(upstream, a_reply_to_a_closed_client_and_sigterm_in_one_iteration_are_safe)
{
	msgpack_zone z;
	struct itd d;
	int fd;

	msgpack_zone_init(&z, 4096);
	itd_start(&d, NULL, NULL);
	pid_of(&d, "demo"); /* the server runs */
	pid_t hang = itd_ctl_async(&d, ARGS("call", "alice", "demo", "hang", "{\"ms\":1500}"));
	fd = it_raw_connect(&d);
	it_raw_hello(fd, 1);
	raw_expect_reply(fd, &z, 1);
	it_sleep_ms(300); /* the hang call reached the server: the next ping waits behind it */
	it_raw_request(fd, 2, "warm", "{\"user\": \"alice\", \"mcp\": \"demo\"}");
	it_sleep_ms(300); /* the ping was written to the server's stdin */
	kill(d.pid, SIGSTOP);
	it_sleep_ms(1700); /* the hang ends: the server answers the call and the ping */
	close(fd);
	it_sleep_ms(100);
	kill(d.pid, SIGTERM);
	kill(d.pid, SIGCONT);
	itd_stop(&d);
	cr_assert_eq(d.exit_status, 0, "the daemon exited with %d", d.exit_status);
	cr_assert_not(itd_log_contains(&d, "Sanitizer"), "see %s", d.log);
	int st;
	json_decref(itd_ctl_wait(&d, hang, &st));
	msgpack_zone_destroy(&z);
	it_assert_no_children();
}
