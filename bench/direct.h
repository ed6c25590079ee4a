/* The baselines without mcppoold: an MCP server driven directly over its stdio pipes. */
#ifndef BENCH_DIRECT_H
#define BENCH_DIRECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct direct {
	pid_t pid;                /* 0 when the server is behind a relay (direct_start_relay) */
	int to_child, from_child; /* to_child is -1 once direct_hangup() closed it */
	uint64_t next_id;         /* direct_call()'s next request id */
	size_t len;               /* bytes buffered in line */
	size_t taken;             /* bytes at the front of line of the reply taken last */
	char line[65536];         /* the server's output, from the reply taken last on */
};

/*
 * Spawns command (no arguments, stderr to /dev/null), sends initialize and
 * notifications/initialized, and waits for the initialize reply. Dies on failure.
 */
void direct_start(struct direct *d, const char *command);

/*
 * The same through bench/relay on socket: a connection to it (the relay
 * starts a server of its own for it), then initialize. Dies on failure.
 */
void direct_start_relay(struct direct *d, const char *socket);

/* One tools/call of echo {"message": message}; waits for its reply. Dies on an error reply. */
void direct_call(struct direct *d, const char *message);

/*
 * Pipelined use, after direct_start() and instead of direct_call(): the caller
 * picks the request ids, polls from_child itself and matches the replies.
 */

/* Makes both pipes non-blocking. Dies on failure. */
void direct_nonblock(struct direct *d);

/*
 * Writes n tools/call requests of echo {"message": message}, with ids ids[0] ..
 * ids[n - 1], in one write. Dies unless the pipe takes them whole, which it
 * does while the caller keeps well under 64 KiB of requests (about 110 bytes
 * each) in flight.
 */
void direct_send_echo(struct direct *d, const uint64_t *ids, unsigned n, const char *message);

/*
 * Reads what the server has written so far (nothing when the pipe is empty).
 * Dies when the server closed its stdout, on a read error, or when a line
 * does not fit in the buffer.
 */
void direct_read(struct direct *d);

/*
 * Takes the next reply out of what was read: returns 1 with its id in *id and
 * *ok 1 for a result, 0 for an error; returns 0 when no whole reply is
 * buffered. Other lines (notifications, requests of the server) are dropped.
 * Replies are recognised by a numeric "id" written before their "result" or
 * "error" member, as the fixture writes them.
 */
int direct_next_reply(struct direct *d, uint64_t *id, int *ok);

/*
 * The CPU time the server has used so far, in ns, from the scheduler's own
 * clock (clock_getcpuclockid): /proc/PID/stat rounds each process down to
 * whole clock ticks, which loses most of the time of many young servers.
 * Dies if it cannot be read.
 */
uint64_t direct_cpu_ns(const struct direct *d);

/* Closes the server's stdin, so that it exits while others are being stopped. */
void direct_hangup(struct direct *d);

/* Closes the server's stdin (if still open) and reaps it (SIGKILL after 2 s). */
void direct_stop(struct direct *d);

#endif
