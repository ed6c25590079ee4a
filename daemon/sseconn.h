/* The deprecated HTTP+SSE transport of MCP 2024-11-05: messages arrive on one GET stream, each message sent is a POST. */
#ifndef MCPPOOL_SSECONN_H
#define MCPPOOL_SSECONN_H

#include <ev.h>

#include "transport.h"

/*
 * One session with a server that speaks only the old transport (MCP spec
 * 2024-11-05, "HTTP with SSE"; catalog "type": "sse", or the 2025-03-26
 * fallback of a plain url entry: transport.h).
 *
 *   GET url (Accept: text/event-stream) opens the session's one stream. Its
 *   first "endpoint" event names where to POST, absolute or relative to url;
 *   it must have url's origin (scheme, host and port), else the transport
 *   fails: an endpoint elsewhere would receive the entry's headers (its auth
 *   values) and every message. "message" events carry the server's messages,
 *   one JSON-RPC message each; other events are skipped.
 *
 *   Each message sent is one POST of it to the endpoint; the answer (202 or
 *   200) has no message in it. Messages sent before the endpoint is known
 *   wait for it. A POST of a notification or response must be answered
 *   before any later message is posted (the server sees notifications/
 *   initialized before the requests that follow it); requests do not wait.
 *
 * The transport fails (on_closed, once) when: the GET is refused (HTTP status
 * other than 200, or not text/event-stream), no endpoint event comes within
 * request_timeout_ms, the endpoint is invalid or of another origin, the
 * stream ends (the server closed it: every request in flight is lost, as the
 * answers could only come on it), an event exceeds max_message, a POST cannot
 * reach the server or times out (request_timeout_ms), or a POST is answered
 * 404 (the server forgot the session). Any other status >= 300 on a request's
 * POST fails only that request (on_request_failed: ERR_AUTH_REQUIRED for
 * 401/403, else ERR_UPSTREAM_ERROR; data {"status": N}); on a notification or
 * response it is logged.
 *
 * Secrets: the URL, the endpoint (it holds the server's session id) and
 * header values are never logged and are wiped when freed; logs and reasons
 * show scheme://host:port/path only.
 *
 * close() ends the GET and every POST at once (the old transport has no
 * DELETE); the memory goes to the daemon's deferred-free queue. No callback
 * follows close().
 */

/*
 * Opens the transport of spec (kind TRANSPORT_HTTP) and fills t; the GET
 * starts at once. Returns 0, or -1 with the reason in err: a URL that is not
 * http(s), a URL, header name or header value with a control character, a
 * header that the transport sets itself, or out of memory. spec and opt are
 * only read.
 */
int sse_transport_open(struct transport *t, struct ev_loop *loop, const struct transport_spec *spec,
		       const struct transport_options *opt, const struct transport_callbacks *cb,
		       void *ctx, char *err, size_t errlen);

/*
 * For daemon exit: closes every session still open (no callback follows),
 * frees them (the deferred-free queue is drained), and releases this
 * module's hold on libcurl's global state.
 */
struct daemon;
void sse_shutdown_all(struct daemon *d);

#endif
