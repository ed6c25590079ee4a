/* Integration: the middle layer's faults: frees, timers, bounded queues and deadlines. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
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
static bool metric_reaches(struct itd *d, const char *name, long long want, unsigned ms)
{
	for (unsigned waited = 0; waited < ms; waited += 50) {
		if (metric(d, name) >= want)
			return true;
		it_sleep_ms(50);
	}
	return false;
}

/* Writes an executable shell script into the test's directory; returns its path. */
static void write_script(struct itd *d, const char *name, const char *body)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	fclose(f);
	cr_assert_eq(chmod(path, 0700), 0);
}

/* Lines in a file of the test's directory (0 when it does not exist). */
static unsigned lines_in(struct itd *d, const char *name)
{
	char path[512], buf[256];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(buf, sizeof(buf), f))
		n++;
	fclose(f);
	return n;
}

/*
 * The answer to initialize (the first request: id 1), as a server's script
 * prints it. The scripts' catalog entries pin "protocol": "legacy", so that no
 * server/discover probe comes first.
 */
#define SCRIPT_INIT_REPLY \
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\"," \
	"\"capabilities\":{},\"serverInfo\":{\"name\":\"script\",\"version\":\"1\"}}}"

/* Waits (10 s at most) for the daemon to exit by itself; returns its exit status. */
static int wait_exit(struct itd *d)
{
	int status;

	for (int i = 0; i < 1000; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			d->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			return d->exit_status;
		}
		it_sleep_ms(10);
	}
	itd_stop(d);
	cr_assert_fail("mcppoold did not exit within 10 s of SIGTERM");
	return -1;
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
	/* The hang call is never answered: the SIGTERM's drain ends it after 300 ms. */
	itd_start(&d, NULL, ARGS("MCPPOOL_SHUTDOWN_TIMEOUT=300"));
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
	cr_assert_eq(wait_exit(&d), 0, "the daemon exited with %d; see %s", d.exit_status, d.log);
	cr_assert_not(itd_log_contains(&d, "Sanitizer"), "see %s", d.log);
	int st;
	json_decref(itd_ctl_wait(&d, hang, &st));
	msgpack_zone_destroy(&z);
	it_assert_no_children();
}

/*
 * A server that answers each ping 1.2 s after it came, with MCPPOOL_PING_TIMEOUT at 2 s,
 * is alive: every ping gets the whole timeout, not what the last one left.
 */
Test(upstream, a_server_answering_pings_slower_than_half_the_timeout_is_kept)
{
	const char *env[] = { "MCPPOOL_PING_TIMEOUT=2000", "CLEANUP_INTERVAL=100", NULL };
	struct itd d;
	int st;

	itd_start(&d, "{\"mcpServers\": {\"slow\": {\"command\": \"@DIR@/slowping.sh\","
		      " \"protocol\": \"legacy\"}}}", env);
	write_script(&d, "slowping.sh",
		     "while read -r line; do\n"
		     "  id=$(printf '%s' \"$line\" | sed -n 's/.*\"id\":\\([0-9]*\\).*/\\1/p')\n"
		     "  case \"$line\" in\n"
		     "  *'\"initialize\"'*) echo '" SCRIPT_INIT_REPLY "' ;;\n"
		     "  *'\"ping\"'*) (sleep 1.2; echo \"{\\\"jsonrpc\\\":\\\"2.0\\\",\\\"id\\\":$id,\\\"result\\\":{}}\";"
		     " echo pong >> \"$0.pongs\") & ;;\n"
		     "  esac\n"
		     "done\n"
		     "wait\n");
	json_t *r = itd_ctl_json(&d, &st, ARGS("warm", "alice", "slow"));
	cr_assert_eq(st, 0, "warm failed");
	json_decref(r);
	for (int i = 0; i < 150 && lines_in(&d, "slowping.sh.pongs") < 4; i++)
		it_sleep_ms(100);
	cr_assert_geq(lines_in(&d, "slowping.sh.pongs"), 4, "the server answered fewer than 4 pings");
	cr_assert_eq(metric(&d, "mcppool_upstream_hung_total"), 0, "a live server was closed as hung");
	cr_assert_not(itd_log_contains(&d, "stopped answering"));
	itd_stop(&d);
	it_assert_no_children();
}

/* Resident memory of a process, in KiB. */
static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/*
 * A server that floods requests (pings) and never reads its stdin: the
 * answers waiting for it are bounded by MCPPOOL_MAX_STDIN_QUEUE, past which
 * the connection is closed as broken and counted.
 */
Test(upstream, a_server_that_floods_and_never_reads_its_stdin_is_closed_and_counted)
{
	const char *env[] = { "MCPPOOL_MAX_STDIN_QUEUE=1048576", NULL };
	struct itd d;
	int st;

	itd_start(&d, "{\"mcpServers\": {\"flood\": {\"command\": \"@DIR@/flood.sh\","
		      " \"protocol\": \"legacy\"}}}", env);
	write_script(&d, "flood.sh",
		     "read -r line\n"
		     "echo '" SCRIPT_INIT_REPLY "'\n"
		     "exec yes '{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}'\n");
	json_t *r = itd_ctl_json(&d, &st, ARGS("warm", "alice", "flood"));
	json_decref(r);
	cr_assert(metric_reaches(&d, "mcppool_connections_closed_total{reason=\"stdin_full\"}", 1,
				 10000),
		  "the flooding server was not closed");
	cr_assert_lt(rss_kib(d.pid), 64 * 1024, "the daemon holds %ld KiB", rss_kib(d.pid));
	cr_assert(itd_log_contains(&d, "does not read its stdin"));
	itd_stop(&d);
	it_assert_no_children();
}

/* A client that connects and says nothing is told why, then closed: it holds no slot for ever. */
Test(upstream, a_client_without_hello_gets_an_error_and_is_closed)
{
	const char *env[] = { "MCPPOOL_HELLO_TIMEOUT=300", NULL };
	struct wire_msg m;
	msgpack_zone z;
	struct itd d;
	int fd;

	msgpack_zone_init(&z, 4096);
	itd_start(&d, NULL, env);
	fd = it_raw_connect(&d);
	cr_assert_eq(it_raw_recv(fd, &z, &m, 5000), 0, "no error frame before the close");
	cr_assert_eq(m.type, WIRE_REPLY);
	cr_assert_eq(m.id, 0);
	cr_assert_not_null(m.error);
	cr_assert_eq(m.err_code, ERR_BAD_REQUEST);
	cr_assert(memmem(m.err_message, m.err_message_len, "hello", 5), "%.*s",
		  (int)m.err_message_len, m.err_message);
	cr_assert_eq(it_raw_recv(fd, &z, &m, 5000), -1, "the connection stayed open");
	close(fd);
	cr_assert_eq(metric(&d, "mcppool_hello_timeouts_total"), 1);
	itd_stop(&d);
	msgpack_zone_destroy(&z);
	it_assert_no_children();
}

/* A client that said hello in time is not closed by the deadline. */
Test(upstream, a_client_that_said_hello_outlives_the_hello_deadline)
{
	const char *env[] = { "MCPPOOL_HELLO_TIMEOUT=200", NULL };
	msgpack_zone z;
	struct itd d;
	int fd;

	msgpack_zone_init(&z, 4096);
	itd_start(&d, NULL, env);
	fd = it_raw_connect(&d);
	it_raw_hello(fd, 1);
	raw_expect_reply(fd, &z, 1);
	it_sleep_ms(600);
	it_raw_request(fd, 2, "servers", NULL);
	raw_expect_reply(fd, &z, 2);
	close(fd);
	itd_stop(&d);
	msgpack_zone_destroy(&z);
	it_assert_no_children();
}

/* Sends n calls of the fixture's big tool (bytes each) on fd, reading nothing. */
static void send_big_calls(int fd, uint64_t first_id, unsigned n, unsigned bytes)
{
	char params[200];

	snprintf(params, sizeof(params),
		 "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"big\", "
		 "\"arguments\": {\"bytes\": %u}}", bytes);
	for (unsigned i = 0; i < n; i++)
		it_raw_request(fd, first_id + i, "call", params);
}

/* Reads fd until EOF (true) or until ms pass with the connection still open (false). */
static bool reads_to_eof(int fd, unsigned ms)
{
	char buf[65536];

	for (unsigned waited = 0; waited < ms; waited += 10) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			return true;
		if (n < 0)
			it_sleep_ms(10);
	}
	return false;
}

/* A client whose replies pile up because it reads nothing is closed once it has taken none for the stall timeout. */
Test(upstream, a_client_that_takes_no_replies_is_closed_after_the_stall_timeout)
{
	const char *env[] = { "MCPPOOL_OUTPUT_STALL_TIMEOUT=500", NULL };
	msgpack_zone z;
	struct itd d;
	int fd;

	msgpack_zone_init(&z, 4096);
	itd_start(&d, NULL, env);
	fd = it_raw_connect(&d);
	it_raw_hello(fd, 1);
	raw_expect_reply(fd, &z, 1);
	send_big_calls(fd, 2, 40, 200000);
	cr_assert(metric_reaches(&d, "mcppool_slow_clients_closed_total", 1, 10000),
		  "the client that reads nothing was not closed");
	cr_assert(reads_to_eof(fd, 5000), "the connection stayed open");
	/* What is left is the asking mcpctl's own hello reply, not yet written. */
	cr_assert_lt(metric(&d, "mcppool_output_queued_bytes"), 1000);
	close(fd);
	itd_stop(&d);
	msgpack_zone_destroy(&z);
	it_assert_no_children();
}

/*
 * Replies piling up for many clients are bounded all together: past
 * MCPPOOL_MAX_OUTPUT_TOTAL the clients holding the most are closed, well
 * before the per-client MCPPOOL_MAX_OUTPUT or the stall timeout would.
 */
Test(upstream, replies_piling_up_for_many_clients_are_bounded_all_together)
{
	const char *env[] = { "MCPPOOL_MAX_OUTPUT_TOTAL=4000000", NULL };
	msgpack_zone z;
	struct itd d;
	int fds[4];

	msgpack_zone_init(&z, 4096);
	itd_start(&d, NULL, env);
	for (int i = 0; i < 4; i++) {
		fds[i] = it_raw_connect(&d);
		it_raw_hello(fds[i], 1);
		raw_expect_reply(fds[i], &z, 1);
	}
	for (int i = 0; i < 4; i++)
		send_big_calls(fds[i], 2, 15, 200000); /* 3 MB each, 12 MB in all */
	cr_assert(metric_reaches(&d, "mcppool_slow_clients_closed_total", 1, 10000),
		  "no client was closed");
	cr_assert_leq(metric(&d, "mcppool_output_queued_bytes"), 4000000);
	unsigned closed = 0;
	for (int i = 0; i < 4; i++)
		closed += reads_to_eof(fds[i], 3000);
	cr_assert_geq(closed, 1, "every connection stayed open");
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	itd_stop(&d);
	msgpack_zone_destroy(&z);
	it_assert_no_children();
}
