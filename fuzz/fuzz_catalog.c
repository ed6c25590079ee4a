/*
 * Fuzzes the catalog parser (daemon/catalog.c: catalog_load_string), the input being
 * the catalog's JSON text (cut at its first NUL, as a C string is). Checked:
 * - a refusal says why, starting with the origin, and leaves the catalog empty;
 * - an accepted catalog has one entry per member of jansson's mcpServers object, sorted
 *   by name, each found by catalog_find; each name passes catalog_check_name; each
 *   entry has the fields of its transport only (a non-empty command, or an http(s) URL);
 *   env keys are variable names and header names HTTP tokens; auth_keys is sorted,
 *   unique, and exactly the NAMEs of the ${auth.NAME} references in args, env, url
 *   and headers;
 * - on the raw input as a template, catalog_next_ref finds each "${auth." in turn and
 *   reports a valid NAME, or refuses it with a reason.
 */
#include "fuzz.h"

#include <ctype.h>
#include <jansson.h>

#include "catalog.h"

#define ORIGIN "fuzz.json"

static bool name_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

/* Walks the references of s with catalog_next_ref, checking each; adds the NAMEs to names. */
static int walk_refs(const char *s, json_t *names)
{
	struct auth_ref ref;
	size_t pos = 0;
	char err[256];
	int r;

	while ((r = catalog_next_ref(s, pos, &ref, err, sizeof(err))) > 0) {
		const char *first = strstr(s + pos, "${auth.");

		FUZZ_CHECK(first && (size_t)(first - s) == ref.start, "reference at %zu, not the first",
			   ref.start);
		FUZZ_CHECK(ref.name == s + ref.start + 7 && ref.name_len >= 1 &&
				   ref.name_len <= CATALOG_AUTH_NAME_MAX &&
				   ref.end == ref.start + 7 + ref.name_len + 1 && s[ref.end - 1] == '}',
			   "reference [%zu, %zu) name length %zu", ref.start, ref.end, ref.name_len);
		for (size_t k = 0; k < ref.name_len; k++)
			FUZZ_CHECK(name_char((unsigned char)ref.name[k]) &&
					   catalog_auth_name_char((unsigned char)ref.name[k]),
				   "name byte 0x%02x", (unsigned char)ref.name[k]);
		if (names) {
			char *name = strndup(ref.name, ref.name_len);

			json_object_set_new(names, name, json_true());
			free(name);
		}
		pos = ref.end;
	}
	if (r < 0)
		FUZZ_CHECK(err[0] && strstr(s + pos, "${auth."), "refused without a reason");
	else
		FUZZ_CHECK(!strstr(s + pos, "${auth."), "a reference was missed");
	return r;
}

static void check_names(const char *s, size_t max)
{
	char err[256] = "";

	if (catalog_check_name(s, strlen(s), max, err, sizeof(err)) < 0) {
		FUZZ_CHECK(err[0], "refused without a reason");
		return;
	}
	FUZZ_CHECK(*s && strlen(s) <= max, "name of %zu bytes", strlen(s));
	for (; *s; s++)
		FUZZ_CHECK(*s != ':' && (unsigned char)*s >= 0x20 && *s != 0x7f, "name byte 0x%02x",
			   (unsigned char)*s);
}

static void check_entry(const struct catalog *cat, const struct catalog_entry *e)
{
	json_t *refs = json_object();
	size_t k;

	check_names(e->name, CATALOG_NAME_MAX);
	FUZZ_CHECK(catalog_find(cat, e->name) == e, "catalog_find misses %s", e->name);
	if (e->transport == TRANSPORT_STDIO) {
		FUZZ_CHECK(e->command && *e->command && !e->url && !e->nheaders, "stdio entry %s",
			   e->name);
		FUZZ_CHECK(!strstr(e->command, "${auth.") && (!e->cwd || !strstr(e->cwd, "${auth.")),
			   "a reference in command or cwd");
	} else {
		FUZZ_CHECK(e->transport == TRANSPORT_HTTP && e->url && !e->command && !e->nargs &&
				   !e->nenv && !e->cwd,
			   "http entry %s", e->name);
		FUZZ_CHECK(strncasecmp(e->url, "http://", 7) == 0 ||
				   strncasecmp(e->url, "https://", 8) == 0,
			   "url %s", e->url);
		walk_refs(e->url, refs);
	}
	for (k = 0; k < e->nargs; k++)
		FUZZ_CHECK(walk_refs(e->args[k], refs) == 0, "args[%zu]", k);
	for (k = 0; k < e->nenv; k++) {
		const char *key = e->env[k].key;

		FUZZ_CHECK(isalpha((unsigned char)*key) || *key == '_', "env name %s", key);
		for (; *key; key++)
			FUZZ_CHECK(isalnum((unsigned char)*key) || *key == '_', "env name byte");
		FUZZ_CHECK(walk_refs(e->env[k].value, refs) == 0, "env value");
	}
	for (k = 0; k < e->nheaders; k++) {
		const char *key = e->headers[k].key;

		FUZZ_CHECK(*key, "empty header name");
		for (; *key; key++)
			FUZZ_CHECK(isalnum((unsigned char)*key) || strchr("!#$%&'*+-.^_`|~", *key),
				   "header name byte 0x%02x", (unsigned char)*key);
		FUZZ_CHECK(walk_refs(e->headers[k].value, refs) == 0, "header value");
	}
	FUZZ_CHECK(e->nauth_keys == json_object_size(refs), "%zu auth keys for %zu names",
		   e->nauth_keys, json_object_size(refs));
	for (k = 0; k < e->nauth_keys; k++) {
		FUZZ_CHECK(json_object_get(refs, e->auth_keys[k]), "auth key %s is never referenced",
			   e->auth_keys[k]);
		if (k > 0)
			FUZZ_CHECK(strcmp(e->auth_keys[k - 1], e->auth_keys[k]) < 0,
				   "auth keys unsorted or repeated");
	}
	json_decref(refs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size);
	struct catalog cat;
	char err[1024] = "";
	json_t *root, *servers;

	walk_refs(text, NULL);
	check_names(text, CATALOG_USER_MAX);
	if (catalog_load_string(&cat, text, ORIGIN, err, sizeof(err)) < 0) {
		FUZZ_CHECK(strncmp(err, ORIGIN, strlen(ORIGIN)) == 0, "error \"%s\"", err);
		FUZZ_CHECK(!cat.entries && cat.n == 0, "a refused catalog is not empty");
		free(text);
		return 0;
	}
	root = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	servers = json_object_get(root, "mcpServers");
	FUZZ_CHECK(servers && json_object_size(servers) == cat.n, "%zu entries for %zu servers",
		   cat.n, json_object_size(servers));
	for (size_t i = 0; i < cat.n; i++) {
		FUZZ_CHECK(json_object_get(servers, cat.entries[i].name), "entry %s is not a server",
			   cat.entries[i].name);
		if (i > 0)
			FUZZ_CHECK(strcmp(cat.entries[i - 1].name, cat.entries[i].name) < 0,
				   "entries unsorted or repeated");
		check_entry(&cat, &cat.entries[i]);
	}
	FUZZ_CHECK(!catalog_find(&cat, "no:such:server"), "catalog_find found a bad name");
	json_decref(root);
	catalog_free(&cat);
	catalog_free(&cat);
	free(text);
	return 0;
}
