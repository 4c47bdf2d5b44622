/* test_store.c -- the object store and the directory source: per-file validity, claims contested
 * between files, and the property that following changes file by file gives what a full load of
 * the same directory gives (DNS answers byte for byte, svcfwd's plan), over random sequences of
 * adds, changes and deletes of services, pods, Endpoints and EndpointSlices. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#include "clustergen.h"

#include "dirsrc.h"
#include "dnsz.h"
#include "fwd_plan.h"
#include "store.h"

/* ---- the comparison ---------------------------------------------------------------------- */

static bool
same_answer(const struct dnsz_answer *a, const struct dnsz_answer *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a->len == b->len && a->an == b->an && a->ns == b->ns && a->ar == b->ar &&
	       a->cut == b->cut && memcmp(dnsz_answer_wire(a), dnsz_answer_wire(b), a->len) == 0 &&
	       memcmp(dnsz_answer_ends(a), dnsz_answer_ends(b),
	              (size_t)(a->an + a->ns + a->ar) * sizeof(uint16_t)) == 0;
}

struct within {
	const struct dnsz *b;
	const char *what;
	bool ok;
};

static void
node_within(void *arg, const struct dnsz_node *n)
{
	struct within *w = arg;
	size_t cn, cm;
	const uint8_t *chn, *chm;
	const struct dnsz_node *m = dnsz_find(w->b, dnsz_node_name(n), n->name_len,
	                                      dnsw_name_hash(dnsz_node_name(n), n->name_len));

	if (!w->ok)
		return;
	if (m == NULL) {
		fprintf(stderr, "%s: a name (%u bytes, first label %.*s) is missing\n", w->what,
		        n->name_len, dnsz_node_name(n)[0], (const char *)dnsz_node_name(n) + 1);
		w->ok = false;
		return;
	}
	chn = dnsz_node_chase(n, &cn);
	chm = dnsz_node_chase(m, &cm);
	for (int t = 0; t < DNSZ_NTYPES; t++)
		if (!same_answer(dnsz_rr(n, (enum dnsz_rtype)t), dnsz_rr(m, (enum dnsz_rtype)t)) ||
		    n->flags != m->flags || n->apex_len != m->apex_len || cn != cm ||
		    (cn && memcmp(chn, chm, cn) != 0)) {
			fprintf(stderr, "%s: name %.*s...: type %d differs\n", w->what,
			        dnsz_node_name(n)[0], (const char *)dnsz_node_name(n) + 1, t);
			w->ok = false;
			return;
		}
}

/* Every name of A is in B with the same answers. The first difference is printed. */
static bool
zone_within(const struct dnsz *a, const struct dnsz *b, const char *what)
{
	struct within w = {b, what, true};

	dnsz_each_node(a, node_within, &w);
	return w.ok;
}

/* The reverse name of IP (wire form) into NAME; its length. */
static size_t
reverse_of(const struct netaddr *ip, uint8_t *name)
{
	char text[128];
	size_t len = 0, at = 0;

	if (ip->family == NETADDR_V4) {
		snprintf(text, sizeof(text), "%u.%u.%u.%u.in-addr.arpa", ip->bytes[3], ip->bytes[2],
		         ip->bytes[1], ip->bytes[0]);
	} else {
		for (int i = 15; i >= 0; i--)
			at += (size_t)snprintf(text + at, sizeof(text) - at, "%x.%x.",
			                       ip->bytes[i] & 0xf, ip->bytes[i] >> 4);
		snprintf(text + at, sizeof(text) - at, "ip6.arpa");
	}
	assert_int_equal(dnsw_name_from_str(text, name, &len), SVC_OK);
	return len;
}

/* A copy of a reverse name's node and answer: dnsz_find makes those in a buffer of the
 * thread's, which the next lookup reuses. */
struct rev_copy {
	bool found;
	uint8_t flags, apex_len;
	uint16_t len, an, ns, ar, cut;
	uint16_t ends[4096];
	uint8_t wire[65536];
};

static void
rev_copy(const struct dnsz *z, const struct netaddr *ip, struct rev_copy *out)
{
	uint8_t name[DNSW_NAME_MAX];
	size_t len = reverse_of(ip, name);
	const struct dnsz_node *n = dnsz_find(z, name, len, dnsw_name_hash(name, len));
	const struct dnsz_answer *a = n != NULL ? dnsz_rr(n, DNSZ_PTR) : NULL;

	memset(out, 0, offsetof(struct rev_copy, ends));
	out->found = a != NULL;
	if (a == NULL)
		return;
	assert_true(n->flags & DNSZ_NODE_REVERSE);
	assert_int_equal(n->name_len, len);
	assert_memory_equal(dnsz_node_name(n), name, len);
	out->flags = n->flags;
	out->apex_len = n->apex_len;
	out->len = a->len;
	out->an = a->an;
	out->ns = a->ns;
	out->ar = a->ar;
	out->cut = a->cut;
	memcpy(out->ends, dnsz_answer_ends(a), (size_t)(a->an + a->ns + a->ar) * sizeof(uint16_t));
	memcpy(out->wire, dnsz_answer_wire(a), a->len);
}

/* IP's reverse name reads the same in A and B (both without it, or the same PTR answer). */
static bool
same_reverse(const struct dnsz *a, const struct dnsz *b, const struct netaddr *ip)
{
	static struct rev_copy x, y;

	rev_copy(a, ip, &x);
	rev_copy(b, ip, &y);
	if (x.found != y.found)
		return false;
	return !x.found ||
	       (x.flags == y.flags && x.apex_len == y.apex_len && x.len == y.len && x.an == y.an &&
	        x.ns == y.ns && x.ar == y.ar && x.cut == y.cut &&
	        memcmp(x.ends, y.ends, (size_t)(x.an + x.ns + x.ar) * sizeof(uint16_t)) == 0 &&
	        memcmp(x.wire, y.wire, x.len) == 0);
}

/* Every address of C's pods and services has the same reverse name in A and B; how many had
 * one in A. */
static bool
reverse_same(const struct cluster *c, const struct dnsz *a, const struct dnsz *b, size_t *named)
{
	for (size_t i = 0; i < c->n_pods; i++)
		for (size_t k = 0; k < c->pods[i]->n_ips; k++) {
			static struct rev_copy r;

			if (!same_reverse(a, b, &c->pods[i]->ips[k]))
				return false;
			rev_copy(a, &c->pods[i]->ips[k], &r);
			*named += r.found;
		}
	for (size_t i = 0; i < c->n_services; i++)
		for (size_t k = 0; k < c->services[i]->n_cluster_ips; k++)
			if (!same_reverse(a, b, &c->services[i]->cluster_ips[k]))
				return false;
	return true;
}

static bool
same_plan(const struct fwd_plan *a, const struct fwd_plan *b)
{
	size_t i, k;

	if (a->n_pools != b->n_pools || a->n_listeners != b->n_listeners ||
	    a->n_health != b->n_health || a->n_idle != b->n_idle)
		return false;
	for (i = 0; i < a->n_pools; i++) {
		const struct fwd_plan_pool *p = &a->pools[i], *q = &b->pools[i];

		if (strcmp(p->key, q->key) != 0 || p->n_targets != q->n_targets ||
		    p->affinity_timeout_s != q->affinity_timeout_s || p->no_local != q->no_local)
			return false;
		for (k = 0; k < p->n_targets; k++)
			if (!netaddr_equal(&p->targets[k].ip, &q->targets[k].ip) ||
			    p->targets[k].port != q->targets[k].port ||
			    p->targets[k].local != q->targets[k].local ||
			    p->targets[k].terminating != q->targets[k].terminating)
				return false;
	}
	for (i = 0; i < a->n_listeners; i++) {
		const struct fwd_plan_listener *l = &a->listeners[i], *m = &b->listeners[i];

		if (l->proto != m->proto || l->kind != m->kind || l->port != m->port ||
		    l->pool != m->pool || l->wildcard != m->wildcard ||
		    !netaddr_equal(&l->addr, &m->addr))
			return false;
	}
	for (i = 0; i < a->n_health; i++)
		if (a->health[i].port != b->health[i].port ||
		    a->health[i].n_local != b->health[i].n_local)
			return false;
	return true;
}

static const struct dnsz_options ZOPTS = {.domain = "cluster.local", .ttl = 5, .serial = 7};

/* Follow SEQ steps file by file with one store, comparing with a full load after each. */
static void
run_sequence(uint64_t seed, int steps)
{
	char *dir = tu_tmpdir();
	struct cluster_config cfg;
	struct store *s;
	struct dirsrc *ds;
	struct dnsz_builder *zb;
	struct gen g;
	size_t partial = 0, rev_named = 0;

	cluster_config_init(&cfg);
	/* A small service range: pins land on addresses allocation would give others, which then
	 * move, in whatever namespace they are. */
	assert_int_equal(cluster_config_set_cidrs(&cfg, "10.96.0.0/26"), SVC_OK);
	assert_int_equal(cluster_config_set_lb_pools(&cfg, "192.0.2.0/28"), SVC_OK);
	/* As in etcd (a node without its Lease is down) for half the seeds. */
	cfg.node_leases = seed % 2 == 0;
	assert_int_equal(store_create(&cfg, &s), SVC_OK);
	assert_int_equal(dirsrc_create(dir, &ds), SVC_OK);
	dirsrc_racy_window(ds, -1); /* every rename makes a new inode: identity alone decides */
	/* Files of several chunks (the full load reads whole files): only changed chunks are
	 * parsed, and their units come and go as documents move. */
	dirsrc_chunk_docs(ds, 2 + (size_t)(seed % 3));
	/* The zone follows the snapshots too, piece by piece. */
	assert_int_equal(dnsz_builder_create(&ZOPTS, &zb), SVC_OK);
	gen_init(&g, seed);
	for (int step = 0; step < steps; step++) {
		struct cluster *inc = NULL, *full = NULL;
		struct dnsz *zi = NULL, *zf = NULL, *zu = NULL;
		struct fwd_plan pi, pf;
		struct diag d1, d2;
		size_t read = 0;
		bool ok;

		if (step > 0)
			gen_mutate(&g);
		gen_write(&g, dir);
		diag_init(&d1);
		diag_init(&d2);
		assert_int_equal(dirsrc_scan(ds, s, &d1, &read), SVC_OK);
		partial += read < N_FILES;
		assert_int_equal(store_snapshot(s, &d1, &inc), SVC_OK);
		cluster_load(dir, &cfg, &d2, &full);
		assert_non_null(inc);
		assert_non_null(full);
		/* Generated manifests are valid; a full load reports nothing the store did not. */
		if (d2.errors != 0) {
			fprintf(stderr, "seed %llu step %d: the full load reports errors\n",
			        (unsigned long long)seed, step);
			tu_dump(&d2);
			fail();
		}
		assert_int_equal(inc->n_services, full->n_services);
		assert_int_equal(inc->n_pods, full->n_pods);
		/* Every unit and shard was compacted (one block of its size: used meets top), so
		 * what follows reads the moved copies, the old blocks being freed. */
		for (size_t i = 0; i < inc->n_units; i++)
			assert_int_equal(inc->units[i]->objs.arena.used,
			                 inc->units[i]->objs.arena.top);
		for (size_t i = 0; i < inc->n_shards; i++)
			assert_int_equal(inc->shards[i]->arena.used, inc->shards[i]->arena.top);
		assert_int_equal(dnsz_build(inc, &ZOPTS, &zi), SVC_OK);
		assert_int_equal(dnsz_build(full, &ZOPTS, &zf), SVC_OK);
		assert_int_equal(dnsz_update(zb, inc, &zu), SVC_OK);
		ok = zi->n_nodes == zf->n_nodes && zone_within(zi, zf, "store") &&
		     zone_within(zf, zi, "full") && zu->n_nodes == zf->n_nodes &&
		     zone_within(zu, zf, "zone updated") && zone_within(zf, zu, "zone built") &&
		     zu->n_services == zf->n_services;
		/* Reverse names are made when asked, not listed: every address, asked. */
		ok = ok && reverse_same(full, zf, zi, &rev_named) &&
		     reverse_same(full, zf, zu, &rev_named);
		if (!ok)
			fprintf(stderr, "seed %llu step %d: zones differ\n",
			        (unsigned long long)seed, step);
		/* The pods by address too: every pod's address, and a few that are nobody's. */
		for (size_t i = 0; ok && i < full->n_pods; i++)
			for (size_t k = 0; k < full->pods[i]->n_ips; k++) {
				const char *a = dnsz_pod_ns(zu, &full->pods[i]->ips[k]);
				const char *b = dnsz_pod_ns(zf, &full->pods[i]->ips[k]);

				ok = (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0);
			}
		assert_int_equal(fwd_plan_build(inc, "node-a", &d1, &pi), SVC_OK);
		assert_int_equal(fwd_plan_build(full, "node-a", &d2, &pf), SVC_OK);
		if (!ok || !same_plan(&pi, &pf)) {
			fprintf(stderr, "seed %llu step %d: file-by-file and full load differ\n",
			        (unsigned long long)seed, step);
			fail();
		}
		fwd_plan_deinit(&pi);
		fwd_plan_deinit(&pf);
		dnsz_unref(zi);
		dnsz_unref(zf);
		dnsz_unref(zu);
		cluster_unref(inc);
		cluster_unref(full);
		diag_deinit(&d1);
		diag_deinit(&d2);
	}
	/* The point of the store: most steps read only some files. */
	assert_true(partial > (size_t)steps / 2);
	/* The reverse names compared were there to compare. */
	assert_true(rev_named > (size_t)steps);
	gen_deinit(&g);
	dnsz_builder_destroy(zb);
	dirsrc_destroy(ds);
	store_destroy(s);
	tu_rmrf(dir);
	free(dir);
}

static void
test_incremental_equals_full(void **state)
{
	const char *env = getenv("SVC_PROPERTY_SEEDS");
	int seeds = env ? atoi(env) : 25;

	(void)state;
#ifdef SVC_SANITIZED
	if (env == NULL)
		seeds = 3;
#endif
	for (int seed = 1; seed <= seeds; seed++)
		run_sequence((uint64_t)seed, 40);
}

/* ---- per-file validity and claims ---------------------------------------------------------- */

/* A store fed by a directory source over a directory of its own. */
struct fx {
	char *dir;
	struct store *s;
	struct dirsrc *ds;
	struct diag d;
};

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct cluster_config cfg;

	assert_non_null(f);
	cluster_config_init(&cfg);
	diag_init(&f->d);
	f->dir = tu_tmpdir();
	assert_int_equal(store_create(&cfg, &f->s), SVC_OK);
	assert_int_equal(dirsrc_create(f->dir, &f->ds), SVC_OK);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	dirsrc_destroy(f->ds);
	store_destroy(f->s);
	diag_deinit(&f->d);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static const char *
svc_yaml(const char *name, const char *ip, const char *extra)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf),
	         "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: default\n%s"
	         "spec:\n  clusterIP: %s\n  ports:\n  - port: 80\n",
	         name, extra, ip);
	return buf;
}

static struct cluster *
scan(struct dirsrc *ds, struct store *s, struct diag *d)
{
	struct cluster *c = NULL;

	diag_clear(d);
	assert_int_equal(dirsrc_scan(ds, s, d, NULL), SVC_OK);
	assert_int_equal(store_snapshot(s, d, &c), SVC_OK);
	assert_non_null(c);
	return c;
}

static void
test_file_validity(void **state)
{
	struct fx *f = *state;
	const char *dir = f->dir;
	struct store *s = f->s;
	struct dirsrc *ds = f->ds;
	struct diag *d = &f->d;
	struct cluster *c;

	dirsrc_racy_window(ds, -1);
	tu_write(dir, "a.yaml", svc_yaml("a", "10.96.0.11", ""));
	tu_write(dir, "b.yaml", svc_yaml("B_bad", "10.96.0.12", ""));
	/* At start an invalid file is left out and reported; the rest serves. */
	c = scan(ds, s, d);
	assert_int_equal(c->n_services, 1);
	tu_diag_expect(d, DIAG_ERROR, "metadata.name", "B_bad");
	assert_int_equal(store_failing(s), 1);
	cluster_unref(c);
	/* Fixed, then broken again: the last good version keeps serving. */
	tu_write(dir, ".t", svc_yaml("b", "10.96.0.12", ""));
	tu_rename(dir, ".t", "b.yaml");
	c = scan(ds, s, d);
	assert_int_equal(c->n_services, 2);
	assert_int_equal(store_failing(s), 0);
	cluster_unref(c);
	tu_write(dir, ".t", "apiVersion: v1\nkind: Service\nmetadata: {name: b\n");
	tu_rename(dir, ".t", "b.yaml");
	c = scan(ds, s, d);
	assert_int_equal(c->n_services, 2);
	assert_non_null(cluster_service_by_name(c, "default", "b"));
	assert_int_equal(store_failing(s), 1);
	assert_int_equal(d->errors, 1);
	cluster_unref(c);
	/* Unchanged since: not read again, not reported again, still failing. */
	c = scan(ds, s, d);
	assert_int_equal(d->n, 0);
	assert_int_equal(store_failing(s), 1);
	cluster_unref(c);
	/* Deleted: its objects go, and it no longer counts as failing. */
	tu_rename(dir, "b.yaml", ".gone");
	c = scan(ds, s, d);
	assert_int_equal(c->n_services, 1);
	assert_int_equal(store_failing(s), 0);
	cluster_unref(c);
}

static void
test_claims(void **state)
{
	struct fx *f = *state;
	const char *dir = f->dir;
	struct store *s = f->s;
	struct dirsrc *ds = f->ds;
	struct diag *d = &f->d;
	struct cluster *c;
	const struct diag_entry *e;

	dirsrc_racy_window(ds, -1);
	/* At start the older creationTimestamp keeps a contested ClusterIP, whatever the files'
	 * order. */
	tu_write(
	        dir, "a.yaml",
	        svc_yaml("young", "10.96.0.20", "  creationTimestamp: \"2024-05-01T00:00:00Z\"\n"));
	tu_write(dir, "z.yaml",
	         svc_yaml("old", "10.96.0.20", "  creationTimestamp: \"2023-01-01T00:00:00Z\"\n"));
	c = scan(ds, s, d);
	assert_non_null(cluster_service_by_name(c, "default", "old"));
	assert_null(cluster_service_by_name(c, "default", "young"));
	e = tu_diag_expect(d, DIAG_ERROR, "spec.clusterIP",
	                   "already allocated to service default/old");
	assert_non_null(strstr(e->file, "/a.yaml"));
	assert_int_equal(e->line, 8);
	assert_int_equal(e->col, 14);
	cluster_unref(c);
	/* Later, the one that serves keeps its claim: a newcomer older on paper does not take it.
	 */
	tu_write(
	        dir, ".t",
	        svc_yaml("young", "10.96.0.21", "  creationTimestamp: \"2024-05-01T00:00:00Z\"\n"));
	tu_rename(dir, ".t", "a.yaml");
	c = scan(ds, s, d);
	assert_non_null(cluster_service_by_name(c, "default", "young"));
	cluster_unref(c);
	tu_write(dir, ".t",
	         svc_yaml("ancient", "10.96.0.21",
	                  "  creationTimestamp: \"2020-01-01T00:00:00Z\"\n"));
	tu_rename(dir, ".t", "m.yaml");
	c = scan(ds, s, d);
	assert_non_null(cluster_service_by_name(c, "default", "young"));
	assert_null(cluster_service_by_name(c, "default", "ancient"));
	tu_diag_expect(d, DIAG_ERROR, "spec.clusterIP",
	               "already allocated to service default/young");
	cluster_unref(c);
	/* The same name in two files: the one that serves keeps it. */
	tu_write(dir, ".t", svc_yaml("young", "10.96.0.30", ""));
	tu_rename(dir, ".t", "b.yaml");
	c = scan(ds, s, d);
	assert_int_equal(cluster_service_by_name(c, "default", "young")->cluster_ips[0].bytes[3],
	                 21);
	e = tu_diag_expect(d, DIAG_ERROR, "metadata.name",
	                   "Duplicate value: service default/young");
	assert_non_null(strstr(e->file, "/b.yaml"));
	cluster_unref(c);
	/* A change that leaves every service as it was (claims and allocation are not worked out
	 * again): the claims stand, and what they leave out is reported again, where it was. */
	for (int i = 0; i < 2; i++) {
		tu_write(dir, ".t",
		         i == 0 ? "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
		                  "status:\n  podIP: 10.1.0.1\n"
		                : "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
		                  "status:\n  podIP: 10.1.0.2\n");
		tu_rename(dir, ".t", "p.yaml");
		c = scan(ds, s, d);
		assert_int_equal(c->n_pods, 1);
		assert_int_equal(
		        cluster_service_by_name(c, "default", "young")->cluster_ips[0].bytes[3],
		        21);
		assert_null(cluster_service_by_name(c, "default", "ancient"));
		assert_int_equal(d->errors, 2);
		e = tu_diag_expect(d, DIAG_ERROR, "metadata.name",
		                   "Duplicate value: service default/young");
		assert_non_null(strstr(e->file, "/b.yaml"));
		e = tu_diag_expect(d, DIAG_ERROR, "spec.clusterIP",
		                   "already allocated to service default/young");
		assert_non_null(strstr(e->file, "/m.yaml"));
		assert_int_equal(e->line, 8);
		cluster_unref(c);
	}
}

/* A file changed less than 100 ms before it was read is read again by the next scan, since a
 * rewrite of the same size within one tick of a coarse file-system clock would leave its
 * identity as it was (this machine's kernel has fine file times, so the miss itself cannot be
 * shown here); a file older than that is not read again. */
static void
test_racy_reread(void **state)
{
	struct fx *f = *state;
	const char *dir = f->dir;
	struct store *s = f->s;
	struct dirsrc *ds = f->ds;
	struct diag *d = &f->d;
	struct cluster *c = NULL;
	struct timespec t0, t1;
	size_t read;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	tu_write(dir, "a.yaml", svc_yaml("a", "10.96.0.11", ""));
	assert_int_equal(dirsrc_scan(ds, s, d, &read), SVC_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(read, 1);
	/* Only when the write and the read were close enough (a busy machine may delay them). */
	if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 60) {
		assert_int_equal(dirsrc_scan(ds, s, d, &read), SVC_OK);
		assert_int_equal(read, 1);
	}
	usleep(150 * 1000);
	assert_int_equal(dirsrc_scan(ds, s, d, &read), SVC_OK); /* read, no longer racy */
	assert_int_equal(dirsrc_scan(ds, s, d, &read), SVC_OK);
	assert_int_equal(read, 0);
	assert_int_equal(store_snapshot(s, d, &c), SVC_OK);
	assert_non_null(cluster_service_by_name(c, "default", "a"));
	cluster_unref(c);
}

/* A file in chunks: a change parses only the chunks whose bytes changed, and the objects of a
 * chunk that moved (a line added above it) move along, so their lines stay the file's. */
static void
test_chunks(void **state)
{
	struct fx *f = *state;
	const char *dir = f->dir;
	struct store *s = f->s;
	struct dirsrc *ds = f->ds;
	struct diag *d = &f->d;
	char text[8192];
	struct cluster *c = NULL;
	const struct cluster_service *svc;
	size_t read, len = 0;

	dirsrc_racy_window(ds, -1);
	dirsrc_chunk_docs(ds, 2);
	/* Six services of 9 lines, each after a "---" line. */
	for (int i = 0; i < 6; i++) {
		char name[8];

		snprintf(name, sizeof(name), i == 5 ? "last" : "s%d", i);
		len += (size_t)snprintf(
		        text + len, sizeof(text) - len,
		        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n"
		        "  namespace: default\nspec:\n  clusterIP: 10.96.0.%d\n"
		        "  ports:\n  - port: 80\n",
		        name, 20 + i);
	}
	tu_write(dir, "a.yaml", text);
	assert_int_equal(dirsrc_scan(ds, s, d, &read), SVC_OK);
	assert_int_equal(store_units(s), 3);
	/* The last service starts at line 2 + 5 * 10 of the file (after its "---"). */
	assert_int_equal(store_snapshot(s, d, &c), SVC_OK);
	svc = cluster_service_by_name(c, "default", "last");
	assert_non_null(svc);
	assert_int_equal(svc->meta.origin.line, 2 + 5 * 10);
	cluster_unref(c);
	/* One line more at the top: the first chunk is parsed again, the others move. */
	memmove(text + 9, text, len + 1);
	memcpy(text, "# a note\n", 9);
	tu_write(dir, ".t", text);
	tu_rename(dir, ".t", "a.yaml");
	assert_int_equal(dirsrc_scan(ds, s, d, &read), SVC_OK);
	assert_int_equal(store_snapshot(s, d, &c), SVC_OK);
	svc = cluster_service_by_name(c, "default", "last");
	assert_non_null(svc);
	assert_int_equal(read, 1);
	assert_int_equal(svc->meta.origin.line, 3 + 5 * 10);
	assert_int_equal(svc->meta.origin.doc_index, 5);
	assert_int_equal(d->errors, 0);
	cluster_unref(c);
}

/* Files in error are counted once, however many of their chunks are invalid. */
static void
test_files_in_error(void **state)
{
	struct fx *f = *state;
	char text[8192], bad[8192];
	size_t len = 0;

	dirsrc_racy_window(f->ds, -1);
	dirsrc_chunk_docs(f->ds, 1);
	for (int i = 0; i < 3; i++)
		len += (size_t)snprintf(
		        text + len, sizeof(text) - len,
		        "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d}\n"
		        "spec: {clusterIP: 10.96.0.%d, ports: [{port: 80}]}\n",
		        i, 20 + i);
	tu_write(f->dir, "a.yaml", text);
	tu_write(f->dir, "b.yaml", svc_yaml("b", "10.96.0.40", ""));
	assert_int_equal(dirsrc_scan(f->ds, f->s, &f->d, NULL), SVC_OK);
	assert_int_equal(store_units(f->s), 4);
	assert_int_equal(dirsrc_files_in_error(f->ds), 0);
	/* Two of a.yaml's three chunks go bad (a port 0, an address out of range): two units
	 * failing, one file. */
	len = 0;
	for (int i = 0; i < 3; i++)
		len += (size_t)snprintf(
		        bad + len, sizeof(bad) - len,
		        "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d}\n"
		        "spec: {clusterIP: 10.96.0.%d, ports: [{port: %d}]}\n",
		        i, i == 2 ? 300 : 20 + i, i == 0 ? 0 : 80);
	tu_write(f->dir, ".t", bad);
	tu_rename(f->dir, ".t", "a.yaml");
	diag_clear(&f->d);
	assert_int_equal(dirsrc_scan(f->ds, f->s, &f->d, NULL), SVC_OK);
	assert_true(f->d.errors >= 2);
	assert_int_equal(store_failing(f->s), 2);
	assert_int_equal(dirsrc_files_in_error(f->ds), 1);
	/* b.yaml too. */
	tu_write(f->dir, ".t", svc_yaml("b", "10.96.0.400", ""));
	tu_rename(f->dir, ".t", "b.yaml");
	assert_int_equal(dirsrc_scan(f->ds, f->s, &f->d, NULL), SVC_OK);
	assert_int_equal(store_failing(f->s), 3);
	assert_int_equal(dirsrc_files_in_error(f->ds), 2);
	/* A scan that reads nothing new keeps the count. */
	assert_int_equal(dirsrc_scan(f->ds, f->s, &f->d, NULL), SVC_OK);
	assert_int_equal(dirsrc_files_in_error(f->ds), 2);
	/* a.yaml fixed; b.yaml removed. */
	tu_write(f->dir, ".t", text);
	tu_rename(f->dir, ".t", "a.yaml");
	{
		char path[4096];

		snprintf(path, sizeof(path), "%s/b.yaml", f->dir);
		assert_int_equal(unlink(path), 0);
	}
	diag_clear(&f->d);
	assert_int_equal(dirsrc_scan(f->ds, f->s, &f->d, NULL), SVC_OK);
	assert_int_equal(store_failing(f->s), 0);
	assert_int_equal(dirsrc_files_in_error(f->ds), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_file_validity, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_claims, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_racy_reread, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_chunks, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_files_in_error, fx_setup, fx_teardown),
	        cmocka_unit_test(test_incremental_equals_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
