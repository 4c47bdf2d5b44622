/* posmap.h -- source positions of decoded fields, keyed by the field's address.
 *
 * Loading records a position for nearly every field (some 13 per object), and almost none is
 * ever looked up: only when a field is reported or its presence matters. So a put appends 16
 * bytes to an array (no lookup, no hashing: a hash table cost a cache miss per field and 48
 * bytes), and the first get after puts sorts what was appended into a run. Runs are merged
 * binary-counter fashion, so a run is at least twice the size of the next newer one: at most
 * log2(n) runs, each searched by bisection, and every entry is merged O(log n) times. */
#ifndef POSMAP_H
#define POSMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_status.h"

struct arena;

/* Objects and their first field share an address, so a position is kept under a tag. */
enum posmap_tag {
	POSMAP_FIELD,
	POSMAP_OBJECT,
};

#define POSMAP_MAX_RUNS 64

struct posmap_entry {
	uint64_t key; /* address << 1 | tag */
	uint32_t line, col;
};

struct posmap {
	struct posmap_entry *e; /* the runs, oldest first, then the unsorted tail */
	size_t n, cap;
	size_t run_end[POSMAP_MAX_RUNS]; /* end of each run in E; a run has no repeated key */
	size_t n_runs;
};

/* ARENA is not used (entries live on the heap, freed by posmap_deinit); it stays for callers. */
void posmap_init(struct posmap *m, struct arena *arena);
void posmap_deinit(struct posmap *m);
/* Set the position of (ADDR, TAG), replacing an earlier one. */
enum svc_status posmap_put(struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t line,
                           uint32_t col);
/* The position of (ADDR, TAG). Not const: it sorts what was put since the last get (on memory
 * shortage it searches the unsorted entries instead). */
bool posmap_get(struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t *line,
                uint32_t *col);
/* Bytes held, for measurements. */
size_t posmap_bytes(const struct posmap *m);

#endif
