/* Throughput load: many app connections, several requests in flight each, for a fixed time. */
#include "load.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mcppool.h>

#include "direct.h"
#include "rawecho.h"

#define DRAIN_NS (5ull * 1000000000u)
#define MAX_FRAME 256
#define MAX_INFLIGHT 64 /* requests in flight per connection */
#define DIRECT_MESSAGE "hello" /* the echo argument, as the LOAD_DAEMON calls send it */

enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };

struct worker;

struct run {
	const struct load_spec *spec;
	unsigned nthreads;    /* spec->threads, at most one per connection */
	struct worker *workers;
	atomic_uint opened;   /* workers whose connections are all up */
	atomic_int phase;
	msgpack_sbuffer args; /* the echo arguments, packed once */
	char frame[MAX_FRAME];
};

/* One app connection and the requests it keeps in flight. */
struct aconn {
	struct worker *w;
	int fd;
	uint32_t watched;      /* the epoll events registered for fd */
	unsigned next_user;    /* LOAD_DAEMON: whom the next call is for */
	mcppool_conn *mc;      /* LOAD_DAEMON */
	struct slot *slots;    /* LOAD_DAEMON: one per request kept in flight */
	unsigned outstanding;  /* LOAD_ECHO: frames in flight */
	uint64_t *sent;        /* LOAD_ECHO: send times, a ring in reply order;
				  LOAD_DIRECT: send times, by slot (request id % inflight) */
	unsigned head;         /* LOAD_ECHO: index in sent of the oldest request */
	size_t partial;        /* LOAD_ECHO: bytes received of the next frame */
	struct direct *d;      /* LOAD_DIRECT: the connection's own server */
	uint64_t *ids;         /* LOAD_DIRECT: the id in flight in each slot; 0 when none */
};

/* A request slot of a LOAD_DAEMON connection: the callback's argument. */
struct slot {
	struct aconn *ac;
	uint64_t sent_ns;
};

struct worker {
	struct run *run;
	pthread_t tid;
	int ep;
	unsigned first, nconns; /* connections first, first + nthreads, ... */
	struct aconn *conns;
	unsigned outstanding;   /* requests in flight on all its connections */
	uint64_t calls, errors;
	struct samples lat;
};

static int phase_of(const struct worker *w)
{
	return atomic_load_explicit(&w->run->phase, memory_order_relaxed);
}

/* Records one completed request if it completed inside the measurement window. */
static void complete(struct worker *w, uint64_t sent_ns, int ok)
{
	w->outstanding--;
	if (phase_of(w) != PHASE_MEASURE)
		return;
	if (!ok) {
		w->errors++;
		return;
	}
	w->calls++;
	samples_add(&w->lat, now_ns() - sent_ns);
}

static void watch(struct aconn *ac, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = ac };
	int op = ac->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (events == ac->watched)
		return;
	if (epoll_ctl(ac->w->ep, op, ac->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	ac->watched = events;
}

/* ---- through the daemon ---------------------------------------------------------- */

static void daemon_submit(struct slot *s);

static void on_reply(mcppool_conn *conn, uint64_t id, const mcppool_result *result,
		     const mcppool_error *err, void *arg)
{
	struct slot *s = arg;

	(void)conn;
	(void)id;
	(void)result;
	complete(s->ac->w, s->sent_ns, err == NULL);
	if (phase_of(s->ac->w) != PHASE_STOP)
		daemon_submit(s);
}

static void daemon_submit(struct slot *s)
{
	struct aconn *ac = s->ac;
	const struct load_spec *spec = ac->w->run->spec;
	const msgpack_sbuffer *args = &ac->w->run->args;
	char user[32];

	snprintf(user, sizeof(user), LOAD_USER_PREFIX "%u", ac->next_user++ % spec->users);
	s->sent_ns = now_ns();
	if (!mcppool_submit_call_msgpack(ac->mc, user, spec->mcp, "echo", args->data, args->size,
					 NULL, 0, on_reply, s))
		die("submit: %s", mcppool_conn_error(ac->mc)->message);
	ac->w->outstanding++;
}

static void daemon_rewatch(struct aconn *ac)
{
	int want = mcppool_events(ac->mc);

	watch(ac, (want & MCPPOOL_READ ? EPOLLIN : 0) | (want & MCPPOOL_WRITE ? EPOLLOUT : 0));
}

static void daemon_open(struct aconn *ac, unsigned index)
{
	const struct load_spec *spec = ac->w->run->spec;
	mcppool_error err;

	ac->mc = mcppool_connect(spec->socket, &err);
	if (!ac->mc)
		die("connect %s: %s", spec->socket, err.message);
	ac->fd = mcppool_fd(ac->mc);
	ac->next_user = index;
	ac->slots = xcalloc(spec->inflight, sizeof(*ac->slots));
	for (unsigned i = 0; i < spec->inflight; i++) {
		ac->slots[i].ac = ac;
		daemon_submit(&ac->slots[i]);
	}
	daemon_rewatch(ac);
}

static void daemon_event(struct aconn *ac, uint32_t events)
{
	int ready = (events & (EPOLLIN | EPOLLHUP | EPOLLERR) ? MCPPOOL_READ : 0) |
		    (events & EPOLLOUT ? MCPPOOL_WRITE : 0);

	if (mcppool_process(ac->mc, ready) < 0)
		die("the daemon connection broke: %s", mcppool_conn_error(ac->mc)->message);
	daemon_rewatch(ac);
}

/* Closing cancels what is still in flight; the callbacks then run, in STOP, and resubmit nothing. */
static void daemon_close(struct aconn *ac)
{
	mcppool_close(ac->mc);
	free(ac->slots);
}

/* ---- through the echo server ------------------------------------------------------ */

/* Sends n frames at once, as libmcppool sends what was queued in one write. */
static void echo_send(struct aconn *ac, unsigned n)
{
	const struct run *run = ac->w->run;
	size_t len = run->spec->frame_len;
	char buf[MAX_FRAME * MAX_INFLIGHT];
	uint64_t t = now_ns();

	if (n * len > sizeof(buf))
		die("too many echo frames in flight");
	for (unsigned i = 0; i < n; i++) {
		memcpy(buf + i * len, run->frame, len);
		ac->sent[(ac->head + ac->outstanding + i) % run->spec->inflight] = t;
	}
	if (send(ac->fd, buf, n * len, MSG_NOSIGNAL) != (ssize_t)(n * len))
		die("echo send: %s", strerror(errno));
	ac->outstanding += n;
	ac->w->outstanding += n;
}

static void echo_open(struct aconn *ac)
{
	const struct load_spec *spec = ac->w->run->spec;

	ac->fd = rawecho_connect(spec->socket);
	ac->sent = xcalloc(spec->inflight, sizeof(*ac->sent));
	echo_send(ac, spec->inflight);
	watch(ac, EPOLLIN);
}

static void echo_event(struct aconn *ac)
{
	const struct load_spec *spec = ac->w->run->spec;
	char buf[MAX_FRAME * MAX_INFLIGHT];
	ssize_t n = recv(ac->fd, buf, sizeof(buf), MSG_DONTWAIT);
	unsigned done = 0;

	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		die("echo recv: %s", n ? strerror(errno) : "closed");
	}
	for (ac->partial += (size_t)n; ac->partial >= spec->frame_len; ac->partial -= spec->frame_len) {
		uint64_t sent = ac->sent[ac->head];

		ac->head = (ac->head + 1) % spec->inflight;
		ac->outstanding--;
		complete(ac->w, sent, 1);
		done++;
	}
	if (done && phase_of(ac->w) != PHASE_STOP)
		echo_send(ac, done);
}

static void echo_close(struct aconn *ac)
{
	close(ac->fd);
	free(ac->sent);
}

/* ---- to a server of its own, no pooler --------------------------------------------- */

/* Sends the requests ids[0 .. n - 1] in one write; request id occupies slot id % inflight. */
static void direct_send(struct aconn *ac, const uint64_t *ids, unsigned n)
{
	unsigned inflight = ac->w->run->spec->inflight;
	uint64_t t = now_ns();

	for (unsigned i = 0; i < n; i++) {
		ac->ids[ids[i] % inflight] = ids[i];
		ac->sent[ids[i] % inflight] = t;
	}
	direct_send_echo(ac->d, ids, n, DIRECT_MESSAGE);
	ac->w->outstanding += n;
}

/* Spawns and initializes the server, then fills every slot; the ids start above initialize's 1. */
static void direct_open(struct aconn *ac)
{
	const struct load_spec *spec = ac->w->run->spec;
	uint64_t ids[MAX_INFLIGHT];

	ac->d = xcalloc(1, sizeof(*ac->d));
	direct_start(ac->d, spec->command);
	direct_nonblock(ac->d);
	ac->fd = ac->d->from_child;
	ac->sent = xcalloc(spec->inflight, sizeof(*ac->sent));
	ac->ids = xcalloc(spec->inflight, sizeof(*ac->ids));
	for (unsigned s = 0; s < spec->inflight; s++)
		ids[s] = spec->inflight + s;
	direct_send(ac, ids, spec->inflight);
	watch(ac, EPOLLIN);
}

/* Completes the replies read; each slot answered gets its next id, all sent in one write. */
static void direct_event(struct aconn *ac)
{
	unsigned inflight = ac->w->run->spec->inflight;
	uint64_t next[MAX_INFLIGHT], id;
	unsigned done = 0;
	int ok;

	direct_read(ac->d);
	while (direct_next_reply(ac->d, &id, &ok)) {
		unsigned slot = (unsigned)(id % inflight);

		if (ac->ids[slot] != id || !id)
			die("the server answered request %llu, which is not in flight",
			    (unsigned long long)id);
		ac->ids[slot] = 0;
		complete(ac->w, ac->sent[slot], ok);
		next[done++] = id + inflight;
	}
	if (done && phase_of(ac->w) != PHASE_STOP)
		direct_send(ac, next, done);
}

/* Stopping waits for each server to exit: hang all of them up first, then stop them. */
static void direct_close_all(struct aconn *conns, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		direct_hangup(conns[i].d);
	for (unsigned i = 0; i < n; i++) {
		direct_stop(conns[i].d);
		free(conns[i].d);
		free(conns[i].sent);
		free(conns[i].ids);
	}
}

/* The CPU time of every server of the run, summed; only while the workers have not stopped them. */
static uint64_t direct_servers_cpu_ns(const struct run *run)
{
	uint64_t sum = 0;

	for (unsigned t = 0; t < run->nthreads; t++)
		for (unsigned i = 0; i < run->workers[t].nconns; i++)
			sum += direct_cpu_ns(run->workers[t].conns[i].d);
	return sum;
}

/* ---- workers ---------------------------------------------------------------------- */

static void worker_open(struct worker *w)
{
	const struct load_spec *spec = w->run->spec;

	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0)
		die("epoll_create1: %s", strerror(errno));
	w->conns = xcalloc(w->nconns, sizeof(*w->conns));
	for (unsigned i = 0; i < w->nconns; i++) {
		struct aconn *ac = &w->conns[i];

		ac->w = w;
		switch (spec->target) {
		case LOAD_DAEMON: daemon_open(ac, w->first + i * w->run->nthreads); break;
		case LOAD_ECHO: echo_open(ac); break;
		case LOAD_DIRECT: direct_open(ac); break;
		}
	}
	atomic_fetch_add(&w->run->opened, 1);
}

static void worker_close(struct worker *w)
{
	enum load_target target = w->run->spec->target;

	if (target == LOAD_DIRECT)
		direct_close_all(w->conns, w->nconns);
	for (unsigned i = 0; i < w->nconns; i++) {
		if (target == LOAD_DAEMON)
			daemon_close(&w->conns[i]);
		else if (target == LOAD_ECHO)
			echo_close(&w->conns[i]);
	}
	free(w->conns);
	close(w->ep);
}

static void worker_event(struct worker *w, struct epoll_event *ev)
{
	switch (w->run->spec->target) {
	case LOAD_DAEMON: daemon_event(ev->data.ptr, ev->events); break;
	case LOAD_ECHO: echo_event(ev->data.ptr); break;
	case LOAD_DIRECT: direct_event(ev->data.ptr); break;
	}
}

/* Serves events until the window has closed and everything in flight came back (or 5 s passed). */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[64];
	uint64_t stop_ns = 0;

	worker_open(w);
	for (;;) {
		int n;

		if (phase_of(w) == PHASE_STOP) {
			if (!stop_ns)
				stop_ns = now_ns();
			if (!w->outstanding || now_ns() - stop_ns > DRAIN_NS)
				break;
		}
		n = epoll_wait(w->ep, evs, 64, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			worker_event(w, &evs[i]);
	}
	worker_close(w);
	return NULL;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void run_init(struct run *run, const struct load_spec *spec)
{
	msgpack_packer pk;

	if (spec->frame_len < 5 || spec->frame_len > MAX_FRAME || spec->inflight > MAX_INFLIGHT ||
	    !spec->inflight || !spec->conns || !spec->threads || !spec->users ||
	    (spec->target == LOAD_DIRECT && !spec->command))
		die("load: bad parameters");
	run->spec = spec;
	run->nthreads = spec->threads < spec->conns ? spec->threads : spec->conns;
	atomic_init(&run->opened, 0);
	atomic_init(&run->phase, PHASE_WARMUP);
	rawecho_frame(run->frame, spec->frame_len);
	msgpack_sbuffer_init(&run->args);
	msgpack_packer_init(&pk, &run->args, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "message", 7);
	msgpack_pack_str_with_body(&pk, "hello", 5);
}

/* CPU times now; under LOAD_DIRECT the children are the run's servers. */
static void run_cpu_mark(const struct run *run, struct cpu_mark *m)
{
	cpu_mark_take(m, run->spec->server_pid);
	if (run->spec->target == LOAD_DIRECT)
		m->children = direct_servers_cpu_ns(run);
}

/*
 * Waits until every connection is up, so that no connecting or spawning falls
 * in the window; opens it after the warm-up, closes it after spec->seconds,
 * and measures it. The last CPU mark comes before the stop: once stopped, the
 * workers may reap their servers.
 */
static void run_window(struct run *run, struct load_result *res)
{
	const struct load_spec *spec = run->spec;
	struct cpu_mark a, b;
	uint64_t t0;

	while (atomic_load(&run->opened) < run->nthreads)
		sleep_s(0.001);
	sleep_s(spec->warmup_s);
	run_cpu_mark(run, &a);
	t0 = now_ns();
	atomic_store(&run->phase, PHASE_MEASURE);
	sleep_s(spec->seconds);
	run_cpu_mark(run, &b);
	atomic_store(&run->phase, PHASE_STOP);
	res->seconds = (double)(now_ns() - t0) / 1e9;
	load_result_cpu(res, &a, &b);
}

void load_run(const struct load_spec *spec, struct load_result *res)
{
	struct run run;
	unsigned nthreads;
	struct worker *w;

	run_init(&run, spec);
	nthreads = run.nthreads;
	w = xcalloc(nthreads, sizeof(*w));
	run.workers = w;
	memset(res, 0, sizeof(*res));
	samples_init(&res->lat);
	for (unsigned t = 0; t < nthreads; t++) {
		w[t].run = &run;
		w[t].first = t;
		w[t].nconns = spec->conns / nthreads + (t < spec->conns % nthreads);
		samples_init(&w[t].lat);
		if (pthread_create(&w[t].tid, NULL, worker_main, &w[t]))
			die("pthread_create failed");
	}
	run_window(&run, res);
	for (unsigned t = 0; t < nthreads; t++) {
		pthread_join(w[t].tid, NULL);
		res->calls += w[t].calls;
		res->errors += w[t].errors;
		samples_merge(&res->lat, &w[t].lat);
		samples_destroy(&w[t].lat);
	}
	msgpack_sbuffer_destroy(&run.args);
	free(w);
}

void load_result_cpu(struct load_result *res, const struct cpu_mark *a, const struct cpu_mark *b)
{
	res->cpu_ns = b->server - a->server;
	/* Children that exit take their time with them: never below zero. */
	res->children_cpu_ns = b->children > a->children ? b->children - a->children : 0;
	res->client_cpu_ns = b->self - a->self;
}

void load_result_destroy(struct load_result *res)
{
	samples_destroy(&res->lat);
}
