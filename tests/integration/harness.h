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
 * going to the test's log, and waits until the socket accepts. Aborts the test
 * on failure.
 */
void itd_start(struct itd *d, const char *catalog_json, const char *const *env);

/* itd_start() on a given socket path (NULL: the test's own). */
void itd_start_sock(struct itd *d, const char *catalog_json, const char *const *env,
		    const char *sock);

/* itd_start_sock() with extra mcppoold arguments (NULL-terminated, may be NULL). */
void itd_start_args(struct itd *d, const char *catalog_json, const char *const *env,
		    const char *sock, const char *const *extra_args);

/* Same, without waiting: for start-up failures. Returns the exit status (or -1 if still running after 5 s). */
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

/* Milliseconds to sleep. */
void it_sleep_ms(unsigned ms);

/* True when process pid exists (not reaped). */
bool it_pid_alive(pid_t pid);

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

/* Starts mcpctl in the background, its stdout going to a file; returns its pid. */
pid_t itd_ctl_async(struct itd *d, const char *const *args);
/* Waits for an itd_ctl_async() run; returns its JSON (NULL if none) and exit status. */
json_t *itd_ctl_wait(struct itd *d, pid_t pid, int *status);
