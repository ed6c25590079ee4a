/* Messages of wire protocol v1: a bounded msgpack validator and decoder, and the packers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "wire.h"

enum { MP_OK = 0, MP_TRUNCATED = -1, MP_RESERVED = -2 };

static void wire_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void wire_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *wire_type_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "bool";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "int";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return "float";
	case MSGPACK_OBJECT_STR:
		return "str";
	case MSGPACK_OBJECT_ARRAY:
		return "array";
	case MSGPACK_OBJECT_MAP:
		return "map";
	case MSGPACK_OBJECT_BIN:
		return "bin";
	case MSGPACK_OBJECT_EXT:
		return "ext";
	}
	return "unknown";
}

static uint64_t be_get(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void mp_set_signed(msgpack_object *o, int64_t v)
{
	if (v < 0) {
		o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o->via.i64 = v;
	} else {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = (uint64_t)v;
	}
}

static int64_t sign_extend(uint64_t v, int n)
{
	switch (n) {
	case 1:
		return (int8_t)v;
	case 2:
		return (int16_t)v;
	case 4:
		return (int32_t)v;
	default:
		return (int64_t)v;
	}
}

/* Fills o from a head whose marker is one of the fixed-width or length-prefixed forms. */
static void mp_set_value(msgpack_object *o, const unsigned char *field, int n, bool is_signed)
{
	uint64_t v = be_get(field, n);
	uint32_t f32bits;
	float f32;

	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (is_signed)
			mp_set_signed(o, sign_extend(v, n));
		else
			o->via.u64 = v;
		break;
	case MSGPACK_OBJECT_FLOAT32:
		f32bits = (uint32_t)v;
		memcpy(&f32, &f32bits, sizeof(f32));
		o->via.f64 = f32;
		break;
	case MSGPACK_OBJECT_FLOAT64:
		memcpy(&o->via.f64, &v, sizeof(o->via.f64));
		break;
	case MSGPACK_OBJECT_STR:
		o->via.str.size = (uint32_t)v;
		break;
	case MSGPACK_OBJECT_BIN:
		o->via.bin.size = (uint32_t)v;
		break;
	case MSGPACK_OBJECT_EXT:
		o->via.ext.size = (uint32_t)v;
		o->via.ext.type = (int8_t)field[n];
		break;
	case MSGPACK_OBJECT_ARRAY:
		o->via.array.size = (uint32_t)v;
		break;
	case MSGPACK_OBJECT_MAP:
		o->via.map.size = (uint32_t)v;
		break;
	default:
		break;
	}
}

/* The one-byte forms: fixints, fixmap, fixarray, fixstr, nil and booleans. */
static bool mp_fixed(unsigned char c, msgpack_object *o)
{
	if (c <= 0x7f) {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = c;
	} else if (c >= 0xe0) {
		o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o->via.i64 = (int8_t)c;
	} else if (c <= 0x8f) {
		o->type = MSGPACK_OBJECT_MAP;
		o->via.map.size = c & 0x0f;
	} else if (c <= 0x9f) {
		o->type = MSGPACK_OBJECT_ARRAY;
		o->via.array.size = c & 0x0f;
	} else if (c <= 0xbf) {
		o->type = MSGPACK_OBJECT_STR;
		o->via.str.size = c & 0x1f;
	} else if (c == 0xc0) {
		o->type = MSGPACK_OBJECT_NIL;
	} else if (c == 0xc2 || c == 0xc3) {
		o->type = MSGPACK_OBJECT_BOOLEAN;
		o->via.boolean = c == 0xc3;
	} else {
		return false;
	}
	return true;
}

/*
 * Parses the head of the msgpack object at p, with left bytes available: sets
 * o's type and, for scalars, its value; for str/bin/ext its payload size (and
 * ext type, ptr left NULL); for array/map its count. *head receives the size of
 * the head in bytes. Returns MP_OK, MP_TRUNCATED when the head does not fit in
 * left (o->type then names what was cut), or MP_RESERVED for the byte 0xc1.
 */
static int mp_head(const unsigned char *p, size_t left, msgpack_object *o, size_t *head)
{
	static const int widths[4] = { 1, 2, 4, 8 };
	static const uint32_t fixext_sizes[5] = { 1, 2, 4, 8, 16 };
	unsigned char c;
	int n = 0;          /* bytes of the big-endian field after the marker */
	size_t extra = 0;   /* the ext type byte */
	bool is_signed = false;

	memset(o, 0, sizeof(*o));
	*head = 1;
	if (left == 0)
		return MP_TRUNCATED;
	c = p[0];
	if (mp_fixed(c, o))
		return MP_OK;
	if (c == 0xc1)
		return MP_RESERVED;
	if (c >= 0xc4 && c <= 0xc6) {
		o->type = MSGPACK_OBJECT_BIN;
		n = widths[c - 0xc4];
	} else if (c >= 0xc7 && c <= 0xc9) {
		o->type = MSGPACK_OBJECT_EXT;
		n = widths[c - 0xc7];
		extra = 1;
	} else if (c == 0xca || c == 0xcb) {
		o->type = c == 0xca ? MSGPACK_OBJECT_FLOAT32 : MSGPACK_OBJECT_FLOAT64;
		n = c == 0xca ? 4 : 8;
	} else if (c >= 0xcc && c <= 0xd3) {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		n = widths[(c - 0xcc) & 3];
		is_signed = c >= 0xd0;
	} else if (c >= 0xd4 && c <= 0xd8) {
		o->type = MSGPACK_OBJECT_EXT;
		o->via.ext.size = fixext_sizes[c - 0xd4];
		extra = 1;
	} else if (c >= 0xd9 && c <= 0xdb) {
		o->type = MSGPACK_OBJECT_STR;
		n = widths[c - 0xd9];
	} else {
		o->type = c <= 0xdd ? MSGPACK_OBJECT_ARRAY : MSGPACK_OBJECT_MAP;
		n = (c & 1) ? 4 : 2;
	}
	*head = 1 + (size_t)n + extra;
	if (left < *head)
		return MP_TRUNCATED;
	if (n > 0)
		mp_set_value(o, p + 1, n, is_signed);
	else
		o->via.ext.type = (int8_t)p[1];
	return MP_OK;
}

/* Payload bytes that follow the head of o (str, bin, ext); 0 for the rest. */
static size_t mp_body_size(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		return o->via.str.size;
	case MSGPACK_OBJECT_BIN:
		return o->via.bin.size;
	case MSGPACK_OBJECT_EXT:
		return o->via.ext.size;
	default:
		return 0;
	}
}

/* Objects that must follow the head of o (its elements, or keys and values). */
static uint64_t mp_children(const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_ARRAY)
		return o->via.array.size;
	if (o->type == MSGPACK_OBJECT_MAP)
		return 2 * (uint64_t)o->via.map.size;
	return 0;
}

/* Checks the head and body of the object at off; advances off past what it can. */
static int validate_one(const unsigned char *b, size_t len, size_t *off, msgpack_object *o,
			char *err, size_t errlen)
{
	size_t head, left;
	int rc = mp_head(b + *off, len - *off, o, &head);

	if (*off == len) {
		wire_err(err, errlen, "frame truncated: an object is missing at offset %zu", len);
		return -1;
	}
	if (rc == MP_RESERVED) {
		wire_err(err, errlen, "reserved byte 0xc1 at offset %zu", *off);
		return -1;
	}
	if (rc == MP_TRUNCATED) {
		wire_err(err, errlen, "frame truncated: %s head at offset %zu needs %zu bytes, %zu left",
			 wire_type_name(o), *off, head, len - *off);
		return -1;
	}
	*off += head;
	left = len - *off;
	if (mp_body_size(o) > left) {
		wire_err(err, errlen, "%s length %zu exceeds the %zu bytes left", wire_type_name(o),
			 mp_body_size(o), left);
		return -1;
	}
	*off += mp_body_size(o);
	if (o->type == MSGPACK_OBJECT_ARRAY && mp_children(o) > left) {
		wire_err(err, errlen, "array of %u elements exceeds the %zu bytes left",
			 o->via.array.size, left);
		return -1;
	}
	if (o->type == MSGPACK_OBJECT_MAP && mp_children(o) > left) {
		wire_err(err, errlen, "map of %u pairs needs at least %llu bytes, only %zu left",
			 o->via.map.size, (unsigned long long)mp_children(o), left);
		return -1;
	}
	return 0;
}

/*
 * The walk keeps, for each open container, how many objects it still expects;
 * level 0 is the frame itself, which expects one. A container cannot be
 * opened with fewer bytes left than it has children, so there are never more
 * levels than bytes: pending needs min(max_depth, len) + 1 entries.
 */
static int validate_walk(const unsigned char *b, size_t len, size_t max_depth,
			 uint64_t *pending, char *err, size_t errlen)
{
	size_t off = 0, depth = 0;
	msgpack_object o;

	pending[0] = 1;
	for (;;) {
		while (pending[depth] == 0) {
			if (depth == 0)
				goto done;
			depth--;
		}
		pending[depth]--;
		if (validate_one(b, len, &off, &o, err, errlen) < 0)
			return -1;
		if (o.type != MSGPACK_OBJECT_ARRAY && o.type != MSGPACK_OBJECT_MAP)
			continue;
		if (depth >= max_depth) {
			wire_err(err, errlen, "frame nests deeper than %zu levels", max_depth);
			return -1;
		}
		pending[++depth] = mp_children(&o);
	}
done:
	if (off != len) {
		wire_err(err, errlen, "%zu trailing bytes after the object", len - off);
		return -1;
	}
	return 0;
}

int wire_validate(const char *buf, size_t len, int max_depth, char *err, size_t errlen)
{
	uint64_t fixed[WIRE_MAX_DEPTH + 1];
	uint64_t *pending = fixed;
	size_t levels;
	int rc;

	if (len == 0) {
		wire_err(err, errlen, "empty payload");
		return -1;
	}
	if (max_depth < 0)
		max_depth = 0;
	levels = (size_t)max_depth < len ? (size_t)max_depth : len;
	if (levels > WIRE_MAX_DEPTH) {
		pending = malloc((levels + 1) * sizeof(*pending));
		if (!pending) {
			wire_err(err, errlen, "out of memory validating a frame");
			return -1;
		}
	}
	rc = validate_walk((const unsigned char *)buf, len, (size_t)max_depth, pending, err, errlen);
	if (pending != fixed)
		free(pending);
	return rc;
}

/*
 * Checks and builds the object at *off in one pass: the same checks as the walk
 * of wire_validate(), in the same (pre-order) order, so a bad frame gets the same
 * first error. Strings, bin and ext point into b. depth counts the containers
 * open around o; recursion stops at max_depth (WIRE_MAX_DEPTH). A container's
 * element array is allocated only after its count was checked against the bytes
 * left, so the zone never grows past a bounded multiple of len. Returns 0, or -1
 * with err (o then holds a partial tree the caller drops).
 */
static int mp_build(const unsigned char *b, size_t len, size_t *off, size_t depth,
		    size_t max_depth, msgpack_zone *zone, msgpack_object *o, char *err,
		    size_t errlen)
{
	const char *body;
	uint32_t n;
	unsigned char c = *off < len ? b[*off] : 0xc1;
	size_t left = len - *off;

	/*
	 * The one-byte heads most messages are made of, when they fit: what fails a
	 * check takes the general path below, which words the error.
	 */
	memset(o, 0, sizeof(*o));
	if (c <= 0x7f) { /* positive fixint */
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = c;
		*off += 1;
		return 0;
	}
	if ((c & 0xe0) == 0xa0 && (size_t)(c & 0x1f) < left) { /* fixstr */
		o->type = MSGPACK_OBJECT_STR;
		o->via.str.size = c & 0x1f;
		o->via.str.ptr = (const char *)b + *off + 1;
		*off += 1 + o->via.str.size;
		return 0;
	}
	if (c == 0xc0) { /* nil */
		*off += 1;
		return 0;
	}
	if ((c & 0xe0) == 0x80 && (size_t)(c & 0x0f) * (c < 0x90 ? 2 : 1) < left) {
		/* fixmap or fixarray whose elements can fit */
		if (c < 0x90) {
			o->type = MSGPACK_OBJECT_MAP;
			o->via.map.size = c & 0x0f;
		} else {
			o->type = MSGPACK_OBJECT_ARRAY;
			o->via.array.size = c & 0x0f;
		}
		*off += 1;
	} else if (validate_one(b, len, off, o, err, errlen) < 0) {
		return -1;
	}
	body = (const char *)b + *off - mp_body_size(o);
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		o->via.str.ptr = body;
		return 0;
	case MSGPACK_OBJECT_BIN:
		o->via.bin.ptr = body;
		return 0;
	case MSGPACK_OBJECT_EXT:
		o->via.ext.ptr = body;
		return 0;
	case MSGPACK_OBJECT_ARRAY:
	case MSGPACK_OBJECT_MAP:
		break;
	default:
		return 0;
	}
	if (depth >= max_depth) {
		wire_err(err, errlen, "frame nests deeper than %zu levels", max_depth);
		return -1;
	}
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		if ((n = o->via.array.size) == 0)
			return 0;
		if (!(o->via.array.ptr = msgpack_zone_malloc(zone, n * sizeof(msgpack_object))))
			goto oom;
		for (uint32_t i = 0; i < n; i++)
			if (mp_build(b, len, off, depth + 1, max_depth, zone, &o->via.array.ptr[i],
				     err, errlen) < 0)
				return -1;
		return 0;
	}
	if ((n = o->via.map.size) == 0)
		return 0;
	if (!(o->via.map.ptr = msgpack_zone_malloc(zone, n * sizeof(msgpack_object_kv))))
		goto oom;
	for (uint32_t i = 0; i < n; i++)
		if (mp_build(b, len, off, depth + 1, max_depth, zone, &o->via.map.ptr[i].key, err,
			     errlen) < 0 ||
		    mp_build(b, len, off, depth + 1, max_depth, zone, &o->via.map.ptr[i].val, err,
			     errlen) < 0)
			return -1;
	return 0;
oom:
	wire_err(err, errlen, "out of memory decoding a frame of %zu bytes", len);
	return -1;
}

int wire_unpack(const char *buf, size_t len, msgpack_zone *zone, msgpack_object *obj, char *err,
		size_t errlen)
{
	size_t off = 0;

	memset(obj, 0, sizeof(*obj));
	if (len == 0) {
		wire_err(err, errlen, "empty payload");
		return -1;
	}
	if (mp_build((const unsigned char *)buf, len, &off, 0, WIRE_MAX_DEPTH, zone, obj, err,
		     errlen) < 0)
		goto fail;
	if (off != len) {
		wire_err(err, errlen, "%zu trailing bytes after the object", len - off);
		goto fail;
	}
	return 0;
fail:
	memset(obj, 0, sizeof(*obj));
	return -1;
}

/* A request's id, read from the first bytes of a frame that may be malformed further on. */
static uint64_t peek_request_id(const unsigned char *b, size_t len)
{
	msgpack_object o;
	size_t head, off = 0;

	if (mp_head(b, len, &o, &head) != MP_OK || o.type != MSGPACK_OBJECT_ARRAY ||
	    o.via.array.size < 2)
		return 0;
	off += head;
	if (mp_head(b + off, len - off, &o, &head) != MP_OK ||
	    o.type != MSGPACK_OBJECT_POSITIVE_INTEGER || o.via.u64 != WIRE_REQUEST)
		return 0;
	off += head;
	if (mp_head(b + off, len - off, &o, &head) != MP_OK ||
	    o.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return 0;
	return o.via.u64;
}

static bool is_uint(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

/*
 * A request [0, id, op, params] or an event [3, id, event, params]: one shape,
 * named for the messages as what ("request", "event") and name ("op", "name").
 */
static int decode_addressed(const msgpack_object_array *a, struct wire_msg *msg, const char *what,
			    const char *name, char *err, size_t errlen)
{
	const msgpack_object *el = a->ptr;

	if (a->size != 4) {
		wire_err(err, errlen, "%s must have 4 elements, got %u", what, a->size);
		return -1;
	}
	if (!is_uint(&el[1]) || el[1].via.u64 == 0) {
		wire_err(err, errlen, "%s id must be a positive integer", what);
		return -1;
	}
	if (el[2].type != MSGPACK_OBJECT_STR) {
		wire_err(err, errlen, "%s %s must be a str, got %s", what, name, wire_type_name(&el[2]));
		return -1;
	}
	if (el[3].type != MSGPACK_OBJECT_MAP) {
		wire_err(err, errlen, "params must be a map, got %s", wire_type_name(&el[3]));
		return -1;
	}
	msg->id = el[1].via.u64;
	msg->op = el[2].via.str.ptr;
	msg->op_len = el[2].via.str.size;
	msg->params = &el[3];
	return 0;
}

static int decode_request(const msgpack_object_array *a, struct wire_msg *msg, uint64_t *bad_id,
			  char *err, size_t errlen)
{
	if (a->size >= 2 && is_uint(&a->ptr[1]) && bad_id)
		*bad_id = a->ptr[1].via.u64;
	return decode_addressed(a, msg, "request", "op", err, errlen);
}

static int decode_notify(const msgpack_object_array *a, struct wire_msg *msg, char *err,
			 size_t errlen)
{
	const msgpack_object *el = a->ptr;

	if (a->size != 3) {
		wire_err(err, errlen, "notify must have 3 elements, got %u", a->size);
		return -1;
	}
	if (el[1].type != MSGPACK_OBJECT_STR) {
		wire_err(err, errlen, "notify op must be a str, got %s", wire_type_name(&el[1]));
		return -1;
	}
	if (el[2].type != MSGPACK_OBJECT_MAP) {
		wire_err(err, errlen, "params must be a map, got %s", wire_type_name(&el[2]));
		return -1;
	}
	msg->op = el[1].via.str.ptr;
	msg->op_len = el[1].via.str.size;
	msg->params = &el[2];
	return 0;
}

static int decode_reply_error(const msgpack_object *error, struct wire_msg *msg, char *err,
			      size_t errlen)
{
	const msgpack_object *code = wire_map_get(error, "code");
	const msgpack_object *message = wire_map_get(error, "message");

	if (!code || code->type != MSGPACK_OBJECT_STR) {
		wire_err(err, errlen, "reply error code must be a str");
		return -1;
	}
	if (!message || message->type != MSGPACK_OBJECT_STR) {
		wire_err(err, errlen, "reply error message must be a str");
		return -1;
	}
	msg->error = error;
	msg->err_code = errcode_from_name(code->via.str.ptr, code->via.str.size);
	/* An error that calls itself OK would read as a success without a result. */
	if (msg->err_code == ERR_OK)
		msg->err_code = ERR_INTERNAL;
	msg->err_message = message->via.str.ptr;
	msg->err_message_len = message->via.str.size;
	msg->err_data = wire_map_get(error, "data");
	return 0;
}

static int decode_reply(const msgpack_object_array *a, struct wire_msg *msg, char *err,
			size_t errlen)
{
	const msgpack_object *el = a->ptr;

	if (a->size != 4) {
		wire_err(err, errlen, "reply must have 4 elements, got %u", a->size);
		return -1;
	}
	if (!is_uint(&el[1])) {
		wire_err(err, errlen, "reply id must be an unsigned integer, got %s",
			 wire_type_name(&el[1]));
		return -1;
	}
	msg->id = el[1].via.u64;
	if (el[2].type == MSGPACK_OBJECT_NIL) {
		msg->err_code = ERR_OK;
		msg->result = &el[3];
		return 0;
	}
	if (el[2].type != MSGPACK_OBJECT_MAP) {
		wire_err(err, errlen, "reply error must be nil or a map, got %s",
			 wire_type_name(&el[2]));
		return -1;
	}
	return decode_reply_error(&el[2], msg, err, errlen);
}

int wire_decode(const char *buf, size_t len, msgpack_zone *zone, struct wire_msg *msg,
		uint64_t *bad_id, char *err, size_t errlen)
{
	msgpack_object root;
	const msgpack_object *el;
	int rc;

	memset(msg, 0, sizeof(*msg));
	if (bad_id)
		*bad_id = 0;
	if (wire_unpack(buf, len, zone, &root, err, errlen) < 0) {
		if (bad_id)
			*bad_id = peek_request_id((const unsigned char *)buf, len);
		return -1;
	}
	if (root.type != MSGPACK_OBJECT_ARRAY || root.via.array.size == 0) {
		wire_err(err, errlen, "message must be a non-empty array, got %s",
			 root.type == MSGPACK_OBJECT_ARRAY ? "an empty array" : wire_type_name(&root));
		return -1;
	}
	el = root.via.array.ptr;
	if (!is_uint(&el[0]) || el[0].via.u64 > WIRE_EVENT) {
		wire_err(err, errlen,
			 "message type must be 0 (request), 1 (reply), 2 (notify) or 3 (event)");
		return -1;
	}
	msg->type = (enum wire_type)el[0].via.u64;
	if (msg->type == WIRE_REQUEST)
		rc = decode_request(&root.via.array, msg, bad_id, err, errlen);
	else if (msg->type == WIRE_NOTIFY)
		rc = decode_notify(&root.via.array, msg, err, errlen);
	else if (msg->type == WIRE_EVENT)
		rc = decode_addressed(&root.via.array, msg, "event", "name", err, errlen);
	else
		rc = decode_reply(&root.via.array, msg, err, errlen);
	if (rc < 0) {
		enum wire_type type = msg->type;

		memset(msg, 0, sizeof(*msg));
		msg->type = type;
	}
	return rc;
}

const msgpack_object *wire_map_get(const msgpack_object *map, const char *key)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (wire_str_eq(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

char *wire_strdup(const msgpack_object *o)
{
	char *s;

	if (!o || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	s = malloc((size_t)o->via.str.size + 1);
	if (!s)
		return NULL;
	if (o->via.str.size)
		memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = '\0';
	return s;
}

bool wire_str_eq(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);

	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	       (n == 0 || memcmp(o->via.str.ptr, s, n) == 0);
}

void wire_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void wire_pack_str(msgpack_packer *pk, const char *s)
{
	wire_pack_strn(pk, s, strlen(s));
}

void wire_pack_request_begin(msgpack_packer *pk, uint64_t id, const char *op)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, WIRE_REQUEST);
	msgpack_pack_uint64(pk, id);
	wire_pack_str(pk, op);
}

void wire_pack_notify_begin(msgpack_packer *pk, const char *op)
{
	msgpack_pack_array(pk, 3);
	msgpack_pack_uint8(pk, WIRE_NOTIFY);
	wire_pack_str(pk, op);
}

void wire_pack_event_begin(msgpack_packer *pk, uint64_t id, const char *event)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, WIRE_EVENT);
	msgpack_pack_uint64(pk, id);
	wire_pack_str(pk, event);
}

void wire_pack_reply_ok_begin(msgpack_packer *pk, uint64_t id)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, WIRE_REPLY);
	msgpack_pack_uint64(pk, id);
	msgpack_pack_nil(pk);
}

void wire_pack_reply_error(msgpack_packer *pk, uint64_t id, int code, const char *message,
			   const msgpack_object *data)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, WIRE_REPLY);
	msgpack_pack_uint64(pk, id);
	msgpack_pack_map(pk, data ? 3 : 2);
	wire_pack_str(pk, "code");
	wire_pack_str(pk, errcode_name(code));
	wire_pack_str(pk, "message");
	wire_pack_str(pk, message ? message : "");
	if (data) {
		wire_pack_str(pk, "data");
		msgpack_pack_object(pk, *data);
	}
	msgpack_pack_nil(pk);
}
