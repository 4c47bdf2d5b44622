/* cluster_watch.h -- rebuild the cluster model when manifest files change. */
#ifndef CLUSTER_WATCH_H
#define CLUSTER_WATCH_H

#include "cluster.h"

struct event_base;
struct cluster_watch;

/* Called on the event loop after each rebuild. FRESH is a new snapshot the callee now owns (one
 * reference), or NULL when the manifests are invalid: then D holds the errors and the caller's
 * last good snapshot stays in service. D also carries warnings for a good build. */
typedef void (*cluster_watch_cb)(struct cluster *fresh, const struct diag *d, void *arg);

/* Watch DIR (recursively) with inotify on BASE; changes are debounced by DEBOUNCE_MS before one
 * rebuild. Does not build at start: call cluster_watch_reload for the first snapshot. */
enum svc_status cluster_watch_create(struct event_base *base, const char *dir,
                                     const struct cluster_config *cfg, unsigned debounce_ms,
                                     cluster_watch_cb cb, void *arg, struct cluster_watch **out);
/* Rebuild now (SIGHUP, start-up). The callback runs before this returns. */
void cluster_watch_reload(struct cluster_watch *w);
/* Number of rebuilds so far, good or bad. */
uint64_t cluster_watch_generation(const struct cluster_watch *w);
void cluster_watch_destroy(struct cluster_watch *w);

#endif
