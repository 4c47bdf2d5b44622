/* test_posmap.c -- source positions by field address: random puts and gets against a plain
 * array, and the size of an entry. */
#include "testutil.h"

#include <stdlib.h>

#include "posmap.h"

enum { N_FIELDS = 3000 };

struct ref {
	bool set[2];
	uint32_t line[2], col[2];
};

static void
check_all(struct posmap *m, const char *fields, const struct ref *ref)
{
	for (size_t i = 0; i < N_FIELDS; i++) {
		for (int tag = 0; tag < 2; tag++) {
			uint32_t line = 0, col = 0;
			bool got = posmap_get(m, fields + i, (enum posmap_tag)tag, &line, &col);

			assert_int_equal(got, ref[i].set[tag]);
			if (got) {
				assert_int_equal(line, ref[i].line[tag]);
				assert_int_equal(col, ref[i].col[tag]);
			}
		}
	}
}

/* Puts (some of them replacing a position) interleaved with gets in bursts of every size, so
 * the unsorted tail, the run merging and the replacement across runs are all exercised. */
static void
test_random(void **state)
{
	char *fields = malloc(N_FIELDS); /* one address per field, adjacent as in a struct */
	struct ref *ref = calloc(N_FIELDS, sizeof(*ref));
	struct posmap m;
	unsigned seed = 4242;

	(void)state;
	posmap_init(&m, NULL);
	for (int round = 0; round < 400; round++) {
		size_t puts = (size_t)rand_r(&seed) % (round % 7 == 0 ? 2000 : 40);

		for (size_t k = 0; k < puts; k++) {
			size_t i = (size_t)rand_r(&seed) % N_FIELDS;
			int tag = rand_r(&seed) % 2;
			uint32_t line = (uint32_t)rand_r(&seed), col = (uint32_t)rand_r(&seed);

			assert_int_equal(
			        posmap_put(&m, fields + i, (enum posmap_tag)tag, line, col),
			        SVC_OK);
			ref[i].set[tag] = true;
			ref[i].line[tag] = line;
			ref[i].col[tag] = col;
		}
		for (int g = 0; g < 20; g++) {
			size_t i = (size_t)rand_r(&seed) % N_FIELDS;
			int tag = rand_r(&seed) % 2;
			uint32_t line = 0, col = 0;
			bool got = posmap_get(&m, fields + i, (enum posmap_tag)tag, &line, &col);

			assert_int_equal(got, ref[i].set[tag]);
			if (got) {
				assert_int_equal(line, ref[i].line[tag]);
				assert_int_equal(col, ref[i].col[tag]);
			}
		}
		/* Runs stay few: each is over twice the next newer one. */
		assert_true(m.n_runs <= 16);
	}
	check_all(&m, fields, ref);
	posmap_deinit(&m);
	free(fields);
	free(ref);
}

/* Loading records a position for nearly every field: 13 per object in a generated cluster, so
 * 6.5 million at 500,000 pods. An entry must stay small (it was 48 bytes in a hash table, plus
 * a bucket). */
static void
test_entry_size(void **state)
{
	enum { N = 100000 };
	char *fields = malloc(N);
	struct posmap m;
	uint32_t line, col;

	(void)state;
	posmap_init(&m, NULL);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(posmap_put(&m, fields + i, POSMAP_FIELD, (uint32_t)i + 1, 7),
		                 SVC_OK);
	/* The array doubles: at most twice the 16 bytes an entry needs. */
	assert_true(posmap_bytes(&m) <= 2 * 16 * (size_t)N);
	assert_true(posmap_get(&m, fields + 12345, POSMAP_FIELD, &line, &col));
	assert_int_equal(line, 12346);
	assert_false(posmap_get(&m, fields + 12345, POSMAP_OBJECT, &line, &col));
	posmap_deinit(&m);
	free(fields);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_random),
	        cmocka_unit_test(test_entry_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
