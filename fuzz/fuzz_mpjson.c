/*
 * Fuzzes the jansson bridge (proto/mpjson.c). The first input byte picks the direction,
 * the rest is the document:
 * - even: msgpack. What mpjson_to_json accepts passes mpjson_check, packs with
 *   mpjson_pack to msgpack that converts back to a tree that packs the same, and mpjson_dumps
 *   (compact and pretty) writes text that jansson reads back equal; what it refuses,
 *   mpjson_dumps refuses too;
 * - odd: JSON text. What jansson reads and mpjson_check passes packs with mpjson_pack
 *   to msgpack that wire_unpack takes and mpjson_to_json turns back into a tree that
 *   packs the same.
 * On every input, mpjson_utf8_valid agrees with Unicode's table of well-formed
 * sequences (Table 3-7), written out below, and with jsontext's string writer.
 */
#include "fuzz.h"

#include <jansson.h>

#include "jsontext.h"
#include "mpjson.h"
#include "wire.h"

/* The Unicode standard's Table 3-7, range by range: the reference for mpjson_utf8_valid. */
static bool utf8_reference(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		uint8_t lo = 0x80, hi = 0xbf;
		size_t more;

		if (c <= 0x7f) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c == 0xe0)
			more = 2, lo = 0xa0;
		else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
			more = 2;
		else if (c == 0xed)
			more = 2, hi = 0x9f;
		else if (c == 0xf0)
			more = 3, lo = 0x90;
		else if (c >= 0xf1 && c <= 0xf3)
			more = 3;
		else if (c == 0xf4)
			more = 3, hi = 0x8f;
		else
			return false;
		if (n - i - 1 < more || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= more; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += more + 1;
	}
	return true;
}

static void check_utf8(const uint8_t *s, size_t n)
{
	bool want = utf8_reference(s, n);
	struct jbuf b;

	FUZZ_CHECK(mpjson_utf8_valid((const char *)s, n) == want, "mpjson_utf8_valid says %d",
		   !want);
	jbuf_init(&b);
	FUZZ_CHECK((jsontext_append_string(&b, (const char *)s, n) == 0) == want,
		   "jsontext_append_string disagrees (%d)", want);
	jbuf_free(&b);
}

static void pack(const json_t *j, msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	mpjson_pack(&pk, j);
}

/*
 * Packs j with mpjson_pack, converts the bytes back and packs again: the same bytes
 * (compared as msgpack because jansson's json_equal misses keys holding a NUL).
 */
static void check_pack_back(const json_t *j)
{
	msgpack_sbuffer sb, again;
	msgpack_zone zone;
	msgpack_object obj;
	char err[256] = "";
	json_t *back;

	pack(j, &sb);
	msgpack_zone_init(&zone, 1024);
	FUZZ_CHECK(wire_unpack(sb.data, sb.size, &zone, &obj, err, sizeof(err)) == 0,
		   "mpjson_pack wrote bad msgpack: %s", err);
	back = mpjson_to_json(&obj, err, sizeof(err));
	FUZZ_CHECK(back, "packed tree does not convert back: %s", err);
	pack(back, &again);
	FUZZ_CHECK(again.size == sb.size && memcmp(again.data, sb.data, sb.size) == 0,
		   "packed tree converts back to another");
	json_decref(back);
	msgpack_sbuffer_destroy(&again);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}

static void check_dumps(const msgpack_object *obj, const json_t *j, int pretty)
{
	char err[256] = "";
	char *text = mpjson_dumps(obj, pretty, err, sizeof(err));
	json_error_t jerr;
	json_t *back;

	if (!j) {
		FUZZ_CHECK(!text, "mpjson_dumps wrote what mpjson_to_json refuses: %s", text);
		FUZZ_CHECK(err[0], "refused without a reason");
		return;
	}
	FUZZ_CHECK(text, "mpjson_dumps refused: %s", err);
	back = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	FUZZ_CHECK((back && json_equal(back, j)) ||
			   (!back && strstr(jerr.text, "NUL byte in object key")),
		   "mpjson_dumps wrote %s", text);
	json_decref(back);
	free(text);
}

static void from_msgpack(const char *buf, size_t len)
{
	msgpack_zone zone;
	msgpack_object obj;
	char err[256] = "";
	json_t *j;

	msgpack_zone_init(&zone, 1024);
	if (wire_unpack(buf, len, &zone, &obj, err, sizeof(err)) == 0) {
		j = mpjson_to_json(&obj, err, sizeof(err));
		if (j) {
			FUZZ_CHECK(mpjson_check(j, MPJSON_MAX_DEPTH, err, sizeof(err)) == 0,
				   "a converted tree fails mpjson_check: %s", err);
			check_pack_back(j);
		} else {
			FUZZ_CHECK(err[0], "refused without a reason");
		}
		check_dumps(&obj, j, 0);
		check_dumps(&obj, j, 1);
		json_decref(j);
	}
	msgpack_zone_destroy(&zone);
}

static void from_json(const char *text, size_t len)
{
	json_error_t jerr;
	char err[256] = "";
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);

	if (!j)
		return;
	if (mpjson_check(j, MPJSON_MAX_DEPTH, err, sizeof(err)) == 0)
		check_pack_back(j);
	else
		FUZZ_CHECK(strstr(err, "nests deeper"), "mpjson_check refused: %s", err);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	check_utf8(data + 1, size - 1);
	if (data[0] & 1)
		from_json((const char *)data + 1, size - 1);
	else
		from_msgpack((const char *)data + 1, size - 1);
	return 0;
}
