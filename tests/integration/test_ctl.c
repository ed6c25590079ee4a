/* Integration: every mcpctl command and option against the real daemon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(ctl, .init = it_subreaper, .timeout = 60);

#define TOKEN_CATALOG \
	FIXTURE_CATALOG(", \"tok\": {\"command\": \"@FIXTURE@\", \"env\": {\"TOKEN\": \"${auth.token}\"}}")

Test(ctl, request_sends_any_mcp_method)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("request", "alice", "demo", "ping"));
	cr_assert_eq(st, 0);
	cr_assert(json_is_object(it_data(r)));
	json_decref(r);
	r = itd_ctl_json(&d, &st, ARGS("request", "alice", "demo", "tools/call",
				       "{\"name\":\"echo\",\"arguments\":{\"message\":\"via request\"}}"));
	cr_assert_eq(st, 0);
	cr_assert_str_eq(it_text(r), "via request");
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

Test(ctl, request_refuses_lifecycle_methods)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("request", "alice", "demo", "initialize"));
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "BAD_REQUEST");
	json_decref(r);
	itd_stop(&d);
}

Test(ctl, request_of_an_unknown_method_is_upstream_error)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("request", "alice", "demo", "no/such/method"));
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_ERROR");
	json_t *data = json_object_get(json_object_get(r, "error"), "data");
	cr_assert_eq(json_integer_value(json_object_get(data, "code")), -32601);
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

Test(ctl, tools_lists_the_servers_tools)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("tools", "alice", "demo"));
	cr_assert_eq(st, 0);
	json_t *tools = json_object_get(it_data(r), "tools"), *t;
	size_t i;
	bool echo = false;
	json_array_foreach(tools, i, t)
		echo |= strcmp(json_string_value(json_object_get(t, "name")), "echo") == 0;
	cr_assert(echo, "echo is not in tools/list");
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

Test(ctl, auth_file_supplies_auth_values)
{
	struct itd d;
	int st;
	char path[400];
	itd_start(&d, TOKEN_CATALOG, NULL);
	snprintf(path, sizeof(path), "%s/alice.auth", d.dir);
	FILE *f = fopen(path, "w");
	fputs("# alice's secrets\ntoken=from-file\n", f);
	fclose(f);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "getenv", "{\"name\":\"TOKEN\"}",
					       "--auth-file", path));
	cr_assert_eq(st, 0);
	cr_assert_str_eq(it_text(r), "from-file");
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

Test(ctl, options_may_follow_the_command)
{
	struct itd d;
	int st;
	itd_start(&d, TOKEN_CATALOG, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "tok", "echo", "{\"message\":\"m\"}",
					       "-a", "token=x", "--pretty", "--timeout", "5000"));
	cr_assert_eq(st, 0);
	cr_assert_str_eq(it_text(r), "m");
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

/* Runs mcpctl and returns its exit status; its stdout is copied into out (cut to len). */
static int ctl_stdout(struct itd *d, char *out, size_t len, const char *const *args)
{
	char *o;
	int st = itd_ctl(d, &o, NULL, args);
	snprintf(out, len, "%s", o);
	free(o);
	return st;
}

Test(ctl, help_exits_0_and_bad_usage_exits_2_with_nothing_on_stdout)
{
	struct itd d;
	char out[16384];
	memset(&d, 0, sizeof(d));
	snprintf(d.sock, sizeof(d.sock), "/tmp/mcppool-it-unused.sock");
	const char *cmds[] = { "pool-status", "cleanup", "call", "request", "tools",
			       "servers", "evict", "warm", "metrics" };
	cr_assert_eq(ctl_stdout(&d, out, sizeof(out), ARGS("--help")), 0);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cr_assert_eq(ctl_stdout(&d, out, sizeof(out), ARGS(cmds[i], "--help")), 0, "%s --help",
			     cmds[i]);
		cr_assert(strstr(out, cmds[i]), "%s --help: %s", cmds[i], out);
	}
	cr_assert_eq(ctl_stdout(&d, out, sizeof(out), ARGS("frobnicate")), 2);
	cr_assert_eq(strlen(out), 0);
	cr_assert_eq(ctl_stdout(&d, out, sizeof(out), ARGS("call", "alice")), 2);
	cr_assert_eq(strlen(out), 0);
	cr_assert_eq(ctl_stdout(&d, out, sizeof(out), ARGS("call", "alice", "demo", "echo", "[1,2]")), 2,
		     "a JSON argument that is not an object is a usage error");
	cr_assert_eq(ctl_stdout(&d, out, sizeof(out), ARGS("call", "alice", "demo", "echo", "{", "-a", "x")),
		     2);
}

Test(ctl, a_daemon_error_exits_1_with_the_error_json)
{
	struct itd d;
	int st;
	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "missing", "echo"));
	cr_assert_eq(st, 1);
	cr_assert(json_is_false(json_object_get(r, "success")));
	cr_assert_str_eq(it_error_code(r), "UNKNOWN_MCP");
	cr_assert(json_is_string(json_object_get(json_object_get(r, "error"), "message")));
	json_decref(r);
	itd_stop(&d);
}
