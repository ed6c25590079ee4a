/*
 * Fuzzes what daemon/era.c makes of an app's params text (app-controlled input): the
 * first input byte chooses the protocol version and the client capabilities the daemon
 * adds, the rest is the params JSON text. Checked, jansson being the reference reader
 * (but for the documented differences of proto/jsontext.h: integers beyond int64, a
 * raw NUL byte, \u0000, where nothing is compared):
 * - era_params_with_meta succeeds exactly for an object whose _meta, if any, is an
 *   object (within the nesting limit); a refusal starts with "params";
 * - its output is then valid JSON: an object with each of the app's members but _meta
 *   as jansson reads them (a repeated name: the last), and a _meta with each of the
 *   app's _meta members but the daemon's three, plus those three holding the version,
 *   mcppool's clientInfo and the capabilities (and logLevel "info" when the first
 *   byte's top bit asks for it; an app's own logLevel is dropped); nothing else;
 * - era_param_string(params, "name" / "uri") is the member's string as jansson reads
 *   it, or NULL when it is absent or not a string;
 * - era_choose of the params (an array) or of their "supportedVersions" picks modern
 *   exactly when the list holds ERA_MODERN_VERSION, else a legacy version from the
 *   list that mcppool speaks, else none.
 */
#include "fuzz.h"

#include <jansson.h>

#include "era.h"
#include "mpjson.h"
#include "upstream.h"
#include "wire.h"

#define KEY_VERSION "io.modelcontextprotocol/protocolVersion"
#define KEY_INFO "io.modelcontextprotocol/clientInfo"
#define KEY_CAPS "io.modelcontextprotocol/clientCapabilities"
#define KEY_LOG "io.modelcontextprotocol/logLevel"

static const char *const versions[] = { ERA_MODERN_VERSION, "2025-11-25", "v\"1\\\x01\xc3\xa9" };
static const char *const caps_texts[] = {
	"{}",
	"{\"sampling\":{},\"elicitation\":{\"form\":{}}}",
	"{\"roots\":{\"listChanged\":true},\"experimental\":{\"x\":[1,2.5,null]}}",
};

static bool ours(const char *key)
{
	return strcmp(key, KEY_VERSION) == 0 || strcmp(key, KEY_INFO) == 0 ||
	       strcmp(key, KEY_CAPS) == 0 || strcmp(key, KEY_LOG) == 0;
}

/* out (from era_params_with_meta) against params as jansson read them. */
static void check_merged(const json_t *params, const json_t *out, const char *version,
			 const char *caps, const char *log_level)
{
	const json_t *meta_in = json_object_get(params, "_meta"), *meta_out, *v;
	size_t kept = 0, want;
	const char *k;
	json_t *info, *caps_j;

	FUZZ_CHECK(json_is_object(out), "the output is not an object");
	json_object_foreach((json_t *)params, k, v) {
		if (strcmp(k, "_meta") == 0)
			continue;
		FUZZ_CHECK(json_equal(json_object_get(out, k), v), "member \"%s\" changed", k);
	}
	want = json_object_size(params) + (meta_in ? 0 : 1);
	FUZZ_CHECK(json_object_size(out) == want, "%zu members out, %zu wanted",
		   json_object_size(out), want);
	meta_out = json_object_get(out, "_meta");
	FUZZ_CHECK(json_is_object(meta_out), "no _meta object in the output");
	json_object_foreach((json_t *)meta_in, k, v) {
		if (ours(k))
			continue;
		FUZZ_CHECK(json_equal(json_object_get(meta_out, k), v), "_meta.\"%s\" changed", k);
		kept++;
	}
	FUZZ_CHECK(json_object_size(meta_out) == kept + 3 + (log_level != NULL),
		   "_meta has %zu members, %zu wanted", json_object_size(meta_out),
		   kept + 3 + (log_level != NULL));
	v = json_object_get(meta_out, KEY_LOG);
	FUZZ_CHECK(log_level ? json_is_string(v) && strcmp(json_string_value(v), log_level) == 0 : !v,
		   "logLevel");
	v = json_object_get(meta_out, KEY_VERSION);
	FUZZ_CHECK(json_is_string(v) && strcmp(json_string_value(v), version) == 0, "version");
	info = json_pack("{s:s, s:s}", "name", MCP_CLIENT_NAME, "version", MCP_CLIENT_VERSION);
	FUZZ_CHECK(json_equal(json_object_get(meta_out, KEY_INFO), info), "clientInfo");
	caps_j = json_loads(caps, 0, NULL);
	FUZZ_CHECK(json_equal(json_object_get(meta_out, KEY_CAPS), caps_j), "clientCapabilities");
	json_decref(info);
	json_decref(caps_j);
}

static void check_param_string(const char *text, size_t len, const json_t *params,
			       const char *key)
{
	char *s = era_param_string(text, len, key);
	const json_t *v = json_object_get(params, key);

	if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
		FUZZ_CHECK(s && strcmp(s, json_string_value(v)) == 0, "%s: \"%s\", jansson \"%s\"",
			   key, s ? s : "(null)", json_string_value(v));
	else
		FUZZ_CHECK(!s, "%s: \"%s\" where jansson has no string", key, s);
	free(s);
}

static void check_choose(const json_t *list)
{
	char legacy[32] = "", shown[64];
	enum era_choice c = era_choose(list, legacy, sizeof(legacy), shown, sizeof(shown));
	bool modern = false, supported = false, listed = false;
	size_t i;
	json_t *v;

	FUZZ_CHECK(memchr(shown, '\0', sizeof(shown)), "shown not terminated");
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);

		if (!s)
			continue;
		if (strcmp(s, ERA_MODERN_VERSION) == 0)
			modern = true;
		else if (mcp_version_supported(s))
			supported = true;
		if (c == ERA_CHOOSE_LEGACY && strcmp(s, legacy) == 0)
			listed = true;
	}
	FUZZ_CHECK((c == ERA_CHOOSE_MODERN) == modern, "choice %d, modern listed %d", c, modern);
	if (!modern)
		FUZZ_CHECK((c == ERA_CHOOSE_LEGACY) == supported, "choice %d, legacy listed %d", c,
			   supported);
	if (c == ERA_CHOOSE_LEGACY)
		FUZZ_CHECK(listed && mcp_version_supported(legacy), "legacy %s", legacy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jbuf out;
	const char *version, *caps, *log_level;
	char err[256] = "", merr[256];
	char *text;
	size_t len;
	json_error_t jerr;
	json_t *params, *merged = NULL;
	bool odd, good;
	int rc;

	if (size < 1)
		return 0;
	version = versions[data[0] % 3];
	caps = caps_texts[(data[0] / 3) % 3];
	len = size - 1;
	/* A copy of its own, so that ASan sees a read past it. */
	text = len ? malloc(len) : NULL;
	if (len) {
		FUZZ_CHECK(text, "out of memory");
		memcpy(text, data + 1, len);
	}

	/* The first byte's top bit: a request that asked for events (a log level of the daemon's). */
	log_level = data[0] & 0x80 ? "info" : NULL;
	rc = era_params_with_meta_log(text, len, version, caps, log_level, &out, err, sizeof(err));
	params = len ? json_loadb(text, len, 0, &jerr) : json_object();
	odd = (len && memchr(text, '\0', len)) ||
	      (!params && (strncmp(jerr.text, "too big", 7) == 0 || strstr(jerr.text, "\\u0000")));
	/* Params the daemon must take: an object, its _meta an object, nested in bounds. */
	good = !odd && json_is_object(params) &&
	       (!json_object_get(params, "_meta") ||
		json_is_object(json_object_get(params, "_meta"))) &&
	       mpjson_check(params, WIRE_MAX_DEPTH - 2, merr, sizeof(merr)) == 0;

	if (rc < 0) {
		FUZZ_CHECK(strncmp(err, "params", 6) == 0, "refusal \"%s\"", err);
		FUZZ_CHECK(!good, "refused what jansson reads as an object: %s", err);
	} else if (!odd) {
		FUZZ_CHECK(params, "accepted what jansson refuses (%s)", jerr.text);
		merged = json_loadb(out.data, out.len, 0, &jerr);
		FUZZ_CHECK(merged, "the output is not JSON (%s): %.*s", jerr.text, (int)out.len,
			   out.data);
		check_merged(params, merged, version, caps, log_level);
	}
	if (good) {
		check_param_string(text, len, params, "name");
		check_param_string(text, len, params, "uri");
	}
	if (params && !odd)
		check_choose(json_is_array(params) ? params
						   : json_object_get(params, "supportedVersions"));
	jbuf_reset(&out, 1 << 16);
	json_decref(params);
	json_decref(merged);
	free(text);
	return 0;
}
