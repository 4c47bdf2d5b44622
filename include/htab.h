/* htab.h -- the hash table: intrusive and chained. An item embeds a struct htab_node and is
 * found by its 32-bit hash, the caller comparing keys; the table owns only its bucket array, so
 * one item may sit in several tables. It grows (doubling) to keep chains short and spreads any
 * hash over the buckets (Fibonacci hashing), so callers need not mix their hashes. */
#ifndef HTAB_H
#define HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_status.h"

struct htab_node {
	struct htab_node *next;
	uint32_t hash;
};

struct htab {
	struct htab_node **buckets;
	unsigned bits; /* 2^bits buckets; 0 before the first insert */
	size_t n;
};

/* The item holding NODE. */
#define htab_item(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))

void htab_init(struct htab *t);
/* Frees the buckets, not the items. */
void htab_deinit(struct htab *t);
/* Buckets for N items up front (a table built once, at its final size). */
enum svc_status htab_reserve(struct htab *t, size_t n);
/* Add NODE under HASH. SVC_ENOMEM only when the table has no buckets and cannot get any; a
 * failed growth just leaves chains longer. */
enum svc_status htab_insert(struct htab *t, struct htab_node *node, uint32_t hash);
/* Take NODE (which must be in T) out. */
void htab_remove(struct htab *t, struct htab_node *node);

/* The first node with HASH, then the next ones:
 *   for (n = htab_find(t, h); n != NULL; n = htab_next(n, h)) if (same key) ...; */
struct htab_node *htab_find(const struct htab *t, uint32_t hash);
struct htab_node *htab_next(const struct htab_node *node, uint32_t hash);

/* Every node, in no particular order:
 *   struct htab_iter it; for (n = htab_first(&it, t); n != NULL; n = htab_iter_next(&it))
 * Removing (even freeing) the node just returned is allowed; inserting while iterating is not. */
struct htab_iter {
	const struct htab *t;
	size_t bucket;
	struct htab_node *next;
};
struct htab_node *htab_first(struct htab_iter *it, const struct htab *t);
struct htab_node *htab_iter_next(struct htab_iter *it);

/* FNV-1a over LEN bytes, a string, and a pointer or integer: hashes for keys. */
uint32_t htab_hash_bytes(const void *p, size_t len, uint32_t seed);
uint32_t htab_hash_str(const char *s, uint32_t seed);
uint32_t htab_hash_u64(uint64_t v);

#endif
