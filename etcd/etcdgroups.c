/* etcdgroups.c -- etcd's keys as store units of many keys each (etcdgroups.h).
 *
 * A bucket holds the groups of one resource and namespace, ordered by their first names, their
 * ranges disjoint: a name belongs to the last group whose first name is not after it. A group's
 * unit holds its objects sorted by name; beside them, each key's revision. Changes wait in the
 * group (new versions decoded into its own objects, a list of operations) until the flush,
 * which merges them with what the unit holds into the unit's next version. */
#include "etcdgroups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcdobj.h"
#include "htab.h"
#include "vec.h"

/* In a revision: met by the list under way. */
#define MARK (1ull << 63)

struct op {
	char *name;
	uint64_t rev; /* with MARK */
	size_t idx;   /* put: the object's place in the group's IN; SIZE_MAX: a delete */
	size_t seq;   /* the order they came in */
};

struct group {
	struct bucket *b;
	char unit[40];
	char *first;    /* the first name it holds (NULL: none yet) */
	uint64_t *revs; /* of the unit's objects, in their order */
	size_t n, cap;
	/* Waiting for the flush. */
	struct cluster_objects in;
	bool in_used;
	struct op *ops;
	size_t n_ops, cap_ops;
	const char *max_op; /* the greatest name among OPS */
	struct group *next_dirty;
	bool dirty;
};

struct bucket {
	struct htab_node hn;
	enum cluster_kind kind;
	struct group **groups;
	size_t n, cap;
	char ns[];
};

/* A key whose last version is invalid: a store unit of its own (named by the key), failing. */
struct failing {
	struct htab_node hn;
	uint64_t rev; /* with MARK */
	char key[];
};

struct etcdgroups {
	struct store *s;
	char prefix[ETCDOBJ_KEY_MAX];
	size_t keys;
	struct htab buckets, failing;
	struct group *dirty;
	uint64_t next_id;
};

enum svc_status
etcdgroups_create(struct store *s, const char *prefix, size_t keys, struct etcdgroups **out)
{
	struct etcdgroups *g = calloc(1, sizeof(*g));

	*out = g;
	if (g == NULL)
		return SVC_ENOMEM;
	g->s = s;
	snprintf(g->prefix, sizeof(g->prefix), "%s", prefix);
	g->keys = keys > 0 ? keys : ETCDGROUPS_KEYS_DEFAULT;
	htab_init(&g->buckets);
	htab_init(&g->failing);
	return SVC_OK;
}

static void
ops_clear(struct group *gr)
{
	for (size_t i = 0; i < gr->n_ops; i++)
		free(gr->ops[i].name);
	/* Not kept for the next change: a list leaves every group's array full. */
	free(gr->ops);
	gr->ops = NULL;
	gr->n_ops = gr->cap_ops = 0;
	gr->max_op = NULL;
	if (gr->in_used)
		cluster_objects_deinit(&gr->in);
	gr->in_used = false;
}

static void
group_free(struct group *gr)
{
	ops_clear(gr);
	free(gr->revs);
	free(gr->first);
	free(gr);
}

void
etcdgroups_destroy(struct etcdgroups *g)
{
	struct htab_iter it;
	struct htab_node *n;

	if (g == NULL)
		return;
	for (n = htab_first(&it, &g->buckets); n != NULL; n = htab_iter_next(&it)) {
		struct bucket *b = htab_item(n, struct bucket, hn);

		for (size_t i = 0; i < b->n; i++)
			group_free(b->groups[i]);
		free(b->groups);
		free(b);
	}
	for (n = htab_first(&it, &g->failing); n != NULL; n = htab_iter_next(&it))
		free(htab_item(n, struct failing, hn));
	htab_deinit(&g->buckets);
	htab_deinit(&g->failing);
	free(g);
}

/* ---- finding things ---- */

static uint32_t
bucket_hash(enum cluster_kind k, const char *ns)
{
	return htab_hash_str(ns, (uint32_t)k + 1);
}

static struct bucket *
bucket_find(const struct etcdgroups *g, enum cluster_kind k, const char *ns)
{
	uint32_t h = bucket_hash(k, ns);

	for (struct htab_node *n = htab_find(&g->buckets, h); n != NULL; n = htab_next(n, h)) {
		struct bucket *b = htab_item(n, struct bucket, hn);

		if (b->kind == k && strcmp(b->ns, ns) == 0)
			return b;
	}
	return NULL;
}

static struct failing *
failing_find(const struct etcdgroups *g, const char *key)
{
	uint32_t h = htab_hash_str(key, 0);

	for (struct htab_node *n = htab_find(&g->failing, h); n != NULL; n = htab_next(n, h)) {
		struct failing *f = htab_item(n, struct failing, hn);

		if (strcmp(f->key, key) == 0)
			return f;
	}
	return NULL;
}

/* The group of NAME in B: the last whose first name is not after NAME, else the first. */
static size_t
group_index(const struct bucket *b, const char *name)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *f = b->groups[mid]->first;

		if (f == NULL || strcmp(f, name) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 ? lo - 1 : 0;
}

/* Where NAME is among the objects the unit of GR holds (OBJS, N of them): *AT, true when
 * there; else where it would go. */
static bool
member_find(struct cluster_meta *const *objs, size_t n, const char *name, size_t *at)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(objs[mid]->name, name);

		if (c == 0) {
			*at = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return false;
}

static struct cluster_meta *const *
unit_objects(const struct etcdgroups *g, const struct group *gr, size_t *n)
{
	const struct cluster_objects *o = store_objects(g->s, gr->unit);

	*n = 0;
	return o != NULL ? cluster_objects_of(o, gr->b->kind, n) : NULL;
}

static struct group *
group_new(struct etcdgroups *g, struct bucket *b, size_t at)
{
	struct group *gr = calloc(1, sizeof(*gr));

	if (gr == NULL ||
	    vec_reserve(&b->groups, &b->cap, b->n, b->n + 1, sizeof(*b->groups), NULL) != SVC_OK) {
		free(gr);
		return NULL;
	}
	gr->b = b;
	snprintf(gr->unit, sizeof(gr->unit), "(etcd group %llu)", (unsigned long long)++g->next_id);
	memmove(&b->groups[at + 1], &b->groups[at], (b->n - at) * sizeof(*b->groups));
	b->groups[at] = gr;
	b->n++;
	return gr;
}

/* The group where the object KIND NS/NAME goes, made with its bucket when there is none. */
static void dirty(struct etcdgroups *g, struct group *gr);

static struct group *
group_for(struct etcdgroups *g, enum cluster_kind k, const char *ns, const char *name)
{
	struct bucket *b = bucket_find(g, k, ns);
	struct group *gr;

	if (b == NULL) {
		size_t len = strlen(ns);

		b = calloc(1, sizeof(*b) + len + 1);
		if (b == NULL)
			return NULL;
		b->kind = k;
		memcpy(b->ns, ns, len + 1);
		if (htab_insert(&g->buckets, &b->hn, bucket_hash(k, ns)) != SVC_OK) {
			free(b);
			return NULL;
		}
	}
	if (b->n == 0) {
		gr = group_new(g, b, 0);
		if (gr != NULL)
			dirty(g, gr); /* removed by the flush if nothing valid comes */
		return gr;
	}
	return b->groups[group_index(b, name)];
}

/* Whether NAME comes after everything GR holds or will, GR is the last of its bucket, and it
 * is full: keys coming in order (a list) start a new group there. */
static bool
tail_full(const struct etcdgroups *g, const struct group *gr, const char *name)
{
	size_t n;
	struct cluster_meta *const *objs;

	if (gr != gr->b->groups[gr->b->n - 1] || gr->n + gr->n_ops < g->keys ||
	    (gr->max_op != NULL && strcmp(gr->max_op, name) >= 0))
		return false;
	objs = unit_objects(g, gr, &n);
	return n == 0 || strcmp(objs[n - 1]->name, name) < 0;
}

/* The group where NAME goes, a list's full groups flushed first: what is parsed waits for the
 * flush in one group at a time. */
static struct group *
group_to_fill(struct etcdgroups *g, enum cluster_kind k, const char *ns, const char *name,
              struct diag *d, enum svc_status *st)
{
	struct group *gr = group_for(g, k, ns, name);
	char *first;

	*st = SVC_OK;
	if (gr == NULL || !tail_full(g, gr, name))
		return gr;
	if ((*st = etcdgroups_flush(g, d)) != SVC_OK)
		return NULL;
	/* The flush may have split, emptied or removed it. */
	gr = group_for(g, k, ns, name);
	if (gr == NULL || !tail_full(g, gr, name))
		return gr;
	first = strdup(name); /* set at once: it bounds the group before it */
	gr = first != NULL ? group_new(g, gr->b, gr->b->n) : NULL;
	if (gr == NULL) {
		free(first);
		return NULL;
	}
	gr->first = first;
	dirty(g, gr);
	return gr;
}

static void
dirty(struct etcdgroups *g, struct group *gr)
{
	if (gr->dirty)
		return;
	gr->dirty = true;
	gr->next_dirty = g->dirty;
	g->dirty = gr;
}

static enum svc_status
op_add(struct etcdgroups *g, struct group *gr, const char *name, uint64_t rev, size_t idx)
{
	struct op *op = vec_push(&gr->ops, &gr->n_ops, &gr->cap_ops, sizeof(*op), NULL);

	if (op == NULL)
		return SVC_ENOMEM;
	*op = (struct op){strdup(name), rev, idx, gr->n_ops - 1};
	if (op->name == NULL) {
		gr->n_ops--;
		return SVC_ENOMEM;
	}
	if (gr->max_op == NULL || strcmp(op->name, gr->max_op) > 0)
		gr->max_op = op->name;
	dirty(g, gr);
	return SVC_OK;
}

static void
failing_drop(struct etcdgroups *g, const char *key)
{
	struct failing *f = failing_find(g, key);

	if (f == NULL)
		return;
	htab_remove(&g->failing, &f->hn);
	free(f);
	store_delete(g->s, key);
}

/* ---- changes ---- */

static bool
key_of(const struct etcdgroups *g, const char *key, enum cluster_kind *k, char *ns, char *name)
{
	return etcdobj_key_parse(g->prefix, key, strlen(key), k, ns, name) == ETCDOBJ_OBJECT;
}

/* KEY's version of REV is invalid: a failing unit of its own (holding nothing), and its last
 * good version, if any, stays in its group. */
static enum svc_status
put_failing(struct etcdgroups *g, const char *key, uint64_t rev, struct diag *d)
{
	struct failing *f = failing_find(g, key);
	struct cluster_objects none;
	enum svc_status st;

	if (f == NULL) {
		size_t len = strlen(key);

		f = calloc(1, sizeof(*f) + len + 1);
		if (f == NULL)
			return SVC_ENOMEM;
		memcpy(f->key, key, len + 1);
		if (htab_insert(&g->failing, &f->hn, htab_hash_str(key, 0)) != SVC_OK) {
			free(f);
			return SVC_ENOMEM;
		}
	}
	f->rev = rev;
	cluster_objects_init(&none);
	st = store_put(g->s, key, &none, d, true);
	cluster_objects_deinit(&none);
	return st == SVC_ENOMEM ? st : SVC_EINVAL;
}

enum svc_status
etcdgroups_put(struct etcdgroups *g, const char *key, const uint8_t *value, size_t len,
               uint64_t rev, bool mark, struct diag *d)
{
	char ns[ETCDOBJ_KEY_MAX], name[ETCDOBJ_KEY_MAX];
	enum cluster_kind k;
	size_t before[CLUSTER_KIND_COUNT], n;
	struct group *gr;
	enum svc_status st;

	rev = (rev & ~MARK) | (mark ? MARK : 0);
	if (!key_of(g, key, &k, ns, name)) {
		diag_add(d, DIAG_ERROR, key, 0, 0, NULL, "not an object key");
		return SVC_EINVAL;
	}
	gr = group_to_fill(g, k, !cluster_kind_namespaced(k) ? "" : ns, name, d, &st);
	if (gr == NULL)
		return st != SVC_OK ? st : SVC_ENOMEM;
	if (!gr->in_used) {
		cluster_objects_init(&gr->in);
		gr->in_used = true;
	}
	for (int i = 0; i < CLUSTER_KIND_COUNT; i++)
		cluster_objects_of(&gr->in, (enum cluster_kind)i, &before[i]);
	st = etcdobj_decode(g->prefix, key, value, len, 0, &gr->in, d);
	if (st == SVC_OK)
		st = store_check(g->s, &gr->in, before, d);
	if (st == SVC_ENOMEM)
		return st;
	if (st != SVC_OK) {
		/* What the invalid value added is left out (its bytes wait in IN's arena). */
		gr->in.n_services = before[CLUSTER_KIND_SERVICE];
		gr->in.n_pods = before[CLUSTER_KIND_POD];
		gr->in.n_endpoints = before[CLUSTER_KIND_ENDPOINTS];
		gr->in.n_slices = before[CLUSTER_KIND_ENDPOINTSLICE];
		gr->in.n_namespaces = before[CLUSTER_KIND_NAMESPACE];
		gr->in.n_nodes = before[CLUSTER_KIND_NODE];
		gr->in.n_leases = before[CLUSTER_KIND_LEASE];
		gr->in.n_podstatuses = before[CLUSTER_KIND_PODSTATUS];
		if (mark)
			(void)etcdgroups_rev(g, key, true); /* its last good version stays */
		return put_failing(g, key, rev, d);
	}
	failing_drop(g, key);
	cluster_objects_of(&gr->in, k, &n);
	return op_add(g, gr, name, rev, n - 1);
}

enum svc_status
etcdgroups_delete(struct etcdgroups *g, const char *key)
{
	char ns[ETCDOBJ_KEY_MAX], name[ETCDOBJ_KEY_MAX];
	enum cluster_kind k;
	struct bucket *b;

	if (!key_of(g, key, &k, ns, name))
		return SVC_OK;
	failing_drop(g, key);
	b = bucket_find(g, k, !cluster_kind_namespaced(k) ? "" : ns);
	if (b == NULL || b->n == 0)
		return SVC_OK;
	/* Whether it is there or only waiting to be: the flush sees. */
	return op_add(g, b->groups[group_index(b, name)], name, 0, SIZE_MAX);
}

uint64_t
etcdgroups_rev(struct etcdgroups *g, const char *key, bool mark)
{
	char ns[ETCDOBJ_KEY_MAX], name[ETCDOBJ_KEY_MAX];
	enum cluster_kind k;
	struct failing *f = failing_find(g, key);
	struct bucket *b;
	struct group *gr;
	struct cluster_meta *const *objs;
	size_t n, at;
	uint64_t rev = 0;

	if (f != NULL) {
		rev = f->rev & ~MARK;
		f->rev |= mark ? MARK : 0;
	}
	if (!key_of(g, key, &k, ns, name) ||
	    (b = bucket_find(g, k, !cluster_kind_namespaced(k) ? "" : ns)) == NULL || b->n == 0)
		return rev;
	gr = b->groups[group_index(b, name)];
	objs = unit_objects(g, gr, &n);
	if (objs == NULL || n != gr->n || !member_find(objs, n, name, &at))
		return rev;
	/* Its last good version, behind a failing one, is met too: it keeps serving. */
	gr->revs[at] |= mark ? MARK : 0;
	return f != NULL ? rev : gr->revs[at] & ~MARK;
}

void
etcdgroups_unmark(struct etcdgroups *g)
{
	struct htab_iter it;
	struct htab_node *n;

	for (n = htab_first(&it, &g->failing); n != NULL; n = htab_iter_next(&it))
		htab_item(n, struct failing, hn)->rev &= ~MARK;
	for (n = htab_first(&it, &g->buckets); n != NULL; n = htab_iter_next(&it)) {
		struct bucket *b = htab_item(n, struct bucket, hn);

		for (size_t i = 0; i < b->n; i++)
			for (size_t j = 0; j < b->groups[i]->n; j++)
				b->groups[i]->revs[j] &= ~MARK;
	}
}

enum svc_status
etcdgroups_sweep(struct etcdgroups *g)
{
	struct htab_iter it;
	struct htab_node *n;
	enum svc_status st = SVC_OK;

	for (n = htab_first(&it, &g->failing); n != NULL; n = htab_iter_next(&it)) {
		struct failing *f = htab_item(n, struct failing, hn);

		if (f->rev & MARK) {
			f->rev &= ~MARK;
			continue;
		}
		store_delete(g->s, f->key);
		htab_remove(&g->failing, &f->hn);
		free(f);
	}
	for (n = htab_first(&it, &g->buckets); n != NULL; n = htab_iter_next(&it)) {
		struct bucket *b = htab_item(n, struct bucket, hn);

		for (size_t i = 0; i < b->n; i++) {
			struct group *gr = b->groups[i];
			size_t m;
			struct cluster_meta *const *objs = unit_objects(g, gr, &m);

			for (size_t j = 0; j < gr->n && j < m; j++) {
				if (!(gr->revs[j] & MARK) && st == SVC_OK)
					st = op_add(g, gr, objs[j]->name, 0, SIZE_MAX);
				gr->revs[j] &= ~MARK;
			}
		}
	}
	return st;
}

/* ---- the flush ---- */

/* One object of a group's next version: from the unit (OLD) or new (from IN). */
struct entry {
	const struct cluster_meta *m;
	uint64_t rev;
};

static int
op_cmp(const void *pa, const void *pb)
{
	const struct op *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	/* By name, then in the order they came: the last of a name wins. */
	if (c != 0)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The objects of GR's next version, in name order, into *OUT (*N). */
static enum svc_status
merge(struct etcdgroups *g, struct group *gr, struct entry **out, size_t *n)
{
	size_t n_old, i = 0, j = 0, k = 0, n_new = 0;
	struct cluster_meta *const *old = unit_objects(g, gr, &n_old);
	struct cluster_meta **in =
	        gr->in_used ? cluster_objects_of(&gr->in, gr->b->kind, &n_new) : NULL;
	struct entry *e;

	if (n_old != gr->n)
		n_old = 0; /* never: the revisions follow the unit */
	if (gr->n_ops > 1)
		qsort(gr->ops, gr->n_ops, sizeof(*gr->ops), op_cmp);
	e = calloc(n_old + gr->n_ops + 1, sizeof(*e));
	if (e == NULL)
		return SVC_ENOMEM;
	while (i < n_old || j < gr->n_ops) {
		const struct op *op;
		int c;

		size_t run = j, last = j; /* the first and the last operation of the next name */

		while (last + 1 < gr->n_ops &&
		       strcmp(gr->ops[last].name, gr->ops[last + 1].name) == 0)
			last++;
		op = j < gr->n_ops ? &gr->ops[last] : NULL;
		c = i == n_old ? 1 : op == NULL ? -1 : strcmp(old[i]->name, op->name);
		if (c < 0) {
			e[k++] = (struct entry){old[i], gr->revs[i]};
			i++;
			continue;
		}
		/* Each version holds its claims since the one before did, if it held the same (as
		 * store_put stamps versions put one by one); a delete between makes a new object.
		 */
		for (const struct cluster_meta *prev = c == 0 ? old[i] : NULL; run <= last; run++) {
			struct cluster_meta *m;

			if (gr->ops[run].idx == SIZE_MAX) {
				prev = NULL;
				continue;
			}
			m = in[gr->ops[run].idx];
			store_stamp_new(g->s, m);
			if (prev != NULL)
				store_inherit(gr->b->kind, m, prev);
			prev = m;
		}
		if (op->idx != SIZE_MAX)
			/* A key met by a list keeps its mark when an older version had it. */
			e[k++] = (struct entry){in[op->idx],
			                        op->rev | (c == 0 ? gr->revs[i] & MARK : 0)};
		if (c == 0)
			i++;
		j = last + 1;
	}
	(void)n_new;
	*out = e;
	*n = k;
	return SVC_OK;
}

/* Put E (N entries) as GR's unit. */
static enum svc_status
put_group(struct etcdgroups *g, struct group *gr, const struct entry *e, size_t n, struct diag *d)
{
	struct cluster_objects objs;
	uint64_t *revs = malloc((n ? n : 1) * sizeof(*revs));
	char *first = n > 0 ? strdup(e[0].m->name) : NULL;
	enum svc_status st = revs == NULL || first == NULL ? SVC_ENOMEM : SVC_OK;

	cluster_objects_init(&objs);
	for (size_t i = 0; i < n && st == SVC_OK; i++) {
		st = cluster_objects_copy(&objs, gr->b->kind, e[i].m);
		revs[i] = e[i].rev;
	}
	if (st == SVC_OK)
		st = store_put_checked(g->s, gr->unit, &objs, d);
	if (st == SVC_OK) {
		free(gr->revs);
		free(gr->first);
		gr->revs = revs;
		gr->n = gr->cap = n;
		gr->first = first;
		revs = NULL;
		first = NULL;
	}
	cluster_objects_deinit(&objs);
	free(revs);
	free(first);
	return st;
}

static void
group_remove(struct etcdgroups *g, struct group *gr)
{
	struct bucket *b = gr->b;
	size_t at = 0;

	store_delete(g->s, gr->unit);
	while (at < b->n && b->groups[at] != gr)
		at++;
	memmove(&b->groups[at], &b->groups[at + 1], (b->n - at - 1) * sizeof(*b->groups));
	b->n--;
	group_free(gr);
	if (b->n == 0) {
		htab_remove(&g->buckets, &b->hn);
		free(b->groups);
		free(b);
	}
}

/* Whether E (N entries) is exactly what GR's IN holds, in order: IN can be put as it is. */
static bool
is_in(struct group *gr, const struct entry *e, size_t n)
{
	size_t n_in;
	struct cluster_meta **in = cluster_objects_of(&gr->in, gr->b->kind, &n_in);

	if (n != n_in)
		return false;
	for (size_t i = 0; i < n; i++)
		if (e[i].m != in[i])
			return false;
	return true;
}

static enum svc_status
flush_group(struct etcdgroups *g, struct group *gr, struct diag *d)
{
	struct entry *e = NULL;
	size_t n = 0, at, per, done;
	enum svc_status st = merge(g, gr, &e, &n);

	if (st != SVC_OK)
		goto out;
	if (n == 0) {
		free(e);
		group_remove(g, gr);
		return SVC_OK;
	}
	/* Past twice its size, a group splits in pieces of its size; the first keeps its unit,
	 * put last: the others copy from what it holds now. */
	per = n > 2 * g->keys ? g->keys : n;
	for (at = 0; gr->b->groups[at] != gr; at++)
		;
	for (done = per; done < n && st == SVC_OK; done += per) {
		struct group *next = group_new(g, gr->b, ++at);

		st = next == NULL
		             ? SVC_ENOMEM
		             : put_group(g, next, e + done, n - done < per ? n - done : per, d);
		if (next != NULL && next->n == 0) /* it was never put */
			group_remove(g, next);
	}
	if (st == SVC_OK && gr->n == 0 && gr->in_used && is_in(gr, e, n)) {
		/* New objects only, in order (a list): put as parsed, not copied. */
		uint64_t *revs = malloc(n * sizeof(*revs));
		char *first = strdup(e[0].m->name);

		for (size_t i = 0; revs != NULL && i < n; i++)
			revs[i] = e[i].rev;
		st = revs == NULL || first == NULL ? SVC_ENOMEM
		                                   : store_put_checked(g->s, gr->unit, &gr->in, d);
		if (st == SVC_OK) {
			free(gr->first);
			gr->revs = revs;
			gr->n = gr->cap = n;
			gr->first = first;
		} else {
			free(revs);
			free(first);
		}
	} else if (st == SVC_OK) {
		st = put_group(g, gr, e, per, d);
	}
out:
	free(e);
	ops_clear(gr);
	return st;
}

enum svc_status
etcdgroups_flush(struct etcdgroups *g, struct diag *d)
{
	enum svc_status st = SVC_OK;

	while (g->dirty != NULL) {
		struct group *gr = g->dirty;
		enum svc_status s1;

		g->dirty = gr->next_dirty;
		gr->dirty = false;
		gr->next_dirty = NULL;
		s1 = flush_group(g, gr, d);
		if (s1 != SVC_OK)
			st = s1;
	}
	return st;
}
