/* test_dnsr.c -- upstream answers: checked against the question, normalised (OPT stripped, cache
 * lifetime), rendered for the client (ID, spelling, age, size), ExternalName chase completion. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "dnsq.h"
#include "dnsr.h"
#include "dnsz.h"
#include "dnstu.h"

static const struct dnsr_limits lim = {.max_ttl = 3600, .max_neg_ttl = 1800};

/* A client's query, parsed by dnsq as the server does: PKT keeps its bytes. */
struct client {
	uint8_t pkt[512];
	size_t len;
	struct dnsq_query q;
	struct dnsq_result res;
	uint8_t out[DNSQ_OUT_MAX];
};

static struct client *
client(const char *name, uint16_t qtype, uint16_t id, enum dnsq_transport tr, int edns,
       enum dnsq_action want)
{
	struct client *c = calloc(1, sizeof(*c));

	c->len = dt_query(c->pkt, id, DNSW_F_RD, name, qtype, DNSW_C_IN, edns, 0);
	dnsq_answer(dt_zone, c->pkt, c->len, tr, c->out, &c->q, &c->res);
	assert_int_equal(c->res.action, want);
	return c;
}

/* An upstream message being written. */
struct up {
	uint8_t b[8192];
	size_t n;
};

static void
up_hdr(struct up *u, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	const uint16_t h[6] = {0xbeef, flags, qd, an, ns, ar};

	u->n = 0;
	for (int i = 0; i < 6; i++) {
		u->b[u->n++] = (uint8_t)(h[i] >> 8);
		u->b[u->n++] = (uint8_t)h[i];
	}
}

static void
up_u16(struct up *u, uint16_t v)
{
	u->b[u->n++] = (uint8_t)(v >> 8);
	u->b[u->n++] = (uint8_t)v;
}

static void
up_u32(struct up *u, uint32_t v)
{
	up_u16(u, (uint16_t)(v >> 16));
	up_u16(u, (uint16_t)v);
}

static void
up_name(struct up *u, const char *name)
{
	u->n += dt_wire_name(u->b + u->n, name);
}

static void
up_ptr(struct up *u, size_t off)
{
	up_u16(u, (uint16_t)(0xc000 | off));
}

static void
up_question(struct up *u, const char *name, uint16_t qtype)
{
	up_name(u, name);
	up_u16(u, qtype);
	up_u16(u, DNSW_C_IN);
}

/* Type, class, TTL and RDLENGTH of a record whose owner was just written. */
static size_t
up_rr(struct up *u, uint16_t type, uint32_t ttl)
{
	size_t at;

	up_u16(u, type);
	up_u16(u, DNSW_C_IN);
	up_u32(u, ttl);
	at = u->n;
	up_u16(u, 0);
	return at;
}

static void
up_end(struct up *u, size_t at)
{
	size_t n = u->n - at - 2;

	u->b[at] = (uint8_t)(n >> 8);
	u->b[at + 1] = (uint8_t)n;
}

static void
up_a(struct up *u, size_t owner, uint32_t ttl, uint8_t last)
{
	size_t at;

	up_ptr(u, owner);
	at = up_rr(u, DNSW_T_A, ttl);
	up_u32(u, 0xc0000200u | last);
	up_end(u, at);
}

static void
up_soa(struct up *u, size_t owner, uint32_t ttl, uint32_t minimum)
{
	size_t at;

	up_ptr(u, owner);
	at = up_rr(u, DNSW_T_SOA, ttl);
	up_name(u, "ns1.example.com");
	up_name(u, "admin.example.com");
	up_u32(u, 1);
	up_u32(u, 7200);
	up_u32(u, 900);
	up_u32(u, 86400);
	up_u32(u, minimum);
	up_end(u, at);
}

static void
up_opt(struct up *u, uint8_t ext)
{
	size_t at;

	u->b[u->n++] = 0;
	up_u16(u, DNSW_T_OPT);
	up_u16(u, 4096);
	up_u32(u, (uint32_t)ext << 24);
	at = u->n;
	up_u16(u, 0);
	up_end(u, at);
}

#define QR_RD_RA (DNSW_F_QR | DNSW_F_RD | DNSW_F_RA)

/* example.com A: two addresses, TTLs 300 and 100. */
static void
up_two_a(struct up *u)
{
	up_hdr(u, QR_RD_RA, 1, 2, 0, 0);
	up_question(u, "example.com", DNSW_T_A);
	up_a(u, 12, 300, 1);
	up_a(u, 12, 100, 2);
}

static void
test_parse_ok(void **state)
{
	struct client *c = client("example.com", DNSW_T_A, 1, DNSQ_UDP, -1, DNSQ_FORWARD);
	struct dnsr_limits small = {.max_ttl = 60, .max_neg_ttl = 60};
	struct dnsr_msg *m;
	struct up u;

	(void)state;
	up_two_a(&u);
	assert_int_equal(dnsr_parse(u.b, u.n, &c->q, &lim, &m), SVC_OK);
	assert_int_equal(m->an, 2);
	assert_int_equal(m->ns, 0);
	assert_int_equal(m->ar, 0);
	assert_int_equal(m->n_rec, 2);
	assert_int_equal(m->qend, 12 + 13 + 4);
	assert_int_equal(m->len, u.n);
	assert_int_equal(m->rec_end[1], u.n);
	assert_int_equal(m->types[0], DNSW_T_A);
	/* Cached for the smallest TTL. */
	assert_int_equal(m->cache_ttl, 100);
	free(m);
	assert_int_equal(dnsr_parse(u.b, u.n, &c->q, &small, &m), SVC_OK);
	assert_int_equal(m->cache_ttl, 60);
	free(m);
	/* Trailing bytes after the records are not kept. */
	u.b[u.n] = 0xaa;
	assert_int_equal(dnsr_parse(u.b, u.n + 1, &c->q, &lim, &m), SVC_OK);
	assert_int_equal(m->len, u.n);
	free(m);
	free(c);
}

static void
expect_reject(struct up *u, const struct dnsq_query *q)
{
	struct dnsr_msg *m = (struct dnsr_msg *)1;

	assert_int_equal(dnsr_parse(u->b, u->n, q, &lim, &m), SVC_EINVAL);
	assert_null(m);
}

static void
test_parse_rejects(void **state)
{
	struct client *c = client("example.com", DNSW_T_A, 1, DNSQ_UDP, -1, DNSQ_FORWARD);
	struct up u;
	struct dnsr_msg *m;

	(void)state;
	/* A query, not an answer. */
	up_two_a(&u);
	u.b[2] &= 0x7f;
	expect_reject(&u, &c->q);
	/* Another name, type or class. */
	up_hdr(&u, QR_RD_RA, 1, 0, 0, 0);
	up_question(&u, "example.org", DNSW_T_A);
	expect_reject(&u, &c->q);
	up_hdr(&u, QR_RD_RA, 1, 0, 0, 0);
	up_question(&u, "example.com", DNSW_T_AAAA);
	expect_reject(&u, &c->q);
	up_hdr(&u, QR_RD_RA, 1, 0, 0, 0);
	up_name(&u, "example.com");
	up_u16(&u, DNSW_T_A);
	up_u16(&u, DNSW_C_CH);
	expect_reject(&u, &c->q);
	/* The same question in other case is ours. */
	up_hdr(&u, QR_RD_RA, 1, 0, 0, 0);
	up_question(&u, "EXAMPLE.com", DNSW_T_A);
	assert_int_equal(dnsr_parse(u.b, u.n, &c->q, &lim, &m), SVC_OK);
	free(m);
	/* No question, two questions. */
	up_two_a(&u);
	u.b[5] = 0;
	expect_reject(&u, &c->q);
	u.b[5] = 2;
	expect_reject(&u, &c->q);
	/* A compressed question. */
	up_hdr(&u, QR_RD_RA, 1, 0, 0, 0);
	up_ptr(&u, 12);
	up_u16(&u, DNSW_T_A);
	up_u16(&u, DNSW_C_IN);
	expect_reject(&u, &c->q);
	/* More records announced than present; a record cut short; a short header. */
	up_two_a(&u);
	u.b[7] = 3;
	expect_reject(&u, &c->q);
	up_two_a(&u);
	u.n -= 2;
	expect_reject(&u, &c->q);
	up_two_a(&u);
	u.n = 11;
	expect_reject(&u, &c->q);
	/* An owner pointing into the header, which render rewrites (the fuzzer found it). */
	up_hdr(&u, QR_RD_RA, 1, 1, 0, 0);
	up_question(&u, "example.com", DNSW_T_A);
	up_a(&u, 5, 300, 1);
	expect_reject(&u, &c->q);
	/* An owner pointing at the last byte of another record's TTL (0: the root). Aging that TTL
	 * would change the name in the client's copy (the fuzzer found it). */
	up_hdr(&u, QR_RD_RA, 1, 2, 0, 0);
	up_question(&u, "example.com", DNSW_T_A);
	up_a(&u, 12, 0, 1);
	assert_int_equal(u.n, 29 + 16);
	up_a(&u, 29 + 2 + 4 + 3, 300, 2);
	expect_reject(&u, &c->q);
	/* More records than we keep. */
	up_two_a(&u);
	u.b[6] = 0xff;
	u.b[7] = 0xff;
	expect_reject(&u, &c->q);
	free(c);
}

static void
test_parse_opt(void **state)
{
	struct client *c = client("example.com", DNSW_T_A, 1, DNSQ_UDP, -1, DNSQ_FORWARD);
	struct up u;
	struct dnsr_msg *m;
	size_t before;

	(void)state;
	/* The upstream's OPT is stripped; its extended rcode kept; not cached. */
	up_hdr(&u, QR_RD_RA, 1, 1, 0, 1);
	up_question(&u, "example.com", DNSW_T_A);
	up_a(&u, 12, 300, 1);
	before = u.n;
	up_opt(&u, 0);
	assert_int_equal(dnsr_parse(u.b, u.n, &c->q, &lim, &m), SVC_OK);
	assert_int_equal(m->len, before);
	assert_int_equal(m->ar, 0);
	assert_int_equal(m->n_rec, 1);
	assert_int_equal(m->wire[10], 0);
	assert_int_equal(m->wire[11], 0);
	assert_int_equal(m->ext_rcode, 0);
	assert_int_equal(m->cache_ttl, 300);
	free(m);
	u.n = before;
	up_opt(&u, 1);
	assert_int_equal(dnsr_parse(u.b, u.n, &c->q, &lim, &m), SVC_OK);
	assert_int_equal(m->ext_rcode, 1);
	assert_int_equal(m->cache_ttl, 0);
	free(m);
	/* Two OPTs; an OPT before another additional record; an OPT as an answer. */
	up_hdr(&u, QR_RD_RA, 1, 1, 0, 2);
	up_question(&u, "example.com", DNSW_T_A);
	up_a(&u, 12, 300, 1);
	up_opt(&u, 0);
	up_opt(&u, 0);
	expect_reject(&u, &c->q);
	up_hdr(&u, QR_RD_RA, 1, 1, 0, 2);
	up_question(&u, "example.com", DNSW_T_A);
	up_a(&u, 12, 300, 1);
	up_opt(&u, 0);
	up_a(&u, 12, 300, 2);
	expect_reject(&u, &c->q);
	up_hdr(&u, QR_RD_RA, 1, 1, 0, 0);
	up_question(&u, "example.com", DNSW_T_A);
	up_opt(&u, 0);
	expect_reject(&u, &c->q);
	free(c);
}

static uint32_t
neg_ttl(uint16_t rcode, bool with_soa, uint32_t ttl, uint32_t minimum, const struct dnsr_limits *l)
{
	struct client *c = client("example.com", DNSW_T_A, 1, DNSQ_UDP, -1, DNSQ_FORWARD);
	struct up u;
	struct dnsr_msg *m;
	uint32_t got;

	up_hdr(&u, QR_RD_RA | rcode, 1, 0, with_soa ? 1 : 0, 0);
	up_question(&u, "example.com", DNSW_T_A);
	if (with_soa)
		up_soa(&u, 12 + 8, ttl, minimum); /* owner "com" inside the question */
	assert_int_equal(dnsr_parse(u.b, u.n, &c->q, l, &m), SVC_OK);
	got = m->cache_ttl;
	free(m);
	free(c);
	return got;
}

static void
test_cache_ttl(void **state)
{
	struct dnsr_limits small = {.max_ttl = 3600, .max_neg_ttl = 20};
	struct client *c = client("example.com", DNSW_T_A, 1, DNSQ_UDP, -1, DNSQ_FORWARD);
	struct up u;
	struct dnsr_msg *m;

	(void)state;
	/* RFC 2308 5: min(SOA TTL, SOA MINIMUM), capped; NXDOMAIN and NODATA alike. */
	assert_int_equal(neg_ttl(DNSW_R_NXDOMAIN, true, 900, 60, &lim), 60);
	assert_int_equal(neg_ttl(DNSW_R_NXDOMAIN, true, 30, 600, &lim), 30);
	assert_int_equal(neg_ttl(DNSW_R_NOERROR, true, 900, 120, &lim), 120);
	assert_int_equal(neg_ttl(DNSW_R_NXDOMAIN, true, 900, 600, &small), 20);
	/* Without an SOA a denial has no lifetime. */
	assert_int_equal(neg_ttl(DNSW_R_NXDOMAIN, false, 0, 0, &lim), 0);
	assert_int_equal(neg_ttl(DNSW_R_NOERROR, false, 0, 0, &lim), 0);
	/* Failures are not kept. */
	assert_int_equal(neg_ttl(DNSW_R_SERVFAIL, true, 900, 600, &lim), 0);
	assert_int_equal(neg_ttl(DNSW_R_REFUSED, true, 900, 600, &lim), 0);
	/* Nor truncated answers. */
	up_two_a(&u);
	u.b[2] |= DNSW_F_TC >> 8;
	assert_int_equal(dnsr_parse(u.b, u.n, &c->q, &lim, &m), SVC_OK);
	assert_int_equal(m->cache_ttl, 0);
	free(m);
	free(c);
}

static struct dt_msg *
render(const struct dnsr_msg *m, struct client *c, uint32_t age, uint8_t *out)
{
	size_t n = dnsr_render(m, &c->q, c->pkt, age, out);
	struct dt_msg *r = dt_parse(out, n);

	assert_non_null(r);
	assert_int_equal(r->trailing, 0);
	assert_true(n <= c->q.limit);
	return r;
}

static void
test_render(void **state)
{
	struct client *first = client("example.com", DNSW_T_A, 1, DNSQ_UDP, -1, DNSQ_FORWARD);
	struct client *c = client("ExAmPlE.CoM", DNSW_T_A, 0x7777, DNSQ_UDP, 1232, DNSQ_FORWARD);
	static uint8_t out[DNSQ_OUT_MAX];
	struct up u;
	struct dnsr_msg *m;
	struct dt_msg *r;

	(void)state;
	up_two_a(&u);
	u.b[2] |= DNSW_F_AA >> 8;
	assert_int_equal(dnsr_parse(u.b, u.n, &first->q, &lim, &m), SVC_OK);
	/* Another client's ID and spelling; its EDNS gets our OPT. */
	r = render(m, c, 0, out);
	assert_int_equal(r->id, 0x7777);
	assert_string_equal(r->qname, "ExAmPlE.CoM.");
	assert_true(r->flags & DNSW_F_QR);
	assert_true(r->flags & DNSW_F_RD);
	assert_true(r->flags & DNSW_F_RA);
	assert_true(r->flags & DNSW_F_AA);
	assert_false(r->flags & DNSW_F_TC);
	assert_int_equal(dt_rcode(r), 0);
	assert_int_equal(r->an, 2);
	assert_string_equal(r->rr[0].owner, "ExAmPlE.CoM.");
	assert_string_equal(r->rr[0].data, "192.0.2.1");
	assert_int_equal(r->rr[0].ttl, 300);
	assert_int_equal(r->rr[1].ttl, 100);
	assert_true(r->has_opt);
	assert_int_equal(r->opt_size, DNSQ_UDP_MAX);
	free(r);
	/* Aged; never below zero. The stored message is not changed. */
	r = render(m, c, 50, out);
	assert_int_equal(r->rr[0].ttl, 250);
	assert_int_equal(r->rr[1].ttl, 50);
	free(r);
	r = render(m, c, 200, out);
	assert_int_equal(r->rr[0].ttl, 100);
	assert_int_equal(r->rr[1].ttl, 0);
	free(r);
	r = render(m, first, 0, out);
	assert_int_equal(r->id, 1);
	assert_string_equal(r->qname, "example.com.");
	assert_int_equal(r->rr[1].ttl, 100);
	assert_false(r->has_opt);
	free(r);
	free(m);
	free(first);
	free(c);
}

static void
test_render_truncates(void **state)
{
	struct client *udp = client("example.com", DNSW_T_A, 1, DNSQ_UDP, -1, DNSQ_FORWARD);
	struct client *tcp = client("example.com", DNSW_T_A, 2, DNSQ_TCP, -1, DNSQ_FORWARD);
	struct client *edns = client("example.com", DNSW_T_A, 3, DNSQ_UDP, 1232, DNSQ_FORWARD);
	static uint8_t out[DNSQ_OUT_MAX];
	struct up u;
	struct dnsr_msg *m;
	struct dt_msg *r;

	(void)state;
	/* 60 addresses: 29 + 60 * 16 = 989 bytes. */
	up_hdr(&u, QR_RD_RA, 1, 60, 0, 0);
	up_question(&u, "example.com", DNSW_T_A);
	for (int i = 0; i < 60; i++)
		up_a(&u, 12, 300, (uint8_t)i);
	assert_int_equal(u.n, 989);
	assert_int_equal(dnsr_parse(u.b, u.n, &udp->q, &lim, &m), SVC_OK);
	r = render(m, udp, 0, out);
	assert_true(r->flags & DNSW_F_TC);
	assert_int_equal(r->an, (512 - 29) / 16);
	free(r);
	r = render(m, tcp, 0, out);
	assert_false(r->flags & DNSW_F_TC);
	assert_int_equal(r->an, 60);
	free(r);
	r = render(m, edns, 0, out);
	assert_false(r->flags & DNSW_F_TC);
	assert_int_equal(r->an, 60);
	assert_true(r->has_opt);
	free(r);
	free(m);
	/* One answer and 40 additional records: the additional ones go, without TC. */
	up_hdr(&u, QR_RD_RA, 1, 1, 0, 40);
	up_question(&u, "example.com", DNSW_T_A);
	for (int i = 0; i < 41; i++)
		up_a(&u, 12, 300, (uint8_t)i);
	assert_int_equal(dnsr_parse(u.b, u.n, &udp->q, &lim, &m), SVC_OK);
	r = render(m, udp, 0, out);
	assert_false(r->flags & DNSW_F_TC);
	assert_int_equal(r->an, 1);
	assert_int_equal(r->ar, (512 - 29) / 16 - 1);
	free(r);
	free(m);
	/* TC from upstream is passed on. */
	up_two_a(&u);
	u.b[2] |= DNSW_F_TC >> 8;
	assert_int_equal(dnsr_parse(u.b, u.n, &udp->q, &lim, &m), SVC_OK);
	r = render(m, tcp, 0, out);
	assert_true(r->flags & DNSW_F_TC);
	free(r);
	free(m);
	free(udp);
	free(tcp);
	free(edns);
}

/* The upstream query the server makes for a chase, parsed as dnsq would. */
static struct client *
chase_query(const struct client *c)
{
	struct client *up = calloc(1, sizeof(*up));
	struct dnsz_options opts = {.domain = "cluster.local", .ttl = 30};
	struct dnsz *empty;

	struct dnsq_query k = {.qtype = c->q.qtype, .qclass = DNSW_C_IN, .flags = DNSW_F_RD};

	memcpy(k.qname, c->q.chase, c->q.chase_len);
	k.qname_len = c->q.chase_len;
	up->len = dnsr_make_query(&k, 0x1111, up->pkt, sizeof(up->pkt));
	assert_true(up->len > 0);
	assert_int_equal(dnsz_build(NULL, &opts, &empty), SVC_OK);
	dnsq_answer(empty, up->pkt, up->len, DNSQ_UDP, up->out, &up->q, &up->res);
	assert_int_equal(up->res.action, DNSQ_FORWARD);
	dnsz_unref(empty);
	return up;
}

static void
test_render_chase(void **state)
{
	struct client *c = client("External.testns.svc.cluster.local", DNSW_T_A, 0x3333, DNSQ_UDP,
	                          -1, DNSQ_CHASE);
	struct client *uq = chase_query(c);
	static uint8_t out[DNSQ_OUT_MAX];
	struct up u;
	struct dnsr_msg *m;
	struct dt_msg *r;
	size_t at, n, cname_at;

	(void)state;
	/* ext.interwebs.test CNAME cdn.example.net, cdn.example.net A 192.0.2.7, compressed. */
	up_hdr(&u, QR_RD_RA, 1, 2, 0, 0);
	up_question(&u, "ext.interwebs.test", DNSW_T_A);
	up_ptr(&u, 12);
	at = up_rr(&u, DNSW_T_CNAME, 600);
	cname_at = u.n;
	up_name(&u, "cdn.example.net");
	up_end(&u, at);
	up_a(&u, cname_at, 60, 7);
	assert_int_equal(dnsr_parse(u.b, u.n, &uq->q, &lim, &m), SVC_OK);
	n = dnsr_render_chase(m, &c->q, c->out, c->res.len, 10, out);
	r = dt_parse(out, n);
	assert_non_null(r);
	assert_int_equal(r->trailing, 0);
	assert_int_equal(r->id, 0x3333);
	assert_int_equal(dt_rcode(r), DNSW_R_NOERROR);
	assert_true(r->flags & DNSW_F_AA);
	assert_int_equal(r->an, 3);
	assert_int_equal(r->rr[0].type, DNSW_T_CNAME);
	assert_string_equal(r->rr[0].owner, "External.testns.svc.cluster.local.");
	assert_string_equal(r->rr[0].data, "ext.interwebs.test.");
	assert_int_equal(r->rr[1].type, DNSW_T_CNAME);
	assert_string_equal(r->rr[1].owner, "ext.interwebs.test.");
	assert_string_equal(r->rr[1].data, "cdn.example.net.");
	assert_int_equal(r->rr[1].ttl, 590);
	assert_int_equal(r->rr[2].type, DNSW_T_A);
	assert_string_equal(r->rr[2].owner, "cdn.example.net.");
	assert_string_equal(r->rr[2].data, "192.0.2.7");
	assert_int_equal(r->rr[2].ttl, 50);
	free(r);
	free(m);

	/* NXDOMAIN upstream: the CNAME stays, the rcode is passed on. TC too. */
	up_hdr(&u, QR_RD_RA | DNSW_R_NXDOMAIN | DNSW_F_TC, 1, 0, 0, 0);
	up_question(&u, "ext.interwebs.test", DNSW_T_A);
	assert_int_equal(dnsr_parse(u.b, u.n, &uq->q, &lim, &m), SVC_OK);
	n = dnsr_render_chase(m, &c->q, c->out, c->res.len, 0, out);
	r = dt_parse(out, n);
	assert_non_null(r);
	assert_int_equal(dt_rcode(r), DNSW_R_NXDOMAIN);
	assert_true(r->flags & DNSW_F_TC);
	assert_int_equal(r->an, 1);
	assert_int_equal(r->rr[0].type, DNSW_T_CNAME);
	free(r);
	free(m);

	/* Too many addresses for 512 bytes: cut at a record, TC. */
	up_hdr(&u, QR_RD_RA, 1, 60, 0, 0);
	up_question(&u, "ext.interwebs.test", DNSW_T_A);
	for (int i = 0; i < 60; i++)
		up_a(&u, 12, 300, (uint8_t)i);
	assert_int_equal(dnsr_parse(u.b, u.n, &uq->q, &lim, &m), SVC_OK);
	n = dnsr_render_chase(m, &c->q, c->out, c->res.len, 0, out);
	assert_true(n <= 512);
	r = dt_parse(out, n);
	assert_non_null(r);
	assert_int_equal(r->trailing, 0);
	assert_true(r->flags & DNSW_F_TC);
	assert_true(r->an > 10 && r->an < 61);
	assert_true(n + 20 + 10 + 4 > 512); /* one more expanded A would not fit */
	free(r);
	free(m);
	free(uq);
	free(c);
}

static void
test_render_chase_bad_cname(void **state)
{
	struct client *c = client("external.testns.svc.cluster.local", DNSW_T_A, 0x3333, DNSQ_UDP,
	                          1232, DNSQ_CHASE);
	struct client *uq = chase_query(c);
	static uint8_t out[DNSQ_OUT_MAX];
	struct up u;
	struct dnsr_msg *m;
	struct dt_msg *r;
	size_t at, n;

	(void)state;
	/* The CNAME's RDATA is a forward pointer (dnsr_parse does not look into RDATA): the
	 * record is left out and the answer stays well formed, our OPT included. */
	up_hdr(&u, QR_RD_RA, 1, 2, 0, 0);
	up_question(&u, "ext.interwebs.test", DNSW_T_A);
	up_ptr(&u, 12);
	at = up_rr(&u, DNSW_T_CNAME, 600);
	up_ptr(&u, 0x3ff);
	up_end(&u, at);
	up_a(&u, 12, 60, 7);
	assert_int_equal(dnsr_parse(u.b, u.n, &uq->q, &lim, &m), SVC_OK);
	n = dnsr_render_chase(m, &c->q, c->out, c->res.len, 0, out);
	r = dt_parse(out, n);
	assert_non_null(r);
	assert_int_equal(r->trailing, 0);
	assert_true(r->has_opt);
	assert_int_equal(r->rr[0].type, DNSW_T_CNAME);
	for (size_t i = 1; i < r->an; i++)
		assert_int_not_equal(r->rr[i].type, DNSW_T_CNAME);
	free(r);
	free(m);
	free(uq);
	free(c);
}

/* The upstream query carries the question, RD and CD as asked, our own OPT (DO as asked), and
 * nothing else of the client's. */
static void
test_make_query(void **state)
{
	struct dnsq_query k = {.qtype = DNSW_T_AAAA, .qclass = DNSW_C_IN};
	uint8_t buf[512];
	size_t n;
	struct dt_msg *r;

	(void)state;
	assert_int_equal(dnsw_name_from_str("cdn.example.net", k.qname, &k.qname_len), SVC_OK);
	k.flags = DNSW_F_RD | DNSW_F_CD | DNSW_F_AD | 0x7800; /* AD and an opcode never go */
	n = dnsr_make_query(&k, 0xabcd, buf, sizeof(buf));
	assert_int_equal(n, 12 + k.qname_len + 4 + 11);
	r = dt_parse(buf, n);
	assert_non_null(r);
	assert_int_equal(r->id, 0xabcd);
	assert_int_equal(r->flags, DNSW_F_RD | DNSW_F_CD);
	assert_int_equal(r->qd, 1);
	assert_int_equal(r->an + r->ns, 0);
	assert_int_equal(r->ar, 1);
	assert_true(r->has_opt);
	assert_int_equal(r->opt_size, DNSQ_UDP_MAX);
	assert_int_equal(r->opt_ttl & DNSW_EDNS_DO, 0);
	assert_string_equal(r->qname, "cdn.example.net.");
	assert_int_equal(r->qtype, DNSW_T_AAAA);
	assert_int_equal(r->qclass, DNSW_C_IN);
	free(r);
	k.flags = 0;
	k.edns_do = true;
	n = dnsr_make_query(&k, 7, buf, sizeof(buf));
	r = dt_parse(buf, n);
	assert_non_null(r);
	assert_int_equal(r->flags, 0);
	assert_int_equal(r->opt_ttl & DNSW_EDNS_DO, DNSW_EDNS_DO);
	free(r);
	assert_int_equal(dnsr_make_query(&k, 1, buf, 20), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_ok),     cmocka_unit_test(test_parse_rejects),
	        cmocka_unit_test(test_parse_opt),    cmocka_unit_test(test_cache_ttl),
	        cmocka_unit_test(test_render),       cmocka_unit_test(test_render_truncates),
	        cmocka_unit_test(test_render_chase), cmocka_unit_test(test_render_chase_bad_cname),
	        cmocka_unit_test(test_make_query),
	};

	return cmocka_run_group_tests(tests, dt_setup, dt_teardown);
}
