/* vip.h -- a LoadBalancer address this node holds, as MetalLB's layer-2 mode and keepalived
 * hold theirs: added to an interface (rtnetlink, CAP_NET_ADMIN) with a lifetime that its
 * holder refreshes, so that a holder that dies loses it by itself; and announced to the link
 * (a gratuitous ARP, an unsolicited neighbour advertisement for IPv6; CAP_NET_RAW), so that
 * neighbours send its traffic here at once. Each call is one system call or two: they run on
 * the node agent's thread. Every function returns 0 or an errno. */
#ifndef VIP_H
#define VIP_H

#include "netaddr.h"

/* A /32 (/128) on IFINDEX, valid LIFETIME_S seconds from now (added, or its lifetime
 * renewed). */
int vip_add(unsigned ifindex, const struct netaddr *a, unsigned lifetime_s);
/* Gone from IFINDEX (0 when it was not there). */
int vip_del(unsigned ifindex, const struct netaddr *a);
/* Tell the link that A is at IFINDEX's hardware address. */
int vip_announce(unsigned ifindex, const struct netaddr *a);
/* The interface of the first IPv4 default route, or 0. */
unsigned vip_default_ifindex(void);

#endif
