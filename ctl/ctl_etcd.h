/* ctl_etcd.h -- svcctl over etcd: the cluster read at one revision (all of it, or the keys of
 * one namespace), the settings at <prefix>/config, and writes as transactions that compare each
 * object's revision and claim its addresses and ports in the same step (etcdobj.h). */
#ifndef CTL_ETCD_H
#define CTL_ETCD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl.h"
#include "etcdobj.h"

struct ctl_etcd;

/* Connect to CTL's --etcd members (nothing is sent yet). -1 on error (printed). */
int ctl_etcd_open(const struct ctl *ctl, struct ctl_etcd **out);
void ctl_etcd_close(struct ctl_etcd *e);

/* The settings: etcd's where it has them (a flag that disagrees is an error), else CTL's flags,
 * which WRITE puts there for every later program. They end up in CTL->cfg. -1 on error
 * (printed). */
int ctl_etcd_config(struct ctl_etcd *e, struct ctl *ctl, bool write);

/* Read the objects of KIND (-1: every kind) in NS (NULL: every namespace) at one revision.
 * RAW (may be NULL) gets them as loaded, for a write to build on (a key whose value is invalid
 * is reported and left out); *SNAP (may be NULL) what serves, as the daemons see it. Problems
 * are printed; *ERRORS counts the errors. -1 when etcd cannot be read (printed). */
int ctl_etcd_load(struct ctl_etcd *e, const struct ctl *ctl, int kind, const char *ns,
                  struct cluster_objects *raw, struct cluster **snap, size_t *errors);

/* ---- transactions ---- */

/* One object's write: compare its key's revision (0: absent), put or delete it, take its new
 * claims (each must be absent), let go of the claims it no longer holds. */
struct ctl_etcd_write {
	enum cluster_kind kind;
	const char *ns, *name;
	int64_t expect_rev;
	char *value; /* NULL: delete */
	size_t len;
	char (*claims)[ETCDOBJ_KEY_MAX]; /* keys to take */
	size_t n_claims;
	char (*release)[ETCDOBJ_KEY_MAX]; /* keys to let go */
	size_t n_release;
	/* The outcome: */
	enum {
		CTL_ETCD_DONE,
		CTL_ETCD_CHANGED, /* the object's revision was not EXPECT_REV */
		CTL_ETCD_CLAIMED, /* another object took a claim first */
		CTL_ETCD_FAILED,  /* etcd could not be reached (printed) */
	} result;
	int64_t found_rev; /* CHANGED: the revision etcd has (0: absent) */
};

/* Carry out N writes, several to a transaction while they all succeed (one by one after a
 * transaction that did not, so each gets its own result). -1 when etcd cannot be reached. */
int ctl_etcd_commit(struct ctl_etcd *e, struct ctl_etcd_write *w, size_t n);

/* The key of an object (etcdobj_key with CTL's prefix). */
const char *ctl_etcd_prefix(const struct ctl_etcd *e);
/* The node holding LoadBalancer address IP (lbelect.h) into OUT (SIZE bytes; "" when none).
 * -1 when etcd cannot be read (printed). */
int ctl_etcd_lb_holder(struct ctl_etcd *e, const char *ip, char *out, size_t size);

#endif
