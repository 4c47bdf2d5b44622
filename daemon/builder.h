/* builder.h -- the builder thread: everything that grows with the cluster (watching the
 * manifests, walking the tree, loading, building a daemon's view of a snapshot) runs here, off
 * the loops that serve, so serving never waits for a build.
 *
 * The thread has its own event loop, which owns the watcher (watch.h: inotify, debounce, the
 * walk and the load). It builds the first snapshot as soon as it starts, then one after each
 * burst of changes or request (SIGHUP): requests and changes that arrive while a build runs
 * make one next build. The watcher's callback runs on this thread; a daemon publishes what it
 * built either itself (a pointer swap, as svcdns's zone) or through a hand-off to a serving loop
 * (below). */
#ifndef BUILDER_H
#define BUILDER_H

#include "watch.h"

struct event_base;
struct builder;

/* The builder for manifests DIR with CFG; CB gets each snapshot on the builder thread (see
 * watch_cb). Nothing is built before builder_start. Fails (errno kept) when DIR cannot be
 * watched. */
enum svc_status builder_create(const char *dir, const struct cluster_config *cfg,
                               unsigned debounce_ms, watch_cb cb, void *arg, struct builder **out);
/* A directory builder reads the probers' PodStatus files of STATUS_DIR too
 * (watch_set_status_dir). Before builder_start. */
enum svc_status builder_set_status_dir(struct builder *b, const char *status_dir);
/* The builder of the cluster in etcd (etcdwatch.h). */
struct etcdwatch_opts;
enum svc_status builder_create_etcd(const struct etcdwatch_opts *o, watch_cb cb, void *arg,
                                    struct builder **out);
/* Start the thread; the first build begins at once. */
enum svc_status builder_start(struct builder *b);
/* Ask for a rebuild (SIGHUP). Any thread; returns at once. */
void builder_reload(struct builder *b);
/* Stop the thread (a build under way is finished first: the model library cannot be
 * interrupted) and free B, and any hand-off items not yet freed. NULL is fine. */
void builder_destroy(struct builder *b);

/* A hand-off from the builder thread to a serving loop: one slot, so it is bounded, and the
 * newest item replaces one the loop has not taken yet (bursts coalesce). The loop takes an item
 * in TAKE; when TAKE returns the item goes back to the builder thread, where FREE_ITEM frees it:
 * freeing a model is work that grows with the cluster too. An item begins with a struct
 * builder_item. */
struct builder_item {
	struct builder_item *next; /* the hand-off's own */
};
typedef void (*builder_take_fn)(struct builder_item *item, void *arg);
typedef void (*builder_free_fn)(struct builder_item *item);
struct builder_handoff;

/* The hand-off of B to LOOP (before builder_start; at most one per builder). Its items are
 * freed with B. */
enum svc_status builder_handoff_new(struct builder *b, struct event_base *loop,
                                    builder_take_fn take, builder_free_fn free_item, void *arg,
                                    struct builder_handoff **out);
/* On the builder thread: ITEM goes to the loop. */
void builder_handoff_post(struct builder_handoff *h, struct builder_item *item);

#endif
