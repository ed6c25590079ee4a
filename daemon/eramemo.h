/*
 * What a catalog entry's server answered to the server/discover probe: its
 * era, the version spoken, and (modern) what its DiscoverResult says of it,
 * kept per entry as the catalog writes it (an HTTP entry's URL, a stdio
 * entry's command, args, env and cwd: the same program whatever user starts
 * it), so that each user's new connection does not probe it again. Silence to
 * the probe is not kept: a server slow to start is silent too.
 *
 * A memo is forgotten when its assumption fails (a modern server that stops
 * answering server/discover; a connection started from a legacy memo whose
 * initialize is refused, which probes again at once; a connection started
 * from the memo that fails to start), when the catalog is reloaded, and after
 * ERA_MEMO_TTL_MS, so an upgraded server is found out.
 */
#ifndef MCPPOOL_ERAMEMO_H
#define MCPPOOL_ERAMEMO_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "era.h"

#define ERA_MEMO_TTL_MS (10u * 60u * 1000u) /* a server may be upgraded: probe again after */
#define ERA_MEMO_MAX 4096u                  /* memos kept at most (one per catalog entry) */

struct daemon;
struct catalog_entry;

struct era_found {
	enum era era;      /* ERA_MODERN or ERA_LEGACY */
	char version[32];  /* the version to speak */
	json_t *server;    /* modern: what warm shows of the server (a new reference); else NULL */
};

/*
 * The memo of key (see eramemo_key), not expired at now_ms, into *out; false
 * when there is none.
 */
bool eramemo_get(struct daemon *d, const char *key, uint64_t now_ms, struct era_found *out);

/* Keeps what the probe found for key until now_ms + ERA_MEMO_TTL_MS (server: borrowed). */
void eramemo_note(struct daemon *d, const char *key, enum era era, const char *version,
		  json_t *server, uint64_t now_ms);

/* Forgets key's memo (its assumption failed). */
void eramemo_forget(struct daemon *d, const char *key);

/*
 * The key of a catalog entry: its name and a digest of its definition as the
 * catalog has it (catalog_entry.source: URL and headers, or command, args, env
 * and cwd, ${auth.*} unresolved); malloc'd, NULL when out of memory.
 */
char *eramemo_key(const struct catalog_entry *e);

/* Forgets every memo (a catalog reload; the daemon's end). */
void eramemo_forget_all(struct daemon *d);

#endif
