/* netaddr.h -- IPv4/IPv6 addresses and prefixes, parsed and printed without locale. */
#ifndef NETADDR_H
#define NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_status.h"

/* Longest text form, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" plus NUL. */
#define NETADDR_STRLEN 46

enum netaddr_family {
	NETADDR_NONE = 0,
	NETADDR_V4 = 4,
	NETADDR_V6 = 6,
};

/* An address; IPv4 uses the first 4 bytes of bytes[]. Comparable with memcmp when zeroed. */
struct netaddr {
	uint8_t family; /* enum netaddr_family */
	uint8_t bytes[16];
};

struct netaddr_prefix {
	struct netaddr addr; /* host bits are zero */
	uint8_t len;
};

/* Parse a dotted IPv4 or an RFC 4291 IPv6 text address. SVC_EINVAL when S is not one. */
enum svc_status netaddr_parse(struct netaddr *out, const char *s);
/* Parse "ADDR/LEN"; host bits must be zero. */
enum svc_status netaddr_prefix_parse(struct netaddr_prefix *out, const char *s);
/* Text form into BUF (at least NETADDR_STRLEN bytes); returns BUF. */
const char *netaddr_str(const struct netaddr *a, char *buf);
const char *netaddr_prefix_str(const struct netaddr_prefix *p, char *buf);

bool netaddr_equal(const struct netaddr *a, const struct netaddr *b);
int netaddr_cmp(const struct netaddr *a, const struct netaddr *b);
bool netaddr_in_prefix(const struct netaddr *a, const struct netaddr_prefix *p);
/* Bits of the address: 32 or 128. */
unsigned netaddr_bits(const struct netaddr *a);
/* Offset of A from the start of P (the low 64 bits are enough for any allocatable range). */
uint64_t netaddr_offset(const struct netaddr_prefix *p, const struct netaddr *a);
/* The address at OFFSET from the start of P. */
void netaddr_at(const struct netaddr_prefix *p, uint64_t offset, struct netaddr *out);
/* Number of addresses in P, saturated at 2^63. */
uint64_t netaddr_prefix_size(const struct netaddr_prefix *p);
/* Loopback, link-local, unspecified or multicast: never a valid endpoint or service address. */
bool netaddr_is_special(const struct netaddr *a);
/* Cheap well-spread hash for index tables. */
uint32_t netaddr_hash(const struct netaddr *a);

#endif
