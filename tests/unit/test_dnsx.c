/* test_dnsx.c -- zone transfers: an AXFR holds the zone's SOA first and last and, between, each
 * record of each name once, the same records the answer path gives when each name is asked
 * each type; large zones go in several messages, each well-formed; an IXFR from any version
 * the journal holds, applied to that version's records, gives the newest version's (a
 * property test over random clusters, against the AXFR); the journal's bounds; which queries
 * are transfers; the NOTIFY message; the cursor over a zone's names. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "clustergen.h"
#include "dirsrc.h"
#include "dnsq.h"
#include "dnsx.h"
#include "dnsz.h"
#include "store.h"

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

	if (s->n > 1)
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
	static struct dt_msg msg; /* reused: a message's records take megabytes */
	struct walk *w = arg;
	char name[DNSW_NAME_MAX * 4 + 2];
	struct dnsq_query q;
	struct dnsq_result res;

	if (node->flags & DNSZ_NODE_REVERSE)
		return;
	dnsw_name_to_str(dnsz_node_name(node), node->name_len, name, sizeof(name));
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		size_t len = dt_query(in, ID, 0, name, types[t], DNSW_C_IN, -1, 0);
		struct dt_msg *m = &msg;

		dnsq_answer(w->z, in, len, DNSQ_TCP, out, &q, &res);
		if (res.action == DNSQ_CHASE)
			dnsw_put16(out + 6, 1); /* the CNAME only: its target is not the zone's */
		else if (res.action != DNSQ_REPLY)
			continue;
		assert_true(dt_parse_into(m, out, res.len));
		for (size_t i = 0; i < m->an; i++) {
			if (strcasecmp(m->rr[i].owner, name) == 0)
				rrset_add(w->set, &m->rr[i]);
		}
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
	assert_int_equal(dnsx_start(z, NULL, &q, in, &x), SVC_OK);
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
		n += (size_t)snprintf(
		        yaml + n, cap - n,
		        "apiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: "
		        "ns%d}\nspec:\n  clusterIP: 10.96.%d.%d\n  ports: [{name: http, "
		        "port: 80}, {name: dns, port: 53, protocol: UDP}]\n---\n",
		        i, i % 7, 1 + i / 250, 1 + i % 250);
	n += (size_t)snprintf(
	        yaml + n, cap - n,
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

/* ---- IXFR ---- */

/* An IXFR from SERIAL of Z with journal J: every record of the answer, in order. */
static struct dt_rr *
ixfr(struct dnsz *z, const struct dnsx_journal *j, uint32_t serial, size_t *n_out, bool *incr)
{
	size_t len = ixfr_query(serial), n, cap = 0, count = 0;
	struct dnsq_query q;
	struct dnsq_result res;
	struct dnsx *x;
	struct dt_rr *all = NULL;

	dnsq_answer(z, in, len, DNSQ_TCP, out, &q, &res);
	assert_int_equal(res.action, DNSQ_TRANSFER);
	assert_int_equal(dnsx_start(z, j, &q, in, &x), SVC_OK);
	*incr = dnsx_incremental(x);
	while ((n = dnsx_next(x, out)) > 0) {
		struct dt_msg *m = dt_parse(out, n);

		assert_non_null(m);
		assert_int_equal(m->trailing, 0);
		assert_int_equal(m->qtype, DNSW_T_IXFR);
		if (count + m->an > cap) {
			cap = (count + m->an) * 2;
			all = realloc(all, cap * sizeof(*all));
			assert_non_null(all);
		}
		memcpy(all + count, m->rr, m->an * sizeof(*all));
		count += m->an;
		free(m);
	}
	dnsx_free(x);
	*n_out = count;
	return all;
}

static bool
rrset_has(const struct rrset *s, const char *line, size_t *at)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->line[i], line) == 0) {
			*at = i;
			return true;
		}
	}
	return false;
}

/* Apply the incremental answer R (N records) to SET, checking its frame: the new SOA, then per
 * change the old SOA, records out (each in SET), the new SOA, records in (none in SET), and the
 * new SOA last. */
static void
apply_ixfr(struct rrset *set, const struct dt_rr *r, size_t n, uint32_t from, uint32_t to)
{
	size_t i = 1, at;
	uint32_t at_serial = from;

	assert_true(n >= 2);
	assert_int_equal(r[0].type, DNSW_T_SOA);
	assert_int_equal(r[n - 1].type, DNSW_T_SOA);
	while (i < n - 1) {
		char serial[16];
		int stage = 0;

		assert_int_equal(r[i].type, DNSW_T_SOA);
		snprintf(serial, sizeof(serial), " %u ", at_serial);
		assert_non_null(strstr(r[i].data, serial));
		for (i++; i < n - 1; i++) {
			struct rrset one = {0};

			if (r[i].type == DNSW_T_SOA) {
				if (stage == 1)
					break; /* the next change's old SOA */
				stage = 1;     /* the new SOA: records in follow */
				sscanf(strchr(strchr(r[i].data, ' ') + 1, ' ') + 1, "%u",
				       &at_serial);
				continue;
			}
			rrset_add(&one, &r[i]);
			if (stage == 0) {
				assert_true(rrset_has(set, one.line[0], &at));
				free(set->line[at]);
				set->line[at] = set->line[--set->n];
			} else {
				assert_false(rrset_has(set, one.line[0], &at));
				rrset_add(set, &r[i]);
			}
			rrset_free(&one);
		}
		assert_int_equal(stage, 1);
	}
	assert_int_equal(at_serial, to);
	rrset_sort(set, false);
}

static void
copy_set(struct rrset *to, const struct rrset *from)
{
	memset(to, 0, sizeof(*to));
	for (size_t i = 0; i < from->n; i++) {
		if (to->n == to->cap) {
			to->cap = to->cap ? 2 * to->cap : 256;
			to->line = realloc(to->line, to->cap * sizeof(*to->line));
			assert_non_null(to->line);
		}
		to->line[to->n++] = strdup(from->line[i]);
	}
}

static void
expect_same(const struct rrset *a, const struct rrset *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_string_equal(a->line[i], b->line[i]);
}

/* Random clusters through the incremental zone builder, a change at a time: an IXFR from each
 * version the journal holds, applied to that version's records (from its AXFR), gives the last
 * version's AXFR records. */
static void
test_ixfr_property(void **state)
{
	enum { STEPS = 30, FIRST = 1000 };
	char *dir = tu_tmpdir();
	const char *env = getenv("SEED");
	uint64_t seed = env != NULL ? strtoull(env, NULL, 10) : 7;
	struct cluster_config cfg;
	struct dnsz_options opts = {.domain = DT_ZONE, .ttl = DT_TTL};
	struct dnsz_builder *b;
	struct store *st;
	struct dirsrc *ds;
	struct gen g;
	struct dnsz *z = NULL;
	struct dnsx_journal *j = NULL;
	struct rrset sets[STEPS];
	size_t soas, changed = 0;
	bool incr;

	(void)state;
	printf("# SEED=%llu\n", (unsigned long long)seed);
	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.96.0.0/26"), SVC_OK);
	assert_int_equal(netaddr_parse(&opts.ns_addrs[0], "127.0.0.1"), SVC_OK);
	opts.n_ns_addrs = 1;
	assert_int_equal(store_create(&cfg, &st), SVC_OK);
	assert_int_equal(dirsrc_create(dir, &ds), SVC_OK);
	dirsrc_racy_window(ds, -1);
	assert_int_equal(dnsz_builder_create(&opts, &b), SVC_OK);
	gen_init(&g, seed);
	for (int step = 0; step < STEPS; step++) {
		struct cluster *c = NULL;
		struct dnsz *next = NULL;
		struct diag d;

		if (step > 0)
			gen_mutate(&g);
		gen_write(&g, dir);
		diag_init(&d);
		assert_int_equal(dirsrc_scan(ds, st, &d, NULL), SVC_OK);
		assert_int_equal(store_snapshot(st, &d, &c), SVC_OK);
		diag_deinit(&d);
		dnsz_builder_set_serial(b, FIRST + (uint32_t)step);
		assert_int_equal(dnsz_update(b, c, &next), SVC_OK);
		cluster_unref(c);
		memset(&sets[step], 0, sizeof(sets[step]));
		axfr(next, &sets[step], &soas);
		rrset_sort(&sets[step], false);
		if (z != NULL) {
			struct dnsx_diff *diff;
			struct dnsx_journal *nj;

			assert_int_equal(dnsx_diff_make(z, next, &diff), SVC_OK);
			changed += dnsx_diff_deleted(diff) + dnsx_diff_added(diff);
			assert_int_equal(dnsx_journal_add(j, diff, &nj), SVC_OK);
			dnsx_journal_unref(j);
			j = nj;
			dnsz_unref(z);
		}
		z = next;
	}
	/* Versions that changed nothing but the serial are no change of the journal's. */
	assert_true(dnsx_journal_changes(j) > 0 && dnsx_journal_changes(j) <= STEPS - 1);
	printf("# %d versions, %zu records in the last, %zu changed records\n", STEPS,
	       sets[STEPS - 1].n, changed);
	assert_true(changed > STEPS);
	for (int from = 0; from < STEPS - 1; from++) {
		struct rrset set;
		size_t n;
		struct dt_rr *r = ixfr(z, j, FIRST + (uint32_t)from, &n, &incr);

		assert_true(incr);
		copy_set(&set, &sets[from]);
		apply_ixfr(&set, r, n, FIRST + (uint32_t)from, FIRST + STEPS - 1);
		expect_same(&set, &sets[STEPS - 1]);
		rrset_free(&set);
		free(r);
	}
	/* As new as the zone: its SOA alone. */
	{
		size_t n;
		struct dt_rr *r = ixfr(z, j, FIRST + STEPS - 1, &n, &incr);

		assert_true(incr);
		assert_int_equal(n, 1);
		assert_int_equal(r[0].type, DNSW_T_SOA);
		free(r);
	}
	/* A serial the journal does not hold: the whole zone, AXFR-style. */
	{
		struct rrset set = {0};
		size_t n;
		struct dt_rr *r = ixfr(z, j, 42, &n, &incr);

		assert_false(incr);
		assert_int_equal(r[0].type, DNSW_T_SOA);
		assert_int_equal(r[n - 1].type, DNSW_T_SOA);
		for (size_t i = 1; i + 1 < n; i++)
			rrset_add(&set, &r[i]);
		rrset_sort(&set, false);
		expect_same(&set, &sets[STEPS - 1]);
		rrset_free(&set);
		free(r);
	}
	for (int step = 0; step < STEPS; step++)
		rrset_free(&sets[step]);
	dnsx_journal_unref(j);
	dnsz_unref(z);
	dnsz_builder_destroy(b);
	dirsrc_destroy(ds);
	store_destroy(st);
	gen_deinit(&g);
	tu_rmrf(dir);
	free(dir);
}

/* The journal keeps the last DNSX_JOURNAL_MAX changes; a version that changed only the serial
 * is no change, and an IXFR from any serial of its run works; a change that does not follow
 * the last serial starts the journal again. */
static void
test_journal_bounds(void **state)
{
	enum { N = DNSX_JOURNAL_MAX + 40 };
	struct dnsz_options opts = {.domain = DT_ZONE, .ttl = DT_TTL};
	struct dnsz_builder *b;
	struct dnsz *z = NULL, *next;
	struct dnsx_journal *j = NULL, *nj;
	struct dnsx_diff *d;
	struct cluster *other;
	struct diag dg;
	struct cluster_config cfg;
	size_t n;
	bool incr;
	struct dt_rr *r;

	(void)state;
	/* Two clusters in turn: one service more in one of them. */
	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_cidrs(&cfg, DT_CIDRS), SVC_OK);
	other = tu_build_ok("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: x}\n"
	                    "spec: {clusterIP: 10.96.7.7, ports: [{port: 80}]}\n",
	                    &cfg, &dg);
	diag_deinit(&dg);
	assert_int_equal(dnsz_builder_create(&opts, &b), SVC_OK);
	for (uint32_t i = 1; i <= N + 1; i++) {
		dnsz_builder_set_serial(b, i);
		assert_int_equal(dnsz_update(b, i % 2 ? dt_cluster : other, &next), SVC_OK);
		if (z != NULL) {
			assert_int_equal(dnsx_diff_make(z, next, &d), SVC_OK);
			assert_true(dnsx_diff_deleted(d) + dnsx_diff_added(d) > 0);
			assert_int_equal(dnsx_journal_add(j, d, &nj), SVC_OK);
			dnsx_journal_unref(j);
			j = nj;
			assert_true(dnsx_journal_changes(j) <= DNSX_JOURNAL_MAX);
			assert_true(dnsx_journal_bytes(j) <= DNSX_JOURNAL_BYTES);
			dnsz_unref(z);
		}
		z = next;
	}
	assert_int_equal(dnsx_journal_changes(j), DNSX_JOURNAL_MAX);
	r = ixfr(z, j, N + 1 - DNSX_JOURNAL_MAX, &n, &incr);
	assert_true(incr); /* the oldest kept */
	free(r);
	r = ixfr(z, j, N - DNSX_JOURNAL_MAX, &n, &incr);
	assert_false(incr); /* gone: the whole zone */
	free(r);
	/* Three versions that move only the serial: no change more, and the serials they
	 * span all lead to the last one, an empty change from the last run. */
	for (uint32_t i = N + 2; i <= N + 4; i++) {
		dnsz_builder_set_serial(b, i);
		assert_int_equal(dnsz_update(b, (N + 1) % 2 ? dt_cluster : other, &next), SVC_OK);
		assert_int_equal(dnsx_diff_make(z, next, &d), SVC_OK);
		assert_int_equal(dnsx_diff_deleted(d) + dnsx_diff_added(d), 0);
		assert_int_equal(dnsx_journal_add(j, d, &nj), SVC_OK);
		dnsx_journal_unref(j);
		j = nj;
		dnsz_unref(z);
		z = next;
	}
	assert_int_equal(dnsx_journal_changes(j), DNSX_JOURNAL_MAX);
	assert_int_equal(dnsx_journal_changed(j), N + 1);
	for (uint32_t from = N + 1; from <= N + 3; from++) {
		struct rrset set = {0};

		r = ixfr(z, j, from, &n, &incr);
		assert_true(incr);
		/* SOA(new), SOA(from), SOA(new), SOA(new): nothing out, nothing in. */
		assert_int_equal(n, 4);
		apply_ixfr(&set, r, n, from, N + 4);
		assert_int_equal(set.n, 0);
		free(r);
	}
	/* From within the changes, labelled so that they chain to the last serial. */
	{
		struct rrset was = {0}, want = {0};
		size_t soas;

		r = ixfr(z, j, N - 2, &n, &incr);
		assert_true(incr);
		/* Records at N - 2: the cluster of that parity. */
		dnsz_builder_set_serial(b, 1);
		assert_int_equal(dnsz_update(b, (N - 2) % 2 ? dt_cluster : other, &next), SVC_OK);
		axfr(next, &was, &soas);
		rrset_sort(&was, false);
		dnsz_unref(next);
		axfr(z, &want, &soas);
		rrset_sort(&want, false);
		apply_ixfr(&was, r, n, N - 2, N + 4);
		expect_same(&was, &want);
		rrset_free(&was);
		rrset_free(&want);
		free(r);
	}
	/* A change from another serial starts afresh. */
	dnsz_builder_set_serial(b, 9999);
	assert_int_equal(dnsz_update(b, other, &next), SVC_OK);
	assert_int_equal(dnsx_diff_make(dt_zone, next, &d), SVC_OK);
	assert_int_equal(dnsx_journal_add(j, d, &nj), SVC_OK);
	assert_int_equal(dnsx_journal_changes(nj), 1);
	dnsx_journal_unref(nj);
	dnsx_journal_unref(j);
	dnsz_unref(next);
	dnsz_unref(z);
	dnsz_builder_destroy(b);
	cluster_unref(other);
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
	uintptr_t x = (uintptr_t) * (const void *const *)a,
	          y = (uintptr_t) * (const void *const *)b;

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
	        cmocka_unit_test(test_cursor),         cmocka_unit_test(test_axfr_fixture),
	        cmocka_unit_test(test_axfr_large),     cmocka_unit_test(test_which_queries),
	        cmocka_unit_test(test_notify),         cmocka_unit_test(test_ixfr_property),
	        cmocka_unit_test(test_journal_bounds),
	};

	return cmocka_run_group_tests(tests, dt_setup, dt_teardown);
}
