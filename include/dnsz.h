/* dnsz.h -- the cluster domain as ready-made DNS answers. A zone is built once per cluster
 * snapshot: every name the Kubernetes DNS schema defines gets its answers in wire form, so a query
 * is answered by a hash lookup and a copy. Zones are immutable and reference-counted. */
#ifndef DNSZ_H
#define DNSZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "cluster.h"
#include "dnsw.h"
#include "htab.h"
#include "netaddr.h"
#include "pmap.h"
#include "svc_status.h"

#define DNSZ_VERSION_TTL 28800 /* dns-version TXT, as CoreDNS */
#define DNSZ_NEG_TTL_MAX 300   /* SOA TTL in negative answers: min(ttl, 300) */

/* The record types a zone holds answers for; any other type at an existing name is NODATA. */
enum dnsz_rtype {
	DNSZ_A,
	DNSZ_AAAA,
	DNSZ_SRV,
	DNSZ_PTR,
	DNSZ_CNAME,
	DNSZ_TXT,
	DNSZ_SOA,
	DNSZ_NS,
	DNSZ_NTYPES,
};

/* The sections after the question of one response, for a query whose name is the node's name:
 * compression pointers are final, since the question is always at offset 12 and the node's name
 * fixes its length. The record ends (uint16_t, an + ns + ar of them) and then the LEN wire bytes
 * follow this header in memory: dnsz_answer_ends and dnsz_answer_wire find them. */
struct dnsz_answer {
	const struct dnsz_answer *next; /* the node's next answer, of another type */
	uint16_t len;
	/* Record counts (a zone's answer has at most DNSZ_MAX_RECS), with the type and the cut
	 * flag in their spare bits: 16 bytes an answer, not 24, a million and a half of them. */
	uint16_t an : 13;
	uint16_t type : 3; /* enum dnsz_rtype */
	uint16_t ns : 13;
	uint16_t
	        cut : 1; /* answer records were left out at build: no message holds them all (TC) */
	uint16_t ar : 13;
};

#define DNSZ_MAX_RECS 4096 /* records in one answer; fits the 13 bits of a count */

/* End offset of each record of A in its wire bytes. */
static inline const uint16_t *
dnsz_answer_ends(const struct dnsz_answer *a)
{
	return (const uint16_t *)(const void *)(a + 1);
}

static inline const uint8_t *
dnsz_answer_wire(const struct dnsz_answer *a)
{
	return (const uint8_t *)(dnsz_answer_ends(a) + a->an + a->ns + a->ar);
}

enum dnsz_node_flags {
	DNSZ_NODE_POD_NS = 1,  /* <ns>.pod.<zone>: one label below it is a dashed pod IP */
	DNSZ_NODE_CHASE = 2,   /* ExternalName outside the zone: A/AAAA follow the CNAME upstream */
	DNSZ_NODE_REVERSE = 4, /* under in-addr.arpa or ip6.arpa */
};

/* A name of the zone. One without answers is an empty non-terminal (a name below it exists):
 * NODATA for every type, not NXDOMAIN (RFC 8020). A zone has a million and a half names at
 * 100,000 services, nearly all with one or two answers: they are a short list (dnsz_rr), not an
 * array of every type (64 bytes a name), and the name follows the node in memory (16 bytes
 * a node, and a lookup that finds it finds the name in the same or the next cache line). */
struct dnsz_node {
	const struct dnsz_answer *answers; /* at most one of each type */
	uint8_t name_len;
	uint8_t flags;
	uint8_t apex_len; /* wire length of the apex (zone or reverse zone) that ends the name */
};

/* N's name: lower-case wire form, N->name_len bytes. */
static inline const uint8_t *
dnsz_node_name(const struct dnsz_node *n)
{
	return (const uint8_t *)(n + 1);
}

/* NODE's answer for TYPE, or NULL. */
static inline const struct dnsz_answer *
dnsz_rr(const struct dnsz_node *node, enum dnsz_rtype type)
{
	const struct dnsz_answer *a = node->answers;

	while (a != NULL && a->type != type)
		a = a->next;
	return a;
}

/* The CNAME target of a DNSZ_NODE_CHASE node, to follow upstream (*LEN bytes, wire form), or
 * NULL. It is the data of the node's CNAME record: the answer's first record, whose owner is a
 * pointer to the question (2 bytes), then type, class, TTL and length (10), then the target,
 * uncompressed. */
static inline const uint8_t *
dnsz_node_chase(const struct dnsz_node *node, size_t *len)
{
	const struct dnsz_answer *a = dnsz_rr(node, DNSZ_CNAME);
	const uint8_t *w;

	*len = 0;
	if (!(node->flags & DNSZ_NODE_CHASE) || a == NULL || a->an < 1 || a->len < 12)
		return NULL;
	w = dnsz_answer_wire(a);
	if ((w[0] & 0xc0) != 0xc0 || (size_t)(w[10] << 8 | w[11]) + 12 > dnsz_answer_ends(a)[0])
		return NULL;
	*len = (size_t)(w[10] << 8 | w[11]);
	return w + 12;
}

struct dnsz_options {
	const char *domain;         /* "cluster.local" */
	uint32_t ttl;               /* TTL of cluster records */
	struct netaddr ns_addrs[4]; /* glue for ns.dns.<zone> when no kube-dns service exists */
	size_t n_ns_addrs;
	uint32_t serial; /* the SOA serial; 0: the time of the build */
};

struct dnsz_part; /* a piece of a zone, shared by consecutive versions (dnsz.c) */

/* A version of the zone. Its names and its pods by address are persistent maps (pmap.h): a
 * version made from the last one by dnsz_update shares every page and piece the change did not
 * touch, and readers of the last one keep it as it was. */
struct dnsz {
	int refs;    /* atomic */
	int holders; /* atomic: references held long (a zone transfer), among REFS */
	uint8_t apex[DNSW_NAME_MAX];
	size_t apex_len;
	uint32_t ttl;
	uint32_t serial;
	struct pmap names; /* struct dnsz_node by dnsw_name_hash(name), but those below */
	/* The namespaces' pieces, by the hash of their namespace's label in wire form: the names
	 * under <ns>.svc.<zone> (with a label more) are found in the piece of <ns> alone, so a
	 * change of a namespace replaces one entry here, not each of its names. */
	struct pmap spaces;
	struct pmap pods;         /* the snapshot's pods by address, for dnsz_pod_ns */
	struct dnsz_part **parts; /* a reference to each piece its maps point into */
	struct dnsz_part **rev;   /* the pieces of the reverse names, by bucket of address */
	size_t n_parts;
	size_t n_nodes;
	size_t n_services;
	size_t n_pods;
	size_t bytes; /* what its pieces hold (shared pieces counted in every version) */
	uint64_t generation;
	bool loaded; /* false for the placeholder served before the first model: SERVFAIL */
	/* The snapshot's service CIDRs: their reverse names are the cluster's to answer. */
	struct netaddr_prefix service_cidrs[2];
	size_t n_service_cidrs;
};

/* Build the zone for snapshot C; with C NULL, the placeholder for "no model yet". The zone keeps
 * no reference to C. */
enum svc_status dnsz_build(const struct cluster *c, const struct dnsz_options *opts,
                           struct dnsz **out);
struct dnsz *dnsz_ref(struct dnsz *z);
void dnsz_unref(struct dnsz *z);

/* What makes each zone from the last: the pieces of the current version and what they hold.
 * A builder is used from one thread (svcdns's builder thread). */
struct dnsz_builder;

enum svc_status dnsz_builder_create(const struct dnsz_options *opts, struct dnsz_builder **out);
void dnsz_builder_destroy(struct dnsz_builder *b);
/* The zone for snapshot C: the namespaces whose shard changed since the last snapshot
 * (cluster_diff_shards) are built again, with the reverse names of their addresses and the
 * apex; the rest is shared with the last zone. The same answers, byte for byte, as dnsz_build
 * of C (the SOA serial aside). On failure the builder starts afresh next time. */
enum svc_status dnsz_update(struct dnsz_builder *b, const struct cluster *c, struct dnsz **out);
/* The SOA serial of the zones B makes from now on (0: the time of each build). */
void dnsz_builder_set_serial(struct dnsz_builder *b, uint32_t serial);

/* Every name of Z: FN gets each node, in no particular order. */
void dnsz_each_node(const struct dnsz *z, void (*fn)(void *arg, const struct dnsz_node *n),
                    void *arg);

/* A place among Z's names, for walking them a few at a time (zone transfers): zeroed is the
 * start. */
struct dnsz_cursor {
	size_t part, name;
};

/* The name of Z at *C (which moves past it), or NULL when none is left: each name once, the
 * reverse names made when asked excepted, as dnsz_each_node. */
const struct dnsz_node *dnsz_next_node(const struct dnsz *z, struct dnsz_cursor *c);

/* The names of Z that OTHER does not share (those of the pieces made for Z): every name of Z that
 * may differ from OTHER's, and some that do not. FN gets each. */
void dnsz_each_changed_node(const struct dnsz *z, const struct dnsz *other,
                            void (*fn)(void *arg, const struct dnsz_node *n), void *arg);

/* The node for NAME (lower-case wire form), or NULL. A reverse name (under in-addr.arpa or
 * ip6.arpa) whose address has PTR owners is made when asked, in a buffer of the calling
 * thread's that its next call reuses: use it before. */
const struct dnsz_node *dnsz_find(const struct dnsz *z, const uint8_t *name, size_t len,
                                  uint32_t hash);

/* When NAME (lower-case wire form, LEN bytes) is the reverse name of an address inside one of
 * the service CIDRs: the length of its suffix that names the smallest reverse zone covering
 * that CIDR (whole octets under in-addr.arpa, whole nibbles under ip6.arpa: 10.in-addr.arpa for
 * 10.96.0.0/12). 0 for any other name. The cluster owns that range, so an address of it that
 * no service holds is an NXDOMAIN of ours, not a question for the upstream. */
size_t dnsz_reverse_owned(const struct dnsz *z, const uint8_t *name, size_t len);

/* The namespace of the pod that has address IP, or NULL when none has: pods on the host network
 * (they share the node's address) and finished ones (Succeeded or Failed: their address is free
 * for reuse) are not counted; of two pods claiming one address, the first in the snapshot's
 * order (namespace, name) wins. The string lives as long as Z. */
const char *dnsz_pod_ns(const struct dnsz *z, const struct netaddr *ip);

/* CoreDNS's endpoint name for an address: "10-0-0-1", "fd00--1" (a trailing '-' gets a '0').
 * BUF holds at least 64 bytes. Returns the length. */
size_t dnsz_dashed_ip(const struct netaddr *a, char *buf);
/* Parse a dashed pod IP label (LEN bytes): three dashes and no "--" is IPv4, else IPv6. */
bool dnsz_parse_dashed_ip(const uint8_t *label, size_t len, struct netaddr *out);

#endif
