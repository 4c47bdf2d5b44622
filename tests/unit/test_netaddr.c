/* test_netaddr.c -- IPv4/IPv6 addresses and prefixes. */
#include "testutil.h"

#include <string.h>

#include "netaddr.h"

static struct netaddr
A(const char *s) {
	struct netaddr a;

	assert_int_equal(netaddr_parse(&a, s), SVC_OK);
	return a;
}

static struct netaddr_prefix
P(const char *s) {
	struct netaddr_prefix p;

	assert_int_equal(netaddr_prefix_parse(&p, s), SVC_OK);
	return p;
}

static void
test_parse_v4(void **state)
{
	struct netaddr a;
	static const uint8_t want[4] = {10, 96, 0, 10};

	(void)state;
	assert_int_equal(netaddr_parse(&a, "10.96.0.10"), SVC_OK);
	assert_int_equal(a.family, NETADDR_V4);
	assert_memory_equal(a.bytes, want, 4);
	/* Unused bytes are zero so memcmp works. */
	assert_true(a.bytes[4] == 0 && a.bytes[15] == 0);
	assert_int_equal(netaddr_parse(&a, "0.0.0.0"), SVC_OK);
	assert_int_equal(netaddr_parse(&a, "255.255.255.255"), SVC_OK);
	assert_int_equal(netaddr_bits(&a), 32);
}

static void
test_parse_v4_invalid(void **state)
{
	static const char *const bad[] = {"010.1.1.1", "1.2.3",      "1.2.3.4.5", "256.1.1.1",
	                                  "1.2.3.4 ",  " 1.2.3.4",   "1.2.3.",    "1..2.3",
	                                  "0x1.2.3.4", "1.2.3.4/32", "",          "abc",
	                                  "-1.2.3.4",  "1.2.3.04"};
	struct netaddr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&a, 0x55, sizeof(a));
		if (netaddr_parse(&a, bad[i]) != SVC_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		/* A failed parse leaves a zeroed (NONE) address. */
		assert_int_equal(a.family, NETADDR_NONE);
		assert_int_equal(a.bytes[0], 0);
	}
	assert_int_equal(netaddr_parse(&a, NULL), SVC_EINVAL);
}

static void
test_parse_v6(void **state)
{
	struct netaddr a;
	static const uint8_t loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t ll[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4};

	(void)state;
	assert_int_equal(netaddr_parse(&a, "::1"), SVC_OK);
	assert_int_equal(a.family, NETADDR_V6);
	assert_memory_equal(a.bytes, loop, 16);
	assert_int_equal(netaddr_bits(&a), 128);
	assert_int_equal(netaddr_parse(&a, "fe80::1"), SVC_OK);
	assert_memory_equal(a.bytes, ll, 16);
	assert_int_equal(netaddr_parse(&a, "FE80:0:0:0:0:0:0:1"), SVC_OK);
	assert_memory_equal(a.bytes, ll, 16);
	assert_int_equal(netaddr_parse(&a, "::ffff:1.2.3.4"), SVC_OK);
	assert_int_equal(a.family, NETADDR_V6);
	assert_memory_equal(a.bytes, mapped, 16);
	assert_int_equal(netaddr_parse(&a, "::"), SVC_OK);
	assert_int_equal(a.family, NETADDR_V6);
}

static void
test_parse_v6_invalid(void **state)
{
	static const char *const bad[] = {
	        ":::1",         "fe80::1::2", "fe80::g",  "1:2:3:4:5:6:7:8:9",
	        "fe80::1%eth0", "[::1]",      "12345::1", "::1/128"};
	struct netaddr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (netaddr_parse(&a, bad[i]) != SVC_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void
test_prefix_parse(void **state)
{
	struct netaddr_prefix p;
	char buf[NETADDR_STRLEN + 4];
	static const char *const bad[] = {"10.96.0.1/12", /* host bits set */
	                                  "10.96.0.0/33",  "10.96.0.0/",    "10.96.0.0",
	                                  "10.96.0.0/-1",  "10.96.0.0/12x", "10.96.0.0/ 12",
	                                  "fd00::1/64",    "fd00::/129",    "/12",
	                                  "010.96.0.0/12", "fd00::/+8"};
	size_t i;

	(void)state;
	p = P("10.96.0.0/12");
	assert_int_equal(p.len, 12);
	assert_int_equal(p.addr.family, NETADDR_V4);
	assert_string_equal(netaddr_prefix_str(&p, buf), "10.96.0.0/12");
	p = P("fd00:10:96::/108");
	assert_int_equal(p.len, 108);
	assert_string_equal(netaddr_prefix_str(&p, buf), "fd00:10:96::/108");
	p = P("0.0.0.0/0");
	assert_int_equal(p.len, 0);
	p = P("10.0.0.1/32");
	assert_int_equal(p.len, 32);
	p = P("::/0");
	assert_int_equal(p.addr.family, NETADDR_V6);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (netaddr_prefix_parse(&p, bad[i]) != SVC_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void
test_in_prefix(void **state)
{
	struct netaddr_prefix p = P("10.96.0.0/12"), p6 = P("fd00:10:96::/108");
	struct netaddr_prefix p0 = P("0.0.0.0/0"), p32 = P("10.1.2.3/32");
	struct netaddr a;

	(void)state;
	a = A("10.96.0.0");
	assert_true(netaddr_in_prefix(&a, &p));
	a = A("10.111.255.255");
	assert_true(netaddr_in_prefix(&a, &p));
	a = A("10.112.0.0");
	assert_false(netaddr_in_prefix(&a, &p));
	a = A("10.95.255.255");
	assert_false(netaddr_in_prefix(&a, &p));
	a = A("11.96.0.1");
	assert_false(netaddr_in_prefix(&a, &p));
	a = A("fd00:10:96::f:ffff");
	assert_true(netaddr_in_prefix(&a, &p6));
	a = A("fd00:10:96::10:0");
	assert_false(netaddr_in_prefix(&a, &p6));
	/* Families never match across. */
	assert_false(netaddr_in_prefix(&a, &p));
	a = A("::ffff:10.96.0.1");
	assert_false(netaddr_in_prefix(&a, &p));
	a = A("10.96.0.1");
	assert_false(netaddr_in_prefix(&a, &p6));
	a = A("203.0.113.7");
	assert_true(netaddr_in_prefix(&a, &p0));
	a = A("10.1.2.3");
	assert_true(netaddr_in_prefix(&a, &p32));
	a = A("10.1.2.2");
	assert_false(netaddr_in_prefix(&a, &p32));
}

static void
test_offset_at(void **state)
{
	struct netaddr_prefix p = P("10.96.0.0/12"), p6 = P("fd00:10:96::/108");
	struct netaddr a, b;
	char buf[NETADDR_STRLEN];
	uint64_t off;

	(void)state;
	a = A("10.96.1.2");
	assert_int_equal(netaddr_offset(&p, &a), 258);
	netaddr_at(&p, 258, &b);
	assert_true(netaddr_equal(&a, &b));
	netaddr_at(&p, 0, &b);
	assert_string_equal(netaddr_str(&b, buf), "10.96.0.0");
	netaddr_at(&p, (1u << 20) - 1, &b);
	assert_string_equal(netaddr_str(&b, buf), "10.111.255.255");
	assert_int_equal(netaddr_offset(&p, &b), (1u << 20) - 1);
	netaddr_at(&p6, 0xabcde, &b);
	assert_string_equal(netaddr_str(&b, buf), "fd00:10:96::a:bcde");
	assert_int_equal(netaddr_offset(&p6, &b), 0xabcde);
	/* Round trip over a spread of offsets. */
	for (off = 0; off < (1u << 20); off += 4099) {
		netaddr_at(&p, off, &b);
		assert_true(netaddr_in_prefix(&b, &p));
		assert_int_equal(netaddr_offset(&p, &b), off);
		netaddr_at(&p6, off, &b);
		assert_true(netaddr_in_prefix(&b, &p6));
		assert_int_equal(netaddr_offset(&p6, &b), off);
	}
}

static void
test_prefix_size(void **state)
{
	struct netaddr_prefix p;

	(void)state;
	p = P("10.96.0.0/12");
	assert_int_equal(netaddr_prefix_size(&p), 1u << 20);
	p = P("10.0.0.0/29");
	assert_int_equal(netaddr_prefix_size(&p), 8);
	p = P("10.0.0.1/32");
	assert_int_equal(netaddr_prefix_size(&p), 1);
	p = P("0.0.0.0/0");
	assert_int_equal(netaddr_prefix_size(&p), (uint64_t)1 << 32);
	p = P("fd00:10:96::/108");
	assert_int_equal(netaddr_prefix_size(&p), 1u << 20);
	p = P("fd00::/66");
	assert_int_equal(netaddr_prefix_size(&p), (uint64_t)1 << 62);
	/* Saturated at 2^63. */
	p = P("fd00::/64");
	assert_int_equal(netaddr_prefix_size(&p), (uint64_t)1 << 63);
	p = P("::/0");
	assert_int_equal(netaddr_prefix_size(&p), (uint64_t)1 << 63);
}

static void
test_is_special(void **state)
{
	static const char *const special[] = {
	        "0.0.0.0",   "0.1.2.3",   "127.0.0.1",       "127.255.0.1", "169.254.0.1",
	        "224.0.0.1", "239.1.1.1", "255.255.255.255", "::",          "::1",
	        "fe80::1",   "febf::1",   "ff02::1"};
	static const char *const normal[] = {
	        "10.0.0.1", "1.1.1.1",     "169.253.1.1", "223.255.255.254", "192.168.1.1",
	        "fd00::1",  "2001:db8::1", "::2",         "fec0::1",         "fe00::1"};
	struct netaddr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		a = A(special[i]);
		if (!netaddr_is_special(&a))
			fail_msg("%s should be special", special[i]);
	}
	for (i = 0; i < sizeof(normal) / sizeof(normal[0]); i++) {
		a = A(normal[i]);
		if (netaddr_is_special(&a))
			fail_msg("%s should not be special", normal[i]);
	}
}

static void
test_str_cmp_hash(void **state)
{
	struct netaddr a, b, none;
	char buf[NETADDR_STRLEN];

	(void)state;
	a = A("10.96.0.1");
	assert_string_equal(netaddr_str(&a, buf), "10.96.0.1");
	a = A("FD00:0010:0096:0000:0000:0000:0000:000A");
	assert_string_equal(netaddr_str(&a, buf), "fd00:10:96::a");
	a = A("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	assert_string_equal(netaddr_str(&a, buf), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	memset(&none, 0, sizeof(none));
	assert_string_equal(netaddr_str(&none, buf), "<none>");

	a = A("10.0.0.2");
	b = A("10.0.0.10");
	assert_true(netaddr_cmp(&a, &b) < 0);
	assert_true(netaddr_cmp(&b, &a) > 0);
	assert_false(netaddr_equal(&a, &b));
	b = A("10.0.0.2");
	assert_int_equal(netaddr_cmp(&a, &b), 0);
	assert_true(netaddr_equal(&a, &b));
	assert_int_equal(netaddr_hash(&a), netaddr_hash(&b));
	/* Every IPv4 address sorts before every IPv6 address. */
	b = A("::");
	assert_true(netaddr_cmp(&a, &b) < 0);
	a = A("255.255.255.255");
	assert_true(netaddr_cmp(&a, &b) < 0);
	a = A("0.0.0.0");
	assert_true(netaddr_hash(&a) != netaddr_hash(&b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_v4),     cmocka_unit_test(test_parse_v4_invalid),
	        cmocka_unit_test(test_parse_v6),     cmocka_unit_test(test_parse_v6_invalid),
	        cmocka_unit_test(test_prefix_parse), cmocka_unit_test(test_in_prefix),
	        cmocka_unit_test(test_offset_at),    cmocka_unit_test(test_prefix_size),
	        cmocka_unit_test(test_is_special),   cmocka_unit_test(test_str_cmp_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
