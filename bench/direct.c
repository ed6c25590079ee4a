/* The baselines without mcppoold: an MCP server driven directly over its stdio pipes. */
#include "direct.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define READ_TIMEOUT_MS 10000
#define MAX_BATCH 64     /* requests per direct_send_echo() */
#define MAX_REQUEST 512  /* bytes of one request line */

extern char **environ;

static void spawn_child(struct direct *d, const char *command)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)command, NULL };
	int in[2], out[2], err;

	/* Close-on-exec, so that servers spawned by other threads do not hold these pipes open. */
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	err = posix_spawn(&d->pid, command, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		die("spawn %s: %s", command, strerror(err));
	close(in[0]);
	close(out[1]);
	d->to_child = in[1];
	d->from_child = out[0];
}

static void send_line(struct direct *d, const char *line, size_t len)
{
	ssize_t n = write(d->to_child, line, len);

	if (n != (ssize_t)len)
		die("write to the server: %s", n < 0 ? strerror(errno) : "the pipe is full");
}

/* Writes the request line of a tools/call of echo into buf; returns its length. */
static size_t format_echo(char *buf, size_t size, uint64_t id, const char *message)
{
	int n = snprintf(buf, size,
			 "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"tools/call\",\"params\":"
			 "{\"name\":\"echo\",\"arguments\":{\"message\":\"%s\"}}}\n",
			 (unsigned long long)id, message);

	if (n < 0 || (size_t)n >= size)
		die("echo message too long");
	return (size_t)n;
}

/* Drops the first n bytes of the buffer. */
static void drop(struct direct *d, size_t n)
{
	memmove(d->line, d->line + n, d->len - n);
	d->len -= n;
}

/* Appends one read's worth to the buffer; returns the bytes read, 0 when the pipe was empty. */
static size_t fill(struct direct *d)
{
	ssize_t n;

	drop(d, d->taken);
	d->taken = 0;
	if (d->len == sizeof(d->line))
		die("the server sent a line over %zu bytes", sizeof(d->line));
	n = read(d->from_child, d->line + d->len, sizeof(d->line) - d->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		die("read from the server: %s", n ? strerror(errno) : "closed");
	d->len += (size_t)n;
	return (size_t)n;
}

/* The decimal number at *p, after optional spaces; advances *p. -1 when there is none. */
static int parse_id(const char **p, const char *end, uint64_t *id)
{
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	if (s == end || *s < '0' || *s > '9')
		return -1;
	for (*id = 0; s < end && *s >= '0' && *s <= '9'; s++)
		*id = *id * 10 + (uint64_t)(*s - '0');
	*p = s;
	return 0;
}

/*
 * 1 when line is a reply: a numeric id first, then "result" or "error" (the one
 * that comes first is the member: what is nested inside it comes later).
 */
static int parse_reply(const char *line, size_t len, uint64_t *id, int *ok)
{
	const char *end = line + len;
	const char *p = memmem(line, len, "\"id\":", 5);
	const char *result, *error;

	if (!p)
		return 0;
	p += 5;
	if (parse_id(&p, end, id) < 0)
		return 0;
	result = memmem(p, (size_t)(end - p), "\"result\":", 9);
	error = memmem(p, (size_t)(end - p), "\"error\":", 8);
	if (!result && !error)
		return 0;
	*ok = result && (!error || result < error);
	return 1;
}

int direct_next_reply(struct direct *d, uint64_t *id, int *ok)
{
	char *nl;

	drop(d, d->taken);
	d->taken = 0;
	while ((nl = memchr(d->line, '\n', d->len))) {
		size_t len = (size_t)(nl - d->line) + 1;

		if (parse_reply(d->line, len, id, ok)) {
			d->taken = len;
			return 1;
		}
		drop(d, len);
	}
	return 0;
}

/* Waits for the reply of request id (dropping the others); dies unless it is a result. */
static void await_result(struct direct *d, uint64_t want)
{
	struct pollfd pfd = { .fd = d->from_child, .events = POLLIN };
	uint64_t id;
	int ok;

	for (;;) {
		while (direct_next_reply(d, &id, &ok)) {
			if (id != want)
				continue;
			if (!ok)
				die("the server answered with an error: %.*s", (int)d->taken, d->line);
			return;
		}
		if (poll(&pfd, 1, READ_TIMEOUT_MS) != 1)
			die("the server sent nothing for %d ms", READ_TIMEOUT_MS);
		fill(d);
	}
}

/* The handshake the direct paths open with. */
static const char init[] =
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
	"{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
	"\"clientInfo\":{\"name\":\"mcppool-bench\",\"version\":\"1\"}}}\n"
	"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

static void initialize(struct direct *d)
{
	d->len = 0;
	d->taken = 0;
	d->next_id = 2;
	send_line(d, init, sizeof(init) - 1);
	await_result(d, 1);
}

void direct_start(struct direct *d, const char *command)
{
	spawn_child(d, command);
	initialize(d);
}

void direct_start_relay(struct direct *d, const char *socket_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(socket_path) >= sizeof(sa.sun_path))
		die("relay socket %s: %s", socket_path, fd < 0 ? strerror(errno) : "path too long");
	strcpy(sa.sun_path, socket_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect %s: %s", socket_path, strerror(errno));
	d->pid = 0;
	d->to_child = fd;
	if ((d->from_child = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		die("dup: %s", strerror(errno));
	initialize(d);
}

void direct_call(struct direct *d, const char *message)
{
	char req[MAX_REQUEST];
	uint64_t id = d->next_id++;

	send_line(d, req, format_echo(req, sizeof(req), id, message));
	await_result(d, id);
}

void direct_nonblock(struct direct *d)
{
	int fds[] = { d->to_child, d->from_child };

	for (int i = 0; i < 2; i++) {
		int flags = fcntl(fds[i], F_GETFL);

		if (flags < 0 || fcntl(fds[i], F_SETFL, flags | O_NONBLOCK) < 0)
			die("fcntl(O_NONBLOCK): %s", strerror(errno));
	}
}

void direct_send_echo(struct direct *d, const uint64_t *ids, unsigned n, const char *message)
{
	char buf[MAX_BATCH * MAX_REQUEST];
	size_t len = 0;

	if (n > MAX_BATCH)
		die("over %d echo requests at once", MAX_BATCH);
	for (unsigned i = 0; i < n; i++)
		len += format_echo(buf + len, MAX_REQUEST, ids[i], message);
	send_line(d, buf, len);
}

void direct_read(struct direct *d)
{
	fill(d);
}

uint64_t direct_cpu_ns(const struct direct *d)
{
	struct timespec ts;
	clockid_t clock;
	int err = clock_getcpuclockid(d->pid, &clock);

	if (err || clock_gettime(clock, &ts) < 0)
		die("CPU clock of server %d: %s", (int)d->pid, strerror(err ? err : errno));
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* 1 once pid is reaped, 0 if it still runs after ms milliseconds. */
static int reaped_within(pid_t pid, int ms)
{
	struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
	int status;

	for (int waited = 0; waited < ms; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return 1;
		nanosleep(&tick, NULL);
	}
	return 0;
}

void direct_hangup(struct direct *d)
{
	if (d->to_child < 0)
		return;
	if (d->pid == 0) /* a relay's socket: the other descriptor keeps it open */
		shutdown(d->to_child, SHUT_WR);
	close(d->to_child);
	d->to_child = -1;
}

void direct_stop(struct direct *d)
{
	direct_hangup(d);
	if (d->pid && !reaped_within(d->pid, 2000)) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
	}
	close(d->from_child);
}
