/* Length-prefixed framing of the wire protocol: a 4-byte big-endian length, then payload. */
#ifndef MCPPOOL_FRAME_H
#define MCPPOOL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define FRAME_HEADER_SIZE 4
#define FRAME_DEFAULT_MAX (16u * 1024u * 1024u) /* 16 MiB */
#define FRAME_MIN_MAX 1024u

/*
 * An input buffer that cuts a byte stream into frames.
 *
 * Invariant: 0 <= pos <= len <= cap; bytes [pos, len) are received but not yet
 * consumed. A frame's declared length is checked against max_frame before any
 * memory is reserved for it, so a peer cannot make us allocate more than
 * max_frame + FRAME_HEADER_SIZE per connection. An oversized frame is reported
 * once and its payload is then discarded as it arrives (skip), so the stream
 * stays in sync and the connection survives.
 */
struct frame_reader {
	char *buf;
	size_t pos, len, cap;
	size_t max_frame;
	uint64_t skip; /* payload bytes of an oversized frame still to drop */
};

enum frame_status {
	FRAME_OK,        /* *payload / *len hold one whole frame */
	FRAME_NEED_MORE, /* no whole frame buffered yet */
	FRAME_TOO_LARGE, /* a frame declared more than max_frame; it will be skipped */
	FRAME_EMPTY,     /* a frame of length 0: a protocol error, the frame is consumed */
};

/* Starts an empty reader; a max_frame above UINT32_MAX is taken as UINT32_MAX. */
void frame_reader_init(struct frame_reader *r, size_t max_frame);
void frame_reader_destroy(struct frame_reader *r);

/*
 * Room to read into: returns a pointer to at least *avail (> 0) free bytes,
 * growing the buffer only as far as the frame being received needs (never past
 * max_frame + header, provided frame_reader_next() was called until
 * FRAME_NEED_MORE before). Returns NULL on allocation failure.
 */
char *frame_reader_space(struct frame_reader *r, size_t *avail);

/*
 * The buffer size the frame being received needs, its header included, once
 * that header is buffered; 0 before it, and while an oversized frame is being
 * skipped (its bytes are dropped, never held).
 */
size_t frame_reader_need(const struct frame_reader *r);

/* The size up to which a reader keeps its buffer between frames (a larger one is freed). */
#define FRAME_KEEP_CAP (64u * 1024u)

/* Records that n bytes were written at the pointer frame_reader_space() returned. */
void frame_reader_commit(struct frame_reader *r, size_t n);

/*
 * Takes the next frame. On FRAME_OK, *payload points into the buffer and stays
 * valid until the next frame_reader_space() call. On FRAME_TOO_LARGE, *len holds
 * the declared length. Call repeatedly until FRAME_NEED_MORE.
 */
enum frame_status frame_reader_next(struct frame_reader *r, const char **payload, size_t *len);

/*
 * Output: frames are packed straight into a msgpack_sbuffer. frame_begin()
 * reserves the header and returns its offset; the caller packs one msgpack
 * object with a packer writing to the same sbuffer; frame_end() writes the
 * length. Several frames may be queued in one sbuffer. frame_end() returns -1
 * (and removes the frame) when its payload exceeds max_frame.
 *
 * frame_begin() returns FRAME_BEGIN_FAILED when the sbuffer cannot grow; the
 * matching frame_end() then returns -1. An empty payload (nothing packed) also
 * makes frame_end() return -1 and remove the header.
 */
#define FRAME_BEGIN_FAILED SIZE_MAX

size_t frame_begin(msgpack_sbuffer *sb);
int frame_end(msgpack_sbuffer *sb, size_t start, size_t max_frame);

#endif
