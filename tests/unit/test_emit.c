/* test_emit.c -- writing objects as YAML, and reading them back. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_yaml.h"

static struct cluster *
build(const char *yaml, struct diag *d)
{
	return tu_build_ok(yaml, NULL, d);
}

/* Dump every service, pod, Endpoints (generated views too unless USER_ONLY) and slice of C. */
static char *
dump_objects(const struct cluster *c, bool as_list, bool user_only)
{
	struct cluster_yaml_item *items;
	size_t n = 0, i, len = 0;
	char *out = NULL;

	items = calloc(c->n_services + c->n_pods + c->n_endpoints + c->n_slices + 1,
	               sizeof(*items));
	assert_non_null(items);
	for (i = 0; i < c->n_services; i++)
		items[n++] = (struct cluster_yaml_item){CLUSTER_KIND_SERVICE, c->services[i]};
	for (i = 0; i < c->n_pods; i++)
		items[n++] = (struct cluster_yaml_item){CLUSTER_KIND_POD, c->pods[i]};
	for (i = 0; i < c->n_endpoints; i++)
		if (!user_only || !c->endpoints[i]->generated)
			items[n++] =
			        (struct cluster_yaml_item){CLUSTER_KIND_ENDPOINTS, c->endpoints[i]};
	for (i = 0; i < c->n_slices; i++)
		items[n++] = (struct cluster_yaml_item){CLUSTER_KIND_ENDPOINTSLICE, c->slices[i]};
	assert_int_equal(cluster_yaml_dump(items, n, as_list, &out, &len), SVC_OK);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	free(items);
	return out;
}

static char *
dump_all(const struct cluster *c, bool as_list)
{
	return dump_objects(c, as_list, false);
}

static void
test_exact_output(void **state)
{
	struct diag d;
	struct cluster *c;
	char *out;

	(void)state;
	c = build("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	          "spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n"
	          "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n",
	          &d);
	out = dump_all(c, false);
	/* kubectl's key order; defaults filled in (status.loadBalancer {} as kubectl shows every
	 * service's); the documents separated by "---". */
	assert_string_equal(out, "apiVersion: v1\n"
	                         "kind: Service\n"
	                         "metadata:\n"
	                         "  name: web\n"
	                         "  namespace: default\n"
	                         "spec:\n"
	                         "  clusterIP: 10.96.0.10\n"
	                         "  clusterIPs:\n"
	                         "  - 10.96.0.10\n"
	                         "  internalTrafficPolicy: Cluster\n"
	                         "  ipFamilies:\n"
	                         "  - IPv4\n"
	                         "  ipFamilyPolicy: SingleStack\n"
	                         "  ports:\n"
	                         "  - port: 80\n"
	                         "    protocol: TCP\n"
	                         "    targetPort: 80\n"
	                         "  sessionAffinity: None\n"
	                         "  type: ClusterIP\n"
	                         "status:\n"
	                         "  loadBalancer: {}\n");
	free(out);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
check_same_service(const struct cluster_service *a, const struct cluster_service *b)
{
	size_t i;
	char x[NETADDR_STRLEN], y[NETADDR_STRLEN];

	assert_string_equal(a->meta.name, b->meta.name);
	assert_string_equal(a->meta.ns, b->meta.ns);
	assert_int_equal(a->meta.labels.n, b->meta.labels.n);
	for (i = 0; i < a->meta.labels.n; i++) {
		assert_string_equal(a->meta.labels.items[i].key, b->meta.labels.items[i].key);
		assert_string_equal(a->meta.labels.items[i].value, b->meta.labels.items[i].value);
	}
	assert_int_equal(a->meta.annotations.n, b->meta.annotations.n);
	for (i = 0; i < a->meta.annotations.n; i++)
		assert_string_equal(a->meta.annotations.items[i].value,
		                    b->meta.annotations.items[i].value);
	if (a->meta.created != NULL)
		assert_string_equal(a->meta.created, b->meta.created);
	assert_int_equal(a->meta.created_unix, b->meta.created_unix);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->headless, b->headless);
	assert_int_equal(a->n_cluster_ips, b->n_cluster_ips);
	for (i = 0; i < a->n_cluster_ips; i++)
		assert_string_equal(netaddr_str(&a->cluster_ips[i], x),
		                    netaddr_str(&b->cluster_ips[i], y));
	assert_int_equal(a->family_policy, b->family_policy);
	assert_int_equal(a->n_ports, b->n_ports);
	for (i = 0; i < a->n_ports; i++) {
		const struct cluster_port *p = &a->ports[i], *q = &b->ports[i];

		if (p->name != NULL)
			assert_string_equal(p->name, q->name);
		else
			assert_null(q->name);
		assert_int_equal(p->proto, q->proto);
		assert_int_equal(p->port, q->port);
		assert_int_equal(p->target_port, q->target_port);
		if (p->target_name != NULL)
			assert_string_equal(p->target_name, q->target_name);
		else
			assert_null(q->target_name);
		assert_int_equal(p->node_port, q->node_port);
		if (p->app_protocol != NULL)
			assert_string_equal(p->app_protocol, q->app_protocol);
	}
	assert_int_equal(a->selector.n, b->selector.n);
	assert_int_equal(a->affinity, b->affinity);
	assert_int_equal(a->affinity_timeout, b->affinity_timeout);
	assert_int_equal(a->external_policy, b->external_policy);
	assert_int_equal(a->internal_policy, b->internal_policy);
	assert_int_equal(a->publish_not_ready, b->publish_not_ready);
	if (a->external_name != NULL)
		assert_string_equal(a->external_name, b->external_name);
	assert_int_equal(a->n_external_ips_text, b->n_external_ips_text);
	assert_int_equal(a->n_ingress, b->n_ingress);
	assert_int_equal(a->n_endpoints, b->n_endpoints);
}

static const char *const rich =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n"
        "  creationTimestamp: \"2024-01-02T15:04:05Z\"\n"
        "  labels: {app: web, version: \"2\", enabled: \"true\", empty: \"\", hex: \"0x1F\", "
        "day: \"2024-01-01\", big: \"1_000\", word: \"on\", flt: \"1.5\", nul: \"null\"}\n"
        "  annotations:\n    note: \"a: b # not a comment\"\n    multi: \"line one\\nline two\"\n"
        "    tilde: \"~\"\n"
        "spec:\n  type: LoadBalancer\n  selector: {app: web}\n"
        "  externalTrafficPolicy: Local\n  sessionAffinity: ClientIP\n"
        "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}\n"
        "  externalIPs: [192.0.2.10]\n  publishNotReadyAddresses: true\n"
        "  ports:\n  - {name: http, port: 80, targetPort: http, appProtocol: http}\n"
        "  - {name: dns, port: 53, protocol: UDP, targetPort: \"53x\"}\n"
        "  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 5353, nodePort: 30053}\n"
        "status:\n  loadBalancer:\n    ingress: [{ip: 192.0.2.1}, {hostname: lb.example}]\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: hl, namespace: shop}\n"
        "spec: {clusterIP: None, selector: {app: web}}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: shop}\n"
        "spec: {type: ExternalName, externalName: db.example.com}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web-0\n  namespace: shop\n"
        "  labels: {app: web}\n  deletionTimestamp: \"2024-05-01T10:00:00Z\"\n"
        "spec:\n  hostname: web-0\n  subdomain: hl\n  nodeName: node-a\n  hostNetwork: false\n"
        "  containers:\n  - name: app\n    image: nginx\n    ports: [{name: http, containerPort: "
        "8080}]\n"
        "  initContainers:\n  - {name: side, restartPolicy: Always, ports: [{name: m, "
        "containerPort: 9090, protocol: UDP}]}\n"
        "status:\n  phase: Running\n  podIP: 10.244.0.5\n  podIPs: [{ip: 10.244.0.5}]\n"
        "  conditions: [{type: Ready, status: \"True\"}]\n"
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ext-1\n"
        "  namespace: shop\n  labels: {kubernetes.io/service-name: other}\naddressType: IPv4\n"
        "endpoints:\n- addresses: [10.1.0.1]\n  conditions: {ready: false, serving: true}\n"
        "  nodeName: n1\n  zone: z\nports: [{name: http, port: 8080, protocol: TCP}]\n";

static void
test_round_trip(void **state)
{
	struct diag d, d2;
	struct cluster *c, *c2;
	char *out;
	size_t i;

	(void)state;
	c = build(rich, &d);
	/* The controller's Endpoints views would only be ignored (with a warning) on reload. */
	out = dump_objects(c, false, true);
	/* Reading the output back gives the same objects, with nothing to warn about. */
	c2 = build(out, &d2);
	if (d2.n != 0) {
		tu_dump(&d2);
		fail_msg("warnings on reload:\n%s", out);
	}
	assert_int_equal(c2->n_services, c->n_services);
	for (i = 0; i < c->n_services; i++)
		check_same_service(c->services[i], c2->services[i]);
	assert_int_equal(c2->n_pods, 1);
	assert_string_equal(c2->pods[0]->meta.deleted, "2024-05-01T10:00:00Z");
	assert_string_equal(c2->pods[0]->node_name, "node-a");
	assert_string_equal(c2->pods[0]->subdomain, "hl");
	assert_int_equal(c2->pods[0]->phase, CLUSTER_POD_RUNNING);
	assert_true(c2->pods[0]->ready);
	assert_int_equal(c2->pods[0]->n_ips, 1);
	assert_string_equal(c2->pods[0]->init_containers[0].restart_policy, "Always");
	assert_int_equal(c2->pods[0]->init_containers[0].ports[0].proto, CLUSTER_UDP);
	assert_int_equal(c2->n_slices, 1);
	assert_int_equal(c2->slices[0]->endpoints[0].conditions.ready, CLUSTER_FALSE);
	assert_int_equal(c2->slices[0]->endpoints[0].conditions.serving, CLUSTER_TRUE);
	assert_int_equal(c2->slices[0]->endpoints[0].conditions.terminating, CLUSTER_NIL);
	assert_string_equal(c2->slices[0]->endpoints[0].zone, "z");
	/* A second round is byte for byte the same. */
	{
		char *again = dump_objects(c2, false, true);

		assert_string_equal(again, out);
		free(again);
	}
	free(out);
	cluster_unref(c2);
	cluster_unref(c);
	diag_deinit(&d2);
	diag_deinit(&d);
}

static void
test_endpoints_view(void **state)
{
	struct diag d, d2;
	struct cluster *c, *c2;
	struct cluster_yaml_item it;
	const struct cluster_endpoints *e;
	char *out;
	size_t len;

	(void)state;
	c = build(rich, &d);
	e = cluster_service_by_name(c, "shop", "web") != NULL ? c->endpoints[1] : NULL;
	assert_non_null(e);
	assert_string_equal(e->meta.name, "web");
	assert_true(e->generated);
	it = (struct cluster_yaml_item){CLUSTER_KIND_ENDPOINTS, e};
	assert_int_equal(cluster_yaml_dump(&it, 1, false, &out, &len), SVC_OK);
	/* The pod is terminating, but the service publishes not-ready addresses. The pod's
	 * hostname is for service hl (its subdomain), not this one. */
	assert_non_null(strstr(out, "subsets:\n"
	                            "- addresses:\n"
	                            "  - ip: 10.244.0.5\n"
	                            "    nodeName: node-a\n"
	                            "    targetRef:\n"
	                            "      kind: Pod\n"
	                            "      name: web-0\n"
	                            "      namespace: shop\n"
	                            "  ports:\n"
	                            "  - appProtocol: http\n"
	                            "    name: http\n"
	                            "    port: 8080\n"
	                            "    protocol: TCP\n"
	                            "  - name: dns-tcp\n"
	                            "    port: 5353\n"
	                            "    protocol: TCP\n"));
	/* The service's labels are copied. */
	assert_non_null(strstr(out, "    hex: \"0x1F\"\n"));
	/* Read back on its own it is a user Endpoints object with the same content. */
	c2 = build(out, &d2);
	assert_int_equal(d2.n, 0);
	assert_int_equal(c2->n_endpoints, 1);
	assert_false(c2->endpoints[0]->generated);
	assert_int_equal(c2->endpoints[0]->subsets[0].n_addresses, 1);
	assert_int_equal(c2->endpoints[0]->subsets[0].n_not_ready, 0);
	assert_string_equal(c2->endpoints[0]->subsets[0].addresses[0].target->name, "web-0");
	assert_int_equal(c2->endpoints[0]->subsets[0].n_ports, 2);
	assert_int_equal(c2->endpoints[0]->subsets[0].ports[0].port, 8080);
	free(out);
	cluster_unref(c2);
	diag_deinit(&d2);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_quoting(void **state)
{
	struct diag d;
	struct cluster *c;
	char *out;
	static const char *const quoted[] = {
	        "version: \"2\"",      "enabled: \"true\"", "empty: \"\"",  "hex: \"0x1F\"",
	        "day: \"2024-01-01\"", "big: \"1_000\"",    "word: \"on\"", "flt: \"1.5\"",
	        "nul: \"null\"",       "tilde: \"~\""};
	size_t i;

	(void)state;
	c = build(rich, &d);
	out = dump_all(c, false);
	for (i = 0; i < sizeof(quoted) / sizeof(quoted[0]); i++)
		if (strstr(out, quoted[i]) == NULL)
			fail_msg("missing %s in\n%s", quoted[i], out);
	/* Plain strings stay plain; numbers are numbers; names that are not numbers unquoted. */
	assert_non_null(strstr(out, "    app: web\n"));
	assert_non_null(strstr(out, "    targetPort: 53x\n"));
	assert_non_null(strstr(out, "    targetPort: 5353\n"));
	assert_non_null(strstr(out, "    nodePort: 30053\n"));
	assert_non_null(strstr(out, "      timeoutSeconds: 600\n"));
	assert_non_null(strstr(out, "  publishNotReadyAddresses: true\n"));
	assert_non_null(strstr(out, "  - status: \"True\"\n"));
	assert_non_null(strstr(out, "    type: Ready\n"));
	assert_non_null(strstr(out, "    serving: true\n"));
	assert_non_null(strstr(out, "    ready: false\n"));
	/* Computed and defaulted values are written. */
	assert_non_null(strstr(out, "  externalTrafficPolicy: Local\n"));
	assert_non_null(strstr(out, "  clusterIP: None\n"));
	free(out);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_quoted_number_target_port(void **state)
{
	struct cluster_service s;
	struct cluster_port p;
	struct cluster_yaml_item it = {CLUSTER_KIND_SERVICE, &s};
	char *out;
	size_t len;

	(void)state;
	/* A named port that looks like a number must stay a name. */
	memset(&s, 0, sizeof(s));
	memset(&p, 0, sizeof(p));
	s.meta.name = "x";
	s.meta.ns = "default";
	p.port = 80;
	p.target_name = "8080";
	s.ports = &p;
	s.n_ports = 1;
	assert_int_equal(cluster_yaml_dump(&it, 1, false, &out, &len), SVC_OK);
	assert_non_null(strstr(out, "    targetPort: \"8080\"\n"));
	free(out);
}

static void
test_as_list(void **state)
{
	struct diag d, d2;
	struct cluster *c, *c2;
	char *out;
	size_t len;

	(void)state;
	c = build("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
	          "spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n"
	          "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
	          &d);
	out = dump_all(c, true);
	assert_int_equal(
	        strncmp(out, "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Service\n", 55), 0);
	assert_non_null(strstr(out, "\n- apiVersion: v1\n  kind: Pod\n"));
	/* One document only, ending with the kind. */
	assert_null(strstr(out, "---"));
	len = strlen(out);
	assert_string_equal(out + len - 11, "kind: List\n");
	c2 = build(out, &d2);
	assert_int_equal(d2.n, 0);
	assert_int_equal(c2->n_services, 1);
	assert_true(c2->services[0]->meta.origin.in_list);
	assert_int_equal(c2->n_pods, 1);
	free(out);
	cluster_unref(c2);
	diag_deinit(&d2);
	cluster_unref(c);
	diag_deinit(&d);

	/* Nothing to write. */
	assert_int_equal(cluster_yaml_dump(NULL, 0, true, &out, &len), SVC_OK);
	assert_string_equal(out, "apiVersion: v1\nitems: []\nkind: List\n");
	free(out);
	assert_int_equal(cluster_yaml_dump(NULL, 0, false, &out, &len), SVC_OK);
	assert_string_equal(out, "");
	assert_int_equal(len, 0);
	free(out);
}

/* An ExternalName has no IP family policy, so none is written; other types get the default. */
static void
test_external_name_fields(void **state)
{
	struct diag d;
	struct cluster *c;
	char *out;
	const char *ext;

	(void)state;
	c = build("apiVersion: v1\nkind: Service\nmetadata: {name: ext}\n"
	          "spec: {type: ExternalName, externalName: db.example.com}\n"
	          "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	          "spec: {ports: [{port: 80}]}\n",
	          &d);
	out = dump_all(c, false);
	ext = "apiVersion: v1\nkind: Service\nmetadata:\n  name: ext\n"
	      "  namespace: default\nspec:\n  externalName: db.example.com\n"
	      "  sessionAffinity: None\n  type: ExternalName\nstatus:\n  loadBalancer: {}\n---\n";
	assert_int_equal(strncmp(out, ext, strlen(ext)), 0);
	assert_non_null(strstr(out + strlen(ext), "  ipFamilyPolicy: SingleStack\n"));
	free(out);
	cluster_unref(c);
	diag_deinit(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exact_output),
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_endpoints_view),
	        cmocka_unit_test(test_quoting),
	        cmocka_unit_test(test_quoted_number_target_port),
	        cmocka_unit_test(test_as_list),
	        cmocka_unit_test(test_external_name_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
