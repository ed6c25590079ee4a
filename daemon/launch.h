/* Launching a connection: a catalog entry and a caller's auth become an open transport. */
#ifndef MCPPOOL_LAUNCH_H
#define MCPPOOL_LAUNCH_H

#include <stddef.h>

#include "auth.h"
#include "catalog.h"
#include "transport.h"

struct daemon;

/*
 * Opens the transport of entry for a caller with auth: for a stdio entry the
 * spawn spec (argv, the base environment plus the entry's env, cwd), for an
 * http one the URL and headers, each with ${auth.*} expanded. Every expanded
 * copy of a secret is wiped before this returns: the child has its own, the
 * HTTP transport keeps its own (and wipes it when freed). tag names the
 * connection in logs (the pool key). Returns 0, or -1 with the reason in err
 * (a missing auth key, exec failure, a refused URL or header, out of memory);
 * callbacks come from the loop only afterwards.
 */
int launch_open(struct daemon *d, const struct catalog_entry *entry, const struct auth *auth,
		const char *tag, struct transport *t, const struct transport_callbacks *cb,
		void *ctx, char *err, size_t errlen);

#endif
