/* fwd_inc.c -- svcfwd's plan per namespace, cluster-wide claims, and deltas for the main loop
 * (fwd_inc.h). */
#include <stdlib.h>
#include <string.h>

#include "fwd_inc.h"
#include "htab.h"
#include "vec.h"

/* One namespace's plan (fwd_plan_services). Immutable once made; INC's table holds a reference
 * while it is current, and each delta that points into it one. */
struct fwd_inc_part {
	int refs;              /* atomic */
	struct htab_node node; /* in INC's parts, by namespace: INC's thread only */
	char *ns;
	struct fwd_plan plan;
	size_t n_endpoints; /* targets over its pools */
	size_t base;        /* fwd_inc_plan: the index of its first pool */
};

/* A listener of a part, or (PART NULL) none. */
struct claim {
	struct fwd_inc_part *part;
	size_t idx;
};

/* A destination and every listener that claims it. POSTED is what the main loop was told
 * serves it (a reference to its part), or nothing. */
struct dest {
	struct htab_node node;
	enum cluster_proto proto;
	struct netaddr addr;
	bool wildcard;
	uint16_t port;
	bool touched;         /* in the update's list of destinations to settle */
	bool idle;            /* its winner has no targets: left out, counted in n_idle */
	struct claim *claims; /* ONE while it has room: most destinations have one claim */
	size_t n_claims, cap_claims;
	struct claim one;
	struct claim posted;
};

/* A health-check port and the services that name it; the last in service order serves. */
struct hport {
	struct htab_node node;
	uint16_t port;
	bool touched;
	struct claim *claims; /* ONE while it has room: most destinations have one claim */
	size_t n_claims, cap_claims;
	struct claim one;
	struct claim posted;
};

struct fwd_inc {
	const char *node;
	struct cluster *last; /* the snapshot followed */
	struct htab parts;    /* struct fwd_inc_part by namespace */
	struct htab dests;    /* struct dest by protocol, address, wildcard, port */
	struct htab hports;   /* struct hport by port */
	size_t n_idle, n_served, n_pools, n_endpoints;
	uint64_t seq;
	/* One update's destinations and ports to settle. */
	struct dest **tdests;
	size_t n_tdests, cap_tdests;
	struct hport **thports;
	size_t n_thports, cap_thports;
};

/* ---- parts ------------------------------------------------------------------------------- */

static struct fwd_inc_part *
part_ref(struct fwd_inc_part *p)
{
	__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

static void
part_unref(struct fwd_inc_part *p)
{
	if (p == NULL || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	fwd_plan_deinit(&p->plan);
	free(p->ns);
	free(p);
}

static struct fwd_inc_part *
part_find(const struct fwd_inc *inc, const char *ns)
{
	uint32_t h = htab_hash_str(ns, 0);

	for (struct htab_node *n = htab_find(&inc->parts, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_inc_part *p = htab_item(n, struct fwd_inc_part, node);

		if (strcmp(p->ns, ns) == 0)
			return p;
	}
	return NULL;
}

/* The part of SH (NULL: a namespace with nothing to forward). */
static enum svc_status
part_make(const struct fwd_inc *inc, const struct cluster_shard *sh, struct fwd_inc_part **out)
{
	struct fwd_inc_part *p;
	enum svc_status st;

	*out = NULL;
	if (sh == NULL || sh->n_services == 0)
		return SVC_OK;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return SVC_ENOMEM;
	p->refs = 1;
	p->ns = strdup(sh->ns);
	st = p->ns == NULL ? SVC_ENOMEM
	                   : fwd_plan_services(sh->services, sh->n_services, inc->node, &p->plan);
	if (st != SVC_OK) {
		free(p->ns);
		free(p);
		return st;
	}
	if (p->plan.n_pools == 0 && p->plan.n_health == 0) {
		part_unref(p);
		return SVC_OK;
	}
	for (size_t i = 0; i < p->plan.n_pools; i++)
		p->n_endpoints += p->plan.pools[i].n_targets;
	*out = p;
	return SVC_OK;
}

/* Service order: namespace, then place in the namespace's plan. */
static bool
claim_before(struct claim a, struct claim b)
{
	int c = strcmp(a.part->ns, b.part->ns);

	return c != 0 ? c < 0 : a.idx < b.idx;
}

static const struct fwd_plan_listener *
claim_listener(struct claim c)
{
	return &c.part->plan.listeners[c.idx];
}

static const struct fwd_plan_pool *
claim_pool(struct claim c)
{
	return &c.part->plan.pools[claim_listener(c)->pool];
}

static void
claim_set(struct claim *dst, struct claim src)
{
	if (src.part != NULL)
		part_ref(src.part);
	part_unref(dst->part);
	*dst = src;
}

/* Claims go in ONE, the holder's own slot, until a second comes: 180,000 destinations at 100k
 * services, nearly all with one claim, would otherwise each have an array of their own. */
static enum svc_status
claim_add(struct claim **v, size_t *n, size_t *cap, struct claim *one, struct fwd_inc_part *part,
          size_t idx)
{
	if (*cap == 0) {
		*v = one;
		*cap = 1;
	}
	if (*n == *cap) {
		struct claim *more = malloc(*cap * 4 * sizeof(*more));

		if (more == NULL)
			return SVC_ENOMEM;
		memcpy(more, *v, *n * sizeof(*more));
		if (*v != one)
			free(*v);
		*v = more;
		*cap *= 4;
	}
	(*v)[(*n)++] = (struct claim){part, idx};
	return SVC_OK;
}

static void
claims_free(struct claim *v, const struct claim *one)
{
	if (v != one)
		free(v);
}

static void
claim_drop(struct claim *v, size_t *n, const struct fwd_inc_part *part, size_t idx)
{
	for (size_t i = 0; i < *n; i++) {
		if (v[i].part == part && v[i].idx == idx) {
			v[i] = v[--*n];
			return;
		}
	}
}

/* ---- deltas ------------------------------------------------------------------------------ */

static struct fwd_delta *
delta_new(uint64_t seq)
{
	struct fwd_delta *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->refs = 1;
	d->seq = seq;
	atomic_init(&d->taken, false);
	return d;
}

struct fwd_delta *
fwd_delta_ref(struct fwd_delta *d)
{
	__atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
	return d;
}

void
fwd_delta_unref(struct fwd_delta *d)
{
	if (d == NULL || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < d->n_parts; i++)
		part_unref(d->parts[i]);
	free(d->parts);
	free(d->pools);
	free(d->gone);
	free(d->dests);
	free(d->health);
	free(d);
}

/* D points into P: keep it. */
static enum svc_status
delta_hold(struct fwd_delta *d, struct fwd_inc_part *p)
{
	struct fwd_inc_part **slot;

	if (p == NULL)
		return SVC_OK;
	slot = vec_push(&d->parts, &d->n_parts, &d->cap_parts, sizeof(*slot), NULL);
	if (slot == NULL)
		return SVC_ENOMEM;
	*slot = part_ref(p);
	return SVC_OK;
}

static enum svc_status
push_pool(struct fwd_delta *d, const struct fwd_plan_pool *p)
{
	const struct fwd_plan_pool **slot =
	        vec_push(&d->pools, &d->n_pools, &d->cap_pools, sizeof(*slot), NULL);

	if (slot == NULL)
		return SVC_ENOMEM;
	*slot = p;
	return SVC_OK;
}

static enum svc_status
push_gone(struct fwd_delta *d, const char *key)
{
	const char **slot = vec_push(&d->gone, &d->n_gone, &d->cap_gone, sizeof(*slot), NULL);

	if (slot == NULL)
		return SVC_ENOMEM;
	*slot = key;
	return SVC_OK;
}

static enum svc_status
push_dest(struct fwd_delta *d, const struct fwd_delta_dest *op)
{
	struct fwd_delta_dest *slot =
	        vec_push(&d->dests, &d->n_dests, &d->cap_dests, sizeof(*slot), NULL);

	if (slot == NULL)
		return SVC_ENOMEM;
	*slot = *op;
	return SVC_OK;
}

static enum svc_status
push_health(struct fwd_delta *d, uint16_t port, const struct fwd_plan_health *h)
{
	struct fwd_delta_health *slot =
	        vec_push(&d->health, &d->n_health, &d->cap_health, sizeof(*slot), NULL);

	if (slot == NULL)
		return SVC_ENOMEM;
	slot->port = port;
	slot->h = h;
	return SVC_OK;
}

/* ---- destinations and health ports ------------------------------------------------------- */

static uint32_t
dest_hash(enum cluster_proto proto, const struct netaddr *a, bool wildcard, uint16_t port)
{
	return netaddr_hash(a) ^ ((uint32_t)port * 2654435761u) ^ ((uint32_t)proto << 24) ^
	       (wildcard ? 0x5bd1e995u : 0);
}

static struct dest *
dest_get(struct fwd_inc *inc, const struct fwd_plan_listener *l, bool make)
{
	uint32_t h = dest_hash(l->proto, &l->addr, l->wildcard, l->port);
	struct dest *x;

	for (struct htab_node *n = htab_find(&inc->dests, h); n != NULL; n = htab_next(n, h)) {
		x = htab_item(n, struct dest, node);
		if (x->proto == l->proto && x->port == l->port && x->wildcard == l->wildcard &&
		    netaddr_equal(&x->addr, &l->addr))
			return x;
	}
	if (!make)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->proto = l->proto;
	x->addr = l->addr;
	x->wildcard = l->wildcard;
	x->port = l->port;
	if (htab_insert(&inc->dests, &x->node, h) != SVC_OK) {
		free(x);
		return NULL;
	}
	return x;
}

/* X, whose flag is TOUCHED, on the list (LIST, N, CAP) of what to settle, once. */
static enum svc_status
touch(void *x, bool *touched, void *list, size_t *n, size_t *cap)
{
	void **slot;

	if (*touched)
		return SVC_OK;
	slot = vec_push(list, n, cap, sizeof(*slot), NULL);
	if (slot == NULL)
		return SVC_ENOMEM;
	*slot = x;
	*touched = true;
	return SVC_OK;
}

static struct hport *
hport_get(struct fwd_inc *inc, uint16_t port, bool make)
{
	uint32_t h = htab_hash_u64(port);
	struct hport *x;

	for (struct htab_node *n = htab_find(&inc->hports, h); n != NULL; n = htab_next(n, h)) {
		x = htab_item(n, struct hport, node);
		if (x->port == port)
			return x;
	}
	if (!make)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->port = port;
	if (htab_insert(&inc->hports, &x->node, h) != SVC_OK) {
		free(x);
		return NULL;
	}
	return x;
}

static bool
same_ranges(const struct fwd_plan_listener *a, const struct fwd_plan_listener *b)
{
	if (a->n_source_ranges != b->n_source_ranges)
		return false;
	for (size_t i = 0; i < a->n_source_ranges; i++) {
		if (a->source_ranges[i].len != b->source_ranges[i].len ||
		    !netaddr_equal(&a->source_ranges[i].addr, &b->source_ranges[i].addr))
			return false;
	}
	return true;
}

/* Whether the main loop would serve a destination the same way through A as through B. */
static bool
same_serving(struct claim a, struct claim b)
{
	const struct fwd_plan_listener *la, *lb;

	if (a.part == NULL || b.part == NULL)
		return a.part == b.part;
	la = claim_listener(a);
	lb = claim_listener(b);
	return la->kind == lb->kind && same_ranges(la, lb) &&
	       strcmp(claim_pool(a)->key, claim_pool(b)->key) == 0;
}

/* The first claim keeps the destination, as fwd_plan_build's drop_conflicts; it serves when its
 * pool has targets. What changed for the main loop goes into D. */
static enum svc_status
dest_settle(struct fwd_inc *inc, struct dest *x, struct fwd_delta *d, struct diag *dg)
{
	struct claim w = {0}, serve = {0};
	bool idle;

	x->touched = false;
	for (size_t i = 0; i < x->n_claims; i++) {
		if (w.part == NULL || claim_before(x->claims[i], w))
			w = x->claims[i];
	}
	for (size_t i = 0; dg != NULL && i < x->n_claims; i++) {
		const struct fwd_plan_listener *l = claim_listener(x->claims[i]);
		const struct fwd_plan_pool *lost = claim_pool(x->claims[i]), *kept = claim_pool(w);
		char a[NETADDR_STRLEN];

		if (x->claims[i].part == w.part && x->claims[i].idx == w.idx)
			continue;
		diag_add(dg, DIAG_WARNING, NULL, 0, 0, NULL,
		         "service %s/%s port %s: %s %s:%u/%s is already taken by %s/%s port %s; "
		         "ignored",
		         lost->ns, lost->name, lost->port_name, fwd_listener_kind_str(l->kind),
		         l->wildcard ? "*" : netaddr_str(&l->addr, a), l->port,
		         cluster_proto_str(l->proto), kept->ns, kept->name, kept->port_name);
	}
	idle = w.part != NULL && claim_pool(w)->n_targets == 0;
	if (w.part != NULL && !idle)
		serve = w;
	inc->n_idle = inc->n_idle - x->idle + idle;
	x->idle = idle;
	if (!same_serving(x->posted, serve)) {
		struct fwd_delta_dest op = {.proto = x->proto,
		                            .addr = x->addr,
		                            .wildcard = x->wildcard,
		                            .port = x->port};

		if (serve.part != NULL) {
			op.l = claim_listener(serve);
			op.pool_key = claim_pool(serve)->key;
			if (delta_hold(d, serve.part) != SVC_OK)
				return SVC_ENOMEM;
		}
		if (push_dest(d, &op) != SVC_OK)
			return SVC_ENOMEM;
	}
	inc->n_served = inc->n_served - (x->posted.part != NULL) + (serve.part != NULL);
	/* Even when the same: the claim of the current part, so the old one can go. */
	claim_set(&x->posted, serve);
	if (x->n_claims == 0) {
		htab_remove(&inc->dests, &x->node);
		claims_free(x->claims, &x->one);
		free(x);
	}
	return SVC_OK;
}

static bool
same_health(struct claim a, struct claim b)
{
	const struct fwd_plan_health *ha, *hb;

	if (a.part == NULL || b.part == NULL)
		return a.part == b.part;
	ha = &a.part->plan.health[a.idx];
	hb = &b.part->plan.health[b.idx];
	return ha->n_local == hb->n_local && strcmp(ha->ns, hb->ns) == 0 &&
	       strcmp(ha->name, hb->name) == 0;
}

/* The last claim serves the port, as the main loop's health servers take one service after
 * another, each over the last. */
static enum svc_status
hport_settle(struct fwd_inc *inc, struct hport *x, struct fwd_delta *d)
{
	struct claim w = {0};

	x->touched = false;
	for (size_t i = 0; i < x->n_claims; i++) {
		if (w.part == NULL || claim_before(w, x->claims[i]))
			w = x->claims[i];
	}
	if (!same_health(x->posted, w)) {
		if (delta_hold(d, w.part) != SVC_OK ||
		    push_health(d, x->port, w.part ? &w.part->plan.health[w.idx] : NULL) != SVC_OK)
			return SVC_ENOMEM;
	}
	claim_set(&x->posted, w);
	if (x->n_claims == 0) {
		htab_remove(&inc->hports, &x->node);
		claims_free(x->claims, &x->one);
		free(x);
	}
	return SVC_OK;
}

/* ---- one namespace ----------------------------------------------------------------------- */

struct pkey {
	struct htab_node node;
	const struct fwd_plan_pool *p;
	bool seen;
};

static bool
same_pool(const struct fwd_plan_pool *a, const struct fwd_plan_pool *b)
{
	if (a->n_targets != b->n_targets || a->affinity_timeout_s != b->affinity_timeout_s ||
	    a->no_local != b->no_local)
		return false;
	for (size_t i = 0; i < a->n_targets; i++) {
		const struct fwd_target *s = &a->targets[i], *t = &b->targets[i];

		if (s->port != t->port || s->local != t->local ||
		    s->terminating != t->terminating || !netaddr_equal(&s->ip, &t->ip))
			return false;
	}
	return true;
}

/* Pools of NEW that are new or changed since OLD, and OLD's no longer there, into D. Keys are
 * per namespace ("ns/name:port/..."): a pool never moves between parts. */
static enum svc_status
diff_pools(const struct fwd_inc_part *old, const struct fwd_inc_part *new, struct fwd_delta *d)
{
	size_t n_old = old != NULL ? old->plan.n_pools : 0;
	struct pkey *keys = NULL;
	struct htab t;
	enum svc_status st = SVC_ENOMEM;

	htab_init(&t);
	if (n_old > 0) {
		keys = calloc(n_old, sizeof(*keys));
		if (keys == NULL || htab_reserve(&t, n_old) != SVC_OK)
			goto done;
	}
	for (size_t i = 0; i < n_old; i++) {
		keys[i].p = &old->plan.pools[i];
		(void)htab_insert(&t, &keys[i].node, htab_hash_str(keys[i].p->key, 0));
	}
	for (size_t i = 0; new != NULL &&i < new->plan.n_pools; i++) {
		const struct fwd_plan_pool *p = &new->plan.pools[i];
		uint32_t h = htab_hash_str(p->key, 0);
		struct pkey *k = NULL;

		for (struct htab_node *n = htab_find(&t, h); n != NULL; n = htab_next(n, h)) {
			k = htab_item(n, struct pkey, node);
			if (!k->seen && strcmp(k->p->key, p->key) == 0)
				break;
			k = NULL;
		}
		if (k != NULL)
			k->seen = true;
		if ((k == NULL || !same_pool(k->p, p)) && push_pool(d, p) != SVC_OK)
			goto done;
	}
	for (size_t i = 0; i < n_old; i++) {
		if (!keys[i].seen && push_gone(d, keys[i].p->key) != SVC_OK)
			goto done;
	}
	st = SVC_OK;
done:
	htab_deinit(&t);
	free(keys);
	return st;
}

/* P's listeners and health ports in (ADD) or out of the claims; each one touched. */
static enum svc_status
claims_of(struct fwd_inc *inc, struct fwd_inc_part *p, bool add)
{
	for (size_t i = 0; p != NULL && i < p->plan.n_listeners; i++) {
		struct dest *x = dest_get(inc, &p->plan.listeners[i], add);

		if (x == NULL)
			return add ? SVC_ENOMEM : SVC_EINVAL;
		if (touch(x, &x->touched, &inc->tdests, &inc->n_tdests, &inc->cap_tdests) != SVC_OK)
			return SVC_ENOMEM;
		if (!add)
			claim_drop(x->claims, &x->n_claims, p, i);
		else if (claim_add(&x->claims, &x->n_claims, &x->cap_claims, &x->one, p, i) !=
		         SVC_OK)
			return SVC_ENOMEM;
	}
	for (size_t i = 0; p != NULL && i < p->plan.n_health; i++) {
		struct hport *x = hport_get(inc, p->plan.health[i].port, add);

		if (x == NULL)
			return add ? SVC_ENOMEM : SVC_EINVAL;
		if (touch(x, &x->touched, &inc->thports, &inc->n_thports, &inc->cap_thports) !=
		    SVC_OK)
			return SVC_ENOMEM;
		if (!add)
			claim_drop(x->claims, &x->n_claims, p, i);
		else if (claim_add(&x->claims, &x->n_claims, &x->cap_claims, &x->one, p, i) !=
		         SVC_OK)
			return SVC_ENOMEM;
	}
	return SVC_OK;
}

static const struct cluster_shard *
shard_of(const struct cluster *c, const char *ns)
{
	size_t lo = 0, hi = c->n_shards;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->shards[mid]->ns, ns);

		if (r == 0)
			return c->shards[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Plan namespace NS of C again; the changes into D. */
static enum svc_status
replan(struct fwd_inc *inc, const struct cluster *c, const char *ns, struct fwd_delta *d)
{
	struct fwd_inc_part *old = part_find(inc, ns), *new = NULL;
	enum svc_status st = part_make(inc, shard_of(c, ns), &new);

	if (st != SVC_OK)
		return st;
	if ((st = delta_hold(d, old)) != SVC_OK || (st = delta_hold(d, new)) != SVC_OK ||
	    (st = diff_pools(old, new, d)) != SVC_OK || (st = claims_of(inc, old, false)) != SVC_OK)
		goto done;
	if (new != NULL &&
	    (st = htab_insert(&inc->parts, &new->node, htab_hash_str(ns, 0))) != SVC_OK)
		goto done;
	if (old != NULL) {
		htab_remove(&inc->parts, &old->node);
		inc->n_pools -= old->plan.n_pools;
		inc->n_endpoints -= old->n_endpoints;
		part_unref(old); /* the table's; D and the claims posted hold theirs */
	}
	if (new != NULL) {
		inc->n_pools += new->plan.n_pools;
		inc->n_endpoints += new->n_endpoints;
		new = NULL; /* the table's now */
	}
	st = claims_of(inc, part_find(inc, ns), true);
done:
	part_unref(new);
	return st;
}

/* ---- the state --------------------------------------------------------------------------- */

enum svc_status
fwd_inc_new(const char *node, struct fwd_inc **out)
{
	struct fwd_inc *inc = calloc(1, sizeof(*inc));

	*out = NULL;
	if (inc == NULL)
		return SVC_ENOMEM;
	inc->node = node;
	htab_init(&inc->parts);
	htab_init(&inc->dests);
	htab_init(&inc->hports);
	*out = inc;
	return SVC_OK;
}

/* Forget everything: the next update starts from nothing. */
static void
inc_clear(struct fwd_inc *inc)
{
	struct htab_iter it;
	struct htab_node *n;

	while ((n = htab_first(&it, &inc->dests)) != NULL) {
		struct dest *x = htab_item(n, struct dest, node);

		htab_remove(&inc->dests, n);
		part_unref(x->posted.part);
		claims_free(x->claims, &x->one);
		free(x);
	}
	while ((n = htab_first(&it, &inc->hports)) != NULL) {
		struct hport *x = htab_item(n, struct hport, node);

		htab_remove(&inc->hports, n);
		part_unref(x->posted.part);
		claims_free(x->claims, &x->one);
		free(x);
	}
	while ((n = htab_first(&it, &inc->parts)) != NULL) {
		htab_remove(&inc->parts, n);
		part_unref(htab_item(n, struct fwd_inc_part, node));
	}
	cluster_unref(inc->last);
	inc->last = NULL;
	inc->n_idle = inc->n_served = inc->n_pools = inc->n_endpoints = 0;
	inc->n_tdests = inc->n_thports = 0;
}

void
fwd_inc_free(struct fwd_inc *inc)
{
	if (inc == NULL)
		return;
	inc_clear(inc);
	htab_deinit(&inc->dests);
	htab_deinit(&inc->hports);
	htab_deinit(&inc->parts);
	free(inc->tdests);
	free(inc->thports);
	free(inc);
}

/* D as everything INC's plan holds: every pool, every destination served, every health port. */
static enum svc_status
dump(struct fwd_inc *inc, struct fwd_delta *d)
{
	struct htab_iter it;

	d->full = true;
	d->n_pools = d->n_gone = d->n_dests = d->n_health = 0;
	for (struct htab_node *n = htab_first(&it, &inc->parts); n != NULL;
	     n = htab_iter_next(&it)) {
		struct fwd_inc_part *p = htab_item(n, struct fwd_inc_part, node);

		if (delta_hold(d, p) != SVC_OK)
			return SVC_ENOMEM;
		for (size_t i = 0; i < p->plan.n_pools; i++) {
			if (push_pool(d, &p->plan.pools[i]) != SVC_OK)
				return SVC_ENOMEM;
		}
	}
	for (struct htab_node *n = htab_first(&it, &inc->dests); n != NULL;
	     n = htab_iter_next(&it)) {
		struct dest *x = htab_item(n, struct dest, node);
		struct fwd_delta_dest op = {.proto = x->proto,
		                            .addr = x->addr,
		                            .wildcard = x->wildcard,
		                            .port = x->port};

		if (x->posted.part == NULL)
			continue;
		op.l = claim_listener(x->posted);
		op.pool_key = claim_pool(x->posted)->key;
		if (push_dest(d, &op) != SVC_OK)
			return SVC_ENOMEM;
	}
	for (struct htab_node *n = htab_first(&it, &inc->hports); n != NULL;
	     n = htab_iter_next(&it)) {
		struct hport *x = htab_item(n, struct hport, node);

		if (x->posted.part != NULL &&
		    push_health(d, x->port, &x->posted.part->plan.health[x->posted.idx]) != SVC_OK)
			return SVC_ENOMEM;
	}
	return SVC_OK;
}

struct changed {
	const char **ns;
	size_t n, cap;
	bool oom;
};

static void
on_changed(void *arg, const char *ns)
{
	struct changed *ch = arg;
	const char **slot = vec_push(&ch->ns, &ch->n, &ch->cap, sizeof(*slot), NULL);

	if (slot == NULL)
		ch->oom = true;
	else
		*slot = ns;
}

enum svc_status
fwd_inc_update(struct fwd_inc *inc, struct cluster *c, bool full, struct diag *dg,
               struct fwd_delta **out)
{
	struct changed ch = {0};
	struct fwd_delta *d = delta_new(++inc->seq);
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	if (d == NULL)
		goto done;
	if (inc->last == NULL)
		full = true;
	cluster_diff_shards(inc->last, c, on_changed, &ch);
	if (ch.oom)
		goto done;
	for (size_t i = 0; i < ch.n; i++) {
		st = replan(inc, c, ch.ns[i], d);
		if (st != SVC_OK)
			goto done;
	}
	/* Every namespace is in: now the claims decide. */
	st = SVC_ENOMEM;
	for (size_t i = 0; i < inc->n_tdests; i++) {
		if (dest_settle(inc, inc->tdests[i], d, dg) != SVC_OK)
			goto done;
	}
	inc->n_tdests = 0;
	for (size_t i = 0; i < inc->n_thports; i++) {
		if (hport_settle(inc, inc->thports[i], d) != SVC_OK)
			goto done;
	}
	inc->n_thports = 0;
	if (full && dump(inc, d) != SVC_OK)
		goto done;
	cluster_unref(inc->last);
	inc->last = cluster_ref(c);
	d->n_idle = inc->n_idle;
	d->n_plan_pools = inc->n_pools;
	d->n_listeners = inc->n_served;
	d->n_endpoints = inc->n_endpoints;
	*out = d;
	d = NULL;
	st = SVC_OK;
done:
	if (st != SVC_OK)
		inc_clear(inc); /* half followed: start again next time */
	fwd_delta_unref(d);
	free(ch.ns);
	return st;
}

/* ---- the plan, flat ---------------------------------------------------------------------- */

static int
part_order(const void *pa, const void *pb)
{
	const struct fwd_inc_part *a = *(const struct fwd_inc_part *const *)pa;
	const struct fwd_inc_part *b = *(const struct fwd_inc_part *const *)pb;

	return strcmp(a->ns, b->ns);
}

/* fwd_plan_build's order of the listeners it keeps: protocol, port, wildcard, address. */
static int
listener_order(const void *pa, const void *pb)
{
	const struct fwd_plan_listener *a = pa, *b = pb;
	uint32_t ha = (uint32_t)a->proto << 24 | (uint32_t)a->port << 8 | (uint32_t)a->wildcard;
	uint32_t hb = (uint32_t)b->proto << 24 | (uint32_t)b->port << 8 | (uint32_t)b->wildcard;

	if (ha != hb)
		return ha < hb ? -1 : 1;
	return netaddr_cmp(&a->addr, &b->addr);
}

enum svc_status
fwd_inc_plan(const struct fwd_inc *inc, struct fwd_plan *out)
{
	struct fwd_inc_part **parts = NULL;
	size_t n = 0, np = 0, nh = 0, k = 0;
	struct htab_iter it;
	enum svc_status st = SVC_ENOMEM;

	memset(out, 0, sizeof(*out));
	arena_init(&out->arena);
	parts = malloc((inc->parts.n ? inc->parts.n : 1) * sizeof(*parts));
	if (parts == NULL)
		goto done;
	for (struct htab_node *hn = htab_first(&it, &inc->parts); hn != NULL;
	     hn = htab_iter_next(&it)) {
		parts[n] = htab_item(hn, struct fwd_inc_part, node);
		np += parts[n]->plan.n_pools;
		nh += parts[n]->plan.n_health;
		n++;
	}
	qsort(parts, n, sizeof(*parts), part_order);
	out->pools = malloc((np ? np : 1) * sizeof(*out->pools));
	out->health = malloc((nh ? nh : 1) * sizeof(*out->health));
	out->listeners = malloc((inc->n_served ? inc->n_served : 1) * sizeof(*out->listeners));
	if (out->pools == NULL || out->health == NULL || out->listeners == NULL)
		goto done;
	for (size_t i = 0; i < n; i++) {
		const struct fwd_plan *p = &parts[i]->plan;

		parts[i]->base = out->n_pools;
		/* (memcpy from NULL is undefined even for no bytes.) */
		if (p->n_pools > 0)
			memcpy(out->pools + out->n_pools, p->pools, p->n_pools * sizeof(*p->pools));
		out->n_pools += p->n_pools;
		if (p->n_health > 0)
			memcpy(out->health + out->n_health, p->health,
			       p->n_health * sizeof(*p->health));
		out->n_health += p->n_health;
	}
	for (struct htab_node *hn = htab_first(&it, &inc->dests); hn != NULL;
	     hn = htab_iter_next(&it)) {
		const struct dest *x = htab_item(hn, struct dest, node);
		struct fwd_plan_listener *l;

		if (x->posted.part == NULL)
			continue;
		l = &out->listeners[k++];
		*l = *claim_listener(x->posted);
		l->pool += x->posted.part->base;
	}
	out->n_listeners = k;
	qsort(out->listeners, k, sizeof(*out->listeners), listener_order);
	out->n_idle = inc->n_idle;
	st = SVC_OK;
done:
	free(parts);
	if (st != SVC_OK)
		fwd_plan_deinit(out);
	return st;
}

/* ---- composition ------------------------------------------------------------------------- */

/* A key of a delta's operation, in a set while composing. */
struct okey {
	struct htab_node node;
	const void *op;
};

static uint32_t
dest_op_hash(const struct fwd_delta_dest *o)
{
	return dest_hash(o->proto, &o->addr, o->wildcard, o->port);
}

static bool
dest_op_same(const struct fwd_delta_dest *a, const struct fwd_delta_dest *b)
{
	return a->proto == b->proto && a->port == b->port && a->wildcard == b->wildcard &&
	       netaddr_equal(&a->addr, &b->addr);
}

/* Whether the key of OP (of kind K: 0 pool key, 1 destination, 2 health port) is in T. */
static bool
okey_has(const struct htab *t, int k, const void *op, uint32_t h)
{
	for (struct htab_node *n = htab_find(t, h); n != NULL; n = htab_next(n, h)) {
		const void *o = htab_item(n, struct okey, node)->op;

		if (k == 0   ? strcmp(o, op) == 0
		    : k == 1 ? dest_op_same(o, op)
		             : ((const struct fwd_delta_health *)o)->port ==
		                       ((const struct fwd_delta_health *)op)->port)
			return true;
	}
	return false;
}

struct fwd_delta *
fwd_delta_compose(struct fwd_delta *older, struct fwd_delta *newer)
{
	struct fwd_delta *r;
	struct htab t[3];
	struct okey *keys = NULL;
	size_t nk = 0, total = newer->n_pools + newer->n_gone + newer->n_dests + newer->n_health;
	bool ok = false;

	/* Everything anyway: what OLDER held is in it or gone. */
	if (newer->full)
		return fwd_delta_ref(newer);
	r = delta_new(newer->seq);
	if (r == NULL)
		return NULL;
	for (int i = 0; i < 3; i++)
		htab_init(&t[i]);
	r->full = older->full;
	r->n_idle = newer->n_idle;
	r->n_plan_pools = newer->n_plan_pools;
	r->n_listeners = newer->n_listeners;
	r->n_endpoints = newer->n_endpoints;
	keys = calloc(total ? total : 1, sizeof(*keys));
	if (keys == NULL)
		goto done;
	for (size_t i = 0; i < older->n_parts; i++)
		if (delta_hold(r, older->parts[i]) != SVC_OK)
			goto done;
	for (size_t i = 0; i < newer->n_parts; i++)
		if (delta_hold(r, newer->parts[i]) != SVC_OK)
			goto done;
	/* NEWER's operations, and their keys. A full delta says nothing of what goes: what it
	 * does not hold goes. */
	for (size_t i = 0; i < newer->n_pools; i++) {
		keys[nk].op = newer->pools[i]->key;
		if (push_pool(r, newer->pools[i]) != SVC_OK ||
		    htab_insert(&t[0], &keys[nk++].node, htab_hash_str(newer->pools[i]->key, 0)) !=
		            SVC_OK)
			goto done;
	}
	for (size_t i = 0; i < newer->n_gone; i++) {
		keys[nk].op = newer->gone[i];
		if ((!r->full && push_gone(r, newer->gone[i]) != SVC_OK) ||
		    htab_insert(&t[0], &keys[nk++].node, htab_hash_str(newer->gone[i], 0)) !=
		            SVC_OK)
			goto done;
	}
	for (size_t i = 0; i < newer->n_dests; i++) {
		keys[nk].op = &newer->dests[i];
		if ((!(r->full && newer->dests[i].l == NULL) &&
		     push_dest(r, &newer->dests[i]) != SVC_OK) ||
		    htab_insert(&t[1], &keys[nk++].node, dest_op_hash(&newer->dests[i])) != SVC_OK)
			goto done;
	}
	for (size_t i = 0; i < newer->n_health; i++) {
		keys[nk].op = &newer->health[i];
		if ((!(r->full && newer->health[i].h == NULL) &&
		     push_health(r, newer->health[i].port, newer->health[i].h) != SVC_OK) ||
		    htab_insert(&t[2], &keys[nk++].node, htab_hash_u64(newer->health[i].port)) !=
		            SVC_OK)
			goto done;
	}
	/* OLDER's, where NEWER says nothing. */
	for (size_t i = 0; i < older->n_pools; i++) {
		const char *key = older->pools[i]->key;

		if (!okey_has(&t[0], 0, key, htab_hash_str(key, 0)) &&
		    push_pool(r, older->pools[i]) != SVC_OK)
			goto done;
	}
	for (size_t i = 0; i < older->n_gone; i++) {
		const char *key = older->gone[i];

		if (!okey_has(&t[0], 0, key, htab_hash_str(key, 0)) && push_gone(r, key) != SVC_OK)
			goto done;
	}
	for (size_t i = 0; i < older->n_dests; i++) {
		const struct fwd_delta_dest *o = &older->dests[i];

		if (!okey_has(&t[1], 1, o, dest_op_hash(o)) && push_dest(r, o) != SVC_OK)
			goto done;
	}
	for (size_t i = 0; i < older->n_health; i++) {
		const struct fwd_delta_health *o = &older->health[i];

		if (!okey_has(&t[2], 2, o, htab_hash_u64(o->port)) &&
		    push_health(r, o->port, o->h) != SVC_OK)
			goto done;
	}
	ok = true;
done:
	for (int i = 0; i < 3; i++)
		htab_deinit(&t[i]);
	free(keys);
	if (!ok) {
		fwd_delta_unref(r);
		return NULL;
	}
	return r;
}
