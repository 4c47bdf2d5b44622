/* test_etcdgroups.c -- etcd's keys grouped into store units: groups of the right size from a
 * list, a key that turns invalid (its last good version serves, the key counts as failing),
 * the sweep after a list; and the property that the groups serve what one unit per key serves,
 * after random puts, deletes, invalid values, missed changes and lists again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcdgroups.h"
#include "etcdobj.h"
#include "schema.h"
#include "testutil.h"

#define P "/t"

static struct cluster_config cfg;

static void
pod_value(char *buf, size_t len, const char *ns, const char *name, int ip)
{
	snprintf(buf, len,
	         "apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s, labels: {app: "
	         "s%d}}\nstatus: {podIP: 10.1.0.%d, phase: Running, conditions: [{type: Ready, "
	         "status: \"True\"}]}\n",
	         name, ns, ip % 3, ip);
}

static enum svc_status
put(struct etcdgroups *g, const char *key, const char *value, uint64_t rev, bool mark,
    struct diag *d)
{
	return etcdgroups_put(g, key, (const uint8_t *)value, strlen(value), rev, mark, d);
}

static struct cluster *
snap(struct store *s, struct diag *d)
{
	struct cluster *c = NULL;

	assert_int_equal(store_snapshot(s, d, &c), SVC_OK);
	assert_non_null(c);
	return c;
}

static const char *
pod_ip(const struct cluster *c, const char *name)
{
	for (size_t i = 0; i < c->n_pods; i++)
		if (strcmp(c->pods[i]->meta.name, name) == 0)
			return c->pods[i]->pod_ip_text;
	return NULL;
}

static void
test_groups(void **state)
{
	struct store *s;
	struct etcdgroups *g;
	struct diag d;
	struct cluster *c;
	char key[64], val[512], name[16];
	(void)state;

	diag_init(&d);
	assert_int_equal(store_create(&cfg, &s), SVC_OK);
	assert_int_equal(etcdgroups_create(s, P, 2, &g), SVC_OK);
	/* A list: keys in order, groups of 2. */
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		snprintf(key, sizeof(key), P "/pods/a/%s", name);
		pod_value(val, sizeof(val), "a", name, i + 1);
		assert_int_equal(put(g, key, val, 10 + (uint64_t)i, false, &d), SVC_OK);
	}
	assert_int_equal(etcdgroups_flush(g, &d), SVC_OK);
	assert_int_equal(store_units(s), 3);
	assert_int_equal(etcdgroups_rev(g, P "/pods/a/p3", false), 13);
	assert_int_equal(etcdgroups_rev(g, P "/pods/a/p9", false), 0);
	c = snap(s, &d);
	assert_int_equal(c->n_pods, 5);
	cluster_unref(c);

	/* p3 turns invalid: reported, failing, its last good version serves. */
	assert_int_equal(put(g, P "/pods/a/p3",
	                     "apiVersion: v1\nkind: Pod\nmetadata: {name: p3, namespace: a}\n"
	                     "status: {podIP: 10.1.0.999}\n",
	                     20, false, &d),
	                 SVC_EINVAL);
	assert_true(d.errors > 0);
	assert_int_equal(etcdgroups_flush(g, &d), SVC_OK);
	assert_int_equal(store_failing(s), 1);
	assert_int_equal(etcdgroups_rev(g, P "/pods/a/p3", false), 20);
	c = snap(s, &d);
	assert_string_equal(pod_ip(c, "p3"), "10.1.0.4");
	cluster_unref(c);
	/* A key naming another object is invalid too. */
	pod_value(val, sizeof(val), "a", "other", 7);
	assert_int_equal(put(g, P "/pods/a/p6", val, 21, false, &d), SVC_EINVAL);
	assert_int_equal(store_failing(s), 2);
	/* Put right, and one added and one deleted in the same flush. */
	pod_value(val, sizeof(val), "a", "p3", 33);
	assert_int_equal(put(g, P "/pods/a/p3", val, 22, false, &d), SVC_OK);
	pod_value(val, sizeof(val), "a", "p25", 25);
	assert_int_equal(put(g, P "/pods/a/p25", val, 23, false, &d), SVC_OK);
	assert_int_equal(etcdgroups_delete(g, P "/pods/a/p0"), SVC_OK);
	assert_int_equal(etcdgroups_delete(g, P "/pods/a/p6"), SVC_OK);
	assert_int_equal(etcdgroups_flush(g, &d), SVC_OK);
	assert_int_equal(store_failing(s), 0);
	c = snap(s, &d);
	assert_int_equal(c->n_pods, 5);
	assert_string_equal(pod_ip(c, "p3"), "10.1.0.33");
	assert_string_equal(pod_ip(c, "p25"), "10.1.0.25");
	assert_null(pod_ip(c, "p0"));
	cluster_unref(c);

	/* A list again meets p1 and p2 only: the rest is swept. p2's value changed meanwhile. */
	assert_int_equal(etcdgroups_rev(g, P "/pods/a/p1", true), 11);
	pod_value(val, sizeof(val), "a", "p2", 44);
	assert_int_equal(put(g, P "/pods/a/p2", val, 30, true, &d), SVC_OK);
	assert_int_equal(etcdgroups_flush(g, &d), SVC_OK);
	assert_int_equal(etcdgroups_sweep(g), SVC_OK);
	assert_int_equal(etcdgroups_flush(g, &d), SVC_OK);
	c = snap(s, &d);
	assert_int_equal(c->n_pods, 2);
	assert_string_equal(pod_ip(c, "p1"), "10.1.0.2");
	assert_string_equal(pod_ip(c, "p2"), "10.1.0.44");
	cluster_unref(c);
	/* Everything gone: no unit is left. */
	assert_int_equal(etcdgroups_delete(g, P "/pods/a/p1"), SVC_OK);
	assert_int_equal(etcdgroups_delete(g, P "/pods/a/p2"), SVC_OK);
	assert_int_equal(etcdgroups_flush(g, &d), SVC_OK);
	assert_int_equal(store_units(s), 0);
	etcdgroups_destroy(g);
	store_destroy(s);
	diag_deinit(&d);
}

/* ---- the property ---- */

#define N_KEYS 40

struct kv {
	char key[64];
	char value[600];
	uint64_t rev;     /* 0: absent */
	uint64_t ref_rev; /* the version the reference holds (0: none) */
};

/* A random value for key I: a service (random ClusterIP from a few, so claims collide) or a
 * pod; now and then an invalid one. */
static void
random_value(struct kv *e, int i)
{
	const char *ns = i % 2 ? "a" : "b";
	int r = rand() % 10;

	if (i < N_KEYS / 2) {
		snprintf(e->key, sizeof(e->key), P "/services/%s/s%02d", ns, i);
		snprintf(e->value, sizeof(e->value),
		         "apiVersion: v1\nkind: Service\nmetadata: {name: s%02d, namespace: %s, "
		         "annotations: {n: \"%d\"}}\nspec: {clusterIP: 10.96.0.%d, selector: {app: "
		         "s%d}, ports: [{name: p, port: %d}]}\n",
		         i, ns, rand() % 4, 1 + rand() % 6, rand() % 3,
		         r == 0 ? 70000 : 80 + rand() % 3);
	} else {
		snprintf(e->key, sizeof(e->key), P "/pods/%s/p%02d", ns, i);
		if (r == 0)
			snprintf(e->value, sizeof(e->value),
			         "kind: Pod\nmetadata: {name: wrong}\n");
		else {
			char name[16];

			snprintf(name, sizeof(name), "p%02d", i);
			pod_value(e->value, sizeof(e->value), ns, name, 1 + rand() % 200);
		}
	}
}

/* One unit per key, as the source was before groups. */
static void
ref_put(struct store *ref, const struct kv *e, struct diag *d)
{
	struct cluster_objects objs;
	enum svc_status st;

	cluster_objects_init(&objs);
	st = etcdobj_decode(P, e->key, (const uint8_t *)e->value, strlen(e->value), 0, &objs, d);
	assert_int_not_equal(store_put(ref, e->key, &objs, d, st != SVC_OK), SVC_ENOMEM);
	cluster_objects_deinit(&objs);
}

static void
same_kind(const struct cluster *a, const struct cluster *b, enum cluster_kind k, unsigned seed)
{
	void *const *x, *const *y;
	size_t nx, ny;

	switch (k) {
	case CLUSTER_KIND_SERVICE:
		x = (void *const *)a->services, nx = a->n_services;
		y = (void *const *)b->services, ny = b->n_services;
		break;
	case CLUSTER_KIND_POD:
		x = (void *const *)a->pods, nx = a->n_pods;
		y = (void *const *)b->pods, ny = b->n_pods;
		break;
	default:
		return;
	}
	if (nx != ny)
		fail_msg("seed %u: %zu %s objects grouped, %zu one unit per key", seed, nx,
		         schema_kinds[k].kind, ny);
	for (size_t i = 0; i < nx; i++) {
		const struct cluster_meta *ma = x[i], *mb = y[i];

		if (strcmp(ma->name, mb->name) || strcmp(ma->ns, mb->ns) ||
		    !schema_equal(schema_kinds[k].doc, x[i], y[i]))
			fail_msg("seed %u: %s %s/%s differs: %s %s since %llu/%llu", seed,
			         schema_kinds[k].kind, ma->ns, ma->name,
			         k == CLUSTER_KIND_SERVICE
			                 ? ((const struct cluster_service *)x[i])->cluster_ip_text
			                 : "",
			         k == CLUSTER_KIND_SERVICE
			                 ? ((const struct cluster_service *)y[i])->cluster_ip_text
			                 : "",
			         (unsigned long long)ma->since, (unsigned long long)mb->since);
		if (k == CLUSTER_KIND_SERVICE) {
			const struct cluster_service *sa = x[i], *sb = y[i];

			assert_int_equal(sa->n_cluster_ips, sb->n_cluster_ips);
			assert_true(netaddr_equal(&sa->cluster_ips[0], &sb->cluster_ips[0]));
			assert_int_equal(sa->n_endpoints, sb->n_endpoints);
		}
	}
}

static void
test_groups_equal_units(void **state)
{
	unsigned seed = getenv("SEED") ? (unsigned)atoi(getenv("SEED")) : (unsigned)time(NULL);
	struct kv etcd[N_KEYS];
	uint64_t rev = 1;
	struct store *s, *ref;
	struct etcdgroups *g;
	(void)state;

	srand(seed);
	memset(etcd, 0, sizeof(etcd));
	assert_int_equal(store_create(&cfg, &s), SVC_OK);
	assert_int_equal(store_create(&cfg, &ref), SVC_OK);
	assert_int_equal(etcdgroups_create(s, P, 1 + (size_t)(rand() % 4), &g), SVC_OK);
	for (int round = 0; round < 60; round++) {
		struct diag d, dr;
		struct cluster *a, *b;
		/* Some rounds the watch is down: etcd changes, the groups learn it from a list. */
		bool missed = rand() % 6 == 0;

		diag_init(&d);
		diag_init(&dr);
		for (int n = 1 + rand() % 12; n > 0; n--) {
			int i = rand() % N_KEYS;
			struct kv *e = &etcd[i];

			if (e->rev != 0 && rand() % 4 == 0) {
				e->rev = 0;
				if (missed)
					continue;
				assert_int_equal(etcdgroups_delete(g, e->key), SVC_OK);
				store_delete(ref, e->key);
				e->ref_rev = 0;
				continue;
			}
			random_value(e, i);
			e->rev = ++rev;
			if (missed)
				continue;
			assert_int_not_equal(put(g, e->key, e->value, e->rev, false, &d),
			                     SVC_ENOMEM);
			ref_put(ref, e, &dr);
			e->ref_rev = e->rev;
		}
		if (missed) {
			/* The list: every key in key order, unchanged ones skipped. */
			int order[N_KEYS];

			for (int i = 0; i < N_KEYS; i++)
				order[i] = i;
			for (int i = 0; i < N_KEYS; i++)
				for (int j = i + 1; j < N_KEYS; j++)
					if (etcd[order[j]].rev &&
					    (!etcd[order[i]].rev ||
					     strcmp(etcd[order[j]].key, etcd[order[i]].key) < 0)) {
						int t = order[i];

						order[i] = order[j];
						order[j] = t;
					}
			etcdgroups_unmark(g);
			for (int i = 0; i < N_KEYS && etcd[order[i]].rev; i++) {
				struct kv *e = &etcd[order[i]];

				if (etcdgroups_rev(g, e->key, true) != e->rev)
					assert_int_not_equal(
					        put(g, e->key, e->value, e->rev, true, &d),
					        SVC_ENOMEM);
				/* The reference lists as the source did with one unit per key. */
				if (e->ref_rev != e->rev) {
					ref_put(ref, e, &dr);
					e->ref_rev = e->rev;
				}
			}
			assert_int_equal(etcdgroups_flush(g, &d), SVC_OK);
			assert_int_equal(etcdgroups_sweep(g), SVC_OK);
			for (int i = 0; i < N_KEYS; i++)
				if (etcd[i].rev == 0 && etcd[i].ref_rev != 0) {
					store_delete(ref, etcd[i].key);
					etcd[i].ref_rev = 0;
				}
		}
		assert_int_equal(etcdgroups_flush(g, &d), SVC_OK);
		a = snap(s, &d);
		b = snap(ref, &dr);
		same_kind(a, b, CLUSTER_KIND_SERVICE, seed);
		same_kind(a, b, CLUSTER_KIND_POD, seed);
		assert_int_equal(store_failing(s), store_failing(ref));
		assert_int_equal(d.errors, dr.errors);
		cluster_unref(a);
		cluster_unref(b);
		diag_deinit(&d);
		diag_deinit(&dr);
	}
	etcdgroups_destroy(g);
	store_destroy(s);
	store_destroy(ref);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_groups),
	        cmocka_unit_test(test_groups_equal_units),
	};

	cluster_config_init(&cfg);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
