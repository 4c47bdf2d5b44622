/* fwd_sklookup.h -- hand connections and datagrams for service addresses to a few sockets, with
 * an eBPF sk_lookup program (Linux 5.9+) attached to the network namespace. A hash map says which
 * destinations (family, address, port, protocol) are service ports; the program looks the
 * destination up, exact address first, then the "any local address" key of node ports, and
 * assigns a hit to the socket of its family and protocol kept in a socket map. A miss assigns
 * nothing, so the kernel's own lookup goes on: a port no service claims is refused as before.
 *
 * Loaded with raw bpf(2) calls and a small hand-assembled program: no libbpf, no compiler. Needs
 * CAP_BPF and CAP_NET_ADMIN (or root). No logging here: failures come back as a status, errno
 * and a line in err. */
#ifndef FWD_SKLOOKUP_H
#define FWD_SKLOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "netaddr.h"
#include "svc_status.h"

/* The sockets destinations are handed to, by family and protocol. */
enum fwd_sklookup_slot {
	FWD_SKL_TCP4,
	FWD_SKL_TCP6,
	FWD_SKL_UDP4,
	FWD_SKL_UDP6,
	FWD_SKL_SLOTS,
};

/* The map's key, as the program builds it from the lookup's context. 20 bytes, no padding. */
struct fwd_sklookup_key {
	uint8_t addr[16]; /* network order, IPv4 in the first 4; all zero: any local address */
	uint16_t port;    /* host order, as the kernel gives it */
	uint8_t family;   /* AF_INET, AF_INET6 */
	uint8_t proto;    /* IPPROTO_TCP, IPPROTO_UDP */
};

struct fwd_sklookup {
	int map_fd;     /* destinations: key -> slot */
	int sockmap_fd; /* slot -> socket */
	int prog_fd;
	int link_fd; /* the attachment to the namespace; -1 when not attached */
	uint32_t max_entries;
	size_t n;       /* entries in the map (a key put in twice counts twice) */
	unsigned grown; /* times the map was replaced by a bigger one */
	char err[192];  /* the step that failed last, with its error */
};

/* The key for destination ADDR:PORT/PROTO; WILDCARD: PORT on any local address of ADDR's
 * family (node ports). */
void fwd_sklookup_key(struct fwd_sklookup_key *k, enum cluster_proto proto,
                      const struct netaddr *addr, bool wildcard, uint16_t port);
/* The slot that takes the destinations of K. */
enum fwd_sklookup_slot fwd_sklookup_key_slot(const struct fwd_sklookup_key *k);

/* Make the maps for MAX_ENTRIES destinations to start with (the map grows as needed), load the
 * program and, if ATTACH, attach it to the calling thread's network namespace. SVC_EIO (errno
 * set, SK->err says which step) when the kernel refuses: no permission (EPERM), no sk_lookup
 * (EINVAL). SK is usable for fwd_sklookup_close either way. */
enum svc_status fwd_sklookup_open(struct fwd_sklookup *sk, uint32_t max_entries, bool attach);
/* Destinations of SLOT go to FD from now on: a listening TCP socket or a bound UDP socket of the
 * slot's family and protocol (for several workers: one socket of a SO_REUSEPORT group, the
 * kernel picks in the group). */
enum svc_status fwd_sklookup_set_socket(struct fwd_sklookup *sk, enum fwd_sklookup_slot slot,
                                        int fd);
/* Take the N_DEL keys DEL out of the map, then put the N_ADD keys ADD in; a key to take out that
 * is not in, or to put in that is in already, is no error. The map grows when full (a new map
 * and program replace the old ones on the same attachment, atomically). Batched: a few system
 * calls per thousand keys. On failure the keys before the failing one are applied. */
enum svc_status fwd_sklookup_update(struct fwd_sklookup *sk, const struct fwd_sklookup_key *del,
                                    size_t n_del, const struct fwd_sklookup_key *add, size_t n_add);
/* Detach and free everything. */
void fwd_sklookup_close(struct fwd_sklookup *sk);

#endif
