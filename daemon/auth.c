/* Auth maps, auth hashes, ${auth.NAME} substitution and spawn specs. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"

#define ENV_NAME_MAX 256 /* longer names in MCPPOOL_CHILD_ENV are ignored */

static const char *const base_env[] = { AUTH_BASE_ENV, NULL };

/* Compares the counted string (s, len) with the NUL-terminated key, like strcmp. */
static int cmp_counted(const char *s, size_t len, const char *key)
{
	int r = strncmp(s, key, len);

	if (r != 0)
		return r;
	return key[len] == '\0' ? 0 : -1;
}

const char *auth_get(const struct auth *a, const char *key, size_t keylen)
{
	size_t lo = 0, hi = a ? a->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cmp_counted(key, keylen, a->kv[mid].key);
		if (r == 0)
			return a->kv[mid].value;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void wipe_string(char *s)
{
	if (!s)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}

void auth_wipe(struct auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++) {
		wipe_string(a->kv[i].key);
		wipe_string(a->kv[i].value);
	}
	free(a->kv);
	a->kv = NULL;
	a->n = 0;
}

static bool valid_key(const char *s, size_t len)
{
	if (len == 0 || len > CATALOG_AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!catalog_auth_name_char((unsigned char)s[i]))
			return false;
	return true;
}

/* Copies one map pair into kv; pos is its 1-based place in the map, for messages. */
static int copy_pair(struct kv *kv, const msgpack_object_kv *p, uint32_t pos,
		     char *err, size_t errlen)
{
	const msgpack_object_str *k = &p->key.via.str, *v = &p->val.via.str;

	if (p->key.type != MSGPACK_OBJECT_STR || !valid_key(k->ptr, k->size)) {
		/* An invalid key is not echoed: it may be a value sent in the wrong place. */
		snprintf(err, errlen, "auth key #%u is invalid (expected a string of 1 to %d "
			 "of A-Z a-z 0-9 _ . -)", pos, CATALOG_AUTH_NAME_MAX);
		return -1;
	}
	if (p->val.type != MSGPACK_OBJECT_STR) {
		snprintf(err, errlen, "auth value of \"%.*s\" is not a string", (int)k->size, k->ptr);
		return -1;
	}
	if (v->size > AUTH_VALUE_MAX || memchr(v->ptr, '\0', v->size)) {
		snprintf(err, errlen, "auth value of \"%.*s\" %s", (int)k->size, k->ptr,
			 v->size > AUTH_VALUE_MAX ? "is longer than 65536 bytes" :
			 "contains a NUL byte");
		return -1;
	}
	kv->key = strndup(k->ptr, k->size);
	kv->value = malloc((size_t)v->size + 1);
	if (!kv->key || !kv->value) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(kv->value, v->ptr, v->size);
	kv->value[v->size] = '\0';
	return 0;
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

/* auth_from_msgpack() without the wipe of map. */
static int copy_map(struct auth *a, const msgpack_object *map, char *err, size_t errlen)
{
	uint32_t size;

	a->n = 0;
	a->kv = NULL;
	if (!map || map->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (map->type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "auth must be a map of strings to strings");
		return -1;
	}
	size = map->via.map.size;
	if (size == 0)
		return 0;
	a->kv = calloc(size, sizeof(*a->kv));
	if (!a->kv) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < size; i++) {
		/* Counted first so that auth_wipe() also wipes a half-copied pair. */
		a->n++;
		if (copy_pair(&a->kv[i], &map->via.map.ptr[i], i + 1, err, errlen) < 0)
			goto fail;
	}
	qsort(a->kv, a->n, sizeof(*a->kv), cmp_kv);
	for (size_t i = 1; i < a->n; i++) {
		if (strcmp(a->kv[i - 1].key, a->kv[i].key) == 0) {
			snprintf(err, errlen, "duplicate auth key \"%s\"", a->kv[i].key);
			goto fail;
		}
	}
	return 0;
fail:
	auth_wipe(a);
	return -1;
}

/*
 * Zeroes the value bytes of map where they were received: a frame's buffer,
 * which the caller owns and which outlives this call (it is reused, moved and
 * freed without a wipe). msgpack objects point into it, hence the cast.
 */
static void wipe_received(const msgpack_object *map)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *v = &map->via.map.ptr[i].val;
		if (v->type == MSGPACK_OBJECT_STR && v->via.str.size)
			sodium_memzero((void *)(uintptr_t)v->via.str.ptr, v->via.str.size);
	}
}

int auth_from_msgpack(struct auth *a, const msgpack_object *map, char *err, size_t errlen)
{
	int rc = copy_map(a, map, err, errlen);

	if (map && map->type == MSGPACK_OBJECT_MAP)
		wipe_received(map);
	return rc;
}

static bool entry_uses(const struct catalog_entry *e, const char *key)
{
	size_t lo = 0, hi = e->nauth_keys;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(key, e->auth_keys[mid]);
		if (r == 0)
			return true;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

int auth_check(const struct auth *a, const struct catalog_entry *e, char *err, size_t errlen)
{
	for (size_t i = 0; i < e->nauth_keys; i++) {
		const char *k = e->auth_keys[i];
		if (!auth_get(a, k, strlen(k))) {
			snprintf(err, errlen, "auth key \"%s\" is required by %s", k, e->name);
			return -1;
		}
	}
	for (size_t i = 0; a && i < a->n; i++) {
		if (!entry_uses(e, a->kv[i].key)) {
			snprintf(err, errlen, "auth key \"%s\" is not used by %s", a->kv[i].key,
				 e->name);
			return -1;
		}
	}
	return 0;
}

static void hash_u32(crypto_generichash_state *st, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	crypto_generichash_update(st, b, sizeof(b));
}

static void hash_bytes(crypto_generichash_state *st, const char *s)
{
	size_t len = strlen(s);

	hash_u32(st, (uint32_t)len);
	crypto_generichash_update(st, (const unsigned char *)s, len);
}

void auth_hash(const struct auth *a, const unsigned char key[AUTH_HASH_KEY_BYTES],
	       unsigned char out[AUTH_HASH_BYTES])
{
	crypto_generichash_state st;
	size_t n = a ? a->n : 0;

	crypto_generichash_init(&st, key, AUTH_HASH_KEY_BYTES, AUTH_HASH_BYTES);
	hash_u32(&st, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		hash_bytes(&st, a->kv[i].key);
		hash_bytes(&st, a->kv[i].value);
	}
	crypto_generichash_final(&st, out, AUTH_HASH_BYTES);
	sodium_memzero(&st, sizeof(st));
}

/*
 * Walks the references of tmpl: with out NULL, checks them and returns the
 * expanded length; with out, writes the expansion. Returns -1 with err on a
 * malformed template or a missing key.
 */
static long expand_pass(const char *tmpl, const struct auth *a, char *out, char *err, size_t errlen)
{
	struct auth_ref ref;
	size_t pos = 0, len = 0;
	int r;

	while ((r = catalog_next_ref(tmpl, pos, &ref, err, errlen)) > 0) {
		const char *v = auth_get(a, ref.name, ref.name_len);
		size_t vlen;
		if (!v) {
			snprintf(err, errlen, "auth key \"%.*s\" is missing", (int)ref.name_len,
				 ref.name);
			return -1;
		}
		vlen = strlen(v);
		if (out) {
			memcpy(out + len, tmpl + pos, ref.start - pos);
			memcpy(out + len + ref.start - pos, v, vlen);
		}
		len += ref.start - pos + vlen;
		pos = ref.end;
	}
	if (r < 0)
		return -1;
	if (out)
		memcpy(out + len, tmpl + pos, strlen(tmpl + pos) + 1);
	return (long)(len + strlen(tmpl + pos));
}

char *auth_expand(const char *tmpl, const struct auth *a, char *err, size_t errlen)
{
	long len = expand_pass(tmpl, a, NULL, err, errlen);
	char *out;

	if (len < 0)
		return NULL;
	out = malloc((size_t)len + 1);
	if (!out) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	expand_pass(tmpl, a, out, err, errlen);
	return out;
}

/* A growing NULL-terminated "NAME=value" list with room for cap entries. */
struct env_list {
	char **v;
	size_t n, cap;
};

/* Sets name (namelen bytes) to value, replacing (and wiping) an earlier one. */
static int env_set(struct env_list *env, const char *name, size_t namelen, const char *value)
{
	size_t vlen = strlen(value);
	char *s = malloc(namelen + vlen + 2);
	size_t i;

	if (!s)
		return -1;
	memcpy(s, name, namelen);
	s[namelen] = '=';
	memcpy(s + namelen + 1, value, vlen + 1);
	for (i = 0; i < env->n; i++)
		if (strncmp(env->v[i], s, namelen + 1) == 0)
			break;
	if (i == env->n) {
		if (env->n + 1 >= env->cap) {
			wipe_string(s);
			return -1;
		}
		env->n++;
	} else {
		wipe_string(env->v[i]);
	}
	env->v[i] = s;
	return 0;
}

static int env_copy_from_daemon(struct env_list *env, const char *name, size_t namelen)
{
	char buf[ENV_NAME_MAX + 1];
	const char *v;

	if (namelen == 0 || namelen > ENV_NAME_MAX)
		return 0;
	memcpy(buf, name, namelen);
	buf[namelen] = '\0';
	v = getenv(buf);
	if (!v && strcmp(buf, "PATH") == 0)
		v = AUTH_DEFAULT_PATH;
	return v ? env_set(env, name, namelen, v) : 0;
}

static size_t count_names(const char *list)
{
	size_t n = list && *list ? 1 : 0;

	for (; list && *list; list++)
		n += *list == ',';
	return n;
}

/* The base environment and the MCPPOOL_CHILD_ENV pass-through. */
static int env_base(struct env_list *env, const char *child_env)
{
	for (int i = 0; base_env[i]; i++)
		if (env_copy_from_daemon(env, base_env[i], strlen(base_env[i])) < 0)
			return -1;
	while (child_env && *child_env) {
		size_t len = strcspn(child_env, ",");
		if (env_copy_from_daemon(env, child_env, len) < 0)
			return -1;
		child_env += len;
		if (*child_env == ',')
			child_env++;
	}
	return 0;
}

static int env_entry(struct env_list *env, const struct catalog_entry *e, const struct auth *a,
		     char *err, size_t errlen)
{
	for (size_t i = 0; i < e->nenv; i++) {
		char *v = auth_expand(e->env[i].value, a, err, errlen);
		int r;
		if (!v)
			return -1;
		r = env_set(env, e->env[i].key, strlen(e->env[i].key), v);
		wipe_string(v);
		if (r < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int build_argv(struct spawn_spec *out, const struct catalog_entry *e, const struct auth *a,
		      char *err, size_t errlen)
{
	out->argv = calloc(e->nargs + 2, sizeof(*out->argv));
	if (!out->argv || !(out->argv[0] = strdup(e->command))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < e->nargs; i++) {
		out->argv[i + 1] = auth_expand(e->args[i], a, err, errlen);
		if (!out->argv[i + 1])
			return -1;
	}
	return 0;
}

int auth_build_spawn(const struct catalog_entry *e, const struct auth *a, const char *child_env,
		     struct spawn_spec *out, char *err, size_t errlen)
{
	size_t nbase = sizeof(base_env) / sizeof(base_env[0]) - 1;
	struct env_list env = { NULL, 0, nbase + count_names(child_env) + e->nenv + 1 };

	memset(out, 0, sizeof(*out));
	if (e->transport != TRANSPORT_STDIO || !e->command) {
		snprintf(err, errlen, "%s is not a stdio server", e->name);
		return -1;
	}
	if (build_argv(out, e, a, err, errlen) < 0)
		goto fail;
	env.v = calloc(env.cap, sizeof(*env.v));
	out->envp = env.v;
	if (!env.v || env_base(&env, child_env) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (env_entry(&env, e, a, err, errlen) < 0)
		goto fail;
	if (e->cwd && !(out->cwd = strdup(e->cwd))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	spawn_spec_wipe(out);
	return -1;
}

static void wipe_vector(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		wipe_string(v[i]);
	free(v);
}

void spawn_spec_wipe(struct spawn_spec *s)
{
	if (!s)
		return;
	wipe_vector(s->argv);
	wipe_vector(s->envp);
	wipe_string(s->cwd);
	s->argv = NULL;
	s->envp = NULL;
	s->cwd = NULL;
}

void auth_secret_free(char *s)
{
	if (!s)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}
