/* shard.c -- the objects of one namespace and what is derived from them. Everything the
 * endpoints controller reads is namespaced (a selector picks pods of its own namespace, Endpoints
 * and EndpointSlices name a service of theirs), so a shard is built from its namespace alone and
 * consecutive snapshots share the shards of namespaces where nothing changed. */
#include <stdlib.h>
#include <string.h>

#include "build.h"

struct cluster_shard *
shard_ref(struct cluster_shard *sh)
{
	__atomic_add_fetch(&sh->refs, 1, __ATOMIC_RELAXED);
	return sh;
}

void
shard_unref(struct cluster_shard *sh)
{
	if (sh == NULL || __atomic_sub_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < sh->n_units; i++)
		cluster_unit_unref(sh->units[i]);
	free(sh->units);
	arena_deinit(&sh->arena);
	free(sh);
}

static void *
copy_ptrs(struct arena *a, void *const *src, size_t n)
{
	void **p = arena_calloc(a, n ? n : 1, sizeof(*p));

	if (p != NULL && n > 0)
		memcpy(p, src, n * sizeof(*p));
	return p;
}

/* A copy of S in the shard's arena: allocation's results (the port array, load-balancer IPs) are
 * copied with it; the manifest's fields are shared with the unit. */
static struct cluster_service *
service_copy(struct arena *a, const struct cluster_service *src)
{
	struct cluster_service *s = arena_alloc(a, sizeof(*s));

	if (s == NULL)
		return NULL;
	*s = *src;
	if (src->n_ports > 0) {
		s->ports = arena_calloc(a, src->n_ports, sizeof(*s->ports));
		if (s->ports != NULL)
			memcpy(s->ports, src->ports, src->n_ports * sizeof(*s->ports));
	}
	if (src->n_lb_ips > 0) {
		s->lb_ips = arena_calloc(a, src->n_lb_ips, sizeof(*s->lb_ips));
		if (s->lb_ips != NULL)
			memcpy(s->lb_ips, src->lb_ips, src->n_lb_ips * sizeof(*s->lb_ips));
	}
	if ((src->n_ports > 0 && s->ports == NULL) || (src->n_lb_ips > 0 && s->lb_ips == NULL))
		return NULL;
	return s;
}

/* The shard is complete: its copies and derived data into one block of their size (a shard
 * is kept as long as its namespace does not change), unless a pointer into the old blocks is
 * found left over, when the shard stays as built. */
static void
shard_compact(struct cluster_shard *sh)
{
	struct cluster_service **services = sh->services;
	struct cluster_pod **pods = sh->pods;
	struct cluster_endpointslice **slices = sh->slices;
	struct cluster_podstatus **podstatuses = sh->podstatuses;
	struct cluster_endpoints **endpoints = sh->endpoints;
	struct arena_moved mv;

	if (arena_compact(&sh->arena, &mv) != SVC_OK || mv.n == 0)
		return;
	sh->services = arena_moved_ptr(&mv, sh->services);
	for (size_t i = 0; i < sh->n_services; i++) {
		sh->services[i] = arena_moved_ptr(&mv, sh->services[i]);
		objects_relocate(CLUSTER_KIND_SERVICE, &sh->services[i]->meta, &mv);
	}
	sh->pods = arena_moved_ptr(&mv, sh->pods);
	sh->slices = arena_moved_ptr(&mv, sh->slices);
	sh->podstatuses = arena_moved_ptr(&mv, sh->podstatuses);
	sh->endpoints = arena_moved_ptr(&mv, sh->endpoints);
	for (size_t i = 0; i < sh->n_endpoints; i++) {
		struct cluster_endpoints *e = arena_moved_ptr(&mv, sh->endpoints[i]);

		/* The loaded ones are their units', read here and left alone. */
		if (e != sh->endpoints[i])
			sh->endpoints[i] = e;
		objects_relocate(CLUSTER_KIND_ENDPOINTS, &e->meta, &mv);
	}
	if (arena_moved_clean(&mv, &sh->arena)) {
		arena_moved_done(&mv);
		return;
	}
	arena_moved_undo(&mv, &sh->arena);
	sh->services = services;
	sh->pods = pods;
	sh->slices = slices;
	sh->podstatuses = podstatuses;
	sh->endpoints = endpoints;
}

enum svc_status
shard_build(const struct cluster_config *cfg, const struct shard_input *in,
            struct cluster_unit *const *units, size_t n_units, struct diag *d,
            struct cluster_shard **out)
{
	struct cluster_shard *sh = calloc(1, sizeof(*sh));
	struct cluster mini;
	enum svc_status st = SVC_ENOMEM;
	size_t i;

	*out = NULL;
	memset(&mini, 0, sizeof(mini));
	if (sh == NULL)
		goto done;
	sh->refs = 1;
	arena_init(&sh->arena);
	sh->ns = in->ns;
	if (n_units > 0) {
		sh->units = malloc(n_units * sizeof(*sh->units));
		if (sh->units == NULL)
			goto done;
		for (i = 0; i < n_units; i++)
			sh->units[sh->n_units++] = cluster_unit_ref(units[i]);
	}
	sh->services = arena_calloc(&sh->arena, in->n_services + 1, sizeof(*sh->services));
	sh->pods = copy_ptrs(&sh->arena, (void *const *)in->pods, in->n_pods);
	sh->slices = copy_ptrs(&sh->arena, (void *const *)in->slices, in->n_slices);
	sh->podstatuses = copy_ptrs(&sh->arena, (void *const *)in->podstatuses, in->n_podstatuses);
	if (sh->services == NULL || sh->pods == NULL || sh->slices == NULL ||
	    sh->podstatuses == NULL)
		goto done;
	for (i = 0; i < in->n_services; i++) {
		sh->services[i] = service_copy(&sh->arena, in->services[i]);
		if (sh->services[i] == NULL ||
		    build_fill_service(&sh->arena, sh->services[i]) != SVC_OK)
			goto done;
	}
	sh->n_services = in->n_services;
	sh->n_pods = in->n_pods;
	sh->n_slices = in->n_slices;
	sh->n_podstatuses = in->n_podstatuses;
	/* The endpoints controller over this namespace alone. */
	mini.config = *cfg;
	mini.nodes_down = (const char **)in->nodes_down;
	mini.n_nodes_down = in->n_nodes_down;
	mini.services = sh->services;
	mini.n_services = sh->n_services;
	mini.pods = sh->pods;
	mini.n_pods = sh->n_pods;
	mini.endpoints = (struct cluster_endpoints **)in->endpoints;
	mini.n_endpoints = in->n_endpoints;
	mini.slices = sh->slices;
	mini.n_slices = sh->n_slices;
	mini.podstatuses = sh->podstatuses;
	mini.n_podstatuses = sh->n_podstatuses;
	st = endpoints_compute(&mini, &sh->arena, d);
	if (st != SVC_OK)
		goto done;
	sh->endpoints = mini.endpoints;
	sh->n_endpoints = mini.n_endpoints;
	shard_compact(sh); /* complete: snapshots share it as it is */
	*out = sh;
	sh = NULL;
done:
	shard_unref(sh);
	return st;
}
