/* The daemon's lifecycle: start serving, run the loop, stop cleanly. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "upstream.h"
#include "daemon.h"
#include "httpconn.h"
#include "listener.h"
#include "log.h"
#include "metrics_http.h"
#include "sdnotify.h"
#include "session.h"
#include "signals.h"
#include "stdiochild.h"

uint64_t now_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t now_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void daemon_defer_free(struct daemon *d, struct deferred *x, void (*fn)(struct deferred *x))
{
	x->next = NULL;
	x->free = fn;
	*d->free_tail = x;
	d->free_tail = &x->next;
	if (!ev_is_active(&d->reaper))
		ev_prepare_start(d->loop, &d->reaper);
}

void daemon_reap(struct daemon *d)
{
	struct deferred *x;

	while ((x = d->free_head)) {
		d->free_head = x->next;
		if (!d->free_head)
			d->free_tail = &d->free_head;
		x->free(x);
	}
	ev_prepare_stop(d->loop, &d->reaper);
}

static void on_reap(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	daemon_reap(w->data);
}

void daemon_frees_init(struct daemon *d)
{
	d->free_head = NULL;
	d->free_tail = &d->free_head;
	ev_prepare_init(&d->reaper, on_reap);
	d->reaper.data = d;
}

/* Runs when nothing else is pending: stops polling once the window since the last I/O closed. */
static void on_busy_poll(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct daemon *d = w->data;
	(void)revents;

	if (ev_time() >= d->busy_until)
		ev_idle_stop(loop, w);
}

int daemon_start(struct daemon *d, char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -1;
	}
	/* A vanished client must be an EPIPE on its socket, not our death. */
	signal(SIGPIPE, SIG_IGN);
	d->loop = ev_default_loop(EVFLAG_AUTO);
	if (!d->loop) {
		snprintf(err, errlen, "libev could not create its default loop");
		return -1;
	}
	/*
	 * Servers' orphans (a grandchild that escaped the group signals) come back
	 * to us, and libev's SIGCHLD handler reaps every child: no zombies even
	 * under an init that does not reap.
	 */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	d->uid = getuid();
	d->listen_fd = -1;
	d->start_time = (double)now_wall_ms() / 1000.0;
	randombytes_buf(d->auth_key, sizeof(d->auth_key));
	auth_hash(&(struct auth){ 0 }, d->auth_key, d->empty_auth_hash);
	daemon_frees_init(d);
	session_init(d);
	if (upstream_init(d) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (listener_start(d, err, errlen) < 0 || metrics_http_start(d, err, errlen) < 0) {
		listener_stop(d);
		upstream_shutdown(d);
		return -1;
	}
	ev_idle_init(&d->busy_poll, on_busy_poll);
	d->busy_poll.data = d;
	if (signals_start(d) < 0) {
		snprintf(err, errlen, "out of memory");
		listener_stop(d);
		upstream_shutdown(d);
		return -1;
	}
	return 0;
}

void daemon_run(struct daemon *d)
{
	log_info("listening on %s (MAX_CONNECTIONS_PER_USER=%u MAX_TOTAL_CONNECTIONS=%u "
		 "CONNECTION_TIMEOUT=%llu CLEANUP_INTERVAL=%llu, %zu server%s in the catalog)",
		 d->cfg.socket_path, d->cfg.max_per_user, d->cfg.max_total,
		 (unsigned long long)d->cfg.connection_timeout_ms,
		 (unsigned long long)d->cfg.cleanup_interval_ms, d->catalog.n,
		 d->catalog.n == 1 ? "" : "s");
	sdnotify_ready(d);
	ev_run(d->loop, 0);

	sdnotify_stopping();
	d->stopping = true;
	metrics_http_stop(d);
	ev_idle_stop(d->loop, &d->busy_poll);
	listener_stop(d);
	upstream_shutdown(d);
	session_kill_all(d, "mcppoold is shutting down");
	daemon_reap(d);
	stdio_shutdown_all(d);
	http_shutdown_all(d);
	daemon_reap(d);
	signals_stop(d);
	log_info("stopped");
}
