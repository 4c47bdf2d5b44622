/* test_dnsz_pods.c -- the zone knows its snapshot's pods by address (dnsz_pod_ns), for the
 * recursion ACL and autopath: which namespace a client address is a pod of. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsz.h"
#include "dnstu.h"

#define POD(ns, name, extra_spec, status)                                                          \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: " name ", namespace: " ns "}\n"          \
	"spec:\n  containers: [{name: c, image: x}]\n" extra_spec "status:\n" status

static const char *const pods[] = {
        POD("shop", "web", "", "  podIP: 10.244.0.5\n"),
        /* Dual stack: both addresses. */
        POD("shop", "dual", "",
            "  podIP: 10.244.0.6\n  podIPs: [{ip: 10.244.0.6}, {ip: \"fd00:244::6\"}]\n"),
        /* Not ready still has its address. */
        POD("bank", "slow", "",
            "  podIP: 10.244.1.1\n  conditions: [{type: Ready, status: \"False\"}]\n"),
        /* On the host network: the node's address, no pod's. */
        POD("bank", "agent", "  hostNetwork: true\n", "  podIP: 192.168.0.10\n"),
        /* Finished: its address is free again, here taken by a pod sorting after it. */
        POD("aaa", "job", "", "  phase: Succeeded\n  podIP: 10.244.2.2\n"),
        POD("aaa", "crashed", "", "  phase: Failed\n  podIP: 10.244.2.3\n"),
        POD("zzz", "reuser", "", "  phase: Running\n  podIP: 10.244.2.2\n"),
        /* Two live pods claiming one address: the first in snapshot order. */
        POD("mmm", "second", "", "  podIP: 10.244.3.3\n"),
        POD("bank", "first", "", "  podIP: 10.244.3.3\n"),
        /* No address yet. */
        POD("shop", "pending", "", "  phase: Pending\n"),
};

static const char *
ns_of(const struct dnsz *z, const char *ip)
{
	struct netaddr a;

	assert_int_equal(netaddr_parse(&a, ip), SVC_OK);
	return dnsz_pod_ns(z, &a);
}

static void
test_pod_ns(void **state)
{
	char yaml[4096] = "";
	struct cluster *c;
	struct dnsz *z;

	(void)state;
	for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
		assert_true(strlen(yaml) + strlen(pods[i]) < sizeof(yaml));
		strcat(yaml, pods[i]);
	}
	z = dt_build_zone(yaml, DT_ZONE, DT_TTL, &c);
	/* The zone keeps no reference to the snapshot: its strings are its own. */
	cluster_unref(c);
	assert_string_equal(ns_of(z, "10.244.0.5"), "shop");
	assert_string_equal(ns_of(z, "10.244.0.6"), "shop");
	assert_string_equal(ns_of(z, "fd00:244::6"), "shop");
	assert_string_equal(ns_of(z, "10.244.1.1"), "bank");
	assert_null(ns_of(z, "192.168.0.10"));
	assert_string_equal(ns_of(z, "10.244.2.2"), "zzz");
	assert_null(ns_of(z, "10.244.2.3"));
	assert_string_equal(ns_of(z, "10.244.3.3"), "bank");
	/* Not pods. */
	assert_null(ns_of(z, "10.244.0.7"));
	assert_null(ns_of(z, "10.96.0.10"));
	assert_null(ns_of(z, "fd00:244::5"));
	dnsz_unref(z);
}

static void
test_pod_ns_fixture_and_placeholder(void **state)
{
	struct dnsz_options opts = {.domain = DT_ZONE, .ttl = DT_TTL};
	struct dnsz *z;

	(void)state;
	/* DT_FIXTURE's web-0 and web-1 (not ready); endpoints that are no pods are not known. */
	assert_string_equal(ns_of(dt_zone, "10.244.0.5"), "testns");
	assert_string_equal(ns_of(dt_zone, "10.244.0.6"), "testns");
	assert_null(ns_of(dt_zone, "172.0.0.1"));
	/* Before the first model, no pods. */
	assert_int_equal(dnsz_build(NULL, &opts, &z), SVC_OK);
	assert_null(ns_of(z, "10.244.0.5"));
	dnsz_unref(z);
}

/* Many pods: each found, in its own namespace. */
static void
test_pod_ns_many(void **state)
{
	char *yaml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);
	struct cluster *c;
	struct dnsz *z;
	char ip[32], ns[16];

	(void)state;
	assert_non_null(f);
	for (int i = 0; i < 3000; i++)
		fprintf(f,
		        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%d, namespace: ns%d}\n"
		        "spec:\n  containers: [{name: c, image: x}]\nstatus:\n  podIP: "
		        "10.2.%d.%d\n",
		        i, i % 7, i / 200, i % 200 + 1);
	assert_int_equal(fclose(f), 0);
	z = dt_build_zone(yaml, DT_ZONE, DT_TTL, &c);
	for (int i = 0; i < 3000; i++) {
		snprintf(ip, sizeof(ip), "10.2.%d.%d", i / 200, i % 200 + 1);
		snprintf(ns, sizeof(ns), "ns%d", i % 7);
		assert_string_equal(ns_of(z, ip), ns);
	}
	assert_null(ns_of(z, "10.2.15.1"));
	dnsz_unref(z);
	cluster_unref(c);
	free(yaml);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pod_ns),
	        cmocka_unit_test(test_pod_ns_fixture_and_placeholder),
	        cmocka_unit_test(test_pod_ns_many),
	};

	return cmocka_run_group_tests(tests, dt_setup, dt_teardown);
}
