/* test_fwd_pool.c -- backends and pools: round robin, tried lists, set-aside with backoff,
 * client-IP affinity (and its table's deletions), pools kept by key across plans, backends made
 * on first use and freed once idle, reference counts. Time is an argument, so every clock here
 * is a number. */
#include "testutil.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_pool.h"

/* ---- fixtures ---------------------------------------------------------------------------- */

#define TP_POOLS   4
#define TP_TARGETS 8

/* A plan made by hand: pools with targets, no listeners (fwd_pools_apply reads pools only). */
struct tplan {
	struct fwd_plan p;
	struct fwd_plan_pool pools[TP_POOLS];
	struct fwd_target targets[TP_POOLS][TP_TARGETS];
};

struct fx {
	struct fwd_pools ps;
	struct tplan t;
	/* The references the last apply handed out, held as listeners would hold them. */
	struct fwd_pool *out[TP_POOLS];
	size_t n_out;
};

static struct netaddr
ip(const char *text)
{
	struct netaddr a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(netaddr_parse(&a, text), SVC_OK);
	return a;
}

/* Client number N: 10.N/16 style addresses, all distinct. */
static struct netaddr
client(uint32_t n)
{
	struct netaddr a;

	memset(&a, 0, sizeof(a));
	a.family = NETADDR_V4;
	a.bytes[0] = 100;
	a.bytes[1] = (uint8_t)(n >> 16);
	a.bytes[2] = (uint8_t)(n >> 8);
	a.bytes[3] = (uint8_t)n;
	return a;
}

static void
tp_reset(struct tplan *t)
{
	memset(t, 0, sizeof(*t));
	t->p.pools = t->pools;
}

/* Add pool KEY sending to TARGETS ("10.0.0.1:80 [fd00::1]:80 ..."), affinity AFF_S seconds. */
static void
tp_add(struct tplan *t, const char *key, uint32_t aff_s, const char *targets)
{
	struct fwd_plan_pool *pp;
	char buf[512], *save = NULL;

	assert_true(t->p.n_pools < TP_POOLS);
	pp = &t->pools[t->p.n_pools];
	memset(pp, 0, sizeof(*pp));
	pp->key = key;
	pp->ns = "shop";
	pp->name = "web";
	pp->port_name = "http";
	pp->proto = CLUSTER_TCP;
	pp->scope = FWD_INTERNAL;
	pp->family = NETADDR_V4;
	pp->affinity_timeout_s = aff_s;
	pp->targets = t->targets[t->p.n_pools];
	snprintf(buf, sizeof(buf), "%s", targets);
	for (char *w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		char *colon = strrchr(w, ':');
		struct fwd_target *tg;

		assert_non_null(colon);
		assert_true(pp->n_targets < TP_TARGETS);
		*colon = '\0';
		if (w[0] == '[') {
			w++;
			w[strlen(w) - 1] = '\0';
		}
		tg = &t->targets[t->p.n_pools][pp->n_targets++];
		tg->ip = ip(w);
		tg->port = (uint16_t)atoi(colon + 1);
	}
	t->p.n_pools++;
}

/* The fixture's pools and backends, for the helpers below. */
static struct fwd_pools *pss;
static struct fwd_backends *bs;

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fwd_pools_init(&f->ps);
	pss = &f->ps;
	bs = &f->ps.backends;
	tp_reset(&f->t);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fwd_pools_deinit(&f->ps);
	free(f);
	return 0;
}

/* Apply f->t (then reset it for the next plan): take the new references, drop the old ones. */
static void
apply(struct fx *f)
{
	struct fwd_pool *out[TP_POOLS];

	memset(out, 0, sizeof(out));
	assert_int_equal(fwd_pools_apply(&f->ps, &f->t.p, out), SVC_OK);
	for (size_t i = 0; i < f->n_out; i++)
		fwd_pool_put(&f->ps, f->out[i]);
	memcpy(f->out, out, sizeof(out));
	f->n_out = f->t.p.n_pools;
	for (size_t i = 0; i < f->n_out; i++) {
		assert_non_null(f->out[i]);
		assert_string_equal(f->out[i]->key, f->t.pools[i].key);
		assert_true(f->out[i]->live);
	}
	tp_reset(&f->t);
}

#define KEY "shop/web:http/TCP/internal/4"

/* A plan of one pool KEY with TARGETS, applied; its pool. */
static struct fwd_pool *
one_pool(struct fx *f, uint32_t aff_s, const char *targets)
{
	tp_add(&f->t, KEY, aff_s, targets);
	apply(f);
	return f->out[0];
}

/* B's label, in one of a few rotating buffers (a test compares two at once). */
static const char *
blabel(const struct fwd_backend *b)
{
	static char buf[4][FWD_BACKEND_LABEL_LEN];
	static unsigned i;

	return fwd_backend_label(b, buf[i++ % 4]);
}

static const char *
mlabel(const struct fwd_member *m)
{
	static char buf[4][FWD_BACKEND_LABEL_LEN];
	static unsigned i;

	return fwd_member_label(m, buf[i++ % 4]);
}

/* How many clients P remembers. */
static size_t
aff_n(const struct fwd_pool *p)
{
	return p->aff != NULL ? p->aff->table.n : 0;
}

/* The backend of P's member I, made if it has none, and left with the references it had. */
static struct fwd_backend *
mb(const struct fwd_pool *p, size_t i)
{
	struct fwd_backend *b;

	assert_true(i < p->n_members);
	b = fwd_backend_get(bs, &p->members[i].ip, p->members[i].port, p->proto);
	assert_non_null(b);
	fwd_backend_put(bs, b);
	return b;
}

/* The backend of P's member labelled LABEL ("10.0.0.1:80"), as mb. */
static struct fwd_backend *
member(const struct fwd_pool *p, const char *label)
{
	for (size_t i = 0; i < p->n_members; i++) {
		if (strcmp(mlabel(&p->members[i]), label) == 0)
			return mb(p, i);
	}
	fail_msg("no member %s", label);
	return NULL;
}

/* A pick's backend, its reference given back at once (the backend stays, idle). */
static struct fwd_backend *
unref(struct fwd_backend *b)
{
	fwd_backend_put(bs, b);
	return b;
}

static struct fwd_backend *
pick(struct fwd_pool *p, uint32_t c, uint64_t now)
{
	struct netaddr a = client(c);

	return unref(fwd_pool_pick(pss, p, &a, now, NULL, 0));
}

static struct fwd_backend *
retry(struct fwd_pool *p, uint32_t c, uint64_t now, struct fwd_backend *const *tried, size_t n)
{
	struct netaddr a = client(c);

	return unref(fwd_pool_pick(pss, p, &a, now, tried, n));
}

static const char *
label(const struct fwd_backend *b)
{
	return b != NULL ? blabel(b) : "(none)";
}

#define THREE "10.0.0.1:80 10.0.0.2:80 10.0.0.3:80"

/* ---- round robin, tried, set-aside ------------------------------------------------------- */

static void
test_round_robin(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 0, THREE);

	assert_int_equal(p->n_members, 3);
	assert_string_equal(mlabel(&p->members[0]), "10.0.0.1:80");
	assert_int_equal(p->members[0].port, 80);
	assert_int_equal(p->proto, CLUSTER_TCP);
	/* A plan makes no backend: the first pick of each member does. */
	assert_int_equal(bs->table.n, 0);
	/* Each in turn, whoever the client. */
	for (uint32_t i = 0; i < 9; i++) {
		struct fwd_backend *b = pick(p, i, 0);

		assert_int_equal(bs->table.n, i < 3 ? i + 1 : 3);
		assert_ptr_equal(b, mb(p, i % 3));
		assert_int_equal(b->proto, CLUSTER_TCP);
	}
	/* No affinity configured: nothing remembered. */
	assert_int_equal(aff_n(p), 0);
	assert_ptr_equal(pick(p, 1, 0), mb(p, 0));
	assert_ptr_equal(pick(p, 1, 0), mb(p, 1));
}

static void
test_empty_pool(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 10, "");

	assert_int_equal(p->n_members, 0);
	assert_null(pick(p, 1, 0));
}

static void
test_tried_skipped(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 0, THREE);
	struct fwd_backend *m0 = mb(p, 0), *m1 = mb(p, 1), *m2 = mb(p, 2);
	struct fwd_backend *t01[] = {m0, m1}, *t12[] = {m1, m2}, *all[] = {m0, m1, m2};

	assert_ptr_equal(retry(p, 1, 0, &m0, 1), m1);
	assert_ptr_equal(retry(p, 1, 0, t12, 2), m0);
	assert_ptr_equal(retry(p, 1, 0, t01, 2), m2);
	assert_null(retry(p, 1, 0, all, 3));
	/* Round robin goes on after the last pick (m2). */
	assert_ptr_equal(pick(p, 1, 0), m0);
}

static void
test_set_aside(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 0, THREE);
	struct fwd_backend *m0 = mb(p, 0), *m1 = mb(p, 1), *m2 = mb(p, 2);
	struct fwd_backend *t02[] = {m0, m2};
	size_t seen[3] = {0, 0, 0};

	fwd_backend_failed(m1, 1000);
	assert_true(fwd_backend_aside(m1, 1000));
	assert_true(fwd_backend_aside(m1, 1999));
	assert_false(fwd_backend_aside(m1, 2000));
	assert_false(fwd_backend_aside(m0, 1000));
	/* Skipped while others remain. */
	for (int i = 0; i < 6; i++)
		assert_ptr_not_equal(pick(p, 1, 1500), m1);
	/* Used when nothing else is left: the others tried... */
	assert_ptr_equal(retry(p, 1, 1500, t02, 2), m1);
	/* ... or set aside too. */
	fwd_backend_failed(m0, 1500);
	fwd_backend_failed(m2, 1500);
	{
		struct fwd_backend *b = pick(p, 1, 1600);

		assert_non_null(b);
		assert_true(fwd_pool_has(p, b));
	}
	/* m1 is back at 2000, the others (until 2500) are not. */
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(pick(p, 1, 2000), m1);
	/* All back in rotation at 2500. */
	for (int i = 0; i < 6; i++) {
		struct fwd_backend *b = pick(p, 1, 2500);

		seen[b == m0 ? 0 : b == m1 ? 1 : 2]++;
	}
	assert_int_equal(seen[0], 2);
	assert_int_equal(seen[1], 2);
	assert_int_equal(seen[2], 2);
}

static void
test_aside_backoff(void **state)
{
	static const uint64_t waits[] = {
	        1000, 2000, 4000, 8000, 16000, FWD_ASIDE_MAX_MS, FWD_ASIDE_MAX_MS};
	struct fwd_backends s;
	struct netaddr a = ip("10.0.0.9");
	struct fwd_backend *b;

	(void)state;
	fwd_backends_init(&s);
	b = fwd_backend_get(&s, &a, 8080, CLUSTER_TCP);
	assert_non_null(b);
	assert_int_equal(b->refs, 1);
	assert_string_equal(blabel(b), "10.0.0.9:8080");
	assert_false(fwd_backend_aside(b, 0));
	assert_int_equal(FWD_ASIDE_MIN_MS, 1000);
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		uint64_t now = 100000 + i * 50000;

		fwd_backend_failed(b, now);
		assert_int_equal(b->fail_streak, i + 1);
		assert_int_equal(b->aside_until_ms, now + waits[i]);
		assert_true(fwd_backend_aside(b, now + waits[i] - 1));
		assert_false(fwd_backend_aside(b, now + waits[i]));
	}
	assert_int_equal(b->connect_failures, 7);
	/* However long the streak, the wait stays at the maximum. */
	for (int i = 0; i < 100; i++)
		fwd_backend_failed(b, 1000000);
	assert_int_equal(b->aside_until_ms, 1000000 + FWD_ASIDE_MAX_MS);
	/* A success clears it: the next failure starts again from the minimum. */
	fwd_backend_succeeded(b);
	assert_int_equal(b->fail_streak, 0);
	assert_false(fwd_backend_aside(b, 1000000));
	assert_int_equal(b->connect_failures, 107);
	fwd_backend_failed(b, 2000000);
	assert_int_equal(b->aside_until_ms, 2000000 + FWD_ASIDE_MIN_MS);
	/* Unused, it outlives its set-aside, then goes. */
	fwd_backends_expire(&s, 2000000);
	fwd_backend_put(&s, b);
	fwd_backends_expire(&s, 2000000 + FWD_BACKEND_IDLE_MS - 1);
	assert_int_equal(s.table.n, 1);
	assert_true(FWD_BACKEND_IDLE_MS > FWD_ASIDE_MAX_MS);
	fwd_backends_expire(&s, 2000000 + FWD_BACKEND_IDLE_MS);
	assert_int_equal(s.table.n, 0);
	fwd_backends_deinit(&s);
}

/* ---- affinity ---------------------------------------------------------------------------- */

static void
test_affinity(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 10, THREE);
	struct fwd_backend *m0 = mb(p, 0), *m1 = mb(p, 1), *m2 = mb(p, 2), *b;

	assert_int_equal(p->affinity_ms, 10000);
	/* Client 1 keeps its backend; each use refreshes the entry. */
	assert_ptr_equal(pick(p, 1, 0), m0);
	assert_ptr_equal(pick(p, 1, 1000), m0);
	assert_ptr_equal(pick(p, 1, 9000), m0);
	/* Another client is not stuck to it. */
	assert_ptr_equal(pick(p, 2, 9000), m1);
	assert_ptr_equal(pick(p, 1, 18999), m0);
	assert_ptr_equal(pick(p, 2, 18999), m1);
	assert_int_equal(aff_n(p), 2);
	/* Idle for the whole timeout: a new pick, the next in round robin. */
	assert_ptr_equal(pick(p, 1, 28999), m2);
	assert_ptr_equal(pick(p, 1, 29000), m2);
	/* A retry skips affinity (the remembered backend is the one that failed) and the
	 * client sticks to what the retry found. */
	b = retry(p, 1, 29000, &m2, 1);
	assert_non_null(b);
	assert_ptr_not_equal(b, m2);
	assert_ptr_equal(pick(p, 1, 29001), b);
	/* A set-aside backend breaks affinity. */
	fwd_backend_failed(b, 29002);
	assert_ptr_not_equal(pick(p, 1, 29003), b);
}

/* A backend taken out of the pool by a new plan is not returned by affinity, even while it
 * lives on in another pool. */
static void
test_affinity_removed_backend(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p;
	struct fwd_backend *a, *b;

	tp_add(&f->t, KEY, 10, THREE);
	tp_add(&f->t, "shop/web:http/TCP/external/4", 0, "10.0.0.1:80");
	apply(f);
	p = f->out[0];
	a = member(p, "10.0.0.1:80");
	assert_ptr_equal(pick(p, 1, 0), a);
	assert_ptr_equal(pick(p, 1, 10), a);

	tp_add(&f->t, KEY, 10, "10.0.0.2:80 10.0.0.3:80");
	tp_add(&f->t, "shop/web:http/TCP/external/4", 0, "10.0.0.1:80");
	apply(f);
	assert_ptr_equal(f->out[0], p);
	assert_ptr_equal(member(f->out[1], "10.0.0.1:80"), a);
	assert_false(fwd_pool_has(p, a));
	b = pick(p, 1, 20);
	assert_non_null(b);
	assert_ptr_not_equal(b, a);
	assert_string_equal(blabel(b), "10.0.0.2:80");
	/* And the client now sticks to the new one. */
	assert_ptr_equal(pick(p, 1, 30), b);
}

/* The same when the removed backend is freed and a later plan brings a new endpoint: the
 * client's old entry must not carry over to whatever now sits where the old backend was.
 * (With glibc the new backend takes the freed one's memory; ASan's quarantine hides that, so
 * this fails in a plain build only, while the table keeps a pointer to a freed backend.) */
static void
test_affinity_stale_entry_not_reused(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 10, "10.0.0.1:80 10.0.0.2:80");
	struct fwd_backend *b;

	assert_string_equal(label(pick(p, 1, 0)), "10.0.0.1:80");
	assert_int_equal(mb(p, 0)->refs, 1); /* the client's entry */
	/* 10.0.0.1 leaves: the entry goes with its reference, and the idle backend is freed. */
	assert_ptr_equal(one_pool(f, 10, "10.0.0.2:80"), p);
	assert_int_equal(aff_n(p), 0);
	fwd_backends_expire(bs, FWD_BACKEND_IDLE_MS);
	assert_int_equal(bs->table.n, 0);
	/* A new endpoint joins; round robin starts over at 10.0.0.2. */
	assert_ptr_equal(one_pool(f, 10, "10.0.0.2:80 10.0.0.9:80"), p);
	b = pick(p, 1, 100);
	assert_string_equal(label(b), "10.0.0.2:80");
}

/* P's affinity table and its order agree: every entry in the order is found by its client,
 * once, and the order runs from least to most recently used. No table when it is empty. */
static void
check_table(const struct fwd_pool *p)
{
	size_t n = 0;
	uint64_t last = 0;

	if (p->aff == NULL)
		return;
	assert_true(p->aff->table.n > 0);
	for (const struct lru_node *l = p->aff->lru.oldest; l != NULL; l = l->next) {
		const struct fwd_affinity *e = lru_item(l, const struct fwd_affinity, lru);
		uint32_t h = netaddr_hash(&e->client);
		size_t found = 0;

		n++;
		assert_true(e->last_ms >= last);
		last = e->last_ms;
		for (struct htab_node *x = htab_find(&p->aff->table, h); x != NULL;
		     x = htab_next(x, h)) {
			if (netaddr_equal(&htab_item(x, struct fwd_affinity, node)->client,
			                  &e->client)) {
				assert_ptr_equal(htab_item(x, struct fwd_affinity, node), e);
				found++;
			}
		}
		assert_int_equal(found, 1);
	}
	assert_int_equal(n, aff_n(p));
	assert_int_equal(n, p->aff->lru.n);
}

static bool
in_table(const struct fwd_pool *p, const struct netaddr *c)
{
	uint32_t h = netaddr_hash(c);

	if (p->aff == NULL)
		return false;
	for (struct htab_node *x = htab_find(&p->aff->table, h); x != NULL; x = htab_next(x, h)) {
		if (netaddr_equal(&htab_item(x, struct fwd_affinity, node)->client, c))
			return true;
	}
	return false;
}

static void
test_expire(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 10, THREE);

	pick(p, 1, 0);
	pick(p, 2, 5000);
	pick(p, 3, 5000);
	assert_int_equal(aff_n(p), 3);
	fwd_pool_expire(pss, p, 9999);
	assert_int_equal(aff_n(p), 3);
	fwd_pool_expire(pss, p, 10000);
	assert_int_equal(aff_n(p), 2);
	check_table(p);
	/* Entries whose backend left the pool go too. Client 2 has 10.0.0.2, client 3 .3. */
	assert_ptr_equal(one_pool(f, 10, "10.0.0.1:80 10.0.0.3:80"), p);
	fwd_pool_expire(pss, p, 10001);
	assert_int_equal(aff_n(p), 1);
	{
		struct netaddr c3 = client(3);

		assert_true(in_table(p, &c3));
	}
	/* The sweep walks the pools that remember clients, this one only, and drops it from
	 * that list with its last client. */
	assert_int_equal(pss->with_aff.n, 1);
	fwd_pools_expire(pss, 15000);
	assert_int_equal(aff_n(p), 0);
	assert_null(p->aff); /* the table goes with its last client */
	assert_int_equal(pss->with_aff.n, 0);
	check_table(p);
}

static struct fwd_backend *
pick_addr(struct fwd_pool *p, const struct netaddr *c, uint64_t now)
{
	return unref(fwd_pool_pick(pss, p, c, now, NULL, 0));
}

/* 1000 clients, every other one idle for longer: expiring half the table removes entries from
 * all over it, and the rest must stay reachable, in use order. */
static void
test_expire_many(void **state)
{
	enum { N = 1000 };
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 10,
	                              "10.0.0.1:80 10.0.0.2:80 10.0.0.3:80 10.0.0.4:80 10.0.0.5:80 "
	                              "10.0.0.6:80 10.0.0.7:80");
	static struct netaddr cl[N];
	struct fwd_backend *got[N];

	for (uint32_t i = 0; i < N; i++)
		cl[i] = client(i);
	/* Even clients first seen at 0, odd ones at 5000 (the clock never goes back). */
	for (uint32_t i = 0; i < N; i += 2) {
		got[i] = pick_addr(p, &cl[i], 0);
		assert_non_null(got[i]);
	}
	for (uint32_t i = 1; i < N; i += 2) {
		got[i] = pick_addr(p, &cl[i], 5000);
		assert_non_null(got[i]);
	}
	assert_int_equal(aff_n(p), N);
	check_table(p);

	/* At 12000 only the odd stay. */
	fwd_pool_expire(pss, p, 12000);
	check_table(p);
	assert_int_equal(aff_n(p), N / 2);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(in_table(p, &cl[i]), i % 2 == 1);
	/* Each remaining client finds its backend, without a new entry being made. */
	for (uint32_t i = 1; i < N; i += 2)
		assert_ptr_equal(pick_addr(p, &cl[i], 12000), got[i]);
	assert_int_equal(aff_n(p), N / 2);
	/* Again with half of those: every fourth client is refreshed, the others expire. */
	for (uint32_t i = 1; i < N; i += 4)
		assert_ptr_equal(pick_addr(p, &cl[i], 21000), got[i]);
	fwd_pool_expire(pss, p, 22000);
	check_table(p);
	assert_int_equal(aff_n(p), N / 4);
	for (uint32_t i = 1; i < N; i += 4)
		assert_ptr_equal(pick_addr(p, &cl[i], 22000), got[i]);
	assert_int_equal(aff_n(p), N / 4);
	/* Removal through a pick (an expired entry met on lookup) keeps the table sound too:
	 * clients 1 mod 8 (last seen at 22000) expire on lookup at 40000, while clients 5 mod 8
	 * (seen at 31000) must still be found. */
	for (uint32_t i = 5; i < N; i += 8)
		assert_ptr_equal(pick_addr(p, &cl[i], 31000), got[i]);
	for (uint32_t i = 1; i < N; i += 8)
		assert_non_null(pick_addr(p, &cl[i], 40000));
	check_table(p);
	assert_int_equal(aff_n(p), N / 4);
	for (uint32_t i = 5; i < N; i += 8)
		assert_ptr_equal(pick_addr(p, &cl[i], 40000), got[i]);
	assert_int_equal(aff_n(p), N / 4);
	fwd_pool_expire(pss, p, 60000);
	assert_int_equal(aff_n(p), 0);
	check_table(p);
}

/* The table holds FWD_AFFINITY_MAX clients: one more is balanced but not remembered, and room
 * comes back as entries expire. */
static void
test_affinity_cap(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 10, THREE);
	struct netaddr extra = client(FWD_AFFINITY_MAX);

	for (uint32_t i = 0; i < FWD_AFFINITY_MAX; i++)
		assert_non_null(pick(p, i, 0));
	assert_int_equal(aff_n(p), FWD_AFFINITY_MAX);
	assert_non_null(pick_addr(p, &extra, 1000));
	assert_int_equal(aff_n(p), FWD_AFFINITY_MAX);
	assert_false(in_table(p, &extra));
	check_table(p);
	fwd_pool_expire(pss, p, 10000);
	assert_int_equal(aff_n(p), 0);
	assert_non_null(pick_addr(p, &extra, 10000));
	assert_true(in_table(p, &extra));
}

/* ---- applying plans ---------------------------------------------------------------------- */

static void
test_apply_keeps_pool(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 0, "10.0.0.1:80 10.0.0.2:80"), *q;
	uint64_t gen = p->gen;

	assert_true(p->live);
	assert_int_equal(p->refs, 1);
	assert_int_equal(f->ps.table.n, 1);
	p->conns = 7;
	p->bytes_in = 1234;
	assert_ptr_equal(pick(p, 1, 0), mb(p, 0));
	assert_int_equal(p->rr, 1);

	/* Same plan: same pool, same counters, same cursor, same generation. */
	assert_ptr_equal(one_pool(f, 0, "10.0.0.1:80 10.0.0.2:80"), p);
	assert_int_equal(p->gen, gen);
	assert_int_equal(p->conns, 7);
	assert_int_equal(p->bytes_in, 1234);
	assert_int_equal(p->rr, 1);
	assert_int_equal(p->refs, 1);
	assert_int_equal(f->ps.table.n, 1);

	/* Members change: same pool and counters, a new generation, the cursor from the start;
	 * the affinity setting follows the plan. */
	assert_ptr_equal(one_pool(f, 30, "10.0.0.1:80 10.0.0.2:80 10.0.0.3:80"), p);
	assert_true(p->gen > gen);
	gen = p->gen;
	assert_int_equal(p->n_members, 3);
	assert_int_equal(p->rr, 0);
	assert_int_equal(p->conns, 7);
	assert_int_equal(p->affinity_ms, 30000);
	/* A new order is a change too. */
	tp_add(&f->t, KEY, 30, "10.0.0.3:80 10.0.0.2:80 10.0.0.1:80");
	apply(f);
	assert_true(p->gen > gen);
	gen = p->gen;

	/* Gone from the plan, while a connection still holds it: not live, no members. */
	fwd_pool_ref(p);
	tp_add(&f->t, "shop/other:http/TCP/internal/4", 0, "10.0.0.5:80");
	apply(f);
	q = f->out[0];
	assert_ptr_not_equal(q, p);
	assert_true(q->live);
	assert_false(p->live);
	assert_int_equal(p->n_members, 0);
	assert_true(p->gen > gen);
	assert_true(p->gen != q->gen);
	gen = p->gen;
	assert_null(pick(p, 1, 0));
	assert_int_equal(p->conns, 7);
	assert_int_equal(f->ps.table.n, 2);
	/* Plans made no backend: the one picked above is all there is, unused. */
	assert_int_equal(bs->table.n, 1);
	assert_int_equal(member(q, "10.0.0.5:80")->refs, 0);
	assert_int_equal(bs->table.n, 2);
	/* A second plan without it changes nothing more. */
	tp_add(&f->t, "shop/other:http/TCP/internal/4", 0, "10.0.0.5:80");
	apply(f);
	assert_int_equal(p->gen, gen);
	assert_ptr_equal(f->out[0], q);
	/* Back in the plan while still held: the same object again, live. */
	tp_add(&f->t, KEY, 0, "10.0.0.1:80");
	apply(f);
	assert_ptr_equal(f->out[0], p);
	assert_true(p->live);
	assert_int_equal(p->n_members, 1);
	assert_true(p->gen > gen);
	assert_int_equal(p->conns, 7);
	fwd_pool_put(&f->ps, p);
	assert_int_equal(p->refs, 1);
}

/* Pool generations are unique across pools. A service renamed on the same ClusterIP (alpha,
 * app=a, becomes beta, app=b) moves the listener from pool alpha to a new pool beta; a UDP flow
 * that found its backend in alpha must find out that beta is another member list, even though
 * each pool went through the same changes (with a counter per pool both had generation 1). */
static void
test_generation_unique(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *alpha, *beta, *gamma;
	struct fwd_backend *a;
	uint64_t checked, seen[8];
	size_t n_seen = 0;

	tp_add(&f->t, "default/alpha:dns/UDP/internal/4", 0, "10.244.1.10:5300");
	apply(f);
	alpha = fwd_pool_ref(f->out[0]); /* as the listener holds it */
	/* As the flow holds its backend. */
	a = fwd_backend_get(bs, &alpha->members[0].ip, alpha->members[0].port, alpha->proto);
	checked = alpha->gen;
	seen[n_seen++] = alpha->gen;
	assert_true(fwd_pool_keeps(alpha, a, &checked));
	assert_int_equal(checked, alpha->gen);

	/* The rename: alpha leaves the plan, beta comes. */
	tp_add(&f->t, "default/beta:dns/UDP/internal/4", 0, "10.244.1.11:5300");
	apply(f);
	beta = f->out[0];
	assert_ptr_not_equal(beta, alpha);
	assert_true(beta->gen != checked);
	assert_true(beta->gen != alpha->gen);
	/* The listener now sends through beta: the flow's backend is not in it. */
	assert_false(fwd_pool_keeps(beta, a, &checked));
	assert_int_equal(checked, seen[0]);
	seen[n_seen++] = alpha->gen;
	seen[n_seen++] = beta->gen;

	/* A pool that lists the flow's backend too keeps it, and remembers its generation. */
	tp_add(&f->t, "default/gamma:dns/UDP/internal/4", 0, "10.244.1.10:5300 10.244.1.11:5300");
	apply(f);
	gamma = f->out[0];
	assert_ptr_equal(member(gamma, "10.244.1.10:5300"), a);
	assert_true(fwd_pool_keeps(gamma, a, &checked));
	assert_int_equal(checked, gamma->gen);
	seen[n_seen++] = gamma->gen;
	/* Its backend leaves gamma: gamma's generation moves on and the flow must re-route. */
	tp_add(&f->t, "default/gamma:dns/UDP/internal/4", 0, "10.244.1.11:5300");
	apply(f);
	assert_ptr_equal(f->out[0], gamma);
	assert_true(gamma->gen != checked);
	assert_false(fwd_pool_keeps(gamma, a, &checked));
	seen[n_seen++] = gamma->gen;

	/* No generation was handed out twice: alpha's two, beta's and gamma's two. */
	assert_int_equal(n_seen, 5);
	for (size_t i = 0; i < n_seen; i++) {
		for (size_t j = i + 1; j < n_seen; j++)
			assert_true(seen[i] != seen[j]);
	}
	fwd_backend_put(&f->ps.backends, a);
	fwd_pool_put(&f->ps, alpha);
}

static void
test_apply_no_local(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p;

	tp_add(&f->t, KEY, 0, "");
	f->t.pools[0].no_local = true;
	apply(f);
	p = f->out[0];
	assert_true(p->no_local);
	assert_int_equal(p->n_members, 0);
	assert_ptr_equal(one_pool(f, 0, "10.0.0.1:80"), p);
	assert_false(p->no_local);
}

/* Backends are made by picks, shared by the pools that list the endpoint, held by their users,
 * and freed FWD_BACKEND_IDLE_MS after the last goes, their counters and health kept till then. */
static void
test_backend_refcount(void **state)
{
	struct fx *f = *state;
	struct netaddr c1 = client(1);
	struct fwd_backend *a, *b, *b2, *c, *v6;
	struct fwd_pool *x, *y;

	tp_add(&f->t, "x", 0, "10.0.0.1:80 10.0.0.2:80");
	tp_add(&f->t, "y", 0, "10.0.0.2:80 10.0.0.3:80 [fd00::3]:80");
	apply(f);
	x = f->out[0];
	y = f->out[1];
	assert_int_equal(bs->table.n, 0);
	/* Each pick hands out a reference; x and y share 10.0.0.2's backend. */
	a = fwd_pool_pick(pss, x, &c1, 1000, NULL, 0);
	b = fwd_pool_pick(pss, x, &c1, 1000, NULL, 0);
	b2 = fwd_pool_pick(pss, y, &c1, 1000, NULL, 0);
	assert_string_equal(blabel(a), "10.0.0.1:80");
	assert_ptr_equal(b2, b);
	assert_int_equal(a->refs, 1);
	assert_int_equal(b->refs, 2);
	assert_int_equal(bs->table.n, 2);
	assert_true(fwd_pool_has(y, b));
	assert_false(fwd_pool_has(y, a));
	v6 = member(y, "[fd00::3]:80");
	assert_int_equal(v6->ip.family, NETADDR_V6);
	assert_int_equal(v6->refs, 0);
	{
		struct sockaddr_storage sa;

		assert_int_equal(fwd_backend_sockaddr(v6, &sa), sizeof(struct sockaddr_in6));
		assert_int_equal(sa.ss_family, AF_INET6);
		assert_int_equal(ntohs(((struct sockaddr_in6 *)&sa)->sin6_port), 80);
		assert_int_equal(fwd_backend_sockaddr(a, &sa), sizeof(struct sockaddr_in));
		assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 80);
	}
	/* The same address with another port or protocol is another backend. */
	{
		struct netaddr ip1 = ip("10.0.0.1");
		struct fwd_backend *u = fwd_backend_get(bs, &ip1, 80, CLUSTER_UDP);
		struct fwd_backend *o = fwd_backend_get(bs, &ip1, 81, CLUSTER_TCP);
		struct fwd_backend *same = fwd_backend_get(bs, &ip1, 80, CLUSTER_TCP);

		assert_ptr_not_equal(u, a);
		assert_ptr_not_equal(o, a);
		assert_ptr_equal(same, a);
		assert_int_equal(a->refs, 2);
		assert_false(fwd_pool_has(x, u));
		assert_false(fwd_pool_has(x, o));
		fwd_backend_put(bs, u);
		fwd_backend_put(bs, o);
		fwd_backend_put(bs, same);
	}
	/* Unused from 2000, a backend keeps its counters and its set-aside until freed at
	 * 2000 + FWD_BACKEND_IDLE_MS; found before that, it is the same one. The one made
	 * for the v6 member and u and o, unused since 1000, go before. */
	a->conns = 5;
	fwd_backend_failed(a, 2000);
	fwd_backends_expire(bs, 2000);
	fwd_backend_put(bs, a);
	assert_int_equal(a->refs, 0);
	assert_ptr_equal(unref(fwd_pool_pick(pss, x, &c1, 2500, NULL, 0)), b); /* a set aside */
	fwd_backends_expire(bs, 2000 + FWD_BACKEND_IDLE_MS - 1);
	assert_ptr_equal(fwd_backend_find(bs, &a->ip, 80, CLUSTER_TCP), a);
	assert_int_equal(a->conns, 5);
	assert_int_equal(bs->table.n, 2);
	c = fwd_pool_pick(pss, y, &c1, 2000 + FWD_BACKEND_IDLE_MS - 1, NULL, 0);
	assert_string_equal(blabel(c), "10.0.0.3:80");
	{
		struct netaddr ip1 = ip("10.0.0.1");

		fwd_backends_expire(bs, 2000 + FWD_BACKEND_IDLE_MS);
		assert_null(fwd_backend_find(bs, &ip1, 80, CLUSTER_TCP));
	}
	assert_int_equal(bs->table.n, 2); /* b and c, held */
	/* x and y leave the plan: the held backends stay while held. */
	apply(f);
	assert_int_equal(f->ps.table.n, 0);
	fwd_backends_expire(bs, 1000000);
	assert_int_equal(bs->table.n, 2);
	assert_int_equal(b->refs, 2);
	assert_string_equal(blabel(c), "10.0.0.3:80");
	fwd_backend_put(bs, b);
	fwd_backend_put(bs, b);
	fwd_backend_put(bs, c);
	fwd_backends_expire(bs, 1000000 + FWD_BACKEND_IDLE_MS - 1);
	assert_int_equal(bs->table.n, 2);
	fwd_backends_expire(bs, 1000000 + FWD_BACKEND_IDLE_MS);
	assert_int_equal(bs->table.n, 0);
}

static void
test_pool_put_frees(void **state)
{
	struct fx *f = *state;
	struct fwd_pool *p = one_pool(f, 10, THREE);

	pick(p, 1, 0);
	p->conns = 3;
	assert_int_equal(p->refs, 1);
	assert_ptr_equal(fwd_pool_ref(p), p);
	assert_int_equal(p->refs, 2);
	fwd_pool_put(&f->ps, p);
	assert_int_equal(p->refs, 1);
	assert_int_equal(f->ps.table.n, 1);
	/* The last reference (the fixture's) goes: the pool and its affinity table are freed
	 * (ASan reports any leak or later use), and the entry's backend is left unused. */
	assert_int_equal(bs->table.n, 1);
	assert_int_equal(mb(p, 0)->refs, 1);
	fwd_pool_put(&f->ps, p);
	f->n_out = 0;
	assert_int_equal(f->ps.table.n, 0);
	assert_int_equal(bs->table.n, 1);
	{
		struct netaddr a1 = ip("10.0.0.1");

		assert_int_equal(fwd_backend_find(bs, &a1, 80, CLUSTER_TCP)->refs, 0);
	}
	fwd_backends_expire(bs, FWD_BACKEND_IDLE_MS);
	assert_int_equal(bs->table.n, 0);
	fwd_pool_put(&f->ps, NULL);
	/* The key comes back as a new pool. */
	p = one_pool(f, 0, "10.0.0.1:80");
	assert_int_equal(p->conns, 0);
	assert_int_equal(p->refs, 1);
	assert_int_equal(f->ps.table.n, 1);
}

/* Many pools and backends: the hash tables grow and every pool is found again by key. */
static void
test_many_pools(void **state)
{
	enum { N = 300 };
	struct fx *f = *state;
	struct fwd_plan plan;
	struct fwd_plan_pool *pools = calloc(N, sizeof(*pools));
	struct fwd_target *tg = calloc(N, sizeof(*tg));
	struct fwd_pool **out = calloc(N, sizeof(*out)), **again = calloc(N, sizeof(*again));
	char(*keys)[32] = calloc(N, sizeof(*keys));

	assert_non_null(pools);
	assert_non_null(tg);
	assert_non_null(out);
	assert_non_null(again);
	assert_non_null(keys);
	memset(&plan, 0, sizeof(plan));
	for (size_t i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "ns/svc%zu:80/TCP/internal/4", i);
		pools[i].key = keys[i];
		pools[i].ns = "ns";
		pools[i].name = "svc";
		pools[i].port_name = "80";
		pools[i].family = NETADDR_V4;
		pools[i].targets = &tg[i];
		pools[i].n_targets = 1;
		tg[i].ip = client((uint32_t)i);
		tg[i].port = 80;
	}
	plan.pools = pools;
	plan.n_pools = N;
	assert_int_equal(fwd_pools_apply(&f->ps, &plan, out), SVC_OK);
	assert_int_equal(f->ps.table.n, N);
	assert_int_equal(bs->table.n, 0); /* made on first use only */
	assert_int_equal(fwd_pools_apply(&f->ps, &plan, again), SVC_OK);
	for (size_t i = 0; i < N; i++) {
		assert_ptr_equal(again[i], out[i]);
		assert_string_equal(out[i]->key, keys[i]);
		assert_int_equal(out[i]->refs, 2);
		fwd_pool_put(&f->ps, out[i]);
		fwd_pool_put(&f->ps, again[i]);
	}
	assert_int_equal(f->ps.table.n, 0);
	free(keys);
	free(again);
	free(out);
	free(tg);
	free(pools);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_round_robin),
	        T(test_empty_pool),
	        T(test_tried_skipped),
	        T(test_set_aside),
	        T(test_aside_backoff),
	        T(test_affinity),
	        T(test_affinity_removed_backend),
	        T(test_affinity_stale_entry_not_reused),
	        T(test_expire),
	        T(test_expire_many),
	        T(test_affinity_cap),
	        T(test_apply_keeps_pool),
	        T(test_generation_unique),
	        T(test_apply_no_local),
	        T(test_backend_refcount),
	        T(test_pool_put_frees),
	        T(test_many_pools),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
