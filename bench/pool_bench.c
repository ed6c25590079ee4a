/* Synthetic in-process benchmark of the pool's bookkeeping: prints a Markdown table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"
#include "util.h"

#define OPS 1000000u        /* lookups and touches timed per size */
#define MIN_SWEPT 1000000u  /* sweep and walk repeat until this many entries were seen */

struct names {
	unsigned n, nusers;
	char **user, **mcp;     /* entry i is user[i % nusers] : mcp[i] */
};

static volatile uintptr_t sink;
static const unsigned char zero_hash[32];

static char *xstrdup_printf(const char *fmt, unsigned i)
{
	char buf[32];
	char *s;

	snprintf(buf, sizeof(buf), fmt, i);
	s = strdup(buf);
	if (!s) {
		perror("strdup");
		exit(1);
	}
	return s;
}

/* Names of n entries over n/10 users, and extra mcp names for fresh inserts. */
static void names_init(struct names *nm, unsigned n, unsigned extra)
{
	nm->n = n;
	nm->nusers = n / 10 ? n / 10 : 1;
	nm->user = calloc(nm->nusers, sizeof(*nm->user));
	nm->mcp = calloc(n + extra, sizeof(*nm->mcp));
	if (!nm->user || !nm->mcp) {
		perror("calloc");
		exit(1);
	}
	for (unsigned i = 0; i < nm->nusers; i++)
		nm->user[i] = xstrdup_printf("user%u", i);
	for (unsigned i = 0; i < n + extra; i++)
		nm->mcp[i] = xstrdup_printf("mcp%u", i);
}

static void names_free(struct names *nm, unsigned extra)
{
	for (unsigned i = 0; i < nm->nusers; i++)
		free(nm->user[i]);
	for (unsigned i = 0; i < nm->n + extra; i++)
		free(nm->mcp[i]);
	free(nm->user);
	free(nm->mcp);
}

static void count_close(void *ctx, struct pool_entry *e, const char *reason)
{
	(void)e;
	(void)reason;
	(*(unsigned long *)ctx)++;
}

static struct pool *bench_pool(unsigned max_total, unsigned long *closed)
{
	struct pool_limits limits = { .max_per_user = max_total, .max_total = max_total };
	struct pool_callbacks cb = { .on_close = count_close };
	struct pool *p = pool_new(&limits, &cb, closed);

	if (!p) {
		fputs("pool_new failed\n", stderr);
		exit(1);
	}
	return p;
}

/* Inserts entry i of nm as IDLE, last used at mono ms. */
static struct pool_entry *add_idle(struct pool *p, const struct names *nm, unsigned i, uint64_t ms)
{
	struct pool_clock now = { .wall_ms = ms, .mono_ms = ms };
	struct pool_entry *e;

	if (pool_make_room(p, nm->user[i % nm->nusers]) < 0)
		goto fail;
	e = pool_insert(p, nm->user[i % nm->nusers], nm->mcp[i], zero_hash, NULL, &now);
	if (!e)
		goto fail;
	pool_mark_ready(p, e, &now);
	return e;
fail:
	fprintf(stderr, "cannot add entry %u\n", i);
	exit(1);
}

static struct pool *filled_pool(const struct names *nm, unsigned max_total, unsigned long *closed)
{
	struct pool *p = bench_pool(max_total, closed);

	for (unsigned i = 0; i < nm->n; i++)
		add_idle(p, nm, i, i);
	return p;
}

/* Visits entries in a scattered order, so that caches do not flatter the numbers. */
static unsigned scatter(unsigned i, unsigned n)
{
	return (unsigned)(((uint64_t)i * 2654435761u) % n);
}

static double bench_lookup(struct pool *p, const struct names *nm)
{
	uint64_t t0 = now_ns();

	for (unsigned i = 0; i < OPS; i++) {
		unsigned k = scatter(i, nm->n);

		sink += (uintptr_t)pool_lookup(p, nm->user[k % nm->nusers], nm->mcp[k]);
	}
	return (double)(now_ns() - t0) / OPS;
}

static double bench_touch(struct pool *p, const struct names *nm, struct pool_entry **entries)
{
	struct pool_clock now = { .wall_ms = nm->n, .mono_ms = nm->n };
	uint64_t t0 = now_ns();

	for (unsigned i = 0; i < OPS; i++) {
		struct pool_entry *e = entries[scatter(i, nm->n)];

		now.mono_ms++;
		pool_request_begin(p, e, &now);
		sink += pool_request_end(p, e, &now);
	}
	return (double)(now_ns() - t0) / OPS;
}

/*
 * make_room + insert + mark_ready with the pool at its total limit: every
 * insert evicts the LRU, and the new entry becomes idle to be evicted later.
 */
static double bench_evict_insert(const struct names *nm, unsigned fresh)
{
	unsigned long closed = 0;
	struct pool *p = filled_pool(nm, nm->n, &closed);
	struct pool_clock now = { .wall_ms = nm->n, .mono_ms = nm->n };
	uint64_t t0 = now_ns();

	for (unsigned i = 0; i < fresh; i++) {
		const char *user = nm->user[i % nm->nusers];

		struct pool_entry *e;

		now.mono_ms++;
		if (pool_make_room(p, user) < 0 ||
		    !(e = pool_insert(p, user, nm->mcp[nm->n + i], zero_hash, NULL, &now))) {
			fputs("evict+insert failed\n", stderr);
			exit(1);
		}
		pool_mark_ready(p, e, &now);
	}
	t0 = now_ns() - t0;
	if (closed != fresh) {
		fprintf(stderr, "expected %u evictions, saw %lu\n", fresh, closed);
		exit(1);
	}
	pool_free(p);
	return (double)t0 / fresh;
}

/* Sweeps a pool of n idle entries, all expired; repeated to see enough entries. */
static void bench_sweep(const struct names *nm, double *per_entry, double *total_us)
{
	unsigned rounds = (MIN_SWEPT + nm->n - 1) / nm->n;
	struct pool_clock later = { .wall_ms = 0, .mono_ms = UINT64_MAX / 2 };
	uint64_t spent = 0;

	for (unsigned r = 0; r < rounds; r++) {
		unsigned long closed = 0;
		struct pool *p = filled_pool(nm, nm->n, &closed);
		uint64_t t0 = now_ns();
		size_t swept = pool_sweep(p, &later, 0);

		spent += now_ns() - t0;
		if (swept != nm->n || closed != nm->n) {
			fprintf(stderr, "sweep closed %zu of %u\n", swept, nm->n);
			exit(1);
		}
		pool_free(p);
	}
	*per_entry = (double)spent / ((double)rounds * nm->n);
	*total_us = (double)spent / rounds / 1000.0;
}

/* What a pool-status walk reads of each entry. */
static void status_visit(void *arg, const struct pool_entry *e)
{
	(void)arg;
	sink += (uintptr_t)e->key[0] + e->user_len + e->last_used_wall_ms + e->create_wall_ms +
		e->inflight + (uintptr_t)e->state;
}

static void bench_walk(struct pool *p, unsigned n, double *per_entry, double *total_us)
{
	unsigned rounds = (MIN_SWEPT + n - 1) / n;
	uint64_t t0 = now_ns(), spent;

	for (unsigned r = 0; r < rounds; r++)
		pool_foreach_entry(p, status_visit, NULL);
	spent = now_ns() - t0;
	*per_entry = (double)spent / ((double)rounds * n);
	*total_us = (double)spent / rounds / 1000.0;
}

#define ROUNDS 5
enum figure { F_LOOKUP, F_TOUCH, F_EVICT, F_SWEEP_EACH, F_SWEEP_ALL, F_WALK_EACH, F_WALK_ALL, NFIGURES };

/* One round at n entries: every figure of the row into f[figure][round]. */
static void bench_round(unsigned n, const struct names *nm, unsigned fresh, unsigned round,
			double f[NFIGURES][ROUNDS])
{
	unsigned long closed = 0;
	struct pool_entry **entries = calloc(n, sizeof(*entries));
	struct pool *p;

	if (!entries) {
		perror("calloc");
		exit(1);
	}
	p = bench_pool(n + 1, &closed);
	for (unsigned i = 0; i < n; i++)
		entries[i] = add_idle(p, nm, i, i);
	f[F_LOOKUP][round] = bench_lookup(p, nm);
	f[F_TOUCH][round] = bench_touch(p, nm, entries);
	bench_walk(p, n, &f[F_WALK_EACH][round], &f[F_WALK_ALL][round]);
	pool_free(p);
	f[F_EVICT][round] = bench_evict_insert(nm, fresh);
	bench_sweep(nm, &f[F_SWEEP_EACH][round], &f[F_SWEEP_ALL][round]);
	free(entries);
}

static void bench_size(unsigned n)
{
	static const enum figure order[] = { F_LOOKUP, F_TOUCH, F_EVICT, F_SWEEP_EACH, F_SWEEP_ALL,
					     F_WALK_EACH, F_WALK_ALL };
	unsigned fresh = n > 100000 ? n : 100000;
	double f[NFIGURES][ROUNDS];
	struct names nm;

	names_init(&nm, n, fresh);
	for (unsigned r = 0; r < ROUNDS; r++)
		bench_round(n, &nm, fresh, r, f);
	printf("| %u | %u |", n, nm.nusers);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		putchar(' ');
		spread_print(f[order[i]], ROUNDS, 1);
		fputs(" |", stdout);
	}
	putchar('\n');
	names_free(&nm, fresh);
}

int main(void)
{
	static const unsigned sizes[] = { 100, 10000, 100000 };

	printf("Each figure: median of %d rounds (min–max), a round building its pool anew.\n\n", ROUNDS);
	puts("| entries | users | lookup hit (ns/op) | request begin+end (ns/op) "
	     "| make_room+insert+ready at total limit (ns/op) | sweep (ns/entry) | sweep all (µs) "
	     "| foreach_entry (ns/entry) | foreach_entry all (µs) |");
	puts("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		bench_size(sizes[i]);
	return 0;
}
