/* test_diag.c -- diagnostics: collection, order and format. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

static void
test_add_counts(void **state)
{
	struct diag d;

	(void)state;
	diag_init(&d);
	assert_int_equal(d.n, 0);
	diag_add(&d, DIAG_ERROR, "a.yaml", 3, 5, "spec.ports[0].port", "Required value");
	diag_add(&d, DIAG_WARNING, NULL, 0, 0, NULL, "loose %d", 7);
	diag_add(&d, DIAG_ERROR, "b.yaml", 1, 1, NULL, "%s-%s", "x", "y");
	assert_int_equal(d.n, 3);
	assert_int_equal(d.errors, 2);
	assert_int_equal(d.warnings, 1);
	assert_int_equal(d.entries[0].level, DIAG_ERROR);
	assert_string_equal(d.entries[0].file, "a.yaml");
	assert_int_equal(d.entries[0].line, 3);
	assert_int_equal(d.entries[0].col, 5);
	assert_string_equal(d.entries[0].field, "spec.ports[0].port");
	assert_string_equal(d.entries[0].message, "Required value");
	assert_null(d.entries[1].file);
	assert_null(d.entries[1].field);
	assert_string_equal(d.entries[1].message, "loose 7");
	assert_string_equal(d.entries[2].message, "x-y");
	tu_diag_expect(&d, DIAG_ERROR, "spec.ports[0].port", "Required");
	assert_null(tu_diag_find(&d, DIAG_WARNING, "spec.ports[0].port", NULL));
	diag_clear(&d);
	assert_int_equal(d.n, 0);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 0);
	/* Usable after clear. */
	diag_add(&d, DIAG_WARNING, "c", 1, 1, NULL, "w");
	assert_int_equal(d.n, 1);
	assert_int_equal(d.warnings, 1);
	diag_deinit(&d);
	assert_null(d.entries);
	assert_int_equal(d.n, 0);
}

/* The tests' one lookup (testutil): level, exact field, message substring; an entry that lost
 * its text (out of memory) matches no FIELD or NEEDLE and is still counted by level. */
static void
test_lookup(void **state)
{
	struct diag_entry e[4] = {
	        {.level = DIAG_ERROR, .field = "spec.ports[0].port", .message = "Required value"},
	        {.level = DIAG_WARNING, .field = "spec.ports[0].port", .message = "unknown field"},
	        {.level = DIAG_ERROR, .field = NULL, .message = NULL},
	        {.level = DIAG_ERROR, .field = "spec.ports[0]", .message = "Required value: x"},
	};
	struct diag d = {.entries = e, .n = 4, .cap = 4, .errors = 3, .warnings = 1};

	(void)state;
	assert_ptr_equal(tu_diag_find(&d, DIAG_ERROR, "spec.ports[0].port", "Required"), &e[0]);
	assert_ptr_equal(tu_diag_find(&d, DIAG_WARNING, "spec.ports[0].port", NULL), &e[1]);
	assert_ptr_equal(tu_diag_find(&d, DIAG_ERROR, "spec.ports[0]", NULL), &e[3]);
	assert_ptr_equal(tu_diag_find(&d, DIAG_ERROR, NULL, "x"), &e[3]);
	assert_ptr_equal(tu_diag_find(&d, DIAG_ERROR, NULL, NULL), &e[0]);
	assert_null(tu_diag_find(&d, DIAG_ERROR, "spec.ports", NULL));
	assert_null(tu_diag_find(&d, DIAG_WARNING, NULL, "Required"));
	assert_null(tu_diag_find(&d, DIAG_ERROR, NULL, "nothing"));
	assert_ptr_equal(tu_diag_expect(&d, DIAG_WARNING, NULL, "unknown"), &e[1]);
	assert_int_equal(tu_diag_count(&d, DIAG_ERROR, NULL, NULL), 3);
	assert_int_equal(tu_diag_count(&d, DIAG_ERROR, NULL, "Required value"), 2);
	assert_int_equal(tu_diag_count(&d, DIAG_ERROR, "spec.ports[0].port", NULL), 1);
	assert_int_equal(tu_diag_count(&d, DIAG_WARNING, "spec.ports[0]", NULL), 0);
}

static void
test_sort(void **state)
{
	struct diag d;

	(void)state;
	diag_init(&d);
	diag_add(&d, DIAG_ERROR, "b.yaml", 2, 1, NULL, "b2");
	diag_add(&d, DIAG_ERROR, "a.yaml", 10, 1, NULL, "a10");
	diag_add(&d, DIAG_ERROR, "a.yaml", 2, 9, NULL, "a2c9");
	diag_add(&d, DIAG_WARNING, "a.yaml", 2, 3, NULL, "a2c3");
	diag_add(&d, DIAG_ERROR, NULL, 0, 0, NULL, "nofile");
	diag_add(&d, DIAG_ERROR, "a.yaml", 2, 3, NULL, "a2c3-second");
	diag_sort(&d);
	assert_string_equal(d.entries[0].message, "nofile");
	assert_string_equal(d.entries[1].message, "a2c3");
	/* Equal positions keep insertion order. */
	assert_string_equal(d.entries[2].message, "a2c3-second");
	assert_string_equal(d.entries[3].message, "a2c9");
	/* Lines compare as numbers, not text. */
	assert_string_equal(d.entries[4].message, "a10");
	assert_string_equal(d.entries[5].message, "b2");
	assert_int_equal(d.errors, 5);
	assert_int_equal(d.warnings, 1);
	diag_deinit(&d);
}

static void
test_format(void **state)
{
	struct diag d;
	char buf[256];

	(void)state;
	diag_init(&d);
	diag_add(&d, DIAG_ERROR, "svc.yaml", 12, 7, "spec.ports[1].nodePort",
	         "Invalid value: %d: out of range", 8080);
	diag_add(&d, DIAG_WARNING, "svc.yaml", 4, 3, "spec.foo", "unknown field");
	diag_add(&d, DIAG_ERROR, "svc.yaml", 4, 0, NULL, "line only");
	diag_add(&d, DIAG_ERROR, "dir", 0, 0, NULL, "cannot read directory");
	diag_add(&d, DIAG_WARNING, NULL, 0, 0, "spec.x", "no file");
	diag_add(&d, DIAG_ERROR, NULL, 0, 0, NULL, "bare");
	diag_format(&d.entries[0], buf, sizeof(buf));
	assert_string_equal(
	        buf, "svc.yaml:12:7: spec.ports[1].nodePort: Invalid value: 8080: out of range");
	diag_format(&d.entries[1], buf, sizeof(buf));
	assert_string_equal(buf, "svc.yaml:4:3: warning: spec.foo: unknown field");
	diag_format(&d.entries[2], buf, sizeof(buf));
	assert_string_equal(buf, "svc.yaml:4: line only");
	diag_format(&d.entries[3], buf, sizeof(buf));
	assert_string_equal(buf, "dir: cannot read directory");
	diag_format(&d.entries[4], buf, sizeof(buf));
	assert_string_equal(buf, "warning: spec.x: no file");
	diag_format(&d.entries[5], buf, sizeof(buf));
	assert_string_equal(buf, "bare");
	/* A short buffer truncates, NUL-terminated. */
	diag_format(&d.entries[0], buf, 10);
	assert_string_equal(buf, "svc.yaml:");
	diag_format(&d.entries[0], buf, 20);
	assert_string_equal(buf, "svc.yaml:12:7: spec");
	diag_deinit(&d);
}

static void
test_print(void **state)
{
	struct diag d;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	diag_init(&d);
	diag_add(&d, DIAG_ERROR, "a.yaml", 1, 2, "metadata.name", "Required value");
	diag_add(&d, DIAG_WARNING, "a.yaml", 3, 4, NULL, "careful");
	f = open_memstream(&text, &len);
	assert_non_null(f);
	diag_print(&d, f);
	fclose(f);
	assert_string_equal(text, "a.yaml:1:2: metadata.name: Required value\n"
	                          "a.yaml:3:4: warning: careful\n");
	free(text);
	diag_deinit(&d);
}

static void
test_long_message(void **state)
{
	struct diag d;
	char big[3000];

	(void)state;
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	diag_init(&d);
	diag_add(&d, DIAG_ERROR, "f", 1, 1, NULL, "%s", big);
	assert_int_equal(d.errors, 1);
	assert_int_equal(strlen(d.entries[0].message), 1023);
	diag_deinit(&d);
}

static void
test_truncated(void **state)
{
	struct diag d;
	char *text = NULL;
	size_t len = 0, i;
	FILE *f;

	(void)state;
	diag_init(&d);
	for (i = 0; i < DIAG_MAX + 5; i++)
		diag_add(&d, i % 2 ? DIAG_WARNING : DIAG_ERROR, "f", (uint32_t)i + 1, 1, NULL,
		         "p%zu", i);
	assert_int_equal(d.n, DIAG_MAX);
	assert_true(d.truncated);
	/* Nothing is lost from the counts. */
	assert_int_equal(d.errors + d.warnings, DIAG_MAX + 5);
	assert_int_equal(d.errors, (DIAG_MAX + 5 + 1) / 2);
	f = open_memstream(&text, &len);
	diag_print(&d, f);
	fclose(f);
	assert_non_null(strstr(text, "(5 more problems not shown)\n"));
	free(text);
	diag_clear(&d);
	assert_false(d.truncated);
	diag_deinit(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_add_counts), cmocka_unit_test(test_lookup),
	        cmocka_unit_test(test_sort),       cmocka_unit_test(test_format),
	        cmocka_unit_test(test_print),      cmocka_unit_test(test_long_message),
	        cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
