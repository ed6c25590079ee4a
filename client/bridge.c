/* mcpctl bridge: a stdio MCP server in front of one pooled connection (see mcpctl(1)). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "bridge.h"

#define BRIDGE_EXIT_OK 0
#define BRIDGE_EXIT_HOST_GONE 1
#define BRIDGE_EXIT_UNREACHABLE 69

/* A host line longer than this is refused (parse error) and skipped up to its newline. */
#define BRIDGE_MAX_LINE (64u * 1024u * 1024u)
#define BRIDGE_READ_CHUNK 65536u

/* The revision whose hosts send server/discover and per-request _meta. */
#define BRIDGE_MODERN_VERSION "2026-07-28"
#define BRIDGE_META_VERSION "io.modelcontextprotocol/protocolVersion"
#define BRIDGE_META_SERVER_INFO "io.modelcontextprotocol/serverInfo"

/* Rounds of input requests the bridge answers through the host for one request. */
#define BRIDGE_MAX_INPUT_ROUNDS 16

/* Legacy (initialize-era) revisions, newest first. */
static const char *const bridge_legacy_versions[] = {
	"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
};
#define BRIDGE_NLEGACY (sizeof bridge_legacy_versions / sizeof bridge_legacy_versions[0])

/*
 * A host request forwarded to the pool, from its submit until its reply. Owned
 * by the bridge's list; freed once its reply (or the connection's end) came.
 */
struct bridge_req {
	struct bridge *b;
	uint64_t id;           /* the pool's id (the bridge's own id space) */
	json_t *host_id;       /* the host's JSON-RPC id */
	json_t *progress_token; /* the host's params._meta.progressToken, or NULL */
	bool modern;           /* it carried per-request _meta: the result needs resultType */
	bool cacheable;        /* modern, and its result is a CacheableResult (ttlMs, cacheScope) */
	bool cancelled;        /* the host cancelled it: its reply is not sent */
	/* An input_required result being answered through a legacy host (see bridge_ask_host). */
	char *method;          /* the request, kept for its retry */
	json_t *params;        /* its params (NULL: none) */
	json_t *asks;          /* {our request id to the host: input request key}, unanswered */
	json_t *answers;       /* inputResponses gathered so far; NULL when not asking */
	json_t *state;         /* requestState of the result being answered, or NULL */
	int rounds;
	struct bridge_req *prev, *next;
};

struct bridge {
	const struct bridge_opts *o;
	mcppool_conn *conn;
	FILE *out, *errf;
	bool out_failed; /* the host stopped reading: nothing more can be said */
	bool closing;    /* stdin ended: replies of cancelled requests are dropped */
	/* warm: what the pooled server said of itself */
	bool warming;
	json_t *server;   /* warm's "server" object ({} when the daemon sent none); NULL before */
	json_t *warm_err; /* the JSON-RPC error object of a failed warm, or NULL */
	json_t *parked;   /* initialize / server/discover requests waiting for warm */
	json_t *host_caps; /* the capabilities a legacy host declared at initialize, or NULL */
	unsigned long long next_ask; /* the id of our next request to the host */
	struct bridge_req *reqs;
	/* the host's input */
	char *in;
	size_t in_len, in_cap;
	bool skipping;    /* inside a line that was too long, up to its newline */
};

__attribute__((format(printf, 2, 3)))
static void bridge_log(struct bridge *b, const char *fmt, ...)
{
	va_list ap;

	fputs("mcpctl bridge: ", b->errf);
	va_start(ap, fmt);
	vfprintf(b->errf, fmt, ap);
	va_end(ap);
	fputc('\n', b->errf);
	fflush(b->errf);
}

/* ---- output to the host -------------------------------------------------- */

/* Writes msg as one line and takes its reference. A failed write ends the bridge. */
static void bridge_send(struct bridge *b, json_t *msg)
{
	char *text;

	if (!msg)
		return;
	text = b->out_failed ? NULL : json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(msg);
	if (!text)
		return;
	if (fputs(text, b->out) < 0 || fputc('\n', b->out) < 0 || fflush(b->out) != 0) {
		b->out_failed = true;
		bridge_log(b, "cannot write to the host: %s", strerror(errno));
	}
	free(text);
}

/* A message in the order hosts read best: jsonrpc, then id / method, then the rest. */
static json_t *bridge_msg(void)
{
	return json_pack("{s:s}", "jsonrpc", "2.0");
}

static void bridge_reply(struct bridge *b, json_t *id, json_t *result)
{
	json_t *m = bridge_msg();

	json_object_set(m, "id", id ? id : json_null());
	json_object_set_new(m, "result", result ? result : json_object());
	bridge_send(b, m);
}

/* Replies with error, a JSON-RPC error object whose reference it takes. */
static void bridge_reply_error_object(struct bridge *b, json_t *id, json_t *error)
{
	json_t *m = bridge_msg();

	json_object_set(m, "id", id ? id : json_null());
	json_object_set_new(m, "error", error);
	bridge_send(b, m);
}

__attribute__((format(printf, 4, 5)))
static void bridge_reply_error(struct bridge *b, json_t *id, int code, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	bridge_reply_error_object(b, id, json_pack("{s:i,s:s}", "code", code, "message", message));
}

static void bridge_notify(struct bridge *b, const char *method, json_t *params)
{
	json_t *m = bridge_msg();

	json_object_set_new(m, "method", json_string(method));
	json_object_set_new(m, "params", params);
	bridge_send(b, m);
}

/* A msgpack value as JSON (NULL when it has none). */
static json_t *bridge_json_of(const msgpack_object *v)
{
	char *text = v ? mcppool_value_json(v, 0) : NULL;
	json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

	free(text);
	return j;
}

/* ---- errors -------------------------------------------------------------- */

/* The server's own JSON-RPC error, kept in UPSTREAM_ERROR's data; NULL when it is not one. */
static json_t *bridge_server_error(const mcppool_error *err)
{
	json_t *data, *code, *message;

	if (err->code != MCPPOOL_UPSTREAM_ERROR || !(data = bridge_json_of(err->data)))
		return NULL;
	code = json_object_get(data, "code");
	message = json_object_get(data, "message");
	if (json_is_integer(code) && json_is_string(message))
		return data;
	json_decref(data);
	return NULL;
}

static int bridge_rpc_code(int code)
{
	switch (code) {
	case MCPPOOL_BAD_REQUEST:
		return BRIDGE_INVALID_PARAMS;
	case MCPPOOL_UPSTREAM_TIMEOUT:
	case MCPPOOL_TIMEOUT:
		return BRIDGE_TIMEOUT;
	case MCPPOOL_INTERNAL:
		return BRIDGE_INTERNAL_ERROR;
	default:
		return BRIDGE_POOL_ERROR;
	}
}

/*
 * A pool error as a JSON-RPC error object: the server's own error for
 * UPSTREAM_ERROR, else one whose data names the mcppool code (and carries the
 * error's data, such as AUTH_REQUIRED's challenge, as "detail").
 */
static json_t *bridge_error_of(const mcppool_error *err)
{
	json_t *e = bridge_server_error(err), *data, *detail;

	if (e)
		return e;
	data = json_pack("{s:s}", "mcppool", mcppool_code_name(err->code));
	if ((detail = bridge_json_of(err->data)))
		json_object_set_new(data, "detail", detail);
	return json_pack("{s:i,s:s,s:o}", "code", bridge_rpc_code(err->code), "message",
			 err->message, "data", data);
}

/* ---- the pooled server's description ------------------------------------- */

/*
 * The lifecycle's negotiation: the host's version when the bridge speaks it
 * (a legacy revision no newer than the pooled server's), else the newest it
 * speaks. Revisions are dates, so they compare as strings.
 */
static const char *bridge_negotiate(const char *requested, const char *server_version)
{
	const char *cap = bridge_legacy_versions[BRIDGE_NLEGACY - 1];

	for (size_t i = 0; i < BRIDGE_NLEGACY; i++) {
		if (!server_version || strcmp(bridge_legacy_versions[i], server_version) <= 0) {
			cap = bridge_legacy_versions[i];
			break;
		}
	}
	for (size_t i = 0; requested && i < BRIDGE_NLEGACY; i++)
		if (strcmp(requested, bridge_legacy_versions[i]) == 0 && strcmp(requested, cap) <= 0)
			return requested;
	return cap;
}

/* serverInfo of the pooled server, or a stand-in naming the catalog entry. */
static json_t *bridge_server_info(struct bridge *b)
{
	json_t *info = json_object_get(b->server, "serverInfo");

	if (json_is_object(info))
		return json_incref(info);
	return json_pack("{s:s,s:s}", "name", b->o->mcp, "version", "unknown");
}

static json_t *bridge_capabilities(struct bridge *b)
{
	json_t *caps = json_object_get(b->server, "capabilities");

	return json_is_object(caps) ? json_incref(caps) : json_object();
}

static void bridge_add_instructions(struct bridge *b, json_t *result)
{
	json_t *ins = json_object_get(b->server, "instructions");

	if (json_is_string(ins))
		json_object_set(result, "instructions", ins);
}

/* The initialize result: the pooled server's description, the version negotiated. */
static json_t *bridge_initialize_result(struct bridge *b, json_t *params)
{
	const char *requested = json_string_value(json_object_get(params, "protocolVersion"));
	const char *server = json_string_value(json_object_get(b->server, "protocolVersion"));
	json_t *r = json_object();

	json_object_set_new(r, "protocolVersion", json_string(bridge_negotiate(requested, server)));
	json_object_set_new(r, "capabilities", bridge_capabilities(b));
	json_object_set_new(r, "serverInfo", bridge_server_info(b));
	bridge_add_instructions(b, r);
	return r;
}

/*
 * The server/discover result (2026-07-28 DiscoverResult). Not cacheable: the
 * pooled server behind it may be restarted, or replaced after a catalog reload.
 */
static json_t *bridge_discover_result(struct bridge *b)
{
	json_t *r = json_object();

	json_object_set_new(r, "resultType", json_string("complete"));
	json_object_set_new(r, "supportedVersions", json_pack("[s]", BRIDGE_MODERN_VERSION));
	json_object_set_new(r, "capabilities", bridge_capabilities(b));
	bridge_add_instructions(b, r);
	json_object_set_new(r, "_meta", json_pack("{s:o}", BRIDGE_META_SERVER_INFO,
						  bridge_server_info(b)));
	json_object_set_new(r, "ttlMs", json_integer(0));
	json_object_set_new(r, "cacheScope", json_string("private"));
	return r;
}

/* Answers an initialize or server/discover request from what warm said. */
static void bridge_answer_info(struct bridge *b, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	const char *method = json_string_value(json_object_get(msg, "method"));

	if (b->warm_err)
		bridge_reply_error_object(b, id, json_deep_copy(b->warm_err));
	else if (strcmp(method, "initialize") == 0)
		bridge_reply(b, id, bridge_initialize_result(b, json_object_get(msg, "params")));
	else
		bridge_reply(b, id, bridge_discover_result(b));
}

static void bridge_on_warm(mcppool_conn *c, uint64_t id, const mcppool_result *res,
			   const mcppool_error *err, void *arg)
{
	struct bridge *b = arg;
	const msgpack_object *v = mcppool_result_value(res);
	const msgpack_object *pid = mcppool_map_get(v, "pid");
	size_t i;
	json_t *msg;

	(void)c;
	(void)id;
	b->warming = false;
	if (b->closing)
		return;
	if (err) {
		bridge_log(b, "%s:%s cannot be opened: %s: %s", b->o->user, b->o->mcp,
			   mcppool_code_name(err->code), err->message);
		b->warm_err = bridge_error_of(err);
	} else {
		b->server = bridge_json_of(mcppool_map_get(v, "server"));
		if (!json_is_object(b->server)) {
			json_decref(b->server);
			b->server = json_object();
		}
		if (pid && pid->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			bridge_log(b, "%s:%s is ready (server pid %llu)", b->o->user, b->o->mcp,
				   (unsigned long long)pid->via.u64);
	}
	json_array_foreach(b->parked, i, msg)
		bridge_answer_info(b, msg);
	json_array_clear(b->parked);
}

/* ---- the daemon connection ----------------------------------------------- */

/* The connection, opened again when the daemon went away since; NULL when it cannot be. */
static mcppool_conn *bridge_conn(struct bridge *b, mcppool_error *err)
{
	if (b->conn && mcppool_connected(b->conn))
		return b->conn;
	mcppool_close(b->conn);
	b->conn = mcppool_connect(b->o->socket, err);
	if (b->conn)
		bridge_log(b, "connected to the daemon again");
	return b->conn;
}

/* Asks for the pooled server's description; initialize / discover wait for it. */
static void bridge_warm(struct bridge *b)
{
	mcppool_error err;
	mcppool_conn *c = bridge_conn(b, &err);

	json_decref(b->warm_err);
	b->warm_err = NULL;
	if (c && mcppool_submit_warm(c, b->o->user, b->o->mcp, b->o->auth, b->o->timeout_ms,
				     bridge_on_warm, b)) {
		b->warming = true;
		return;
	}
	if (c)
		err = *mcppool_conn_error(c);
	bridge_on_warm(c, 0, NULL, &err, b);
}

/* ---- forwarded requests -------------------------------------------------- */

static void bridge_req_unlink(struct bridge_req *r)
{
	struct bridge *b = r->b;

	if (r->prev)
		r->prev->next = r->next;
	else
		b->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	json_decref(r->host_id);
	json_decref(r->progress_token);
	free(r->method);
	json_decref(r->params);
	json_decref(r->asks);
	json_decref(r->answers);
	json_decref(r->state);
	free(r);
}

static struct bridge_req *bridge_find_req(struct bridge *b, json_t *host_id)
{
	for (struct bridge_req *r = b->reqs; r; r = r->next)
		if (json_equal(r->host_id, host_id))
			return r;
	return NULL;
}

/* Progress with the host's token (only when it gave one); log messages as they are. */
static void bridge_on_event(mcppool_conn *c, uint64_t id, const char *event,
			    const msgpack_object *params, void *arg)
{
	struct bridge_req *r = arg;
	bool progress = strcmp(event, "progress") == 0;
	json_t *p;

	(void)c;
	(void)id;
	if (r->cancelled || r->b->closing || (progress && !r->progress_token) ||
	    (!progress && strcmp(event, "message") != 0))
		return;
	p = bridge_json_of(params);
	if (!json_is_object(p)) {
		json_decref(p);
		return;
	}
	if (progress)
		json_object_set(p, "progressToken", r->progress_token);
	bridge_notify(r->b, progress ? "notifications/progress" : "notifications/message", p);
}

/* 2026-07-28 methods whose result is a CacheableResult. */
static bool bridge_cacheable_method(const char *method)
{
	static const char *const methods[] = {
		"tools/list", "prompts/list", "resources/list", "resources/templates/list",
		"resources/read",
	};

	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (strcmp(method, methods[i]) == 0)
			return true;
	return false;
}

/*
 * A legacy server's result, as a modern host must get it: resultType
 * "complete" and, for cacheable results, "do not cache" (ttlMs 0, private:
 * the server is one user's) where the server said nothing.
 */
static void bridge_modernize(json_t *result, bool cacheable)
{
	if (!json_is_object(result))
		return;
	if (!json_object_get(result, "resultType"))
		json_object_set_new(result, "resultType", json_string("complete"));
	if (cacheable && !json_is_integer(json_object_get(result, "ttlMs")))
		json_object_set_new(result, "ttlMs", json_integer(0));
	if (cacheable && !json_is_string(json_object_get(result, "cacheScope")))
		json_object_set_new(result, "cacheScope", json_string("private"));
}

static bool bridge_ask_host(struct bridge_req *r, json_t *result);

static void bridge_on_reply(mcppool_conn *c, uint64_t id, const mcppool_result *res,
			    const mcppool_error *err, void *arg)
{
	struct bridge_req *r = arg;
	struct bridge *b = r->b;
	json_t *result;

	(void)c;
	(void)id;
	/* A cancelled request gets no response (MCP: the receiver SHOULD NOT send one). */
	if (r->cancelled || b->closing) {
		bridge_req_unlink(r);
		return;
	}
	if (err) {
		bridge_reply_error_object(b, r->host_id, bridge_error_of(err));
	} else if (!(result = bridge_json_of(mcppool_result_value(res)))) {
		bridge_reply_error(b, r->host_id, BRIDGE_INTERNAL_ERROR,
				   "the server's result has no JSON form");
	} else if (!r->modern && bridge_ask_host(r, result)) {
		return; /* r lives on until the host's answers and the retry's reply */
	} else {
		if (r->modern)
			bridge_modernize(result, r->cacheable);
		bridge_reply(b, r->host_id, result);
	}
	bridge_req_unlink(r);
}

/*
 * Submits r's method with params to the pool; the reply comes to
 * bridge_on_reply. Returns 0, or -1 with *err filled.
 */
static int bridge_submit(struct bridge_req *r, json_t *params, mcppool_error *err)
{
	struct bridge *b = r->b;
	char *text = params ? json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	mcppool_conn *c;

	if (params && !text) {
		*err = (mcppool_error){ .code = MCPPOOL_INTERNAL, .message = "out of memory" };
		return -1;
	}
	c = bridge_conn(b, err);
	r->id = c ? mcppool_submit_request_events(c, b->o->user, b->o->mcp, r->method, text,
						  b->o->auth, b->o->timeout_ms, bridge_on_event,
						  bridge_on_reply, r) : 0;
	free(text);
	if (!r->id && c)
		*err = *mcppool_conn_error(c);
	return r->id ? 0 : -1;
}

/* Forwards the host's request to the pool; its reply comes to bridge_on_reply. */
static void bridge_forward(struct bridge *b, json_t *id, const char *method, json_t *params,
			   json_t *meta)
{
	struct bridge_req *r = calloc(1, sizeof *r);
	json_t *token = json_object_get(meta, "progressToken");
	mcppool_error err;

	if (!r || !(r->method = strdup(method))) {
		free(r);
		bridge_reply_error(b, id, BRIDGE_INTERNAL_ERROR, "out of memory");
		return;
	}
	r->b = b;
	r->host_id = json_incref(id);
	r->params = json_incref(params);
	r->progress_token = json_is_string(token) || json_is_number(token) ? json_incref(token) : NULL;
	r->modern = json_object_get(meta, BRIDGE_META_VERSION) != NULL;
	r->cacheable = r->modern && bridge_cacheable_method(method);
	r->next = b->reqs;
	if (b->reqs)
		b->reqs->prev = r;
	b->reqs = r;
	if (bridge_submit(r, params, &err) < 0) {
		bridge_reply_error_object(b, id, bridge_error_of(&err));
		bridge_req_unlink(r);
	}
}

/* ---- input requests through a legacy host -------------------------------- */

/* The capability a legacy host declares to answer method; NULL for other methods. */
static const char *bridge_input_capability(const char *method)
{
	if (strcmp(method, "elicitation/create") == 0)
		return "elicitation";
	if (strcmp(method, "sampling/createMessage") == 0)
		return "sampling";
	if (strcmp(method, "roots/list") == 0)
		return "roots";
	return NULL;
}

/*
 * Whether the host declared at initialize what every one of requests needs. A
 * url elicitation needs elicitation.url: a bare elicitation means forms only.
 */
static bool bridge_host_can_answer(struct bridge *b, json_t *requests)
{
	const char *key, *method, *cap, *mode;
	json_t *req, *declared;

	json_object_foreach(requests, key, req) {
		method = json_string_value(json_object_get(req, "method"));
		cap = method ? bridge_input_capability(method) : NULL;
		declared = cap ? json_object_get(b->host_caps, cap) : NULL;
		if (!json_is_object(declared))
			return false;
		mode = json_string_value(json_object_get(json_object_get(req, "params"), "mode"));
		if (mode && strcmp(mode, "url") == 0 && !json_is_object(json_object_get(declared, "url")))
			return false;
	}
	return true;
}

/* Retries r with the answers gathered and the requestState; a failure ends r with its error. */
static void bridge_retry(struct bridge_req *r)
{
	json_t *params = r->params ? json_copy(r->params) : json_object();
	mcppool_error err;

	json_object_set_new(params, "inputResponses", r->answers);
	if (r->state)
		json_object_set_new(params, "requestState", r->state);
	else
		json_object_del(params, "requestState");
	r->answers = r->state = NULL;
	json_decref(r->asks);
	r->asks = NULL;
	if (bridge_submit(r, params, &err) < 0) {
		bridge_reply_error_object(r->b, r->host_id, bridge_error_of(&err));
		bridge_req_unlink(r);
	}
	json_decref(params);
}

/*
 * A legacy host cannot read an input_required result, but one that declared
 * elicitation (sampling, roots) at initialize answers those requests: each
 * input request goes to the host as a request of the bridge's own, the answers
 * come to bridge_host_response, and the last one sends the retry, whose reply
 * goes through bridge_on_reply again. Returns false, result untouched, when
 * result is no such case (the caller passes it through); else true, having
 * taken result's reference and replied or gone on with r.
 */
static bool bridge_ask_host(struct bridge_req *r, json_t *result)
{
	struct bridge *b = r->b;
	json_t *requests = json_object_get(result, "inputRequests"), *req, *m;
	const char *type = json_string_value(json_object_get(result, "resultType")), *key;
	char id[48];

	if (!type || strcmp(type, "input_required") != 0 || (requests && !json_is_object(requests)) ||
	    !bridge_host_can_answer(b, requests))
		return false;
	if (r->rounds++ == BRIDGE_MAX_INPUT_ROUNDS) {
		bridge_reply_error(b, r->host_id, BRIDGE_POOL_ERROR, "the server still asks for "
				   "input after %d rounds of answers", BRIDGE_MAX_INPUT_ROUNDS);
		json_decref(result);
		bridge_req_unlink(r);
		return true;
	}
	r->answers = json_object();
	r->asks = json_object();
	r->state = json_incref(json_object_get(result, "requestState"));
	json_object_foreach(requests, key, req) {
		snprintf(id, sizeof id, "mcpctl-bridge-%llu", ++b->next_ask);
		json_object_set_new(r->asks, id, json_string(key));
		m = bridge_msg();
		json_object_set_new(m, "id", json_string(id));
		json_object_set(m, "method", json_object_get(req, "method"));
		if (json_is_object(json_object_get(req, "params")))
			json_object_set(m, "params", json_object_get(req, "params"));
		bridge_send(b, m);
	}
	json_decref(result);
	if (json_object_size(r->asks) == 0)
		bridge_retry(r);
	return true;
}

/*
 * The host's response to one of the bridge's requests: an answer for the
 * retry, or an error that ends the host's request with it (in data.detail).
 */
static void bridge_host_response(struct bridge *b, json_t *msg)
{
	const char *id = json_string_value(json_object_get(msg, "id"));
	json_t *error = json_object_get(msg, "error"), *key = NULL;
	struct bridge_req *r;

	for (r = b->reqs; id && r; r = r->next)
		if (r->asks && (key = json_object_get(r->asks, id)))
			break;
	if (!r)
		return; /* not ours, or its request was cancelled meanwhile */
	if (error) {
		bridge_reply_error_object(b, r->host_id, json_pack(
			"{s:i,s:s,s:{s:s,s:O}}", "code", BRIDGE_POOL_ERROR, "message",
			"the host answered the server's input request with an error", "data",
			"mcppool", "INPUT_REQUIRED", "detail", error));
		bridge_req_unlink(r);
		return;
	}
	json_object_set(r->answers, json_string_value(key), json_object_get(msg, "result"));
	json_object_del(r->asks, id);
	if (json_object_size(r->asks) == 0)
		bridge_retry(r);
}

/* The host cancelled a request whose input requests it was asked: they are cancelled too. */
static void bridge_cancel_asks(struct bridge *b, struct bridge_req *r)
{
	const char *id;
	json_t *key;

	json_object_foreach(r->asks, id, key)
		bridge_notify(b, "notifications/cancelled", json_pack("{s:s,s:s}", "requestId", id,
						"reason", "the host cancelled the request"));
	bridge_req_unlink(r);
}

/* ---- messages from the host ---------------------------------------------- */

/*
 * A request whose per-request _meta names another version than the one modern
 * revision the bridge speaks gets -32022 with the supported versions (as
 * server/discover lists them). Legacy hosts send no such _meta.
 */
static bool bridge_version_refused(struct bridge *b, json_t *id, json_t *meta)
{
	const char *v = json_string_value(json_object_get(meta, BRIDGE_META_VERSION));

	if (!v || strcmp(v, BRIDGE_MODERN_VERSION) == 0)
		return false;
	bridge_reply_error_object(b, id, json_pack("{s:i,s:s,s:{s:[s],s:s}}", "code",
						   BRIDGE_UNSUPPORTED_VERSION, "message",
						   "Unsupported protocol version", "data",
						   "supported", BRIDGE_MODERN_VERSION,
						   "requested", v));
	return true;
}

static void bridge_request(struct bridge *b, json_t *msg, json_t *id, const char *method)
{
	json_t *params = json_object_get(msg, "params");
	json_t *meta = json_object_get(params, "_meta");

	if (params && !json_is_object(params)) {
		bridge_reply_error(b, id, BRIDGE_INVALID_PARAMS, "params must be an object");
		return;
	}
	if (strcmp(method, "initialize") == 0 && json_is_object(json_object_get(params,
									       "capabilities"))) {
		json_decref(b->host_caps);
		b->host_caps = json_incref(json_object_get(params, "capabilities"));
	}
	if (strcmp(method, "initialize") == 0 || strcmp(method, "server/discover") == 0) {
		if (b->warming) {
			json_array_append(b->parked, msg);
			return;
		}
		if (!b->server) {
			json_array_append(b->parked, msg);
			bridge_warm(b);
			return;
		}
		bridge_answer_info(b, msg);
		return;
	}
	if (bridge_version_refused(b, id, meta))
		return;
	if (strcmp(method, "ping") == 0) {
		bridge_reply(b, id, meta ? json_pack("{s:s}", "resultType", "complete") : NULL);
		return;
	}
	bridge_forward(b, id, method, params, meta);
}

/* notifications/cancelled becomes the pool's cancel; the others are the bridge's to drop. */
static void bridge_notification(struct bridge *b, const char *method, json_t *params)
{
	struct bridge_req *r;

	if (strcmp(method, "notifications/cancelled") != 0)
		return;
	r = bridge_find_req(b, json_object_get(params, "requestId"));
	if (r && r->asks) {
		bridge_cancel_asks(b, r);
		return;
	}
	if (!r || r->cancelled || !b->conn)
		return;
	r->cancelled = true;
	mcppool_cancel(b->conn, r->id);
}

static void bridge_handle_line(struct bridge *b, const char *line, size_t len)
{
	json_error_t je;
	json_t *msg = json_loadb(line, len, 0, &je), *id, *method;

	if (!msg) {
		bridge_reply_error(b, NULL, BRIDGE_PARSE_ERROR, "Parse error: %s (position %d)",
				   je.text, je.position);
		return;
	}
	id = json_object_get(msg, "id");
	method = json_object_get(msg, "method");
	if (!json_is_object(msg) || (method && !json_is_string(method)) ||
	    (id && !json_is_string(id) && !json_is_integer(id))) {
		bridge_reply_error(b, json_is_string(id) || json_is_integer(id) ? id : NULL,
				   BRIDGE_INVALID_REQUEST, "Invalid Request");
	} else if (!method) {
		bridge_host_response(b, msg);
	} else if (!id) {
		bridge_notification(b, json_string_value(method), json_object_get(msg, "params"));
	} else {
		bridge_request(b, msg, id, json_string_value(method));
	}
	json_decref(msg);
}

static bool bridge_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* Handles every whole line buffered; keeps the partial one. */
static void bridge_drain_lines(struct bridge *b)
{
	size_t start = 0;
	char *nl;

	while (!b->out_failed && (nl = memchr(b->in + start, '\n', b->in_len - start))) {
		size_t len = (size_t)(nl - (b->in + start));

		if (b->skipping)
			b->skipping = false;
		else if (!bridge_blank(b->in + start, len))
			bridge_handle_line(b, b->in + start, len);
		start += len + 1;
	}
	memmove(b->in, b->in + start, b->in_len - start);
	b->in_len -= start;
	if (b->in_len >= BRIDGE_MAX_LINE) {
		if (!b->skipping)
			bridge_reply_error(b, NULL, BRIDGE_PARSE_ERROR,
					   "Parse error: a message longer than %u bytes",
					   BRIDGE_MAX_LINE);
		b->skipping = true;
		b->in_len = 0;
	}
}

/* Reads what the host sent. Returns 0, or -1 at end of file (or a read error). */
static int bridge_read(struct bridge *b, int fd)
{
	ssize_t n;

	if (b->in_cap - b->in_len < BRIDGE_READ_CHUNK) {
		size_t cap = b->in_cap ? b->in_cap * 2 : BRIDGE_READ_CHUNK * 2;
		char *grown = realloc(b->in, cap);

		if (!grown) {
			bridge_log(b, "out of memory");
			return -1;
		}
		b->in = grown;
		b->in_cap = cap;
	}
	do
		n = read(fd, b->in + b->in_len, b->in_cap - b->in_len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		bridge_log(b, "reading from the host: %s", strerror(errno));
	if (n <= 0) {
		if (b->in_len && !b->skipping && !bridge_blank(b->in, b->in_len))
			bridge_handle_line(b, b->in, b->in_len);
		b->in_len = 0;
		return -1;
	}
	b->in_len += (size_t)n;
	bridge_drain_lines(b);
	return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static short bridge_poll_events(int ev)
{
	return (short)((ev & MCPPOOL_READ ? POLLIN : 0) | (ev & MCPPOOL_WRITE ? POLLOUT : 0));
}

static int bridge_revents(short re)
{
	return (re & (POLLIN | POLLHUP | POLLERR) ? MCPPOOL_READ : 0) |
	       (re & (POLLOUT | POLLERR) ? MCPPOOL_WRITE : 0);
}

/* poll() on the host and the daemon until the host's input ends. */
static void bridge_loop(struct bridge *b, int in_fd)
{
	for (;;) {
		bool daemon = b->conn && mcppool_fd(b->conn) >= 0;
		struct pollfd p[2] = {
			{ .fd = in_fd, .events = POLLIN },
			{ .fd = daemon ? mcppool_fd(b->conn) : -1,
			  .events = daemon ? bridge_poll_events(mcppool_events(b->conn)) : 0 },
		};

		if (b->out_failed)
			return;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			bridge_log(b, "poll: %s", strerror(errno));
			return;
		}
		if (daemon && p[1].revents)
			mcppool_process(b->conn, bridge_revents(p[1].revents));
		if (p[0].revents && bridge_read(b, in_fd) < 0)
			return;
	}
}

static void bridge_free(struct bridge *b)
{
	b->closing = true;
	mcppool_close(b->conn); /* cancels what is in flight; the callbacks free the requests */
	while (b->reqs)
		bridge_req_unlink(b->reqs);
	json_decref(b->server);
	json_decref(b->warm_err);
	json_decref(b->parked);
	json_decref(b->host_caps);
	free(b->in);
}

int bridge_run(const struct bridge_opts *o, int in_fd, FILE *out, FILE *errf)
{
	struct bridge b = { .o = o, .out = out, .errf = errf, .parked = json_array() };
	mcppool_error err;

	/* A host that goes away must end the bridge through a write error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	b.conn = mcppool_connect(o->socket, &err);
	if (!b.conn) {
		bridge_log(&b, "%s", err.message);
		bridge_free(&b);
		return BRIDGE_EXIT_UNREACHABLE;
	}
	bridge_warm(&b);
	bridge_loop(&b, in_fd);
	bridge_free(&b);
	return b.out_failed ? BRIDGE_EXIT_HOST_GONE : BRIDGE_EXIT_OK;
}
