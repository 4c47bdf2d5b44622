/* rtnl.h -- one rtnetlink request and its acknowledgement: what adding a route (route.c) and
 * an address (vip.c) share. */
#ifndef RTNL_H
#define RTNL_H

#include <linux/netlink.h>
#include <stddef.h>

/* Append attribute TYPE (LEN bytes of DATA) to the message at NH, whose buffer holds CAP bytes.
 * False when it does not fit (the message is left as it was). */
_Bool rtnl_attr(struct nlmsghdr *nh, size_t cap, unsigned short type, const void *data, size_t len);
/* Send the message at NH (NLM_F_ACK is set here) and read its acknowledgement: 0, or the
 * kernel's errno. */
int rtnl_request(struct nlmsghdr *nh);

#endif
