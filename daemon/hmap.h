/* Intrusive string-keyed hash map: chaining, power-of-two buckets, keyed SipHash. */
#ifndef MCPPOOL_HMAP_H
#define MCPPOOL_HMAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * A node is embedded in the object it indexes; the map never allocates or
 * frees nodes, only its bucket array. The key bytes are not copied: they must
 * stay valid and unchanged while the node is in a map (point them into the
 * object itself). Keys are byte strings of a given length (NUL is allowed).
 *
 * Buckets are hashed with SipHash-2-4 (libsodium's crypto_shorthash) under a
 * random key drawn for each map, so peers who choose user ids or names cannot
 * pile them into one chain. The bucket array doubles once the load factor
 * would exceed 1, so chains stay O(1) long on average.
 */
struct hmap_node {
	struct hmap_node *next;   /* the bucket's chain */
	const char *key;
	size_t keylen;
	uint64_t hash;
};

struct hmap {
	struct hmap_node **buckets;
	size_t mask;              /* number of buckets - 1 */
	size_t count;
	unsigned char seed[16];   /* crypto_shorthash_KEYBYTES */
};

/*
 * Initialises an empty map with a fresh random seed (initialising libsodium if
 * needed). Returns 0, or -1 when libsodium cannot start or on allocation
 * failure (m is then safe to pass to hmap_destroy()).
 */
int hmap_init(struct hmap *m);

/* Frees the bucket array; the nodes are the caller's. Safe on a zeroed or failed map. */
void hmap_destroy(struct hmap *m);

/*
 * Links n under key[0..keylen) unless that key is present. Returns NULL when n
 * was inserted, or the node already holding the key (n is then not linked).
 * Never fails: when the bucket array cannot grow, chains just get longer.
 */
struct hmap_node *hmap_insert(struct hmap *m, struct hmap_node *n, const char *key, size_t keylen);

/* The node holding key[0..keylen), or NULL. */
struct hmap_node *hmap_find(const struct hmap *m, const char *key, size_t keylen);

/* Unlinks n, which must be in m (abort()s with a message otherwise). */
void hmap_remove(struct hmap *m, struct hmap_node *n);

/*
 * Iteration in no particular order: hmap_next(m, NULL) is the first node,
 * hmap_next(m, n) the one after n; NULL at the end. A walk sees each node
 * once if the map is not modified, except that the caller may remove the
 * node it holds after fetching its successor.
 */
struct hmap_node *hmap_next(const struct hmap *m, const struct hmap_node *n);

static inline size_t hmap_count(const struct hmap *m)
{
	return m->count;
}

#endif
