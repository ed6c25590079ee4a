/* Integration: pooling @modelcontextprotocol/server-everything, a real MCP server from npm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(interop, .init = it_subreaper, .timeout = 120);

static void catalog(char *buf, size_t len)
{
	char bin[4096];
	if (!realpath("tests/interop/node_modules/.bin/mcp-server-everything", bin))
		cr_assert_fail("server-everything is not installed (scripts/npm-setup.sh)");
	snprintf(buf, len,
		 "{\"mcpServers\": {\"everything\": {\"command\": \"%s\", \"args\": [\"stdio\"],"
		 " \"env\": {\"USER_TOKEN\": \"${auth.token}\"}}}}", bin);
}

static json_t *call(struct itd *d, const char *user, const char *tool, const char *args,
		    const char *auth)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("call", user, "everything", tool, args, "-a", auth,
					      "--timeout", "30000"));
	cr_assert_eq(st, 0, "%s %s failed", user, tool);
	return r;
}

/* USER_TOKEN and DAEMON_SECRET as get-env reports them ("" when absent). */
static void child_env(struct itd *d, const char *user, const char *auth, char *token, size_t tlen,
		      bool *daemon_secret_seen)
{
	json_t *r = call(d, user, "get-env", "{}", auth);
	json_t *env = json_loads(it_text(r), 0, NULL);
	cr_assert(env, "get-env did not return JSON: %s", it_text(r));
	const char *t = json_string_value(json_object_get(env, "USER_TOKEN"));
	snprintf(token, tlen, "%s", t ? t : "");
	*daemon_secret_seen = json_object_get(env, "DAEMON_SECRET") != NULL;
	json_decref(env);
	json_decref(r);
}

static long pid_of_key(struct itd *d, const char *key)
{
	int st;
	json_t *r = itd_ctl_json(d, &st, ARGS("pool-status"));
	json_t *det = json_object_get(it_data(r), "connectionDetails"), *e;
	size_t i;
	long pid = 0;
	json_array_foreach(det, i, e)
		if (strcmp(json_string_value(json_object_get(e, "key")), key) == 0)
			pid = (long)json_integer_value(json_object_get(e, "pid"));
	json_decref(r);
	return pid;
}

Test(interop, server_everything_is_pooled_per_user_with_each_users_auth)
{
	struct itd d;
	char cat[8192], token[256];
	bool leaked;
	const char *env[] = { "DAEMON_SECRET=do-not-leak", NULL };

	catalog(cat, sizeof(cat));
	itd_start(&d, cat, env);

	json_t *r = call(&d, "alice", "echo", "{\"message\":\"hello pool\"}", "token=alice-1");
	cr_assert(strstr(it_text(r), "hello pool"), "echo: %s", it_text(r));
	json_decref(r);
	r = call(&d, "bob", "get-sum", "{\"a\":2,\"b\":40}", "token=bob-1");
	cr_assert(strstr(it_text(r), "42"), "get-sum: %s", it_text(r));
	json_decref(r);

	child_env(&d, "alice", "token=alice-1", token, sizeof(token), &leaked);
	cr_assert_str_eq(token, "alice-1");
	cr_assert(!leaked, "the daemon's environment reached a child");
	child_env(&d, "bob", "token=bob-1", token, sizeof(token), &leaked);
	cr_assert_str_eq(token, "bob-1");

	/* Reuse: same auth, same child. */
	long alice = pid_of_key(&d, "alice:everything");
	long bob = pid_of_key(&d, "bob:everything");
	cr_assert(alice > 0 && bob > 0 && alice != bob);
	json_decref(call(&d, "alice", "echo", "{\"message\":\"again\"}", "token=alice-1"));
	cr_assert_eq(pid_of_key(&d, "alice:everything"), alice, "same auth but a new child");

	/* Reconnect: new auth, new child with the new value. */
	child_env(&d, "alice", "token=alice-2", token, sizeof(token), &leaked);
	cr_assert_str_eq(token, "alice-2");
	cr_assert_neq(pid_of_key(&d, "alice:everything"), alice, "auth changed but the child was reused");
	cr_assert_eq(pid_of_key(&d, "bob:everything"), bob, "another user's connection changed");

	itd_stop(&d);
	it_assert_no_children();
}
