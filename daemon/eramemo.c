/* The era of each catalog entry's server, kept for its next connections (see eramemo.h). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "catalog.h"
#include "daemon.h"
#include "eramemo.h"
#include "hmap.h"
#include "list.h"

struct era_memo {
	struct hmap_node node;
	enum era era;
	char version[32];
	json_t *server;
	uint64_t expires_ms;
	char key[];
};

static struct era_memo *memo_find(struct daemon *d, const char *key)
{
	struct hmap_node *n;

	if (!d->era_memos || !(n = hmap_find(d->era_memos, key, strlen(key))))
		return NULL;
	return container_of(n, struct era_memo, node);
}

/* The one place a memo goes. */
static void memo_free(struct daemon *d, struct era_memo *m)
{
	hmap_remove(d->era_memos, &m->node);
	json_decref(m->server);
	free(m);
}

bool eramemo_get(struct daemon *d, const char *key, uint64_t now_ms, struct era_found *out)
{
	struct era_memo *m = memo_find(d, key);

	if (!m)
		return false;
	if (m->expires_ms <= now_ms) {
		memo_free(d, m);
		return false;
	}
	out->era = m->era;
	memcpy(out->version, m->version, sizeof(out->version));
	out->server = json_incref(m->server);
	return true;
}

void eramemo_note(struct daemon *d, const char *key, enum era era, const char *version,
		  json_t *server, uint64_t now_ms)
{
	size_t len = strlen(key);
	struct era_memo *m = memo_find(d, key);

	if (m)
		memo_free(d, m);
	if (!d->era_memos) {
		if (!(d->era_memos = calloc(1, sizeof(*d->era_memos))))
			return;
		if (hmap_init(d->era_memos) < 0) {
			hmap_destroy(d->era_memos);
			free(d->era_memos);
			d->era_memos = NULL;
			return;
		}
	}
	/* Bounded: past the bound the probe simply runs for each connection. */
	if (hmap_count(d->era_memos) >= ERA_MEMO_MAX || !(m = calloc(1, sizeof(*m) + len + 1)))
		return;
	memcpy(m->key, key, len + 1);
	m->era = era;
	snprintf(m->version, sizeof(m->version), "%s", version);
	m->server = json_incref(server);
	m->expires_ms = now_ms + ERA_MEMO_TTL_MS;
	hmap_insert(d->era_memos, &m->node, m->key, len);
}

void eramemo_forget(struct daemon *d, const char *key)
{
	struct era_memo *m = memo_find(d, key);

	if (m)
		memo_free(d, m);
}

char *eramemo_key(const struct catalog_entry *e)
{
	const char *def = e->source ? e->source : "";
	unsigned char digest[16];
	size_t n = strlen(e->name);
	char *k = malloc(n + 1 + 2 * sizeof(digest) + 1);

	if (!k)
		return NULL;
	/* A digest, not the text: literal env and header values may be secrets. */
	crypto_generichash(digest, sizeof(digest), (const unsigned char *)def, strlen(def), NULL, 0);
	memcpy(k, e->name, n);
	k[n] = '\n'; /* never in a catalog name */
	sodium_bin2hex(k + n + 1, 2 * sizeof(digest) + 1, digest, sizeof(digest));
	return k;
}

void eramemo_forget_all(struct daemon *d)
{
	struct hmap_node *n;

	if (!d->era_memos)
		return;
	while ((n = hmap_next(d->era_memos, NULL)))
		memo_free(d, container_of(n, struct era_memo, node));
	hmap_destroy(d->era_memos);
	free(d->era_memos);
	d->era_memos = NULL;
}
