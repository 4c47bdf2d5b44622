/* test_vec.c -- growable arrays on the heap and in an arena. */
#include "testutil.h"

#include <stdint.h>
#include <stdlib.h>

#include "arena.h"
#include "vec.h"

static void
test_push_heap(void **state)
{
	uint32_t *a = NULL;
	size_t n = 0, cap = 0;

	(void)state;
	for (uint32_t i = 0; i < 10000; i++) {
		uint32_t *slot = vec_push(&a, &n, &cap, sizeof(*a), NULL);

		assert_non_null(slot);
		assert_int_equal(*slot, 0);
		*slot = i;
	}
	assert_int_equal(n, 10000);
	assert_true(cap >= n && cap < 2 * n);
	for (uint32_t i = 0; i < 10000; i++)
		assert_int_equal(a[i], i);
	free(a);
}

static void
test_push_arena(void **state)
{
	struct arena ar;
	uint64_t *a = NULL;
	size_t n = 0, cap = 0;

	(void)state;
	arena_init(&ar);
	for (uint64_t i = 0; i < 3000; i++)
		*(uint64_t *)vec_push(&a, &n, &cap, sizeof(*a), &ar) = i * 3;
	for (uint64_t i = 0; i < 3000; i++)
		assert_int_equal(a[i], i * 3);
	arena_deinit(&ar);
}

static void
test_overflow(void **state)
{
	char *a = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(vec_reserve(&a, &cap, 0, SIZE_MAX / 2 + 2, 4, NULL), SVC_ENOMEM);
	assert_null(a);
	assert_int_equal(cap, 0);
	assert_int_equal(vec_reserve(&a, &cap, 0, 100, 1, NULL), SVC_OK);
	assert_true(cap >= 100);
	free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_push_heap),
	        cmocka_unit_test(test_push_arena),
	        cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
