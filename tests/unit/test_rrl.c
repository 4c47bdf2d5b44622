/* test_rrl.c -- response rate limiting: the rate per bucket, the slip, what shares a bucket. */
#include "testutil.h"

#include <string.h>

#include "rrl.h"

static const uint8_t name_a[] = "\3www\7example\3com";
static const uint8_t name_b[] = "\3ftp\7example\3com";

static struct netaddr
v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct netaddr n = {.family = NETADDR_V4, .bytes = {a, b, c, d}};

	return n;
}

/* Of N answers in one second, how many pass, drop and slip. */
static void
burst(struct rrl *r, const struct netaddr *client, enum rrl_class cls, const uint8_t *name, int n,
      uint64_t now, int *pass, int *drop, int *slip)
{
	*pass = *drop = *slip = 0;
	for (int i = 0; i < n; i++) {
		switch (rrl_check(r, client, cls, name, sizeof(name_a), now)) {
		case RRL_PASS:
			(*pass)++;
			break;
		case RRL_DROP:
			(*drop)++;
			break;
		case RRL_SLIP:
			(*slip)++;
			break;
		}
	}
}

static void
test_rate_and_slip(void **state)
{
	struct rrl *r;
	struct netaddr c = v4(198, 51, 100, 7);
	int pass, drop, slip;

	(void)state;
	assert_int_equal(rrl_create(50, 2, 4096, &r), SVC_OK);
	/* 1,000 answers in one second: 50 pass; of the 950 over, every second one slips. */
	burst(r, &c, RRL_ANSWER, name_a, 1000, 100, &pass, &drop, &slip);
	assert_int_equal(pass, 50);
	assert_int_equal(slip, 475);
	assert_int_equal(drop, 475);
	/* The next second refills it. */
	burst(r, &c, RRL_ANSWER, name_a, 60, 101, &pass, &drop, &slip);
	assert_int_equal(pass, 50);
	assert_int_equal(drop + slip, 10);
	rrl_destroy(r);
}

static void
test_buckets(void **state)
{
	struct rrl *r;
	struct netaddr c1 = v4(198, 51, 100, 7), c2 = v4(198, 51, 100, 200),
	               c3 = v4(198, 51, 101, 7);
	int pass, drop, slip;

	(void)state;
	assert_int_equal(rrl_create(10, 0, 4096, &r), SVC_OK);
	burst(r, &c1, RRL_ANSWER, name_a, 100, 5, &pass, &drop, &slip);
	assert_int_equal(pass, 10);
	assert_int_equal(slip, 0); /* slip 0: everything over the rate is dropped */
	/* The same /24 shares the bucket. */
	burst(r, &c2, RRL_ANSWER, name_a, 5, 5, &pass, &drop, &slip);
	assert_int_equal(pass, 0);
	/* Another /24, another name, another class: buckets of their own. */
	burst(r, &c3, RRL_ANSWER, name_a, 5, 5, &pass, &drop, &slip);
	assert_int_equal(pass, 5);
	burst(r, &c1, RRL_ANSWER, name_b, 5, 5, &pass, &drop, &slip);
	assert_int_equal(pass, 5);
	burst(r, &c1, RRL_NXDOMAIN, name_a, 5, 5, &pass, &drop, &slip);
	assert_int_equal(pass, 5);
	rrl_destroy(r);
}

static void
test_v6_prefix(void **state)
{
	struct rrl *r;
	struct netaddr a, b, c;
	int pass, drop, slip;

	(void)state;
	assert_int_equal(netaddr_parse(&a, "2001:db8:0:100::1"), SVC_OK);
	assert_int_equal(netaddr_parse(&b, "2001:db8:0:1ff::2"), SVC_OK); /* same /56 */
	assert_int_equal(netaddr_parse(&c, "2001:db8:0:200::1"), SVC_OK); /* another /56 */
	assert_int_equal(rrl_create(3, 0, 64, &r), SVC_OK);
	burst(r, &a, RRL_ANSWER, name_a, 3, 1, &pass, &drop, &slip);
	assert_int_equal(pass, 3);
	burst(r, &b, RRL_ANSWER, name_a, 3, 1, &pass, &drop, &slip);
	assert_int_equal(pass, 0);
	burst(r, &c, RRL_ANSWER, name_a, 3, 1, &pass, &drop, &slip);
	assert_int_equal(pass, 3);
	rrl_destroy(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rate_and_slip),
	        cmocka_unit_test(test_buckets),
	        cmocka_unit_test(test_v6_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
