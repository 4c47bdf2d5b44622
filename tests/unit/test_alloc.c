/* test_alloc.c -- ClusterIP and nodePort allocation: ranges, bands, determinism, stability. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct cluster_config
cidr_cfg(const char *cidrs)
{
	struct cluster_config cfg;

	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_cidrs(&cfg, cidrs), SVC_OK);
	return cfg;
}

/* Append a service document to BUF. TYPE is ClusterIP/NodePort/..., EXTRA more spec lines. */
static void
add_svc(char *buf, size_t cap, const char *name, const char *type, const char *created,
        const char *extra)
{
	size_t off = strlen(buf);

	snprintf(buf + off, cap - off,
	         "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n%s%s%s"
	         "spec:\n  type: %s\n%s",
	         name, created ? "  creationTimestamp: \"" : "", created ? created : "",
	         created ? "\"\n" : "", type, extra ? extra : "  ports: [{port: 80}]\n");
}

static const struct cluster_service *
svc(const struct cluster *c, const char *name)
{
	const struct cluster_service *s = cluster_service_by_name(c, "default", name);

	if (s == NULL)
		fail_msg("no service %s", name);
	return s;
}

static void
test_ip_in_range(void **state)
{
	struct cluster_config cfg = cidr_cfg("10.0.0.0/29");
	struct netaddr_prefix p = cfg.service_cidrs[0];
	char *yaml = calloc(1, 65536);
	struct cluster *c;
	struct diag d;
	bool seen[8] = {false};
	size_t i;
	char name[16];

	(void)state;
	/* 8 addresses: network .0 and broadcast .7 excluded, 6 left for 6 services. */
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "s%zu", i);
		add_svc(yaml, 65536, name, "ClusterIP", NULL, NULL);
	}
	c = tu_build_ok(yaml, &cfg, &d);
	for (i = 0; i < c->n_services; i++) {
		const struct cluster_service *s = c->services[i];
		uint64_t off;

		assert_true(s->cluster_ip_allocated);
		assert_int_equal(s->n_cluster_ips, 1);
		assert_true(netaddr_in_prefix(&s->cluster_ips[0], &p));
		off = netaddr_offset(&p, &s->cluster_ips[0]);
		assert_true(off >= 1 && off <= 6);
		assert_false(seen[off]);
		seen[off] = true;
		/* Written back so printing shows what the cluster uses. */
		assert_non_null(s->cluster_ip_text);
		assert_int_equal(s->n_cluster_ips_text, 1);
		assert_string_equal(s->ip_families_text[0], "IPv4");
		assert_ptr_equal(cluster_service_by_ip(c, &s->cluster_ips[0]), s);
	}
	cluster_unref(c);
	diag_deinit(&d);
	free(yaml);
}

static void
test_ip_range_full(void **state)
{
	struct cluster_config cfg = cidr_cfg("10.0.0.0/29");
	char *yaml = calloc(1, 65536);
	struct diag d;
	size_t i;
	char name[16];

	(void)state;
	for (i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "s%zu", i);
		add_svc(yaml, 65536, name, "ClusterIP", NULL, NULL);
	}
	diag_init(&d);
	assert_null(tu_build(yaml, &cfg, &d));
	assert_int_equal(d.errors, 1);
	tu_diag_expect(&d, DIAG_ERROR, "spec.clusterIP",
	               "Internal error: failed to allocate a serviceIP: range 10.0.0.0/29 is full");
	/* The newest (here: last by name) misses out. */
	assert_int_equal(d.entries[0].line, 50);
	diag_deinit(&d);
	free(yaml);
}

static void
test_explicit_ip_never_taken(void **state)
{
	struct cluster_config cfg = cidr_cfg("10.0.0.0/29");
	char *yaml = calloc(1, 65536);
	struct cluster *c;
	struct diag d;
	struct netaddr taken;
	size_t i;
	char name[16];

	(void)state;
	assert_int_equal(netaddr_parse(&taken, "10.0.0.3"), SVC_OK);
	/* Explicit in the last document: it is still claimed before any allocation. */
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "a%zu", i);
		add_svc(yaml, 65536, name, "ClusterIP", NULL, NULL);
	}
	add_svc(yaml, 65536, "z", "ClusterIP", NULL,
	        "  clusterIP: 10.0.0.3\n  ports: [{port: 80}]\n");
	c = tu_build_ok(yaml, &cfg, &d);
	for (i = 0; i < c->n_services; i++) {
		const struct cluster_service *s = c->services[i];

		if (!strcmp(s->meta.name, "z")) {
			assert_false(s->cluster_ip_allocated);
			assert_true(netaddr_equal(&s->cluster_ips[0], &taken));
		} else {
			assert_false(netaddr_equal(&s->cluster_ips[0], &taken));
		}
	}
	cluster_unref(c);
	diag_deinit(&d);
	/* One more service and the range is full. */
	add_svc(yaml, 65536, "a5", "ClusterIP", NULL, NULL);
	diag_init(&d);
	assert_null(tu_build(yaml, &cfg, &d));
	tu_diag_expect(&d, DIAG_ERROR, "spec.clusterIP", "is full");
	diag_deinit(&d);
	free(yaml);
}

static void
test_ip_bands(void **state)
{
	struct cluster_config cfg = cidr_cfg("10.0.0.0/24");
	struct netaddr_prefix p = cfg.service_cidrs[0];
	size_t cap = 1 << 20, i;
	char *yaml = calloc(1, cap);
	struct cluster *c;
	struct diag d;
	char name[16], extra[96];

	(void)state;
	/* A /24 has a 16-address static band (.1-.16): dynamic allocation stays above it. */
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "s%zu", i);
		add_svc(yaml, cap, name, "ClusterIP", NULL, NULL);
	}
	c = tu_build_ok(yaml, &cfg, &d);
	for (i = 0; i < c->n_services; i++) {
		uint64_t off = netaddr_offset(&p, &c->services[i]->cluster_ips[0]);

		assert_true(off >= 17 && off <= 254);
	}
	cluster_unref(c);
	diag_deinit(&d);
	/* Fill the dynamic band with explicit addresses: the next one comes from the static band.
	 */
	yaml[0] = '\0';
	for (i = 17; i <= 254; i++) {
		snprintf(name, sizeof(name), "x%zu", i);
		snprintf(extra, sizeof(extra), "  clusterIP: 10.0.0.%zu\n  ports: [{port: 80}]\n",
		         i);
		add_svc(yaml, cap, name, "ClusterIP", NULL, extra);
	}
	add_svc(yaml, cap, "new", "ClusterIP", NULL, NULL);
	c = tu_build_ok(yaml, &cfg, &d);
	{
		uint64_t off = netaddr_offset(&p, &svc(c, "new")->cluster_ips[0]);

		assert_true(off >= 1 && off <= 16);
	}
	cluster_unref(c);
	diag_deinit(&d);
	free(yaml);
}

static void
test_ipv6_allocation(void **state)
{
	struct cluster_config cfg = cidr_cfg("fd00:10:96::/125");
	struct netaddr_prefix p = cfg.service_cidrs[0];
	char *yaml = calloc(1, 65536);
	struct cluster *c;
	struct diag d;
	size_t i;
	char name[16];

	(void)state;
	/* IPv6 has no broadcast address: 7 of 8 are usable. */
	for (i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "s%zu", i);
		add_svc(yaml, 65536, name, "ClusterIP", NULL, NULL);
	}
	c = tu_build_ok(yaml, &cfg, &d);
	for (i = 0; i < c->n_services; i++) {
		assert_int_equal(c->services[i]->cluster_ips[0].family, NETADDR_V6);
		assert_true(netaddr_offset(&p, &c->services[i]->cluster_ips[0]) >= 1);
		assert_string_equal(c->services[i]->ip_families_text[0], "IPv6");
	}
	cluster_unref(c);
	diag_deinit(&d);
	free(yaml);
}

/* Allocation results of every service, as text, for comparing builds. */
static void
summary(const struct cluster *c, char *out, size_t cap)
{
	size_t i, k, off = 0;
	char buf[NETADDR_STRLEN];

	out[0] = '\0';
	for (i = 0; i < c->n_services; i++) {
		const struct cluster_service *s = c->services[i];

		off += (size_t)snprintf(out + off, cap - off, "%s/%s", s->meta.ns, s->meta.name);
		for (k = 0; k < s->n_cluster_ips; k++)
			off += (size_t)snprintf(out + off, cap - off, " %s",
			                        netaddr_str(&s->cluster_ips[k], buf));
		for (k = 0; k < s->n_ports; k++)
			off += (size_t)snprintf(out + off, cap - off, " %d/%d", s->ports[k].port,
			                        s->ports[k].node_port);
		if (s->health_check_node_port != 0)
			off += (size_t)snprintf(out + off, cap - off, " hc=%d",
			                        s->health_check_node_port);
		for (k = 0; k < s->n_lb_ips; k++)
			off += (size_t)snprintf(out + off, cap - off, " lb=%s",
			                        netaddr_str(&s->lb_ips[k], buf));
		off += (size_t)snprintf(out + off, cap - off, "\n");
	}
}

static void
test_determinism(void **state)
{
	struct cluster_config cfg = cidr_cfg("10.0.0.0/27");
	size_t cap = 65536, i, n = 20;
	char *fwd = calloc(1, cap), *rev = calloc(1, cap), *mix = calloc(1, cap);
	char *s1 = calloc(1, cap), *s2 = calloc(1, cap), *s3 = calloc(1, cap);
	char name[16];
	struct cluster *c;
	struct diag d;

	(void)state;
	/* A small range so that probes collide; half with timestamps, half without. */
	for (i = 0; i < n; i++) {
		size_t j = n - 1 - i, m = (i * 7) % n;
		char ts[32];

		snprintf(name, sizeof(name), "svc-%zu", i);
		snprintf(ts, sizeof(ts), "2024-01-01T00:00:%02zuZ", i % 3);
		add_svc(fwd, cap, name, i % 2 ? "NodePort" : "ClusterIP", i % 2 ? ts : NULL, NULL);
		snprintf(name, sizeof(name), "svc-%zu", j);
		snprintf(ts, sizeof(ts), "2024-01-01T00:00:%02zuZ", j % 3);
		add_svc(rev, cap, name, j % 2 ? "NodePort" : "ClusterIP", j % 2 ? ts : NULL, NULL);
		snprintf(name, sizeof(name), "svc-%zu", m);
		snprintf(ts, sizeof(ts), "2024-01-01T00:00:%02zuZ", m % 3);
		add_svc(mix, cap, name, m % 2 ? "NodePort" : "ClusterIP", m % 2 ? ts : NULL, NULL);
	}
	c = tu_build_ok(fwd, &cfg, &d);
	summary(c, s1, cap);
	cluster_unref(c);
	diag_deinit(&d);
	c = tu_build_ok(rev, &cfg, &d);
	summary(c, s2, cap);
	cluster_unref(c);
	diag_deinit(&d);
	c = tu_build_ok(mix, &cfg, &d);
	summary(c, s3, cap);
	cluster_unref(c);
	diag_deinit(&d);
	assert_string_equal(s1, s2);
	assert_string_equal(s1, s3);
	free(fwd);
	free(rev);
	free(mix);
	free(s1);
	free(s2);
	free(s3);
}

static void
test_determinism_across_files(void **state)
{
	/* The same objects split over two files in either order. */
	const char *a = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
	                "spec: {type: NodePort, ports: [{port: 80}]}\n";
	const char *b = "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
	                "spec: {type: NodePort, ports: [{port: 80}]}\n";
	const char *order[2][2] = {{a, b}, {b, a}};
	char out[2][4096];
	struct cluster_config cfg = cidr_cfg("10.0.0.0/29");
	size_t k;

	(void)state;
	cfg.node_port_min = 30000;
	cfg.node_port_max = 30003;
	for (k = 0; k < 2; k++) {
		struct cluster_objects objs;
		struct cluster *c = NULL;
		struct diag d;

		diag_init(&d);
		cluster_objects_init(&objs);
		cluster_objects_load_buffer(&objs, "one.yaml", order[k][0], strlen(order[k][0]),
		                            &d);
		cluster_objects_load_buffer(&objs, "two.yaml", order[k][1], strlen(order[k][1]),
		                            &d);
		assert_int_equal(cluster_build(&objs, &cfg, &d, &c), SVC_OK);
		summary(c, out[k], sizeof(out[k]));
		cluster_unref(c);
		cluster_objects_deinit(&objs);
		diag_deinit(&d);
	}
	assert_string_equal(out[0], out[1]);
}

static void
test_stability_with_timestamps(void **state)
{
	struct cluster_config cfg = cidr_cfg("10.0.0.0/28");
	size_t cap = 65536, i, k;
	char *base = calloc(1, cap), *more = calloc(1, cap);
	char *s1 = calloc(1, cap), *s2 = calloc(1, cap);
	char name[16];
	struct cluster *c;
	struct diag d;

	(void)state;
	cfg.node_port_min = 30000;
	cfg.node_port_max = 30015;
	/* 8 services in a 14-address range: newcomers collide with them often. */
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "old-%zu", i);
		add_svc(base, cap, name, "NodePort", "2024-01-01T00:00:00Z", NULL);
	}
	c = tu_build_ok(base, &cfg, &d);
	summary(c, s1, cap);
	cluster_unref(c);
	diag_deinit(&d);
	for (k = 0; k < 6; k++) {
		/* Names sorting before and after the old ones, all created later. */
		strcpy(more, base);
		snprintf(name, sizeof(name), "%c-new-%zu", k % 2 ? 'a' : 'z', k);
		add_svc(more, cap, name, "NodePort", "2024-06-01T00:00:00Z", NULL);
		c = tu_build_ok(more, &cfg, &d);
		summary(c, s2, cap);
		/* Every old line is still there, unchanged. */
		for (i = 0; i < 8; i++) {
			const struct cluster_service *o;
			char want[128], buf[NETADDR_STRLEN];

			snprintf(name, sizeof(name), "old-%zu", i);
			o = svc(c, name);
			snprintf(want, sizeof(want), "default/%s %s 80/%d\n", name,
			         netaddr_str(&o->cluster_ips[0], buf), o->ports[0].node_port);
			assert_non_null(strstr(s1, want));
		}
		cluster_unref(c);
		diag_deinit(&d);
	}
	free(base);
	free(more);
	free(s1);
	free(s2);
}

static void
test_stability_without_timestamps(void **state)
{
	/* In the default /12 a newcomer's home slot almost surely collides with nobody. */
	const char *base = "apiVersion: v1\nkind: Service\nmetadata: {name: mid}\n"
	                   "spec: {type: NodePort, ports: [{port: 80}]}\n"
	                   "---\napiVersion: v1\nkind: Service\nmetadata: {name: zed}\n"
	                   "spec: {type: LoadBalancer, ports: [{port: 443}]}\n";
	const char *extra = "---\napiVersion: v1\nkind: Service\nmetadata: {name: aaa}\n"
	                    "spec: {type: NodePort, ports: [{port: 80}]}\n";
	char yaml[2048], s1[1024], s2[1024];
	struct cluster *c;
	struct diag d;

	(void)state;
	c = tu_build_ok(base, NULL, &d);
	summary(c, s1, sizeof(s1));
	cluster_unref(c);
	diag_deinit(&d);
	snprintf(yaml, sizeof(yaml), "%s---\n%s", extra, base);
	c = tu_build_ok(yaml, NULL, &d);
	summary(c, s2, sizeof(s2));
	cluster_unref(c);
	diag_deinit(&d);
	/* s2 is s1 with aaa's line in front. */
	assert_non_null(strstr(s2, s1));
	assert_int_equal(strncmp(s2, "default/aaa ", 12), 0);
}

static void
test_node_ports_for_external_types(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	size_t idx = 99;

	(void)state;
	c = tu_build_ok(
	        "apiVersion: v1\nkind: Service\nmetadata: {name: np}\n"
	        "spec:\n  type: NodePort\n  ports:\n  - {name: a, port: 80}\n  - {name: b, port: "
	        "81}\n"
	        "---\napiVersion: v1\nkind: Service\nmetadata: {name: lb}\n"
	        "spec: {type: LoadBalancer, ports: [{port: 443}]}\n"
	        "---\napiVersion: v1\nkind: Service\nmetadata: {name: cip}\n"
	        "spec: {ports: [{port: 80}]}\n"
	        "---\napiVersion: v1\nkind: Service\nmetadata: {name: hl}\n"
	        "spec: {clusterIP: None, ports: [{port: 80}]}\n",
	        NULL, &d);
	s = svc(c, "np");
	/* The dynamic band is above the 86-port static band (30000-30085). */
	assert_true(s->ports[0].node_port >= 30086 && s->ports[0].node_port <= 32767);
	assert_true(s->ports[1].node_port >= 30086 && s->ports[1].node_port <= 32767);
	assert_true(s->ports[0].node_port != s->ports[1].node_port);
	assert_true(s->ports[0].node_port_allocated);
	assert_ptr_equal(cluster_service_by_node_port(c, CLUSTER_TCP, s->ports[1].node_port, &idx),
	                 s);
	assert_int_equal(idx, 1);
	s = svc(c, "lb");
	assert_true(s->ports[0].node_port >= 30086 && s->ports[0].node_port <= 32767);
	assert_true(s->cluster_ip_allocated);
	s = svc(c, "cip");
	assert_int_equal(s->ports[0].node_port, 0);
	assert_false(s->ports[0].node_port_allocated);
	s = svc(c, "hl");
	assert_int_equal(s->n_cluster_ips, 0);
	assert_false(s->cluster_ip_allocated);
	assert_int_equal(s->ports[0].node_port, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_node_port_shared_by_protocols(void **state)
{
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	size_t idx;

	(void)state;
	c = tu_build_ok("apiVersion: v1\nkind: Service\nmetadata: {name: dns}\n"
	                "spec:\n  type: NodePort\n  ports:\n"
	                "  - {name: dns, port: 53, protocol: UDP}\n"
	                "  - {name: dns-tcp, port: 53, protocol: TCP}\n"
	                "  - {name: other, port: 54, protocol: TCP}\n"
	                "---\napiVersion: v1\nkind: Service\nmetadata: {name: fixed}\n"
	                "spec:\n  type: NodePort\n  ports:\n"
	                "  - {name: a, port: 53, protocol: UDP, nodePort: 31053}\n"
	                "  - {name: b, port: 53, protocol: TCP}\n",
	                NULL, &d);
	s = svc(c, "dns");
	assert_int_equal(s->ports[0].node_port, s->ports[1].node_port);
	assert_true(s->ports[2].node_port != s->ports[1].node_port);
	assert_ptr_equal(cluster_service_by_node_port(c, CLUSTER_UDP, s->ports[0].node_port, &idx),
	                 s);
	assert_int_equal(idx, 0);
	assert_ptr_equal(cluster_service_by_node_port(c, CLUSTER_TCP, s->ports[0].node_port, &idx),
	                 s);
	assert_int_equal(idx, 1);
	/* An explicit nodePort is shared with the same port under the other protocol. */
	s = svc(c, "fixed");
	assert_int_equal(s->ports[1].node_port, 31053);
	assert_true(s->ports[1].node_port_allocated);
	assert_false(s->ports[0].node_port_allocated);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_node_port_bands_and_full(void **state)
{
	struct cluster_config cfg;
	char yaml[8192];
	size_t off, i;
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;

	(void)state;
	cluster_config_init(&cfg);
	/* 32 ports: a 16-port static band (30000-30015), dynamic 30016-30031. */
	cfg.node_port_min = 30000;
	cfg.node_port_max = 30031;
	off = (size_t)snprintf(yaml, sizeof(yaml),
	                       "apiVersion: v1\nkind: Service\nmetadata: "
	                       "{name: many}\nspec:\n  type: NodePort\n  ports:\n");
	for (i = 0; i < 17; i++)
		off += (size_t)snprintf(yaml + off, sizeof(yaml) - off,
		                        "  - {name: p%zu, port: %zu}\n", i, 1000 + i);
	c = tu_build_ok(yaml, &cfg, &d);
	s = svc(c, "many");
	/* The first 16 fill the dynamic band, only the 17th goes to the static band. */
	for (i = 0; i < 16; i++)
		assert_true(s->ports[i].node_port >= 30016 && s->ports[i].node_port <= 30031);
	assert_true(s->ports[16].node_port >= 30000 && s->ports[16].node_port <= 30015);
	cluster_unref(c);
	diag_deinit(&d);

	for (i = 17; i < 33; i++)
		off += (size_t)snprintf(yaml + off, sizeof(yaml) - off,
		                        "  - {name: p%zu, port: %zu}\n", i, 1000 + i);
	diag_init(&d);
	assert_null(tu_build(yaml, &cfg, &d));
	assert_int_equal(d.errors, 1);
	tu_diag_expect(&d, DIAG_ERROR, "spec.ports[32].nodePort",
	               "Internal error: failed to allocate a nodePort: range 30000-30031 is full");
	assert_int_equal(d.entries[0].line, 39);
	diag_deinit(&d);

	/* Explicit nodePorts anywhere in the range are never handed out again. */
	cfg.node_port_max = 30003; /* fewer than 16: no bands */
	c = tu_build_ok("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
	                "spec:\n  type: NodePort\n  ports:\n"
	                "  - {name: a, port: 1}\n  - {name: b, port: 2}\n  - {name: c, port: 3}\n"
	                "---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
	                "spec: {type: NodePort, ports: [{port: 1, nodePort: 30002}]}\n",
	                &cfg, &d);
	s = svc(c, "a");
	for (i = 0; i < 3; i++) {
		assert_true(s->ports[i].node_port >= 30000 && s->ports[i].node_port <= 30003);
		assert_int_not_equal(s->ports[i].node_port, 30002);
	}
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_dual_stack_allocation(void **state)
{
	struct cluster_config cfg = cidr_cfg("10.96.0.0/12,fd00:10:96::/108");
	struct diag d;
	struct cluster *c;
	const struct cluster_service *s;
	char buf[NETADDR_STRLEN];

	(void)state;
	c = tu_build_ok(
	        "apiVersion: v1\nkind: Service\nmetadata: {name: single}\n"
	        "spec: {ports: [{port: 80}]}\n"
	        "---\napiVersion: v1\nkind: Service\nmetadata: {name: req}\n"
	        "spec: {ipFamilyPolicy: RequireDualStack, ports: [{port: 80}]}\n"
	        "---\napiVersion: v1\nkind: Service\nmetadata: {name: v6first}\n"
	        "spec: {ipFamilies: [IPv6, IPv4], ports: [{port: 80}]}\n"
	        "---\napiVersion: v1\nkind: Service\nmetadata: {name: v6only}\n"
	        "spec: {ipFamilies: [IPv6], ports: [{port: 80}]}\n"
	        "---\napiVersion: v1\nkind: Service\nmetadata: {name: prefer4}\n"
	        "spec: {ipFamilyPolicy: PreferDualStack, ipFamilies: [IPv4], ports: [{port: 80}]}\n"
	        "---\napiVersion: v1\nkind: Service\nmetadata: {name: fixed6}\n"
	        "spec: {ipFamilyPolicy: PreferDualStack, clusterIP: \"fd00:10:96::a\", "
	        "ports: [{port: 80}]}\n",
	        &cfg, &d);
	s = svc(c, "single");
	assert_int_equal(s->n_cluster_ips, 1);
	assert_int_equal(s->cluster_ips[0].family, NETADDR_V4);
	s = svc(c, "req");
	assert_int_equal(s->n_cluster_ips, 2);
	assert_int_equal(s->cluster_ips[0].family, NETADDR_V4);
	assert_int_equal(s->cluster_ips[1].family, NETADDR_V6);
	assert_true(netaddr_in_prefix(&s->cluster_ips[1], &cfg.service_cidrs[1]));
	assert_string_equal(s->ip_families_text[1], "IPv6");
	assert_ptr_equal(cluster_service_by_ip(c, &s->cluster_ips[1]), s);
	/* clusterIPs follow ipFamilies: IPv6 is the primary. */
	s = svc(c, "v6first");
	assert_int_equal(s->n_cluster_ips, 2);
	assert_int_equal(s->cluster_ips[0].family, NETADDR_V6);
	assert_int_equal(s->cluster_ips[1].family, NETADDR_V4);
	assert_string_equal(s->cluster_ip_text, netaddr_str(&s->cluster_ips[0], buf));
	assert_string_equal(s->ip_families_text[0], "IPv6");
	s = svc(c, "v6only");
	assert_int_equal(s->n_cluster_ips, 1);
	assert_int_equal(s->cluster_ips[0].family, NETADDR_V6);
	/* A dual-stack policy naming one family gets the other too (as the API server does). */
	s = svc(c, "prefer4");
	assert_int_equal(s->n_cluster_ips, 2);
	assert_int_equal(s->cluster_ips[0].family, NETADDR_V4);
	assert_int_equal(s->cluster_ips[1].family, NETADDR_V6);
	s = svc(c, "fixed6");
	assert_int_equal(s->n_cluster_ips, 2);
	assert_string_equal(netaddr_str(&s->cluster_ips[0], buf), "fd00:10:96::a");
	assert_int_equal(s->cluster_ips[1].family, NETADDR_V4);
	cluster_unref(c);
	diag_deinit(&d);
}

/* ---- load-balancer IPs ------------------------------------------------------------------- */

static struct cluster_config
pool_cfg(const char *pools)
{
	struct cluster_config cfg;

	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, pools), SVC_OK);
	return cfg;
}

static const char *
lb_ip(const struct cluster_service *s, size_t i, char *buf)
{
	assert_true(i < s->n_lb_ips);
	return netaddr_str(&s->lb_ips[i], buf);
}

static void
test_lb_pool_allocation(void **state)
{
	struct cluster_config cfg = pool_cfg("192.0.2.0/29");
	struct netaddr_prefix p = cfg.lb_pools[0];
	char *yaml = calloc(1, 65536), buf[NETADDR_STRLEN], other[NETADDR_STRLEN];
	const struct cluster_service *s, *t;
	struct cluster *c;
	struct diag d;

	(void)state;
	add_svc(yaml, 65536, "lb-a", "LoadBalancer", NULL, NULL);
	add_svc(yaml, 65536, "lb-b", "LoadBalancer", NULL, NULL);
	add_svc(yaml, 65536, "lb-ing", "LoadBalancer", NULL,
	        "  ports: [{port: 80}]\nstatus:\n  loadBalancer:\n"
	        "    ingress: [{hostname: lb.example}, {ip: 192.0.2.3}, {ip: 192.0.2.3}]\n");
	add_svc(yaml, 65536, "lb-spec", "LoadBalancer", NULL,
	        "  loadBalancerIP: 192.0.2.4\n  ports: [{port: 80}]\n");
	add_svc(yaml, 65536, "lb-both", "LoadBalancer", NULL,
	        "  loadBalancerIP: 192.0.2.5\n  ports: [{port: 80}]\nstatus:\n  loadBalancer:\n"
	        "    ingress: [{ip: 203.0.113.5}]\n");
	add_svc(yaml, 65536, "lb-host", "LoadBalancer", NULL,
	        "  ports: [{port: 80}]\nstatus:\n  loadBalancer:\n"
	        "    ingress: [{hostname: lb.example}]\n");
	add_svc(yaml, 65536, "np", "NodePort", NULL, NULL);
	c = tu_build_ok(yaml, &cfg, &d);
	assert_int_equal(d.n, 0);
	/* Ingress IPs first (once each), else loadBalancerIP: nothing allocated. */
	s = svc(c, "lb-ing");
	assert_int_equal(s->n_lb_ips, 1);
	assert_string_equal(lb_ip(s, 0, buf), "192.0.2.3");
	assert_false(s->lb_ip_allocated);
	s = svc(c, "lb-spec");
	assert_int_equal(s->n_lb_ips, 1);
	assert_string_equal(lb_ip(s, 0, buf), "192.0.2.4");
	assert_false(s->lb_ip_allocated);
	s = svc(c, "lb-both");
	assert_int_equal(s->n_lb_ips, 1);
	assert_string_equal(lb_ip(s, 0, buf), "203.0.113.5");
	assert_false(s->lb_ip_allocated);
	/* The others get one from the pool: inside it, never .0 or .7, never one taken by an
	 * ingress IP or loadBalancerIP (.3, .4, .5), never the same twice. */
	s = svc(c, "lb-a");
	t = svc(c, "lb-b");
	assert_true(s->lb_ip_allocated);
	assert_true(t->lb_ip_allocated);
	assert_true(svc(c, "lb-host")->lb_ip_allocated);
	assert_string_not_equal(lb_ip(s, 0, buf), lb_ip(t, 0, other));
	assert_string_not_equal(lb_ip(s, 0, buf), lb_ip(svc(c, "lb-host"), 0, other));
	assert_string_not_equal(lb_ip(t, 0, buf), lb_ip(svc(c, "lb-host"), 0, other));
	{
		const char *names[] = {"lb-a", "lb-b", "lb-host"};
		size_t i;

		for (i = 0; i < 3; i++) {
			const struct cluster_service *x = svc(c, names[i]);
			uint64_t off;

			assert_int_equal(x->n_lb_ips, 1);
			assert_true(netaddr_in_prefix(&x->lb_ips[0], &p));
			off = netaddr_offset(&p, &x->lb_ips[0]);
			assert_true(off == 1 || off == 2 || off == 6);
		}
	}
	s = svc(c, "np");
	assert_int_equal(s->n_lb_ips, 0);
	assert_false(s->lb_ip_allocated);
	cluster_unref(c);
	diag_deinit(&d);
	/* Without a pool the same services stay pending. */
	c = tu_build_ok(yaml, NULL, &d);
	assert_int_equal(svc(c, "lb-a")->n_lb_ips, 0);
	assert_int_equal(svc(c, "lb-host")->n_lb_ips, 0);
	assert_int_equal(svc(c, "lb-spec")->n_lb_ips, 1);
	cluster_unref(c);
	diag_deinit(&d);
	free(yaml);
}

static void
test_lb_pool_full(void **state)
{
	struct cluster_config cfg = pool_cfg("192.0.2.0/30");
	char *yaml = calloc(1, 65536), buf[NETADDR_STRLEN];
	struct cluster *c;
	struct diag d;

	(void)state;
	/* Two usable addresses (.1, .2); one is another service's loadBalancerIP. */
	add_svc(yaml, 65536, "a", "LoadBalancer", NULL, NULL);
	add_svc(yaml, 65536, "b", "LoadBalancer", NULL, NULL);
	add_svc(yaml, 65536, "fixed", "LoadBalancer", NULL,
	        "  loadBalancerIP: 192.0.2.1\n  ports: [{port: 80}]\n");
	c = tu_build_ok(yaml, &cfg, &d);
	/* The newest (here: last by name) stays pending: a warning, not a failed build. */
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 1);
	tu_diag_expect(&d, DIAG_WARNING, "status.loadBalancer.ingress",
	               "failed to allocate a load-balancer IP: pool 192.0.2.0/30 is full "
	               "(range exhausted); the service stays pending");
	assert_string_equal(d.entries[0].file, "test.yaml");
	assert_int_equal(d.entries[0].line, 15); /* b's spec.type */
	assert_string_equal(lb_ip(svc(c, "a"), 0, buf), "192.0.2.2");
	assert_int_equal(svc(c, "b")->n_lb_ips, 0);
	assert_false(svc(c, "b")->lb_ip_allocated);
	assert_string_equal(lb_ip(svc(c, "fixed"), 0, buf), "192.0.2.1");
	cluster_unref(c);
	diag_deinit(&d);
	free(yaml);
}

static void
test_lb_pool_edges(void **state)
{
	struct cluster_config cfg = pool_cfg("192.0.2.9/32");
	const char *two = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
	                  "spec: {type: LoadBalancer, ports: [{port: 80}]}\n"
	                  "---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
	                  "spec: {type: LoadBalancer, ports: [{port: 80}]}\n";
	char buf[NETADDR_STRLEN], b2[NETADDR_STRLEN];
	struct cluster *c;
	struct diag d;

	(void)state;
	/* A single address is a pool of one. */
	c = tu_build_ok(two, &cfg, &d);
	assert_string_equal(lb_ip(svc(c, "a"), 0, buf), "192.0.2.9");
	assert_int_equal(svc(c, "b")->n_lb_ips, 0);
	assert_int_equal(d.warnings, 1);
	cluster_unref(c);
	diag_deinit(&d);
	/* A /31 has no network or broadcast address (RFC 3021). */
	cfg = pool_cfg("192.0.2.8/31");
	c = tu_build_ok(two, &cfg, &d);
	assert_int_equal(d.n, 0);
	lb_ip(svc(c, "a"), 0, buf);
	lb_ip(svc(c, "b"), 0, b2);
	assert_true((!strcmp(buf, "192.0.2.8") && !strcmp(b2, "192.0.2.9")) ||
	            (!strcmp(buf, "192.0.2.9") && !strcmp(b2, "192.0.2.8")));
	cluster_unref(c);
	diag_deinit(&d);
	/* Addresses used as externalIPs are not handed out. */
	cfg = pool_cfg("192.0.2.8/31");
	c = tu_build_ok("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
	                "spec: {type: LoadBalancer, ports: [{port: 80}]}\n"
	                "---\napiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
	                "spec: {externalIPs: [192.0.2.8], ports: [{port: 80}]}\n",
	                &cfg, &d);
	assert_string_equal(lb_ip(svc(c, "a"), 0, buf), "192.0.2.9");
	cluster_unref(c);
	diag_deinit(&d);
	/* An IPv6 pool serves IPv6 services only; its first address is kept out. */
	cfg = pool_cfg("2001:db8::/127");
	c = tu_build_ok(two, &cfg, &d);
	assert_int_equal(svc(c, "a")->n_lb_ips, 0);
	cluster_unref(c);
	diag_deinit(&d);
	cfg = cidr_cfg("fd00:10:96::/112");
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "2001:db8::/127"), SVC_OK);
	c = tu_build_ok(two, &cfg, &d);
	assert_string_equal(lb_ip(svc(c, "a"), 0, buf), "2001:db8::1");
	assert_int_equal(svc(c, "b")->n_lb_ips, 0);
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_lb_pool_dual_stack(void **state)
{
	struct cluster_config cfg = cidr_cfg("10.96.0.0/12,fd00:10:96::/108");
	char buf[NETADDR_STRLEN];
	const struct cluster_service *s;
	struct cluster *c;
	struct diag d;

	(void)state;
	/* Pools in either order: the addresses follow the service's families. */
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "2001:db8::/120,192.0.2.0/24"), SVC_OK);
	c = tu_build_ok("apiVersion: v1\nkind: Service\nmetadata: {name: dual}\n"
	                "spec: {type: LoadBalancer, ipFamilyPolicy: RequireDualStack, "
	                "ports: [{port: 80}]}\n"
	                "---\napiVersion: v1\nkind: Service\nmetadata: {name: v6}\n"
	                "spec: {type: LoadBalancer, ipFamilies: [IPv6], ports: [{port: 80}]}\n"
	                "---\napiVersion: v1\nkind: Service\nmetadata: {name: v4}\n"
	                "spec: {type: LoadBalancer, ports: [{port: 80}]}\n",
	                &cfg, &d);
	s = svc(c, "dual");
	assert_int_equal(s->n_lb_ips, 2);
	assert_int_equal(s->lb_ips[0].family, NETADDR_V4);
	assert_true(netaddr_in_prefix(&s->lb_ips[0], &cfg.lb_pools[1]));
	assert_int_equal(s->lb_ips[1].family, NETADDR_V6);
	assert_true(netaddr_in_prefix(&s->lb_ips[1], &cfg.lb_pools[0]));
	s = svc(c, "v6");
	assert_int_equal(s->n_lb_ips, 1);
	assert_int_equal(s->lb_ips[0].family, NETADDR_V6);
	s = svc(c, "v4");
	assert_int_equal(s->n_lb_ips, 1);
	assert_true(netaddr_in_prefix(&s->lb_ips[0], &cfg.lb_pools[1]));
	(void)buf;
	cluster_unref(c);
	diag_deinit(&d);
}

static void
test_lb_pool_determinism(void **state)
{
	struct cluster_config cfg = pool_cfg("192.0.2.0/28");
	size_t cap = 65536, i, k, n = 12;
	char *fwd = calloc(1, cap), *rev = calloc(1, cap), *more = calloc(1, cap);
	char *s1 = calloc(1, cap), *s2 = calloc(1, cap), *s3 = calloc(1, cap);
	char name[16], ts[32];
	struct cluster *c;
	struct diag d;

	(void)state;
	/* 12 services for 14 addresses: probes collide. Half with timestamps. */
	for (i = 0; i < n; i++) {
		size_t j = n - 1 - i;

		snprintf(name, sizeof(name), "lb-%zu", i);
		snprintf(ts, sizeof(ts), "2024-01-01T00:00:%02zuZ", i % 4);
		add_svc(fwd, cap, name, "LoadBalancer", i % 2 ? ts : NULL, NULL);
		snprintf(name, sizeof(name), "lb-%zu", j);
		snprintf(ts, sizeof(ts), "2024-01-01T00:00:%02zuZ", j % 4);
		add_svc(rev, cap, name, "LoadBalancer", j % 2 ? ts : NULL, NULL);
	}
	c = tu_build_ok(fwd, &cfg, &d);
	summary(c, s1, cap);
	for (i = 0; i < c->n_services; i++)
		assert_true(c->services[i]->lb_ip_allocated);
	cluster_unref(c);
	diag_deinit(&d);
	c = tu_build_ok(rev, &cfg, &d);
	summary(c, s2, cap);
	cluster_unref(c);
	diag_deinit(&d);
	assert_string_equal(s1, s2);
	/* Newer services never move an older one's address. */
	for (k = 0; k < 2; k++) {
		strcpy(more, fwd);
		snprintf(name, sizeof(name), "%c-new", k ? 'a' : 'z');
		add_svc(more, cap, name, "LoadBalancer", "2024-06-01T00:00:00Z", NULL);
		c = tu_build_ok(more, &cfg, &d);
		for (i = 0; i < n; i++) {
			char want[128], buf[NETADDR_STRLEN];
			const struct cluster_service *o;

			snprintf(name, sizeof(name), "lb-%zu", i);
			o = svc(c, name);
			snprintf(want, sizeof(want), "default/%s %s 80/%d lb=%s\n", name,
			         netaddr_str(&o->cluster_ips[0], ts), o->ports[0].node_port,
			         lb_ip(o, 0, buf));
			assert_non_null(strstr(s1, want));
		}
		summary(c, s3, cap);
		cluster_unref(c);
		diag_deinit(&d);
	}
	free(fwd);
	free(rev);
	free(more);
	free(s1);
	free(s2);
	free(s3);
}

/* ---- healthCheckNodePort ------------------------------------------------------------------ */

static void
test_health_check_node_port_allocation(void **state)
{
	struct cluster_config cfg;
	const struct cluster_service *s;
	struct cluster *c;
	struct diag d;
	size_t i;

	(void)state;
	c = tu_build_ok("apiVersion: v1\nkind: Service\nmetadata: {name: local}\n"
	                "spec: {type: LoadBalancer, externalTrafficPolicy: Local, "
	                "ports: [{port: 80}]}\n"
	                "---\napiVersion: v1\nkind: Service\nmetadata: {name: cluster}\n"
	                "spec: {type: LoadBalancer, ports: [{port: 80}]}\n"
	                "---\napiVersion: v1\nkind: Service\nmetadata: {name: np}\n"
	                "spec: {type: NodePort, externalTrafficPolicy: Local, "
	                "ports: [{port: 80}]}\n",
	                NULL, &d);
	s = svc(c, "local");
	assert_true(s->health_check_node_port_allocated);
	assert_true(s->health_check_node_port >= 30086 && s->health_check_node_port <= 32767);
	assert_int_not_equal(s->health_check_node_port, s->ports[0].node_port);
	assert_int_equal(svc(c, "cluster")->health_check_node_port, 0);
	assert_false(svc(c, "cluster")->health_check_node_port_allocated);
	assert_int_equal(svc(c, "np")->health_check_node_port, 0);
	cluster_unref(c);
	diag_deinit(&d);

	/* 4 ports: a UDP nodePort elsewhere blocks one for the (HTTP) health check, which
	 * takes the last one. */
	cluster_config_init(&cfg);
	cfg.node_port_min = 30000;
	cfg.node_port_max = 30003;
	c = tu_build_ok("apiVersion: v1\nkind: Service\nmetadata: {name: u}\n"
	                "spec: {type: NodePort, ports: [{port: 53, protocol: UDP, "
	                "nodePort: 30000}]}\n"
	                "---\napiVersion: v1\nkind: Service\nmetadata: {name: lb}\n"
	                "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n  ports:\n"
	                "  - {name: a, port: 80}\n  - {name: b, port: 81}\n",
	                &cfg, &d);
	s = svc(c, "lb");
	assert_int_not_equal(s->health_check_node_port, 30000);
	for (i = 0; i < 2; i++)
		assert_int_not_equal(s->health_check_node_port, s->ports[i].node_port);
	assert_true(s->health_check_node_port >= 30001 && s->health_check_node_port <= 30003);
	cluster_unref(c);
	diag_deinit(&d);

	/* An explicit one is never handed out as a nodePort, whatever the protocol. */
	c = tu_build_ok("apiVersion: v1\nkind: Service\nmetadata: {name: hc}\n"
	                "spec: {type: LoadBalancer, externalTrafficPolicy: Local, "
	                "healthCheckNodePort: 30001, ports: [{port: 80, nodePort: 30000}]}\n"
	                "---\napiVersion: v1\nkind: Service\nmetadata: {name: np}\n"
	                "spec:\n  type: NodePort\n  ports:\n"
	                "  - {name: a, port: 80}\n  - {name: b, port: 81, protocol: UDP}\n",
	                &cfg, &d);
	s = svc(c, "np");
	for (i = 0; i < 2; i++) {
		assert_int_not_equal(s->ports[i].node_port, 30001);
		assert_true(s->ports[i].node_port >= 30000 && s->ports[i].node_port <= 30003);
	}
	assert_int_not_equal(s->ports[0].node_port, 30000);
	assert_int_equal(svc(c, "hc")->health_check_node_port, 30001);
	assert_false(svc(c, "hc")->health_check_node_port_allocated);
	cluster_unref(c);
	diag_deinit(&d);

	/* Nothing left for it: an error, as for nodePorts. */
	diag_init(&d);
	assert_null(tu_build("apiVersion: v1\nkind: Service\nmetadata: {name: lb}\n"
	                     "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
	                     "  ports:\n  - {name: a, port: 80}\n  - {name: b, port: 81}\n"
	                     "  - {name: c, port: 82}\n  - {name: d, port: 83}\n",
	                     &cfg, &d));
	assert_int_equal(d.errors, 1);
	tu_diag_expect(&d, DIAG_ERROR, "spec.healthCheckNodePort",
	               "Internal error: failed to allocate a healthCheckNodePort: range "
	               "30000-30003 is full");
	assert_int_equal(d.entries[0].line, 6);
	diag_deinit(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ip_in_range),
	        cmocka_unit_test(test_ip_range_full),
	        cmocka_unit_test(test_explicit_ip_never_taken),
	        cmocka_unit_test(test_ip_bands),
	        cmocka_unit_test(test_ipv6_allocation),
	        cmocka_unit_test(test_determinism),
	        cmocka_unit_test(test_determinism_across_files),
	        cmocka_unit_test(test_stability_with_timestamps),
	        cmocka_unit_test(test_stability_without_timestamps),
	        cmocka_unit_test(test_node_ports_for_external_types),
	        cmocka_unit_test(test_node_port_shared_by_protocols),
	        cmocka_unit_test(test_node_port_bands_and_full),
	        cmocka_unit_test(test_dual_stack_allocation),
	        cmocka_unit_test(test_lb_pool_allocation),
	        cmocka_unit_test(test_lb_pool_full),
	        cmocka_unit_test(test_lb_pool_edges),
	        cmocka_unit_test(test_lb_pool_dual_stack),
	        cmocka_unit_test(test_lb_pool_determinism),
	        cmocka_unit_test(test_health_check_node_port_allocation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
