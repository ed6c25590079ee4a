/*
 * Fuzzes the server-message scanner (jsonrpc_scan, jsonrpc_scan_keep and jsonrpc_pack
 * in proto/jsontext.h). The input is one line from a server, and:
 * - jsonrpc_scan and jsonrpc_scan_keep accept the same lines and fill the same spans;
 * - a line is accepted when jansson reads it as an object that mpjson_check passes
 *   (but for the documented differences: integers beyond int64, a raw NUL byte);
 * - each of id, method, result, error, params is absent exactly when jansson's object
 *   lacks it, and its span packs (jsontext_to_msgpack) as mpjson_pack packs jansson's
 *   member: the last of a repeated name; id_int and method_is_str say what jansson says;
 * - jsonrpc_pack of each span, after either scan, gives what jsontext_to_msgpack of the
 *   span's text gives at the same max_depth: the same bytes, return value and reason.
 */
#include "fuzz.h"

#include <jansson.h>

#include "jsontext.h"
#include "mpjson.h"

static const char *const names[] = { "id", "method", "result", "error", "params" };

static const struct jsonrpc_span *span_of(const struct jsonrpc_msg *m, int i)
{
	const struct jsonrpc_span *spans[] = { &m->id, &m->method, &m->result, &m->error,
					       &m->params };

	return spans[i];
}

struct packed {
	msgpack_sbuffer sb;
	int rc;
	char err[256];
};

static void packed_init(struct packed *p)
{
	msgpack_sbuffer_init(&p->sb);
	p->rc = 0;
	p->err[0] = '\0';
}

static bool packed_same(const struct packed *a, const struct packed *b)
{
	return a->rc == b->rc && a->sb.size == b->sb.size &&
	       (a->sb.size == 0 || memcmp(a->sb.data, b->sb.data, a->sb.size) == 0) &&
	       (a->rc == 0 || strcmp(a->err, b->err) == 0);
}

static void pack_text(const char *text, size_t len, int max_depth, struct packed *p)
{
	msgpack_packer pk;
	size_t pos = 0;

	packed_init(p);
	msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
	p->rc = jsontext_to_msgpack(text, len, &pos, &pk, max_depth, p->err, sizeof(p->err));
}

static void pack_span(const char *line, const struct jsonrpc_msg *m, int i, int max_depth,
		      struct packed *p)
{
	msgpack_packer pk;

	packed_init(p);
	msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
	p->rc = jsonrpc_pack(line, m, span_of(m, i), &pk, max_depth, p->err, sizeof(p->err));
}

static bool same_spans(const struct jsonrpc_msg *a, const struct jsonrpc_msg *b)
{
	for (int i = 0; i < 5; i++)
		if (span_of(a, i)->start != span_of(b, i)->start ||
		    span_of(a, i)->end != span_of(b, i)->end)
			return false;
	return a->id_is_int == b->id_is_int && a->id_int == b->id_int &&
	       a->method_is_str == b->method_is_str;
}

/* Each member as jansson has it: present or not, packed the same. */
static void check_members(const char *line, size_t len, const struct jsonrpc_msg *m, json_t *j)
{
	for (int i = 0; i < 5; i++) {
		const struct jsonrpc_span *s = span_of(m, i);
		json_t *v = json_object_get(j, names[i]);
		msgpack_sbuffer ref;
		msgpack_packer pk;
		struct packed mine;

		FUZZ_CHECK(!v == (s->start == s->end), "member %s: jansson %s, span [%zu, %zu)",
			   names[i], v ? "has it" : "lacks it", s->start, s->end);
		if (!v)
			continue;
		FUZZ_CHECK(s->start < s->end && s->end <= len, "span [%zu, %zu)",
			   s->start, s->end);
		msgpack_sbuffer_init(&ref);
		msgpack_packer_init(&pk, &ref, msgpack_sbuffer_write);
		mpjson_pack(&pk, v);
		pack_text(line + s->start, s->end - s->start, JSONTEXT_MAX_DEPTH, &mine);
		FUZZ_CHECK(mine.rc == 0 && mine.sb.size == ref.size &&
				   memcmp(mine.sb.data, ref.data, ref.size) == 0,
			   "member %s packs apart from jansson's (%s)", names[i], mine.err);
		msgpack_sbuffer_destroy(&ref);
		msgpack_sbuffer_destroy(&mine.sb);
	}
	{
		json_t *id = json_object_get(j, "id"), *method = json_object_get(j, "method");

		FUZZ_CHECK(m->id_is_int == (id && json_is_integer(id)), "id_is_int %d",
			   m->id_is_int);
		if (m->id_is_int)
			FUZZ_CHECK(m->id_int == json_integer_value(id), "id_int %lld, jansson %lld",
				   (long long)m->id_int, (long long)json_integer_value(id));
		FUZZ_CHECK(m->method_is_str == (method && json_is_string(method)),
			   "method_is_str %d", m->method_is_str);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libFuzzer's copy of the input ends where the line does: ASan sees a read past it. */
	const char *line = (const char *)data;
	struct jsonrpc_msg m, k;
	char err[256] = "", kerr[256] = "", merr[256] = "";
	json_error_t jerr;
	json_t *j;
	int rc, krc, rref, pack_depth = 1 + (int)(size % JSONTEXT_MAX_DEPTH);

	rc = jsonrpc_scan(line, size, JSONTEXT_MAX_DEPTH, &m, err, sizeof(err));
	krc = jsonrpc_scan_keep(line, size, JSONTEXT_MAX_DEPTH, &k, kerr, sizeof(kerr));
	FUZZ_CHECK(rc == krc, "scan %d (%s), scan_keep %d (%s)", rc, err, krc, kerr);
	if (rc == 0)
		FUZZ_CHECK(same_spans(&m, &k), "scan and scan_keep fill other spans");
	else
		FUZZ_CHECK(err[0] && strcmp(err, kerr) == 0, "reasons \"%s\" and \"%s\"", err, kerr);

	j = json_loadb(line, size, JSON_DECODE_ANY, &jerr);
	rref = j && json_is_object(j) &&
			       mpjson_check(j, JSONTEXT_MAX_DEPTH, merr, sizeof(merr)) == 0 ?
		       0 :
		       -1;
	if (!(rref < 0 && !j && strncmp(jerr.text, "too big", 7) == 0) &&
	    !(rref == 0 && rc < 0 && memchr(line, '\0', size))) {
		FUZZ_CHECK(rc == rref, "jansson %s, scan %s", rref ? (j ? merr : jerr.text) : "accepts",
			   rc ? err : "accepts");
		if (rc == 0)
			check_members(line, size, &m, j);
	}
	if (rc == 0) {
		for (int i = 0; i < 5; i++) {
			const struct jsonrpc_span *s = span_of(&m, i);
			struct packed want, got_scan, got_keep;

			pack_text(line + s->start, s->end - s->start, pack_depth, &want);
			pack_span(line, &m, i, pack_depth, &got_scan);
			pack_span(line, &k, i, pack_depth, &got_keep);
			FUZZ_CHECK(packed_same(&want, &got_scan), "jsonrpc_pack after scan: %s (%s)",
				   names[i], got_scan.err);
			FUZZ_CHECK(packed_same(&want, &got_keep),
				   "jsonrpc_pack after scan_keep: %s (%d %s, want %d %s)", names[i],
				   got_keep.rc, got_keep.err, want.rc, want.err);
			msgpack_sbuffer_destroy(&want.sb);
			msgpack_sbuffer_destroy(&got_scan.sb);
			msgpack_sbuffer_destroy(&got_keep.sb);
		}
	}
	jsonrpc_msg_release(&k);
	json_decref(j);
	return 0;
}
