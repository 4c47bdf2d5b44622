/* fwd_pool.c -- backends with their health, pools with round robin and client-IP affinity. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_pool.h"

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static uint32_t
backend_hash(const struct netaddr *ip, uint16_t port, enum cluster_proto proto)
{
	return netaddr_hash(ip) ^ ((uint32_t)port * 2654435761u) ^ (uint32_t)proto;
}

void
fwd_backends_init(struct fwd_backends *s)
{
	memset(s, 0, sizeof(*s));
}

void
fwd_backends_deinit(struct fwd_backends *s)
{
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct fwd_backend *b = s->buckets[i];

		while (b != NULL) {
			struct fwd_backend *next = b->next;

			free(b);
			b = next;
		}
	}
	free(s->buckets);
	memset(s, 0, sizeof(*s));
}

static bool
grow_backends(struct fwd_backends *s)
{
	size_t n = s->n_buckets ? s->n_buckets * 2 : 64;
	struct fwd_backend **nb = calloc(n, sizeof(*nb));

	if (nb == NULL)
		return false;
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct fwd_backend *b = s->buckets[i];

		while (b != NULL) {
			struct fwd_backend *next = b->next;
			size_t h = backend_hash(&b->ip, b->port, b->proto) & (n - 1);

			b->next = nb[h];
			nb[h] = b;
			b = next;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->n_buckets = n;
	return true;
}

static void
backend_sockaddr(struct fwd_backend *b)
{
	char a[NETADDR_STRLEN];

	memset(&b->sa, 0, sizeof(b->sa));
	if (b->ip.family == NETADDR_V6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&b->sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(b->port);
		memcpy(&s6->sin6_addr, b->ip.bytes, 16);
		b->sa_len = sizeof(*s6);
		snprintf(b->label, sizeof(b->label), "[%s]:%u", netaddr_str(&b->ip, a), b->port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&b->sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(b->port);
		memcpy(&s4->sin_addr, b->ip.bytes, 4);
		b->sa_len = sizeof(*s4);
		snprintf(b->label, sizeof(b->label), "%s:%u", netaddr_str(&b->ip, a), b->port);
	}
}

struct fwd_backend *
fwd_backend_get(struct fwd_backends *s, const struct netaddr *ip, uint16_t port,
                enum cluster_proto proto)
{
	struct fwd_backend *b;
	size_t h;

	if (s->n_buckets > 0) {
		h = backend_hash(ip, port, proto) & (s->n_buckets - 1);
		for (b = s->buckets[h]; b != NULL; b = b->next) {
			if (b->port == port && b->proto == proto && netaddr_equal(&b->ip, ip)) {
				b->refs++;
				return b;
			}
		}
	}
	if (s->n >= s->n_buckets && !grow_backends(s))
		return NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->ip = *ip;
	b->port = port;
	b->proto = proto;
	b->refs = 1;
	backend_sockaddr(b);
	h = backend_hash(ip, port, proto) & (s->n_buckets - 1);
	b->next = s->buckets[h];
	s->buckets[h] = b;
	s->n++;
	return b;
}

void
fwd_backend_put(struct fwd_backends *s, struct fwd_backend *b)
{
	struct fwd_backend **pp;

	if (b == NULL || --b->refs > 0)
		return;
	pp = &s->buckets[backend_hash(&b->ip, b->port, b->proto) & (s->n_buckets - 1)];
	while (*pp != b)
		pp = &(*pp)->next;
	*pp = b->next;
	s->n--;
	free(b);
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
	memset(ps, 0, sizeof(*ps));
	fwd_backends_init(&ps->backends);
}

static void
pool_free(struct fwd_pools *ps, struct fwd_pool *p)
{
	for (size_t i = 0; i < p->n_members; i++)
		fwd_backend_put(&ps->backends, p->members[i]);
	free(p->members);
	free(p->aff);
	free(p->key);
	free(p->ns);
	free(p->name);
	free(p->port_name);
	free(p);
}

void
fwd_pools_deinit(struct fwd_pools *ps)
{
	for (size_t i = 0; i < ps->n_buckets; i++) {
		struct fwd_pool *p = ps->buckets[i];

		while (p != NULL) {
			struct fwd_pool *next = p->next;

			pool_free(ps, p);
			p = next;
		}
	}
	free(ps->buckets);
	fwd_backends_deinit(&ps->backends);
	memset(ps, 0, sizeof(*ps));
}

static struct fwd_pool *
pool_find(struct fwd_pools *ps, const char *key)
{
	if (ps->n_buckets == 0)
		return NULL;
	for (struct fwd_pool *p = ps->buckets[hash_str(key) & (ps->n_buckets - 1)]; p != NULL;
	     p = p->next) {
		if (strcmp(p->key, key) == 0)
			return p;
	}
	return NULL;
}

static bool
grow_pools(struct fwd_pools *ps)
{
	size_t n = ps->n_buckets ? ps->n_buckets * 2 : 64;
	struct fwd_pool **nb = calloc(n, sizeof(*nb));

	if (nb == NULL)
		return false;
	for (size_t i = 0; i < ps->n_buckets; i++) {
		struct fwd_pool *p = ps->buckets[i];

		while (p != NULL) {
			struct fwd_pool *next = p->next;
			size_t h = hash_str(p->key) & (n - 1);

			p->next = nb[h];
			nb[h] = p;
			p = next;
		}
	}
	free(ps->buckets);
	ps->buckets = nb;
	ps->n_buckets = n;
	return true;
}

static struct fwd_pool *
pool_new(const struct fwd_plan_pool *pp)
{
	struct fwd_pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->key = strdup(pp->key);
	p->ns = strdup(pp->ns);
	p->name = strdup(pp->name);
	p->port_name = strdup(pp->port_name);
	p->proto = pp->proto;
	p->scope = pp->scope;
	p->family = pp->family;
	if (p->key == NULL || p->ns == NULL || p->name == NULL || p->port_name == NULL) {
		free(p->key);
		free(p->ns);
		free(p->name);
		free(p->port_name);
		free(p);
		return NULL;
	}
	return p;
}

/* New members for P from PP: the backends, referenced. NULL only when out of memory. */
static struct fwd_backend **
resolve_members(struct fwd_pools *ps, const struct fwd_plan_pool *pp)
{
	struct fwd_backend **m = calloc(pp->n_targets ? pp->n_targets : 1, sizeof(*m));

	if (m == NULL)
		return NULL;
	for (size_t i = 0; i < pp->n_targets; i++) {
		m[i] = fwd_backend_get(&ps->backends, &pp->targets[i].ip, pp->targets[i].port,
		                       pp->proto);
		if (m[i] == NULL) {
			while (i-- > 0)
				fwd_backend_put(&ps->backends, m[i]);
			free(m);
			return NULL;
		}
	}
	return m;
}

static void aff_purge(struct fwd_pool *p);

enum svc_status
fwd_pools_apply(struct fwd_pools *ps, const struct fwd_plan *plan, struct fwd_pool **out)
{
	struct fwd_backend ***members = NULL;
	enum svc_status st = SVC_ENOMEM;
	size_t made = 0;

	/* Everything that can fail first, so a failure leaves the pools as they were. */
	members = calloc(plan->n_pools ? plan->n_pools : 1, sizeof(*members));
	if (members == NULL)
		goto done;
	for (; made < plan->n_pools; made++) {
		out[made] = pool_find(ps, plan->pools[made].key);
		if (out[made] == NULL) {
			if (ps->n + made >= ps->n_buckets && !grow_pools(ps))
				goto done;
			out[made] = pool_new(&plan->pools[made]);
			if (out[made] == NULL)
				goto done;
		}
		members[made] = resolve_members(ps, &plan->pools[made]);
		if (members[made] == NULL) {
			made++;
			goto done;
		}
	}
	for (size_t i = 0; i < ps->n_buckets; i++) {
		for (struct fwd_pool *p = ps->buckets[i]; p != NULL; p = p->next)
			p->live = false;
	}
	for (size_t i = 0; i < plan->n_pools; i++) {
		const struct fwd_plan_pool *pp = &plan->pools[i];
		struct fwd_pool *p = out[i];
		bool same = p->n_members == pp->n_targets;

		for (size_t j = 0; same && j < pp->n_targets; j++)
			same = p->members[j] == members[i][j];
		for (size_t j = 0; j < p->n_members; j++)
			fwd_backend_put(&ps->backends, p->members[j]);
		free(p->members);
		p->members = members[i];
		p->n_members = pp->n_targets;
		members[i] = NULL;
		if (!same) {
			p->gen++;
			p->rr = 0;
			aff_purge(p);
		}
		p->affinity_ms = (uint64_t)pp->affinity_timeout_s * 1000;
		p->no_local = pp->no_local;
		if (pool_find(ps, p->key) != p) {
			size_t h = hash_str(p->key) & (ps->n_buckets - 1);

			p->next = ps->buckets[h];
			ps->buckets[h] = p;
			ps->n++;
		}
		p->live = true;
		p->refs++;
	}
	/* A pool left out of the plan (its service is gone) sends nowhere new; connections that
	 * hold it finish with the backends they have. */
	for (size_t i = 0; i < ps->n_buckets; i++) {
		for (struct fwd_pool *p = ps->buckets[i]; p != NULL; p = p->next) {
			if (p->live || p->n_members == 0)
				continue;
			for (size_t j = 0; j < p->n_members; j++)
				fwd_backend_put(&ps->backends, p->members[j]);
			p->n_members = 0;
			p->gen++;
			aff_purge(p);
		}
	}
	st = SVC_OK;
done:
	if (st != SVC_OK) {
		for (size_t i = 0; i < made; i++) {
			if (members[i] != NULL) {
				for (size_t j = 0; j < plan->pools[i].n_targets; j++)
					fwd_backend_put(&ps->backends, members[i][j]);
				free(members[i]);
			}
			if (out[i] != NULL && pool_find(ps, out[i]->key) != out[i])
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
	struct fwd_pool **pp;

	if (p == NULL || --p->refs > 0)
		return;
	pp = &ps->buckets[hash_str(p->key) & (ps->n_buckets - 1)];
	while (*pp != NULL && *pp != p)
		pp = &(*pp)->next;
	if (*pp == p) {
		*pp = p->next;
		ps->n--;
	}
	pool_free(ps, p);
}

bool
fwd_pool_has(const struct fwd_pool *p, const struct fwd_backend *b)
{
	for (size_t i = 0; i < p->n_members; i++) {
		if (p->members[i] == b)
			return true;
	}
	return false;
}

static size_t
aff_slot(const struct fwd_pool *p, const struct netaddr *client)
{
	size_t mask = p->aff_cap - 1, i = netaddr_hash(client) & mask;

	while (p->aff[i].client.family != NETADDR_NONE && !netaddr_equal(&p->aff[i].client, client))
		i = (i + 1) & mask;
	return i;
}

/* Remove slot I, shifting later entries of its probe run back (no tombstones). */
static void
aff_remove(struct fwd_pool *p, size_t i)
{
	size_t mask = p->aff_cap - 1, j = i;

	for (;;) {
		size_t home;

		p->aff[i].client.family = NETADDR_NONE;
		for (;;) {
			j = (j + 1) & mask;
			if (p->aff[j].client.family == NETADDR_NONE) {
				p->aff_n--;
				return;
			}
			home = netaddr_hash(&p->aff[j].client) & mask;
			/* Stays when its home lies cyclically in (i, j]. */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		p->aff[i] = p->aff[j];
		i = j;
	}
}

static bool
aff_grow(struct fwd_pool *p)
{
	size_t cap = p->aff_cap ? p->aff_cap * 2 : 64;
	struct fwd_affinity *old = p->aff, *na;
	size_t old_cap = p->aff_cap;

	if (cap > FWD_AFFINITY_MAX * 2)
		return false;
	na = calloc(cap, sizeof(*na));
	if (na == NULL)
		return false;
	p->aff = na;
	p->aff_cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].client.family != NETADDR_NONE)
			p->aff[aff_slot(p, &old[i].client)] = old[i];
	}
	free(old);
	return true;
}

static void
aff_record(struct fwd_pool *p, const struct netaddr *client, struct fwd_backend *b, uint64_t now_ms)
{
	size_t i;

	if (p->aff_n + 1 > p->aff_cap / 2 && !aff_grow(p))
		return;
	i = aff_slot(p, client);
	if (p->aff[i].client.family == NETADDR_NONE) {
		p->aff[i].client = *client;
		p->aff_n++;
	}
	p->aff[i].b = b;
	p->aff[i].last_ms = now_ms;
}

static bool
tried(struct fwd_backend *b, struct fwd_backend *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == b)
			return true;
	}
	return false;
}

struct fwd_backend *
fwd_pool_pick(struct fwd_pool *p, const struct netaddr *client, uint64_t now_ms,
              struct fwd_backend *const *tried_list, size_t n_tried)
{
	struct fwd_backend *b = NULL, *fallback = NULL;
	size_t at = 0;

	if (p->n_members == 0)
		return NULL;
	/* Affinity, unless this is a retry: then the remembered backend is the one that failed. */
	if (p->affinity_ms > 0 && n_tried == 0 && p->aff_cap > 0) {
		size_t i = aff_slot(p, client);
		struct fwd_affinity *a = &p->aff[i];

		if (a->client.family != NETADDR_NONE) {
			if (now_ms - a->last_ms < p->affinity_ms && fwd_pool_has(p, a->b) &&
			    !fwd_backend_aside(a->b, now_ms)) {
				a->last_ms = now_ms;
				return a->b;
			}
			aff_remove(p, i);
		}
	}
	for (size_t k = 0; k < p->n_members; k++) {
		size_t i = (p->rr + k) % p->n_members;
		struct fwd_backend *c = p->members[i];

		if (tried(c, tried_list, n_tried))
			continue;
		if (fwd_backend_aside(c, now_ms)) {
			if (fallback == NULL)
				fallback = c;
			continue;
		}
		b = c;
		at = i;
		break;
	}
	if (b == NULL) {
		/* Everything left is set aside: better a doubtful backend than none. */
		b = fallback;
		if (b == NULL)
			return NULL;
		for (size_t i = 0; i < p->n_members; i++) {
			if (p->members[i] == b)
				at = i;
		}
	}
	p->rr = at + 1;
	if (p->affinity_ms > 0)
		aff_record(p, client, b, now_ms);
	return b;
}

/* Forget clients whose backend left the pool, before its memory can serve a new backend. */
static void
aff_purge(struct fwd_pool *p)
{
	size_t i = 0;

	while (i < p->aff_cap) {
		if (p->aff[i].client.family != NETADDR_NONE && !fwd_pool_has(p, p->aff[i].b)) {
			aff_remove(p, i);
			continue;
		}
		i++;
	}
}

void
fwd_pool_expire(struct fwd_pool *p, uint64_t now_ms)
{
	size_t i = 0;

	while (i < p->aff_cap) {
		struct fwd_affinity *a = &p->aff[i];

		if (a->client.family != NETADDR_NONE &&
		    (now_ms - a->last_ms >= p->affinity_ms || !fwd_pool_has(p, a->b))) {
			aff_remove(p, i);
			continue; /* a shifted entry may now sit at I */
		}
		i++;
	}
}
