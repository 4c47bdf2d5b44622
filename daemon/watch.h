/* watch.h -- rebuild the cluster model when manifest files change (inotify on an event loop:
 * in the daemons the builder thread's, builder.h; the model library knows no event loop). */
#ifndef WATCH_H
#define WATCH_H

#include <stddef.h>

#include "cluster.h"

struct event_base;
struct watch;

/* Called on BASE's loop after each rebuild. FRESH is a new snapshot the callee now owns (one
 * reference), or NULL when the directory cannot be read: then the caller's last snapshot stays
 * in service. D holds the problems of the files read again (a file that turned invalid keeps its
 * last good objects in FRESH) and the conflicts between files. */
typedef void (*watch_cb)(struct cluster *fresh, const struct diag *d, void *arg);

/* Watch DIR (recursively) with inotify on BASE; changes are debounced by DEBOUNCE_MS before one
 * rebuild. Does not build or walk the tree at start: call watch_reload for the first snapshot
 * (on the thread that runs BASE). */
enum svc_status watch_create(struct event_base *base, const char *dir,
                             const struct cluster_config *cfg, unsigned debounce_ms, watch_cb cb,
                             void *arg, struct watch **out);
/* Read the PodStatus files of STATUS_DIR (the node probers', podprobe.h) into each snapshot
 * too, and rebuild when they change. The directory may come later: its parent is watched for
 * it. Before the first watch_reload. */
enum svc_status watch_set_status_dir(struct watch *w, const char *status_dir);
/* Rebuild now (SIGHUP, start-up), on the thread that runs BASE. The callback runs before this
 * returns. */
void watch_reload(struct watch *w);
/* Number of rebuilds so far, good or bad. */
uint64_t watch_generation(const struct watch *w);
void watch_destroy(struct watch *w);

#endif
