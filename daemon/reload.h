/* Reloading the configuration and the catalog: SIGHUP and the reload op. */
#ifndef MCPPOOL_RELOAD_H
#define MCPPOOL_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct daemon;

/*
 * Reads the .env file and the catalog again, as at start-up (the same command
 * line; the process environment still wins over the file), and applies them
 * to the running daemon, or nothing at all:
 * - a configuration or catalog that would stop start-up is refused: NULL is
 *   returned with the reason in err, one warning is logged, the running
 *   configuration stays;
 * - limits, timeouts and the log level apply at once (pool limits: see
 *   upstream_apply_config()); the socket, its group, MCPPOOL_METRICS_LISTEN,
 *   MCPPOOL_MAX_FRAME and MCPPOOL_MAX_INPUT need a restart: a change of them
 *   is logged and the running value kept;
 * - catalog entries that are new serve at once; removed ones get UNKNOWN_MCP
 *   for new requests while their connections finish what is in flight and
 *   close; changed ones (any key) do the same, and the next request starts a
 *   new connection; unchanged ones keep their live connections.
 * The service manager is told (RELOADING=1, then READY=1) and one info line
 * sums up what changed. Returns a new JSON object
 * {"added":[names],"removed":[...],"changed":[...],"settings":["NAME OLD->NEW",...],
 *  "summary":"..."} (the caller decrefs it).
 */
json_t *reload_run(struct daemon *d, const char *why, char *err, size_t errlen);

/*
 * Catalog lifetime. A `const struct catalog_entry *` taken from d->catalog
 * stays valid as long as any pool entry inserted while that catalog was
 * current lives, and until the deferred frees that follow its removal: a
 * reload keeps the catalog it replaces (a "generation") until then. Nothing
 * else may keep an entry pointer across callbacks.
 */

/* Sets up the retired-catalog collector (daemon_start calls it). */
void reload_init(struct daemon *d);

/* Frees every retired catalog (at the end of daemon_run(), the pool gone). */
void reload_shutdown(struct daemon *d);

#endif
