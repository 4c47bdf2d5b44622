/* dnsc.c -- sharded LRU cache of upstream answers: each shard one util/htab.h table and one
 * util/lru.h order under one lock. */
#include "dnsc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "lru.h"

#define DNSC_SHARDS 64

struct dnsc_entry {
	struct htab_node hn; /* in its shard's table, under key_hash */
	struct lru_node lru; /* in its shard's order */
	uint16_t qtype, qclass;
	uint32_t kflags;
	uint8_t qname_len;
	uint8_t qname[DNSW_NAME_MAX];
	uint64_t stored, expires;
	struct dnsr_msg *msg;
};

struct dnsc_shard {
	pthread_mutex_t lock;
	struct htab tab;
	struct lru order;
	size_t cap;
};

struct dnsc {
	struct dnsc_shard shards[DNSC_SHARDS];
	_Atomic uint64_t hits, misses, inserts, evictions, expired;
	_Atomic uint32_t stale_s;
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

/* The shard takes the hash's low bits; the table's bucket comes from the top bits of its
 * Fibonacci product, which depend on all the bits, so a shard's entries (equal low bits) still
 * spread over all its buckets (issue 9, item 14: taking both from the low bits used 1/64). */
static struct dnsc_shard *
shard_of(struct dnsc *c, uint32_t hash)
{
	return &c->shards[hash % DNSC_SHARDS];
}

enum svc_status
dnsc_create(size_t capacity, struct dnsc **out)
{
	struct dnsc *c = calloc(1, sizeof(*c));
	size_t per = capacity / DNSC_SHARDS + 1;
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	if (c == NULL)
		goto done;
	for (size_t i = 0; i < DNSC_SHARDS; i++) {
		struct dnsc_shard *s = &c->shards[i];

		pthread_mutex_init(&s->lock, NULL);
		htab_init(&s->tab);
		lru_init(&s->order);
		s->cap = per;
	}
	/* Buckets for a full shard now: inserting never allocates buckets under the lock. */
	for (size_t i = 0; i < DNSC_SHARDS; i++) {
		if (htab_reserve(&c->shards[i].tab, per) != SVC_OK)
			goto done;
	}
	*out = c;
	c = NULL;
	st = SVC_OK;
done:
	dnsc_destroy(c);
	return st;
}

static void
entry_remove(struct dnsc_shard *s, struct dnsc_entry *e)
{
	htab_remove(&s->tab, &e->hn);
	lru_remove(&s->order, &e->lru);
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

		while (s->order.oldest != NULL)
			entry_remove(s, lru_item(s->order.oldest, struct dnsc_entry, lru));
		htab_deinit(&s->tab);
		pthread_mutex_destroy(&s->lock);
	}
	free(c);
}

static struct dnsc_entry *
find(struct dnsc_shard *s, const struct dnsq_query *q, uint32_t hash)
{
	uint32_t kflags = dnsc_key_flags(q);

	for (struct htab_node *hn = htab_find(&s->tab, hash); hn != NULL;
	     hn = htab_next(hn, hash)) {
		struct dnsc_entry *e = htab_item(hn, struct dnsc_entry, hn);

		if (e->qtype == q->qtype && e->qclass == q->qclass && e->kflags == kflags &&
		    e->qname_len == q->qname_len && memcmp(e->qname, q->qname, q->qname_len) == 0)
			return e;
	}
	return NULL;
}

size_t
dnsc_lookup(struct dnsc *c, const struct dnsq_query *q, uint64_t now, dnsc_render_fn render,
            void *arg)
{
	uint32_t hash = key_hash(q);
	struct dnsc_shard *s = shard_of(c, hash);
	struct dnsc_entry *e;
	size_t len = 0;

	pthread_mutex_lock(&s->lock);
	e = find(s, q, hash);
	if (e != NULL && e->expires <= now) {
		/* Kept through the stale window, for dnsc_lookup_stale; a miss all the same. */
		if (e->expires + atomic_load_explicit(&c->stale_s, memory_order_relaxed) <= now) {
			entry_remove(s, e);
			atomic_fetch_add_explicit(&c->expired, 1, memory_order_relaxed);
		}
		e = NULL;
	}
	if (e != NULL) {
		lru_touch(&s->order, &e->lru);
		len = render(e->msg, (uint32_t)(now - e->stored), arg);
	}
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add_explicit(len ? &c->hits : &c->misses, 1, memory_order_relaxed);
	return len;
}

void
dnsc_set_stale(struct dnsc *c, uint32_t seconds)
{
	atomic_store_explicit(&c->stale_s, seconds, memory_order_relaxed);
}

size_t
dnsc_lookup_stale(struct dnsc *c, const struct dnsq_query *q, uint64_t now, dnsc_render_fn render,
                  void *arg)
{
	uint32_t hash = key_hash(q);
	struct dnsc_shard *s = shard_of(c, hash);
	uint32_t window = atomic_load_explicit(&c->stale_s, memory_order_relaxed);
	struct dnsc_entry *e;
	size_t len = 0;

	if (window == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	e = find(s, q, hash);
	if (e != NULL && e->expires + window > now)
		len = render(e->msg, DNSR_AGE_STALE, arg);
	pthread_mutex_unlock(&s->lock);
	return len;
}

void
dnsc_insert(struct dnsc *c, const struct dnsq_query *q, struct dnsr_msg *m, uint64_t now)
{
	uint32_t hash = key_hash(q);
	struct dnsc_shard *s = shard_of(c, hash);
	struct dnsc_entry *e, *old;

	if (m->cache_ttl == 0) {
		free(m);
		return;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		free(m);
		return;
	}
	e->qtype = q->qtype;
	e->qclass = q->qclass;
	e->kflags = dnsc_key_flags(q);
	e->qname_len = (uint8_t)q->qname_len;
	memcpy(e->qname, q->qname, q->qname_len);
	e->stored = now;
	e->expires = now + m->cache_ttl;
	e->msg = m;
	pthread_mutex_lock(&s->lock);
	old = find(s, q, hash);
	if (old != NULL)
		entry_remove(s, old);
	while (s->order.n >= s->cap && s->order.oldest != NULL) {
		entry_remove(s, lru_item(s->order.oldest, struct dnsc_entry, lru));
		atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
	}
	/* Cannot fail: the buckets were reserved at create. */
	(void)htab_insert(&s->tab, &e->hn, hash);
	lru_push(&s->order, &e->lru);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add_explicit(&c->inserts, 1, memory_order_relaxed);
}

/* Bucket use of one shard's table, added to OUT; its buckets are read as htab.h lays them out
 * (struct htab is public). */
static void
shard_spread(const struct dnsc_shard *s, struct dnsc_spread *out)
{
	out->entries += s->order.n;
	if (s->tab.buckets == NULL)
		return;
	out->buckets += (size_t)1 << s->tab.bits;
	for (size_t b = 0; b < (size_t)1 << s->tab.bits; b++) {
		size_t len = 0;

		for (const struct htab_node *n = s->tab.buckets[b]; n != NULL; n = n->next)
			len++;
		out->buckets_used += len > 0;
		if (len > out->longest_chain)
			out->longest_chain = len;
	}
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
		out->entries += c->shards[i].order.n;
		pthread_mutex_unlock(&c->shards[i].lock);
	}
}

void
dnsc_spread(struct dnsc *c, struct dnsc_spread *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < DNSC_SHARDS; i++) {
		pthread_mutex_lock(&c->shards[i].lock);
		shard_spread(&c->shards[i], out);
		pthread_mutex_unlock(&c->shards[i].lock);
	}
}
