/* fwd_pool.c -- backends with their health, made on first use; pools with round robin and
 * client-IP affinity. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_pool.h"

static uint32_t
backend_hash(const struct netaddr *ip, uint16_t port, enum cluster_proto proto)
{
	return netaddr_hash(ip) ^ ((uint32_t)port * 2654435761u) ^ (uint32_t)proto;
}

void
fwd_backends_init(struct fwd_backends *s)
{
	htab_init(&s->table);
	lru_init(&s->idle);
	s->now_ms = 0;
}

void
fwd_backends_deinit(struct fwd_backends *s)
{
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &s->table); n != NULL; n = htab_iter_next(&it))
		free(htab_item(n, struct fwd_backend, node));
	htab_deinit(&s->table);
}

static void
clock_to(struct fwd_backends *s, uint64_t now_ms)
{
	if (now_ms > s->now_ms)
		s->now_ms = now_ms;
}

socklen_t
fwd_backend_sockaddr(const struct fwd_backend *b, struct sockaddr_storage *sa)
{
	memset(sa, 0, sizeof(*sa));
	if (b->ip.family == NETADDR_V6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(b->port);
		memcpy(&s6->sin6_addr, b->ip.bytes, 16);
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(b->port);
		memcpy(&s4->sin_addr, b->ip.bytes, 4);
		return sizeof(*s4);
	}
}

static const char *
addr_label(const struct netaddr *ip, uint16_t port, char *buf)
{
	char a[NETADDR_STRLEN];

	snprintf(buf, FWD_BACKEND_LABEL_LEN, ip->family == NETADDR_V6 ? "[%s]:%u" : "%s:%u",
	         netaddr_str(ip, a), port);
	return buf;
}

const char *
fwd_backend_label(const struct fwd_backend *b, char *buf)
{
	return addr_label(&b->ip, b->port, buf);
}

const char *
fwd_member_label(const struct fwd_member *m, char *buf)
{
	return addr_label(&m->ip, m->port, buf);
}

struct fwd_backend *
fwd_backend_find(const struct fwd_backends *s, const struct netaddr *ip, uint16_t port,
                 enum cluster_proto proto)
{
	uint32_t h = backend_hash(ip, port, proto);

	for (struct htab_node *n = htab_find(&s->table, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_backend *b = htab_item(n, struct fwd_backend, node);

		if (b->port == port && b->proto == proto && netaddr_equal(&b->ip, ip))
			return b;
	}
	return NULL;
}

static struct fwd_backend *
backend_ref(struct fwd_backends *s, struct fwd_backend *b)
{
	if (b->refs++ == 0)
		lru_remove(&s->idle, &b->idle);
	return b;
}

struct fwd_backend *
fwd_backend_get(struct fwd_backends *s, const struct netaddr *ip, uint16_t port,
                enum cluster_proto proto)
{
	struct fwd_backend *b = fwd_backend_find(s, ip, port, proto);

	if (b != NULL)
		return backend_ref(s, b);
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->ip = *ip;
	b->port = port;
	b->proto = (uint8_t)proto;
	b->refs = 1;
	if (htab_insert(&s->table, &b->node, backend_hash(ip, port, proto)) != SVC_OK) {
		free(b);
		return NULL;
	}
	return b;
}

void
fwd_backend_put(struct fwd_backends *s, struct fwd_backend *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	b->idle_since_ms = s->now_ms;
	lru_push(&s->idle, &b->idle);
}

void
fwd_backends_expire(struct fwd_backends *s, uint64_t now_ms)
{
	clock_to(s, now_ms);
	/* Put in order of their clock, which never goes back: the oldest first. */
	while (s->idle.oldest != NULL) {
		struct fwd_backend *b = lru_item(s->idle.oldest, struct fwd_backend, idle);

		if (s->now_ms - b->idle_since_ms < FWD_BACKEND_IDLE_MS)
			break;
		lru_remove(&s->idle, &b->idle);
		htab_remove(&s->table, &b->node);
		free(b);
	}
}

void
fwd_backend_failed(struct fwd_backend *b, uint64_t now_ms)
{
	uint64_t wait = FWD_ASIDE_MIN_MS;

	b->connect_failures++;
	if (b->fail_streak < 32)
		b->fail_streak++;
	for (uint32_t i = 1; i < b->fail_streak && wait < FWD_ASIDE_MAX_MS; i++)
		wait *= 2;
	if (wait > FWD_ASIDE_MAX_MS)
		wait = FWD_ASIDE_MAX_MS;
	b->aside_until_ms = now_ms + wait;
}

void
fwd_backend_succeeded(struct fwd_backend *b)
{
	b->fail_streak = 0;
	b->aside_until_ms = 0;
}

bool
fwd_backend_aside(const struct fwd_backend *b, uint64_t now_ms)
{
	return b->aside_until_ms > now_ms;
}

void
fwd_pools_init(struct fwd_pools *ps)
{
	htab_init(&ps->table);
	lru_init(&ps->with_aff);
	fwd_backends_init(&ps->backends);
	ps->gen = 0;
}

static void aff_remove(struct fwd_pools *ps, struct fwd_pool *p, struct fwd_affinity *a);

static void
pool_free(struct fwd_pools *ps, struct fwd_pool *p)
{
	while (p->aff != NULL)
		aff_remove(ps, p, lru_item(p->aff->lru.oldest, struct fwd_affinity, lru));
	free(p->members);
	free(p);
}

void
fwd_pools_deinit(struct fwd_pools *ps)
{
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &ps->table); n != NULL; n = htab_iter_next(&it))
		pool_free(ps, htab_item(n, struct fwd_pool, node));
	htab_deinit(&ps->table);
	fwd_backends_deinit(&ps->backends);
}

static bool
member_is(const struct fwd_member *m, const struct netaddr *ip, uint16_t port)
{
	return m->port == port && netaddr_equal(&m->ip, ip);
}

static struct fwd_pool *
pool_find(struct fwd_pools *ps, const char *key)
{
	uint32_t h = htab_hash_str(key, 0);

	for (struct htab_node *n = htab_find(&ps->table, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_pool *p = htab_item(n, struct fwd_pool, node);

		if (strcmp(p->key, key) == 0)
			return p;
	}
	return NULL;
}

static struct fwd_pool *
pool_new(struct fwd_pools *ps, const struct fwd_plan_pool *pp)
{
	/* The key and the names in one allocation behind it: 180,000 pools at 100k services. */
	size_t lk = strlen(pp->key) + 1, ln = strlen(pp->ns) + 1, lm = strlen(pp->name) + 1,
	       lp = strlen(pp->port_name) + 1;
	struct fwd_pool *p = calloc(1, sizeof(*p) + lk + ln + lm + lp);
	char *at;

	if (p == NULL)
		return NULL;
	at = (char *)(p + 1);
	p->key = memcpy(at, pp->key, lk);
	p->ns = memcpy(at += lk, pp->ns, ln);
	p->name = memcpy(at += ln, pp->name, lm);
	p->port_name = memcpy(at + lm, pp->port_name, lp);
	p->proto = (uint8_t)pp->proto;
	p->scope = (uint8_t)pp->scope;
	p->family = pp->family;
	p->gen = ++ps->gen;
	return p;
}

/* New members for P from PP's targets. NULL only when out of memory. */
static struct fwd_member *
resolve_members(const struct fwd_plan_pool *pp)
{
	struct fwd_member *m = calloc(pp->n_targets ? pp->n_targets : 1, sizeof(*m));

	if (m == NULL)
		return NULL;
	for (size_t i = 0; i < pp->n_targets; i++) {
		m[i].ip = pp->targets[i].ip;
		m[i].port = pp->targets[i].port;
		m[i].local = pp->targets[i].local;
	}
	return m;
}

/* Whether P's members are PP's targets, in order: then P is kept as it is, without copying
 * the targets again (most pools of a new plan, whose change is elsewhere). */
static bool
same_targets(const struct fwd_pool *p, const struct fwd_plan_pool *pp)
{
	if (p->n_members != pp->n_targets || p->members == NULL)
		return false;
	for (size_t i = 0; i < pp->n_targets; i++) {
		if (!member_is(&p->members[i], &pp->targets[i].ip, pp->targets[i].port) ||
		    p->members[i].local != pp->targets[i].local)
			return false;
	}
	return true;
}

static void aff_purge(struct fwd_pools *ps, struct fwd_pool *p);

/* P's members from now on: M (N of them), in place of the old. */
static void
set_members(struct fwd_pools *ps, struct fwd_pool *p, struct fwd_member *m, size_t n)
{
	bool same = p->n_members == n;

	for (size_t j = 0; same && j < n; j++)
		same = member_is(&p->members[j], &m[j].ip, m[j].port) &&
		       p->members[j].local == m[j].local;
	free(p->members);
	p->members = m;
	p->n_members = (uint32_t)n;
	if (!same) {
		p->gen = ++ps->gen;
		p->rr = 0;
		aff_purge(ps, p);
	}
}

/* A pool left out of the plan (its service is gone) sends nowhere new; connections that hold it
 * finish with the backends they have. */
static void
empty(struct fwd_pools *ps, struct fwd_pool *p)
{
	if (p->n_members == 0)
		return;
	free(p->members);
	p->members = NULL;
	p->n_members = 0;
	p->gen = ++ps->gen;
	aff_purge(ps, p);
}

struct fwd_pool *
fwd_pools_find(struct fwd_pools *ps, const char *key)
{
	return pool_find(ps, key);
}

/* P leaves the plan: emptied, and the plan's reference goes (P with it, unless a listener or a
 * connection still holds it). */
static void
unplan(struct fwd_pools *ps, struct fwd_pool *p)
{
	empty(ps, p);
	p->live = false;
	fwd_pool_put(ps, p);
}

enum svc_status
fwd_pools_update(struct fwd_pools *ps, const struct fwd_plan_pool *const *up, size_t n_up,
                 const char *const *gone, size_t n_gone, bool full)
{
	struct fwd_member **members = NULL;
	struct fwd_pool **pools = NULL, **drop = NULL;
	enum svc_status st = SVC_ENOMEM;
	size_t made = 0, fresh = 0, n_drop = 0;

	/* As fwd_pools_apply: what can fail first. */
	members = calloc(n_up ? n_up : 1, sizeof(*members));
	pools = calloc(n_up ? n_up : 1, sizeof(*pools));
	if (members == NULL || pools == NULL)
		goto done;
	for (; made < n_up; made++) {
		pools[made] = pool_find(ps, up[made]->key);
		if (pools[made] == NULL) {
			pools[made] = pool_new(ps, up[made]);
			if (pools[made] == NULL)
				goto done;
			fresh++;
		} else if (same_targets(pools[made], up[made])) {
			continue;
		}
		members[made] = resolve_members(up[made]);
		if (members[made] == NULL) {
			made++;
			goto done;
		}
	}
	if (htab_reserve(&ps->table, ps->table.n + fresh) != SVC_OK)
		goto done;
	if (full) {
		struct htab_iter it;

		drop = calloc(ps->table.n ? ps->table.n : 1, sizeof(*drop));
		if (drop == NULL)
			goto done;
		ps->mark++;
		for (size_t i = 0; i < n_up; i++)
			pools[i]->mark = ps->mark;
		for (struct htab_node *n = htab_first(&it, &ps->table); n != NULL;
		     n = htab_iter_next(&it)) {
			struct fwd_pool *p = htab_item(n, struct fwd_pool, node);

			if (p->live && p->mark != ps->mark)
				drop[n_drop++] = p;
		}
	}
	for (size_t i = 0; i < n_up; i++) {
		struct fwd_pool *p = pools[i];

		if (p->refs == 0)
			(void)htab_insert(&ps->table, &p->node, htab_hash_str(p->key, 0));
		if (members[i] != NULL)
			set_members(ps, p, members[i], up[i]->n_targets);
		members[i] = NULL;
		p->affinity_ms = (uint64_t)up[i]->affinity_timeout_s * 1000;
		p->no_local = up[i]->no_local;
		if (!p->live) {
			p->live = true;
			p->refs++; /* the plan's */
		}
	}
	for (size_t i = 0; i < n_gone; i++) {
		struct fwd_pool *p = pool_find(ps, gone[i]);

		if (p != NULL && p->live)
			unplan(ps, p);
	}
	for (size_t i = 0; i < n_drop; i++)
		unplan(ps, drop[i]);
	st = SVC_OK;
done:
	if (st != SVC_OK) {
		for (size_t i = 0; i < made; i++) {
			free(members[i]);
			if (pools[i] != NULL && pools[i]->refs == 0)
				pool_free(ps, pools[i]);
		}
	}
	free(drop);
	free(pools);
	free(members);
	return st;
}

enum svc_status
fwd_pools_apply(struct fwd_pools *ps, const struct fwd_plan *plan, struct fwd_pool **out)
{
	struct fwd_member **members = NULL;
	enum svc_status st = SVC_ENOMEM;
	struct htab_iter it;
	size_t made = 0, fresh = 0;

	/* Everything that can fail first, so a failure leaves the pools as they were. A pool in
	 * the table always holds a reference (the last one frees it), so a new pool is one with
	 * none yet. */
	members = calloc(plan->n_pools ? plan->n_pools : 1, sizeof(*members));
	if (members == NULL)
		goto done;
	for (; made < plan->n_pools; made++) {
		out[made] = pool_find(ps, plan->pools[made].key);
		if (out[made] == NULL) {
			out[made] = pool_new(ps, &plan->pools[made]);
			if (out[made] == NULL)
				goto done;
			fresh++;
		} else if (same_targets(out[made], &plan->pools[made])) {
			continue; /* members[made] NULL: kept */
		}
		members[made] = resolve_members(&plan->pools[made]);
		if (members[made] == NULL) {
			made++;
			goto done;
		}
	}
	/* With the buckets there, inserting cannot fail. */
	if (htab_reserve(&ps->table, ps->table.n + fresh) != SVC_OK)
		goto done;
	for (struct htab_node *n = htab_first(&it, &ps->table); n != NULL; n = htab_iter_next(&it))
		htab_item(n, struct fwd_pool, node)->live = false;
	for (size_t i = 0; i < plan->n_pools; i++) {
		const struct fwd_plan_pool *pp = &plan->pools[i];
		struct fwd_pool *p = out[i];

		if (p->refs == 0)
			(void)htab_insert(&ps->table, &p->node, htab_hash_str(p->key, 0));
		if (members[i] != NULL) /* else the same targets */
			set_members(ps, p, members[i], pp->n_targets);
		members[i] = NULL;
		p->affinity_ms = (uint64_t)pp->affinity_timeout_s * 1000;
		p->no_local = pp->no_local;
		p->live = true;
		p->refs++;
	}
	for (struct htab_node *n = htab_first(&it, &ps->table); n != NULL;
	     n = htab_iter_next(&it)) {
		struct fwd_pool *p = htab_item(n, struct fwd_pool, node);

		if (!p->live)
			empty(ps, p);
	}
	st = SVC_OK;
done:
	if (st != SVC_OK) {
		for (size_t i = 0; i < made; i++) {
			free(members[i]);
			if (out[i] != NULL && out[i]->refs == 0)
				pool_free(ps, out[i]);
			out[i] = NULL;
		}
	}
	free(members);
	return st;
}

struct fwd_pool *
fwd_pool_ref(struct fwd_pool *p)
{
	p->refs++;
	return p;
}

void
fwd_pool_put(struct fwd_pools *ps, struct fwd_pool *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	htab_remove(&ps->table, &p->node);
	pool_free(ps, p);
}

bool
fwd_pool_has(const struct fwd_pool *p, const struct fwd_backend *b)
{
	if (b->proto != p->proto)
		return false;
	for (size_t i = 0; i < p->n_members; i++) {
		if (member_is(&p->members[i], &b->ip, b->port))
			return true;
	}
	return false;
}

bool
fwd_pool_keeps(const struct fwd_pool *p, const struct fwd_backend *b, uint64_t *checked)
{
	if (*checked == p->gen)
		return true;
	if (!fwd_pool_has(p, b))
		return false;
	*checked = p->gen;
	return true;
}

static struct fwd_affinity *
aff_find(const struct fwd_pool *p, const struct netaddr *client)
{
	uint32_t h = netaddr_hash(client);

	if (p->aff == NULL)
		return NULL;
	for (struct htab_node *n = htab_find(&p->aff->table, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_affinity *a = htab_item(n, struct fwd_affinity, node);

		if (netaddr_equal(&a->client, client))
			return a;
	}
	return NULL;
}

/* Take A out; the table goes with the last entry (but while aff_purge walks it). */
static void
aff_take(struct fwd_pools *ps, struct fwd_pool *p, struct fwd_affinity *a)
{
	htab_remove(&p->aff->table, &a->node);
	lru_remove(&p->aff->lru, &a->lru);
	fwd_backend_put(&ps->backends, a->b);
	free(a);
}

static void
aff_drop_empty(struct fwd_pools *ps, struct fwd_pool *p)
{
	if (p->aff != NULL && p->aff->table.n == 0) {
		lru_remove(&ps->with_aff, &p->aff->link);
		htab_deinit(&p->aff->table);
		free(p->aff);
		p->aff = NULL;
	}
}

static void
aff_remove(struct fwd_pools *ps, struct fwd_pool *p, struct fwd_affinity *a)
{
	aff_take(ps, p, a);
	aff_drop_empty(ps, p);
}

/* CLIENT sticks to B (referenced by the entry) from NOW_MS. */
static void
aff_record(struct fwd_pools *ps, struct fwd_pool *p, const struct netaddr *client,
           struct fwd_backend *b, uint64_t now_ms)
{
	struct fwd_affinity *a = aff_find(p, client);

	if (a == NULL) {
		if (p->aff == NULL) {
			p->aff = calloc(1, sizeof(*p->aff));
			if (p->aff == NULL)
				return;
			htab_init(&p->aff->table);
			lru_init(&p->aff->lru);
			p->aff->pool = p;
			lru_push(&ps->with_aff, &p->aff->link);
		}
		/* Full: a new client goes without rather than pushing out one that has it. */
		if (p->aff->table.n >= FWD_AFFINITY_MAX)
			return;
		a = calloc(1, sizeof(*a));
		if (a == NULL ||
		    htab_insert(&p->aff->table, &a->node, netaddr_hash(client)) != SVC_OK) {
			free(a);
			aff_drop_empty(ps, p);
			return;
		}
		a->client = *client;
		lru_push(&p->aff->lru, &a->lru);
	} else {
		lru_touch(&p->aff->lru, &a->lru);
		fwd_backend_put(&ps->backends, a->b);
	}
	a->b = backend_ref(&ps->backends, b);
	a->last_ms = now_ms;
}

static bool
tried(const struct fwd_backend *b, struct fwd_backend *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == b)
			return true;
	}
	return false;
}

struct fwd_backend *
fwd_pool_pick(struct fwd_pools *ps, struct fwd_pool *p, const struct netaddr *client,
              uint64_t now_ms, struct fwd_backend *const *tried_list, size_t n_tried)
{
	struct fwd_backends *s = &ps->backends;
	struct fwd_backend *b = NULL, *fb = NULL;
	size_t at = SIZE_MAX, fallback = SIZE_MAX;

	clock_to(s, now_ms);
	if (p->n_members == 0)
		return NULL;
	/* Affinity, unless this is a retry: then the remembered backend is the one that failed. */
	if (p->affinity_ms > 0 && n_tried == 0) {
		struct fwd_affinity *a = aff_find(p, client);

		if (a != NULL) {
			if (now_ms - a->last_ms < p->affinity_ms && fwd_pool_has(p, a->b) &&
			    !fwd_backend_aside(a->b, now_ms)) {
				a->last_ms = now_ms;
				lru_touch(&p->aff->lru, &a->lru);
				return backend_ref(s, a->b);
			}
			aff_remove(ps, p, a);
		}
	}
	/* A member with no backend yet was never tried nor set aside. */
	for (size_t k = 0; k < p->n_members; k++) {
		size_t i = ((size_t)p->rr + k) % p->n_members;
		const struct fwd_member *m = &p->members[i];
		struct fwd_backend *c = fwd_backend_find(s, &m->ip, m->port, p->proto);

		if (c != NULL && tried(c, tried_list, n_tried))
			continue;
		if (c != NULL && fwd_backend_aside(c, now_ms)) {
			if (fallback == SIZE_MAX) {
				fallback = i;
				fb = c;
			}
			continue;
		}
		at = i;
		b = c;
		break;
	}
	/* Everything left is set aside: better a doubtful backend than none. */
	if (at == SIZE_MAX) {
		at = fallback;
		b = fb;
	}
	if (at == SIZE_MAX)
		return NULL;
	if (b != NULL)
		backend_ref(s, b);
	else
		b = fwd_backend_get(s, &p->members[at].ip, p->members[at].port, p->proto);
	if (b == NULL)
		return NULL;
	p->rr = (uint32_t)(at + 1);
	if (p->affinity_ms > 0)
		aff_record(ps, p, client, b, now_ms);
	return b;
}

/* Forget clients whose backend left the pool, before a later pick can send them to it. */
static void
aff_purge(struct fwd_pools *ps, struct fwd_pool *p)
{
	struct htab_iter it;

	if (p->aff == NULL)
		return;
	for (struct htab_node *n = htab_first(&it, &p->aff->table); n != NULL;
	     n = htab_iter_next(&it)) {
		struct fwd_affinity *a = htab_item(n, struct fwd_affinity, node);

		if (!fwd_pool_has(p, a->b))
			aff_take(ps, p, a);
	}
	aff_drop_empty(ps, p);
}

void
fwd_pool_expire(struct fwd_pools *ps, struct fwd_pool *p, uint64_t now_ms)
{
	/* Entries whose backend left were purged when it left; the rest go oldest first. */
	while (p->aff != NULL) {
		struct fwd_affinity *a = lru_item(p->aff->lru.oldest, struct fwd_affinity, lru);

		if (now_ms - a->last_ms < p->affinity_ms)
			break;
		aff_remove(ps, p, a);
	}
}

void
fwd_pools_expire(struct fwd_pools *ps, uint64_t now_ms)
{
	struct lru_node *n = ps->with_aff.oldest;

	while (n != NULL) {
		struct fwd_affinities *aff = lru_item(n, struct fwd_affinities, link);

		n = n->next; /* AFF may go */
		fwd_pool_expire(ps, aff->pool, now_ms);
	}
	fwd_backends_expire(&ps->backends, now_ms);
}
