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
	_Alignas(16) unsigned char data[];
};

void
arena_init(struct arena *a)
{
	memset(a, 0, sizeof(*a));
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
		b->next = a->head;
		a->head = b;
		a->used = 0;
		a->top = bsize;
		at = align == 1 ? bsize - need : 0;
	}
	p = a->head->data + at;
	if (align == 1)
		a->top = at;
	else
		a->used = at + need;
	a->total += need;
	memset(p, 0, size);
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
