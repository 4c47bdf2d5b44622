/* posmap.h -- source positions of decoded fields, keyed by the field's address. */
#ifndef POSMAP_H
#define POSMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_status.h"

/* Objects and their first field share an address, so a position is kept under a tag. */
enum posmap_tag {
	POSMAP_FIELD,
	POSMAP_OBJECT,
};

struct posmap_slot {
	const void *addr;
	uint32_t tag;
	uint32_t line, col;
};

struct posmap {
	struct posmap_slot *slots;
	size_t n, cap; /* cap is a power of two */
};

void posmap_init(struct posmap *m);
void posmap_deinit(struct posmap *m);
enum svc_status posmap_put(struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t line,
                           uint32_t col);
bool posmap_get(const struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t *line,
                uint32_t *col);

#endif
