/* vec.h -- growable arrays: the one way an array grows, by doubling, overflow-checked. The
 * array stays the caller's own (ITEMS, N, CAP fields of any struct), so code indexes it
 * directly; only growing goes through here. */
#ifndef VEC_H
#define VEC_H

#include <stddef.h>

#include "svc_status.h"

struct arena;

/* Make room for at least NEED elements of ELEM bytes in the array at *ITEMS (ITEMS points to
 * the array pointer), whose capacity is *CAP and whose first N elements are in use. On the heap
 * (realloc) when ARENA is NULL, else in ARENA, where the old copy stays behind until the arena
 * goes. New elements are zeroed. SVC_ENOMEM, with nothing changed, when memory runs out or the
 * size would overflow. */
enum svc_status vec_reserve(void *items, size_t *cap, size_t n, size_t need, size_t elem,
                            struct arena *arena);

/* Append: room for one more element of *ITEMS (N in use), whose address is returned, zeroed,
 * and counted in *N. NULL when out of memory (nothing changed). */
void *vec_push(void *items, size_t *n, size_t *cap, size_t elem, struct arena *arena);

#endif
