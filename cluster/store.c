/* store.c -- the object store: units of validated objects, and snapshots made of them. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "claims.h"
#include "htab.h"
#include "schema.h"

struct store_unit {
	struct htab_node hn; /* in store.units by name */
	char *name;
	struct cluster_unit *good; /* the last valid version; NULL: none */
	bool failing;              /* the last version put was invalid */
};

/* A namespace where something changed since the last snapshot. */
struct dirty_ns {
	struct htab_node hn;
	char name[];
};

struct store {
	struct cluster_config cfg;
	struct htab units;
	size_t n_units, n_failing;
	/* Bumped by each snapshot: objects put since the last one are newer than all it holds. */
	uint64_t gen;
	bool config_checked;
	/* The last snapshot, whose shards the next one shares where nothing changed. */
	struct cluster *last;
	struct htab dirty; /* struct dirty_ns by name */
	bool all_dirty;    /* no shard can be shared (no snapshot yet, or memory ran out) */
	/* A service came, went, changed or moved since the last snapshot: claims and allocation
	 * run over every service again. Otherwise the last snapshot's results hold as they are
	 * (they are a function of the services alone) and what that pass reported is reported
	 * again. */
	bool services_changed;
	struct diag services_diag;
	bool reuse_failed; /* a service of the last snapshot was not found in the units */
	/* The units that hold objects, in the order of their first objects; sorted again only
	 * when a unit came, went or begins with another object. */
	struct store_unit **order;
	size_t n_order;
	bool order_stale;
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
	s->all_dirty = true;
	s->services_changed = true;
	s->order_stale = true;
	diag_init(&s->services_diag);
	htab_init(&s->units);
	htab_init(&s->dirty);
	return SVC_OK;
}

static void
dirty_clear(struct store *s)
{
	struct htab_iter it;
	struct htab_node *n;

	for (n = htab_first(&it, &s->dirty); n != NULL; n = htab_iter_next(&it)) {
		htab_remove(&s->dirty, n);
		free(htab_item(n, struct dirty_ns, hn));
	}
}

static bool
is_dirty(const struct store *s, const char *ns)
{
	uint32_t h = htab_hash_str(ns, 0);

	for (struct htab_node *n = htab_find(&s->dirty, h); n != NULL; n = htab_next(n, h))
		if (strcmp(htab_item(n, struct dirty_ns, hn)->name, ns) == 0)
			return true;
	return false;
}

static void
mark_dirty(struct store *s, const char *ns)
{
	size_t len = strlen(ns);
	struct dirty_ns *e;

	if (s->all_dirty || is_dirty(s, ns))
		return;
	e = malloc(sizeof(*e) + len + 1);
	if (e == NULL || htab_insert(&s->dirty, &e->hn, htab_hash_str(ns, 0)) != SVC_OK) {
		free(e);
		s->all_dirty = true; /* cannot say which: none is shared */
		return;
	}
	memcpy(e->name, ns, len + 1);
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
	dirty_clear(s);
	htab_deinit(&s->dirty);
	diag_deinit(&s->services_diag);
	free(s->order);
	cluster_unref(s->last);
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
	return (void *const *)cluster_objects_of(o, k, n);
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

			if (m->since != 0)
				continue; /* a copy of a stamped object (cluster_objects_copy) */
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

/* Every namespace O's namespaced objects are in: what changes when O comes or goes. */
static void
mark_dirty_objects(struct store *s, const struct cluster_objects *o)
{
	size_t n, i;

	if (o == NULL)
		return;
	for (int kind = 0; kind < CLUSTER_KIND_COUNT; kind++) {
		void *const *items = objects_of(o, (enum cluster_kind)kind, &n);
		const char *prev = NULL;

		if (!schema_kinds[kind].namespaced)
			continue;
		/* In namespace order: each namespace once per run. */
		for (i = 0; i < n; i++) {
			const char *ns = ((const struct cluster_meta *)items[i])->ns;

			if (ns != NULL && (prev == NULL || strcmp(prev, ns) != 0))
				mark_dirty(s, ns);
			prev = ns;
		}
	}
}

static const size_t all_objects[CLUSTER_KIND_COUNT];

/* Keep the positions of what other units may contest, before the positions map goes. */
static void
keep_claim_positions(struct cluster_objects *o, const size_t from[CLUSTER_KIND_COUNT])
{
	size_t n, i, k;

	for (int kind = 0; kind < CLUSTER_KIND_COUNT; kind++) {
		void *const *items = objects_of(o, (enum cluster_kind)kind, &n);

		for (i = from[kind]; i < n; i++) {
			struct cluster_meta *m = items[i];

			cluster_objects_pos(o, &m->name, &m->name_pos.line, &m->name_pos.col);
		}
	}
	for (i = from[CLUSTER_KIND_SERVICE]; i < o->n_services; i++) {
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

static bool
same_pos(const struct cluster_pos *a, const struct cluster_pos *b)
{
	return a->line == b->line && a->col == b->col;
}

/* Whether A and B are one service to claims and allocation, and to their reports: the same
 * manifest fields, held since the same generation, written in the same place. */
static bool
same_service(const struct cluster_service *a, const struct cluster_service *b)
{
	const struct cluster_meta *ma = &a->meta, *mb = &b->meta;

	if (!schema_equal(schema_kinds[CLUSTER_KIND_SERVICE].doc, a, b) || ma->since != mb->since ||
	    ma->origin.line != mb->origin.line || !same_pos(&ma->name_pos, &mb->name_pos) ||
	    strcmp(ma->origin.file ? ma->origin.file : "",
	           mb->origin.file ? mb->origin.file : "") ||
	    !same_pos(&a->cluster_ip_pos[0], &b->cluster_ip_pos[0]) ||
	    !same_pos(&a->cluster_ip_pos[1], &b->cluster_ip_pos[1]) ||
	    !same_pos(&a->health_check_node_port_pos, &b->health_check_node_port_pos) ||
	    !same_pos(&a->type_pos, &b->type_pos) ||
	    !same_pos(&a->external_policy_pos, &b->external_policy_pos))
		return false;
	for (size_t k = 0; k < a->n_ports; k++)
		if (!same_pos(&a->ports[k].pos, &b->ports[k].pos) ||
		    !same_pos(&a->ports[k].node_port_pos, &b->ports[k].node_port_pos))
			return false;
	return true;
}

/* Note whether a unit going from OLD to NEW objects (either may be NULL) changes its services. */
static void
note_services(struct store *s, const struct cluster_objects *old, const struct cluster_objects *new)
{
	size_t n_old = old ? old->n_services : 0, n_new = new ? new->n_services : 0;

	if (n_old != n_new) {
		s->services_changed = true;
		return;
	}
	for (size_t i = 0; i < n_old && !s->services_changed; i++)
		if (!same_service(old->services[i], new->services[i]))
			s->services_changed = true;
}

/* ---- units ----------------------------------------------------------------------------- */

static const struct cluster_meta *unit_first(const struct cluster_unit *u);
static int meta_name_cmp(const struct cluster_meta *a, const struct cluster_meta *b);

/* Whether a unit going from OLD to NEW (either may be NULL) may move in the order of units. */
static bool
moves_in_order(const struct cluster_unit *old, const struct cluster_unit *new)
{
	const struct cluster_meta *a = old ? unit_first(old) : NULL;
	const struct cluster_meta *b = new ? unit_first(new) : NULL;

	return a == NULL || b == NULL || meta_name_cmp(a, b) != 0;
}

enum svc_status
store_check(const struct store *s, struct cluster_objects *objs,
            const size_t from[CLUSTER_KIND_COUNT], struct diag *d)
{
	size_t errors = d->errors;

	validate_objects_from(objs, &s->cfg, d, from);
	if (d->errors != errors)
		return SVC_EINVAL;
	keep_claim_positions(objs, from);
	return SVC_OK;
}

void
store_inherit(enum cluster_kind k, struct cluster_meta *m, const struct cluster_meta *old)
{
	if (k != CLUSTER_KIND_SERVICE ||
	    same_claims((const struct cluster_service *)old, (const struct cluster_service *)m))
		m->since = old->since;
}

void
store_stamp_new(const struct store *s, struct cluster_meta *m)
{
	m->since = s->gen;
}

const struct cluster_objects *
store_objects(const struct store *s, const char *name)
{
	const struct store_unit *u = unit_find(s, name, htab_hash_str(name, 0));

	return u != NULL && u->good != NULL ? &u->good->objs : NULL;
}

static enum svc_status put(struct store *s, const char *name, struct cluster_objects *objs,
                           struct diag *d, bool load_failed, bool checked);

enum svc_status
store_put(struct store *s, const char *name, struct cluster_objects *objs, struct diag *d,
          bool load_failed)
{
	return put(s, name, objs, d, load_failed, false);
}

enum svc_status
store_put_checked(struct store *s, const char *name, struct cluster_objects *objs, struct diag *d)
{
	return put(s, name, objs, d, false, true);
}

static enum svc_status
put(struct store *s, const char *name, struct cluster_objects *objs, struct diag *d,
    bool load_failed, bool checked)
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
	if (!checked)
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
	keep_claim_positions(&cu->objs, all_objects);
	cluster_objects_forget_positions(&cu->objs);
	(void)cluster_objects_compact(&cu->objs); /* else kept as parsed */
	st = stamp_since(s, u->good ? &u->good->objs : NULL, &cu->objs);
	if (st != SVC_OK)
		goto done;
	mark_dirty_objects(s, u->good ? &u->good->objs : NULL);
	mark_dirty_objects(s, &cu->objs);
	note_services(s, u->good ? &u->good->objs : NULL, &cu->objs);
	if (moves_in_order(u->good, cu))
		s->order_stale = true;
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

static void
move_pos(struct cluster_pos *p, long dline)
{
	if (p->line != 0)
		p->line = (uint32_t)((long)p->line + dline);
}

void
store_move(struct store *s, const char *name, long dline, long dbyte)
{
	struct store_unit *u = unit_find(s, name, htab_hash_str(name, 0));
	size_t n, i, k;

	if (u == NULL || u->good == NULL)
		return;
	if (dline != 0)
		note_services(s, &u->good->objs, NULL); /* their reports' lines move */
	for (int kind = 0; kind < CLUSTER_KIND_COUNT; kind++) {
		void *const *items = objects_of(&u->good->objs, (enum cluster_kind)kind, &n);

		for (i = 0; i < n; i++) {
			struct cluster_meta *m = items[i];

			m->origin.line = (uint32_t)((long)m->origin.line + dline);
			m->origin.doc_start = (uint32_t)((long)m->origin.doc_start + dbyte);
			m->origin.doc_end = (uint32_t)((long)m->origin.doc_end + dbyte);
			move_pos(&m->name_pos, dline);
		}
	}
	for (i = 0; i < u->good->objs.n_services; i++) {
		struct cluster_service *sv = u->good->objs.services[i];

		move_pos(&sv->cluster_ip_pos[0], dline);
		move_pos(&sv->cluster_ip_pos[1], dline);
		move_pos(&sv->health_check_node_port_pos, dline);
		move_pos(&sv->type_pos, dline);
		move_pos(&sv->external_policy_pos, dline);
		for (k = 0; k < sv->n_ports; k++) {
			move_pos(&sv->ports[k].pos, dline);
			move_pos(&sv->ports[k].node_port_pos, dline);
		}
	}
}

void
store_delete(struct store *s, const char *name)
{
	struct store_unit *u = unit_find(s, name, htab_hash_str(name, 0));

	if (u == NULL)
		return;
	htab_remove(&s->units, &u->hn);
	mark_dirty_objects(s, u->good ? &u->good->objs : NULL);
	note_services(s, u->good ? &u->good->objs : NULL, NULL);
	s->order_stale = true;
	s->n_units--;
	if (u->failing)
		s->n_failing--;
	unit_free(u);
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

/* A service allocation may write into: a copy of the unit's, in arena A. */
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

static int
ns_cmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int
meta_name_cmp(const struct cluster_meta *a, const struct cluster_meta *b)
{
	int c = ns_cmp(a->ns, b->ns);

	return c ? c : strcmp(a->name, b->name);
}

/* Whether allocation gave A and B (one service in two snapshots) the same addresses and ports. */
static bool
same_alloc(const struct cluster_service *a, const struct cluster_service *b)
{
	size_t i;

	if (a->n_cluster_ips != b->n_cluster_ips || a->n_ports != b->n_ports ||
	    a->health_check_node_port != b->health_check_node_port || a->n_lb_ips != b->n_lb_ips)
		return false;
	for (i = 0; i < a->n_cluster_ips; i++)
		if (!netaddr_equal(&a->cluster_ips[i], &b->cluster_ips[i]))
			return false;
	for (i = 0; i < a->n_ports; i++)
		if (a->ports[i].node_port != b->ports[i].node_port)
			return false;
	for (i = 0; i < a->n_lb_ips; i++)
		if (!netaddr_equal(&a->lb_ips[i], &b->lb_ips[i]))
			return false;
	return true;
}

/* Mark the namespaces of services that came, went or were allocated differently since the last
 * snapshot: a change in one namespace can move an unpinned service of another. Both lists are in
 * namespace and name order. */
static void
diff_allocation(struct store *s, struct cluster_service *const *now, size_t n_now)
{
	const struct cluster *last = s->last;
	size_t i = 0, k = 0;

	while (i < n_now || k < last->n_services) {
		int c = i == n_now ? 1
		        : k == last->n_services
		                ? -1
		                : meta_name_cmp(&now[i]->meta, &last->services[k]->meta);

		if (c < 0) {
			mark_dirty(s, now[i++]->meta.ns);
		} else if (c > 0) {
			mark_dirty(s, last->services[k++]->meta.ns);
		} else {
			if (!same_alloc(now[i], last->services[k]))
				mark_dirty(s, now[i]->meta.ns);
			i++;
			k++;
		}
	}
}

/* The first index of ITEMS[0..N) (namespace order) in namespace NS or after it. */
static size_t
ns_lower(void *const *items, size_t n, const char *ns)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ns_cmp(((const struct cluster_meta *)items[mid])->ns, ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The run of ITEMS in namespace NS: [*FROM, return). */
static size_t
ns_range(void *const *items, size_t n, const char *ns, size_t *from)
{
	size_t i = ns_lower(items, n, ns);

	*from = i;
	while (i < n && ns_cmp(((const struct cluster_meta *)items[i])->ns, ns) == 0)
		i++;
	return i;
}

static const struct cluster_shard *
last_shard(const struct cluster *last, const char *ns)
{
	size_t lo = 0, hi = last ? last->n_shards : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = ns_cmp(last->shards[mid]->ns, ns);

		if (c == 0)
			return last->shards[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The first object of a unit (any kind, in namespace and name order), or NULL. */
static const struct cluster_meta *
unit_first(const struct cluster_unit *u)
{
	const struct cluster_meta *best = NULL;
	size_t n;

	for (int kind = 0; kind < CLUSTER_KIND_COUNT; kind++) {
		void *const *items = objects_of(&u->objs, (enum cluster_kind)kind, &n);

		if (schema_kinds[kind].namespaced && n > 0 &&
		    (best == NULL || meta_name_cmp(items[0], best) < 0))
			best = items[0];
	}
	return best;
}

/* A unit with its first object, found once for sorting. */
struct unit_key {
	const struct cluster_meta *first;
	struct store_unit *u;
};

static int
unit_cmp(const void *pa, const void *pb)
{
	const struct cluster_meta *a = ((const struct unit_key *)pa)->first;
	const struct cluster_meta *b = ((const struct unit_key *)pb)->first;

	if (a == NULL || b == NULL)
		return (a == NULL) - (b == NULL);
	return meta_name_cmp(a, b);
}

/* S's order of units made again. False when out of memory. */
static bool
sort_units(struct store *s)
{
	struct unit_key *keys = malloc((s->n_units + 1) * sizeof(*keys));
	struct store_unit **order = malloc((s->n_units + 1) * sizeof(*order));
	struct htab_iter it;
	struct htab_node *hn;
	size_t n = 0;

	if (keys == NULL || order == NULL) {
		free(keys);
		free(order);
		return false;
	}
	for (hn = htab_first(&it, &s->units); hn != NULL; hn = htab_iter_next(&it)) {
		struct store_unit *u = htab_item(hn, struct store_unit, hn);

		if (u->good != NULL)
			keys[n++] = (struct unit_key){unit_first(u->good), u};
	}
	qsort(keys, n, sizeof(*keys), unit_cmp);
	for (size_t i = 0; i < n; i++)
		order[i] = keys[i].u;
	free(keys);
	free(s->order);
	s->order = order;
	s->n_order = n;
	s->order_stale = false;
	return true;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The namespaced kinds a shard holds besides services. */
#define N_SHARD_KINDS 4
static const enum cluster_kind shard_kinds[N_SHARD_KINDS] = {
        CLUSTER_KIND_POD, CLUSTER_KIND_ENDPOINTS, CLUSTER_KIND_ENDPOINTSLICE,
        CLUSTER_KIND_PODSTATUS};
static const char *const shard_kind_names[N_SHARD_KINDS] = {"pod", "endpoints", "endpointslice",
                                                            "podstatus"};

struct gather {
	void **items[N_SHARD_KINDS]; /* SHARD_KINDS of one namespace */
	size_t n[N_SHARD_KINDS];
	struct cluster_unit **units; /* those they live in */
	size_t n_units;
	/* Per unit of the snapshot: the first and last namespace it holds objects in (NULL: none),
	 * so a namespace is looked for only in the units that may hold it. */
	const char **lo, **hi;
	/* The greatest HI of the units up to each: the units before the first whose MAXHI reaches
	 * a namespace hold nothing of it. */
	const char **maxhi;
	/* Reusing the last allocation: the namespace's services of now, and where their copies
	 * go. */
	struct cluster_service **now;
	size_t n_now;
	struct cluster_service **made;
	struct arena *arena;
	const char **down; /* the nodes down now (cluster.nodes_down) */
	size_t n_down;
};

/* The namespace range of unit U into *LO and *HI (both NULL when it holds no namespaced
 * object). */
static void
unit_ns_range(const struct cluster_unit *u, const char **lo, const char **hi)
{
	size_t n;

	*lo = *hi = NULL;
	for (int kind = 0; kind < CLUSTER_KIND_COUNT; kind++) {
		void *const *items = objects_of(&u->objs, (enum cluster_kind)kind, &n);

		if (!schema_kinds[kind].namespaced || n == 0)
			continue;
		if (*lo == NULL || ns_cmp(((const struct cluster_meta *)items[0])->ns, *lo) < 0)
			*lo = ((const struct cluster_meta *)items[0])->ns;
		if (*hi == NULL || ns_cmp(((const struct cluster_meta *)items[n - 1])->ns, *hi) > 0)
			*hi = ((const struct cluster_meta *)items[n - 1])->ns;
	}
}

/* The first of the N units (in the order of their first objects) that may hold namespace NS. */
static size_t
units_from(const struct gather *g, size_t n, const char *ns)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g->maxhi[mid] == NULL || ns_cmp(g->maxhi[mid], ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Services by name, then where they are written. */
static int
written_cmp(const void *pa, const void *pb)
{
	const struct cluster_meta *a = *(const struct cluster_meta *const *)pa;
	const struct cluster_meta *b = *(const struct cluster_meta *const *)pb;
	int c = strcmp(a->name, b->name);

	if (c == 0)
		c = strcmp(a->origin.file ? a->origin.file : "",
		           b->origin.file ? b->origin.file : "");
	if (c == 0)
		c = a->origin.line < b->origin.line ? -1 : a->origin.line > b->origin.line;
	return c;
}

/* The last snapshot's services of a namespace (LAST, claims resolved and allocated) made again
 * from the same services of now, which the units of this snapshot hold (the last one's may be
 * gone with their units), with the addresses and ports allocated then. SVC_EINVAL when one is
 * not found: then the services did change. */
static enum svc_status
reused_input(struct gather *g, struct cluster_service *const *last, size_t n)
{
	qsort(g->now, g->n_now, sizeof(*g->now), written_cmp);
	for (size_t i = 0; i < n; i++) {
		struct cluster_service *const *hit =
		        bsearch(&last[i], g->now, g->n_now, sizeof(*g->now), written_cmp);
		struct cluster_service *c;

		if (hit == NULL)
			return SVC_EINVAL;
		c = service_copy(g->arena, *hit);
		if (c == NULL)
			return SVC_ENOMEM;
		alloc_copy_results(c, last[i]);
		g->made[i] = c;
	}
	return SVC_OK;
}

/* Build namespace NS's shard afresh: its services (SVCS, allocated; from the last snapshot when
 * REUSE), and its other objects from every unit. *OUT stays NULL when the namespace holds
 * nothing. */
static enum svc_status
rebuild_shard(struct store *s, const char *ns, struct cluster_service *const *svcs, size_t n_svcs,
              bool reuse, struct cluster_unit *const *units, size_t n_units, struct gather *g,
              struct diag *d, struct cluster_shard **out)
{
	struct shard_input in = {.ns = ns,
	                         .nodes_down = g->down,
	                         .n_nodes_down = g->n_down,
	                         .services = svcs,
	                         .n_services = n_svcs};
	size_t u, k, n, from, to;

	*out = NULL;
	memset(g->n, 0, sizeof(g->n));
	g->n_units = 0;
	g->n_now = 0;
	for (u = units_from(g, n_units, ns); u < n_units; u++) {
		bool used = false;

		/* In the order of their first namespaces, those without any last. */
		if (g->lo[u] == NULL || ns_cmp(ns, g->lo[u]) < 0)
			break;
		if (ns_cmp(ns, g->hi[u]) > 0)
			continue;
		for (k = 0; k < N_SHARD_KINDS; k++) {
			void *const *items = objects_of(&units[u]->objs, shard_kinds[k], &n);

			to = ns_range(items, n, ns, &from);
			if (to > from) {
				memcpy(g->items[k] + g->n[k], items + from,
				       (to - from) * sizeof(void *));
				g->n[k] += to - from;
				used = true;
			}
		}
		/* A unit with services here counts too: the shard points at their fields. */
		{
			void *const *items = objects_of(&units[u]->objs, CLUSTER_KIND_SERVICE, &n);

			to = ns_range(items, n, ns, &from);
			if (to > from && reuse) {
				memcpy(g->now + g->n_now, items + from,
				       (to - from) * sizeof(void *));
				g->n_now += to - from;
			}
			used = used || to > from;
		}
		if (used)
			g->units[g->n_units++] = units[u];
	}
	for (k = 0; k < N_SHARD_KINDS && g->n[k] == 0; k++)
		;
	if (n_svcs == 0 && k == N_SHARD_KINDS)
		return SVC_OK;
	if (reuse && n_svcs > 0) {
		enum svc_status st = reused_input(g, svcs, n_svcs);

		if (st != SVC_OK) {
			s->reuse_failed = st == SVC_EINVAL;
			return st;
		}
		svcs = g->made;
		in.services = svcs;
	}
	/* NS may be the store's record of a change: the shard names it from its objects. */
	in.ns = n_svcs > 0 ? svcs[0]->meta.ns : ((const struct cluster_meta *)g->items[k][0])->ns;
	for (k = 0; k < N_SHARD_KINDS; k++)
		claims_resolve_names(g->items[k], &g->n[k], shard_kind_names[k], d);
	in.pods = (struct cluster_pod *const *)g->items[0];
	in.n_pods = g->n[0];
	in.endpoints = (struct cluster_endpoints *const *)g->items[1];
	in.n_endpoints = g->n[1];
	in.slices = (struct cluster_endpointslice *const *)g->items[2];
	in.n_slices = g->n[2];
	in.podstatuses = (struct cluster_podstatus *const *)g->items[3];
	in.n_podstatuses = g->n[3];
	return shard_build(&s->cfg, &in, g->units, g->n_units, d, out);
}

/* Services are a cluster-wide matter: every one of UNITS' copied into V, claims resolved and
 * addresses and ports allocated. What it reports goes to D and is kept for the snapshots that
 * reuse its results. */
static enum svc_status
services_pass(struct store *s, struct cluster_unit *const *units, size_t n_units,
              struct cluster_objects *v, struct diag *d)
{
	struct diag sd;
	enum svc_status st = SVC_ENOMEM;

	diag_init(&sd);
	for (size_t i = 0; i < n_units; i++) {
		const struct cluster_objects *o = &units[i]->objs;

		for (size_t k = 0; k < o->n_services; k++) {
			struct cluster_service *c = service_copy(&v->arena, o->services[k]);

			if (c == NULL)
				goto done;
			v->services[v->n_services++] = c;
		}
	}
	claims_resolve_names((void **)v->services, &v->n_services, "service", &sd);
	st = claims_resolve_services(v->services, &v->n_services, &sd);
	if (st != SVC_OK)
		goto done;
	alloc_objects(v, &s->cfg, &sd);
	diag_append(d, &sd);
	diag_deinit(&s->services_diag);
	s->services_diag = sd;
	diag_init(&sd);
done:
	diag_deinit(&sd);
	return st;
}

/* The namespaces of the pods on NODE in the last snapshot: its going down or up changes
 * their endpoints. (Pods in units changed since are in dirty namespaces already.) A scan of
 * every pod, only when a node's state changes. */
static void
mark_dirty_node(struct store *s, const char *node)
{
	const char *prev = NULL;

	for (size_t i = 0; i < s->last->n_pods; i++) {
		const struct cluster_pod *p = s->last->pods[i];

		if (p->node_name != NULL && !strcmp(p->node_name, node) &&
		    (prev == NULL || strcmp(prev, p->meta.ns) != 0)) {
			mark_dirty(s, p->meta.ns);
			prev = p->meta.ns;
		}
	}
}

/* The nodes whose state differs between the last snapshot's NODES_DOWN and DOWN (both sorted):
 * their pods' namespaces are dirty. */
static void
diff_nodes_down(struct store *s, const char *const *down, size_t n_down)
{
	const char *const *was = (const char *const *)s->last->nodes_down;
	size_t i = 0, k = 0, n_was = s->last->n_nodes_down;

	while (i < n_down || k < n_was) {
		int c = i == n_down ? 1 : k == n_was ? -1 : strcmp(down[i], was[k]);

		if (c != 0)
			mark_dirty_node(s, c < 0 ? down[i] : was[k]);
		i += c <= 0;
		k += c >= 0;
	}
}

/* The cluster-scoped objects of UNITS, one list per kind, names resolved (the older holder
 * keeps a name). */
static enum svc_status
gather_scoped(struct cluster_unit *const *units, size_t n_units,
              const size_t tot[CLUSTER_KIND_COUNT], void **lists[3], size_t n[3], struct diag *d)
{
	static const enum cluster_kind ks[3] = {CLUSTER_KIND_NAMESPACE, CLUSTER_KIND_NODE,
	                                        CLUSTER_KIND_LEASE};
	static const char *const names[3] = {"namespace", "node", "lease"};

	for (int k = 0; k < 3; k++) {
		n[k] = 0;
		lists[k] = malloc((tot[ks[k]] + 1) * sizeof(void *));
		if (lists[k] == NULL)
			return SVC_ENOMEM;
		for (size_t i = 0; i < n_units; i++) {
			size_t m;
			void *const *items = objects_of(&units[i]->objs, ks[k], &m);

			if (m == 0)
				continue; /* (ITEMS may be NULL then) */
			memcpy(lists[k] + n[k], items, m * sizeof(void *));
			n[k] += m;
		}
		claims_resolve_names(lists[k], &n[k], names[k], d);
	}
	return SVC_OK;
}

static enum svc_status
snapshot_try(struct store *s, struct diag *d, struct cluster **out)
{
	struct cluster_objects v; /* the services, copied and allocated */
	struct cluster_unit **units = NULL;
	struct cluster_shard **shards = NULL;
	void **scoped[3] = {NULL, NULL, NULL}; /* namespaces, nodes, leases */
	size_t n_scoped[3] = {0, 0, 0};
	struct build_scoped bs;
	const char **names = NULL;
	struct gather g = {0};
	struct htab_iter it;
	struct htab_node *hn;
	size_t n_units = 0, n_shards = 0, n_names = 0, i, k, n;
	size_t tot[CLUSTER_KIND_COUNT] = {0};
	enum svc_status st = SVC_ENOMEM;
	bool reuse;

	*out = NULL;
	cluster_objects_init(&v);
	if (!s->config_checked) {
		validate_config(&s->cfg, d);
		s->config_checked = true;
	}
	/* Units in the order of their objects: where each holds its own namespaces (one file per
	 * namespace, or per service) the lists gathered from them need no sorting. */
	if ((s->order_stale || s->all_dirty) && !sort_units(s))
		goto done;
	units = malloc((s->n_order + 1) * sizeof(*units));
	if (units == NULL)
		goto done;
	for (i = 0; i < s->n_order; i++) {
		struct store_unit *u = s->order[i];

		units[n_units++] = cluster_unit_ref(u->good);
		for (int kind = 0; kind < CLUSTER_KIND_COUNT; kind++) {
			objects_of(&u->good->objs, (enum cluster_kind)kind, &n);
			tot[kind] += n;
		}
	}
	v.services = malloc((tot[CLUSTER_KIND_SERVICE] + (s->last ? s->last->n_services : 0) + 1) *
	                    sizeof(void *));
	for (k = 0; k < N_SHARD_KINDS; k++)
		g.items[k] = malloc((tot[shard_kinds[k]] + 1) * sizeof(void *));
	g.units = malloc((n_units + 1) * sizeof(*g.units));
	g.now = malloc((tot[CLUSTER_KIND_SERVICE] + 1) * sizeof(*g.now));
	g.made = malloc((tot[CLUSTER_KIND_SERVICE] + (s->last ? s->last->n_services : 0) + 1) *
	                sizeof(*g.made));
	g.arena = &v.arena;
	g.lo = malloc((n_units + 1) * sizeof(*g.lo));
	g.hi = malloc((n_units + 1) * sizeof(*g.hi));
	g.maxhi = malloc((n_units + 1) * sizeof(*g.maxhi));
	if (v.services == NULL || g.items[0] == NULL || g.items[1] == NULL || g.items[2] == NULL ||
	    g.items[3] == NULL || g.units == NULL || g.lo == NULL || g.hi == NULL ||
	    g.maxhi == NULL || g.now == NULL || g.made == NULL)
		goto done;
	for (i = 0; i < n_units; i++) {
		unit_ns_range(units[i], &g.lo[i], &g.hi[i]);
		g.maxhi[i] = i > 0 ? g.maxhi[i - 1] : NULL;
		if (g.hi[i] != NULL && (g.maxhi[i] == NULL || ns_cmp(g.hi[i], g.maxhi[i]) > 0))
			g.maxhi[i] = g.hi[i];
	}
	if (gather_scoped(units, n_units, tot, scoped, n_scoped, d) != SVC_OK)
		goto done;
	bs = (struct build_scoped){(struct cluster_namespace *const *)scoped[0], n_scoped[0],
	                           (struct cluster_node *const *)scoped[1],      n_scoped[1],
	                           (struct cluster_lease *const *)scoped[2],     n_scoped[2]};
	if (build_nodes_down(&s->cfg, &bs, &g.down, &g.n_down) != SVC_OK)
		goto done;
	if (s->last == NULL)
		s->all_dirty = true;
	if (!s->all_dirty)
		diff_nodes_down(s, g.down, g.n_down);
	reuse = !s->all_dirty && !s->services_changed;
	if (reuse) {
		/* The last snapshot's services, claims resolved and allocated: the shards rebuilt
		 * here take their manifests from the units of now (reused_input). */
		memcpy(v.services, s->last->services, s->last->n_services * sizeof(void *));
		v.n_services = s->last->n_services;
		diag_append(d, &s->services_diag);
	} else {
		st = services_pass(s, units, n_units, &v, d);
		if (st != SVC_OK)
			goto done;
		if (!s->all_dirty)
			diff_allocation(s, v.services, v.n_services);
	}
	/* Every namespace that may have a shard: the last snapshot's, the services', the changed.
	 */
	st = SVC_ENOMEM;
	names = malloc((v.n_services + (s->last ? s->last->n_shards : 0) + s->dirty.n + 1) *
	               sizeof(*names));
	if (names == NULL)
		goto done;
	for (i = 0; i < v.n_services; i++)
		if (n_names == 0 || strcmp(names[n_names - 1], v.services[i]->meta.ns) != 0)
			names[n_names++] = v.services[i]->meta.ns;
	for (i = 0; s->last != NULL && i < s->last->n_shards; i++)
		names[n_names++] = s->last->shards[i]->ns;
	for (hn = htab_first(&it, &s->dirty); hn != NULL; hn = htab_iter_next(&it))
		names[n_names++] = htab_item(hn, struct dirty_ns, hn)->name;
	if (s->all_dirty) {
		/* No record of what changed: every namespace any unit holds. */
		const char **more = realloc(
		        names, (n_names + tot[CLUSTER_KIND_POD] + tot[CLUSTER_KIND_ENDPOINTS] +
		                tot[CLUSTER_KIND_ENDPOINTSLICE] + tot[CLUSTER_KIND_PODSTATUS] + 1) *
		                       sizeof(*names));

		if (more == NULL)
			goto done;
		names = more;
		for (i = 0; i < n_units; i++)
			for (k = 0; k < N_SHARD_KINDS; k++) {
				void *const *items =
				        objects_of(&units[i]->objs, shard_kinds[k], &n);

				for (size_t j = 0; j < n; j++)
					if (j == 0 ||
					    ns_cmp(((const struct cluster_meta *)items[j - 1])->ns,
					           ((const struct cluster_meta *)items[j])->ns))
						names[n_names++] =
						        ((const struct cluster_meta *)items[j])->ns;
			}
	}
	qsort(names, n_names, sizeof(*names), str_cmp);
	shards = malloc((n_names + 1) * sizeof(*shards));
	if (shards == NULL)
		goto done;
	st = SVC_OK;
	for (i = 0; i < n_names && st == SVC_OK; i++) {
		const struct cluster_shard *old;
		size_t from, to;

		if (i > 0 && strcmp(names[i - 1], names[i]) == 0)
			continue;
		old = s->all_dirty || is_dirty(s, names[i]) ? NULL : last_shard(s->last, names[i]);
		if (old != NULL) {
			shards[n_shards++] = shard_ref((struct cluster_shard *)old);
			continue;
		}
		to = ns_range((void *const *)v.services, v.n_services, names[i], &from);
		st = rebuild_shard(s, names[i], v.services + from, to - from, reuse, units, n_units,
		                   &g, d, &shards[n_shards]);
		if (st == SVC_OK && shards[n_shards] != NULL)
			n_shards++;
	}
	if (st != SVC_OK)
		goto done;
	st = build_assemble(&s->cfg, shards, n_shards, &bs, units, n_units, out);
	shards = NULL;
	n_shards = 0;
	units = NULL;
	n_units = 0;
	if (st != SVC_OK)
		goto done;
	(*out)->units_in_error = s->n_failing;
	cluster_unref(s->last);
	s->last = cluster_ref(*out);
	dirty_clear(s);
	s->all_dirty = false;
	s->services_changed = false;
	s->gen++;
done:
	if (st != SVC_OK) {
		/* What changed is no longer recorded exactly: the next snapshot rebuilds all. */
		s->all_dirty = true;
		s->services_changed = true;
		dirty_clear(s);
	}
	for (i = 0; i < n_shards; i++)
		shard_unref(shards[i]);
	free(shards);
	for (i = 0; i < n_units; i++)
		cluster_unit_unref(units[i]);
	free(units);
	free(names);
	for (k = 0; k < 3; k++)
		free(scoped[k]);
	free(g.down);
	for (k = 0; k < N_SHARD_KINDS; k++)
		free(g.items[k]);
	free(g.units);
	free(g.now);
	free(g.made);
	free(g.lo);
	free(g.hi);
	free(g.maxhi);
	cluster_objects_deinit(&v);
	return st;
}

enum svc_status
store_snapshot(struct store *s, struct diag *d, struct cluster **out)
{
	struct diag tmp;
	enum svc_status st;

	diag_init(&tmp);
	s->reuse_failed = false;
	st = snapshot_try(s, &tmp, out);
	if (s->reuse_failed) {
		/* Cannot be, by how services_changed is kept; should it be, claims and allocation
		 * run over every service. */
		diag_clear(&tmp);
		st = snapshot_try(s, &tmp, out);
	}
	diag_append(d, &tmp);
	diag_deinit(&tmp);
	return st;
}
