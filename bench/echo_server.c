/*
 * echo_server: the benchmark's physical floor. An epoll server on a Unix socket
 * that sends every length-prefixed frame (4-byte big-endian length, payload)
 * back as it came, one send(2) per frame as an MCP server writes one message per write(2), with none of the daemon's work in between.
 *
 * Usage: echo_server SOCKET_PATH MAX_SECONDS
 * It exits 0 on SIGTERM or SIGINT, or by itself after MAX_SECONDS.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define MAX_EVENTS 256

struct client {
	int fd;
	uint32_t events; /* what epoll watches for */
	size_t in_len, out_pos, out_len;
	char in[BUF_SIZE], out[BUF_SIZE];
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void fail(const char *what)
{
	fprintf(stderr, "echo_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fail("socket");
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "echo_server: socket path too long\n");
		exit(1);
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0)
		fail(path);
	return fd;
}

static void watch(int ep, struct client *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(ep, op, c->fd, &ev) < 0)
		fail("epoll_ctl");
}

static void client_close(struct client *c)
{
	close(c->fd);
	free(c);
}

static void accept_all(int ep, int lfd)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct client *c = calloc(1, sizeof(*c));

		if (!c)
			fail("calloc");
		c->fd = fd;
		c->events = EPOLLIN;
		watch(ep, c, EPOLLIN, EPOLL_CTL_ADD);
	}
	if (errno != EAGAIN)
		fail("accept");
}

/* Bytes at the start of in that form whole frames. */
static size_t whole_frames(const struct client *c)
{
	size_t pos = 0;

	while (c->in_len - pos >= 4) {
		const unsigned char *h = (const unsigned char *)c->in + pos;
		size_t len = 4 + ((size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3]);

		if (len > BUF_SIZE || len > c->in_len - pos)
			break;
		pos += len;
	}
	return pos;
}

/* Returns -1 when the peer is gone. */
static int flush_out(struct client *c)
{
	while (c->out_pos < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		c->out_pos += (size_t)n;
	}
	return 0;
}

/*
 * Sends whole frames back one send(2) each, while out has room: the shape of an
 * MCP server's output (one write per message), so that the reader can wake for
 * the first answer while the rest are still being written. Echoing a batch in one
 * send makes the two sides take turns instead, and this floor slower than the MCP
 * server it is the floor of. Returns -1 when the peer is gone.
 */
static int echo_frames(struct client *c)
{
	size_t pos = 0, end = whole_frames(c);

	while (pos < end) {
		const unsigned char *h = (const unsigned char *)c->in + pos;
		size_t len = 4 + ((size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3]);

		if (c->out_pos == c->out_len)
			c->out_pos = c->out_len = 0;
		if (len > BUF_SIZE - c->out_len)
			break;
		memcpy(c->out + c->out_len, c->in + pos, len);
		c->out_len += len;
		pos += len;
		if (flush_out(c) < 0)
			return -1;
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	return 0;
}

/* Asks epoll for what c needs now: input while there is room, output while some is queued. */
static void rewatch(int ep, struct client *c)
{
	uint32_t want = (c->in_len < BUF_SIZE ? EPOLLIN : 0) | (c->out_pos < c->out_len ? EPOLLOUT : 0);

	if (want != c->events) {
		c->events = want;
		watch(ep, c, want, EPOLL_CTL_MOD);
	}
}

/*
 * One read per readiness event (epoll is level-triggered and says so again if
 * more is waiting): the fewest system calls an echo can take. Returns -1 when
 * the peer is gone or sent a frame larger than the buffer.
 */
static int serve(int ep, struct client *c)
{
	if (c->in_len < BUF_SIZE) {
		ssize_t n = recv(c->fd, c->in + c->in_len, BUF_SIZE - c->in_len, 0);

		if (n == 0 || (n < 0 && errno != EAGAIN))
			return -1;
		if (n > 0)
			c->in_len += (size_t)n;
	}
	if (c->in_len == BUF_SIZE && !whole_frames(c))
		return -1;
	if (echo_frames(c) < 0 || flush_out(c) < 0)
		return -1;
	rewatch(ep, c);
	return 0;
}

int main(int argc, char **argv)
{
	struct epoll_event events[MAX_EVENTS];
	struct epoll_event lev = { .events = EPOLLIN };
	time_t deadline;
	int ep, lfd;

	if (argc != 3) {
		fprintf(stderr, "usage: echo_server SOCKET_PATH MAX_SECONDS\n");
		return 2;
	}
	deadline = time(NULL) + atoi(argv[2]);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	lfd = listen_on(argv[1]);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
		fail("epoll");
	while (!stopping && time(NULL) < deadline) {
		int n = epoll_wait(ep, events, MAX_EVENTS, 1000);

		if (n < 0 && errno != EINTR)
			fail("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct client *c = events[i].data.ptr;

			if (!c)
				accept_all(ep, lfd);
			else if (serve(ep, c) < 0)
				client_close(c);
		}
	}
	unlink(argv[1]);
	return 0;
}
