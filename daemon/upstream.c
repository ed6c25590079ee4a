/* One pooled MCP connection (an upstream) and the requests that run on it. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "daemon.h"
#include "era.h"
#include "eramemo.h"
#include "errcode.h"
#include "events.h"
#include "hmap.h"
#include "inputreq.h"
#include "jsontext.h"
#include "launch.h"
#include "listcache.h"
#include "log.h"
#include "mpjson.h"
#include "pool.h"
#include "replyspin.h"
#include "session.h"
#include "tasks.h"
#include "transport.h"
#include "upstream.h"
#include "wire.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 30000
#define BACKOFF_FORGET_MS (10 * 60 * 1000) /* records older than this are dropped by the sweep */
#define LINE_KEEP_MAX (64 * 1024) /* request lines up to this size keep their buffer */
#define BAD_LINES_LOGGED 10
/*
 * The server/discover probe waits at most this long, or half of
 * MCPPOOL_START_TIMEOUT when that is less: a legacy server may say nothing to
 * a request before initialize. initialize gets what is left of the start timeout.
 */
#define DISCOVER_WAIT_MAX_MS 2000
/* Health pings in flight at once, over every connection: see "health pings" below. */
#define PING_IN_FLIGHT_MAX 16

/* Appends a string literal. */
#define append_lit(b, lit) jbuf_append((b), (lit), sizeof(lit) - 1)

static const char *const accepted_versions[] = {
	"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
};

struct upstream {
	struct daemon *d;
	enum upstream_state state;
	struct pool_entry *entry; /* NULL once out of the pool */
	struct transport t;       /* open until CLOSED */

	struct request **table;   /* ids are sequential: id & mask spreads them evenly */
	size_t table_size;        /* power of two */
	unsigned count;           /* requests in the table */
	uint64_t next_id;
	struct list_node send_queue; /* requests waiting for READY, oldest first */
	struct request *ping;        /* the health ping in flight, or NULL */
	struct list_node ping_node;  /* in d->ping_queue while it waits for a ping slot */

	enum era era;             /* ERA_UNKNOWN until the probe (or the catalog's pin) decides */
	enum protocol_pin pin;    /* the catalog entry's "protocol" */
	char *client_caps;        /* the entry's clientCapabilities (JSON text): declared to the server, accepted (inputreq.c) */
	char *era_key;            /* the entry's eramemo key (its era is kept per entry); NULL: HTTP+SSE */
	bool probing;             /* the server/discover probe is deciding the era (eramemo notes it) */
	bool era_remembered;      /* the era came from the memo (a failed start forgets it) */
	bool legacy_guessed;      /* legacy without the server's word (the memo, or silence to the probe) */
	bool reprobed;            /* a refused initialize made it probe again (once per connection) */
	uint64_t start_ms;        /* monotonic: the probe and initialize share MCPPOOL_START_TIMEOUT */
	char version[32];         /* the version spoken: initialize's answer, or ERA_MODERN_VERSION ("" while starting) */
	json_t *server;           /* protocolVersion, capabilities, serverInfo, instructions (and supportedVersions when modern) */
	unsigned bad_lines;
	struct tasks_conn tasks;  /* the tasks this connection created (tasks.h) */
	struct reply_clock replies; /* how fast its server answers: whether to poll for a reply (replyspin.h) */

	/* A failure found where the owner of the call stack must not be closed under it. */
	ev_timer death_w;
	int death_code;
	enum close_reason death_why;
	char death_reason[160];

	/* Why it closed, for the requests failed by upstream_set_state(CLOSED). */
	int close_code;
	char close_reason[256];

	struct deferred free_node;
	uint64_t spawned_ns; /* monotonic: for the cold-start histogram */
	char tag[]; /* the pool key, for logs */
};

/* Why starts of one key are refused for a while: repeated failures back off. */
struct start_failure {
	struct hmap_node node;
	char *key;
	unsigned failures;
	uint64_t retry_at_ms; /* monotonic */
	unsigned char auth_hash[32];
	char reason[256];
};

static void upstream_close(struct upstream *u, enum close_reason why, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void request_finish(struct request *r);
static void ping_dequeue(struct upstream *u);
static void ping_ended(struct upstream *u);
static void upstream_ready(struct upstream *u);
static void era_legacy(struct upstream *u, const char *version, const char *why);
static void discover_answered(struct upstream *u, const char *text, size_t len);
static void discover_refused(struct upstream *u, json_t *error);
static void modern_assumption_failed(struct upstream *u, const char *why);
static bool legacy_guess_refused(struct upstream *u, const char *why);
static json_t *server_of_discover(json_t *result);
static void request_finish_error(struct request *r, int code, const char *reason);
static void send_line(struct upstream *u, const char *line, size_t len, const struct transport_msg *info);
static int listen_subscribe(struct upstream *u, struct request *r, char *err, size_t errlen);

bool mcp_version_supported(const char *v)
{
	for (size_t i = 0; i < sizeof(accepted_versions) / sizeof(accepted_versions[0]); i++)
		if (strcmp(v, accepted_versions[i]) == 0)
			return true;
	return false;
}

static struct pool_clock clock_now(void)
{
	struct pool_clock c = { .wall_ms = now_wall_ms(), .mono_ms = now_mono_ms() };
	return c;
}

/*
 * With MCPPOOL_POOL_CHECK (make asan), every change of the pool is followed by
 * pool_check(): a broken invariant stops the daemon where it broke.
 */
static void pool_checked(struct daemon *d)
{
#ifdef MCPPOOL_POOL_CHECK
	char err[256];

	if (d->pool && pool_check(d->pool, err, sizeof(err)) < 0) {
		log_error("pool invariant broken: %s", err);
		abort();
	}
#else
	(void)d;
#endif
}

/* ---- start failures and their backoff -------------------------------------- */

static void failure_free(struct daemon *d, struct start_failure *f)
{
	hmap_remove(d->start_failures, &f->node);
	free(f->key);
	free(f);
}

static struct start_failure *failure_find(struct daemon *d, const char *key)
{
	struct hmap_node *n = hmap_find(d->start_failures, key, strlen(key));
	return n ? container_of(n, struct start_failure, node) : NULL;
}

static void failure_record(struct daemon *d, const char *key, const unsigned char hash[32],
			   const char *reason)
{
	struct start_failure *f = failure_find(d, key);
	uint64_t delay;

	if (!f) {
		if (!(f = calloc(1, sizeof(*f))) || !(f->key = strdup(key))) {
			free(f);
			return;
		}
		hmap_insert(d->start_failures, &f->node, f->key, strlen(f->key));
	}
	f->failures++;
	delay = BACKOFF_FIRST_MS;
	for (unsigned i = 1; i < f->failures && delay < BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	f->retry_at_ms = now_mono_ms() + delay;
	memcpy(f->auth_hash, hash, 32);
	snprintf(f->reason, sizeof(f->reason), "%s", reason);
	d->metrics.spawn_failures++;
	metrics_start_failed(&d->metrics, key);
}

/* Nonzero ms to wait when the last start of key with this auth failed recently. */
static uint64_t failure_wait(struct daemon *d, const char *key, const unsigned char hash[32],
			     const char **reason)
{
	struct start_failure *f = failure_find(d, key);
	uint64_t now = now_mono_ms();

	if (!f || now >= f->retry_at_ms || sodium_memcmp(f->auth_hash, hash, 32) != 0)
		return 0;
	*reason = f->reason;
	return f->retry_at_ms - now;
}

static void failures_sweep(struct daemon *d)
{
	struct hmap_node *n = hmap_next(d->start_failures, NULL), *next;
	uint64_t now = now_mono_ms();

	for (; n; n = next) {
		struct start_failure *f = container_of(n, struct start_failure, node);
		next = hmap_next(d->start_failures, n);
		if (now > f->retry_at_ms + BACKOFF_FORGET_MS)
			failure_free(d, f);
	}
}

/* ---- the id table ---------------------------------------------------------- */

static int table_grow(struct upstream *u)
{
	size_t nsize = u->table_size ? u->table_size * 2 : 16;
	struct request **nt = calloc(nsize, sizeof(*nt));

	if (!nt)
		return -1;
	for (size_t i = 0; i < u->table_size; i++) {
		struct request *r = u->table[i], *next;
		for (; r; r = next) {
			next = r->hnext;
			r->hnext = nt[r->rpc_id & (nsize - 1)];
			nt[r->rpc_id & (nsize - 1)] = r;
		}
	}
	free(u->table);
	u->table = nt;
	u->table_size = nsize;
	return 0;
}

/* Gives r the next id and puts it in the table; -1 when out of memory. */
static int table_add(struct upstream *u, struct request *r)
{
	if (u->count >= u->table_size && table_grow(u) < 0)
		return -1;
	r->rpc_id = ++u->next_id;
	struct request **slot = &u->table[r->rpc_id & (u->table_size - 1)];
	r->hnext = *slot;
	*slot = r;
	u->count++;
	return 0;
}

/* Removes and returns the request with id, or NULL. */
static struct request *table_take(struct upstream *u, uint64_t id)
{
	if (!u->table_size)
		return NULL;
	for (struct request **pp = &u->table[id & (u->table_size - 1)]; *pp; pp = &(*pp)->hnext) {
		struct request *r = *pp;
		if (r->rpc_id == id) {
			*pp = r->hnext;
			r->hnext = NULL;
			r->rpc_id = 0;
			u->count--;
			return r;
		}
	}
	return NULL;
}

/* Any request of the table, or NULL when it is empty. */
static struct request *table_any(struct upstream *u)
{
	for (size_t i = 0; u->count && i < u->table_size; i++)
		if (u->table[i])
			return u->table[i];
	return NULL;
}

/* ---- the list cache (see upstream_submit in upstream.h) ------------------------- */

/* Room for any scope name: "p:" GEN ":" USER ":" MCP ":" 64 hex digits. */
#define CACHE_SCOPE_MAX (2 + 20 + 1 + CATALOG_USER_MAX + 1 + CATALOG_NAME_MAX + 1 + 64 + 1)

/*
 * Where a cacheable request's result may go, fixed at submission (the
 * catalog generation and the auth in force then), with the method and params
 * as the app sent them. A legacy connection's scope is its own (cache_conn_scope).
 */
struct cache_ask {
	const char *private_scope, *method, *params;
	size_t params_len;
	char text[]; /* public scope NUL private scope NUL method NUL params */
};

/* "P:GEN:MCP": the public results of catalog entry mcp as catalog generation gen has it. */
static void cache_public_scope(char out[CACHE_SCOPE_MAX], uint64_t gen, const char *mcp)
{
	snprintf(out, CACHE_SCOPE_MAX, "P:%" PRIu64 ":%s", gen, mcp);
}

/* "p:GEN:USER:MCP:HASH": the private results of the pool entry key ("user:mcp") with that auth hash. */
static void cache_private_scope(char out[CACHE_SCOPE_MAX], uint64_t gen, const char *key,
				const unsigned char hash[32])
{
	int n = snprintf(out, CACHE_SCOPE_MAX, "p:%" PRIu64 ":%s:", gen, key);

	/* Never a scope without its hash (it would be shared by every auth): none at all. */
	if (n > 0 && (size_t)n + 65 <= CACHE_SCOPE_MAX)
		sodium_bin2hex(out + n, 65, hash, 32);
	else
		out[0] = '\0';
}

/* "c:ADDR": a legacy connection's lists, dropped when it closes (before its memory is reused). */
static void cache_conn_scope(char out[CACHE_SCOPE_MAX], const struct upstream *u)
{
	snprintf(out, CACHE_SCOPE_MAX, "c:%p", (const void *)u);
}

/* The capability whose listChanged lets a legacy server's result of method be cached, or NULL. */
static const char *cache_legacy_capability(const char *method)
{
	if (strcmp(method, "tools/list") == 0)
		return "tools";
	if (strcmp(method, "prompts/list") == 0)
		return "prompts";
	if (strcmp(method, "resources/list") == 0 || strcmp(method, "resources/templates/list") == 0)
		return "resources";
	return NULL; /* resources/read: a notification that it changed needs a subscription */
}

/* True when u is a ready legacy connection whose server declared listChanged for method's list. */
static bool cache_legacy_ok(const struct upstream *u, const char *method)
{
	const char *cap = cache_legacy_capability(method);
	json_t *caps = json_object_get(u->server, "capabilities");

	return u->era == ERA_LEGACY && u->state == UPSTREAM_READY && cap &&
	       json_is_true(json_object_get(json_object_get(caps, cap), "listChanged"));
}

/*
 * True when call may be served from the cache. Cheap for the warm path:
 * tools/call fails at the method. A request that asked for events may be: its
 * progress token is the daemon's, outside the key, and a hit has no progress.
 */
static bool cache_eligible(const struct daemon *d, const struct mcp_call *call)
{
	return call->kind == REQ_RESULT && d->cache.max_bytes && !call->request_state &&
	       listcache_method(call->method, strlen(call->method)) &&
	       listcache_params_cacheable(call->params, call->params_len);
}

/* Answers the session with a cached result: a hit, counted as an OK reply. */
static void cache_reply(struct daemon *d, struct session *s, uint64_t client_id, const char *result,
			size_t len, struct metrics_req *obs)
{
	/* No counts kept: jsonrpc_pack packs the text as it is. */
	struct jsonrpc_msg m = { .result = { .start = 0, .end = len } };

	listcache_note(&d->cache, true);
	d->metrics.replies_by_code[ERR_OK]++;
	session_reply_json_member(s, client_id, result, &m, &m.result);
	metrics_request_end(d, obs, ERR_OK);
}

/*
 * Before a connection is chosen: serves call from a modern server's fresh
 * result, public (its catalog entry's) or private (its pool entry's: the same
 * user and auth). scopes gets both names. True when the session was answered.
 */
static bool cache_serve_modern(struct daemon *d, struct session *s, uint64_t client_id,
			       const struct mcp_call *call, char scopes[2][CACHE_SCOPE_MAX],
			       struct metrics_req *obs)
{
	unsigned char hash[32];
	uint64_t now = now_mono_ms();
	const char *hit;
	size_t len, ulen = strlen(call->user);
	char key[CATALOG_USER_MAX + 1 + CATALOG_NAME_MAX + 1];

	cache_public_scope(scopes[0], d->catalog_gen, call->entry->name);
	if (call->auth->n == 0)
		memcpy(hash, d->empty_auth_hash, sizeof(hash));
	else
		auth_hash(call->auth, d->auth_key, hash);
	memcpy(key, call->user, ulen); /* bounded as in upstream_acquire() */
	key[ulen] = ':';
	memcpy(key + ulen + 1, call->entry->name, strlen(call->entry->name) + 1);
	cache_private_scope(scopes[1], d->catalog_gen, key, hash);
	sodium_memzero(hash, sizeof(hash));
	for (int i = 0; i < 2; i++)
		if (scopes[i][0] &&
		    (hit = listcache_peek(&d->cache, scopes[i], call->method, call->params,
					  call->params_len, now, &len))) {
			cache_reply(d, s, client_id, hit, len, obs);
			return true;
		}
	return false;
}

/*
 * With u chosen: serves call from u's own lists when it is a legacy
 * connection that caches them. *cacheable becomes false when u is a legacy
 * connection that does not (its result is not stored). True when answered.
 */
static bool cache_serve_legacy(struct upstream *u, struct session *s, uint64_t client_id,
			       const struct mcp_call *call, bool *cacheable, struct metrics_req *obs)
{
	char scope[CACHE_SCOPE_MAX];
	const char *hit;
	size_t len;

	if (u->state != UPSTREAM_READY || u->era != ERA_LEGACY)
		return false;
	if (!cache_legacy_ok(u, call->method)) {
		*cacheable = false;
		return false;
	}
	cache_conn_scope(scope, u);
	if (!(hit = listcache_peek(&u->d->cache, scope, call->method, call->params, call->params_len,
				   now_mono_ms(), &len)))
		return false;
	cache_reply(u->d, s, client_id, hit, len, obs);
	return true;
}

/* A miss: r (call's record) remembers where its result may go. Without memory it is not cached. */
static void cache_ask(struct request *r, const struct mcp_call *call, char scopes[2][CACHE_SCOPE_MAX])
{
	size_t pl = strlen(scopes[0]) + 1, vl = strlen(scopes[1]) + 1, ml = strlen(call->method) + 1;
	struct cache_ask *a = malloc(sizeof(*a) + pl + vl + ml + call->params_len + 1);

	listcache_note(&r->u->d->cache, false);
	if (!a)
		return;
	memcpy(a->text, scopes[0], pl);
	a->private_scope = memcpy(a->text + pl, scopes[1], vl);
	a->method = memcpy(a->text + pl + vl, call->method, ml);
	a->params = call->params ? a->text + pl + vl + ml : NULL;
	a->params_len = call->params_len;
	if (call->params_len)
		memcpy(a->text + pl + vl + ml, call->params, call->params_len);
	r->cache = a;
}

/* r's result came (result: its JSON text): stored where its server's era and hints allow. */
static void cache_store(struct request *r, const char *result, size_t len)
{
	struct upstream *u = r->u;
	struct cache_ask *a = r->cache;
	char scope[CACHE_SCOPE_MAX];
	uint64_t ttl;
	bool public;

	if (u->era == ERA_MODERN && listcache_hints(result, len, &ttl, &public) &&
	    (public || a->private_scope[0]))
		listcache_put(&u->d->cache, public ? a->text : a->private_scope, a->method, a->params,
			      a->params_len, result, len, now_mono_ms() + ttl);
	else if (cache_legacy_ok(u, a->method)) {
		cache_conn_scope(scope, u);
		listcache_put(&u->d->cache, scope, a->method, a->params, a->params_len, result, len,
			      LISTCACHE_FOREVER);
	}
}

/* r's result will depend on input the app gives (a held server request): not cached. */
static void cache_forget(struct request *r)
{
	if (r) {
		free(r->cache);
		r->cache = NULL;
	}
}

static bool span_is(const char *line, const struct jsonrpc_span *s, const char *lit);

/*
 * A notification m from u's server: a list_changed drops that list from u's
 * scopes: its connection's (legacy), or its catalog entry's and pool entry's
 * (modern).
 */
static void cache_list_changed(struct upstream *u, const char *line, const struct jsonrpc_msg *m)
{
	static const struct {
		const char *note;
		const char *lists[2];
	} changes[] = {
		{ "\"notifications/tools/list_changed\"", { "tools/list", NULL } },
		{ "\"notifications/prompts/list_changed\"", { "prompts/list", NULL } },
		{ "\"notifications/resources/list_changed\"",
		  { "resources/list", "resources/templates/list" } },
	};
	char scopes[3][CACHE_SCOPE_MAX];
	struct daemon *d = u->d;

	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		if (!span_is(line, &m->method, changes[i].note))
			continue;
		cache_conn_scope(scopes[0], u);
		scopes[1][0] = scopes[2][0] = '\0';
		if (u->era == ERA_MODERN && u->entry) {
			cache_public_scope(scopes[1], d->catalog_gen, u->entry->mcp);
			cache_private_scope(scopes[2], d->catalog_gen, u->entry->key, u->entry->auth_hash);
		}
		for (int k = 0; k < 2 && changes[i].lists[k]; k++)
			for (int sc = 0; sc < 3; sc++)
				if (scopes[sc][0])
					listcache_drop(&d->cache, scopes[sc], changes[i].lists[k]);
		log_debug("[%s] %.*s: its cached lists are dropped", u->tag,
			  (int)(m->method.end - m->method.start), line + m->method.start);
		return;
	}
}

/* u closes: its own lists go (its address may be a new connection's soon). */
static void cache_conn_closed(struct upstream *u)
{
	char scope[CACHE_SCOPE_MAX];

	cache_conn_scope(scope, u);
	listcache_drop(&u->d->cache, scope, NULL);
}

/* ---- the state --------------------------------------------------------------- */

static void upstream_free(struct deferred *x)
{
	struct upstream *u = container_of(x, struct upstream, free_node);

	ev_timer_stop(u->d->loop, &u->death_w);
	free(u->table);
	json_decref(u->server);
	free(u->client_caps);
	free(u->era_key);
	free(u);
}

/*
 * The one place the state changes, and with it the pool entry: READY marks the
 * entry ready (IDLE or ACTIVE by what waited for it); CLOSED takes it out of
 * the pool, answers every request still in flight with u->close_code and
 * close_reason, closes the transport and queues the memory for the deferred free.
 */
static void upstream_set_state(struct upstream *u, enum upstream_state s)
{
	struct daemon *d = u->d;
	struct pool_clock now = clock_now();
	struct request *r;

	switch (s) {
	case UPSTREAM_READY:
		if (u->state != UPSTREAM_STARTING)
			goto bad;
		u->state = s;
		metrics_start_observed(&d->metrics, u->tag, metrics_now_ns() - u->spawned_ns);
		pool_mark_ready(d->pool, u->entry, &now);
		pool_checked(d);
		return;
	case UPSTREAM_CLOSED:
		if (u->state == UPSTREAM_CLOSED)
			goto bad;
		u->state = s;
		ev_timer_stop(d->loop, &u->death_w);
		ping_dequeue(u);
		if (u->entry) {
			pool_remove(d->pool, u->entry);
			u->entry = NULL;
			pool_checked(d);
		}
		while ((r = table_any(u)))
			request_finish_error(r, u->close_code, u->close_reason);
		cache_conn_closed(u);
		/* A modern HTTP server keeps its tasks; a process or a session takes them along. */
		tasks_conn_closed(d, &u->tasks, u->era == ERA_MODERN &&
				  strcmp(transport_name(&u->t), "stdio") != 0, u->close_reason);
		u->t.ops->close(u->t.impl);
		daemon_defer_free(d, &u->free_node, upstream_free);
		return;
	default: /* nothing goes back to STARTING */
		break;
	}
bad:
	log_error("[%s] bad upstream state change %d -> %d", u->tag, u->state, s);
	abort();
}

/*
 * Ends u, the one place that does: it is counted under why, its requests get
 * code and the reason, and it leaves the pool. A no-op when already closed.
 */
static void upstream_close(struct upstream *u, enum close_reason why, int code, const char *fmt, ...)
{
	va_list ap;

	if (u->state == UPSTREAM_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(u->close_reason, sizeof(u->close_reason), fmt, ap);
	va_end(ap);
	u->close_code = code;
	u->d->metrics.closed[why]++;
	if (why == CLOSE_START_FAILED && u->entry)
		failure_record(u->d, u->tag, u->entry->auth_hash, u->close_reason);
	if (why == CLOSE_START_FAILED && u->era_remembered)
		eramemo_forget(u->d, u->era_key); /* the next start probes again */
	if (why == CLOSE_LOST || why == CLOSE_START_FAILED || why == CLOSE_STDIN_FULL)
		log_warn("[%s] connection lost: %s", u->tag, u->close_reason);
	upstream_set_state(u, UPSTREAM_CLOSED);
}

/* A failure found inside a call that its caller must survive: closes u from the loop. */
static void defer_death(struct upstream *u, int code, enum close_reason why, const char *reason)
{
	if (ev_is_active(&u->death_w) || u->state == UPSTREAM_CLOSED)
		return;
	u->death_code = code;
	u->death_why = why;
	snprintf(u->death_reason, sizeof(u->death_reason), "%s", reason);
	ev_timer_start(u->d->loop, &u->death_w);
}

static void on_death(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct upstream *u = w->data;
	(void)loop;
	(void)revents;

	upstream_close(u, u->death_why, u->death_code, "%s", u->death_reason);
}

/* The pool closes an idle upstream; why is known to whoever called into the pool. */
static void on_pool_close(void *ctx, struct pool_entry *e, const char *reason)
{
	struct daemon *d = ctx;
	struct upstream *u = e->conn;

	log_info("[%s] closing: %s", e->key, reason);
	u->entry = NULL; /* the pool removes it itself */
	upstream_close(u, d->pool_closing, ERR_UPSTREAM_CLOSED, "%s", reason);
}

/* ---- polling for fast replies (MCPPOOL_REPLY_SPIN_US) ------------------------------ */

/* Requests whose reply times tell how fast the server answers: not the start-up ones. */
static bool request_is_timed(const struct request *r)
{
	return r->kind == REQ_RESULT || r->kind == REQ_WARM || r->kind == REQ_PING;
}

/* r's line was just written: with spinning on, its reply is timed, and polled for when u's server answers fast. */
static void spin_sent(struct upstream *u, struct request *r)
{
	struct daemon *d = u->d;

	if (!d->cfg.reply_spin_us || !request_is_timed(r))
		return; /* off: not even timed */
	r->sent_at = ev_time();
	if (!r->spinning && reply_clock_worth_spinning(&u->replies, d->cfg.reply_spin_us)) {
		r->spinning = true;
		daemon_spin_for_reply(d, r->sent_at);
	}
}

/*
 * r's reply is in, or r ends without one (its deadline, a cancel, a close:
 * counted as slow as it was by now): u's clock learns how long it took, and
 * the loop stops polling for it.
 */
static void spin_replied(struct upstream *u, struct request *r)
{
	struct daemon *d = u->d;

	if (r->sent_at > 0) {
		reply_clock_note(&u->replies, (ev_now(d->loop) - r->sent_at) * 1e6, d->cfg.reply_spin_us);
		r->sent_at = 0;
	}
	if (r->spinning) {
		r->spinning = false;
		daemon_spin_done(d);
	}
}

/* ---- sending ------------------------------------------------------------------- */

static void send_line(struct upstream *u, const char *line, size_t len, const struct transport_msg *info)
{
	bool starting = u->state == UPSTREAM_STARTING;

	if (u->state == UPSTREAM_CLOSED || u->t.ops->send(u->t.impl, line, len, info) == 0)
		return;
	if (errno == ENOBUFS)
		defer_death(u, starting ? ERR_UPSTREAM_START_FAILED : ERR_UPSTREAM_CLOSED,
			    CLOSE_STDIN_FULL, "the server does not read its stdin (more than "
			    "MCPPOOL_MAX_STDIN_QUEUE bytes wait for it)");
	else
		defer_death(u, starting ? ERR_UPSTREAM_START_FAILED : ERR_UPSTREAM_CLOSED,
			    starting ? CLOSE_START_FAILED : CLOSE_LOST,
			    "the transport refused the message (stdin closed or HTTP failure)");
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

/* {"jsonrpc":"2.0","id":ID,"method":METHOD[,"params":PARAMS]}\n; -1 when out of memory. */
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

/* True for the requests the upstream sends while it starts, which never wait on the send queue. */
static bool request_is_startup(const struct request *r)
{
	return r->kind == REQ_INITIALIZE || r->kind == REQ_DISCOVER;
}

/* Keeps a copy of method and params in r (for the send queue, or a resend). -1 when out of memory. */
static int request_keep(struct request *r, const char *method, const char *params, size_t params_len)
{
	if (r->method)
		return 0;
	if (!(r->method = strdup(method)))
		return -1;
	if (params && params_len) {
		if (!(r->params = malloc(params_len + 1))) {
			free(r->method);
			r->method = NULL;
			return -1;
		}
		memcpy(r->params, params, params_len);
		r->params[params_len] = '\0';
		r->params_len = params_len;
	}
	return 0;
}

/*
 * Writes r's line for u's era now and sends it: its params get r's progress
 * token (when it asked for events: the token is r's id, which the id table
 * finds) and, on a modern connection (and for the probe), the daemon's _meta;
 * a health ping or warm on a modern connection is a server/discover, as
 * 2026-07-28 has no ping. Returns 0, or -1 with the reason in err (params that
 * are not an object, out of memory).
 */
static int request_transmit(struct upstream *u, struct request *r, const char *method,
			    const char *params, size_t params_len, char *err, size_t errlen)
{
	/* One buffer each for every line (the daemon has one thread): no allocation per request. */
	static struct jbuf line, with_token, with_meta;
	bool modern = u->era == ERA_MODERN || r->kind == REQ_DISCOVER;
	struct transport_msg info = { .kind = TRANSPORT_MSG_REQUEST, .id = r->rpc_id };
	const char *name_key;
	char *name = NULL;

	if (r->kind == REQ_LISTEN && !modern)
		return listen_subscribe(u, r, err, errlen); /* a legacy listen itself is never sent */
	if (r->events) {
		jbuf_reset(&with_token, LINE_KEEP_MAX);
		if (events_params_with_token(params, params_len, r->rpc_id, &with_token, err, errlen) < 0)
			return -1;
		params = with_token.data;
		params_len = with_token.len;
	}
	if (modern) {
		if (r->kind == REQ_PING || r->kind == REQ_WARM)
			method = "server/discover";
		jbuf_reset(&with_meta, LINE_KEEP_MAX);
		if (era_params_with_meta_log(params, params_len,
					     u->version[0] ? u->version : ERA_MODERN_VERSION, u->client_caps,
					     r->events ? r->log_level : NULL, &with_meta, err, errlen) < 0)
			return -1;
		params = with_meta.data;
		params_len = with_meta.len;
	}
	jbuf_reset(&line, LINE_KEEP_MAX);
	if (request_line(&line, r->rpc_id, method, params, params_len) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	info.method = method;
	/* The name is for the 2026 HTTP headers only: a legacy line goes without parsing for it. */
	if (modern && (name_key = era_name_key(method)))
		info.name = name = era_param_string(params, params_len, name_key);
	send_line(u, line.data, line.len, &info);
	spin_sent(u, r);
	free(name);
	return 0;
}

/*
 * Sends r (in the table already) as method with params; while u starts, r
 * waits on the send queue with a copy of both (the era decides its line). A
 * modern request keeps its copy until it is answered, to be sent again.
 * Returns 0, or -1 with the reason in err.
 */
static int request_send(struct upstream *u, struct request *r, const char *method,
			const char *params, size_t params_len, char *err, size_t errlen)
{
	bool queued = u->state == UPSTREAM_STARTING && !request_is_startup(r);

	if ((queued || (u->era == ERA_MODERN && r->session)) &&
	    request_keep(r, method, params, params_len) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (queued) {
		list_add_tail(&u->send_queue, &r->send_node);
		return 0;
	}
	return request_transmit(u, r, method, params, params_len, err, errlen);
}

/*
 * Sends r again with a new id, once (a modern request refused for its version,
 * or whose response stream broke); r was taken out of the id table by the
 * failure. Its deadline runs on. Returns 0, or -1 (r untouched) when it cannot be.
 */
static int request_resend(struct upstream *u, struct request *r)
{
	char err[160];

	if (r->resends || !r->method || u->state != UPSTREAM_READY || r->rpc_id || table_add(u, r) < 0)
		return -1;
	r->resends++;
	if (request_transmit(u, r, r->method, r->params, r->params_len, err, sizeof(err)) < 0) {
		table_take(u, r->rpc_id);
		return -1;
	}
	log_info("[%s] sent %s again (request %" PRIu64 ")", u->tag, r->method, r->rpc_id);
	return 0;
}

static void request_finish_error(struct request *r, int code, const char *reason);

/* Sends what waited for READY, in order; one that cannot be sent fails on its own. */
static void flush_send_queue(struct upstream *u)
{
	while (!list_empty(&u->send_queue) && u->state == UPSTREAM_READY) {
		struct request *r = list_entry(u->send_queue.next, struct request, send_node);
		char err[160];

		list_del(&r->send_node);
		if (request_transmit(u, r, r->method, r->params, r->params_len, err, sizeof(err)) < 0) {
			request_finish_error(r, ERR_BAD_REQUEST, err);
			continue;
		}
		if (u->era != ERA_MODERN || !r->session) {
			free(r->method);
			free(r->params);
			r->method = r->params = NULL;
		}
	}
}

/* Tells the server that id is cancelled; the transport stops waiting for its answer. */
static void send_cancelled(struct upstream *u, uint64_t id, const char *reason)
{
	struct transport_msg info = { .kind = TRANSPORT_MSG_NOTIFICATION, .cancels = id,
				      .method = "notifications/cancelled" };
	struct jbuf b;

	jbuf_init(&b);
	if (append_lit(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
			   "\"params\":{\"requestId\":") == 0 &&
	    append_u64(&b, id) == 0 && append_lit(&b, ",\"reason\":") == 0 &&
	    jsontext_append_string(&b, reason, strlen(reason)) == 0 && append_lit(&b, "}}\n") == 0)
		send_line(u, b.data, b.len, &info);
	jbuf_free(&b);
}

/* ---- requests ------------------------------------------------------------------ */

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents);
static void listen_end(struct upstream *u, struct request *listen);
static void send_event(struct request *r, const struct event_note *note);
static struct request *table_find(struct upstream *u, uint64_t id);

/* A new request of kind on u, in its id table; NULL when out of memory. */
static struct request *request_new(struct upstream *u, enum request_kind kind, uint64_t timeout_ms)
{
	struct request *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->u = u;
	r->kind = kind;
	r->timeout_ms = timeout_ms;
	list_init(&r->send_node);
	list_init(&r->session_node);
	ev_timer_init(&r->deadline, on_deadline, (double)timeout_ms / 1000.0, 0.);
	r->deadline.data = r;
	if (table_add(u, r) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

/*
 * Forgets r: out of the id table, the send queue and its session's list,
 * counted out of the pool, freed. An upstream retired while busy closes when
 * its last request finishes.
 */
static void request_finish(struct request *r)
{
	struct upstream *u = r->u;
	struct daemon *d = u->d;
	bool app = r->kind == REQ_RESULT || r->kind == REQ_WARM || r->kind == REQ_LISTEN;
	struct pool_clock now;

	ev_timer_stop(d->loop, &r->deadline);
	spin_replied(u, r);
	if (r->kind == REQ_LISTEN && u->state != UPSTREAM_CLOSED)
		listen_end(u, r);
	if (r->rpc_id)
		table_take(u, r->rpc_id);
	free(r->uris);
	if (list_linked(&r->send_node))
		list_del(&r->send_node);
	free(r->method);
	free(r->params);
	free(r->cache);
	if (r->session)
		session_untrack(r->session, &r->session_node);
	metrics_request_end(d, &r->obs, r->obs.code);
	if (u->ping == r)
		ping_ended(u);
	inputreq_release(r);
	free(r);
	if (!app || !u->entry)
		return;
	now = clock_now();
	if (pool_request_end(d->pool, u->entry, &now)) {
		pool_checked(d);
		log_info("[%s] drained: closing", u->tag);
		upstream_close(u, CLOSE_RETIRED, ERR_UPSTREAM_CLOSED, "drained");
		return;
	}
	pool_checked(d);
}

/* Answers r's session with an error (if it has one) and finishes r. */
static void request_finish_error(struct request *r, int code, const char *reason)
{
	struct session *s = r->session;

	r->obs.code = code;
	if (s) {
		session_untrack(s, &r->session_node); /* a failed reply may kill the session: not with r on it */
		session_reply_error(s, r->client_id, code, "%s: %s", r->u->tag, reason);
	}
	request_finish(r);
}

/* ---- listen -------------------------------------------------------------------- */

/* Fails the listen request that subscribe request sub serves, if it still listens. */
static void listen_failed(struct request *sub, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void listen_failed(struct request *sub, int code, const char *fmt, ...)
{
	struct request *listen;
	char reason[256];
	va_list ap;

	if (!(listen = table_find(sub->u, sub->listen_id)) || listen->kind != REQ_LISTEN)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_info("[%s] listen failed: %s", sub->u->tag, reason);
	request_finish_error(listen, code, reason);
}

/* Sends method {"uri": uri} as an upstream request of kind; -1 when out of memory. */
static int send_uri_request(struct upstream *u, enum request_kind kind, const char *method,
			    const char *uri, uint64_t listen_id)
{
	struct request *r;
	struct jbuf params;
	char err[160];
	int rc = -1;

	if (!(r = request_new(u, kind, u->d->cfg.request_timeout_ms)))
		return -1;
	r->listen_id = listen_id;
	jbuf_init(&params);
	if (append_lit(&params, "{\"uri\":") == 0 &&
	    jsontext_append_string(&params, uri, strlen(uri)) == 0 && append_lit(&params, "}") == 0)
		rc = request_send(u, r, method, params.data, params.len, err, sizeof(err));
	jbuf_free(&params);
	if (rc < 0) {
		request_finish(r);
		return -1;
	}
	ev_timer_start(u->d->loop, &r->deadline);
	return 0;
}

/*
 * Starts r (a new listen request) with call's uris: sent as subscriptions/listen
 * to a modern server; a legacy one gets resources/subscribe for each uri
 * (request_transmit() calls listen_subscribe() once the era is known). Returns
 * 0, or -1 when out of memory.
 */
static int listen_start(struct upstream *u, struct request *r, const struct mcp_call *call)
{
	struct jbuf params;
	char err[160];
	int rc;

	if (call->uris_len) {
		if (!(r->uris = malloc(call->uris_len)))
			return -1;
		memcpy(r->uris, call->uris, call->uris_len);
		r->uris_len = call->uris_len;
	}
	jbuf_init(&params);
	rc = events_listen_params(r->uris, r->uris_len, &params) < 0
		     ? -1 : request_send(u, r, "subscriptions/listen", params.data, params.len, err,
					 sizeof(err));
	jbuf_free(&params);
	return rc;
}

/* A legacy listen goes out: resources/subscribe for each of its uris. Returns 0, or -1 with err. */
static int listen_subscribe(struct upstream *u, struct request *r, char *err, size_t errlen)
{
	for (size_t at = 0; at < r->uris_len; at += strlen(r->uris + at) + 1)
		if (send_uri_request(u, REQ_SUBSCRIBE, "resources/subscribe", r->uris + at,
				     r->rpc_id) < 0) {
			snprintf(err, errlen, "out of memory subscribing");
			return -1;
		}
	return 0;
}

/*
 * A listen that went out ends on a live connection: a legacy one's uris are
 * unsubscribed from (answers ignored); a modern one still in the id table (the
 * server did not end it) is cancelled, which over HTTP closes its stream.
 */
static void listen_end(struct upstream *u, struct request *listen)
{
	if (list_linked(&listen->send_node))
		return; /* never went out */
	if (u->era == ERA_MODERN) {
		if (listen->rpc_id)
			send_cancelled(u, listen->rpc_id, "the listen ended");
		return;
	}
	for (size_t at = 0; at < listen->uris_len; at += strlen(listen->uris + at) + 1)
		if (send_uri_request(u, REQ_UNSUBSCRIBE, "resources/unsubscribe",
				     listen->uris + at, 0) < 0)
			log_warn("[%s] out of memory unsubscribing a listen", u->tag);
}

/*
 * Sends the change notification note to the listen its subscriptionId names
 * (modern), or else to every listen request of u (legacy: a connection's
 * notifications are every listen's).
 */
static void listen_notify(struct upstream *u, const struct event_note *note)
{
	struct request *r;

	if (u->era == ERA_MODERN && note->subscription) {
		if ((r = table_find(u, note->subscription)) && r->kind == REQ_LISTEN && r->session)
			send_event(r, note);
		return;
	}
	for (size_t i = 0; u->count && i < u->table_size; i++)
		for (r = u->table[i]; r; r = r->hnext)
			if (r->kind == REQ_LISTEN && r->session)
				send_event(r, note);
}

/*
 * A modern server acknowledged a listen (which may then be listened again
 * once if its stream breaks), or ended it with notifications/cancelled (stdio).
 */
static void listen_steer(struct upstream *u, const struct event_note *note)
{
	struct request *r = note->subscription ? table_find(u, note->subscription) : NULL;

	if (!r || r->kind != REQ_LISTEN || u->era != ERA_MODERN)
		return; /* a legacy server's ids are its own: only a modern one's name our listens */
	if (note->kind == EVENT_ACKNOWLEDGED) {
		r->resends = 0;
		return;
	}
	table_take(u, r->rpc_id); /* ended: nothing to cancel */
	log_info("[%s] the server ended a subscription", u->tag);
	request_finish_error(r, ERR_UPSTREAM_CLOSED, "the server ended the subscription: listen again");
}

/* ---- health pings -------------------------------------------------------------- */

/*
 * A server that is alive but answers nothing (blocked, deadlocked, swapped out)
 * would keep every call of its user timing out: no exit, no EOF. After a request
 * times out, and for idle upstreams at each sweep, the daemon pings it; one
 * unanswered for MCPPOOL_PING_TIMEOUT closes the connection, so that the next
 * call starts a fresh server. Any answer, an error included, is a sign of life.
 * A modern server has no ping: it gets server/discover, which it must answer
 * (an error there means the era assumption failed: see modern_assumption_failed()).
 *
 * At most PING_IN_FLIGHT_MAX pings are in flight at once; the others wait in
 * d->ping_queue, oldest first, and go out as answers (or timeouts) free a slot.
 * A sweep over 10,000 connections that pinged them all at once woke 10,000
 * processes together: on 2 CPUs none answered within the timeout and every
 * healthy connection was closed as hung. A ping's timeout runs from when it is
 * sent, so a ping judges its server, never the length of the queue ahead of it;
 * a hung server holds a slot for MCPPOOL_PING_TIMEOUT, and the rest of the queue
 * shares the other slots meanwhile. A dead child is found by its exit, not by pings.
 */
static void ping_send(struct upstream *u)
{
	struct daemon *d = u->d;
	struct request *r;
	char err[160];

	if (u->ping || u->state != UPSTREAM_READY)
		return;
	if (!(r = request_new(u, REQ_PING, d->cfg.ping_timeout_ms)))
		return;
	if (request_send(u, r, "ping", NULL, 0, err, sizeof(err)) < 0) {
		request_finish(r);
		return;
	}
	u->ping = r;
	ev_timer_start(d->loop, &r->deadline);
	d->pings_in_flight++;
	d->metrics.pings_sent++;
	if (d->pings_in_flight > d->metrics.pings_in_flight_peak)
		d->metrics.pings_in_flight_peak = d->pings_in_flight;
	log_debug("[%s] health ping sent (%u in flight, %u queued)", u->tag, d->pings_in_flight,
		  d->pings_queued);
}

/* Takes u out of the ping queue, if it waits there. */
static void ping_dequeue(struct upstream *u)
{
	if (!list_linked(&u->ping_node))
		return;
	list_del(&u->ping_node);
	u->d->pings_queued--;
}

/* Sends queued pings while slots are free; a connection that stopped being READY is skipped. */
static void ping_pump(struct daemon *d)
{
	while (d->pings_in_flight < PING_IN_FLIGHT_MAX && !list_empty(&d->ping_queue)) {
		struct upstream *u = list_entry(list_first(&d->ping_queue), struct upstream, ping_node);

		ping_dequeue(u);
		ping_send(u);
	}
}

/*
 * Pings u: now when a slot is free, else after the pings queued before it;
 * first (a request of u just timed out: its user waits on the verdict) goes
 * before the sweep's, even when u already waits among them.
 */
static void upstream_probe(struct upstream *u, bool first)
{
	struct daemon *d = u->d;

	if (u->ping || u->state != UPSTREAM_READY || (list_linked(&u->ping_node) && !first))
		return;
	ping_dequeue(u);
	if (first)
		list_add_head(&d->ping_queue, &u->ping_node);
	else
		list_add_tail(&d->ping_queue, &u->ping_node);
	d->pings_queued++;
	ping_pump(d);
}

/* u's ping ended (answered, timed out or failed with u): its slot goes to the next in the queue. */
static void ping_ended(struct upstream *u)
{
	struct daemon *d = u->d;

	u->ping = NULL;
	d->pings_in_flight--;
	if (!d->stopping)
		ping_pump(d);
}

static void ping_expired(struct upstream *u)
{
	log_warn("[%s] the server stopped answering (no reply to a ping within %llu ms): "
		 "closing the connection", u->tag, (unsigned long long)u->d->cfg.ping_timeout_ms);
	upstream_close(u, CLOSE_HUNG, ERR_UPSTREAM_CLOSED,
		       "the server stopped answering (no reply to a ping within %llu ms)",
		       (unsigned long long)u->d->cfg.ping_timeout_ms);
}

/* ---- deadlines ----------------------------------------------------------------- */

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct request *r = w->data;
	struct upstream *u = r->u;
	uint64_t id = r->rpc_id;
	(void)loop;
	(void)revents;

	switch (r->kind) {
	case REQ_INITIALIZE:
		upstream_close(u, CLOSE_START_FAILED, ERR_UPSTREAM_START_FAILED,
			       "server did not answer initialize within %" PRIu64 " ms", r->timeout_ms);
		return;
	case REQ_PING:
		ping_expired(u);
		return;
	case REQ_DISCOVER: {
		char why[80];
		snprintf(why, sizeof(why), "no answer to server/discover within %" PRIu64 " ms",
			 r->timeout_ms);
		request_finish(r);
		u->legacy_guessed = true; /* a modern server slow to start is silent too */
		era_legacy(u, MCP_PROTOCOL_VERSION, why);
		return;
	}
	case REQ_SUBSCRIBE:
		listen_failed(r, ERR_UPSTREAM_TIMEOUT, "resources/subscribe: no answer within "
			      "%" PRIu64 " ms", r->timeout_ms);
		request_finish(r);
		return;
	case REQ_UNSUBSCRIBE:
		request_finish(r);
		return;
	case REQ_LISTEN: /* has no deadline */
	case REQ_RESULT:
	case REQ_WARM:
		break;
	}
	if (!r->session) { /* held for input the app did not give in time (inputreq.h) */
		request_finish(r);
		if (u->state == UPSTREAM_READY)
			send_cancelled(u, id, "timeout");
		return;
	}
	upstream_probe(u, true); /* before request_finish(), which may end a draining upstream */
	r->obs.code = ERR_UPSTREAM_TIMEOUT;
	session_untrack(r->session, &r->session_node);
	session_reply_error(r->session, r->client_id, ERR_UPSTREAM_TIMEOUT,
			    "%s: no answer within %" PRIu64 " ms", u->tag, r->timeout_ms);
	bool sent = !list_linked(&r->send_node);
	request_finish(r);
	if (sent && u->state == UPSTREAM_READY)
		send_cancelled(u, id, "timeout");
}

void upstream_cancel(struct request *r, int code, const char *reason)
{
	struct upstream *u = r->u;
	uint64_t id = r->rpc_id;
	bool sent = !list_linked(&r->send_node) && r->kind != REQ_LISTEN; /* a listen is never sent */

	r->obs.code = code == ERR_OK ? ERR_CANCELLED : code;
	session_untrack(r->session, &r->session_node);
	if (code != ERR_OK)
		session_reply_error(r->session, r->client_id, code, "%s: %s", u->tag, reason);
	request_finish(r);
	if (sent && u->state == UPSTREAM_READY)
		send_cancelled(u, id, reason);
}

void upstream_cancel_by_client_id(struct session *s, uint64_t client_id)
{
	struct list_node *pos;

	list_for_each(pos, session_requests(s)) {
		struct request *r = list_entry(pos, struct request, session_node);
		if (r->client_id == client_id) {
			upstream_cancel(r, ERR_CANCELLED, "cancelled by the client");
			return;
		}
	}
}

/* ---- answers ------------------------------------------------------------------- */

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

/* initialize answered with result (the span's text): the upstream serves, or it failed. */
static void initialized(struct upstream *u, const char *result, size_t len)
{
	/* Once per connection, and warm hands it on as a tree: parsed whole. */
	json_t *tree = json_loadb(result, len, 0, NULL);
	const char *v = json_string_value(json_object_get(tree, "protocolVersion"));

	if (!v || !mcp_version_supported(v)) {
		upstream_close(u, CLOSE_START_FAILED, ERR_UPSTREAM_START_FAILED,
			       "server answered protocol version \"%.40s\"; mcppool accepts "
			       "2025-11-25, 2025-06-18, 2025-03-26 and 2024-11-05", v ? v : "(none)");
		json_decref(tree);
		return;
	}
	snprintf(u->version, sizeof(u->version), "%s", v);
	u->server = server_of(tree);
	json_decref(tree);
	upstream_ready(u);
}

static void reply_warm(struct request *r)
{
	struct upstream *u = r->u;
	msgpack_packer *pk;
	size_t start;

	pk = session_reply_begin(r->session, r->client_id, &start);
	msgpack_pack_map(pk, u->server ? 5 : 4);
	wire_pack_str(pk, "key");
	wire_pack_str(pk, u->tag);
	wire_pack_str(pk, "state");
	wire_pack_str(pk, u->entry ? pool_state_name(u->entry->state) : "closed");
	wire_pack_str(pk, "pid");
	msgpack_pack_int64(pk, u->t.ops->pid(u->t.impl));
	wire_pack_str(pk, "reused");
	if (r->reused)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	if (u->server) {
		wire_pack_str(pk, "server");
		mpjson_pack(pk, u->server);
	}
	session_reply_end(r->session, start);
}

/*
 * A modern server refused r's version (UnsupportedProtocolVersionError): when
 * its list still holds the version mcppool speaks, r is sent again once, with
 * a new id, and true is returned. When it holds none, the connection's era
 * assumption failed: it is retired, and r gets the error (false).
 */
static bool modern_version_refused(struct request *r, json_t *error)
{
	json_t *code = json_object_get(error, "code");
	char legacy[32], shown[200], why[260];

	if (!json_is_integer(code) || json_integer_value(code) != ERA_UNSUPPORTED_VERSION)
		return false;
	if (era_choose(json_object_get(json_object_get(error, "data"), "supported"), legacy,
		       sizeof(legacy), shown, sizeof(shown)) == ERA_CHOOSE_MODERN)
		return request_resend(r->u, r) == 0;
	snprintf(why, sizeof(why), "the server no longer supports " ERA_MODERN_VERSION
		 " (it lists %s)", shown);
	modern_assumption_failed(r->u, why); /* r is in flight: the connection drains */
	return false;
}

/* The server's error object (m->error) as a reply to r. */
static void answer_error(struct request *r, const char *line, const struct jsonrpc_msg *m)
{
	struct upstream *u = r->u;
	/* Rare, and the app gets it whole (code, message, data): parsed as a tree. */
	json_t *error = json_loadb(line + m->error.start, m->error.end - m->error.start, 0, NULL);
	const char *msg = json_string_value(json_object_get(error, "message"));

	if (!msg)
		msg = json_is_object(error) ? "the server answered with an error"
					    : "the server's error is not an object";
	switch (r->kind) {
	case REQ_INITIALIZE:
		request_finish(r);
		if (!legacy_guess_refused(u, msg))
			upstream_close(u, CLOSE_START_FAILED, ERR_UPSTREAM_START_FAILED,
				       "initialize failed: %s", msg);
		break;
	case REQ_DISCOVER:
		request_finish(r);
		discover_refused(u, error);
		break;
	case REQ_PING:
		request_finish(r); /* an error is an answer too: the server lives */
		if (u->era == ERA_MODERN) /* but a modern server must answer server/discover */
			modern_assumption_failed(u, "the server answered server/discover with an error");
		break;
	case REQ_SUBSCRIBE:
		listen_failed(r, ERR_UPSTREAM_ERROR, "resources/subscribe failed: %s", msg);
		request_finish(r);
		break;
	case REQ_UNSUBSCRIBE:
		request_finish(r);
		break;
	case REQ_LISTEN: /* never sent: cannot be answered */
	case REQ_RESULT:
	case REQ_WARM:
		if (u->era == ERA_MODERN && modern_version_refused(r, error))
			break;
		r->obs.code = ERR_UPSTREAM_ERROR;
		session_untrack(r->session, &r->session_node);
		if (json_is_object(error))
			session_reply_error_data(r->session, r->client_id, ERR_UPSTREAM_ERROR, msg, error);
		else
			session_reply_error(r->session, r->client_id, ERR_UPSTREAM_ERROR, "%s", msg);
		request_finish(r);
		break;
	}
	json_decref(error);
}

/* A modern server answered server/discover (health or warm): what warm shows is refreshed. */
static void server_refresh(struct upstream *u, const char *line, const struct jsonrpc_msg *m)
{
	json_t *result = json_loadb(line + m->result.start, m->result.end - m->result.start, 0, NULL);
	json_t *server = json_is_object(result) ? server_of_discover(result) : NULL;

	if (server) {
		json_decref(u->server);
		u->server = server;
	}
	json_decref(result);
}

/*
 * The server's result (m->result) as a reply to r: relayed from the line, no
 * tree built. A result without resultType (every legacy server's) is complete:
 * the app gets it as it is, and a modern input_required result too.
 */
static void answer_result(struct request *r, const char *line, const struct jsonrpc_msg *m)
{
	struct upstream *u = r->u;

	switch (r->kind) {
	case REQ_INITIALIZE:
		request_finish(r);
		initialized(u, line + m->result.start, m->result.end - m->result.start);
		return;
	case REQ_DISCOVER:
		request_finish(r);
		discover_answered(u, line + m->result.start, m->result.end - m->result.start);
		return;
	case REQ_PING:
		log_debug("[%s] answered a health ping", u->tag);
		if (u->era == ERA_MODERN)
			server_refresh(u, line, m);
		request_finish(r);
		return;
	case REQ_SUBSCRIBE:
	case REQ_UNSUBSCRIBE:
		request_finish(r);
		return;
	case REQ_LISTEN: /* a modern server ended the subscription gracefully */
		request_finish_error(r, ERR_UPSTREAM_CLOSED,
				     "the server ended the subscription: listen again");
		return;
	case REQ_WARM:
		if (u->era == ERA_MODERN)
			server_refresh(u, line, m);
		session_untrack(r->session, &r->session_node);
		u->d->metrics.replies_by_code[ERR_OK]++; /* errors are counted by the session */
		reply_warm(r);
		break;
	case REQ_RESULT:
		if (r->cache)
			cache_store(r, line + m->result.start, m->result.end - m->result.start);
		session_untrack(r->session, &r->session_node);
		u->d->metrics.replies_by_code[ERR_OK]++;
		tasks_note_result(u->d, &u->tasks, u, u->tag, line + m->result.start,
				  m->result.end - m->result.start);
		session_reply_json_member(r->session, r->client_id, line, m, &m->result);
		break;
	}
	request_finish(r);
}

/* The hot path: a response, found by its id, its result relayed as text. */
static void handle_response(struct upstream *u, const char *line, const struct jsonrpc_msg *m)
{
	struct request *r;

	if (!m->id_is_int || m->id_int <= 0 || !(r = table_take(u, (uint64_t)m->id_int))) {
		log_debug("[%s] ignoring a response to an unknown or cancelled id", u->tag);
		return;
	}
	daemon_note_io(u->d);
	spin_replied(u, r);
	if (m->error.end > m->error.start)
		answer_error(r, line, m);
	else if (m->result.end > m->result.start)
		answer_result(r, line, m);
	else if (r->kind == REQ_INITIALIZE) {
		request_finish(r);
		upstream_close(u, CLOSE_START_FAILED, ERR_UPSTREAM_START_FAILED,
			       "initialize failed: the response has neither result nor error");
	} else if (r->kind == REQ_DISCOVER) {
		request_finish(r);
		era_legacy(u, MCP_PROTOCOL_VERSION, "its server/discover response is not one");
	} else
		request_finish_error(r, ERR_UPSTREAM_ERROR,
				     "the server's response has neither result nor error");
}

/* True when the span is exactly the JSON string literal lit (quotes included). */
static bool span_is(const char *line, const struct jsonrpc_span *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->end - s->start == n && memcmp(line + s->start, lit, n) == 0;
}

/*
 * The app request a server request belongs to: the one whose HTTP response
 * stream carried it, else the oldest sent REQ_RESULT (over stdio nothing
 * else ties them, and every request of a connection is one user's) whose app
 * waits: one waiting for its retry has a server waiting for that retry, so a
 * new question more likely comes from a request still running.
 */
static struct request *asker_of(struct upstream *u, uint64_t stream_of)
{
	struct request *r = stream_of ? table_find(u, stream_of) : NULL, *oldest = NULL;
	struct request *waiting = NULL;

	if (r && r->kind == REQ_RESULT)
		return r;
	for (size_t i = 0; u->count && i < u->table_size; i++)
		for (r = u->table[i]; r; r = r->hnext) {
			if (r->kind != REQ_RESULT || list_linked(&r->send_node))
				continue;
			if (!oldest || r->rpc_id < oldest->rpc_id)
				oldest = r;
			if (r->session && (!waiting || r->rpc_id < waiting->rpc_id))
				waiting = r;
		}
	return waiting ? waiting : oldest;
}

/* A request from the server: ping is answered, input requests held (inputreq.h), the rest refused. */
static void handle_server_request(struct upstream *u, const char *line, const struct jsonrpc_msg *m,
				  uint64_t stream_of)
{
	struct inputreq_origin origin = { .d = u->d, .u = u, .entry = u->entry,
					  .client_caps = u->client_caps, .tag = u->tag };
	struct transport_msg info = { .kind = TRANSPORT_MSG_RESPONSE };
	const char *id = line + m->id.start, *method = line + m->method.start;
	size_t id_len = m->id.end - m->id.start, mlen = m->method.end - m->method.start;
	struct jbuf b;
	int rc;

	struct request *asker = asker_of(u, stream_of);

	if (inputreq_server_request(&origin, asker, line, m)) {
		cache_forget(asker); /* its result depends on the app's input now */
		return;
	}
	jbuf_init(&b);
	rc = append_lit(&b, "{\"jsonrpc\":\"2.0\",\"id\":") || jbuf_append(&b, id, id_len);
	if (span_is(line, &m->method, "\"ping\"")) {
		rc = rc || append_lit(&b, ",\"result\":{}}\n");
	} else {
		log_info("[%s] refused server request %.*s", u->tag, (int)(mlen > 100 ? 100 : mlen),
			 method);
		/* The method is the server's own JSON string: its escaped text goes in as it came. */
		rc = rc || append_lit(&b, ",\"error\":{\"code\":-32601,\"message\":\"Method not found: "
					  "mcppool does not support ") ||
		     jbuf_append(&b, method + 1, mlen - 2) || append_lit(&b, "\"}}\n");
	}
	if (rc == 0)
		send_line(u, b.data, b.len, &info);
	jbuf_free(&b);
}

/* The request of u with id, still in the table, or NULL. */
static struct request *table_find(struct upstream *u, uint64_t id)
{
	if (!u->table_size)
		return NULL;
	for (struct request *r = u->table[id & (u->table_size - 1)]; r; r = r->hnext)
		if (r->rpc_id == id)
			return r;
	return NULL;
}

/* The oldest request of u that asked for events (ids grow), or NULL. */
static struct request *oldest_with_events(struct upstream *u)
{
	struct request *oldest = NULL;

	for (size_t i = 0; u->count && i < u->table_size; i++)
		for (struct request *r = u->table[i]; r; r = r->hnext)
			if (r->events && r->session && (!oldest || r->rpc_id < oldest->rpc_id))
				oldest = r;
	return oldest;
}

/*
 * Progress restarts r's deadline (its own timeout from now), never past
 * MCPPOOL_MAX_REQUEST_TIME after it started, nor before its first deadline.
 */
static void request_extend(struct request *r)
{
	struct daemon *d = r->u->d;
	uint64_t now = now_mono_ms();
	uint64_t limit = r->started_ms + (r->timeout_ms > d->cfg.max_request_time_ms
						  ? r->timeout_ms : d->cfg.max_request_time_ms);
	uint64_t due = now + r->timeout_ms;

	if (due > limit)
		due = limit;
	if (due <= now)
		return; /* the deadline in force fires as it is */
	ev_timer_stop(d->loop, &r->deadline);
	ev_timer_set(&r->deadline, (double)(due - now) / 1000.0, 0.);
	ev_timer_start(d->loop, &r->deadline);
}

static void send_event(struct request *r, const struct event_note *note)
{
	size_t start;

	events_pack_params(session_event_begin(r->session, r->client_id, event_name(note->kind),
					       &start),
			   note);
	session_event_end(r->session, start);
	r->u->d->metrics.events_sent++;
}

/*
 * A notification from the server. Progress goes to the request whose id is its
 * token (when it asked for events) and restarts its deadline; a log message to
 * the request whose HTTP response stream carried it (stream_of), else the
 * oldest request in flight that asked for events (over stdio nothing ties it
 * to one, and every request of a connection is one user's).
 */
static void handle_notification(struct upstream *u, const char *line, const struct jsonrpc_msg *m,
				uint64_t stream_of)
{
	static msgpack_zone zone; /* one thread: emptied after each notification */
	static bool zone_ready;
	int mlen = (int)(m->method.end - m->method.start);
	struct event_note note;
	struct request *r = NULL;
	char err[160];

	log_debug("[%s] notification %.*s", u->tag, mlen > 100 ? 100 : mlen, line + m->method.start);
	if (!zone_ready)
		zone_ready = msgpack_zone_init(&zone, 4096);
	if (!zone_ready)
		return;
	if (events_read_note(line, m, &zone, &note, err, sizeof(err)) < 0) {
		log_debug("[%s] ignoring a notification: %s", u->tag, err);
		goto out;
	}
	switch (note.kind) {
	case EVENT_PROGRESS:
		if (note.token && (r = table_find(u, note.token)) && r->events && r->session) {
			send_event(r, &note);
			request_extend(r);
		}
		break;
	case EVENT_MESSAGE:
		if (!stream_of || !(r = table_find(u, stream_of)) || !r->events || !r->session)
			r = oldest_with_events(u);
		if (r)
			send_event(r, &note);
		break;
	case EVENT_NOTIFICATION:
		listen_notify(u, &note);
		break;
	case EVENT_ACKNOWLEDGED:
	case EVENT_CANCELLED:
		listen_steer(u, &note);
		break;
	case EVENT_NONE:
		break;
	}
out:
	msgpack_zone_clear(&zone);
}

/*
 * One message from the server, scanned (m); dispatched by what it is.
 * stream_of: the request whose HTTP response stream carried it, 0 if none.
 */
static void on_scanned(void *ctx, char *line, size_t len, const struct jsonrpc_msg *m,
		       uint64_t stream_of)
{
	struct upstream *u = ctx;
	struct request *held;

	if (u->state == UPSTREAM_CLOSED)
		return;
	if (m->method.end == m->method.start && m->id_is_int && m->id_int > 0 &&
	    (held = table_find(u, (uint64_t)m->id_int)) && inputreq_park(held, line, len))
		return; /* kept for the app's retry */
	if (m->method.end == m->method.start)
		handle_response(u, line, m);
	else if (!m->method_is_str)
		log_debug("[%s] ignoring a message whose method is not a string", u->tag);
	else if (m->id.end > m->id.start && !span_is(line, &m->id, "null"))
		handle_server_request(u, line, m, stream_of);
	else {
		cache_list_changed(u, line, m);
		handle_notification(u, line, m, stream_of);
	}
}

/* One element of a batch from the server, scanned and dispatched on its own. */
static int on_batch_element(void *ctx, const char *elem, size_t len)
{
	struct upstream *u = ctx;
	struct jsonrpc_msg m;
	char err[160];

	if (u->state == UPSTREAM_CLOSED)
		return -1;
	if (jsonrpc_scan_keep(elem, len, WIRE_MAX_DEPTH, &m, err, sizeof(err)) < 0) {
		if (u->bad_lines++ < BAD_LINES_LOGGED)
			log_warn("[%s] ignoring a batch element that is not a JSON-RPC message (%s)",
				 u->tag, err);
		return 0;
	}
	on_scanned(u, (char *)elem, len, &m, 0);
	jsonrpc_msg_release(&m);
	return 0;
}

/* One message (or a batch) from the server as text: scanned here, once. */
static void on_message(void *ctx, char *line, size_t len)
{
	struct upstream *u = ctx;
	struct jsonrpc_msg m;
	char err[160];

	if (u->state == UPSTREAM_CLOSED)
		return;
	if (jsonrpc_scan_keep(line, len, WIRE_MAX_DEPTH, &m, err, sizeof(err)) < 0) {
		/* A 2025-03-26 server may send a batch on a line: each element on its own. */
		if (jsontext_batch_each(line, len, WIRE_MAX_DEPTH, on_batch_element, u) != 0)
			return;
		/* The SDKs skip such lines too; a reply lost this way times out. */
		if (u->bad_lines++ < BAD_LINES_LOGGED)
			log_warn("[%s] ignoring a line that is not a JSON-RPC message (%s)", u->tag, err);
		return;
	}
	on_scanned(u, line, len, &m, 0);
	jsonrpc_msg_release(&m);
}

void upstream_send_response(struct upstream *u, const char *line, size_t len)
{
	struct transport_msg info = { .kind = TRANSPORT_MSG_RESPONSE };

	send_line(u, line, len, &info);
}

void upstream_replay(struct upstream *u, char *line, size_t len)
{
	on_message(u, line, len);
}

static void on_closed(void *ctx, const char *reason)
{
	struct upstream *u = ctx;
	bool starting = u->state == UPSTREAM_STARTING;

	upstream_close(u, starting ? CLOSE_START_FAILED : CLOSE_LOST,
		       starting ? ERR_UPSTREAM_START_FAILED : ERR_UPSTREAM_CLOSED, "server %s", reason);
}

/*
 * The start needs authorization (HTTP 401/403): every call waiting for it
 * gets AUTH_REQUIRED with the server's challenge as data, before the close
 * answers what is left without it.
 */
static void start_needs_auth(struct upstream *u, const char *message, const char *data_json)
{
	json_t *data = data_json ? json_loads(data_json, 0, NULL) : NULL;
	char text[512];
	struct request *r;

	snprintf(text, sizeof(text), "%s: initialize failed: %s", u->tag, message);
	while (json_is_object(data) && (r = table_any(u))) {
		if (r->session) {
			session_untrack(r->session, &r->session_node);
			session_reply_error_data(r->session, r->client_id, ERR_AUTH_REQUIRED, text, data);
		}
		request_finish(r);
	}
	json_decref(data);
}

/*
 * One request failed in the transport (an HTTP status on its POST): it fails,
 * the connection does not. A start-up request failing fails the start.
 */
static void on_request_failed(void *ctx, uint64_t id, int code, const char *message,
			      const char *data_json)
{
	struct upstream *u = ctx;
	struct request *r = table_take(u, id);
	json_t *data;

	if (!r) {
		log_debug("[%s] a transport failure of an unknown or cancelled id", u->tag);
		return;
	}
	switch (r->kind) {
	case REQ_INITIALIZE:
		request_finish(r);
		if (code != ERR_AUTH_REQUIRED && legacy_guess_refused(u, message))
			return;
		if (code == ERR_AUTH_REQUIRED)
			start_needs_auth(u, message, data_json);
		upstream_close(u, CLOSE_START_FAILED,
			       code == ERR_AUTH_REQUIRED ? ERR_AUTH_REQUIRED : ERR_UPSTREAM_START_FAILED,
			       "initialize failed: %s", message);
		return;
	case REQ_DISCOVER: /* HTTP: a 4xx without a modern error body is a legacy server */
		request_finish(r);
		if (code == ERR_AUTH_REQUIRED) { /* both eras need it: the challenge goes to the callers */
			start_needs_auth(u, message, data_json);
			upstream_close(u, CLOSE_START_FAILED, ERR_AUTH_REQUIRED,
				       "server/discover failed: %s", message);
			return;
		}
		char why[200];
		snprintf(why, sizeof(why), "server/discover failed: %.160s", message);
		era_legacy(u, MCP_PROTOCOL_VERSION, why);
		return;
	case REQ_PING: /* the server answered something: it lives */
	case REQ_UNSUBSCRIBE:
		request_finish(r);
		return;
	case REQ_SUBSCRIBE:
		listen_failed(r, code, "resources/subscribe failed: %s", message);
		request_finish(r);
		return;
	case REQ_RESULT:
	case REQ_WARM:
	case REQ_LISTEN:
		break;
	}
	r->obs.code = code;
	if (!r->session) { /* held for input: the retry finds its state gone */
		request_finish(r);
		return;
	}
	/* 2026-07-28: a broken response stream loses the request; one that may be repeated is. */
	if (u->era == ERA_MODERN && code == ERR_UPSTREAM_CLOSED && r->method &&
	    (era_method_idempotent(r->method) || r->kind == REQ_LISTEN) && request_resend(u, r) == 0)
		return;
	session_untrack(r->session, &r->session_node);
	data = data_json ? json_loads(data_json, 0, NULL) : NULL;
	if (json_is_object(data))
		session_reply_error_data(r->session, r->client_id, code, message, data);
	else
		session_reply_error(r->session, r->client_id, code, "%s: %s", u->tag, message);
	json_decref(data);
	request_finish(r);
}

static const struct transport_callbacks transport_cb = {
	.on_message = on_message,
	.on_scanned = on_scanned,
	.on_closed = on_closed,
	.on_request_failed = on_request_failed,
};

/* ---- starting ------------------------------------------------------------------ */

/* What is left of MCPPOOL_START_TIMEOUT since u started (at least 1 ms). */
static uint64_t start_left_ms(const struct upstream *u)
{
	uint64_t spent = now_mono_ms() - u->start_ms, total = u->d->cfg.start_timeout_ms;

	return spent < total ? total - spent : 1;
}

/*
 * Sends initialize offering version, declaring the entry's clientCapabilities;
 * its deadline is what is left of MCPPOOL_START_TIMEOUT. -1 when out of memory.
 */
static int send_initialize(struct upstream *u, const char *version)
{
	struct request *r = request_new(u, REQ_INITIALIZE, start_left_ms(u));
	struct jbuf params;
	char err[160];
	int rc = -1;

	if (!r)
		return -1;
	jbuf_init(&params);
	if (append_lit(&params, "{\"protocolVersion\":") == 0 &&
	    jsontext_append_string(&params, version, strlen(version)) == 0 &&
	    append_lit(&params, ",\"capabilities\":") == 0 &&
	    jbuf_append(&params, u->client_caps, strlen(u->client_caps)) == 0 &&
	    append_lit(&params, ",\"clientInfo\":{\"name\":\"" MCP_CLIENT_NAME "\",\"version\":\""
				MCP_CLIENT_VERSION "\"}}") == 0)
		rc = request_send(u, r, "initialize", params.data, params.len, err, sizeof(err));
	jbuf_free(&params);
	if (rc < 0) {
		request_finish(r);
		return -1;
	}
	ev_timer_start(u->d->loop, &r->deadline);
	return 0;
}

/*
 * Sends the server/discover probe (with the modern _meta); its deadline is
 * DISCOVER_WAIT_MAX_MS or half of MCPPOOL_START_TIMEOUT, whichever is less.
 * -1 when out of memory.
 */
static int send_discover(struct upstream *u)
{
	uint64_t wait = u->d->cfg.start_timeout_ms / 2;
	struct request *r;
	char err[160];

	if (wait > DISCOVER_WAIT_MAX_MS)
		wait = DISCOVER_WAIT_MAX_MS;
	if (!(r = request_new(u, REQ_DISCOVER, wait ? wait : 1)))
		return -1;
	if (request_send(u, r, "server/discover", NULL, 0, err, sizeof(err)) < 0) {
		request_finish(r);
		return -1;
	}
	ev_timer_start(u->d->loop, &r->deadline);
	return 0;
}

/*
 * The era is known (and initialize answered, for a legacy server, which is
 * told so with notifications/initialized): u serves.
 */
static void upstream_ready(struct upstream *u)
{
	static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";
	struct transport_msg info = { .kind = TRANSPORT_MSG_NOTIFICATION,
				      .method = "notifications/initialized" };
	struct start_failure *f;

	u->t.ops->negotiated(u->t.impl, u->version);
	if (u->era == ERA_LEGACY)
		send_line(u, note, sizeof(note) - 1, &info);
	upstream_set_state(u, UPSTREAM_READY);
	if ((f = failure_find(u->d, u->tag)))
		failure_free(u->d, f);
	log_info("[%s] ready (%s, pid %ld, %s protocol %s)", u->tag, u->t.ops->name,
		 u->t.ops->pid(u->t.impl), era_name(u->era), u->version);
	flush_send_queue(u);
}

/*
 * What an app may learn of a modern server (warm's "server"): the members of
 * its DiscoverResult that describe it, in the shape of an initialize result
 * (protocolVersion is the version spoken; serverInfo comes from the result's
 * _meta "io.modelcontextprotocol/serverInfo", or its own serverInfo), with
 * supportedVersions. NULL when result is NULL.
 */
static json_t *server_of_discover(json_t *result)
{
	static const char *keep[] = { "capabilities", "instructions", "supportedVersions" };
	json_t *out, *info;

	if (!result || !(out = json_pack("{s:s}", "protocolVersion", ERA_MODERN_VERSION)))
		return NULL;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		json_t *v = json_object_get(result, keep[i]);
		if (v)
			json_object_set(out, keep[i], v);
	}
	info = json_object_get(json_object_get(result, "_meta"), "io.modelcontextprotocol/serverInfo");
	if (!json_is_object(info))
		info = json_object_get(result, "serverInfo");
	if (json_is_object(info))
		json_object_set(out, "serverInfo", info);
	return out;
}

/*
 * The probe decided u's era: what the server said is kept for the entry's next
 * connections (eramemo.h); silence is not (a server slow to start is silent too).
 */
static void era_found(struct upstream *u)
{
	if (u->probing && u->era_key && !u->legacy_guessed)
		eramemo_note(u->d, u->era_key, u->era, u->version, u->server, now_mono_ms());
	u->probing = false;
}

/* A modern server: no handshake; result is its DiscoverResult, or NULL (pinned, or a modern error). */
static void era_modern(struct upstream *u, json_t *result)
{
	u->era = ERA_MODERN;
	snprintf(u->version, sizeof(u->version), "%s", ERA_MODERN_VERSION);
	json_decref(u->server);
	u->server = server_of_discover(result);
	era_found(u);
	upstream_ready(u);
}

/* A legacy server (why: how the probe showed it): initialize offering version. */
static void era_legacy(struct upstream *u, const char *version, const char *why)
{
	log_info("[%s] legacy server (%s): initialize with %s", u->tag, why, version);
	u->era = ERA_LEGACY;
	snprintf(u->version, sizeof(u->version), "%s", version); /* initialize's answer replaces it */
	era_found(u);
	if (send_initialize(u, version) < 0)
		upstream_close(u, CLOSE_START_FAILED, ERR_INTERNAL, "out of memory");
}

/* The probe found no version both speak: the start fails, naming the server's versions. */
static void era_none(struct upstream *u, const char *shown)
{
	upstream_close(u, CLOSE_START_FAILED, ERR_UPSTREAM_START_FAILED,
		       "the server supports protocol versions %s; mcppool speaks " ERA_MODERN_VERSION
		       ", 2025-11-25, 2025-06-18, 2025-03-26 and 2024-11-05", shown);
}

/* Acts on a version list the probe got (DiscoverResult or UnsupportedProtocolVersionError). */
static void era_from_versions(struct upstream *u, json_t *supported, json_t *result, const char *what)
{
	char legacy[32], shown[200], why[260];

	switch (era_choose(supported, legacy, sizeof(legacy), shown, sizeof(shown))) {
	case ERA_CHOOSE_MODERN:
		era_modern(u, result);
		return;
	case ERA_CHOOSE_LEGACY:
		snprintf(why, sizeof(why), "%s lists versions %s", what, shown);
		era_legacy(u, legacy, why);
		return;
	case ERA_CHOOSE_NONE:
		era_none(u, shown);
		return;
	}
}

/* server/discover answered with result: a modern server (or one whose versions say otherwise). */
static void discover_answered(struct upstream *u, const char *text, size_t len)
{
	/* Once per connection, and warm hands it on as a tree: parsed whole. */
	json_t *result = json_loadb(text, len, 0, NULL);
	json_t *supported = json_object_get(result, "supportedVersions");

	if (!json_is_object(result))
		era_legacy(u, MCP_PROTOCOL_VERSION, "its server/discover result is not an object");
	else if (!json_is_array(supported))
		/*
		 * supportedVersions is what makes a DiscoverResult: a legacy server
		 * that answers every unknown method with an empty result (some test
		 * servers do) is not modern.
		 */
		era_legacy(u, MCP_PROTOCOL_VERSION, "its server/discover result has no supportedVersions");
	else
		era_from_versions(u, supported, result, "server/discover");
	json_decref(result);
}

/*
 * server/discover answered with error: a recognised modern error means a
 * modern server (UnsupportedProtocolVersionError: its list decides); any
 * other error a legacy one. Never keyed to one code: legacy servers answer an
 * unknown request before initialize as they please (-32601, -32602, ...).
 */
static void discover_refused(struct upstream *u, json_t *error)
{
	json_int_t code = json_integer_value(json_object_get(error, "code"));
	char why[80];

	if (!json_is_integer(json_object_get(error, "code")) || !era_error_is_modern(code)) {
		snprintf(why, sizeof(why), "server/discover answered error %" JSON_INTEGER_FORMAT, code);
		era_legacy(u, MCP_PROTOCOL_VERSION, why);
	} else if (code == ERA_UNSUPPORTED_VERSION)
		era_from_versions(u, json_object_get(json_object_get(error, "data"), "supported"), NULL,
				  "UnsupportedProtocolVersionError");
	else
		era_modern(u, NULL);
}

/* Starts finding u's era: the catalog's pin decides, or the server/discover probe. -1 when out of memory. */
static int era_start(struct upstream *u)
{
	struct era_found found;

	switch (u->pin) {
	case PROTOCOL_MODERN:
		era_modern(u, NULL);
		return 0;
	case PROTOCOL_LEGACY:
		u->era = ERA_LEGACY;
		return send_initialize(u, MCP_PROTOCOL_VERSION);
	case PROTOCOL_AUTO:
		break;
	}
	if (!u->t.ops->era_probe) {
		u->era = ERA_LEGACY;
		return send_initialize(u, MCP_PROTOCOL_VERSION);
	}
	if (u->era_key && eramemo_get(u->d, u->era_key, now_mono_ms(), &found)) {
		log_info("[%s] %s server (found for this catalog entry before): no server/discover probe",
			 u->tag, found.era == ERA_MODERN ? "modern" : "legacy");
		u->era_remembered = true;
		if (found.era == ERA_LEGACY) {
			u->era = ERA_LEGACY;
			u->legacy_guessed = true;
			return send_initialize(u, found.version);
		}
		u->era = ERA_MODERN;
		snprintf(u->version, sizeof(u->version), "%s", found.version);
		json_decref(u->server);
		u->server = found.server;
		upstream_ready(u);
		return 0;
	}
	u->probing = true;
	return send_discover(u);
}

/*
 * initialize was refused (why). When legacy was a guess (the memo said so, or
 * the server was silent to the probe: a 2026-07-28 server slow to start, or
 * one upgraded since, refuses initialize), the memo is forgotten and this
 * connection probes with server/discover once more, and true is returned;
 * false when the server itself said legacy, or this connection probed again
 * already, and the start fails.
 */
static bool legacy_guess_refused(struct upstream *u, const char *why)
{
	if (!u->legacy_guessed || u->reprobed)
		return false;
	u->reprobed = true;
	log_info("[%s] initialize refused (%.160s): legacy was %s; probing with server/discover "
		 "again", u->tag, why, u->era_remembered ? "found for this catalog entry before"
							  : "a guess from a silent server");
	if (u->era_key)
		eramemo_forget(u->d, u->era_key);
	u->era_remembered = false;
	u->legacy_guessed = false;
	u->era = ERA_UNKNOWN;
	u->version[0] = '\0';
	u->probing = true;
	if (send_discover(u) < 0)
		upstream_close(u, CLOSE_START_FAILED, ERR_INTERNAL, "out of memory");
	return true;
}

/*
 * A modern connection stopped behaving as one (its health server/discover
 * failed, or it refused every version mcppool speaks): it is retired, its
 * requests in flight finish, and the next request starts a fresh connection,
 * which probes the era again.
 */
static void modern_assumption_failed(struct upstream *u, const char *why)
{
	struct daemon *d = u->d;

	if (!u->entry || u->state != UPSTREAM_READY || u->entry->state == ENTRY_DRAINING)
		return;
	log_warn("[%s] %s: retiring the connection (the next request probes the era again)", u->tag,
		 why);
	if (u->era_key)
		eramemo_forget(d, u->era_key);
	d->pool_closing = CLOSE_RETIRED;
	pool_retire(d->pool, u->entry, "the server's era changed");
	pool_checked(d);
}

/* Starts an upstream for (user, mcp); answers the session itself on failure. */
static struct upstream *upstream_start(struct daemon *d, struct session *s, uint64_t client_id,
				       const struct mcp_call *call, const unsigned char hash[32],
				       const char *key)
{
	struct pool_clock now = clock_now();
	size_t klen = strlen(key);
	struct upstream *u;
	char err[512];

	d->pool_closing = CLOSE_EVICTED;
	if (pool_make_room(d->pool, call->user) < 0) {
		session_reply_error(s, client_id, ERR_POOL_EXHAUSTED,
				    "no room for %s: user has %u of %u connections, pool has %u of %u, "
				    "and none is idle", key, pool_user_count(d->pool, call->user),
				    d->cfg.max_per_user, pool_total(d->pool), d->cfg.max_total);
		return NULL;
	}
	pool_checked(d);
	if (!(u = calloc(1, sizeof(*u) + klen + 1))) {
		session_reply_error(s, client_id, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	u->d = d;
	u->state = UPSTREAM_STARTING;
	u->pin = call->entry->protocol;
	u->start_ms = now_mono_ms();
	if (!(u->client_caps = strdup(call->entry->client_caps ? call->entry->client_caps : "{}"))) {
		free(u);
		session_reply_error(s, client_id, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	if (!call->entry->sse && !(u->era_key = eramemo_key(call->entry))) {
		free(u->client_caps);
		free(u);
		session_reply_error(s, client_id, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	memcpy(u->tag, key, klen + 1);
	list_init(&u->send_queue);
	list_init(&u->ping_node);
	tasks_conn_init(&u->tasks);
	ev_timer_init(&u->death_w, on_death, 0., 0.);
	u->death_w.data = u;
	u->spawned_ns = metrics_now_ns();
	d->metrics.spawns++;
	if (launch_open(d, call->entry, call->auth, key, &u->t, &transport_cb, u, err,
			sizeof(err)) < 0) {
		free(u->client_caps);
		free(u->era_key);
		free(u);
		failure_record(d, key, hash, err);
		log_warn("[%s] start failed: %s", key, err);
		session_reply_error(s, client_id, ERR_UPSTREAM_START_FAILED, "%s: %s", key, err);
		return NULL;
	}
	u->entry = pool_insert(d->pool, call->user, call->entry->name, hash, u, &now);
	pool_checked(d);
	metrics_pool_grew(d);
	if (!u->entry || era_start(u) < 0) {
		upstream_close(u, CLOSE_START_FAILED, ERR_INTERNAL, "out of memory");
		session_reply_error(s, client_id, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	log_info("[%s] started (%s, pid %ld)", key, u->t.ops->name, u->t.ops->pid(u->t.impl));
	return u;
}

/*
 * Finds or starts the upstream for call. Returns NULL when the session was
 * already answered with an error.
 */
static struct upstream *upstream_acquire(struct daemon *d, struct session *s, uint64_t client_id,
					 const struct mcp_call *call, bool *reused)
{
	char key[CATALOG_USER_MAX + 1 + CATALOG_NAME_MAX + 1];
	size_t ulen = strlen(call->user), nlen = strlen(call->entry->name);
	unsigned char hash[32];
	struct pool_entry *e;
	const char *why;
	uint64_t wait;

	/* both lengths are checked against those bounds by ops.c and the catalog */
	memcpy(key, call->user, ulen);
	key[ulen] = ':';
	memcpy(key + ulen + 1, call->entry->name, nlen + 1);
	if (call->auth->n == 0)
		memcpy(hash, d->empty_auth_hash, sizeof(hash));
	else
		auth_hash(call->auth, d->auth_key, hash);
	e = pool_lookup(d->pool, call->user, call->entry->name);
	if (e && sodium_memcmp(e->auth_hash, hash, 32) == 0) {
		*reused = true;
		d->metrics.reuses++;
		sodium_memzero(hash, sizeof(hash));
		return e->conn;
	}
	*reused = false;
	if (e) {
		log_info("[%s] auth changed: retiring the connection", key);
		d->metrics.auth_reconnects++;
		d->pool_closing = CLOSE_RETIRED;
		pool_retire(d->pool, e, "auth changed");
		pool_checked(d);
	}
	if ((wait = failure_wait(d, key, hash, &why))) {
		session_reply_error(s, client_id, ERR_UPSTREAM_START_FAILED,
				    "%s: %s (last start failed; next attempt in %" PRIu64 " ms)",
				    key, why, wait);
		sodium_memzero(hash, sizeof(hash));
		return NULL;
	}
	struct upstream *u = upstream_start(d, s, client_id, call, hash, key);
	sodium_memzero(hash, sizeof(hash));
	return u;
}

/*
 * A tasks/... request for a task that another connection created (tasks.h) is
 * answered here with UPSTREAM_CLOSED: true. Asked before a connection is
 * chosen (u NULL) and again with the one chosen.
 */
static bool task_refused(struct daemon *d, struct session *s, uint64_t client_id,
			 const struct mcp_call *call, const struct upstream *u)
{
	char err[512];

	if (tasks_route(d, call->user, call->entry->name, call->method, call->params,
			call->params_len, u, err, sizeof(err)) == 0)
		return false;
	session_reply_error(s, client_id, ERR_UPSTREAM_CLOSED, "%s:%s: %s", call->user,
			    call->entry->name, err);
	return true;
}

void upstream_submit(struct daemon *d, struct session *s, uint64_t client_id, struct mcp_call *call)
{
	struct pool_clock now;
	struct upstream *u;
	struct request *r = NULL;
	struct metrics_req obs;
	char err[160], scopes[2][CACHE_SCOPE_MAX];
	bool reused, cacheable;

	d->metrics.requests++;
	metrics_request_begin(d, &obs, call);
	if (d->stopping) {
		session_reply_error(s, client_id, ERR_SHUTTING_DOWN, "mcppoold is shutting down");
		goto out;
	}
	if (call->request_state) { /* a retry of an input_required the daemon made */
		inputreq_resume(d, s, client_id, call);
		goto out;
	}
	if ((cacheable = cache_eligible(d, call)) &&
	    cache_serve_modern(d, s, client_id, call, scopes, &obs))
		goto out;
	if (task_refused(d, s, client_id, call, NULL) ||
	    !(u = upstream_acquire(d, s, client_id, call, &reused)) ||
	    task_refused(d, s, client_id, call, u))
		goto out;
	if (cacheable && cache_serve_legacy(u, s, client_id, call, &cacheable, &obs))
		goto out;
	if (!(r = request_new(u, call->kind, call->timeout_ms))) {
		session_reply_error(s, client_id, ERR_INTERNAL, "out of memory");
		goto out;
	}
	r->obs = obs;
	r->session = s;
	r->client_id = client_id;
	r->reused = reused;
	now = clock_now();
	pool_request_begin(d->pool, u->entry, &now);
	pool_checked(d);
	session_track(s, &r->session_node);
	if (call->kind == REQ_LISTEN) {
		if (listen_start(u, r, call) < 0)
			request_finish_error(r, ERR_INTERNAL, "out of memory subscribing");
		else
			log_info("[%s] listening (request %" PRIu64 ")", u->tag, client_id);
		goto out; /* never sent, no deadline */
	}
	if (call->events) {
		r->events = true;
		r->started_ms = now_mono_ms();
		r->log_level = call->log_level ? call->log_level : ERA_LOG_LEVEL_DEFAULT;
	}
	if (cacheable)
		cache_ask(r, call, scopes);
	if (request_send(u, r, call->method, call->params, call->params_len, err, sizeof(err)) < 0) {
		request_finish_error(r, strcmp(err, "out of memory") == 0 ? ERR_INTERNAL : ERR_BAD_REQUEST,
				     err);
		goto out;
	}
	ev_timer_start(d->loop, &r->deadline);
out:
	if (!r) /* refused before it had a record: the session was answered with an error */
		metrics_request_end(d, &obs, d->metrics.last_error_code);
	auth_wipe(call->auth);
}

/* ---- maintenance --------------------------------------------------------------- */

size_t upstream_cleanup(struct daemon *d)
{
	struct pool_clock now = clock_now();
	size_t n;

	d->pool_closing = CLOSE_IDLE;
	n = pool_sweep(d->pool, &now, d->cfg.connection_timeout_ms);
	pool_checked(d);
	failures_sweep(d);
	if (n)
		log_info("cleanup: closed %zu idle connection%s", n, n == 1 ? "" : "s");
	return n;
}

size_t upstream_evict(struct daemon *d, const char *user, const char *mcp)
{
	size_t n;

	d->pool_closing = CLOSE_RETIRED;
	n = pool_evict(d->pool, user, mcp);
	pool_checked(d);
	return n;
}

size_t upstream_apply_config(struct daemon *d)
{
	struct pool_limits limits = { .max_per_user = d->cfg.max_per_user,
				      .max_total = d->cfg.max_total };
	double interval = d->cfg.cleanup_interval_ms / 1000.0;
	size_t n;

	d->pool_closing = CLOSE_EVICTED;
	n = pool_set_limits(d->pool, &limits);
	pool_checked(d);
	if (d->sweep_timer.repeat != interval) {
		d->sweep_timer.repeat = interval;
		ev_timer_again(d->loop, &d->sweep_timer);
	}
	return n;
}

static void probe_entry(void *arg, const struct pool_entry *e)
{
	(void)arg;
	upstream_probe(e->conn, false);
}

/* Every CLEANUP_INTERVAL: close what idled too long, then ping what is left. */
static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)loop;
	(void)revents;

	upstream_cleanup(d);
	pool_foreach_entry(d->pool, probe_entry, NULL);
}

int upstream_init(struct daemon *d)
{
	struct pool_limits limits = { .max_per_user = d->cfg.max_per_user,
				      .max_total = d->cfg.max_total };
	static const struct pool_callbacks cb = { .on_close = on_pool_close };

	if (!(d->pool = pool_new(&limits, &cb, d)) || listcache_init(&d->cache, d->cfg.cache_bytes) < 0)
		return -1;
	if (!(d->start_failures = calloc(1, sizeof(*d->start_failures))) ||
	    hmap_init(d->start_failures) < 0)
		return -1;
	list_init(&d->ping_queue);
	ev_timer_init(&d->sweep_timer, on_sweep, d->cfg.cleanup_interval_ms / 1000.0,
		      d->cfg.cleanup_interval_ms / 1000.0);
	d->sweep_timer.data = d;
	ev_timer_start(d->loop, &d->sweep_timer);
	return 0;
}

static void collect_entry(void *arg, const struct pool_entry *e)
{
	struct upstream ***cursor = arg;
	*(*cursor)++ = e->conn;
}

/* Every listen request of u, collected first: ending one changes the table. */
static void end_listens_of(struct upstream *u, int code, const char *reason)
{
	struct request **listens;
	size_t n = 0;

	if (!u->count || !(listens = calloc(u->count, sizeof(*listens))))
		return;
	for (size_t i = 0; i < u->table_size; i++)
		for (struct request *r = u->table[i]; r; r = r->hnext)
			if (r->kind == REQ_LISTEN && r->session)
				listens[n++] = r;
	for (size_t i = 0; i < n; i++)
		upstream_cancel(listens[i], code, reason);
	free(listens);
}

void upstream_end_listens(struct daemon *d, int code, const char *reason)
{
	unsigned n = pool_total(d->pool);
	struct upstream **all = calloc(n ? n : 1, sizeof(*all)), **cursor = all;

	if (!all)
		return;
	pool_foreach_entry(d->pool, collect_entry, &cursor);
	for (unsigned i = 0; i < n; i++)
		end_listens_of(all[i], code, reason);
	free(all);
}

/* Collects the upstreams of one server name (every entry of the pool, DRAINING included). */
struct server_walk {
	const char *mcp;
	struct upstream **out;
	size_t n;
};

static void collect_server(void *arg, const struct pool_entry *e)
{
	struct server_walk *w = arg;

	if (strcmp(e->mcp, w->mcp) == 0)
		w->out[w->n++] = e->conn;
}

size_t upstream_retire_server(struct daemon *d, const char *mcp)
{
	unsigned total = pool_total(d->pool);
	struct server_walk w = { mcp, calloc(total ? total : 1, sizeof(*w.out)), 0 };
	size_t n, mlen = strlen(mcp);
	struct hmap_node *f, *next;

	/*
	 * A listen never ends by itself: it would hold a retired connection, and
	 * the old server, forever. It ends now; the app listens again and gets
	 * the new one.
	 */
	if (w.out) {
		pool_foreach_entry(d->pool, collect_server, &w);
		for (size_t i = 0; i < w.n; i++)
			end_listens_of(w.out[i], ERR_UPSTREAM_CLOSED,
				       "the server's catalog entry changed or was removed: listen again");
		free(w.out);
	}
	d->pool_closing = CLOSE_RETIRED;
	n = pool_retire_mcp(d->pool, mcp, "its catalog entry changed or was removed");
	pool_checked(d);
	for (f = hmap_next(d->start_failures, NULL); f; f = next) {
		struct start_failure *sf = container_of(f, struct start_failure, node);
		size_t klen = strlen(sf->key);

		next = hmap_next(d->start_failures, f);
		if (klen > mlen && sf->key[klen - mlen - 1] == ':' &&
		    strcmp(sf->key + klen - mlen, mcp) == 0)
			failure_free(d, sf);
	}
	return n;
}

void upstream_shutdown(struct daemon *d)
{
	unsigned n = pool_total(d->pool);
	struct upstream **all = calloc(n ? n : 1, sizeof(*all)), **cursor = all;
	struct hmap_node *f;

	ev_timer_stop(d->loop, &d->sweep_timer);
	if (all) {
		pool_foreach_entry(d->pool, collect_entry, &cursor);
		for (unsigned i = 0; i < n; i++)
			upstream_close(all[i], CLOSE_SHUTDOWN, ERR_SHUTTING_DOWN,
				       "mcppoold is shutting down");
		free(all);
	}
	pool_free(d->pool);
	d->pool = NULL;
	listcache_destroy(&d->cache);
	inputreq_shutdown(d);
	tasks_shutdown(d);
	eramemo_forget_all(d);
	while ((f = hmap_next(d->start_failures, NULL)))
		failure_free(d, container_of(f, struct start_failure, node));
	hmap_destroy(d->start_failures);
	free(d->start_failures);
	d->start_failures = NULL;
}

long upstream_entry_pid(const struct pool_entry *e)
{
	const struct upstream *u = e->conn;
	return u && u->state != UPSTREAM_CLOSED ? u->t.ops->pid(u->t.impl) : 0;
}

const char *upstream_entry_transport(const struct pool_entry *e)
{
	const struct upstream *u = e->conn;
	return u ? transport_name(&u->t) : "stdio";
}

const char *upstream_entry_protocol(const struct pool_entry *e)
{
	const struct upstream *u = e->conn;
	return u ? u->version : "";
}
