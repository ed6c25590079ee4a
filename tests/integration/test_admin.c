/* Integration: the daemon's shell, configuration at start-up, and the admin commands' JSON. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(admin, .init = it_subreaper, .timeout = 60);

/* The seed's examples (seed/CONNECTION_POOL_CONFIG.md), verbatim. */
static const char *seed_pool_status =
	"{\"success\": true, \"data\": {\"totalConnections\": 5,"
	" \"userConnectionCounts\": {\"user1\": 2, \"user2\": 3},"
	" \"connectionDetails\": [{\"key\": \"user1:github-mcp\", \"name\": \"github-mcp\","
	" \"userId\": \"user1\", \"lastUsed\": \"2024-01-01T10:00:00.000Z\","
	" \"createTime\": \"2024-01-01T09:00:00.000Z\", \"idleMinutes\": 30}],"
	" \"config\": {\"maxConnectionsPerUser\": 10, \"maxTotalConnections\": 100,"
	" \"connectionTimeout\": 1800000, \"cleanupInterval\": 300000}}}";

static const char *seed_cleanup =
	"{\"success\": true, \"data\": {\"message\": \"Cleanup completed\","
	" \"before\": {\"totalConnections\": 10, \"userConnectionCounts\": {\"user1\": 5, \"user2\": 5}},"
	" \"after\": {\"totalConnections\": 6, \"userConnectionCounts\": {\"user1\": 3, \"user2\": 3}},"
	" \"cleanedConnections\": 4}}";

/*
 * Compares the shape of got with the seed's: same keys (got may add keys only
 * inside connectionDetails entries), same JSON types; the keys of
 * userConnectionCounts are user ids, so only their values' type is compared;
 * array elements are compared with the seed's first element.
 */
static void assert_same_shape(json_t *seed, json_t *got, const char *path, int extra_ok)
{
	const char *k;
	json_t *v;
	size_t i;

	cr_assert_eq(json_typeof(got), json_typeof(seed), "%s: type %d, seed has %d", path,
		     json_typeof(got), json_typeof(seed));
	if (json_is_object(seed)) {
		int counts = strstr(path, "userConnectionCounts") != NULL;
		if (counts) {
			json_object_foreach(got, k, v)
				cr_assert(json_is_integer(v), "%s.%s must be an integer", path, k);
			return;
		}
		json_object_foreach(seed, k, v) {
			char sub[256];
			snprintf(sub, sizeof(sub), "%s.%s", path, k);
			cr_assert(json_object_get(got, k), "%s missing", sub);
			assert_same_shape(v, json_object_get(got, k), sub, 0);
		}
		if (!extra_ok)
			json_object_foreach(got, k, v)
				cr_assert(json_object_get(seed, k), "%s.%s is not in the seed's shape",
					  path, k);
	} else if (json_is_array(seed)) {
		json_array_foreach(got, i, v) {
			char sub[256];
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			assert_same_shape(json_array_get(seed, 0), v, sub,
					  strstr(path, "connectionDetails") != NULL);
		}
	}
}

/* Asserts that got has the shape of the seed's example text. */
static void assert_seed_shape(const char *text, json_t *got)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	cr_assert(j, "seed JSON: %s", e.text);
	assert_same_shape(j, got, "$", 0);
	json_decref(j);
}

Test(admin, pool_status_with_no_connections_has_the_seed_shape_and_defaults)
{
	struct itd d;
	int st;

	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("pool-status"));
	cr_assert_eq(st, 0);
	assert_seed_shape(seed_pool_status, r);
	json_t *data = it_data(r);
	cr_assert_eq(json_integer_value(json_object_get(data, "totalConnections")), 0);
	cr_assert_eq(json_object_size(json_object_get(data, "userConnectionCounts")), 0);
	cr_assert_eq(json_array_size(json_object_get(data, "connectionDetails")), 0);
	json_t *cfg = json_object_get(data, "config");
	cr_assert_eq(json_integer_value(json_object_get(cfg, "maxConnectionsPerUser")), 10);
	cr_assert_eq(json_integer_value(json_object_get(cfg, "maxTotalConnections")), 100);
	cr_assert_eq(json_integer_value(json_object_get(cfg, "connectionTimeout")), 1800000);
	cr_assert_eq(json_integer_value(json_object_get(cfg, "cleanupInterval")), 300000);
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

Test(admin, pool_status_with_connections_has_the_seed_shape)
{
	struct itd d;
	int st;

	itd_start(&d, NULL, NULL);
	json_decref(itd_ctl_json(&d, &st, ARGS("call", "user1", "demo", "echo", "{\"message\":\"x\"}")));
	cr_assert_eq(st, 0);
	json_decref(itd_ctl_json(&d, &st, ARGS("call", "user2", "demo", "echo", "{\"message\":\"y\"}")));
	json_t *r = itd_ctl_json(&d, &st, ARGS("pool-status"));
	assert_seed_shape(seed_pool_status, r);
	json_t *data = it_data(r);
	cr_assert_eq(json_integer_value(json_object_get(data, "totalConnections")), 2);
	json_t *det = json_array_get(json_object_get(data, "connectionDetails"), 0);
	const char *last = json_string_value(json_object_get(det, "lastUsed"));
	/* ISO-8601 UTC with milliseconds: 2024-01-01T10:00:00.000Z */
	cr_assert_eq(strlen(last), 24);
	cr_assert(last[10] == 'T' && last[19] == '.' && last[23] == 'Z', "lastUsed %s", last);
	cr_assert_eq(json_integer_value(json_object_get(det, "idleMinutes")), 0);
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

Test(admin, cleanup_has_the_seed_shape)
{
	struct itd d;
	int st;

	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("cleanup"));
	cr_assert_eq(st, 0);
	assert_seed_shape(seed_cleanup, r);
	json_t *data = it_data(r);
	cr_assert_str_eq(json_string_value(json_object_get(data, "message")), "Cleanup completed");
	cr_assert_eq(json_integer_value(json_object_get(data, "cleanedConnections")), 0);
	json_decref(r);
	itd_stop(&d);
}

Test(admin, pretty_prints_the_same_json_indented)
{
	struct itd d;
	char *compact, *pretty;

	itd_start(&d, NULL, NULL);
	cr_assert_eq(itd_ctl(&d, &compact, NULL, ARGS("pool-status")), 0);
	cr_assert_eq(itd_ctl(&d, &pretty, NULL, ARGS("--pretty", "pool-status")), 0);
	cr_assert(strchr(pretty, '\n') != strrchr(pretty, '\n'), "--pretty output is one line");
	json_t *a = json_loads(compact, 0, NULL), *b = json_loads(pretty, 0, NULL);
	json_object_del(json_object_get(a, "data"), "connectionDetails");
	json_object_del(json_object_get(b, "data"), "connectionDetails");
	cr_assert(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	free(compact);
	free(pretty);
	itd_stop(&d);
}

Test(admin, mcpctl_exits_69_when_no_daemon_listens)
{
	struct itd d;
	char *out;

	memset(&d, 0, sizeof(d));
	snprintf(d.sock, sizeof(d.sock), "/tmp/mcppool-it-nonexistent-%d.sock", getpid());
	cr_assert_eq(itd_ctl(&d, &out, NULL, ARGS("pool-status")), 69);
	json_t *r = json_loads(out, 0, NULL);
	cr_assert(r, "mcpctl printed no JSON: %s", out);
	cr_assert(json_is_false(json_object_get(r, "success")));
	json_decref(r);
	free(out);
}

Test(admin, socket_is_created_with_mode_0600)
{
	struct itd d;
	struct stat st;

	itd_start(&d, NULL, NULL);
	cr_assert(stat(d.sock, &st) == 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	itd_stop(&d);
}

Test(admin, sigterm_stops_cleanly_and_removes_the_socket)
{
	struct itd d;

	itd_start(&d, NULL, NULL);
	itd_stop(&d);
	cr_assert_eq(d.exit_status, 0);
	cr_assert(access(d.sock, F_OK) != 0, "socket file left behind");
	cr_assert(itd_log_contains(&d, "stopping"));
}

Test(admin, refuses_to_start_when_another_daemon_is_live_on_the_socket)
{
	struct itd a, b;

	itd_start(&a, NULL, NULL);
	memset(&b, 0, sizeof(b));
	/* Same socket path, own log. */
	int rc = itd_run_to_exit(&b, NULL, NULL, ARGS("-s", a.sock));
	cr_assert_eq(rc, 1, "second daemon exit status %d", rc);
	cr_assert(itd_log_contains(&b, "already listening"));
	/* The first one still serves. */
	int st;
	json_decref(itd_ctl_json(&a, &st, ARGS("pool-status")));
	cr_assert_eq(st, 0);
	itd_stop(&a);
}

Test(admin, replaces_a_stale_socket_file)
{
	struct itd a;
	int status;

	itd_start(&a, NULL, NULL);
	kill(a.pid, SIGKILL); /* leaves its socket file behind */
	waitpid(a.pid, &status, 0);
	cr_assert(access(a.sock, F_OK) == 0);
	a.pid = 0;

	struct itd b;
	/* Start for real on the stale path: it is replaced and served. */
	itd_start_sock(&b, NULL, NULL, a.sock);
	int st;
	json_decref(itd_ctl_json(&b, &st, ARGS("pool-status")));
	cr_assert_eq(st, 0);
	cr_assert(itd_log_contains(&b, "stale socket"));
	itd_stop(&b);
}

Test(admin, refuses_a_socket_path_that_is_a_regular_file)
{
	struct itd d;
	char path[400];
	FILE *f;

	memset(&d, 0, sizeof(d));
	snprintf(path, sizeof(path), "/tmp/mcppool-it-regular-%d", getpid());
	f = fopen(path, "w");
	fputs("precious", f);
	fclose(f);
	int rc = itd_run_to_exit(&d, NULL, NULL, ARGS("-s", path));
	cr_assert_eq(rc, 1);
	cr_assert(itd_log_contains(&d, "not a socket"));
	cr_assert(access(path, F_OK) == 0, "the file was deleted");
	unlink(path);
}

/* ---- configuration errors stop start-up with exit status 78 ---- */

static void assert_config_error(const char *setting, const char *needle)
{
	struct itd d;
	const char *env[] = { setting, NULL };
	int rc = itd_run_to_exit(&d, NULL, env, NULL);
	cr_assert_eq(rc, 78, "%s: exit status %d", setting, rc);
	cr_assert(itd_log_contains(&d, needle), "%s: log lacks \"%s\"", setting, needle);
}

Test(admin, non_number_is_a_config_error)
{
	assert_config_error("MAX_TOTAL_CONNECTIONS=abc", "MAX_TOTAL_CONNECTIONS");
}

Test(admin, negative_is_a_config_error)
{
	assert_config_error("CONNECTION_TIMEOUT=-5", "CONNECTION_TIMEOUT");
}

Test(admin, zero_is_a_config_error)
{
	assert_config_error("CLEANUP_INTERVAL=0", "CLEANUP_INTERVAL");
}

Test(admin, overflow_is_a_config_error)
{
	assert_config_error("MAX_CONNECTIONS_PER_USER=99999999999999999999999", "MAX_CONNECTIONS_PER_USER");
}

Test(admin, trailing_junk_is_a_config_error)
{
	assert_config_error("REQUEST_TIMEOUT=100ms", "REQUEST_TIMEOUT");
}

Test(admin, per_user_above_total_is_a_config_error)
{
	struct itd d;
	const char *env[] = { "MAX_CONNECTIONS_PER_USER=20", "MAX_TOTAL_CONNECTIONS=10", NULL };
	cr_assert_eq(itd_run_to_exit(&d, NULL, env, NULL), 78);
	cr_assert(itd_log_contains(&d, "MAX_CONNECTIONS_PER_USER"));
}

Test(admin, malformed_catalog_is_a_config_error_with_line_and_column)
{
	struct itd d;
	int rc = itd_run_to_exit(&d, "{\"mcpServers\": {\n  \"demo\": {\"command\": }\n}}", NULL, NULL);
	cr_assert_eq(rc, 78);
	cr_assert(itd_log_contains(&d, "servers.json:2:"), "no line:column in the error");
}

Test(admin, catalog_name_with_colon_is_a_config_error)
{
	struct itd d;
	int rc = itd_run_to_exit(&d, "{\"mcpServers\": {\"a:b\": {\"command\": \"x\"}}}", NULL, NULL);
	cr_assert_eq(rc, 78);
	cr_assert(itd_log_contains(&d, "a:b"));
}

Test(admin, missing_catalog_file_is_a_config_error)
{
	struct itd d;
	int rc = itd_run_to_exit(&d, NULL, NULL, ARGS("--servers", "/nonexistent/servers.json"));
	cr_assert_eq(rc, 78);
	cr_assert(itd_log_contains(&d, "/nonexistent/servers.json"));
}

Test(admin, check_config_prints_the_effective_configuration)
{
	struct itd d;
	const char *env[] = { "MAX_TOTAL_CONNECTIONS=50", NULL };
	int rc = itd_run_to_exit(&d, NULL, env, ARGS("--check-config"));
	cr_assert_eq(rc, 0);
}

Test(admin, servers_lists_the_catalog_without_secrets)
{
	struct itd d;
	int st;

	itd_start(&d, FIXTURE_CATALOG(", \"gh\": {\"command\": \"@FIXTURE@\", \"env\": "
				      "{\"TOKEN\": \"${auth.token}\", \"STATIC_SECRET\": \"hunter2\"}}"),
		  NULL);
	char *out;
	st = itd_ctl(&d, &out, NULL, ARGS("servers"));
	cr_assert_eq(st, 0);
	cr_assert(strstr(out, "\"gh\"") && strstr(out, "\"demo\""), "%s", out);
	cr_assert(strstr(out, "stdio"));
	cr_assert_null(strstr(out, "hunter2"), "a static secret leaked: %s", out);
	free(out);
	itd_stop(&d);
}

Test(admin, metrics_prints_prometheus_text)
{
	struct itd d;
	char *out;

	itd_start(&d, NULL, NULL);
	cr_assert_eq(itd_ctl(&d, &out, NULL, ARGS("metrics")), 0);
	cr_assert(strstr(out, "# TYPE mcppool_connections gauge"), "%s", out);
	cr_assert(strstr(out, "mcppool_connections_total 0"), "%s", out);
	free(out);
	itd_stop(&d);
}

/* Every metric the daemon exposes is documented in mcppoold(8). */
Test(admin, every_metric_is_in_the_man_page)
{
	static char page[65536];
	struct itd d;
	char *out, *line, *save = NULL;
	FILE *f = fopen("man/mcppoold.8", "r");
	size_t n;
	int seen = 0;

	cr_assert_not_null(f);
	n = fread(page, 1, sizeof(page) - 1, f);
	fclose(f);
	page[n] = '\0';
	itd_start(&d, NULL, NULL);
	cr_assert_eq(itd_ctl(&d, &out, NULL, ARGS("metrics")), 0);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128];

		if (sscanf(line, "# TYPE %127s", name) != 1)
			continue;
		seen++;
		cr_assert(strstr(page, name), "metric %s is not in man/mcppoold.8", name);
	}
	cr_assert_gt(seen, 10, "too few metrics seen: %d", seen);
	free(out);
	itd_stop(&d);
}

Test(admin, servers_shows_urls_without_credentials_or_query)
{
	struct itd d;
	char *out;

	itd_start(&d, FIXTURE_CATALOG(", \"remote\": {\"url\": \"http://bob:pw@127.0.0.1:9/mcp?key=s3cr3t#x\"}"),
		  NULL);
	cr_assert_eq(itd_ctl(&d, &out, NULL, ARGS("servers")), 0);
	cr_assert(strstr(out, "\"http://127.0.0.1:9/mcp\""), "%s", out);
	cr_assert_null(strstr(out, "s3cr3t"), "%s", out);
	cr_assert_null(strstr(out, "pw@"), "%s", out);
	free(out);
	itd_stop(&d);
}

Test(admin, env_file_settings_apply_and_the_process_environment_wins)
{
	struct itd d;
	char path[400];
	int st;
	FILE *f;

	/* The temp dir exists only once the daemon is prepared: write the file to /tmp. */
	snprintf(path, sizeof(path), "/tmp/mcppool-it-env-%d", getpid());
	f = fopen(path, "w");
	fputs("# seed settings\nexport MAX_TOTAL_CONNECTIONS=42\nMAX_CONNECTIONS_PER_USER='7'\n"
	      "CLEANUP_INTERVAL=\"60000\"\n", f);
	fclose(f);
	const char *env[] = { "MAX_CONNECTIONS_PER_USER=3", NULL };
	itd_start_args(&d, NULL, env, NULL, ARGS("--env-file", path));
	json_t *r = itd_ctl_json(&d, &st, ARGS("pool-status"));
	json_t *cfg = json_object_get(it_data(r), "config");
	cr_assert_eq(json_integer_value(json_object_get(cfg, "maxTotalConnections")), 42);
	cr_assert_eq(json_integer_value(json_object_get(cfg, "maxConnectionsPerUser")), 3,
		     "the .env file won over the process environment");
	cr_assert_eq(json_integer_value(json_object_get(cfg, "cleanupInterval")), 60000);
	json_decref(r);
	itd_stop(&d);
	unlink(path);
}

Test(admin, a_socket_group_makes_the_socket_0660_with_that_group)
{
	struct itd d;
	struct stat st;
	const char *env[] = { "MCPPOOL_SOCKET_GROUP=nogroup", NULL };

	if (getuid() != 0)
		cr_skip_test("needs root to give the socket another group");
	itd_start(&d, NULL, env);
	cr_assert(stat(d.sock, &st) == 0);
	cr_assert_eq(st.st_mode & 0777, 0660, "mode %o", st.st_mode & 0777);
	cr_assert_eq(st.st_gid, 65534, "gid %u", (unsigned)st.st_gid);
	itd_stop(&d);
}
