/*
 * Fuzzes the WWW-Authenticate challenge parser (daemon/httpauth.c), the header of a
 * server's 401 or 403; the input is the header's value (up to a NUL byte: httpconn.c
 * keeps it as a C string). Checked:
 * - the data is a JSON object with the status; with a challenge, the scheme (the text
 *   up to the first blank or comma) and wwwAuthenticate (the header as it came), both
 *   present when the header is valid UTF-8 (JSON strings can hold nothing else);
 * - each auth-param found (resource_metadata, scope, error, error_description, realm)
 *   is a string, and the challenge written again from the data (the scheme, then each
 *   param as name="value" with \" and \\ escaped) reads back to the same data: a
 *   quoted-string's escapes and a token's end are read as they are written;
 * - without a challenge the data is {"status": N} alone.
 */
#include "fuzz.h"

#include <jansson.h>

#include "httpauth.h"

static const char *const known[] = { "resource_metadata", "scope", "error",
				     "error_description", "realm" };

static json_t *parse(long status, const char *raw)
{
	char *text = httpauth_data(status, raw);
	json_error_t e;
	json_t *o;

	FUZZ_CHECK(text, "no data");
	o = json_loads(text, 0, &e);
	FUZZ_CHECK(json_is_object(o), "not a JSON object (%s): %s", e.text, text);
	free(text);
	FUZZ_CHECK(json_integer_value(json_object_get(o, "status")) == status, "status");
	return o;
}

/* Equal values, or both absent (json_equal takes NULL for a difference). */
static bool same(const json_t *a, const json_t *b)
{
	return (!a && !b) || json_equal(a, b);
}

/* The challenge again, from what was read of it (malloc'd). */
static char *rewrite(const json_t *o)
{
	const char *scheme = json_string_value(json_object_get(o, "scheme"));
	size_t cap = 64 + (scheme ? strlen(scheme) : 0), n = 0;
	char *s;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		const char *v = json_string_value(json_object_get(o, known[i]));
		if (v)
			cap += strlen(known[i]) + 2 * strlen(v) + 8;
	}
	s = malloc(cap);
	FUZZ_CHECK(s, "out of memory");
	n = (size_t)snprintf(s, cap, "%s", scheme ? scheme : "");
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		const char *v = json_string_value(json_object_get(o, known[i]));
		if (!v)
			continue;
		n += (size_t)snprintf(s + n, cap - n, "%s%s=\"", n ? ", " : " ", known[i]);
		for (; *v; v++) {
			if (*v == '"' || *v == '\\')
				s[n++] = '\\';
			s[n++] = *v;
		}
		s[n++] = '"';
		s[n] = '\0';
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long status = size && data[0] & 1 ? 403 : 401;
	char *raw = malloc(size + 1), *again;
	json_t *o, *o2, *utf8;
	const char *scheme, *www;

	FUZZ_CHECK(raw, "out of memory");
	memcpy(raw, data, size);
	raw[size] = '\0';

	o = parse(status, NULL);
	FUZZ_CHECK(json_object_size(o) == 1, "data without a challenge has %zu members",
		   json_object_size(o));
	json_decref(o);

	o = parse(status, raw);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		json_t *v = json_object_get(o, known[i]);
		FUZZ_CHECK(!v || json_is_string(v), "%s is not a string", known[i]);
	}
	scheme = json_string_value(json_object_get(o, "scheme"));
	www = json_string_value(json_object_get(o, "wwwAuthenticate"));
	utf8 = json_string(raw);
	if (utf8) {
		size_t n = strcspn(raw, " \t,");
		FUZZ_CHECK(www && strcmp(www, raw) == 0, "wwwAuthenticate \"%s\"", www);
		FUZZ_CHECK(scheme && strlen(scheme) == n && memcmp(scheme, raw, n) == 0,
			   "scheme \"%s\"", scheme);
	}
	json_decref(utf8);
	again = rewrite(o);
	o2 = parse(status, again);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		FUZZ_CHECK(same(json_object_get(o, known[i]), json_object_get(o2, known[i])),
			   "%s reads apart when written again as %s", known[i], again);
	json_decref(o2);
	free(again);
	json_decref(o);
	free(raw);
	return 0;
}
