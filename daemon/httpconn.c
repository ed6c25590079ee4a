/* The Streamable HTTP transport: MCP messages as HTTP POSTs, answers as JSON or SSE (libcurl + libev). */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "curlev.h"
#include "daemon.h"
#include "httpauth.h"
#include "httpconn.h"
#include "jsontext.h"
#include "list.h"
#include "log.h"
#include "sseparse.h"
#include "wire.h"

#define EXCHANGE_MARGIN_MS 5000u   /* on top of request_timeout_ms: the session enforces deadlines */
#define DELETE_TIMEOUT_MS 2000L    /* the whole DELETE at close */
#define SHUTDOWN_WAIT_S 2.0        /* http_shutdown_all() waits this long for DELETEs */
#define SESSION_ID_MAX 1024        /* bytes of an Mcp-Session-Id we accept */
#define ERROR_BODY_MAX 4096        /* bytes of an error response kept for the reason */
#define LINGER_S 2.0               /* an answered request's stream left open longer is cut */
#define RPC_ID_MAX 64              /* bytes of a JSON-RPC id we track */
#define RESUME_ATTEMPTS 3          /* resumptions of a broken stream in a row that bring no event */
#define RESUME_DELAY_MS 1000L      /* before resuming, when the server sent no retry field */
#define RETRY_MIN_MS 50L           /* a server's retry field is bounded to [min, max] */
#define RETRY_MAX_MS 30000L
#define LISTEN_BACKOFF_MAX_MS 30000L /* the listening stream reconnects at most this far apart */
#define MODERN_VERSION "2026-07-28" /* the first stateless revision (no session, no GET stream) */

/*
 * Lifecycle (h->state):
 *   OPEN     messages flow.
 *   FAILED   on_closed was called; every transfer is gone; waits for close().
 *   CLOSING  close() was called; no callback; only the DELETE may be running.
 * The memory goes to the daemon's deferred-free queue at close() when there is
 * no DELETE to wait for, else when it ends: it is freed at the loop's safe
 * point, never under a callback (the owner may call close() from inside one).
 */
enum http_state { HTTP_OPEN, HTTP_FAILED, HTTP_CLOSING };

/* What a response's body is, known once its headers are in. */
enum body_kind {
	BODY_PENDING, /* headers not complete yet */
	BODY_IGNORED, /* 202, or 2xx with no body we use */
	BODY_JSON,    /* one message or a batch, delivered when complete */
	BODY_SSE,     /* events, delivered as they complete */
	BODY_ERROR,   /* status >= 300: kept (bounded) to explain the failure */
};

/*
 * What waits to be told to the owner from outside libcurl's callbacks, in
 * the order it happened: a message received, or one request that failed.
 */
struct inmsg {
	struct inmsg *next;
	bool is_failure;      /* on_request_failed(stream_of, fail_code, text, fail_data) */
	bool scanned;         /* m is text's jsonrpc_scan_keep */
	struct jsonrpc_msg m;
	uint64_t stream_of;   /* the request whose stream carried it; the failed request */
	int fail_code;
	char *fail_data;      /* JSON object text, or NULL */
	size_t len;
	char text[];
};

/* What the transport needs to know of a message it posts. */
struct outinfo {
	bool is_request;           /* has a method and an id: a response must follow */
	bool is_init;              /* initialize: its answer brings the session id */
	bool probe;                /* server/discover: sent the modern way before any era is known */
	bool retried;              /* posted again after the session was re-initialised */
	uint64_t num;              /* a request's id */
	char id[RPC_ID_MAX];       /* a request's id as JSON text */
	char cancels[RPC_ID_MAX];  /* notifications/cancelled: the requestId as JSON text, else "" */
	char *method, *name;       /* owned: the modern Mcp-Method and Mcp-Name, or NULL */
};

/* A message waiting for the POST of an earlier notification or response to finish. */
struct outmsg {
	struct outmsg *next;
	struct outinfo info;
	size_t len;
	char body[];
};

struct http_conn;

/* What an exchange is for. */
enum xfer_role {
	XFER_POST,   /* one message posted */
	XFER_RESUME, /* GET with Last-Event-ID: the rest of a request's broken stream */
	XFER_LISTEN, /* GET: the session's listening stream (server messages outside any request) */
	XFER_REINIT, /* the saved initialize, posted again for a new session; nothing is delivered */
	XFER_DELETE, /* the end of the session, at close */
};

/*
 * One HTTP exchange. A resumption or a reconnection may wait (x->wait) before
 * it starts; its headers are built when it starts, with the session of then.
 */
struct xfer {
	struct list_node link; /* h->xfers */
	struct http_conn *h;
	enum xfer_role role;
	CURL *easy;
	struct curl_slist *headers;
	ev_timer wait;      /* a delayed start (resumption, reconnection) */
	bool started;       /* added to the multi handle */
	struct outinfo info; /* POST, RESUME: the message (its request id for RESUME) */
	char *req_body;     /* POST: what is posted (kept to post it again after a new session) */
	size_t req_len;
	bool modern;        /* sent the 2026-07-28 way: protocol headers, no session */
	bool sent_session;  /* carried Mcp-Session-Id */
	unsigned session_gen; /* h->session_gen when it started */
	bool answered;      /* a response came back on it */
	bool init_ok;       /* REINIT: a result came back */
	ev_tstamp answered_at;
	unsigned attempts;  /* RESUME, LISTEN: reconnections in a row that brought nothing */
	long status;
	enum body_kind kind;
	char ctype[64];    /* media type of the response, lower case, no parameters */
	char *session_id;  /* as the response's headers gave it */
	char *www_auth;    /* the WWW-Authenticate challenge, bounded */
	struct jbuf body;   /* BODY_JSON, BODY_ERROR */
	struct sse_parser sse; /* BODY_SSE; its last_id is the stream's Last-Event-ID */
	char fail[200]; /* why this transfer breaks the transport ("" when it does not) */
	char errbuf[CURL_ERROR_SIZE];
};

struct http_conn {
	struct list_node link; /* all_sessions */
	struct ev_loop *loop;
	enum http_state state;
	char *tag;
	char *url;      /* may hold secrets: wiped */
	char *where;    /* scheme://host:port/path: the only form of the URL we show */
	char *origin;   /* scheme://host:port */
	const char *hostport; /* host:port, in origin */
	struct curl_slist *entry_headers; /* "Name: value" of the catalog entry: wiped */
	char *session_id;
	unsigned session_gen; /* counts re-initialisations: a 404 of an older one needs none */
	bool no_delete; /* the session is known to be gone: DELETE is pointless */
	char version[32];
	bool modern;    /* negotiated 2026-07-28 or later: stateless, modern headers */
	char *init_body; /* the initialize the owner sent, posted again when the session is lost */
	size_t init_len;
	struct xfer *reinit;  /* the re-initialisation running, or NULL */
	bool listen_wanted;   /* legacy era negotiated: a listening stream is opened */
	bool listen_off;      /* the server offers none (405 and the like) */
	struct xfer *listen;  /* the listening stream, running or waiting to reconnect */
	size_t max_message;
	long exchange_timeout_ms;
	struct transport_callbacks cb;
	void *ctx;

	struct curlev cev;
	ev_timer linger; /* cuts answered streams that the server keeps open */
	struct list_node xfers;
	struct xfer *barrier; /* a POST later messages wait for */
	struct outmsg *out_head, *out_tail;
	struct inmsg *in_head, *in_tail;

	bool failed; /* fail_reason is set: reported at the end of pump() */
	char fail_reason[300];
	struct daemon *d;       /* whose deferred-free queue frees us */
	struct deferred free_node;
	bool freeing;           /* queued for the deferred free */
};

static struct list_node all_sessions = { &all_sessions, &all_sessions };
static unsigned live_sessions;
static bool curl_held; /* curlev_global_init() was called for this module */

static const char *const managed_headers[] = {
	"Content-Type", "Accept", "Content-Length", "Transfer-Encoding", "Expect",
	"Mcp-Session-Id", "MCP-Protocol-Version", "Last-Event-ID", "Mcp-Method", "Mcp-Name", NULL,
};

static void pump(void *ctx);
static void linger_arm(struct http_conn *h);
static void conn_release(struct http_conn *h);

/* ---- small helpers ---------------------------------------------------------- */

/* Records why x breaks the transport; the first reason counts. */
#define xfer_fail(x, ...) curlev_first_reason((x)->fail, sizeof((x)->fail), __VA_ARGS__)

/* Records why the transport fails; pump() reports the first reason once. */
static void conn_fail(struct http_conn *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void conn_fail(struct http_conn *h, const char *fmt, ...)
{
	va_list ap;

	if (h->failed)
		return;
	h->failed = true;
	va_start(ap, fmt);
	vsnprintf(h->fail_reason, sizeof(h->fail_reason), fmt, ap);
	va_end(ap);
}

/* ---- incoming messages -------------------------------------------------------- */

static void mark_answered(struct xfer *x)
{
	if (!x->answered)
		x->answered_at = ev_now(x->h->loop);
	x->answered = true;
}

/* Appends m to the queue of what the owner is told. */
static void inq_append(struct http_conn *h, struct inmsg *m)
{
	m->next = NULL;
	if (h->in_tail)
		h->in_tail->next = m;
	else
		h->in_head = m;
	h->in_tail = m;
}

/* The request a message received on x belongs to (on_scanned's stream_of). */
static uint64_t stream_of(const struct xfer *x)
{
	return x->role == XFER_POST || x->role == XFER_RESUME ? x->info.num : 0;
}

/*
 * Queues one message received on x, scanned here once for the session: a
 * response marks x answered. Text that is not a JSON-RPC message is queued
 * unscanned: the session logs and skips it. What a re-initialisation
 * receives is ours: it only tells whether initialize succeeded.
 */
static int inq_push(struct xfer *x, const char *text, size_t len)
{
	struct http_conn *h = x->h;
	struct inmsg *m = malloc(sizeof(*m) + len + 1); /* the text is copied over: not zeroed */
	char err[8];

	if (!m)
		return -1;
	memset(m, 0, sizeof(*m));
	m->len = len;
	m->stream_of = stream_of(x);
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	m->scanned = jsonrpc_scan_keep(m->text, len, WIRE_MAX_DEPTH, &m->m, err, sizeof(err)) == 0;
	/* Only the response to x's own request answers it (a stream may carry another's). */
	if (m->scanned && m->m.method.end == m->m.method.start &&
	    (m->m.result.end > m->m.result.start || m->m.error.end > m->m.error.start) &&
	    (x->role == XFER_REINIT || (m->m.id_is_int && (uint64_t)m->m.id_int == x->info.num))) {
		mark_answered(x);
		if (x->role == XFER_REINIT && m->m.result.end > m->m.result.start)
			x->init_ok = true;
	}
	if (x->role == XFER_REINIT) {
		if (m->scanned)
			jsonrpc_msg_release(&m->m);
		free(m);
		return 0;
	}
	inq_append(h, m);
	return 0;
}

static void inmsg_free(struct inmsg *m)
{
	if (m->scanned)
		jsonrpc_msg_release(&m->m);
	free(m->fail_data);
	free(m);
}

static void inq_free(struct http_conn *h)
{
	struct inmsg *m;

	while ((m = h->in_head)) {
		h->in_head = m->next;
		inmsg_free(m);
	}
	h->in_tail = NULL;
}

/*
 * Queues the failure of request id (on_request_failed): only that request
 * fails. data_json is copied (NULL: none). Out of memory fails the transport.
 */
static void fail_request(struct http_conn *h, uint64_t id, int code, const char *data_json,
			 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail_request(struct http_conn *h, uint64_t id, int code, const char *data_json,
			 const char *fmt, ...)
{
	char text[400];
	struct inmsg *m;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(text))
		n = (int)sizeof(text) - 1;
	if (!(m = calloc(1, sizeof(*m) + (size_t)n + 1)) ||
	    (data_json && !(m->fail_data = strdup(data_json)))) {
		free(m);
		conn_fail(h, "out of memory");
		return;
	}
	m->is_failure = true;
	m->stream_of = id;
	m->fail_code = code;
	m->len = (size_t)n;
	memcpy(m->text, text, (size_t)n + 1);
	inq_append(h, m);
}

static int inq_push_elem(void *ctx, const char *text, size_t len)
{
	return inq_push(ctx, text, len);
}

/*
 * Queues the message text (one JSON-RPC message, or a batch) received on x.
 * A batch is split into its elements' own text, so that the session sees one
 * message per delivery; a batch that is not valid JSON is passed on whole.
 */
static int queue_message(struct xfer *x, const char *text, size_t len)
{
	int rc = jsontext_batch_each(text, len, WIRE_MAX_DEPTH, inq_push_elem, x);

	if (rc == 0)
		return inq_push(x, text, len);
	return rc < 0 ? -1 : 0;
}

/* ---- server-sent events ---------------------------------------------------------- */

/*
 * An event's data is one message. The priming event of 2025-11-25 servers
 * has an id and empty data: the parser keeps its id, nothing is delivered.
 * Any event type is taken: the stream carries nothing but messages.
 */
static int on_event(void *ctx, const struct sse_event *ev)
{
	struct xfer *x = ctx;

	if (ev->len > 0 && queue_message(x, ev->data, ev->len) < 0) {
		xfer_fail(x, "out of memory queuing a message");
		return -1;
	}
	return 0;
}

/* ---- libcurl's callbacks of one transfer: parse only, never call libcurl or the owner --- */

static void take_session_id(struct xfer *x, const char *v, size_t n)
{
	if (n == 0 || n > SESSION_ID_MAX) {
		xfer_fail(x, "server sent an Mcp-Session-Id of %zu bytes", n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e) {
			xfer_fail(x, "server sent an Mcp-Session-Id with a byte outside 0x21-0x7e");
			return;
		}
	free(x->session_id);
	if (!(x->session_id = strndup(v, n)))
		xfer_fail(x, "out of memory");
}

static void headers_complete(struct xfer *x)
{
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status < 200) {
		/* An interim 1xx response: the real one follows. */
		x->ctype[0] = '\0';
		return;
	}
	/*
	 * Adopted now, not when the transfer ends: an SSE stream delivers the
	 * initialize result, and the session posts its next message, before
	 * the server closes the stream.
	 */
	if (x->status < 300 && x->session_id && x->info.is_init && !x->modern && !x->h->session_id) {
		x->h->session_id = x->session_id;
		x->session_id = NULL;
	}
	if (x->status >= 300)
		x->kind = BODY_ERROR;
	else if (x->status == 202 || x->role == XFER_DELETE)
		x->kind = BODY_IGNORED;
	else if (strcmp(x->ctype, "text/event-stream") == 0)
		x->kind = BODY_SSE;
	else if (strcmp(x->ctype, "application/json") == 0)
		x->kind = BODY_JSON;
	else
		x->kind = BODY_IGNORED;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb, vlen;
	const char *v;

	if (len <= 2 && (line[0] == '\r' || line[0] == '\n'))
		headers_complete(x);
	else if ((v = curlev_header_value(line, len, "content-type", &vlen)))
		curlev_media_type(v, vlen, x->ctype, sizeof(x->ctype));
	else if ((v = curlev_header_value(line, len, "mcp-session-id", &vlen)))
		take_session_id(x, v, vlen);
	else if ((v = curlev_header_value(line, len, "www-authenticate", &vlen)) && !x->www_auth && vlen &&
		 vlen < HTTPAUTH_CHALLENGE_MAX && !curlev_has_control_char_n(v, vlen, 0))
		x->www_auth = strndup(v, vlen); /* the first challenge; none when out of memory */
	return x->fail[0] ? 0 : len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb;

	switch (x->kind) {
	case BODY_SSE:
		if (sse_parser_feed(&x->sse, data, len) < 0) {
			xfer_fail(x, "%s", x->sse.err); /* on_event's reason comes first */
			return 0;
		}
		return len;
	case BODY_JSON:
		if (x->body.len + len > x->h->max_message) {
			xfer_fail(x, "response exceeds %zu bytes", x->h->max_message);
			return 0;
		}
		if (jbuf_append(&x->body, data, len) < 0) {
			xfer_fail(x, "out of memory reading a response");
			return 0;
		}
		return len;
	case BODY_ERROR:
		if (x->body.len < ERROR_BODY_MAX) {
			size_t n = len < ERROR_BODY_MAX - x->body.len ? len : ERROR_BODY_MAX - x->body.len;
			if (jbuf_append(&x->body, data, n) < 0)
				return 0;
		}
		return len;
	default:
		return len;
	}
}

/* ---- transfers ------------------------------------------------------------------- */

static void outinfo_free(struct outinfo *info)
{
	free(info->method);
	free(info->name);
	info->method = info->name = NULL;
}

/* Frees x: stops it (no callback), forgets it wherever the session points at it. */
static void xfer_free(struct xfer *x)
{
	struct http_conn *h;

	if (!x)
		return;
	h = x->h;
	list_del(&x->link);
	ev_timer_stop(h->loop, &x->wait);
	if (h->barrier == x)
		h->barrier = NULL;
	if (h->listen == x)
		h->listen = NULL;
	if (h->reinit == x)
		h->reinit = NULL;
	if (x->easy) {
		if (x->started)
			curl_multi_remove_handle(h->cev.multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curlev_slist_wipe_free(x->headers);
	outinfo_free(&x->info);
	free(x->req_body);
	free(x->session_id);
	free(x->www_auth);
	jbuf_free(&x->body);
	sse_parser_free(&x->sse);
	free(x);
}

/* Ends every transfer at once; no callback. */
static void drop_xfers(struct http_conn *h)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &h->xfers)
		xfer_free(list_entry(pos, struct xfer, link));
	h->barrier = NULL;
	ev_timer_stop(h->loop, &h->linger);
}

/*
 * True when v may go into a header as it is (2026-07-28 "Value Encoding"):
 * visible ASCII, space and tab, no space at either end, and not the
 * =?base64?...?= sentinel.
 */
static bool header_plain(const char *v)
{
	size_t n = strlen(v);

	if (n && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || (unsigned char)v[i] >= 0x7f)
			return false;
	return !(n >= 11 && strncmp(v, "=?base64?", 9) == 0 && strcmp(v + n - 2, "?=") == 0);
}

/* Mcp-Name: the name as it is, or in the =?base64?...?= form when it cannot be. */
static int add_name_header(struct curl_slist **l, const char *name)
{
	size_t n = strlen(name), cap;
	char *b64;
	int rc;

	if (header_plain(name))
		return curlev_add_header(l, "Mcp-Name: %s", name);
	cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	if (!(b64 = malloc(cap)))
		return -1;
	sodium_bin2base64(b64, cap, (const unsigned char *)name, n, sodium_base64_VARIANT_ORIGINAL);
	rc = curlev_add_header(l, "Mcp-Name: =?base64?%s?=", b64);
	free(b64);
	return rc;
}

/* The modern request metadata headers of x (2026-07-28 "Request Metadata"). */
static int add_modern_headers(struct curl_slist **l, const struct xfer *x)
{
	const struct http_conn *h = x->h;
	const char *method = x->info.method;

	if (curlev_add_header(l, "MCP-Protocol-Version: %s", h->modern ? h->version : MODERN_VERSION) < 0)
		return -1;
	/* A method is a header token; one that is not (an app's bad method) goes without. */
	if (method && *method && curlev_is_token(method, 1) &&
	    curlev_add_header(l, "Mcp-Method: %s", method) < 0)
		return -1;
	if (x->info.name && add_name_header(l, x->info.name) < 0)
		return -1;
	return 0;
}

/*
 * The headers of x, built when it starts: ours, the entry's, and the
 * session's as it is now (a resumption after a re-initialisation carries the
 * new one). Legacy exchanges carry Mcp-Session-Id and the negotiated version;
 * modern ones the request metadata and no session; a re-initialisation
 * neither, like the first initialize.
 */
static struct curl_slist *build_headers(struct xfer *x)
{
	struct http_conn *h = x->h;
	bool post = x->role == XFER_POST || x->role == XFER_REINIT;
	bool get = x->role == XFER_RESUME || x->role == XFER_LISTEN;
	struct curl_slist *l = NULL;

	if (post && (curlev_add_header(&l, "Content-Type: application/json") < 0 ||
		     curlev_add_header(&l, "Accept: application/json, text/event-stream") < 0))
		goto fail;
	if (get && (curlev_add_header(&l, "Accept: text/event-stream") < 0 ||
		    (x->sse.last_id[0] && curlev_add_header(&l, "Last-Event-ID: %s", x->sse.last_id) < 0)))
		goto fail;
	/* No "Expect: 100-continue" round trip for large messages. */
	if (curlev_add_header(&l, "Expect:") < 0 || curlev_append_lines(&l, h->entry_headers) < 0)
		goto fail;
	x->sent_session = false;
	if (x->modern) {
		if (add_modern_headers(&l, x) < 0)
			goto fail;
	} else if (x->role != XFER_REINIT) {
		if (h->session_id && curlev_add_header(&l, "Mcp-Session-Id: %s", h->session_id) < 0)
			goto fail;
		x->sent_session = h->session_id != NULL;
		if (h->version[0] && curlev_add_header(&l, "MCP-Protocol-Version: %s", h->version) < 0)
			goto fail;
	}
	return l;
fail:
	curlev_slist_wipe_free(l);
	return NULL;
}

static void on_wait(struct ev_loop *loop, ev_timer *w, int revents);

/* A new exchange of role, in h->xfers, not started. NULL when out of memory. */
static struct xfer *xfer_new(struct http_conn *h, enum xfer_role role)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->h = h;
	x->role = role;
	jbuf_init(&x->body);
	sse_parser_init(&x->sse, h->max_message, on_event, x);
	ev_timer_init(&x->wait, on_wait, 0., 0.);
	x->wait.data = x;
	list_add_tail(&h->xfers, &x->link);
	if (!(x->easy = curlev_easy_new(h->url, on_header, on_body, x, x->errbuf))) {
		xfer_free(x);
		return NULL;
	}
	/*
	 * A request's exchange and the listening stream are bounded by the
	 * session, not by a timeout here: a request's deadline may be longer
	 * than REQUEST_TIMEOUT, and at the deadline the session cancels it,
	 * which ends its exchange (forget_request).
	 */
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS,
			 role == XFER_RESUME || role == XFER_LISTEN ? 0L : h->exchange_timeout_ms);
	return x;
}

/* Starts x now, with the session's headers of now. -1 when out of memory (x is not started). */
static int xfer_start(struct xfer *x)
{
	struct http_conn *h = x->h;

	curlev_slist_wipe_free(x->headers);
	if (!(x->headers = build_headers(x)))
		return -1;
	x->session_gen = h->session_gen;
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	if (curl_multi_add_handle(h->cev.multi, x->easy) != CURLM_OK)
		return -1;
	x->started = true;
	return 0;
}

/* Starts x after delay_ms (now when 0). -1 when it cannot start now. */
static int xfer_start_after(struct xfer *x, long delay_ms)
{
	if (delay_ms <= 0)
		return xfer_start(x);
	ev_timer_set(&x->wait, (double)delay_ms / 1000.0, 0.);
	ev_timer_start(x->h->loop, &x->wait);
	return 0;
}

/* What the transport needs of an outgoing message, from what the upstream says it is. */
static int classify(struct http_conn *h, const struct transport_msg *msg, struct outinfo *info)
{
	memset(info, 0, sizeof(*info));
	if (msg->kind == TRANSPORT_MSG_REQUEST) {
		info->is_request = true;
		info->num = msg->id;
		snprintf(info->id, sizeof(info->id), "%llu", (unsigned long long)msg->id);
		info->probe = msg->method && strcmp(msg->method, "server/discover") == 0;
		/* An owner that names no method sends initialize first: nothing else goes before it. */
		info->is_init = msg->method ? strcmp(msg->method, "initialize") == 0
					    : !h->version[0] && !h->init_body;
	} else if (msg->cancels) {
		snprintf(info->cancels, sizeof(info->cancels), "%llu",
			 (unsigned long long)msg->cancels);
	}
	/* Only modern exchanges send them: a legacy message costs no copy. */
	if (!h->modern && !info->probe)
		return 0;
	if ((msg->method && !(info->method = strdup(msg->method))) ||
	    (msg->name && !(info->name = strdup(msg->name)))) {
		outinfo_free(info);
		return -1;
	}
	return 0;
}

/*
 * Starts the POST of one message; takes info's strings whatever happens.
 * -1 on failure (nothing started).
 */
static int start_post(struct http_conn *h, const char *body, size_t len, struct outinfo *info)
{
	struct xfer *x = xfer_new(h, XFER_POST);

	if (!x) {
		outinfo_free(info);
		return -1;
	}
	x->info = *info;
	info->method = info->name = NULL;
	x->modern = h->modern || x->info.probe;
	if (x->info.is_request)
		curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, 0L);
	if (!(x->req_body = malloc(len + 1))) {
		xfer_free(x);
		return -1;
	}
	memcpy(x->req_body, body, len);
	x->req_body[len] = '\0';
	x->req_len = len;
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->req_body);
	if (xfer_start(x) < 0) {
		xfer_free(x);
		return -1;
	}
	if (!x->info.is_request)
		h->barrier = x;
	return 0;
}

/* Appends a message to those waiting for the barrier; takes info's strings. -1: out of memory. */
static int outq_push(struct http_conn *h, const char *body, size_t len, struct outinfo *info)
{
	struct outmsg *m = malloc(sizeof(*m) + len + 1);

	if (!m) {
		outinfo_free(info);
		return -1;
	}
	m->next = NULL;
	m->info = *info;
	info->method = info->name = NULL;
	m->len = len;
	memcpy(m->body, body, len);
	m->body[len] = '\0';
	if (h->out_tail)
		h->out_tail->next = m;
	else
		h->out_head = m;
	h->out_tail = m;
	return 0;
}

static void outmsg_free(struct outmsg *m)
{
	outinfo_free(&m->info);
	free(m);
}

static void outq_free(struct http_conn *h)
{
	struct outmsg *m;

	while ((m = h->out_head)) {
		h->out_head = m->next;
		outmsg_free(m);
	}
	h->out_tail = NULL;
}

/* Posts the messages that waited, in order, until one of them becomes the barrier. */
static void flush_outq(struct http_conn *h)
{
	struct outmsg *m;

	while (h->state == HTTP_OPEN && !h->failed && !h->barrier && (m = h->out_head)) {
		h->out_head = m->next;
		if (!h->out_head)
			h->out_tail = NULL;
		if (start_post(h, m->body, m->len, &m->info) < 0)
			conn_fail(h, "cannot start an HTTP request to %s (out of memory)", h->where);
		outmsg_free(m);
	}
}

static int start_delete(struct http_conn *h)
{
	struct xfer *x = xfer_new(h, XFER_DELETE);

	if (!x)
		return -1;
	curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
	curl_easy_setopt(x->easy, CURLOPT_NOBODY, 0L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, DELETE_TIMEOUT_MS);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, DELETE_TIMEOUT_MS);
	if (xfer_start(x) < 0) {
		xfer_free(x);
		return -1;
	}
	log_info("[%s] ending the HTTP session with DELETE %s", h->tag, h->where);
	return 0;
}

/*
 * Opens the listening stream (a GET) after delay_ms, resuming from last_id
 * when there is one. Only in the legacy era (a modern server has none); a
 * server without sessions may offer one too (the conformance suite's does).
 */
static void listen_start(struct http_conn *h, long delay_ms, const char *last_id, unsigned attempts)
{
	struct xfer *x;

	if (h->listen || h->listen_off || !h->listen_wanted || h->modern || h->reinit ||
	    h->state != HTTP_OPEN || h->failed)
		return;
	if (!(x = xfer_new(h, XFER_LISTEN)))
		return; /* out of memory: no listening stream, the session still works */
	snprintf(x->sse.last_id, sizeof(x->sse.last_id), "%s", last_id ? last_id : "");
	x->attempts = attempts;
	h->listen = x;
	if (xfer_start_after(x, delay_ms) < 0)
		xfer_free(x);
}

/* The saved initialize, posted again for a new session; later messages wait for it. */
static int start_reinit(struct http_conn *h)
{
	struct xfer *x = xfer_new(h, XFER_REINIT);

	if (!x)
		return -1;
	x->info.is_request = x->info.is_init = true;
	if (!(x->req_body = malloc(h->init_len + 1))) {
		xfer_free(x);
		return -1;
	}
	memcpy(x->req_body, h->init_body, h->init_len + 1);
	x->req_len = h->init_len;
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req_len);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->req_body);
	if (xfer_start(x) < 0) {
		xfer_free(x);
		return -1;
	}
	h->reinit = x;
	h->barrier = x;
	return 0;
}

/* ---- completing a transfer ------------------------------------------------------ */

static bool is_reach_failure(struct xfer *x, CURLcode rc)
{
	curl_off_t connected = 0;

	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connected);
		return connected == 0;
	default:
		return false;
	}
}

/* The server's own words about an error, when its body is a JSON-RPC error: ": message". */
static void error_detail(const struct xfer *x, char *out, size_t outlen)
{
	json_t *body = x->body.len ? json_loadb(x->body.data, x->body.len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(json_object_get(body, "error"), "message"));

	if (m)
		snprintf(out, outlen, ": %.150s", m);
	else
		out[0] = '\0';
	json_decref(body);
}

/*
 * The JSON-RPC error in the body of an error answer to x, as the response to
 * x's request (JSON text to free), or NULL. A legacy server's error counts
 * when it names the request's id (else the status says more); a modern
 * exchange's (the probe's included) counts whatever its id: modern servers
 * answer header and version failures so, and the upstream must see them.
 */
static char *error_response(const struct xfer *x)
{
	json_t *body = x->body.len ? json_loadb(x->body.data, x->body.len, 0, NULL) : NULL;
	json_t *id = json_object_get(body, "id"), *error = json_object_get(body, "error");
	char *text = NULL;

	if (json_is_object(error) &&
	    (x->modern || (json_is_integer(id) && (uint64_t)json_integer_value(id) == x->info.num))) {
		json_t *resp = json_pack("{s:s, s:I, s:O}", "jsonrpc", "2.0", "id",
					 (json_int_t)x->info.num, "error", error);
		text = json_dumps(resp, JSON_COMPACT);
		json_decref(resp);
	}
	json_decref(body);
	return text;
}

/* 401 or 403: the request fails with AUTH_REQUIRED and the challenge; the session lives on. */
static void auth_failed(struct xfer *x)
{
	struct http_conn *h = x->h;
	char *data, msg[600];

	if (!x->info.is_request || x->role == XFER_REINIT) {
		log_warn("[%s] HTTP %ld from %s for a notification or response: it is lost "
			 "(authorization required)", h->tag, x->status, h->where);
		return;
	}
	data = httpauth_data(x->status, x->www_auth);
	httpauth_message(msg, sizeof(msg), x->status, h->where, "", x->www_auth);
	fail_request(h, x->info.num, ERR_AUTH_REQUIRED, data, "%s", msg);
	free(data);
}

/*
 * True when x's answer says that the session it carried is unknown: 404 (the
 * spec's answer for an ended session), or 400 whose body speaks of the
 * session (the answer of some SDKs to an id they do not know).
 */
static bool session_lost(const struct xfer *x)
{
	if (!x->sent_session || x->modern)
		return false;
	if (x->status == 404)
		return true;
	return x->status == 400 && x->body.len && strcasestr(x->body.data, "session");
}

/*
 * The server lost the session: a new one is initialized with the initialize
 * the owner sent first, and every later message waits for it. Without that
 * initialize the transport fails, as before.
 */
static void session_renew(struct http_conn *h, long status)
{
	if (h->reinit)
		return;
	h->no_delete = true; /* the old session is gone; a new one gets its own DELETE */
	if (!h->init_body) {
		conn_fail(h, "session expired (HTTP %ld)", status);
		return;
	}
	log_info("[%s] the server lost the session (HTTP %ld): initializing a new one", h->tag, status);
	auth_secret_free(h->session_id);
	h->session_id = NULL;
	h->session_gen++;
	xfer_free(h->listen); /* it belonged to the old session */
	if (start_reinit(h) < 0)
		conn_fail(h, "cannot start an HTTP request to %s (out of memory)", h->where);
}

/* A message posted with a session the server lost: posted again once, after a new session. */
static void session_lost_by(struct xfer *x)
{
	struct http_conn *h = x->h;
	char data[48];

	if (x->info.retried) {
		snprintf(data, sizeof(data), "{\"status\":%ld}", x->status);
		fail_request(h, x->info.num, ERR_UPSTREAM_CLOSED, data,
			     "session expired (HTTP %ld from %s) again right after a new one was "
			     "initialized", x->status, h->where);
		return;
	}
	if (x->session_gen == h->session_gen)
		session_renew(h, x->status);
	if (!x->info.is_request || h->failed)
		return; /* a notification of the old session means nothing to the new one */
	x->info.retried = true;
	if (outq_push(h, x->req_body, x->req_len, &x->info) < 0)
		conn_fail(h, "out of memory");
}

/* A request's exchange ended with an HTTP status of 300 or more. */
static void post_refused(struct xfer *x)
{
	struct http_conn *h = x->h;
	char detail[170], data[48];

	if (x->status == 401 || x->status == 403) {
		auth_failed(x);
		return;
	}
	snprintf(data, sizeof(data), "{\"status\":%ld}", x->status);
	if (x->role == XFER_RESUME) {
		fail_request(h, x->info.num, ERR_UPSTREAM_CLOSED, data,
			     "the response stream from %s ended before the answer, and resuming it "
			     "failed (HTTP %ld)", h->where, x->status);
		return;
	}
	if (session_lost(x)) {
		session_lost_by(x);
		return;
	}
	if (!x->info.is_request) {
		log_warn("[%s] HTTP %ld from %s for a notification or response: it is lost", h->tag,
			 x->status, h->where);
		return;
	}
	/* The server's JSON-RPC error for it is its answer (a modern server's errors come so). */
	char *resp = error_response(x);
	if (resp) {
		if (queue_message(x, resp, strlen(resp)) < 0)
			conn_fail(h, "out of memory queuing a message");
		free(resp);
		return;
	}
	if (x->info.probe && x->status >= 400 && x->status < 500) {
		fail_request(h, x->info.num, ERR_UPSTREAM_ERROR, data, "HTTP %ld from %s: not a %s "
			     "server", x->status, h->where, MODERN_VERSION);
		return;
	}
	error_detail(x, detail, sizeof(detail));
	fail_request(h, x->info.num, ERR_UPSTREAM_ERROR, data, "HTTP %ld from %s%s", x->status,
		     h->where, detail);
}

/* A server's retry field, bounded; fallback when it sent none. */
static long retry_delay(const struct xfer *x, long fallback)
{
	long ms = x->sse.retry_ms;

	if (ms < 0)
		return fallback;
	return ms < RETRY_MIN_MS ? RETRY_MIN_MS : ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms;
}

/* Continues x's broken stream with a GET and Last-Event-ID, after the server's retry time. */
static void resume_start(struct xfer *x, unsigned attempts)
{
	struct http_conn *h = x->h;
	struct xfer *y = xfer_new(h, XFER_RESUME);
	long delay = retry_delay(x, RESUME_DELAY_MS);

	if (!y) {
		fail_request(h, x->info.num, ERR_UPSTREAM_CLOSED, NULL, "out of memory resuming a "
			     "response stream");
		return;
	}
	y->info.is_request = true;
	y->info.num = x->info.num;
	memcpy(y->info.id, x->info.id, sizeof(y->info.id));
	memcpy(y->sse.last_id, x->sse.last_id, sizeof(y->sse.last_id));
	y->sse.retry_ms = x->sse.retry_ms;
	y->attempts = attempts;
	log_info("[%s] the response stream of request %s ended before its answer: resuming it "
		 "in %ld ms", h->tag, x->info.id, delay);
	if (xfer_start_after(y, delay) < 0) {
		xfer_free(y);
		fail_request(h, x->info.num, ERR_UPSTREAM_CLOSED, NULL, "out of memory resuming a "
			     "response stream");
	}
}

/*
 * A request's stream ended without its answer: resumed when the server gave
 * it an event id (2025-11-25 lets a server close a stream at any time), up
 * to RESUME_ATTEMPTS resumptions in a row that bring nothing; else only this
 * request fails. 2026-07-28 streams are not resumable.
 */
static void stream_lost(struct xfer *x, CURLcode rc)
{
	struct http_conn *h = x->h;
	unsigned attempts = x->role == XFER_RESUME && !x->sse.id_seen ? x->attempts + 1 : 0;
	char why[CURL_ERROR_SIZE + 40];

	if (rc != CURLE_OK)
		snprintf(why, sizeof(why), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	else
		snprintf(why, sizeof(why), "HTTP %ld, %s", x->status, x->ctype[0] ? x->ctype : "no body");
	if (!x->modern && x->sse.last_id[0] && attempts < RESUME_ATTEMPTS) {
		resume_start(x, attempts);
		return;
	}
	fail_request(h, x->info.num, ERR_UPSTREAM_CLOSED, NULL,
		     "the response stream from %s ended before the answer (%s)%s", h->where, why,
		     x->modern ? "" : x->sse.last_id[0] ? "; resuming it brought nothing"
							  : "; it had no event id to resume from");
}

/* A POST or a resumption ended. */
static void request_done(struct xfer *x, CURLcode rc)
{
	struct http_conn *h = x->h;

	if (x->fail[0]) {
		conn_fail(h, "%s", x->fail);
	} else if (rc != CURLE_OK && x->role == XFER_POST && is_reach_failure(x, rc)) {
		h->no_delete = true;
		conn_fail(h, "cannot reach %s: %s", h->hostport,
			  x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	} else if (x->status >= 300) {
		post_refused(x);
	} else if (x->kind == BODY_JSON && rc == CURLE_OK &&
		   queue_message(x, x->body.data, x->body.len) < 0) {
		conn_fail(h, "out of memory queuing a message");
	} else if (!x->info.is_request) {
		if (rc != CURLE_OK)
			log_warn("[%s] posting a notification or response to %s failed: %s", h->tag,
				 h->where, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
		else
			listen_start(h, 0, NULL, 0); /* notifications/initialized is in: the session serves */
	} else if (!x->answered) {
		stream_lost(x, rc);
	}
}

/* The re-initialisation ended: the new session serves (after notifications/initialized), or the transport fails. */
static void reinit_done(struct xfer *x, CURLcode rc)
{
	static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
	struct http_conn *h = x->h;
	struct outinfo info;

	if (x->kind == BODY_JSON && rc == CURLE_OK)
		queue_message(x, x->body.data, x->body.len); /* sets init_ok; nothing is queued */
	h->reinit = NULL;
	if (h->barrier == x)
		h->barrier = NULL;
	if (x->fail[0]) {
		conn_fail(h, "%s", x->fail);
		return;
	}
	if (!x->init_ok) {
		if (x->status == 0 && rc != CURLE_OK)
			conn_fail(h, "the server lost the session, and initializing a new one failed: %s",
				  x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
		else
			conn_fail(h, "the server lost the session, and initializing a new one failed "
				  "(HTTP %ld from %s)", x->status, h->where);
		return;
	}
	log_info("[%s] new session initialized; what met the old one is posted again", h->tag);
	h->no_delete = false;
	h->listen_off = false;
	memset(&info, 0, sizeof(info));
	if (start_post(h, note, sizeof(note) - 1, &info) < 0)
		conn_fail(h, "cannot start an HTTP request to %s (out of memory)", h->where);
}

/*
 * The listening stream ended: reconnected after the server's retry time (from
 * its last event id), backing off while reconnections bring nothing. A status
 * of 300 or more (405: the server offers none) ends it for this session.
 */
static void listen_done(struct xfer *x, CURLcode rc)
{
	struct http_conn *h = x->h;
	unsigned attempts = x->sse.id_seen ? 0 : x->attempts + 1;
	long backoff = RESUME_DELAY_MS, delay;

	h->listen = NULL;
	if (x->fail[0]) {
		conn_fail(h, "%s", x->fail);
		return;
	}
	if (x->status >= 300) {
		h->listen_off = true;
		if (x->status == 405)
			log_debug("[%s] the server offers no listening stream (HTTP 405)", h->tag);
		else
			log_info("[%s] the server refused the listening stream (HTTP %ld): its messages "
				 "come on request streams only", h->tag, x->status);
		return;
	}
	if (x->kind == BODY_JSON && rc == CURLE_OK && queue_message(x, x->body.data, x->body.len) < 0) {
		conn_fail(h, "out of memory queuing a message");
		return;
	}
	for (unsigned i = 1; i < attempts && backoff < LISTEN_BACKOFF_MAX_MS; i++)
		backoff *= 2;
	if (backoff > LISTEN_BACKOFF_MAX_MS)
		backoff = LISTEN_BACKOFF_MAX_MS;
	delay = retry_delay(x, RESUME_DELAY_MS);
	if (attempts && delay < backoff)
		delay = backoff;
	log_debug("[%s] the listening stream ended (%s): reconnecting in %ld ms", h->tag,
		  rc == CURLE_OK ? "closed by the server" : curl_easy_strerror(rc), delay);
	listen_start(h, delay, x->sse.last_id, attempts);
	if (h->listen)
		h->listen->sse.retry_ms = x->sse.retry_ms;
}

static void delete_done(struct xfer *x, CURLcode rc)
{
	struct http_conn *h = x->h;

	if (rc == CURLE_OK)
		log_info("[%s] DELETE %s: HTTP %ld", h->tag, h->where, x->status);
	else
		log_info("[%s] DELETE %s failed: %s", h->tag, h->where,
			 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
}

/* An exchange ended: its role decides what follows; then x goes, and what waited for it is posted. */
static void xfer_done(struct http_conn *h, CURL *easy, CURLcode rc)
{
	char *priv = NULL;
	struct xfer *x;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	x = (struct xfer *)(void *)priv;
	curl_multi_remove_handle(h->cev.multi, easy);
	x->started = false;
	switch (x->role) {
	case XFER_DELETE:
		delete_done(x, rc);
		break;
	case XFER_LISTEN:
		listen_done(x, rc);
		break;
	case XFER_REINIT:
		reinit_done(x, rc);
		break;
	case XFER_POST:
	case XFER_RESUME:
		request_done(x, rc);
		break;
	}
	xfer_free(x);
	if (h->state == HTTP_CLOSING) {
		if (list_empty(&h->xfers))
			conn_release(h);
		return;
	}
	flush_outq(h);
}

/* ---- driving libcurl from the loop ----------------------------------------------- */

/* Frees h now: only from the deferred free, a failed open, or the end of http_shutdown_all(). */
static void conn_free(struct http_conn *h)
{
	drop_xfers(h);
	inq_free(h);
	outq_free(h);
	curlev_destroy(&h->cev);
	ev_timer_stop(h->loop, &h->linger);
	auth_secret_free(h->url);
	auth_secret_free(h->session_id);
	free(h->init_body);
	curlev_slist_wipe_free(h->entry_headers);
	auth_secret_free(h->where); /* an ${auth.NAME} in the url's path or host shows here */
	auth_secret_free(h->origin);
	free(h->tag);
	list_del(&h->link);
	live_sessions--;
	free(h);
}

static void conn_free_deferred(struct deferred *x)
{
	conn_free(container_of(x, struct http_conn, free_node));
}

/* Queues h for the daemon's deferred free (once). */
static void conn_release(struct http_conn *h)
{
	if (h->freeing)
		return;
	h->freeing = true;
	daemon_defer_free(h->d, &h->free_node, conn_free_deferred);
}

/* Delivers what was parsed, and failed requests; stops as soon as the owner closes us. */
static void deliver_messages(struct http_conn *h)
{
	struct inmsg *m;

	while (h->state == HTTP_OPEN && (m = h->in_head)) {
		h->in_head = m->next;
		if (!h->in_head)
			h->in_tail = NULL;
		if (m->is_failure)
			h->cb.on_request_failed(h->ctx, m->stream_of, m->fail_code, m->text, m->fail_data);
		else if (m->scanned)
			h->cb.on_scanned(h->ctx, m->text, m->len, &m->m, m->stream_of);
		else
			h->cb.on_message(h->ctx, m->text, m->len);
		inmsg_free(m);
	}
}

static void report_failure(struct http_conn *h)
{
	if (!h->failed || h->state != HTTP_OPEN)
		return;
	h->state = HTTP_FAILED;
	drop_xfers(h);
	inq_free(h);
	outq_free(h);
	h->cb.on_closed(h->ctx, h->fail_reason);
}

/*
 * The one place that calls the owner back, always after libcurl has returned:
 * libcurl forbids calling it from its callbacks, and the owner sends (and may
 * close) from inside on_message. Messages come first, then finished
 * transfers, then a failure, so that everything received before it is delivered.
 */
static void pump(void *ctx)
{
	struct http_conn *h = ctx;
	CURLMsg *msg;
	int left;

	for (;;) {
		deliver_messages(h);
		if (h->state == HTTP_FAILED || !(msg = curl_multi_info_read(h->cev.multi, &left)))
			break;
		if (msg->msg == CURLMSG_DONE)
			xfer_done(h, msg->easy_handle, msg->data.result);
	}
	report_failure(h);
	if (h->state == HTTP_OPEN)
		linger_arm(h);
}

/* A delayed exchange (a resumption, a reconnection of the listening stream) starts now. */
static void on_wait(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct xfer *x = w->data;
	struct http_conn *h = x->h;

	(void)loop;
	(void)revents;
	if (xfer_start(x) < 0) {
		if (x->role == XFER_RESUME)
			fail_request(h, x->info.num, ERR_UPSTREAM_CLOSED, NULL,
				     "out of memory resuming a response stream");
		xfer_free(x);
	}
	pump(h);
}

/*
 * The session cancelled request id: its POST, waiting or running, is of no
 * more use. A server that honours the cancel never answers it, and its stream
 * would stay open until the session ends.
 */
static void forget_request(struct http_conn *h, const char *id)
{
	struct list_node *pos, *tmp;
	struct outmsg **pp = &h->out_head, *prev = NULL;

	list_for_each_safe(pos, tmp, &h->xfers) {
		struct xfer *x = list_entry(pos, struct xfer, link);
		if ((x->role == XFER_POST || x->role == XFER_RESUME) && x->info.is_request &&
		    strcmp(x->info.id, id) == 0)
			xfer_free(x);
	}
	while (*pp) {
		struct outmsg *m = *pp;
		if (m->info.is_request && strcmp(m->info.id, id) == 0) {
			*pp = m->next;
			if (h->out_tail == m)
				h->out_tail = prev;
			outmsg_free(m);
		} else {
			prev = m;
			pp = &m->next;
		}
	}
}

/*
 * Servers SHOULD end a request's stream after its response; one that does not
 * would keep a connection per answered request. The grace lets a stream end
 * by itself, which keeps its connection reusable.
 */
static void on_linger(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_conn *h = w->data;
	struct list_node *pos, *tmp;

	(void)revents;
	list_for_each_safe(pos, tmp, &h->xfers) {
		struct xfer *x = list_entry(pos, struct xfer, link);
		if (x->info.is_request && x->answered && ev_now(loop) - x->answered_at >= LINGER_S) {
			/* A new session is answered: it need not wait for its stream to end. */
			if (x->role == XFER_REINIT)
				reinit_done(x, CURLE_OK);
			xfer_free(x);
		}
	}
	flush_outq(h);
	pump(h);
}

/*
 * Arms the linger timer for the oldest answered stream still open. The timer
 * is set each time: a one-shot timer that fired keeps its old, spent time and
 * would fire again at once, every loop iteration.
 */
static void linger_arm(struct http_conn *h)
{
	struct list_node *pos;
	ev_tstamp first = 0;
	bool any = false;

	if (ev_is_active(&h->linger))
		return;
	list_for_each(pos, &h->xfers) {
		struct xfer *x = list_entry(pos, struct xfer, link);
		if (x->info.is_request && x->answered && (!any || x->answered_at < first)) {
			first = x->answered_at;
			any = true;
		}
	}
	if (!any)
		return;
	ev_tstamp wait = first + LINGER_S - ev_now(h->loop);
	ev_timer_set(&h->linger, wait > 0.001 ? wait : 0.001, 0.);
	ev_timer_start(h->loop, &h->linger);
}

/* ---- the transport's operations ---------------------------------------------------- */

static int http_send(void *impl, const char *line, size_t len, const struct transport_msg *msg)
{
	struct http_conn *h = impl;
	struct outinfo info;

	if (h->state != HTTP_OPEN || h->failed)
		return -1;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (classify(h, msg, &info) < 0)
		return -1;
	if (info.cancels[0]) {
		forget_request(h, info.cancels);
		/* 2026-07-28: closing the request's stream is its cancellation; nothing is posted. */
		if (h->modern) {
			outinfo_free(&info);
			return 0;
		}
	}
	if (info.is_init) {
		char *copy = malloc(len + 1);
		if (!copy) {
			outinfo_free(&info);
			return -1;
		}
		memcpy(copy, line, len);
		copy[len] = '\0';
		free(h->init_body);
		h->init_body = copy;
		h->init_len = len;
	}
	if (h->barrier || h->out_head)
		return outq_push(h, line, len, &info);
	return start_post(h, line, len, &info);
}

/*
 * The era is known. 2026-07-28 and later are stateless: modern headers on
 * every message, no session, no listening stream. Before it, the listening
 * stream opens once notifications/initialized is accepted.
 */
static void http_negotiated(void *impl, const char *version)
{
	struct http_conn *h = impl;

	if (strlen(version) >= sizeof(h->version) || curlev_has_control_char(version, 0))
		return;
	snprintf(h->version, sizeof(h->version), "%s", version);
	h->modern = strcmp(version, MODERN_VERSION) >= 0;
	h->listen_wanted = !h->modern;
	if (h->modern) {
		auth_secret_free(h->session_id);
		h->session_id = NULL;
	}
}

static void http_close(void *impl)
{
	struct http_conn *h = impl;

	if (h->state == HTTP_CLOSING)
		return;
	h->state = HTTP_CLOSING;
	drop_xfers(h);
	inq_free(h);
	outq_free(h);
	if (h->session_id && !h->no_delete && start_delete(h) == 0)
		return;
	conn_release(h);
}

static long http_pid(const void *impl)
{
	(void)impl;
	return 0;
}

static const struct transport_ops http_ops = {
	.name = "http",
	.send = http_send,
	.negotiated = http_negotiated,
	.close = http_close,
	.pid = http_pid,
	.era_probe = true,
};

/* ---- opening ----------------------------------------------------------------------- */

static int conn_setup(struct http_conn *h, const struct transport_spec *spec,
		      const struct transport_options *opt, char *err, size_t errlen)
{
	uint64_t t = opt->request_timeout_ms + EXCHANGE_MARGIN_MS;

	if (curlev_init(&h->cev, h->loop, pump, h) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!spec->url || curlev_has_control_char(spec->url, 0)) {
		snprintf(err, errlen, spec->url ? "url contains a control character (check the auth "
				      "values it uses)" : "no url");
		return -1;
	}
	if (curlev_url_parts(spec->url, &h->where, &h->origin, err, errlen) < 0 ||
	    curlev_entry_headers(&h->entry_headers, spec->headers, spec->nheaders, managed_headers,
				 "http", err, errlen) < 0)
		return -1;
	h->hostport = strstr(h->origin, "://") + 3;
	if (!(h->url = strdup(spec->url)) || !(h->tag = strdup(opt->tag ? opt->tag : "http"))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->max_message = opt->max_message;
	h->exchange_timeout_ms = t > LONG_MAX ? LONG_MAX : (long)t;
	return 0;
}

int http_transport_open(struct transport *t, struct ev_loop *loop, const struct transport_spec *spec,
			const struct transport_options *opt, const struct transport_callbacks *cb,
			void *ctx, char *err, size_t errlen)
{
	struct http_conn *h;

	if (curlev_global_hold(&curl_held, err, errlen) < 0)
		return -1;
	if (!(h = calloc(1, sizeof(*h)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->loop = loop;
	h->d = opt->d;
	h->cb = *cb;
	h->ctx = ctx;
	list_init(&h->xfers);
	ev_timer_init(&h->linger, on_linger, LINGER_S, 0.);
	h->linger.data = h;
	list_add_tail(&all_sessions, &h->link);
	live_sessions++;
	if (conn_setup(h, spec, opt, err, errlen) < 0) {
		conn_free(h);
		return -1;
	}
	log_debug("[%s] http session with %s", h->tag, h->where);
	t->ops = &http_ops;
	t->impl = h;
	return 0;
}

unsigned http_live_sessions(void)
{
	return live_sessions;
}

static void shutdown_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	*(bool *)w->data = true;
}

void http_shutdown_all(struct daemon *d)
{
	struct ev_loop *loop = d->loop;
	struct list_node *pos, *tmp;
	bool expired = false;
	ev_timer deadline;

	list_for_each_safe(pos, tmp, &all_sessions) {
		struct http_conn *h = list_entry(pos, struct http_conn, link);
		if (h->state != HTTP_CLOSING)
			http_close(h);
	}
	ev_timer_init(&deadline, shutdown_deadline, SHUTDOWN_WAIT_S, 0.);
	deadline.data = &expired;
	ev_timer_start(loop, &deadline);
	/* Drained first each time: a session whose DELETE is done must not wait in the queue. */
	while ((daemon_reap(d), !list_empty(&all_sessions)) && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &deadline);
	daemon_reap(d); /* those whose DELETE is done, before libcurl goes */
	list_for_each_safe(pos, tmp, &all_sessions)
		conn_free(list_entry(pos, struct http_conn, link));
	curlev_global_release(&curl_held);
}
