/* Integration: cacheable lists served from the daemon's cache (MCPPOOL_CACHE_BYTES). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(cache, .init = it_subreaper, .timeout = 60);

/*
 * The fixture's lists carry "serial" (how many that process served: a cached
 * copy repeats it) and "owner" (the user's auth token: a list leaked to
 * another user would show the first user's).
 */
#define OWNED "\"env\": {\"FIXTURE_LIST_OWNER\": \"${auth.token}\"}"
#define CACHE_CATALOG                                                                        \
	"{\"mcpServers\": {"                                                                 \
	"\"priv\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"modern\","            \
	" \"--list-ttl\", \"60000\"], " OWNED "},"                                           \
	"\"pub\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"dual\","               \
	" \"--list-ttl\", \"60000\", \"--cache-scope\", \"public\"], " OWNED "},"            \
	"\"short\": {\"command\": \"@FIXTURE@\", \"args\": [\"--era\", \"modern\","           \
	" \"--list-ttl\", \"" SHORT_TTL "\", \"--cache-scope\", \"private\"], " OWNED "}," \
	"\"changing\": {\"command\": \"@FIXTURE@\", \"args\": [\"--list-changed\"], " OWNED "}," \
	"\"plain\": {\"command\": \"@FIXTURE@\", \"args\": [\"--list-ttl\", \"60000\","       \
	" \"--cache-scope\", \"public\"], " OWNED "}"                                       \
	"}}"
#define SHORT_TTL "700"

struct list {
	long long serial;
	char owner[64];
};

/* user's list (tools/list through the tools op, else method through request) of mcp with auth token. */
static struct list list_of(struct itd *d, const char *user, const char *mcp, const char *token,
			   const char *method)
{
	char auth[80];
	struct list l = { 0 };
	json_t *r, *data;
	int st;

	snprintf(auth, sizeof(auth), "token=%s", token);
	r = method ? itd_ctl_json(d, &st, ARGS("request", user, mcp, method, "{}", "-a", auth))
		   : itd_ctl_json(d, &st, ARGS("tools", user, mcp, "-a", auth));
	cr_assert_eq(st, 0, "%s %s %s failed", user, mcp, method ? method : "tools");
	data = it_data(r);
	l.serial = json_integer_value(json_object_get(data, "serial"));
	snprintf(l.owner, sizeof(l.owner), "%s",
		 json_string_value(json_object_get(data, "owner")) ?: "");
	cr_assert_gt(l.serial, 0, "%s: no serial in the list", mcp);
	json_decref(r);
	return l;
}

static struct list tools_of(struct itd *d, const char *user, const char *mcp, const char *token)
{
	return list_of(d, user, mcp, token, NULL);
}

static double metric(struct itd *d, const char *name)
{
	return itd_metric(d, name);
}

Test(cache, a_private_list_is_served_again_only_to_the_same_user_and_auth)
{
	struct itd d;
	struct list l;

	itd_start(&d, CACHE_CATALOG, NULL);
	l = tools_of(&d, "alice", "priv", "a");
	cr_assert_eq(l.serial, 1);
	cr_assert_str_eq(l.owner, "a");
	l = tools_of(&d, "alice", "priv", "a");
	cr_assert_eq(l.serial, 1, "the same user and auth: served from the cache");
	cr_assert_eq(metric(&d, "mcppool_cache_hits_total"), 1);

	/* Another user: its own server, its own list. */
	l = tools_of(&d, "bob", "priv", "b");
	cr_assert_str_eq(l.owner, "b", "bob got %s's private list", l.owner);
	cr_assert_eq(l.serial, 1, "bob's request reached bob's server");

	/* The same user with another auth: a new connection and list, not the cached one. */
	l = tools_of(&d, "alice", "priv", "a2");
	cr_assert_str_eq(l.owner, "a2", "another auth got the list of auth %s", l.owner);
	cr_assert_eq(l.serial, 1);
	l = tools_of(&d, "alice", "priv", "a2");
	cr_assert_str_eq(l.owner, "a2");
	cr_assert_eq(l.serial, 1);

	cr_assert_eq(metric(&d, "mcppool_cache_hits_total"), 2);
	cr_assert_eq(metric(&d, "mcppool_cache_misses_total"), 3);
	cr_assert_eq(metric(&d, "mcppool_cache_stores_total"), 3);
	cr_assert_eq(metric(&d, "mcppool_cache_entries"), 3);
	cr_assert_gt(metric(&d, "mcppool_cache_bytes"), 0);
	itd_stop(&d);
	it_assert_no_children();
}

Test(cache, a_public_list_is_shared_by_every_user_of_the_entry)
{
	struct itd d;
	struct list l;

	itd_start(&d, CACHE_CATALOG, NULL);
	l = tools_of(&d, "alice", "pub", "a");
	cr_assert_eq(l.serial, 1);
	cr_assert_str_eq(l.owner, "a");
	l = tools_of(&d, "bob", "pub", "b");
	cr_assert_eq(l.serial, 1);
	cr_assert_str_eq(l.owner, "a", "public: the server said it is the same for every user");
	cr_assert_eq(metric(&d, "mcppool_spawns_total"), 1, "bob's list started no server");
	cr_assert_eq(metric(&d, "mcppool_cache_hits_total"), 1);
	itd_stop(&d);
	it_assert_no_children();
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

Test(cache, a_list_is_fetched_again_once_its_ttl_has_passed)
{
	struct itd d;
	struct list l;
	long long t0, deadline;

	itd_start(&d, CACHE_CATALOG, NULL);
	t0 = now_ms();
	cr_assert_eq(tools_of(&d, "alice", "short", "a").serial, 1);
	l = tools_of(&d, "alice", "short", "a");
	if (now_ms() - t0 < atoi(SHORT_TTL))
		cr_assert_eq(l.serial, 1, "fresh: served from the cache");
	deadline = now_ms() + 5000;
	while (l.serial == 1 && now_ms() < deadline) {
		it_sleep_ms(50);
		l = tools_of(&d, "alice", "short", "a");
	}
	cr_assert_eq(l.serial, 2, "stale: fetched from the server again");
	cr_assert_geq(now_ms() - t0, atoi(SHORT_TTL), "fetched again before its ttl passed");
	itd_stop(&d);
	it_assert_no_children();
}

/* The ttlMs of alice's "priv" tools list as the daemon relays it, and its serial. */
static long long relayed_ttl(struct itd *d, long long *serial)
{
	json_t *r, *data;
	long long ttl;
	int st;

	r = itd_ctl_json(d, &st, ARGS("tools", "alice", "priv", "-a", "token=a"));
	cr_assert_eq(st, 0);
	data = it_data(r);
	*serial = json_integer_value(json_object_get(data, "serial"));
	cr_assert(json_is_integer(json_object_get(data, "ttlMs")), "no ttlMs in the relayed list");
	ttl = json_integer_value(json_object_get(data, "ttlMs"));
	json_decref(r);
	return ttl;
}

Test(cache, a_cached_list_is_relayed_with_the_time_it_has_left)
{
	struct itd d;
	long long serial, ttl, t_stored;

	itd_start(&d, CACHE_CATALOG, NULL);
	cr_assert_eq(relayed_ttl(&d, &serial), 60000, "from the server: its own ttlMs");
	cr_assert_eq(serial, 1);
	t_stored = now_ms(); /* the result was stored before this */
	while (now_ms() - t_stored < 100)
		it_sleep_ms(20);
	ttl = relayed_ttl(&d, &serial);
	cr_assert_eq(serial, 1, "served from the cache");
	cr_assert_gt(ttl, 0);
	cr_assert_leq(ttl, 60000 - 100, "a copy 100 ms old claimed %lld ms left of 60000", ttl);
	itd_stop(&d);
	it_assert_no_children();
}

Test(cache, a_legacy_list_with_list_changed_is_kept_until_its_notification)
{
	struct itd d;
	json_t *r;
	int st;

	itd_start(&d, CACHE_CATALOG, NULL);
	cr_assert_eq(tools_of(&d, "alice", "changing", "a").serial, 1);
	cr_assert_eq(tools_of(&d, "alice", "changing", "a").serial, 1, "listChanged: cached");
	cr_assert_eq(list_of(&d, "alice", "changing", "a", "prompts/list").serial, 1);
	cr_assert_eq(list_of(&d, "alice", "changing", "a", "prompts/list").serial, 1);

	/* The server says its tools changed: that list, and only that one, is fetched again. */
	r = itd_ctl_json(&d, &st, ARGS("call", "alice", "changing", "notify",
				       "{\"method\":\"notifications/tools/list_changed\"}",
				       "-a", "token=a"));
	cr_assert_eq(st, 0);
	json_decref(r);
	cr_assert_eq(tools_of(&d, "alice", "changing", "a").serial, 2);
	cr_assert_eq(tools_of(&d, "alice", "changing", "a").serial, 2);
	cr_assert_eq(list_of(&d, "alice", "changing", "a", "prompts/list").serial, 1);

	/* A new connection (another user) has lists of its own. */
	cr_assert_eq(tools_of(&d, "bob", "changing", "b").serial, 1);
	itd_stop(&d);
	it_assert_no_children();
}

Test(cache, a_legacy_list_without_list_changed_is_never_cached)
{
	struct itd d;

	itd_start(&d, CACHE_CATALOG, NULL);
	/* Its ttlMs and cacheScope are not of its protocol: ignored. */
	cr_assert_eq(tools_of(&d, "alice", "plain", "a").serial, 1);
	cr_assert_eq(tools_of(&d, "alice", "plain", "a").serial, 2);
	cr_assert_eq(metric(&d, "mcppool_cache_hits_total"), 0);
	cr_assert_eq(metric(&d, "mcppool_cache_entries"), 0);
	itd_stop(&d);
	it_assert_no_children();
}

/* The serial of a tools/list request with params. */
static long long serial_with(struct itd *d, const char *params)
{
	json_t *r;
	long long serial;
	int st;

	r = itd_ctl_json(d, &st, ARGS("request", "alice", "pub", "tools/list", params, "-a", "token=a"));
	cr_assert_eq(st, 0);
	serial = json_integer_value(json_object_get(it_data(r), "serial"));
	json_decref(r);
	return serial;
}

Test(cache, a_retry_with_input_responses_is_neither_served_nor_stored)
{
	static const char retry[] = "{\"inputResponses\":{},\"requestState\":\"theirs\"}";
	struct itd d;

	itd_start(&d, CACHE_CATALOG, NULL);
	cr_assert_eq(serial_with(&d, retry), 1);
	cr_assert_eq(serial_with(&d, retry), 2, "the same retry reached the server again");
	cr_assert_eq(serial_with(&d, "{\"requestState\":\"theirs\"}"), 3);
	cr_assert_eq(serial_with(&d, "{\"requestState\":\"theirs\"}"), 4);
	cr_assert_eq(serial_with(&d, "{\"cursor\":\"x\"}"), 5);
	cr_assert_eq(serial_with(&d, "{\"cursor\":\"x\"}"), 5, "params are the key: cached");
	cr_assert_eq(metric(&d, "mcppool_cache_misses_total"), 1);
	cr_assert_eq(metric(&d, "mcppool_cache_hits_total"), 1);
	itd_stop(&d);
	it_assert_no_children();
}

Test(cache, a_cache_of_zero_bytes_is_off)
{
	struct itd d;

	itd_start(&d, CACHE_CATALOG, ARGS("MCPPOOL_CACHE_BYTES=0"));
	cr_assert_eq(tools_of(&d, "alice", "priv", "a").serial, 1);
	cr_assert_eq(tools_of(&d, "alice", "priv", "a").serial, 2);
	cr_assert_eq(metric(&d, "mcppool_cache_hits_total"), 0);
	cr_assert_eq(metric(&d, "mcppool_cache_misses_total"), 0);
	itd_stop(&d);
	it_assert_no_children();
}

/* Writes text to the .env file at path (made by mkstemp when path is empty). */
static void env_write(char path[64], const char *text)
{
	FILE *f;

	if (!path[0]) {
		int fd;

		strcpy(path, "/tmp/mcppool-cache-env-XXXXXX");
		fd = mkstemp(path);
		cr_assert(fd >= 0);
		close(fd);
	}
	f = fopen(path, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
}

static void reload(struct itd *d)
{
	json_t *r;
	int st;

	r = itd_ctl_json(d, &st, ARGS("reload"));
	cr_assert_eq(st, 0, "reload failed");
	json_decref(r);
}

Test(cache, a_reload_applies_a_new_size_and_empties_the_cache)
{
	char env[64] = "";
	struct itd d;

	env_write(env, "MCPPOOL_CACHE_BYTES=0\n");
	itd_start_args(&d, CACHE_CATALOG, NULL, NULL, ARGS("--env-file", env));
	cr_assert_eq(tools_of(&d, "alice", "priv", "a").serial, 1);
	cr_assert_eq(tools_of(&d, "alice", "priv", "a").serial, 2, "off");

	env_write(env, "MCPPOOL_CACHE_BYTES=65536\n");
	reload(&d);
	cr_assert_eq(tools_of(&d, "alice", "priv", "a").serial, 3);
	cr_assert_eq(tools_of(&d, "alice", "priv", "a").serial, 3, "on after the reload");

	reload(&d);
	cr_assert_eq(metric(&d, "mcppool_cache_entries"), 0, "a reload empties the cache");
	cr_assert_eq(tools_of(&d, "alice", "priv", "a").serial, 4);
	itd_stop(&d);
	unlink(env);
	it_assert_no_children();
}

static void notify_tools_changed(struct itd *d, const char *user, const char *mcp, const char *token)
{
	char auth[80];
	json_t *r;
	int st;

	snprintf(auth, sizeof(auth), "token=%s", token);
	r = itd_ctl_json(d, &st, ARGS("call", user, mcp, "notify",
				      "{\"method\":\"notifications/tools/list_changed\"}", "-a", auth));
	cr_assert_eq(st, 0);
	json_decref(r);
}

Test(cache, a_modern_server_s_list_changed_drops_its_cached_list_before_the_ttl)
{
	struct itd d;

	itd_start(&d, CACHE_CATALOG, NULL);
	cr_assert_eq(tools_of(&d, "alice", "pub", "a").serial, 1);
	cr_assert_eq(tools_of(&d, "alice", "pub", "a").serial, 1);
	notify_tools_changed(&d, "alice", "pub", "a");
	cr_assert_eq(tools_of(&d, "alice", "pub", "a").serial, 2, "the notification invalidates");
	cr_assert_eq(tools_of(&d, "bob", "pub", "b").serial, 2, "public: bob gets the new list");
	itd_stop(&d);
	it_assert_no_children();
}

static bool cache_empty(void *arg)
{
	return itd_metric(arg, "mcppool_cache_entries") == 0;
}

Test(cache, a_legacy_connection_s_lists_go_when_it_closes)
{
	struct itd d;
	json_t *r;
	int st;

	itd_start(&d, CACHE_CATALOG, NULL);
	cr_assert_eq(tools_of(&d, "alice", "changing", "a").serial, 1);
	cr_assert_eq(metric(&d, "mcppool_cache_entries"), 1);
	r = itd_ctl_json(&d, &st, ARGS("evict", "alice", "changing"));
	cr_assert_eq(st, 0);
	json_decref(r);
	cr_assert(it_poll(cache_empty, &d, 5000), "the closed connection's list is still cached");
	itd_stop(&d);
	it_assert_no_children();
}
