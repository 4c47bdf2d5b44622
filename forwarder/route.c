/* route.c -- make the service CIDRs local to this node: `local CIDR dev lo` in the local table,
 * through rtnetlink (no iptables, no per-VIP addresses). Every ClusterIP is then this node's own
 * address: svcfwd can bind it, and a port without a listener is refused by the kernel at once.
 * A route that was there already is left alone; one svcfwd added is removed when it stops. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtnl.h"
#include "svcfwd.h"

struct fwd_route {
	struct netaddr_prefix added[2];
	size_t n_added;
};

struct nl_req {
	struct nlmsghdr nh;
	struct rtmsg rt;
	uint8_t attrs[64];
};

/* Send one route request and read its acknowledgement: 0, or the kernel's errno. */
static int
route_request(int type, int flags, const struct netaddr_prefix *p)
{
	struct nl_req req;
	uint32_t ifindex = if_nametoindex("lo");
	uint32_t table = RT_TABLE_LOCAL;

	if (ifindex == 0)
		return ENODEV;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.nh.nlmsg_type = (unsigned short)type;
	req.nh.nlmsg_flags = (unsigned short)flags;
	req.rt.rtm_family = p->addr.family == NETADDR_V6 ? AF_INET6 : AF_INET;
	req.rt.rtm_dst_len = p->len;
	req.rt.rtm_table = RT_TABLE_LOCAL;
	req.rt.rtm_protocol = RTPROT_STATIC;
	req.rt.rtm_scope = RT_SCOPE_HOST;
	req.rt.rtm_type = RTN_LOCAL;
	rtnl_attr(&req.nh, sizeof(req), RTA_DST, p->addr.bytes,
	          p->addr.family == NETADDR_V6 ? 16 : 4);
	rtnl_attr(&req.nh, sizeof(req), RTA_OIF, &ifindex, sizeof(ifindex));
	rtnl_attr(&req.nh, sizeof(req), RTA_TABLE, &table, sizeof(table));
	return rtnl_request(&req.nh);
}

enum svc_status
fwd_route_add(const struct netaddr_prefix *cidrs, size_t n, struct fwd_route **out)
{
	struct fwd_route *r = calloc(1, sizeof(*r));
	enum svc_status st = SVC_OK;

	*out = r;
	if (r == NULL)
		return SVC_ENOMEM;
	for (size_t i = 0; i < n && i < 2; i++) {
		char text[NETADDR_STRLEN + 4];
		int err = route_request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &cidrs[i]);

		netaddr_prefix_str(&cidrs[i], text);
		if (err == 0) {
			r->added[r->n_added++] = cidrs[i];
			log_msg(LL_INFO, "route: local %s dev lo added", text);
		} else if (err == EEXIST) {
			log_msg(LL_INFO, "route: local %s dev lo already present", text);
		} else {
			log_msg(LL_ERROR,
			        "route: cannot add local %s dev lo: %s (needs CAP_NET_ADMIN; "
			        "--no-route leaves routing to you)",
			        text, strerror(err));
			errno = err;
			st = SVC_EIO;
		}
	}
	return st;
}

void
fwd_route_remove(struct fwd_route *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_added; i++) {
		char text[NETADDR_STRLEN + 4];
		int err = route_request(RTM_DELROUTE, 0, &r->added[i]);

		netaddr_prefix_str(&r->added[i], text);
		if (err == 0)
			log_msg(LL_INFO, "route: local %s dev lo removed", text);
		else
			log_msg(LL_WARN, "route: cannot remove local %s dev lo: %s", text,
			        strerror(err));
	}
	free(r);
}
