/*
 * Integration: a stdio server's descriptors as the daemon holds them: pipes or
 * one socket for its stdin and stdout per MCPPOOL_SERVER_STDIO, and its stderr
 * per MCPPOOL_SERVER_STDERR.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(serverio, .init = it_subreaper, .timeout = 60);

/* Descriptors the daemon has open now (/proc/PID/fd). */
static int daemon_fds(const struct itd *d)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d->pid);
	cr_assert_not_null(dir = opendir(path), "%s: %m", path);
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

struct fd_wait {
	const struct itd *d;
	int want;
};

static bool fds_are(void *arg)
{
	struct fd_wait *w = arg;

	return daemon_fds(w->d) == w->want;
}

/* Stable for 200 ms: the ends of a client that just left are closed. */
static int settled_fds(const struct itd *d)
{
	int n = daemon_fds(d), same = 0;

	while (same < 10) {
		it_sleep_ms(20);
		int now = daemon_fds(d);
		same = now == n ? same + 1 : 0;
		n = now;
	}
	return n;
}

static void warm(struct itd *d, const char *user)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("warm", user, "demo"));

	cr_assert_eq(st, 0, "warm %s failed; see %s", user, d->log);
	json_decref(r);
}

/*
 * With one connection open (whatever the daemon opens lazily is open then),
 * four more must add exactly per descriptors each, with MCPPOOL_SERVER_STDIO
 * and MCPPOOL_SERVER_STDERR as given (NULL: the defaults).
 */
static void assert_fds_per_connection(const char *stdio, const char *stderr_mode, int per)
{
	char io_var[64], err_var[64];
	const char *env[3] = { NULL };
	struct itd d;
	char user[32];
	int n = 0;

	snprintf(io_var, sizeof(io_var), "MCPPOOL_SERVER_STDIO=%s", stdio ? stdio : "");
	snprintf(err_var, sizeof(err_var), "MCPPOOL_SERVER_STDERR=%s", stderr_mode ? stderr_mode : "");
	if (stdio)
		env[n++] = io_var;
	if (stderr_mode)
		env[n++] = err_var;
	itd_start(&d, NULL, env);
	warm(&d, "u0");
	struct fd_wait w = { &d, settled_fds(&d) + 4 * per };
	for (int i = 1; i <= 4; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		warm(&d, user);
	}
	cr_assert(it_poll(fds_are, &w, 5000), "stdio %s, stderr %s: the daemon holds %d descriptors, want %d",
		  stdio ? stdio : "default", stderr_mode ? stderr_mode : "default", daemon_fds(&d),
		  w.want);
	itd_stop(&d);
	it_assert_no_children();
}

/* The defaults: a pipe each for stdin, stdout and stderr. */
Test(serverio, a_stdio_connection_holds_three_descriptors_by_default)
{
	assert_fds_per_connection(NULL, NULL, 3);
}

Test(serverio, a_stdio_connection_holds_two_descriptors_with_pipes_and_stderr_discarded)
{
	assert_fds_per_connection("pipes", "discard", 2);
}

Test(serverio, a_stdio_connection_holds_two_descriptors_on_one_socket_with_stderr_logged)
{
	assert_fds_per_connection("socket", "log", 2);
}

Test(serverio, a_stdio_connection_holds_one_descriptor_on_one_socket_with_stderr_discarded)
{
	assert_fds_per_connection("socket", "discard", 1);
}

Test(serverio, a_stdio_connection_holds_one_descriptor_on_one_socket_with_stderr_inherited)
{
	assert_fds_per_connection("socket", "inherit", 1);
}

static void call_stderr(struct itd *d, const char *user, int lines)
{
	char args[64];
	int st;

	snprintf(args, sizeof(args), "{\"lines\":%d}", lines);
	json_t *r = itd_ctl_json(d, &st, ARGS("call", user, "demo", "stderr", args));
	cr_assert_eq(st, 0, "the stderr call failed; see %s", d->log);
	json_decref(r);
}

Test(serverio, inherit_puts_a_servers_stderr_lines_on_the_daemons_stderr_untagged)
{
	const char *env[] = { "MCPPOOL_SERVER_STDERR=inherit", NULL };
	struct itd d;

	itd_start(&d, NULL, env);
	call_stderr(&d, "alice", 2);
	cr_assert(itd_wait_log(&d, "stderr line 2 of 2", 10000), "see %s", d.log);
	cr_assert(!itd_log_contains(&d, "[alice:demo] stderr"), "the line was tagged; see %s",
		  d.log);
	itd_stop(&d);
	it_assert_no_children();
}

/* The lines are written before the call's reply: with no pipe, nothing can come later. */
Test(serverio, discard_logs_nothing_of_a_servers_stderr)
{
	const char *env[] = { "MCPPOOL_SERVER_STDERR=discard", NULL };
	struct itd d;

	itd_start(&d, NULL, env);
	call_stderr(&d, "alice", 3);
	itd_stop(&d);
	cr_assert(!itd_log_contains(&d, "stderr line"), "see %s", d.log);
	it_assert_no_children();
}

/* The daemon refuses to start with setting (KEY=VALUE), and its log says the message. */
static void assert_setting_refused(const char *setting, const char *message)
{
	const char *env[] = { setting, NULL };
	struct itd d;
	int rc = itd_run_to_exit(&d, NULL, env, NULL);

	cr_assert_eq(rc, 78, "exit status %d; see %s", rc, d.log);
	cr_assert(itd_log_contains(&d, message), "see %s", d.log);
}

Test(serverio, an_unknown_server_stderr_value_is_refused_naming_the_accepted_ones)
{
	assert_setting_refused("MCPPOOL_SERVER_STDERR=journal",
			       "MCPPOOL_SERVER_STDERR=\"journal\": unknown value "
			       "(expected log, inherit or discard)");
}

Test(serverio, an_unknown_server_stdio_value_is_refused_naming_the_accepted_ones)
{
	assert_setting_refused("MCPPOOL_SERVER_STDIO=socketpair",
			       "MCPPOOL_SERVER_STDIO=\"socketpair\": unknown value "
			       "(expected pipes or socket)");
}

/*
 * Calls are answered, and closing the server's stdin (the pipe's write end
 * closed, or shutdown(SHUT_WR) on the socket) is its EOF: the fixture exits 0
 * long before the SIGTERM step (a minute away here) could have ended it.
 */
static void assert_evicted_server_exits_by_itself(const char *stdio)
{
	const char *env[] = { "MCPPOOL_KILL_TIMEOUT=60000", stdio, NULL };
	struct itd d;
	char line[96];
	int st;

	itd_start(&d, NULL, env);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "demo", "echo", "{\"message\":\"hi\"}"));
	cr_assert_eq(st, 0, "see %s", d.log);
	cr_assert_str_eq(it_text(r), "hi");
	json_decref(r);
	r = itd_ctl_json(&d, &st, ARGS("call", "alice", "demo", "pid"));
	cr_assert_eq(st, 0);
	long pid = atol(it_text(r));
	json_decref(r);
	r = itd_ctl_json(&d, &st, ARGS("evict", "alice"));
	cr_assert_eq(st, 0);
	json_decref(r);
	snprintf(line, sizeof(line), "pid %ld exited with status 0", pid);
	cr_assert(itd_wait_log(&d, line, 10000), "%s: no exit on stdin EOF; see %s", stdio, d.log);
	itd_stop(&d);
	it_assert_no_children();
}

Test(serverio, an_evicted_server_reads_eof_on_its_stdin_pipe_and_exits_by_itself)
{
	assert_evicted_server_exits_by_itself("MCPPOOL_SERVER_STDIO=pipes");
}

Test(serverio, an_evicted_server_reads_eof_on_its_socket_and_exits_by_itself)
{
	assert_evicted_server_exits_by_itself("MCPPOOL_SERVER_STDIO=socket");
}

/* Writes "MCPPOOL_SERVER_STDERR=value" into the env file at path. */
static void env_file_write(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fprintf(f, "MCPPOOL_SERVER_STDERR=%s\n", value);
	fclose(f);
}

Test(serverio, a_reload_applies_the_stderr_setting_to_connections_started_afterwards)
{
	char path[] = "/tmp/mcppool-serverio-env-XXXXXX";
	struct itd d;
	int fd, st;

	cr_assert((fd = mkstemp(path)) >= 0);
	close(fd);
	env_file_write(path, "log");
	itd_start_args(&d, NULL, NULL, NULL, ARGS("--env-file", path));
	call_stderr(&d, "old", 0);
	env_file_write(path, "discard");
	json_t *r = itd_ctl_json(&d, &st, ARGS("reload"));
	cr_assert_eq(st, 0, "the reload failed; see %s", d.log);
	json_decref(r);
	call_stderr(&d, "new", 1);
	call_stderr(&d, "old", 1);
	cr_assert(itd_wait_log(&d, "[old:demo] stderr: ", 10000), "see %s", d.log);
	itd_stop(&d);
	cr_assert(!itd_log_contains(&d, "[new:demo] stderr: "), "see %s", d.log);
	unlink(path);
	it_assert_no_children();
}
