/* test_b64.c -- base64: RFC 4648's vectors, binary round trips, and what is refused. */
#include "testutil.h"

#include <string.h>

#include "b64.h"

static void
test_vectors(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char out[32];
	uint8_t back[32];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		assert_int_equal(b64_encode((const uint8_t *)plain[i], strlen(plain[i]), out),
		                 strlen(coded[i]));
		assert_string_equal(out, coded[i]);
		assert_int_equal(b64_decode(coded[i], strlen(coded[i]), back, sizeof(back), &n),
		                 SVC_OK);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(back, plain[i], n);
	}
}

static void
test_binary(void **state)
{
	uint8_t in[256], back[256];
	char out[B64_ENCODED_LEN(256)];
	size_t n;

	(void)state;
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)(255 - i);
	for (size_t len = 0; len <= sizeof(in); len += 17) {
		size_t el = b64_encode(in, len, out);

		assert_int_equal(el + 1, B64_ENCODED_LEN(len));
		assert_int_equal(b64_decode(out, el, back, sizeof(back), &n), SVC_OK);
		assert_int_equal(n, len);
		assert_memory_equal(back, in, len);
	}
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
	        "Zg",       /* not a multiple of 4 */
	        "Zg=a",     /* data after padding */
	        "Z===",     /* too much padding */
	        "=g==",     /* padding first */
	        "Zh==",     /* bits left over */
	        "Zm9=",     /* bits left over */
	        "Zm9v\n",   /* a stray character */
	        "Zm-v",     /* the URL alphabet */
	        "Zg==Zg==", /* padding before the end */
	};
	uint8_t out[16];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(b64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
		                 SVC_EINVAL);
	/* Room for two bytes only. */
	assert_int_equal(b64_decode("Zm9v", 4, out, 2, &n), SVC_ELIMIT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_vectors),
	        cmocka_unit_test(test_binary),
	        cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
