/* etcdobj.c -- the cluster's layout in etcd (etcdobj.h). */
#include "etcdobj.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

static const char *const resources[CLUSTER_KIND_COUNT] = {
        [CLUSTER_KIND_SERVICE] = "services",     [CLUSTER_KIND_POD] = "pods",
        [CLUSTER_KIND_ENDPOINTS] = "endpoints",  [CLUSTER_KIND_ENDPOINTSLICE] = "endpointslices",
        [CLUSTER_KIND_NAMESPACE] = "namespaces", [CLUSTER_KIND_NODE] = "nodes",
        [CLUSTER_KIND_LEASE] = "leases",         [CLUSTER_KIND_PODSTATUS] = "podstatus",
};

static const char *const kind_names[CLUSTER_KIND_COUNT] = {
        [CLUSTER_KIND_SERVICE] = "Service",     [CLUSTER_KIND_POD] = "Pod",
        [CLUSTER_KIND_ENDPOINTS] = "Endpoints", [CLUSTER_KIND_ENDPOINTSLICE] = "EndpointSlice",
        [CLUSTER_KIND_NAMESPACE] = "Namespace", [CLUSTER_KIND_NODE] = "Node",
        [CLUSTER_KIND_LEASE] = "Lease",         [CLUSTER_KIND_PODSTATUS] = "PodStatus",
};

const char *
etcdobj_resource(enum cluster_kind k)
{
	return k < CLUSTER_KIND_COUNT ? resources[k] : "objects";
}

static bool
fits(int n)
{
	return n > 0 && n < ETCDOBJ_KEY_MAX;
}

bool
etcdobj_key(const char *prefix, enum cluster_kind k, const char *ns, const char *name, char *buf)
{
	if (!cluster_kind_namespaced(k))
		return fits(snprintf(buf, ETCDOBJ_KEY_MAX, "%s/%s/%s", prefix, resources[k], name));
	return fits(snprintf(buf, ETCDOBJ_KEY_MAX, "%s/%s/%s/%s", prefix, resources[k],
	                     ns ? ns : "default", name));
}

bool
etcdobj_range(const char *prefix, int kind, const char *ns, char *buf)
{
	if (kind < 0)
		return fits(snprintf(buf, ETCDOBJ_KEY_MAX, "%s/", prefix));
	if (ns == NULL || !cluster_kind_namespaced((enum cluster_kind)kind))
		return fits(snprintf(buf, ETCDOBJ_KEY_MAX, "%s/%s/", prefix, resources[kind]));
	return fits(snprintf(buf, ETCDOBJ_KEY_MAX, "%s/%s/%s/", prefix, resources[kind], ns));
}

/* The next '/'-separated part of [*P, END) into OUT (ETCDOBJ_KEY_MAX); false when empty. */
static bool
part(const char **p, const char *end, char *out)
{
	const char *s = *p, *e = memchr(s, '/', (size_t)(end - s));

	if (e == NULL)
		e = end;
	if (e == s || e - s >= ETCDOBJ_KEY_MAX || memchr(s, '\0', (size_t)(e - s)) != NULL)
		return false;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	*p = e < end ? e + 1 : e;
	return true;
}

enum etcdobj_key_type
etcdobj_key_parse(const char *prefix, const char *key, size_t len, enum cluster_kind *kind,
                  char *ns, char *name)
{
	size_t pl = strlen(prefix), k;
	const char *p = key + pl + 1, *end = key + len;
	char res[ETCDOBJ_KEY_MAX];

	if (len < pl + 1 || memcmp(key, prefix, pl) != 0 || key[pl] != '/')
		return ETCDOBJ_OUTSIDE;
	if ((size_t)(end - p) == 6 && !memcmp(p, "config", 6))
		return ETCDOBJ_CONFIG;
	if ((size_t)(end - p) > 7 && !memcmp(p, "claims/", 7))
		return ETCDOBJ_CLAIM;
	if ((size_t)(end - p) > 10 && !memcmp(p, "lbholders/", 10))
		return ETCDOBJ_HOLDER;
	if (!part(&p, end, res))
		return ETCDOBJ_UNKNOWN;
	for (k = 0; k < CLUSTER_KIND_COUNT; k++)
		if (!strcmp(res, resources[k]))
			break;
	if (k == CLUSTER_KIND_COUNT)
		return ETCDOBJ_UNKNOWN;
	*kind = (enum cluster_kind)k;
	ns[0] = '\0';
	if (cluster_kind_namespaced((enum cluster_kind)k) && !part(&p, end, ns))
		return ETCDOBJ_UNKNOWN;
	if (!part(&p, end, name) || p != end)
		return ETCDOBJ_UNKNOWN;
	return ETCDOBJ_OBJECT;
}

enum svc_status
etcdobj_decode(const char *prefix, const char *key, const uint8_t *value, size_t len,
               int64_t revision, struct cluster_objects *objs, struct diag *d)
{
	char ns[ETCDOBJ_KEY_MAX], name[ETCDOBJ_KEY_MAX];
	enum cluster_kind kind = CLUSTER_KIND_SERVICE;
	struct cluster_meta *m = NULL;
	size_t errors = d->errors, total = 0, n, k, before[CLUSTER_KIND_COUNT];
	enum svc_status st;

	if (etcdobj_key_parse(prefix, key, strlen(key), &kind, ns, name) != ETCDOBJ_OBJECT) {
		diag_add(d, DIAG_ERROR, key, 0, 0, NULL,
		         "not an object key: expected %s/<resource>/<namespace>/<name>", prefix);
		return SVC_EINVAL;
	}
	if (len > ETCDOBJ_VALUE_MAX) {
		diag_add(d, DIAG_ERROR, key, 0, 0, NULL, "value of %zu bytes: at most %u", len,
		         ETCDOBJ_VALUE_MAX);
		return SVC_EINVAL;
	}
	/* OBJS may hold objects already: the key's are those after them. */
	for (k = 0; k < CLUSTER_KIND_COUNT; k++)
		cluster_objects_of(objs, (enum cluster_kind)k, &before[k]);
	st = cluster_objects_load_buffer(objs, key, (const char *)value, len, d);
	if (st == SVC_ENOMEM)
		return st;
	for (k = 0; k < CLUSTER_KIND_COUNT; k++) {
		struct cluster_meta **arr = cluster_objects_of(objs, (enum cluster_kind)k, &n);

		total += n - before[k];
		if (n > before[k] && (enum cluster_kind)k == kind)
			m = arr[before[k]];
	}
	if (d->errors != errors)
		return SVC_EINVAL;
	if (total != 1 || m == NULL) {
		diag_add(d, DIAG_ERROR, key, 1, 1, "kind",
		         "the key holds one %s; its value holds %zu object%s", kind_names[kind],
		         total, total == 1 ? " of another kind" : "s");
		return SVC_EINVAL;
	}
	if (strcmp(m->name, name) != 0 ||
	    (cluster_kind_namespaced(kind) && strcmp(m->ns ? m->ns : "default", ns) != 0)) {
		diag_add(d, DIAG_ERROR, key, m->origin.line, 1, "metadata",
		         "Invalid value: \"%s%s%s\": the key names %s%s%s", m->ns ? m->ns : "",
		         m->ns ? "/" : "", m->name, ns, ns[0] ? "/" : "", name);
		return SVC_EINVAL;
	}
	if (revision > 0) {
		char buf[24];

		snprintf(buf, sizeof(buf), "%lld", (long long)revision);
		m->resource_version = arena_strdup(&objs->arena, buf);
		if (m->resource_version == NULL)
			return SVC_ENOMEM;
	}
	return SVC_OK;
}

/* ---- claims ---- */

static void
claim_add(char (*keys)[ETCDOBJ_KEY_MAX], size_t *n, const char *key)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(keys[i], key))
			return;
	if (*n < ETCDOBJ_MAX_CLAIMS)
		snprintf(keys[(*n)++], ETCDOBJ_KEY_MAX, "%s", key);
}

void
etcdobj_claims(const char *prefix, const struct cluster_service *s, char (*keys)[ETCDOBJ_KEY_MAX],
               size_t *n)
{
	static const char *const protos[] = {"tcp", "udp", "sctp"};
	char buf[ETCDOBJ_KEY_MAX], ip[NETADDR_STRLEN];
	size_t i;

	*n = 0;
	for (i = 0; i < s->n_cluster_ips; i++) {
		snprintf(buf, sizeof(buf), "%s/claims/clusterips/%s", prefix,
		         netaddr_str(&s->cluster_ips[i], ip));
		claim_add(keys, n, buf);
	}
	for (i = 0; i < s->n_ports; i++) {
		if (s->ports[i].node_port == 0 || s->ports[i].proto > CLUSTER_SCTP)
			continue;
		snprintf(buf, sizeof(buf), "%s/claims/nodeports/%s/%d", prefix,
		         protos[s->ports[i].proto], s->ports[i].node_port);
		claim_add(keys, n, buf);
	}
	if (s->health_check_node_port != 0) {
		snprintf(buf, sizeof(buf), "%s/claims/nodeports/health/%d", prefix,
		         s->health_check_node_port);
		claim_add(keys, n, buf);
	}
	for (i = 0; s->type == CLUSTER_SVC_LOADBALANCER && i < s->n_lb_ips; i++) {
		snprintf(buf, sizeof(buf), "%s/claims/lbips/%s", prefix,
		         netaddr_str(&s->lb_ips[i], ip));
		claim_add(keys, n, buf);
	}
}

bool
etcdobj_claim_holder(const char *ns, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "services/%s/%s", ns ? ns : "default", name);

	return n > 0 && (size_t)n < len;
}

/* ---- the cluster-wide settings ---- */

static void
cidrs_str(const struct netaddr_prefix *p, size_t n, char *buf, size_t len)
{
	char one[NETADDR_STRLEN + 4];

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? "," : "",
		         netaddr_prefix_str(&p[i], one));
}

enum svc_status
etcdobj_config_parse(const uint8_t *value, size_t len, struct etcdobj_config *out, char *err,
                     size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb((const char *)value, len, JSON_REJECT_DUPLICATES, &je);
	const char *key;
	json_t *v;
	enum svc_status st = SVC_EINVAL;

	cluster_config_init(&out->cfg);
	snprintf(out->domain, sizeof(out->domain), "cluster.local");
	if (root == NULL || !json_is_object(root)) {
		snprintf(err, errlen, "line %d: %s", je.line, root ? "not a JSON object" : je.text);
		goto done;
	}
	json_object_foreach(root, key, v)
	{
		const char *s = json_string_value(v);
		int lo, hi, used = 0;

		if (s == NULL) {
			snprintf(err, errlen, "%s: a string expected", key);
			goto done;
		}
		if (!strcmp(key, "serviceCIDR")) {
			if (cluster_config_set_cidrs(&out->cfg, s) != SVC_OK) {
				snprintf(
				        err, errlen,
				        "serviceCIDR: Invalid value: \"%s\": one or two CIDRs (one "
				        "per family) with 3 to 24 host bits",
				        s);
				goto done;
			}
		} else if (!strcmp(key, "loadBalancerPool")) {
			if (cluster_config_set_lb_pools(&out->cfg, s) != SVC_OK) {
				snprintf(
				        err, errlen,
				        "loadBalancerPool: Invalid value: \"%s\": one or two CIDRs",
				        s);
				goto done;
			}
		} else if (!strcmp(key, "nodePortRange")) {
			if (sscanf(s, "%d-%d%n", &lo, &hi, &used) != 2 || s[used] != '\0' ||
			    lo < 1 || hi > 65535 || lo > hi) {
				snprintf(err, errlen,
				         "nodePortRange: Invalid value: \"%s\": expected LOW-HIGH",
				         s);
				goto done;
			}
			out->cfg.node_port_min = lo;
			out->cfg.node_port_max = hi;
		} else if (!strcmp(key, "clusterDomain")) {
			if (*s == '\0' || strlen(s) >= sizeof(out->domain)) {
				snprintf(err, errlen, "clusterDomain: Invalid value: \"%s\"", s);
				goto done;
			}
			snprintf(out->domain, sizeof(out->domain), "%s", s);
		} else {
			snprintf(err, errlen,
			         "%s: unknown field (serviceCIDR, loadBalancerPool, nodePortRange, "
			         "clusterDomain)",
			         key);
			goto done;
		}
	}
	st = SVC_OK;
done:
	json_decref(root);
	return st;
}

char *
etcdobj_config_dump(const struct etcdobj_config *c)
{
	char cidrs[128], pools[128], range[32];
	json_t *o;
	char *s;

	cidrs_str(c->cfg.service_cidrs, c->cfg.n_service_cidrs, cidrs, sizeof(cidrs));
	cidrs_str(c->cfg.lb_pools, c->cfg.n_lb_pools, pools, sizeof(pools));
	snprintf(range, sizeof(range), "%d-%d", c->cfg.node_port_min, c->cfg.node_port_max);
	o = json_pack("{s:s, s:s, s:s, s:s}", "serviceCIDR", cidrs, "loadBalancerPool", pools,
	              "nodePortRange", range, "clusterDomain", c->domain);
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* The settings as compared: a string per field. */
struct fields {
	char v[4][256];
};

static void
fields_of(const struct etcdobj_config *c, struct fields *f)
{
	cidrs_str(c->cfg.service_cidrs, c->cfg.n_service_cidrs, f->v[0], sizeof(f->v[0]));
	cidrs_str(c->cfg.lb_pools, c->cfg.n_lb_pools, f->v[1], sizeof(f->v[1]));
	snprintf(f->v[2], sizeof(f->v[2]), "%d-%d", c->cfg.node_port_min, c->cfg.node_port_max);
	snprintf(f->v[3], sizeof(f->v[3]), "%s", c->domain);
}

static const char *const field_names[4] = {"serviceCIDR", "loadBalancerPool", "nodePortRange",
                                           "clusterDomain"};

static void
defaults(struct fields *f)
{
	struct etcdobj_config d;

	cluster_config_init(&d.cfg);
	snprintf(d.domain, sizeof(d.domain), "cluster.local");
	fields_of(&d, f);
}

bool
etcdobj_config_differs(const struct etcdobj_config *a, const struct etcdobj_config *b, char *err,
                       size_t errlen)
{
	struct fields fa, fb, fd;

	fields_of(a, &fa);
	fields_of(b, &fb);
	defaults(&fd);
	for (size_t i = 0; i < 4; i++) {
		if (!strcmp(fa.v[i], fd.v[i]) || !strcmp(fa.v[i], fb.v[i]))
			continue;
		snprintf(err, errlen, "%s \"%s\" (flag) is not \"%s\" (etcd's config)",
		         field_names[i], fa.v[i], fb.v[i]);
		return true;
	}
	return false;
}

void
etcdobj_config_merge(struct etcdobj_config *flags, const struct etcdobj_config *store)
{
	bool skip = flags->cfg.skip_endpoints_view, req = flags->cfg.require_allocated,
	     leases = flags->cfg.node_leases;

	flags->cfg = store->cfg;
	flags->cfg.skip_endpoints_view = skip;
	flags->cfg.require_allocated = req;
	flags->cfg.node_leases = leases;
	snprintf(flags->domain, sizeof(flags->domain), "%s", store->domain);
}
