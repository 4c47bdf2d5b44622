/* dnsc.c -- sharded LRU cache of upstream answers. */
#include "dnsc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DNSC_SHARDS 64

struct dnsc_entry {
	struct dnsc_entry *next_hash;
	struct dnsc_entry *lru_prev, *lru_next; /* most recent at the head */
	uint32_t hash;
	uint16_t qtype, qclass;
	uint32_t kflags;
	uint8_t qname_len;
	uint8_t qname[DNSW_NAME_MAX];
	uint64_t stored, expires;
	struct dnsr_msg *msg;
};

struct dnsc_shard {
	pthread_mutex_t lock;
	struct dnsc_entry **buckets;
	size_t n_buckets;
	struct dnsc_entry *lru_head, *lru_tail;
	size_t n, cap;
};

struct dnsc {
	struct dnsc_shard shards[DNSC_SHARDS];
	_Atomic uint64_t hits, misses, inserts, evictions, expired;
};

uint32_t
dnsc_key_flags(const struct dnsq_query *q)
{
	return (q->edns_do ? 1u : 0u) | ((q->flags & DNSW_F_CD) ? 2u : 0u);
}

static uint32_t
key_hash(const struct dnsq_query *q)
{
	return q->hash ^ ((uint32_t)q->qtype * 0x9e3779b1u) ^ (dnsc_key_flags(q) << 29);
}

enum svc_status
dnsc_create(size_t capacity, struct dnsc **out)
{
	struct dnsc *c = calloc(1, sizeof(*c));
	size_t per = capacity / DNSC_SHARDS + 1;

	*out = NULL;
	if (c == NULL)
		return SVC_ENOMEM;
	for (size_t i = 0; i < DNSC_SHARDS; i++) {
		struct dnsc_shard *s = &c->shards[i];

		pthread_mutex_init(&s->lock, NULL);
		s->cap = per;
		s->n_buckets = 64;
		while (s->n_buckets < per)
			s->n_buckets *= 2;
		s->buckets = calloc(s->n_buckets, sizeof(*s->buckets));
		if (s->buckets == NULL) {
			dnsc_destroy(c);
			return SVC_ENOMEM;
		}
	}
	*out = c;
	return SVC_OK;
}

static void
lru_unlink(struct dnsc_shard *s, struct dnsc_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		s->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		s->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void
lru_push(struct dnsc_shard *s, struct dnsc_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = s->lru_head;
	if (s->lru_head != NULL)
		s->lru_head->lru_prev = e;
	s->lru_head = e;
	if (s->lru_tail == NULL)
		s->lru_tail = e;
}

static void
entry_remove(struct dnsc_shard *s, struct dnsc_entry *e)
{
	struct dnsc_entry **pp = &s->buckets[e->hash & (s->n_buckets - 1)];

	while (*pp != e)
		pp = &(*pp)->next_hash;
	*pp = e->next_hash;
	lru_unlink(s, e);
	s->n--;
	free(e->msg);
	free(e);
}

void
dnsc_destroy(struct dnsc *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < DNSC_SHARDS; i++) {
		struct dnsc_shard *s = &c->shards[i];

		while (s->lru_head != NULL)
			entry_remove(s, s->lru_head);
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	free(c);
}

static struct dnsc_entry *
find(struct dnsc_shard *s, const struct dnsq_query *q, uint32_t hash)
{
	uint32_t kflags = dnsc_key_flags(q);

	for (struct dnsc_entry *e = s->buckets[hash & (s->n_buckets - 1)]; e; e = e->next_hash) {
		if (e->hash == hash && e->qtype == q->qtype && e->qclass == q->qclass &&
		    e->kflags == kflags && e->qname_len == q->qname_len &&
		    memcmp(e->qname, q->qname, q->qname_len) == 0)
			return e;
	}
	return NULL;
}

size_t
dnsc_lookup(struct dnsc *c, const struct dnsq_query *q, uint64_t now, dnsc_render_fn render,
            void *arg)
{
	uint32_t hash = key_hash(q);
	struct dnsc_shard *s = &c->shards[hash % DNSC_SHARDS];
	struct dnsc_entry *e;
	size_t len = 0;

	pthread_mutex_lock(&s->lock);
	e = find(s, q, hash);
	if (e != NULL && e->expires <= now) {
		entry_remove(s, e);
		atomic_fetch_add_explicit(&c->expired, 1, memory_order_relaxed);
		e = NULL;
	}
	if (e != NULL) {
		lru_unlink(s, e);
		lru_push(s, e);
		len = render(e->msg, (uint32_t)(now - e->stored), arg);
	}
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add_explicit(len ? &c->hits : &c->misses, 1, memory_order_relaxed);
	return len;
}

void
dnsc_insert(struct dnsc *c, const struct dnsq_query *q, struct dnsr_msg *m, uint64_t now)
{
	uint32_t hash = key_hash(q);
	struct dnsc_shard *s = &c->shards[hash % DNSC_SHARDS];
	struct dnsc_entry *e;

	if (m->cache_ttl == 0) {
		free(m);
		return;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		free(m);
		return;
	}
	e->hash = hash;
	e->qtype = q->qtype;
	e->qclass = q->qclass;
	e->kflags = dnsc_key_flags(q);
	e->qname_len = (uint8_t)q->qname_len;
	memcpy(e->qname, q->qname, q->qname_len);
	e->stored = now;
	e->expires = now + m->cache_ttl;
	e->msg = m;
	pthread_mutex_lock(&s->lock);
	{
		struct dnsc_entry *old = find(s, q, hash);

		if (old != NULL)
			entry_remove(s, old);
		while (s->n >= s->cap && s->lru_tail != NULL) {
			entry_remove(s, s->lru_tail);
			atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
		}
		e->next_hash = s->buckets[hash & (s->n_buckets - 1)];
		s->buckets[hash & (s->n_buckets - 1)] = e;
		lru_push(s, e);
		s->n++;
	}
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add_explicit(&c->inserts, 1, memory_order_relaxed);
}

void
dnsc_stats(struct dnsc *c, struct dnsc_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->hits = atomic_load_explicit(&c->hits, memory_order_relaxed);
	out->misses = atomic_load_explicit(&c->misses, memory_order_relaxed);
	out->inserts = atomic_load_explicit(&c->inserts, memory_order_relaxed);
	out->evictions = atomic_load_explicit(&c->evictions, memory_order_relaxed);
	out->expired = atomic_load_explicit(&c->expired, memory_order_relaxed);
	for (size_t i = 0; i < DNSC_SHARDS; i++) {
		pthread_mutex_lock(&c->shards[i].lock);
		out->entries += c->shards[i].n;
		pthread_mutex_unlock(&c->shards[i].lock);
	}
}
