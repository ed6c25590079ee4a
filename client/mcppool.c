/* libmcppool: the connection, its table of requests in flight, and the blocking layer. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "errcode.h"
#include "frame.h"
#include "jsontext.h"
#include "mcppool.h"
#include "mpjson.h"
#include "sockpath.h"
#include "wire.h"

#define SAME_CODE(name) \
	_Static_assert((int)MCPPOOL_##name == (int)ERR_##name, "MCPPOOL_" #name " != ERR_" #name)
SAME_CODE(OK);
SAME_CODE(BAD_REQUEST);
SAME_CODE(UNKNOWN_MCP);
SAME_CODE(AUTH_INVALID);
SAME_CODE(POOL_EXHAUSTED);
SAME_CODE(UPSTREAM_START_FAILED);
SAME_CODE(UPSTREAM_CLOSED);
SAME_CODE(UPSTREAM_TIMEOUT);
SAME_CODE(UPSTREAM_ERROR);
SAME_CODE(FORBIDDEN);
SAME_CODE(SHUTTING_DOWN);
SAME_CODE(INTERNAL);
SAME_CODE(UNSUPPORTED_VERSION);
SAME_CODE(NOT_CONNECTED);
SAME_CODE(PROTOCOL);
SAME_CODE(TIMEOUT);
SAME_CODE(CANCELLED);
SAME_CODE(TOO_MANY_CLIENTS);
SAME_CODE(AUTH_REQUIRED);
SAME_CODE(CONFIG_INVALID);
_Static_assert(MCPPOOL_CONFIG_INVALID + 1 == ERR__COUNT, "enum mcppool_code lacks a code of errcode.h");

#define CLIENT_NAME "libmcppool/" MCPPOOL_VERSION
#define READS_PER_PROCESS 64      /* so that one busy connection cannot starve an event loop */
#define OUT_KEEP (1024u * 1024u)  /* an empty output buffer larger than this is released */

enum pending_kind {
	PENDING_USER,    /* a submitted request; counted by mcppool_inflight() */
	PENDING_HELLO,   /* the handshake */
	PENDING_DISCARD, /* abandoned by a timed-out blocking call; its reply is dropped */
};

struct pending {
	uint64_t id; /* 0 marks a free slot */
	enum pending_kind kind;
	mcppool_callback cb;
	void *arg;
	mcppool_event_callback on_event; /* NULL: the request did not ask for events */
	void *event_arg;
};

/*
 * Requests in flight by id: open addressing with linear probing and
 * backward-shift deletion (no tombstones). cap is 0 or a power of two, and
 * count <= cap / 2, so probe runs stay short.
 */
struct ptable {
	struct pending *slots;
	size_t cap, count;
};

/*
 * A reply of up to this many bytes leaves its result to be reused for the next one
 * (the buffer, and a zone its tree cannot have grown far): no allocation per call.
 */
#define RESULT_REUSE_MAX 2048

struct mcppool_result {
	char *buf;          /* the reply's payload: strings in value may point into it */
	size_t cap;         /* bytes allocated at buf */
	msgpack_zone *zone; /* the decoded objects */
	const msgpack_object *value;
	bool kept;          /* owned by the caller since mcppool_result_keep() */
};

struct mcppool_conn {
	int fd;
	bool broken;  /* fd closed; every request has had its callback */
	bool closing; /* mcppool_close() ran while user code was on the stack */
	int depth;    /* user callbacks currently running */
	struct frame_reader in;
	msgpack_sbuffer out;
	msgpack_sbuffer args; /* JSON arguments transcoded for the request being queued */
	size_t out_sent;  /* out.data[0, out_sent) is written and wiped */
	bool out_failed;  /* an allocation failed while packing the current frame */
	size_t max_frame; /* the daemon's limit on what we send */
	uint64_t next_id;
	int version;      /* the protocol version of the hello reply; 0 before it */
	struct ptable pending;
	size_t user_inflight;
	unsigned int timeout_ms;
	unsigned int rcvtimeo_ms; /* the socket's SO_RCVTIMEO (0: none), kept equal to timeout_ms */
	mcppool_error conn_err;
	mcppool_error_handler on_error;
	void *on_error_arg;
	mcppool_result *err_hold; /* keeps the data of the last blocking call's error */
	mcppool_result *cur_err;  /* holds the data of the error reply being delivered */
	mcppool_result *spare;    /* a delivered result, kept for the next small reply */
};

/* What goes into the params map of one request. */
struct op_params {
	const char *op;
	bool raw;                 /* packed is the whole params map (or NULL: empty) */
	const char *user, *mcp;   /* NULL: not sent */
	bool mcp_optional;
	const char *name_key;     /* "tool", "method", "cursor" or NULL */
	const char *name;
	bool name_required;
	const char *payload_key;  /* "arguments" or "params" */
	const char *json;         /* the payload as JSON text, or */
	const char *packed;       /* the payload packed (or the params map when raw) */
	size_t packed_len;
	const mcppool_auth *auth;
	unsigned int timeout_ms;
	mcppool_event_callback on_event; /* sends events: true and receives them */
	void *event_arg;
	const char *log_level;    /* sent as "log_level" with events; NULL: the daemon's default */
	const char *const *uris;  /* listen: sent as "uris" when n_uris > 0 */
	size_t n_uris;
	/* call: the retry of an input_required result */
	const char *input_json;   /* inputResponses as JSON text, or */
	const char *input_packed; /* packed (one msgpack map); sent when input_len > 0 */
	size_t input_len;
	const char *request_state; /* sent as "requestState" when non-NULL */
};

/* ---- errors -------------------------------------------------------------- */

/* Cuts a UTF-8 sequence that truncation left incomplete at the end of s. */
static void utf8_trim_tail(char *s)
{
	size_t len = strlen(s), start = len, need;
	unsigned char lead;

	while (start > 0 && len - start < 4 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
		start--;
	if (start == 0)
		return;
	lead = (unsigned char)s[start - 1];
	if (lead < 0xC0)
		return;
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
	if (len - (start - 1) < need)
		s[start - 1] = 0;
}

static void verr(mcppool_error *err, int code, const char *fmt, va_list ap)
{
	if (!err)
		return;
	err->code = code;
	err->data = NULL;
	if (vsnprintf(err->message, sizeof err->message, fmt, ap) >= (int)sizeof err->message)
		utf8_trim_tail(err->message);
}

__attribute__((format(printf, 3, 4)))
static void set_err(mcppool_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(err, code, fmt, ap);
	va_end(ap);
}

MCPPOOL_API const char *mcppool_code_name(int code)
{
	return errcode_name(code);
}

MCPPOOL_API const char *mcppool_version(void)
{
	return MCPPOOL_VERSION;
}

/* ---- the request table --------------------------------------------------- */

static size_t ptable_home(const struct ptable *t, uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 29) & (t->cap - 1);
}

static struct pending *ptable_find(struct ptable *t, uint64_t id)
{
	if (!t->cap || !id)
		return NULL;
	for (size_t i = ptable_home(t, id);; i = (i + 1) & (t->cap - 1)) {
		if (t->slots[i].id == id)
			return &t->slots[i];
		if (!t->slots[i].id)
			return NULL;
	}
}

static void ptable_place(struct ptable *t, const struct pending *p)
{
	size_t i = ptable_home(t, p->id);

	while (t->slots[i].id)
		i = (i + 1) & (t->cap - 1);
	t->slots[i] = *p;
	t->count++;
}

/* Makes room for one more entry. Returns 0, or -1 when memory ran out. */
static int ptable_reserve(struct ptable *t)
{
	struct ptable bigger;

	if ((t->count + 1) * 2 <= t->cap)
		return 0;
	bigger.cap = t->cap ? t->cap * 2 : 16;
	bigger.count = 0;
	bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
	if (!bigger.slots)
		return -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].id)
			ptable_place(&bigger, &t->slots[i]);
	free(t->slots);
	*t = bigger;
	return 0;
}

/* Removes e; entries further along its probe run move back so lookups need no tombstones. */
static void ptable_remove(struct ptable *t, struct pending *e)
{
	size_t mask = t->cap - 1, hole = (size_t)(e - t->slots), i = hole;

	for (;;) {
		i = (i + 1) & mask;
		if (!t->slots[i].id)
			break;
		size_t home = ptable_home(t, t->slots[i].id);
		bool reachable = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
		if (!reachable) {
			t->slots[hole] = t->slots[i];
			hole = i;
		}
	}
	t->slots[hole].id = 0;
	t->count--;
}

/* ---- results ------------------------------------------------------------- */

static void result_destroy(mcppool_result *r)
{
	if (!r)
		return;
	if (r->zone)
		msgpack_zone_free(r->zone);
	free(r->buf);
	free(r);
}

/*
 * A result that owns a copy of payload and an empty zone (c's spare when it fits);
 * NULL when memory ran out.
 */
static mcppool_result *result_new(mcppool_conn *c, const char *payload, size_t len)
{
	mcppool_result *r = c->spare;

	if (r && r->cap >= len) {
		c->spare = NULL;
	} else {
		r = calloc(1, sizeof *r);
		if (!r)
			return NULL;
		r->cap = len > RESULT_REUSE_MAX ? len : RESULT_REUSE_MAX;
		r->buf = malloc(r->cap);
		r->zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
		if (!r->buf || !r->zone) {
			result_destroy(r);
			return NULL;
		}
	}
	memcpy(r->buf, payload, len);
	r->kept = false; /* a spare was kept by the blocking call it answered before */
	return r;
}

/*
 * Done with r, which the caller did not keep: it becomes c's spare when small
 * (its reply fitted RESULT_REUSE_MAX bytes, so its zone cannot have grown far).
 */
static void result_done(mcppool_conn *c, mcppool_result *r)
{
	if (!r || c->spare || r->cap > RESULT_REUSE_MAX) {
		result_destroy(r);
		return;
	}
	msgpack_zone_clear(r->zone);
	r->value = NULL;
	c->spare = r;
}

MCPPOOL_API const msgpack_object *mcppool_result_value(const mcppool_result *result)
{
	return result ? result->value : NULL;
}

MCPPOOL_API char *mcppool_value_json(const msgpack_object *value, int flags)
{
	char why[128];

	if (!value)
		return NULL;
	return mpjson_dumps(value, (flags & MCPPOOL_JSON_PRETTY) != 0, why, sizeof why);
}

MCPPOOL_API char *mcppool_result_json(const mcppool_result *result, int flags)
{
	return mcppool_value_json(mcppool_result_value(result), flags);
}

MCPPOOL_API const msgpack_object *mcppool_map_get(const msgpack_object *map, const char *key)
{
	if (!map || !key)
		return NULL;
	return wire_map_get(map, key);
}

MCPPOOL_API void mcppool_result_free(mcppool_result *result)
{
	result_destroy(result);
}

MCPPOOL_API mcppool_result *mcppool_result_keep(const mcppool_result *result)
{
	/* Results are only ever allocated by the library; const only guards the callback. */
	mcppool_result *r = (mcppool_result *)result;

	if (r)
		r->kept = true;
	return r;
}

/* ---- connection state ---------------------------------------------------- */

static void run_error_handler(mcppool_conn *c)
{
	if (!c->on_error || c->closing)
		return;
	c->depth++;
	c->on_error(c, &c->conn_err, c->on_error_arg);
	c->depth--;
}

/* Runs the request's callback; p has already left the table. */
static void complete(mcppool_conn *c, const struct pending *p, const mcppool_result *res,
		     const mcppool_error *err)
{
	if (p->kind == PENDING_USER)
		c->user_inflight--;
	if (!p->cb)
		return;
	c->depth++;
	p->cb(c, p->id, res, err, p->arg);
	c->depth--;
}

/* Fails every request in flight with code/message, each exactly once. */
static void fail_all(mcppool_conn *c, int code, const char *message)
{
	struct ptable t = c->pending;
	mcppool_error e;

	/* Detach the table first: callbacks may run close, which fails "all" again. */
	memset(&c->pending, 0, sizeof c->pending);
	set_err(&e, code, "%s", message);
	for (size_t i = 0; i < t.cap; i++)
		if (t.slots[i].id)
			complete(c, &t.slots[i], NULL, &e);
	free(t.slots);
}

static void out_wipe(mcppool_conn *c)
{
	if (c->out.data)
		explicit_bzero(c->out.data, c->out.size);
	c->out.size = 0;
	c->out_sent = 0;
}

/* Marks the connection broken, closes its socket and fails what is in flight. Returns -1. */
__attribute__((format(printf, 3, 4)))
static int conn_break(mcppool_conn *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->broken)
		return -1;
	c->broken = true;
	/*
	 * A daemon that refuses a client says why (an id-0 error such as
	 * TOO_MANY_CLIENTS) before it closes: that reason, not the close, is the news.
	 */
	if (!(code == MCPPOOL_NOT_CONNECTED && c->conn_err.code == MCPPOOL_TOO_MANY_CLIENTS)) {
		va_start(ap, fmt);
		verr(&c->conn_err, code, fmt, ap);
		va_end(ap);
	}
	close(c->fd);
	c->fd = -1;
	out_wipe(c);
	run_error_handler(c);
	fail_all(c, c->conn_err.code, c->conn_err.message);
	return -1;
}

static void conn_free(mcppool_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	frame_reader_destroy(&c->in);
	out_wipe(c);
	msgpack_sbuffer_destroy(&c->out);
	msgpack_sbuffer_destroy(&c->args);
	free(c->pending.slots);
	result_destroy(c->err_hold);
	result_destroy(c->spare);
	free(c);
}

/* Frees a connection closed from a callback once no user code is on the stack. */
static bool release_if_closed(mcppool_conn *c)
{
	if (!c->closing || c->depth > 0)
		return false;
	conn_free(c);
	return true;
}

MCPPOOL_API void mcppool_close(mcppool_conn *conn)
{
	if (!conn || conn->closing)
		return;
	conn->closing = true;
	conn_break(conn, MCPPOOL_CANCELLED, "the connection was closed by its owner");
	release_if_closed(conn);
}

MCPPOOL_API void mcppool_set_timeout(mcppool_conn *conn, unsigned int timeout_ms)
{
	conn->timeout_ms = timeout_ms;
}

MCPPOOL_API int mcppool_connected(const mcppool_conn *conn)
{
	return !conn->broken;
}

MCPPOOL_API const mcppool_error *mcppool_conn_error(const mcppool_conn *conn)
{
	return &conn->conn_err;
}

MCPPOOL_API void mcppool_set_error_handler(mcppool_conn *conn, mcppool_error_handler fn,
					   void *arg)
{
	conn->on_error = fn;
	conn->on_error_arg = arg;
}

MCPPOOL_API int mcppool_fd(const mcppool_conn *conn)
{
	return conn->broken ? -1 : conn->fd;
}

MCPPOOL_API int mcppool_events(const mcppool_conn *conn)
{
	if (conn->broken)
		return 0;
	return MCPPOOL_READ | (conn->out_sent < conn->out.size ? MCPPOOL_WRITE : 0);
}

MCPPOOL_API size_t mcppool_inflight(const mcppool_conn *conn)
{
	return conn->user_inflight;
}

/* ---- output -------------------------------------------------------------- */

/* msgpack writer into the output queue that remembers allocation failures. */
static int out_write(void *data, const char *buf, size_t len)
{
	mcppool_conn *c = data;

	if (msgpack_sbuffer_write(&c->out, buf, len) != 0) {
		c->out_failed = true;
		return -1;
	}
	return 0;
}

/* Drops the frame started at start, wiping it: it may hold auth values. */
static void out_truncate(mcppool_conn *c, size_t start)
{
	if (c->out.size > start)
		explicit_bzero(c->out.data + start, c->out.size - start);
	c->out.size = start;
}

/* Moves unsent bytes to the front once most of the buffer has been sent. */
static void out_compact(mcppool_conn *c)
{
	size_t left = c->out.size - c->out_sent;

	if (left == 0) {
		c->out.size = c->out_sent = 0;
		if (c->out.alloc > OUT_KEEP) {
			msgpack_sbuffer_destroy(&c->out);
			msgpack_sbuffer_init(&c->out);
		}
		return;
	}
	if (c->out_sent < left)
		return;
	memmove(c->out.data, c->out.data + c->out_sent, left);
	explicit_bzero(c->out.data + left, c->out_sent);
	c->out.size = left;
	c->out_sent = 0;
}

static int read_input(mcppool_conn *c, int first_flags);

/* Writes queued output until it is all sent or the socket is full. Returns 0 or -1 (broken). */
static int out_flush(mcppool_conn *c)
{
	while (!c->broken && c->out_sent < c->out.size) {
		ssize_t n = send(c->fd, c->out.data + c->out_sent, c->out.size - c->out_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			int e = errno;
			/*
			 * A daemon that refused us said why, then closed: that reason may
			 * wait unread (TOO_MANY_CLIENTS), and is the one to report.
			 */
			if ((e == EPIPE || e == ECONNRESET) && read_input(c, MSG_DONTWAIT) < 0)
				return -1;
			return conn_break(c, MCPPOOL_NOT_CONNECTED, "writing to the daemon: %s",
					  strerror(e));
		}
		explicit_bzero(c->out.data + c->out_sent, (size_t)n);
		c->out_sent += (size_t)n;
	}
	if (c->broken)
		return -1;
	out_compact(c);
	return 0;
}

static void pack_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
	wire_pack_str(pk, key);
	wire_pack_str(pk, value);
}

static bool has_auth(const struct op_params *p)
{
	return p->auth && p->auth->count > 0;
}

static bool has_payload(const struct op_params *p)
{
	return p->packed && p->packed_len;
}

static bool has_input(const struct op_params *p)
{
	return p->input_packed && p->input_len;
}

/* log_level means nothing without events (the daemon refuses it alone): sent only with them. */
static bool has_log_level(const struct op_params *p)
{
	return p->on_event && p->log_level;
}

/* Packs the params map of an MCP op. */
static void pack_op_params(mcppool_conn *c, msgpack_packer *pk, const struct op_params *p)
{
	size_t n = (p->user != NULL) + (p->mcp != NULL) + (p->name_key && p->name) +
		   has_payload(p) + has_auth(p) + (p->timeout_ms > 0) + (p->on_event != NULL) +
		   (p->n_uris > 0) + has_input(p) + (p->request_state != NULL) + has_log_level(p);

	msgpack_pack_map(pk, n);
	if (p->user)
		pack_kv_str(pk, "user", p->user);
	if (p->mcp)
		pack_kv_str(pk, "mcp", p->mcp);
	if (p->name_key && p->name)
		pack_kv_str(pk, p->name_key, p->name);
	if (has_payload(p)) {
		wire_pack_str(pk, p->payload_key);
		out_write(c, p->packed, p->packed_len);
	}
	if (has_auth(p)) {
		wire_pack_str(pk, "auth");
		msgpack_pack_map(pk, p->auth->count);
		for (size_t i = 0; i < p->auth->count; i++)
			pack_kv_str(pk, p->auth->pairs[i].key, p->auth->pairs[i].value);
	}
	if (p->timeout_ms > 0) {
		wire_pack_str(pk, "timeout_ms");
		msgpack_pack_unsigned_int(pk, p->timeout_ms);
	}
	if (p->on_event) {
		wire_pack_str(pk, "events");
		msgpack_pack_true(pk);
	}
	if (has_log_level(p))
		pack_kv_str(pk, "log_level", p->log_level);
	if (p->n_uris > 0) {
		wire_pack_str(pk, "uris");
		msgpack_pack_array(pk, p->n_uris);
		for (size_t i = 0; i < p->n_uris; i++)
			wire_pack_str(pk, p->uris[i]);
	}
	if (has_input(p)) {
		wire_pack_str(pk, "inputResponses");
		out_write(c, p->input_packed, p->input_len);
	}
	if (p->request_state)
		pack_kv_str(pk, "requestState", p->request_state);
}

static void pack_params(mcppool_conn *c, msgpack_packer *pk, const struct op_params *p)
{
	if (!p->raw)
		pack_op_params(c, pk, p);
	else if (p->packed && p->packed_len)
		out_write(c, p->packed, p->packed_len);
	else
		msgpack_pack_map(pk, 0);
}

/*
 * Queues one frame: a request when id > 0 (op, params from p), else the cancel
 * notification of request cancel_id. Returns 0, or -1 with err filled and
 * nothing queued.
 */
static int queue_frame(mcppool_conn *c, uint64_t id, const struct op_params *p,
		       uint64_t cancel_id, mcppool_error *err)
{
	size_t start = frame_begin(&c->out), end;
	msgpack_packer pk;

	if (start == FRAME_BEGIN_FAILED) {
		set_err(err, MCPPOOL_INTERNAL, "out of memory");
		return -1;
	}
	msgpack_packer_init(&pk, c, out_write);
	c->out_failed = false;
	if (id) {
		wire_pack_request_begin(&pk, id, p->op);
		pack_params(c, &pk, p);
	} else {
		wire_pack_notify_begin(&pk, "cancel");
		msgpack_pack_map(&pk, 1);
		wire_pack_str(&pk, "id");
		msgpack_pack_uint64(&pk, cancel_id);
	}
	end = c->out.size;
	if (c->out_failed) {
		out_truncate(c, start);
		set_err(err, MCPPOOL_INTERNAL, "out of memory");
		return -1;
	}
	if (frame_end(&c->out, start, c->max_frame) < 0) {
		c->out.size = end;
		out_truncate(c, start);
		set_err(err, MCPPOOL_BAD_REQUEST,
			"the request (%zu bytes) exceeds the daemon's maximum frame size (%zu)",
			end - start - FRAME_HEADER_SIZE, c->max_frame);
		return -1;
	}
	return 0;
}

/* ---- submitting ---------------------------------------------------------- */

static int check_auth(const mcppool_auth *auth, mcppool_error *err)
{
	if (!auth || auth->count == 0)
		return 0;
	if (!auth->pairs) {
		set_err(err, MCPPOOL_BAD_REQUEST, "auth has %zu pairs but no array", auth->count);
		return -1;
	}
	for (size_t i = 0; i < auth->count; i++) {
		if (!auth->pairs[i].key || !auth->pairs[i].value) {
			set_err(err, MCPPOOL_BAD_REQUEST, "auth pair %zu lacks its key or value", i);
			return -1;
		}
	}
	return 0;
}

static int check_packed_map(const char *buf, size_t len, const char *what, mcppool_error *err)
{
	char why[160];
	unsigned char b;

	if (!buf || !len)
		return 0;
	if (wire_validate(buf, len, WIRE_MAX_DEPTH, why, sizeof why) < 0) {
		set_err(err, MCPPOOL_BAD_REQUEST, "%s is not one msgpack object: %s", what, why);
		return -1;
	}
	b = (unsigned char)buf[0];
	if ((b & 0xf0) != 0x80 && b != 0xde && b != 0xdf) {
		set_err(err, MCPPOOL_BAD_REQUEST, "%s must be a msgpack map", what);
		return -1;
	}
	return 0;
}

static int check_params(const struct op_params *p, mcppool_error *err)
{
	if (!p->op || !*p->op) {
		set_err(err, MCPPOOL_BAD_REQUEST, "op is required");
		return -1;
	}
	if (p->raw)
		return check_packed_map(p->packed, p->packed_len, "params", err);
	if (!p->user) {
		set_err(err, MCPPOOL_BAD_REQUEST, "user is required");
		return -1;
	}
	if (!p->mcp && !p->mcp_optional) {
		set_err(err, MCPPOOL_BAD_REQUEST, "mcp is required");
		return -1;
	}
	if (p->name_required && !p->name) {
		set_err(err, MCPPOOL_BAD_REQUEST, "%s is required", p->name_key);
		return -1;
	}
	if (check_auth(p->auth, err) < 0)
		return -1;
	if (p->input_json && p->input_len) {
		set_err(err, MCPPOOL_BAD_REQUEST, "inputResponses given both as JSON and as msgpack");
		return -1;
	}
	if (check_packed_map(p->input_packed, p->input_len, "inputResponses", err) < 0)
		return -1;
	return check_packed_map(p->packed, p->packed_len, p->payload_key, err);
}

/*
 * Transcodes JSON text that must hold an object onto the end of c->args,
 * straight from the text (no tree). Returns 0, or -1 with BAD_REQUEST naming
 * the byte offset. Nesting is left to the daemon, which owns the limit.
 */
static int pack_object(mcppool_conn *c, const char *text, const char *what, mcppool_error *err)
{
	size_t len = strlen(text), pos = 0, start = c->args.size;
	msgpack_packer pk;
	char why[160];
	unsigned char b;

	msgpack_packer_init(&pk, &c->args, msgpack_sbuffer_write);
	if (jsontext_to_msgpack(text, len, &pos, &pk, JSONTEXT_MAX_DEPTH, why, sizeof why) < 0) {
		set_err(err, MCPPOOL_BAD_REQUEST, "%s is not valid JSON: %s", what, why);
		return -1;
	}
	if (pos != len) {
		set_err(err, MCPPOOL_BAD_REQUEST, "%s is not valid JSON: trailing data at byte %zu",
			what, pos);
		return -1;
	}
	b = (unsigned char)c->args.data[start];
	if ((b & 0xf0) != 0x80 && b != 0xde && b != 0xdf) {
		set_err(err, MCPPOOL_BAD_REQUEST, "%s must be a JSON object", what);
		return -1;
	}
	return 0;
}

/*
 * Queues a request and registers its callback. Returns its id, or 0 with err
 * filled (and nothing queued).
 */
static uint64_t submit_op(mcppool_conn *c, const struct op_params *p, enum pending_kind kind,
			  mcppool_callback cb, void *arg, mcppool_error *err)
{
	struct op_params with_args;
	struct pending e = { .kind = kind, .cb = cb, .arg = arg, .on_event = p->on_event,
			     .event_arg = p->event_arg };

	if (c->broken) {
		set_err(err, MCPPOOL_NOT_CONNECTED, "the connection is broken: %s",
			c->conn_err.message);
		return 0;
	}
	if (check_params(p, err) < 0)
		return 0;
	if (!p->raw && (p->json || p->input_json)) {
		size_t input_at;

		/* Both go into c->args; pointers are taken once it stopped growing. */
		c->args.size = 0;
		if (p->json && pack_object(c, p->json, p->payload_key, err) < 0)
			return 0;
		input_at = c->args.size;
		if (p->input_json && pack_object(c, p->input_json, "inputResponses", err) < 0)
			return 0;
		with_args = *p;
		if (p->json) {
			with_args.packed = c->args.data;
			with_args.packed_len = input_at;
		}
		if (p->input_json) {
			with_args.input_packed = c->args.data + input_at;
			with_args.input_len = c->args.size - input_at;
		}
		p = &with_args;
	}
	if (ptable_reserve(&c->pending) < 0) {
		set_err(err, MCPPOOL_INTERNAL, "out of memory");
		return 0;
	}
	e.id = c->next_id;
	if (queue_frame(c, e.id, p, 0, err) < 0)
		return 0;
	c->next_id++;
	ptable_place(&c->pending, &e);
	if (kind == PENDING_USER)
		c->user_inflight++;
	return e.id;
}

/* Public submits record a refusal as the connection's error. */
static uint64_t submit_public(mcppool_conn *c, const struct op_params *p, mcppool_callback cb,
			      void *arg)
{
	if (!cb) {
		set_err(&c->conn_err, MCPPOOL_BAD_REQUEST, "a callback is required");
		return 0;
	}
	return submit_op(c, p, PENDING_USER, cb, arg, &c->conn_err);
}

static int queue_cancel(mcppool_conn *c, uint64_t id)
{
	return queue_frame(c, 0, NULL, id, &c->conn_err);
}

MCPPOOL_API int mcppool_cancel(mcppool_conn *conn, uint64_t id)
{
	struct pending *e = ptable_find(&conn->pending, id);

	if (conn->broken || !e || e->kind != PENDING_USER)
		return -1;
	return queue_cancel(conn, id);
}

/* ---- input --------------------------------------------------------------- */

/* The reply's error as an mcppool_error; a code this library does not know keeps its name. */
static void reply_error(const struct wire_msg *m, mcppool_error *e)
{
	const msgpack_object *code = wire_map_get(m->error, "code");
	int n = (int)(m->err_message_len < 400 ? m->err_message_len : 400);

	e->code = m->err_code;
	e->data = m->err_data;
	if (code && code->type == MSGPACK_OBJECT_STR &&
	    !wire_str_eq(code, mcppool_code_name(m->err_code)))
		snprintf(e->message, sizeof e->message, "%.*s: %.*s", (int)(code->via.str.size < 64
			 ? code->via.str.size : 64), code->via.str.ptr, n, m->err_message);
	else
		snprintf(e->message, sizeof e->message, "%.*s", n, m->err_message);
	if ((size_t)n < m->err_message_len)
		utf8_trim_tail(e->message);
}

/* Records an error that belongs to no request, and tells the handler. */
static void conn_note(mcppool_conn *c, const mcppool_error *e)
{
	c->conn_err = *e;
	c->conn_err.data = NULL;
	run_error_handler(c);
}

static const msgpack_object *nil_in(msgpack_zone *zone)
{
	msgpack_object *o = msgpack_zone_malloc(zone, sizeof *o);

	if (o)
		o->type = MSGPACK_OBJECT_NIL;
	return o;
}

/* Hands one decoded reply to its request's callback. r owns the reply's memory. */
static void deliver(mcppool_conn *c, const struct pending *p, mcppool_result *r,
		    const struct wire_msg *m)
{
	mcppool_error e;

	if (m->error) {
		reply_error(m, &e);
		r->value = m->err_data;
		c->cur_err = r;
		complete(c, p, NULL, &e);
		result_done(c, c->cur_err); /* NULL when a blocking call took it */
		c->cur_err = NULL;
		return;
	}
	r->value = m->result ? m->result : nil_in(r->zone);
	if (!r->value) {
		result_destroy(r);
		set_err(&e, MCPPOOL_INTERNAL, "out of memory");
		complete(c, p, NULL, &e);
		return;
	}
	complete(c, p, r, NULL);
	if (!r->kept)
		result_done(c, r);
}

/*
 * Hands an event to its request's event callback. Events of requests no longer
 * in flight, of requests that did not ask for them, and with names too long
 * to be ours are dropped, as the protocol says.
 */
static void deliver_event(mcppool_conn *c, const struct wire_msg *m)
{
	struct pending *e = ptable_find(&c->pending, m->id);
	char name[64];

	if (!e || e->kind != PENDING_USER || !e->on_event || m->op_len >= sizeof name)
		return;
	memcpy(name, m->op, m->op_len);
	name[m->op_len] = 0;
	c->depth++;
	e->on_event(c, m->id, name, m->params, e->event_arg);
	c->depth--;
}

/* Decodes one frame and dispatches it. A frame that cannot be attributed breaks the connection. */
static void handle_frame(mcppool_conn *c, const char *payload, size_t len)
{
	mcppool_result *r = result_new(c, payload, len);
	struct wire_msg m;
	struct pending p, *e;
	uint64_t bad_id = 0;
	char why[200];
	mcppool_error note;

	if (!r) {
		conn_break(c, MCPPOOL_INTERNAL, "out of memory");
		return;
	}
	if (wire_decode(r->buf, len, r->zone, &m, &bad_id, why, sizeof why) < 0) {
		result_destroy(r);
		conn_break(c, MCPPOOL_PROTOCOL, "undecodable frame from the daemon: %s", why);
		return;
	}
	if (m.type == WIRE_EVENT) {
		deliver_event(c, &m);
		result_done(c, r);
		return;
	}
	if (m.type != WIRE_REPLY || m.id == 0 || !(e = ptable_find(&c->pending, m.id))) {
		if (m.type == WIRE_REPLY && m.id == 0 && m.error)
			reply_error(&m, &note);
		else
			set_err(&note, MCPPOOL_PROTOCOL, "unexpected message from the daemon "
				"(type %d, id %llu)", (int)m.type, (unsigned long long)m.id);
		result_destroy(r);
		conn_note(c, &note);
		return;
	}
	p = *e;
	ptable_remove(&c->pending, e);
	deliver(c, &p, r, &m);
}

/* Dispatches every whole frame buffered. Returns 0, or -1 once the connection is broken. */
static int drain_frames(mcppool_conn *c)
{
	const char *payload;
	size_t len;

	while (!c->broken) {
		switch (frame_reader_next(&c->in, &payload, &len)) {
		case FRAME_NEED_MORE:
			return 0;
		case FRAME_OK:
			handle_frame(c, payload, len);
			break;
		case FRAME_TOO_LARGE:
			/* Its request cannot be told, so only a break keeps "one reply each". */
			return conn_break(c, MCPPOOL_PROTOCOL, "the daemon sent a frame of %zu "
					  "bytes, above the limit of %zu", len, c->in.max_frame);
		case FRAME_EMPTY:
			return conn_break(c, MCPPOOL_PROTOCOL, "the daemon sent an empty frame");
		}
	}
	return -1;
}

static bool mid_frame(const struct frame_reader *r)
{
	return r->pos < r->len || r->skip > 0;
}

/*
 * Reads what the socket has, up to READS_PER_PROCESS times; the first recv()
 * takes first_flags (0 blocks, up to the socket's SO_RCVTIMEO), the others never
 * block. Returns 0 or -1 (broken).
 */
static int read_input(mcppool_conn *c, int first_flags)
{
	for (int i = 0; i < READS_PER_PROCESS && !c->broken; i++) {
		size_t avail;
		char *space = frame_reader_space(&c->in, &avail);
		ssize_t n;

		if (!space)
			return conn_break(c, MCPPOOL_INTERNAL, "out of memory");
		n = recv(c->fd, space, avail, i == 0 ? first_flags : MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return conn_break(c, MCPPOOL_NOT_CONNECTED, "reading from the daemon: %s",
					  strerror(errno));
		if (n == 0 && mid_frame(&c->in))
			return conn_break(c, MCPPOOL_PROTOCOL,
					  "the daemon closed the connection in the middle of a frame");
		if (n == 0)
			return conn_break(c, MCPPOOL_NOT_CONNECTED,
					  "the daemon closed the connection");
		frame_reader_commit(&c->in, (size_t)n);
		if (drain_frames(c) < 0)
			return -1;
		if ((size_t)n < avail)
			return 0;
	}
	return c->broken ? -1 : 0;
}

/* One round of I/O: flush, then read when revents says so, then flush what callbacks queued. */
static int process_io(mcppool_conn *c, int revents)
{
	if (c->broken)
		return -1;
	if (out_flush(c) < 0)
		return -1;
	if ((revents & MCPPOOL_READ) && read_input(c, MSG_DONTWAIT) < 0)
		return -1;
	return out_flush(c);
}

MCPPOOL_API int mcppool_process(mcppool_conn *conn, int revents)
{
	int rc = process_io(conn, revents);

	if (release_if_closed(conn))
		return -1;
	return rc;
}

/* ---- the handshake ------------------------------------------------------- */

static void hello_done(mcppool_conn *c, uint64_t id, const mcppool_result *res,
		       const mcppool_error *err, void *arg)
{
	const msgpack_object *mf, *v;

	(void)id;
	(void)arg;
	if (err) {
		if (!c->broken)
			conn_break(c, err->code, "the daemon refused the hello: %s", err->message);
		return;
	}
	v = wire_map_get(res->value, "version");
	c->version = v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= 2
		     ? (int)v->via.u64 : 1;
	mf = wire_map_get(res->value, "maxFrame");
	if (mf && mf->type == MSGPACK_OBJECT_POSITIVE_INTEGER && mf->via.u64 >= FRAME_MIN_MAX &&
	    mf->via.u64 <= UINT32_MAX) {
		c->max_frame = (size_t)mf->via.u64;
		c->in.max_frame = (size_t)mf->via.u64;
	}
}

static void pack_hello(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	wire_pack_str(pk, "version");
	msgpack_pack_unsigned_int(pk, 2); /* v2: events; the daemon may settle on 1 */
	pack_kv_str(pk, "client", CLIENT_NAME);
}

static int queue_hello(mcppool_conn *c, mcppool_error *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct op_params p = { .op = "hello", .raw = true };
	int rc = -1;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_hello(&pk);
	p.packed = sb.data;
	p.packed_len = sb.size;
	if (!sb.data)
		set_err(err, MCPPOOL_INTERNAL, "out of memory");
	else if (submit_op(c, &p, PENDING_HELLO, hello_done, NULL, err))
		rc = 0;
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* ---- connecting ---------------------------------------------------------- */

static int open_socket(const char *path, mcppool_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof sa.sun_path) {
		set_err(err, MCPPOOL_NOT_CONNECTED, "socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		set_err(err, MCPPOOL_NOT_CONNECTED, "socket: %s", strerror(errno));
		return -1;
	}
	/*
	 * An interrupted AF_UNIX connect leaves the socket unconnected, so retrying is
	 * safe. The socket stays blocking: every other send and recv says MSG_DONTWAIT,
	 * and a blocking call waits in recv() itself (wait_for), not in poll() first.
	 */
	do
		rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		int e = errno;
		/* Say where we looked and how to look elsewhere: a daemon run as a service
		 * (/run/mcppool/mcppool.sock) is not at a user's default path. */
		set_err(err, MCPPOOL_NOT_CONNECTED, "cannot connect to %s: %s (is mcppoold running "
			"there? set MCPPOOL_SOCKET or -s to its socket)", path, strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

MCPPOOL_API mcppool_conn *mcppool_connect(const char *socket_path, mcppool_error *err)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	mcppool_conn *c;
	int fd;

	if (sockpath_resolve(socket_path, path, sizeof path) < 0) {
		set_err(err, MCPPOOL_NOT_CONNECTED, "the socket path does not fit in %zu bytes",
			sizeof path - 1);
		return NULL;
	}
	fd = open_socket(path, err);
	if (fd < 0)
		return NULL;
	c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		set_err(err, MCPPOOL_INTERNAL, "out of memory");
		return NULL;
	}
	c->fd = fd;
	c->next_id = 1;
	c->max_frame = FRAME_DEFAULT_MAX;
	frame_reader_init(&c->in, FRAME_DEFAULT_MAX);
	msgpack_sbuffer_init(&c->out);
	msgpack_sbuffer_init(&c->args);
	if (queue_hello(c, err) < 0) {
		conn_free(c);
		return NULL;
	}
	return c;
}

/* ---- blocking calls ------------------------------------------------------ */

struct waiter {
	bool done;
	bool touched; /* an event arrived: the client-side timeout starts again */
	mcppool_result *res;
	mcppool_error err;
	mcppool_event_callback on_event; /* the caller's, for the _events functions */
	void *event_arg;
};

static void waiter_event(mcppool_conn *c, uint64_t id, const char *event,
			 const msgpack_object *params, void *arg)
{
	struct waiter *w = arg;

	w->touched = true;
	w->on_event(c, id, event, params, w->event_arg);
}

static void waiter_done(mcppool_conn *c, uint64_t id, const mcppool_result *res,
			const mcppool_error *err, void *arg)
{
	struct waiter *w = arg;

	(void)id;
	w->done = true;
	if (res) {
		w->res = mcppool_result_keep(res);
		return;
	}
	w->err = *err;
	if (err->data && c->cur_err) {
		/* The error's data must outlive the callback: it lives until the next blocking call. */
		result_destroy(c->err_hold);
		c->err_hold = c->cur_err;
		c->cur_err = NULL;
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Gives up on request id after the client-side timeout; a late reply will be dropped. */
static void abandon(mcppool_conn *c, uint64_t id, struct waiter *w)
{
	struct pending *e = ptable_find(&c->pending, id);

	if (e) {
		e->kind = PENDING_DISCARD;
		e->cb = NULL;
		e->on_event = NULL;
		c->user_inflight--;
		if (queue_cancel(c, id) == 0)
			out_flush(c);
	}
	set_err(&w->err, MCPPOOL_TIMEOUT, "no reply from the daemon within %u ms", c->timeout_ms);
	w->done = true;
}

static int poll_events(int events)
{
	return (events & MCPPOOL_READ ? POLLIN : 0) | (events & MCPPOOL_WRITE ? POLLOUT : 0);
}

static int poll_revents(short revents)
{
	int ev = 0;

	if (revents & (POLLIN | POLLHUP | POLLERR))
		ev |= MCPPOOL_READ;
	if (revents & (POLLOUT | POLLERR))
		ev |= MCPPOOL_WRITE;
	return ev;
}

/* Gives the socket c's timeout as SO_RCVTIMEO, once per change. Returns false when it cannot. */
static bool rcvtimeo_sync(mcppool_conn *c)
{
	struct timeval tv = { .tv_sec = c->timeout_ms / 1000, .tv_usec = (c->timeout_ms % 1000) * 1000 };

	if (c->rcvtimeo_ms == c->timeout_ms)
		return true;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
		return false;
	c->rcvtimeo_ms = c->timeout_ms;
	return true;
}

/*
 * Runs the connection's I/O until w is done: by its reply, a breakage, or the
 * timeout. While nothing waits to be written and the whole timeout is left (just
 * after the request was sent, or an event restarted it), it blocks in recv()
 * itself, which SO_RCVTIMEO ends at the deadline: a warm call costs send and
 * recv, not send, poll and recv (each a system call of a few µs on a VM). Other
 * waits poll() for what is left of the timeout.
 */
static void wait_for(mcppool_conn *c, uint64_t id, struct waiter *w)
{
	int64_t deadline = c->timeout_ms ? now_ms() + c->timeout_ms : -1;
	bool whole_timeout_left = true;

	process_io(c, 0);
	while (!w->done) {
		struct pollfd pfd = { .fd = c->fd, .events = (short)poll_events(mcppool_events(c)) };
		int64_t left = deadline < 0 ? -1 : deadline - now_ms();
		int n;

		/* A broken connection has completed every request; were w not among them, fail, not hang. */
		if (c->broken) {
			set_err(&w->err, MCPPOOL_INTERNAL, "request lost by a broken connection");
			break;
		}
		if (w->touched && deadline >= 0) {
			w->touched = false;
			deadline = now_ms() + c->timeout_ms;
			whole_timeout_left = true;
			continue;
		}
		if (deadline >= 0 && left <= 0) {
			abandon(c, id, w);
			break;
		}
		if ((whole_timeout_left || deadline < 0) && mcppool_events(c) == MCPPOOL_READ &&
		    rcvtimeo_sync(c)) {
			whole_timeout_left = false;
			read_input(c, 0);
			continue;
		}
		whole_timeout_left = false;
		n = poll(&pfd, 1, left < 0 ? -1 : (int)(left > INT32_MAX ? INT32_MAX : left));
		if (n < 0 && errno != EINTR)
			conn_break(c, MCPPOOL_INTERNAL, "poll: %s", strerror(errno));
		else if (n > 0)
			process_io(c, poll_revents(pfd.revents));
	}
}

/* Submits p, waits for its reply and hands it out as the blocking functions document. */
static int run(mcppool_conn *c, const struct op_params *p, mcppool_result **result,
	       mcppool_error *err)
{
	struct waiter w = { .on_event = p->on_event, .event_arg = p->event_arg };
	struct op_params with_events;
	uint64_t id;
	bool closed;

	if (result)
		*result = NULL;
	result_destroy(c->err_hold);
	c->err_hold = NULL;
	if (p->on_event) {
		with_events = *p;
		with_events.on_event = waiter_event;
		with_events.event_arg = &w;
		p = &with_events;
	}
	id = submit_op(c, p, PENDING_USER, waiter_done, &w, &w.err);
	if (id)
		wait_for(c, id, &w);
	closed = release_if_closed(c);
	if (closed)
		w.err.data = NULL;
	if (w.res) {
		if (result)
			*result = w.res;
		else if (closed)
			result_destroy(w.res);
		else
			result_done(c, w.res);
		return 0;
	}
	if (err)
		*err = w.err;
	return -1;
}

/* ---- the operations ------------------------------------------------------ */

static struct op_params mcp_op(const char *op, const char *user, const char *mcp,
			       const mcppool_auth *auth, unsigned int timeout_ms)
{
	return (struct op_params){ .op = op, .user = user, .mcp = mcp, .auth = auth,
				   .timeout_ms = timeout_ms };
}

static struct op_params call_op(const char *user, const char *mcp, const char *tool,
				const char *json, const char *packed, size_t packed_len,
				const mcppool_auth *auth, unsigned int timeout_ms)
{
	struct op_params p = mcp_op("call", user, mcp, auth, timeout_ms);

	p.name_key = "tool";
	p.name = tool;
	p.name_required = true;
	p.payload_key = "arguments";
	p.json = json;
	p.packed = packed;
	p.packed_len = packed_len;
	return p;
}

static struct op_params request_op(const char *user, const char *mcp, const char *method,
				   const char *json, const char *packed, size_t packed_len,
				   const mcppool_auth *auth, unsigned int timeout_ms)
{
	struct op_params p = call_op(user, mcp, method, json, packed, packed_len, auth,
				     timeout_ms);

	p.op = "request";
	p.name_key = "method";
	p.payload_key = "params";
	return p;
}

static struct op_params tools_op(const char *user, const char *mcp, const char *cursor,
				 const mcppool_auth *auth, unsigned int timeout_ms)
{
	struct op_params p = mcp_op("tools", user, mcp, auth, timeout_ms);

	p.name_key = "cursor";
	p.name = cursor;
	return p;
}

static struct op_params evict_op(const char *user, const char *mcp)
{
	struct op_params p = mcp_op("evict", user, mcp, NULL, 0);

	p.mcp_optional = true;
	return p;
}

static struct op_params raw_op(const char *op, const char *params, size_t params_len)
{
	return (struct op_params){ .op = op, .raw = true, .packed = params,
				   .packed_len = params_len };
}

MCPPOOL_API int mcppool_call(mcppool_conn *conn, const char *user, const char *mcp,
			     const char *tool, const char *args_json, const mcppool_auth *auth,
			     unsigned int timeout_ms, mcppool_result **result, mcppool_error *err)
{
	struct op_params p = call_op(user, mcp, tool, args_json, NULL, 0, auth, timeout_ms);

	return run(conn, &p, result, err);
}

MCPPOOL_API int mcppool_call_msgpack(mcppool_conn *conn, const char *user, const char *mcp,
				     const char *tool, const char *args, size_t args_len,
				     const mcppool_auth *auth, unsigned int timeout_ms,
				     mcppool_result **result, mcppool_error *err)
{
	struct op_params p = call_op(user, mcp, tool, NULL, args, args_len, auth, timeout_ms);

	return run(conn, &p, result, err);
}

MCPPOOL_API int mcppool_request(mcppool_conn *conn, const char *user, const char *mcp,
				const char *method, const char *params_json,
				const mcppool_auth *auth, unsigned int timeout_ms,
				mcppool_result **result, mcppool_error *err)
{
	struct op_params p = request_op(user, mcp, method, params_json, NULL, 0, auth,
					timeout_ms);

	return run(conn, &p, result, err);
}

MCPPOOL_API int mcppool_request_msgpack(mcppool_conn *conn, const char *user, const char *mcp,
					const char *method, const char *params, size_t params_len,
					const mcppool_auth *auth, unsigned int timeout_ms,
					mcppool_result **result, mcppool_error *err)
{
	struct op_params p = request_op(user, mcp, method, NULL, params, params_len, auth,
					timeout_ms);

	return run(conn, &p, result, err);
}

MCPPOOL_API int mcppool_tools(mcppool_conn *conn, const char *user, const char *mcp,
			      const char *cursor, const mcppool_auth *auth,
			      unsigned int timeout_ms, mcppool_result **result,
			      mcppool_error *err)
{
	struct op_params p = tools_op(user, mcp, cursor, auth, timeout_ms);

	return run(conn, &p, result, err);
}

MCPPOOL_API int mcppool_warm(mcppool_conn *conn, const char *user, const char *mcp,
			     const mcppool_auth *auth, unsigned int timeout_ms,
			     mcppool_result **result, mcppool_error *err)
{
	struct op_params p = mcp_op("warm", user, mcp, auth, timeout_ms);

	return run(conn, &p, result, err);
}

MCPPOOL_API int mcppool_evict(mcppool_conn *conn, const char *user, const char *mcp,
			      mcppool_result **result, mcppool_error *err)
{
	struct op_params p = evict_op(user, mcp);

	return run(conn, &p, result, err);
}

MCPPOOL_API int mcppool_exec(mcppool_conn *conn, const char *op, const char *params,
			     size_t params_len, mcppool_result **result, mcppool_error *err)
{
	struct op_params p = raw_op(op, params, params_len);

	return run(conn, &p, result, err);
}

MCPPOOL_API int mcppool_pool_status(mcppool_conn *conn, mcppool_result **result,
				    mcppool_error *err)
{
	return mcppool_exec(conn, "pool_status", NULL, 0, result, err);
}

MCPPOOL_API int mcppool_cleanup(mcppool_conn *conn, mcppool_result **result,
				mcppool_error *err)
{
	return mcppool_exec(conn, "cleanup", NULL, 0, result, err);
}

MCPPOOL_API int mcppool_reload(mcppool_conn *conn, mcppool_result **result,
			       mcppool_error *err)
{
	return mcppool_exec(conn, "reload", NULL, 0, result, err);
}

MCPPOOL_API int mcppool_admin_token(mcppool_conn *conn, const char *token, mcppool_error *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	mcppool_result *res = NULL;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "token", 5);
	msgpack_pack_str(&pk, strlen(token));
	msgpack_pack_str_body(&pk, token, strlen(token));
	rc = mcppool_exec(conn, "admin", sb.data, sb.size, &res, err);
	explicit_bzero(sb.data, sb.size); /* the token */
	msgpack_sbuffer_destroy(&sb);
	mcppool_result_free(res);
	return rc;
}

MCPPOOL_API int mcppool_servers(mcppool_conn *conn, mcppool_result **result,
				mcppool_error *err)
{
	return mcppool_exec(conn, "servers", NULL, 0, result, err);
}

MCPPOOL_API int mcppool_metrics(mcppool_conn *conn, mcppool_result **result,
				mcppool_error *err)
{
	return mcppool_exec(conn, "metrics", NULL, 0, result, err);
}

MCPPOOL_API uint64_t mcppool_submit(mcppool_conn *conn, const char *op, const char *params,
				    size_t params_len, mcppool_callback cb, void *arg)
{
	struct op_params p = raw_op(op, params, params_len);

	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API uint64_t mcppool_submit_call(mcppool_conn *conn, const char *user,
					 const char *mcp, const char *tool,
					 const char *args_json, const mcppool_auth *auth,
					 unsigned int timeout_ms, mcppool_callback cb, void *arg)
{
	struct op_params p = call_op(user, mcp, tool, args_json, NULL, 0, auth, timeout_ms);

	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API uint64_t mcppool_submit_call_msgpack(mcppool_conn *conn, const char *user,
						 const char *mcp, const char *tool,
						 const char *args, size_t args_len,
						 const mcppool_auth *auth, unsigned int timeout_ms,
						 mcppool_callback cb, void *arg)
{
	struct op_params p = call_op(user, mcp, tool, NULL, args, args_len, auth, timeout_ms);

	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API uint64_t mcppool_submit_request(mcppool_conn *conn, const char *user,
					    const char *mcp, const char *method,
					    const char *params_json, const mcppool_auth *auth,
					    unsigned int timeout_ms, mcppool_callback cb,
					    void *arg)
{
	struct op_params p = request_op(user, mcp, method, params_json, NULL, 0, auth,
					timeout_ms);

	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API uint64_t mcppool_submit_request_msgpack(mcppool_conn *conn, const char *user,
						    const char *mcp, const char *method,
						    const char *params, size_t params_len,
						    const mcppool_auth *auth,
						    unsigned int timeout_ms, mcppool_callback cb,
						    void *arg)
{
	struct op_params p = request_op(user, mcp, method, NULL, params, params_len, auth,
					timeout_ms);

	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API uint64_t mcppool_submit_tools(mcppool_conn *conn, const char *user,
					  const char *mcp, const char *cursor,
					  const mcppool_auth *auth, unsigned int timeout_ms,
					  mcppool_callback cb, void *arg)
{
	struct op_params p = tools_op(user, mcp, cursor, auth, timeout_ms);

	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API uint64_t mcppool_submit_warm(mcppool_conn *conn, const char *user,
					 const char *mcp, const mcppool_auth *auth,
					 unsigned int timeout_ms, mcppool_callback cb, void *arg)
{
	struct op_params p = mcp_op("warm", user, mcp, auth, timeout_ms);

	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API uint64_t mcppool_submit_evict(mcppool_conn *conn, const char *user,
					  const char *mcp, mcppool_callback cb, void *arg)
{
	struct op_params p = evict_op(user, mcp);

	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API uint64_t mcppool_submit_call_events(mcppool_conn *conn, const char *user,
						const char *mcp, const char *tool,
						const char *args_json, const mcppool_auth *auth,
						unsigned int timeout_ms,
						mcppool_event_callback on_event,
						mcppool_callback cb, void *arg)
{
	struct op_params p = call_op(user, mcp, tool, args_json, NULL, 0, auth, timeout_ms);

	p.on_event = on_event;
	p.event_arg = arg;
	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API uint64_t mcppool_submit_request_events(mcppool_conn *conn, const char *user,
						   const char *mcp, const char *method,
						   const char *params_json,
						   const mcppool_auth *auth,
						   unsigned int timeout_ms,
						   mcppool_event_callback on_event,
						   mcppool_callback cb, void *arg)
{
	struct op_params p = request_op(user, mcp, method, params_json, NULL, 0, auth,
					timeout_ms);

	p.on_event = on_event;
	p.event_arg = arg;
	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API uint64_t mcppool_submit_listen(mcppool_conn *conn, const char *user,
					   const char *mcp, const char *const *uris,
					   size_t n_uris, const mcppool_auth *auth,
					   mcppool_event_callback on_event, mcppool_callback cb,
					   void *arg)
{
	struct op_params p = mcp_op("listen", user, mcp, auth, 0);

	if (n_uris && !uris) {
		set_err(&conn->conn_err, MCPPOOL_BAD_REQUEST, "%zu uris but no array", n_uris);
		return 0;
	}
	for (size_t i = 0; i < n_uris; i++) {
		if (!uris[i]) {
			set_err(&conn->conn_err, MCPPOOL_BAD_REQUEST, "uri %zu is NULL", i);
			return 0;
		}
	}
	if (!on_event) {
		set_err(&conn->conn_err, MCPPOOL_BAD_REQUEST, "listen needs an event callback");
		return 0;
	}
	p.uris = uris;
	p.n_uris = n_uris;
	p.on_event = on_event;
	p.event_arg = arg;
	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API int mcppool_call_events(mcppool_conn *conn, const char *user, const char *mcp,
				    const char *tool, const char *args_json,
				    const mcppool_auth *auth, unsigned int timeout_ms,
				    mcppool_event_callback on_event, void *event_arg,
				    mcppool_result **result, mcppool_error *err)
{
	struct op_params p = call_op(user, mcp, tool, args_json, NULL, 0, auth, timeout_ms);

	p.on_event = on_event;
	p.event_arg = event_arg;
	return run(conn, &p, result, err);
}

MCPPOOL_API int mcppool_request_events(mcppool_conn *conn, const char *user, const char *mcp,
				       const char *method, const char *params_json,
				       const mcppool_auth *auth, unsigned int timeout_ms,
				       mcppool_event_callback on_event, void *event_arg,
				       mcppool_result **result, mcppool_error *err)
{
	struct op_params p = request_op(user, mcp, method, params_json, NULL, 0, auth,
					timeout_ms);

	p.on_event = on_event;
	p.event_arg = event_arg;
	return run(conn, &p, result, err);
}

/* A call's op params with what the options add to it. */
static struct op_params call_with_op(const char *user, const char *mcp, const char *tool,
				     const char *args_json, const mcppool_call_opts *o)
{
	static const mcppool_call_opts none;
	struct op_params p;

	if (!o)
		o = &none;
	p = call_op(user, mcp, tool, args_json, NULL, 0, o->auth, o->timeout_ms);
	p.input_json = o->input_responses_json;
	p.input_packed = o->input_responses;
	p.input_len = o->input_responses ? o->input_responses_len : 0;
	p.request_state = o->request_state;
	p.on_event = o->on_event;
	p.log_level = o->log_level;
	return p;
}

MCPPOOL_API int mcppool_call_with(mcppool_conn *conn, const char *user, const char *mcp,
				  const char *tool, const char *args_json,
				  const mcppool_call_opts *opts, mcppool_result **result,
				  mcppool_error *err)
{
	struct op_params p = call_with_op(user, mcp, tool, args_json, opts);

	p.event_arg = opts ? opts->event_arg : NULL;
	return run(conn, &p, result, err);
}

MCPPOOL_API uint64_t mcppool_submit_call_with(mcppool_conn *conn, const char *user,
					      const char *mcp, const char *tool,
					      const char *args_json,
					      const mcppool_call_opts *opts, mcppool_callback cb,
					      void *arg)
{
	struct op_params p = call_with_op(user, mcp, tool, args_json, opts);

	p.event_arg = arg;
	return submit_public(conn, &p, cb, arg);
}

MCPPOOL_API int mcppool_input_required(const msgpack_object *result)
{
	const msgpack_object *t = mcppool_map_get(result, "resultType");

	return t && t->type == MSGPACK_OBJECT_STR && t->via.str.size == 14 &&
	       memcmp(t->via.str.ptr, "input_required", 14) == 0;
}

MCPPOOL_API int mcppool_protocol_version(const mcppool_conn *conn)
{
	return conn->version;
}

/*
 * A request's op params with what the options add to it; -1 (err set) for the
 * fields a request does not take: its inputResponses and requestState go
 * inside params_json itself.
 */
static int request_with_op(const char *user, const char *mcp, const char *method,
			   const char *params_json, const mcppool_call_opts *o,
			   struct op_params *p, mcppool_error *err)
{
	static const mcppool_call_opts none;

	if (!o)
		o = &none;
	*p = request_op(user, mcp, method, params_json, NULL, 0, o->auth, o->timeout_ms);
	p->on_event = o->on_event;
	p->log_level = o->log_level;
	if (o->input_responses_json || o->input_responses || o->request_state) {
		set_err(err, MCPPOOL_BAD_REQUEST, "a request's inputResponses and requestState go "
			"inside params_json, not in its options");
		return -1;
	}
	return 0;
}

MCPPOOL_API int mcppool_request_with(mcppool_conn *conn, const char *user, const char *mcp,
				     const char *method, const char *params_json,
				     const mcppool_call_opts *opts, mcppool_result **result,
				     mcppool_error *err)
{
	struct op_params p;

	if (result)
		*result = NULL;
	if (request_with_op(user, mcp, method, params_json, opts, &p, err) < 0)
		return -1;
	p.event_arg = opts ? opts->event_arg : NULL;
	return run(conn, &p, result, err);
}

MCPPOOL_API uint64_t mcppool_submit_request_with(mcppool_conn *conn, const char *user,
						 const char *mcp, const char *method,
						 const char *params_json,
						 const mcppool_call_opts *opts, mcppool_callback cb,
						 void *arg)
{
	struct op_params p;

	if (request_with_op(user, mcp, method, params_json, opts, &p, &conn->conn_err) < 0)
		return 0;
	p.event_arg = arg;
	return submit_public(conn, &p, cb, arg);
}
