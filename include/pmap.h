/* pmap.h -- a persistent hash map: each version is an array of pages, and a new version shares
 * every page its change did not touch, so making it costs what the change touches, not what the
 * map holds, and readers of an older version keep theirs. Entries are the caller's: a 32-bit
 * hash and a pointer; a page holds its entries sorted by hash. */
#ifndef PMAP_H
#define PMAP_H

#include <stddef.h>
#include <stdint.h>

#include "svc_status.h"

struct pmap_entry {
	uint32_t hash;
	const void *item;
};

struct pmap_page; /* reference-counted, immutable */

struct pmap {
	struct pmap_page **pages; /* 1 << bits; NULL: an empty page */
	unsigned bits;
	size_t n;
};

/* An empty map. */
void pmap_init(struct pmap *m);
/* Drop M's page references. */
void pmap_deinit(struct pmap *m);

/* *OUT: OLD with the entries REMOVE (found by hash and item) taken out and ADD put in. The arrays
 * are reordered. An entry to remove that OLD lacks is ignored. OLD stays valid and unchanged.
 * When the map has outgrown its pages, OUT gets more of them (every entry is copied once). */
enum svc_status pmap_update(const struct pmap *old, struct pmap_entry *remove, size_t n_remove,
                            struct pmap_entry *add, size_t n_add, struct pmap *out);

/* The entries with HASH: [*FIRST, return) (none: equal). */
const struct pmap_entry *pmap_find(const struct pmap *m, uint32_t hash,
                                   const struct pmap_entry **first);

/* Every entry, in no particular order: FN gets each. */
void pmap_each(const struct pmap *m, void (*fn)(void *arg, const struct pmap_entry *e), void *arg);

#endif
