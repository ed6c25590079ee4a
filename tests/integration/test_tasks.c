/* Integration: the tasks extension: a task's requests go to the connection that created it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(tasks, .init = it_subreaper, .timeout = 60);

/*
 * The fixture's slow_task returns a task handle when the request declares
 * the extension: "modern" declares it in clientCapabilities; "legacy" gets a
 * task param per request (2025-11-25). "plain" declares nothing. "authed"
 * puts the caller's token in its environment (a new token, a new connection).
 */
#define TASKS_CATALOG                                                                      \
	"{\"mcpServers\": {"                                                               \
	"\"modern\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"modern\"],"       \
	" \"clientCapabilities\": {\"extensions\": {\"io.modelcontextprotocol/tasks\": {}}}},"  \
	"\"legacy\": {\"command\": \"@FIXTURE@\"},"                                        \
	"\"plain\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"modern\"]},"       \
	"\"authed\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"modern\"],"       \
	" \"env\": {\"TOKEN\": \"${auth.token}\"},"                                        \
	" \"clientCapabilities\": {\"extensions\": {\"io.modelcontextprotocol/tasks\": {}}}}"  \
	"}}"

#define GET_TASK_1 "{\"taskId\":\"task-1\"}"

/* Runs mcpctl, asserting success; returns the reply's data (a new reference). */
static json_t *ok(struct itd *d, const char *const *args)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, args), *data;

	cr_assert_eq(st, 0, "%s %s %s %s failed: %s", args[0], args[1], args[2], args[3],
		     r ? json_dumps(r, JSON_COMPACT) : "(no JSON)");
	data = json_incref(it_data(r));
	json_decref(r);
	return data;
}

/* Runs mcpctl, asserting it failed with code; returns the error message (malloc'd). */
static char *fails(struct itd *d, const char *code, const char *const *args)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, args);
	char *msg;

	cr_assert_eq(st, 1, "%s %s %s %s: want %s, got %s", args[0], args[1], args[2], args[3], code,
		     r ? json_dumps(r, JSON_COMPACT) : "(no JSON)");
	cr_assert_str_eq(it_error_code(r), code);
	msg = strdup(json_string_value(json_object_get(json_object_get(r, "error"), "message")));
	json_decref(r);
	return msg;
}

/* The string member key of object o ("" when absent). */
static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* The first text of a CallToolResult ("" when none). */
static const char *text_of(json_t *result)
{
	return str(json_array_get(json_object_get(result, "content"), 0), "text");
}

/* Creates a task of user on mcp (a modern server) that completes after polls polls; returns its id. */
static char *create(struct itd *d, const char *user, const char *mcp, int polls, const char *auth)
{
	char args[64];
	json_t *h;
	char *id;

	snprintf(args, sizeof(args), "{\"polls\":%d}", polls);
	h = auth ? ok(d, ARGS("call", user, mcp, "slow_task", args, "-a", auth))
		 : ok(d, ARGS("call", user, mcp, "slow_task", args));
	cr_assert_str_eq(str(h, "resultType"), "task", "not a task handle: %s", json_dumps(h, 0));
	id = strdup(str(h, "taskId"));
	json_decref(h);
	return id;
}

/* tasks/get of task-1 for user on mcp: its status. */
static char *status_of_task_1(struct itd *d, const char *user, const char *mcp)
{
	json_t *t = ok(d, ARGS("request", user, mcp, "tasks/get", GET_TASK_1));
	char *s = strdup(str(t, "status"));

	json_decref(t);
	return s;
}

Test(tasks, a_task_created_through_the_pool_is_polled_to_completion)
{
	struct itd d;
	json_t *t;
	char *id, *s;

	itd_start(&d, TASKS_CATALOG, NULL);
	id = create(&d, "alice", "modern", 2, NULL);
	cr_assert_str_eq(id, "task-1");
	/* tasks/update reaches the server that holds the task: its next poll says so. */
	t = ok(&d, ARGS("request", "alice", "modern", "tasks/update",
			"{\"taskId\":\"task-1\",\"inputResponses\":{}}"));
	json_decref(t);
	for (int i = 0; i < 2; i++) {
		t = ok(&d, ARGS("request", "alice", "modern", "tasks/get", GET_TASK_1));
		cr_assert_str_eq(str(t, "status"), "working", "poll %d", i);
		cr_assert_str_eq(str(t, "statusMessage"), "updated");
		json_decref(t);
	}
	t = ok(&d, ARGS("request", "alice", "modern", "tasks/get", GET_TASK_1));
	cr_assert_str_eq(str(t, "status"), "completed");
	cr_assert_str_eq(text_of(json_object_get(t, "result")),
			 "done task-1");
	json_decref(t);
	/* One connection served all of it. */
	t = itd_pool_status(&d);
	cr_assert_eq(json_integer_value(json_object_get(t, "totalConnections")), 1);
	json_decref(t);
	s = status_of_task_1(&d, "alice", "modern");
	cr_assert_str_eq(s, "completed");
	free(s);
	free(id);
	itd_stop(&d);
	it_assert_no_children();
}

Test(tasks, a_legacy_task_param_gets_a_task_whose_result_comes_from_its_connection)
{
	struct itd d;
	json_t *t;

	itd_start(&d, TASKS_CATALOG, NULL);
	t = ok(&d, ARGS("request", "alice", "legacy", "tools/call",
			"{\"name\":\"slow_task\",\"arguments\":{},\"task\":{\"ttl\":60000}}"));
	cr_assert_str_eq(str(json_object_get(t, "task"), "taskId"), "task-1");
	json_decref(t);
	t = ok(&d, ARGS("request", "alice", "legacy", "tasks/get", GET_TASK_1));
	cr_assert_str_eq(str(t, "status"), "working");
	json_decref(t);
	t = ok(&d, ARGS("request", "alice", "legacy", "tasks/result", GET_TASK_1));
	cr_assert_str_eq(text_of(t), "done task-1");
	json_decref(t);
	itd_stop(&d);
}

Test(tasks, a_server_gives_no_task_to_a_request_that_did_not_declare_the_extension)
{
	struct itd d;
	json_t *t;

	itd_start(&d, TASKS_CATALOG, NULL);
	t = ok(&d, ARGS("call", "alice", "plain", "slow_task"));
	cr_assert_str_eq(text_of(t), "done without a task");
	json_decref(t);
	itd_stop(&d);
}

Test(tasks, two_users_tasks_stay_apart)
{
	struct itd d;
	char *a, *b, *s, *msg;

	itd_start(&d, TASKS_CATALOG, NULL);
	/* Each user's server counts from task-1: the same id, two tasks. */
	a = create(&d, "alice", "modern", 0, NULL);
	b = create(&d, "bob", "modern", 5, NULL);
	cr_assert_str_eq(a, b);
	s = status_of_task_1(&d, "alice", "modern");
	cr_assert_str_eq(s, "completed", "alice polled bob's task");
	free(s);
	s = status_of_task_1(&d, "bob", "modern");
	cr_assert_str_eq(s, "working", "bob polled alice's task");
	free(s);
	/* A third user reaches only its own server, which has no such task. */
	msg = fails(&d, "UPSTREAM_ERROR", ARGS("request", "carol", "modern", "tasks/get", GET_TASK_1));
	cr_assert(strstr(msg, "Unknown task"), "%s", msg);
	free(msg);
	free(a);
	free(b);
	itd_stop(&d);
}

Test(tasks, after_its_connection_closes_a_task_gets_a_clear_upstream_closed)
{
	struct itd d;
	char *id, *msg, *s;
	json_t *r;

	itd_start(&d, TASKS_CATALOG, NULL);
	id = create(&d, "alice", "modern", 5, NULL);
	r = ok(&d, ARGS("evict", "alice", "modern"));
	json_decref(r);
	msg = fails(&d, "UPSTREAM_CLOSED", ARGS("request", "alice", "modern", "tasks/get", GET_TASK_1));
	cr_assert(strstr(msg, "task task-1 is gone") && strstr(msg, "evicted by request"), "%s", msg);
	free(msg);
	/* Not sent to a new server (which would hand out task-1 again): none was started. */
	r = itd_pool_status(&d);
	cr_assert_eq(json_integer_value(json_object_get(r, "totalConnections")), 0);
	json_decref(r);
	msg = fails(&d, "UPSTREAM_CLOSED", ARGS("request", "alice", "modern", "tasks/cancel", GET_TASK_1));
	free(msg);
	/* A task the new connection creates is its own, whatever its id. */
	free(id);
	id = create(&d, "alice", "modern", 0, NULL);
	cr_assert_str_eq(id, "task-1");
	s = status_of_task_1(&d, "alice", "modern");
	cr_assert_str_eq(s, "completed");
	free(s);
	free(id);
	itd_stop(&d);
	it_assert_no_children();
}

Test(tasks, an_auth_change_does_not_reach_the_old_connections_task)
{
	struct itd d;
	char *id, *msg;

	itd_start(&d, TASKS_CATALOG, NULL);
	id = create(&d, "alice", "authed", 5, "token=one");
	msg = fails(&d, "UPSTREAM_CLOSED", ARGS("request", "alice", "authed", "tasks/get", GET_TASK_1,
						 "-a", "token=two"));
	cr_assert(strstr(msg, "task-1") && strstr(msg, "auth changed"), "%s", msg);
	free(msg);
	free(id);
	itd_stop(&d);
}

Test(tasks, a_connection_records_a_bounded_number_of_tasks)
{
	struct itd d;
	char *id, *msg;
	char last[32];
	json_t *r;

	itd_start(&d, TASKS_CATALOG, NULL);
	/* One over the bound (TASKS_PER_CONN_MAX, 64): the oldest record goes. */
	for (int i = 0; i < 65; i++) {
		id = create(&d, "alice", "modern", 5, NULL);
		snprintf(last, sizeof(last), "{\"taskId\":\"%s\"}", id);
		free(id);
	}
	cr_assert_str_eq(last, "{\"taskId\":\"task-65\"}");
	r = ok(&d, ARGS("evict", "alice", "modern"));
	json_decref(r);
	msg = fails(&d, "UPSTREAM_CLOSED", ARGS("request", "alice", "modern", "tasks/get", last));
	free(msg);
	msg = fails(&d, "UPSTREAM_CLOSED", ARGS("request", "alice", "modern", "tasks/get",
						 "{\"taskId\":\"task-2\"}"));
	free(msg);
	/* task-1 was forgotten: forwarded as an unknown task, to a new server that says so. */
	msg = fails(&d, "UPSTREAM_ERROR", ARGS("request", "alice", "modern", "tasks/get", GET_TASK_1));
	cr_assert(strstr(msg, "Unknown task"), "%s", msg);
	free(msg);
	itd_stop(&d);
}

Test(tasks, a_draining_connections_task_is_refused_while_it_finishes_its_requests)
{
	struct itd d;
	char *id, *msg;
	json_t *r;
	pid_t busy;
	int st;

	itd_start(&d, TASKS_CATALOG, NULL);
	id = create(&d, "alice", "authed", 5, "token=one");
	busy = itd_ctl_async(&d, ARGS("call", "alice", "authed", "sleep", "{\"ms\":800}", "-a", "token=one"));
	cr_assert(itd_wait_inflight(&d, "alice:authed", 0, 1, 5000));
	/* The new token retires the busy connection: it drains, and takes nothing new. */
	msg = fails(&d, "UPSTREAM_CLOSED", ARGS("request", "alice", "authed", "tasks/get", GET_TASK_1,
						 "-a", "token=two"));
	cr_assert(strstr(msg, "task-1") && strstr(msg, "takes no new requests"), "%s", msg);
	free(msg);
	r = itd_ctl_wait(&d, busy, &st);
	cr_assert_eq(st, 0, "the draining connection's own request finishes");
	json_decref(r);
	free(id);
	itd_stop(&d);
}

/* The reply's error code of tasks/get task-1 for alice on modern is UPSTREAM_ERROR (no longer refused). */
static bool task_1_forwarded(void *arg)
{
	struct itd *d = arg;
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("request", "alice", "modern", "tasks/get", GET_TASK_1));
	const char *code = r ? it_error_code(r) : NULL;
	bool forwarded = code && strcmp(code, "UPSTREAM_ERROR") == 0;

	json_decref(r);
	return forwarded;
}

Test(tasks, a_closed_connections_task_is_refused_only_until_its_ttl)
{
	struct itd d;
	char *msg;
	json_t *r;

	itd_start(&d, TASKS_CATALOG, NULL);
	/* A ttl long enough for the evict and the refused poll under make asan, short for the rest. */
	r = ok(&d, ARGS("call", "alice", "modern", "slow_task", "{\"ttl\":2000}"));
	cr_assert_str_eq(str(r, "taskId"), "task-1");
	json_decref(r);
	r = ok(&d, ARGS("evict", "alice", "modern"));
	json_decref(r);
	msg = fails(&d, "UPSTREAM_CLOSED", ARGS("request", "alice", "modern", "tasks/get", GET_TASK_1));
	free(msg);
	/* Past its ttl the server would have dropped it anyway: the record goes, the poll is forwarded. */
	cr_assert(it_poll(task_1_forwarded, &d, 10000), "still refused after its ttl");
	itd_stop(&d);
}
