/* fwd_nat_abi.h -- what svcfwd and its fast-path program (forwarder/bpf/fwd_nat.bpf.c) share:
 * the maps' keys and values. Addresses are 16 bytes (IPv4 in the first 4), ports in network
 * order, as the packets carry them. */
#ifndef FWD_NAT_ABI_H
#define FWD_NAT_ABI_H

#include <linux/types.h>

/* A service address and port the fast path takes (a ClusterIP or LoadBalancer IP). */
struct fnat_svc_key {
	__u8 addr[16];
	__be16 port;
	__u8 family; /* AF_INET, AF_INET6 */
	__u8 proto;  /* IPPROTO_TCP, IPPROTO_UDP */
};

/* What a service address and port leads to: a pool of endpoints, shared by the addresses of a
 * service port (its ClusterIP, its LoadBalancer IPs). */
struct fnat_svc {
	__u32 id;
};

/* A pool: its endpoints are (id, 0) .. (id, n - 1) in fnat_backends. */
struct fnat_pool {
	__u32 n;
	__u32 gen; /* changes with the endpoints: flows check theirs are still there */
	__u32 rr;  /* the program's: new flows take the endpoints in turn, as the relay's do */
	__u32 pad;
};

struct fnat_be_key {
	__u32 id;
	__u32 idx;
};

#define FNAT_BE_LOCAL 1 /* on this node: its replies come back through it */

struct fnat_be {
	__u8 addr[16];
	__be16 port;
	__u8 family;
	__u8 flags;
};

/* A flow, by its packets' addresses as they arrive: client to service (forward), or endpoint
 * to client (reverse). */
struct fnat_ct_key {
	__u8 src[16];
	__u8 dst[16];
	__be16 sport, dport;
	__u8 family, proto;
	__u16 pad;
};

enum fnat_state {
	FNAT_SYN_SENT = 1, /* TCP: the client's SYN went to the endpoint, no answer yet */
	FNAT_OPEN,         /* TCP: answered; UDP: any */
};

/* Forward: where the flow goes (the endpoint); reverse: what it came to (the service). */
enum fnat_dir {
	FNAT_FORWARD = 1,
	FNAT_REVERSE,
};

struct fnat_ct {
	__u8 addr[16];
	__be16 port;
	__u8 state;
	__u8 dir;
	__u32 id;  /* the service's */
	__u32 gen; /* the service's when the endpoint was checked */
	__u32 pad2;
	__u64 since_ns; /* forward: when the SYN went out (FNAT_SYN_SENT); UDP: last packet */
};

/* An endpoint that refused or did not answer, set aside until UNTIL_NS. */
struct fnat_aside_key {
	__u8 addr[16];
	__be16 port;
	__u8 family, proto;
};

/* Counters per service (per CPU). */
struct fnat_stats {
	__u64 flows, packets_in, bytes_in, packets_out, bytes_out, failures;
};

/* Counters of the program (per CPU), by index. */
enum fnat_counter {
	FNAT_C_FORWARD,  /* packets to a service, rewritten */
	FNAT_C_REVERSE,  /* replies, rewritten */
	FNAT_C_PASS,     /* packets to a service left to the relay (no local end, no endpoint) */
	FNAT_C_NEW,      /* flows started */
	FNAT_C_REPICK,   /* flows moved to another endpoint */
	FNAT_C_REFUSED,  /* endpoints found refusing (RST to a SYN, ICMP unreachable) */
	FNAT_C_NO_ROUTE, /* rewritten packets the FIB could not route (left to the stack) */
	FNAT_C_COUNTERS,
};

#endif
