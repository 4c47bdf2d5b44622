/* store.h -- the object store: every object parsed once and kept, valid source unit by source
 * unit, and snapshots made of what it holds.
 *
 * The seam between where objects come from and what is made of them: a source puts the objects
 * of a unit (a chunk of a manifest file; a group of etcd keys) or deletes the unit, and nothing
 * after this interface knows which source it was. A unit that turns invalid keeps its last good
 * objects in service and counts as failing; a new unit that is invalid holds nothing. What two
 * units both claim (a name, a ClusterIP, a nodePort) goes to the older holder (cluster/claims.h).
 */
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
/* Source units of many keys (etcd's groups): the objects of OBJS of each kind K from FROM[K] on
 * validated on their own, as store_put would, and the positions of their claims kept in the
 * objects (SVC_EINVAL: invalid, reported to D). The
 * checked objects (or copies of them, cluster_objects_copy) are then put with
 * store_put_checked, which validates nothing again: checks between objects of one unit (a
 * ClusterIP twice) are left to the snapshot, as between units. */
enum svc_status store_check(const struct store *s, struct cluster_objects *objs,
                            const size_t from[CLUSTER_KIND_COUNT], struct diag *d);
enum svc_status store_put_checked(struct store *s, const char *name, struct cluster_objects *objs,
                                  struct diag *d);
/* M (of kind K), a new version of OLD held by another unit, holds its name and claims since
 * OLD did when its claims are OLD's (store_put does this for versions within one unit). */
void store_inherit(enum cluster_kind k, struct cluster_meta *m, const struct cluster_meta *old);
/* M is a new object, not a version of the one of its name the unit holds (that one was
 * deleted, and M created after): it holds its claims from now on. */
void store_stamp_new(const struct store *s, struct cluster_meta *m);
/* The objects unit NAME serves (its last valid version), or NULL: read only, valid until the
 * unit is next put or deleted. */
const struct cluster_objects *store_objects(const struct store *s, const char *name);

/* Unit NAME's text moved within its file, unchanged: DLINE lines and DBYTE bytes further down
 * (negative: up). Its objects' source positions follow. They are written in place: call this
 * only from the thread that makes the snapshots (the serving threads never read positions). */
void store_move(struct store *s, const char *name, long dline, long dbyte);
/* Unit NAME is gone, with its objects. */
void store_delete(struct store *s, const char *name);

/* A snapshot of what the store holds now: conflicts between units are reported to D as errors
 * and leave the newcomer out; the rest serves. NULL *OUT only when memory runs out. */
enum svc_status store_snapshot(struct store *s, struct diag *d, struct cluster **out);

/* Units whose last version was invalid (they serve their last good objects, if any). */
size_t store_failing(const struct store *s);
size_t store_units(const struct store *s);

#endif
