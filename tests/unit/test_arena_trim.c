/* test_arena_trim.c -- a complete arena gives the free middle of its newest block back. */
#include "testutil.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena.h"

/* How many pages of [FROM, TO) (page-aligned inward) are resident; -1 on error. */
static long
resident_pages(const char *from, const char *to)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)from + page - 1) & ~(uintptr_t)(page - 1);
	uintptr_t hi = (uintptr_t)to & ~(uintptr_t)(page - 1);
	unsigned char vec[64];
	long n = 0;

	if (hi <= lo || (hi - lo) / page > sizeof(vec))
		return -1;
	if (mincore((void *)lo, hi - lo, vec) != 0)
		return -1;
	for (size_t i = 0; i < (hi - lo) / page; i++)
		n += vec[i] & 1;
	return n;
}

static void
test_trim_keeps_data(void **state)
{
	struct arena a;
	uint64_t *nums;
	char *s, *t, *u;
	uint64_t *more;

	(void)state;
	arena_init(&a);
	nums = arena_alloc(&a, 100 * sizeof(*nums));
	for (int i = 0; i < 100; i++)
		nums[i] = (uint64_t)i * 7;
	s = arena_strdup(&a, "kept-string");
	arena_trim(&a);
	for (int i = 0; i < 100; i++)
		assert_int_equal(nums[i], (uint64_t)i * 7);
	assert_string_equal(s, "kept-string");
	/* Still usable: new allocations come zeroed from the released pages. */
	more = arena_alloc(&a, 20000 / 8 * 8);
	assert_non_null(more);
	for (size_t i = 0; i < 20000 / 8; i++)
		assert_int_equal(more[i], 0);
	memset(more, 0xee, 20000 / 8 * 8);
	t = arena_strdup(&a, "after");
	u = arena_alloc_bytes(&a, 9000);
	assert_non_null(u);
	for (size_t i = 0; i < 9000; i++)
		assert_int_equal(u[i], 0);
	assert_string_equal(t, "after");
	assert_string_equal(s, "kept-string");
	assert_int_equal(nums[99], 99 * 7);
	arena_trim(&a); /* twice, and on an empty arena */
	arena_deinit(&a);
	arena_trim(&a);
}

static void
test_trim_releases_pages(void **state)
{
	struct arena a;
	char *first, *last, *fill[3];
	long before, after;

	(void)state;
	/* Touch a whole block, free it, and take a block again (malloc hands back the same
	 * dirty memory, usually): its free middle is resident until trimmed. */
	arena_init(&a);
	for (int i = 0; i < 3; i++) {
		fill[i] = arena_alloc(&a, 16000);
		memset(fill[i], 0x5a, 16000);
	}
	arena_deinit(&a);
	first = arena_alloc(&a, 64);
	last = arena_strdup(&a, "top");
	before = resident_pages(first + 64, last);
	if (before <= 0) {
		arena_deinit(&a);
		skip(); /* the block came from fresh pages: nothing to release */
	}
	arena_trim(&a);
	after = resident_pages(first + 64, last);
	assert_int_equal(after, 0);
	assert_string_equal(last, "top");
	assert_int_equal(first[0], 0);
	arena_deinit(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_trim_keeps_data),
	        cmocka_unit_test(test_trim_releases_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
