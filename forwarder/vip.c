/* vip.c -- a LoadBalancer address held by this node (vip.h): on an interface through rtnetlink,
 * with a lifetime, and announced on the link. */
#include "vip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtnl.h"

struct nl_addr_req {
	struct nlmsghdr nh;
	struct ifaddrmsg ifa;
	uint8_t attrs[128];
};

/* One address request and its acknowledgement: 0, or the kernel's errno. */
static int
addr_request(int type, int flags, unsigned ifindex, const struct netaddr *a, unsigned lifetime_s)
{
	struct nl_addr_req req;
	size_t alen = a->family == NETADDR_V6 ? 16 : 4;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	req.nh.nlmsg_type = (unsigned short)type;
	req.nh.nlmsg_flags = (unsigned short)flags;
	req.ifa.ifa_family = a->family == NETADDR_V6 ? AF_INET6 : AF_INET;
	req.ifa.ifa_prefixlen = (unsigned char)(alen * 8);
	req.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	req.ifa.ifa_index = ifindex;
	rtnl_attr(&req.nh, sizeof(req), IFA_LOCAL, a->bytes, alen);
	rtnl_attr(&req.nh, sizeof(req), IFA_ADDRESS, a->bytes, alen);
	if (type == RTM_NEWADDR) {
		/* A lifetime: should svcfwd die, the kernel takes the address back by itself. */
		struct ifa_cacheinfo ci = {.ifa_prefered = lifetime_s, .ifa_valid = lifetime_s};
		uint32_t f = IFA_F_NODAD; /* IPv6: usable at once, no duplicate detection delay */

		rtnl_attr(&req.nh, sizeof(req), IFA_CACHEINFO, &ci, sizeof(ci));
		rtnl_attr(&req.nh, sizeof(req), IFA_FLAGS, &f, sizeof(f));
	}
	return rtnl_request(&req.nh);
}

int
vip_add(unsigned ifindex, const struct netaddr *a, unsigned lifetime_s)
{
	return addr_request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, a, lifetime_s);
}

int
vip_del(unsigned ifindex, const struct netaddr *a)
{
	int err = addr_request(RTM_DELADDR, 0, ifindex, a, 0);

	return err == EADDRNOTAVAIL ? 0 : err;
}

static int
mac_of(unsigned ifindex, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return errno;
	memset(&ifr, 0, sizeof(ifr));
	if (if_indextoname(ifindex, ifr.ifr_name) == NULL || ioctl(fd, SIOCGIFHWADDR, &ifr) != 0)
		err = errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return err;
}

/* A gratuitous ARP request, broadcast: every neighbour updates its entry for A to our MAC. */
static int
announce_v4(unsigned ifindex, const struct netaddr *a, const uint8_t mac[6])
{
	struct {
		struct arphdr h;
		uint8_t sha[6], spa[4], tha[6], tpa[4];
	} __attribute__((packed)) arp;
	struct sockaddr_ll to = {.sll_family = AF_PACKET,
	                         .sll_protocol = htons(ETH_P_ARP),
	                         .sll_ifindex = (int)ifindex,
	                         .sll_halen = 6};
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP)), err = 0;

	if (fd < 0)
		return errno;
	memset(&arp, 0, sizeof(arp));
	arp.h.ar_hrd = htons(ARPHRD_ETHER);
	arp.h.ar_pro = htons(ETH_P_IP);
	arp.h.ar_hln = 6;
	arp.h.ar_pln = 4;
	arp.h.ar_op = htons(ARPOP_REQUEST);
	memcpy(arp.sha, mac, 6);
	memcpy(arp.spa, a->bytes, 4);
	memcpy(arp.tpa, a->bytes, 4);
	memset(to.sll_addr, 0xff, 6);
	if (sendto(fd, &arp, sizeof(arp), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		err = errno;
	close(fd);
	return err;
}

/* An unsolicited neighbour advertisement (override) to all nodes, hop limit 255 as RFC 4861
 * wants; the kernel fills in the checksum. */
static int
announce_v6(unsigned ifindex, const struct netaddr *a, const uint8_t mac[6])
{
	struct {
		struct nd_neighbor_advert na;
		uint8_t opt_type, opt_len, lladdr[6];
	} __attribute__((packed)) msg;
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_scope_id = ifindex};
	int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6), hops = 255, err = 0;

	if (fd < 0)
		return errno;
	memset(&msg, 0, sizeof(msg));
	msg.na.nd_na_type = ND_NEIGHBOR_ADVERT;
	msg.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
	memcpy(&msg.na.nd_na_target, a->bytes, 16);
	msg.opt_type = ND_OPT_TARGET_LINKADDR;
	msg.opt_len = 1;
	memcpy(msg.lladdr, mac, 6);
	inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) != 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) != 0 ||
	    sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		err = errno;
	close(fd);
	return err;
}

int
vip_announce(unsigned ifindex, const struct netaddr *a)
{
	uint8_t mac[6];
	int err = mac_of(ifindex, mac);

	if (err != 0)
		return err;
	return a->family == NETADDR_V6 ? announce_v6(ifindex, a, mac)
	                               : announce_v4(ifindex, a, mac);
}

unsigned
vip_default_ifindex(void)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], name[IF_NAMESIZE + 1];
	unsigned dest, flags, index = 0;

	if (f == NULL)
		return 0;
	/* Iface Destination Gateway Flags ...: the first default route (destination 0). */
	while (index == 0 && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%16s %x %*x %x", name, &dest, &flags) == 3 && dest == 0 &&
		    (flags & 1 /* RTF_UP */))
			index = if_nametoindex(name);
	fclose(f);
	return index;
}
