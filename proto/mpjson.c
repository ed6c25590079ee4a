/* Conversion between msgpack objects and JSON (jansson). */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpjson.h"
#include "wire.h"

_Static_assert(MPJSON_MAX_DEPTH == WIRE_MAX_DEPTH, "JSON and wire nesting limits must agree");

/*
 * Where a conversion is in the document, so that an error can say where it
 * happened ("arguments.items[3]"). seg[0] is the root and has no name.
 */
struct mpjson_path {
	struct {
		const char *key; /* NULL for an array index */
		size_t key_len;
		size_t index;
	} seg[MPJSON_MAX_DEPTH + 2];
	int depth;
};

static void path_format(const struct mpjson_path *path, char *out, size_t outlen)
{
	size_t used = 0;
	int n;

	out[0] = '\0';
	for (int i = 1; i <= path->depth && used < outlen; i++) {
		if (path->seg[i].key)
			n = snprintf(out + used, outlen - used, "%s%.*s", used ? "." : "",
				     (int)(path->seg[i].key_len > 64 ? 64 : path->seg[i].key_len),
				     path->seg[i].key);
		else
			n = snprintf(out + used, outlen - used, "[%zu]", path->seg[i].index);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static void mpjson_err(const struct mpjson_path *path, char *err, size_t errlen,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void mpjson_err(const struct mpjson_path *path, char *err, size_t errlen,
		       const char *fmt, ...)
{
	char where[256];
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	path_format(path, where, sizeof(where));
	if (n >= 0 && (size_t)n < errlen && where[0])
		snprintf(err + n, errlen - (size_t)n, " (at %s)", where);
}

/* Checks a sequence of length bytes is UTF-8: no overlongs, surrogates or values above U+10FFFF. */
bool mpjson_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static json_t *to_json(const msgpack_object *o, struct mpjson_path *path, char *err,
		       size_t errlen);

static json_t *to_json_str(const msgpack_object *o, struct mpjson_path *path, char *err,
			   size_t errlen)
{
	json_t *j;

	if (!mpjson_utf8_valid(o->via.str.ptr, o->via.str.size)) {
		mpjson_err(path, err, errlen, "str is not valid UTF-8");
		return NULL;
	}
	j = json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
	if (!j)
		mpjson_err(path, err, errlen, "out of memory");
	return j;
}

static json_t *to_json_real(double d, struct mpjson_path *path, char *err, size_t errlen)
{
	json_t *j;

	if (!isfinite(d)) {
		mpjson_err(path, err, errlen, "float %g has no JSON form", d);
		return NULL;
	}
	j = json_real(d);
	if (!j)
		mpjson_err(path, err, errlen, "out of memory");
	return j;
}

static json_t *to_json_array(const msgpack_object *o, struct mpjson_path *path, char *err,
			     size_t errlen)
{
	json_t *arr = json_array();

	if (!arr) {
		mpjson_err(path, err, errlen, "out of memory");
		return NULL;
	}
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		json_t *v;

		path->seg[path->depth].key = NULL;
		path->seg[path->depth].index = i;
		v = to_json(&o->via.array.ptr[i], path, err, errlen);
		if (!v || json_array_append_new(arr, v) < 0) {
			if (v)
				mpjson_err(path, err, errlen, "out of memory");
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *to_json_map(const msgpack_object *o, struct mpjson_path *path, char *err,
			   size_t errlen)
{
	json_t *obj = json_object();

	if (!obj) {
		mpjson_err(path, err, errlen, "out of memory");
		return NULL;
	}
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *key = &o->via.map.ptr[i].key;
		json_t *v;

		path->seg[path->depth].key = NULL;
		path->seg[path->depth].index = i;
		if (key->type != MSGPACK_OBJECT_STR) {
			mpjson_err(path, err, errlen, "map key must be a str, got %s",
				   wire_type_name(key));
			goto fail;
		}
		path->seg[path->depth].key = key->via.str.ptr;
		path->seg[path->depth].key_len = key->via.str.size;
		if (!mpjson_utf8_valid(key->via.str.ptr, key->via.str.size)) {
			mpjson_err(path, err, errlen, "map key is not valid UTF-8");
			goto fail;
		}
		v = to_json(&o->via.map.ptr[i].val, path, err, errlen);
		if (!v)
			goto fail;
		if (json_object_setn_new_nocheck(obj, key->via.str.ptr, key->via.str.size, v) < 0) {
			mpjson_err(path, err, errlen, "out of memory");
			goto fail;
		}
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

/* Descends into a container: the path gains a level, refused past MPJSON_MAX_DEPTH. */
static json_t *to_json_container(const msgpack_object *o, struct mpjson_path *path, char *err,
				 size_t errlen)
{
	json_t *j;

	if (path->depth >= MPJSON_MAX_DEPTH) {
		mpjson_err(path, err, errlen, "value nests deeper than %d levels", MPJSON_MAX_DEPTH);
		return NULL;
	}
	path->depth++;
	if (o->type == MSGPACK_OBJECT_ARRAY)
		j = to_json_array(o, path, err, errlen);
	else
		j = to_json_map(o, path, err, errlen);
	path->depth--;
	return j;
}

static json_t *to_json(const msgpack_object *o, struct mpjson_path *path, char *err,
		       size_t errlen)
{
	json_t *j = NULL;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		j = json_null();
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		j = json_boolean(o->via.boolean);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		/* JSON integers are int64 in jansson; larger ones keep their magnitude. */
		if (o->via.u64 > INT64_MAX)
			return to_json_real((double)o->via.u64, path, err, errlen);
		j = json_integer((json_int_t)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		j = json_integer((json_int_t)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return to_json_real(o->via.f64, path, err, errlen);
	case MSGPACK_OBJECT_STR:
		return to_json_str(o, path, err, errlen);
	case MSGPACK_OBJECT_ARRAY:
	case MSGPACK_OBJECT_MAP:
		return to_json_container(o, path, err, errlen);
	case MSGPACK_OBJECT_BIN:
		mpjson_err(path, err, errlen, "bin is not representable in JSON");
		return NULL;
	case MSGPACK_OBJECT_EXT:
		mpjson_err(path, err, errlen, "ext (type %d) is not representable in JSON",
			   o->via.ext.type);
		return NULL;
	default:
		mpjson_err(path, err, errlen, "unknown msgpack type %d", (int)o->type);
		return NULL;
	}
	if (!j)
		mpjson_err(path, err, errlen, "out of memory");
	return j;
}

json_t *mpjson_to_json(const msgpack_object *o, char *err, size_t errlen)
{
	struct mpjson_path path = { .depth = 0 };

	return to_json(o, &path, err, errlen);
}

static void pack_json(msgpack_packer *pk, const json_t *j, int depth);

static void pack_object(msgpack_packer *pk, const json_t *j, int depth)
{
	json_t *obj = (json_t *)j; /* jansson's iterators take non-const objects */

	msgpack_pack_map(pk, json_object_size(obj));
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		wire_pack_strn(pk, json_object_iter_key(it), json_object_iter_key_len(it));
		pack_json(pk, json_object_iter_value(it), depth + 1);
	}
}

static void pack_json(msgpack_packer *pk, const json_t *j, int depth)
{
	/* Keeps the output well formed: callers that must not lose data run mpjson_check(). */
	if (depth > MPJSON_MAX_DEPTH && (json_is_object(j) || json_is_array(j))) {
		msgpack_pack_nil(pk);
		return;
	}
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		pack_object(pk, j, depth);
		break;
	case JSON_ARRAY:
		msgpack_pack_array(pk, json_array_size(j));
		for (size_t i = 0; i < json_array_size(j); i++)
			pack_json(pk, json_array_get(j, i), depth + 1);
		break;
	case JSON_STRING:
		wire_pack_strn(pk, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		if (json_integer_value(j) < 0)
			msgpack_pack_int64(pk, json_integer_value(j));
		else
			msgpack_pack_uint64(pk, (uint64_t)json_integer_value(j));
		break;
	case JSON_REAL:
		msgpack_pack_double(pk, json_real_value(j));
		break;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		break;
	case JSON_NULL:
		msgpack_pack_nil(pk);
		break;
	}
}

void mpjson_pack(msgpack_packer *pk, const json_t *j)
{
	if (!j) {
		msgpack_pack_nil(pk);
		return;
	}
	pack_json(pk, j, 1);
}

static int check_depth(const json_t *j, int depth, int max_depth, struct mpjson_path *path)
{
	json_t *obj = (json_t *)j;

	if (!json_is_object(j) && !json_is_array(j))
		return 0;
	if (depth > max_depth)
		return -1;
	path->depth++;
	if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j); i++) {
			path->seg[path->depth].key = NULL;
			path->seg[path->depth].index = i;
			if (check_depth(json_array_get(j, i), depth + 1, max_depth, path) < 0)
				return -1;
		}
	} else {
		for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
			path->seg[path->depth].key = json_object_iter_key(it);
			path->seg[path->depth].key_len = json_object_iter_key_len(it);
			if (check_depth(json_object_iter_value(it), depth + 1, max_depth, path) < 0)
				return -1;
		}
	}
	path->depth--;
	return 0;
}

int mpjson_check(const json_t *j, int max_depth, char *err, size_t errlen)
{
	struct mpjson_path path = { .depth = 0 };

	if (max_depth > MPJSON_MAX_DEPTH)
		max_depth = MPJSON_MAX_DEPTH;
	if (!j || check_depth(j, 1, max_depth, &path) == 0)
		return 0;
	mpjson_err(&path, err, errlen, "JSON nests deeper than %d levels", max_depth);
	return -1;
}

char *mpjson_dumps(const msgpack_object *o, int pretty, char *err, size_t errlen)
{
	size_t flags = JSON_ENCODE_ANY | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
	json_t *j = mpjson_to_json(o, err, errlen);
	char *s;

	if (!j)
		return NULL;
	s = json_dumps(j, flags);
	json_decref(j);
	if (!s && err && errlen)
		snprintf(err, errlen, "out of memory");
	return s;
}
