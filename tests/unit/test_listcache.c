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
