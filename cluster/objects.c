/* objects.c -- load manifests from files into cluster objects, before validation. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "cluster.h"
#include "mtree.h"
#include "posmap.h"
#include "schema.h"
#include "vec.h"
#include "ytree.h"

#define MAX_FILES 100000

struct tree_load {
	struct cluster_objects *objs;
	struct diag *d;
};

void
cluster_objects_init(struct cluster_objects *objs)
{
	memset(objs, 0, sizeof(*objs));
	arena_init_small(&objs->arena); /* many are small: a chunk of a file */
	arena_init(&objs->scratch);
	htab_init(&objs->strings);
}

void
cluster_objects_deinit(struct cluster_objects *objs)
{
	if (objs->positions != NULL) {
		posmap_deinit(objs->positions);
		free(objs->positions);
	}
	free(objs->services);
	free(objs->pods);
	free(objs->endpoints);
	free(objs->slices);
	free(objs->namespaces);
	free(objs->nodes);
	free(objs->leases);
	free(objs->podstatuses);
	htab_deinit(&objs->strings);
	arena_deinit(&objs->arena);
	arena_deinit(&objs->scratch);
	memset(objs, 0, sizeof(*objs));
}

struct cluster_meta **
cluster_objects_of(const struct cluster_objects *o, enum cluster_kind k, size_t *n)
{
	switch (k) {
	case CLUSTER_KIND_SERVICE:
		*n = o->n_services;
		return (struct cluster_meta **)o->services;
	case CLUSTER_KIND_POD:
		*n = o->n_pods;
		return (struct cluster_meta **)o->pods;
	case CLUSTER_KIND_ENDPOINTS:
		*n = o->n_endpoints;
		return (struct cluster_meta **)o->endpoints;
	case CLUSTER_KIND_ENDPOINTSLICE:
		*n = o->n_slices;
		return (struct cluster_meta **)o->slices;
	case CLUSTER_KIND_NAMESPACE:
		*n = o->n_namespaces;
		return (struct cluster_meta **)o->namespaces;
	case CLUSTER_KIND_NODE:
		*n = o->n_nodes;
		return (struct cluster_meta **)o->nodes;
	case CLUSTER_KIND_LEASE:
		*n = o->n_leases;
		return (struct cluster_meta **)o->leases;
	case CLUSTER_KIND_PODSTATUS:
		*n = o->n_podstatuses;
		return (struct cluster_meta **)o->podstatuses;
	case CLUSTER_KIND_COUNT:
		break;
	}
	*n = 0;
	return NULL;
}

void
cluster_objects_forget_positions(struct cluster_objects *objs)
{
	if (objs->positions != NULL) {
		posmap_deinit(objs->positions);
		free(objs->positions);
		objs->positions = NULL;
	}
	htab_deinit(&objs->strings);
	htab_init(&objs->strings);
	arena_deinit(&objs->scratch);
	arena_init(&objs->scratch);
	/* Validated: what follows takes little more from the arena (a store keeps it as is). */
	arena_trim(&objs->arena);
}

static void *
move(const struct arena_moved *mv, const void *p)
{
	return arena_moved_ptr(mv, p);
}

/* A service's endpoints and their per-port lists, as the endpoints controller made them. */
static void
relocate_endpoints(struct cluster_service *s, const struct arena_moved *mv)
{
	s->endpoints = move(mv, s->endpoints);
	for (size_t i = 0; s->endpoints != NULL && i < s->n_endpoints; i++) {
		struct cluster_endpoint *e = &s->endpoints[i];

		e->hostname = move(mv, e->hostname);
		e->node_name = move(mv, e->node_name);
		e->pod = move(mv, e->pod);
		e->ports = move(mv, e->ports);
	}
	s->port_endpoints = move(mv, s->port_endpoints);
	for (size_t p = 0; s->port_endpoints != NULL && p < s->n_ports; p++) {
		struct cluster_port_endpoints *pe = &s->port_endpoints[p];

		pe->items = move(mv, pe->items);
		for (size_t i = 0; pe->items != NULL && i < pe->n; i++)
			pe->items[i] = move(mv, pe->items[i]);
	}
}

void
objects_relocate(enum cluster_kind k, struct cluster_meta *m, const struct arena_moved *mv)
{
	schema_relocate(schema_kinds[k].doc, m, mv);
	if (move(mv, m->origin.file) != m->origin.file)
		m->origin.file = move(mv, m->origin.file);
	if (k == CLUSTER_KIND_SERVICE) {
		struct cluster_service *s = (struct cluster_service *)m;

		s->external_ips = move(mv, s->external_ips);
		s->lb_source_ranges = move(mv, s->lb_source_ranges);
		s->lb_ips = move(mv, s->lb_ips);
		relocate_endpoints(s, mv);
	}
}

bool
cluster_objects_compact(struct cluster_objects *objs)
{
	struct arena_moved mv;

	if (arena_compact(&objs->arena, &mv) != SVC_OK)
		return false;
	if (mv.n == 0)
		return true;
	for (int k = 0; k < CLUSTER_KIND_COUNT; k++) {
		size_t n;
		struct cluster_meta **arr = cluster_objects_of(objs, (enum cluster_kind)k, &n);

		for (size_t i = 0; i < n; i++)
			objects_relocate((enum cluster_kind)k, arena_moved_ptr(&mv, arr[i]), &mv);
	}
	if (!arena_moved_clean(&mv, &objs->arena)) {
		arena_moved_undo(&mv, &objs->arena);
		return false;
	}
	for (int k = 0; k < CLUSTER_KIND_COUNT; k++) {
		size_t n;
		struct cluster_meta **arr = cluster_objects_of(objs, (enum cluster_kind)k, &n);

		for (size_t i = 0; i < n; i++)
			arr[i] = arena_moved_ptr(&mv, arr[i]);
	}
	arena_moved_done(&mv);
	return true;
}

bool
cluster_objects_pos(const struct cluster_objects *objs, const void *field, uint32_t *line,
                    uint32_t *col)
{
	if (objs->positions == NULL)
		return false;
	return posmap_get(objs->positions, field, POSMAP_FIELD, line, col) ||
	       posmap_get(objs->positions, field, POSMAP_OBJECT, line, col);
}

bool
cluster_objects_object_pos(const struct cluster_objects *objs, const void *obj, uint32_t *line,
                           uint32_t *col)
{
	return objs->positions != NULL &&
	       posmap_get(objs->positions, obj, POSMAP_OBJECT, line, col);
}

bool
cluster_objects_has(const struct cluster_objects *objs, const void *field)
{
	uint32_t line, col;

	return objs->positions != NULL &&
	       posmap_get(objs->positions, field, POSMAP_FIELD, &line, &col);
}

static bool
push(void *arr, size_t *n, size_t *cap, void *item)
{
	void **slot = vec_push(arr, n, cap, sizeof(item), NULL);

	if (slot == NULL)
		return false;
	*slot = item;
	return true;
}

static bool
add_object(struct cluster_objects *objs, enum cluster_kind kind, void *obj)
{
	switch (kind) {
	case CLUSTER_KIND_SERVICE:
		return push(&objs->services, &objs->n_services, &objs->cap_services, obj);
	case CLUSTER_KIND_POD:
		return push(&objs->pods, &objs->n_pods, &objs->cap_pods, obj);
	case CLUSTER_KIND_ENDPOINTS:
		return push(&objs->endpoints, &objs->n_endpoints, &objs->cap_endpoints, obj);
	case CLUSTER_KIND_ENDPOINTSLICE:
		return push(&objs->slices, &objs->n_slices, &objs->cap_slices, obj);
	case CLUSTER_KIND_NAMESPACE:
		return push(&objs->namespaces, &objs->n_namespaces, &objs->cap_namespaces, obj);
	case CLUSTER_KIND_NODE:
		return push(&objs->nodes, &objs->n_nodes, &objs->cap_nodes, obj);
	case CLUSTER_KIND_LEASE:
		return push(&objs->leases, &objs->n_leases, &objs->cap_leases, obj);
	case CLUSTER_KIND_PODSTATUS:
		return push(&objs->podstatuses, &objs->n_podstatuses, &objs->cap_podstatuses, obj);
	case CLUSTER_KIND_COUNT:
		break;
	}
	return false;
}

/* An etcd key ends in its object's name ("<prefix>/pods/<ns>/<name>"): the name decoded from
 * the value is the key's last segment, not another copy (a file's never matches). */
static void
share_last_segment(struct cluster_objects *objs, const char *file)
{
	struct schema_decoder dec = {
	        .arena = &objs->arena, .strings = &objs->strings, .strings_mem = &objs->scratch};
	const char *tail = strrchr(file, '/');

	if (tail != NULL && tail[1] != '\0')
		schema_share(&dec, tail + 1, strlen(tail + 1));
}

enum svc_status
cluster_objects_copy(struct cluster_objects *objs, enum cluster_kind k,
                     const struct cluster_meta *src)
{
	const struct schema_obj *doc = schema_kinds[k].doc;
	struct schema_decoder dec = {
	        .arena = &objs->arena, .strings = &objs->strings, .strings_mem = &objs->scratch};
	struct cluster_meta *m = arena_alloc(&objs->arena, doc->size);

	if (m == NULL)
		return SVC_ENOMEM;
	memcpy(m, src, doc->size);
	/* What the schema does not know: the origin (first, so the name shares it), and what
	 * validation parsed. */
	if (m->origin.file != NULL &&
	    (m->origin.file = arena_strdup(&objs->arena, src->origin.file)) == NULL)
		return SVC_ENOMEM;
	if (m->origin.file != NULL)
		share_last_segment(objs, m->origin.file);
	schema_copy(&dec, doc, m, src);
	if (!dec.failed && k == CLUSTER_KIND_SERVICE) {
		struct cluster_service *s = (struct cluster_service *)m;
		const struct cluster_service *o = (const struct cluster_service *)src;

		if (o->external_ips != NULL &&
		    (s->external_ips = arena_calloc(&objs->arena, o->n_external_ips_text,
		                                    sizeof(*s->external_ips))) == NULL)
			dec.failed = true;
		else if (o->external_ips != NULL)
			memcpy(s->external_ips, o->external_ips,
			       o->n_external_ips_text * sizeof(*s->external_ips));
		if (o->lb_source_ranges != NULL &&
		    (s->lb_source_ranges = arena_calloc(&objs->arena, o->n_lb_source_ranges_text,
		                                        sizeof(*s->lb_source_ranges))) == NULL)
			dec.failed = true;
		else if (o->lb_source_ranges != NULL)
			memcpy(s->lb_source_ranges, o->lb_source_ranges,
			       o->n_lb_source_ranges * sizeof(*s->lb_source_ranges));
		/* Made by each build on its own copy of the service. */
		s->lb_ips = NULL;
		s->n_lb_ips = 0;
		s->endpoints = NULL;
		s->n_endpoints = 0;
		s->port_endpoints = NULL;
	}
	if (dec.failed || !add_object(objs, k, m))
		return SVC_ENOMEM;
	return SVC_OK;
}

static const char *
scalar_of(const struct ynode *map, const char *key)
{
	const struct ynode *v = ytree_get(map, key);

	return v != NULL && v->type == YNODE_SCALAR ? v->text : NULL;
}

/* The N decimal digits at S, or -1 when one is not a digit (a NUL included). */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* RFC 3339 "2024-05-01T10:00:00Z" (fractions and offsets allowed) to Unix seconds; 0 if not. */
static int64_t
parse_time(const char *s)
{
	int y, mo, d, h, mi, sec;
	int64_t days, t;
	const char *p;

	/* "YYYY-MM-DDTHH:MM:SS", every digit there (each read stops at the first that is not). */
	if (s == NULL || (y = digits(s, 4)) < 0 || s[4] != '-' || (mo = digits(s + 5, 2)) < 0 ||
	    s[7] != '-' || (d = digits(s + 8, 2)) < 0 || s[10] != 'T' ||
	    (h = digits(s + 11, 2)) < 0 || s[13] != ':' || (mi = digits(s + 14, 2)) < 0 ||
	    s[16] != ':' || (sec = digits(s + 17, 2)) < 0)
		return 0;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return 0;
	/* Days from civil (Howard Hinnant's algorithm). */
	y -= mo <= 2;
	{
		int64_t era = (y >= 0 ? y : y - 399) / 400;
		unsigned yoe = (unsigned)(y - era * 400);
		unsigned doy = (unsigned)((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1);
		unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

		days = era * 146097 + (int64_t)doe - 719468;
	}
	t = days * 86400 + h * 3600 + mi * 60 + sec;
	p = s + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' && p[1] == '\0')
		return t;
	/* "+hh:mm" / "-hh:mm"; anything else is not RFC 3339. */
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' && p[1] >= '0' &&
	    p[1] <= '9' && p[2] >= '0' && p[2] <= '9' && p[4] >= '0' && p[4] <= '9' &&
	    p[5] >= '0' && p[5] <= '9') {
		int64_t off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		              ((p[4] - '0') * 10 + (p[5] - '0')) * 60;

		return t + (*p == '+' ? -off : off);
	}
	return 0;
}

struct load_ctx {
	struct cluster_objects *objs;
	struct diag *d;
	const char *file; /* arena copy */
	const struct ydoc *doc;
};

static void
load_object(struct load_ctx *lc, const struct ynode *root, bool in_list, const char *list_path)
{
	const char *kind = scalar_of(root, "kind");
	const char *api = scalar_of(root, "apiVersion");
	const struct schema_kind *sk;
	struct schema_decoder dec = {0};
	struct cluster_meta *meta;
	void *obj;

	if (root->type != YNODE_MAP) {
		diag_add(lc->d, DIAG_ERROR, lc->file, root->line, root->col, list_path,
		         "a manifest must be a mapping with apiVersion and kind");
		return;
	}
	if (kind == NULL) {
		diag_add(lc->d, DIAG_ERROR, lc->file, root->line, root->col, list_path,
		         "kind: Required value");
		return;
	}
	if (!in_list && strlen(kind) >= 4 && !strcmp(kind + strlen(kind) - 4, "List")) {
		const struct ynode *items = ytree_get(root, "items");
		size_t i;

		if (items == NULL || items->type == YNODE_NULL)
			return;
		if (items->type != YNODE_SEQ) {
			diag_add(lc->d, DIAG_ERROR, lc->file, items->line, items->col, "items",
			         "expected a list");
			return;
		}
		for (i = 0; i < items->n; i++) {
			char path[32];

			snprintf(path, sizeof(path), "items[%zu]", i);
			load_object(lc, items->items[i], true, path);
		}
		return;
	}
	sk = schema_kind_find(kind);
	if (sk == NULL) {
		diag_add(lc->d, DIAG_WARNING, lc->file, root->line, root->col, list_path,
		         "kind %s is not supported; object ignored", kind);
		return;
	}
	if (api == NULL || strcmp(api, sk->api_version) != 0) {
		diag_add(lc->d, api ? DIAG_WARNING : DIAG_ERROR, lc->file, root->line, root->col,
		         list_path,
		         api ? "apiVersion %s of %s is not supported (use %s); object ignored"
		             : "apiVersion: Required value (%s is %s)",
		         api ? api : kind, api ? kind : sk->api_version, sk->api_version);
		return;
	}
	obj = arena_alloc(&lc->objs->arena, sk->doc->size);
	if (obj == NULL) {
		diag_add(lc->d, DIAG_ERROR, lc->file, root->line, root->col, NULL, "out of memory");
		return;
	}
	dec.arena = &lc->objs->arena;
	dec.strings = &lc->objs->strings;
	dec.strings_mem = &lc->objs->scratch;
	dec.positions = lc->objs->positions;
	dec.d = lc->d;
	dec.file = lc->file;
	if (list_path != NULL) {
		snprintf(dec.path, sizeof(dec.path), "%s", list_path);
		dec.plen = strlen(dec.path);
	}
	schema_decode(&dec, sk->doc, root, obj);
	meta = obj; /* every kind starts with its meta */
	if (meta->name == NULL)
		return; /* reported as Required value */
	if (sk->namespaced && meta->ns == NULL)
		meta->ns = "default";
	if (!sk->namespaced && meta->ns != NULL) {
		diag_add(lc->d, DIAG_WARNING, lc->file, root->line, root->col, "metadata.namespace",
		         "%s is not namespaced; namespace ignored", kind);
		meta->ns = NULL;
	}
	{
		int64_t t = parse_time(meta->created);

		meta->created_unix = t > 0 && t <= (int64_t)UINT32_MAX ? (uint32_t)t : 0;
	}
	meta->origin.file = lc->file;
	meta->origin.line = root->line;
	meta->origin.doc_start = (uint32_t)lc->doc->start; /* files are under 4 GiB */
	meta->origin.doc_end = (uint32_t)lc->doc->end;
	meta->origin.doc_index = lc->doc->index;
	meta->origin.in_list = in_list;
	if (!add_object(lc->objs, sk->id, obj))
		diag_add(lc->d, DIAG_ERROR, lc->file, root->line, root->col, NULL, "out of memory");
}

enum svc_status
cluster_objects_load_buffer(struct cluster_objects *objs, const char *name, const char *buf,
                            size_t len, struct diag *d)
{
	return cluster_objects_load_part(objs, name, buf, len, 0, d);
}

enum svc_status
cluster_objects_load_part(struct cluster_objects *objs, const char *name, const char *buf,
                          size_t len, uint32_t first_line, struct diag *d)
{
	struct load_ctx lc = {.objs = objs, .d = d};
	struct arena tree;
	struct ydoc *docs;
	size_t n, i;
	enum svc_status st;

	if (objs->positions == NULL) {
		objs->positions = calloc(1, sizeof(*objs->positions));
		if (objs->positions == NULL)
			return SVC_ENOMEM;
		posmap_init(objs->positions, &objs->scratch);
	}
	lc.file = arena_strdup(&objs->arena, name);
	if (lc.file == NULL)
		return SVC_ENOMEM;
	objs->n_files++;
	share_last_segment(objs, lc.file);
	/* The YAML trees are only needed while decoding one file. */
	arena_init(&tree);
	st = ytree_parse_at(&tree, lc.file, buf, len, first_line, d, &docs, &n);
	for (i = 0; i < n; i++) {
		/* An empty document ("---" then nothing or comments) is skipped, as by kubectl. */
		if (docs[i].root == NULL || docs[i].root->type == YNODE_NULL)
			continue;
		lc.doc = &docs[i];
		load_object(&lc, docs[i].root, false, NULL);
	}
	arena_deinit(&tree);
	return st == SVC_ENOMEM ? st : SVC_OK;
}

enum svc_status
cluster_objects_load_fd(struct cluster_objects *objs, const char *path, int fd,
                        const struct stat *st, struct diag *d)
{
	char *buf;
	size_t len;
	enum svc_status rst, st2;

	rst = mtree_read(fd, path, st, YTREE_MAX_BYTES, d, &buf, &len);
	if (rst != SVC_OK)
		return rst;
	st2 = cluster_objects_load_buffer(objs, path, buf, len, d);
	free(buf);
	return st2;
}

enum svc_status
cluster_objects_load_file(struct cluster_objects *objs, const char *path, struct diag *d)
{
	struct stat st;
	enum svc_status rst;
	int fd = mtree_open(path, &st, d);

	if (fd < 0)
		return SVC_EIO;
	rst = cluster_objects_load_fd(objs, path, fd, &st, d);
	close(fd);
	return rst;
}

/* One manifest file of the tree walk. */
static enum svc_status
on_tree_file(void *arg, const char *path, int fd, const struct stat *st)
{
	struct tree_load *tl = arg;
	enum svc_status rst;

	if (tl->objs->n_files >= MAX_FILES) {
		diag_add(tl->d, DIAG_ERROR, path, 0, 0, NULL, "more than %d manifest files",
		         MAX_FILES);
		return SVC_ELIMIT;
	}
	rst = cluster_objects_load_fd(tl->objs, path, fd, st, tl->d);
	/* A file that cannot be read is reported; the other files still load. */
	return rst == SVC_ENOMEM ? rst : SVC_OK;
}

enum svc_status
cluster_objects_load_dir(struct cluster_objects *objs, const char *dir, struct diag *d)
{
	struct tree_load tl = {objs, d};
	const struct mtree_ops ops = {.file = on_tree_file, .arg = &tl};

	return mtree_walk(dir, &ops, d);
}
