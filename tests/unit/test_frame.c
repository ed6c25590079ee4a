/* Unit tests of the frame reader and writer (proto/frame.c). */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "frame.h"

#define SMALL_MAX 256u

/* Appends a frame (header + payload of n bytes, each byte = fill) to out; returns bytes written. */
static size_t put_frame(unsigned char *out, uint32_t n, unsigned char fill)
{
	out[0] = n >> 24;
	out[1] = n >> 16;
	out[2] = n >> 8;
	out[3] = n;
	memset(out + FRAME_HEADER_SIZE, fill, n);
	return FRAME_HEADER_SIZE + n;
}

/* Feeds bytes through space()/commit() in reads of at most chunk bytes each. */
static void feed(struct frame_reader *r, const unsigned char *bytes, size_t n, size_t chunk)
{
	while (n > 0) {
		size_t avail = 0;
		char *dst = frame_reader_space(r, &avail);
		size_t take;

		cr_assert_not_null(dst);
		cr_assert_gt(avail, 0);
		take = n < avail ? n : avail;
		if (take > chunk)
			take = chunk;
		memcpy(dst, bytes, take);
		frame_reader_commit(r, take);
		bytes += take;
		n -= take;
	}
}

/* What an event loop saw while pumping bytes through a reader. */
struct seen {
	size_t frames, too_large, empty;
	size_t len[4096];
	unsigned char first[4096], last[4096];
	size_t declared; /* of the last FRAME_TOO_LARGE */
	size_t max_cap;
};

/*
 * Drives the reader as a daemon's read callback does: one read of at most
 * chunk bytes, then frame_reader_next() until FRAME_NEED_MORE.
 */
static void pump(struct frame_reader *r, const unsigned char *bytes, size_t n, size_t chunk,
		 struct seen *s)
{
	while (n > 0) {
		size_t avail = 0, take, len;
		char *dst = frame_reader_space(r, &avail);
		const char *payload;
		enum frame_status st;

		cr_assert_not_null(dst);
		cr_assert_gt(avail, 0);
		take = n < avail ? n : avail;
		if (take > chunk)
			take = chunk;
		memcpy(dst, bytes, take);
		frame_reader_commit(r, take);
		bytes += take;
		n -= take;
		if (r->cap > s->max_cap)
			s->max_cap = r->cap;
		while ((st = frame_reader_next(r, &payload, &len)) != FRAME_NEED_MORE) {
			if (st == FRAME_TOO_LARGE) {
				s->too_large++;
				s->declared = len;
			} else if (st == FRAME_EMPTY) {
				s->empty++;
			} else {
				cr_assert_lt(s->frames, 4096);
				s->len[s->frames] = len;
				s->first[s->frames] = (unsigned char)payload[0];
				s->last[s->frames] = (unsigned char)payload[len - 1];
				s->frames++;
			}
		}
	}
}

static void expect_frame(struct frame_reader *r, size_t len, unsigned char fill)
{
	const char *payload;
	size_t got;

	cr_assert_eq(frame_reader_next(r, &payload, &got), FRAME_OK);
	cr_assert_eq(got, len);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq((unsigned char)payload[i], fill, "byte %zu", i);
}

static void expect_need_more(struct frame_reader *r)
{
	const char *payload;
	size_t len;

	cr_assert_eq(frame_reader_next(r, &payload, &len), FRAME_NEED_MORE);
}

Test(frame, whole_frame_in_one_read_is_returned)
{
	struct frame_reader r;
	unsigned char buf[64];
	size_t n = put_frame(buf, 10, 'a');

	frame_reader_init(&r, SMALL_MAX);
	feed(&r, buf, n, n);
	expect_frame(&r, 10, 'a');
	expect_need_more(&r);
	frame_reader_destroy(&r);
}

Test(frame, byte_by_byte_reads_complete_only_on_the_last_byte)
{
	struct frame_reader r;
	unsigned char buf[64];
	size_t n = put_frame(buf, 20, 'b');

	frame_reader_init(&r, SMALL_MAX);
	for (size_t i = 0; i + 1 < n; i++) {
		feed(&r, buf + i, 1, 1);
		expect_need_more(&r);
	}
	feed(&r, buf + n - 1, 1, 1);
	expect_frame(&r, 20, 'b');
	expect_need_more(&r);
	frame_reader_destroy(&r);
}

Test(frame, several_frames_in_one_read_come_out_in_order)
{
	struct frame_reader r;
	unsigned char buf[256];
	size_t n = 0;

	n += put_frame(buf + n, 3, 'x');
	n += put_frame(buf + n, 1, 'y');
	n += put_frame(buf + n, 40, 'z');
	frame_reader_init(&r, SMALL_MAX);
	feed(&r, buf, n, n);
	expect_frame(&r, 3, 'x');
	expect_frame(&r, 1, 'y');
	expect_frame(&r, 40, 'z');
	expect_need_more(&r);
	frame_reader_destroy(&r);
}

Test(frame, frames_straddling_reads_of_odd_sizes_stay_in_sync)
{
	struct frame_reader r;
	unsigned char buf[4096];
	static struct seen seen;
	size_t n = 0;

	for (int i = 0; i < 30; i++)
		n += put_frame(buf + n, (uint32_t)(i * 7 % 90 + 1), (unsigned char)i);
	frame_reader_init(&r, SMALL_MAX);
	pump(&r, buf, n, 13, &seen);
	cr_assert_eq(seen.frames, 30);
	for (int i = 0; i < 30; i++) {
		cr_assert_eq(seen.len[i], (size_t)(i * 7 % 90 + 1));
		cr_assert_eq(seen.first[i], (unsigned char)i);
		cr_assert_eq(seen.last[i], (unsigned char)i);
	}
	frame_reader_destroy(&r);
}

Test(frame, zero_length_frame_is_reported_empty_and_consumed)
{
	struct frame_reader r;
	unsigned char buf[64];
	size_t n = 0;
	const char *payload;
	size_t len;

	n += put_frame(buf + n, 0, 0);
	n += put_frame(buf + n, 5, 'q');
	frame_reader_init(&r, SMALL_MAX);
	feed(&r, buf, n, n);
	cr_assert_eq(frame_reader_next(&r, &payload, &len), FRAME_EMPTY);
	expect_frame(&r, 5, 'q');
	frame_reader_destroy(&r);
}

Test(frame, frame_of_exactly_max_is_accepted)
{
	struct frame_reader r;
	unsigned char *buf = malloc(SMALL_MAX + FRAME_HEADER_SIZE);
	size_t n = put_frame(buf, SMALL_MAX, 'm');

	frame_reader_init(&r, SMALL_MAX);
	feed(&r, buf, n, 17);
	expect_frame(&r, SMALL_MAX, 'm');
	cr_assert_leq(r.cap, SMALL_MAX + FRAME_HEADER_SIZE);
	frame_reader_destroy(&r);
	free(buf);
}

Test(frame, frame_of_max_plus_one_is_skipped_and_next_frame_decodes)
{
	struct frame_reader r;
	static unsigned char buf[2 * SMALL_MAX + 64];
	static struct seen seen;
	size_t n = 0;

	n += put_frame(buf + n, SMALL_MAX + 1, 'o');
	n += put_frame(buf + n, 7, 'k');
	frame_reader_init(&r, SMALL_MAX);
	pump(&r, buf, n, 50, &seen);
	cr_assert_eq(seen.too_large, 1);
	cr_assert_eq(seen.declared, SMALL_MAX + 1);
	cr_assert_eq(seen.frames, 1);
	cr_assert_eq(seen.len[0], 7);
	cr_assert_eq(seen.first[0], 'k');
	cr_assert_leq(seen.max_cap, SMALL_MAX + FRAME_HEADER_SIZE);
	frame_reader_destroy(&r);
}

Test(frame, oversized_frame_is_skipped_even_when_read_in_one_go_before_next)
{
	struct frame_reader r;
	static unsigned char buf[3 * SMALL_MAX];
	size_t n = 0, len;
	const char *payload;

	n += put_frame(buf + n, 2 * SMALL_MAX, 'o');
	n += put_frame(buf + n, 3, 'k');
	frame_reader_init(&r, SMALL_MAX);
	feed(&r, buf, FRAME_HEADER_SIZE, FRAME_HEADER_SIZE);
	cr_assert_eq(frame_reader_next(&r, &payload, &len), FRAME_TOO_LARGE);
	cr_assert_null(payload);
	/* Several reads without next() in between: skipped bytes must not pile up. */
	feed(&r, buf + FRAME_HEADER_SIZE, n - FRAME_HEADER_SIZE, 64);
	cr_assert_leq(r.cap, SMALL_MAX + FRAME_HEADER_SIZE);
	expect_frame(&r, 3, 'k');
	expect_need_more(&r);
	frame_reader_destroy(&r);
}

Test(frame, oversized_frame_is_reported_once_and_dropped_across_many_reads)
{
	struct frame_reader r;
	size_t big = 10000, n = 0, len;
	unsigned char *buf = malloc(big + 64);
	const char *payload;
	int too_large = 0;

	n += put_frame(buf + n, (uint32_t)big, 'o');
	n += put_frame(buf + n, 2, 'k');
	frame_reader_init(&r, SMALL_MAX);
	/* A peer that drips the payload in small reads, with next() after each. */
	for (size_t off = 0; off < n;) {
		size_t take = n - off < 11 ? n - off : 11;
		enum frame_status st;

		feed(&r, buf + off, take, take);
		off += take;
		while ((st = frame_reader_next(&r, &payload, &len)) != FRAME_NEED_MORE) {
			if (st == FRAME_TOO_LARGE) {
				too_large++;
				cr_assert_eq(len, big);
			} else {
				cr_assert_eq(st, FRAME_OK);
				cr_assert_eq(len, 2);
				cr_assert_eq(payload[0], 'k');
				cr_assert_eq(off, n, "the next frame appeared before the big one was dropped");
			}
			cr_assert_leq(r.cap, SMALL_MAX + FRAME_HEADER_SIZE);
		}
	}
	cr_assert_eq(too_large, 1);
	cr_assert_eq(r.skip, 0);
	frame_reader_destroy(&r);
	free(buf);
}

Test(frame, length_ffffffff_is_refused_without_allocating_for_it)
{
	struct frame_reader r;
	unsigned char hdr[4] = { 0xff, 0xff, 0xff, 0xff };
	unsigned char junk[1000];
	const char *payload;
	size_t len;

	memset(junk, 'j', sizeof(junk));
	frame_reader_init(&r, SMALL_MAX);
	feed(&r, hdr, 4, 4);
	cr_assert_eq(frame_reader_next(&r, &payload, &len), FRAME_TOO_LARGE);
	cr_assert_eq(len, 0xffffffffu);
	feed(&r, junk, sizeof(junk), sizeof(junk));
	expect_need_more(&r);
	cr_assert_eq(r.skip, 0xffffffffull - sizeof(junk));
	cr_assert_leq(r.cap, SMALL_MAX + FRAME_HEADER_SIZE);
	frame_reader_destroy(&r);
}

Test(frame, truncated_payload_waits_for_the_rest)
{
	struct frame_reader r;
	unsigned char buf[64];
	size_t n = put_frame(buf, 10, 't');

	frame_reader_init(&r, SMALL_MAX);
	feed(&r, buf, n - 1, n);
	expect_need_more(&r);
	expect_need_more(&r);
	feed(&r, buf + n - 1, 1, 1);
	expect_frame(&r, 10, 't');
	frame_reader_destroy(&r);
}

Test(frame, partial_header_waits_for_the_rest)
{
	struct frame_reader r;
	unsigned char buf[64];
	size_t n = put_frame(buf, 2, 'h');

	frame_reader_init(&r, SMALL_MAX);
	feed(&r, buf, 3, 3);
	expect_need_more(&r);
	feed(&r, buf + 3, n - 3, n);
	expect_frame(&r, 2, 'h');
	frame_reader_destroy(&r);
}

Test(frame, long_stream_compacts_instead_of_growing)
{
	struct frame_reader r;
	static unsigned char buf[2000 * (SMALL_MAX + FRAME_HEADER_SIZE)];
	static struct seen seen;
	size_t n = 0;
	unsigned seed = 7;

	for (int i = 0; i < 2000; i++)
		n += put_frame(buf + n, (uint32_t)(i % SMALL_MAX + 1), (unsigned char)i);
	frame_reader_init(&r, SMALL_MAX);
	for (size_t off = 0; off < n;) {
		size_t take = (size_t)(rand_r(&seed) % 700) + 1;

		if (take > n - off)
			take = n - off;
		pump(&r, buf + off, take, take, &seen);
		off += take;
	}
	cr_assert_eq(seen.frames, 2000);
	for (size_t i = 0; i < 2000; i++) {
		cr_assert_eq(seen.len[i], i % SMALL_MAX + 1);
		cr_assert_eq(seen.last[i], (unsigned char)i);
	}
	cr_assert_leq(seen.max_cap, SMALL_MAX + FRAME_HEADER_SIZE);
	frame_reader_destroy(&r);
}

Test(frame, space_always_offers_room_after_next_reports_need_more)
{
	struct frame_reader r;
	unsigned char buf[SMALL_MAX + FRAME_HEADER_SIZE];
	size_t avail = 0;

	put_frame(buf, SMALL_MAX, 's');
	frame_reader_init(&r, SMALL_MAX);
	for (size_t i = 0; i + 1 < sizeof(buf); i++) {
		char *dst = frame_reader_space(&r, &avail);

		cr_assert_not_null(dst);
		cr_assert_gt(avail, 0);
		*dst = (char)buf[i];
		frame_reader_commit(&r, 1);
		expect_need_more(&r);
	}
	feed(&r, buf + sizeof(buf) - 1, 1, 1);
	expect_frame(&r, SMALL_MAX, 's');
	frame_reader_destroy(&r);
}

Test(frame, large_frame_memory_is_given_back_once_consumed)
{
	struct frame_reader r;
	size_t big = 1u << 20, avail;
	unsigned char *buf = malloc(big + FRAME_HEADER_SIZE);
	size_t n = put_frame(buf, (uint32_t)big, 'L');

	frame_reader_init(&r, FRAME_DEFAULT_MAX);
	feed(&r, buf, n, 65536);
	cr_assert_geq(r.cap, big + FRAME_HEADER_SIZE);
	expect_frame(&r, big, 'L');
	cr_assert_not_null(frame_reader_space(&r, &avail));
	cr_assert_lt(r.cap, big);
	frame_reader_destroy(&r);
	free(buf);
}

Test(frame, max_above_uint32_is_clamped)
{
	struct frame_reader r;

	frame_reader_init(&r, (size_t)UINT32_MAX + 10);
	cr_assert_eq(r.max_frame, UINT32_MAX);
	frame_reader_destroy(&r);
	frame_reader_destroy(NULL);
}

Test(frame, frame_end_writes_big_endian_payload_length)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t start;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	start = frame_begin(&sb);
	cr_assert_eq(start, 0);
	msgpack_pack_str(&pk, 300);
	for (int i = 0; i < 300; i++)
		msgpack_pack_str_body(&pk, "p", 1);
	cr_assert_eq(frame_end(&sb, start, SMALL_MAX * 4), 0);
	cr_assert_eq(sb.size, 4 + 3 + 300);
	cr_assert_eq((unsigned char)sb.data[0], 0);
	cr_assert_eq((unsigned char)sb.data[1], 0);
	cr_assert_eq((unsigned char)sb.data[2], 0x01);
	cr_assert_eq((unsigned char)sb.data[3], 0x2f);
	msgpack_sbuffer_destroy(&sb);
}

Test(frame, frame_end_removes_an_oversized_frame_and_keeps_earlier_ones)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t first, second, kept;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	first = frame_begin(&sb);
	msgpack_pack_int(&pk, 1);
	cr_assert_eq(frame_end(&sb, first, 8), 0);
	kept = sb.size;
	second = frame_begin(&sb);
	cr_assert_eq(second, kept);
	msgpack_pack_str(&pk, 9);
	msgpack_pack_str_body(&pk, "123456789", 9);
	cr_assert_eq(frame_end(&sb, second, 8), -1);
	cr_assert_eq(sb.size, kept);
	msgpack_sbuffer_destroy(&sb);
}

Test(frame, frame_end_refuses_an_empty_payload)
{
	msgpack_sbuffer sb;
	size_t start;

	msgpack_sbuffer_init(&sb);
	start = frame_begin(&sb);
	cr_assert_eq(frame_end(&sb, start, SMALL_MAX), -1);
	cr_assert_eq(sb.size, 0);
	cr_assert_eq(frame_end(&sb, FRAME_BEGIN_FAILED, SMALL_MAX), -1);
	msgpack_sbuffer_destroy(&sb);
}

Test(frame, frames_written_back_to_back_are_read_back)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct frame_reader r;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (int i = 0; i < 5; i++) {
		size_t start = frame_begin(&sb);

		msgpack_pack_array(&pk, (size_t)i);
		for (int k = 0; k < i; k++)
			msgpack_pack_int(&pk, k);
		cr_assert_eq(frame_end(&sb, start, SMALL_MAX), 0);
	}
	frame_reader_init(&r, SMALL_MAX);
	feed(&r, (const unsigned char *)sb.data, sb.size, 5);
	for (int i = 0; i < 5; i++) {
		const char *payload;
		size_t len;

		cr_assert_eq(frame_reader_next(&r, &payload, &len), FRAME_OK);
		cr_assert_eq(len, (size_t)i + 1);
		cr_assert_eq((unsigned char)payload[0], 0x90 + i);
	}
	expect_need_more(&r);
	frame_reader_destroy(&r);
	msgpack_sbuffer_destroy(&sb);
}

Test(frame, space_offers_room_even_with_a_whole_frame_unread)
{
	struct frame_reader r;
	unsigned char buf[SMALL_MAX + FRAME_HEADER_SIZE];
	size_t n = put_frame(buf, SMALL_MAX, 'w'), avail = 0;

	frame_reader_init(&r, SMALL_MAX);
	feed(&r, buf, n, n);
	cr_assert_eq(r.len, r.cap);
	cr_assert_not_null(frame_reader_space(&r, &avail));
	cr_assert_gt(avail, 0);
	expect_frame(&r, SMALL_MAX, 'w');
	frame_reader_destroy(&r);
}

Test(frame, need_is_known_from_the_header_until_the_frame_is_taken)
{
	struct frame_reader r;
	static unsigned char buf[2 * 100000 + 64];
	const char *payload;
	size_t n = 0, len;

	n += put_frame(buf + n, 100000, 'a');
	n += put_frame(buf + n, 5, 'b');
	frame_reader_init(&r, 1000000);
	cr_assert_eq(frame_reader_need(&r), 0, "nothing buffered: nothing known");
	feed(&r, buf, 3, 3);
	cr_assert_eq(frame_reader_need(&r), 0, "a partial header says nothing yet");
	feed(&r, buf + 3, 1000, 1000);
	cr_assert_eq(frame_reader_need(&r), FRAME_HEADER_SIZE + 100000);
	cr_assert_eq(frame_reader_next(&r, &payload, &len), FRAME_NEED_MORE);
	feed(&r, buf + 1003, n - 1003, 4096);
	cr_assert_eq(frame_reader_need(&r), FRAME_HEADER_SIZE + 100000);
	cr_assert_eq(frame_reader_next(&r, &payload, &len), FRAME_OK);
	cr_assert_eq(len, 100000);
	cr_assert_eq(frame_reader_need(&r), FRAME_HEADER_SIZE + 5, "then the next frame's");
	cr_assert_eq(frame_reader_next(&r, &payload, &len), FRAME_OK);
	cr_assert_eq(frame_reader_need(&r), 0);
	frame_reader_destroy(&r);
}

Test(frame, an_oversized_frame_needs_nothing_since_it_is_dropped)
{
	struct frame_reader r;
	static unsigned char buf[SMALL_MAX + 64];
	const char *payload;
	size_t len;

	put_frame(buf, SMALL_MAX + 1, 'o');
	frame_reader_init(&r, SMALL_MAX);
	feed(&r, buf, 10, 10);
	cr_assert_eq(frame_reader_next(&r, &payload, &len), FRAME_TOO_LARGE);
	cr_assert_eq(frame_reader_need(&r), 0);
	frame_reader_destroy(&r);
}
