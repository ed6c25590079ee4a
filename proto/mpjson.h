/* Conversion between msgpack objects and JSON (jansson): the MCP side speaks JSON. */
#ifndef MCPPOOL_MPJSON_H
#define MCPPOOL_MPJSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <msgpack.h>

/* Nesting limit of containers in both directions; equals WIRE_MAX_DEPTH. */
#define MPJSON_MAX_DEPTH 64

/*
 * msgpack -> JSON. Map keys must be strings; str must be valid UTF-8; bin and
 * ext are refused; uint above INT64_MAX becomes a real. Returns a new reference,
 * or NULL with a reason in err.
 *
 * Also refused: NaN and infinite floats, and containers nested deeper than
 * MPJSON_MAX_DEPTH. The reason names where the value is ("(at args.list[2])").
 * A map's keys keep their order; of a repeated key the last value wins.
 */
json_t *mpjson_to_json(const msgpack_object *o, char *err, size_t errlen);

/*
 * JSON -> msgpack: packs j with pk. Integers stay integers, reals stay floats.
 *
 * Objects keep jansson's (insertion) order; NULL packs as nil. A container
 * nested deeper than MPJSON_MAX_DEPTH packs as nil so that the output stays one
 * well-formed object: check JSON from outside with mpjson_check() first.
 */
void mpjson_pack(msgpack_packer *pk, const json_t *j);

/*
 * Returns 0 when j nests at most max_depth containers (capped at
 * MPJSON_MAX_DEPTH), else -1 with a reason naming where in err. A value sent
 * inside a wire message sits below the message's own levels: params of a
 * request are at depth 2, so their values may nest WIRE_MAX_DEPTH - 2 more.
 */
int mpjson_check(const json_t *j, int max_depth, char *err, size_t errlen);

/* True when s[0..len) is UTF-8 without overlongs, surrogates or code points above U+10FFFF. */
bool mpjson_utf8_valid(const char *s, size_t len);

/*
 * msgpack -> JSON text (compact, or indented by 2 with pretty). Returns a
 * malloc'd NUL-terminated string, or NULL with a reason in err.
 * Scalars dump too ("42"); non-ASCII text is written as UTF-8, not escaped.
 */
char *mpjson_dumps(const msgpack_object *o, int pretty, char *err, size_t errlen);

#endif
