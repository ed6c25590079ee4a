/* Messages of wire protocol v1 and v2 (proto/PROTOCOL.md): msgpack-RPC style arrays. */
#ifndef MCPPOOL_WIRE_H
#define MCPPOOL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define WIRE_VERSION 2     /* the highest version spoken; hello settles on min(client's, this) */
#define WIRE_VERSION_MIN 1
#define WIRE_MAX_DEPTH 64 /* nesting limit of any decoded frame */

/*
 *   request:  [0, id, op, params]      id: uint > 0, op: str, params: map
 *   reply:    [1, id, error, result]   error: nil or {code, message[, data]}; id 0 = not
 *                                      attributable to a request (e.g. an oversized frame)
 *   notify:   [2, op, params]          no reply (e.g. "cancel" {id})
 *   event:    [3, id, event, params]   v2, daemon -> client: for request id in flight
 *                                      (event: str such as "progress", params: map)
 */
enum wire_type { WIRE_REQUEST = 0, WIRE_REPLY = 1, WIRE_NOTIFY = 2, WIRE_EVENT = 3 };

struct wire_msg {
	enum wire_type type;
	uint64_t id;                  /* request, reply, event */
	const char *op;               /* request, notify; the event's name; not NUL-terminated */
	size_t op_len;
	const msgpack_object *params; /* request, notify, event: a map (never NULL) */
	/* reply: */
	const msgpack_object *error;  /* NULL on success */
	const msgpack_object *result; /* NULL on error */
	int err_code;                 /* enum errcode, from error.code */
	const char *err_message;      /* not NUL-terminated */
	size_t err_message_len;
	const msgpack_object *err_data; /* NULL when absent */
};

/*
 * Checks that buf holds exactly one well-formed msgpack object, nested at most
 * max_depth deep, whose every declared length/count fits in the bytes that are
 * there -- before msgpack-c allocates anything for it. Returns 0, or -1 with a
 * reason in err.
 */
int wire_validate(const char *buf, size_t len, int max_depth, char *err, size_t errlen);

/*
 * Decodes buf into *obj, checking it as it goes: it accepts and refuses what
 * wire_validate(buf, len, WIRE_MAX_DEPTH) does, with the same reasons, in one
 * pass. Arrays and maps live in zone (allocated only after their counts fit the
 * bytes left), while str, bin and ext point into buf, which must outlive obj.
 * Unlike msgpack_unpack() (whose nesting stops at 32), any depth up to
 * WIRE_MAX_DEPTH decodes. Returns 0, or -1 with a reason in err (*obj zeroed;
 * what the zone holds is garbage for the caller to clear).
 */
int wire_unpack(const char *buf, size_t len, msgpack_zone *zone, msgpack_object *obj, char *err,
		size_t errlen);

/*
 * Decodes one frame payload into *msg; the objects live in zone. Checks
 * it as wire_unpack() does. Returns 0, or -1 with a reason in err; when the frame
 * was a request whose id could be read, *bad_id receives it (else 0) so that
 * the caller can address its BAD_REQUEST reply.
 *
 * Decoding is wire_unpack(), so strings in *msg point into buf. bad_id may be
 * NULL; it is also filled when the payload is malformed past a request's id.
 * A reply error whose code is unknown, or "OK", gets err_code ERR_INTERNAL.
 */
int wire_decode(const char *buf, size_t len, msgpack_zone *zone, struct wire_msg *msg,
		uint64_t *bad_id, char *err, size_t errlen);

/* A short name of o's type for error messages: "nil", "bool", "int", "float", "str", ... */
const char *wire_type_name(const msgpack_object *o);

/* Looks up key in a msgpack map; NULL when absent or when map is not a map. */
const msgpack_object *wire_map_get(const msgpack_object *map, const char *key);

/* Copies a msgpack str into a fresh NUL-terminated string (NULL if not a str). */
char *wire_strdup(const msgpack_object *o);

/* True when o is a str equal to s. */
bool wire_str_eq(const msgpack_object *o, const char *s);

/* Packs a str. */
void wire_pack_str(msgpack_packer *pk, const char *s);
void wire_pack_strn(msgpack_packer *pk, const char *s, size_t n);

/*
 * Frame writers (frame_begin/frame_end around them are the caller's, see
 * frame.h). The _begin variants pack everything but the last element, which the
 * caller packs next (the params map of a request, the result of a reply).
 */
void wire_pack_request_begin(msgpack_packer *pk, uint64_t id, const char *op);
void wire_pack_notify_begin(msgpack_packer *pk, const char *op);
void wire_pack_event_begin(msgpack_packer *pk, uint64_t id, const char *event);
void wire_pack_reply_ok_begin(msgpack_packer *pk, uint64_t id);
/*
 * A whole error reply: [1, id, {"code": errcode_name(code), "message": message
 * [, "data": data]}, nil]. data may be NULL; a NULL message packs as "".
 */
void wire_pack_reply_error(msgpack_packer *pk, uint64_t id, int code, const char *message,
			   const msgpack_object *data);

#endif
