/* arena.h -- region allocator: many small allocations, one free. */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

struct arena_block;

/* A snapshot's strings and arrays live in one arena so a snapshot is freed in one call. */
struct arena {
	struct arena_block *head; /* newest block first */
	size_t used;              /* bytes used from the start of head (aligned allocations) */
	size_t top;               /* head's bytes from here to its end hold unaligned ones */
	size_t total;             /* bytes handed out, for metrics */
	size_t grow;              /* arena_init_small: the next block's size, doubling */
};

void arena_init(struct arena *a);
/* An arena for little data (a piece of a zone): its blocks start at 512 bytes and double up to
 * the usual size, where arena_init's are all 64 KiB. */
void arena_init_small(struct arena *a);
/* Free every block; A can be used again afterwards. */
void arena_deinit(struct arena *a);
/* Move every block of SRC into DST; SRC is left empty. */
void arena_move(struct arena *dst, struct arena *src);

/* A's data is complete (it takes few or no more allocations): the free pages in the middle of
 * its newest block go back to the system, so a frozen arena costs what it holds, not a block's
 * unused tail (up to 64 KiB). Allocating from A afterwards still works (Linux gives those pages
 * back zeroed on first touch). */
void arena_trim(struct arena *a);
/* Zeroed memory aligned for any type, or NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t size);
/* Zeroed bytes with no alignment (strings, wire data), or NULL when out of memory. */
void *arena_alloc_bytes(struct arena *a, size_t size);
/* Zeroed memory at a multiple of ALIGN (a power of two up to 16; anything else means 16), for
 * many small structs whose members need less than 16. */
void *arena_alloc_aligned(struct arena *a, size_t size, size_t align);
/* Zeroed array of N elements of SIZE bytes, NULL on overflow or out of memory. */
void *arena_calloc(struct arena *a, size_t n, size_t size);
/* Copy of the LEN bytes at S plus a NUL (unaligned), or NULL. */
char *arena_strndup(struct arena *a, const char *s, size_t len);
char *arena_strdup(struct arena *a, const char *s);
/* printf into the arena, or NULL. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
