/* Counters of the daemon's work, and their Prometheus text exposition. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "metrics.h"
#include "pool.h"

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
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}
