/* test_htab.c -- the intrusive hash table, against a plain array on random operations. */
#include "testutil.h"

#include <stdlib.h>

#include "htab.h"

struct item {
	struct htab_node hn;
	uint32_t key;
	bool in;
};

static struct item *
lookup(const struct htab *t, uint32_t key)
{
	uint32_t h = htab_hash_u64(key);

	for (struct htab_node *n = htab_find(t, h); n != NULL; n = htab_next(n, h)) {
		struct item *it = htab_item(n, struct item, hn);

		if (it->key == key)
			return it;
	}
	return NULL;
}

static void
test_random_ops(void **state)
{
	enum { N = 5000, OPS = 200000 };
	struct item *items = calloc(N, sizeof(*items));
	struct htab t;
	size_t in = 0;
	unsigned seed = 12345;

	(void)state;
	htab_init(&t);
	for (size_t i = 0; i < N; i++)
		items[i].key = (uint32_t)i * 7919u; /* distinct keys */
	for (size_t op = 0; op < OPS; op++) {
		struct item *it = &items[rand_r(&seed) % N];

		if (!it->in) {
			assert_int_equal(htab_insert(&t, &it->hn, htab_hash_u64(it->key)), SVC_OK);
			it->in = true;
			in++;
		} else if (rand_r(&seed) % 2) {
			htab_remove(&t, &it->hn);
			it->in = false;
			in--;
		}
		assert_int_equal(t.n, in);
		it = &items[rand_r(&seed) % N];
		assert_ptr_equal(lookup(&t, it->key), it->in ? it : NULL);
	}
	/* Iteration sees each member once, and tolerates removing what it returns. */
	{
		struct htab_iter iter;
		size_t seen = 0;

		for (struct htab_node *n = htab_first(&iter, &t); n != NULL;
		     n = htab_iter_next(&iter)) {
			struct item *it = htab_item(n, struct item, hn);

			assert_true(it->in);
			it->in = false;
			htab_remove(&t, n);
			seen++;
		}
		assert_int_equal(seen, in);
		assert_int_equal(t.n, 0);
	}
	htab_deinit(&t);
	free(items);
}

/* Colliding hashes: every item is still found by its key. */
static void
test_same_hash(void **state)
{
	struct item items[64];
	struct htab t;

	(void)state;
	htab_init(&t);
	for (uint32_t i = 0; i < 64; i++) {
		items[i].key = i;
		htab_insert(&t, &items[i].hn, 42);
	}
	for (uint32_t i = 0; i < 64; i++) {
		size_t found = 0;

		for (struct htab_node *n = htab_find(&t, 42); n != NULL; n = htab_next(n, 42))
			found += htab_item(n, struct item, hn)->key == i;
		assert_int_equal(found, 1);
	}
	assert_null(htab_find(&t, 43));
	htab_deinit(&t);
}

/* Chains stay short with sequential keys and pointer-like hashes (the table mixes them). */
static void
test_spread(void **state)
{
	enum { N = 1 << 16 };
	struct item *items = calloc(N, sizeof(*items));
	struct htab t;
	size_t longest = 0;

	(void)state;
	htab_init(&t);
	for (uint32_t i = 0; i < N; i++)
		htab_insert(&t, &items[i].hn, i << 6); /* low bits all zero */
	for (size_t b = 0; b < ((size_t)1 << t.bits); b++) {
		size_t len = 0;

		for (struct htab_node *n = t.buckets[b]; n != NULL; n = n->next)
			len++;
		if (len > longest)
			longest = len;
	}
	assert_true(longest <= 8);
	htab_deinit(&t);
	free(items);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_random_ops),
	        cmocka_unit_test(test_same_hash),
	        cmocka_unit_test(test_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
