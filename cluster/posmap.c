/* posmap.c -- source positions of decoded fields, keyed by the field's address. */
#include "posmap.h"

#include <stdlib.h>
#include <string.h>

#include "vec.h"

/* Up to this many unsorted entries a get just scans them rather than sorting. */
#define POSMAP_SCAN_MAX 32
#define RADIX_BITS      16
#define RADIX_SIZE      ((size_t)1 << RADIX_BITS)

void
posmap_init(struct posmap *m, struct arena *arena)
{
	(void)arena;
	memset(m, 0, sizeof(*m));
}

void
posmap_deinit(struct posmap *m)
{
	free(m->e);
	memset(m, 0, sizeof(*m));
}

size_t
posmap_bytes(const struct posmap *m)
{
	return m->cap * sizeof(*m->e);
}

static uint64_t
posmap_key(const void *addr, enum posmap_tag tag)
{
	return (uint64_t)(uintptr_t)addr << 1 | (uint64_t)tag;
}

enum svc_status
posmap_put(struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t line, uint32_t col)
{
	struct posmap_entry *e = vec_push(&m->e, &m->n, &m->cap, sizeof(*m->e), NULL);

	if (e == NULL)
		return SVC_ENOMEM;
	*e = (struct posmap_entry){posmap_key(addr, tag), line, col};
	return SVC_OK;
}

static size_t
runs_end(const struct posmap *m)
{
	return m->n_runs ? m->run_end[m->n_runs - 1] : 0;
}

/* Sort the N entries at E by key, keeping the order of equal keys (LSD radix, 16 bits a pass;
 * a pass where every key has the same digit is skipped), then keep only the last of each key.
 * Returns the new count, or 0 when out of memory (E unchanged). */
/* A run smaller than this is sorted by comparisons: the radix sort's four passes over 65,536
 * counters cost more than a file's chunk of a few thousand positions. */
#define POSMAP_SMALL_RUN 16384

struct keyed_at {
	uint64_t key;
	size_t at;
};

static int
keyed_cmp(const void *pa, const void *pb)
{
	const struct keyed_at *a = pa, *b = pb;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->at < b->at ? -1 : a->at > b->at;
}

/* As sort_run, by comparisons: equal keys keep their order through the position tie-break. */
static size_t
sort_small(struct posmap_entry *e, size_t n)
{
	struct keyed_at *ix = malloc((n + 1) * sizeof(*ix));
	struct posmap_entry *copy = malloc((n + 1) * sizeof(*copy));
	size_t k = 0;

	if (ix == NULL || copy == NULL) {
		free(ix);
		free(copy);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		ix[i] = (struct keyed_at){e[i].key, i};
	memcpy(copy, e, n * sizeof(*e));
	qsort(ix, n, sizeof(*ix), keyed_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && e[k - 1].key == ix[i].key)
			k--;
		e[k++] = copy[ix[i].at];
	}
	free(ix);
	free(copy);
	return k;
}

static size_t
sort_run(struct posmap_entry *e, size_t n)
{
	struct posmap_entry *tmp, *src = e, *dst, *sw;
	size_t *count, k = 0;

	if (n <= POSMAP_SMALL_RUN)
		return sort_small(e, n);
	tmp = malloc(n * sizeof(*tmp));
	count = malloc(RADIX_SIZE * sizeof(*count));
	src = e;
	dst = tmp;
	if (tmp == NULL || count == NULL) {
		n = 0;
		goto done;
	}
	for (unsigned shift = 0; shift < 64; shift += RADIX_BITS) {
		size_t sum = 0;
		bool one_digit = false;

		memset(count, 0, RADIX_SIZE * sizeof(*count));
		for (size_t i = 0; i < n; i++)
			count[(src[i].key >> shift) & (RADIX_SIZE - 1)]++;
		for (size_t d = 0; d < RADIX_SIZE; d++) {
			size_t c = count[d];

			one_digit |= c == n;
			count[d] = sum;
			sum += c;
		}
		if (one_digit)
			continue;
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i].key >> shift) & (RADIX_SIZE - 1)]++] = src[i];
		sw = src;
		src = dst;
		dst = sw;
	}
	/* The last of equal keys is the latest put. */
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && e[k - 1].key == src[i].key)
			k--;
		e[k++] = src[i];
	}
	n = k;
done:
	free(tmp);
	free(count);
	return n;
}

/* Merge the last two runs into one, the newer one winning on equal keys. False when out of
 * memory (nothing changed). The tail must be empty. */
static bool
merge_last(struct posmap *m)
{
	size_t a0 = m->n_runs > 2 ? m->run_end[m->n_runs - 3] : 0;
	size_t a1 = m->run_end[m->n_runs - 2], a2 = m->run_end[m->n_runs - 1];
	size_t na = a1 - a0, i = 0, j = a1, out = a0;
	struct posmap_entry *old = malloc(na * sizeof(*old));

	if (old == NULL)
		return false;
	memcpy(old, m->e + a0, na * sizeof(*old));
	/* OUT never passes J: it has taken at most what was read from both. */
	while (i < na && j < a2) {
		if (old[i].key < m->e[j].key) {
			m->e[out++] = old[i++];
		} else {
			if (old[i].key == m->e[j].key)
				i++;
			m->e[out++] = m->e[j++];
		}
	}
	while (i < na)
		m->e[out++] = old[i++];
	while (j < a2)
		m->e[out++] = m->e[j++];
	free(old);
	m->n_runs--;
	m->run_end[m->n_runs - 1] = out;
	m->n = out;
	return true;
}

/* Make the unsorted tail a run, and merge runs until each is over twice the next newer one.
 * False when out of memory: the tail then stays unsorted. */
static bool
settle(struct posmap *m)
{
	size_t start = runs_end(m), n;

	if (m->n_runs == POSMAP_MAX_RUNS)
		return false;
	n = sort_run(m->e + start, m->n - start);
	if (n == 0)
		return false;
	m->n = start + n;
	m->run_end[m->n_runs++] = m->n;
	while (m->n_runs >= 2) {
		size_t b0 = m->run_end[m->n_runs - 2], b1 = m->run_end[m->n_runs - 1];
		size_t a0 = m->n_runs > 2 ? m->run_end[m->n_runs - 3] : 0;

		if (b0 - a0 > 2 * (b1 - b0) || !merge_last(m))
			break;
	}
	return true;
}

/* The entry with KEY in the run E[LO .. HI), or NULL. */
static const struct posmap_entry *
find_in_run(const struct posmap_entry *e, size_t lo, size_t hi, uint64_t key)
{
	size_t end = hi;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < end && e[lo].key == key ? &e[lo] : NULL;
}

bool
posmap_get(struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t *line, uint32_t *col)
{
	uint64_t key = posmap_key(addr, tag);
	const struct posmap_entry *found = NULL;
	size_t start = runs_end(m);

	if (m->n - start > POSMAP_SCAN_MAX)
		(void)settle(m);
	start = runs_end(m);
	for (size_t i = m->n; i > start && found == NULL; i--)
		if (m->e[i - 1].key == key)
			found = &m->e[i - 1];
	for (size_t r = m->n_runs; r > 0 && found == NULL; r--) {
		size_t lo = r > 1 ? m->run_end[r - 2] : 0, hi = m->run_end[r - 1];

		if (lo < hi)
			found = find_in_run(m->e, lo, hi, key);
	}
	if (found == NULL)
		return false;
	*line = found->line;
	*col = found->col;
	return true;
}
