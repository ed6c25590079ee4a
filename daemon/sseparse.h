/* A bounded parser of server-sent events (text/event-stream), fed as bytes arrive. */
#ifndef MCPPOOL_SSEPARSE_H
#define MCPPOOL_SSEPARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "jsontext.h"

#define SSE_TYPE_MAX 32 /* bytes of an event type we tell apart; longer ones are "unknown" */
#define SSE_ID_MAX 256  /* bytes of an event id we keep; a longer one is not kept */

/*
 * One event, valid during the on_event call: type is the event field ("message"
 * when the event had none, as the SSE standard says; "?" when it was longer
 * than SSE_TYPE_MAX - 1), data the data fields joined by '\n', NUL-terminated
 * and modifiable.
 */
struct sse_event {
	const char *type;
	char *data;
	size_t len;
};

/*
 * What the parser calls per event with a data field (events without one, such
 * as a 2025-11-25 priming event, only update last_id). Returns 0, or -1 to
 * stop the stream: sse_parser_feed() then fails with "stopped".
 */
typedef int (*sse_event_fn)(void *ctx, const struct sse_event *ev);

/*
 * Parser state of one stream. Lines end with LF, CR LF or CR (CR LF split
 * across two feeds included); a leading UTF-8 BOM is dropped; comments
 * (":...") and unknown fields are skipped. The data of one event is bounded by
 * max_data: a larger one fails the stream before it is buffered whole. An id
 * with a NUL or another control character, or of SSE_ID_MAX bytes or more, is
 * not kept (it is sent back as a header; a shortened one would replay events).
 */
struct sse_parser {
	size_t max_data;
	sse_event_fn on_event;
	void *ctx;
	char last_id[SSE_ID_MAX]; /* the id field last kept ("" none): for Last-Event-ID */
	bool id_seen;             /* an id field was kept since init (the stream made progress) */
	long retry_ms;            /* the retry field last seen (saturated, never negative); -1 none */
	char err[96];             /* why feed failed */
	/* private */
	struct jbuf line, data;
	char type[SSE_TYPE_MAX];
	bool has_data, type_too_long, after_cr, seen_first;
};

/* Initialises p; nothing is allocated until bytes arrive. */
void sse_parser_init(struct sse_parser *p, size_t max_data, sse_event_fn on_event, void *ctx);

/*
 * Feeds n bytes; complete events are passed to on_event in order. Returns 0,
 * or -1 with the reason in p->err (an event or line over the bound, out of
 * memory, or on_event asked to stop); the stream is then of no more use.
 */
int sse_parser_feed(struct sse_parser *p, const char *buf, size_t n);

/* Frees p's buffers; p may be initialised again. */
void sse_parser_free(struct sse_parser *p);

#endif
