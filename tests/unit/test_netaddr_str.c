/* test_netaddr_str.c -- IPv4 text without printf is exactly what inet_ntop writes. */
#include "testutil.h"

#include <arpa/inet.h>
#include <string.h>

#include "netaddr.h"

static void
check(const uint8_t b[4])
{
	struct netaddr n = {.family = NETADDR_V4};
	char got[NETADDR_STRLEN], want[NETADDR_STRLEN];

	memcpy(n.bytes, b, 4);
	assert_non_null(inet_ntop(AF_INET, n.bytes, want, sizeof(want)));
	assert_string_equal(netaddr_str(&n, got), want);
}

static void
test_v4_like_inet_ntop(void **state)
{
	(void)state;
	/* Every value in every position, and a stride through the whole space. */
	for (unsigned v = 0; v < 256; v++)
		for (int pos = 0; pos < 4; pos++) {
			uint8_t b[4] = {1, 22, 133, 4};

			b[pos] = (uint8_t)v;
			check(b);
		}
	for (uint64_t i = 0; i < (1ull << 32); i += 999983) {
		uint8_t b[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8),
		                (uint8_t)i};

		check(b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_v4_like_inet_ntop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
