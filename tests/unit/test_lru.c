/* test_lru.c -- least-recently-used order. */
#include "testutil.h"

#include "lru.h"

struct item {
	int id;
	struct lru_node ln;
};

static int
oldest_id(const struct lru *l)
{
	struct item *it = lru_item(l->oldest, struct item, ln);

	return it != NULL ? it->id : -1;
}

static void
test_order(void **state)
{
	struct item it[4] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}};
	struct lru l;

	(void)state;
	lru_init(&l);
	assert_int_equal(oldest_id(&l), -1);
	for (int i = 0; i < 4; i++)
		lru_push(&l, &it[i].ln);
	assert_int_equal(l.n, 4);
	assert_int_equal(oldest_id(&l), 0);
	lru_touch(&l, &it[0].ln); /* 1 2 3 0 */
	assert_int_equal(oldest_id(&l), 1);
	lru_remove(&l, &it[2].ln); /* 1 3 0 */
	lru_remove(&l, &it[1].ln); /* 3 0 */
	assert_int_equal(oldest_id(&l), 3);
	assert_ptr_equal(l.newest, &it[0].ln);
	lru_touch(&l, &it[0].ln); /* already newest */
	lru_remove(&l, &it[3].ln);
	lru_remove(&l, &it[0].ln);
	assert_int_equal(l.n, 0);
	assert_null(l.oldest);
	assert_null(l.newest);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
