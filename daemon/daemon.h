/* The daemon's state: one struct, passed to every module that needs it. */
#ifndef MCPPOOL_DAEMON_H
#define MCPPOOL_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "catalog.h"
#include "config.h"
#include "list.h"
#include "listcache.h"
#include "metrics.h"

#define MCPPOOL_DAEMON_VERSION "0.1.0"
#define LINGER_MAX 8 /* refused clients lingering at once (descriptors from the 32 reserved) */

struct pool;
struct hmap;
struct signals;
struct metrics_http;
struct catalog_gen;
struct tasks;

/*
 * A deferred free. An object that a callback on the stack may still use when it
 * closes (a session, an upstream, a transport) is not freed there: it embeds one
 * of these and is queued with daemon_defer_free(). The queue is drained by one
 * ev_prepare watcher, which runs every loop iteration just before the loop
 * blocks, outside every other callback, however busy the loop is (an ev_idle
 * would never run while timers fire each iteration). The free function stops
 * every watcher of its object.
 */
struct deferred {
	struct deferred *next;
	void (*free)(struct deferred *x);
};

struct daemon {
	struct ev_loop *loop;
	struct config cfg;
	struct catalog catalog;
	struct pool *pool;
	unsigned char auth_key[32]; /* random per start: keys the auth hashes */
	unsigned char empty_auth_hash[32]; /* the hash of no auth, the common case: computed once */
	uid_t uid;                  /* ours: admin ops need this uid or root */
	double start_time;          /* wall clock, for uptime */

	/* listener.c */
	int listen_fd;
	ev_io listen_w;
	ev_timer accept_retry; /* re-arms accept after EMFILE */
	ev_tstamp accept_paused; /* when accept ran out of descriptors; 0 while it works */
	ev_timer refusal_report; /* while active, MCPPOOL_MAX_CLIENTS refusals are counted */
	unsigned refusals;       /* ... in refusals, and logged when it fires */
	struct lingering {       /* refused clients kept until they read the refusal: fd -1 when free */
		ev_io io;
		ev_timer timer;
		int fd;
		struct daemon *d;
	} lingering[LINGER_MAX];
	bool own_socket;       /* we created the socket file and remove it at exit */
	dev_t socket_dev;      /* ... this file, not one that replaced it */
	ino_t socket_ino;

	/* the deferred frees: see struct deferred */
	struct deferred *free_head, **free_tail;
	ev_prepare reaper;

	/* session.c */
	struct list_node sessions;     /* struct session, by node; closed ones leave it */
	unsigned nsessions;
	size_t output_queued;             /* bytes of replies waiting for all clients (MCPPOOL_MAX_OUTPUT_TOTAL) */
	size_t input_reserved;            /* of MCPPOOL_MAX_INPUT, held by large frames being read */
	struct list_node input_waiters;   /* sessions paused until a large frame fits, oldest first */

	/* upstream.c */
	ev_timer sweep_timer;
	struct list_node ping_queue; /* upstreams waiting for a health ping slot, oldest first */
	unsigned pings_in_flight;    /* health pings sent and not yet ended: at most PING_IN_FLIGHT_MAX */
	unsigned pings_queued;       /* the length of ping_queue */
	struct hmap *start_failures; /* key -> backoff record */
	struct hmap *input_holds;    /* inputreq.c: requestState -> hold; NULL until the first */
	struct tasks *tasks;         /* tasks.c: task id -> the connection that created it; NULL until the first */
	struct hmap *era_memos;      /* eramemo.c: an HTTP server's era, per entry and URL; NULL until the first */
	enum close_reason pool_closing; /* why the pool's on_close is called: set before each pool call that may close */
	struct listcache cache;      /* cacheable list results (MCPPOOL_CACHE_BYTES): see upstream.h */

	/*
	 * While busy_poll is active the loop polls instead of sleeping: until
	 * busy_until after any I/O (MCPPOOL_BUSY_POLL_US), and while spin_due
	 * requests sent to fast servers wait for their replies, until spin_until
	 * (MCPPOOL_REPLY_SPIN_US after the last was sent).
	 */
	ev_idle busy_poll;
	ev_tstamp busy_until;
	unsigned spin_due;
	ev_tstamp spin_until;

	struct signals *signals; /* signals.c */
	bool stopping;  /* new requests get SHUTTING_DOWN: set when draining starts, or at once */
	bool draining;  /* the first SIGTERM/SIGINT: in-flight requests finish, then the loop is left */
	bool finishing; /* the loop was left: children are being closed; signals only log */
	bool stopping_notified; /* sdnotify_stopping() was sent */
	ev_timer drain_deadline; /* MCPPOOL_SHUTDOWN_TIMEOUT after draining started */
	ev_timer drain_poll;     /* while draining: leaves the loop once every client is quiet */
	struct metrics metrics;
	struct metrics_http *metrics_http; /* MCPPOOL_METRICS_LISTEN; NULL when off */

	/* reload.c: what a reload reads again, and the catalogs it replaced */
	struct config_cli cli;       /* the command line's settings (they point into argv) */
	uint64_t catalog_gen;        /* generation of d->catalog: stamped on new pool entries */
	struct catalog_gen *retired_catalogs; /* kept while pool entries of their generation live */
	ev_timer retired_gc;         /* while some are kept: frees those no longer used */
};

/*
 * Starts serving: the pool, the listening socket, the signal watchers. The
 * configuration and catalog must be loaded. Returns 0, or -1 with the reason.
 */
int daemon_start(struct daemon *d, char *err, size_t errlen);

/*
 * Runs the loop until the daemon stops (daemon_drain, daemon_stop_now), then
 * stops cleanly: what is still in flight is answered SHUTTING_DOWN, every
 * child closed and reaped, the socket removed.
 */
void daemon_run(struct daemon *d);

/*
 * The first SIGTERM/SIGINT: the listening socket is closed and its file
 * removed at once (a new daemon may start on the path), new requests get
 * SHUTTING_DOWN, requests in flight finish and their replies are written; the
 * loop is left when every client is quiet or after MCPPOOL_SHUTDOWN_TIMEOUT,
 * whichever comes first. why names the cause, for the log.
 */
void daemon_drain(struct daemon *d, const char *why);

/* Leaves the loop now: daemon_run() answers what is in flight with SHUTTING_DOWN. */
void daemon_stop_now(struct daemon *d, const char *why);

/*
 * Notes I/O just handled: with MCPPOOL_BUSY_POLL_US set, the loop keeps polling
 * (never sleeps) until that long after the last such note, so that the next
 * message, the server's answer or the app's next request, is picked up without
 * waiting for the CPU to be woken. A no-op when the knob is 0 (the default).
 */
static inline void daemon_note_io(struct daemon *d)
{
	if (d->cfg.busy_poll_us && !d->stopping) {
		d->busy_until = ev_now(d->loop) + d->cfg.busy_poll_us / 1e6;
		if (!ev_is_active(&d->busy_poll))
			ev_idle_start(d->loop, &d->busy_poll);
	}
}

/*
 * A request to a server that answers fast (replyspin.h) was written at now: the
 * loop polls for its reply, for up to MCPPOOL_REPLY_SPIN_US, instead of going to
 * sleep and being woken for it. Each call is paired with one daemon_spin_done().
 */
static inline void daemon_spin_for_reply(struct daemon *d, ev_tstamp now)
{
	d->spin_due++;
	d->spin_until = now + d->cfg.reply_spin_us / 1e6;
	if (!ev_is_active(&d->busy_poll))
		ev_idle_start(d->loop, &d->busy_poll);
}

/* The reply is in (or will never come): with no other reply due the loop may sleep again at once. */
static inline void daemon_spin_done(struct daemon *d)
{
	if (--d->spin_due == 0 && ev_now(d->loop) >= d->busy_until)
		ev_idle_stop(d->loop, &d->busy_poll);
}

/*
 * Queues x to be freed by fn at the next safe point (see struct deferred). x
 * must not be queued twice; fn may queue more objects, which are freed in the
 * same drain.
 */
void daemon_defer_free(struct daemon *d, struct deferred *x, void (*fn)(struct deferred *x));

/* Sets up the deferred-free queue on d->loop (daemon_start does; so do tests that need one). */
void daemon_frees_init(struct daemon *d);

/* Frees everything queued, now. The loop does it each iteration; shutdown calls it too. */
void daemon_reap(struct daemon *d);

/* Monotonic and wall-clock milliseconds. */
uint64_t now_mono_ms(void);
uint64_t now_wall_ms(void);

#endif
