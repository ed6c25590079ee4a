/* Tests of the task records: which connection made which task, and their bounds. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "daemon.h"
#include "tasks.h"

static struct daemon d;
static struct tasks_conn a, b;
static const int conn_a = 1, conn_b = 2; /* the connections' identities: compared, never followed */

static void setup(void)
{
	memset(&d, 0, sizeof(d));
	tasks_conn_init(&a);
	tasks_conn_init(&b);
}

static void teardown(void)
{
	tasks_conn_closed(&d, &a, true, "test over");
	tasks_conn_closed(&d, &b, true, "test over");
	tasks_shutdown(&d);
}

TestSuite(tasks, .init = setup, .fini = teardown);

/* Records the modern handle of id for c (alice's server m) with ttl ttl_ms. */
static void handle(struct tasks_conn *c, const void *conn, const char *id, int ttl_ms)
{
	char result[256];

	snprintf(result, sizeof(result), "{\"resultType\":\"task\",\"taskId\":\"%s\",\"status\":"
		 "\"working\",\"ttlMs\":%d}", id, ttl_ms);
	tasks_note_result(&d, c, conn, "alice:m", result, strlen(result));
}

/* tasks_route of tasks/get id for alice's m on conn; err gets the reason. */
static int route(const char *id, const void *conn, char *err, size_t errlen)
{
	char params[128];

	snprintf(params, sizeof(params), "{\"taskId\":\"%s\"}", id);
	return tasks_route(&d, "alice", "m", "tasks/get", params, strlen(params), conn, err, errlen);
}

Test(tasks, a_task_goes_only_to_the_connection_that_created_it)
{
	char err[512];

	handle(&a, &conn_a, "t1", 60000);
	cr_assert_eq(a.count, 1);
	cr_assert_eq(route("t1", &conn_a, err, sizeof(err)), 0);
	cr_assert_eq(route("t1", NULL, err, sizeof(err)), 0, "a live creator: no refusal before choosing");
	cr_assert_eq(route("t1", &conn_b, err, sizeof(err)), -1);
	cr_assert(strstr(err, "takes no new requests"), "%s", err);
	/* Unknown ids, other users and methods without a task are not this module's business. */
	cr_assert_eq(route("t2", &conn_b, err, sizeof(err)), 0);
	cr_assert_eq(tasks_route(&d, "bob", "m", "tasks/get", "{\"taskId\":\"t1\"}", 15, &conn_b, err,
				 sizeof(err)), 0);
	cr_assert_eq(tasks_route(&d, "alice", "m", "tasks/list", "{\"taskId\":\"t1\"}", 15, &conn_b,
				 err, sizeof(err)), 0);
	cr_assert_eq(tasks_route(&d, "alice", "m", "tools/call", "{\"taskId\":\"t1\"}", 15, &conn_b,
				 err, sizeof(err)), 0);
}

Test(tasks, only_task_handles_are_recorded)
{
	static const char *const not_handles[] = {
		"{\"resultType\":\"complete\",\"taskId\":\"t1\",\"status\":\"working\"}", /* tasks/get */
		"{\"content\":[{\"type\":\"text\",\"text\":\"\\\"taskId\\\"\"}]}",
		"{\"task\":{\"status\":\"working\"}}",
		"{\"resultType\":\"task\",\"taskId\":7}",
		"not json \"taskId\"",
	};
	static const char legacy[] = "{\"task\":{\"taskId\":\"old\",\"status\":\"working\",\"ttl\":null}}";

	for (size_t i = 0; i < sizeof(not_handles) / sizeof(not_handles[0]); i++)
		tasks_note_result(&d, &a, &conn_a, "alice:m", not_handles[i], strlen(not_handles[i]));
	cr_assert_eq(a.count, 0);
	tasks_note_result(&d, &a, &conn_a, "alice:m", legacy, strlen(legacy));
	cr_assert_eq(a.count, 1, "a 2025-11-25 CreateTaskResult is a handle");
}

Test(tasks, a_closed_connections_tasks_are_refused_unless_the_server_keeps_them)
{
	char err[512];

	handle(&a, &conn_a, "t1", 60000);
	handle(&b, &conn_b, "t2", 60000);
	tasks_conn_closed(&d, &a, false, "server exited with status 3");
	tasks_conn_closed(&d, &b, true, "evicted by request");
	cr_assert_eq(a.count, 0);
	cr_assert_eq(route("t1", NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "task t1 is gone") && strstr(err, "server exited with status 3"), "%s", err);
	cr_assert_eq(route("t2", NULL, err, sizeof(err)), 0, "a stateless server's task is forwarded");
	/* A new process handing out t1 again: the newest creator wins. */
	tasks_conn_init(&a);
	handle(&a, &conn_b, "t1", 60000);
	cr_assert_eq(route("t1", &conn_b, err, sizeof(err)), 0);
}

static bool forwarded(void)
{
	char err[512];
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < 2000; i++) {
		if (route("t1", NULL, err, sizeof(err)) == 0)
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

Test(tasks, a_tombstone_lasts_until_the_tasks_ttl)
{
	char err[512];

	handle(&a, &conn_a, "t1", 30);
	tasks_conn_closed(&d, &a, false, "evicted by request");
	cr_assert_eq(route("t1", NULL, err, sizeof(err)), -1);
	cr_assert(forwarded(), "still refused long after its ttl");
}

Test(tasks, a_connection_records_at_most_TASKS_PER_CONN_MAX_tasks)
{
	char id[32], err[512];

	for (int i = 1; i <= TASKS_PER_CONN_MAX + 1; i++) {
		snprintf(id, sizeof(id), "t%d", i);
		handle(&a, &conn_a, id, 60000);
	}
	cr_assert_eq(a.count, TASKS_PER_CONN_MAX);
	cr_assert_eq(route("t1", &conn_b, err, sizeof(err)), 0, "the oldest record was dropped");
	cr_assert_eq(route("t2", &conn_b, err, sizeof(err)), -1);
}

Test(tasks, at_most_TASKS_GONE_MAX_tombstones_are_kept)
{
	enum { CONNS = TASKS_GONE_MAX / TASKS_PER_CONN_MAX + 1 };
	static struct tasks_conn c[CONNS];
	char id[32], err[512];
	int n = 0;

	for (int k = 0; k < CONNS; k++) {
		tasks_conn_init(&c[k]);
		for (int i = 0; i < TASKS_PER_CONN_MAX; i++) {
			snprintf(id, sizeof(id), "t%d", ++n);
			handle(&c[k], &c[k], id, 60000);
		}
		tasks_conn_closed(&d, &c[k], false, "idle timeout");
	}
	cr_assert_eq(route("t1", NULL, err, sizeof(err)), 0, "the oldest tombstone was dropped");
	snprintf(id, sizeof(id), "t%d", n - TASKS_GONE_MAX + 1);
	cr_assert_eq(route(id, NULL, err, sizeof(err)), -1, "%s", id);
	snprintf(id, sizeof(id), "t%d", n - TASKS_GONE_MAX);
	cr_assert_eq(route(id, NULL, err, sizeof(err)), 0, "%s", id);
}
