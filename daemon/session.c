/* One app connection on the daemon's socket: frames in, replies out. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "upstream.h"
#include "daemon.h"
#include "errcode.h"
#include "frame.h"
#include "jsontext.h"
#include "log.h"
#include "mpjson.h"
#include "ops.h"
#include "session.h"
#include "wire.h"

#define READ_BUDGET (256u * 1024u) /* bytes read per callback: fairness between clients */
#define ZONE_CHUNK 4096
/* A frame whose tree could outgrow this many bytes gets a fresh zone afterwards. */
#define ZONE_KEEP_MAX (64 * 1024)

struct session {
	struct daemon *d;
	struct list_node node; /* on d->sessions until closed */
	struct deferred free_node;
	unsigned long serial;  /* for logs */
	int fd;
	ev_io rw, ww;
	ev_prepare flush_w; /* writes this iteration's replies in one write(2) */
	struct frame_reader in;
	msgpack_zone zone;
	msgpack_sbuffer out;
	msgpack_packer pk;
	size_t out_pos; /* bytes of out already written */
	size_t out_counted; /* out.size - out_pos as last added to d->output_queued */
	ev_timer stall_w;   /* while replies wait on a full socket: MCPPOOL_OUTPUT_STALL_TIMEOUT */
	ev_timer hello_w;   /* until hello: MCPPOOL_HELLO_TIMEOUT */
	uint64_t reply_id; /* of the reply being packed, for its error if it is too large */
	bool hello_done;
	unsigned version; /* of the wire protocol, settled by hello: 1 or 2 (events) */
	bool dead;
	bool close_after_flush;
	uid_t peer_uid;
	pid_t peer_pid;
	bool admin_peer;  /* our uid, root, or MCPPOOL_ADMIN_GROUP at connect */
	bool admin_token; /* sent the admin token (the admin op) */
	struct list_node requests;
	unsigned nrequests; /* on requests: bounded by MCPPOOL_MAX_INFLIGHT */
	size_t input_reserved;        /* of d->input_reserved: the large frame being read */
	struct list_node input_wait;  /* on d->input_waiters while not read for lack of it */
	ev_timer input_deadline;      /* while input_reserved: the frame must be whole by then */
};

static unsigned long next_serial;

static void session_flush(struct session *s);
static void session_schedule_flush(struct session *s);

/* Brings d->output_queued up to date with what s has waiting. */
static void output_account(struct session *s)
{
	size_t queued = s->dead ? 0 : s->out.size - s->out_pos;

	s->d->output_queued = s->d->output_queued - s->out_counted + queued;
	s->out_counted = queued;
}

/* Closes a client that does not take its replies; counted. */
static void session_kill_slow(struct session *s, const char *reason)
{
	log_warn("client %lu: %s: closing the connection (%zu bytes of replies waiting)", s->serial,
		 reason, s->out.size - s->out_pos);
	s->d->metrics.slow_clients_closed++;
	session_kill(s, reason);
}

/*
 * Replies waiting for all clients together are bounded by
 * MCPPOOL_MAX_OUTPUT_TOTAL: past it, the client with the most waiting is
 * closed, until the total fits. Clients that read keep little waiting, so the
 * one closed is the one that reads least.
 */
static void output_shed(struct daemon *d)
{
	while (d->output_queued > d->cfg.max_output_total) {
		struct session *worst = NULL;
		struct list_node *pos;

		list_for_each(pos, &d->sessions) {
			struct session *s = list_entry(pos, struct session, node);
			if (!worst || s->out_counted > worst->out_counted)
				worst = s;
		}
		if (!worst || !worst->out_counted)
			return;
		session_kill_slow(worst, "replies to all clients exceed MCPPOOL_MAX_OUTPUT_TOTAL");
	}
}

/* ---- output ---------------------------------------------------------------- */

msgpack_packer *session_reply_begin(struct session *s, uint64_t id, size_t *start)
{
	*start = frame_begin(&s->out);
	s->reply_id = id;
	wire_pack_reply_ok_begin(&s->pk, id);
	return &s->pk;
}

void session_reply_end(struct session *s, size_t start)
{
	if (s->dead) {
		s->out.size = start; /* a closed session's reply goes nowhere */
		return;
	}
	if (frame_end(&s->out, start, s->d->cfg.max_frame) < 0) {
		session_reply_error(s, s->reply_id, ERR_INTERNAL,
				    "the reply exceeds the maximum frame size of %zu bytes (MCPPOOL_MAX_FRAME)",
				    s->d->cfg.max_frame);
		return;
	}
	session_schedule_flush(s);
}

msgpack_packer *session_event_begin(struct session *s, uint64_t id, const char *event,
				    size_t *start)
{
	*start = frame_begin(&s->out);
	wire_pack_event_begin(&s->pk, id, event);
	return &s->pk;
}

void session_event_end(struct session *s, size_t start)
{
	/* An event that does not fit a frame is dropped: the request's reply still comes. */
	if (s->dead || frame_end(&s->out, start, s->d->cfg.max_frame) < 0) {
		s->out.size = start;
		return;
	}
	session_schedule_flush(s);
}

unsigned session_version(const struct session *s)
{
	return s->version;
}

void session_reply_json_member(struct session *s, uint64_t id, const char *line,
			       const struct jsonrpc_msg *m, const struct jsonrpc_span *member)
{
	char err[256];
	size_t start;

	if (s->dead)
		return;
	/* The reply array holds the result: one level of the limit. */
	if (jsonrpc_pack(line, m, member, session_reply_begin(s, id, &start), WIRE_MAX_DEPTH - 1,
			 err, sizeof(err)) < 0) {
		if (start != FRAME_BEGIN_FAILED)
			s->out.size = start; /* drop the half-packed frame */
		session_reply_error(s, id, ERR_UPSTREAM_ERROR,
				    "the server's result cannot be relayed: %s", err);
		return;
	}
	if (frame_end(&s->out, start, s->d->cfg.max_frame) < 0) {
		session_reply_error(s, id, ERR_INTERNAL,
				    "the result exceeds the maximum frame size of %zu bytes",
				    s->d->cfg.max_frame);
		return;
	}
	session_schedule_flush(s);
}

static void reply_error_obj(struct session *s, uint64_t id, int code, const char *message,
			    const json_t *data)
{
	msgpack_object mdata;
	msgpack_sbuffer tmp;
	msgpack_packer tpk;
	msgpack_zone z;
	bool have_data = false;
	char err[128];
	size_t start;

	s->d->metrics.last_error_code = code; /* a request refused before its record (upstream_submit) */
	if (s->dead)
		return;
	s->d->metrics.replies_by_code[code < ERR__COUNT ? code : ERR_INTERNAL]++;
	msgpack_sbuffer_init(&tmp);
	msgpack_zone_init(&z, 1024);
	/* The error map and the reply array hold the data: two levels of the limit. */
	if (data && mpjson_check(data, WIRE_MAX_DEPTH - 2, err, sizeof(err)) == 0) {
		msgpack_packer_init(&tpk, &tmp, msgpack_sbuffer_write);
		mpjson_pack(&tpk, data);
		have_data = wire_unpack(tmp.data, tmp.size, &z, &mdata, err, sizeof(err)) == 0;
	}
	start = frame_begin(&s->out);
	wire_pack_reply_error(&s->pk, id, code, message, have_data ? &mdata : NULL);
	if (frame_end(&s->out, start, s->d->cfg.max_frame) < 0) {
		start = frame_begin(&s->out);
		wire_pack_reply_error(&s->pk, id, code, "error data exceeds the maximum frame size",
				      NULL);
		frame_end(&s->out, start, s->d->cfg.max_frame);
	}
	msgpack_zone_destroy(&z);
	msgpack_sbuffer_destroy(&tmp);
	session_schedule_flush(s);
}

void session_reply_error(struct session *s, uint64_t id, int code, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	reply_error_obj(s, id, code, message, NULL);
}

void session_reply_error_data(struct session *s, uint64_t id, int code, const char *message,
			      const json_t *data)
{
	reply_error_obj(s, id, code, message, data);
}

static void stop_writing(struct session *s)
{
	ev_io_stop(s->d->loop, &s->ww);
	ev_timer_stop(s->d->loop, &s->stall_w);
}

/* Writes what is queued without blocking; watches for writability if some is left. */
static void session_flush(struct session *s)
{
	bool progress = false;

	while (!s->dead && s->out_pos < s->out.size) {
		ssize_t n = write(s->fd, s->out.data + s->out_pos, s->out.size - s->out_pos);
		if (n > 0) {
			s->out_pos += (size_t)n;
			progress = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			output_account(s);
			if (s->out.size - s->out_pos > s->d->cfg.max_output) {
				session_kill_slow(s, "client does not read its replies (MCPPOOL_MAX_OUTPUT)");
				return;
			}
			/* The client must take some within the stall timeout, counted from the last it took. */
			if (progress || !ev_is_active(&s->stall_w))
				ev_timer_again(s->d->loop, &s->stall_w);
			ev_io_start(s->d->loop, &s->ww);
			return;
		}
		session_kill(s, n < 0 ? strerror(errno) : "short write");
		return;
	}
	if (!s->dead && s->out_pos == s->out.size) {
		s->out.size = 0;
		s->out_pos = 0;
		output_account(s);
		stop_writing(s);
		if (s->close_after_flush)
			session_kill(s, "closing after the last reply");
	}
}

static void on_stall(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = w->data;
	(void)loop;
	(void)revents;

	session_kill_slow(s, "client took none of its replies within MCPPOOL_OUTPUT_STALL_TIMEOUT");
}

/* A client that has not said hello in time is told why, then closed. */
static void on_hello_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = w->data;
	(void)revents;

	log_info("client %lu: no hello within %llu ms: closing", s->serial,
		 (unsigned long long)s->d->cfg.hello_timeout_ms);
	s->d->metrics.hello_timeouts++;
	ev_io_stop(loop, &s->rw);
	s->close_after_flush = true;
	session_reply_error(s, 0, ERR_BAD_REQUEST,
			    "no hello within %llu ms of connecting (MCPPOOL_HELLO_TIMEOUT): closing",
			    (unsigned long long)s->d->cfg.hello_timeout_ms);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	session_flush(w->data);
}

static void on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)revents;
	ev_prepare_stop(loop, w);
	session_flush(w->data);
}

/*
 * Replies are written once per loop iteration, just before the loop blocks:
 * all that became ready together leaves in one write(2), none waits longer.
 */
static void session_schedule_flush(struct session *s)
{
	if (s->dead)
		return;
	output_account(s);
	if (s->out.size - s->out_pos > s->d->cfg.max_output) {
		session_kill_slow(s, "client does not read its replies (MCPPOOL_MAX_OUTPUT)");
		return;
	}
	if (s->d->output_queued > s->d->cfg.max_output_total) {
		output_shed(s->d);
		if (s->dead)
			return;
	}
	if (!ev_is_active(&s->ww))
		ev_prepare_start(s->d->loop, &s->flush_w);
}

/* ---- input ----------------------------------------------------------------- */

/*
 * hello settles the connection's protocol version: the smaller of the client's
 * and ours, so that a newer client learns what we speak and decides itself.
 */
static void handle_hello(struct session *s, uint64_t id, const msgpack_object *params)
{
	const msgpack_object *v = wire_map_get(params, "version");
	msgpack_packer *pk;
	size_t start;

	if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 < WIRE_VERSION_MIN) {
		session_reply_error(s, id, ERR_BAD_REQUEST,
				    "hello: version must be a positive integer (this daemon speaks 1 and 2)");
		return;
	}
	s->hello_done = true;
	ev_timer_stop(s->d->loop, &s->hello_w);
	s->version = v->via.u64 < WIRE_VERSION ? (unsigned)v->via.u64 : WIRE_VERSION;
	pk = session_reply_begin(s, id, &start);
	msgpack_pack_map(pk, 4);
	wire_pack_str(pk, "version");
	msgpack_pack_uint32(pk, s->version);
	wire_pack_str(pk, "versions");
	msgpack_pack_array(pk, WIRE_VERSION - WIRE_VERSION_MIN + 1);
	for (unsigned i = WIRE_VERSION_MIN; i <= WIRE_VERSION; i++)
		msgpack_pack_uint32(pk, i);
	wire_pack_str(pk, "server");
	wire_pack_str(pk, "mcppoold/" MCPPOOL_DAEMON_VERSION);
	wire_pack_str(pk, "maxFrame");
	msgpack_pack_uint64(pk, s->d->cfg.max_frame);
	session_reply_end(s, start);
}

static void handle_request(struct session *s, const struct wire_msg *m)
{
	bool is_hello = m->op_len == 5 && memcmp(m->op, "hello", 5) == 0;

	if (is_hello) {
		handle_hello(s, m->id, m->params);
		return;
	}
	if (!s->hello_done) {
		session_reply_error(s, m->id, ERR_BAD_REQUEST, "hello required before \"%.*s\"",
				    (int)(m->op_len > 64 ? 64 : m->op_len), m->op);
		return;
	}
	if (s->nrequests >= s->d->cfg.max_inflight) {
		session_reply_error(s, m->id, ERR_BAD_REQUEST,
				    "%u requests already in flight on this connection "
				    "(MCPPOOL_MAX_INFLIGHT)", s->nrequests);
		return;
	}
	ops_dispatch(s->d, s, m->id, m->op, m->op_len, m->params);
}

static void handle_notify(struct session *s, const struct wire_msg *m)
{
	const msgpack_object *id;

	if (!(m->op_len == 6 && memcmp(m->op, "cancel", 6) == 0)) {
		log_debug("client %lu: ignoring notification %.*s", s->serial,
			  (int)(m->op_len > 64 ? 64 : m->op_len), m->op);
		return;
	}
	id = wire_map_get(m->params, "id");
	if (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		upstream_cancel_by_client_id(s, id->via.u64);
}

static void dispatch_frame(struct session *s, const char *payload, size_t len)
{
	struct wire_msg m;
	uint64_t bad_id = 0;
	char err[256];

	if (wire_decode(payload, len, &s->zone, &m, &bad_id, err, sizeof(err)) < 0) {
		s->d->metrics.frames_bad++;
		session_reply_error(s, bad_id, ERR_BAD_REQUEST, "%s", err);
		return;
	}
	switch (m.type) {
	case WIRE_REQUEST:
		handle_request(s, &m);
		break;
	case WIRE_NOTIFY:
		handle_notify(s, &m);
		break;
	case WIRE_REPLY:
	case WIRE_EVENT:
		s->d->metrics.frames_bad++;
		session_reply_error(s, 0, ERR_BAD_REQUEST,
				    "clients send requests and notifications, not replies or events");
		break;
	}
}

/*
 * Decodes and runs one frame. Its tree lives in the session's zone only until the
 * frame is handled. msgpack_zone_clear() keeps the zone's newest chunk, which after
 * a big frame can be ~24 times the frame (a msgpack_object per byte): such a zone
 * is rebuilt instead, so an idle session holds a small chunk, not its largest frame.
 */
static void handle_frame(struct session *s, const char *payload, size_t len)
{
	msgpack_zone_clear(&s->zone);
	dispatch_frame(s, payload, len);
	if (len > ZONE_KEEP_MAX / sizeof(msgpack_object)) {
		msgpack_zone_destroy(&s->zone);
		msgpack_zone_init(&s->zone, ZONE_CHUNK);
	}
}

static void drain_frames(struct session *s)
{
	const char *payload;
	size_t len;

	while (!s->dead) {
		switch (frame_reader_next(&s->in, &payload, &len)) {
		case FRAME_OK:
			handle_frame(s, payload, len);
			break;
		case FRAME_TOO_LARGE:
			s->d->metrics.frames_bad++;
			session_reply_error(s, 0, ERR_BAD_REQUEST,
					    "frame of %zu bytes exceeds the maximum of %zu", len,
					    s->d->cfg.max_frame);
			break;
		case FRAME_EMPTY:
			s->d->metrics.frames_bad++;
			session_reply_error(s, 0, ERR_BAD_REQUEST, "empty frame");
			break;
		case FRAME_NEED_MORE:
			return;
		}
	}
}

/* ---- the input budget (MCPPOOL_MAX_INPUT) ------------------------------------ */

/*
 * Frames up to FRAME_KEEP_CAP are read into the reader's usual buffer. A larger
 * one reserves its whole size from MCPPOOL_MAX_INPUT as soon as its header is in,
 * before its buffer is allocated; when the budget cannot cover it, the session is
 * not read until earlier large frames complete (first come, first served). A
 * reservation is granted whole, so every reading session can finish its frame:
 * the waits always end, and the daemon never holds more than the budget for
 * half-received frames, however many clients send them.
 */
static size_t input_need(const struct session *s)
{
	size_t need = frame_reader_need(&s->in);

	return need > FRAME_KEEP_CAP ? need : 0;
}

static bool input_fits(const struct session *s, size_t need)
{
	const struct daemon *d = s->d;

	return need <= s->input_reserved ||
	       need - s->input_reserved <= d->cfg.max_input - d->input_reserved;
}

/*
 * Changes s's reservation. A new one must be used within REQUEST_TIMEOUT: a client
 * that holds budget without sending its frame would make everyone else's wait.
 */
static void input_set(struct session *s, size_t need)
{
	struct daemon *d = s->d;

	if (need && need != s->input_reserved) {
		ev_timer_stop(d->loop, &s->input_deadline);
		ev_timer_set(&s->input_deadline, (double)d->cfg.request_timeout_ms / 1000.0, 0);
		ev_timer_start(d->loop, &s->input_deadline);
	} else if (!need) {
		ev_timer_stop(d->loop, &s->input_deadline);
	}
	d->input_reserved = d->input_reserved - s->input_reserved + need;
	s->input_reserved = need;
}

static void on_input_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = w->data;
	(void)loop;
	(void)revents;

	log_warn("client %lu: a %zu-byte frame was not received whole within REQUEST_TIMEOUT "
		 "(%llu ms): closing the connection", s->serial, s->input_reserved,
		 (unsigned long long)s->d->cfg.request_timeout_ms);
	session_kill(s, "a large frame took longer than REQUEST_TIMEOUT to arrive");
}

/* Grants the waiting sessions, oldest first, while the budget lasts. */
static void input_wake(struct daemon *d)
{
	while (!list_empty(&d->input_waiters)) {
		struct session *s = list_entry(d->input_waiters.next, struct session, input_wait);
		size_t need = input_need(s);

		if (!input_fits(s, need))
			return;
		input_set(s, need);
		list_del(&s->input_wait);
		ev_io_start(d->loop, &s->rw);
	}
}

/* Gives back s's reservation (its frame is done, or it is closing). */
static void input_release(struct session *s, size_t keep)
{
	if (keep >= s->input_reserved)
		return;
	input_set(s, keep);
	input_wake(s->d);
}

/*
 * Fits s's reservation to the frame it is receiving. Returns false when s
 * was paused instead: it is read again once input_wake() grants it.
 */
static bool input_settle(struct session *s)
{
	size_t need = input_need(s);

	if (need <= s->input_reserved) {
		input_release(s, need);
		return true;
	}
	if (list_empty(&s->d->input_waiters) && input_fits(s, need)) {
		input_set(s, need);
		return true;
	}
	ev_io_stop(s->d->loop, &s->rw);
	list_add_tail(&s->d->input_waiters, &s->input_wait);
	s->d->metrics.input_waits++;
	log_debug("client %lu: a %zu-byte frame waits for MCPPOOL_MAX_INPUT (%zu of %zu bytes held)",
		  s->serial, need, s->d->input_reserved, s->d->cfg.max_input);
	return false;
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = w->data;
	size_t budget = READ_BUDGET;
	(void)loop;
	(void)revents;

	while (!s->dead && budget > 0) {
		size_t avail;
		char *space;
		ssize_t n;

		if (!input_settle(s))
			return;
		space = frame_reader_space(&s->in, &avail);

		if (!space) {
			session_kill(s, "out of memory");
			return;
		}
		n = read(s->fd, space, avail);
		if (n > 0) {
			daemon_note_io(s->d);
			frame_reader_commit(&s->in, (size_t)n);
			budget -= (size_t)n < budget ? (size_t)n : budget;
			drain_frames(s);
			/* Now, not at the next read: the frame just handled may hold budget. */
			if (s->dead || !input_settle(s))
				return;
			if ((size_t)n < avail)
				return; /* the socket is empty: no read(2) just to hear EAGAIN */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		session_kill(s, n == 0 ? (s->in.len > s->in.pos || s->in.skip ? "closed mid-frame"
										: "closed by peer")
				       : strerror(errno));
		return;
	}
}

/* ---- lifecycle ------------------------------------------------------------- */

/*
 * True when the peer's groups, as the kernel recorded them when it connected
 * (SO_PEERCRED's primary group, SO_PEERGROUPS's supplementary ones), hold gid.
 */
static bool peer_in_group(int fd, gid_t primary, gid_t gid)
{
	gid_t groups[512];
	socklen_t len = sizeof(groups);

	if (primary == gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false; /* more groups than fit: not counted as a member */
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

struct session *session_new(struct daemon *d, int fd)
{
	struct session *s = calloc(1, sizeof(*s));
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	if (!s) {
		close(fd);
		return NULL;
	}
	s->d = d;
	s->fd = fd;
	s->serial = ++next_serial;
	s->peer_uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
		s->peer_uid = cred.uid;
		s->peer_pid = cred.pid;
		s->admin_peer = cred.uid == 0 || cred.uid == d->uid ||
				(d->cfg.admin_group && peer_in_group(fd, cred.gid, d->cfg.admin_gid));
	}
	frame_reader_init(&s->in, d->cfg.max_frame);
	msgpack_zone_init(&s->zone, ZONE_CHUNK);
	msgpack_sbuffer_init(&s->out);
	msgpack_packer_init(&s->pk, &s->out, msgpack_sbuffer_write);
	list_init(&s->requests);
	list_init(&s->input_wait);
	ev_timer_init(&s->input_deadline, on_input_deadline, 0, 0);
	s->input_deadline.data = s;
	ev_io_init(&s->rw, on_readable, fd, EV_READ);
	ev_io_init(&s->ww, on_writable, fd, EV_WRITE);
	ev_prepare_init(&s->flush_w, on_flush);
	ev_init(&s->stall_w, on_stall);
	s->stall_w.repeat = (double)d->cfg.output_stall_ms / 1000.0;
	ev_timer_init(&s->hello_w, on_hello_timeout, (double)d->cfg.hello_timeout_ms / 1000.0, 0.);
	s->rw.data = s->ww.data = s->flush_w.data = s->stall_w.data = s->hello_w.data = s;
	ev_io_start(d->loop, &s->rw);
	ev_timer_start(d->loop, &s->hello_w);
	list_add_tail(&d->sessions, &s->node);
	d->nsessions++;
	d->metrics.clients_accepted++;
	log_debug("client %lu: connected (pid %ld, uid %ld)", s->serial, (long)s->peer_pid,
		  (long)s->peer_uid);
	return s;
}

static void session_free(struct deferred *x);

void session_kill(struct session *s, const char *reason)
{
	if (s->dead)
		return;
	s->dead = true;
	if (list_linked(&s->input_wait))
		list_del(&s->input_wait);
	input_release(s, 0);
	ev_io_stop(s->d->loop, &s->rw);
	ev_io_stop(s->d->loop, &s->ww);
	ev_prepare_stop(s->d->loop, &s->flush_w);
	ev_timer_stop(s->d->loop, &s->stall_w);
	ev_timer_stop(s->d->loop, &s->hello_w);
	output_account(s);
	list_del(&s->node);
	s->d->nsessions--;
	daemon_defer_free(s->d, &s->free_node, session_free);
	log_debug("client %lu: closed: %s", s->serial, reason);
}

void session_kill_all(struct daemon *d, const char *reason)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &d->sessions) {
		struct session *s = list_entry(pos, struct session, node);
		session_flush(s);
		session_kill(s, reason);
	}
}

bool session_all_quiet(const struct daemon *d)
{
	const struct list_node *pos;

	for (pos = d->sessions.next; pos != &d->sessions; pos = pos->next) {
		const struct session *s = list_entry(pos, struct session, node);
		if (s->nrequests || s->out.size > s->out_pos)
			return false;
	}
	return true;
}

/*
 * Runs from the daemon's deferred free, never from inside a callback chain:
 * cancelling requests can close connections, which must not happen under their
 * own feet. Every watcher of the session is stopped here, whatever armed it.
 */
static void session_free(struct deferred *x)
{
	struct session *s = container_of(x, struct session, free_node);
	struct ev_loop *loop = s->d->loop;
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &s->requests)
		upstream_cancel(list_entry(pos, struct request, session_node), ERR_OK,
			       "client disconnected");
	ev_io_stop(loop, &s->rw);
	ev_io_stop(loop, &s->ww);
	ev_prepare_stop(loop, &s->flush_w);
	ev_timer_stop(loop, &s->input_deadline);
	ev_timer_stop(loop, &s->stall_w);
	ev_timer_stop(loop, &s->hello_w);
	close(s->fd);
	frame_reader_destroy(&s->in);
	msgpack_zone_destroy(&s->zone);
	msgpack_sbuffer_destroy(&s->out);
	free(s);
}

void session_init(struct daemon *d)
{
	list_init(&d->sessions);
	list_init(&d->input_waiters);
}

bool session_is_admin(const struct session *s)
{
	return s->admin_peer || s->admin_token;
}

void session_grant_admin(struct session *s)
{
	s->admin_token = true;
}

void session_peer(const struct session *s, long *uid, long *pid)
{
	*uid = s->peer_uid == (uid_t)-1 ? -1 : (long)s->peer_uid;
	*pid = (long)s->peer_pid;
}

struct list_node *session_requests(struct session *s)
{
	return &s->requests;
}

void session_track(struct session *s, struct list_node *node)
{
	list_add_tail(&s->requests, node);
	s->nrequests++;
}

void session_untrack(struct session *s, struct list_node *node)
{
	if (!list_linked(node))
		return;
	list_del(node);
	s->nrequests--;
}
