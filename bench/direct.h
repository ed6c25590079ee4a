/* The hot path's baseline: an MCP server driven directly over its stdio pipes, no daemon. */
#ifndef BENCH_DIRECT_H
#define BENCH_DIRECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct direct {
	pid_t pid;
	int to_child, from_child;
	uint64_t next_id;
	size_t len;       /* bytes buffered in line */
	char line[65536]; /* the server's output, up to and past the current line */
};

/*
 * Spawns command (no arguments, stderr to /dev/null), sends initialize and
 * notifications/initialized, and waits for the initialize reply. Dies on failure.
 */
void direct_start(struct direct *d, const char *command);

/* One tools/call of echo {"message": message}; waits for its reply. Dies on an error reply. */
void direct_call(struct direct *d, const char *message);

/* Closes the server's stdin and reaps it (SIGKILL after 2 s). */
void direct_stop(struct direct *d);

#endif
