/* Tests of the pool's bookkeeping: keys, limits, LRU eviction, states, sweep and retire. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "pool.h"

#define MAX_CLOSED 64

/* What on_close saw, in order. */
struct closed_log {
	int n;
	char key[MAX_CLOSED][64];
	char reason[MAX_CLOSED][32];
	void *conn[MAX_CLOSED];
};

static void record_close(void *ctx, struct pool_entry *e, const char *reason)
{
	struct closed_log *log = ctx;

	cr_assert_lt(log->n, MAX_CLOSED);
	snprintf(log->key[log->n], sizeof(log->key[0]), "%s", e->key);
	snprintf(log->reason[log->n], sizeof(log->reason[0]), "%s", reason);
	log->conn[log->n] = e->conn;
	log->n++;
}

static const unsigned char hash_a[32] = { 1, 2, 3 };

static struct pool *pool_with(unsigned per_user, unsigned total, struct closed_log *log)
{
	struct pool_limits limits = { .max_per_user = per_user, .max_total = total };
	struct pool_callbacks cb = { .on_close = record_close };
	struct pool *p = pool_new(&limits, &cb, log);

	cr_assert_not_null(p);
	return p;
}

static struct pool_clock at(uint64_t ms)
{
	return (struct pool_clock){ .wall_ms = 1700000000000u + ms, .mono_ms = ms };
}

#define ASSERT_SANE(p)                                                 \
	do {                                                           \
		char err_[256] = "";                                   \
		cr_assert_eq(pool_check((p), err_, sizeof(err_)), 0,   \
			     "pool_check: %s", err_);                  \
	} while (0)

static void begin(struct pool *p, struct pool_entry *e, uint64_t ms)
{
	struct pool_clock now = at(ms);

	pool_request_begin(p, e, &now);
	ASSERT_SANE(p);
}

static bool end(struct pool *p, struct pool_entry *e, uint64_t ms)
{
	struct pool_clock now = at(ms);
	bool done = pool_request_end(p, e, &now);

	ASSERT_SANE(p);
	return done;
}

/* A new STARTING entry, after making room (which must succeed). */
static struct pool_entry *start(struct pool *p, const char *user, const char *mcp, uint64_t ms)
{
	struct pool_clock now = at(ms);
	struct pool_entry *e;

	cr_assert_eq(pool_make_room(p, user), 0, "no room for %s:%s", user, mcp);
	ASSERT_SANE(p);
	e = pool_insert(p, user, mcp, hash_a, NULL, &now);
	cr_assert_not_null(e);
	ASSERT_SANE(p);
	return e;
}

/* A new entry that started and was last used at ms: IDLE. */
static struct pool_entry *idle_at(struct pool *p, const char *user, const char *mcp, uint64_t ms)
{
	struct pool_entry *e = start(p, user, mcp, ms);
	struct pool_clock now = at(ms);

	pool_mark_ready(p, e, &now);
	ASSERT_SANE(p);
	cr_assert_eq(e->state, ENTRY_IDLE);
	return e;
}

/* A new entry with one request in flight since ms: ACTIVE. */
static struct pool_entry *active_at(struct pool *p, const char *user, const char *mcp, uint64_t ms)
{
	struct pool_entry *e = idle_at(p, user, mcp, ms);

	begin(p, e, ms);
	return e;
}

/* ---- keys ----------------------------------------------------------------- */

Test(pool, insert_fills_the_entry_and_lookup_finds_it)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_clock now = at(5);
	int conn;
	struct pool_entry *e;

	cr_assert_eq(pool_make_room(p, "alice"), 0);
	e = pool_insert(p, "alice", "github", hash_a, &conn, &now);
	ASSERT_SANE(p);
	cr_assert_str_eq(e->key, "alice:github");
	cr_assert_str_eq(e->mcp, "github");
	cr_assert_eq(e->user_len, 5);
	cr_assert_eq(e->state, ENTRY_STARTING);
	cr_assert_eq(e->inflight, 0);
	cr_assert_eq(e->create_wall_ms, now.wall_ms);
	cr_assert_eq(e->last_used_mono_ms, 5);
	cr_assert_eq(memcmp(e->auth_hash, hash_a, 32), 0);
	cr_assert_eq(e->conn, &conn);
	cr_assert_eq(pool_lookup(p, "alice", "github"), e);
	cr_assert_null(pool_lookup(p, "alice", "gitlab"));
	cr_assert_null(pool_lookup(p, "bob", "github"));
	cr_assert_eq(pool_total(p), 1);
	cr_assert_eq(pool_user_count(p, "alice"), 1);
	pool_free(p);
}

Test(pool, removed_entry_is_no_longer_found_or_counted)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = idle_at(p, "alice", "github", 1);

	pool_remove(p, e);
	ASSERT_SANE(p);
	cr_assert_null(pool_lookup(p, "alice", "github"));
	cr_assert_eq(pool_total(p), 0);
	cr_assert_eq(pool_user_count(p, "alice"), 0);
	cr_assert_eq(log.n, 0, "pool_remove must not call on_close");
	pool_free(p);
}

Test(pool, users_counts_each_user_with_an_entry_once)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *a1 = idle_at(p, "alice", "github", 1);

	idle_at(p, "alice", "gitlab", 2);
	idle_at(p, "bob", "github", 3);
	cr_assert_eq(pool_users(p), 2);
	pool_remove(p, a1);
	cr_assert_eq(pool_users(p), 2, "alice still has gitlab");
	pool_remove(p, pool_lookup(p, "bob", "github"));
	ASSERT_SANE(p);
	cr_assert_eq(pool_users(p), 1, "bob left with his last entry");
	pool_free(p);
}

Test(pool, user_and_mcp_split_differently_are_different_keys)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *a = idle_at(p, "ab", "c", 1);
	struct pool_entry *b = idle_at(p, "a", "bc", 2);

	cr_assert_neq(a, b);
	cr_assert_eq(pool_lookup(p, "ab", "c"), a);
	cr_assert_eq(pool_lookup(p, "a", "bc"), b);
	cr_assert_eq(pool_user_count(p, "ab"), 1);
	cr_assert_eq(pool_user_count(p, "a"), 1);
	pool_free(p);
}

Test(pool, long_keys_are_found_like_short_ones)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	char user[600], mcp[400];
	struct pool_entry *e;

	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	memset(mcp, 'm', sizeof(mcp) - 1);
	mcp[sizeof(mcp) - 1] = '\0';
	e = idle_at(p, user, mcp, 1);
	cr_assert_eq(pool_lookup(p, user, mcp), e);
	mcp[0] = 'x';
	cr_assert_null(pool_lookup(p, user, mcp));
	pool_free(p);
}

Test(pool, reuse_at_both_limits_finds_the_entry_and_evicts_nothing)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(1, 1, &log);
	struct pool_entry *e = idle_at(p, "alice", "github", 1);
	struct pool_entry *found = pool_lookup(p, "alice", "github");

	cr_assert_eq(found, e);
	begin(p, found, 2);
	cr_assert_eq(e->state, ENTRY_ACTIVE);
	cr_assert_eq(e->inflight, 1);
	cr_assert_not(end(p, found, 3));
	cr_assert_eq(e->state, ENTRY_IDLE);
	cr_assert_eq(e->last_used_mono_ms, 3);
	cr_assert_eq(log.n, 0);
	cr_assert_eq(pool_total(p), 1);
	pool_free(p);
}

/* ---- limits and eviction -------------------------------------------------- */

Test(pool, user_limit_evicts_that_users_lru_idle_not_another_users)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(2, 100, &log);

	idle_at(p, "bob", "old", 0);
	idle_at(p, "alice", "x", 1);
	idle_at(p, "alice", "y", 2);
	cr_assert_eq(pool_make_room(p, "alice"), 0);
	ASSERT_SANE(p);
	cr_assert_eq(log.n, 1);
	cr_assert_str_eq(log.key[0], "alice:x");
	cr_assert_str_eq(log.reason[0], "evicted: user limit");
	cr_assert_not_null(pool_lookup(p, "bob", "old"));
	cr_assert_not_null(pool_lookup(p, "alice", "y"));
	cr_assert_eq(pool_user_count(p, "alice"), 1);
	pool_free(p);
}

Test(pool, total_limit_evicts_the_global_lru_idle)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(5, 3, &log);

	idle_at(p, "a", "x", 10);
	idle_at(p, "b", "y", 5);
	idle_at(p, "c", "z", 20);
	cr_assert_eq(pool_make_room(p, "d"), 0);
	ASSERT_SANE(p);
	cr_assert_eq(log.n, 1);
	cr_assert_str_eq(log.key[0], "b:y");
	cr_assert_str_eq(log.reason[0], "evicted: total limit");
	cr_assert_eq(pool_total(p), 2);
	cr_assert_eq(pool_user_count(p, "b"), 0);
	pool_free(p);
}

Test(pool, under_both_limits_make_room_closes_nothing)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(2, 3, &log);

	idle_at(p, "a", "x", 1);
	idle_at(p, "b", "y", 2);
	cr_assert_eq(pool_make_room(p, "a"), 0);
	cr_assert_eq(log.n, 0);
	pool_free(p);
}

Test(pool, busy_entries_are_never_evicted_and_exhaustion_closes_nothing)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(3, 3, &log);
	struct pool_entry *draining = active_at(p, "a", "old", 1);

	cr_assert_not(pool_retire(p, draining, "auth changed"));
	ASSERT_SANE(p);
	start(p, "a", "starting", 2);
	active_at(p, "a", "active", 3);
	cr_assert_eq(pool_make_room(p, "a"), -1, "user limit, nothing idle");
	cr_assert_eq(pool_make_room(p, "b"), -1, "total limit, nothing idle");
	ASSERT_SANE(p);
	cr_assert_eq(log.n, 0);
	cr_assert_eq(pool_total(p), 3);
	pool_free(p);
}

Test(pool, user_at_limit_with_only_busy_entries_is_exhausted_even_if_others_are_idle)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(1, 10, &log);

	active_at(p, "a", "x", 1);
	idle_at(p, "b", "y", 0);
	cr_assert_eq(pool_make_room(p, "a"), -1);
	cr_assert_eq(log.n, 0);
	cr_assert_not_null(pool_lookup(p, "b", "y"));
	pool_free(p);
}

Test(pool, zero_limits_never_make_room)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(0, 0, &log);

	cr_assert_eq(pool_make_room(p, "a"), -1);
	pool_free(p);
}

Test(pool, lru_order_follows_request_end_times)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 3, &log);
	struct pool_entry *x = idle_at(p, "u", "x", 1);

	idle_at(p, "u", "y", 2);
	idle_at(p, "u", "z", 3);
	begin(p, x, 4);
	cr_assert_not(end(p, x, 10));
	cr_assert_eq(pool_make_room(p, "v"), 0);
	cr_assert_str_eq(log.key[0], "u:y");
	idle_at(p, "v", "w", 11);
	cr_assert_eq(pool_make_room(p, "v"), 0);
	cr_assert_str_eq(log.key[1], "u:z");
	idle_at(p, "v", "w2", 12);
	cr_assert_eq(pool_make_room(p, "v"), 0);
	cr_assert_str_eq(log.key[2], "u:x");
	ASSERT_SANE(p);
	pool_free(p);
}

Test(pool, an_entry_busy_since_long_ago_is_not_the_lru_once_it_ends)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 2, &log);
	struct pool_entry *x = active_at(p, "u", "x", 1);

	idle_at(p, "u", "y", 5);
	cr_assert_not(end(p, x, 9));
	cr_assert_eq(pool_make_room(p, "u"), 0);
	cr_assert_str_eq(log.key[0], "u:y");
	pool_free(p);
}

/* ---- states --------------------------------------------------------------- */

Test(pool, warm_entry_becomes_idle_when_ready)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = start(p, "u", "m", 1);
	struct pool_clock now = at(7);

	pool_mark_ready(p, e, &now);
	ASSERT_SANE(p);
	cr_assert_eq(e->state, ENTRY_IDLE);
	cr_assert_eq(e->last_used_mono_ms, 7);
	pool_free(p);
}

Test(pool, requests_waiting_for_a_starting_entry_make_it_active_when_ready)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = start(p, "u", "m", 1);
	struct pool_clock now = at(3);

	begin(p, e, 2);
	begin(p, e, 2);
	cr_assert_eq(e->state, ENTRY_STARTING);
	cr_assert_eq(e->inflight, 2);
	pool_mark_ready(p, e, &now);
	ASSERT_SANE(p);
	cr_assert_eq(e->state, ENTRY_ACTIVE);
	cr_assert_not(end(p, e, 4));
	cr_assert_eq(e->state, ENTRY_ACTIVE);
	cr_assert_not(end(p, e, 5));
	cr_assert_eq(e->state, ENTRY_IDLE);
	pool_free(p);
}

Test(pool, state_counts_follow_transitions)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = start(p, "u", "m", 1);

	cr_assert_eq(pool_state_count(p, ENTRY_STARTING), 1);
	begin(p, e, 2);
	pool_mark_ready(p, e, &(struct pool_clock){ 0, 3 });
	cr_assert_eq(pool_state_count(p, ENTRY_STARTING), 0);
	cr_assert_eq(pool_state_count(p, ENTRY_ACTIVE), 1);
	end(p, e, 4);
	cr_assert_eq(pool_state_count(p, ENTRY_ACTIVE), 0);
	cr_assert_eq(pool_state_count(p, ENTRY_IDLE), 1);
	cr_assert_str_eq(pool_state_name(e->state), "idle");
	pool_free(p);
}

Test(pool, set_state_aborts_on_leaving_draining, .signal = SIGABRT)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = active_at(p, "u", "m", 1);

	pool_set_state(p, e, ENTRY_DRAINING);
	e->inflight = 0;
	pool_set_state(p, e, ENTRY_IDLE);
}

Test(pool, set_state_aborts_on_active_with_nothing_in_flight, .signal = SIGABRT)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = start(p, "u", "m", 1);

	pool_set_state(p, e, ENTRY_ACTIVE);
}

Test(pool, set_state_aborts_on_idle_to_idle, .signal = SIGABRT)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = idle_at(p, "u", "m", 1);

	pool_set_state(p, e, ENTRY_IDLE);
}

Test(pool, request_end_with_nothing_in_flight_aborts, .signal = SIGABRT)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = idle_at(p, "u", "m", 1);

	end(p, e, 2);
}

Test(pool, request_begin_on_a_draining_entry_aborts, .signal = SIGABRT)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = active_at(p, "u", "m", 1);

	pool_retire(p, e, "auth changed");
	begin(p, e, 2);
}

Test(pool, set_state_to_idle_keeps_the_idle_list_ordered)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *old = active_at(p, "u", "old", 1);

	idle_at(p, "u", "new", 5);
	old->inflight = 0; /* as if its request ended without touching it */
	pool_set_state(p, old, ENTRY_IDLE);
	ASSERT_SANE(p);
	pool_free(p);
}

/* ---- sweep ---------------------------------------------------------------- */

Test(pool, sweep_closes_only_idle_entries_older_than_the_timeout)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_clock now = at(400);

	idle_at(p, "u", "t0", 0);
	idle_at(p, "v", "t100", 100);
	idle_at(p, "u", "t249", 249);
	idle_at(p, "v", "t250", 250);
	idle_at(p, "u", "t300", 300);
	cr_assert_eq(pool_sweep(p, &now, 150), 3);
	ASSERT_SANE(p);
	cr_assert_eq(log.n, 3);
	cr_assert_str_eq(log.key[0], "u:t0");
	cr_assert_str_eq(log.key[1], "v:t100");
	cr_assert_str_eq(log.key[2], "u:t249");
	for (int i = 0; i < log.n; i++)
		cr_assert_str_eq(log.reason[i], "idle timeout");
	cr_assert_not_null(pool_lookup(p, "v", "t250"), "idle exactly the timeout is kept");
	cr_assert_not_null(pool_lookup(p, "u", "t300"));
	cr_assert_eq(pool_sweep(p, &now, 150), 0);
	cr_assert_eq(log.n, 3);
	pool_free(p);
}

Test(pool, sweep_never_closes_active_or_starting_entries_however_old)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_clock now = at(1000000);

	active_at(p, "u", "active", 0);
	start(p, "u", "starting", 0);
	idle_at(p, "u", "idle", 1);
	cr_assert_eq(pool_sweep(p, &now, 10), 1);
	cr_assert_eq(log.n, 1);
	cr_assert_str_eq(log.key[0], "u:idle");
	cr_assert_eq(pool_total(p), 2);
	ASSERT_SANE(p);
	pool_free(p);
}

Test(pool, sweep_treats_a_clock_behind_last_use_as_not_idle)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_clock now = at(5);

	idle_at(p, "u", "m", 100);
	cr_assert_eq(pool_sweep(p, &now, 0), 0);
	pool_free(p);
}

/* ---- retire and evict ----------------------------------------------------- */

Test(pool, retiring_an_idle_entry_closes_it_at_once)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = idle_at(p, "u", "m", 1);

	cr_assert(pool_retire(p, e, "auth changed"));
	ASSERT_SANE(p);
	cr_assert_eq(log.n, 1);
	cr_assert_str_eq(log.reason[0], "auth changed");
	cr_assert_eq(pool_total(p), 0);
	pool_free(p);
}

Test(pool, retiring_a_busy_entry_drains_it_until_its_last_request_ends)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = active_at(p, "u", "m", 1);

	begin(p, e, 2);
	cr_assert_not(pool_retire(p, e, "auth changed"));
	ASSERT_SANE(p);
	cr_assert_eq(e->state, ENTRY_DRAINING);
	cr_assert_null(pool_lookup(p, "u", "m"));
	cr_assert_eq(log.n, 0);
	cr_assert_not(end(p, e, 3));
	cr_assert(end(p, e, 4));
	cr_assert_eq(e->state, ENTRY_DRAINING);
	pool_remove(p, e);
	ASSERT_SANE(p);
	cr_assert_eq(pool_total(p), 0);
	cr_assert_eq(log.n, 0);
	pool_free(p);
}

Test(pool, a_draining_entry_started_before_retire_stays_draining_when_ready)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = start(p, "u", "m", 1);
	struct pool_clock now = at(3);

	begin(p, e, 2);
	cr_assert_not(pool_retire(p, e, "auth changed"));
	pool_mark_ready(p, e, &now);
	ASSERT_SANE(p);
	cr_assert_eq(e->state, ENTRY_DRAINING);
	cr_assert(end(p, e, 4));
	pool_remove(p, e);
	pool_free(p);
}

Test(pool, a_new_entry_for_a_retired_key_coexists_with_the_draining_one)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(2, 2, &log);
	struct pool_entry *old = active_at(p, "u", "m", 1);
	struct pool_entry *fresh;

	cr_assert_not(pool_retire(p, old, "auth changed"));
	cr_assert_null(pool_lookup(p, "u", "m"));
	fresh = idle_at(p, "u", "m", 2);
	cr_assert_neq(fresh, old);
	cr_assert_eq(pool_lookup(p, "u", "m"), fresh);
	cr_assert_eq(pool_user_count(p, "u"), 2);
	cr_assert_eq(pool_total(p), 2);
	begin(p, fresh, 3);
	cr_assert_eq(pool_make_room(p, "u"), -1, "both count toward the limits");
	cr_assert(end(p, old, 4));
	pool_remove(p, old);
	ASSERT_SANE(p);
	cr_assert_eq(pool_lookup(p, "u", "m"), fresh);
	cr_assert_eq(pool_user_count(p, "u"), 1);
	pool_free(p);
}

Test(pool, evict_by_user_retires_every_live_entry_of_that_user_only)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *busy = active_at(p, "a", "busy", 1);

	idle_at(p, "a", "idle", 2);
	start(p, "a", "warming", 3);
	idle_at(p, "b", "other", 4);
	cr_assert_eq(pool_evict(p, "a", NULL), 3);
	ASSERT_SANE(p);
	cr_assert_eq(log.n, 2);
	cr_assert_str_eq(log.reason[0], "evicted by request");
	cr_assert_eq(busy->state, ENTRY_DRAINING);
	cr_assert_eq(pool_user_count(p, "a"), 1);
	cr_assert_not_null(pool_lookup(p, "b", "other"));
	cr_assert_eq(pool_evict(p, "a", NULL), 0, "a draining entry is not retired twice");
	pool_free(p);
}

Test(pool, evict_by_user_and_mcp_retires_that_entry_only)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);

	idle_at(p, "a", "x", 1);
	idle_at(p, "a", "y", 2);
	cr_assert_eq(pool_evict(p, "a", "x"), 1);
	ASSERT_SANE(p);
	cr_assert_eq(log.n, 1);
	cr_assert_str_eq(log.key[0], "a:x");
	cr_assert_not_null(pool_lookup(p, "a", "y"));
	cr_assert_eq(pool_evict(p, "a", "x"), 0);
	cr_assert_eq(pool_evict(p, "nobody", NULL), 0);
	pool_free(p);
}

/* ---- users and iteration -------------------------------------------------- */

static void collect_user(void *arg, const char *user, unsigned count)
{
	char *out = arg;
	char item[64];

	snprintf(item, sizeof(item), "%s=%u;", user, count);
	strcat(out, item);
}

Test(pool, users_are_listed_while_they_have_entries_and_freed_after)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	char listed[256] = "";

	idle_at(p, "a", "x", 1);
	idle_at(p, "a", "y", 2);
	idle_at(p, "b", "z", 3);
	cr_assert_eq(pool_evict(p, "a", NULL), 2);
	ASSERT_SANE(p);
	pool_foreach_user(p, collect_user, listed);
	cr_assert_str_eq(listed, "b=1;");
	cr_assert_eq(pool_user_count(p, "a"), 0);
	pool_remove(p, pool_lookup(p, "b", "z"));
	listed[0] = '\0';
	pool_foreach_user(p, collect_user, listed);
	cr_assert_str_eq(listed, "");
	pool_free(p);
}

static void count_entry(void *arg, const struct pool_entry *e)
{
	unsigned *counts = arg;

	counts[e->state]++;
}

Test(pool, foreach_entry_visits_every_state_including_draining)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	unsigned counts[4] = { 0 };

	start(p, "a", "s", 1);
	idle_at(p, "a", "i", 2);
	active_at(p, "b", "a", 3);
	pool_retire(p, active_at(p, "b", "d", 4), "auth changed");
	pool_foreach_entry(p, count_entry, counts);
	cr_assert_eq(counts[ENTRY_STARTING], 1);
	cr_assert_eq(counts[ENTRY_IDLE], 1);
	cr_assert_eq(counts[ENTRY_ACTIVE], 1);
	cr_assert_eq(counts[ENTRY_DRAINING], 1);
	pool_free(p);
}

Test(pool, check_reports_a_broken_invariant)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 100, &log);
	struct pool_entry *e = idle_at(p, "u", "m", 1);
	char err[256] = "";

	e->inflight = 1;
	cr_assert_eq(pool_check(p, err, sizeof(err)), -1);
	cr_assert(strstr(err, "u:m") != NULL, "err: %s", err);
	e->inflight = 0;
	pool_free(p);
}

/* ---- a randomized run against a reference model ---------------------------- */

#define M_USERS 6
#define M_MCPS 4
#define M_SLOTS 64
#define M_PER_USER 3
#define M_TOTAL 10
#define M_OPS 20000

/* The model's view of one entry; the entry's conn points at its slot. */
struct slot {
	bool alive;
	int user, mcp;
	enum entry_state state;
	bool ready;
	unsigned inflight;
	uint64_t last_used;
	struct pool_entry *e;
	bool closed;          /* on_close was called for it during this operation */
	bool expect_closed;   /* the model says the operation closes it */
};

struct model {
	struct slot s[M_SLOTS];
	struct pool *p;
	uint64_t rng, now;
	char users[M_USERS][16], mcps[M_MCPS][16];
};

static uint64_t m_rand(struct model *m, uint64_t n)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng % n;
}

static void model_close(void *ctx, struct pool_entry *e, const char *reason)
{
	struct slot *sl = e->conn;

	(void)ctx;
	cr_assert(sl->alive && !sl->closed, "on_close twice or for a dead entry: %s (%s)",
		  e->key, reason);
	cr_assert_eq(sl->e, e);
	sl->closed = true;
}

static struct pool_clock m_clock(const struct model *m)
{
	return (struct pool_clock){ .wall_ms = m->now + 1000, .mono_ms = m->now };
}

static bool m_live(const struct slot *sl)
{
	return sl->alive && sl->state != ENTRY_DRAINING;
}

static struct slot *m_find_live(struct model *m, int user, int mcp)
{
	for (int i = 0; i < M_SLOTS; i++)
		if (m_live(&m->s[i]) && m->s[i].user == user && m->s[i].mcp == mcp)
			return &m->s[i];
	return NULL;
}

static unsigned m_count(const struct model *m, int user)
{
	unsigned n = 0;

	for (int i = 0; i < M_SLOTS; i++)
		n += m->s[i].alive && (user < 0 || m->s[i].user == user);
	return n;
}

/* The least recently used idle slot of user (any user when user < 0), or NULL. */
static struct slot *m_lru_idle(struct model *m, int user)
{
	struct slot *best = NULL;

	for (int i = 0; i < M_SLOTS; i++) {
		struct slot *sl = &m->s[i];

		if (sl->alive && sl->state == ENTRY_IDLE && (user < 0 || sl->user == user) &&
		    (!best || sl->last_used < best->last_used))
			best = sl;
	}
	return best;
}

/* A random alive slot that pred accepts, or NULL. */
static struct slot *m_pick(struct model *m, bool (*pred)(const struct slot *))
{
	struct slot *cand[M_SLOTS];
	int n = 0;

	for (int i = 0; i < M_SLOTS; i++)
		if (m->s[i].alive && pred(&m->s[i]))
			cand[n++] = &m->s[i];
	return n ? cand[m_rand(m, (uint64_t)n)] : NULL;
}

static bool has_inflight(const struct slot *sl) { return sl->inflight > 0; }
static bool not_ready(const struct slot *sl) { return !sl->ready; }
static bool any_slot(const struct slot *sl) { (void)sl; return true; }

static void m_touch(struct model *m, struct slot *sl)
{
	sl->last_used = m->now;
}

/* Applies the model's retire to sl: drains it, or expects it closed. */
static bool m_retire(struct slot *sl)
{
	if (sl->inflight > 0) {
		sl->state = ENTRY_DRAINING;
		return false;
	}
	sl->expect_closed = true;
	return true;
}

static void op_acquire(struct model *m)
{
	int u = (int)m_rand(m, M_USERS), c = (int)m_rand(m, M_MCPS);
	struct slot *live = m_find_live(m, u, c), *victim = NULL, *sl = NULL;
	struct pool_clock now = m_clock(m);
	int want = 0;

	cr_assert_eq(pool_lookup(m->p, m->users[u], m->mcps[c]), live ? live->e : NULL);
	if (live) {
		pool_request_begin(m->p, live->e, &now);
		live->inflight++;
		m_touch(m, live);
		if (live->state == ENTRY_IDLE)
			live->state = ENTRY_ACTIVE;
		return;
	}
	if (m_count(m, u) >= M_PER_USER)
		victim = m_lru_idle(m, u);
	else if (m_count(m, -1) >= M_TOTAL)
		victim = m_lru_idle(m, -1);
	if ((m_count(m, u) >= M_PER_USER || m_count(m, -1) >= M_TOTAL) && !victim)
		want = -1;
	if (victim)
		victim->expect_closed = true;
	cr_assert_eq(pool_make_room(m->p, m->users[u]), want);
	if (want < 0)
		return;
	for (int i = 0; i < M_SLOTS && !sl; i++)
		if (!m->s[i].alive && !m->s[i].expect_closed)
			sl = &m->s[i];
	cr_assert_not_null(sl);
	*sl = (struct slot){ .alive = true, .user = u, .mcp = c, .state = ENTRY_STARTING };
	m_touch(m, sl);
	sl->e = pool_insert(m->p, m->users[u], m->mcps[c], hash_a, sl, &now);
	cr_assert_not_null(sl->e);
	if (m_rand(m, 2)) {
		pool_request_begin(m->p, sl->e, &now);
		sl->inflight++;
	}
}

static void op_end(struct model *m)
{
	struct slot *sl = m_pick(m, has_inflight);
	struct pool_clock now = m_clock(m);
	bool done;

	if (!sl)
		return;
	done = pool_request_end(m->p, sl->e, &now);
	sl->inflight--;
	m_touch(m, sl);
	if (sl->inflight == 0 && sl->state == ENTRY_ACTIVE)
		sl->state = ENTRY_IDLE;
	cr_assert_eq(done, sl->state == ENTRY_DRAINING && sl->inflight == 0);
	if (done) {
		pool_remove(m->p, sl->e);
		sl->alive = false;
	}
}

static void op_ready(struct model *m)
{
	struct slot *sl = m_pick(m, not_ready);
	struct pool_clock now = m_clock(m);

	if (!sl)
		return;
	pool_mark_ready(m->p, sl->e, &now);
	sl->ready = true;
	m_touch(m, sl);
	if (sl->state == ENTRY_STARTING)
		sl->state = sl->inflight ? ENTRY_ACTIVE : ENTRY_IDLE;
}

static void op_retire(struct model *m)
{
	struct slot *sl = m_pick(m, m_live);

	if (sl)
		cr_assert_eq(pool_retire(m->p, sl->e, "auth changed"), m_retire(sl));
}

static void op_die(struct model *m)
{
	struct slot *sl = m_pick(m, any_slot);

	if (!sl)
		return;
	pool_remove(m->p, sl->e);
	sl->alive = false;
}

static void op_sweep(struct model *m)
{
	uint64_t timeout = m_rand(m, 200);
	struct pool_clock now = m_clock(m);
	size_t want = 0;

	for (int i = 0; i < M_SLOTS; i++) {
		struct slot *sl = &m->s[i];

		if (sl->alive && sl->state == ENTRY_IDLE && m->now - sl->last_used > timeout) {
			sl->expect_closed = true;
			want++;
		}
	}
	cr_assert_eq(pool_sweep(m->p, &now, timeout), want);
}

static void op_evict(struct model *m)
{
	int u = (int)m_rand(m, M_USERS), c = (int)m_rand(m, M_MCPS + 1);
	size_t want = 0;

	for (int i = 0; i < M_SLOTS; i++) {
		struct slot *sl = &m->s[i];

		if (m_live(sl) && sl->user == u && (c == M_MCPS || sl->mcp == c)) {
			m_retire(sl);
			want++;
		}
	}
	cr_assert_eq(pool_evict(m->p, m->users[u], c == M_MCPS ? NULL : m->mcps[c]), want);
}

/* The pool and the model agree, and the pool's own invariants hold. */
static void m_compare(struct model *m, int step)
{
	for (int i = 0; i < M_SLOTS; i++) {
		struct slot *sl = &m->s[i];

		cr_assert_eq(sl->closed, sl->expect_closed, "step %d: slot %d closed=%d, model says %d",
			     step, i, sl->closed, sl->expect_closed);
		if (sl->closed)
			sl->alive = false;
		sl->closed = sl->expect_closed = false;
		if (!sl->alive)
			continue;
		cr_assert_eq(sl->e->state, sl->state, "step %d: %s", step, sl->e->key);
		cr_assert_eq(sl->e->inflight, sl->inflight, "step %d: %s", step, sl->e->key);
		cr_assert_eq(sl->e->last_used_mono_ms, sl->last_used, "step %d: %s", step, sl->e->key);
	}
	ASSERT_SANE(m->p);
	cr_assert_eq(pool_total(m->p), m_count(m, -1), "step %d", step);
	for (int u = 0; u < M_USERS; u++) {
		cr_assert_eq(pool_user_count(m->p, m->users[u]), m_count(m, u), "step %d", step);
		for (int c = 0; c < M_MCPS; c++) {
			struct slot *live = m_find_live(m, u, c);

			cr_assert_eq(pool_lookup(m->p, m->users[u], m->mcps[c]), live ? live->e : NULL);
		}
	}
}

Test(pool, randomized_operations_match_a_reference_model)
{
	static struct model m = { .rng = 0x9e3779b97f4a7c15u };
	struct pool_limits limits = { .max_per_user = M_PER_USER, .max_total = M_TOTAL };
	struct pool_callbacks cb = { .on_close = model_close };
	unsigned seen[4] = { 0 };

	for (int i = 0; i < M_USERS; i++)
		snprintf(m.users[i], sizeof(m.users[i]), "user%d", i);
	for (int i = 0; i < M_MCPS; i++)
		snprintf(m.mcps[i], sizeof(m.mcps[i]), "mcp%d", i);
	m.p = pool_new(&limits, &cb, &m);
	cr_assert_not_null(m.p);
	for (int step = 0; step < M_OPS; step++) {
		uint64_t op = m_rand(&m, 100);

		m.now += 1 + m_rand(&m, 5);
		if (op < 40)
			op_acquire(&m);
		else if (op < 62)
			op_end(&m);
		else if (op < 74)
			op_ready(&m);
		else if (op < 80)
			op_retire(&m);
		else if (op < 85)
			op_die(&m);
		else if (op < 92)
			op_sweep(&m);
		else
			op_evict(&m);
		m_compare(&m, step);
		pool_foreach_entry(m.p, count_entry, seen);
	}
	for (int s = 0; s < 4; s++)
		cr_assert_gt(seen[s], 0, "the run never reached state %s", pool_state_name(s));
	pool_free(m.p);
}

/* ---- reloads: limits, generations, retiring a server ------------------------- */

Test(pool, lowered_limits_close_idle_entries_lru_first_and_never_a_busy_one)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(3, 6, &log);
	struct pool_limits lower = { .max_per_user = 1, .max_total = 2 };
	struct pool_entry *busy;

	idle_at(p, "alice", "a", 10);
	idle_at(p, "alice", "b", 20);
	busy = active_at(p, "alice", "c", 30);
	idle_at(p, "bob", "a", 40);
	idle_at(p, "bob", "b", 50);

	/* alice keeps only her busy entry (above the limit of 1 until it goes); bob keeps b. */
	cr_assert_eq(pool_set_limits(p, &lower), 3);
	ASSERT_SANE(p);
	cr_assert_str_eq(log.reason[0], "evicted: limit lowered");
	cr_assert_eq(pool_total(p), 2);
	cr_assert_null(pool_lookup(p, "alice", "a"));
	cr_assert_null(pool_lookup(p, "alice", "b"));
	cr_assert_null(pool_lookup(p, "bob", "a"));
	cr_assert_not_null(pool_lookup(p, "alice", "c"));
	cr_assert_not_null(pool_lookup(p, "bob", "b"));
	/* Nothing new is let in above a limit. */
	cr_assert_eq(pool_make_room(p, "alice"), -1);
	cr_assert(end(p, busy, 60) == false);
	pool_free(p);
}

Test(pool, entries_carry_the_generation_of_their_insert)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 10, &log);
	struct pool_entry *old;

	cr_assert_eq(pool_oldest_generation(p), UINT64_MAX);
	old = idle_at(p, "alice", "a", 10);
	pool_set_generation(p, 1);
	idle_at(p, "alice", "b", 20);
	cr_assert_eq(pool_oldest_generation(p), 0);
	pool_remove(p, old);
	ASSERT_SANE(p);
	cr_assert_eq(pool_oldest_generation(p), 1);
	pool_free(p);
}

Test(pool, retiring_a_server_closes_idle_entries_and_drains_busy_ones_of_every_user)
{
	struct closed_log log = { 0 };
	struct pool *p = pool_with(10, 10, &log);
	struct pool_entry *busy;

	idle_at(p, "alice", "gone", 10);
	busy = active_at(p, "bob", "gone", 20);
	idle_at(p, "alice", "kept", 30);
	cr_assert_eq(pool_retire_mcp(p, "gone", "removed"), 2);
	ASSERT_SANE(p);
	cr_assert_eq(log.n, 1);
	cr_assert_str_eq(log.key[0], "alice:gone");
	cr_assert_eq(busy->state, ENTRY_DRAINING);
	cr_assert_null(pool_lookup(p, "bob", "gone"));
	cr_assert_not_null(pool_lookup(p, "alice", "kept"));
	cr_assert(end(p, busy, 40), "the drained entry must be closed by its owner");
	pool_remove(p, busy);
	ASSERT_SANE(p);
	pool_free(p);
}
