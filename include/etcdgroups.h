/* etcdgroups.h -- etcd's keys as store units of many keys each.
 *
 * One store unit per key costs some 600 bytes of bookkeeping (the unit, its objects' arrays,
 * an arena block, strings no other key shares): more than the object itself. So the keys of
 * one resource and namespace are grouped, in key order, into units of up to GROUP keys (a
 * group that grows past twice that splits). Each key still stands alone: its value is decoded
 * and checked on its own, an invalid one is reported and counted as failing (a unit of its own
 * that holds nothing), and the key's last good version, if any, keeps serving in its group. A
 * group is put again (its unchanged objects copied, not parsed again) once per flush, however
 * many of its keys changed. */
#ifndef ETCDGROUPS_H
#define ETCDGROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "store.h"
#include "svc_status.h"

#define ETCDGROUPS_KEYS_DEFAULT 64

struct etcdgroups;

/* Groups of up to KEYS keys (0: the default) of the objects under PREFIX, in store S (which
 * must outlive them). */
enum svc_status etcdgroups_create(struct store *s, const char *prefix, size_t keys,
                                  struct etcdgroups **out);
void etcdgroups_destroy(struct etcdgroups *g);

/* KEY (an object's key under the prefix) holds VALUE (LEN bytes) from revision REV on: decoded
 * and checked now, problems to D (SVC_EINVAL), put into its group by the next flush. MARK: met
 * by the list under way (etcdgroups_sweep). SVC_ENOMEM: nothing is known of this version. */
enum svc_status etcdgroups_put(struct etcdgroups *g, const char *key, const uint8_t *value,
                               size_t len, uint64_t rev, bool mark, struct diag *d);
/* KEY is gone: at the next flush. */
enum svc_status etcdgroups_delete(struct etcdgroups *g, const char *key);
/* The revision of the version of KEY last put (0: none, or one still to be flushed); with
 * MARK, KEY is marked as met by the list under way. */
uint64_t etcdgroups_rev(struct etcdgroups *g, const char *key, bool mark);
/* A list begins: no key is marked (a list that failed half way may have marked some). */
void etcdgroups_unmark(struct etcdgroups *g);
/* The keys the list under way did not mark are deleted (at the next flush); marks cleared. */
enum svc_status etcdgroups_sweep(struct etcdgroups *g);
/* Put every group with changes into the store. SVC_ENOMEM: some are not (list again). */
enum svc_status etcdgroups_flush(struct etcdgroups *g, struct diag *d);

#endif
