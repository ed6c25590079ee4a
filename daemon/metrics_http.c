/* The Prometheus scrape endpoint: GET /metrics over HTTP (MCPPOOL_METRICS_LISTEN). */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"

#define SCRAPE_CONN_LIMIT 16    /* scrapers are few; more is a mistake or an attack */
#define SCRAPE_IDLE_TIMEOUT_S 10
#define CONTENT_TYPE_PROM "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
	struct daemon *d;
	struct MHD_Daemon *mhd;
	ev_io epoll_w;    /* MHD's epoll descriptor: readable when a socket of it is */
	ev_timer timer_w; /* MHD's own timeouts (idle scrapers) and work left over */
	char last_error[256];
};

int metrics_http_resolve(const char *spec, struct sockaddr_storage *addr, socklen_t *addrlen,
			 char *why, size_t whylen)
{
	static const char accepted[] = "expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464";
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char host[256], *end;
	const char *colon, *port;
	unsigned long n;
	int rc;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return snprintf(why, whylen, "%s", accepted), -1;
		colon = close + 1;
		if ((size_t)(close - spec - 1) >= sizeof(host))
			return snprintf(why, whylen, "host too long (%s)", accepted), -1;
		memcpy(host, spec + 1, (size_t)(close - spec - 1));
		host[close - spec - 1] = '\0';
		hints.ai_flags |= AI_NUMERICHOST;
		hints.ai_family = AF_INET6;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || colon == spec || memchr(spec, ':', (size_t)(colon - spec)))
			return snprintf(why, whylen, "%s", accepted), -1;
		if ((size_t)(colon - spec) >= sizeof(host))
			return snprintf(why, whylen, "host too long (%s)", accepted), -1;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
	}
	port = colon + 1;
	errno = 0;
	n = strtoul(port, &end, 10);
	if (*port < '0' || *port > '9' || *end || errno || n > 65535)
		return snprintf(why, whylen, "bad port (%s, PORT from 0 to 65535)", accepted), -1;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0 || !res) {
		snprintf(why, whylen, "cannot resolve the host: %s (%s)", gai_strerror(rc), accepted);
		return -1;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static enum MHD_Result reply_static(struct MHD_Connection *conn, unsigned status, const char *body,
				    const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result reply_metrics(struct metrics_http *mh, struct MHD_Connection *conn)
{
	struct MHD_Response *r;
	enum MHD_Result ok;
	char *text = metrics_render(mh->d);

	if (!text)
		return reply_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_PROM);
	ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ok;
}

/* MHD's request callback: answers at once, on the headers; a body is never read. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;

	if (strcmp(url, "/metrics") != 0)
		return reply_static(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				    "GET, HEAD");
	return reply_metrics(cls, conn);
}

/* MHD's error messages: kept for the start-up error, and logged at debug level. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct metrics_http *mh = cls;
	size_t n;

	vsnprintf(mh->last_error, sizeof(mh->last_error), fmt, ap);
	n = strlen(mh->last_error);
	while (n && (mh->last_error[n - 1] == '\n' || mh->last_error[n - 1] == '\r'))
		mh->last_error[--n] = '\0';
	log_debug("metrics http: %s", mh->last_error);
}

/* Lets MHD do what is ready, then re-arms the timer on what MHD says it needs next. */
static void metrics_http_run(struct metrics_http *mh)
{
	struct ev_loop *loop = mh->d->loop;
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(mh->mhd);
	ev_timer_stop(loop, &mh->timer_w);
	if (MHD_get_timeout(mh->mhd, &ms) == MHD_YES) {
		ev_timer_set(&mh->timer_w, (double)ms / 1000.0, 0.);
		ev_timer_start(loop, &mh->timer_w);
	}
}

static void on_epoll(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	metrics_http_run(w->data);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	metrics_http_run(w->data);
}

/* Logs where scrapers find us: the port is the one bound, which matters when the spec said 0. */
static void log_bound(const struct metrics_http *mh, const struct sockaddr_storage *addr,
		      socklen_t addrlen)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(mh->mhd, MHD_DAEMON_INFO_BIND_PORT);
	char host[NI_MAXHOST];

	if (getnameinfo((const struct sockaddr *)addr, addrlen, host, sizeof(host), NULL, 0,
			NI_NUMERICHOST) != 0)
		snprintf(host, sizeof(host), "?");
	log_info("metrics: serving http://%s%s%s:%u/metrics", addr->ss_family == AF_INET6 ? "[" : "",
		 host, addr->ss_family == AF_INET6 ? "]" : "", info ? (unsigned)info->port : 0);
}

static int mhd_open(struct metrics_http *mh, const struct sockaddr_storage *addr, char *err,
		    size_t errlen)
{
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (addr->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	mh->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, mh,
				   MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned)SCRAPE_CONN_LIMIT,
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SCRAPE_IDLE_TIMEOUT_S,
				   MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, mh, MHD_OPTION_END);
	if (!mh->mhd) {
		snprintf(err, errlen, "MCPPOOL_METRICS_LISTEN=%s: cannot listen: %s",
			 mh->d->cfg.metrics_listen, mh->last_error[0] ? mh->last_error : "unknown error");
		return -1;
	}
	return 0;
}

int metrics_http_start(struct daemon *d, char *err, size_t errlen)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage addr;
	struct metrics_http *mh;
	socklen_t addrlen;
	char why[256];

	if (!d->cfg.metrics_listen)
		return 0;
	if (metrics_http_resolve(d->cfg.metrics_listen, &addr, &addrlen, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "MCPPOOL_METRICS_LISTEN=%s: %s", d->cfg.metrics_listen, why);
		return -1;
	}
	if (!(mh = calloc(1, sizeof(*mh)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	mh->d = d;
	if (mhd_open(mh, &addr, err, errlen) < 0) {
		free(mh);
		return -1;
	}
	info = MHD_get_daemon_info(mh->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		snprintf(err, errlen, "MCPPOOL_METRICS_LISTEN: libmicrohttpd gave no epoll descriptor");
		MHD_stop_daemon(mh->mhd);
		free(mh);
		return -1;
	}
	ev_io_init(&mh->epoll_w, on_epoll, info->epoll_fd, EV_READ);
	ev_timer_init(&mh->timer_w, on_timer, 0., 0.);
	mh->epoll_w.data = mh->timer_w.data = mh;
	ev_io_start(d->loop, &mh->epoll_w);
	d->metrics_http = mh;
	log_bound(mh, &addr, addrlen);
	return 0;
}

void metrics_http_stop(struct daemon *d)
{
	struct metrics_http *mh = d->metrics_http;

	if (!mh)
		return;
	ev_io_stop(d->loop, &mh->epoll_w);
	ev_timer_stop(d->loop, &mh->timer_w);
	MHD_stop_daemon(mh->mhd);
	free(mh);
	d->metrics_http = NULL;
}
