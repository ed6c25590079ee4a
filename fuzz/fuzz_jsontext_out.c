/*
 * Fuzzes msgpack -> JSON text (proto/jsontext.c), differential against jansson. The
 * input is msgpack; what wire_unpack accepts is written by jsontext_from_msgpack and by
 * mpjson_to_json + json_dumps, and:
 * - both accept or both refuse (a value a repeated key overrides counts too);
 * - jsontext's text is one valid JSON value (jsontext_skip takes all of it; where a str
 *   holds a NUL, written "\u0000", which jsontext does not read, jansson reads it back
 *   equal to mpjson's tree);
 * - both texts read back (jsontext_to_msgpack) to the same value, but where documented:
 *   a uint above INT64_MAX stays an exact integer in jsontext, a real in mpjson;
 * - read back, jsontext's text gives the input object, float32 widened, with each
 *   repeated key once at its first position with its last value;
 * - an accepted value of depth D is written at max_depth D and refused at D - 1.
 */
#include "fuzz.h"

#include <jansson.h>

#include "jsontext.h"
#include "mpjson.h"
#include "wire.h"

/* Reads JSON text into obj (zone-owned) via jsontext_to_msgpack; sb keeps the bytes. */
static void read_back(const char *text, size_t len, msgpack_sbuffer *sb, msgpack_zone *zone,
		      msgpack_object *obj)
{
	msgpack_packer pk;
	size_t pos = 0;
	char err[256] = "";

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	FUZZ_CHECK(jsontext_to_msgpack(text, len, &pos, &pk, JSONTEXT_MAX_DEPTH, err,
				       sizeof(err)) == 0 && pos == len,
		   "text %.*s does not read back: %s", (int)len, text, err);
	FUZZ_CHECK(wire_unpack(sb->data, sb->size, zone, obj, err, sizeof(err)) == 0, "%s", err);
}

static bool key_eq(const msgpack_object *a, const msgpack_object *b)
{
	return a->via.str.size == b->via.str.size &&
	       memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0;
}

/*
 * The input as JSON keeps it: got equals want with float32 read as float64, and each
 * map's repeated keys once, at the first position, with the last value. With
 * big_uint_real, a uint above INT64_MAX may have become the real of the same value.
 */
static bool same_value(const msgpack_object *want, const msgpack_object *got, bool big_uint_real)
{
	uint32_t k = 0;

	if (want->type == MSGPACK_OBJECT_POSITIVE_INTEGER && want->via.u64 > INT64_MAX &&
	    big_uint_real)
		return got->type == MSGPACK_OBJECT_FLOAT64 && got->via.f64 == (double)want->via.u64;
	if (want->type == MSGPACK_OBJECT_ARRAY) {
		if (got->type != MSGPACK_OBJECT_ARRAY || got->via.array.size != want->via.array.size)
			return false;
		for (uint32_t i = 0; i < want->via.array.size; i++)
			if (!same_value(&want->via.array.ptr[i], &got->via.array.ptr[i], big_uint_real))
				return false;
		return true;
	}
	if (want->type != MSGPACK_OBJECT_MAP)
		return fuzz_obj_equal(want, got);
	if (got->type != MSGPACK_OBJECT_MAP)
		return false;
	for (uint32_t i = 0; i < want->via.map.size; i++) {
		const msgpack_object_kv *kv = &want->via.map.ptr[i];
		const msgpack_object *last = &kv->val;
		bool seen = false;

		for (uint32_t j = 0; j < i && !seen; j++)
			seen = key_eq(&want->via.map.ptr[j].key, &kv->key);
		if (seen)
			continue;
		for (uint32_t j = i + 1; j < want->via.map.size; j++)
			if (key_eq(&want->via.map.ptr[j].key, &kv->key))
				last = &want->via.map.ptr[j].val;
		if (k >= got->via.map.size || !fuzz_obj_equal(&kv->key, &got->via.map.ptr[k].key) ||
		    !same_value(last, &got->via.map.ptr[k].val, big_uint_real))
			return false;
		k++;
	}
	return k == got->via.map.size;
}

static bool has_nul(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_STR && memchr(o->via.str.ptr, '\0', o->via.str.size);
}

static bool is_big_uint(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 > INT64_MAX;
}

/* Whether o or anything inside it (keys too) satisfies pred. */
static bool holds(const msgpack_object *o, bool (*pred)(const msgpack_object *))
{
	if (pred(o))
		return true;
	if (o->type == MSGPACK_OBJECT_ARRAY)
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (holds(&o->via.array.ptr[i], pred))
				return true;
	if (o->type == MSGPACK_OBJECT_MAP)
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (holds(&o->via.map.ptr[i].key, pred) || holds(&o->via.map.ptr[i].val, pred))
				return true;
	return false;
}

static void check_depth(const msgpack_object *obj)
{
	struct jbuf b;
	char err[256] = "";
	int depth = fuzz_obj_depth(obj);

	jbuf_init(&b);
	FUZZ_CHECK(jsontext_from_msgpack(obj, &b, depth, err, sizeof(err)) == 0,
		   "refused at its depth %d: %s", depth, err);
	if (depth > 0) {
		jbuf_reset(&b, 0);
		FUZZ_CHECK(jsontext_from_msgpack(obj, &b, depth - 1, err, sizeof(err)) < 0,
			   "written at depth %d - 1", depth);
	}
	jbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_zone zone, zmine, zref;
	msgpack_object obj, omine, oref;
	msgpack_sbuffer smine, sref;
	struct jbuf mine;
	char err[256] = "", jerr[256] = "";
	json_t *j;
	char *ref;
	size_t pos = 0;
	int rc;

	msgpack_zone_init(&zone, 1024);
	if (wire_unpack((const char *)data, size, &zone, &obj, err, sizeof(err)) < 0) {
		msgpack_zone_destroy(&zone);
		return 0;
	}
	jbuf_init(&mine);
	rc = jsontext_from_msgpack(&obj, &mine, JSONTEXT_MAX_DEPTH, err, sizeof(err));
	j = mpjson_to_json(&obj, jerr, sizeof(jerr));
	FUZZ_CHECK((rc == 0) == (j != NULL), "jsontext %s, mpjson %s", rc ? err : "writes",
		   j ? "writes" : jerr);
	if (rc < 0) {
		FUZZ_CHECK(err[0], "refused without a reason");
		goto out;
	}
	if (holds(&obj, has_nul)) {
		/* "\u0000" is JSON, but jsontext (like jansson by default) does not read it. */
		if (!holds(&obj, is_big_uint)) {
			json_error_t e;
			json_t *back = json_loadb(mine.data, mine.len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
						  &e);

			/* jansson reads no key with a NUL, although it writes one. */
			FUZZ_CHECK((back && json_equal(back, j)) ||
					   (!back && strstr(e.text, "NUL byte in object key")),
				   "jsontext wrote %s", mine.data);
			json_decref(back);
		}
		goto out;
	}
	FUZZ_CHECK(jsontext_skip(mine.data, mine.len, &pos, JSONTEXT_MAX_DEPTH, err,
				 sizeof(err)) == 0 && pos == mine.len,
		   "wrote invalid JSON %s: %s", mine.data, err);
	ref = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	FUZZ_CHECK(ref, "json_dumps failed");
	msgpack_sbuffer_init(&smine);
	msgpack_sbuffer_init(&sref);
	msgpack_zone_init(&zmine, 1024);
	msgpack_zone_init(&zref, 1024);
	read_back(mine.data, mine.len, &smine, &zmine, &omine);
	read_back(ref, strlen(ref), &sref, &zref, &oref);
	FUZZ_CHECK(same_value(&obj, &omine, false), "jsontext wrote %s", mine.data);
	FUZZ_CHECK(same_value(&obj, &oref, true), "mpjson wrote %s", ref);
	check_depth(&obj);
	free(ref);
	msgpack_sbuffer_destroy(&smine);
	msgpack_sbuffer_destroy(&sref);
	msgpack_zone_destroy(&zmine);
	msgpack_zone_destroy(&zref);
out:
	json_decref(j);
	jbuf_free(&mine);
	msgpack_zone_destroy(&zone);
	return 0;
}
