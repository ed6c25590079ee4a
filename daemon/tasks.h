/* Task handles (the io.modelcontextprotocol/tasks extension): which connection made which task. */
#ifndef MCPPOOL_TASKS_H
#define MCPPOOL_TASKS_H

#include <stdbool.h>
#include <stddef.h>

#include "list.h"

/*
 * A server that declares tasks may answer a request (tools/call) with a task
 * handle instead of its result: 2026-07-28's extension a result with
 * `resultType: "task"` and a `taskId`, 2025-11-25's a `CreateTaskResult`
 * `{"task": {"taskId": ...}}`. The app then polls with `tasks/get` (and
 * `tasks/update`, `tasks/cancel`, legacy `tasks/result`) carrying
 * params.taskId. A stdio server keeps its tasks in its process, and a legacy
 * HTTP server in its session: only the connection that created a task can
 * answer for it, and a new server process may hand out the same ids again.
 * So the daemon records, per pool key ("user:mcp"), which connection created
 * each task, and a tasks/... request for a recorded task is only ever sent to
 * that connection; when it is gone, or draining (auth changed, evicted while
 * busy, catalog entry changed), the app gets UPSTREAM_CLOSED naming the task
 * instead of an answer about some other task.
 *
 * A modern (2026-07-28) HTTP server is stateless: its tasks live on the
 * server, any connection of the origin reaches them, so its records are
 * dropped when the connection closes and later requests go to the key's
 * current connection.
 *
 * Bounds: a connection records at most TASKS_PER_CONN_MAX tasks (the oldest
 * record goes first; a request for a forgotten task is forwarded as if never
 * recorded); each record lives until the task's ttl (ttlMs, legacy ttl),
 * at most TASK_KEEP_MAX_MS; the records of closed connections ("tombstones",
 * for the clear error) are at most TASKS_GONE_MAX daemon-wide, oldest first
 * out. A live task does not make its connection busy: the pool's rules count
 * requests in flight only (a polled task's connection is used at every poll,
 * so the idle sweep does not take it; see PROTOCOL.md "Tasks").
 */
#define TASKS_PER_CONN_MAX 64
#define TASKS_GONE_MAX 1024
#define TASK_KEEP_MAX_MS (24ULL * 3600 * 1000)

struct daemon;

/* The tasks one connection created: embedded in its upstream; tasks_conn_init() before use. */
struct tasks_conn {
	struct list_node records; /* struct task_record, oldest first */
	unsigned count;
};

void tasks_conn_init(struct tasks_conn *c);

/*
 * A result relayed for a request on connection conn (pool key key) is
 * result[0..len) (JSON text of the result object): when it is a task handle,
 * the task is recorded for conn. Cheap for other results (one memmem).
 * Out of memory: the task is not recorded (logged).
 */
void tasks_note_result(struct daemon *d, struct tasks_conn *c, const void *conn, const char *key,
		       const char *result, size_t len);

/*
 * May an app request (method, params) for user's server mcp go to conn? conn is
 * the connection chosen for it, or NULL to ask before choosing one (only a
 * task whose connection closed is refused then). Returns 0 (not a tasks/...
 * request with a recorded taskId, or conn created it), or -1 with the reason
 * in err: the task's connection closed or is not conn.
 */
int tasks_route(struct daemon *d, const char *user, const char *mcp, const char *method,
		const char *params, size_t params_len, const void *conn, char *err, size_t errlen);

/*
 * Connection c closes (why: its close reason). When its tasks die with it
 * (stdio, legacy HTTP: survive false) its records stay as tombstones until
 * their ttl; when the server keeps them (modern HTTP) they are forgotten.
 */
void tasks_conn_closed(struct daemon *d, struct tasks_conn *c, bool survive, const char *why);

/* Frees every record and the map (after every connection closed). Safe when none was made. */
void tasks_shutdown(struct daemon *d);

#endif
