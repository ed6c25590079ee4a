/* The daemon's listening Unix-domain socket. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "sdnotify.h"
#include "session.h"

#define ACCEPT_RETRY_S 0.1 /* after EMFILE: try again this much later */
#define BACKLOG 511

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Returns 1 when a live peer accepts on path, 0 when none does. */
static int socket_is_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int live;

	if (fd < 0)
		return 0;
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return live;
}

/* Removes a stale socket file at path; -1 when it is live or not a socket. */
static int clear_stale(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", sa->sun_path,
						       strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; not touching it", sa->sun_path);
		return -1;
	}
	if (socket_is_live(sa)) {
		snprintf(err, errlen, "another mcppoold is already listening on %s", sa->sun_path);
		return -1;
	}
	log_info("removing stale socket %s", sa->sun_path);
	if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", sa->sun_path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int apply_group(const struct daemon *d, char *err, size_t errlen)
{
	struct group *g;

	if (!d->cfg.socket_group)
		return 0;
	if (!(g = getgrnam(d->cfg.socket_group))) {
		snprintf(err, errlen, "MCPPOOL_SOCKET_GROUP=%s: no such group", d->cfg.socket_group);
		return -1;
	}
	if (chown(d->cfg.socket_path, (uid_t)-1, g->gr_gid) < 0 ||
	    chmod(d->cfg.socket_path, 0660) < 0) {
		snprintf(err, errlen, "%s: cannot give it group %s: %s", d->cfg.socket_path,
			 d->cfg.socket_group, strerror(errno));
		return -1;
	}
	return 0;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;
	(void)revents;

	for (;;) {
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept: %s; pausing for %.0f ms", strerror(errno),
					 ACCEPT_RETRY_S * 1000);
				ev_io_stop(loop, &d->listen_w);
				ev_timer_start(loop, &d->accept_retry);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
				log_error("accept: %s", strerror(errno));
			}
			return;
		}
		if (d->nsessions >= d->cfg.max_clients) {
			log_warn("refusing a client: %u connections (MCPPOOL_MAX_CLIENTS)", d->nsessions);
			close(fd);
			continue;
		}
		session_new(d, fd);
	}
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)revents;
	ev_io_start(loop, &d->listen_w);
}

int listener_start(struct daemon *d, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old_mask;
	int rc;

	/* Socket activation: systemd owns the socket file; we only accept on it. */
	rc = sdnotify_listen_fd(d->cfg.socket_path, sizeof(d->cfg.socket_path), err, errlen);
	if (rc < -1)
		return -1;
	if (rc >= 0) {
		d->listen_fd = rc;
		goto watch;
	}
	if (fill_addr(&sa, d->cfg.socket_path) < 0) {
		snprintf(err, errlen, "socket path too long: %s", d->cfg.socket_path);
		return -1;
	}
	if (clear_stale(&sa, err, errlen) < 0)
		return -1;
	d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->listen_fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* The umask makes the file 0600 from its first instant: no window for others. */
	old_mask = umask(0177);
	rc = bind(d->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (rc < 0) {
		snprintf(err, errlen, "bind %s: %s", sa.sun_path, strerror(errno));
		goto fail;
	}
	if (stat(sa.sun_path, &st) == 0) {
		d->socket_dev = st.st_dev;
		d->socket_ino = st.st_ino;
		d->own_socket = true;
	}
	if (apply_group(d, err, errlen) < 0)
		goto fail;
	if (listen(d->listen_fd, BACKLOG) < 0) {
		snprintf(err, errlen, "listen %s: %s", sa.sun_path, strerror(errno));
		goto fail;
	}
watch:
	ev_io_init(&d->listen_w, on_accept, d->listen_fd, EV_READ);
	d->listen_w.data = d;
	ev_timer_init(&d->accept_retry, on_accept_retry, ACCEPT_RETRY_S, 0);
	d->accept_retry.data = d;
	ev_io_start(d->loop, &d->listen_w);
	return 0;
fail:
	listener_stop(d);
	return -1;
}

void listener_stop(struct daemon *d)
{
	struct stat st;

	if (d->listen_fd < 0)
		return;
	ev_io_stop(d->loop, &d->listen_w);
	ev_timer_stop(d->loop, &d->accept_retry);
	/* Only our own file: another daemon may have replaced a socket we thought stale. */
	if (d->own_socket && stat(d->cfg.socket_path, &st) == 0 && st.st_dev == d->socket_dev &&
	    st.st_ino == d->socket_ino)
		unlink(d->cfg.socket_path);
	close(d->listen_fd);
	d->listen_fd = -1;
	d->own_socket = false;
}
