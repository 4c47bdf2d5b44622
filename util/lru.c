/* lru.c -- least-recently-used order. */
#include "lru.h"

void
lru_init(struct lru *l)
{
	l->oldest = l->newest = NULL;
	l->n = 0;
}

void
lru_push(struct lru *l, struct lru_node *node)
{
	node->next = NULL;
	node->prev = l->newest;
	if (l->newest != NULL)
		l->newest->next = node;
	else
		l->oldest = node;
	l->newest = node;
	l->n++;
}

void
lru_remove(struct lru *l, struct lru_node *node)
{
	if (node->prev != NULL)
		node->prev->next = node->next;
	else
		l->oldest = node->next;
	if (node->next != NULL)
		node->next->prev = node->prev;
	else
		l->newest = node->prev;
	node->prev = node->next = NULL;
	l->n--;
}

void
lru_touch(struct lru *l, struct lru_node *node)
{
	if (l->newest == node)
		return;
	lru_remove(l, node);
	lru_push(l, node);
}
