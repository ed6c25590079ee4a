/* Pooled MCP connections and the requests that run on them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "backend.h"
#include "daemon.h"
#include "errcode.h"
#include "hmap.h"
#include "jsontext.h"
#include "log.h"
#include "mcpconn.h"
#include "mpjson.h"
#include "pool.h"
#include "session.h"
#include "wire.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 30000
#define BACKOFF_FORGET_MS (10 * 60 * 1000) /* records older than this are dropped by the sweep */

/* A pooled connection as the daemon sees it: the pool's entry and its MCP session. */
struct backend {
	struct daemon *d;
	struct pool_entry *entry;
	struct mcpconn *conn;
	bool destroying;
	bool was_ready;
	uint64_t probe;     /* the mcpconn handle of a health ping in flight, or 0 */
	ev_timer probe_timer; /* its deadline: MCPPOOL_PING_TIMEOUT */
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

static struct pool_clock clock_now(void)
{
	struct pool_clock c = { .wall_ms = now_wall_ms(), .mono_ms = now_mono_ms() };
	return c;
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

/* ---- connections ----------------------------------------------------------- */

/*
 * Ends a connection, the one place that does: it is counted under why, its
 * requests get code/reason, its child is shut down, and (with remove) its entry
 * leaves the pool. Re-entry from the replies it triggers is a no-op.
 */
static void backend_destroy(struct backend *be, bool remove, enum close_reason why, int code,
			    const char *reason)
{
	struct daemon *d = be->d;

	if (be->destroying)
		return;
	be->destroying = true;
	d->metrics.closed[why]++;
	ev_timer_stop(d->loop, &be->probe_timer);
	mcpconn_close(be->conn, code, reason);
	if (remove)
		pool_remove(d->pool, be->entry);
	free(be);
}

/*
 * The pool closes an idle connection: eviction, sweep or retire. Why is known
 * by whoever called into the pool, which sets d->pool_closing first.
 */
static void on_pool_close(void *ctx, struct pool_entry *e, const char *reason)
{
	struct daemon *d = ctx;
	struct backend *be = e->conn;

	log_info("[%s] closing: %s", e->key, reason);
	backend_destroy(be, false, d->pool_closing, ERR_UPSTREAM_CLOSED, reason);
}

static void on_conn_ready(void *ctx, struct mcpconn *c)
{
	struct backend *be = ctx;
	struct start_failure *f = failure_find(be->d, be->entry->key);
	struct pool_clock now = clock_now();
	(void)c;

	be->was_ready = true;
	if (f)
		failure_free(be->d, f);
	pool_mark_ready(be->d->pool, be->entry, &now);
}

static void on_conn_dead(void *ctx, struct mcpconn *c, int code, enum close_reason why,
			 const char *reason)
{
	struct backend *be = ctx;
	(void)c;

	if (!be->was_ready)
		failure_record(be->d, be->entry->key, be->entry->auth_hash, reason);
	backend_destroy(be, true, why, code, reason);
}

static const struct mcpconn_callbacks conn_cb = {
	.on_ready = on_conn_ready,
	.on_dead = on_conn_dead,
};

/* ---- health pings ------------------------------------------------------------ */

/*
 * A server that is alive but answers nothing (blocked, deadlocked, swapped out)
 * would keep every call of its user timing out: no exit, no EOF. After a request
 * times out, and for idle connections at each sweep, the daemon sends a ping;
 * one unanswered for MCPPOOL_PING_TIMEOUT closes the connection, so that the
 * next call starts a fresh server. Any answer, an error included, is a sign of life.
 */
static void on_probe_reply(void *arg, const struct mcp_reply *reply)
{
	struct backend *be = arg;

	be->probe = 0;
	if (be->destroying)
		return;
	ev_timer_stop(be->d->loop, &be->probe_timer);
	if (reply->code == ERR_OK || reply->code == ERR_UPSTREAM_ERROR)
		log_debug("[%s] answered a health ping", be->entry->key);
}

static void on_probe_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct backend *be = w->data;
	struct daemon *d = be->d;
	char reason[160];
	(void)loop;
	(void)revents;

	mcpconn_cancel(be->conn, be->probe, "no answer to ping");
	be->probe = 0;
	snprintf(reason, sizeof(reason),
		 "the server stopped answering (no reply to a ping within %llu ms)",
		 (unsigned long long)d->cfg.ping_timeout_ms);
	log_warn("[%s] %s: closing the connection", be->entry->key, reason);
	backend_destroy(be, true, CLOSE_HUNG, ERR_UPSTREAM_CLOSED, reason);
}

/* Pings be's server unless a ping is already out or the connection is not serving. */
static void backend_probe(struct backend *be)
{
	if (be->probe || be->destroying || !be->was_ready)
		return;
	be->probe = mcpconn_request(be->conn, "ping", NULL, 0, on_probe_reply, be);
	if (be->probe) {
		/* A stopped timer keeps only what was left of it: each ping gets the whole timeout. */
		ev_timer_set(&be->probe_timer, (double)be->d->cfg.ping_timeout_ms / 1000.0, 0.);
		ev_timer_start(be->d->loop, &be->probe_timer);
	}
}

/* The expanded URL and headers of an http entry; every string is wiped when freed. */
struct http_target {
	char *url;
	struct kv *headers;
	size_t nheaders;
};

static void http_target_wipe(struct http_target *h)
{
	auth_secret_free(h->url);
	for (size_t i = 0; i < h->nheaders; i++) {
		free(h->headers[i].key);
		auth_secret_free(h->headers[i].value);
	}
	free(h->headers);
	memset(h, 0, sizeof(*h));
}

static int http_target_build(const struct catalog_entry *e, const struct auth *a,
			     struct http_target *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	if (!(h->url = auth_expand(e->url, a, err, errlen)))
		return -1;
	if (e->nheaders && !(h->headers = calloc(e->nheaders, sizeof(*h->headers)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < e->nheaders; i++, h->nheaders++) {
		h->headers[i].key = strdup(e->headers[i].key);
		h->headers[i].value = auth_expand(e->headers[i].value, a, err, errlen);
		if (!h->headers[i].key || !h->headers[i].value) {
			h->nheaders++;
			return -1;
		}
	}
	return 0;
}

/* Opens the MCP session of call's entry: the secrets go into the transport and are wiped here. */
static struct mcpconn *open_conn(struct daemon *d, struct backend *be, const struct mcp_call *call,
				 const char *key, char *err, size_t errlen)
{
	struct mcpconn_options opt = {
		.transport = { .tag = key,
			       .kill_timeout_ms = d->cfg.kill_timeout_ms,
			       .request_timeout_ms = d->cfg.request_timeout_ms,
			       .max_message = d->cfg.max_message,
			       .max_queue = d->cfg.max_stdin_queue },
		.start_timeout_ms = d->cfg.start_timeout_ms,
	};
	struct transport_spec ts = { .kind = call->entry->transport };
	struct spawn_spec spec = { 0 };
	struct http_target http = { 0 };
	struct mcpconn *conn = NULL;
	int rc;

	if (ts.kind == TRANSPORT_STDIO)
		rc = auth_build_spawn(call->entry, call->auth, d->cfg.child_env, &spec, err, errlen);
	else
		rc = http_target_build(call->entry, call->auth, &http, err, errlen);
	if (rc == 0) {
		ts.spawn = &spec;
		ts.url = http.url;
		ts.headers = http.headers;
		ts.nheaders = http.nheaders;
		conn = mcpconn_start(d->loop, &ts, &opt, &conn_cb, be, err, errlen);
	}
	spawn_spec_wipe(&spec);
	http_target_wipe(&http);
	return conn;
}

/* Starts a connection for (user, mcp); answers the session itself on failure. */
static struct backend *backend_start(struct daemon *d, struct session *s, uint64_t client_id,
				     const struct mcp_call *call, const unsigned char hash[32],
				     const char *key)
{
	struct pool_clock now = clock_now();
	struct backend *be;
	char err[512];

	d->pool_closing = CLOSE_EVICTED;
	if (pool_make_room(d->pool, call->user) < 0) {
		session_reply_error(s, client_id, ERR_POOL_EXHAUSTED,
				    "no room for %s: user has %u of %u connections, pool has %u of %u, "
				    "and none is idle", key, pool_user_count(d->pool, call->user),
				    d->cfg.max_per_user, pool_total(d->pool), d->cfg.max_total);
		return NULL;
	}
	if (!(be = calloc(1, sizeof(*be)))) {
		session_reply_error(s, client_id, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	be->d = d;
	ev_timer_init(&be->probe_timer, on_probe_timeout, d->cfg.ping_timeout_ms / 1000.0, 0);
	be->probe_timer.data = be;
	be->conn = open_conn(d, be, call, key, err, sizeof(err));
	d->metrics.spawns++;
	if (!be->conn) {
		free(be);
		failure_record(d, key, hash, err);
		log_warn("[%s] start failed: %s", key, err);
		session_reply_error(s, client_id, ERR_UPSTREAM_START_FAILED, "%s: %s", key, err);
		return NULL;
	}
	be->entry = pool_insert(d->pool, call->user, call->entry->name, hash, be, &now);
	if (!be->entry) {
		be->destroying = true;
		mcpconn_close(be->conn, ERR_INTERNAL, "out of memory");
		free(be);
		session_reply_error(s, client_id, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	return be;
}

/*
 * Finds or starts the connection for call. Returns NULL when the session was
 * already answered with an error.
 */
static struct backend *backend_acquire(struct daemon *d, struct session *s, uint64_t client_id,
				       const struct mcp_call *call, bool *reused)
{
	unsigned char hash[32];
	char key[CATALOG_USER_MAX + 1 + CATALOG_NAME_MAX + 1];
	struct pool_entry *e;
	const char *why;
	uint64_t wait;

	size_t ulen = strlen(call->user), nlen = strlen(call->entry->name);

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
	}
	if ((wait = failure_wait(d, key, hash, &why))) {
		session_reply_error(s, client_id, ERR_UPSTREAM_START_FAILED,
				    "%s: %s (last start failed; next attempt in %" PRIu64 " ms)",
				    key, why, wait);
		return NULL;
	}
	struct backend *be = backend_start(d, s, client_id, call, hash, key);
	sodium_memzero(hash, sizeof(hash));
	return be;
}

/* ---- requests -------------------------------------------------------------- */

/* Detaches r from its session and its connection's accounting, and frees it. */
static void request_finish(struct request *r)
{
	struct backend *be = r->be;
	struct daemon *d = r->d;
	struct pool_clock now = clock_now();

	ev_timer_stop(d->loop, &r->deadline);
	session_untrack(r->session, &r->session_node);
	free(r);
	if (pool_request_end(d->pool, be->entry, &now)) {
		log_info("[%s] drained: closing", be->entry->key);
		backend_destroy(be, true, CLOSE_RETIRED, ERR_UPSTREAM_CLOSED, "drained");
	}
}

static void reply_warm(struct request *r)
{
	struct pool_entry *e = r->be->entry;
	const json_t *server = mcpconn_server(r->be->conn);
	msgpack_packer *pk;
	size_t start;

	pk = session_reply_begin(r->session, r->client_id, &start);
	msgpack_pack_map(pk, server ? 5 : 4);
	wire_pack_str(pk, "key");
	wire_pack_str(pk, e->key);
	wire_pack_str(pk, "state");
	wire_pack_str(pk, pool_state_name(e->state));
	wire_pack_str(pk, "pid");
	msgpack_pack_int64(pk, mcpconn_pid(r->be->conn));
	wire_pack_str(pk, "reused");
	if (r->reused)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	if (server) {
		wire_pack_str(pk, "server");
		mpjson_pack(pk, server);
	}
	session_reply_end(r->session, start);
}

static void on_upstream_reply(void *arg, const struct mcp_reply *reply)
{
	struct request *r = arg;

	daemon_note_io(r->d);
	session_untrack(r->session, &r->session_node); /* a failed reply may kill the session: not with r on it */
	if (reply->code == ERR_OK)
		r->d->metrics.replies_by_code[ERR_OK]++; /* errors are counted by the session */
	if (reply->code == ERR_OK && r->kind == REQ_WARM)
		reply_warm(r);
	else if (reply->code == ERR_OK)
		session_reply_json_member(r->session, r->client_id, reply->line, reply->scan,
					  &reply->scan->result);
	else if (reply->code == ERR_UPSTREAM_ERROR)
		session_reply_error_data(r->session, r->client_id, ERR_UPSTREAM_ERROR,
					 reply->message, reply->rpc_error);
	else
		session_reply_error(r->session, r->client_id, reply->code, "%s: %s",
				    r->be->entry->key, reply->message);
	request_finish(r);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct request *r = w->data;
	(void)loop;
	(void)revents;

	backend_probe(r->be); /* before request_finish(), which may end a draining backend */
	session_untrack(r->session, &r->session_node);
	mcpconn_cancel(r->be->conn, r->handle, "timeout");
	session_reply_error(r->session, r->client_id, ERR_UPSTREAM_TIMEOUT,
			    "%s: no answer within %" PRIu64 " ms", r->be->entry->key, r->timeout_ms);
	request_finish(r);
}

void backend_cancel(struct request *r, int code, const char *reason)
{
	session_untrack(r->session, &r->session_node);
	mcpconn_cancel(r->be->conn, r->handle, reason);
	if (code != ERR_OK)
		session_reply_error(r->session, r->client_id, code, "%s: %s", r->be->entry->key,
				    reason);
	request_finish(r);
}

void backend_cancel_by_client_id(struct session *s, uint64_t client_id)
{
	struct list_node *pos;

	list_for_each(pos, session_requests(s)) {
		struct request *r = list_entry(pos, struct request, session_node);
		if (r->client_id == client_id) {
			backend_cancel(r, ERR_CANCELLED, "cancelled by the client");
			return;
		}
	}
}

void backend_submit(struct daemon *d, struct session *s, uint64_t client_id, struct mcp_call *call)
{
	struct pool_clock now;
	struct backend *be;
	struct request *r;
	bool reused;

	d->metrics.requests++;
	if (d->stopping) {
		session_reply_error(s, client_id, ERR_SHUTTING_DOWN, "mcppoold is shutting down");
		goto out;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		session_reply_error(s, client_id, ERR_INTERNAL, "out of memory");
		goto out;
	}
	list_init(&r->session_node);
	if (!(be = backend_acquire(d, s, client_id, call, &reused))) {
		free(r);
		goto out;
	}
	r->d = d;
	r->session = s;
	r->client_id = client_id;
	r->be = be;
	r->kind = call->kind;
	r->reused = reused;
	r->timeout_ms = call->timeout_ms;
	now = clock_now();
	pool_request_begin(d->pool, be->entry, &now);
	session_track(s, &r->session_node);
	ev_timer_init(&r->deadline, on_deadline, call->timeout_ms / 1000.0, 0);
	r->deadline.data = r;
	r->handle = mcpconn_request(be->conn, call->method, call->params, call->params_len,
				    on_upstream_reply, r);
	if (!r->handle) {
		session_reply_error(s, client_id, ERR_INTERNAL, "%s: could not send the request",
				    be->entry->key);
		request_finish(r);
		goto out;
	}
	ev_timer_start(d->loop, &r->deadline);
out:
	auth_wipe(call->auth);
}

/* ---- maintenance ----------------------------------------------------------- */

size_t backend_cleanup(struct daemon *d)
{
	struct pool_clock now = clock_now();
	size_t n;

	d->pool_closing = CLOSE_IDLE;
	n = pool_sweep(d->pool, &now, d->cfg.connection_timeout_ms);

	failures_sweep(d);
	if (n)
		log_info("cleanup: closed %zu idle connection%s", n, n == 1 ? "" : "s");
	return n;
}

size_t backend_evict(struct daemon *d, const char *user, const char *mcp)
{
	d->pool_closing = CLOSE_RETIRED;
	return pool_evict(d->pool, user, mcp);
}

static void probe_entry(void *arg, const struct pool_entry *e)
{
	(void)arg;
	backend_probe(e->conn);
}

/* Every CLEANUP_INTERVAL: close what idled too long, then ping what is left. */
static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)loop;
	(void)revents;

	backend_cleanup(d);
	pool_foreach_entry(d->pool, probe_entry, NULL);
}

int backend_init(struct daemon *d)
{
	struct pool_limits limits = { .max_per_user = d->cfg.max_per_user,
				      .max_total = d->cfg.max_total };
	static const struct pool_callbacks cb = { .on_close = on_pool_close };

	if (!(d->pool = pool_new(&limits, &cb, d)))
		return -1;
	if (!(d->start_failures = calloc(1, sizeof(*d->start_failures))) ||
	    hmap_init(d->start_failures) < 0)
		return -1;
	ev_timer_init(&d->sweep_timer, on_sweep, d->cfg.cleanup_interval_ms / 1000.0,
		      d->cfg.cleanup_interval_ms / 1000.0);
	d->sweep_timer.data = d;
	ev_timer_start(d->loop, &d->sweep_timer);
	return 0;
}

static void collect_entry(void *arg, const struct pool_entry *e)
{
	struct backend ***cursor = arg;
	*(*cursor)++ = e->conn;
}

void backend_shutdown(struct daemon *d)
{
	unsigned n = pool_total(d->pool);
	struct backend **all = calloc(n ? n : 1, sizeof(*all)), **cursor = all;
	struct hmap_node *f;

	ev_timer_stop(d->loop, &d->sweep_timer);
	if (all) {
		pool_foreach_entry(d->pool, collect_entry, &cursor);
		for (unsigned i = 0; i < n; i++)
			backend_destroy(all[i], true, CLOSE_SHUTDOWN, ERR_SHUTTING_DOWN,
					"mcppoold is shutting down");
		free(all);
	}
	pool_free(d->pool);
	d->pool = NULL;
	while ((f = hmap_next(d->start_failures, NULL)))
		failure_free(d, container_of(f, struct start_failure, node));
	hmap_destroy(d->start_failures);
	free(d->start_failures);
	d->start_failures = NULL;
}

long backend_entry_pid(const struct pool_entry *e)
{
	const struct backend *be = e->conn;
	return be && be->conn ? (long)mcpconn_pid(be->conn) : 0;
}

const char *backend_entry_transport(const struct pool_entry *e)
{
	const struct backend *be = e->conn;
	return be && be->conn ? mcpconn_transport_name(be->conn) : "stdio";
}
