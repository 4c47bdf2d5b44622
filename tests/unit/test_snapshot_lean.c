/* test_snapshot_lean.c -- what the daemons' snapshots leave out (the Endpoints view) and how
 * they look names up (binary search over the sorted arrays, no per-shard tables). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "cluster.h"

static const char *const manifests =
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: b}\n"
        "spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: b}\n"
        "spec: {ports: [{port: 53}]}\n"
        "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: ext, namespace: b}\n"
        "subsets: [{addresses: [{ip: 192.0.2.9}], ports: [{port: 53}]}]\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: a}\n"
        "spec: {selector: {app: web}, ports: [{port: 80}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: w1, namespace: b, labels: {app: web}}\n"
        "status: {podIP: 10.0.0.2, conditions: [{type: Ready, status: \"True\"}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: w0, namespace: b, labels: {app: web}}\n"
        "status: {podIP: 10.0.0.1, conditions: [{type: Ready, status: \"True\"}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: w0, namespace: a, labels: {app: web}}\n"
        "status: {podIP: 10.0.1.1}\n";

static size_t
generated(const struct cluster *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_endpoints; i++)
		n += c->endpoints[i]->generated;
	return n;
}

static void
test_skip_view(void **state)
{
	struct cluster_config cfg;
	struct diag d;
	struct cluster *full, *lean;

	(void)state;
	cluster_config_init(&cfg);
	diag_init(&d);
	full = tu_build_ok(manifests, &cfg, &d);
	cfg.skip_endpoints_view = true;
	lean = tu_build_ok(manifests, &cfg, &d);
	/* svcctl's view: one generated object per selector service, plus the loaded one. */
	assert_int_equal(full->n_endpoints, 3);
	assert_int_equal(generated(full), 2);
	/* Without it: the loaded Endpoints object alone. */
	assert_int_equal(lean->n_endpoints, 1);
	assert_int_equal(generated(lean), 0);
	assert_string_equal(lean->endpoints[0]->meta.name, "ext");
	/* What the daemons read is the same. */
	assert_int_equal(lean->n_services, full->n_services);
	for (size_t i = 0; i < full->n_services; i++) {
		const struct cluster_service *a = full->services[i], *b = lean->services[i];

		assert_string_equal(a->meta.name, b->meta.name);
		assert_int_equal(a->n_endpoints, b->n_endpoints);
		for (size_t k = 0; k < a->n_endpoints; k++) {
			assert_true(netaddr_equal(&a->endpoints[k].ip, &b->endpoints[k].ip));
			assert_int_equal(a->endpoints[k].ready, b->endpoints[k].ready);
			assert_int_equal(a->endpoints[k].ports[0], b->endpoints[k].ports[0]);
		}
		for (size_t p = 0; p < a->n_ports; p++)
			assert_int_equal(cluster_endpoint_count(a, p, true),
			                 cluster_endpoint_count(b, p, true));
	}
	cluster_unref(full);
	cluster_unref(lean);
	diag_deinit(&d);
}

static void
test_names(void **state)
{
	struct cluster_config cfg;
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	const struct cluster_pod *p;

	(void)state;
	cluster_config_init(&cfg);
	diag_init(&d);
	c = tu_build_ok(manifests, &cfg, &d);
	s = cluster_service_by_name(c, "b", "web");
	assert_non_null(s);
	assert_string_equal(s->meta.ns, "b");
	assert_int_equal(s->n_endpoints, 2);
	s = cluster_service_by_name(c, "a", "web");
	assert_non_null(s);
	assert_string_equal(s->meta.ns, "a");
	assert_non_null(cluster_service_by_name(c, "b", "ext"));
	assert_null(cluster_service_by_name(c, "a", "ext"));
	assert_null(cluster_service_by_name(c, "c", "web"));
	assert_null(cluster_service_by_name(c, "b", "zz"));
	assert_null(cluster_service_by_name(c, "", ""));
	p = cluster_pod_by_name(c, "b", "w1");
	assert_non_null(p);
	assert_string_equal(p->meta.ns, "b");
	assert_string_equal(p->meta.name, "w1");
	p = cluster_pod_by_name(c, "a", "w0");
	assert_non_null(p);
	assert_string_equal(p->meta.ns, "a");
	assert_null(cluster_pod_by_name(c, "a", "w1"));
	assert_null(cluster_pod_by_name(c, "b", "web"));
	/* Every object is found by its own name. */
	for (size_t i = 0; i < c->n_pods; i++)
		assert_ptr_equal(cluster_pod_by_name(c, c->pods[i]->meta.ns, c->pods[i]->meta.name),
		                 c->pods[i]);
	for (size_t i = 0; i < c->n_services; i++)
		assert_ptr_equal(cluster_service_by_name(c, c->services[i]->meta.ns,
		                                         c->services[i]->meta.name),
		                 c->services[i]);
	cluster_unref(c);
	diag_deinit(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_skip_view),
	        cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
