/*
 * Fuzzes the msgpack decoder (proto/wire.c). On every input:
 * - wire_validate and wire_unpack accept the same inputs and give the same reason;
 * - an accepted object of depth D passes wire_validate at max_depth D and fails at D - 1;
 * - msgpack-c's own unpacker agrees: what wire accepts it decodes to an equal object
 *   (nesting up to its limit of 32), and what wire refuses for a reason other than a
 *   count (which msgpack-c would try to allocate) it does not take whole; an input with
 *   "N trailing bytes" decodes once they are cut;
 * - wire_decode refuses what wire_unpack refuses; a message it accepts has the shape
 *   PROTOCOL.md gives, and packed again with wire_pack_* it decodes to the same message.
 */
#include "fuzz.h"

#include "errcode.h"
#include "wire.h"

static void check_msgpack_c(const char *buf, size_t len, const msgpack_object *mine, int rc,
			    const char *err)
{
	msgpack_unpacked res;
	msgpack_unpack_return ret;
	size_t off = 0;

	if (rc < 0 && (strstr(err, "exceeds") || strstr(err, "needs at least")))
		return;
	msgpack_unpacked_init(&res);
	ret = msgpack_unpack_next(&res, buf, len, &off);
	if (rc == 0 && fuzz_obj_depth(mine) <= 32) {
		FUZZ_CHECK(ret == MSGPACK_UNPACK_SUCCESS && off == len,
			   "msgpack-c refuses what wire accepts (ret %d, off %zu of %zu)", ret, off,
			   len);
		FUZZ_CHECK(fuzz_obj_equal(mine, &res.data), "msgpack-c decodes another object");
	} else if (rc < 0 && !strstr(err, "trailing bytes")) {
		FUZZ_CHECK(!(ret == MSGPACK_UNPACK_SUCCESS && off == len),
			   "msgpack-c accepts what wire refuses: %s", err);
	}
	msgpack_unpacked_destroy(&res);
}

/* Packs msg again with the wire_pack_* writers; false when it cannot be (an op with a NUL). */
static bool repack(const struct wire_msg *msg, msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	char *s;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	switch (msg->type) {
	case WIRE_REQUEST:
	case WIRE_NOTIFY:
	case WIRE_EVENT:
		if (memchr(msg->op, '\0', msg->op_len))
			return false;
		s = strndup(msg->op, msg->op_len);
		if (msg->type == WIRE_REQUEST)
			wire_pack_request_begin(&pk, msg->id, s);
		else if (msg->type == WIRE_NOTIFY)
			wire_pack_notify_begin(&pk, s);
		else
			wire_pack_event_begin(&pk, msg->id, s);
		free(s);
		msgpack_pack_object(&pk, *msg->params);
		return true;
	case WIRE_REPLY:
		if (!msg->error) {
			wire_pack_reply_ok_begin(&pk, msg->id);
			msgpack_pack_object(&pk, *msg->result);
			return true;
		}
		if (memchr(msg->err_message, '\0', msg->err_message_len))
			return false;
		s = strndup(msg->err_message, msg->err_message_len);
		wire_pack_reply_error(&pk, msg->id, msg->err_code, s, msg->err_data);
		free(s);
		return true;
	}
	return false;
}

static bool same_span(const char *a, size_t na, const char *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static void check_decode(const char *buf, size_t len, int unpack_rc)
{
	struct wire_msg msg, again;
	msgpack_zone zone, zone2;
	msgpack_sbuffer sb;
	uint64_t bad_id = 7;
	char err[256] = "", err2[256] = "";
	int rc;

	msgpack_zone_init(&zone, 1024);
	rc = wire_decode(buf, len, &zone, &msg, &bad_id, err, sizeof(err));
	if (unpack_rc < 0)
		FUZZ_CHECK(rc < 0, "wire_decode accepts what wire_unpack refuses");
	if (rc < 0) {
		FUZZ_CHECK(err[0], "wire_decode refused without a reason");
		msgpack_zone_destroy(&zone);
		return;
	}
	FUZZ_CHECK(bad_id == 0 || (msg.type == WIRE_REQUEST && bad_id == msg.id),
		   "bad_id %llu on success", (unsigned long long)bad_id);
	switch (msg.type) {
	case WIRE_REQUEST:
	case WIRE_EVENT:
		FUZZ_CHECK(msg.id > 0, "request or event id 0");
		/* fall through */
	case WIRE_NOTIFY:
		FUZZ_CHECK(msg.op && msg.params && msg.params->type == MSGPACK_OBJECT_MAP,
			   "op or params missing");
		break;
	case WIRE_REPLY:
		FUZZ_CHECK(!msg.error != !msg.result, "a reply has both or neither");
		if (msg.error)
			FUZZ_CHECK(msg.err_code != ERR_OK && msg.err_message, "error without code");
		else
			FUZZ_CHECK(msg.err_code == ERR_OK, "success with code %d", msg.err_code);
		break;
	default:
		FUZZ_CHECK(0, "type %d", msg.type);
	}
	msgpack_sbuffer_init(&sb);
	msgpack_zone_init(&zone2, 1024);
	if (repack(&msg, &sb)) {
		rc = wire_decode(sb.data, sb.size, &zone2, &again, NULL, err2, sizeof(err2));
		FUZZ_CHECK(rc == 0, "repacked message refused: %s", err2);
		FUZZ_CHECK(again.type == msg.type && again.id == msg.id, "type or id changed");
		FUZZ_CHECK(same_span(again.op, again.op_len, msg.op, msg.op_len), "op changed");
		FUZZ_CHECK(!again.params == !msg.params &&
				   (!msg.params || fuzz_obj_equal(again.params, msg.params)),
			   "params changed");
		FUZZ_CHECK(!again.result == !msg.result &&
				   (!msg.result || fuzz_obj_equal(again.result, msg.result)),
			   "result changed");
		FUZZ_CHECK(again.err_code == msg.err_code, "code %d became %d", msg.err_code,
			   again.err_code);
		FUZZ_CHECK(same_span(again.err_message, again.err_message_len, msg.err_message,
				     msg.err_message_len),
			   "message changed");
		FUZZ_CHECK(!again.err_data == !msg.err_data &&
				   (!msg.err_data || fuzz_obj_equal(again.err_data, msg.err_data)),
			   "error data changed");
	}
	msgpack_sbuffer_destroy(&sb);
	msgpack_zone_destroy(&zone2);
	msgpack_zone_destroy(&zone);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char verr[256] = "", uerr[256] = "";
	msgpack_zone zone;
	msgpack_object obj;
	int vrc, urc, depth;
	size_t trailing;

	vrc = wire_validate(buf, size, WIRE_MAX_DEPTH, verr, sizeof(verr));
	msgpack_zone_init(&zone, 1024);
	urc = wire_unpack(buf, size, &zone, &obj, uerr, sizeof(uerr));
	FUZZ_CHECK(vrc == urc, "validate %d (%s), unpack %d (%s)", vrc, verr, urc, uerr);
	FUZZ_CHECK(strcmp(verr, uerr) == 0, "reasons differ: \"%s\" and \"%s\"", verr, uerr);
	if (urc == 0) {
		depth = fuzz_obj_depth(&obj);
		FUZZ_CHECK(depth <= WIRE_MAX_DEPTH, "depth %d", depth);
		FUZZ_CHECK(wire_validate(buf, size, depth, NULL, 0) == 0, "refused at its depth %d",
			   depth);
		if (depth > 0)
			FUZZ_CHECK(wire_validate(buf, size, depth - 1, verr, sizeof(verr)) < 0 &&
					   strstr(verr, "nests deeper"),
				   "accepted at depth %d - 1", depth);
	} else {
		FUZZ_CHECK(uerr[0], "refused without a reason");
		FUZZ_CHECK(obj.type == MSGPACK_OBJECT_NIL, "a refused object is not zeroed");
		if (sscanf(uerr, "%zu trailing bytes", &trailing) == 1) {
			msgpack_zone z2;
			msgpack_object o2;

			FUZZ_CHECK(trailing > 0 && trailing < size, "%zu trailing of %zu", trailing,
				   size);
			msgpack_zone_init(&z2, 1024);
			FUZZ_CHECK(wire_unpack(buf, size - trailing, &z2, &o2, uerr, sizeof(uerr)) == 0,
				   "the object before the trailing bytes is refused: %s", uerr);
			msgpack_zone_destroy(&z2);
		}
	}
	check_msgpack_c(buf, size, &obj, urc, uerr);
	check_decode(buf, size, urc);
	msgpack_zone_destroy(&zone);
	return 0;
}
