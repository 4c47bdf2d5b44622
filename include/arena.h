/* arena.h -- region allocator: many small allocations, one free. */
#ifndef ARENA_H
#define ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_status.h"

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
/* An arena whose blocks are BLOCK bytes (but for allocations of more than 16 KiB: their own). */
void arena_init_sized(struct arena *a, size_t block);
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
/* Where arena_compact moved each used span of the old blocks. */
struct arena_span {
	uintptr_t from, to, dst;
};

struct arena_moved {
	struct arena_span *spans; /* by FROM */
	size_t n;
	struct arena_block *old; /* kept until arena_moved_done, so old pointers stay distinct */
};

/* A's data is complete: copy what it holds into one block of that size, so a long-lived arena
 * of small pieces (a piece of a zone) costs what it holds, not its blocks' free room. The
 * caller then moves every pointer into A with arena_moved_ptr, and calls arena_moved_done (or
 * arena_moved_recycle). OUT->n 0: A was empty. On SVC_ENOMEM nothing moved. */
enum svc_status arena_compact(struct arena *a, struct arena_moved *out);
/* Where P is now: P itself when it was not in A's old blocks (a pointer already moved, or
 * outside A), so calling it twice on one pointer is harmless. */
void *arena_moved_ptr(const struct arena_moved *m, const void *p);
void arena_moved_done(struct arena_moved *m);
/* Whether no word of A's aligned data (where structs live, so every pointer they hold) points
 * into M's old blocks: after the caller moved the pointers it knows of, any such word is one it
 * missed (or a number that looks like an address). A is as arena_compact left it. */
bool arena_moved_clean(const struct arena_moved *m, const struct arena *a);
/* Undo arena_compact: A has its old blocks back, as they were, and M is done. */
void arena_moved_undo(struct arena_moved *m, struct arena *a);
/* As arena_moved_done, but the largest old block becomes INTO's (when INTO is empty), to be
 * filled again: build each piece in one reused working arena, then compact it, and the heap
 * sees one allocation of the exact size per piece instead of a trail of freed blocks. */
void arena_moved_recycle(struct arena_moved *m, struct arena *into);
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
