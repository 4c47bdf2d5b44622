/* req.c -- queries on their way upstream. */
#include "req.h"

#include <stdlib.h>
#include <string.h>

void
dnsd_req_key(const struct dnsq_query *q, const struct dnsq_result *res, struct dnsq_query *kq)
{
	*kq = *q;
	if (res->action == DNSQ_CHASE) {
		memcpy(kq->qname, q->chase, q->chase_len);
		kq->qname_len = q->chase_len;
		kq->hash = dnsw_name_hash(q->chase, q->chase_len);
		kq->qclass = DNSW_C_IN;
		kq->flags = DNSW_F_RD;
		kq->edns = false;
		kq->edns_do = false;
	}
	kq->chase = NULL;
	kq->chase_len = 0;
}

struct dnsd_req *
dnsd_req_new(const struct dnsq_query *q, const struct dnsq_result *res, const uint8_t *pkt,
             const uint8_t *out, size_t ctx_size)
{
	size_t partial = res->action == DNSQ_CHASE ? res->len : 0;
	size_t ctx = (ctx_size + 15) & ~(size_t)15;
	struct dnsd_req *r = calloc(1, sizeof(*r) + ctx + q->query_len + partial);

	if (r == NULL)
		return NULL;
	r->q = *q;
	r->q.chase = NULL;
	r->q.chase_len = 0;
	dnsd_req_key(q, res, &r->kq);
	r->ctx = r + 1;
	r->pkt = (uint8_t *)r->ctx + ctx;
	memcpy(r->pkt, pkt, q->query_len);
	if (partial > 0) {
		r->partial = r->pkt + q->query_len;
		memcpy(r->partial, out, partial);
		r->partial_len = partial;
	}
	return r;
}

void
dnsd_req_free(struct dnsd_req *r)
{
	if (r == NULL)
		return;
	if (r->release != NULL)
		r->release(r);
	free(r);
}

struct render_ctx {
	const struct dnsq_query *q;
	const uint8_t *pkt, *partial;
	size_t partial_len;
	uint8_t *out;
};

static size_t
render(const struct dnsr_msg *m, uint32_t age, void *arg)
{
	struct render_ctx *c = arg;

	if (c->partial != NULL)
		return dnsr_render_chase(m, c->q, c->partial, c->partial_len, age, c->out);
	return dnsr_render(m, c->q, c->pkt, age, c->out);
}

typedef size_t (*lookup_fn)(struct dnsc *c, const struct dnsq_query *q, uint64_t now,
                            dnsc_render_fn render, void *arg);

/* KQ's entry by LOOKUP, rendered for the client: only a question asking for recursion. */
static size_t
from_cache(lookup_fn lookup, struct dnsc *cache, const struct dnsq_query *q,
           const struct dnsq_query *kq, const uint8_t *pkt, const uint8_t *partial,
           size_t partial_len, uint64_t now_s, uint8_t *out)
{
	struct render_ctx ctx = {q, pkt, partial, partial_len, out};

	if (cache == NULL || !(kq->flags & DNSW_F_RD))
		return 0;
	return lookup(cache, kq, now_s, render, &ctx);
}

size_t
dnsd_req_cached(struct dnsc *cache, const struct dnsq_query *q, const struct dnsq_query *kq,
                const uint8_t *pkt, const uint8_t *partial, size_t partial_len, uint64_t now_s,
                uint8_t *out)
{
	return from_cache(dnsc_lookup, cache, q, kq, pkt, partial, partial_len, now_s, out);
}

size_t
dnsd_req_stale(struct dnsc *cache, const struct dnsq_query *q, const struct dnsq_query *kq,
               const uint8_t *pkt, const uint8_t *partial, size_t partial_len, uint64_t now_s,
               uint8_t *out)
{
	return from_cache(dnsc_lookup_stale, cache, q, kq, pkt, partial, partial_len, now_s, out);
}
