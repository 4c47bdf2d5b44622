/* server.c -- the daemon's shared state: the zone swap, the worker-to-main queue, the ACL. */
#include "server.h"

#include <event2/event.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

enum svc_status
dnsd_server_init(struct dnsd_server *s)
{
	pthread_mutex_init(&s->zone_lock, NULL);
	pthread_mutex_init(&s->q_lock, NULL);
	s->q_head = NULL;
	s->q_tail = &s->q_head;
	s->q_len = 0;
	s->zopts.domain = s->opts.domain;
	s->zopts.ttl = s->opts.ttl;
	/* Until the first model: cluster names SERVFAIL, other names are forwarded. */
	return dnsz_build(NULL, &s->zopts, &s->zone);
}

void
dnsd_server_deinit(struct dnsd_server *s)
{
	dnsz_unref(s->zone);
	s->zone = NULL;
	dnsx_journal_unref(s->journal);
	s->journal = NULL;
	dnsz_builder_destroy(s->zbuilder);
	s->zbuilder = NULL;
	pthread_mutex_destroy(&s->zone_lock);
	pthread_mutex_destroy(&s->q_lock);
}

struct dnsz *
dnsd_server_zone(struct dnsd_server *s)
{
	struct dnsz *z;

	pthread_mutex_lock(&s->zone_lock);
	z = dnsz_ref(s->zone);
	pthread_mutex_unlock(&s->zone_lock);
	return z;
}

struct dnsx_journal *
dnsd_server_journal(struct dnsd_server *s)
{
	struct dnsx_journal *j;

	pthread_mutex_lock(&s->zone_lock);
	j = dnsx_journal_ref(s->journal);
	pthread_mutex_unlock(&s->zone_lock);
	return j;
}

/* With transfers on: the change from the zone served to Z, after the journal's. */
static struct dnsx_journal *
journal_next(struct dnsd_server *s, const struct dnsz *old, const struct dnsz *z)
{
	struct dnsx_diff *d = NULL;
	struct dnsx_journal *j = NULL;

	if (s->opts.n_xfr_acl == 0 || old == NULL || !old->loaded || old->serial == z->serial)
		return NULL;
	if (dnsx_diff_make(old, z, &d) != SVC_OK || dnsx_journal_add(s->journal, d, &j) != SVC_OK)
		return NULL; /* IXFR falls back to the whole zone */
	return j;
}

void
dnsd_server_set_zone(struct dnsd_server *s, struct dnsz *z)
{
	const struct timespec pause = {0, 100000};
	struct dnsz *old;
	struct dnsx_journal *j, *old_j;
	int waited;

	/* Only this thread swaps zones: S->zone is read here without the lock. */
	j = journal_next(s, s->zone, z);
	pthread_mutex_lock(&s->zone_lock);
	old = s->zone;
	s->zone = z;
	old_j = s->journal;
	s->journal = j;
	pthread_mutex_unlock(&s->zone_lock);
	dnsx_journal_unref(old_j);
	if (s->zone_ev != NULL)
		event_active(s->zone_ev, EV_READ, 0);
	/* No reader can take OLD any more, and each holds it for one batch of queries: wait
	 * until they let go, so freeing it, which takes time in proportion to the model, happens
	 * on this thread (and the memory is given back after). A reader starved of the processor
	 * (by a big change applied on the same one) may take a while: 10 s at most, as a bound. */
	for (waited = 0; old != NULL && waited < 100000; waited++) {
		/* A zone transfer may hold it for long: it frees what is left when it ends. */
		if (atomic_load_explicit((_Atomic int *)&old->refs, memory_order_acquire) ==
		    1 + atomic_load_explicit((_Atomic int *)&old->holders, memory_order_acquire))
			break;
		nanosleep(&pause, NULL);
	}
	dnsz_unref(old);
}

bool
dnsd_server_enqueue(struct dnsd_server *s, struct dnsd_req *r)
{
	bool was_empty;

	r->next = NULL;
	pthread_mutex_lock(&s->q_lock);
	if (s->q_len >= s->opts.queue_max) {
		pthread_mutex_unlock(&s->q_lock);
		return false;
	}
	was_empty = s->q_head == NULL;
	*s->q_tail = r;
	s->q_tail = &r->next;
	s->q_len++;
	pthread_mutex_unlock(&s->q_lock);
	/* One wake-up per batch: the main loop takes the whole queue. */
	if (was_empty)
		event_active(s->q_ev, EV_READ, 0);
	return true;
}

struct dnsd_req *
dnsd_server_dequeue(struct dnsd_server *s)
{
	struct dnsd_req *list;

	pthread_mutex_lock(&s->q_lock);
	list = s->q_head;
	s->q_head = NULL;
	s->q_tail = &s->q_head;
	s->q_len = 0;
	pthread_mutex_unlock(&s->q_lock);
	return list;
}

bool
dnsd_server_may_recurse(const struct dnsd_server *s, const struct dnsz *z,
                        const struct netaddr *client)
{
	for (size_t i = 0; i < s->opts.n_acl; i++) {
		if (netaddr_in_prefix(client, &s->opts.acl[i]))
			return true;
	}
	return s->opts.acl_pods && dnsz_pod_ns(z, client) != NULL;
}
