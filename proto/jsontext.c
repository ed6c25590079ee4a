/* Tree-free JSON text <-> msgpack transcoding: a validating scanner, a packer, a writer. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"
#include "mpjson.h"
#include "wire.h"

_Static_assert(JSONTEXT_MAX_DEPTH == MPJSON_MAX_DEPTH, "jsontext and mpjson nesting limits must agree");

/* Container counts kept on the stack before a document needs the heap for them. */
#define COUNTS_ON_STACK JSONRPC_COUNTS_LOCAL

/*
 * Byte classes inside a JSON string, also used to find what the writer must escape:
 * plain bytes are copied as they are.
 */
enum { SC_PLAIN, SC_QUOTE, SC_BACKSLASH, SC_CTRL, SC_HIGH };

#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
static const unsigned char str_class[256] = {
	R16(SC_CTRL), R16(SC_CTRL),
	0, 0, SC_QUOTE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 */
	R16(0), R16(0),
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, SC_BACKSLASH, 0, 0, 0, /* 0x50 */
	R16(0), R16(0),
	R16(SC_HIGH), R16(SC_HIGH), R16(SC_HIGH), R16(SC_HIGH),
	R16(SC_HIGH), R16(SC_HIGH), R16(SC_HIGH), R16(SC_HIGH),
};
#undef R16

static int set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- growable buffer ---- */

void jbuf_init(struct jbuf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void jbuf_free(struct jbuf *b)
{
	if (!b)
		return;
	free(b->data);
	jbuf_init(b);
}

void jbuf_reset(struct jbuf *b, size_t keep_max)
{
	if (b->cap > keep_max) {
		jbuf_free(b);
		return;
	}
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Makes room for n more bytes plus the terminating '\0'. */
static int jbuf_reserve(struct jbuf *b, size_t n)
{
	size_t want, cap;
	char *p;

	if (b->cap - b->len > n)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		return -1;
	want = b->len + n + 1;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int jbuf_append_grow(struct jbuf *b, const char *s, size_t n)
{
	if (jbuf_reserve(b, n) < 0)
		return -1;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* ---- pieces shared by the scanner, the packer and the writer ---- */

static inline bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * End of the run of SC_PLAIN bytes starting at p[i]: the index of the first quote,
 * backslash, control or non-ASCII byte, or len. Eight bytes at a time (the usual bit
 * tricks: a byte is below 0x20, equal to '"' or '\\', or has its high bit set), since
 * string bodies are most of the text the relay sees. A borrow can only mark bytes
 * above a truly special one, so on a little-endian load the lowest mark is exact.
 */
static inline size_t plain_run_end(const unsigned char *p, size_t i, size_t len)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
	uint64_t x, q, b, m;

	while (len - i >= 8) {
		memcpy(&x, p + i, 8);
		q = x ^ (ones * '"');
		b = x ^ (ones * '\\');
		m = (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & highs;
		if (m) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (size_t)(__builtin_ctzll(m) >> 3);
#else
			break;
#endif
		}
		i += 8;
	}
	while (i < len && str_class[p[i]] == SC_PLAIN)
		i++;
	return i;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Length of the UTF-8 sequence at p (lead byte >= 0x80), or 0 when it is not valid:
 * overlong, a surrogate, above U+10FFFF, or cut short. Same rules as mpjson_utf8_valid.
 */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t cp, min;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 1, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (avail - 1 < n)
		return 0;
	for (size_t k = 1; k <= n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n + 1;
}

/* Writes cp (a valid scalar value) as UTF-8 into out; returns the byte count. */
static size_t utf8_put(unsigned char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static int hex4(const unsigned char *p, size_t len, size_t i, uint32_t *out)
{
	uint32_t v = 0;

	if (len - i < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		int h = hex_value(p[i + k]);

		if (h < 0)
			return -1;
		v = v << 4 | (uint32_t)h;
	}
	*out = v;
	return 0;
}

enum esc_error { ESC_OK, ESC_BAD, ESC_NUL, ESC_SURROGATE };

/*
 * Decodes the escape at p[*i] (a backslash) into a code point and moves *i past it;
 * a high surrogate must be followed by an escaped low one and the pair is combined.
 */
static enum esc_error parse_escape(const unsigned char *p, size_t len, size_t *i, uint32_t *cp)
{
	static const char plain_from[] = "\"\\/bfnrt";
	static const char plain_to[] = "\"\\/\b\f\n\r\t";
	size_t at = *i + 1;
	const char *hit;
	uint32_t lo;

	if (at >= len)
		return ESC_BAD;
	if (p[at] != 'u') {
		hit = p[at] ? strchr(plain_from, p[at]) : NULL;
		if (!hit)
			return ESC_BAD;
		*cp = (unsigned char)plain_to[hit - plain_from];
		*i = at + 1;
		return ESC_OK;
	}
	if (hex4(p, len, at + 1, cp) < 0)
		return ESC_BAD;
	at += 5;
	if (*cp == 0)
		return ESC_NUL;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return ESC_SURROGATE;
	if (*cp >= 0xd800 && *cp <= 0xdbff) {
		if (len - at < 2 || p[at] != '\\' || p[at + 1] != 'u' || hex4(p, len, at + 2, &lo) < 0 ||
		    lo < 0xdc00 || lo > 0xdfff)
			return ESC_SURROGATE;
		*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
		at += 6;
	}
	*i = at;
	return ESC_OK;
}

/* FNV-1a, for telling member names apart cheaply; equal hashes send a document to jansson. */
static uint32_t fnv1a(uint32_t h, const unsigned char *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		h = (h ^ p[k]) * 16777619u;
	return h;
}

#define FNV_BASIS 2166136261u

/*
 * strtod on the number token p[a..b), which must be NUL- or delimiter-terminated for
 * strtod: a token that ends the buffer is copied first.
 */
static double number_value(const unsigned char *p, size_t len, size_t a, size_t b)
{
	char small[64], *copy;
	double d;

	if (b < len)
		return strtod((const char *)p + a, NULL);
	copy = b - a < sizeof(small) ? small : malloc(b - a + 1);
	if (!copy)
		return NAN;
	memcpy(copy, p + a, b - a);
	copy[b - a] = '\0';
	d = strtod(copy, NULL);
	if (copy != small)
		free(copy);
	return d;
}

/* Powers of ten that doubles hold exactly. */
static const double exact_pow10[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
				      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

#define MANTISSA_EXACT (UINT64_C(1) << 53)

/*
 * The value of the validated real token p[a..b) without strtod when that is exact:
 * digits fitting 2^53 scaled by at most 10^22 is one correctly rounded operation on
 * exact operands (Clinger's fast path), hence the same double strtod gives.
 */
static bool real_fast(const unsigned char *p, size_t a, size_t b, double *out)
{
	size_t i = a + (p[a] == '-');
	uint64_t mant = 0;
	int e10 = 0, exp = 0, exp_sign = 1;
	bool fraction = false;
	double d;

	for (; i < b && (is_digit(p[i]) || p[i] == '.'); i++) {
		if (p[i] == '.') {
			fraction = true;
			continue;
		}
		if (mant > (MANTISSA_EXACT - 9) / 10)
			return false;
		mant = mant * 10 + (uint64_t)(p[i] - '0');
		e10 -= fraction;
	}
	if (i < b) {
		i++; /* the 'e' */
		if (p[i] == '+' || p[i] == '-')
			exp_sign = p[i++] == '-' ? -1 : 1;
		for (; i < b; i++)
			if ((exp = exp * 10 + (p[i] - '0')) > 1000)
				return false;
	}
	e10 += exp_sign * exp;
	if (e10 < -22 || e10 > 22)
		return false;
	d = e10 < 0 ? (double)mant / exact_pow10[-e10] : (double)mant * exact_pow10[e10];
	*out = p[a] == '-' ? -d : d;
	return true;
}

/* ---- pass 1: the validating scanner ---- */

/* Element counts of containers in document order (pre-order), filled by the scanner. */
struct counts {
	uint32_t *v; /* local, or a heap block once local is full */
	size_t n, cap;
	uint32_t *local; /* the caller's buffer, of the first cap */
};

static void counts_init(struct counts *c, uint32_t *local, size_t cap)
{
	c->v = local;
	c->n = 0;
	c->cap = cap;
	c->local = local;
}

/* The heap block, or NULL while the counts still fit the caller's buffer. */
static uint32_t *counts_heap(const struct counts *c)
{
	return c->v == c->local ? NULL : c->v;
}

struct scan {
	const unsigned char *p;
	size_t len, pos;
	int max_depth;
	char *err;
	size_t errlen;
	struct counts *counts; /* NULL: validate only */
	int deepest;	       /* deepest container level seen, kept with counts */
	/* Member name hashes of the objects being scanned, innermost last. */
	uint32_t keys[JSONTEXT_KEYS_MAX];
	size_t nkeys;
	bool may_repeat; /* a name may repeat: the packer hands the document to jansson */
};

static int scan_fail(struct scan *s, size_t at, const char *what)
{
	return set_err(s->err, s->errlen, "%s at byte %zu", what, at);
}

static inline void skip_ws(struct scan *s)
{
	while (s->pos < s->len && is_ws(s->p[s->pos]))
		s->pos++;
}

static int scan_value(struct scan *s, int depth);

static int scan_escape(struct scan *s, size_t *i, uint32_t *cp)
{
	size_t at = *i;

	switch (parse_escape(s->p, s->len, i, cp)) {
	case ESC_OK:
		return 0;
	case ESC_NUL:
		return scan_fail(s, at, "\\u0000 is not allowed");
	case ESC_SURROGATE:
		return scan_fail(s, at, "unpaired surrogate escape");
	default:
		return scan_fail(s, at, "invalid escape");
	}
}

/* Scans the string at s->pos (its quote); with hash, also hashes its decoded bytes. */
static int scan_string(struct scan *s, uint32_t *hash)
{
	const unsigned char *p = s->p;
	size_t i = s->pos + 1, run = i, n;
	uint32_t h = FNV_BASIS, cp;
	unsigned char u[4];

	for (;;) {
		i = plain_run_end(p, i, s->len);
		if (i >= s->len)
			return scan_fail(s, s->pos, "unterminated string");
		switch (str_class[p[i]]) {
		case SC_QUOTE:
			if (hash)
				*hash = fnv1a(h, p + run, i - run);
			s->pos = i + 1;
			return 0;
		case SC_CTRL:
			return scan_fail(s, i, "control character in string");
		case SC_HIGH:
			n = utf8_seq_len(p + i, s->len - i);
			if (!n)
				return scan_fail(s, i, "invalid UTF-8 in string");
			i += n;
			break;
		default:
			if (hash)
				h = fnv1a(h, p + run, i - run);
			if (scan_escape(s, &i, &cp) < 0)
				return -1;
			if (hash)
				h = fnv1a(h, u, utf8_put(u, cp));
			run = i;
			break;
		}
	}
}

/*
 * Scans a number token. A double can only overflow when integer digits plus exponent
 * reach about 309, so strtod runs only for those few tokens.
 */
static int scan_number(struct scan *s)
{
	const unsigned char *p = s->p;
	size_t i = s->pos, len = s->len;
	long mag = 0, exp = 0;
	bool neg_exp = false;

	if (p[i] == '-')
		i++;
	if (i >= len || !is_digit(p[i]))
		return scan_fail(s, s->pos, "invalid number");
	if (p[i] == '0') {
		i++;
		mag = 1;
		if (i < len && is_digit(p[i]))
			return scan_fail(s, s->pos, "leading zero in number");
	}
	for (; i < len && is_digit(p[i]); i++)
		mag += mag < 100000;
	if (i < len && p[i] == '.') {
		if (++i >= len || !is_digit(p[i]))
			return scan_fail(s, s->pos, "invalid number");
		while (i < len && is_digit(p[i]))
			i++;
	}
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < len && (p[i] == '+' || p[i] == '-'))
			neg_exp = p[i++] == '-';
		if (i >= len || !is_digit(p[i]))
			return scan_fail(s, s->pos, "invalid number");
		for (; i < len && is_digit(p[i]); i++)
			exp = exp < 100000 ? exp * 10 + (p[i] - '0') : exp;
	}
	if (mag + (neg_exp ? -exp : exp) >= 300 && isinf(number_value(p, len, s->pos, i)))
		return scan_fail(s, s->pos, "number out of range");
	s->pos = i;
	return 0;
}

static int scan_literal(struct scan *s, const char *word, size_t n)
{
	if (s->len - s->pos < n || memcmp(s->p + s->pos, word, n) != 0)
		return scan_fail(s, s->pos, "invalid token");
	s->pos += n;
	return 0;
}

/*
 * Reserves the next pre-order count slot for a container at level depth and notes the
 * deepest level (a no-op when only validating).
 */
static int count_open(struct scan *s, int depth, size_t *slot)
{
	struct counts *c = s->counts;
	uint32_t *v;

	if (!c)
		return 0;
	if (depth > s->deepest)
		s->deepest = depth;
	if (c->n == c->cap) {
		v = c->v == c->local ? malloc(c->cap * 2 * sizeof(*v)) :
				       realloc(c->v, c->cap * 2 * sizeof(*v));
		if (!v)
			return scan_fail(s, s->pos, "out of memory");
		if (c->v == c->local)
			memcpy(v, c->local, c->cap * sizeof(*v));
		c->v = v;
		c->cap *= 2;
	}
	*slot = c->n++;
	return 0;
}

static void count_close(struct scan *s, size_t slot, uint32_t n)
{
	if (s->counts)
		s->counts->v[slot] = n;
}

/* Opens a container at s->pos: checks depth, reserves its count, moves past the bracket and whitespace. */
static int scan_open(struct scan *s, int depth, size_t *slot)
{
	if (depth > s->max_depth)
		return set_err(s->err, s->errlen, "value nests deeper than %d levels at byte %zu",
			       s->max_depth, s->pos);
	if (count_open(s, depth, slot) < 0)
		return -1;
	s->pos++;
	skip_ws(s);
	return 0;
}

/* After an element: ',' (returns 1, more follow) or the closing bracket (returns 0). */
static int scan_next(struct scan *s, unsigned char close, uint32_t *n)
{
	if (*n == UINT32_MAX)
		return scan_fail(s, s->pos, "too many elements");
	(*n)++;
	skip_ws(s);
	if (s->pos < s->len && s->p[s->pos] == ',') {
		s->pos++;
		skip_ws(s);
		return 1;
	}
	if (s->pos < s->len && s->p[s->pos] == close) {
		s->pos++;
		return 0;
	}
	return scan_fail(s, s->pos, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
}

static int scan_array(struct scan *s, int depth)
{
	size_t slot = 0;
	uint32_t n = 0;
	int more = 1;

	if (scan_open(s, depth, &slot) < 0)
		return -1;
	if (s->pos < s->len && s->p[s->pos] == ']') {
		s->pos++;
		more = 0;
	}
	while (more > 0) {
		if (scan_value(s, depth + 1) < 0)
			return -1;
		more = scan_next(s, ']', &n);
	}
	count_close(s, slot, n);
	return more;
}

/*
 * Remembers a member name of the object whose names start at keys[base]. A 64-bit
 * bloom filter keeps the exact comparison off the common path.
 */
static void note_key(struct scan *s, size_t base, uint64_t *bloom, uint32_t h)
{
	uint64_t bit = UINT64_C(1) << (h & 63);

	if (*bloom & bit) {
		for (size_t k = base; k < s->nkeys; k++)
			if (s->keys[k] == h)
				s->may_repeat = true;
	}
	*bloom |= bit;
	if (s->nkeys == JSONTEXT_KEYS_MAX)
		s->may_repeat = true;
	else
		s->keys[s->nkeys++] = h;
}

/*
 * Scans a member name and its ':' up to the value; *name_end is where the name's token
 * ends. Without bloom (the JSON-RPC top level) the name is not remembered.
 */
static int scan_member_name(struct scan *s, size_t base, uint64_t *bloom, size_t *name_end)
{
	bool check = s->counts && bloom && !s->may_repeat;
	uint32_t h;

	if (s->pos >= s->len || s->p[s->pos] != '"')
		return scan_fail(s, s->pos, "expected a string member name");
	if (scan_string(s, check ? &h : NULL) < 0)
		return -1;
	if (check)
		note_key(s, base, bloom, h);
	*name_end = s->pos;
	skip_ws(s);
	if (s->pos >= s->len || s->p[s->pos] != ':')
		return scan_fail(s, s->pos, "expected ':'");
	s->pos++;
	skip_ws(s);
	return 0;
}

static int scan_object(struct scan *s, int depth)
{
	size_t slot = 0, base = s->nkeys, name_end;
	uint64_t bloom = 0;
	uint32_t n = 0;
	int more = 1;

	if (scan_open(s, depth, &slot) < 0)
		return -1;
	if (s->pos < s->len && s->p[s->pos] == '}') {
		s->pos++;
		more = 0;
	}
	while (more > 0) {
		if (scan_member_name(s, base, &bloom, &name_end) < 0 || scan_value(s, depth + 1) < 0)
			return -1;
		more = scan_next(s, '}', &n);
	}
	s->nkeys = base;
	count_close(s, slot, n);
	return more;
}

/* Scans the value at s->pos (no whitespace before it); depth is the level a container here has. */
static int scan_value(struct scan *s, int depth)
{
	if (s->pos >= s->len)
		return scan_fail(s, s->pos, "unexpected end of input");
	switch (s->p[s->pos]) {
	case '{':
		return scan_object(s, depth);
	case '[':
		return scan_array(s, depth);
	case '"':
		return scan_string(s, NULL);
	case 't':
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		if (s->p[s->pos] == '-' || is_digit(s->p[s->pos]))
			return scan_number(s);
		return scan_fail(s, s->pos, "invalid token");
	}
}

static void scan_init(struct scan *s, const char *text, size_t len, size_t pos, int max_depth,
		      char *err, size_t errlen)
{
	s->p = (const unsigned char *)text;
	s->len = len;
	s->pos = pos;
	s->max_depth = max_depth > JSONTEXT_MAX_DEPTH ? JSONTEXT_MAX_DEPTH : max_depth;
	s->err = err;
	s->errlen = errlen;
	s->counts = NULL;
	s->deepest = 0;
	s->nkeys = 0;
	s->may_repeat = false;
}

/* Whitespace, one value, whitespace. */
static int scan_document(struct scan *s)
{
	skip_ws(s);
	if (scan_value(s, 1) < 0)
		return -1;
	skip_ws(s);
	return 0;
}

int jsontext_skip(const char *text, size_t len, size_t *pos, int max_depth, char *err,
		  size_t errlen)
{
	struct scan s;

	if (*pos > len)
		return set_err(err, errlen, "position %zu is past the end (%zu)", *pos, len);
	scan_init(&s, text, len, *pos, max_depth, err, errlen);
	if (scan_document(&s) < 0)
		return -1;
	*pos = s.pos;
	return 0;
}

static bool is_json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int jsontext_batch_each(const char *text, size_t len, int max_depth,
			int (*fn)(void *ctx, const char *elem, size_t elem_len), void *ctx)
{
	size_t pos = 0, start, end;
	char err[8];

	while (pos < len && is_json_ws(text[pos]))
		pos++;
	if (pos >= len || text[pos] != '[')
		return 0;
	/* The whole array first: a malformed batch passes nothing on. */
	if (jsontext_skip(text, len, &(size_t){ pos }, max_depth, err, sizeof(err)) < 0)
		return 0;
	pos++;
	for (;;) {
		while (pos < len && is_json_ws(text[pos]))
			pos++;
		if (pos >= len || text[pos] == ']')
			return 1;
		start = pos;
		if (jsontext_skip(text, len, &pos, max_depth, err, sizeof(err)) < 0)
			return 1; /* cannot happen: the whole array was checked */
		end = pos;
		while (end > start && is_json_ws(text[end - 1]))
			end--;
		if (fn(ctx, text + start, end - start) < 0)
			return -1;
		if (pos < len && text[pos] == ',')
			pos++;
	}
}

/* ---- pass 2: packing validated text ---- */

struct emit {
	const unsigned char *p;
	size_t len, pos;
	msgpack_packer *pk;
	const uint32_t *counts;
	size_t next;
	int rc; /* nonzero once the packer's callback failed */
};

static inline void emit_ws(struct emit *e)
{
	while (e->pos < e->len && is_ws(e->p[e->pos]))
		e->pos++;
}

static void emit_value(struct emit *e);

/* Decoded bytes of the escaped string body p[a..b), batched into few packer writes. */
static void emit_unescaped(struct emit *e, size_t a, size_t b)
{
	unsigned char buf[512];
	size_t used = 0, i = a;
	uint32_t cp;

	while (i < b) {
		if (sizeof(buf) - used < 4) {
			e->rc |= msgpack_pack_str_body(e->pk, buf, used);
			used = 0;
		}
		if (e->p[i] == '\\') {
			parse_escape(e->p, b, &i, &cp);
			used += utf8_put(buf + used, cp);
		} else {
			buf[used++] = e->p[i++];
		}
	}
	e->rc |= msgpack_pack_str_body(e->pk, buf, used);
}

static void emit_string(struct emit *e)
{
	const unsigned char *p = e->p;
	size_t a = e->pos + 1, i = a, n = 0;
	bool escaped = false;
	uint32_t cp;
	unsigned char u[4];

	for (;;) {
		size_t run = plain_run_end(p, i, e->len);

		n += run - i;
		i = run;
		if (p[i] == '"')
			break;
		if (p[i] == '\\') {
			escaped = true;
			parse_escape(p, e->len, &i, &cp);
			n += utf8_put(u, cp);
		} else {
			i++;
			n++;
		}
	}
	e->pos = i + 1;
	e->rc |= msgpack_pack_str(e->pk, n);
	if (escaped)
		emit_unescaped(e, a, i);
	else
		e->rc |= msgpack_pack_str_body(e->pk, p + a, n);
}

/* Integers as mpjson_pack has jansson's (negative -> int64, else uint64), beyond that uint64, the rest float64. */
static void emit_number(struct emit *e)
{
	const unsigned char *p = e->p;
	size_t a = e->pos, i = a;
	bool neg = p[i] == '-', overflow = false;
	uint64_t mag = 0;
	double d;

	i += neg;
	for (; i < e->len && is_digit(p[i]); i++) {
		unsigned d = p[i] - '0';

		if (mag > (UINT64_MAX - d) / 10)
			overflow = true;
		mag = mag * 10 + d;
	}
	if (i < e->len && p[i] == '.') {
		overflow = true;
		for (i++; i < e->len && is_digit(p[i]); i++)
			;
	}
	if (i < e->len && (p[i] == 'e' || p[i] == 'E')) {
		overflow = true;
		i += p[i + 1] == '+' || p[i + 1] == '-' ? 2 : 1;
		while (i < e->len && is_digit(p[i]))
			i++;
	}
	e->pos = i;
	if (!overflow && !neg)
		e->rc |= msgpack_pack_uint64(e->pk, mag);
	else if (!overflow && mag <= (uint64_t)INT64_MAX + 1)
		e->rc |= msgpack_pack_int64(e->pk, (int64_t)(0 - mag));
	else if (real_fast(p, a, i, &d))
		e->rc |= msgpack_pack_double(e->pk, d);
	else
		e->rc |= msgpack_pack_double(e->pk, number_value(p, e->len, a, i));
}

/* The elements of a container whose opening bracket is at e->pos; n from pass 1. */
static void emit_elements(struct emit *e, uint32_t n, bool members)
{
	e->pos++;
	for (uint32_t k = 0; k < n; k++) {
		emit_ws(e);
		if (members) {
			emit_string(e);
			emit_ws(e);
			e->pos++;
			emit_ws(e);
		}
		emit_value(e);
		emit_ws(e);
		e->pos++;
	}
	if (n == 0) {
		emit_ws(e);
		e->pos++;
	}
}

static void emit_value(struct emit *e)
{
	uint32_t n;

	switch (e->p[e->pos]) {
	case '{':
		n = e->counts[e->next++];
		e->rc |= msgpack_pack_map(e->pk, n);
		emit_elements(e, n, true);
		break;
	case '[':
		n = e->counts[e->next++];
		e->rc |= msgpack_pack_array(e->pk, n);
		emit_elements(e, n, false);
		break;
	case '"':
		emit_string(e);
		break;
	case 't':
		e->rc |= msgpack_pack_true(e->pk);
		e->pos += 4;
		break;
	case 'f':
		e->rc |= msgpack_pack_false(e->pk);
		e->pos += 5;
		break;
	case 'n':
		e->rc |= msgpack_pack_nil(e->pk);
		e->pos += 4;
		break;
	default:
		emit_number(e);
		break;
	}
}

/* The rare path for repeated member names: jansson's own object semantics, then mpjson_pack. */
static int pack_via_jansson(const char *text, size_t a, size_t b, msgpack_packer *pk, char *err,
			    size_t errlen)
{
	json_error_t jerr;
	json_t *j = json_loadb(text + a, b - a, JSON_DECODE_ANY, &jerr);

	if (!j)
		return set_err(err, errlen, "%s at byte %zu", jerr.text, a + (size_t)jerr.position);
	mpjson_pack(pk, j);
	json_decref(j);
	return 0;
}

int jsontext_to_msgpack(const char *text, size_t len, size_t *pos, msgpack_packer *pk,
			int max_depth, char *err, size_t errlen)
{
	uint32_t local[COUNTS_ON_STACK];
	struct counts counts;
	struct scan s;
	struct emit e;
	size_t start;
	int rc = 0;

	if (*pos > len)
		return set_err(err, errlen, "position %zu is past the end (%zu)", *pos, len);
	counts_init(&counts, local, COUNTS_ON_STACK);
	scan_init(&s, text, len, *pos, max_depth, err, errlen);
	s.counts = &counts;
	skip_ws(&s);
	start = s.pos;
	if (scan_document(&s) < 0) {
		rc = -1;
	} else if (s.may_repeat) {
		rc = pack_via_jansson(text, start, s.pos, pk, err, errlen);
	} else {
		e = (struct emit){ .p = s.p, .len = len, .pos = start, .pk = pk, .counts = counts.v };
		emit_value(&e);
		if (e.rc)
			rc = set_err(err, errlen, "msgpack packer failed (out of memory?)");
	}
	free(counts_heap(&counts));
	if (rc == 0)
		*pos = s.pos;
	return rc;
}

/* ---- msgpack -> JSON text ---- */

struct writer {
	struct jbuf *out;
	int max_depth;
	char *err;
	size_t errlen;
};

static int write_value(struct writer *w, const msgpack_object *o, int depth);

static int write_oom(struct writer *w)
{
	return set_err(w->err, w->errlen, "out of memory");
}

static int put(struct writer *w, const char *s, size_t n)
{
	return jbuf_append(w->out, s, n) < 0 ? write_oom(w) : 0;
}

static int put_u64(struct writer *w, uint64_t v, bool neg)
{
	char buf[24], *q = buf + sizeof(buf);

	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (neg)
		*--q = '-';
	return put(w, q, (size_t)(buf + sizeof(buf) - q));
}

/*
 * d as "[-]digits.digits" when some m / 10^k (k <= 6, |m| < 2^53) equals d exactly:
 * strtod of that text is the correctly rounded quotient, i.e. d again. Returns 0, 1
 * when d needs the general path, -1 on ENOMEM.
 */
static int put_decimal(struct writer *w, double d)
{
	char buf[32], *q = buf + sizeof(buf);
	double a = d < 0 ? -d : d, t;
	uint64_t m = 0;
	int k;

	if (a >= 1e9)
		return 1;
	for (k = 0; k <= 6; k++) {
		t = a * exact_pow10[k];
		m = (uint64_t)(t + 0.5);
		if ((double)m / exact_pow10[k] == a)
			break;
	}
	if (k > 6)
		return 1;
	if (k == 0) {
		*--q = '0';
		*--q = '.';
	}
	for (int digit = 0; m || digit <= k; digit++) {
		if (digit == k && k)
			*--q = '.';
		*--q = (char)('0' + m % 10);
		m /= 10;
	}
	if (signbit(d))
		*--q = '-';
	return put(w, q, (size_t)(buf + sizeof(buf) - q));
}

/* The shortest of %.15g..%.17g that reads back as d, kept a real by ".0" when integral. */
static int put_double(struct writer *w, double d)
{
	char buf[40];
	int n = 0, rc;

	if (!isfinite(d))
		return set_err(w->err, w->errlen, "float %g has no JSON form", d);
	rc = put_decimal(w, d);
	if (rc <= 0)
		return rc;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".eE"))
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".0");
	return put(w, buf, (size_t)n);
}

enum { APPEND_OK = 0, APPEND_NOMEM = -1, APPEND_BAD_UTF8 = -2 };

/* Appends the escaped body of s (no quotes). */
static int escape_body(struct jbuf *out, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run, k;
	char esc[6] = { '\\', 'u', '0', '0', 0, 0 };

	while (i < n) {
		run = i;
		i = plain_run_end(s, i, n);
		if (i > run && jbuf_append(out, (const char *)s + run, i - run) < 0)
			return APPEND_NOMEM;
		if (i == n)
			break;
		if (str_class[s[i]] == SC_HIGH) {
			k = utf8_seq_len(s + i, n - i);
			if (!k)
				return APPEND_BAD_UTF8;
			if (jbuf_append(out, (const char *)s + i, k) < 0)
				return APPEND_NOMEM;
			i += k;
			continue;
		}
		switch (s[i]) {
		case '"': esc[1] = '"'; k = 2; break;
		case '\\': esc[1] = '\\'; k = 2; break;
		case '\b': esc[1] = 'b'; k = 2; break;
		case '\f': esc[1] = 'f'; k = 2; break;
		case '\n': esc[1] = 'n'; k = 2; break;
		case '\r': esc[1] = 'r'; k = 2; break;
		case '\t': esc[1] = 't'; k = 2; break;
		default:
			esc[1] = 'u';
			esc[4] = hex[s[i] >> 4];
			esc[5] = hex[s[i] & 15];
			k = 6;
			break;
		}
		if (jbuf_append(out, esc, k) < 0)
			return APPEND_NOMEM;
		i++;
	}
	return APPEND_OK;
}

/* A quoted string; on failure out is as it was. */
static int append_string(struct jbuf *out, const char *s, size_t n)
{
	size_t was = out->len;
	int rc = APPEND_NOMEM;

	if (jbuf_reserve(out, n + 2) == 0 && jbuf_append(out, "\"", 1) == 0) {
		rc = escape_body(out, (const unsigned char *)s, n);
		if (rc == APPEND_OK && jbuf_append(out, "\"", 1) < 0)
			rc = APPEND_NOMEM;
	}
	if (rc != APPEND_OK && out->data) {
		out->len = was;
		out->data[was] = '\0';
	}
	return rc;
}

int jsontext_append_string(struct jbuf *out, const char *s, size_t n)
{
	return append_string(out, s, n) == APPEND_OK ? 0 : -1;
}

static int write_string(struct writer *w, const char *s, size_t n, const char *what)
{
	switch (append_string(w->out, s, n)) {
	case APPEND_OK:
		return 0;
	case APPEND_BAD_UTF8:
		return set_err(w->err, w->errlen, "%s is not valid UTF-8", what);
	default:
		return write_oom(w);
	}
}

static int write_array(struct writer *w, const msgpack_object *o, int depth)
{
	const msgpack_object_array *a = &o->via.array;

	if (put(w, "[", 1) < 0)
		return -1;
	for (uint32_t i = 0; i < a->size; i++) {
		if ((i && put(w, ",", 1) < 0) || write_value(w, &a->ptr[i], depth + 1) < 0)
			return -1;
	}
	return put(w, "]", 1);
}

static bool key_eq(const msgpack_object *a, const msgpack_object *b)
{
	return a->via.str.size == b->via.str.size &&
	       memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0;
}

/* Refuses non-str keys; returns 1 when some key repeats, 0 when none does, -1 on error. */
static int map_keys_check(struct writer *w, const msgpack_object_map *m)
{
	uint64_t bloom = 0, bit;
	int repeats = 0;

	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;

		if (k->type != MSGPACK_OBJECT_STR)
			return set_err(w->err, w->errlen, "map key must be a str, got %s",
				       wire_type_name(k));
		bit = UINT64_C(1) << (fnv1a(FNV_BASIS, (const unsigned char *)k->via.str.ptr,
					    k->via.str.size) & 63);
		if ((bloom & bit) && !repeats) {
			for (uint32_t j = 0; j < i && !repeats; j++)
				repeats = key_eq(&m->ptr[j].key, k);
		}
		bloom |= bit;
	}
	return repeats;
}

/* Of a repeated key, the member at the first position carries the last value (as mpjson). */
static const msgpack_object *member_value(const msgpack_object_map *m, uint32_t i, bool repeats)
{
	const msgpack_object *v = &m->ptr[i].val;

	if (!repeats)
		return v;
	for (uint32_t j = 0; j < i; j++)
		if (key_eq(&m->ptr[j].key, &m->ptr[i].key))
			return NULL;
	for (uint32_t j = i + 1; j < m->size; j++)
		if (key_eq(&m->ptr[j].key, &m->ptr[i].key))
			v = &m->ptr[j].val;
	return v;
}

/* True when a later member of m repeats the key of member i, whose value it overrides. */
static bool overridden(const msgpack_object_map *m, uint32_t i)
{
	for (uint32_t j = i + 1; j < m->size; j++)
		if (key_eq(&m->ptr[j].key, &m->ptr[i].key))
			return true;
	return false;
}

/*
 * Checks that a value a later repeated key overrides has a JSON form, as mpjson_to_json
 * (which converts every value) requires, by writing it to a scratch buffer.
 */
static int check_overridden(struct writer *w, const msgpack_object *v, int depth)
{
	struct jbuf scratch;
	struct writer c = *w;
	int rc;

	jbuf_init(&scratch);
	c.out = &scratch;
	rc = write_value(&c, v, depth);
	jbuf_free(&scratch);
	return rc;
}

static bool depth_ok(const msgpack_object *o, int levels_left)
{
	if (o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP)
		return true;
	if (levels_left <= 0)
		return false;
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (!depth_ok(&o->via.array.ptr[i], levels_left - 1))
				return false;
	} else {
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (!depth_ok(&o->via.map.ptr[i].val, levels_left - 1))
				return false;
	}
	return true;
}

/* Big maps: jansson's hash table finds repeated keys in linear time. */
static int write_via_jansson(struct writer *w, const msgpack_object *o, int depth)
{
	json_t *j;
	char *s;
	int rc;

	if (!depth_ok(o, w->max_depth - depth + 1))
		return set_err(w->err, w->errlen, "value nests deeper than %d levels", w->max_depth);
	j = mpjson_to_json(o, w->err, w->errlen);
	if (!j)
		return -1;
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	if (!s)
		return write_oom(w);
	rc = put(w, s, strlen(s));
	free(s);
	return rc;
}

static int write_map(struct writer *w, const msgpack_object *o, int depth)
{
	const msgpack_object_map *m = &o->via.map;
	const msgpack_object *v;
	bool first = true;
	int repeats;

	if (m->size > JSONTEXT_KEYS_MAX)
		return write_via_jansson(w, o, depth);
	repeats = map_keys_check(w, m);
	if (repeats < 0 || put(w, "{", 1) < 0)
		return -1;
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;

		if (repeats && overridden(m, i) && check_overridden(w, &m->ptr[i].val, depth + 1) < 0)
			return -1;
		v = member_value(m, i, repeats);
		if (!v)
			continue;
		if ((!first && put(w, ",", 1) < 0) ||
		    write_string(w, k->via.str.ptr, k->via.str.size, "map key") < 0 ||
		    put(w, ":", 1) < 0 || write_value(w, v, depth + 1) < 0)
			return -1;
		first = false;
	}
	return put(w, "}", 1);
}

static int write_value(struct writer *w, const msgpack_object *o, int depth)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return put(w, "null", 4);
	case MSGPACK_OBJECT_BOOLEAN:
		return o->via.boolean ? put(w, "true", 4) : put(w, "false", 5);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return put_u64(w, o->via.u64, false);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return put_u64(w, (uint64_t)0 - (uint64_t)o->via.i64, true);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return put_double(w, o->via.f64);
	case MSGPACK_OBJECT_STR:
		return write_string(w, o->via.str.ptr, o->via.str.size, "str");
	case MSGPACK_OBJECT_ARRAY:
	case MSGPACK_OBJECT_MAP:
		if (depth > w->max_depth)
			return set_err(w->err, w->errlen, "value nests deeper than %d levels",
				       w->max_depth);
		return o->type == MSGPACK_OBJECT_ARRAY ? write_array(w, o, depth) :
							 write_map(w, o, depth);
	case MSGPACK_OBJECT_BIN:
		return set_err(w->err, w->errlen, "bin is not representable in JSON");
	case MSGPACK_OBJECT_EXT:
		return set_err(w->err, w->errlen, "ext (type %d) is not representable in JSON",
			       o->via.ext.type);
	default:
		return set_err(w->err, w->errlen, "unknown msgpack type %d", (int)o->type);
	}
}

int jsontext_from_msgpack(const msgpack_object *o, struct jbuf *out, int max_depth, char *err,
			  size_t errlen)
{
	struct writer w = {
		.out = out,
		.max_depth = max_depth > JSONTEXT_MAX_DEPTH ? JSONTEXT_MAX_DEPTH : max_depth,
		.err = err,
		.errlen = errlen,
	};

	return write_value(&w, o, 1);
}

/* ---- JSON-RPC top level ---- */

/*
 * The name of the string token p[a..b), unescaped into buf when it holds escapes.
 * Returns it (not NUL-terminated; *n bytes), or NULL when it is longer than any
 * name note_member() looks for.
 */
static const char *member_name(const unsigned char *p, size_t a, size_t b, char buf[8], size_t *n)
{
	size_t i = a + 1, used = 0;
	uint32_t cp;

	if (!memchr(p + a + 1, '\\', b - a - 2)) {
		*n = b - a - 2;
		return *n < 8 ? (const char *)p + a + 1 : NULL;
	}
	while (i < b - 1) {
		if (p[i] == '\\') {
			unsigned char u[4];
			size_t k;

			parse_escape(p, b - 1, &i, &cp);
			k = utf8_put(u, cp);
			if (used + k >= 8)
				return NULL;
			memcpy(buf + used, u, k);
			used += k;
		} else {
			if (used + 1 >= 8)
				return NULL;
			buf[used++] = (char)p[i++];
		}
	}
	*n = used;
	return buf;
}

/* The id as int64 when the token p[a..b) is an integer that fits. */
static bool id_integer(const unsigned char *p, size_t a, size_t b, int64_t *out)
{
	bool neg = p[a] == '-';
	uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	if (a + neg >= b)
		return false;
	for (size_t i = a + neg; i < b; i++) {
		if (!is_digit(p[i]))
			return false;
		if (mag > (limit - (uint64_t)(p[i] - '0')) / 10)
			return false;
		mag = mag * 10 + (uint64_t)(p[i] - '0');
	}
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return true;
}

/*
 * Files the value span [va, vb) of the member named p[ka..kb) (a string token) where it
 * belongs; returns that span, or NULL for a member of no interest.
 */
static struct jsonrpc_span *note_member(struct jsonrpc_msg *m, const unsigned char *p, size_t ka,
					size_t kb, size_t va, size_t vb)
{
	struct jsonrpc_span *span;
	char buf[8];
	size_t n;
	const char *name = member_name(p, ka, kb, buf, &n);

	if (!name)
		return NULL;
	if (n == 2 && memcmp(name, "id", 2) == 0) {
		span = &m->id;
		m->id_is_int = id_integer(p, va, vb, &m->id_int);
	} else if (n == 6 && memcmp(name, "method", 6) == 0) {
		span = &m->method;
		m->method_is_str = p[va] == '"';
	} else if (n == 6 && memcmp(name, "result", 6) == 0) {
		span = &m->result;
	} else if (n == 5 && memcmp(name, "error", 5) == 0) {
		span = &m->error;
	} else if (n == 6 && memcmp(name, "params", 6) == 0) {
		span = &m->params;
	} else {
		return NULL;
	}
	span->start = va;
	span->end = vb;
	return span;
}

/*
 * Scans a top-level member's value, which starts at s->pos, noting it in m. When
 * keeping counts, also its shape: the level and repeat tracking restart here so that
 * they describe this value alone, as jsontext_to_msgpack would find them on its span.
 */
static int scan_member_value(struct scan *s, struct jsonrpc_msg *m, size_t ka, size_t kb)
{
	size_t va = s->pos, first = 0;
	struct jsonrpc_span *span;

	if (s->counts) {
		first = s->counts->n;
		s->deepest = 1;
		s->may_repeat = false;
	}
	if (scan_value(s, 2) < 0)
		return -1;
	span = note_member(m, s->p, ka, kb, va, s->pos);
	if (s->counts && span) {
		span->first_count = first;
		span->levels = s->deepest - 1;
		span->may_repeat = s->may_repeat;
	}
	return 0;
}

/* The members of the top-level object, from its '{' at s->pos to the end of the line. */
static int scan_rpc_object(struct scan *s, struct jsonrpc_msg *m)
{
	size_t slot = 0, ka, kb = 0;
	uint32_t n = 0;
	int more = 1;

	if (scan_open(s, 1, &slot) < 0)
		return -1;
	if (s->pos < s->len && s->p[s->pos] == '}') {
		s->pos++;
		more = 0;
	}
	while (more > 0) {
		ka = s->pos;
		if (scan_member_name(s, 0, NULL, &kb) < 0 || scan_member_value(s, m, ka, kb) < 0)
			return -1;
		more = scan_next(s, '}', &n);
	}
	if (more < 0)
		return -1;
	if (s->counts)
		count_close(s, slot, n);
	skip_ws(s);
	if (s->pos != s->len)
		return scan_fail(s, s->pos, "trailing data after the object");
	return 0;
}

/* jsonrpc_scan, keeping the counts in m when counts is not NULL. */
static int rpc_scan(const char *line, size_t len, int max_depth, struct jsonrpc_msg *m,
		    struct counts *counts, char *err, size_t errlen)
{
	struct scan s;

	/* Field by field, leaving the counts buffer alone (gcc makes a memset rep stos). */
	m->id = m->method = m->result = m->error = m->params = (struct jsonrpc_span){ 0 };
	m->id_is_int = m->method_is_str = m->counts_kept = false;
	m->id_int = 0;
	m->counts_heap = NULL;
	scan_init(&s, line, len, 0, max_depth, err, errlen);
	s.counts = counts;
	skip_ws(&s);
	if (s.pos >= len || s.p[s.pos] != '{')
		return scan_fail(&s, s.pos, "expected a JSON object");
	return scan_rpc_object(&s, m);
}

int jsonrpc_scan(const char *line, size_t len, int max_depth, struct jsonrpc_msg *m, char *err,
		 size_t errlen)
{
	return rpc_scan(line, len, max_depth, m, NULL, err, errlen);
}

int jsonrpc_scan_keep(const char *line, size_t len, int max_depth, struct jsonrpc_msg *m,
		      char *err, size_t errlen)
{
	struct counts counts;

	counts_init(&counts, m->counts_local, JSONRPC_COUNTS_LOCAL);
	if (rpc_scan(line, len, max_depth, m, &counts, err, errlen) < 0) {
		free(counts_heap(&counts));
		return -1;
	}
	m->counts_heap = counts_heap(&counts);
	m->counts_kept = true;
	return 0;
}

int jsonrpc_pack(const char *line, const struct jsonrpc_msg *m, const struct jsonrpc_span *member,
		 msgpack_packer *pk, int max_depth, char *err, size_t errlen)
{
	int limit = max_depth > JSONTEXT_MAX_DEPTH ? JSONTEXT_MAX_DEPTH : max_depth;
	size_t pos = 0, len = member->end - member->start;
	struct emit e;

	/* The refusals (absent, too deep) are rare: jsontext_to_msgpack words them. */
	if (!m->counts_kept || len == 0 || member->levels > limit)
		return jsontext_to_msgpack(line + member->start, len, &pos, pk, max_depth, err,
					   errlen);
	if (member->may_repeat)
		return pack_via_jansson(line + member->start, 0, len, pk, err, errlen);
	e = (struct emit){ .p = (const unsigned char *)line,
			   .len = member->end,
			   .pos = member->start,
			   .pk = pk,
			   .counts = m->counts_heap ? m->counts_heap : m->counts_local,
			   .next = member->first_count };
	emit_value(&e);
	if (e.rc)
		return set_err(err, errlen, "msgpack packer failed (out of memory?)");
	return 0;
}

void jsonrpc_msg_release(struct jsonrpc_msg *m)
{
	if (!m)
		return;
	free(m->counts_heap);
	m->counts_heap = NULL;
	m->counts_kept = false;
}
