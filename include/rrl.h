/* rrl.h -- response rate limiting, as Knot and NSD do it: answers to one source prefix (IPv4
 * /24, IPv6 /56) of one kind and name are counted against a rate per second, with a burst of one
 * second's worth; over it, an answer is dropped, except every SLIP-th, which goes out truncated
 * so a real client retries over TCP (a spoofed victim gets little). A fixed table: memory never
 * grows with the number of sources; a collision just restarts a bucket. Thread-safe. I/O-free:
 * time comes in as an argument. */
#ifndef RRL_H
#define RRL_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"
#include "svc_status.h"

/* What is counted together: positive answers and NODATA per name; NXDOMAIN per zone (so random
 * names make one bucket); other errors per rcode. */
enum rrl_class {
	RRL_ANSWER,
	RRL_NODATA,
	RRL_NXDOMAIN,
	RRL_ERROR,
};

enum rrl_verdict {
	RRL_PASS,
	RRL_DROP,
	RRL_SLIP, /* send a truncated answer instead */
};

struct rrl;

/* RATE answers per second per bucket (at least 1); SLIP 0 drops everything over the rate.
 * SLOTS buckets (rounded up to a power of two). */
enum svc_status rrl_create(uint32_t rate, uint32_t slip, size_t slots, struct rrl **out);
void rrl_destroy(struct rrl *r);
/* The verdict for one answer to CLIENT of class CLS about NAME (wire form, NAME_LEN bytes; for
 * RRL_ERROR the rcode's byte is enough) at NOW_S seconds. */
enum rrl_verdict rrl_check(struct rrl *r, const struct netaddr *client, enum rrl_class cls,
                           const uint8_t *name, size_t name_len, uint64_t now_s);

struct rrl_stats {
	uint64_t passed, dropped, slipped;
};
void rrl_stats(struct rrl *r, struct rrl_stats *out);

#endif
