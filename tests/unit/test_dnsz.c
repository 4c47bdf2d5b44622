/* test_dnsz.c -- building a zone: which names exist, with which answers, and how they are laid
 * out (rec_end, counts, compression against the question). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "dnsz.h"
#include "dnstu.h"

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
	assert_non_null(n->rr[DNSZ_SOA]);
	assert_non_null(n->rr[DNSZ_NS]);
	assert_null(n->rr[DNSZ_A]);
	n = find("svc1.testns.svc.cluster.local");
	assert_non_null(n);
	assert_non_null(n->rr[DNSZ_A]);
	assert_null(n->rr[DNSZ_AAAA]);
	assert_non_null(n->rr[DNSZ_SRV]);
	assert_null(n->rr[DNSZ_CNAME]);
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
	assert_non_null(n->rr[DNSZ_CNAME]);
	assert_null(n->rr[DNSZ_A]);
	assert_int_equal(n->chase_len, 20);
	assert_memory_equal(n->chase, "\3ext\11interwebs\4test", 20);
	n = find("external-to-service.testns.svc.cluster.local");
	assert_non_null(n);
	assert_false(n->flags & DNSZ_NODE_CHASE);
	assert_non_null(n->rr[DNSZ_A]);
	assert_int_equal(n->rr[DNSZ_A]->an, 2);
	/* Reverse names. */
	n = find("1.1.96.10.in-addr.arpa");
	assert_non_null(n);
	assert_true(n->flags & DNSZ_NODE_REVERSE);
	assert_int_equal(n->apex_len, 14);
	assert_non_null(n->rr[DNSZ_PTR]);
	assert_int_equal(n->rr[DNSZ_PTR]->an, 1);
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
		assert_true(a->rec_end[i] > prev);
		prev = a->rec_end[i];
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
	memcpy(msg + o, n->name, n->name_len);
	o += n->name_len;
	memcpy(msg + o, "\0\1\0\1", 4);
	o += 4;
	memcpy(msg + o, a->wire, a->len);
	m = dt_parse(msg, o + a->len);
	assert_non_null(m);
	assert_int_equal(m->trailing, 0);
	/* Compression points only backwards into what is there: the question or earlier records. */
	free(m);
}

static void
test_answers_well_formed(void **state)
{
	struct htab_iter it;
	size_t nodes = 0;

	(void)state;
	for (struct htab_node *hn = htab_first(&it, &dt_zone->nodes); hn != NULL;
	     hn = htab_iter_next(&it)) {
		const struct dnsz_node *n = htab_item(hn, const struct dnsz_node, hn);

		nodes++;
		assert_int_equal(hn->hash, dnsw_name_hash(n->name, n->name_len));
		assert_true(dnsz_find(dt_zone, n->name, n->name_len, hn->hash) == n);
		for (int t = 0; t < DNSZ_NTYPES; t++) {
			if (n->rr[t] != NULL)
				check_answer(n, n->rr[t]);
		}
	}
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
	assert_non_null(n->rr[DNSZ_PTR]);
	assert_memory_equal(n->rr[DNSZ_PTR]->wire + 12, "\4svc1\6testns\3svc\3k8s\7example", 29);
	dnsz_unref(z);
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
	};

	return cmocka_run_group_tests(tests, dt_setup, dt_teardown);
}
