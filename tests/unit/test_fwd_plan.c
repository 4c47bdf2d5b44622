/* test_fwd_plan.c -- one node's plan from a snapshot: which listeners (ClusterIPs, node ports,
 * load-balancer IPs, externalIPs) and which endpoints each may send to, under Kubernetes
 * Service semantics (ready, then serving+terminating endpoints; traffic policies; families). */
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fwd_plan.h"

/* ---- fixtures ---------------------------------------------------------------------------- */

static char yaml[1 << 16];

static void y(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Append to the manifest text being built. */
static void
y(const char *fmt, ...)
{
	size_t off = strlen(yaml);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(yaml + off, sizeof(yaml) - off, fmt, ap);
	va_end(ap);
	assert_true(strlen(yaml) + 1 < sizeof(yaml));
}

/* A pod of namespace shop labelled app: APP on NODE, with IPS (one or two, comma-separated),
 * Ready or not, being deleted or not, and container ports PORTS (a flow list, or NULL). */
static void
add_pod(const char *name, const char *app, const char *node, const char *ips, bool ready,
        bool deleted, const char *ports)
{
	char first[NETADDR_STRLEN];
	const char *comma = strchr(ips, ',');

	snprintf(first, sizeof(first), "%.*s", comma ? (int)(comma - ips) : (int)strlen(ips), ips);
	y("---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: shop\n"
	  "  labels: {app: %s}\n%s",
	  name, app, deleted ? "  deletionTimestamp: \"2024-01-01T00:00:00Z\"\n" : "");
	y("spec:\n  nodeName: %s\n  containers:\n  - name: c\n    image: img\n    ports: %s\n",
	  node, ports ? ports : "[]");
	y("status:\n  podIP: \"%s\"\n", first);
	if (comma != NULL)
		y("  podIPs: [{ip: \"%s\"}, {ip: \"%s\"}]\n", first, comma + 1);
	y("  conditions: [{type: Ready, status: \"%s\"}]\n", ready ? "True" : "False");
}

struct fx {
	struct cluster *c;
	struct diag d;
	struct fwd_plan p;
};

/* Fixtures being used, so teardown frees them when a test fails half-way (each is a static
 * of its test: a failing assertion leaves the test's stack frame). */
static struct fx *held[4];
static size_t n_held;

/* Build the manifests in yaml (config CFG, or the default) and plan them for NODE. */
static void
fx_plan(struct fx *f, const struct cluster_config *cfg, const char *node)
{
	memset(f, 0, sizeof(*f));
	assert_true(n_held < sizeof(held) / sizeof(held[0]));
	held[n_held++] = f;
	f->c = tu_build_ok(yaml, cfg, &f->d);
	assert_int_equal(fwd_plan_build(f->c, node, &f->d, &f->p), SVC_OK);
}

static void
fx_release(struct fx *f)
{
	fwd_plan_deinit(&f->p);
	cluster_unref(f->c);
	f->c = NULL;
	diag_deinit(&f->d);
}

static void
fx_free(struct fx *f)
{
	for (size_t i = 0; i < n_held; i++) {
		if (held[i] == f) {
			held[i] = held[--n_held];
			break;
		}
	}
	fx_release(f);
	yaml[0] = '\0';
}

static int
reset(void **state)
{
	(void)state;
	yaml[0] = '\0';
	return 0;
}

static int
cleanup(void **state)
{
	(void)state;
	while (n_held > 0)
		fx_release(held[--n_held]);
	return 0;
}

/* The listener for PROTO on ADDR:PORT; ADDR "*4" or "*6" means the wildcard of that family. */
static const struct fwd_plan_listener *
listener(const struct fwd_plan *p, enum cluster_proto proto, const char *addr, uint16_t port)
{
	struct netaddr a;
	bool wildcard = addr[0] == '*';

	memset(&a, 0, sizeof(a));
	if (wildcard)
		a.family = addr[1] == '6' ? NETADDR_V6 : NETADDR_V4;
	else
		assert_int_equal(netaddr_parse(&a, addr), SVC_OK);
	for (size_t i = 0; i < p->n_listeners; i++) {
		const struct fwd_plan_listener *l = &p->listeners[i];

		if (l->proto == proto && l->port == port && l->wildcard == wildcard &&
		    netaddr_equal(&l->addr, &a))
			return l;
	}
	return NULL;
}

static const struct fwd_plan_listener *
must_listener(const struct fwd_plan *p, enum cluster_proto proto, const char *addr, uint16_t port)
{
	const struct fwd_plan_listener *l = listener(p, proto, addr, port);

	if (l == NULL)
		fail_msg("no listener %s:%u/%s", addr, port, cluster_proto_str(proto));
	assert_true(l->pool < p->n_pools);
	return l;
}

static const struct fwd_plan_pool *
pool_of(const struct fwd_plan *p, const struct fwd_plan_listener *l)
{
	return &p->pools[l->pool];
}

static const struct fwd_plan_pool *
pool_by_key(const struct fwd_plan *p, const char *key)
{
	for (size_t i = 0; i < p->n_pools; i++) {
		if (strcmp(p->pools[i].key, key) == 0)
			return &p->pools[i];
	}
	fail_msg("no pool %s", key);
	return NULL;
}

/* The pool's targets as "ip:port [ip6]:port ..." in their order. */
static const char *
targets(const struct fwd_plan_pool *pool)
{
	static char out[2048];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < pool->n_targets; i++) {
		char a[NETADDR_STRLEN];

		bool v6 = pool->targets[i].ip.family == NETADDR_V6;

		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s%s%s:%u", i ? " " : "",
		                      v6 ? "[" : "", netaddr_str(&pool->targets[i].ip, a),
		                      v6 ? "]" : "", pool->targets[i].port);
	}
	return out;
}

static size_t
count_kind(const struct fwd_plan *p, enum fwd_listener_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_listeners; i++)
		n += p->listeners[i].kind == kind;
	return n;
}

static const struct netaddr *
cluster_ip(const struct cluster *c, const char *name, size_t i)
{
	const struct cluster_service *s = cluster_service_by_name(c, "shop", name);

	assert_non_null(s);
	assert_true(i < s->n_cluster_ips);
	return &s->cluster_ips[i];
}

/* ---- ClusterIP --------------------------------------------------------------------------- */

static void
test_cluster_ip_named_target_port(void **state)
{
	const struct fwd_plan_listener *l;
	const struct fwd_plan_pool *pool;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.20\n  selector: {app: web}\n  ports:\n"
	  "  - {name: http, port: 80, targetPort: http}\n"
	  "  - {name: metrics, port: 9090}\n"
	  "  - {name: admin, port: 8443, targetPort: admin}\n");
	add_pod("web-a", "web", "node-a", "10.244.1.10", true, false,
	        "[{name: http, containerPort: 8080}]");
	add_pod("web-b", "web", "node-b", "10.244.2.10", true, false,
	        "[{name: http, containerPort: 8081}]");
	add_pod("web-c", "web", "node-b", "10.244.2.11", false, false,
	        "[{name: http, containerPort: 8080}]");
	fx_plan(&f, NULL, "node-a");

	/* One listener per port with endpoints; "admin" resolves on no pod. */
	assert_int_equal(f.p.n_listeners, 2);
	assert_int_equal(f.p.n_idle, 1);
	assert_null(listener(&f.p, CLUSTER_TCP, "10.96.0.20", 8443));
	l = must_listener(&f.p, CLUSTER_TCP, "10.96.0.20", 80);
	assert_int_equal(l->kind, FWD_CLUSTER_IP);
	assert_false(l->wildcard);
	assert_int_equal(l->n_source_ranges, 0);
	pool = pool_of(&f.p, l);
	assert_string_equal(pool->key, "shop/web:http/TCP/internal/4");
	assert_string_equal(pool->ns, "shop");
	assert_string_equal(pool->name, "web");
	assert_string_equal(pool->port_name, "http");
	assert_int_equal(pool->proto, CLUSTER_TCP);
	assert_int_equal(pool->scope, FWD_INTERNAL);
	assert_int_equal(pool->family, NETADDR_V4);
	assert_int_equal(pool->affinity_timeout_s, 0);
	assert_false(pool->no_local);
	/* The named port per pod, ready pods only (web-c is not), in address order. */
	assert_string_equal(targets(pool), "10.244.1.10:8080 10.244.2.10:8081");
	assert_true(pool->targets[0].local);
	assert_false(pool->targets[1].local);
	assert_false(pool->targets[0].terminating);
	assert_false(pool->targets[1].terminating);
	/* A port without targetPort targets its own number. */
	l = must_listener(&f.p, CLUSTER_TCP, "10.96.0.20", 9090);
	assert_string_equal(targets(pool_of(&f.p, l)), "10.244.1.10:9090 10.244.2.10:9090");
	assert_string_equal(pool_of(&f.p, l)->key, "shop/web:metrics/TCP/internal/4");
	fx_free(&f);
}

static void
test_unnamed_port_key(void **state)
{
	const struct fwd_plan_pool *pool;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: one, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.21\n  selector: {app: one}\n"
	  "  ports: [{port: 80, targetPort: 8080}]\n");
	add_pod("one-a", "one", "node-a", "10.244.1.12", true, false, NULL);
	fx_plan(&f, NULL, "node-a");
	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.21", 80));
	assert_string_equal(pool->port_name, "80");
	assert_string_equal(pool->key, "shop/one:80/TCP/internal/4");
	assert_string_equal(targets(pool), "10.244.1.12:8080");
	fx_free(&f);
}

/* Pods being deleted: serving (Ready) ones take traffic only when no endpoint is ready. */
static void
test_terminating_pods(void **state)
{
	const struct fwd_plan_pool *pool;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: drain, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.30\n  selector: {app: drain}\n"
	  "  ports: [{port: 80}]\n"
	  "---\napiVersion: v1\nkind: Service\nmetadata: {name: mixed, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.31\n  selector: {app: mixed}\n"
	  "  ports: [{port: 80}]\n");
	/* drain: two serving+terminating, one terminating and not ready, one not ready. */
	add_pod("drain-a", "drain", "node-a", "10.244.1.30", true, true, NULL);
	add_pod("drain-b", "drain", "node-b", "10.244.2.30", true, true, NULL);
	add_pod("drain-c", "drain", "node-b", "10.244.2.31", false, true, NULL);
	add_pod("drain-d", "drain", "node-b", "10.244.2.32", false, false, NULL);
	/* mixed: one ready, one serving+terminating. */
	add_pod("mixed-a", "mixed", "node-a", "10.244.1.40", true, false, NULL);
	add_pod("mixed-b", "mixed", "node-b", "10.244.2.40", true, true, NULL);
	fx_plan(&f, NULL, "node-a");

	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.30", 80));
	assert_string_equal(targets(pool), "10.244.1.30:80 10.244.2.30:80");
	assert_true(pool->targets[0].terminating);
	assert_true(pool->targets[1].terminating);
	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.31", 80));
	assert_string_equal(targets(pool), "10.244.1.40:80");
	assert_false(pool->targets[0].terminating);
	fx_free(&f);
}

#define SLICE(name, svc)                                                                           \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " name      \
	"\n  namespace: shop\n  labels: {kubernetes.io/service-name: " svc "}\n"                   \
	"addressType: IPv4\nports: [{name: http, port: 8080}]\n"

/* The same from EndpointSlice conditions, for a service without selector. */
static void
test_terminating_slices(void **state)
{
	const struct fwd_plan_pool *pool;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.40\n  ports: [{name: http, port: 80}]\n"
	  "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext2, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.41\n  ports: [{name: http, port: 80}]\n"
	  "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext3, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.42\n  ports: [{name: http, port: 80}]\n");
	y(SLICE("ext-1", "ext") "endpoints:\n"
	                        "- addresses: [10.0.5.1]\n"
	                        "  conditions: {ready: false, serving: true, terminating: true}\n"
	                        "- addresses: [10.0.5.2]\n"
	                        "  conditions: {ready: false, serving: false, terminating: true}\n"
	                        "- addresses: [10.0.5.3]\n"
	                        "  conditions: {ready: false}\n");
	/* A ready endpoint (nil ready means ready) wins over the terminating ones. */
	y(SLICE("ext2-1", "ext2") "endpoints:\n"
	                          "- addresses: [10.0.6.1]\n"
	                          "  conditions: {ready: false, serving: true, terminating: true}\n"
	                          "- addresses: [10.0.6.2]\n");
	/* Nothing serving: no listener. */
	y(SLICE("ext3-1",
	        "ext3") "endpoints:\n"
	                "- addresses: [10.0.7.1]\n"
	                "  conditions: {ready: false, serving: false, terminating: true}\n");
	fx_plan(&f, NULL, "node-a");

	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.40", 80));
	assert_string_equal(targets(pool), "10.0.5.1:8080");
	assert_true(pool->targets[0].terminating);
	assert_false(pool->targets[0].local);
	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.41", 80));
	assert_string_equal(targets(pool), "10.0.6.2:8080");
	assert_false(pool->targets[0].terminating);
	assert_null(listener(&f.p, CLUSTER_TCP, "10.96.0.42", 80));
	assert_int_equal(f.p.n_idle, 1);
	assert_int_equal(f.p.n_listeners, 2);
	fx_free(&f);
}

static void
test_no_endpoints_idle(void **state)
{
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: empty, namespace: shop}\n"
	  "spec:\n  type: NodePort\n  clusterIP: 10.96.0.50\n  selector: {app: nothing}\n"
	  "  ports: [{name: a, port: 80, nodePort: 30050}, {name: b, port: 81}]\n");
	fx_plan(&f, NULL, "node-a");
	assert_int_equal(f.p.n_listeners, 0);
	/* Per port: the ClusterIP and the node port of either family. */
	assert_int_equal(f.p.n_idle, 6);
	for (size_t i = 0; i < f.p.n_pools; i++) {
		assert_int_equal(f.p.pools[i].n_targets, 0);
		assert_false(f.p.pools[i].no_local);
	}
	fx_free(&f);
}

static void
test_headless_and_external_name(void **state)
{
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\n"
	  "spec:\n  clusterIP: None\n  selector: {app: db}\n  ports: [{port: 5432}]\n"
	  "---\napiVersion: v1\nkind: Service\nmetadata: {name: pay, namespace: shop}\n"
	  "spec:\n  type: ExternalName\n  externalName: api.payments.example.com\n"
	  "  ports: [{port: 443}]\n");
	add_pod("db-0", "db", "node-a", "10.244.1.50", true, false, NULL);
	fx_plan(&f, NULL, "node-a");
	assert_int_equal(f.p.n_listeners, 0);
	assert_int_equal(f.p.n_pools, 0);
	assert_int_equal(f.p.n_idle, 0);
	fx_free(&f);
}

/* ---- node ports and traffic policies ----------------------------------------------------- */

#define FRONT_PODS()                                                                               \
	do {                                                                                       \
		add_pod("front-a", "front", "node-a", "10.244.1.10", true, false, NULL);           \
		add_pod("front-b", "front", "node-b", "10.244.2.10", true, false, NULL);           \
	} while (0)

static void
test_node_port(void **state)
{
	const struct fwd_plan_listener *l4, *l6, *lc;
	const struct fwd_plan_pool *p4, *p6, *pc;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: front, namespace: shop}\n"
	  "spec:\n  type: NodePort\n  clusterIP: 10.96.0.60\n  selector: {app: front}\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]\n");
	FRONT_PODS();
	fx_plan(&f, NULL, "node-a");
	assert_int_equal(f.p.n_listeners, 3);
	assert_int_equal(f.p.n_idle, 0);
	l4 = must_listener(&f.p, CLUSTER_TCP, "*4", 30080);
	l6 = must_listener(&f.p, CLUSTER_TCP, "*6", 30080);
	lc = must_listener(&f.p, CLUSTER_TCP, "10.96.0.60", 80);
	assert_int_equal(l4->kind, FWD_NODE_PORT);
	assert_int_equal(l6->kind, FWD_NODE_PORT);
	assert_true(l4->wildcard);
	assert_true(l6->wildcard);
	assert_int_equal(l4->addr.family, NETADDR_V4);
	assert_int_equal(l6->addr.family, NETADDR_V6);
	assert_int_equal(lc->kind, FWD_CLUSTER_IP);
	p4 = pool_of(&f.p, l4);
	p6 = pool_of(&f.p, l6);
	pc = pool_of(&f.p, lc);
	assert_int_equal(p4->scope, FWD_EXTERNAL);
	assert_int_equal(p6->scope, FWD_EXTERNAL);
	assert_int_equal(pc->scope, FWD_INTERNAL);
	assert_ptr_not_equal(p4, p6);
	assert_ptr_not_equal(p4, pc);
	assert_string_equal(p4->key, "shop/front:http/TCP/external/4");
	assert_string_equal(p6->key, "shop/front:http/TCP/external/6");
	assert_string_equal(pc->key, "shop/front:http/TCP/internal/4");
	assert_int_equal(p6->family, NETADDR_V6);
	/* All three send to both pods; the IPv6 side has no IPv6 endpoint, so it takes IPv4. */
	assert_string_equal(targets(p4), "10.244.1.10:8080 10.244.2.10:8080");
	assert_string_equal(targets(p6), "10.244.1.10:8080 10.244.2.10:8080");
	assert_string_equal(targets(pc), "10.244.1.10:8080 10.244.2.10:8080");
	fx_free(&f);
}

static void
test_external_policy_local(void **state)
{
	const struct fwd_plan_pool *pool;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: front, namespace: shop}\n"
	  "spec:\n  type: NodePort\n  clusterIP: 10.96.0.61\n  selector: {app: front}\n"
	  "  externalTrafficPolicy: Local\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]\n");
	FRONT_PODS();
	fx_plan(&f, NULL, "node-b");
	/* Node ports: this node's endpoint only. */
	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "*4", 30081));
	assert_string_equal(targets(pool), "10.244.2.10:8080");
	assert_true(pool->targets[0].local);
	assert_false(pool->no_local);
	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "*6", 30081));
	assert_string_equal(targets(pool), "10.244.2.10:8080");
	/* The ClusterIP is internal traffic: still every endpoint. */
	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.61", 80));
	assert_string_equal(targets(pool), "10.244.1.10:8080 10.244.2.10:8080");
	fwd_plan_deinit(&f.p);

	/* A node without one: no node-port listener, and the pool says why. */
	assert_int_equal(fwd_plan_build(f.c, "node-c", &f.d, &f.p), SVC_OK);
	assert_null(listener(&f.p, CLUSTER_TCP, "*4", 30081));
	assert_null(listener(&f.p, CLUSTER_TCP, "*6", 30081));
	assert_int_equal(f.p.n_listeners, 1);
	assert_int_equal(f.p.n_idle, 2);
	pool = pool_by_key(&f.p, "shop/front:http/TCP/external/4");
	assert_int_equal(pool->n_targets, 0);
	assert_true(pool->no_local);
	assert_true(pool_by_key(&f.p, "shop/front:http/TCP/external/6")->no_local);
	assert_false(pool_by_key(&f.p, "shop/front:http/TCP/internal/4")->no_local);
	fx_free(&f);
}

/* Under a Local policy the fallback to serving+terminating endpoints is within the node: a
 * draining local pod is preferred to a ready pod elsewhere. */
static void
test_local_policy_terminating(void **state)
{
	const struct fwd_plan_pool *pool;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: front, namespace: shop}\n"
	  "spec:\n  type: NodePort\n  clusterIP: 10.96.0.63\n  selector: {app: front}\n"
	  "  externalTrafficPolicy: Local\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30083}]\n");
	add_pod("front-a", "front", "node-a", "10.244.1.10", true, true, NULL);
	add_pod("front-b", "front", "node-b", "10.244.2.10", true, false, NULL);
	fx_plan(&f, NULL, "node-a");
	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "*4", 30083));
	assert_string_equal(targets(pool), "10.244.1.10:8080");
	assert_true(pool->targets[0].terminating);
	assert_true(pool->targets[0].local);
	/* The ClusterIP (Cluster policy) has a ready endpoint: that one only. */
	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.63", 80));
	assert_string_equal(targets(pool), "10.244.2.10:8080");
	assert_false(pool->targets[0].terminating);
	fx_free(&f);
}

static void
test_internal_policy_local(void **state)
{
	const struct fwd_plan_pool *pool;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: front, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.62\n  selector: {app: front}\n"
	  "  internalTrafficPolicy: Local\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080}]\n");
	FRONT_PODS();
	fx_plan(&f, NULL, "node-a");
	pool = pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.62", 80));
	assert_string_equal(targets(pool), "10.244.1.10:8080");
	assert_true(pool->targets[0].local);
	fwd_plan_deinit(&f.p);

	assert_int_equal(fwd_plan_build(f.c, "node-c", &f.d, &f.p), SVC_OK);
	assert_int_equal(f.p.n_listeners, 0);
	assert_int_equal(f.p.n_idle, 1);
	pool = pool_by_key(&f.p, "shop/front:http/TCP/internal/4");
	assert_int_equal(pool->n_targets, 0);
	assert_true(pool->no_local);
	fwd_plan_deinit(&f.p);

	/* No node name known: nothing is local. */
	assert_int_equal(fwd_plan_build(f.c, NULL, &f.d, &f.p), SVC_OK);
	assert_int_equal(f.p.n_listeners, 0);
	fx_free(&f);
}

/* ---- load balancers and external IPs ----------------------------------------------------- */

static void
test_load_balancer(void **state)
{
	const struct cluster_service *s;
	const struct fwd_plan_listener *l;
	struct cluster_config cfg;
	char buf[64];
	static struct fx f;

	(void)state;
	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "203.0.113.128/28"), SVC_OK);
	y("apiVersion: v1\nkind: Service\nmetadata: {name: lb-ing, namespace: shop}\n"
	  "spec:\n  type: LoadBalancer\n  selector: {app: front}\n"
	  "  loadBalancerSourceRanges: [198.51.100.0/24, 192.0.2.0/25]\n"
	  "  ports: [{name: https, port: 443, targetPort: 8443}]\n"
	  "status:\n  loadBalancer:\n    ingress: [{ip: 203.0.113.10}]\n"
	  "---\napiVersion: v1\nkind: Service\nmetadata: {name: lb-spec, namespace: shop}\n"
	  "spec:\n  type: LoadBalancer\n  selector: {app: front}\n"
	  "  loadBalancerIP: 203.0.113.20\n"
	  "  ports: [{name: https, port: 443, targetPort: 8443}]\n"
	  "---\napiVersion: v1\nkind: Service\nmetadata: {name: lb-pool, namespace: shop}\n"
	  "spec:\n  type: LoadBalancer\n  selector: {app: front}\n"
	  "  ports: [{name: https, port: 443, targetPort: 8443}]\n");
	FRONT_PODS();
	fx_plan(&f, &cfg, "node-a");
	assert_int_equal(count_kind(&f.p, FWD_LOAD_BALANCER), 3);
	/* Each also has its ClusterIP and node ports. */
	assert_int_equal(count_kind(&f.p, FWD_CLUSTER_IP), 3);
	assert_int_equal(count_kind(&f.p, FWD_NODE_PORT), 6);

	l = must_listener(&f.p, CLUSTER_TCP, "203.0.113.10", 443);
	assert_int_equal(l->kind, FWD_LOAD_BALANCER);
	assert_int_equal(pool_of(&f.p, l)->scope, FWD_EXTERNAL);
	assert_string_equal(pool_of(&f.p, l)->name, "lb-ing");
	assert_string_equal(targets(pool_of(&f.p, l)), "10.244.1.10:8443 10.244.2.10:8443");
	assert_int_equal(l->n_source_ranges, 2);
	assert_non_null(l->source_ranges);
	assert_string_equal(netaddr_prefix_str(&l->source_ranges[0], buf), "198.51.100.0/24");
	assert_string_equal(netaddr_prefix_str(&l->source_ranges[1], buf), "192.0.2.0/25");

	l = must_listener(&f.p, CLUSTER_TCP, "203.0.113.20", 443);
	assert_int_equal(l->kind, FWD_LOAD_BALANCER);
	assert_string_equal(pool_of(&f.p, l)->name, "lb-spec");
	assert_int_equal(l->n_source_ranges, 0);

	s = cluster_service_by_name(f.c, "shop", "lb-pool");
	assert_non_null(s);
	assert_true(s->lb_ip_allocated);
	assert_int_equal(s->n_lb_ips, 1);
	assert_true(netaddr_in_prefix(&s->lb_ips[0], &cfg.lb_pools[0]));
	l = must_listener(&f.p, CLUSTER_TCP, netaddr_str(&s->lb_ips[0], buf), 443);
	assert_int_equal(l->kind, FWD_LOAD_BALANCER);
	assert_string_equal(pool_of(&f.p, l)->name, "lb-pool");
	assert_int_equal(l->n_source_ranges, 0);
	fx_free(&f);
}

/* Without a pool, a LoadBalancer with no address has only its ClusterIP and node ports. */
static void
test_load_balancer_pending(void **state)
{
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: lb, namespace: shop}\n"
	  "spec:\n  type: LoadBalancer\n  selector: {app: front}\n"
	  "  ports: [{name: https, port: 443, targetPort: 8443}]\n");
	FRONT_PODS();
	fx_plan(&f, NULL, "node-a");
	assert_int_equal(count_kind(&f.p, FWD_LOAD_BALANCER), 0);
	assert_int_equal(count_kind(&f.p, FWD_CLUSTER_IP), 1);
	assert_int_equal(count_kind(&f.p, FWD_NODE_PORT), 2);
	fx_free(&f);
}

static void
test_node_port_source_ranges(void **state)
{
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: lb, namespace: shop}\n"
	  "spec:\n  type: LoadBalancer\n  selector: {app: front}\n  clusterIP: 10.96.0.70\n"
	  "  loadBalancerSourceRanges: [198.51.100.0/24]\n"
	  "  ports: [{name: https, port: 443, targetPort: 8443, nodePort: 30443}]\n"
	  "status:\n  loadBalancer:\n    ingress: [{ip: 203.0.113.30}]\n");
	FRONT_PODS();
	fx_plan(&f, NULL, "node-a");
	/* Only the load-balancer IP carries the ranges. */
	assert_int_equal(must_listener(&f.p, CLUSTER_TCP, "203.0.113.30", 443)->n_source_ranges, 1);
	assert_int_equal(must_listener(&f.p, CLUSTER_TCP, "*4", 30443)->n_source_ranges, 0);
	assert_int_equal(must_listener(&f.p, CLUSTER_TCP, "10.96.0.70", 443)->n_source_ranges, 0);
	fx_free(&f);
}

static void
test_external_ips(void **state)
{
	const struct fwd_plan_listener *l;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: front, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.80\n  selector: {app: front}\n"
	  "  externalIPs: [198.51.100.7, \"2001:db8::7\"]\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080}]\n");
	FRONT_PODS();
	fx_plan(&f, NULL, "node-a");
	assert_int_equal(f.p.n_listeners, 3);
	assert_int_equal(count_kind(&f.p, FWD_EXTERNAL_IP), 2);
	l = must_listener(&f.p, CLUSTER_TCP, "198.51.100.7", 80);
	assert_int_equal(l->kind, FWD_EXTERNAL_IP);
	assert_int_equal(l->n_source_ranges, 0);
	assert_int_equal(pool_of(&f.p, l)->scope, FWD_EXTERNAL);
	assert_string_equal(targets(pool_of(&f.p, l)), "10.244.1.10:8080 10.244.2.10:8080");
	l = must_listener(&f.p, CLUSTER_TCP, "2001:db8::7", 80);
	assert_int_equal(l->kind, FWD_EXTERNAL_IP);
	assert_int_equal(pool_of(&f.p, l)->family, NETADDR_V6);
	assert_string_equal(targets(pool_of(&f.p, l)), "10.244.1.10:8080 10.244.2.10:8080");
	fx_free(&f);
}

static void
test_udp(void **state)
{
	const struct fwd_plan_listener *lu, *lt;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.10\n  selector: {app: dns}\n  ports:\n"
	  "  - {name: dns, port: 53, protocol: UDP, targetPort: dns}\n"
	  "  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: dns-tcp}\n");
	add_pod("dns-a", "dns", "node-a", "10.244.1.2", true, false,
	        "[{name: dns, containerPort: 5353, protocol: UDP}, "
	        "{name: dns-tcp, containerPort: 5354, protocol: TCP}]");
	fx_plan(&f, NULL, "node-a");
	/* The same address and port in two protocols is no conflict. */
	assert_int_equal(f.p.n_listeners, 2);
	assert_int_equal(f.d.warnings, 0);
	lu = must_listener(&f.p, CLUSTER_UDP, "10.96.0.10", 53);
	lt = must_listener(&f.p, CLUSTER_TCP, "10.96.0.10", 53);
	assert_int_equal(pool_of(&f.p, lu)->proto, CLUSTER_UDP);
	assert_string_equal(pool_of(&f.p, lu)->key, "shop/dns:dns/UDP/internal/4");
	assert_string_equal(targets(pool_of(&f.p, lu)), "10.244.1.2:5353");
	assert_string_equal(targets(pool_of(&f.p, lt)), "10.244.1.2:5354");
	fx_free(&f);
}

/* Two services claim one externalIP:port: the first in service order (namespace, then name)
 * keeps it, whatever the order of the files. */
static void
test_external_ip_conflict(void **state)
{
	const struct fwd_plan_listener *l;
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: zeta, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.91\n  selector: {app: front}\n"
	  "  externalIPs: [198.51.100.9]\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080}]\n"
	  "---\napiVersion: v1\nkind: Service\nmetadata: {name: alpha, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.90\n  selector: {app: front}\n"
	  "  externalIPs: [198.51.100.9]\n"
	  "  ports: [{name: web, port: 80, targetPort: 8080}]\n");
	FRONT_PODS();
	fx_plan(&f, NULL, "node-a");
	assert_int_equal(count_kind(&f.p, FWD_EXTERNAL_IP), 1);
	l = must_listener(&f.p, CLUSTER_TCP, "198.51.100.9", 80);
	assert_string_equal(pool_of(&f.p, l)->name, "alpha");
	tu_diag_expect(&f.d, DIAG_WARNING, NULL, "shop/zeta");
	tu_diag_expect(&f.d, DIAG_WARNING, NULL, "198.51.100.9:80");
	tu_diag_expect(&f.d, DIAG_WARNING, NULL, "shop/alpha");
	/* Both ClusterIPs stay. */
	must_listener(&f.p, CLUSTER_TCP, "10.96.0.90", 80);
	must_listener(&f.p, CLUSTER_TCP, "10.96.0.91", 80);
	assert_int_equal(f.p.n_listeners, 3);
	fx_free(&f);
}

/* The first claimant keeps the address even while it has no endpoint: the second neither
 * takes it over (to lose it again when the first gets endpoints) nor goes unreported. */
static void
test_external_ip_conflict_idle_first(void **state)
{
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: zeta, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.93\n  selector: {app: front}\n"
	  "  externalIPs: [198.51.100.10]\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080}]\n"
	  "---\napiVersion: v1\nkind: Service\nmetadata: {name: alpha, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.92\n  selector: {app: nothing}\n"
	  "  externalIPs: [198.51.100.10]\n"
	  "  ports: [{name: web, port: 80, targetPort: 8080}]\n");
	FRONT_PODS();
	fx_plan(&f, NULL, "node-a");
	tu_diag_expect(&f.d, DIAG_WARNING, NULL, "198.51.100.10:80");
	assert_null(listener(&f.p, CLUSTER_TCP, "198.51.100.10", 80));
	fx_free(&f);
}

/* ---- affinity, keys, families ------------------------------------------------------------ */

static void
test_session_affinity(void **state)
{
	static struct fx f;

	(void)state;
	y("apiVersion: v1\nkind: Service\nmetadata: {name: sticky, namespace: shop}\n"
	  "spec:\n  type: NodePort\n  clusterIP: 10.96.0.100\n  selector: {app: front}\n"
	  "  sessionAffinity: ClientIP\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080}]\n"
	  "---\napiVersion: v1\nkind: Service\nmetadata: {name: short, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.101\n  selector: {app: front}\n"
	  "  sessionAffinity: ClientIP\n"
	  "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080}]\n"
	  "---\napiVersion: v1\nkind: Service\nmetadata: {name: none, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.102\n  selector: {app: front}\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080}]\n");
	FRONT_PODS();
	fx_plan(&f, NULL, "node-a");
	assert_int_equal(pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.100", 80))
	                         ->affinity_timeout_s,
	                 10800);
	/* Per service port, on every path to it. */
	assert_int_equal(pool_by_key(&f.p, "shop/sticky:http/TCP/external/4")->affinity_timeout_s,
	                 10800);
	assert_int_equal(pool_by_key(&f.p, "shop/sticky:http/TCP/external/6")->affinity_timeout_s,
	                 10800);
	assert_int_equal(pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.101", 80))
	                         ->affinity_timeout_s,
	                 600);
	assert_int_equal(pool_of(&f.p, must_listener(&f.p, CLUSTER_TCP, "10.96.0.102", 80))
	                         ->affinity_timeout_s,
	                 0);
	fx_free(&f);
}

#define STABLE_FIXTURE()                                                                           \
	do {                                                                                       \
		y("apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: shop}\n"          \
		  "spec:\n  type: NodePort\n  selector: {app: front}\n"                            \
		  "  ports: [{name: http, port: 80, targetPort: 8080}, {name: dns, port: 53, "     \
		  "protocol: UDP}]\n"                                                              \
		  "---\napiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: shop}\n"     \
		  "spec:\n  type: LoadBalancer\n  selector: {app: front}\n"                        \
		  "  ports: [{port: 443, targetPort: 8443}]\n"                                     \
		  "status:\n  loadBalancer:\n    ingress: [{ip: 203.0.113.40}]\n");                \
		FRONT_PODS();                                                                      \
	} while (0)

static void
test_keys_stable(void **state)
{
	static struct fx f, g;

	(void)state;
	STABLE_FIXTURE();
	fx_plan(&f, NULL, "node-a");
	/* A second, independent build of the same manifests. */
	fx_plan(&g, NULL, "node-a");
	assert_true(f.p.n_pools > 0);
	assert_int_equal(f.p.n_pools, g.p.n_pools);
	assert_int_equal(f.p.n_listeners, g.p.n_listeners);
	for (size_t i = 0; i < f.p.n_pools; i++) {
		assert_string_equal(f.p.pools[i].key, g.p.pools[i].key);
		assert_string_equal(targets(&f.p.pools[i]), targets(&g.p.pools[i]));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(f.p.pools[i].key, f.p.pools[j].key);
	}
	for (size_t i = 0; i < f.p.n_listeners; i++) {
		const struct fwd_plan_listener *a = &f.p.listeners[i], *b = &g.p.listeners[i];

		assert_true(netaddr_equal(&a->addr, &b->addr));
		assert_int_equal(a->port, b->port);
		assert_int_equal(a->proto, b->proto);
		assert_int_equal(a->kind, b->kind);
		assert_string_equal(f.p.pools[a->pool].key, g.p.pools[b->pool].key);
	}
	pool_by_key(&f.p, "shop/a:http/TCP/internal/4");
	pool_by_key(&f.p, "shop/a:http/TCP/external/6");
	pool_by_key(&f.p, "shop/a:dns/UDP/external/4");
	pool_by_key(&f.p, "shop/b:443/TCP/external/4");
	fx_free(&g);
	fx_free(&f);
}

static void
test_dual_stack(void **state)
{
	const struct fwd_plan_listener *l4, *l6;
	const struct fwd_plan_pool *p4, *p6;
	struct cluster_config cfg;
	char buf[NETADDR_STRLEN];
	static struct fx f;

	(void)state;
	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.96.0.0/12,fd00:96::/108"), SVC_OK);
	y("apiVersion: v1\nkind: Service\nmetadata: {name: ds, namespace: shop}\n"
	  "spec:\n  ipFamilyPolicy: RequireDualStack\n  selector: {app: ds}\n"
	  "  ports: [{name: http, port: 80, targetPort: 8080}]\n");
	add_pod("ds-a", "ds", "node-a", "10.244.1.60,fd00:244:1::60", true, false, NULL);
	add_pod("ds-b", "ds", "node-b", "10.244.2.60,fd00:244:2::60", true, false, NULL);
	add_pod("ds-c", "ds", "node-b", "10.244.2.61", true, false, NULL);
	fx_plan(&f, &cfg, "node-a");
	assert_int_equal(f.p.n_listeners, 2);
	l4 = must_listener(&f.p, CLUSTER_TCP, netaddr_str(cluster_ip(f.c, "ds", 0), buf), 80);
	l6 = must_listener(&f.p, CLUSTER_TCP, netaddr_str(cluster_ip(f.c, "ds", 1), buf), 80);
	assert_int_equal(l4->addr.family, NETADDR_V4);
	assert_int_equal(l6->addr.family, NETADDR_V6);
	p4 = pool_of(&f.p, l4);
	p6 = pool_of(&f.p, l6);
	assert_ptr_not_equal(p4, p6);
	assert_int_equal(p4->family, NETADDR_V4);
	assert_int_equal(p6->family, NETADDR_V6);
	assert_string_equal(p4->key, "shop/ds:http/TCP/internal/4");
	assert_string_equal(p6->key, "shop/ds:http/TCP/internal/6");
	assert_string_equal(targets(p4), "10.244.1.60:8080 10.244.2.60:8080 10.244.2.61:8080");
	assert_string_equal(targets(p6), "[fd00:244:1::60]:8080 [fd00:244:2::60]:8080");
	assert_true(p6->targets[0].local);
	assert_false(p6->targets[1].local);
	fx_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_cluster_ip_named_target_port, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_unnamed_port_key, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_terminating_pods, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_terminating_slices, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_no_endpoints_idle, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_headless_and_external_name, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_node_port, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_external_policy_local, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_local_policy_terminating, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_internal_policy_local, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_load_balancer, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_load_balancer_pending, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_node_port_source_ranges, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_external_ips, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_udp, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_external_ip_conflict, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_external_ip_conflict_idle_first, reset,
	                                        cleanup),
	        cmocka_unit_test_setup_teardown(test_session_affinity, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_keys_stable, reset, cleanup),
	        cmocka_unit_test_setup_teardown(test_dual_stack, reset, cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
