/* dnsa.h -- a zone's ready answers read back record by record, and records written into
 * another message. A node's answer was compressed for a message whose question is the node's
 * name; under autopath (dnsq.c) and in zone transfers (dnsx.c) its records go into messages
 * whose question is another name, so each is read whole (names expanded) and written again,
 * compressed against the names that message already holds. No I/O, no allocation. */
#ifndef DNSA_H
#define DNSA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsw.h"
#include "dnsz.h"

#define DNSA_RDATA_MAX 1024 /* the zone's largest: an SOA (two names and 20 bytes) */

/* One record, every name uncompressed: the owner, and names in the RDATA of CNAME, PTR, NS,
 * SRV and SOA. */
struct dnsa_rr {
	uint8_t owner[DNSW_NAME_MAX];
	size_t owner_len;
	uint16_t type, rclass;
	uint32_t ttl;
	uint8_t rdata[DNSA_RDATA_MAX];
	size_t rdlen;
};

/* The records of a node's answer A, in order (answer, authority, additional sections). */
struct dnsa_reader {
	const uint8_t *name; /* the node's name: the question the answer was made for */
	size_t name_len;
	const uint8_t *wire;
	size_t wire_len;
	size_t off; /* in the message the answer was made for */
	uint16_t left;
};

void dnsa_reader_init(struct dnsa_reader *r, const struct dnsz_answer *a, const uint8_t *name,
                      size_t name_len);
/* The next record into RR; false at the end, or when the answer does not read back (which a
 * zone's answers always do). */
bool dnsa_next(struct dnsa_reader *r, struct dnsa_rr *rr);

/* A name a message being written holds already: at OFF, its first LITERAL bytes as labels (the
 * rest a pointer, or the root). */
struct dnsa_known {
	size_t off;
	const uint8_t *name;
	size_t len;
	size_t literal;
};

/* Write NAME, its longest suffix that a known name holds as labels replaced by a pointer.
 * Returns the bytes written as labels. */
size_t dnsa_put_name(struct dnsw_wr *w, const uint8_t *name, size_t len, const struct dnsa_known *k,
                     size_t nk);
/* Write RR, its names compressed against K. Whether it fitted is W->full. Returns the bytes of
 * its owner written as labels (dnsa_put_name). */
size_t dnsa_put_rr(struct dnsw_wr *w, const struct dnsa_rr *rr, const struct dnsa_known *k,
                   size_t nk);

#endif
