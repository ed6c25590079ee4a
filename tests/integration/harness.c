/* Integration test harness: a real mcppoold on a temporary socket, driven through mcpctl. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "harness.h"

const char *it_build(void)
{
	const char *b = getenv("MCPPOOL_BUILD");
	return b && *b ? b : "build";
}

void it_bin(const char *name, char *buf, size_t len)
{
	char rel[512];
	snprintf(rel, sizeof(rel), "%s/%s", it_build(), name);
	if (!realpath(rel, buf))
		cr_assert_fail("binary %s not found (build first)", rel);
	(void)len;
}

void it_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void it_subreaper(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
}

const char *it_scrubbed_variable(size_t i)
{
	return config_var_name(i);
}

static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t n = 0, fl = strlen(from), tl = strlen(to);
	for (const char *p = s; (p = strstr(p, from)); p += fl)
		n++;
	char *out = malloc(strlen(s) + n * (tl + 1) + 1), *o = out;
	const char *p = s, *q;
	while ((q = strstr(p, from))) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, tl);
		o += tl;
		p = q + fl;
	}
	strcpy(o, p);
	return out;
}

static void prepare(struct itd *d, const char *catalog_json)
{
	char fixture[4096];
	FILE *f;

	memset(d, 0, sizeof(*d));
	strcpy(d->dir, "/tmp/mcppool-it-XXXXXX");
	cr_assert(mkdtemp(d->dir), "mkdtemp: %s", strerror(errno));
	snprintf(d->sock, sizeof(d->sock), "%s/sock", d->dir);
	snprintf(d->servers, sizeof(d->servers), "%s/servers.json", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/mcppoold.log", d->dir);
	it_bin("mcp-fixture", fixture, sizeof(fixture));
	char *a = replace_all(catalog_json ? catalog_json : FIXTURE_CATALOG(""), "@FIXTURE@", fixture);
	char *b = replace_all(a, "@DIR@", d->dir);
	f = fopen(d->servers, "w");
	cr_assert(f);
	fputs(b, f);
	fclose(f);
	free(a);
	free(b);
}

static pid_t spawn_daemon(struct itd *d, const char *const *env, const char *const *extra)
{
	char daemon[4096];
	const char *argv[32];
	int n = 0;
	pid_t pid;

	it_bin("mcppoold", daemon, sizeof(daemon));
	argv[n++] = daemon;
	argv[n++] = "-s";
	argv[n++] = d->sock;
	argv[n++] = "--servers";
	argv[n++] = d->servers;
	argv[n++] = "--env-file";
	argv[n++] = "/dev/null";
	for (; extra && *extra && n < 30; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;

	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		const char *name;
		for (size_t i = 0; (name = it_scrubbed_variable(i)); i++)
			unsetenv(name);
		/* A test that fails before itd_stop() still stops its daemon (and its children). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		setenv("MCPPOOL_LOG_LEVEL", "debug", 1);
		/* A whole suite may be run with the other stdin/stdout form; a test's env still wins. */
		if (getenv("IT_SERVER_STDIO"))
			setenv("MCPPOOL_SERVER_STDIO", getenv("IT_SERVER_STDIO"), 1);
		/* The test process runs without leak checks; the daemon must not. */
		setenv("ASAN_OPTIONS", "detect_leaks=1", 1);
		for (; env && *env; env++)
			putenv((char *)*env);
		dup2(fd, 2);
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		execv(daemon, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static bool socket_accepts(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.107s", path);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

void itd_start(struct itd *d, const char *catalog_json, const char *const *env)
{
	itd_start_sock(d, catalog_json, env, NULL);
}

void itd_start_sock(struct itd *d, const char *catalog_json, const char *const *env,
		    const char *sock)
{
	itd_start_args(d, catalog_json, env, sock, NULL);
}

void itd_start_args(struct itd *d, const char *catalog_json, const char *const *env,
		    const char *sock, const char *const *extra_args)
{
	int status;

	prepare(d, catalog_json);
	if (sock)
		snprintf(d->sock, sizeof(d->sock), "%s", sock);
	d->pid = spawn_daemon(d, env, extra_args);
	/* Generous bounds: on a loaded machine an instrumented start takes seconds. */
	for (int i = 0; i < 4000; i++) {
		if (socket_accepts(d->sock))
			return;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid)
			cr_assert_fail("mcppoold exited at start (status %d); see %s", status, d->log);
		it_sleep_ms(5);
	}
	cr_assert_fail("mcppoold did not accept on %s within 20 s", d->sock);
}

int itd_run_to_exit(struct itd *d, const char *catalog_json, const char *const *env,
		    const char *const *extra_args)
{
	int status;

	prepare(d, catalog_json);
	d->pid = spawn_daemon(d, env, extra_args);
	for (int i = 0; i < 2000; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		it_sleep_ms(10);
	}
	return -1;
}

#define ITD_STOP_GRACE_MS 2000

void itd_stop(struct itd *d)
{
	int status = 0;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		/*
		 * The first SIGTERM drains: calls a test left in flight would hold
		 * the daemon up to MCPPOOL_SHUTDOWN_TIMEOUT. After a short grace the
		 * second SIGTERM (stop at once) ends them with SHUTTING_DOWN.
		 */
		if (i == ITD_STOP_GRACE_MS / 10) {
			fprintf(stderr, "itd_stop: mcppoold still draining after %d ms: second SIGTERM "
				"(see %s)\n", ITD_STOP_GRACE_MS, d->log);
			kill(d->pid, SIGTERM);
		}
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			d->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			cr_expect_eq(d->exit_status, 0, "mcppoold exited with %d; see %s",
				     d->exit_status, d->log);
			cr_expect(!itd_log_contains(d, "Sanitizer") &&
				  !itd_log_contains(d, "runtime error"),
				  "mcppoold reported a sanitizer error; see %s", d->log);
			return;
		}
		it_sleep_ms(10);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
	cr_assert_fail("mcppoold did not stop within 10 s of SIGTERM");
}

void it_assert_no_children(void)
{
	int status;
	pid_t pid;

	/* Orphans need a moment to be re-parented to us after their parent exits. */
	for (int i = 0; i < 1000; i++) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0 && errno == ECHILD)
			return;
		if (pid > 0)
			cr_assert_fail("process %ld was left behind (reaped by the test)", (long)pid);
		it_sleep_ms(10);
	}
	cr_assert_fail("a child process is still running after the daemon stopped");
}

static char *slurp_fd(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	return buf;
}

int itd_ctl(struct itd *d, char **out, char **err, const char *const *args)
{
	char ctl[4096];
	const char *argv[64];
	int po[2], pe[2], n = 0, status;
	pid_t pid;

	it_bin("mcpctl", ctl, sizeof(ctl));
	argv[n++] = ctl;
	argv[n++] = "-s";
	argv[n++] = d->sock;
	for (; args && *args && n < 62; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	cr_assert(pipe(po) == 0 && pipe(pe) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		setenv("ASAN_OPTIONS", "detect_leaks=1", 1);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execv(ctl, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	char *o = slurp_fd(po[0]);
	char *e = slurp_fd(pe[0]);
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &status, 0);
	cr_expect(!strstr(e, "Sanitizer") && !strstr(e, "runtime error"),
		  "mcpctl reported a sanitizer error: %s", e);
	if (out)
		*out = o;
	else
		free(o);
	if (err)
		*err = e;
	else
		free(e);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

json_t *itd_ctl_json(struct itd *d, int *status, const char *const *args)
{
	char *out = NULL;
	json_error_t jerr;
	json_t *j;
	int st = itd_ctl(d, &out, NULL, args);

	if (status)
		*status = st;
	j = json_loads(out, 0, &jerr);
	if (!j)
		cr_log_error("mcpctl output is not JSON: %s", out);
	free(out);
	return j;
}

bool itd_log_contains(struct itd *d, const char *needle)
{
	FILE *f = fopen(d->log, "r");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* Milliseconds from start (CLOCK_MONOTONIC) to now. */
static long ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

bool it_poll(bool (*cond)(void *arg), void *arg, unsigned timeout_ms)
{
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!cond(arg)) {
		if (ms_since(&start) >= (long)timeout_ms)
			return false;
		it_sleep_ms(10);
	}
	return true;
}

struct log_wait {
	struct itd *d;
	const char *needle;
};

static bool log_has(void *arg)
{
	struct log_wait *w = arg;
	return itd_log_contains(w->d, w->needle);
}

bool itd_wait_log(struct itd *d, const char *needle, unsigned timeout_ms)
{
	struct log_wait w = { d, needle };
	return it_poll(log_has, &w, timeout_ms);
}

static bool pid_gone(void *arg)
{
	return !it_pid_alive(*(pid_t *)arg);
}

bool it_wait_gone(pid_t pid, unsigned timeout_ms)
{
	return it_poll(pid_gone, &pid, timeout_ms);
}

/* The state letter of /proc/PID/stat ('R', 'S', 'T', 'Z'...), or 0 when pid is gone. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
	return p && p[1] == ' ' ? p[2] : 0;
}

static bool pid_stopped(void *arg)
{
	return proc_state(*(pid_t *)arg) == 'T';
}

void it_freeze(pid_t pid)
{
	cr_assert(kill(pid, SIGSTOP) == 0, "SIGSTOP %ld: %s", (long)pid, strerror(errno));
	cr_assert(it_poll(pid_stopped, &pid, 5000), "process %ld did not stop", (long)pid);
}

void it_thaw(pid_t pid)
{
	cr_assert(kill(pid, SIGCONT) == 0, "SIGCONT %ld: %s", (long)pid, strerror(errno));
}

bool it_pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno != ESRCH;
}

unsigned long long it_cpu_ticks(pid_t pid, char *state)
{
	char path[64], buf[1024], *p, st_letter = '?';
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	p = strrchr(buf, ')'); /* the command may hold spaces */
	cr_assert_not_null(p);
	cr_assert_eq(sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &st_letter,
			    &ut, &st), 3);
	if (state)
		*state = st_letter;
	return ut + st;
}

json_t *it_data(json_t *reply)
{
	cr_assert(reply, "no JSON reply");
	json_t *ok = json_object_get(reply, "success");
	if (!json_is_true(ok)) {
		char *s = json_dumps(reply, 0);
		cr_assert_fail("expected success, got %s", s);
	}
	return json_object_get(reply, "data");
}

const char *it_error_code(json_t *reply)
{
	const char *c = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
	return c ? c : "";
}

const char *it_text(json_t *reply)
{
	json_t *content = json_object_get(json_object_get(reply, "data"), "content");
	const char *t = json_string_value(json_object_get(json_array_get(content, 0), "text"));
	return t ? t : "";
}

/* ---- raw wire access ---- */

#include <poll.h>

#include "frame.h"
#include "mpjson.h"

int it_raw_connect(struct itd *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.107s", d->sock);
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s", strerror(errno));
	return fd;
}

void it_raw_send_bytes(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		/*
		 * A peer that closed (a refused client, a deadline) gives EPIPE, never a
		 * SIGPIPE that would kill the test: what it said first is still there to read.
		 */
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return;
		cr_assert(n > 0, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void it_raw_send_frame(int fd, const msgpack_sbuffer *payload)
{
	unsigned char hdr[4] = { (unsigned char)(payload->size >> 24), (unsigned char)(payload->size >> 16),
				 (unsigned char)(payload->size >> 8), (unsigned char)payload->size };
	it_raw_send_bytes(fd, hdr, 4);
	it_raw_send_bytes(fd, payload->data, payload->size);
}

void it_raw_request(int fd, uint64_t id, const char *op, const char *params_json)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	json_t *params = params_json ? json_loads(params_json, 0, NULL) : json_object();

	cr_assert(params, "bad params JSON in the test: %s", params_json);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	wire_pack_request_begin(&pk, id, op);
	mpjson_pack(&pk, params);
	it_raw_send_frame(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
	json_decref(params);
}

void it_raw_hello(int fd, uint64_t id)
{
	it_raw_request(fd, id, "hello", "{\"version\": 1}");
}

int it_raw_recv(int fd, msgpack_zone *zone, struct wire_msg *m, unsigned timeout_ms)
{
	unsigned char hdr[4];
	size_t got = 0, len;
	static char *buf;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t bad;
	char err[256];

	while (got < 4) {
		if (poll(&p, 1, (int)timeout_ms) <= 0)
			return -1;
		ssize_t n = read(fd, hdr + got, 4 - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	free(buf);
	buf = malloc(len ? len : 1);
	for (got = 0; got < len;) {
		if (poll(&p, 1, (int)timeout_ms) <= 0)
			return -1;
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	cr_assert(wire_decode(buf, len, zone, m, &bad, err, sizeof(err)) == 0,
		  "daemon sent an undecodable frame: %s", err);
	return 0;
}

bool it_raw_wait_eof(int fd, unsigned timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec start;
	char buf[4096];
	long left = (long)timeout_ms;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (left > 0) {
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			cr_assert_fail("poll: %s", strerror(errno));
		if (r > 0) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n == 0 || (n < 0 && errno == ECONNRESET))
				return true;
		}
		left = (long)timeout_ms - ms_since(&start);
	}
	return false;
}

/*
 * Runs an admin op without params on a connection of its own and returns its
 * result as JSON (a new reference). Fails the test when there is none.
 */
static json_t *raw_admin(struct itd *d, const char *op)
{
	struct wire_msg m;
	msgpack_zone z;
	char err[256];
	json_t *j;
	int fd = it_raw_connect(d);

	msgpack_zone_init(&z, 4096);
	it_raw_hello(fd, 1);
	cr_assert_eq(it_raw_recv(fd, &z, &m, 10000), 0, "no answer to hello");
	it_raw_request(fd, 2, op, NULL);
	cr_assert_eq(it_raw_recv(fd, &z, &m, 10000), 0, "no answer to %s", op);
	cr_assert_null(m.error, "%s failed: %.*s", op, (int)m.err_message_len, m.err_message);
	j = mpjson_to_json(m.result, err, sizeof(err));
	cr_assert_not_null(j, "%s: %s", op, err);
	msgpack_zone_destroy(&z);
	close(fd);
	return j;
}

json_t *itd_pool_status(struct itd *d)
{
	return raw_admin(d, "pool_status");
}

double itd_metric(struct itd *d, const char *name)
{
	json_t *r = raw_admin(d, "metrics");
	const char *text = json_string_value(json_object_get(r, "text"));
	size_t len = strlen(name);
	double v = -1;

	cr_assert_not_null(text, "metrics has no text");
	for (const char *line = text; line && v < 0; line = strchr(line, '\n')) {
		line += *line == '\n';
		if (strncmp(line, name, len) == 0 && line[len] == ' ')
			v = strtod(line + len + 1, NULL);
	}
	json_decref(r);
	return v;
}

struct metric_wait {
	struct itd *d;
	const char *name;
	double value;
};

static bool metric_reached(void *arg)
{
	struct metric_wait *w = arg;
	return itd_metric(w->d, w->name) >= w->value;
}

bool itd_wait_metric(struct itd *d, const char *name, double value, unsigned timeout_ms)
{
	struct metric_wait w = { d, name, value };
	return it_poll(metric_reached, &w, timeout_ms);
}

struct inflight_wait {
	struct itd *d;
	const char *key;
	long pid;
	unsigned inflight;
};

static bool inflight_reached(void *arg)
{
	struct inflight_wait *w = arg;
	json_t *status = itd_pool_status(w->d), *e;
	bool found = false;
	size_t i;

	json_array_foreach(json_object_get(status, "connectionDetails"), i, e) {
		const char *key = json_string_value(json_object_get(e, "key"));
		if (key && strcmp(key, w->key) == 0 &&
		    (w->pid <= 0 || json_integer_value(json_object_get(e, "pid")) == w->pid) &&
		    json_integer_value(json_object_get(e, "inFlight")) == (json_int_t)w->inflight)
			found = true;
	}
	json_decref(status);
	return found;
}

bool itd_wait_inflight(struct itd *d, const char *key, long pid, unsigned inflight,
		       unsigned timeout_ms)
{
	struct inflight_wait w = { d, key, pid, inflight };
	return it_poll(inflight_reached, &w, timeout_ms);
}

/* Requests in flight on every connection of the pool. */
static long inflight_total(struct itd *d)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("pool-status"));
	json_t *conns = json_object_get(json_object_get(r, "data"), "connectionDetails"), *c;
	size_t i;
	long n = 0;

	json_array_foreach(conns, i, c)
		n += (long)json_integer_value(json_object_get(c, "inFlight"));
	json_decref(r);
	return n;
}

struct total_wait {
	struct itd *d;
	long want;
};

static bool total_reached(void *arg)
{
	struct total_wait *w = arg;
	return inflight_total(w->d) >= w->want;
}

bool itd_wait_inflight_total(struct itd *d, long want, unsigned timeout_ms)
{
	struct total_wait w = { d, want };
	return it_poll(total_reached, &w, timeout_ms);
}

pid_t itd_ctl_async(struct itd *d, const char *const *args)
{
	char ctl[4096], out[400];
	const char *argv[64];
	int n = 0;
	pid_t pid;

	it_bin("mcpctl", ctl, sizeof(ctl));
	argv[n++] = ctl;
	argv[n++] = "-s";
	argv[n++] = d->sock;
	for (; args && *args && n < 62; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		setenv("ASAN_OPTIONS", "detect_leaks=1", 1);
		snprintf(out, sizeof(out), "%s/ctl-%ld.out", d->dir, (long)getpid());
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		execv(ctl, (char *const *)argv);
		_exit(127);
	}
	snprintf(out, sizeof(out), "%s/ctl-%ld.out", d->dir, (long)pid);
	return pid;
}

json_t *itd_ctl_wait(struct itd *d, pid_t pid, int *status)
{
	char path[400];
	json_t *j;
	int st;

	cr_assert(waitpid(pid, &st, 0) == pid);
	if (status)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	snprintf(path, sizeof(path), "%s/ctl-%ld.out", d->dir, (long)pid);
	j = json_load_file(path, 0, NULL);
	unlink(path);
	return j;
}

/* ---- a daemon under another uid ---- */

#include <sys/stat.h>

void itd_start_as(struct itd *d, const char *catalog_json, const char *const *env, uid_t uid,
		  gid_t gid)
{
	char daemon[4096];
	int status;

	prepare(d, catalog_json);
	it_bin("mcppoold", daemon, sizeof(daemon));
	/* Its socket goes into the test's private dir: let the uid create it. */
	cr_assert(chown(d->dir, uid, gid) == 0, "chown %s: %s", d->dir, strerror(errno));
	d->pid = fork();
	cr_assert(d->pid >= 0);
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int devnull = open("/dev/null", O_RDWR);
		const char *name;

		for (size_t i = 0; (name = it_scrubbed_variable(i)); i++)
			unsetenv(name);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		setenv("MCPPOOL_LOG_LEVEL", "debug", 1);
		/* A whole suite may be run with the other stdin/stdout form; a test's env still wins. */
		if (getenv("IT_SERVER_STDIO"))
			setenv("MCPPOOL_SERVER_STDIO", getenv("IT_SERVER_STDIO"), 1);
		setenv("ASAN_OPTIONS", "detect_leaks=1", 1);
		for (; env && *env; env++)
			putenv((char *)*env);
		dup2(fd, 2);
		dup2(devnull, 0);
		dup2(devnull, 1);
		if ((getgid() != gid && setgid(gid) < 0) || (getuid() != uid && setuid(uid) < 0))
			_exit(126);
		execl(daemon, daemon, "-s", d->sock, "--servers", d->servers, "--env-file",
		      "/dev/null", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if (socket_accepts(d->sock))
			return;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid)
			cr_assert_fail("mcppoold exited at start (status %d); see %s", status, d->log);
		it_sleep_ms(5);
	}
	cr_assert_fail("mcppoold did not accept on %s within 5 s", d->sock);
}

/* ---- servers the tests start: loopback ports, a process group each ---- */

#include <arpa/inet.h>
#include <netinet/in.h>

int it_notify_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", path,
		  strerror(errno));
	return fd;
}

char *it_notify_recv(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[1024];
	ssize_t n;

	if (poll(&p, 1, 5000) != 1)
		return NULL;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

int it_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		  getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

bool it_port_accepts(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	close(fd);
	return ok;
}

pid_t it_start_server(const char *const *argv, int port, const char *log)
{
	pid_t pid = fork();

	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		setpgid(0, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	setpgid(pid, pid);
	for (int i = 0; i < 1500; i++) {
		if (it_port_accepts(port))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			cr_assert_fail("%s exited at start; see %s", argv[0], log);
		it_sleep_ms(10);
	}
	it_stop_server(pid);
	cr_assert_fail("%s did not accept on port %d within 15 s; see %s", argv[0], port, log);
	return -1;
}

void it_stop_server(pid_t pgid)
{
	if (pgid <= 0)
		return;
	kill(-pgid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pgid, NULL, WNOHANG) == pgid)
			return;
		it_sleep_ms(10);
	}
	kill(-pgid, SIGKILL);
	waitpid(pgid, NULL, 0);
}
