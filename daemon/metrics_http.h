/* The Prometheus scrape endpoint: GET /metrics over HTTP (MCPPOOL_METRICS_LISTEN). */
#ifndef MCPPOOL_METRICS_HTTP_H
#define MCPPOOL_METRICS_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

struct daemon;

/*
 * Resolves "HOST:PORT" ("[V6ADDR]:PORT" for an IPv6 literal; PORT 0 picks a
 * free port) into *addr for listening. Returns 0, or -1 with what is accepted
 * in why (never longer than whylen). Used by config.c to refuse a bad value at
 * start-up, and by metrics_http_start().
 */
int metrics_http_resolve(const char *spec, struct sockaddr_storage *addr, socklen_t *addrlen,
			 char *why, size_t whylen);

/*
 * Starts serving d->cfg.metrics_listen when it is set (a no-op returning 0
 * when not): libmicrohttpd in its external mode, driven by one ev_io on its
 * epoll descriptor and one ev_timer for its timeouts; no thread. GET (or HEAD)
 * /metrics answers metrics_render()'s text, any other path 404, any other
 * method on /metrics 405. Logs the address actually bound (the port chosen
 * when the spec said 0). Returns 0, or -1 with the reason in err.
 */
int metrics_http_start(struct daemon *d, char *err, size_t errlen);

/* Stops serving and closes every scrape connection; a no-op when not started. */
void metrics_http_stop(struct daemon *d);

#endif
