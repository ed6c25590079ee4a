/* Integration: operations — the HTTP metrics endpoint, alert rules, systemd units and notification, example configurations. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "harness.h"

TestSuite(ops, .init = it_subreaper, .timeout = 120);

#define ALERT_RULES "contrib/prometheus/mcppool-alerts.yml"
#define ALERT_TESTS "contrib/prometheus/mcppool-alerts.test.yml"

/* ---- helpers -------------------------------------------------------------------- */

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	cr_assert(f, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert(buf);
	buf[fread(buf, 1, (size_t)n, f)] = '\0';
	fclose(f);
	return buf;
}

/* Runs argv (stdin /dev/null, stdout+stderr into *out when out is non-NULL); returns the exit status. */
static int run_cmd(const char *const *argv, char **out)
{
	char path[] = "/tmp/mcppool-ops-out-XXXXXX";
	int fd = mkstemp(path), status;
	pid_t pid;

	cr_assert(fd >= 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		/* A make started by make test must not join its jobserver. */
		unsetenv("MAKEFLAGS");
		unsetenv("MFLAGS");
		unsetenv("MAKELEVEL");
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fd);
	cr_assert(waitpid(pid, &status, 0) == pid);
	if (out)
		*out = read_text(path);
	unlink(path);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The port of "metrics: serving http://127.0.0.1:PORT/metrics" in the daemon's log. */
static unsigned metrics_port(struct itd *d)
{
	static const char needle[] = "metrics: serving http://127.0.0.1:";

	for (int i = 0; i < 500; i++) {
		char *log = read_text(d->log), *p = strstr(log, needle);
		unsigned port = p ? (unsigned)strtoul(p + strlen(needle), NULL, 10) : 0;
		free(log);
		if (port)
			return port;
		it_sleep_ms(10);
	}
	cr_assert_fail("no \"%s\" line in %s", needle, d->log);
	return 0;
}

struct http_reply {
	long status;
	char *body;
	size_t len;
	char content_type[128];
	char allow[64];
};

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
	struct http_reply *r = cls;

	r->body = realloc(r->body, r->len + size * n + 1);
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
	struct http_reply *r = cls;
	size_t len = size * n;

	if (len > 6 && strncasecmp(p, "Allow:", 6) == 0)
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 6), p + 6);
	return len;
}

/* One HTTP request to the daemon's metrics port; method "GET", "POST", ... */
static struct http_reply http_request(unsigned port, const char *method, const char *path)
{
	struct http_reply r = { 0 };
	char url[128];
	char *ct = NULL;
	CURL *c = curl_easy_init();

	cr_assert(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %s failed", method, url);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(r.content_type, sizeof(r.content_type), "%s", ct);
	curl_easy_cleanup(c);
	if (!r.body)
		r.body = calloc(1, 1);
	return r;
}

/* A HEAD request; returns the status (the test fails when no answer comes). */
static long http_head(const char *url)
{
	CURL *c = curl_easy_init();
	long status = 0;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "HEAD %s failed", url);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

/*
 * The metric names of a Prometheus text exposition: the first token of each
 * sample line, without labels. Returns a NULL-terminated array (malloc'd).
 */
static char **metric_names(const char *text)
{
	char **names = calloc(256, sizeof(*names));
	size_t n = 0;

	for (const char *line = text; *line && n < 255;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (len && line[0] != '#') {
			size_t k = strcspn(line, "{ ");
			names[n++] = strndup(line, k < len ? k : len);
		}
		line += len + (end != NULL);
	}
	return names;
}

static bool has_sample(const char *text, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = text; (p = strstr(p, name)); p += len)
		if ((p == text || p[-1] == '\n') && (p[len] == ' ' || p[len] == '{'))
			return true;
	return false;
}

static void free_names(char **names)
{
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

/*
 * Makes sure the programs of `scripts/deps.sh tools` are there (installing them
 * as root), one test at a time: two apt-get runs at once would fight over dpkg's lock.
 */
static void need_tools(void)
{
	int lock = open("/tmp/mcppool-ops-tools.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	char *out = NULL;

	cr_assert(lock >= 0 && flock(lock, LOCK_EX) == 0);
	int rc = run_cmd(ARGS("scripts/deps.sh", "tools"), &out);
	close(lock);
	cr_assert_eq(rc, 0, "scripts/deps.sh tools failed:\n%s", out);
	free(out);
}

static const char *socket_activate_path(void)
{
	static const char *const candidates[] = { "/usr/bin/systemd-socket-activate",
						  "/lib/systemd/systemd-socket-activate", NULL };
	for (const char *const *p = candidates; *p; p++)
		if (access(*p, X_OK) == 0)
			return *p;
	cr_assert_fail("systemd-socket-activate not found (Debian's systemd package)");
	return NULL;
}

/* ---- metrics over HTTP ---------------------------------------------------------- */

Test(ops, metrics_http_serves_every_metric_of_the_metrics_op)
{
	struct itd d;
	char *ctl_text = NULL;
	unsigned port;

	itd_start(&d, NULL, ARGS("MCPPOOL_METRICS_LISTEN=127.0.0.1:0"));
	port = metrics_port(&d);
	json_decref(itd_ctl_json(&d, NULL, ARGS("call", "alice", "demo", "echo", "{\"message\":\"hi\"}")));
	cr_assert_eq(itd_ctl(&d, &ctl_text, NULL, ARGS("metrics")), 0);

	struct http_reply r = http_request(port, "GET", "/metrics");
	cr_assert_eq(r.status, 200);
	cr_expect(strncmp(r.content_type, "text/plain; version=0.0.4", 25) == 0, "Content-Type: %s",
		  r.content_type);
	char **names = metric_names(ctl_text);
	cr_assert(names[0], "the metrics op printed no sample:\n%s", ctl_text);
	for (char **p = names; *p; p++)
		cr_expect(has_sample(r.body, *p), "%s is in the metrics op but not in GET /metrics", *p);
	cr_expect(strstr(r.body, "mcppool_requests_total 1\n"), "the call is counted:\n%s", r.body);
	free_names(names);
	free(r.body);
	free(ctl_text);
	itd_stop(&d);
}

Test(ops, metrics_http_answers_head_without_a_body)
{
	struct itd d;

	itd_start(&d, NULL, ARGS("MCPPOOL_METRICS_LISTEN=127.0.0.1:0"));
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", metrics_port(&d));
	cr_expect_eq(http_head(url), 200);
	itd_stop(&d);
}

Test(ops, metrics_http_other_paths_are_404)
{
	struct itd d;
	static const char *const paths[] = { "/", "/metrics/", "/metricsx", "/api/mcp/pool-status",
					     "/metrics/../metrics2", NULL };

	itd_start(&d, NULL, ARGS("MCPPOOL_METRICS_LISTEN=127.0.0.1:0"));
	unsigned port = metrics_port(&d);
	for (const char *const *p = paths; *p; p++) {
		struct http_reply r = http_request(port, "GET", *p);
		cr_expect_eq(r.status, 404, "GET %s: %ld", *p, r.status);
		cr_expect(!strstr(r.body, "mcppool_"), "GET %s leaked metrics", *p);
		free(r.body);
	}
	itd_stop(&d);
}

Test(ops, metrics_http_other_methods_are_405_with_allow)
{
	struct itd d;
	static const char *const methods[] = { "POST", "PUT", "DELETE", "PATCH", NULL };

	itd_start(&d, NULL, ARGS("MCPPOOL_METRICS_LISTEN=127.0.0.1:0"));
	unsigned port = metrics_port(&d);
	for (const char *const *m = methods; *m; m++) {
		struct http_reply r = http_request(port, *m, "/metrics");
		cr_expect_eq(r.status, 405, "%s /metrics: %ld", *m, r.status);
		cr_expect(strstr(r.allow, "GET"), "%s /metrics: Allow: %s", *m, r.allow);
		free(r.body);
	}
	/* The daemon goes on serving after them. */
	struct http_reply ok = http_request(port, "GET", "/metrics");
	cr_expect_eq(ok.status, 200);
	free(ok.body);
	itd_stop(&d);
}

Test(ops, metrics_http_listens_on_an_ipv6_literal_in_brackets)
{
	static const char needle[] = "metrics: serving http://[::1]:";
	int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct itd d;

	if (probe < 0 || bind(probe, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (probe >= 0)
			close(probe);
		cr_skip_test("no IPv6 loopback here");
	}
	close(probe);
	itd_start(&d, NULL, ARGS("MCPPOOL_METRICS_LISTEN=[::1]:0"));
	unsigned port = 0;
	for (int i = 0; i < 500 && !port; i++) {
		char *log = read_text(d.log), *p = strstr(log, needle);
		port = p ? (unsigned)strtoul(p + strlen(needle), NULL, 10) : 0;
		free(log);
		if (!port)
			it_sleep_ms(10);
	}
	cr_assert(port, "no \"%s\" line in %s", needle, d.log);
	char url[64];
	snprintf(url, sizeof(url), "http://[::1]:%u/metrics", port);
	cr_expect_eq(http_head(url), 200);
	itd_stop(&d);
}

Test(ops, metrics_http_is_off_by_default)
{
	struct itd d;

	itd_start(&d, NULL, NULL);
	cr_expect(!itd_log_contains(&d, "metrics: serving"));
	itd_stop(&d);
}

Test(ops, metrics_listen_bad_values_exit_78_naming_the_variable)
{
	static const char *const bad[] = {
		"MCPPOOL_METRICS_LISTEN=127.0.0.1",       "MCPPOOL_METRICS_LISTEN=127.0.0.1:",
		"MCPPOOL_METRICS_LISTEN=127.0.0.1:65536", "MCPPOOL_METRICS_LISTEN=127.0.0.1:-1",
		"MCPPOOL_METRICS_LISTEN=127.0.0.1:http",  "MCPPOOL_METRICS_LISTEN=:9464",
		"MCPPOOL_METRICS_LISTEN=[::1:9464",       "MCPPOOL_METRICS_LISTEN=::1:9464",
		NULL,
	};

	for (const char *const *b = bad; *b; b++) {
		struct itd d;
		int rc = itd_run_to_exit(&d, NULL, (const char *const[]){ *b, NULL }, NULL);
		cr_expect_eq(rc, 78, "%s: exit %d", *b, rc);
		cr_expect(itd_log_contains(&d, "MCPPOOL_METRICS_LISTEN="), "%s: see %s", *b, d.log);
		cr_expect(itd_log_contains(&d, "HOST:PORT"), "%s: the error says what is accepted",
			  *b);
	}
}

Test(ops, metrics_listen_on_a_port_in_use_fails_start_naming_the_variable)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	char env[64];
	struct itd d;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	snprintf(env, sizeof(env), "MCPPOOL_METRICS_LISTEN=127.0.0.1:%u", ntohs(sa.sin_port));
	int rc = itd_run_to_exit(&d, NULL, (const char *const[]){ env, NULL }, NULL);
	cr_expect_eq(rc, 1, "exit %d", rc);
	cr_expect(itd_log_contains(&d, "MCPPOOL_METRICS_LISTEN=127.0.0.1:"), "see %s", d.log);
	cr_expect(access(d.sock, F_OK) < 0, "the socket file was left behind");
	close(fd);
}

/* ---- alert rules -------------------------------------------------------------- */

Test(ops, alert_rules_pass_promtool_check_rules, .timeout = 600)
{
	char *out = NULL;

	need_tools();
	int rc = run_cmd(ARGS("promtool", "check", "rules", ALERT_RULES), &out);
	cr_expect_eq(rc, 0, "promtool check rules %s:\n%s", ALERT_RULES, out);
	free(out);
}

Test(ops, alert_rules_fire_as_their_promtool_unit_tests_say, .timeout = 600)
{
	char *out = NULL;

	need_tools();
	int rc = run_cmd(ARGS("promtool", "test", "rules", ALERT_TESTS), &out);
	cr_expect_eq(rc, 0, "promtool test rules %s:\n%s", ALERT_TESTS, out);
	free(out);
}

Test(ops, the_example_scrape_config_passes_promtool_check_config, .timeout = 600)
{
	char dir[] = "/tmp/mcppool-ops-prom-XXXXXX", cmd[600];
	char *out = NULL;

	need_tools();
	cr_assert(mkdtemp(dir));
	/* Its rule_files path is where a host installs the rules: point it at ours. */
	snprintf(cmd, sizeof(cmd),
		 "sed 's|/etc/prometheus/rules/mcppool-alerts.yml|%s/mcppool-alerts.yml|' "
		 "contrib/prometheus/prometheus-scrape.yml > %s/prometheus.yml && cp %s %s/",
		 dir, dir, ALERT_RULES, dir);
	cr_assert_eq(run_cmd(ARGS("sh", "-c", cmd), NULL), 0);
	snprintf(cmd, sizeof(cmd), "%s/prometheus.yml", dir);
	int rc = run_cmd(ARGS("promtool", "check", "config", cmd), &out);
	cr_expect_eq(rc, 0, "promtool check config:\n%s", out);
	free(out);
	run_cmd(ARGS("rm", "-rf", dir), NULL);
}

Test(ops, alert_rules_use_only_metrics_the_daemon_exports)
{
	struct itd d;
	char *ctl_text = NULL, *rules = read_text(ALERT_RULES);

	itd_start(&d, NULL, NULL);
	cr_assert_eq(itd_ctl(&d, &ctl_text, NULL, ARGS("metrics")), 0);
	for (const char *p = rules; (p = strstr(p, "mcppool_"));) {
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz_0123456789");
		char *name = strndup(p, n);
		/* Alert names are CamelCase; anything snake_case after the prefix is a metric. */
		cr_expect(strstr(ctl_text, name), "%s: %s is not a metric of mcppoold", ALERT_RULES,
			  name);
		free(name);
		p += n;
	}
	free(ctl_text);
	free(rules);
	itd_stop(&d);
}

/* ---- systemd ------------------------------------------------------------------ */

Test(ops, notify_socket_receives_ready_then_stopping)
{
	char env[400], path[300], *msg;
	struct itd d;
	int fd;

	snprintf(path, sizeof(path), "/tmp/mcppool-ops-notify-%d", getpid());
	unlink(path);
	fd = it_notify_socket(path);
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", path);
	itd_start(&d, NULL, (const char *const[]){ env, NULL });
	msg = it_notify_recv(fd);
	cr_assert(msg, "no notification after start");
	cr_expect(strstr(msg, "READY=1"), "first notification: %s", msg);
	cr_expect(strstr(msg, d.sock), "STATUS names the socket: %s", msg);
	free(msg);
	itd_stop(&d);
	msg = it_notify_recv(fd);
	cr_assert(msg, "no notification at stop");
	cr_expect(strstr(msg, "STOPPING=1"), "notification at stop: %s", msg);
	free(msg);
	close(fd);
	unlink(path);
}

/*
 * Starts mcppoold under systemd-socket-activate on d->sock, with no -s: the
 * daemon must take the passed socket. The activator waits for the first
 * connection and then execs mcppoold in its own process.
 */
static void start_socket_activated(struct itd *d)
{
	char daemon[4096], fixture[4096];
	const char *activate;
	FILE *f;

	need_tools();
	activate = socket_activate_path();

	memset(d, 0, sizeof(*d));
	strcpy(d->dir, "/tmp/mcppool-it-XXXXXX");
	cr_assert(mkdtemp(d->dir));
	snprintf(d->sock, sizeof(d->sock), "%s/activated.sock", d->dir);
	snprintf(d->servers, sizeof(d->servers), "%s/servers.json", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/mcppoold.log", d->dir);
	it_bin("mcppoold", daemon, sizeof(daemon));
	it_bin("mcp-fixture", fixture, sizeof(fixture));
	f = fopen(d->servers, "w");
	cr_assert(f);
	fprintf(f, "{\"mcpServers\": {\"demo\": {\"command\": \"%s\"}}}", fixture);
	fclose(f);
	d->pid = fork();
	cr_assert(d->pid >= 0);
	if (d->pid == 0) {
		int log = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int devnull = open("/dev/null", O_RDWR);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(log, 2);
		execl(activate, activate, "-l", d->sock, "-E", "MCPPOOL_LOG_LEVEL=debug", "-E",
		      "ASAN_OPTIONS=detect_leaks=1", daemon, "--servers", d->servers, "--env-file",
		      "/dev/null", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(d->sock, F_OK) < 0; i++)
		it_sleep_ms(10);
	cr_assert(access(d->sock, F_OK) == 0, "systemd-socket-activate made no socket; see %s",
		  d->log);
}

Test(ops, socket_activation_serves_calls_on_the_passed_socket, .timeout = 600)
{
	struct itd d;
	struct stat st;

	start_socket_activated(&d);
	json_t *r = itd_ctl_json(&d, NULL, ARGS("call", "alice", "demo", "echo", "{\"message\":\"hi\"}"));
	cr_assert(r, "no reply; see %s", d.log);
	cr_expect_str_eq(it_text(r), "hi");
	json_decref(r);
	cr_expect(itd_log_contains(&d, "socket activation: listening on the passed socket"),
		  "see %s", d.log);
	cr_expect(itd_log_contains(&d, d.sock), "the log names the passed socket; see %s", d.log);
	itd_stop(&d);
	/* The file is systemd's: mcppoold must not remove what it did not create. */
	cr_expect(stat(d.sock, &st) == 0 && S_ISSOCK(st.st_mode),
		  "the passed socket's file was removed");
	it_assert_no_children();
}

Test(ops, socket_activation_refuses_a_passed_socket_that_is_not_unix_stream)
{
	/* LISTEN_FDS names descriptor 3, here a pipe: refused at start, exit 1, nothing bound. */
	struct itd d;
	int p[2];
	char pidenv[32];

	cr_assert(pipe(p) == 0);
	memset(&d, 0, sizeof(d));
	strcpy(d.dir, "/tmp/mcppool-it-XXXXXX");
	cr_assert(mkdtemp(d.dir));
	snprintf(d.log, sizeof(d.log), "%s/mcppoold.log", d.dir);
	snprintf(d.sock, sizeof(d.sock), "%s/sock", d.dir);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		char daemon[4096];
		int log = open(d.log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		it_bin("mcppoold", daemon, sizeof(daemon));
		dup2(p[0], 3);
		dup2(log, 2);
		snprintf(pidenv, sizeof(pidenv), "%d", getpid());
		setenv("LISTEN_PID", pidenv, 1);
		setenv("LISTEN_FDS", "1", 1);
		execl(daemon, daemon, "-s", d.sock, "--env-file", "/dev/null", (char *)NULL);
		_exit(127);
	}
	int status;
	cr_assert(waitpid(pid, &status, 0) == pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
	cr_expect(itd_log_contains(&d, "socket activation: descriptor 3 is not a listening Unix"),
		  "see %s", d.log);
	cr_expect(access(d.sock, F_OK) < 0, "mcppoold bound its own socket instead");
	close(p[0]);
	close(p[1]);
}

Test(ops, make_install_puts_the_units_where_systemd_reads_them)
{
	char dest[] = "/tmp/mcppool-ops-install-XXXXXX", destvar[300], bvar[300], path[400];
	char *out = NULL, *unit;

	cr_assert(mkdtemp(dest));
	snprintf(destvar, sizeof(destvar), "DESTDIR=%s", dest);
	snprintf(bvar, sizeof(bvar), "B=%s", it_build());
	int rc = run_cmd(ARGS("make", "-s", "install", destvar, bvar, "PREFIX=/usr"), &out);
	cr_assert_eq(rc, 0, "make install:\n%s", out);
	free(out);
	snprintf(path, sizeof(path), "%s/usr/lib/systemd/system/mcppoold.service", dest);
	unit = read_text(path);
	cr_expect(strstr(unit, "ExecStart=/usr/sbin/mcppoold"), "%s:\n%s", path, unit);
	cr_expect(strstr(unit, "Type=notify"));
	cr_expect(!strstr(unit, "@SBINDIR@"));
	free(unit);
	snprintf(path, sizeof(path), "%s/usr/lib/systemd/system/mcppoold.socket", dest);
	unit = read_text(path);
	cr_expect(strstr(unit, "ListenStream=/run/mcppool/mcppool.sock"), "%s:\n%s", path, unit);
	free(unit);
	run_cmd(ARGS("rm", "-rf", dest), NULL);
}

Test(ops, systemd_units_pass_systemd_analyze_verify, .timeout = 600)
{
	char dir[] = "/tmp/mcppool-ops-units-XXXXXX", daemon[4096], sed[5000], svc[100], sock[100];
	char *out = NULL;

	need_tools();
	cr_assert(mkdtemp(dir));
	it_bin("mcppoold", daemon, sizeof(daemon));
	/* ExecStart must name an executable: the unit as installed, pointing at this build. */
	snprintf(svc, sizeof(svc), "%s/mcppoold.service", dir);
	snprintf(sock, sizeof(sock), "%s/mcppoold.socket", dir);
	snprintf(sed, sizeof(sed), "sed 's|@SBINDIR@/mcppoold|%s|' contrib/systemd/mcppoold.service.in > %s"
		 " && cp contrib/systemd/mcppoold.socket %s", daemon, svc, sock);
	cr_assert_eq(run_cmd(ARGS("sh", "-c", sed), NULL), 0);
	int rc = run_cmd(ARGS("systemd-analyze", "verify", "--man=no", svc, sock), &out);
	if (rc != 0 && (strstr(out, "Failed to") && (strstr(out, "bus") || strstr(out, "D-Bus") ||
						    strstr(out, "manager") || strstr(out, "cgroup")))) {
		run_cmd(ARGS("rm", "-rf", dir), NULL);
		cr_skip_test("systemd-analyze verify cannot run in this container: %s", out);
	}
	cr_expect_eq(rc, 0, "systemd-analyze verify:\n%s", out);
	cr_expect(!strstr(out, "mcppoold."), "systemd-analyze verify warned about our units:\n%s",
		  out);
	free(out);
	run_cmd(ARGS("rm", "-rf", dir), NULL);
}

/* ---- example configurations ------------------------------------------------------ */

Test(ops, example_env_files_load_with_check_config)
{
	glob_t g;
	char daemon[4096];

	it_bin("mcppoold", daemon, sizeof(daemon));
	cr_assert_eq(glob("contrib/env/*.env", 0, NULL, &g), 0, "no contrib/env/*.env");
	cr_expect_geq(g.gl_pathc, 3, "development, test and production");
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char *out = NULL, *file = read_text(g.gl_pathv[i]);
		int rc = run_cmd(ARGS("env", "-u", "MAX_CONNECTIONS_PER_USER", "-u",
				  "MAX_TOTAL_CONNECTIONS", "-u", "CONNECTION_TIMEOUT", "-u",
				  "CLEANUP_INTERVAL", "-u", "MCPPOOL_SERVERS", "-u", "MCPPOOL_SOCKET",
				  daemon, "--check-config", "--env-file", g.gl_pathv[i]),
			     &out);
		cr_expect_eq(rc, 0, "%s:\n%s", g.gl_pathv[i], out);
		/* Every seed setting the file makes is the one in force. */
		static const char *const keys[] = { "MAX_CONNECTIONS_PER_USER=", "MAX_TOTAL_CONNECTIONS=",
						    "CONNECTION_TIMEOUT=", "CLEANUP_INTERVAL=", NULL };
		for (const char *const *k = keys; *k; k++) {
			char *line = strstr(file, *k), want[64];
			cr_assert(line, "%s does not set %s", g.gl_pathv[i], *k);
			size_t n = strlen(*k) + strspn(line + strlen(*k), "0123456789");
			snprintf(want, sizeof(want), "%.*s\n", (int)n, line);
			cr_expect(strstr(out, want), "%s: %s not in force:\n%s", g.gl_pathv[i], want, out);
		}
		free(file);
		free(out);
	}
	globfree(&g);
}
