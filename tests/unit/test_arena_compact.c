/* test_arena_compact.c -- an arena copied into one block of its size, and pointers moved. */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* A linked list of items with strings, as a zone piece holds nodes, names and answers. */
struct item {
	struct item *next;
	const char *text;
	uint64_t value;
};

static struct item *
fill(struct arena *a, int n, const char *tag)
{
	struct item *head = NULL;

	for (int i = 0; i < n; i++) {
		struct item *it = arena_alloc_aligned(a, sizeof(*it), _Alignof(struct item));

		assert_non_null(it);
		it->text = arena_printf(a, "%s-%d", tag, i);
		it->value = (uint64_t)i * 977;
		it->next = head;
		head = it;
	}
	return head;
}

static void
check(const struct item *head, int n, const char *tag)
{
	char want[64];
	int i = n;

	for (const struct item *it = head; it != NULL; it = it->next) {
		i--;
		snprintf(want, sizeof(want), "%s-%d", tag, i);
		assert_string_equal(it->text, want);
		assert_int_equal(it->value, (uint64_t)i * 977);
	}
	assert_int_equal(i, 0);
}

static struct item *
move_all(const struct arena_moved *m, struct item *head)
{
	head = arena_moved_ptr(m, head);
	for (struct item *it = head; it != NULL; it = it->next) {
		it->text = arena_moved_ptr(m, it->text);
		it->next = arena_moved_ptr(m, it->next);
	}
	return head;
}

static void
test_compact_moves_everything(void **state)
{
	struct arena a, other;
	struct arena_moved m;
	struct item *head, *more;
	char *big, *outside = strdup("outside");
	size_t total;

	(void)state;
	/* Blocks that double: many of them, the last half empty. */
	arena_init_small(&a);
	head = fill(&a, 3000, "x");
	/* A big allocation gets a block of its own behind the head. */
	big = arena_alloc(&a, 40000);
	assert_non_null(big);
	memset(big, 'b', 40000);
	/* Blocks moved in from another arena keep what they hold. */
	arena_init(&other);
	more = fill(&other, 500, "y");
	arena_move(&a, &other);
	total = a.total;

	assert_int_equal(arena_compact(&a, &m), SVC_OK);
	assert_true(m.n > 0);
	head = move_all(&m, head);
	more = move_all(&m, more);
	big = arena_moved_ptr(&m, big);
	/* Idempotent, and pointers outside the arena stay. */
	assert_ptr_equal(arena_moved_ptr(&m, head), head);
	assert_ptr_equal(arena_moved_ptr(&m, outside), outside);
	assert_null(arena_moved_ptr(&m, NULL));
	arena_moved_done(&m);

	check(head, 3000, "x");
	check(more, 500, "y");
	for (size_t i = 0; i < 40000; i++)
		assert_int_equal(big[i], 'b');
	assert_int_equal(a.total, total);
	/* One block, full: its size is what the arena held (each block's structs rounded to 16). */
	assert_int_equal(a.used, a.top);
	assert_true(a.used >= total && a.used < total + 16 * 64);

	/* Still usable. */
	assert_string_equal(arena_strdup(&a, "after"), "after");
	check(head, 3000, "x");
	arena_deinit(&a);
	free(outside);
}

static void
test_compact_empty(void **state)
{
	struct arena a;
	struct arena_moved m;

	(void)state;
	arena_init(&a);
	assert_int_equal(arena_compact(&a, &m), SVC_OK);
	assert_int_equal(m.n, 0);
	arena_moved_done(&m);
	arena_deinit(&a);
}

/* A working arena, compacted into each piece, takes its largest block back and fills it again:
 * no new block for the next piece. */
static void
test_recycle(void **state)
{
	struct arena work, piece[3];
	struct arena_moved m;
	struct item *heads[3];
	const char *tags[3] = {"p0", "p1", "p2"};

	(void)state;
	arena_init_sized(&work, 1 << 16);
	for (int k = 0; k < 3; k++) {
		const void *block;

		piece[k] = work;
		arena_init_sized(&work, 1 << 16);
		heads[k] = fill(&piece[k], 400, tags[k]);
		block = piece[k].head;
		assert_int_equal(arena_compact(&piece[k], &m), SVC_OK);
		heads[k] = move_all(&m, heads[k]);
		arena_moved_recycle(&m, &work);
		assert_non_null(work.head);
		assert_ptr_equal(work.head, block); /* the same block, empty again */
		assert_int_equal(work.used, 0);
	}
	for (int k = 0; k < 3; k++) {
		check(heads[k], 400, tags[k]);
		arena_deinit(&piece[k]);
	}
	/* Not empty: INTO keeps what it has, the old blocks go. */
	heads[0] = fill(&work, 10, "w");
	arena_init(&piece[0]);
	fill(&piece[0], 10, "z");
	assert_int_equal(arena_compact(&piece[0], &m), SVC_OK);
	arena_moved_recycle(&m, &work);
	check(heads[0], 10, "w");
	arena_deinit(&piece[0]);
	arena_deinit(&work);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_compact_moves_everything),
	        cmocka_unit_test(test_compact_empty),
	        cmocka_unit_test(test_recycle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
