/* The pool's bookkeeping: entries by key, per-user counts, limits, LRU order and states. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "pool.h"

#define N_STATES (ENTRY_DRAINING + 1)
#define KEY_STACK_SIZE 256

struct pool_user {
	struct hmap_node node;      /* in pool->users, keyed by id */
	unsigned count;             /* entries of any state */
	struct list_node entries;   /* every entry of the user, via entry->user_node */
	struct list_node idle;      /* its IDLE entries, most recent use at the head */
	size_t id_len;
	char id[];                  /* NUL-terminated */
};

struct pool {
	struct pool_limits limits;
	struct pool_limits ceiling;        /* what pool_check() allows: limits, or the counts
					      busy entries held when they were lowered */
	uint64_t generation;               /* stamped on new entries */
	struct pool_callbacks cb;
	void *ctx;
	struct hmap by_key;                /* entries not DRAINING, by "user:mcp" */
	struct hmap users;                 /* pool_user by id */
	struct list_node lists[N_STATES];  /* one list per state, via entry->state_node */
	unsigned counts[N_STATES];         /* their lengths */
};

static const char *const state_names[N_STATES] = {
	[ENTRY_STARTING] = "starting",
	[ENTRY_IDLE] = "idle",
	[ENTRY_ACTIVE] = "active",
	[ENTRY_DRAINING] = "draining",
};

const char *pool_state_name(enum entry_state s)
{
	if ((unsigned)s >= N_STATES)
		return "unknown";
	return state_names[s];
}

static struct pool_entry *entry_of_state_node(const struct list_node *n)
{
	return list_entry(n, struct pool_entry, state_node);
}

static struct pool_entry *entry_of_idle_node(const struct list_node *n)
{
	return list_entry(n, struct pool_entry, idle_node);
}

/* ---- users ---------------------------------------------------------------- */

static struct pool_user *user_find(const struct pool *p, const char *id)
{
	struct hmap_node *n = hmap_find(&p->users, id, strlen(id));

	return n ? container_of(n, struct pool_user, node) : NULL;
}

/* The user of that id, created with count 0 if needed; NULL on allocation failure. */
static struct pool_user *user_get(struct pool *p, const char *id, size_t id_len)
{
	struct hmap_node *n = hmap_find(&p->users, id, id_len);
	struct pool_user *u;

	if (n)
		return container_of(n, struct pool_user, node);
	u = calloc(1, sizeof(*u) + id_len + 1);
	if (!u)
		return NULL;
	memcpy(u->id, id, id_len);
	u->id_len = id_len;
	list_init(&u->entries);
	list_init(&u->idle);
	hmap_insert(&p->users, &u->node, u->id, u->id_len);
	return u;
}

static void user_attach(struct pool_user *u, struct pool_entry *e)
{
	e->user = u;
	list_add_tail(&u->entries, &e->user_node);
	u->count++;
}

/* Takes e off its user, and frees the user when that was its last entry. */
static void user_detach(struct pool *p, struct pool_entry *e)
{
	struct pool_user *u = e->user;

	list_del(&e->user_node);
	e->user = NULL;
	if (--u->count > 0)
		return;
	hmap_remove(&p->users, &u->node);
	free(u);
}

/* ---- states: the only code that moves entries between state lists or counts them */

/*
 * Links n into an idle list (via idle_node or state_node) by last use, most
 * recent first. Entries normally go idle at the time of their last use, so the
 * walk stops at the head; it only goes further for a caller that set a state
 * without touching the entry, and keeps the sweep's early stop correct then.
 */
static void idle_list_insert(struct list_node *head, struct list_node *n, bool by_idle_node,
			     uint64_t last_used)
{
	struct list_node *pos = head;

	while (pos->next != head) {
		struct pool_entry *next = by_idle_node ? entry_of_idle_node(pos->next)
						       : entry_of_state_node(pos->next);
		if (next->last_used_mono_ms <= last_used)
			break;
		pos = pos->next;
	}
	list_insert_after(pos, n);
}

static void state_link(struct pool *p, struct pool_entry *e, enum entry_state s)
{
	e->state = s;
	if (s == ENTRY_IDLE) {
		idle_list_insert(&p->lists[s], &e->state_node, false, e->last_used_mono_ms);
		idle_list_insert(&e->user->idle, &e->idle_node, true, e->last_used_mono_ms);
	} else {
		list_add_head(&p->lists[s], &e->state_node);
	}
	p->counts[s]++;
}

static void state_unlink(struct pool *p, struct pool_entry *e)
{
	list_del(&e->state_node);
	list_del(&e->idle_node);
	p->counts[e->state]--;
}

static bool transition_allowed(const struct pool_entry *e, enum entry_state to)
{
	switch (e->state) {
	case ENTRY_STARTING:
		return (to == ENTRY_IDLE && e->inflight == 0) ||
		       (to == ENTRY_ACTIVE && e->inflight > 0) || to == ENTRY_DRAINING;
	case ENTRY_IDLE:
		return (to == ENTRY_ACTIVE && e->inflight > 0) || to == ENTRY_DRAINING;
	case ENTRY_ACTIVE:
		return (to == ENTRY_IDLE && e->inflight == 0) || to == ENTRY_DRAINING;
	case ENTRY_DRAINING:
		return false;
	}
	return false;
}

void pool_set_state(struct pool *p, struct pool_entry *e, enum entry_state s)
{
	if ((unsigned)s >= N_STATES || !transition_allowed(e, s)) {
		log_error("pool: bad state transition %s -> %s (inflight %u) of %s",
			  pool_state_name(e->state), pool_state_name(s), e->inflight, e->key);
		abort();
	}
	if (s == ENTRY_DRAINING)
		hmap_remove(&p->by_key, &e->key_node);
	state_unlink(p, e);
	state_link(p, e, s);
}

/* ---- the pool ------------------------------------------------------------- */

struct pool *pool_new(const struct pool_limits *limits, const struct pool_callbacks *cb, void *ctx)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (hmap_init(&p->by_key) < 0 || hmap_init(&p->users) < 0) {
		hmap_destroy(&p->by_key);
		hmap_destroy(&p->users);
		free(p);
		return NULL;
	}
	p->limits = *limits;
	p->ceiling = *limits;
	p->cb = *cb;
	p->ctx = ctx;
	for (int s = 0; s < N_STATES; s++)
		list_init(&p->lists[s]);
	return p;
}

static void entry_free(struct pool_entry *e)
{
	sodium_memzero(e->auth_hash, sizeof(e->auth_hash));
	free(e->key);
	free(e);
}

void pool_remove(struct pool *p, struct pool_entry *e)
{
	if (e->state != ENTRY_DRAINING)
		hmap_remove(&p->by_key, &e->key_node);
	state_unlink(p, e);
	user_detach(p, e);
	entry_free(e);
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	for (int s = 0; s < N_STATES; s++) {
		struct list_node *n, *tmp;

		list_for_each_safe(n, tmp, &p->lists[s])
			pool_remove(p, entry_of_state_node(n));
	}
	hmap_destroy(&p->by_key);
	hmap_destroy(&p->users);
	free(p);
}

/*
 * Writes "user:mcp" into buf when it fits, else into a new allocation (the
 * caller frees it when it is not buf). NULL on allocation failure.
 */
static char *key_build(char *buf, size_t bufsize, const char *user, const char *mcp,
		       size_t *keylen)
{
	size_t ulen = strlen(user), mlen = strlen(mcp);
	char *key = buf;

	*keylen = ulen + 1 + mlen;
	if (*keylen + 1 > bufsize && !(key = malloc(*keylen + 1)))
		return NULL;
	memcpy(key, user, ulen);
	key[ulen] = ':';
	memcpy(key + ulen + 1, mcp, mlen + 1);
	return key;
}

struct pool_entry *pool_lookup(struct pool *p, const char *user, const char *mcp)
{
	char buf[KEY_STACK_SIZE];
	size_t keylen;
	char *key = key_build(buf, sizeof(buf), user, mcp, &keylen);
	struct hmap_node *n;

	if (!key)
		return NULL;
	n = hmap_find(&p->by_key, key, keylen);
	if (key != buf)
		free(key);
	return n ? container_of(n, struct pool_entry, key_node) : NULL;
}

/* The pool decided to close e: the owner closes its connection, then e goes. */
static void entry_close(struct pool *p, struct pool_entry *e, const char *reason)
{
	p->cb.on_close(p->ctx, e, reason);
	pool_remove(p, e);
}

/*
 * Both limits hold before the call (pool_check() verifies it), so at most one
 * entry is ever closed: closing one at the user's limit also frees a place
 * under the total limit.
 */
int pool_make_room(struct pool *p, const char *user)
{
	struct pool_user *u = user_find(p, user);
	unsigned user_count = u ? u->count : 0, total = pool_total(p);
	struct list_node *lru;

	if (user_count >= p->limits.max_per_user) {
		lru = u ? list_last(&u->idle) : NULL;
		if (!lru || user_count > p->limits.max_per_user)
			return -1;
		entry_close(p, entry_of_idle_node(lru), "evicted: user limit");
		return 0;
	}
	if (total >= p->limits.max_total) {
		lru = list_last(&p->lists[ENTRY_IDLE]);
		if (!lru || total > p->limits.max_total)
			return -1;
		entry_close(p, entry_of_state_node(lru), "evicted: total limit");
	}
	return 0;
}

struct pool_entry *pool_insert(struct pool *p, const char *user, const char *mcp,
			       const unsigned char auth_hash[32], void *conn,
			       const struct pool_clock *now)
{
	struct pool_entry *e = calloc(1, sizeof(*e));
	size_t keylen;
	struct pool_user *u;

	if (!e)
		return NULL;
	e->key = key_build(NULL, 0, user, mcp, &keylen);
	e->user_len = strlen(user);
	u = e->key ? user_get(p, e->key, e->user_len) : NULL;
	if (!u) {
		free(e->key);
		free(e);
		return NULL;
	}
	if (hmap_insert(&p->by_key, &e->key_node, e->key, keylen)) {
		log_error("pool: insert of %s, which is already live", e->key);
		abort();
	}
	e->mcp = e->key + e->user_len + 1;
	memcpy(e->auth_hash, auth_hash, sizeof(e->auth_hash));
	e->conn = conn;
	e->generation = p->generation;
	e->create_wall_ms = now->wall_ms;
	e->last_used_wall_ms = now->wall_ms;
	e->last_used_mono_ms = now->mono_ms;
	list_init(&e->idle_node);
	user_attach(u, e);
	state_link(p, e, ENTRY_STARTING);
	return e;
}

static void entry_touch(struct pool_entry *e, const struct pool_clock *now)
{
	e->last_used_wall_ms = now->wall_ms;
	e->last_used_mono_ms = now->mono_ms;
}

void pool_request_begin(struct pool *p, struct pool_entry *e, const struct pool_clock *now)
{
	if (e->state == ENTRY_DRAINING) {
		log_error("pool: request begun on draining %s", e->key);
		abort();
	}
	e->inflight++;
	entry_touch(e, now);
	if (e->state == ENTRY_IDLE)
		pool_set_state(p, e, ENTRY_ACTIVE);
}

bool pool_request_end(struct pool *p, struct pool_entry *e, const struct pool_clock *now)
{
	if (e->inflight == 0) {
		log_error("pool: request ended on %s with nothing in flight", e->key);
		abort();
	}
	e->inflight--;
	entry_touch(e, now);
	if (e->inflight > 0)
		return false;
	if (e->state == ENTRY_ACTIVE)
		pool_set_state(p, e, ENTRY_IDLE);
	return e->state == ENTRY_DRAINING;
}

void pool_mark_ready(struct pool *p, struct pool_entry *e, const struct pool_clock *now)
{
	entry_touch(e, now);
	if (e->state == ENTRY_DRAINING)
		return;
	pool_set_state(p, e, e->inflight > 0 ? ENTRY_ACTIVE : ENTRY_IDLE);
}

bool pool_retire(struct pool *p, struct pool_entry *e, const char *reason)
{
	if (e->state == ENTRY_DRAINING)
		return false;
	if (e->inflight > 0) {
		pool_set_state(p, e, ENTRY_DRAINING);
		return false;
	}
	entry_close(p, e, reason);
	return true;
}

static bool idle_expired(const struct pool_entry *e, const struct pool_clock *now,
			 uint64_t timeout_ms)
{
	return now->mono_ms > e->last_used_mono_ms &&
	       now->mono_ms - e->last_used_mono_ms > timeout_ms;
}

size_t pool_sweep(struct pool *p, const struct pool_clock *now, uint64_t timeout_ms)
{
	struct list_node *n;
	size_t closed = 0;

	while ((n = list_last(&p->lists[ENTRY_IDLE]))) {
		struct pool_entry *e = entry_of_state_node(n);

		if (!idle_expired(e, now, timeout_ms))
			break;
		entry_close(p, e, "idle timeout");
		closed++;
	}
	return closed;
}

size_t pool_evict(struct pool *p, const char *user, const char *mcp)
{
	static const char reason[] = "evicted by request";
	struct pool_user *u;
	struct list_node *n, *next;
	size_t retired = 0;

	if (mcp) {
		struct pool_entry *e = pool_lookup(p, user, mcp);

		if (!e)
			return 0;
		pool_retire(p, e, reason);
		return 1;
	}
	u = user_find(p, user);
	if (!u)
		return 0;
	/*
	 * Retiring the user's last entry frees u and its list head with it; that
	 * entry is the only one left, so it is also the last node of the walk.
	 */
	for (n = u->entries.next; n != &u->entries; n = next) {
		struct pool_entry *e = list_entry(n, struct pool_entry, user_node);
		bool last = n->next == &u->entries;

		next = n->next;
		if (e->state != ENTRY_DRAINING) {
			pool_retire(p, e, reason);
			retired++;
		}
		if (last)
			break;
	}
	return retired;
}

/* ---- reloads ---------------------------------------------------------------- */

/* Closes u's least recently used idle entries while u is above max; returns how many. */
static size_t trim_user(struct pool *p, struct pool_user *u, unsigned max, unsigned *highest)
{
	size_t closed = 0;
	unsigned count = u->count;
	struct list_node *lru;

	/* Closing the user's last entry frees u: its count is read before. */
	while (count > max && (lru = list_last(&u->idle))) {
		bool last = --count == 0;

		entry_close(p, entry_of_idle_node(lru), "evicted: limit lowered");
		closed++;
		if (last)
			return closed;
	}
	if (count > *highest)
		*highest = count;
	return closed;
}

size_t pool_set_limits(struct pool *p, const struct pool_limits *limits)
{
	struct hmap_node *n, *next;
	struct list_node *lru;
	unsigned highest = 0;
	size_t closed = 0;

	p->limits = *limits;
	for (n = hmap_next(&p->users, NULL); n; n = next) {
		next = hmap_next(&p->users, n);
		closed += trim_user(p, container_of(n, struct pool_user, node),
				    limits->max_per_user, &highest);
	}
	while (pool_total(p) > limits->max_total && (lru = list_last(&p->lists[ENTRY_IDLE]))) {
		entry_close(p, entry_of_state_node(lru), "evicted: limit lowered");
		closed++;
	}
	p->ceiling.max_per_user = highest > limits->max_per_user ? highest : limits->max_per_user;
	p->ceiling.max_total = pool_total(p) > limits->max_total ? pool_total(p) : limits->max_total;
	return closed;
}

void pool_set_generation(struct pool *p, uint64_t generation)
{
	p->generation = generation;
}

uint64_t pool_oldest_generation(const struct pool *p)
{
	uint64_t oldest = UINT64_MAX;

	for (int s = 0; s < N_STATES; s++) {
		const struct list_node *n;

		list_for_each(n, &p->lists[s]) {
			const struct pool_entry *e = entry_of_state_node(n);

			if (e->generation < oldest)
				oldest = e->generation;
		}
	}
	return oldest;
}

size_t pool_retire_mcp(struct pool *p, const char *mcp, const char *reason)
{
	static const enum entry_state live[] = { ENTRY_STARTING, ENTRY_IDLE, ENTRY_ACTIVE };
	size_t retired = 0;

	/* A retired entry leaves its list (closed, or moved to DRAINING): the walk is safe. */
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		struct list_node *n, *tmp;

		list_for_each_safe(n, tmp, &p->lists[live[i]]) {
			struct pool_entry *e = entry_of_state_node(n);

			if (strcmp(e->mcp, mcp) != 0)
				continue;
			pool_retire(p, e, reason);
			retired++;
		}
	}
	return retired;
}

unsigned pool_total(const struct pool *p)
{
	unsigned total = 0;

	for (int s = 0; s < N_STATES; s++)
		total += p->counts[s];
	return total;
}

unsigned pool_users(const struct pool *p)
{
	return (unsigned)p->users.count; /* a user leaves the map with its last entry (user_detach) */
}

unsigned pool_user_count(const struct pool *p, const char *user)
{
	const struct pool_user *u = user_find(p, user);

	return u ? u->count : 0;
}

unsigned pool_state_count(const struct pool *p, enum entry_state s)
{
	return (unsigned)s < N_STATES ? p->counts[s] : 0;
}

void pool_foreach_user(const struct pool *p,
		       void (*fn)(void *arg, const char *user, unsigned count), void *arg)
{
	for (struct hmap_node *n = hmap_next(&p->users, NULL); n; n = hmap_next(&p->users, n)) {
		const struct pool_user *u = container_of(n, struct pool_user, node);

		fn(arg, u->id, u->count);
	}
}

void pool_foreach_entry(const struct pool *p,
			void (*fn)(void *arg, const struct pool_entry *e), void *arg)
{
	for (int s = 0; s < N_STATES; s++) {
		const struct list_node *n;

		list_for_each(n, &p->lists[s])
			fn(arg, list_entry(n, const struct pool_entry, state_node));
	}
}

/* ---- invariants ----------------------------------------------------------- */

#define CHECK(cond, ...)                                  \
	do {                                              \
		if (!(cond)) {                            \
			snprintf(err, errlen, __VA_ARGS__); \
			return -1;                        \
		}                                         \
	} while (0)

static int check_entry(const struct pool *p, const struct pool_entry *e, enum entry_state s,
		       char *err, size_t errlen)
{
	const struct hmap_node *found = hmap_find(&p->by_key, e->key, strlen(e->key));
	const struct pool_user *u = e->user;

	CHECK(e->state == s, "%s is %s on the %s list", e->key, pool_state_name(e->state),
	      pool_state_name(s));
	CHECK(s != ENTRY_IDLE || e->inflight == 0, "idle %s has %u in flight", e->key, e->inflight);
	CHECK(s != ENTRY_ACTIVE || e->inflight > 0, "active %s has nothing in flight", e->key);
	CHECK((s == ENTRY_IDLE) == list_linked(&e->idle_node),
	      "%s is %s but %son a user's idle list", e->key, pool_state_name(s),
	      list_linked(&e->idle_node) ? "" : "not ");
	CHECK((s != ENTRY_DRAINING) == (found == &e->key_node),
	      "%s is %s but %sreachable by key", e->key, pool_state_name(s),
	      found == &e->key_node ? "" : "not ");
	CHECK(e->key[e->user_len] == ':' && e->mcp == e->key + e->user_len + 1,
	      "%s: user_len or mcp does not match the key", e->key);
	CHECK(u && u->id_len == e->user_len && memcmp(u->id, e->key, e->user_len) == 0 &&
		      list_linked(&e->user_node),
	      "%s is not linked to its user", e->key);
	return 0;
}

static int check_idle_order(const struct list_node *head, bool by_idle_node, const char *what,
			    char *err, size_t errlen)
{
	const struct list_node *n;
	uint64_t newer = UINT64_MAX;

	list_for_each(n, head) {
		const struct pool_entry *e = by_idle_node ? entry_of_idle_node(n)
							  : entry_of_state_node(n);

		CHECK(e->last_used_mono_ms <= newer, "%s idle list out of order at %s", what, e->key);
		newer = e->last_used_mono_ms;
	}
	return 0;
}

static int check_states(const struct pool *p, char *err, size_t errlen)
{
	for (int s = 0; s < N_STATES; s++) {
		const struct list_node *n;
		unsigned len = 0;

		list_for_each(n, &p->lists[s]) {
			if (check_entry(p, list_entry(n, const struct pool_entry, state_node),
					(enum entry_state)s, err, errlen) < 0)
				return -1;
			len++;
		}
		CHECK(len == p->counts[s], "%s list holds %u entries, its counter says %u",
		      state_names[s], len, p->counts[s]);
	}
	CHECK(hmap_count(&p->by_key) == pool_total(p) - p->counts[ENTRY_DRAINING],
	      "key map holds %zu entries, %u are live and not draining",
	      hmap_count(&p->by_key), pool_total(p) - p->counts[ENTRY_DRAINING]);
	return check_idle_order(&p->lists[ENTRY_IDLE], false, "pool", err, errlen);
}

static int check_user(const struct pool *p, const struct pool_user *u, unsigned *idle,
		      char *err, size_t errlen)
{
	const struct list_node *n;
	unsigned len = 0;

	CHECK(u->count > 0, "user %s is kept with no entries", u->id);
	CHECK(u->count <= p->ceiling.max_per_user, "user %s has %u entries, above its limit %u",
	      u->id, u->count, p->ceiling.max_per_user);
	CHECK(user_find(p, u->id) == u, "user %s is not reachable by id", u->id);
	list_for_each(n, &u->entries) {
		CHECK(list_entry(n, const struct pool_entry, user_node)->user == u,
		      "an entry on user %s's list belongs to another user", u->id);
		len++;
	}
	CHECK(len == u->count, "user %s lists %u entries, its counter says %u", u->id, len,
	      u->count);
	list_for_each(n, &u->idle) {
		const struct pool_entry *e = list_entry(n, const struct pool_entry, idle_node);

		CHECK(e->user == u && e->state == ENTRY_IDLE,
		      "%s is on user %s's idle list but is %s or another user's", e->key, u->id,
		      pool_state_name(e->state));
		(*idle)++;
	}
	return check_idle_order(&u->idle, true, u->id, err, errlen);
}

static int check_users(const struct pool *p, char *err, size_t errlen)
{
	unsigned sum = 0, idle = 0, users = 0;

	for (struct hmap_node *n = hmap_next(&p->users, NULL); n; n = hmap_next(&p->users, n)) {
		const struct pool_user *u = container_of(n, struct pool_user, node);

		if (check_user(p, u, &idle, err, errlen) < 0)
			return -1;
		sum += u->count;
		users++;
	}
	CHECK(users == pool_users(p), "%u users walked, pool_users() says %u", users, pool_users(p));
	CHECK(sum == pool_total(p), "user counts add up to %u, the total is %u", sum,
	      pool_total(p));
	CHECK(idle == p->counts[ENTRY_IDLE], "user idle lists hold %u entries, the pool's %u",
	      idle, p->counts[ENTRY_IDLE]);
	CHECK(pool_total(p) <= p->ceiling.max_total, "%u entries, above the total limit %u",
	      pool_total(p), p->ceiling.max_total);
	return 0;
}

int pool_check(const struct pool *p, char *err, size_t errlen)
{
	if (check_states(p, err, errlen) < 0 || check_users(p, err, errlen) < 0)
		return -1;
	return 0;
}
