/* store.h -- the object store: every object parsed once and kept, valid source unit by source
 * unit, and snapshots made of what it holds.
 *
 * The seam between where objects come from and what is made of them: a source puts the objects
 * of a unit (a manifest file; an etcd key later) or deletes the unit, and nothing after this
 * interface knows which source it was. A unit that turns invalid keeps its last good objects in
 * service and counts as failing; a new unit that is invalid holds nothing. What two units both
 * claim (a name, a ClusterIP, a nodePort) goes to the older holder (cluster/claims.h). */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "diag.h"
#include "svc_status.h"

struct store;

enum svc_status store_create(const struct cluster_config *cfg, struct store **out);
void store_destroy(struct store *s);

/* Replace what unit NAME holds with OBJS, which the store takes (OBJS is left empty). OBJS is
 * validated here, problems reported to D; LOAD_FAILED says loading it already reported errors.
 * SVC_EINVAL: the unit is failing and keeps what it had. */
enum svc_status store_put(struct store *s, const char *name, struct cluster_objects *objs,
                          struct diag *d, bool load_failed);
/* Unit NAME's text moved within its file, unchanged: DLINE lines and DBYTE bytes further down
 * (negative: up). Its objects' source positions follow. They are written in place: call this
 * only from the thread that makes the snapshots (the serving threads never read positions). */
void store_move(struct store *s, const char *name, long dline, long dbyte);
/* Unit NAME is gone, with its objects. */
void store_delete(struct store *s, const char *name);

/* Every unit, for a source that deletes the ones it no longer has: FN gets each name. */
void store_each_unit(const struct store *s, void (*fn)(void *arg, const char *name), void *arg);

/* A number a source keeps with unit NAME (etcd: the key's mod_revision, to skip what it already
 * holds when it lists again); 0 for a unit the store does not hold. Setting it on a unit the
 * store does not hold does nothing. */
uint64_t store_tag(const struct store *s, const char *name);
void store_set_tag(struct store *s, const char *name, uint64_t tag);

/* A snapshot of what the store holds now: conflicts between units are reported to D as errors
 * and leave the newcomer out; the rest serves. NULL *OUT only when memory runs out. */
enum svc_status store_snapshot(struct store *s, struct diag *d, struct cluster **out);

/* Units whose last version was invalid (they serve their last good objects, if any). */
size_t store_failing(const struct store *s);
size_t store_units(const struct store *s);

#endif
