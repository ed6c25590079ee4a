/* Integration: MCP protocol eras: modern (2026-07-28), dual-era and legacy servers over stdio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"
#include "wire.h"

TestSuite(era, .init = it_subreaper, .timeout = 60);

/* The fixture once in each era, and a dual one pinned to each era. */
#define ERA_CATALOG                                                                        \
	"{\"mcpServers\": {"                                                               \
	"\"modern\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"modern\"],"       \
	" \"clientCapabilities\": {\"elicitation\": {\"form\": {}}}},"                     \
	"\"dual\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"dual\"]},"          \
	"\"legacy\": {\"command\": \"@FIXTURE@\","                                         \
	" \"clientCapabilities\": {\"roots\": {}}},"                                       \
	"\"dual-legacy\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"dual\"],"    \
	" \"protocol\": \"legacy\"},"                                                      \
	"\"dual-modern\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"dual\"],"    \
	" \"protocol\": \"modern\"},"                                                      \
	"\"silent\": {\"command\": \"@FIXTURE@\", \"args\": [\"--silent-discover\"]},"      \
	"\"empty\": {\"command\": \"@FIXTURE@\", \"args\": [\"--empty-discover\"]},"        \
	"\"future-dual\": {\"command\": \"@FIXTURE@\","                                    \
	" \"args\": [\"--era\", \"dual\", \"--versions\", \"2027-01-01\"]},"                \
	"\"future\": {\"command\": \"@FIXTURE@\","                                         \
	" \"args\": [\"--era\", \"modern\", \"--versions\", \"2027-01-01\"]},"              \
	"\"fickle\": {\"command\": \"@FIXTURE@\","                                         \
	" \"args\": [\"--era\", \"modern\", \"--discover-once\"]},"                        \
	"\"shifty\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"${auth.era}\"]},"     \
	"\"sluggish\": {\"command\": \"@FIXTURE@\","                                       \
	" \"args\": [\"--era\", \"modern\", \"--slow-start\", \"2000\"]}"                      \
	"}}"

/* Runs mcpctl, asserting success; returns the reply. */
static json_t *ok(struct itd *d, const char *const *args)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, args);

	cr_assert_eq(st, 0, "%s %s %s failed: %s", args[0], args[1], args[2],
		     r ? json_dumps(r, JSON_COMPACT) : "(no JSON)");
	return r;
}

/* True when the compact JSON text of j contains needle. */
static bool json_has(json_t *j, const char *needle)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	bool found = text && strstr(text, needle);

	free(text);
	return found;
}

/* The structuredContent of a tool result in reply r. */
static json_t *structured(json_t *r)
{
	json_t *s = json_object_get(it_data(r), "structuredContent");

	cr_assert(json_is_object(s), "no structuredContent");
	return s;
}

/* The fixture's counter name (tool stats) on user's connection to mcp. */
static long long stat_of(struct itd *d, const char *user, const char *mcp, const char *name)
{
	json_t *r = ok(d, ARGS("call", user, mcp, "stats"));
	long long v = json_integer_value(json_object_get(structured(r), name));

	json_decref(r);
	return v;
}

/* The protocol version the fixture says user's call to mcp was served under. */
static void assert_served_in(struct itd *d, const char *user, const char *mcp, const char *want)
{
	json_t *r = ok(d, ARGS("call", user, mcp, "protocol"));

	cr_assert_str_eq(it_text(r), want, "%s was served in %s", mcp, it_text(r));
	json_decref(r);
}

Test(era, modern_dual_and_legacy_servers_serve_the_same_calls)
{
	static const char *const servers[] = { "modern", "dual", "legacy" };
	struct itd d;

	itd_start(&d, ERA_CATALOG, NULL);
	for (size_t i = 0; i < 3; i++) {
		const char *mcp = servers[i];
		json_t *r = ok(&d, ARGS("call", "alice", mcp, "echo", "{\"message\":\"hi\"}"));
		cr_assert_str_eq(it_text(r), "hi", "%s: echo", mcp);
		json_decref(r);

		r = ok(&d, ARGS("call", "alice", mcp, "add", "{\"a\":2,\"b\":40}"));
		cr_assert_str_eq(it_text(r), "42", "%s: add", mcp);
		json_decref(r);

		r = ok(&d, ARGS("tools", "alice", mcp));
		cr_assert(json_has(it_data(r), "\"echo\""), "%s: tools", mcp);
		json_decref(r);

		r = ok(&d, ARGS("request", "alice", mcp, "tools/call",
				"{\"name\":\"echo\",\"arguments\":{\"message\":\"raw\"}}"));
		cr_assert(json_has(it_data(r), "raw"), "%s: request", mcp);
		json_decref(r);
	}
	/* A second user gets a connection of its own, in the same era. */
	assert_served_in(&d, "bob", "modern", "2026-07-28");
	itd_stop(&d);
	it_assert_no_children();
}

Test(era, a_dual_era_server_is_spoken_to_in_2026_07_28_without_initialize)
{
	struct itd d;

	itd_start(&d, ERA_CATALOG, NULL);
	assert_served_in(&d, "alice", "dual", "2026-07-28");
	cr_assert_eq(stat_of(&d, "alice", "dual", "discovers"), 1, "one probe per connection");
	cr_assert_eq(stat_of(&d, "alice", "dual", "initialized"), 0, "a modern server got initialize");
	assert_served_in(&d, "alice", "legacy", "2025-11-25");
	cr_assert(itd_log_contains(&d, "modern protocol 2026-07-28"));

	/* pool-status shows each connection's protocol. */
	json_t *st = itd_pool_status(&d), *e;
	size_t i;
	unsigned seen = 0;
	json_array_foreach(json_object_get(st, "connectionDetails"), i, e) {
		const char *key = json_string_value(json_object_get(e, "key"));
		const char *proto = json_string_value(json_object_get(e, "protocol"));
		cr_assert(proto, "no protocol for %s", key);
		if (strcmp(key, "alice:dual") == 0 && ++seen)
			cr_assert_str_eq(proto, "2026-07-28");
		if (strcmp(key, "alice:legacy") == 0 && ++seen)
			cr_assert_str_eq(proto, "2025-11-25");
	}
	cr_assert_eq(seen, 2);
	json_decref(st);
	itd_stop(&d);
	it_assert_no_children();
}

Test(era, the_catalog_protocol_pin_skips_the_probe_both_ways)
{
	struct itd d;

	itd_start(&d, ERA_CATALOG, NULL);
	assert_served_in(&d, "alice", "dual-legacy", "2025-11-25");
	cr_assert_eq(stat_of(&d, "alice", "dual-legacy", "discovers"), 0, "pinned legacy but probed");
	assert_served_in(&d, "alice", "dual-modern", "2026-07-28");
	cr_assert_eq(stat_of(&d, "alice", "dual-modern", "discovers"), 0, "pinned modern but probed");
	cr_assert_eq(stat_of(&d, "alice", "dual-modern", "initialized"), 0);
	itd_stop(&d);
	it_assert_no_children();
}

Test(era, modern_requests_carry_the_daemons_meta_and_keep_the_apps_own)
{
	struct itd d;

	itd_start(&d, ERA_CATALOG, NULL);
	json_t *r = ok(&d, ARGS("request", "alice", "modern", "tools/call",
				"{\"name\":\"protocol\",\"arguments\":{},\"_meta\":{"
				"\"com.example/trace\":\"t-1\","
				"\"io.modelcontextprotocol/protocolVersion\":\"1999-01-01\"}}"));
	json_t *meta = json_object_get(structured(r), "meta");
	cr_assert_str_eq(json_string_value(json_object_get(meta, "com.example/trace")), "t-1",
			 "the app's own _meta key was lost");
	cr_assert_str_eq(json_string_value(json_object_get(
				 meta, "io.modelcontextprotocol/protocolVersion")), "2026-07-28");
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(meta, "io.modelcontextprotocol/clientInfo"), "name")),
			 "mcppool");
	json_t *want = json_loads("{\"elicitation\": {\"form\": {}}}", 0, NULL);
	cr_assert(json_equal(json_object_get(meta, "io.modelcontextprotocol/clientCapabilities"), want),
		  "clientCapabilities is not the catalog's");
	json_decref(want);
	json_decref(r);

	/* A legacy server is told the same capabilities at initialize. */
	r = ok(&d, ARGS("call", "alice", "legacy", "protocol"));
	want = json_loads("{\"roots\": {}}", 0, NULL);
	cr_assert(json_equal(json_object_get(structured(r), "initCapabilities"), want),
		  "initialize did not declare the catalog's clientCapabilities");
	json_decref(want);
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

Test(era, an_unsupported_protocol_version_answer_is_retried_once)
{
	struct itd d;
	int st;

	itd_start(&d, ERA_CATALOG, NULL);
	json_t *r = ok(&d, ARGS("call", "alice", "modern", "unsupported", "{\"times\":1}"));
	cr_assert_str_eq(it_text(r), "accepted after 1 refusals");
	json_decref(r);

	/* Refused again: the second refusal reaches the app; no third attempt. */
	r = itd_ctl_json(&d, &st, ARGS("call", "bob", "modern", "unsupported", "{\"times\":5}"));
	cr_assert_neq(st, 0);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_ERROR");
	cr_assert(json_has(r, "-32022"), "the server's error was not kept");
	json_decref(r);
	cr_assert_eq(stat_of(&d, "bob", "modern", "refusals"), 2);
	itd_stop(&d);
	it_assert_no_children();
}

Test(era, a_server_silent_to_discover_is_spoken_to_as_legacy_within_the_bound)
{
	/* The probe waits half of MCPPOOL_START_TIMEOUT (at most 2 s): 400 ms here. */
	const char *env[] = { "MCPPOOL_START_TIMEOUT=800", NULL };
	struct itd d;

	itd_start(&d, ERA_CATALOG, env);
	assert_served_in(&d, "alice", "silent", "2025-11-25");
	cr_assert(itd_log_contains(&d, "no answer to server/discover within 400 ms"));
	/* Silence is not kept as the entry's era: the next user's connection probes too. */
	assert_served_in(&d, "bob", "silent", "2025-11-25");
	cr_assert_eq(stat_of(&d, "bob", "silent", "discovers"), 1, "silence was kept as legacy");
	itd_stop(&d);
	it_assert_no_children();
}

Test(era, an_empty_result_to_discover_is_not_a_discover_result_and_means_legacy)
{
	struct itd d;

	itd_start(&d, ERA_CATALOG, NULL);
	assert_served_in(&d, "alice", "empty", "2025-11-25");
	cr_assert(itd_log_contains(&d, "has no supportedVersions"));
	itd_stop(&d);
	it_assert_no_children();
}

Test(era, a_modern_error_listing_only_a_legacy_version_in_common_leads_to_initialize)
{
	struct itd d;

	itd_start(&d, ERA_CATALOG, NULL);
	assert_served_in(&d, "alice", "future-dual", "2025-11-25");
	cr_assert(itd_log_contains(&d, "UnsupportedProtocolVersionError lists versions"));
	itd_stop(&d);
	it_assert_no_children();
}

Test(era, a_server_with_no_version_in_common_fails_to_start_naming_its_versions)
{
	struct itd d;
	int st;

	itd_start(&d, ERA_CATALOG, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "future", "echo",
					       "{\"message\":\"x\"}"));
	cr_assert_neq(st, 0);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_START_FAILED");
	cr_assert(json_has(r, "2027-01-01"), "the server's versions are not named");
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

/* True once the modern connection of alice has answered at least 2 health checks. */
static bool health_checked(void *arg)
{
	return stat_of(arg, "alice", "modern", "discovers") >= 3; /* the probe, then checks */
}

Test(era, health_checks_and_warm_on_a_modern_server_use_server_discover)
{
	const char *env[] = { "CLEANUP_INTERVAL=100", NULL };
	struct itd d;

	itd_start(&d, ERA_CATALOG, env);
	json_t *r = ok(&d, ARGS("warm", "alice", "modern"));
	json_t *server = json_object_get(it_data(r), "server");
	cr_assert_str_eq(json_string_value(json_object_get(server, "protocolVersion")), "2026-07-28");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(server, "serverInfo"),
							   "name")), "mcp-fixture");
	json_decref(r);
	cr_assert(it_poll(health_checked, &d, 5000), "no health checks by server/discover");
	cr_assert_eq(stat_of(&d, "alice", "modern", "pings"), 0, "a modern server got a ping");
	cr_assert_leq(itd_metric(&d, "mcppool_upstream_hung_total"), 0, "a live server was closed");
	itd_stop(&d);
	it_assert_no_children();
}

/* The pid the fixture of alice's connection to mcp reports. */
static long pid_of(struct itd *d, const char *mcp)
{
	json_t *r = ok(d, ARGS("call", "alice", mcp, "pid"));
	long pid = atol(it_text(r));

	json_decref(r);
	return pid;
}

static bool reprobe_logged(void *arg)
{
	return itd_log_contains(arg, "retiring the connection (the next request probes the era again)");
}

Test(era, a_modern_server_failing_its_health_discover_is_retired_and_the_next_call_probes_again)
{
	const char *env[] = { "CLEANUP_INTERVAL=100", NULL };
	struct itd d;

	itd_start(&d, ERA_CATALOG, env);
	long first = pid_of(&d, "fickle");
	cr_assert(it_poll(reprobe_logged, &d, 5000), "the failed health check did not retire it");
	cr_assert(it_wait_gone((pid_t)first, 5000), "the retired server still runs");
	long second = pid_of(&d, "fickle");
	cr_assert_neq(second, first, "the retired connection served again");
	assert_served_in(&d, "alice", "fickle", "2026-07-28");
	itd_stop(&d);
	it_assert_no_children();
}

/* A progress call with events on mcp over the raw wire: the number of progress events before its reply. */
static unsigned progress_events(struct itd *d, const char *mcp, char *text, size_t text_len)
{
	msgpack_zone zone;
	struct wire_msg m;
	unsigned events = 0;
	char req[256];
	int fd = it_raw_connect(d);

	msgpack_zone_init(&zone, 4096);
	it_raw_request(fd, 1, "hello", "{\"version\": 2}");
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
	snprintf(req, sizeof(req), "{\"user\": \"alice\", \"mcp\": \"%s\", \"tool\": \"progress\", "
		 "\"arguments\": {\"steps\": 3, \"ms\": 10}, \"events\": true}", mcp);
	it_raw_request(fd, 2, "call", req);
	for (;;) {
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 10000), 0, "no reply");
		if (m.type == WIRE_REPLY)
			break;
		if (m.op_len == 8 && memcmp(m.op, "progress", 8) == 0)
			events++;
	}
	cr_assert_eq(m.err_code, ERR_OK);
	const msgpack_object *c = wire_map_get(m.result, "content");
	const msgpack_object *t = c && c->via.array.size ? wire_map_get(&c->via.array.ptr[0], "text")
							: NULL;
	snprintf(text, text_len, "%.*s", t ? (int)t->via.str.size : 0, t ? t->via.str.ptr : "");
	close(fd);
	msgpack_zone_destroy(&zone);
	return events;
}

Test(era, progress_events_of_a_modern_server_reach_the_app)
{
	struct itd d;
	char text[64];

	itd_start(&d, ERA_CATALOG, NULL);
	cr_assert_eq(progress_events(&d, "modern", text, sizeof(text)), 3,
		     "the progress token did not survive the modern _meta");
	cr_assert_str_eq(text, "done 3");
	itd_stop(&d);
	it_assert_no_children();
}

static bool cancel_seen(void *arg)
{
	return stat_of(arg, "alice", "modern", "cancelled") >= 1;
}

Test(era, a_modern_request_past_its_deadline_is_cancelled_upstream)
{
	struct itd d;
	int st;

	itd_start(&d, ERA_CATALOG, NULL);
	json_t *r = itd_ctl_json(&d, &st, ARGS("call", "alice", "modern", "sleep", "{\"ms\":20000}",
					       "--timeout", "200"));
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_TIMEOUT");
	json_decref(r);
	cr_assert(it_poll(cancel_seen, &d, 5000), "the server was not told to cancel");
	itd_stop(&d);
	it_assert_no_children();
}

/*
 * The era the probe found for a catalog entry is kept (eramemo.h): the next
 * user's connection of the same entry is not probed, and speaks that era.
 */
Test(era, the_next_connection_of_an_entry_speaks_the_era_found_without_a_probe)
{
	struct itd d;

	itd_start(&d, ERA_CATALOG, NULL);
	assert_served_in(&d, "alice", "legacy", "2025-11-25");
	cr_assert_eq(stat_of(&d, "alice", "legacy", "discovers"), 1, "the first connection is probed");
	assert_served_in(&d, "bob", "legacy", "2025-11-25");
	cr_assert_eq(stat_of(&d, "bob", "legacy", "discovers"), 0, "the era was probed again");

	assert_served_in(&d, "alice", "modern", "2026-07-28");
	assert_served_in(&d, "bob", "modern", "2026-07-28");
	cr_assert_eq(stat_of(&d, "bob", "modern", "discovers"), 0, "the era was probed again");
	json_t *r = ok(&d, ARGS("warm", "bob", "modern"));
	json_t *server = json_object_get(it_data(r), "server");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(server, "serverInfo"),
							   "name")), "mcp-fixture",
			 "warm does not show what the first probe found");
	json_decref(r);
	cr_assert(itd_log_contains(&d, "found for this catalog entry before"));
	itd_stop(&d);
	it_assert_no_children();
}

/*
 * A connection started from a legacy memo whose server refuses initialize (it
 * became a 2026-07-28 server) probes at once on the same connection, and the
 * call is served.
 */
Test(era, a_remembered_legacy_entry_whose_server_refuses_initialize_is_probed_again)
{
	struct itd d;

	itd_start(&d, ERA_CATALOG, NULL);
	json_t *r = ok(&d, ARGS("call", "alice", "shifty", "protocol", "{}", "-a", "era=legacy"));
	cr_assert_str_eq(it_text(r), "2025-11-25");
	json_decref(r);
	r = ok(&d, ARGS("call", "bob", "shifty", "protocol", "{}", "-a", "era=modern"));
	cr_assert_str_eq(it_text(r), "2026-07-28", "served in %s", it_text(r));
	json_decref(r);
	cr_assert(itd_log_contains(&d, "legacy was found for this catalog entry before; probing with "
				       "server/discover again"));
	r = ok(&d, ARGS("call", "bob", "shifty", "stats", "{}", "-a", "era=modern"));
	cr_assert_eq(json_integer_value(json_object_get(structured(r), "discovers")), 1);
	json_decref(r);
	itd_stop(&d);
	it_assert_no_children();
}

/* A catalog reload forgets every era found: the next connection is probed. */
Test(era, a_catalog_reload_forgets_the_eras_found)
{
	struct itd d;

	itd_start(&d, ERA_CATALOG, NULL);
	assert_served_in(&d, "alice", "legacy", "2025-11-25");
	json_decref(ok(&d, ARGS("reload")));
	assert_served_in(&d, "bob", "legacy", "2025-11-25");
	cr_assert_eq(stat_of(&d, "bob", "legacy", "discovers"), 1, "the reload kept the era found");
	itd_stop(&d);
	it_assert_no_children();
}

/*
 * A 2026-07-28 server too slow to start to answer the probe in time is taken
 * for a silent legacy one; it refuses initialize, and the connection probes
 * once more and serves in 2026-07-28.
 */
Test(era, a_modern_server_slow_to_answer_the_probe_is_probed_again_when_it_refuses_initialize)
{
	/* The probe waits 1.5 s, the server starts reading after 2 s; initialize has 1.5 s more. */
	const char *env[] = { "MCPPOOL_START_TIMEOUT=3000", NULL };
	struct itd d;

	itd_start(&d, ERA_CATALOG, env);
	assert_served_in(&d, "alice", "sluggish", "2026-07-28");
	cr_assert(itd_log_contains(&d, "no answer to server/discover within"));
	cr_assert(itd_log_contains(&d, "legacy was a guess from a silent server; probing with "
				       "server/discover again"));
	itd_stop(&d);
	it_assert_no_children();
}
