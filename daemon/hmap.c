/* Intrusive string-keyed hash map. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hmap.h"

#define HMAP_INITIAL_BUCKETS 8

_Static_assert(sizeof(((struct hmap *)0)->seed) == crypto_shorthash_KEYBYTES,
	       "hmap seed must be a crypto_shorthash key");
_Static_assert(crypto_shorthash_BYTES == sizeof(uint64_t), "SipHash output is 64 bits");

static uint64_t hmap_hash(const struct hmap *m, const char *key, size_t keylen)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, (const unsigned char *)key, keylen, m->seed);
	memcpy(&h, out, sizeof(h));
	return h;
}

static bool node_has_key(const struct hmap_node *n, uint64_t hash, const char *key, size_t keylen)
{
	return n->hash == hash && n->keylen == keylen && memcmp(n->key, key, keylen) == 0;
}

int hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof(*m));
	if (sodium_init() < 0)
		return -1;
	m->buckets = calloc(HMAP_INITIAL_BUCKETS, sizeof(*m->buckets));
	if (!m->buckets)
		return -1;
	m->mask = HMAP_INITIAL_BUCKETS - 1;
	randombytes_buf(m->seed, sizeof(m->seed));
	return 0;
}

void hmap_destroy(struct hmap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->mask = 0;
	m->count = 0;
	sodium_memzero(m->seed, sizeof(m->seed));
}

/* Doubles the bucket array, rehashing from the stored hashes. */
static void hmap_grow(struct hmap *m)
{
	size_t nbuckets = (m->mask + 1) * 2;
	struct hmap_node **b = calloc(nbuckets, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i <= m->mask; i++) {
		struct hmap_node *n = m->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (nbuckets - 1)];
			b[n->hash & (nbuckets - 1)] = n;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->mask = nbuckets - 1;
}

struct hmap_node *hmap_insert(struct hmap *m, struct hmap_node *n, const char *key, size_t keylen)
{
	uint64_t hash = hmap_hash(m, key, keylen);
	struct hmap_node **bucket = &m->buckets[hash & m->mask];

	for (struct hmap_node *o = *bucket; o; o = o->next)
		if (node_has_key(o, hash, key, keylen))
			return o;
	if (m->count + 1 > m->mask + 1) {
		hmap_grow(m);
		bucket = &m->buckets[hash & m->mask];
	}
	n->key = key;
	n->keylen = keylen;
	n->hash = hash;
	n->next = *bucket;
	*bucket = n;
	m->count++;
	return NULL;
}

struct hmap_node *hmap_find(const struct hmap *m, const char *key, size_t keylen)
{
	uint64_t hash = hmap_hash(m, key, keylen);

	for (struct hmap_node *n = m->buckets[hash & m->mask]; n; n = n->next)
		if (node_has_key(n, hash, key, keylen))
			return n;
	return NULL;
}

void hmap_remove(struct hmap *m, struct hmap_node *n)
{
	struct hmap_node **pp = &m->buckets[n->hash & m->mask];

	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (!*pp) {
		fputs("hmap_remove: node is not in the map\n", stderr);
		abort();
	}
	*pp = n->next;
	n->next = NULL;
	m->count--;
}

struct hmap_node *hmap_next(const struct hmap *m, const struct hmap_node *n)
{
	size_t i = 0;

	if (n) {
		if (n->next)
			return n->next;
		i = (n->hash & m->mask) + 1;
	}
	for (; i <= m->mask && m->buckets; i++)
		if (m->buckets[i])
			return m->buckets[i];
	return NULL;
}
