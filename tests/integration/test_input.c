/*
 * Integration: input_required results and their retry, with the fixture's
 * need_input tool (a 2026-07-28-style multi round-trip tool), through mcpctl
 * and libmcppool against the real daemon.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "mcppool.h"

TestSuite(input, .init = it_subreaper, .timeout = 60);

static json_t *structured(json_t *reply)
{
	return json_object_get(it_data(reply), "structuredContent");
}

Test(input, without_elicit_the_input_required_result_is_printed_as_the_data)
{
	struct itd d;
	int st;

	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "demo", "need_input"));
	cr_assert_eq(st, 0);
	cr_assert_str_eq(json_string_value(json_object_get(it_data(r), "resultType")),
			 "input_required");
	cr_assert_str_eq(json_string_value(json_object_get(it_data(r), "requestState")),
			 "need_input/round=1");
	json_decref(r);
	itd_stop(&d);
}

Test(input, request_elicit_defaults_answers_every_round_until_the_tool_completes)
{
	struct itd d;
	int st;

	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("request", "alice", "demo", "tools/call",
					       "{\"name\":\"need_input\",\"arguments\":"
					       "{\"rounds\":3,\"kinds\":\"form,roots\"}}",
					       "--elicit", "defaults"));
	cr_assert_eq(st, 0, "%s", json_dumps(r, 0));
	json_t *answers = json_object_get(structured(r), "inputResponses");
	json_t *content = json_object_get(json_object_get(answers, "form"), "content");
	cr_assert_eq(json_integer_value(json_object_get(structured(r), "rounds")), 3);
	cr_assert_str_eq(json_string_value(json_object_get(content, "name")), "octocat");
	cr_assert_eq(json_integer_value(json_object_get(content, "age")), 42);
	cr_assert(json_is_true(json_object_get(content, "subscribe")));
	cr_assert_null(json_object_get(content, "nickname"), "no default, no answer");
	cr_assert_eq(json_array_size(json_object_get(json_object_get(answers, "roots"), "roots")),
		     0);
	json_decref(r);
	itd_stop(&d);
}

Test(input, request_elicit_cancel_of_a_sampling_request_is_input_required_exit_1)
{
	struct itd d;
	int st;

	itd_start(&d, NULL, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("request", "alice", "demo", "tools/call",
					       "{\"name\":\"need_input\",\"arguments\":"
					       "{\"kinds\":\"sampling\"}}", "--elicit", "cancel"));
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "INPUT_REQUIRED");
	json_decref(r);
	itd_stop(&d);
}

/*
 * The daemon forwards call's inputResponses and requestState to the server
 * (wire protocol: call takes both next to tool and arguments); a daemon that
 * predates this answers the retry with input_required again.
 */
Test(input, call_retry_with_input_responses_and_request_state_completes)
{
	mcppool_call_opts o = { .input_responses_json = "{\"form\":{\"action\":\"decline\"}}",
				.request_state = "need_input/round=1" };
	mcppool_result *res;
	mcppool_error err;
	struct itd d;

	itd_start(&d, NULL, NULL);
	mcppool_conn *c = mcppool_connect(d.sock, &err);
	cr_assert_not_null(c, "%s", err.message);
	cr_assert_eq(mcppool_call_with(c, "alice", "demo", "need_input", NULL, NULL, &res, &err), 0,
		     "%s", err.message);
	cr_assert(mcppool_input_required(mcppool_result_value(res)));
	mcppool_result_free(res);
	cr_assert_eq(mcppool_call_with(c, "alice", "demo", "need_input", NULL, &o, &res, &err), 0,
		     "%s", err.message);
	cr_assert_not(mcppool_input_required(mcppool_result_value(res)),
		      "the retry's inputResponses and requestState did not reach the server");
	char *json = mcppool_result_json(res, 0);
	cr_assert(strstr(json, "\"inputResponses\":{\"form\":{\"action\":\"decline\"}}"), "%s",
		  json);
	free(json);
	mcppool_result_free(res);
	mcppool_close(c);
	itd_stop(&d);
}
