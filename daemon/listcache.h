/*
 * The cache of cacheable list results: tools/list, prompts/list,
 * resources/list, resources/templates/list and resources/read.
 *
 * A result is stored under a scope and a request (method + params text):
 * - a modern server's result with ttlMs: scope "private" is its pool entry
 *   (the user's key and auth hash: a different auth is a different scope),
 *   "public" the catalog entry, shared by every user of it;
 * - a legacy server that declared listChanged: its connection, until the
 *   server's notifications/.../list_changed or the connection's end.
 * The cache holds at most max_bytes of results (keys and results counted);
 * past that the least recently used go first. Expired results are dropped
 * when met. Results are copied in; a hit hands out the cache's own text,
 * valid until the next call on the cache: a result with a ttlMs gets the
 * time it has left in place of the server's, so that no one downstream
 * keeps it past the server's expiry.
 */
#ifndef MCPPOOL_LISTCACHE_H
#define MCPPOOL_LISTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "jsontext.h"
#include "list.h"

#define LISTCACHE_FOREVER UINT64_MAX /* an expiry that never comes: until dropped */

struct listcache {
	struct hmap entries; /* key (scope, method, params) -> struct cache_entry */
	struct hmap scopes;  /* scope name -> struct cache_scope */
	struct list_node lru; /* entries, most recently used first */
	size_t max_bytes;
	size_t bytes;
	struct jbuf aged; /* a hit's text with its ttlMs counted down */
	uint64_t hits, misses, stores, evictions;
};

/* An empty cache of at most max_bytes (0: caches nothing). 0, or -1 when out of memory. */
int listcache_init(struct listcache *c, size_t max_bytes);

/* Frees every entry; after it, puts store nothing and drops find nothing (a late close is harmless). */
void listcache_destroy(struct listcache *c);

/* True when method's results may be cached at all. */
bool listcache_method(const char *method, size_t len);

/*
 * The result stored for (scope, method, params) and not expired at now_ms, or
 * NULL; counts a hit or a miss. *len gets its length. A lookup allocates
 * nothing unless its key (scope, method and params) passes 512 bytes.
 */
const char *listcache_get(struct listcache *c, const char *scope, const char *method,
			  const char *params, size_t params_len, uint64_t now_ms, size_t *len);

/*
 * listcache_get() without counting: for a request looked up under more than
 * one scope, counted once by the caller with listcache_note().
 */
const char *listcache_peek(struct listcache *c, const char *scope, const char *method,
			   const char *params, size_t params_len, uint64_t now_ms, size_t *len);

/* Counts one lookup: a hit, or a miss. */
static inline void listcache_note(struct listcache *c, bool hit)
{
	if (hit)
		c->hits++;
	else
		c->misses++;
}

/*
 * Stores result (len bytes) for (scope, method, params) until expires_ms,
 * replacing what was there. A result larger than an eighth of the cache is
 * not stored (it would flush everything else). 0, or -1 when not stored.
 */
int listcache_put(struct listcache *c, const char *scope, const char *method,
		  const char *params, size_t params_len, const char *result, size_t len,
		  uint64_t expires_ms);

/*
 * Drops scope's results whose method starts with prefix (NULL: all of them):
 * a list_changed notification, or the end of the connection that was the scope.
 */
void listcache_drop(struct listcache *c, const char *scope, const char *prefix);

/*
 * Drops every result and bounds the cache at max_bytes from now on (a
 * reload); the counters go on.
 */
void listcache_reset(struct listcache *c, size_t max_bytes);

/*
 * False when params (JSON text of a request's params, may be NULL) carry
 * inputResponses or requestState: the result of a multi round-trip retry
 * depends on inputs outside the key and is never cached (nor looked up).
 */
bool listcache_params_cacheable(const char *params, size_t len);

/*
 * Reads a modern server's caching hints from its result (JSON text of the
 * result object): true when it may be stored, that is when its resultType is
 * "complete" (or absent) and its ttlMs is positive; *ttl_ms gets ttlMs
 * (capped at a day), *public whether cacheScope is "public" (anything else,
 * or none, is private).
 */
bool listcache_hints(const char *result, size_t len, uint64_t *ttl_ms, bool *public);

/* Results stored now. */
static inline size_t listcache_count(const struct listcache *c)
{
	return hmap_count(&c->entries);
}

#endif
