/* A bounded parser of server-sent events (text/event-stream), fed as bytes arrive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sseparse.h"

#define FIELD_SLACK 64 /* a line may exceed max_data by its field name */
#define RETRY_SATURATE 100000000L /* a retry field stops growing here (no overflow) */

void sse_parser_init(struct sse_parser *p, size_t max_data, sse_event_fn on_event, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->max_data = max_data;
	p->on_event = on_event;
	p->ctx = ctx;
	p->retry_ms = -1;
	jbuf_init(&p->line);
	jbuf_init(&p->data);
}

void sse_parser_free(struct sse_parser *p)
{
	jbuf_free(&p->line);
	jbuf_free(&p->data);
}

static bool has_control_char(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return true;
	return false;
}

static int fail(struct sse_parser *p, const char *why)
{
	snprintf(p->err, sizeof(p->err), "%s", why);
	return -1;
}

/* An empty line: the event ends; one with data is delivered. */
static int dispatch(struct sse_parser *p)
{
	struct sse_event ev = {
		.type = p->type_too_long ? "?" : p->type[0] ? p->type : "message",
		.data = p->data.data ? p->data.data : (char *)"",
		.len = p->data.len,
	};
	int rc = 0;

	if (p->has_data && p->on_event(p->ctx, &ev) < 0)
		rc = fail(p, "stopped");
	jbuf_reset(&p->data, p->max_data / 4);
	p->has_data = false;
	p->type[0] = '\0';
	p->type_too_long = false;
	return rc;
}

static int field(struct sse_parser *p, const char *name, size_t nlen, const char *value,
		 size_t vlen)
{
	if (nlen == 4 && memcmp(name, "data", 4) == 0) {
		if (p->data.len + vlen + (p->has_data ? 1 : 0) > p->max_data) {
			snprintf(p->err, sizeof(p->err), "an event exceeds %zu bytes", p->max_data);
			return -1;
		}
		if ((p->has_data && jbuf_append(&p->data, "\n", 1) < 0) ||
		    jbuf_append(&p->data, value, vlen) < 0)
			return fail(p, "out of memory reading an event");
		p->has_data = true;
	} else if (nlen == 5 && memcmp(name, "event", 5) == 0) {
		p->type_too_long = vlen >= sizeof(p->type);
		if (!p->type_too_long) {
			memcpy(p->type, value, vlen);
			p->type[vlen] = '\0';
		}
	} else if (nlen == 2 && memcmp(name, "id", 2) == 0) {
		/*
		 * The standard ignores an id holding NUL; we also drop one too long to
		 * keep, and one with a control character: it goes into Last-Event-ID.
		 */
		if (vlen < sizeof(p->last_id) && !has_control_char(value, vlen)) {
			memcpy(p->last_id, value, vlen);
			p->last_id[vlen] = '\0';
			p->id_seen = true;
		}
	} else if (nlen == 5 && memcmp(name, "retry", 5) == 0) {
		/* ASCII digits only, else ignored; a huge value saturates (the owner bounds it). */
		long ms = 0;
		size_t i;
		for (i = 0; i < vlen && value[i] >= '0' && value[i] <= '9'; i++)
			if (ms < RETRY_SATURATE)
				ms = ms * 10 + (value[i] - '0');
		if (i == vlen && vlen > 0)
			p->retry_ms = ms;
	}
	return 0;
}

/* One complete line, in p->line. */
static int line_done(struct sse_parser *p)
{
	const char *line = p->line.data ? p->line.data : "";
	size_t len = p->line.len;
	const char *colon, *value;

	if (!p->seen_first) {
		p->seen_first = true;
		if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
			line += 3;
			len -= 3;
		}
	}
	if (len == 0)
		return dispatch(p);
	if (line[0] == ':')
		return 0;
	/* "data" alone is a data field with an empty value. */
	colon = memchr(line, ':', len);
	value = colon ? colon + 1 : line + len;
	if (colon && value < line + len && *value == ' ')
		value++;
	return field(p, line, colon ? (size_t)(colon - line) : len, value,
		     len - (size_t)(value - line));
}

int sse_parser_feed(struct sse_parser *p, const char *buf, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (p->after_cr) {
			p->after_cr = false;
			if (buf[i] == '\n') {
				i++;
				continue;
			}
		}
		size_t j = i;
		while (j < n && buf[j] != '\n' && buf[j] != '\r')
			j++;
		if (p->line.len + (j - i) > p->max_data + FIELD_SLACK) {
			snprintf(p->err, sizeof(p->err), "an event exceeds %zu bytes", p->max_data);
			return -1;
		}
		if (j > i && jbuf_append(&p->line, buf + i, j - i) < 0)
			return fail(p, "out of memory reading an event");
		if (j == n)
			break;
		p->after_cr = buf[j] == '\r';
		if (line_done(p) < 0)
			return -1;
		jbuf_reset(&p->line, 4096);
		i = j + 1;
	}
	return 0;
}
