/* Wire v2 events through the real daemon: progress and log messages of a request in flight. */
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"
#include "wire.h"

static struct itd d;
static msgpack_zone zone;

static void setup_with(const char *const *env)
{
	it_subreaper();
	itd_start(&d, NULL, env);
	msgpack_zone_init(&zone, 4096);
}

static void setup(void)
{
	setup_with(NULL);
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
	cr_assert_eq(wire_map_get(m.result, "version")->via.u64, version);
	return fd;
}

/* What arrived for one request: its events by kind, in order, and its reply. */
struct outcome {
	unsigned progress, messages, other;
	double last_progress; /* each progress value must grow */
	bool in_order;
	int code;             /* of the reply */
	char text[64];        /* the result's first content text */
};

static double number(const msgpack_object *o)
{
	if (!o)
		return -1;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (double)o->via.u64;
	if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)
		return o->via.f64;
	return -1;
}

/* Reads frames until the reply of id; every event must belong to id. */
static void collect(int fd, uint64_t id, struct outcome *out)
{
	struct wire_msg m;

	memset(out, 0, sizeof(*out));
	out->in_order = true;
	for (;;) {
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 10000), 0, "no reply (connection closed?)");
		if (m.type == WIRE_REPLY) {
			cr_assert_eq(m.id, id);
			out->code = m.err_code;
			if (m.err_code == ERR_OK) {
				const msgpack_object *c = wire_map_get(m.result, "content");
				const msgpack_object *t = c && c->via.array.size
					? wire_map_get(&c->via.array.ptr[0], "text") : NULL;
				if (t)
					snprintf(out->text, sizeof(out->text), "%.*s",
						 (int)t->via.str.size, t->via.str.ptr);
			}
			return;
		}
		cr_assert_eq(m.type, WIRE_EVENT, "type %d", (int)m.type);
		cr_assert_eq(m.id, id, "an event of request %llu, expected %llu",
			     (unsigned long long)m.id, (unsigned long long)id);
		if (m.op_len == 8 && memcmp(m.op, "progress", 8) == 0) {
			double p = number(wire_map_get(m.params, "progress"));
			cr_assert_gt(number(wire_map_get(m.params, "total")), 0, "no total");
			cr_assert_null(wire_map_get(m.params, "progressToken"),
				       "the daemon's token leaked to the app");
			if (p <= out->last_progress)
				out->in_order = false;
			out->last_progress = p;
			out->progress++;
		} else if (m.op_len == 7 && memcmp(m.op, "message", 7) == 0) {
			cr_assert(wire_str_eq(wire_map_get(m.params, "level"), "info"));
			cr_assert(wire_str_eq(wire_map_get(m.params, "logger"), "fixture"));
			out->messages++;
		} else {
			out->other++;
		}
	}
}

Test(events, progress_and_log_messages_arrive_in_order_before_the_reply, .init = setup,
     .fini = teardown)
{
	struct outcome o;
	int fd = conn(2);

	it_raw_request(fd, 5, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"progress\", "
			       "\"arguments\": {\"steps\": 4, \"ms\": 20, \"log\": true}, \"events\": true}");
	collect(fd, 5, &o);
	cr_assert_eq(o.code, ERR_OK);
	cr_assert_str_eq(o.text, "done 4");
	cr_assert_eq(o.progress, 4);
	cr_assert_eq(o.messages, 4);
	cr_assert_eq(o.other, 0);
	cr_assert(o.in_order);
	cr_assert_eq(o.last_progress, 4.0);
	close(fd);
}

Test(events, a_request_that_did_not_ask_gets_none, .init = setup, .fini = teardown)
{
	struct outcome o;
	int fd = conn(2);

	/* The app's own progress token reaches the server, but is not the daemon's to relay. */
	it_raw_request(fd, 6, "request", "{\"user\": \"alice\", \"mcp\": \"demo\", \"method\": "
			       "\"tools/call\", \"params\": {\"name\": \"progress\", \"arguments\": "
			       "{\"steps\": 3, \"ms\": 10, \"log\": true}, \"_meta\": "
			       "{\"progressToken\": 1}}}");
	collect(fd, 6, &o);
	cr_assert_eq(o.code, ERR_OK);
	cr_assert_eq(o.progress + o.messages + o.other, 0);
	close(fd);
}

Test(events, the_apps_progress_token_is_replaced_by_the_daemons, .init = setup,
     .fini = teardown)
{
	struct outcome o;
	int fd = conn(2);

	it_raw_request(fd, 7, "request", "{\"user\": \"alice\", \"mcp\": \"demo\", \"method\": "
			       "\"tools/call\", \"params\": {\"name\": \"progress\", \"arguments\": "
			       "{\"steps\": 2, \"ms\": 10}, \"_meta\": {\"progressToken\": \"app\"}}, "
			       "\"events\": true}");
	collect(fd, 7, &o);
	cr_assert_eq(o.code, ERR_OK);
	cr_assert_eq(o.progress, 2);
	close(fd);
}

Test(events, asking_on_a_version_1_connection_is_bad_request, .init = setup, .fini = teardown)
{
	struct wire_msg m;
	int fd = conn(1);

	it_raw_request(fd, 8, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"echo\", "
			       "\"arguments\": {\"message\": \"x\"}, \"events\": true}");
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
	cr_assert_eq(m.err_code, ERR_BAD_REQUEST);
	cr_assert(memmem(m.err_message, m.err_message_len, "version 2", 9));
	it_raw_request(fd, 9, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"echo\", "
			       "\"arguments\": {\"message\": \"x\"}, \"events\": \"yes\"}");
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
	cr_assert_eq(m.err_code, ERR_BAD_REQUEST);
	close(fd);
}

Test(events, progress_restarts_the_deadline, .init = setup, .fini = teardown)
{
	struct outcome o;
	int fd = conn(2);

	/* 8 steps 150 ms apart take 1.2 s: far past a 500 ms deadline, unless progress restarts it. */
	it_raw_request(fd, 10, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"progress\", "
				"\"arguments\": {\"steps\": 8, \"ms\": 150}, \"timeout_ms\": 500, "
				"\"events\": true}");
	collect(fd, 10, &o);
	cr_assert_eq(o.code, ERR_OK, "error %s", errcode_name(o.code));
	cr_assert_eq(o.progress, 8);
	/* The same without events keeps its deadline. */
	it_raw_request(fd, 11, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"progress\", "
				"\"arguments\": {\"steps\": 8, \"ms\": 150}, \"timeout_ms\": 500}");
	collect(fd, 11, &o);
	cr_assert_eq(o.code, ERR_UPSTREAM_TIMEOUT, "error %s", errcode_name(o.code));
	close(fd);
}

static void setup_short_max_request_time(void)
{
	static const char *const env[] = { "MCPPOOL_MAX_REQUEST_TIME=900", NULL };
	setup_with(env);
}

Test(events, progress_never_extends_a_request_past_the_max_request_time,
     .init = setup_short_max_request_time, .fini = teardown)
{
	struct outcome o;
	int fd = conn(2);

	/* Progress every 100 ms for 6 s; the deadline of 300 ms is restarted until 900 ms. */
	it_raw_request(fd, 12, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"progress\", "
				"\"arguments\": {\"steps\": 60, \"ms\": 100}, \"timeout_ms\": 300, "
				"\"events\": true}");
	collect(fd, 12, &o);
	cr_assert_eq(o.code, ERR_UPSTREAM_TIMEOUT, "error %s", errcode_name(o.code));
	cr_assert_geq(o.progress, 2, "%u progress events", o.progress);
	cr_assert_lt(o.progress, 60, "the request outlived MCPPOOL_MAX_REQUEST_TIME");
	close(fd);
}

Test(events, a_log_message_goes_to_the_oldest_request_that_asked, .init = setup,
     .fini = teardown)
{
	struct wire_msg m;
	unsigned for_first = 0, for_second = 0, replies = 0;
	int fd = conn(2);

	/* The first asks for events and waits; the second logs: its messages go to the first. */
	it_raw_request(fd, 20, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"sleep\", "
				"\"arguments\": {\"ms\": 1500}, \"events\": true}");
	it_raw_request(fd, 21, "call", "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"progress\", "
				"\"arguments\": {\"steps\": 2, \"ms\": 50, \"log\": true}, \"events\": true}");
	while (replies < 2) {
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 10000), 0);
		if (m.type == WIRE_REPLY) {
			cr_assert_eq(m.err_code, ERR_OK);
			replies++;
		} else if (m.op_len == 7 && memcmp(m.op, "message", 7) == 0) {
			if (m.id == 20)
				for_first++;
			else
				for_second++;
		}
	}
	cr_assert_eq(for_first, 2);
	cr_assert_eq(for_second, 0);
	close(fd);
}
