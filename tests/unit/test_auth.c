/* Tests of daemon/auth.c: auth maps, hashes, ${auth.NAME} substitution and spawn specs. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <msgpack.h>
#include <sodium.h>

#include "auth.h"
#include "catalog.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#define MAX_UNPACKED 8

/* Unpacked strings point into their buffers: both live until the end of the test. */
static msgpack_unpacked unpacked[MAX_UNPACKED];
static msgpack_sbuffer buffers[MAX_UNPACKED];
static int nunpacked;
static struct auth auth;
static struct catalog cat;
static struct spawn_spec spec;
static char err[512];
static const unsigned char key1[AUTH_HASH_KEY_BYTES] = "0123456789abcdef0123456789abcde";
static const unsigned char key2[AUTH_HASH_KEY_BYTES] = "0123456789abcdef0123456789abcdX";

static void setup(void)
{
	cr_assert_geq(sodium_init(), 0);
	unsetenv("SECRET_X");
	unsetenv("MCPPOOL_TEST_PASS");
}

static void teardown(void)
{
	auth_wipe(&auth);
	spawn_spec_wipe(&spec);
	catalog_free(&cat);
	for (int i = 0; i < nunpacked; i++) {
		msgpack_unpacked_destroy(&unpacked[i]);
		msgpack_sbuffer_destroy(&buffers[i]);
	}
	nunpacked = 0;
}

TestSuite(auth, .init = setup, .fini = teardown);

/* Unpacks sbuf (taking it over) into an object that lives until the end of the test. */
static const msgpack_object *unpack(msgpack_sbuffer *sbuf)
{
	msgpack_unpacked *u;

	cr_assert_lt(nunpacked, MAX_UNPACKED);
	u = &unpacked[nunpacked++];
	msgpack_unpacked_init(u);
	buffers[nunpacked - 1] = *sbuf;
	cr_assert_eq(msgpack_unpack_next(u, sbuf->data, sbuf->size, NULL), MSGPACK_UNPACK_SUCCESS);
	return &u->data;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

/* A msgpack map of n str -> str pairs, given as alternating keys and values, in that order. */
static const msgpack_object *map_of(size_t n, const char *const *pairs)
{
	msgpack_sbuffer sbuf;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	for (size_t i = 0; i < 2 * n; i++)
		pack_str(&pk, pairs[i], strlen(pairs[i]));
	return unpack(&sbuf);
}

#define MAP(...) map_of(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *) / 2, \
			(const char *const[]){ __VA_ARGS__ })

static void auth_of(struct auth *a, const msgpack_object *map)
{
	cr_assert_eq(auth_from_msgpack(a, map, err, sizeof(err)), 0, "%s", err);
}

static void hash_of(const msgpack_object *map, const unsigned char *key, unsigned char out[32])
{
	struct auth a;

	auth_of(&a, map);
	auth_hash(&a, key, out);
	auth_wipe(&a);
}

static void expect_no_leaks(void)
{
#ifdef __SANITIZE_ADDRESS__
	cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "LeakSanitizer found leaks");
#endif
}

static const struct catalog_entry *entry(const char *json_entry)
{
	char json[2048];

	snprintf(json, sizeof(json), "{\"mcpServers\": {\"github-mcp\": %s}}", json_entry);
	catalog_free(&cat);
	cr_assert_eq(catalog_load_string(&cat, json, "test", err, sizeof(err)), 0, "%s", err);
	return &cat.entries[0];
}

/* ---- auth_from_msgpack ---- */

Test(auth, map_is_sorted_by_key)
{
	auth_of(&auth, MAP("token", "t", "a.b", "1", "User-Id", "u"));
	cr_assert_eq(auth.n, 3);
	cr_expect_str_eq(auth.kv[0].key, "User-Id");
	cr_expect_str_eq(auth.kv[1].key, "a.b");
	cr_expect_str_eq(auth.kv[2].key, "token");
	cr_expect_str_eq(auth.kv[2].value, "t");
}

Test(auth, null_and_nil_mean_an_empty_map)
{
	msgpack_object nil = { .type = MSGPACK_OBJECT_NIL };

	auth_of(&auth, NULL);
	cr_expect_eq(auth.n, 0);
	auth_of(&auth, &nil);
	cr_expect_eq(auth.n, 0);
	auth_of(&auth, map_of(0, NULL));
	cr_expect_eq(auth.n, 0);
}

/* True when the bytes of s occur in the most recent buffer given to unpack(). */
static bool last_buffer_holds(const char *s)
{
	const msgpack_sbuffer *b = &buffers[nunpacked - 1];

	return memmem(b->data, b->size, s, strlen(s)) != NULL;
}

Test(auth, values_are_wiped_from_the_received_frame_once_copied)
{
	const msgpack_object *map = MAP("token", "s3cr3t-token", "user", "s3cr3t-user");

	cr_assert(last_buffer_holds("s3cr3t-token"));
	auth_of(&auth, map);
	cr_expect_str_eq(auth_get(&auth, "token", 5), "s3cr3t-token");
	cr_expect_str_eq(auth_get(&auth, "user", 4), "s3cr3t-user");
	cr_expect_not(last_buffer_holds("s3cr3t"), "an auth value stayed in the frame");
	cr_expect(last_buffer_holds("token"), "keys are not secrets and stay");
}

Test(auth, values_are_wiped_from_the_received_frame_when_the_map_is_refused)
{
	cr_expect_eq(auth_from_msgpack(&auth, MAP("k", "s3cr3t-one", "bad key", "s3cr3t-two"), err,
				       sizeof(err)), -1);
	cr_expect_not(last_buffer_holds("s3cr3t"), "an auth value stayed in the frame");
}

Test(auth, non_map_is_refused)
{
	msgpack_object s = { .type = MSGPACK_OBJECT_STR, .via.str = { 5, "token" } };

	cr_expect_eq(auth_from_msgpack(&auth, &s, err, sizeof(err)), -1);
	cr_expect(strstr(err, "map"), "%s", err);
}

Test(auth, non_string_key_is_refused)
{
	msgpack_sbuffer sbuf;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_int(&pk, 7);
	pack_str(&pk, "v", 1);
	cr_expect_eq(auth_from_msgpack(&auth, unpack(&sbuf), err, sizeof(err)), -1);
	cr_expect(strstr(err, "auth key #1 is invalid"), "%s", err);
	cr_expect_eq(auth.n, 0);
}

Test(auth, non_string_value_is_refused_naming_the_key)
{
	msgpack_sbuffer sbuf;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	pack_str(&pk, "ok", 2);
	pack_str(&pk, "v", 1);
	pack_str(&pk, "token", 5);
	msgpack_pack_bin(&pk, 3);
	msgpack_pack_bin_body(&pk, "abc", 3);
	cr_expect_eq(auth_from_msgpack(&auth, unpack(&sbuf), err, sizeof(err)), -1);
	cr_expect_str_eq(err, "auth value of \"token\" is not a string");
	cr_expect_eq(auth.n, 0);
	cr_expect_null(auth.kv);
}

Test(auth, duplicate_keys_are_refused_without_values)
{
	cr_expect_eq(auth_from_msgpack(&auth, MAP("k", "s3cr3t-one", "j", "x", "k", "s3cr3t-two"),
				       err, sizeof(err)), -1);
	cr_expect_str_eq(err, "duplicate auth key \"k\"");
	cr_expect_eq(auth.n, 0);
}

Test(auth, invalid_keys_are_refused_and_not_echoed)
{
	static const char *const bad[] = {
		"", "a b", "tok/en", "s3cr3t\n",
		"k123456789012345678901234567890123456789012345678901234567890123456",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(auth_from_msgpack(&auth, MAP("good", "v", bad[i], "v"), err, sizeof(err)),
			     -1, "accepted \"%s\"", bad[i]);
		cr_expect(strstr(err, "auth key #2 is invalid"), "%s", err);
		cr_expect_null(strstr(err, "s3cr3t"), "%s", err);
	}
}

Test(auth, key_of_64_characters_is_accepted)
{
	const char *k = "k123456789012345678901234567890123456789012345678901234567890123";

	cr_assert_eq(strlen(k), 64);
	auth_of(&auth, MAP(k, "v"));
	cr_expect_eq(auth.n, 1);
}

Test(auth, value_over_65536_bytes_is_refused)
{
	char *big = malloc(AUTH_VALUE_MAX + 2);

	memset(big, 'v', AUTH_VALUE_MAX + 1);
	big[AUTH_VALUE_MAX] = '\0';
	auth_of(&auth, MAP("k", big));
	cr_expect_eq(strlen(auth.kv[0].value), AUTH_VALUE_MAX);
	auth_wipe(&auth);
	big[AUTH_VALUE_MAX] = 'v';
	big[AUTH_VALUE_MAX + 1] = '\0';
	cr_expect_eq(auth_from_msgpack(&auth, MAP("k", big), err, sizeof(err)), -1);
	cr_expect_str_eq(err, "auth value of \"k\" is longer than 65536 bytes");
	free(big);
}

Test(auth, value_with_nul_byte_is_refused)
{
	msgpack_sbuffer sbuf;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	pack_str(&pk, "k", 1);
	pack_str(&pk, "a\0b", 3);
	cr_expect_eq(auth_from_msgpack(&auth, unpack(&sbuf), err, sizeof(err)), -1);
	cr_expect_str_eq(err, "auth value of \"k\" contains a NUL byte");
}

Test(auth, wipe_empties_the_map_and_frees_everything)
{
	auth_of(&auth, MAP("token", "s3cr3t", "user", "alice"));
	auth_wipe(&auth);
	cr_expect_eq(auth.n, 0);
	cr_expect_null(auth.kv);
	auth_wipe(&auth);
	auth_wipe(NULL);
	expect_no_leaks();
}

Test(auth, refused_map_leaves_nothing_allocated)
{
	cr_expect_eq(auth_from_msgpack(&auth, MAP("a", "1", "b", "2", "a", "3"), err, sizeof(err)), -1);
	expect_no_leaks();
}

/* ---- auth_check ---- */

Test(auth, check_accepts_exactly_the_referenced_keys)
{
	const struct catalog_entry *e = entry("{\"command\": \"x\", \"args\": [\"${auth.b}\"],"
					      " \"env\": {\"T\": \"${auth.a}\"}}");

	auth_of(&auth, MAP("a", "1", "b", "2"));
	cr_expect_eq(auth_check(&auth, e, err, sizeof(err)), 0, "%s", err);
}

Test(auth, check_accepts_no_auth_for_an_entry_without_references)
{
	const struct catalog_entry *e = entry("{\"command\": \"x\"}");

	auth_of(&auth, NULL);
	cr_expect_eq(auth_check(&auth, e, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(auth_check(NULL, e, err, sizeof(err)), 0, "%s", err);
}

Test(auth, check_names_a_missing_key)
{
	const struct catalog_entry *e = entry("{\"command\": \"x\", \"env\": {\"T\": \"${auth.token}\"}}");

	auth_of(&auth, NULL);
	cr_expect_eq(auth_check(&auth, e, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "auth key \"token\" is required by github-mcp");
}

Test(auth, check_names_an_unused_key_without_its_value)
{
	const struct catalog_entry *e = entry("{\"command\": \"x\", \"env\": {\"T\": \"${auth.token}\"}}");

	auth_of(&auth, MAP("token", "t", "x", "s3cr3t"));
	cr_expect_eq(auth_check(&auth, e, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "auth key \"x\" is not used by github-mcp");
}

Test(auth, check_reports_a_missing_key_before_an_unused_one)
{
	const struct catalog_entry *e = entry("{\"command\": \"x\", \"env\": {\"T\": \"${auth.token}\"}}");

	auth_of(&auth, MAP("tokn", "s3cr3t"));
	cr_expect_eq(auth_check(&auth, e, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "auth key \"token\" is required by github-mcp");
}

/* ---- auth_hash ---- */

Test(auth, hash_does_not_depend_on_the_order_of_the_map)
{
	unsigned char h1[32], h2[32];

	hash_of(MAP("token", "abc", "user", "alice", "org", "acme"), key1, h1);
	hash_of(MAP("org", "acme", "token", "abc", "user", "alice"), key1, h2);
	cr_expect_eq(memcmp(h1, h2, 32), 0);
}

Test(auth, hash_changes_with_a_value)
{
	unsigned char h1[32], h2[32];

	hash_of(MAP("token", "abc"), key1, h1);
	hash_of(MAP("token", "abd"), key1, h2);
	cr_expect_neq(memcmp(h1, h2, 32), 0);
}

Test(auth, hash_separates_key_and_value_boundaries)
{
	unsigned char h1[32], h2[32], h3[32], h4[32];

	hash_of(MAP("a", "bc"), key1, h1);
	hash_of(MAP("ab", "c"), key1, h2);
	hash_of(MAP("a", "b", "c", ""), key1, h3);
	hash_of(MAP("a", "bc", "c", ""), key1, h4);
	cr_expect_neq(memcmp(h1, h2, 32), 0);
	cr_expect_neq(memcmp(h1, h3, 32), 0);
	cr_expect_neq(memcmp(h1, h4, 32), 0);
	cr_expect_neq(memcmp(h3, h4, 32), 0);
}

Test(auth, hash_changes_with_the_daemon_key)
{
	unsigned char h1[32], h2[32];

	hash_of(MAP("token", "abc"), key1, h1);
	hash_of(MAP("token", "abc"), key2, h2);
	cr_expect_neq(memcmp(h1, h2, 32), 0);
}

Test(auth, hash_of_empty_map_differs_from_a_map_with_an_empty_pair)
{
	unsigned char h1[32], h2[32];

	hash_of(NULL, key1, h1);
	hash_of(MAP("k", ""), key1, h2);
	cr_expect_neq(memcmp(h1, h2, 32), 0);
}

Test(auth, hash_is_keyed_blake2b_over_the_documented_encoding)
{
	static const unsigned char enc[] = {
		0, 0, 0, 2,
		0, 0, 0, 1, 'a', 0, 0, 0, 2, 'b', 'c',
		0, 0, 0, 3, 'x', 'y', 'z', 0, 0, 0, 0,
	};
	unsigned char want[32], got[32];

	crypto_generichash(want, sizeof(want), enc, sizeof(enc), key1, AUTH_HASH_KEY_BYTES);
	hash_of(MAP("xyz", "", "a", "bc"), key1, got);
	cr_expect_eq(memcmp(want, got, 32), 0);
}

/* ---- auth_expand ---- */

Test(auth, expand_replaces_every_reference)
{
	char *s;

	auth_of(&auth, MAP("user", "alice", "token", "t0k", "org", "acme"));
	s = auth_expand("https://${auth.org}.example/${auth.user}?t=${auth.token}${auth.token}&x=${HOME}",
			&auth, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	cr_expect_str_eq(s, "https://acme.example/alice?t=t0kt0k&x=${HOME}");
	free(s);
}

Test(auth, expand_without_references_copies_the_template)
{
	char *s = auth_expand("plain $text {}", &auth, err, sizeof(err));

	cr_assert_not_null(s, "%s", err);
	cr_expect_str_eq(s, "plain $text {}");
	free(s);
}

Test(auth, expand_with_an_empty_value_leaves_nothing)
{
	char *s;

	auth_of(&auth, MAP("e", ""));
	s = auth_expand("[${auth.e}]", &auth, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	cr_expect_str_eq(s, "[]");
	free(s);
}

Test(auth, expand_names_a_missing_key)
{
	auth_of(&auth, MAP("user", "alice"));
	cr_expect_null(auth_expand("${auth.user}:${auth.token}", &auth, err, sizeof(err)));
	cr_expect_str_eq(err, "auth key \"token\" is missing");
}

Test(auth, expand_refuses_a_malformed_template)
{
	auth_of(&auth, MAP("user", "alice"));
	cr_expect_null(auth_expand("${auth.user", &auth, err, sizeof(err)));
	cr_expect(strstr(err, "unterminated"), "%s", err);
}

/* ---- auth_build_spawn ---- */

static const char *env_get(char **envp, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; envp[i]; i++)
		if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
			return envp[i] + len + 1;
	return NULL;
}

static bool name_in(const char *entry, const char *const *names)
{
	size_t len = strcspn(entry, "=");

	for (size_t i = 0; names[i]; i++)
		if (strlen(names[i]) == len && strncmp(entry, names[i], len) == 0)
			return true;
	return false;
}

static const char github[] =
	"{\"command\": \"npx\", \"args\": [\"-y\", \"server-github\", \"--org=${auth.org}\"],"
	" \"env\": {\"GITHUB_PERSONAL_ACCESS_TOKEN\": \"${auth.token}\", \"MODE\": \"ro\"},"
	" \"cwd\": \"/srv\"}";

static void build(const struct catalog_entry *e, const char *child_env)
{
	cr_assert_eq(auth_build_spawn(e, &auth, child_env, &spec, err, sizeof(err)), 0, "%s", err);
}

Test(auth, spawn_argv_is_command_and_expanded_args)
{
	auth_of(&auth, MAP("token", "ghp_x", "org", "acme"));
	build(entry(github), NULL);
	cr_expect_str_eq(spec.argv[0], "npx");
	cr_expect_str_eq(spec.argv[1], "-y");
	cr_expect_str_eq(spec.argv[2], "server-github");
	cr_expect_str_eq(spec.argv[3], "--org=acme");
	cr_expect_null(spec.argv[4]);
	cr_expect_str_eq(spec.cwd, "/srv");
}

Test(auth, spawn_env_holds_the_entrys_expanded_env)
{
	auth_of(&auth, MAP("token", "ghp_x", "org", "acme"));
	build(entry(github), NULL);
	cr_expect_str_eq(env_get(spec.envp, "GITHUB_PERSONAL_ACCESS_TOKEN"), "ghp_x");
	cr_expect_str_eq(env_get(spec.envp, "MODE"), "ro");
}

Test(auth, spawn_env_has_nothing_of_the_daemon_but_the_base_list)
{
	static const char *const allowed[] = {
		AUTH_BASE_ENV, "GITHUB_PERSONAL_ACCESS_TOKEN", "MODE", NULL
	};

	setenv("SECRET_X", "daemon-secret", 1);
	setenv("HOME", "/home/pool", 1);
	setenv("LANG", "C.UTF-8", 1);
	auth_of(&auth, MAP("token", "ghp_x", "org", "acme"));
	build(entry(github), NULL);
	cr_expect_null(env_get(spec.envp, "SECRET_X"));
	for (size_t i = 0; spec.envp[i]; i++) {
		cr_expect(name_in(spec.envp[i], allowed), "unexpected %s", spec.envp[i]);
		cr_expect_null(strstr(spec.envp[i], "daemon-secret"));
	}
	cr_expect_str_eq(env_get(spec.envp, "HOME"), "/home/pool");
	cr_expect_str_eq(env_get(spec.envp, "LANG"), "C.UTF-8");
}

Test(auth, spawn_env_base_variables_unset_in_the_daemon_are_absent)
{
	unsetenv("TZ");
	unsetenv("LC_ALL");
	build(entry("{\"command\": \"x\"}"), NULL);
	cr_expect_null(env_get(spec.envp, "TZ"));
	cr_expect_null(env_get(spec.envp, "LC_ALL"));
}

Test(auth, spawn_env_path_defaults_when_the_daemon_has_none)
{
	unsetenv("PATH");
	build(entry("{\"command\": \"x\"}"), NULL);
	cr_expect_str_eq(env_get(spec.envp, "PATH"), AUTH_DEFAULT_PATH);
}

Test(auth, entry_env_overrides_a_base_variable)
{
	size_t paths = 0;

	setenv("PATH", "/daemon/bin", 1);
	build(entry("{\"command\": \"x\", \"env\": {\"PATH\": \"/opt/node/bin\"}}"), NULL);
	cr_expect_str_eq(env_get(spec.envp, "PATH"), "/opt/node/bin");
	for (size_t i = 0; spec.envp[i]; i++)
		paths += strncmp(spec.envp[i], "PATH=", 5) == 0;
	cr_expect_eq(paths, 1);
}

Test(auth, child_env_names_are_passed_through_when_set)
{
	setenv("MCPPOOL_TEST_PASS", "proxy:3128", 1);
	setenv("SECRET_X", "daemon-secret", 1);
	build(entry("{\"command\": \"x\"}"), "MCPPOOL_TEST_PASS,MCPPOOL_TEST_UNSET");
	cr_expect_str_eq(env_get(spec.envp, "MCPPOOL_TEST_PASS"), "proxy:3128");
	cr_expect_null(env_get(spec.envp, "MCPPOOL_TEST_UNSET"));
	cr_expect_null(env_get(spec.envp, "SECRET_X"));
}

Test(auth, spawn_with_a_missing_auth_key_fails_and_leaves_nothing)
{
	auth_of(&auth, MAP("org", "acme"));
	cr_expect_eq(auth_build_spawn(entry(github), &auth, NULL, &spec, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "auth key \"token\" is missing");
	cr_expect_null(spec.argv);
	cr_expect_null(spec.envp);
	cr_expect_null(spec.cwd);
	expect_no_leaks();
}

Test(auth, spawn_of_an_http_entry_is_refused)
{
	cr_expect_eq(auth_build_spawn(entry("{\"url\": \"http://h/\"}"), &auth, NULL, &spec, err,
				      sizeof(err)), -1);
	cr_expect(strstr(err, "not a stdio server"), "%s", err);
}

Test(auth, spawn_spec_wipe_frees_everything_and_is_null_safe)
{
	auth_of(&auth, MAP("token", "ghp_x", "org", "acme"));
	build(entry(github), "HOME");
	spawn_spec_wipe(&spec);
	cr_expect_null(spec.argv);
	cr_expect_null(spec.envp);
	cr_expect_null(spec.cwd);
	spawn_spec_wipe(&spec);
	spawn_spec_wipe(NULL);
	expect_no_leaks();
}
