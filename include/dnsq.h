/* dnsq.h -- answer one DNS query: query bytes in, answer bytes out. No I/O and no allocation:
 * the server feeds it packets, the tests feed it byte arrays. */
#ifndef DNSQ_H
#define DNSQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsw.h"
#include "dnsz.h"

#define DNSQ_UDP_MAX   1232 /* DNS Flag Day 2020: the largest UDP answer we send */
#define DNSQ_UDP_PLAIN 512  /* without EDNS */
#define DNSQ_OUT_MAX   DNSW_MSG_MAX

enum dnsq_action {
	DNSQ_DROP,     /* no answer: not a query, or too broken to have a header */
	DNSQ_REPLY,    /* OUT holds the answer */
	DNSQ_FORWARD,  /* not ours: send upstream (QUERY describes it) */
	DNSQ_CHASE,    /* OUT holds the CNAME; its target is to be resolved upstream */
	DNSQ_TRANSFER, /* an AXFR or IXFR of the zone over TCP: the server decides (dnsx.h) */
};

enum dnsq_transport {
	DNSQ_UDP,
	DNSQ_TCP,
};

/* A parsed query. QNAME is lower case; the client's own spelling stays in its packet at
 * offset 12 for QNAME_LEN bytes. */
struct dnsq_query {
	uint16_t id;
	uint16_t flags;
	uint16_t qtype, qclass;
	uint8_t qname[DNSW_NAME_MAX];
	size_t qname_len;
	uint32_t hash;
	bool edns;
	bool edns_do;
	uint16_t edns_size; /* the client's UDP payload size, at least 512 */
	size_t limit;       /* largest answer this client takes on its transport */
	size_t query_len;   /* header + question, the part echoed in answers */
	/* DNSQ_CHASE: the CNAME target, to be resolved upstream. It points into the zone or into
	 * the answer built so far (OUT), so it is read before OUT is written again. */
	const uint8_t *chase;
	size_t chase_len;
	/* DNSQ_TRANSFER of an IXFR: the serial of the client's SOA (RFC 1995). */
	uint32_t xfr_serial;
	bool ixfr;
};

/* How an answer came from the server-side search path (autopath). */
enum dnsq_autopath {
	DNSQ_AUTOPATH_NONE,
	DNSQ_AUTOPATH_CLUSTER,  /* a CNAME to a later search name of the cluster, and its records */
	DNSQ_AUTOPATH_UPSTREAM, /* a CNAME to the bare name, resolved upstream (DNSQ_CHASE) */
};

struct dnsq_result {
	enum dnsq_action action;
	size_t len;     /* bytes in OUT */
	uint16_t rcode; /* for metrics; extended codes included */
	bool truncated;
	enum dnsq_autopath autopath;
};

/* Answer the LEN bytes of IN from zone Z (before the first model, a placeholder zone whose
 * names get SERVFAIL). OUT holds at least DNSQ_OUT_MAX bytes. */
void dnsq_answer(const struct dnsz *z, const uint8_t *in, size_t len, enum dnsq_transport tr,
                 uint8_t *out, struct dnsq_query *q, struct dnsq_result *res);

/* dnsq_answer, and the server-side search path for a query from address CLIENT (NULL: none).
 * A name the zone does not have that ends with the first search domain of a pod's namespace
 * (<ns>.svc.<zone>, CLIENT a pod of <ns> in Z) is answered as the pod's resolver would end up
 * answering it: the same base name under svc.<zone>, then <zone>, then the bare name; the first
 * that exists gets a CNAME from the queried name and its own records. A bare name outside the
 * zone is asked upstream (DNSQ_CHASE) for A and AAAA; for other types, and when no name
 * exists, the answer is the plain one (NXDOMAIN), and the client walks its search list. */
void dnsq_answer_from(const struct dnsz *z, const uint8_t *in, size_t len, enum dnsq_transport tr,
                      const struct netaddr *client, uint8_t *out, struct dnsq_query *q,
                      struct dnsq_result *res);

/* An error answer (SERVFAIL when upstreams fail, REFUSED when overloaded) for parsed query Q,
 * whose packet (header and question) is QPKT. Returns its length. */
size_t dnsq_error(const struct dnsq_query *q, const uint8_t *qpkt, uint16_t rcode, uint8_t *out);

/* Finish a DNSQ_CHASE answer (OUT, LEN bytes: the CNAME) without following the CNAME, for a
 * client that is not resolved for: the OPT record is added. Returns the new length. */
size_t dnsq_chase_stop(const struct dnsq_query *q, uint8_t *out, size_t len);
/* The truncated answer (TC, no records) a rate-limited client gets instead of being dropped, so
 * a real one retries over TCP. QPKT is the query. Returns its length. */
size_t dnsq_slip(const struct dnsq_query *q, const uint8_t *qpkt, uint8_t *out);

/* Append an OPT record (payload DNSQ_UDP_MAX, extended rcode EXT, DO echoed) when Q had EDNS. */
void dnsq_add_opt(const struct dnsq_query *q, struct dnsw_wr *w, uint8_t ext_rcode);

#endif
