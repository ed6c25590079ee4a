/* Integration: the daemon's edges: descriptors running out, too many clients, signals, bad UTF-8, secrets. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"

TestSuite(edge, .init = it_subreaper, .timeout = 60);

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Lines of the daemon's log that contain needle. */
static int log_count(struct itd *d, const char *needle)
{
	FILE *f = fopen(d->log, "r");
	char line[4096];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* Waits up to ms for needle in the daemon's log. */
static bool wait_log(struct itd *d, const char *needle, unsigned ms)
{
	for (long end = now_ms() + ms; now_ms() < end; it_sleep_ms(10))
		if (itd_log_contains(d, needle))
			return true;
	return itd_log_contains(d, needle);
}

/* CPU time the process has used (user + system), in seconds. */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces: state is field 3, utime 14. */
	p = strrchr(buf, ')');
	cr_assert_not_null(p);
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
			    &stime), 2);
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Connects, says hello and waits (at most timeout_ms) for its reply. Returns the fd, or -1. */
static int hello_within(struct itd *d, unsigned timeout_ms)
{
	msgpack_zone z;
	struct wire_msg m;
	int fd = it_raw_connect(d), rc;

	msgpack_zone_init(&z, 1024);
	it_raw_hello(fd, 1);
	rc = it_raw_recv(fd, &z, &m, timeout_ms);
	rc = rc == 0 && m.id == 1 && !m.error ? 0 : -1;
	msgpack_zone_destroy(&z);
	if (rc < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- descriptors running out ------------------------------------------------ */

#define FD_LIMIT 64
#define FD_CLIENTS 100

Test(edge, out_of_descriptors_pauses_accepting_without_spinning_and_serves_again_once_they_are_free)
{
	struct rlimit old, low;
	int fds[FD_CLIENTS];
	struct itd d;
	double cpu0, cpu1;
	long t0, wall, closed_at;
	int fd;

	/*
	 * The daemon raises its soft limit to the hard one at start and checks that its
	 * configuration fits; descriptors can still run out later (HTTP requests in
	 * flight, other limits), so the low limit is set on the running daemon.
	 */
	itd_start(&d, NULL, NULL);
	cr_assert_eq(prlimit(d.pid, RLIMIT_NOFILE, NULL, &old), 0);
	low = old;
	low.rlim_cur = FD_LIMIT;
	cr_assert_eq(prlimit(d.pid, RLIMIT_NOFILE, &low, NULL), 0);

	/* More clients than descriptors: the rest wait in the listen backlog. */
	for (int i = 0; i < FD_CLIENTS; i++)
		fds[i] = it_raw_connect(&d);
	cr_assert(wait_log(&d, "Too many open files", 5000), "accept never ran out; see %s", d.log);

	t0 = now_ms();
	cpu0 = cpu_seconds(d.pid);
	while (now_ms() - t0 < 2000) {
		cr_assert(it_pid_alive(d.pid));
		it_sleep_ms(50);
	}
	cpu1 = cpu_seconds(d.pid);
	wall = now_ms() - t0;
	/* Ten tries a second cost next to nothing; the spin it replaces took 50 to 100 %. */
	cr_assert_lt(cpu1 - cpu0, 0.05 * (double)wall / 1000.0,
		     "the paused daemon used %.2f s of CPU in %.2f s", cpu1 - cpu0, wall / 1000.0);
	cr_assert_eq(log_count(&d, "Too many open files"), 1,
		     "one log line per pause, not per retry; see %s", d.log);

	for (int i = 0; i < FD_CLIENTS; i++)
		close(fds[i]);
	closed_at = now_ms();
	fd = hello_within(&d, 1000);
	cr_assert_geq(fd, 0, "not served within a second after the descriptors were freed");
	cr_log_info("served again %ld ms after the clients left", now_ms() - closed_at);
	close(fd);
	cr_assert(wait_log(&d, "accepting clients again", 1000));
	itd_stop(&d);
	it_assert_no_children();
}

/* ---- MCPPOOL_MAX_CLIENTS ------------------------------------------------------ */

Test(edge, a_client_over_MCPPOOL_MAX_CLIENTS_is_told_why_before_the_close)
{
	static const char *const env[] = { "MCPPOOL_MAX_CLIENTS=2", NULL };
	struct itd d;
	msgpack_zone z;
	struct wire_msg m;
	int a, b, c;

	itd_start(&d, NULL, env);
	msgpack_zone_init(&z, 1024);
	/* itd_start()'s probe connection may hold a place for a moment. */
	for (long end = now_ms() + 5000; (a = hello_within(&d, 5000)) < 0 && now_ms() < end;)
		it_sleep_ms(10);
	for (long end = now_ms() + 5000; (b = hello_within(&d, 5000)) < 0 && now_ms() < end;)
		it_sleep_ms(10);
	cr_assert_geq(a, 0);
	cr_assert_geq(b, 0);

	c = it_raw_connect(&d);
	cr_assert_eq(it_raw_recv(c, &z, &m, 5000), 0, "the refused client got no frame");
	cr_assert_eq(m.type, WIRE_REPLY);
	cr_assert_eq(m.id, 0);
	cr_assert_eq(m.err_code, ERR_TOO_MANY_CLIENTS);
	cr_assert(memmem(m.err_message, m.err_message_len, "MCPPOOL_MAX_CLIENTS", 19), "%.*s",
		  (int)m.err_message_len, m.err_message);
	cr_assert(memmem(m.err_message, m.err_message_len, "raise", 5), "%.*s",
		  (int)m.err_message_len, m.err_message);
	cr_assert_eq(it_raw_recv(c, &z, &m, 5000), -1, "the refused client was not closed");
	close(c);

	/* Those within the limit are served as before. */
	it_raw_request(a, 2, "pool_status", NULL);
	cr_assert_eq(it_raw_recv(a, &z, &m, 5000), 0);
	cr_assert_eq(m.id, 2);
	cr_assert_null(m.error);
	close(a);
	close(b);
	msgpack_zone_destroy(&z);
	itd_stop(&d);
	it_assert_no_children();
}

static int open_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	cr_assert_not_null(dir = opendir(path));
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/*
 * A refused client is kept (reading and dropping) only until it closes or two
 * seconds pass, and at most 8 at once: more refused clients than that, silent and
 * never closing, all get why, and the daemon's descriptors come back.
 */
Test(edge, refused_clients_that_never_close_are_let_go)
{
	static const char *const env[] = { "MCPPOOL_MAX_CLIENTS=1", NULL };
	enum { REFUSED = 12 };
	struct itd d;
	msgpack_zone z;
	struct wire_msg m;
	int a, refused[REFUSED], before;

	itd_start(&d, NULL, env);
	msgpack_zone_init(&z, 1024);
	for (long end = now_ms() + 5000; (a = hello_within(&d, 5000)) < 0 && now_ms() < end;)
		it_sleep_ms(10);
	cr_assert_geq(a, 0);
	before = open_fds(d.pid);
	for (int i = 0; i < REFUSED; i++) {
		refused[i] = it_raw_connect(&d);
		it_raw_hello(refused[i], 1); /* sent into a refused connection: must not lose the reply */
	}
	for (int i = 0; i < REFUSED; i++) {
		cr_assert_eq(it_raw_recv(refused[i], &z, &m, 5000), 0, "refused client %d got no frame", i);
		cr_assert_eq(m.err_code, ERR_TOO_MANY_CLIENTS);
	}
	cr_assert_leq(open_fds(d.pid), before + 8, "more than 8 refused clients linger");
	for (long end = now_ms() + 10000; open_fds(d.pid) > before && now_ms() < end;)
		it_sleep_ms(50);
	cr_assert_eq(open_fds(d.pid), before, "refused clients that never closed were kept");
	for (int i = 0; i < REFUSED; i++)
		close(refused[i]);
	close(a);
	msgpack_zone_destroy(&z);
	itd_stop(&d);
	it_assert_no_children();
}

/* Refusals the log reports: 1 for "refusing a client", N for "refused N client(s)". */
static int logged_refusals(struct itd *d, int *lines)
{
	FILE *f = fopen(d->log, "r");
	char line[4096];
	int sum = 0, n;

	*lines = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		const char *p;

		if (strstr(line, "refusing a client")) {
			sum++;
			++*lines;
		} else if ((p = strstr(line, "refused ")) && sscanf(p, "refused %d client", &n) == 1) {
			sum += n;
			++*lines;
		}
	}
	fclose(f);
	return sum;
}

#define REFUSALS 30

Test(edge, refusals_are_logged_at_most_once_a_second_with_their_count)
{
	static const char *const env[] = { "MCPPOOL_MAX_CLIENTS=1", NULL };
	struct itd d;
	msgpack_zone z;
	struct wire_msg m;
	long t0, elapsed;
	int held, lines = 0, sum = 0, refused_first = 0;

	itd_start(&d, NULL, env);
	msgpack_zone_init(&z, 1024);
	/* itd_start()'s probe connection may hold the one place for a moment: each try is refused. */
	for (long end = now_ms() + 5000; (held = hello_within(&d, 5000)) < 0 && now_ms() < end;) {
		refused_first++;
		it_sleep_ms(10);
	}
	cr_assert_geq(held, 0);
	t0 = now_ms();
	for (int i = 0; i < REFUSALS; i++) {
		int c = it_raw_connect(&d);
		cr_assert_eq(it_raw_recv(c, &z, &m, 5000), 0);
		cr_assert_eq(m.err_code, ERR_TOO_MANY_CLIENTS);
		close(c);
	}
	elapsed = now_ms() - t0;
	for (long end = now_ms() + 3000; now_ms() < end; it_sleep_ms(20))
		if ((sum = logged_refusals(&d, &lines)) == REFUSALS + refused_first)
			break;
	cr_assert_eq(sum, REFUSALS + refused_first, "the log accounts for %d of %d refusals; see %s",
		     sum, REFUSALS + refused_first, d.log);
	/* The first at once, then one line for each second that had refusals. */
	cr_assert_leq(lines, 2 + elapsed / 1000, "%d log lines for %d refusals in %ld ms", lines,
		      REFUSALS, elapsed);
	close(held);
	msgpack_zone_destroy(&z);
	itd_stop(&d);
	it_assert_no_children();
}

Test(edge, mcpctl_tells_a_refused_client_why)
{
	static const char *const env[] = { "MCPPOOL_MAX_CLIENTS=1", NULL };
	struct itd d;
	json_t *r = NULL;
	int held, st = 0;

	itd_start(&d, NULL, env);
	for (long end = now_ms() + 5000; (held = hello_within(&d, 5000)) < 0 && now_ms() < end;)
		it_sleep_ms(10);
	cr_assert_geq(held, 0);
	r = itd_ctl_json(&d, &st, ARGS("pool-status"));
	cr_assert_str_eq(it_error_code(r), "TOO_MANY_CLIENTS", "mcpctl said %s",
			 r ? json_dumps(r, 0) : "nothing");
	cr_assert_neq(st, 0);
	json_decref(r);
	close(held);
	itd_stop(&d);
	it_assert_no_children();
}

/* ---- signals ----------------------------------------------------------------- */

#define SLEEP_CALLS 3

static void start_sleeps(struct itd *d, pid_t *pids, const char *ms)
{
	char args[64];

	snprintf(args, sizeof(args), "{\"ms\": %s}", ms);
	for (int i = 0; i < SLEEP_CALLS; i++)
		pids[i] = itd_ctl_async(d, ARGS("call", "alice", "demo", "sleep", args));
	cr_assert(itd_wait_inflight_total(d, SLEEP_CALLS, 10000), "%ld requests did not get in flight", (long)(SLEEP_CALLS));
}

Test(edge, signals_that_used_to_kill_the_daemon_are_logged_and_it_goes_on_serving)
{
	const struct {
		int signo;
		const char *name;
	} sigs[] = {
		{ SIGHUP, "SIGHUP" },	    { SIGUSR1, "SIGUSR1" },	{ SIGUSR2, "SIGUSR2" },
		{ SIGALRM, "SIGALRM" },	    { SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" },
		{ SIGIO, "SIGIO" },	    { SIGXCPU, "SIGXCPU" },	{ SIGXFSZ, "SIGXFSZ" },
		{ SIGPWR, "SIGPWR" },	    { SIGSTKFLT, "SIGSTKFLT" }, { SIGTRAP, "SIGTRAP" },
		{ SIGRTMIN, "SIGRTMIN+0" }, { SIGRTMAX, NULL },
	};
	pid_t pids[SLEEP_CALLS];
	char rtmax[32];
	struct itd d;
	int st;

	snprintf(rtmax, sizeof(rtmax), "SIGRTMIN+%d", SIGRTMAX - SIGRTMIN);
	itd_start(&d, NULL, NULL);
	start_sleeps(&d, pids, "6000");
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "received %s:", sigs[i].name ? sigs[i].name : rtmax);
		cr_assert_eq(kill(d.pid, sigs[i].signo), 0);
		cr_assert(wait_log(&d, needle, 5000), "no \"%s\" in %s", needle, d.log);
		cr_assert(it_pid_alive(d.pid), "%s killed the daemon", needle);
	}
	cr_assert(itd_log_contains(&d, "received SIGHUP: reloaded: nothing changed"));
	for (int i = 0; i < SLEEP_CALLS; i++) {
		json_t *r = itd_ctl_wait(&d, pids[i], &st);
		cr_assert_eq(st, 0, "a call in flight failed");
		cr_assert_str_eq(it_text(r), "slept 6000");
		json_decref(r);
	}
	json_decref(itd_ctl_json(&d, &st, ARGS("call", "alice", "demo", "echo",
						 "{\"message\": \"still here\"}")));
	cr_assert_eq(st, 0);
	itd_stop(&d);
	it_assert_no_children();
}

/*
 * Stopping at once (SIGQUIT, or the second SIGTERM/SIGINT: the first drains,
 * see test_drain.c): every call in flight answered SHUTTING_DOWN, the socket
 * removed, every child reaped, exit 0.
 */
static void stops_at_once_on(int signo, const char *name, bool twice)
{
	pid_t pids[SLEEP_CALLS];
	struct itd d;
	int status = -1, st;
	char needle[64];
	long t0;

	itd_start(&d, NULL, NULL);
	start_sleeps(&d, pids, "30000");
	if (twice) {
		cr_assert_eq(kill(d.pid, signo), 0);
		snprintf(needle, sizeof(needle), "received %s: draining", name);
		cr_assert(wait_log(&d, needle, 5000), "no \"%s\" in %s", needle, d.log);
	}
	t0 = now_ms();
	cr_assert_eq(kill(d.pid, signo), 0);
	for (long end = now_ms() + 15000; now_ms() < end; it_sleep_ms(10))
		if (waitpid(d.pid, &status, WNOHANG) == d.pid)
			break;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "%s: the daemon ended with status %#x; see %s", name, status, d.log);
	/* At once: well before the 30 s calls or MCPPOOL_SHUTDOWN_TIMEOUT's 30 s default. */
	cr_assert_lt(now_ms() - t0, 10000, "%s: the daemon took %ld ms to stop", name,
		     now_ms() - t0);
	d.pid = 0;
	for (int i = 0; i < SLEEP_CALLS; i++) {
		json_t *r = itd_ctl_wait(&d, pids[i], &st);
		cr_assert_eq(st, 1);
		cr_assert_str_eq(it_error_code(r), "SHUTTING_DOWN", "%s: a call got no answer", name);
		json_decref(r);
	}
	cr_assert_neq(access(d.sock, F_OK), 0, "%s: the socket file was left behind", name);
	cr_assert(!itd_log_contains(&d, "Sanitizer") && !itd_log_contains(&d, "runtime error"),
		  "%s: a sanitizer report; see %s", name, d.log);
	snprintf(needle, sizeof(needle), "received %s%s: stopping at once", name,
		 twice ? " again" : "");
	cr_assert(itd_log_contains(&d, needle), "%s", needle);
	it_assert_no_children();
}

Test(edge, sigquit_stops_at_once)
{
	stops_at_once_on(SIGQUIT, "SIGQUIT", false);
}

Test(edge, a_second_sigterm_or_sigint_stops_at_once)
{
	stops_at_once_on(SIGTERM, "SIGTERM", true);
	stops_at_once_on(SIGINT, "SIGINT", true);
}

/* ---- invalid UTF-8 ------------------------------------------------------------ */

/* Sends [0, id, op, {"user": user, "mcp": "demo", key: value}], strings as raw bytes. */
static void raw_mcp_op(int fd, uint64_t id, const char *op, const char *user, const char *key,
		       const char *value)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	wire_pack_request_begin(&pk, id, op);
	msgpack_pack_map(&pk, 3);
	wire_pack_str(&pk, "user");
	wire_pack_str(&pk, user);
	wire_pack_str(&pk, "mcp");
	wire_pack_str(&pk, "demo");
	wire_pack_str(&pk, key);
	wire_pack_str(&pk, value);
	it_raw_send_frame(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static void expect_bad_request(int fd, msgpack_zone *z, uint64_t id, const char *what)
{
	struct wire_msg m;

	cr_assert_eq(it_raw_recv(fd, z, &m, 10000), 0);
	cr_assert_eq(m.id, id);
	cr_assert_eq(m.err_code, ERR_BAD_REQUEST, "%s was accepted", what);
}

Test(edge, user_ids_and_methods_that_are_not_clean_utf8_are_refused_and_pool_status_keeps_working)
{
	static const char *const bad_users[] = {
		"\xc0\xaf",          /* overlong "/" */
		"a\xe0\x80\xaf",     /* overlong, three bytes */
		"\xed\xa0\x80",      /* a surrogate, U+D800 */
		"\xed\xbf\xbf",      /* U+DFFF */
		"\xf4\x90\x80\x80",  /* above U+10FFFF */
		"al\xffice",         /* not UTF-8 at all */
		"al\xc2\x85ice",     /* U+0085, a C1 control */
		"\xe2\x80\xae" "ecila", /* U+202E, right-to-left override */
		"a\xe2\x81\xa6" "b", /* U+2066, an isolate */
	};
	struct itd d;
	msgpack_zone z;
	struct wire_msg m;
	uint64_t id = 2;
	int fd, st;

	itd_start(&d, NULL, NULL);
	msgpack_zone_init(&z, 4096);
	cr_assert_geq(fd = hello_within(&d, 5000), 0);
	for (size_t i = 0; i < sizeof(bad_users) / sizeof(bad_users[0]); i++, id++) {
		raw_mcp_op(fd, id, "call", bad_users[i], "tool", "echo");
		expect_bad_request(fd, &z, id, "a user id");
		raw_mcp_op(fd, ++id, "warm", bad_users[i], "tool", "echo");
		expect_bad_request(fd, &z, id, "a user id (warm)");
	}
	/* evict creates nothing, but logs what it is given. */
	it_raw_request(fd, id, "evict", "{\"user\": \"a\\nINFO forged line\"}");
	expect_bad_request(fd, &z, id, "a user id with a newline (evict)");
	it_raw_request(fd, ++id, "evict", "{\"user\": \"alice\", \"mcp\": \"d\\u202eemo\"}");
	expect_bad_request(fd, &z, id, "a server name with a bidi override (evict)");
	raw_mcp_op(fd, ++id, "request", "alice", "method", "tools/\xed\xa0\x80");
	expect_bad_request(fd, &z, id, "a method with a surrogate");
	raw_mcp_op(fd, ++id, "request", "alice", "method", "tools/\xc1\xac" "ist");
	expect_bad_request(fd, &z, id, "an overlong method");

	/* A clean one still goes through, and the pool still has a JSON form. */
	raw_mcp_op(fd, ++id, "call", "\xc3\xa9lodie", "tool", "echo");
	cr_assert_eq(it_raw_recv(fd, &z, &m, 10000), 0);
	cr_assert_null(m.error, "%.*s", (int)m.err_message_len, m.err_message);
	it_raw_request(fd, ++id, "pool_status", NULL);
	cr_assert_eq(it_raw_recv(fd, &z, &m, 5000), 0);
	cr_assert_null(m.error, "%.*s", (int)m.err_message_len, m.err_message);
	json_t *r = itd_ctl_json(&d, &st, ARGS("pool-status"));
	cr_assert_eq(st, 0);
	cr_assert_eq(json_integer_value(json_object_get(it_data(r), "totalConnections")), 1);
	json_decref(r);
	r = itd_ctl_json(&d, &st, ARGS("cleanup"));
	cr_assert_eq(st, 0);
	json_decref(r);
	close(fd);
	msgpack_zone_destroy(&z);
	itd_stop(&d);
	it_assert_no_children();
}

/* ---- secrets ------------------------------------------------------------------ */

/*
 * The owner of /proc/PID/status: the process's uid while it is dumpable, root
 * when it is not (proc(5)). The daemon runs as nobody when we are root, so
 * that the two differ.
 */
static uid_t proc_owner(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
	return st.st_uid;
}

Test(edge, the_daemon_is_not_dumpable_unless_MCPPOOL_CORE_DUMPS_is_1)
{
	static const char *const env[] = { "MCPPOOL_CORE_DUMPS=1", NULL };
	uid_t uid = getuid() == 0 ? 65534 : getuid();
	gid_t gid = getuid() == 0 ? 65534 : getgid();
	struct itd d;

	itd_start_as(&d, NULL, NULL, uid, gid);
	cr_assert_eq(proc_owner(d.pid), 0, "the daemon is dumpable");
	itd_stop(&d);

	itd_start_as(&d, NULL, env, uid, gid);
	cr_assert_eq(proc_owner(d.pid), uid, "MCPPOOL_CORE_DUMPS=1 did not make it dumpable");
	cr_assert(itd_log_contains(&d, "core dumps are allowed (MCPPOOL_CORE_DUMPS=1)"));
	itd_stop(&d);
	it_assert_no_children();
}

Test(edge, an_auth_reference_in_args_is_warned_about_at_start_and_one_in_env_is_not)
{
	struct itd d;

	itd_start(&d, FIXTURE_CATALOG(
		", \"exposed\": {\"command\": \"@FIXTURE@\", \"args\": [\"--name\", \"${auth.token}\"]}"
		", \"safe\": {\"command\": \"@FIXTURE@\", \"env\": {\"TOKEN\": \"${auth.token}\"}}"),
		NULL);
	cr_assert_eq(log_count(&d, "catalog entry \"exposed\": ${auth.*} in \"args\""), 1,
		     "see %s", d.log);
	cr_assert(itd_log_contains(&d, "/proc/PID/cmdline"));
	cr_assert_not(itd_log_contains(&d, "catalog entry \"safe\""));
	cr_assert_not(itd_log_contains(&d, "catalog entry \"demo\""));
	itd_stop(&d);
	it_assert_no_children();
}
