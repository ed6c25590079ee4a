/* Tests of the MCP eras: the modern _meta in forwarded params, names, and version choice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "era.h"

#define OURS                                                                            \
	"\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","                     \
	"\"io.modelcontextprotocol/clientInfo\":{\"name\":\"mcppool\",\"version\":\"0.1.0\"}," \
	"\"io.modelcontextprotocol/clientCapabilities\":"

/* params with the modern _meta (caps {}); asserts success; the text, in a static buffer. */
static const char *with_meta(const char *params)
{
	static struct jbuf out;
	char err[256] = "";
	int rc = era_params_with_meta(params, params ? strlen(params) : 0, "2026-07-28", "{}", &out,
				      err, sizeof(err));

	cr_assert_eq(rc, 0, "%s: %s", params ? params : "(none)", err);
	return out.data;
}

Test(era_meta, no_params_get_a_meta_with_the_daemons_keys_alone)
{
	cr_assert_str_eq(with_meta(NULL), "{\"_meta\":{" OURS "{}}}");
	cr_assert_str_eq(with_meta(" { } "), "{\"_meta\":{" OURS "{}}}");
}

Test(era_meta, other_members_are_copied_byte_for_byte)
{
	cr_assert_str_eq(with_meta("{\"name\":\"echo\", \"arguments\":{\"x\":1.50,\"big\":123456789012345678901234}}"),
			 "{\"name\":\"echo\",\"arguments\":{\"x\":1.50,\"big\":123456789012345678901234},"
			 "\"_meta\":{" OURS "{}}}");
}

Test(era_meta, the_apps_meta_keys_stay_and_the_daemons_replace_the_apps)
{
	cr_assert_str_eq(with_meta("{\"_meta\":{\"progressToken\":4,\"io.modelcontextprotocol/protocolVersion\":"
				   "\"1999-01-01\",\"com.example/trace\":\"t\","
				   "\"io.modelcontextprotocol/logLevel\":\"info\"},\"requestState\":\"s\"}"),
			 "{\"requestState\":\"s\",\"_meta\":{\"progressToken\":4,\"com.example/trace\":\"t\","
			 OURS "{}}}");
}

Test(era_meta, the_log_level_is_the_daemons_and_comes_last)
{
	static const char params[] = "{\"_meta\":{\"io.modelcontextprotocol/logLevel\":\"debug\"}}";
	struct jbuf out;
	char err[128];

	jbuf_init(&out);
	cr_assert_eq(era_params_with_meta_log(params, strlen(params), "2026-07-28", "{}", "warning",
					      &out, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(out.data, "{\"_meta\":{" OURS "{},\"io.modelcontextprotocol/logLevel\":"
				   "\"warning\"}}");
	jbuf_free(&out);
}

Test(era_meta, log_levels_are_the_eight_of_rfc_5424)
{
	cr_assert_str_eq(era_log_level("notice", 6), "notice");
	cr_assert_str_eq(era_log_level("emergency", 9), "emergency");
	cr_assert_null(era_log_level("warn", 4));
	cr_assert_null(era_log_level("INFO", 4));
	cr_assert_null(era_log_level("", 0));
}

/* Found by fuzz/fuzz_era.c: an escaped name is the same name to the server's parser. */
Test(era_meta, escaped_names_are_the_names_they_decode_to)
{
	cr_assert_str_eq(with_meta("{\"\\u005fmeta\":{\"x\":1,\"io.modelcontextprotocol\\/clientInfo\":2},\"a\\n\":3}"),
			 "{\"a\\n\":3,\"_meta\":{\"x\":1," OURS "{}}}");
	const char *p = "{\"n\\u0061me\":\"echo\"}";
	char *s = era_param_string(p, strlen(p), "name");
	cr_assert_str_eq(s, "echo");
	free(s);
}

Test(era_meta, the_capabilities_are_the_ones_given)
{
	struct jbuf out;
	char err[128];

	jbuf_init(&out);
	cr_assert_eq(era_params_with_meta(NULL, 0, "2026-07-28", "{\"roots\":{}}", &out, err,
					  sizeof(err)), 0);
	cr_assert(strstr(out.data, "\"io.modelcontextprotocol/clientCapabilities\":{\"roots\":{}}}}"));
	jbuf_free(&out);
}

Test(era_meta, params_that_are_not_an_object_or_a_bad_meta_are_refused_with_a_reason)
{
	static const char *bad[] = { "[1]", "3", "{\"_meta\":[]}", "{\"a\":", "{} x", "{\"a\" 1}" };
	struct jbuf out;
	char err[256];

	jbuf_init(&out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(era_params_with_meta(bad[i], strlen(bad[i]), "2026-07-28", "{}", &out, err,
						  sizeof(err)), -1, "%s was accepted", bad[i]);
		cr_assert(err[0], "no reason for %s", bad[i]);
	}
	jbuf_free(&out);
}

Test(era_names, the_name_header_comes_from_name_or_uri)
{
	char *s;

	cr_assert_str_eq(era_name_key("tools/call"), "name");
	cr_assert_str_eq(era_name_key("prompts/get"), "name");
	cr_assert_str_eq(era_name_key("resources/read"), "uri");
	cr_assert_null(era_name_key("tools/list"));
	cr_assert_str_eq(era_name_key("tasks/get"), "taskId"); /* the tasks extension asks it */
	cr_assert_str_eq(era_name_key("tasks/update"), "taskId");
	cr_assert_str_eq(era_name_key("tasks/cancel"), "taskId");
	cr_assert_null(era_name_key("tasks/list"));
	const char *p = "{\"arguments\":{\"name\":\"no\"},\"name\":\"caf\\u00e9\"}";

	s = era_param_string(p, strlen(p), "name");
	cr_assert_str_eq(s, "caf\xc3\xa9");
	free(s);
	cr_assert_null(era_param_string("{\"name\":3}", 10, "name"));
	cr_assert_null(era_param_string("[]", 2, "name"));
}

Test(era_choose, modern_when_listed_else_the_newest_legacy_in_common)
{
	char legacy[32] = "", shown[128];
	json_t *l = json_loads("[\"2025-06-18\",\"2026-07-28\"]", 0, NULL);

	cr_assert_eq(era_choose(l, legacy, sizeof(legacy), shown, sizeof(shown)), ERA_CHOOSE_MODERN);
	json_decref(l);
	l = json_loads("[\"2027-01-01\",\"2024-11-05\",\"2025-11-25\"]", 0, NULL);
	cr_assert_eq(era_choose(l, legacy, sizeof(legacy), shown, sizeof(shown)), ERA_CHOOSE_LEGACY);
	cr_assert_str_eq(legacy, "2025-11-25");
	json_decref(l);
	l = json_loads("[\"2027-01-01\"]", 0, NULL);
	cr_assert_eq(era_choose(l, legacy, sizeof(legacy), shown, sizeof(shown)), ERA_CHOOSE_NONE);
	cr_assert_str_eq(shown, "[\"2027-01-01\"]");
	json_decref(l);
	cr_assert_eq(era_choose(NULL, legacy, sizeof(legacy), NULL, 0), ERA_CHOOSE_NONE);
}

Test(era_methods, only_repeatable_methods_are_idempotent)
{
	cr_assert(era_method_idempotent("tools/list"));
	cr_assert(era_method_idempotent("resources/read"));
	cr_assert_not(era_method_idempotent("tools/call"));
	cr_assert(era_method_idempotent("tasks/get"));
	cr_assert_not(era_method_idempotent("tasks/update"));
	cr_assert(era_error_is_modern(-32022));
	cr_assert_not(era_error_is_modern(-32601));
}
