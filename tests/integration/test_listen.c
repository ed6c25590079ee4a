/* The listen op (wire v2: a user's server notifications, until cancelled) and stdio batches. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"
#include "wire.h"

static struct itd d;
static msgpack_zone zone;

static void setup_catalog(const char *catalog)
{
	it_subreaper();
	itd_start(&d, catalog, NULL);
	msgpack_zone_init(&zone, 4096);
}

static void setup(void)
{
	/* nosub: a server without resources/subscribe (the fixture's --batch is irrelevant). */
	setup_catalog("{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\"}, "
		      "\"nosub\": {\"command\": \"@FIXTURE@\", \"args\": [\"--no-subscribe\"]}}}");
}

static void setup_batch(void)
{
	setup_catalog("{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\", "
		      "\"args\": [\"--batch\"]}}}");
}

static void teardown(void)
{
	msgpack_zone_destroy(&zone);
	itd_stop(&d);
	it_assert_no_children();
}

/* A connection that said hello with version. */
static int conn(unsigned version)
{
	struct wire_msg m;
	char hello[32];
	int fd = it_raw_connect(&d);

	snprintf(hello, sizeof(hello), "{\"version\": %u}", version);
	it_raw_request(fd, 1, "hello", hello);
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
	cr_assert_eq(m.err_code, ERR_OK);
	return fd;
}

/* The reply to id (events of other requests are skipped); returns its code, text in text. */
static int reply_of(int fd, uint64_t id, char *text, size_t size)
{
	struct wire_msg m;

	for (;;) {
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 10000), 0, "no reply to %llu",
			     (unsigned long long)id);
		if (m.type != WIRE_REPLY || m.id != id)
			continue;
		if (text && size)
			text[0] = '\0';
		if (m.err_code == ERR_OK && text) {
			const msgpack_object *c = wire_map_get(m.result, "content");
			const msgpack_object *t = c && c->type == MSGPACK_OBJECT_ARRAY &&
				c->via.array.size ? wire_map_get(&c->via.array.ptr[0], "text") : NULL;
			if (t)
				snprintf(text, size, "%.*s", (int)t->via.str.size, t->via.str.ptr);
		}
		return m.err_code;
	}
}

/* ---- stdio batches ---------------------------------------------------------------- */

Test(batch, replies_inside_a_batch_reach_their_calls, .init = setup_batch, .fini = teardown)
{
	char text[64];
	int fd = conn(1);

	/* Alternately [reply] and [notification, reply]: both shapes, several times. */
	for (unsigned i = 0; i < 4; i++) {
		char args[160];
		snprintf(args, sizeof(args), "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": "
			 "\"echo\", \"arguments\": {\"message\": \"m%u\"}, \"timeout_ms\": 3000}", i);
		it_raw_request(fd, 10 + i, "call", args);
		cr_assert_eq(reply_of(fd, 10 + i, text, sizeof(text)), ERR_OK, "call %u", i);
		char want[8];
		snprintf(want, sizeof(want), "m%u", i);
		cr_assert_str_eq(text, want);
	}
	close(fd);
}

/* ---- listen ----------------------------------------------------------------------- */

static void send_cancel(int fd, uint64_t id)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	wire_pack_notify_begin(&pk, "cancel");
	msgpack_pack_map(&pk, 1);
	wire_pack_str(&pk, "id");
	msgpack_pack_uint64(&pk, id);
	it_raw_send_frame(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* Starts a listen of user on demo as request id; uris is a JSON array text or NULL. */
static void listen_as(int fd, uint64_t id, const char *user, const char *uris)
{
	char params[512];

	snprintf(params, sizeof(params), "{\"user\": \"%s\", \"mcp\": \"demo\"%s%s}", user,
		 uris ? ", \"uris\": " : "", uris ? uris : "");
	it_raw_request(fd, id, "listen", params);
}

/* Has user's connection send the notification method (params: JSON object text or NULL). */
static void notify_as(int fd, uint64_t id, const char *user, const char *method,
		      const char *params)
{
	char args[512];

	snprintf(args, sizeof(args), "{\"user\": \"%s\", \"mcp\": \"demo\", \"tool\": "
		 "\"notify\", \"arguments\": {\"method\": \"%s\"%s%s}}", user, method,
		 params ? ", \"params\": " : "", params ? params : "");
	it_raw_request(fd, id, "call", args);
}

/* What one fd received until the reply of id: notification events by listen request. */
struct heard {
	unsigned count[4];      /* events of listen ids 1..3 (index = id), 0: others */
	char method[4][64];     /* the last method each got */
	char uri[4][64];        /* the last params.uri each got */
	int code;               /* the reply to id */
	uint64_t reply_id;
};

static void record_event(struct heard *h, const struct wire_msg *m)
{
	unsigned i = m->id >= 1 && m->id <= 3 ? (unsigned)m->id : 0;
	const msgpack_object *method = wire_map_get(m->params, "method");
	const msgpack_object *params = wire_map_get(m->params, "params");
	const msgpack_object *uri = params ? wire_map_get(params, "uri") : NULL;

	cr_assert(m->op_len == 12 && memcmp(m->op, "notification", 12) == 0, "event %.*s",
		  (int)m->op_len, m->op);
	cr_assert(method && method->type == MSGPACK_OBJECT_STR, "no method");
	cr_assert(params && params->type == MSGPACK_OBJECT_MAP, "no params map");
	h->count[i]++;
	snprintf(h->method[i], sizeof(h->method[i]), "%.*s", (int)method->via.str.size,
		 method->via.str.ptr);
	h->uri[i][0] = '\0';
	if (uri && uri->type == MSGPACK_OBJECT_STR)
		snprintf(h->uri[i], sizeof(h->uri[i]), "%.*s", (int)uri->via.str.size,
			 uri->via.str.ptr);
}

/* Reads frames until the reply of id (or any reply when id is 0), recording events. */
static void hear_until(int fd, uint64_t id, struct heard *h)
{
	struct wire_msg m;

	memset(h, 0, sizeof(*h));
	for (;;) {
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 10000), 0, "no reply (connection closed?)");
		if (m.type == WIRE_EVENT) {
			record_event(h, &m);
			continue;
		}
		cr_assert_eq(m.type, WIRE_REPLY);
		if (id && m.id != id)
			continue;
		h->code = m.err_code;
		h->reply_id = m.id;
		return;
	}
}

/* The fixture's counter name of user's demo server (calls its `stats` tool). */
static long long stat_of(int fd, uint64_t id, const char *user, const char *name)
{
	char args[160];
	struct wire_msg m;

	snprintf(args, sizeof(args), "{\"user\": \"%s\", \"mcp\": \"demo\", \"tool\": "
		 "\"stats\"}", user);
	it_raw_request(fd, id, "call", args);
	for (;;) {
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 10000), 0);
		if (m.type == WIRE_REPLY && m.id == id)
			break;
	}
	cr_assert_eq(m.err_code, ERR_OK);
	const msgpack_object *sc = wire_map_get(m.result, "structuredContent");
	const msgpack_object *v = sc ? wire_map_get(sc, name) : NULL;
	cr_assert(v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "no %s in stats", name);
	return (long long)v->via.u64;
}

Test(listen, change_notifications_reach_the_listen, .init = setup, .fini = teardown)
{
	struct heard h;
	int fd = conn(2);

	listen_as(fd, 1, "alice", NULL);
	notify_as(fd, 10, "alice", "notifications/tools/list_changed", NULL);
	hear_until(fd, 10, &h);
	cr_assert_eq(h.code, ERR_OK);
	cr_assert_eq(h.count[1], 1);
	cr_assert_str_eq(h.method[1], "notifications/tools/list_changed");
	notify_as(fd, 11, "alice", "notifications/resources/updated",
		  "{\"uri\": \"file:///a\"}");
	hear_until(fd, 11, &h);
	cr_assert_eq(h.count[1], 1);
	cr_assert_str_eq(h.method[1], "notifications/resources/updated");
	cr_assert_str_eq(h.uri[1], "file:///a");
	/* Progress and log messages are not change notifications. */
	notify_as(fd, 12, "alice", "notifications/message",
		  "{\"level\": \"info\", \"data\": \"x\"}");
	hear_until(fd, 12, &h);
	cr_assert_eq(h.count[1] + h.count[0], 0);
	close(fd);
}

Test(listen, two_listens_both_hear_and_another_users_hears_only_its_own, .init = setup,
     .fini = teardown)
{
	struct heard h;
	int fd = conn(2), bob = conn(2);

	listen_as(fd, 1, "alice", NULL);
	listen_as(fd, 2, "alice", NULL);
	listen_as(bob, 3, "bob", NULL);
	notify_as(fd, 10, "alice", "notifications/prompts/list_changed", NULL);
	hear_until(fd, 10, &h);
	cr_assert_eq(h.code, ERR_OK);
	cr_assert_eq(h.count[1], 1);
	cr_assert_eq(h.count[2], 1);
	cr_assert_str_eq(h.method[2], "notifications/prompts/list_changed");
	/* Bob's first event is the one of his own connection, not alice's. */
	notify_as(bob, 20, "bob", "notifications/resources/list_changed", NULL);
	hear_until(bob, 20, &h);
	cr_assert_eq(h.count[3], 1);
	cr_assert_str_eq(h.method[3], "notifications/resources/list_changed");
	close(fd);
	close(bob);
}

Test(listen, cancel_answers_cancelled_and_unsubscribes, .init = setup, .fini = teardown)
{
	struct heard h;
	int fd = conn(2);

	listen_as(fd, 1, "alice", "[\"file:///a\", \"file:///b\"]");
	cr_assert_eq(stat_of(fd, 10, "alice", "subscribes"), 2);
	cr_assert_eq(stat_of(fd, 11, "alice", "unsubscribes"), 0);
	send_cancel(fd, 1);
	hear_until(fd, 1, &h);
	cr_assert_eq(h.code, ERR_CANCELLED, "error %s", errcode_name(h.code));
	/* The unsubscribes went out before the next call's request. */
	cr_assert_eq(stat_of(fd, 12, "alice", "unsubscribes"), 2);
	/* No more events after the reply. */
	notify_as(fd, 13, "alice", "notifications/tools/list_changed", NULL);
	hear_until(fd, 13, &h);
	cr_assert_eq(h.count[1] + h.count[0], 0);
	close(fd);
}

Test(listen, a_failed_subscribe_fails_the_listen, .init = setup, .fini = teardown)
{
	struct heard h;
	int fd = conn(2);

	/* The fixture answers resources/subscribe; a server without them answers -32601. */
	it_raw_request(fd, 1, "listen", "{\"user\": \"alice\", \"mcp\": \"nosub\", "
			       "\"uris\": [\"file:///a\"]}");
	hear_until(fd, 1, &h);
	cr_assert_eq(h.code, ERR_UPSTREAM_ERROR, "error %s", errcode_name(h.code));
	close(fd);
}

Test(listen, the_connection_closing_answers_upstream_closed, .init = setup, .fini = teardown)
{
	struct heard h;
	int fd = conn(2);

	listen_as(fd, 1, "alice", NULL);
	it_raw_request(fd, 10, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": "
				"\"crash\"}");
	hear_until(fd, 1, &h);
	cr_assert_eq(h.code, ERR_UPSTREAM_CLOSED, "error %s", errcode_name(h.code));
	hear_until(fd, 10, &h);
	cr_assert_eq(h.code, ERR_UPSTREAM_CLOSED, "error %s", errcode_name(h.code));
	close(fd);
}

Test(listen, needs_version_2_and_valid_uris, .init = setup, .fini = teardown)
{
	struct wire_msg m;
	int fd = conn(1), v2 = conn(2);

	listen_as(fd, 1, "alice", NULL);
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
	cr_assert_eq(m.err_code, ERR_BAD_REQUEST);
	cr_assert(memmem(m.err_message, m.err_message_len, "version 2", 9));
	listen_as(v2, 2, "alice", "[1]");
	cr_assert_eq(it_raw_recv(v2, &zone, &m, 5000), 0);
	cr_assert_eq(m.err_code, ERR_BAD_REQUEST);
	listen_as(v2, 3, "alice", "\"file:///a\"");
	cr_assert_eq(it_raw_recv(v2, &zone, &m, 5000), 0);
	cr_assert_eq(m.err_code, ERR_BAD_REQUEST);
	close(fd);
	close(v2);
}

static void setup_short_idle(void)
{
	static const char *const env[] = { "CONNECTION_TIMEOUT=1", NULL };
	it_subreaper();
	itd_start(&d, NULL, env);
	msgpack_zone_init(&zone, 4096);
}

/* The number of pooled connections, by the pool_status op. */
static unsigned pooled(int fd, uint64_t id)
{
	struct wire_msg m;

	it_raw_request(fd, id, "pool_status", "{}");
	for (;;) {
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
		if (m.type == WIRE_REPLY && m.id == id)
			break;
	}
	cr_assert_eq(m.err_code, ERR_OK);
	const msgpack_object *c = wire_map_get(m.result, "connectionDetails");
	cr_assert(c && c->type == MSGPACK_OBJECT_ARRAY, "no connectionDetails in pool_status");
	return c->via.array.size;
}

/* The cleanup op (an admin op: the test runs as the daemon's uid). */
static void cleanup_now(int fd, uint64_t id)
{
	struct wire_msg m;

	it_raw_request(fd, id, "cleanup", "{}");
	for (;;) {
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
		if (m.type == WIRE_REPLY && m.id == id)
			break;
	}
	cr_assert_eq(m.err_code, ERR_OK, "cleanup: %s", errcode_name(m.err_code));
}

Test(listen, a_listening_connection_is_not_swept, .init = setup_short_idle, .fini = teardown)
{
	struct heard h;
	int fd = conn(2);

	listen_as(fd, 1, "alice", NULL);
	notify_as(fd, 10, "alice", "notifications/tools/list_changed", NULL);
	hear_until(fd, 10, &h);
	cr_assert_eq(h.count[1], 1);
	it_sleep_ms(20); /* past CONNECTION_TIMEOUT (1 ms) */
	cleanup_now(fd, 11);
	cr_assert_eq(pooled(fd, 12), 1, "the listening connection was swept");
	/* Once the listen ends, the same cleanup closes it. */
	send_cancel(fd, 1);
	hear_until(fd, 1, &h);
	cr_assert_eq(h.code, ERR_CANCELLED);
	it_sleep_ms(20);
	cleanup_now(fd, 13);
	cr_assert_eq(pooled(fd, 14), 0);
	close(fd);
}

/* ---- mcpctl listen ---------------------------------------------------------------- */

/* Waits until user's demo server has had n subscribes (so a listen is in place). */
static void wait_subscribes(int fd, uint64_t *id, long long n)
{
	for (int i = 0; stat_of(fd, (*id)++, "alice", "subscribes") < n; i++) {
		cr_assert_lt(i, 500, "the listen never subscribed");
		it_sleep_ms(10);
	}
}

/* Waits until mcpctl's output (run by itd_ctl_async as pid) contains needle. */
static void wait_output(pid_t pid, const char *needle)
{
	char path[400], buf[4096];

	snprintf(path, sizeof(path), "%s/ctl-%ld.out", d.dir, (long)pid);
	for (int i = 0;; i++) {
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[n] = '\0';
		if (strstr(buf, needle))
			return;
		cr_assert_lt(i, 500, "mcpctl never printed %s (got: %s)", needle, buf);
		it_sleep_ms(10);
	}
}

Test(listen, mcpctl_listen_prints_notifications_until_interrupted, .init = setup,
     .fini = teardown)
{
	struct heard h;
	uint64_t id = 100;
	int fd = conn(2), status;
	pid_t pid = itd_ctl_async(&d, ARGS("listen", "alice", "demo", "--uri", "file:///x"));

	wait_subscribes(fd, &id, 1);
	notify_as(fd, 10, "alice", "notifications/resources/updated", "{\"uri\": \"file:///x\"}");
	hear_until(fd, 10, &h);
	cr_assert_eq(h.code, ERR_OK);
	wait_output(pid, "{\"method\":\"notifications/resources/updated\",\"params\":"
			 "{\"uri\":\"file:///x\"}}\n");
	kill(pid, SIGINT);
	json_decref(itd_ctl_wait(&d, pid, &status));
	cr_assert_eq(status, 0, "mcpctl listen exited %d", status);
	cr_assert_eq(stat_of(fd, id++, "alice", "unsubscribes"), 1);
	close(fd);
}

Test(listen, mcpctl_listen_exits_1_when_the_connection_ends, .init = setup, .fini = teardown)
{
	uint64_t id = 100;
	int fd = conn(2), status;
	pid_t pid = itd_ctl_async(&d, ARGS("listen", "alice", "demo", "--uri", "file:///x"));

	wait_subscribes(fd, &id, 1);
	it_raw_request(fd, 10, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"crash\"}");
	json_t *out = itd_ctl_wait(&d, pid, &status);
	cr_assert_eq(status, 1);
	cr_assert_str_eq(it_error_code(out), "UPSTREAM_CLOSED");
	json_decref(out);
	close(fd);
}

Test(listen, a_client_that_goes_away_ends_its_listen_and_unsubscribes, .init = setup,
     .fini = teardown)
{
	uint64_t id = 100;
	int fd = conn(2), other = conn(2);

	listen_as(fd, 1, "alice", "[\"file:///a\"]");
	wait_subscribes(other, &id, 1);
	close(fd);
	for (int i = 0; stat_of(other, id++, "alice", "unsubscribes") < 1; i++) {
		cr_assert_lt(i, 500, "the listen of a closed client never unsubscribed");
		it_sleep_ms(10);
	}
	cr_assert_eq(pooled(other, id++), 1, "the connection stays pooled, idle");
	close(other);
}

Test(listen, a_drain_ends_listens_with_shutting_down_and_calls_finish, .init = setup)
{
	struct heard h;
	char text[64];
	int fd = conn(2);

	listen_as(fd, 1, "alice", "[\"file:///a\"]");
	it_raw_request(fd, 2, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": "
			       "\"sleep\", \"arguments\": {\"ms\": 500}}");
	cr_assert(itd_wait_inflight(&d, "alice:demo", 0, 2, 10000), "the call never got in flight");
	kill(d.pid, SIGTERM);
	/* The listen ends at once; the call still gets its result. */
	hear_until(fd, 1, &h);
	cr_assert_eq(h.code, ERR_SHUTTING_DOWN, "error %s", errcode_name(h.code));
	cr_assert_eq(reply_of(fd, 2, text, sizeof(text)), ERR_OK);
	cr_assert_str_eq(text, "slept 500");
	close(fd);
	msgpack_zone_destroy(&zone);
	itd_stop(&d);
	cr_assert_eq(d.exit_status, 0);
	it_assert_no_children();
}
