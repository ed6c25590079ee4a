/* Tests of the stdio transport: spawning, line cutting, exit reasons, shutdown, no leaks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <ev.h>

#include "daemon.h"
#include "stdiochild.h"

#define MAX_LINES 4096

/* What the callbacks of one child saw. */
struct rec {
	struct stdio_child *child;
	pid_t pid; /* kept: the handle is gone once closed and reaped */
	char *lines[MAX_LINES];
	size_t nlines;
	size_t line_bytes;
	bool closed;
	char reason[256];
	bool lines_after_close;
	bool close_on_line; /* stdio_close() from inside on_line */
	bool close_called;
};

static char *test_env[] = { "PATH=/usr/bin:/bin", NULL };

static void on_line(void *ctx, char *line, size_t len)
{
	struct rec *r = ctx;

	cr_assert_eq(strlen(line), len, "line must be NUL-terminated at len");
	if (r->closed)
		r->lines_after_close = true;
	if (r->nlines < MAX_LINES)
		r->lines[r->nlines++] = strdup(line);
	r->line_bytes += len;
	if (r->close_on_line) {
		stdio_close(r->child);
		r->close_called = true;
	}
}

static void on_closed(void *ctx, const char *reason)
{
	struct rec *r = ctx;

	cr_assert_not(r->closed, "on_closed must be called at most once");
	r->closed = true;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

static const struct stdio_callbacks rec_cb = { .on_line = on_line, .on_closed = on_closed };

static void rec_free(struct rec *r)
{
	for (size_t i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	r->nlines = 0;
}

/* Closed handles are freed by a daemon's deferred-free queue: the tests have one. */
static struct daemon test_d;

static struct daemon *test_daemon(void)
{
	if (!test_d.loop) {
		test_d.loop = EV_DEFAULT;
		daemon_frees_init(&test_d);
	}
	return &test_d;
}

static struct stdio_options opts(size_t max_line, uint64_t kill_ms)
{
	struct stdio_options o = { .d = test_daemon(), .max_line = max_line, .kill_timeout_ms = kill_ms,
				   .log_tag = "test:stdio", .stderr_lines_per_sec = 20 };
	return o;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void timed_out(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	*(bool *)w->data = true;
}

/* Runs the default loop until cond(arg) holds or seconds pass; returns cond's final value. */
static bool run_until(bool (*cond)(void *), void *arg, double seconds)
{
	struct ev_loop *loop = EV_DEFAULT;
	bool expired = false;
	ev_timer t;

	ev_timer_init(&t, timed_out, seconds, 0.);
	t.data = &expired;
	ev_timer_start(loop, &t);
	while (!cond(arg) && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
	return cond(arg);
}

static bool is_closed(void *arg)
{
	return ((struct rec *)arg)->closed;
}

static bool all_reaped(void *arg)
{
	(void)arg;
	return stdio_live_children() == 0;
}

static size_t want_lines;
static bool has_lines(void *arg)
{
	return ((struct rec *)arg)->nlines >= want_lines;
}

static bool wait_lines(struct rec *r, size_t n, double seconds)
{
	want_lines = n;
	return run_until(has_lines, r, seconds);
}

static double now(void)
{
	ev_now_update(EV_DEFAULT);
	return ev_now(EV_DEFAULT);
}

static void assert_reaped(pid_t pid)
{
	int status;

	cr_assert_eq(waitpid(pid, &status, WNOHANG), -1, "pid %ld was not reaped", (long)pid);
	cr_assert_eq(errno, ECHILD);
}

static struct stdio_child *spawn_argv(char *const argv[], struct rec *r,
				      const struct stdio_options *o)
{
	char err[256] = "";
	struct stdio_child *c = stdio_spawn(EV_DEFAULT, argv, test_env, NULL, o, &rec_cb, r,
					    err, sizeof(err));

	cr_assert_not_null(c, "spawn failed: %s", err);
	r->child = c;
	r->pid = stdio_pid(c);
	return c;
}

static struct stdio_child *spawn_sh(const char *script, struct rec *r,
				    const struct stdio_options *o)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };

	return spawn_argv(argv, r, o);
}

/* Closes the child, runs the loop until it is reaped, and checks nothing is left. */
static void close_and_check(struct rec *r, int fds_before)
{
	pid_t pid = r->pid;

	if (!r->close_called)
		stdio_close(r->child);
	r->close_called = true;
	cr_assert(run_until(all_reaped, NULL, 10.0), "child not reaped");
	assert_reaped(pid);
	cr_assert_eq(count_fds(), fds_before, "descriptors leaked");
	rec_free(r);
}

/*
 * As a subreaper the test inherits the grandchildren it orphans, and libev
 * reaps them: no zombie is left under a container's init that does not reap.
 */
static int setup(void)
{
	char err[256];

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	ev_default_loop(0);
	cr_assert_eq(stdio_reserve(err, sizeof(err)), 0, "%s", err);
	return count_fds();
}

/* Two lines through cat, which exits on stdin's EOF when closed: no signal needed. */
static void assert_cat_round_trip(enum stdio_io io)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char *argv[] = { "cat", NULL };

	o.io = io;
	spawn_argv(argv, &r, &o);
	cr_assert_eq(stdio_write(r.child, "hello\nworld\n", 12), 0);
	cr_assert(wait_lines(&r, 2, 10.0));
	cr_assert_str_eq(r.lines[0], "hello");
	cr_assert_str_eq(r.lines[1], "world");
	cr_assert_not(r.closed);
	double start = now();
	close_and_check(&r, fds);
	cr_assert_lt(now() - start, 1.5, "cat did not read EOF: it waited for SIGTERM");
}

Test(stdio, lines_round_trip_through_cat)
{
	assert_cat_round_trip(STDIO_IO_PIPES);
}

Test(stdio, lines_round_trip_through_cat_on_one_socket)
{
	assert_cat_round_trip(STDIO_IO_SOCKET);
}

Test(stdio, a_line_split_across_writes_is_delivered_once_whole)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char *argv[] = { "/bin/cat", NULL };

	spawn_argv(argv, &r, &o);
	stdio_write(r.child, "ab", 2);
	cr_assert_not(wait_lines(&r, 1, 0.2), "a partial line must not be delivered");
	stdio_write(r.child, "c\nde", 4);
	cr_assert(wait_lines(&r, 1, 10.0));
	stdio_write(r.child, "f\n", 2);
	cr_assert(wait_lines(&r, 2, 10.0));
	cr_assert_eq(r.nlines, 2);
	cr_assert_str_eq(r.lines[0], "abc");
	cr_assert_str_eq(r.lines[1], "def");
	close_and_check(&r, fds);
}

Test(stdio, crlf_is_stripped_and_empty_lines_are_skipped)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);

	spawn_sh("printf 'one\\r\\n\\r\\n\\ntwo\\r\\n'; exit 0", &r, &o);
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert_eq(r.nlines, 2);
	cr_assert_str_eq(r.lines[0], "one");
	cr_assert_str_eq(r.lines[1], "two");
	close_and_check(&r, fds);
}

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 2);

	memset(s, ch, n);
	s[n] = '\n';
	s[n + 1] = '\0';
	return s;
}

Test(stdio, a_line_of_exactly_max_line_bytes_is_delivered)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char *argv[] = { "cat", NULL };
	char *line = repeat('x', 1024);

	spawn_argv(argv, &r, &o);
	stdio_write(r.child, line, 1025);
	stdio_write(r.child, "after\n", 6);
	cr_assert(wait_lines(&r, 2, 10.0));
	cr_assert_eq(strlen(r.lines[0]), 1024);
	cr_assert_str_eq(r.lines[1], "after");
	cr_assert_not(r.closed);
	free(line);
	close_and_check(&r, fds);
}

Test(stdio, a_line_longer_than_max_line_closes_after_the_lines_before_it)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char *argv[] = { "cat", NULL };
	char *line = repeat('x', 1025);

	spawn_argv(argv, &r, &o);
	stdio_write(r.child, "before\n", 7);
	stdio_write(r.child, line, 1026);
	stdio_write(r.child, "after\n", 6);
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert_str_eq(r.reason, "line exceeds 1024 bytes");
	cr_assert(wait_lines(&r, 2, 0.3) == false, "no line may follow on_closed");
	cr_assert_eq(r.nlines, 1);
	cr_assert_str_eq(r.lines[0], "before");
	free(line);
	close_and_check(&r, fds);
}

Test(stdio, exec_of_a_missing_command_fails_synchronously_with_the_reason)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char *argv[] = { "nope-no-such-command", NULL };
	char err[256] = "";

	cr_assert_null(stdio_spawn(EV_DEFAULT, argv, test_env, NULL, &o, &rec_cb, &r, err,
				   sizeof(err)));
	cr_assert_str_eq(err, "cannot execute \"nope-no-such-command\": No such file or directory");
	cr_assert_eq(stdio_live_children(), 0);
	cr_assert_eq(count_fds(), fds);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "the failed child must be reaped");
}

Test(stdio, a_missing_working_directory_fails_synchronously_with_the_reason)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char *argv[] = { "cat", NULL };
	char err[256] = "";

	cr_assert_null(stdio_spawn(EV_DEFAULT, argv, test_env, "/nonexistent/dir", &o, &rec_cb,
				   &r, err, sizeof(err)));
	cr_assert(strstr(err, "/nonexistent/dir") && strstr(err, "No such file"), "%s", err);
	cr_assert_eq(stdio_live_children(), 0);
	cr_assert_eq(count_fds(), fds);
}

Test(stdio, the_exit_status_is_reported_after_the_last_lines)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);

	spawn_sh("echo first; echo last; exit 3", &r, &o);
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert(strstr(r.reason, "exited with status 3"), "reason: %s", r.reason);
	cr_assert_eq(r.nlines, 2);
	cr_assert_str_eq(r.lines[1], "last");
	cr_assert_not(r.lines_after_close);
	close_and_check(&r, fds);
}

Test(stdio, a_child_killed_by_a_signal_is_reported_with_the_signal)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);

	spawn_sh("kill -9 $$", &r, &o);
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert(strstr(r.reason, "killed by signal 9"), "reason: %s", r.reason);
	close_and_check(&r, fds);
}

/* With pipes, closing fd 1 ends its stdout at once: the child is still running when told. */
Test(stdio, a_child_closing_its_stdout_while_running_is_reported_and_then_terminated)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 200);

	spawn_sh("echo bye; exec >&-; sleep 30", &r, &o);
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert_str_eq(r.reason, "closed its stdout");
	cr_assert_eq(r.nlines, 1);
	cr_assert_eq(stdio_live_children(), 1, "the child is still running");
	close_and_check(&r, fds);
}

/* On one socket that is also its stdin, closing fd 1 ends nothing: shutdown() does. */
Test(stdio, on_one_socket_a_child_shutting_its_stdout_while_running_is_reported)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 200);

	o.io = STDIO_IO_SOCKET;
	spawn_sh("echo bye; exec python3 -c 'import socket, time; "
		 "socket.socket(fileno=1).shutdown(socket.SHUT_WR); time.sleep(30)'", &r, &o);
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert_str_eq(r.reason, "closed its stdout");
	cr_assert_eq(r.nlines, 1);
	cr_assert_eq(stdio_live_children(), 1, "the child is still running");
	close_and_check(&r, fds);
}

static void assert_exit_with_input_unread(enum stdio_io io)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);

	o.io = io;
	spawn_sh("sleep 0.3; exit 3", &r, &o);
	cr_assert_eq(stdio_write(r.child, "unread\n", 7), 0);
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert(strstr(r.reason, "exited with status 3"), "reason: %s", r.reason);
	close_and_check(&r, fds);
}

Test(stdio, a_child_that_exits_with_input_unread_is_reported_with_its_status)
{
	assert_exit_with_input_unread(STDIO_IO_PIPES);
}

/* On a socket, input left unread at exit resets the connection: still its exit, not an error. */
Test(stdio, on_one_socket_a_child_that_exits_with_input_unread_is_reported_with_its_status)
{
	assert_exit_with_input_unread(STDIO_IO_SOCKET);
}

Test(stdio, a_child_that_exits_when_stdin_closes_is_reaped_without_signals)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 5000);
	char *argv[] = { "cat", NULL };

	spawn_argv(argv, &r, &o);
	double start = now();
	close_and_check(&r, fds);
	cr_assert_lt(now() - start, 2.5, "reaping waited for the SIGTERM grace period");
	cr_assert_not(r.closed, "no callback after stdio_close");
}

Test(stdio, a_child_ignoring_sigterm_is_killed_after_two_grace_periods)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 200);

	spawn_sh("trap '' TERM; echo ready; while :; do sleep 0.05; done", &r, &o);
	cr_assert(wait_lines(&r, 1, 10.0));
	double start = now();
	close_and_check(&r, fds);
	double took = now() - start;
	cr_assert_geq(took, 0.39, "killed after %.3f s, before two grace periods", took);
	cr_assert_lt(took, 3.0, "killed after %.3f s", took);
}

/*
 * The flood is running before "started" is written and stops only once the
 * test has seen it: stdout is served while stderr is busy.
 */
Test(stdio, a_child_flooding_stderr_does_not_starve_stdout)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 200);

	o.stderr_lines_per_sec = 2;
	spawn_sh("yes flood >&2 & sleep 0.5; echo started; read x; kill $!; wait; echo done",
		 &r, &o);
	cr_assert(wait_lines(&r, 1, 10.0), "stdout starved by the stderr flood");
	cr_assert_str_eq(r.lines[0], "started");
	cr_assert_eq(stdio_write(r.child, "go\n", 3), 0);
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert_eq(r.nlines, 2);
	cr_assert_str_eq(r.lines[1], "done");
	cr_assert(strstr(r.reason, "status 0"), "reason: %s", r.reason);
	close_and_check(&r, fds);
}

Test(stdio, the_child_gets_exactly_the_given_environment)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char *argv[] = { "env", NULL };
	char *envp[] = { "PATH=/usr/bin:/bin", "MCP_TOKEN=s3cret value", NULL };
	char err[256];

	setenv("LEAKED_FROM_PARENT", "1", 1);
	r.child = stdio_spawn(EV_DEFAULT, argv, envp, NULL, &o, &rec_cb, &r, err, sizeof(err));
	cr_assert_not_null(r.child, "%s", err);
	r.pid = stdio_pid(r.child);
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert_eq(r.nlines, 2);
	cr_assert_str_eq(r.lines[0], "PATH=/usr/bin:/bin");
	cr_assert_str_eq(r.lines[1], "MCP_TOKEN=s3cret value");
	close_and_check(&r, fds);
}

Test(stdio, the_child_leads_its_own_process_group)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);

	spawn_sh("echo up; read x", &r, &o);
	cr_assert(wait_lines(&r, 1, 10.0));
	pid_t pid = stdio_pid(r.child);
	cr_assert_eq(getpgid(pid), pid);
	cr_assert_neq(getpgid(pid), getpgrp());
	close_and_check(&r, fds);
}

Test(stdio, the_child_starts_with_default_signals_and_no_extra_descriptors)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	int extra = open("/dev/null", O_RDONLY); /* not CLOEXEC: must still not leak */

	spawn_sh("grep -E '^(SigIgn|SigBlk)' /proc/self/status | tr -d '\\t'; ls /proc/self/fd",
		 &r, &o);
	cr_assert(run_until(is_closed, &r, 10.0));
	close(extra);
	cr_assert_geq(r.nlines, 3);
	cr_assert_str_eq(r.lines[0], "SigBlk:0000000000000000");
	/*
	 * Signals 32 and 33 are glibc's own (SIGCANCEL, SIGSETXID): sigaction()
	 * refuses them, so an ignore inherited from our parent (make does that)
	 * cannot be undone and is not ours to check.
	 */
	cr_assert(strncmp(r.lines[1], "SigIgn:", 7) == 0);
	unsigned long long ign = strtoull(r.lines[1] + 7, NULL, 16);
	cr_assert_eq(ign & ~0x180000000ull, 0, "%s", r.lines[1]);
	/* grep's own 0, 1, 2 and the directory ls reads: nothing else. */
	for (size_t i = 2; i < r.nlines; i++)
		cr_assert(atoi(r.lines[i]) <= 3, "descriptor %s leaked into the child", r.lines[i]);
	close_and_check(&r, fds);
}

/* Gone or a zombie: init may not reap the grandchildren it inherits in a container. */
static bool process_dead(void *arg)
{
	char path[64], stat[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)*(pid_t *)arg);
	f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	char *end = strrchr(stat, ')');
	return end && (end[2] == 'Z' || end[2] == 'X');
}

Test(stdio, a_grandchild_holding_stdout_does_not_delay_the_exit_report)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);

	spawn_sh("sleep 30 & echo $!; exit 4", &r, &o);
	double start = now();
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert_lt(now() - start, 3.0, "the report waited for the grandchild");
	cr_assert(strstr(r.reason, "exited with status 4"), "reason: %s", r.reason);
	cr_assert_eq(r.nlines, 1);
	pid_t grandchild = (pid_t)atol(r.lines[0]);
	cr_assert_gt(grandchild, 0);
	close_and_check(&r, fds);
	cr_assert(run_until(process_dead, &grandchild, 10.0),
		  "the group's leftovers got no SIGTERM after the leader exited");
}

Test(stdio, closing_kills_the_whole_process_group)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 100);

	spawn_sh("trap '' TERM; sleep 30 & echo $!; wait", &r, &o);
	cr_assert(wait_lines(&r, 1, 10.0));
	pid_t grandchild = (pid_t)atol(r.lines[0]);
	cr_assert_gt(grandchild, 0);
	close_and_check(&r, fds);
	cr_assert(run_until(process_dead, &grandchild, 10.0), "SIGKILL did not reach the group");
}

Test(stdio, closing_from_inside_on_line_stops_every_callback)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 200);

	r.close_on_line = true;
	spawn_sh("echo one; echo two; echo three; exit 0", &r, &o);
	cr_assert(run_until(all_reaped, NULL, 10.0));
	cr_assert_eq(r.nlines, 1);
	cr_assert_not(r.closed);
	close_and_check(&r, fds);
}

Test(stdio, writing_after_the_child_exited_fails)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);

	spawn_sh("exit 0", &r, &o);
	cr_assert(run_until(is_closed, &r, 10.0));
	cr_assert_eq(stdio_write(r.child, "x\n", 2), -1);
	close_and_check(&r, fds);
}

/* A pipe's reader is gone: the write gets EPIPE (SIGPIPE is ignored, as in the daemon). */
Test(stdio, writing_to_a_child_that_closed_its_stdin_fails_without_a_signal)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 200);

	spawn_sh("exec <&-; echo closed; sleep 30", &r, &o);
	cr_assert(wait_lines(&r, 1, 10.0));
	cr_assert_eq(stdio_write(r.child, "x\n", 2), 0, "queued");
	ev_run(EV_DEFAULT, EVRUN_NOWAIT); /* the flush gets EPIPE */
	cr_assert_eq(stdio_write(r.child, "x\n", 2), -1);
	cr_assert_eq(errno, EPIPE);
	close_and_check(&r, fds);
}

Test(stdio, a_megabyte_written_at_once_is_queued_and_fully_delivered)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char *argv[] = { "cat", NULL };
	char *line = repeat('y', 499);

	spawn_argv(argv, &r, &o);
	for (int i = 0; i < 2000; i++)
		cr_assert_eq(stdio_write(r.child, line, 500), 0);
	cr_assert_gt(stdio_queued(r.child), 0, "a pipe cannot take 1 MB at once");
	cr_assert(wait_lines(&r, 2000, 10.0), "%zu lines", r.nlines);
	cr_assert_eq(r.line_bytes, 2000 * 499);
	cr_assert_eq(stdio_queued(r.child), 0);
	free(line);
	close_and_check(&r, fds);
}

Test(stdio, many_children_leave_no_descriptor_and_no_live_child)
{
	int fds = setup();
	struct rec r[5] = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char *argv[] = { "cat", NULL };
	pid_t pids[5];

	for (int i = 0; i < 5; i++) {
		spawn_argv(argv, &r[i], &o);
		pids[i] = stdio_pid(r[i].child);
	}
	cr_assert_eq(stdio_live_children(), 5);
	for (int i = 0; i < 5; i++)
		stdio_close(r[i].child);
	cr_assert(run_until(all_reaped, NULL, 10.0));
	for (int i = 0; i < 5; i++)
		assert_reaped(pids[i]);
	cr_assert_eq(count_fds(), fds);
}

Test(stdio, shutdown_all_reaps_every_child_even_stubborn_ones)
{
	int fds = setup();
	struct rec r[2] = { 0 };
	struct stdio_options o = opts(1024, 100);
	char *argv[] = { "cat", NULL };

	spawn_argv(argv, &r[0], &o);
	spawn_sh("trap '' TERM; while :; do sleep 0.05; done", &r[1], &o);
	pid_t p0 = stdio_pid(r[0].child), p1 = stdio_pid(r[1].child);
	stdio_shutdown_all(test_daemon());
	cr_assert_eq(stdio_live_children(), 0);
	assert_reaped(p0);
	assert_reaped(p1);
	cr_assert_eq(count_fds(), fds);
}

/* Captures our own stderr (where log lines go) into a temp file for the test. */
static int capture_stderr(char *path)
{
	int fd = mkstemp(path);
	int saved = dup(STDERR_FILENO);

	cr_assert_geq(fd, 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

static char *restore_stderr(int saved, const char *path)
{
	static char buf[65536];
	FILE *f;
	size_t n;

	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

Test(stdio, stderr_lines_are_logged_at_a_bounded_rate_and_the_rest_counted)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char path[] = "/tmp/test_stdio_XXXXXX";
	int saved = capture_stderr(path);

	o.stderr_lines_per_sec = 3;
	spawn_sh("for i in 1 2 3 4 5 6 7; do echo err$i >&2; done; exit 0", &r, &o);
	cr_assert(run_until(is_closed, &r, 10.0));
	close_and_check(&r, fds + 1);
	char *log = restore_stderr(saved, path);
	cr_assert_eq(count_of(log, "[test:stdio] stderr: err"), 3, "%s", log);
	cr_assert(strstr(log, "[test:stdio] stderr: 4 lines suppressed"), "%s", log);
}

Test(stdio, a_long_stderr_line_is_cut_and_its_rest_dropped)
{
	int fds = setup();
	struct rec r = { 0 };
	struct stdio_options o = opts(1024, 2000);
	char path[] = "/tmp/test_stdio_XXXXXX";
	int saved = capture_stderr(path);

	spawn_sh("i=0; while [ $i -lt 300 ]; do printf 0123456789 >&2; i=$((i+1)); done; "
		 "echo >&2; echo next >&2; exit 0",
		 &r, &o);
	cr_assert(run_until(is_closed, &r, 10.0));
	close_and_check(&r, fds + 1);
	char *log = restore_stderr(saved, path);
	cr_assert_eq(count_of(log, "stderr: "), 2, "%s", log);
	cr_assert(strstr(log, "stderr: next\n"), "%s", log);
	char *first = strstr(log, "stderr: 0123");
	cr_assert_not_null(first);
	cr_assert_eq(strcspn(first + 8, "\n"), STDIO_STDERR_LINE_MAX);
}
