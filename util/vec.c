/* vec.c -- growable arrays. */
#include "vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define VEC_MIN_CAP 8

enum svc_status
vec_reserve(void *items, size_t *cap, size_t n, size_t need, size_t elem, struct arena *arena)
{
	void *old, *p;
	size_t ncap;

	if (need <= *cap)
		return SVC_OK;
	ncap = *cap ? *cap : VEC_MIN_CAP;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return SVC_ENOMEM;
		ncap *= 2;
	}
	if (elem != 0 && ncap > SIZE_MAX / elem)
		return SVC_ENOMEM;
	memcpy(&old, items, sizeof(old));
	if (arena != NULL) {
		p = arena_calloc(arena, ncap, elem);
		if (p == NULL)
			return SVC_ENOMEM;
		if (n > 0)
			memcpy(p, old, n * elem);
	} else {
		p = realloc(old, ncap * elem);
		if (p == NULL)
			return SVC_ENOMEM;
		memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	}
	memcpy(items, &p, sizeof(p));
	*cap = ncap;
	return SVC_OK;
}

void *
vec_push(void *items, size_t *n, size_t *cap, size_t elem, struct arena *arena)
{
	char *base;

	if (vec_reserve(items, cap, *n, *n + 1, elem, arena) != SVC_OK)
		return NULL;
	memcpy(&base, items, sizeof(base));
	memset(base + *n * elem, 0, elem);
	return base + (*n)++ * elem;
}
