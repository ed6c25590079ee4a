/* Unit tests of the msgpack <-> JSON conversion (proto/mpjson.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mpjson.h"
#include "wire.h"

/* A msgpack buffer with a zone to decode it into. */
struct mp {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object obj;
};

static void mp_init(struct mp *m)
{
	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
	msgpack_zone_init(&m->zone, 1024);
}

static const msgpack_object *mp_decode(struct mp *m)
{
	char err[256] = "";

	cr_assert_eq(wire_unpack(m->sb.data, m->sb.size, &m->zone, &m->obj, err, sizeof(err)), 0,
		     "%s", err);
	return &m->obj;
}

static void mp_destroy(struct mp *m)
{
	msgpack_zone_destroy(&m->zone);
	msgpack_sbuffer_destroy(&m->sb);
}

/* JSON text -> msgpack -> JSON; the result must equal the parsed input. */
static void expect_round_trip(const char *text)
{
	json_error_t jerr;
	json_t *in = json_loads(text, JSON_DECODE_ANY, &jerr);
	json_t *out;
	struct mp m;
	char err[256] = "";

	cr_assert_not_null(in, "%s: %s", text, jerr.text);
	mp_init(&m);
	mpjson_pack(&m.pk, in);
	out = mpjson_to_json(mp_decode(&m), err, sizeof(err));
	cr_assert_not_null(out, "%s", err);
	cr_assert(json_equal(in, out), "%s did not round-trip", text);
	json_decref(in);
	json_decref(out);
	mp_destroy(&m);
}

/* msgpack -> JSON text, compact. */
static char *dump(struct mp *m, int pretty)
{
	char err[256] = "";
	char *s = mpjson_dumps(mp_decode(m), pretty, err, sizeof(err));

	cr_assert_not_null(s, "%s", err);
	return s;
}

/* Expects mpjson_to_json to refuse what m holds, with err. */
static void expect_refused(struct mp *m, const char *want)
{
	char err[256] = "";
	json_t *j = mpjson_to_json(mp_decode(m), err, sizeof(err));

	cr_assert_null(j);
	cr_assert_str_eq(err, want);
	cr_assert_null(mpjson_dumps(&m->obj, 0, err, sizeof(err)));
}

Test(mpjson, scalars_round_trip)
{
	expect_round_trip("null");
	expect_round_trip("true");
	expect_round_trip("false");
	expect_round_trip("0");
	expect_round_trip("-1");
	expect_round_trip("2.5");
	expect_round_trip("\"\"");
}

Test(mpjson, nested_objects_and_arrays_round_trip)
{
	expect_round_trip("{\"a\":{\"b\":[1,{\"c\":[[],{}]},\"x\"]},\"d\":[true,null,-0.5]}");
}

Test(mpjson, extreme_integers_stay_integers)
{
	expect_round_trip("[9223372036854775807,-9223372036854775808,4294967296,-4294967297]");
}

Test(mpjson, unicode_round_trips_and_dumps_as_utf8)
{
	struct mp m;
	char *s;

	expect_round_trip("\"h\\u00e9llo \\u4e16\\u754c \\ud83d\\ude00\"");
	mp_init(&m);
	wire_pack_str(&m.pk, "h\xc3\xa9 \xf0\x9f\x98\x80");
	s = dump(&m, 0);
	cr_assert_str_eq(s, "\"h\xc3\xa9 \xf0\x9f\x98\x80\"");
	free(s);
	mp_destroy(&m);
}

Test(mpjson, strings_with_nul_bytes_survive)
{
	struct mp m;
	char err[128];
	json_t *j;

	mp_init(&m);
	wire_pack_strn(&m.pk, "a\0b", 3);
	j = mpjson_to_json(mp_decode(&m), err, sizeof(err));
	cr_assert_not_null(j, "%s", err);
	cr_assert_eq(json_string_length(j), 3);
	cr_assert_eq(memcmp(json_string_value(j), "a\0b", 3), 0);
	json_decref(j);
	mp_destroy(&m);
}

Test(mpjson, object_key_order_is_kept_both_ways)
{
	json_t *j = json_loads("{\"z\":1,\"a\":2,\"m\":3}", 0, NULL);
	struct mp m;
	char *s;

	mp_init(&m);
	mpjson_pack(&m.pk, j);
	mp_decode(&m);
	cr_assert(wire_str_eq(&m.obj.via.map.ptr[0].key, "z"));
	cr_assert(wire_str_eq(&m.obj.via.map.ptr[2].key, "m"));
	s = dump(&m, 0);
	cr_assert_str_eq(s, "{\"z\":1,\"a\":2,\"m\":3}");
	free(s);
	json_decref(j);
	mp_destroy(&m);
}

Test(mpjson, json_integers_pack_as_msgpack_ints_and_reals_as_float64)
{
	json_t *j = json_pack("[I,I,f,I]", (json_int_t)-5, (json_int_t)300, 1.0, (json_int_t)0);
	struct mp m;
	const msgpack_object *a;

	mp_init(&m);
	mpjson_pack(&m.pk, j);
	a = mp_decode(&m)->via.array.ptr;
	cr_assert_eq(a[0].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	cr_assert_eq(a[0].via.i64, -5);
	cr_assert_eq(a[1].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	cr_assert_eq(a[1].via.u64, 300);
	cr_assert_eq(a[2].type, MSGPACK_OBJECT_FLOAT64);
	cr_assert_eq(a[2].via.f64, 1.0);
	cr_assert_eq(a[3].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	json_decref(j);
	mp_destroy(&m);
}

Test(mpjson, uint_above_int64_max_becomes_a_real)
{
	struct mp m;
	char err[128];
	json_t *j;

	mp_init(&m);
	msgpack_pack_uint64(&m.pk, UINT64_MAX);
	j = mpjson_to_json(mp_decode(&m), err, sizeof(err));
	cr_assert_not_null(j, "%s", err);
	cr_assert(json_is_real(j));
	cr_assert_eq(json_real_value(j), 18446744073709551615.0);
	json_decref(j);
	mp_destroy(&m);
}

Test(mpjson, float32_becomes_a_real)
{
	struct mp m;
	char err[128];
	json_t *j;

	mp_init(&m);
	msgpack_pack_float(&m.pk, 0.25f);
	j = mpjson_to_json(mp_decode(&m), err, sizeof(err));
	cr_assert(json_is_real(j));
	cr_assert_eq(json_real_value(j), 0.25);
	json_decref(j);
	mp_destroy(&m);
}

Test(mpjson, non_finite_floats_are_refused)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_double(&m.pk, NAN);
	expect_refused(&m, "float nan has no JSON form");
	mp_destroy(&m);
	mp_init(&m);
	msgpack_pack_double(&m.pk, -INFINITY);
	expect_refused(&m, "float -inf has no JSON form");
	mp_destroy(&m);
}

Test(mpjson, bin_is_refused_and_the_path_is_named)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_map(&m.pk, 1);
	wire_pack_str(&m.pk, "args");
	msgpack_pack_array(&m.pk, 2);
	msgpack_pack_nil(&m.pk);
	msgpack_pack_bin(&m.pk, 1);
	msgpack_pack_bin_body(&m.pk, "x", 1);
	expect_refused(&m, "bin is not representable in JSON (at args[1])");
	mp_destroy(&m);
}

Test(mpjson, ext_is_refused_with_its_type)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_ext(&m.pk, 2, -1);
	msgpack_pack_ext_body(&m.pk, "ab", 2);
	expect_refused(&m, "ext (type -1) is not representable in JSON");
	mp_destroy(&m);
}

Test(mpjson, non_str_map_keys_are_refused)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_map(&m.pk, 2);
	wire_pack_str(&m.pk, "ok");
	msgpack_pack_nil(&m.pk);
	msgpack_pack_int(&m.pk, 7);
	msgpack_pack_nil(&m.pk);
	expect_refused(&m, "map key must be a str, got int (at [1])");
	mp_destroy(&m);
}

Test(mpjson, invalid_utf8_strings_are_refused)
{
	const char *bad[] = { "\xff", "\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
			      "a\x80" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mp m;

		mp_init(&m);
		msgpack_pack_array(&m.pk, 1);
		wire_pack_str(&m.pk, bad[i]);
		expect_refused(&m, "str is not valid UTF-8 (at [0])");
		mp_destroy(&m);
	}
}

Test(mpjson, invalid_utf8_keys_are_refused)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_map(&m.pk, 1);
	wire_pack_str(&m.pk, "k\xfe");
	msgpack_pack_nil(&m.pk);
	expect_refused(&m, "map key is not valid UTF-8 (at k\xfe)");
	mp_destroy(&m);
}

Test(mpjson, utf8_validator_accepts_the_edges_of_each_range)
{
	cr_assert(mpjson_utf8_valid("", 0));
	cr_assert(mpjson_utf8_valid("\x7f", 1));
	cr_assert(mpjson_utf8_valid("\xc2\x80", 2));
	cr_assert(mpjson_utf8_valid("\xef\xbf\xbf", 3));
	cr_assert(mpjson_utf8_valid("\xed\x9f\xbf", 3));
	cr_assert(mpjson_utf8_valid("\xf4\x8f\xbf\xbf", 4));
	cr_assert_not(mpjson_utf8_valid("\xe0\x9f\xbf", 3));
	cr_assert_not(mpjson_utf8_valid("\xf0\x8f\xbf\xbf", 4));
	cr_assert_not(mpjson_utf8_valid("\xf4\x8f\xbf", 3));
}

Test(mpjson, utf8_validator_refuses_every_overlong_form)
{
	/* "/" and the largest value of each shorter form, written one byte longer. */
	cr_assert_not(mpjson_utf8_valid("\xc0\xaf", 2));
	cr_assert_not(mpjson_utf8_valid("\xc1\xbf", 2));
	cr_assert_not(mpjson_utf8_valid("\xe0\x80\xaf", 3));
	cr_assert_not(mpjson_utf8_valid("\xe0\x9f\xbf", 3));
	cr_assert_not(mpjson_utf8_valid("\xf0\x80\x80\xaf", 4));
	cr_assert_not(mpjson_utf8_valid("\xf0\x8f\xbf\xbf", 4));
	/* NUL as "modified UTF-8" writes it. */
	cr_assert_not(mpjson_utf8_valid("\xc0\x80", 2));
	/* The smallest value of each form is fine. */
	cr_assert(mpjson_utf8_valid("\xc2\x80", 2));
	cr_assert(mpjson_utf8_valid("\xe0\xa0\x80", 3));
	cr_assert(mpjson_utf8_valid("\xf0\x90\x80\x80", 4));
}

Test(mpjson, utf8_validator_refuses_surrogates_alone_and_in_pairs)
{
	cr_assert_not(mpjson_utf8_valid("\xed\xa0\x80", 3)); /* U+D800 */
	cr_assert_not(mpjson_utf8_valid("\xed\xaf\xbf", 3)); /* U+DBFF */
	cr_assert_not(mpjson_utf8_valid("\xed\xb0\x80", 3)); /* U+DC00 */
	cr_assert_not(mpjson_utf8_valid("\xed\xbf\xbf", 3)); /* U+DFFF */
	cr_assert_not(mpjson_utf8_valid("\xed\xa0\xbd\xed\xb8\x80", 6)); /* CESU-8 U+1F600 */
	cr_assert(mpjson_utf8_valid("\xf0\x9f\x98\x80", 4));               /* U+1F600 itself */
	cr_assert(mpjson_utf8_valid("\xee\x80\x80", 3));                   /* U+E000 */
}

Test(mpjson, utf8_validator_refuses_values_above_u10ffff_and_stray_bytes)
{
	cr_assert_not(mpjson_utf8_valid("\xf4\x90\x80\x80", 4));
	cr_assert_not(mpjson_utf8_valid("\xf5\x80\x80\x80", 4));
	cr_assert_not(mpjson_utf8_valid("\xf8\x88\x80\x80\x80", 5));
	cr_assert_not(mpjson_utf8_valid("\x80", 1));
	cr_assert_not(mpjson_utf8_valid("a\xc3", 2));
	cr_assert_not(mpjson_utf8_valid("\xe2\x82", 2));
	cr_assert_not(mpjson_utf8_valid("\xe2\x28\xa1", 3));
	/* The length counts, not a NUL: a NUL byte is valid UTF-8 (U+0000). */
	cr_assert(mpjson_utf8_valid("a\0b", 3));
	cr_assert_not(mpjson_utf8_valid("\xc3\xa9", 1));
}

/* A msgpack object of n nested arrays built by hand (wire_unpack would refuse n > 64). */
static msgpack_object *nested_objects(int n)
{
	msgpack_object *o = calloc((size_t)n + 1, sizeof(*o));

	for (int i = 0; i < n; i++) {
		o[i].type = MSGPACK_OBJECT_ARRAY;
		o[i].via.array.size = 1;
		o[i].via.array.ptr = &o[i + 1];
	}
	o[n].type = MSGPACK_OBJECT_POSITIVE_INTEGER;
	o[n].via.u64 = 1;
	return o;
}

Test(mpjson, msgpack_nesting_of_64_converts)
{
	msgpack_object *o = nested_objects(MPJSON_MAX_DEPTH);
	char err[256] = "";
	json_t *j = mpjson_to_json(o, err, sizeof(err));

	cr_assert_not_null(j, "%s", err);
	json_decref(j);
	free(o);
}

Test(mpjson, msgpack_nesting_of_65_is_refused)
{
	msgpack_object *o = nested_objects(MPJSON_MAX_DEPTH + 1);
	char err[512] = "";

	cr_assert_null(mpjson_to_json(o, err, sizeof(err)));
	cr_assert(strncmp(err, "value nests deeper than 64 levels", 33) == 0, "%s", err);
	free(o);
}

static json_t *nested_json(int n)
{
	json_t *j = json_integer(1);

	for (int i = 0; i < n; i++) {
		json_t *a = json_array();

		json_array_append_new(a, j);
		j = a;
	}
	return j;
}

Test(mpjson, json_nesting_of_64_packs_faithfully)
{
	json_t *j = nested_json(MPJSON_MAX_DEPTH);
	struct mp m;
	char err[256] = "";
	json_t *back;

	cr_assert_eq(mpjson_check(j, MPJSON_MAX_DEPTH, err, sizeof(err)), 0, "%s", err);
	mp_init(&m);
	mpjson_pack(&m.pk, j);
	back = mpjson_to_json(mp_decode(&m), err, sizeof(err));
	cr_assert(json_equal(j, back));
	json_decref(back);
	json_decref(j);
	mp_destroy(&m);
}

Test(mpjson, json_nesting_past_the_limit_is_refused_by_check_and_cut_by_pack)
{
	json_t *j = nested_json(MPJSON_MAX_DEPTH + 20);
	struct mp m;
	char err[256] = "";
	const msgpack_object *o;
	int levels = 0;

	cr_assert_eq(mpjson_check(j, MPJSON_MAX_DEPTH, err, sizeof(err)), -1);
	cr_assert(strncmp(err, "JSON nests deeper than 64 levels", 32) == 0, "%s", err);
	mp_init(&m);
	mpjson_pack(&m.pk, j);
	for (o = mp_decode(&m); o->type == MSGPACK_OBJECT_ARRAY; o = &o->via.array.ptr[0])
		levels++;
	cr_assert_eq(levels, MPJSON_MAX_DEPTH);
	cr_assert_eq(o->type, MSGPACK_OBJECT_NIL);
	json_decref(j);
	mp_destroy(&m);
}

Test(mpjson, check_names_where_json_is_too_deep)
{
	json_t *j = json_loads("{\"a\":[1,{\"b\":[[0]]}],\"c\":2}", 0, NULL);
	char err[256] = "";

	cr_assert_eq(mpjson_check(j, 5, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(mpjson_check(j, 4, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "JSON nests deeper than 4 levels (at a[1].b[0])");
	cr_assert_eq(mpjson_check(NULL, 0, err, sizeof(err)), 0);
	json_decref(j);
}

Test(mpjson, dumps_scalars_compactly)
{
	struct mp m;
	char *s;

	mp_init(&m);
	msgpack_pack_int(&m.pk, 42);
	s = dump(&m, 0);
	cr_assert_str_eq(s, "42");
	free(s);
	mp_destroy(&m);
}

Test(mpjson, dumps_pretty_with_two_space_indent)
{
	struct mp m;
	char *s;

	mp_init(&m);
	msgpack_pack_map(&m.pk, 2);
	wire_pack_str(&m.pk, "a");
	msgpack_pack_array(&m.pk, 1);
	msgpack_pack_true(&m.pk);
	wire_pack_str(&m.pk, "b");
	msgpack_pack_nil(&m.pk);
	s = dump(&m, 1);
	cr_assert_str_eq(s, "{\n  \"a\": [\n    true\n  ],\n  \"b\": null\n}");
	free(s);
	mp_destroy(&m);
}

Test(mpjson, pack_of_null_pointer_is_nil)
{
	struct mp m;

	mp_init(&m);
	mpjson_pack(&m.pk, NULL);
	cr_assert_eq(mp_decode(&m)->type, MSGPACK_OBJECT_NIL);
	mp_destroy(&m);
}
