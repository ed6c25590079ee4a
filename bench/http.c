/* The peer's client: MCP over Streamable HTTP (libcurl), as an app would call supergateway. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#define DRAIN_NS (5ull * 1000000000u)

/* One request of the load, with the easy handle (and so the connection) that carries it. */
struct hreq {
	CURL *easy;
	struct http_body body;
	uint64_t id, sent_ns;
	char json[256];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct http_body *b = arg;
	size_t len = size * n;

	if (b->len + len + 1 > b->cap) {
		size_t cap = (b->len + len + 1) * 2;
		char *grown = realloc(b->data, cap);

		if (!grown)
			return 0;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	static const char name[] = "mcp-session-id:";
	struct http_session *s = arg;
	size_t len = size * n, start = sizeof(name) - 1;

	if (len > start && !strncasecmp(p, name, start)) {
		while (start < len && p[start] == ' ')
			start++;
		while (len > start && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
			len--;
		if (len - start < sizeof(s->id))
			snprintf(s->id, sizeof(s->id), "%.*s", (int)(len - start), p + start);
	}
	return size * n;
}

static CURL *easy_new(struct http_session *s, struct http_body *b)
{
	CURL *e = curl_easy_init();

	if (!e)
		die("curl_easy_init failed");
	curl_easy_setopt(e, CURLOPT_URL, s->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
	return e;
}

static void headers_add(struct http_session *s, const char *header)
{
	struct curl_slist *l = curl_slist_append(s->headers, header);

	if (!l)
		die("out of memory");
	s->headers = l;
}

/* Whether one JSON-RPC message is the result of request id. */
static int is_result(const char *text, size_t len, uint64_t id)
{
	json_t *msg = json_loadb(text, len, 0, NULL);
	json_t *jid = json_object_get(msg, "id");
	int ok = json_is_integer(jid) && (uint64_t)json_integer_value(jid) == id &&
		 json_object_get(msg, "result") != NULL;

	json_decref(msg);
	return ok;
}

/* Whether body, plain JSON or an SSE stream of `data:` lines, holds the result of request id. */
static int body_has_result(const struct http_body *b, uint64_t id)
{
	const char *p = b->data, *end = b->data + b->len;

	if (!b->len)
		return 0;
	if (*p == '{')
		return is_result(p, b->len, id);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if (eol - p > 5 && !strncmp(p, "data:", 5) && is_result(p + 5, (size_t)(eol - p - 5), id))
			return 1;
		p = eol + 1;
	}
	return 0;
}

static void call_json(char *buf, size_t size, uint64_t id)
{
	snprintf(buf, size,
		 "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"tools/call\",\"params\":"
		 "{\"name\":\"echo\",\"arguments\":{\"message\":\"hello\"}}}",
		 (unsigned long long)id);
}

/* POSTs json on s's handle; returns the HTTP status, the reply in s->body. Dies on transport errors. */
static long post(struct http_session *s, const char *json)
{
	CURLcode rc;
	long status = 0;

	s->body.len = 0;
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, json);
	rc = curl_easy_perform(s->easy);
	if (rc != CURLE_OK)
		die("POST %s: %s", s->url, curl_easy_strerror(rc));
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

void http_session_open(struct http_session *s, const char *url)
{
	static const char init[] =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
		"{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
		"\"clientInfo\":{\"name\":\"mcppool-bench\",\"version\":\"1\"}}}";
	static const char initialized[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
	char header[160];
	long status;

	memset(s, 0, sizeof(*s));
	s->url = url;
	s->next_id = 2;
	headers_add(s, "Content-Type: application/json");
	headers_add(s, "Accept: application/json, text/event-stream");
	s->easy = easy_new(s, &s->body);
	curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
	status = post(s, init);
	if (status != 200 || !s->id[0] || !body_has_result(&s->body, 1))
		die("initialize at %s: HTTP %ld, session \"%s\": %.200s", url, status, s->id,
		    s->body.data ? s->body.data : "");
	snprintf(header, sizeof(header), "Mcp-Session-Id: %s", s->id);
	headers_add(s, header);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
	status = post(s, initialized);
	if (status != 202 && status != 200)
		die("notifications/initialized at %s: HTTP %ld", url, status);
}

void http_session_call(struct http_session *s)
{
	char json[256];
	uint64_t id = s->next_id++;

	call_json(json, sizeof(json), id);
	if (post(s, json) != 200 || !body_has_result(&s->body, id))
		die("tools/call at %s: %.200s", s->url, s->body.data ? s->body.data : "");
}

void http_session_close(struct http_session *s)
{
	/* HTTPGET drops the POST body; CUSTOMREQUEST then renames the method. */
	curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
	curl_easy_perform(s->easy);
	curl_easy_cleanup(s->easy);
	curl_slist_free_all(s->headers);
	free(s->body.data);
}

/* ---- load ------------------------------------------------------------------------- */

struct http_load {
	const struct http_load_spec *spec;
	CURLM *multi;
	struct hreq *reqs;
	unsigned running;
	uint64_t start_ns, stop_ns; /* the window */
	unsigned marks;             /* CPU marks taken: at the window's start, at its end */
	struct cpu_mark at_start;
	struct load_result *res;
};

static void req_send(struct http_load *l, struct hreq *r)
{
	r->id = l->spec->session->next_id++;
	call_json(r->json, sizeof(r->json), r->id);
	r->body.len = 0;
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->json);
	r->sent_ns = now_ns();
	if (curl_multi_add_handle(l->multi, r->easy) != CURLM_OK)
		die("curl_multi_add_handle failed");
	l->running++;
}

static void req_done(struct http_load *l, struct hreq *r, CURLcode rc)
{
	uint64_t t = now_ns();
	long status = 0;

	curl_multi_remove_handle(l->multi, r->easy);
	l->running--;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK || status != 200 || !body_has_result(&r->body, r->id))
		die("tools/call at %s failed: %s, HTTP %ld", l->spec->session->url,
		    curl_easy_strerror(rc), status);
	if (t >= l->start_ns && t < l->stop_ns) {
		l->res->calls++;
		samples_add(&l->res->lat, t - r->sent_ns);
	}
	if (t < l->stop_ns)
		req_send(l, r);
}

/* Reads the CPU times as the clock crosses into and out of the window. */
static void mark_window(struct http_load *l)
{
	uint64_t t = now_ns();
	struct cpu_mark at_stop;

	if (l->marks == 0 && t >= l->start_ns) {
		cpu_mark_take(&l->at_start, l->spec->server_pid);
		l->marks++;
	}
	if (l->marks == 1 && t >= l->stop_ns) {
		cpu_mark_take(&at_stop, l->spec->server_pid);
		load_result_cpu(l->res, &l->at_start, &at_stop);
		l->marks++;
	}
}

static void http_load_loop(struct http_load *l)
{
	CURLMsg *msg;
	int left, still;

	while (l->running && now_ns() < l->stop_ns + DRAIN_NS) {
		curl_multi_perform(l->multi, &still);
		while ((msg = curl_multi_info_read(l->multi, &left))) {
			struct hreq *r;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			req_done(l, r, msg->data.result);
		}
		mark_window(l);
		curl_multi_poll(l->multi, NULL, 0, 10, NULL);
	}
	if (l->running)
		die("supergateway left %u calls unanswered", l->running);
}

void http_load_run(const struct http_load_spec *spec, struct load_result *res)
{
	struct http_load l = { .spec = spec, .res = res };

	memset(res, 0, sizeof(*res));
	samples_init(&res->lat);
	l.multi = curl_multi_init();
	l.reqs = xcalloc(spec->inflight, sizeof(*l.reqs));
	curl_multi_setopt(l.multi, CURLMOPT_MAXCONNECTS, (long)spec->inflight);
	l.start_ns = now_ns() + (uint64_t)(spec->warmup_s * 1e9);
	l.stop_ns = l.start_ns + (uint64_t)(spec->seconds * 1e9);
	for (unsigned i = 0; i < spec->inflight; i++) {
		struct hreq *r = &l.reqs[i];

		r->easy = easy_new(spec->session, &r->body);
		curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
		req_send(&l, r);
	}
	http_load_loop(&l);
	res->seconds = (double)(l.stop_ns - l.start_ns) / 1e9;
	for (unsigned i = 0; i < spec->inflight; i++) {
		curl_easy_cleanup(l.reqs[i].easy);
		free(l.reqs[i].body.data);
	}
	curl_multi_cleanup(l.multi);
	free(l.reqs);
}
