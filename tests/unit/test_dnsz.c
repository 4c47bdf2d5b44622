/* test_dnsz.c -- building a zone: which names exist, with which answers, and how they are laid
 * out (rec_end, counts, compression against the question). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "dnsz.h"
#include "dnstu.h"
#include "dnsq.h"

static void
count_reverse(void *arg, const struct dnsz_node *n)
{
	*(size_t *)arg += (n->flags & DNSZ_NODE_REVERSE) != 0;
}

static const struct dnsz_node *
find(const char *text)
{
	uint8_t name[DNSW_NAME_MAX];
	size_t len;

	assert_int_equal(dnsw_name_from_str(text, name, &len), SVC_OK);
	return dnsz_find(dt_zone, name, len, dnsw_name_hash(name, len));
}

static void
test_dashed_ip(void **state)
{
	static const struct {
		const char *ip, *dashed;
	} cases[] = {
	        {"172.0.0.2", "172-0-0-2"},
	        {"5678:abcd::1", "5678-abcd--1"},
	        {"fd00::", "fd00--0"},
	        {"::1", "0--1"},
	        {"2001:db8:1:2:3:4:5:6", "2001-db8-1-2-3-4-5-6"},
	};
	char buf[64];
	struct netaddr a, back;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(netaddr_parse(&a, cases[i].ip), SVC_OK);
		assert_int_equal(dnsz_dashed_ip(&a, buf), strlen(cases[i].dashed));
		assert_string_equal(buf, cases[i].dashed);
		/* And back, as a pod name label. */
		assert_true(dnsz_parse_dashed_ip((const uint8_t *)buf, strlen(buf), &back));
		assert_true(netaddr_equal(&a, &back));
	}
}

static void
test_parse_dashed_ip(void **state)
{
	struct netaddr a, want;

	(void)state;
	assert_true(dnsz_parse_dashed_ip((const uint8_t *)"10-240-0-1", 10, &a));
	assert_int_equal(netaddr_parse(&want, "10.240.0.1"), SVC_OK);
	assert_true(netaddr_equal(&a, &want));
	assert_true(dnsz_parse_dashed_ip((const uint8_t *)"fd00--1", 7, &a));
	assert_int_equal(a.family, NETADDR_V6);
	/* Not addresses. */
	assert_false(dnsz_parse_dashed_ip((const uint8_t *)"blah", 4, &a));
	assert_false(dnsz_parse_dashed_ip((const uint8_t *)"1-2-3", 5, &a));
	assert_false(dnsz_parse_dashed_ip((const uint8_t *)"300-0-0-1", 9, &a));
	assert_false(dnsz_parse_dashed_ip((const uint8_t *)"1-2-3-4-5", 9, &a));
	assert_false(dnsz_parse_dashed_ip((const uint8_t *)"1--2--3", 7, &a));
	assert_false(dnsz_parse_dashed_ip((const uint8_t *)"", 0, &a));
	/* A double dash makes it IPv6: "10::0:1". */
	assert_true(dnsz_parse_dashed_ip((const uint8_t *)"10--0-1", 7, &a));
	assert_int_equal(netaddr_parse(&want, "10::1"), SVC_OK);
	assert_true(netaddr_equal(&a, &want));
	/* Only LEN bytes count. */
	assert_true(dnsz_parse_dashed_ip((const uint8_t *)"1-2-3-4.junk", 7, &a));
}

static void
test_nodes(void **state)
{
	const struct dnsz_node *n;

	(void)state;
	assert_true(dt_zone->loaded);
	assert_int_equal(dt_zone->ttl, 30);
	assert_int_equal(dt_zone->apex_len, 15);
	assert_memory_equal(dt_zone->apex, "\7cluster\5local", 15);
	/* Services in DNS: all but the headless one without ready endpoints. */
	assert_int_equal(dt_zone->n_services, 14 - 1);
	n = find("cluster.local");
	assert_non_null(n);
	assert_non_null(dnsz_rr(n, DNSZ_SOA));
	assert_non_null(dnsz_rr(n, DNSZ_NS));
	assert_null(dnsz_rr(n, DNSZ_A));
	n = find("svc1.testns.svc.cluster.local");
	assert_non_null(n);
	assert_non_null(dnsz_rr(n, DNSZ_A));
	assert_null(dnsz_rr(n, DNSZ_AAAA));
	assert_non_null(dnsz_rr(n, DNSZ_SRV));
	assert_null(dnsz_rr(n, DNSZ_CNAME));
	assert_int_equal(n->flags, 0);
	assert_int_equal(n->apex_len, 15);
	/* Namespaces exist under svc and pod; only pod ones take pod names. */
	n = find("testns.svc.cluster.local");
	assert_non_null(n);
	assert_false(n->flags & DNSZ_NODE_POD_NS);
	n = find("podns.pod.cluster.local");
	assert_non_null(n);
	assert_true(n->flags & DNSZ_NODE_POD_NS);
	assert_non_null(find("kube-system.pod.cluster.local"));
	assert_null(find("nons.pod.cluster.local"));
	assert_non_null(find("svc.cluster.local"));
	assert_non_null(find("pod.cluster.local"));
	/* Headless with no ready endpoints: no node at all. */
	assert_null(find("unready.testns.svc.cluster.local"));
	/* ExternalName outside the zone is chased; inside it is not. */
	n = find("external.testns.svc.cluster.local");
	assert_non_null(n);
	assert_true(n->flags & DNSZ_NODE_CHASE);
	assert_non_null(dnsz_rr(n, DNSZ_CNAME));
	assert_null(dnsz_rr(n, DNSZ_A));
	{
		size_t len;
		const uint8_t *chase = dnsz_node_chase(n, &len);

		assert_int_equal(len, 20);
		assert_memory_equal(chase, "\3ext\11interwebs\4test", 20);
	}
	n = find("external-to-service.testns.svc.cluster.local");
	assert_non_null(n);
	assert_false(n->flags & DNSZ_NODE_CHASE);
	{
		size_t len = 99;

		assert_null(dnsz_node_chase(n, &len)); /* a CNAME, not one to chase */
		assert_int_equal(len, 0);
	}
	assert_non_null(dnsz_rr(n, DNSZ_A));
	assert_int_equal(dnsz_rr(n, DNSZ_A)->an, 2);
	/* Reverse names. */
	n = find("1.1.96.10.in-addr.arpa");
	assert_non_null(n);
	assert_true(n->flags & DNSZ_NODE_REVERSE);
	assert_int_equal(n->apex_len, 14);
	assert_non_null(dnsz_rr(n, DNSZ_PTR));
	assert_int_equal(dnsz_rr(n, DNSZ_PTR)->an, 1);
	assert_null(dnsz_rr(n, DNSZ_A));
	/* They are made when asked, for the exact spelling reverse_name gives only. */
	assert_null(find("01.1.96.10.in-addr.arpa"));
	assert_null(find("1.96.10.in-addr.arpa"));
	assert_null(find("256.1.96.10.in-addr.arpa"));
	assert_null(find("1.1.1.96.10.in-addr.arpa"));
	assert_null(find("x.1.96.10.in-addr.arpa"));
	assert_null(find("1.1.96.10.in-addr.arpa.cluster.local"));
	assert_null(find("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"));
	assert_null(
	        find("00.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"));
	assert_null(find("in-addr.arpa"));
	assert_null(find("arpa"));
	/* Not listed among the zone's names. */
	{
		size_t reverse = 0;

		dnsz_each_node(dt_zone, count_reverse, &reverse);
		assert_int_equal(reverse, 0);
	}
	/* Named ports only. */
	assert_non_null(find("_http._tcp.svc1.testns.svc.cluster.local"));
	assert_null(find("_http._udp.svc1.testns.svc.cluster.local"));
	assert_non_null(find("_dns._udp.kube-dns.kube-system.svc.cluster.local"));
	assert_non_null(find("_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local"));
	assert_null(find("_dns._tcp.kube-dns.kube-system.svc.cluster.local"));
	assert_non_null(find("dns-version.cluster.local"));
}

/* Every answer's record ends are increasing and the last is its length; the records, placed
 * after a question for the node's own name, parse. */
static void
check_answer(const struct dnsz_node *n, const struct dnsz_answer *a)
{
	uint8_t msg[DNSW_MSG_MAX];
	size_t o = 12, prev = 0, total = (size_t)a->an + a->ns + a->ar;
	struct dt_msg *m;

	assert_true(total > 0);
	for (size_t i = 0; i < total; i++) {
		assert_true(dnsz_answer_ends(a)[i] > prev);
		prev = dnsz_answer_ends(a)[i];
	}
	assert_int_equal(prev, a->len);
	memset(msg, 0, 12);
	msg[2] = 0x84;
	msg[5] = 1;
	msg[6] = (uint8_t)(a->an >> 8);
	msg[7] = (uint8_t)a->an;
	msg[8] = (uint8_t)(a->ns >> 8);
	msg[9] = (uint8_t)a->ns;
	msg[10] = (uint8_t)(a->ar >> 8);
	msg[11] = (uint8_t)a->ar;
	memcpy(msg + o, dnsz_node_name(n), n->name_len);
	o += n->name_len;
	memcpy(msg + o, "\0\1\0\1", 4);
	o += 4;
	memcpy(msg + o, dnsz_answer_wire(a), a->len);
	m = dt_parse(msg, o + a->len);
	assert_non_null(m);
	assert_int_equal(m->trailing, 0);
	/* Compression points only backwards into what is there: the question or earlier records. */
	free(m);
}

static void
check_entry(void *arg, const struct dnsz_node *n)
{
	(*(size_t *)arg)++;
	assert_true(dnsz_find(dt_zone, dnsz_node_name(n), n->name_len,
	                      dnsw_name_hash(dnsz_node_name(n), n->name_len)) == n);
	for (int t = 0; t < DNSZ_NTYPES; t++) {
		if (dnsz_rr(n, t) != NULL)
			check_answer(n, dnsz_rr(n, t));
	}
}

static void
test_answers_well_formed(void **state)
{
	size_t nodes = 0;

	(void)state;
	dnsz_each_node(dt_zone, check_entry, &nodes);
	assert_int_equal(nodes, dt_zone->n_nodes);
}

static void
test_build_errors_and_refs(void **state)
{
	struct dnsz_options opts = {.domain = "bad..domain", .ttl = 30};
	struct dnsz *z = (struct dnsz *)1;

	(void)state;
	assert_int_equal(dnsz_build(dt_cluster, &opts, &z), SVC_EINVAL);
	assert_null(z);
	opts.domain = "";
	assert_int_equal(dnsz_build(NULL, &opts, &z), SVC_EINVAL);
	assert_null(z);
	/* Placeholder: no names, not loaded. */
	opts.domain = "example.internal";
	assert_int_equal(dnsz_build(NULL, &opts, &z), SVC_OK);
	assert_false(z->loaded);
	assert_int_equal(z->n_nodes, 0);
	assert_int_equal(z->apex_len, 18);
	/* References: a second holder keeps it alive. */
	assert_true(dnsz_ref(z) == z);
	assert_int_equal(z->refs, 2);
	dnsz_unref(z);
	assert_int_equal(z->refs, 1);
	dnsz_unref(z);
	dnsz_unref(NULL);
}

static void
test_other_domain(void **state)
{
	struct dnsz_options opts = {.domain = "k8s.example", .ttl = 7};
	struct dnsz *z;
	uint8_t name[DNSW_NAME_MAX];
	size_t len;
	const struct dnsz_node *n;

	(void)state;
	assert_int_equal(dnsz_build(dt_cluster, &opts, &z), SVC_OK);
	assert_int_equal(dnsw_name_from_str("svc1.testns.svc.k8s.example", name, &len), SVC_OK);
	n = dnsz_find(z, name, len, dnsw_name_hash(name, len));
	assert_non_null(n);
	assert_int_equal(dnsw_name_from_str("svc1.testns.svc.cluster.local", name, &len), SVC_OK);
	assert_null(dnsz_find(z, name, len, dnsw_name_hash(name, len)));
	/* PTR targets use this zone. */
	assert_int_equal(dnsw_name_from_str("1.1.96.10.in-addr.arpa", name, &len), SVC_OK);
	n = dnsz_find(z, name, len, dnsw_name_hash(name, len));
	assert_non_null(n);
	assert_non_null(dnsz_rr(n, DNSZ_PTR));
	assert_memory_equal(dnsz_answer_wire(dnsz_rr(n, DNSZ_PTR)) + 12,
	                    "\4svc1\6testns\3svc\3k8s\7example", 29);
	dnsz_unref(z);
}

/* ---- test_dnsz_big.c ---- */
/* test_dnsz_big.c -- one big headless service (issue 9, items 3 and 13): its TCP answers are
 * well formed past the 16 KiB a compression pointer reaches and hold every endpoint, and building
 * its zone grows n log n, not quadratically. */

#define SVC      "big.bigns.svc.cluster.local"
#define HTTP_SRV "_http._tcp." SVC
#define DNS_SRV  "_dns._udp." SVC

/* Pod I: address 10.1.<I / 250>.<I % 250 + 1>; even ones have hostname h<I> (their endpoint
 * name), odd ones are named by their dashed address; with SHARED, every pod has hostname
 * "shared" instead. Ready, behind headless service "big" with ports http (80 -> 8080) and dns
 * (53/UDP). */
static char *
big_yaml(size_t n, bool shared)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fprintf(f, "apiVersion: v1\nkind: Namespace\nmetadata: {name: bigns}\n---\n"
	           "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: bigns}\n"
	           "spec:\n  clusterIP: None\n  selector: {app: big}\n"
	           "  ports: [{name: http, port: 80, targetPort: 8080},"
	           " {name: dns, port: 53, protocol: UDP}]\n");
	for (size_t i = 0; i < n; i++) {
		fprintf(f,
		        "---\napiVersion: v1\nkind: Pod\n"
		        "metadata: {name: p%zu, namespace: bigns, labels: {app: big}}\n"
		        "spec:\n  subdomain: big\n  containers: [{name: c, image: x}]\n",
		        i);
		if (shared)
			fprintf(f, "  hostname: shared\n");
		else if (i % 2 == 0)
			fprintf(f, "  hostname: h%zu\n", i);
		fprintf(f,
		        "status:\n  podIP: 10.1.%zu.%zu\n"
		        "  conditions: [{type: Ready, status: \"True\"}]\n",
		        i / 250, i % 250 + 1);
	}
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void
pod_ip(size_t i, char *out, size_t cap)
{
	snprintf(out, cap, "10.1.%zu.%zu", i / 250, i % 250 + 1);
}

/* Pod I's endpoint name, as the answers spell it (with the final dot). */
static void
pod_name(size_t i, char *out, size_t cap)
{
	if (i % 2 == 0)
		snprintf(out, cap, "h%zu.%s.", i, SVC);
	else
		snprintf(out, cap, "10-1-%zu-%zu.%s.", i / 250, i % 250 + 1, SVC);
}

/* The pod an endpoint name or address stands for, or -1. */
static long
pod_of_name(const char *name, size_t n)
{
	unsigned a, b;
	long i = -1;
	char want[300];

	if (sscanf(name, "h%ld.", &i) == 1) {
		/* i is set */
	} else if (sscanf(name, "10-1-%u-%u.", &a, &b) == 2 && b >= 1) {
		i = (long)a * 250 + (long)b - 1;
	}
	if (i < 0 || (size_t)i >= n)
		return -1;
	pod_name((size_t)i, want, sizeof(want));
	return strcmp(want, name) == 0 ? i : -1;
}

static long
pod_of_ip(const char *ip, size_t n)
{
	unsigned a, b;
	long i;
	char want[64];

	if (sscanf(ip, "10.1.%u.%u", &a, &b) != 2 || b < 1)
		return -1;
	i = (long)a * 250 + (long)b - 1;
	if ((size_t)i >= n)
		return -1;
	pod_ip((size_t)i, want, sizeof(want));
	return strcmp(want, ip) == 0 ? i : -1;
}

static uint8_t out[DNSQ_OUT_MAX];

/* Ask Z for NAME/QTYPE over TR (no EDNS); the answer must parse whole. */
static struct dt_msg *
ask(const struct dnsz *z, const char *name, uint16_t qtype, enum dnsq_transport tr)
{
	uint8_t in[512];
	size_t len = dt_query(in, 7, DNSW_F_RD, name, qtype, DNSW_C_IN, -1, 0);
	struct dnsq_query q;
	struct dnsq_result res;
	struct dt_msg *m;

	dnsq_answer(z, in, len, tr, out, &q, &res);
	assert_int_equal(res.action, DNSQ_REPLY);
	m = dt_parse(out, res.len);
	if (m == NULL)
		fail_msg("%s/%u over %s: the answer (%zu bytes) does not parse", name, qtype,
		         tr == DNSQ_TCP ? "TCP" : "UDP", res.len);
	assert_int_equal(m->trailing, 0);
	assert_int_equal(dt_rcode(m), DNSW_R_NOERROR);
	return m;
}

/* The SRV answer M for N pods on PORTS (N_PORTS port numbers): each SRV record names a pod's
 * endpoint with one of the ports, none twice; each additional A record is one SRV target's
 * address, none twice. Returns the number of SRV records. */
static size_t
check_srv(const struct dt_msg *m, size_t n, const unsigned *ports, size_t n_ports)
{
	bool *seen = calloc(n * n_ports, sizeof(*seen)), *addr_seen = calloc(n, sizeof(*seen));
	size_t srv = 0;

	assert_non_null(seen);
	assert_non_null(addr_seen);
	for (size_t r = 0; r < m->n; r++) {
		const struct dt_rr *rr = &m->rr[r];
		unsigned prio, weight, port;
		char target[300];
		long i;
		size_t p;

		if (rr->section == DT_AN) {
			assert_int_equal(rr->type, DNSW_T_SRV);
			assert_int_equal(
			        sscanf(rr->data, "%u %u %u %299s", &prio, &weight, &port, target),
			        4);
			i = pod_of_name(target, n);
			if (i < 0)
				fail_msg("SRV %zu: target %s is no endpoint", r, target);
			for (p = 0; p < n_ports && ports[p] != port; p++)
				;
			assert_true(p < n_ports);
			assert_false(seen[(size_t)i * n_ports + p]);
			seen[(size_t)i * n_ports + p] = true;
			srv++;
			continue;
		}
		assert_int_equal(rr->section, DT_AR);
		assert_int_equal(rr->type, DNSW_T_A);
		i = pod_of_name(rr->owner, n);
		if (i < 0)
			fail_msg("additional %zu: owner %s is no endpoint", r, rr->owner);
		assert_int_equal(pod_of_ip(rr->data, n), i);
		assert_false(addr_seen[i]);
		addr_seen[i] = true;
		/* Only for a target an SRV record names. */
		for (p = 0; p < n_ports && !seen[(size_t)i * n_ports + p]; p++)
			;
		assert_true(p < n_ports);
	}
	free(seen);
	free(addr_seen);
	return srv;
}

static void
check_big(size_t n)
{
	char *yaml = big_yaml(n, false);
	struct cluster *c;
	struct dnsz *z = dt_build_zone(yaml, DT_ZONE, DT_TTL, &c);
	static const unsigned http[] = {8080}, both[] = {8080, 53}, dns[] = {53};
	struct dt_msg *m;
	bool *seen = calloc(n, sizeof(*seen));

	assert_non_null(seen);
	/* A: every ready address, once. */
	m = ask(z, SVC, DNSW_T_A, DNSQ_TCP);
	assert_int_equal(m->an, n);
	assert_false(m->flags & DNSW_F_TC);
	for (size_t r = 0; r < m->n; r++) {
		long i = pod_of_ip(m->rr[r].data, n);

		assert_true(i >= 0);
		assert_false(seen[i]);
		seen[i] = true;
	}
	free(m);

	/* SRV of one named port: every endpoint, its targets past 16 KiB (about 28 octets a
	 * record) written in full wherever a pointer would not reach. */
	m = ask(z, HTTP_SRV, DNSW_T_SRV, DNSQ_TCP);
	assert_true(m->len > DNSW_PTR_MAX);
	assert_false(m->flags & DNSW_F_TC);
	assert_int_equal(check_srv(m, n, http, 1), n);
	if (n <= 1000)
		assert_int_equal(m->ar, n); /* all addresses fit too */
	else
		assert_true(m->ar > 0 && m->ar < n); /* only as many as fit: RFC 2181 9 */
	free(m);
	m = ask(z, DNS_SRV, DNSW_T_SRV, DNSQ_TCP);
	assert_int_equal(check_srv(m, n, dns, 1), n);
	free(m);

	/* SRV of the bare name: every endpoint twice (two ports); a target's second SRV points at
	 * its first only when that is in reach. Past 64 KiB the answer is cut, and says so. */
	m = ask(z, SVC, DNSW_T_SRV, DNSQ_TCP);
	if (2 * n * 28 < DNSW_MSG_MAX) {
		assert_int_equal(check_srv(m, n, both, 2), 2 * n);
		assert_false(m->flags & DNSW_F_TC);
	} else {
		assert_int_equal(check_srv(m, n, both, 2), m->an);
		assert_true(m->an < 2 * n);
		assert_true(m->flags & DNSW_F_TC);
	}
	free(m);

	/* Over UDP: cut to 512 octets with TC, so the client retries over TCP. */
	m = ask(z, HTTP_SRV, DNSW_T_SRV, DNSQ_UDP);
	assert_true(m->flags & DNSW_F_TC);
	assert_true(m->len <= DNSQ_UDP_PLAIN);
	assert_int_equal(check_srv(m, n, http, 1), m->an);
	free(m);

	free(seen);
	dnsz_unref(z);
	cluster_unref(c);
	free(yaml);
}

static void
test_big_600(void **state)
{
	(void)state;
	check_big(600);
}

static void
test_big_2000(void **state)
{
	(void)state;
	check_big(2000);
}

/* Every pod shares one hostname: one name with all the addresses, one SRV per port. */
static void
test_big_shared_hostname(void **state)
{
	char *yaml = big_yaml(1500, true);
	struct cluster *c;
	struct dnsz *z = dt_build_zone(yaml, DT_ZONE, DT_TTL, &c);
	struct dt_msg *m;

	(void)state;
	m = ask(z, "shared." SVC, DNSW_T_A, DNSQ_TCP);
	assert_int_equal(m->an, 1500);
	free(m);
	m = ask(z, HTTP_SRV, DNSW_T_SRV, DNSQ_TCP);
	assert_int_equal(m->an, 1);
	assert_non_null(dt_find(m, DT_AN, DNSW_T_SRV, "0 1 8080 shared." SVC "."));
	assert_int_equal(m->ar, 1500);
	for (size_t r = 0; r < m->n; r++) {
		if (m->rr[r].section == DT_AR)
			assert_string_equal(m->rr[r].owner, "shared." SVC ".");
	}
	free(m);
	dnsz_unref(z);
	cluster_unref(c);
	free(yaml);
}

#ifndef SVC_SANITIZED
/* Timing runs in the normal build only: sanitizers change it. */

/* One build of the zone for C, in seconds. */
static double
build_time(const struct cluster *c)
{
	struct dnsz_options opts = {.domain = DT_ZONE, .ttl = DT_TTL};
	struct dnsz *z;
	double t = tu_cpu_s();

	assert_int_equal(dnsz_build(c, &opts, &z), SVC_OK);
	t = tu_cpu_s() - t;
	dnsz_unref(z);
	return t;
}

/* Doubling the pods at most about doubles the build (n log n); quadratic would be 4x. The
 * margin holds on a busy two-core machine: CPU time is measured, the sizes take turns (so both
 * see the same caches and clock), and the best of 7 runs of each counts, against 3x. */
static void
check_growth(size_t n, bool shared)
{
	char *small = big_yaml(n, shared), *large = big_yaml(2 * n, shared);
	struct cluster *cs, *cl;
	struct dnsz *z;
	double ts = 1e9, tl = 1e9;

	z = dt_build_zone(small, DT_ZONE, DT_TTL, &cs);
	dnsz_unref(z);
	z = dt_build_zone(large, DT_ZONE, DT_TTL, &cl);
	dnsz_unref(z);
	for (int r = 0; r < 7; r++) {
		double t = build_time(cs);

		ts = t < ts ? t : ts;
		t = build_time(cl);
		tl = t < tl ? t : tl;
	}
	printf("# zone build, %s names: %zu pods %.1f ms, %zu pods %.1f ms (x%.2f)\n",
	       shared ? "shared" : "own", n, ts * 1e3, 2 * n, tl * 1e3, tl / ts);
	assert_true(tl < 3 * ts);
	cluster_unref(cs);
	cluster_unref(cl);
	free(small);
	free(large);
}
#endif

static void
test_build_growth(void **state)
{
	(void)state;
#ifdef SVC_SANITIZED
	skip();
#else
	check_growth(4000, false);
	check_growth(4000, true);
#endif
}

/* ---- test_dnsz_pods.c ---- */
/* test_dnsz_pods.c -- the zone knows its snapshot's pods by address (dnsz_pod_ns), for the
 * recursion ACL and autopath: which namespace a client address is a pod of. */

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
	        cmocka_unit_test(test_dashed_ip),
	        cmocka_unit_test(test_parse_dashed_ip),
	        cmocka_unit_test(test_nodes),
	        cmocka_unit_test(test_answers_well_formed),
	        cmocka_unit_test(test_build_errors_and_refs),
	        cmocka_unit_test(test_other_domain),
	        cmocka_unit_test(test_big_600),
	        cmocka_unit_test(test_big_2000),
	        cmocka_unit_test(test_big_shared_hostname),
	        cmocka_unit_test(test_build_growth),
	        cmocka_unit_test(test_pod_ns),
	        cmocka_unit_test(test_pod_ns_fixture_and_placeholder),
	        cmocka_unit_test(test_pod_ns_many),
	};

	return cmocka_run_group_tests(tests, dt_setup, dt_teardown);
}
