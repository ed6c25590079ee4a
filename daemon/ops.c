/* The operations of the wire protocol: parameter checks and dispatch. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "auth.h"
#include "upstream.h"
#include "catalog.h"
#include "daemon.h"
#include "era.h"
#include "errcode.h"
#include "inputreq.h"
#include "jsontext.h"
#include "mpjson.h"
#include "ops.h"
#include "session.h"
#include "wire.h"

#define USER_MAX CATALOG_USER_MAX
#define NAME_MAX_LEN CATALOG_NAME_MAX
#define TIMEOUT_MAX_MS 2147483647ull
#define LISTEN_URI_MAX 4096 /* bytes of one uri of a listen */
#define LISTEN_URIS_MAX 256 /* uris of one listen */
#define REQUEST_STATE_MAX (64 * 1024) /* bytes of a requestState (a server's may be a sealed blob) */
/* A scratch buffer that grew past this is freed after use. */
#define SCRATCH_KEEP_MAX (64 * 1024)

/* The params every MCP op shares, checked and copied out of the frame. */
struct mcp_params {
	char user[USER_MAX + 1];
	const struct catalog_entry *entry;
	struct auth auth;
	uint64_t timeout_ms;
	bool events; /* wire v2: send this request's events */
	const char *log_level; /* with events: era_log_level()'s name, NULL for the default */
	/* A retry of an input_required result the daemon made (inputreq.h), else NULL. */
	const char *request_state;
	const char *input_responses; /* JSON text */
	size_t input_responses_len;
};

static const struct {
	const char *name;
	size_t len;
} param_names[P__COUNT] = {
	[P_USER] = { "user", 4 },	    [P_MCP] = { "mcp", 3 },
	[P_TOOL] = { "tool", 4 },	    [P_ARGUMENTS] = { "arguments", 9 },
	[P_METHOD] = { "method", 6 },	    [P_PARAMS] = { "params", 6 },
	[P_CURSOR] = { "cursor", 6 },	    [P_AUTH] = { "auth", 4 },
	[P_TIMEOUT_MS] = { "timeout_ms", 10 },	    [P_EVENTS] = { "events", 6 },
	[P_URIS] = { "uris", 4 },	    [P_TOKEN] = { "token", 5 },
	[P_INPUT_RESPONSES] = { "inputResponses", 14 },
	[P_REQUEST_STATE] = { "requestState", 12 },
	[P_LOG_LEVEL] = { "log_level", 9 },
};

static void params_index(const msgpack_object *map, struct op_params *p)
{
	memset(p, 0, sizeof(*p));
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		const char *k = kv->key.via.str.ptr;
		size_t n = kv->key.via.str.size;

		if (kv->key.type != MSGPACK_OBJECT_STR || n == 0)
			continue;
		for (int j = 0; j < P__COUNT; j++) {
			if (n == param_names[j].len && k[0] == param_names[j].name[0] &&
			    memcmp(k, param_names[j].name, n) == 0) {
				if (!p->v[j])
					p->v[j] = &kv->val;
				break;
			}
		}
	}
}

/*
 * Copies the str param key into buf (NUL-terminated). Returns 1 when present,
 * 0 when absent and optional, -1 (session answered) when bad.
 */
static int get_str(struct session *s, uint64_t id, const struct op_params *params,
		   enum op_param key, bool required, char *buf, size_t buflen)
{
	const msgpack_object *o = params->v[key];
	const char *name = param_names[key].name;

	if (!o || o->type == MSGPACK_OBJECT_NIL) {
		if (!required)
			return 0;
		session_reply_error(s, id, ERR_BAD_REQUEST, "missing param \"%s\" (a string)", name);
		return -1;
	}
	if (o->type != MSGPACK_OBJECT_STR) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"%s\" must be a string", name);
		return -1;
	}
	if (o->via.str.size >= buflen) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"%s\" is longer than %zu bytes",
				    name, buflen - 1);
		return -1;
	}
	if (memchr(o->via.str.ptr, '\0', o->via.str.size)) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"%s\" contains a NUL byte", name);
		return -1;
	}
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return 1;
}

/*
 * Appends the map param key as JSON text to out. Returns 1 when present, 0
 * when absent, -1 (session answered) when bad.
 */
static int get_json_map(struct session *s, uint64_t id, const struct op_params *params,
			enum op_param key, struct jbuf *out)
{
	const msgpack_object *o = params->v[key];
	const char *name = param_names[key].name;
	char err[256];

	if (!o || o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_MAP) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"%s\" must be a map", name);
		return -1;
	}
	/* It is nested in the JSON-RPC message and its params: two levels of the limit. */
	if (jsontext_from_msgpack(o, out, WIRE_MAX_DEPTH - 2, err, sizeof(err)) < 0) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"%s\": %s", name, err);
		return -1;
	}
	return 1;
}

/* The optional bool "events"; events need a version 2 connection. 0, or -1 when answered. */
static int get_events(struct session *s, uint64_t id, const msgpack_object *o, bool *events)
{
	*events = false;
	if (!o || o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_BOOLEAN) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"events\" must be a bool, got %s",
				    wire_type_name(o));
		return -1;
	}
	if (o->via.boolean && session_version(s) < 2) {
		session_reply_error(s, id, ERR_BAD_REQUEST,
				    "param \"events\" needs wire protocol version 2: say "
				    "{\"version\": 2} in hello");
		return -1;
	}
	*events = o->via.boolean;
	return 0;
}

/*
 * The optional str "log_level" (with events: what a modern server is asked to
 * log). 0, or -1 when answered.
 */
static int get_log_level(struct session *s, uint64_t id, const msgpack_object *o, bool events,
			 const char **level)
{
	*level = NULL;
	if (!o || o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_STR || !(*level = era_log_level(o->via.str.ptr, o->via.str.size))) {
		session_reply_error(s, id, ERR_BAD_REQUEST,
				    "param \"log_level\" must be one of debug, info, notice, warning, "
				    "error, critical, alert, emergency");
		return -1;
	}
	if (!events) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"log_level\" needs \"events\": "
				    "true (log messages reach the app as events)");
		return -1;
	}
	return 0;
}

/* Checks user, mcp, auth, timeout_ms and events; returns 0, or -1 when the session was answered. */
static int get_mcp_params(struct daemon *d, struct session *s, uint64_t id,
			  const struct op_params *params, struct mcp_params *p)
{
	const msgpack_object *t = params->v[P_TIMEOUT_MS];
	char mcp[NAME_MAX_LEN + 1], err[256];

	if (get_str(s, id, params, P_USER, true, p->user, sizeof(p->user)) < 0 ||
	    get_str(s, id, params, P_MCP, true, mcp, sizeof(mcp)) < 0)
		return -1;
	if (catalog_check_name(p->user, strlen(p->user), USER_MAX, err, sizeof(err)) < 0) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "user: %s", err);
		return -1;
	}
	if (!(p->entry = catalog_find(&d->catalog, mcp))) {
		session_reply_error(s, id, ERR_UNKNOWN_MCP, catalog_is_disabled(&d->catalog, mcp)
				    ? "MCP server \"%s\" is disabled in the catalog (\"disabled\": true)"
				    : "no MCP server named \"%s\" in the catalog", mcp);
		return -1;
	}
	p->timeout_ms = p->entry->timeout_ms ? p->entry->timeout_ms : d->cfg.request_timeout_ms;
	if (t && t->type != MSGPACK_OBJECT_NIL) {
		if (t->type != MSGPACK_OBJECT_POSITIVE_INTEGER || t->via.u64 == 0 ||
		    t->via.u64 > TIMEOUT_MAX_MS) {
			session_reply_error(s, id, ERR_BAD_REQUEST,
					    "param \"timeout_ms\" must be an integer from 1 to %llu",
					    TIMEOUT_MAX_MS);
			return -1;
		}
		p->timeout_ms = t->via.u64;
	}
	if (get_events(s, id, params->v[P_EVENTS], &p->events) < 0 ||
	    get_log_level(s, id, params->v[P_LOG_LEVEL], p->events, &p->log_level) < 0)
		return -1;
	if (auth_from_msgpack(&p->auth, params->v[P_AUTH], err, sizeof(err)) < 0) {
		session_reply_error(s, id, ERR_AUTH_INVALID, "%s", err);
		return -1;
	}
	if (auth_check(&p->auth, p->entry, err, sizeof(err)) < 0) {
		auth_wipe(&p->auth);
		session_reply_error(s, id, ERR_AUTH_INVALID, "%s", err);
		return -1;
	}
	return 0;
}

static void submit(struct daemon *d, struct session *s, uint64_t id, struct mcp_params *p,
		   const char *method, const struct jbuf *params, enum request_kind kind)
{
	struct mcp_call call = {
		.user = p->user,
		.entry = p->entry,
		.auth = &p->auth,
		.method = method,
		.params = params && params->len ? params->data : NULL,
		.params_len = params ? params->len : 0,
		.timeout_ms = p->timeout_ms,
		.kind = kind,
		.events = p->events && kind == REQ_RESULT,
		.log_level = p->log_level,
		.request_state = p->request_state,
		.input_responses = p->input_responses,
		.input_responses_len = p->input_responses_len,
	};
	upstream_submit(d, s, id, &call);
}

/*
 * Checks a requestState o (a str: the server's or the daemon's) and appends
 * ,"requestState":"..." to out. A daemon-minted one is copied into ours
 * (NUL-terminated), else ours is "". Returns 0, or -1 when the session was answered.
 */
static int get_request_state(struct session *s, uint64_t id, const msgpack_object *o,
			     struct jbuf *out, char ours[INPUTREQ_STATE_LEN + 1])
{
	ours[0] = '\0';
	if (!o || o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 ||
	    o->via.str.size > REQUEST_STATE_MAX || memchr(o->via.str.ptr, '\0', o->via.str.size) ||
	    !mpjson_utf8_valid(o->via.str.ptr, o->via.str.size)) {
		session_reply_error(s, id, ERR_BAD_REQUEST,
				    "requestState must be the non-empty UTF-8 str of the input_required "
				    "result, at most %d bytes, echoed exactly", REQUEST_STATE_MAX);
		return -1;
	}
	if (out && (jbuf_append(out, ",\"requestState\":", 16) < 0 ||
		    jsontext_append_string(out, o->via.str.ptr, o->via.str.size) < 0)) {
		session_reply_error(s, id, ERR_INTERNAL, "out of memory");
		return -1;
	}
	if (inputreq_state_is_ours(o->via.str.ptr, o->via.str.size)) {
		memcpy(ours, o->via.str.ptr, o->via.str.size);
		ours[o->via.str.size] = '\0';
	}
	return 0;
}

static void op_call(struct daemon *d, struct session *s, uint64_t id,
		    const struct op_params *params)
{
	/* Kept across calls (the daemon has one thread): no allocation per call. */
	static struct jbuf call;
	struct mcp_params p = { 0 };
	char tool[NAME_MAX_LEN * 2], state[INPUTREQ_STATE_LEN + 1];
	size_t responses_at = 0, responses_end = 0;
	int have_args, have_responses = 0;

	if (get_str(s, id, params, P_TOOL, true, tool, sizeof(tool)) < 0)
		return;
	/* {"name":TOOL,"arguments":ARGS}: the tools/call params, built as text. */
	jbuf_reset(&call, SCRATCH_KEEP_MAX);
	if (jbuf_append(&call, "{\"name\":", 8) < 0 ||
	    jsontext_append_string(&call, tool, strlen(tool)) < 0 ||
	    jbuf_append(&call, ",\"arguments\":", 13) < 0) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"tool\" must be valid UTF-8");
		return;
	}
	if ((have_args = get_json_map(s, id, params, P_ARGUMENTS, &call)) < 0)
		return;
	if (!have_args && jbuf_append(&call, "{}", 2) < 0) {
		session_reply_error(s, id, ERR_INTERNAL, "out of memory");
		return;
	}
	/* The retry of an input_required result: both go in the params, as the protocol has them. */
	if (params->v[P_INPUT_RESPONSES] && params->v[P_INPUT_RESPONSES]->type != MSGPACK_OBJECT_NIL) {
		if (jbuf_append(&call, ",\"inputResponses\":", 18) < 0) {
			session_reply_error(s, id, ERR_INTERNAL, "out of memory");
			return;
		}
		responses_at = call.len;
		if ((have_responses = get_json_map(s, id, params, P_INPUT_RESPONSES, &call)) < 0)
			return;
		responses_end = call.len;
	}
	if (get_request_state(s, id, params->v[P_REQUEST_STATE], &call, state) < 0)
		return;
	if (jbuf_append(&call, "}", 1) < 0) {
		session_reply_error(s, id, ERR_INTERNAL, "out of memory");
		return;
	}
	if (get_mcp_params(d, s, id, params, &p) < 0)
		return;
	if (state[0]) {
		p.request_state = state;
		p.input_responses = have_responses ? call.data + responses_at : NULL;
		p.input_responses_len = responses_end - responses_at;
	}
	submit(d, s, id, &p, "tools/call", &call, REQ_RESULT);
}

/*
 * request passes its params through; when they hold a requestState the daemon
 * minted, the retry is the daemon's to serve: the state is copied into ours and
 * the inputResponses, as JSON text, into responses. 0, or -1 when answered.
 */
static int get_retry(struct session *s, uint64_t id, const msgpack_object *mparams,
		     char ours[INPUTREQ_STATE_LEN + 1], struct jbuf *responses)
{
	const msgpack_object *state = NULL, *resp = NULL;
	char err[256];

	ours[0] = '\0';
	if (!mparams || mparams->type != MSGPACK_OBJECT_MAP)
		return 0;
	for (uint32_t i = 0; i < mparams->via.map.size; i++) {
		const msgpack_object_kv *kv = &mparams->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR)
			continue;
		if (kv->key.via.str.size == 12 && memcmp(kv->key.via.str.ptr, "requestState", 12) == 0)
			state = &kv->val;
		else if (kv->key.via.str.size == 14 &&
			 memcmp(kv->key.via.str.ptr, "inputResponses", 14) == 0)
			resp = &kv->val;
	}
	if (!state || state->type != MSGPACK_OBJECT_STR ||
	    !inputreq_state_is_ours(state->via.str.ptr, state->via.str.size))
		return 0; /* a server's own: it goes with the params */
	if (get_request_state(s, id, state, NULL, ours) < 0)
		return -1;
	if (resp && resp->type != MSGPACK_OBJECT_NIL &&
	    (resp->type != MSGPACK_OBJECT_MAP ||
	     jsontext_from_msgpack(resp, responses, WIRE_MAX_DEPTH - 2, err, sizeof(err)) < 0)) {
		session_reply_error(s, id, ERR_BAD_REQUEST,
				    "params.inputResponses must be a map of the input_required "
				    "result's keys to their results");
		return -1;
	}
	return 0;
}

static void op_request(struct daemon *d, struct session *s, uint64_t id,
		       const struct op_params *params)
{
	struct mcp_params p = { 0 };
	char method[NAME_MAX_LEN * 2], state[INPUTREQ_STATE_LEN + 1] = "";
	struct jbuf mparams, responses;

	if (get_str(s, id, params, P_METHOD, true, method, sizeof(method)) < 0)
		return;
	if (!mpjson_utf8_valid(method, strlen(method))) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"method\" must be valid UTF-8");
		return;
	}
	if (strcmp(method, "initialize") == 0 || strncmp(method, "notifications/", 14) == 0) {
		session_reply_error(s, id, ERR_BAD_REQUEST,
				    "method \"%s\" is not a request an app may send: mcppoold owns "
				    "the connection's lifecycle", method);
		return;
	}
	jbuf_init(&mparams);
	jbuf_init(&responses);
	if (get_json_map(s, id, params, P_PARAMS, &mparams) >= 0 &&
	    get_retry(s, id, params->v[P_PARAMS], state, &responses) == 0 &&
	    get_mcp_params(d, s, id, params, &p) == 0) {
		if (state[0]) {
			p.request_state = state;
			p.input_responses = responses.len ? responses.data : NULL;
			p.input_responses_len = responses.len;
		}
		submit(d, s, id, &p, method, &mparams, REQ_RESULT);
	}
	jbuf_free(&responses);
	jbuf_free(&mparams);
}

static void op_tools(struct daemon *d, struct session *s, uint64_t id,
		    const struct op_params *params)
{
	struct mcp_params p = { 0 };
	char cursor[4096];
	struct jbuf list;
	int have;

	if ((have = get_str(s, id, params, P_CURSOR, false, cursor, sizeof(cursor))) < 0 ||
	    get_mcp_params(d, s, id, params, &p) < 0)
		return;
	jbuf_init(&list);
	if (have && (jbuf_append(&list, "{\"cursor\":", 10) < 0 ||
		     jsontext_append_string(&list, cursor, strlen(cursor)) < 0 ||
		     jbuf_append(&list, "}", 1) < 0)) {
		auth_wipe(&p.auth);
		jbuf_free(&list);
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"cursor\" must be valid UTF-8");
		return;
	}
	submit(d, s, id, &p, "tools/list", &list, REQ_RESULT);
	jbuf_free(&list);
}

static void op_warm(struct daemon *d, struct session *s, uint64_t id,
		    const struct op_params *params)
{
	struct mcp_params p = { 0 };

	if (get_mcp_params(d, s, id, params, &p) < 0)
		return;
	submit(d, s, id, &p, "ping", NULL, REQ_WARM);
}

/*
 * The optional array of str "uris", copied into out NUL-separated. Returns 0,
 * or -1 when the session was answered.
 */
static int get_uris(struct session *s, uint64_t id, const msgpack_object *o, struct jbuf *out)
{
	if (!o || o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_ARRAY) {
		session_reply_error(s, id, ERR_BAD_REQUEST,
				    "param \"uris\" must be an array of str, got %s", wire_type_name(o));
		return -1;
	}
	if (o->via.array.size > LISTEN_URIS_MAX) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "param \"uris\" has more than %d uris",
				    LISTEN_URIS_MAX);
		return -1;
	}
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		const msgpack_object *u = &o->via.array.ptr[i];

		if (u->type != MSGPACK_OBJECT_STR || u->via.str.size == 0 ||
		    u->via.str.size > LISTEN_URI_MAX || memchr(u->via.str.ptr, '\0', u->via.str.size) ||
		    !mpjson_utf8_valid(u->via.str.ptr, u->via.str.size)) {
			session_reply_error(s, id, ERR_BAD_REQUEST,
					    "param \"uris\"[%u] must be a non-empty UTF-8 str of at "
					    "most %d bytes", i, LISTEN_URI_MAX);
			return -1;
		}
		if (jbuf_append(out, u->via.str.ptr, u->via.str.size) < 0 ||
		    jbuf_append(out, "", 1) < 0) {
			session_reply_error(s, id, ERR_INTERNAL, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* listen (wire v2): stays in flight, streaming the connection's change notifications. */
static void op_listen(struct daemon *d, struct session *s, uint64_t id,
		      const struct op_params *params)
{
	struct mcp_params p = { 0 };
	struct jbuf uris;

	if (session_version(s) < 2) {
		session_reply_error(s, id, ERR_BAD_REQUEST,
				    "op \"listen\" needs wire protocol version 2: say "
				    "{\"version\": 2} in hello");
		return;
	}
	jbuf_init(&uris);
	if (get_uris(s, id, params->v[P_URIS], &uris) == 0 &&
	    get_mcp_params(d, s, id, params, &p) == 0) {
		struct mcp_call call = {
			.user = p.user,
			.entry = p.entry,
			.auth = &p.auth,
			.method = "listen",
			.timeout_ms = p.timeout_ms,
			.kind = REQ_LISTEN,
			.uris = uris.len ? uris.data : NULL,
			.uris_len = uris.len,
		};
		upstream_submit(d, s, id, &call);
	}
	jbuf_free(&uris);
}

static void op_evict(struct daemon *d, struct session *s, uint64_t id,
		    const struct op_params *params)
{
	char user[USER_MAX + 1], mcp[NAME_MAX_LEN + 1];
	int have_mcp;

	char err[256];

	if (get_str(s, id, params, P_USER, true, user, sizeof(user)) < 0 ||
	    (have_mcp = get_str(s, id, params, P_MCP, false, mcp, sizeof(mcp))) < 0)
		return;
	/* They are logged: the rules of the ops that create entries apply. */
	if (catalog_check_name(user, strlen(user), USER_MAX, err, sizeof(err)) < 0) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "user: %s", err);
		return;
	}
	if (have_mcp && catalog_check_name(mcp, strlen(mcp), NAME_MAX_LEN, err, sizeof(err)) < 0) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "mcp: %s", err);
		return;
	}
	admin_evict(d, s, id, user, have_mcp ? mcp : NULL);
}

typedef void (*op_fn)(struct daemon *d, struct session *s, uint64_t id,
		      const struct op_params *params);

static const struct op {
	const char *name;
	op_fn fn;
	bool admin; /* sees or changes the pool for everyone: session_is_admin() only */
} op_table[] = {
	{ "call", op_call, false },
	{ "request", op_request, false },
	{ "tools", op_tools, false },
	{ "warm", op_warm, false },
	{ "listen", op_listen, false },
	{ "evict", op_evict, false }, /* an app closes its own users' connections (logout) */
	{ "cleanup", admin_cleanup, true },
	{ "pool_status", admin_pool_status, true },
	{ "servers", admin_servers, false },
	{ "metrics", admin_metrics, true },
	{ "reload", admin_reload, true },
	{ "admin", admin_login, false },
};

void ops_dispatch(struct daemon *d, struct session *s, uint64_t id, const char *op,
		  size_t op_len, const msgpack_object *params)
{
	struct op_params index;

	for (size_t i = 0; i < sizeof(op_table) / sizeof(op_table[0]); i++) {
		const struct op *o = &op_table[i];
		if (strlen(o->name) != op_len || memcmp(o->name, op, op_len) != 0)
			continue;
		if (o->admin && !session_is_admin(s)) {
			session_reply_error(s, id, ERR_FORBIDDEN,
					    "\"%s\" is an admin op: it needs the daemon's uid, root, "
					    "membership of MCPPOOL_ADMIN_GROUP, or the token of the daemon's "
					    "MCPPOOL_ADMIN_TOKEN_FILE sent first (mcpctl --token-file or "
					    "MCPPOOL_ADMIN_TOKEN, mcppool_admin_token(), Node adminToken, "
					    "Python admin_token)", o->name);
			return;
		}
		params_index(params, &index);
		o->fn(d, s, id, &index);
		return;
	}
	d->metrics.frames_bad++;
	session_reply_error(s, id, ERR_BAD_REQUEST, "unknown op \"%.*s\"",
			    (int)(op_len > 64 ? 64 : op_len), op);
}
