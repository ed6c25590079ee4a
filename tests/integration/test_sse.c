/* Integration: the deprecated HTTP+SSE transport, against the SDK's own SSEServerTransport. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

static pid_t server_pgid;    /* the test server, stopped by fini when an assertion ended a test */
static pid_t running_daemon; /* likewise the daemon */

static void suite_fini(void)
{
	if (running_daemon > 0 && waitpid(running_daemon, NULL, WNOHANG) == 0) {
		kill(running_daemon, SIGKILL);
		waitpid(running_daemon, NULL, 0);
	}
	it_stop_server(server_pgid);
}

TestSuite(sse, .init = it_subreaper, .fini = suite_fini, .timeout = 60);

/* tests/interop/sse-server.mjs on a free port; its log in the daemon's test dir. */
static int start_sse_server(void)
{
	char script[4096], port[16], log[300], dir[] = "/tmp/mcppool-sse-XXXXXX";
	int p = it_free_port();

	if (!realpath("tests/interop/sse-server.mjs", script) ||
	    access("tests/interop/node_modules/@modelcontextprotocol/sdk", F_OK) != 0)
		cr_assert_fail("the SDK is not installed (scripts/npm-setup.sh)");
	cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(port, sizeof(port), "%d", p);
	snprintf(log, sizeof(log), "%s/sse-server.log", dir);
	server_pgid = it_start_server(ARGS("node", script, port), p, log);
	return p;
}

static void stop_all(struct itd *d)
{
	itd_stop(d);
	running_daemon = 0;
	it_stop_server(server_pgid);
	server_pgid = 0;
	it_assert_no_children();
}

/*
 * A catalog of one entry "old" at path of the test server (type is "sse" or
 * NULL), and the daemon with env added to its settings.
 */
static void start_env(struct itd *d, int port, const char *path, const char *type,
		      const char *const *env)
{
	char cat[512];

	snprintf(cat, sizeof(cat),
		 "{\"mcpServers\": {\"old\": {%s%s%s\"url\": \"http://127.0.0.1:%d%s\","
		 " \"headers\": {\"Authorization\": \"Bearer ${auth.token}\"}}}}",
		 type ? "\"type\": \"" : "", type ? type : "", type ? "\", " : "", port, path);
	itd_start(d, cat, env);
	running_daemon = d->pid;
}

static void start(struct itd *d, int port, const char *path, const char *type)
{
	start_env(d, port, path, type, ARGS("MCPPOOL_START_TIMEOUT=5000"));
}

static json_t *call(struct itd *d, const char *user, const char *tool, const char *args, int *st)
{
	char auth[64];
	json_t *r;

	snprintf(auth, sizeof(auth), "token=%s-token", user);
	r = itd_ctl_json(d, st, ARGS("call", user, "old", tool, args, "-a", auth, "--timeout", "5000"));
	cr_assert(r, "mcpctl printed no JSON");
	return r;
}

static void assert_echo(struct itd *d, const char *user, const char *text)
{
	char args[128];
	int st;
	json_t *r;

	snprintf(args, sizeof(args), "{\"text\":\"%s\"}", text);
	r = call(d, user, "echo", args, &st);
	cr_assert_eq(st, 0, "echo for %s failed: %s", user, it_error_code(r));
	cr_assert_str_eq(it_text(r), text);
	json_decref(r);
}

/* The transport of key in pool-status ("" when the key is absent). */
static const char *transport_of(json_t *status, const char *key)
{
	json_t *det = json_object_get(status, "connectionDetails"), *e;
	size_t i;

	json_array_foreach(det, i, e)
		if (strcmp(json_string_value(json_object_get(e, "key")), key) == 0)
			return json_string_value(json_object_get(e, "transport"));
	return "";
}

static const char *error_message(json_t *r)
{
	const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
	return m ? m : "";
}

Test(sse, type_sse_lists_and_calls_tools)
{
	struct itd d;
	int st, port = start_sse_server();

	start(&d, port, "/sse", "sse");
	json_t *r = itd_ctl_json(&d, &st, ARGS("tools", "alice", "old", "-a", "token=alice-token"));
	cr_assert_eq(st, 0, "tools/list: %s", it_error_code(r));
	cr_assert_eq(json_array_size(json_object_get(it_data(r), "tools")), 5);
	json_decref(r);
	assert_echo(&d, "alice", "hello over HTTP+SSE");
	json_t *s = itd_pool_status(&d);
	cr_assert_str_eq(transport_of(s, "alice:old"), "sse");
	json_decref(s);
	stop_all(&d);
}

Test(sse, each_user_has_a_session_with_their_own_headers)
{
	struct itd d;
	int st, port = start_sse_server();

	start(&d, port, "/sse", "sse");
	json_t *a = call(&d, "alice", "whoami", "{}", &st);
	cr_assert_eq(st, 0, "%s", it_error_code(a));
	json_t *b = call(&d, "bob", "whoami", "{}", &st);
	cr_assert_eq(st, 0, "%s", it_error_code(b));
	cr_assert_str_eq(it_text(a), "Bearer alice-token");
	cr_assert_str_eq(it_text(b), "Bearer bob-token");
	json_decref(a);
	json_decref(b);
	json_t *s = itd_pool_status(&d);
	cr_assert_eq(json_integer_value(json_object_get(s, "totalConnections")), 2);
	json_decref(s);
	stop_all(&d);
}

Test(sse, a_closed_stream_fails_the_calls_in_flight_and_the_next_call_reconnects)
{
	struct itd d;
	int st, port = start_sse_server();

	start(&d, port, "/sse", "sse");
	assert_echo(&d, "alice", "before");
	pid_t slow = itd_ctl_async(&d, ARGS("call", "alice", "old", "slow", "{}", "-a",
					    "token=alice-token", "--timeout", "10000"));
	cr_assert(itd_wait_inflight(&d, "alice:old", 0, 1, 5000), "slow never went in flight");
	json_t *r = call(&d, "alice", "hangup", "{}", &st);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_CLOSED", "hangup: %s", error_message(r));
	cr_assert(strstr(error_message(r), "closed the SSE stream"), "%s", error_message(r));
	json_decref(r);
	r = itd_ctl_wait(&d, slow, &st);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_CLOSED");
	json_decref(r);
	assert_echo(&d, "alice", "after");
	stop_all(&d);
}

Test(sse, an_endpoint_on_another_origin_is_refused)
{
	struct itd d;
	int st, port = start_sse_server();

	start(&d, port, "/elsewhere", "sse");
	json_t *r = call(&d, "alice", "echo", "{\"text\":\"x\"}", &st);
	cr_assert_neq(st, 0);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_START_FAILED");
	cr_assert(strstr(error_message(r), "another origin"), "%s", error_message(r));
	cr_assert(strstr(error_message(r), "http://localhost:"), "%s", error_message(r));
	json_decref(r);
	stop_all(&d);
}

Test(sse, a_url_entry_falls_back_to_sse_when_initialize_is_refused)
{
	struct itd d;
	int port = start_sse_server();

	start(&d, port, "/sse", NULL);
	assert_echo(&d, "alice", "found the old transport");
	assert_echo(&d, "alice", "and stays on it");
	json_t *s = itd_pool_status(&d);
	cr_assert_str_eq(transport_of(s, "alice:old"), "sse");
	json_decref(s);
	cr_assert(itd_log_contains(&d, "trying the HTTP+SSE transport"));
	stop_all(&d);
}

Test(sse, a_url_entry_speaking_neither_transport_names_both_refusals)
{
	struct itd d;
	int st, port = start_sse_server();

	start(&d, port, "/nothing", NULL);
	json_t *r = call(&d, "alice", "echo", "{\"text\":\"x\"}", &st);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_START_FAILED");
	cr_assert(strstr(error_message(r), "Streamable HTTP: HTTP 404"), "%s", error_message(r));
	cr_assert(strstr(error_message(r), "HTTP+SSE fallback failed: HTTP 404"), "%s",
		  error_message(r));
	json_decref(r);
	stop_all(&d);
}

Test(sse, a_stream_without_an_endpoint_event_fails_within_the_request_timeout)
{
	struct itd d;
	int st, port = start_sse_server();

	start_env(&d, port, "/silent", "sse",
		  ARGS("MCPPOOL_START_TIMEOUT=10000", "REQUEST_TIMEOUT=300"));
	json_t *r = call(&d, "alice", "echo", "{\"text\":\"x\"}", &st);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_START_FAILED");
	cr_assert(strstr(error_message(r), "sent no endpoint event within 300 ms"), "%s",
		  error_message(r));
	json_decref(r);
	stop_all(&d);
}

Test(sse, an_event_over_max_message_closes_the_session_and_the_next_call_reconnects)
{
	struct itd d;
	int st, port = start_sse_server();

	start_env(&d, port, "/sse", "sse",
		  ARGS("MCPPOOL_START_TIMEOUT=5000", "MCPPOOL_MAX_MESSAGE=1024"));
	json_t *r = call(&d, "alice", "big", "{}", &st);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_CLOSED");
	cr_assert(strstr(error_message(r), "exceeds 1024 bytes"), "%s", error_message(r));
	json_decref(r);
	assert_echo(&d, "alice", "small again");
	stop_all(&d);
}

Test(sse, the_servers_op_names_the_transport_of_an_sse_entry)
{
	struct itd d;
	int st, port = it_free_port(); /* nothing is connected: no server needed */

	start(&d, port, "/sse", "sse");
	json_t *r = itd_ctl_json(&d, &st, ARGS("servers"));
	cr_assert_eq(st, 0);
	json_t *e = json_array_get(json_object_get(it_data(r), "servers"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(e, "transport")), "sse");
	json_decref(r);
	itd_stop(&d);
	running_daemon = 0;
	it_assert_no_children();
}

Test(sse, a_refused_post_fails_its_request_alone)
{
	struct itd d;
	int st, port = start_sse_server();

	start(&d, port, "/sse", "sse");
	assert_echo(&d, "alice", "first");
	json_t *r = call(&d, "alice", "echo", "{\"text\":\"please-refuse\"}", &st);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_ERROR", "%s", error_message(r));
	cr_assert(strstr(error_message(r), "HTTP 413"), "%s", error_message(r));
	cr_assert(strstr(error_message(r), "too large for this test"), "%s", error_message(r));
	json_decref(r);
	assert_echo(&d, "alice", "still the same session");
	cr_assert_eq(itd_metric(&d, "mcppool_spawns_total"), 1, "the session was not replaced");
	stop_all(&d);
}

static const char *data_str(json_t *r, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(json_object_get(r, "error"),
									   "data"), key));
	return s ? s : "";
}

Test(sse, a_post_refused_with_401_fails_its_call_with_auth_required_and_the_challenge)
{
	struct itd d;
	int st, port = start_sse_server();

	start(&d, port, "/sse", "sse");
	assert_echo(&d, "alice", "first");
	json_t *r = call(&d, "alice", "echo", "{\"text\":\"please-authorize\"}", &st);
	cr_assert_str_eq(it_error_code(r), "AUTH_REQUIRED", "%s", error_message(r));
	cr_assert_str_eq(data_str(r, "error"), "invalid_token");
	cr_assert(strstr(data_str(r, "resource_metadata"), "/.well-known/oauth-protected-resource"),
		  "%s", data_str(r, "resource_metadata"));
	cr_assert(strstr(error_message(r), "WWW-Authenticate: Bearer"), "%s", error_message(r));
	json_decref(r);
	assert_echo(&d, "alice", "the same session serves on");
	cr_assert_eq(itd_metric(&d, "mcppool_spawns_total"), 1, "the session was not replaced");
	stop_all(&d);
}

Test(sse, a_stream_refused_with_401_at_start_fails_with_auth_required_and_the_challenge)
{
	struct itd d;
	int st, port = start_sse_server();

	start(&d, port, "/locked", "sse");
	json_t *r = call(&d, "alice", "echo", "{\"text\":\"x\"}", &st);
	cr_assert_neq(st, 0);
	cr_assert_str_eq(it_error_code(r), "AUTH_REQUIRED", "%s", error_message(r));
	cr_assert_str_eq(data_str(r, "realm"), "test");
	cr_assert_str_eq(data_str(r, "wwwAuthenticate"), "Bearer realm=\"test\"");
	cr_assert(strstr(error_message(r), "authorization required"), "%s", error_message(r));
	json_decref(r);
	stop_all(&d);
}

Test(sse, a_url_entry_refused_with_401_does_not_fall_back)
{
	struct itd d;
	int st, port = start_sse_server();

	start(&d, port, "/locked", NULL);
	json_t *r = call(&d, "alice", "echo", "{\"text\":\"x\"}", &st);
	cr_assert_neq(st, 0);
	cr_assert(strstr(error_message(r), "401"), "%s", error_message(r));
	json_decref(r);
	cr_assert(!itd_log_contains(&d, "trying the HTTP+SSE transport"));
	stop_all(&d);
}

Test(sse, server_everything_in_sse_mode_is_reached_through_the_fallback)
{
	char bin[4096], port_env[32], log[300], dir[] = "/tmp/mcppool-sse-XXXXXX";
	int st, port = it_free_port();
	struct itd d;

	if (!realpath("tests/interop/node_modules/.bin/mcp-server-everything", bin))
		cr_assert_fail("server-everything is not installed (scripts/npm-setup.sh)");
	cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(port_env, sizeof(port_env), "PORT=%d", port);
	snprintf(log, sizeof(log), "%s/everything.log", dir);
	server_pgid = it_start_server(ARGS("env", port_env, bin, "sse"), port, log);
	start(&d, port, "/sse", NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "old", "echo",
					       "{\"message\":\"hello the old way\"}", "-a",
					       "token=t", "--timeout", "10000"));
	cr_assert_eq(st, 0, "echo: %s %s", it_error_code(r), error_message(r));
	cr_assert(strstr(it_text(r), "hello the old way"), "%s", it_text(r));
	json_decref(r);
	json_t *s = itd_pool_status(&d);
	cr_assert_str_eq(transport_of(s, "alice:old"), "sse");
	json_decref(s);
	stop_all(&d);
}
