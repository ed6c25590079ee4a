/* The Streamable HTTP transport: MCP messages as HTTP POSTs, answers as JSON or SSE (libcurl + libev). */
#ifndef MCPPOOL_HTTPCONN_H
#define MCPPOOL_HTTPCONN_H

#include <stddef.h>

#include <ev.h>

#include "transport.h"

/*
 * One MCP session with a remote server (MCP spec, "Streamable HTTP"; protocol
 * 2025-11-25, 2025-06-18 and 2025-03-26). Each message sent is one POST to the
 * entry's URL; each session has its own libcurl multi handle, driven by the
 * loop (ev_io per socket, one ev_timer), so its POSTs run in parallel over
 * reused connections that no other user's session shares.
 *
 * What comes back on a POST:
 *   202 Accepted              nothing (our notifications and responses)
 *   200 application/json      one message, or a batch whose elements are delivered one by one
 *   200 text/event-stream     SSE parsed as it arrives; each event's data is one message;
 *                             the stream ends when the server closes it
 * The transport fails (on_closed) on: a message or body larger than
 * max_message; HTTP 404 on a request carrying our session id ("session
 * expired (HTTP 404)"); any other status >= 300 ("HTTP 500 from
 * http://host:port/path"), but for a 4xx other than 401 and 403 on a request
 * sent before the session has an id (initialize): that request alone fails
 * (on_request_failed, data {"status": N}), which lets urlconn.h fall back to
 * HTTP+SSE; a server that cannot be reached ("cannot reach
 * host:port: ..."); and a POST of a request that ends without the response
 * (the answer could never arrive: failing now is better than a timeout).
 *
 * Ordering: a POST of a notification or response must be answered before any
 * later message is posted, so that a server sees notifications/initialized
 * before the requests that follow it; requests do not wait for each other.
 *
 * Not supported: the optional standalone GET stream (server-initiated requests
 * and notifications outside a POST's stream never reach us), resuming a broken
 * SSE stream with Last-Event-ID, and HTTP redirects (a 3xx fails the transport).
 *
 * Secrets: the URL (its query or user info may hold auth values) and header
 * values are never logged, and are wiped from our memory when the session is
 * freed; logs and reasons name only scheme, host, port and path.
 *
 * close() ends the session the way the spec asks: a DELETE with the
 * Mcp-Session-Id, bounded by 2 s, completed by the loop, after which the
 * memory goes to the daemon's deferred-free queue (transport_options.d). No
 * callback follows close().
 */

/*
 * Opens the transport of spec (kind TRANSPORT_HTTP) and fills t. Nothing is
 * sent until the first send(). Returns 0, or -1 with the reason in err: a URL
 * that is not http(s), a URL, header name or header value with a control
 * character (an auth value could smuggle CR LF into the request), a header
 * that the transport sets itself, or out of memory. spec and opt are only read.
 * Initialises libcurl (CURL_GLOBAL_DEFAULT) on first use.
 */
int http_transport_open(struct transport *t, struct ev_loop *loop, const struct transport_spec *spec,
			const struct transport_options *opt, const struct transport_callbacks *cb,
			void *ctx, char *err, size_t errlen);

/* Sessions opened and not yet freed (open, or closed with their DELETE still pending). */
unsigned http_live_sessions(void);

/*
 * For daemon exit, after stdio_shutdown_all(): closes every session still
 * open (no callback follows; afterwards no transport may be used), runs the
 * daemon's loop until every pending DELETE is done or 2 s have passed, then
 * frees everything (the deferred-free queue is drained) and releases
 * libcurl's global state.
 */
struct daemon;
void http_shutdown_all(struct daemon *d);

#endif
