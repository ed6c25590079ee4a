/* The cache of cacheable list results (see listcache.h). */
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"
#include "listcache.h"

#define TTL_MAX_MS (24ULL * 60 * 60 * 1000) /* a longer ttlMs counts as a day */

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
	size_t ttl_at, ttl_len; /* result's top-level ttlMs value, rewritten at each hit; 0 long: none */
	size_t method_off; /* key + method_off: the method, NUL-terminated */
	size_t keylen;
	char key[];        /* scope NUL method NUL params */
};

/* What a modern result's top-level members say of its caching; the ttlMs value's place in it. */
struct hints {
	uint64_t ttl_ms;
	bool public, complete;
	size_t ttl_at, ttl_end;
};

static bool hints_read(const char *result, size_t len, struct hints *h);

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
	jbuf_init(&c->aged);
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

static void entries_free(struct listcache *c)
{
	while (!list_empty(&c->lru))
		entry_free(c, list_entry(c->lru.next, struct cache_entry, lru));
}

void listcache_destroy(struct listcache *c)
{
	entries_free(c);
	jbuf_free(&c->aged);
	hmap_destroy(&c->entries);
	hmap_destroy(&c->scopes);
	c->max_bytes = 0; /* a put now stores nothing, and a drop finds no scope */
}

void listcache_reset(struct listcache *c, size_t max_bytes)
{
	entries_free(c);
	c->max_bytes = max_bytes;
}

/* Bytes of a key that lookups build on the stack. */
#define KEY_STACK 512

/* Writes the key of (scope, method, params) into k (keylen bytes: see key_len). */
static void key_fill(char *k, const char *scope, const char *method, const char *params,
		     size_t params_len, size_t *method_off)
{
	size_t sl = strlen(scope), ml = strlen(method);

	memcpy(k, scope, sl + 1);
	memcpy(k + sl + 1, method, ml + 1);
	if (params_len)
		memcpy(k + sl + 1 + ml + 1, params, params_len);
	*method_off = sl + 1;
}

static size_t key_len(const char *scope, const char *method, size_t params_len)
{
	return strlen(scope) + 1 + strlen(method) + 1 + params_len;
}

static struct cache_entry *entry_find(struct listcache *c, const char *scope, const char *method,
				      const char *params, size_t params_len)
{
	size_t keylen = key_len(scope, method, params_len), off;
	char local[KEY_STACK], *k = keylen <= sizeof(local) ? local : malloc(keylen);
	struct hmap_node *n;

	if (!k)
		return NULL;
	key_fill(k, scope, method, params, params_len, &off);
	n = hmap_find(&c->entries, k, keylen);
	if (k != local)
		free(k);
	return n ? container_of(n, struct cache_entry, node) : NULL;
}

/*
 * e's result with its ttlMs the time it has left at now_ms (a client must
 * not keep it past the server's expiry), in c's scratch buffer; the stored
 * text when out of memory.
 */
static const char *aged(struct listcache *c, const struct cache_entry *e, uint64_t now_ms, size_t *len)
{
	char left[24];
	int n = snprintf(left, sizeof(left), "%llu", (unsigned long long)(e->expires_ms - now_ms));
	size_t tail = e->ttl_at + e->ttl_len;

	jbuf_reset(&c->aged, 64 * 1024);
	if (jbuf_append(&c->aged, e->result, e->ttl_at) < 0 || jbuf_append(&c->aged, left, (size_t)n) < 0 ||
	    jbuf_append(&c->aged, e->result + tail, e->result_len - tail) < 0) {
		*len = e->result_len;
		return e->result;
	}
	*len = c->aged.len;
	return c->aged.data;
}

const char *listcache_peek(struct listcache *c, const char *scope, const char *method,
			   const char *params, size_t params_len, uint64_t now_ms, size_t *len)
{
	struct cache_entry *e = entry_find(c, scope, method, params, params_len);

	if (e && e->expires_ms <= now_ms) {
		entry_free(c, e);
		e = NULL;
	}
	if (!e)
		return NULL;
	list_del(&e->lru);
	list_add_head(&c->lru, &e->lru);
	return e->ttl_len ? aged(c, e, now_ms, len) : (*len = e->result_len, e->result);
}

const char *listcache_get(struct listcache *c, const char *scope, const char *method,
			  const char *params, size_t params_len, uint64_t now_ms, size_t *len)
{
	const char *r = listcache_peek(c, scope, method, params, params_len, now_ms, len);

	listcache_note(c, r != NULL);
	return r;
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
	size_t keylen = key_len(scope, method, params_len), off;
	struct cache_entry *e, *old;
	struct cache_scope *s;

	if (keylen + len > c->max_bytes / 8 || !(e = malloc(sizeof(*e) + keylen)))
		return -1;
	key_fill(e->key, scope, method, params, params_len, &off);
	e->keylen = keylen;
	e->method_off = off;
	e->expires_ms = expires_ms;
	e->result_len = len;
	e->ttl_at = e->ttl_len = 0;
	if (expires_ms != LISTCACHE_FOREVER) {
		struct hints h;

		if (hints_read(result, len, &h) && h.ttl_end > h.ttl_at) {
			e->ttl_at = h.ttl_at;
			e->ttl_len = h.ttl_end - h.ttl_at;
		}
	}
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
	struct hmap_node *n = hmap_count(&c->scopes) ? hmap_find(&c->scopes, scope, strlen(scope)) : NULL;
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

bool listcache_params_cacheable(const char *params, size_t len)
{
	/*
	 * The daemon writes an app's params itself (jsontext_from_msgpack), member
	 * names unescaped: a name is found as its quoted text. A string value that
	 * holds such text too only costs a miss.
	 */
	return !params || (!memmem(params, len, "\"inputResponses\"", 16) &&
			   !memmem(params, len, "\"requestState\"", 14));
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Advances *pos past JSON whitespace. */
static void skip_ws(const char *t, size_t len, size_t *pos)
{
	while (*pos < len && is_ws(t[*pos]))
		(*pos)++;
}

/* True when t[start, end) is exactly lit. */
static bool text_is(const char *t, size_t start, size_t end, const char *lit)
{
	size_t n = strlen(lit);

	return end - start == n && memcmp(t + start, lit, n) == 0;
}

/* The number t[start, end) in milliseconds, 0 when negative or not a number. */
static uint64_t ttl_of(const char *t, size_t start, size_t end)
{
	char num[40], *stop;
	double v;

	if (end - start >= sizeof(num))
		return t[start] == '-' ? 0 : TTL_MAX_MS; /* a number this long is huge */
	memcpy(num, t + start, end - start);
	num[end - start] = '\0';
	v = strtod(num, &stop);
	if (stop == num || !(v > 0))
		return 0;
	return v >= (double)TTL_MAX_MS ? TTL_MAX_MS : (uint64_t)v;
}

/* Reads result's top-level members into h; false when result is not a JSON object. */
static bool hints_read(const char *result, size_t len, struct hints *h)
{
	size_t pos = 0, key, key_end, val, val_end;
	char err[80];

	memset(h, 0, sizeof(*h));
	h->complete = true;
	skip_ws(result, len, &pos);
	if (pos >= len || result[pos++] != '{')
		return false;
	for (;;) {
		skip_ws(result, len, &pos);
		if (pos < len && result[pos] == '}')
			break;
		key = pos;
		if (pos >= len || result[pos] != '"' ||
		    jsontext_skip(result, len, &pos, 1, err, sizeof(err)) < 0)
			return false;
		key_end = pos;
		while (key_end > key && result[key_end - 1] != '"') /* the whitespace after it */
			key_end--;
		if (pos >= len || result[pos++] != ':')
			return false;
		skip_ws(result, len, &pos);
		val = pos;
		if (jsontext_skip(result, len, &pos, JSONTEXT_MAX_DEPTH, err, sizeof(err)) < 0)
			return false;
		val_end = pos;
		while (val_end > val && is_ws(result[val_end - 1]))
			val_end--;
		if (text_is(result, key, key_end, "\"ttlMs\"")) {
			h->ttl_ms = ttl_of(result, val, val_end);
			h->ttl_at = val;
			h->ttl_end = val_end;
		} else if (text_is(result, key, key_end, "\"cacheScope\""))
			h->public = text_is(result, val, val_end, "\"public\"");
		else if (text_is(result, key, key_end, "\"resultType\""))
			h->complete = text_is(result, val, val_end, "\"complete\"");
		if (pos < len && result[pos] == ',') {
			pos++;
			continue;
		}
		if (pos >= len || result[pos] != '}')
			return false;
		break;
	}
	return true;
}

bool listcache_hints(const char *result, size_t len, uint64_t *ttl_ms, bool *public)
{
	struct hints h;
	bool ok = hints_read(result, len, &h);

	*ttl_ms = ok ? h.ttl_ms : 0;
	*public = ok && h.public;
	return ok && h.complete && h.ttl_ms > 0;
}
