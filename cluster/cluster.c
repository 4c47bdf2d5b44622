/* cluster.c -- building snapshots from loaded objects, and looking things up in them. */
#include "cluster.h"

#include <pthread.h>
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

/* Names need no table: the arrays are in namespace and name order (binary search). */
struct cluster_index {
	struct table svc_by_ip;
	struct table svc_by_node_port;
	struct table pod_by_ip;
	struct table ns_by_name;
};

static uint32_t
hash_str(const char *a)
{
	uint32_t h = 2166136261u;

	for (; *a; a++)
		h = (h ^ (uint8_t)*a) * 16777619u;
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
	table_free(&ix->svc_by_ip);
	table_free(&ix->svc_by_node_port);
	table_free(&ix->pod_by_ip);
	table_free(&ix->ns_by_name);
	free(ix);
}

/* The hash tables of C's arrays. */
static enum svc_status
index_make(const struct cluster *c, struct cluster_index **out)
{
	struct cluster_index *ix = calloc(1, sizeof(*ix));
	size_t i, k, n_np = 0, n_ip = 0, n_pip = 0;
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	if (ix == NULL)
		return SVC_ENOMEM;
	for (i = 0; i < c->n_services; i++) {
		n_np += c->services[i]->n_ports;
		n_ip += c->services[i]->n_cluster_ips;
	}
	for (i = 0; i < c->n_pods; i++)
		n_pip += c->pods[i]->n_ips;
	if (!table_init(&ix->svc_by_ip, n_ip) || !table_init(&ix->svc_by_node_port, n_np) ||
	    !table_init(&ix->pod_by_ip, n_pip) || !table_init(&ix->ns_by_name, c->n_ns_names))
		goto done;
	for (i = 0; i < c->n_services; i++) {
		const struct cluster_service *s = c->services[i];

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

		/* hostNetwork pods share the node's address; they are not found by pod IP. */
		for (k = 0; k < p->n_ips && !p->host_network; k++)
			table_put(&ix->pod_by_ip, hash_ip(&p->ips[k]), (uint32_t)k, p);
	}
	for (i = 0; i < c->n_ns_names; i++)
		table_put(&ix->ns_by_name, hash_str(c->ns_names[i]), 0, c->ns_names[i]);
	*out = ix;
	ix = NULL;
	st = SVC_OK;
done:
	index_free(ix);
	return st;
}

/* A snapshot's tables by address, port and namespace are made on first use: the daemons look
 * up by name alone (a binary search), so they never pay for them. */
static pthread_mutex_t index_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct cluster_index *
index_of(const struct cluster *c)
{
	struct cluster_index *ix = __atomic_load_n(&c->index, __ATOMIC_ACQUIRE);

	if (ix != NULL)
		return ix;
	pthread_mutex_lock(&index_lock);
	ix = c->index;
	if (ix == NULL && index_make(c, &ix) == SVC_OK)
		__atomic_store_n(&((struct cluster *)c)->index, ix, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&index_lock);
	return ix;
}

/* The object named NS/NAME among ITEMS[0..N) (objects starting with their meta, in namespace
 * and name order, no name twice), or NULL. */
static const void *
find_by_name(void *const *items, size_t n, const char *ns, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cluster_meta *m = items[mid];
		int cmp = strcmp(m->ns, ns);

		if (cmp == 0)
			cmp = strcmp(m->name, name);
		if (cmp == 0)
			return m;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
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
match_ns(const struct slot *s, const void *key)
{
	return !strcmp(s->item, key);
}

const struct cluster_service *
cluster_service_by_name(const struct cluster *c, const char *ns, const char *name)
{
	return find_by_name((void *const *)c->services, c->n_services, ns, name);
}

const struct cluster_service *
cluster_service_by_ip(const struct cluster *c, const struct netaddr *ip)
{
	const struct cluster_index *ix = index_of(c);
	const struct slot *s =
	        ix ? table_find(&ix->svc_by_ip, hash_ip(ip), match_service_ip, ip) : NULL;

	return s ? s->item : NULL;
}

const struct cluster_service *
cluster_service_by_node_port(const struct cluster *c, enum cluster_proto proto, int32_t node_port,
                             size_t *port_index)
{
	struct node_port_key k = {proto, node_port};
	const struct cluster_index *ix = index_of(c);
	const struct slot *s =
	        ix ? table_find(&ix->svc_by_node_port, hash_node_port(proto, node_port),
	                        match_node_port, &k)
	           : NULL;

	if (s != NULL && port_index != NULL)
		*port_index = s->aux;
	return s ? s->item : NULL;
}

const struct cluster_pod *
cluster_pod_by_ip(const struct cluster *c, const struct netaddr *ip)
{
	const struct cluster_index *ix = index_of(c);
	const struct slot *s =
	        ix ? table_find(&ix->pod_by_ip, hash_ip(ip), match_pod_ip, ip) : NULL;

	return s ? s->item : NULL;
}

const struct cluster_pod *
cluster_pod_by_name(const struct cluster *c, const char *ns, const char *name)
{
	return find_by_name((void *const *)c->pods, c->n_pods, ns, name);
}

bool
cluster_namespace_exists(const struct cluster *c, const char *ns)
{
	const struct cluster_index *ix = index_of(c);

	return ix != NULL && table_find(&ix->ns_by_name, hash_str(ns), match_ns, ns) != NULL;
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

bool
cluster_kind_namespaced(enum cluster_kind k)
{
	return k < CLUSTER_KIND_COUNT && schema_kinds[k].namespaced;
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

/* Every namespace that exists: declared ones (NAMESPACES, by name) and those holding an object
 * (one shard each, in namespace order): a merge of two sorted lists. */
static enum svc_status
collect_namespaces(struct cluster *c)
{
	const char **all = arena_calloc(&c->arena, c->n_namespaces + c->n_shards + 1, sizeof(*all));
	size_t i = 0, k = 0, n = 0;

	if (all == NULL)
		return SVC_ENOMEM;
	while (i < c->n_namespaces || k < c->n_shards) {
		const char *a = i < c->n_namespaces ? c->namespaces[i]->meta.name : NULL;
		const char *b = k < c->n_shards ? c->shards[k]->ns : NULL;
		int cmp = a == NULL ? 1 : b == NULL ? -1 : strcmp(a, b);
		const char *next = cmp <= 0 ? a : b;

		if (cmp <= 0)
			i++;
		if (cmp >= 0)
			k++;
		if (n == 0 || strcmp(all[n - 1], next) != 0)
			all[n++] = next;
	}
	c->ns_names = all;
	c->n_ns_names = n;
	return SVC_OK;
}

/* Write allocated and defaulted values back into the manifest fields, so printing and writing
 * an object shows what the cluster uses. */
enum svc_status
build_fill_service(struct arena *a, struct cluster_service *s)
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

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
meta_key_cmp(const void *key, const void *item)
{
	return strcmp(key, (*(const struct cluster_meta *const *)item)->name);
}

/* Object NAME of the cluster-scoped ITEMS (N of them, by name), or NULL. */
static const void *
scoped_find(void *const *items, size_t n, const char *name)
{
	void *const *p = n > 0 ? bsearch(name, items, n, sizeof(*items), meta_key_cmp) : NULL;

	return p != NULL ? *p : NULL;
}

static bool
node_down(const struct cluster_config *cfg, struct cluster_lease *const *leases, size_t n_leases,
          const struct cluster_node *n)
{
	return !n->ready || (cfg->node_leases &&
	                     scoped_find((void *const *)leases, n_leases, n->meta.name) == NULL);
}

enum svc_status
build_nodes_down(const struct cluster_config *cfg, const struct build_scoped *in, const char ***out,
                 size_t *n)
{
	*n = 0;
	*out = malloc((in->n_nodes + 1) * sizeof(**out));
	if (*out == NULL)
		return SVC_ENOMEM;
	/* Nodes are by name: so are their names. */
	for (size_t i = 0; i < in->n_nodes; i++)
		if (node_down(cfg, in->leases, in->n_leases, in->nodes[i]))
			(*out)[(*n)++] = in->nodes[i]->meta.name;
	return SVC_OK;
}

bool
cluster_node_down(const struct cluster *c, const char *name)
{
	return name != NULL && c->n_nodes_down > 0 &&
	       bsearch(&name, c->nodes_down, c->n_nodes_down, sizeof(*c->nodes_down), name_cmp) !=
	               NULL;
}

static int
ns_name_key_cmp(const void *key, const void *item)
{
	const struct cluster_meta *k = key, *m = *(const struct cluster_meta *const *)item;
	int r = strcmp(k->ns, m->ns);

	return r ? r : strcmp(k->name, m->name);
}

const struct cluster_podstatus *
cluster_podstatus_of(const struct cluster *c, const struct cluster_pod *p)
{
	const struct cluster_podstatus *const *ps =
	        c->n_podstatuses > 0 ? bsearch(&p->meta, c->podstatuses, c->n_podstatuses,
	                                       sizeof(*c->podstatuses), ns_name_key_cmp)
	                             : NULL;

	return ps != NULL ? *ps : NULL;
}

bool
cluster_pod_ready(const struct cluster *c, const struct cluster_pod *p)
{
	const struct cluster_podstatus *ps = cluster_podstatus_of(c, p);
	bool ready = ps != NULL && ps->ready >= 0 ? ps->ready == 1 : p->ready;

	return ready && !cluster_node_down(c, p->node_name);
}

bool
cluster_node_ready(const struct cluster *c, const struct cluster_node *n)
{
	return !node_down(&c->config, c->leases, c->n_leases, n);
}

enum svc_status
build_assemble(const struct cluster_config *cfg, struct cluster_shard **shards, size_t n_shards,
               const struct build_scoped *in, struct cluster_unit **units, size_t n_units,
               struct cluster **out)
{
	const char **down = NULL;
	size_t n_down = 0;
	struct cluster *c = calloc(1, sizeof(*c));
	size_t i, ns = 0, np = 0, ne = 0, nl = 0, nps = 0;
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	if (c == NULL) {
		for (i = 0; i < n_shards; i++)
			shard_unref(shards[i]);
		for (i = 0; i < n_units; i++)
			cluster_unit_unref(units[i]);
		free(shards);
		free(units);
		return SVC_ENOMEM;
	}
	c->refs = 1;
	c->config = *cfg;
	c->shards = shards;
	c->n_shards = n_shards;
	c->units = units;
	c->n_units = n_units;
	for (i = 0; i < n_shards; i++) {
		ns += shards[i]->n_services;
		np += shards[i]->n_pods;
		ne += shards[i]->n_endpoints;
		nl += shards[i]->n_slices;
		nps += shards[i]->n_podstatuses;
	}
	c->services = arena_calloc(&c->arena, ns + 1, sizeof(void *));
	c->pods = arena_calloc(&c->arena, np + 1, sizeof(void *));
	c->endpoints = arena_calloc(&c->arena, ne + 1, sizeof(void *));
	c->slices = arena_calloc(&c->arena, nl + 1, sizeof(void *));
	c->podstatuses = arena_calloc(&c->arena, nps + 1, sizeof(void *));
	c->namespaces =
	        copy_array(&c->arena, (void *)in->namespaces, in->n_namespaces, sizeof(void *));
	c->n_namespaces = in->n_namespaces;
	c->nodes = copy_array(&c->arena, (void *)in->nodes, in->n_nodes, sizeof(void *));
	c->n_nodes = in->n_nodes;
	c->leases = copy_array(&c->arena, (void *)in->leases, in->n_leases, sizeof(void *));
	c->n_leases = in->n_leases;
	if (c->services == NULL || c->pods == NULL || c->endpoints == NULL || c->slices == NULL ||
	    c->podstatuses == NULL || c->namespaces == NULL || c->nodes == NULL ||
	    c->leases == NULL || build_nodes_down(cfg, in, &down, &n_down) != SVC_OK)
		goto done;
	c->nodes_down = copy_array(&c->arena, (void *)down, n_down, sizeof(void *));
	c->n_nodes_down = n_down;
	if (c->nodes_down == NULL)
		goto done;
	/* Shards are in namespace order and each is in name order: so is the concatenation. */
	for (i = 0; i < n_shards; i++) {
		const struct cluster_shard *sh = shards[i];

		memcpy(c->services + c->n_services, sh->services, sh->n_services * sizeof(void *));
		c->n_services += sh->n_services;
		memcpy(c->pods + c->n_pods, sh->pods, sh->n_pods * sizeof(void *));
		c->n_pods += sh->n_pods;
		memcpy(c->endpoints + c->n_endpoints, sh->endpoints,
		       sh->n_endpoints * sizeof(void *));
		c->n_endpoints += sh->n_endpoints;
		memcpy(c->slices + c->n_slices, sh->slices, sh->n_slices * sizeof(void *));
		c->n_slices += sh->n_slices;
		memcpy(c->podstatuses + c->n_podstatuses, sh->podstatuses,
		       sh->n_podstatuses * sizeof(void *));
		c->n_podstatuses += sh->n_podstatuses;
	}
	st = collect_namespaces(c);
done:
	free(down);
	if (st != SVC_OK) {
		cluster_unref(c);
		c = NULL;
	}
	*out = c;
	return st;
}

static int
ns_cmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

/* The end of the run of ITEMS[FROM..N) in namespace NS (lists are in namespace order). */
static size_t
ns_run(void *const *items, size_t from, size_t n, const char *ns)
{
	while (from < n && ns_cmp(((const struct cluster_meta *)items[from])->ns, ns) == 0)
		from++;
	return from;
}

/* The namespace that comes first among the heads of the five lists, or NULL when all are done. */
static const char *
next_ns(const struct cluster_objects *o, const size_t at[5])
{
	void *const *lists[5] = {(void *const *)o->services, (void *const *)o->pods,
	                         (void *const *)o->endpoints, (void *const *)o->slices,
	                         (void *const *)o->podstatuses};
	const size_t ns[5] = {o->n_services, o->n_pods, o->n_endpoints, o->n_slices,
	                      o->n_podstatuses};
	const char *best = NULL;

	for (int k = 0; k < 5; k++)
		if (at[k] < ns[k]) {
			const char *n = ((const struct cluster_meta *)lists[k][at[k]])->ns;

			if (best == NULL || ns_cmp(n, best) < 0)
				best = n;
		}
	return best;
}

/* A whole snapshot of VIEW (validated, in namespace and name order, no name twice): allocate,
 * then one shard per namespace. VIEW's data moves into the snapshot's arena. Any error fails. */
static enum svc_status
build_full(struct cluster_objects *view, const struct cluster_config *cfg, struct diag *d,
           struct cluster **out)
{
	struct cluster_shard **shards = NULL;
	size_t n_shards = 0, at[5] = {0}, i, errors = d->errors;
	struct arena data;
	enum svc_status st = SVC_OK;
	const char *ns, **down = NULL;
	size_t n_down = 0;
	const struct build_scoped scoped = {view->namespaces, view->n_namespaces, view->nodes,
	                                    view->n_nodes,    view->leases,       view->n_leases};

	*out = NULL;
	arena_init(&data);
	alloc_objects(view, cfg, d);
	arena_move(&data, &view->arena);
	if (d->errors != errors) {
		st = SVC_EINVAL;
		goto done;
	}
	shards = malloc((view->n_services + view->n_pods + view->n_endpoints + view->n_slices +
	                 view->n_podstatuses + 1) *
	                sizeof(*shards));
	if (shards == NULL || build_nodes_down(cfg, &scoped, &down, &n_down) != SVC_OK) {
		st = SVC_ENOMEM;
		goto done;
	}
	while (st == SVC_OK && (ns = next_ns(view, at)) != NULL) {
		struct shard_input in = {.ns = ns, .nodes_down = down, .n_nodes_down = n_down};
		size_t end[5];

		end[0] = ns_run((void *const *)view->services, at[0], view->n_services, ns);
		end[1] = ns_run((void *const *)view->pods, at[1], view->n_pods, ns);
		end[2] = ns_run((void *const *)view->endpoints, at[2], view->n_endpoints, ns);
		end[3] = ns_run((void *const *)view->slices, at[3], view->n_slices, ns);
		end[4] = ns_run((void *const *)view->podstatuses, at[4], view->n_podstatuses, ns);
		in.services =
		        view->services != NULL ? view->services + at[0] : NULL; /* NULL + 0 is UB */
		in.n_services = end[0] - at[0];
		in.pods = view->pods != NULL ? view->pods + at[1] : NULL;
		in.n_pods = end[1] - at[1];
		in.endpoints = view->endpoints != NULL ? view->endpoints + at[2] : NULL;
		in.n_endpoints = end[2] - at[2];
		in.slices = view->slices != NULL ? view->slices + at[3] : NULL;
		in.n_slices = end[3] - at[3];
		in.podstatuses = view->podstatuses != NULL ? view->podstatuses + at[4] : NULL;
		in.n_podstatuses = end[4] - at[4];
		memcpy(at, end, sizeof(at));
		st = shard_build(cfg, &in, NULL, 0, d, &shards[n_shards]);
		if (st == SVC_OK)
			n_shards++;
	}
	if (st == SVC_OK) {
		st = build_assemble(cfg, shards, n_shards, &scoped, NULL, 0, out);
		shards = NULL;
		n_shards = 0;
		/* The objects the shards point at live as long as the snapshot. */
		if (*out != NULL)
			arena_move(&(*out)->arena, &data);
	}
done:
	for (i = 0; i < n_shards; i++)
		shard_unref(shards[i]);
	free(shards);
	free(down);
	arena_deinit(&data);
	view->n_services = view->n_pods = view->n_endpoints = view->n_slices = view->n_namespaces =
	        view->n_nodes = view->n_leases = view->n_podstatuses = 0;
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
		        objs->n_namespaces = objs->n_nodes = objs->n_leases = objs->n_podstatuses =
		                0;
		return SVC_EINVAL;
	}
	/* Validation left every list sorted by namespace, then name. */
	return build_full(objs, cfg, d, out);
}

enum svc_status
cluster_load_status(const char *dir, const char *status_dir, const struct cluster_config *cfg,
                    struct diag *d, struct cluster **out)
{
	struct store *s = NULL;
	struct dirsrc *ds = NULL, *ss = NULL;
	size_t errors = d->errors;
	enum svc_status st;
	struct stat sb;

	*out = NULL;
	st = store_create(cfg, &s);
	if (st == SVC_OK)
		st = dirsrc_create(dir, &ds);
	if (st == SVC_OK)
		st = dirsrc_scan(ds, s, d, NULL);
	/* No status directory (no prober ran yet): no statuses. */
	if (st == SVC_OK && status_dir != NULL && stat(status_dir, &sb) == 0 &&
	    S_ISDIR(sb.st_mode)) {
		st = dirsrc_create(status_dir, &ss);
		if (st == SVC_OK && dirsrc_scan(ss, s, d, NULL) == SVC_ENOMEM)
			st = SVC_ENOMEM;
	}
	if (st == SVC_OK)
		st = store_snapshot(s, d, out);
	if (st == SVC_OK && d->errors != errors)
		st = SVC_EINVAL;
	dirsrc_destroy(ss);
	dirsrc_destroy(ds);
	store_destroy(s);
	return st;
}

enum svc_status
cluster_load(const char *dir, const struct cluster_config *cfg, struct diag *d,
             struct cluster **out)
{
	return cluster_load_status(dir, NULL, cfg, d, out);
}

void
cluster_diff_shards(const struct cluster *old, const struct cluster *new,
                    void (*fn)(void *arg, const char *ns), void *arg)
{
	size_t i = 0, k = 0, n_old = old ? old->n_shards : 0, n_new = new ? new->n_shards : 0;

	while (i < n_old || k < n_new) {
		int c = i == n_old   ? 1
		        : k == n_new ? -1
		                     : strcmp(old->shards[i]->ns, new->shards[k]->ns);

		if (c < 0) {
			fn(arg, old->shards[i++]->ns);
		} else if (c > 0) {
			fn(arg, new->shards[k++]->ns);
		} else {
			if (old->shards[i] != new->shards[k])
				fn(arg, new->shards[k]->ns);
			i++;
			k++;
		}
	}
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
	for (size_t i = 0; i < c->n_shards; i++)
		shard_unref(c->shards[i]);
	free(c->shards);
	arena_deinit(&c->arena);
	for (size_t i = 0; i < c->n_units; i++)
		cluster_unit_unref(c->units[i]);
	free(c->units);
	free(c);
}
