/*
 * Fuzzes the frame reader (proto/frame.c). The input is [limit byte][chunking seed] and
 * then a byte stream. The stream is fed to a frame_reader in chunks of pseudo-random
 * sizes, and what the reader reports must equal what a plain reading of the whole
 * stream gives: each frame's payload, FRAME_EMPTY for a zero length, FRAME_TOO_LARGE
 * once for a length above the limit (whose payload is then dropped). Checked on the
 * way: the reader's invariant (pos <= len <= cap), that its buffer never grows past
 * max_frame + header, that frame_reader_need names the frame being received, and
 * that each payload written back with frame_begin/frame_end gives the same bytes.
 */
#include "fuzz.h"

#include "frame.h"

struct event {
	enum frame_status status;
	size_t off, len; /* payload offset in the stream (FRAME_OK), length */
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The frames of the whole stream, read the obvious way; returns their count. */
static size_t model(const uint8_t *s, size_t n, size_t max_frame, struct event *ev)
{
	size_t i = 0, k = 0;

	while (n - i >= FRAME_HEADER_SIZE) {
		uint32_t d = be32(s + i);

		i += FRAME_HEADER_SIZE;
		if (d == 0) {
			ev[k++] = (struct event){ FRAME_EMPTY, 0, 0 };
		} else if (d > max_frame) {
			ev[k++] = (struct event){ FRAME_TOO_LARGE, 0, d };
			i += d < n - i ? d : n - i;
		} else if (n - i >= d) {
			ev[k++] = (struct event){ FRAME_OK, i, d };
			i += d;
		} else {
			break;
		}
	}
	return k;
}

/* frame_begin + the payload + frame_end must write the header and payload we read. */
static void check_writer(const char *payload, size_t len, size_t max_frame)
{
	msgpack_sbuffer sb;
	size_t start;
	uint8_t hdr[FRAME_HEADER_SIZE];

	msgpack_sbuffer_init(&sb);
	start = frame_begin(&sb);
	FUZZ_CHECK(start == 0, "frame_begin at %zu", start);
	msgpack_sbuffer_write(&sb, payload, len);
	FUZZ_CHECK(frame_end(&sb, start, max_frame) == 0, "frame_end refused %zu bytes", len);
	FUZZ_CHECK(sb.size == FRAME_HEADER_SIZE + len, "frame of %zu bytes", sb.size);
	memcpy(hdr, sb.data, sizeof(hdr));
	FUZZ_CHECK(be32(hdr) == len, "header says %u for %zu", be32(hdr), len);
	FUZZ_CHECK(memcmp(sb.data + FRAME_HEADER_SIZE, payload, len) == 0, "payload changed");
	/* One byte over the limit is refused and leaves the buffer as it was. */
	start = frame_begin(&sb);
	msgpack_sbuffer_write(&sb, payload, len);
	FUZZ_CHECK(frame_end(&sb, start, len - 1) == -1, "oversized frame accepted");
	FUZZ_CHECK(sb.size == FRAME_HEADER_SIZE + len, "refused frame left %zu bytes", sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void check_state(const struct frame_reader *r)
{
	FUZZ_CHECK(r->pos <= r->len && r->len <= r->cap, "pos %zu len %zu cap %zu", r->pos, r->len,
		   r->cap);
	FUZZ_CHECK(r->cap <= r->max_frame + FRAME_HEADER_SIZE, "cap %zu past max_frame %zu", r->cap,
		   r->max_frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader r;
	struct event *want;
	size_t max_frame, nwant, got = 0, fed = 0, n;
	uint32_t rng;
	const uint8_t *s;

	if (size < 2)
		return 0;
	/*
	 * Small limits reach the oversized path with small inputs; 0 picks one past
	 * FRAME_KEEP_CAP, so that a big buffer is given back. (Not the daemon's 16 MiB: the
	 * reader reserves a declared length at once, and under ASan that costs 100 ms.)
	 */
	max_frame = data[0] ? (size_t)data[0] * 8 : 4 * FRAME_KEEP_CAP;
	rng = data[1] * 2654435761u + 1;
	s = data + 2;
	n = size - 2;
	want = malloc((n / FRAME_HEADER_SIZE + 1) * sizeof(*want));
	nwant = model(s, n, max_frame, want);

	frame_reader_init(&r, max_frame);
	while (fed < n) {
		const char *payload;
		size_t avail, chunk, len, limit;
		char *space = frame_reader_space(&r, &avail);
		enum frame_status st;

		FUZZ_CHECK(space && avail > 0, "no room to read into");
		check_state(&r);
		rng = rng * 1103515245u + 12345u;
		/* Mostly small reads, sometimes large ones, as a socket gives them. */
		limit = rng >> 31 ? 64 : 4096;
		chunk = 1 + (rng >> 16) % (n - fed < limit ? n - fed : limit);
		if (chunk > avail)
			chunk = avail;
		memcpy(space, s + fed, chunk);
		fed += chunk;
		frame_reader_commit(&r, chunk);
		while ((st = frame_reader_next(&r, &payload, &len)) != FRAME_NEED_MORE) {
			check_state(&r);
			FUZZ_CHECK(got < nwant, "event %zu (status %d) the stream does not hold", got,
				   st);
			FUZZ_CHECK(st == want[got].status, "event %zu: status %d, expected %d", got, st,
				   want[got].status);
			FUZZ_CHECK(len == want[got].len, "event %zu: length %zu, expected %zu", got, len,
				   want[got].len);
			if (st == FRAME_OK) {
				FUZZ_CHECK(memcmp(payload, s + want[got].off, len) == 0,
					   "event %zu: payload differs", got);
				check_writer(payload, len, max_frame);
			}
			got++;
		}
		check_state(&r);
		if (r.skip == 0 && r.len - r.pos >= FRAME_HEADER_SIZE) {
			uint32_t d = be32((const uint8_t *)r.buf + r.pos);

			FUZZ_CHECK(frame_reader_need(&r) == (d <= max_frame ? FRAME_HEADER_SIZE + d : 0),
				   "need %zu for a declared %u", frame_reader_need(&r), d);
		} else {
			FUZZ_CHECK(frame_reader_need(&r) == 0, "need %zu with no header buffered",
				   frame_reader_need(&r));
		}
	}
	FUZZ_CHECK(got == nwant, "%zu events, the stream holds %zu", got, nwant);
	frame_reader_destroy(&r);
	free(want);
	return 0;
}
