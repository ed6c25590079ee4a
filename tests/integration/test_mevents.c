/* Integration: events from modern (2026-07-28) servers: subscriptions/listen and per-request log levels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"
#include "wire.h"

static struct itd d;
static msgpack_zone zone;

static void setup(void)
{
	it_subreaper();
	itd_start(&d, "{\"mcpServers\": {\"modern\": {\"command\": \"@FIXTURE@\", "
		      "\"args\": [\"--era\", \"modern\"]}}}", NULL);
	msgpack_zone_init(&zone, 4096);
}

static void teardown(void)
{
	msgpack_zone_destroy(&zone);
	itd_stop(&d);
	it_assert_no_children();
}

TestSuite(mevents, .init = setup, .fini = teardown, .timeout = 30);

/* A connection that said hello with wire version 2. */
static int conn(void)
{
	struct wire_msg m;
	int fd = it_raw_connect(&d);

	it_raw_request(fd, 1, "hello", "{\"version\": 2}");
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
	cr_assert_eq(m.err_code, ERR_OK);
	return fd;
}

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

/* What one fd received until the reply of an id: events by name, the last notification's. */
struct heard {
	unsigned notifications, progress, messages;
	uint64_t notified_id;     /* the request id of the last notification event */
	char method[64], uri[64]; /* its method and params.uri */
	bool had_meta;            /* its params had a _meta */
	char level[16];           /* the last message event's level */
	struct wire_msg reply;
	uint64_t other_id;        /* the last reply to another request, 0 when none */
	int other_code;
};

static void str_of(const msgpack_object *o, char *buf, size_t len)
{
	buf[0] = '\0';
	if (o && o->type == MSGPACK_OBJECT_STR)
		snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
}

static void record(struct heard *h, const struct wire_msg *m)
{
	if (m->op_len == 12 && memcmp(m->op, "notification", 12) == 0) {
		const msgpack_object *params = wire_map_get(m->params, "params");
		h->notifications++;
		h->notified_id = m->id;
		str_of(wire_map_get(m->params, "method"), h->method, sizeof(h->method));
		cr_assert(params && params->type == MSGPACK_OBJECT_MAP, "no params map");
		str_of(wire_map_get(params, "uri"), h->uri, sizeof(h->uri));
		h->had_meta = wire_map_get(params, "_meta") != NULL;
	} else if (m->op_len == 8 && memcmp(m->op, "progress", 8) == 0) {
		h->progress++;
	} else if (m->op_len == 7 && memcmp(m->op, "message", 7) == 0) {
		h->messages++;
		str_of(wire_map_get(m->params, "level"), h->level, sizeof(h->level));
	}
}

/* Reads frames until the reply of id, recording events (of every request). */
static void hear_until(int fd, uint64_t id, struct heard *h)
{
	memset(h, 0, sizeof(*h));
	for (;;) {
		struct wire_msg m;
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 10000), 0, "no reply to %llu",
			     (unsigned long long)id);
		if (m.type == WIRE_EVENT) {
			record(h, &m);
			continue;
		}
		if (m.type == WIRE_REPLY && m.id == id) {
			h->reply = m;
			return;
		}
		if (m.type == WIRE_REPLY) {
			h->other_id = m.id;
			h->other_code = m.err_code;
		}
	}
}

/* Calls the modern fixture's tool with args (JSON text) and extra op params (text or ""). */
static void call(int fd, uint64_t id, const char *tool, const char *args, const char *extra,
		 struct heard *h)
{
	char params[512];

	snprintf(params, sizeof(params), "{\"user\": \"alice\", \"mcp\": \"modern\", \"tool\": "
		 "\"%s\", \"arguments\": %s%s}", tool, args, extra);
	it_raw_request(fd, id, "call", params);
	hear_until(fd, id, h);
}

/* The integer member name of the structuredContent of h's reply. */
static long long sc_int(const struct heard *h, const char *name)
{
	const msgpack_object *sc, *v;

	cr_assert_eq(h->reply.err_code, ERR_OK, "the call failed");
	sc = wire_map_get(h->reply.result, "structuredContent");
	v = sc ? wire_map_get(sc, name) : NULL;
	cr_assert(v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "no %s", name);
	return (long long)v->via.u64;
}

/*
 * Publishes method (for uri) until one open listen of the fixture got it (the
 * listen is sent while the connection starts: it may not be there yet). The
 * events heard meanwhile are in h.
 */
static void publish_until_delivered(int fd, uint64_t *id, const char *method, struct heard *h)
{
	char args[160];

	snprintf(args, sizeof(args), "{\"method\": \"%s\"}", method);
	for (int i = 0; i < 100; i++) {
		call(fd, (*id)++, "publish", args, "", h);
		if (sc_int(h, "delivered") == 1)
			return;
		it_sleep_ms(20);
	}
	cr_assert_fail("the fixture never had the listen open");
}

Test(mevents, a_modern_listen_is_subscriptions_listen_and_hears_only_its_notifications)
{
	struct heard h;
	uint64_t id = 10;
	int fd = conn();

	it_raw_request(fd, 2, "listen", "{\"user\": \"alice\", \"mcp\": \"modern\", "
		       "\"uris\": [\"file:///a\"]}");
	publish_until_delivered(fd, &id, "notifications/tools/list_changed", &h);
	cr_assert_eq(h.notifications, 1);
	cr_assert_eq(h.notified_id, 2);
	cr_assert_str_eq(h.method, "notifications/tools/list_changed");
	cr_assert(!h.had_meta, "the daemon's subscriptionId reached the app");

	/* The filter asks for every list change, and for updates of the listen's uris only. */
	call(fd, id++, "publish", "{\"method\": \"notifications/resources/updated\", "
	     "\"uri\": \"file:///a\"}", "", &h);
	cr_assert_eq(sc_int(&h, "delivered"), 1);
	cr_assert_eq(h.notifications, 1);
	cr_assert_str_eq(h.method, "notifications/resources/updated");
	cr_assert_str_eq(h.uri, "file:///a");
	cr_assert(!h.had_meta);
	call(fd, id++, "publish", "{\"method\": \"notifications/resources/updated\", "
	     "\"uri\": \"file:///b\"}", "", &h);
	cr_assert_eq(sc_int(&h, "delivered"), 0);
	cr_assert_eq(h.notifications, 0);
	call(fd, id++, "publish", "{\"method\": \"notifications/prompts/list_changed\"}", "", &h);
	cr_assert_eq(h.notifications, 1);
	call(fd, id++, "publish", "{\"method\": \"notifications/resources/list_changed\"}", "", &h);
	cr_assert_eq(h.notifications, 1);

	/* The app's cancel is the server's notifications/cancelled for the listen. */
	send_cancel(fd, 2);
	hear_until(fd, 2, &h);
	cr_assert_eq(h.reply.err_code, ERR_CANCELLED);
	for (int i = 0; i < 100; i++) {
		call(fd, id++, "publish", "{\"method\": \"notifications/tools/list_changed\"}", "",
		     &h);
		if (sc_int(&h, "cancelled") == 1)
			break;
		it_sleep_ms(20);
	}
	cr_assert_eq(sc_int(&h, "cancelled"), 1, "the server was not told");
	cr_assert_eq(sc_int(&h, "open"), 0);
	cr_assert_eq(h.notifications, 0);
	close(fd);
}

Test(mevents, a_modern_server_ending_the_subscription_ends_the_listen)
{
	static const char *const how[] = { "{\"how\": \"result\"}", "{\"how\": \"cancel\"}" };
	struct heard h;
	uint64_t id = 10;
	int fd = conn();

	for (unsigned i = 0; i < 2; i++) {
		it_raw_request(fd, 2 + i, "listen", "{\"user\": \"alice\", \"mcp\": \"modern\"}");
		publish_until_delivered(fd, &id, "notifications/tools/list_changed", &h);
		call(fd, id++, "end_listens", how[i], "", &h);
		cr_assert_eq(sc_int(&h, "delivered"), 1);
		/* The fixture ends the listen before it replies: that reply came first. */
		cr_assert_eq(h.other_id, 2 + i, "%s: the listen was not answered", how[i]);
		cr_assert_eq(h.other_code, ERR_UPSTREAM_CLOSED, "%s", how[i]);
	}
	/* Nothing was cancelled by the daemon: the server had ended both. */
	call(fd, id++, "publish", "{\"method\": \"notifications/tools/list_changed\"}", "", &h);
	cr_assert_eq(sc_int(&h, "cancelled"), 0);
	close(fd);
}

/* The io.modelcontextprotocol/logLevel the fixture's protocol tool saw ("" when none). */
static void level_sent(int fd, uint64_t id, const char *extra, char *level, size_t len)
{
	const msgpack_object *sc, *meta;
	struct heard h;

	call(fd, id, "protocol", "{}", extra, &h);
	cr_assert_eq(h.reply.err_code, ERR_OK);
	sc = wire_map_get(h.reply.result, "structuredContent");
	meta = sc ? wire_map_get(sc, "meta") : NULL;
	cr_assert(meta && meta->type == MSGPACK_OBJECT_MAP, "no meta");
	str_of(wire_map_get(meta, "io.modelcontextprotocol/logLevel"), level, len);
}

Test(mevents, a_request_that_asks_for_events_asks_a_modern_server_for_log_messages)
{
	char level[16];
	int fd = conn();

	level_sent(fd, 10, "", level, sizeof(level));
	cr_assert_str_eq(level, "", "log messages asked for without events");
	level_sent(fd, 11, ", \"events\": true", level, sizeof(level));
	cr_assert_str_eq(level, "info");
	level_sent(fd, 12, ", \"events\": true, \"log_level\": \"error\"", level, sizeof(level));
	cr_assert_str_eq(level, "error");
	close(fd);
}

Test(mevents, a_modern_servers_log_messages_arrive_as_message_events_at_the_level_asked)
{
	struct heard h;
	int fd = conn();

	call(fd, 10, "progress", "{\"steps\": 2, \"ms\": 1, \"log\": true}", ", \"events\": true",
	     &h);
	cr_assert_eq(h.reply.err_code, ERR_OK);
	cr_assert_eq(h.progress, 2);
	cr_assert_eq(h.messages, 2);
	cr_assert_str_eq(h.level, "info");
	call(fd, 11, "progress", "{\"steps\": 2, \"ms\": 1, \"log\": true}",
	     ", \"events\": true, \"log_level\": \"warning\"", &h);
	cr_assert_eq(h.reply.err_code, ERR_OK);
	cr_assert_eq(h.progress, 2);
	cr_assert_eq(h.messages, 0, "info messages despite log_level warning");
	close(fd);
}

Test(mevents, a_bad_log_level_or_one_without_events_is_bad_request)
{
	struct heard h;
	int fd = conn();

	call(fd, 10, "echo", "{\"message\": \"x\"}", ", \"events\": true, \"log_level\": \"warn\"",
	     &h);
	cr_assert_eq(h.reply.err_code, ERR_BAD_REQUEST);
	cr_assert(memmem(h.reply.err_message, h.reply.err_message_len, "debug, info", 11),
		  "the message does not list the levels");
	call(fd, 11, "echo", "{\"message\": \"x\"}", ", \"log_level\": \"info\"", &h);
	cr_assert_eq(h.reply.err_code, ERR_BAD_REQUEST);
	close(fd);
}

/* mcpctl call and request with opts; returns the exit status, stderr in *err. */
static int ctl_progress(const char *cmd, const char *name, const char *json, const char *opt,
			const char *level, char **err)
{
	char *out = NULL;
	int st = opt ? itd_ctl(&d, &out, err, ARGS(cmd, "alice", "modern", name, json, opt, level))
		     : itd_ctl(&d, &out, err, ARGS(cmd, "alice", "modern", name, json));

	free(out);
	return st;
}

Test(mevents, mcpctl_log_level_asks_a_modern_server_for_its_debug_messages)
{
	static const char args[] = "{\"steps\": 2, \"ms\": 1, \"log\": true, \"log_level\": \"debug\"}";
	static const char params[] = "{\"name\": \"progress\", \"arguments\": {\"steps\": 1, \"ms\": 1, "
				     "\"log\": true, \"log_level\": \"debug\"}}";
	char *err = NULL;

	/* By default (info) the server keeps its debug messages; the call still succeeds. */
	cr_assert_eq(ctl_progress("call", "progress", args, NULL, NULL, &err), 0);
	cr_assert(!strstr(err, "debug fixture: step"), "debug message at the default level: %s", err);
	free(err);
	cr_assert_eq(ctl_progress("call", "progress", args, "--log-level", "debug", &err), 0);
	cr_assert(strstr(err, "debug fixture: step 1") && strstr(err, "debug fixture: step 2"),
		  "no debug message on stderr: %s", err);
	free(err);
	cr_assert_eq(ctl_progress("request", "tools/call", params, "--log-level", "debug", &err), 0);
	cr_assert(strstr(err, "debug fixture: step 1"), "request: no debug message: %s", err);
	free(err);
	/* A level above the message's keeps it away again. */
	cr_assert_eq(ctl_progress("call", "progress", args, "--log-level", "warning", &err), 0);
	cr_assert(!strstr(err, "fixture: step"), "a message below warning: %s", err);
	free(err);
}

Test(mevents, mcpctl_refuses_an_unknown_log_level_naming_the_valid_ones)
{
	char *err = NULL;

	cr_assert_eq(ctl_progress("call", "echo", "{\"message\": \"x\"}", "--log-level", "warn",
				  &err), 2);
	cr_assert(strstr(err, "debug, info, notice, warning, error, critical, alert or emergency") &&
		  strstr(err, "'warn'"), "%s", err);
	free(err);
}
