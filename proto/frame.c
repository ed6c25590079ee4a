/* Length-prefixed framing: cutting a byte stream into frames, and writing frames. */
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/*
 * The buffer starts at this size (or at the frame limit, if smaller), so that
 * small frames arriving together are read with one call. When it is empty and
 * has grown past FRAME_KEEP_CAP for a large frame, it is given back.
 */
#define FRAME_READ_CHUNK (16u * 1024u)

static uint32_t be32_get(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static void be32_put(char *p, uint32_t v)
{
	unsigned char *u = (unsigned char *)p;

	u[0] = v >> 24;
	u[1] = v >> 16;
	u[2] = v >> 8;
	u[3] = v;
}

void frame_reader_init(struct frame_reader *r, size_t max_frame)
{
	memset(r, 0, sizeof(*r));
	/* A header cannot declare more than UINT32_MAX; a larger limit means none. */
	r->max_frame = max_frame > UINT32_MAX ? UINT32_MAX : max_frame;
}

void frame_reader_destroy(struct frame_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* The most the buffer may ever hold: one whole frame of the largest size. */
static size_t frame_limit(const struct frame_reader *r)
{
	return r->max_frame + FRAME_HEADER_SIZE;
}

/*
 * How many bytes, counted from pos, the buffer must be able to hold for the
 * unit being received to complete: a header, or a header and its payload.
 * Always more than what is buffered, so that there is room to read into.
 */
static size_t frame_wanted(const struct frame_reader *r)
{
	size_t buffered = r->len - r->pos;
	size_t want = FRAME_HEADER_SIZE;

	if (r->skip == 0 && buffered >= FRAME_HEADER_SIZE) {
		uint32_t declared = be32_get(r->buf + r->pos);

		if (declared <= r->max_frame)
			want = FRAME_HEADER_SIZE + (size_t)declared;
	}
	return want > buffered ? want : buffered + 1;
}

size_t frame_reader_need(const struct frame_reader *r)
{
	size_t buffered = r->len - r->pos;
	uint32_t declared;

	if (r->skip || buffered < FRAME_HEADER_SIZE)
		return 0;
	declared = be32_get(r->buf + r->pos);
	return declared <= r->max_frame ? FRAME_HEADER_SIZE + (size_t)declared : 0;
}

static void frame_compact(struct frame_reader *r)
{
	size_t buffered = r->len - r->pos;

	if (buffered)
		memmove(r->buf, r->buf + r->pos, buffered);
	r->pos = 0;
	r->len = buffered;
}

static int frame_resize(struct frame_reader *r, size_t cap)
{
	char *nb = realloc(r->buf, cap);

	if (!nb)
		return -1;
	r->buf = nb;
	r->cap = cap;
	return 0;
}

char *frame_reader_space(struct frame_reader *r, size_t *avail)
{
	size_t want = frame_wanted(r);
	size_t chunk = FRAME_READ_CHUNK < frame_limit(r) ? FRAME_READ_CHUNK : frame_limit(r);

	if (r->pos == r->len) {
		r->pos = r->len = 0;
		if (r->cap > FRAME_KEEP_CAP) {
			free(r->buf);
			r->buf = NULL;
			r->cap = 0;
		}
	} else if (r->cap - r->len < want - (r->len - r->pos)) {
		frame_compact(r);
	}
	/* After the compaction above, a buffer of want bytes has room past len. */
	if (r->cap < want && frame_resize(r, want > chunk ? want : chunk) < 0)
		return NULL;
	*avail = r->cap - r->len;
	return r->buf + r->len;
}

/* Drops buffered bytes of an oversized frame; returns whether any remain to drop. */
static int frame_drain_skip(struct frame_reader *r)
{
	size_t buffered = r->len - r->pos;
	size_t drop = r->skip < buffered ? (size_t)r->skip : buffered;

	r->pos += drop;
	r->skip -= drop;
	return r->skip > 0;
}

void frame_reader_commit(struct frame_reader *r, size_t n)
{
	if (n > r->cap - r->len)
		n = r->cap - r->len;
	r->len += n;
	/* At once, so that a caller reading several times before next() still skips in place. */
	frame_drain_skip(r);
}

enum frame_status frame_reader_next(struct frame_reader *r, const char **payload, size_t *len)
{
	size_t buffered;
	uint32_t declared;

	*payload = NULL;
	*len = 0;
	if (frame_drain_skip(r))
		return FRAME_NEED_MORE;
	buffered = r->len - r->pos;
	if (buffered < FRAME_HEADER_SIZE)
		return FRAME_NEED_MORE;
	declared = be32_get(r->buf + r->pos);
	if (declared == 0) {
		r->pos += FRAME_HEADER_SIZE;
		return FRAME_EMPTY;
	}
	if (declared > r->max_frame) {
		r->pos += FRAME_HEADER_SIZE;
		r->skip = declared;
		*len = declared;
		return FRAME_TOO_LARGE;
	}
	if (buffered - FRAME_HEADER_SIZE < declared)
		return FRAME_NEED_MORE;
	*payload = r->buf + r->pos + FRAME_HEADER_SIZE;
	*len = declared;
	r->pos += FRAME_HEADER_SIZE + (size_t)declared;
	return FRAME_OK;
}

size_t frame_begin(msgpack_sbuffer *sb)
{
	static const char zero[FRAME_HEADER_SIZE];
	size_t start = sb->size;

	if (msgpack_sbuffer_write(sb, zero, sizeof(zero)) != 0)
		return FRAME_BEGIN_FAILED;
	return start;
}

int frame_end(msgpack_sbuffer *sb, size_t start, size_t max_frame)
{
	size_t payload;

	if (start == FRAME_BEGIN_FAILED || start > sb->size)
		return -1;
	if (sb->size - start < FRAME_HEADER_SIZE) {
		sb->size = start;
		return -1;
	}
	payload = sb->size - start - FRAME_HEADER_SIZE;
	if (payload == 0 || payload > max_frame || payload > UINT32_MAX) {
		sb->size = start;
		return -1;
	}
	be32_put(sb->data + start, (uint32_t)payload);
	return 0;
}
