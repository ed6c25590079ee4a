/* Tests of daemon/catalog.c: the mcpServers format, its validation and lookups. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "catalog.h"

static struct catalog cat;
static char err[1024];

static void teardown(void)
{
	catalog_free(&cat);
}

TestSuite(catalog, .fini = teardown);

static int load(const char *json)
{
	catalog_free(&cat);
	err[0] = '\0';
	return catalog_load_string(&cat, json, "servers.json", err, sizeof(err));
}

/* Loads {"mcpServers": {"s": ENTRY}} and expects a refusal whose message contains want. */
static void expect_entry_refused(const char *entry, const char *want)
{
	char json[4096];

	snprintf(json, sizeof(json), "{\"mcpServers\": {\"s\": %s}}", entry);
	cr_assert_eq(load(json), -1, "accepted: %s", entry);
	cr_expect(strncmp(err, "servers.json: mcpServers.s", 26) == 0, "%s", err);
	cr_expect(strstr(err, want), "want \"%s\", got: %s", want, err);
	cr_expect_eq(cat.n, 0);
	cr_expect_null(cat.entries);
}

static const struct catalog_entry *load_one(const char *entry)
{
	char json[4096];

	snprintf(json, sizeof(json), "{\"mcpServers\": {\"s\": %s}}", entry);
	cr_assert_eq(load(json), 0, "%s", err);
	cr_assert_eq(cat.n, 1);
	return &cat.entries[0];
}

static const char design_example[] =
	"{\"mcpServers\": {\n"
	"  \"github-mcp\": {\"command\": \"npx\", \"args\": [\"-y\", \"@modelcontextprotocol/server-github\"],\n"
	"                 \"env\": {\"GITHUB_PERSONAL_ACCESS_TOKEN\": \"${auth.token}\"}},\n"
	"  \"remote\":     {\"url\": \"http://127.0.0.1:3001/mcp\",\n"
	"                 \"headers\": {\"Authorization\": \"Bearer ${auth.token}\"}}\n"
	"}}\n";

Test(catalog, design_example_stdio_entry_is_read)
{
	const struct catalog_entry *e;

	cr_assert_eq(load(design_example), 0, "%s", err);
	e = catalog_find(&cat, "github-mcp");
	cr_assert_not_null(e);
	cr_expect_eq(e->transport, TRANSPORT_STDIO);
	cr_expect_str_eq(e->command, "npx");
	cr_assert_eq(e->nargs, 2);
	cr_expect_str_eq(e->args[0], "-y");
	cr_expect_str_eq(e->args[1], "@modelcontextprotocol/server-github");
	cr_assert_eq(e->nenv, 1);
	cr_expect_str_eq(e->env[0].key, "GITHUB_PERSONAL_ACCESS_TOKEN");
	cr_expect_str_eq(e->env[0].value, "${auth.token}");
	cr_assert_eq(e->nauth_keys, 1);
	cr_expect_str_eq(e->auth_keys[0], "token");
	cr_expect_null(e->url);
	cr_expect_null(e->cwd);
}

Test(catalog, design_example_http_entry_is_read)
{
	const struct catalog_entry *e;

	cr_assert_eq(load(design_example), 0, "%s", err);
	e = catalog_find(&cat, "remote");
	cr_assert_not_null(e);
	cr_expect_eq(e->transport, TRANSPORT_HTTP);
	cr_expect_str_eq(e->url, "http://127.0.0.1:3001/mcp");
	cr_assert_eq(e->nheaders, 1);
	cr_expect_str_eq(e->headers[0].key, "Authorization");
	cr_expect_str_eq(e->headers[0].value, "Bearer ${auth.token}");
	cr_assert_eq(e->nauth_keys, 1);
	cr_expect_str_eq(e->auth_keys[0], "token");
	cr_expect_null(e->command);
}

Test(catalog, entries_are_sorted_by_name_and_found)
{
	cr_assert_eq(load("{\"mcpServers\": {\"zeta\": {\"command\": \"z\"}, \"alpha\": {\"command\": \"a\"},"
			  " \"mid\": {\"url\": \"https://m.example/mcp\"}}}"), 0, "%s", err);
	cr_assert_eq(cat.n, 3);
	cr_expect_str_eq(cat.entries[0].name, "alpha");
	cr_expect_str_eq(cat.entries[1].name, "mid");
	cr_expect_str_eq(cat.entries[2].name, "zeta");
	cr_expect_str_eq(catalog_find(&cat, "zeta")->command, "z");
	cr_expect_str_eq(catalog_find(&cat, "alpha")->command, "a");
	cr_expect_str_eq(catalog_find(&cat, "mid")->url, "https://m.example/mcp");
}

Test(catalog, unknown_name_is_not_found)
{
	cr_assert_eq(load(design_example), 0, "%s", err);
	cr_expect_null(catalog_find(&cat, "github"));
	cr_expect_null(catalog_find(&cat, "zzz"));
	cr_expect_null(catalog_find(&cat, ""));
}

Test(catalog, empty_mcp_servers_object_is_valid)
{
	cr_assert_eq(load("{\"mcpServers\": {}}"), 0, "%s", err);
	cr_expect_eq(cat.n, 0);
	cr_expect_null(catalog_find(&cat, "x"));
}

Test(catalog, other_top_level_keys_are_ignored)
{
	cr_assert_eq(load("{\"globalShortcut\": \"Ctrl+Q\", \"mcpServers\": {\"a\": {\"command\": \"a\"}}}"),
		     0, "%s", err);
	cr_expect_eq(cat.n, 1);
}

Test(catalog, json_syntax_error_names_file_line_and_column)
{
	cr_assert_eq(load("{\"mcpServers\": {\n  \"a\": {\"command\": \"x\",}\n}}"), -1);
	cr_expect(strncmp(err, "servers.json:2:", 15) == 0, "%s", err);
	cr_expect_eq(cat.n, 0);
}

Test(catalog, duplicate_server_names_are_refused)
{
	cr_assert_eq(load("{\"mcpServers\": {\"a\": {\"command\": \"x\"},\n\"a\": {\"command\": \"y\"}}}"), -1);
	cr_expect(strncmp(err, "servers.json:2:", 15) == 0, "%s", err);
	cr_expect(strstr(err, "duplicate"), "%s", err);
}

Test(catalog, top_level_must_be_an_object)
{
	cr_assert_eq(load("[1, 2]"), -1);
	cr_expect_str_eq(err, "servers.json: top level must be a JSON object");
}

Test(catalog, missing_mcp_servers_is_refused)
{
	cr_assert_eq(load("{\"servers\": {}}"), -1);
	cr_expect(strstr(err, "missing \"mcpServers\""), "%s", err);
}

Test(catalog, mcp_servers_must_be_an_object)
{
	cr_assert_eq(load("{\"mcpServers\": []}"), -1);
	cr_expect_str_eq(err, "servers.json: mcpServers: must be an object");
}

Test(catalog, entry_must_be_an_object)
{
	expect_entry_refused("\"npx\"", "must be an object");
}

Test(catalog, entry_needs_command_or_url)
{
	expect_entry_refused("{\"args\": []}", "exactly one of \"command\"");
}

Test(catalog, entry_with_both_command_and_url_is_refused)
{
	expect_entry_refused("{\"command\": \"x\", \"url\": \"http://h/\"}", "exactly one of \"command\"");
}

Test(catalog, empty_command_is_refused)
{
	expect_entry_refused("{\"command\": \"\"}", "mcpServers.s.command: must not be empty");
}

Test(catalog, non_string_command_is_refused)
{
	expect_entry_refused("{\"command\": [\"npx\"]}", "mcpServers.s.command: must be a string");
}

Test(catalog, url_must_be_http_or_https)
{
	expect_entry_refused("{\"url\": \"ftp://h/mcp\"}", "mcpServers.s.url: expected an http:// or https:// URL");
	expect_entry_refused("{\"url\": \"http://\"}", "mcpServers.s.url");
	expect_entry_refused("{\"url\": \"127.0.0.1:3001\"}", "mcpServers.s.url");
	expect_entry_refused("{\"url\": 3001}", "mcpServers.s.url: must be a string");
}

Test(catalog, https_url_is_accepted)
{
	const struct catalog_entry *e = load_one("{\"url\": \"https://mcp.example.com/mcp\"}");

	cr_expect_str_eq(e->url, "https://mcp.example.com/mcp");
	cr_expect_eq(e->transport, TRANSPORT_HTTP);
}

Test(catalog, args_must_be_an_array_of_strings)
{
	expect_entry_refused("{\"command\": \"x\", \"args\": \"-y\"}", "mcpServers.s.args: must be an array");
	expect_entry_refused("{\"command\": \"x\", \"args\": [\"-y\", 3]}", "mcpServers.s.args[1]: must be a string");
}

Test(catalog, env_must_be_an_object_of_strings)
{
	expect_entry_refused("{\"command\": \"x\", \"env\": [\"A=1\"]}", "mcpServers.s.env: must be an object");
	expect_entry_refused("{\"command\": \"x\", \"env\": {\"PORT\": 80}}", "mcpServers.s.env.PORT: must be a string");
}

Test(catalog, env_keys_must_be_variable_names)
{
	expect_entry_refused("{\"command\": \"x\", \"env\": {\"1A\": \"v\"}}", "mcpServers.s.env.1A: not a variable name");
	expect_entry_refused("{\"command\": \"x\", \"env\": {\"A-B\": \"v\"}}", "not a variable name");
	expect_entry_refused("{\"command\": \"x\", \"env\": {\"A=B\": \"v\"}}", "not a variable name");
	expect_entry_refused("{\"command\": \"x\", \"env\": {\"\": \"v\"}}", "not a variable name");
}

Test(catalog, headers_must_be_an_object_of_strings)
{
	expect_entry_refused("{\"url\": \"http://h/\", \"headers\": \"X: y\"}", "mcpServers.s.headers: must be an object");
	expect_entry_refused("{\"url\": \"http://h/\", \"headers\": {\"X-N\": 1}}", "mcpServers.s.headers.X-N: must be a string");
}

Test(catalog, header_names_must_be_tokens_and_values_single_lines)
{
	expect_entry_refused("{\"url\": \"http://h/\", \"headers\": {\"Bad Name\": \"v\"}}", "not an HTTP header name");
	expect_entry_refused("{\"url\": \"http://h/\", \"headers\": {\"X\": \"a\\r\\nInjected: 1\"}}",
			     "control characters");
}

Test(catalog, type_must_match_the_transport)
{
	expect_entry_refused("{\"command\": \"x\", \"type\": \"http\"}", "expected stdio");
	expect_entry_refused("{\"url\": \"http://h/\", \"type\": \"stdio\"}",
			     "expected http, streamable-http or sse");
	expect_entry_refused("{\"command\": \"x\", \"type\": \"sse\"}", "expected stdio");
	expect_entry_refused("{\"command\": \"x\", \"type\": 1}", "\"type\" must be a string");
}

Test(catalog, matching_types_are_accepted)
{
	cr_expect_eq(load_one("{\"command\": \"x\", \"type\": \"stdio\"}")->transport, TRANSPORT_STDIO);
	cr_expect_eq(load_one("{\"url\": \"http://h/\", \"type\": \"http\"}")->transport, TRANSPORT_HTTP);
	cr_expect_eq(load_one("{\"url\": \"http://h/\", \"type\": \"streamable-http\"}")->transport,
		     TRANSPORT_HTTP);
	cr_expect_not(load_one("{\"url\": \"http://h/\"}")->sse);
	cr_expect(load_one("{\"url\": \"http://h/\", \"type\": \"sse\"}")->sse);
	cr_expect_eq(cat.entries[0].transport, TRANSPORT_HTTP);
}

Test(catalog, client_capabilities_are_kept_as_compact_sorted_json)
{
	cr_expect_str_eq(load_one("{\"command\": \"x\"}")->client_caps, "{}");
	cr_expect_str_eq(load_one("{\"command\": \"x\", \"clientCapabilities\": "
				  "{\"sampling\": {}, \"elicitation\": {\"form\": {}}}}")->client_caps,
			 "{\"elicitation\":{\"form\":{}},\"sampling\":{}}");
	expect_entry_refused("{\"command\": \"x\", \"clientCapabilities\": [\"elicitation\"]}",
			     "\"clientCapabilities\" must be an object");
}

Test(catalog, timeout_is_an_entry_default_in_milliseconds)
{
	cr_expect_eq(load_one("{\"command\": \"x\"}")->timeout_ms, 0);
	cr_expect_eq(load_one("{\"url\": \"http://h/\", \"timeout\": 120000}")->timeout_ms, 120000);
	cr_expect_eq(load_one("{\"command\": \"x\", \"timeout\": 86400000}")->timeout_ms, 86400000);
	expect_entry_refused("{\"command\": \"x\", \"timeout\": 0}", "from 1 to 86400000");
	expect_entry_refused("{\"command\": \"x\", \"timeout\": 86400001}", "from 1 to 86400000");
	expect_entry_refused("{\"command\": \"x\", \"timeout\": \"60s\"}", "\"timeout\" must be an integer");
	expect_entry_refused("{\"command\": \"x\", \"timeout\": 1.5}", "\"timeout\" must be an integer");
}

Test(catalog, protocol_pins_the_era)
{
	cr_expect_eq(load_one("{\"command\": \"x\"}")->protocol, PROTOCOL_AUTO);
	cr_expect_eq(load_one("{\"command\": \"x\", \"protocol\": \"auto\"}")->protocol, PROTOCOL_AUTO);
	cr_expect_eq(load_one("{\"command\": \"x\", \"protocol\": \"modern\"}")->protocol, PROTOCOL_MODERN);
	cr_expect_eq(load_one("{\"url\": \"http://h/\", \"protocol\": \"legacy\"}")->protocol,
		     PROTOCOL_LEGACY);
	expect_entry_refused("{\"command\": \"x\", \"protocol\": \"2026-07-28\"}",
			     "\"protocol\" must be \"auto\", \"modern\"");
	expect_entry_refused("{\"command\": \"x\", \"protocol\": true}", "\"protocol\" must be");
}

Test(catalog, disabled_entries_are_left_out)
{
	cr_assert_eq(load("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"disabled\": true},"
			  " \"b\": {\"command\": \"y\", \"disabled\": false}, \"c\": {\"url\": \"http://h/\"}}}"),
		     0, "%s", err);
	cr_expect_eq(cat.n, 2);
	cr_expect_null(catalog_find(&cat, "a"));
	cr_expect_not_null(catalog_find(&cat, "b"));
	cr_expect_not_null(catalog_find(&cat, "c"));
	/* A disabled entry is not checked further, but the key itself must be a boolean. */
	cr_expect_eq(load("{\"mcpServers\": {\"a\": {\"disabled\": true, \"foo\": 1}}}"), 0, "%s", err);
	expect_entry_refused("{\"command\": \"x\", \"disabled\": \"yes\"}", "must be true or false");
}

Test(catalog, unknown_entry_key_is_refused_with_the_expected_list)
{
	cr_assert_eq(load("{\"mcpServers\": {\"github\": {\"command\": \"x\", \"foo\": 1}}}"), -1);
	cr_expect_str_eq(err, "servers.json: mcpServers.github: unknown key \"foo\" "
		"(expected command, args, env, cwd, type, url, headers, clientCapabilities, disabled, "
		"timeout, protocol)");
}

Test(catalog, stdio_keys_on_a_url_entry_are_refused)
{
	expect_entry_refused("{\"url\": \"http://h/\", \"args\": []}", "\"args\" applies to command entries only");
	expect_entry_refused("{\"url\": \"http://h/\", \"env\": {}}", "\"env\" applies to command entries only");
	expect_entry_refused("{\"url\": \"http://h/\", \"cwd\": \"/\"}", "\"cwd\" applies to command entries only");
}

Test(catalog, headers_on_a_command_entry_are_refused)
{
	expect_entry_refused("{\"command\": \"x\", \"headers\": {}}", "\"headers\" applies to url entries only");
}

Test(catalog, cwd_is_kept_and_must_be_a_non_empty_string)
{
	cr_expect_str_eq(load_one("{\"command\": \"x\", \"cwd\": \"/srv/mcp\"}")->cwd, "/srv/mcp");
	expect_entry_refused("{\"command\": \"x\", \"cwd\": \"\"}", "mcpServers.s.cwd: must not be empty");
	expect_entry_refused("{\"command\": \"x\", \"cwd\": 1}", "mcpServers.s.cwd: must be a string");
}

Test(catalog, name_with_colon_is_refused)
{
	cr_assert_eq(load("{\"mcpServers\": {\"a:b\": {\"command\": \"x\"}}}"), -1);
	cr_expect(strstr(err, "mcpServers.a:b: invalid server name: contains ':'"), "%s", err);
}

Test(catalog, name_with_control_character_is_refused_and_escaped)
{
	cr_assert_eq(load("{\"mcpServers\": {\"a\\u0001b\": {\"command\": \"x\"}}}"), -1);
	cr_expect(strstr(err, "a\\x01b"), "%s", err);
	cr_expect(strstr(err, "control character"), "%s", err);
}

Test(catalog, empty_name_is_refused)
{
	cr_assert_eq(load("{\"mcpServers\": {\"\": {\"command\": \"x\"}}}"), -1);
	cr_expect(strstr(err, "invalid server name: empty"), "%s", err);
}

Test(catalog, name_length_limit_is_128_bytes)
{
	char json[512], name[140];

	memset(name, 'n', 128);
	name[128] = '\0';
	snprintf(json, sizeof(json), "{\"mcpServers\": {\"%s\": {\"command\": \"x\"}}}", name);
	cr_expect_eq(load(json), 0, "%s", err);
	strcat(name, "n");
	snprintf(json, sizeof(json), "{\"mcpServers\": {\"%s\": {\"command\": \"x\"}}}", name);
	cr_expect_eq(load(json), -1);
	cr_expect(strstr(err, "longer than 128 bytes"), "%s", err);
}

Test(catalog, auth_keys_are_collected_sorted_and_unique_from_every_place)
{
	const struct catalog_entry *e = load_one(
		"{\"command\": \"x\", \"args\": [\"--user=${auth.user}\", \"${auth.b}${auth.a}\"],"
		" \"env\": {\"A\": \"${auth.b}\", \"C\": \"pre-${auth.c.d-e_f}-post\"}}");

	cr_assert_eq(e->nauth_keys, 4);
	cr_expect_str_eq(e->auth_keys[0], "a");
	cr_expect_str_eq(e->auth_keys[1], "b");
	cr_expect_str_eq(e->auth_keys[2], "c.d-e_f");
	cr_expect_str_eq(e->auth_keys[3], "user");
}

Test(catalog, auth_keys_of_url_and_headers_are_collected)
{
	const struct catalog_entry *e = load_one(
		"{\"url\": \"https://h/mcp?tenant=${auth.tenant}\","
		" \"headers\": {\"Authorization\": \"Bearer ${auth.token}\"}}");

	cr_assert_eq(e->nauth_keys, 2);
	cr_expect_str_eq(e->auth_keys[0], "tenant");
	cr_expect_str_eq(e->auth_keys[1], "token");
}

Test(catalog, a_dollar_brace_that_is_neither_auth_nor_env_is_refused_with_a_hint)
{
	cr_expect_eq(load("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"args\": [\"${HOME}\"]}}}"), -1);
	cr_expect(strstr(err, "mcpServers.a.args[0]"), "%s", err);
	cr_expect(strstr(err, "\"${HOME}\" is not substituted"), "%s", err);
	cr_expect(strstr(err, "${env.NAME}"), "the hint names the explicit form: %s", err);
	cr_expect_eq(load("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": {\"T\": \"${authx}\"}}}}"), -1);
	cr_expect(strstr(err, "mcpServers.a.env.T"), "%s", err);
}

Test(catalog, dollar_dollar_brace_is_a_literal_and_a_lone_dollar_is_text)
{
	const struct catalog_entry *e = load_one(
		"{\"command\": \"x\", \"args\": [\"$${HOME}\", \"$\", \"a$b\"]}");

	cr_expect_eq(e->nauth_keys, 0);
	cr_expect_str_eq(e->args[0], "${HOME}");
	cr_expect_str_eq(e->args[1], "$");
	cr_expect_str_eq(e->args[2], "a$b");
}

Test(catalog, env_references_take_the_daemons_variable_at_load)
{
	setenv("MCPPOOL_TEST_CAT_TOKEN", "s3cret", 1);
	const struct catalog_entry *e = load_one(
		"{\"command\": \"${env.MCPPOOL_TEST_CAT_TOKEN}/bin\", \"args\": [\"--t=${env.MCPPOOL_TEST_CAT_TOKEN}\"],"
		" \"env\": {\"T\": \"x${env.MCPPOOL_TEST_CAT_TOKEN}y${auth.k}\"}}");

	cr_expect_str_eq(e->command, "s3cret/bin");
	cr_expect_str_eq(e->args[0], "--t=s3cret");
	cr_expect_str_eq(e->env[0].value, "xs3crety${auth.k}");
	cr_expect_eq(e->nauth_keys, 1);
	unsetenv("MCPPOOL_TEST_CAT_TOKEN");
}

Test(catalog, an_env_reference_to_an_unset_variable_is_refused_naming_it)
{
	unsetenv("MCPPOOL_TEST_CAT_UNSET");
	cr_expect_eq(load("{\"mcpServers\": {\"h\": {\"url\": \"http://h/\", \"headers\": "
			  "{\"A\": \"Bearer ${env.MCPPOOL_TEST_CAT_UNSET}\"}}}}"), -1);
	cr_expect(strstr(err, "mcpServers.h.headers.A"), "%s", err);
	cr_expect(strstr(err, "MCPPOOL_TEST_CAT_UNSET is not set"), "%s", err);
}

Test(catalog, unterminated_auth_reference_is_refused)
{
	expect_entry_refused("{\"command\": \"x\", \"args\": [\"${auth.token\"]}",
			     "mcpServers.s.args[0]: unterminated");
}

Test(catalog, empty_auth_name_is_refused)
{
	expect_entry_refused("{\"command\": \"x\", \"env\": {\"T\": \"${auth.}\"}}",
			     "mcpServers.s.env.T: invalid ${auth.NAME}");
}

Test(catalog, auth_name_with_invalid_character_is_refused)
{
	expect_entry_refused("{\"url\": \"http://h/\", \"headers\": {\"X\": \"${auth.a b}\"}}",
			     "mcpServers.s.headers.X: invalid ${auth.NAME}");
	expect_entry_refused("{\"url\": \"http://h/${auth.a/b}\"}", "mcpServers.s.url: invalid ${auth.NAME}");
}

Test(catalog, auth_name_length_limit_is_64)
{
	char entry[256], name[70];

	memset(name, 'k', 64);
	name[64] = '\0';
	snprintf(entry, sizeof(entry), "{\"command\": \"x\", \"args\": [\"${auth.%s}\"]}", name);
	cr_expect_str_eq(load_one(entry)->auth_keys[0], name);
	strcat(name, "k");
	snprintf(entry, sizeof(entry), "{\"command\": \"x\", \"args\": [\"${auth.%s}\"]}", name);
	expect_entry_refused(entry, "invalid ${auth.NAME}");
}

Test(catalog, auth_reference_in_command_or_cwd_is_refused)
{
	expect_entry_refused("{\"command\": \"${auth.bin}\"}", "mcpServers.s.command: ${auth.NAME} is substituted only");
	expect_entry_refused("{\"command\": \"x\", \"cwd\": \"/home/${auth.u}\"}", "mcpServers.s.cwd");
}

Test(catalog, next_ref_reports_offsets_and_name)
{
	const char *s = "a${x}${auth.k1}b${auth.k2}";
	struct auth_ref ref;

	cr_assert_eq(catalog_next_ref(s, 0, &ref, err, sizeof(err)), 1);
	cr_expect_eq(ref.start, 5);
	cr_expect_eq(ref.end, 15);
	cr_expect_eq(ref.name_len, 2);
	cr_expect(strncmp(ref.name, "k1", 2) == 0);
	cr_assert_eq(catalog_next_ref(s, ref.end, &ref, err, sizeof(err)), 1);
	cr_expect_eq(ref.start, 16);
	cr_expect(strncmp(ref.name, "k2", 2) == 0);
	cr_expect_eq(catalog_next_ref(s, ref.end, &ref, err, sizeof(err)), 0);
}

Test(catalog, check_name_accepts_ordinary_names)
{
	cr_expect_eq(catalog_check_name("github-mcp", 10, CATALOG_NAME_MAX, err, sizeof(err)), 0);
	cr_expect_eq(catalog_check_name("user@example.com", 16, CATALOG_USER_MAX, err, sizeof(err)), 0);
	cr_expect_eq(catalog_check_name("名前", strlen("名前"), CATALOG_NAME_MAX, err, sizeof(err)), 0);
}

Test(catalog, check_name_refuses_empty_colon_control_and_long)
{
	char longname[300];

	cr_expect_eq(catalog_check_name("", 0, CATALOG_NAME_MAX, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "empty");
	cr_expect_eq(catalog_check_name("u:1", 3, CATALOG_USER_MAX, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "contains ':'");
	cr_expect_eq(catalog_check_name("u\n1", 3, CATALOG_USER_MAX, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "contains a control character");
	cr_expect_eq(catalog_check_name("u\x7f", 2, CATALOG_USER_MAX, err, sizeof(err)), -1);
	cr_expect_eq(catalog_check_name("a\0b", 3, CATALOG_USER_MAX, err, sizeof(err)), -1);
	memset(longname, 'u', 257);
	cr_expect_eq(catalog_check_name(longname, 256, CATALOG_USER_MAX, err, sizeof(err)), 0);
	cr_expect_eq(catalog_check_name(longname, 257, CATALOG_USER_MAX, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "longer than 256 bytes");
}

static int check_user(const char *id)
{
	err[0] = '\0';
	return catalog_check_name(id, strlen(id), CATALOG_USER_MAX, err, sizeof(err));
}

Test(catalog, check_name_refuses_what_is_not_valid_utf8)
{
	static const char *const bad[] = {
		"\xff",                 /* never in UTF-8 */
		"ab\xc3",               /* cut short */
		"\x80" "abc",           /* a continuation byte first */
		"\xc0\xaf",             /* overlong "/", two bytes */
		"\xc1\xbf",             /* overlong U+007F */
		"\xe0\x80\xaf",         /* overlong "/", three bytes */
		"\xe0\x9f\xbf",         /* overlong U+07FF */
		"\xf0\x80\x80\xaf",     /* overlong "/", four bytes */
		"\xf0\x8f\xbf\xbf",     /* overlong U+FFFF */
		"\xed\xa0\x80",         /* U+D800, a high surrogate */
		"\xed\xbf\xbf",         /* U+DFFF, a low surrogate */
		"\xed\xa0\xbd\xed\xb8\x80", /* a surrogate pair encoded as such (CESU-8) */
		"\xf4\x90\x80\x80",     /* above U+10FFFF */
		"\xf8\x88\x80\x80\x80", /* a five-byte form */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(check_user(bad[i]), -1, "bad[%zu] accepted", i);
		cr_expect_str_eq(err, "is not valid UTF-8", "bad[%zu]: %s", i, err);
	}
}

Test(catalog, check_name_accepts_the_edges_of_valid_utf8)
{
	cr_expect_eq(check_user("\xc2\xa0"), 0, "%s", err);         /* U+00A0, just past C1 */
	cr_expect_eq(check_user("\xed\x9f\xbf"), 0, "%s", err);     /* U+D7FF */
	cr_expect_eq(check_user("\xee\x80\x80"), 0, "%s", err);     /* U+E000 */
	cr_expect_eq(check_user("\xf0\x9f\x98\x80"), 0, "%s", err); /* U+1F600 */
	cr_expect_eq(check_user("\xf4\x8f\xbf\xbf"), 0, "%s", err); /* U+10FFFF */
	cr_expect_eq(check_user("\xe2\x80\xa9"), 0, "%s", err);     /* U+2029, before the overrides */
	cr_expect_eq(check_user("\xe2\x80\xaf"), 0, "%s", err);     /* U+202F, after them */
	cr_expect_eq(check_user("\xe2\x81\xa5"), 0, "%s", err);     /* U+2065, before the isolates */
	cr_expect_eq(check_user("\xe2\x81\xaa"), 0, "%s", err);     /* U+206A, after them */
}

Test(catalog, check_name_refuses_c1_controls)
{
	cr_expect_eq(check_user("a\xc2\x80"), -1);
	cr_expect_str_eq(err, "contains a C1 control character (U+0080 to U+009F)");
	cr_expect_eq(check_user("\xc2\x85" "alice"), -1); /* NEL: a line break to some */
	cr_expect_eq(check_user("\xc2\x9b" "2J"), -1);    /* CSI: a terminal escape */
	cr_expect_eq(check_user("\xc2\x9f"), -1);
}

Test(catalog, check_name_refuses_bidi_overrides_and_isolates)
{
	static const char *const bad[] = {
		"\xe2\x80\xaa" "a", "\xe2\x80\xab" "a", "\xe2\x80\xac" "a", "\xe2\x80\xad" "a",
		"user\xe2\x80\xae" "nimda", "\xe2\x81\xa6" "a", "\xe2\x81\xa7" "a",
		"\xe2\x81\xa8" "a", "a\xe2\x81\xa9",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(check_user(bad[i]), -1, "bad[%zu] accepted", i);
		cr_expect(strstr(err, "bidirectional override"), "bad[%zu]: %s", i, err);
	}
}

Test(catalog, server_names_follow_the_same_rules)
{
	cr_expect_eq(load("{\"mcpServers\": {\"a\\u202eb\": {\"command\": \"x\"}}}"), -1);
	cr_expect(strstr(err, "bidirectional override"), "%s", err);
	cr_expect_eq(load("{\"mcpServers\": {\"a\\u0085\": {\"command\": \"x\"}}}"), -1);
	cr_expect(strstr(err, "C1 control"), "%s", err);
}

Test(catalog, args_use_auth_tells_args_from_env_references)
{
	cr_assert_eq(load("{\"mcpServers\": {"
			  "\"a\": {\"command\": \"x\", \"args\": [\"--t\", \"k=${auth.token}\"]},"
			  "\"e\": {\"command\": \"x\", \"args\": [\"$${HOME}\"], "
			  "\"env\": {\"T\": \"${auth.token}\"}},"
			  "\"h\": {\"url\": \"http://h/\", \"headers\": {\"A\": \"${auth.token}\"}}}}"),
		     0, "%s", err);
	cr_expect_eq(catalog_args_use_auth(catalog_find(&cat, "a")), 1);
	cr_expect_eq(catalog_args_use_auth(catalog_find(&cat, "e")), 0);
	cr_expect_eq(catalog_args_use_auth(catalog_find(&cat, "h")), 0);
}

/* Writes text into a fresh temp dir; returns the file's path (static storage). */
static const char *temp_file(const char *text)
{
	static char dir[64], path[PATH_MAX];
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/mcppool-catalog-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/servers.json", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void remove_temp_file(const char *path)
{
	char dir[PATH_MAX];

	unlink(path);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
}

Test(catalog, file_is_loaded)
{
	const char *path = temp_file(design_example);

	cr_expect_eq(catalog_load_file(&cat, path, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cat.n, 2);
	remove_temp_file(path);
}

Test(catalog, errors_in_a_file_name_the_file)
{
	const char *path = temp_file("{\"mcpServers\": {\"a\": {\"command\": \"\"}}}");
	char want[PATH_MAX + 64];

	cr_expect_eq(catalog_load_file(&cat, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: mcpServers.a.command: must not be empty", path);
	cr_expect_str_eq(err, want);
	remove_temp_file(path);
}

Test(catalog, syntax_errors_in_a_file_name_the_file_line_and_column)
{
	const char *path = temp_file("{\n\"mcpServers\": {\n}\n,}");
	char want[PATH_MAX + 64];

	cr_expect_eq(catalog_load_file(&cat, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4:", path);
	cr_expect(strncmp(err, want, strlen(want)) == 0, "%s", err);
	remove_temp_file(path);
}

Test(catalog, missing_file_is_an_error_naming_it)
{
	cr_expect_eq(catalog_load_file(&cat, "/nonexistent/servers.json", err, sizeof(err)), -1);
	cr_expect_str_eq(err, "/nonexistent/servers.json: No such file or directory");
}

Test(catalog, free_is_null_safe_and_idempotent)
{
	catalog_free(NULL);
	cr_assert_eq(load(design_example), 0, "%s", err);
	catalog_free(&cat);
	catalog_free(&cat);
	cr_expect_eq(cat.n, 0);
	cr_expect_null(cat.entries);
}

/* ---- what a reload compares ------------------------------------------------- */

Test(catalog, entries_are_the_same_server_whatever_their_key_order_and_spacing)
{
	struct catalog a = { 0 }, b = { 0 };

	cr_assert_eq(catalog_load_string(&a, "{\"mcpServers\": {\"x\": {\"command\": \"c\", "
				      "\"args\": [\"1\"], \"env\": {\"K\": \"v\"}}, "
				      "\"y\": {\"url\": \"http://h/mcp\"}}}", "a", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(catalog_load_string(&b, "{\"mcpServers\": {\"x\": {\"env\": {\"K\": \"v\"},"
				      "\"args\":[\"1\"],\"command\":\"c\"}, "
				      "\"y\": {\"url\": \"http://h/mcp\", \"timeout\": 5000}}}", "b", err,
				      sizeof(err)), 0, "%s", err);
	cr_assert(catalog_entry_same(catalog_find(&a, "x"), catalog_find(&b, "x")));
	cr_assert(!catalog_entry_same(catalog_find(&a, "y"), catalog_find(&b, "y")),
		  "a new key (timeout) is a change");
	catalog_free(&a);
	catalog_free(&b);
}
