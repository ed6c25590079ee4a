/* The transport of a url entry without a type: Streamable HTTP, or HTTP+SSE when the server speaks only that. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon.h"
#include "errcode.h"
#include "httpconn.h"
#include "log.h"
#include "sseconn.h"
#include "urlconn.h"

struct url_conn {
	struct transport inner;   /* inner.ops is NULL once the fallback could not open */
	struct ev_loop *loop;
	struct transport_options opt; /* opt.tag is ours */
	struct transport_callbacks cb;
	void *ctx;
	bool on_sse;              /* the fallback happened */
	bool probing;             /* initialize not answered yet: the fields below are kept */
	bool closed;              /* close() was called: no callback passes */
	uint64_t init_id;         /* 0 until initialize is sent */
	char *init_line;
	size_t init_len;
	char *url;                /* wiped */
	struct kv *headers;       /* values wiped */
	size_t nheaders;
	char refusal[300];        /* why Streamable HTTP was given up, for the reasons after it */
	struct deferred free_node;
};

static const struct transport_callbacks inner_cb;

/* Drops what was kept for the fallback; the secrets are wiped. */
static void drop_probe(struct url_conn *w)
{
	auth_secret_free(w->url);
	w->url = NULL;
	for (size_t i = 0; i < w->nheaders; i++) {
		free(w->headers[i].key);
		auth_secret_free(w->headers[i].value);
	}
	free(w->headers);
	w->headers = NULL;
	w->nheaders = 0;
	free(w->init_line);
	w->init_line = NULL;
	w->probing = false;
}

static void url_conn_free(struct deferred *x)
{
	struct url_conn *w = container_of(x, struct url_conn, free_node);

	drop_probe(w);
	free((char *)w->opt.tag);
	free(w);
}

/* A 4xx that says "not Streamable HTTP here"; 401 and 403 are the server's auth answer. */
static bool refusal_status(const char *data_json)
{
	json_t *data = data_json ? json_loads(data_json, 0, NULL) : NULL;
	json_int_t st = json_integer_value(json_object_get(data, "status"));

	json_decref(data);
	return st >= 400 && st < 500 && st != 401 && st != 403;
}

/* The fallback could not even start: initialize fails, with both reasons. */
static void fallback_failed(struct url_conn *w, const char *why)
{
	char msg[700];

	snprintf(msg, sizeof(msg), "%s; the HTTP+SSE fallback failed: %s", w->refusal, why);
	w->cb.on_request_failed(w->ctx, w->init_id, ERR_UPSTREAM_START_FAILED, msg, NULL);
}

/* initialize was refused: the same URL, headers and initialize, over HTTP+SSE. */
static void fall_back(struct url_conn *w, const char *message)
{
	struct transport_spec spec = { .kind = TRANSPORT_HTTP, .url = w->url, .headers = w->headers,
				       .nheaders = w->nheaders, .sse = true };
	struct transport_msg info = { .kind = TRANSPORT_MSG_REQUEST, .id = w->init_id,
				      .method = "initialize" };
	char err[300];

	snprintf(w->refusal, sizeof(w->refusal), "Streamable HTTP: %s", message);
	log_info("[%s] initialize refused (%s): trying the HTTP+SSE transport of MCP 2024-11-05",
		 w->opt.tag, message);
	w->inner.ops->close(w->inner.impl);
	w->on_sse = true;
	if (sse_transport_open(&w->inner, w->loop, &spec, &w->opt, &inner_cb, w, err,
			       sizeof(err)) < 0) {
		w->inner.ops = NULL;
		fallback_failed(w, err);
	} else if (w->inner.ops->send(w->inner.impl, w->init_line, w->init_len, &info) < 0) {
		fallback_failed(w, "initialize could not be sent");
	}
}

/* ---- the inner transport's callbacks: passed on, but for initialize's refusal ---- */

static void inner_message(void *ctx, char *json, size_t len)
{
	struct url_conn *w = ctx;

	w->cb.on_message(w->ctx, json, len);
}

static void inner_scanned(void *ctx, char *json, size_t len, const struct jsonrpc_msg *m,
			  uint64_t stream_of)
{
	struct url_conn *w = ctx;

	w->cb.on_scanned(w->ctx, json, len, m, stream_of);
}

static void inner_closed(void *ctx, const char *reason)
{
	struct url_conn *w = ctx;
	char msg[700];

	if (w->probing && w->on_sse) {
		snprintf(msg, sizeof(msg), "%s; the HTTP+SSE fallback failed: %s", w->refusal, reason);
		reason = msg;
	}
	w->cb.on_closed(w->ctx, reason);
}

static void inner_request_failed(void *ctx, uint64_t id, int code, const char *message,
				 const char *data_json)
{
	struct url_conn *w = ctx;

	if (w->probing && !w->on_sse && id == w->init_id && w->init_line &&
	    refusal_status(data_json))
		fall_back(w, message);
	else
		w->cb.on_request_failed(w->ctx, id, code, message, data_json);
}

static const struct transport_callbacks inner_cb = {
	.on_message = inner_message,
	.on_scanned = inner_scanned,
	.on_closed = inner_closed,
	.on_request_failed = inner_request_failed,
};

/* ---- the transport's operations ---- */

static int url_send(void *impl, const char *line, size_t len, const struct transport_msg *info)
{
	struct url_conn *w = impl;

	if (!w->inner.ops)
		return -1;
	if (w->probing && !w->on_sse && info->method && strcmp(info->method, "initialize") == 0) {
		free(w->init_line);
		if (!(w->init_line = malloc(len)))
			return -1;
		memcpy(w->init_line, line, len);
		w->init_len = len;
		w->init_id = info->id;
	}
	return w->inner.ops->send(w->inner.impl, line, len, info);
}

static void url_negotiated(void *impl, const char *version)
{
	struct url_conn *w = impl;

	drop_probe(w); /* initialize was answered: this transport stays */
	if (w->inner.ops)
		w->inner.ops->negotiated(w->inner.impl, version);
}

static void url_close(void *impl)
{
	struct url_conn *w = impl;

	if (w->closed)
		return;
	w->closed = true;
	if (w->inner.ops)
		w->inner.ops->close(w->inner.impl);
	daemon_defer_free(w->opt.d, &w->free_node, url_conn_free);
}

static long url_pid(const void *impl)
{
	(void)impl;
	return 0;
}

static const char *url_kind(const void *impl)
{
	const struct url_conn *w = impl;

	return w->on_sse ? "sse" : "http";
}

static const struct transport_ops url_ops = {
	.name = "http",
	.send = url_send,
	.negotiated = url_negotiated,
	.close = url_close,
	.pid = url_pid,
	.kind = url_kind,
	.era_probe = true, /* its Streamable HTTP half carries the probe */
};

/* Keeps a copy of spec's URL and headers for the fallback. -1 when out of memory. */
static int keep_probe(struct url_conn *w, const struct transport_spec *spec)
{
	w->probing = true;
	if (!(w->url = strdup(spec->url)) ||
	    (spec->nheaders && !(w->headers = calloc(spec->nheaders, sizeof(*w->headers)))))
		return -1;
	for (size_t i = 0; i < spec->nheaders; i++, w->nheaders++) {
		w->headers[i].key = strdup(spec->headers[i].key);
		w->headers[i].value = strdup(spec->headers[i].value);
		if (!w->headers[i].key || !w->headers[i].value) {
			w->nheaders++;
			return -1;
		}
	}
	return 0;
}

int url_transport_open(struct transport *t, struct ev_loop *loop, const struct transport_spec *spec,
		       const struct transport_options *opt, const struct transport_callbacks *cb,
		       void *ctx, char *err, size_t errlen)
{
	struct url_conn *w = calloc(1, sizeof(*w));

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->loop = loop;
	w->opt = *opt;
	w->cb = *cb;
	w->ctx = ctx;
	if (!(w->opt.tag = strdup(opt->tag ? opt->tag : "http")) || !spec->url ||
	    keep_probe(w, spec) < 0) {
		snprintf(err, errlen, spec->url ? "out of memory" : "no url");
		url_conn_free(&w->free_node);
		return -1;
	}
	if (http_transport_open(&w->inner, loop, spec, opt, &inner_cb, w, err, errlen) < 0) {
		url_conn_free(&w->free_node);
		return -1;
	}
	t->ops = &url_ops;
	t->impl = w;
	return 0;
}
