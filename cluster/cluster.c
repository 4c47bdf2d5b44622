/* cluster.c -- building snapshots from loaded objects, and looking things up in them. */
#include "cluster.h"

#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "dirsrc.h"
#include "store.h"
#include "htab.h"
#include "schema.h"

/* ---- index: hash tables of entries pointing at a snapshot's objects -------------------- */

struct slot {
	struct htab_node hn;
	uint32_t aux; /* node-port index: the service port; IP index: which address */
	const void *item;
};

struct table {
	struct htab h;
	struct slot *slots; /* all of them, sized at build */
	size_t n;
};

struct cluster_index {
	struct table svc_by_name;
	struct table svc_by_ip;
	struct table svc_by_node_port;
	struct table pod_by_ip;
	struct table pod_by_name;
	struct table ns_by_name;
};

static uint32_t
hash_str2(const char *a, const char *b)
{
	uint32_t h = 2166136261u;

	for (; *a; a++)
		h = (h ^ (uint8_t)*a) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (; b && *b; b++)
		h = (h ^ (uint8_t)*b) * 16777619u;
	return h ? h : 1;
}

static uint32_t
hash_node_port(enum cluster_proto proto, int32_t port)
{
	uint32_t h = ((uint32_t)port * 2654435761u) ^ ((uint32_t)proto * 40503u);

	return h ? h : 1;
}

static uint32_t
hash_ip(const struct netaddr *a)
{
	uint32_t h = netaddr_hash(a);

	return h ? h : 1;
}

static bool
table_init(struct table *t, size_t n)
{
	htab_init(&t->h);
	t->n = 0;
	t->slots = calloc(n ? n : 1, sizeof(*t->slots));
	return t->slots != NULL && htab_reserve(&t->h, n) == SVC_OK;
}

/* Add ITEM under HASH. An equal key already present keeps winning (duplicates were reported):
 * table_find returns the earliest entry. */
static void
table_put(struct table *t, uint32_t hash, uint32_t aux, const void *item)
{
	struct slot *s = &t->slots[t->n++];

	s->aux = aux;
	s->item = item;
	htab_insert(&t->h, &s->hn, hash);
}

static void
table_free(struct table *t)
{
	htab_deinit(&t->h);
	free(t->slots);
}

static void
index_free(struct cluster_index *ix)
{
	if (ix == NULL)
		return;
	table_free(&ix->svc_by_name);
	table_free(&ix->svc_by_ip);
	table_free(&ix->svc_by_node_port);
	table_free(&ix->pod_by_ip);
	table_free(&ix->pod_by_name);
	table_free(&ix->ns_by_name);
	free(ix);
}

static enum svc_status
index_build(struct cluster *c)
{
	struct cluster_index *ix = calloc(1, sizeof(*ix));
	size_t i, k, n_np = 0, n_ip = 0, n_pip = 0;

	if (ix == NULL)
		return SVC_ENOMEM;
	c->index = ix;
	for (i = 0; i < c->n_services; i++) {
		n_np += c->services[i]->n_ports;
		n_ip += c->services[i]->n_cluster_ips;
	}
	for (i = 0; i < c->n_pods; i++)
		n_pip += c->pods[i]->n_ips;
	if (!table_init(&ix->svc_by_name, c->n_services) || !table_init(&ix->svc_by_ip, n_ip) ||
	    !table_init(&ix->svc_by_node_port, n_np) || !table_init(&ix->pod_by_ip, n_pip) ||
	    !table_init(&ix->pod_by_name, c->n_pods) || !table_init(&ix->ns_by_name, c->n_ns_names))
		return SVC_ENOMEM;
	for (i = 0; i < c->n_services; i++) {
		const struct cluster_service *s = c->services[i];

		table_put(&ix->svc_by_name, hash_str2(s->meta.ns, s->meta.name), 0, s);
		for (k = 0; k < s->n_cluster_ips; k++)
			table_put(&ix->svc_by_ip, hash_ip(&s->cluster_ips[k]), (uint32_t)k, s);
		for (k = 0; k < s->n_ports; k++)
			if (s->ports[k].node_port != 0)
				table_put(&ix->svc_by_node_port,
				          hash_node_port(s->ports[k].proto, s->ports[k].node_port),
				          (uint32_t)k, s);
	}
	for (i = 0; i < c->n_pods; i++) {
		const struct cluster_pod *p = c->pods[i];

		table_put(&ix->pod_by_name, hash_str2(p->meta.ns, p->meta.name), 0, p);
		/* hostNetwork pods share the node's address; they are not found by pod IP. */
		for (k = 0; k < p->n_ips && !p->host_network; k++)
			table_put(&ix->pod_by_ip, hash_ip(&p->ips[k]), (uint32_t)k, p);
	}
	for (i = 0; i < c->n_ns_names; i++)
		table_put(&ix->ns_by_name, hash_str2(c->ns_names[i], NULL), 0, c->ns_names[i]);
	return SVC_OK;
}

/* The earliest slot with hash H whose item MATCH accepts for KEY, or NULL. Chains list the
 * latest first, so the last match in the chain is the one. */
static const struct slot *
table_find(const struct table *t, uint32_t h, bool (*match)(const struct slot *, const void *),
           const void *key)
{
	const struct slot *found = NULL;

	for (const struct htab_node *n = htab_find(&t->h, h); n != NULL; n = htab_next(n, h)) {
		const struct slot *s = htab_item(n, const struct slot, hn);

		if (match(s, key))
			found = s;
	}
	return found;
}

struct name_key {
	const char *ns, *name;
};

static bool
match_service_name(const struct slot *s, const void *key)
{
	const struct cluster_service *svc = s->item;
	const struct name_key *k = key;

	return !strcmp(svc->meta.name, k->name) && !strcmp(svc->meta.ns, k->ns);
}

static bool
match_service_ip(const struct slot *s, const void *key)
{
	return netaddr_equal(&((const struct cluster_service *)s->item)->cluster_ips[s->aux], key);
}

struct node_port_key {
	enum cluster_proto proto;
	int32_t port;
};

static bool
match_node_port(const struct slot *s, const void *key)
{
	const struct cluster_port *p = &((const struct cluster_service *)s->item)->ports[s->aux];
	const struct node_port_key *k = key;

	return p->node_port == k->port && p->proto == k->proto;
}

static bool
match_pod_ip(const struct slot *s, const void *key)
{
	return netaddr_equal(&((const struct cluster_pod *)s->item)->ips[s->aux], key);
}

static bool
match_pod_name(const struct slot *s, const void *key)
{
	const struct cluster_pod *p = s->item;
	const struct name_key *k = key;

	return !strcmp(p->meta.name, k->name) && !strcmp(p->meta.ns, k->ns);
}

static bool
match_ns(const struct slot *s, const void *key)
{
	return !strcmp(s->item, key);
}

const struct cluster_service *
cluster_service_by_name(const struct cluster *c, const char *ns, const char *name)
{
	struct name_key k = {ns, name};
	const struct slot *s =
	        table_find(&c->index->svc_by_name, hash_str2(ns, name), match_service_name, &k);

	return s ? s->item : NULL;
}

const struct cluster_service *
cluster_service_by_ip(const struct cluster *c, const struct netaddr *ip)
{
	const struct slot *s = table_find(&c->index->svc_by_ip, hash_ip(ip), match_service_ip, ip);

	return s ? s->item : NULL;
}

const struct cluster_service *
cluster_service_by_node_port(const struct cluster *c, enum cluster_proto proto, int32_t node_port,
                             size_t *port_index)
{
	struct node_port_key k = {proto, node_port};
	const struct slot *s = table_find(&c->index->svc_by_node_port,
	                                  hash_node_port(proto, node_port), match_node_port, &k);

	if (s != NULL && port_index != NULL)
		*port_index = s->aux;
	return s ? s->item : NULL;
}

const struct cluster_pod *
cluster_pod_by_ip(const struct cluster *c, const struct netaddr *ip)
{
	const struct slot *s = table_find(&c->index->pod_by_ip, hash_ip(ip), match_pod_ip, ip);

	return s ? s->item : NULL;
}

const struct cluster_pod *
cluster_pod_by_name(const struct cluster *c, const char *ns, const char *name)
{
	struct name_key k = {ns, name};
	const struct slot *s =
	        table_find(&c->index->pod_by_name, hash_str2(ns, name), match_pod_name, &k);

	return s ? s->item : NULL;
}

bool
cluster_namespace_exists(const struct cluster *c, const char *ns)
{
	return table_find(&c->index->ns_by_name, hash_str2(ns, NULL), match_ns, ns) != NULL;
}

int
cluster_service_port_index(const struct cluster_service *svc, const char *name,
                           enum cluster_proto proto)
{
	size_t i;

	for (i = 0; i < svc->n_ports; i++)
		if (svc->ports[i].proto == proto &&
		    !strcmp(svc->ports[i].name ? svc->ports[i].name : "", name ? name : ""))
			return (int)i;
	return -1;
}

const struct cluster_endpoint *const *
cluster_endpoints_of(const struct cluster_service *svc, size_t port_index, bool ready_only,
                     size_t *n)
{
	const struct cluster_port_endpoints *pe;

	*n = 0;
	if (port_index >= svc->n_ports || svc->port_endpoints == NULL)
		return NULL;
	pe = &svc->port_endpoints[port_index];
	*n = ready_only ? pe->n_ready : pe->n;
	return *n ? pe->items : NULL;
}

size_t
cluster_endpoint_count(const struct cluster_service *svc, size_t port_index, bool ready_only)
{
	size_t n;

	cluster_endpoints_of(svc, port_index, ready_only, &n);
	return n;
}

/* ---- names --------------------------------------------------------------------------------- */

const char *
cluster_proto_str(enum cluster_proto p)
{
	return p <= CLUSTER_SCTP ? schema_proto_names[p] : "?";
}

const char *
cluster_svc_type_str(enum cluster_svc_type t)
{
	return t <= CLUSTER_SVC_EXTERNALNAME ? schema_svc_type_names[t] : "?";
}

const char *
cluster_kind_str(enum cluster_kind k)
{
	return k < CLUSTER_KIND_COUNT ? schema_kinds[k].kind : "?";
}

/* ---- config -------------------------------------------------------------------------------- */

void
cluster_config_init(struct cluster_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	netaddr_prefix_parse(&cfg->service_cidrs[0], "10.96.0.0/12");
	cfg->n_service_cidrs = 1;
	cfg->node_port_min = CLUSTER_NODE_PORT_MIN;
	cfg->node_port_max = CLUSTER_NODE_PORT_MAX;
}

/* Parse LIST, one or two comma-separated CIDRs of different families, into P. Each must have
 * MIN_HOST to MAX_HOST host bits (SVC_ERANGE otherwise). */
static enum svc_status
parse_cidr_list(const char *list, unsigned min_host, unsigned max_host, struct netaddr_prefix p[2],
                size_t *n_out)
{
	char buf[128];
	const char *s = list;
	size_t n = 0;

	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (n == 2 || len == 0 || len >= sizeof(buf))
			return SVC_EINVAL;
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (netaddr_prefix_parse(&p[n], buf) != SVC_OK)
			return SVC_EINVAL;
		if (netaddr_bits(&p[n].addr) - p[n].len < min_host ||
		    netaddr_bits(&p[n].addr) - p[n].len > max_host)
			return SVC_ERANGE;
		n++;
		if (comma != NULL && comma[1] == '\0')
			return SVC_EINVAL; /* "a/12," */
		s = comma ? comma + 1 : s + len;
	}
	if (n == 0 || (n == 2 && p[0].addr.family == p[1].addr.family))
		return SVC_EINVAL;
	*n_out = n;
	return SVC_OK;
}

enum svc_status
cluster_config_set_cidrs(struct cluster_config *cfg, const char *list)
{
	struct netaddr_prefix p[2];
	size_t n = 0;
	/* Fewer than 8 addresses leave nothing to allocate; more than 24 host bits are beyond
	 * what the allocator's bitmap covers (Kubernetes caps IPv6 at /108). */
	enum svc_status st = parse_cidr_list(list, 3, 24, p, &n);

	if (st != SVC_OK)
		return st;
	memcpy(cfg->service_cidrs, p, n * sizeof(*p));
	cfg->n_service_cidrs = n;
	return SVC_OK;
}

enum svc_status
cluster_config_set_lb_pools(struct cluster_config *cfg, const char *list)
{
	struct netaddr_prefix p[2];
	size_t n = 0;
	enum svc_status st;

	if (*list == '\0') {
		memset(cfg->lb_pools, 0, sizeof(cfg->lb_pools));
		cfg->n_lb_pools = 0;
		return SVC_OK;
	}
	/* Any size: a single address is a pool too; the allocator uses at most 2^24. */
	st = parse_cidr_list(list, 0, 128, p, &n);
	if (st != SVC_OK)
		return st;
	memset(cfg->lb_pools, 0, sizeof(cfg->lb_pools));
	memcpy(cfg->lb_pools, p, n * sizeof(*p));
	cfg->n_lb_pools = n;
	return SVC_OK;
}

/* ---- build ----------------------------------------------------------------------------- */

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every namespace that exists: declared ones and those holding an object. */
static enum svc_status
collect_namespaces(struct cluster *c)
{
	size_t cap = c->n_namespaces + c->n_services + c->n_pods + c->n_endpoints + c->n_slices + 1;
	const char **all = arena_calloc(&c->arena, cap, sizeof(*all));
	size_t n = 0, i, k = 0;

	if (all == NULL)
		return SVC_ENOMEM;
	for (i = 0; i < c->n_namespaces; i++)
		all[n++] = c->namespaces[i]->meta.name;
	for (i = 0; i < c->n_services; i++)
		all[n++] = c->services[i]->meta.ns;
	for (i = 0; i < c->n_pods; i++)
		all[n++] = c->pods[i]->meta.ns;
	for (i = 0; i < c->n_endpoints; i++)
		all[n++] = c->endpoints[i]->meta.ns;
	for (i = 0; i < c->n_slices; i++)
		all[n++] = c->slices[i]->meta.ns;
	qsort(all, n, sizeof(*all), str_cmp);
	for (i = 0; i < n; i++)
		if (k == 0 || strcmp(all[k - 1], all[i]) != 0)
			all[k++] = all[i];
	c->ns_names = all;
	c->n_ns_names = k;
	return SVC_OK;
}

/* Write allocated and defaulted values back into the manifest fields, so printing and writing
 * an object shows what the cluster uses. */
static enum svc_status
fill_service_fields(struct arena *a, struct cluster_service *s)
{
	char buf[NETADDR_STRLEN];
	size_t i;

	if (s->type == CLUSTER_SVC_EXTERNALNAME)
		return SVC_OK;
	s->family_policy_set = true; /* defaulted: every type but ExternalName has one */
	if (s->headless) {
		s->cluster_ip_text = "None";
		if (s->n_cluster_ips_text == 0) {
			s->cluster_ips_text = arena_calloc(a, 1, sizeof(char *));
			if (s->cluster_ips_text == NULL)
				return SVC_ENOMEM;
			s->cluster_ips_text[0] = "None";
			s->n_cluster_ips_text = 1;
		}
		return SVC_OK;
	}
	if (s->n_cluster_ips == 0)
		return SVC_OK;
	s->cluster_ips_text = arena_calloc(a, s->n_cluster_ips, sizeof(char *));
	s->ip_families_text = arena_calloc(a, s->n_cluster_ips, sizeof(char *));
	if (s->cluster_ips_text == NULL || s->ip_families_text == NULL)
		return SVC_ENOMEM;
	for (i = 0; i < s->n_cluster_ips; i++) {
		s->cluster_ips_text[i] = arena_strdup(a, netaddr_str(&s->cluster_ips[i], buf));
		if (s->cluster_ips_text[i] == NULL)
			return SVC_ENOMEM;
		s->ip_families_text[i] = s->cluster_ips[i].family == NETADDR_V4 ? "IPv4" : "IPv6";
	}
	s->n_cluster_ips_text = s->n_cluster_ips;
	s->n_ip_families_text = s->n_cluster_ips;
	s->cluster_ip_text = s->cluster_ips_text[0];
	return SVC_OK;
}

static void *
copy_array(struct arena *a, void *src, size_t n, size_t elem)
{
	void *p = arena_calloc(a, n ? n : 1, elem);

	if (p != NULL && n)
		memcpy(p, src, n * elem);
	return p;
}

/* Allocate, index and compute endpoints for VIEW's objects (validated, sorted by namespace and
 * name, without contested names). Its object data moves into the snapshot's arena; UNITS (the
 * units whose objects VIEW points at, a reference each) go to the snapshot too. STRICT: any error
 * reported fails the build. */
enum svc_status
build_snapshot(struct cluster_objects *view, const struct cluster_config *cfg, struct diag *d,
               bool strict, struct cluster_unit **units, size_t n_units, struct cluster **out)
{
	struct cluster *c = NULL;
	size_t errors = d->errors, i;
	enum svc_status st = SVC_OK;

	*out = NULL;
	alloc_objects(view, cfg, d);
	if (strict && d->errors != errors) {
		st = SVC_EINVAL;
		goto done;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		st = SVC_ENOMEM;
		goto done;
	}
	c->refs = 1;
	c->config = *cfg;
	c->units = units;
	c->n_units = n_units;
	units = NULL;
	n_units = 0;
	arena_move(&c->arena, &view->arena);
	c->n_services = view->n_services;
	c->services = copy_array(&c->arena, view->services, view->n_services, sizeof(void *));
	c->n_pods = view->n_pods;
	c->pods = copy_array(&c->arena, view->pods, view->n_pods, sizeof(void *));
	c->n_endpoints = view->n_endpoints;
	c->endpoints = copy_array(&c->arena, view->endpoints, view->n_endpoints, sizeof(void *));
	c->n_slices = view->n_slices;
	c->slices = copy_array(&c->arena, view->slices, view->n_slices, sizeof(void *));
	c->n_namespaces = view->n_namespaces;
	c->namespaces = copy_array(&c->arena, view->namespaces, view->n_namespaces, sizeof(void *));
	if (c->services == NULL || c->pods == NULL || c->endpoints == NULL || c->slices == NULL ||
	    c->namespaces == NULL) {
		st = SVC_ENOMEM;
		goto done;
	}
	for (i = 0; i < c->n_services && st == SVC_OK; i++)
		st = fill_service_fields(&c->arena, c->services[i]);
	if (st == SVC_OK)
		st = collect_namespaces(c);
	if (st == SVC_OK)
		st = index_build(c);
	if (st == SVC_OK)
		st = endpoints_compute(c, &c->arena, d);
done:
	/* The pointer arrays now belong to nobody but VIEW; its data is in C. */
	view->n_services = view->n_pods = view->n_endpoints = view->n_slices = view->n_namespaces =
	        0;
	for (i = 0; i < n_units; i++)
		cluster_unit_unref(units[i]);
	free(units);
	if (st != SVC_OK && c != NULL) {
		cluster_unref(c);
		c = NULL;
	}
	*out = c;
	return st;
}

enum svc_status
cluster_build(struct cluster_objects *objs, const struct cluster_config *cfg, struct diag *d,
              struct cluster **out)
{
	size_t errors = d->errors;

	*out = NULL;
	validate_objects(objs, cfg, d);
	validate_config(cfg, d);
	if (d->errors != errors) {
		objs->n_services = objs->n_pods = objs->n_endpoints = objs->n_slices =
		        objs->n_namespaces = 0;
		return SVC_EINVAL;
	}
	/* Validation left every list sorted by namespace, then name. */
	return build_snapshot(objs, cfg, d, true, NULL, 0, out);
}

enum svc_status
cluster_load(const char *dir, const struct cluster_config *cfg, struct diag *d,
             struct cluster **out)
{
	struct store *s = NULL;
	struct dirsrc *ds = NULL;
	size_t errors = d->errors;
	enum svc_status st;

	*out = NULL;
	st = store_create(cfg, &s);
	if (st == SVC_OK)
		st = dirsrc_create(dir, &ds);
	if (st == SVC_OK)
		st = dirsrc_scan(ds, s, d, NULL);
	if (st == SVC_OK)
		st = store_snapshot(s, d, out);
	if (st == SVC_OK && d->errors != errors)
		st = SVC_EINVAL;
	dirsrc_destroy(ds);
	store_destroy(s);
	return st;
}

struct cluster_unit *
cluster_unit_ref(struct cluster_unit *u)
{
	__atomic_add_fetch(&u->refs, 1, __ATOMIC_RELAXED);
	return u;
}

void
cluster_unit_unref(struct cluster_unit *u)
{
	if (u == NULL || __atomic_sub_fetch(&u->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	cluster_objects_deinit(&u->objs);
	free(u);
}

struct cluster *
cluster_ref(struct cluster *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void
cluster_unref(struct cluster *c)
{
	if (c == NULL)
		return;
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	index_free(c->index);
	arena_deinit(&c->arena);
	for (size_t i = 0; i < c->n_units; i++)
		cluster_unit_unref(c->units[i]);
	free(c->units);
	free(c);
}
