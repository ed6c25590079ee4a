/*
 * Fuzzes the server-sent events parser (daemon/sseparse.c), the bytes an HTTP server
 * sends on a text/event-stream. The first three input bytes choose the event bound
 * (max_data, 1 to 4081 bytes), the seed of the chunk sizes and the event whose
 * callback asks to stop (0: none); the rest is the stream. It is fed once whole and
 * once in chunks of 0 to 31 bytes, and:
 * - both feedings deliver the same events (type, data) with the same last_id and
 *   retry_ms at each, and end alike (the same result and reason): a split never
 *   changes what is read, CR LF split across two chunks included;
 * - an event's data is at most max_data bytes, NUL-terminated at len, without CR; its
 *   type is "message", "?" or a name shorter than SSE_TYPE_MAX without CR or LF;
 * - last_id is shorter than SSE_ID_MAX, without CR or LF; retry_ms is -1 or a count
 *   of milliseconds below 10^9;
 * - a failure gives a reason; "stopped" exactly when the callback asked to stop;
 * - a freed parser initialised again reads the stream as a new one does;
 * - the events, last_id and retry_ms at each are those of a plain reading of the whole
 *   stream as the SSE standard says (reference() below, with the parser's bounds on
 *   type, id and retry), all of them unless the parser failed, then the first ones.
 */
#include "fuzz.h"

#include "sseparse.h"

#define MAX_EVENTS 512 /* events compared; more are counted */

struct seen {
	char *type, *data;
	size_t len;
	char last_id[SSE_ID_MAX];
	long retry_ms;
};

struct run {
	struct sse_parser *p;
	size_t n, stop_at;
	struct seen ev[MAX_EVENTS];
};

static int on_event(void *ctx, const struct sse_event *ev)
{
	struct run *r = ctx;
	struct seen *s;
	size_t tlen;

	FUZZ_CHECK(ev->len <= r->p->max_data, "event of %zu bytes, bound %zu", ev->len,
		   r->p->max_data);
	FUZZ_CHECK(ev->data[ev->len] == '\0', "data not NUL-terminated");
	FUZZ_CHECK(!memchr(ev->data, '\r', ev->len), "CR in data");
	tlen = strlen(ev->type);
	FUZZ_CHECK(tlen > 0 && tlen < SSE_TYPE_MAX, "type of %zu bytes", tlen);
	FUZZ_CHECK(!strpbrk(ev->type, "\r\n"), "CR or LF in type");
	FUZZ_CHECK(strlen(r->p->last_id) < SSE_ID_MAX && !strpbrk(r->p->last_id, "\r\n"),
		   "last_id");
	FUZZ_CHECK(r->p->retry_ms >= -1 && r->p->retry_ms < 1000000000L, "retry_ms %ld",
		   r->p->retry_ms);
	if (r->n < MAX_EVENTS) {
		s = &r->ev[r->n];
		s->type = strdup(ev->type);
		s->data = malloc(ev->len + 1);
		FUZZ_CHECK(s->type && s->data, "out of memory");
		memcpy(s->data, ev->data, ev->len + 1);
		s->len = ev->len;
		memcpy(s->last_id, r->p->last_id, SSE_ID_MAX);
		s->retry_ms = r->p->retry_ms;
	}
	/* The data is the parser's and modifiable: scribbling on it must not matter. */
	memset(ev->data, 'x', ev->len);
	return ++r->n == r->stop_at ? -1 : 0;
}

/*
 * The reference: the stream read as the SSE standard says, all at once, with the
 * parser's documented bounds on the type, the id and retry. Events go to r as the
 * parser's do; returns how many there were.
 */
static size_t reference(const char *buf, size_t n, struct run *r)
{
	char type[SSE_TYPE_MAX] = "", last_id[SSE_ID_MAX] = "";
	bool has_data = false, type_too_long = false;
	long retry = -1;
	char *dbuf = malloc(n + 1);
	size_t dlen = 0, count = 0, i = 0;

	FUZZ_CHECK(dbuf, "out of memory");
	if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < n) {
		size_t j = i, vlen, nlen;
		const char *line = buf + i, *colon, *value;

		while (j < n && buf[j] != '\n' && buf[j] != '\r')
			j++;
		if (j == n)
			break; /* an unfinished line is no line */
		nlen = j - i;
		i = j + 1 + (buf[j] == '\r' && j + 1 < n && buf[j + 1] == '\n');
		if (nlen == 0) {
			if (has_data && count < MAX_EVENTS) {
				struct seen *s = &r->ev[count];
				s->type = strdup(type_too_long ? "?" : type[0] ? type : "message");
				s->data = malloc(dlen + 1);
				FUZZ_CHECK(s->type && s->data, "out of memory");
				memcpy(s->data, dbuf, dlen);
				s->data[dlen] = '\0';
				s->len = dlen;
				memcpy(s->last_id, last_id, SSE_ID_MAX);
				s->retry_ms = retry;
			}
			count += has_data;
			has_data = type_too_long = false;
			type[0] = '\0';
			dlen = 0;
			continue;
		}
		if (line[0] == ':')
			continue;
		colon = memchr(line, ':', nlen);
		value = colon ? colon + 1 : line + nlen;
		if (colon && value < line + nlen && *value == ' ')
			value++;
		vlen = nlen - (size_t)(value - line);
		nlen = colon ? (size_t)(colon - line) : nlen;
		if (nlen == 4 && memcmp(line, "data", 4) == 0) {
			if (has_data)
				dbuf[dlen++] = '\n';
			memcpy(dbuf + dlen, value, vlen);
			dlen += vlen;
			has_data = true;
		} else if (nlen == 5 && memcmp(line, "event", 5) == 0) {
			type_too_long = vlen >= SSE_TYPE_MAX;
			if (!type_too_long) {
				memcpy(type, value, vlen);
				type[vlen] = '\0';
			}
		} else if (nlen == 2 && memcmp(line, "id", 2) == 0) {
			bool control = false; /* the parser drops an id with a control character too */

			for (size_t c = 0; c < vlen; c++)
				control |= (unsigned char)value[c] < 0x20 || (unsigned char)value[c] == 0x7f;
			if (vlen < SSE_ID_MAX && !control) {
				memcpy(last_id, value, vlen);
				last_id[vlen] = '\0';
			}
		} else if (nlen == 5 && memcmp(line, "retry", 5) == 0) {
			size_t k = 0;
			long ms = 0;

			/* Digits only; a huge value saturates: it stops growing at 10^8 (below 10^9). */
			while (k < vlen && value[k] >= '0' && value[k] <= '9') {
				if (ms < 100000000L)
					ms = ms * 10 + (value[k] - '0');
				k++;
			}
			if (vlen && k == vlen)
				retry = ms;
		}
	}
	free(dbuf);
	return count;
}

static void run_free(struct run *r)
{
	for (size_t i = 0; i < r->n && i < MAX_EVENTS; i++) {
		free(r->ev[i].type);
		free(r->ev[i].data);
	}
}

/* Feeds buf in chunks whose sizes come from seed (0: whole); returns feed's result. */
static int feed(struct sse_parser *p, struct run *r, const char *buf, size_t n, unsigned seed)
{
	size_t i = 0;

	r->p = p;
	if (!seed)
		return sse_parser_feed(p, buf, n);
	while (i < n) {
		size_t k;

		seed = seed * 1103515245u + 12345u;
		k = (seed >> 16) % 32;
		if (k > n - i)
			k = n - i;
		/* A chunk of its own, so that ASan sees a read past it. */
		char *chunk = malloc(k ? k : 1);
		FUZZ_CHECK(chunk, "out of memory");
		memcpy(chunk, buf + i, k);
		int rc = sse_parser_feed(p, chunk, k);
		free(chunk);
		if (rc < 0)
			return rc;
		i += k;
	}
	return 0;
}

static void check_result(const struct sse_parser *p, const struct run *r, int rc)
{
	if (rc < 0) {
		FUZZ_CHECK(p->err[0], "failed without a reason");
		FUZZ_CHECK((strcmp(p->err, "stopped") == 0) == (r->stop_at && r->n == r->stop_at),
			   "\"%s\" after %zu events, stop at %zu", p->err, r->n, r->stop_at);
	} else {
		FUZZ_CHECK(!r->stop_at || r->n < r->stop_at, "went on after stopped");
	}
}

static void same(const struct run *a, const struct run *b)
{
	FUZZ_CHECK(a->n == b->n, "%zu events whole, %zu in chunks", a->n, b->n);
	for (size_t i = 0; i < a->n && i < MAX_EVENTS; i++) {
		const struct seen *x = &a->ev[i], *y = &b->ev[i];

		FUZZ_CHECK(strcmp(x->type, y->type) == 0, "event %zu: type %s, %s", i, x->type,
			   y->type);
		FUZZ_CHECK(x->len == y->len && memcmp(x->data, y->data, x->len) == 0,
			   "event %zu: data of %zu and %zu bytes differ", i, x->len, y->len);
		FUZZ_CHECK(strcmp(x->last_id, y->last_id) == 0, "event %zu: last_id %s, %s", i,
			   x->last_id, y->last_id);
		FUZZ_CHECK(x->retry_ms == y->retry_ms, "event %zu: retry %ld, %ld", i, x->retry_ms,
			   y->retry_ms);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, chunked, ref;
	struct sse_parser p, q;
	size_t max_data;
	unsigned seed;
	int rc, rc2;

	if (size < 3)
		return 0;
	max_data = 1 + (size_t)data[0] * 16;
	seed = data[1] | 1u;
	whole.n = chunked.n = 0;
	whole.stop_at = chunked.stop_at = data[2] % 8;
	data += 3;
	size -= 3;

	sse_parser_init(&p, max_data, on_event, &whole);
	rc = feed(&p, &whole, (const char *)data, size, 0);
	check_result(&p, &whole, rc);

	/* The same struct, freed and initialised again, reads in chunks. */
	sse_parser_init(&q, max_data, on_event, &chunked);
	FUZZ_CHECK(feed(&q, &chunked, "data: x\r", 8, 0) == 0, "a first stream");
	sse_parser_free(&q);
	sse_parser_init(&q, max_data, on_event, &chunked);
	rc2 = feed(&q, &chunked, (const char *)data, size, seed);
	check_result(&q, &chunked, rc2);

	FUZZ_CHECK((rc < 0) == (rc2 < 0), "whole %d (%s), in chunks %d (%s)", rc, p.err, rc2,
		   q.err);
	same(&whole, &chunked);
	if (rc < 0)
		FUZZ_CHECK(strcmp(p.err, q.err) == 0, "reasons \"%s\" and \"%s\"", p.err, q.err);
	else
		FUZZ_CHECK(strcmp(p.last_id, q.last_id) == 0 && p.retry_ms == q.retry_ms,
			   "last_id %s/%s retry %ld/%ld at the end", p.last_id, q.last_id,
			   p.retry_ms, q.retry_ms);
	/* What was read is what the standard reads, up to where the parser stopped. */
	ref.n = reference((const char *)data, size, &ref);
	if (rc == 0)
		FUZZ_CHECK(whole.n == ref.n, "%zu events, the standard reads %zu", whole.n, ref.n);
	else
		FUZZ_CHECK(whole.n <= ref.n, "%zu events, the standard reads %zu", whole.n, ref.n);
	{
		size_t n = ref.n;
		ref.n = whole.n;
		same(&ref, &whole);
		ref.n = n;
	}
	run_free(&ref);
	run_free(&whole);
	run_free(&chunked);
	sse_parser_free(&p);
	sse_parser_free(&q);
	return 0;
}
