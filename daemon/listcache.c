/* The cache of cacheable list results (see listcache.h). */
#include <stdlib.h>
#include <string.h>

#include "listcache.h"

/* The results of one scope, so that a scope's end drops them without a walk of all. */
struct cache_scope {
	struct hmap_node node;
	struct list_node entries; /* struct cache_entry.in_scope */
	size_t len;
	char name[];
};

struct cache_entry {
	struct hmap_node node;
	struct list_node lru;
	struct list_node in_scope;
	struct cache_scope *scope;
	uint64_t expires_ms;
	char *result;
	size_t result_len;
	size_t method_off; /* key + method_off: the method, NUL-terminated */
	size_t keylen;
	char key[];        /* scope NUL method NUL params */
};

static const char *const cacheable[] = {
	"tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read",
};

bool listcache_method(const char *method, size_t len)
{
	for (size_t i = 0; i < sizeof(cacheable) / sizeof(cacheable[0]); i++)
		if (strlen(cacheable[i]) == len && memcmp(cacheable[i], method, len) == 0)
			return true;
	return false;
}

int listcache_init(struct listcache *c, size_t max_bytes)
{
	memset(c, 0, sizeof(*c));
	list_init(&c->lru);
	c->max_bytes = max_bytes;
	if (hmap_init(&c->entries) || hmap_init(&c->scopes)) {
		hmap_destroy(&c->entries);
		hmap_destroy(&c->scopes);
		return -1;
	}
	return 0;
}

static size_t entry_bytes(const struct cache_entry *e)
{
	return e->keylen + e->result_len;
}

/* The one place an entry goes: out of both maps and lists, its scope freed when empty. */
static void entry_free(struct listcache *c, struct cache_entry *e)
{
	struct cache_scope *s = e->scope;

	hmap_remove(&c->entries, &e->node);
	list_del(&e->lru);
	list_del(&e->in_scope);
	c->bytes -= entry_bytes(e);
	if (list_empty(&s->entries)) {
		hmap_remove(&c->scopes, &s->node);
		free(s);
	}
	free(e->result);
	free(e);
}

void listcache_destroy(struct listcache *c)
{
	while (!list_empty(&c->lru))
		entry_free(c, list_entry(c->lru.next, struct cache_entry, lru));
	hmap_destroy(&c->entries);
	hmap_destroy(&c->scopes);
}

/* The key of (scope, method, params) in a new buffer; *method_off where the method starts. */
static char *key_make(const char *scope, const char *method, const char *params, size_t params_len,
		      size_t *keylen, size_t *method_off)
{
	size_t sl = strlen(scope), ml = strlen(method);
	char *k;

	*keylen = sl + 1 + ml + 1 + params_len;
	if (!(k = malloc(*keylen ? *keylen : 1)))
		return NULL;
	memcpy(k, scope, sl + 1);
	memcpy(k + sl + 1, method, ml + 1);
	if (params_len)
		memcpy(k + sl + 1 + ml + 1, params, params_len);
	*method_off = sl + 1;
	return k;
}

static struct cache_entry *entry_find(struct listcache *c, const char *scope, const char *method,
				      const char *params, size_t params_len)
{
	size_t keylen, off;
	char *k = key_make(scope, method, params, params_len, &keylen, &off);
	struct hmap_node *n;

	if (!k)
		return NULL;
	n = hmap_find(&c->entries, k, keylen);
	free(k);
	return n ? container_of(n, struct cache_entry, node) : NULL;
}

const char *listcache_get(struct listcache *c, const char *scope, const char *method,
			  const char *params, size_t params_len, uint64_t now_ms, size_t *len)
{
	struct cache_entry *e = entry_find(c, scope, method, params, params_len);

	if (e && e->expires_ms <= now_ms) {
		entry_free(c, e);
		e = NULL;
	}
	if (!e) {
		c->misses++;
		return NULL;
	}
	c->hits++;
	list_del(&e->lru);
	list_add_head(&c->lru, &e->lru);
	*len = e->result_len;
	return e->result;
}

/* The scope called name, made if there is none yet; NULL when out of memory. */
static struct cache_scope *scope_get(struct listcache *c, const char *name)
{
	size_t len = strlen(name);
	struct hmap_node *n = hmap_find(&c->scopes, name, len);
	struct cache_scope *s;

	if (n)
		return container_of(n, struct cache_scope, node);
	if (!(s = malloc(sizeof(*s) + len + 1)))
		return NULL;
	memcpy(s->name, name, len + 1);
	s->len = len;
	list_init(&s->entries);
	hmap_insert(&c->scopes, &s->node, s->name, s->len);
	return s;
}

int listcache_put(struct listcache *c, const char *scope, const char *method,
		  const char *params, size_t params_len, const char *result, size_t len,
		  uint64_t expires_ms)
{
	struct cache_entry *e, *old;
	struct cache_scope *s;
	size_t keylen, off;
	char *k;

	if (!(k = key_make(scope, method, params, params_len, &keylen, &off)))
		return -1;
	if (keylen + len > c->max_bytes / 8 || !(e = malloc(sizeof(*e) + keylen))) {
		free(k);
		return -1;
	}
	memcpy(e->key, k, keylen);
	free(k);
	e->keylen = keylen;
	e->method_off = off;
	e->expires_ms = expires_ms;
	e->result_len = len;
	if (!(e->result = malloc(len ? len : 1))) {
		free(e);
		return -1;
	}
	memcpy(e->result, result, len);
	if ((old = entry_find(c, scope, method, params, params_len)))
		entry_free(c, old);
	if (!(s = scope_get(c, scope))) {
		free(e->result);
		free(e);
		return -1;
	}
	e->scope = s;
	hmap_insert(&c->entries, &e->node, e->key, e->keylen);
	list_add_head(&s->entries, &e->in_scope);
	list_add_head(&c->lru, &e->lru);
	c->bytes += entry_bytes(e);
	c->stores++;
	/* The least recently used go until the cache fits (never the one just stored). */
	while (c->bytes > c->max_bytes) {
		struct cache_entry *last = list_entry(c->lru.prev, struct cache_entry, lru);

		if (last == e)
			break;
		entry_free(c, last);
		c->evictions++;
	}
	return 0;
}

void listcache_drop(struct listcache *c, const char *scope, const char *prefix)
{
	struct hmap_node *n = hmap_find(&c->scopes, scope, strlen(scope));
	struct cache_scope *s;
	struct list_node *pos, *tmp;
	size_t plen = prefix ? strlen(prefix) : 0;

	if (!n)
		return;
	s = container_of(n, struct cache_scope, node);
	/* The scope may go with its last entry: stop before touching it again. */
	for (pos = s->entries.next, tmp = pos->next; pos != &s->entries; pos = tmp, tmp = pos->next) {
		struct cache_entry *e = list_entry(pos, struct cache_entry, in_scope);
		bool last = tmp == &s->entries;

		if (!prefix || strncmp(e->key + e->method_off, prefix, plen) == 0)
			entry_free(c, e);
		if (last)
			break;
	}
}
