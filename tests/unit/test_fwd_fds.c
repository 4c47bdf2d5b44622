/* test_fwd_fds.c -- the descriptor budget: the reserve kept out, each kind within its share,
 * all kinds within the budget, refusals counted, and what is given back taken again. */
#include "testutil.h"

#include "fwd_fds.h"

static void
test_budget_keeps_a_reserve(void **state)
{
	struct fwd_fds f;
	(void)state;

	fwd_fds_init(&f, 20000);
	assert_int_equal(f.limit, 20000);
	assert_int_equal(f.budget, 20000 - FWD_FDS_RESERVE);
	/* A small limit keeps a quarter instead. */
	fwd_fds_init(&f, 256);
	assert_int_equal(f.budget, 192);
	assert_int_equal(f.share[FWD_FD_LISTEN], 96);
	assert_int_equal(f.share[FWD_FD_UDP], 96);
	assert_int_equal(f.share[FWD_FD_PIPE], 48);
	assert_int_equal(f.share[FWD_FD_TCP], 192);
}

static void
test_kind_within_share(void **state)
{
	struct fwd_fds f;
	size_t n = 0;
	(void)state;

	fwd_fds_init(&f, 256);
	while (fwd_fds_take(&f, FWD_FD_UDP, 1))
		n++;
	assert_int_equal(n, f.share[FWD_FD_UDP]);
	assert_int_equal(f.refused[FWD_FD_UDP], 1);
	assert_int_equal(fwd_fds_room(&f, FWD_FD_UDP), 0);
	/* The others still have the rest of the budget. */
	assert_int_equal(fwd_fds_room(&f, FWD_FD_TCP), f.budget - n);
	fwd_fds_give(&f, FWD_FD_UDP, 1);
	assert_true(fwd_fds_take(&f, FWD_FD_UDP, 1));
}

static void
test_all_within_budget(void **state)
{
	struct fwd_fds f;
	size_t conns = 0;
	(void)state;

	fwd_fds_init(&f, 256);
	assert_true(fwd_fds_take(&f, FWD_FD_LISTEN, 90));
	assert_true(fwd_fds_take(&f, FWD_FD_UDP, 50));
	/* TCP may take what is left of the budget, two at a time, and no more. */
	while (fwd_fds_take(&f, FWD_FD_TCP, 2))
		conns++;
	assert_int_equal(conns, (192 - 140) / 2);
	assert_int_equal(f.total, 140 + 2 * conns);
	assert_true(f.total <= f.budget);
	assert_false(fwd_fds_take(&f, FWD_FD_LISTEN, 1));
	assert_false(fwd_fds_take(&f, FWD_FD_PIPE, 2));
	assert_int_equal(f.refused[FWD_FD_TCP], 1);
	assert_int_equal(f.refused[FWD_FD_LISTEN], 1);
	/* A connection closing makes room for a pipe. */
	fwd_fds_give(&f, FWD_FD_TCP, 2);
	assert_true(fwd_fds_take(&f, FWD_FD_PIPE, 2));
	assert_int_equal(f.used[FWD_FD_PIPE], 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_budget_keeps_a_reserve),
	        cmocka_unit_test(test_kind_within_share),
	        cmocka_unit_test(test_all_within_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
