/* test_dnsq_ent.c -- empty non-terminals (issue 9, item 15): a name of the cluster zone with a
 * name below it exists, so it answers NODATA for every type; NXDOMAIN, which RFC 8020 resolvers
 * take for "nothing below", is kept for names with nothing below. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "dnsq.h"
#include "dnsz.h"
#include "dnstu.h"

static uint8_t out[DNSQ_OUT_MAX];

/* The types asked at every name: those the zone holds, one it never does, and ANY. */
static const uint16_t qtypes[] = {DNSW_T_A,   DNSW_T_AAAA, DNSW_T_SRV, DNSW_T_PTR, DNSW_T_CNAME,
                                  DNSW_T_TXT, DNSW_T_SOA,  DNSW_T_NS,  DNSW_T_MX,  DNSW_T_ANY};

/* Z's answer to NAME/QTYPE over UDP: a reply that parses, authoritative. */
static struct dt_msg *
ask(const struct dnsz *z, const char *name, uint16_t qtype)
{
	uint8_t in[512];
	size_t len = dt_query(in, 9, DNSW_F_RD, name, qtype, DNSW_C_IN, -1, 0);
	struct dnsq_query q;
	struct dnsq_result res;
	struct dt_msg *m;

	dnsq_answer(z, in, len, DNSQ_UDP, out, &q, &res);
	if (res.action != DNSQ_REPLY)
		fail_msg("%s/%u: action %d, want REPLY", name, qtype, res.action);
	m = dt_parse(out, res.len);
	assert_non_null(m);
	assert_true(m->flags & DNSW_F_AA);
	return m;
}

/* NAME answers RCODE with no records but the zone's SOA in authority, for every type. */
static void
expect_empty(const struct dnsz *z, const char *name, unsigned rcode)
{
	for (size_t t = 0; t < sizeof(qtypes) / sizeof(qtypes[0]); t++) {
		struct dt_msg *m = ask(z, name, qtypes[t]);

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
static size_t
check_parents(const struct dnsz *z)
{
	struct htab_iter it;
	size_t checked = 0;

	for (struct htab_node *hn = htab_first(&it, &z->nodes); hn != NULL;
	     hn = htab_iter_next(&it)) {
		const struct dnsz_node *n = htab_item(hn, const struct dnsz_node, hn);
		char text[1024];
		size_t pos = 0;

		if (n->flags & DNSZ_NODE_REVERSE)
			continue;
		assert_true(n->name_len >= z->apex_len);
		while (n->name_len - pos > z->apex_len) {
			const uint8_t *parent;
			size_t plen;

			pos += 1 + (size_t)n->name[pos];
			parent = n->name + pos;
			plen = n->name_len - pos;
			if (dnsz_find(z, parent, plen, dnsw_name_hash(parent, plen)) == NULL) {
				dnsw_name_to_str(parent, plen, text, sizeof(text));
				fail_msg("%s is not in the zone, a name below it is", text);
			}
		}
		checked++;
	}
	return checked;
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
	        cmocka_unit_test(test_proto_labels),
	        cmocka_unit_test(test_zone_structure),
	        cmocka_unit_test(test_every_parent_exists),
	};

	return cmocka_run_group_tests(tests, dt_setup, dt_teardown);
}
