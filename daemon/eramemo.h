/*
 * What the server/discover probe found out about an HTTP server: its era, the
 * version spoken, and (modern) what its DiscoverResult says of it, kept per
 * catalog entry and URL (the origin: one server whatever user reaches it), so
 * that each user's new connection does not probe it again. A stdio server is
 * a process of its own: its era is found per connection and never kept here.
 *
 * A memo is forgotten when its assumption fails (a modern server that stops
 * answering server/discover, a connection started from the memo that fails to
 * start) and after ERA_MEMO_TTL_MS, so an upgraded server is found out.
 */
#ifndef MCPPOOL_ERAMEMO_H
#define MCPPOOL_ERAMEMO_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "era.h"

#define ERA_MEMO_TTL_MS (10u * 60u * 1000u) /* a server may be upgraded: probe again after */
#define ERA_MEMO_MAX 4096u                  /* memos kept at most (one per HTTP entry and URL) */

struct daemon;

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

/* The key of an HTTP entry: its name and URL as the catalog has it; NULL when out of memory. */
char *eramemo_key(const char *entry_name, const char *url);

/* Frees every memo (the daemon's end). */
void eramemo_shutdown(struct daemon *d);

#endif
