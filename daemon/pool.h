/* The pool's bookkeeping: entries by key, per-user counts, limits, LRU order and states. */
#ifndef MCPPOOL_POOL_H
#define MCPPOOL_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "list.h"

/*
 * This module knows nothing of processes, JSON or sockets. Its owner keeps one
 * connection per entry, passes it in as an opaque pointer, and is told through
 * on_close when the pool decides to close one. Nothing here blocks; only
 * pool_new(), pool_insert() and pool_lookup() (for keys over 255 bytes)
 * allocate.
 *
 * Each state is exactly one list of the pool, and pool_set_state() is the one
 * place that moves an entry between lists or changes a state counter:
 */
enum entry_state {
	ENTRY_STARTING, /* spawned, initialize not answered yet;  pool->starting */
	ENTRY_IDLE,     /* ready, nothing in flight;  pool->idle (oldest use at the tail), user->idle */
	ENTRY_ACTIVE,   /* ready, requests in flight;  pool->active */
	ENTRY_DRAINING, /* retired while busy: finishes its requests, then closes;
			   unreachable by key;  pool->draining */
};

/*
 * Every entry, whatever its state, is a live connection: it counts toward its
 * user's limit and the total limit until pool_remove() (or the pool itself,
 * after on_close) frees it. Invariants, checked by pool_check():
 * - IDLE entries have inflight == 0, ACTIVE ones inflight > 0;
 * - an entry is reachable by key (pool_lookup) iff it is not DRAINING, and at
 *   most one entry per key is;
 * - the idle lists are ordered by last_used_mono_ms, most recent at the head;
 * - a user's count is the number of its entries, never above max_per_user, and
 *   the counts add up to pool_total(), never above max_total; except after
 *   pool_set_limits() lowered a limit below counts that busy entries held:
 *   then the counts never exceed those of that moment (nothing new is let in
 *   above a limit, and the excess closes as the busy entries go).
 */
struct pool_entry {
	/* Read-only for the owner, except conn. */
	char *key;                  /* "user:mcp", NUL-terminated */
	const char *mcp;            /* points into key, after the ':' */
	size_t user_len;            /* key[0..user_len) is the user id */
	struct pool_user *user;
	enum entry_state state;
	unsigned inflight;          /* requests in flight, including those waiting for STARTING */
	uint64_t create_wall_ms;    /* wall clock, ms since the epoch: for display */
	uint64_t last_used_wall_ms;
	uint64_t last_used_mono_ms; /* monotonic ms: for timeouts and LRU order */
	unsigned char auth_hash[32];
	void *conn;                 /* the owner's connection object */
	uint64_t generation;        /* the pool's generation at insert (pool_set_generation) */

	/* Private to the pool. */
	struct list_node state_node; /* on the list of its state */
	struct list_node user_node;  /* on user->entries */
	struct list_node idle_node;  /* on user->idle while IDLE */
	struct hmap_node key_node;   /* in pool->by_key while not DRAINING */
};

struct pool_limits {
	unsigned max_per_user;
	unsigned max_total;
};

struct pool_callbacks {
	/*
	 * The pool chose to close e: eviction to make room, the idle sweep, or a
	 * retire. Called before e is removed and freed: the owner closes its
	 * connection and must not touch e, nor call into the pool, from here on.
	 * reason is one of "evicted: user limit", "evicted: total limit",
	 * "idle timeout", or the reason given to pool_retire() ("evicted by
	 * request" from pool_evict()).
	 */
	void (*on_close)(void *ctx, struct pool_entry *e, const char *reason);
};

/* The time of an event, read once by the owner (e.g. ev_now and ev_time). */
struct pool_clock {
	uint64_t wall_ms;
	uint64_t mono_ms;
};

struct pool;

/* A new empty pool; limits and callbacks are copied. NULL on allocation failure. */
struct pool *pool_new(const struct pool_limits *limits, const struct pool_callbacks *cb, void *ctx);

/* Frees every entry WITHOUT calling on_close (the owner closed them already). NULL is fine. */
void pool_free(struct pool *p);

/* "starting", "idle", "active" or "draining"; "unknown" for anything else. */
const char *pool_state_name(enum entry_state s);

/*
 * The live (not DRAINING) entry for (user, mcp), or NULL; also NULL when a key
 * over 255 bytes cannot be allocated. O(1).
 */
struct pool_entry *pool_lookup(struct pool *p, const char *user, const char *mcp);

/*
 * Makes room for one new entry of user. At the user's limit, closes the user's
 * least recently used IDLE entry (which also makes room under the total
 * limit); otherwise, at the total limit, the least recently used IDLE entry
 * overall. At most one entry is closed, and only an IDLE one; STARTING, ACTIVE
 * and DRAINING entries count toward both limits (they are live processes).
 * Returns 0, or -1 when room cannot be made (the caller answers
 * POOL_EXHAUSTED); on -1 nothing was closed. O(1).
 */
int pool_make_room(struct pool *p, const char *user);

/*
 * Inserts a new STARTING entry with inflight 0, created and last used at now;
 * auth_hash is copied. Room must have been made and (user, mcp) must not be
 * live (abort()s otherwise). Returns NULL only on allocation failure.
 */
struct pool_entry *pool_insert(struct pool *p, const char *user, const char *mcp,
			       const unsigned char auth_hash[32], void *conn,
			       const struct pool_clock *now);

/*
 * The one function that changes an entry's state: moves it between lists and
 * keeps every counter right. Allowed: STARTING -> IDLE or ACTIVE (by inflight),
 * IDLE <-> ACTIVE, and STARTING/IDLE/ACTIVE -> DRAINING (which also takes it
 * out of the key map). IDLE needs inflight == 0 and ACTIVE inflight > 0.
 * Anything else is a bug in the caller: abort()s with a message. An entry
 * entering IDLE goes to its place in the idle lists by last_used_mono_ms
 * (the head, and O(1), on every path through the functions below).
 */
void pool_set_state(struct pool *p, struct pool_entry *e, enum entry_state s);

/*
 * A request starts on e (STARTING, IDLE or ACTIVE): inflight++, last used =
 * now; IDLE becomes ACTIVE. abort()s on a DRAINING entry: new requests must go
 * to a live one.
 */
void pool_request_begin(struct pool *p, struct pool_entry *e, const struct pool_clock *now);

/*
 * A request on e ended (answered, failed or cancelled): inflight--, last used
 * = now; ACTIVE becomes IDLE, at the head of the idle lists, when nothing is
 * left in flight. Returns true when e is DRAINING with nothing left in
 * flight: the owner must now close it and call pool_remove(). abort()s when
 * nothing was in flight.
 */
bool pool_request_end(struct pool *p, struct pool_entry *e, const struct pool_clock *now);

/*
 * STARTING finished: last used = now, then IDLE or ACTIVE by inflight. On a
 * DRAINING entry (retired while starting) only last used changes: it still
 * serves the requests that waited for it, then closes.
 */
void pool_mark_ready(struct pool *p, struct pool_entry *e, const struct pool_clock *now);

/*
 * Takes e out of the key map so that new requests do not find it (auth
 * changed, or the evict command). With requests in flight it becomes DRAINING
 * and false is returned; otherwise it is closed via on_close(reason) and
 * removed, and true is returned. A DRAINING entry is left as it is (false).
 */
bool pool_retire(struct pool *p, struct pool_entry *e, const char *reason);

/* Removes and frees e without a callback: its connection died or finished draining. */
void pool_remove(struct pool *p, struct pool_entry *e);

/*
 * Closes (via on_close "idle timeout") and removes every IDLE entry idle for
 * more than timeout_ms at now; returns how many. Walks the idle list from its
 * tail and stops at the first entry young enough: O(closed + 1).
 */
size_t pool_sweep(struct pool *p, const struct pool_clock *now, uint64_t timeout_ms);

/*
 * Retires ("evicted by request") every live entry of user when mcp is NULL,
 * or the one live entry (user, mcp). Returns how many were closed or set
 * DRAINING; entries already DRAINING are not counted.
 */
size_t pool_evict(struct pool *p, const char *user, const char *mcp);

/* Live entries of every state, DRAINING included. */
unsigned pool_total(const struct pool *p);

/* Entries of user, DRAINING included; 0 for an unknown user. */
unsigned pool_user_count(const struct pool *p, const char *user);

/* Users with at least one entry: those pool_foreach_user() calls fn for. O(1). */
unsigned pool_users(const struct pool *p);

/* Entries in state s. */
unsigned pool_state_count(const struct pool *p, enum entry_state s);

/* Calls fn for every user with a count > 0, in any order; fn must not modify the pool. */
void pool_foreach_user(const struct pool *p,
		       void (*fn)(void *arg, const char *user, unsigned count), void *arg);

/* Calls fn for every entry, DRAINING included, in any order; fn must not modify the pool. */
void pool_foreach_entry(const struct pool *p,
			void (*fn)(void *arg, const struct pool_entry *e), void *arg);

/*
 * Applies new limits at once (a configuration reload). Raised limits let new
 * entries in; lowered ones close IDLE entries over them, least recently used
 * first (on_close "evicted: limit lowered"), and never a busy one: those keep
 * counting until they go, and no new entry is let in above a limit meanwhile.
 * Returns how many were closed. O(closed + users).
 */
size_t pool_set_limits(struct pool *p, const struct pool_limits *limits);

/*
 * The generation stamped on entries inserted from now on (starts at 0). The
 * owner raises it when the configuration behind new connections changes (a
 * catalog reload), so that pool_oldest_generation() tells when nothing made
 * under an old configuration is left.
 */
void pool_set_generation(struct pool *p, uint64_t generation);

/* The smallest generation of any entry, DRAINING included; UINT64_MAX when empty. O(n). */
uint64_t pool_oldest_generation(const struct pool *p);

/*
 * Retires (as pool_retire(), with reason) every live entry whose server name
 * is mcp, of every user: idle ones close now, busy ones drain. Returns how
 * many. O(n).
 */
size_t pool_retire_mcp(struct pool *p, const char *mcp, const char *reason);

/*
 * Checks every invariant above (and that each list matches its counter).
 * Returns 0, or -1 with the first broken invariant described in err. O(n):
 * for tests, and for the daemon in debug builds.
 */
int pool_check(const struct pool *p, char *err, size_t errlen);

#endif
