/* arena.c -- region allocator: many small allocations, one free. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARENA_BLOCK 65536
#define ARENA_ALIGN 16

struct arena_block {
	struct arena_block *next;
	size_t size;
	/* As arena.used and arena.top, once it is no longer the head (the head's are the arena's).
	 */
	size_t used, top;
	_Alignas(16) unsigned char data[];
};

void
arena_init(struct arena *a)
{
	memset(a, 0, sizeof(*a));
}

void
arena_init_sized(struct arena *a, size_t block)
{
	memset(a, 0, sizeof(*a));
	a->grow = block;
}

void
arena_init_small(struct arena *a)
{
	memset(a, 0, sizeof(*a));
	a->grow = 512;
}

void
arena_deinit(struct arena *a)
{
	struct arena_block *b = a->head, *next;

	while (b != NULL) {
		next = b->next;
		free(b);
		b = next;
	}
	arena_init(a);
}

void
arena_move(struct arena *dst, struct arena *src)
{
	struct arena_block *tail;

	if (src->head == NULL)
		return;
	src->head->used = src->used;
	src->head->top = src->top;
	/* SRC's blocks go behind DST's head so DST keeps filling its current block. */
	tail = src->head;
	while (tail->next != NULL)
		tail = tail->next;
	if (dst->head == NULL) {
		*dst = *src;
	} else {
		tail->next = dst->head->next;
		dst->head->next = src->head;
		dst->total += src->total;
	}
	arena_init(src);
}

/* SIZE zeroed bytes at a multiple of ALIGN (a power of two, at most 16). Aligned allocations
 * fill a block from its start, unaligned ones (strings, wire data) from its end: a string
 * between two structs would cost up to 15 bytes of padding, and a manifest's objects are
 * mostly structs and short strings interleaved. */
static void *
arena_take(struct arena *a, size_t size, size_t align)
{
	struct arena_block *b;
	size_t need = (size + align - 1) & ~(align - 1);
	size_t at = 0;
	void *p;

	if (need < size)
		return NULL;
	if (a->head != NULL) {
		at = align == 1 ? a->top - need : (a->used + align - 1) & ~(align - 1);
		if (at < a->used || at > a->top || a->top - at < need)
			at = SIZE_MAX; /* no room in the head */
	}
	if (a->head == NULL || at == SIZE_MAX) {
		size_t block = a->grow ? a->grow : ARENA_BLOCK;
		size_t bsize = need > ARENA_BLOCK / 4 ? need : need > block ? need : block;

		b = malloc(sizeof(*b) + bsize);
		if (b == NULL)
			return NULL;
		b->size = bsize;
		if (need > ARENA_BLOCK / 4) {
			/* A big allocation gets its own block behind the head, so the head's
			 * free space is not wasted. */
			b->used = b->top = bsize;
			if (a->head == NULL) {
				b->next = NULL;
				a->head = b;
				a->used = a->top = bsize;
			} else {
				b->next = a->head->next;
				a->head->next = b;
			}
			a->total += need;
			memset(b->data, 0, need);
			return b->data;
		}
		if (a->grow != 0 && a->grow < ARENA_BLOCK)
			a->grow *= 2;
		if (a->head != NULL) {
			a->head->used = a->used;
			a->head->top = a->top;
		}
		b->next = a->head;
		a->head = b;
		a->used = 0;
		a->top = bsize;
		at = align == 1 ? bsize - need : 0;
	}
	p = a->head->data + at;
	if (align == 1) {
		a->top = at;
		memset(p, 0, size);
	} else {
		/* The alignment gap and the rounding too: no stale heap bytes in the aligned data,
		 * which arena_moved_clean reads word by word. */
		memset(a->head->data + a->used, 0, at + need - a->used);
		a->used = at + need;
	}
	a->total += need;
	return p;
}

void
arena_trim(struct arena *a)
{
	static size_t page;
	uintptr_t from, to;

	if (a->head == NULL)
		return;
	if (page == 0) {
		long ps = sysconf(_SC_PAGESIZE);

		page = ps > 0 ? (size_t)ps : 4096;
	}
	/* Whole pages strictly inside the head's free middle only: the block's other bytes (and
	 * the allocator's own headers around it) are untouched. */
	from = ((uintptr_t)(a->head->data + a->used) + page - 1) & ~(uintptr_t)(page - 1);
	to = (uintptr_t)(a->head->data + a->top) & ~(uintptr_t)(page - 1);
	if (to > from)
		madvise((void *)from, to - from, MADV_DONTNEED);
}

static int
span_cmp(const void *x, const void *y)
{
	const struct arena_span *a = x, *b = y;

	return a->from < b->from ? -1 : a->from > b->from;
}

enum svc_status
arena_compact(struct arena *a, struct arena_moved *out)
{
	struct arena_block *b, *nb;
	size_t aligned = 0, bytes = 0, n = 0, at, bat;

	memset(out, 0, sizeof(*out));
	if (a->head == NULL)
		return SVC_OK;
	a->head->used = a->used;
	a->head->top = a->top;
	for (b = a->head; b != NULL; b = b->next) {
		aligned += (b->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
		bytes += b->size - b->top;
		n += 2;
	}
	nb = malloc(sizeof(*nb) + aligned + bytes);
	out->spans = malloc(n * sizeof(*out->spans));
	if (nb == NULL || out->spans == NULL) {
		free(nb);
		free(out->spans);
		out->spans = NULL;
		return SVC_ENOMEM;
	}
	nb->next = NULL;
	nb->size = nb->used = nb->top = aligned + bytes;
	at = 0;
	bat = aligned;
	for (b = a->head; b != NULL; b = b->next) {
		size_t tail = b->size - b->top;

		memcpy(nb->data + at, b->data, b->used);
		memset(nb->data + at + b->used, 0,
		       ((b->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1)) - b->used);
		out->spans[out->n++] =
		        (struct arena_span){(uintptr_t)b->data, (uintptr_t)(b->data + b->used),
		                            (uintptr_t)(nb->data + at)};
		at += (b->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
		memcpy(nb->data + bat, b->data + b->top, tail);
		out->spans[out->n++] = (struct arena_span){(uintptr_t)(b->data + b->top),
		                                           (uintptr_t)(b->data + b->size),
		                                           (uintptr_t)(nb->data + bat)};
		bat += tail;
	}
	qsort(out->spans, out->n, sizeof(*out->spans), span_cmp);
	out->old = a->head;
	a->head = nb;
	a->used = a->top = nb->size;
	return SVC_OK;
}

void *
arena_moved_ptr(const struct arena_moved *m, const void *p)
{
	uintptr_t v = (uintptr_t)p;
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v < m->spans[mid].from)
			hi = mid;
		else if (v >= m->spans[mid].to)
			lo = mid + 1;
		else
			return (void *)(m->spans[mid].dst + (v - m->spans[mid].from));
	}
	return (void *)(uintptr_t)p;
}

void
arena_moved_recycle(struct arena_moved *m, struct arena *into)
{
	struct arena_block **keep = NULL, **pp;

	if (into->head == NULL)
		for (pp = &m->old; *pp != NULL; pp = &(*pp)->next)
			if (keep == NULL || (*pp)->size > (*keep)->size)
				keep = pp;
	if (keep != NULL) {
		struct arena_block *b = *keep;

		*keep = b->next;
		b->next = NULL;
		into->head = b;
		into->used = 0;
		into->top = b->size;
	}
	arena_moved_done(m);
}

void
arena_moved_done(struct arena_moved *m)
{
	struct arena_block *b = m->old, *next;

	while (b != NULL) {
		next = b->next;
		free(b);
		b = next;
	}
	free(m->spans);
	memset(m, 0, sizeof(*m));
}

bool
arena_moved_clean(const struct arena_moved *m, const struct arena *a)
{
	const struct arena_block *nb = a->head;
	const struct arena_block *b;
	size_t aligned = 0;

	if (nb == NULL || m->old == NULL)
		return true;
	/* arena_compact put every block's aligned data first, the strings after. */
	for (b = m->old; b != NULL; b = b->next)
		aligned += (b->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	for (size_t at = 0; at + sizeof(uintptr_t) <= aligned; at += sizeof(uintptr_t)) {
		uintptr_t v;

		memcpy(&v, nb->data + at, sizeof(v));
		for (b = m->old; b != NULL; b = b->next)
			if (v >= (uintptr_t)b->data && v <= (uintptr_t)(b->data + b->size))
				return false;
	}
	return true;
}

void
arena_moved_undo(struct arena_moved *m, struct arena *a)
{
	free(a->head);
	a->head = m->old;
	a->used = m->old ? m->old->used : 0;
	a->top = m->old ? m->old->top : 0;
	m->old = NULL;
	arena_moved_done(m);
}

void *
arena_alloc(struct arena *a, size_t size)
{
	return arena_take(a, size, ARENA_ALIGN);
}

void *
arena_alloc_bytes(struct arena *a, size_t size)
{
	return arena_take(a, size, 1);
}

void *
arena_alloc_aligned(struct arena *a, size_t size, size_t align)
{
	if (align == 0 || align > ARENA_ALIGN || (align & (align - 1)) != 0)
		align = ARENA_ALIGN;
	return arena_take(a, size, align);
}

void *
arena_calloc(struct arena *a, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	return arena_alloc(a, n == 0 || size == 0 ? 1 : n * size);
}

char *
arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p = len + 1 > len ? arena_alloc_bytes(a, len + 1) : NULL;

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = arena_alloc_bytes(a, (size_t)n + 1);
	if (p == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
