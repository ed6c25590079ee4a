/* libcurl for the daemon: a multi handle driven by the libev loop, and the checks every HTTP request of ours makes. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "curlev.h"

/* A socket libcurl asked us to watch. */
struct curlev_sock {
	struct list_node link; /* c->socks */
	struct curlev *c;
	curl_socket_t fd;
	ev_io io;
};

#define CONNECT_TIMEOUT_MS 10000L
#define USER_AGENT "mcppool/0.1.0"

static unsigned global_users;

static void on_sock_event(struct ev_loop *loop, ev_io *w, int revents)
{
	struct curlev_sock *s = w->data;
	struct curlev *c = s->c;
	int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
		     (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	(void)loop;
	curl_multi_socket_action(c->multi, s->fd, action, &running);
	c->after(c->ctx);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct curlev *c = w->data;
	int running;

	(void)loop;
	(void)revents;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	c->after(c->ctx);
}

static void sock_free(struct curlev *c, struct curlev_sock *s)
{
	ev_io_stop(c->loop, &s->io);
	list_del(&s->link);
	free(s);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct curlev *c = arg;
	struct curlev_sock *s = sockp;
	int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s)
			sock_free(c, s);
		return 0;
	}
	if (!s) {
		if (!(s = calloc(1, sizeof(*s))))
			return -1;
		s->c = c;
		s->fd = fd;
		ev_io_init(&s->io, on_sock_event, fd, events);
		s->io.data = s;
		list_add_tail(&c->socks, &s->link);
		curl_multi_assign(c->multi, fd, s);
	}
	ev_io_stop(c->loop, &s->io);
	ev_io_set(&s->io, fd, events);
	ev_io_start(c->loop, &s->io);
	return 0;
}

/* The timer is set each time: a one-shot timer that fired keeps its spent time. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct curlev *c = arg;

	(void)multi;
	ev_timer_stop(c->loop, &c->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(c->loop, &c->timer);
	}
	return 0;
}

int curlev_init(struct curlev *c, struct ev_loop *loop, void (*after)(void *ctx), void *ctx)
{
	c->loop = loop;
	c->after = after;
	c->ctx = ctx;
	list_init(&c->socks);
	ev_timer_init(&c->timer, on_timer, 0., 0.);
	c->timer.data = c;
	if (!(c->multi = curl_multi_init()))
		return -1;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return 0;
}

void curlev_destroy(struct curlev *c)
{
	struct list_node *pos, *tmp;

	if (c->multi)
		curl_multi_cleanup(c->multi);
	c->multi = NULL;
	/* Sockets libcurl closed without telling us must not stay watched. */
	list_for_each_safe(pos, tmp, &c->socks)
		sock_free(c, list_entry(pos, struct curlev_sock, link));
	ev_timer_stop(c->loop, &c->timer);
}

int curlev_global_init(char *err, size_t errlen)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -1;
	}
	global_users++;
	return 0;
}

void curlev_global_cleanup(void)
{
	if (global_users) {
		global_users--;
		curl_global_cleanup();
	}
}

int curlev_global_hold(bool *held, char *err, size_t errlen)
{
	if (*held)
		return 0;
	if (curlev_global_init(err, errlen) < 0)
		return -1;
	*held = true;
	return 0;
}

void curlev_global_release(bool *held)
{
	if (*held) {
		curlev_global_cleanup();
		*held = false;
	}
}

/* ---- the checks and pieces of a request ---- */

CURL *curlev_easy_new(const char *url, curl_write_callback on_header,
		      curl_write_callback on_body, void *arg, char *errbuf)
{
	CURL *easy = curl_easy_init();

	if (!easy)
		return NULL;
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, arg);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, arg);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, arg);
	return easy;
}

int curlev_append_lines(struct curl_slist **l, const struct curl_slist *from)
{
	for (; from; from = from->next) {
		struct curl_slist *n = curl_slist_append(*l, from->data);
		if (!n)
			return -1;
		*l = n;
	}
	return 0;
}

void curlev_slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *n = l; n; n = n->next)
		sodium_memzero(n->data, strlen(n->data));
	curl_slist_free_all(l);
}

int curlev_add_header(struct curl_slist **l, const char *fmt, ...)
{
	struct curl_slist *n;
	char *line;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -1;
	n = curl_slist_append(*l, line);
	sodium_memzero(line, (size_t)len);
	free(line);
	if (!n)
		return -1;
	*l = n;
	return 0;
}

void curlev_first_reason(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (buf[0])
		return;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

const char *curlev_header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);

	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return NULL;
	const char *v = line + nl + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*vlen = (size_t)(end - v);
	return v;
}

void curlev_media_type(const char *v, size_t n, char *out, size_t outlen)
{
	size_t k = 0;

	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	for (; n && k + 1 < outlen && !strchr("; \t\r\n", *v); v++, n--)
		out[k++] = (char)tolower((unsigned char)*v);
	out[k] = '\0';
}

int curlev_has_control_char_n(const char *s, size_t n, int allow_tab)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && !(allow_tab && c == '\t')) || c == 0x7f)
			return 1;
	}
	return 0;
}

int curlev_has_control_char(const char *s, int allow_tab)
{
	return curlev_has_control_char_n(s, strlen(s), allow_tab);
}

int curlev_is_token(const char *s, int allow_slash)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(allow_slash && *s == '/') &&
		    ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		     strchr("\"(),/:;<=>?@[\\]{}", *s)))
			return 0;
	return 1;
}

int curlev_entry_headers(struct curl_slist **l, const struct kv *hdr, size_t n,
			 const char *const *managed, const char *transport, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = hdr[i].key, *value = hdr[i].value;
		if (!curlev_is_token(name, 0)) {
			snprintf(err, errlen, "header name \"%.64s\" is not a valid HTTP header name",
				 curlev_has_control_char(name, 0) ? "(with control characters)" : name);
			return -1;
		}
		for (const char *const *m = managed; *m; m++)
			if (strcasecmp(name, *m) == 0) {
				snprintf(err, errlen, "header \"%s\" is set by the %s transport itself",
					 name, transport);
				return -1;
			}
		if (curlev_has_control_char(value, 1)) {
			snprintf(err, errlen, "header \"%s\": its value contains a control character "
				 "(CR, LF or the like; check the auth values it uses)", name);
			return -1;
		}
		/* "Name;" is libcurl's way of sending an empty header; "Name:" would remove it. */
		if (curlev_add_header(l, *value ? "%s: %s" : "%s;", name, value) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static void wipe_curl_free(char *s)
{
	if (s)
		sodium_memzero(s, strlen(s));
	curl_free(s);
}

int curlev_url_parts(const char *url, char **where, char **origin, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	CURLUcode rc;
	int ret = -1;

	*where = *origin = NULL;
	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((rc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK ||
	    (rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0)) != CURLUE_OK ||
	    (rc = curl_url_get(u, CURLUPART_HOST, &host, 0)) != CURLUE_OK ||
	    (rc = curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) != CURLUE_OK ||
	    (rc = curl_url_get(u, CURLUPART_PATH, &path, 0)) != CURLUE_OK) {
		snprintf(err, errlen, "url is not a valid URL (%s)", curl_url_strerror(rc));
	} else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "url has scheme \"%.20s\"; only http and https are supported",
			 scheme);
	} else if (asprintf(where, "%s://%s:%s%s", scheme, host, port, path) < 0 ||
		   asprintf(origin, "%s://%s:%s", scheme, host, port) < 0) {
		free(*where);
		*where = *origin = NULL;
		snprintf(err, errlen, "out of memory");
	} else {
		for (char *p = *origin; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		ret = 0;
	}
	curl_free(scheme);
	wipe_curl_free(host); /* the host and path may hold an ${auth.NAME}'s value */
	curl_free(port);
	wipe_curl_free(path);
	curl_url_cleanup(u);
	return ret;
}

char *curlev_resolve(const char *base, const char *ref, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *out = NULL, *copy = NULL;
	CURLUcode rc;

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((rc = curl_url_set(u, CURLUPART_URL, base, 0)) != CURLUE_OK ||
	    (rc = curl_url_set(u, CURLUPART_URL, ref, 0)) != CURLUE_OK ||
	    (rc = curl_url_get(u, CURLUPART_URL, &out, 0)) != CURLUE_OK)
		snprintf(err, errlen, "not a valid URL (%s)", curl_url_strerror(rc));
	else if (!(copy = strdup(out)))
		snprintf(err, errlen, "out of memory");
	wipe_curl_free(out);
	curl_url_cleanup(u);
	return copy;
}
