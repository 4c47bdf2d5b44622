/* posmap.c -- source positions of decoded fields, keyed by the field's address. */
#include "posmap.h"

#include "arena.h"

struct posmap_entry {
	struct htab_node hn;
	const void *addr;
	uint32_t tag;
	uint32_t line, col;
};

void
posmap_init(struct posmap *m, struct arena *arena)
{
	htab_init(&m->tab);
	m->arena = arena;
}

void
posmap_deinit(struct posmap *m)
{
	htab_deinit(&m->tab);
}

static uint32_t
posmap_hash(const void *addr, enum posmap_tag tag)
{
	return htab_hash_u64((uint64_t)(uintptr_t)addr * 2 + (uint64_t)tag);
}

static struct posmap_entry *
posmap_find(const struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t h)
{
	struct htab_node *hn;

	for (hn = htab_find(&m->tab, h); hn != NULL; hn = htab_next(hn, h)) {
		struct posmap_entry *e = htab_item(hn, struct posmap_entry, hn);

		if (e->addr == addr && e->tag == tag)
			return e;
	}
	return NULL;
}

enum svc_status
posmap_put(struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t line, uint32_t col)
{
	uint32_t h = posmap_hash(addr, tag);
	struct posmap_entry *e = posmap_find(m, addr, tag, h);

	if (e == NULL) {
		e = arena_alloc(m->arena, sizeof(*e));
		if (e == NULL)
			return SVC_ENOMEM;
		e->addr = addr;
		e->tag = tag;
		if (htab_insert(&m->tab, &e->hn, h) != SVC_OK)
			return SVC_ENOMEM;
	}
	e->line = line;
	e->col = col;
	return SVC_OK;
}

bool
posmap_get(const struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t *line,
           uint32_t *col)
{
	const struct posmap_entry *e = posmap_find(m, addr, tag, posmap_hash(addr, tag));

	if (e == NULL)
		return false;
	*line = e->line;
	*col = e->col;
	return true;
}
