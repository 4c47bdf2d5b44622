/* dnsa.c -- a zone's ready answers read back record by record, and written into other
 * messages (dnsa.h). */
#include "dnsa.h"

#include <string.h>

/* The answer's records follow, in the message it was made for, the header, the node's name and
 * the question's type and class. */
static size_t
base(const struct dnsa_reader *r)
{
	return DNSW_HEADER + r->name_len + 4;
}

/* Byte OFF of that message, or -1 outside its name and its records. */
static int
byte_at(const struct dnsa_reader *r, size_t off)
{
	if (off >= DNSW_HEADER && off < DNSW_HEADER + r->name_len)
		return r->name[off - DNSW_HEADER];
	if (off >= base(r) && off < base(r) + r->wire_len)
		return r->wire[off - base(r)];
	return -1;
}

/* The name at *OFF, uncompressed into OUT; *OFF moves past it. Pointers only backwards. */
static bool
read_name(const struct dnsa_reader *r, size_t *off, uint8_t *out, size_t *out_len)
{
	size_t at = *off, n = 0;
	bool jumped = false;

	for (;;) {
		int c = byte_at(r, at);

		if (c < 0)
			return false;
		if ((c & 0xc0) == 0xc0) {
			int lo = byte_at(r, at + 1);
			size_t to;

			if (lo < 0)
				return false;
			to = (size_t)(c & 0x3f) << 8 | (size_t)lo;
			if (to >= at)
				return false;
			if (!jumped)
				*off = at + 2;
			jumped = true;
			at = to;
			continue;
		}
		if (c > DNSW_LABEL_MAX || n + 1 + (size_t)c > DNSW_NAME_MAX)
			return false;
		out[n++] = (uint8_t)c;
		for (int i = 0; i < c; i++) {
			int b = byte_at(r, at + 1 + (size_t)i);

			if (b < 0)
				return false;
			out[n++] = (uint8_t)b;
		}
		at += 1 + (size_t)c;
		if (c == 0)
			break;
	}
	if (!jumped)
		*off = at;
	*out_len = n;
	return true;
}

void
dnsa_reader_init(struct dnsa_reader *r, const struct dnsz_answer *a, const uint8_t *name,
                 size_t name_len)
{
	r->name = name;
	r->name_len = name_len;
	r->wire = dnsz_answer_wire(a);
	r->wire_len = a->len;
	r->off = base(r);
	r->left = (uint16_t)(a->an + a->ns + a->ar);
}

/* Append the name at *OFF to RR's RDATA. */
static bool
rdata_name(const struct dnsa_reader *r, size_t *off, struct dnsa_rr *rr)
{
	size_t len;

	if (rr->rdlen + DNSW_NAME_MAX > sizeof(rr->rdata))
		return false;
	if (!read_name(r, off, rr->rdata + rr->rdlen, &len))
		return false;
	rr->rdlen += len;
	return true;
}

static bool
rdata_bytes(const struct dnsa_reader *r, size_t off, size_t n, struct dnsa_rr *rr)
{
	if (rr->rdlen + n > sizeof(rr->rdata) || off < base(r) || off + n > base(r) + r->wire_len)
		return false;
	memcpy(rr->rdata + rr->rdlen, r->wire + (off - base(r)), n);
	rr->rdlen += n;
	return true;
}

bool
dnsa_next(struct dnsa_reader *r, struct dnsa_rr *rr)
{
	size_t at = r->off, end;
	const uint8_t *p;
	uint16_t rdlen;

	if (r->left == 0 || !read_name(r, &at, rr->owner, &rr->owner_len) || at < base(r) ||
	    at + 10 > base(r) + r->wire_len)
		return false;
	p = r->wire + (at - base(r));
	rr->type = dnsw_get16(p);
	rr->rclass = dnsw_get16(p + 2);
	rr->ttl = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	rdlen = dnsw_get16(p + 8);
	at += 10;
	end = at + rdlen;
	if (end > base(r) + r->wire_len)
		return false;
	rr->rdlen = 0;
	switch (rr->type) {
	case DNSW_T_SRV:
		if (!rdata_bytes(r, at, 6, rr))
			return false;
		at += 6;
		/* fall through */
	case DNSW_T_CNAME:
	case DNSW_T_PTR:
	case DNSW_T_NS:
		if (!rdata_name(r, &at, rr))
			return false;
		break;
	case DNSW_T_SOA:
		if (!rdata_name(r, &at, rr) || !rdata_name(r, &at, rr))
			return false;
		/* then the five numbers */
		/* fall through */
	default:
		if (at > end || !rdata_bytes(r, at, end - at, rr))
			return false;
		at = end;
		break;
	}
	if (at != end)
		return false;
	r->off = end;
	r->left--;
	return true;
}

size_t
dnsa_put_name(struct dnsw_wr *w, const uint8_t *name, size_t len, const struct dnsa_known *k,
              size_t nk)
{
	for (size_t i = 0; i + 1 < len; i += 1 + (size_t)name[i]) {
		for (size_t j = 0; j < nk; j++) {
			int at = k[j].name != NULL ? dnsw_name_suffix_at(k[j].name, k[j].len,
			                                                 name + i, len - i)
			                           : -1;

			if (at >= 0 && (size_t)at < k[j].literal &&
			    k[j].off + (size_t)at <= DNSW_PTR_MAX) {
				dnsw_wr_bytes(w, name, i);
				dnsw_wr_ptr(w, k[j].off + (size_t)at);
				return i;
			}
		}
	}
	dnsw_wr_bytes(w, name, len);
	return len;
}

/* The length of the name at the start of P (uncompressed, N bytes at most). */
static size_t
name_len(const uint8_t *p, size_t n)
{
	size_t at = 0;

	while (at < n && p[at] != 0)
		at += 1 + (size_t)p[at];
	return at < n ? at + 1 : n;
}

size_t
dnsa_put_rr(struct dnsw_wr *w, const struct dnsa_rr *rr, const struct dnsa_known *k, size_t nk)
{
	size_t rdlen_at, at = 0, fixed = 0, literal;

	literal = dnsa_put_name(w, rr->owner, rr->owner_len, k, nk);
	dnsw_wr_u16(w, rr->type);
	dnsw_wr_u16(w, rr->rclass);
	dnsw_wr_u32(w, rr->ttl);
	rdlen_at = w->len;
	dnsw_wr_u16(w, 0);
	switch (rr->type) {
	case DNSW_T_SRV:
		fixed = 6;
		/* fall through */
	case DNSW_T_CNAME:
	case DNSW_T_PTR:
	case DNSW_T_NS:
		dnsw_wr_bytes(w, rr->rdata, fixed);
		at = fixed + name_len(rr->rdata + fixed, rr->rdlen - fixed);
		dnsa_put_name(w, rr->rdata + fixed, at - fixed, k, nk);
		break;
	case DNSW_T_SOA:
		for (int i = 0; i < 2; i++) {
			size_t n = name_len(rr->rdata + at, rr->rdlen - at);

			dnsa_put_name(w, rr->rdata + at, n, k, nk);
			at += n;
		}
		/* then the five numbers */
		/* fall through */
	default:
		dnsw_wr_bytes(w, rr->rdata + at, rr->rdlen - at);
		break;
	}
	if (!w->full)
		dnsw_put16(w->buf + rdlen_at, (uint16_t)(w->len - rdlen_at - 2));
	return literal;
}
