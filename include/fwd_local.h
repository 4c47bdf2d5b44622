/* fwd_local.h -- the service addresses and ports another process of this node serves itself
 * (a node-local DNS cache on the kube-dns ClusterIP), which svcfwd then leaves to it. */
#ifndef FWD_LOCAL_H
#define FWD_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "netaddr.h"
#include "svc_status.h"

/* A socket bound to a service address and port: an unconnected UDP socket or a TCP listener. */
struct fwd_local_port {
	struct netaddr addr;
	uint16_t port;
	enum cluster_proto proto;
	uint64_t ino; /* the socket's inode, to tell the caller's own sockets apart */
};

/* Every such socket of this network namespace bound to an address inside one of the N CIDRS,
 * at most MAX of them, into *OUT (*N_OUT of them; free with free()). SVC_EIO when the kernel
 * has no sock_diag for a family or protocol (then *OUT is empty). */
enum svc_status fwd_local_scan(const struct netaddr_prefix *cidrs, size_t n, size_t max,
                               struct fwd_local_port **out, size_t *n_out);

#endif
