/* test_arena.c -- the region allocator. */
#include "testutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

static bool
all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

static void
test_alignment(void **state)
{
	struct arena a;
	size_t sizes[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 1000, 4095, 20000, 70000};
	size_t i, round;

	(void)state;
	arena_init(&a);
	for (round = 0; round < 50; round++) {
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			void *p = arena_alloc(&a, sizes[i]);

			assert_non_null(p);
			assert_int_equal((uintptr_t)p % 16, 0);
			assert_true(all_zero(p, sizes[i]));
			memset(p, 0xa5, sizes[i]);
		}
	}
	arena_deinit(&a);
	assert_null(a.head);
	assert_int_equal(a.total, 0);
	assert_int_equal(a.used, 0);
}

static void
test_zeroing_and_total(void **state)
{
	struct arena a;
	unsigned char *p, *q;

	(void)state;
	arena_init(&a);
	p = arena_alloc(&a, 10);
	assert_non_null(p);
	memset(p, 0xff, 10);
	q = arena_alloc(&a, 10);
	assert_non_null(q);
	/* Rounded up to 16: the next allocation follows right after. */
	assert_ptr_equal(q, p + 16);
	assert_true(all_zero(q, 10));
	assert_int_equal(p[9], 0xff);
	assert_int_equal(a.total, 32);
	assert_int_equal(a.used, 32);
	/* Zero size still gives a distinct valid pointer. */
	assert_non_null(arena_alloc(&a, 0));
	arena_deinit(&a);
}

static void
test_arena_calloc(void **state)
{
	struct arena a;
	int32_t *v;
	size_t i;

	(void)state;
	arena_init(&a);
	v = arena_calloc(&a, 1000, sizeof(*v));
	assert_non_null(v);
	for (i = 0; i < 1000; i++)
		assert_int_equal(v[i], 0);
	v[999] = 7;
	assert_non_null(arena_calloc(&a, 0, 8));
	assert_non_null(arena_calloc(&a, 8, 0));
	/* n * size overflows: NULL, not a short block. */
	assert_null(arena_calloc(&a, SIZE_MAX / 2, 4));
	assert_null(arena_alloc(&a, SIZE_MAX));
	assert_null(arena_alloc(&a, SIZE_MAX - 8));
	arena_deinit(&a);
}

static void
test_big_allocations(void **state)
{
	struct arena a;
	char *small1, *big, *small2, *big2;
	struct arena_block *head;

	(void)state;
	arena_init(&a);
	small1 = arena_alloc(&a, 16);
	assert_non_null(small1);
	head = a.head;
	/* Bigger than a quarter block: its own block behind the head, the head keeps filling. */
	big = arena_alloc(&a, 200000);
	assert_non_null(big);
	assert_true(all_zero(big, 200000));
	memset(big, 1, 200000);
	assert_ptr_equal(a.head, head);
	small2 = arena_alloc(&a, 16);
	assert_ptr_equal(small2, small1 + 16);
	assert_int_equal(a.total, 16 + 200000 + 16);
	/* A big allocation into an empty arena. */
	arena_deinit(&a);
	big2 = arena_alloc(&a, 100000);
	assert_non_null(big2);
	assert_true(all_zero(big2, 100000));
	small1 = arena_alloc(&a, 32);
	assert_non_null(small1);
	assert_true(all_zero(small1, 32));
	memset(big2, 2, 100000);
	assert_int_equal(small1[0], 0);
	arena_deinit(&a);
}

static void
test_many_blocks(void **state)
{
	struct arena a;
	char *ptrs[3000];
	size_t i;

	(void)state;
	arena_init(&a);
	/* 3000 * 1008 bytes spans many 64 KiB blocks; every block keeps its contents. */
	for (i = 0; i < 3000; i++) {
		ptrs[i] = arena_alloc(&a, 1000);
		assert_non_null(ptrs[i]);
		memset(ptrs[i], (int)(i & 0x7f), 1000);
	}
	for (i = 0; i < 3000; i++) {
		assert_int_equal(ptrs[i][0], (int)(i & 0x7f));
		assert_int_equal(ptrs[i][999], (int)(i & 0x7f));
	}
	assert_int_equal(a.total, 3000 * 1008);
	arena_deinit(&a);
}

static void
test_strdup_printf(void **state)
{
	struct arena a;
	char *s, *t, *u, *big;
	char longtxt[5000];

	(void)state;
	arena_init(&a);
	s = arena_strdup(&a, "hello");
	assert_string_equal(s, "hello");
	t = arena_strndup(&a, "abcdef", 3);
	assert_string_equal(t, "abc");
	assert_int_equal(strlen(arena_strndup(&a, "x\0yz", 4)), 1);
	u = arena_printf(&a, "%s/%d:%05.1f", "ns", 42, 3.14159);
	assert_string_equal(u, "ns/42:003.1");
	assert_string_equal(arena_printf(&a, "%s", ""), "");
	memset(longtxt, 'q', sizeof(longtxt) - 1);
	longtxt[sizeof(longtxt) - 1] = '\0';
	big = arena_printf(&a, "<%s>", longtxt);
	assert_int_equal(strlen(big), sizeof(longtxt) + 1);
	assert_int_equal(big[0], '<');
	assert_int_equal(big[sizeof(longtxt)], '>');
	assert_string_equal(s, "hello");
	arena_deinit(&a);
}

static void
test_move(void **state)
{
	struct arena dst, src, empty;
	char *a1, *b1, *b2, *a2;
	size_t total;

	(void)state;
	arena_init(&dst);
	arena_init(&src);
	arena_init(&empty);
	a1 = arena_strdup(&dst, "dst-one");
	b1 = arena_strdup(&src, "src-one");
	b2 = arena_alloc(&src, 300000); /* a second block in src */
	memset(b2, 'b', 300000);
	total = dst.total + src.total;
	arena_move(&dst, &src);
	assert_null(src.head);
	assert_int_equal(src.total, 0);
	assert_int_equal(src.used, 0);
	assert_int_equal(dst.total, total);
	/* DST keeps filling its own head block (strings pack, from the block's end down:
	 * "dst-two" and its NUL right below "dst-one"). */
	a2 = arena_strdup(&dst, "dst-two");
	assert_ptr_equal(a2 + 8, a1);
	assert_string_equal(b1, "src-one");
	assert_int_equal(b2[299999], 'b');
	/* Moving an empty arena changes nothing. */
	arena_move(&dst, &empty);
	assert_int_equal(dst.total, total + 8);
	/* Moving into an empty arena takes everything over. */
	arena_move(&empty, &dst);
	assert_null(dst.head);
	assert_string_equal(a1, "dst-one");
	assert_string_equal(b1, "src-one");
	assert_int_equal(empty.total, total + 8);
	/* SRC is usable again after a move. */
	assert_string_equal(arena_strdup(&src, "again"), "again");
	arena_deinit(&src);
	arena_deinit(&empty); /* frees every block: ASan reports any leak */
	arena_deinit(&dst);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_alignment),    cmocka_unit_test(test_zeroing_and_total),
	        cmocka_unit_test(test_arena_calloc), cmocka_unit_test(test_big_allocations),
	        cmocka_unit_test(test_many_blocks),  cmocka_unit_test(test_strdup_printf),
	        cmocka_unit_test(test_move),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
