/* test_endpoints.c -- the endpoints controller: which addresses and ports serve a service. */
#include "testutil.h"

#include <string.h>

#define SVC(name) "apiVersion: v1\nkind: Service\nmetadata:\n  name: " name "\n"
#define POD(name) "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: " name "\n"
#define READY     "  conditions: [{type: Ready, status: \"True\"}]\n"

static const struct cluster_service *
svc(const struct cluster *c, const char *ns, const char *name)
{
	const struct cluster_service *s = cluster_service_by_name(c, ns, name);

	if (s == NULL)
		fail_msg("no service %s/%s", ns, name);
	return s;
}

/* The endpoint of S with address IP, or NULL. */
static const struct cluster_endpoint *
ep_at(const struct cluster_service *s, const char *ip)
{
	struct netaddr a;
	size_t i;

	assert_int_equal(netaddr_parse(&a, ip), SVC_OK);
	for (i = 0; i < s->n_endpoints; i++)
		if (netaddr_equal(&s->endpoints[i].ip, &a))
			return &s->endpoints[i];
	return NULL;
}

static const struct cluster_endpoint *
must_ep(const struct cluster_service *s, const char *ip)
{
	const struct cluster_endpoint *e = ep_at(s, ip);

	if (e == NULL)
		fail_msg("no endpoint %s", ip);
	return e;
}

static const struct cluster_endpoints *
view_of(const struct cluster *c, const char *ns, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_endpoints; i++)
		if (!strcmp(c->endpoints[i]->meta.ns, ns) &&
		    !strcmp(c->endpoints[i]->meta.name, name))
			return c->endpoints[i];
	return NULL;
}

static void
test_selector_matching(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;

	(void)state;
	c = tu_build_ok(
	        SVC("web") "spec:\n  selector: {app: web, tier: fe}\n  ports: [{port: 80}]\n" POD(
	                "p1") "  labels: {app: web, tier: fe, extra: x}\nstatus:\n  podIP: "
	                      "10.244.0.1\n" READY POD(
	                              "p2") "  labels: {app: web}\nstatus:\n  podIP: "
	                                    "10.244.0.2\n" READY POD(
	                                            "p3") "  labels: {app: web, tier: "
	                                                  "be}\nstatus:\n  podIP: "
	                                                  "10.244.0.3\n" READY POD(
	                                                          "p4") "  namespace: "
	                                                                "other\n  labels: "
	                                                                "{app: web, tier: "
	                                                                "fe}\nstatus:\n"
	                                                                "  podIP: "
	                                                                "10.244.0.4\n" READY POD(
	                                                                        "p5") "  "
	                                                                              "labe"
	                                                                              "ls: "
	                                                                              "{app"
	                                                                              ": "
	                                                                              "webx"
	                                                                              ", "
	                                                                              "tier"
	                                                                              ": "
	                                                                              "fe}"
	                                                                              "\nst"
	                                                                              "atus"
	                                                                              ":\n "
	                                                                              " pod"
	                                                                              "IP: "
	                                                                              "10."
	                                                                              "244."
	                                                                              "0."
	                                                                              "5"
	                                                                              "\n" READY
	                                                                              "---"
	                                                                              "\n" SVC(
	                                                                                      "we"
	                                                                                      "b") "  namespace: other\nspec:\n  selector: {app: web}\n"
	                                                                                           "  ports: [{port: 80}]\n",
	        NULL, &d);
	s = svc(c, "default", "web");
	assert_true(s->has_selector);
	assert_int_equal(s->n_endpoints, 1);
	assert_non_null(must_ep(s, "10.244.0.1"));
	assert_string_equal(s->endpoints[0].pod->meta.name, "p1");
	assert_true(s->endpoints[0].ready);
	assert_int_equal(s->endpoints[0].ports[0], 80);
	/* The other namespace's service sees only its own pod. */
	s = svc(c, "other", "web");
	assert_int_equal(s->n_endpoints, 1);
	assert_string_equal(s->endpoints[0].pod->meta.name, "p4");
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_pod_phase_and_ip(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	char buf[NETADDR_STRLEN];

	(void)state;
	c = tu_build_ok(SVC("web") "spec:\n  selector: {app: web}\n  ports: [{port: 80}]\n" POD(
	                        "noip") "  labels: {app: web}\nstatus:\n  phase: Running\n" READY
	                        POD("done") "  labels: {app: web}\nstatus:\n  phase: Succeeded\n  "
	                                    "podIP: "
	                                    "10.0.0.1\n" POD(
	                                            "failed") "  labels: {app: web}\nstatus:\n  "
	                                                      "phase: Failed\n  podIP: "
	                                                      "10.0.0.2\n" POD(
	                                                              "pending") "  "
	                                                                         "labels:"
	                                                                         " {app: "
	                                                                         "web}"
	                                                                         "\nstatu"
	                                                                         "s:\n  "
	                                                                         "phase: "
	                                                                         "Pending"
	                                                                         "\n  "
	                                                                         "podIP: "
	                                                                         "10.0.0."
	                                                                         "3"
	                                                                         "\n" POD("unknown") "  labels: {app: web}\nstatus:\n  phase: Unknown\n  podIP: 10.0.0.4\n" POD(
	                                                                                 "running") "  labels: {app: web}\nstatus:\n  phase: Running\n  podIP: 10.0.0.10\n" READY
	                                                                                 POD("nopha"
	                                                                                     "s"
	                                                                                     "e") "  "
	                                                                                          "la"
	                                                                                          "be"
	                                                                                          "ls"
	                                                                                          ": "
	                                                                                          "{a"
	                                                                                          "pp"
	                                                                                          ": "
	                                                                                          "we"
	                                                                                          "b}"
	                                                                                          "\n"
	                                                                                          "st"
	                                                                                          "at"
	                                                                                          "us"
	                                                                                          ":"
	                                                                                          "\n"
	                                                                                          "  "
	                                                                                          "po"
	                                                                                          "dI"
	                                                                                          "P:"
	                                                                                          " 1"
	                                                                                          "0."
	                                                                                          "0."
	                                                                                          "0."
	                                                                                          "5"
	                                                                                          "\n" READY,
	                NULL, &d);
	s = svc(c, "default", "web");
	assert_int_equal(s->n_endpoints, 4);
	/* Sorted by address (numerically: .10 after .5). */
	assert_string_equal(netaddr_str(&s->endpoints[0].ip, buf), "10.0.0.3");
	assert_string_equal(netaddr_str(&s->endpoints[1].ip, buf), "10.0.0.4");
	assert_string_equal(netaddr_str(&s->endpoints[2].ip, buf), "10.0.0.5");
	assert_string_equal(netaddr_str(&s->endpoints[3].ip, buf), "10.0.0.10");
	assert_false(must_ep(s, "10.0.0.3")->ready);
	assert_false(must_ep(s, "10.0.0.4")->ready);
	assert_true(must_ep(s, "10.0.0.5")->ready);
	assert_true(must_ep(s, "10.0.0.10")->ready);
	assert_null(ep_at(s, "10.0.0.1"));
	assert_null(ep_at(s, "10.0.0.2"));
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_readiness(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	const struct cluster_endpoint *const *eps;
	size_t n;
	char buf[NETADDR_STRLEN];

	(void)state;
	c = tu_build_ok(
	        SVC("web") "spec:\n  selector: {app: web}\n  ports: [{port: 80}]\n" POD(
	                "a") "  labels: {app: web}\nstatus:\n  podIP: 10.0.0.1\n"
	                     "  conditions: [{type: Ready, status: \"False\"}]\n" POD(
	                             "b") "  labels: {app: web}\nstatus:\n  podIP: 10.0.0.2\n" READY
	                             POD("c") "  labels: {app: web}\nstatus:\n  podIP: "
	                                      "10.0.0.3\n" POD(
	                                              "d") "  labels: {app: web}\nstatus:\n  "
	                                                   "podIP: 10.0.0.4\n"
	                                                   "  conditions: [{type: ContainersReady, "
	                                                   "status: \"True\"}, {type: Ready, "
	                                                   "status: Unknown}]\n" POD(
	                                                           "e") "  labels: {app: "
	                                                                "web}\nstatus:\n  podIP: "
	                                                                "10.0.0.5\n" READY,
	        NULL, &d);
	s = svc(c, "default", "web");
	assert_int_equal(s->n_endpoints, 5);
	assert_false(must_ep(s, "10.0.0.1")->ready);
	assert_false(must_ep(s, "10.0.0.1")->serving);
	assert_true(must_ep(s, "10.0.0.2")->ready);
	assert_true(must_ep(s, "10.0.0.2")->serving);
	assert_false(must_ep(s, "10.0.0.2")->terminating);
	assert_false(must_ep(s, "10.0.0.3")->ready);
	assert_false(must_ep(s, "10.0.0.4")->ready);
	assert_int_equal(cluster_endpoint_count(s, 0, true), 2);
	assert_int_equal(cluster_endpoint_count(s, 0, false), 5);
	/* Ready ones first, each group in address order. */
	eps = cluster_endpoints_of(s, 0, false, &n);
	assert_int_equal(n, 5);
	assert_string_equal(netaddr_str(&eps[0]->ip, buf), "10.0.0.2");
	assert_string_equal(netaddr_str(&eps[1]->ip, buf), "10.0.0.5");
	assert_string_equal(netaddr_str(&eps[2]->ip, buf), "10.0.0.1");
	assert_string_equal(netaddr_str(&eps[4]->ip, buf), "10.0.0.4");
	eps = cluster_endpoints_of(s, 0, true, &n);
	assert_int_equal(n, 2);
	assert_true(eps[0]->ready && eps[1]->ready);
	/* No such port. */
	assert_null(cluster_endpoints_of(s, 1, false, &n));
	assert_int_equal(n, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_terminating(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_endpoint *e;

	(void)state;
	c = tu_build_ok(
	        SVC("web") "spec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"
	                   "---\n" SVC(
	                           "peers") "spec:\n  selector: {app: web}\n  clusterIP: None\n"
	                                    "  publishNotReadyAddresses: true\n  ports: [{port: "
	                                    "80}]\n" POD(
	                                            "old") "  labels: {app: web}\n  "
	                                                   "deletionTimestamp: "
	                                                   "\"2024-05-01T10:00:00Z\"\n"
	                                                   "status:\n  podIP: 10.0.0.1\n" READY POD(
	                                                           "oldnr") "  labels: {app: "
	                                                                    "web}\n  "
	                                                                    "deletionTimestamp: "
	                                                                    "\"2024-05-01T10:00:"
	                                                                    "00Z\"\n"
	                                                                    "status:\n  podIP: "
	                                                                    "10.0.0.2\n" POD("ne"
	                                                                                     "w") "  labels: {app: web}\nstatus:\n  podIP: 10.0.0.3\n" READY
	                                                                            POD("startin"
	                                                                                "g") "  "
	                                                                                     "lab"
	                                                                                     "els"
	                                                                                     ": "
	                                                                                     "{ap"
	                                                                                     "p: "
	                                                                                     "web"
	                                                                                     "}\n"
	                                                                                     "sta"
	                                                                                     "tus"
	                                                                                     ":\n"
	                                                                                     "  "
	                                                                                     "pod"
	                                                                                     "IP:"
	                                                                                     " 10"
	                                                                                     ".0."
	                                                                                     "0."
	                                                                                     "4"
	                                                                                     "\n",
	        NULL, &d);
	/* A terminating pod is not ready; it still serves while its Ready condition holds. */
	e = must_ep(svc(c, "default", "web"), "10.0.0.1");
	assert_true(e->terminating);
	assert_false(e->ready);
	assert_true(e->serving);
	e = must_ep(svc(c, "default", "web"), "10.0.0.2");
	assert_true(e->terminating);
	assert_false(e->ready);
	assert_false(e->serving);
	e = must_ep(svc(c, "default", "web"), "10.0.0.3");
	assert_false(e->terminating);
	assert_true(e->ready);
	assert_int_equal(cluster_endpoint_count(svc(c, "default", "web"), 0, true), 1);
	/* publishNotReadyAddresses: every endpoint is ready, terminating or not. */
	e = must_ep(svc(c, "default", "peers"), "10.0.0.1");
	assert_true(e->ready);
	assert_true(e->terminating);
	assert_true(must_ep(svc(c, "default", "peers"), "10.0.0.2")->ready);
	assert_true(must_ep(svc(c, "default", "peers"), "10.0.0.4")->ready);
	assert_int_equal(cluster_endpoint_count(svc(c, "default", "peers"), 0, true), 4);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_named_target_port(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	const struct cluster_endpoints *v;
	size_t i, with_http = 0;

	(void)state;
	c = tu_build_ok(
	        SVC("web") "spec:\n  selector: {app: web}\n  ports:\n"
	                   "  - {name: http, port: 80, targetPort: http}\n"
	                   "  - {name: metrics, port: 9100, targetPort: 9100}\n"
	                   "  - {name: dns, port: 53, protocol: UDP, targetPort: dns}\n" POD(
	                           "a") "  labels: {app: web}\nspec:\n  containers:\n  - name: "
	                                "c\n    ports:\n"
	                                "    - {name: http, containerPort: 8080}\n"
	                                "    - {name: dns, containerPort: 5353, protocol: UDP}\n"
	                                "status:\n  podIP: 10.0.0.1\n" READY POD(
	                                        "b") "  labels: {app: web}\nspec:\n  "
	                                             "containers:\n  - name: x\n"
	                                             "  - name: c\n    ports:\n    - {name: "
	                                             "http, containerPort: 9090}\n"
	                                             "    - {name: dns, containerPort: 53}\n"
	                                             "status:\n  podIP: 10.0.0.2\n" READY POD(
	                                                     "c") "  labels: {app: web}\nspec:\n "
	                                                          " containers:\n  - name: c\n   "
	                                                          " ports:\n"
	                                                          "    - {name: web, "
	                                                          "containerPort: 8080}\n"
	                                                          "status:\n  podIP: "
	                                                          "10.0.0.3\n" READY,
	        NULL, &d);
	s = svc(c, "default", "web");
	assert_int_equal(s->n_endpoints, 3);
	/* Different pods, different numbers for the same name. */
	assert_int_equal(must_ep(s, "10.0.0.1")->ports[0], 8080);
	assert_int_equal(must_ep(s, "10.0.0.2")->ports[0], 9090);
	/* No port of that name: 0 for that service port only. */
	assert_int_equal(must_ep(s, "10.0.0.3")->ports[0], 0);
	assert_int_equal(must_ep(s, "10.0.0.3")->ports[1], 9100);
	/* The name must match with the service port's protocol. */
	assert_int_equal(must_ep(s, "10.0.0.1")->ports[2], 5353);
	assert_int_equal(must_ep(s, "10.0.0.2")->ports[2], 0);
	assert_int_equal(cluster_endpoint_count(s, 0, false), 2);
	assert_int_equal(cluster_endpoint_count(s, 1, false), 3);
	assert_int_equal(cluster_endpoint_count(s, 2, false), 1);
	/* The Endpoints view groups addresses by their port set: three sets here. */
	v = view_of(c, "default", "web");
	assert_non_null(v);
	assert_true(v->generated);
	assert_int_equal(v->n_subsets, 3);
	for (i = 0; i < v->n_subsets; i++) {
		assert_int_equal(v->subsets[i].n_addresses, 1);
		if (v->subsets[i].ports[0].name != NULL &&
		    !strcmp(v->subsets[i].ports[0].name, "http"))
			with_http++;
	}
	assert_int_equal(with_http, 2);
	assert_string_equal(v->subsets[2].addresses[0].ip, "10.0.0.3");
	assert_int_equal(v->subsets[2].n_ports, 1);
	assert_string_equal(v->subsets[2].ports[0].name, "metrics");
	assert_int_equal(v->subsets[2].ports[0].port, 9100);
	assert_int_equal(v->subsets[0].n_ports, 3);
	assert_int_equal(v->subsets[0].ports[2].proto, CLUSTER_UDP);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_sidecar_init_containers(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;

	(void)state;
	c = tu_build_ok(
	        SVC("web") "spec:\n  selector: {app: web}\n  ports:\n"
	                   "  - {name: metrics, port: 9100, targetPort: metrics}\n" POD(
	                           "a") "  labels: {app: web}\nspec:\n  containers: [{name: app}]\n"
	                                "  initContainers:\n  - name: proxy\n    restartPolicy: "
	                                "Always\n"
	                                "    ports: [{name: metrics, containerPort: 15090}]\n"
	                                "status:\n  podIP: 10.0.0.1\n" READY POD(
	                                        "b") "  labels: {app: web}\nspec:\n  containers: "
	                                             "[{name: app}]\n"
	                                             "  initContainers:\n  - name: setup\n"
	                                             "    ports: [{name: metrics, containerPort: "
	                                             "15090}]\n"
	                                             "status:\n  podIP: 10.0.0.2\n" READY POD(
	                                                     "c") "  labels: {app: web}\nspec:\n  "
	                                                          "containers:\n"
	                                                          "  - {name: app, ports: [{name: "
	                                                          "metrics, containerPort: "
	                                                          "9000}]}\n"
	                                                          "  initContainers:\n  - name: "
	                                                          "proxy\n    restartPolicy: "
	                                                          "Always\n"
	                                                          "    ports: [{name: metrics, "
	                                                          "containerPort: 15090}]\n"
	                                                          "status:\n  podIP: "
	                                                          "10.0.0.3\n" READY,
	        NULL, &d);
	s = svc(c, "default", "web");
	assert_int_equal(must_ep(s, "10.0.0.1")->ports[0], 15090);
	/* A plain init container has finished before the pod serves. */
	assert_int_equal(must_ep(s, "10.0.0.2")->ports[0], 0);
	/* Regular containers are searched first. */
	assert_int_equal(must_ep(s, "10.0.0.3")->ports[0], 9000);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_hostname_and_node(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	const struct cluster_endpoints *v;

	(void)state;
	c = tu_build_ok(
	        SVC("web") "spec:\n  selector: {app: web}\n  clusterIP: None\n  ports: [{port: "
	                   "80}]\n" POD(
	                           "web-0") "  labels: {app: web}\nspec:\n  hostname: web-0\n  "
	                                    "subdomain: web\n"
	                                    "  nodeName: node-a\nstatus:\n  podIP: "
	                                    "10.0.0.1\n" READY POD(
	                                            "web-1") "  labels: {app: web}\nspec:\n  "
	                                                     "hostname: web-1\n  subdomain: db\n"
	                                                     "  nodeName: node-b\nstatus:\n  "
	                                                     "podIP: 10.0.0.2\n" READY POD(
	                                                             "web-2") "  labels: {app: "
	                                                                      "web}\nspec:\n  "
	                                                                      "hostname: web-2\n"
	                                                                      "status:\n  podIP: "
	                                                                      "10.0.0.3\n" READY,
	        NULL, &d);
	s = svc(c, "default", "web");
	assert_string_equal(must_ep(s, "10.0.0.1")->hostname, "web-0");
	assert_string_equal(must_ep(s, "10.0.0.1")->node_name, "node-a");
	assert_null(must_ep(s, "10.0.0.2")->hostname);
	assert_string_equal(must_ep(s, "10.0.0.2")->node_name, "node-b");
	assert_null(must_ep(s, "10.0.0.3")->hostname);
	assert_null(must_ep(s, "10.0.0.3")->node_name);
	v = view_of(c, "default", "web");
	assert_int_equal(v->n_subsets, 1);
	assert_int_equal(v->subsets[0].n_addresses, 3);
	assert_string_equal(v->subsets[0].addresses[0].hostname, "web-0");
	assert_string_equal(v->subsets[0].addresses[0].node_name, "node-a");
	assert_string_equal(v->subsets[0].addresses[0].target->kind, "Pod");
	assert_string_equal(v->subsets[0].addresses[0].target->name, "web-0");
	assert_string_equal(v->subsets[0].addresses[0].target->ns, "default");
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_selectorless_endpoints(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	const struct cluster_endpoint *e;

	(void)state;
	c = tu_build_ok(
	        SVC("ext") "spec:\n  ports:\n"
	                   "  - {name: http, port: 80}\n"
	                   "  - {name: dns, port: 53, protocol: UDP}\n"
	                   "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: ext}\nsubsets:\n"
	                   "- addresses:\n  - {ip: 192.0.2.1, hostname: h1, nodeName: n1}\n"
	                   "  notReadyAddresses:\n  - ip: 192.0.2.2\n"
	                   "  ports:\n  - {name: http, port: 8080}\n  - {name: dns, port: 5353, "
	                   "protocol: UDP}\n"
	                   "- addresses: [{ip: 192.0.2.3}]\n"
	                   "  ports:\n  - {name: http, port: 8081}\n  - {name: dns, port: 5354}\n"
	                   "---\n" SVC("one") "spec:\n  ports: [{port: 80}]\n"
	                                      "---\napiVersion: v1\nkind: Endpoints\nmetadata: "
	                                      "{name: one}\nsubsets:\n"
	                                      "- addresses: [{ip: 192.0.2.9}]\n  ports: [{port: "
	                                      "9999}]\n"
	                                      "---\n" SVC("none") "spec:\n  ports: [{port: 80}]\n",
	        NULL, &d);
	s = svc(c, "default", "ext");
	assert_false(s->has_selector);
	assert_true(s->has_endpoints_object);
	assert_int_equal(s->n_endpoints, 3);
	e = must_ep(s, "192.0.2.1");
	assert_true(e->ready);
	assert_null(e->pod);
	assert_string_equal(e->hostname, "h1");
	assert_string_equal(e->node_name, "n1");
	assert_int_equal(e->ports[0], 8080);
	assert_int_equal(e->ports[1], 5353);
	e = must_ep(s, "192.0.2.2");
	assert_false(e->ready);
	assert_int_equal(e->ports[0], 8080);
	e = must_ep(s, "192.0.2.3");
	assert_true(e->ready);
	assert_int_equal(e->ports[0], 8081);
	/* "dns" there is TCP: no match for the UDP service port. */
	assert_int_equal(e->ports[1], 0);
	assert_int_equal(cluster_endpoint_count(s, 1, false), 2);
	/* A single unnamed port matches the unnamed endpoint port. */
	s = svc(c, "default", "one");
	assert_int_equal(s->n_endpoints, 1);
	assert_int_equal(s->endpoints[0].ports[0], 9999);
	/* No Endpoints object at all. */
	s = svc(c, "default", "none");
	assert_false(s->has_endpoints_object);
	assert_int_equal(s->n_endpoints, 0);
	assert_int_equal(cluster_endpoint_count(s, 0, false), 0);
	/* The view shows user Endpoints as they are. */
	assert_false(view_of(c, "default", "ext")->generated);
	assert_int_equal(view_of(c, "default", "ext")->n_subsets, 2);
	assert_null(view_of(c, "default", "none"));
	cluster_unref(c);
	diag_deinit(&d);

	/* publishNotReadyAddresses makes notReadyAddresses ready too. */
	c = tu_build_ok(
	        SVC("ext") "spec:\n  publishNotReadyAddresses: true\n  ports: [{port: 80}]\n"
	                   "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: ext}\nsubsets:\n"
	                   "- notReadyAddresses: [{ip: 192.0.2.2}]\n  ports: [{port: 8080}]\n",
	        NULL, &d);
	assert_true(must_ep(svc(c, "default", "ext"), "192.0.2.2")->ready);
	cluster_unref(c);
	diag_deinit(&d);
}

#define SLICE(name, owner)                                                                         \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " name      \
	"\n  labels: {kubernetes.io/service-name: " owner "}\n"

static void
test_selectorless_slices(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	const struct cluster_endpoint *e;

	(void)state;
	c = tu_build_ok(
	        SVC("sl") "spec:\n  ports: [{name: http, port: 80}]\n" SLICE(
	                "sl-1",
	                "sl") "addressType: IPv4\nendpoints:\n"
	                      "- addresses: [10.1.0.1]\n  hostname: h1\n  nodeName: n1\n"
	                      "- addresses: [10.1.0.2]\n  conditions: {ready: false, serving: "
	                      "true, terminating: true}\n"
	                      "- addresses: [10.1.0.3, 10.1.0.33]\n  conditions: {ready: false}\n"
	                      "ports: [{name: http, port: 8080}]\n" SLICE(
	                              "sl-2",
	                              "sl") "addressType: IPv4\nendpoints:\n"
	                                    "- addresses: [10.1.0.4]\n  conditions: {ready: true}\n"
	                                    "ports: [{name: http, port: 8081}]\n" SLICE(
	                                            "sl-other",
	                                            "sl") "  namespace: other\naddressType: "
	                                                  "IPv4\nendpoints:\n"
	                                                  "- addresses: [10.1.0.5]\nports: [{name: "
	                                                  "http, port: 8080}]\n" SLICE(
	                                                          "sl-fqdn",
	                                                          "sl") "addressType: "
	                                                                "FQDN\nendpoints:\n"
	                                                                "- addresses: "
	                                                                "[db.example.com]\nports: "
	                                                                "[{name: http, port: "
	                                                                "8080}]\n" SLICE(
	                                                                        "sl-wrong-port",
	                                                                        "sl") "addressType:"
	                                                                              " IPv4\nendpo"
	                                                                              "ints:\n"
	                                                                              "- "
	                                                                              "addresses: "
	                                                                              "[10.1.0.6]"
	                                                                              "\nports: "
	                                                                              "[{name: "
	                                                                              "https, "
	                                                                              "port: "
	                                                                              "8443}]\n"
	                                                                              /* Endpoints
	                                                                                 for a
	                                                                                 service
	                                                                                 that has
	                                                                                 slices: the
	                                                                                 slices win.
	                                                                               */
	                                                                              "---"
	                                                                              "\napiVersion"
	                                                                              ": v1\nkind: "
	                                                                              "Endpoints\nm"
	                                                                              "etadata: "
	                                                                              "{name: "
	                                                                              "sl}"
	                                                                              "\nsubsets:\n"
	                                                                              "- "
	                                                                              "addresses: "
	                                                                              "[{ip: "
	                                                                              "10.9.9.9}]"
	                                                                              "\n  ports: "
	                                                                              "[{name: "
	                                                                              "http, port: "
	                                                                              "1}]\n",
	        NULL, &d);
	s = svc(c, "default", "sl");
	assert_true(s->has_endpoints_object);
	assert_int_equal(s->n_endpoints, 5);
	e = must_ep(s, "10.1.0.1");
	/* ready nil means ready; serving nil follows ready. */
	assert_true(e->ready);
	assert_true(e->serving);
	assert_false(e->terminating);
	assert_string_equal(e->hostname, "h1");
	assert_string_equal(e->node_name, "n1");
	assert_int_equal(e->ports[0], 8080);
	e = must_ep(s, "10.1.0.2");
	assert_false(e->ready);
	assert_true(e->serving);
	assert_true(e->terminating);
	e = must_ep(s, "10.1.0.3");
	assert_false(e->ready);
	assert_false(e->serving);
	/* Only the first address of an endpoint is used. */
	assert_null(ep_at(s, "10.1.0.33"));
	assert_int_equal(must_ep(s, "10.1.0.4")->ports[0], 8081);
	/* A slice whose ports do not match leaves the endpoint without the port. */
	assert_int_equal(must_ep(s, "10.1.0.6")->ports[0], 0);
	assert_int_equal(cluster_endpoint_count(s, 0, false), 4);
	assert_int_equal(cluster_endpoint_count(s, 0, true), 2);
	assert_null(ep_at(s, "10.1.0.5"));
	assert_null(ep_at(s, "10.9.9.9"));
	assert_int_equal(d.errors, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_objects_of_selector_services_ignored(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_endpoints *v;

	(void)state;
	c = tu_build_ok(SVC("web") "spec:\n  selector: {app: web}\n  ports: [{port: 80}]\n" POD(
	                        "a") "  labels: {app: web}\nstatus:\n  podIP: 10.0.0.1\n" READY
	                             "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: "
	                             "web}\nsubsets:\n"
	                             "- addresses: [{ip: 10.9.9.9}]\n  ports: [{port: 1}]\n" SLICE(
	                                     "web-x", "web") "addressType: IPv4\nendpoints:\n- "
	                                                     "addresses: [10.9.9.8]\n",
	                NULL, &d);
	assert_int_equal(svc(c, "default", "web")->n_endpoints, 1);
	tu_diag_expect(&d, DIAG_WARNING, NULL,
	               "Endpoints default/web: service web has a selector, so its endpoints come "
	               "from its pods; this object is ignored");
	tu_diag_expect(&d, DIAG_WARNING, NULL, "EndpointSlice default/web-x: service web has");
	/* The view holds the controller's Endpoints, not the user's. */
	assert_int_equal(c->n_endpoints, 1);
	v = view_of(c, "default", "web");
	assert_true(v->generated);
	assert_string_equal(v->subsets[0].addresses[0].ip, "10.0.0.1");
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_dual_stack(void **state)
{
	struct diag d;
	struct cluster *c;
	struct cluster_config cfg;
	const struct cluster_service *s;
	const char *pod = POD("p") "  labels: {app: web}\nstatus:\n  podIPs:\n"
	                           "  - ip: 10.0.0.1\n  - ip: \"fd00::1\"\n" READY;
	char yaml[4096];

	(void)state;
	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.96.0.0/12,fd00:10:96::/108"), SVC_OK);
	snprintf(
	        yaml, sizeof(yaml),
	        SVC("v4") "spec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"
	                  "---\n" SVC(
	                          "v6") "spec:\n  selector: {app: web}\n  ipFamilies: [IPv6]\n"
	                                "  ports: [{port: 80}]\n"
	                                "---\n" SVC(
	                                        "both") "spec:\n  selector: {app: web}\n  "
	                                                "ipFamilyPolicy: RequireDualStack\n"
	                                                "  ports: [{port: 80}]\n"
	                                                "---\n" SVC(
	                                                        "hl") "spec:\n  selector: {app: "
	                                                              "web}\n  clusterIP: None\n"
	                                                              "  ports: [{port: 80}]\n"
	                                                              "---\n" SVC(
	                                                                      "hl2") "spec:\n  "
	                                                                             "selector: "
	                                                                             "{app: web}\n "
	                                                                             " clusterIP: "
	                                                                             "None\n"
	                                                                             "  "
	                                                                             "ipFamilyPolic"
	                                                                             "y: "
	                                                                             "PreferDualSta"
	                                                                             "ck\n  ports: "
	                                                                             "[{port: "
	                                                                             "80}]\n"
	                                                                             "---\n" SVC(
	                                                                                     "hl6") "spec:\n  selector: {app: web}\n  clusterIP: None\n"
	                                                                                            "  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv6]\n  ports: [{port: 80}]\n"
	                                                                                            "%s",
	        pod);
	c = tu_build_ok(yaml, &cfg, &d);
	s = svc(c, "default", "v4");
	assert_int_equal(s->n_endpoints, 1);
	assert_int_equal(s->endpoints[0].ip.family, NETADDR_V4);
	s = svc(c, "default", "v6");
	assert_int_equal(s->n_endpoints, 1);
	assert_int_equal(s->endpoints[0].ip.family, NETADDR_V6);
	s = svc(c, "default", "both");
	assert_int_equal(s->n_endpoints, 2);
	assert_int_equal(s->endpoints[0].ip.family, NETADDR_V4);
	assert_int_equal(s->endpoints[1].ip.family, NETADDR_V6);
	assert_ptr_equal(s->endpoints[0].pod, s->endpoints[1].pod);
	/* Headless: the primary family, or both under a dual-stack policy. */
	s = svc(c, "default", "hl");
	assert_int_equal(s->n_endpoints, 1);
	assert_int_equal(s->endpoints[0].ip.family, NETADDR_V4);
	assert_int_equal(svc(c, "default", "hl2")->n_endpoints, 2);
	/* PreferDualStack naming IPv6 on a dual-stack cluster covers IPv4 too. */
	assert_int_equal(svc(c, "default", "hl6")->n_endpoints, 2);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_endpoints_view(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_endpoints *v;

	(void)state;
	c = tu_build_ok(
	        SVC("web") "  namespace: b\n  labels: {app: web}\nspec:\n  selector: {app: web}\n"
	                   "  ports:\n  - {name: http, port: 80, targetPort: 8080, appProtocol: "
	                   "http}\n" POD(
	                           "p1") "  namespace: b\n  labels: {app: web}\nstatus:\n  podIP: "
	                                 "10.0.0.2\n" READY POD(
	                                         "p2") "  namespace: b\n  labels: {app: "
	                                               "web}\nstatus:\n  podIP: 10.0.0.1\n"
	                                               "---\n" SVC("empty") "  namespace: "
	                                                                    "a\nspec:\n  selector: "
	                                                                    "{app: nothing}\n"
	                                                                    "  ports: [{port: "
	                                                                    "80}]\n"
	                                                                    "---\napiVersion: "
	                                                                    "v1\nkind: "
	                                                                    "Endpoints\nmetadata: "
	                                                                    "{name: zz, namespace: "
	                                                                    "a}\n",
	        NULL, &d);
	/* Sorted by namespace, then name: a/empty, a/zz, b/web. */
	assert_int_equal(c->n_endpoints, 3);
	assert_string_equal(c->endpoints[0]->meta.name, "empty");
	assert_string_equal(c->endpoints[1]->meta.name, "zz");
	assert_string_equal(c->endpoints[2]->meta.name, "web");
	/* A selector service with no pods still has an (empty) Endpoints object. */
	assert_true(c->endpoints[0]->generated);
	assert_int_equal(c->endpoints[0]->n_subsets, 0);
	assert_true(svc(c, "a", "empty")->has_endpoints_object);
	v = c->endpoints[2];
	assert_true(v->generated);
	assert_string_equal(v->meta.ns, "b");
	assert_int_equal(v->meta.labels.n, 1);
	assert_int_equal(v->n_subsets, 1);
	assert_int_equal(v->subsets[0].n_addresses, 1);
	assert_string_equal(v->subsets[0].addresses[0].ip, "10.0.0.2");
	assert_string_equal(v->subsets[0].addresses[0].target->name, "p1");
	assert_int_equal(v->subsets[0].n_not_ready, 1);
	assert_string_equal(v->subsets[0].not_ready[0].ip, "10.0.0.1");
	assert_int_equal(v->subsets[0].n_ports, 1);
	assert_string_equal(v->subsets[0].ports[0].name, "http");
	assert_int_equal(v->subsets[0].ports[0].port, 8080);
	assert_string_equal(v->subsets[0].ports[0].app_protocol, "http");
	cluster_unref(c);
	diag_deinit(&d);
}

/* cluster_endpoints_of: per service port, ready endpoints first, only those serving the port. */
static void
test_port_endpoints(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	const struct cluster_endpoint *const *eps;
	char buf[NETADDR_STRLEN];
	size_t n;

	(void)state;
	c = tu_build_ok(
	        SVC("web") "spec:\n  selector: {app: web}\n  ports:\n"
	                   "  - {name: http, port: 80, targetPort: http}\n"
	                   "  - {name: admin, port: 81, targetPort: 9000}\n" POD(
	                           "a") "  labels: {app: web}\nspec:\n  containers:\n  - name: c\n"
	                                "    ports: [{name: http, containerPort: 8080}]\n"
	                                "status:\n  podIP: 10.1.0.3\n" READY POD(
	                                        "b") "  labels: {app: web}\nspec:\n  containers:\n "
	                                             " - name: c\n"
	                                             "    ports: [{name: http, containerPort: "
	                                             "8081}]\n"
	                                             "status:\n  podIP: 10.1.0.1\n"
	                                             "  conditions: [{type: Ready, status: "
	                                             "\"False\"}]\n" POD(
	                                                     "c") "  labels: {app: web}\nspec:\n  "
	                                                          "containers: [{name: c}]\n"
	                                                          "status:\n  podIP: "
	                                                          "10.1.0.2\n" READY,
	        NULL, &d);
	s = svc(c, "default", "web");
	/* http: a (ready, 8080) then b (not ready, 8081); c has no port named http. */
	eps = cluster_endpoints_of(s, 0, false, &n);
	assert_int_equal(n, 2);
	assert_string_equal(netaddr_str(&eps[0]->ip, buf), "10.1.0.3");
	assert_int_equal(eps[0]->ports[0], 8080);
	assert_string_equal(netaddr_str(&eps[1]->ip, buf), "10.1.0.1");
	assert_false(eps[1]->ready);
	eps = cluster_endpoints_of(s, 0, true, &n);
	assert_int_equal(n, 1);
	assert_string_equal(netaddr_str(&eps[0]->ip, buf), "10.1.0.3");
	assert_int_equal(cluster_endpoint_count(s, 0, true), 1);
	/* admin: a number, so every pod serves it; ready ones (c, a) in address order. */
	eps = cluster_endpoints_of(s, 1, true, &n);
	assert_int_equal(n, 2);
	assert_string_equal(netaddr_str(&eps[0]->ip, buf), "10.1.0.2");
	assert_string_equal(netaddr_str(&eps[1]->ip, buf), "10.1.0.3");
	assert_int_equal(cluster_endpoint_count(s, 1, false), 3);
	assert_null(cluster_endpoints_of(s, 2, false, &n));
	assert_int_equal(n, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

/* The Endpoints view, as the legacy controller writes it, leaves terminating pods out. */
static void
test_view_drops_terminating(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_endpoints *e;

	(void)state;
	c = tu_build_ok(
	        SVC("web") "spec:\n  selector: {app: web}\n  ports: [{port: 80}]\n" POD(
	                "a") "  labels: {app: web}\nstatus:\n  podIP: 10.1.0.1\n" READY
	                POD("b") "  labels: {app: web}\n  deletionTimestamp: 2024-01-01T00:00:00Z\n"
	                         "status:\n  podIP: 10.1.0.2\n" READY,
	        NULL, &d);
	e = view_of(c, "default", "web");
	assert_non_null(e);
	assert_int_equal(e->n_subsets, 1);
	assert_int_equal(e->subsets[0].n_addresses, 1);
	assert_string_equal(e->subsets[0].addresses[0].ip, "10.1.0.1");
	assert_int_equal(e->subsets[0].n_not_ready, 0);
	/* The model still has it, as a terminating endpoint, for the forwarder's fallback. */
	assert_true(must_ep(svc(c, "default", "web"), "10.1.0.2")->terminating);
	cluster_unref(c);
	diag_deinit(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_selector_matching),
	        cmocka_unit_test(test_pod_phase_and_ip),
	        cmocka_unit_test(test_readiness),
	        cmocka_unit_test(test_terminating),
	        cmocka_unit_test(test_named_target_port),
	        cmocka_unit_test(test_sidecar_init_containers),
	        cmocka_unit_test(test_hostname_and_node),
	        cmocka_unit_test(test_selectorless_endpoints),
	        cmocka_unit_test(test_selectorless_slices),
	        cmocka_unit_test(test_objects_of_selector_services_ignored),
	        cmocka_unit_test(test_dual_stack),
	        cmocka_unit_test(test_endpoints_view),
	        cmocka_unit_test(test_port_endpoints),
	        cmocka_unit_test(test_view_drops_terminating),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
