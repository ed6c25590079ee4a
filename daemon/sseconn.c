/* The deprecated HTTP+SSE transport of MCP 2024-11-05: messages arrive on one GET stream, each message sent is a POST. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "curlev.h"
#include "daemon.h"
#include "errcode.h"
#include "httpauth.h"
#include "log.h"
#include "sseconn.h"
#include "sseparse.h"

#define ERROR_TEXT_MAX 150 /* bytes of a refused POST's body kept for the reason */

/*
 * Lifecycle (c->state), changed by set_state() only:
 *   CONNECTING  the GET is running; messages sent wait for the endpoint event.
 *   OPEN        the endpoint is known: messages are posted.
 *   FAILED      on_closed was called; every transfer is gone; waits for close().
 *   CLOSING     close() was called; the memory is queued for the deferred free.
 */
enum sse_state { SSE_CONNECTING, SSE_OPEN, SSE_FAILED, SSE_CLOSING };

/*
 * A message waiting in a queue: one of the server's, to be delivered from
 * outside libcurl's callbacks (c->inq), or one of ours, waiting for the
 * endpoint or for an earlier POST (c->outq).
 */
struct msg {
	struct list_node link;
	bool is_request; /* ours: a request, whose id may fail alone */
	uint64_t id;
	size_t len;
	char text[];     /* NUL-terminated */
};

struct sse_conn;

/* One HTTP exchange: the GET of the stream, or the POST of one message. */
struct xfer {
	struct list_node link; /* c->xfers */
	struct sse_conn *c;
	CURL *easy;
	struct curl_slist *headers;
	bool is_stream;       /* the GET */
	bool is_request;      /* a POST of a request: its id may fail alone */
	uint64_t id;
	long status;          /* once the headers are in; 0 before */
	char ctype[64];       /* media type, lower case, no parameters */
	char error_text[ERROR_TEXT_MAX + 1]; /* a refused POST's body, printable bytes */
	size_t error_len;
	char fail[200];       /* why this transfer breaks the transport ("" when it does not) */
	char *www_auth;       /* a 401/403's WWW-Authenticate challenge, bounded; NULL: none */
	char errbuf[CURL_ERROR_SIZE];
};

struct sse_conn {
	struct list_node link; /* all_conns */
	struct ev_loop *loop;
	struct daemon *d;
	enum sse_state state;
	char *tag;
	char *url;       /* may hold secrets: wiped */
	char *where;     /* scheme://host:port/path: the only form of the URL we show */
	char *origin;    /* scheme://host:port: the endpoint must have it */
	char *endpoint;  /* where to POST (holds the server's session id): wiped */
	struct curl_slist *entry_headers; /* wiped */
	size_t max_message;
	long post_timeout_ms;
	struct transport_callbacks cb;
	void *ctx;

	struct curlev cev;
	ev_timer endpoint_wait;
	struct sse_parser sse;  /* of the stream */
	struct list_node xfers;
	struct xfer *barrier;   /* a POST later messages wait for */
	struct list_node outq; /* struct msg */
	struct list_node inq;  /* struct msg */

	char fail_reason[300]; /* "" until the transport fails: reported by pump() */
	struct deferred free_node;
	bool freeing;
};

static struct list_node all_conns = { &all_conns, &all_conns };
static bool curl_held; /* curlev_global_init() was called for this module */

/* Headers the transport sets itself: an entry may not set them. */
static const char *const managed_headers[] = {
	"Content-Type", "Accept", "Content-Length", "Transfer-Encoding", "Expect",
	"Cache-Control", "Last-Event-ID", NULL,
};

static void set_state(struct sse_conn *c, enum sse_state to);
static void flush_outq(struct sse_conn *c);

/* Records why the transport fails; pump() reports it. The first reason wins. */
#define conn_fail(c, ...) curlev_first_reason((c)->fail_reason, sizeof((c)->fail_reason), __VA_ARGS__)
#define xfer_fail(x, ...) curlev_first_reason((x)->fail, sizeof((x)->fail), __VA_ARGS__)

/* ---- queues ------------------------------------------------------------------------ */

/* Appends a copy of text to q. NULL when out of memory. */
static struct msg *queue_push(struct list_node *q, const char *text, size_t len)
{
	struct msg *m = malloc(sizeof(*m) + len + 1);

	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->len = len;
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	list_add_tail(q, &m->link);
	return m;
}

/* The first message of q, unlinked (the caller frees it), or NULL. */
static struct msg *queue_pop(struct list_node *q)
{
	struct msg *m;

	if (list_empty(q))
		return NULL;
	m = list_entry(list_first(q), struct msg, link);
	list_del(&m->link);
	return m;
}

static void queue_free(struct list_node *q)
{
	struct msg *m;

	while ((m = queue_pop(q)))
		free(m);
}

/* ---- the stream's events (called under libcurl: parse and queue only) --------------- */

/* The endpoint event: where to POST, resolved against url, of url's origin only. */
static int take_endpoint(struct xfer *x, const char *data)
{
	struct sse_conn *c = x->c;
	char err[120], *where = NULL, *origin = NULL, *url;

	if (c->endpoint) {
		log_debug("[%s] a second endpoint event from %s is ignored", c->tag, c->where);
		return 0;
	}
	if (!(url = curlev_resolve(c->url, data, err, sizeof(err)))) {
		xfer_fail(x, "the endpoint event of %s is %s", c->where, err);
		return -1;
	}
	if (curlev_url_parts(url, &where, &origin, err, sizeof(err)) < 0) {
		xfer_fail(x, "the endpoint event of %s: %s", c->where, err);
	} else if (strcmp(origin, c->origin) != 0) {
		xfer_fail(x, "the endpoint event of %s names %s, another origin than %s: refused "
			  "(HTTP+SSE messages go to the SSE URL's origin only; fix the server's "
			  "endpoint, or use its Streamable HTTP URL)", c->where, origin, c->origin);
	} else {
		log_debug("[%s] HTTP+SSE endpoint %s", c->tag, where);
		c->endpoint = url;
		url = NULL;
	}
	auth_secret_free(url);
	auth_secret_free(where);
	auth_secret_free(origin);
	return x->fail[0] ? -1 : 0;
}

static int on_event(void *arg, const struct sse_event *ev)
{
	struct xfer *x = arg;

	if (strcmp(ev->type, "endpoint") == 0)
		return take_endpoint(x, ev->data);
	if (strcmp(ev->type, "message") != 0)
		return 0;
	if (!queue_push(&x->c->inq, ev->data, ev->len)) {
		xfer_fail(x, "out of memory queuing a message");
		return -1;
	}
	return 0;
}

/* ---- libcurl's callbacks of one transfer --------------------------------------------- */

static bool needs_auth(const struct xfer *x)
{
	return x->status == 401 || x->status == 403;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb, vlen;
	const char *v;

	if ((v = curlev_header_value(line, len, "content-type", &vlen)))
		curlev_media_type(v, vlen, x->ctype, sizeof(x->ctype));
	else if ((v = curlev_header_value(line, len, "www-authenticate", &vlen)) && !x->www_auth && vlen &&
		 vlen < HTTPAUTH_CHALLENGE_MAX && !curlev_has_control_char_n(v, vlen, 0))
		x->www_auth = strndup(v, vlen); /* the first challenge; none when out of memory */
	else if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		if (x->status < 200) /* an interim 1xx: the real response follows */
			x->ctype[0] = '\0';
		else if (x->is_stream && needs_auth(x)) {
			char msg[sizeof(x->fail)];

			httpauth_message(msg, sizeof(msg), x->status, x->c->where,
					 " (the GET of the SSE stream)", x->www_auth);
			xfer_fail(x, "%s", msg);
		}
		else if (x->is_stream && x->status != 200)
			xfer_fail(x, "HTTP %ld from %s (the GET of the SSE stream)", x->status,
				  x->c->where);
		else if (x->is_stream && strcmp(x->ctype, "text/event-stream") != 0)
			xfer_fail(x, "%s answered the GET with %s, not text/event-stream: not an "
				  "HTTP+SSE endpoint (for Streamable HTTP, drop \"type\": \"sse\")",
				  x->c->where, x->ctype[0] ? x->ctype : "no body");
	}
	return x->fail[0] ? 0 : len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb;

	if (x->is_stream) {
		if (sse_parser_feed(&x->c->sse, data, len) < 0) {
			xfer_fail(x, "%s", x->c->sse.err);
			return 0;
		}
		return len;
	}
	/* A POST's answer has no message in it; a refusal's text explains the refusal. */
	for (size_t i = 0; i < len && x->status >= 300 && x->error_len < ERROR_TEXT_MAX; i++)
		x->error_text[x->error_len++] =
			(data[i] >= 0x20 && data[i] < 0x7f) ? data[i] : ' ';
	return len;
}

/* ---- transfers ------------------------------------------------------------------------ */

static void xfer_free(struct xfer *x)
{
	list_del(&x->link);
	if (x->easy) {
		curl_multi_remove_handle(x->c->cev.multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curlev_slist_wipe_free(x->headers);
	if (x->c->barrier == x)
		x->c->barrier = NULL;
	free(x->www_auth);
	free(x);
}

/* Ends every transfer at once; no callback. */
static void drop_xfers(struct sse_conn *c)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &c->xfers)
		xfer_free(list_entry(pos, struct xfer, link));
}

/* Starts one exchange with url; the headers are the entry's and extra. NULL on failure. */
static struct xfer *xfer_start(struct sse_conn *c, const char *url, const char *extra1,
			       const char *extra2, const char *body, size_t len)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	list_init(&x->link);
	x->c = c;
	if (!(x->easy = curlev_easy_new(url, on_header, on_body, x, x->errbuf)) ||
	    curlev_add_header(&x->headers, "%s", extra1) < 0 ||
	    curlev_add_header(&x->headers, "%s", extra2) < 0 ||
	    curlev_add_header(&x->headers, "Expect:") < 0 ||
	    curlev_append_lines(&x->headers, c->entry_headers) < 0)
		goto fail;
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	if (body) {
		curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, c->post_timeout_ms);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		if (curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, body) != CURLE_OK)
			goto fail;
	}
	if (curl_multi_add_handle(c->cev.multi, x->easy) != CURLM_OK)
		goto fail;
	list_add_tail(&c->xfers, &x->link);
	return x;
fail:
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curlev_slist_wipe_free(x->headers);
	free(x);
	return NULL;
}

static int start_post(struct sse_conn *c, const char *body, size_t len, bool is_request, uint64_t id)
{
	struct xfer *x = xfer_start(c, c->endpoint, "Content-Type: application/json",
				    "Accept: application/json, text/event-stream", body, len);

	if (!x)
		return -1;
	x->is_request = is_request;
	x->id = id;
	if (!is_request)
		c->barrier = x;
	return 0;
}

/* Posts the messages that waited, in order, until one of them becomes the barrier. */
static void flush_outq(struct sse_conn *c)
{
	struct msg *m;

	while (c->state == SSE_OPEN && !c->fail_reason[0] && !c->barrier && (m = queue_pop(&c->outq))) {
		if (start_post(c, m->text, m->len, m->is_request, m->id) < 0)
			conn_fail(c, "cannot start an HTTP request to %s (out of memory)", c->where);
		free(m);
	}
}

/* ---- completing a transfer (from pump(), outside libcurl) ------------------------------ */

static const char *curl_reason(const struct xfer *x, CURLcode rc)
{
	return x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
}

/*
 * The GET of the stream was refused with 401/403: the first request waiting for
 * the endpoint (initialize) fails with AUTH_REQUIRED and the challenge, so that
 * the app can authorize and call again; its owner then closes us. False when
 * no request waits (the failure is then the transport's).
 */
static bool stream_needs_auth(struct xfer *x)
{
	struct sse_conn *c = x->c;
	struct list_node *pos;
	char *data;
	uint64_t id;

	list_for_each(pos, &c->outq) {
		struct msg *m = list_entry(pos, struct msg, link);

		if (!m->is_request)
			continue;
		id = m->id;
		list_del(&m->link);
		free(m);
		data = httpauth_data(x->status, x->www_auth);
		c->cb.on_request_failed(c->ctx, id, ERR_AUTH_REQUIRED, x->fail, data);
		free(data); /* c and x may be closed now: neither is touched again */
		return true;
	}
	return false;
}

static void stream_done(struct xfer *x, CURLcode rc)
{
	struct sse_conn *c = x->c;

	if (x->fail[0] && needs_auth(x) && stream_needs_auth(x))
		return;
	if (x->fail[0])
		conn_fail(c, "%s", x->fail);
	else if (rc != CURLE_OK && x->status == 0)
		conn_fail(c, "cannot reach %s: %s", c->origin, curl_reason(x, rc));
	else if (rc != CURLE_OK)
		conn_fail(c, "the SSE stream of %s broke: %s", c->where, curl_reason(x, rc));
	else
		conn_fail(c, c->endpoint ? "the server closed the SSE stream of %s"
				 : "the SSE stream of %s ended before its endpoint event", c->where);
}

/* A POST refused with status >= 300: only a request's own POST fails, with its request. */
static void post_refused(struct xfer *x)
{
	struct sse_conn *c = x->c;
	char msg[600], data[40];
	char *challenge;

	x->error_text[x->error_len] = '\0';
	if (x->status == 404) {
		conn_fail(c, "HTTP 404 from %s: the server no longer knows the session", c->where);
		return;
	}
	snprintf(msg, sizeof(msg), "HTTP %ld from %s%s%s", x->status, c->where,
		 x->error_len ? ": " : "", x->error_text);
	if (!x->is_request) {
		log_warn("[%s] a notification or response was refused: %s", c->tag, msg);
		return;
	}
	if (needs_auth(x)) {
		httpauth_message(msg, sizeof(msg), x->status, c->where, "", x->www_auth);
		challenge = httpauth_data(x->status, x->www_auth);
		c->cb.on_request_failed(c->ctx, x->id, ERR_AUTH_REQUIRED, msg, challenge);
		free(challenge);
		return;
	}
	snprintf(data, sizeof(data), "{\"status\":%ld}", x->status);
	c->cb.on_request_failed(c->ctx, x->id, ERR_UPSTREAM_ERROR, msg, data);
}

static void post_done(struct xfer *x, CURLcode rc)
{
	struct sse_conn *c = x->c;

	if (rc != CURLE_OK && x->status == 0)
		conn_fail(c, "cannot reach %s: %s", c->origin, curl_reason(x, rc));
	else if (rc != CURLE_OK)
		conn_fail(c, "POST to %s failed: %s", c->where, curl_reason(x, rc));
	else if (x->status >= 300)
		post_refused(x); /* may close us */
}

static void xfer_done(struct sse_conn *c, CURL *easy, CURLcode rc)
{
	char *priv = NULL;
	struct xfer *x;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	x = (struct xfer *)(void *)priv;
	curl_multi_remove_handle(c->cev.multi, easy);
	if (x->is_stream)
		stream_done(x, rc);
	else
		post_done(x, rc);
	if (c->state == SSE_CLOSING || c->state == SSE_FAILED)
		return; /* the owner closed us, or we failed: every transfer is gone */
	xfer_free(x);
	flush_outq(c);
}

/*
 * The one place that calls the owner back, always after libcurl has returned:
 * messages first, then finished transfers, then a failure, so that
 * everything received before a failure is delivered.
 */
static void pump(void *arg)
{
	struct sse_conn *c = arg;
	struct msg *m;
	CURLMsg *msg;
	int left;

	for (;;) {
		if (c->state == SSE_CONNECTING && c->endpoint && !c->fail_reason[0])
			set_state(c, SSE_OPEN);
		while ((c->state == SSE_OPEN || c->state == SSE_CONNECTING) && (m = queue_pop(&c->inq))) {
			c->cb.on_message(c->ctx, m->text, m->len);
			free(m);
		}
		if (c->state >= SSE_FAILED || c->fail_reason[0] ||
		    !(msg = curl_multi_info_read(c->cev.multi, &left)))
			break;
		if (msg->msg == CURLMSG_DONE)
			xfer_done(c, msg->easy_handle, msg->data.result);
	}
	if (c->fail_reason[0] && c->state < SSE_FAILED)
		set_state(c, SSE_FAILED);
}

static void on_endpoint_wait(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sse_conn *c = w->data;

	(void)loop;
	(void)revents;
	conn_fail(c, "%s sent no endpoint event within %ld ms (is it an HTTP+SSE endpoint?)",
		  c->where, c->post_timeout_ms);
	pump(c);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

/* Frees c now: only from the deferred free or a failed open. */
static void conn_free(struct sse_conn *c)
{
	drop_xfers(c);
	queue_free(&c->inq);
	queue_free(&c->outq);
	curlev_destroy(&c->cev);
	ev_timer_stop(c->loop, &c->endpoint_wait);
	sse_parser_free(&c->sse);
	auth_secret_free(c->url);
	auth_secret_free(c->endpoint);
	auth_secret_free(c->where); /* an ${auth.NAME} in the url's path or host shows here */
	auth_secret_free(c->origin);
	curlev_slist_wipe_free(c->entry_headers);
	free(c->tag);
	list_del(&c->link);
	free(c);
}

static void conn_free_deferred(struct deferred *x)
{
	conn_free(container_of(x, struct sse_conn, free_node));
}

/*
 * The one function that changes c->state, and does what entering a state
 * means: OPEN posts what waited; FAILED ends every transfer and tells the
 * owner (the only on_closed); CLOSING ends every transfer and queues the
 * memory for the deferred free.
 */
static void set_state(struct sse_conn *c, enum sse_state to)
{
	enum sse_state from = c->state;

	c->state = to;
	switch (to) {
	case SSE_OPEN:
		if (from != SSE_CONNECTING)
			abort();
		ev_timer_stop(c->loop, &c->endpoint_wait);
		flush_outq(c);
		break;
	case SSE_FAILED:
		if (from != SSE_CONNECTING && from != SSE_OPEN)
			abort();
		ev_timer_stop(c->loop, &c->endpoint_wait);
		drop_xfers(c);
		queue_free(&c->inq);
		queue_free(&c->outq);
		log_info("[%s] HTTP+SSE session ended: %s", c->tag, c->fail_reason);
		c->cb.on_closed(c->ctx, c->fail_reason);
		break;
	case SSE_CLOSING:
		ev_timer_stop(c->loop, &c->endpoint_wait);
		drop_xfers(c);
		queue_free(&c->inq);
		queue_free(&c->outq);
		if (!c->freeing) {
			c->freeing = true;
			daemon_defer_free(c->d, &c->free_node, conn_free_deferred);
		}
		break;
	default:
		abort(); /* CONNECTING is only where a session begins */
	}
}

/* ---- the transport's operations ---------------------------------------------------------- */

static int sse_send(void *impl, const char *line, size_t len, const struct transport_msg *info)
{
	struct sse_conn *c = impl;
	bool is_request = info->kind == TRANSPORT_MSG_REQUEST;

	if (c->state >= SSE_FAILED || c->fail_reason[0])
		return -1;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (c->state == SSE_CONNECTING || c->barrier || !list_empty(&c->outq)) {
		struct msg *m = queue_push(&c->outq, line, len);
		if (!m)
			return -1;
		m->is_request = is_request;
		m->id = info->id;
		return 0;
	}
	return start_post(c, line, len, is_request, info->id);
}

static void sse_negotiated(void *impl, const char *version)
{
	(void)impl;
	(void)version; /* the old transport carries no version header */
}

static void sse_close(void *impl)
{
	struct sse_conn *c = impl;

	if (c->state != SSE_CLOSING)
		set_state(c, SSE_CLOSING);
}

static long sse_pid(const void *impl)
{
	(void)impl;
	return 0;
}

static const struct transport_ops sse_ops = {
	.name = "sse",
	.send = sse_send,
	.negotiated = sse_negotiated,
	.close = sse_close,
	.pid = sse_pid,
};

/* ---- opening ------------------------------------------------------------------------------ */

static int conn_setup(struct sse_conn *c, const struct transport_spec *spec,
		      const struct transport_options *opt, char *err, size_t errlen)
{
	uint64_t t = opt->request_timeout_ms ? opt->request_timeout_ms : 30000;

	if (!spec->url || curlev_has_control_char(spec->url, 0)) {
		snprintf(err, errlen, spec->url ? "url contains a control character (check the auth "
				      "values it uses)" : "no url");
		return -1;
	}
	if (curlev_url_parts(spec->url, &c->where, &c->origin, err, errlen) < 0 ||
	    curlev_entry_headers(&c->entry_headers, spec->headers, spec->nheaders, managed_headers,
				 "sse", err, errlen) < 0)
		return -1;
	if (!(c->url = strdup(spec->url)) || !(c->tag = strdup(opt->tag ? opt->tag : "sse"))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->max_message = opt->max_message;
	c->post_timeout_ms = t > LONG_MAX ? LONG_MAX : (long)t;
	sse_parser_init(&c->sse, c->max_message, on_event, NULL);
	return 0;
}

/* The GET of the stream: no overall timeout, as the stream lives as long as the session. */
static int start_stream(struct sse_conn *c)
{
	struct xfer *x = xfer_start(c, c->url, "Accept: text/event-stream", "Cache-Control: no-cache",
				    NULL, 0);

	if (!x)
		return -1;
	x->is_stream = true;
	c->sse.ctx = x;
	/* An idle stream is normal; a peer that vanished is found by TCP keep-alive. */
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	ev_timer_set(&c->endpoint_wait, (double)c->post_timeout_ms / 1000.0, 0.);
	ev_timer_start(c->loop, &c->endpoint_wait);
	return 0;
}

int sse_transport_open(struct transport *t, struct ev_loop *loop, const struct transport_spec *spec,
		       const struct transport_options *opt, const struct transport_callbacks *cb,
		       void *ctx, char *err, size_t errlen)
{
	struct sse_conn *c;

	if (curlev_global_hold(&curl_held, err, errlen) < 0)
		return -1;
	if (!(c = calloc(1, sizeof(*c)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->loop = loop;
	c->d = opt->d;
	c->cb = *cb;
	c->ctx = ctx;
	c->state = SSE_CONNECTING;
	list_init(&c->xfers);
	list_init(&c->inq);
	list_init(&c->outq);
	if (curlev_init(&c->cev, loop, pump, c) < 0) {
		curlev_destroy(&c->cev);
		free(c);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ev_timer_init(&c->endpoint_wait, on_endpoint_wait, 0., 0.);
	c->endpoint_wait.data = c;
	list_add_tail(&all_conns, &c->link);
	if (conn_setup(c, spec, opt, err, errlen) < 0) {
		conn_free(c);
		return -1;
	}
	if (start_stream(c) < 0) {
		snprintf(err, errlen, "cannot start the GET of %s (out of memory)", c->where);
		conn_free(c);
		return -1;
	}
	log_debug("[%s] HTTP+SSE session with %s", c->tag, c->where);
	t->ops = &sse_ops;
	t->impl = c;
	return 0;
}

void sse_shutdown_all(struct daemon *d)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &all_conns) {
		struct sse_conn *c = list_entry(pos, struct sse_conn, link);
		if (c->state != SSE_CLOSING)
			set_state(c, SSE_CLOSING);
	}
	daemon_reap(d);
	curlev_global_release(&curl_held);
}
