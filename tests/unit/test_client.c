/* Tests of libmcppool and mcpctl against a fake daemon that runs in a thread of the test. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "errcode.h"
#include "frame.h"
#include "jsontext.h"
#include "mcppool.h"
#include "wire.h"

/* mcpctl's functions, without its main(), so that its parsing and output can be tested. */
#define MCPCTL_NO_MAIN
#include "mcpctl.c"
#include "bridge.c"
#include "top.c"
#include "elicit.c"

/* ---- the fake daemon ----------------------------------------------------- */

#define FAKE_MAX_HELD 256

struct fake;
/* Called for every request but hello, in the fake's thread. */
typedef void (*fake_handler)(struct fake *f, const struct wire_msg *m);

struct held {
	uint64_t id;
	int64_t n; /* params.n, when present */
};

struct fake {
	char dir[64], path[96];
	int lfd, cfd;
	pthread_t thread;
	bool running;
	/* set up by the test before fake_start */
	fake_handler handler;
	fake_handler on_notify;   /* called for notifications (the cancel is recorded anyway) */
	uint64_t max_frame;       /* announced in the hello reply */
	const char *hello_error;  /* a code: the hello is refused with it */
	uint64_t version;         /* answered in the hello reply; 0: 1 */
	/* state of the fake's thread; read by the test after fake_stop */
	bool stop;                /* the handler asks to hang up */
	char first_op[32];
	uint64_t hello_version;
	char hello_client[64];
	int nrequests;
	struct held held[FAKE_MAX_HELD];
	int nheld;
	uint64_t cancelled[FAKE_MAX_HELD];
	int ncancelled;
	msgpack_object_type seen[16]; /* types recorded by handlers */
	char seen_str[4][64];
};

static void fake_write(struct fake *f, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(f->cfd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Sends the frame that pack() packs. */
static void fake_send(struct fake *f, void (*pack)(msgpack_packer *, const void *), const void *ctx)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t start;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	start = frame_begin(&sb);
	pack(&pk, ctx);
	frame_end(&sb, start, UINT32_MAX);
	fake_write(f, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

struct reply {
	uint64_t id;
	const msgpack_object *result; /* NULL: nil */
	const char *code, *message;   /* an error reply when code is set */
	const msgpack_object *data;
	const char *result_str;
};

static void pack_reply(msgpack_packer *pk, const void *ctx)
{
	const struct reply *r = ctx;

	if (r->code) {
		wire_pack_reply_error(pk, r->id, errcode_from_name(r->code, strlen(r->code)),
				      r->message, r->data);
		return;
	}
	wire_pack_reply_ok_begin(pk, r->id);
	if (r->result)
		msgpack_pack_object(pk, *r->result);
	else if (r->result_str)
		wire_pack_str(pk, r->result_str);
	else
		msgpack_pack_nil(pk);
}

static void fake_reply(struct fake *f, const struct reply *r)
{
	fake_send(f, pack_reply, r);
}

static void pack_hello_reply(msgpack_packer *pk, const void *ctx)
{
	const struct fake *f = ctx;

	wire_pack_reply_ok_begin(pk, 1);
	msgpack_pack_map(pk, 3);
	wire_pack_str(pk, "version");
	msgpack_pack_uint64(pk, f->version ? f->version : 1);
	wire_pack_str(pk, "server");
	wire_pack_str(pk, "fake/0");
	wire_pack_str(pk, "maxFrame");
	msgpack_pack_uint64(pk, f->max_frame ? f->max_frame : FRAME_DEFAULT_MAX);
}

static void copy_str(char *dst, size_t size, const msgpack_object *o)
{
	if (o && o->type == MSGPACK_OBJECT_STR)
		snprintf(dst, size, "%.*s", (int)o->via.str.size, o->via.str.ptr);
}

static void fake_hello(struct fake *f, const struct wire_msg *m)
{
	const msgpack_object *v = wire_map_get(m->params, "version");

	f->hello_version = v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
	copy_str(f->hello_client, sizeof f->hello_client, wire_map_get(m->params, "client"));
	if (f->hello_error) {
		struct reply r = { .id = m->id, .code = f->hello_error, .message = "no such version" };
		fake_reply(f, &r);
		f->stop = true;
		return;
	}
	fake_send(f, pack_hello_reply, f);
}

static void fake_dispatch(struct fake *f, const struct wire_msg *m)
{
	const msgpack_object *id;

	if (!f->first_op[0] && m->op)
		snprintf(f->first_op, sizeof f->first_op, "%.*s", (int)m->op_len, m->op);
	if (m->type == WIRE_NOTIFY) {
		id = wire_map_get(m->params, "id");
		if (m->op_len == 6 && !memcmp(m->op, "cancel", 6) && id &&
		    f->ncancelled < FAKE_MAX_HELD)
			f->cancelled[f->ncancelled++] = id->via.u64;
		if (f->on_notify)
			f->on_notify(f, m);
		return;
	}
	if (m->type != WIRE_REQUEST)
		return;
	if (m->op_len == 5 && !memcmp(m->op, "hello", 5)) {
		fake_hello(f, m);
		return;
	}
	f->nrequests++;
	if (f->handler)
		f->handler(f, m);
}

/* Reads frames and answers them until the client hangs up or a handler says stop. */
static void fake_serve(struct fake *f)
{
	struct frame_reader in;

	frame_reader_init(&in, FRAME_DEFAULT_MAX);
	while (!f->stop) {
		size_t avail, len;
		char *space = frame_reader_space(&in, &avail);
		ssize_t n = read(f->cfd, space, avail);
		const char *payload;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		frame_reader_commit(&in, (size_t)n);
		while (!f->stop && frame_reader_next(&in, &payload, &len) == FRAME_OK) {
			msgpack_zone *zone = msgpack_zone_new(4096);
			struct wire_msg m;
			char why[128];

			if (wire_decode(payload, len, zone, &m, NULL, why, sizeof why) == 0)
				fake_dispatch(f, &m);
			msgpack_zone_free(zone);
		}
	}
	frame_reader_destroy(&in);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	f->cfd = accept(f->lfd, NULL, NULL);
	if (f->cfd < 0)
		return NULL;
	fake_serve(f);
	close(f->cfd);
	return NULL;
}

/* Listens on a fresh socket in a temporary directory and serves one client in a thread. */
static void fake_start(struct fake *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(f->dir, "/tmp/mcppool-client-XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/sock", f->dir);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(f->lfd, 0);
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(listen(f->lfd, 4), 0);
	cr_assert_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
	f->running = true;
}

/* Waits for the fake's thread; its observations may be read afterwards. */
static void fake_stop(struct fake *f)
{
	if (!f->running)
		return;
	pthread_join(f->thread, NULL);
	f->running = false;
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
}

static mcppool_conn *connect_to(struct fake *f)
{
	mcppool_error err;
	mcppool_conn *c = mcppool_connect(f->path, &err);

	cr_assert_not_null(c, "connect: %s", err.message);
	return c;
}

/* ---- handlers ------------------------------------------------------------ */

/* Result: the request's params. */
static void echo_params(struct fake *f, const struct wire_msg *m)
{
	struct reply r = { .id = m->id, .result = m->params };

	fake_reply(f, &r);
}

static void hold(struct fake *f, const struct wire_msg *m)
{
	const msgpack_object *n = wire_map_get(m->params, "n");

	f->held[f->nheld].id = m->id;
	f->held[f->nheld].n = n ? n->via.i64 : -1;
	f->nheld++;
}

/* Holds three requests, then answers them in the order 3, 1, 2 with their params. */
static void reply_out_of_order(struct fake *f, const struct wire_msg *m)
{
	static const int order[3] = { 2, 0, 1 };

	hold(f, m);
	if (f->nheld < 3)
		return;
	for (int i = 0; i < 3; i++) {
		msgpack_object n = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER,
				     .via.u64 = (uint64_t)f->held[order[i]].n };
		struct reply r = { .id = f->held[order[i]].id, .result = &n };

		fake_reply(f, &r);
	}
}

/* Holds 100 requests, then answers each with its n, last first. */
static void reply_100_reversed(struct fake *f, const struct wire_msg *m)
{
	hold(f, m);
	if (f->nheld < 100)
		return;
	for (int i = 99; i >= 0; i--) {
		msgpack_object n = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER,
				     .via.u64 = (uint64_t)f->held[i].n };
		struct reply r = { .id = f->held[i].id, .result = &n };

		fake_reply(f, &r);
	}
}

static void upstream_error(struct fake *f, const struct wire_msg *m)
{
	msgpack_object_kv kv[2];
	msgpack_object data = { .type = MSGPACK_OBJECT_MAP, .via.map = { 2, kv } };
	struct reply r = { .id = m->id, .code = "UPSTREAM_ERROR", .message = "Invalid params",
			   .data = &data };

	kv[0].key = (msgpack_object){ .type = MSGPACK_OBJECT_STR, .via.str = { 4, "code" } };
	kv[0].val = (msgpack_object){ .type = MSGPACK_OBJECT_NEGATIVE_INTEGER, .via.i64 = -32602 };
	kv[1].key = (msgpack_object){ .type = MSGPACK_OBJECT_STR, .via.str = { 7, "message" } };
	kv[1].val = (msgpack_object){ .type = MSGPACK_OBJECT_STR, .via.str = { 3, "bad" } };
	fake_reply(f, &r);
}

/* Holds three requests, then closes the connection in the middle of a frame. */
static void hang_up_mid_frame(struct fake *f, const struct wire_msg *m)
{
	hold(f, m);
	if (f->nheld < 3)
		return;
	fake_write(f, "\0\0\0\x10\x94", 5);
	f->stop = true;
}

static void hang_up_cleanly(struct fake *f, const struct wire_msg *m)
{
	(void)m;
	f->stop = true;
}

/* Declares a 64 MiB frame, far beyond any limit, and sends a few bytes of it. */
static void send_oversized(struct fake *f, const struct wire_msg *m)
{
	(void)m;
	fake_write(f, "\x04\0\0\0\x94\x01", 6);
}

/* Replies with a 2000-byte string: above a maxFrame of 1024. */
static void reply_2000_bytes(struct fake *f, const struct wire_msg *m)
{
	char big[2001];
	struct reply r = { .id = m->id, .result_str = big };

	memset(big, 'x', 2000);
	big[2000] = 0;
	fake_reply(f, &r);
}

static void ignore(struct fake *f, const struct wire_msg *m)
{
	hold(f, m);
}

/* Replies with a text result, after an error reply of id 0 (as to an oversized frame). */
static void reply_after_id0_error(struct fake *f, const struct wire_msg *m)
{
	struct reply e = { .id = 0, .code = "BAD_REQUEST", .message = "frame too large" };
	struct reply r = { .id = m->id, .result_str = "ok" };

	fake_reply(f, &e);
	fake_reply(f, &r);
}

/* Answers the request just cancelled with CANCELLED. */
static void answer_cancel(struct fake *f, const struct wire_msg *m)
{
	struct reply r = { .id = f->cancelled[f->ncancelled - 1], .code = "CANCELLED",
			   .message = "cancelled" };

	(void)m;
	fake_reply(f, &r);
}

/* Records the msgpack types of the params of a call, then echoes them. */
static void record_types(struct fake *f, const struct wire_msg *m)
{
	const msgpack_object *args = wire_map_get(m->params, "arguments");
	const msgpack_object *auth = wire_map_get(m->params, "auth");
	const char *keys[] = { "s", "i", "neg", "f", "b", "z", "list", "obj" };
	const msgpack_object *v;

	f->seen[0] = args ? args->type : (msgpack_object_type)-1;
	f->seen[1] = auth ? auth->type : (msgpack_object_type)-1;
	for (int i = 0; i < 8; i++) {
		v = wire_map_get(args, keys[i]);
		f->seen[2 + i] = v ? v->type : (msgpack_object_type)-1;
	}
	v = wire_map_get(auth, "token");
	f->seen[10] = v ? v->type : (msgpack_object_type)-1;
	copy_str(f->seen_str[0], sizeof f->seen_str[0], v);
	v = wire_map_get(m->params, "timeout_ms");
	f->seen[11] = v ? v->type : (msgpack_object_type)-1;
	copy_str(f->seen_str[1], sizeof f->seen_str[1], wire_map_get(m->params, "tool"));
	copy_str(f->seen_str[2], sizeof f->seen_str[2], wire_map_get(m->params, "user"));
	echo_params(f, m);
}

/* Replies with the msgpack object packed in packed[0, len). */
static void reply_packed(struct fake *f, uint64_t id, const char *packed, size_t len)
{
	msgpack_zone *zone = msgpack_zone_new(1024);
	msgpack_object o;
	char why[64];
	struct reply r = { .id = id, .result = &o };

	cr_assert_eq(wire_unpack(packed, len, zone, &o, why, sizeof why), 0);
	fake_reply(f, &r);
	msgpack_zone_free(zone);
}

/* {"content":[{"type":"text","text":"hi"}],"isError":false} */
static void reply_tool_result(struct fake *f, const struct wire_msg *m)
{
	static const char packed[] = "\x82\xa7" "content" "\x91\x82\xa4" "type" "\xa4" "text"
				     "\xa4" "text" "\xa2" "hi" "\xa7" "isError" "\xc2";

	reply_packed(f, m->id, packed, sizeof packed - 1);
}

/* {"text":"# TYPE up gauge\nup 1"} */
static void reply_metrics(struct fake *f, const struct wire_msg *m)
{
	static const char packed[] = "\x81\xa4" "text" "\xb4" "# TYPE up gauge\nup 1";

	reply_packed(f, m->id, packed, sizeof packed - 1);
}

struct event_frame {
	uint64_t id;
	const char *event;
	int progress; /* -1: a "message" event's params instead */
};

static void pack_event(msgpack_packer *pk, const void *ctx)
{
	const struct event_frame *e = ctx;

	wire_pack_event_begin(pk, e->id, e->event);
	if (e->progress < 0) {
		msgpack_pack_map(pk, 2);
		wire_pack_str(pk, "level");
		wire_pack_str(pk, "info");
		wire_pack_str(pk, "data");
		wire_pack_str(pk, "a log line");
		return;
	}
	msgpack_pack_map(pk, 3);
	wire_pack_str(pk, "progress");
	msgpack_pack_int(pk, e->progress);
	wire_pack_str(pk, "total");
	msgpack_pack_int(pk, 2);
	wire_pack_str(pk, "message");
	wire_pack_str(pk, "step");
}

static void fake_event(struct fake *f, uint64_t id, const char *event, int progress)
{
	struct event_frame e = { id, event, progress };

	fake_send(f, pack_event, &e);
}

/*
 * Records whether the request asked for events (seen[0]: MSGPACK_OBJECT_BOOLEAN when
 * it did), then sends: an event for an id not in flight, progress 1, a log message,
 * an event of a name no client knows, progress 2, and the reply "ok".
 */
static void events_then_reply(struct fake *f, const struct wire_msg *m)
{
	const msgpack_object *ev = wire_map_get(m->params, "events");
	struct reply r = { .id = m->id, .result_str = "ok" };

	f->seen[f->nrequests - 1] = ev && ev->type == MSGPACK_OBJECT_BOOLEAN && ev->via.boolean
				    ? MSGPACK_OBJECT_BOOLEAN : MSGPACK_OBJECT_NIL;
	fake_event(f, m->id + 1000, "progress", 1);
	fake_event(f, m->id, "progress", 1);
	fake_event(f, m->id, "message", -1);
	fake_event(f, m->id, "from-the-future", 0);
	fake_event(f, m->id, "progress", 2);
	fake_reply(f, &r);
}

/* Holds the request and sends a progress event every 60 ms, five times, then replies. */
static void slow_progress(struct fake *f, const struct wire_msg *m)
{
	struct reply r = { .id = m->id, .result_str = "ok" };

	for (int i = 1; i <= 5; i++) {
		usleep(60 * 1000);
		fake_event(f, m->id, "progress", i);
	}
	fake_reply(f, &r);
}

/* ---- callbacks ----------------------------------------------------------- */

struct outcome {
	int calls;
	int code;
	int64_t value;
};

static void record(mcppool_conn *c, uint64_t id, const mcppool_result *res,
		   const mcppool_error *err, void *arg)
{
	struct outcome *o = arg;
	const msgpack_object *v = mcppool_result_value(res);

	(void)c;
	(void)id;
	o->calls++;
	o->code = err ? err->code : MCPPOOL_OK;
	o->value = v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)v->via.u64 : -1;
	cr_assert((res == NULL) != (err == NULL), "exactly one of result and error");
}

/* A packed {"n": n}. */
static size_t pack_n(char *buf, int n)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t len;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	wire_pack_str(&pk, "n");
	msgpack_pack_int(&pk, n);
	len = sb.size;
	memcpy(buf, sb.data, len);
	msgpack_sbuffer_destroy(&sb);
	return len;
}

/* Polls and processes until nothing is in flight (or the connection breaks). */
static void pump(mcppool_conn *c)
{
	for (int rounds = 0; mcppool_inflight(c) > 0 && rounds < 10000; rounds++) {
		int ev = mcppool_events(c);
		struct pollfd p = { .fd = mcppool_fd(c) };
		int rev = 0;

		if (!ev)
			break;
		p.events = (short)((ev & MCPPOOL_READ ? POLLIN : 0) | (ev & MCPPOOL_WRITE ? POLLOUT : 0));
		cr_assert_geq(poll(&p, 1, 5000), 1, "the client got stuck");
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			rev |= MCPPOOL_READ;
		if (p.revents & POLLOUT)
			rev |= MCPPOOL_WRITE;
		mcppool_process(c, rev);
	}
}

/* ---- the library --------------------------------------------------------- */

/* A request that never completes would hang a test; a timeout makes it fail instead. */
TestSuite(client, .timeout = 30);

Test(client, hello_is_the_first_request_and_asks_for_version_2)
{
	struct fake f = { .handler = echo_params };
	mcppool_conn *c;
	mcppool_error err;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_warm(c, "alice", "demo", NULL, 0, NULL, &err), 0, "%s", err.message);
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_str_eq(f.first_op, "hello");
	cr_assert_eq(f.hello_version, 2);
	cr_assert_str_eq(f.hello_client, "libmcppool/" MCPPOOL_VERSION);
}

Test(client, replies_out_of_order_reach_their_own_requests)
{
	struct fake f = { .handler = reply_out_of_order };
	struct outcome o[3] = { 0 };
	char buf[16];
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	for (int i = 0; i < 3; i++)
		cr_assert_neq(mcppool_submit(c, "echo", buf, pack_n(buf, 10 + i), record, &o[i]), 0);
	cr_assert_eq(mcppool_inflight(c), 3);
	pump(c);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(o[i].calls, 1);
		cr_assert_eq(o[i].code, MCPPOOL_OK);
		cr_assert_eq(o[i].value, 10 + i, "request %d got the reply of %lld", i,
			     (long long)o[i].value);
	}
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, error_reply_is_decoded_into_code_message_and_data)
{
	struct fake f = { .handler = upstream_error };
	mcppool_result *res = (mcppool_result *)&f; /* must be reset to NULL */
	mcppool_error err;
	const msgpack_object *code;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_call(c, "alice", "demo", "echo", NULL, NULL, 0, &res, &err), -1);
	cr_assert_null(res);
	cr_assert_eq(err.code, MCPPOOL_UPSTREAM_ERROR);
	cr_assert_str_eq(err.message, "Invalid params");
	cr_assert_str_eq(mcppool_code_name(err.code), "UPSTREAM_ERROR");
	cr_assert_not_null(err.data);
	code = mcppool_map_get(err.data, "code");
	cr_assert_not_null(code);
	cr_assert_eq(code->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	cr_assert_eq(code->via.i64, -32602);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, peer_closing_mid_frame_fails_each_request_exactly_once)
{
	struct fake f = { .handler = hang_up_mid_frame };
	struct outcome o[3] = { 0 };
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	for (int i = 0; i < 3; i++)
		cr_assert_neq(mcppool_submit_warm(c, "alice", "demo", NULL, 0, record, &o[i]), 0);
	pump(c);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(o[i].calls, 1);
		cr_assert_eq(o[i].code, MCPPOOL_PROTOCOL);
	}
	cr_assert_eq(mcppool_connected(c), 0);
	cr_assert_eq(mcppool_events(c), 0);
	cr_assert_eq(mcppool_process(c, MCPPOOL_READ), -1);
	mcppool_close(c);
	fake_stop(&f);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(o[i].calls, 1, "close must not call a callback again");
}

Test(client, peer_closing_between_frames_reports_not_connected)
{
	struct fake f = { .handler = hang_up_cleanly };
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_pool_status(c, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_NOT_CONNECTED, "got %s: %s", mcppool_code_name(err.code),
		     err.message);
	cr_assert_eq(mcppool_servers(c, NULL, &err), -1, "a broken connection refuses requests");
	cr_assert_eq(err.code, MCPPOOL_NOT_CONNECTED);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, close_cancels_requests_in_flight_once_each)
{
	struct fake f = { .handler = ignore };
	struct outcome o[5] = { 0 };
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	for (int i = 0; i < 5; i++)
		cr_assert_neq(mcppool_submit_tools(c, "alice", "demo", NULL, NULL, 0, record, &o[i]), 0);
	mcppool_process(c, 0);
	mcppool_close(c);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(o[i].calls, 1);
		cr_assert_eq(o[i].code, MCPPOOL_CANCELLED);
	}
	fake_stop(&f);
}

static void close_from_callback(mcppool_conn *c, uint64_t id, const mcppool_result *res,
				const mcppool_error *err, void *arg)
{
	record(c, id, res, err, arg);
	mcppool_close(c);
}

Test(client, close_from_a_callback_cancels_the_others)
{
	struct fake f = { .handler = reply_out_of_order };
	struct outcome o[3] = { 0 };
	char buf[16];
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	/* The fake answers the third first: its callback closes the connection. */
	cr_assert_neq(mcppool_submit(c, "echo", buf, pack_n(buf, 0), record, &o[0]), 0);
	cr_assert_neq(mcppool_submit(c, "echo", buf, pack_n(buf, 1), record, &o[1]), 0);
	cr_assert_neq(mcppool_submit(c, "echo", buf, pack_n(buf, 2), close_from_callback, &o[2]), 0);
	while (o[2].calls == 0) {
		struct pollfd p = { .fd = mcppool_fd(c), .events = POLLIN | POLLOUT };

		cr_assert_geq(poll(&p, 1, 5000), 1);
		mcppool_process(c, MCPPOOL_READ | MCPPOOL_WRITE);
	}
	cr_assert_eq(o[2].code, MCPPOOL_OK);
	cr_assert_eq(o[0].calls, 1);
	cr_assert_eq(o[0].code, MCPPOOL_CANCELLED);
	cr_assert_eq(o[1].calls, 1);
	cr_assert_eq(o[1].code, MCPPOOL_CANCELLED);
	fake_stop(&f);
}

Test(client, a_hundred_requests_in_flight_complete_through_the_process_loop)
{
	struct fake f = { .handler = reply_100_reversed };
	struct outcome o[100] = { 0 };
	char buf[16];
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	for (int i = 0; i < 100; i++)
		cr_assert_neq(mcppool_submit(c, "echo", buf, pack_n(buf, i), record, &o[i]), 0);
	cr_assert_eq(mcppool_inflight(c), 100);
	cr_assert(mcppool_events(c) & MCPPOOL_WRITE, "queued output asks for WRITE");
	pump(c);
	cr_assert_eq(mcppool_inflight(c), 0);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(o[i].calls, 1);
		cr_assert_eq(o[i].value, i);
	}
	cr_assert_eq(mcppool_events(c), MCPPOOL_READ);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, oversized_frame_from_the_daemon_fails_requests_without_allocating_it)
{
	struct fake f = { .handler = send_oversized };
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_metrics(c, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_PROTOCOL, "got %s", mcppool_code_name(err.code));
	cr_assert(strstr(err.message, "67108864"), "message names the size: %s", err.message);
	cr_assert_eq(mcppool_conn_error(c)->code, MCPPOOL_PROTOCOL);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, replies_above_the_announced_max_frame_break_the_connection)
{
	struct fake f = { .handler = reply_2000_bytes, .max_frame = 1024 };
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_warm(c, "alice", "demo", NULL, 0, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_PROTOCOL, "got %s: %s", mcppool_code_name(err.code),
		     err.message);
	cr_assert(strstr(err.message, "1024"), "%s", err.message);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, requests_above_the_announced_max_frame_are_refused_locally)
{
	struct fake f = { .handler = echo_params, .max_frame = 1024 };
	char args[2048];
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_warm(c, "alice", "demo", NULL, 0, NULL, &err), 0);
	snprintf(args, sizeof args, "{\"s\":\"%01500d\"}", 0);
	cr_assert_eq(mcppool_call(c, "alice", "demo", "echo", args, NULL, 0, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_BAD_REQUEST);
	cr_assert(strstr(err.message, "1024"), "%s", err.message);
	cr_assert_eq(mcppool_warm(c, "alice", "demo", NULL, 0, NULL, &err), 0,
		     "the connection stays usable");
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.nrequests, 2);
}

Test(client, connecting_to_a_missing_socket_reports_not_connected)
{
	char dir[] = "/tmp/mcppool-client-XXXXXX", path[128];
	mcppool_error err;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/nobody-listens", dir);
	cr_assert_null(mcppool_connect(path, &err));
	cr_assert_eq(err.code, MCPPOOL_NOT_CONNECTED);
	cr_assert(strstr(err.message, path), "%s", err.message);
	rmdir(dir);
}

Test(client, result_is_rendered_as_compact_or_pretty_json)
{
	struct fake f = { .handler = reply_tool_result };
	mcppool_result *res;
	mcppool_error err;
	mcppool_conn *c;
	char *compact, *pretty;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_call(c, "alice", "demo", "echo", "{}", NULL, 0, &res, &err), 0);
	compact = mcppool_result_json(res, 0);
	pretty = mcppool_result_json(res, MCPPOOL_JSON_PRETTY);
	cr_assert_str_eq(compact, "{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"isError\":false}");
	cr_assert(strstr(pretty, "\n  \"content\""), "%s", pretty);
	free(compact);
	free(pretty);
	mcppool_result_free(res);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, auth_and_json_arguments_arrive_as_native_msgpack)
{
	struct fake f = { .handler = record_types };
	mcppool_auth_pair pairs[] = { { "token", "s3cret" } };
	mcppool_auth auth = { pairs, 1 };
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_call(c, "alice", "demo", "echo",
				  "{\"s\":\"x\",\"i\":7,\"neg\":-2,\"f\":1.5,\"b\":true,\"z\":null,"
				  "\"list\":[1,2],\"obj\":{\"k\":\"v\"}}",
				  &auth, 2500, NULL, &err), 0, "%s", err.message);
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.seen[0], MSGPACK_OBJECT_MAP, "arguments");
	cr_assert_eq(f.seen[1], MSGPACK_OBJECT_MAP, "auth");
	cr_assert_eq(f.seen[2], MSGPACK_OBJECT_STR);
	cr_assert_eq(f.seen[3], MSGPACK_OBJECT_POSITIVE_INTEGER);
	cr_assert_eq(f.seen[4], MSGPACK_OBJECT_NEGATIVE_INTEGER);
	cr_assert_eq(f.seen[5], MSGPACK_OBJECT_FLOAT64);
	cr_assert_eq(f.seen[6], MSGPACK_OBJECT_BOOLEAN);
	cr_assert_eq(f.seen[7], MSGPACK_OBJECT_NIL);
	cr_assert_eq(f.seen[8], MSGPACK_OBJECT_ARRAY);
	cr_assert_eq(f.seen[9], MSGPACK_OBJECT_MAP);
	cr_assert_eq(f.seen[10], MSGPACK_OBJECT_STR, "auth values are str");
	cr_assert_str_eq(f.seen_str[0], "s3cret");
	cr_assert_eq(f.seen[11], MSGPACK_OBJECT_POSITIVE_INTEGER, "timeout_ms");
	cr_assert_str_eq(f.seen_str[1], "echo");
	cr_assert_str_eq(f.seen_str[2], "alice");
}

Test(client, prepacked_arguments_are_sent_as_they_are)
{
	struct fake f = { .handler = record_types };
	char buf[16];
	size_t len = pack_n(buf, 5);
	mcppool_result *res;
	mcppool_error err;
	const msgpack_object *args;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_call_msgpack(c, "alice", "demo", "echo", buf, len, NULL, 0, &res,
					  &err), 0, "%s", err.message);
	args = mcppool_map_get(mcppool_result_value(res), "arguments");
	cr_assert_eq(mcppool_map_get(args, "n")->via.u64, 5);
	cr_assert_null(mcppool_map_get(mcppool_result_value(res), "auth"), "no auth, no key");
	mcppool_result_free(res);
	cr_assert_eq(mcppool_call_msgpack(c, "alice", "demo", "echo", "\x93\x01\x02\x03", 4, NULL,
					  0, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_BAD_REQUEST, "an array is not a params map");
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, invalid_args_json_is_refused_with_its_byte_offset_and_nothing_is_sent)
{
	struct fake f = { .handler = echo_params };
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_call(c, "alice", "demo", "echo", "{\"a\": }", NULL, 0, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_BAD_REQUEST);
	cr_assert(strstr(err.message, "at byte 6"), "%s", err.message);
	cr_assert_eq(mcppool_call(c, "alice", "demo", "echo", "[1]", NULL, 0, NULL, &err), -1);
	cr_assert(strstr(err.message, "must be a JSON object"), "%s", err.message);
	cr_assert_eq(mcppool_submit_call(c, "alice", "demo", "echo", "nope", NULL, 0, record,
					 NULL), 0);
	cr_assert_eq(mcppool_conn_error(c)->code, MCPPOOL_BAD_REQUEST);
	cr_assert_eq(mcppool_inflight(c), 0);
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.nrequests, 0);
}

static void count_conn_errors(mcppool_conn *c, const mcppool_error *err, void *arg)
{
	struct outcome *o = arg;

	(void)c;
	o->calls++;
	o->code = err->code;
}

Test(client, reply_of_id_0_is_a_connection_error_and_requests_go_on)
{
	struct fake f = { .handler = reply_after_id0_error };
	struct outcome handler = { 0 };
	mcppool_result *res;
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	mcppool_set_error_handler(c, count_conn_errors, &handler);
	cr_assert_eq(mcppool_servers(c, &res, &err), 0, "%s", err.message);
	cr_assert_eq(mcppool_result_value(res)->type, MSGPACK_OBJECT_STR);
	cr_assert_eq(handler.calls, 1);
	cr_assert_eq(handler.code, MCPPOOL_BAD_REQUEST);
	cr_assert_str_eq(mcppool_conn_error(c)->message, "frame too large");
	cr_assert_eq(mcppool_connected(c), 1);
	mcppool_result_free(res);
	mcppool_close(c);
	fake_stop(&f);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A blocking call waits in recv() under SO_RCVTIMEO: a changed timeout must reach the socket. */
Test(client, a_shorter_timeout_set_between_blocking_calls_holds_for_the_next)
{
	struct fake f = { .handler = ignore };
	mcppool_error err;
	mcppool_conn *c;
	long long t0;

	fake_start(&f);
	c = connect_to(&f);
	mcppool_set_timeout(c, 1000);
	cr_assert_eq(mcppool_call(c, "alice", "demo", "slow", NULL, NULL, 0, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_TIMEOUT);
	mcppool_set_timeout(c, 50);
	t0 = mono_ms();
	cr_assert_eq(mcppool_call(c, "alice", "demo", "slow", NULL, NULL, 0, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_TIMEOUT);
	cr_assert_lt(mono_ms() - t0, 700, "the 50 ms timeout took %lld ms", mono_ms() - t0);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, blocking_call_times_out_and_cancels_its_request)
{
	struct fake f = { .handler = ignore };
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	mcppool_set_timeout(c, 100);
	cr_assert_eq(mcppool_call(c, "alice", "demo", "slow", NULL, NULL, 0, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_TIMEOUT);
	cr_assert_eq(mcppool_inflight(c), 0);
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.nheld, 1);
	cr_assert_eq(f.ncancelled, 1);
	cr_assert_eq(f.cancelled[0], f.held[0].id);
}

Test(client, cancel_sends_the_notification_and_the_callback_runs_once)
{
	struct fake f = { .handler = ignore, .on_notify = answer_cancel };
	struct outcome o = { 0 };
	mcppool_conn *c;
	uint64_t id;

	fake_start(&f);
	c = connect_to(&f);
	id = mcppool_submit_call(c, "alice", "demo", "slow", NULL, NULL, 0, record, &o);
	cr_assert_neq(id, 0);
	cr_assert_eq(mcppool_cancel(c, id), 0);
	cr_assert_eq(mcppool_cancel(c, id + 100), -1, "unknown ids are refused");
	pump(c);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.code, MCPPOOL_CANCELLED);
	cr_assert_eq(mcppool_cancel(c, id), -1, "a finished request cannot be cancelled");
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.cancelled[0], id);
}

Test(client, refused_hello_fails_the_pipelined_request_with_its_code)
{
	struct fake f = { .handler = echo_params, .hello_error = "UNSUPPORTED_VERSION" };
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_cleanup(c, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_UNSUPPORTED_VERSION, "got %s: %s",
		     mcppool_code_name(err.code), err.message);
	cr_assert_eq(mcppool_connected(c), 0);
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.nrequests, 0);
}

/* What an event callback saw, in order. */
struct seen_events {
	int n;
	char names[8][32];
	int64_t progress[8];
	uint64_t ids[8];
	int completed_after; /* events counted when the completion ran */
};

static void record_event(mcppool_conn *c, uint64_t id, const char *event,
			 const msgpack_object *params, void *arg)
{
	struct seen_events *s = arg;
	const msgpack_object *p = mcppool_map_get(params, "progress");

	(void)c;
	if (s->n >= 8)
		return;
	snprintf(s->names[s->n], sizeof s->names[s->n], "%s", event);
	s->progress[s->n] = p && p->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)p->via.u64 : -1;
	s->ids[s->n] = id;
	s->n++;
}

struct events_and_outcome {
	struct seen_events ev;
	struct outcome o;
};

static void record_event_of_pair(mcppool_conn *c, uint64_t id, const char *event,
				 const msgpack_object *params, void *arg)
{
	record_event(c, id, event, params, &((struct events_and_outcome *)arg)->ev);
}

static void record_after_events(mcppool_conn *c, uint64_t id, const mcppool_result *res,
				const mcppool_error *err, void *arg)
{
	struct events_and_outcome *p = arg;

	p->ev.completed_after = p->ev.n;
	p->o.calls++;
	p->o.code = err ? err->code : MCPPOOL_OK;
	(void)c;
	(void)id;
	(void)res;
}

Test(client, events_of_a_submitted_request_reach_its_callback_before_its_completion)
{
	struct fake f = { .handler = events_then_reply, .version = 2 };
	struct events_and_outcome p = { 0 };
	struct outcome handler = { 0 };
	mcppool_conn *c;
	uint64_t id;

	fake_start(&f);
	c = connect_to(&f);
	mcppool_set_error_handler(c, count_conn_errors, &handler);
	id = mcppool_submit_request_events(c, "alice", "demo", "tools/call", "{}", NULL, 0,
					   record_event_of_pair, record_after_events, &p);
	cr_assert_neq(id, 0);
	pump(c);
	cr_assert_eq(p.o.calls, 1);
	cr_assert_eq(p.o.code, MCPPOOL_OK);
	cr_assert_eq(p.ev.n, 4, "the event of an id not in flight is ignored, the rest delivered");
	cr_assert_eq(p.ev.completed_after, 4, "every event comes before the completion");
	cr_assert_str_eq(p.ev.names[0], "progress");
	cr_assert_eq(p.ev.progress[0], 1);
	cr_assert_str_eq(p.ev.names[1], "message");
	cr_assert_str_eq(p.ev.names[2], "from-the-future", "unknown names are the app's to ignore");
	cr_assert_eq(p.ev.progress[3], 2);
	cr_assert_eq(p.ev.ids[0], id);
	cr_assert_eq(handler.calls, 0, "an event for an unknown id is no connection error");
	cr_assert_eq(mcppool_connected(c), 1);
	cr_assert_eq(mcppool_protocol_version(c), 2);
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.seen[0], MSGPACK_OBJECT_BOOLEAN, "the request asked for events");
}

Test(client, requests_without_an_event_callback_do_not_ask_for_events_and_ignore_them)
{
	struct fake f = { .handler = events_then_reply, .version = 2 };
	struct outcome o = { 0 }, handler = { 0 };
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	mcppool_set_error_handler(c, count_conn_errors, &handler);
	cr_assert_neq(mcppool_submit_call(c, "alice", "demo", "echo", NULL, NULL, 0, record, &o), 0);
	pump(c);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.code, MCPPOOL_OK);
	cr_assert_eq(handler.calls, 0);
	cr_assert_eq(mcppool_connected(c), 1);
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.seen[0], MSGPACK_OBJECT_NIL, "no events: true without a callback");
}

Test(client, blocking_call_with_events_runs_the_event_callback_while_it_waits)
{
	struct fake f = { .handler = events_then_reply, .version = 2 };
	struct seen_events ev = { 0 };
	mcppool_result *res;
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_call_events(c, "alice", "demo", "progress", "{\"steps\":2}", NULL, 0,
					 record_event, &ev, &res, &err), 0, "%s", err.message);
	cr_assert_eq(mcppool_result_value(res)->type, MSGPACK_OBJECT_STR);
	cr_assert_eq(ev.n, 4);
	cr_assert_eq(ev.progress[3], 2);
	mcppool_result_free(res);
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.seen[0], MSGPACK_OBJECT_BOOLEAN);
}

Test(client, progress_events_restart_the_client_side_timeout)
{
	struct fake f = { .handler = slow_progress, .version = 2 };
	struct seen_events ev = { 0 };
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	/* 300 ms in all, but never 150 ms without an event. */
	mcppool_set_timeout(c, 150);
	cr_assert_eq(mcppool_request_events(c, "alice", "demo", "tools/call", NULL, NULL, 0,
					    record_event, &ev, NULL, &err), 0, "%s: %s",
		     mcppool_code_name(err.code), err.message);
	cr_assert_eq(ev.n, 5);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, code_names_are_the_protocol_strings)
{
	cr_assert_str_eq(mcppool_code_name(MCPPOOL_OK), "OK");
	cr_assert_str_eq(mcppool_code_name(MCPPOOL_POOL_EXHAUSTED), "POOL_EXHAUSTED");
	cr_assert_str_eq(mcppool_code_name(MCPPOOL_NOT_CONNECTED), "NOT_CONNECTED");
	cr_assert_str_eq(mcppool_code_name(MCPPOOL_CANCELLED), "CANCELLED");
	cr_assert_str_eq(mcppool_code_name(999), "INTERNAL");
	cr_assert_str_eq(mcppool_version(), MCPPOOL_VERSION);
}

/* ---- mcpctl -------------------------------------------------------------- */

TestSuite(mcpctl, .timeout = 30);

/* Runs mcpctl with words (a NULL-terminated list) and captures its streams. */
struct ctl_run {
	int status;
	char *out, *err;
	size_t out_len, err_len;
};

static struct ctl_run run_ctl(const char *const *words)
{
	struct ctl_run r = { 0 };
	char *argv[32];
	int argc = 0;
	FILE *out = open_memstream(&r.out, &r.out_len);
	FILE *err = open_memstream(&r.err, &r.err_len);

	argv[argc++] = strdup("mcpctl");
	for (; *words; words++)
		argv[argc++] = strdup(*words); /* mutable, as argv is: secrets are wiped in place */
	argv[argc] = NULL;
	r.status = ctl_main(argc, argv, out, err);
	fclose(out);
	fclose(err);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return r;
}

static void ctl_run_free(struct ctl_run *r)
{
	free(r->out);
	free(r->err);
}

Test(mcpctl, call_prints_the_result_wrapped_in_success)
{
	struct fake f = { .handler = reply_tool_result };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "call", "alice", "demo", "echo", "{\"message\":\"hi\"}", "-s",
				      f.path, NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "{\"success\":true,\"data\":{\"content\":[{\"type\":\"text\","
				"\"text\":\"hi\"}],\"isError\":false}}\n");
	ctl_run_free(&r);
}

Test(mcpctl, options_after_the_command_and_auth_reach_the_daemon)
{
	struct fake f = { .handler = record_types };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "--pretty", "call", "-a", "token=s3cret", "alice", "demo",
				      "echo", "--timeout", "1500", "--socket", f.path, NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(f.seen_str[0], "s3cret");
	cr_assert_eq(f.seen[1], MSGPACK_OBJECT_MAP);
	cr_assert_eq(f.seen[11], MSGPACK_OBJECT_POSITIVE_INTEGER);
	cr_assert(strncmp(r.out, "{\n  \"success\": true,", 20) == 0, "%s", r.out);
	ctl_run_free(&r);
}

Test(mcpctl, auth_file_lines_become_auth_values)
{
	struct fake f = { .handler = record_types };
	char path[160];
	struct ctl_run r;
	FILE *af;

	fake_start(&f);
	snprintf(path, sizeof path, "%s/auth", f.dir);
	af = fopen(path, "w");
	fputs("# the token\n\n  token = from-file\r\n", af);
	fclose(af);
	r = run_ctl((const char *[]){ "-s", f.path, "call", "alice", "demo", "echo",
				      "--auth-file", path, NULL });
	unlink(path);
	fake_stop(&f);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	/* The .env syntax (one parser with mcppoold's): blanks around '=' are not the value's. */
	cr_assert_str_eq(f.seen_str[0], "from-file");
	ctl_run_free(&r);
}

Test(mcpctl, daemon_error_prints_the_error_object_and_exits_1)
{
	struct fake f = { .handler = upstream_error };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "-s", f.path, "request", "alice", "demo", "x/y", NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.out, "{\"success\":false,\"error\":{\"code\":\"UPSTREAM_ERROR\","
				"\"message\":\"Invalid params\",\"data\":{\"code\":-32602,"
				"\"message\":\"bad\"}}}\n");
	ctl_run_free(&r);
}

Test(mcpctl, unreachable_daemon_exits_69_with_a_json_error)
{
	struct ctl_run r = run_ctl((const char *[]){ "pool-status", "-s",
						     "/nonexistent/mcppool.sock", NULL });

	cr_assert_eq(r.status, 69);
	cr_assert(strncmp(r.out, "{\"success\":false,\"error\":{\"code\":\"NOT_CONNECTED\"", 48) == 0,
		  "%s", r.out);
	/* It names the path it tried and how to point it elsewhere. */
	cr_assert(strstr(r.out, "/nonexistent/mcppool.sock") && strstr(r.out, "MCPPOOL_SOCKET"),
		  "%s", r.out);
	ctl_run_free(&r);
}

Test(mcpctl, invalid_args_json_is_a_usage_error_with_its_position)
{
	struct ctl_run r = run_ctl((const char *[]){ "call", "alice", "demo", "echo", "{\"a\":",
						     NULL });

	cr_assert_eq(r.status, 2);
	cr_assert_eq(r.out_len, 0, "nothing on stdout");
	cr_assert(strstr(r.err, "ARGS_JSON") && strstr(r.err, "position"), "%s", r.err);
	ctl_run_free(&r);
	r = run_ctl((const char *[]){ "call", "alice", "demo", "echo", "[1,2]", NULL });
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "must be a JSON object"), "%s", r.err);
	ctl_run_free(&r);
}

Test(mcpctl, usage_errors_exit_2_with_nothing_on_stdout)
{
	const char *const *cases[] = {
		(const char *[]){ NULL },
		(const char *[]){ "frobnicate", NULL },
		(const char *[]){ "call", "alice", "demo", NULL },
		(const char *[]){ "evict", "a", "b", "c", NULL },
		(const char *[]){ "pool-status", "--bogus", NULL },
		(const char *[]){ "pool-status", "-a", "k=v", NULL },
		(const char *[]){ "call", "a", "b", "c", "-a", "novalue", NULL },
		(const char *[]){ "call", "a", "b", "c", "-a", "k=1", "-a", "k=2", NULL },
		(const char *[]){ "call", "a", "b", "c", "--timeout", "soon", NULL },
		(const char *[]){ "servers", "--cursor", "x", NULL },
		(const char *[]){ "servers", "-s", NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ctl_run r = run_ctl(cases[i]);

		cr_assert_eq(r.status, 2, "case %zu exited %d", i, r.status);
		cr_assert_eq(r.out_len, 0, "case %zu printed on stdout: %s", i, r.out);
		cr_assert_gt(r.err_len, 0, "case %zu printed no reason", i);
		ctl_run_free(&r);
	}
}

Test(mcpctl, help_and_version_print_to_stdout_and_exit_0)
{
	struct ctl_run r = run_ctl((const char *[]){ "--help", NULL });

	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "pool-status") && strstr(r.out, "metrics"), "%s", r.out);
	ctl_run_free(&r);
	r = run_ctl((const char *[]){ "call", "--help", NULL });
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "USER MCP TOOL [ARGS_JSON]"), "%s", r.out);
	cr_assert_eq(r.err_len, 0);
	ctl_run_free(&r);
	r = run_ctl((const char *[]){ "--version", NULL });
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, MCPPOOL_VERSION), "%s", r.out);
	ctl_run_free(&r);
}

Test(mcpctl, auth_values_are_wiped_from_argv_after_sending)
{
	struct fake f = { .handler = record_types };
	char *argv[] = { strdup("mcpctl"), strdup("-s"), NULL, strdup("call"), strdup("u"),
			 strdup("m"), strdup("t"), strdup("-a"), strdup("token=hunter2"), NULL };
	FILE *out, *err;
	char *obuf = NULL, *ebuf = NULL;
	size_t olen, elen;
	int argc = 9;

	fake_start(&f);
	argv[2] = strdup(f.path);
	out = open_memstream(&obuf, &olen);
	err = open_memstream(&ebuf, &elen);
	cr_assert_eq(ctl_main(argc, argv, out, err), 0);
	fclose(out);
	fclose(err);
	fake_stop(&f);
	cr_assert_str_eq(f.seen_str[0], "hunter2");
	for (int i = 0; i < argc; i++) {
		cr_assert_null(strstr(argv[i], "hunter2"), "argv[%d] still holds the secret", i);
		free(argv[i]);
	}
	free(obuf);
	free(ebuf);
}

Test(mcpctl, progress_prints_each_event_as_a_json_line_on_stderr)
{
	struct fake f = { .handler = events_then_reply, .version = 2 };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "call", "alice", "demo", "progress", "--progress", "-s", f.path,
				      NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "{\"success\":true,\"data\":\"ok\"}\n");
	cr_assert_str_eq(r.err,
			 "{\"event\":\"progress\",\"params\":{\"progress\":1,\"total\":2,\"message\":\"step\"}}\n"
			 "{\"event\":\"message\",\"params\":{\"level\":\"info\",\"data\":\"a log line\"}}\n"
			 "{\"event\":\"from-the-future\",\"params\":{\"progress\":0,\"total\":2,\"message\":\"step\"}}\n"
			 "{\"event\":\"progress\",\"params\":{\"progress\":2,\"total\":2,\"message\":\"step\"}}\n");
	cr_assert_eq(f.seen[0], MSGPACK_OBJECT_BOOLEAN, "call asks for events");
	ctl_run_free(&r);
}

Test(mcpctl, log_messages_go_to_stderr_and_progress_is_silent_off_a_terminal)
{
	struct fake f = { .handler = events_then_reply, .version = 2 };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "request", "alice", "demo", "tools/call", "-s", f.path, NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "{\"success\":true,\"data\":\"ok\"}\n");
	cr_assert_str_eq(r.err, "info: a log line\n");
	ctl_run_free(&r);
}

/* Packs {"progress": done, "total": total, "message": msg} into sb and decodes it into *o. */
static void progress_params(msgpack_sbuffer *sb, msgpack_zone *z, msgpack_object *o, int done,
			    int total, const char *msg)
{
	msgpack_packer pk;
	char why[64];

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	wire_pack_str(&pk, "progress");
	msgpack_pack_int(&pk, done);
	wire_pack_str(&pk, "total");
	msgpack_pack_int(&pk, total);
	wire_pack_str(&pk, "message");
	wire_pack_str(&pk, msg);
	cr_assert_eq(wire_unpack(sb->data, sb->size, z, o, why, sizeof why), 0);
}

Test(mcpctl, progress_on_a_terminal_is_a_bar_redrawn_in_place_and_cleared_at_the_end)
{
	char *text = NULL;
	size_t len = 0;
	FILE *errf = open_memstream(&text, &len);
	struct ctl_events ev = { .errf = errf, .bar = true };
	msgpack_sbuffer sb;
	msgpack_zone *z = msgpack_zone_new(1024);
	msgpack_object o;

	msgpack_sbuffer_init(&sb);
	progress_params(&sb, z, &o, 1, 4, "copying");
	ctl_on_event(NULL, 1, "progress", &o, &ev);
	ctl_bar_clear(&ev);
	fclose(errf);
	cr_assert_str_eq(text, "\r\033[K[#######.......................] 1/4 copying\r\033[K");
	free(text);
	msgpack_sbuffer_destroy(&sb);
	msgpack_zone_free(z);
}

/* ---- mcpctl bridge, against the fake daemon ------------------------------------ */

/* warm: {"pid": 42, "server": {"protocolVersion": "2025-06-18"}}; the rest: events_then_reply. */
static void bridge_daemon(struct fake *f, const struct wire_msg *m)
{
	static const char warm[] = "\x82\xa3" "pid" "\x2a" "\xa6" "server" "\x81\xaf" "protocolVersion"
				   "\xaa" "2025-06-18";

	if (m->op_len == 4 && !memcmp(m->op, "warm", 4))
		reply_packed(f, m->id, warm, sizeof warm - 1);
	else
		events_then_reply(f, m);
}

struct host {
	int to_bridge;  /* the bridge's stdin */
	FILE *from_bridge;
	const char *line;
	long until_id;  /* read up to the response of this id */
	char *seen[16];
	int nseen;
};

/* A host in a thread: sends its line, reads up to the response, then closes the bridge's stdin. */
static void *host_main(void *arg)
{
	struct host *h = arg;
	char *line = NULL;
	size_t cap = 0;

	if (write(h->to_bridge, h->line, strlen(h->line)) < 0)
		return NULL;
	while (h->nseen < 16 && getline(&line, &cap, h->from_bridge) > 0) {
		json_t *j = json_loads(line, 0, NULL);
		bool done = json_integer_value(json_object_get(j, "id")) == h->until_id;

		h->seen[h->nseen++] = strdup(line);
		json_decref(j);
		if (done)
			break;
	}
	free(line);
	close(h->to_bridge);
	return NULL;
}

Test(mcpctl, bridge_relays_progress_with_the_hosts_token_and_log_messages_as_notifications)
{
	struct fake f = { .handler = bridge_daemon, .version = 2 };
	int in[2], out[2];
	struct host h = { .until_id = 5, .line = "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\","
			  "\"params\":{\"name\":\"progress\",\"_meta\":{\"progressToken\":\"tok\"}}}\n" };
	struct bridge_opts o = { .user = "alice", .mcp = "demo" };
	pthread_t host;
	FILE *to_host;
	char *log = NULL;
	size_t log_len = 0;
	FILE *errf = open_memstream(&log, &log_len);

	fake_start(&f);
	o.socket = f.path;
	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(pipe(out), 0);
	h.to_bridge = in[1];
	h.from_bridge = fdopen(out[0], "r");
	to_host = fdopen(out[1], "w");
	cr_assert_eq(pthread_create(&host, NULL, host_main, &h), 0);
	cr_assert_eq(bridge_run(&o, in[0], to_host, errf), 0);
	pthread_join(host, NULL);
	fclose(to_host);
	fclose(h.from_bridge);
	close(in[0]);
	fclose(errf);
	fake_stop(&f);
	cr_assert_eq(h.nseen, 4, "progress, message, progress, response; got %d", h.nseen);
	cr_assert_str_eq(h.seen[0], "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
			 "\"params\":{\"progress\":1,\"total\":2,\"message\":\"step\",\"progressToken\":\"tok\"}}\n");
	cr_assert_str_eq(h.seen[1], "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
			 "\"params\":{\"level\":\"info\",\"data\":\"a log line\"}}\n");
	cr_assert_str_eq(h.seen[3], "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":\"ok\"}\n");
	cr_assert_eq(f.seen[1], MSGPACK_OBJECT_BOOLEAN, "the forwarded request asked for events");
	for (int i = 0; i < h.nseen; i++)
		free(h.seen[i]);
	free(log);
}

Test(mcpctl, metrics_prints_the_exposition_text_itself)
{
	struct fake f = { .handler = reply_metrics };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "metrics", "-s", f.path, NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "# TYPE up gauge\nup 1\n");
	ctl_run_free(&r);
}

/* ---- results reused between replies ------------------------------------------- */

#define REUSE_CALLS 40

struct reuse_call {
	int n;
	size_t slen;
	mcppool_result *kept;
	int checked;
};

/* {"n": n, "s": slen bytes of one letter}: small, or past the size whose result is reused. */
static size_t pack_ns(char *buf, int n, size_t slen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char s[4096];
	size_t len;

	memset(s, 'a' + n % 26, slen);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	wire_pack_str(&pk, "n");
	msgpack_pack_int(&pk, n);
	wire_pack_str(&pk, "s");
	wire_pack_strn(&pk, s, slen);
	len = sb.size;
	memcpy(buf, sb.data, len);
	msgpack_sbuffer_destroy(&sb);
	return len;
}

static void check_ns(const msgpack_object *v, const struct reuse_call *rc)
{
	const msgpack_object *n = mcppool_map_get(v, "n"), *s = mcppool_map_get(v, "s");

	cr_assert(n && n->type == MSGPACK_OBJECT_POSITIVE_INTEGER && (int)n->via.u64 == rc->n);
	cr_assert(s && s->type == MSGPACK_OBJECT_STR && s->via.str.size == rc->slen);
	for (size_t i = 0; i < rc->slen; i++)
		cr_assert_eq(s->via.str.ptr[i], 'a' + rc->n % 26, "reply %d changed under its owner",
			     rc->n);
}

static void keep_every_third(mcppool_conn *c, uint64_t id, const mcppool_result *res,
			     const mcppool_error *err, void *arg)
{
	struct reuse_call *rc = arg;

	(void)c;
	(void)id;
	cr_assert_null(err);
	check_ns(mcppool_result_value(res), rc);
	rc->checked++;
	if (rc->n % 3 == 0)
		rc->kept = mcppool_result_keep(res);
}

Test(client, a_kept_result_stays_intact_while_later_replies_reuse_memory)
{
	struct fake f = { .handler = echo_params };
	struct reuse_call calls[REUSE_CALLS];
	static char buf[8192];
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	for (int i = 0; i < REUSE_CALLS; i++) {
		calls[i] = (struct reuse_call){ .n = i, .slen = i % 5 == 4 ? 3000 : 10 + (size_t)i };
		/* One at a time: each reply may take the memory of the one before. */
		cr_assert_neq(mcppool_submit(c, "echo", buf, pack_ns(buf, i, calls[i].slen),
					     keep_every_third, &calls[i]), 0);
		pump(c);
		cr_assert_eq(calls[i].checked, 1);
	}
	for (int i = 0; i < REUSE_CALLS; i++) {
		if (i % 3)
			continue;
		cr_assert_not_null(calls[i].kept);
		check_ns(mcppool_result_value(calls[i].kept), &calls[i]);
		mcppool_result_free(calls[i].kept);
	}
	mcppool_close(c);
	fake_stop(&f);
}

/* ---- input requests: the retry of an input_required result -------------------- */

#define INPUT_REQUIRED_JSON                                                                   \
	"{\"resultType\":\"input_required\",\"inputRequests\":{"                              \
	"\"who\":{\"method\":\"elicitation/create\",\"params\":{\"mode\":\"form\","            \
	"\"message\":\"Who?\",\"requestedSchema\":{\"type\":\"object\",\"properties\":{"       \
	"\"name\":{\"type\":\"string\",\"default\":\"octocat\"},"                              \
	"\"age\":{\"type\":\"integer\",\"default\":42},\"nick\":{\"type\":\"string\"}}}}},"  \
	"\"dirs\":{\"method\":\"roots/list\",\"params\":{}}},\"requestState\":\"st-1\"}"

/* Replies with the JSON text as the result. */
static void reply_json(struct fake *f, uint64_t id, const char *json)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	size_t pos = 0;
	char why[128];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	cr_assert_eq(jsontext_to_msgpack(json, strlen(json), &pos, &pk, 64, why, sizeof why), 0,
		     "%s", why);
	msgpack_unpacked_init(&u);
	cr_assert_eq(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	fake_reply(f, &(struct reply){ .id = id, .result = &u.data });
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/*
 * A 2026-07-28 server in front of the fake daemon: input_required until the
 * request carries a requestState (call: a param; request: in params), then
 * the request's params as the result.
 */
static void ask_then_echo(struct fake *f, const struct wire_msg *m)
{
	const msgpack_object *params = wire_map_get(m->params, "params");

	if (wire_map_get(m->params, "requestState") || wire_map_get(params, "requestState"))
		echo_params(f, m);
	else
		reply_json(f, m->id, INPUT_REQUIRED_JSON);
}

static void expect_str(const msgpack_object *o, const char *s)
{
	cr_assert(o && o->type == MSGPACK_OBJECT_STR, "a string %s", s);
	cr_assert_eq(o->via.str.size, strlen(s));
	cr_assert(memcmp(o->via.str.ptr, s, o->via.str.size) == 0, "%s", s);
}

Test(client, call_with_sends_input_responses_as_a_map_and_request_state_as_a_string)
{
	struct fake f = { .handler = ask_then_echo };
	mcppool_call_opts o = { .input_responses_json = "{\"who\":{\"action\":\"decline\"}}",
				.request_state = "st-1", .timeout_ms = 900 };
	const msgpack_object *v, *who;
	mcppool_result *res;
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_call_with(c, "alice", "demo", "ask", "{\"x\":1}", NULL, &res, &err),
		     0, "%s", err.message);
	cr_assert(mcppool_input_required(mcppool_result_value(res)), "the first try asks");
	mcppool_result_free(res);
	cr_assert_eq(mcppool_call_with(c, "alice", "demo", "ask", "{\"x\":1}", &o, &res, &err), 0,
		     "%s", err.message);
	v = mcppool_result_value(res);
	cr_assert_not(mcppool_input_required(v));
	who = mcppool_map_get(mcppool_map_get(v, "inputResponses"), "who");
	expect_str(mcppool_map_get(who, "action"), "decline");
	expect_str(mcppool_map_get(v, "requestState"), "st-1");
	cr_assert_eq(mcppool_map_get(mcppool_map_get(v, "arguments"), "x")->via.u64, 1);
	cr_assert_eq(mcppool_map_get(v, "timeout_ms")->via.u64, 900);
	mcppool_result_free(res);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, submit_call_with_sends_packed_input_responses)
{
	struct fake f = { .handler = ask_then_echo };
	char buf[16];
	mcppool_call_opts o = { .request_state = "st-9" };
	struct outcome out = { 0 };
	mcppool_conn *c;

	o.input_responses = buf;
	o.input_responses_len = pack_n(buf, 5);
	fake_start(&f);
	c = connect_to(&f);
	cr_assert_neq(mcppool_submit_call_with(c, "alice", "demo", "ask", NULL, &o, record, &out),
		      0, "%s", mcppool_conn_error(c)->message);
	pump(c);
	cr_assert_eq(out.calls, 1);
	cr_assert_eq(out.code, MCPPOOL_OK);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, bad_input_responses_are_refused_before_anything_is_sent)
{
	struct fake f = { .handler = ask_then_echo };
	mcppool_call_opts o = { .input_responses_json = "[1]" };
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_call_with(c, "alice", "demo", "ask", NULL, &o, NULL, &err), -1);
	cr_assert_eq(err.code, MCPPOOL_BAD_REQUEST);
	cr_assert(strstr(err.message, "inputResponses must be a JSON object"), "%s", err.message);
	o.input_responses_json = "{}";
	o.input_responses = "\x80";
	o.input_responses_len = 1;
	cr_assert_eq(mcppool_call_with(c, "alice", "demo", "ask", NULL, &o, NULL, &err), -1);
	cr_assert(strstr(err.message, "both as JSON and as msgpack"), "%s", err.message);
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.nrequests, 0);
}

Test(mcpctl, call_elicit_defaults_answers_forms_with_their_defaults_and_retries)
{
	struct fake f = { .handler = ask_then_echo };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "call", "alice", "demo", "ask", "--elicit", "defaults", "-s",
				      f.path, NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "\"inputResponses\":{\"who\":{\"action\":\"accept\",\"content\":"
				"{\"name\":\"octocat\",\"age\":42}},\"dirs\":{\"roots\":[]}}"),
		  "%s", r.out);
	cr_assert(strstr(r.out, "\"requestState\":\"st-1\""), "%s", r.out);
	cr_assert_eq(f.nrequests, 2);
	ctl_run_free(&r);
}

Test(mcpctl, request_elicit_decline_puts_the_answers_in_its_params)
{
	struct fake f = { .handler = ask_then_echo };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "request", "alice", "demo", "tools/call", "{\"name\":\"ask\"}",
				      "--elicit", "decline", "-s", f.path, NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "\"params\":{\"name\":\"ask\",\"inputResponses\":{\"who\":"
				"{\"action\":\"decline\"},\"dirs\":{\"roots\":[]}},"
				"\"requestState\":\"st-1\"}"), "%s", r.out);
	ctl_run_free(&r);
}

Test(mcpctl, without_elicit_and_off_a_terminal_input_required_is_the_data)
{
	struct fake f = { .handler = ask_then_echo };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "call", "alice", "demo", "ask", "-s", f.path, NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strncmp(r.out, "{\"success\":true,\"data\":{\"resultType\":\"input_required\"",
			  52) == 0, "%s", r.out);
	cr_assert_eq(f.nrequests, 1);
	ctl_run_free(&r);
}

static void ask_for_sampling(struct fake *f, const struct wire_msg *m)
{
	reply_json(f, m->id, "{\"resultType\":\"input_required\",\"inputRequests\":{\"s\":"
		   "{\"method\":\"sampling/createMessage\",\"params\":{}}},\"requestState\":\"x\"}");
}

Test(mcpctl, a_sampling_request_cannot_be_answered_and_exits_1_with_the_result)
{
	struct fake f = { .handler = ask_for_sampling };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "call", "alice", "demo", "ask", "--elicit", "cancel", "-s",
				      f.path, NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 1, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "{\"success\":false,\"error\":{\"code\":\"INPUT_REQUIRED\","
				"\"message\":\"input request \\\"s\\\" asks for "
				"sampling/createMessage"), "%s", r.out);
	cr_assert(strstr(r.out, "\"data\":{\"resultType\":\"input_required\""), "%s", r.out);
	cr_assert_eq(f.nrequests, 1);
	ctl_run_free(&r);
}

static void always_ask(struct fake *f, const struct wire_msg *m)
{
	reply_json(f, m->id, INPUT_REQUIRED_JSON);
}

Test(mcpctl, a_server_that_keeps_asking_is_given_up_after_16_rounds)
{
	struct fake f = { .handler = always_ask };
	struct ctl_run r;

	fake_start(&f);
	r = run_ctl((const char *[]){ "call", "alice", "demo", "ask", "--elicit", "defaults", "-s",
				      f.path, NULL });
	fake_stop(&f);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.out, "after 16 rounds"), "%s", r.out);
	cr_assert_eq(f.nrequests, 1 + ELICIT_MAX_ROUNDS);
	ctl_run_free(&r);
}

Test(mcpctl, elicit_takes_one_of_three_words_and_only_on_call_and_request)
{
	struct ctl_run r = run_ctl((const char *[]){ "call", "a", "m", "t", "--elicit", "yes", NULL });

	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "--elicit expects defaults, decline or cancel, got 'yes'"), "%s",
		  r.err);
	ctl_run_free(&r);
	r = run_ctl((const char *[]){ "tools", "a", "m", "--elicit", "cancel", NULL });
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "--elicit applies to 'call' and 'request' only"), "%s", r.err);
	ctl_run_free(&r);
}

/* The terminal questions, answered from text; returns the inputResponses as JSON. */
static char *ask_with(const char *typed, const char *result_json, char **asked)
{
	size_t asked_len;
	FILE *in = fmemopen((void *)typed, strlen(typed), "r");
	FILE *out = open_memstream(asked, &asked_len);
	struct elicit_tty tty = { in, out };
	json_t *result = json_loads(result_json, 0, NULL), *answers;
	char why[256], *text;

	answers = elicit_answer(result, ELICIT_ASK, &tty, why, sizeof why);
	cr_assert_not_null(answers, "%s", why);
	text = json_dumps(answers, JSON_COMPACT);
	json_decref(answers);
	json_decref(result);
	fclose(in);
	fclose(out);
	return text;
}

#define FORM_JSON                                                                              \
	"{\"inputRequests\":{\"f\":{\"method\":\"elicitation/create\",\"params\":{\"message\":"  \
	"\"Tell me\",\"requestedSchema\":{\"properties\":{"                                      \
	"\"n\":{\"type\":\"integer\",\"title\":\"Count\",\"description\":\"how many\"},"         \
	"\"ok\":{\"type\":\"boolean\",\"default\":true},"                                        \
	"\"c\":{\"type\":\"string\",\"enum\":[\"red\",\"green\"]},"                              \
	"\"x\":{\"type\":\"number\"},\"s\":{\"type\":\"string\",\"default\":\"d\"}},"            \
	"\"required\":[\"n\"]}}}}}"

Test(mcpctl, terminal_questions_are_typed_re_asked_until_valid_and_defaulted_when_empty)
{
	char *asked, *answers = ask_with("y\n\nseven\n7\nmaybe\nno\nblue\ngreen\n2.5\n\n",
					 FORM_JSON, &asked);

	cr_assert_str_eq(answers, "{\"f\":{\"action\":\"accept\",\"content\":{\"n\":7,\"ok\":false,"
				  "\"c\":\"green\",\"x\":2.5,\"s\":\"d\"}}}");
	cr_assert(strstr(asked, "The server asks: Tell me"), "%s", asked);
	cr_assert(strstr(asked, "Count* (how many): "), "%s", asked);
	cr_assert(strstr(asked, "an answer is required"), "%s", asked);
	cr_assert(strstr(asked, "expected an integer"), "%s", asked);
	cr_assert(strstr(asked, "ok [default: true]: "), "%s", asked);
	cr_assert(strstr(asked, "c [red/green]: "), "%s", asked);
	free(answers);
	free(asked);
}

Test(mcpctl, terminal_no_declines_and_end_of_input_cancels)
{
	char *asked, *answers = ask_with("n\n", FORM_JSON, &asked);

	cr_assert_str_eq(answers, "{\"f\":{\"action\":\"decline\"}}");
	free(answers);
	free(asked);
	answers = ask_with("y\n4\n", FORM_JSON, &asked);
	cr_assert_str_eq(answers, "{\"f\":{\"action\":\"cancel\"}}");
	free(answers);
	free(asked);
}

Test(mcpctl, a_url_elicitation_shows_its_address_and_is_accepted_once_the_user_says_done)
{
	char *asked, *answers = ask_with("\n", "{\"inputRequests\":{\"u\":{\"method\":"
					 "\"elicitation/create\",\"params\":{\"mode\":\"url\","
					 "\"message\":\"Sign in\",\"url\":\"https://x.test/a\"}}}}",
					 &asked);

	cr_assert_str_eq(answers, "{\"u\":{\"action\":\"accept\"}}");
	cr_assert(strstr(asked, "Sign in\n  https://x.test/a\n"), "%s", asked);
	free(answers);
	free(asked);
}

Test(client, log_level_is_sent_with_events_only_for_calls_and_requests)
{
	struct fake f = { .handler = echo_params, .version = 2 };
	struct seen_events ev = { 0 };
	mcppool_call_opts o = { .on_event = record_event, .event_arg = &ev, .log_level = "debug" };
	mcppool_call_opts quiet = { .log_level = "debug" };
	mcppool_result *res;
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_call_with(c, "alice", "demo", "echo", NULL, &o, &res, &err), 0,
		     "%s", err.message);
	expect_str(mcppool_map_get(mcppool_result_value(res), "log_level"), "debug");
	cr_assert(mcppool_map_get(mcppool_result_value(res), "events"));
	mcppool_result_free(res);
	cr_assert_eq(mcppool_request_with(c, "alice", "demo", "x/y", "{}", &o, &res, &err), 0,
		     "%s", err.message);
	expect_str(mcppool_map_get(mcppool_result_value(res), "log_level"), "debug");
	expect_str(mcppool_map_get(mcppool_result_value(res), "method"), "x/y");
	mcppool_result_free(res);
	/* Without events the daemon would refuse it: not sent. */
	cr_assert_eq(mcppool_request_with(c, "alice", "demo", "x/y", NULL, &quiet, &res, &err), 0,
		     "%s", err.message);
	cr_assert_null(mcppool_map_get(mcppool_result_value(res), "log_level"));
	cr_assert_null(mcppool_map_get(mcppool_result_value(res), "events"));
	mcppool_result_free(res);
	mcppool_close(c);
	fake_stop(&f);
}

Test(client, request_with_refuses_input_fields_that_belong_in_its_params)
{
	struct fake f = { .handler = echo_params };
	mcppool_call_opts o = { .request_state = "st" };
	mcppool_result *res = (mcppool_result *)&o;
	mcppool_error err;
	mcppool_conn *c;

	fake_start(&f);
	c = connect_to(&f);
	cr_assert_eq(mcppool_request_with(c, "alice", "demo", "x/y", NULL, &o, &res, &err), -1);
	cr_assert_null(res);
	cr_assert_eq(err.code, MCPPOOL_BAD_REQUEST);
	cr_assert(strstr(err.message, "inside params_json"), "%s", err.message);
	cr_assert_eq(mcppool_submit_request_with(c, "alice", "demo", "x/y", NULL, &o, record, NULL),
		     0);
	cr_assert_eq(mcppool_conn_error(c)->code, MCPPOOL_BAD_REQUEST);
	mcppool_close(c);
	fake_stop(&f);
	cr_assert_eq(f.nrequests, 0);
}
