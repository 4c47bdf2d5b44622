/* nodeagent.h -- this node in etcd, kept as a kubelet keeps it: a Node object (its addresses,
 * a Ready condition, the svcfwd version) at <prefix>/nodes/<name>, and its Lease at
 * <prefix>/leases/<name>, a key bound to an etcd lease renewed at a third of its time. When
 * svcfwd dies the lease lapses, etcd deletes the key, and every daemon takes the node's pods
 * out (cluster.nodes_down). A clean stop marks the node NotReady and revokes the lease at
 * once. And, as the kubelet, it runs the readiness probes of the node's pods (podprobe.h). It
 * runs on a thread of its own: the serving loop never waits for etcd or a probe. */
#ifndef NODEAGENT_H
#define NODEAGENT_H

#include <stdatomic.h>
#include <stdint.h>

#include "daemon.h"

#define NODEAGENT_LEASE_DEFAULT_S 10
#define NODEAGENT_STOP_MS         2000 /* a clean stop waits for etcd at most this long */

/* With etcd->urls NULL the agent runs the probes only, their results in
 * STATUS_DIR/<node>.yaml. */
struct nodeagent_opts {
	const struct daemon_etcd *etcd;
	const char *status_dir;
	const char *lb_interface; /* NULL: the default route's */
	const char *node;
	unsigned lease_s; /* 0: NODEAGENT_LEASE_DEFAULT_S */
	const char *version;
};

/* For /metrics, written by the agent's thread. */
struct nodeagent_status {
	_Atomic int registered; /* the lease is alive, as far as the last renewal knows */
	_Atomic uint64_t registrations, renewals, failures;
	/* The probes (podprobe_stats), copied every second. */
	_Atomic uint64_t probed_pods, probes, probed_ready, probe_attempts, probe_sockets,
	        status_writes, status_failures;
};

struct nodeagent;

/* Start the agent (STATUS may be NULL). SVC_EINVAL for etcd settings that cannot be used
 * (logged), SVC_ENOMEM, SVC_EIO when the thread cannot start. */
enum svc_status nodeagent_start(const struct nodeagent_opts *o, struct nodeagent_status *status,
                                struct nodeagent **out);
/* The cluster now, for the probes: from any thread (the builder's). The agent takes a
 * reference and reads it on its own loop; only the newest one given is read. */
void nodeagent_cluster(struct nodeagent *a, struct cluster *c);
/* Prometheus lines of the LoadBalancer addresses (lbelect_metrics), as of the last second; from
 * any thread. */
void nodeagent_lb_metrics(struct nodeagent *a, char *buf, size_t size);
/* Mark the node NotReady and revoke its lease (waiting at most NODEAGENT_STOP_MS), then stop. */
void nodeagent_stop(struct nodeagent *a);

#endif
