/* dnsr.h -- relay upstream answers: check an answer against the question it is for, keep it in
 * a form that can be served again (to the same client or from the cache), and render it for a
 * client: its ID and spelling of the name, its size limit, TTLs aged, our own OPT. */
#ifndef DNSR_H
#define DNSR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsq.h"
#include "svc_status.h"

#define DNSR_MAX_RECORDS 4096

/* An upstream answer without its OPT record. One allocation; free with free(). */
struct dnsr_msg {
	uint8_t *wire; /* header, question, records */
	size_t len;
	size_t qend; /* end of the question */
	uint16_t flags;
	uint16_t an, ns, ar;
	uint16_t n_rec;
	uint16_t *rec_end; /* end of each record in WIRE */
	uint16_t *ttl_off; /* offset of each record's TTL */
	uint16_t *types;
	uint8_t ext_rcode;  /* upper 8 bits of the rcode, from the upstream's OPT */
	uint32_t cache_ttl; /* 0: not to be cached */
};

struct dnsr_limits {
	uint32_t max_ttl;     /* cap for positive answers */
	uint32_t max_neg_ttl; /* cap for negative answers (RFC 2308: SOA minimum) */
};

/* Check MSG (LEN bytes from upstream) answers Q and normalise it into *OUT. SVC_EINVAL when it
 * is malformed or answers another question; the caller answers SERVFAIL then. */
enum svc_status dnsr_parse(const uint8_t *msg, size_t len, const struct dnsq_query *q,
                           const struct dnsr_limits *lim, struct dnsr_msg **out);

/* An AGE that renders every TTL as DNSR_STALE_TTL: a stale answer (RFC 8767 section 4). */
#define DNSR_AGE_STALE 0x80000000u
#define DNSR_STALE_TTL 30

/* Render M for the client of Q, whose packet (header and question) is QPKT, AGE seconds after M
 * arrived (or DNSR_AGE_STALE). OUT holds DNSQ_OUT_MAX bytes. Returns the length. */
size_t dnsr_render(const struct dnsr_msg *m, const struct dnsq_query *q, const uint8_t *qpkt,
                   uint32_t age, uint8_t *out);

/* Finish an ExternalName answer: PARTIAL (PARTIAL_LEN bytes: header, question and the CNAME, as
 * dnsq_answer left it) followed by M's A, AAAA and CNAME answers with their names expanded.
 * Returns the length written to OUT. */
size_t dnsr_render_chase(const struct dnsr_msg *m, const struct dnsq_query *q,
                         const uint8_t *partial, size_t partial_len, uint32_t age, uint8_t *out);

/* The query svcdns sends upstream for question K: its name, type and class, ID, the RD and CD
 * bits K has, and an OPT record (payload DNSQ_UDP_MAX, DO when K has it). Only K's parts are
 * sent, never what else a client put in its query. Returns the length, 0 when CAP is short. */
size_t dnsr_make_query(const struct dnsq_query *k, uint16_t id, uint8_t *out, size_t cap);

#endif
