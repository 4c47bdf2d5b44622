/* fwd_plan.h -- what one node's forwarder must do for a cluster snapshot: the sockets to listen
 * on and, for each, the endpoints that may take its traffic. Pure: no I/O, so tests feed it
 * manifests and read the plan. */
#ifndef FWD_PLAN_H
#define FWD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "cluster.h"
#include "diag.h"

/* Which traffic policy a listener's traffic falls under (Kubernetes: internalTrafficPolicy for
 * ClusterIPs, externalTrafficPolicy for node ports, load-balancer IPs and externalIPs). */
enum fwd_scope {
	FWD_INTERNAL,
	FWD_EXTERNAL,
};

enum fwd_listener_kind {
	FWD_CLUSTER_IP,
	FWD_NODE_PORT,
	FWD_LOAD_BALANCER,
	FWD_EXTERNAL_IP,
};

/* One endpoint a pool may send to. */
struct fwd_target {
	struct netaddr ip;
	uint16_t port;
	bool local;       /* on this node */
	bool terminating; /* chosen only because no endpoint is ready */
};

/* The endpoints for one service port, seen from one scope and address family. */
struct fwd_plan_pool {
	const char *key; /* stable across snapshots: "ns/name:port/PROTO/scope/family" */
	const char *ns, *name, *port_name; /* port_name: the port's name, or its number */
	enum cluster_proto proto;
	enum fwd_scope scope;
	uint8_t family;              /* the listeners' family; targets prefer it */
	uint32_t affinity_timeout_s; /* 0: no session affinity */
	struct fwd_target *targets;  /* in address order */
	size_t n_targets;
	/* Why there are no targets: no endpoint at all, or none on this node under a Local policy.
	 */
	bool no_local;
};

struct fwd_plan_listener {
	enum cluster_proto proto;
	enum fwd_listener_kind kind;
	struct netaddr addr; /* for a wildcard: the family, all-zero bytes */
	bool wildcard;
	uint16_t port;
	size_t pool; /* index into pools */
	/* Load-balancer IPs: only these client ranges (none means any). */
	const struct netaddr_prefix *source_ranges;
	size_t n_source_ranges;
};

/* A LoadBalancer service with externalTrafficPolicy Local: its healthCheckNodePort tells the
 * load balancer whether this node has endpoints of it (HTTP 200) or not (503). */
struct fwd_plan_health {
	uint16_t port;
	const char *ns, *name;
	size_t n_local; /* ready endpoints on this node */
};

struct fwd_plan {
	struct arena arena;
	struct fwd_plan_pool *pools;
	size_t n_pools;
	/* Only listeners whose pool has targets: a port with nowhere to send is left unbound, so
	 * the kernel refuses its connections at once. */
	struct fwd_plan_listener *listeners;
	size_t n_listeners;
	size_t n_idle; /* listeners left out for want of targets */
	struct fwd_plan_health *health;
	size_t n_health;
};

/* Plan for node NODE (its name, as in pods' spec.nodeName) from snapshot C. Conflicts (two
 * services claiming one address and port) keep the first in service order and are reported to D
 * as warnings. The plan refers to C: keep C alive as long as the plan. */
enum svc_status fwd_plan_build(const struct cluster *c, const char *node, struct diag *d,
                               struct fwd_plan *out);
/* The plan of SVCS alone (one namespace's services, for fwd_inc.h): every pool, listener and
 * health-check server in service order, conflicts and listeners without targets kept (n_idle
 * 0). Names and source ranges are copied: the plan does not refer to the snapshot. */
enum svc_status fwd_plan_services(struct cluster_service *const *svcs, size_t n, const char *node,
                                  struct fwd_plan *out);
void fwd_plan_deinit(struct fwd_plan *p);

const char *fwd_scope_str(enum fwd_scope s);
const char *fwd_listener_kind_str(enum fwd_listener_kind k);

#endif
