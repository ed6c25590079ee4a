/* An MCP client session over one transport: lifecycle, JSON-RPC ids, multiplexing. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "jsontext.h"
#include "log.h"
#include "mcpconn.h"
#include "wire.h"

#define MCP_CLIENT_NAME "mcppool"
#define MCP_CLIENT_VERSION "0.1.0"

static const char *const accepted_versions[] = {
	"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
};

/*
 * A request in flight. It is in the id table from submission until its reply,
 * cancel or the close of the connection. While the connection starts, it is
 * also on the send queue with its line; a cancelled queued request leaves the
 * table at once but stays on the queue (fn == NULL) until the queue is flushed
 * or freed.
 */
struct pending {
	uint64_t id;
	mcpconn_reply_fn fn;
	void *arg;
	char *line; /* queued line, until sent */
	size_t line_len;
	struct pending *hnext; /* id table chain */
	struct pending *qnext; /* send queue */
};

struct mcpconn {
	struct ev_loop *loop;
	enum mcpconn_state state;
	char *tag;
	struct transport t;
	bool open; /* t is open: close it once */
	const struct mcpconn_callbacks *cb;
	void *ctx;
	ev_timer start_timer;
	uint64_t start_timeout_ms;
	ev_timer death_timer; /* reports a failure found where a callback may not run */
	int death_code;
	enum close_reason death_why;
	char death_reason[128];
	uint64_t next_id;
	char version[32];
	json_t *server;         /* what initialize answered: protocolVersion, capabilities, serverInfo, instructions */

	struct pending **table; /* ids are sequential: id & mask spreads them evenly */
	size_t table_size;      /* power of two */
	unsigned count;         /* requests in the table */
	struct pending *qhead, *qtail;

	int depth;        /* callbacks of ours on the stack: free is deferred past them */
	bool free_later;
	unsigned bad_lines;
};

bool mcp_version_supported(const char *v)
{
	for (size_t i = 0; i < sizeof(accepted_versions) / sizeof(accepted_versions[0]); i++)
		if (strcmp(v, accepted_versions[i]) == 0)
			return true;
	return false;
}

/*
 * The one place the state changes. STARTING -> READY -> DEAD -> CLOSED, where
 * READY and DEAD may be skipped; nothing goes back.
 */
static void set_state(struct mcpconn *c, enum mcpconn_state s)
{
	if (s <= c->state) {
		log_error("[%s] bad connection state change %d -> %d", c->tag, c->state, s);
		abort();
	}
	c->state = s;
}

/* ---- the id table ---------------------------------------------------------- */

static int table_grow(struct mcpconn *c)
{
	size_t nsize = c->table_size ? c->table_size * 2 : 16;
	struct pending **nt = calloc(nsize, sizeof(*nt));
	if (!nt)
		return -1;
	for (size_t i = 0; i < c->table_size; i++) {
		struct pending *p = c->table[i], *next;
		for (; p; p = next) {
			next = p->hnext;
			p->hnext = nt[p->id & (nsize - 1)];
			nt[p->id & (nsize - 1)] = p;
		}
	}
	free(c->table);
	c->table = nt;
	c->table_size = nsize;
	return 0;
}

static int table_add(struct mcpconn *c, struct pending *p)
{
	if (c->count >= c->table_size && table_grow(c) < 0)
		return -1;
	struct pending **slot = &c->table[p->id & (c->table_size - 1)];
	p->hnext = *slot;
	*slot = p;
	c->count++;
	return 0;
}

/* Removes and returns the request with id, or NULL. */
static struct pending *table_take(struct mcpconn *c, uint64_t id)
{
	if (!c->table_size)
		return NULL;
	struct pending **pp = &c->table[id & (c->table_size - 1)];
	for (; *pp; pp = &(*pp)->hnext) {
		struct pending *p = *pp;
		if (p->id == id) {
			*pp = p->hnext;
			c->count--;
			return p;
		}
	}
	return NULL;
}

/* Removes and returns any request, or NULL when the table is empty. */
static struct pending *table_take_any(struct mcpconn *c)
{
	for (size_t i = 0; c->count && i < c->table_size; i++)
		if (c->table[i])
			return table_take(c, c->table[i]->id);
	return NULL;
}

/* ---- sending --------------------------------------------------------------- */

/* Serialises msg as one line; NULL on allocation failure. */
static char *line_of(json_t *msg, size_t *len)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

static void set_dead(struct mcpconn *c, int code, enum close_reason why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Reports a failure from the next loop iteration: the caller may be the owner
 * itself (mcpconn_request), which must not be called back from inside.
 */
static void defer_death(struct mcpconn *c, int code, enum close_reason why, const char *reason)
{
	if (ev_is_active(&c->death_timer))
		return;
	c->death_code = code;
	c->death_why = why;
	snprintf(c->death_reason, sizeof(c->death_reason), "%s", reason);
	ev_timer_start(c->loop, &c->death_timer);
}

static void send_line(struct mcpconn *c, const char *line, size_t len)
{
	if (c->state == MCPCONN_DEAD || c->state == MCPCONN_CLOSED)
		return;
	bool starting = c->state == MCPCONN_STARTING;

	if (c->t.ops->send(c->t.impl, line, len) == 0)
		return;
	if (errno == ENOBUFS)
		defer_death(c, starting ? ERR_UPSTREAM_START_FAILED : ERR_UPSTREAM_CLOSED,
			    CLOSE_STDIN_FULL, "the server does not read its stdin (more than "
			    "MCPPOOL_MAX_STDIN_QUEUE bytes wait for it)");
	else
		defer_death(c, starting ? ERR_UPSTREAM_START_FAILED : ERR_UPSTREAM_CLOSED,
			    starting ? CLOSE_START_FAILED : CLOSE_LOST,
			    "the transport refused the message (stdin closed or HTTP failure)");
}

/* Sends a message built by the caller (stolen). */
static void send_json(struct mcpconn *c, json_t *msg)
{
	size_t len;
	char *line = msg ? line_of(msg, &len) : NULL;
	json_decref(msg);
	if (!line) {
		defer_death(c, ERR_INTERNAL, c->state == MCPCONN_STARTING ? CLOSE_START_FAILED : CLOSE_LOST,
			    "out of memory serialising a message");
		return;
	}
	send_line(c, line, len);
	free(line);
}

static void flush_queue(struct mcpconn *c)
{
	struct pending *p;
	while ((p = c->qhead)) {
		c->qhead = p->qnext;
		if (!c->qhead)
			c->qtail = NULL;
		if (p->fn)
			send_line(c, p->line, p->line_len);
		free(p->line);
		p->line = NULL;
		if (!p->fn)
			free(p); /* cancelled while queued: only the queue held it */
	}
}

static void free_queue(struct mcpconn *c)
{
	struct pending *p;
	while ((p = c->qhead)) {
		c->qhead = p->qnext;
		free(p->line);
		p->line = NULL;
		if (!p->fn)
			free(p);
	}
	c->qtail = NULL;
}

/* ---- delivering ------------------------------------------------------------ */

static void deliver(struct pending *p, const struct mcp_reply *r)
{
	mcpconn_reply_fn fn = p->fn;
	void *arg = p->arg;
	p->fn = NULL;
	if (!p->line)
		free(p); /* a queued one is freed by the queue */
	if (fn)
		fn(arg, r);
}

static void deliver_error(struct pending *p, int code, const char *message)
{
	struct mcp_reply r = { .code = code, .message = message };
	deliver(p, &r);
}

static void enter(struct mcpconn *c)
{
	c->depth++;
}

static void mcpconn_free(struct mcpconn *c)
{
	struct pending *p;
	while ((p = table_take_any(c)))
		if (!p->line)
			free(p);
	free_queue(c);
	free(c->table);
	free(c->tag);
	json_decref(c->server);
	free(c);
}

static void leave(struct mcpconn *c)
{
	if (--c->depth == 0 && c->free_later)
		mcpconn_free(c);
}

static void set_dead(struct mcpconn *c, int code, enum close_reason why, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	if (c->state == MCPCONN_DEAD || c->state == MCPCONN_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	set_state(c, MCPCONN_DEAD);
	ev_timer_stop(c->loop, &c->start_timer);
	ev_timer_stop(c->loop, &c->death_timer);
	log_warn("[%s] connection lost: %s", c->tag, reason);
	enter(c);
	c->cb->on_dead(c->ctx, c, code, why, reason);
	leave(c);
}

/* ---- the initialize exchange ----------------------------------------------- */

/*
 * What an app may learn of the server (warm's "server"): the members of the
 * initialize result that describe it, nothing else the server chose to add.
 */
static json_t *server_of(json_t *result)
{
	static const char *keep[] = { "protocolVersion", "capabilities", "serverInfo", "instructions" };
	json_t *out = json_object();

	for (size_t i = 0; out && i < sizeof(keep) / sizeof(keep[0]); i++) {
		json_t *v = json_object_get(result, keep[i]);
		if (v)
			json_object_set(out, keep[i], v);
	}
	return out;
}

static void on_initialize_reply(void *arg, const struct mcp_reply *r)
{
	struct mcpconn *c = arg;
	const char *v;

	if (c->state != MCPCONN_STARTING)
		return; /* dying: set_dead() already reported why */
	if (r->code == ERR_UPSTREAM_ERROR) {
		const char *msg = json_string_value(json_object_get(r->rpc_error, "message"));
		set_dead(c, ERR_UPSTREAM_START_FAILED, CLOSE_START_FAILED, "initialize failed: %s",
			 msg ? msg : "error without message");
		return;
	}
	if (r->code != ERR_OK) {
		set_dead(c, ERR_UPSTREAM_START_FAILED, CLOSE_START_FAILED, "initialize failed: %s", r->message);
		return;
	}
	json_t *result = json_loadb(r->result, r->result_len, 0, NULL);
	v = json_string_value(json_object_get(result, "protocolVersion"));
	if (!v || !mcp_version_supported(v)) {
		set_dead(c, ERR_UPSTREAM_START_FAILED, CLOSE_START_FAILED,
			 "server answered protocol version \"%.40s\"; mcppool accepts "
			 "2025-11-25, 2025-06-18, 2025-03-26 and 2024-11-05", v ? v : "(none)");
		json_decref(result);
		return;
	}
	snprintf(c->version, sizeof(c->version), "%s", v);
	c->server = server_of(result);
	json_decref(result);
	c->t.ops->negotiated(c->t.impl, c->version);
	ev_timer_stop(c->loop, &c->start_timer);
	set_state(c, MCPCONN_READY);
	send_json(c, json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method",
			       "notifications/initialized"));
	flush_queue(c);
	if (c->state == MCPCONN_READY) {
		log_info("[%s] ready (%s, pid %ld, protocol %s)", c->tag, c->t.ops->name,
			 c->t.ops->pid(c->t.impl), c->version);
		c->cb->on_ready(c->ctx, c);
	}
}

static void on_start_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mcpconn *c = w->data;
	(void)loop;
	(void)revents;
	enter(c);
	set_dead(c, ERR_UPSTREAM_START_FAILED, CLOSE_START_FAILED,
		 "server did not answer initialize within %" PRIu64 " ms", c->start_timeout_ms);
	leave(c);
}

static void on_death_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mcpconn *c = w->data;
	(void)loop;
	(void)revents;
	enter(c);
	set_dead(c, c->death_code, c->death_why, "%s", c->death_reason);
	leave(c);
}

static int send_initialize(struct mcpconn *c)
{
	json_t *params = json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion",
				   MCP_PROTOCOL_VERSION, "capabilities", "clientInfo", "name",
				   MCP_CLIENT_NAME, "version", MCP_CLIENT_VERSION);
	struct pending *p = calloc(1, sizeof(*p));
	json_t *msg;

	if (!params || !p) {
		json_decref(params);
		free(p);
		return -1;
	}
	p->id = ++c->next_id;
	p->fn = on_initialize_reply;
	p->arg = c;
	msg = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)p->id,
			"method", "initialize", "params", params);
	if (!msg || table_add(c, p) < 0) {
		json_decref(msg);
		free(p);
		return -1;
	}
	send_json(c, msg);
	return 0;
}

/* ---- incoming messages ----------------------------------------------------- */

static void answer_server_request(struct mcpconn *c, json_t *msg, const char *method)
{
	json_t *id = json_incref(json_object_get(msg, "id"));
	json_t *reply;

	if (strcmp(method, "ping") == 0) {
		reply = json_pack("{s:s, s:o, s:{}}", "jsonrpc", "2.0", "id", id, "result");
	} else {
		char text[200];
		snprintf(text, sizeof(text), "Method not found: mcppool does not support %.100s",
			 method);
		log_info("[%s] refused server request %s", c->tag, method);
		reply = json_pack("{s:s, s:o, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error",
				  "code", -32601, "message", text);
	}
	send_json(c, reply);
}

/* The hot path: a response, found by scanning, its result relayed as text. */
static void handle_response(struct mcpconn *c, const char *line, const struct jsonrpc_msg *m)
{
	struct pending *p;

	if (!m->id_is_int || m->id_int <= 0 || !(p = table_take(c, (uint64_t)m->id_int))) {
		log_debug("[%s] ignoring a response to an unknown or cancelled id", c->tag);
		return;
	}
	if (m->error.end > m->error.start) {
		json_t *error = json_loadb(line + m->error.start, m->error.end - m->error.start, 0, NULL);
		if (json_is_object(error)) {
			const char *msg = json_string_value(json_object_get(error, "message"));
			struct mcp_reply r = { .code = ERR_UPSTREAM_ERROR, .rpc_error = error,
					       .message = msg ? msg : "the server answered with an error" };
			deliver(p, &r);
		} else {
			deliver_error(p, ERR_UPSTREAM_ERROR, "the server's error is not an object");
		}
		json_decref(error);
	} else if (m->result.end > m->result.start) {
		struct mcp_reply r = { .code = ERR_OK, .result = line + m->result.start,
				       .result_len = m->result.end - m->result.start,
				       .line = line, .scan = m };
		deliver(p, &r);
	} else {
		deliver_error(p, ERR_UPSTREAM_ERROR, "the server's response has neither result nor error");
	}
}

/* Requests and notifications from the server: rare, so parsed whole. */
static void handle_server_message(struct mcpconn *c, const char *line, size_t len)
{
	json_t *msg = json_loadb(line, len, 0, NULL);
	json_t *method = json_object_get(msg, "method");
	json_t *id = json_object_get(msg, "id");

	if (!json_is_string(method))
		log_debug("[%s] ignoring a message whose method is not a string", c->tag);
	else if (id && !json_is_null(id))
		answer_server_request(c, msg, json_string_value(method));
	else
		log_debug("[%s] notification %s", c->tag, json_string_value(method));
	json_decref(msg);
}

static void on_line(void *ctx, char *line, size_t len)
{
	struct mcpconn *c = ctx;
	struct jsonrpc_msg m;
	char err[160];

	if (jsonrpc_scan_keep(line, len, WIRE_MAX_DEPTH, &m, err, sizeof(err)) < 0) {
		/* The SDKs skip such lines too; a reply lost this way times out. */
		if (c->bad_lines++ < 10)
			log_warn("[%s] ignoring a line that is not a JSON-RPC message (%s)", c->tag, err);
		return;
	}
	enter(c);
	if (m.method.end > m.method.start)
		handle_server_message(c, line, len);
	else
		handle_response(c, line, &m);
	leave(c);
	jsonrpc_msg_release(&m);
}

static void on_closed(void *ctx, const char *reason)
{
	struct mcpconn *c = ctx;
	enter(c);
	bool starting = c->state == MCPCONN_STARTING;

	set_dead(c, starting ? ERR_UPSTREAM_START_FAILED : ERR_UPSTREAM_CLOSED,
		 starting ? CLOSE_START_FAILED : CLOSE_LOST, "server %s", reason);
	leave(c);
}

static const struct transport_callbacks transport_cb = { .on_message = on_line, .on_closed = on_closed };

/* ---- public ---------------------------------------------------------------- */

struct mcpconn *mcpconn_start(struct ev_loop *loop, const struct transport_spec *spec,
			      const struct mcpconn_options *opt,
			      const struct mcpconn_callbacks *cb, void *ctx,
			      char *err, size_t errlen)
{
	struct mcpconn *c = calloc(1, sizeof(*c));

	if (!c || !(c->tag = strdup(opt->transport.tag))) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->cb = cb;
	c->ctx = ctx;
	c->state = MCPCONN_STARTING;
	if (transport_open(&c->t, loop, spec, &opt->transport, &transport_cb, c, err, errlen) < 0) {
		mcpconn_free(c);
		return NULL;
	}
	c->open = true;
	c->start_timeout_ms = opt->start_timeout_ms;
	ev_timer_init(&c->start_timer, on_start_timeout, opt->start_timeout_ms / 1000.0, 0);
	c->start_timer.data = c;
	ev_timer_init(&c->death_timer, on_death_timer, 0, 0);
	c->death_timer.data = c;
	ev_timer_start(loop, &c->start_timer);
	if (send_initialize(c) < 0) {
		snprintf(err, errlen, "out of memory");
		c->t.ops->close(c->t.impl);
		ev_timer_stop(loop, &c->start_timer);
		mcpconn_free(c);
		return NULL;
	}
	log_info("[%s] started (%s, pid %ld)", c->tag, c->t.ops->name, c->t.ops->pid(c->t.impl));
	return c;
}

/* Request lines up to this size keep their buffer for the next one. */
#define LINE_KEEP_MAX (64 * 1024)

static char *memdup(const char *s, size_t n)
{
	char *p = malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

/* Appends v in decimal. */
static int append_u64(struct jbuf *b, uint64_t v)
{
	char digits[20];
	size_t n = sizeof(digits);

	do
		digits[--n] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	return jbuf_append(b, digits + n, sizeof(digits) - n);
}

/* Builds {"jsonrpc":"2.0","id":ID,"method":METHOD[,"params":PARAMS]}\n; -1 when out of memory. */
static int request_line(struct jbuf *b, uint64_t id, const char *method, const char *params,
			size_t params_len)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";

	if (jbuf_append(b, head, sizeof(head) - 1) < 0 || append_u64(b, id) < 0 ||
	    jbuf_append(b, ",\"method\":", 10) < 0 ||
	    jsontext_append_string(b, method, strlen(method)) < 0)
		return -1;
	if (params && (jbuf_append(b, ",\"params\":", 10) < 0 || jbuf_append(b, params, params_len) < 0))
		return -1;
	return jbuf_append(b, "}\n", 2);
}

uint64_t mcpconn_request(struct mcpconn *c, const char *method, const char *params,
			 size_t params_len, mcpconn_reply_fn fn, void *arg)
{
	/*
	 * Lines are built in one buffer kept across calls (the daemon has one thread):
	 * no allocation per request once it has grown to the usual size.
	 */
	static struct jbuf line;
	struct pending *p;

	if (c->state != MCPCONN_STARTING && c->state != MCPCONN_READY)
		return 0;
	if (!(p = calloc(1, sizeof(*p))))
		return 0;
	p->id = ++c->next_id;
	p->fn = fn;
	p->arg = arg;
	jbuf_reset(&line, LINE_KEEP_MAX);
	if (request_line(&line, p->id, method, params, params_len) < 0 ||
	    (c->state == MCPCONN_STARTING && !(p->line = memdup(line.data, line.len))) ||
	    table_add(c, p) < 0) {
		free(p->line);
		free(p);
		return 0;
	}
	if (c->state == MCPCONN_STARTING) {
		p->line_len = line.len; /* queued until the server is ready */
		if (c->qtail)
			c->qtail->qnext = p;
		else
			c->qhead = p;
		c->qtail = p;
		return p->id;
	}
	send_line(c, line.data, line.len);
	return p->id;
}

void mcpconn_cancel(struct mcpconn *c, uint64_t handle, const char *reason)
{
	struct pending *p = table_take(c, handle);

	if (!p)
		return;
	if (p->line) {
		p->fn = NULL; /* never sent: the queue frees it, nothing to tell the server */
		return;
	}
	free(p);
	if (c->state == MCPCONN_READY)
		send_json(c, json_pack("{s:s, s:s, s:{s:I, s:s}}", "jsonrpc", "2.0", "method",
				       "notifications/cancelled", "params", "requestId",
				       (json_int_t)handle, "reason", reason));
}

void mcpconn_close(struct mcpconn *c, int code, const char *reason)
{
	struct pending *p;

	if (!c || c->state == MCPCONN_CLOSED)
		return;
	set_state(c, MCPCONN_CLOSED);
	ev_timer_stop(c->loop, &c->start_timer);
	ev_timer_stop(c->loop, &c->death_timer);
	enter(c);
	while ((p = table_take_any(c)))
		deliver_error(p, code, reason);
	if (c->open)
		c->t.ops->close(c->t.impl);
	c->open = false;
	c->free_later = true;
	leave(c);
}

enum mcpconn_state mcpconn_state(const struct mcpconn *c)
{
	return c->state;
}

pid_t mcpconn_pid(const struct mcpconn *c)
{
	return c->open ? (pid_t)c->t.ops->pid(c->t.impl) : 0;
}

const char *mcpconn_transport_name(const struct mcpconn *c)
{
	return c->t.ops ? c->t.ops->name : "stdio";
}

unsigned mcpconn_inflight(const struct mcpconn *c)
{
	return c->count;
}

const json_t *mcpconn_server(const struct mcpconn *c)
{
	return c->server;
}

const char *mcpconn_protocol_version(const struct mcpconn *c)
{
	return c->version;
}
