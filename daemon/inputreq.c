/* Held server requests: a legacy server's question to the user, turned into an input_required result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "auth.h"
#include "daemon.h"
#include "errcode.h"
#include "hmap.h"
#include "inputreq.h"
#include "jsontext.h"
#include "log.h"
#include "mpjson.h"
#include "pool.h"
#include "session.h"
#include "upstream.h"

#define STATE_PREFIX "mcppool."
#define STATE_PREFIX_LEN (sizeof(STATE_PREFIX) - 1)
#define STATE_RANDOM_BYTES 32
/* The JSON-RPC error a held request gets when its request ends first (the TS SDK's RequestTimeout). */
#define HELD_ENDED_CODE (-32001)

/* One held server request. */
struct held {
	struct held *next;
	char key[48];   /* its key in inputRequests and inputResponses */
	char *id;       /* the server's JSON-RPC id, as the JSON text it sent */
	char *method;   /* elicitation/create, sampling/createMessage or roots/list */
	char *params;   /* its params as JSON text, or NULL */
};

struct inputreq_hold {
	struct hmap_node node;          /* in d->input_holds, keyed by state */
	struct daemon *d;
	struct request *r;              /* the original app request; r->hold is this */
	char state[INPUTREQ_STATE_LEN + 1];
	char *pool_key;                 /* "user:mcp": the state is valid for it alone */
	unsigned char auth_hash[32];    /* ... and for this auth */
	struct held *held;              /* oldest first */
	unsigned asked;                 /* server requests held so far: numbers the keys */
	char *answer;                   /* the server's answer to r while detached, NUL-terminated */
	size_t answer_len;
};

/* The capability each method needs, or NULL when the method is not an input request. */
static const char *capability_of(const char *method, size_t len)
{
	static const struct {
		const char *method, *cap;
	} map[] = {
		{ "elicitation/create", "elicitation" },
		{ "sampling/createMessage", "sampling" },
		{ "roots/list", "roots" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].method) == len && memcmp(map[i].method, method, len) == 0)
			return map[i].cap;
	return NULL;
}

bool inputreq_state_is_ours(const char *s, size_t len)
{
	return len == INPUTREQ_STATE_LEN && memcmp(s, STATE_PREFIX, STATE_PREFIX_LEN) == 0;
}

static struct hmap *holds(struct daemon *d)
{
	if (!d->input_holds) {
		struct hmap *m = calloc(1, sizeof(*m));
		if (!m || hmap_init(m) < 0) {
			if (m)
				hmap_destroy(m);
			free(m);
			return NULL;
		}
		d->input_holds = m;
	}
	return d->input_holds;
}

/* ---- talking to the server ------------------------------------------------------ */

/* Sends {"jsonrpc":"2.0","id":ID,MEMBER:VALUE} (member and value as JSON text). */
static void respond(struct upstream *u, const char *id, const char *member, const char *value,
		    size_t value_len)
{
	struct jbuf b;

	jbuf_init(&b);
	if (jbuf_append(&b, "{\"jsonrpc\":\"2.0\",\"id\":", 22) == 0 &&
	    jbuf_append(&b, id, strlen(id)) == 0 && jbuf_append(&b, ",", 1) == 0 &&
	    jbuf_append(&b, member, strlen(member)) == 0 && jbuf_append(&b, ":", 1) == 0 &&
	    jbuf_append(&b, value, value_len) == 0 && jbuf_append(&b, "}\n", 2) == 0)
		upstream_send_response(u, b.data, b.len);
	jbuf_free(&b);
}

/* Answers a server request with a JSON-RPC error (message is plain text). */
static void respond_error(struct upstream *u, const char *id, int code, const char *message)
{
	json_t *e = json_pack("{s:i, s:s}", "code", code, "message", message);
	char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;

	if (text)
		respond(u, id, "\"error\"", text, strlen(text));
	free(text);
	json_decref(e);
}

/* ---- holds ----------------------------------------------------------------------- */

static void held_free(struct held *h)
{
	free(h->id);
	free(h->method);
	free(h->params);
	free(h);
}

/* A new hold for r, its state in the map; NULL when out of memory. */
static struct inputreq_hold *hold_new(const struct inputreq_origin *o, struct request *r)
{
	unsigned char rnd[STATE_RANDOM_BYTES];
	struct hmap *map = holds(o->d);
	struct inputreq_hold *h;

	if (!map || !o->entry || !(h = calloc(1, sizeof(*h))))
		return NULL;
	if (!(h->pool_key = strdup(o->entry->key))) {
		free(h);
		return NULL;
	}
	h->d = o->d;
	h->r = r;
	memcpy(h->auth_hash, o->entry->auth_hash, sizeof(h->auth_hash));
	memcpy(h->state, STATE_PREFIX, STATE_PREFIX_LEN);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2base64(h->state + STATE_PREFIX_LEN, sizeof(h->state) - STATE_PREFIX_LEN, rnd,
			  sizeof(rnd), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(rnd, sizeof(rnd));
	hmap_insert(map, &h->node, h->state, INPUTREQ_STATE_LEN); /* 256 random bits: never taken */
	r->hold = h;
	return h;
}

void inputreq_release(struct request *r)
{
	struct inputreq_hold *h = r->hold;
	struct held *x, *next;

	if (!h)
		return;
	r->hold = NULL;
	for (x = h->held; x; x = next) {
		next = x->next;
		respond_error(r->u, x->id, HELD_ENDED_CODE,
			      "mcppool: the request this input was for ended (its deadline passed, "
			      "it was cancelled or answered) before the app answered");
		held_free(x);
	}
	hmap_remove(h->d->input_holds, &h->node);
	sodium_memzero(h->state, sizeof(h->state));
	sodium_memzero(h->auth_hash, sizeof(h->auth_hash));
	free(h->pool_key);
	free(h->answer);
	free(h);
}

void inputreq_shutdown(struct daemon *d)
{
	if (!d->input_holds)
		return;
	hmap_destroy(d->input_holds);
	free(d->input_holds);
	d->input_holds = NULL;
}

/* ---- the app's side ----------------------------------------------------------------- */

/* The input_required result of h: every request it holds, keyed, and its state. */
static json_t *input_required(const struct inputreq_hold *h)
{
	json_t *reqs = json_object();
	json_t *res = json_pack("{s:s, s:o, s:s}", "resultType", "input_required",
				"inputRequests", reqs, "requestState", h->state);

	for (const struct held *x = h->held; res && x; x = x->next) {
		json_t *one = json_pack("{s:s}", "method", x->method);
		json_t *params = x->params ? json_loads(x->params, 0, NULL) : NULL;

		if (params)
			json_object_set_new(one, "params", params);
		json_object_set_new(reqs, x->key, one);
	}
	return res;
}

/* Answers r's app with h's input_required; r is detached until the retry. */
static void deliver(struct inputreq_hold *h)
{
	struct request *r = h->r;
	struct session *s = r->session;
	json_t *res = input_required(h);
	size_t start;

	session_untrack(s, &r->session_node); /* a failed reply may kill the session: not with r on it */
	r->session = NULL;
	if (!res) {
		session_reply_error(s, r->client_id, ERR_INTERNAL, "out of memory");
		return;
	}
	mpjson_pack(session_reply_begin(s, r->client_id, &start), res);
	session_reply_end(s, start);
	h->d->metrics.replies_by_code[ERR_OK]++;
	r->client_id = 0;
	json_decref(res);
}

/* The server request is one the entry declared the capability for (elicitation mode too). */
static bool declared(const char *client_caps, const char *cap, const char *line,
		     const struct jsonrpc_msg *m)
{
	json_t *caps = json_loads(client_caps ? client_caps : "{}", 0, NULL);
	json_t *c = json_object_get(caps, cap);
	bool ok = json_is_object(c);

	if (ok && strcmp(cap, "elicitation") == 0 && m->params.end > m->params.start) {
		json_t *p = json_loadb(line + m->params.start, m->params.end - m->params.start, 0, NULL);
		const char *mode = json_string_value(json_object_get(p, "mode"));

		/* Form mode is the default; url mode must be declared by name. */
		if (mode && strcmp(mode, "form") != 0)
			ok = json_is_object(json_object_get(c, mode));
		json_decref(p);
	}
	json_decref(caps);
	return ok;
}

/* Copies span of line as a NUL-terminated string; NULL when out of memory. */
static char *span_dup(const char *line, size_t start, size_t end)
{
	char *s = malloc(end - start + 1);

	if (s) {
		memcpy(s, line + start, end - start);
		s[end - start] = '\0';
	}
	return s;
}

bool inputreq_server_request(const struct inputreq_origin *o, struct request *r,
			     const char *line, const struct jsonrpc_msg *m)
{
	const char *method = line + m->method.start + 1; /* inside the quotes */
	size_t mlen = m->method.end - m->method.start - 2;
	const char *cap = capability_of(method, mlen);
	struct inputreq_hold *h = NULL;
	struct held *x = NULL, **tail;
	char *id;

	if (!cap)
		return false;
	if (!declared(o->client_caps, cap, line, m)) {
		log_info("[%s] the server asked %.*s, which its catalog entry does not declare in "
			 "clientCapabilities (\"%s\")", o->tag, (int)mlen, method, cap);
		return false;
	}
	if (!(id = span_dup(line, m->id.start, m->id.end)))
		return false;
	if (!r) {
		log_info("[%s] refused server request %.*s: no app request in flight", o->tag,
			 (int)mlen, method);
		respond_error(o->u, id, -32603, "mcppool: no app request is in flight to ask the "
				   "user for this input");
		free(id);
		return true;
	}
	/* A request waiting for its retry leaves its session's count: these are bounded together. */
	if (!r->hold && o->d->input_holds &&
	    hmap_count(o->d->input_holds) >= o->d->cfg.max_inflight) {
		log_warn("[%s] refused server request %.*s: %u requests already wait for the app's "
			 "input (MCPPOOL_MAX_INFLIGHT)", o->tag, (int)mlen, method,
			 o->d->cfg.max_inflight);
		respond_error(o->u, id, -32603, "mcppool: too many requests wait for input");
		free(id);
		return true;
	}
	if (!(h = r->hold ? r->hold : hold_new(o, r)) || !(x = calloc(1, sizeof(*x))) ||
	    !(x->method = span_dup(line, m->method.start + 1, m->method.end - 1)) ||
	    (m->params.end > m->params.start &&
	     !(x->params = span_dup(line, m->params.start, m->params.end)))) {
		if (h && !h->held)
			inputreq_release(r); /* a hold holding nothing would outlive its purpose */
		if (x)
			held_free(x);
		respond_error(o->u, id, -32603, "mcppool: out of memory");
		free(id);
		return true;
	}
	x->id = id;
	snprintf(x->key, sizeof(x->key), "%s-%u", cap, ++h->asked);
	for (tail = &h->held; *tail; tail = &(*tail)->next)
		;
	*tail = x;
	log_info("[%s] holding server request %s as input request %s", o->tag, x->method, x->key);
	if (r->session)
		deliver(h);
	return true;
}

bool inputreq_park(struct request *r, const char *line, size_t len)
{
	struct inputreq_hold *h = r->hold;

	if (!h || r->session || h->answer)
		return h && !r->session; /* a second answer to one id is dropped */
	if (!(h->answer = span_dup(line, 0, len)))
		return true; /* out of memory: lost, the retry times out at the deadline */
	h->answer_len = len;
	return true;
}

/* The hold of state, when the call may use it; NULL otherwise. */
static struct inputreq_hold *hold_for(struct daemon *d, const struct mcp_call *call)
{
	struct hmap_node *n = d->input_holds ? hmap_find(d->input_holds, call->request_state,
							 strlen(call->request_state)) : NULL;
	struct inputreq_hold *h = n ? container_of(n, struct inputreq_hold, node) : NULL;
	size_t ulen = strlen(call->user);
	unsigned char hash[32];
	bool same;

	if (!h || strncmp(h->pool_key, call->user, ulen) != 0 || h->pool_key[ulen] != ':' ||
	    strcmp(h->pool_key + ulen + 1, call->entry->name) != 0)
		return NULL;
	if (call->auth->n == 0)
		memcpy(hash, d->empty_auth_hash, sizeof(hash));
	else
		auth_hash(call->auth, d->auth_key, hash);
	same = sodium_memcmp(hash, h->auth_hash, sizeof(hash)) == 0;
	sodium_memzero(hash, sizeof(hash));
	return same ? h : NULL;
}

/* Checks the responses (an object, each answer an object); NULL with the session answered. */
static json_t *responses_of(struct session *s, uint64_t id, const struct mcp_call *call,
			    const struct inputreq_hold *h)
{
	json_t *all = call->input_responses
			      ? json_loadb(call->input_responses, call->input_responses_len, 0, NULL)
			      : json_object();

	if (!json_is_object(all)) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "inputResponses must be an object");
		json_decref(all);
		return NULL;
	}
	for (const struct held *x = h->held; x; x = x->next) {
		json_t *v = json_object_get(all, x->key);
		if (v && !json_is_object(v)) {
			session_reply_error(s, id, ERR_BAD_REQUEST,
					    "inputResponses.%s must be an object: the result of %s",
					    x->key, x->method);
			json_decref(all);
			return NULL;
		}
	}
	return all;
}

void inputreq_resume(struct daemon *d, struct session *s, uint64_t client_id,
		     const struct mcp_call *call)
{
	struct inputreq_hold *h = hold_for(d, call);
	struct held **pp, *x;
	struct request *r;
	json_t *responses;

	if (!h) {
		session_reply_error(s, client_id, ERR_BAD_REQUEST,
				    "requestState is unknown or expired: a state the daemon minted is "
				    "valid for the same user, MCP server and auth only, until the "
				    "original request's deadline; send the request again without it");
		return;
	}
	r = h->r;
	if (r->session) {
		session_reply_error(s, client_id, ERR_BAD_REQUEST,
				    "a retry with this requestState is already in flight; wait for "
				    "its reply");
		return;
	}
	if (!(responses = responses_of(s, client_id, call, h)))
		return;
	for (pp = &h->held; (x = *pp);) {
		json_t *v = json_object_get(responses, x->key);
		char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;

		if (!text) {
			pp = &x->next;
			continue;
		}
		respond(r->u, x->id, "\"result\"", text, strlen(text));
		free(text);
		*pp = x->next;
		held_free(x);
	}
	json_decref(responses);
	r->session = s;
	r->client_id = client_id;
	r->events = r->events && call->events;
	session_track(s, &r->session_node);
	if (h->answer) {
		char *answer = h->answer;
		h->answer = NULL;
		upstream_replay(r->u, answer, h->answer_len); /* finishes r, and frees h */
		free(answer);
	} else if (h->held) {
		deliver(h); /* what got no response is asked again */
	}
}
