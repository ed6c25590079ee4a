/*
 * Integration: pooling real MCP servers from npm: @modelcontextprotocol/server-everything
 * (legacy, the 1.x SDK), and tests/interop/era-server.mjs on @modelcontextprotocol/server
 * 2.x, modern-only and dual-era.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(interop, .init = it_subreaper, .timeout = 120);

static void catalog(char *buf, size_t len)
{
	char bin[4096];
	if (!realpath("tests/interop/node_modules/.bin/mcp-server-everything", bin))
		cr_assert_fail("server-everything is not installed (scripts/npm-setup.sh)");
	snprintf(buf, len,
		 "{\"mcpServers\": {\"everything\": {\"command\": \"%s\", \"args\": [\"stdio\"],"
		 " \"env\": {\"USER_TOKEN\": \"${auth.token}\"}}}}", bin);
}

static json_t *call(struct itd *d, const char *user, const char *tool, const char *args,
		    const char *auth)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("call", user, "everything", tool, args, "-a", auth,
					      "--timeout", "30000"));
	cr_assert_eq(st, 0, "%s %s failed", user, tool);
	return r;
}

/* USER_TOKEN and DAEMON_SECRET as get-env reports them ("" when absent). */
static void child_env(struct itd *d, const char *user, const char *auth, char *token, size_t tlen,
		      bool *daemon_secret_seen)
{
	json_t *r = call(d, user, "get-env", "{}", auth);
	json_t *env = json_loads(it_text(r), 0, NULL);
	cr_assert(env, "get-env did not return JSON: %s", it_text(r));
	const char *t = json_string_value(json_object_get(env, "USER_TOKEN"));
	snprintf(token, tlen, "%s", t ? t : "");
	*daemon_secret_seen = json_object_get(env, "DAEMON_SECRET") != NULL;
	json_decref(env);
	json_decref(r);
}

static long pid_of_key(struct itd *d, const char *key)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("pool-status"));
	json_t *det = json_object_get(it_data(r), "connectionDetails"), *e;
	size_t i;
	long pid = 0;
	json_array_foreach(det, i, e)
		if (strcmp(json_string_value(json_object_get(e, "key")), key) == 0)
			pid = (long)json_integer_value(json_object_get(e, "pid"));
	json_decref(r);
	return pid;
}

Test(interop, server_everything_is_pooled_per_user_with_each_users_auth)
{
	struct itd d;
	char cat[8192], token[256];
	bool leaked;
	const char *env[] = { "DAEMON_SECRET=do-not-leak", NULL };

	catalog(cat, sizeof(cat));
	itd_start(&d, cat, env);

	json_t *r = call(&d, "alice", "echo", "{\"message\":\"hello pool\"}", "token=alice-1");
	cr_assert(strstr(it_text(r), "hello pool"), "echo: %s", it_text(r));
	json_decref(r);
	r = call(&d, "bob", "get-sum", "{\"a\":2,\"b\":40}", "token=bob-1");
	cr_assert(strstr(it_text(r), "42"), "get-sum: %s", it_text(r));
	json_decref(r);

	child_env(&d, "alice", "token=alice-1", token, sizeof(token), &leaked);
	cr_assert_str_eq(token, "alice-1");
	cr_assert(!leaked, "the daemon's environment reached a child");
	child_env(&d, "bob", "token=bob-1", token, sizeof(token), &leaked);
	cr_assert_str_eq(token, "bob-1");

	/* Reuse: same auth, same child. */
	long alice = pid_of_key(&d, "alice:everything");
	long bob = pid_of_key(&d, "bob:everything");
	cr_assert(alice > 0 && bob > 0 && alice != bob);
	json_decref(call(&d, "alice", "echo", "{\"message\":\"again\"}", "token=alice-1"));
	cr_assert_eq(pid_of_key(&d, "alice:everything"), alice, "same auth but a new child");

	/* Reconnect: new auth, new child with the new value. */
	child_env(&d, "alice", "token=alice-2", token, sizeof(token), &leaked);
	cr_assert_str_eq(token, "alice-2");
	cr_assert_neq(pid_of_key(&d, "alice:everything"), alice, "auth changed but the child was reused");
	cr_assert_eq(pid_of_key(&d, "bob:everything"), bob, "another user's connection changed");

	itd_stop(&d);
	it_assert_no_children();
}

/* era-server.mjs's path; fails the test when the 2.x SDK is not installed. */
static void era_script(char *script)
{
	if (!realpath("tests/interop/era-server.mjs", script) ||
	    access("tests/interop/node_modules/@modelcontextprotocol/server/package.json", R_OK) != 0)
		cr_assert_fail("@modelcontextprotocol/server is not installed (scripts/npm-setup.sh)");
}

/*
 * A catalog with era-server.mjs in mode (modern or dual) as "era", given each user's
 * token: over stdio (port 0: a child per user, the token in its environment) or over
 * Streamable HTTP at port (one server, the token in each user's Authorization header).
 */
static void era_catalog(char *buf, size_t len, const char *mode, int port)
{
	char script[4096];

	era_script(script);
	if (port)
		snprintf(buf, len,
			 "{\"mcpServers\": {\"era\": {\"url\": \"http://127.0.0.1:%d/mcp\","
			 " \"headers\": {\"Authorization\": \"Bearer ${auth.token}\"},"
			 " \"clientCapabilities\": {\"elicitation\": {\"form\": {}}}}}}", port);
	else
		snprintf(buf, len,
			 "{\"mcpServers\": {\"era\": {\"command\": \"node\", \"args\": [\"%s\", \"%s\"],"
			 " \"env\": {\"USER_TOKEN\": \"${auth.token}\"},"
			 " \"clientCapabilities\": {\"elicitation\": {\"form\": {}}}}}}", script, mode);
}

static json_t *era_ok(struct itd *d, const char *const *args)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, args);
	cr_assert_eq(st, 0, "%s %s failed: %s", args[0], args[3] ? args[3] : "",
		     r ? json_dumps(r, JSON_COMPACT) : "(no JSON)");
	return r;
}

static bool json_has(json_t *r, const char *needle)
{
	char *text = json_dumps(r, JSON_COMPACT);
	bool found = text && strstr(text, needle);
	free(text);
	return found;
}

/*
 * tools/list, tools/call, prompts, resources and an input_required round trip through
 * the pool, for two users, in 2026-07-28; over stdio, or over Streamable HTTP when
 * http (one server for both users: each user's own token reaches it).
 */
static void serves_everything_in_2026_07_28(const char *mode, bool http)
{
	struct itd d;
	char cat[8192], alice_pid[64], script[4096], port_arg[16], log[4200];
	pid_t server = 0;
	int port = 0;

	if (http)
		port = it_free_port();
	era_catalog(cat, sizeof(cat), mode, port);
	itd_start(&d, cat, NULL);
	if (http) { /* the daemon connects at the first call: the server's log goes in its dir */
		era_script(script);
		snprintf(port_arg, sizeof(port_arg), "%d", port);
		snprintf(log, sizeof(log), "%s/era-server.log", d.dir);
		server = it_start_server(ARGS("node", script, mode, "--http", port_arg), port, log);
	}
	json_t *r = era_ok(&d, ARGS("tools", "alice", "era", "-a", "token=a1", "--timeout", "30000"));
	cr_assert(json_has(r, "\"echo\"") && json_has(r, "\"add\""), "tools: %s", json_dumps(r, 0));
	json_decref(r);
	r = era_ok(&d, ARGS("call", "alice", "era", "add", "{\"a\":2,\"b\":40}", "-a", "token=a1"));
	cr_assert_str_eq(it_text(r), "42");
	json_decref(r);
	r = era_ok(&d, ARGS("request", "alice", "era", "prompts/list", "{}", "-a", "token=a1"));
	cr_assert(json_has(r, "\"greet\""), "prompts/list: %s", json_dumps(r, 0));
	json_decref(r);
	r = era_ok(&d, ARGS("request", "alice", "era", "prompts/get",
			    "{\"name\":\"greet\",\"arguments\":{\"name\":\"pool\"}}", "-a", "token=a1"));
	cr_assert(json_has(r, "Hello, pool!"), "prompts/get: %s", json_dumps(r, 0));
	json_decref(r);
	r = era_ok(&d, ARGS("request", "alice", "era", "resources/read", "{\"uri\":\"memo://hello\"}",
			    "-a", "token=a1"));
	cr_assert(json_has(r, "memo from era-"), "resources/read: %s", json_dumps(r, 0));
	json_decref(r);

	/* Two users: each their own server, with their own token. */
	r = era_ok(&d, ARGS("call", "alice", "era", "token", "{}", "-a", "token=a1"));
	cr_assert(strncmp(it_text(r), "a1 ", 3) == 0, "alice's token: %s", it_text(r));
	snprintf(alice_pid, sizeof(alice_pid), "%s", it_text(r) + 3);
	json_decref(r);
	r = era_ok(&d, ARGS("call", "bob", "era", "token", "{}", "-a", "token=b1"));
	cr_assert(strncmp(it_text(r), "b1 ", 3) == 0, "bob's token: %s", it_text(r));
	if (!http) /* over HTTP both users reach the one server, each with their own token */
		cr_assert_str_neq(it_text(r) + 3, alice_pid, "bob got alice's server");
	json_decref(r);

	/* input_required reaches the app as the result; its retry (params untouched) completes. */
	r = era_ok(&d, ARGS("request", "alice", "era", "tools/call",
			    "{\"name\":\"confirm\",\"arguments\":{\"what\":\"deploy\"}}", "-a", "token=a1"));
	cr_assert_str_eq(json_string_value(json_object_get(it_data(r), "resultType")), "input_required",
			 "%s", json_dumps(r, 0));
	cr_assert(json_has(r, "elicitation/create"), "no elicitation in %s", json_dumps(r, 0));
	cr_assert_str_eq(json_string_value(json_object_get(it_data(r), "requestState")),
			 "state-of-deploy");
	json_decref(r);
	r = era_ok(&d, ARGS("request", "alice", "era", "tools/call",
			    "{\"name\":\"confirm\",\"arguments\":{\"what\":\"deploy\"},"
			    "\"inputResponses\":{\"confirm\":{\"action\":\"accept\","
			    "\"content\":{\"confirm\":true}}},\"requestState\":\"state-of-deploy\"}",
			    "-a", "token=a1"));
	cr_assert_str_eq(it_text(r), "confirmed deploy (state-of-deploy)");
	json_decref(r);

	/* A call past its deadline is cancelled at the server (stdio: notifications/cancelled; HTTP: its stream closed). */
	int st;
	r = itd_ctl_json(&d, &st, ARGS("call", "alice", "era", "wait", "{\"ms\":20000}", "-a", "token=a1",
				       "--timeout", "300"));
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_TIMEOUT", "%s", json_dumps(r, 0));
	json_decref(r);
	bool cancelled = false;
	for (int i = 0; i < 500 && !cancelled; i++) {
		r = era_ok(&d, ARGS("call", "alice", "era", "aborted", "{}", "-a", "token=a1"));
		cancelled = strcmp(it_text(r), "0") != 0;
		json_decref(r);
		if (!cancelled)
			usleep(10000);
	}
	cr_assert(cancelled, "the server never saw the call cancelled");

	cr_assert(itd_log_contains(&d, "modern protocol 2026-07-28"), "not spoken to in 2026-07-28");
	cr_assert_not(itd_log_contains(&d, "legacy server"), "the probe fell back to legacy");
	itd_stop(&d);
	it_stop_server(server);
	it_assert_no_children();
}

Test(interop, a_modern_only_sdk_v2_server_serves_tools_prompts_resources_input_and_two_users)
{
	serves_everything_in_2026_07_28("modern", false);
}

Test(interop, a_dual_era_sdk_v2_server_is_spoken_to_in_2026_07_28)
{
	serves_everything_in_2026_07_28("dual", false);
}

Test(interop, a_modern_only_sdk_v2_server_over_streamable_http_serves_the_same_calls)
{
	serves_everything_in_2026_07_28("modern", true);
}

Test(interop, a_dual_era_sdk_v2_server_over_streamable_http_is_spoken_to_in_2026_07_28)
{
	serves_everything_in_2026_07_28("dual", true);
}

/* ---- events (issue 11): progress and resource updates from server-everything ------- */

Test(interop, server_everythings_long_running_tool_sends_progress_events_through_the_pool)
{
	char cat[8192], *out = NULL, *err = NULL;
	struct itd d;

	catalog(cat, sizeof(cat));
	itd_start(&d, cat, NULL);
	/* 0.3 s in 3 steps: a progress notification per step, for the daemon's token. */
	cr_assert_eq(itd_ctl(&d, &out, &err, ARGS("call", "alice", "everything",
						  "trigger-long-running-operation",
						  "{\"duration\": 0.3, \"steps\": 3}", "-a", "token=t",
						  "--progress", "--timeout", "30000")), 0,
		     "call failed: %s", err);
	cr_assert(strstr(out, "Long running operation completed"), "%s", out);
	for (int step = 1; step <= 3; step++) {
		char want[64];
		snprintf(want, sizeof(want), "\"progress\":%d,\"total\":3", step);
		cr_assert(strstr(err, want), "no progress event %s in: %s", want, err);
	}
	free(out);
	free(err);
	itd_stop(&d);
	it_assert_no_children();
}

/* True when the file (mcpctl's output) contains needle. */
static bool file_has(const char *path, const char *needle)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

Test(interop, mcpctl_listen_prints_server_everythings_resource_updates)
{
	static const char update[] = "{\"method\":\"notifications/resources/updated\",\"params\":"
				     "{\"uri\":\"demo://resource/dynamic/text/1\"}}";
	char cat[8192], path[400];
	struct itd d;
	bool heard = false;
	int status;
	pid_t pid;

	catalog(cat, sizeof(cat));
	itd_start(&d, cat, NULL);
	pid = itd_ctl_async(&d, ARGS("listen", "alice", "everything", "-a", "token=t", "--uri",
				     "demo://resource/dynamic/text/1"));
	snprintf(path, sizeof(path), "%s/ctl-%ld.out", d.dir, (long)pid);
	/*
	 * Turning the server's simulated updates on sends one at once to the
	 * subscribers (then every 5 s): off and on again until the listen's
	 * subscription was in place for one.
	 */
	for (int i = 0; i < 20 && !heard; i++) {
		if (i)
			json_decref(call(&d, "alice", "toggle-subscriber-updates", "{}", "token=t"));
		json_decref(call(&d, "alice", "toggle-subscriber-updates", "{}", "token=t"));
		for (int w = 0; w < 30 && !(heard = file_has(path, update)); w++)
			it_sleep_ms(10);
	}
	cr_assert(heard, "mcpctl listen never printed %s", update);
	kill(pid, SIGINT);
	json_decref(itd_ctl_wait(&d, pid, &status));
	cr_assert_eq(status, 0, "mcpctl listen exited %d", status);
	itd_stop(&d);
	it_assert_no_children();
}

Test(interop, mcpctl_listen_prints_a_modern_sdk_v2_servers_resource_updates)
{
	static const char update[] = "{\"method\":\"notifications/resources/updated\",\"params\":"
				     "{\"uri\":\"memo://hello\"}}";
	char cat[8192], path[400];
	struct itd d;
	bool heard = false;
	int status;
	pid_t pid;

	era_catalog(cat, sizeof(cat), "modern", 0);
	itd_start(&d, cat, NULL);
	pid = itd_ctl_async(&d, ARGS("listen", "alice", "era", "-a", "token=a1", "--uri",
				     "memo://hello"));
	snprintf(path, sizeof(path), "%s/ctl-%ld.out", d.dir, (long)pid);
	/* The listen (subscriptions/listen) may not be open yet: touch until it hears. */
	for (int i = 0; i < 50 && !heard; i++) {
		json_decref(era_ok(&d, ARGS("call", "alice", "era", "touch", "{\"uri\":\"memo://hello\"}",
					    "-a", "token=a1")));
		for (int w = 0; w < 10 && !(heard = file_has(path, update)); w++)
			it_sleep_ms(10);
	}
	cr_assert(heard, "mcpctl listen never printed %s", update);
	kill(pid, SIGINT);
	json_decref(itd_ctl_wait(&d, pid, &status));
	cr_assert_eq(status, 0, "mcpctl listen exited %d", status);
	itd_stop(&d);
	it_assert_no_children();
}

/* Counts the lines of path that contain needle. */
static int file_count(const char *path, const char *needle)
{
	char line[8192];
	FILE *f = fopen(path, "r");
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

/*
 * Over Streamable HTTP the listen is a subscriptions/listen POST whose SSE
 * stream carries the updates. When that stream breaks (the server's `drop`
 * cuts it), the acknowledged listen is listened again and goes on hearing.
 */
static pid_t era_http_pgid; /* era-server.mjs modern --http, stopped by the fini if a test fails */

static void stop_era_http(void)
{
	it_stop_server(era_http_pgid);
	era_http_pgid = 0;
}

Test(interop, a_listen_on_a_modern_http_server_hears_its_updates_and_survives_a_broken_stream,
     .fini = stop_era_http)
{
	static const char update[] = "{\"method\":\"notifications/resources/updated\",\"params\":"
				     "{\"uri\":\"memo://hello\"}}";
	char script[4096], port[16], log[400], cat[512], path[400];
	struct itd d;
	int p = it_free_port(), status;
	pid_t pid;

	if (!realpath("tests/interop/era-server.mjs", script))
		cr_assert_fail("tests/interop/era-server.mjs is missing");
	snprintf(cat, sizeof(cat), "{\"mcpServers\": {\"era\": {\"url\": \"http://127.0.0.1:%d/\","
		 " \"protocol\": \"modern\"}}}", p);
	itd_start(&d, cat, NULL);
	snprintf(port, sizeof(port), "%d", p);
	snprintf(log, sizeof(log), "%s/era-http.log", d.dir);
	era_http_pgid = it_start_server(ARGS("node", script, "modern", "--http", port), p, log);
	pid = itd_ctl_async(&d, ARGS("listen", "alice", "era", "--uri", "memo://hello"));
	snprintf(path, sizeof(path), "%s/ctl-%ld.out", d.dir, (long)pid);
	for (int round = 1; round <= 2; round++) {
		if (round == 2) { /* the server drops the listen's stream: it is listened again */
			json_decref(era_ok(&d, ARGS("call", "alice", "era", "drop", "{}")));
			cr_assert(itd_wait_log(&d, "sent subscriptions/listen again", 10000),
				  "the listen was not listened again after its exchange ended (log %s)",
				  d.log);
		}
		for (int i = 0; i < 50 && file_count(path, update) < round; i++) {
			json_decref(era_ok(&d, ARGS("call", "alice", "era", "touch",
						    "{\"uri\":\"memo://hello\"}", "--timeout", "30000")));
			for (int w = 0; w < 10 && file_count(path, update) < round; w++)
				it_sleep_ms(10);
		}
		cr_assert_geq(file_count(path, update), round, "round %d: mcpctl listen printed no "
			      "update (log %s)", round, d.log);
	}
	kill(pid, SIGINT);
	json_decref(itd_ctl_wait(&d, pid, &status));
	cr_assert_eq(status, 0, "mcpctl listen exited %d", status);
	itd_stop(&d);
	stop_era_http();
	it_assert_no_children();
}
