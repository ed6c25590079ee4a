/* The server catalog. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog.h"
#include "mpjson.h"
#include "readfile.h"

#define AUTH_PREFIX "${auth."
#define AUTH_PREFIX_LEN 7
#define WHERE_MAX 400

/* Where errors go, and the name of the text being read. */
struct ctx {
	const char *origin;
	char *err;
	size_t errlen;
};

static const char *const entry_keys[] = {
	"command", "args", "env", "cwd", "type", "url", "headers",
	"clientCapabilities", "disabled", "timeout", "protocol", NULL
};

/* Copies s into dst for a message, control characters and quotes escaped. */
static void escape_text(char *dst, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *s && n + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f) {
			dst[n++] = '\\';
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		} else {
			if (c == '"' || c == '\\')
				dst[n++] = '\\';
			dst[n++] = (char)c;
		}
	}
	dst[n] = '\0';
}

__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *c, const char *where, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (where)
		snprintf(c->err, c->errlen, "%s: %s: %s", c->origin, where, msg);
	else
		snprintf(c->err, c->errlen, "%s: %s", c->origin, msg);
	return -1;
}

int catalog_auth_name_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

/*
 * Characters that would let a name lie in a log line or a terminal: C1
 * controls (U+0080 to U+009F, some terminals act on them) and the bidirectional
 * overrides and isolates (U+202A to U+202E, U+2066 to U+2069), which reorder
 * the text shown around them. p is at a valid UTF-8 sequence of n bytes left.
 */
static const char *deceptive_char(const unsigned char *p, size_t n)
{
	if (n >= 2 && p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
		return "contains a C1 control character (U+0080 to U+009F)";
	if (n >= 3 && p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
				       (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)))
		return "contains a bidirectional override (U+202A to U+202E, U+2066 to U+2069)";
	return NULL;
}

int catalog_check_name(const char *name, size_t len, size_t max, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)name;

	if (len == 0) {
		snprintf(err, errlen, "empty");
		return -1;
	}
	if (len > max) {
		snprintf(err, errlen, "longer than %zu bytes", max);
		return -1;
	}
	if (!mpjson_utf8_valid(name, len)) {
		snprintf(err, errlen, "is not valid UTF-8");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		const char *why;

		if (p[i] == ':') {
			snprintf(err, errlen, "contains ':'");
			return -1;
		}
		if (p[i] < 0x20 || p[i] == 0x7f) {
			snprintf(err, errlen, "contains a control character");
			return -1;
		}
		if ((why = deceptive_char(p + i, len - i))) {
			snprintf(err, errlen, "%s", why);
			return -1;
		}
	}
	return 0;
}

int catalog_args_use_auth(const struct catalog_entry *e)
{
	for (size_t i = 0; i < e->nargs; i++)
		if (strstr(e->args[i], AUTH_PREFIX))
			return 1;
	return 0;
}

int catalog_next_ref(const char *s, size_t from, struct auth_ref *ref, char *err, size_t errlen)
{
	const char *p = strstr(s + from, AUTH_PREFIX);
	const char *name, *q;

	if (!p)
		return 0;
	name = q = p + AUTH_PREFIX_LEN;
	while (catalog_auth_name_char((unsigned char)*q))
		q++;
	if (*q == '\0') {
		snprintf(err, errlen, "unterminated \"${auth.\" (expected ${auth.NAME})");
		return -1;
	}
	if (*q != '}' || q == name || q - name > CATALOG_AUTH_NAME_MAX) {
		snprintf(err, errlen, "invalid ${auth.NAME} (NAME is 1 to %d of A-Z a-z 0-9 _ . -)",
			 CATALOG_AUTH_NAME_MAX);
		return -1;
	}
	ref->start = (size_t)(p - s);
	ref->end = (size_t)(q + 1 - s);
	ref->name = name;
	ref->name_len = (size_t)(q - name);
	return 1;
}

static int add_auth_key(struct catalog_entry *e, const char *name, size_t len)
{
	char **keys = realloc(e->auth_keys, (e->nauth_keys + 1) * sizeof(*keys));

	if (!keys)
		return -1;
	e->auth_keys = keys;
	keys[e->nauth_keys] = strndup(name, len);
	if (!keys[e->nauth_keys])
		return -1;
	e->nauth_keys++;
	return 0;
}

/* Validates the ${auth.NAME} references of s and records their NAMEs in e. */
static int collect_refs(struct ctx *c, const char *where, const char *s, struct catalog_entry *e)
{
	struct auth_ref ref;
	char why[160];
	size_t pos = 0;
	int r;

	while ((r = catalog_next_ref(s, pos, &ref, why, sizeof(why))) > 0) {
		if (add_auth_key(e, ref.name, ref.name_len) < 0)
			return fail(c, where, "out of memory");
		pos = ref.end;
	}
	return r < 0 ? fail(c, where, "%s", why) : 0;
}

/* ---- ${env.NAME}: the daemon's environment, substituted once, at load ---- */

/* Appends len bytes to the growing string *buf (size *n); -1 when out of memory. */
static int grow_append(char **buf, size_t *n, const char *s, size_t len)
{
	char *nb = realloc(*buf, *n + len + 1);

	if (!nb)
		return -1;
	memcpy(nb + *n, s, len);
	*n += len;
	nb[*n] = '\0';
	*buf = nb;
	return 0;
}

/*
 * The one place a template's "${" is read at load: ${auth.NAME} is left for
 * each call (catalog_next_ref), ${env.NAME} is replaced by the daemon's
 * variable NAME (unset: refused, so a typo cannot start servers with an empty
 * token), "$${" is a literal "${", and any other "${" is refused: a shell
 * habit (${HOME}) that would otherwise pass to the server unexpanded, in
 * silence. Replaces *s (malloc'd) when it changes. where names the place.
 */
static int expand_env(struct ctx *c, const char *where, char **s)
{
	const char *p = *s, *q;
	char *out = NULL, shown[80];
	size_t n = 0;

	if (!strchr(p, '$'))
		return 0;
	while ((q = strstr(p, "${"))) {
		bool escaped = q > *s && q[-1] == '$';
		const char *name = q + 6, *end = name;

		if (grow_append(&out, &n, p, (size_t)(q - p) - (escaped ? 1 : 0)) < 0)
			goto oom;
		if (escaped && strncmp(q + 2, "auth.", 5) == 0) {
			free(out);
			return fail(c, where, "\"$${auth.\" would still be read as ${auth.NAME} at "
				    "each call: a literal ${auth. cannot be written");
		}
		if (escaped || strncmp(q + 2, "auth.", 5) == 0) {
			if (grow_append(&out, &n, q, 2) < 0)
				goto oom;
			p = q + 2;
			continue;
		}
		if (strncmp(q + 2, "env.", 4) != 0) {
			q = q + 2;
			end = strchr(q, '}');
			escape_text(shown, sizeof(shown), q);
			if (end && end - q < 60)
				shown[end - q] = '\0';
			free(out);
			return fail(c, where, "\"${%s}\" is not substituted: write ${auth.NAME} for a "
				    "value of the caller's auth, ${env.NAME} for a variable of mcppoold's "
				    "environment, or $${ for a literal ${", shown);
		}
		while (isalnum((unsigned char)*end) || *end == '_')
			end++;
		if (*end != '}' || end == name || isdigit((unsigned char)*name)) {
			free(out);
			return fail(c, where, "invalid ${env.NAME} (NAME is a variable name: "
				    "[A-Za-z_][A-Za-z0-9_]*, then })");
		}
		char var[128];
		const char *value;
		snprintf(var, sizeof(var), "%.*s", (int)(end - name), name);
		if (!(value = getenv(var))) {
			free(out);
			return fail(c, where, "${env.%s}: %s is not set in mcppoold's environment "
				    "(set it, or use ${auth.NAME} for a per-user value)", var, var);
		}
		if (strstr(value, "${")) {
			free(out);
			return fail(c, where, "${env.%s}: its value holds \"${\", which would be read "
				    "as a template", var);
		}
		if (grow_append(&out, &n, value, strlen(value)) < 0)
			goto oom;
		p = end + 1;
	}
	if (!out)
		return 0;
	if (grow_append(&out, &n, p, strlen(p)) < 0)
		goto oom;
	free(*s);
	*s = out;
	return 0;
oom:
	free(out);
	return fail(c, where, "out of memory");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the recorded auth keys and drops repeats. */
static void unique_auth_keys(struct catalog_entry *e)
{
	size_t out = 0;

	if (e->nauth_keys == 0)
		return;
	qsort(e->auth_keys, e->nauth_keys, sizeof(*e->auth_keys), cmp_str);
	for (size_t i = 0; i < e->nauth_keys; i++) {
		if (out > 0 && strcmp(e->auth_keys[out - 1], e->auth_keys[i]) == 0)
			free(e->auth_keys[i]);
		else
			e->auth_keys[out++] = e->auth_keys[i];
	}
	e->nauth_keys = out;
}

static bool is_env_name(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (s++; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* An HTTP header field name: one or more RFC 9110 token characters. */
static bool is_header_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

static bool has_control(const char *s, bool allow_tab)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch < 0x20 && !(allow_tab && ch == '\t')) || ch == 0x7f)
			return true;
	}
	return false;
}

static int get_string(struct ctx *c, const char *where, json_t *v, char **out)
{
	if (!json_is_string(v))
		return fail(c, where, "must be a string");
	*out = strdup(json_string_value(v));
	return *out ? 0 : fail(c, where, "out of memory");
}

static int check_keys(struct ctx *c, const char *where, json_t *obj)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		bool known = false;
		char shown[160];

		for (int i = 0; entry_keys[i]; i++)
			known = known || strcmp(key, entry_keys[i]) == 0;
		if (known)
			continue;
		escape_text(shown, sizeof(shown), key);
		return fail(c, where, "unknown key \"%s\" (expected command, args, env, cwd, "
			    "type, url, headers, clientCapabilities, disabled, timeout, protocol)",
			    shown);
	}
	return 0;
}

/* Refuses keys that belong to the other transport. */
static int check_transport_keys(struct ctx *c, const char *where, json_t *obj,
				enum transport_kind t)
{
	static const char *const stdio_only[] = { "args", "env", "cwd", NULL };
	static const char *const http_only[] = { "headers", NULL };
	const char *const *wrong = t == TRANSPORT_STDIO ? http_only : stdio_only;

	for (int i = 0; wrong[i]; i++)
		if (json_object_get(obj, wrong[i]))
			return fail(c, where, "\"%s\" applies to %s entries only", wrong[i],
				    t == TRANSPORT_STDIO ? "url" : "command");
	return 0;
}

static int check_type(struct ctx *c, const char *where, json_t *type, enum transport_kind t,
		      bool *sse)
{
	const char *s;
	char shown[160];

	if (!type)
		return 0;
	if (!json_is_string(type))
		return fail(c, where, "\"type\" must be a string");
	s = json_string_value(type);
	if (t == TRANSPORT_STDIO && strcmp(s, "stdio") == 0)
		return 0;
	if (t == TRANSPORT_HTTP && (strcmp(s, "http") == 0 || strcmp(s, "streamable-http") == 0))
		return 0;
	if (t == TRANSPORT_HTTP && strcmp(s, "sse") == 0) {
		*sse = true;
		return 0;
	}
	escape_text(shown, sizeof(shown), s);
	if (t == TRANSPORT_STDIO)
		return fail(c, where, "type \"%s\" does not match \"command\" (expected stdio)", shown);
	return fail(c, where, "type \"%s\" does not match \"url\" (expected http, "
		    "streamable-http or sse)", shown);
}

static int parse_args(struct ctx *c, const char *where, json_t *arr, struct catalog_entry *e)
{
	char at[WHERE_MAX + 32];
	size_t i;
	json_t *v;

	if (!arr)
		return 0;
	snprintf(at, sizeof(at), "%s.args", where);
	if (!json_is_array(arr))
		return fail(c, at, "must be an array of strings");
	e->args = calloc(json_array_size(arr) + 1, sizeof(*e->args));
	if (!e->args)
		return fail(c, at, "out of memory");
	json_array_foreach(arr, i, v) {
		snprintf(at, sizeof(at), "%s.args[%zu]", where, i);
		if (get_string(c, at, v, &e->args[i]) < 0)
			return -1;
		e->nargs++;
		if (expand_env(c, at, &e->args[i]) < 0)
			return -1;
		if (collect_refs(c, at, e->args[i], e) < 0)
			return -1;
	}
	return 0;
}

enum map_kind { MAP_ENV, MAP_HEADERS };

/* Checks one key of "env" or "headers"; at names the place. */
static int check_map_pair(struct ctx *c, const char *at, enum map_kind kind, const char *key,
			  const char *value)
{
	if (kind == MAP_ENV && !is_env_name(key))
		return fail(c, at, "not a variable name (expected [A-Za-z_][A-Za-z0-9_]*)");
	if (kind == MAP_HEADERS && !is_header_name(key))
		return fail(c, at, "not an HTTP header name");
	if (kind == MAP_HEADERS && has_control(value, true))
		return fail(c, at, "control characters are not allowed in a header value");
	return 0;
}

/* Parses "env" or "headers": an object of string values, in file order. */
static int parse_map(struct ctx *c, const char *where, json_t *obj, enum map_kind kind,
		     struct kv **out, size_t *n, struct catalog_entry *e)
{
	const char *field = kind == MAP_ENV ? "env" : "headers";
	char at[WHERE_MAX + 200], shown[160];
	const char *key;
	json_t *v;

	if (!obj)
		return 0;
	snprintf(at, sizeof(at), "%s.%s", where, field);
	if (!json_is_object(obj))
		return fail(c, at, "must be an object of strings");
	*out = calloc(json_object_size(obj) + 1, sizeof(**out));
	if (!*out)
		return fail(c, at, "out of memory");
	json_object_foreach(obj, key, v) {
		struct kv *pair = &(*out)[*n];

		escape_text(shown, sizeof(shown), key);
		snprintf(at, sizeof(at), "%s.%s.%s", where, field, shown);
		if (get_string(c, at, v, &pair->value) < 0)
			return -1;
		pair->key = strdup(key);
		(*n)++;
		if (!pair->key)
			return fail(c, at, "out of memory");
		if (check_map_pair(c, at, kind, key, pair->value) < 0 ||
		    expand_env(c, at, &pair->value) < 0 || collect_refs(c, at, pair->value, e) < 0)
			return -1;
	}
	return 0;
}

/* Command and cwd are used as written: a template there would be a silent mistake. */
static int check_no_ref(struct ctx *c, const char *where, const char *field, const char *s)
{
	char at[WHERE_MAX + 32];

	if (!s || !strstr(s, AUTH_PREFIX))
		return 0;
	snprintf(at, sizeof(at), "%s.%s", where, field);
	return fail(c, at, "${auth.NAME} is substituted only in args, env, url and headers");
}

static int parse_stdio(struct ctx *c, const char *where, json_t *obj, struct catalog_entry *e)
{
	json_t *cwd = json_object_get(obj, "cwd");
	char at[WHERE_MAX + 32];

	snprintf(at, sizeof(at), "%s.command", where);
	if (get_string(c, at, json_object_get(obj, "command"), &e->command) < 0)
		return -1;
	if (!*e->command)
		return fail(c, at, "must not be empty");
	if (expand_env(c, at, &e->command) < 0)
		return -1;
	if (cwd) {
		snprintf(at, sizeof(at), "%s.cwd", where);
		if (get_string(c, at, cwd, &e->cwd) < 0)
			return -1;
		if (!*e->cwd)
			return fail(c, at, "must not be empty");
		if (expand_env(c, at, &e->cwd) < 0)
			return -1;
	}
	if (check_no_ref(c, where, "command", e->command) < 0 ||
	    check_no_ref(c, where, "cwd", e->cwd) < 0)
		return -1;
	if (parse_args(c, where, json_object_get(obj, "args"), e) < 0)
		return -1;
	return parse_map(c, where, json_object_get(obj, "env"), MAP_ENV, &e->env, &e->nenv, e);
}

static bool is_http_url(const char *s)
{
	size_t skip;

	if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	return s[skip] != '\0' && !has_control(s, false) && !strchr(s, ' ');
}

static int parse_http(struct ctx *c, const char *where, json_t *obj, struct catalog_entry *e)
{
	char at[WHERE_MAX + 32];

	snprintf(at, sizeof(at), "%s.url", where);
	if (get_string(c, at, json_object_get(obj, "url"), &e->url) < 0)
		return -1;
	if (expand_env(c, at, &e->url) < 0)
		return -1;
	if (!is_http_url(e->url))
		return fail(c, at, "expected an http:// or https:// URL");
	if (collect_refs(c, at, e->url, e) < 0)
		return -1;
	return parse_map(c, where, json_object_get(obj, "headers"), MAP_HEADERS, &e->headers,
			 &e->nheaders, e);
}

/* "clientCapabilities", "timeout" and "protocol": keys of either transport. */
static int parse_common(struct ctx *c, const char *where, json_t *obj, struct catalog_entry *e)
{
	static const char *const pins[] = { "auto", "modern", "legacy" };
	json_t *caps = json_object_get(obj, "clientCapabilities");
	json_t *timeout = json_object_get(obj, "timeout");
	json_t *protocol = json_object_get(obj, "protocol");

	if (caps && !json_is_object(caps))
		return fail(c, where, "\"clientCapabilities\" must be an object "
			    "(such as {\"elicitation\": {}})");
	e->client_caps = caps ? json_dumps(caps, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
	if (!e->client_caps)
		return fail(c, where, "out of memory");
	if (timeout) {
		if (!json_is_integer(timeout) || json_integer_value(timeout) < 1 ||
		    (uint64_t)json_integer_value(timeout) > CATALOG_TIMEOUT_MAX_MS)
			return fail(c, where, "\"timeout\" must be an integer number of milliseconds "
				    "from 1 to %llu", (unsigned long long)CATALOG_TIMEOUT_MAX_MS);
		e->timeout_ms = (uint64_t)json_integer_value(timeout);
	}
	if (protocol) {
		const char *p = json_is_string(protocol) ? json_string_value(protocol) : "";
		size_t i;

		for (i = 0; i < 3 && strcmp(p, pins[i]) != 0; i++)
			;
		if (i == 3)
			return fail(c, where, "\"protocol\" must be \"auto\", \"modern\" "
				    "(2026-07-28) or \"legacy\" (2025-11-25 and earlier)");
		e->protocol = (enum protocol_pin)i;
	}
	return 0;
}

/* 1 when the entry is "disabled": true, 0 when not, -1 when the key is not a boolean. */
static int entry_disabled(struct ctx *c, const char *name, json_t *obj)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, "disabled") : NULL;
	char where[WHERE_MAX], shown[300];

	if (!v || json_is_boolean(v))
		return v && json_is_true(v);
	escape_text(shown, sizeof(shown), name);
	snprintf(where, sizeof(where), "mcpServers.%s.disabled", shown);
	return fail(c, where, "must be true or false");
}

static int parse_entry(struct ctx *c, const char *name, json_t *obj, struct catalog_entry *e)
{
	char where[WHERE_MAX], shown[300], why[96];
	bool has_command, has_url;

	escape_text(shown, sizeof(shown), name);
	snprintf(where, sizeof(where), "mcpServers.%s", shown);
	if (catalog_check_name(name, strlen(name), CATALOG_NAME_MAX, why, sizeof(why)) < 0)
		return fail(c, where, "invalid server name: %s", why);
	e->name = strdup(name);
	if (!e->name)
		return fail(c, where, "out of memory");
	if (!json_is_object(obj))
		return fail(c, where, "must be an object");
	if (check_keys(c, where, obj) < 0)
		return -1;
	has_command = json_object_get(obj, "command") != NULL;
	has_url = json_object_get(obj, "url") != NULL;
	if (has_command == has_url)
		return fail(c, where, "needs exactly one of \"command\" (stdio) and \"url\" (http)");
	e->transport = has_command ? TRANSPORT_STDIO : TRANSPORT_HTTP;
	if (check_transport_keys(c, where, obj, e->transport) < 0 ||
	    check_type(c, where, json_object_get(obj, "type"), e->transport, &e->sse) < 0)
		return -1;
	if ((has_command ? parse_stdio : parse_http)(c, where, obj, e) < 0 ||
	    parse_common(c, where, obj, e) < 0)
		return -1;
	unique_auth_keys(e);
	e->source = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (!e->source)
		return fail(c, where, "out of memory");
	return 0;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_kvs(struct kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void entry_free(struct catalog_entry *e)
{
	free(e->name);
	free(e->command);
	free_strings(e->args, e->nargs);
	free_kvs(e->env, e->nenv);
	free(e->cwd);
	free(e->url);
	free_kvs(e->headers, e->nheaders);
	free_strings(e->auth_keys, e->nauth_keys);
	free(e->client_caps);
	if (e->source) /* literal values of env and headers may be secrets */
		explicit_bzero(e->source, strlen(e->source));
	free(e->source);
}

bool catalog_entry_same(const struct catalog_entry *a, const struct catalog_entry *b)
{
	return a->source && b->source && strcmp(a->source, b->source) == 0;
}

void catalog_free(struct catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < cat->n; i++)
		entry_free(&cat->entries[i]);
	free(cat->entries);
	cat->entries = NULL;
	cat->n = 0;
	for (size_t i = 0; i < cat->ndisabled; i++)
		free(cat->disabled[i]);
	free(cat->disabled);
	cat->disabled = NULL;
	cat->ndisabled = 0;
}

bool catalog_is_disabled(const struct catalog *cat, const char *name)
{
	for (size_t i = 0; i < cat->ndisabled; i++)
		if (strcmp(cat->disabled[i], name) == 0)
			return true;
	return false;
}

/* Remembers a disabled entry's name; -1 when out of memory. */
static int add_disabled(struct catalog *cat, const char *name)
{
	char **grown = realloc(cat->disabled, (cat->ndisabled + 1) * sizeof(*grown));

	if (!grown)
		return -1;
	cat->disabled = grown;
	if (!(grown[cat->ndisabled] = strdup(name)))
		return -1;
	cat->ndisabled++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct catalog_entry *)a)->name,
		      ((const struct catalog_entry *)b)->name);
}

static int build(struct ctx *c, json_t *root, struct catalog *cat)
{
	json_t *servers, *v;
	const char *name;

	if (!json_is_object(root))
		return fail(c, NULL, "top level must be a JSON object");
	servers = json_object_get(root, "mcpServers");
	if (!servers)
		return fail(c, NULL, "missing \"mcpServers\" object");
	if (!json_is_object(servers))
		return fail(c, "mcpServers", "must be an object");
	cat->entries = calloc(json_object_size(servers) + 1, sizeof(*cat->entries));
	if (!cat->entries)
		return fail(c, NULL, "out of memory");
	json_object_foreach(servers, name, v) {
		struct catalog_entry *e;
		int off = entry_disabled(c, name, v);

		if (off < 0)
			return -1;
		if (off && add_disabled(cat, name) < 0)
			return fail(c, NULL, "out of memory");
		if (off)
			continue;
		/* Counted before parsing so that catalog_free() sees a half-built entry. */
		e = &cat->entries[cat->n++];
		if (parse_entry(c, name, v, e) < 0)
			return -1;
	}
	qsort(cat->entries, cat->n, sizeof(*cat->entries), cmp_entry);
	return 0;
}

static int load_buffer(struct catalog *cat, const char *buf, size_t len, const char *origin,
		       char *err, size_t errlen)
{
	struct ctx c = { origin, err, errlen };
	json_error_t jerr;
	json_t *root;
	int r;

	cat->entries = NULL;
	cat->n = 0;
	cat->disabled = NULL;
	cat->ndisabled = 0;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "%s:%d:%d: %s", origin, jerr.line, jerr.column, jerr.text);
		return -1;
	}
	r = build(&c, root, cat);
	json_decref(root);
	if (r < 0)
		catalog_free(cat);
	return r;
}

int catalog_load_string(struct catalog *cat, const char *json, const char *origin,
			char *err, size_t errlen)
{
	return load_buffer(cat, json, strlen(json), origin, err, errlen);
}

int catalog_load_file(struct catalog *cat, const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *buf;
	int r;

	cat->entries = NULL;
	cat->n = 0;
	buf = readfile_bounded(path, CATALOG_MAX_BYTES, &len, err, errlen);
	if (!buf)
		return -1;
	r = load_buffer(cat, buf, len, path, err, errlen);
	free(buf);
	return r;
}

const struct catalog_entry *catalog_find(const struct catalog *cat, const char *name)
{
	struct catalog_entry key = { .name = (char *)name };

	if (!cat || cat->n == 0 || !name)
		return NULL;
	return bsearch(&key, cat->entries, cat->n, sizeof(key), cmp_entry);
}
