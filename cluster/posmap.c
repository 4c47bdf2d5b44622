/* posmap.c -- source positions of decoded fields, keyed by the field's address. */
#include "posmap.h"

#include <stdlib.h>
#include <string.h>

void
posmap_init(struct posmap *m)
{
	memset(m, 0, sizeof(*m));
}

void
posmap_deinit(struct posmap *m)
{
	free(m->slots);
	posmap_init(m);
}

static size_t
slot_of(const struct posmap *m, const void *addr, uint32_t tag)
{
	/* murmur3's finaliser: arena addresses differ in few low bits, so mix them all. */
	uint64_t h = (uint64_t)(uintptr_t)addr ^ tag;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (size_t)h & (m->cap - 1);
}

static enum svc_status
grow(struct posmap *m)
{
	struct posmap_slot *old = m->slots;
	size_t ocap = m->cap, i;

	m->cap = ocap ? ocap * 2 : 1024;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (m->slots == NULL) {
		m->slots = old;
		m->cap = ocap;
		return SVC_ENOMEM;
	}
	m->n = 0;
	for (i = 0; i < ocap; i++)
		if (old[i].addr != NULL)
			posmap_put(m, old[i].addr, old[i].tag, old[i].line, old[i].col);
	free(old);
	return SVC_OK;
}

enum svc_status
posmap_put(struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t line, uint32_t col)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap && grow(m) != SVC_OK)
		return SVC_ENOMEM;
	for (i = slot_of(m, addr, tag);; i = (i + 1) & (m->cap - 1)) {
		struct posmap_slot *s = &m->slots[i];

		if (s->addr == NULL) {
			*s = (struct posmap_slot){addr, tag, line, col};
			m->n++;
			return SVC_OK;
		}
		if (s->addr == addr && s->tag == tag) {
			s->line = line;
			s->col = col;
			return SVC_OK;
		}
	}
}

bool
posmap_get(const struct posmap *m, const void *addr, enum posmap_tag tag, uint32_t *line,
           uint32_t *col)
{
	size_t i;

	if (m->cap == 0)
		return false;
	for (i = slot_of(m, addr, tag);; i = (i + 1) & (m->cap - 1)) {
		const struct posmap_slot *s = &m->slots[i];

		if (s->addr == NULL)
			return false;
		if (s->addr == addr && s->tag == tag) {
			*line = s->line;
			*col = s->col;
			return true;
		}
	}
}
