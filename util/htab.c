/* htab.c -- the intrusive chained hash table. */
#include "htab.h"

#include <stdlib.h>
#include <string.h>

#define HTAB_MIN_BITS 4
#define HTAB_MAX_BITS 31

static size_t
bucket_of(unsigned bits, uint32_t hash)
{
	/* Fibonacci hashing: the top bits of the product depend on every bit of HASH. */
	return bits == 0 ? 0 : (size_t)((hash * 2654435769u) >> (32 - bits));
}

void
htab_init(struct htab *t)
{
	memset(t, 0, sizeof(*t));
}

void
htab_deinit(struct htab *t)
{
	free(t->buckets);
	htab_init(t);
}

static enum svc_status
rehash(struct htab *t, unsigned bits)
{
	struct htab_node **nb = calloc((size_t)1 << bits, sizeof(*nb));

	if (nb == NULL)
		return SVC_ENOMEM;
	if (t->buckets != NULL) {
		for (size_t i = 0; i < (size_t)1 << t->bits; i++) {
			struct htab_node *n = t->buckets[i];

			while (n != NULL) {
				struct htab_node *next = n->next;
				size_t b = bucket_of(bits, n->hash);

				n->next = nb[b];
				nb[b] = n;
				n = next;
			}
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->bits = bits;
	return SVC_OK;
}

enum svc_status
htab_reserve(struct htab *t, size_t n)
{
	unsigned bits = t->bits ? t->bits : HTAB_MIN_BITS;

	while (bits < HTAB_MAX_BITS && ((size_t)1 << bits) < n)
		bits++;
	if (t->buckets != NULL && bits == t->bits)
		return SVC_OK;
	return rehash(t, bits);
}

enum svc_status
htab_insert(struct htab *t, struct htab_node *node, uint32_t hash)
{
	size_t b;

	if (t->buckets == NULL && rehash(t, HTAB_MIN_BITS) != SVC_OK)
		return SVC_ENOMEM;
	if (t->n >= ((size_t)1 << t->bits) && t->bits < HTAB_MAX_BITS)
		(void)rehash(t, t->bits + 1); /* on failure the chains just grow */
	node->hash = hash;
	b = bucket_of(t->bits, hash);
	node->next = t->buckets[b];
	t->buckets[b] = node;
	t->n++;
	return SVC_OK;
}

void
htab_remove(struct htab *t, struct htab_node *node)
{
	struct htab_node **pp;

	if (t->buckets == NULL)
		return;
	for (pp = &t->buckets[bucket_of(t->bits, node->hash)]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == node) {
			*pp = node->next;
			node->next = NULL;
			t->n--;
			return;
		}
	}
}

struct htab_node *
htab_find(const struct htab *t, uint32_t hash)
{
	struct htab_node *n;

	if (t->buckets == NULL)
		return NULL;
	for (n = t->buckets[bucket_of(t->bits, hash)]; n != NULL && n->hash != hash; n = n->next)
		;
	return n;
}

struct htab_node *
htab_next(const struct htab_node *node, uint32_t hash)
{
	struct htab_node *n;

	for (n = node->next; n != NULL && n->hash != hash; n = n->next)
		;
	return n;
}

struct htab_node *
htab_iter_next(struct htab_iter *it)
{
	struct htab_node *n;

	/* NEXT is read ahead, so the caller may free the node returned. */
	while (it->next == NULL) {
		if (it->t->buckets == NULL || it->bucket >= ((size_t)1 << it->t->bits))
			return NULL;
		it->next = it->t->buckets[it->bucket++];
	}
	n = it->next;
	it->next = n->next;
	return n;
}

struct htab_node *
htab_first(struct htab_iter *it, const struct htab *t)
{
	it->t = t;
	it->bucket = 0;
	it->next = NULL;
	return htab_iter_next(it);
}

uint32_t
htab_hash_bytes(const void *p, size_t len, uint32_t seed)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u ^ seed;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

uint32_t
htab_hash_str(const char *s, uint32_t seed)
{
	uint32_t h = 2166136261u ^ seed;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

uint32_t
htab_hash_u64(uint64_t v)
{
	/* murmur3's finaliser. */
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return (uint32_t)v;
}
