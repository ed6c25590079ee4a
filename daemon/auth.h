/* Auth maps: decoding, checking against a catalog entry, hashing, ${auth.NAME} substitution, spawn specs. */
#ifndef MCPPOOL_AUTH_H
#define MCPPOOL_AUTH_H

#include <stddef.h>

#include <msgpack.h>

#include "catalog.h"

#define AUTH_VALUE_MAX 65536 /* bytes of one auth value */
#define AUTH_HASH_BYTES 32
#define AUTH_HASH_KEY_BYTES 32

/* The base environment of every child, copied from the daemon's own where set. */
#define AUTH_BASE_ENV "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", \
		      "TZ", "TMPDIR", "SHELL"
#define AUTH_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* A caller's auth values, sorted by key, keys unique. Values are secrets. */
struct auth {
	size_t n;
	struct kv *kv;
};

/*
 * Fills a from a msgpack map of str -> str; map NULL or nil means an empty map.
 * Refuses a non-map, non-str keys or values, duplicate keys, keys not matching
 * [A-Za-z0-9_.-]{1,64}, values over AUTH_VALUE_MAX bytes or holding a NUL.
 * Returns 0, or -1 with the reason in err (which names keys, never values) and a
 * left empty. The caller wipes a with auth_wipe(). Either way the values' bytes
 * in map, which points into a received frame the caller owns, are zeroed: from
 * then on a is the only copy, and auth_wipe() ends it.
 */
int auth_from_msgpack(struct auth *a, const msgpack_object *map, char *err, size_t errlen);

/* sodium_memzero()s every key and value, frees them, leaves a->n == 0; NULL-safe. */
void auth_wipe(struct auth *a);

/* The value of key, or NULL. Binary search. */
const char *auth_get(const struct auth *a, const char *key, size_t keylen);

/*
 * Compares a's keys with the keys e references. Returns 0 when they are the
 * same set, else -1 with err "auth key \"token\" is required by github-mcp" (a
 * missing key is reported first) or "auth key \"x\" is not used by github-mcp".
 * Never puts a value in err.
 */
int auth_check(const struct auth *a, const struct catalog_entry *e, char *err, size_t errlen);

/*
 * Keyed BLAKE2b-256 (crypto_generichash with a 32-byte key) over the canonical
 * encoding of a: u32be count, then for each pair in key order u32be keylen,
 * key, u32be valuelen, value. Equal maps give equal hashes whatever order their
 * keys came in.
 */
void auth_hash(const struct auth *a, const unsigned char key[AUTH_HASH_KEY_BYTES],
	       unsigned char out[AUTH_HASH_BYTES]);

/*
 * Returns tmpl with every ${auth.NAME} replaced by a's value of NAME, in one
 * exact-size malloc (no realloc leaves secret copies behind); the caller
 * sodium_memzero()s and frees it. NULL with err naming the key when a NAME is
 * missing from a, or with the reason when tmpl is malformed or memory runs out.
 */
char *auth_expand(const char *tmpl, const struct auth *a, char *err, size_t errlen);

/* sodium_memzero()s and frees a string that may hold a secret; NULL-safe. */
void auth_secret_free(char *s);

/* What a stdio child is started with: execve(argv[0] via PATH, argv, envp) in cwd. */
struct spawn_spec {
	char **argv; /* NULL-terminated */
	char **envp; /* NULL-terminated "NAME=value" strings */
	char *cwd;   /* NULL: the daemon's own */
};

/*
 * Builds the spawn spec of a stdio entry: argv = command + expanded args; envp
 * = the base environment (AUTH_BASE_ENV, copied from the daemon's environment
 * where set, PATH defaulting to AUTH_DEFAULT_PATH), plus every variable named in
 * child_env (comma-separated, may be NULL) that is set, then the entry's env
 * with ${auth.NAME} expanded (an entry variable replaces a base one of the same
 * name). Nothing else of the daemon's environment. Returns 0, or -1 with err
 * and out empty. The caller runs spawn_spec_wipe() once the child is started.
 */
int auth_build_spawn(const struct catalog_entry *e, const struct auth *a, const char *child_env,
		     struct spawn_spec *out, char *err, size_t errlen);

/* sodium_memzero()s every string of s, frees all, leaves s empty; NULL-safe. */
void spawn_spec_wipe(struct spawn_spec *s);

#endif
