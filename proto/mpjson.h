/* Conversion between msgpack objects and JSON (jansson): the MCP side speaks JSON. */
#ifndef MCPPOOL_MPJSON_H
#define MCPPOOL_MPJSON_H

#include <stddef.h>

#include <jansson.h>
#include <msgpack.h>

/*
 * msgpack -> JSON. Map keys must be strings; str must be valid UTF-8; bin and
 * ext are refused; uint above INT64_MAX becomes a real. Returns a new reference,
 * or NULL with a reason in err.
 */
json_t *mpjson_to_json(const msgpack_object *o, char *err, size_t errlen);

/* JSON -> msgpack: packs j with pk. Integers stay integers, reals stay floats. */
void mpjson_pack(msgpack_packer *pk, const json_t *j);

/*
 * msgpack -> JSON text (compact, or indented by 2 with pretty). Returns a
 * malloc'd NUL-terminated string, or NULL with a reason in err.
 */
char *mpjson_dumps(const msgpack_object *o, int pretty, char *err, size_t errlen);

#endif
