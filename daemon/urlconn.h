/* The transport of a url entry without a type: Streamable HTTP, or HTTP+SSE when the server speaks only that. */
#ifndef MCPPOOL_URLCONN_H
#define MCPPOOL_URLCONN_H

#include <ev.h>

#include "transport.h"

/*
 * MCP 2025-03-26, "Backwards Compatibility": a client that does not know
 * which transport a URL speaks POSTs initialize to it; when that POST is
 * refused with an HTTP 4xx, it GETs the URL expecting the "endpoint" event
 * of the old HTTP+SSE transport, and uses that.
 *
 * This transport starts as Streamable HTTP (httpconn.h) and passes
 * everything through. When the initialize request (the message whose
 * transport_msg.method is "initialize") fails with on_request_failed and a
 * data_json whose "status" is a 4xx other than 401 and 403 (an auth
 * challenge is the server's answer, not a sign of the old transport), it
 * closes the HTTP session, opens HTTP+SSE (sseconn.h) on the same URL and
 * headers, and sends initialize again, with the same id: the upstream sees
 * only initialize's answer. When the fallback also fails, initialize fails
 * (or the transport closes) with a reason naming both refusals.
 *
 * Until initialize is answered (ops->negotiated()), the URL and header values
 * are kept for the fallback, wiped when freed. ops->kind() says which
 * transport is in use: "http", or "sse" after the fallback.
 */
int url_transport_open(struct transport *t, struct ev_loop *loop, const struct transport_spec *spec,
		       const struct transport_options *opt, const struct transport_callbacks *cb,
		       void *ctx, char *err, size_t errlen);

#endif
