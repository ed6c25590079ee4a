/* Integration: the pool rules of DESIGN.md, with the real daemon and real fixture children. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(rules, .init = it_subreaper, .timeout = 60);

/* A catalog with several fixture entries; "tok" takes ${auth.token} into TOKEN. */
#define MULTI_CATALOG                                                                    \
	FIXTURE_CATALOG(", \"demo2\": {\"command\": \"@FIXTURE@\"},"                      \
			" \"demo3\": {\"command\": \"@FIXTURE@\"},"                       \
			" \"tok\": {\"command\": \"@FIXTURE@\", \"env\": {\"TOKEN\": \"${auth.token}\"}}")

/* The fixture's pid behind (user, mcp), through its pid tool. */
static long pid_of(struct itd *d, const char *user, const char *mcp, const char *auth)
{
	int st;
	json_t *r = auth ? itd_ctl_json(d, &st, ARGS("call", user, mcp, "pid", "-a", auth))
			 : itd_ctl_json(d, &st, ARGS("call", user, mcp, "pid"));
	cr_assert_eq(st, 0, "call %s %s pid: exit %d", user, mcp, st);
	long pid = atol(it_text(r));
	cr_assert_gt(pid, 0);
	json_decref(r);
	return pid;
}

static json_t *status_data(struct itd *d)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("pool-status"));
	cr_assert_eq(st, 0);
	return it_data(r);
}

static long total(struct itd *d)
{
	return (long)json_integer_value(json_object_get(status_data(d), "totalConnections"));
}

/* True when the pool has an entry with key. */
static bool has_key(struct itd *d, const char *key)
{
	json_t *det = json_object_get(status_data(d), "connectionDetails");
	size_t i;
	json_t *e;
	json_array_foreach(det, i, e)
		if (strcmp(json_string_value(json_object_get(e, "key")), key) == 0)
			return true;
	return false;
}

static bool wait_gone(long pid, unsigned ms)
{
	for (unsigned i = 0; i < ms / 10; i++) {
		if (!it_pid_alive((pid_t)pid))
			return true;
		it_sleep_ms(10);
	}
	return false;
}

Test(rules, same_key_and_auth_reuses_the_connection)
{
	struct itd d;
	itd_start(&d, NULL, NULL);
	long a = pid_of(&d, "alice", "demo", NULL);
	long b = pid_of(&d, "alice", "demo", NULL);
	cr_assert_eq(a, b, "a second call started a second child");
	cr_assert_eq(total(&d), 1);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, different_users_get_different_children)
{
	struct itd d;
	itd_start(&d, NULL, NULL);
	cr_assert_neq(pid_of(&d, "alice", "demo", NULL), pid_of(&d, "bob", "demo", NULL));
	json_t *counts = json_object_get(status_data(&d), "userConnectionCounts");
	cr_assert_eq(json_integer_value(json_object_get(counts, "alice")), 1);
	cr_assert_eq(json_integer_value(json_object_get(counts, "bob")), 1);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, auth_change_reconnects_and_closes_the_idle_old_child)
{
	struct itd d;
	itd_start(&d, MULTI_CATALOG, NULL);
	long a = pid_of(&d, "alice", "tok", "token=one");
	long b = pid_of(&d, "alice", "tok", "token=two");
	cr_assert_neq(a, b, "auth changed but the connection was reused");
	cr_assert(wait_gone(a, 3000), "the old child %ld was not closed", a);
	cr_assert_eq(total(&d), 1);
	int st;
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "getenv",
					       "{\"name\":\"TOKEN\"}", "-a", "token=two"));
	cr_assert_str_eq(it_text(r), "two");
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, auth_change_lets_the_old_connection_finish_its_requests)
{
	struct itd d;
	int st;
	itd_start(&d, MULTI_CATALOG, NULL);
	long a = pid_of(&d, "alice", "tok", "token=one");
	pid_t slow = itd_ctl_async(&d, ARGS("call", "alice", "tok", "sleep", "{\"ms\":800}", "-a",
					    "token=one"));
	it_sleep_ms(200);
	long b = pid_of(&d, "alice", "tok", "token=two");
	cr_assert_neq(a, b);
	cr_assert(it_pid_alive((pid_t)a), "the old child was cut off mid-request");
	json_t *r = itd_ctl_wait(&d, slow, &st);
	cr_assert_eq(st, 0, "the in-flight call on the old connection failed");
	cr_assert_str_eq(it_text(r), "slept 800");
	cr_assert(wait_gone(a, 3000), "the drained child was not closed");
	cr_assert_eq(total(&d), 1);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, user_limit_evicts_the_users_least_recently_used_idle_connection)
{
	struct itd d;
	const char *env[] = { "MAX_CONNECTIONS_PER_USER=2", NULL };
	itd_start(&d, MULTI_CATALOG, env);
	long first = pid_of(&d, "alice", "demo", NULL);
	pid_of(&d, "alice", "demo2", NULL);
	pid_of(&d, "bob", "demo", NULL);
	pid_of(&d, "alice", "demo3", NULL);
	cr_assert(!has_key(&d, "alice:demo"), "the least recently used was kept");
	cr_assert(has_key(&d, "alice:demo2") && has_key(&d, "alice:demo3"));
	cr_assert(has_key(&d, "bob:demo"), "another user's connection was evicted");
	cr_assert(wait_gone(first, 3000));
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, total_limit_evicts_the_least_recently_used_idle_connection_overall)
{
	struct itd d;
	const char *env[] = { "MAX_CONNECTIONS_PER_USER=2", "MAX_TOTAL_CONNECTIONS=2", NULL };
	itd_start(&d, MULTI_CATALOG, env);
	pid_of(&d, "alice", "demo", NULL);
	pid_of(&d, "bob", "demo", NULL);
	pid_of(&d, "alice", "demo", NULL); /* alice is now more recent than bob */
	pid_of(&d, "carol", "demo", NULL);
	cr_assert(!has_key(&d, "bob:demo"));
	cr_assert(has_key(&d, "alice:demo") && has_key(&d, "carol:demo"));
	cr_assert_eq(total(&d), 2);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, a_reuse_at_the_limit_evicts_nothing)
{
	struct itd d;
	const char *env[] = { "MAX_CONNECTIONS_PER_USER=2", NULL };
	itd_start(&d, MULTI_CATALOG, env);
	long a = pid_of(&d, "alice", "demo", NULL);
	long b = pid_of(&d, "alice", "demo2", NULL);
	cr_assert_eq(pid_of(&d, "alice", "demo", NULL), a);
	cr_assert_eq(pid_of(&d, "alice", "demo2", NULL), b);
	cr_assert_eq(total(&d), 2);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, busy_connections_are_never_evicted_and_the_call_gets_pool_exhausted)
{
	struct itd d;
	int st;
	const char *env[] = { "MAX_CONNECTIONS_PER_USER=1", NULL };
	itd_start(&d, MULTI_CATALOG, env);
	pid_t slow = itd_ctl_async(&d, ARGS("call", "alice", "demo", "sleep", "{\"ms\":700}"));
	it_sleep_ms(250);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "demo2", "echo", "{\"message\":\"x\"}"));
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "POOL_EXHAUSTED");
	json_t *s = itd_ctl_wait(&d, slow, &st);
	cr_assert_eq(st, 0, "the busy connection was cut off");
	cr_assert_str_eq(it_text(s), "slept 700");
	/* Once idle, it can make room. */
	r = itd_ctl_json(&d, &st, ARGS("call", "alice", "demo2", "echo", "{\"message\":\"x\"}"));
	cr_assert_eq(st, 0);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, concurrent_first_requests_start_one_child)
{
	struct itd d;
	pid_t calls[10];
	long pid = 0;
	int st;
	itd_start(&d, FIXTURE_CATALOG(", \"slow\": {\"command\": \"@FIXTURE@\", \"args\": [\"--slow-start\", \"300\"]}"),
		  NULL);
	for (int i = 0; i < 10; i++)
		calls[i] = itd_ctl_async(&d, ARGS("call", "alice", "slow", "pid"));
	for (int i = 0; i < 10; i++) {
		json_t *r = itd_ctl_wait(&d, calls[i], &st);
		cr_assert_eq(st, 0);
		long p = atol(it_text(r));
		cr_assert(pid == 0 || p == pid, "two children for one key: %ld and %ld", pid, p);
		pid = p;
	}
	char *m;
	itd_ctl(&d, &m, NULL, ARGS("metrics"));
	cr_assert(strstr(m, "mcppool_spawns_total 1\n"), "%s", m);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, the_sweep_closes_idle_connections_past_the_timeout)
{
	struct itd d;
	const char *env[] = { "CONNECTION_TIMEOUT=300", "CLEANUP_INTERVAL=100", NULL };
	itd_start(&d, NULL, env);
	long p = pid_of(&d, "alice", "demo", NULL);
	cr_assert(wait_gone(p, 3000), "the idle child was not swept");
	cr_assert_eq(total(&d), 0);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, the_sweep_never_closes_a_connection_with_a_request_in_flight)
{
	struct itd d;
	int st;
	const char *env[] = { "CONNECTION_TIMEOUT=100", "CLEANUP_INTERVAL=50", NULL };
	itd_start(&d, NULL, env);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "demo", "sleep", "{\"ms\":700}"));
	cr_assert_eq(st, 0, "the sweep cut a call off");
	cr_assert_str_eq(it_text(r), "slept 700");
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, cleanup_closes_idle_connections_past_the_timeout)
{
	struct itd d;
	int st;
	const char *env[] = { "CONNECTION_TIMEOUT=200", NULL };
	itd_start(&d, NULL, env);
	pid_of(&d, "alice", "demo", NULL);
	pid_of(&d, "bob", "demo", NULL);
	it_sleep_ms(400);
	pid_of(&d, "bob", "demo", NULL); /* bob is fresh again */
	json_t *data = it_data(itd_ctl_json(&d, &st, ARGS("cleanup")));
	cr_assert_eq(json_integer_value(json_object_get(data, "cleanedConnections")), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(data, "before"), "totalConnections")), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(data, "after"), "totalConnections")), 1);
	json_t *after = json_object_get(json_object_get(data, "after"), "userConnectionCounts");
	cr_assert_null(json_object_get(after, "alice"));
	cr_assert_eq(json_integer_value(json_object_get(after, "bob")), 1);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, evict_closes_a_users_connections)
{
	struct itd d;
	int st;
	itd_start(&d, MULTI_CATALOG, NULL);
	long a = pid_of(&d, "alice", "demo", NULL);
	pid_of(&d, "alice", "demo2", NULL);
	pid_of(&d, "bob", "demo", NULL);
	json_t *data = it_data(itd_ctl_json(&d, &st, ARGS("evict", "alice", "demo")));
	cr_assert_eq(json_integer_value(json_object_get(data, "evicted")), 1);
	cr_assert(wait_gone(a, 3000));
	data = it_data(itd_ctl_json(&d, &st, ARGS("evict", "alice")));
	cr_assert_eq(json_integer_value(json_object_get(data, "evicted")), 1);
	cr_assert_eq(total(&d), 1);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, children_get_the_base_environment_and_their_auth_not_the_daemons)
{
	struct itd d;
	int st;
	const char *env[] = { "DAEMON_SECRET=leaked", NULL };
	itd_start(&d, MULTI_CATALOG, env);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "getenv",
					       "{\"name\":\"DAEMON_SECRET\"}", "-a", "token=t1"));
	cr_assert_eq(st, 0);
	cr_assert_str_eq(it_text(r), "", "the daemon's environment leaked into a child");
	r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "getenv", "{\"name\":\"TOKEN\"}",
				       "-a", "token=t1"));
	cr_assert_str_eq(it_text(r), "t1");
	r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "getenv", "{\"name\":\"PATH\"}",
				       "-a", "token=t1"));
	cr_assert_neq(strlen(it_text(r)), 0, "PATH is part of the base environment");
	cr_assert(!itd_log_contains(&d, "t1\""), "an auth value reached the log");
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, missing_auth_key_is_auth_invalid_naming_it)
{
	struct itd d;
	int st;
	itd_start(&d, MULTI_CATALOG, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "echo", "{\"message\":\"x\"}"));
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "AUTH_INVALID");
	const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
	cr_assert(strstr(msg, "token"), "%s", msg);
	itd_stop(&d);
}

Test(rules, unreferenced_auth_key_is_auth_invalid_naming_it)
{
	struct itd d;
	int st;
	itd_start(&d, MULTI_CATALOG, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "echo", "{\"message\":\"x\"}",
					       "-a", "token=a", "-a", "extra=b"));
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "AUTH_INVALID");
	const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
	cr_assert(strstr(msg, "extra"), "%s", msg);
	cr_assert_null(strstr(msg, "\"b\""), "a value reached the message: %s", msg);
	itd_stop(&d);
}

Test(rules, unknown_mcp_is_unknown_mcp)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "nope", "echo"));
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "UNKNOWN_MCP");
	itd_stop(&d);
}

Test(rules, user_id_with_a_colon_is_refused)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "ali:ce", "demo", "echo"));
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "BAD_REQUEST");
	cr_assert_eq(total(&d), 0);
	itd_stop(&d);
}

Test(rules, warm_opens_a_connection_ahead_of_use)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *data = it_data(itd_ctl_json(&d, &st, ARGS("warm", "alice", "demo")));
	cr_assert(json_is_false(json_object_get(data, "reused")));
	long pid = (long)json_integer_value(json_object_get(data, "pid"));
	cr_assert_gt(pid, 0);
	cr_assert_eq(pid_of(&d, "alice", "demo", NULL), pid);
	data = it_data(itd_ctl_json(&d, &st, ARGS("warm", "alice", "demo")));
	cr_assert(json_is_true(json_object_get(data, "reused")));
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, warm_describes_the_server_as_initialize_did)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *data = it_data(itd_ctl_json(&d, &st, ARGS("warm", "alice", "demo")));
	json_t *server = json_object_get(data, "server");
	cr_assert(json_is_object(server), "warm has no server object");
	cr_assert_str_eq(json_string_value(json_object_get(server, "protocolVersion")), "2025-11-25");
	cr_assert(json_is_object(json_object_get(json_object_get(server, "capabilities"), "tools")));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(server, "serverInfo"),
							   "version")), "1.0.0");
	itd_stop(&d);
	it_assert_no_children();
}
