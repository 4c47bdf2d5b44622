/* test_fwd_inc.c -- svcfwd's incremental plan: after every step of a random sequence of changes
 * (the shared generator, plus services of this test's own that contest external IPs across
 * namespaces and run health-check ports), the plan kept namespace by namespace is the plan
 * fwd_plan_build makes of the same snapshot, and the state the main loop reaches by applying
 * the deltas (composed when it falls behind) holds the same pools, destinations and health
 * ports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "clustergen.h"

#include "dirsrc.h"
#include "fwd_inc.h"
#include "fwd_plan.h"
#include "fwd_pool.h"
#include "store.h"
#include "vec.h"

/* ---- services of this test's own --------------------------------------------------------- */

#define N_X 8

static const char *const XNS[] = {"alpha", "beta", "delta"};

struct xgen {
	uint64_t rng;
	int var[N_X]; /* -1: absent */
	char *text;
};

static uint32_t
xrnd(struct xgen *x, uint32_t n)
{
	x->rng ^= x->rng >> 12;
	x->rng ^= x->rng << 25;
	x->rng ^= x->rng >> 27;
	return (uint32_t)((x->rng * 2685821657736338717ull) >> 33) % n;
}

/* Service K: LoadBalancer (Local: a health-check port) or ClusterIP, with external IPs from a
 * set of two, so services of different namespaces claim the same address and port. */
static void
xwrite_service(FILE *f, int k, int v)
{
	fprintf(f,
	        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x%d\n  namespace: %s\n"
	        "spec:\n  selector:\n    app: a%d\n",
	        k, XNS[(k + v / 7) % 3], v % 6);
	if (v % 3 != 0) {
		fprintf(f, "  type: LoadBalancer\n");
		if (v % 2)
			fprintf(f, "  externalTrafficPolicy: Local\n");
		if (v % 5 == 0)
			fprintf(f, "  loadBalancerSourceRanges: [\"198.51.100.0/24\"]\n");
	}
	if (v % 4 != 3)
		fprintf(f, "  externalIPs: [\"203.0.113.%d\"]\n", 1 + v % 2);
	fprintf(f, "  ports:\n  - name: web\n    port: %d\n    targetPort: web\n", 80 + v % 2);
}

static void
xwrite(struct xgen *x, const char *dir)
{
	char path[4096], tmp[4096], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	for (int k = 0; k < N_X; k++)
		if (x->var[k] >= 0)
			xwrite_service(f, k, x->var[k]);
	fclose(f);
	if (x->text != NULL && strcmp(x->text, text) == 0) {
		free(text);
		return;
	}
	free(x->text);
	x->text = text;
	snprintf(path, sizeof(path), "%s/x.yaml", dir);
	snprintf(tmp, sizeof(tmp), "%s/.x.yaml.tmp", dir);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0);
}

static void
xmutate(struct xgen *x)
{
	for (int n = 1 + (int)xrnd(x, 2); n > 0; n--) {
		int k = (int)xrnd(x, N_X);

		x->var[k] = xrnd(x, 5) == 0 ? -1 : (int)xrnd(x, 1000);
	}
}

/* ---- the main loop's state, as the deltas build it ----------------------------------------- */

struct adest {
	enum cluster_proto proto;
	struct netaddr addr;
	bool wildcard;
	uint16_t port;
	enum fwd_listener_kind kind;
	size_t n_ranges;
	char *pool_key;
};

struct ahealth {
	uint16_t port;
	char *ns, *name;
	size_t n_local;
};

struct applied {
	struct fwd_pools ps;
	struct adest *dests;
	size_t n_dests, cap_dests;
	struct ahealth *health;
	size_t n_health, cap_health;
	size_t n_idle;
	uint64_t seq;
};

static struct adest *
adest_find(struct applied *a, enum cluster_proto proto, const struct netaddr *addr, bool wildcard,
           uint16_t port)
{
	for (size_t i = 0; i < a->n_dests; i++) {
		struct adest *x = &a->dests[i];

		if (x->proto == proto && x->port == port && x->wildcard == wildcard &&
		    netaddr_equal(&x->addr, addr))
			return x;
	}
	return NULL;
}

static struct ahealth *
ahealth_find(struct applied *a, uint16_t port)
{
	for (size_t i = 0; i < a->n_health; i++)
		if (a->health[i].port == port)
			return &a->health[i];
	return NULL;
}

static void
adest_drop(struct applied *a, struct adest *x)
{
	free(x->pool_key);
	*x = a->dests[--a->n_dests];
}

static void
ahealth_drop(struct applied *a, struct ahealth *h)
{
	free(h->ns);
	free(h->name);
	*h = a->health[--a->n_health];
}

static void
apply(struct applied *a, struct fwd_delta *d)
{
	assert_int_equal(
	        fwd_pools_update(&a->ps, d->pools, d->n_pools, d->gone, d->n_gone, d->full),
	        SVC_OK);
	if (d->full) {
		while (a->n_dests > 0)
			adest_drop(a, &a->dests[0]);
		while (a->n_health > 0)
			ahealth_drop(a, &a->health[0]);
	}
	for (size_t i = 0; i < d->n_dests; i++) {
		const struct fwd_delta_dest *o = &d->dests[i];
		struct adest *x = adest_find(a, o->proto, &o->addr, o->wildcard, o->port);

		/* Composed, a destination may go that the main loop never had. */
		if (o->l == NULL) {
			assert_false(d->full);
			if (x != NULL)
				adest_drop(a, x);
			continue;
		}
		if (x == NULL) {
			x = vec_push(&a->dests, &a->n_dests, &a->cap_dests, sizeof(*x), NULL);
			assert_non_null(x);
			x->proto = o->proto;
			x->addr = o->addr;
			x->wildcard = o->wildcard;
			x->port = o->port;
		}
		/* The pool it goes to is in the plan. */
		assert_non_null(fwd_pools_find(&a->ps, o->pool_key));
		assert_true(fwd_pools_find(&a->ps, o->pool_key)->live);
		free(x->pool_key);
		x->pool_key = strdup(o->pool_key);
		x->kind = o->l->kind;
		x->n_ranges = o->l->n_source_ranges;
	}
	for (size_t i = 0; i < d->n_health; i++) {
		const struct fwd_delta_health *o = &d->health[i];
		struct ahealth *h = ahealth_find(a, o->port);

		if (o->h == NULL) {
			if (h != NULL)
				ahealth_drop(a, h);
			continue;
		}
		if (h == NULL) {
			h = vec_push(&a->health, &a->n_health, &a->cap_health, sizeof(*h), NULL);
			assert_non_null(h);
			h->port = o->port;
		}
		free(h->ns);
		free(h->name);
		h->ns = strdup(o->h->ns);
		h->name = strdup(o->h->name);
		h->n_local = o->h->n_local;
	}
	a->n_idle = d->n_idle;
	a->seq = d->seq;
}

static void
applied_deinit(struct applied *a)
{
	while (a->n_dests > 0)
		adest_drop(a, &a->dests[0]);
	while (a->n_health > 0)
		ahealth_drop(a, &a->health[0]);
	free(a->dests);
	free(a->health);
	fwd_pools_deinit(&a->ps);
}

/* ---- the comparisons ----------------------------------------------------------------------- */

static bool
same_targets(const struct fwd_plan_pool *p, const struct fwd_plan_pool *q)
{
	if (strcmp(p->key, q->key) != 0 || strcmp(p->ns, q->ns) != 0 ||
	    strcmp(p->name, q->name) != 0 || strcmp(p->port_name, q->port_name) != 0 ||
	    p->n_targets != q->n_targets || p->affinity_timeout_s != q->affinity_timeout_s ||
	    p->no_local != q->no_local || p->proto != q->proto || p->scope != q->scope ||
	    p->family != q->family)
		return false;
	for (size_t k = 0; k < p->n_targets; k++)
		if (!netaddr_equal(&p->targets[k].ip, &q->targets[k].ip) ||
		    p->targets[k].port != q->targets[k].port ||
		    p->targets[k].local != q->targets[k].local ||
		    p->targets[k].terminating != q->targets[k].terminating)
			return false;
	return true;
}

static bool
same_ranges(const struct fwd_plan_listener *l, const struct fwd_plan_listener *m)
{
	if (l->n_source_ranges != m->n_source_ranges)
		return false;
	for (size_t k = 0; k < l->n_source_ranges; k++)
		if (l->source_ranges[k].len != m->source_ranges[k].len ||
		    !netaddr_equal(&l->source_ranges[k].addr, &m->source_ranges[k].addr))
			return false;
	return true;
}

/* Equal, element by element and in order. */
static const char *
plan_diff(const struct fwd_plan *a, const struct fwd_plan *b)
{
	if (a->n_pools != b->n_pools)
		return "pool count";
	if (a->n_listeners != b->n_listeners)
		return "listener count";
	if (a->n_health != b->n_health)
		return "health count";
	if (a->n_idle != b->n_idle)
		return "idle count";
	for (size_t i = 0; i < a->n_pools; i++)
		if (!same_targets(&a->pools[i], &b->pools[i]))
			return "a pool";
	for (size_t i = 0; i < a->n_listeners; i++) {
		const struct fwd_plan_listener *l = &a->listeners[i], *m = &b->listeners[i];

		if (l->proto != m->proto || l->kind != m->kind || l->port != m->port ||
		    l->pool != m->pool || l->wildcard != m->wildcard ||
		    !netaddr_equal(&l->addr, &m->addr) || !same_ranges(l, m))
			return "a listener";
	}
	for (size_t i = 0; i < a->n_health; i++)
		if (a->health[i].port != b->health[i].port ||
		    a->health[i].n_local != b->health[i].n_local ||
		    strcmp(a->health[i].ns, b->health[i].ns) != 0 ||
		    strcmp(a->health[i].name, b->health[i].name) != 0)
			return "a health port";
	return NULL;
}

/* What the main loop holds is what a full apply of plan P would give. */
static const char *
applied_diff(struct applied *a, const struct fwd_plan *p)
{
	struct htab_iter it;
	size_t live = 0, ports = 0;

	for (struct htab_node *n = htab_first(&it, &a->ps.table); n != NULL;
	     n = htab_iter_next(&it))
		live += htab_item(n, struct fwd_pool, node)->live;
	if (live != p->n_pools)
		return "live pools";
	for (size_t i = 0; i < p->n_pools; i++) {
		const struct fwd_plan_pool *pp = &p->pools[i];
		struct fwd_pool *q = fwd_pools_find(&a->ps, pp->key);

		if (q == NULL || !q->live || q->n_members != pp->n_targets ||
		    q->affinity_ms != (uint64_t)pp->affinity_timeout_s * 1000 ||
		    q->no_local != pp->no_local)
			return "a pool";
		for (size_t k = 0; k < pp->n_targets; k++)
			if (!netaddr_equal(&q->members[k].ip, &pp->targets[k].ip) ||
			    q->members[k].port != pp->targets[k].port)
				return "a pool's members";
	}
	if (a->n_dests != p->n_listeners)
		return "destination count";
	if (a->n_idle != p->n_idle)
		return "idle count";
	for (size_t i = 0; i < p->n_listeners; i++) {
		const struct fwd_plan_listener *l = &p->listeners[i];
		struct adest *x = adest_find(a, l->proto, &l->addr, l->wildcard, l->port);

		if (x == NULL || x->kind != l->kind || x->n_ranges != l->n_source_ranges ||
		    strcmp(x->pool_key, p->pools[l->pool].key) != 0)
			return "a destination";
	}
	/* The main loop's health servers: each port as the last service naming it left it. */
	for (size_t i = 0; i < p->n_health; i++) {
		const struct fwd_plan_health *h = &p->health[i];
		struct ahealth *x = ahealth_find(a, h->port);
		bool last = true;

		for (size_t k = i + 1; k < p->n_health; k++)
			last = last && p->health[k].port != h->port;
		if (!last)
			continue;
		ports++;
		if (x == NULL || x->n_local != h->n_local || strcmp(x->ns, h->ns) != 0 ||
		    strcmp(x->name, h->name) != 0)
			return "a health port";
	}
	if (ports != a->n_health)
		return "health port count";
	return NULL;
}

/* ---- the property ------------------------------------------------------------------------ */

struct run_stats {
	size_t conflicts, health, composed, raced;
};

static void
run_sequence(uint64_t seed, int steps, struct run_stats *rs)
{
	char *dir = tu_tmpdir();
	struct cluster_config cfg;
	struct store *s;
	struct dirsrc *ds;
	struct gen g;
	struct xgen x = {.rng = seed * 0x9e3779b97f4a7c15ull + 1};
	struct fwd_inc *inc;
	struct fwd_delta *last = NULL, *pending = NULL;
	struct applied a;
	uint64_t rng = seed;

	memset(&a, 0, sizeof(a));
	fwd_pools_init(&a.ps);
	for (int k = 0; k < N_X; k++)
		x.var[k] = k % 3 == 0 ? -1 : (int)xrnd(&x, 1000);
	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.96.0.0/26"), SVC_OK);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "192.0.2.0/28"), SVC_OK);
	assert_int_equal(store_create(&cfg, &s), SVC_OK);
	assert_int_equal(dirsrc_create(dir, &ds), SVC_OK);
	dirsrc_racy_window(ds, -1);
	assert_int_equal(fwd_inc_new("node-a", &inc), SVC_OK);
	gen_init(&g, seed);
	for (int step = 0; step < steps; step++) {
		struct cluster *c = NULL;
		struct fwd_plan pi, pf;
		struct fwd_delta *d = NULL;
		struct diag d1;
		const char *diff;
		int what;

		if (step > 0) {
			gen_mutate(&g);
			if (step % 2)
				xmutate(&x);
		}
		gen_write(&g, dir);
		xwrite(&x, dir);
		diag_init(&d1);
		assert_int_equal(dirsrc_scan(ds, s, &d1, NULL), SVC_OK);
		assert_int_equal(store_snapshot(s, &d1, &c), SVC_OK);
		/* Now and then the main loop takes the pending delta just after the builder found
		 * it not taken: the composite then lands on a state that has the older already. */
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		what = (int)(rng >> 33) % 4;
		if (pending != NULL && what == 3) {
			apply(&a, pending);
			fwd_delta_unref(pending);
			pending = NULL;
			rs->raced++;
		}
		assert_int_equal(fwd_inc_update(inc, c, step == steps / 2, &d1, &d), SVC_OK);
		if (last != NULL && !atomic_load(&last->taken)) {
			struct fwd_delta *comp = fwd_delta_compose(last, d);

			assert_non_null(comp);
			fwd_delta_unref(d);
			d = comp;
			rs->composed++;
		}
		fwd_delta_unref(last);
		last = fwd_delta_ref(d);
		fwd_delta_unref(pending); /* a newer one replaces it */
		pending = d;
		/* The main loop takes it, or not yet. */
		if (what != 1 || step == steps - 1) {
			atomic_store(&pending->taken, true);
			apply(&a, pending);
			fwd_delta_unref(pending);
			pending = NULL;
		}

		assert_int_equal(fwd_plan_build(c, "node-a", &d1, &pf), SVC_OK);
		assert_int_equal(fwd_inc_plan(inc, &pi), SVC_OK);
		diff = plan_diff(&pi, &pf);
		if (diff == NULL && pending == NULL)
			diff = applied_diff(&a, &pf);
		if (diff != NULL) {
			fprintf(stderr, "seed %llu step %d: %s differs from a full build\n",
			        (unsigned long long)seed, step, diff);
			fail();
		}
		rs->conflicts += tu_diag_count(&d1, DIAG_WARNING, NULL, "already taken") > 0;
		rs->health += pf.n_health;
		fwd_plan_deinit(&pi);
		fwd_plan_deinit(&pf);
		cluster_unref(c);
		diag_deinit(&d1);
	}
	fwd_delta_unref(last);
	fwd_delta_unref(pending);
	fwd_inc_free(inc);
	applied_deinit(&a);
	gen_deinit(&g);
	free(x.text);
	dirsrc_destroy(ds);
	store_destroy(s);
	tu_rmrf(dir);
	free(dir);
}

static void
test_incremental_equals_full(void **state)
{
	const char *env = getenv("SVC_PROPERTY_SEEDS");
	int seeds = env ? atoi(env) : 25;
	struct run_stats rs = {0};

	(void)state;
#ifdef SVC_SANITIZED
	if (env == NULL)
		seeds = 5;
#endif
	for (int seed = 1; seed <= seeds; seed++)
		run_sequence((uint64_t)seed, 40, &rs);
	/* The sequences reach what the property is about. */
	assert_true(rs.conflicts > 0);
	assert_true(rs.health > 0);
	assert_true(rs.composed > 0);
	assert_true(rs.raced > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_incremental_equals_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
