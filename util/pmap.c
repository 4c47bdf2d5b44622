/* pmap.c -- the persistent hash map: copy-on-write pages of hash-sorted entries. */
#include "pmap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Entries per page the map aims at: a lookup is a binary search of about 7 steps, and a change
 * of one entry copies about 1.5 KB. Past PMAP_MAX_AVG the pages double. */
#define PMAP_AIM_AVG 96
#define PMAP_MAX_AVG 384

struct pmap_page {
	int refs; /* atomic */
	uint32_t n;
	struct pmap_entry e[];
};

static size_t
page_of(unsigned bits, uint32_t hash)
{
	/* Fibonacci hashing, as htab: every bit of HASH reaches the page number. */
	return bits == 0 ? 0 : (size_t)((hash * 2654435769u) >> (32 - bits));
}

static void
page_unref(struct pmap_page *p)
{
	if (p != NULL && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(p);
}

void
pmap_init(struct pmap *m)
{
	memset(m, 0, sizeof(*m));
}

void
pmap_deinit(struct pmap *m)
{
	if (m->pages != NULL)
		for (size_t i = 0; i < (size_t)1 << m->bits; i++)
			page_unref(m->pages[i]);
	free(m->pages);
	pmap_init(m);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct pmap_entry *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return (uintptr_t)x->item < (uintptr_t)y->item ? -1
	                                               : (uintptr_t)x->item > (uintptr_t)y->item;
}

/* An entry with its page number, for sorting a change by page, then as a page orders it. */
struct paged {
	size_t page;
	struct pmap_entry e;
};

static int
paged_cmp(const void *a, const void *b)
{
	const struct paged *x = a, *y = b;

	if (x->page != y->page)
		return x->page < y->page ? -1 : 1;
	return entry_cmp(&x->e, &y->e);
}

/* Sort E by page (of 2^BITS), then by hash and item. */
static enum svc_status
sort_by_page(struct pmap_entry *e, size_t n, unsigned bits)
{
	struct paged *t;

	if (n < 2)
		return SVC_OK;
	t = malloc(n * sizeof(*t));
	if (t == NULL)
		return SVC_ENOMEM;
	for (size_t i = 0; i < n; i++)
		t[i] = (struct paged){page_of(bits, e[i].hash), e[i]};
	qsort(t, n, sizeof(*t), paged_cmp);
	for (size_t i = 0; i < n; i++)
		e[i] = t[i].e;
	free(t);
	return SVC_OK;
}

/* A page of OLD's entries minus REM plus ADD (each sorted by hash, then item). NULL with *ST
 * SVC_OK when nothing is left. */
static struct pmap_page *
page_merge(const struct pmap_page *old, const struct pmap_entry *rem, size_t n_rem,
           const struct pmap_entry *add, size_t n_add, enum svc_status *st)
{
	size_t n_old = old ? old->n : 0, i = 0, r = 0, a = 0, n = 0;
	struct pmap_page *p = malloc(sizeof(*p) + (n_old + n_add) * sizeof(p->e[0]));

	*st = SVC_OK;
	if (p == NULL) {
		*st = SVC_ENOMEM;
		return NULL;
	}
	p->refs = 1;
	while (i < n_old || a < n_add) {
		const struct pmap_entry *next;

		if (a == n_add || (i < n_old && entry_cmp(&old->e[i], &add[a]) <= 0)) {
			next = &old->e[i++];
			/* Removals come in the same order: skip the matching ones. */
			while (r < n_rem && entry_cmp(&rem[r], next) < 0)
				r++;
			if (r < n_rem && entry_cmp(&rem[r], next) == 0) {
				r++;
				continue;
			}
		} else {
			next = &add[a++];
		}
		p->e[n++] = *next;
	}
	p->n = (uint32_t)n;
	if (n == 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* OLD's entries into a new map of 2^BITS pages, with the change applied. */
static enum svc_status
rebuild(const struct pmap *old, const struct pmap_entry *rem, size_t n_rem, struct pmap_entry *add,
        size_t n_add, unsigned bits, struct pmap *out)
{
	struct pmap_entry *all;
	size_t n = 0, i, k;
	enum svc_status st = SVC_OK;
	struct pmap m;

	pmap_init(&m);
	all = malloc((old->n + n_add + 1) * sizeof(*all));
	m.pages = calloc((size_t)1 << bits, sizeof(*m.pages));
	if (all == NULL || m.pages == NULL) {
		free(all);
		free(m.pages);
		return SVC_ENOMEM;
	}
	m.bits = bits;
	for (i = 0; old->pages != NULL && i < (size_t)1 << old->bits; i++)
		for (k = 0; old->pages[i] != NULL && k < old->pages[i]->n; k++) {
			const struct pmap_entry *e = &old->pages[i]->e[k];
			bool gone = false;

			/* REM is sorted by hash, then item. */
			size_t lo = 0, hi = n_rem;

			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				int c = entry_cmp(&rem[mid], e);

				if (c == 0) {
					gone = true;
					break;
				}
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (!gone)
				all[n++] = *e;
		}
	if (n_add > 0)
		memcpy(all + n, add, n_add * sizeof(*add));
	n += n_add;
	st = sort_by_page(all, n, bits);
	for (i = 0; i < n && st == SVC_OK; i = k) {
		size_t pg = page_of(bits, all[i].hash);

		for (k = i; k < n && page_of(bits, all[k].hash) == pg; k++)
			;
		m.pages[pg] = page_merge(NULL, NULL, 0, all + i, k - i, &st);
		m.n += k - i;
	}
	free(all);
	if (st != SVC_OK) {
		pmap_deinit(&m);
		return st;
	}
	*out = m;
	return SVC_OK;
}

static unsigned
bits_for(size_t n)
{
	unsigned bits = 0;

	while (((size_t)PMAP_AIM_AVG << bits) < n && bits < 28)
		bits++;
	return bits;
}

enum svc_status
pmap_update(const struct pmap *old, struct pmap_entry *remove, size_t n_remove,
            struct pmap_entry *add, size_t n_add, struct pmap *out)
{
	size_t n_pages = old->pages ? (size_t)1 << old->bits : 0, i, r = 0, a = 0;
	size_t expect = old->n + n_add;
	enum svc_status st = SVC_OK;
	struct pmap m;

	pmap_init(out);
	if (n_remove > 1)
		qsort(remove, n_remove, sizeof(*remove), entry_cmp);
	if (old->pages == NULL || expect > (n_pages * PMAP_MAX_AVG) ||
	    (n_pages > 1 && expect * 4 < n_pages * PMAP_AIM_AVG))
		return rebuild(old, remove, n_remove, add, n_add, bits_for(expect), out);
	pmap_init(&m);
	m.bits = old->bits;
	m.n = old->n;
	m.pages = calloc(n_pages, sizeof(*m.pages));
	if (m.pages == NULL)
		return SVC_ENOMEM;
	if (sort_by_page(remove, n_remove, m.bits) != SVC_OK ||
	    sort_by_page(add, n_add, m.bits) != SVC_OK) {
		free(m.pages);
		return SVC_ENOMEM;
	}
	for (i = 0; i < n_pages; i++) {
		size_t r0 = r, a0 = a, before;

		while (r < n_remove && page_of(m.bits, remove[r].hash) == i)
			r++;
		while (a < n_add && page_of(m.bits, add[a].hash) == i)
			a++;
		if (r == r0 && a == a0) {
			m.pages[i] = old->pages[i];
			if (m.pages[i] != NULL)
				__atomic_add_fetch(&m.pages[i]->refs, 1, __ATOMIC_RELAXED);
			continue;
		}
		before = old->pages[i] ? old->pages[i]->n : 0;
		m.pages[i] = st == SVC_OK ? page_merge(old->pages[i], remove + r0, r - r0, add + a0,
		                                       a - a0, &st)
		                          : NULL;
		m.n = m.n - before + (m.pages[i] ? m.pages[i]->n : 0);
	}
	if (st != SVC_OK) {
		pmap_deinit(&m);
		return st;
	}
	*out = m;
	return SVC_OK;
}

const struct pmap_entry *
pmap_find(const struct pmap *m, uint32_t hash, const struct pmap_entry **first)
{
	const struct pmap_page *p = m->pages ? m->pages[page_of(m->bits, hash)] : NULL;
	size_t lo = 0, hi = p ? p->n : 0, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->e[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; p != NULL && end < p->n && p->e[end].hash == hash; end++)
		;
	*first = p ? &p->e[lo] : NULL;
	return p ? &p->e[end] : NULL;
}

void
pmap_each(const struct pmap *m, void (*fn)(void *arg, const struct pmap_entry *e), void *arg)
{
	for (size_t i = 0; m->pages != NULL && i < (size_t)1 << m->bits; i++)
		for (size_t k = 0; m->pages[i] != NULL && k < m->pages[i]->n; k++)
			fn(arg, &m->pages[i]->e[k]);
}
