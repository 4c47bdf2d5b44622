/* lru.h -- least-recently-used order: an intrusive doubly linked list, oldest first. An item
 * embeds a struct lru_node; touching it makes it the newest. */
#ifndef LRU_H
#define LRU_H

#include <stddef.h>

struct lru_node {
	struct lru_node *prev, *next;
};

struct lru {
	struct lru_node *oldest, *newest;
	size_t n;
};

/* The item holding NODE (NULL stays NULL). */
#define lru_item(node, type, member)                                                               \
	((node) == NULL ? NULL : (type *)(void *)((char *)(node)-offsetof(type, member)))

void lru_init(struct lru *l);
/* Add NODE as the newest. */
void lru_push(struct lru *l, struct lru_node *node);
/* Take NODE (which must be in L) out. */
void lru_remove(struct lru *l, struct lru_node *node);
/* Make NODE (in L) the newest. */
void lru_touch(struct lru *l, struct lru_node *node);

#endif
