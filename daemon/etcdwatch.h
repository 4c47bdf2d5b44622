/* etcdwatch.h -- the cluster from etcd, the counterpart of watch.h's directory: read the
 * settings and list every object once (paginated, at one revision), then watch from the next
 * revision, feeding the same store (store.h) and handing each snapshot to the same callback.
 *
 * A broken stream is opened again on the other members, with backoff, from the last revision
 * seen; a revision etcd has compacted away means listing again (what is unchanged is not parsed
 * again). While no member answers, the last snapshot keeps serving and STATUS says so. */
#ifndef ETCDWATCH_H
#define ETCDWATCH_H

#include "daemon.h"
#include "etcdobj.h"
#include "watch.h"

struct event_base;
struct etcdwatch;

struct etcdwatch_opts {
	const struct daemon_etcd *etcd;
	/* The program's settings: the store's must agree (etcdobj_config_differs); a DOMAIN of
	 * "" takes any cluster domain. */
	struct etcdobj_config flags;
	unsigned debounce_ms;
	uint32_t page;               /* keys per list response (0: the default) */
	uint32_t group;              /* keys per store unit (0: ETCDGROUPS_KEYS_DEFAULT) */
	struct daemon_store *status; /* updated as it goes; may be NULL */
};

enum svc_status etcdwatch_create(struct event_base *base, const struct etcdwatch_opts *o,
                                 watch_cb cb, void *arg, struct etcdwatch **out);
/* Begin (the first list), or list again now (SIGHUP), on the thread that runs BASE. */
void etcdwatch_reload(struct etcdwatch *w);
void etcdwatch_destroy(struct etcdwatch *w);

#endif
