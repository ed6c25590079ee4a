/* MCP protocol eras: what a modern (2026-07-28) request carries, and what a probe's answer means. */
#ifndef MCPPOOL_ERA_H
#define MCPPOOL_ERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jsontext.h"

/*
 * Two eras (proto/PROTOCOL.md "Protocol eras"): legacy servers (2025-11-25 and
 * earlier) want the initialize handshake; modern ones (2026-07-28) are
 * stateless, and every request carries the version, the client's identity and
 * its capabilities in params._meta. The one modern version mcppool speaks:
 */
#define ERA_MODERN_VERSION "2026-07-28"

/* The recognised modern JSON-RPC errors (schema 2026-07-28). */
#define ERA_HEADER_MISMATCH -32020
#define ERA_MISSING_CLIENT_CAPABILITY -32021
#define ERA_UNSUPPORTED_VERSION -32022

enum era {
	ERA_UNKNOWN, /* probing: server/discover is in flight */
	ERA_LEGACY,  /* initialize, then requests as they come */
	ERA_MODERN,  /* no handshake; the daemon's _meta on every request */
};

/* "legacy", "modern" or "unknown". */
const char *era_name(enum era e);

/*
 * Writes params (JSON object text of len bytes; NULL or len 0 for none) to out
 * with the modern request _meta: "io.modelcontextprotocol/protocolVersion"
 * (version), "io.modelcontextprotocol/clientInfo" (mcppool's name and version)
 * and "io.modelcontextprotocol/clientCapabilities" (caps, a JSON object's
 * text). Those three keys are the daemon's: an app's own values for them are
 * dropped. Names are compared as JSON reads them ("\u005fmeta" is _meta). Every other member of params and of its _meta is copied byte for
 * byte (the _meta member itself moves to the end). out is emptied first.
 * Returns 0, or -1 with the reason in err (params or its _meta not an object,
 * invalid JSON, out of memory).
 */
int era_params_with_meta(const char *params, size_t len, const char *version, const char *caps,
			 struct jbuf *out, char *err, size_t errlen);

/*
 * era_params_with_meta(), and "io.modelcontextprotocol/logLevel": log_level
 * (one of era_log_level()'s names) when not NULL. That key is the daemon's
 * too: a 2026-07-28 server sends log messages (notifications/message) only
 * for a request whose _meta names a level, and the daemon relays them only as
 * events of a request that asked for events; an app's own value is dropped.
 */
int era_params_with_meta_log(const char *params, size_t len, const char *version, const char *caps,
			     const char *log_level, struct jbuf *out, char *err, size_t errlen);

/* The default log level asked for on a modern request that asked for events. */
#define ERA_LOG_LEVEL_DEFAULT "info"

/*
 * The MCP log level (RFC 5424 severities: debug, info, notice, warning, error,
 * critical, alert, emergency) that name (len bytes) spells, as a static
 * string; NULL when it is none.
 */
const char *era_log_level(const char *name, size_t len);

/*
 * The member of params that names what method acts on (the modern HTTP
 * Mcp-Name header): "name" for tools/call and prompts/get, "uri" for
 * resources/read, subscribe and unsubscribe, "taskId" for tasks/get, update and
 * cancel (the tasks extension asks it); NULL for other methods.
 */
const char *era_name_key(const char *method);

/*
 * The string value of params' top-level member key, decoded, malloc'd (free
 * it); NULL when params is not an object, has no such member, or it is not a
 * string.
 */
char *era_param_string(const char *params, size_t len, const char *key);

/*
 * True for methods whose repetition changes nothing on the server, which a
 * broken modern response stream may re-issue: lists, reads, gets, discover.
 * tools/call is not one of them.
 */
bool era_method_idempotent(const char *method);

/* True for the JSON-RPC error codes the 2026-07-28 revision defines (a modern server sent it). */
bool era_error_is_modern(json_int_t code);

/* What a server's list of supported versions leaves us to speak. */
enum era_choice {
	ERA_CHOOSE_MODERN, /* it holds ERA_MODERN_VERSION */
	ERA_CHOOSE_LEGACY, /* no modern version of ours, but a legacy one: initialize with it */
	ERA_CHOOSE_NONE,   /* nothing in common (or no list) */
};

/*
 * Picks the era to speak from supported (a JSON array of version strings, as
 * DiscoverResult.supportedVersions and UnsupportedProtocolVersionError's
 * data.supported carry). For ERA_CHOOSE_LEGACY the newest legacy version both
 * speak goes to legacy (at least 32 bytes). The list as text (for an error
 * message) goes to shown (may be NULL).
 */
enum era_choice era_choose(const json_t *supported, char *legacy, size_t legacy_len, char *shown,
			   size_t shown_len);

#endif
