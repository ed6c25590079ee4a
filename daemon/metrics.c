/* Counters of the daemon's work, and their Prometheus text exposition. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "catalog.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "upstream.h"

#define POOL_WARN_EVERY_MS 60000 /* the 80 % warning, at most once a minute */

/* Bucket bounds in nanoseconds (exposed in seconds). */
static const uint64_t call_bounds_ns[METRICS_CALL_BUCKETS] = {
	1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000, 250000000,
	500000000, 1000000000, 2500000000, 5000000000, 10000000000, 30000000000, 60000000000,
};
static const uint64_t start_bounds_ns[METRICS_START_BUCKETS] = {
	50000000, 100000000, 250000000, 500000000, 1000000000, 2000000000, 5000000000,
	10000000000, 30000000000, 60000000000, 120000000000,
};

/* Where counts go when a server's slot could not be allocated: never exposed. */
static struct server_metrics overflow_slot;

static const char *const close_reason_names[CLOSE__COUNT] = {
	[CLOSE_IDLE] = "idle",
	[CLOSE_EVICTED] = "evicted",
	[CLOSE_RETIRED] = "retired",
	[CLOSE_START_FAILED] = "start_failed",
	[CLOSE_LOST] = "lost",
	[CLOSE_HUNG] = "hung",
	[CLOSE_STDIN_FULL] = "stdin_full",
	[CLOSE_SHUTDOWN] = "shutdown",
};

const char *close_reason_name(enum close_reason r)
{
	return (unsigned)r < CLOSE__COUNT ? close_reason_names[r] : "?";
}

struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		char *nb = realloc(t->buf, t->cap * 2 + (size_t)n);
		if (!nb) {
			t->failed = 1;
			return;
		}
		t->buf = nb;
		t->cap = t->cap * 2 + (size_t)n;
	}
}

static void counter(struct text *t, const char *name, const char *help, uint64_t v)
{
	put(t, "# HELP mcppool_%s %s\n# TYPE mcppool_%s counter\nmcppool_%s %llu\n", name, help,
	    name, name, (unsigned long long)v);
}

static void gauge(struct text *t, const char *name, const char *help, double v)
{
	put(t, "# HELP mcppool_%s %s\n# TYPE mcppool_%s gauge\nmcppool_%s %.17g\n", name, help,
	    name, name, v);
}

/* ---- per-server counters --------------------------------------------------- */

uint64_t metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void metrics_free(struct metrics *m)
{
	for (size_t i = 0; i < m->nservers; i++)
		free(m->servers[i].name);
	free(m->servers);
	m->servers = NULL;
	m->nservers = m->cap_servers = 0;
}

/* The slot (1-based) of name, created when absent; 0 when out of memory. */
static unsigned slot_of_name(struct metrics *m, const char *name, size_t len)
{
	for (size_t i = 0; i < m->nservers; i++)
		if (strlen(m->servers[i].name) == len && memcmp(m->servers[i].name, name, len) == 0)
			return (unsigned)i + 1;
	if (m->nservers == m->cap_servers) {
		size_t ncap = m->cap_servers ? m->cap_servers * 2 : 16;
		struct server_metrics *ns = realloc(m->servers, ncap * sizeof(*ns));
		if (!ns)
			return 0;
		m->servers = ns;
		m->cap_servers = ncap;
	}
	struct server_metrics *sm = &m->servers[m->nservers];
	memset(sm, 0, sizeof(*sm));
	if (!(sm->name = strndup(name, len)))
		return 0;
	return (unsigned)++m->nservers;
}

struct server_metrics *metrics_server(struct metrics *m, const struct catalog_entry *e)
{
	unsigned slot = e->metrics_slot;

	if (slot && slot <= m->nservers && strcmp(m->servers[slot - 1].name, e->name) == 0)
		return &m->servers[slot - 1];
	if (!(slot = slot_of_name(m, e->name, strlen(e->name))))
		return &overflow_slot;
	/* The entry is ours to annotate (catalog.h: metrics_slot); the catalog is not const. */
	((struct catalog_entry *)e)->metrics_slot = slot;
	return &m->servers[slot - 1];
}

/* The counters of the server of key "user:mcp". */
static struct server_metrics *server_of_key(struct metrics *m, const char *key)
{
	const char *mcp = strchr(key, ':');
	unsigned slot;

	mcp = mcp ? mcp + 1 : key;
	slot = slot_of_name(m, mcp, strlen(mcp));
	return slot ? &m->servers[slot - 1] : &overflow_slot;
}

static void observe(uint64_t *buckets, const uint64_t *bounds, size_t nbounds, uint64_t *sum,
		    uint64_t ns)
{
	size_t i = 0;

	while (i < nbounds && ns > bounds[i])
		i++;
	buckets[i]++;
	*sum += ns;
}

/*
 * The tool of a tools/call: ops.c builds its params as {"name":TOOL,...}, so
 * the name is the first member. Returns a malloc'd copy, or NULL.
 */
static char *tool_of(const struct mcp_call *call)
{
	static const char head[] = "{\"name\":\"";
	const char *p = call->params, *end = call->params + call->params_len;
	json_t *name;
	char *tool = NULL;

	if (!p || strcmp(call->method, "tools/call") != 0 || call->params_len < sizeof(head) ||
	    memcmp(p, head, sizeof(head) - 1) != 0)
		return NULL;
	p += sizeof(head) - 2; /* at the opening quote */
	for (const char *q = p + 1; q < end; q++) {
		if (*q == '\\') {
			q++;
			continue;
		}
		if (*q == '"') {
			name = json_loadb(p, (size_t)(q - p) + 1, JSON_DECODE_ANY, NULL);
			if (json_is_string(name))
				tool = strdup(json_string_value(name));
			json_decref(name);
			break;
		}
	}
	return tool;
}

/* "user:mcp\tmethod\ttool" for the access line; NULL when out of memory. */
static char *access_text(const struct mcp_call *call)
{
	char *tool = tool_of(call), *text = NULL;

	if (asprintf(&text, "%s:%s\t%s\t%s", call->user, call->entry->name, call->method,
		     tool ? tool : "") < 0)
		text = NULL;
	free(tool);
	return text;
}

void metrics_request_begin(struct daemon *d, struct metrics_req *rq, const struct mcp_call *call)
{
	struct server_metrics *sm = metrics_server(&d->metrics, call->entry);

	memset(rq, 0, sizeof(*rq));
	rq->t0_ns = metrics_now_ns();
	rq->slot = sm == &overflow_slot ? 0 : call->entry->metrics_slot;
	rq->timed = call->kind == REQ_RESULT;
	sm->requests++;
	if (log_access_enabled())
		rq->access = access_text(call);
}

void metrics_request_end(struct daemon *d, struct metrics_req *rq, int code)
{
	struct metrics *m = &d->metrics;
	struct server_metrics *sm;
	uint64_t ns;

	if (!rq->t0_ns)
		return;
	ns = metrics_now_ns() - rq->t0_ns;
	rq->t0_ns = 0;
	if ((unsigned)code >= ERR__COUNT)
		code = ERR_INTERNAL;
	sm = rq->slot && rq->slot <= m->nservers ? &m->servers[rq->slot - 1] : &overflow_slot;
	sm->replies_by_code[code]++;
	if (rq->timed)
		observe(sm->call_buckets, call_bounds_ns, METRICS_CALL_BUCKETS, &sm->call_sum_ns, ns);
	if (rq->access) {
		char *method = strchr(rq->access, '\t'), *tool = method ? strchr(method + 1, '\t') : NULL;
		if (tool) {
			*method++ = '\0';
			*tool++ = '\0';
			log_access(rq->access, method, tool, (double)ns / 1e6, errcode_name(code));
		}
		free(rq->access);
		rq->access = NULL;
	}
}

void metrics_start_observed(struct metrics *m, const char *key, uint64_t start_ns)
{
	struct server_metrics *sm = server_of_key(m, key);

	observe(sm->start_buckets, start_bounds_ns, METRICS_START_BUCKETS, &sm->start_sum_ns,
		start_ns);
}

void metrics_start_failed(struct metrics *m, const char *key)
{
	server_of_key(m, key)->start_failures++;
}

void metrics_pool_grew(struct daemon *d)
{
	struct metrics *m = &d->metrics;
	unsigned total = pool_total(d->pool);
	uint64_t now = now_mono_ms();

	m->pool_above_80 = (uint64_t)total * 5 > (uint64_t)d->cfg.max_total * 4;
	/* Once a minute at most, even when the pool swings around the mark. */
	if (!m->pool_above_80 || (m->pool_warned_ms && now - m->pool_warned_ms < POOL_WARN_EVERY_MS))
		return;
	m->pool_warned_ms = now;
	log_warn("the pool is above 80%% of MAX_TOTAL_CONNECTIONS: %u of %u connections; new "
		 "connections will soon evict idle ones, then fail with POOL_EXHAUSTED (raise "
		 "MAX_TOTAL_CONNECTIONS or lower CONNECTION_TIMEOUT; docs/operations.md)",
		 total, d->cfg.max_total);
}

/* ---- the exposition ---------------------------------------------------------- */

/* A label value: backslash, quote and newline escaped (the exposition format's rule). */
static void put_label(struct text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			put(t, "\\%c", *v);
		else if (*v == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *v);
	}
}

/* Servers to expose: every slot, then the catalog's entries that have none yet (zeros). */
struct exposed {
	const char **names;
	const struct server_metrics **sm; /* NULL: never used */
	unsigned (*conns)[4];             /* by the states of conn_states */
	size_t n;
};

static const enum entry_state conn_states[4] = { ENTRY_STARTING, ENTRY_IDLE, ENTRY_ACTIVE,
						 ENTRY_DRAINING };

static void count_conn(void *arg, const struct pool_entry *e)
{
	struct exposed *x = arg;

	for (size_t i = 0; i < x->n; i++) {
		if (strcmp(x->names[i], e->mcp) != 0)
			continue;
		for (int k = 0; k < 4; k++)
			if (e->state == conn_states[k])
				x->conns[i][k]++;
		return;
	}
}

static int exposed_init(struct exposed *x, const struct daemon *d)
{
	const struct metrics *m = &d->metrics;
	size_t cap = m->nservers + d->catalog.n;

	x->n = 0;
	x->names = calloc(cap ? cap : 1, sizeof(*x->names));
	x->sm = calloc(cap ? cap : 1, sizeof(*x->sm));
	x->conns = calloc(cap ? cap : 1, sizeof(*x->conns));
	if (!x->names || !x->sm || !x->conns)
		return -1;
	for (size_t i = 0; i < m->nservers; i++) {
		x->names[x->n] = m->servers[i].name;
		x->sm[x->n++] = &m->servers[i];
	}
	for (size_t i = 0; i < d->catalog.n; i++) {
		const struct catalog_entry *e = &d->catalog.entries[i];
		bool known = false;
		for (size_t j = 0; j < m->nservers && !known; j++)
			known = strcmp(m->servers[j].name, e->name) == 0;
		if (!known) {
			x->names[x->n] = e->name;
			x->sm[x->n++] = NULL;
		}
	}
	if (d->pool)
		pool_foreach_entry(d->pool, count_conn, x);
	return 0;
}

static void exposed_free(struct exposed *x)
{
	free(x->names);
	free(x->sm);
	free(x->conns);
}

static void put_histogram(struct text *t, const char *name, const char *server,
			  const uint64_t *buckets, const uint64_t *bounds, size_t nbounds,
			  uint64_t sum_ns)
{
	uint64_t cum = 0;

	for (size_t i = 0; i <= nbounds; i++) {
		cum += buckets ? buckets[i] : 0;
		put(t, "mcppool_%s_bucket{server=\"", name);
		put_label(t, server);
		if (i < nbounds)
			put(t, "\",le=\"%g\"} %llu\n", (double)bounds[i] / 1e9, (unsigned long long)cum);
		else
			put(t, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	put(t, "mcppool_%s_sum{server=\"", name);
	put_label(t, server);
	put(t, "\"} %.9g\nmcppool_%s_count{server=\"", (double)sum_ns / 1e9, name);
	put_label(t, server);
	put(t, "\"} %llu\n", (unsigned long long)cum);
}

/* The families with the "server" label. */
static void render_servers(struct text *t, const struct exposed *x)
{
	static const struct server_metrics zero;

	put(t, "# HELP mcppool_server_connections Pooled MCP connections by catalog server and state.\n"
	       "# TYPE mcppool_server_connections gauge\n");
	for (size_t i = 0; i < x->n; i++)
		for (int k = 0; k < 4; k++) {
			put(t, "mcppool_server_connections{server=\"");
			put_label(t, x->names[i]);
			put(t, "\",state=\"%s\"} %u\n", pool_state_name(conn_states[k]), x->conns[i][k]);
		}
	put(t, "# HELP mcppool_server_requests_total MCP requests that reached the pool, by catalog server.\n"
	       "# TYPE mcppool_server_requests_total counter\n");
	for (size_t i = 0; i < x->n; i++) {
		put(t, "mcppool_server_requests_total{server=\"");
		put_label(t, x->names[i]);
		put(t, "\"} %llu\n", (unsigned long long)(x->sm[i] ? x->sm[i]->requests : 0));
	}
	put(t, "# HELP mcppool_server_replies_total Their outcomes, by catalog server and code "
	       "(CANCELLED: the app went away or cancelled).\n"
	       "# TYPE mcppool_server_replies_total counter\n");
	for (size_t i = 0; i < x->n; i++)
		for (int c = 0; c < ERR__COUNT; c++) {
			put(t, "mcppool_server_replies_total{server=\"");
			put_label(t, x->names[i]);
			put(t, "\",code=\"%s\"} %llu\n", errcode_name(c),
			    (unsigned long long)(x->sm[i] ? x->sm[i]->replies_by_code[c] : 0));
		}
	put(t, "# HELP mcppool_server_start_failures_total Starts that never became ready, by catalog server.\n"
	       "# TYPE mcppool_server_start_failures_total counter\n");
	for (size_t i = 0; i < x->n; i++) {
		put(t, "mcppool_server_start_failures_total{server=\"");
		put_label(t, x->names[i]);
		put(t, "\"} %llu\n", (unsigned long long)(x->sm[i] ? x->sm[i]->start_failures : 0));
	}
	put(t, "# HELP mcppool_request_duration_seconds Latency of call, request and tools, "
	       "submission to reply, by catalog server.\n"
	       "# TYPE mcppool_request_duration_seconds histogram\n");
	for (size_t i = 0; i < x->n; i++) {
		const struct server_metrics *sm = x->sm[i] ? x->sm[i] : &zero;
		put_histogram(t, "request_duration_seconds", x->names[i], sm->call_buckets,
			      call_bounds_ns, METRICS_CALL_BUCKETS, sm->call_sum_ns);
	}
	put(t, "# HELP mcppool_start_duration_seconds Cold starts, spawn (or HTTP connect) to ready, "
	       "by catalog server.\n"
	       "# TYPE mcppool_start_duration_seconds histogram\n");
	for (size_t i = 0; i < x->n; i++) {
		const struct server_metrics *sm = x->sm[i] ? x->sm[i] : &zero;
		put_histogram(t, "start_duration_seconds", x->names[i], sm->start_buckets,
			      start_bounds_ns, METRICS_START_BUCKETS, sm->start_sum_ns);
	}
}

char *metrics_render(const struct daemon *d)
{
	const struct metrics *m = &d->metrics;
	struct text t = { .cap = 4096 };
	static const enum entry_state states[] = { ENTRY_STARTING, ENTRY_IDLE, ENTRY_ACTIVE,
						   ENTRY_DRAINING };

	if (!(t.buf = malloc(t.cap)))
		return NULL;
	t.buf[0] = '\0';
	put(&t, "# HELP mcppool_connections Pooled MCP connections by state.\n"
		"# TYPE mcppool_connections gauge\n");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		put(&t, "mcppool_connections{state=\"%s\"} %u\n", pool_state_name(states[i]),
		    pool_state_count(d->pool, states[i]));
	gauge(&t, "connections_total", "Pooled MCP connections in every state.",
	      pool_total(d->pool));
	gauge(&t, "max_connections_per_user", "MAX_CONNECTIONS_PER_USER.", d->cfg.max_per_user);
	gauge(&t, "max_total_connections", "MAX_TOTAL_CONNECTIONS.", d->cfg.max_total);
	gauge(&t, "clients", "App connections on the socket.", d->nsessions);
	gauge(&t, "uptime_seconds", "Seconds since mcppoold started.",
	      (double)now_wall_ms() / 1000.0 - d->start_time);
	counter(&t, "requests_total", "MCP requests received (call, request, tools, warm).",
		m->requests);
	put(&t, "# HELP mcppool_replies_total Replies by code (OK counts MCP results).\n"
		"# TYPE mcppool_replies_total counter\n");
	for (int c = 0; c < ERR__COUNT; c++)
		if (m->replies_by_code[c])
			put(&t, "mcppool_replies_total{code=\"%s\"} %llu\n", errcode_name(c),
			    (unsigned long long)m->replies_by_code[c]);
	counter(&t, "spawns_total", "MCP server processes started.", m->spawns);
	counter(&t, "spawn_failures_total", "Starts that never became ready.", m->spawn_failures);
	counter(&t, "reuses_total", "Requests served by an existing connection.", m->reuses);
	counter(&t, "auth_reconnects_total", "Connections replaced because the auth changed.",
		m->auth_reconnects);
	counter(&t, "evictions_total", "Idle connections closed to make room.",
		m->closed[CLOSE_EVICTED]);
	counter(&t, "idle_closed_total", "Idle connections closed by the sweep or cleanup.",
		m->closed[CLOSE_IDLE]);
	counter(&t, "upstream_lost_total", "Connections whose server exited or broke the protocol.",
		m->closed[CLOSE_LOST]);
	counter(&t, "upstream_hung_total",
		"Connections closed because the server did not answer a health ping.",
		m->closed[CLOSE_HUNG]);
	put(&t, "# HELP mcppool_connections_closed_total Pooled connections closed, by reason.\n"
		"# TYPE mcppool_connections_closed_total counter\n");
	for (int r = 0; r < CLOSE__COUNT; r++)
		put(&t, "mcppool_connections_closed_total{reason=\"%s\"} %llu\n", close_reason_name(r),
		    (unsigned long long)m->closed[r]);
	gauge(&t, "pings_in_flight", "Health pings sent and not yet answered.", d->pings_in_flight);
	gauge(&t, "pings_queued", "Health pings waiting for one of the slots in flight.",
	      d->pings_queued);
	gauge(&t, "pings_in_flight_peak", "The most health pings ever in flight at once.",
	      m->pings_in_flight_peak);
	counter(&t, "pings_total", "Health pings sent.", m->pings_sent);
	counter(&t, "clients_accepted_total", "App connections accepted.", m->clients_accepted);
	counter(&t, "events_total", "Events (progress, log messages) sent to apps.", m->events_sent);
	counter(&t, "bad_frames_total", "Frames answered with BAD_REQUEST.", m->frames_bad);
	gauge(&t, "output_queued_bytes", "Bytes of replies waiting for all clients together.",
	      d->output_queued);
	counter(&t, "slow_clients_closed_total",
		"Clients closed because they did not take their replies (MCPPOOL_MAX_OUTPUT, "
		"MCPPOOL_MAX_OUTPUT_TOTAL, MCPPOOL_OUTPUT_STALL_TIMEOUT).", m->slow_clients_closed);
	counter(&t, "hello_timeouts_total", "Clients closed because they sent no hello in time.",
		m->hello_timeouts);
	gauge(&t, "input_reserved_bytes", "Bytes of MCPPOOL_MAX_INPUT held by large frames being read.",
	      d->input_reserved);
	counter(&t, "input_waits_total",
		"Times a client stopped being read until its large frame fit MCPPOOL_MAX_INPUT.",
		m->input_waits);
	counter(&t, "cache_hits_total", "Cacheable list requests answered from the cache.",
		d->cache.hits);
	counter(&t, "cache_misses_total", "Cacheable list requests that went to the server.",
		d->cache.misses);
	counter(&t, "cache_stores_total", "List results stored in the cache.", d->cache.stores);
	counter(&t, "cache_evictions_total",
		"Cached results dropped to stay within MCPPOOL_CACHE_BYTES.", d->cache.evictions);
	gauge(&t, "cache_bytes", "Bytes of cached list results (keys included).", d->cache.bytes);
	gauge(&t, "cache_entries", "Cached list results.", listcache_count(&d->cache));
	struct exposed x;
	if (exposed_init(&x, d) < 0)
		t.failed = 1;
	else
		render_servers(&t, &x);
	exposed_free(&x);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}
