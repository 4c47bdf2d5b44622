/* dnsw.c -- bounds-checked DNS wire reading and writing. */
#include "dnsw.h"

#include <string.h>

void
dnsw_rd_init(struct dnsw_rd *rd, const uint8_t *buf, size_t len)
{
	rd->buf = buf;
	rd->len = len;
	rd->off = 0;
}

bool
dnsw_rd_u8(struct dnsw_rd *rd, uint8_t *v)
{
	if (rd->len - rd->off < 1)
		return false;
	*v = rd->buf[rd->off++];
	return true;
}

bool
dnsw_rd_u16(struct dnsw_rd *rd, uint16_t *v)
{
	if (rd->len - rd->off < 2)
		return false;
	*v = dnsw_get16(rd->buf + rd->off);
	rd->off += 2;
	return true;
}

bool
dnsw_rd_u32(struct dnsw_rd *rd, uint32_t *v)
{
	const uint8_t *p;

	if (rd->len - rd->off < 4)
		return false;
	p = rd->buf + rd->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	rd->off += 4;
	return true;
}

bool
dnsw_rd_skip(struct dnsw_rd *rd, size_t n)
{
	if (rd->len - rd->off < n)
		return false;
	rd->off += n;
	return true;
}

enum svc_status
dnsw_rd_name(struct dnsw_rd *rd, bool allow_ptr, uint8_t *out, size_t *out_len)
{
	size_t pos = rd->off, after = 0, total = 0, limit = rd->off;
	bool jumped = false;

	for (;;) {
		uint8_t c;

		if (pos >= rd->len)
			return SVC_EINVAL;
		c = rd->buf[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (!allow_ptr || pos + 1 >= rd->len)
				return SVC_EINVAL;
			target = (size_t)(c & 0x3f) << 8 | rd->buf[pos + 1];
			/* Strictly backwards of every label read so far: no loops, bounded work.
			 * Never into the header, which a relayed message rewrites. */
			if (target >= limit || target < DNSW_HEADER)
				return SVC_EINVAL;
			if (!jumped) {
				after = pos + 2;
				jumped = true;
			}
			limit = target;
			pos = target;
			continue;
		}
		if (c & 0xc0)
			return SVC_EINVAL; /* 0x40 and 0x80: extended label types, obsolete */
		if (pos + 1 + c > rd->len || total + 1 + c > DNSW_NAME_MAX)
			return SVC_EINVAL;
		if (out != NULL) {
			memcpy(out + total, rd->buf + pos, 1 + (size_t)c);
		}
		total += 1 + (size_t)c;
		pos += 1 + (size_t)c;
		if (c == 0)
			break;
	}
	if (out != NULL)
		dnsw_name_lower(out, total);
	if (out_len != NULL)
		*out_len = total;
	rd->off = jumped ? after : pos;
	return SVC_OK;
}

enum svc_status
dnsw_rd_rr(struct dnsw_rd *rd, struct dnsw_rr *rr)
{
	struct dnsw_rd r = *rd;

	rr->start = r.off;
	if (dnsw_rd_name(&r, true, NULL, NULL) != SVC_OK)
		return SVC_EINVAL;
	if (!dnsw_rd_u16(&r, &rr->type) || !dnsw_rd_u16(&r, &rr->rclass))
		return SVC_EINVAL;
	rr->ttl_off = r.off;
	if (!dnsw_rd_u32(&r, &rr->ttl) || !dnsw_rd_u16(&r, &rr->rdlen))
		return SVC_EINVAL;
	rr->rdata_off = r.off;
	if (!dnsw_rd_skip(&r, rr->rdlen))
		return SVC_EINVAL;
	rr->end = r.off;
	*rd = r;
	return SVC_OK;
}

void
dnsw_wr_init(struct dnsw_wr *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->full = false;
}

void
dnsw_wr_bytes(struct dnsw_wr *w, const void *p, size_t n)
{
	if (w->full || w->cap - w->len < n) {
		w->full = true;
		return;
	}
	if (n > 0)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void
dnsw_wr_u8(struct dnsw_wr *w, uint8_t v)
{
	dnsw_wr_bytes(w, &v, 1);
}

void
dnsw_wr_u16(struct dnsw_wr *w, uint16_t v)
{
	uint8_t b[2];

	dnsw_put16(b, v);
	dnsw_wr_bytes(w, b, 2);
}

void
dnsw_wr_u32(struct dnsw_wr *w, uint32_t v)
{
	uint8_t b[4];

	dnsw_put32(b, v);
	dnsw_wr_bytes(w, b, 4);
}

bool
dnsw_wr_ptr(struct dnsw_wr *w, size_t off)
{
	if (off > DNSW_PTR_MAX) {
		/* Masking would point somewhere else: a malformed name (issue 9, item 3). */
		w->full = true;
		return false;
	}
	dnsw_wr_u16(w, (uint16_t)(0xc000u | off));
	return !w->full;
}

enum svc_status
dnsw_name_from_str(const char *s, uint8_t *out, size_t *out_len)
{
	size_t total = 0;

	if (strcmp(s, ".") == 0) {
		out[0] = 0;
		*out_len = 1;
		return SVC_OK;
	}
	while (*s != '\0') {
		const char *dot = strchr(s, '.');
		size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);

		if (n == 0 || n > DNSW_LABEL_MAX || total + 1 + n + 1 > DNSW_NAME_MAX)
			return SVC_EINVAL;
		out[total] = (uint8_t)n;
		memcpy(out + total + 1, s, n);
		total += 1 + n;
		s += n;
		if (*s == '.')
			s++;
	}
	if (total == 0)
		return SVC_EINVAL;
	out[total++] = 0;
	dnsw_name_lower(out, total);
	*out_len = total;
	return SVC_OK;
}

size_t
dnsw_name_to_str(const uint8_t *name, size_t len, char *out, size_t cap)
{
	size_t pos = 0, o = 0;

	if (cap == 0)
		return 0;
	while (pos < len && name[pos] != 0) {
		uint8_t n = name[pos++];

		for (uint8_t i = 0; i < n && pos < len; i++, pos++) {
			uint8_t c = name[pos];
			bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			             (c >= '0' && c <= '9') || c == '-' || c == '_';

			if (plain && o + 1 < cap) {
				out[o++] = (char)c;
			} else if (!plain && o + 4 < cap) {
				out[o++] = '\\';
				out[o++] = (char)('0' + c / 100);
				out[o++] = (char)('0' + c / 10 % 10);
				out[o++] = (char)('0' + c % 10);
			}
		}
		if (o + 1 < cap)
			out[o++] = '.';
	}
	if (o == 0 && cap > 1)
		out[o++] = '.';
	out[o] = '\0';
	return o;
}

void
dnsw_name_lower(uint8_t *name, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (uint8_t)(name[i] + 32);
	}
}

uint32_t
dnsw_name_hash(const uint8_t *name, size_t len)
{
	/* FNV-1a: names are short and the table is rebuilt per snapshot. */
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= name[i];
		h *= 16777619u;
	}
	return h ^ (h >> 15);
}

int
dnsw_name_suffix_at(const uint8_t *name, size_t len, const uint8_t *suffix, size_t slen)
{
	size_t pos = 0;

	if (slen > len)
		return -1;
	while (pos < len) {
		if (len - pos == slen && memcmp(name + pos, suffix, slen) == 0)
			return (int)pos;
		if (name[pos] == 0)
			break;
		pos += 1 + (size_t)name[pos];
	}
	return -1;
}

unsigned
dnsw_name_labels(const uint8_t *name, size_t len)
{
	unsigned n = 0;
	size_t pos = 0;

	while (pos < len && name[pos] != 0) {
		n++;
		pos += 1 + (size_t)name[pos];
	}
	return n;
}
