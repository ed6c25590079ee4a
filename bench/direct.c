/* The hot path's baseline: an MCP server driven directly over its stdio pipes, no daemon. */
#include "direct.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define READ_TIMEOUT_MS 10000

extern char **environ;

static void spawn_child(struct direct *d, const char *command)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)command, NULL };
	int in[2], out[2], err;

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
	if (write(d->to_child, line, len) != (ssize_t)len)
		die("write to the server: %s", strerror(errno));
}

/* Drops the line consumed last, then reads until a whole line is buffered; returns its length. */
static size_t read_line(struct direct *d, size_t consumed)
{
	struct pollfd pfd = { .fd = d->from_child, .events = POLLIN };
	char *nl;

	memmove(d->line, d->line + consumed, d->len - consumed);
	d->len -= consumed;
	while (!(nl = memchr(d->line, '\n', d->len))) {
		ssize_t n;

		if (d->len == sizeof(d->line))
			die("the server sent a line over %zu bytes", sizeof(d->line));
		if (poll(&pfd, 1, READ_TIMEOUT_MS) != 1)
			die("the server sent nothing for %d ms", READ_TIMEOUT_MS);
		n = read(d->from_child, d->line + d->len, sizeof(d->line) - d->len);
		if (n <= 0)
			die("read from the server: %s", n ? strerror(errno) : "closed");
		d->len += (size_t)n;
	}
	return (size_t)(nl - d->line) + 1;
}

/* Waits for the reply of request id (skipping notifications); dies unless it is a result. */
static void await_result(struct direct *d, uint64_t id)
{
	char want[48];
	size_t len = 0;

	snprintf(want, sizeof(want), "\"id\":%llu,", (unsigned long long)id);
	for (;;) {
		len = read_line(d, len);
		if (memmem(d->line, len, want, strlen(want)))
			break;
	}
	if (!memmem(d->line, len, "\"result\"", 8))
		die("the server answered with an error: %.*s", (int)len, d->line);
	memmove(d->line, d->line + len, d->len - len);
	d->len -= len;
}

void direct_start(struct direct *d, const char *command)
{
	static const char init[] =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
		"{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
		"\"clientInfo\":{\"name\":\"mcppool-bench\",\"version\":\"1\"}}}\n"
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

	d->len = 0;
	d->next_id = 2;
	spawn_child(d, command);
	send_line(d, init, sizeof(init) - 1);
	await_result(d, 1);
}

void direct_call(struct direct *d, const char *message)
{
	char req[512];
	uint64_t id = d->next_id++;
	int n = snprintf(req, sizeof(req),
			 "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"tools/call\",\"params\":"
			 "{\"name\":\"echo\",\"arguments\":{\"message\":\"%s\"}}}\n",
			 (unsigned long long)id, message);

	if (n < 0 || (size_t)n >= sizeof(req))
		die("echo message too long");
	send_line(d, req, (size_t)n);
	await_result(d, id);
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

void direct_stop(struct direct *d)
{
	close(d->to_child);
	if (!reaped_within(d->pid, 2000)) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
	}
	close(d->from_child);
}
