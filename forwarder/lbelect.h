/* lbelect.h -- which node holds each LoadBalancer address (the bare-metal load balancer, as
 * MetalLB's layer-2 mode): one node per address, elected through etcd. The holder's key
 * <prefix>/lbholders/<address> names it and is bound to its node's lease, so it goes when the
 * node does. Every node that may hold an address (any node for externalTrafficPolicy Cluster;
 * for Local, one with a ready endpoint of the service) watches those keys and, when an address
 * has no holder, tries to take it (a transaction that creates the key only if there is none).
 * The holder adds the address to its interface, with the lease's lifetime renewed at each
 * renewal (vip.h), announces it, and lets it go when it may no longer hold it. A clean stop
 * revokes the lease: the others take over at once. Runs on the node agent's loop. */
#ifndef LBELECT_H
#define LBELECT_H

#include <event2/event.h>
#include <stdint.h>

#include "cluster.h"
#include "etcdc.h"

struct lbelect_opts {
	struct event_base *base;
	struct etcdc *c;
	const char *prefix; /* without a trailing '/' */
	const char *node;
	unsigned ifindex; /* where held addresses go */
	unsigned lease_s;
};

struct lbelect;

enum svc_status lbelect_create(const struct lbelect_opts *o, struct lbelect **out);
/* A clean stop: every address off the interface at once, nothing taken after this (the keys go
 * with the lease, revoked next). */
void lbelect_stop(struct lbelect *le);
/* Off the loop (its calls ended without callbacks): every address off the interface. */
void lbelect_destroy(struct lbelect *le);
/* The node's lease now (0: none, the node is not registered): addresses are taken with it. */
void lbelect_lease(struct lbelect *le, int64_t lease_id);
/* The lease was renewed: held addresses' lifetimes too; free ones are tried again. */
void lbelect_tick(struct lbelect *le);
/* The LoadBalancer addresses now, and which this node may hold. */
void lbelect_update(struct lbelect *le, const struct cluster *c);
/* Prometheus lines: svcfwd_lb_address_held{address="...",holder="..."} 1 or 0 per address,
 * into BUF (SIZE bytes, NUL-terminated, cut at a line). */
void lbelect_metrics(const struct lbelect *le, char *buf, size_t size);
/* Held addresses now. */
size_t lbelect_held(const struct lbelect *le);

#endif
