/* Integration test harness: a real mcppoold on a temporary socket, driven through mcpctl. */
#ifndef MCPPOOL_HARNESS_H
#define MCPPOOL_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct itd {
	pid_t pid;
	char dir[256];      /* private temp dir: socket, catalog, log */
	char sock[300];
	char servers[300];
	char log[300];
	int exit_status;    /* after itd_stop(): the daemon's exit status */
};

/* The build directory ($MCPPOOL_BUILD, default "build") and binaries in it. */
const char *it_build(void);
/* Absolute path of a binary in the build directory (static buffer per call site). */
void it_bin(const char *name, char *buf, size_t len);

/*
 * Makes this test process the subreaper of everything it starts, so that a
 * child the daemon failed to reap, or a grandchild left behind, becomes ours
 * and is seen by it_assert_no_children().
 */
void it_subreaper(void);

/*
 * Writes catalog_json to the test's servers.json, replacing every "@FIXTURE@"
 * by the fixture server's path and "@DIR@" by the test's temp dir. Then starts
 * mcppoold with -s SOCK --servers FILE --env-file /dev/null and the given
 * environment settings ("KEY=VALUE", NULL-terminated, may be NULL), its stderr
 * going to the test's log, and waits until the socket accepts (20 s at most).
 * Aborts the test on failure. The daemon's environment holds none of the
 * variables of the configuration table (it_scrubbed_variable()) but those given,
 * and MCPPOOL_SERVER_STDIO set to $IT_SERVER_STDIO when the test process has it
 * (to run a suite with the other stdin/stdout form; a given setting wins).
 */
void itd_start(struct itd *d, const char *catalog_json, const char *const *env);

/* itd_start() on a given socket path (NULL: the test's own). */
void itd_start_sock(struct itd *d, const char *catalog_json, const char *const *env,
		    const char *sock);

/* itd_start_sock() with extra mcppoold arguments (NULL-terminated, may be NULL). */
void itd_start_args(struct itd *d, const char *catalog_json, const char *const *env,
		    const char *sock, const char *const *extra_args);

/* Same, without waiting: for start-up failures. Returns the exit status (or -1 if still running after 20 s). */
int itd_run_to_exit(struct itd *d, const char *catalog_json, const char *const *env,
		    const char *const *extra_args);

/*
 * itd_start() with the daemon running under uid and gid (when they differ from
 * ours: the test must be root then). The test's dir is given to uid.
 */
void itd_start_as(struct itd *d, const char *catalog_json, const char *const *env, uid_t uid,
		  gid_t gid);

/*
 * SIGTERM (the daemon drains), then, if it is still running 2 s later (calls
 * left in flight), a second SIGTERM (it stops at once); waits for the exit
 * (10 s in all, then SIGKILL and fail) and records its status, expected 0.
 */
void itd_stop(struct itd *d);

/* Asserts nothing started by this test process is left, alive or zombie. */
void it_assert_no_children(void);

/*
 * Runs mcpctl -s SOCK args... and captures stdout (malloc'd into *out, may be
 * NULL) and stderr (*err, may be NULL). Returns the exit status.
 */
int itd_ctl(struct itd *d, char **out, char **err, const char *const *args);

/* Runs mcpctl and parses its stdout as JSON (NULL if not JSON); *status gets the exit status. */
json_t *itd_ctl_json(struct itd *d, int *status, const char *const *args);

/* True when the daemon's log contains needle. */
bool itd_log_contains(struct itd *d, const char *needle);

/*
 * ---- waiting: poll for a condition, never sleep for a fixed time ----
 *
 * A check that something did NOT happen first waits for a positive event that
 * shows it had every chance to: a metric or log line of the step before it, a
 * later request answered, a deadline of the daemon's own that ran out. Each
 * function below polls (every 10 ms) until its condition holds or timeout_ms
 * passes, and returns whether it held.
 */

/* Polls cond(arg) until it returns true. */
bool it_poll(bool (*cond)(void *arg), void *arg, unsigned timeout_ms);

/* Polls the daemon's log until it contains needle. */
bool itd_wait_log(struct itd *d, const char *needle, unsigned timeout_ms);

/*
 * The value of one line of the daemon's metrics (e.g. "mcppool_spawns_total",
 * or "mcppool_connections{state=\"idle\"}"), asked over the socket directly
 * (no mcpctl process): -1 when the metric is absent.
 */
double itd_metric(struct itd *d, const char *name);

/* Polls the metrics until name is at least value. */
bool itd_wait_metric(struct itd *d, const char *name, double value, unsigned timeout_ms);

/*
 * The daemon's pool_status result, asked over the socket directly. A new
 * reference (json_decref it); the test fails if the daemon does not answer.
 */
json_t *itd_pool_status(struct itd *d);

/*
 * Polls pool_status until a connection with key ("user:mcp") has inflight
 * requests in flight, whatever its state; pid > 0 also asks for that server's
 * pid (a retired connection and its successor share the key).
 */
bool itd_wait_inflight(struct itd *d, const char *key, long pid, unsigned inflight,
		       unsigned timeout_ms);

/* Polls pool_status until the requests in flight on all connections together reach want. */
bool itd_wait_inflight_total(struct itd *d, long want, unsigned timeout_ms);

/* Polls until process pid no longer exists (it was reaped). */
bool it_wait_gone(pid_t pid, unsigned timeout_ms);

/*
 * Stops process pid (SIGSTOP) and waits until it is stopped: a server frozen
 * this way answers nothing until it_thaw(), so a request written to it stays
 * in flight for exactly as long as the test needs, however slow the machine.
 */
void it_freeze(pid_t pid);

/* Lets a frozen process run again (SIGCONT). */
void it_thaw(pid_t pid);

/*
 * Scrubbing the environment: every variable of the daemon's configuration
 * table (daemon/config.c) is removed from a started daemon's environment, so
 * that the developer's own settings cannot change a test. Returns the i-th
 * name scrubbed, NULL past the last.
 */
const char *it_scrubbed_variable(size_t i);

/* A loopback TCP port that was free a moment ago. */
int it_free_port(void);

/* A fake NOTIFY_SOCKET: a datagram socket bound at path; returns its fd. */
int it_notify_socket(const char *path);

/* The next datagram on a fake NOTIFY_SOCKET within 5 s (malloc'd), or NULL. */
char *it_notify_recv(int fd);

/* True when something accepts on the loopback port. */
bool it_port_accepts(int port);

/*
 * Starts argv (PATH searched) in a process group of its own, its stdout and
 * stderr appended to log, and waits until the loopback port accepts (15 s
 * at most; the test fails otherwise). Returns its pid, which is the group.
 */
pid_t it_start_server(const char *const *argv, int port, const char *log);

/* SIGTERM to the group of it_start_server(), SIGKILL after 3 s; reaps it. <= 0: nothing. */
void it_stop_server(pid_t pgid);

/* Milliseconds to sleep. */
void it_sleep_ms(unsigned ms);

/* True when process pid exists (not reaped). */
bool it_pid_alive(pid_t pid);

/*
 * utime + stime of process pid, in clock ticks, from /proc/PID/stat; its
 * state letter (R, S, ...) in *state when state is not NULL.
 */
unsigned long long it_cpu_ticks(pid_t pid, char *state);

/* The "data" of a successful mcpctl JSON reply, asserting success. */
json_t *it_data(json_t *reply);

/* The error code string of a failed mcpctl JSON reply ("" if none). */
const char *it_error_code(json_t *reply);

/* The first content text of a CallToolResult in an mcpctl JSON reply ("" if none). */
const char *it_text(json_t *reply);

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* A catalog with the fixture as "demo" (and extra entries appended as JSON members). */
#define FIXTURE_CATALOG(extra) \
	"{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\"}" extra "}}"

#endif

/* ---- raw wire access, for protocol tests ---- */
#include <msgpack.h>
#include "wire.h"

/* Connects to the daemon's socket; returns the fd (blocking). */
int it_raw_connect(struct itd *d);
/* Sends len bytes as they are. */
void it_raw_send_bytes(int fd, const void *buf, size_t len);
/* Sends one frame holding the packed payload. */
void it_raw_send_frame(int fd, const msgpack_sbuffer *payload);
/* Sends [0, id, "hello", {"version": 1}]. */
void it_raw_hello(int fd, uint64_t id);
/* Sends [0, id, op, params] with params given as JSON text (NULL = {}). */
void it_raw_request(int fd, uint64_t id, const char *op, const char *params_json);
/*
 * Receives one frame (waiting at most timeout_ms) and decodes it into *m with
 * objects in zone. Returns 0, or -1 on EOF/timeout.
 */
int it_raw_recv(int fd, msgpack_zone *zone, struct wire_msg *m, unsigned timeout_ms);
/*
 * Waits until the daemon closes fd's connection (EOF or reset), reading and
 * dropping whatever arrives before. False when it is still open after
 * timeout_ms: unlike it_raw_recv()'s -1, this tells a close from a silence.
 */
bool it_raw_wait_eof(int fd, unsigned timeout_ms);

/* Starts mcpctl in the background, its stdout going to a file; returns its pid. */
pid_t itd_ctl_async(struct itd *d, const char *const *args);
/* Waits for an itd_ctl_async() run; returns its JSON (NULL if none) and exit status. */
json_t *itd_ctl_wait(struct itd *d, pid_t pid, int *status);
