/* The stdio transport: one MCP server child process, its descriptors, and its shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "list.h"
#include "log.h"
#include "stdiochild.h"

#define READ_BUDGET (64u * 1024u)    /* per callback, so one busy pipe cannot starve others */
#define DRAIN_BUDGET (1024u * 1024u) /* what is read at exit: more than any pipe holds */
#define CHUNK 16384u
#define LINE_BUF_START 4096u
#define DEFAULT_PATH "/bin:/usr/bin"
/*
 * A child that exits closes its stdout a moment before it becomes waitable, so
 * an EOF is given this long for the exit to show up: the owner then learns the
 * exit status rather than just "closed its stdout".
 */
#define EOF_EXIT_WAIT 0.1

enum stdio_state {
	STDIO_RUNNING,  /* lines are delivered */
	STDIO_REPORTED, /* on_closed was called; waiting for stdio_close() */
	STDIO_CLOSING,  /* stdio_close() was called; freed once reaped */
};

/* Stdout cut into lines. Invariant: scanned <= len <= cap <= limit (= max_line + 1). */
struct line_buf {
	char *buf;
	size_t len, cap, limit;
	size_t scanned; /* bytes [0, scanned) hold no '\n' */
};

/* Stderr cut into lines, logged at a bounded rate. */
struct err_lines {
	char line[STDIO_STDERR_LINE_MAX + 1];
	size_t len;
	bool skipping; /* the rest of a cut line is dropped up to its '\n' */
	unsigned per_sec, logged;
	unsigned long suppressed;
	uint64_t second; /* the second whose lines `logged` counts */
};

/* Bytes for stdin not written yet: [pos, len) of buf. */
struct out_queue {
	char *buf;
	size_t pos, len, cap;
};

struct stdio_child {
	struct list_node link; /* on open_children until freed */
	struct ev_loop *loop;
	enum stdio_state state;
	pid_t pid;
	bool reaped;
	struct daemon *d;          /* whose deferred-free queue frees the handle */
	struct deferred free_node;
	bool freeing;              /* closed and reaped: queued for the deferred free */
	/*
	 * Our ends of the child's stdin and stdout (its fd 0 and 1). With
	 * STDIO_IO_PIPES two pipes: in_fd is the write end of one, out_fd the read
	 * end of the other, each closed when its direction stops. With
	 * STDIO_IO_SOCKET one socketpair, in_fd == out_fd: writing stops with
	 * shutdown(SHUT_WR) (the child reads EOF), reading when the child's end is
	 * shut or closed, and the descriptor is closed once, when both have stopped
	 * (io_release()).
	 */
	int in_fd, out_fd;
	bool writing, reading;
	int err_fd; /* the read end of the child's stderr pipe (STDIO_STDERR_LOG), else -1 */
	ev_child child_w;
	ev_io in_w, out_w, err_w;
	ev_prepare flush_w; /* writes what was queued this loop iteration in one write(2) */
	ev_timer kill_w, eof_w;
	int next_signal; /* of the shutdown: SIGTERM, then SIGKILL */
	double grace;
	struct line_buf out;
	struct err_lines err;
	struct out_queue q;
	size_t max_queue; /* 0: unbounded */
	char *tag;
	struct stdio_callbacks cb;
	void *ctx;
};

static struct list_node open_children = { &open_children, &open_children };
static unsigned live_children;

/* ---- the child side of the spawn (clone(), see child_fork()): async-signal-safe calls only */

enum exec_stage { STAGE_SETUP, STAGE_CHDIR, STAGE_EXEC };

/* What a child that cannot exec reports through the status pipe. */
struct exec_failure {
	int stage;
	int err;
};

static const char *env_lookup(char *const envp[], const char *name)
{
	size_t n = strlen(name);

	for (; *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* Tries file in each directory of envp's PATH, the way execvp() does; returns errno. */
static int exec_in_path(char *const argv[], char *const envp[])
{
	const char *file = argv[0], *dir, *end;
	const char *path = env_lookup(envp, "PATH");
	size_t flen = strlen(file);
	char buf[PATH_MAX];
	int result = ENOENT;

	if (strchr(file, '/') || flen == 0) {
		execve(file, argv, envp);
		return errno;
	}
	for (dir = path ? path : DEFAULT_PATH;; dir = end + 1) {
		end = strchrnul(dir, ':');
		size_t dlen = (size_t)(end - dir);
		if (dlen == 0) {
			dir = ".";
			dlen = 1;
		}
		if (dlen + flen + 2 <= sizeof(buf)) {
			memcpy(buf, dir, dlen);
			buf[dlen] = '/';
			memcpy(buf + dlen + 1, file, flen + 1);
			execve(buf, argv, envp);
			if (errno == EACCES)
				result = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				return errno;
		}
		if (*end == '\0')
			return result;
	}
}

static void reset_signals(void)
{
	struct sigaction dfl;
	sigset_t none;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	/* Ignored signals (SIGPIPE in the daemon) would survive exec; handlers would not. */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void close_fds_from(int lowest)
{
	struct rlimit rl;

	if (close_range((unsigned)lowest, ~0u, 0) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 65536;
	for (int fd = lowest; fd < (int)rl.rlim_cur; fd++)
		close(fd);
}

static __attribute__((noreturn)) void child_fail(int status_fd, int stage, int err)
{
	struct exec_failure f = { stage, err };

	if (write(status_fd, &f, sizeof(f)) < 0)
		_exit(127);
	_exit(127);
}

/* What the child is given; it lives in the suspended parent's frame. */
struct child_args {
	int in, out, errfd, status_fd; /* in the reserved slots (or the placeholder), all <= top */
	int top;                  /* the highest reserved descriptor */
	char *const *argv, *const *envp;
	const char *cwd;
};

/*
 * The child starts on the daemon's descriptor table (CLONE_FILES) and makes its
 * own copy of the part at or below a->top, which holds everything it needs.
 * Until then it may change nothing in the table: it is the daemon's. Without
 * CLOSE_RANGE_UNSHARE (Linux before 5.9) the whole table is copied.
 */
static void child_unshare_fds(const struct child_args *a)
{
	if (close_range((unsigned)a->top + 1, ~0u, CLOSE_RANGE_UNSHARE) == 0)
		return;
	if (unshare(CLONE_FILES) != 0)
		child_fail(a->status_fd, STAGE_SETUP, errno);
	close_fds_from(a->top + 1);
}

/*
 * Runs in the cloned child with every signal blocked; never returns. in
 * becomes fd 0 and out fd 1 (one socket: the same); errfd fd 2, or with -1
 * fd 2 stays the daemon's stderr.
 */
static __attribute__((noreturn)) int child_exec(void *arg)
{
	const struct child_args *a = arg;
	const int fds[3] = { a->in, a->out, a->errfd };
	int status_fd = a->status_fd;
	const char *cwd = a->cwd;

	child_unshare_fds(a);
	setpgid(0, 0);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0 && dup2(fds[i], i) < 0)
			child_fail(status_fd, STAGE_SETUP, errno);
	if (status_fd != 3) {
		if (dup3(status_fd, 3, O_CLOEXEC) < 0)
			child_fail(status_fd, STAGE_SETUP, errno);
		status_fd = 3;
	}
	close_fds_from(4);
	if (cwd && chdir(cwd) != 0)
		child_fail(status_fd, STAGE_CHDIR, errno);
	reset_signals();
	child_fail(status_fd, STAGE_EXEC, exec_in_path(a->argv, a->envp));
}

/* ---- spawning ------------------------------------------------------------------ */

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * Moves n CLOEXEC descriptors above 2, so that the child's dup2() onto 0-2
 * cannot clobber one of them, and makes fds[ours] (-1: none) non-blocking. On
 * error all n are closed.
 */
static int fds_settle(int *fds, int n, int ours, char *err, size_t errlen)
{
	bool ok = true;

	for (int i = 0; i < n; i++) {
		if (fds[i] > 2)
			continue;
		int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		close(fds[i]);
		fds[i] = moved;
		ok = ok && moved >= 0;
	}
	if (ok && (ours < 0 || fcntl(fds[ours], F_SETFL, O_NONBLOCK) == 0))
		return 0;
	snprintf(err, errlen, "descriptor setup: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		close_fd(&fds[i]);
	return -1;
}

/* A CLOEXEC pipe above 2 whose end ours (0 read, 1 write, -1 neither) is non-blocking. */
static int pipe_open(int p[2], int ours, char *err, size_t errlen)
{
	if (pipe2(p, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	return fds_settle(p, 2, ours, err, errlen);
}

/*
 * STDIO_IO_SOCKET's stdin and stdout: one stream socketpair, the way inetd and
 * systemd's StandardInput=socket give it, so that a pooled server costs the
 * daemon one descriptor for both. Ours is io[0].
 */
static int socket_open(int io[2], char *err, size_t errlen)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io) != 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	return fds_settle(io, 2, 0, err, errlen);
}

/* Closes *a, and *b when it is another descriptor (one socket is both); both become -1. */
static void close_in_out(int *a, int *b)
{
	if (*b != *a)
		close_fd(b);
	close_fd(a);
	*b = -1;
}

/* ---- the reserved slots ---------------------------------------------------------- */

/*
 * A spawn copies none of the daemon's descriptor table, which holds one or two
 * descriptors per pooled connection: copying it at fork or vfork (dup_fd) and
 * closing it again in the child (filp_flush, dnotify_flush) grew with the pool.
 * Measured with perf at 10,000 pooled connections, 40 new connections opened
 * and evicted: that was 20% of the CPU samples of the daemon and its children
 * before exec, 7 ms of CPU per new connection, and is gone this way. The
 * child's descriptors (stdin, stdout: the same socket with STDIO_IO_SOCKET,
 * stderr, the status pipe) are put in slots, low-numbered descriptors reserved
 * once; the child copies only the table up
 * to the highest of them (child_unshare_fds()), and right after the spawn the
 * slots hold the placeholder again (/dev/null, also the stderr of
 * STDIO_STDERR_DISCARD), so that the daemon keeps no end of the child's.
 */
enum { SLOT_IN, SLOT_OUT, SLOT_ERR, SLOT_STATUS, SLOT_COUNT };

static struct {
	int null_fd;           /* /dev/null, read-write: the placeholder */
	int slot[SLOT_COUNT];
	int top;               /* the highest of them */
	int clone_flags;       /* child_fork()'s, set with the slots */
} reserved = { -1, { -1, -1, -1, -1 }, -1, 0 };

/*
 * True under valgrind (it preloads its core into the program): valgrind runs no
 * general clone(), only thread-like ones and vfork-like ones, which it turns
 * into fork(); a CLONE_FILES spawn would end the daemon there ("Unsupported
 * clone() flags"). So under valgrind the child copies the table as vfork's
 * would, and child_unshare_fds() closes what is above the slots in its copy.
 */
static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "/vgpreload_core-");
}

int stdio_reserve(char *err, size_t errlen)
{
	int fds[1 + SLOT_COUNT];

	if (reserved.null_fd >= 0)
		return 0;
	fds[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fds[0] < 0) {
		snprintf(err, errlen, "/dev/null: %s", strerror(errno));
		return -1;
	}
	for (int i = 1; i <= SLOT_COUNT; i++)
		if ((fds[i] = fcntl(fds[0], F_DUPFD_CLOEXEC, 3)) < 0) {
			snprintf(err, errlen, "reserving descriptors: %s", strerror(errno));
			while (i-- > 0)
				close(fds[i]);
			return -1;
		}
	if (fds_settle(fds, 1 + SLOT_COUNT, -1, err, errlen) < 0)
		return -1;
	reserved.null_fd = fds[0];
	reserved.top = fds[0];
	reserved.clone_flags = CLONE_VM | CLONE_VFORK | SIGCHLD | (under_valgrind() ? 0 : CLONE_FILES);
	for (int i = 0; i < SLOT_COUNT; i++) {
		reserved.slot[i] = fds[1 + i];
		if (fds[1 + i] > reserved.top)
			reserved.top = fds[1 + i];
	}
	return 0;
}

/* The placeholder back in every slot: the slots hold no end of a child's. */
static void slots_clear(void)
{
	for (int i = 0; i < SLOT_COUNT; i++)
		dup3(reserved.null_fd, reserved.slot[i], O_CLOEXEC);
}

/* Puts fds (-1: none) into the slots. */
static int slots_fill(const int fds[SLOT_COUNT], char *err, size_t errlen)
{
	for (int i = 0; i < SLOT_COUNT; i++)
		if (fds[i] >= 0 && dup3(fds[i], reserved.slot[i], O_CLOEXEC) < 0) {
			snprintf(err, errlen, "descriptor slot: %s", strerror(errno));
			slots_clear();
			return -1;
		}
	return 0;
}

/*
 * What a spawn opens: our ends become the child's; the child's ends close
 * after the spawn. With one socket, in == out and child_in == child_out.
 */
struct spawn_fds {
	int in, out;             /* ours: its stdin is written to in, its stdout read from out */
	int child_in, child_out; /* its fd 0 and 1 */
	int err[2], status[2];
};

/* The child's ends, closed in the daemon once it has them. */
static void spawn_fds_close_child(struct spawn_fds *p)
{
	close_in_out(&p->child_in, &p->child_out);
	close_fd(&p->err[1]);
	close_fd(&p->status[1]);
}

static void spawn_fds_close(struct spawn_fds *p)
{
	spawn_fds_close_child(p);
	close_in_out(&p->in, &p->out);
	close_fd(&p->err[0]);
	close_fd(&p->status[0]);
}

/* The child's stdin and stdout as io says: two pipes, or one socket. */
static int in_out_open(struct spawn_fds *p, enum stdio_io io, char *err, size_t errlen)
{
	int a[2], b[2];

	if (io == STDIO_IO_SOCKET) {
		if (socket_open(a, err, errlen) < 0)
			return -1;
		p->in = p->out = a[0];
		p->child_in = p->child_out = a[1];
		return 0;
	}
	if (pipe_open(a, 1, err, errlen) < 0)
		return -1;
	if (pipe_open(b, 0, err, errlen) < 0) {
		close_fd(&a[0]);
		close_fd(&a[1]);
		return -1;
	}
	p->child_in = a[0];
	p->in = a[1];
	p->out = b[0];
	p->child_out = b[1];
	return 0;
}

static int spawn_fds_open(struct spawn_fds *p, const struct stdio_options *opt, char *err,
			  size_t errlen)
{
	memset(p, -1, sizeof(*p));
	if (in_out_open(p, opt->io, err, errlen) < 0 ||
	    (opt->stderr_mode == STDIO_STDERR_LOG && pipe_open(p->err, 0, err, errlen) < 0) ||
	    pipe_open(p->status, -1, err, errlen) < 0) {
		spawn_fds_close(p);
		return -1;
	}
	return 0;
}

/* Waits for the status pipe: 0 once the child has exec'd, else -1 with the reason in err. */
static int exec_wait(int status_fd, const char *file, const char *cwd, char *err,
		     size_t errlen)
{
	struct exec_failure f;
	ssize_t n;

	do
		n = read(status_fd, &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(f)) {
		snprintf(err, errlen, "cannot read the exec status of \"%s\": %s", file,
			 n < 0 ? strerror(errno) : "short read");
		return -1;
	}
	if (f.stage == STAGE_EXEC)
		snprintf(err, errlen, "cannot execute \"%s\": %s", file, strerror(f.err));
	else if (f.stage == STAGE_CHDIR)
		snprintf(err, errlen, "cannot change to directory \"%s\": %s", cwd, strerror(f.err));
	else
		snprintf(err, errlen, "cannot set up the child's descriptors: %s", strerror(f.err));
	return -1;
}

/*
 * Reaps a child that never became ours (exec failed) outside the loop: it has
 * exited or is about to, and libev's own reaping runs only inside ev_run().
 */
static void reap_failed(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static void child_exited(struct ev_loop *loop, ev_child *w, int revents);
static void out_readable(struct ev_loop *loop, ev_io *w, int revents);
static void err_readable(struct ev_loop *loop, ev_io *w, int revents);
static void in_writable(struct ev_loop *loop, ev_io *w, int revents);
static void in_flush(struct ev_loop *loop, ev_prepare *w, int revents);
static void kill_step(struct ev_loop *loop, ev_timer *w, int revents);
static void eof_waited(struct ev_loop *loop, ev_timer *w, int revents);

static struct stdio_child *child_new(struct ev_loop *loop, const struct stdio_options *opt,
				     const struct stdio_callbacks *cb, void *ctx)
{
	struct stdio_child *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->tag = strdup(opt->log_tag ? opt->log_tag : "?");
	if (!c->tag) {
		free(c);
		return NULL;
	}
	list_init(&c->link);
	c->loop = loop;
	c->in_fd = c->out_fd = c->err_fd = -1;
	c->grace = (double)opt->kill_timeout_ms / 1000.0;
	c->out.limit = opt->max_line + 1;
	c->err.per_sec = opt->stderr_lines_per_sec;
	c->max_queue = opt->max_queue;
	c->d = opt->d;
	c->err.second = (uint64_t)ev_now(loop);
	c->cb = *cb;
	c->ctx = ctx;
	ev_init(&c->child_w, child_exited);
	ev_init(&c->in_w, in_writable);
	ev_init(&c->out_w, out_readable);
	ev_init(&c->err_w, err_readable);
	ev_init(&c->kill_w, kill_step);
	ev_init(&c->eof_w, eof_waited);
	ev_init(&c->flush_w, in_flush);
	c->flush_w.data = c;
	c->child_w.data = c->in_w.data = c->out_w.data = c->err_w.data = c;
	c->kill_w.data = c->eof_w.data = c;
	return c;
}

static void child_destroy(struct stdio_child *c)
{
	free(c->out.buf);
	free(c->q.buf);
	free(c->tag);
	free(c);
}

/* The child's stack: one spawn at a time, as the daemon waits for each (CLONE_VFORK). */
static char child_stack[64 * 1024] __attribute__((aligned(64)));

/*
 * Under AddressSanitizer the child's frames poison child_stack's shadow (shared
 * memory, CLONE_VM) and, as it execs rather than returns, never unpoison it:
 * the next child would trip over the last one's redzones.
 */
static void child_stack_reset(void)
{
#ifdef __SANITIZE_ADDRESS__
	__asan_unpoison_memory_region(child_stack, sizeof(child_stack));
#endif
}

/*
 * Starts the child and registers its ev_child at once; -1 with err when clone fails.
 *
 * Like vfork(), not fork(): fork() copies the page tables of the daemon, whose
 * memory grows with the pool, so each new connection cost more the larger the
 * pool was (measured: 1.4 ms to open one at 100 pooled connections, 31 ms at
 * 5,000). CLONE_VM | CLONE_VFORK copies nothing; this thread waits until the
 * child has exec'd or exited. CLONE_FILES: the descriptor table is not copied
 * either (see "the reserved slots"). That is safe because of what the child
 * does, all in child_exec() and below, on child_stack:
 * - it never returns: child_exec() ends in execve() or _exit();
 * - before child_unshare_fds() it changes nothing in the shared descriptor
 *   table; afterwards it makes only system calls on what it does not share with
 *   the parent (not CLONE_SIGHAND): its descriptors, process group, working
 *   directory, signal dispositions and mask;
 * - it writes only to child_stack and to this thread's errno, which the parent
 *   reads only when clone() failed (no child ran);
 * - it reads args, argv, envp and cwd, which this suspended caller owns;
 * - no malloc, no stdio, no locks, no atfork handlers (clone() runs none);
 * - every signal is blocked around clone(), so no handler of ours (libev's
 *   included) runs in the child on the shared memory; the child resets the
 *   dispositions and the mask just before execve().
 * Exec failures still come back through the CLOEXEC status pipe, as with fork().
 */
static int child_fork(struct stdio_child *c, const struct child_args *args, char *err,
		      size_t errlen)
{
	sigset_t all, old;
	pid_t pid;

	/* No handler of ours (libev's included) may run in the child before exec. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	child_stack_reset();
	pid = clone(child_exec, child_stack + sizeof(child_stack), reserved.clone_flags, (void *)args);
	int saved = errno;
	c->pid = pid;
	if (c->pid > 0) {
		/*
		 * clone() returns once the child has exec'd or exited: it has made its
		 * own process group (setpgid in child_exec), so kill(-pid) finds it.
		 */
		ev_child_set(&c->child_w, c->pid, 0);
		ev_child_start(c->loop, &c->child_w);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (c->pid < 0) {
		snprintf(err, errlen, "clone: %s", strerror(saved));
		return -1;
	}
	return 0;
}

/*
 * Runs the child with p's child ends, through the slots; whatever happens, the
 * slots hold the placeholder again on return.
 */
static int child_start(struct stdio_child *c, struct spawn_fds *p, enum stdio_stderr mode,
		       char *const argv[], char *const envp[], const char *cwd, char *err,
		       size_t errlen)
{
	const bool one = p->child_out == p->child_in;
	const int fds[SLOT_COUNT] = { [SLOT_IN] = p->child_in, [SLOT_OUT] = one ? -1 : p->child_out,
				      [SLOT_ERR] = p->err[1], [SLOT_STATUS] = p->status[1] };
	struct child_args args = {
		.in = reserved.slot[SLOT_IN],
		.out = reserved.slot[one ? SLOT_IN : SLOT_OUT],
		.errfd = mode == STDIO_STDERR_LOG       ? reserved.slot[SLOT_ERR]
			 : mode == STDIO_STDERR_DISCARD ? reserved.null_fd
							: -1,
		.status_fd = reserved.slot[SLOT_STATUS],
		.top = reserved.top,
		.argv = argv,
		.envp = envp,
		.cwd = cwd,
	};
	int rc;

	if (slots_fill(fds, err, errlen) < 0)
		return -1;
	rc = child_fork(c, &args, err, errlen);
	slots_clear();
	return rc;
}

/* Takes our ends of the descriptors and starts reading. */
static void child_attach(struct stdio_child *c, struct spawn_fds *p)
{
	c->in_fd = p->in;
	c->out_fd = p->out;
	c->err_fd = p->err[0];
	p->in = p->out = p->err[0] = -1;
	c->writing = c->reading = true;
	ev_io_set(&c->in_w, c->in_fd, EV_WRITE);
	ev_io_set(&c->out_w, c->out_fd, EV_READ);
	ev_io_start(c->loop, &c->out_w);
	if (c->err_fd >= 0) {
		ev_io_set(&c->err_w, c->err_fd, EV_READ);
		ev_io_start(c->loop, &c->err_w);
	}
	list_add_tail(&open_children, &c->link);
	live_children++;
}

static int spawn_check(struct ev_loop *loop, char *const argv[],
		       const struct stdio_options *opt, char *err, size_t errlen)
{
	if (!ev_is_default_loop(loop)) {
		snprintf(err, errlen, "stdio children need the default event loop");
		return -1;
	}
	if (!argv || !argv[0] || !argv[0][0]) {
		snprintf(err, errlen, "empty command");
		return -1;
	}
	if (opt->max_line == 0 || opt->max_line >= SIZE_MAX / 2) {
		snprintf(err, errlen, "max_line %zu out of range", opt->max_line);
		return -1;
	}
	return 0;
}

struct stdio_child *stdio_spawn(struct ev_loop *loop, char *const argv[], char *const envp[],
				const char *cwd, const struct stdio_options *opt,
				const struct stdio_callbacks *cb, void *ctx, char *err,
				size_t errlen)
{
	static char *const no_env[] = { NULL };
	struct spawn_fds p;
	struct stdio_child *c;

	if (spawn_check(loop, argv, opt, err, errlen) < 0)
		return NULL;
	c = child_new(loop, opt, cb, ctx);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (stdio_reserve(err, errlen) < 0 || spawn_fds_open(&p, opt, err, errlen) < 0) {
		child_destroy(c);
		return NULL;
	}
	if (child_start(c, &p, opt->stderr_mode, argv, envp ? envp : no_env, cwd, err, errlen) < 0) {
		spawn_fds_close(&p);
		child_destroy(c);
		return NULL;
	}
	spawn_fds_close_child(&p);
	if (exec_wait(p.status[0], argv[0], cwd, err, errlen) < 0) {
		ev_child_stop(loop, &c->child_w);
		reap_failed(c->pid);
		spawn_fds_close(&p);
		child_destroy(c);
		return NULL;
	}
	close_fd(&p.status[0]);
	child_attach(c, &p);
	log_debug("[%s] started \"%s\" as pid %ld", c->tag, argv[0], (long)c->pid);
	return c;
}

/* ---- lifetime -------------------------------------------------------------------- */

static void err_flush(struct stdio_child *c);

/* Closes what no direction uses: a pipe once its direction stops, the one socket once both have. */
static void io_release(struct stdio_child *c)
{
	if (c->in_fd == c->out_fd) {
		if (!c->writing && !c->reading)
			close_in_out(&c->in_fd, &c->out_fd);
		return;
	}
	if (!c->writing)
		close_fd(&c->in_fd);
	if (!c->reading)
		close_fd(&c->out_fd);
}

/* "Closes the child's stdin": it reads EOF; queued input is dropped. */
static void in_close(struct stdio_child *c)
{
	ev_io_stop(c->loop, &c->in_w);
	ev_prepare_stop(c->loop, &c->flush_w);
	c->q.pos = c->q.len = 0;
	if (!c->writing)
		return;
	c->writing = false;
	if (c->reading && c->in_fd == c->out_fd)
		shutdown(c->in_fd, SHUT_WR);
	io_release(c);
}

static void out_close(struct stdio_child *c)
{
	ev_io_stop(c->loop, &c->out_w);
	c->reading = false;
	io_release(c);
}

static void err_close(struct stdio_child *c)
{
	ev_io_stop(c->loop, &c->err_w);
	close_fd(&c->err_fd);
	err_flush(c);
}

static void child_free(struct stdio_child *c)
{
	ev_child_stop(c->loop, &c->child_w);
	ev_timer_stop(c->loop, &c->kill_w);
	ev_timer_stop(c->loop, &c->eof_w);
	in_close(c);
	out_close(c);
	err_close(c);
	list_del(&c->link);
	child_destroy(c);
}

static void child_free_deferred(struct deferred *x)
{
	child_free(container_of(x, struct stdio_child, free_node));
}

/*
 * Once closed by the owner and reaped, the handle goes to the daemon's
 * deferred-free queue: stdio_close() may be called from inside one of its own
 * callbacks, which must not lose their memory under them. It leaves the list
 * of open children at once, so that shutdown does not see it again.
 */
static void child_settle(struct stdio_child *c)
{
	if (c->state != STDIO_CLOSING || !c->reaped || c->freeing)
		return;
	c->freeing = true;
	list_del(&c->link);
	daemon_defer_free(c->d, &c->free_node, child_free_deferred);
}

static void report_closed(struct stdio_child *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The one place on_closed is called: once, and only while RUNNING. */
static void report_closed(struct stdio_child *c, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	if (c->state != STDIO_RUNNING)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	c->state = STDIO_REPORTED;
	ev_timer_stop(c->loop, &c->eof_w);
	c->cb.on_closed(c->ctx, reason);
}

/* ---- stdin ------------------------------------------------------------------------ */

/*
 * Writes what stdin takes now; returns the bytes written, or -1 when stdin is
 * broken. A child that is gone gives EPIPE, never SIGPIPE: on the socket
 * through MSG_NOSIGNAL, on a pipe because the daemon ignores SIGPIPE
 * (daemon_start(); see stdiochild.h).
 */
static ssize_t in_write_some(struct stdio_child *c, const char *data, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = c->in_fd == c->out_fd
				    ? send(c->in_fd, data + done, len - done, MSG_NOSIGNAL)
				    : write(c->in_fd, data + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		log_debug("[%s] stdin of pid %ld: %s", c->tag, (long)c->pid,
			  n < 0 ? strerror(errno) : "short write");
		in_close(c);
		errno = EPIPE;
		return -1;
	}
	return (ssize_t)done;
}

static int queue_append(struct out_queue *q, const char *data, size_t len)
{
	if (q->pos > 0) {
		memmove(q->buf, q->buf + q->pos, q->len - q->pos);
		q->len -= q->pos;
		q->pos = 0;
	}
	if (len > q->cap - q->len) {
		size_t cap = q->cap ? q->cap : 512; /* most messages are small; idle children are many */
		while (cap - q->len < len)
			cap *= 2;
		char *buf = realloc(q->buf, cap);
		if (!buf)
			return -1;
		q->buf = buf;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, data, len);
	q->len += len;
	return 0;
}

/*
 * Queues the data; the queue is written once per loop iteration, just before
 * the loop blocks, so that many requests that arrive together cost one
 * write(2), and a lone one is not delayed.
 */
int stdio_write(struct stdio_child *c, const char *data, size_t len)
{
	if (!c->writing) {
		errno = EPIPE;
		return -1;
	}
	if (c->max_queue && c->q.len - c->q.pos > c->max_queue) {
		errno = ENOBUFS;
		return -1;
	}
	if (queue_append(&c->q, data, len) < 0) {
		errno = ENOMEM;
		return -1;
	}
	if (!ev_is_active(&c->in_w))
		ev_prepare_start(c->loop, &c->flush_w);
	return 0;
}

/* Writes what the pipe takes; watches for writability while some is left. */
static void in_write_queued(struct stdio_child *c)
{
	ssize_t n = in_write_some(c, c->q.buf + c->q.pos, c->q.len - c->q.pos);

	if (n < 0)
		return;
	c->q.pos += (size_t)n;
	if (c->q.pos == c->q.len) {
		c->q.pos = c->q.len = 0;
		ev_io_stop(c->loop, &c->in_w);
	} else {
		ev_io_start(c->loop, &c->in_w);
	}
}

static void in_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct stdio_child *c = w->data;
	(void)revents;

	ev_prepare_stop(loop, w);
	in_write_queued(c);
}

static void in_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	in_write_queued(w->data);
}

size_t stdio_queued(const struct stdio_child *c)
{
	return c->q.len - c->q.pos;
}

pid_t stdio_pid(const struct stdio_child *c)
{
	return c->pid;
}

/* ---- stdout ------------------------------------------------------------------------ */

/* Room to read into, growing the buffer up to its limit; NULL when full or out of memory. */
static char *out_space(struct line_buf *b, size_t *avail)
{
	if (b->len == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : LINE_BUF_START;
		if (cap > b->limit)
			cap = b->limit;
		if (cap == b->cap)
			return NULL;
		char *buf = realloc(b->buf, cap);
		if (!buf)
			return NULL;
		b->buf = buf;
		b->cap = cap;
	}
	*avail = b->cap - b->len;
	return b->buf + b->len;
}

/* Hands every complete buffered line to on_line, then keeps the unfinished rest. */
static void out_deliver_lines(struct stdio_child *c)
{
	struct line_buf *b = &c->out;
	size_t start = 0;
	char *nl;

	while (c->state == STDIO_RUNNING &&
	       (nl = memchr(b->buf + b->scanned, '\n', b->len - b->scanned))) {
		size_t end = (size_t)(nl - b->buf), len = end - start;
		*nl = '\0';
		if (len > 0 && b->buf[end - 1] == '\r')
			b->buf[start + --len] = '\0';
		b->scanned = end + 1;
		if (len > 0)
			c->cb.on_line(c->ctx, b->buf + start, len);
		start = end + 1;
	}
	if (c->state != STDIO_RUNNING) {
		b->len = b->scanned = 0;
		return;
	}
	memmove(b->buf, b->buf + start, b->len - start);
	b->len -= start;
	b->scanned = b->len;
	if (b->len == b->limit)
		report_closed(c, "line exceeds %zu bytes", b->limit - 1);
}

/*
 * One read(2) into the line buffer, lines delivered; returns read(2)'s result.
 * *drained is set when the pipe gave less than asked: it is empty now.
 */
static ssize_t out_read_lines(struct stdio_child *c, size_t budget, bool *drained)
{
	size_t avail;
	char *space = out_space(&c->out, &avail);

	if (!space) {
		errno = ENOMEM;
		return -1;
	}
	size_t want = avail < budget ? avail : budget;
	ssize_t n = read(c->out_fd, space, want);
	if (n > 0) {
		*drained = (size_t)n < want;
		c->out.len += (size_t)n;
		out_deliver_lines(c);
	}
	return n;
}

static ssize_t out_read_discard(struct stdio_child *c, size_t budget)
{
	char scratch[CHUNK];

	return read(c->out_fd, scratch, budget < sizeof(scratch) ? budget : sizeof(scratch));
}

static void out_eof(struct stdio_child *c)
{
	out_close(c);
	if (c->state == STDIO_RUNNING && c->out.len > 0)
		log_debug("[%s] dropped %zu bytes after the last newline", c->tag, c->out.len);
	if (c->state == STDIO_RUNNING && !c->reaped) {
		ev_timer_set(&c->eof_w, EOF_EXIT_WAIT, 0.);
		ev_timer_start(c->loop, &c->eof_w);
	}
}

/* Reads up to budget bytes or until the pipe is empty, at EOF or broken. */
static void out_read(struct stdio_child *c, size_t budget)
{
	while (budget > 0 && c->reading) {
		bool drained = false;
		ssize_t n = c->state == STDIO_RUNNING ? out_read_lines(c, budget, &drained)
						      : out_read_discard(c, budget);
		if (n > 0) {
			budget -= (size_t)n < budget ? (size_t)n : budget;
			if (drained)
				return; /* saves the read(2) that would say EAGAIN */
			continue;
		}
		/* A child that exits with input unread resets the socket: its EOF all the same. */
		if (n == 0 || errno == ECONNRESET) {
			out_eof(c);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		int e = errno;
		out_close(c);
		report_closed(c, "stdout read error: %s", strerror(e));
		return;
	}
}

static void out_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stdio_child *c = w->data;
	(void)loop;
	(void)revents;

	out_read(c, READ_BUDGET);
}

static void eof_waited(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stdio_child *c = w->data;
	(void)loop;
	(void)revents;

	report_closed(c, "closed its stdout");
}

/* ---- stderr ------------------------------------------------------------------------ */

static void err_flush(struct stdio_child *c)
{
	if (c->err.suppressed == 0)
		return;
	log_warn("[%s] stderr: %lu lines suppressed", c->tag, c->err.suppressed);
	c->err.suppressed = 0;
}

/* Logs the buffered stderr line, within this second's allowance. */
static void err_emit(struct stdio_child *c)
{
	struct err_lines *e = &c->err;
	uint64_t second = (uint64_t)ev_now(c->loop);

	if (e->len > 0 && e->line[e->len - 1] == '\r')
		e->len--;
	e->line[e->len] = '\0';
	if (e->len == 0)
		return;
	e->len = 0;
	if (second != e->second) {
		err_flush(c);
		e->second = second;
		e->logged = 0;
	}
	if (e->logged >= e->per_sec) {
		e->suppressed++;
		return;
	}
	e->logged++;
	log_info("[%s] stderr: %s", c->tag, e->line);
}

static void err_feed(struct stdio_child *c, const char *p, size_t n)
{
	struct err_lines *e = &c->err;

	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;
		if (!e->skipping) {
			size_t room = STDIO_STDERR_LINE_MAX - e->len;
			size_t take = seg < room ? seg : room;
			memcpy(e->line + e->len, p, take);
			e->len += take;
			if (take < seg) {
				err_emit(c);
				e->skipping = true;
			}
		}
		if (nl) {
			if (!e->skipping)
				err_emit(c);
			e->skipping = false;
			seg++;
		}
		p += seg;
		n -= seg;
	}
}

static void err_read(struct stdio_child *c, size_t budget)
{
	char chunk[CHUNK];

	while (budget > 0 && c->err_fd >= 0) {
		ssize_t n = read(c->err_fd, chunk, budget < sizeof(chunk) ? budget : sizeof(chunk));
		if (n > 0) {
			err_feed(c, chunk, (size_t)n);
			budget -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		err_emit(c);
		err_close(c);
	}
}

static void err_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stdio_child *c = w->data;
	(void)loop;
	(void)revents;

	err_read(c, READ_BUDGET);
}

/* ---- exit and shutdown ----------------------------------------------------------------- */

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (SIG%s)%s", WTERMSIG(status),
			 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
			 WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "changed state (status 0x%x)", (unsigned)status);
}

/* The one place a child stops counting as live. */
static void child_mark_reaped(struct stdio_child *c)
{
	ev_child_stop(c->loop, &c->child_w);
	ev_timer_stop(c->loop, &c->kill_w);
	c->reaped = true;
	live_children--;
}

/*
 * The child is reaped. What it wrote before exiting is read now, and the pipes
 * are closed without waiting for EOF: a grandchild may hold them open forever.
 * Such leftovers of its process group get SIGTERM; the group id cannot have
 * been reused yet, as the reaping happened in this same loop iteration.
 */
static void child_exited(struct ev_loop *loop, ev_child *w, int revents)
{
	struct stdio_child *c = w->data;
	char reason[96];
	(void)loop;
	(void)revents;

	child_mark_reaped(c);
	describe_status(w->rstatus, reason, sizeof(reason));
	log_info("[%s] pid %ld %s", c->tag, (long)c->pid, reason);
	in_close(c);
	out_read(c, DRAIN_BUDGET);
	err_read(c, DRAIN_BUDGET);
	out_close(c);
	err_emit(c);
	err_close(c);
	if (kill(-c->pid, SIGTERM) == 0)
		log_debug("[%s] sent SIGTERM to processes left in group %ld", c->tag, (long)c->pid);
	report_closed(c, "%s", reason);
	child_settle(c);
}

static void kill_step(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stdio_child *c = w->data;
	(void)revents;

	if (c->next_signal == SIGTERM) {
		log_info("[%s] pid %ld still running after its stdin closed: SIGTERM to its group",
			 c->tag, (long)c->pid);
		kill(-c->pid, SIGTERM);
		c->next_signal = SIGKILL;
		ev_timer_set(w, c->grace, 0.);
		ev_timer_start(loop, w);
		return;
	}
	log_warn("[%s] pid %ld ignored SIGTERM: SIGKILL to its group", c->tag, (long)c->pid);
	kill(-c->pid, SIGKILL);
}

void stdio_close(struct stdio_child *c)
{
	if (!c || c->state == STDIO_CLOSING)
		return;
	c->state = STDIO_CLOSING;
	ev_timer_stop(c->loop, &c->eof_w);
	in_close(c);
	c->out.len = c->out.scanned = 0;
	if (!c->reaped) {
		c->next_signal = SIGTERM;
		ev_timer_set(&c->kill_w, c->grace, 0.);
		ev_timer_start(c->loop, &c->kill_w);
	}
	child_settle(c);
}

unsigned stdio_live_children(void)
{
	return live_children;
}

static void shutdown_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	*(bool *)w->data = true;
}

/* Outside the loop, a child that outlived every grace period is killed and waited for. */
static void child_force_reap(struct stdio_child *c)
{
	int status;

	log_warn("[%s] pid %ld still running at exit: SIGKILL to its group", c->tag,
		 (long)c->pid);
	kill(-c->pid, SIGKILL);
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	child_mark_reaped(c);
	child_free(c);
}

void stdio_shutdown_all(struct daemon *d)
{
	struct ev_loop *loop = d->loop;
	struct list_node *pos, *tmp;
	double wait = 1.0;
	bool expired = false;
	ev_timer deadline;

	list_for_each_safe(pos, tmp, &open_children) {
		struct stdio_child *c = list_entry(pos, struct stdio_child, link);
		if (2 * c->grace + 1.0 > wait)
			wait = 2 * c->grace + 1.0;
		stdio_close(c);
	}
	ev_timer_init(&deadline, shutdown_deadline, wait, 0.);
	deadline.data = &expired;
	ev_timer_start(loop, &deadline);
	while (live_children > 0 && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &deadline);
	list_for_each_safe(pos, tmp, &open_children)
		child_force_reap(list_entry(pos, struct stdio_child, link));
	daemon_reap(d);
}
