/* Integration: observability and loud configuration — per-server metrics, the access log, JSON logs, configuration warnings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(observe, .init = it_subreaper, .timeout = 60);

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	cr_assert(buf);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

struct lines_wait {
	const char *path;
	int lines;
};

static bool has_lines(void *arg)
{
	struct lines_wait *w = arg;
	char *text = read_all(w->path);
	bool ok = count_of(text, "\n") >= w->lines;

	free(text);
	return ok;
}

/* ---- metrics by catalog server ------------------------------------------------ */

Test(observe, metrics_count_requests_outcomes_connections_and_latency_by_catalog_server)
{
	struct itd d;
	char *text = NULL;

	itd_start(&d, FIXTURE_CATALOG(", \"unused\": {\"command\": \"@FIXTURE@\"}"), NULL);
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("call", "alice", "demo", "echo",
						   "{\"message\": \"hi\"}")), 0);
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("call", "alice", "demo", "error")), 1);
	cr_expect_eq(itd_metric(&d, "mcppool_server_requests_total{server=\"demo\"}"), 2);
	cr_expect_eq(itd_metric(&d, "mcppool_server_replies_total{server=\"demo\",code=\"OK\"}"), 1);
	cr_expect_eq(itd_metric(&d, "mcppool_server_replies_total{server=\"demo\",code=\"UPSTREAM_ERROR\"}"), 1);
	cr_expect_eq(itd_metric(&d, "mcppool_server_connections{server=\"demo\",state=\"idle\"}"), 1);
	cr_expect_eq(itd_metric(&d, "mcppool_request_duration_seconds_count{server=\"demo\"}"), 2);
	cr_expect_eq(itd_metric(&d, "mcppool_request_duration_seconds_bucket{server=\"demo\",le=\"+Inf\"}"), 2);
	cr_expect_gt(itd_metric(&d, "mcppool_request_duration_seconds_sum{server=\"demo\"}"), 0);
	cr_expect_eq(itd_metric(&d, "mcppool_start_duration_seconds_count{server=\"demo\"}"), 1);
	/* A catalog server never used is exposed at zero, so rate() and alerts see it from the start. */
	cr_expect_eq(itd_metric(&d, "mcppool_server_requests_total{server=\"unused\"}"), 0);
	cr_expect_eq(itd_metric(&d, "mcppool_start_duration_seconds_count{server=\"unused\"}"), 0);
	cr_assert_eq(itd_ctl(&d, &text, NULL, ARGS("metrics")), 0);
	cr_expect_null(strstr(text, "alice"), "a user id in the metrics:\n%s", text);
	free(text);
	itd_stop(&d);
}

Test(observe, start_failures_are_counted_by_server)
{
	struct itd d;

	itd_start(&d, "{\"mcpServers\": {\"broken\": {\"command\": \"/nonexistent/mcp-server\"}}}",
		  NULL);
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("call", "alice", "broken", "echo")), 1);
	cr_expect_eq(itd_metric(&d, "mcppool_server_start_failures_total{server=\"broken\"}"), 1);
	cr_expect_eq(itd_metric(&d, "mcppool_server_replies_total{server=\"broken\",code=\"UPSTREAM_START_FAILED\"}"), 1);
	itd_stop(&d);
}

Test(observe, the_daemon_warns_once_when_the_pool_passes_80_percent_of_max_total)
{
	struct itd d;
	char user[16];

	itd_start(&d, FIXTURE_CATALOG(""),
		  ARGS("MAX_TOTAL_CONNECTIONS=5", "MAX_CONNECTIONS_PER_USER=5"));
	for (int i = 1; i <= 4; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("warm", user, "demo")), 0);
	}
	cr_expect_not(itd_log_contains(&d, "above 80%"), "4 of 5 is not above 80%%: see %s", d.log);
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("warm", "u5", "demo")), 0);
	cr_assert(itd_wait_log(&d, "the pool is above 80% of MAX_TOTAL_CONNECTIONS: 5 of 5", 5000),
		  "see %s", d.log);
	/* A sixth user evicts an idle connection: still above, and warned a minute ago. */
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("warm", "u6", "demo")), 0);
	char *log = read_all(d.log);
	cr_expect_eq(count_of(log, "above 80%"), 1, "rate-limited to once a minute:\n%s", log);
	free(log);
	itd_stop(&d);
}

/* ---- the access log and JSON logs ---------------------------------------------- */

Test(observe, the_access_log_has_one_line_per_request_and_never_arguments_or_auth)
{
	char dir[] = "/tmp/mcppool-it-access-XXXXXX", path[128], env[160];
	struct itd d;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/access.log", dir);
	snprintf(env, sizeof(env), "MCPPOOL_ACCESS_LOG=%s", path);
	itd_start(&d, "{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\", "
		      "\"env\": {\"T\": \"${auth.token}\"}}}}", ARGS(env));
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("call", "alice", "demo", "echo",
						   "{\"message\": \"ARG-SECRET\"}", "-a",
						   "token=AUTH-SECRET")), 0);
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("call", "alice", "demo", "error", "{}", "-a",
						   "token=AUTH-SECRET")), 1);
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("tools", "bob", "demo", "-a", "token=x")), 0);
	cr_assert(it_poll(has_lines, &(struct lines_wait){ path, 3 }, 5000), "3 lines in %s", path);
	char *log = read_all(path);
	cr_expect_eq(count_of(log, "\n"), 3, "%s", log);
	cr_expect(strstr(log, " ACCESS key=alice:demo method=tools/call tool=echo ms="), "%s", log);
	cr_expect(strstr(log, "tool=echo ms="), "%s", log);
	cr_expect(strstr(log, " code=OK\n"), "%s", log);
	cr_expect(strstr(log, "tool=error ms="), "%s", log);
	cr_expect(strstr(log, " code=UPSTREAM_ERROR\n"), "%s", log);
	cr_expect(strstr(log, "key=bob:demo method=tools/list ms="), "%s", log);
	cr_expect_null(strstr(log, "ARG-SECRET"), "arguments in the access log:\n%s", log);
	cr_expect_null(strstr(log, "AUTH-SECRET"), "an auth value in the access log:\n%s", log);
	free(log);
	itd_stop(&d);
	char *daemon_log = read_all(d.log);
	cr_expect_null(strstr(daemon_log, " ACCESS "), "access lines went to the file only");
	free(daemon_log);
	unlink(path);
	rmdir(dir);
}

Test(observe, log_format_json_writes_one_object_per_line_with_its_key)
{
	struct itd d;
	bool ready = false, access = false;

	itd_start(&d, FIXTURE_CATALOG(""), ARGS("MCPPOOL_LOG_FORMAT=json", "MCPPOOL_ACCESS_LOG=-"));
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("call", "alice", "demo", "echo",
						   "{\"message\": \"hi\"}")), 0);
	itd_stop(&d);
	char *log = read_all(d.log), *save = NULL;
	for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je);
		cr_assert(json_is_object(o), "not a JSON object: %s (%s)", line, je.text);
		cr_expect(json_is_string(json_object_get(o, "ts")), "%s", line);
		cr_expect(json_is_string(json_object_get(o, "level")), "%s", line);
		cr_expect(json_is_string(json_object_get(o, "msg")), "%s", line);
		const char *key = json_string_value(json_object_get(o, "key"));
		const char *msg = json_string_value(json_object_get(o, "msg"));
		if (key && strcmp(key, "alice:demo") == 0 && msg && strncmp(msg, "ready", 5) == 0)
			ready = true;
		if (msg && strcmp(msg, "request") == 0) {
			access = true;
			cr_expect_str_eq(json_string_value(json_object_get(o, "code")), "OK");
			cr_expect_str_eq(json_string_value(json_object_get(o, "tool")), "echo");
			cr_expect(json_is_real(json_object_get(o, "duration_ms")), "%s", line);
		}
		json_decref(o);
	}
	cr_expect(ready, "no {\"key\":\"alice:demo\",\"msg\":\"ready ...\"} line in %s", d.log);
	cr_expect(access, "no access line in %s", d.log);
	free(log);
}

/* The .env file's own mistakes are told in the format that file asks for. */
Test(observe, a_json_log_format_from_the_env_file_covers_its_own_warnings)
{
	char path[] = "/tmp/mcppool-observe-env-XXXXXX";
	static const char text[] = "MCPPOOL_LOG_FORMAT=json\nMAX_CONECTIONS_PER_USER=3\n";
	bool warned = false;
	struct itd d;
	int fd;

	cr_assert((fd = mkstemp(path)) >= 0);
	cr_assert(write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1));
	close(fd);
	itd_start_args(&d, NULL, NULL, NULL, ARGS("--env-file", path));
	itd_stop(&d);
	unlink(path);
	char *log = read_all(d.log), *save = NULL;
	for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		const char *msg = json_string_value(json_object_get(o, "msg"));

		cr_assert(json_is_object(o), "not a JSON object: %s", line);
		warned |= msg && strstr(msg, "did you mean MAX_CONNECTIONS_PER_USER") != NULL;
		json_decref(o);
	}
	cr_expect(warned, "no JSON warning about MAX_CONECTIONS_PER_USER in %s", d.log);
	free(log);
}

Test(observe, bad_log_format_stops_start_up_naming_the_variable)
{
	struct itd d;

	cr_expect_eq(itd_run_to_exit(&d, NULL, ARGS("MCPPOOL_LOG_FORMAT=xml"), NULL), 78);
	cr_expect(itd_log_contains(&d, "MCPPOOL_LOG_FORMAT=\"xml\": unknown format (expected text or json)"),
		  "see %s", d.log);
}

/* ---- the catalog's timeout and disabled ---------------------------------------- */

Test(observe, an_entrys_timeout_is_its_requests_deadline)
{
	struct itd d;
	int status;

	itd_start(&d, "{\"mcpServers\": {\"slow\": {\"command\": \"@FIXTURE@\", \"timeout\": 200}}}",
		  NULL);
	json_t *r = itd_ctl_json(&d, &status, ARGS("call", "alice", "slow", "sleep", "{\"ms\": 5000}"));
	cr_expect_eq(status, 1);
	cr_expect_str_eq(it_error_code(r), "UPSTREAM_TIMEOUT");
	const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
	cr_expect(msg && strstr(msg, "200 ms"), "%s", msg ? msg : "(none)");
	json_decref(r);
	/* The call's own --timeout still wins over the entry's. */
	r = itd_ctl_json(&d, &status, ARGS("call", "alice", "slow", "sleep", "{\"ms\": 300}",
					   "--timeout", "5000"));
	cr_expect_eq(status, 0, "%s", it_text(r));
	json_decref(r);
	itd_stop(&d);
}

Test(observe, a_disabled_entry_is_not_listed_and_calls_to_it_say_it_is_disabled)
{
	struct itd d;
	char *out = NULL;
	int status;

	itd_start(&d, FIXTURE_CATALOG(", \"off\": {\"command\": \"@FIXTURE@\", \"disabled\": true}"),
		  NULL);
	cr_assert_eq(itd_ctl(&d, &out, NULL, ARGS("servers")), 0);
	cr_expect(strstr(out, "\"demo\""), "%s", out);
	cr_expect_null(strstr(out, "\"off\""), "%s", out);
	free(out);
	json_t *r = itd_ctl_json(&d, &status, ARGS("call", "alice", "off", "echo"));
	cr_expect_eq(status, 1);
	cr_expect_str_eq(it_error_code(r), "UNKNOWN_MCP");
	const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
	cr_expect(msg && strstr(msg, "\"off\" is disabled"), "%s", msg ? msg : "(none)");
	json_decref(r);
	itd_stop(&d);
}

/* ---- loud configuration --------------------------------------------------------- */

Test(observe, check_config_warns_of_misspelt_variables_commands_sockets_and_milliseconds)
{
	char dir[] = "/tmp/mcppool-it-conf-XXXXXX", env_file[128];
	struct itd d;

	cr_assert(mkdtemp(dir));
	snprintf(env_file, sizeof(env_file), "%s/mcppool.env", dir);
	write_file(env_file, "MAX_CONECTIONS_PER_USER=3\nMCPPOOL_NO_SUCH=1\nREQUEST_TIMEOUT=30\n"
			     "APP_SECRET=not-ours\n");
	int rc = itd_run_to_exit(&d, "{\"mcpServers\": {\"spaced\": {\"command\": \"npx -y @x/server\"},"
				  " \"missing\": {\"command\": \"no-such-mcp-command\"}}}",
				  ARGS("CLEANUP_INTERVALL=5000"),
				  ARGS("--check-config", "--env-file", env_file, "-s",
				       "/nonexistent-mcppool-dir/mcppool.sock"));
	cr_expect_eq(rc, 0, "warnings do not stop --check-config (see %s)", d.log);
	cr_expect(itd_log_contains(&d, "unknown variable MAX_CONECTIONS_PER_USER, ignored: did you "
				   "mean MAX_CONNECTIONS_PER_USER?"), "see %s", d.log);
	cr_expect(itd_log_contains(&d, "the environment: unknown variable CLEANUP_INTERVALL, "
				   "ignored: did you mean CLEANUP_INTERVAL?"), "see %s", d.log);
	cr_expect(itd_log_contains(&d, "unknown variable MCPPOOL_NO_SUCH"), "see %s", d.log);
	cr_expect_not(itd_log_contains(&d, "APP_SECRET"), "the app's own variables are its business");
	cr_expect(itd_log_contains(&d, "{\"command\": \"npx\", \"args\": [\"-y\", \"@x/server\"]}"),
		  "see %s", d.log);
	cr_expect(itd_log_contains(&d, "command \"no-such-mcp-command\" is not found on the PATH"),
		  "see %s", d.log);
	cr_expect(itd_log_contains(&d, "the socket's directory /nonexistent-mcppool-dir"),
		  "see %s", d.log);
	cr_expect(itd_log_contains(&d, "REQUEST_TIMEOUT=30 is 30 milliseconds, below one second"),
		  "see %s", d.log);
	unlink(env_file);
	rmdir(dir);
}

Test(observe, the_start_up_log_names_every_timeout_in_force)
{
	struct itd d;

	itd_start(&d, "{\"mcpServers\": {\"slow\": {\"command\": \"@FIXTURE@\", \"timeout\": 250}}}",
		  ARGS("REQUEST_TIMEOUT=4321"));
	cr_expect(itd_log_contains(&d, "timeouts in force (ms): CONNECTION_TIMEOUT=1800000 "
				   "CLEANUP_INTERVAL=300000 REQUEST_TIMEOUT=4321 "), "see %s", d.log);
	cr_expect(itd_log_contains(&d, "MCPPOOL_SHUTDOWN_TIMEOUT="), "see %s", d.log);
	cr_expect(itd_log_contains(&d, " slow.timeout=250"), "see %s", d.log);
	itd_stop(&d);
}

Test(observe, env_references_in_the_catalog_take_the_daemons_environment)
{
	struct itd d;
	int status;

	itd_start(&d, "{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\", "
		      "\"env\": {\"T\": \"tok-${env.IT_OBSERVE_TOKEN}\"}}}}",
		  ARGS("IT_OBSERVE_TOKEN=from-daemon"));
	json_t *r = itd_ctl_json(&d, &status, ARGS("call", "alice", "demo", "getenv",
						   "{\"name\": \"T\"}"));
	cr_expect_eq(status, 0);
	cr_expect_str_eq(it_text(r), "tok-from-daemon");
	json_decref(r);
	itd_stop(&d);
}

Test(observe, an_env_reference_to_an_unset_variable_or_a_bare_dollar_brace_stops_start_up)
{
	struct itd d;

	cr_expect_eq(itd_run_to_exit(&d, "{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\", "
					 "\"env\": {\"T\": \"${env.IT_OBSERVE_UNSET}\"}}}}", NULL, NULL),
		     78);
	cr_expect(itd_log_contains(&d, "IT_OBSERVE_UNSET is not set in mcppoold's environment"),
		  "see %s", d.log);
	cr_expect_eq(itd_run_to_exit(&d, "{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\", "
					 "\"args\": [\"${TOKEN}\"]}}}", NULL, NULL),
		     78);
	cr_expect(itd_log_contains(&d, "\"${TOKEN}\" is not substituted: write ${auth.NAME}"),
		  "see %s", d.log);
}

Test(observe, auth_file_lines_follow_the_env_syntax_and_a_directory_is_refused)
{
	char file[300], *err = NULL;
	struct itd d;
	int status;

	itd_start(&d, "{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\", "
		      "\"env\": {\"T\": \"${auth.token}\", \"U\": \"${auth.user.id}\"}}}}", NULL);
	snprintf(file, sizeof(file), "%s/alice.auth", d.dir);
	write_file(file, "# alice's credentials\nexport token = \"a b#c\"  # quoted\nuser.id='x y'\n");
	json_t *r = itd_ctl_json(&d, &status, ARGS("call", "alice", "demo", "getenv",
						   "{\"name\": \"T\"}", "--auth-file", file));
	cr_expect_eq(status, 0);
	cr_expect_str_eq(it_text(r), "a b#c");
	json_decref(r);
	r = itd_ctl_json(&d, &status, ARGS("call", "alice", "demo", "getenv", "{\"name\": \"U\"}",
					   "--auth-file", file));
	cr_expect_str_eq(it_text(r), "x y");
	json_decref(r);
	cr_expect_eq(itd_ctl(&d, NULL, &err, ARGS("call", "alice", "demo", "echo", "--auth-file",
						   d.dir)), 2);
	cr_expect(err && strstr(err, "is a directory"), "%s", err ? err : "");
	free(err);
	itd_stop(&d);
}

/* ---- mcpctl top ------------------------------------------------------------------ */

/* Runs a shell command line; returns its output (malloc'd) and sets *status. */
static char *sh(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	char *out = NULL;
	size_t len = 0, n;
	char buf[4096];

	cr_assert(p, "popen %s", cmd);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
		out = realloc(out, len + n + 1);
		memcpy(out + len, buf, n);
		len += n;
	}
	if (!out)
		out = calloc(1, 1);
	out[len] = '\0';
	int st = pclose(p);
	if (status)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

struct pane_wait {
	const char *tmux;
	const char *needle[3];
	char *last;
};

static bool pane_shows(void *arg)
{
	struct pane_wait *w = arg;
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s capture-pane -p -t top 2>&1", w->tmux);
	free(w->last);
	w->last = sh(cmd, NULL);
	for (int i = 0; i < 3 && w->needle[i]; i++)
		if (!strstr(w->last, w->needle[i]))
			return false;
	return true;
}

static bool session_gone(void *arg)
{
	char cmd[512];
	int status;

	snprintf(cmd, sizeof(cmd), "%s has-session -t top 2>/dev/null", (const char *)arg);
	free(sh(cmd, &status));
	return status != 0;
}

Test(observe, mcpctl_top_shows_each_users_connections_live_in_a_terminal_and_q_quits)
{
	char ctl[512], tmux[256], cmd[1400];
	struct itd d;
	int status;

	free(sh("command -v tmux >/dev/null || scripts/deps.sh tools >&2", NULL));
	it_bin("mcpctl", ctl, sizeof(ctl));
	itd_start(&d, FIXTURE_CATALOG(""), NULL);
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("warm", "alice", "demo")), 0);
	snprintf(tmux, sizeof(tmux), "env -u TMUX TERM=xterm tmux -f /dev/null -L mcppool-it-%ld",
		 (long)getpid());
	snprintf(cmd, sizeof(cmd), "%s new-session -d -s top -x 120 -y 30 '%s -s %s top' 2>&1",
		 tmux, ctl, d.sock);
	char *out = sh(cmd, &status);
	cr_assert_eq(status, 0, "%s: %s", cmd, out);
	free(out);
	struct pane_wait w = { tmux, { "mcppool top", "alice", "idle" }, NULL };
	cr_expect(it_poll(pane_shows, &w, 10000), "the pane shows:\n%s", w.last);
	/* A second user appears at the next refresh, and the server's rate is computed. */
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("warm", "bob", "demo")), 0);
	w.needle[0] = "bob";
	w.needle[1] = "REQ/S";
	w.needle[2] = NULL;
	cr_expect(it_poll(pane_shows, &w, 10000), "the pane shows:\n%s", w.last);
	free(w.last);
	snprintf(cmd, sizeof(cmd), "%s send-keys -t top q", tmux);
	free(sh(cmd, NULL));
	cr_expect(it_poll(session_gone, tmux, 10000), "q did not end mcpctl top");
	snprintf(cmd, sizeof(cmd), "%s kill-server 2>/dev/null", tmux);
	free(sh(cmd, NULL));
	itd_stop(&d);
	/* The tmux server was a daemon: reparented to us (the subreaper), reaped here. */
	for (int i = 0; i < 500 && waitpid(-1, NULL, WNOHANG) >= 0; i++)
		it_sleep_ms(10);
}

Test(observe, mcpctl_top_once_prints_one_frame_without_a_terminal)
{
	struct itd d;
	char *out = NULL;

	itd_start(&d, FIXTURE_CATALOG(""), NULL);
	cr_assert_eq(itd_ctl(&d, NULL, NULL, ARGS("warm", "alice", "demo")), 0);
	cr_assert_eq(itd_ctl(&d, &out, NULL, ARGS("top", "--once")), 0);
	cr_expect(strstr(out, "connections 1 of 100"), "%s", out);
	cr_expect(strstr(out, "alice"), "%s", out);
	cr_expect_null(strstr(out, "\033["), "no terminal escapes when not a terminal:\n%s", out);
	cr_expect_eq(count_of(out, "mcppool top"), 1, "one frame:\n%s", out);
	free(out);
	itd_stop(&d);
}
