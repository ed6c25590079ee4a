/*
 * Integration: reloading the configuration (SIGHUP, mcpctl reload). New limits
 * apply at once; a removed entry drains and is UNKNOWN_MCP for new requests; a
 * changed one reconnects on next use while an unchanged one keeps its server;
 * a bad configuration is refused and the old one kept; nothing in flight is
 * lost; the service manager hears RELOADING=1 then READY=1.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"

TestSuite(reload, .init = it_subreaper, .timeout = 60);

/* The test's .env file, given to the daemon with --env-file. */
struct envfile {
	char path[64];
};

static void env_write(struct envfile *e, const char *text)
{
	FILE *f;

	if (!e->path[0]) {
		int fd;

		strcpy(e->path, "/tmp/mcppool-reload-env-XXXXXX");
		fd = mkstemp(e->path);
		cr_assert(fd >= 0);
		close(fd);
	}
	f = fopen(e->path, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
}

/* Rewrites the daemon's catalog file as itd_start() wrote it: "@FIXTURE@" is the fixture. */
static void catalog_write(struct itd *d, const char *json)
{
	char fixture[4096], tmp[400];
	FILE *f;

	it_bin("mcp-fixture", fixture, sizeof(fixture));
	snprintf(tmp, sizeof(tmp), "%s.new", d->servers);
	f = fopen(tmp, "w");
	cr_assert(f);
	for (const char *p = json; *p;) {
		if (strncmp(p, "@FIXTURE@", 9) == 0) {
			fputs(fixture, f);
			p += 9;
		} else {
			fputc(*p++, f);
		}
	}
	fclose(f);
	/* Whole or not at all: a reload must never read half a file. */
	cr_assert_eq(rename(tmp, d->servers), 0);
}

static void start(struct itd *d, struct envfile *e, const char *catalog, const char *env_text)
{
	env_write(e, env_text);
	itd_start_args(d, catalog, NULL, NULL, ARGS("--env-file", e->path));
}

static void finish(struct itd *d, struct envfile *e)
{
	itd_stop(d);
	cr_expect(!itd_log_contains(d, "Sanitizer") && !itd_log_contains(d, "runtime error"),
		  "a sanitizer report; see %s", d->log);
	unlink(e->path);
	it_assert_no_children();
}

/* mcpctl reload, asserting success; returns its data (a new reference). */
static json_t *reload_ok(struct itd *d)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("reload"));
	json_t *data;

	cr_assert(r, "mcpctl reload printed no JSON; see %s", d->log);
	cr_assert_eq(st, 0, "mcpctl reload failed: %s; see %s", it_error_code(r), d->log);
	data = json_incref(it_data(r));
	json_decref(r);
	return data;
}

/* True when the JSON array of names holds exactly one name, that one. */
static bool names_are(const json_t *data, const char *key, const char *name)
{
	const json_t *a = json_object_get(data, key);

	if (!name)
		return json_array_size(a) == 0;
	return json_array_size(a) == 1 &&
	       strcmp(json_string_value(json_array_get(a, 0)), name) == 0;
}

/* The pid the fixture server of (user, mcp) reports about itself. */
static long server_pid(struct itd *d, const char *user, const char *mcp)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("call", user, mcp, "pid"));
	json_t *sc;
	long pid;

	cr_assert(r && st == 0, "pid call failed: %s; see %s", r ? it_error_code(r) : "no JSON",
		  d->log);
	sc = json_object_get(it_data(r), "structuredContent");
	pid = (long)json_integer_value(json_object_get(sc, "pid"));
	json_decref(r);
	cr_assert_gt(pid, 0);
	return pid;
}

#define TWO_SERVERS "{\"mcpServers\": {\"a\": {\"command\": \"@FIXTURE@\"}, " \
		    "\"b\": {\"command\": \"@FIXTURE@\"}}}"

Test(reload, a_changed_entry_reconnects_while_an_unchanged_one_keeps_its_server)
{
	struct envfile e = { "" };
	struct itd d;
	long a1, b1, a2, b2;
	json_t *data;

	start(&d, &e, TWO_SERVERS, "MCPPOOL_LOG_LEVEL=debug\n");
	a1 = server_pid(&d, "alice", "a");
	b1 = server_pid(&d, "alice", "b");
	catalog_write(&d, "{\"mcpServers\": {\"a\": {\"command\": \"@FIXTURE@\"}, "
			  "\"b\": {\"command\": \"@FIXTURE@\", \"env\": {\"EDITION\": \"2\"}}}}");
	data = reload_ok(&d);
	cr_expect(names_are(data, "changed", "b"), "changed is not [\"b\"]");
	cr_expect(names_are(data, "added", NULL) && names_are(data, "removed", NULL));
	json_decref(data);
	/* The changed entry's idle connection closes at once; its server is reaped. */
	cr_expect(it_wait_gone((pid_t)b1, 5000), "the old server of b (pid %ld) is still there", b1);
	a2 = server_pid(&d, "alice", "a");
	b2 = server_pid(&d, "alice", "b");
	cr_expect_eq(a2, a1, "the unchanged entry lost its connection (pid %ld, then %ld)", a1, a2);
	cr_expect_neq(b2, b1, "the changed entry kept its old server (pid %ld)", b1);
	cr_expect(itd_log_contains(&d, "reloaded: 1 changed (b), 1 unchanged"), "see %s", d.log);
	/* The replaced catalog lives while a's old connection does, and goes with it. */
	cr_expect(!itd_log_contains(&d, "the catalog of generation 0 is no longer used"));
	json_decref(itd_ctl_json(&d, NULL, ARGS("evict", "alice")));
	json_decref(reload_ok(&d));
	cr_expect(itd_wait_log(&d, "the catalog of generation 0 is no longer used: freed", 5000),
		  "see %s", d.log);
	finish(&d, &e);
}

Test(reload, a_removed_entry_drains_and_new_requests_get_unknown_mcp)
{
	struct envfile e = { "" };
	struct itd d;
	json_t *data, *r;
	long pid;
	pid_t call;
	int st;

	start(&d, &e, TWO_SERVERS, "");
	pid = server_pid(&d, "alice", "b");
	call = itd_ctl_async(&d, ARGS("call", "alice", "b", "sleep", "{\"ms\": 600}"));
	cr_assert(itd_wait_inflight(&d, "alice:b", pid, 1, 10000), "the call did not get in flight");

	catalog_write(&d, "{\"mcpServers\": {\"a\": {\"command\": \"@FIXTURE@\"}}}");
	data = reload_ok(&d);
	cr_expect(names_are(data, "removed", "b"));
	json_decref(data);

	r = itd_ctl_json(&d, &st, ARGS("call", "alice", "b", "echo", "{\"message\": \"x\"}"));
	cr_expect_str_eq(it_error_code(r), "UNKNOWN_MCP");
	json_decref(r);

	/* The call in flight gets its result; then the server closes. */
	r = itd_ctl_wait(&d, call, &st);
	cr_expect_eq(st, 0, "the call in flight failed: %s", it_error_code(r));
	cr_expect_str_eq(it_text(r), "slept 600");
	json_decref(r);
	cr_expect(it_wait_gone((pid_t)pid, 5000), "the removed entry's server is still there");
	finish(&d, &e);
}

Test(reload, a_listen_on_a_changed_entry_ends_so_that_the_old_server_can_go)
{
	struct envfile e = { "" };
	struct itd d;
	json_t *r;
	pid_t listen;
	long pid;
	int st;

	start(&d, &e, TWO_SERVERS, "");
	pid = server_pid(&d, "alice", "b");
	listen = itd_ctl_async(&d, ARGS("listen", "alice", "b"));
	cr_assert(itd_wait_inflight(&d, "alice:b", pid, 1, 10000), "the listen did not start");
	catalog_write(&d, "{\"mcpServers\": {\"a\": {\"command\": \"@FIXTURE@\"}, "
			  "\"b\": {\"command\": \"@FIXTURE@\", \"cwd\": \"/\"}}}");
	json_decref(reload_ok(&d));
	r = itd_ctl_wait(&d, listen, &st);
	cr_expect_eq(st, 1);
	cr_expect_str_eq(it_error_code(r), "UPSTREAM_CLOSED");
	json_decref(r);
	cr_expect(it_wait_gone((pid_t)pid, 5000), "the old server of b is still there");
	finish(&d, &e);
}

Test(reload, a_bad_configuration_is_refused_and_the_running_one_kept)
{
	struct envfile e = { "" };
	struct itd d;
	json_t *r, *cfg;
	char *text;
	long pid;
	int st;

	start(&d, &e, TWO_SERVERS, "MAX_TOTAL_CONNECTIONS=50\n");
	pid = server_pid(&d, "alice", "a");

	/* A malformed catalog: refused, with the place named, to mcpctl and in the log. */
	catalog_write(&d, "{\"mcpServers\": {\"a\": {\"command\": \"@FIXTURE@\"},\n oops}}");
	r = itd_ctl_json(&d, &st, ARGS("reload"));
	cr_expect_eq(st, 1);
	cr_expect_str_eq(it_error_code(r), "CONFIG_INVALID");
	text = json_dumps(r, 0);
	cr_expect(strstr(text, "servers.json:2:"), "the error names the file and line: %s", text);
	free(text);
	json_decref(r);
	cr_expect(itd_log_contains(&d, "reload refused, the running configuration is kept"),
		  "see %s", d.log);

	/* A bad value in .env by SIGHUP: refused, naming the variable. */
	catalog_write(&d, TWO_SERVERS);
	env_write(&e, "MAX_TOTAL_CONNECTIONS=lots\n");
	cr_assert_eq(kill(d.pid, SIGHUP), 0);
	cr_expect(itd_wait_log(&d, "MAX_TOTAL_CONNECTIONS=\"lots\": not a number", 5000),
		  "see %s", d.log);

	/* Everything goes on as before: the limits, the catalog, the live connection. */
	r = itd_pool_status(&d);
	cfg = json_object_get(r, "config");
	cr_expect_eq(json_integer_value(json_object_get(cfg, "maxTotalConnections")), 50);
	json_decref(r);
	cr_expect_eq(server_pid(&d, "alice", "a"), pid, "the connection was not kept");
	cr_expect_gt(server_pid(&d, "alice", "b"), 0);
	finish(&d, &e);
}

Test(reload, new_limits_apply_at_once)
{
	struct envfile e = { "" };
	struct itd d;
	json_t *r, *cfg, *data;

	start(&d, &e, TWO_SERVERS, "MAX_CONNECTIONS_PER_USER=2\nMAX_TOTAL_CONNECTIONS=2\n");
	server_pid(&d, "alice", "a");
	server_pid(&d, "alice", "b");
	/* Lowered: the least recently used idle connection closes at once. */
	env_write(&e, "MAX_CONNECTIONS_PER_USER=1\nMAX_TOTAL_CONNECTIONS=1\n");
	data = reload_ok(&d);
	cr_expect(strstr(json_string_value(json_object_get(data, "summary")),
			 "MAX_TOTAL_CONNECTIONS 2->1"), "summary: %s",
		  json_string_value(json_object_get(data, "summary")));
	json_decref(data);
	r = itd_pool_status(&d);
	cfg = json_object_get(r, "config");
	cr_expect_eq(json_integer_value(json_object_get(r, "totalConnections")), 1);
	cr_expect_eq(json_integer_value(json_object_get(cfg, "maxTotalConnections")), 1);
	cr_expect_eq(json_integer_value(json_object_get(cfg, "maxConnectionsPerUser")), 1);
	json_decref(r);
	/* Raised: two connections fit again. */
	env_write(&e, "MAX_CONNECTIONS_PER_USER=2\nMAX_TOTAL_CONNECTIONS=2\n");
	json_decref(reload_ok(&d));
	server_pid(&d, "alice", "a");
	server_pid(&d, "alice", "b");
	r = itd_pool_status(&d);
	cr_expect_eq(json_integer_value(json_object_get(r, "totalConnections")), 2);
	json_decref(r);
	finish(&d, &e);
}

Test(reload, a_reload_while_draining_is_refused_and_the_drain_goes_on)
{
	struct envfile e = { "" };
	struct itd d;
	json_t *r;
	pid_t call;
	int st;

	start(&d, &e, TWO_SERVERS, "");
	call = itd_ctl_async(&d, ARGS("call", "alice", "a", "sleep", "{\"ms\": 500}"));
	cr_assert(itd_wait_inflight(&d, "alice:a", 0, 1, 10000), "the call did not get in flight");
	cr_assert_eq(kill(d.pid, SIGTERM), 0);
	cr_assert(itd_wait_log(&d, "draining", 5000));
	cr_assert_eq(kill(d.pid, SIGHUP), 0);
	cr_expect(itd_wait_log(&d, "received SIGHUP: reload refused: mcppoold is shutting down", 5000),
		  "see %s", d.log);
	r = itd_ctl_wait(&d, call, &st);
	cr_expect_eq(st, 0, "the call in flight failed: %s", it_error_code(r));
	json_decref(r);
	finish(&d, &e);
}

/* ---- under load ------------------------------------------------------------------ */

#define CLIENTS 4
#define ROUNDS 40

Test(reload, reloads_under_load_lose_no_request)
{
	static const char *const catalogs[] = {
		TWO_SERVERS,
		"{\"mcpServers\": {\"a\": {\"command\": \"@FIXTURE@\", \"env\": {\"N\": \"1\"}}, "
		"\"b\": {\"command\": \"@FIXTURE@\"}, \"c\": {\"command\": \"@FIXTURE@\"}}}",
		"{\"mcpServers\": {\"a\": {\"command\": \"@FIXTURE@\", \"env\": {\"N\": \"2\"}}, "
		"\"b\": {\"command\": \"@FIXTURE@\", \"args\": []}}}",
	};
	struct envfile e = { "" };
	struct itd d;
	msgpack_zone z;
	struct wire_msg m;
	int fds[CLIENTS], answered = 0, reloads = 0;

	msgpack_zone_init(&z, 4096);
	start(&d, &e, catalogs[0], "MAX_CONNECTIONS_PER_USER=4\nMAX_TOTAL_CONNECTIONS=20\n");
	for (int c = 0; c < CLIENTS; c++) {
		fds[c] = it_raw_connect(&d);
		it_raw_hello(fds[c], 1);
		cr_assert_eq(it_raw_recv(fds[c], &z, &m, 5000), 0);
	}
	/*
	 * Each round, every client has one call in flight on a or b (which every
	 * catalog keeps, changed or not) while the catalog and a limit change
	 * under them.
	 */
	for (int round = 0; round < ROUNDS; round++) {
		for (int c = 0; c < CLIENTS; c++) {
			char params[160];

			snprintf(params, sizeof(params),
				 "{\"user\": \"u%d\", \"mcp\": \"%s\", \"tool\": \"sleep\", "
				 "\"arguments\": {\"ms\": %d}}", c % 2, (round + c) % 2 ? "a" : "b",
				 5 + 5 * c);
			it_raw_request(fds[c], 100 + (uint64_t)round, "call", params);
		}
		if (round % 4 == 1) {
			char env[120];

			catalog_write(&d, catalogs[(round / 4) % 3]);
			snprintf(env, sizeof(env), "MAX_CONNECTIONS_PER_USER=4\nMAX_TOTAL_CONNECTIONS=%d\n",
				 20 + round);
			env_write(&e, env);
			cr_assert_eq(kill(d.pid, SIGHUP), 0);
			reloads++;
		}
		for (int c = 0; c < CLIENTS; c++) {
			cr_assert_eq(it_raw_recv(fds[c], &z, &m, 10000), 0,
				     "client %d got no answer in round %d; see %s", c, round, d.log);
			cr_assert_eq(m.id, 100 + (uint64_t)round);
			cr_assert_null(m.error, "client %d, round %d: %s %.*s", c, round,
				       errcode_name(m.err_code), (int)m.err_message_len, m.err_message);
			answered++;
		}
	}
	cr_expect_eq(answered, CLIENTS * ROUNDS);
	cr_expect(itd_wait_log(&d, "MAX_TOTAL_CONNECTIONS 53->57", 5000), "the last reload is not "
		  "logged; see %s", d.log);
	cr_expect_geq(reloads, 10);
	for (int c = 0; c < CLIENTS; c++)
		close(fds[c]);
	msgpack_zone_destroy(&z);
	finish(&d, &e);
}

/* ---- systemd ---------------------------------------------------------------------- */

Test(reload, notify_socket_hears_reloading_then_ready)
{
	struct envfile e = { "" };
	char env[400], path[300], *msg;
	struct itd d;
	int fd;

	snprintf(path, sizeof(path), "/tmp/mcppool-reload-notify-%d", getpid());
	unlink(path);
	fd = it_notify_socket(path);
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", path);
	env_write(&e, "");
	itd_start_args(&d, NULL, (const char *const[]){ env, NULL }, NULL,
		       ARGS("--env-file", e.path));
	msg = it_notify_recv(fd);
	cr_assert(msg && strstr(msg, "READY=1"), "first notification: %s", msg ? msg : "none");
	free(msg);

	cr_assert_eq(kill(d.pid, SIGHUP), 0);
	msg = it_notify_recv(fd);
	cr_assert(msg, "no notification at the reload");
	cr_expect(strstr(msg, "RELOADING=1") && strstr(msg, "MONOTONIC_USEC="), "got %s", msg);
	free(msg);
	msg = it_notify_recv(fd);
	cr_assert(msg, "no notification after the reload");
	cr_expect(strstr(msg, "READY=1"), "got %s", msg);
	free(msg);

	itd_stop(&d);
	msg = it_notify_recv(fd);
	cr_expect(msg && strstr(msg, "STOPPING=1"), "at stop: %s", msg ? msg : "none");
	free(msg);
	close(fd);
	unlink(path);
	unlink(e.path);
}

/* True when the file at path holds needle. */
static bool file_has(const char *path, const char *needle)
{
	char buf[8192];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, needle) != NULL;
}

/*
 * A reload applies the log format at once, and opens the access log again: a rotated
 * file (renamed away) is replaced by a new one at the same path, as logrotate expects.
 */
Test(reload, the_log_format_applies_and_a_rotated_access_log_is_reopened)
{
	struct envfile e = { "" };
	char access[300], rotated[310], env[400];
	struct itd d;

	start(&d, &e, TWO_SERVERS, "");
	snprintf(access, sizeof(access), "%s/access.log", d.dir);
	snprintf(rotated, sizeof(rotated), "%s.1", access);
	snprintf(env, sizeof(env), "MCPPOOL_ACCESS_LOG=%s\nMCPPOOL_LOG_FORMAT=json\n", access);
	env_write(&e, env);
	json_decref(reload_ok(&d));
	cr_assert(itd_wait_log(&d, "{\"ts\":", 5000), "no JSON log line after the reload; see %s", d.log);
	json_decref(itd_ctl_json(&d, NULL, ARGS("call", "alice", "a", "echo", "{\"message\":\"x\"}")));
	cr_assert(file_has(access, "alice:a"), "the new access log has no line");

	cr_assert_eq(rename(access, rotated), 0);
	json_decref(reload_ok(&d));
	json_decref(itd_ctl_json(&d, NULL, ARGS("call", "bob", "a", "echo", "{\"message\":\"y\"}")));
	cr_assert(file_has(access, "bob:a"), "the access log was not reopened at its path");
	cr_assert(!file_has(rotated, "bob:a"), "the rotated file got the new line");
	finish(&d, &e);
}
