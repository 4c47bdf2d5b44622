/* test_dnsz_big.c -- one big headless service (issue 9, items 3 and 13): its TCP answers are
 * well formed past the 16 KiB a compression pointer reaches and hold every endpoint, and building
 * its zone grows n log n, not quadratically. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dnsq.h"
#include "dnsz.h"
#include "dnstu.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_big_600),
	        cmocka_unit_test(test_big_2000),
	        cmocka_unit_test(test_big_shared_hostname),
	        cmocka_unit_test(test_build_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
