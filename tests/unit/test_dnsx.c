/* test_dnsx.c -- zone transfers: an AXFR holds the zone's SOA first and last and, between, each
 * record of each name once, the same records the answer path gives when each name is asked
 * each type; large zones go in several messages, each well-formed; which queries are
 * transfers; the NOTIFY message; the cursor over a zone's names. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "dnsq.h"
#include "dnsx.h"
#include "dnsz.h"

#include "dnstu.h"

#define ID 0x5151

static uint8_t in[1024];
static uint8_t out[DNSQ_OUT_MAX];

/* A set of records as text lines "owner type ttl data". */
struct rrset {
	char **line;
	size_t n, cap;
};

static void
rrset_add(struct rrset *s, const struct dt_rr *r)
{
	char buf[1100];

	snprintf(buf, sizeof(buf), "%s %u %u %s", r->owner, r->type, r->ttl, r->data);
	for (char *p = buf; *p != '\0'; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->line = realloc(s->line, s->cap * sizeof(*s->line));
		assert_non_null(s->line);
	}
	s->line[s->n] = strdup(buf);
	assert_non_null(s->line[s->n]);
	s->n++;
}

static int
cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted; duplicates removed when UNIQUE, else counted as a failure. */
static size_t
rrset_sort(struct rrset *s, bool unique)
{
	size_t k = 0, dups = 0;

	qsort(s->line, s->n, sizeof(*s->line), cmp_line);
	for (size_t i = 0; i < s->n; i++) {
		if (k > 0 && strcmp(s->line[k - 1], s->line[i]) == 0) {
			if (!unique)
				fprintf(stderr, "duplicate: %s\n", s->line[i]);
			dups++;
			free(s->line[i]);
			continue;
		}
		s->line[k++] = s->line[i];
	}
	s->n = k;
	return dups;
}

static void
rrset_free(struct rrset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->line[i]);
	free(s->line);
	memset(s, 0, sizeof(*s));
}

struct walk {
	const struct dnsz *z;
	struct rrset *set;
};

/* The reference: NODE asked each type through dnsq_answer, its own records kept. */
static void
ask_node(void *arg, const struct dnsz_node *node)
{
	static const uint16_t types[] = {DNSW_T_NS,  DNSW_T_A,   DNSW_T_AAAA,
	                                 DNSW_T_SRV, DNSW_T_TXT, DNSW_T_CNAME};
	struct walk *w = arg;
	char name[DNSW_NAME_MAX * 4 + 2];
	struct dnsq_query q;
	struct dnsq_result res;

	if (node->flags & DNSZ_NODE_REVERSE)
		return;
	dnsw_name_to_str(dnsz_node_name(node), node->name_len, name, sizeof(name));
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		size_t len = dt_query(in, ID, 0, name, types[t], DNSW_C_IN, -1, 0);
		struct dt_msg *m;

		dnsq_answer(w->z, in, len, DNSQ_TCP, out, &q, &res);
		if (res.action == DNSQ_CHASE)
			dnsw_put16(out + 6, 1); /* the CNAME only: its target is not the zone's */
		else if (res.action != DNSQ_REPLY)
			continue;
		m = dt_parse(out, res.len);
		assert_non_null(m);
		for (size_t i = 0; i < m->an; i++) {
			if (strcasecmp(m->rr[i].owner, name) == 0)
				rrset_add(w->set, &m->rr[i]);
		}
		free(m);
	}
}

/* Transfer Z whole (AXFR over TCP); its records (the SOAs aside) into SET. Returns the
 * messages it took; *SOAS gets how many SOA records came, which must be first and last. */
static size_t
axfr(struct dnsz *z, struct rrset *set, size_t *soas)
{
	size_t len = dt_query(in, ID, 0, DT_ZONE, DNSW_T_AXFR, DNSW_C_IN, -1, 0), n, msgs = 0;
	struct dnsq_query q;
	struct dnsq_result res;
	struct dnsx *x;
	bool first = true;
	const struct dt_rr *last = NULL;
	struct dt_msg *prev = NULL;

	dnsq_answer(z, in, len, DNSQ_TCP, out, &q, &res);
	assert_int_equal(res.action, DNSQ_TRANSFER);
	assert_false(q.ixfr);
	assert_int_equal(dnsx_start(z, &q, in, &x), SVC_OK);
	*soas = 0;
	while ((n = dnsx_next(x, out)) > 0) {
		struct dt_msg *m = dt_parse(out, n);
		struct dnsw_rd rd;
		uint16_t counts[4];

		assert_non_null(m);
		assert_true(n <= DNSQ_OUT_MAX);
		assert_int_equal(m->trailing, 0);
		assert_int_equal(m->id, ID);
		assert_true(m->flags & DNSW_F_QR);
		assert_true(m->flags & DNSW_F_AA);
		assert_int_equal(m->qtype, DNSW_T_AXFR);
		assert_true(m->an > 0);
		/* The server's own reader takes every name: pointers only backwards. */
		dnsw_rd_init(&rd, out, n);
		assert_true(dnsw_rd_skip(&rd, 4));
		for (int i = 0; i < 4; i++)
			assert_true(dnsw_rd_u16(&rd, &counts[i]));
		assert_int_equal(dnsw_rd_name(&rd, true, NULL, NULL), SVC_OK);
		assert_true(dnsw_rd_skip(&rd, 4));
		for (unsigned i = 0; i < counts[1]; i++) {
			struct dnsw_rr rr;

			assert_int_equal(dnsw_rd_rr(&rd, &rr), SVC_OK);
		}
		for (size_t i = 0; i < m->an; i++) {
			const struct dt_rr *r = &m->rr[i];

			if (r->type == DNSW_T_SOA) {
				assert_true(first || (dnsx_next(x, out) == 0 && i + 1 == m->an));
				(*soas)++;
			} else {
				rrset_add(set, r);
			}
			first = false;
			last = r;
		}
		free(prev);
		prev = m;
		msgs++;
	}
	assert_non_null(last);
	assert_int_equal(last->type, DNSW_T_SOA);
	assert_int_equal(dnsx_records(x), set->n + 2);
	free(prev);
	dnsx_free(x);
	return msgs;
}

/* An AXFR of Z holds the same records as asking each name, each once. */
static void
check_axfr(struct dnsz *z, size_t min_msgs)
{
	struct rrset got = {0}, want = {0};
	struct walk w = {z, &want};
	size_t soas, msgs;

	msgs = axfr(z, &got, &soas);
	assert_int_equal(soas, 2);
	assert_true(msgs >= min_msgs);
	assert_int_equal(rrset_sort(&got, false), 0);
	dnsz_each_node(z, ask_node, &w);
	rrset_sort(&want, true);
	for (size_t i = 0, j = 0; i < got.n || j < want.n;) {
		int c = i == got.n ? 1 : j == want.n ? -1 : strcmp(got.line[i], want.line[j]);

		if (c != 0)
			fprintf(stderr, "%s: %s\n", c < 0 ? "only in the AXFR" : "only asked",
			        c < 0 ? got.line[i] : want.line[j]);
		assert_int_equal(c, 0);
		i++;
		j++;
	}
	assert_true(got.n > 0);
	rrset_free(&got);
	rrset_free(&want);
}

static void
test_axfr_fixture(void **state)
{
	(void)state;
	check_axfr(dt_zone, 1);
}

static void
test_axfr_large(void **state)
{
	size_t cap = 4 << 20, n = 0;
	char *yaml = malloc(cap);
	struct cluster *c = NULL;
	struct dnsz *z;

	(void)state;
	assert_non_null(yaml);
	for (int i = 0; i < 1500; i++)
		n += (size_t)snprintf(yaml + n, cap - n,
		                      "apiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: "
		                      "ns%d}\nspec:\n  clusterIP: 10.96.%d.%d\n  ports: [{name: http, "
		                      "port: 80}, {name: dns, port: 53, protocol: UDP}]\n---\n",
		                      i, i % 7, 1 + i / 250, 1 + i % 250);
	n += (size_t)snprintf(yaml + n, cap - n,
	                      "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: ns0}\n"
	                      "spec: {clusterIP: None}\n---\napiVersion: v1\nkind: Endpoints\n"
	                      "metadata: {name: big, namespace: ns0}\nsubsets:\n- addresses:\n");
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(yaml + n, cap - n, "  - {ip: 10.244.%d.%d, hostname: h%d}\n",
		                      i / 250, 1 + i % 250, i);
	z = dt_build_zone(yaml, DT_ZONE, DT_TTL, &c);
	/* Some 10,000 records: several messages. */
	check_axfr(z, 10);
	dnsz_unref(z);
	cluster_unref(c);
	free(yaml);
}

static void
expect_refused(const struct dnsz *z, const char *name, uint16_t type, enum dnsq_transport tr)
{
	size_t len = dt_query(in, ID, 0, name, type, DNSW_C_IN, -1, 0);
	struct dnsq_query q;
	struct dnsq_result res;

	dnsq_answer(z, in, len, tr, out, &q, &res);
	assert_int_equal(res.action, DNSQ_REPLY);
	assert_int_equal(res.rcode, DNSW_R_REFUSED);
}

/* An IXFR query: the question, and the client's SOA with SERIAL in authority. */
static size_t
ixfr_query(uint32_t serial)
{
	size_t len = dt_query(in, ID, 0, DT_ZONE, DNSW_T_IXFR, DNSW_C_IN, -1, 0);

	in[9] = 1; /* NSCOUNT */
	in[len++] = 0xc0;
	in[len++] = 12;
	dnsw_put16(in + len, DNSW_T_SOA);
	dnsw_put16(in + len + 2, DNSW_C_IN);
	dnsw_put32(in + len + 4, 0);
	len += 8;
	dnsw_put16(in + len, 2 + 2 + 20);
	len += 2;
	in[len++] = 0xc0; /* MNAME, RNAME: the zone */
	in[len++] = 12;
	in[len++] = 0xc0;
	in[len++] = 12;
	dnsw_put32(in + len, serial);
	memset(in + len + 4, 0, 16);
	return len + 20;
}

static void
test_which_queries(void **state)
{
	struct dnsq_query q;
	struct dnsq_result res;
	size_t len;

	(void)state;
	expect_refused(dt_zone, DT_ZONE, DNSW_T_AXFR, DNSQ_UDP);
	expect_refused(dt_zone, "svc.cluster.local", DNSW_T_AXFR, DNSQ_TCP);
	expect_refused(dt_zone, "example.org", DNSW_T_AXFR, DNSQ_TCP);
	/* IXFR without the client's SOA. */
	expect_refused(dt_zone, DT_ZONE, DNSW_T_IXFR, DNSQ_TCP);
	len = ixfr_query(4242);
	dnsq_answer(dt_zone, in, len, DNSQ_TCP, out, &q, &res);
	assert_int_equal(res.action, DNSQ_TRANSFER);
	assert_true(q.ixfr);
	assert_int_equal(q.xfr_serial, 4242);
	dnsq_answer(dt_zone, in, len - 1, DNSQ_TCP, out, &q, &res);
	assert_int_equal(res.action, DNSQ_REPLY);
	/* Case does not matter. */
	len = dt_query(in, ID, 0, "Cluster.LOCAL", DNSW_T_AXFR, DNSW_C_IN, 1232, 0);
	dnsq_answer(dt_zone, in, len, DNSQ_TCP, out, &q, &res);
	assert_int_equal(res.action, DNSQ_TRANSFER);
}

static void
test_notify(void **state)
{
	size_t n = dnsx_notify(dt_zone, 77, out);
	struct dt_msg *m = dt_parse(out, n);

	(void)state;
	assert_non_null(m);
	assert_int_equal(m->trailing, 0);
	assert_int_equal(m->id, 77);
	assert_int_equal((m->flags >> 11) & 0xf, 4);
	assert_true(m->flags & DNSW_F_AA);
	assert_false(m->flags & DNSW_F_QR);
	assert_string_equal(m->qname, "cluster.local.");
	assert_int_equal(m->qtype, DNSW_T_SOA);
	assert_int_equal(m->an, 1);
	assert_int_equal(m->rr[0].type, DNSW_T_SOA);
	assert_string_equal(m->rr[0].owner, "cluster.local.");
	free(m);
}

struct count {
	size_t n;
	const struct dnsz_node **seen;
};

static void
count_node(void *arg, const struct dnsz_node *node)
{
	struct count *c = arg;

	c->seen[c->n++] = node;
}

static int
cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (const void *const *)a, y = (uintptr_t) * (const void *const *)b;

	return x < y ? -1 : x > y;
}

static void
test_cursor(void **state)
{
	struct dnsz_cursor cur = {0};
	const struct dnsz_node *n;
	struct count a = {0}, b = {0};

	(void)state;
	a.seen = calloc(dt_zone->n_nodes + 1, sizeof(*a.seen));
	b.seen = calloc(dt_zone->n_nodes + 1, sizeof(*b.seen));
	dnsz_each_node(dt_zone, count_node, &a);
	while ((n = dnsz_next_node(dt_zone, &cur)) != NULL) {
		assert_true(b.n < dt_zone->n_nodes);
		b.seen[b.n++] = n;
	}
	assert_int_equal(dnsz_next_node(dt_zone, &cur), NULL);
	assert_int_equal(a.n, dt_zone->n_nodes);
	assert_int_equal(b.n, a.n);
	qsort(a.seen, a.n, sizeof(*a.seen), cmp_ptr);
	qsort(b.seen, b.n, sizeof(*b.seen), cmp_ptr);
	assert_memory_equal(a.seen, b.seen, a.n * sizeof(*a.seen));
	free(a.seen);
	free(b.seen);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cursor),
	        cmocka_unit_test(test_axfr_fixture),
	        cmocka_unit_test(test_axfr_large),
	        cmocka_unit_test(test_which_queries),
	        cmocka_unit_test(test_notify),
	};

	return cmocka_run_group_tests(tests, dt_setup, dt_teardown);
}
