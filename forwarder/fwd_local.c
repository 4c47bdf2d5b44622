/* fwd_local.c -- the service addresses and ports that a process of this node serves itself, as
 * a node-local DNS cache serves the kube-dns ClusterIP: UDP sockets that are not connected and
 * TCP listeners, bound to an address of the service CIDRs. One sock_diag dump per family and
 * protocol (NETLINK_SOCK_DIAG): the kernel filters by state, so the dump does not grow with
 * UDP flows or TCP connections, only with the node's servers. */
#include "fwd_local.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include "vec.h"

/* The kernel's TCP states (include/net/tcp_states.h): a listener, and an unconnected UDP
 * socket, which the kernel reports as closed. */
#define STATE_CLOSE  7
#define STATE_LISTEN 10

/* One dump: every socket of FAMILY and PROTO in state STATE, bound inside CIDRS, into OUT. */
static enum svc_status
dump(int fd, int family, int proto, int state, const struct netaddr_prefix *cidrs, size_t n,
     struct fwd_local_port **out, size_t *n_out, size_t *cap, size_t max)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 req;
	} msg = {
	        .nh = {.nlmsg_len = sizeof(msg),
	               .nlmsg_type = SOCK_DIAG_BY_FAMILY,
	               .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
	        .req = {.sdiag_family = (uint8_t)family,
	                .sdiag_protocol = (uint8_t)proto,
	                .idiag_states = 1u << state},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	/* 32 KiB: the kernel fills each read with as many messages as fit. */
	static _Thread_local uint8_t buf[32768] __attribute__((aligned(8)));

	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return SVC_EIO;
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh = (struct nlmsghdr *)buf;

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			return SVC_EIO;
		for (; NLMSG_OK(nh, (size_t)len); nh = NLMSG_NEXT(nh, len)) {
			const struct inet_diag_msg *m = NLMSG_DATA(nh);
			struct fwd_local_port p = {.proto = proto == IPPROTO_UDP ? CLUSTER_UDP
			                                                         : CLUSTER_TCP};
			struct fwd_local_port *slot;
			bool inside = false;

			if (nh->nlmsg_type == NLMSG_DONE)
				return SVC_OK;
			if (nh->nlmsg_type == NLMSG_ERROR)
				return SVC_EIO;
			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			p.addr.family = family == AF_INET6 ? NETADDR_V6 : NETADDR_V4;
			memcpy(p.addr.bytes, m->id.idiag_src, family == AF_INET6 ? 16 : 4);
			p.port = ntohs(m->id.idiag_sport);
			p.ino = m->idiag_inode;
			for (size_t i = 0; i < n && !inside; i++)
				inside = netaddr_in_prefix(&p.addr, &cidrs[i]);
			if (!inside || *n_out >= max)
				continue;
			slot = vec_push(out, n_out, cap, sizeof(p), NULL);
			if (slot == NULL)
				return SVC_ENOMEM;
			*slot = p;
		}
	}
}

enum svc_status
fwd_local_scan(const struct netaddr_prefix *cidrs, size_t n, size_t max,
               struct fwd_local_port **out, size_t *n_out)
{
	static const struct {
		int family, proto, state;
	} dumps[] = {
	        {AF_INET, IPPROTO_UDP, STATE_CLOSE},
	        {AF_INET, IPPROTO_TCP, STATE_LISTEN},
	        {AF_INET6, IPPROTO_UDP, STATE_CLOSE},
	        {AF_INET6, IPPROTO_TCP, STATE_LISTEN},
	};
	struct timeval tv = {.tv_sec = 1};
	enum svc_status st = SVC_OK;
	size_t cap = 0;
	int fd;

	*out = NULL;
	*n_out = 0;
	if (n == 0)
		return SVC_OK;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return SVC_EIO;
	/* The kernel answers at once; the bound is for a kernel that would not. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (size_t i = 0; i < sizeof(dumps) / sizeof(dumps[0]) && st == SVC_OK; i++) {
		bool v6 = dumps[i].family == AF_INET6, wanted = false;

		for (size_t j = 0; j < n; j++)
			wanted |= (cidrs[j].addr.family == NETADDR_V6) == v6;
		if (wanted)
			st = dump(fd, dumps[i].family, dumps[i].proto, dumps[i].state, cidrs, n,
			          out, n_out, &cap, max);
	}
	close(fd);
	if (st != SVC_OK) {
		free(*out);
		*out = NULL;
		*n_out = 0;
	}
	return st;
}
