/* The stdio transport: one MCP server child process, its descriptors, and its shutdown. */
#ifndef MCPPOOL_STDIOCHILD_H
#define MCPPOOL_STDIOCHILD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

/*
 * This module moves bytes; it knows nothing of JSON-RPC. The child's stdout is
 * cut into lines for the owner, its stderr is logged (rate-limited), passed
 * through or discarded (enum stdio_stderr), and bytes for its stdin are queued
 * and written without ever blocking the loop.
 *
 * The child's stdin and stdout are, as enum stdio_io says
 * (MCPPOOL_SERVER_STDIO), two pipes (the default) or one Unix stream socket
 * (its fd 0 and 1, as inetd and systemd's StandardInput=socket give them).
 * A child costs the daemon two descriptors with pipes, one with the socket,
 * plus one for its stderr pipe with STDIO_STDERR_LOG (STDIO_FDS_PER_CHILD).
 * Closing its stdin closes the pipe's write end, or is shutdown(SHUT_WR) on
 * the socket: the child reads EOF either way. Its stdout ends when every
 * process holding the write end has closed it, so a child that closes fd 1
 * while it runs is noticed at once with pipes (on_closed "closed its
 * stdout"); on the socket it is not, as long as its fd 0 (the same socket)
 * stays open: only a shutdown(SHUT_WR) of its own, its exit, or the owner's
 * health check tells. With pipes the process must ignore SIGPIPE (the daemon
 * does, daemon_start()): a write to a child that is gone is then EPIPE.
 *
 * Lifecycle of one child (c->state in stdiochild.c):
 *   RUNNING   lines flow; the owner may write.
 *   REPORTED  on_closed was called; nothing more is delivered; waits for stdio_close().
 *   CLOSING   stdio_close() was called; stdin is shut, stdout and stderr are
 *             drained and discarded, SIGTERM then SIGKILL follow on the grace timer.
 * Once the owner has called stdio_close() AND the child has been reaped (by its
 * ev_child watcher; this module never leaves a zombie), the handle goes to the
 * daemon's deferred-free queue (stdio_options.d), which frees it at the loop's
 * safe point: never under one of its own callbacks.
 *
 * Every open child is on one module-wide list, so that stdio_live_children() and
 * stdio_shutdown_all() need no context: there is one default loop per process,
 * and only it can watch children.
 */
struct stdio_child;

struct stdio_callbacks {
	/*
	 * One complete line of the child's stdout, '\n' removed (and a trailing
	 * '\r'), NUL-terminated, modifiable, valid only during the call. Empty
	 * lines are skipped.
	 */
	void (*on_line)(void *ctx, char *line, size_t len);
	/*
	 * The child's output is over: stdout EOF or read error, a line longer than
	 * max_line ("line exceeds N bytes"), or the child exited and its stdout is
	 * drained ("exited with status 3", "killed by signal 9", "closed its
	 * stdout"). Called at most once, never after stdio_close(); no on_line
	 * after it. Every complete line the child wrote before it is delivered
	 * first; a last line without '\n' is dropped. The owner must still call
	 * stdio_close() afterwards.
	 */
	void (*on_closed)(void *ctx, const char *reason);
};

struct daemon;

/* Where a child's stderr goes (MCPPOOL_SERVER_STDERR). */
enum stdio_stderr {
	STDIO_STDERR_LOG,     /* a pipe per child; lines logged with its tag, rate-limited */
	STDIO_STDERR_INHERIT, /* the daemon's own stderr (the journal, docker logs): no tag, no limit */
	STDIO_STDERR_DISCARD, /* /dev/null */
};

/* What the child's stdin and stdout are (MCPPOOL_SERVER_STDIO). */
enum stdio_io {
	STDIO_IO_PIPES,  /* a pipe each: a child closing its stdout is noticed at once */
	STDIO_IO_SOCKET, /* one socketpair for both: one descriptor fewer per child */
};

/*
 * Descriptors the daemon holds for one running child: its stdin and stdout
 * pipes (2) or socket (1), and its stderr pipe with STDIO_STDERR_LOG.
 */
#define STDIO_FDS_PER_CHILD(io, mode) \
	(((io) == STDIO_IO_SOCKET ? 1u : 2u) + ((mode) == STDIO_STDERR_LOG ? 1u : 0u))

struct stdio_options {
	struct daemon *d;              /* whose deferred-free queue frees the handle (its loop is loop) */
	size_t max_line;               /* bound of one stdout line without its '\n' (> 0) */
	uint64_t kill_timeout_ms;      /* grace of each shutdown step */
	const char *log_tag;           /* e.g. the pool key "alice:github"; copied */
	enum stdio_io io;              /* the child's stdin and stdout: pipes or one socket */
	enum stdio_stderr stderr_mode; /* where the child's stderr goes */
	unsigned stderr_lines_per_sec; /* STDIO_STDERR_LOG: lines logged per second (0: none); more are counted */
	size_t max_queue;              /* bytes waiting for stdin beyond which writes fail (0: no bound) */
};

/* Stderr lines longer than this are cut; the rest up to the newline is dropped. */
#define STDIO_STDERR_LINE_MAX 1024u

/*
 * Starts argv[0] (searched in envp's PATH when it has no '/') with exactly envp,
 * in cwd when not NULL, in a new process group whose id is its pid, with
 * stdin and stdout as opt->io says, stderr as opt->stderr_mode says, default signal
 * dispositions, an empty signal mask and no other descriptor. loop must be the default loop (ev_child needs it).
 * Exec failure is detected before returning: the result is then NULL, err holds
 * the reason (e.g. `cannot execute "nope": No such file or directory`) and the
 * failed child is already reaped. On success, callbacks follow from the loop;
 * argv, envp, cwd and opt are only read during the call.
 */
struct stdio_child *stdio_spawn(struct ev_loop *loop, char *const argv[], char *const envp[],
				const char *cwd, const struct stdio_options *opt,
				const struct stdio_callbacks *cb, void *ctx, char *err,
				size_t errlen);

/*
 * Reserves the five low-numbered descriptors every spawn uses (see "the
 * reserved slots" in stdiochild.c), once per process; stdio_spawn() calls it
 * too, but the daemon calls it at start, while its descriptor numbers are
 * still low: the higher they are, the more of the table each spawn copies.
 * Returns 0, or -1 with the reason in err.
 */
int stdio_reserve(char *err, size_t errlen);

/*
 * Queues len bytes of data for the child's stdin; whatever it takes now
 * is written at once, the rest when it is writable. Returns 0, or -1 when stdin
 * is closed or broken (the child closed it or exited: EPIPE), when more than
 * max_queue bytes already wait (ENOBUFS: the child does not read), or on ENOMEM.
 */
int stdio_write(struct stdio_child *c, const char *data, size_t len);

/* Bytes queued by stdio_write() and not yet written to the child's stdin. */
size_t stdio_queued(const struct stdio_child *c);

pid_t stdio_pid(const struct stdio_child *c);

/*
 * Begins the shutdown; call it exactly once per child, also after on_closed.
 * No callback follows. Queued input is dropped and stdin is shut (the child
 * reads EOF; most servers exit on that); stdout and stderr are drained and discarded; if the
 * child has not exited after kill_timeout_ms its process group gets SIGTERM,
 * after another kill_timeout_ms SIGKILL. The handle must not be used again: it
 * is freed once the child is reaped. Safe to call from this child's callbacks.
 */
void stdio_close(struct stdio_child *c);

/* Children spawned and not yet reaped. */
unsigned stdio_live_children(void);

/*
 * For daemon exit: stdio_close() on every child still open (afterwards no
 * handle may be used), runs d's loop until all are reaped or 2 * kill_timeout
 * + 1 s have passed (the longest of their timeouts), then SIGKILLs the process
 * groups left and waits for them. Returns with every child reaped and every
 * handle freed (d's deferred-free queue is drained).
 */
void stdio_shutdown_all(struct daemon *d);

#endif
