/* store.c -- the object store: units of validated objects, and snapshots made of them. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "claims.h"
#include "htab.h"

struct store_unit {
	struct htab_node hn; /* in store.units by name */
	char *name;
	struct cluster_unit *good; /* the last valid version; NULL: none */
	bool failing;              /* the last version put was invalid */
};

struct store {
	struct cluster_config cfg;
	struct htab units;
	size_t n_units, n_failing;
	/* Bumped by each snapshot: objects put since the last one are newer than all it holds. */
	uint64_t gen;
	bool config_checked;
};

enum svc_status
store_create(const struct cluster_config *cfg, struct store **out)
{
	struct store *s = calloc(1, sizeof(*s));

	*out = s;
	if (s == NULL)
		return SVC_ENOMEM;
	s->cfg = *cfg;
	s->gen = 1;
	htab_init(&s->units);
	return SVC_OK;
}

static void
unit_free(struct store_unit *u)
{
	cluster_unit_unref(u->good);
	free(u->name);
	free(u);
}

void
store_destroy(struct store *s)
{
	struct htab_iter it;
	struct htab_node *n;

	if (s == NULL)
		return;
	for (n = htab_first(&it, &s->units); n != NULL; n = htab_iter_next(&it))
		unit_free(htab_item(n, struct store_unit, hn));
	htab_deinit(&s->units);
	free(s);
}

static struct store_unit *
unit_find(const struct store *s, const char *name, uint32_t h)
{
	for (struct htab_node *n = htab_find(&s->units, h); n != NULL; n = htab_next(n, h)) {
		struct store_unit *u = htab_item(n, struct store_unit, hn);

		if (strcmp(u->name, name) == 0)
			return u;
	}
	return NULL;
}

/* ---- how long an object has held its name and claims ----------------------------------- */

/* An object of the unit's previous version, found by kind and name. */
struct prev {
	struct htab_node hn;
	enum cluster_kind kind;
	const struct cluster_meta *meta;
};

static uint32_t
prev_hash(enum cluster_kind kind, const struct cluster_meta *m)
{
	return htab_hash_str(m->name, htab_hash_str(m->ns ? m->ns : "", (uint32_t)kind + 1));
}

static void *const *
objects_of(const struct cluster_objects *o, enum cluster_kind k, size_t *n)
{
	switch (k) {
	case CLUSTER_KIND_SERVICE:
		*n = o->n_services;
		return (void *const *)o->services;
	case CLUSTER_KIND_POD:
		*n = o->n_pods;
		return (void *const *)o->pods;
	case CLUSTER_KIND_ENDPOINTS:
		*n = o->n_endpoints;
		return (void *const *)o->endpoints;
	case CLUSTER_KIND_ENDPOINTSLICE:
		*n = o->n_slices;
		return (void *const *)o->slices;
	case CLUSTER_KIND_NAMESPACE:
	case CLUSTER_KIND_COUNT:
		break;
	}
	*n = o->n_namespaces;
	return (void *const *)o->namespaces;
}

static bool
same_claims(const struct cluster_service *a, const struct cluster_service *b)
{
	size_t i, j;

	if (a->n_cluster_ips != b->n_cluster_ips ||
	    a->health_check_node_port != b->health_check_node_port)
		return false;
	for (i = 0; i < a->n_cluster_ips; i++)
		if (!netaddr_equal(&a->cluster_ips[i], &b->cluster_ips[i]))
			return false;
	/* The explicit nodePorts, in order. */
	for (i = j = 0;; i++, j++) {
		while (i < a->n_ports && a->ports[i].node_port == 0)
			i++;
		while (j < b->n_ports && b->ports[j].node_port == 0)
			j++;
		if (i == a->n_ports || j == b->n_ports)
			return i == a->n_ports && j == b->n_ports;
		if (a->ports[i].node_port != b->ports[j].node_port ||
		    a->ports[i].proto != b->ports[j].proto)
			return false;
	}
}

/* Stamp each object of NEW with the generation since which it has held its name and claims: an
 * object the unit had before with the same claims keeps its stamp. */
static enum svc_status
stamp_since(const struct store *s, const struct cluster_objects *old, struct cluster_objects *new)
{
	struct prev *prevs = NULL;
	struct htab tab;
	size_t total = 0, n, i, k = 0;
	enum svc_status st = SVC_OK;

	htab_init(&tab);
	for (int kind = 0; old != NULL && kind < CLUSTER_KIND_COUNT; kind++) {
		objects_of(old, (enum cluster_kind)kind, &n);
		total += n;
	}
	if (total > 0) {
		prevs = calloc(total, sizeof(*prevs));
		if (prevs == NULL || htab_reserve(&tab, total) != SVC_OK) {
			st = SVC_ENOMEM;
			goto done;
		}
		for (int kind = 0; kind < CLUSTER_KIND_COUNT; kind++) {
			void *const *items = objects_of(old, (enum cluster_kind)kind, &n);

			for (i = 0; i < n; i++, k++) {
				prevs[k].kind = (enum cluster_kind)kind;
				prevs[k].meta = items[i];
				htab_insert(&tab, &prevs[k].hn, prev_hash(prevs[k].kind, items[i]));
			}
		}
	}
	for (int kind = 0; kind < CLUSTER_KIND_COUNT; kind++) {
		void *const *items = objects_of(new, (enum cluster_kind)kind, &n);

		for (i = 0; i < n; i++) {
			struct cluster_meta *m = items[i];
			uint32_t h = prev_hash((enum cluster_kind)kind, m);
			const struct prev *p = NULL;

			m->since = s->gen;
			for (struct htab_node *hn = htab_find(&tab, h); hn != NULL && p == NULL;
			     hn = htab_next(hn, h)) {
				const struct prev *c = htab_item(hn, struct prev, hn);

				if (c->kind == (enum cluster_kind)kind &&
				    strcmp(c->meta->name, m->name) == 0 &&
				    strcmp(c->meta->ns ? c->meta->ns : "", m->ns ? m->ns : "") == 0)
					p = c;
			}
			if (p != NULL && (kind != CLUSTER_KIND_SERVICE ||
			                  same_claims((const void *)p->meta, (const void *)m)))
				m->since = p->meta->since;
		}
	}
done:
	htab_deinit(&tab);
	free(prevs);
	return st;
}

/* Keep the positions of what other units may contest, before the positions map goes. */
static void
keep_claim_positions(struct cluster_objects *o)
{
	size_t n, i, k;

	for (int kind = 0; kind < CLUSTER_KIND_COUNT; kind++) {
		void *const *items = objects_of(o, (enum cluster_kind)kind, &n);

		for (i = 0; i < n; i++) {
			struct cluster_meta *m = items[i];

			cluster_objects_pos(o, &m->name, &m->name_pos.line, &m->name_pos.col);
		}
	}
	for (i = 0; i < o->n_services; i++) {
		struct cluster_service *s = o->services[i];

		for (k = 0; k < s->n_cluster_ips && k < 2; k++) {
			const void *field =
			        k == 0 && s->cluster_ip_text ? (const void *)&s->cluster_ip_text
			        : k < s->n_cluster_ips_text  ? (const void *)&s->cluster_ips_text[k]
			                                     : NULL;

			if (field != NULL)
				cluster_objects_pos(o, field, &s->cluster_ip_pos[k].line,
				                    &s->cluster_ip_pos[k].col);
		}
		for (k = 0; k < s->n_ports; k++) {
			cluster_objects_pos(o, &s->ports[k].node_port,
			                    &s->ports[k].node_port_pos.line,
			                    &s->ports[k].node_port_pos.col);
			cluster_objects_object_pos(o, &s->ports[k], &s->ports[k].pos.line,
			                           &s->ports[k].pos.col);
		}
		cluster_objects_pos(o, &s->type, &s->type_pos.line, &s->type_pos.col);
		cluster_objects_pos(o, &s->external_policy, &s->external_policy_pos.line,
		                    &s->external_policy_pos.col);
		cluster_objects_pos(o, &s->health_check_node_port,
		                    &s->health_check_node_port_pos.line,
		                    &s->health_check_node_port_pos.col);
	}
}

/* ---- units ----------------------------------------------------------------------------- */

enum svc_status
store_put(struct store *s, const char *name, struct cluster_objects *objs, struct diag *d,
          bool load_failed)
{
	uint32_t h = htab_hash_str(name, 0);
	struct store_unit *u = unit_find(s, name, h);
	struct cluster_unit *cu = NULL;
	size_t errors = d->errors;
	enum svc_status st = SVC_OK;

	if (u == NULL) {
		u = calloc(1, sizeof(*u));
		if (u == NULL || (u->name = strdup(name)) == NULL ||
		    htab_insert(&s->units, &u->hn, h) != SVC_OK) {
			if (u != NULL)
				free(u->name);
			free(u);
			st = SVC_ENOMEM;
			goto done;
		}
		s->n_units++;
	}
	validate_objects(objs, &s->cfg, d);
	if (load_failed || d->errors != errors) {
		st = SVC_EINVAL;
		if (!u->failing)
			s->n_failing++;
		u->failing = true;
		goto done;
	}
	cu = calloc(1, sizeof(*cu));
	if (cu == NULL) {
		st = SVC_ENOMEM;
		goto done;
	}
	cu->refs = 1;
	cu->objs = *objs;
	cluster_objects_init(objs);
	/* Only the checks read source positions: a kept object costs its data alone. */
	keep_claim_positions(&cu->objs);
	cluster_objects_forget_positions(&cu->objs);
	st = stamp_since(s, u->good ? &u->good->objs : NULL, &cu->objs);
	if (st != SVC_OK)
		goto done;
	cluster_unit_unref(u->good);
	u->good = cu;
	cu = NULL;
	if (u->failing)
		s->n_failing--;
	u->failing = false;
done:
	cluster_unit_unref(cu);
	cluster_objects_deinit(objs);
	cluster_objects_init(objs);
	return st;
}

void
store_delete(struct store *s, const char *name)
{
	struct store_unit *u = unit_find(s, name, htab_hash_str(name, 0));

	if (u == NULL)
		return;
	htab_remove(&s->units, &u->hn);
	s->n_units--;
	if (u->failing)
		s->n_failing--;
	unit_free(u);
}

void
store_each_unit(const struct store *s, void (*fn)(void *arg, const char *name), void *arg)
{
	struct htab_iter it;
	struct htab_node *n;

	/* FN may delete the unit it is given: the iterator allows removing the current node. */
	for (n = htab_first(&it, &s->units); n != NULL; n = htab_iter_next(&it))
		fn(arg, htab_item(n, struct store_unit, hn)->name);
}

size_t
store_failing(const struct store *s)
{
	return s->n_failing;
}

size_t
store_units(const struct store *s)
{
	return s->n_units;
}

/* ---- snapshots ------------------------------------------------------------------------- */

/* Append the N pointers of SRC to *DST (room reserved by the caller). */
static void
append(void **dst, size_t *n, void *const *src, size_t count)
{
	if (count > 0)
		memcpy(dst + *n, src, count * sizeof(*src));
	*n += count;
}

/* A service the snapshot may write into (allocation, endpoints): a copy of the unit's, in the
 * snapshot's arena, sharing every field allocation does not write. */
static struct cluster_service *
service_copy(struct arena *a, const struct cluster_service *src)
{
	struct cluster_service *s = arena_alloc(a, sizeof(*s));

	if (s == NULL)
		return NULL;
	*s = *src;
	if (src->n_ports > 0) {
		s->ports = arena_calloc(a, src->n_ports, sizeof(*s->ports));
		if (s->ports == NULL)
			return NULL;
		memcpy(s->ports, src->ports, src->n_ports * sizeof(*s->ports));
	}
	return s;
}

enum svc_status
store_snapshot(struct store *s, struct diag *d, struct cluster **out)
{
	struct cluster_objects view;
	struct cluster_unit **units = NULL;
	struct htab_iter it;
	struct htab_node *hn;
	size_t n_units = 0, tot[CLUSTER_KIND_COUNT] = {0}, n, i;
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	cluster_objects_init(&view);
	if (!s->config_checked) {
		validate_config(&s->cfg, d);
		s->config_checked = true;
	}
	units = malloc((s->n_units + 1) * sizeof(*units));
	if (units == NULL)
		goto done;
	for (hn = htab_first(&it, &s->units); hn != NULL; hn = htab_iter_next(&it)) {
		struct store_unit *u = htab_item(hn, struct store_unit, hn);

		if (u->good == NULL)
			continue;
		units[n_units++] = cluster_unit_ref(u->good);
		for (int k = 0; k < CLUSTER_KIND_COUNT; k++) {
			objects_of(&u->good->objs, (enum cluster_kind)k, &n);
			tot[k] += n;
		}
	}
	view.services = malloc((tot[CLUSTER_KIND_SERVICE] + 1) * sizeof(void *));
	view.pods = malloc((tot[CLUSTER_KIND_POD] + 1) * sizeof(void *));
	view.endpoints = malloc((tot[CLUSTER_KIND_ENDPOINTS] + 1) * sizeof(void *));
	view.slices = malloc((tot[CLUSTER_KIND_ENDPOINTSLICE] + 1) * sizeof(void *));
	view.namespaces = malloc((tot[CLUSTER_KIND_NAMESPACE] + 1) * sizeof(void *));
	if (view.services == NULL || view.pods == NULL || view.endpoints == NULL ||
	    view.slices == NULL || view.namespaces == NULL)
		goto done;
	for (i = 0; i < n_units; i++) {
		const struct cluster_objects *o = &units[i]->objs;

		for (size_t k = 0; k < o->n_services; k++) {
			struct cluster_service *c = service_copy(&view.arena, o->services[k]);

			if (c == NULL)
				goto done;
			view.services[view.n_services++] = c;
		}
		append((void **)view.pods, &view.n_pods, (void *const *)o->pods, o->n_pods);
		append((void **)view.endpoints, &view.n_endpoints, (void *const *)o->endpoints,
		       o->n_endpoints);
		append((void **)view.slices, &view.n_slices, (void *const *)o->slices, o->n_slices);
		append((void **)view.namespaces, &view.n_namespaces, (void *const *)o->namespaces,
		       o->n_namespaces);
	}
	st = claims_resolve(&view, d);
	if (st != SVC_OK)
		goto done;
	st = build_snapshot(&view, &s->cfg, d, false, units, n_units, out);
	units = NULL;
	n_units = 0;
	s->gen++;
done:
	for (i = 0; i < n_units; i++)
		cluster_unit_unref(units[i]);
	free(units);
	cluster_objects_deinit(&view);
	return st;
}
