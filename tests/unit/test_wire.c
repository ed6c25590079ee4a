/* Unit tests of the wire protocol messages: validation, decoding and packing (proto/wire.c). */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "frame.h"
#include "wire.h"

struct packed {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void packed_init(struct packed *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void packed_destroy(struct packed *p)
{
	msgpack_sbuffer_destroy(&p->sb);
}

static int validate(const void *buf, size_t len, char *err, size_t errlen)
{
	return wire_validate((const char *)buf, len, WIRE_MAX_DEPTH, err, errlen);
}

/* [0, id, "call", {"user": "alice", "n": [1, -2, 3.5, nil, true]}] */
static void pack_sample_request(struct packed *p, uint64_t id)
{
	wire_pack_request_begin(&p->pk, id, "call");
	msgpack_pack_map(&p->pk, 2);
	wire_pack_str(&p->pk, "user");
	wire_pack_str(&p->pk, "alice");
	wire_pack_str(&p->pk, "n");
	msgpack_pack_array(&p->pk, 5);
	msgpack_pack_int(&p->pk, 1);
	msgpack_pack_int(&p->pk, -2);
	msgpack_pack_double(&p->pk, 3.5);
	msgpack_pack_nil(&p->pk);
	msgpack_pack_true(&p->pk);
}

/* One object of every msgpack family, inside an array. */
static void pack_every_type(struct packed *p)
{
	msgpack_pack_array(&p->pk, 22);
	msgpack_pack_nil(&p->pk);
	msgpack_pack_false(&p->pk);
	msgpack_pack_true(&p->pk);
	msgpack_pack_uint8(&p->pk, 5);
	msgpack_pack_uint8(&p->pk, 200);
	msgpack_pack_uint16(&p->pk, 60000);
	msgpack_pack_uint32(&p->pk, 4000000000u);
	msgpack_pack_uint64(&p->pk, UINT64_MAX);
	msgpack_pack_int8(&p->pk, -5);
	msgpack_pack_int8(&p->pk, -100);
	msgpack_pack_int16(&p->pk, -30000);
	msgpack_pack_int32(&p->pk, -2000000000);
	msgpack_pack_int64(&p->pk, INT64_MIN);
	msgpack_pack_float(&p->pk, 1.5f);
	msgpack_pack_double(&p->pk, -2.25);
	wire_pack_str(&p->pk, "fix");
	msgpack_pack_str(&p->pk, 40);
	msgpack_pack_str_body(&p->pk, "0123456789012345678901234567890123456789", 40);
	msgpack_pack_bin(&p->pk, 3);
	msgpack_pack_bin_body(&p->pk, "\x00\x01\x02", 3);
	msgpack_pack_ext(&p->pk, 4, 7);
	msgpack_pack_ext_body(&p->pk, "abcd", 4);
	msgpack_pack_ext(&p->pk, 3, -1);
	msgpack_pack_ext_body(&p->pk, "xyz", 3);
	msgpack_pack_map(&p->pk, 1);
	msgpack_pack_int(&p->pk, 1);
	msgpack_pack_array(&p->pk, 0);
	msgpack_pack_array(&p->pk, 16);
	for (int i = 0; i < 16; i++)
		msgpack_pack_int(&p->pk, i);
}

/* Packs obj and returns the bytes in sb (to compare two decodings of one buffer). */
static void repack(msgpack_sbuffer *sb, const msgpack_object *obj)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, *obj);
}

/* wire_unpack checks as it builds: it must accept and refuse as wire_validate does, for the same reason. */
static void unpack_agrees_with_validate(const char *buf, size_t len, int validated,
					const char *why, msgpack_zone *zone)
{
	char err[256];
	msgpack_object o;
	int rc = wire_unpack(buf, len, zone, &o, err, sizeof(err));

	cr_assert_eq(rc, validated, "validate %d (%s), unpack %d (%s), len %zu", validated, why, rc,
		     rc ? err : "ok", len);
	if (rc < 0) {
		cr_assert_str_eq(err, why);
		cr_assert_eq(o.type, MSGPACK_OBJECT_NIL);
	}
}

/*
 * Our decoder and msgpack-c's must agree on whether bytes are one object and
 * on what it is (msgpack-c stops at 32 levels; those cases are counted apart).
 * Buffers refused for a lying array or map count are not shown to msgpack-c:
 * it would try to allocate for the count, which is the attack we guard against.
 * Returns 1 when the buffer was accepted.
 */
static int check_against_msgpack_c(const char *buf, size_t len, size_t *too_deep_for_c)
{
	char err[256];
	int ours = validate(buf, len, err, sizeof(err));
	msgpack_zone zone;
	msgpack_object theirs, mine;
	size_t off = 0;
	int rc;

	msgpack_zone_init(&zone, 1024);
	unpack_agrees_with_validate(buf, len, ours, err, &zone);
	if (ours < 0 && (strstr(err, " elements exceeds ") || strstr(err, " pairs needs "))) {
		msgpack_zone_destroy(&zone);
		return 0;
	}
	rc = msgpack_unpack(buf, len, &off, &zone, &theirs);
	if (rc == MSGPACK_UNPACK_NOMEM_ERROR && ours == 0) {
		(*too_deep_for_c)++;
		msgpack_zone_destroy(&zone);
		return 1;
	}
	cr_assert_eq(ours == 0, rc == MSGPACK_UNPACK_SUCCESS,
		     "validate said %d (%s), msgpack_unpack said %d, len %zu", ours,
		     ours ? err : "ok", rc, len);
	if (ours == 0) {
		msgpack_sbuffer a, b;

		cr_assert_eq(off, len);
		cr_assert_eq(wire_unpack(buf, len, &zone, &mine, err, sizeof(err)), 0, "%s", err);
		repack(&a, &theirs);
		repack(&b, &mine);
		cr_assert_eq(a.size, b.size);
		cr_assert_eq(memcmp(a.data, b.data, a.size), 0);
		msgpack_sbuffer_destroy(&a);
		msgpack_sbuffer_destroy(&b);
	}
	msgpack_zone_destroy(&zone);
	return ours == 0;
}

/* ---- wire_validate ---------------------------------------------------------- */

Test(validate, well_formed_request_is_accepted)
{
	struct packed p;
	char err[128] = "";

	packed_init(&p);
	pack_sample_request(&p, 9);
	cr_assert_eq(validate(p.sb.data, p.sb.size, err, sizeof(err)), 0, "%s", err);
	packed_destroy(&p);
}

Test(validate, every_msgpack_type_is_accepted_and_decodes_like_msgpack_c)
{
	struct packed p;
	size_t too_deep = 0;

	packed_init(&p);
	pack_every_type(&p);
	cr_assert_eq(check_against_msgpack_c(p.sb.data, p.sb.size, &too_deep), 1);
	packed_destroy(&p);
}

Test(validate, empty_payload_is_refused)
{
	char err[128];

	cr_assert_eq(validate("", 0, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "empty payload");
}

Test(validate, array32_claiming_four_billion_elements_in_five_bytes_is_refused)
{
	const unsigned char buf[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	char err[128];

	cr_assert_eq(validate(buf, sizeof(buf), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "array of 4294967295 elements exceeds the 0 bytes left");
}

Test(validate, array_needs_at_least_one_byte_per_element)
{
	const unsigned char fits[] = { 0xdc, 0x00, 0x03, 0xc0, 0xc0, 0xc0 };
	const unsigned char lies[] = { 0xdc, 0x00, 0x04, 0xc0, 0xc0, 0xc0 };
	char err[128];

	cr_assert_eq(validate(fits, sizeof(fits), err, sizeof(err)), 0);
	cr_assert_eq(validate(lies, sizeof(lies), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "array of 4 elements exceeds the 3 bytes left");
}

Test(validate, map32_claiming_four_billion_pairs_is_refused)
{
	const unsigned char buf[] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0 };
	char err[128];

	cr_assert_eq(validate(buf, sizeof(buf), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "map of 4294967295 pairs needs at least 8589934590 bytes, only 2 left");
}

Test(validate, map_needs_two_bytes_per_pair)
{
	const unsigned char lies[] = { 0x82, 0xc0, 0xc0, 0xc0 };
	char err[128];

	cr_assert_eq(validate(lies, sizeof(lies), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "map of 2 pairs needs at least 4 bytes, only 3 left");
}

Test(validate, str32_length_lie_is_refused)
{
	unsigned char buf[5 + 12] = { 0xdb, 0xff, 0xff, 0xff, 0xff };
	char err[128];

	memset(buf + 5, 'a', 12);
	cr_assert_eq(validate(buf, sizeof(buf), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "str length 4294967295 exceeds the 12 bytes left");
}

Test(validate, bin_and_ext_length_lies_are_refused)
{
	const unsigned char bin[] = { 0xc6, 0x00, 0x01, 0x00, 0x00, 'x' };
	const unsigned char ext[] = { 0xc9, 0x00, 0x00, 0x00, 0x09, 0x01, 'x', 'y' };
	const unsigned char fixext[] = { 0xd8, 0x01, 'x' };
	char err[128];

	cr_assert_eq(validate(bin, sizeof(bin), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "bin length 65536 exceeds the 1 bytes left");
	cr_assert_eq(validate(ext, sizeof(ext), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "ext length 9 exceeds the 2 bytes left");
	cr_assert_eq(validate(fixext, sizeof(fixext), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "ext length 16 exceeds the 1 bytes left");
}

Test(validate, nesting_of_64_levels_is_accepted)
{
	unsigned char buf[65];
	char err[128] = "";

	memset(buf, 0x91, 63);
	buf[63] = 0x91;
	buf[64] = 0xc0;
	cr_assert_eq(validate(buf, sizeof(buf), err, sizeof(err)), 0, "%s", err);
}

Test(validate, nesting_of_65_levels_is_refused)
{
	unsigned char buf[66];
	char err[128];

	memset(buf, 0x91, 65);
	buf[65] = 0xc0;
	cr_assert_eq(validate(buf, sizeof(buf), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "frame nests deeper than 64 levels");
}

Test(validate, empty_containers_count_as_a_level)
{
	unsigned char buf[65];
	char err[128];

	memset(buf, 0x91, 64);
	buf[64] = 0x80;
	cr_assert_eq(validate(buf, sizeof(buf), err, sizeof(err)), -1);
	cr_assert_eq(wire_validate((const char *)buf, sizeof(buf), 65, err, sizeof(err)), 0);
}

Test(validate, nesting_through_maps_is_limited_too)
{
	unsigned char buf[200];
	size_t n = 0;
	char err[128];

	for (int i = 0; i < 65; i++) {
		buf[n++] = 0x81;
		buf[n++] = 0xa0;
	}
	buf[n++] = 0xc0;
	cr_assert_eq(validate(buf, n, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "frame nests deeper than 64 levels");
	cr_assert_eq(wire_validate((const char *)buf, n, 65, err, sizeof(err)), 0);
}

Test(validate, caller_depth_limit_is_honoured)
{
	const unsigned char two[] = { 0x91, 0x91, 0xc0 };
	char err[128];

	cr_assert_eq(wire_validate((const char *)two, sizeof(two), 2, err, sizeof(err)), 0);
	cr_assert_eq(wire_validate((const char *)two, sizeof(two), 1, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "frame nests deeper than 1 levels");
	cr_assert_eq(wire_validate((const char *)two + 2, 1, 0, err, sizeof(err)), 0);
}

Test(validate, large_depth_limit_handles_deep_frames)
{
	size_t n = 5000;
	unsigned char *buf = malloc(n + 1);
	char err[128] = "";

	memset(buf, 0x91, n);
	buf[n] = 0xc0;
	cr_assert_eq(wire_validate((const char *)buf, n + 1, 5000, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(wire_validate((const char *)buf, n + 1, 4999, err, sizeof(err)), -1);
	free(buf);
}

Test(validate, trailing_bytes_are_refused)
{
	struct packed p;
	char err[128];

	packed_init(&p);
	pack_sample_request(&p, 1);
	msgpack_pack_nil(&p.pk);
	msgpack_pack_nil(&p.pk);
	cr_assert_eq(validate(p.sb.data, p.sb.size, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "2 trailing bytes after the object");
	packed_destroy(&p);
}

Test(validate, reserved_byte_c1_is_refused_anywhere)
{
	const unsigned char top[] = { 0xc1 };
	const unsigned char nested[] = { 0x93, 0x01, 0xc1, 0x02 };
	char err[128];

	cr_assert_eq(validate(top, sizeof(top), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "reserved byte 0xc1 at offset 0");
	cr_assert_eq(validate(nested, sizeof(nested), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "reserved byte 0xc1 at offset 2");
}

Test(validate, truncated_head_is_refused_with_its_type)
{
	const unsigned char u32[] = { 0x92, 0x01, 0xce, 0x00, 0x01 };
	char err[128];

	cr_assert_eq(validate(u32, sizeof(u32), err, sizeof(err)), -1);
	cr_assert_str_eq(err, "frame truncated: int head at offset 2 needs 5 bytes, 3 left");
}

Test(validate, every_truncation_of_valid_messages_is_refused)
{
	struct packed p;
	char err[128];

	packed_init(&p);
	pack_sample_request(&p, UINT64_MAX);
	pack_every_type(&p);
	wire_pack_reply_error(&p.pk, 77, ERR_UPSTREAM_ERROR, "boom", NULL);
	/* Each prefix of the concatenation, and each prefix of each message, is cut somewhere. */
	for (size_t cut = 0; cut < p.sb.size; cut++) {
		size_t off = 0;
		msgpack_zone zone;
		msgpack_object obj;

		msgpack_zone_init(&zone, 256);
		if (msgpack_unpack(p.sb.data, cut, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS) {
			msgpack_zone_destroy(&zone);
			continue; /* a cut that falls exactly between two messages */
		}
		msgpack_zone_destroy(&zone);
		cr_assert_eq(validate(p.sb.data, cut, err, sizeof(err)), -1, "prefix %zu accepted", cut);
	}
	packed_destroy(&p);
}

Test(validate, every_proper_prefix_of_one_message_is_refused)
{
	struct packed p;
	char err[128];

	packed_init(&p);
	pack_every_type(&p);
	for (size_t cut = 0; cut < p.sb.size; cut++)
		cr_assert_eq(validate(p.sb.data, cut, err, sizeof(err)), -1, "prefix %zu accepted", cut);
	cr_assert_eq(validate(p.sb.data, p.sb.size, err, sizeof(err)), 0);
	packed_destroy(&p);
}

Test(validate, random_short_buffers_agree_with_msgpack_c)
{
	unsigned char buf[32];
	unsigned seed = 0x5eed;
	size_t accepted = 0, too_deep = 0;

	for (int iter = 0; iter < 200000; iter++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf)) + 1;

		for (size_t i = 0; i < len; i++) {
			/* Bias towards short heads so that whole objects appear often. */
			int r = rand_r(&seed);

			buf[i] = (r & 0x300) ? (unsigned char)(r & 0xff) : (unsigned char)(r & 0x0f);
		}
		accepted += (size_t)check_against_msgpack_c((const char *)buf, len, &too_deep);
	}
	cr_assert_gt(accepted, 1000, "the fuzz loop hardly exercised acceptance (%zu)", accepted);
	cr_assert_eq(too_deep, 0);
}

Test(validate, mutated_messages_agree_with_msgpack_c)
{
	struct packed p;
	char buf[512];
	unsigned seed = 42;
	size_t accepted = 0, too_deep = 0;

	packed_init(&p);
	pack_every_type(&p);
	cr_assert_lt(p.sb.size, sizeof(buf));
	for (int iter = 0; iter < 50000; iter++) {
		size_t len = p.sb.size;
		int flips = rand_r(&seed) % 4 + 1;

		memcpy(buf, p.sb.data, len);
		for (int f = 0; f < flips; f++)
			buf[rand_r(&seed) % len] = (char)(rand_r(&seed) & 0xff);
		if (rand_r(&seed) % 4 == 0)
			len = (size_t)(rand_r(&seed) % len) + 1;
		accepted += (size_t)check_against_msgpack_c(buf, len, &too_deep);
	}
	cr_assert_gt(accepted, 100);
	packed_destroy(&p);
}

/* ---- wire_unpack ------------------------------------------------------------ */

Test(unpack, decodes_64_levels_where_msgpack_c_stops_at_32)
{
	unsigned char buf[65];
	msgpack_zone zone;
	msgpack_object obj;
	const msgpack_object *o;
	char err[128] = "";
	int levels = 0;

	memset(buf, 0x91, 64);
	buf[64] = 0x07;
	msgpack_zone_init(&zone, 1024);
	cr_assert_eq(wire_unpack((const char *)buf, sizeof(buf), &zone, &obj, err, sizeof(err)), 0,
		     "%s", err);
	for (o = &obj; o->type == MSGPACK_OBJECT_ARRAY; o = &o->via.array.ptr[0]) {
		cr_assert_eq(o->via.array.size, 1);
		levels++;
	}
	cr_assert_eq(levels, 64);
	cr_assert_eq(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	cr_assert_eq(o->via.u64, 7);
	msgpack_zone_destroy(&zone);
}

Test(unpack, strings_point_into_the_buffer)
{
	struct packed p;
	msgpack_zone zone;
	msgpack_object obj;
	char err[128];

	packed_init(&p);
	wire_pack_str(&p.pk, "hello");
	msgpack_zone_init(&zone, 256);
	cr_assert_eq(wire_unpack(p.sb.data, p.sb.size, &zone, &obj, err, sizeof(err)), 0);
	cr_assert_eq(obj.type, MSGPACK_OBJECT_STR);
	cr_assert_eq(obj.via.str.ptr, p.sb.data + 1);
	cr_assert_eq(obj.via.str.size, 5);
	msgpack_zone_destroy(&zone);
	packed_destroy(&p);
}

Test(unpack, signed_forms_with_non_negative_values_decode_as_positive)
{
	const unsigned char buf[] = { 0x93, 0xd0, 0x05, 0xd3, 0, 0, 0, 0, 0, 0, 0, 0, 0xd1, 0xff, 0xfe };
	msgpack_zone zone;
	msgpack_object obj;
	char err[128];

	msgpack_zone_init(&zone, 256);
	cr_assert_eq(wire_unpack((const char *)buf, sizeof(buf), &zone, &obj, err, sizeof(err)), 0);
	cr_assert_eq(obj.via.array.ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	cr_assert_eq(obj.via.array.ptr[0].via.u64, 5);
	cr_assert_eq(obj.via.array.ptr[1].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	cr_assert_eq(obj.via.array.ptr[1].via.u64, 0);
	cr_assert_eq(obj.via.array.ptr[2].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	cr_assert_eq(obj.via.array.ptr[2].via.i64, -2);
	msgpack_zone_destroy(&zone);
}

/* ---- wire_decode ------------------------------------------------------------ */

struct decoded {
	msgpack_zone zone;
	struct wire_msg msg;
	uint64_t bad_id;
	char err[256];
	int rc;
};

static void decode_packed(struct packed *p, struct decoded *d)
{
	msgpack_zone_init(&d->zone, 1024);
	d->err[0] = '\0';
	d->bad_id = 12345;
	d->rc = wire_decode(p->sb.data, p->sb.size, &d->zone, &d->msg, &d->bad_id, d->err,
			    sizeof(d->err));
}

/* Decodes a hand-packed message and expects it refused with err. */
static void expect_refused(struct packed *p, const char *err, uint64_t bad_id)
{
	struct decoded d;

	decode_packed(p, &d);
	cr_assert_eq(d.rc, -1);
	cr_assert_str_eq(d.err, err);
	cr_assert_eq(d.bad_id, bad_id);
	msgpack_zone_destroy(&d.zone);
	packed_destroy(p);
}

Test(decode, request_gives_id_op_and_params)
{
	struct packed p;
	struct decoded d;

	packed_init(&p);
	pack_sample_request(&p, 42);
	decode_packed(&p, &d);
	cr_assert_eq(d.rc, 0, "%s", d.err);
	cr_assert_eq(d.msg.type, WIRE_REQUEST);
	cr_assert_eq(d.msg.id, 42);
	cr_assert_eq(d.msg.op_len, 4);
	cr_assert_eq(memcmp(d.msg.op, "call", 4), 0);
	cr_assert_eq(d.msg.params->type, MSGPACK_OBJECT_MAP);
	cr_assert(wire_str_eq(wire_map_get(d.msg.params, "user"), "alice"));
	cr_assert_null(d.msg.error);
	msgpack_zone_destroy(&d.zone);
	packed_destroy(&p);
}

Test(decode, request_with_largest_id_round_trips)
{
	struct packed p;
	struct decoded d;

	packed_init(&p);
	wire_pack_request_begin(&p.pk, UINT64_MAX, "hello");
	msgpack_pack_map(&p.pk, 0);
	decode_packed(&p, &d);
	cr_assert_eq(d.rc, 0, "%s", d.err);
	cr_assert_eq(d.msg.id, UINT64_MAX);
	cr_assert_eq(d.msg.params->via.map.size, 0);
	msgpack_zone_destroy(&d.zone);
	packed_destroy(&p);
}

Test(decode, request_id_zero_is_refused)
{
	struct packed p;

	packed_init(&p);
	wire_pack_request_begin(&p.pk, 0, "hello");
	msgpack_pack_map(&p.pk, 0);
	expect_refused(&p, "request id must be a positive integer", 0);
}

Test(decode, negative_request_id_is_refused)
{
	struct packed p;

	packed_init(&p);
	msgpack_pack_array(&p.pk, 4);
	msgpack_pack_int(&p.pk, 0);
	msgpack_pack_int(&p.pk, -3);
	wire_pack_str(&p.pk, "hello");
	msgpack_pack_map(&p.pk, 0);
	expect_refused(&p, "request id must be a positive integer", 0);
}

Test(decode, request_op_that_is_not_a_str_is_refused_with_its_id)
{
	struct packed p;

	packed_init(&p);
	msgpack_pack_array(&p.pk, 4);
	msgpack_pack_int(&p.pk, 0);
	msgpack_pack_int(&p.pk, 8);
	msgpack_pack_int(&p.pk, 1);
	msgpack_pack_map(&p.pk, 0);
	expect_refused(&p, "request op must be a str, got int", 8);
}

Test(decode, params_that_are_not_a_map_are_refused_with_the_id)
{
	struct packed p;

	packed_init(&p);
	wire_pack_request_begin(&p.pk, 17, "call");
	msgpack_pack_array(&p.pk, 0);
	expect_refused(&p, "params must be a map, got array", 17);
}

Test(decode, request_of_wrong_length_is_refused_with_the_id)
{
	struct packed p;

	packed_init(&p);
	msgpack_pack_array(&p.pk, 3);
	msgpack_pack_int(&p.pk, 0);
	msgpack_pack_int(&p.pk, 5);
	wire_pack_str(&p.pk, "call");
	expect_refused(&p, "request must have 4 elements, got 3", 5);
}

Test(decode, unknown_message_type_is_refused)
{
	struct packed p;

	packed_init(&p);
	msgpack_pack_array(&p.pk, 3);
	msgpack_pack_int(&p.pk, 4);
	msgpack_pack_int(&p.pk, 5);
	msgpack_pack_nil(&p.pk);
	expect_refused(&p, "message type must be 0 (request), 1 (reply), 2 (notify) or 3 (event)", 0);
}

Test(decode, message_that_is_not_an_array_is_refused)
{
	struct packed p;

	packed_init(&p);
	msgpack_pack_map(&p.pk, 0);
	expect_refused(&p, "message must be a non-empty array, got map", 0);
	packed_init(&p);
	msgpack_pack_array(&p.pk, 0);
	expect_refused(&p, "message must be a non-empty array, got an empty array", 0);
}

Test(decode, malformed_payload_after_a_readable_id_still_gives_the_id)
{
	struct packed p;
	struct decoded d;

	packed_init(&p);
	wire_pack_request_begin(&p.pk, 99, "call");
	msgpack_pack_map(&p.pk, 1);
	wire_pack_str(&p.pk, "deep");
	for (int i = 0; i < 70; i++)
		msgpack_pack_array(&p.pk, 1);
	msgpack_pack_nil(&p.pk);
	decode_packed(&p, &d);
	cr_assert_eq(d.rc, -1);
	cr_assert_str_eq(d.err, "frame nests deeper than 64 levels");
	cr_assert_eq(d.bad_id, 99);
	msgpack_zone_destroy(&d.zone);
	packed_destroy(&p);
}

Test(decode, reply_shape_errors_never_give_a_bad_id)
{
	struct packed p;

	packed_init(&p);
	msgpack_pack_array(&p.pk, 4);
	msgpack_pack_int(&p.pk, 1);
	msgpack_pack_int(&p.pk, 6);
	msgpack_pack_int(&p.pk, 1);
	msgpack_pack_nil(&p.pk);
	expect_refused(&p, "reply error must be nil or a map, got int", 0);
}

Test(decode, notify_gives_op_and_params)
{
	struct packed p;
	struct decoded d;

	packed_init(&p);
	wire_pack_notify_begin(&p.pk, "cancel");
	msgpack_pack_map(&p.pk, 1);
	wire_pack_str(&p.pk, "id");
	msgpack_pack_uint64(&p.pk, 3);
	decode_packed(&p, &d);
	cr_assert_eq(d.rc, 0, "%s", d.err);
	cr_assert_eq(d.msg.type, WIRE_NOTIFY);
	cr_assert_eq(d.msg.op_len, 6);
	cr_assert_eq(memcmp(d.msg.op, "cancel", 6), 0);
	cr_assert_eq(wire_map_get(d.msg.params, "id")->via.u64, 3);
	msgpack_zone_destroy(&d.zone);
	packed_destroy(&p);
}

Test(decode, event_gives_id_name_and_params)
{
	struct packed p;
	struct decoded d;

	packed_init(&p);
	wire_pack_event_begin(&p.pk, 9, "progress");
	msgpack_pack_map(&p.pk, 1);
	wire_pack_str(&p.pk, "progress");
	msgpack_pack_uint64(&p.pk, 40);
	decode_packed(&p, &d);
	cr_assert_eq(d.rc, 0, "%s", d.err);
	cr_assert_eq(d.msg.type, WIRE_EVENT);
	cr_assert_eq(d.msg.id, 9);
	cr_assert_eq(d.msg.op_len, 8);
	cr_assert_eq(memcmp(d.msg.op, "progress", 8), 0);
	cr_assert_eq(wire_map_get(d.msg.params, "progress")->via.u64, 40);
	msgpack_zone_destroy(&d.zone);
	packed_destroy(&p);
}

Test(decode, event_with_id_zero_or_params_not_a_map_is_refused)
{
	struct packed p;

	packed_init(&p);
	wire_pack_event_begin(&p.pk, 0, "progress");
	msgpack_pack_map(&p.pk, 0);
	expect_refused(&p, "event id must be a positive integer", 0);
	packed_init(&p);
	wire_pack_event_begin(&p.pk, 4, "progress");
	msgpack_pack_nil(&p.pk);
	expect_refused(&p, "params must be a map, got nil", 0);
}

Test(decode, notify_with_params_not_a_map_is_refused)
{
	struct packed p;

	packed_init(&p);
	wire_pack_notify_begin(&p.pk, "cancel");
	msgpack_pack_nil(&p.pk);
	expect_refused(&p, "params must be a map, got nil", 0);
}

Test(decode, ok_reply_gives_its_result)
{
	struct packed p;
	struct decoded d;

	packed_init(&p);
	wire_pack_reply_ok_begin(&p.pk, 4);
	wire_pack_str(&p.pk, "done");
	decode_packed(&p, &d);
	cr_assert_eq(d.rc, 0, "%s", d.err);
	cr_assert_eq(d.msg.type, WIRE_REPLY);
	cr_assert_eq(d.msg.id, 4);
	cr_assert_null(d.msg.error);
	cr_assert_eq(d.msg.err_code, ERR_OK);
	cr_assert(wire_str_eq(d.msg.result, "done"));
	msgpack_zone_destroy(&d.zone);
	packed_destroy(&p);
}

Test(decode, error_reply_round_trips_code_message_and_data)
{
	struct packed p, data;
	struct decoded d;
	msgpack_zone zone;
	msgpack_object dobj;
	char err[128];

	packed_init(&data);
	msgpack_pack_map(&data.pk, 1);
	wire_pack_str(&data.pk, "code");
	msgpack_pack_int(&data.pk, -32601);
	msgpack_zone_init(&zone, 256);
	cr_assert_eq(wire_unpack(data.sb.data, data.sb.size, &zone, &dobj, err, sizeof(err)), 0);
	packed_init(&p);
	wire_pack_reply_error(&p.pk, 12, ERR_UPSTREAM_ERROR, "Method not found", &dobj);
	decode_packed(&p, &d);
	cr_assert_eq(d.rc, 0, "%s", d.err);
	cr_assert_eq(d.msg.id, 12);
	cr_assert_eq(d.msg.err_code, ERR_UPSTREAM_ERROR);
	cr_assert_eq(d.msg.err_message_len, strlen("Method not found"));
	cr_assert_eq(memcmp(d.msg.err_message, "Method not found", d.msg.err_message_len), 0);
	cr_assert_not_null(d.msg.err_data);
	cr_assert_eq(wire_map_get(d.msg.err_data, "code")->via.i64, -32601);
	cr_assert(wire_str_eq(wire_map_get(d.msg.error, "code"), "UPSTREAM_ERROR"));
	cr_assert_null(d.msg.result);
	msgpack_zone_destroy(&d.zone);
	msgpack_zone_destroy(&zone);
	packed_destroy(&p);
	packed_destroy(&data);
}

Test(decode, error_reply_without_data_has_no_data)
{
	struct packed p;
	struct decoded d;

	packed_init(&p);
	wire_pack_reply_error(&p.pk, 0, ERR_BAD_REQUEST, NULL, NULL);
	decode_packed(&p, &d);
	cr_assert_eq(d.rc, 0, "%s", d.err);
	cr_assert_eq(d.msg.id, 0);
	cr_assert_eq(d.msg.err_code, ERR_BAD_REQUEST);
	cr_assert_eq(d.msg.err_message_len, 0);
	cr_assert_null(d.msg.err_data);
	cr_assert_eq(d.msg.error->via.map.size, 2);
	msgpack_zone_destroy(&d.zone);
	packed_destroy(&p);
}

Test(decode, unknown_or_ok_error_code_reads_as_internal)
{
	const char *codes[] = { "NO_SUCH_CODE", "OK" };

	for (int i = 0; i < 2; i++) {
		struct packed p;
		struct decoded d;

		packed_init(&p);
		msgpack_pack_array(&p.pk, 4);
		msgpack_pack_int(&p.pk, 1);
		msgpack_pack_int(&p.pk, 3);
		msgpack_pack_map(&p.pk, 2);
		wire_pack_str(&p.pk, "code");
		wire_pack_str(&p.pk, codes[i]);
		wire_pack_str(&p.pk, "message");
		wire_pack_str(&p.pk, "m");
		msgpack_pack_nil(&p.pk);
		decode_packed(&p, &d);
		cr_assert_eq(d.rc, 0, "%s", d.err);
		cr_assert_eq(d.msg.err_code, ERR_INTERNAL, "code %s", codes[i]);
		msgpack_zone_destroy(&d.zone);
		packed_destroy(&p);
	}
}

Test(decode, error_without_a_str_message_is_refused)
{
	struct packed p;

	packed_init(&p);
	msgpack_pack_array(&p.pk, 4);
	msgpack_pack_int(&p.pk, 1);
	msgpack_pack_int(&p.pk, 3);
	msgpack_pack_map(&p.pk, 1);
	wire_pack_str(&p.pk, "code");
	wire_pack_str(&p.pk, "INTERNAL");
	msgpack_pack_nil(&p.pk);
	expect_refused(&p, "reply error message must be a str", 0);
}

Test(decode, reply_with_negative_id_is_refused)
{
	struct packed p;

	packed_init(&p);
	msgpack_pack_array(&p.pk, 4);
	msgpack_pack_int(&p.pk, 1);
	msgpack_pack_int(&p.pk, -1);
	msgpack_pack_nil(&p.pk);
	msgpack_pack_nil(&p.pk);
	expect_refused(&p, "reply id must be an unsigned integer, got int", 0);
}

Test(decode, framed_request_survives_the_whole_path)
{
	struct packed p;
	struct frame_reader r;
	size_t start, avail, len;
	const char *payload;
	char *dst, err[128];
	msgpack_zone zone;
	struct wire_msg msg;
	uint64_t bad_id;

	packed_init(&p);
	start = frame_begin(&p.sb);
	pack_sample_request(&p, 5);
	cr_assert_eq(frame_end(&p.sb, start, FRAME_DEFAULT_MAX), 0);
	frame_reader_init(&r, FRAME_MIN_MAX);
	dst = frame_reader_space(&r, &avail);
	cr_assert_geq(avail, p.sb.size);
	memcpy(dst, p.sb.data, p.sb.size);
	frame_reader_commit(&r, p.sb.size);
	cr_assert_eq(frame_reader_next(&r, &payload, &len), FRAME_OK);
	msgpack_zone_init(&zone, 1024);
	cr_assert_eq(wire_decode(payload, len, &zone, &msg, &bad_id, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(msg.id, 5);
	cr_assert_eq(wire_map_get(msg.params, "n")->via.array.size, 5);
	msgpack_zone_destroy(&zone);
	frame_reader_destroy(&r);
	packed_destroy(&p);
}

/* ---- helpers ---------------------------------------------------------------- */

Test(helpers, map_get_finds_keys_and_rejects_non_maps)
{
	struct packed p;
	msgpack_zone zone;
	msgpack_object obj;
	char err[128];

	packed_init(&p);
	msgpack_pack_map(&p.pk, 3);
	msgpack_pack_int(&p.pk, 1);
	msgpack_pack_int(&p.pk, 10);
	wire_pack_str(&p.pk, "a");
	msgpack_pack_int(&p.pk, 20);
	wire_pack_str(&p.pk, "ab");
	msgpack_pack_int(&p.pk, 30);
	msgpack_zone_init(&zone, 256);
	cr_assert_eq(wire_unpack(p.sb.data, p.sb.size, &zone, &obj, err, sizeof(err)), 0);
	cr_assert_eq(wire_map_get(&obj, "a")->via.u64, 20);
	cr_assert_eq(wire_map_get(&obj, "ab")->via.u64, 30);
	cr_assert_null(wire_map_get(&obj, "b"));
	cr_assert_null(wire_map_get(&obj, ""));
	cr_assert_null(wire_map_get(&obj.via.map.ptr[0].val, "a"));
	cr_assert_null(wire_map_get(NULL, "a"));
	msgpack_zone_destroy(&zone);
	packed_destroy(&p);
}

Test(helpers, strdup_copies_a_str_and_refuses_other_types)
{
	msgpack_object s = { .type = MSGPACK_OBJECT_STR, .via.str = { 3, "a\0b" } };
	msgpack_object empty = { .type = MSGPACK_OBJECT_STR, .via.str = { 0, NULL } };
	msgpack_object n = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 1 };
	char *c = wire_strdup(&s);
	char *e = wire_strdup(&empty);

	cr_assert_not_null(c);
	cr_assert_eq(memcmp(c, "a\0b", 4), 0);
	cr_assert_str_eq(e, "");
	cr_assert_null(wire_strdup(&n));
	cr_assert_null(wire_strdup(NULL));
	free(c);
	free(e);
}

Test(helpers, str_eq_compares_length_and_bytes)
{
	msgpack_object s = { .type = MSGPACK_OBJECT_STR, .via.str = { 3, "abc" } };
	msgpack_object n = { .type = MSGPACK_OBJECT_NIL };

	cr_assert(wire_str_eq(&s, "abc"));
	cr_assert_not(wire_str_eq(&s, "ab"));
	cr_assert_not(wire_str_eq(&s, "abcd"));
	cr_assert_not(wire_str_eq(&s, "abd"));
	cr_assert_not(wire_str_eq(&n, ""));
	cr_assert_not(wire_str_eq(NULL, "abc"));
}

Test(helpers, type_names_are_short_and_stable)
{
	msgpack_object o = { .type = MSGPACK_OBJECT_BIN };

	cr_assert_str_eq(wire_type_name(&o), "bin");
	o.type = MSGPACK_OBJECT_FLOAT32;
	cr_assert_str_eq(wire_type_name(&o), "float");
	o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
	cr_assert_str_eq(wire_type_name(&o), "int");
}
