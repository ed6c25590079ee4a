/* Client side of echo_server: Unix-socket connections and length-prefixed frames. */
#ifndef BENCH_RAWECHO_H
#define BENCH_RAWECHO_H

#include <stddef.h>

/* A connected blocking socket to the echo server at path (reads bounded to 10 s); dies on failure. */
int rawecho_connect(const char *path);

/*
 * Writes into buf (at least len bytes) one frame of len bytes in all: a 4-byte
 * big-endian header and len - 4 bytes of payload. len must be at least 5.
 */
void rawecho_frame(char *buf, size_t len);

/* Sends frame (len bytes, from rawecho_frame) and waits for it to come back; dies on failure. */
void rawecho_roundtrip(int fd, const char *frame, size_t len);

#endif
