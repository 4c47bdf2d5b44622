/* etcdjson.c -- etcd's answers as JSON trees, each from an arena of its own (etcdjson.h).
 *
 * Jansson frees a tree's values one by one, the root's own struct last (an object's members
 * go before it). So a tree's arena is released when its root is freed, and a free of any other
 * pointer in a live arena does nothing. Arenas are per thread: the hooks look only at the
 * calling thread's. */
#include "etcdjson.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define BLOCK (1u << 20)
#define ALIGN 16

struct jblock {
	struct jblock *next;
	size_t size;
	_Alignas(ALIGN) unsigned char data[];
};

struct jarena {
	struct jarena *next; /* in the thread's live list */
	struct jblock *blocks;
	size_t used; /* of the first block */
	const void *root;
};

static _Thread_local struct jarena *filling; /* the tree being parsed */
static _Thread_local struct jarena *live;    /* trees in use */
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static bool
owns(const struct jarena *a, const void *p)
{
	for (const struct jblock *b = a->blocks; b != NULL; b = b->next)
		if ((uintptr_t)p >= (uintptr_t)b->data &&
		    (uintptr_t)p < (uintptr_t)b->data + b->size)
			return true;
	return false;
}

static void
arena_free(struct jarena *a)
{
	struct jblock *b = a->blocks, *next;

	for (; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

static void *
hook_malloc(size_t n)
{
	struct jarena *a = filling;
	size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	void *p;

	if (a == NULL || need < n)
		return malloc(n);
	if (a->blocks == NULL || a->blocks->size - a->used < need) {
		size_t size = need > BLOCK ? need : BLOCK;
		struct jblock *b = malloc(sizeof(*b) + size);

		if (b == NULL)
			return NULL;
		b->size = size;
		b->next = a->blocks;
		a->blocks = b;
		a->used = 0;
	}
	p = a->blocks->data + a->used;
	a->used += need;
	return p;
}

static void
hook_free(void *p)
{
	struct jarena **at;

	if (p == NULL)
		return;
	if (filling != NULL && owns(filling, p))
		return; /* a value dropped while parsing: the arena goes when the parse ends */
	for (at = &live; *at != NULL; at = &(*at)->next) {
		struct jarena *a = *at;

		if (!owns(a, p))
			continue;
		if (p == a->root) {
			*at = a->next;
			arena_free(a);
		}
		return;
	}
	free(p);
}

static void
set_hooks(void)
{
	json_set_alloc_funcs(hook_malloc, hook_free);
}

json_t *
etcdjson_load(const char *text, size_t len, json_error_t *je)
{
	struct jarena *a;
	json_t *root;

	pthread_once(&hooks_once, set_hooks);
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	filling = a;
	root = json_loadb(text, len, 0, je);
	filling = NULL;
	if (root == NULL || a->blocks == NULL || !owns(a, root)) {
		/* Failed (nothing of it is left), or a value jansson did not allocate (none is). */
		arena_free(a);
		return root;
	}
	a->root = root;
	a->next = live;
	live = a;
	return root;
}
