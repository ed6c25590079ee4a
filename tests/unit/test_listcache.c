/* Tests of the cache of cacheable list results. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "listcache.h"

static struct listcache c;

static void setup(void)
{
	cr_assert_eq(listcache_init(&c, 64 * 1024), 0);
}

static void teardown(void)
{
	listcache_destroy(&c);
}

TestSuite(listcache, .init = setup, .fini = teardown);

static const char *get(const char *scope, const char *method, const char *params, uint64_t now)
{
	static char out[4096];
	size_t len;
	const char *r = listcache_get(&c, scope, method, params, strlen(params), now, &len);

	if (!r)
		return NULL;
	cr_assert_lt(len, sizeof(out));
	memcpy(out, r, len);
	out[len] = '\0';
	return out;
}

static int put(const char *scope, const char *method, const char *params, const char *result,
	       uint64_t expires)
{
	return listcache_put(&c, scope, method, params, strlen(params), result, strlen(result), expires);
}

Test(listcache, only_list_methods_are_cacheable)
{
	cr_assert(listcache_method("tools/list", 10));
	cr_assert(listcache_method("resources/templates/list", 24));
	cr_assert(listcache_method("resources/read", 14));
	cr_assert_not(listcache_method("tools/call", 10));
	cr_assert_not(listcache_method("tools/lis", 9));
	cr_assert_not(listcache_method("tools/listx", 11));
}

Test(listcache, a_stored_result_is_served_until_it_expires)
{
	cr_assert_eq(put("alice", "tools/list", "{}", "{\"tools\":[]}", 1000), 0);
	cr_assert_str_eq(get("alice", "tools/list", "{}", 999), "{\"tools\":[]}");
	cr_assert_eq(c.hits, 1);
	cr_assert_null(get("alice", "tools/list", "{}", 1000), "served at its expiry");
	cr_assert_eq(c.misses, 1);
	cr_assert_eq(listcache_count(&c), 0, "an expired result is dropped when met");
	cr_assert_eq(c.bytes, 0);
}

Test(listcache, scopes_and_requests_never_mix)
{
	put("alice", "tools/list", "{}", "A", LISTCACHE_FOREVER);
	put("bob", "tools/list", "{}", "B", LISTCACHE_FOREVER);
	put("alice", "tools/list", "{\"cursor\":\"2\"}", "A2", LISTCACHE_FOREVER);
	put("alice", "prompts/list", "{}", "AP", LISTCACHE_FOREVER);
	cr_assert_str_eq(get("alice", "tools/list", "{}", 0), "A");
	cr_assert_str_eq(get("bob", "tools/list", "{}", 0), "B");
	cr_assert_str_eq(get("alice", "tools/list", "{\"cursor\":\"2\"}", 0), "A2");
	cr_assert_str_eq(get("alice", "prompts/list", "{}", 0), "AP");
	cr_assert_null(get("carol", "tools/list", "{}", 0), "another scope sees nothing");
	/* A scope that is a prefix of another is still another scope. */
	cr_assert_null(get("ali", "tools/list", "{}", 0));
}

Test(listcache, a_new_result_replaces_the_old)
{
	put("s", "tools/list", "{}", "old", LISTCACHE_FOREVER);
	put("s", "tools/list", "{}", "new!", LISTCACHE_FOREVER);
	cr_assert_str_eq(get("s", "tools/list", "{}", 0), "new!");
	cr_assert_eq(listcache_count(&c), 1);
}

Test(listcache, drop_takes_one_scope_by_method_prefix)
{
	put("conn1", "tools/list", "{}", "T", LISTCACHE_FOREVER);
	put("conn1", "resources/list", "{}", "R", LISTCACHE_FOREVER);
	put("conn1", "resources/templates/list", "{}", "RT", LISTCACHE_FOREVER);
	put("conn2", "resources/list", "{}", "R2", LISTCACHE_FOREVER);
	listcache_drop(&c, "conn1", "resources/");
	cr_assert_null(get("conn1", "resources/list", "{}", 0));
	cr_assert_null(get("conn1", "resources/templates/list", "{}", 0));
	cr_assert_str_eq(get("conn1", "tools/list", "{}", 0), "T");
	cr_assert_str_eq(get("conn2", "resources/list", "{}", 0), "R2");
	listcache_drop(&c, "conn1", NULL);
	cr_assert_null(get("conn1", "tools/list", "{}", 0));
	cr_assert_eq(listcache_count(&c), 1);
	listcache_drop(&c, "nobody", NULL); /* harmless */
	listcache_drop(&c, "conn2", NULL);
	cr_assert_eq(listcache_count(&c), 0);
	cr_assert_eq(c.bytes, 0);
}

Test(listcache, the_least_recently_used_go_past_the_bound)
{
	char result[4000], scope[16];

	memset(result, 'x', sizeof(result) - 1);
	result[sizeof(result) - 1] = '\0';
	for (int i = 0; i < 40; i++) { /* 40 x 4 KB into 64 KB */
		snprintf(scope, sizeof(scope), "u%d", i);
		cr_assert_eq(put(scope, "tools/list", "{}", result, LISTCACHE_FOREVER), 0);
		if (i == 5)
			cr_assert_not_null(get("u0", "tools/list", "{}", 0)); /* u0 used: kept longer */
	}
	cr_assert_leq(c.bytes, c.max_bytes);
	cr_assert_gt(c.evictions, 0);
	cr_assert_not_null(get("u39", "tools/list", "{}", 0), "the newest is kept");
	cr_assert_null(get("u1", "tools/list", "{}", 0), "the least recently used went first");
}

Test(listcache, a_result_too_large_for_the_cache_is_not_stored)
{
	static char big[10000];

	memset(big, 'y', sizeof(big) - 1);
	cr_assert_eq(put("s", "tools/list", "{}", big, LISTCACHE_FOREVER), -1);
	cr_assert_eq(listcache_count(&c), 0);
}

Test(listcache, a_zero_sized_cache_stores_nothing)
{
	struct listcache z;

	cr_assert_eq(listcache_init(&z, 0), 0);
	cr_assert_eq(listcache_put(&z, "s", "tools/list", "{}", 2, "r", 1, LISTCACHE_FOREVER), -1);
	listcache_destroy(&z);
}

Test(listcache, peek_does_not_count_and_note_does)
{
	size_t len;

	put("s", "tools/list", "{}", "R", LISTCACHE_FOREVER);
	cr_assert_not_null(listcache_peek(&c, "s", "tools/list", "{}", 2, 0, &len));
	cr_assert_null(listcache_peek(&c, "t", "tools/list", "{}", 2, 0, &len));
	cr_assert_eq(c.hits + c.misses, 0);
	listcache_note(&c, true);
	listcache_note(&c, false);
	cr_assert_eq(c.hits, 1);
	cr_assert_eq(c.misses, 1);
}

Test(listcache, a_key_longer_than_the_stack_buffer_is_found)
{
	static char params[3000];

	memset(params, 'p', sizeof(params) - 1);
	put("s", "resources/read", params, "R", LISTCACHE_FOREVER);
	cr_assert_str_eq(get("s", "resources/read", params, 0), "R");
}

Test(listcache, reset_drops_everything_keeps_the_counters_and_takes_the_new_bound)
{
	put("s", "tools/list", "{}", "R", LISTCACHE_FOREVER);
	cr_assert_not_null(get("s", "tools/list", "{}", 0));
	listcache_reset(&c, 0);
	cr_assert_eq(listcache_count(&c), 0);
	cr_assert_eq(c.bytes, 0);
	cr_assert_eq(c.hits, 1);
	cr_assert_eq(put("s", "tools/list", "{}", "R", LISTCACHE_FOREVER), -1, "0 bytes: off");
	listcache_reset(&c, 64 * 1024);
	cr_assert_eq(put("s", "tools/list", "{}", "R", LISTCACHE_FOREVER), 0);
}

Test(listcache, retries_with_input_responses_or_request_state_are_not_cacheable)
{
	cr_assert(listcache_params_cacheable(NULL, 0));
	cr_assert(listcache_params_cacheable("{\"cursor\":\"c\"}", 14));
	cr_assert_not(listcache_params_cacheable("{\"inputResponses\":{}}", 21));
	cr_assert_not(listcache_params_cacheable("{\"requestState\":\"x\"}", 20));
}

static bool hints(const char *result, uint64_t *ttl, bool *pub)
{
	return listcache_hints(result, strlen(result), ttl, pub);
}

Test(listcache, hints_need_a_positive_ttl_and_a_complete_result)
{
	uint64_t ttl;
	bool pub;

	cr_assert(hints("{\"tools\":[{\"name\":\"a\"}],\"ttlMs\":5000,\"cacheScope\":\"public\"}", &ttl, &pub));
	cr_assert_eq(ttl, 5000);
	cr_assert(pub);
	cr_assert(hints(" { \"ttlMs\" : 1.5e3 , \"resultType\" : \"complete\" } ", &ttl, &pub));
	cr_assert_eq(ttl, 1500);
	cr_assert_not(pub, "no cacheScope: private");
	cr_assert(hints("{\"ttlMs\":10,\"cacheScope\":\"private\"}", &ttl, &pub));
	cr_assert_not(pub);
	cr_assert(hints("{\"ttlMs\":1e30}", &ttl, &pub));
	cr_assert_eq(ttl, 24ULL * 3600 * 1000, "capped at a day");
	cr_assert_not(hints("{\"tools\":[]}", &ttl, &pub), "no ttlMs: immediately stale");
	cr_assert_not(hints("{\"ttlMs\":0}", &ttl, &pub));
	cr_assert_not(hints("{\"ttlMs\":-5}", &ttl, &pub));
	cr_assert_not(hints("{\"ttlMs\":\"5000\"}", &ttl, &pub));
	cr_assert_not(hints("{\"ttlMs\":5000,\"resultType\":\"input_required\"}", &ttl, &pub));
	cr_assert_not(hints("{\"tools\":{\"ttlMs\":5000}}", &ttl, &pub), "only the top level counts");
	cr_assert_not(hints("[1]", &ttl, &pub));
	cr_assert_not(hints("{\"ttlMs\":5000", &ttl, &pub));
	cr_assert(hints("{}", &ttl, &pub) == false);
}

Test(listcache, a_hit_tells_the_time_its_result_has_left_not_the_servers_ttl)
{
	const char *r = "{\"tools\":[{\"name\":\"ttlMs\"}], \"ttlMs\" : 60000 ,\"cacheScope\":\"public\"}";

	cr_assert_eq(put("pub", "tools/list", "{}", r, 1000 + 60000), 0);
	cr_assert_str_eq(get("pub", "tools/list", "{}", 1000), r, "at once: all of it is left");
	cr_assert_str_eq(get("pub", "tools/list", "{}", 1400),
			 "{\"tools\":[{\"name\":\"ttlMs\"}], \"ttlMs\" : 59600 ,\"cacheScope\":\"public\"}",
			 "only the top-level ttlMs counts down");
	cr_assert_str_eq(get("pub", "tools/list", "{}", 60999),
			 "{\"tools\":[{\"name\":\"ttlMs\"}], \"ttlMs\" : 1 ,\"cacheScope\":\"public\"}");
	/* A result kept until dropped (a legacy list) is served as it came. */
	cr_assert_eq(put("conn", "tools/list", "{}", r, LISTCACHE_FOREVER), 0);
	cr_assert_str_eq(get("conn", "tools/list", "{}", 50000), r);
}
