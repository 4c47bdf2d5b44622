/* test_schema.c -- decoding manifests with the schema table: types, strictness, paths. */
#include "testutil.h"

#include <string.h>

#include "schema.h"

struct loaded {
	struct cluster_objects objs;
	struct diag d;
};

static void
load(struct loaded *l, const char *yaml)
{
	cluster_objects_init(&l->objs);
	diag_init(&l->d);
	assert_int_equal(cluster_objects_load_buffer(&l->objs, "s.yaml", yaml, strlen(yaml), &l->d),
	                 SVC_OK);
}

static void
unload(struct loaded *l)
{
	cluster_objects_deinit(&l->objs);
	diag_deinit(&l->d);
}

static void
test_service_fields(void **state)
{
	struct loaded l;
	const struct cluster_service *s;

	(void)state;
	load(&l, "apiVersion: v1\n"
	         "kind: Service\n"
	         "metadata:\n"
	         "  name: web\n"
	         "  namespace: shop\n"
	         "  uid: 0b1e-77\n"
	         "  resourceVersion: \"12\"\n"
	         "  labels:\n"
	         "    app: web\n"
	         "    empty:\n"
	         "  annotations:\n"
	         "    note: \"hello\"\n"
	         "  creationTimestamp: \"2024-01-02T15:04:05Z\"\n"
	         "spec:\n"
	         "  type: NodePort\n"
	         "  selector:\n"
	         "    app: web\n"
	         "  clusterIP: 10.96.0.50\n"
	         "  clusterIPs:\n"
	         "  - 10.96.0.50\n"
	         "  ipFamilies: [IPv4]\n"
	         "  ipFamilyPolicy: SingleStack\n"
	         "  ports:\n"
	         "  - name: http\n"
	         "    protocol: TCP\n"
	         "    port: 80\n"
	         "    targetPort: 8080\n"
	         "    nodePort: 30080\n"
	         "    appProtocol: http\n"
	         "  - name: dns\n"
	         "    protocol: UDP\n"
	         "    port: 53\n"
	         "    targetPort: dns-port\n"
	         "  sessionAffinity: ClientIP\n"
	         "  sessionAffinityConfig:\n"
	         "    clientIP:\n"
	         "      timeoutSeconds: 600\n"
	         "  externalIPs: [192.0.2.10]\n"
	         "  externalTrafficPolicy: Local\n"
	         "  internalTrafficPolicy: Cluster\n"
	         "  publishNotReadyAddresses: true\n"
	         "  loadBalancerIP: 192.0.2.99\n"
	         "  externalName: ignored.example.com\n"
	         "status:\n"
	         "  loadBalancer:\n"
	         "    ingress:\n"
	         "    - ip: 192.0.2.1\n"
	         "    - hostname: lb.example.com\n");
	assert_int_equal(l.d.n, 0);
	assert_int_equal(l.objs.n_services, 1);
	s = l.objs.services[0];
	assert_string_equal(s->meta.name, "web");
	assert_string_equal(s->meta.ns, "shop");
	assert_int_equal(s->meta.labels.n, 2);
	assert_string_equal(s->meta.labels.items[0].key, "app");
	assert_string_equal(s->meta.labels.items[0].value, "web");
	assert_string_equal(s->meta.labels.items[1].key, "empty");
	assert_string_equal(s->meta.labels.items[1].value, "");
	assert_int_equal(s->meta.annotations.n, 1);
	assert_string_equal(s->meta.annotations.items[0].value, "hello");
	assert_string_equal(s->meta.created, "2024-01-02T15:04:05Z");
	assert_int_equal(s->meta.created_unix, 1704207845);
	assert_null(s->meta.deleted);
	assert_int_equal(s->type, CLUSTER_SVC_NODEPORT);
	assert_int_equal(s->selector.n, 1);
	assert_string_equal(s->selector.items[0].key, "app");
	assert_string_equal(s->cluster_ip_text, "10.96.0.50");
	assert_int_equal(s->n_cluster_ips_text, 1);
	assert_string_equal(s->cluster_ips_text[0], "10.96.0.50");
	assert_int_equal(s->n_ip_families_text, 1);
	assert_string_equal(s->ip_families_text[0], "IPv4");
	assert_int_equal(s->family_policy, CLUSTER_FAMILY_SINGLE);
	assert_true(s->family_policy_set);
	assert_int_equal(s->n_ports, 2);
	assert_string_equal(s->ports[0].name, "http");
	assert_int_equal(s->ports[0].proto, CLUSTER_TCP);
	assert_int_equal(s->ports[0].port, 80);
	assert_int_equal(s->ports[0].target_port, 8080);
	assert_null(s->ports[0].target_name);
	assert_int_equal(s->ports[0].node_port, 30080);
	assert_string_equal(s->ports[0].app_protocol, "http");
	assert_int_equal(s->ports[1].proto, CLUSTER_UDP);
	assert_int_equal(s->ports[1].port, 53);
	assert_int_equal(s->ports[1].target_port, 0);
	assert_string_equal(s->ports[1].target_name, "dns-port");
	assert_int_equal(s->ports[1].node_port, 0);
	assert_int_equal(s->affinity, CLUSTER_AFFINITY_CLIENTIP);
	assert_int_equal(s->affinity_timeout, 600);
	assert_int_equal(s->n_external_ips_text, 1);
	assert_string_equal(s->external_ips_text[0], "192.0.2.10");
	assert_int_equal(s->external_policy, CLUSTER_POLICY_LOCAL);
	assert_int_equal(s->internal_policy, CLUSTER_POLICY_CLUSTER);
	assert_true(s->publish_not_ready);
	assert_string_equal(s->load_balancer_ip_text, "192.0.2.99");
	assert_string_equal(s->external_name, "ignored.example.com");
	assert_int_equal(s->n_ingress, 2);
	assert_string_equal(s->ingress[0].ip, "192.0.2.1");
	assert_null(s->ingress[0].hostname);
	assert_string_equal(s->ingress[1].hostname, "lb.example.com");
	/* Where it came from. */
	assert_string_equal(s->meta.origin.file, "s.yaml");
	assert_int_equal(s->meta.origin.line, 1);
	assert_int_equal(s->meta.origin.doc_index, 0);
	assert_false(s->meta.origin.in_list);
	unload(&l);
}

static void
test_defaults_when_absent(void **state)
{
	struct loaded l;
	const struct cluster_service *s;

	(void)state;
	load(&l, "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
	         "spec:\n  clusterIP: null\n  selector:\n  ports:\n  - port: 80\n");
	assert_int_equal(l.d.n, 0);
	s = l.objs.services[0];
	assert_string_equal(s->meta.ns, "default");
	assert_null(s->cluster_ip_text);
	assert_int_equal(s->selector.n, 0);
	assert_int_equal(s->type, CLUSTER_SVC_CLUSTERIP);
	assert_int_equal(s->ports[0].proto, CLUSTER_TCP);
	assert_int_equal(s->ports[0].target_port, 0);
	assert_false(s->family_policy_set);
	assert_int_equal(s->external_policy, CLUSTER_POLICY_UNSET);
	assert_int_equal(s->meta.created_unix, 0);
	unload(&l);
}

static void
test_pod_fields(void **state)
{
	struct loaded l;
	const struct cluster_pod *p;

	(void)state;
	load(&l, "apiVersion: v1\n"
	         "kind: Pod\n"
	         "metadata:\n"
	         "  name: web-0\n"
	         "  labels: {app: web}\n"
	         "  deletionTimestamp: \"2024-05-01T10:00:00Z\"\n"
	         "spec:\n"
	         "  nodeName: node-a\n"
	         "  hostname: web-0\n"
	         "  subdomain: web\n"
	         "  hostNetwork: false\n"
	         "  restartPolicy: Always\n"
	         "  containers:\n"
	         "  - name: app\n"
	         "    image: nginx:1.25\n"
	         "    env: [{name: A, value: b}]\n"
	         "    resources: {limits: {cpu: 1}}\n"
	         "    ports:\n"
	         "    - name: http\n"
	         "      containerPort: 8080\n"
	         "    - containerPort: 53\n"
	         "      protocol: UDP\n"
	         "      hostPort: 5353\n"
	         "      hostIP: 10.0.0.1\n"
	         "  initContainers:\n"
	         "  - name: side\n"
	         "    restartPolicy: Always\n"
	         "    ports: [{name: metrics, containerPort: 9090}]\n"
	         "status:\n"
	         "  phase: Running\n"
	         "  hostIP: 10.0.0.1\n"
	         "  podIP: 10.244.0.5\n"
	         "  podIPs:\n"
	         "  - ip: 10.244.0.5\n"
	         "  - ip: fd00::5\n"
	         "  conditions:\n"
	         "  - type: Ready\n"
	         "    status: \"True\"\n"
	         "    lastTransitionTime: null\n"
	         "  startTime: \"2024-05-01T09:00:00Z\"\n");
	assert_int_equal(l.d.n, 0);
	assert_int_equal(l.objs.n_pods, 1);
	p = l.objs.pods[0];
	assert_string_equal(p->meta.name, "web-0");
	assert_string_equal(p->meta.deleted, "2024-05-01T10:00:00Z");
	assert_string_equal(p->node_name, "node-a");
	assert_string_equal(p->hostname, "web-0");
	assert_string_equal(p->subdomain, "web");
	assert_false(p->host_network);
	assert_int_equal(p->n_containers, 1);
	assert_string_equal(p->containers[0].name, "app");
	assert_string_equal(p->containers[0].image, "nginx:1.25");
	assert_int_equal(p->containers[0].n_ports, 2);
	assert_string_equal(p->containers[0].ports[0].name, "http");
	assert_int_equal(p->containers[0].ports[0].port, 8080);
	assert_int_equal(p->containers[0].ports[0].proto, CLUSTER_TCP);
	assert_int_equal(p->containers[0].ports[1].proto, CLUSTER_UDP);
	assert_int_equal(p->containers[0].ports[1].host_port, 5353);
	assert_string_equal(p->containers[0].ports[1].host_ip, "10.0.0.1");
	assert_int_equal(p->n_init_containers, 1);
	assert_string_equal(p->init_containers[0].restart_policy, "Always");
	assert_int_equal(p->init_containers[0].ports[0].port, 9090);
	assert_int_equal(p->phase, CLUSTER_POD_RUNNING);
	assert_string_equal(p->pod_ip_text, "10.244.0.5");
	assert_int_equal(p->n_pod_ips_text, 2);
	assert_string_equal(p->pod_ips_text[1].ip, "fd00::5");
	assert_string_equal(p->host_ip, "10.0.0.1");
	assert_int_equal(p->n_conditions, 1);
	assert_string_equal(p->conditions[0].type, "Ready");
	assert_string_equal(p->conditions[0].status, "True");
	unload(&l);
}

static void
test_endpoints_and_slice_fields(void **state)
{
	struct loaded l;
	const struct cluster_endpoints *e;
	const struct cluster_endpointslice *sl;

	(void)state;
	load(&l, "apiVersion: v1\n"
	         "kind: Endpoints\n"
	         "metadata: {name: ext}\n"
	         "subsets:\n"
	         "- addresses:\n"
	         "  - ip: 192.0.2.5\n"
	         "    hostname: h1\n"
	         "    nodeName: n1\n"
	         "    targetRef: {kind: Pod, name: p1, namespace: default, uid: x}\n"
	         "  notReadyAddresses:\n"
	         "  - ip: 192.0.2.6\n"
	         "  ports:\n"
	         "  - {name: http, port: 8080, protocol: TCP, appProtocol: http}\n"
	         "---\n"
	         "apiVersion: discovery.k8s.io/v1\n"
	         "kind: EndpointSlice\n"
	         "metadata:\n"
	         "  name: ext-abc\n"
	         "  labels: {kubernetes.io/service-name: ext}\n"
	         "addressType: IPv4\n"
	         "endpoints:\n"
	         "- addresses: [192.0.2.7, 192.0.2.8]\n"
	         "  conditions: {ready: false, serving: true}\n"
	         "  zone: z1\n"
	         "  targetRef: {kind: Pod, name: p2}\n"
	         "- addresses: [192.0.2.9]\n"
	         "ports:\n"
	         "- {name: http, port: 8080}\n");
	assert_int_equal(l.d.n, 0);
	assert_int_equal(l.objs.n_endpoints, 1);
	e = l.objs.endpoints[0];
	assert_int_equal(e->n_subsets, 1);
	assert_int_equal(e->subsets[0].n_addresses, 1);
	assert_string_equal(e->subsets[0].addresses[0].ip, "192.0.2.5");
	assert_string_equal(e->subsets[0].addresses[0].hostname, "h1");
	assert_string_equal(e->subsets[0].addresses[0].node_name, "n1");
	assert_non_null(e->subsets[0].addresses[0].target);
	assert_string_equal(e->subsets[0].addresses[0].target->kind, "Pod");
	assert_string_equal(e->subsets[0].addresses[0].target->name, "p1");
	assert_string_equal(e->subsets[0].addresses[0].target->ns, "default");
	assert_int_equal(e->subsets[0].n_not_ready, 1);
	assert_null(e->subsets[0].not_ready[0].target);
	assert_int_equal(e->subsets[0].ports[0].port, 8080);
	assert_string_equal(e->subsets[0].ports[0].app_protocol, "http");
	assert_false(e->generated);
	assert_int_equal(e->meta.origin.doc_index, 0);
	assert_int_equal(l.objs.n_slices, 1);
	sl = l.objs.slices[0];
	assert_int_equal(sl->meta.origin.doc_index, 1);
	assert_int_equal(sl->meta.origin.line, 15);
	assert_string_equal(sl->address_type, "IPv4");
	assert_int_equal(sl->n_endpoints, 2);
	assert_int_equal(sl->endpoints[0].n_addresses, 2);
	assert_string_equal(sl->endpoints[0].addresses[1], "192.0.2.8");
	assert_int_equal(sl->endpoints[0].conditions.ready, CLUSTER_FALSE);
	assert_int_equal(sl->endpoints[0].conditions.serving, CLUSTER_TRUE);
	assert_int_equal(sl->endpoints[0].conditions.terminating, CLUSTER_NIL);
	assert_int_equal(sl->endpoints[1].conditions.ready, CLUSTER_NIL);
	assert_string_equal(sl->endpoints[0].zone, "z1");
	assert_string_equal(sl->endpoints[0].target->name, "p2");
	assert_int_equal(sl->ports[0].port, 8080);
	unload(&l);
}

static void
test_strict_typing(void **state)
{
	struct loaded l;
	const struct diag_entry *e;

	(void)state;
	load(&l, "apiVersion: v1\n"                  /* 1 */
	         "kind: Service\n"                   /* 2 */
	         "metadata:\n"                       /* 3 */
	         "  name: a\n"                       /* 4 */
	         "  labels:\n"                       /* 5 */
	         "    version: 2\n"                  /* 6 */
	         "spec:\n"                           /* 7 */
	         "  type: Foo\n"                     /* 8 */
	         "  clusterIP: 1.5\n"                /* 9 */
	         "  publishNotReadyAddresses: yes\n" /* 10 */
	         "  externalTrafficPolicy: Bogus\n"  /* 11 */
	         "  ports:\n"                        /* 12 */
	         "  - name: 80\n"                    /* 13 */
	         "    port: \"80\"\n"                /* 14 */
	         "    targetPort: \"80\"\n"          /* 15 */
	         "  - name: yes\n"                   /* 16 */
	         "    port: 99999999999\n"           /* 17 */
	         "    targetPort: [1]\n"             /* 18 */
	         "  - name: c\n"                     /* 19 */
	         "    port: 80.5\n"                  /* 20 */
	         "    protocol: tcp\n"               /* 21 */
	         "  externalIPs: 10.0.0.1\n"         /* 22 */
	         "  sessionAffinityConfig: 5\n");    /* 23 */
	e = tu_diag_expect(&l.d, DIAG_ERROR, "metadata.labels[version]", "quote it");
	assert_string_equal(e->message, "expected a string, got the number 2 (quote it: \"2\")");
	assert_int_equal(e->line, 6);
	assert_int_equal(e->col, 14);
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.type", NULL);
	assert_string_equal(e->message,
	                    "Unsupported value: \"Foo\": supported values: \"ClusterIP\", "
	                    "\"NodePort\", \"LoadBalancer\", \"ExternalName\"");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.clusterIP", NULL);
	assert_string_equal(e->message,
	                    "expected a string, got the number 1.5 (quote it: \"1.5\")");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.publishNotReadyAddresses", NULL);
	assert_string_equal(e->message, "expected true or false, got \"yes\"");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.externalTrafficPolicy", NULL);
	assert_string_equal(
	        e->message,
	        "Unsupported value: \"Bogus\": supported values: \"Cluster\", \"Local\"");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports[0].name", NULL);
	assert_string_equal(e->message, "expected a string, got the number 80 (quote it: \"80\")");
	assert_int_equal(e->line, 13);
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports[0].port", NULL);
	assert_string_equal(e->message, "expected an integer, got \"80\"");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports[1].name", NULL);
	assert_string_equal(e->message,
	                    "expected a string, got the boolean yes (quote it: \"yes\")");
	assert_int_equal(e->line, 16);
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports[1].port", NULL);
	assert_string_equal(e->message, "integer 99999999999 is out of range");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports[1].targetPort", NULL);
	assert_string_equal(e->message, "expected a port number or name, got a list");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports[2].port", NULL);
	assert_string_equal(e->message, "expected an integer, got \"80.5\"");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports[2].protocol", NULL);
	assert_string_equal(e->message, "Unsupported value: \"tcp\": supported values: \"TCP\", "
	                                "\"UDP\", \"SCTP\"");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.externalIPs", NULL);
	assert_string_equal(e->message, "expected a list of strings, got a scalar");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.sessionAffinityConfig", NULL);
	assert_string_equal(e->message, "expected a mapping (SessionAffinityConfig), got a scalar");
	/* Every problem in one pass, and no others. */
	assert_int_equal(l.d.errors, 14);
	assert_int_equal(l.d.warnings, 0);
	/* A quoted number is a port name; decoding alone accepts it. */
	assert_string_equal(l.objs.services[0]->ports[0].target_name, "80");
	assert_int_equal(l.objs.services[0]->ports[0].target_port, 0);
	unload(&l);
}

static void
test_string_forms(void **state)
{
	struct loaded l;
	const struct cluster_service *s;

	(void)state;
	/* Quoted or tagged numbers and booleans are strings; plain words are strings. */
	load(&l, "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
	         "  labels: {a: \"80\", b: 'true', c: !!str 10, d: v1.2, e: 1.2.3, f: \"\"}\n"
	         "spec:\n  ports: [{port: 80}]\n");
	assert_int_equal(l.d.n, 0);
	s = l.objs.services[0];
	assert_string_equal(s->meta.labels.items[0].value, "80");
	assert_string_equal(s->meta.labels.items[1].value, "true");
	assert_string_equal(s->meta.labels.items[2].value, "10");
	assert_string_equal(s->meta.labels.items[3].value, "v1.2");
	assert_string_equal(s->meta.labels.items[4].value, "1.2.3");
	assert_string_equal(s->meta.labels.items[5].value, "");
	unload(&l);

	load(&l, "apiVersion: v1\nkind: Service\nmetadata:\n  name: \"a\\0b\"\n");
	tu_diag_expect(&l.d, DIAG_ERROR, "metadata.name", "string contains a NUL character");
	unload(&l);
}

static void
test_mapping_and_list_shapes(void **state)
{
	struct loaded l;

	(void)state;
	load(&l, "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
	         "spec:\n  selector: [a]\n  ports: {port: 80}\nstatus: x\n");
	tu_diag_expect(&l.d, DIAG_ERROR, "spec.selector",
	               "expected a mapping of strings, got a list");
	tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports", "expected a list, got a mapping");
	tu_diag_expect(&l.d, DIAG_ERROR, "status",
	               "expected a mapping (ServiceStatus), got a scalar");
	assert_int_equal(l.d.errors, 3);
	unload(&l);

	load(&l, "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
	         "spec:\n  ports:\n  - 80\n");
	tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports[0]",
	               "expected a mapping (ServicePort), got a scalar");
	unload(&l);
}

static void
test_unknown_field(void **state)
{
	struct loaded l;
	const struct diag_entry *e;

	(void)state;
	load(&l, "apiVersion: v1\n"
	         "kind: Service\n"
	         "metadata:\n"
	         "  name: a\n"
	         "  colour: blue\n"
	         "spec:\n"
	         "  foo: 1\n"
	         "  ports:\n"
	         "  - port: 80\n"
	         "    bogus: x\n"
	         "extra: {}\n");
	assert_int_equal(l.d.errors, 0);
	assert_int_equal(l.d.warnings, 4);
	e = tu_diag_expect(&l.d, DIAG_WARNING, "spec.foo", NULL);
	assert_string_equal(e->message, "unknown field in ServiceSpec; ignored");
	assert_int_equal(e->line, 7);
	assert_int_equal(e->col, 3);
	e = tu_diag_expect(&l.d, DIAG_WARNING, "metadata.colour", "unknown field in metadata");
	assert_int_equal(e->line, 5);
	e = tu_diag_expect(&l.d, DIAG_WARNING, "spec.ports[0].bogus",
	                   "unknown field in ServicePort");
	assert_int_equal(e->line, 10);
	assert_int_equal(e->col, 5);
	e = tu_diag_expect(&l.d, DIAG_WARNING, "extra", "unknown field in Service");
	assert_int_equal(e->line, 11);
	/* The object still loads. */
	assert_int_equal(l.objs.n_services, 1);
	assert_int_equal(l.objs.services[0]->ports[0].port, 80);
	unload(&l);
}

static void
test_unsupported_field(void **state)
{
	struct loaded l;
	const struct diag_entry *e;

	(void)state;
	load(&l, "apiVersion: v1\n"
	         "kind: Service\n"
	         "metadata:\n"
	         "  name: a\n"
	         "  generateName: a-\n"
	         "spec:\n"
	         "  type: LoadBalancer\n"
	         "  loadBalancerClass: example.com/lb\n"
	         "  allocateLoadBalancerNodePorts: false\n"
	         "  ports: [{port: 80}]\n"
	         "---\n"
	         "apiVersion: v1\n"
	         "kind: Pod\n"
	         "metadata: {name: p}\n"
	         "spec:\n"
	         "  dnsPolicy: ClusterFirst\n"
	         "  containers: [{name: c}]\n");
	assert_int_equal(l.d.errors, 0);
	assert_int_equal(l.d.warnings, 4);
	e = tu_diag_expect(&l.d, DIAG_WARNING, "spec.loadBalancerClass", NULL);
	assert_string_equal(e->message, "field is not supported and is ignored: every "
	                                "LoadBalancer service is handled by svcfwd");
	assert_int_equal(e->line, 8);
	assert_int_equal(e->col, 22);
	tu_diag_expect(&l.d, DIAG_WARNING, "spec.allocateLoadBalancerNodePorts", "not supported");
	tu_diag_expect(&l.d, DIAG_WARNING, "metadata.generateName", "set metadata.name");
	e = tu_diag_expect(&l.d, DIAG_WARNING, "spec.dnsPolicy", "resolv.conf");
	assert_int_equal(e->line, 16);
	unload(&l);
}

/* loadBalancerSourceRanges and healthCheckNodePort are read (validation checks them). */
static void
test_lb_fields(void **state)
{
	struct loaded l;
	const struct cluster_service *s;

	(void)state;
	load(&l, "apiVersion: v1\n"
	         "kind: Service\n"
	         "metadata: {name: a}\n"
	         "spec:\n"
	         "  type: LoadBalancer\n"
	         "  externalTrafficPolicy: Local\n"
	         "  loadBalancerSourceRanges: [10.0.0.0/8, \" 2001:db8::/32 \"]\n"
	         "  healthCheckNodePort: 31000\n"
	         "  ports: [{port: 80}]\n");
	assert_int_equal(l.d.n, 0);
	s = l.objs.services[0];
	assert_int_equal(s->n_lb_source_ranges_text, 2);
	assert_string_equal(s->lb_source_ranges_text[0], "10.0.0.0/8");
	assert_string_equal(s->lb_source_ranges_text[1], " 2001:db8::/32 ");
	assert_int_equal(s->health_check_node_port, 31000);
	assert_true(cluster_objects_has(&l.objs, &s->health_check_node_port));
	unload(&l);
	load(&l, "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
	         "spec:\n  loadBalancerSourceRanges: 10.0.0.0/8\n  healthCheckNodePort: x\n");
	assert_int_equal(l.d.errors, 2);
	tu_diag_expect(&l.d, DIAG_ERROR, "spec.loadBalancerSourceRanges",
	               "expected a list of strings");
	tu_diag_expect(&l.d, DIAG_ERROR, "spec.healthCheckNodePort", "expected an integer");
	unload(&l);
}

static void
test_required_fields(void **state)
{
	struct loaded l;
	const struct diag_entry *e;

	(void)state;
	load(&l, "apiVersion: v1\n"      /* 1 */
	         "kind: Service\n"       /* 2 */
	         "metadata:\n"           /* 3 */
	         "  name: a\n"           /* 4 */
	         "spec:\n"               /* 5 */
	         "  ports:\n"            /* 6 */
	         "  - name: http\n"      /* 7 */
	         "    port: 80\n"        /* 8 */
	         "  - name: https\n"     /* 9 */
	         "    targetPort: 443\n" /* 10 */
	         "  - name: x\n"         /* 11 */
	         "    port: ~\n");       /* 12 */
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports[1].port", NULL);
	assert_string_equal(e->message, "Required value");
	assert_int_equal(e->line, 9);
	assert_int_equal(e->col, 5);
	/* null counts as absent. */
	e = tu_diag_expect(&l.d, DIAG_ERROR, "spec.ports[2].port", "Required value");
	assert_int_equal(e->line, 11);
	assert_int_equal(l.d.errors, 2);
	unload(&l);

	/* No name: reported, and the object is not added. */
	load(&l, "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: x\nspec: {}\n"
	         "---\n"
	         "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
	         "  - image: x\n"
	         "---\n"
	         "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\n"
	         "endpoints:\n- conditions: {}\n"
	         "---\n"
	         "apiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\n"
	         "subsets: [{addresses: [{hostname: h}], ports: [{name: a}]}]\n");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "metadata.name", "Required value");
	assert_int_equal(e->line, 4);
	tu_diag_expect(&l.d, DIAG_ERROR, "spec.containers[0].name", "Required value");
	tu_diag_expect(&l.d, DIAG_ERROR, "addressType", "Required value");
	tu_diag_expect(&l.d, DIAG_ERROR, "endpoints[0].addresses", "Required value");
	tu_diag_expect(&l.d, DIAG_ERROR, "subsets[0].addresses[0].ip", "Required value");
	tu_diag_expect(&l.d, DIAG_ERROR, "subsets[0].ports[0].port", "Required value");
	assert_int_equal(l.d.errors, 6);
	assert_int_equal(l.objs.n_services, 0);
	unload(&l);
}

static void
test_kind_list(void **state)
{
	struct loaded l;
	const struct diag_entry *e;

	(void)state;
	load(&l, "apiVersion: v1\n"
	         "kind: List\n"
	         "items:\n"
	         "- apiVersion: v1\n"
	         "  kind: Service\n"
	         "  metadata: {name: a}\n"
	         "  spec: {ports: [{port: 80}]}\n"
	         "- apiVersion: v1\n"
	         "  kind: Pod\n"
	         "  metadata: {name: p}\n"
	         "  spec: {foo: 1}\n"
	         "- 42\n"
	         "- apiVersion: v1\n"
	         "  kind: List\n"
	         "  items: []\n"
	         "---\n"
	         "apiVersion: v1\n"
	         "kind: ServiceList\n"
	         "items:\n"
	         "- apiVersion: v1\n"
	         "  kind: Service\n"
	         "  metadata: {name: b}\n"
	         "---\n"
	         "apiVersion: v1\n"
	         "kind: List\n"
	         "items: {a: 1}\n");
	assert_int_equal(l.objs.n_services, 2);
	assert_string_equal(l.objs.services[0]->meta.name, "a");
	assert_true(l.objs.services[0]->meta.origin.in_list);
	assert_int_equal(l.objs.services[0]->meta.origin.line, 4);
	assert_int_equal(l.objs.services[0]->meta.origin.doc_index, 0);
	assert_string_equal(l.objs.services[1]->meta.name, "b");
	assert_int_equal(l.objs.services[1]->meta.origin.doc_index, 1);
	assert_int_equal(l.objs.n_pods, 1);
	e = tu_diag_expect(&l.d, DIAG_WARNING, "items[1].spec.foo", "unknown field in PodSpec");
	assert_int_equal(e->line, 11);
	e = tu_diag_expect(&l.d, DIAG_ERROR, "items[2]", "a manifest must be a mapping");
	assert_int_equal(e->line, 12);
	/* A List is not an item of a List. */
	tu_diag_expect(&l.d, DIAG_WARNING, "items[3]", "kind List is not supported");
	e = tu_diag_expect(&l.d, DIAG_ERROR, "items", "expected a list");
	assert_int_equal(e->line, 26);
	assert_int_equal(l.d.errors, 2);
	assert_int_equal(l.d.warnings, 2);
	unload(&l);
}

static void
test_kind_and_api_version(void **state)
{
	struct loaded l;
	const struct diag_entry *e;

	(void)state;
	load(&l, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
	         "---\n"
	         "apiVersion: v2\nkind: Service\nmetadata: {name: a}\n"
	         "---\n"
	         "apiVersion: v1\nkind: EndpointSlice\nmetadata: {name: s}\n"
	         "---\n"
	         "kind: Service\nmetadata: {name: b}\n"
	         "---\n"
	         "apiVersion: v1\nmetadata: {name: c}\n"
	         "---\n"
	         "- a\n- b\n");
	assert_int_equal(l.objs.n_services + l.objs.n_slices, 0);
	e = tu_diag_expect(&l.d, DIAG_WARNING, NULL,
	                   "kind Deployment is not supported; object ignored");
	assert_int_equal(e->line, 1);
	e = tu_diag_expect(&l.d, DIAG_WARNING, NULL,
	                   "apiVersion v2 of Service is not supported (use v1); object ignored");
	assert_int_equal(e->line, 5);
	tu_diag_expect(&l.d, DIAG_WARNING, NULL,
	               "apiVersion v1 of EndpointSlice is not supported (use discovery.k8s.io/v1)");
	e = tu_diag_expect(&l.d, DIAG_ERROR, NULL, "apiVersion: Required value (Service is v1)");
	assert_int_equal(e->line, 13);
	e = tu_diag_expect(&l.d, DIAG_ERROR, NULL, "kind: Required value");
	assert_int_equal(e->line, 16);
	e = tu_diag_expect(&l.d, DIAG_ERROR, NULL,
	                   "a manifest must be a mapping with apiVersion and kind");
	assert_int_equal(e->line, 19);
	assert_int_equal(l.d.errors, 3);
	assert_int_equal(l.d.warnings, 3);
	unload(&l);
}

static void
test_namespace_scope(void **state)
{
	struct loaded l;

	(void)state;
	load(&l, "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, namespace: x}\n"
	         "---\n"
	         "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: prod}\n");
	assert_int_equal(l.objs.n_namespaces, 1);
	assert_null(l.objs.namespaces[0]->meta.ns);
	tu_diag_expect(&l.d, DIAG_WARNING, "metadata.namespace",
	               "Namespace is not namespaced; namespace ignored");
	assert_string_equal(l.objs.pods[0]->meta.ns, "prod");
	unload(&l);
}

static void
test_empty_documents(void **state)
{
	struct loaded l;

	(void)state;
	/* Empty documents and comment-only documents are skipped, as kubectl does. */
	load(&l, "---\n"
	         "# nothing here\n"
	         "---\n"
	         "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
	         "---\n"
	         "---\n"
	         "...\n");
	assert_int_equal(l.d.n, 0);
	assert_int_equal(l.objs.n_namespaces, 1);
	assert_int_equal(l.objs.namespaces[0]->meta.origin.doc_index, 1);
	unload(&l);
}

static void
test_positions_and_origin(void **state)
{
	struct loaded l;
	const struct cluster_service *s;
	const char *text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: z}\n"
	                   "---\n"
	                   "apiVersion: v1\n"
	                   "kind: Service\n"
	                   "metadata:\n"
	                   "  name: a\n"
	                   "spec:\n"
	                   "  ports:\n"
	                   "  - name: http\n"
	                   "    port: 80\n";
	uint32_t line = 0, col = 0;

	(void)state;
	load(&l, text);
	s = l.objs.services[0];
	assert_int_equal(s->meta.origin.line, 5);
	assert_int_equal(s->meta.origin.doc_index, 1);
	assert_int_equal(s->meta.origin.doc_start, 51);
	assert_int_equal(s->meta.origin.doc_end, strlen(text));
	assert_memory_equal(text + s->meta.origin.doc_start, "---\napiVersion", 14);
	assert_true(cluster_objects_pos(&l.objs, &s->ports[0].port, &line, &col));
	assert_int_equal(line, 12);
	assert_int_equal(col, 11);
	assert_true(cluster_objects_pos(&l.objs, &s->meta.name, &line, &col));
	assert_int_equal(line, 8);
	assert_int_equal(col, 9);
	/* An object's own position, kept apart from its first field's (name, at column 11). */
	assert_true(posmap_get(l.objs.positions, &s->ports[0], POSMAP_OBJECT, &line, &col));
	assert_int_equal(line, 11);
	assert_int_equal(col, 5);
	assert_true(cluster_objects_pos(&l.objs, &s->ports[0], &line, &col));
	assert_int_equal(col, 11);
	/* A field that was not given has no position of its own. */
	assert_false(cluster_objects_pos(&l.objs, &s->external_name, &line, &col));
	unload(&l);
}

static void
test_timestamps(void **state)
{
	struct loaded l;

	(void)state;
	load(&l, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
	         "  creationTimestamp: \"2024-01-02T16:04:05.123+01:00\"\n"
	         "---\n"
	         "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n"
	         "  creationTimestamp: \"1970-01-01T00:00:01Z\"\n"
	         "---\n"
	         "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: c\n"
	         "  creationTimestamp: \"2000-03-01T00:00:00-05:30\"\n"
	         "---\n"
	         "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: d\n"
	         "  creationTimestamp: \"yesterday\"\n");
	assert_int_equal(l.objs.namespaces[0]->meta.created_unix, 1704207845);
	assert_int_equal(l.objs.namespaces[1]->meta.created_unix, 1);
	assert_int_equal(l.objs.namespaces[2]->meta.created_unix, 951868800 + 19800);
	assert_int_equal(l.objs.namespaces[3]->meta.created_unix, 0);
	unload(&l);
}

static void
test_plain_is_typed(void **state)
{
	static const char *const typed[] = {"", "~", "null", "NULL", "80", "-1", "+5", "007", "1.5",
	                                    "1e3", ".inf", "-.inf", ".nan", "yes", "No", "on",
	                                    "OFF", "true", "False", "y", "N", "2.", ".5",
	                                    /* what YAML 1.1 (kubectl's reader) also types */
	                                    "0x1F", "0o17", "0b101", "-0x1f", "1_000", "2024-01-01",
	                                    "2024-1-2", "2024-01-02T15:04:05Z"};
	static const char *const plain[] = {"http", "v1.2",        "1.2.3",    "a1",   "10.96.0.1",
	                                    "None", "IPv4",        "e5",       "inf",  "-",
	                                    "nul",  "yess",        "0x",       "0xZZ", "0b102",
	                                    "_1",   "v2024-01-01", "202-01-01"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(typed) / sizeof(typed[0]); i++)
		if (!schema_plain_is_typed(typed[i]))
			fail_msg("\"%s\" should need quotes", typed[i]);
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (schema_plain_is_typed(plain[i]))
			fail_msg("\"%s\" should not need quotes", plain[i]);
}

static void
test_kind_table(void **state)
{
	(void)state;
	assert_ptr_equal(schema_kind_find("Service"), &schema_kinds[CLUSTER_KIND_SERVICE]);
	assert_ptr_equal(schema_kind_find("EndpointSlice"),
	                 &schema_kinds[CLUSTER_KIND_ENDPOINTSLICE]);
	assert_null(schema_kind_find("service"));
	assert_null(schema_kind_find("List"));
	assert_string_equal(schema_kinds[CLUSTER_KIND_ENDPOINTSLICE].api_version,
	                    "discovery.k8s.io/v1");
	assert_false(schema_kinds[CLUSTER_KIND_NAMESPACE].namespaced);
	assert_true(schema_kinds[CLUSTER_KIND_POD].namespaced);
	assert_string_equal(cluster_kind_str(CLUSTER_KIND_ENDPOINTS), "Endpoints");
	assert_string_equal(cluster_proto_str(CLUSTER_SCTP), "SCTP");
	assert_string_equal(cluster_svc_type_str(CLUSTER_SVC_LOADBALANCER), "LoadBalancer");
}

/* Two decodings of one text are equal; a change anywhere the schema reads (a nested list's
 * field, a label, an int-or-string, a string list) is not; comments and key order are not read. */
static void
test_equal(void **state)
{
	static const char base[] =
	        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels: {x: \"1\"}\n"
	        "spec:\n  selector: {app: a}\n  externalIPs: [192.0.2.1]\n"
	        "  ports:\n  - {name: http, port: 80, targetPort: web}\n";
	static const char *const differ[] = {
	        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels: {x: \"2\"}\n"
	        "spec:\n  selector: {app: a}\n  externalIPs: [192.0.2.1]\n"
	        "  ports:\n  - {name: http, port: 80, targetPort: web}\n",
	        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels: {x: \"1\"}\n"
	        "spec:\n  selector: {app: a}\n  externalIPs: [192.0.2.2]\n"
	        "  ports:\n  - {name: http, port: 80, targetPort: web}\n",
	        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels: {x: \"1\"}\n"
	        "spec:\n  selector: {app: a}\n  externalIPs: [192.0.2.1]\n"
	        "  ports:\n  - {name: http, port: 80, targetPort: 8080}\n",
	        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels: {x: \"1\"}\n"
	        "spec:\n  selector: {app: a}\n  externalIPs: [192.0.2.1]\n"
	        "  ports:\n  - {name: http, port: 80, targetPort: web}\n  - {port: 81}\n",
	};
	const struct schema_obj *so = schema_kinds[CLUSTER_KIND_SERVICE].doc;
	struct loaded a, b;

	(void)state;
	load(&a, base);
	load(&b, "# the same service\napiVersion: v1\nkind: Service\nspec:\n"
	         "  ports:\n  - {targetPort: web, port: 80, name: http}\n"
	         "  externalIPs: [192.0.2.1]\n  selector: {app: a}\n"
	         "metadata:\n  labels: {x: \"1\"}\n  name: a\n");
	assert_int_equal(a.objs.n_services, 1);
	assert_int_equal(b.objs.n_services, 1);
	assert_true(schema_equal(so, a.objs.services[0], b.objs.services[0]));
	unload(&b);
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		load(&b, differ[i]);
		assert_int_equal(b.objs.n_services, 1);
		assert_false(schema_equal(so, a.objs.services[0], b.objs.services[0]));
		unload(&b);
	}
	unload(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_service_fields),
	        cmocka_unit_test(test_defaults_when_absent),
	        cmocka_unit_test(test_pod_fields),
	        cmocka_unit_test(test_endpoints_and_slice_fields),
	        cmocka_unit_test(test_strict_typing),
	        cmocka_unit_test(test_string_forms),
	        cmocka_unit_test(test_mapping_and_list_shapes),
	        cmocka_unit_test(test_unknown_field),
	        cmocka_unit_test(test_unsupported_field),
	        cmocka_unit_test(test_lb_fields),
	        cmocka_unit_test(test_required_fields),
	        cmocka_unit_test(test_kind_list),
	        cmocka_unit_test(test_kind_and_api_version),
	        cmocka_unit_test(test_namespace_scope),
	        cmocka_unit_test(test_empty_documents),
	        cmocka_unit_test(test_positions_and_origin),
	        cmocka_unit_test(test_timestamps),
	        cmocka_unit_test(test_plain_is_typed),
	        cmocka_unit_test(test_kind_table),
	        cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
