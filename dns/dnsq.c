/* dnsq.c -- parse a query, check it as NSD and Knot do, and answer it from the zone: a hash
 * lookup and a copy of a ready-made answer, or a synthesised negative or pod answer. */
#include "dnsq.h"

#include <string.h>

#include "dnsa.h"

/* Zone lookup index for a query type; -1 for types the zone never holds (NODATA). */
static int
rtype_index(uint16_t qtype)
{
	switch (qtype) {
	case DNSW_T_A:
		return DNSZ_A;
	case DNSW_T_AAAA:
		return DNSZ_AAAA;
	case DNSW_T_SRV:
		return DNSZ_SRV;
	case DNSW_T_PTR:
		return DNSZ_PTR;
	case DNSW_T_CNAME:
		return DNSZ_CNAME;
	case DNSW_T_TXT:
		return DNSZ_TXT;
	case DNSW_T_SOA:
		return DNSZ_SOA;
	case DNSW_T_NS:
		return DNSZ_NS;
	default:
		return -1;
	}
}

/* Header and, when QUESTION, the question copied from the client (its case kept). */
static void
begin(const struct dnsq_query *q, const uint8_t *in, struct dnsw_wr *w, uint16_t rcode, bool aa,
      bool question)
{
	uint16_t flags = DNSW_F_QR | DNSW_F_RA | (q->flags & (DNSW_F_OPCODE_MASK | DNSW_F_RD)) |
	                 (uint16_t)(rcode & DNSW_F_RCODE_MASK);

	if (aa)
		flags |= DNSW_F_AA;
	if (question)
		flags |= q->flags & DNSW_F_CD;
	dnsw_wr_u16(w, q->id);
	dnsw_wr_u16(w, flags);
	dnsw_wr_u16(w, question ? 1 : 0);
	dnsw_wr_u16(w, 0);
	dnsw_wr_u16(w, 0);
	dnsw_wr_u16(w, 0);
	if (question)
		dnsw_wr_bytes(w, in + DNSW_HEADER, q->query_len - DNSW_HEADER);
}

void
dnsq_add_opt(const struct dnsq_query *q, struct dnsw_wr *w, uint8_t ext_rcode)
{
	uint8_t *out = w->buf;

	if (!q->edns)
		return;
	dnsw_wr_u8(w, 0);
	dnsw_wr_u16(w, DNSW_T_OPT);
	dnsw_wr_u16(w, DNSQ_UDP_MAX);
	dnsw_wr_u32(w, (uint32_t)ext_rcode << 24 | (q->edns_do ? DNSW_EDNS_DO : 0));
	dnsw_wr_u16(w, 0);
	if (!w->full)
		dnsw_put16(out + 10, (uint16_t)(dnsw_get16(out + 10) + 1));
}

static void
finish(const struct dnsq_query *q, struct dnsw_wr *w, uint16_t rcode, struct dnsq_result *res)
{
	dnsq_add_opt(q, w, (uint8_t)(rcode >> 4));
	res->action = DNSQ_REPLY;
	res->len = w->len;
	res->rcode = rcode;
}

size_t
dnsq_error(const struct dnsq_query *q, const uint8_t *qpkt, uint16_t rcode, uint8_t *out)
{
	struct dnsw_wr w;

	dnsw_wr_init(&w, out, DNSQ_OUT_MAX);
	begin(q, qpkt, &w, rcode, false, q->query_len > DNSW_HEADER);
	dnsq_add_opt(q, &w, (uint8_t)(rcode >> 4));
	return w.len;
}

size_t
dnsq_chase_stop(const struct dnsq_query *q, uint8_t *out, size_t len)
{
	struct dnsw_wr w;

	dnsw_wr_init(&w, out, DNSQ_OUT_MAX);
	w.len = len;
	dnsq_add_opt(q, &w, 0);
	return w.len;
}

size_t
dnsq_slip(const struct dnsq_query *q, const uint8_t *qpkt, uint8_t *out)
{
	struct dnsw_wr w;

	dnsw_wr_init(&w, out, DNSQ_OUT_MAX);
	begin(q, qpkt, &w, DNSW_R_NOERROR, false, q->query_len > DNSW_HEADER);
	dnsw_put16(out + 2, (uint16_t)(dnsw_get16(out + 2) | DNSW_F_TC));
	dnsq_add_opt(q, &w, 0);
	return w.len;
}

static void
set_tc(struct dnsw_wr *w, struct dnsq_result *res)
{
	res->truncated = true;
	dnsw_put16(w->buf + 2, (uint16_t)(dnsw_get16(w->buf + 2) | DNSW_F_TC));
}

/* Copy a ready answer, cut at a record boundary when the client's limit is smaller. Records
 * beyond the answer and authority sections may be left out silently (RFC 2181 9); a cut in the
 * answer sets TC, as does one made at build (an answer over 64 KiB, even for TCP). */
static void
put_answer(const struct dnsq_query *q, struct dnsw_wr *w, const struct dnsz_answer *a,
           struct dnsq_result *res)
{
	size_t room = q->limit - w->len - (q->edns ? 11 : 0);
	uint16_t total = (uint16_t)(a->an + a->ns + a->ar), keep = total, an = a->an, ns = a->ns;
	size_t bytes = a->len;

	if (a->cut)
		set_tc(w, res);
	if (a->len > room) {
		keep = 0;
		while (keep < total && dnsz_answer_ends(a)[keep] <= room)
			keep++;
		if (keep < a->an + a->ns) {
			set_tc(w, res);
			if (keep > a->an)
				keep = a->an;
		}
		bytes = keep ? dnsz_answer_ends(a)[keep - 1] : 0;
		an = keep < a->an ? keep : a->an;
		ns = keep - an < a->ns ? (uint16_t)(keep - an) : a->ns;
	}
	dnsw_wr_bytes(w, dnsz_answer_wire(a), bytes);
	dnsw_put16(w->buf + 6, an);
	dnsw_put16(w->buf + 8, ns);
	dnsw_put16(w->buf + 10, (uint16_t)(keep - an - ns));
}

/* The zone's SOA in the authority section of a negative answer; its owner is the apex, which
 * ends the query name, so it points into the question and keeps the client's case. */
static void
put_soa(const struct dnsz *z, const struct dnsq_query *q, struct dnsw_wr *w, size_t apex_len)
{
	size_t apex_off = DNSW_HEADER + q->qname_len - apex_len;
	uint32_t neg = z->ttl < DNSZ_NEG_TTL_MAX ? z->ttl : DNSZ_NEG_TTL_MAX;
	size_t rdlen_at;

	dnsw_wr_ptr(w, apex_off);
	dnsw_wr_u16(w, DNSW_T_SOA);
	dnsw_wr_u16(w, DNSW_C_IN);
	dnsw_wr_u32(w, neg);
	rdlen_at = w->len;
	dnsw_wr_u16(w, 0);
	dnsw_wr_bytes(w, "\2ns\3dns", 7);
	dnsw_wr_ptr(w, apex_off);
	dnsw_wr_bytes(w, "\12hostmaster", 11);
	dnsw_wr_ptr(w, apex_off);
	dnsw_wr_u32(w, z->serial);
	dnsw_wr_u32(w, 7200);
	dnsw_wr_u32(w, 1800);
	dnsw_wr_u32(w, 86400);
	dnsw_wr_u32(w, z->ttl);
	if (!w->full) {
		dnsw_put16(w->buf + rdlen_at, (uint16_t)(w->len - rdlen_at - 2));
		dnsw_put16(w->buf + 8, 1);
	}
}

/* NODE's answer to QTYPE: that type's, else at a CNAME the CNAME (RFC 1034 3.6.2); NULL: NODATA.
 * *CHASE: it is an ExternalName's CNAME whose target is asked upstream (A and AAAA). */
static const struct dnsz_answer *
pick_answer(const struct dnsz_node *node, uint16_t qtype, bool *chase)
{
	int idx = rtype_index(qtype);
	const struct dnsz_answer *a = idx >= 0 ? dnsz_rr(node, idx) : NULL;
	const struct dnsz_answer *cname = dnsz_rr(node, DNSZ_CNAME);

	*chase = false;
	if (cname == NULL || qtype == DNSW_T_CNAME)
		return a;
	if ((node->flags & DNSZ_NODE_CHASE) && (qtype == DNSW_T_A || qtype == DNSW_T_AAAA)) {
		*chase = true;
		return cname;
	}
	return a != NULL ? a : cname;
}

/* W holds the answer so far, ending with a CNAME to TARGET (LEN bytes): the rest is asked
 * upstream. */
static void
to_upstream(struct dnsq_query *q, const struct dnsw_wr *w, struct dnsq_result *res,
            const uint8_t *target, size_t len)
{
	q->chase = target;
	q->chase_len = len;
	res->action = DNSQ_CHASE;
	res->len = w->len;
	res->rcode = DNSW_R_NOERROR;
}

/* An ExternalName NODE's target is asked upstream. */
static void
chase_target(const struct dnsz_node *node, struct dnsq_query *q, const struct dnsw_wr *w,
             struct dnsq_result *res)
{
	size_t len;
	const uint8_t *target = dnsz_node_chase(node, &len);

	to_upstream(q, w, res, target, len);
}

/* When NAME is <dashed-ip>.<ns>.pod.<zone>, its address: "pods insecure" answers any
 * well-formed one. */
static bool
pod_ip(const struct dnsz *z, const uint8_t *name, size_t len, struct netaddr *ip)
{
	const uint8_t *parent = name + 1 + name[0];
	size_t plen = len - 1 - name[0];
	const struct dnsz_node *ns;

	if (name[0] == 0)
		return false;
	ns = dnsz_find(z, parent, plen, dnsw_name_hash(parent, plen));
	if (ns == NULL || !(ns->flags & DNSZ_NODE_POD_NS))
		return false;
	return dnsz_parse_dashed_ip(name + 1, name[0], ip);
}

/* A pod name's record: its address, of the type that address has. OWNER_OFF is where its name
 * is in the message. Returns whether Q's type was that type. */
static bool
put_pod_record(const struct dnsz *z, const struct dnsq_query *q, struct dnsw_wr *w,
               const struct netaddr *ip, size_t owner_off)
{
	uint16_t want = ip->family == NETADDR_V4 ? DNSW_T_A : DNSW_T_AAAA;

	if (q->qtype != want)
		return false;
	dnsw_wr_ptr(w, owner_off);
	dnsw_wr_u16(w, want);
	dnsw_wr_u16(w, DNSW_C_IN);
	dnsw_wr_u32(w, z->ttl);
	dnsw_wr_u16(w, want == DNSW_T_A ? 4 : 16);
	dnsw_wr_bytes(w, ip->bytes, want == DNSW_T_A ? 4 : 16);
	return true;
}

static bool
answer_pod(const struct dnsz *z, const struct dnsq_query *q, const uint8_t *in, struct dnsw_wr *w,
           struct dnsq_result *res)
{
	struct netaddr ip;

	if (!pod_ip(z, q->qname, q->qname_len, &ip))
		return false;
	begin(q, in, w, DNSW_R_NOERROR, true, true);
	if (put_pod_record(z, q, w, &ip, DNSW_HEADER))
		dnsw_put16(w->buf + 6, 1);
	else
		put_soa(z, q, w, z->apex_len);
	finish(q, w, DNSW_R_NOERROR, res);
	return true;
}

/* ---- the server-side search path ------------------------------------------------------------
 *
 * A found name's ready answer was compressed for a message whose question is that name. Under
 * autopath the question is another name, so its records are copied one by one (dnsa.h),
 * written compressed against the question and the CNAME target. */

/* Copy answer A of the node named NAME after what W holds, as put_answer does: cut at a record
 * boundary when the client's limit is reached (TC when the cut is in the answer or authority
 * section). Returns the answer records copied. */
static uint16_t
copy_answer(const struct dnsq_query *q, struct dnsw_wr *w, const struct dnsz_answer *a,
            const uint8_t *name, size_t name_len, const struct dnsa_known *k, size_t nk,
            struct dnsq_result *res)
{
	size_t room = q->limit - (q->edns ? 11 : 0);
	uint16_t total = (uint16_t)(a->an + a->ns + a->ar), n = 0, an, ns;
	struct dnsa_reader r;
	struct dnsa_rr rr;
	struct dnsw_wr save;

	dnsa_reader_init(&r, a, name, name_len);
	if (a->cut)
		set_tc(w, res);
	for (; n < total; n++) {
		save = *w;
		w->cap = room < w->cap ? room : w->cap;
		if (!dnsa_next(&r, &rr) || (dnsa_put_rr(w, &rr, k, nk), w->full)) {
			*w = save;
			if (n < a->an + a->ns)
				set_tc(w, res);
			break;
		}
		w->cap = save.cap;
	}
	an = n < a->an ? n : a->an;
	ns = (uint16_t)(n - an < a->ns ? n - an : a->ns);
	dnsw_put16(w->buf + 8, ns);
	dnsw_put16(w->buf + 10, (uint16_t)(n - an - ns));
	return an;
}

/* When what W holds outgrew the client's limit, go back to MARK (a record boundary) and set TC.
 * Returns whether it was cut; the caller sets the counts of what is left. */
static bool
cut_at(const struct dnsq_query *q, struct dnsw_wr *w, size_t mark, struct dnsq_result *res)
{
	if (w->len + (q->edns ? 11 : 0) <= q->limit)
		return false;
	w->len = mark;
	w->full = false;
	set_tc(w, res);
	return true;
}

/* The CNAME from the question to NAME, first in the answer section; K[1] becomes NAME's place.
 * False when it does not fit the client's limit: then W holds a truncated answer, complete. */
static bool
put_cname(const struct dnsz *z, struct dnsq_query *q, struct dnsw_wr *w, const uint8_t *name,
          size_t len, struct dnsa_known *k, struct dnsq_result *res)
{
	size_t rdlen_at, mark = w->len;

	dnsw_wr_ptr(w, DNSW_HEADER);
	dnsw_wr_u16(w, DNSW_T_CNAME);
	dnsw_wr_u16(w, DNSW_C_IN);
	dnsw_wr_u32(w, z->ttl);
	rdlen_at = w->len;
	dnsw_wr_u16(w, 0);
	k[1] = (struct dnsa_known){w->len, name, len, 0};
	k[1].literal = dnsa_put_name(w, name, len, k, 1);
	if (cut_at(q, w, mark, res)) {
		finish(q, w, DNSW_R_NOERROR, res);
		return false;
	}
	dnsw_put16(w->buf + rdlen_at, (uint16_t)(w->len - rdlen_at - 2));
	dnsw_put16(w->buf + 6, 1);
	return true;
}

/* The zone's SOA after the CNAME: the found name has no records of Q's type. */
static void
put_nodata(const struct dnsz *z, const struct dnsq_query *q, struct dnsw_wr *w,
           struct dnsq_result *res)
{
	size_t mark = w->len;

	put_soa(z, q, w, z->apex_len);
	if (cut_at(q, w, mark, res))
		dnsw_put16(w->buf + 8, 0);
}

/* A name of the search path that exists: a node of Z, or a pod name. */
struct search_hit {
	const struct dnsz_node *node;
	struct netaddr pod;
};

static bool
search_find(const struct dnsz *z, const uint8_t *name, size_t len, struct search_hit *hit)
{
	hit->node = dnsz_find(z, name, len, dnsw_name_hash(name, len));
	return hit->node != NULL || pod_ip(z, name, len, &hit->pod);
}

/* The answer through search name NAME (which HIT found): a CNAME from the question to it, then
 * what NAME itself answers. */
static void
answer_search(const struct dnsz *z, struct dnsq_query *q, const uint8_t *in, const uint8_t *name,
              size_t len, const struct search_hit *hit, struct dnsw_wr *w, struct dnsq_result *res)
{
	struct dnsa_known k[2] = {{DNSW_HEADER, q->qname, q->qname_len, q->qname_len}};
	const struct dnsz_node *node = hit->node;
	const struct dnsz_answer *a;
	uint16_t an = 1;
	size_t mark;
	bool chase;

	begin(q, in, w, DNSW_R_NOERROR, true, true);
	res->autopath = DNSQ_AUTOPATH_CLUSTER;
	if (!put_cname(z, q, w, name, len, k, res))
		return;
	if (node == NULL) {
		mark = w->len;
		if (!put_pod_record(z, q, w, &hit->pod, k[1].off))
			put_nodata(z, q, w, res);
		else if (!cut_at(q, w, mark, res))
			an++;
		dnsw_put16(w->buf + 6, an);
		finish(q, w, DNSW_R_NOERROR, res);
		return;
	}
	a = pick_answer(node, q->qtype, &chase);
	if (a != NULL)
		an = (uint16_t)(an + copy_answer(q, w, a, name, len, k, 2, res));
	else
		put_nodata(z, q, w, res);
	dnsw_put16(w->buf + 6, an);
	if (chase) /* an ExternalName: its CNAME, and its target upstream */
		chase_target(node, q, w, res);
	else
		finish(q, w, DNSW_R_NOERROR, res);
}

/* The bare name BARE (outside the zone) for A or AAAA: a CNAME to it, written whole so the
 * upstream question can be read from it, and the rest from upstream. */
static void
chase_bare(const struct dnsz *z, struct dnsq_query *q, const uint8_t *in, const uint8_t *bare,
           size_t len, struct dnsw_wr *w, struct dnsq_result *res)
{
	struct dnsa_known k[2] = {{0}}; /* none: the bare name is written whole */

	begin(q, in, w, DNSW_R_NOERROR, true, true);
	if (!put_cname(z, q, w, bare, len, k, res))
		return;
	res->autopath = DNSQ_AUTOPATH_UPSTREAM;
	to_upstream(q, w, res, w->buf + w->len - len, len);
}

/* Q's name is not in Z. When it ends with <ns>.svc.<zone> for the namespace of CLIENT's pod,
 * walk the rest of that pod's search path; true when that answered. */
static bool
autopath(const struct dnsz *z, struct dnsq_query *q, const uint8_t *in,
         const struct netaddr *client, struct dnsw_wr *w, struct dnsq_result *res)
{
	const char *ns = dnsz_pod_ns(z, client);
	uint8_t first[DNSW_NAME_MAX], name[DNSW_NAME_MAX];
	size_t ns_len, first_len, base;
	struct search_hit hit;
	int at;

	if (ns == NULL || (ns_len = strlen(ns)) == 0 || ns_len > DNSW_LABEL_MAX ||
	    1 + ns_len + 4 + z->apex_len > sizeof(first))
		return false;
	first[0] = (uint8_t)ns_len;
	memcpy(first + 1, ns, ns_len);
	memcpy(first + 1 + ns_len, "\3svc", 4);
	memcpy(first + 1 + ns_len + 4, z->apex, z->apex_len);
	first_len = 1 + ns_len + 4 + z->apex_len;
	at = dnsw_name_suffix_at(q->qname, q->qname_len, first, first_len);
	if (at <= 0)
		return false;
	base = (size_t)at;
	memcpy(name, q->qname, base);
	/* <base>.svc.<zone>, then <base>.<zone>: names of the zone. */
	for (int step = 0; step < 2; step++) {
		const uint8_t *suffix = step == 0 ? first + 1 + ns_len : z->apex;
		size_t slen = step == 0 ? 4 + z->apex_len : z->apex_len;

		if (base + slen > sizeof(name))
			continue;
		memcpy(name + base, suffix, slen);
		if (search_find(z, name, base + slen, &hit)) {
			answer_search(z, q, in, name, base + slen, &hit, w, res);
			return true;
		}
	}
	/* Then the bare name: the zone's own or a reverse name it makes, else the upstream's. */
	name[base] = 0;
	if (search_find(z, name, base + 1, &hit)) {
		answer_search(z, q, in, name, base + 1, &hit, w, res);
		return true;
	}
	if (dnsw_name_suffix_at(name, base + 1, z->apex, z->apex_len) >= 0 ||
	    dnsz_reverse_owned(z, name, base + 1) > 0 ||
	    (q->qtype != DNSW_T_A && q->qtype != DNSW_T_AAAA))
		return false;
	chase_bare(z, q, in, name, base + 1, w, res);
	return true;
}

static void
answer_zone(const struct dnsz *z, const struct dnsz_node *node, struct dnsq_query *q,
            const uint8_t *in, const struct netaddr *client, struct dnsw_wr *w,
            struct dnsq_result *res)
{
	const struct dnsz_answer *a;
	bool chase;

	if (node == NULL) {
		if (answer_pod(z, q, in, w, res))
			return;
		if (client != NULL && autopath(z, q, in, client, w, res))
			return;
		begin(q, in, w, DNSW_R_NXDOMAIN, true, true);
		put_soa(z, q, w, z->apex_len);
		finish(q, w, DNSW_R_NXDOMAIN, res);
		return;
	}
	a = pick_answer(node, q->qtype, &chase);
	begin(q, in, w, DNSW_R_NOERROR, true, true);
	if (a != NULL)
		put_answer(q, w, a, res);
	else
		put_soa(z, q, w, node->apex_len);
	if (chase) /* the CNAME now; the target's records come from upstream */
		chase_target(node, q, w, res);
	else
		finish(q, w, DNSW_R_NOERROR, res);
}

/* The additional section of a query: at most one OPT, owner root, with well-formed options. */
static bool
parse_additional(struct dnsw_rd *rd, uint16_t arcount, struct dnsq_query *q, uint8_t *version)
{
	for (uint16_t i = 0; i < arcount; i++) {
		struct dnsw_rr rr;
		struct dnsw_rd opts;

		if (dnsw_rd_rr(rd, &rr) != SVC_OK || rr.type != DNSW_T_OPT || q->edns)
			return false;
		if (rd->buf[rr.start] != 0 || rr.ttl_off != rr.start + 5)
			return false; /* OPT owner must be the root, uncompressed */
		q->edns = true;
		q->edns_size = rr.rclass < DNSQ_UDP_PLAIN ? DNSQ_UDP_PLAIN : rr.rclass;
		q->edns_do = (rr.ttl & DNSW_EDNS_DO) != 0;
		*version = (uint8_t)(rr.ttl >> 16);
		dnsw_rd_init(&opts, rd->buf + rr.rdata_off, rr.rdlen);
		while (opts.off < opts.len) {
			uint16_t code, olen;

			if (!dnsw_rd_u16(&opts, &code) || !dnsw_rd_u16(&opts, &olen) ||
			    !dnsw_rd_skip(&opts, olen))
				return false;
		}
	}
	return true;
}

/* An AXFR or IXFR of the zone, over TCP: an IXFR carries the client's SOA in authority (RFC
 * 1995), its serial into Q. */
static bool
transfer_query(const struct dnsz *z, struct dnsw_rd *rd, uint16_t ns, uint16_t ar,
               enum dnsq_transport tr, struct dnsq_query *q)
{
	uint8_t version = 0;

	if (tr != DNSQ_TCP || q->qclass != DNSW_C_IN || !z->loaded || q->qname_len != z->apex_len ||
	    memcmp(q->qname, z->apex, z->apex_len) != 0)
		return false;
	q->ixfr = q->qtype == DNSW_T_IXFR;
	if (ns != (q->ixfr ? 1 : 0))
		return false;
	if (q->ixfr) {
		struct dnsw_rr rr;
		struct dnsw_rd soa;

		if (dnsw_rd_rr(rd, &rr) != SVC_OK || rr.type != DNSW_T_SOA)
			return false;
		dnsw_rd_init(&soa, rd->buf, rr.end);
		soa.off = rr.rdata_off;
		if (dnsw_rd_name(&soa, true, NULL, NULL) != SVC_OK ||
		    dnsw_rd_name(&soa, true, NULL, NULL) != SVC_OK ||
		    !dnsw_rd_u32(&soa, &q->xfr_serial))
			return false;
	}
	return parse_additional(rd, ar, q, &version) && version == 0;
}

void
dnsq_answer(const struct dnsz *z, const uint8_t *in, size_t len, enum dnsq_transport tr,
            uint8_t *out, struct dnsq_query *q, struct dnsq_result *res)
{
	dnsq_answer_from(z, in, len, tr, NULL, out, q, res);
}

void
dnsq_answer_from(const struct dnsz *z, const uint8_t *in, size_t len, enum dnsq_transport tr,
                 const struct netaddr *client, uint8_t *out, struct dnsq_query *q,
                 struct dnsq_result *res)
{
	struct dnsw_rd rd;
	struct dnsw_wr w;
	uint16_t qd, an, ns, ar;
	uint8_t version = 0;
	const struct dnsz_node *node;
	int at;

	memset(res, 0, sizeof(*res));
	res->action = DNSQ_DROP;
	memset(q, 0, offsetof(struct dnsq_query, qname));
	q->qname_len = 0;
	q->edns = false;
	q->edns_do = false;
	q->edns_size = 0;
	q->chase = NULL;
	q->chase_len = 0;
	q->xfr_serial = 0;
	q->ixfr = false;
	q->query_len = DNSW_HEADER;
	q->limit = tr == DNSQ_TCP ? DNSQ_OUT_MAX : DNSQ_UDP_PLAIN;
	dnsw_wr_init(&w, out, DNSQ_OUT_MAX);
	dnsw_rd_init(&rd, in, len);
	if (!dnsw_rd_u16(&rd, &q->id) || !dnsw_rd_u16(&rd, &q->flags) || !dnsw_rd_u16(&rd, &qd) ||
	    !dnsw_rd_u16(&rd, &an) || !dnsw_rd_u16(&rd, &ns) || !dnsw_rd_u16(&rd, &ar))
		return; /* no header to answer */
	if (q->flags & DNSW_F_QR)
		return; /* never answer an answer: that is how reflection loops start */
	if ((q->flags & DNSW_F_OPCODE_MASK) != 0) {
		begin(q, in, &w, DNSW_R_NOTIMP, false, false);
		finish(q, &w, DNSW_R_NOTIMP, res);
		return;
	}
	if (qd != 1 || an != 0 || dnsw_rd_name(&rd, false, q->qname, &q->qname_len) != SVC_OK ||
	    !dnsw_rd_u16(&rd, &q->qtype) || !dnsw_rd_u16(&rd, &q->qclass))
		goto formerr;
	q->query_len = rd.off;
	if (q->qtype == DNSW_T_AXFR || q->qtype == DNSW_T_IXFR) {
		if (transfer_query(z, &rd, ns, ar, tr, q)) {
			res->action = DNSQ_TRANSFER;
			return;
		}
		/* Over UDP, of another name, or before the first model. */
		begin(q, in, &w, DNSW_R_REFUSED, false, true);
		finish(q, &w, DNSW_R_REFUSED, res);
		return;
	}
	if (ns != 0)
		goto formerr;
	if (!parse_additional(&rd, ar, q, &version))
		goto formerr;
	if (tr == DNSQ_UDP && q->edns)
		q->limit = q->edns_size < DNSQ_UDP_MAX ? q->edns_size : DNSQ_UDP_MAX;
	q->hash = dnsw_name_hash(q->qname, q->qname_len);
	if (version != 0) {
		begin(q, in, &w, DNSW_R_BADVERS, false, true);
		finish(q, &w, DNSW_R_BADVERS, res);
		return;
	}
	if (q->qtype == DNSW_T_OPT || q->qtype == 0)
		goto formerr;
	if (q->qclass != DNSW_C_IN) {
		begin(q, in, &w, DNSW_R_REFUSED, false, true);
		finish(q, &w, DNSW_R_REFUSED, res);
		return;
	}

	at = dnsw_name_suffix_at(q->qname, q->qname_len, z->apex, z->apex_len);
	if (!z->loaded && at >= 0) {
		/* No model yet: cluster names fail (as CoreDNS before its first sync), so clients
		 * retry rather than cache a wrong NXDOMAIN; other names still go upstream. */
		begin(q, in, &w, DNSW_R_SERVFAIL, false, true);
		finish(q, &w, DNSW_R_SERVFAIL, res);
		return;
	}
	node = dnsz_find(z, q->qname, q->qname_len, q->hash);
	if (at < 0 && node == NULL) {
		size_t owned = dnsz_reverse_owned(z, q->qname, q->qname_len);

		if (owned > 0) {
			/* An address of the service range that no service holds: the range is the
			 * cluster's, no upstream can know it. */
			begin(q, in, &w, DNSW_R_NXDOMAIN, true, true);
			put_soa(z, q, &w, owned);
			finish(q, &w, DNSW_R_NXDOMAIN, res);
			return;
		}
		/* Other names, and reverse names that are not ours (kubeadm's fallthrough). */
		res->action = DNSQ_FORWARD;
		return;
	}
	answer_zone(z, node, q, in, client, &w, res);
	return;

formerr:
	/* Echo the question only when it parsed. */
	begin(q, in, &w, DNSW_R_FORMERR, false, q->query_len > DNSW_HEADER);
	q->edns = false;
	finish(q, &w, DNSW_R_FORMERR, res);
}
