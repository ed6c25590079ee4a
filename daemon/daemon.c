/* The daemon's lifecycle: start serving, run the loop, stop cleanly. */
#include <sched.h>
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
#include "sseconn.h"
#include "listener.h"
#include "log.h"
#include "metrics_http.h"
#include "reload.h"
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

/*
 * Runs when nothing else is pending: stops polling once the window since the
 * last I/O closed and no fast server's reply is due within its own window.
 * While a reply is due, each turn yields the CPU first: the server it waits
 * for, or anything else runnable here, runs at once instead of at the end of
 * our time slice (a no-op when nothing else is runnable).
 */
static void on_busy_poll(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct daemon *d = w->data;
	ev_tstamp now = ev_time();
	(void)revents;

	if (now >= d->busy_until && (d->spin_due == 0 || now >= d->spin_until))
		ev_idle_stop(loop, w);
	else if (d->spin_due > 0)
		sched_yield();
}

static void notify_stopping(struct daemon *d)
{
	if (!d->stopping_notified) {
		d->stopping_notified = true;
		sdnotify_stopping();
	}
}

/* While draining: the loop is left once no client has a request in flight or a reply unwritten. */
static void on_drain_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)revents;

	if (session_all_quiet(d)) {
		log_info("drained: no request left in flight");
		ev_break(loop, EVBREAK_ALL);
	}
}

static void on_drain_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	(void)revents;

	log_warn("drain: %llu ms (MCPPOOL_SHUTDOWN_TIMEOUT) passed: what is still in flight "
		 "gets SHUTTING_DOWN", (unsigned long long)d->cfg.shutdown_timeout_ms);
	ev_break(loop, EVBREAK_ALL);
}

void daemon_drain(struct daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = true;
	d->draining = true;
	listener_stop(d);
	ev_idle_stop(d->loop, &d->busy_poll);
	notify_stopping(d);
	upstream_end_listens(d, ERR_SHUTTING_DOWN, "mcppoold is shutting down");
	log_info("%s: draining, then stopping: no new connections (the socket is removed), new requests get "
		 "SHUTTING_DOWN, requests in flight have up to %llu ms (MCPPOOL_SHUTDOWN_TIMEOUT); "
		 "a second SIGTERM or SIGINT, or SIGQUIT, stops at once",
		 why, (unsigned long long)d->cfg.shutdown_timeout_ms);
	ev_timer_set(&d->drain_deadline, (double)d->cfg.shutdown_timeout_ms / 1000.0, 0.);
	ev_timer_start(d->loop, &d->drain_deadline);
	ev_timer_start(d->loop, &d->drain_poll);
}

void daemon_stop_now(struct daemon *d, const char *why)
{
	log_info("%s: stopping at once: requests in flight get SHUTTING_DOWN", why);
	d->stopping = true;
	ev_break(d->loop, EVBREAK_ALL);
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
	reload_init(d);
	session_init(d);
	if (upstream_init(d) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ev_idle_init(&d->busy_poll, on_busy_poll);
	d->busy_poll.data = d;
	ev_timer_init(&d->drain_deadline, on_drain_deadline, 0., 0.);
	d->drain_deadline.data = d;
	ev_timer_init(&d->drain_poll, on_drain_poll, 0., 0.01);
	d->drain_poll.data = d;
	/*
	 * Signals are ours before the socket accepts: whoever sees it accept may
	 * send SIGTERM at once, and must get a clean stop, not the default death.
	 */
	if (signals_start(d) < 0) {
		snprintf(err, errlen, "out of memory");
		upstream_shutdown(d);
		return -1;
	}
	if (listener_start(d, err, errlen) < 0 || metrics_http_start(d, err, errlen) < 0) {
		listener_stop(d);
		signals_stop(d);
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

	/*
	 * From here on a signal only logs (signals.c): the watchers stay until the
	 * last child is reaped, so no catchable signal ends us without cleanup.
	 */
	d->finishing = true;
	d->stopping = true;
	ev_timer_stop(d->loop, &d->drain_deadline);
	ev_timer_stop(d->loop, &d->drain_poll);
	notify_stopping(d);
	metrics_http_stop(d);
	ev_idle_stop(d->loop, &d->busy_poll);
	listener_stop(d);
	upstream_shutdown(d);
	session_kill_all(d, "mcppoold is shutting down");
	daemon_reap(d);
	stdio_shutdown_all(d);
	sse_shutdown_all(d);
	http_shutdown_all(d);
	daemon_reap(d);
	reload_shutdown(d);
	signals_stop(d);
	log_info("stopped");
}
