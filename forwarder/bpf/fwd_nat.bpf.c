/* fwd_nat.bpf.c -- svcfwd's fast path: a tc ingress program on the node's interfaces that
 * rewrites packets to a service address and port into packets to one of its endpoints, and the
 * replies back, and hands both straight to the interface the FIB names, so no process wakes
 * and no socket is crossed. svcfwd fills the maps (fwd_nat.c) from the same plan its relay
 * uses; whatever this program leaves alone goes on to the relay (sk_lookup or its sockets):
 *   - flows to an endpoint on another node (its replies would not come back through this one),
 *   - an endpoint out of the interface the client came in on (itself, or pods sharing a
 *     namespace: the relay gives them a source address of its own), fragments, IPv6
 *     extension headers,
 *   - services the maps do not hold (affinity, source ranges, no endpoint).
 * A node port is held on the zero address: it matches a packet to any address of this node
 * (the FIB says it is not to be forwarded).
 * A TCP endpoint that refuses a SYN (RST, ICMP) or leaves it unanswered is set aside; the
 * client's retransmitted SYN goes to another. A UDP flow moves when its endpoint leaves the
 * service or answers with ICMP unreachable. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stddef.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fwd_nat_abi.h"

#define AF_INET  2
#define AF_INET6 10

/* The first 8 bytes of ICMP and ICMPv6 messages (linux/icmp.h pulls in libc headers). */
struct icmp8 {
	__u8 type, code;
	__be16 checksum;
	__be32 rest;
};
#define ICMP_DEST_UNREACH   3
#define ICMPV6_DEST_UNREACH 1

#define SYN_RETRY_NS (200ULL * 1000 * 1000)      /* a SYN again this late: unanswered */
#define ASIDE_NS     (5ULL * 1000 * 1000 * 1000) /* how long a refusing endpoint waits */
#define PICK_TRIES   4
#define UDP_IDLE_NS  (30ULL * 1000 * 1000 * 1000) /* as the relay's --udp-timeout default */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, struct fnat_svc_key);
	__type(value, struct fnat_svc);
} fnat_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, __u32);
	__type(value, struct fnat_pool);
} fnat_pools SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1048576);
	__type(key, struct fnat_be_key);
	__type(value, struct fnat_be);
} fnat_backends SEC(".maps");

/* Forward and reverse entries of each flow; svcfwd sets max_entries before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fnat_ct_key);
	__type(value, struct fnat_ct);
} fnat_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fnat_aside_key);
	__type(value, __u64);
} fnat_aside SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, __u32);
	__type(value, struct fnat_stats);
} fnat_svc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FNAT_C_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} fnat_counters SEC(".maps");

/* Room for what a packet's handling builds, off the 512-byte stack. */
struct scratch {
	struct fnat_ct_key fk, rk;
	struct fnat_ct fwd, rev;
	struct bpf_fib_lookup fib;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} fnat_scratch SEC(".maps");

static __always_inline struct scratch *
scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&fnat_scratch, &zero);
}

/* Where a packet's fields are, once parsed. */
struct pkt {
	__u8 family, proto;
	__u8 src[16], dst[16];
	__be16 sport, dport;
	__u32 l3_off, l4_off;
	__u32 csum_off; /* the L4 checksum */
	__u8 tcp_flags; /* SYN, ACK, RST as in the header's byte 13 */
	__u32 len;
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

static __always_inline void
count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&fnat_counters, &c);

	if (v != NULL)
		*v += 1;
}

/* The L4 ports and flags at OFF (protocol PROTO) into P; -1: not there. */
static __always_inline int
parse_l4(struct __sk_buff *skb, struct pkt *p, __u32 off)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	p->l4_off = off;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;

		if ((void *)(th + 1) > end)
			return -1;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		p->csum_off = off + offsetof(struct tcphdr, check);
		return 0;
	}
	if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = data + off;

		if ((void *)(uh + 1) > end)
			return -1;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->csum_off = off + offsetof(struct udphdr, check);
		return 0;
	}
	return -1;
}

/* Parse the outer headers. -1: not a packet this program handles. */
static __always_inline int
parse(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return -1;
	p->l3_off = sizeof(*eth);
	p->len = skb->len;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + sizeof(*eth);

		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return -1;
		if (ip->frag_off & bpf_htons(0x3fff))
			return -1; /* a fragment: the relay's (the stack reassembles for it) */
		p->family = AF_INET;
		p->proto = ip->protocol;
		__builtin_memset(p->src, 0, 16);
		__builtin_memset(p->dst, 0, 16);
		__builtin_memcpy(p->src, &ip->saddr, 4);
		__builtin_memcpy(p->dst, &ip->daddr, 4);
		return p->proto == IPPROTO_ICMP ? 0 : parse_l4(skb, p, sizeof(*eth) + ip->ihl * 4);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + sizeof(*eth);

		if ((void *)(ip6 + 1) > end)
			return -1;
		p->family = AF_INET6;
		p->proto = ip6->nexthdr;
		__builtin_memcpy(p->src, &ip6->saddr, 16);
		__builtin_memcpy(p->dst, &ip6->daddr, 16);
		return p->proto == IPPROTO_ICMPV6 ? 0
		                                  : parse_l4(skb, p, sizeof(*eth) + sizeof(*ip6));
	}
	return -1;
}

static __always_inline int
addr_eq(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* Rewrite the source (SRC true) or destination address and port of P to ADDR and PORT,
 * fixing the IPv4 header checksum and the L4 checksum (its pseudo-header too). */
static __always_inline int
rewrite(struct __sk_buff *skb, struct pkt *p, int src, const __u8 *addr, __be16 port)
{
	const __u8 *old = src ? p->src : p->dst;
	__be16 old_port = src ? p->sport : p->dport;
	__u32 a_off, p_off = p->l4_off + (src ? 0 : 2);
	__u64 l4flags = BPF_F_PSEUDO_HDR;

	if (p->proto == IPPROTO_UDP)
		l4flags |= BPF_F_MARK_MANGLED_0; /* a UDP/IPv4 checksum of 0 (none) stays 0 */
	if (p->family == AF_INET) {
		__be32 o, n;

		__builtin_memcpy(&o, old, 4);
		__builtin_memcpy(&n, addr, 4);
		a_off = p->l3_off +
		        (src ? offsetof(struct iphdr, saddr) : offsetof(struct iphdr, daddr));
		if (bpf_l4_csum_replace(skb, p->csum_off, o, n, l4flags | 4) < 0 ||
		    bpf_l3_csum_replace(skb, p->l3_off + offsetof(struct iphdr, check), o, n, 4) <
		            0 ||
		    bpf_skb_store_bytes(skb, a_off, &n, 4, 0) < 0)
			return -1;
	} else {
		a_off = p->l3_off +
		        (src ? offsetof(struct ipv6hdr, saddr) : offsetof(struct ipv6hdr, daddr));
		for (int i = 0; i < 4; i++) {
			__be32 o, n;

			__builtin_memcpy(&o, old + 4 * i, 4);
			__builtin_memcpy(&n, addr + 4 * i, 4);
			if (bpf_l4_csum_replace(skb, p->csum_off, o, n, l4flags | 4) < 0)
				return -1;
		}
		if (bpf_skb_store_bytes(skb, a_off, addr, 16, 0) < 0)
			return -1;
	}
	if (port != old_port) {
		if (bpf_l4_csum_replace(skb, p->csum_off, old_port, port,
		                        (p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0) | 2) <
		            0 ||
		    bpf_skb_store_bytes(skb, p_off, &port, 2, 0) < 0)
			return -1;
	}
	return 0;
}

/* The FIB's way from SRC to DST, into the scratch's fib: BPF_FIB_LKUP_RET_*. */
static __always_inline long
fib(struct __sk_buff *skb, struct scratch *sc, __u8 family, const __u8 *src, const __u8 *dst)
{
	struct bpf_fib_lookup *f = &sc->fib;

	__builtin_memset(f, 0, sizeof(*f));
	f->ifindex = skb->ingress_ifindex;
	if (family == AF_INET) {
		f->family = AF_INET;
		__builtin_memcpy(&f->ipv4_src, src, 4);
		__builtin_memcpy(&f->ipv4_dst, dst, 4);
	} else {
		f->family = AF_INET6;
		__builtin_memcpy(f->ipv6_src, src, 16);
		__builtin_memcpy(f->ipv6_dst, dst, 16);
	}
	return bpf_fib_lookup(skb, f, sizeof(*f), 0);
}

/* Send the rewritten packet out of the interface the lookup RC (in the scratch) found. */
static __always_inline int
send(struct __sk_buff *skb, struct scratch *sc, long rc)
{
	struct bpf_fib_lookup *f = &sc->fib;
	void *data, *end;
	struct ethhdr *eth;

	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(f->ifindex, NULL, 0, 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		count(FNAT_C_NO_ROUTE);
		return TC_ACT_OK;
	}
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	__builtin_memcpy(eth->h_dest, f->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, f->smac, ETH_ALEN);
	return bpf_redirect(f->ifindex, 0);
}

/* Send the rewritten packet (now SRC -> DST) out of the interface the FIB gives for DST. */
static __always_inline int
route(struct __sk_buff *skb, __u8 family, const __u8 *src, const __u8 *dst)
{
	struct scratch *sc = scratch();

	if (sc == NULL)
		return TC_ACT_OK;
	return send(skb, sc, fib(skb, sc, family, src, dst));
}

static __always_inline void
stats(__u32 id, int in, __u32 len, int new_flow)
{
	struct fnat_stats *s = bpf_map_lookup_elem(&fnat_svc_stats, &id);

	if (s == NULL)
		return;
	if (in) {
		s->packets_in++;
		s->bytes_in += len;
	} else {
		s->packets_out++;
		s->bytes_out += len;
	}
	if (new_flow)
		s->flows++;
}

static __always_inline void
set_aside(const __u8 *addr, __be16 port, __u8 family, __u8 proto, __u32 id)
{
	struct fnat_aside_key k = {};
	__u64 until = bpf_ktime_get_ns() + ASIDE_NS;
	struct fnat_stats *s = bpf_map_lookup_elem(&fnat_svc_stats, &id);

	__builtin_memcpy(k.addr, addr, 16);
	k.port = port;
	k.family = family;
	k.proto = proto;
	bpf_map_update_elem(&fnat_aside, &k, &until, BPF_ANY);
	if (s != NULL)
		s->failures++;
	count(FNAT_C_REFUSED);
}

static __always_inline int
is_aside(const struct fnat_be *be, __u8 proto, __u64 now)
{
	struct fnat_aside_key k = {};
	__u64 *until;

	__builtin_memcpy(k.addr, be->addr, 16);
	k.port = be->port;
	k.family = be->family;
	k.proto = proto;
	until = bpf_map_lookup_elem(&fnat_aside, &k);
	return until != NULL && *until > now;
}

/* An endpoint of pool ID for a new flow from P's client, avoiding AVOID (when given) and those set
 * aside while another is left, in turn. NULL: none this program may use (the relay takes the
 * flow). */
static __always_inline struct fnat_be *
pick(__u32 id, struct fnat_pool *pool, const struct pkt *p, const __u8 *avoid, __be16 avoid_port,
     __u64 now)
{
	struct fnat_be *fallback = NULL;
	__u32 start, n = pool->n;

	if (n == 0)
		return NULL;
	start = __sync_fetch_and_add(&pool->rr, 1) % n;
	for (int i = 0; i < PICK_TRIES; i++) {
		struct fnat_be_key k = {.id = id, .idx = (start + i) % n};
		struct fnat_be *be = bpf_map_lookup_elem(&fnat_backends, &k);

		if (be == NULL)
			continue;
		if (avoid != NULL && be->port == avoid_port && addr_eq(be->addr, avoid))
			continue;
		if (is_aside(be, p->proto, now)) {
			if (fallback == NULL)
				fallback = be;
			continue;
		}
		return be;
	}
	return fallback;
}

static __always_inline void
ct_key(struct fnat_ct_key *k, const __u8 *src, const __u8 *dst, __be16 sport, __be16 dport,
       __u8 family, __u8 proto)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->src, src, 16);
	__builtin_memcpy(k->dst, dst, 16);
	k->sport = sport;
	k->dport = dport;
	k->family = family;
	k->proto = proto;
}

/* Forget the flow of forward key FK and reverse key RK (both in the scratch). */
static __always_inline void
forget(struct scratch *sc)
{
	bpf_map_delete_elem(&fnat_flows, &sc->fk);
	bpf_map_delete_elem(&fnat_flows, &sc->rk);
}

/* Start a flow from P's client to endpoint BE of pool ID (generation GEN), and send P there. */
static __always_inline int
start(struct __sk_buff *skb, struct pkt *p, __u32 id, __u32 gen, const struct fnat_be *be,
      int new_flow, __u64 now)
{
	struct scratch *sc = scratch();
	int syn = p->proto == IPPROTO_TCP && (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
	__u8 addr[16];
	__be16 port;
	long rc;

	if (sc == NULL)
		return TC_ACT_OK;
	/* Replies must come back through this node: the endpoint is here (a pod's way out is its
	 * node). And the endpoint must be out of another interface than the client: back out of
	 * the same one (a client that is its own endpoint, or pods sharing a namespace) the packet
	 * would arrive from an address of its own receiver; the relay's own address is needed. */
	if (!(be->flags & FNAT_BE_LOCAL)) {
		count(FNAT_C_PASS);
		return TC_ACT_OK;
	}
	rc = fib(skb, sc, p->family, p->src, be->addr);
	if ((rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) ||
	    sc->fib.ifindex == skb->ingress_ifindex) {
		count(FNAT_C_PASS);
		return TC_ACT_OK;
	}
	__builtin_memcpy(addr, be->addr, 16);
	port = be->port;
	__builtin_memset(&sc->fwd, 0, sizeof(sc->fwd));
	__builtin_memcpy(sc->fwd.addr, addr, 16);
	sc->fwd.port = port;
	sc->fwd.state = syn ? FNAT_SYN_SENT : FNAT_OPEN;
	sc->fwd.dir = FNAT_FORWARD;
	sc->fwd.id = id;
	sc->fwd.gen = gen;
	sc->fwd.since_ns = now;
	__builtin_memset(&sc->rev, 0, sizeof(sc->rev));
	__builtin_memcpy(sc->rev.addr, p->dst, 16);
	sc->rev.port = p->dport;
	sc->rev.state = FNAT_OPEN;
	sc->rev.dir = FNAT_REVERSE;
	sc->rev.id = id;
	sc->rev.gen = gen;
	ct_key(&sc->fk, p->src, p->dst, p->sport, p->dport, p->family, p->proto);
	ct_key(&sc->rk, addr, p->src, port, p->sport, p->family, p->proto);
	if (bpf_map_update_elem(&fnat_flows, &sc->rk, &sc->rev, BPF_ANY) < 0 ||
	    bpf_map_update_elem(&fnat_flows, &sc->fk, &sc->fwd, BPF_ANY) < 0) {
		count(FNAT_C_PASS);
		return TC_ACT_OK;
	}
	if (new_flow)
		count(FNAT_C_NEW);
	if (rewrite(skb, p, 0, addr, port) < 0)
		return TC_ACT_SHOT;
	stats(id, 1, p->len, new_flow);
	count(FNAT_C_FORWARD);
	return send(skb, sc, rc);
}

/* A new flow to a service of pool ID. TCP flows start with a SYN: anything else (a connection
 * the relay carries since before the service came to the fast path) is the relay's. */
static __always_inline int
forward_new(struct __sk_buff *skb, struct pkt *p, __u32 id, struct fnat_pool *pool)
{
	__u64 now = bpf_ktime_get_ns();
	struct fnat_be *be;

	if (p->proto == IPPROTO_TCP && (p->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
		return TC_ACT_OK;
	be = pick(id, pool, p, NULL, 0, now);
	if (be == NULL) {
		count(FNAT_C_PASS);
		return TC_ACT_OK;
	}
	return start(skb, p, id, pool->gen, be, 1, now);
}

/* A packet of flow CT (forward): to its endpoint, unless it must move. */
static __always_inline int
forward(struct __sk_buff *skb, struct pkt *p, struct fnat_ct *ct)
{
	__u64 now = bpf_ktime_get_ns();
	int syn = p->proto == IPPROTO_TCP && (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
	struct fnat_svc_key sk = {};
	struct fnat_svc *svc;
	__u32 id = ct->id;
	struct fnat_pool *pool;
	struct fnat_be *be = NULL;
	__u8 addr[16];
	__be16 port = ct->port;
	int moved = 0, new_flow = 0;

	__builtin_memcpy(addr, ct->addr, 16);
	/* The service address may lead elsewhere now (another service took it), or nowhere the
	 * fast path goes: a UDP flow follows (to the new pool, or to the relay); a TCP connection
	 * carries on to its endpoint. */
	__builtin_memcpy(sk.addr, p->dst, 16);
	sk.port = p->dport;
	sk.family = p->family;
	sk.proto = p->proto;
	svc = bpf_map_lookup_elem(&fnat_services, &sk);
	if (p->proto == IPPROTO_UDP && svc == NULL) {
		struct scratch *sc = scratch();

		if (sc != NULL) {
			ct_key(&sc->rk, addr, p->src, port, p->sport, p->family, p->proto);
			bpf_map_delete_elem(&fnat_flows, &sc->rk);
			ct_key(&sc->fk, p->src, p->dst, p->sport, p->dport, p->family, p->proto);
			bpf_map_delete_elem(&fnat_flows, &sc->fk);
		}
		count(FNAT_C_PASS);
		return TC_ACT_OK;
	}
	if (p->proto == IPPROTO_UDP && svc->id != id) {
		id = svc->id;
		ct->gen = 0; /* checked against the new pool below */
	}
	pool = bpf_map_lookup_elem(&fnat_pools, &id);
	if (pool != NULL && syn && ct->state == FNAT_SYN_SENT &&
	    now - ct->since_ns >= SYN_RETRY_NS) {
		/* The client sends its SYN again: the endpoint did not answer (or refused). */
		if (ct->since_ns != 0)
			set_aside(addr, port, p->family, p->proto, id);
		be = pick(id, pool, p, addr, port, now);
		moved = 1;
	} else if (pool != NULL && syn && ct->state != FNAT_SYN_SENT) {
		/* A new connection from a port an old one used. */
		be = pick(id, pool, p, NULL, 0, now);
		new_flow = 1;
	} else if (pool != NULL && p->proto == IPPROTO_UDP &&
	           (ct->gen != pool->gen || now - ct->since_ns >= UDP_IDLE_NS)) {
		/* Idle long, or the endpoints changed: is this flow's still one of them? */
		int found = 0;

		for (int i = 0; i < 64 && i < pool->n; i++) {
			struct fnat_be_key k = {.id = id, .idx = i};
			struct fnat_be *b = bpf_map_lookup_elem(&fnat_backends, &k);

			if (b != NULL && b->port == port && addr_eq(b->addr, addr)) {
				found = 1;
				break;
			}
		}
		if (found && now - ct->since_ns < UDP_IDLE_NS) {
			ct->gen = pool->gen;
			ct->id = id;
		} else {
			be = pick(id, pool, p, NULL, 0, now);
			new_flow = !found;
			moved = found == 0;
		}
	}
	if (be != NULL) {
		if (moved)
			count(FNAT_C_REPICK);
		return start(skb, p, id, pool->gen, be, new_flow, now);
	}
	if (syn || p->proto == IPPROTO_UDP)
		ct->since_ns = now;
	if (rewrite(skb, p, 0, addr, port) < 0)
		return TC_ACT_SHOT;
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & TCP_RST)) {
		/* A reset ends the flow: its addresses are free for the next. */
		struct scratch *sc = scratch();

		if (sc != NULL) {
			ct_key(&sc->fk, p->src, p->dst, p->sport, p->dport, p->family, p->proto);
			ct_key(&sc->rk, addr, p->src, port, p->sport, p->family, p->proto);
			forget(sc);
		}
	}
	stats(id, 1, p->len, 0);
	count(FNAT_C_FORWARD);
	return route(skb, p->family, p->src, addr);
}

/* A packet from an endpoint to a client of a flow (REV): from the service's address again. A
 * packet that only looks like one (the same addresses and ports as a flow that ended: the
 * client now talks to the endpoint directly, from a port it reused) ends the old flow and goes
 * on as it is. */
static __always_inline int
reverse(struct __sk_buff *skb, struct pkt *p, struct fnat_ct *rev)
{
	struct scratch *sc = scratch();
	struct fnat_ct *fwd;
	__u8 svc_addr[16];
	__be16 svc_port = rev->port;
	__u32 id = rev->id;
	__u8 fl = p->tcp_flags;
	int tcp = p->proto == IPPROTO_TCP;

	if (sc == NULL)
		return TC_ACT_OK;
	__builtin_memcpy(svc_addr, rev->addr, 16);
	ct_key(&sc->fk, p->dst, svc_addr, p->dport, svc_port, p->family, p->proto);
	ct_key(&sc->rk, p->src, p->dst, p->sport, p->dport, p->family, p->proto);
	fwd = bpf_map_lookup_elem(&fnat_flows, &sc->fk);
	if (fwd == NULL || (tcp && (fl & TCP_SYN) && fwd->state != FNAT_SYN_SENT) ||
	    (!tcp && bpf_ktime_get_ns() - fwd->since_ns >= UDP_IDLE_NS)) {
		forget(sc);
		return TC_ACT_OK;
	}
	if (tcp && fwd->state == FNAT_SYN_SENT) {
		if (fl & TCP_RST) {
			/* Refused: set aside, and the client's next SYN goes elsewhere. The reset
			 * is dropped: the client would give up on it. */
			set_aside(p->src, p->sport, p->family, p->proto, id);
			fwd->since_ns = 0;
			return TC_ACT_SHOT;
		}
		if (fl & TCP_SYN)
			fwd->state = FNAT_OPEN;
	}
	if (rewrite(skb, p, 1, svc_addr, svc_port) < 0)
		return TC_ACT_SHOT;
	/* A reset ends the flow: its addresses are free for the next. */
	if (tcp && (fl & TCP_RST))
		forget(sc);
	stats(id, 0, p->len, 0);
	count(FNAT_C_REVERSE);
	return route(skb, p->family, svc_addr, p->dst);
}

/* ICMP unreachable from an endpoint about a packet of a flow: set it aside and forget the flow,
 * so the client's next packet picks again. The error itself names the endpoint, which the
 * client does not know: dropped. */
static __always_inline int
icmp_error(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct pkt in = {};
	struct fnat_ct_key rk, fk;
	struct fnat_ct *rev;
	__u32 off;

	if (p->family == AF_INET) {
		struct iphdr *ip = data + p->l3_off;
		struct icmp8 *ic;
		struct iphdr *inner;

		if ((void *)(ip + 1) > end)
			return TC_ACT_OK;
		off = p->l3_off + ip->ihl * 4;
		ic = data + off;
		if ((void *)(ic + 1) > end || ic->type != ICMP_DEST_UNREACH)
			return TC_ACT_OK;
		inner = (void *)(ic + 1);
		if ((void *)(inner + 1) > end || inner->ihl != 5)
			return TC_ACT_OK;
		in.family = AF_INET;
		in.proto = inner->protocol;
		__builtin_memcpy(in.src, &inner->saddr, 4);
		__builtin_memcpy(in.dst, &inner->daddr, 4);
		off += sizeof(*ic) + sizeof(*inner);
	} else {
		struct icmp8 *ic = data + p->l3_off + sizeof(struct ipv6hdr);
		struct ipv6hdr *inner;

		if ((void *)(ic + 1) > end || ic->type != ICMPV6_DEST_UNREACH)
			return TC_ACT_OK;
		inner = (void *)(ic + 1);
		if ((void *)(inner + 1) > end)
			return TC_ACT_OK;
		in.family = AF_INET6;
		in.proto = inner->nexthdr;
		__builtin_memcpy(in.src, &inner->saddr, 16);
		__builtin_memcpy(in.dst, &inner->daddr, 16);
		off = p->l3_off + sizeof(struct ipv6hdr) + sizeof(*ic) + sizeof(*inner);
	}
	{
		__be16 *ports = data + off;

		if ((void *)(ports + 2) > end)
			return TC_ACT_OK;
		in.sport = ports[0];
		in.dport = ports[1];
	}
	/* The packet in error went client -> endpoint: the reverse entry is endpoint -> client. */
	ct_key(&rk, in.dst, in.src, in.dport, in.sport, in.family, in.proto);
	rev = bpf_map_lookup_elem(&fnat_flows, &rk);
	if (rev == NULL)
		return TC_ACT_OK;
	set_aside(in.dst, in.dport, in.family, in.proto, rev->id);
	ct_key(&fk, in.src, rev->addr, in.sport, rev->port, in.family, in.proto);
	bpf_map_delete_elem(&fnat_flows, &fk);
	bpf_map_delete_elem(&fnat_flows, &rk);
	return TC_ACT_SHOT;
}

SEC("tc")
int
fwd_nat_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct fnat_svc_key sk = {};
	struct fnat_ct_key k;
	struct fnat_svc *svc;
	struct fnat_pool *pool;
	struct fnat_ct *ct;
	__u32 id;

	if (parse(skb, &p) < 0)
		return TC_ACT_OK;
	if (p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6)
		return icmp_error(skb, &p);
	/* A flow's packet, either way; flows carry on when their service leaves the maps. */
	ct_key(&k, p.src, p.dst, p.sport, p.dport, p.family, p.proto);
	ct = bpf_map_lookup_elem(&fnat_flows, &k);
	if (ct != NULL)
		return ct->dir == FNAT_REVERSE ? reverse(skb, &p, ct) : forward(skb, &p, ct);
	__builtin_memcpy(sk.addr, p.dst, 16);
	sk.port = p.dport;
	sk.family = p.family;
	sk.proto = p.proto;
	svc = bpf_map_lookup_elem(&fnat_services, &sk);
	if (svc == NULL) {
		/* A node port: the port on the zero address, for any address of this node. */
		struct scratch *sc;

		__builtin_memset(sk.addr, 0, 16);
		svc = bpf_map_lookup_elem(&fnat_services, &sk);
		if (svc == NULL || (sc = scratch()) == NULL ||
		    fib(skb, sc, p.family, p.src, p.dst) != BPF_FIB_LKUP_RET_NOT_FWDED)
			return TC_ACT_OK;
	}
	id = svc->id;
	pool = bpf_map_lookup_elem(&fnat_pools, &id);
	if (pool == NULL)
		return TC_ACT_OK;
	return forward_new(skb, &p, id, pool);
}

char LICENSE[] SEC("license") = "GPL";
