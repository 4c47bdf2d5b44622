/* dnsc.h -- the cache of forwarded answers: keyed by question (name, type, class, DO and CD
 * bits), kept for the answer's TTL (RFC 2308 for denials), bounded, least recently used out first.
 * Sharded locks: UDP workers read it while the main loop fills it. Cluster answers are never
 * cached: they come from the model. */
#ifndef DNSC_H
#define DNSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsq.h"
#include "dnsr.h"
#include "svc_status.h"

struct dnsc;

struct dnsc_stats {
	uint64_t hits, misses, inserts, evictions, expired;
	size_t entries;
};

/* Render a cached message; returns the answer length. */
typedef size_t (*dnsc_render_fn)(const struct dnsr_msg *m, uint32_t age, void *arg);

enum svc_status dnsc_create(size_t capacity, struct dnsc **out);
void dnsc_destroy(struct dnsc *c);

/* On a hit for Q, call RENDER on the entry (under its shard lock) and return what it returns;
 * 0 on a miss. NOW is in seconds on a monotonic clock. */
size_t dnsc_lookup(struct dnsc *c, const struct dnsq_query *q, uint64_t now, dnsc_render_fn render,
                   void *arg);
/* Serve-stale (RFC 8767): keep entries SECONDS past their expiry (0, the default: drop them when
 * they expire), for dnsc_lookup_stale. dnsc_lookup still misses on them. */
void dnsc_set_stale(struct dnsc *c, uint32_t seconds);
/* An entry for Q that expired no more than the stale window ago (or has not expired), rendered
 * with DNSR_AGE_STALE: every TTL 30. 0 when there is none. For when the upstreams fail. */
size_t dnsc_lookup_stale(struct dnsc *c, const struct dnsq_query *q, uint64_t now,
                         dnsc_render_fn render, void *arg);
/* Keep M (which the cache now owns) for M->cache_ttl seconds; frees it when that is 0. */
void dnsc_insert(struct dnsc *c, const struct dnsq_query *q, struct dnsr_msg *m, uint64_t now);
void dnsc_stats(struct dnsc *c, struct dnsc_stats *out);

/* How the entries spread over the shards' hash buckets. Walks every bucket, shard by shard
 * under its lock: for tests and debugging, not for every metrics scrape. */
struct dnsc_spread {
	size_t entries;
	size_t buckets, buckets_used;
	size_t longest_chain;
};
void dnsc_spread(struct dnsc *c, struct dnsc_spread *out);

/* The key bits of a query besides name, type and class. */
uint32_t dnsc_key_flags(const struct dnsq_query *q);

#endif
