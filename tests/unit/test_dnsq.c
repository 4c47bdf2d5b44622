/* test_dnsq.c -- answering queries from a zone: the Kubernetes DNS schema as CoreDNS serves it
 * (dns-anchors.md 1-3), and the packet checks of NSD and Knot (reliability-anchors.md 1.3). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "dnsq.h"
#include "dnsz.h"
#include "dnstu.h"

#define ZONE DT_ZONE
#define TTL  DT_TTL
#define ID   0x4242

static uint8_t out[DNSQ_OUT_MAX];
static struct dnsq_query q;
static struct dnsq_result res;

/* Run packet IN through zone Z. */
static void
run(const struct dnsz *z, const uint8_t *in, size_t len, enum dnsq_transport tr)
{
	memset(out, 0xee, 64);
	dnsq_answer(z, in, len, tr, out, &q, &res);
}

/* Ask Z for NAME/QTYPE; the answer must be a well-formed reply echoing ID and question. */
static struct dt_msg *
ask_z(const struct dnsz *z, const char *name, uint16_t qtype, enum dnsq_transport tr, int edns,
      uint32_t ettl)
{
	uint8_t in[1024];
	size_t len = dt_query(in, ID, DNSW_F_RD, name, qtype, DNSW_C_IN, edns, ettl);
	struct dt_msg *m;

	run(z, in, len, tr);
	if (res.action != DNSQ_REPLY)
		fail_msg("%s/%u: action %d, want REPLY", name, qtype, res.action);
	m = dt_parse(out, res.len);
	if (m == NULL)
		fail_msg("answer to %s/%u does not parse", name, qtype);
	assert_int_equal(m->trailing, 0);
	assert_int_equal(m->id, ID);
	assert_true(m->flags & DNSW_F_QR);
	assert_true(m->flags & DNSW_F_RD);
	assert_int_equal(m->qd, 1);
	assert_int_equal(m->qtype, qtype);
	assert_int_equal(m->qclass, DNSW_C_IN);
	/* The question comes back as the client spelled it. */
	{
		char want[300];

		snprintf(want, sizeof(want), "%s.", name);
		assert_string_equal(m->qname, want);
	}
	assert_int_equal(m->has_opt, edns >= 0);
	return m;
}

static struct dt_msg *
ask(const char *name, uint16_t qtype)
{
	return ask_z(dt_zone, name, qtype, DNSQ_UDP, -1, 0);
}

/* The SOA a negative answer carries: one, in authority, owned by the zone as the query spelled
 * it, TTL min(ttl, 300). */
static void
check_neg_soa(const struct dt_msg *m, const char *qname, const char *apex, uint32_t ttl)
{
	const struct dt_rr *soa;
	char owner[300], data[400];
	size_t nl = strlen(qname), al = strlen(apex);

	assert_int_equal(m->ns, 1);
	assert_int_equal(dt_count(m, DT_NS, DNSW_T_SOA), 1);
	soa = dt_find(m, DT_NS, DNSW_T_SOA, NULL);
	assert_true(nl >= al);
	snprintf(owner, sizeof(owner), "%s.", qname + nl - al);
	assert_string_equal(soa->owner, owner);
	assert_int_equal(soa->ttl, ttl < 300 ? ttl : 300);
	/* MNAME and RNAME, then serial (not checked), refresh, retry, expire, minimum. */
	snprintf(data, sizeof(data), "ns.dns.%s. hostmaster.%s. ", apex, apex);
	assert_true(strncasecmp(soa->data, data, strlen(data)) == 0);
	snprintf(data, sizeof(data), " 7200 1800 86400 %u", ttl);
	assert_string_equal(soa->data + strlen(soa->data) - strlen(data), data);
}

static void
expect_nxdomain(const char *name, uint16_t qtype)
{
	struct dt_msg *m = ask(name, qtype);

	if (dt_rcode(m) != DNSW_R_NXDOMAIN)
		fail_msg("%s/%u: rcode %u, want NXDOMAIN", name, qtype, dt_rcode(m));
	assert_true(m->flags & DNSW_F_AA);
	assert_int_equal(m->an, 0);
	assert_int_equal(m->ar, 0);
	check_neg_soa(m, name, ZONE, TTL);
	free(m);
}

static void
expect_nodata(const char *name, uint16_t qtype)
{
	struct dt_msg *m = ask(name, qtype);

	if (dt_rcode(m) != DNSW_R_NOERROR || m->an != 0)
		fail_msg("%s/%u: rcode %u an %u, want NODATA", name, qtype, dt_rcode(m), m->an);
	assert_true(m->flags & DNSW_F_AA);
	assert_int_equal(m->ar, 0);
	check_neg_soa(m, name, ZONE, TTL);
	free(m);
}

/* A positive answer: NOERROR, AA, N answer records of QTYPE, all owned by NAME with TTL. */
static struct dt_msg *
expect_answer(const char *name, uint16_t qtype, size_t n)
{
	struct dt_msg *m = ask(name, qtype);
	char owner[300];

	if (dt_rcode(m) != DNSW_R_NOERROR || m->an != n)
		fail_msg("%s/%u: rcode %u an %u, want NOERROR with %zu", name, qtype, dt_rcode(m),
		         m->an, n);
	assert_true(m->flags & DNSW_F_AA);
	assert_false(m->flags & DNSW_F_TC);
	assert_int_equal(m->ns, 0);
	snprintf(owner, sizeof(owner), "%s.", name);
	for (size_t i = 0; i < m->an; i++) {
		assert_string_equal(m->rr[i].owner, owner);
		assert_int_equal(m->rr[i].type, qtype);
		assert_int_equal(m->rr[i].rclass, DNSW_C_IN);
		assert_int_equal(m->rr[i].ttl, TTL);
	}
	return m;
}

static void
expect_forward(const char *name, uint16_t qtype)
{
	uint8_t in[1024], want[DNSW_NAME_MAX];
	size_t len = dt_query(in, ID, DNSW_F_RD, name, qtype, DNSW_C_IN, -1, 0), wlen;

	run(dt_zone, in, len, DNSQ_UDP);
	if (res.action != DNSQ_FORWARD)
		fail_msg("%s/%u: action %d, want FORWARD", name, qtype, res.action);
	/* The parsed query describes it for the forwarder. */
	assert_int_equal(q.id, ID);
	assert_int_equal(q.qtype, qtype);
	assert_int_equal(q.qclass, DNSW_C_IN);
	assert_int_equal(q.query_len, len);
	assert_int_equal(dnsw_name_from_str(name, want, &wlen), SVC_OK);
	assert_int_equal(q.qname_len, wlen);
	assert_memory_equal(q.qname, want, wlen);
}

/* ---- services ---- */

static void
test_clusterip_a(void **state)
{
	struct dt_msg *m;

	(void)state;
	/* Table case 1. */
	m = expect_answer("svc1.testns.svc.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "10.96.1.1");
	assert_int_equal(m->ar, 0);
	free(m);
	/* Case 2: a ClusterIP is answered with zero endpoints. */
	m = expect_answer("svcempty.testns.svc.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "10.96.1.2");
	free(m);
	/* Case 8: the other family is NODATA. */
	expect_nodata("svc1.testns.svc.cluster.local", DNSW_T_AAAA);
}

static void
test_clusterip_v6_and_dual(void **state)
{
	struct dt_msg *m;

	(void)state;
	/* Case 6. */
	m = expect_answer("svc6.testns.svc.cluster.local", DNSW_T_AAAA, 1);
	assert_string_equal(m->rr[0].data, "fd00:96::6");
	free(m);
	expect_nodata("svc6.testns.svc.cluster.local", DNSW_T_A);
	/* Cases 23-24. */
	m = expect_answer("svc-dual-stack.testns.svc.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "10.96.1.3");
	free(m);
	m = expect_answer("svc-dual-stack.testns.svc.cluster.local", DNSW_T_AAAA, 1);
	assert_string_equal(m->rr[0].data, "fd00:96::3");
	free(m);
	/* Case 25: one SRV, weight 50 (two backend entries before dedup), both addresses. */
	m = expect_answer("svc-dual-stack.testns.svc.cluster.local", DNSW_T_SRV, 1);
	assert_string_equal(m->rr[0].data, "0 50 80 svc-dual-stack.testns.svc.cluster.local.");
	assert_int_equal(m->ar, 2);
	assert_non_null(dt_find(m, DT_AR, DNSW_T_A, "10.96.1.3"));
	assert_non_null(dt_find(m, DT_AR, DNSW_T_AAAA, "fd00:96::3"));
	for (size_t i = m->an; i < m->n; i++)
		assert_string_equal(m->rr[i].owner, "svc-dual-stack.testns.svc.cluster.local.");
	free(m);
}

static void
test_clusterip_srv(void **state)
{
	struct dt_msg *m;

	(void)state;
	/* Cases 3-4: bare name and named port alike, the A of the target in additional. */
	m = expect_answer("_http._tcp.svc1.testns.svc.cluster.local", DNSW_T_SRV, 1);
	assert_string_equal(m->rr[0].data, "0 100 80 svc1.testns.svc.cluster.local.");
	assert_int_equal(m->ar, 1);
	assert_string_equal(m->rr[1].owner, "svc1.testns.svc.cluster.local.");
	assert_int_equal(m->rr[1].type, DNSW_T_A);
	assert_string_equal(m->rr[1].data, "10.96.1.1");
	assert_int_equal(m->rr[1].ttl, TTL);
	free(m);
	m = expect_answer("svc1.testns.svc.cluster.local", DNSW_T_SRV, 1);
	assert_string_equal(m->rr[0].data, "0 100 80 svc1.testns.svc.cluster.local.");
	assert_non_null(dt_find(m, DT_AR, DNSW_T_A, "10.96.1.1"));
	free(m);
	/* Case 5. */
	m = expect_answer("_http._tcp.svcempty.testns.svc.cluster.local", DNSW_T_SRV, 1);
	assert_string_equal(m->rr[0].data, "0 100 80 svcempty.testns.svc.cluster.local.");
	free(m);
	/* Case 7: an IPv6 target's AAAA. */
	m = expect_answer("_http._tcp.svc6.testns.svc.cluster.local", DNSW_T_SRV, 1);
	assert_non_null(dt_find(m, DT_AR, DNSW_T_AAAA, "fd00:96::6"));
	assert_int_equal(m->ar, 1);
	free(m);
	/* Case 57: two ports, weight 50 each, the target's A once. */
	m = expect_answer("svc2.testns.svc.cluster.local", DNSW_T_SRV, 2);
	assert_non_null(dt_find(m, DT_AN, DNSW_T_SRV, "0 50 80 svc2.testns.svc.cluster.local."));
	assert_non_null(dt_find(m, DT_AN, DNSW_T_SRV, "0 50 443 svc2.testns.svc.cluster.local."));
	assert_int_equal(m->ar, 1);
	assert_non_null(dt_find(m, DT_AR, DNSW_T_A, "10.96.1.4"));
	free(m);
	m = expect_answer("_https._tcp.svc2.testns.svc.cluster.local", DNSW_T_SRV, 1);
	assert_string_equal(m->rr[0].data, "0 100 443 svc2.testns.svc.cluster.local.");
	free(m);
	/* An unnamed port: SRV on the bare name only (spec 2.3.2). */
	m = expect_answer("svc3.testns.svc.cluster.local", DNSW_T_SRV, 1);
	assert_string_equal(m->rr[0].data, "0 100 8000 svc3.testns.svc.cluster.local.");
	free(m);
	/* Wrong protocol or unknown port name: no such name. */
	expect_nxdomain("_http._udp.svc1.testns.svc.cluster.local", DNSW_T_SRV);
	expect_nxdomain("_ftp._tcp.svc1.testns.svc.cluster.local", DNSW_T_SRV);
	/* Case 12: other types at a service name are NODATA. */
	expect_nodata("svc1.testns.svc.cluster.local", DNSW_T_TXT);
	expect_nodata("svc1.testns.svc.cluster.local", DNSW_T_SOA);
	expect_nodata("svc1.testns.svc.cluster.local", DNSW_T_PTR);
	expect_nodata("svc1.testns.svc.cluster.local", DNSW_T_MX);
	expect_nodata("svc1.testns.svc.cluster.local", DNSW_T_CNAME);
	expect_nodata("_http._tcp.svc1.testns.svc.cluster.local", DNSW_T_A);
}

static void
test_headless(void **state)
{
	struct dt_msg *m;

	(void)state;
	/* Case 15: ready endpoints only (172.0.0.9 is not ready). */
	m = expect_answer("hdls1.testns.svc.cluster.local", DNSW_T_A, 4);
	assert_non_null(dt_find(m, DT_AN, DNSW_T_A, "172.0.0.2"));
	assert_non_null(dt_find(m, DT_AN, DNSW_T_A, "172.0.0.3"));
	assert_non_null(dt_find(m, DT_AN, DNSW_T_A, "172.0.0.4"));
	assert_non_null(dt_find(m, DT_AN, DNSW_T_A, "172.0.0.5"));
	free(m);
	/* Case 16. */
	m = expect_answer("hdls1.testns.svc.cluster.local", DNSW_T_AAAA, 2);
	assert_non_null(dt_find(m, DT_AN, DNSW_T_AAAA, "5678:abcd::1"));
	assert_non_null(dt_find(m, DT_AN, DNSW_T_AAAA, "5678:abcd::2"));
	free(m);
	/* Case 17: endpoints without ports still give A. */
	m = expect_answer("hdlsprtls.testns.svc.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "172.0.0.20");
	free(m);
	/* ... but no SRV. */
	expect_nodata("hdlsprtls.testns.svc.cluster.local", DNSW_T_SRV);
	/* Case 59 / spec 2.4.1: headless with no ready endpoints does not exist. */
	expect_nxdomain("unready.testns.svc.cluster.local", DNSW_T_A);
	expect_nxdomain("unready.testns.svc.cluster.local", DNSW_T_SRV);
	expect_nxdomain("_http._tcp.unready.testns.svc.cluster.local", DNSW_T_SRV);
	/* publishNotReadyAddresses: the not-ready address is published. */
	m = expect_answer("pubnr.testns.svc.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "172.0.0.31");
	free(m);
}

static void
test_headless_srv(void **state)
{
	static const char *targets[] = {
	        "172-0-0-2.hdls1.testns.svc.cluster.local.",
	        "172-0-0-3.hdls1.testns.svc.cluster.local.",
	        "dup-name.hdls1.testns.svc.cluster.local.",
	        "5678-abcd--1.hdls1.testns.svc.cluster.local.",
	        "5678-abcd--2.hdls1.testns.svc.cluster.local.",
	};
	const char *names[] = {"_http._tcp.hdls1.testns.svc.cluster.local",
	                       "hdls1.testns.svc.cluster.local"};

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		/* Case 18: 6 backend entries -> weight 16; dup-name twice -> one SRV. */
		struct dt_msg *m = expect_answer(names[k], DNSW_T_SRV, 5);

		for (size_t i = 0; i < 5; i++) {
			char want[300];

			snprintf(want, sizeof(want), "0 16 80 %s", targets[i]);
			if (dt_find(m, DT_AN, DNSW_T_SRV, want) == NULL)
				fail_msg("%s: no SRV %s", names[k], want);
		}
		assert_int_equal(m->ar, 6);
		assert_int_equal(dt_count(m, DT_AR, DNSW_T_A), 4);
		assert_int_equal(dt_count(m, DT_AR, DNSW_T_AAAA), 2);
		/* Each address under its own target's name. */
		for (size_t i = m->an; i < m->n; i++) {
			const struct dt_rr *r = &m->rr[i];
			const char *want = NULL;

			if (!strcmp(r->data, "172.0.0.2"))
				want = targets[0];
			else if (!strcmp(r->data, "172.0.0.3"))
				want = targets[1];
			else if (!strcmp(r->data, "172.0.0.4") || !strcmp(r->data, "172.0.0.5"))
				want = targets[2];
			else if (!strcmp(r->data, "5678:abcd::1"))
				want = targets[3];
			else if (!strcmp(r->data, "5678:abcd::2"))
				want = targets[4];
			if (want == NULL)
				fail_msg("unexpected additional %s", r->data);
			assert_string_equal(r->owner, want);
			assert_int_equal(r->ttl, TTL);
		}
		free(m);
	}
}

static void
test_endpoint_names(void **state)
{
	struct dt_msg *m;

	(void)state;
	/* Cases 19-22: dashed IPs and hostnames, several addresses under one hostname. */
	m = expect_answer("172-0-0-2.hdls1.testns.svc.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "172.0.0.2");
	free(m);
	m = expect_answer("dup-name.hdls1.testns.svc.cluster.local", DNSW_T_A, 2);
	assert_non_null(dt_find(m, DT_AN, DNSW_T_A, "172.0.0.4"));
	assert_non_null(dt_find(m, DT_AN, DNSW_T_A, "172.0.0.5"));
	free(m);
	m = expect_answer("5678-abcd--2.hdls1.testns.svc.cluster.local", DNSW_T_AAAA, 1);
	assert_string_equal(m->rr[0].data, "5678:abcd::2");
	free(m);
	expect_nodata("5678-abcd--2.hdls1.testns.svc.cluster.local", DNSW_T_A);
	m = expect_answer("172-0-0-20.hdlsprtls.testns.svc.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "172.0.0.20");
	free(m);
	/* A hostname replaces the dashed IP. */
	expect_nxdomain("172-0-0-4.hdls1.testns.svc.cluster.local", DNSW_T_A);
	/* Not ready: no name. Cases 13-14: unknown endpoints. */
	expect_nxdomain("172-0-0-9.hdls1.testns.svc.cluster.local", DNSW_T_A);
	expect_nxdomain("bogusendpoint.hdls1.testns.svc.cluster.local", DNSW_T_A);
	expect_nxdomain("bogusendpoint.svc0.testns.svc.cluster.local", DNSW_T_A);
	/* Case 63/65: endpoints of a ClusterIP service have names too. */
	m = expect_answer("ep1a.svc1.testns.svc.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "172.0.0.1");
	free(m);
	/* Pod hostname/subdomain behind a headless service; the unready pod has no name. */
	m = expect_answer("web-0.web.testns.svc.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "10.244.0.5");
	free(m);
	m = expect_answer("web.testns.svc.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "10.244.0.5");
	free(m);
	expect_nxdomain("web-1.web.testns.svc.cluster.local", DNSW_T_A);
	/* Deeper than an endpoint: no such name. */
	expect_nxdomain("a.172-0-0-2.hdls1.testns.svc.cluster.local", DNSW_T_A);
}

static void
test_external_name(void **state)
{
	uint8_t in[512], target[DNSW_NAME_MAX];
	size_t len, tlen;
	struct dt_msg *m;

	(void)state;
	/* Case 29. */
	m = expect_answer("external.testns.svc.cluster.local", DNSW_T_CNAME, 1);
	assert_string_equal(m->rr[0].data, "ext.interwebs.test.");
	free(m);
	/* Case 30: A and AAAA give the CNAME and hand the target to the resolver. */
	for (int i = 0; i < 2; i++) {
		uint16_t t = i == 0 ? DNSW_T_A : DNSW_T_AAAA;

		len = dt_query(in, ID, DNSW_F_RD, "External.testns.svc.cluster.local", t, DNSW_C_IN,
		               -1, 0);
		run(dt_zone, in, len, DNSQ_UDP);
		assert_int_equal(res.action, DNSQ_CHASE);
		assert_int_equal(dnsw_name_from_str("ext.interwebs.test", target, &tlen), SVC_OK);
		assert_int_equal(q.chase_len, tlen);
		assert_memory_equal(q.chase, target, tlen);
		m = dt_parse(out, res.len);
		assert_non_null(m);
		assert_int_equal(m->an, 1);
		assert_int_equal(m->ar, 0);
		assert_true(m->flags & DNSW_F_AA);
		assert_string_equal(m->rr[0].owner, "External.testns.svc.cluster.local.");
		assert_int_equal(m->rr[0].type, DNSW_T_CNAME);
		assert_string_equal(m->rr[0].data, "ext.interwebs.test.");
		free(m);
	}
	/* Case 31: a target inside the zone is resolved here, CNAME first. */
	m = ask("external-to-service.testns.svc.cluster.local", DNSW_T_A);
	assert_int_equal(dt_rcode(m), DNSW_R_NOERROR);
	assert_true(m->flags & DNSW_F_AA);
	assert_int_equal(m->an, 2);
	assert_int_equal(m->rr[0].type, DNSW_T_CNAME);
	assert_string_equal(m->rr[0].owner, "external-to-service.testns.svc.cluster.local.");
	assert_string_equal(m->rr[0].data, "svc1.testns.svc.cluster.local.");
	assert_int_equal(m->rr[1].type, DNSW_T_A);
	assert_string_equal(m->rr[1].owner, "svc1.testns.svc.cluster.local.");
	assert_string_equal(m->rr[1].data, "10.96.1.1");
	free(m);
	/* svc1 has no IPv6 address: the CNAME alone. */
	m = ask("external-to-service.testns.svc.cluster.local", DNSW_T_AAAA);
	assert_int_equal(dt_rcode(m), DNSW_R_NOERROR);
	assert_int_equal(m->an, 1);
	assert_int_equal(m->rr[0].type, DNSW_T_CNAME);
	free(m);
	/* Cases 32-33: names below an ExternalName do not exist, as in CoreDNS (no SRV either). */
	expect_nxdomain("endpoint.external.testns.svc.cluster.local", DNSW_T_CNAME);
	expect_nxdomain("subdomain.subdomain.external.testns.svc.cluster.local", DNSW_T_CNAME);
	expect_nxdomain("_http._tcp.external.testns.svc.cluster.local", DNSW_T_SRV);
}

static void
test_pods(void **state)
{
	struct dt_msg *m;

	(void)state;
	/* Case 44 (pods insecure): any well-formed address in an existing namespace. */
	m = expect_answer("10-240-0-1.podns.pod.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "10.240.0.1");
	free(m);
	m = expect_answer("172-0-0-2.testns.pod.cluster.local", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "172.0.0.2");
	free(m);
	m = expect_answer("fd00--1.podns.pod.cluster.local", DNSW_T_AAAA, 1);
	assert_string_equal(m->rr[0].data, "fd00::1");
	free(m);
	expect_nodata("10-240-0-1.podns.pod.cluster.local", DNSW_T_AAAA);
	expect_nodata("fd00--1.podns.pod.cluster.local", DNSW_T_A);
	/* Case 45: not an address, or the namespace is missing. */
	expect_nxdomain("blah.podns.pod.cluster.local", DNSW_T_A);
	expect_nxdomain("blah.podns.pod.cluster.local", DNSW_T_HINFO);
	expect_nxdomain("1-2-3.podns.pod.cluster.local", DNSW_T_A);
	expect_nxdomain("300-0-0-1.podns.pod.cluster.local", DNSW_T_A);
	expect_nxdomain("10-240-0-1.pod-nons.pod.cluster.local", DNSW_T_A);
	expect_nxdomain("x.10-240-0-1.podns.pod.cluster.local", DNSW_T_A);
	/* Case 46. */
	expect_nodata("podns.pod.cluster.local", DNSW_T_A);
	expect_nxdomain("pod-nons.pod.cluster.local", DNSW_T_A);
	/* Case-insensitive, and the owner keeps the query's spelling. */
	m = expect_answer("FD00--1.PodNS.pod.cluster.local", DNSW_T_AAAA, 1);
	assert_string_equal(m->rr[0].data, "fd00::1");
	free(m);
}

static void
check_ptr(const char *name, const char **want, size_t n)
{
	struct dt_msg *m = expect_answer(name, DNSW_T_PTR, n);

	for (size_t i = 0; i < n; i++) {
		if (dt_find(m, DT_AN, DNSW_T_PTR, want[i]) == NULL)
			fail_msg("%s: no PTR %s", name, want[i]);
	}
	free(m);
}

static void
test_ptr(void **state)
{
	const char *svc1[] = {"svc1.testns.svc.cluster.local."};
	const char *ep1a[] = {"ep1a.svc1.testns.svc.cluster.local.",
	                      "ep1a.svc2.testns.svc.cluster.local."};
	const char *dashed[] = {"172-0-0-2.hdls1.testns.svc.cluster.local."};
	const char *dup[] = {"dup-name.hdls1.testns.svc.cluster.local."};
	const char *svc6[] = {"svc6.testns.svc.cluster.local."};
	const char *ep6[] = {"5678-abcd--1.hdls1.testns.svc.cluster.local."};
	const char *kdns[] = {"kube-dns.kube-system.svc.cluster.local."};
	const char *web[] = {"web-0.web.testns.svc.cluster.local."};

	(void)state;
	/* Case 48/62; svc3's endpoint has the same address: the ClusterIP wins, alone. */
	check_ptr("1.1.96.10.in-addr.arpa", svc1, 1);
	check_ptr("10.0.96.10.in-addr.arpa", kdns, 1);
	/* Case 50: one address in two services gives two PTRs. */
	check_ptr("1.0.0.172.in-addr.arpa", ep1a, 2);
	check_ptr("2.0.0.172.in-addr.arpa", dashed, 1);
	/* Spec 2.4.3: each ready endpoint's address names it, also when a hostname is shared. */
	check_ptr("4.0.0.172.in-addr.arpa", dup, 1);
	check_ptr("5.0.0.172.in-addr.arpa", dup, 1);
	check_ptr("5.0.244.10.in-addr.arpa", web, 1);
	/* Case 51: 32 nibbles under ip6.arpa. */
	check_ptr("6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa", svc6,
	          1);
	check_ptr("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa", ep6,
	          1);
	/* Case-insensitive. */
	check_ptr("6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.D.F.IP6.ARPA", svc6,
	          1);
	/* Unknown, not-ready and pod-only addresses are not ours: forwarded (fallthrough). */
	expect_forward("200.0.17.172.in-addr.arpa", DNSW_T_PTR);
	expect_forward("9.0.0.172.in-addr.arpa", DNSW_T_PTR);
	expect_forward("6.0.244.10.in-addr.arpa", DNSW_T_PTR);
	expect_forward("0.0.172.in-addr.arpa", DNSW_T_PTR);
	expect_forward("in-addr.arpa", DNSW_T_SOA);
	/* An address of the service CIDRs (10.96.0.0/12, fd00:96::/108) that no service holds: an
	 * NXDOMAIN of ours, whatever the type, with the SOA of the reverse zone covering the CIDR
	 * (whole octets, whole nibbles); names of the range that are no address are not ours. */
	{
		static const char *const owned[][2] = {
		        {"7.7.97.10.in-addr.arpa", "10.in-addr.arpa"},
		        {"255.255.111.10.in-addr.arpa", "10.in-addr.arpa"},
		        {"0.0.96.10.in-addr.arpa", "10.in-addr.arpa"},
		        {"7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa",
		         "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa"},
		};

		for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
			for (int t = 0; t < 2; t++) {
				struct dt_msg *m = ask(owned[i][0], t ? DNSW_T_A : DNSW_T_PTR);

				if (dt_rcode(m) != DNSW_R_NXDOMAIN)
					fail_msg("%s: rcode %u, want NXDOMAIN", owned[i][0],
					         dt_rcode(m));
				assert_true(m->flags & DNSW_F_AA);
				assert_int_equal(m->an, 0);
				check_neg_soa(m, owned[i][0], owned[i][1], TTL);
				free(m);
			}
		}
		/* Just outside the ranges, and the range's own zone names: forwarded. */
		expect_forward("0.0.112.10.in-addr.arpa", DNSW_T_PTR);
		expect_forward("255.255.95.10.in-addr.arpa", DNSW_T_PTR);
		expect_forward("96.10.in-addr.arpa", DNSW_T_PTR);
		expect_forward("10.in-addr.arpa", DNSW_T_SOA);
		expect_forward(
		        "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.6.9.0.0.0.0.d.f.ip6.arpa",
		        DNSW_T_PTR);
	}
	/* Another type at a known reverse name: NODATA with an SOA. */
	{
		struct dt_msg *m = ask("1.1.96.10.in-addr.arpa", DNSW_T_A);

		assert_int_equal(dt_rcode(m), DNSW_R_NOERROR);
		assert_int_equal(m->an, 0);
		assert_int_equal(dt_count(m, DT_NS, DNSW_T_SOA), 1);
		free(m);
	}
}

static void
test_apex(void **state)
{
	struct dt_msg *m;
	char want[200];

	(void)state;
	/* Case 36. */
	m = expect_answer("cluster.local", DNSW_T_SOA, 1);
	snprintf(want, sizeof(want), " 7200 1800 86400 %u", TTL);
	assert_true(strncmp(m->rr[0].data, "ns.dns.cluster.local. hostmaster.cluster.local. ",
	                    48) == 0);
	assert_string_equal(m->rr[0].data + strlen(m->rr[0].data) - strlen(want), want);
	free(m);
	/* Case 61: the kube-dns Service is the name server, its ClusterIP the glue. */
	m = expect_answer("cluster.local", DNSW_T_NS, 1);
	assert_string_equal(m->rr[0].data, "kube-dns.kube-system.svc.cluster.local.");
	assert_int_equal(m->ar, 1);
	assert_string_equal(m->rr[1].owner, "kube-dns.kube-system.svc.cluster.local.");
	assert_int_equal(m->rr[1].type, DNSW_T_A);
	assert_string_equal(m->rr[1].data, "10.96.0.10");
	free(m);
	/* Case 38. */
	expect_nodata("cluster.local", DNSW_T_A);
	expect_nodata("cluster.local", DNSW_T_AAAA);
	expect_nodata("cluster.local", DNSW_T_SRV);
	expect_nodata("cluster.local", DNSW_T_HINFO);
	/* Case 11: the schema version, with its own TTL. */
	m = ask("dns-version.cluster.local", DNSW_T_TXT);
	assert_int_equal(dt_rcode(m), DNSW_R_NOERROR);
	assert_int_equal(m->an, 1);
	assert_string_equal(m->rr[0].data, "\"1.1.0\"");
	assert_int_equal(m->rr[0].ttl, 28800);
	free(m);
	expect_nodata("dns-version.cluster.local", DNSW_T_A);
}

static void
test_apex_without_kube_dns(void **state)
{
	struct cluster *c;
	struct dnsz *z = dt_build_zone("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
	                               "Cluster.Local.", 5, &c);
	struct dt_msg *m;

	(void)state;
	/* Case 37: ns.dns.<zone> with the listen address as glue, and that name answers. */
	m = ask_z(z, "cluster.local", DNSW_T_NS, DNSQ_UDP, -1, 0);
	assert_int_equal(m->an, 1);
	assert_string_equal(m->rr[0].data, "ns.dns.cluster.local.");
	assert_int_equal(m->ar, 1);
	assert_string_equal(m->rr[1].owner, "ns.dns.cluster.local.");
	assert_string_equal(m->rr[1].data, "127.0.0.1");
	free(m);
	m = ask_z(z, "ns.dns.cluster.local", DNSW_T_A, DNSQ_UDP, -1, 0);
	assert_int_equal(dt_rcode(m), DNSW_R_NOERROR);
	assert_int_equal(m->an, 1);
	assert_string_equal(m->rr[0].data, "127.0.0.1");
	assert_int_equal(m->rr[0].ttl, 5);
	free(m);
	dnsz_unref(z);
	cluster_unref(c);
}

static void
test_negative(void **state)
{
	(void)state;
	/* Cases 9-10, 34. */
	expect_nxdomain("svc0.testns.svc.cluster.local", DNSW_T_A);
	expect_nxdomain("svc0.testns.svc.cluster.local", DNSW_T_AAAA);
	expect_nxdomain("svc0.svc-nons.svc.cluster.local", DNSW_T_TXT);
	expect_nxdomain("svc1.nsnoexist.svc.cluster.local", DNSW_T_A);
	/* Case 26-27: existing structure is NODATA. */
	expect_nodata("svc.cluster.local", DNSW_T_A);
	expect_nodata("svc.cluster.local", DNSW_T_NS);
	expect_nodata("pod.cluster.local", DNSW_T_A);
	expect_nodata("testns.svc.cluster.local", DNSW_T_A);
	expect_nodata("testns.svc.cluster.local", DNSW_T_NS);
	/* A namespace that exists only through its objects. */
	expect_nodata("kube-system.svc.cluster.local", DNSW_T_A);
	/* Case 28, 54. */
	expect_nxdomain("foo.cluster.local", DNSW_T_NS);
	expect_nxdomain("foo.svc.cluster.local", DNSW_T_NS);
	expect_nxdomain("nons.svc.cluster.local", DNSW_T_A);
	expect_nxdomain("100.0.0.10.cluster.local", DNSW_T_PTR);
}

static void
test_negative_ttl_cap(void **state)
{
	struct cluster *c;
	struct dnsz *z = dt_build_zone(DT_FIXTURE, "cluster.local", 600, &c);
	struct dt_msg *m;

	(void)state;
	m = ask_z(z, "svc0.testns.svc.cluster.local", DNSW_T_A, DNSQ_UDP, -1, 0);
	assert_int_equal(dt_rcode(m), DNSW_R_NXDOMAIN);
	check_neg_soa(m, "svc0.testns.svc.cluster.local", "cluster.local", 600);
	assert_int_equal(m->rr[0].ttl, 300);
	free(m);
	m = ask_z(z, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSQ_UDP, -1, 0);
	assert_int_equal(m->rr[0].ttl, 600);
	free(m);
	dnsz_unref(z);
	cluster_unref(c);
}

static void
test_case(void **state)
{
	struct dt_msg *m;

	(void)state;
	/* Case 39. */
	m = expect_answer("SvC1.TeStNs.SvC.cLuStEr.LoCaL", DNSW_T_A, 1);
	assert_string_equal(m->rr[0].data, "10.96.1.1");
	free(m);
	/* Case 40: the owner as asked; the target equal up to case. */
	m = expect_answer("_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL", DNSW_T_SRV, 1);
	assert_true(strcasecmp(m->rr[0].data, "0 100 80 svc1.testns.svc.cluster.local.") == 0);
	assert_true(strcasecmp(m->rr[1].owner, "svc1.testns.svc.cluster.local.") == 0);
	free(m);
	/* Case 41: the SOA owner echoes the query's spelling of the zone. */
	expect_nxdomain("not-a-service.testns.svc.ClUsTeR.lOcAl", DNSW_T_A);
	expect_nodata("TESTNS.svc.cluster.LOCAL", DNSW_T_A);
	m = ask("CLUSTER.local", DNSW_T_SOA);
	assert_int_equal(m->an, 1);
	assert_string_equal(m->rr[0].owner, "CLUSTER.local.");
	free(m);
}

static void
test_outside_zone(void **state)
{
	(void)state;
	expect_forward("example.com", DNSW_T_A);
	expect_forward("www.Example.COM", DNSW_T_AAAA);
	expect_forward("cluster.local.example.com", DNSW_T_A);
	expect_forward("local", DNSW_T_SOA);
	expect_forward("xcluster.local", DNSW_T_A);
	expect_forward(".", DNSW_T_NS);
	expect_forward("example.com", DNSW_T_MX);
}

static void
test_placeholder(void **state)
{
	struct dnsz_options opts = {.domain = "cluster.local", .ttl = 30};
	struct dnsz *z = NULL;
	uint8_t in[512];
	size_t len;
	struct dt_msg *m;

	(void)state;
	assert_int_equal(dnsz_build(NULL, &opts, &z), SVC_OK);
	assert_non_null(z);
	assert_false(z->loaded);
	/* Case 35: before the first model, cluster names fail rather than deny. */
	len = dt_query(in, ID, DNSW_F_RD, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSW_C_IN, -1,
	               0);
	run(z, in, len, DNSQ_UDP);
	assert_int_equal(res.action, DNSQ_REPLY);
	m = dt_parse(out, res.len);
	assert_non_null(m);
	assert_int_equal(dt_rcode(m), DNSW_R_SERVFAIL);
	assert_int_equal(m->id, ID);
	assert_int_equal(m->qd, 1);
	assert_int_equal(m->an, 0);
	free(m);
	len = dt_query(in, ID, 0, "cluster.local", DNSW_T_SOA, DNSW_C_IN, -1, 0);
	run(z, in, len, DNSQ_UDP);
	assert_int_equal(res.action, DNSQ_REPLY);
	assert_int_equal(res.rcode, DNSW_R_SERVFAIL);
	/* Other names still go upstream. */
	len = dt_query(in, ID, 0, "example.com", DNSW_T_A, DNSW_C_IN, -1, 0);
	run(z, in, len, DNSQ_UDP);
	assert_int_equal(res.action, DNSQ_FORWARD);
	len = dt_query(in, ID, 0, "1.1.96.10.in-addr.arpa", DNSW_T_PTR, DNSW_C_IN, -1, 0);
	run(z, in, len, DNSQ_UDP);
	assert_int_equal(res.action, DNSQ_FORWARD);
	dnsz_unref(z);
}

/* ---- protocol ---- */

/* Run raw packet IN and check a reply with RCODE that echoes the ID; returns the parsed reply. */
static struct dt_msg *
expect_rcode(const uint8_t *in, size_t len, unsigned rcode)
{
	struct dt_msg *m;

	run(dt_zone, in, len, DNSQ_UDP);
	assert_int_equal(res.action, DNSQ_REPLY);
	m = dt_parse(out, res.len);
	assert_non_null(m);
	assert_int_equal(m->trailing, 0);
	if (dt_rcode(m) != (rcode & 0xf))
		fail_msg("rcode %u, want %u", dt_rcode(m), rcode & 0xf);
	assert_int_equal(res.rcode, rcode);
	assert_int_equal(m->id, (uint16_t)(in[0] << 8 | in[1]));
	assert_true(m->flags & DNSW_F_QR);
	assert_false(m->flags & DNSW_F_AA);
	assert_int_equal(m->an, 0);
	assert_int_equal(m->ns, 0);
	return m;
}

static void
test_formerr_counts(void **state)
{
	uint8_t in[512];
	size_t len;
	struct dt_msg *m;

	(void)state;
	len = dt_query(in, 0x1234, 0, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSW_C_IN, -1, 0);
	/* QDCOUNT 0 and 2: FORMERR without a question. */
	in[5] = 0;
	m = expect_rcode(in, len, DNSW_R_FORMERR);
	assert_int_equal(m->qd, 0);
	free(m);
	in[5] = 2;
	m = expect_rcode(in, len, DNSW_R_FORMERR);
	assert_int_equal(m->qd, 0);
	free(m);
	in[5] = 1;
	/* ANCOUNT or NSCOUNT set. */
	in[7] = 1;
	free(expect_rcode(in, len, DNSW_R_FORMERR));
	in[7] = 0;
	in[9] = 1;
	free(expect_rcode(in, len, DNSW_R_FORMERR));
	in[9] = 0;
	/* ARCOUNT 1 with nothing there. */
	in[11] = 1;
	free(expect_rcode(in, len, DNSW_R_FORMERR));
	in[11] = 0;
	/* Truncated question: inside the name, and before the class. */
	m = expect_rcode(in, 20, DNSW_R_FORMERR);
	assert_int_equal(m->qd, 0);
	free(m);
	m = expect_rcode(in, len - 1, DNSW_R_FORMERR);
	assert_int_equal(m->qd, 0);
	free(m);
	/* The same packet, whole, is fine. */
	run(dt_zone, in, len, DNSQ_UDP);
	assert_int_equal(res.action, DNSQ_REPLY);
	assert_int_equal(res.rcode, DNSW_R_NOERROR);
}

static void
test_formerr_names(void **state)
{
	uint8_t in[600];
	size_t o;

	(void)state;
	/* A compression pointer in the question (to the header: backwards, still refused). */
	memset(in, 0, 12);
	in[5] = 1;
	o = 12;
	in[o++] = 1;
	in[o++] = 'a';
	in[o++] = 0xc0;
	in[o++] = 0;
	in[o++] = 0;
	in[o++] = 1;
	in[o++] = 0;
	in[o++] = 1;
	free(expect_rcode(in, o, DNSW_R_FORMERR));
	/* A 64-octet label. */
	o = 12;
	in[o++] = 64;
	memset(in + o, 'a', 64);
	o += 64;
	in[o++] = 0;
	in[o++] = 0;
	in[o++] = 1;
	in[o++] = 0;
	in[o++] = 1;
	free(expect_rcode(in, o, DNSW_R_FORMERR));
	/* A 321-octet name: five 63-octet labels. */
	o = 12;
	for (int i = 0; i < 5; i++) {
		in[o++] = 63;
		memset(in + o, 'b', 63);
		o += 63;
	}
	in[o++] = 0;
	in[o++] = 0;
	in[o++] = 1;
	in[o++] = 0;
	in[o++] = 1;
	free(expect_rcode(in, o, DNSW_R_FORMERR));
	/* QTYPE 0 and OPT are not questions. */
	o = dt_query(in, 7, 0, "example.com", 0, DNSW_C_IN, -1, 0);
	free(expect_rcode(in, o, DNSW_R_FORMERR));
	o = dt_query(in, 7, 0, "example.com", DNSW_T_OPT, DNSW_C_IN, -1, 0);
	free(expect_rcode(in, o, DNSW_R_FORMERR));
}

static void
test_drop_notimp_refused(void **state)
{
	uint8_t in[512];
	size_t len;
	struct dt_msg *m;

	(void)state;
	len = dt_query(in, 0x5555, DNSW_F_RD, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSW_C_IN,
	               -1, 0);
	/* Never answer an answer, or a packet without a header. */
	in[2] |= 0x80;
	run(dt_zone, in, len, DNSQ_UDP);
	assert_int_equal(res.action, DNSQ_DROP);
	in[2] &= 0x7f;
	for (size_t n = 0; n < 12; n++) {
		run(dt_zone, in, n, DNSQ_UDP);
		assert_int_equal(res.action, DNSQ_DROP);
	}
	/* Opcode STATUS (2) and NOTIFY (4): NOTIMP, ID echoed. */
	in[2] = (uint8_t)(in[2] | 2 << 3);
	m = expect_rcode(in, len, DNSW_R_NOTIMP);
	assert_int_equal(m->id, 0x5555);
	free(m);
	in[2] = (uint8_t)((in[2] & ~0x78) | 4 << 3);
	free(expect_rcode(in, len, DNSW_R_NOTIMP));
	in[2] &= (uint8_t)~0x78;
	/* Zone transfers and class CH: REFUSED, with the question. */
	len = dt_query(in, 1, 0, "cluster.local", DNSW_T_AXFR, DNSW_C_IN, -1, 0);
	m = expect_rcode(in, len, DNSW_R_REFUSED);
	assert_int_equal(m->qd, 1);
	free(m);
	len = dt_query(in, 1, 0, "cluster.local", DNSW_T_IXFR, DNSW_C_IN, -1, 0);
	free(expect_rcode(in, len, DNSW_R_REFUSED));
	/* A real IXFR carries the client's SOA in authority (RFC 1995): still REFUSED. */
	{
		static const uint8_t soa[] = {0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 0, 5, 0, 22,
		                              0,    0,    0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
		                              0,    0,    0, 0, 0, 0, 0, 0, 0, 0};

		memcpy(in + len, soa, sizeof(soa));
		in[9] = 1; /* NSCOUNT */
		free(expect_rcode(in, len + sizeof(soa), DNSW_R_REFUSED));
	}
	len = dt_query(in, 1, 0, "version.bind", DNSW_T_TXT, DNSW_C_CH, -1, 0);
	free(expect_rcode(in, len, DNSW_R_REFUSED));
}

static void
test_edns(void **state)
{
	uint8_t in[512];
	size_t len;
	struct dt_msg *m;

	(void)state;
	/* Version 0 with DO: our OPT comes back with 1232 and DO echoed. */
	m = ask_z(dt_zone, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSQ_UDP, 4096, DNSW_EDNS_DO);
	assert_int_equal(dt_rcode(m), DNSW_R_NOERROR);
	assert_int_equal(m->an, 1);
	assert_int_equal(m->ar, 1);
	assert_true(m->has_opt);
	assert_int_equal(m->opt_size, DNSQ_UDP_MAX);
	assert_int_equal(m->opt_ttl, DNSW_EDNS_DO);
	free(m);
	m = ask_z(dt_zone, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSQ_UDP, 1232, 0);
	assert_int_equal(m->opt_ttl, 0);
	free(m);
	/* Negative answers carry OPT after the SOA. */
	m = ask_z(dt_zone, "svc0.testns.svc.cluster.local", DNSW_T_A, DNSQ_UDP, 1232, 0);
	assert_int_equal(dt_rcode(m), DNSW_R_NXDOMAIN);
	assert_int_equal(m->ns, 1);
	assert_int_equal(m->ar, 1);
	free(m);
	/* Version 1: BADVERS, the upper bits of the rcode in our OPT (16 = 1 << 4 | 0). */
	len = dt_query(in, 9, 0, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSW_C_IN, 1232,
	               1u << 16);
	m = expect_rcode(in, len, DNSW_R_BADVERS);
	assert_true(m->has_opt);
	assert_int_equal(m->opt_ttl >> 24, 1);
	assert_int_equal((m->opt_ttl >> 16) & 0xff, 0);
	free(m);
	/* An option that is well formed (a client cookie) is fine. */
	len = dt_query(in, 9, 0, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSW_C_IN, 1232, 0);
	in[len - 1] = 12;
	memcpy(in + len, "\0\12\0\10abcdefgh", 12);
	run(dt_zone, in, len + 12, DNSQ_UDP);
	assert_int_equal(res.action, DNSQ_REPLY);
	assert_int_equal(res.rcode, DNSW_R_NOERROR);
	/* The option's length runs past the OPT RDATA. */
	in[len + 3] = 9;
	m = expect_rcode(in, len + 12, DNSW_R_FORMERR);
	assert_int_equal(m->qd, 1);
	free(m);
	/* Half an option header. */
	in[len - 1] = 2;
	free(expect_rcode(in, len + 2, DNSW_R_FORMERR));
}

static void
test_bad_opt(void **state)
{
	uint8_t in[512];
	size_t len, opt;

	(void)state;
	len = dt_query(in, 3, 0, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSW_C_IN, 1232, 0);
	opt = len - 11;
	/* Two OPT records. */
	memcpy(in + len, in + opt, 11);
	in[11] = 2;
	free(expect_rcode(in, len + 11, DNSW_R_FORMERR));
	in[11] = 1;
	/* An OPT owned by a name other than the root. */
	memmove(in + opt + 2, in + opt, 11);
	in[opt] = 1;
	in[opt + 1] = 'x';
	free(expect_rcode(in, len + 2, DNSW_R_FORMERR));
	/* An OPT owned by a pointer to the root (at the end of the question name). */
	in[opt] = 0xc0;
	in[opt + 1] = (uint8_t)(opt - 5);
	memmove(in + opt + 2, in + opt + 3, 10);
	free(expect_rcode(in, len + 1, DNSW_R_FORMERR));
	/* An A record in the additional section instead of an OPT. */
	len = dt_query(in, 3, 0, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSW_C_IN, -1, 0);
	in[11] = 1;
	memcpy(in + len, "\0\0\1\0\1\0\0\0\0\0\4\1\2\3\4", 15);
	free(expect_rcode(in, len + 15, DNSW_R_FORMERR));
}

static void
test_flags_echo(void **state)
{
	uint8_t in[512];
	size_t len;
	struct dt_msg *m;

	(void)state;
	/* RD clear and CD set: RD as asked, CD echoed, RA set, QR set. */
	len = dt_query(in, 77, DNSW_F_CD, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSW_C_IN, -1,
	               0);
	run(dt_zone, in, len, DNSQ_UDP);
	m = dt_parse(out, res.len);
	assert_non_null(m);
	assert_false(m->flags & DNSW_F_RD);
	assert_true(m->flags & DNSW_F_CD);
	assert_true(m->flags & DNSW_F_RA);
	assert_true(m->flags & DNSW_F_QR);
	assert_int_equal(m->flags & DNSW_F_OPCODE_MASK, 0);
	free(m);
}

/* ---- sizes ---- */

/* A headless service BIG with N ready endpoints 10.244.1.x and one port, and MID with 10. */
static char *
big_yaml(size_t n)
{
	size_t cap = 4096 + n * 64, o = 0;
	char *y = malloc(cap);

	o += (size_t)snprintf(y + o, cap - o,
	                      "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: "
	                      "testns}\nspec:\n  clusterIP: None\n  ports: [{name: http, port: "
	                      "80}]\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: big, "
	                      "namespace: testns}\nsubsets:\n- ports: [{name: http, port: 80}]\n"
	                      "  addresses:\n");
	for (size_t i = 1; i <= n; i++)
		o += (size_t)snprintf(y + o, cap - o, "  - {ip: 10.244.1.%zu}\n", i);
	o += (size_t)snprintf(
	        y + o, cap - o,
	        "---\napiVersion: v1\nkind: Service\nmetadata: {name: mid, namespace: "
	        "testns}\nspec:\n  clusterIP: None\n  ports: [{name: http, port: "
	        "80}]\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: mid, "
	        "namespace: testns}\nsubsets:\n- ports: [{name: http, port: 80}]\n"
	        "  addresses:\n");
	for (size_t i = 1; i <= 10; i++)
		o += (size_t)snprintf(y + o, cap - o, "  - {ip: 10.244.2.%zu}\n", i);
	return y;
}

static void
check_cut(const struct dt_msg *m, size_t limit, bool edns)
{
	assert_true(m->len <= limit);
	assert_true(m->flags & DNSW_F_TC);
	assert_true(res.truncated);
	assert_int_equal(m->trailing, 0);
	assert_int_equal(m->has_opt, edns);
	/* Cut at a record boundary, with as many records as fit: one more would not. */
	assert_true(m->len + 16 > limit);
	for (size_t i = 0; i < m->an; i++)
		assert_int_equal(m->rr[i].type, DNSW_T_A);
}

static void
test_sizes(void **state)
{
	const char *name = "big.testns.svc.cluster.local";
	char *yaml = big_yaml(100);
	struct cluster *c;
	struct dnsz *z = dt_build_zone(yaml, ZONE, TTL, &c);
	size_t head = 12 + 30 + 4; /* header and question */
	struct dt_msg *m, *full;

	(void)state;
	free(yaml);
	/* TCP: everything. */
	full = ask_z(z, name, DNSW_T_A, DNSQ_TCP, -1, 0);
	assert_int_equal(full->an, 100);
	assert_false(full->flags & DNSW_F_TC);
	assert_int_equal(full->len, head + 100 * 16);
	free(full);
	full = ask_z(z, name, DNSW_T_A, DNSQ_TCP, 512, 0);
	assert_int_equal(full->an, 100);
	assert_false(full->flags & DNSW_F_TC);
	free(full);
	/* UDP without EDNS: 512, TC. */
	m = ask_z(z, name, DNSW_T_A, DNSQ_UDP, -1, 0);
	check_cut(m, 512, false);
	assert_int_equal(m->an, (512 - head) / 16);
	free(m);
	/* EDNS 4096 is capped at 1232. */
	m = ask_z(z, name, DNSW_T_A, DNSQ_UDP, 4096, 0);
	check_cut(m, DNSQ_UDP_MAX, true);
	assert_int_equal(m->an, (DNSQ_UDP_MAX - head - 11) / 16);
	free(m);
	/* EDNS 800 is honoured. */
	m = ask_z(z, name, DNSW_T_A, DNSQ_UDP, 800, 0);
	check_cut(m, 800, true);
	free(m);
	/* EDNS below 512 counts as 512. */
	m = ask_z(z, name, DNSW_T_A, DNSQ_UDP, 100, 0);
	check_cut(m, 512, true);
	assert_int_equal(m->an, (512 - head - 11) / 16);
	free(m);
	/* SRV: cut inside the answer section sets TC, and additional records go first. */
	m = ask_z(z, name, DNSW_T_SRV, DNSQ_UDP, 1232, 0);
	assert_true(m->flags & DNSW_F_TC);
	assert_true(m->len <= DNSQ_UDP_MAX);
	assert_int_equal(m->ar, 1); /* our OPT only */
	assert_true(m->an > 0 && m->an < 100);
	free(m);
	m = ask_z(z, name, DNSW_T_SRV, DNSQ_TCP, -1, 0);
	assert_int_equal(m->an, 100);
	assert_int_equal(m->ar, 100);
	free(m);
	/* Only additional records over: left out without TC (RFC 2181 9). */
	full = ask_z(z, "mid.testns.svc.cluster.local", DNSW_T_SRV, DNSQ_TCP, -1, 0);
	assert_int_equal(full->an, 10);
	assert_int_equal(full->ar, 10);
	assert_true(full->len > 512); /* the premise */
	m = ask_z(z, "mid.testns.svc.cluster.local", DNSW_T_SRV, DNSQ_UDP, -1, 0);
	assert_int_equal(m->an, 10);
	assert_true(m->ar < 10);
	assert_false(m->flags & DNSW_F_TC);
	assert_true(m->len <= 512);
	free(m);
	free(full);
	/* Small answers are never cut. */
	m = ask_z(z, "svc0.testns.svc.cluster.local", DNSW_T_A, DNSQ_UDP, -1, 0);
	assert_false(m->flags & DNSW_F_TC);
	free(m);
	dnsz_unref(z);
	cluster_unref(c);
}

static void
test_dnsq_error(void **state)
{
	uint8_t in[512], buf[DNSQ_OUT_MAX];
	size_t len, n;
	struct dt_msg *m;

	(void)state;
	len = dt_query(in, 0x99, DNSW_F_RD, "Example.COM", DNSW_T_A, DNSW_C_IN, 1232, DNSW_EDNS_DO);
	run(dt_zone, in, len, DNSQ_UDP);
	assert_int_equal(res.action, DNSQ_FORWARD);
	n = dnsq_error(&q, in, DNSW_R_SERVFAIL, buf);
	m = dt_parse(buf, n);
	assert_non_null(m);
	assert_int_equal(m->id, 0x99);
	assert_int_equal(dt_rcode(m), DNSW_R_SERVFAIL);
	assert_int_equal(m->qd, 1);
	assert_string_equal(m->qname, "Example.COM.");
	assert_true(m->has_opt);
	assert_int_equal(m->opt_ttl, DNSW_EDNS_DO);
	assert_true(m->flags & DNSW_F_RD);
	free(m);
}

/* ---- test_dnsq_ent.c ---- */
/* test_dnsq_ent.c -- empty non-terminals (issue 9, item 15): a name of the cluster zone with a
 * name below it exists, so it answers NODATA for every type; NXDOMAIN, which RFC 8020 resolvers
 * take for "nothing below", is kept for names with nothing below. */

/* The types asked at every name: those the zone holds, one it never does, and ANY. */
static const uint16_t qtypes[] = {DNSW_T_A,   DNSW_T_AAAA, DNSW_T_SRV, DNSW_T_PTR, DNSW_T_CNAME,
                                  DNSW_T_TXT, DNSW_T_SOA,  DNSW_T_NS,  DNSW_T_MX,  DNSW_T_ANY};

/* Z's answer to NAME/QTYPE over UDP: a reply that parses, authoritative. */
static struct dt_msg *
ent_ask(const struct dnsz *z, const char *name, uint16_t qtype)
{
	uint8_t in[512];
	size_t len = dt_query(in, 9, DNSW_F_RD, name, qtype, DNSW_C_IN, -1, 0);
	struct dnsq_query eq;
	struct dnsq_result eres;
	struct dt_msg *m;

	dnsq_answer(z, in, len, DNSQ_UDP, out, &eq, &eres);
	if (eres.action != DNSQ_REPLY)
		fail_msg("%s/%u: action %d, want REPLY", name, qtype, eres.action);
	m = dt_parse(out, eres.len);
	assert_non_null(m);
	assert_true(m->flags & DNSW_F_AA);
	return m;
}

/* NAME answers RCODE with no records but the zone's SOA in authority, for every type. */
static void
expect_empty(const struct dnsz *z, const char *name, unsigned rcode)
{
	for (size_t t = 0; t < sizeof(qtypes) / sizeof(qtypes[0]); t++) {
		struct dt_msg *m = ent_ask(z, name, qtypes[t]);

		if (dt_rcode(m) != rcode || m->an != 0)
			fail_msg("%s/%u: rcode %u with %u answers, want rcode %u and none", name,
			         qtypes[t], dt_rcode(m), m->an, rcode);
		assert_int_equal(m->ns, 1);
		assert_int_equal(m->ar, 0);
		assert_non_null(dt_find(m, DT_NS, DNSW_T_SOA, NULL));
		assert_string_equal(m->rr[0].owner, "cluster.local.");
		free(m);
	}
}

static void
test_proto_labels(void **state)
{
	(void)state;
	/* _http._tcp.svc1 exists: _tcp.svc1 is an empty non-terminal. */
	expect_empty(dt_zone, "_tcp.svc1.testns.svc.cluster.local", DNSW_R_NOERROR);
	expect_empty(dt_zone, "_TCP.Svc1.testns.svc.cluster.local", DNSW_R_NOERROR);
	/* kube-dns has dns/UDP and dns-tcp/TCP. */
	expect_empty(dt_zone, "_udp.kube-dns.kube-system.svc.cluster.local", DNSW_R_NOERROR);
	expect_empty(dt_zone, "_tcp.kube-dns.kube-system.svc.cluster.local", DNSW_R_NOERROR);
	/* Headless services too. */
	expect_empty(dt_zone, "_tcp.hdls1.testns.svc.cluster.local", DNSW_R_NOERROR);
	expect_empty(dt_zone, "_tcp.svc2.testns.svc.cluster.local", DNSW_R_NOERROR);
	/* Nothing below: NXDOMAIN stays. */
	expect_empty(dt_zone, "_udp.svc1.testns.svc.cluster.local", DNSW_R_NXDOMAIN);
	expect_empty(dt_zone, "_sctp.svc1.testns.svc.cluster.local", DNSW_R_NXDOMAIN);
	expect_empty(dt_zone, "_sctp.kube-dns.kube-system.svc.cluster.local", DNSW_R_NXDOMAIN);
	/* svc3's only port has no name, so no _port._tcp name either. */
	expect_empty(dt_zone, "_tcp.svc3.testns.svc.cluster.local", DNSW_R_NXDOMAIN);
	expect_empty(dt_zone, "_https._tcp.svc1.testns.svc.cluster.local", DNSW_R_NXDOMAIN);
	expect_empty(dt_zone, "x._tcp.svc1.testns.svc.cluster.local", DNSW_R_NXDOMAIN);
	/* The headless service without ready endpoints has no names at all. */
	expect_empty(dt_zone, "_tcp.unready.testns.svc.cluster.local", DNSW_R_NXDOMAIN);
}

/* The names the zone makes for itself: svc, pod, namespaces, dns.<zone> above ns.dns.<zone>. */
/* ---- the server-side search path (autopath) ---- */

/* Every name of the LEN bytes of OUT reads with the server's own strict reader: compression
 * pointers only backwards, none into the header. */
static void
check_strict(const uint8_t *msg, size_t len)
{
	struct dnsw_rd rd;
	uint16_t counts[4];

	dnsw_rd_init(&rd, msg, len);
	assert_true(dnsw_rd_skip(&rd, 4));
	for (int i = 0; i < 4; i++)
		assert_true(dnsw_rd_u16(&rd, &counts[i]));
	assert_int_equal(dnsw_rd_name(&rd, true, NULL, NULL), SVC_OK);
	assert_true(dnsw_rd_skip(&rd, 4));
	for (unsigned i = 0; i < (unsigned)counts[1] + counts[2] + counts[3]; i++) {
		struct dnsw_rr rr;
		struct dnsw_rd data;
		size_t n;

		assert_int_equal(dnsw_rd_rr(&rd, &rr), SVC_OK);
		dnsw_rd_init(&data, msg, rr.end);
		data.off = rr.rdata_off;
		switch (rr.type) {
		case DNSW_T_SRV:
			assert_true(dnsw_rd_skip(&data, 6));
			/* fall through */
		case DNSW_T_CNAME:
		case DNSW_T_PTR:
		case DNSW_T_NS:
			assert_int_equal(dnsw_rd_name(&data, true, NULL, &n), SVC_OK);
			assert_int_equal(data.off, rr.end);
			break;
		default:
			break;
		}
	}
	assert_int_equal(rd.off, len);
}

#define POD_TESTNS "10.244.0.5" /* web-0, a pod of testns */

/* Ask dt_zone for NAME/QTYPE from CLIENT with autopath, over UDP with EDNS. */
static struct dt_msg *
ask_from(const char *client, const char *name, uint16_t qtype, enum dnsq_action want)
{
	uint8_t in[1024];
	size_t len = dt_query(in, ID, DNSW_F_RD, name, qtype, DNSW_C_IN, 1232, 0);
	struct netaddr c;
	struct dt_msg *m;

	assert_int_equal(netaddr_parse(&c, client), SVC_OK);
	memset(out, 0xee, 64);
	dnsq_answer_from(dt_zone, in, len, DNSQ_UDP, &c, out, &q, &res);
	if (res.action != want)
		fail_msg("%s/%u from %s: action %d, want %d", name, qtype, client, res.action,
		         want);
	m = dt_parse(out, res.len);
	assert_non_null(m);
	if (want == DNSQ_REPLY)
		assert_int_equal(m->trailing, 0);
	check_strict(out, res.len);
	assert_int_equal(m->id, ID);
	assert_true(m->flags & DNSW_F_AA);
	return m;
}

/* An answer through the search path: a CNAME from QNAME to TARGET first. */
static struct dt_msg *
expect_search(const char *qname, uint16_t qtype, const char *target, size_t an)
{
	struct dt_msg *m = ask_from(POD_TESTNS, qname, qtype, DNSQ_REPLY);
	char owner[300], data[300];

	if (dt_rcode(m) != DNSW_R_NOERROR || m->an != an)
		fail_msg("%s/%u: rcode %u an %u, want NOERROR with %zu", qname, qtype, dt_rcode(m),
		         m->an, an);
	assert_int_equal(res.autopath, DNSQ_AUTOPATH_CLUSTER);
	snprintf(owner, sizeof(owner), "%s.", qname);
	snprintf(data, sizeof(data), "%s.", target);
	assert_int_equal(m->rr[0].type, DNSW_T_CNAME);
	assert_string_equal(m->rr[0].owner, owner);
	/* The target may point into the question, which keeps the client's spelling. */
	assert_true(strcasecmp(m->rr[0].data, data) == 0);
	assert_int_equal(m->rr[0].ttl, TTL);
	/* The target's own records (after a CNAME of its own, its target's). */
	for (size_t i = 1; i < m->an && m->rr[1].type != DNSW_T_CNAME; i++)
		assert_true(strcasecmp(m->rr[i].owner, data) == 0);
	return m;
}

static void
test_autopath_cluster(void **state)
{
	struct dt_msg *m;

	(void)state;
	/* "svc1.testns" from a testns pod with ndots:5: its first search name misses, the
	 * second is the service (dns-anchors.md table case 68). */
	m = expect_search("svc1.testns.testns.svc.cluster.local", DNSW_T_A,
	                  "svc1.testns.svc.cluster.local", 2);
	assert_int_equal(m->rr[1].type, DNSW_T_A);
	assert_string_equal(m->rr[1].data, "10.96.1.1");
	assert_int_equal(m->ns, 0);
	free(m);
	/* The client's spelling of the question is kept. */
	m = expect_search("SVC1.TestNS.testns.SVC.cluster.local", DNSW_T_A,
	                  "svc1.testns.svc.cluster.local", 2);
	assert_string_equal(m->rr[0].owner, "SVC1.TestNS.testns.SVC.cluster.local.");
	free(m);
	/* NODATA at the name found: the CNAME, and the zone's SOA. */
	m = expect_search("svc1.testns.testns.svc.cluster.local", DNSW_T_AAAA,
	                  "svc1.testns.svc.cluster.local", 1);
	check_neg_soa(m, "svc1.testns.testns.svc.cluster.local", ZONE, TTL);
	free(m);
	/* SRV: the target and its additional A, their names written anew. */
	m = expect_search("_http._tcp.svc1.testns.testns.svc.cluster.local", DNSW_T_SRV,
	                  "_http._tcp.svc1.testns.svc.cluster.local", 2);
	assert_string_equal(m->rr[1].data, "0 100 80 svc1.testns.svc.cluster.local.");
	assert_int_equal(m->ar, 1 + m->has_opt);
	assert_string_equal(m->rr[2].owner, "svc1.testns.svc.cluster.local.");
	assert_string_equal(m->rr[2].data, "10.96.1.1");
	free(m);
	/* Headless: every ready address. */
	m = expect_search("hdls1.testns.testns.svc.cluster.local", DNSW_T_A,
	                  "hdls1.testns.svc.cluster.local", 5);
	assert_non_null(dt_find(m, DT_AN, DNSW_T_A, "172.0.0.2"));
	assert_non_null(dt_find(m, DT_AN, DNSW_T_A, "172.0.0.5"));
	assert_null(dt_find(m, DT_AN, DNSW_T_A, "172.0.0.9"));
	free(m);
	/* <name>.<zone>: a pod name (made when asked). */
	m = expect_search("10-244-0-6.testns.pod.testns.svc.cluster.local", DNSW_T_A,
	                  "10-244-0-6.testns.pod.cluster.local", 2);
	assert_string_equal(m->rr[1].data, "10.244.0.6");
	free(m);
	/* A fully qualified name written without its dot: the bare name is the zone's. */
	m = expect_search("svc1.testns.svc.cluster.local.testns.svc.cluster.local", DNSW_T_A,
	                  "svc1.testns.svc.cluster.local", 2);
	free(m);
	/* A reverse name, made when asked, and an in-zone ExternalName's CNAME. */
	m = expect_search("1.1.96.10.in-addr.arpa.testns.svc.cluster.local", DNSW_T_PTR,
	                  "1.1.96.10.in-addr.arpa", 2);
	assert_string_equal(m->rr[1].data, "svc1.testns.svc.cluster.local.");
	free(m);
	m = expect_search("external-to-service.testns.testns.svc.cluster.local", DNSW_T_A,
	                  "external-to-service.testns.svc.cluster.local", 3);
	assert_int_equal(m->rr[1].type, DNSW_T_CNAME);
	assert_string_equal(m->rr[1].owner, "external-to-service.testns.svc.cluster.local.");
	assert_string_equal(m->rr[1].data, "svc1.testns.svc.cluster.local.");
	assert_string_equal(m->rr[2].owner, "svc1.testns.svc.cluster.local.");
	assert_string_equal(m->rr[2].data, "10.96.1.1");
	free(m);
}

static void
test_autopath_upstream(void **state)
{
	struct dt_msg *m;
	uint8_t want[DNSW_NAME_MAX];
	size_t wlen;

	(void)state;
	/* A name outside the cluster: a CNAME to the bare name, which is asked upstream. */
	for (int i = 0; i < 2; i++) {
		uint16_t t = i ? DNSW_T_AAAA : DNSW_T_A;

		m = ask_from(POD_TESTNS, "www.example.org.testns.svc.cluster.local", t, DNSQ_CHASE);
		assert_int_equal(res.autopath, DNSQ_AUTOPATH_UPSTREAM);
		assert_int_equal(m->an, 1);
		assert_string_equal(m->rr[0].owner, "www.example.org.testns.svc.cluster.local.");
		assert_string_equal(m->rr[0].data, "www.example.org.");
		assert_int_equal(dnsw_name_from_str("www.example.org", want, &wlen), SVC_OK);
		assert_int_equal(q.chase_len, wlen);
		assert_memory_equal(q.chase, want, wlen);
		free(m);
	}
	/* An ExternalName found on the way: both CNAMEs, then its target upstream. */
	m = ask_from(POD_TESTNS, "external.testns.testns.svc.cluster.local", DNSW_T_A, DNSQ_CHASE);
	assert_int_equal(m->an, 2);
	assert_string_equal(m->rr[0].data, "external.testns.svc.cluster.local.");
	assert_string_equal(m->rr[1].owner, "external.testns.svc.cluster.local.");
	assert_string_equal(m->rr[1].data, "ext.interwebs.test.");
	assert_int_equal(dnsw_name_from_str("ext.interwebs.test", want, &wlen), SVC_OK);
	assert_int_equal(q.chase_len, wlen);
	assert_memory_equal(q.chase, want, wlen);
	free(m);
}

/* The plain answer: NXDOMAIN with the zone's SOA, no CNAME. */
static void
expect_plain_nx(const char *client, const char *name, uint16_t qtype)
{
	struct dt_msg *m = ask_from(client, name, qtype, DNSQ_REPLY);

	if (dt_rcode(m) != DNSW_R_NXDOMAIN || m->an != 0)
		fail_msg("%s/%u from %s: rcode %u an %u, want NXDOMAIN", name, qtype, client,
		         dt_rcode(m), m->an);
	assert_int_equal(res.autopath, DNSQ_AUTOPATH_NONE);
	check_neg_soa(m, name, ZONE, TTL);
	free(m);
}

static void
test_autopath_plain(void **state)
{
	struct dt_msg *m;

	(void)state;
	/* A client that is no pod; a pod of another namespace than the search name's. */
	expect_plain_nx("10.1.2.3", "svc1.testns.testns.svc.cluster.local", DNSW_T_A);
	expect_plain_nx("172.0.0.1", "svc1.testns.testns.svc.cluster.local", DNSW_T_A);
	expect_plain_nx(POD_TESTNS, "svc1.testns.podns.svc.cluster.local", DNSW_T_A);
	/* No name of the path exists, and the bare name is the zone's: NXDOMAIN. */
	expect_plain_nx(POD_TESTNS, "nosuch.testns.svc.cluster.local.testns.svc.cluster.local",
	                DNSW_T_A);
	/* The bare name outside the zone, for a type other than A or AAAA. */
	expect_plain_nx(POD_TESTNS, "example.org.testns.svc.cluster.local", DNSW_T_MX);
	/* A reverse name of the service range that no service holds. */
	expect_plain_nx(POD_TESTNS, "9.9.96.10.in-addr.arpa.testns.svc.cluster.local", DNSW_T_PTR);
	/* The search domain itself has no label before it. */
	m = ask_from(POD_TESTNS, "testns.svc.cluster.local", DNSW_T_A, DNSQ_REPLY);
	assert_int_equal(res.autopath, DNSQ_AUTOPATH_NONE);
	free(m);
	/* A name that exists is answered as it is. */
	m = ask_from(POD_TESTNS, "svc1.testns.svc.cluster.local", DNSW_T_A, DNSQ_REPLY);
	assert_int_equal(res.autopath, DNSQ_AUTOPATH_NONE);
	assert_int_equal(m->an, 1);
	assert_string_equal(m->rr[0].data, "10.96.1.1");
	free(m);
	/* Without a client, dnsq_answer: no search path. */
	m = ask("svc1.testns.testns.svc.cluster.local", DNSW_T_A);
	assert_int_equal(dt_rcode(m), DNSW_R_NXDOMAIN);
	free(m);
}

/* A client that takes little gets what fits, cut at a record, with TC. */
static void
test_autopath_truncated(void **state)
{
	char yaml[8192];
	size_t n = 0;
	struct cluster *c = NULL;
	struct dnsz *z;
	uint8_t in[1024];
	size_t len;
	struct netaddr client;
	struct dt_msg *m;

	(void)state;
	n += (size_t)snprintf(
	        yaml + n, sizeof(yaml) - n,
	        "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: ns}\n"
	        "spec: {clusterIP: None}\n---\napiVersion: v1\nkind: Endpoints\n"
	        "metadata: {name: big, namespace: ns}\nsubsets:\n- addresses:\n");
	for (int i = 1; i <= 60; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "  - {ip: 10.244.1.%d}\n", i);
	snprintf(yaml + n, sizeof(yaml) - n,
	         "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\n"
	         "spec: {containers: [{name: c, image: i}]}\nstatus: {podIP: 10.244.0.7}\n");
	z = dt_build_zone(yaml, DT_ZONE, DT_TTL, &c);
	assert_int_equal(netaddr_parse(&client, "10.244.0.7"), SVC_OK);
	for (int tr = 0; tr < 2; tr++) {
		len = dt_query(in, ID, DNSW_F_RD, "big.ns.ns.svc.cluster.local", DNSW_T_A,
		               DNSW_C_IN, -1, 0);
		dnsq_answer_from(z, in, len, tr ? DNSQ_TCP : DNSQ_UDP, &client, out, &q, &res);
		assert_int_equal(res.action, DNSQ_REPLY);
		assert_int_equal(res.autopath, DNSQ_AUTOPATH_CLUSTER);
		check_strict(out, res.len);
		m = dt_parse(out, res.len);
		assert_non_null(m);
		assert_int_equal(m->trailing, 0);
		assert_string_equal(m->rr[0].data, "big.ns.svc.cluster.local.");
		if (tr == 0) {
			/* UDP without EDNS: 512 bytes, cut at a record, TC. */
			assert_true(res.len <= DNSQ_UDP_PLAIN);
			assert_true(res.truncated);
			assert_true(m->flags & DNSW_F_TC);
			assert_true(m->an > 10 && m->an < 61);
		} else {
			assert_false(m->flags & DNSW_F_TC);
			assert_int_equal(m->an, 61);
		}
		free(m);
	}
	/* A bare name so long that the CNAME to it does not fit 512 bytes: TC, nothing else,
	 * not a CNAME over the limit (found by fuzz_query). */
	{
		char name[300];
		size_t nlen = 0;

		for (int i = 0; i < 3; i++)
			nlen += (size_t)snprintf(
			        name + nlen, sizeof(name) - nlen, "%.63s.",
			        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"
			        "lmnopqrstuvwxyz");
		snprintf(name + nlen, sizeof(name) - nlen, "%.38s.ns.svc.cluster.local",
		         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
		len = dt_query(in, ID, DNSW_F_RD, name, DNSW_T_A, DNSW_C_IN, -1, 0);
		dnsq_answer_from(z, in, len, DNSQ_UDP, &client, out, &q, &res);
		assert_int_equal(res.action, DNSQ_REPLY);
		assert_true(res.truncated);
		assert_true(res.len <= DNSQ_UDP_PLAIN);
		m = dt_parse(out, res.len);
		assert_non_null(m);
		assert_int_equal(m->an, 0);
		assert_true(m->flags & DNSW_F_TC);
		free(m);
		/* Over TCP it fits, and goes upstream. */
		dnsq_answer_from(z, in, len, DNSQ_TCP, &client, out, &q, &res);
		assert_int_equal(res.action, DNSQ_CHASE);
		assert_int_equal(res.autopath, DNSQ_AUTOPATH_UPSTREAM);
	}
	dnsz_unref(z);
	cluster_unref(c);
}

static void
test_zone_structure(void **state)
{
	struct cluster *c;
	struct dnsz *z = dt_build_zone("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
	                               DT_ZONE, DT_TTL, &c);

	(void)state;
	expect_empty(dt_zone, "svc.cluster.local", DNSW_R_NOERROR);
	expect_empty(dt_zone, "pod.cluster.local", DNSW_R_NOERROR);
	expect_empty(dt_zone, "testns.svc.cluster.local", DNSW_R_NOERROR);
	expect_empty(dt_zone, "testns.pod.cluster.local", DNSW_R_NOERROR);
	/* With kube-dns the NS is its service name: no ns.dns.<zone>, no dns.<zone>. */
	expect_empty(dt_zone, "dns.cluster.local", DNSW_R_NXDOMAIN);
	expect_empty(z, "dns.cluster.local", DNSW_R_NOERROR);
	expect_empty(z, "a.svc.cluster.local", DNSW_R_NOERROR);
	dnsz_unref(z);
	cluster_unref(c);
}

/* Every name in the cluster zone has its parent in the zone, up to the apex: no name hangs
 * below an NXDOMAIN. (Reverse names are not the zone's: the names above them are forwarded, as
 * kubeadm's fallthrough does.) */
struct parents {
	const struct dnsz *z;
	size_t checked;
};

static void
check_parents_of(void *arg, const struct dnsz_node *n)
{
	struct parents *pc = arg;
	const struct dnsz *z = pc->z;
	char text[1024];
	size_t pos = 0;

	if (n->flags & DNSZ_NODE_REVERSE)
		return;
	assert_true(n->name_len >= z->apex_len);
	while (n->name_len - pos > z->apex_len) {
		const uint8_t *parent;
		size_t plen;

		pos += 1 + (size_t)dnsz_node_name(n)[pos];
		parent = dnsz_node_name(n) + pos;
		plen = n->name_len - pos;
		if (dnsz_find(z, parent, plen, dnsw_name_hash(parent, plen)) == NULL) {
			dnsw_name_to_str(parent, plen, text, sizeof(text));
			fail_msg("%s is not in the zone, a name below it is", text);
		}
	}
	pc->checked++;
}

static size_t
check_parents(const struct dnsz *z)
{
	struct parents pc = {z, 0};

	dnsz_each_node(z, check_parents_of, &pc);
	return pc.checked;
}

static void
test_every_parent_exists(void **state)
{
	struct cluster *c;
	struct dnsz *z = dt_build_zone("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
	                               DT_ZONE, DT_TTL, &c);

	(void)state;
	assert_true(check_parents(dt_zone) > 30);
	assert_true(check_parents(z) >= 8);
	dnsz_unref(z);
	cluster_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_clusterip_a),
	        cmocka_unit_test(test_clusterip_v6_and_dual),
	        cmocka_unit_test(test_clusterip_srv),
	        cmocka_unit_test(test_headless),
	        cmocka_unit_test(test_headless_srv),
	        cmocka_unit_test(test_endpoint_names),
	        cmocka_unit_test(test_external_name),
	        cmocka_unit_test(test_pods),
	        cmocka_unit_test(test_ptr),
	        cmocka_unit_test(test_apex),
	        cmocka_unit_test(test_apex_without_kube_dns),
	        cmocka_unit_test(test_negative),
	        cmocka_unit_test(test_negative_ttl_cap),
	        cmocka_unit_test(test_case),
	        cmocka_unit_test(test_outside_zone),
	        cmocka_unit_test(test_placeholder),
	        cmocka_unit_test(test_formerr_counts),
	        cmocka_unit_test(test_formerr_names),
	        cmocka_unit_test(test_drop_notimp_refused),
	        cmocka_unit_test(test_edns),
	        cmocka_unit_test(test_bad_opt),
	        cmocka_unit_test(test_flags_echo),
	        cmocka_unit_test(test_sizes),
	        cmocka_unit_test(test_dnsq_error),
	        cmocka_unit_test(test_proto_labels),
	        cmocka_unit_test(test_zone_structure),
	        cmocka_unit_test(test_autopath_cluster),
	        cmocka_unit_test(test_autopath_upstream),
	        cmocka_unit_test(test_autopath_plain),
	        cmocka_unit_test(test_autopath_truncated),
	        cmocka_unit_test(test_every_parent_exists),
	};

	return cmocka_run_group_tests(tests, dt_setup, dt_teardown);
}
