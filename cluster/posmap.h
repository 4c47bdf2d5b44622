/* posmap.h -- source positions of decoded fields, keyed by the field's address. */
#ifndef POSMAP_H
#define POSMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htab.h"
#include "svc_status.h"

struct arena;

/* Objects and their first field share an address, so a position is kept under a tag. */
enum posmap_tag {
	POSMAP_FIELD,
	POSMAP_OBJECT,
};

struct posmap {
	struct htab tab;     /* of struct posmap_entry (posmap.c) */
	struct arena *arena; /* holds the entries; the caller's, freed by the caller */
};

/* Entries go into ARENA, which must outlive M. */
void posmap_init(struct posmap *m, struct arena *arena);
/* Frees the table, not the entries (they go with the arena). */
void posmap_deinit(struct posmap *m);
/* Set the position of (ADDR, TAG), replacing an earlier one. */
enum svc_status posmap_put(struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t line,
                           uint32_t col);
bool posmap_get(const struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t *line,
                uint32_t *col);

#endif
