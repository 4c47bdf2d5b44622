/* test_validate.c -- one test per validation rule of cluster/validate.c. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC(name) "apiVersion: v1\nkind: Service\nmetadata:\n  name: " name "\n"
#define PORT80    "  ports:\n  - port: 80\n"

/* Build YAML that must be rejected; D keeps the problems. */
static void
invalid(const char *yaml, const struct cluster_config *cfg, struct diag *d)
{
	struct cluster *c;

	diag_init(d);
	c = tu_build(yaml, cfg, d);
	if (c != NULL) {
		cluster_unref(c);
		fail_msg("accepted invalid manifests");
	}
	assert_true(d->errors > 0);
}

/* Build YAML that must be accepted. */
static struct cluster *
valid(const char *yaml, const struct cluster_config *cfg, struct diag *d)
{
	struct cluster *c = tu_build_ok(yaml, cfg, d);

	assert_int_equal(d->errors, 0);
	return c;
}

static void
check_valid(const char *yaml, const struct cluster_config *cfg)
{
	struct diag d;

	cluster_unref(valid(yaml, cfg, &d));
	diag_deinit(&d);
}

/* The one error of YAML must be at FIELD, say NEEDLE, and sit at LINE (when not 0). */
static void
check_error(const char *yaml, const struct cluster_config *cfg, const char *field,
            const char *needle, uint32_t line)
{
	struct diag d;
	const struct diag_entry *e;

	invalid(yaml, cfg, &d);
	e = tu_diag_expect(&d, DIAG_ERROR, field, needle);
	if (line != 0)
		assert_int_equal(e->line, line);
	assert_string_equal(e->file, "test.yaml");
	if (d.errors != 1) {
		tu_dump(&d);
		fail_msg("expected one error, got %zu", d.errors);
	}
	diag_deinit(&d);
}

static struct cluster_config
dual_cfg(void)
{
	struct cluster_config cfg;

	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.96.0.0/12,fd00:10:96::/108"), SVC_OK);
	return cfg;
}

/* ---- metadata ----------------------------------------------------------------------------- */

static void
test_service_name_dns1035(void **state)
{
	static const char *const bad[] = {
	        "1web", "Web", "web_1", "web-", "-web", "web.svc", "\"\"",
	        /* 64 characters: one too many */
	        "a234567890123456789012345678901234567890123456789012345678901234"};
	char yaml[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), SVC("%s") "spec:\n" PORT80, bad[i]);
		check_error(yaml, NULL, "metadata.name", "a DNS-1035 label must consist of", 4);
	}
	check_valid(SVC("a") "spec:\n" PORT80, NULL);
	check_valid(SVC("web-1") "spec:\n" PORT80, NULL);
	check_valid(SVC("a2345678901234567890123456789012345678901234567890123456789012"
	                "3") "spec:\n" PORT80,
	            NULL);
}

static void
test_object_name_subdomain(void **state)
{
	(void)state;
	check_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: Pod_1\n", NULL, "metadata.name",
	            "a lowercase RFC 1123 subdomain must consist of", 4);
	check_error("apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: a..b\n", NULL,
	            "metadata.name", "RFC 1123 subdomain", 4);
	check_error("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
	            "  name: -x\n  labels: {kubernetes.io/service-name: x}\naddressType: IPv4\n",
	            NULL, "metadata.name", "RFC 1123 subdomain", 4);
	/* Dots are fine in pod names, unlike service names. */
	check_valid("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web.0\n", NULL);
}

static void
test_namespace_label(void **state)
{
	(void)state;
	check_error(SVC("a") "  namespace: Prod\nspec:\n" PORT80, NULL, "metadata.namespace",
	            "Invalid value: \"Prod\": a lowercase RFC 1123 label", 5);
	check_error(SVC("a") "  namespace: a.b\nspec:\n" PORT80, NULL, "metadata.namespace",
	            "RFC 1123 label", 5);
	check_error("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team.a\n", NULL,
	            "metadata.name", "Invalid value: \"team.a\": a lowercase RFC 1123 label", 4);
	check_valid(SVC("a") "  namespace: team-1\nspec:\n" PORT80, NULL);
}

static void
test_creation_timestamp(void **state)
{
	(void)state;
	check_error(SVC("a") "  creationTimestamp: \"last tuesday\"\nspec:\n" PORT80, NULL,
	            "metadata.creationTimestamp",
	            "Invalid value: \"last tuesday\": expected an RFC 3339 time", 5);
	check_error(SVC("a") "  creationTimestamp: \"2024-13-01T00:00:00Z\"\nspec:\n" PORT80, NULL,
	            "metadata.creationTimestamp", "RFC 3339", 5);
	check_valid(SVC("a") "  creationTimestamp: \"2024-01-02T15:04:05Z\"\nspec:\n" PORT80, NULL);
}

static void
test_label_keys(void **state)
{
	struct diag d;
	const struct diag_entry *e;

	(void)state;
	invalid(SVC("a") "  labels:\n"
	                 "    \"-bad\": xa\n"               /* 6 */
	                 "    example.com/ok: ya\n"         /* 7 */
	                 "    Example.com/x: za\n"          /* 8 */
	                 "    a/b/c: da\n"                  /* 9 */
	                 "    \"/x\": ea\n"                 /* 10 */
	                 "    app.kubernetes.io/name: fa\n" /* 11 */
	                 "    My_Key.v2: ga\n"              /* 12 */
	                 "spec:\n" PORT80,
	        NULL, &d);
	e = tu_diag_expect(&d, DIAG_ERROR, "metadata.labels[-bad]",
	                   "a label key must be a qualified name");
	assert_int_equal(e->line, 6);
	assert_int_equal(e->col, 5);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "metadata.labels[Example.com/x]", "qualified")->line,
	        8);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "metadata.labels[a/b/c]", "qualified")->line, 9);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "metadata.labels[/x]", "qualified")->line,
	                 10);
	assert_int_equal(d.errors, 4);
	diag_deinit(&d);
}

static void
test_label_values(void **state)
{
	struct diag d;

	(void)state;
	invalid(SVC("a") "  labels:\n"
	                 "    a: \"bad value\"\n"
	                 "    b: -x\n"
	                 "    c: \"x-\"\n"
	                 "    d: "
	                 "\"a234567890123456789012345678901234567890123456789012345678901234\"\n"
	                 "    ok1: \"\"\n"
	                 "    ok2: A.b_c-9\n"
	                 "spec:\n"
	                 "  selector:\n"
	                 "    app: \"no/slash\"\n" PORT80,
	        NULL, &d);
	tu_diag_expect(&d, DIAG_ERROR, "metadata.labels[a]",
	               "Invalid value: \"bad value\": a label value must be empty or at most 63");
	tu_diag_expect(&d, DIAG_ERROR, "metadata.labels[b]", "label value");
	tu_diag_expect(&d, DIAG_ERROR, "metadata.labels[c]", "label value");
	tu_diag_expect(&d, DIAG_ERROR, "metadata.labels[d]", "label value");
	/* Selectors follow the same rules. */
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "spec.selector[app]", "label value")->line,
	                 14);
	assert_int_equal(d.errors, 5);
	diag_deinit(&d);
}

static void
test_label_duplicate(void **state)
{
	/* YAML cannot repeat a key, but a caller editing objects can. */
	const char *yaml = SVC("a") "  labels: {app: xa, tier: ya}\nspec:\n" PORT80;
	struct cluster_objects objs;
	struct cluster_config cfg;
	struct cluster *c = NULL;
	struct diag d;

	(void)state;
	diag_init(&d);
	cluster_config_init(&cfg);
	cluster_objects_init(&objs);
	cluster_objects_load_buffer(&objs, "test.yaml", yaml, strlen(yaml), &d);
	assert_int_equal(d.n, 0);
	objs.services[0]->meta.labels.items[1].key = "app";
	assert_int_equal(cluster_build(&objs, &cfg, &d, &c), SVC_EINVAL);
	assert_null(c);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "metadata.labels[app]", "Duplicate value")->line, 5);
	assert_int_equal(d.errors, 1);
	cluster_objects_deinit(&objs);
	diag_deinit(&d);
}

static void
test_duplicate_objects(void **state)
{
	const char *a = "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n"
	                "---\n" SVC("web") "spec:\n" PORT80;
	const char *b = "# second file\n" SVC("web") "spec:\n" PORT80 "---\n" SVC(
	        "web") "  namespace: prod\nspec:\n" PORT80
	               "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\n"
	               "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n";
	struct cluster_objects objs;
	struct cluster_config cfg;
	struct cluster *c = NULL;
	struct diag d;
	const struct diag_entry *e;

	(void)state;
	diag_init(&d);
	cluster_config_init(&cfg);
	cluster_objects_init(&objs);
	cluster_objects_load_buffer(&objs, "a.yaml", a, strlen(a), &d);
	cluster_objects_load_buffer(&objs, "b.yaml", b, strlen(b), &d);
	assert_int_equal(d.n, 0);
	assert_int_equal(cluster_build(&objs, &cfg, &d, &c), SVC_EINVAL);
	/* Reported at the second one, naming the first. */
	e = tu_diag_expect(&d, DIAG_ERROR, "metadata.name", "Duplicate value: service default/web");
	assert_string_equal(e->message,
	                    "Duplicate value: service default/web is already defined at a.yaml:5");
	assert_string_equal(e->file, "b.yaml");
	assert_int_equal(e->line, 5);
	assert_int_equal(e->col, 9);
	e = tu_diag_expect(&d, DIAG_ERROR, "metadata.name", "Duplicate value: namespace prod");
	assert_string_equal(e->message,
	                    "Duplicate value: namespace prod is already defined at a.yaml:1");
	assert_string_equal(e->file, "b.yaml");
	/* Same name in another namespace or of another kind is no duplicate. */
	assert_int_equal(d.errors, 2);
	cluster_objects_deinit(&objs);
	diag_deinit(&d);

	/* A dropped object does not count (svcctl apply replaces one). */
	diag_init(&d);
	cluster_objects_init(&objs);
	cluster_objects_load_buffer(&objs, "a.yaml", a, strlen(a), &d);
	cluster_objects_load_buffer(&objs, "b.yaml", b, strlen(b), &d);
	objs.services[0]->meta.dropped = true;
	objs.namespaces[1]->meta.dropped = true;
	assert_int_equal(cluster_build(&objs, &cfg, &d, &c), SVC_OK);
	assert_int_equal(c->n_services, 2);
	assert_string_equal(c->services[0]->meta.origin.file, "b.yaml");
	cluster_unref(c);
	cluster_objects_deinit(&objs);
	diag_deinit(&d);
}

/* ---- service ports ------------------------------------------------------------------------ */

static void
test_ports_required(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	/* Reported at the object, not at the spec or status mapping decoded into it. */
	check_error(SVC("a") "spec:\n  type: ClusterIP\n", NULL, "spec.ports", "Required value", 1);
	check_error(SVC("a") "spec:\n  type: ClusterIP\nstatus:\n  loadBalancer: {}\n", NULL,
	            "spec.ports", "Required value", 1);
	check_error(SVC("a") "spec:\n  type: NodePort\n  ports: []\n", NULL, "spec.ports",
	            "Required value", 7);
	/* Headless and ExternalName services need no ports. */
	c = valid(SVC("a") "spec:\n  clusterIP: None\n---\n" SVC(
	                  "b") "spec:\n  type: ExternalName\n  externalName: example.com\n",
	          NULL, &d);
	assert_int_equal(c->services[0]->n_ports, 0);
	assert_true(c->services[0]->headless);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_port_name_required(void **state)
{
	struct diag d;
	const struct diag_entry *e;

	(void)state;
	invalid(SVC("a") "spec:\n"
	                 "  ports:\n"
	                 "  - port: 80\n"   /* 7 */
	                 "  - port: 443\n", /* 8 */
	        NULL, &d);
	e = tu_diag_expect(
	        &d, DIAG_ERROR, "spec.ports[0].name",
	        "Required value: a name is required when a service has more than one port");
	assert_int_equal(e->line, 7);
	assert_int_equal(e->col, 5);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "spec.ports[1].name", "Required value")->line, 8);
	assert_int_equal(d.errors, 2);
	diag_deinit(&d);
	/* One port may go unnamed. */
	check_valid(SVC("a") "spec:\n  ports:\n  - port: 80\n", NULL);
}

static void
test_port_name_invalid(void **state)
{
	(void)state;
	check_error(SVC("a") "spec:\n  ports:\n  - name: HTTP\n    port: 80\n", NULL,
	            "spec.ports[0].name",
	            "Invalid value: \"HTTP\": a port name must be a lowercase RFC 1123 label", 7);
	check_error(SVC("a") "spec:\n  ports:\n  - name: http_alt\n    port: 80\n", NULL,
	            "spec.ports[0].name", "RFC 1123 label", 7);
	/* A port name may start with a digit (a DNS-1123 label). */
	check_valid(SVC("a") "spec:\n  ports:\n  - name: \"8080\"\n    port: 80\n", NULL);
}

static void
test_port_name_unique(void **state)
{
	(void)state;
	check_error(SVC("a") "spec:\n  ports:\n"
	                     "  - {name: http, port: 80}\n"
	                     "  - {name: http, port: 81}\n",
	            NULL, "spec.ports[1].name", "Duplicate value: \"http\"", 8);
}

static void
test_port_range(void **state)
{
	struct diag d;

	(void)state;
	invalid(SVC("a") "spec:\n  ports:\n"
	                 "  - {name: a, port: 0}\n"
	                 "  - {name: b, port: 65536}\n"
	                 "  - {name: c, port: -1}\n"
	                 "  - {name: d, port: 65535}\n"
	                 "  - {name: e, port: 1}\n",
	        NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "spec.ports[0].port",
	                                "Invalid value: 0: must be between 1 and 65535, inclusive")
	                         ->line,
	                 7);
	tu_diag_expect(&d, DIAG_ERROR, "spec.ports[1].port", "Invalid value: 65536");
	tu_diag_expect(&d, DIAG_ERROR, "spec.ports[2].port", "Invalid value: -1");
	assert_int_equal(d.errors, 3);
	diag_deinit(&d);
}

static void
test_port_protocol_duplicate(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	check_error(SVC("a") "spec:\n  ports:\n"
	                     "  - {name: a, port: 80}\n"
	                     "  - {name: b, port: 80, protocol: TCP}\n",
	            NULL, "spec.ports[1]", "Duplicate value: port 80/TCP is already spec.ports[0]",
	            8);
	/* The same number under two protocols is fine (kube-dns 53/UDP + 53/TCP). */
	c = valid(SVC("a") "spec:\n  ports:\n"
	                   "  - {name: dns, port: 53, protocol: UDP}\n"
	                   "  - {name: dns-tcp, port: 53, protocol: TCP}\n",
	          NULL, &d);
	assert_int_equal(c->services[0]->n_ports, 2);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_target_port_number(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	check_error(SVC("a") "spec:\n  ports:\n  - port: 80\n    targetPort: 70000\n", NULL,
	            "spec.ports[0].targetPort",
	            "Invalid value: 70000: must be between 1 and 65535, inclusive", 8);
	check_error(SVC("a") "spec:\n  ports:\n  - port: 80\n    targetPort: -8\n", NULL,
	            "spec.ports[0].targetPort", "Invalid value: -8", 8);
	/* Omitted (or 0): the port itself. */
	c = valid(SVC("a") "spec:\n  ports:\n  - {name: a, port: 80}\n"
	                   "  - {name: b, port: 81, targetPort: 0}\n"
	                   "  - {name: c, port: 82, targetPort: 9090}\n",
	          NULL, &d);
	assert_int_equal(c->services[0]->ports[0].target_port, 80);
	assert_int_equal(c->services[0]->ports[1].target_port, 81);
	assert_int_equal(c->services[0]->ports[2].target_port, 9090);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_target_port_name(void **state)
{
	static const char *const bad[] = {
	        "\"80\"", "http-alt-very-long", "a--b", "-ab", "ab-", "Http", "h_t"};
	char yaml[512];
	size_t i;
	struct diag d;
	struct cluster *c;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml),
		         SVC("a") "spec:\n  ports:\n  - port: 80\n    targetPort: %s\n", bad[i]);
		check_error(yaml, NULL, "spec.ports[0].targetPort",
		            "a named port must be an IANA service name", 8);
	}
	c = valid(SVC("a") "spec:\n  ports:\n  - port: 80\n    targetPort: http-2\n", NULL, &d);
	assert_string_equal(c->services[0]->ports[0].target_name, "http-2");
	assert_int_equal(c->services[0]->ports[0].target_port, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_node_port_forbidden(void **state)
{
	(void)state;
	check_error(SVC("a") "spec:\n  ports:\n  - port: 80\n    nodePort: 30080\n", NULL,
	            "spec.ports[0].nodePort",
	            "Forbidden: may not be used when `type` is 'ClusterIP'", 8);
	check_error(SVC("a") "spec:\n  type: ExternalName\n  externalName: x.example\n"
	                     "  ports:\n  - port: 80\n    nodePort: 30080\n",
	            NULL, "spec.ports[0].nodePort", "'ExternalName'", 10);
}

static void
test_node_port_range(void **state)
{
	struct diag d;
	struct cluster *c;
	struct cluster_config cfg;

	(void)state;
	check_error(
	        SVC("a") "spec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 8080\n",
	        NULL, "spec.ports[0].nodePort",
	        "Invalid value: 8080: provided port is not in the valid range. The range of "
	        "valid ports is 30000-32767",
	        9);
	check_error(SVC("a") "spec:\n  type: LoadBalancer\n  ports:\n  - port: 80\n"
	                     "    nodePort: 32768\n",
	            NULL, "spec.ports[0].nodePort", "not in the valid range", 9);
	c = valid(SVC("a") "spec:\n  type: NodePort\n  ports:\n  - {name: a, port: 80, nodePort: "
	                   "30000}\n  - {name: b, port: 81, nodePort: 32767}\n",
	          NULL, &d);
	assert_int_equal(c->services[0]->ports[0].node_port, 30000);
	assert_false(c->services[0]->ports[0].node_port_allocated);
	assert_int_equal(c->services[0]->ports[1].node_port, 32767);
	cluster_unref(c);
	diag_deinit(&d);
	/* The range follows the configuration. */
	cluster_config_init(&cfg);
	cfg.node_port_min = 20000;
	cfg.node_port_max = 20100;
	check_error(
	        SVC("a") "spec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 30000\n",
	        &cfg, "spec.ports[0].nodePort", "The range of valid ports is 20000-20100", 9);
	check_valid(
	        SVC("a") "spec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 20050\n",
	        &cfg);
}

static void
test_node_port_duplicate_in_service(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	check_error(SVC("a") "spec:\n  type: NodePort\n  ports:\n"
	                     "  - {name: a, port: 80, nodePort: 30080}\n"
	                     "  - {name: b, port: 81, nodePort: 30080}\n",
	            NULL, "spec.ports[1].nodePort",
	            "Duplicate value: 30080/TCP is already spec.ports[0]", 9);
	c = valid(SVC("a") "spec:\n  type: NodePort\n  ports:\n"
	                   "  - {name: a, port: 53, protocol: UDP, nodePort: 30053}\n"
	                   "  - {name: b, port: 53, protocol: TCP, nodePort: 30053}\n",
	          NULL, &d);
	assert_int_equal(c->services[0]->ports[0].node_port, 30053);
	assert_int_equal(c->services[0]->ports[1].node_port, 30053);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_node_port_duplicate_across_services(void **state)
{
	struct diag d;
	const struct diag_entry *e;
	struct cluster *c;

	(void)state;
	invalid(SVC("a") "spec:\n  type: NodePort\n  ports:\n  - {port: 80, nodePort: 30080}\n"
	                 "---\n" SVC("b") "spec:\n  type: LoadBalancer\n  ports:\n"
	                                  "  - {port: 81, nodePort: 30080}\n"
	                                  "---\n" SVC("c") "spec:\n  type: NodePort\n  ports:\n"
	                                                   "  - {port: 82, nodePort: 30080, "
	                                                   "protocol: UDP}\n",
	        NULL, &d);
	e = tu_diag_expect(&d, DIAG_ERROR, "spec.ports[0].nodePort", "already allocated");
	assert_string_equal(e->message, "Invalid value: 30080: provided port is already allocated "
	                                "to service default/a (test.yaml:1)");
	assert_int_equal(e->line, 17);
	/* c uses UDP: no clash. */
	assert_int_equal(d.errors, 1);
	diag_deinit(&d);
	c = valid(
	        SVC("a") "spec:\n  type: NodePort\n  ports:\n  - {port: 80, nodePort: 30080}\n"
	                 "---\n" SVC("c") "  namespace: other\nspec:\n  type: NodePort\n  ports:\n"
	                                  "  - {port: 82, nodePort: 30080, protocol: UDP}\n",
	        NULL, &d);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_sctp_warning(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	c = valid(SVC("a") "spec:\n  ports:\n  - port: 80\n    protocol: SCTP\n", NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_WARNING, "spec.ports[0].protocol",
	                                "SCTP is resolved by svcdns but not forwarded by svcfwd")
	                         ->line,
	                 8);
	assert_int_equal(d.warnings, 1);
	cluster_unref(c);
	diag_deinit(&d);
}

/* ---- cluster IPs ---------------------------------------------------------------------------- */

static void
test_cluster_ip_range(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	check_error(SVC("a") "spec:\n  clusterIP: 10.0.0.1\n" PORT80, NULL, "spec.clusterIP",
	            "Invalid value: \"10.0.0.1\": provided IP is not in the valid range. The range "
	            "of valid IPs is 10.96.0.0/12",
	            6);
	/* Network and broadcast addresses are not service addresses. */
	check_error(SVC("a") "spec:\n  clusterIP: 10.96.0.0\n" PORT80, NULL, "spec.clusterIP",
	            "not in the valid range", 6);
	check_error(SVC("a") "spec:\n  clusterIP: 10.111.255.255\n" PORT80, NULL, "spec.clusterIP",
	            "not in the valid range", 6);
	check_error(SVC("a") "spec:\n  clusterIP: 10.112.0.1\n" PORT80, NULL, "spec.clusterIP",
	            "not in the valid range", 6);
	c = valid(SVC("a") "spec:\n  clusterIP: 10.96.0.1\n" PORT80
	                   "---\n" SVC("b") "spec:\n  clusterIP: 10.111.255.254\n" PORT80,
	          NULL, &d);
	assert_false(c->services[0]->cluster_ip_allocated);
	assert_string_equal(c->services[1]->cluster_ip_text, "10.111.255.254");
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_cluster_ip_invalid(void **state)
{
	struct cluster_config cfg;

	(void)state;
	check_error(SVC("a") "spec:\n  clusterIP: 10.96.0.300\n" PORT80, NULL, "spec.clusterIP",
	            "Invalid value: \"10.96.0.300\": must be a valid IP address", 6);
	check_error(SVC("a") "spec:\n  clusterIP: 010.96.0.1\n" PORT80, NULL, "spec.clusterIP",
	            "must be a valid IP address", 6);
	/* Loopback is never a service address, even inside the configured range. */
	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "127.0.0.0/24"), SVC_OK);
	check_error(SVC("a") "spec:\n  clusterIP: 127.0.0.5\n" PORT80, &cfg, "spec.clusterIP",
	            "may not be unspecified, loopback, link-local or multicast", 6);
}

static void
test_cluster_ip_duplicate(void **state)
{
	struct diag d;
	const struct diag_entry *e;

	(void)state;
	invalid(SVC("a") "spec:\n  clusterIP: 10.96.0.10\n" PORT80 "---\n" SVC(
	                "b") "  namespace: other\nspec:\n  clusterIPs: [10.96.0.10]\n" PORT80,
	        NULL, &d);
	e = tu_diag_expect(&d, DIAG_ERROR, NULL, "already allocated");
	assert_string_equal(e->field, "spec.clusterIP");
	assert_string_equal(e->message, "Invalid value: \"10.96.0.10\": provided IP is already "
	                                "allocated to service default/a (test.yaml:1)");
	/* Reported at b's clusterIPs[0]. */
	assert_int_equal(e->line, 16);
	assert_int_equal(d.errors, 1);
	diag_deinit(&d);
}

static void
test_cluster_ips_mismatch(void **state)
{
	(void)state;
	check_error(SVC("a") "spec:\n  clusterIP: 10.96.0.10\n  clusterIPs: [10.96.0.11]\n" PORT80,
	            NULL, "spec.clusterIPs[0]",
	            "Invalid value: \"10.96.0.11\": must match spec.clusterIP \"10.96.0.10\"", 7);
}

static void
test_cluster_ips_too_many(void **state)
{
	struct cluster_config cfg = dual_cfg();

	(void)state;
	check_error(SVC("a") "spec:\n  ipFamilyPolicy: RequireDualStack\n"
	                     "  clusterIPs: [10.96.0.10, fd00:10:96::10, 10.96.0.11]\n" PORT80,
	            &cfg, "spec.clusterIPs", "Too many: 3: must have at most 2 items", 7);
}

static void
test_cluster_ips_same_family(void **state)
{
	struct cluster_config cfg = dual_cfg();

	(void)state;
	check_error(SVC("a") "spec:\n  ipFamilyPolicy: RequireDualStack\n"
	                     "  clusterIPs:\n  - 10.96.0.10\n  - 10.96.0.11\n" PORT80,
	            &cfg, "spec.clusterIPs[1]",
	            "Invalid value: \"10.96.0.11\": the two clusterIPs must be of different IP "
	            "families",
	            9);
}

static void
test_cluster_ip_family_not_configured(void **state)
{
	(void)state;
	check_error(SVC("a") "spec:\n  clusterIP: fd00:10:96::10\n" PORT80, NULL, "spec.clusterIP",
	            "Invalid value: \"fd00:10:96::10\": no service CIDR is configured for IPv6", 6);
}

static void
test_headless(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	check_error(SVC("a") "spec:\n  type: NodePort\n  clusterIP: None\n" PORT80, NULL,
	            "spec.clusterIP",
	            "Invalid value: \"None\": may only be set to 'None' for ClusterIP services "
	            "(type is NodePort)",
	            7);
	check_error(SVC("a") "spec:\n  type: LoadBalancer\n  clusterIP: None\n" PORT80, NULL,
	            "spec.clusterIP", "(type is LoadBalancer)", 7);
	check_error(SVC("a") "spec:\n  clusterIPs: [None, 10.96.0.10]\n" PORT80, NULL,
	            "spec.clusterIPs[1]", "a headless service has only \"None\"", 6);
	c = valid(SVC("a") "spec:\n  clusterIPs: [None]\n" PORT80, NULL, &d);
	assert_true(c->services[0]->headless);
	assert_int_equal(c->services[0]->n_cluster_ips, 0);
	assert_false(c->services[0]->cluster_ip_allocated);
	assert_string_equal(c->services[0]->cluster_ip_text, "None");
	cluster_unref(c);
	diag_deinit(&d);
}

/* ---- ExternalName --------------------------------------------------------------------------- */

static void
test_external_name_required(void **state)
{
	(void)state;
	check_error(SVC("a") "spec:\n  type: ExternalName\n", NULL, "spec.externalName",
	            "Required value", 1);
	check_error(SVC("a") "spec:\n  type: ExternalName\n  externalName: \"\"\n", NULL,
	            "spec.externalName", "Required value", 7);
}

static void
test_external_name_valid(void **state)
{
	static const char *const bad[] = {"Foo.example.com", "bad_name.com", "a..b",
	                                  "-a.com",          "\".\"",        "\"a b\""};
	char yaml[512];
	size_t i;
	struct diag d;
	struct cluster *c;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml),
		         SVC("a") "spec:\n  type: ExternalName\n  externalName: %s\n", bad[i]);
		check_error(yaml, NULL, "spec.externalName", "must be a valid lower-case DNS name",
		            7);
	}
	/* A trailing dot is allowed, as is a single label. */
	c = valid(SVC("a") "spec:\n  type: ExternalName\n  externalName: db.example.com.\n"
	                   "---\n" SVC("b") "spec:\n  type: ExternalName\n  externalName: db\n",
	          NULL, &d);
	assert_string_equal(c->services[0]->external_name, "db.example.com.");
	assert_int_equal(c->services[0]->n_cluster_ips, 0);
	assert_int_equal(c->services[0]->internal_policy, CLUSTER_POLICY_UNSET);
	assert_int_equal(d.n, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_external_name_cluster_ip(void **state)
{
	(void)state;
	check_error(SVC("a") "spec:\n  type: ExternalName\n  externalName: x.example\n"
	                     "  clusterIP: 10.96.0.10\n",
	            NULL, "spec.clusterIP",
	            "Invalid value: \"10.96.0.10\": must be empty for ExternalName services", 8);
	check_valid(SVC("a") "spec:\n  type: ExternalName\n  externalName: x.example\n"
	                     "  clusterIP: \"\"\n",
	            NULL);
}

static void
test_external_name_warnings(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	c = valid(SVC("a") "spec:\n  type: ExternalName\n  externalName: x.example\n"
	                   "  selector: {app: a}\n"
	                   "---\n" SVC("b") "spec:\n  externalName: y.example\n" PORT80,
	          NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_WARNING, "spec.selector",
	                                "ignored for ExternalName services")
	                         ->line,
	                 8);
	assert_int_equal(tu_diag_expect(&d, DIAG_WARNING, "spec.externalName",
	                                "ignored unless type is ExternalName")
	                         ->line,
	                 15);
	assert_int_equal(d.warnings, 2);
	/* An ExternalName service gets no endpoints, even with a selector. */
	assert_int_equal(c->services[0]->n_endpoints, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

/* ---- session affinity, traffic policy, external addresses ------------------------------------ */

static void
test_session_affinity_timeout(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	check_error(SVC("a") "spec:\n  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n"
	                     "    clientIP: {timeoutSeconds: 86401}\n" PORT80,
	            NULL, "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
	            "Invalid value: 86401: must be greater than 0 and less than 86400", 8);
	check_error(SVC("a") "spec:\n  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n"
	                     "    clientIP: {timeoutSeconds: -5}\n" PORT80,
	            NULL, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "Invalid value: -5",
	            8);
	/* An explicit 0 is rejected as the API server does; only an absent value defaults. */
	check_error(SVC("a") "spec:\n  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n"
	                     "    clientIP: {timeoutSeconds: 0}\n" PORT80,
	            NULL, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "Invalid value: 0",
	            8);
	c = valid(SVC("a") "spec:\n  sessionAffinity: ClientIP\n" PORT80 "---\n" SVC(
	                  "b") "spec:\n  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n"
	                       "    clientIP: {timeoutSeconds: 86400}\n" PORT80
	                       "---\n" SVC("c") "spec:\n"
	                                        "  sessionAffinity: ClientIP\n  "
	                                        "sessionAffinityConfig: {clientIP: {}}\n" PORT80
	                                        "---\n" SVC("d") "spec:\n" PORT80,
	          NULL, &d);
	assert_int_equal(c->services[0]->affinity, CLUSTER_AFFINITY_CLIENTIP);
	assert_int_equal(c->services[0]->affinity_timeout, 10800);
	assert_int_equal(c->services[1]->affinity_timeout, 86400);
	assert_int_equal(c->services[2]->affinity_timeout, 10800);
	assert_int_equal(c->services[3]->affinity, CLUSTER_AFFINITY_NONE);
	assert_int_equal(c->services[3]->affinity_timeout, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_session_affinity_config_without_client_ip(void **state)
{
	(void)state;
	check_error(SVC("a") "spec:\n  sessionAffinityConfig:\n"
	                     "    clientIP: {timeoutSeconds: 600}\n" PORT80,
	            NULL, "spec.sessionAffinityConfig",
	            "Invalid value: must not be set when sessionAffinity is None", 7);
}

static void
test_external_traffic_policy(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	check_error(SVC("a") "spec:\n  externalTrafficPolicy: Local\n" PORT80, NULL,
	            "spec.externalTrafficPolicy",
	            "may only be set for externally-accessible services", 6);
	check_error(SVC("a") "spec:\n  type: ExternalName\n  externalName: x.example\n"
	                     "  externalTrafficPolicy: Cluster\n",
	            NULL, "spec.externalTrafficPolicy", "externally-accessible", 8);
	c = valid(
	        SVC("a") "spec:\n  type: NodePort\n" PORT80 "---\n" SVC(
	                "b") "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n" PORT80
	                     "---\n" SVC(
	                             "c") "spec:\n  externalIPs: [192.0.2.1]\n"
	                                  "  externalTrafficPolicy: Local\n" PORT80
	                                  "---\n" SVC("d") "spec:\n" PORT80 "---\n" SVC(
	                                          "e") "spec:\n  externalIPs: [192.0.2.2]\n"
	                                               "  internalTrafficPolicy: Local\n" PORT80,
	        NULL, &d);
	assert_int_equal(c->services[0]->external_policy, CLUSTER_POLICY_CLUSTER);
	assert_int_equal(c->services[1]->external_policy, CLUSTER_POLICY_LOCAL);
	assert_int_equal(c->services[2]->external_policy, CLUSTER_POLICY_LOCAL);
	assert_int_equal(c->services[3]->external_policy, CLUSTER_POLICY_UNSET);
	assert_int_equal(c->services[4]->external_policy, CLUSTER_POLICY_CLUSTER);
	assert_int_equal(c->services[0]->internal_policy, CLUSTER_POLICY_CLUSTER);
	assert_int_equal(c->services[3]->internal_policy, CLUSTER_POLICY_CLUSTER);
	assert_int_equal(c->services[4]->internal_policy, CLUSTER_POLICY_LOCAL);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_external_ips(void **state)
{
	struct diag d;
	struct cluster *c;
	char buf[NETADDR_STRLEN];

	(void)state;
	invalid(SVC("a") "spec:\n  externalIPs:\n  - 300.1.1.1\n  - 127.0.0.1\n  - "
	                 "192.0.2.1\n" PORT80,
	        NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "spec.externalIPs[0]",
	                                "Invalid value: \"300.1.1.1\": must be a valid IP address")
	                         ->line,
	                 7);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "spec.externalIPs[1]", "loopback")->line,
	                 8);
	assert_int_equal(d.errors, 2);
	diag_deinit(&d);
	c = valid(SVC("a") "spec:\n  externalIPs: [192.0.2.1, \"2001:db8::1\"]\n" PORT80, NULL, &d);
	assert_string_equal(netaddr_str(&c->services[0]->external_ips[1], buf), "2001:db8::1");
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_load_balancer_ip(void **state)
{
	struct diag d;
	struct cluster *c;
	char buf[NETADDR_STRLEN];

	(void)state;
	c = valid(SVC("a") "spec:\n  loadBalancerIP: 192.0.2.7\n" PORT80, NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_WARNING, "spec.loadBalancerIP",
	                                "ignored unless type is LoadBalancer")
	                         ->line,
	                 6);
	cluster_unref(c);
	diag_deinit(&d);
	check_error(SVC("a") "spec:\n  type: LoadBalancer\n  loadBalancerIP: 192.0.2\n" PORT80,
	            NULL, "spec.loadBalancerIP",
	            "Invalid value: \"192.0.2\": must be a valid IP address", 7);
	c = valid(SVC("a") "spec:\n  type: LoadBalancer\n  loadBalancerIP: 192.0.2.7\n" PORT80,
	          NULL, &d);
	assert_string_equal(netaddr_str(&c->services[0]->load_balancer_ip, buf), "192.0.2.7");
	assert_int_equal(d.n, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_load_balancer_ingress(void **state)
{
	struct diag d;
	struct cluster *c;
	char buf[NETADDR_STRLEN];

	(void)state;
	invalid(SVC("a") "spec:\n  type: LoadBalancer\n" PORT80 "status:\n  loadBalancer:\n"
	                 "    ingress:\n"
	                 "    - ip: 192.0.2.300\n" /* 12 */
	                 "    - ipMode: VIP\n"     /* 13 */
	                 "    - hostname: lb.example\n",
	        NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "status.loadBalancer.ingress[0].ip",
	                                "must be a valid IP address")
	                         ->line,
	                 12);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "status.loadBalancer.ingress[1].ip",
	                                "Required value: ip or hostname")
	                         ->line,
	                 13);
	assert_int_equal(d.errors, 2);
	diag_deinit(&d);
	c = valid(SVC("a") "spec:\n  type: LoadBalancer\n" PORT80
	                   "status:\n  loadBalancer:\n    ingress: [{ip: 192.0.2.9}]\n",
	          NULL, &d);
	assert_string_equal(netaddr_str(&c->services[0]->ingress[0].ip_addr, buf), "192.0.2.9");
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_lb_source_ranges(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	char buf[NETADDR_STRLEN + 4];

	(void)state;
	invalid(SVC("a") "spec:\n  type: LoadBalancer\n  loadBalancerSourceRanges:\n"
	                 "  - 10.0.0.0/8\n"      /* 8 */
	                 "  - 10.0.0.0\n"        /* 9 */
	                 "  - 10.0.0.0/33\n"     /* 10 */
	                 "  - banana/8\n"        /* 11 */
	                 "  - \"2001:db8::/\"\n" /* 12 */
	                 "  - 10.0.0.0/-1\n" PORT80,
	        NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "spec.loadBalancerSourceRanges[1]",
	                                "Invalid value: \"10.0.0.0\": must be a valid CIDR value")
	                         ->line,
	                 9);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "spec.loadBalancerSourceRanges[2]", "10.0.0.0/33")
	                ->line,
	        10);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "spec.loadBalancerSourceRanges[3]", "banana/8")
	                ->line,
	        11);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "spec.loadBalancerSourceRanges[4]", "2001:db8::/")
	                ->line,
	        12);
	tu_diag_expect(&d, DIAG_ERROR, "spec.loadBalancerSourceRanges[5]", "10.0.0.0/-1");
	assert_string_equal(d.entries[0].file, "test.yaml");
	assert_int_equal(d.errors, 5);
	diag_deinit(&d);
	/* Only LoadBalancer services filter clients. */
	check_error(SVC("a") "spec:\n  type: NodePort\n  loadBalancerSourceRanges: "
	                     "[10.0.0.0/8]\n" PORT80,
	            NULL, "spec.loadBalancerSourceRanges",
	            "Forbidden: may only be used when `type` is 'LoadBalancer'", 7);
	/* Blanks around and host bits are accepted and cleared, as the API server does. */
	c = valid(SVC("a") "spec:\n  type: LoadBalancer\n  loadBalancerSourceRanges:\n"
	                   "  - 192.0.2.7/24\n  - \" 2001:db8::1/64 \"\n  - 0.0.0.0/0\n"
	                   "  - 198.51.100.9/32\n" PORT80,
	          NULL, &d);
	s = c->services[0];
	assert_int_equal(s->n_lb_source_ranges, 4);
	assert_string_equal(netaddr_prefix_str(&s->lb_source_ranges[0], buf), "192.0.2.0/24");
	assert_string_equal(netaddr_prefix_str(&s->lb_source_ranges[1], buf), "2001:db8::/64");
	assert_string_equal(netaddr_prefix_str(&s->lb_source_ranges[2], buf), "0.0.0.0/0");
	assert_string_equal(netaddr_prefix_str(&s->lb_source_ranges[3], buf), "198.51.100.9/32");
	/* Written back as given. */
	assert_string_equal(s->lb_source_ranges_text[0], "192.0.2.7/24");
	assert_int_equal(d.n, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_health_check_node_port(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	/* Only LoadBalancer with externalTrafficPolicy Local. */
	check_error(SVC("a") "spec:\n  type: LoadBalancer\n  healthCheckNodePort: 31000\n" PORT80,
	            NULL, "spec.healthCheckNodePort",
	            "Invalid value: 31000: may only be set when `type` is 'LoadBalancer' and "
	            "`externalTrafficPolicy` is 'Local'",
	            7);
	check_error(SVC("a") "spec:\n  type: NodePort\n  externalTrafficPolicy: Local\n"
	                     "  healthCheckNodePort: 31000\n" PORT80,
	            NULL, "spec.healthCheckNodePort", "may only be set when", 8);
	check_error(SVC("a") "spec:\n  healthCheckNodePort: 31000\n" PORT80, NULL,
	            "spec.healthCheckNodePort", "may only be set when", 6);
	/* In the node-port range. */
	check_error(SVC("a") "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
	                     "  healthCheckNodePort: 8080\n" PORT80,
	            NULL, "spec.healthCheckNodePort",
	            "Invalid value: 8080: provided port is not in the valid range. The range of "
	            "valid ports is 30000-32767",
	            8);
	check_error(SVC("a") "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
	                     "  healthCheckNodePort: -1\n" PORT80,
	            NULL, "spec.healthCheckNodePort", "not in the valid range", 8);
	/* Free: no nodePort of any protocol, its own included, and no other one. */
	check_error(SVC("a") "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
	                     "  healthCheckNodePort: 31000\n"
	                     "  ports:\n  - port: 80\n    nodePort: 31000\n",
	            NULL, "spec.healthCheckNodePort",
	            "Invalid value: 31000: provided port is already allocated to "
	            "spec.ports[0].nodePort",
	            8);
	check_error(SVC("a") "spec:\n  type: NodePort\n  ports:\n  - port: 53\n"
	                     "    protocol: UDP\n    nodePort: 31000\n"
	                     "---\n" SVC("b") "spec:\n  type: LoadBalancer\n"
	                                      "  externalTrafficPolicy: Local\n  "
	                                      "healthCheckNodePort: 31000\n" PORT80,
	            NULL, "spec.healthCheckNodePort",
	            "Invalid value: 31000: provided port is already allocated to service "
	            "default/a (test.yaml:1)",
	            19);
	check_error(SVC("a") "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
	                     "  healthCheckNodePort: 31000\n" PORT80
	                     "---\n" SVC("b") "spec:\n  type: LoadBalancer\n"
	                                      "  externalTrafficPolicy: Local\n"
	                                      "  healthCheckNodePort: 31000\n" PORT80,
	            NULL, "spec.healthCheckNodePort", "already allocated to service default/a", 19);
	c = valid(SVC("a") "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
	                   "  healthCheckNodePort: 31000\n" PORT80,
	          NULL, &d);
	assert_int_equal(c->services[0]->health_check_node_port, 31000);
	assert_false(c->services[0]->health_check_node_port_allocated);
	assert_int_equal(d.n, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

/* A load-balancer pool that overlaps a service CIDR is a configuration error. */
static void
test_lb_pool_overlap(void **state)
{
	struct cluster_config cfg;
	struct diag d;

	(void)state;
	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "10.100.0.0/24"), SVC_OK);
	invalid(SVC("a") "spec:\n" PORT80, &cfg, &d);
	tu_diag_expect(&d, DIAG_ERROR, NULL,
	               "load-balancer pool 10.100.0.0/24 overlaps the service CIDR 10.96.0.0/12");
	diag_deinit(&d);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "192.0.2.0/24,fd00::/120"), SVC_OK);
	check_valid(SVC("a") "spec:\n" PORT80, &cfg);
}

/* ---- IP families ------------------------------------------------------------------------------
 */

static void
test_ip_families_too_many(void **state)
{
	struct cluster_config cfg = dual_cfg();

	(void)state;
	check_error(SVC("a") "spec:\n  ipFamilyPolicy: RequireDualStack\n"
	                     "  ipFamilies: [IPv4, IPv6, IPv4]\n" PORT80,
	            &cfg, "spec.ipFamilies", "Too many: 3: must have at most 2 items", 7);
}

static void
test_ip_families_unsupported(void **state)
{
	(void)state;
	check_error(SVC("a") "spec:\n  ipFamilies: [IPv5]\n" PORT80, NULL, "spec.ipFamilies[0]",
	            "Unsupported value: \"IPv5\": supported values: \"IPv4\", \"IPv6\"", 6);
}

static void
test_ip_families_duplicate(void **state)
{
	struct cluster_config cfg = dual_cfg();

	(void)state;
	check_error(SVC("a") "spec:\n  ipFamilyPolicy: PreferDualStack\n"
	                     "  ipFamilies: [IPv4, IPv4]\n" PORT80,
	            &cfg, "spec.ipFamilies[1]", "Duplicate value: \"IPv4\"", 7);
}

static void
test_ip_families_not_configured(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	check_error(SVC("a") "spec:\n  ipFamilies: [IPv6]\n" PORT80, NULL, "spec.ipFamilies[0]",
	            "Invalid value: \"IPv6\": the cluster has no service CIDR of this family", 6);
	/* PreferDualStack may name a second family the cluster lacks. */
	c = valid(SVC("a") "spec:\n  ipFamilyPolicy: PreferDualStack\n"
	                   "  ipFamilies: [IPv4, IPv6]\n" PORT80,
	          NULL, &d);
	assert_int_equal(c->services[0]->n_cluster_ips, 1);
	assert_int_equal(c->services[0]->cluster_ips[0].family, NETADDR_V4);
	cluster_unref(c);
	diag_deinit(&d);
	/* ExternalName services do not use families at all. */
	check_valid(SVC("a") "spec:\n  type: ExternalName\n  externalName: x.example\n"
	                     "  ipFamilies: [IPv6]\n",
	            NULL);
}

static void
test_ip_families_match_cluster_ips(void **state)
{
	struct cluster_config cfg = dual_cfg();

	(void)state;
	check_error(SVC("a") "spec:\n  clusterIP: 10.96.0.10\n  ipFamilies: [IPv6]\n" PORT80, &cfg,
	            "spec.ipFamilies[0]",
	            "Invalid value: \"IPv6\": must match the family of clusterIPs[0]", 7);
}

static void
test_single_stack_two_families(void **state)
{
	struct cluster_config cfg = dual_cfg();

	(void)state;
	check_error(SVC("a") "spec:\n  ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv4, "
	                     "IPv6]\n" PORT80,
	            &cfg, "spec.ipFamilyPolicy",
	            "Invalid value: \"SingleStack\": two ipFamilies need PreferDualStack or "
	            "RequireDualStack",
	            6);
	check_error(SVC("a") "spec:\n  ipFamilyPolicy: SingleStack\n"
	                     "  clusterIPs: [10.96.0.10, \"fd00:10:96::10\"]\n" PORT80,
	            &cfg, "spec.ipFamilyPolicy", "two clusterIPs need PreferDualStack", 6);
}

static void
test_require_dual_stack_single_cidr(void **state)
{
	(void)state;
	check_error(SVC("a") "spec:\n  ipFamilyPolicy: RequireDualStack\n" PORT80, NULL,
	            "spec.ipFamilyPolicy",
	            "Invalid value: \"RequireDualStack\": the cluster has only one service CIDR",
	            6);
}

static void
test_family_policy_default(void **state)
{
	struct cluster_config cfg = dual_cfg();
	struct diag d;
	struct cluster *c;

	(void)state;
	c = valid(SVC("a") "spec:\n  ipFamilies: [IPv4, IPv6]\n" PORT80 "---\n" SVC(
	                  "b") "spec:\n  clusterIPs: [10.96.0.20, \"fd00:10:96::20\"]\n" PORT80
	                       "---\n" SVC("c") "spec:\n" PORT80,
	          &cfg, &d);
	assert_int_equal(c->services[0]->family_policy, CLUSTER_FAMILY_REQUIRE_DUAL);
	assert_int_equal(c->services[0]->n_cluster_ips, 2);
	assert_int_equal(c->services[1]->family_policy, CLUSTER_FAMILY_REQUIRE_DUAL);
	assert_int_equal(c->services[1]->n_cluster_ips, 2);
	/* No families asked for: single stack in the primary family. */
	assert_int_equal(c->services[2]->family_policy, CLUSTER_FAMILY_SINGLE);
	assert_int_equal(c->services[2]->n_cluster_ips, 1);
	assert_int_equal(c->services[2]->cluster_ips[0].family, NETADDR_V4);
	cluster_unref(c);
	diag_deinit(&d);
}

/* ---- pods -------------------------------------------------------------------------------------
 */

#define POD(name) "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " name "\n"

static void
test_pod_hostname_subdomain(void **state)
{
	(void)state;
	check_error(POD("p") "spec:\n  hostname: Web_0\n", NULL, "spec.hostname",
	            "Invalid value: \"Web_0\": must be a lowercase RFC 1123 label", 6);
	check_error(POD("p") "spec:\n  subdomain: a.b\n", NULL, "spec.subdomain",
	            "Invalid value: \"a.b\": must be a lowercase RFC 1123 label", 6);
}

static void
test_pod_container_ports(void **state)
{
	struct diag d;

	(void)state;
	invalid(POD("p") "spec:\n"
	                 "  containers:\n"
	                 "  - name: c\n"
	                 "    ports:\n"
	                 "    - containerPort: 0\n"  /* 9 */
	                 "    - containerPort: 80\n" /* 10 */
	                 "      name: HTTP\n"        /* 11 */
	                 "  initContainers:\n"
	                 "  - name: i\n"
	                 "    ports:\n"
	                 "    - containerPort: 70000\n" /* 15 */
	                 "      name: very-long-port-name\n",
	        NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "spec.containers[0].ports[0].containerPort",
	                                "Invalid value: 0: must be between 1 and 65535, inclusive")
	                         ->line,
	                 9);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "spec.containers[0].ports[1].name",
	                                "Invalid value: \"HTTP\": must be an IANA service name")
	                         ->line,
	                 11);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR,
	                                "spec.initContainers[0].ports[0].containerPort", "70000")
	                         ->line,
	                 15);
	tu_diag_expect(&d, DIAG_ERROR, "spec.initContainers[0].ports[0].name", "IANA");
	assert_int_equal(d.errors, 4);
	diag_deinit(&d);
}

static void
test_pod_ip(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	check_error(POD("p") "status:\n  podIP: 10.244.0.300\n", NULL, "status.podIP",
	            "Invalid value: \"10.244.0.300\": must be a valid IP address", 6);
	check_error(POD("p") "status:\n  podIP: 169.254.1.1\n", NULL, "status.podIP",
	            "may not be unspecified, loopback, link-local or multicast", 6);
	/* A hostNetwork pod has the node's address, which may be anything. */
	c = valid(POD("p") "spec:\n  hostNetwork: true\nstatus:\n  podIP: 127.0.0.1\n", NULL, &d);
	assert_int_equal(c->pods[0]->n_ips, 1);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_pod_ips(void **state)
{
	struct diag d;
	struct cluster *c;
	char buf[NETADDR_STRLEN];

	(void)state;
	check_error(
	        POD("p") "status:\n  podIPs: [{ip: 10.0.0.1}, {ip: \"fd00::1\"}, {ip: 10.0.0.2}]\n",
	        NULL, "status.podIPs", "Too many: 3: must have at most 2 items", 6);
	check_error(POD("p") "status:\n  podIP: 10.0.0.1\n  podIPs:\n  - ip: 10.0.0.2\n", NULL,
	            "status.podIPs[0].ip",
	            "Invalid value: \"10.0.0.2\": must match status.podIP \"10.0.0.1\"", 8);
	check_error(POD("p") "status:\n  podIPs:\n  - ip: 10.0.0.1\n  - ip: 10.0.0.2\n", NULL,
	            "status.podIPs[1].ip",
	            "Invalid value: \"10.0.0.2\": a pod has at most one IP per family", 8);
	c = valid(POD("p") "status:\n  podIP: 10.0.0.1\n  podIPs:\n  - ip: 10.0.0.1\n"
	                   "  - ip: \"fd00::1\"\n---\n" POD(
	                           "q") "status:\n  podIPs: [{ip: \"fd00::2\"}]\n",
	          NULL, &d);
	assert_int_equal(c->pods[0]->n_ips, 2);
	assert_string_equal(netaddr_str(&c->pods[0]->ips[1], buf), "fd00::1");
	assert_int_equal(c->pods[1]->n_ips, 1);
	assert_string_equal(netaddr_str(&c->pods[1]->ips[0], buf), "fd00::2");
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_pod_ready(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	c = valid(POD("a") "status:\n  conditions:\n  - {type: PodScheduled, status: \"True\"}\n"
	                   "  - {type: Ready, status: \"True\"}\n"
	                   "---\n" POD("b") "status:\n  conditions:\n  - {type: Ready, status: "
	                                    "\"False\"}\n"
	                                    "---\n" POD("c") "status:\n  conditions:\n  - {type: "
	                                                     "ContainersReady, status: "
	                                                     "\"True\"}\n",
	          NULL, &d);
	assert_true(c->pods[0]->ready);
	assert_false(c->pods[1]->ready);
	assert_false(c->pods[2]->ready);
	cluster_unref(c);
	diag_deinit(&d);
}

/* ---- Endpoints and EndpointSlices -------------------------------------------------------------
 */

#define EPS(name) "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: " name "\n"
#define SLICE(name)                                                                                \
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " name "\n"      \
	"  labels: {kubernetes.io/service-name: svc}\n"

static void
test_endpoints_addresses(void **state)
{
	struct diag d;

	(void)state;
	invalid(EPS("e") "subsets:\n"
	                 "- addresses:\n"
	                 "  - ip: 10.0.0.256\n" /* 7 */
	                 "  - ip: 10.0.0.5\n"
	                 "  notReadyAddresses:\n"
	                 "  - ip: 127.0.0.1\n", /* 10 */
	        NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "subsets[0].addresses[0].ip",
	                                "Invalid value: \"10.0.0.256\": must be a valid IP address")
	                         ->line,
	                 7);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "subsets[0].notReadyAddresses[0].ip", "loopback")
	                ->line,
	        10);
	assert_int_equal(d.errors, 2);
	diag_deinit(&d);
}

static void
test_endpoints_ports(void **state)
{
	struct diag d;

	(void)state;
	invalid(EPS("e") "subsets:\n"
	                 "- addresses: [{ip: 10.0.0.5}]\n"
	                 "  ports:\n"
	                 "  - {name: a, port: 0}\n"     /* 8 */
	                 "  - {name: HTTP, port: 80}\n" /* 9 */
	                 "  - {name: a, port: 81}\n",   /* 10 */
	        NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "subsets[0].ports[0].port",
	                                "Invalid value: 0: must be between 1 and 65535, inclusive")
	                         ->line,
	                 8);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "subsets[0].ports[1].name",
	                       "Invalid value: \"HTTP\": must be a lowercase RFC 1123 label")
	                ->line,
	        9);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "subsets[0].ports[2].name", "Duplicate value: \"a\"")
	                ->line,
	        10);
	assert_int_equal(d.errors, 3);
	diag_deinit(&d);
}

static void
test_slice_address_type(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	check_error(SLICE("s") "addressType: IPv5\n", NULL, "addressType",
	            "Unsupported value: \"IPv5\": supported values: \"IPv4\", \"IPv6\", \"FQDN\"",
	            6);
	c = valid(SLICE("s") "addressType: FQDN\nendpoints:\n- addresses: [db.example.com]\n", NULL,
	          &d);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_WARNING, "addressType", "FQDN endpoints are not used")
	                ->line,
	        6);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_slice_addresses(void **state)
{
	struct diag d;
	char yaml[8192];
	size_t off, i;

	(void)state;
	invalid(SLICE("s") "addressType: IPv4\n"
	                   "endpoints:\n"
	                   "- addresses: []\n"                    /* 8 */
	                   "- addresses: [\"fd00::1\"]\n"         /* 9 */
	                   "- addresses: [10.0.0.1, 10.0.0.x]\n", /* 10 */
	        NULL, &d);
	tu_diag_expect(&d, DIAG_ERROR, "endpoints[0].addresses",
	               "must have between 1 and 100 items");
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "endpoints[1].addresses[0]",
	                                "Invalid value: \"fd00::1\": must be an IPv4 address")
	                         ->line,
	                 9);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "endpoints[2].addresses[1]",
	                                "must be a valid IP address")
	                         ->line,
	                 10);
	assert_int_equal(d.errors, 3);
	diag_deinit(&d);

	off = (size_t)snprintf(yaml, sizeof(yaml),
	                       SLICE("s") "addressType: IPv4\nendpoints:\n- addresses:\n");
	for (i = 0; i < 101; i++)
		off += (size_t)snprintf(yaml + off, sizeof(yaml) - off, "  - 10.0.%zu.%zu\n",
		                        i / 200, i % 200 + 1);
	check_error(yaml, NULL, "endpoints[0].addresses", "must have between 1 and 100 items", 9);
}

static void
test_slice_service_label(void **state)
{
	struct diag d;
	struct cluster *c;

	(void)state;
	c = valid("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: s\n"
	          "addressType: IPv4\n",
	          NULL, &d);
	tu_diag_expect(&d, DIAG_WARNING, "metadata.labels",
	               "no kubernetes.io/service-name label: this slice belongs to no service");
	assert_int_equal(d.warnings, 1);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_slice_ports(void **state)
{
	struct diag d;

	(void)state;
	invalid(SLICE("s") "addressType: IPv4\n"
	                   "ports:\n"
	                   "- {name: a, port: 70000}\n" /* 8 */
	                   "- {name: a, port: 80}\n",   /* 9 */
	        NULL, &d);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "ports[0].port", "Invalid value: 70000")->line, 8);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "ports[1].name", "Duplicate value: \"a\"")->line, 9);
	assert_int_equal(d.errors, 2);
	diag_deinit(&d);
}

/* ---- namespaces ---------------------------------------------------------------------------------
 */

static void
test_namespace_object(void **state)
{
	struct diag d;

	(void)state;
	invalid("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Prod\n"
	        "  labels: {\"bad key!\": x}\n",
	        NULL, &d);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "metadata.name", "a lowercase RFC 1123 label")->line,
	        4);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "metadata.labels[bad key!]", "qualified name")->line,
	        5);
	assert_int_equal(d.errors, 2);
	diag_deinit(&d);
}

/* ---- every problem in one run
 * ---------------------------------------------------------------------- */

static void
test_all_errors_reported(void **state)
{
	struct diag d;

	(void)state;
	invalid("apiVersion: v1\n"         /* 1 */
	        "kind: Service\n"          /* 2 */
	        "metadata:\n"              /* 3 */
	        "  name: Bad_Name\n"       /* 4 */
	        "  namespace: UPPER\n"     /* 5 */
	        "spec:\n"                  /* 6 */
	        "  type: NodePort\n"       /* 7 */
	        "  clusterIP: 10.0.0.1\n"  /* 8 */
	        "  ports:\n"               /* 9 */
	        "  - port: 80\n"           /* 10 */
	        "    nodePort: 8080\n"     /* 11 */
	        "  - port: 80\n"           /* 12 */
	        "    targetPort: 70000\n"  /* 13 */
	        "---\n"                    /* 14 */
	        "apiVersion: v1\n"         /* 15 */
	        "kind: Pod\n"              /* 16 */
	        "metadata:\n"              /* 17 */
	        "  name: p\n"              /* 18 */
	        "spec:\n"                  /* 19 */
	        "  hostname: Bad\n"        /* 20 */
	        "  containers:\n"          /* 21 */
	        "  - name: c\n"            /* 22 */
	        "    ports:\n"             /* 23 */
	        "    - containerPort: 0\n" /* 24 */
	        "status:\n"                /* 25 */
	        "  podIP: 10.0.0.300\n",   /* 26 */
	        NULL, &d);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "metadata.name", "DNS-1035")->line, 4);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "metadata.namespace", "RFC 1123 label")->line, 5);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "spec.clusterIP", "not in the valid range")->line,
	        8);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "spec.ports[0].name", "Required value")->line, 10);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "spec.ports[0].nodePort", "not in the valid range")
	                ->line,
	        11);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "spec.ports[1].name", "Required value")->line, 12);
	assert_int_equal(
	        tu_diag_expect(&d, DIAG_ERROR, "spec.ports[1]", "Duplicate value: port 80/TCP")
	                ->line,
	        12);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "spec.ports[1].targetPort", "70000")->line,
	                 13);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "spec.hostname", "RFC 1123 label")->line,
	                 20);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "spec.containers[0].ports[0].containerPort",
	                                "Invalid value: 0")
	                         ->line,
	                 24);
	assert_int_equal(tu_diag_expect(&d, DIAG_ERROR, "status.podIP", "10.0.0.300")->line, 26);
	assert_int_equal(d.errors, 11);
	assert_int_equal(tu_diag_count(&d, DIAG_ERROR, "metadata.name", NULL), 1);
	diag_deinit(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_service_name_dns1035),
	        cmocka_unit_test(test_object_name_subdomain),
	        cmocka_unit_test(test_namespace_label),
	        cmocka_unit_test(test_creation_timestamp),
	        cmocka_unit_test(test_label_keys),
	        cmocka_unit_test(test_label_values),
	        cmocka_unit_test(test_label_duplicate),
	        cmocka_unit_test(test_duplicate_objects),
	        cmocka_unit_test(test_ports_required),
	        cmocka_unit_test(test_port_name_required),
	        cmocka_unit_test(test_port_name_invalid),
	        cmocka_unit_test(test_port_name_unique),
	        cmocka_unit_test(test_port_range),
	        cmocka_unit_test(test_port_protocol_duplicate),
	        cmocka_unit_test(test_target_port_number),
	        cmocka_unit_test(test_target_port_name),
	        cmocka_unit_test(test_node_port_forbidden),
	        cmocka_unit_test(test_node_port_range),
	        cmocka_unit_test(test_node_port_duplicate_in_service),
	        cmocka_unit_test(test_node_port_duplicate_across_services),
	        cmocka_unit_test(test_sctp_warning),
	        cmocka_unit_test(test_cluster_ip_range),
	        cmocka_unit_test(test_cluster_ip_invalid),
	        cmocka_unit_test(test_cluster_ip_duplicate),
	        cmocka_unit_test(test_cluster_ips_mismatch),
	        cmocka_unit_test(test_cluster_ips_too_many),
	        cmocka_unit_test(test_cluster_ips_same_family),
	        cmocka_unit_test(test_cluster_ip_family_not_configured),
	        cmocka_unit_test(test_headless),
	        cmocka_unit_test(test_external_name_required),
	        cmocka_unit_test(test_external_name_valid),
	        cmocka_unit_test(test_external_name_cluster_ip),
	        cmocka_unit_test(test_external_name_warnings),
	        cmocka_unit_test(test_session_affinity_timeout),
	        cmocka_unit_test(test_session_affinity_config_without_client_ip),
	        cmocka_unit_test(test_external_traffic_policy),
	        cmocka_unit_test(test_external_ips),
	        cmocka_unit_test(test_load_balancer_ip),
	        cmocka_unit_test(test_load_balancer_ingress),
	        cmocka_unit_test(test_lb_source_ranges),
	        cmocka_unit_test(test_health_check_node_port),
	        cmocka_unit_test(test_lb_pool_overlap),
	        cmocka_unit_test(test_ip_families_too_many),
	        cmocka_unit_test(test_ip_families_unsupported),
	        cmocka_unit_test(test_ip_families_duplicate),
	        cmocka_unit_test(test_ip_families_not_configured),
	        cmocka_unit_test(test_ip_families_match_cluster_ips),
	        cmocka_unit_test(test_single_stack_two_families),
	        cmocka_unit_test(test_require_dual_stack_single_cidr),
	        cmocka_unit_test(test_family_policy_default),
	        cmocka_unit_test(test_pod_hostname_subdomain),
	        cmocka_unit_test(test_pod_container_ports),
	        cmocka_unit_test(test_pod_ip),
	        cmocka_unit_test(test_pod_ips),
	        cmocka_unit_test(test_pod_ready),
	        cmocka_unit_test(test_endpoints_addresses),
	        cmocka_unit_test(test_endpoints_ports),
	        cmocka_unit_test(test_slice_address_type),
	        cmocka_unit_test(test_slice_addresses),
	        cmocka_unit_test(test_slice_service_label),
	        cmocka_unit_test(test_slice_ports),
	        cmocka_unit_test(test_namespace_object),
	        cmocka_unit_test(test_all_errors_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
