/* Tree-free JSON text <-> msgpack transcoding for the relay's hot path (same rules as mpjson). */
#ifndef MCPPOOL_JSONTEXT_H
#define MCPPOOL_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

/*
 * Nesting limit in both directions; a larger max_depth argument is capped to it, as
 * mpjson_check() does. Equals MPJSON_MAX_DEPTH and WIRE_MAX_DEPTH.
 */
#define JSONTEXT_MAX_DEPTH 64

/*
 * Where jansson is the fallback. A JSON object whose member names may repeat (or
 * whose nesting holds more than JSONTEXT_KEYS_MAX names at once) is transcoded by
 * json_loadb + mpjson_pack so that "the first position, the last value" comes out
 * exactly as jansson has it; a msgpack map of more than JSONTEXT_KEYS_MAX members is
 * written by mpjson_to_json + json_dumps. Both are rare in MCP traffic; they keep
 * the duplicate check bounded (no quadratic time on hostile input).
 */
#define JSONTEXT_KEYS_MAX 1024

/*
 * A growable byte buffer (output of the JSON writer). Once anything was appended,
 * data[len] is '\0' (not counted in len), so the text can be logged as a C string.
 */
struct jbuf {
	char *data;
	size_t len, cap;
};

/* An empty buffer; nothing is allocated until the first append. */
void jbuf_init(struct jbuf *b);

/* Frees the bytes and leaves b empty (reusable); accepts NULL. */
void jbuf_free(struct jbuf *b);

/*
 * Empties b for reuse, keeping its bytes allocated (a scratch buffer that costs
 * nothing per use) unless it grew past keep_max, when they are freed.
 */
void jbuf_reset(struct jbuf *b, size_t keep_max);

/* jbuf_append() when the bytes do not fit: grows b first. */
int jbuf_append_grow(struct jbuf *b, const char *s, size_t n);

/*
 * Appends n bytes. Returns 0, or -1 (ENOMEM) leaving b as it was. Inline: the
 * writers call it per token, and the bytes nearly always fit.
 */
static inline int jbuf_append(struct jbuf *b, const char *s, size_t n)
{
	if (b->cap - b->len <= n)
		return jbuf_append_grow(b, s, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/*
 * Validates the JSON value starting at text[*pos] (after optional whitespace) per RFC
 * 8259, strictly: no trailing commas, comments, leading zeros, NaN/Infinity; strings are
 * UTF-8 without overlongs/surrogates, no raw control characters, escapes valid
 * (\uXXXX with paired surrogates). Like jansson without JSON_ALLOW_NUL, \u0000 is
 * refused, and so is a number whose magnitude overflows a double ("1e400"; underflow
 * to 0 is fine). Integers beyond int64 are accepted (jansson refuses them). A raw NUL
 * byte outside strings is refused (jansson takes one right after a number for the end
 * of input and accepts "1\0" or "[1\0]"). Containers
 * nest at most max_depth levels (an empty one counts). On success advances *pos past
 * the value and the whitespace after it, and returns 0; whatever follows is the
 * caller's business. On error returns -1 with a reason naming the byte offset in err.
 */
int jsontext_skip(const char *text, size_t len, size_t *pos, int max_depth, char *err,
		  size_t errlen);

/*
 * Splits a JSON-RPC batch: when text[0..len) is one JSON array (after optional
 * whitespace; checked whole as jsontext_skip does, nesting at most max_depth),
 * calls fn(ctx, elem, elem_len) for each element's text in order (without the
 * whitespace around it) and returns 1; an empty array calls nothing. Returns 0,
 * calling nothing, when text is not a valid array (e.g. a single message); -1
 * as soon as fn returns < 0.
 */
int jsontext_batch_each(const char *text, size_t len, int max_depth,
			int (*fn)(void *ctx, const char *elem, size_t elem_len), void *ctx);

/*
 * Transcodes the JSON value at text[*pos] into pk, byte for byte as json_loadb +
 * mpjson_pack would: objects become maps (str keys, text order; of a repeated name the
 * first position and the last value), integers that fit int64 become ints (those >= 0
 * packed as uint64, -0 as 0), integers in (INT64_MAX, UINT64_MAX] become uint64 (where
 * jansson would refuse), other numbers become float64 via strtod (LC_NUMERIC "C"),
 * strings are decoded to UTF-8. Accepts and refuses exactly what jsontext_skip does and
 * advances *pos the same way. Returns 0, or -1 with err; nothing is packed on a
 * validation error, but a failing packer callback can leave partial output.
 *
 * One corner follows from the jansson path (see JSONTEXT_KEYS_MAX): a document that
 * repeats a member name and also holds an integer beyond int64 is refused ("too big
 * integer") although jsontext_skip accepts it.
 *
 * Cost: one validating pass that records each container's element count, then one
 * packing pass. Up to 256 containers the counts live on the stack; larger documents
 * take one growing heap block for them, freed before returning.
 */
int jsontext_to_msgpack(const char *text, size_t len, size_t *pos, msgpack_packer *pk,
			int max_depth, char *err, size_t errlen);

/*
 * Appends the compact JSON text of o to out, with mpjson_to_json's rules: map keys must
 * be str, str must be valid UTF-8, bin/ext/NaN/infinity are refused, containers nest at
 * most max_depth levels. A repeated map key is written once, at its first position with
 * its last value. Unlike mpjson, a uint above INT64_MAX is written as the exact integer.
 * Floats get the shortest text that reads back to the same double, and integral ones
 * keep a ".0" or exponent ("1.0") so they stay reals. Strings escape only what RFC 8259
 * requires (\" \\ \b \f \n \r \t, other controls as \u00XX). Returns 0, or -1 with err
 * (out may hold partial output).
 */
int jsontext_from_msgpack(const msgpack_object *o, struct jbuf *out, int max_depth, char *err,
			  size_t errlen);

/* Appends s[0..n) as a JSON string literal (quoted, escaped). Returns 0, or -1 when s is not valid UTF-8 or on ENOMEM. */
int jsontext_append_string(struct jbuf *out, const char *s, size_t n);

/*
 * Container counts a struct jsonrpc_msg holds in itself; a line with more containers
 * takes one growing heap block for them (see jsonrpc_msg_release).
 */
#define JSONRPC_COUNTS_LOCAL 256

/*
 * A JSON-RPC message's top level, found in one pass without building a tree: the spans
 * [start, end) of the raw values of the members "id", "method", "result", "error",
 * "params" (start == end == 0 when absent); the id as a number when it is an integer
 * token that fits int64; whether the method is a JSON string.
 *
 * jsonrpc_scan_keep also fills each span's shape for jsonrpc_pack: where its value's
 * containers start in the message's counts, how deep it nests, and whether a member
 * name may repeat inside it. jsonrpc_scan leaves them zero.
 */
struct jsonrpc_span {
	size_t start, end;
	size_t first_count; /* pre-order index of the value's first container */
	int levels;	    /* nesting of the value: 0 for a scalar, 1 for [] or [1] */
	bool may_repeat;    /* a member name may repeat inside: jansson packs the value */
};

struct jsonrpc_msg {
	struct jsonrpc_span id, method, result, error, params;
	bool id_is_int;
	int64_t id_int;
	bool method_is_str;
	/* Private to jsontext.c: every container's element count, in document order. */
	bool counts_kept;
	uint32_t *counts_heap; /* NULL until the line outgrows counts_local */
	uint32_t counts_local[JSONRPC_COUNTS_LOCAL];
};

/*
 * Scans line[0..len), which must hold one JSON object and optional whitespace, nested
 * at most max_depth. Every member is validated (as jsontext_skip) but not decoded;
 * member names are compared after unescaping; of a repeated name the last wins (as
 * jansson). Returns 0, or -1 with err when the line is anything else (an array, a
 * batch, garbage, trailing data). Holds nothing: m needs no release.
 */
int jsonrpc_scan(const char *line, size_t len, int max_depth, struct jsonrpc_msg *m, char *err,
		 size_t errlen);

/*
 * jsonrpc_scan that also keeps, in m, each container's element count and the shapes
 * of the spans, so that jsonrpc_pack can pack a member without scanning it again.
 * Accepts, refuses and fills the spans exactly as jsonrpc_scan. On success m may own a
 * heap block: call jsonrpc_msg_release when done with it. On error m holds nothing
 * (releasing it anyway is fine). Whatever m held before is overwritten, not freed. m
 * may be copied by value; release one copy only.
 */
int jsonrpc_scan_keep(const char *line, size_t len, int max_depth, struct jsonrpc_msg *m,
		      char *err, size_t errlen);

/*
 * Packs the value of member, one of m's spans, of the line m was scanned from into pk:
 * the same bytes, return value and err as jsontext_to_msgpack(line + member->start,
 * member->end - member->start, &zero, pk, max_depth, err, errlen), with max_depth
 * counted from the member's value. After jsonrpc_scan_keep this is the packing pass
 * alone (jansson's path when a name may repeat inside the value); after jsonrpc_scan,
 * for an absent member, or when the value nests deeper than max_depth, it is
 * jsontext_to_msgpack itself. Returns 0, or -1 with err; a failing packer callback can
 * leave partial output.
 */
int jsonrpc_pack(const char *line, const struct jsonrpc_msg *m, const struct jsonrpc_span *member,
		 msgpack_packer *pk, int max_depth, char *err, size_t errlen);

/* Frees what jsonrpc_scan_keep left in m and makes it hold nothing; accepts NULL. */
void jsonrpc_msg_release(struct jsonrpc_msg *m);

#endif
