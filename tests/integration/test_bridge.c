/* Integration: `mcpctl bridge` as an MCP host sees it: JSON-RPC lines on its stdin/stdout. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(bridge, .init = it_subreaper, .timeout = 60);

/* The fixture as "demo", named so that its serverInfo can be told from a stand-in. */
#define CATALOG "{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\", \"args\": [\"--name\", \"pooled-demo\"]}}}"

/* A running `mcpctl bridge`: we write to its stdin and read lines from its stdout. */
struct br {
	pid_t pid;
	int in, out;    /* its stdin (ours to write), its stdout (ours to read) */
	char buf[1 << 20];
	size_t len;
	char errpath[400];
};

/* Starts `mcpctl -s SOCK bridge USER MCP [extra...]` (extra NULL-terminated, may be NULL). */
static void br_start_args(struct itd *d, struct br *b, const char *user, const char *mcp,
			  const char *const *extra)
{
	char ctl[4096];
	const char *argv[16];
	int pin[2], pout[2], n = 0;

	it_bin("mcpctl", ctl, sizeof(ctl));
	snprintf(b->errpath, sizeof b->errpath, "%s/bridge-%s-%d.err", d->dir, user, (int)getpid());
	b->len = 0;
	/* Close-on-exec: a daemon started later must not hold the bridge's stdin open. */
	cr_assert(pipe2(pin, O_CLOEXEC) == 0 && pipe2(pout, O_CLOEXEC) == 0);
	b->pid = fork();
	cr_assert(b->pid >= 0);
	if (b->pid == 0) {
		FILE *e = fopen(b->errpath, "a");
		setenv("ASAN_OPTIONS", "detect_leaks=1", 1);
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		if (e)
			dup2(fileno(e), 2);
		close(pin[1]);
		close(pout[0]);
		argv[n++] = ctl;
		argv[n++] = "-s";
		argv[n++] = d->sock;
		argv[n++] = "bridge";
		argv[n++] = user;
		argv[n++] = mcp;
		for (; extra && *extra && n < 15; extra++)
			argv[n++] = *extra;
		argv[n] = NULL;
		execv(ctl, (char *const *)argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	b->in = pin[1];
	b->out = pout[0];
}

static void br_start(struct itd *d, struct br *b, const char *user, const char *mcp)
{
	br_start_args(d, b, user, mcp, NULL);
}

static void br_send(struct br *b, const char *line)
{
	size_t len = strlen(line);
	cr_assert_eq(write(b->in, line, len), (ssize_t)len);
	cr_assert_eq(write(b->in, "\n", 1), 1);
}

/* The next line the bridge writes, parsed (NULL after timeout_ms or at end of file). */
static json_t *br_recv(struct br *b, unsigned timeout_ms)
{
	for (;;) {
		char *nl = memchr(b->buf, '\n', b->len);
		if (nl) {
			json_error_t je;
			json_t *j = json_loadb(b->buf, (size_t)(nl - b->buf), 0, &je);
			cr_assert(j, "the bridge wrote a line that is not JSON: %.*s", (int)(nl - b->buf), b->buf);
			b->len -= (size_t)(nl + 1 - b->buf);
			memmove(b->buf, nl + 1, b->len);
			return j;
		}
		struct pollfd p = { .fd = b->out, .events = POLLIN };
		if (poll(&p, 1, (int)timeout_ms) <= 0)
			return NULL;
		ssize_t n = read(b->out, b->buf + b->len, sizeof b->buf - b->len);
		if (n <= 0)
			return NULL;
		b->len += (size_t)n;
	}
}

/* The response to id (an integer), skipping notifications; fails after 10 s. */
static json_t *br_response(struct br *b, long id)
{
	for (;;) {
		json_t *m = br_recv(b, 10000);
		cr_assert(m, "no response to request %ld", id);
		if (json_integer_value(json_object_get(m, "id")) == id && !json_object_get(m, "method"))
			return m;
		json_decref(m);
	}
}

static json_t *br_request(struct br *b, long id, const char *method, const char *params)
{
	char line[4096];
	snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\"%s%s}", id,
		 method, params ? ",\"params\":" : "", params ? params : "");
	br_send(b, line);
	return br_response(b, id);
}

static json_t *br_initialize(struct br *b, const char *version)
{
	char params[512];
	snprintf(params, sizeof params, "{\"protocolVersion\":\"%s\",\"capabilities\":{},"
		 "\"clientInfo\":{\"name\":\"test\",\"version\":\"1\"}}", version);
	json_t *r = br_request(b, 1, "initialize", params);
	br_send(b, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
	return r;
}

/* The bridge's stderr must hold no sanitizer report (under `make asan`). */
static void br_check_log(struct br *b)
{
	char line[1024];
	FILE *f = fopen(b->errpath, "r");
	while (f && fgets(line, sizeof line, f))
		cr_expect(!strstr(line, "Sanitizer") && !strstr(line, "runtime error"),
			  "the bridge reported a sanitizer error; see %s", b->errpath);
	if (f)
		fclose(f);
}

/* Closes the bridge's stdin and returns its exit status (fails after 10 s). */
static int br_close(struct br *b)
{
	int status = 0;
	close(b->in);
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(b->pid, &status, WNOHANG);
		if (r == b->pid) {
			close(b->out);
			br_check_log(b);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		it_sleep_ms(10);
	}
	kill(b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
	close(b->out);
	cr_assert_fail("the bridge did not exit at the end of its stdin");
	return -1;
}

static const char *text_of(json_t *response)
{
	json_t *c = json_object_get(json_object_get(response, "result"), "content");
	const char *t = json_string_value(json_object_get(json_array_get(c, 0), "text"));
	return t ? t : "";
}

/* The pid of key's server in pool-status (0 when the key is not pooled). */
static long pooled_pid(struct itd *d, const char *key)
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

Test(bridge, initialize_is_answered_with_the_pooled_servers_description)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_t *r = br_initialize(&b, "2025-06-18");
	json_t *res = json_object_get(r, "result");
	cr_assert_str_eq(json_string_value(json_object_get(res, "protocolVersion")), "2025-06-18",
			 "a version both speak is kept");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(res, "serverInfo"), "name")),
			 "pooled-demo");
	cr_assert(json_is_object(json_object_get(json_object_get(res, "capabilities"), "tools")));
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
	it_assert_no_children();
}

Test(bridge, initialize_with_an_unknown_version_gets_the_newest_the_server_speaks)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_t *r = br_initialize(&b, "2099-01-01");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "result"),
							    "protocolVersion")), "2025-11-25");
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
}

Test(bridge, server_discover_describes_the_server_for_modern_hosts)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_t *r = br_request(&b, 1, "server/discover",
			       "{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}");
	json_t *res = json_object_get(r, "result");
	cr_assert_str_eq(json_string_value(json_object_get(res, "resultType")), "complete");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(res, "supportedVersions"), 0)),
			 "2026-07-28");
	json_t *info = json_object_get(json_object_get(res, "_meta"), "io.modelcontextprotocol/serverInfo");
	cr_assert_str_eq(json_string_value(json_object_get(info, "name")), "pooled-demo");
	cr_assert(json_is_integer(json_object_get(res, "ttlMs")));
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
}

Test(bridge, modern_requests_get_result_type_and_cache_fields_and_unknown_versions_are_refused)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_t *r = br_request(&b, 1, "tools/list",
			       "{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}");
	json_t *res = json_object_get(r, "result");
	cr_assert_str_eq(json_string_value(json_object_get(res, "resultType")), "complete");
	cr_assert_eq(json_integer_value(json_object_get(res, "ttlMs")), 0);
	cr_assert_str_eq(json_string_value(json_object_get(res, "cacheScope")), "private",
			 "one user's server: never shared across users");
	json_decref(r);
	r = br_request(&b, 2, "tools/list",
		       "{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"1999-01-01\"}}");
	json_t *e = json_object_get(r, "error");
	cr_assert_eq(json_integer_value(json_object_get(e, "code")), -32022);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "data"), "requested")),
			 "1999-01-01");
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
}

Test(bridge, tools_list_and_tools_call_are_forwarded)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_decref(br_initialize(&b, "2025-11-25"));
	json_t *r = br_request(&b, 2, "tools/list", NULL);
	json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
	cr_assert_gt(json_array_size(tools), 5);
	json_decref(r);
	r = br_request(&b, 3, "tools/call", "{\"name\":\"echo\",\"arguments\":{\"message\":\"via bridge\"}}");
	cr_assert_str_eq(text_of(r), "via bridge");
	json_decref(r);
	r = br_request(&b, 4, "ping", NULL);
	cr_assert(json_is_object(json_object_get(r, "result")));
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
	it_assert_no_children();
}

Test(bridge, many_requests_in_flight_each_get_their_own_response)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_decref(br_initialize(&b, "2025-11-25"));
	/* 300, 200, 100 ms: the replies come back in the reverse order of the requests. */
	for (int i = 0; i < 3; i++) {
		char line[256];
		snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":\"s%d\",\"method\":\"tools/call\","
			 "\"params\":{\"name\":\"sleep\",\"arguments\":{\"ms\":%d}}}", i, 300 - 100 * i);
		br_send(&b, line);
	}
	for (int n = 0; n < 3; n++) {
		json_t *m = br_recv(&b, 10000);
		cr_assert(m);
		const char *id = json_string_value(json_object_get(m, "id"));
		cr_assert(id && id[0] == 's', "a response with an id the host never sent");
		char want[32];
		snprintf(want, sizeof want, "slept %d", 300 - 100 * (id[1] - '0'));
		cr_assert_str_eq(text_of(m), want, "%s got another request's reply", id);
		if (n == 0)
			cr_assert_str_eq(id, "s2", "the quickest answers first");
		json_decref(m);
	}
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
}

Test(bridge, a_server_error_is_relayed_as_the_servers_json_rpc_error)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_decref(br_initialize(&b, "2025-11-25"));
	json_t *r = br_request(&b, 2, "tools/call",
			       "{\"name\":\"error\",\"arguments\":{\"code\":-32042,\"message\":\"nope\"}}");
	json_t *e = json_object_get(r, "error");
	cr_assert_eq(json_integer_value(json_object_get(e, "code")), -32042);
	cr_assert_str_eq(json_string_value(json_object_get(e, "message")), "nope");
	json_decref(r);
	r = br_request(&b, 3, "no/such/method", NULL);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32601);
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
}

Test(bridge, pool_errors_become_json_rpc_errors_naming_the_mcppool_code)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "nosuch");
	json_t *r = br_initialize(&b, "2025-11-25");
	json_t *e = json_object_get(r, "error");
	cr_assert(e, "initialize of an unknown MCP must fail");
	cr_assert_eq(json_integer_value(json_object_get(e, "code")), -32000);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "data"), "mcppool")),
			 "UNKNOWN_MCP");
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
}

Test(bridge, a_cancelled_request_is_cancelled_upstream_and_gets_no_response)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_decref(br_initialize(&b, "2025-11-25"));
	br_send(&b, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"sleep\",\"arguments\":{\"ms\":20000}}}");
	/* Wait until the server has it, then cancel as a host does. */
	for (int i = 0;; i++) {
		cr_assert_lt(i, 500, "the sleep never reached the server");
		json_t *r = br_request(&b, 100 + i, "tools/call", "{\"name\":\"stats\",\"arguments\":{}}");
		json_t *sc = json_object_get(json_object_get(r, "result"), "structuredContent");
		long calls = (long)json_integer_value(json_object_get(sc, "calls"));
		json_decref(r);
		if (calls >= 2 + i)
			break;
		it_sleep_ms(10);
	}
	br_send(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
		    "\"params\":{\"requestId\":7,\"reason\":\"user\"}}");
	long cancelled = 0;
	for (int i = 0; cancelled < 1; i++) {
		cr_assert_lt(i, 500, "the server never saw the cancel");
		json_t *r = br_request(&b, 1000 + i, "tools/call", "{\"name\":\"stats\",\"arguments\":{}}");
		json_t *sc = json_object_get(json_object_get(r, "result"), "structuredContent");
		cancelled = (long)json_integer_value(json_object_get(sc, "cancelNotices"));
		json_decref(r);
		if (!cancelled)
			it_sleep_ms(10);
	}
	/* Nothing more for id 7: the next line answers the next request. */
	json_t *r = br_request(&b, 5000, "ping", NULL);
	json_decref(r);
	cr_assert_null(br_recv(&b, 200), "a cancelled request got a response");
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
}

Test(bridge, stdin_eof_exits_0_and_a_second_bridge_reuses_the_warm_server)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_decref(br_initialize(&b, "2025-11-25"));
	json_decref(br_request(&b, 2, "tools/list", NULL));
	long pid = pooled_pid(&d, "alice:demo");
	cr_assert_gt(pid, 0);
	cr_assert_eq(br_close(&b), 0, "the bridge exits 0 at the end of its stdin");
	cr_assert_eq(pooled_pid(&d, "alice:demo"), pid, "the pooled server stays warm");
	cr_assert(it_pid_alive((pid_t)pid));

	br_start(&d, &b, "alice", "demo");
	json_decref(br_initialize(&b, "2025-11-25"));
	json_t *r = br_request(&b, 2, "tools/call", "{\"name\":\"pid\",\"arguments\":{}}");
	char want[32];
	snprintf(want, sizeof want, "%ld", pid);
	cr_assert_str_eq(text_of(r), want, "the second bridge reached another server process");
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
	it_assert_no_children();
}

Test(bridge, auth_values_from_a_file_reach_the_pooled_server)
{
	struct itd d;
	struct br b;
	char path[400];
	itd_start(&d, "{\"mcpServers\": {\"tok\": {\"command\": \"@FIXTURE@\","
		      " \"env\": {\"TOKEN\": \"${auth.token}\"}}}}", NULL);
	snprintf(path, sizeof path, "%s/alice.auth", d.dir);
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fputs("# alice's values\ntoken=s3cret\n", f);
	fclose(f);
	br_start_args(&d, &b, "alice", "tok", ARGS("--auth-file", path));
	json_decref(br_initialize(&b, "2025-11-25"));
	json_t *r = br_request(&b, 2, "tools/call", "{\"name\":\"getenv\",\"arguments\":{\"name\":\"TOKEN\"}}");
	cr_assert_str_eq(text_of(r), "s3cret");
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);

	br_start(&d, &b, "alice", "tok");
	r = br_initialize(&b, "2025-11-25");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r, "error"),
									  "data"), "mcppool")),
			 "AUTH_INVALID", "without its auth the entry cannot be opened");
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
}

Test(bridge, after_a_daemon_restart_the_next_request_connects_again)
{
	struct itd d, d2;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_decref(br_initialize(&b, "2025-11-25"));
	json_decref(br_request(&b, 2, "ping", NULL));
	itd_stop(&d);
	json_t *r = br_request(&b, 3, "tools/call", "{\"name\":\"echo\",\"arguments\":{\"message\":\"x\"}}");
	json_t *e = json_object_get(r, "error");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "data"), "mcppool")),
			 "NOT_CONNECTED");
	json_decref(r);
	itd_start_sock(&d2, CATALOG, NULL, d.sock);
	r = br_request(&b, 4, "tools/call", "{\"name\":\"echo\",\"arguments\":{\"message\":\"back\"}}");
	cr_assert_str_eq(text_of(r), "back");
	json_decref(r);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d2);
	it_assert_no_children();
}

Test(bridge, progress_and_log_messages_are_relayed_as_notifications)
{
	struct itd d;
	struct br b;
	itd_start(&d, CATALOG, NULL);
	br_start(&d, &b, "alice", "demo");
	json_decref(br_initialize(&b, "2025-11-25"));
	br_send(&b, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"progress\","
		    "\"arguments\":{\"steps\":3,\"ms\":10,\"log\":true},\"_meta\":{\"progressToken\":\"tok-1\"}}}");
	int progress = 0, messages = 0;
	for (;;) {
		json_t *m = br_recv(&b, 10000);
		cr_assert(m, "no response to the progress call");
		const char *method = json_string_value(json_object_get(m, "method"));
		json_t *p = json_object_get(m, "params");
		if (!method) {
			cr_assert_str_eq(text_of(m), "done 3");
			json_decref(m);
			break;
		}
		if (strcmp(method, "notifications/progress") == 0) {
			progress++;
			cr_assert_str_eq(json_string_value(json_object_get(p, "progressToken")), "tok-1",
					 "progress carries the host's own token");
			cr_assert_eq(json_integer_value(json_object_get(p, "progress")), progress);
			cr_assert_eq(json_integer_value(json_object_get(p, "total")), 3);
		} else if (strcmp(method, "notifications/message") == 0) {
			messages++;
			cr_assert_str_eq(json_string_value(json_object_get(p, "level")), "info");
		}
		json_decref(m);
	}
	cr_assert_eq(progress, 3);
	cr_assert_eq(messages, 3);
	cr_assert_eq(br_close(&b), 0);
	itd_stop(&d);
}

/* mcpctl's own events (call/request), against the real daemon and the fixture's progress tool. */
TestSuite(ctl_events, .init = it_subreaper, .timeout = 60);

Test(ctl_events, call_with_progress_prints_each_event_as_a_json_line_on_stderr)
{
	struct itd d;
	char *out = NULL, *err = NULL;
	itd_start(&d, CATALOG, NULL);
	int st = itd_ctl(&d, &out, &err, ARGS("call", "alice", "demo", "progress",
					      "{\"steps\":3,\"ms\":10,\"log\":true}", "--progress"));
	cr_assert_eq(st, 0, "stderr: %s", err);
	cr_assert(strstr(out, "done 3"), "%s", out);
	int progress = 0, messages = 0;
	for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *j = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(j, "event"));
		json_t *p = json_object_get(j, "params");
		if (ev && strcmp(ev, "progress") == 0) {
			progress++;
			cr_assert_eq(json_integer_value(json_object_get(p, "progress")), progress);
			cr_assert_eq(json_integer_value(json_object_get(p, "total")), 3);
		} else if (ev && strcmp(ev, "message") == 0) {
			messages++;
			cr_assert_str_eq(json_string_value(json_object_get(p, "logger")), "fixture");
		}
		json_decref(j);
	}
	cr_assert_eq(progress, 3, "stderr: %s", err);
	cr_assert_eq(messages, 3);
	free(out);
	free(err);
	itd_stop(&d);
}

Test(ctl_events, call_prints_log_messages_on_stderr)
{
	struct itd d;
	char *out = NULL, *err = NULL;
	itd_start(&d, CATALOG, NULL);
	int st = itd_ctl(&d, &out, &err, ARGS("call", "alice", "demo", "progress",
					      "{\"steps\":2,\"ms\":10,\"log\":true}"));
	cr_assert_eq(st, 0, "stderr: %s", err);
	cr_assert(strstr(err, "info fixture: step 1\ninfo fixture: step 2\n"), "stderr: %s", err);
	free(out);
	free(err);
	itd_stop(&d);
}
