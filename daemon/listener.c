/* The daemon's listening Unix-domain socket. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <msgpack.h>

#include "daemon.h"
#include "errcode.h"
#include "frame.h"
#include "listener.h"
#include "log.h"
#include "sdnotify.h"
#include "session.h"
#include "wire.h"

#define ACCEPT_RETRY_S 0.1 /* after EMFILE: try again this much later */
#define REFUSAL_LOG_S 1.0  /* refusals over MCPPOOL_MAX_CLIENTS: at most one log line this often */
#define BACKLOG 511
#define LINGER_S 2.0       /* a refused client has this long to read why before it is closed */

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

/* The one place a lingering refused client goes: its descriptor closed, its slot free. */
static void linger_end(struct daemon *d, struct lingering *l)
{
	ev_io_stop(d->loop, &l->io);
	ev_timer_stop(d->loop, &l->timer);
	close(l->fd);
	l->fd = -1;
}

/* A lingering client sent more, or closed: what it sent is dropped; at its close, so is it. */
static void on_linger_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lingering *l = w->data;
	char buf[512];
	ssize_t n;
	(void)loop;
	(void)revents;

	while ((n = read(l->fd, buf, sizeof(buf))) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		linger_end(l->d, l);
}

static void on_linger_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lingering *l = w->data;
	(void)loop;
	(void)revents;
	linger_end(l->d, l);
}

/*
 * Tells a client over MCPPOOL_MAX_CLIENTS why it is turned away (a reply of id 0,
 * before any hello). One write of a small frame into an empty socket buffer: it
 * cannot block, and if it fails the client only sees the close. Then the daemon
 * stops writing but lingers, reading and dropping what the client sends, until the
 * client closes or LINGER_S passes: closed at once, the socket would fail the
 * client's hello with EPIPE (or reset it, had the hello come), and a client that
 * gives up on a failed write (Node's does) would never read the refusal. At most
 * LINGER_MAX linger; past that, a refused client is closed at once.
 */
static void refuse_client(struct daemon *d, int fd)
{
	char message[256];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t start;

	snprintf(message, sizeof(message),
		 "mcppoold serves at most %u client connections (MCPPOOL_MAX_CLIENTS) and all are "
		 "in use: close idle connections to the daemon, or raise MCPPOOL_MAX_CLIENTS",
		 d->cfg.max_clients);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	start = frame_begin(&sb);
	wire_pack_reply_error(&pk, 0, ERR_TOO_MANY_CLIENTS, message, NULL);
	if (frame_end(&sb, start, d->cfg.max_frame) == 0 && write(fd, sb.data, sb.size) < 0)
		log_debug("refused client: %s", strerror(errno));
	msgpack_sbuffer_destroy(&sb);
	shutdown(fd, SHUT_WR);
	for (size_t i = 0; i < LINGER_MAX; i++) {
		struct lingering *l = &d->lingering[i];

		if (l->fd >= 0)
			continue;
		l->fd = fd;
		ev_io_set(&l->io, fd, EV_READ);
		ev_io_start(d->loop, &l->io);
		ev_timer_set(&l->timer, LINGER_S, 0);
		ev_timer_start(d->loop, &l->timer);
		return;
	}
	close(fd);
}

/*
 * Logs refusals at most once a second: the first at once, then, while they go
 * on, one line a second with their count. A flood of clients cannot flood the log.
 */
static void note_refusal(struct daemon *d)
{
	if (ev_is_active(&d->refusal_report)) {
		d->refusals++;
		return;
	}
	log_warn("refusing a client: %u connection%s open, the limit MCPPOOL_MAX_CLIENTS (more "
		 "refusals are counted once a second)", d->nsessions, d->nsessions == 1 ? "" : "s");
	ev_timer_set(&d->refusal_report, REFUSAL_LOG_S, 0);
	ev_timer_start(d->loop, &d->refusal_report);
}

static void on_refusal_report(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)revents;

	if (d->refusals == 0)
		return; /* a quiet second: the next refusal is logged at once */
	log_warn("refused %u client%s in the last second: %u connection%s open, the limit "
		 "MCPPOOL_MAX_CLIENTS", d->refusals, d->refusals == 1 ? "" : "s", d->nsessions,
		 d->nsessions == 1 ? "" : "s");
	d->refusals = 0;
	ev_timer_set(w, REFUSAL_LOG_S, 0);
	ev_timer_start(loop, w);
}

/* Accepts every waiting client. Returns 0 once none waits, -1 (errno set) when out of descriptors or memory. */
static int accept_waiting(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				return -1;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_error("accept: %s", strerror(errno));
			return 0;
		}
		if (d->nsessions >= d->cfg.max_clients) {
			note_refusal(d);
			refuse_client(d, fd);
			continue;
		}
		session_new(d, fd);
	}
}

/*
 * Out of descriptors: the listener stays readable, so it is stopped (else the
 * loop would spin on it) and tried again from a timer, ten times a second, until
 * every waiting client is accepted. One log line per pause, however many retries
 * it takes; closed sessions are freed meanwhile, since the loop sleeps between tries.
 */
static void pause_accepting(struct daemon *d)
{
	if (!d->accept_paused) {
		log_warn("accept: %s: not accepting new clients until descriptors are free "
			 "(trying every %.0f ms; raise the limit, ulimit -n or LimitNOFILE=, or "
			 "lower MCPPOOL_MAX_CLIENTS)", strerror(errno), ACCEPT_RETRY_S * 1000);
		d->accept_paused = ev_now(d->loop);
	}
	ev_io_stop(d->loop, &d->listen_w);
	/* A one-shot timer keeps its old expiry: set it again, or it fires at once. */
	ev_timer_stop(d->loop, &d->accept_retry);
	ev_timer_set(&d->accept_retry, ACCEPT_RETRY_S, 0);
	ev_timer_start(d->loop, &d->accept_retry);
}

/* The pause ends once every waiting client was accepted, not at the first one. */
static void end_pause(struct daemon *d)
{
	if (!d->accept_paused)
		return;
	log_info("accepting clients again after %.1f s short of descriptors",
		 ev_now(d->loop) - d->accept_paused);
	d->accept_paused = 0;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;
	(void)loop;
	(void)revents;

	if (accept_waiting(d) < 0)
		pause_accepting(d);
	else
		end_pause(d);
}

/* Tries again; the listener watches once more unless descriptors are still short. */
static void on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)revents;

	if (accept_waiting(d) < 0) {
		pause_accepting(d);
		return;
	}
	end_pause(d);
	ev_io_start(loop, &d->listen_w);
}

int listener_start(struct daemon *d, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old_mask;
	int rc;

	for (size_t i = 0; i < LINGER_MAX; i++) {
		struct lingering *l = &d->lingering[i];

		l->fd = -1;
		l->d = d;
		ev_init(&l->io, on_linger_readable);
		ev_init(&l->timer, on_linger_timeout);
		l->io.data = l->timer.data = l;
	}
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
	ev_timer_init(&d->refusal_report, on_refusal_report, REFUSAL_LOG_S, 0);
	d->refusal_report.data = d;
	d->accept_paused = 0;
	d->refusals = 0;
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
	ev_timer_stop(d->loop, &d->refusal_report);
	for (size_t i = 0; i < LINGER_MAX; i++)
		if (d->lingering[i].fd >= 0)
			linger_end(d, &d->lingering[i]);
	/* Only our own file: another daemon may have replaced a socket we thought stale. */
	if (d->own_socket && stat(d->cfg.socket_path, &st) == 0 && st.st_dev == d->socket_dev &&
	    st.st_ino == d->socket_ino)
		unlink(d->cfg.socket_path);
	close(d->listen_fd);
	d->listen_fd = -1;
	d->own_socket = false;
}
