/* test_etcdjson.c -- etcd's answers parsed into arenas: the tree reads as json_loadb's does,
 * values made elsewhere keep malloc's, trees freed in any order, a value larger than a block,
 * failures leave nothing behind (the sanitizer build checks for leaks and stray frees). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcdjson.h"
#include "testutil.h"

static void
test_load(void **state)
{
	const char *text = "{\"header\": {\"revision\": \"42\"}, \"kvs\": [{\"key\": \"a2V5\", "
	                   "\"value\": \"dmFsdWU=\"}, {\"key\": \"eA==\"}], \"more\": true}";
	json_error_t je;
	json_t *a, *b, *mine;
	char big[300000];
	(void)state;

	a = etcdjson_load(text, strlen(text), &je);
	assert_non_null(a);
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(a, "header"), "revision")), "42");
	assert_int_equal(json_array_size(json_object_get(a, "kvs")), 2);
	assert_true(json_is_true(json_object_get(a, "more")));
	/* A second tree alive at once, and a value made by hand meanwhile. */
	b = etcdjson_load("[1, 2, 3]", 9, &je);
	assert_non_null(b);
	mine = json_pack("{s:s}", "k", "v");
	assert_non_null(mine);
	/* A child of A referenced past a change to A, and A freed before B. */
	json_incref(json_object_get(a, "header"));
	json_decref(json_object_get(a, "header"));
	json_decref(a);
	assert_int_equal(json_integer_value(json_array_get(b, 2)), 3);
	json_decref(b);
	assert_string_equal(json_string_value(json_object_get(mine, "k")), "v");
	json_decref(mine);

	/* Bad JSON: NULL, and the error says where. */
	assert_null(etcdjson_load("{\"a\": [1, 2", 11, &je));
	assert_true(je.position > 0);
	/* Not an object or array: refused, as json_loadb refuses it. */
	assert_null(etcdjson_load("true", 4, &je));
	/* A value past one block of the arena. */
	big[0] = '[';
	big[1] = '"';
	memset(big + 2, 'x', sizeof(big) - 5);
	big[sizeof(big) - 3] = '"';
	big[sizeof(big) - 2] = ']';
	big[sizeof(big) - 1] = '\0';
	a = etcdjson_load(big, strlen(big), &je);
	assert_non_null(a);
	assert_int_equal(json_string_length(json_array_get(a, 0)), sizeof(big) - 5);
	json_decref(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
