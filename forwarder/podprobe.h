/* podprobe.h -- the readiness probes of this node's pods, and what they find written where
 * every node reads it: a PodStatus per probed pod (its Ready condition, with
 * lastTransitionTime) at <prefix>/podstatus/<namespace>/<name> in etcd, apart from the pod, so
 * a probe never changes the pod's revision nor conflicts with a user's apply. Without etcd, the
 * node's PodStatuses are one file (<status dir>/<node>.yaml), written whole to a temporary name
 * and renamed over the last, which every program on the machine reads.
 *
 * A pod is probed when it is on this node, has an address and is not finished, and one of its
 * containers has a tcpSocket or plain-HTTP httpGet readinessProbe. It is ready when each such
 * probe is (fwd_probe.h: the kubelet's thresholds). A pod without one keeps the readiness its
 * manifest gives, and a PodStatus this node wrote for a pod no longer probed here is deleted.
 * After a restart, a PodStatus this node wrote before holds until the probes have had their
 * first chance (initial delay, one period, one timeout), so a restart does not take pods out.
 * Writes are batched (a transaction per PODPROBE_TXN_OPS changes) and retried until they land.
 * Runs on the node agent's loop. */
#ifndef PODPROBE_H
#define PODPROBE_H

#include <event2/event.h>
#include <stdint.h>

#include "cluster.h"
#include "etcdc.h"

#define PODPROBE_FLUSH_MS 50 /* changes gathered before a write */
#define PODPROBE_TXN_OPS  64

struct podprobe_opts {
	struct event_base *base;
	struct etcdc *c;    /* NULL: STATUS_FILE instead */
	const char *prefix; /* without a trailing '/' */
	const char *status_file;
	const char *node;
	size_t max_in_flight; /* probe attempts at once; 0: FWD_PROBE_MAX_IN_FLIGHT */
};

struct podprobe_stats {
	uint64_t pods;      /* probed now */
	uint64_t probes;    /* probes now */
	uint64_t ready;     /* pods ready now */
	uint64_t writes;    /* PodStatus puts and deletes that landed (files written) */
	uint64_t failures;  /* transactions (files) that failed, and were tried again */
	uint64_t attempts;  /* probe attempts started */
	uint64_t in_flight; /* probe attempts running */
	uint64_t sockets;   /* sockets the prober holds: in flight, or idle for the next attempts */
};

struct podprobe;

enum svc_status podprobe_create(const struct podprobe_opts *o, struct podprobe **out);
void podprobe_destroy(struct podprobe *pp);
/* The cluster now (C stays referenced by the caller during the call): probes of pods that came
 * or changed start, those of pods gone stop. */
void podprobe_update(struct podprobe *pp, const struct cluster *c);
void podprobe_stats(const struct podprobe *pp, struct podprobe_stats *out);

#endif
