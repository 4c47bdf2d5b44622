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

/* A pointer the caller did not move is found, and undoing leaves the arena as it was. */
static void
test_clean_and_undo(void **state)
{
	struct arena a;
	struct arena_moved m;
	struct item *head, *orig;
	struct item **hidden; /* a pointer kept where move_all does not look */

	(void)state;
	arena_init_small(&a);
	orig = head = fill(&a, 300, "u");
	hidden = arena_alloc(&a, sizeof(*hidden));
	assert_non_null(hidden);
	*hidden = head;
	assert_int_equal(arena_compact(&a, &m), SVC_OK);
	head = move_all(&m, head);
	assert_false(arena_moved_clean(&m, &a));
	arena_moved_undo(&m, &a);
	/* The old blocks are back as they were: the original pointers still work. */
	check(orig, 300, "u");
	assert_ptr_equal(*hidden, orig);
	arena_deinit(&a);

	/* The same with the hidden pointer moved too: clean, and the data is whole. */
	arena_init_small(&a);
	head = fill(&a, 300, "v");
	hidden = arena_alloc(&a, sizeof(*hidden));
	*hidden = head;
	assert_int_equal(arena_compact(&a, &m), SVC_OK);
	head = move_all(&m, head);
	hidden = arena_moved_ptr(&m, hidden);
	*hidden = arena_moved_ptr(&m, *hidden);
	assert_true(arena_moved_clean(&m, &a));
	arena_moved_done(&m);
	check(head, 300, "v");
	assert_ptr_equal(*hidden, head);
	arena_deinit(&a);
}

/* Undo gives back the very blocks, with room to go on allocating. */
static void
test_undo_keeps_data(void **state)
{
	struct arena a;
	struct arena_moved m;
	struct item *head;

	(void)state;
	arena_init_small(&a);
	head = fill(&a, 200, "k");
	assert_int_equal(arena_compact(&a, &m), SVC_OK);
	arena_moved_undo(&m, &a);
	check(head, 200, "k");
	assert_non_null(fill(&a, 50, "more"));
	check(head, 200, "k");
	arena_deinit(&a);
}

/* Alignment gaps and rounding are zeroed: no bytes the heap left there (which could read as a
 * pointer into old blocks) in the aligned data. */
static void
test_gaps_zeroed(void **state)
{
	enum { N = 64 };
	struct arena a;
	unsigned char *p[N];

	(void)state;
	/* Leave the heap's next blocks full of 0xAA. */
	for (size_t size = 512; size <= 65536; size *= 2) {
		void *junk = malloc(size + 64);

		assert_non_null(junk);
		memset(junk, 0xAA, size + 64);
		free(junk);
	}
	arena_init_small(&a);
	for (int i = 0; i < N; i++) {
		p[i] = i % 3 == 0   ? arena_calloc(&a, 0, 40)
		       : i % 3 == 1 ? arena_alloc(&a, 1 + (size_t)i)
		                    : arena_alloc_aligned(&a, 4, 4);
		assert_non_null(p[i]);
	}
	for (int i = 0; i + 1 < N; i++) {
		/* Each gap up to the next allocation in the same block reads zero. */
		if (p[i + 1] > p[i] && p[i + 1] - p[i] <= 64)
			for (unsigned char *q = p[i]; q < p[i + 1]; q++)
				assert_int_equal(*q, 0);
	}
	arena_deinit(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_compact_moves_everything),
	        cmocka_unit_test(test_compact_empty),
	        cmocka_unit_test(test_recycle),
	        cmocka_unit_test(test_clean_and_undo),
	        cmocka_unit_test(test_undo_keeps_data),
	        cmocka_unit_test(test_gaps_zeroed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
