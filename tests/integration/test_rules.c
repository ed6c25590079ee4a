/* Integration: the pool rules of DESIGN.md, with the real daemon and real fixture children. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

static long total(struct itd *d)
{
	json_t *status = itd_pool_status(d);
	long n = (long)json_integer_value(json_object_get(status, "totalConnections"));
	json_decref(status);
	return n;
}

/*
 * The pool_status entry of the connection with key, and with server pid when
 * pid > 0, or NULL; *status gets the reply, to json_decref when done.
 */
static json_t *entry_of(struct itd *d, const char *key, long pid, json_t **status)
{
	json_t *e;
	size_t i;

	*status = itd_pool_status(d);
	json_array_foreach(json_object_get(*status, "connectionDetails"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "key")), key) == 0 &&
		    (pid <= 0 || json_integer_value(json_object_get(e, "pid")) == pid))
			return e;
	return NULL;
}

/* True when the pool has an entry with key. */
static bool has_key(struct itd *d, const char *key)
{
	json_t *status;
	bool found = entry_of(d, key, 0, &status) != NULL;
	json_decref(status);
	return found;
}

/* Asserts that the connection of server pid is in state with inflight requests. */
static void assert_entry(struct itd *d, const char *key, long pid, const char *state,
			 unsigned inflight)
{
	json_t *status, *e = entry_of(d, key, pid, &status);
	cr_assert_not_null(e, "no connection %s with pid %ld", key, pid);
	cr_assert_str_eq(json_string_value(json_object_get(e, "state")), state);
	cr_assert_eq(json_integer_value(json_object_get(e, "inFlight")), inflight);
	json_decref(status);
}

/* Milliseconds since the epoch of an ISO-8601 UTC time with milliseconds, as pool_status gives. */
static long long iso_ms(const char *iso)
{
	struct tm tm = { 0 };
	int ms = 0;
	cr_assert_eq(sscanf(iso, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms), 7, "not a time: %s", iso);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000 + ms;
}

struct idle_wait {
	struct itd *d;
	const char *key;
	long long ms;
};

static bool idle_long_enough(void *arg)
{
	struct idle_wait *w = arg;
	struct timespec now;
	json_t *status, *e = entry_of(w->d, w->key, 0, &status);
	bool ok;

	cr_assert_not_null(e, "no connection %s", w->key);
	clock_gettime(CLOCK_REALTIME, &now);
	ok = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 -
		     iso_ms(json_string_value(json_object_get(e, "lastUsed"))) > w->ms;
	json_decref(status);
	return ok;
}

/* Polls until the connection with key was last used more than ms ago, by its lastUsed. */
static void wait_idle_longer_than(struct itd *d, const char *key, long long ms)
{
	struct idle_wait w = { d, key, ms };
	cr_assert(it_poll(idle_long_enough, &w, (unsigned)ms + 10000), "%s stayed in use", key);
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
	json_t *status = itd_pool_status(&d);
	json_t *counts = json_object_get(status, "userConnectionCounts");
	cr_assert_eq(json_integer_value(json_object_get(counts, "alice")), 1);
	cr_assert_eq(json_integer_value(json_object_get(counts, "bob")), 1);
	json_decref(status);
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
	cr_assert(it_wait_gone((pid_t)a, 10000), "the old child %ld was not closed", a);
	cr_assert_eq(total(&d), 1);
	int st;
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "getenv",
					       "{\"name\":\"TOKEN\"}", "-a", "token=two"));
	cr_assert_str_eq(it_text(r), "two");
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

/*
 * The old server is frozen with the call on it, so the auth change finds the
 * call in flight however slow the machine (a timed sleep and a background
 * mcpctl that started late made this pass or fail by luck).
 */
Test(rules, auth_change_lets_the_old_connection_finish_its_requests)
{
	struct itd d;
	int st;
	itd_start(&d, MULTI_CATALOG, NULL);
	long a = pid_of(&d, "alice", "tok", "token=one");
	it_freeze((pid_t)a);
	pid_t pending = itd_ctl_async(&d, ARGS("call", "alice", "tok", "echo",
					       "{\"message\":\"finished\"}", "-a", "token=one"));
	cr_assert(itd_wait_inflight(&d, "alice:tok", a, 1, 20000), "the call never reached the server");
	long b = pid_of(&d, "alice", "tok", "token=two");
	cr_assert_neq(a, b);
	assert_entry(&d, "alice:tok", a, "draining", 1);
	assert_entry(&d, "alice:tok", b, "idle", 0);
	it_thaw((pid_t)a);
	json_t *r = itd_ctl_wait(&d, pending, &st);
	cr_assert_eq(st, 0, "the in-flight call on the old connection failed");
	cr_assert_str_eq(it_text(r), "finished");
	json_decref(r);
	cr_assert(it_wait_gone((pid_t)a, 10000), "the drained child was not closed");
	cr_assert_eq(total(&d), 1);
	cr_assert_eq(pid_of(&d, "alice", "tok", "token=two"), b);
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
	cr_assert(it_wait_gone((pid_t)first, 10000));
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
	long busy = pid_of(&d, "alice", "demo", NULL);
	it_freeze((pid_t)busy);
	pid_t pending = itd_ctl_async(&d, ARGS("call", "alice", "demo", "echo", "{\"message\":\"done\"}"));
	cr_assert(itd_wait_inflight(&d, "alice:demo", busy, 1, 20000), "the call never reached the server");
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "demo2", "echo", "{\"message\":\"x\"}"));
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "POOL_EXHAUSTED");
	json_decref(r);
	it_thaw((pid_t)busy);
	r = itd_ctl_wait(&d, pending, &st);
	cr_assert_eq(st, 0, "the busy connection was cut off");
	cr_assert_str_eq(it_text(r), "done");
	json_decref(r);
	/* Once idle, it can make room. */
	r = itd_ctl_json(&d, &st, ARGS("call", "alice", "demo2", "echo", "{\"message\":\"x\"}"));
	cr_assert_eq(st, 0);
	json_decref(r);
	cr_assert(it_wait_gone((pid_t)busy, 10000), "the evicted child was not closed");
	itd_stop(&d);
	it_assert_no_children();
}

struct entry_wait {
	struct itd *d;
	const char *key;
	long pid;
};

static bool entry_appeared(void *arg)
{
	struct entry_wait *w = arg;
	json_t *status, *e = entry_of(w->d, w->key, 0, &status);
	w->pid = e ? (long)json_integer_value(json_object_get(e, "pid")) : 0;
	json_decref(status);
	return w->pid > 0;
}

/*
 * The first call's server is frozen while it starts, so that the nine calls
 * after it surely arrive during the start, however slow the machine.
 */
Test(rules, concurrent_first_requests_start_one_child)
{
	struct itd d;
	struct entry_wait w = { &d, "alice:slow", 0 };
	pid_t calls[10];
	int st;
	itd_start(&d, FIXTURE_CATALOG(", \"slow\": {\"command\": \"@FIXTURE@\", \"args\": [\"--slow-start\", \"1000\"]}"),
		  NULL);
	calls[0] = itd_ctl_async(&d, ARGS("call", "alice", "slow", "pid"));
	cr_assert(it_poll(entry_appeared, &w, 20000), "the first call started no server");
	it_freeze((pid_t)w.pid);
	for (int i = 1; i < 10; i++)
		calls[i] = itd_ctl_async(&d, ARGS("call", "alice", "slow", "pid"));
	cr_assert(itd_wait_inflight(&d, "alice:slow", w.pid, 10, 20000),
		  "the ten calls never waited together");
	assert_entry(&d, "alice:slow", w.pid, "starting", 10);
	it_thaw((pid_t)w.pid);
	for (int i = 0; i < 10; i++) {
		json_t *r = itd_ctl_wait(&d, calls[i], &st);
		cr_assert_eq(st, 0);
		cr_assert_eq(atol(it_text(r)), w.pid, "two children for one key: %ld and %s", w.pid,
			     it_text(r));
		json_decref(r);
	}
	cr_assert_eq(itd_metric(&d, "mcppool_spawns_total"), 1);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, the_sweep_closes_idle_connections_past_the_timeout)
{
	struct itd d;
	const char *env[] = { "CONNECTION_TIMEOUT=300", "CLEANUP_INTERVAL=100", NULL };
	itd_start(&d, NULL, env);
	long p = pid_of(&d, "alice", "demo", NULL);
	cr_assert(it_wait_gone((pid_t)p, 10000), "the idle child was not swept");
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
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, cleanup_closes_idle_connections_past_the_timeout)
{
	struct itd d;
	int st;
	/* Long enough that bob, used again just before the cleanup, is surely not idle that long. */
	const char *env[] = { "CONNECTION_TIMEOUT=1000", NULL };
	itd_start(&d, NULL, env);
	pid_of(&d, "alice", "demo", NULL);
	pid_of(&d, "bob", "demo", NULL);
	wait_idle_longer_than(&d, "alice:demo", 1000);
	pid_of(&d, "bob", "demo", NULL); /* bob is fresh again */
	json_t *r = itd_ctl_json(&d, &st, ARGS("cleanup"));
	json_t *data = it_data(r);
	cr_assert_eq(json_integer_value(json_object_get(data, "cleanedConnections")), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(data, "before"), "totalConnections")), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(data, "after"), "totalConnections")), 1);
	json_t *after = json_object_get(json_object_get(data, "after"), "userConnectionCounts");
	cr_assert_null(json_object_get(after, "alice"));
	cr_assert_eq(json_integer_value(json_object_get(after, "bob")), 1);
	json_decref(r);
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
	json_t *r = itd_ctl_json(&d, &st, ARGS("evict", "alice", "demo"));
	cr_assert_eq(json_integer_value(json_object_get(it_data(r), "evicted")), 1);
	json_decref(r);
	cr_assert(it_wait_gone((pid_t)a, 10000));
	r = itd_ctl_json(&d, &st, ARGS("evict", "alice"));
	cr_assert_eq(json_integer_value(json_object_get(it_data(r), "evicted")), 1);
	json_decref(r);
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
	json_decref(r);
	r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "getenv", "{\"name\":\"TOKEN\"}",
				       "-a", "token=t1"));
	cr_assert_str_eq(it_text(r), "t1");
	json_decref(r);
	r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "getenv", "{\"name\":\"PATH\"}",
				       "-a", "token=t1"));
	cr_assert_neq(strlen(it_text(r)), 0, "PATH is part of the base environment");
	json_decref(r);
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
	json_decref(r);
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
	json_decref(r);
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
	json_decref(r);
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
	json_decref(r);
	cr_assert_eq(total(&d), 0);
	itd_stop(&d);
}

Test(rules, warm_opens_a_connection_ahead_of_use)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("warm", "alice", "demo"));
	cr_assert(json_is_false(json_object_get(it_data(r), "reused")));
	long pid = (long)json_integer_value(json_object_get(it_data(r), "pid"));
	json_decref(r);
	cr_assert_gt(pid, 0);
	cr_assert_eq(pid_of(&d, "alice", "demo", NULL), pid);
	r = itd_ctl_json(&d, &st, ARGS("warm", "alice", "demo"));
	cr_assert(json_is_true(json_object_get(it_data(r), "reused")));
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rules, warm_describes_the_server_as_initialize_did)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("warm", "alice", "demo"));
	json_t *server = json_object_get(it_data(r), "server");
	cr_assert(json_is_object(server), "warm has no server object");
	cr_assert_str_eq(json_string_value(json_object_get(server, "protocolVersion")), "2025-11-25");
	cr_assert(json_is_object(json_object_get(json_object_get(server, "capabilities"), "tools")));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(server, "serverInfo"),
							   "version")), "1.0.0");
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}
