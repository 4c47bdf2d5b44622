/* test_cluster.c -- snapshots: lookups, reference counts, loading directories, configuration. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const manifests =
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: empty}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  type: NodePort\n  clusterIP: 10.96.0.10\n  selector: {app: web}\n  ports:\n"
        "  - {name: http, port: 80, nodePort: 30080}\n"
        "  - {name: dns, port: 53, protocol: UDP, nodePort: 30053}\n"
        "  - {name: dns-tcp, port: 53, protocol: TCP, nodePort: 30053}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec:\n  clusterIPs: [10.96.0.11, \"fd00:10:96::11\"]\n  ipFamilyPolicy: "
        "RequireDualStack\n"
        "  ports: [{port: 80}]\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-0, namespace: shop, labels: {app: "
        "web}}\n"
        "status:\n  podIPs: [{ip: 10.244.1.5}, {ip: \"fd00:244::5\"}]\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: node-agent, namespace: kube-system}\n"
        "spec: {hostNetwork: true}\nstatus: {podIP: 192.168.1.10}\n"
        "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: ext, namespace: implied}\n";

static struct cluster *
build_main(struct diag *d)
{
	struct cluster_config cfg;
	struct cluster *c;

	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.96.0.0/12,fd00:10:96::/108"), SVC_OK);
	diag_init(d);
	c = tu_build(manifests, &cfg, d);
	if (c == NULL) {
		tu_dump(d);
		fail_msg("build failed");
	}
	return c;
}

static struct netaddr
A(const char *s) {
	struct netaddr a;

	assert_int_equal(netaddr_parse(&a, s), SVC_OK);
	return a;
}

static void
test_service_by_name(void **state)
{
	struct diag d;
	struct cluster *c = build_main(&d);
	const struct cluster_service *s;

	(void)state;
	s = cluster_service_by_name(c, "shop", "web");
	assert_non_null(s);
	assert_string_equal(s->meta.ns, "shop");
	s = cluster_service_by_name(c, "default", "web");
	assert_non_null(s);
	assert_string_equal(s->meta.ns, "default");
	assert_null(cluster_service_by_name(c, "default", "Web"));
	assert_null(cluster_service_by_name(c, "other", "web"));
	assert_null(cluster_service_by_name(c, "shop", "we"));
	assert_null(cluster_service_by_name(c, "sho", "pweb"));
	/* Sorted by namespace, then name. */
	assert_int_equal(c->n_services, 2);
	assert_string_equal(c->services[0]->meta.ns, "default");
	assert_string_equal(c->services[1]->meta.ns, "shop");
	assert_int_equal(c->generation, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_service_by_ip(void **state)
{
	struct diag d;
	struct cluster *c = build_main(&d);
	struct netaddr a;
	const struct cluster_service *def = cluster_service_by_name(c, "default", "web");

	(void)state;
	a = A("10.96.0.10");
	assert_ptr_equal(cluster_service_by_ip(c, &a), cluster_service_by_name(c, "shop", "web"));
	a = A("10.96.0.11");
	assert_ptr_equal(cluster_service_by_ip(c, &a), def);
	a = A("fd00:10:96::11");
	assert_ptr_equal(cluster_service_by_ip(c, &a), def);
	a = A("10.96.0.12");
	assert_null(cluster_service_by_ip(c, &a));
	/* A v4-mapped v6 address is not the v4 address. */
	a = A("::ffff:10.96.0.10");
	assert_null(cluster_service_by_ip(c, &a));
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_service_by_node_port(void **state)
{
	struct diag d;
	struct cluster *c = build_main(&d);
	const struct cluster_service *shop = cluster_service_by_name(c, "shop", "web");
	size_t idx = 99;

	(void)state;
	assert_ptr_equal(cluster_service_by_node_port(c, CLUSTER_TCP, 30080, &idx), shop);
	assert_int_equal(idx, 0);
	assert_ptr_equal(cluster_service_by_node_port(c, CLUSTER_UDP, 30053, &idx), shop);
	assert_int_equal(idx, 1);
	assert_ptr_equal(cluster_service_by_node_port(c, CLUSTER_TCP, 30053, &idx), shop);
	assert_int_equal(idx, 2);
	idx = 99;
	assert_null(cluster_service_by_node_port(c, CLUSTER_UDP, 30080, &idx));
	assert_int_equal(idx, 99);
	assert_null(cluster_service_by_node_port(c, CLUSTER_SCTP, 30053, NULL));
	assert_null(cluster_service_by_node_port(c, CLUSTER_TCP, 30081, NULL));
	assert_ptr_equal(cluster_service_by_node_port(c, CLUSTER_TCP, 30080, NULL), shop);
	/* Port index by name. */
	assert_int_equal(cluster_service_port_index(shop, "dns", CLUSTER_UDP), 1);
	assert_int_equal(cluster_service_port_index(shop, "dns", CLUSTER_TCP), -1);
	assert_int_equal(cluster_service_port_index(shop, "dns-tcp", CLUSTER_TCP), 2);
	assert_int_equal(cluster_service_port_index(cluster_service_by_name(c, "default", "web"),
	                                            NULL, CLUSTER_TCP),
	                 0);
	assert_int_equal(cluster_service_port_index(cluster_service_by_name(c, "default", "web"),
	                                            "", CLUSTER_TCP),
	                 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_pod_lookups(void **state)
{
	struct diag d;
	struct cluster *c = build_main(&d);
	const struct cluster_pod *p;
	struct netaddr a;

	(void)state;
	p = cluster_pod_by_name(c, "shop", "web-0");
	assert_non_null(p);
	a = A("10.244.1.5");
	assert_ptr_equal(cluster_pod_by_ip(c, &a), p);
	a = A("fd00:244::5");
	assert_ptr_equal(cluster_pod_by_ip(c, &a), p);
	a = A("10.244.1.6");
	assert_null(cluster_pod_by_ip(c, &a));
	assert_null(cluster_pod_by_name(c, "default", "web-0"));
	/* hostNetwork pods have the node's address and are not found by it. */
	assert_non_null(cluster_pod_by_name(c, "kube-system", "node-agent"));
	a = A("192.168.1.10");
	assert_null(cluster_pod_by_ip(c, &a));
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_namespaces(void **state)
{
	struct diag d;
	struct cluster *c = build_main(&d);

	(void)state;
	/* Declared, or holding some object. */
	assert_true(cluster_namespace_exists(c, "empty"));
	assert_true(cluster_namespace_exists(c, "shop"));
	assert_true(cluster_namespace_exists(c, "default"));
	assert_true(cluster_namespace_exists(c, "kube-system"));
	assert_true(cluster_namespace_exists(c, "implied"));
	assert_false(cluster_namespace_exists(c, "nope"));
	assert_false(cluster_namespace_exists(c, "shopx"));
	assert_int_equal(c->n_ns_names, 5);
	assert_string_equal(c->ns_names[0], "default");
	assert_string_equal(c->ns_names[1], "empty");
	assert_string_equal(c->ns_names[4], "shop");
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_refcount(void **state)
{
	struct diag d;
	struct cluster *c = build_main(&d);

	(void)state;
	assert_int_equal(c->refs, 1);
	assert_ptr_equal(cluster_ref(c), c);
	assert_ptr_equal(cluster_ref(c), c);
	assert_int_equal(c->refs, 3);
	cluster_unref(c);
	cluster_unref(c);
	assert_int_equal(c->refs, 1);
	/* Still usable with the last reference. */
	assert_non_null(cluster_service_by_name(c, "shop", "web"));
	cluster_unref(c); /* frees: ASan reports a leak otherwise */
	cluster_unref(NULL);
	diag_deinit(&d);
}

static void
test_empty_snapshot(void **state)
{
	struct diag d;
	struct cluster *c;
	struct netaddr a = A("10.96.0.1");

	(void)state;
	diag_init(&d);
	c = tu_build("", NULL, &d);
	assert_non_null(c);
	assert_int_equal(c->n_services + c->n_pods + c->n_endpoints + c->n_ns_names, 0);
	assert_null(cluster_service_by_name(c, "default", "x"));
	assert_null(cluster_service_by_ip(c, &a));
	assert_null(cluster_pod_by_ip(c, &a));
	assert_null(cluster_service_by_node_port(c, CLUSTER_TCP, 30000, NULL));
	assert_false(cluster_namespace_exists(c, "default"));
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_many_objects(void **state)
{
	size_t cap = 4 << 20, off = 0, i;
	char *yaml = malloc(cap);
	struct diag d;
	struct cluster *c;
	char name[32];

	(void)state;
	/* Enough objects for the hash tables to grow and chain (2500 of 2768 nodePorts). */
	for (i = 0; i < 2500; i++)
		off += (size_t)snprintf(
		        yaml + off, cap - off,
		        "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%zu, "
		        "namespace: n%zu}\nspec: {type: NodePort, ports: [{port: 80}]}\n"
		        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%zu}\n"
		        "status: {podIP: 10.%zu.%zu.1}\n",
		        i, i % 7, i, i / 250, i % 250);
	diag_init(&d);
	c = tu_build(yaml, NULL, &d);
	assert_non_null(c);
	for (i = 0; i < 2500; i++) {
		const struct cluster_service *s;
		char ip[32];
		struct netaddr a;

		snprintf(name, sizeof(name), "s%zu", i);
		snprintf(ip, sizeof(ip), "n%zu", i % 7);
		s = cluster_service_by_name(c, ip, name);
		assert_non_null(s);
		assert_ptr_equal(cluster_service_by_ip(c, &s->cluster_ips[0]), s);
		assert_ptr_equal(
		        cluster_service_by_node_port(c, CLUSTER_TCP, s->ports[0].node_port, NULL),
		        s);
		snprintf(ip, sizeof(ip), "10.%zu.%zu.1", i / 250, i % 250);
		a = A(ip);
		snprintf(name, sizeof(name), "p%zu", i);
		assert_ptr_equal(cluster_pod_by_ip(c, &a), cluster_pod_by_name(c, "default", name));
	}
	cluster_unref(c);
	diag_deinit(&d);
	free(yaml);
}

static void
make_dir(const char *root, const char *sub)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void
test_load_dir(void **state)
{
	char *dir = tu_tmpdir();
	struct cluster_config cfg;
	struct cluster *c = NULL;
	struct diag d;

	(void)state;
	assert_non_null(dir);
	make_dir(dir, "a");
	make_dir(dir, "a/b");
	make_dir(dir, ".hidden");
	tu_write(dir, "top.yaml",
	         "apiVersion: v1\nkind: Service\nmetadata: {name: top}\n"
	         "spec: {ports: [{port: 80}]}\n");
	tu_write(dir, "a/mid.yml",
	         "apiVersion: v1\nkind: Service\nmetadata: {name: mid}\n"
	         "spec: {ports: [{port: 80}]}\n");
	tu_write(dir, "a/b/deep.yaml",
	         "apiVersion: v1\nkind: Service\nmetadata: {name: deep}\n"
	         "spec: {ports: [{port: 80}]}\n");
	/* Not manifests: dot files, other extensions, hidden directories. */
	tu_write(dir, ".swap.yaml", "this is: [not valid\n");
	tu_write(dir, "notes.txt", "kind: nothing\n");
	tu_write(dir, "a/.tmp.yml", "also: [broken\n");
	tu_write(dir, ".hidden/x.yaml",
	         "apiVersion: v1\nkind: Service\nmetadata: {name: hidden}\n"
	         "spec: {ports: [{port: 80}]}\n");
	tu_write(dir, "a/b/yaml", "not: [a manifest\n");
	cluster_config_init(&cfg);
	diag_init(&d);
	assert_int_equal(cluster_load(dir, &cfg, &d, &c), SVC_OK);
	assert_non_null(c);
	assert_int_equal(d.n, 0);
	assert_int_equal(c->n_services, 3);
	assert_non_null(cluster_service_by_name(c, "default", "top"));
	assert_non_null(cluster_service_by_name(c, "default", "mid"));
	assert_non_null(cluster_service_by_name(c, "default", "deep"));
	assert_null(cluster_service_by_name(c, "default", "hidden"));
	assert_non_null(strstr(cluster_service_by_name(c, "default", "deep")->meta.origin.file,
	                       "/a/b/deep.yaml"));
	cluster_unref(c);
	diag_deinit(&d);

	/* An error in one file: the load fails and names the file; the other files serve. */
	tu_write(dir, "a/bad.yaml",
	         "apiVersion: v1\nkind: Service\nmetadata: {name: Bad}\n"
	         "spec: {ports: [{port: 80}]}\n");
	diag_init(&d);
	assert_int_equal(cluster_load(dir, &cfg, &d, &c), SVC_EINVAL);
	assert_non_null(c);
	assert_int_equal(c->n_services, 3);
	assert_null(cluster_service_by_name(c, "default", "Bad"));
	cluster_unref(c);
	assert_int_equal(d.errors, 1);
	assert_non_null(strstr(d.entries[0].file, "a/bad.yaml"));
	diag_deinit(&d);
	/* Syntax errors are reported together with semantic ones from other files. */
	tu_write(dir, "a/b/broken.yaml", "key: [unclosed\n");
	diag_init(&d);
	assert_int_equal(cluster_load(dir, &cfg, &d, &c), SVC_EINVAL);
	assert_non_null(c);
	assert_int_equal(c->n_services, 3);
	cluster_unref(c);
	assert_int_equal(d.errors, 2);
	tu_diag_expect(&d, DIAG_ERROR, "metadata.name", "DNS-1035");
	tu_diag_expect(&d, DIAG_ERROR, NULL, "YAML syntax error");
	diag_deinit(&d);
	tu_rmrf(dir);
	free(dir);
}

static void
test_load_missing_dir(void **state)
{
	struct cluster_config cfg;
	struct cluster *c = (struct cluster *)1;
	struct diag d;

	(void)state;
	cluster_config_init(&cfg);
	diag_init(&d);
	assert_int_equal(cluster_load("/nonexistent/svcdns-test", &cfg, &d, &c), SVC_EIO);
	assert_null(c);
	tu_diag_expect(&d, DIAG_ERROR, NULL, "cannot read directory");
	diag_deinit(&d);
}

static void
test_config(void **state)
{
	struct cluster_config cfg;
	char buf[NETADDR_STRLEN + 4];

	(void)state;
	cluster_config_init(&cfg);
	assert_int_equal(cfg.n_service_cidrs, 1);
	assert_string_equal(netaddr_prefix_str(&cfg.service_cidrs[0], buf), "10.96.0.0/12");
	assert_int_equal(cfg.node_port_min, 30000);
	assert_int_equal(cfg.node_port_max, 32767);

	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.0.0.0/16,fd00::/108"), SVC_OK);
	assert_int_equal(cfg.n_service_cidrs, 2);
	assert_string_equal(netaddr_prefix_str(&cfg.service_cidrs[1], buf), "fd00::/108");
	assert_int_equal(cluster_config_set_cidrs(&cfg, "fd00::/112"), SVC_OK);
	assert_int_equal(cfg.n_service_cidrs, 1);
	assert_int_equal(cfg.service_cidrs[0].addr.family, NETADDR_V6);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.0.0.0/29"), SVC_OK);

	/* Invalid lists leave the configuration as it was. */
	assert_int_equal(cluster_config_set_cidrs(&cfg, ""), SVC_EINVAL);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.96.0.1/12"), SVC_EINVAL);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.96.0.0"), SVC_EINVAL);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.0.0.0/8,10.1.0.0/16"), SVC_EINVAL);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.0.0.0/16,fd00::/108,10.1.0.0/16"),
	                 SVC_EINVAL);
	assert_int_equal(cluster_config_set_cidrs(&cfg, ",10.0.0.0/16"), SVC_EINVAL);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.0.0.0/16,,fd00::/108"), SVC_EINVAL);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "banana"), SVC_EINVAL);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.0.0.0/16,"), SVC_EINVAL);
	/* Too small to allocate from, or too big for the allocator. */
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.0.0.0/30"), SVC_ERANGE);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.0.0.0/7"), SVC_ERANGE);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "fd00::/64"), SVC_ERANGE);
	assert_int_equal(cfg.n_service_cidrs, 1);
	assert_string_equal(netaddr_prefix_str(&cfg.service_cidrs[0], buf), "10.0.0.0/29");
	assert_string_equal(svc_status_str(SVC_EFULL), "range exhausted");

	/* Load-balancer pools: none by default, one per family, any size. */
	cluster_config_init(&cfg);
	assert_int_equal(cfg.n_lb_pools, 0);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "192.0.2.0/28,2001:db8::/64"), SVC_OK);
	assert_int_equal(cfg.n_lb_pools, 2);
	assert_string_equal(netaddr_prefix_str(&cfg.lb_pools[0], buf), "192.0.2.0/28");
	assert_string_equal(netaddr_prefix_str(&cfg.lb_pools[1], buf), "2001:db8::/64");
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "192.0.2.7/32"), SVC_OK);
	assert_int_equal(cfg.n_lb_pools, 1);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "192.0.2.1/28"), SVC_EINVAL);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "192.0.2.0/28,198.51.100.0/24"),
	                 SVC_EINVAL);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "192.0.2.0/28,"), SVC_EINVAL);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "pool"), SVC_EINVAL);
	assert_int_equal(cfg.n_lb_pools, 1);
	assert_string_equal(netaddr_prefix_str(&cfg.lb_pools[0], buf), "192.0.2.7/32");
	/* An empty list clears them. */
	assert_int_equal(cluster_config_set_lb_pools(&cfg, ""), SVC_OK);
	assert_int_equal(cfg.n_lb_pools, 0);
	assert_string_equal(svc_status_str((enum svc_status)42), "unknown status");
}

/* Nodes: a registered node that is not Ready takes its pods' readiness; one never registered
 * leaves them be; where nodes keep leases, a node without its Lease is down too. */
static const char *const nodes_yaml =
        "apiVersion: v1\nkind: Node\nmetadata: {name: up, labels: "
        "{node-role.kubernetes.io/worker: \"\"}}\n"
        "status:\n  addresses: [{type: InternalIP, address: 10.0.0.1}]\n"
        "  conditions: [{type: Ready, status: \"True\", lastHeartbeatTime: "
        "\"2026-01-01T00:00:00Z\"}]\n"
        "  nodeInfo: {kubeletVersion: svcfwd-0.1.0}\n"
        "---\napiVersion: v1\nkind: Node\nmetadata: {name: down}\n"
        "status: {conditions: [{type: Ready, status: Unknown}]}\n"
        "---\napiVersion: v1\nkind: Node\nmetadata: {name: bare}\n"
        "---\napiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: up}\n"
        "spec: {holderIdentity: up, leaseDurationSeconds: 10}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
        "spec: {clusterIP: 10.96.0.9, selector: {app: a}, ports: [{port: 80}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p-up, labels: {app: a}}\n"
        "spec: {nodeName: up}\nstatus: {podIP: 10.1.0.1, conditions: [{type: Ready, status: "
        "\"True\"}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p-down, labels: {app: a}}\n"
        "spec: {nodeName: down}\nstatus: {podIP: 10.1.0.2, conditions: [{type: Ready, status: "
        "\"True\"}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p-bare, labels: {app: a}}\n"
        "spec: {nodeName: bare}\nstatus: {podIP: 10.1.0.3, conditions: [{type: Ready, status: "
        "\"True\"}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p-none, labels: {app: a}}\n"
        "spec: {nodeName: never-registered}\nstatus: {podIP: 10.1.0.4, conditions: [{type: "
        "Ready, status: \"True\"}]}\n";

/* The ready endpoints of service s, as "a,b,". */
static void
ready_eps(const struct cluster *c, char *buf, size_t size)
{
	const struct cluster_service *s = cluster_service_by_name(c, "default", "s");
	size_t n, at = 0;
	const struct cluster_endpoint *const *eps;
	char ip[NETADDR_STRLEN];

	assert_non_null(s);
	eps = cluster_endpoints_of(s, 0, true, &n);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(buf + at, size - at, "%s,", netaddr_str(&eps[i]->ip, ip));
}

static void
test_nodes(void **state)
{
	struct cluster_config cfg;
	struct cluster *c;
	struct diag d;
	char eps[256];

	(void)state;
	cluster_config_init(&cfg);
	diag_init(&d);
	c = tu_build_ok(nodes_yaml, &cfg, &d);
	assert_int_equal(c->n_nodes, 3);
	assert_int_equal(c->n_leases, 1);
	assert_string_equal(c->nodes[2]->meta.name, "up");
	assert_string_equal(c->nodes[2]->kubelet_version, "svcfwd-0.1.0");
	assert_string_equal(c->nodes[2]->addresses[0].address, "10.0.0.1");
	/* Without leases: "bare" (no status) is ready, "down" (Unknown) is not. */
	assert_int_equal(c->n_nodes_down, 1);
	assert_string_equal(c->nodes_down[0], "down");
	assert_true(cluster_node_down(c, "down"));
	assert_false(cluster_node_down(c, "never-registered"));
	assert_false(cluster_pod_ready(c, cluster_pod_by_name(c, "default", "p-down")));
	assert_true(cluster_pod_ready(c, cluster_pod_by_name(c, "default", "p-none")));
	ready_eps(c, eps, sizeof(eps));
	assert_string_equal(eps, "10.1.0.1,10.1.0.3,10.1.0.4,");
	cluster_unref(c);
	diag_deinit(&d);

	/* With leases: "bare" has none, so it is down too. */
	cfg.node_leases = true;
	diag_init(&d);
	c = tu_build_ok(nodes_yaml, &cfg, &d);
	assert_int_equal(c->n_nodes_down, 2);
	assert_false(cluster_node_ready(c, c->nodes[0])); /* bare */
	assert_true(cluster_node_ready(c, c->nodes[2]));  /* up */
	ready_eps(c, eps, sizeof(eps));
	assert_string_equal(eps, "10.1.0.1,10.1.0.4,");
	cluster_unref(c);
	diag_deinit(&d);

	/* Checked as the API server would: a name, an address, a duration. */
	diag_init(&d);
	assert_null(tu_build("apiVersion: v1\nkind: Node\nmetadata: {name: Bad_Name}\n---\n"
	                     "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: "
	                     "{addresses: [{type: InternalIP, address: 10.0.0.999}]}\n---\n"
	                     "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: "
	                     "n1, namespace: kube-node-lease}\nspec: {leaseDurationSeconds: -1}\n",
	                     &cfg, &d));
	tu_diag_expect(&d, DIAG_ERROR, "metadata.name", "RFC 1123 subdomain");
	tu_diag_expect(&d, DIAG_ERROR, "status.addresses[0].address", "valid IP");
	tu_diag_expect(&d, DIAG_ERROR, "spec.leaseDurationSeconds", "greater than or equal to 0");
	tu_diag_expect(&d, DIAG_WARNING, "metadata.namespace", "not namespaced");
	diag_deinit(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_service_by_name),
	        cmocka_unit_test(test_service_by_ip),
	        cmocka_unit_test(test_service_by_node_port),
	        cmocka_unit_test(test_pod_lookups),
	        cmocka_unit_test(test_namespaces),
	        cmocka_unit_test(test_refcount),
	        cmocka_unit_test(test_empty_snapshot),
	        cmocka_unit_test(test_many_objects),
	        cmocka_unit_test(test_load_dir),
	        cmocka_unit_test(test_load_missing_dir),
	        cmocka_unit_test(test_config),
	        cmocka_unit_test(test_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
