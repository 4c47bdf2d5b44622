/* test_query.c -- svcdns's query layer, whatever the transport: the recursion ACL (REFUSED for
 * names outside the cluster, an ExternalName's CNAME only, the cache counts as recursion, pods of
 * the model allowed), response rate limiting (the rate, the slip's TC answer, exemptions, UDP
 * only), and the bound on the queue from the UDP workers to the main loop. */
#include "testutil.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "dnsz.h"
#include "query.h"

#include "dnstu.h"

static struct dnsd_server srv;
static uint8_t out[DNSQ_OUT_MAX];

static struct netaddr
addr(const char *text)
{
	struct netaddr a;

	assert_int_equal(netaddr_parse(&a, text), SVC_OK);
	return a;
}

/* A server around the shared fixture's zone: ACL CIDRS (comma-separated) and, when ACL_PODS, the
 * model's pods; RRL RATE (0: off) with slip 2; a cache. */
static void
server(const char *cidrs, bool acl_pods, uint32_t rate)
{
	char buf[256], *save = NULL;

	if (srv.zone != NULL) {
		dnsd_server_deinit(&srv);
		dnsc_destroy(srv.cache);
		rrl_destroy(srv.rrl);
	}
	memset(&srv, 0, sizeof(srv));
	srv.opts.domain = "cluster.local";
	srv.opts.ttl = 30;
	srv.opts.queue_max = 3;
	srv.opts.acl_pods = acl_pods;
	snprintf(buf, sizeof(buf), "%s", cidrs);
	for (char *c = strtok_r(buf, ",", &save); c != NULL; c = strtok_r(NULL, ",", &save))
		assert_int_equal(netaddr_prefix_parse(&srv.opts.acl[srv.opts.n_acl++], c), SVC_OK);
	assert_int_equal(dnsd_server_init(&srv), SVC_OK);
	dnsd_server_set_zone(&srv, dnsz_ref(dt_zone));
	assert_int_equal(dnsc_create(100, &srv.cache), SVC_OK);
	if (rate > 0)
		assert_int_equal(rrl_create(rate, 2, 1024, &srv.rrl), SVC_OK);
}

/* Ask NAME/QTYPE from CLIENT over TR; the verdict, and the answer parsed into *M (NULL unless
 * DNSD_SEND). */
static enum dnsd_verdict
ask(const char *client, const char *name, uint16_t qtype, enum dnsq_transport tr, struct dt_msg **m)
{
	uint8_t q[512];
	size_t len = dt_query(q, 0x4242, DNSW_F_RD, name, qtype, DNSW_C_IN, 1232, 0);
	struct netaddr c = addr(client);
	struct dnsd_query dq;
	struct dnsz *z = dnsd_server_zone(&srv);
	enum dnsd_verdict v = dnsd_query_process(&srv, &srv.metrics, z, tr, &c, q, len, out, &dq);

	dnsz_unref(z);
	*m = NULL;
	if (v == DNSD_SEND) {
		*m = dt_parse(out, dq.len);
		assert_non_null(*m);
		assert_int_equal((*m)->id, 0x4242);
	}
	return v;
}

static void
test_recursion_acl(void **state)
{
	struct dt_msg *m;

	(void)state;
	server("10.0.0.0/8,127.0.0.0/8", true, 0);
	/* Cluster names: anyone. */
	assert_int_equal(
	        ask("198.51.100.7", "svc1.testns.svc.cluster.local", DNSW_T_A, DNSQ_UDP, &m),
	        DNSD_SEND);
	assert_int_equal(dt_rcode(m), DNSW_R_NOERROR);
	assert_int_equal(m->an, 1);
	free(m);
	/* Names outside: REFUSED, with the question and an OPT, over either transport. */
	assert_int_equal(ask("198.51.100.7", "www.example.com", DNSW_T_A, DNSQ_UDP, &m), DNSD_SEND);
	assert_int_equal(dt_rcode(m), DNSW_R_REFUSED);
	assert_int_equal(m->an, 0);
	assert_string_equal(m->qname, "www.example.com.");
	assert_true(m->has_opt);
	free(m);
	assert_int_equal(ask("198.51.100.7", "www.example.com", DNSW_T_A, DNSQ_TCP, &m), DNSD_SEND);
	assert_int_equal(dt_rcode(m), DNSW_R_REFUSED);
	free(m);
	/* Reverse names not ours are forwarded for those allowed only. */
	assert_int_equal(ask("198.51.100.7", "1.2.0.192.in-addr.arpa", DNSW_T_PTR, DNSQ_UDP, &m),
	                 DNSD_SEND);
	assert_int_equal(dt_rcode(m), DNSW_R_REFUSED);
	free(m);
	/* An ExternalName pointing outside: its CNAME, not chased. */
	assert_int_equal(
	        ask("198.51.100.7", "external.testns.svc.cluster.local", DNSW_T_A, DNSQ_UDP, &m),
	        DNSD_SEND);
	assert_int_equal(dt_rcode(m), DNSW_R_NOERROR);
	assert_int_equal(m->an, 1);
	assert_non_null(dt_find(m, DT_AN, DNSW_T_CNAME, "ext.interwebs.test."));
	assert_true(m->has_opt);
	free(m);
	assert_int_equal(srv.metrics.drops[DNSD_DROP_RECURSION], 4);
	/* Allowed clients are passed on, the chase included. */
	assert_int_equal(ask("10.1.2.3", "www.example.com", DNSW_T_A, DNSQ_UDP, &m), DNSD_UPSTREAM);
	assert_int_equal(
	        ask("127.0.0.1", "external.testns.svc.cluster.local", DNSW_T_A, DNSQ_TCP, &m),
	        DNSD_UPSTREAM);
}

/* The model's pods are allowed by their address when ACL_PODS, and only then. */
static void
test_recursion_pods(void **state)
{
	struct dt_msg *m;

	(void)state;
	server("192.0.2.0/24", true, 0);
	assert_int_equal(ask("10.244.0.5", "www.example.com", DNSW_T_A, DNSQ_UDP, &m),
	                 DNSD_UPSTREAM);
	assert_int_equal(ask("10.244.9.9", "www.example.com", DNSW_T_A, DNSQ_UDP, &m), DNSD_SEND);
	assert_int_equal(dt_rcode(m), DNSW_R_REFUSED);
	free(m);
	server("192.0.2.0/24", false, 0);
	assert_int_equal(ask("10.244.0.5", "www.example.com", DNSW_T_A, DNSQ_UDP, &m), DNSD_SEND);
	assert_int_equal(dt_rcode(m), DNSW_R_REFUSED);
	free(m);
	assert_int_equal(ask("192.0.2.200", "www.example.com", DNSW_T_A, DNSQ_UDP, &m),
	                 DNSD_UPSTREAM);
}

/* A cached answer is recursion too: allowed clients get it at once, others REFUSED. */
static void
test_cache(void **state)
{
	uint8_t q[512], a[512];
	size_t len = dt_query(q, 1, DNSW_F_RD, "cached.example.com", DNSW_T_A, DNSW_C_IN, 1232, 0);
	struct dnsq_query dq;
	struct dnsq_result res;
	struct dnsr_msg *msg;
	struct dnsr_limits lim = {.max_ttl = 3600, .max_neg_ttl = 300};
	struct dt_msg *m;

	(void)state;
	server("10.0.0.0/8", false, 0);
	dnsq_answer(dt_zone, q, len, DNSQ_UDP, out, &dq, &res);
	assert_int_equal(res.action, DNSQ_FORWARD);
	/* The upstream's answer: the question (no OPT), one A record. */
	len = dt_query(a, 1, DNSW_F_RD, "cached.example.com", DNSW_T_A, DNSW_C_IN, -1, 0);
	a[2] = 0x81;
	a[3] = 0x80;
	a[7] = 1;
	memcpy(a + len, "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x09", 16);
	assert_int_equal(dnsr_parse(a, len + 16, &dq, &lim, &msg), SVC_OK);
	dnsc_insert(srv.cache, &dq, msg, now_s());
	assert_int_equal(ask("10.9.9.9", "cached.example.com", DNSW_T_A, DNSQ_UDP, &m), DNSD_SEND);
	assert_int_equal(dt_rcode(m), DNSW_R_NOERROR);
	assert_non_null(dt_find(m, DT_AN, DNSW_T_A, "192.0.2.9"));
	free(m);
	assert_int_equal(ask("203.0.113.9", "cached.example.com", DNSW_T_A, DNSQ_UDP, &m),
	                 DNSD_SEND);
	assert_int_equal(dt_rcode(m), DNSW_R_REFUSED);
	assert_int_equal(m->an, 0);
	free(m);
}

/* Rate 2, slip 2: two answers pass each second, then every other one is dropped and every
 * other one goes out truncated; clients allowed recursion and TCP are not limited. */
static void
test_rrl(void **state)
{
	static const enum dnsd_verdict want[8] = {DNSD_SEND,   DNSD_SEND, DNSD_SILENT, DNSD_SEND,
	                                          DNSD_SILENT, DNSD_SEND, DNSD_SILENT, DNSD_SEND};
	struct dt_msg *m;

	(void)state;
	server("10.0.0.0/8", false, 2);
	for (int i = 0; i < 8; i++) {
		enum dnsd_verdict v = ask("198.51.100.7", "svc1.testns.svc.cluster.local", DNSW_T_A,
		                          DNSQ_UDP, &m);

		assert_int_equal(v, want[i]);
		if (m != NULL) {
			bool slipped = i >= 2;

			assert_int_equal((m->flags & DNSW_F_TC) != 0, slipped);
			assert_int_equal(m->an, slipped ? 0 : 1);
			assert_string_equal(m->qname, "svc1.testns.svc.cluster.local.");
			free(m);
		}
	}
	assert_int_equal(srv.metrics.drops[DNSD_DROP_RRL], 3);
	assert_int_equal(srv.metrics.drops[DNSD_DROP_RRL_SLIP], 3);
	/* Over TCP, and from a client allowed recursion: answered every time. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(ask("198.51.100.7", "svc1.testns.svc.cluster.local", DNSW_T_A,
		                     DNSQ_TCP, &m),
		                 DNSD_SEND);
		assert_int_equal(m->an, 1);
		free(m);
		assert_int_equal(
		        ask("10.1.1.1", "svc1.testns.svc.cluster.local", DNSW_T_A, DNSQ_UDP, &m),
		        DNSD_SEND);
		assert_int_equal(m->an, 1);
		free(m);
	}
	/* Random names under the zone share one NXDOMAIN bucket (the zone's), so a flood of
	 * random names is limited like one name: two pass, then the limit. */
	for (int i = 0; i < 4; i++) {
		char name[64];
		enum dnsd_verdict v;

		snprintf(name, sizeof(name), "r%d.nosuch.svc.cluster.local", i);
		v = ask("198.51.100.7", name, DNSW_T_A, DNSQ_UDP, &m);
		assert_int_equal(v, want[i]);
		free(m);
	}
}

/* The queue from the workers to the main loop holds opts.queue_max requests; then it refuses. */
static void
test_queue_bound(void **state)
{
	struct event_base *base = event_base_new();
	struct dnsd_req *r[4], *list;
	struct dnsq_result res = {.action = DNSQ_FORWARD};
	struct dnsq_query q = {.query_len = DNSW_HEADER};
	uint8_t pkt[DNSW_HEADER] = {0};
	size_t n = 0;

	(void)state;
	server("10.0.0.0/8", false, 0);
	srv.q_ev = event_new(base, -1, EV_READ, NULL, NULL);
	for (int i = 0; i < 4; i++) {
		r[i] = dnsd_req_new(&q, &res, pkt, NULL, 0);
		assert_non_null(r[i]);
	}
	assert_true(dnsd_server_enqueue(&srv, r[0]));
	assert_true(dnsd_server_enqueue(&srv, r[1]));
	assert_true(dnsd_server_enqueue(&srv, r[2]));
	assert_false(dnsd_server_enqueue(&srv, r[3]));
	for (list = dnsd_server_dequeue(&srv); list != NULL; n++) {
		struct dnsd_req *next = list->next;

		dnsd_req_free(list);
		list = next;
	}
	assert_int_equal(n, 3);
	assert_true(dnsd_server_enqueue(&srv, r[3]));
	dnsd_req_free(dnsd_server_dequeue(&srv));
	event_free(srv.q_ev);
	srv.q_ev = NULL;
	event_base_free(base);
}

static int
teardown(void **state)
{
	if (srv.zone != NULL) {
		dnsd_server_deinit(&srv);
		dnsc_destroy(srv.cache);
		rrl_destroy(srv.rrl);
	}
	return dt_teardown(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_recursion_acl), cmocka_unit_test(test_recursion_pods),
	        cmocka_unit_test(test_cache),         cmocka_unit_test(test_rrl),
	        cmocka_unit_test(test_queue_bound),
	};

	return cmocka_run_group_tests(tests, dt_setup, teardown);
}
