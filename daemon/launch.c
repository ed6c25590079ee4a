/* Launching a connection: a catalog entry and a caller's auth become an open transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "launch.h"

/* The expanded URL and headers of an http entry; every string is wiped when freed. */
struct http_target {
	char *url;
	struct kv *headers;
	size_t nheaders;
};

static void http_target_wipe(struct http_target *h)
{
	auth_secret_free(h->url);
	for (size_t i = 0; i < h->nheaders; i++) {
		free(h->headers[i].key);
		auth_secret_free(h->headers[i].value);
	}
	free(h->headers);
	memset(h, 0, sizeof(*h));
}

static int http_target_build(const struct catalog_entry *e, const struct auth *a,
			     struct http_target *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	if (!(h->url = auth_expand(e->url, a, err, errlen)))
		return -1;
	if (e->nheaders && !(h->headers = calloc(e->nheaders, sizeof(*h->headers)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < e->nheaders; i++, h->nheaders++) {
		h->headers[i].key = strdup(e->headers[i].key);
		h->headers[i].value = auth_expand(e->headers[i].value, a, err, errlen);
		if (!h->headers[i].key || !h->headers[i].value) {
			h->nheaders++;
			return -1;
		}
	}
	return 0;
}

int launch_open(struct daemon *d, const struct catalog_entry *entry, const struct auth *auth,
		const char *tag, struct transport *t, const struct transport_callbacks *cb,
		void *ctx, char *err, size_t errlen)
{
	struct transport_options opt = {
		.d = d,
		.tag = tag,
		.kill_timeout_ms = d->cfg.kill_timeout_ms,
		.request_timeout_ms = d->cfg.request_timeout_ms,
		.max_message = d->cfg.max_message,
		.max_queue = d->cfg.max_stdin_queue,
		.server_stdio = d->cfg.server_stdio,
		.server_stderr = d->cfg.server_stderr,
	};
	struct transport_spec ts = { .kind = entry->transport, .sse = entry->sse };
	struct spawn_spec spec = { 0 };
	struct http_target http = { 0 };
	int rc;

	if (ts.kind == TRANSPORT_STDIO)
		rc = auth_build_spawn(entry, auth, d->cfg.child_env, &spec, err, errlen);
	else
		rc = http_target_build(entry, auth, &http, err, errlen);
	if (rc == 0) {
		ts.spawn = &spec;
		ts.url = http.url;
		ts.headers = http.headers;
		ts.nheaders = http.nheaders;
		rc = transport_open(t, d->loop, &ts, &opt, cb, ctx, err, errlen);
	}
	spawn_spec_wipe(&spec);
	http_target_wipe(&http);
	return rc;
}
