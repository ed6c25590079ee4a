/* Unit tests of the tree-free JSON transcoder (proto/jsontext.c), differential against jansson + mpjson. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "jsontext.h"
#include "mpjson.h"
#include "wire.h"

#define DEPTH JSONTEXT_MAX_DEPTH

/* ---- helpers ---- */

/* The reference path: json_loadb + mpjson_check + mpjson_pack. Returns 0 or -1 (jerr says why). */
static int ref_pack(const char *text, size_t len, int max_depth, msgpack_sbuffer *sb,
		    json_error_t *jerr)
{
	char err[256];
	msgpack_packer pk;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, jerr);

	if (!j)
		return -1;
	if (mpjson_check(j, max_depth, err, sizeof(err)) < 0) {
		snprintf(jerr->text, sizeof(jerr->text), "%.150s", err);
		json_decref(j);
		return -1;
	}
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	mpjson_pack(&pk, j);
	json_decref(j);
	return 0;
}

/* The path under test, asked to consume the whole text. Returns 0 or -1. */
static int my_pack(const char *text, size_t len, int max_depth, msgpack_sbuffer *sb, char *err,
		   size_t errlen)
{
	msgpack_packer pk;
	size_t pos = 0, skip_pos = 0;
	int rc, skip_rc;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	rc = jsontext_to_msgpack(text, len, &pos, &pk, max_depth, err, errlen);
	skip_rc = jsontext_skip(text, len, &skip_pos, max_depth, NULL, 0);
	if (rc < 0 && skip_rc == 0 && strstr(err, "too big"))
		return -1; /* the documented jansson-path corner, see its test */
	cr_assert_eq(rc, skip_rc, "skip and to_msgpack disagree on \"%.*s\"", (int)len, text);
	if (rc == 0) {
		cr_assert_eq(pos, skip_pos, "skip and to_msgpack end apart on \"%.*s\"", (int)len, text);
		if (pos != len) {
			snprintf(err, errlen, "trailing data at byte %zu", pos);
			return -1;
		}
	}
	return rc;
}

/* Jansson refuses integers beyond int64 (documented difference; see the tests below). */
static bool jansson_big_integer(const json_error_t *jerr)
{
	return strncmp(jerr->text, "too big", 7) == 0;
}

/*
 * Both paths accept text[0..len) with identical bytes, or both refuse it. Returns 1 when
 * accepted, 0 when refused, -1 when a documented jansson difference makes the case moot:
 * its big-integer refusal, or its taking a raw NUL byte after a number for the end.
 */
static int compare_len(const char *text, size_t len, int max_depth)
{
	msgpack_sbuffer ref, mine;
	json_error_t jerr;
	char err[256] = "";
	int rref, rmine;

	msgpack_sbuffer_init(&ref);
	msgpack_sbuffer_init(&mine);
	rref = ref_pack(text, len, max_depth, &ref, &jerr);
	rmine = my_pack(text, len, max_depth, &mine, err, sizeof(err));
	if ((rref < 0 && jansson_big_integer(&jerr)) ||
	    (rref == 0 && rmine < 0 && memchr(text, '\0', len))) {
		msgpack_sbuffer_destroy(&ref);
		msgpack_sbuffer_destroy(&mine);
		return -1;
	}
	cr_assert_eq(rmine, rref, "accept/refuse differs on \"%.*s\": jansson %s, jsontext %s",
		     (int)len, text, rref ? jerr.text : "ok", rmine ? err : "ok");
	if (rref == 0) {
		cr_assert_eq(mine.size, ref.size, "msgpack size differs on \"%.*s\"", (int)len, text);
		cr_assert(memcmp(mine.data, ref.data, ref.size) == 0,
			  "msgpack bytes differ on \"%.*s\"", (int)len, text);
	} else {
		cr_assert(err[0], "refusal of \"%.*s\" gave no reason", (int)len, text);
	}
	msgpack_sbuffer_destroy(&ref);
	msgpack_sbuffer_destroy(&mine);
	return rref == 0;
}

static void expect_same_accepted(const char *text)
{
	cr_assert_eq(compare_len(text, strlen(text), DEPTH), 1, "expected \"%s\" accepted", text);
}

static void expect_same_refused(const char *text)
{
	cr_assert_eq(compare_len(text, strlen(text), DEPTH), 0, "expected \"%s\" refused", text);
}

static void expect_all_accepted(const char *const *texts)
{
	for (size_t i = 0; texts[i]; i++)
		expect_same_accepted(texts[i]);
}

static void expect_all_refused(const char *const *texts)
{
	for (size_t i = 0; texts[i]; i++)
		expect_same_refused(texts[i]);
}

/* Decodes sb's single object into obj (zone-owned). */
static void unpack(const msgpack_sbuffer *sb, msgpack_zone *zone, msgpack_object *obj)
{
	char err[256] = "";

	cr_assert_eq(wire_unpack(sb->data, sb->size, zone, obj, err, sizeof(err)), 0, "%s", err);
}

/* jsontext's JSON text for o, or NULL (err filled). Caller frees. */
static char *my_dump(const msgpack_object *o, int max_depth, char *err, size_t errlen)
{
	struct jbuf b;
	char *s;

	jbuf_init(&b);
	if (jsontext_from_msgpack(o, &b, max_depth, err, errlen) < 0) {
		jbuf_free(&b);
		return NULL;
	}
	s = strndup(b.data ? b.data : "", b.len);
	jbuf_free(&b);
	return s;
}

/* Both writers agree on o: both refuse, or both texts parse back to equal JSON. */
static void compare_dump(const msgpack_object *o)
{
	char err1[256] = "", err2[256] = "";
	char *mine = my_dump(o, DEPTH, err1, sizeof(err1));
	char *ref = mpjson_dumps(o, 0, err2, sizeof(err2));
	json_t *a, *b;

	cr_assert_eq(!mine, !ref, "writers disagree: jsontext %s, mpjson %s", mine ? mine : err1,
		     ref ? ref : err2);
	if (mine) {
		a = json_loads(mine, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		b = json_loads(ref, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		cr_assert_not_null(a, "jsontext wrote unparsable %s", mine);
		cr_assert(json_equal(a, b), "jsontext wrote %s, mpjson %s", mine, ref);
		json_decref(a);
		json_decref(b);
	} else {
		cr_assert(err1[0]);
	}
	free(mine);
	free(ref);
}

/* A msgpack buffer under construction, then decoded. */
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

static const msgpack_object *mp_obj(struct mp *m)
{
	unpack(&m->sb, &m->zone, &m->obj);
	return &m->obj;
}

static void mp_destroy(struct mp *m)
{
	msgpack_zone_destroy(&m->zone);
	msgpack_sbuffer_destroy(&m->sb);
}

static void expect_dump(struct mp *m, const char *want)
{
	char err[256] = "";
	char *s = my_dump(mp_obj(m), DEPTH, err, sizeof(err));

	cr_assert_not_null(s, "%s", err);
	cr_assert_str_eq(s, want);
	compare_dump(&m->obj);
	free(s);
}

static void expect_dump_refused(struct mp *m, const char *want_err)
{
	char err[256] = "";
	char *s = my_dump(mp_obj(m), DEPTH, err, sizeof(err));

	cr_assert_null(s, "wrote %s", s);
	cr_assert(strstr(err, want_err), "error \"%s\" lacks \"%s\"", err, want_err);
	compare_dump(&m->obj);
}

/* Nested arrays n deep around a scalar (or an empty one when n > 0 and empty). */
static char *nested(int n, const char *open, const char *close, const char *inner)
{
	size_t len = strlen(inner) + (size_t)n * (strlen(open) + strlen(close)) + 1;
	char *s = malloc(len);

	s[0] = '\0';
	for (int i = 0; i < n; i++)
		strcat(s, open);
	strcat(s, inner);
	for (int i = 0; i < n; i++)
		strcat(s, close);
	return s;
}

/* ---- JSON text -> msgpack, against jansson ---- */

Test(jsontext, scalars_and_literals_pack_like_jansson)
{
	static const char *const ok[] = { "true", "false", "null", "0", "1", "-1", "\"\"", "\"x\"",
					  "127", "128", "255", "256", "65535", "65536", "-32",
					  "-33", "-128", "-129", "-32768", "-32769", "4294967295",
					  "4294967296", "-2147483648", "-2147483649", NULL };
	static const char *const bad[] = { "", " ", "tru", "truex", "nul", "True", "NULL",
					   "undefined", "'x'", "x", "\xef\xbb\xbf" "1", NULL };

	expect_all_accepted(ok);
	expect_all_refused(bad);
}

Test(jsontext, numbers_pack_like_jansson)
{
	static const char *const ok[] = {
		"-0", "-0.0", "0.0", "1.5", "-1.5", "1e5", "1E5", "1e+5", "1e-5", "1.25e-3",
		"0.1e1", "9223372036854775807", "-9223372036854775808", "1e-400", "-1e-400",
		"1.7976931348623157e308", "2.4703282292062328e-324", "123456789.123456789",
		"0e400", "0.000000000000000000000000000000000001e330", "[-0,0,-0.0]", NULL
	};
	static const char *const bad[] = { "01", "-01", "00", "1.", ".5", "-", "+1", "1e",
					    "1e+", "1.e5", "--1", "0x10", "1e400", "-1e400",
					    "1.7976931348623159e308", "NaN", "Infinity",
					    "-Infinity", "1 2", "[1.]", "[01]", "1.5.2", NULL };

	expect_all_accepted(ok);
	expect_all_refused(bad);
}

/*
 * Documented difference: jansson refuses integer tokens beyond int64 ("too big
 * integer"); jsontext packs those up to UINT64_MAX as uint64 and the rest as float64.
 */
Test(jsontext, integers_beyond_int64_become_uint64_or_float_where_jansson_refuses)
{
	static const struct {
		const char *text;
		const char *want; /* msgpack bytes */
		size_t n;
	} cases[] = {
		{ "9223372036854775808", "\xcf\x80\x00\x00\x00\x00\x00\x00\x00", 9 },
		{ "18446744073709551615", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9 },
		{ "18446744073709551616", "\xcb\x43\xf0\x00\x00\x00\x00\x00\x00", 9 },
		{ "-9223372036854775809", "\xcb\xc3\xe0\x00\x00\x00\x00\x00\x00", 9 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		msgpack_sbuffer sb;
		json_error_t jerr;
		char err[256] = "";

		msgpack_sbuffer_init(&sb);
		cr_assert_eq(my_pack(cases[i].text, strlen(cases[i].text), DEPTH, &sb, err,
				     sizeof(err)), 0, "%s: %s", cases[i].text, err);
		cr_assert_eq(sb.size, cases[i].n, "%s", cases[i].text);
		cr_assert(memcmp(sb.data, cases[i].want, cases[i].n) == 0, "%s", cases[i].text);
		msgpack_sbuffer_clear(&sb);
		cr_assert_eq(ref_pack(cases[i].text, strlen(cases[i].text), DEPTH, &sb, &jerr), -1);
		cr_assert(jansson_big_integer(&jerr), "%s", jerr.text);
		msgpack_sbuffer_destroy(&sb);
	}
}

Test(jsontext, huge_integer_token_overflowing_a_double_is_refused)
{
	char text[400];
	size_t pos = 0;

	memset(text, '9', sizeof(text));
	cr_assert_eq(jsontext_skip(text, sizeof(text), &pos, DEPTH, NULL, 0), -1);
	pos = 0;
	cr_assert_eq(jsontext_skip(text, 300, &pos, DEPTH, NULL, 0), 0);
	cr_assert_eq(pos, 300);
}

Test(jsontext, escapes_decode_like_jansson)
{
	static const char *const ok[] = {
		"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0041\"", "\"\\u00e9\\u00E9\"",
		"\"\\u20ac\"", "\"\\uffff\"", "\"\\u0001\\u001f\"", "\"a\\nb\\tc\"",
		"\"\\u0041\\u0042 plain \\\\ tail\"", "{\"\\u0061\":1}", NULL
	};
	static const char *const bad[] = { "\"\\x41\"", "\"\\U0041\"", "\"\\u41\"",
					   "\"\\u00g1\"", "\"\\\"", "\"\\", "\"\\a\"", "\"\\'\"",
					   "\"\\u0000\"", "\"a\\u0000b\"", "\"\\0\"", NULL };

	expect_all_accepted(ok);
	expect_all_refused(bad);
}

Test(jsontext, surrogate_pairs_combine_and_unpaired_ones_are_refused)
{
	static const char *const ok[] = { "\"\\ud834\\udd1e\"", "\"\\uD834\\uDD1E\"",
					  "\"\\ud800\\udc00\"", "\"\\udbff\\udfff\"",
					  "\"x\\ud83d\\ude00y\"", NULL };
	static const char *const bad[] = { "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800x\"",
					   "\"\\ud800\\u0041\"", "\"\\ud800\\ud800\"",
					   "\"\\udc00\\ud800\"", "\"\\ud800\\n\"",
					   "\"\\ud800\\udc0\"", "\"\\ud800\\", NULL };

	expect_all_accepted(ok);
	expect_all_refused(bad);
}

Test(jsontext, raw_utf8_must_be_valid)
{
	static const char *const ok[] = { "\"\xc3\xa9\"", "\"\xe2\x82\xac\"",
					  "\"\xf0\x9f\x98\x80\"", "\"\xf4\x8f\xbf\xbf\"",
					  "\"\xed\x9f\xbf\"", "\"\xee\x80\x80\"", "\"\x7f\"", NULL };
	static const char *const bad[] = {
		"\"\xc0\x80\"",		/* overlong NUL */
		"\"\xc1\xbf\"",		/* overlong */
		"\"\xe0\x80\xaf\"",	/* overlong */
		"\"\xf0\x80\x80\xaf\"", /* overlong */
		"\"\xed\xa0\x80\"",	/* surrogate */
		"\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
		"\"\xf5\x80\x80\x80\"", "\"\xff\"", "\"\x80\"", "\"\xc3\"", "\"\xe2\x82\"",
		"\"\xc3\x28\"", "\xc3\xa9", NULL
	};

	expect_all_accepted(ok);
	expect_all_refused(bad);
}

/* Documented difference: jansson takes a NUL byte after a number as the end of input. */
Test(jsontext, raw_nul_after_a_number_is_refused_where_jansson_accepts_it)
{
	static const struct {
		const char *text;
		size_t n;
	} cases[] = { { "1\0", 2 }, { "[1\0]", 4 }, { "{\"a\":2\0}", 8 } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		msgpack_sbuffer sb;
		json_error_t jerr;
		char err[128] = "";

		msgpack_sbuffer_init(&sb);
		cr_assert_eq(ref_pack(cases[i].text, cases[i].n, DEPTH, &sb, &jerr), 0, "case %zu", i);
		msgpack_sbuffer_clear(&sb);
		cr_assert_eq(my_pack(cases[i].text, cases[i].n, DEPTH, &sb, err, sizeof(err)), -1,
			     "case %zu", i);
		msgpack_sbuffer_destroy(&sb);
	}
}

Test(jsontext, raw_control_characters_in_strings_are_refused)
{
	char text[4] = { '"', 0, '"', 0 };

	for (int c = 0; c < 0x20; c++) {
		text[1] = (char)c;
		cr_assert_eq(compare_len(text, 3, DEPTH), 0, "control 0x%02x accepted", c);
	}
	text[1] = 0x7f;
	cr_assert_eq(compare_len(text, 3, DEPTH), 1);
}

Test(jsontext, containers_and_empty_ones_pack_like_jansson)
{
	static const char *const ok[] = {
		"[]", "{}", "[[]]", "[{}]", "{\"a\":[]}", "{\"a\":{}}", "[1,\"two\",true,null,{}]",
		"{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":\"e\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\","
		"\"text\":\"hi\\nthere\"}],\"isError\":false}}",
		NULL
	};
	static const char *const bad[] = { "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{,}",
					   "{\"a\"}", "{\"a\" 1}", "{a:1}", "{1:1}", "{'a':1}",
					   "[", "]", "{", "}", "[1", "{\"a\":1", "[}", "{]",
					   "[1]]", "{\"a\":1}}", "[/*c*/1]", "[1,,2]", NULL };

	expect_all_accepted(ok);
	expect_all_refused(bad);
}

Test(jsontext, whitespace_is_allowed_between_all_tokens_and_nowhere_else)
{
	static const char *const ok[] = {
		" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n} \t\r\n",
		"[ ]", "{ }", "\n\n1\n\n", NULL
	};
	static const char *const bad[] = { "\f1", "\v1", "[\f]", "1\f", "\xc2\xa0" "1", "[1,\v2]",
					   "t rue", "- 1", NULL };

	expect_all_accepted(ok);
	expect_all_refused(bad);
}

Test(jsontext, nesting_up_to_the_limit_is_accepted_and_one_deeper_refused)
{
	char *a64 = nested(64, "[", "]", ""), *a65 = nested(65, "[", "]", "");
	char *o64 = nested(63, "{\"k\":", "}", "{}"), *o65 = nested(64, "{\"k\":", "}", "{}");
	char *s64 = nested(64, "[", "]", "\"leaf\""), *mixed = nested(32, "[{\"a\":", "}]", "1");

	cr_assert_eq(compare_len(a64, strlen(a64), DEPTH), 1);
	cr_assert_eq(compare_len(a65, strlen(a65), DEPTH), 0);
	cr_assert_eq(compare_len(o64, strlen(o64), DEPTH), 1);
	cr_assert_eq(compare_len(o65, strlen(o65), DEPTH), 0);
	cr_assert_eq(compare_len(s64, strlen(s64), DEPTH), 1);
	cr_assert_eq(compare_len(mixed, strlen(mixed), DEPTH), 1);
	cr_assert_eq(compare_len(a64, strlen(a64), 10), 0);
	cr_assert_eq(compare_len("[[1]]", 5, 2), 1);
	cr_assert_eq(compare_len("[[1]]", 5, 1), 0);
	cr_assert_eq(compare_len(a65, strlen(a65), 1000), 0, "max_depth is capped at 64");
	free(a64);
	free(a65);
	free(o64);
	free(o65);
	free(s64);
	free(mixed);
}

Test(jsontext, very_deep_nesting_is_refused_without_recursing_into_it)
{
	char *deep = nested(100000, "[", "]", "");
	size_t pos = 0;
	char err[128] = "";

	cr_assert_eq(jsontext_skip(deep, strlen(deep), &pos, DEPTH, err, sizeof(err)), -1);
	cr_assert(strstr(err, "at byte 64"), "%s", err);
	free(deep);
}

Test(jsontext, repeated_member_names_keep_first_position_and_last_value)
{
	static const char *const ok[] = {
		"{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":1,\"a\":2,\"a\":3}", "{\"a\":1,\"\\u0061\":2}",
		"{\"x\":{\"a\":1,\"a\":[1,{\"b\":2,\"b\":3}]},\"y\":[{\"c\":1,\"c\":{}}]}",
		"{\"a\":{\"k\":1},\"b\":{\"k\":2}}", "{\"\":1,\"\":2}", NULL
	};
	msgpack_sbuffer sb;
	char err[256];
	size_t pos = 0;
	msgpack_packer pk;

	expect_all_accepted(ok);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	cr_assert_eq(jsontext_to_msgpack("{\"a\":1,\"b\":2,\"a\":3}", 19, &pos, &pk, DEPTH, err,
					 sizeof(err)), 0);
	cr_assert_eq(sb.size, 7);
	cr_assert(memcmp(sb.data, "\x82\xa1" "a\x03\xa1" "b\x02", 7) == 0);
	msgpack_sbuffer_destroy(&sb);
}

/* Names with equal hashes but different text must not be merged: they go the exact (jansson) way. */
/*
 * Documented corner: a document whose member names may repeat is packed by jansson,
 * so there an integer beyond int64 is refused although jsontext_skip accepts it.
 */
Test(jsontext, repeated_names_with_integers_beyond_int64_are_refused_by_the_jansson_path)
{
	const char *text = "{\"a\":1,\"a\":18446744073709551615}";
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t pos = 0;
	char err[128] = "";

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	cr_assert_eq(jsontext_skip(text, strlen(text), &pos, DEPTH, NULL, 0), 0);
	pos = 0;
	cr_assert_eq(jsontext_to_msgpack(text, strlen(text), &pos, &pk, DEPTH, err, sizeof(err)), -1);
	cr_assert(strstr(err, "too big integer"), "%s", err);
	cr_assert_eq(pos, 0);
	msgpack_sbuffer_destroy(&sb);
}

Test(jsontext, many_member_names_pack_like_jansson)
{
	size_t cap = 64 * 1024, len = 0;
	char *text = malloc(cap);

	len += (size_t)sprintf(text + len, "{");
	for (int i = 0; i < 1500; i++)
		len += (size_t)sprintf(text + len, "%s\"k%d\":%d", i ? "," : "", i, i);
	len += (size_t)sprintf(text + len, "}");
	cr_assert_eq(compare_len(text, len, DEPTH), 1);
	text[len - 1] = '\0';
	len += (size_t)sprintf(text + len - 1, ",\"k7\":\"again\"}") - 1;
	cr_assert_eq(compare_len(text, len, DEPTH), 1);
	free(text);
}

Test(jsontext, documents_with_many_containers_pack_like_jansson)
{
	size_t cap = 256 * 1024, len = 0;
	char *text = malloc(cap);

	len += (size_t)sprintf(text + len, "[");
	for (int i = 0; i < 3000; i++)
		len += (size_t)sprintf(text + len, "%s{\"i\":%d,\"v\":[%d,[]]}", i ? "," : "", i, -i);
	len += (size_t)sprintf(text + len, "]");
	cr_assert_eq(compare_len(text, len, DEPTH), 1);
	free(text);
}

Test(jsontext, trailing_data_is_left_for_the_caller)
{
	const char *text = " 12 [1, 2]\n\"s\" x";
	size_t pos = 0;
	char err[128] = "";

	cr_assert_eq(jsontext_skip(text, strlen(text), &pos, DEPTH, err, sizeof(err)), 0);
	cr_assert_eq(pos, 4);
	cr_assert_eq(jsontext_skip(text, strlen(text), &pos, DEPTH, err, sizeof(err)), 0);
	cr_assert_eq(pos, 11);
	cr_assert_eq(jsontext_skip(text, strlen(text), &pos, DEPTH, err, sizeof(err)), 0);
	cr_assert_eq(pos, 15);
	cr_assert_eq(jsontext_skip(text, strlen(text), &pos, DEPTH, err, sizeof(err)), -1);
	cr_assert_eq(pos, 15, "pos moves only on success");
	cr_assert(strstr(err, "byte 15"), "%s", err);
}

Test(jsontext, to_msgpack_starts_at_pos_and_advances_it)
{
	const char *text = "[1] {\"a\":\"b\"}  ";
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t pos = 3;
	char err[128] = "";

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	cr_assert_eq(jsontext_to_msgpack(text, strlen(text), &pos, &pk, DEPTH, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(pos, strlen(text));
	cr_assert_eq(sb.size, 5);
	cr_assert(memcmp(sb.data, "\x81\xa1" "a\xa1" "b", 5) == 0);
	msgpack_sbuffer_destroy(&sb);
}

Test(jsontext, errors_name_the_byte_offset)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{ "[1,]", "at byte 3" },
		{ "{\"a\":\"\\q\"}", "invalid escape at byte 6" },
		{ "  \"abc", "unterminated string at byte 2" },
		{ "[\"\\ud800\"]", "surrogate" },
		{ "[\"\\u0000\"]", "\\u0000" },
		{ "[0123]", "leading zero in number at byte 1" },
		{ "[1e999]", "out of range at byte 1" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[128] = "";
		size_t pos = 0;

		cr_assert_eq(jsontext_skip(cases[i].text, strlen(cases[i].text), &pos, DEPTH, err,
					   sizeof(err)), -1, "%s", cases[i].text);
		cr_assert(strstr(err, cases[i].want), "%s: \"%s\" lacks \"%s\"", cases[i].text, err,
			  cases[i].want);
	}
}

Test(jsontext, input_is_never_read_past_len)
{
	static const char *const texts[] = { "[1,2]", "{\"a\":\"bc\"}", "123.5e7", "\"\\u00e9\"",
					     "true", "-0", "\"\\ud834\\udd1e\"", NULL };

	for (size_t i = 0; texts[i]; i++) {
		size_t n = strlen(texts[i]);

		/* An exact-size heap copy, so ASan flags any read past its end. */
		for (size_t cut = 0; cut <= n; cut++) {
			char *copy = malloc(cut ? cut : 1);

			memcpy(copy, texts[i], cut);
			compare_len(copy, cut, DEPTH);
			free(copy);
		}
	}
}

/* ---- msgpack -> JSON text ---- */

Test(jsontext, from_msgpack_writes_compact_json)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_map(&m.pk, 3);
	wire_pack_str(&m.pk, "a");
	msgpack_pack_array(&m.pk, 4);
	msgpack_pack_nil(&m.pk);
	msgpack_pack_true(&m.pk);
	msgpack_pack_false(&m.pk);
	msgpack_pack_int64(&m.pk, -42);
	wire_pack_str(&m.pk, "b");
	msgpack_pack_map(&m.pk, 0);
	wire_pack_str(&m.pk, "c");
	msgpack_pack_array(&m.pk, 0);
	expect_dump(&m, "{\"a\":[null,true,false,-42],\"b\":{},\"c\":[]}");
	mp_destroy(&m);
}

Test(jsontext, from_msgpack_writes_integers_exactly)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_array(&m.pk, 5);
	msgpack_pack_uint64(&m.pk, 0);
	msgpack_pack_uint64(&m.pk, INT64_MAX);
	msgpack_pack_int64(&m.pk, INT64_MIN);
	msgpack_pack_int64(&m.pk, -1);
	msgpack_pack_uint8(&m.pk, 255);
	expect_dump(&m, "[0,9223372036854775807,-9223372036854775808,-1,255]");
	mp_destroy(&m);
}

/* Documented difference: mpjson makes such a uint a real; the JSON text keeps the exact integer. */
Test(jsontext, from_msgpack_writes_uint_above_int64_as_exact_integer)
{
	struct mp m;
	struct jbuf b;
	char err[128] = "";
	msgpack_sbuffer back;
	msgpack_packer pk;
	size_t pos = 0;

	mp_init(&m);
	msgpack_pack_uint64(&m.pk, UINT64_MAX);
	jbuf_init(&b);
	cr_assert_eq(jsontext_from_msgpack(mp_obj(&m), &b, DEPTH, err, sizeof(err)), 0);
	cr_assert_str_eq(b.data, "18446744073709551615");
	msgpack_sbuffer_init(&back);
	msgpack_packer_init(&pk, &back, msgpack_sbuffer_write);
	cr_assert_eq(jsontext_to_msgpack(b.data, b.len, &pos, &pk, DEPTH, err, sizeof(err)), 0);
	cr_assert_eq(back.size, m.sb.size);
	cr_assert(memcmp(back.data, m.sb.data, back.size) == 0, "round trip keeps the uint64");
	msgpack_sbuffer_destroy(&back);
	jbuf_free(&b);
	mp_destroy(&m);
}

Test(jsontext, from_msgpack_writes_shortest_round_tripping_reals)
{
	static const struct {
		double d;
		const char *want;
	} cases[] = {
		{ 1.0, "1.0" }, { -0.0, "-0.0" }, { 0.1, "0.1" }, { 1e300, "1e+300" },
		{ 1.5, "1.5" }, { 123456789012.0, "123456789012.0" }, { 1e-7, "1e-07" },
		{ 0.30000000000000004, "0.30000000000000004" }, { 5e-324, "4.94065645841247e-324" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mp m;

		mp_init(&m);
		msgpack_pack_double(&m.pk, cases[i].d);
		expect_dump(&m, cases[i].want);
		mp_destroy(&m);
	}
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

Test(jsontext, from_msgpack_reals_read_back_to_the_same_double)
{
	uint64_t seed = 42;

	for (int i = 0; i < 200000; i++) {
		uint64_t bits = splitmix(&seed);
		msgpack_object o = { .type = MSGPACK_OBJECT_FLOAT64 };
		char err[128] = "";
		char *s;
		double back;

		if (i % 2) {
			/* Short decimals, the common case for tool results. */
			o.via.f64 = (double)(int64_t)(bits % 2000000001 - 1000000000) /
				    (double)(UINT64_C(1) << (bits >> 60));
			o.via.f64 /= (double)((bits >> 40) % 1000 + 1);
		} else {
			memcpy(&o.via.f64, &bits, sizeof(bits));
		}
		s = my_dump(&o, DEPTH, err, sizeof(err));
		if (!isfinite(o.via.f64)) {
			cr_assert_null(s);
			continue;
		}
		cr_assert_not_null(s, "%s", err);
		back = strtod(s, NULL);
		cr_assert(memcmp(&back, &o.via.f64, sizeof(back)) == 0, "%.17g written as %s", o.via.f64, s);
		cr_assert(strpbrk(s, ".e"), "%s would read back as an integer", s);
		free(s);
	}
}

Test(jsontext, from_msgpack_float32_reads_back_equal)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_float(&m.pk, 0.1f);
	expect_dump(&m, "0.10000000149011612");
	mp_destroy(&m);
}

Test(jsontext, from_msgpack_escapes_what_rfc8259_requires)
{
	const char s[] = "q\" b\\ \b\f\n\r\t \x01\x1f\x7f / \xc3\xa9 \xe2\x80\xa8 \0z";
	struct mp m;

	mp_init(&m);
	wire_pack_strn(&m.pk, s, sizeof(s) - 1);
	expect_dump(&m, "\"q\\\" b\\\\ \\b\\f\\n\\r\\t \\u0001\\u001f\x7f / \xc3\xa9 \xe2\x80\xa8 \\u0000z\"");
	mp_destroy(&m);
}

Test(jsontext, from_msgpack_refuses_what_json_cannot_hold)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_bin(&m.pk, 2);
	msgpack_pack_bin_body(&m.pk, "ab", 2);
	expect_dump_refused(&m, "bin");
	mp_destroy(&m);

	mp_init(&m);
	msgpack_pack_ext(&m.pk, 1, 5);
	msgpack_pack_ext_body(&m.pk, "x", 1);
	expect_dump_refused(&m, "ext");
	mp_destroy(&m);

	mp_init(&m);
	msgpack_pack_array(&m.pk, 2);
	msgpack_pack_double(&m.pk, 1);
	msgpack_pack_double(&m.pk, NAN);
	expect_dump_refused(&m, "no JSON form");
	mp_destroy(&m);

	mp_init(&m);
	msgpack_pack_double(&m.pk, -INFINITY);
	expect_dump_refused(&m, "no JSON form");
	mp_destroy(&m);

	mp_init(&m);
	msgpack_pack_map(&m.pk, 1);
	msgpack_pack_int(&m.pk, 1);
	msgpack_pack_int(&m.pk, 2);
	expect_dump_refused(&m, "map key must be a str, got int");
	mp_destroy(&m);

	mp_init(&m);
	wire_pack_strn(&m.pk, "\xc0\x80", 2);
	expect_dump_refused(&m, "not valid UTF-8");
	mp_destroy(&m);

	mp_init(&m);
	msgpack_pack_map(&m.pk, 1);
	wire_pack_strn(&m.pk, "\xed\xa0\x80", 3);
	msgpack_pack_nil(&m.pk);
	expect_dump_refused(&m, "map key is not valid UTF-8");
	mp_destroy(&m);
}

/* levels nested arrays, built by hand: wire_unpack itself stops at 64 levels. */
static const msgpack_object *nested_arrays(msgpack_object *objs, int levels)
{
	for (int i = 0; i < levels; i++) {
		objs[i].type = MSGPACK_OBJECT_ARRAY;
		objs[i].via.array.size = i + 1 < levels ? 1 : 0;
		objs[i].via.array.ptr = &objs[i + 1];
	}
	return objs;
}

Test(jsontext, from_msgpack_nesting_up_to_the_limit)
{
	msgpack_object objs[70];
	char err[128] = "";
	char *s;

	s = my_dump(nested_arrays(objs, 64), DEPTH, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	cr_assert_eq(strlen(s), 128);
	free(s);
	compare_dump(objs);
	cr_assert_null(my_dump(nested_arrays(objs, 65), DEPTH, err, sizeof(err)));
	cr_assert(strstr(err, "deeper than 64"), "%s", err);
	compare_dump(objs);
	cr_assert_null(my_dump(nested_arrays(objs, 3), 2, err, sizeof(err)));
	cr_assert_null(my_dump(nested_arrays(objs, 65), 1000, err, sizeof(err)), "capped at 64");
}

Test(jsontext, from_msgpack_repeated_keys_keep_first_position_and_last_value)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_map(&m.pk, 4);
	wire_pack_str(&m.pk, "a");
	msgpack_pack_int(&m.pk, 1);
	wire_pack_str(&m.pk, "b");
	msgpack_pack_int(&m.pk, 2);
	wire_pack_str(&m.pk, "a");
	msgpack_pack_int(&m.pk, 3);
	wire_pack_str(&m.pk, "c");
	msgpack_pack_int(&m.pk, 4);
	expect_dump(&m, "{\"a\":3,\"b\":2,\"c\":4}");
	mp_destroy(&m);
}

/* mpjson converts every value before a later key replaces it: an overridden one must have a JSON form too. */
Test(jsontext, from_msgpack_refuses_a_value_a_repeated_key_overrides_like_mpjson)
{
	struct mp m;

	mp_init(&m);
	msgpack_pack_map(&m.pk, 2);
	wire_pack_str(&m.pk, "a");
	msgpack_pack_bin(&m.pk, 1);
	msgpack_pack_bin_body(&m.pk, "x", 1);
	wire_pack_str(&m.pk, "a");
	msgpack_pack_int(&m.pk, 1);
	expect_dump_refused(&m, "bin");
	mp_destroy(&m);

	mp_init(&m);
	msgpack_pack_map(&m.pk, 3);
	wire_pack_str(&m.pk, "a");
	msgpack_pack_int(&m.pk, 1);
	wire_pack_str(&m.pk, "b");
	msgpack_pack_array(&m.pk, 1);
	msgpack_pack_double(&m.pk, NAN);
	wire_pack_str(&m.pk, "b");
	msgpack_pack_nil(&m.pk);
	expect_dump_refused(&m, "no JSON form");
	mp_destroy(&m);

	mp_init(&m);
	msgpack_pack_map(&m.pk, 3);
	wire_pack_str(&m.pk, "a");
	wire_pack_strn(&m.pk, "\xff", 1);
	wire_pack_str(&m.pk, "a");
	msgpack_pack_int(&m.pk, 2);
	wire_pack_str(&m.pk, "a");
	msgpack_pack_int(&m.pk, 3);
	expect_dump_refused(&m, "not valid UTF-8");
	mp_destroy(&m);
}

Test(jsontext, from_msgpack_big_maps_match_mpjson)
{
	struct mp m;
	char key[16];

	mp_init(&m);
	msgpack_pack_map(&m.pk, 2001);
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		wire_pack_str(&m.pk, key);
		msgpack_pack_int(&m.pk, i);
	}
	wire_pack_str(&m.pk, "k5");
	wire_pack_str(&m.pk, "last");
	compare_dump(mp_obj(&m));
	mp_destroy(&m);

	mp_init(&m);
	msgpack_pack_array(&m.pk, 1);
	msgpack_pack_map(&m.pk, 1100);
	for (int i = 0; i < 1100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		wire_pack_str(&m.pk, key);
		msgpack_pack_int(&m.pk, i);
	}
	compare_dump(mp_obj(&m));
	mp_destroy(&m);
}

Test(jsontext, append_string_quotes_and_refuses_bad_utf8_leaving_buffer_intact)
{
	struct jbuf b;

	jbuf_init(&b);
	cr_assert_eq(jbuf_append(&b, "x=", 2), 0);
	cr_assert_eq(jsontext_append_string(&b, "a\"\n", 3), 0);
	cr_assert_str_eq(b.data, "x=\"a\\\"\\n\"");
	cr_assert_eq(jsontext_append_string(&b, "ok\xff", 3), -1);
	cr_assert_eq(b.len, 9);
	cr_assert_str_eq(b.data, "x=\"a\\\"\\n\"");
	jbuf_free(&b);
	cr_assert_null(b.data);
	jbuf_free(NULL);
}

Test(jsontext, jbuf_grows_and_stays_nul_terminated)
{
	struct jbuf b;
	char chunk[1000];

	memset(chunk, 'z', sizeof(chunk));
	jbuf_init(&b);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(jbuf_append(&b, chunk, sizeof(chunk)), 0);
	cr_assert_eq(b.len, 100000);
	cr_assert_eq(b.data[b.len], '\0');
	cr_assert_eq(strlen(b.data), b.len);
	jbuf_free(&b);
}

/* ---- randomized differential fuzz ---- */

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return (uint32_t)((r->s >> 11) % n);
}

struct gen {
	struct rng r;
	char *buf;
	size_t len, cap;
};

static void gput(struct gen *g, const char *s, size_t n)
{
	if (g->len + n + 1 > g->cap) {
		g->cap = (g->len + n + 1) * 2;
		g->buf = realloc(g->buf, g->cap);
	}
	memcpy(g->buf + g->len, s, n);
	g->len += n;
	g->buf[g->len] = '\0';
}

static void gputs(struct gen *g, const char *s)
{
	gput(g, s, strlen(s));
}

static void gen_ws(struct gen *g)
{
	static const char *const ws[] = { " ", "\t", "\n", "\r", "  \n " };

	if (rnd(&g->r, 4) == 0)
		gputs(g, ws[rnd(&g->r, 5)]);
}

static void gen_string(struct gen *g, bool key)
{
	static const char *const pieces[] = {
		"a", "b", "id", "x y", "\\n", "\\\"", "\\\\", "\\/", "\\t", "\\u0041", "\\u00e9",
		"\\u20AC", "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f",
		"\\b\\f\\r", "\\u001f", "method",
	};
	unsigned n = rnd(&g->r, key ? 2 : 6);

	gputs(g, "\"");
	for (unsigned i = 0; i < n; i++)
		gputs(g, pieces[rnd(&g->r, key ? 4 : sizeof(pieces) / sizeof(pieces[0]))]);
	gputs(g, "\"");
}

static void gen_number(struct gen *g)
{
	static const char *const fixed[] = { "0", "-0", "0.5", "-0.0", "1e3", "1E-3", "2.5e+10",
					     "9223372036854775807", "-9223372036854775808",
					     "1e308", "4.9e-324", "1e-400", "123456789012345678" };
	static const double scales[] = { 1e-30, 1e-20, 1e-7, 1e-3, 0.1, 1, 10, 1e3, 1e7, 1e20, 1e30 };
	char buf[64];

	switch (rnd(&g->r, 5)) {
	case 0:
		gputs(g, fixed[rnd(&g->r, sizeof(fixed) / sizeof(fixed[0]))]);
		return;
	case 1:
		snprintf(buf, sizeof(buf), "%d", (int)rnd(&g->r, 70000) - 35000);
		break;
	case 4:
		snprintf(buf, sizeof(buf), "%d.%0*de%d", (int)rnd(&g->r, 1000), (int)rnd(&g->r, 6),
			 (int)rnd(&g->r, 100000), (int)rnd(&g->r, 60) - 30);
		break;
	case 2:
		snprintf(buf, sizeof(buf), "%lld",
			 (long long)((uint64_t)rnd(&g->r, 1u << 31) << 32 | rnd(&g->r, 1u << 31)) *
				 (rnd(&g->r, 2) ? 1 : -1));
		break;
	default:
		snprintf(buf, sizeof(buf), "%.*g", 1 + (int)rnd(&g->r, 17),
			 ((double)rnd(&g->r, 1u << 30) - (1 << 29)) / (1 + rnd(&g->r, 1000)) *
				 scales[rnd(&g->r, sizeof(scales) / sizeof(scales[0]))]);
		break;
	}
	gputs(g, buf);
}

static void gen_value(struct gen *g, int depth)
{
	unsigned kind = rnd(&g->r, depth > 6 ? 6 : 8), n;

	gen_ws(g);
	switch (kind) {
	case 0:
		gputs(g, rnd(&g->r, 2) ? "true" : "false");
		break;
	case 1:
		gputs(g, "null");
		break;
	case 2:
	case 3:
		gen_number(g);
		break;
	case 4:
	case 5:
		gen_string(g, false);
		break;
	case 6:
		n = rnd(&g->r, 5);
		gputs(g, "[");
		gen_ws(g);
		for (unsigned i = 0; i < n; i++) {
			if (i)
				gputs(g, ",");
			gen_value(g, depth + 1);
		}
		gputs(g, "]");
		break;
	default:
		n = rnd(&g->r, 5);
		gputs(g, "{");
		gen_ws(g);
		for (unsigned i = 0; i < n; i++) {
			if (i)
				gputs(g, ",");
			gen_ws(g);
			gen_string(g, true);
			gen_ws(g);
			gputs(g, ":");
			gen_value(g, depth + 1);
		}
		gputs(g, "}");
		break;
	}
	gen_ws(g);
}

/* Also checks the writer on what jansson accepted: both writers agree on the decoded msgpack. */
static void compare_and_dump(const char *text, size_t len)
{
	msgpack_sbuffer sb;
	json_error_t jerr;
	msgpack_zone zone;
	msgpack_object obj;

	if (compare_len(text, len, DEPTH) != 1)
		return;
	msgpack_sbuffer_init(&sb);
	cr_assert_eq(ref_pack(text, len, DEPTH, &sb, &jerr), 0);
	msgpack_zone_init(&zone, 1024);
	unpack(&sb, &zone, &obj);
	compare_dump(&obj);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}

Test(jsontext, generated_values_agree_with_jansson, .timeout = 600)
{
	struct gen g = { .r = { 0x9e3779b97f4a7c15u } };
	int accepted = 0;

	for (int i = 0; i < 100000; i++) {
		g.len = 0;
		gen_value(&g, 0);
		accepted += compare_len(g.buf, g.len, DEPTH) == 1;
		if (i % 10 == 0)
			compare_and_dump(g.buf, g.len);
	}
	cr_assert_gt(accepted, 99000, "the generator should mostly make valid JSON (%d)", accepted);
	free(g.buf);
}

static void mutate(struct rng *r, char *buf, size_t *len, size_t cap)
{
	static const char interesting[] = "\"\\{}[],:0-e.+ u\x01\x1f\x7f\x80\xbf\xc0\xc3\xed\xf4\xff"
					  "nt9";
	unsigned edits = 1 + rnd(r, 3);

	for (unsigned e = 0; e < edits && *len; e++) {
		size_t at = rnd(r, (uint32_t)*len);
		char c = rnd(r, 4) ? interesting[rnd(r, sizeof(interesting))] : (char)rnd(r, 256);

		switch (rnd(r, 4)) {
		case 0:
			buf[at] = c;
			break;
		case 1:
			memmove(buf + at, buf + at + 1, *len - at - 1);
			(*len)--;
			break;
		case 2:
			if (*len + 1 < cap) {
				memmove(buf + at + 1, buf + at, *len - at);
				buf[at] = c;
				(*len)++;
			}
			break;
		default:
			*len = at;
			break;
		}
	}
}

Test(jsontext, mutated_bytes_agree_with_jansson, .timeout = 600)
{
	struct gen g = { .r = { 0x2545f4914f6cdd1du } };
	struct rng mr = { 0xdeadbeefcafef00du };
	int accepted = 0, refused = 0;

	for (int i = 0; i < 100000; i++) {
		char *copy;
		size_t len;
		int rc;

		g.len = 0;
		gen_value(&g, 0);
		len = g.len;
		copy = malloc(len + 8);
		memcpy(copy, g.buf, len);
		mutate(&mr, copy, &len, len + 8);
		/* Exact-size, so ASan sees any read past the end. */
		copy = realloc(copy, len ? len : 1);
		rc = compare_len(copy, len, DEPTH);
		accepted += rc == 1;
		refused += rc == 0;
		free(copy);
	}
	cr_assert_gt(accepted, 1000, "some mutants should stay valid (%d)", accepted);
	cr_assert_gt(refused, 50000, "most mutants should be refused (%d)", refused);
	free(g.buf);
}

/* ---- JSON-RPC top level ---- */

static char *span_text(const char *line, struct jsonrpc_span s)
{
	return strndup(line + s.start, s.end - s.start);
}

static void expect_span(const char *line, struct jsonrpc_span s, const char *want)
{
	char *got = span_text(line, s);

	cr_assert_str_eq(got, want);
	free(got);
}

static void scan_ok(const char *line, struct jsonrpc_msg *m)
{
	char err[128] = "";

	cr_assert_eq(jsonrpc_scan(line, strlen(line), DEPTH, m, err, sizeof(err)), 0, "%s: %s",
		     line, err);
}

static void scan_refused(const char *line, const char *want)
{
	struct jsonrpc_msg m;
	char err[128] = "";

	cr_assert_eq(jsonrpc_scan(line, strlen(line), DEPTH, &m, err, sizeof(err)), -1, "%s", line);
	cr_assert(strstr(err, want), "%s: \"%s\" lacks \"%s\"", line, err, want);
}

Test(jsonrpc, response_spans_id_and_result)
{
	const char *line = "{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{\"content\":[{\"type\":\"text\","
			   "\"text\":\"hi\"}],\"isError\":false}}\n";
	struct jsonrpc_msg m;

	scan_ok(line, &m);
	expect_span(line, m.id, "42");
	cr_assert(m.id_is_int);
	cr_assert_eq(m.id_int, 42);
	expect_span(line, m.result,
		    "{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"isError\":false}");
	cr_assert_eq(m.error.start, 0);
	cr_assert_eq(m.error.end, 0);
	cr_assert_eq(m.method.end, 0);
	cr_assert_eq(m.params.end, 0);
	cr_assert_not(m.method_is_str);
}

Test(jsonrpc, error_response_spans_error)
{
	const char *line = "{ \"jsonrpc\" : \"2.0\" , \"id\" : -7 , \"error\" : {\"code\":-32601,"
			   "\"message\":\"nope\"} }";
	struct jsonrpc_msg m;

	scan_ok(line, &m);
	cr_assert(m.id_is_int);
	cr_assert_eq(m.id_int, -7);
	expect_span(line, m.error, "{\"code\":-32601,\"message\":\"nope\"}");
	cr_assert_eq(m.result.end, 0);
}

Test(jsonrpc, request_spans_method_and_params)
{
	const char *line = "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"tools/call\","
			   "\"params\":{\"name\":\"echo\",\"arguments\":{}}}";
	struct jsonrpc_msg m;

	scan_ok(line, &m);
	expect_span(line, m.id, "\"abc\"");
	cr_assert_not(m.id_is_int);
	expect_span(line, m.method, "\"tools/call\"");
	cr_assert(m.method_is_str);
	expect_span(line, m.params, "{\"name\":\"echo\",\"arguments\":{}}");
}

Test(jsonrpc, notification_has_no_id)
{
	const char *line = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
			   "\"params\":{\"progress\":0.5}}";
	struct jsonrpc_msg m;

	scan_ok(line, &m);
	cr_assert_eq(m.id.start, 0);
	cr_assert_eq(m.id.end, 0);
	cr_assert_not(m.id_is_int);
	cr_assert(m.method_is_str);
}

Test(jsonrpc, method_that_is_not_a_string_is_flagged)
{
	const char *line = "{\"method\":17}";
	struct jsonrpc_msg m;

	scan_ok(line, &m);
	expect_span(line, m.method, "17");
	cr_assert_not(m.method_is_str);
}

Test(jsonrpc, ids_that_are_not_int64_integers)
{
	static const char *const ids[] = { "null", "\"1\"", "1.0", "1e2", "-0.5",
					   "9223372036854775808", "-9223372036854775809",
					   "99999999999999999999999", "[1]", "{}", "true", NULL };

	for (size_t i = 0; ids[i]; i++) {
		char line[128];
		struct jsonrpc_msg m;

		snprintf(line, sizeof(line), "{\"id\":%s,\"result\":null}", ids[i]);
		scan_ok(line, &m);
		cr_assert_not(m.id_is_int, "%s", ids[i]);
		expect_span(line, m.id, ids[i]);
		expect_span(line, m.result, "null");
	}
}

Test(jsonrpc, int64_extremes_are_integer_ids)
{
	struct jsonrpc_msg m;

	scan_ok("{\"id\":9223372036854775807}", &m);
	cr_assert(m.id_is_int);
	cr_assert_eq(m.id_int, INT64_MAX);
	scan_ok("{\"id\":-9223372036854775808}", &m);
	cr_assert(m.id_is_int);
	cr_assert_eq(m.id_int, INT64_MIN);
	scan_ok("{\"id\":-0}", &m);
	cr_assert(m.id_is_int);
	cr_assert_eq(m.id_int, 0);
}

Test(jsonrpc, repeated_member_last_wins)
{
	const char *line = "{\"id\":1,\"result\":1,\"id\":\"two\",\"result\":[2]}";
	struct jsonrpc_msg m;

	scan_ok(line, &m);
	expect_span(line, m.id, "\"two\"");
	cr_assert_not(m.id_is_int);
	expect_span(line, m.result, "[2]");
}

Test(jsonrpc, member_names_are_compared_unescaped)
{
	const char *line = "{\"\\u0069d\":5,\"meth\\u006fd\":\"x\",\"ids\":6,\"Id\":7,\"i\":8}";
	struct jsonrpc_msg m;

	scan_ok(line, &m);
	cr_assert(m.id_is_int);
	cr_assert_eq(m.id_int, 5);
	expect_span(line, m.method, "\"x\"");
}

Test(jsonrpc, anything_but_one_object_is_refused)
{
	scan_refused("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", "expected a JSON object");
	scan_refused("", "expected a JSON object at byte 0");
	scan_refused("   ", "expected a JSON object");
	scan_refused("\"id\"", "expected a JSON object");
	scan_refused("garbage", "expected a JSON object");
	scan_refused("{\"id\":1} x", "trailing data after the object at byte 9");
	scan_refused("{\"id\":1}{\"id\":2}", "trailing data");
	scan_refused("{\"id\":1,}", "expected a string member name");
	scan_refused("{\"id\":01}", "leading zero");
	scan_refused("{\"id\":1", "expected ',' or '}'");
	scan_refused("{\"result\":[1,2}", "expected ',' or ']'");
	scan_refused("{\"result\":\"\\ud800\"}", "surrogate");
	scan_refused("{\"x\":\"\x01\"}", "control character");
}

Test(jsonrpc, whitespace_around_the_object_is_fine)
{
	struct jsonrpc_msg m;

	scan_ok(" \t{}\r\n", &m);
	cr_assert_eq(m.id.end, 0);
}

Test(jsonrpc, nesting_limit_counts_the_object_itself)
{
	char *line = nested(63, "{\"result\":", "}", "[]");
	char *deeper = nested(64, "{\"result\":", "}", "[]");
	struct jsonrpc_msg m;
	char err[128] = "";

	cr_assert_eq(jsonrpc_scan(line, strlen(line), DEPTH, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(jsonrpc_scan(deeper, strlen(deeper), DEPTH, &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "deeper than 64"), "%s", err);
	cr_assert_eq(jsonrpc_scan("{\"a\":[1]}", 9, 1, &m, err, sizeof(err)), -1);
	free(line);
	free(deeper);
}

/* ---- packing a scanned member, against jsontext_to_msgpack on its span ---- */

/* One packing's outcome: return code, error text, bytes. */
struct packed {
	msgpack_sbuffer sb;
	int rc;
	char err[256];
};

static void packed_init(struct packed *o)
{
	msgpack_sbuffer_init(&o->sb);
	o->rc = 0;
	o->err[0] = '\0';
}

/* The reference: jsontext_to_msgpack on the span, which it must consume whole. */
static void pack_span(struct packed *o, const char *line, const struct jsonrpc_span *member,
		      int max_depth)
{
	size_t pos = 0, len = member->end - member->start;
	msgpack_packer pk;

	packed_init(o);
	msgpack_packer_init(&pk, &o->sb, msgpack_sbuffer_write);
	o->rc = jsontext_to_msgpack(line + member->start, len, &pos, &pk, max_depth, o->err,
				    sizeof(o->err));
	if (o->rc == 0)
		cr_assert_eq(pos, len, "the span of \"%s\" has trailing bytes", line);
}

static void pack_member(struct packed *o, const char *line, const struct jsonrpc_msg *m,
			const struct jsonrpc_span *member, int max_depth)
{
	msgpack_packer pk;

	packed_init(o);
	msgpack_packer_init(&pk, &o->sb, msgpack_sbuffer_write);
	o->rc = jsonrpc_pack(line, m, member, &pk, max_depth, o->err, sizeof(o->err));
}

static void expect_same_packed(const struct packed *want, const struct packed *got,
			       const char *line, const char *how)
{
	cr_assert_eq(got->rc, want->rc, "%s: rc %d, jsontext_to_msgpack %d (%s) on \"%s\"", how,
		     got->rc, want->rc, want->rc ? want->err : got->err, line);
	if (want->rc) {
		cr_assert_str_eq(got->err, want->err, "%s: error differs on \"%s\"", how, line);
		return;
	}
	cr_assert_eq(got->sb.size, want->sb.size, "%s: size differs on \"%s\"", how, line);
	cr_assert(memcmp(got->sb.data, want->sb.data, want->sb.size) == 0,
		  "%s: bytes differ on \"%s\"", how, line);
}

static const struct jsonrpc_span *member_at(const struct jsonrpc_msg *m, size_t k)
{
	const struct jsonrpc_span *spans[] = { &m->id, &m->method, &m->result, &m->error,
					       &m->params };

	return spans[k];
}

#define MEMBERS 5

/*
 * Packs one member three ways, jsontext_to_msgpack on its span, jsonrpc_pack after
 * jsonrpc_scan_keep and after jsonrpc_scan, and expects one outcome. Returns 1 when
 * packed, 0 when refused.
 */
static int compare_member(const char *line, const struct jsonrpc_msg *kept,
			  const struct jsonrpc_msg *plain, size_t k, int max_depth)
{
	struct packed want, fast, fallback;

	pack_span(&want, line, member_at(kept, k), max_depth);
	pack_member(&fast, line, kept, member_at(kept, k), max_depth);
	pack_member(&fallback, line, plain, member_at(plain, k), max_depth);
	expect_same_packed(&want, &fast, line, "after jsonrpc_scan_keep");
	expect_same_packed(&want, &fallback, line, "after jsonrpc_scan");
	msgpack_sbuffer_destroy(&want.sb);
	msgpack_sbuffer_destroy(&fast.sb);
	msgpack_sbuffer_destroy(&fallback.sb);
	return want.rc == 0;
}

static void expect_same_scan(const char *line, const struct jsonrpc_msg *kept,
			     const struct jsonrpc_msg *plain)
{
	for (size_t k = 0; k < MEMBERS; k++) {
		cr_assert_eq(member_at(kept, k)->start, member_at(plain, k)->start, "\"%s\"", line);
		cr_assert_eq(member_at(kept, k)->end, member_at(plain, k)->end, "\"%s\"", line);
	}
	cr_assert_eq(kept->id_is_int, plain->id_is_int, "\"%s\"", line);
	cr_assert_eq(kept->id_int, plain->id_int, "\"%s\"", line);
	cr_assert_eq(kept->method_is_str, plain->method_is_str, "\"%s\"", line);
}

/*
 * Scans line[0..len) both ways (same verdict, same spans), then compares every member
 * at pack depth max_depth. Returns -1 when the line is refused, else how many present
 * members packed.
 */
static int compare_line_len(const char *line, size_t len, int max_depth)
{
	struct jsonrpc_msg kept, plain;
	char err_kept[256] = "", err_plain[256] = "";
	int rc_kept, rc_plain, packed = 0;

	rc_plain = jsonrpc_scan(line, len, DEPTH, &plain, err_plain, sizeof(err_plain));
	rc_kept = jsonrpc_scan_keep(line, len, DEPTH, &kept, err_kept, sizeof(err_kept));
	cr_assert_eq(rc_kept, rc_plain, "scan verdicts differ on \"%.*s\"", (int)len, line);
	if (rc_kept < 0) {
		cr_assert_str_eq(err_kept, err_plain);
		jsonrpc_msg_release(&kept);
		return -1;
	}
	expect_same_scan(line, &kept, &plain);
	for (size_t k = 0; k < MEMBERS; k++) {
		if (member_at(&kept, k)->end > member_at(&kept, k)->start)
			packed += compare_member(line, &kept, &plain, k, max_depth);
	}
	jsonrpc_msg_release(&kept);
	return packed;
}

static int compare_line(const char *line, int max_depth)
{
	return compare_line_len(line, strlen(line), max_depth);
}

/* Scans line with jsonrpc_scan_keep, which must accept it. Release m after. */
static void scan_keep_ok(const char *line, struct jsonrpc_msg *m)
{
	char err[256] = "";

	cr_assert_eq(jsonrpc_scan_keep(line, strlen(line), DEPTH, m, err, sizeof(err)), 0, "%s: %s",
		     line, err);
}

/* Expects every line to scan and all its present members to pack alike. */
static void expect_lines_pack_alike(const char *const *lines)
{
	for (size_t i = 0; lines[i]; i++)
		cr_assert_gt(compare_line(lines[i], DEPTH), 0, "\"%s\" packed nothing", lines[i]);
}

/* A line {"id":1,"result":<result>}; caller frees. */
static char *result_line(const char *result)
{
	char *line;

	cr_assert_neq(asprintf(&line, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":%s}", result), -1);
	return line;
}

Test(jsonrpc_pack, nested_results_pack_like_jsontext_to_msgpack)
{
	static const char *const lines[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":17,\"result\":{\"content\":[{\"type\":\"text\","
		"\"text\":\"Echo: hello\"}],\"isError\":false}}",
		"{\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\",\"inputSchema\":{\"type\":"
		"\"object\",\"properties\":{\"x\":{\"type\":\"array\",\"items\":[[[1]]]}}}}]}}",
		"{\"result\":[[{\"a\":[{\"b\":[]}]}],{\"c\":{\"d\":{\"e\":null}}}],\"id\":2}",
		" {\n\t\"result\" : { \"a\" : [ 1 , { \"b\" : 2 } ] } , \"id\" : 3 }\r\n",
		"{\"result\":\"just a string\",\"id\":4}",
		"{\"result\":true}", "{\"result\":null}", "{\"result\":-12.5e-3}",
		NULL
	};

	expect_lines_pack_alike(lines);
}

Test(jsonrpc_pack, strings_with_escapes_and_utf8_pack_alike)
{
	static const char *const lines[] = {
		"{\"result\":{\"t\":\"line\\nbreak \\\"quoted\\\" back\\\\slash \\/ \\b\\f\\r\\t\"}}",
		"{\"result\":[\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\","
		"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]}",
		"{\"result\":{\"k\\u00e9y\":\"v\",\"\xe2\x82\xac\":\"\\u001f\\u007f\"}}",
		"{\"result\":\"a long plain string that runs past eight bytes more than once\"}",
		"{\"result\":\"\"}", "{\"result\":{\"\":\"\"}}",
		NULL
	};

	expect_lines_pack_alike(lines);
}

Test(jsonrpc_pack, numbers_of_every_kind_pack_alike)
{
	static const char *const lines[] = {
		"{\"result\":[0,-0,1,-1,127,128,255,256,65535,65536,-32,-33,-128,-129,-32768,-32769]}",
		"{\"result\":[9223372036854775807,-9223372036854775808,9223372036854775808]}",
		"{\"result\":[18446744073709551615,18446744073709551616,-9223372036854775809]}",
		"{\"result\":[0.5,-0.0,1e3,1E-3,2.5e+10,1e308,4.9e-324,1e-400,123456789012345678]}",
		"{\"result\":[0.1,3.141592653589793,2.2250738585072014e-308,1.7976931348623157e308]}",
		"{\"result\":12345678901234567890123}", "{\"result\":-0.0}", "{\"result\":7}",
		NULL
	};

	expect_lines_pack_alike(lines);
}

Test(jsonrpc_pack, empty_containers_pack_alike)
{
	static const char *const lines[] = {
		"{\"result\":{}}", "{\"result\":[]}", "{\"result\":[[],{},[{}],{\"a\":[]}]}",
		"{\"result\":{ }}", "{\"result\":[ ]}", "{\"id\":[],\"result\":{},\"params\":[[]]}",
		NULL
	};

	expect_lines_pack_alike(lines);
}

Test(jsonrpc_pack, many_containers_spill_the_counts_to_the_heap)
{
	size_t cap = 64 * 1024, len = 0;
	char *line = malloc(cap);
	struct jsonrpc_msg m;

	len += (size_t)sprintf(line + len, "{\"params\":[");
	for (int i = 0; i < 300; i++)
		len += (size_t)sprintf(line + len, "%s[%d]", i ? "," : "", i);
	len += (size_t)sprintf(line + len, "],\"result\":[");
	for (int i = 0; i < 300; i++)
		len += (size_t)sprintf(line + len, "%s{\"i\":%d,\"v\":[]}", i ? "," : "", i);
	len += (size_t)sprintf(line + len, "]}");
	scan_keep_ok(line, &m);
	cr_assert_not_null(m.counts_heap, "over %d containers must leave the in-struct buffer",
			   JSONRPC_COUNTS_LOCAL);
	cr_assert_gt(m.result.first_count, JSONRPC_COUNTS_LOCAL);
	jsonrpc_msg_release(&m);
	cr_assert_eq(compare_line_len(line, len, DEPTH), 2);
	free(line);
}

Test(jsonrpc_pack, repeated_names_inside_result_take_the_jansson_path)
{
	static const char *const lines[] = {
		"{\"result\":{\"a\":1,\"b\":2,\"a\":3}}",
		"{\"result\":{\"x\":{\"a\":1,\"a\":[1,{\"b\":2,\"b\":3}]},\"y\":[{\"c\":1,\"c\":{}}]}}",
		"{\"result\":{\"a\":1,\"\\u0061\":2},\"id\":9}",
		"{\"result\":[{\"k\":1},{\"k\":2},{\"\":1,\"\":2}]}",
		NULL
	};
	struct jsonrpc_msg m;

	expect_lines_pack_alike(lines);
	scan_keep_ok(lines[0], &m);
	cr_assert(m.result.may_repeat);
	jsonrpc_msg_release(&m);
	scan_keep_ok(lines[3], &m);
	cr_assert(m.result.may_repeat);
	jsonrpc_msg_release(&m);
}

Test(jsonrpc_pack, repeated_names_with_integers_beyond_int64_are_refused_as_by_jsontext)
{
	const char *line = "{\"id\":1,\"result\":{\"a\":1,\"a\":18446744073709551615}}";
	struct jsonrpc_msg m;
	struct packed o;

	cr_assert_eq(compare_line(line, DEPTH), 1, "the id packs, the result is refused");
	scan_keep_ok(line, &m);
	pack_member(&o, line, &m, &m.result, DEPTH);
	cr_assert_eq(o.rc, -1);
	cr_assert(strstr(o.err, "too big integer"), "%s", o.err);
	msgpack_sbuffer_destroy(&o.sb);
	jsonrpc_msg_release(&m);
}

Test(jsonrpc_pack, names_repeated_only_in_another_member_keep_the_fast_path)
{
	const char *line = "{\"params\":{\"a\":1,\"a\":2},\"result\":{\"a\":1,\"b\":{\"a\":2}},"
			   "\"error\":[{\"a\":1},{\"a\":1}]}";
	struct jsonrpc_msg m;

	cr_assert_eq(compare_line(line, DEPTH), 3);
	scan_keep_ok(line, &m);
	cr_assert(m.params.may_repeat);
	cr_assert_not(m.result.may_repeat);
	cr_assert_not(m.error.may_repeat);
	jsonrpc_msg_release(&m);
}

Test(jsonrpc_pack, repeated_top_level_result_packs_the_last_one)
{
	const char *line = "{\"result\":{\"a\":1,\"a\":2,\"x\":[[1],[2]]},\"id\":1,"
			   "\"re\\u0073ult\":[{\"y\":{}},[3]]}";
	const char *want = "[{\"y\":{}},[3]]";
	struct jsonrpc_msg m;
	struct packed got, ref;
	size_t pos = 0;
	msgpack_packer pk;

	cr_assert_eq(compare_line(line, DEPTH), 2);
	scan_keep_ok(line, &m);
	cr_assert_not(m.result.may_repeat, "the repeats were in the value that lost");
	cr_assert_gt(m.result.first_count, 1);
	pack_member(&got, line, &m, &m.result, DEPTH);
	packed_init(&ref);
	msgpack_packer_init(&pk, &ref.sb, msgpack_sbuffer_write);
	cr_assert_eq(jsontext_to_msgpack(want, strlen(want), &pos, &pk, DEPTH, NULL, 0), 0);
	expect_same_packed(&ref, &got, line, "the last result");
	msgpack_sbuffer_destroy(&got.sb);
	msgpack_sbuffer_destroy(&ref.sb);
	jsonrpc_msg_release(&m);
}

Test(jsonrpc_pack, repeated_top_level_result_with_repeats_in_the_winner_takes_the_jansson_path)
{
	const char *line = "{\"result\":[[1],{\"b\":2}],\"result\":{\"a\":1,\"a\":2}}";
	struct jsonrpc_msg m;

	cr_assert_eq(compare_line(line, DEPTH), 1);
	scan_keep_ok(line, &m);
	cr_assert(m.result.may_repeat);
	jsonrpc_msg_release(&m);
}

Test(jsonrpc_pack, depth_at_the_limit_packs_and_one_past_is_refused)
{
	for (int levels = 1; levels <= 63; levels++) {
		char *arrays = nested(levels, "[", "]", "\"leaf\"");
		char *objects = nested(levels - 1, "{\"k\":", "}", "{}");
		char *lines[] = { result_line(arrays), result_line(objects) };

		for (size_t i = 0; i < 2; i++) {
			cr_assert_eq(compare_line(lines[i], levels), 2, "%d levels, at the limit",
				     levels);
			cr_assert_eq(compare_line(lines[i], levels - 1), 1, "%d levels, one past",
				     levels);
			free(lines[i]);
		}
		free(arrays);
		free(objects);
	}
}

Test(jsonrpc_pack, depth_refusal_names_the_limit_and_the_byte_as_jsontext_does)
{
	char *line = result_line("{\"a\":[1,[2,[3]]],\"b\":[[[[4]]]]}");
	struct jsonrpc_msg m;
	struct packed o;

	scan_keep_ok(line, &m);
	cr_assert_eq(m.result.levels, 5);
	pack_member(&o, line, &m, &m.result, 4);
	cr_assert_eq(o.rc, -1);
	cr_assert(strstr(o.err, "deeper than 4 levels at byte 24"), "%s", o.err);
	msgpack_sbuffer_destroy(&o.sb);
	jsonrpc_msg_release(&m);
	free(line);
}

Test(jsonrpc_pack, depth_limits_below_one_and_above_the_cap_agree)
{
	static const char *const lines[] = { "{\"result\":1}", "{\"result\":[]}",
					     "{\"result\":{\"a\":[{}]}}", NULL };
	static const int depths[] = { -5, -1, 0, 1, 2, 3, 64, 65, 1000, INT32_MAX };

	for (size_t i = 0; lines[i]; i++)
		for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++)
			compare_line(lines[i], depths[d]);
	cr_assert_eq(compare_line(lines[0], -1), 1, "a scalar has no levels to limit");
	cr_assert_eq(compare_line(lines[1], 0), 0, "an empty array is one level");
}

Test(jsonrpc_pack, error_member_packs_alike)
{
	static const char *const lines[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32601,\"message\":\"Method not "
		"found\",\"data\":{\"detail\":[\"x\",1.5,null]}}}",
		"{\"error\":{\"code\":-32000,\"message\":\"caf\\u00e9\"},\"id\":\"s\"}",
		NULL
	};

	expect_lines_pack_alike(lines);
}

Test(jsonrpc_pack, params_member_packs_alike)
{
	static const char *const lines[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
		"\"arguments\":{\"text\":\"hi\",\"n\":[1,2,3]}}}",
		"{\"method\":\"notifications/progress\",\"params\":{\"progress\":0.5,\"total\":1}}",
		"{\"method\":\"x\",\"params\":[]}",
		NULL
	};

	expect_lines_pack_alike(lines);
}

Test(jsonrpc_pack, absent_member_is_refused_like_empty_text)
{
	const char *line = "{\"id\":1,\"result\":{}}";
	struct jsonrpc_msg m;
	struct packed want, got;

	scan_keep_ok(line, &m);
	pack_span(&want, line, &m.error, DEPTH);
	pack_member(&got, line, &m, &m.error, DEPTH);
	cr_assert_eq(want.rc, -1);
	expect_same_packed(&want, &got, line, "absent error");
	msgpack_sbuffer_destroy(&want.sb);
	msgpack_sbuffer_destroy(&got.sb);
	jsonrpc_msg_release(&m);
}

Test(jsonrpc_pack, scan_keep_accepts_and_refuses_like_scan)
{
	static const char *const lines[] = {
		"[{\"id\":1}]", "", "   ", "\"id\"", "{\"id\":1} x", "{\"id\":1}{\"id\":2}",
		"{\"id\":1,}", "{\"id\":01}", "{\"id\":1", "{\"result\":[1,2}",
		"{\"result\":\"\\ud800\"}", "{\"x\":\"\x01\"}", "{\"result\":{\"a\":1,\"a\"}}",
		" \t{}\r\n", "{\"id\":1,\"result\":2}", NULL
	};

	for (size_t i = 0; lines[i]; i++)
		compare_line(lines[i], DEPTH);
	cr_assert_eq(compare_line(lines[0], DEPTH), -1);
	cr_assert_eq(compare_line(lines[13], DEPTH), 0);
}

Test(jsonrpc_pack, scan_keep_refuses_beyond_its_nesting_limit_holding_nothing)
{
	char *deep = nested(64, "{\"result\":", "}", "[]");
	char *wide = malloc(16 * 1024), *p = wide;
	struct jsonrpc_msg m;
	char err[128] = "";

	cr_assert_eq(jsonrpc_scan_keep(deep, strlen(deep), DEPTH, &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "deeper than 64"), "%s", err);
	cr_assert_not(m.counts_kept);
	cr_assert_null(m.counts_heap);
	p += sprintf(p, "{\"result\":[");
	for (int i = 0; i < 600; i++)
		p += sprintf(p, "[],");
	sprintf(p, "]}");
	cr_assert_eq(jsonrpc_scan_keep(wide, strlen(wide), DEPTH, &m, err, sizeof(err)), -1,
		     "a trailing comma after the heap spill");
	cr_assert_null(m.counts_heap, "a refused line leaves no heap block behind");
	jsonrpc_msg_release(&m);
	free(deep);
	free(wide);
}

Test(jsonrpc_pack, release_accepts_null_and_messages_that_never_spilled)
{
	struct jsonrpc_msg m;

	jsonrpc_msg_release(NULL);
	scan_keep_ok("{\"id\":1,\"result\":[1]}", &m);
	cr_assert_null(m.counts_heap);
	jsonrpc_msg_release(&m);
	cr_assert_not(m.counts_kept);
	jsonrpc_msg_release(&m);
	scan_ok("{\"id\":1}", &m);
	jsonrpc_msg_release(&m);
}

Test(jsonrpc_pack, a_copied_message_packs_like_the_original)
{
	size_t cap = 32 * 1024, len = 0;
	char *line = malloc(cap);
	struct jsonrpc_msg m, copy;
	struct packed a, b;

	for (int spill = 0; spill < 2; spill++) {
		len = (size_t)sprintf(line, "{\"id\":1,\"result\":[");
		for (int i = 0; i < (spill ? 400 : 3); i++)
			len += (size_t)sprintf(line + len, "%s{\"n\":[%d]}", i ? "," : "", i);
		len += (size_t)sprintf(line + len, "]}");
		scan_keep_ok(line, &m);
		copy = m;
		memset(&m.counts_local, 0xff, sizeof(m.counts_local));
		pack_span(&a, line, &copy.result, DEPTH);
		pack_member(&b, line, &copy, &copy.result, DEPTH);
		expect_same_packed(&a, &b, line, "a copy");
		msgpack_sbuffer_destroy(&a.sb);
		msgpack_sbuffer_destroy(&b.sb);
		jsonrpc_msg_release(&copy);
	}
	free(line);
}

/* A packer whose writes fail once limit bytes went through. */
struct failing_sink {
	size_t used, limit;
};

static int failing_write(void *data, const char *buf, size_t len)
{
	struct failing_sink *f = data;

	(void)buf;
	if (f->used + len > f->limit)
		return -1;
	f->used += len;
	return 0;
}

Test(jsonrpc_pack, failing_packer_is_reported_as_by_jsontext)
{
	const char *line = "{\"id\":1,\"result\":{\"content\":[{\"type\":\"text\","
			   "\"text\":\"x\"}]}}";
	struct jsonrpc_msg m;
	msgpack_packer pk;
	char want[128] = "", got[128] = "";
	size_t pos;

	scan_keep_ok(line, &m);
	for (size_t limit = 0; limit < 30; limit++) {
		struct failing_sink a = { 0, limit }, b = { 0, limit };
		int rc_want, rc_got;

		pos = 0;
		msgpack_packer_init(&pk, &a, failing_write);
		rc_want = jsontext_to_msgpack(line + m.result.start, m.result.end - m.result.start,
					      &pos, &pk, DEPTH, want, sizeof(want));
		msgpack_packer_init(&pk, &b, failing_write);
		rc_got = jsonrpc_pack(line, &m, &m.result, &pk, DEPTH, got, sizeof(got));
		cr_assert_eq(rc_got, rc_want, "limit %zu", limit);
		cr_assert_eq(b.used, a.used, "limit %zu", limit);
		if (rc_want)
			cr_assert_str_eq(got, want);
	}
	cr_assert_str_eq(got, "msgpack packer failed (out of memory?)");
	jsonrpc_msg_release(&m);
}

/* A JSON-RPC-shaped line: a few members, named from a small set that repeats. */
static void gen_rpc_line(struct gen *g)
{
	static const char *const names[] = { "\"jsonrpc\"", "\"id\"",	  "\"result\"",
					     "\"error\"",   "\"params\"", "\"method\"",
					     "\"re\\u0073ult\"", "\"other\"" };
	unsigned n = 1 + rnd(&g->r, 5);

	gen_ws(g);
	gputs(g, "{");
	gen_ws(g);
	if (rnd(&g->r, 20) == 0) {
		gputs(g, "\"pad\":[");
		for (int i = 0; i < 300; i++)
			gputs(g, i ? ",{}" : "[]");
		gputs(g, "],");
	}
	for (unsigned i = 0; i < n; i++) {
		if (i)
			gputs(g, ",");
		gen_ws(g);
		gputs(g, names[rnd(&g->r, sizeof(names) / sizeof(names[0]))]);
		gen_ws(g);
		gputs(g, ":");
		gen_value(g, 0);
	}
	gputs(g, "}");
	gen_ws(g);
}

/* Small limits so that the generated values often nest past them. */
static int random_depth(struct rng *r)
{
	static const int depths[] = { -1, 0, 1, 2, 3, 4, 5, 6, 8, 63, 64, 1000 };

	return depths[rnd(r, sizeof(depths) / sizeof(depths[0]))];
}

Test(jsonrpc_pack, generated_lines_pack_like_jsontext_to_msgpack, .timeout = 600)
{
	struct gen g = { .r = { 0x6a09e667f3bcc908u } };
	struct rng dr = { 0xbb67ae8584caa73bu };
	int packed = 0, lines = 0;

	for (int i = 0; i < 50000; i++) {
		int rc;

		g.len = 0;
		gen_rpc_line(&g);
		rc = compare_line_len(g.buf, g.len, random_depth(&dr));
		lines += rc >= 0;
		packed += rc > 0 ? rc : 0;
	}
	cr_assert_gt(lines, 49000, "the generator should mostly make valid lines (%d)", lines);
	cr_assert_gt(packed, 20000, "many members should pack (%d)", packed);
	free(g.buf);
}

Test(jsonrpc_pack, mutated_lines_pack_like_jsontext_to_msgpack, .timeout = 600)
{
	struct gen g = { .r = { 0x3c6ef372fe94f82bu } };
	struct rng mr = { 0xa54ff53a5f1d36f1u }, dr = { 0x510e527fade682d1u };
	int accepted = 0, refused = 0;

	for (int i = 0; i < 50000; i++) {
		char *copy;
		size_t len;
		int rc;

		g.len = 0;
		gen_rpc_line(&g);
		len = g.len;
		copy = malloc(len + 8);
		memcpy(copy, g.buf, len);
		mutate(&mr, copy, &len, len + 8);
		/* Exact-size, so ASan sees any read past the end. */
		copy = realloc(copy, len ? len : 1);
		rc = compare_line_len(copy, len, random_depth(&dr));
		accepted += rc >= 0;
		refused += rc < 0;
		free(copy);
	}
	cr_assert_gt(accepted, 1000, "some mutants should stay valid (%d)", accepted);
	cr_assert_gt(refused, 20000, "most mutants should be refused (%d)", refused);
	free(g.buf);
}

/* ---- jbuf_reset ---------------------------------------------------------- */

Test(jbuf, reset_keeps_a_small_buffer_for_reuse_and_frees_a_grown_one)
{
	struct jbuf b;
	char big[5000];
	char *kept;

	jbuf_init(&b);
	cr_assert_eq(jbuf_append(&b, "hello", 5), 0);
	kept = b.data;
	jbuf_reset(&b, 4096);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.data, kept, "a buffer under keep_max is kept");
	cr_assert_str_eq(b.data, "");
	cr_assert_eq(jbuf_append(&b, "ab", 2), 0);
	cr_assert_str_eq(b.data, "ab");
	memset(big, 'x', sizeof(big));
	cr_assert_eq(jbuf_append(&b, big, sizeof(big)), 0);
	cr_assert_gt(b.cap, 4096);
	jbuf_reset(&b, 4096);
	cr_assert_null(b.data, "a buffer past keep_max is freed");
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	jbuf_reset(&b, 4096);
	cr_assert_eq(jbuf_append(&b, "c", 1), 0);
	cr_assert_str_eq(b.data, "c");
	jbuf_free(&b);
}

/*
 * The scanner reads string bodies eight bytes at a time and takes the first special
 * byte of a block from its bit mask: each kind of special byte, at every position of
 * two blocks, must end the plain run exactly there.
 */
Test(jsontext, special_bytes_at_every_position_of_a_block_are_found_exactly)
{
	static const char *const specials[] = { "\"", "\\n", "\\u00e9", "\xc3\xa9", "\x01", "\x7f" };
	char text[96];

	for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
		for (int pos = 0; pos < 16; pos++) {
			int n = snprintf(text, sizeof(text), "[\"%.*s%s%s\", 1]", pos,
					 "abcdefghijklmnopqrstuvwxyz", specials[k],
					 k == 0 ? ", \"tail\"" : "xyz0123456789");

			cr_assert_lt((size_t)n, sizeof(text));
			/* "\x01" is refused, the others accepted: either way exactly as jansson. */
			compare_len(text, (size_t)n, JSONTEXT_MAX_DEPTH);
		}
	}
}

/* ---- batches ---- */

struct elems {
	unsigned n;
	char text[4][64];
	int fail_at; /* return -1 on this element (1-based), 0: never */
};

static int collect_elem(void *ctx, const char *elem, size_t len)
{
	struct elems *e = ctx;

	if (e->n < 4)
		snprintf(e->text[e->n], sizeof(e->text[0]), "%.*s", (int)len, elem);
	e->n++;
	return e->fail_at && (int)e->n == e->fail_at ? -1 : 0;
}

Test(jsontext, a_batch_is_split_into_its_elements_text)
{
	const char *batch = " [ {\"id\":1,\"result\":{}} ,\n{\"method\":\"m\",\"params\":[1,2]}\t] ";
	struct elems e = { 0 };

	cr_assert_eq(jsontext_batch_each(batch, strlen(batch), DEPTH, collect_elem, &e), 1);
	cr_assert_eq(e.n, 2);
	cr_assert_str_eq(e.text[0], "{\"id\":1,\"result\":{}}");
	cr_assert_str_eq(e.text[1], "{\"method\":\"m\",\"params\":[1,2]}");
	memset(&e, 0, sizeof(e));
	cr_assert_eq(jsontext_batch_each("[]", 2, DEPTH, collect_elem, &e), 1);
	cr_assert_eq(e.n, 0);
}

Test(jsontext, what_is_not_a_valid_array_is_no_batch)
{
	static const char *const no[] = { "{\"id\":1}", "[{\"id\":1},]", "[{\"id\":1}", "", "  ",
					  "[1] x", "\"[1]\"" };
	struct elems e = { 0 };

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		int rc = jsontext_batch_each(no[i], strlen(no[i]), DEPTH, collect_elem, &e);
		/* "[1] x": the array is valid; what follows it is the caller's business. */
		if (i == 5)
			continue;
		cr_assert_eq(rc, 0, "'%s'", no[i]);
	}
	cr_assert_eq(e.n, 1, "only the valid array of '[1] x' passed an element on");
}

Test(jsontext, a_failing_callback_stops_the_batch)
{
	const char *batch = "[1,2,3]";
	struct elems e = { .fail_at = 2 };

	cr_assert_eq(jsontext_batch_each(batch, strlen(batch), DEPTH, collect_elem, &e), -1);
	cr_assert_eq(e.n, 2);
}
