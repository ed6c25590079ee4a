/*
 * relay: the least a proxy process can do, for the hot path's floor.
 *
 *   relay SOCKET COMMAND SECONDS
 *
 * Listens on the Unix socket SOCKET; for each client, one at a time, starts
 * COMMAND with its stdin and stdout on pipes (stderr to /dev/null) and copies
 * bytes both ways with epoll, read and write: no framing, no parsing, no
 * bookkeeping. A call through it pays what any proxy process between an app
 * and a stdio server pays (two more hops, each a wake-up and a read and a
 * write), and nothing of mcppoold's own work, so the distance from the direct
 * path to this one is the physical cost of a proxy on this machine. Exits
 * after SECONDS (a safety net: bench/run.sh stops it).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what)
{
	fprintf(stderr, "relay: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		die("socket");
	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
		die("bind/listen");
	return fd;
}

static pid_t spawn(const char *command, int *to, int *from)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)command, NULL };
	int in[2], out[2];
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die("pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	errno = posix_spawn(&pid, command, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (errno)
		die(command);
	close(in[0]);
	close(out[1]);
	*to = in[1];
	*from = out[0];
	return pid;
}

/* Copies what src has to dst (blocking writes: the peers read promptly). 0 at EOF or error. */
static int copy(int src, int dst)
{
	char buf[65536];
	ssize_t n = read(src, buf, sizeof(buf));

	for (ssize_t off = 0; n > 0 && off < n;) {
		ssize_t w = write(dst, buf + off, (size_t)(n - off));

		if (w <= 0)
			return 0;
		off += w;
	}
	return n > 0;
}

/* Serves one client until either side closes. */
static void serve(int client, const char *command)
{
	struct epoll_event ev[2], want = { .events = EPOLLIN };
	int to, from, ep = epoll_create1(EPOLL_CLOEXEC);
	pid_t pid = spawn(command, &to, &from);
	int open = 1;

	if (ep < 0)
		die("epoll_create1");
	want.data.fd = client;
	epoll_ctl(ep, EPOLL_CTL_ADD, client, &want);
	want.data.fd = from;
	epoll_ctl(ep, EPOLL_CTL_ADD, from, &want);
	while (open) {
		int n = epoll_wait(ep, ev, 2, -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n && open; i++)
			open = ev[i].data.fd == client ? copy(client, to) : copy(from, client);
	}
	close(to); /* the server's stdin: it exits */
	close(from);
	close(client);
	close(ep);
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	int lfd;

	if (argc != 4) {
		fputs("usage: relay SOCKET COMMAND SECONDS\n", stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(argv[1]);
	alarm((unsigned)atoi(argv[3]));
	for (;;) {
		int client = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (client < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		serve(client, argv[2]);
	}
}
