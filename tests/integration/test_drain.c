/*
 * Integration: stopping by draining. The first SIGTERM/SIGINT closes the
 * listening socket at once, refuses new requests with SHUTTING_DOWN and lets
 * the requests in flight finish (up to MCPPOOL_SHUTDOWN_TIMEOUT); a second
 * signal stops at once. Either way the children are reaped and the exit is 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"

TestSuite(drain, .init = it_subreaper, .timeout = 60);

#define CALLS 3

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static bool wait_log(struct itd *d, const char *needle, unsigned ms)
{
	for (long end = now_ms() + ms; now_ms() < end; it_sleep_ms(10))
		if (itd_log_contains(d, needle))
			return true;
	return itd_log_contains(d, needle);
}

/* Waits (at most ms) for the daemon to exit; returns its exit status, or -1 (killed: -2) if it did not. */
static int wait_exit(struct itd *d, unsigned ms)
{
	int status;

	for (long end = now_ms() + ms; now_ms() < end; it_sleep_ms(10)) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
		}
	}
	return -1;
}

static bool connect_works(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.107s", path);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void start_sleeps(struct itd *d, pid_t *pids, int n, const char *ms)
{
	char args[64];

	snprintf(args, sizeof(args), "{\"ms\": %s}", ms);
	for (int i = 0; i < n; i++)
		pids[i] = itd_ctl_async(d, ARGS("call", "alice", "demo", "sleep", args));
	cr_assert(itd_wait_inflight_total(d, n, 10000), "%ld requests did not get in flight", (long)(n));
}

static void assert_clean_exit(struct itd *d, int rc)
{
	cr_assert_eq(rc, 0, "mcppoold exited with %d; see %s", rc, d->log);
	cr_assert_neq(access(d->sock, F_OK), 0, "the socket file was left behind");
	cr_assert(!itd_log_contains(d, "Sanitizer") && !itd_log_contains(d, "runtime error"),
		  "a sanitizer report; see %s", d->log);
}

Test(drain, sigterm_lets_the_calls_in_flight_finish_and_refuses_new_work)
{
	struct itd d;
	struct wire_msg m;
	msgpack_zone z;
	pid_t pids[CALLS];
	int fd, st, rc;
	long t0;

	msgpack_zone_init(&z, 4096);
	itd_start(&d, NULL, NULL);
	/* A client connected before the signal, idle while it comes. */
	fd = it_raw_connect(&d);
	it_raw_hello(fd, 1);
	cr_assert_eq(it_raw_recv(fd, &z, &m, 5000), 0);
	cr_assert_null(m.error);

	start_sleeps(&d, pids, CALLS, "1000");
	t0 = now_ms();
	cr_assert_eq(kill(d.pid, SIGTERM), 0);
	cr_assert(wait_log(&d, "received SIGTERM: draining", 5000), "no drain in %s", d.log);

	/* No new connections: the socket is closed and its file gone at once. */
	cr_assert_neq(access(d.sock, F_OK), 0, "the socket file is still there while draining");
	cr_assert(!connect_works(d.sock), "a new connection was accepted while draining");

	/* A new request on an existing connection: SHUTTING_DOWN. */
	it_raw_request(fd, 2, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"echo\", "
			       "\"arguments\": {\"message\": \"late\"}}");
	cr_assert_eq(it_raw_recv(fd, &z, &m, 5000), 0, "no answer to a request made while draining");
	cr_assert_eq(m.id, 2);
	cr_assert_eq(m.err_code, ERR_SHUTTING_DOWN, "got %s", errcode_name(m.err_code));

	/* The calls in flight get their results, then the daemon exits 0. */
	for (int i = 0; i < CALLS; i++) {
		json_t *r = itd_ctl_wait(&d, pids[i], &st);
		cr_assert_eq(st, 0, "a call in flight failed: %s", it_error_code(r));
		cr_assert_str_eq(it_text(r), "slept 1000");
		json_decref(r);
	}
	rc = wait_exit(&d, 10000);
	assert_clean_exit(&d, rc);
	cr_assert_lt(now_ms() - t0, 8000, "the drain took %ld ms", now_ms() - t0);
	cr_assert(itd_log_contains(&d, "drained: no request left in flight"), "see %s", d.log);
	close(fd);
	msgpack_zone_destroy(&z);
	it_assert_no_children();
}

Test(drain, sigint_drains_like_sigterm)
{
	struct itd d;
	pid_t pid;
	int st, rc;

	itd_start(&d, NULL, NULL);
	start_sleeps(&d, &pid, 1, "800");
	cr_assert_eq(kill(d.pid, SIGINT), 0);
	json_t *r = itd_ctl_wait(&d, pid, &st);
	cr_assert_eq(st, 0, "the call in flight failed: %s", it_error_code(r));
	cr_assert_str_eq(it_text(r), "slept 800");
	json_decref(r);
	rc = wait_exit(&d, 10000);
	assert_clean_exit(&d, rc);
	cr_assert(itd_log_contains(&d, "received SIGINT: draining"), "see %s", d.log);
	it_assert_no_children();
}

Test(drain, shutdown_timeout_ends_what_is_left_with_shutting_down)
{
	struct itd d;
	pid_t pid;
	int st, rc;
	long t0, took;

	itd_start(&d, NULL, ARGS("MCPPOOL_SHUTDOWN_TIMEOUT=300"));
	start_sleeps(&d, &pid, 1, "5000");
	t0 = now_ms();
	cr_assert_eq(kill(d.pid, SIGTERM), 0);
	rc = wait_exit(&d, 10000);
	took = now_ms() - t0;
	assert_clean_exit(&d, rc);
	cr_assert_geq(took, 250, "the daemon stopped after %ld ms, before its 300 ms drain", took);
	cr_assert_lt(took, 3000, "the daemon took %ld ms past a 300 ms drain", took);
	json_t *r = itd_ctl_wait(&d, pid, &st);
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "SHUTTING_DOWN");
	json_decref(r);
	cr_assert(itd_log_contains(&d, "300 ms (MCPPOOL_SHUTDOWN_TIMEOUT) passed"), "see %s", d.log);
	it_assert_no_children();
}

Test(drain, a_second_sigterm_during_the_drain_stops_at_once)
{
	struct itd d;
	pid_t pids[CALLS];
	int st, rc;
	long t0;

	itd_start(&d, NULL, NULL);
	start_sleeps(&d, pids, CALLS, "30000");
	cr_assert_eq(kill(d.pid, SIGTERM), 0);
	cr_assert(wait_log(&d, "received SIGTERM: draining", 5000), "no drain in %s", d.log);
	t0 = now_ms();
	cr_assert_eq(kill(d.pid, SIGTERM), 0);
	rc = wait_exit(&d, 10000);
	assert_clean_exit(&d, rc);
	cr_assert_lt(now_ms() - t0, 5000, "the second SIGTERM took %ld ms", now_ms() - t0);
	for (int i = 0; i < CALLS; i++) {
		json_t *r = itd_ctl_wait(&d, pids[i], &st);
		cr_assert_eq(st, 1);
		cr_assert_str_eq(it_error_code(r), "SHUTTING_DOWN");
		json_decref(r);
	}
	cr_assert(itd_log_contains(&d, "received SIGTERM again: stopping at once"), "see %s", d.log);
	it_assert_no_children();
}

/* A signal while the children are being closed (after the loop): logged, and the exit is still clean. */
Test(drain, a_signal_while_closing_the_servers_does_not_kill_the_daemon)
{
	struct itd d;
	pid_t pid;
	int st, rc;

	itd_start(&d, NULL, ARGS("MCPPOOL_KILL_TIMEOUT=2000"));
	/* The server started first, so that the hang reaches it before its stdin closes. */
	json_decref(itd_ctl_json(&d, &st, ARGS("call", "alice", "demo", "echo",
						 "{\"message\": \"up\"}")));
	cr_assert_eq(st, 0);
	/* A server hung for 20 s: it ignores its stdin closing, so closing it takes the 2 s grace. */
	pid = itd_ctl_async(&d, ARGS("call", "alice", "demo", "hang", "{\"ms\": 20000}"));
	cr_assert(itd_wait_inflight_total(&d, 1, 10000), "%ld requests did not get in flight", (long)(1));
	cr_assert_eq(kill(d.pid, SIGQUIT), 0);
	cr_assert(wait_log(&d, "closed: mcppoold is shutting down", 5000), "see %s", d.log);
	cr_assert_eq(kill(d.pid, SIGTERM), 0);
	cr_assert(wait_log(&d, "received SIGTERM: already stopping", 5000), "see %s", d.log);
	rc = wait_exit(&d, 15000);
	assert_clean_exit(&d, rc);
	json_decref(itd_ctl_wait(&d, pid, &st));
	it_assert_no_children();
}

Test(drain, a_bad_shutdown_timeout_is_refused_with_exit_78)
{
	static const char *const bad[] = { "0", "abc", "-5", "" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct itd d;
		char env[64];

		snprintf(env, sizeof(env), "MCPPOOL_SHUTDOWN_TIMEOUT=%s", bad[i]);
		int rc = itd_run_to_exit(&d, FIXTURE_CATALOG(""), ARGS(env), NULL);
		cr_assert_eq(rc, 78, "MCPPOOL_SHUTDOWN_TIMEOUT=\"%s\": exit %d", bad[i], rc);
		cr_assert(itd_log_contains(&d, "MCPPOOL_SHUTDOWN_TIMEOUT"),
			  "the error does not name the variable; see %s", d.log);
	}
}

/* The socket file goes when draining starts: a new daemon starts on the path and keeps it. */
Test(drain, a_new_daemon_starts_on_the_path_while_the_old_one_drains)
{
	struct itd old, new;
	pid_t pid;
	int st, rc;

	itd_start(&old, NULL, NULL);
	start_sleeps(&old, &pid, 1, "1500");
	cr_assert_eq(kill(old.pid, SIGTERM), 0);
	cr_assert(wait_log(&old, "received SIGTERM: draining", 5000), "no drain in %s", old.log);
	itd_start_sock(&new, NULL, NULL, old.sock);
	/* The old daemon finishes its call and exits, leaving the new one's socket alone. */
	json_t *r = itd_ctl_wait(&old, pid, &st);
	cr_assert_eq(st, 0, "the call in flight failed: %s", it_error_code(r));
	json_decref(r);
	rc = wait_exit(&old, 10000);
	cr_assert_eq(rc, 0, "the old daemon exited with %d; see %s", rc, old.log);
	cr_assert_eq(access(old.sock, F_OK), 0, "the old daemon removed the new one's socket");
	r = itd_ctl_json(&new, &st, ARGS("call", "alice", "demo", "echo", "{\"message\": \"new\"}"));
	cr_assert_eq(st, 0);
	cr_assert_str_eq(it_text(r), "new");
	json_decref(r);
	itd_stop(&new);
	it_assert_no_children();
}
