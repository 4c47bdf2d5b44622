/* test_pmap.c -- the persistent hash map against a plain set, over random changes: every
 * version finds exactly its entries, and older versions are unchanged by newer ones. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "pmap.h"

#define N_ITEMS 5000

static int items[N_ITEMS]; /* an entry's item is &items[k]; its hash collides on purpose */

static uint32_t
hash_of(int k)
{
	return (uint32_t)(k % 1500) * 2246822519u; /* three items per hash */
}

static size_t
count_found(const struct pmap *m, const bool *in)
{
	size_t found = 0;

	for (int k = 0; k < N_ITEMS; k++) {
		const struct pmap_entry *first, *end = pmap_find(m, hash_of(k), &first);
		bool hit = false;

		for (; first != NULL && first < end; first++) {
			assert_int_equal(first->hash, hash_of(k));
			hit = hit || first->item == &items[k];
		}
		assert_int_equal(hit, in[k]);
		found += hit;
	}
	return found;
}

static void
test_random(void **state)
{
	struct pmap versions[40];
	bool *in = calloc(40 * N_ITEMS, sizeof(*in));
	uint64_t rng = 88172645463325252ull;
	size_t n_in = 0;

	(void)state;
	assert_non_null(in);
	pmap_init(&versions[0]);
	for (int v = 1; v < 40; v++) {
		struct pmap_entry rem[2000], add[2000];
		size_t n_rem = 0, n_add = 0;
		/* Sizes from a handful to thousands: the pages grow and shrink. */
		int changes = v < 20 ? 50 * v : 40 * (40 - v);

		memcpy(in + v * N_ITEMS, in + (v - 1) * N_ITEMS, N_ITEMS * sizeof(*in));
		for (int c = 0; c < changes && n_rem < 2000 && n_add < 2000; c++) {
			int k;

			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			k = (int)(rng % N_ITEMS);
			/* One change per item and version (the map takes sets, not sequences). */
			if (in[v * N_ITEMS + k] != in[(v - 1) * N_ITEMS + k])
				continue;
			if (in[v * N_ITEMS + k] && (v < 20 ? rng % 4 == 0 : rng % 4 != 0)) {
				rem[n_rem++] = (struct pmap_entry){hash_of(k), &items[k]};
				in[v * N_ITEMS + k] = false;
				n_in--;
			} else if (!in[v * N_ITEMS + k]) {
				add[n_add++] = (struct pmap_entry){hash_of(k), &items[k]};
				in[v * N_ITEMS + k] = true;
				n_in++;
			}
		}
		assert_int_equal(
		        pmap_update(&versions[v - 1], rem, n_rem, add, n_add, &versions[v]),
		        SVC_OK);
		assert_int_equal(versions[v].n, n_in);
		assert_int_equal(count_found(&versions[v], in + v * N_ITEMS), n_in);
	}
	/* Every older version still holds exactly what it held. */
	for (int v = 0; v < 40; v++) {
		size_t n = 0;

		for (int k = 0; k < N_ITEMS; k++)
			n += in[v * N_ITEMS + k];
		assert_int_equal(count_found(&versions[v], in + v * N_ITEMS), n);
		pmap_deinit(&versions[v]);
	}
	free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
