/* The Streamable HTTP transport: MCP messages as HTTP POSTs, answers as JSON or SSE (libcurl + libev). */
#ifndef MCPPOOL_HTTPCONN_H
#define MCPPOOL_HTTPCONN_H

#include <stddef.h>

#include <ev.h>

#include "transport.h"

/*
 * One MCP session with a remote server (MCP spec, "Streamable HTTP"; protocol
 * 2026-07-28, and 2025-11-25 back to 2025-03-26). Each message sent is one
 * POST to the entry's URL; each session has its own libcurl multi handle,
 * driven by the loop (ev_io per socket, one ev_timer), so its POSTs run in
 * parallel over reused connections that no other user's session shares.
 *
 * What comes back on a POST:
 *   202 Accepted              nothing (our notifications and responses)
 *   200 application/json      one message, or a batch whose elements are delivered one by one
 *   200 text/event-stream     SSE parsed as it arrives; each event's data is one message;
 *                             the stream ends when the server closes it
 * Messages are delivered with on_scanned's stream_of = the id of the request
 * whose POST (or resumption) carried them, 0 for the listening stream.
 *
 * One request fails alone (on_request_failed; the transport stays open):
 *   401, 403    ERR_AUTH_REQUIRED, "HTTP 401 from URL: ..."; data_json is the
 *               WWW-Authenticate challenge: {"status", "scheme",
 *               "resource_metadata", "scope", "error", "error_description",
 *               "realm" (those given), "wwwAuthenticate": the header}
 *   >= 300      a JSON-RPC error body with the request's id (on a modern
 *               exchange or the probe: any JSON-RPC error body) is delivered
 *               as its response, under its id; else ERR_UPSTREAM_ERROR "HTTP 413 from URL[: the
 *               body's error message]" with data_json {"status": 413}. The
 *               server/discover probe gets "HTTP 400 from URL: not a
 *               2026-07-28 server" for any 4xx (the upstream falls back to
 *               initialize; the HTTP+SSE fallback can read "status").
 *   a stream that ends before the answer: resumed with GET and Last-Event-ID
 *               (its last SSE event id) after its retry time (bounded), at
 *               most RESUME_ATTEMPTS times in a row without a new event; when
 *               it had no event id, or resuming fails, ERR_UPSTREAM_CLOSED.
 * A lost session (404, or 400 whose body speaks of the session, to a message
 * that carried our Mcp-Session-Id) is renewed inside the transport: the
 * initialize the owner sent first is posted again without a session id, then
 * notifications/initialized, then the request that met it, once (a second
 * such answer fails it alone, ERR_UPSTREAM_CLOSED). The owner sees nothing.
 *
 * The transport fails (on_closed) only on: a message or body larger than
 * max_message; a server that cannot be reached ("cannot reach host:port:
 * ..."); a lost session that cannot be renewed; out of memory.
 *
 * Eras. Before negotiated(), messages go the legacy way, except a request
 * whose method is "server/discover" (the era probe). After negotiated(v):
 *   v < 2026-07-28  Mcp-Session-Id (from the initialize answer) and
 *                   MCP-Protocol-Version: v on every exchange; the listening
 *                   GET stream opens once a notification (initialized) is
 *                   accepted: 405 or any status >= 300 means none (never asked
 *                   again in the session); a stream that ends is reopened with
 *                   Last-Event-ID, backing off to 30 s while it brings nothing.
 *   v >= 2026-07-28 MCP-Protocol-Version, Mcp-Method and Mcp-Name (Base64
 *                   =?base64?...?= when not plain) from transport_msg; no
 *                   session, no GET stream, no resumption, no DELETE; a
 *                   cancel closes the request's stream instead of posting
 *                   notifications/cancelled.
 *
 * Ordering: a POST of a notification or response must be answered before any
 * later message is posted, so that a server sees notifications/initialized
 * before the requests that follow it; requests do not wait for each other.
 *
 * Not supported: HTTP redirects (a 3xx fails the request).
 *
 * Secrets: the URL (its query or user info may hold auth values) and header
 * values are never logged, and are wiped from our memory when the session is
 * freed; logs and reasons name only scheme, host, port and path.
 *
 * close() ends the session the way the spec asks: a DELETE with the
 * Mcp-Session-Id (none when there is no session, or it is known lost),
 * bounded by 2 s, completed by the loop, after which the memory goes to the
 * daemon's deferred-free queue (transport_options.d). No callback follows
 * close().
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
