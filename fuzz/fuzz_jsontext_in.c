/*
 * Fuzzes JSON text -> msgpack (proto/jsontext.c), differential against jansson. The
 * input is one JSON text, and:
 * - jsontext_skip and jsontext_to_msgpack accept the same texts and stop at the same
 *   byte (but for the documented corner of a repeated name with an integer beyond int64);
 * - jsontext_to_msgpack of the whole input packs the same bytes as json_loadb +
 *   mpjson_check + mpjson_pack, or both refuse, apart from the documented differences:
 *   jansson refuses integers beyond int64, and takes a raw NUL byte for the end;
 * - an accepted value of depth D is accepted at max_depth D and refused at D - 1;
 * - written back with jsontext_from_msgpack, the packed value reads back to the same bytes.
 */
#include "fuzz.h"

#include <jansson.h>

#include "jsontext.h"
#include "mpjson.h"
#include "wire.h"

/* json_loadb + mpjson_check + mpjson_pack; returns 0, or -1 with jerr. */
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

/* jsontext_to_msgpack of the whole text; returns 0, or -1 with err (trailing data too). */
static int my_pack(const char *text, size_t len, int max_depth, msgpack_sbuffer *sb, char *err,
		   size_t errlen, bool *corner)
{
	msgpack_packer pk;
	size_t pos = 0, skip_pos = 0;
	char skip_err[256] = "";
	int rc, skip_rc;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	rc = jsontext_to_msgpack(text, len, &pos, &pk, max_depth, err, errlen);
	skip_rc = jsontext_skip(text, len, &skip_pos, max_depth, skip_err, sizeof(skip_err));
	*corner = rc < 0 && skip_rc == 0 && strstr(err, "too big");
	if (*corner)
		return -1;
	FUZZ_CHECK(rc == skip_rc, "skip %d (%s), to_msgpack %d (%s)", skip_rc, skip_err, rc, err);
	if (rc < 0) {
		FUZZ_CHECK(err[0], "refused without a reason");
		return -1;
	}
	FUZZ_CHECK(pos == skip_pos, "skip ends at %zu, to_msgpack at %zu", skip_pos, pos);
	FUZZ_CHECK(pos <= len, "pos %zu past %zu", pos, len);
	if (pos != len) {
		snprintf(err, errlen, "trailing data at byte %zu", pos);
		return -1;
	}
	return 0;
}

/* The packed value, written as JSON text and read back, packs to the same bytes. */
static void check_round_trip(const msgpack_sbuffer *sb)
{
	msgpack_zone zone;
	msgpack_object obj;
	msgpack_sbuffer again;
	struct jbuf text;
	char err[256] = "";
	bool corner;

	msgpack_zone_init(&zone, 1024);
	FUZZ_CHECK(wire_unpack(sb->data, sb->size, &zone, &obj, err, sizeof(err)) == 0,
		   "packed bytes do not decode: %s", err);
	jbuf_init(&text);
	FUZZ_CHECK(jsontext_from_msgpack(&obj, &text, JSONTEXT_MAX_DEPTH, err, sizeof(err)) == 0,
		   "cannot write back what was read: %s", err);
	msgpack_sbuffer_init(&again);
	FUZZ_CHECK(my_pack(text.data, text.len, JSONTEXT_MAX_DEPTH, &again, err, sizeof(err),
			   &corner) == 0,
		   "cannot read back %s: %s", text.data, err);
	FUZZ_CHECK(again.size == sb->size && memcmp(again.data, sb->data, sb->size) == 0,
		   "round trip through %s changed the msgpack", text.data);
	msgpack_sbuffer_destroy(&again);
	jbuf_free(&text);
	msgpack_zone_destroy(&zone);
}

/* Depth D: accepted at max_depth D, refused at D - 1. */
static void check_depth(const char *text, size_t len, const msgpack_sbuffer *sb)
{
	msgpack_zone zone;
	msgpack_object obj;
	size_t pos = 0;
	char err[256] = "";
	int depth;

	msgpack_zone_init(&zone, 1024);
	FUZZ_CHECK(wire_unpack(sb->data, sb->size, &zone, &obj, err, sizeof(err)) == 0, "%s", err);
	depth = fuzz_obj_depth(&obj);
	FUZZ_CHECK(jsontext_skip(text, len, &pos, depth, err, sizeof(err)) == 0,
		   "refused at its depth %d: %s", depth, err);
	pos = 0;
	if (depth > 0)
		FUZZ_CHECK(jsontext_skip(text, len, &pos, depth - 1, err, sizeof(err)) < 0 &&
				   strstr(err, "nests deeper"),
			   "accepted at depth %d - 1", depth);
	msgpack_zone_destroy(&zone);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	msgpack_sbuffer ref, mine;
	json_error_t jerr;
	char err[256] = "";
	int rref, rmine;
	bool corner;

	msgpack_sbuffer_init(&ref);
	msgpack_sbuffer_init(&mine);
	rref = ref_pack(text, size, JSONTEXT_MAX_DEPTH, &ref, &jerr);
	rmine = my_pack(text, size, JSONTEXT_MAX_DEPTH, &mine, err, sizeof(err), &corner);
	if (corner || (rref < 0 && strncmp(jerr.text, "too big", 7) == 0) ||
	    (rref == 0 && rmine < 0 && memchr(text, '\0', size)))
		goto out; /* the documented differences */
	FUZZ_CHECK(rmine == rref, "jansson %s, jsontext %s", rref ? jerr.text : "accepts",
		   rmine ? err : "accepts");
	if (rref == 0) {
		FUZZ_CHECK(mine.size == ref.size && memcmp(mine.data, ref.data, ref.size) == 0,
			   "msgpack bytes differ (%zu and %zu bytes)", mine.size, ref.size);
		check_depth(text, size, &mine);
		check_round_trip(&mine);
	}
out:
	msgpack_sbuffer_destroy(&ref);
	msgpack_sbuffer_destroy(&mine);
	return 0;
}
