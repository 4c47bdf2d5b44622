/* fwd_inc.h -- svcfwd's plan kept up to date snapshot by snapshot, at a cost that follows the
 * change, not the cluster.
 *
 * The plan is kept per namespace (a part: fwd_plan_services of its services, refcounted); a new
 * snapshot replans only the namespaces cluster_diff_shards names. What is cluster-wide is kept
 * as claims: each destination (protocol, address or wildcard, port) with the listeners of every
 * part that claim it, the first in service order winning, as fwd_plan_build decides conflicts;
 * each health-check port with its services, the last winning, as the main loop's health servers
 * take them. Each update yields a delta: what the main loop must change (pools, destinations,
 * health servers) to go from the last snapshot's plan to the new one's.
 *
 * A delta holds absolute values per key (this pool has these targets; this destination goes to
 * that pool, or nowhere), so deltas compose: a newer one overrides an older one key by key, and
 * a composite of the deltas after state A applies correctly to any state the main loop reached
 * between A and the newest. */
#ifndef FWD_INC_H
#define FWD_INC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd_plan.h"

struct fwd_inc;
struct fwd_inc_part;

/* A destination that changed: L is what serves it now (its pool: POOL_KEY), NULL when it is no
 * longer served. */
struct fwd_delta_dest {
	enum cluster_proto proto;
	struct netaddr addr; /* for a wildcard: the family, all-zero bytes */
	bool wildcard;
	uint16_t port;
	const struct fwd_plan_listener *l;
	const char *pool_key;
};

/* A health-check port that changed: H serves it now, NULL: it closes. */
struct fwd_delta_health {
	uint16_t port;
	const struct fwd_plan_health *h;
};

/* What the main loop changes for one plan (or, composed, several). Immutable once made, but for
 * TAKEN; the memory it points at is in the parts it references. */
struct fwd_delta {
	int refs; /* atomic */
	uint64_t seq;
	/* Everything, not changes: what is not in it goes (the first plan, or the main loop lost
	 * track after a failure). */
	bool full;
	atomic_bool taken; /* the main loop took it: too late to compose into */
	struct fwd_inc_part **parts;
	size_t n_parts, cap_parts;
	const struct fwd_plan_pool **pools; /* made or changed */
	size_t n_pools, cap_pools;
	const char **gone; /* pool keys no longer in the plan */
	size_t n_gone, cap_gone;
	struct fwd_delta_dest *dests;
	size_t n_dests, cap_dests;
	struct fwd_delta_health *health;
	size_t n_health, cap_health;
	/* Totals of the plan it leads to. */
	size_t n_idle, n_plan_pools, n_listeners, n_endpoints;
};

/* State for node NODE (kept, not copied). */
enum svc_status fwd_inc_new(const char *node, struct fwd_inc **out);
void fwd_inc_free(struct fwd_inc *inc);
/* Follow snapshot C (the previous one: the last given; none at first). *OUT: the delta from the
 * previous plan, or with FULL (and the first time) the whole plan. Conflicts among the
 * destinations the change reaches are reported to D as warnings. On failure INC is as before
 * only for the namespaces not reached yet: the caller asks for FULL next time. */
enum svc_status fwd_inc_update(struct fwd_inc *inc, struct cluster *c, bool full, struct diag *d,
                               struct fwd_delta **out);
/* The plan fwd_plan_build would make of the last snapshot (listeners in its order: by
 * protocol, port, wildcard, address), for tests and --check. Refers to INC's parts: valid
 * until the next update. */
enum svc_status fwd_inc_plan(const struct fwd_inc *inc, struct fwd_plan *out);

/* OLDER's changes with NEWER's over them, key by key: one delta from OLDER's start to NEWER's
 * end. NULL when out of memory. */
struct fwd_delta *fwd_delta_compose(struct fwd_delta *older, struct fwd_delta *newer);
struct fwd_delta *fwd_delta_ref(struct fwd_delta *d);
void fwd_delta_unref(struct fwd_delta *d);

#endif
