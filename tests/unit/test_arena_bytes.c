/* test_arena_bytes.c -- unaligned allocations pack tightly and leave aligned ones aligned. */
#include "testutil.h"

#include <stdint.h>
#include <string.h>

#include "arena.h"

static void
test_strings_pack(void **state)
{
	struct arena a;
	char *s, *t;
	void *p;

	(void)state;
	arena_init(&a);
	/* Strings follow each other with no padding (from the block's end down): "app" and NUL
	 * take 4 bytes, not 16. */
	s = arena_strdup(&a, "ns-1");
	t = arena_strdup(&a, "app");
	assert_ptr_equal(t + 4, s);
	assert_string_equal(s, "ns-1");
	assert_string_equal(t, "app");
	assert_int_equal(a.total, 9);
	/* An aligned allocation after them is still aligned, and zeroed. */
	p = arena_alloc(&a, 24);
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_true(((char *)p)[0] == 0 && ((char *)p)[23] == 0);
	assert_string_equal(t, "app");
	arena_deinit(&a);
}

static void
test_aligned(void **state)
{
	struct arena a;
	char *s, *p, *q;

	(void)state;
	arena_init(&a);
	/* 8-aligned: sizes round to 8, not 16; a string between them costs no padding. */
	p = arena_alloc_aligned(&a, 20, 8);
	s = arena_strdup(&a, "ab");
	q = arena_alloc_aligned(&a, 8, 8);
	assert_ptr_equal(q, p + 24);
	assert_string_equal(s, "ab");
	/* Anything but a power of two up to 16 means 16. */
	assert_int_equal((uintptr_t)arena_alloc_aligned(&a, 1, 3) % 16, 0);
	assert_int_equal((uintptr_t)arena_alloc_aligned(&a, 1, 32) % 16, 0);
	arena_deinit(&a);
}

static void
test_many_mixed(void **state)
{
	struct arena a;
	char *strs[5000];
	uint64_t *nums[5000];

	(void)state;
	arena_init(&a);
	/* Across many blocks: every string keeps its text, every aligned block its alignment. */
	for (size_t i = 0; i < 5000; i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "string-%zu-%.*s", i, (int)(i % 40),
		         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		strs[i] = arena_strdup(&a, buf);
		nums[i] = arena_alloc(&a, (i % 5 + 1) * sizeof(uint64_t));
		assert_non_null(strs[i]);
		assert_non_null(nums[i]);
		assert_int_equal((uintptr_t)nums[i] % 16, 0);
		*nums[i] = i;
	}
	for (size_t i = 0; i < 5000; i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "string-%zu-%.*s", i, (int)(i % 40),
		         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		assert_string_equal(strs[i], buf);
		assert_int_equal(*nums[i], i);
	}
	/* A byte allocation bigger than a quarter block gets its own block. */
	assert_non_null(arena_alloc_bytes(&a, 100001));
	arena_deinit(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_strings_pack),
	        cmocka_unit_test(test_aligned),
	        cmocka_unit_test(test_many_mixed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
