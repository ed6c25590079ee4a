/* Client side of echo_server: Unix-socket connections and length-prefixed frames. */
#include "rawecho.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

int rawecho_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval bound = { .tv_sec = 10 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		die("echo socket %s: cannot create", path);
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect %s: %s", path, strerror(errno));
	/* A blocking round trip then fails instead of hanging on a stalled server. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
	return fd;
}

void rawecho_frame(char *buf, size_t len)
{
	size_t payload = len - 4;

	buf[0] = (char)(payload >> 24);
	buf[1] = (char)(payload >> 16);
	buf[2] = (char)(payload >> 8);
	buf[3] = (char)payload;
	memset(buf + 4, 'x', payload);
}

void rawecho_roundtrip(int fd, const char *frame, size_t len)
{
	char back[256];
	size_t got = 0;

	if (len > sizeof(back))
		die("echo frame of %zu bytes is too large", len);
	if (send(fd, frame, len, MSG_NOSIGNAL) != (ssize_t)len)
		die("echo send: %s", strerror(errno));
	while (got < len) {
		ssize_t n = recv(fd, back + got, len - got, 0);

		if (n <= 0)
			die("echo recv: %s", n ? strerror(errno) : "closed");
		got += (size_t)n;
	}
}
