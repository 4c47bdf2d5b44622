/* rrl.c -- response rate limiting over a fixed table of token buckets. */
#include "rrl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

#define RRL_LOCKS 64

struct rrl_bucket {
	uint64_t key;    /* 0: empty */
	uint64_t time_s; /* last refill */
	int64_t tokens;
	uint32_t over; /* answers over the rate since the bucket ran dry, for the slip */
};

struct rrl {
	uint32_t rate, slip;
	size_t mask;
	struct rrl_bucket *slots;
	pthread_mutex_t locks[RRL_LOCKS];
	_Atomic uint64_t passed, dropped, slipped;
};

enum svc_status
rrl_create(uint32_t rate, uint32_t slip, size_t slots, struct rrl **out)
{
	struct rrl *r = calloc(1, sizeof(*r));
	size_t n = 64;

	*out = NULL;
	if (r == NULL)
		return SVC_ENOMEM;
	while (n < slots && n < ((size_t)1 << 30))
		n *= 2;
	r->slots = calloc(n, sizeof(*r->slots));
	if (r->slots == NULL) {
		free(r);
		return SVC_ENOMEM;
	}
	r->mask = n - 1;
	r->rate = rate > 0 ? rate : 1;
	r->slip = slip;
	for (size_t i = 0; i < RRL_LOCKS; i++)
		pthread_mutex_init(&r->locks[i], NULL);
	*out = r;
	return SVC_OK;
}

void
rrl_destroy(struct rrl *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < RRL_LOCKS; i++)
		pthread_mutex_destroy(&r->locks[i]);
	free(r->slots);
	free(r);
}

/* The source prefix, the class and the name, as one 64-bit key (never 0). */
static uint64_t
bucket_key(const struct netaddr *client, enum rrl_class cls, const uint8_t *name, size_t len)
{
	uint8_t prefix[8] = {0};
	uint32_t h1, h2;
	uint64_t k;

	if (client->family == NETADDR_V6)
		memcpy(prefix, client->bytes, 7); /* /56 */
	else
		memcpy(prefix, client->bytes, 3); /* /24 */
	prefix[7] = (uint8_t)(client->family << 4 | cls);
	h1 = htab_hash_bytes(prefix, sizeof(prefix), 0x9e3779b9u);
	h2 = htab_hash_bytes(name, len, h1);
	k = (uint64_t)h1 << 32 | htab_hash_u64((uint64_t)h2 << 32 | h1);
	return k ? k : 1;
}

enum rrl_verdict
rrl_check(struct rrl *r, const struct netaddr *client, enum rrl_class cls, const uint8_t *name,
          size_t name_len, uint64_t now_s)
{
	uint64_t key = bucket_key(client, cls, name, name_len);
	size_t slot = (size_t)htab_hash_u64(key) & r->mask;
	pthread_mutex_t *lock = &r->locks[slot % RRL_LOCKS];
	struct rrl_bucket *b = &r->slots[slot];
	enum rrl_verdict v;

	pthread_mutex_lock(lock);
	if (b->key != key) {
		/* New, or another bucket's slot: start over with a full second's worth. */
		b->key = key;
		b->time_s = now_s;
		b->tokens = r->rate;
		b->over = 0;
	} else if (now_s > b->time_s) {
		uint64_t add = (now_s - b->time_s) * r->rate;

		b->tokens = add >= r->rate || b->tokens + (int64_t)add >= (int64_t)r->rate
		                    ? (int64_t)r->rate
		                    : b->tokens + (int64_t)add;
		b->time_s = now_s;
	}
	if (b->tokens > 0) {
		b->tokens--;
		b->over = 0;
		v = RRL_PASS;
	} else {
		b->over++;
		v = r->slip > 0 && b->over % r->slip == 0 ? RRL_SLIP : RRL_DROP;
	}
	pthread_mutex_unlock(lock);
	atomic_fetch_add_explicit(v == RRL_PASS   ? &r->passed
	                          : v == RRL_DROP ? &r->dropped
	                                          : &r->slipped,
	                          1, memory_order_relaxed);
	return v;
}

void
rrl_stats(struct rrl *r, struct rrl_stats *out)
{
	out->passed = atomic_load_explicit(&r->passed, memory_order_relaxed);
	out->dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);
	out->slipped = atomic_load_explicit(&r->slipped, memory_order_relaxed);
}
