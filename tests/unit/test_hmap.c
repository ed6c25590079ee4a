/* Tests of the intrusive string-keyed hash map. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "hmap.h"

#define MANY 100000

struct item {
	struct hmap_node node;
	char key[24];
	size_t keylen;
	int seen;
};

static struct item *items_new(size_t n)
{
	struct item *items = calloc(n, sizeof(*items));

	cr_assert_not_null(items);
	for (size_t i = 0; i < n; i++)
		items[i].keylen = (size_t)snprintf(items[i].key, sizeof(items[i].key), "user%zu:mcp", i);
	return items;
}

static void insert_all(struct hmap *m, struct item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_null(hmap_insert(m, &items[i].node, items[i].key, items[i].keylen));
}

static struct item *find(const struct hmap *m, const char *key, size_t keylen)
{
	struct hmap_node *n = hmap_find(m, key, keylen);

	return n ? (struct item *)(void *)((char *)n - offsetof(struct item, node)) : NULL;
}

Test(hmap, empty_map_finds_nothing_and_iterates_nothing)
{
	struct hmap m;

	cr_assert_eq(hmap_init(&m), 0);
	cr_assert_null(hmap_find(&m, "a", 1));
	cr_assert_null(hmap_next(&m, NULL));
	cr_assert_eq(hmap_count(&m), 0);
	hmap_destroy(&m);
}

Test(hmap, finds_every_one_of_100k_keys_after_growing)
{
	struct hmap m;
	struct item *items = items_new(MANY);

	cr_assert_eq(hmap_init(&m), 0);
	insert_all(&m, items, MANY);
	cr_assert_eq(hmap_count(&m), MANY);
	for (size_t i = 0; i < MANY; i++)
		cr_assert_eq(find(&m, items[i].key, items[i].keylen), &items[i], "key %s", items[i].key);
	cr_assert_null(find(&m, "user100000:mcp", strlen("user100000:mcp")));
	hmap_destroy(&m);
	free(items);
}

Test(hmap, load_factor_never_exceeds_one_and_buckets_stay_a_power_of_two)
{
	struct hmap m;
	struct item *items = items_new(MANY);

	cr_assert_eq(hmap_init(&m), 0);
	for (size_t i = 0; i < MANY; i++) {
		hmap_insert(&m, &items[i].node, items[i].key, items[i].keylen);
		cr_assert_leq(hmap_count(&m), m.mask + 1, "%zu keys in %zu buckets", hmap_count(&m),
			      m.mask + 1);
		cr_assert_eq((m.mask + 1) & m.mask, 0);
	}
	hmap_destroy(&m);
	free(items);
}

Test(hmap, removed_keys_are_gone_and_the_others_stay)
{
	struct hmap m;
	struct item *items = items_new(MANY);

	cr_assert_eq(hmap_init(&m), 0);
	insert_all(&m, items, MANY);
	for (size_t i = 0; i < MANY; i += 2)
		hmap_remove(&m, &items[i].node);
	cr_assert_eq(hmap_count(&m), MANY / 2);
	for (size_t i = 0; i < MANY; i++) {
		struct item *want = i % 2 ? &items[i] : NULL;

		cr_assert_eq(find(&m, items[i].key, items[i].keylen), want, "key %s", items[i].key);
	}
	hmap_destroy(&m);
	free(items);
}

Test(hmap, a_removed_key_can_be_inserted_again)
{
	struct hmap m;
	struct item a = { .key = "k" }, b = { .key = "k" };

	cr_assert_eq(hmap_init(&m), 0);
	cr_assert_null(hmap_insert(&m, &a.node, a.key, 1));
	hmap_remove(&m, &a.node);
	cr_assert_null(hmap_insert(&m, &b.node, b.key, 1));
	cr_assert_eq(find(&m, "k", 1), &b);
	hmap_destroy(&m);
}

Test(hmap, inserting_a_present_key_returns_its_holder_and_links_nothing)
{
	struct hmap m;
	struct item a = { .key = "same" }, b = { .key = "same" };

	cr_assert_eq(hmap_init(&m), 0);
	cr_assert_null(hmap_insert(&m, &a.node, a.key, 4));
	cr_assert_eq(hmap_insert(&m, &b.node, b.key, 4), &a.node);
	cr_assert_eq(hmap_count(&m), 1);
	cr_assert_eq(find(&m, "same", 4), &a);
	hmap_destroy(&m);
}

Test(hmap, keys_sharing_a_prefix_are_distinct)
{
	static const char *const keys[] = { "a", "ab", "abc", "u:", "u:x", "u:xy", "u", "" };
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	struct item items[8];
	struct hmap m;

	cr_assert_eq(hmap_init(&m), 0);
	for (size_t i = 0; i < n; i++) {
		items[i].keylen = strlen(keys[i]);
		cr_assert_null(hmap_insert(&m, &items[i].node, keys[i], items[i].keylen));
	}
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(find(&m, keys[i], strlen(keys[i])), &items[i], "key \"%s\"", keys[i]);
	cr_assert_null(find(&m, "abcd", 4));
	cr_assert_null(find(&m, "u:xyz", 5));
	hmap_destroy(&m);
}

Test(hmap, key_length_is_part_of_the_key)
{
	struct hmap m;
	struct item a, b;
	const char bytes[] = "ab\0cd";

	cr_assert_eq(hmap_init(&m), 0);
	cr_assert_null(hmap_insert(&m, &a.node, bytes, 2));
	cr_assert_null(hmap_insert(&m, &b.node, bytes, 5));
	cr_assert_eq(find(&m, "ab", 2), &a);
	cr_assert_eq(find(&m, bytes, 5), &b);
	cr_assert_null(find(&m, bytes, 3));
	hmap_destroy(&m);
}

Test(hmap, iteration_visits_every_node_once)
{
	struct hmap m;
	struct item *items = items_new(MANY);
	size_t visited = 0;

	cr_assert_eq(hmap_init(&m), 0);
	insert_all(&m, items, MANY);
	for (struct hmap_node *n = hmap_next(&m, NULL); n; n = hmap_next(&m, n)) {
		struct item *it = find(&m, n->key, n->keylen);

		cr_assert_eq(&it->node, n);
		it->seen++;
		visited++;
	}
	cr_assert_eq(visited, MANY);
	for (size_t i = 0; i < MANY; i++)
		cr_assert_eq(items[i].seen, 1, "key %s seen %d times", items[i].key, items[i].seen);
	hmap_destroy(&m);
	free(items);
}

Test(hmap, iteration_may_remove_the_node_it_holds)
{
	struct hmap m;
	struct item *items = items_new(1000);
	struct hmap_node *n, *next;
	size_t visited = 0;

	cr_assert_eq(hmap_init(&m), 0);
	insert_all(&m, items, 1000);
	for (n = hmap_next(&m, NULL); n; n = next) {
		next = hmap_next(&m, n);
		hmap_remove(&m, n);
		visited++;
	}
	cr_assert_eq(visited, 1000);
	cr_assert_eq(hmap_count(&m), 0);
	cr_assert_null(hmap_next(&m, NULL));
	hmap_destroy(&m);
	free(items);
}

Test(hmap, each_map_draws_its_own_random_seed)
{
	struct hmap a, b;

	cr_assert_eq(hmap_init(&a), 0);
	cr_assert_eq(hmap_init(&b), 0);
	cr_assert_neq(memcmp(a.seed, b.seed, sizeof(a.seed)), 0);
	hmap_destroy(&a);
	hmap_destroy(&b);
}
