/* nat.c -- which destinations the fast path takes (fwd_nat.h), kept in line with the listeners
 * and pools: a ClusterIP or LoadBalancer address and port, or a node port (on the zero
 * address: any of the node's), with no source ranges, no session affinity, not left to a local
 * process. Each pool such a destination leads to gets an id in the
 * program's maps, and its endpoints there; the id goes when the last destination leaves it. */
#include <stdlib.h>
#include <string.h>

#include "svcfwd.h"

struct fwd_nat_pool {
	struct htab_node node; /* in the server's nat_pools, by pool */
	struct fwd_pool *pool; /* with a reference */
	uint32_t id;
	uint32_t count; /* endpoints in the maps */
	size_t refs;    /* destinations */
};

static uint32_t
pool_hash(const struct fwd_pool *p)
{
	return htab_hash_u64((uint64_t)(uintptr_t)p);
}

static struct fwd_nat_pool *
np_find(struct fwd_server *s, const struct fwd_pool *p)
{
	uint32_t h = pool_hash(p);

	for (struct htab_node *n = htab_find(&s->nat_pools, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_nat_pool *np = htab_item(n, struct fwd_nat_pool, node);

		if (np->pool == p)
			return np;
	}
	return NULL;
}

static bool
np_write(struct fwd_server *s, struct fwd_nat_pool *np)
{
	struct fwd_pool *p = np->pool;

	if (fwd_nat_pool_set(s->nat, np->id, p->members, p->n_members, np->count,
	                     (uint32_t)p->gen) != SVC_OK)
		return false;
	np->count = p->n_members;
	return true;
}

/* P's entry, with one more destination; NULL when the maps or memory are full. */
static struct fwd_nat_pool *
np_get(struct fwd_server *s, struct fwd_pool *p)
{
	struct fwd_nat_pool *np = np_find(s, p);

	if (np != NULL) {
		np->refs++;
		return np;
	}
	np = calloc(1, sizeof(*np));
	if (np == NULL)
		return NULL;
	np->pool = p;
	np->id = s->n_nat_free > 0 ? s->nat_free[--s->n_nat_free] : ++s->nat_last_id;
	if (!np_write(s, np) || htab_insert(&s->nat_pools, &np->node, pool_hash(p)) != SVC_OK) {
		fwd_nat_pool_del(s->nat, np->id, np->count);
		s->nat_free[s->n_nat_free++] = np->id; /* room: ids in use are fewer than cap */
		free(np);
		return NULL;
	}
	fwd_pool_ref(p);
	np->refs = 1;
	return np;
}

static void
np_put(struct fwd_server *s, struct fwd_nat_pool *np)
{
	if (--np->refs > 0)
		return;
	htab_remove(&s->nat_pools, &np->node);
	fwd_nat_pool_del(s->nat, np->id, np->count);
	s->nat_free[s->n_nat_free++] = np->id;
	fwd_pool_put(&s->pools, np->pool);
	free(np);
}

static bool
eligible(const struct fwd_server *s, const struct fwd_listener *l)
{
	bool kind = l->wildcard ? l->kind == FWD_NODE_PORT
	                        : l->kind == FWD_CLUSTER_IP || l->kind == FWD_LOAD_BALANCER;

	return s->nat != NULL && kind && !l->shared && !l->local && l->n_ranges == 0 &&
	       l->pool != NULL && l->pool->affinity_ms == 0;
}

/* Room for one more id on the free list: ids are handed out one at a time. */
static bool
reserve_id(struct fwd_server *s)
{
	uint32_t *v;
	size_t cap;

	if (s->nat_last_id + 1 <= s->cap_nat_free)
		return true;
	cap = s->cap_nat_free ? s->cap_nat_free * 2 : 256;
	v = realloc(s->nat_free, cap * sizeof(*v));
	if (v == NULL)
		return false;
	s->nat_free = v;
	s->cap_nat_free = cap;
	return true;
}

void
fwd_nat_listener(struct fwd_server *s, struct fwd_listener *l)
{
	struct fwd_nat_pool *np = NULL;

	if (s->nat == NULL)
		return;
	if (eligible(s, l)) {
		if (l->nat != NULL && l->nat->pool == l->pool)
			return;
		if (reserve_id(s))
			np = np_get(s, l->pool);
		if (np != NULL &&
		    fwd_nat_dest_set(s->nat, l->proto, &l->addr, l->port, np->id) != SVC_OK) {
			np_put(s, np);
			np = NULL;
		}
		if (np == NULL)
			s->nat_failed++;
	}
	if (np == NULL && l->nat != NULL)
		fwd_nat_dest_del(s->nat, l->proto, &l->addr, l->port);
	if (l->nat != NULL)
		np_put(s, l->nat);
	l->nat = np;
}

void
fwd_nat_listener_gone(struct fwd_server *s, struct fwd_listener *l)
{
	if (l->nat == NULL)
		return;
	fwd_nat_dest_del(s->nat, l->proto, &l->addr, l->port);
	np_put(s, l->nat);
	l->nat = NULL;
}

void
fwd_nat_pool_changed(struct fwd_server *s, struct fwd_pool *p)
{
	struct fwd_nat_pool *np;

	if (s->nat == NULL || (np = np_find(s, p)) == NULL)
		return;
	if (!np_write(s, np))
		s->nat_failed++;
}

size_t
fwd_nat_dests(const struct fwd_server *s)
{
	size_t n = 0;
	struct htab_iter it;

	for (struct htab_node *h = htab_first(&it, &s->nat_pools); h != NULL;
	     h = htab_iter_next(&it))
		n += htab_item(h, struct fwd_nat_pool, node)->refs;
	return n;
}

bool
fwd_nat_pool_id(const struct fwd_server *s, const struct fwd_pool *p, uint32_t *id)
{
	struct fwd_nat_pool *np = s->nat != NULL ? np_find((struct fwd_server *)s, p) : NULL;

	if (np != NULL)
		*id = np->id;
	return np != NULL;
}
