/* endpoints.c -- the endpoints controller: which addresses and ports serve each service.
 *
 * A service with a selector takes the pods of its namespace whose labels match, that have an IP,
 * are not Succeeded or Failed, resolving a named targetPort per pod. A service without a
 * selector takes the Endpoints object or EndpointSlices named for it. Readiness follows the
 * EndpointSlice controller: ready = publishNotReadyAddresses || (pod Ready && not terminating).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "htab.h"
#include "vec.h"

#define SERVICE_NAME_LABEL "kubernetes.io/service-name"
/* Selectors and label sets both larger than this are matched through a hash table. */
#define SELECTOR_HASH_MIN 8

/* Growable endpoint list on the heap while building; copied into the arena when done. */
struct eplist {
	struct cluster_endpoint *items;
	size_t n, cap;
};

static struct cluster_endpoint *
eplist_add(struct eplist *l)
{
	return vec_push(&l->items, &l->n, &l->cap, sizeof(*l->items), NULL);
}

/* An endpoint's port numbers, one per service port: 4-aligned, not 16 (one array an endpoint).
 */
static int32_t *
ports_alloc(struct arena *a, size_t n_ports)
{
	if (n_ports > SIZE_MAX / sizeof(int32_t))
		return NULL;
	return arena_alloc_aligned(a, (n_ports ? n_ports : 1) * sizeof(int32_t), _Alignof(int32_t));
}

static const char *
label_get(const struct cluster_labels *l, const char *key)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->items[i].key, key))
			return l->items[i].value;
	return NULL;
}

/* A pod's label in selector_matches' table. */
struct label_slot {
	struct htab_node hn;
	const struct cluster_label *label;
};

static bool
selector_matches_small(const struct cluster_labels *sel, const struct cluster_labels *labels)
{
	size_t i;

	for (i = 0; i < sel->n; i++) {
		const char *v = label_get(labels, sel->items[i].key);

		if (v == NULL || strcmp(v, sel->items[i].value) != 0)
			return false;
	}
	return true;
}

/* Whether LABELS satisfy every key=value of SEL. Comparing each selector key with each label
 * costs |SEL| x |LABELS|; when both are large the labels are hashed first, so a 40,000-key
 * selector against as many labels costs O(n), not O(n^2). */
static bool
selector_matches(const struct cluster_labels *sel, const struct cluster_labels *labels)
{
	struct label_slot *slots;
	struct htab tab;
	bool ok = true;
	size_t i;

	if (sel->n <= SELECTOR_HASH_MIN || labels->n <= SELECTOR_HASH_MIN)
		return selector_matches_small(sel, labels);
	htab_init(&tab);
	slots = malloc(labels->n * sizeof(*slots));
	if (slots == NULL || htab_reserve(&tab, labels->n) != SVC_OK) {
		/* Out of memory: the slow way still gives the right answer. */
		ok = selector_matches_small(sel, labels);
		goto done;
	}
	for (i = 0; i < labels->n; i++) {
		slots[i].label = &labels->items[i];
		htab_insert(&tab, &slots[i].hn, htab_hash_str(labels->items[i].key, 0));
	}
	for (i = 0; i < sel->n && ok; i++) {
		const char *key = sel->items[i].key;
		uint32_t h = htab_hash_str(key, 0);
		const char *v = NULL;
		struct htab_node *hn;

		for (hn = htab_find(&tab, h); hn != NULL && v == NULL; hn = htab_next(hn, h)) {
			const struct cluster_label *l = htab_item(hn, struct label_slot, hn)->label;

			if (!strcmp(l->key, key))
				v = l->value;
		}
		ok = v != NULL && !strcmp(v, sel->items[i].value);
	}
done:
	htab_deinit(&tab);
	free(slots);
	return ok;
}

/* FindPort: the containerPort named NAME with protocol PROTO; sidecar init containers
 * (restartPolicy Always) count as containers. 0 when the pod has none. */
static int32_t
find_named_port(const struct cluster_pod *p, const char *name, enum cluster_proto proto)
{
	size_t i, k;

	for (i = 0; i < p->n_containers; i++)
		for (k = 0; k < p->containers[i].n_ports; k++) {
			const struct cluster_container_port *cp = &p->containers[i].ports[k];

			if (cp->name && !strcmp(cp->name, name) && cp->proto == proto)
				return cp->port;
		}
	for (i = 0; i < p->n_init_containers; i++) {
		if (p->init_containers[i].restart_policy == NULL ||
		    strcmp(p->init_containers[i].restart_policy, "Always") != 0)
			continue;
		for (k = 0; k < p->init_containers[i].n_ports; k++) {
			const struct cluster_container_port *cp = &p->init_containers[i].ports[k];

			if (cp->name && !strcmp(cp->name, name) && cp->proto == proto)
				return cp->port;
		}
	}
	return 0;
}

/* The IP families a service publishes endpoints for. */
static void
service_families(const struct cluster_service *s, const struct cluster_config *cfg, bool fam[7])
{
	size_t i;

	memset(fam, 0, 7 * sizeof(bool));
	for (i = 0; i < s->n_cluster_ips; i++)
		fam[s->cluster_ips[i].family] = true;
	for (i = 0; i < s->n_ip_families_text; i++) {
		if (!strcmp(s->ip_families_text[i], "IPv4"))
			fam[NETADDR_V4] = true;
		else if (!strcmp(s->ip_families_text[i], "IPv6"))
			fam[NETADDR_V6] = true;
	}
	if (s->n_cluster_ips > 0 || s->n_ip_families_text > 0)
		return;
	/* Headless without ipFamilies: the primary family, both under a dual-stack policy. */
	if (cfg->n_service_cidrs > 0)
		fam[cfg->service_cidrs[0].addr.family] = true;
	if (s->family_policy != CLUSTER_FAMILY_SINGLE)
		for (i = 0; i < cfg->n_service_cidrs; i++)
			fam[cfg->service_cidrs[i].addr.family] = true;
}

/* (namespace, label key, label value, object) rows sorted for binary search (by a hash of the
 * three first, so sorting 500,000 rows rarely compares strings): the candidates for
 * a selector are the rows of its first label, so matching costs O(log n) plus the matches, not a
 * scan of every pod for every service. Slices are indexed the same way by their service label. */
struct label_row {
	uint64_t hash; /* of ns, key and value: sorting and searching compare strings only on a tie
	                */
	const char *ns, *key, *value;
	const void *obj;
};

struct label_index {
	struct label_row *rows;
	size_t n;
};

static int
row_cmp(const void *pa, const void *pb)
{
	const struct label_row *a = pa, *b = pb;
	int c;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	c = strcmp(a->ns, b->ns);
	if (c == 0)
		c = strcmp(a->key, b->key);
	if (c == 0)
		c = strcmp(a->value, b->value);
	return c;
}

static uint64_t
row_hash(const char *ns, const char *key, const char *value)
{
	/* FNV-1a, 64 bit, over the three strings and their NULs. */
	uint64_t h = 14695981039346656037ull;
	const char *parts[3] = {ns, key, value};

	for (int i = 0; i < 3; i++) {
		const char *p = parts[i];

		do
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
		while (*p++ != '\0');
	}
	return h;
}

/* Index every label of N objects (each starting with its meta) whose key is KEY (any if NULL). */
static enum svc_status
label_index_build(struct label_index *ix, void *const *objs, size_t n, const char *key)
{
	size_t i, k, total = 0;

	for (i = 0; i < n; i++)
		total += ((const struct cluster_meta *)objs[i])->labels.n;
	ix->n = 0;
	ix->rows = malloc((total ? total : 1) * sizeof(*ix->rows));
	if (ix->rows == NULL)
		return SVC_ENOMEM;
	for (i = 0; i < n; i++) {
		const struct cluster_meta *m = objs[i];

		for (k = 0; k < m->labels.n; k++)
			if (key == NULL || !strcmp(m->labels.items[k].key, key))
				ix->rows[ix->n++] =
				        (struct label_row){row_hash(m->ns, m->labels.items[k].key,
				                                    m->labels.items[k].value),
				                           m->ns, m->labels.items[k].key,
				                           m->labels.items[k].value, objs[i]};
	}
	return SVC_OK;
}

/* The rows equal to (NS, KEY, VALUE): *FIRST and the count. */
static size_t
label_index_find(const struct label_index *ix, const char *ns, const char *key, const char *value,
                 size_t *first)
{
	struct label_row want = {row_hash(ns, key, value), ns, key, value, NULL};
	size_t lo = 0, hi = ix->n, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (row_cmp(&ix->rows[mid], &want) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < ix->n && row_cmp(&ix->rows[end], &want) == 0; end++)
		;
	*first = lo;
	return end - lo;
}

static enum svc_status
from_pods(struct cluster *c, struct arena *a, struct cluster_service *s, struct eplist *out,
          const struct label_index *pods_by_label)
{
	bool fam[7];
	size_t i, k, p, first, n;

	service_families(s, &c->config, fam);
	n = label_index_find(pods_by_label, s->meta.ns, s->selector.items[0].key,
	                     s->selector.items[0].value, &first);
	for (i = first; i < first + n; i++) {
		const struct cluster_pod *pod = pods_by_label->rows[i].obj;
		bool terminating = pod->meta.deleted != NULL, ready;

		if (!selector_matches(&s->selector, &pod->meta.labels))
			continue;
		if (pod->n_ips == 0 || pod->phase == CLUSTER_POD_SUCCEEDED ||
		    pod->phase == CLUSTER_POD_FAILED)
			continue;
		ready = cluster_pod_ready(c, pod);
		for (k = 0; k < pod->n_ips; k++) {
			struct cluster_endpoint *ep;

			if (!fam[pod->ips[k].family])
				continue;
			ep = eplist_add(out);
			if (ep == NULL)
				return SVC_ENOMEM;
			ep->ip = pod->ips[k];
			ep->pod = pod;
			ep->node_name = pod->node_name;
			if (pod->hostname != NULL && pod->subdomain != NULL &&
			    !strcmp(pod->subdomain, s->meta.name))
				ep->hostname = pod->hostname;
			ep->terminating = terminating;
			ep->serving = ready;
			ep->ready = s->publish_not_ready || (ready && !terminating);
			ep->ports = ports_alloc(a, s->n_ports);
			if (ep->ports == NULL)
				return SVC_ENOMEM;
			for (p = 0; p < s->n_ports; p++) {
				const struct cluster_port *sp = &s->ports[p];

				ep->ports[p] =
				        sp->target_name
				                ? find_named_port(pod, sp->target_name, sp->proto)
				                : sp->target_port;
			}
		}
	}
	return SVC_OK;
}

/* The endpoint port for service port SP among PORTS: matched by name (and protocol); a single
 * unnamed service port takes the single port. */
static int32_t
match_port(const struct cluster_port *sp, const struct cluster_ep_port *ports, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *a = sp->name ? sp->name : "", *b = ports[i].name ? ports[i].name : "";

		if (!strcmp(a, b) && sp->proto == ports[i].proto)
			return ports[i].port;
	}
	return 0;
}

static struct cluster_endpoint *
find_or_add(struct eplist *out, struct arena *a, const struct netaddr *ip, size_t n_ports)
{
	size_t i;
	struct cluster_endpoint *ep;

	for (i = 0; i < out->n; i++)
		if (netaddr_equal(&out->items[i].ip, ip))
			return &out->items[i];
	ep = eplist_add(out);
	if (ep == NULL)
		return NULL;
	ep->ip = *ip;
	ep->ports = ports_alloc(a, n_ports);
	return ep->ports ? ep : NULL;
}

static enum svc_status
from_endpoints(struct arena *a, struct cluster_service *s, const struct cluster_endpoints *e,
               struct eplist *out)
{
	size_t i, j, p, pass;

	for (i = 0; i < e->n_subsets; i++) {
		const struct cluster_ep_subset *ss = &e->subsets[i];

		for (pass = 0; pass < 2; pass++) {
			const struct cluster_ep_address *addrs =
			        pass ? ss->not_ready : ss->addresses;
			size_t n = pass ? ss->n_not_ready : ss->n_addresses;

			for (j = 0; j < n; j++) {
				struct netaddr ip;
				struct cluster_endpoint *ep;

				if (netaddr_parse(&ip, addrs[j].ip) != SVC_OK)
					continue;
				ep = find_or_add(out, a, &ip, s->n_ports);
				if (ep == NULL)
					return SVC_ENOMEM;
				ep->ready = ep->ready || pass == 0 || s->publish_not_ready;
				ep->serving = ep->ready;
				if (addrs[j].hostname)
					ep->hostname = addrs[j].hostname;
				if (addrs[j].node_name)
					ep->node_name = addrs[j].node_name;
				for (p = 0; p < s->n_ports; p++) {
					int32_t port =
					        match_port(&s->ports[p], ss->ports, ss->n_ports);

					if (port != 0)
						ep->ports[p] = port;
				}
			}
		}
	}
	return SVC_OK;
}

static enum svc_status
from_slice(struct arena *a, struct cluster_service *s, const struct cluster_endpointslice *sl,
           struct eplist *out)
{
	size_t i, p;

	if (sl->address_type == NULL || !strcmp(sl->address_type, "FQDN"))
		return SVC_OK;
	for (i = 0; i < sl->n_endpoints; i++) {
		const struct cluster_slice_endpoint *se = &sl->endpoints[i];
		struct netaddr ip;
		struct cluster_endpoint *ep;

		/* Addresses of one endpoint are fungible; consumers use the first. */
		if (se->n_addresses == 0 || netaddr_parse(&ip, se->addresses[0]) != SVC_OK)
			continue;
		ep = find_or_add(out, a, &ip, s->n_ports);
		if (ep == NULL)
			return SVC_ENOMEM;
		ep->ready = se->conditions.ready != CLUSTER_FALSE || s->publish_not_ready;
		ep->serving = se->conditions.serving == CLUSTER_NIL
		                      ? ep->ready
		                      : se->conditions.serving == CLUSTER_TRUE;
		ep->terminating = se->conditions.terminating == CLUSTER_TRUE;
		ep->hostname = se->hostname;
		ep->node_name = se->node_name;
		for (p = 0; p < s->n_ports; p++) {
			int32_t port = match_port(&s->ports[p], sl->ports, sl->n_ports);

			if (port != 0)
				ep->ports[p] = port;
		}
	}
	return SVC_OK;
}

static int
ep_cmp(const void *pa, const void *pb)
{
	return netaddr_cmp(&((const struct cluster_endpoint *)pa)->ip,
	                   &((const struct cluster_endpoint *)pb)->ip);
}

/* An endpoint of make_endpoints_view: sorting these groups equal port sets. */
struct set_key {
	const int32_t *ports;
	size_t n_ports; /* the service's: qsort passes no context */
	size_t i;       /* index into the service's endpoints */
	size_t group;
};

static int
set_key_ports_cmp(const struct set_key *a, const struct set_key *b)
{
	return a->n_ports ? memcmp(a->ports, b->ports, a->n_ports * sizeof(int32_t)) : 0;
}

static int
set_key_cmp(const void *pa, const void *pb)
{
	const struct set_key *a = pa, *b = pb;
	int c = set_key_ports_cmp(a, b);

	return c ? c : (a->i < b->i ? -1 : a->i > b->i);
}

static int
set_key_by_index(const void *pa, const void *pb)
{
	const struct set_key *a = pa, *b = pb;

	return a->i < b->i ? -1 : a->i > b->i;
}

/* SET_OF[i] = the subset of endpoint I: subsets are the distinct port sets, numbered in order
 * of their first endpoint; SIZE_MAX for endpoints left out. Sorting finds equal sets, so a
 * service whose endpoints have many different port sets costs n log n, not n^2. Returns the
 * number of subsets, or SIZE_MAX when out of memory. */
static size_t
endpoint_sets(const struct cluster_service *s, size_t *set_of)
{
	struct set_key *k = malloc(s->n_endpoints * sizeof(*k));
	size_t n = 0, n_sets = 0, *rank = NULL;

	if (k == NULL)
		return SIZE_MAX;
	for (size_t i = 0; i < s->n_endpoints; i++) {
		set_of[i] = SIZE_MAX;
		/* The Endpoints controller leaves terminating pods out unless the service
		 * publishes not-ready addresses (then they are ready anyway). */
		if (!(s->endpoints[i].terminating && !s->endpoints[i].ready))
			k[n++] = (struct set_key){s->endpoints[i].ports, s->n_ports, i, 0};
	}
	qsort(k, n, sizeof(*k), set_key_cmp);
	/* Group g's first entry is its lowest index: ranking groups by it numbers the subsets
	 * in order of their first endpoint. */
	rank = malloc((n ? n : 1) * sizeof(*rank));
	if (rank == NULL) {
		free(k);
		return SIZE_MAX;
	}
	for (size_t j = 0, g = 0; j < n; j++) {
		if (j > 0 && set_key_ports_cmp(&k[j], &k[j - 1]) != 0)
			g++;
		k[j].group = g;
	}
	qsort(k, n, sizeof(*k), set_key_by_index);
	for (size_t j = 0; j < n; j++)
		rank[j] = SIZE_MAX;
	for (size_t j = 0; j < n; j++) {
		if (rank[k[j].group] == SIZE_MAX)
			rank[k[j].group] = n_sets++;
		set_of[k[j].i] = rank[k[j].group];
	}
	free(k);
	free(rank);
	return n_sets;
}

/* The Endpoints object the controller would write for S: one subset per distinct port set.
 * Arrays are allocated at their exact size: this view is kept for every selector service. */
static struct cluster_endpoints *
make_endpoints_view(struct arena *a, const struct cluster_service *s)
{
	struct cluster_endpoints *e = arena_alloc(a, sizeof(*e));
	size_t i, j, k, n_sets;
	size_t *set_of = NULL, *n_ready = NULL, *n_not = NULL;

	if (e == NULL)
		return NULL;
	e->meta.name = s->meta.name;
	e->meta.ns = s->meta.ns;
	e->meta.labels = s->meta.labels;
	e->meta.created = s->meta.created;
	e->meta.created_unix = s->meta.created_unix;
	e->meta.origin = s->meta.origin;
	e->generated = true;
	if (s->n_endpoints == 0)
		return e;
	set_of = malloc(s->n_endpoints * sizeof(*set_of));
	n_sets = set_of != NULL ? endpoint_sets(s, set_of) : SIZE_MAX;
	if (n_sets == SIZE_MAX) {
		e = NULL;
		goto done;
	}
	if (n_sets == 0)
		goto done;
	n_ready = calloc(n_sets, sizeof(*n_ready));
	n_not = calloc(n_sets, sizeof(*n_not));
	e->subsets = arena_calloc(a, n_sets, sizeof(*e->subsets));
	if (n_ready == NULL || n_not == NULL || e->subsets == NULL) {
		e = NULL;
		goto done;
	}
	e->n_subsets = n_sets;
	for (i = 0; i < s->n_endpoints; i++) {
		if (set_of[i] != SIZE_MAX)
			(s->endpoints[i].ready ? n_ready : n_not)[set_of[i]]++;
	}
	for (k = 0; k < n_sets; k++) {
		struct cluster_ep_subset *ss = &e->subsets[k];

		ss->addresses = arena_calloc(a, n_ready[k], sizeof(*ss->addresses));
		ss->not_ready = arena_calloc(a, n_not[k], sizeof(*ss->not_ready));
		if (ss->addresses == NULL || ss->not_ready == NULL) {
			e = NULL;
			goto done;
		}
	}
	/* Endpoints in order, each to its subset: a subset's addresses keep endpoint order. */
	for (i = 0; i < s->n_endpoints; i++) {
		const struct cluster_endpoint *ep = &s->endpoints[i];
		struct cluster_ep_subset *ss;
		struct cluster_ep_address *ad;
		char buf[NETADDR_STRLEN];

		if (set_of[i] == SIZE_MAX)
			continue;
		ss = &e->subsets[set_of[i]];
		ad = ep->ready ? &ss->addresses[ss->n_addresses++]
		               : &ss->not_ready[ss->n_not_ready++];
		ad->ip = arena_strdup(a, netaddr_str(&ep->ip, buf));
		ad->hostname = ep->hostname;
		ad->node_name = ep->node_name;
		if (ep->pod != NULL) {
			ad->target = arena_alloc(a, sizeof(*ad->target));
			if (ad->target != NULL) {
				ad->target->kind = "Pod";
				ad->target->name = ep->pod->meta.name;
				ad->target->ns = ep->pod->meta.ns;
			}
		}
	}
	/* Every endpoint of a subset has the same ports: any one of them gives the list. */
	for (i = 0; i < s->n_endpoints; i++) {
		const struct cluster_endpoint *rep = &s->endpoints[i];
		struct cluster_ep_subset *ss;

		if (set_of[i] == SIZE_MAX || e->subsets[set_of[i]].ports != NULL)
			continue;
		ss = &e->subsets[set_of[i]];
		ss->ports = arena_calloc(a, s->n_ports + 1, sizeof(*ss->ports));
		if (ss->ports == NULL) {
			e = NULL;
			goto done;
		}
		for (j = 0; j < s->n_ports; j++) {
			if (rep->ports[j] == 0)
				continue;
			ss->ports[ss->n_ports].name = s->ports[j].name;
			ss->ports[ss->n_ports].proto = s->ports[j].proto;
			ss->ports[ss->n_ports].port = rep->ports[j];
			ss->ports[ss->n_ports].app_protocol = s->ports[j].app_protocol;
			ss->n_ports++;
		}
	}
done:
	free(set_of);
	free(n_ready);
	free(n_not);
	return e;
}

/* Per-port lists, so the forwarder picks among a port's ready endpoints without a scan. */
static enum svc_status
index_ports(struct arena *a, struct cluster_service *s)
{
	size_t p, i, pass;

	if (s->n_ports == 0)
		return SVC_OK;
	s->port_endpoints = arena_calloc(a, s->n_ports, sizeof(*s->port_endpoints));
	if (s->port_endpoints == NULL)
		return SVC_ENOMEM;
	for (p = 0; p < s->n_ports; p++) {
		struct cluster_port_endpoints *pe = &s->port_endpoints[p];

		pe->items =
		        arena_calloc(a, s->n_endpoints ? s->n_endpoints : 1, sizeof(*pe->items));
		if (pe->items == NULL)
			return SVC_ENOMEM;
		for (pass = 0; pass < 2; pass++)
			for (i = 0; i < s->n_endpoints; i++) {
				const struct cluster_endpoint *ep = &s->endpoints[i];

				if (ep->ports[p] == 0 || ep->ready != (pass == 0))
					continue;
				pe->items[pe->n++] = ep;
				if (pass == 0)
					pe->n_ready++;
			}
	}
	return SVC_OK;
}

static bool
view_push(struct cluster_endpoints ***arr, size_t *n, size_t *cap, struct cluster_endpoints *e)
{
	struct cluster_endpoints **slot = vec_push(arr, n, cap, sizeof(**arr), NULL);

	if (slot == NULL)
		return false;
	*slot = e;
	return true;
}

static int
view_cmp(const void *pa, const void *pb)
{
	const struct cluster_endpoints *a = *(const struct cluster_endpoints *const *)pa;
	const struct cluster_endpoints *b = *(const struct cluster_endpoints *const *)pb;
	int c = strcmp(a->meta.ns, b->meta.ns);

	return c ? c : strcmp(a->meta.name, b->meta.name);
}

static const struct cluster_endpoints *
find_endpoints(const struct cluster *c, const char *ns, const char *name)
{
	size_t lo = 0, hi = c->n_endpoints;

	/* Loaded Endpoints are in namespace/name order (validation sorted them). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cluster_meta *m = &c->endpoints[mid]->meta;
		int cmp = strcmp(m->ns, ns);

		if (cmp == 0)
			cmp = strcmp(m->name, name);
		if (cmp == 0)
			return c->endpoints[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int
ptr_order_cmp(const void *pa, const void *pb)
{
	const struct label_row *a = pa, *b = pb;
	int c = row_cmp(a, b);

	if (c != 0)
		return c;
	c = strcmp(((const struct cluster_meta *)a->obj)->name,
	           ((const struct cluster_meta *)b->obj)->name);
	return c;
}

static int
hash_cmp(const void *pa, const void *pb)
{
	const struct label_row *a = pa, *b = pb;

	return a->hash < b->hash ? -1 : a->hash > b->hash;
}

/* Sort IX in ptr_order_cmp's order: by hash alone (integers), then each run of one hash (one
 * label value, nearly always) by the full comparison. */
static void
label_index_sort(struct label_index *ix)
{
	qsort(ix->rows, ix->n, sizeof(*ix->rows), hash_cmp);
	for (size_t i = 0, end; i < ix->n; i = end) {
		for (end = i + 1; end < ix->n && ix->rows[end].hash == ix->rows[i].hash; end++)
			;
		if (end - i > 1)
			qsort(ix->rows + i, end - i, sizeof(*ix->rows), ptr_order_cmp);
	}
}

enum svc_status
endpoints_compute(struct cluster *c, struct arena *a, struct diag *d)
{
	struct eplist l = {0};
	struct cluster_endpoints **view = NULL;
	struct label_index pods_ix = {0}, slices_ix = {0};
	size_t n_view = 0, cap_view = 0, i, k;
	enum svc_status st;

	st = label_index_build(&pods_ix, (void *const *)c->pods, c->n_pods, NULL);
	if (st == SVC_OK)
		st = label_index_build(&slices_ix, (void *const *)c->slices, c->n_slices,
		                       SERVICE_NAME_LABEL);
	if (st != SVC_OK)
		goto done;
	/* Rows of one label value in name order, so endpoint order never depends on qsort. */
	label_index_sort(&pods_ix);
	label_index_sort(&slices_ix);
	for (i = 0; i < c->n_services; i++) {
		struct cluster_service *s = c->services[i];
		const struct cluster_endpoints *user;

		l.n = 0;
		if (s->type == CLUSTER_SVC_EXTERNALNAME)
			continue;
		if (s->has_selector) {
			st = from_pods(c, a, s, &l, &pods_ix);
			s->has_endpoints_object = true;
		} else {
			size_t first,
			        n = label_index_find(&slices_ix, s->meta.ns, SERVICE_NAME_LABEL,
			                             s->meta.name, &first);

			for (k = first; k < first + n && st == SVC_OK; k++)
				st = from_slice(a, s, slices_ix.rows[k].obj, &l);
			/* Slices are what consumers read when both exist (the mirroring
			 * controller copies Endpoints into slices). */
			user = find_endpoints(c, s->meta.ns, s->meta.name);
			if (user != NULL && n == 0 && st == SVC_OK)
				st = from_endpoints(a, s, user, &l);
			s->has_endpoints_object = user != NULL;
		}
		if (st != SVC_OK)
			goto done;
		if (l.n > 0) {
			qsort(l.items, l.n, sizeof(*l.items), ep_cmp);
			s->endpoints = arena_calloc(a, l.n, sizeof(*s->endpoints));
			if (s->endpoints == NULL) {
				st = SVC_ENOMEM;
				goto done;
			}
			memcpy(s->endpoints, l.items, l.n * sizeof(*l.items));
			s->n_endpoints = l.n;
		}
		st = index_ports(a, s);
		if (st != SVC_OK)
			goto done;
		if (s->has_selector && !c->config.skip_endpoints_view) {
			struct cluster_endpoints *e = make_endpoints_view(a, s);

			if (e == NULL || !view_push(&view, &n_view, &cap_view, e)) {
				st = SVC_ENOMEM;
				goto done;
			}
		}
	}
	/* Endpoints objects from the manifests are shown as they are, except those of services
	 * with a selector, which the controller owns. */
	for (k = 0; k < c->n_endpoints; k++) {
		const struct cluster_service *s = cluster_service_by_name(
		        c, c->endpoints[k]->meta.ns, c->endpoints[k]->meta.name);

		if (s != NULL && s->has_selector) {
			diag_add(
			        d, DIAG_WARNING, c->endpoints[k]->meta.origin.file,
			        c->endpoints[k]->meta.origin.line, 0, NULL,
			        "Endpoints %s/%s: service %s has a selector, so its endpoints come "
			        "from its pods; this object is ignored",
			        s->meta.ns, s->meta.name, s->meta.name);
			continue;
		}
		if (!view_push(&view, &n_view, &cap_view, c->endpoints[k])) {
			st = SVC_ENOMEM;
			goto done;
		}
	}
	for (k = 0; k < c->n_slices; k++) {
		const char *owner = label_get(&c->slices[k]->meta.labels, SERVICE_NAME_LABEL);
		const struct cluster_service *s =
		        owner ? cluster_service_by_name(c, c->slices[k]->meta.ns, owner) : NULL;

		if (s != NULL && s->has_selector)
			diag_add(d, DIAG_WARNING, c->slices[k]->meta.origin.file,
			         c->slices[k]->meta.origin.line, 0, NULL,
			         "EndpointSlice %s/%s: service %s has a selector, so its endpoints "
			         "come from its pods; this object is ignored",
			         c->slices[k]->meta.ns, c->slices[k]->meta.name, owner);
	}
	if (n_view > 0)
		qsort(view, n_view, sizeof(*view), view_cmp);
	c->endpoints = arena_calloc(a, n_view, sizeof(*view));
	if (c->endpoints == NULL) {
		st = SVC_ENOMEM;
		goto done;
	}
	if (n_view)
		memcpy(c->endpoints, view, n_view * sizeof(*view));
	c->n_endpoints = n_view;
done:
	free(l.items);
	free(view);
	free(pods_ix.rows);
	free(slices_ix.rows);
	return st;
}
