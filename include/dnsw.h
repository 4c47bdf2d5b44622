/* dnsw.h -- DNS wire format: bounds-checked readers and writers for messages and names. Every
 * byte svcdns reads from the network goes through struct dnsw_rd. */
#ifndef DNSW_H
#define DNSW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_status.h"

#define DNSW_HEADER    12
#define DNSW_NAME_MAX  255 /* wire octets, root label included */
#define DNSW_LABEL_MAX 63
#define DNSW_MSG_MAX   65535
#define DNSW_PTR_MAX   0x3fff /* a compression pointer has 14 bits: it reaches the first 16 KiB */

enum dnsw_type {
	DNSW_T_A = 1,
	DNSW_T_NS = 2,
	DNSW_T_CNAME = 5,
	DNSW_T_SOA = 6,
	DNSW_T_PTR = 12,
	DNSW_T_HINFO = 13,
	DNSW_T_MX = 15,
	DNSW_T_TXT = 16,
	DNSW_T_AAAA = 28,
	DNSW_T_SRV = 33,
	DNSW_T_DNAME = 39,
	DNSW_T_OPT = 41,
	DNSW_T_TSIG = 250,
	DNSW_T_IXFR = 251,
	DNSW_T_AXFR = 252,
	DNSW_T_ANY = 255,
};

enum dnsw_class {
	DNSW_C_IN = 1,
	DNSW_C_CH = 3,
	DNSW_C_ANY = 255,
};

enum dnsw_rcode {
	DNSW_R_NOERROR = 0,
	DNSW_R_FORMERR = 1,
	DNSW_R_SERVFAIL = 2,
	DNSW_R_NXDOMAIN = 3,
	DNSW_R_NOTIMP = 4,
	DNSW_R_REFUSED = 5,
	DNSW_R_BADVERS = 16, /* extended: needs OPT */
};

/* Header flag bits (second 16-bit word). */
#define DNSW_F_QR          0x8000u
#define DNSW_F_OPCODE_MASK 0x7800u
#define DNSW_F_AA          0x0400u
#define DNSW_F_TC          0x0200u
#define DNSW_F_RD          0x0100u
#define DNSW_F_RA          0x0080u
#define DNSW_F_AD          0x0020u
#define DNSW_F_CD          0x0010u
#define DNSW_F_RCODE_MASK  0x000fu
#define DNSW_EDNS_DO       0x8000u

/* A cursor over LEN bytes; a read past the end fails and leaves the cursor unchanged. */
struct dnsw_rd {
	const uint8_t *buf;
	size_t len;
	size_t off;
};

void dnsw_rd_init(struct dnsw_rd *rd, const uint8_t *buf, size_t len);
bool dnsw_rd_u8(struct dnsw_rd *rd, uint8_t *v);
bool dnsw_rd_u16(struct dnsw_rd *rd, uint16_t *v);
bool dnsw_rd_u32(struct dnsw_rd *rd, uint32_t *v);
bool dnsw_rd_skip(struct dnsw_rd *rd, size_t n);

/* Read the name at the cursor and move past it. Compression pointers are followed only when
 * ALLOW_PTR, only strictly backwards (so loops cannot happen) and never into the 12-byte header
 * (which a relayed message rewrites). OUT (DNSW_NAME_MAX bytes, may
 * be NULL) gets the uncompressed name in lower case; *OUT_LEN its length. SVC_EINVAL for a
 * truncated name, a forward pointer, a label over 63 or a name over 255 octets. */
enum svc_status dnsw_rd_name(struct dnsw_rd *rd, bool allow_ptr, uint8_t *out, size_t *out_len);

/* A resource record's layout within its message. */
struct dnsw_rr {
	size_t start;     /* first byte of the owner name */
	size_t ttl_off;   /* offset of the TTL field */
	size_t rdata_off; /* offset of RDATA */
	size_t end;       /* one past RDATA */
	uint16_t type, rclass, rdlen;
	uint32_t ttl;
};

/* Read one record (owner may be compressed). */
enum svc_status dnsw_rd_rr(struct dnsw_rd *rd, struct dnsw_rr *rr);

/* An output buffer; writes past CAP set FULL and are dropped, so a caller checks once. */
struct dnsw_wr {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool full;
};

void dnsw_wr_init(struct dnsw_wr *w, uint8_t *buf, size_t cap);
void dnsw_wr_u8(struct dnsw_wr *w, uint8_t v);
void dnsw_wr_u16(struct dnsw_wr *w, uint16_t v);
void dnsw_wr_u32(struct dnsw_wr *w, uint32_t v);
void dnsw_wr_bytes(struct dnsw_wr *w, const void *p, size_t n);
/* A compression pointer to message offset OFF. An offset past DNSW_PTR_MAX cannot be pointed at:
 * then nothing is written, FULL is set as for a write past CAP (so a message is never malformed,
 * at worst incomplete) and the result is false. A writer whose offsets may grow that far checks
 * OFF first and writes the name instead. */
bool dnsw_wr_ptr(struct dnsw_wr *w, size_t off);

/* 16-bit big-endian load and store on trusted buffers (already bounds-checked). */
static inline uint16_t
dnsw_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void
dnsw_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
dnsw_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Text ("backend.shop.svc.cluster.local", trailing dot optional, "." is the root) to lower-case
 * wire form. SVC_EINVAL for empty labels, labels over 63 or names over 255 octets. */
enum svc_status dnsw_name_from_str(const char *s, uint8_t *out, size_t *out_len);
/* Wire name (uncompressed) to dotted text with a trailing dot; returns the text length. Bytes
 * outside [A-Za-z0-9-_] are written as \DDD. */
size_t dnsw_name_to_str(const uint8_t *name, size_t len, char *out, size_t cap);
/* Lower-case the name in place. Length octets are at most 63, below 'A', so they are safe. */
void dnsw_name_lower(uint8_t *name, size_t len);
uint32_t dnsw_name_hash(const uint8_t *name, size_t len);
/* Offset within NAME at which SUFFIX starts on a label boundary, or -1. Case-sensitive: lower
 * both first. */
int dnsw_name_suffix_at(const uint8_t *name, size_t len, const uint8_t *suffix, size_t slen);
/* Number of labels, root excluded. */
unsigned dnsw_name_labels(const uint8_t *name, size_t len);

#endif
