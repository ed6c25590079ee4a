/*
 * Integration: a legacy server's elicitation, sampling and roots requests reach
 * the app as input_required results, and the app's retry completes the call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"
#include "mpjson.h"
#include "wire.h"

/* demo declares every capability; bare declares none. */
#define CATALOG \
	"{\"mcpServers\": {" \
	"\"demo\": {\"command\": \"@FIXTURE@\", \"clientCapabilities\": " \
	"{\"elicitation\": {}, \"sampling\": {}, \"roots\": {}}}," \
	"\"authed\": {\"command\": \"@FIXTURE@\", \"env\": {\"TOKEN\": \"${auth.token}\"}, " \
	"\"clientCapabilities\": {\"elicitation\": {}}}," \
	"\"bare\": {\"command\": \"@FIXTURE@\"}}}"

static struct itd d;
static msgpack_zone zone;
static uint64_t next_id = 100;

static void setup(void)
{
	it_subreaper();
	itd_start(&d, CATALOG, NULL);
	msgpack_zone_init(&zone, 4096);
}

static void teardown(void)
{
	msgpack_zone_destroy(&zone);
	itd_stop(&d);
	it_assert_no_children();
}

TestSuite(inputreq, .init = setup, .fini = teardown, .timeout = 30);

/* An app connection (wire v1). */
static int app(void)
{
	struct wire_msg m;
	int fd = it_raw_connect(&d);

	it_raw_hello(fd, 1);
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
	cr_assert_eq(m.err_code, ERR_OK);
	return fd;
}

struct reply {
	int code;          /* ERR_OK or the error's */
	json_t *result;    /* on success */
	char message[512]; /* on error */
};

/* Sends op with params (a JSON object, stolen) and waits for its reply. */
static struct reply rpc(int fd, const char *op, json_t *params)
{
	struct reply out = { 0 };
	char *text = json_dumps(params, JSON_COMPACT);
	uint64_t id = ++next_id;
	struct wire_msg m;
	char err[256];

	it_raw_request(fd, id, op, text);
	free(text);
	json_decref(params);
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 10000), 0, "no reply to %s", op);
	cr_assert_eq(m.id, id);
	out.code = m.err_code;
	if (m.err_code == ERR_OK) {
		out.result = mpjson_to_json(m.result, err, sizeof(err));
		cr_assert(out.result, "result not JSON: %s", err);
	} else {
		snprintf(out.message, sizeof(out.message), "%.*s", (int)m.err_message_len,
			 m.err_message);
	}
	msgpack_zone_clear(&zone);
	return out;
}

/* call user mcp tool, with the retry's members (NULL: none) and a timeout (0: default). */
static struct reply call(int fd, const char *user, const char *mcp, const char *tool,
			 json_t *responses, const char *state, unsigned timeout_ms)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:{}}", "user", user, "mcp", mcp, "tool", tool,
			      "arguments");

	if (responses)
		json_object_set_new(p, "inputResponses", responses);
	if (state)
		json_object_set_new(p, "requestState", json_string(state));
	if (timeout_ms)
		json_object_set_new(p, "timeout_ms", json_integer(timeout_ms));
	return rpc(fd, "call", p);
}

static const char *text_of(const struct reply *r)
{
	const char *t = json_string_value(
		json_object_get(json_array_get(json_object_get(r->result, "content"), 0), "text"));
	return t ? t : "";
}

/*
 * Asserts r is an input_required result holding one request of method; gives
 * its key and the requestState (copied into key/state).
 */
static json_t *expect_input_required(const struct reply *r, const char *method, char *key,
				     size_t keylen, char *state, size_t statelen)
{
	json_t *reqs, *one;
	const char *k, *st;

	cr_assert_eq(r->code, ERR_OK, "error %d: %s", r->code, r->message);
	cr_assert_str_eq(json_string_value(json_object_get(r->result, "resultType")),
			 "input_required");
	reqs = json_object_get(r->result, "inputRequests");
	cr_assert_eq(json_object_size(reqs), 1);
	json_object_foreach(reqs, k, one) {
		snprintf(key, keylen, "%s", k);
		break;
	}
	one = json_object_get(reqs, key);
	cr_assert_str_eq(json_string_value(json_object_get(one, "method")), method);
	st = json_string_value(json_object_get(r->result, "requestState"));
	cr_assert(st && strncmp(st, "mcppool.", 8) == 0, "requestState: %s", st ? st : "(none)");
	snprintf(state, statelen, "%s", st);
	return one;
}

Test(inputreq, an_elicitation_mid_call_becomes_input_required_and_the_retry_gets_the_result)
{
	int fd = app();
	char key[64], state[128];
	struct reply r = call(fd, "alice", "demo", "elicit", NULL, NULL, 0);
	json_t *one = expect_input_required(&r, "elicitation/create", key, sizeof(key), state,
					    sizeof(state));
	json_t *schema = json_object_get(json_object_get(one, "params"), "requestedSchema");

	/* the server's own request, whole: the app can show the form and its defaults */
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(json_object_get(schema, "properties"), "name"),
				 "default")), "Ada");
	json_decref(r.result);

	r = call(fd, "alice", "demo", "elicit",
		 json_pack("{s:{s:s, s:{s:s, s:i}}}", key, "action", "accept", "content", "name",
			   "Grace", "age", 40),
		 state, 0);
	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert_str_eq(text_of(&r), "{\"action\":\"accept\",\"content\":{\"age\":40,\"name\":\"Grace\"}}");
	json_decref(r.result);

	/* the state is spent with its request */
	r = call(fd, "alice", "demo", "elicit", json_object(), state, 0);
	cr_assert_eq(r.code, ERR_BAD_REQUEST);
	cr_assert(strstr(r.message, "requestState is unknown or expired"), "%s", r.message);
	close(fd);
}

Test(inputreq, a_sampling_request_round_trips)
{
	int fd = app();
	char key[64], state[128];
	struct reply r = call(fd, "alice", "demo", "sample", NULL, NULL, 0);

	expect_input_required(&r, "sampling/createMessage", key, sizeof(key), state, sizeof(state));
	json_decref(r.result);
	r = call(fd, "alice", "demo", "sample",
		 json_pack("{s:{s:s, s:{s:s, s:s}, s:s}}", key, "role", "assistant", "content",
			   "type", "text", "text", "hi", "model", "test-model"),
		 state, 0);
	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert_str_eq(text_of(&r), "result"); /* the fixture got a result, not an error */
	json_decref(r.result);
	close(fd);
}

/* The request op routes a daemon-minted state found in its params the same way. */
Test(inputreq, a_roots_request_round_trips_through_the_request_op)
{
	int fd = app();
	char key[64], state[128];
	struct reply r = rpc(fd, "request",
			     json_pack("{s:s, s:s, s:s, s:{s:s, s:{}}}", "user", "alice", "mcp",
				       "demo", "method", "tools/call", "params", "name", "roots",
				       "arguments"));

	expect_input_required(&r, "roots/list", key, sizeof(key), state, sizeof(state));
	json_decref(r.result);
	r = rpc(fd, "request",
		json_pack("{s:s, s:s, s:s, s:{s:s, s:{}, s:{s:{s:[{s:s}]}}, s:s}}", "user", "alice",
			  "mcp", "demo", "method", "tools/call", "params", "name", "roots",
			  "arguments", "inputResponses", key, "roots", "uri", "file:///srv/project",
			  "requestState", state));
	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert_str_eq(text_of(&r), "{\"roots\":[{\"uri\":\"file:///srv/project\"}]}");
	json_decref(r.result);
	close(fd);
}

Test(inputreq, a_capability_the_entry_does_not_declare_is_refused_to_the_server)
{
	int fd = app();
	struct reply r = call(fd, "alice", "bare", "sample", NULL, NULL, 0);

	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert_null(json_object_get(r.result, "resultType"));
	cr_assert_str_eq(text_of(&r), "error -32601");
	json_decref(r.result);
	r = call(fd, "alice", "bare", "elicit", NULL, NULL, 0);
	cr_assert_str_eq(text_of(&r), "error -32601");
	json_decref(r.result);
	close(fd);
}

/* url-mode elicitation needs "elicitation": {"url": {}}; demo declares form mode only. */
Test(inputreq, url_mode_elicitation_needs_its_own_declaration)
{
	int fd = app();
	struct reply r = rpc(fd, "call",
			     json_pack("{s:s, s:s, s:s, s:{s:s}}", "user", "alice", "mcp", "demo",
				       "tool", "elicit", "arguments", "mode", "url"));

	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert_str_eq(text_of(&r), "error -32601");
	json_decref(r.result);
	close(fd);
}

Test(inputreq, a_held_request_not_retried_by_the_deadline_is_refused_and_cancelled)
{
	int fd = app();
	char key[64], state[128];
	struct reply r = call(fd, "alice", "demo", "elicit", NULL, NULL, 300);

	expect_input_required(&r, "elicitation/create", key, sizeof(key), state, sizeof(state));
	json_decref(r.result);
	/* the server's request got an error, then its own request was cancelled */
	cr_assert(itd_wait_log(&d, "client answered with error -32001", 5000));
	cr_assert(itd_wait_log(&d, "(reason: timeout)", 5000));
	cr_assert(itd_wait_inflight_total(&d, 0, 5000), "the held request still counts");

	r = call(fd, "alice", "demo", "elicit", json_pack("{s:{s:s}}", key, "action", "cancel"),
		 state, 0);
	cr_assert_eq(r.code, ERR_BAD_REQUEST);
	cr_assert(strstr(r.message, "unknown or expired"), "%s", r.message);
	close(fd);
}

/* A retry without a response to a held request gets it asked again at once. */
Test(inputreq, a_retry_without_the_responses_is_asked_again)
{
	int fd = app();
	char key[64], state[128], again[128];
	struct reply r = call(fd, "alice", "demo", "elicit", NULL, NULL, 0);

	expect_input_required(&r, "elicitation/create", key, sizeof(key), state, sizeof(state));
	json_decref(r.result);
	r = call(fd, "alice", "demo", "elicit", NULL, state, 0);
	expect_input_required(&r, "elicitation/create", key, sizeof(key), again, sizeof(again));
	json_decref(r.result);
	r = call(fd, "alice", "demo", "elicit", json_pack("{s:{s:s}}", key, "action", "cancel"),
		 again, 0);
	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert_str_eq(text_of(&r), "{\"action\":\"cancel\"}");
	json_decref(r.result);
	close(fd);
}

/* The pid of the server of key ("user:mcp") in pool-status. */
static long server_pid(const char *key)
{
	json_t *st = itd_pool_status(&d), *e;
	long pid = 0;
	size_t i;

	json_array_foreach(json_object_get(st, "connectionDetails"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "key")), key) == 0)
			pid = (long)json_integer_value(json_object_get(e, "pid"));
	json_decref(st);
	cr_assert(pid > 0, "no server for %s", key);
	return pid;
}

/* The retry waits for the outcome within the original request's deadline, like any call. */
Test(inputreq, a_retry_whose_server_stays_silent_times_out_at_the_original_deadline)
{
	int fd = app();
	char key[64], state[128];
	struct reply r = call(fd, "alice", "demo", "elicit", NULL, NULL, 500);
	long pid;

	expect_input_required(&r, "elicitation/create", key, sizeof(key), state, sizeof(state));
	json_decref(r.result);
	pid = server_pid("alice:demo");
	it_freeze((pid_t)pid);
	r = call(fd, "alice", "demo", "elicit", json_pack("{s:{s:s}}", key, "action", "decline"),
		 state, 0);
	it_thaw((pid_t)pid);
	cr_assert_eq(r.code, ERR_UPSTREAM_TIMEOUT, "%d %s", r.code, r.message);
	close(fd);
}

Test(inputreq, a_made_up_state_is_refused_naming_the_problem)
{
	int fd = app();
	struct reply r = call(fd, "alice", "demo", "elicit", json_object(),
			      "mcppool.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0);

	cr_assert_eq(r.code, ERR_BAD_REQUEST);
	cr_assert(strstr(r.message, "requestState is unknown or expired"), "%s", r.message);
	cr_assert(strstr(r.message, "same user, MCP server and auth"), "%s", r.message);
	r = call(fd, "alice", "demo", "elicit", json_pack("[]"), "x", 0);
	cr_assert_eq(r.code, ERR_BAD_REQUEST);
	cr_assert(strstr(r.message, "inputResponses"), "%s", r.message);
	close(fd);
}

/* call on "authed" (it needs auth key "token") with the retry's members. */
static struct reply call_authed(int fd, const char *user, const char *token, json_t *responses,
				const char *state)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:{}, s:{s:s}}", "user", user, "mcp", "authed",
			      "tool", "elicit", "arguments", "auth", "token", token);

	if (responses)
		json_object_set_new(p, "inputResponses", responses);
	if (state)
		json_object_set_new(p, "requestState", json_string(state));
	return rpc(fd, "call", p);
}

Test(inputreq, a_state_is_good_only_for_its_user_server_and_auth)
{
	int fd = app(), other = app();
	char key[64], state[128];
	struct reply r = call_authed(fd, "alice", "a1", NULL, NULL);

	expect_input_required(&r, "elicitation/create", key, sizeof(key), state, sizeof(state));
	json_decref(r.result);

	r = call_authed(other, "bob", "a1", json_pack("{s:{s:s}}", key, "action", "accept"), state);
	cr_assert_eq(r.code, ERR_BAD_REQUEST, "bob used alice's state");
	cr_assert(strstr(r.message, "unknown or expired"), "%s", r.message);
	r = call_authed(other, "alice", "a2", json_pack("{s:{s:s}}", key, "action", "accept"), state);
	cr_assert_eq(r.code, ERR_BAD_REQUEST, "alice's state worked with another auth");
	r = call(other, "alice", "demo", "elicit", json_pack("{s:{s:s}}", key, "action", "accept"),
		 state, 0);
	cr_assert_eq(r.code, ERR_BAD_REQUEST, "alice's state worked on another server");

	/* none of that spent it: alice's own retry, from another connection, completes */
	r = call_authed(other, "alice", "a1", json_pack("{s:{s:s}}", key, "action", "decline"),
			state);
	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert_str_eq(text_of(&r), "{\"action\":\"decline\"}");
	json_decref(r.result);
	close(fd);
	close(other);
}

/* The server answers the original request before the retry: the retry gets that answer. */
Test(inputreq, an_answer_that_comes_before_the_retry_is_kept_for_it)
{
	int fd = app();
	char key[64], state[128];
	struct reply r = rpc(fd, "call",
			     json_pack("{s:s, s:s, s:s, s:{s:b}}", "user", "alice", "mcp", "demo",
				       "tool", "elicit", "arguments", "then_reply", 1));

	expect_input_required(&r, "elicitation/create", key, sizeof(key), state, sizeof(state));
	json_decref(r.result);
	r = call(fd, "alice", "demo", "elicit", json_pack("{s:{s:s}}", key, "action", "decline"),
		 state, 0);
	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert_str_eq(text_of(&r), "asked, did not wait");
	json_decref(r.result);
	cr_assert(itd_wait_inflight_total(&d, 0, 5000));
	close(fd);
}

/*
 * Over stdio a question goes to the oldest call whose app waits: a call waiting
 * for its retry does not swallow the question of a call that runs.
 */
Test(inputreq, each_of_two_calls_gets_its_own_input_required)
{
	int fd = app();
	char key1[64], state1[128], key2[64], state2[128];
	struct reply r = call(fd, "alice", "demo", "elicit", NULL, NULL, 0);

	expect_input_required(&r, "elicitation/create", key1, sizeof(key1), state1, sizeof(state1));
	json_decref(r.result);
	r = call(fd, "alice", "demo", "elicit", NULL, NULL, 0);
	expect_input_required(&r, "elicitation/create", key2, sizeof(key2), state2, sizeof(state2));
	json_decref(r.result);
	cr_assert_str_neq(state1, state2);

	r = call(fd, "alice", "demo", "elicit",
		 json_pack("{s:{s:s, s:{s:s}}}", key2, "action", "accept", "content", "name", "two"),
		 state2, 0);
	cr_assert_str_eq(text_of(&r), "{\"action\":\"accept\",\"content\":{\"name\":\"two\"}}");
	json_decref(r.result);
	r = call(fd, "alice", "demo", "elicit",
		 json_pack("{s:{s:s, s:{s:s}}}", key1, "action", "accept", "content", "name", "one"),
		 state1, 0);
	cr_assert_str_eq(text_of(&r), "{\"action\":\"accept\",\"content\":{\"name\":\"one\"}}");
	json_decref(r.result);
	close(fd);
}

/* Requests waiting for a retry leave their client's count: MCPPOOL_MAX_INFLIGHT bounds them all. */
Test(inputreq, no_more_than_max_inflight_requests_wait_for_input)
{
	const char *env[] = { "MCPPOOL_MAX_INFLIGHT=1", NULL };
	char key[64], state[128];
	struct reply r;
	int fd;

	itd_stop(&d);
	itd_start(&d, CATALOG, env);
	fd = app();
	r = call(fd, "alice", "demo", "elicit", NULL, NULL, 0);
	expect_input_required(&r, "elicitation/create", key, sizeof(key), state, sizeof(state));
	json_decref(r.result);
	r = call(fd, "alice", "demo", "elicit", NULL, NULL, 0);
	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert_str_eq(text_of(&r), "error -32603");
	json_decref(r.result);
	cr_assert(itd_log_contains(&d, "MCPPOOL_MAX_INFLIGHT"));
	close(fd);
}

/* A server's own requestState (a modern server's) is the server's: it goes with the call. */
Test(inputreq, a_state_the_daemon_did_not_mint_goes_to_the_server_untouched)
{
	int fd = app();
	struct reply r = rpc(fd, "call",
			     json_pack("{s:s, s:s, s:s, s:{s:s}, s:{s:{s:s}}, s:s}", "user", "alice",
				       "mcp", "demo", "tool", "echo", "arguments", "message", "hi",
				       "inputResponses", "k", "action", "accept", "requestState",
				       "sealed-by-the-server"));

	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert_str_eq(text_of(&r), "hi");
	json_decref(r.result);
	close(fd);
}

/* ---- a real legacy server: @modelcontextprotocol/server-everything from npm ---- */

TestSuite(inputreq_interop, .init = it_subreaper, .timeout = 60);

/*
 * server-everything registers its elicitation and sampling tools only for a
 * client that declared the capability at initialize: their presence proves
 * the entry's clientCapabilities were declared.
 */
Test(inputreq_interop, server_everything_elicitation_and_sampling_reach_the_app_as_input_required)
{
	char bin[4096], cat[8192], key[64], state[128];
	struct reply r;
	int fd;

	if (!realpath("tests/interop/node_modules/.bin/mcp-server-everything", bin))
		cr_assert_fail("server-everything is not installed (scripts/npm-setup.sh)");
	snprintf(cat, sizeof(cat),
		 "{\"mcpServers\": {\"everything\": {\"command\": \"%s\", \"args\": [\"stdio\"],"
		 " \"clientCapabilities\": {\"elicitation\": {}, \"sampling\": {}}}}}", bin);
	itd_start(&d, cat, NULL);
	msgpack_zone_init(&zone, 4096);
	fd = app();

	r = rpc(fd, "call", json_pack("{s:s, s:s, s:s, s:{}, s:i}", "user", "alice", "mcp",
				      "everything", "tool", "trigger-elicitation-request",
				      "arguments", "timeout_ms", 20000));
	expect_input_required(&r, "elicitation/create", key, sizeof(key), state, sizeof(state));
	json_decref(r.result);
	r = rpc(fd, "call", json_pack("{s:s, s:s, s:s, s:{}, s:{s:{s:s, s:{s:s}}}, s:s}", "user",
				      "alice", "mcp", "everything", "tool",
				      "trigger-elicitation-request", "arguments", "inputResponses",
				      key, "action", "accept", "content", "name", "Grace Hopper",
				      "requestState", state));
	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	char *all = json_dumps(r.result, 0);
	cr_assert(strstr(all, "Grace Hopper"), "no answer in the result: %s", all);
	free(all);
	json_decref(r.result);

	r = rpc(fd, "call", json_pack("{s:s, s:s, s:s, s:{s:s}}", "user", "alice", "mcp",
				      "everything", "tool", "trigger-sampling-request",
				      "arguments", "prompt", "capital of France?"));
	expect_input_required(&r, "sampling/createMessage", key, sizeof(key), state, sizeof(state));
	json_decref(r.result);
	r = rpc(fd, "call", json_pack("{s:s, s:s, s:s, s:{s:s}, s:{s:{s:s, s:{s:s, s:s}, s:s}}, s:s}",
				      "user", "alice", "mcp", "everything", "tool",
				      "trigger-sampling-request", "arguments", "prompt",
				      "capital of France?", "inputResponses", key, "role",
				      "assistant", "content", "type", "text", "text", "Paris",
				      "model", "test-model", "requestState", state));
	cr_assert_eq(r.code, ERR_OK, "%s", r.message);
	cr_assert(strstr(text_of(&r), "Paris"), "sampling result: %s", text_of(&r));
	json_decref(r.result);
	close(fd);
	msgpack_zone_destroy(&zone);
	itd_stop(&d);
	it_assert_no_children();
}
