/* alloc.c -- ClusterIP, nodePort, healthCheckNodePort and load-balancer IP allocation.
 *
 * Every node computes the same answer from the same manifests, with no shared state, so the
 * result may depend only on the set of objects. Each service starts at a home slot given by a
 * hash of namespace/name and probes forward to the first free one. Services claim slots oldest
 * first (creationTimestamp, then namespace/name), so a newer service never takes the slot an
 * older one holds: adding a service does not move another's address. Explicit values in the
 * manifests are always claimed before any allocation, and svcctl create writes the allocated
 * values back so they become explicit.
 *
 * As in Kubernetes (KEP-3070, KEP-3668) the ranges have a static lower band that allocation
 * uses only when the upper band is full, so users can pick fixed values there without clashing.
 *
 * Load-balancer IPs (--lb-pool) work the same way without bands, as MetalLB-style pools have
 * none. They are never written back: the address follows from the set of objects, like every
 * other allocation, and a full pool leaves a service pending instead of failing the build.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"

#define MAX_HOST_BITS 24 /* 16M addresses: the bitmap stays at 2 MiB */

struct bitmap {
	uint8_t *bits;
	uint64_t size;
};

static bool
bitmap_init(struct bitmap *b, uint64_t size)
{
	b->size = size;
	b->bits = calloc((size + 7) / 8 + 1, 1);
	return b->bits != NULL;
}

static bool
bitmap_test(const struct bitmap *b, uint64_t i)
{
	return i < b->size && (b->bits[i / 8] & (1u << (i % 8)));
}

static void
bitmap_set(struct bitmap *b, uint64_t i)
{
	if (i < b->size)
		b->bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

static uint64_t
hash_name(const char *ns, const char *name, uint64_t salt)
{
	/* FNV-1a, 64 bit: stable across builds, platforms and runs. */
	uint64_t h = 14695981039346656037ull ^ salt;
	const char *p;

	for (p = ns; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	h = (h ^ '/') * 1099511628211ull;
	for (p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return h;
}

/* Band offset: min(max(16, size/DIV), CAP) (KEP-3070 uses 16 and 256, KEP-3668 32 and 128). */
static uint64_t
band_offset(uint64_t size, uint64_t div, uint64_t cap)
{
	uint64_t off = size / div;

	if (off < 16)
		off = 16;
	if (off > cap)
		off = cap;
	return off < size ? off : 0;
}

/* First free slot in [lo, hi) probing from lo + home % (hi - lo), wrapping; UINT64_MAX if full. */
static uint64_t
probe(const struct bitmap *b, uint64_t lo, uint64_t hi, uint64_t home)
{
	uint64_t n = hi > lo ? hi - lo : 0, i, s;

	for (i = 0; i < n; i++) {
		s = lo + (home + i) % n;
		if (!bitmap_test(b, s))
			return s;
	}
	return UINT64_MAX;
}

/* Dynamic band first, then the static band. */
static uint64_t
take(struct bitmap *b, uint64_t first, uint64_t last, uint64_t band, uint64_t home)
{
	uint64_t s = probe(b, first + band, last + 1, home);

	if (s == UINT64_MAX)
		s = probe(b, first, first + band, home);
	if (s != UINT64_MAX)
		bitmap_set(b, s);
	return s;
}

static int
age_cmp(const void *pa, const void *pb)
{
	const struct cluster_service *a = *(const struct cluster_service *const *)pa;
	const struct cluster_service *b = *(const struct cluster_service *const *)pb;
	/* No creationTimestamp counts as oldest: such services were written by hand before any
	 * that svcctl created (and stamped). */
	int64_t ta = a->meta.created_unix, tb = b->meta.created_unix;
	int c;

	if (ta != tb)
		return ta < tb ? -1 : 1;
	c = strcmp(a->meta.ns, b->meta.ns);
	return c ? c : strcmp(a->meta.name, b->meta.name);
}

/* Whether OBJS's services are in namespace and name order (as the loader's callers give them). */
static bool
by_name(const struct cluster_objects *objs)
{
	for (size_t i = 1; i < objs->n_services; i++) {
		const struct cluster_meta *a = &objs->services[i - 1]->meta;
		const struct cluster_meta *b = &objs->services[i]->meta;
		int c = strcmp(a->ns, b->ns);

		if (c > 0 || (c == 0 && strcmp(a->name, b->name) >= 0))
			return false;
	}
	return true;
}

struct aged {
	int64_t t;
	size_t i;
};

static int
aged_cmp(const void *pa, const void *pb)
{
	const struct aged *a = pa, *b = pb;

	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

/* ORDER (N services in name order) into age_cmp's order by comparing numbers only: by
 * creationTimestamp, ties kept in name order. False when out of memory. */
static bool
sort_by_age(struct cluster_service **order, size_t n)
{
	struct aged *a = malloc((n + 1) * sizeof(*a));
	struct cluster_service **copy = malloc((n + 1) * sizeof(*copy));
	bool same = true;

	if (a == NULL || copy == NULL) {
		free(a);
		free(copy);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		a[i] = (struct aged){order[i]->meta.created_unix, i};
		same = same && a[i].t == a[0].t;
	}
	/* Hand-written clusters often have no timestamps at all: nothing to sort. */
	if (!same) {
		memcpy(copy, order, n * sizeof(*copy));
		qsort(a, n, sizeof(*a), aged_cmp);
		for (size_t i = 0; i < n; i++)
			order[i] = copy[a[i].i];
	}
	free(a);
	free(copy);
	return true;
}

static bool
wants_family(const struct cluster_service *s, uint8_t family, bool primary)
{
	size_t i;

	for (i = 0; i < s->n_cluster_ips; i++)
		if (s->cluster_ips[i].family == family)
			return false; /* already has one */
	for (i = 0; i < s->n_ip_families_text; i++)
		if ((family == NETADDR_V4 && !strcmp(s->ip_families_text[i], "IPv4")) ||
		    (family == NETADDR_V6 && !strcmp(s->ip_families_text[i], "IPv6")))
			/* The primary family is wanted even when the secondary CIDR (earlier
			 * in the configuration) was allocated first. */
			return i == 0 || s->family_policy != CLUSTER_FAMILY_SINGLE;
	if (s->n_ip_families_text > 0)
		return false;
	/* Without ipFamilies a dual-stack policy wants both families, whichever the explicit
	 * clusterIP (if any) is: fd00::5 under PreferDualStack also gets an IPv4 address. */
	if (primary && s->n_cluster_ips == 0)
		return true;
	return s->family_policy != CLUSTER_FAMILY_SINGLE;
}

static void
alloc_ips(struct cluster_objects *objs, const struct cluster_config *cfg, struct diag *d,
          struct cluster_service **order, size_t n)
{
	size_t c, i, k;

	for (c = 0; c < cfg->n_service_cidrs; c++) {
		const struct netaddr_prefix *cidr = &cfg->service_cidrs[c];
		uint64_t size = netaddr_prefix_size(cidr), first = 1, last, band;
		struct bitmap used;

		if (netaddr_bits(&cidr->addr) - cidr->len > MAX_HOST_BITS)
			size = (uint64_t)1 << MAX_HOST_BITS;
		/* The network address is never used; IPv4 also keeps its broadcast address. */
		last = cidr->addr.family == NETADDR_V4 ? size - 2 : size - 1;
		band = band_offset(size, 16, 256);
		if (!bitmap_init(&used, size)) {
			diag_add(d, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
			return;
		}
		for (i = 0; i < objs->n_services; i++)
			for (k = 0; k < objs->services[i]->n_cluster_ips; k++)
				if (netaddr_in_prefix(&objs->services[i]->cluster_ips[k], cidr))
					bitmap_set(
					        &used,
					        netaddr_offset(cidr,
					                       &objs->services[i]->cluster_ips[k]));
		for (i = 0; i < n; i++) {
			struct cluster_service *s = order[i];
			uint64_t slot;
			char buf[NETADDR_STRLEN + 4];

			if (s->headless || s->type == CLUSTER_SVC_EXTERNALNAME ||
			    s->n_cluster_ips >= 2 || !wants_family(s, cidr->addr.family, c == 0))
				continue;
			slot = take(&used, first, last, band,
			            hash_name(s->meta.ns, s->meta.name, cidr->addr.family));
			if (slot == UINT64_MAX) {
				build_report(
				        objs, d, DIAG_ERROR, &s->meta, NULL, &s->meta,
				        "spec.clusterIP",
				        "Internal error: failed to allocate a serviceIP: range "
				        "%s is full",
				        netaddr_prefix_str(cidr, buf));
				continue;
			}
			netaddr_at(cidr, slot, &s->cluster_ips[s->n_cluster_ips++]);
			s->cluster_ip_allocated = true;
		}
		free(used.bits);
	}
	/* CIDRs are taken in configuration order; clusterIPs follow ipFamilies ([IPv6, IPv4]
	 * makes the IPv6 address the primary one). */
	for (i = 0; i < n; i++) {
		struct cluster_service *s = order[i];

		if (s->n_cluster_ips == 2 && s->n_ip_families_text > 0 &&
		    !strcmp(s->ip_families_text[0],
		            s->cluster_ips[0].family == NETADDR_V4 ? "IPv6" : "IPv4")) {
			struct netaddr t = s->cluster_ips[0];

			s->cluster_ips[0] = s->cluster_ips[1];
			s->cluster_ips[1] = t;
		}
	}
}

static void
alloc_node_ports(struct cluster_objects *objs, const struct cluster_config *cfg, struct diag *d,
                 struct cluster_service **order, size_t n)
{
	uint64_t size = (uint64_t)(cfg->node_port_max - cfg->node_port_min + 1);
	uint64_t band = size < 16 ? 0 : band_offset(size, 32, 128);
	/* One per protocol, and one for ports taken under any protocol: a healthCheckNodePort
	 * (HTTP) must be free in all three and then blocks all three. */
	struct bitmap used[4];
	size_t i, k, j, p;

	for (p = 0; p < 4; p++) {
		if (!bitmap_init(&used[p], size)) {
			diag_add(d, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
			while (p-- > 0)
				free(used[p].bits);
			return;
		}
	}
	for (i = 0; i < objs->n_services; i++)
		for (k = 0; k < objs->services[i]->n_ports; k++) {
			const struct cluster_port *pt = &objs->services[i]->ports[k];

			if (pt->node_port >= cfg->node_port_min &&
			    pt->node_port <= cfg->node_port_max) {
				bitmap_set(&used[pt->proto],
				           (uint64_t)(pt->node_port - cfg->node_port_min));
				bitmap_set(&used[3],
				           (uint64_t)(pt->node_port - cfg->node_port_min));
			}
		}
	for (i = 0; i < objs->n_services; i++) {
		int32_t hc = objs->services[i]->health_check_node_port;

		if (hc >= cfg->node_port_min && hc <= cfg->node_port_max)
			for (p = 0; p < 4; p++)
				bitmap_set(&used[p], (uint64_t)(hc - cfg->node_port_min));
	}
	for (i = 0; i < n; i++) {
		struct cluster_service *s = order[i];

		if (s->type != CLUSTER_SVC_NODEPORT && s->type != CLUSTER_SVC_LOADBALANCER)
			continue;
		for (k = 0; k < s->n_ports; k++) {
			struct cluster_port *pt = &s->ports[k];
			uint64_t slot = UINT64_MAX;

			if (pt->node_port != 0)
				continue;
			/* The same port number under another protocol shares its nodePort, as the
			 * API server does for 53/UDP + 53/TCP. */
			for (j = 0; j < s->n_ports; j++) {
				const struct cluster_port *o = &s->ports[j];
				uint64_t cand;

				if (j == k || o->port != pt->port || o->proto == pt->proto ||
				    o->node_port == 0)
					continue;
				cand = (uint64_t)(o->node_port - cfg->node_port_min);
				if (!bitmap_test(&used[pt->proto], cand)) {
					slot = cand;
					bitmap_set(&used[pt->proto], slot);
					bitmap_set(&used[3], slot);
					break;
				}
			}
			if (slot == UINT64_MAX)
				slot = take(&used[pt->proto], 0, size - 1, band,
				            hash_name(s->meta.ns, s->meta.name, 1000 + k));
			if (slot == UINT64_MAX) {
				char path[64];

				snprintf(path, sizeof(path), "spec.ports[%zu].nodePort", k);
				build_report(objs, d, DIAG_ERROR, &s->meta, NULL, pt, path,
				             "Internal error: failed to allocate a nodePort: range "
				             "%d-%d is full",
				             cfg->node_port_min, cfg->node_port_max);
				continue;
			}
			bitmap_set(&used[3], slot);
			pt->node_port = cfg->node_port_min + (int32_t)slot;
			pt->node_port_allocated = true;
		}
		/* Its healthCheckNodePort right after its nodePorts, as the API server does. */
		if (s->type == CLUSTER_SVC_LOADBALANCER &&
		    s->external_policy == CLUSTER_POLICY_LOCAL && s->health_check_node_port == 0) {
			uint64_t slot = take(&used[3], 0, size - 1, band,
			                     hash_name(s->meta.ns, s->meta.name, 3000));

			if (slot == UINT64_MAX) {
				build_report(
				        objs, d, DIAG_ERROR, &s->meta, &s->external_policy,
				        &s->meta, "spec.healthCheckNodePort",
				        "Internal error: failed to allocate a healthCheckNodePort: "
				        "range %d-%d is full",
				        cfg->node_port_min, cfg->node_port_max);
				continue;
			}
			for (p = 0; p < 3; p++)
				bitmap_set(&used[p], slot);
			s->health_check_node_port = cfg->node_port_min + (int32_t)slot;
			s->health_check_node_port_allocated = true;
		}
	}
	for (p = 0; p < 4; p++)
		free(used[p].bits);
}

/* The addresses a LoadBalancer service has without allocation: its status ingress IPs, else
 * spec.loadBalancerIP. False when out of memory. */
static bool
explicit_lb_ips(struct cluster_objects *objs, struct cluster_service *s)
{
	size_t i, k, n = 0;

	for (i = 0; i < s->n_ingress; i++)
		n += s->ingress[i].ip_addr.family != NETADDR_NONE;
	/* Room for one address per pool when nothing is explicit. */
	s->lb_ips = arena_calloc(&objs->arena, n > 2 ? n : 2, sizeof(*s->lb_ips));
	if (s->lb_ips == NULL)
		return false;
	s->n_lb_ips = 0;
	for (i = 0; i < s->n_ingress; i++) {
		const struct netaddr *a = &s->ingress[i].ip_addr;
		bool dup = false;

		for (k = 0; k < s->n_lb_ips; k++)
			dup = dup || netaddr_equal(&s->lb_ips[k], a);
		if (a->family != NETADDR_NONE && !dup)
			s->lb_ips[s->n_lb_ips++] = *a;
	}
	if (s->n_lb_ips == 0 && s->load_balancer_ip.family != NETADDR_NONE)
		s->lb_ips[s->n_lb_ips++] = s->load_balancer_ip;
	return true;
}

static bool
has_family(const struct cluster_service *s, uint8_t family)
{
	size_t i;

	for (i = 0; i < s->n_cluster_ips; i++)
		if (s->cluster_ips[i].family == family)
			return true;
	return false;
}

static void
mark_in_pool(struct bitmap *used, const struct netaddr_prefix *pool, const struct netaddr *a)
{
	if (a->family != NETADDR_NONE && netaddr_in_prefix(a, pool))
		bitmap_set(used, netaddr_offset(pool, a));
}

static void
alloc_lb_ips(struct cluster_objects *objs, const struct cluster_config *cfg, struct diag *d,
             struct cluster_service **order, size_t n)
{
	bool *pending = calloc(n + 1, sizeof(*pending));
	size_t c, i, k;

	if (pending == NULL) {
		diag_add(d, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		struct cluster_service *s = order[i];

		if (s->type != CLUSTER_SVC_LOADBALANCER)
			continue;
		if (!explicit_lb_ips(objs, s)) {
			diag_add(d, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
			goto done;
		}
		pending[i] = s->n_lb_ips == 0;
	}
	/* In etcd the addresses are svcctl's to hand out (and claim). */
	for (c = 0; !cfg->require_allocated && c < cfg->n_lb_pools; c++) {
		const struct netaddr_prefix *pool = &cfg->lb_pools[c];
		unsigned host = netaddr_bits(&pool->addr) - pool->len;
		uint64_t size = host > MAX_HOST_BITS ? (uint64_t)1 << MAX_HOST_BITS
		                                     : netaddr_prefix_size(pool);
		uint64_t first = 0, last = size - 1;
		struct bitmap used;

		/* IPv4 keeps its network and broadcast addresses out, IPv6 its subnet-router
		 * anycast address; a /31, /32 or /128 has no such addresses to keep. */
		if (pool->addr.family == NETADDR_V4 && host >= 2) {
			first = 1;
			last = host > MAX_HOST_BITS ? size - 1 : size - 2;
		} else if (pool->addr.family == NETADDR_V6 && host >= 1) {
			first = 1;
		}
		if (!bitmap_init(&used, size)) {
			diag_add(d, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
			goto done;
		}
		/* Every address some service already answers on is taken. */
		for (i = 0; i < objs->n_services; i++) {
			const struct cluster_service *s = objs->services[i];

			for (k = 0; k < s->n_ingress; k++)
				mark_in_pool(&used, pool, &s->ingress[k].ip_addr);
			if (s->type == CLUSTER_SVC_LOADBALANCER)
				mark_in_pool(&used, pool, &s->load_balancer_ip);
			for (k = 0; s->external_ips != NULL && k < s->n_external_ips_text; k++)
				mark_in_pool(&used, pool, &s->external_ips[k]);
			for (k = 0; k < s->n_cluster_ips; k++)
				mark_in_pool(&used, pool, &s->cluster_ips[k]);
		}
		for (i = 0; i < n; i++) {
			struct cluster_service *s = order[i];
			uint64_t slot;
			char buf[NETADDR_STRLEN + 4];

			if (!pending[i] || !has_family(s, pool->addr.family))
				continue;
			slot = probe(
			        &used, first, last + 1,
			        hash_name(s->meta.ns, s->meta.name, 0x4c42u + pool->addr.family));
			if (slot == UINT64_MAX) {
				/* Pending, as a load-balancer controller leaves it. */
				build_report(
				        objs, d, DIAG_WARNING, &s->meta, &s->type, &s->meta,
				        "status.loadBalancer.ingress",
				        "failed to allocate a load-balancer IP: pool %s is full "
				        "(%s); the service stays pending",
				        netaddr_prefix_str(pool, buf), svc_status_str(SVC_EFULL));
				continue;
			}
			bitmap_set(&used, slot);
			netaddr_at(pool, slot, &s->lb_ips[s->n_lb_ips++]);
			s->lb_ip_allocated = true;
		}
		free(used.bits);
	}
	/* The primary family first, as clusterIPs. */
	for (i = 0; i < n; i++) {
		struct cluster_service *s = order[i];

		if (pending[i] && s->n_lb_ips == 2 && s->n_cluster_ips > 0 &&
		    s->lb_ips[0].family != s->cluster_ips[0].family) {
			struct netaddr t = s->lb_ips[0];

			s->lb_ips[0] = s->lb_ips[1];
			s->lb_ips[1] = t;
		}
	}
done:
	free(pending);
}

void
alloc_objects(struct cluster_objects *objs, const struct cluster_config *cfg, struct diag *d)
{
	struct cluster_service **order;

	if (objs->n_services == 0)
		return;
	order = malloc(objs->n_services * sizeof(*order));
	if (order == NULL) {
		diag_add(d, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
		return;
	}
	memcpy(order, objs->services, objs->n_services * sizeof(*order));
	if (!by_name(objs))
		qsort(order, objs->n_services, sizeof(*order), age_cmp);
	else if (!sort_by_age(order, objs->n_services))
		qsort(order, objs->n_services, sizeof(*order), age_cmp);
	alloc_ips(objs, cfg, d, order, objs->n_services);
	alloc_node_ports(objs, cfg, d, order, objs->n_services);
	alloc_lb_ips(objs, cfg, d, order, objs->n_services);
	free(order);
}

void
alloc_copy_results(struct cluster_service *dst, const struct cluster_service *src)
{
	memcpy(dst->cluster_ips, src->cluster_ips, sizeof(dst->cluster_ips));
	dst->n_cluster_ips = src->n_cluster_ips;
	dst->cluster_ip_allocated = src->cluster_ip_allocated;
	for (size_t i = 0; i < dst->n_ports && i < src->n_ports; i++) {
		dst->ports[i].node_port = src->ports[i].node_port;
		dst->ports[i].node_port_allocated = src->ports[i].node_port_allocated;
	}
	dst->health_check_node_port = src->health_check_node_port;
	dst->health_check_node_port_allocated = src->health_check_node_port_allocated;
	dst->lb_ips = src->lb_ips;
	dst->n_lb_ips = src->n_lb_ips;
	dst->lb_ip_allocated = src->lb_ip_allocated;
}
