/* The admin ops: pool-status, cleanup, servers, evict, metrics and reload. */
#ifndef MCPPOOL_ADMIN_H
#define MCPPOOL_ADMIN_H

#include <stdint.h>

#include "ops.h"

struct daemon;
struct session;

/* Each answers the session at once under id; they take no params. */
void admin_pool_status(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params);
void admin_cleanup(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params);
void admin_servers(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params);
void admin_metrics(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params);
/* Reloads the configuration and catalog (reload_run()); a refusal is BAD_REQUEST naming why. */
void admin_reload(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params);
void admin_evict(struct daemon *d, struct session *s, uint64_t id, const char *user, const char *mcp);

/*
 * The admin op: params {"token": str}. The right token (MCPPOOL_ADMIN_TOKEN_FILE),
 * compared in constant time, allows admin ops on this connection: {"admin": true}.
 * Otherwise FORBIDDEN, and a warning naming the peer (never the token).
 */
void admin_login(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params);

/* Formats wall-clock ms as ISO-8601 UTC with milliseconds ("2024-01-01T10:00:00.000Z"). */
void admin_format_time(uint64_t wall_ms, char buf[32]);

#endif
