/* test_etcdobj.c -- the cluster's layout in etcd: keys, values, claims and settings. */
#include <stdlib.h>
#include <string.h>

#include "etcdobj.h"
#include "testutil.h"

static void
test_keys(void **state)
{
	char buf[ETCDOBJ_KEY_MAX], ns[ETCDOBJ_KEY_MAX], name[ETCDOBJ_KEY_MAX];
	enum cluster_kind k;
	static const char *const other[] = {
	        "/svcdns/services/shop",         /* no name */
	        "/svcdns/services//web",         /* an empty namespace */
	        "/svcdns/services/shop/web/x",   /* too deep */
	        "/svcdns/gadgets/shop/web",      /* not a resource */
	        "/svcdns/namespaces/shop/extra", /* namespaces have no namespace */
	        "/svcdns/",                      /* the prefix alone */
	};
	(void)state;

	assert_true(etcdobj_key("/svcdns", CLUSTER_KIND_SERVICE, "shop", "web", buf));
	assert_string_equal(buf, "/svcdns/services/shop/web");
	assert_true(etcdobj_key("/p", CLUSTER_KIND_NAMESPACE, "ignored", "shop", buf));
	assert_string_equal(buf, "/p/namespaces/shop");
	assert_true(etcdobj_range("/p", CLUSTER_KIND_POD, "shop", buf));
	assert_string_equal(buf, "/p/pods/shop/");
	assert_true(etcdobj_range("/p", -1, NULL, buf));
	assert_string_equal(buf, "/p/");

	assert_int_equal(etcdobj_key_parse("/svcdns", "/svcdns/endpointslices/shop/web-abc", 35, &k,
	                                   ns, name),
	                 ETCDOBJ_OBJECT);
	assert_int_equal(k, CLUSTER_KIND_ENDPOINTSLICE);
	assert_string_equal(ns, "shop");
	assert_string_equal(name, "web-abc");
	assert_int_equal(etcdobj_key_parse("/svcdns", "/svcdns/namespaces/shop", 23, &k, ns, name),
	                 ETCDOBJ_OBJECT);
	assert_int_equal(k, CLUSTER_KIND_NAMESPACE);
	assert_string_equal(name, "shop");
	assert_int_equal(etcdobj_key_parse("/svcdns", "/svcdns/config", 14, &k, ns, name),
	                 ETCDOBJ_CONFIG);
	assert_int_equal(etcdobj_key_parse("/svcdns", "/svcdns/claims/clusterips/10.96.0.1", 35, &k,
	                                   ns, name),
	                 ETCDOBJ_CLAIM);
	assert_int_equal(etcdobj_key_parse("/svcdns", "/svcdnsx/services/a/b", 21, &k, ns, name),
	                 ETCDOBJ_OUTSIDE);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		assert_int_equal(
		        etcdobj_key_parse("/svcdns", other[i], strlen(other[i]), &k, ns, name),
		        ETCDOBJ_UNKNOWN);
}

static enum svc_status
decode(const char *key, const char *value, struct diag *d)
{
	struct cluster_objects o;
	enum svc_status st;

	cluster_objects_init(&o);
	st = etcdobj_decode("/svcdns", key, (const uint8_t *)value, strlen(value), 42, &o, d);
	if (st == SVC_OK) {
		assert_int_equal(o.n_services + o.n_pods + o.n_namespaces, 1);
		if (o.n_services == 1)
			assert_string_equal(o.services[0]->meta.resource_version, "42");
	}
	cluster_objects_deinit(&o);
	return st;
}

static void
test_decode(void **state)
{
	struct diag d;
	(void)state;

	diag_init(&d);
	/* YAML, and JSON. */
	assert_int_equal(decode("/svcdns/services/shop/web",
	                        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: "
	                        "shop}\nspec: {ports: [{port: 80}]}\n",
	                        &d),
	                 SVC_OK);
	assert_int_equal(
	        decode("/svcdns/pods/default/p",
	               "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": "
	               "{\"name\": \"p\"}, \"spec\": {\"containers\": [{\"name\": \"c\"}]}}",
	               &d),
	        SVC_OK);
	assert_int_equal(d.errors, 0);
	/* The key names another object. */
	assert_int_equal(decode("/svcdns/services/shop/other",
	                        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: "
	                        "shop}\nspec: {ports: [{port: 80}]}\n",
	                        &d),
	                 SVC_EINVAL);
	tu_diag_expect(&d, DIAG_ERROR, "metadata", "the key names shop/other");
	/* Another kind than the key's, two objects, an invalid field: named by key and line. */
	assert_int_equal(decode("/svcdns/pods/shop/web",
	                        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: "
	                        "shop}\nspec: {ports: [{port: 80}]}\n",
	                        &d),
	                 SVC_EINVAL);
	tu_diag_expect(&d, DIAG_ERROR, "kind", "holds one Pod");
	assert_int_equal(decode("/svcdns/namespaces/a",
	                        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
	                        "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
	                        &d),
	                 SVC_EINVAL);
	tu_diag_expect(&d, DIAG_ERROR, "kind", "2 objects");
	assert_int_equal(decode("/svcdns/services/shop/web",
	                        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: "
	                        "shop}\nspec:\n  ports: [{port: 80}]\n  bogus: 1\n",
	                        &d),
	                 SVC_OK); /* an unknown field is a warning, reported */
	/* A value over ETCDOBJ_VALUE_MAX is reported, never parsed. */
	{
		size_t n = ETCDOBJ_VALUE_MAX + 1;
		char *big = malloc(n + 1);
		struct cluster_objects o;

		assert_non_null(big);
		memset(big, '#', n); /* a comment: parsed, it would be an empty document */
		big[n] = '\0';
		cluster_objects_init(&o);
		assert_int_equal(
		        etcdobj_decode("/svcdns", "/svcdns/pods/a/b", (uint8_t *)big, n, 0, &o, &d),
		        SVC_EINVAL);
		tu_diag_expect(&d, DIAG_ERROR, NULL, "at most");
		cluster_objects_deinit(&o);
		free(big);
	}
	const struct diag_entry *e =
	        tu_diag_expect(&d, DIAG_WARNING, "spec.bogus", "unknown field");
	assert_string_equal(e->file, "/svcdns/services/shop/web");
	assert_int_equal(e->line, 6);
	diag_deinit(&d);
}

static void
test_claims(void **state)
{
	struct diag d;
	struct cluster *c =
	        tu_build_ok("apiVersion: v1\nkind: Service\nmetadata: {name: lb}\n"
	                    "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
	                    "  clusterIP: 10.96.0.5\n  ports:\n"
	                    "  - {name: a, port: 53, protocol: UDP, nodePort: 30053}\n"
	                    "  - {name: b, port: 53, protocol: TCP, nodePort: 30053}\n"
	                    "  healthCheckNodePort: 30100\n"
	                    "status: {loadBalancer: {ingress: [{ip: 192.0.2.7}]}}\n",
	                    NULL, &d);
	char keys[ETCDOBJ_MAX_CLAIMS][ETCDOBJ_KEY_MAX];
	size_t n;
	(void)state;

	etcdobj_claims("/p", cluster_service_by_name(c, "default", "lb"), keys, &n);
	assert_int_equal(n, 5);
	assert_string_equal(keys[0], "/p/claims/clusterips/10.96.0.5");
	assert_string_equal(keys[1], "/p/claims/nodeports/udp/30053");
	assert_string_equal(keys[2], "/p/claims/nodeports/tcp/30053");
	assert_string_equal(keys[3], "/p/claims/nodeports/health/30100");
	assert_string_equal(keys[4], "/p/claims/lbips/192.0.2.7");
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_config(void **state)
{
	struct etcdobj_config a, b, flags;
	char err[256], *s;
	(void)state;

	cluster_config_init(&a.cfg);
	assert_int_equal(cluster_config_set_cidrs(&a.cfg, "10.0.0.0/16,fd00::/108"), SVC_OK);
	assert_int_equal(cluster_config_set_lb_pools(&a.cfg, "192.0.2.0/24"), SVC_OK);
	snprintf(a.domain, sizeof(a.domain), "corp.example");
	s = etcdobj_config_dump(&a);
	assert_non_null(s);
	assert_int_equal(etcdobj_config_parse((uint8_t *)s, strlen(s), &b, err, sizeof(err)),
	                 SVC_OK);
	free(s);
	assert_memory_equal(&a.cfg, &b.cfg, sizeof(a.cfg));
	assert_string_equal(b.domain, "corp.example");
	/* Flags left at their defaults take the store's; one that differs is an error. */
	cluster_config_init(&flags.cfg);
	snprintf(flags.domain, sizeof(flags.domain), "cluster.local");
	assert_false(etcdobj_config_differs(&flags, &b, err, sizeof(err)));
	assert_int_equal(cluster_config_set_cidrs(&flags.cfg, "10.1.0.0/16"), SVC_OK);
	assert_true(etcdobj_config_differs(&flags, &b, err, sizeof(err)));
	assert_non_null(strstr(err, "serviceCIDR \"10.1.0.0/16\" (flag)"));
	/* Bad values name their field. */
	assert_int_equal(etcdobj_config_parse((const uint8_t *)"{\"nodePortRange\": \"9-2\"}", 24,
	                                      &b, err, sizeof(err)),
	                 SVC_EINVAL);
	assert_non_null(strstr(err, "nodePortRange"));
	assert_int_equal(etcdobj_config_parse((const uint8_t *)"{\"color\": \"blue\"}", 17, &b, err,
	                                      sizeof(err)),
	                 SVC_EINVAL);
	assert_non_null(strstr(err, "color: unknown field"));
	assert_int_equal(etcdobj_config_parse((const uint8_t *)"[1", 2, &b, err, sizeof(err)),
	                 SVC_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_keys),
	        cmocka_unit_test(test_decode),
	        cmocka_unit_test(test_claims),
	        cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
