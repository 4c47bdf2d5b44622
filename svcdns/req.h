/* req.h -- a query on its way upstream (or into the cache): the client's question, its packet's
 * header and question (never more: the rest of a query is not needed to answer it), and how to
 * answer it, set by the transport that received it. The upstream code knows only this. */
#ifndef DNSD_REQ_H
#define DNSD_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "dnsc.h"
#include "dnsq.h"

struct dnsd_req;

/* Send BUF (LEN bytes, a whole DNS message) to the request's client. */
typedef void (*dnsd_reply_fn)(struct dnsd_req *r, const uint8_t *buf, size_t len);
/* The request is done with: let go of what the transport holds for it. May be NULL. */
typedef void (*dnsd_release_fn)(struct dnsd_req *r);

struct dnsd_req {
	struct dnsd_req *next; /* in a queue, or among one question's waiters */
	struct dnsq_query q;   /* the client's question */
	struct dnsq_query kq;  /* what is asked upstream and cached: Q, or a CNAME target's */
	uint8_t *pkt;          /* the client's header and question, Q.query_len bytes */
	uint8_t *partial;      /* DNSQ_CHASE: the answer so far */
	size_t partial_len;
	uint64_t start_ns;
	dnsd_reply_fn reply;
	dnsd_release_fn release;
	void *ctx; /* the transport's own, CTX_SIZE bytes */
};

/* The question asked upstream for query Q that dnsq_answer did not answer itself (RES): Q's own,
 * or for DNSQ_CHASE the CNAME target's, as a resolver asks it. */
void dnsd_req_key(const struct dnsq_query *q, const struct dnsq_result *res, struct dnsq_query *kq);
/* A request for Q (parsed from PKT) with RES; OUT holds RES->len bytes of a DNSQ_CHASE answer.
 * CTX_SIZE bytes for the transport at r->ctx. NULL when out of memory. */
struct dnsd_req *dnsd_req_new(const struct dnsq_query *q, const struct dnsq_result *res,
                              const uint8_t *pkt, const uint8_t *out, size_t ctx_size);
/* Release and free R. */
void dnsd_req_free(struct dnsd_req *r);

/* The answer to Q from the cache entry for KQ, rendered into OUT (DNSQ_OUT_MAX bytes) for the
 * client whose packet is PKT (PARTIAL: the CNAME answer so far, for a chase). 0 on a miss or
 * when KQ does not ask for recursion (a cache answer is recursion). */
size_t dnsd_req_cached(struct dnsc *cache, const struct dnsq_query *q, const struct dnsq_query *kq,
                       const uint8_t *pkt, const uint8_t *partial, size_t partial_len,
                       uint64_t now_s, uint8_t *out);
/* The same from an entry past its expiry but within the stale window (dnsc_lookup_stale):
 * every TTL 30. 0 when there is none. */
size_t dnsd_req_stale(struct dnsc *cache, const struct dnsq_query *q, const struct dnsq_query *kq,
                      const uint8_t *pkt, const uint8_t *partial, size_t partial_len,
                      uint64_t now_s, uint8_t *out);

#endif
