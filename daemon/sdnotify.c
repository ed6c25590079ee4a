/* systemd integration: readiness notification (sd_notify) and socket activation (LISTEN_FDS). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "log.h"
#include "sdnotify.h"

static void notify(const char *state)
{
	int rc = sd_notify(0, state);

	if (rc < 0)
		log_debug("sd_notify(%s): %s", state, strerror(-rc));
}

void sdnotify_ready(const struct daemon *d)
{
	char state[256];

	snprintf(state, sizeof(state), "READY=1\nSTATUS=listening on %s", d->cfg.socket_path);
	notify(state);
}

void sdnotify_stopping(void)
{
	notify("STOPPING=1");
}

void sdnotify_reloading(void)
{
	struct timespec ts;
	char state[64];

	/* systemd 253 and later match the reload to this timestamp; older ones ignore it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	notify(state);
}

/* Copies the socket's bound path into path when it has one (not abstract, not unnamed). */
static void socket_path(int fd, char *path, size_t pathlen)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);

	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] == '\0')
		return;
	if (strnlen(sa.sun_path, sizeof(sa.sun_path)) < pathlen)
		snprintf(path, pathlen, "%.*s", (int)sizeof(sa.sun_path), sa.sun_path);
}

int sdnotify_listen_fd(char *path, size_t pathlen, char *err, size_t errlen)
{
	int n = sd_listen_fds(1), fd = SD_LISTEN_FDS_START;
	int flags;

	if (n == 0)
		return -1;
	if (n < 0) {
		snprintf(err, errlen, "socket activation: %s", strerror(-n));
		return -2;
	}
	if (n > 1) {
		snprintf(err, errlen, "socket activation: LISTEN_FDS=%d (expected one socket)", n);
		return -2;
	}
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
		snprintf(err, errlen, "socket activation: descriptor %d is not a listening Unix "
			 "stream socket (ListenStream= must name a path)", fd);
		return -2;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "socket activation: fcntl: %s", strerror(errno));
		return -2;
	}
	socket_path(fd, path, pathlen);
	log_info("socket activation: listening on the passed socket %s", path);
	return fd;
}
