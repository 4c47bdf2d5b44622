/* dnsr.c -- check, keep and re-serve upstream answers. */
#include "dnsr.h"

#include <stdlib.h>
#include <string.h>

/* Cache lifetime: the smallest answer TTL, or for a denial min(SOA TTL, SOA MINIMUM)
 * (RFC 2308 5). Truncated and failed answers are not kept. */
static uint32_t
cache_ttl(const uint8_t *msg, const struct dnsw_rr *rrs, uint16_t an, uint16_t ns, uint16_t rcode,
          bool tc, const struct dnsr_limits *lim)
{
	uint32_t ttl = UINT32_MAX;

	if (tc || (rcode != DNSW_R_NOERROR && rcode != DNSW_R_NXDOMAIN))
		return 0;
	if (rcode == DNSW_R_NOERROR && an > 0) {
		for (uint16_t i = 0; i < an; i++)
			ttl = rrs[i].ttl < ttl ? rrs[i].ttl : ttl;
		return ttl < lim->max_ttl ? ttl : lim->max_ttl;
	}
	for (uint16_t i = an; i < an + ns; i++) {
		struct dnsw_rd rd;
		uint32_t minimum;

		if (rrs[i].type != DNSW_T_SOA)
			continue;
		dnsw_rd_init(&rd, msg, rrs[i].end);
		rd.off = rrs[i].rdata_off;
		if (dnsw_rd_name(&rd, true, NULL, NULL) != SVC_OK ||
		    dnsw_rd_name(&rd, true, NULL, NULL) != SVC_OK || !dnsw_rd_skip(&rd, 16) ||
		    !dnsw_rd_u32(&rd, &minimum))
			return 0;
		ttl = rrs[i].ttl < minimum ? rrs[i].ttl : minimum;
		return ttl < lim->max_neg_ttl ? ttl : lim->max_neg_ttl;
	}
	return 0; /* a denial without SOA: nothing says how long it holds */
}

/* Whether the name at OFF (checked by dnsw_rd_name: it ends) reads a byte of a TTL field, which
 * dnsr_render rewrites when it ages TTLs: the client's copy of the name would change or break. */
static bool
name_reads_ttl(const uint8_t *msg, size_t off, const uint8_t *ttl_bits)
{
	for (;;) {
		uint8_t c = msg[off];
		size_t n = (c & 0xc0) == 0xc0 ? 2 : 1 + (size_t)c;

		for (size_t i = off; i < off + n; i++) {
			if (ttl_bits[i >> 3] & (1u << (i & 7)))
				return true;
		}
		if ((c & 0xc0) == 0xc0)
			off = (size_t)(c & 0x3f) << 8 | msg[off + 1];
		else if (c == 0)
			return false;
		else
			off += n;
	}
}

enum svc_status
dnsr_parse(const uint8_t *msg, size_t len, const struct dnsq_query *q,
           const struct dnsr_limits *lim, struct dnsr_msg **out)
{
	struct dnsw_rd rd;
	uint16_t id, flags, qd, count[3], qtype, qclass;
	uint8_t qname[DNSW_NAME_MAX];
	size_t qlen, total = 0, opt_start = 0, opt_end = 0, wire_len;
	struct dnsw_rr *rrs = NULL;
	struct dnsr_msg *m = NULL;
	uint8_t ext_rcode = 0;
	bool have_opt = false;
	enum svc_status st = SVC_EINVAL;
	char *mem;
	uint8_t *ttl_bits = NULL;

	*out = NULL;
	if (len > DNSW_MSG_MAX)
		goto done; /* offsets are kept in 16 bits */
	dnsw_rd_init(&rd, msg, len);
	if (!dnsw_rd_u16(&rd, &id) || !dnsw_rd_u16(&rd, &flags) || !dnsw_rd_u16(&rd, &qd) ||
	    !dnsw_rd_u16(&rd, &count[0]) || !dnsw_rd_u16(&rd, &count[1]) ||
	    !dnsw_rd_u16(&rd, &count[2]))
		goto done;
	(void)id;
	/* The question must be ours, spelled out (no pointer) so the client's copy fits it. */
	if (!(flags & DNSW_F_QR) || qd != 1 || dnsw_rd_name(&rd, false, qname, &qlen) != SVC_OK ||
	    !dnsw_rd_u16(&rd, &qtype) || !dnsw_rd_u16(&rd, &qclass) || qlen != q->qname_len ||
	    memcmp(qname, q->qname, qlen) != 0 || qtype != q->qtype || qclass != q->qclass)
		goto done;
	total = (size_t)count[0] + count[1] + count[2];
	if (total > DNSR_MAX_RECORDS)
		goto done;
	rrs = calloc(total ? total : 1, sizeof(*rrs));
	if (rrs == NULL) {
		st = SVC_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < total; i++) {
		if (dnsw_rd_rr(&rd, &rrs[i]) != SVC_OK)
			goto done;
		if (rrs[i].type == DNSW_T_OPT) {
			/* One OPT, last, in the additional section: it is replaced by ours. */
			if (have_opt || i < (size_t)count[0] + count[1] || i + 1 != total)
				goto done;
			have_opt = true;
			opt_start = rrs[i].start;
			opt_end = rrs[i].end;
			ext_rcode = (uint8_t)(rrs[i].ttl >> 24);
		}
	}
	/* Owner names must not run through a TTL field (render ages TTLs in place). */
	ttl_bits = calloc(len / 8 + 1, 1);
	if (ttl_bits == NULL) {
		st = SVC_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < total; i++) {
		for (size_t b = rrs[i].ttl_off; b < rrs[i].ttl_off + 4; b++)
			ttl_bits[b >> 3] = (uint8_t)(ttl_bits[b >> 3] | 1u << (b & 7));
	}
	for (size_t i = 0; i < total; i++) {
		if (name_reads_ttl(msg, rrs[i].start, ttl_bits))
			goto done;
	}
	wire_len = have_opt ? opt_start : rd.off;
	if (have_opt) {
		total--;
		count[2]--;
	}
	(void)opt_end;
	mem = malloc(sizeof(*m) + total * 3 * sizeof(uint16_t) + wire_len);
	if (mem == NULL) {
		st = SVC_ENOMEM;
		goto done;
	}
	m = (struct dnsr_msg *)mem;
	m->rec_end = (uint16_t *)(mem + sizeof(*m));
	m->ttl_off = m->rec_end + total;
	m->types = m->ttl_off + total;
	m->wire = (uint8_t *)(m->types + total);
	memcpy(m->wire, msg, wire_len);
	dnsw_put16(m->wire + 10, count[2]);
	m->len = wire_len;
	m->qend = DNSW_HEADER + qlen + 4;
	m->flags = flags;
	m->an = count[0];
	m->ns = count[1];
	m->ar = count[2];
	m->n_rec = (uint16_t)total;
	m->ext_rcode = ext_rcode;
	for (size_t i = 0; i < total; i++) {
		m->rec_end[i] = (uint16_t)rrs[i].end;
		m->ttl_off[i] = (uint16_t)rrs[i].ttl_off;
		m->types[i] = rrs[i].type;
	}
	m->cache_ttl = cache_ttl(msg, rrs, count[0], count[1], flags & DNSW_F_RCODE_MASK,
	                         (flags & DNSW_F_TC) != 0, lim);
	if (ext_rcode != 0)
		m->cache_ttl = 0;
	*out = m;
	st = SVC_OK;
done:
	free(ttl_bits);
	free(rrs);
	return st;
}

static uint32_t
aged(const uint8_t *p, uint32_t age)
{
	uint32_t ttl = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];

	if (age & DNSR_AGE_STALE)
		return DNSR_STALE_TTL;
	return ttl > age ? ttl - age : 0;
}

size_t
dnsr_render(const struct dnsr_msg *m, const struct dnsq_query *q, const uint8_t *qpkt, uint32_t age,
            uint8_t *out)
{
	struct dnsw_wr w;
	size_t room = q->limit - m->qend - (q->edns ? 11 : 0);
	uint16_t keep = m->n_rec, an = m->an, ns = m->ns;
	uint16_t flags = (uint16_t)(DNSW_F_QR | DNSW_F_RA | (q->flags & DNSW_F_RD) |
	                            (m->flags & (DNSW_F_AA | DNSW_F_TC | DNSW_F_AD | DNSW_F_CD |
	                                         DNSW_F_RCODE_MASK)));
	size_t body;

	if (m->len - m->qend > room) {
		keep = 0;
		while (keep < m->n_rec && (size_t)m->rec_end[keep] - m->qend <= room)
			keep++;
		if (keep < m->an + m->ns) {
			flags |= DNSW_F_TC;
			if (keep > m->an)
				keep = m->an;
		}
		an = keep < m->an ? keep : m->an;
		ns = (uint16_t)(keep - an) < m->ns ? (uint16_t)(keep - an) : m->ns;
	}
	body = keep ? m->rec_end[keep - 1] : m->qend;
	memcpy(out, m->wire, body);
	/* The client's ID and its spelling of the name (same length: checked in dnsr_parse). */
	dnsw_put16(out, q->id);
	dnsw_put16(out + 2, flags);
	dnsw_put16(out + 6, an);
	dnsw_put16(out + 8, ns);
	dnsw_put16(out + 10, (uint16_t)(keep - an - ns));
	memcpy(out + DNSW_HEADER, qpkt + DNSW_HEADER, m->qend - DNSW_HEADER);
	for (uint16_t i = 0; i < keep && age > 0; i++) {
		if (m->types[i] != DNSW_T_OPT)
			dnsw_put32(out + m->ttl_off[i], aged(m->wire + m->ttl_off[i], age));
	}
	dnsw_wr_init(&w, out, DNSQ_OUT_MAX);
	w.len = body;
	dnsq_add_opt(q, &w, m->ext_rcode);
	return w.len;
}

/* Copy the name at OFF in M, expanded, into W. */
static bool
copy_name(const struct dnsr_msg *m, size_t off, struct dnsw_wr *w)
{
	struct dnsw_rd rd;
	uint8_t name[DNSW_NAME_MAX];
	size_t len;

	dnsw_rd_init(&rd, m->wire, m->len);
	rd.off = off;
	if (dnsw_rd_name(&rd, true, name, &len) != SVC_OK)
		return false;
	dnsw_wr_bytes(w, name, len);
	return true;
}

size_t
dnsr_render_chase(const struct dnsr_msg *m, const struct dnsq_query *q, const uint8_t *partial,
                  size_t partial_len, uint32_t age, uint8_t *out)
{
	struct dnsw_wr w;
	size_t room_end = q->limit - (q->edns ? 11 : 0);
	uint16_t an = dnsw_get16(partial + 6);
	uint16_t rcode = m->flags & DNSW_F_RCODE_MASK;
	size_t start = m->qend;

	if (room_end < partial_len)
		room_end = partial_len;
	dnsw_wr_init(&w, out, room_end);
	dnsw_wr_bytes(&w, partial, partial_len);
	for (uint16_t i = 0; i < m->an; i++) {
		struct dnsw_rd rd;
		struct dnsw_rr rr;
		size_t mark = w.len, rdlen_at;

		dnsw_rd_init(&rd, m->wire, m->len);
		rd.off = start;
		start = m->rec_end[i];
		if (dnsw_rd_rr(&rd, &rr) != SVC_OK)
			break;
		if (rr.type != DNSW_T_A && rr.type != DNSW_T_AAAA && rr.type != DNSW_T_CNAME)
			continue;
		if (!copy_name(m, rr.start, &w))
			break;
		dnsw_wr_u16(&w, rr.type);
		dnsw_wr_u16(&w, rr.rclass);
		dnsw_wr_u32(&w, aged(m->wire + rr.ttl_off, age));
		rdlen_at = w.len;
		dnsw_wr_u16(&w, 0);
		if (rr.type == DNSW_T_CNAME) {
			if (!copy_name(m, rr.rdata_off, &w)) {
				/* RDATA is not checked by dnsr_parse: drop the half record. */
				w.full = false;
				w.len = mark;
				break;
			}
		} else {
			dnsw_wr_bytes(&w, m->wire + rr.rdata_off, rr.rdlen);
		}
		if (w.full) {
			w.full = false;
			w.len = mark;
			dnsw_put16(out + 2, (uint16_t)(dnsw_get16(out + 2) | DNSW_F_TC));
			break;
		}
		dnsw_put16(out + rdlen_at, (uint16_t)(w.len - rdlen_at - 2));
		an++;
	}
	dnsw_put16(out + 6, an);
	if (m->flags & DNSW_F_TC)
		dnsw_put16(out + 2, (uint16_t)(dnsw_get16(out + 2) | DNSW_F_TC));
	if (rcode == DNSW_R_NXDOMAIN)
		dnsw_put16(out + 2, (uint16_t)((dnsw_get16(out + 2) & ~DNSW_F_RCODE_MASK) | rcode));
	w.cap = DNSQ_OUT_MAX;
	dnsq_add_opt(q, &w, 0);
	return w.len;
}

size_t
dnsr_make_query(const struct dnsq_query *k, uint16_t id, uint8_t *out, size_t cap)
{
	struct dnsw_wr w;

	dnsw_wr_init(&w, out, cap);
	dnsw_wr_u16(&w, id);
	dnsw_wr_u16(&w, (uint16_t)(k->flags & (DNSW_F_RD | DNSW_F_CD)));
	dnsw_wr_u16(&w, 1);
	dnsw_wr_u16(&w, 0);
	dnsw_wr_u16(&w, 0);
	dnsw_wr_u16(&w, 1);
	dnsw_wr_bytes(&w, k->qname, k->qname_len);
	dnsw_wr_u16(&w, k->qtype);
	dnsw_wr_u16(&w, k->qclass);
	/* EDNS, so answers up to DNSQ_UDP_MAX come over UDP; DO as the client asked. */
	dnsw_wr_u8(&w, 0);
	dnsw_wr_u16(&w, DNSW_T_OPT);
	dnsw_wr_u16(&w, DNSQ_UDP_MAX);
	dnsw_wr_u32(&w, k->edns_do ? DNSW_EDNS_DO : 0);
	dnsw_wr_u16(&w, 0);
	return w.full ? 0 : w.len;
}
