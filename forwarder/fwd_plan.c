/* fwd_plan.c -- from a cluster snapshot to one node's listeners and endpoint pools, as
 * kube-proxy reads Service semantics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_plan.h"
#include "vec.h"

/* Pools of one service port, by scope and family, as indices + 1 (0: not made yet). */
struct port_pools {
	size_t idx[2][2];
};

struct builder {
	const struct cluster *c;
	const char *node;
	struct diag *d;
	struct fwd_plan *p;
	size_t cap_pools, cap_listeners, cap_health;
	/* Copy names and ranges into the plan (fwd_plan_services): for the service being planned,
	 * its names and load-balancer source ranges, copied or not. */
	bool copy;
	const char *ns, *name;
	const struct netaddr_prefix *ranges;
	const char *ns_copy;
};

const char *
fwd_scope_str(enum fwd_scope s)
{
	return s == FWD_INTERNAL ? "internal" : "external";
}

const char *
fwd_listener_kind_str(enum fwd_listener_kind k)
{
	static const char *const names[] = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalIP"};

	return names[k];
}

static bool
is_local(const struct cluster_endpoint *e, const char *node)
{
	return e->node_name != NULL && node != NULL && strcmp(e->node_name, node) == 0;
}

/* Whether endpoint E of port PI is a candidate in a selection round: ready ones in round 0,
 * serving and terminating ones in round 1; of family FAMILY only unless ANY_FAMILY. */
static bool
eligible(const struct cluster_endpoint *e, size_t pi, int round, bool any_family, uint8_t family,
         bool local_only, const char *node)
{
	bool want = round == 0 ? e->ready : (e->serving && e->terminating);

	if (!want || (!any_family && e->ip.family != family))
		return false;
	if (e->ports[pi] <= 0 || e->ports[pi] > 65535)
		return false;
	return !local_only || is_local(e, node);
}

/* Endpoints of port PI that may take traffic: ready ones; when none is ready, the serving and
 * terminating ones (KEP-1669), so a rollout drains instead of failing. Local policies keep
 * this node's only. Of those, the family FAMILY if it has any, else the other family. */
static enum svc_status
pick_targets(struct builder *b, const struct cluster_service *svc, size_t pi, bool local_only,
             uint8_t family, struct fwd_plan_pool *pool)
{
	const struct cluster_port_endpoints *pe = &svc->port_endpoints[pi];
	size_t n = 0;
	int round = 0, any = 0;

	/* The first selection that finds any endpoint wins. */
	for (round = 0; round < 2; round++) {
		for (any = 0; any < 2; any++) {
			for (size_t i = 0; i < pe->n; i++)
				n += eligible(pe->items[i], pi, round, any, family, local_only,
				              b->node);
			if (n > 0)
				goto found;
		}
	}
	pool->n_targets = 0;
	return SVC_OK;
found:
	pool->targets = arena_calloc(&b->p->arena, n, sizeof(*pool->targets));
	if (pool->targets == NULL)
		return SVC_ENOMEM;
	for (size_t i = 0; i < pe->n; i++) {
		const struct cluster_endpoint *e = pe->items[i];
		struct fwd_target *t;

		if (!eligible(e, pi, round, any, family, local_only, b->node))
			continue;
		t = &pool->targets[pool->n_targets++];
		t->ip = e->ip;
		t->port = (uint16_t)e->ports[pi];
		t->local = is_local(e, b->node);
		t->terminating = round == 1;
	}
	return SVC_OK;
}

/* N in decimal, in ARENA. */
static const char *
number_str(struct arena *a, int32_t n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", (int)n);

	return len > 0 ? arena_strndup(a, buf, (size_t)len) : NULL;
}

/* "ns/name:port/PROTO/scope/family", as arena_printf("%s/%s:%s/%s/%s/%u") would write it, with
 * no formatting: one key per pool, some 200,000 of them at 100,000 services. */
static const char *
pool_key(struct arena *a, const struct cluster_service *svc, const struct fwd_plan_pool *pool)
{
	const char *parts[5] = {svc->meta.ns, svc->meta.name,
	                        pool->port_name ? pool->port_name : "",
	                        cluster_proto_str(pool->proto), fwd_scope_str(pool->scope)};
	static const char seps[5] = {'/', ':', '/', '/', '/'};
	size_t lens[5], total = 0, at = 0;
	char fam[4], *key;
	size_t flen = 0;
	unsigned f = pool->family;

	/* The family as a number (0 to 255). */
	if (f >= 100)
		fam[flen++] = (char)('0' + f / 100);
	if (f >= 10)
		fam[flen++] = (char)('0' + f / 10 % 10);
	fam[flen++] = (char)('0' + f % 10);
	for (int i = 0; i < 5; i++) {
		lens[i] = strlen(parts[i]);
		total += lens[i] + 1;
	}
	key = arena_alloc_bytes(a, total + flen + 1);
	if (key == NULL)
		return NULL;
	for (int i = 0; i < 5; i++) {
		memcpy(key + at, parts[i], lens[i]);
		at += lens[i];
		key[at++] = seps[i];
	}
	memcpy(key + at, fam, flen);
	key[at + flen] = '\0';
	return key;
}

static enum svc_status
get_pool(struct builder *b, const struct cluster_service *svc, size_t pi, enum fwd_scope scope,
         uint8_t family, struct port_pools *pp, size_t *out)
{
	struct fwd_plan *p = b->p;
	const struct cluster_port *port = &svc->ports[pi];
	int fi = family == NETADDR_V6 ? 1 : 0;
	enum cluster_policy policy =
	        scope == FWD_INTERNAL ? svc->internal_policy : svc->external_policy;
	struct fwd_plan_pool *pool;
	enum svc_status st;

	if (pp->idx[scope][fi] != 0) {
		*out = pp->idx[scope][fi] - 1;
		return SVC_OK;
	}
	pool = vec_push(&p->pools, &p->n_pools, &b->cap_pools, sizeof(*pool), NULL);
	if (pool == NULL)
		return SVC_ENOMEM;
	pool->ns = b->ns;
	pool->name = b->name;
	if (port->name == NULL)
		pool->port_name = number_str(&p->arena, port->port);
	else
		pool->port_name = b->copy ? arena_strdup(&p->arena, port->name) : port->name;
	pool->proto = port->proto;
	pool->scope = scope;
	pool->family = family;
	pool->key = pool_key(&p->arena, svc, pool);
	if (pool->port_name == NULL || pool->key == NULL)
		return SVC_ENOMEM;
	if (svc->affinity == CLUSTER_AFFINITY_CLIENTIP)
		pool->affinity_timeout_s = svc->affinity_timeout > 0
		                                   ? (uint32_t)svc->affinity_timeout
		                                   : CLUSTER_AFFINITY_TIMEOUT_DEFAULT;
	st = pick_targets(b, svc, pi, policy == CLUSTER_POLICY_LOCAL, family, pool);
	if (st != SVC_OK)
		return st;
	if (pool->n_targets == 0 && policy == CLUSTER_POLICY_LOCAL &&
	    cluster_endpoint_count(svc, pi, true) > 0)
		pool->no_local = true;
	*out = p->n_pools - 1;
	pp->idx[scope][fi] = *out + 1;
	return SVC_OK;
}

static enum svc_status
add_listener(struct builder *b, const struct cluster_service *svc, size_t pi,
             enum fwd_listener_kind kind, const struct netaddr *addr, uint8_t wildcard_family,
             uint16_t port, struct port_pools *pp)
{
	struct fwd_plan *p = b->p;
	enum fwd_scope scope = kind == FWD_CLUSTER_IP ? FWD_INTERNAL : FWD_EXTERNAL;
	uint8_t family = addr != NULL ? addr->family : wildcard_family;
	struct fwd_plan_listener *l;
	size_t pool;
	enum svc_status st;

	st = get_pool(b, svc, pi, scope, family, pp, &pool);
	if (st != SVC_OK)
		return st;
	l = vec_push(&p->listeners, &p->n_listeners, &b->cap_listeners, sizeof(*l), NULL);
	if (l == NULL)
		return SVC_ENOMEM;
	l->proto = svc->ports[pi].proto;
	l->kind = kind;
	if (addr != NULL) {
		l->addr = *addr;
	} else {
		l->addr.family = wildcard_family;
		l->wildcard = true;
	}
	l->port = port;
	l->pool = pool;
	if (kind == FWD_LOAD_BALANCER) {
		l->source_ranges = b->ranges;
		l->n_source_ranges = svc->n_lb_source_ranges;
	}
	return SVC_OK;
}

static enum svc_status
add_health(struct builder *b, const struct cluster_service *svc)
{
	struct fwd_plan *p = b->p;
	struct fwd_plan_health *h;

	h = vec_push(&p->health, &p->n_health, &b->cap_health, sizeof(*h), NULL);
	if (h == NULL)
		return SVC_ENOMEM;
	h->port = (uint16_t)svc->health_check_node_port;
	h->ns = b->ns;
	h->name = b->name;
	for (size_t i = 0; i < svc->n_endpoints; i++) {
		if (svc->endpoints[i].ready && is_local(&svc->endpoints[i], b->node))
			h->n_local++;
	}
	return SVC_OK;
}

static enum svc_status
plan_service(struct builder *b, const struct cluster_service *svc)
{
	enum svc_status st = SVC_OK;

	/* ExternalName is DNS only; headless services have no address to catch. */
	if (svc->type == CLUSTER_SVC_EXTERNALNAME || svc->headless)
		return SVC_OK;
	b->ns = svc->meta.ns;
	b->name = svc->meta.name;
	b->ranges = svc->lb_source_ranges;
	if (b->copy) {
		size_t rn = svc->n_lb_source_ranges * sizeof(*b->ranges);
		struct netaddr_prefix *r = rn ? arena_alloc(&b->p->arena, rn) : NULL;

		/* One namespace per plan: its name is copied once. */
		if (b->ns_copy == NULL)
			b->ns_copy = arena_strdup(&b->p->arena, svc->meta.ns);
		b->ns = b->ns_copy;
		b->name = arena_strdup(&b->p->arena, svc->meta.name);
		if (b->ns == NULL || b->name == NULL || (rn && r == NULL))
			return SVC_ENOMEM;
		if (rn)
			memcpy(r, svc->lb_source_ranges, rn);
		b->ranges = r;
	}
	if (svc->type == CLUSTER_SVC_LOADBALANCER && svc->external_policy == CLUSTER_POLICY_LOCAL &&
	    svc->health_check_node_port > 0)
		st = add_health(b, svc);
	for (size_t pi = 0; pi < svc->n_ports && st == SVC_OK; pi++) {
		const struct cluster_port *port = &svc->ports[pi];
		struct port_pools pp;
		uint16_t pn = (uint16_t)port->port;

		memset(&pp, 0, sizeof(pp));
		/* SCTP would need a socket type the relay does not speak. */
		if (port->proto == CLUSTER_SCTP)
			continue;
		for (size_t i = 0; i < svc->n_cluster_ips && st == SVC_OK; i++)
			st = add_listener(b, svc, pi, FWD_CLUSTER_IP, &svc->cluster_ips[i], 0, pn,
			                  &pp);
		if (port->node_port > 0 &&
		    (svc->type == CLUSTER_SVC_NODEPORT || svc->type == CLUSTER_SVC_LOADBALANCER)) {
			uint16_t np = (uint16_t)port->node_port;

			if (st == SVC_OK)
				st = add_listener(b, svc, pi, FWD_NODE_PORT, NULL, NETADDR_V4, np,
				                  &pp);
			if (st == SVC_OK)
				st = add_listener(b, svc, pi, FWD_NODE_PORT, NULL, NETADDR_V6, np,
				                  &pp);
		}
		if (svc->type == CLUSTER_SVC_LOADBALANCER) {
			for (size_t i = 0; i < svc->n_lb_ips && st == SVC_OK; i++)
				st = add_listener(b, svc, pi, FWD_LOAD_BALANCER, &svc->lb_ips[i], 0,
				                  pn, &pp);
		}
		for (size_t i = 0; i < svc->n_external_ips_text && st == SVC_OK; i++) {
			if (svc->external_ips[i].family != NETADDR_NONE)
				st = add_listener(b, svc, pi, FWD_EXTERNAL_IP,
				                  &svc->external_ips[i], 0, pn, &pp);
		}
	}
	return st;
}

/* A listener's place in the conflict order: protocol, port, wildcard, address, then creation
 * order (qsort is not stable). Copied out so the comparison reads no other memory, and qsort
 * needs no global. */
struct listener_key {
	uint32_t head; /* proto << 24 | port << 8 | wildcard */
	struct netaddr addr;
	size_t idx;
};

static struct listener_key
listener_key(const struct fwd_plan_listener *l, size_t idx)
{
	struct listener_key k;

	memset(&k, 0, sizeof(k));
	k.head = (uint32_t)l->proto << 24 | (uint32_t)l->port << 8 | (uint32_t)l->wildcard;
	k.addr = l->addr;
	k.idx = idx;
	return k;
}

/* As listener_cmp before: proto, port and wildcard numerically, then the address. */
static int
listener_key_cmp(const struct listener_key *a, const struct listener_key *b)
{
	if (a->head != b->head)
		return a->head < b->head ? -1 : 1;
	return netaddr_cmp(&a->addr, &b->addr);
}

static int
key_order(const void *pa, const void *pb)
{
	const struct listener_key *a = pa, *b = pb;
	int r = listener_key_cmp(a, b);

	if (r != 0)
		return r;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Drop listeners that claim an address and port already claimed, keeping the first. */
static enum svc_status
drop_conflicts(struct builder *b)
{
	struct fwd_plan *p = b->p;
	struct listener_key *keys = NULL;
	struct fwd_plan_listener *sorted = NULL;
	size_t out = 0, last = 0;
	enum svc_status st = SVC_ENOMEM;

	if (p->n_listeners < 2)
		return SVC_OK;
	keys = malloc(p->n_listeners * sizeof(*keys));
	sorted = malloc(p->n_listeners * sizeof(*sorted));
	if (keys == NULL || sorted == NULL)
		goto done;
	for (size_t i = 0; i < p->n_listeners; i++)
		keys[i] = listener_key(&p->listeners[i], i);
	qsort(keys, p->n_listeners, sizeof(*keys), key_order);
	for (size_t i = 0; i < p->n_listeners; i++) {
		const struct fwd_plan_listener *l = &p->listeners[keys[i].idx];

		if (out > 0 && listener_key_cmp(&keys[last], &keys[i]) == 0) {
			const struct fwd_plan_pool *lost = &p->pools[l->pool];
			const struct fwd_plan_pool *kept = &p->pools[sorted[out - 1].pool];
			char a[NETADDR_STRLEN];

			diag_add(b->d, DIAG_WARNING, NULL, 0, 0, NULL,
			         "service %s/%s port %s: %s %s:%u/%s is already taken by %s/%s "
			         "port %s; ignored",
			         lost->ns, lost->name, lost->port_name,
			         fwd_listener_kind_str(l->kind),
			         l->wildcard ? "*" : netaddr_str(&l->addr, a), l->port,
			         cluster_proto_str(l->proto), kept->ns, kept->name,
			         kept->port_name);
			continue;
		}
		last = i;
		sorted[out++] = *l;
	}
	memcpy(p->listeners, sorted, out * sizeof(*sorted));
	p->n_listeners = out;
	st = SVC_OK;
done:
	free(sorted);
	free(keys);
	return st;
}

/* Leave out the listeners whose pool has nowhere to send. */
static void
drop_idle(struct fwd_plan *p)
{
	size_t out = 0;

	for (size_t i = 0; i < p->n_listeners; i++) {
		if (p->pools[p->listeners[i].pool].n_targets == 0)
			p->n_idle++;
		else
			p->listeners[out++] = p->listeners[i];
	}
	p->n_listeners = out;
}

enum svc_status
fwd_plan_build(const struct cluster *c, const char *node, struct diag *d, struct fwd_plan *out)
{
	struct builder b = {.c = c, .node = node, .d = d, .p = out};
	enum svc_status st = SVC_OK;

	memset(out, 0, sizeof(*out));
	arena_init(&out->arena);
	for (size_t i = 0; i < c->n_services && st == SVC_OK; i++)
		st = plan_service(&b, c->services[i]);
	/* Conflicts first: a service keeps its address while it has no endpoints. */
	if (st == SVC_OK)
		st = drop_conflicts(&b);
	if (st == SVC_OK)
		drop_idle(out);
	if (st != SVC_OK)
		fwd_plan_deinit(out);
	return st;
}

enum svc_status
fwd_plan_services(struct cluster_service *const *svcs, size_t n, const char *node,
                  struct fwd_plan *out)
{
	struct builder b = {.node = node, .p = out, .copy = true};
	enum svc_status st = SVC_OK;

	memset(out, 0, sizeof(*out));
	arena_init(&out->arena);
	for (size_t i = 0; i < n && st == SVC_OK; i++) {
		/* The copied namespace serves one namespace only. */
		if (b.ns_copy != NULL && strcmp(b.ns_copy, svcs[i]->meta.ns) != 0)
			b.ns_copy = NULL;
		st = plan_service(&b, svcs[i]);
	}
	if (st != SVC_OK)
		fwd_plan_deinit(out);
	return st;
}

void
fwd_plan_deinit(struct fwd_plan *p)
{
	free(p->pools);
	free(p->listeners);
	free(p->health);
	arena_deinit(&p->arena);
	memset(p, 0, sizeof(*p));
}
