/* validate.c -- check objects as the Kubernetes API server does, and fill defaults. Every
 * problem is reported with its file, line, column and field path; checking goes on past errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "htab.h"
#include "schema.h"

/* Label maps with more keys than this find repeated keys through a hash table. */
#define LABELS_HASH_MIN 8

struct vctx {
	struct cluster_objects *objs;
	const struct cluster_config *cfg;
	struct diag *d;
	/* The services checked against each other: the unit's, or those of validate_objects_from.
	 */
	struct cluster_service **svcs;
	size_t n_svcs;
};

/* The position kept for a field of service S (store.c keeps them when the positions map goes):
 * only allocation reports then, and only on services. */
static bool
kept_pos(const struct cluster_service *s, const void *p, uint32_t *line, uint32_t *col)
{
	const struct cluster_pos *at = NULL;

	if (p == &s->type)
		at = &s->type_pos;
	else if (p == &s->external_policy)
		at = &s->external_policy_pos;
	else if (s->n_ports > 0 && (const char *)p >= (const char *)s->ports &&
	         (const char *)p < (const char *)(s->ports + s->n_ports))
		at = &s->ports[((const char *)p - (const char *)s->ports) / sizeof(*s->ports)].pos;
	if (at == NULL || at->line == 0)
		return false;
	*line = at->line;
	*col = at->col;
	return true;
}

void
build_report(const struct cluster_objects *objs, struct diag *d, enum diag_level level,
             const struct cluster_meta *meta, const void *field, const void *obj, const char *path,
             const char *fmt, ...)
{
	uint32_t line = 0, col = 0;
	char msg[768];
	va_list ap;

	if (objs->positions == NULL) {
		if (!(field != NULL && kept_pos((const void *)meta, field, &line, &col)) &&
		    !(obj != NULL && kept_pos((const void *)meta, obj, &line, &col)))
			line = meta->origin.line;
	} else if (!(field != NULL && cluster_objects_pos(objs, field, &line, &col)) &&
	           !(obj != NULL && cluster_objects_object_pos(objs, obj, &line, &col))) {
		line = meta->origin.line;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(d, level, meta->origin.file, line, col, path, "%s", msg);
}

#define ERR(v, meta, field, obj, path, ...)                                                        \
	build_report((v)->objs, (v)->d, DIAG_ERROR, meta, field, obj, path, __VA_ARGS__)
#define WARN(v, meta, field, obj, path, ...)                                                       \
	build_report((v)->objs, (v)->d, DIAG_WARNING, meta, field, obj, path, __VA_ARGS__)

/* ---- name rules (k8s.io/apimachinery/pkg/util/validation) ------------------------------- */

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* RFC 1123 label: lower-case alphanumerics and '-', alphanumeric at both ends, at most 63. */
static bool
is_dns1123_label(const char *s)
{
	size_t len = strlen(s), i;

	if (len == 0 || len > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	for (i = 0; i < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* RFC 1035 label: as 1123 but starting with a letter. */
static bool
is_dns1035_label(const char *s)
{
	return is_dns1123_label(s) && s[0] >= 'a' && s[0] <= 'z';
}

/* RFC 1123 subdomain: dot-separated labels, at most 253. */
static bool
is_dns1123_subdomain(const char *s)
{
	char label[64];
	const char *p = s, *dot;
	size_t len;

	if (strlen(s) == 0 || strlen(s) > 253)
		return false;
	for (;;) {
		dot = strchr(p, '.');
		len = dot ? (size_t)(dot - p) : strlen(p);
		if (len == 0 || len > 63)
			return false;
		memcpy(label, p, len);
		label[len] = '\0';
		if (!is_dns1123_label(label))
			return false;
		if (dot == NULL)
			return true;
		p = dot + 1;
	}
}

/* IANA service name (RFC 6335): at most 15, lower-case alphanumerics and '-', at least one
 * letter, no '-' at either end and no "--". */
static bool
is_iana_svc_name(const char *s)
{
	size_t len = strlen(s), i;
	bool letter = false;

	if (len == 0 || len > 15 || s[0] == '-' || s[len - 1] == '-' || strstr(s, "--"))
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	}
	return letter;
}

/* Label value or the name part of a qualified key: at most 63, alphanumeric at both ends,
 * '-', '_' and '.' inside. */
static bool
is_label_value(const char *s, bool allow_empty)
{
	size_t len = strlen(s), i;

	if (len == 0)
		return allow_empty;
	if (len > 63 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static bool
is_qualified_name(const char *s)
{
	const char *slash = strchr(s, '/');
	char prefix[254];
	size_t plen;

	if (slash == NULL)
		return is_label_value(s, false);
	plen = (size_t)(slash - s);
	if (plen == 0 || plen > 253)
		return false;
	memcpy(prefix, s, plen);
	prefix[plen] = '\0';
	return is_dns1123_subdomain(prefix) && is_label_value(slash + 1, false);
}

/* A label key in check_labels' table of the keys seen so far. */
struct label_seen {
	struct htab_node hn;
	const char *key;
};

/* Whether the key of L's item I is the key of an earlier item. SEEN (an array of L->n, or NULL
 * for a small L) holds the earlier keys in TAB, so a large map costs O(n), not O(n^2). */
static bool
label_is_repeat(const struct cluster_labels *l, size_t i, struct htab *tab, struct label_seen *seen)
{
	const char *key = l->items[i].key;
	uint32_t h;
	struct htab_node *hn;
	size_t j;

	if (seen == NULL) {
		for (j = 0; j < i; j++)
			if (!strcmp(l->items[j].key, key))
				return true;
		return false;
	}
	h = htab_hash_str(key, 0);
	for (hn = htab_find(tab, h); hn != NULL; hn = htab_next(hn, h))
		if (!strcmp(htab_item(hn, struct label_seen, hn)->key, key))
			return true;
	seen[i].key = key;
	htab_insert(tab, &seen[i].hn, h); /* buckets reserved: cannot fail */
	return false;
}

static void
check_labels(struct vctx *v, const struct cluster_meta *meta, const struct cluster_labels *l,
             const char *what)
{
	char path[320];
	struct htab tab;
	struct label_seen *seen = NULL;
	size_t i;

	htab_init(&tab);
	if (l->n > LABELS_HASH_MIN) {
		seen = calloc(l->n, sizeof(*seen));
		if (seen == NULL || htab_reserve(&tab, l->n) != SVC_OK) {
			ERR(v, meta, l, NULL, what, "out of memory");
			goto done;
		}
	}
	for (i = 0; i < l->n; i++) {
		const struct cluster_label *lb = &l->items[i];

		snprintf(path, sizeof(path), "%s[%s]", what, lb->key);
		if (!is_qualified_name(lb->key))
			ERR(v, meta, lb, NULL, path,
			    "Invalid value: \"%s\": a label key must be a qualified name (at most "
			    "63 alphanumerics, '-', '_' or '.', with an optional DNS subdomain "
			    "prefix and '/')",
			    lb->key);
		if (!is_label_value(lb->value, true))
			ERR(v, meta, lb, NULL, path,
			    "Invalid value: \"%s\": a label value must be empty or at most 63 "
			    "alphanumerics, '-', '_' or '.', starting and ending with an "
			    "alphanumeric",
			    lb->value);
		if (label_is_repeat(l, i, &tab, seen))
			ERR(v, meta, lb, NULL, path, "Duplicate value");
	}
done:
	htab_deinit(&tab);
	free(seen);
}

static void
check_meta(struct vctx *v, const struct cluster_meta *meta, bool name_1035)
{
	if (name_1035 && !is_dns1035_label(meta->name))
		ERR(v, meta, &meta->name, NULL, "metadata.name",
		    "Invalid value: \"%s\": a DNS-1035 label must consist of lower case "
		    "alphanumeric characters or '-', start with an alphabetic character, and end "
		    "with an alphanumeric character (at most 63)",
		    meta->name);
	else if (!name_1035 && !is_dns1123_subdomain(meta->name))
		ERR(v, meta, &meta->name, NULL, "metadata.name",
		    "Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of lower "
		    "case alphanumeric characters, '-' or '.', and must start and end with an "
		    "alphanumeric character (at most 253)",
		    meta->name);
	if (meta->ns != NULL && !is_dns1123_label(meta->ns))
		ERR(v, meta, &meta->ns, NULL, "metadata.namespace",
		    "Invalid value: \"%s\": a lowercase RFC 1123 label must consist of lower case "
		    "alphanumeric characters or '-' (at most 63)",
		    meta->ns);
	if (meta->created != NULL && meta->created_unix == 0)
		ERR(v, meta, &meta->created, NULL, "metadata.creationTimestamp",
		    "Invalid value: \"%s\": expected an RFC 3339 time such as "
		    "2024-01-02T15:04:05Z, after 1970 and before 2106",
		    meta->created);
	check_labels(v, meta, &meta->labels, "metadata.labels");
}

static int
meta_cmp(const void *pa, const void *pb)
{
	const struct cluster_meta *a = *(const struct cluster_meta *const *)pa;
	const struct cluster_meta *b = *(const struct cluster_meta *const *)pb;
	int c = strcmp(a->ns ? a->ns : "", b->ns ? b->ns : "");

	if (c == 0)
		c = strcmp(a->name, b->name);
	if (c == 0)
		c = strcmp(a->origin.file, b->origin.file);
	if (c == 0)
		c = a->origin.line < b->origin.line ? -1 : a->origin.line > b->origin.line;
	return c;
}

/* Sort objects by namespace/name and report duplicates (both places). Dropped objects are moved
 * out of the way first so svcctl apply can replace one. */
static void
check_unique(struct vctx *v, void **items, size_t *n, const char *kind)
{
	size_t i, k = 0;

	for (i = 0; i < *n; i++)
		if (!((struct cluster_meta *)items[i])->dropped)
			items[k++] = items[i];
	*n = k;
	if (*n > 1)
		qsort(items, *n, sizeof(*items), meta_cmp);
	for (i = 1; i < *n; i++) {
		const struct cluster_meta *a = items[i - 1], *b = items[i];

		if (strcmp(a->name, b->name) != 0 || strcmp(a->ns ? a->ns : "", b->ns ? b->ns : ""))
			continue;
		ERR(v, b, &b->name, NULL, "metadata.name",
		    "Duplicate value: %s %s%s%s is already defined at %s:%u", kind,
		    a->ns ? a->ns : "", a->ns ? "/" : "", a->name, a->origin.file, a->origin.line);
	}
}

/* ---- addresses ------------------------------------------------------------------------- */

static bool
parse_ip(struct vctx *v, const struct cluster_meta *meta, const char *const *field,
         const char *path, struct netaddr *out, bool endpoint)
{
	if (*field == NULL) { /* a missing ip was reported as Required by the decoder */
		memset(out, 0, sizeof(*out));
		return false;
	}
	if (netaddr_parse(out, *field) != SVC_OK) {
		ERR(v, meta, field, NULL, path, "Invalid value: \"%s\": must be a valid IP address",
		    *field);
		return false;
	}
	if (endpoint && netaddr_is_special(out)) {
		ERR(v, meta, field, NULL, path,
		    "Invalid value: \"%s\": may not be unspecified, loopback, link-local or "
		    "multicast",
		    *field);
		return false;
	}
	return true;
}

static const struct netaddr_prefix *
cidr_for(const struct cluster_config *cfg, uint8_t family)
{
	size_t i;

	for (i = 0; i < cfg->n_service_cidrs; i++)
		if (cfg->service_cidrs[i].addr.family == family)
			return &cfg->service_cidrs[i];
	return NULL;
}

static uint8_t
family_of_text(const char *s)
{
	if (!strcmp(s, "IPv4"))
		return NETADDR_V4;
	if (!strcmp(s, "IPv6"))
		return NETADDR_V6;
	return NETADDR_NONE;
}

/* A CIDR as the API server's sloppy parser reads loadBalancerSourceRanges: surrounding blanks
 * allowed, host bits cleared rather than refused. */
static bool
parse_cidr_sloppy(const char *text, struct netaddr_prefix *out)
{
	char buf[NETADDR_STRLEN + 8];
	const char *b = text, *e = text + strlen(text), *slash;
	unsigned long len = 0;
	size_t i;

	while (*b == ' ' || *b == '\t')
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	slash = memchr(b, '/', (size_t)(e - b));
	if (slash == NULL || (size_t)(slash - b) >= sizeof(buf) || slash + 1 == e ||
	    e - (slash + 1) > 3)
		return false;
	memcpy(buf, b, (size_t)(slash - b));
	buf[slash - b] = '\0';
	if (netaddr_parse(&out->addr, buf) != SVC_OK)
		return false;
	for (i = 1; slash + i < e; i++) {
		if (slash[i] < '0' || slash[i] > '9')
			return false;
		len = len * 10 + (unsigned long)(slash[i] - '0');
	}
	if (len > netaddr_bits(&out->addr))
		return false;
	out->len = (uint8_t)len;
	for (i = len; i < netaddr_bits(&out->addr); i++)
		out->addr.bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	return true;
}

/* ---- Service ----------------------------------------------------------------------------- */

static void
check_service_ips(struct vctx *v, struct cluster_service *s)
{
	const struct cluster_meta *m = &s->meta;
	const char *ip0 = s->cluster_ip_text;
	char path[64];
	size_t i;

	if (s->n_cluster_ips_text > 2)
		ERR(v, m, &s->cluster_ips_text, NULL, "spec.clusterIPs",
		    "Too many: %zu: must have at most 2 items", s->n_cluster_ips_text);
	if (ip0 != NULL && s->n_cluster_ips_text > 0 && strcmp(ip0, s->cluster_ips_text[0]) != 0)
		ERR(v, m, &s->cluster_ips_text[0], NULL, "spec.clusterIPs[0]",
		    "Invalid value: \"%s\": must match spec.clusterIP \"%s\"",
		    s->cluster_ips_text[0], ip0);
	if (ip0 == NULL && s->n_cluster_ips_text > 0)
		ip0 = s->cluster_ips_text[0];
	if (ip0 != NULL && !strcmp(ip0, "None")) {
		s->headless = true;
		if (s->type != CLUSTER_SVC_CLUSTERIP)
			ERR(v, m, &s->cluster_ip_text, NULL, "spec.clusterIP",
			    "Invalid value: \"None\": may only be set to 'None' for ClusterIP "
			    "services (type is %s)",
			    schema_svc_type_names[s->type]);
		if (s->n_cluster_ips_text > 1)
			ERR(v, m, &s->cluster_ips_text[1], NULL, "spec.clusterIPs[1]",
			    "Invalid value: a headless service has only \"None\"");
		return;
	}
	if (s->type == CLUSTER_SVC_EXTERNALNAME) {
		if (ip0 != NULL && *ip0 != '\0')
			ERR(v, m, &s->cluster_ip_text, NULL, "spec.clusterIP",
			    "Invalid value: \"%s\": must be empty for ExternalName services", ip0);
		return;
	}
	for (i = 0; i < 2; i++) {
		const char *const *field;
		const char *text;
		const struct netaddr_prefix *cidr;
		struct netaddr *a = &s->cluster_ips[s->n_cluster_ips];
		char buf[NETADDR_STRLEN + 4];

		if (i == 0) {
			field = s->cluster_ip_text ? &s->cluster_ip_text : s->cluster_ips_text;
			text = ip0;
			snprintf(path, sizeof(path),
			         s->cluster_ip_text ? "spec.clusterIP" : "spec.clusterIPs[0]");
		} else {
			field = s->n_cluster_ips_text > 1 ? &s->cluster_ips_text[1] : NULL;
			text = field ? *field : NULL;
			snprintf(path, sizeof(path), "spec.clusterIPs[1]");
		}
		if (text == NULL || *text == '\0')
			continue;
		if (!parse_ip(v, m, field, path, a, true))
			continue;
		cidr = cidr_for(v->cfg, a->family);
		if (cidr == NULL) {
			ERR(v, m, field, NULL, path,
			    "Invalid value: \"%s\": no service CIDR is configured for IPv%u", text,
			    a->family);
			continue;
		}
		if (!netaddr_in_prefix(a, cidr) || netaddr_offset(cidr, a) == 0 ||
		    (a->family == NETADDR_V4 &&
		     netaddr_offset(cidr, a) == netaddr_prefix_size(cidr) - 1)) {
			ERR(v, m, field, NULL, path,
			    "Invalid value: \"%s\": provided IP is not in the valid range. The "
			    "range of valid IPs is %s",
			    text, netaddr_prefix_str(cidr, buf));
			continue;
		}
		if (i == 1 && s->n_cluster_ips == 1 && s->cluster_ips[0].family == a->family) {
			ERR(v, m, field, NULL, path,
			    "Invalid value: \"%s\": the two clusterIPs must be of different IP "
			    "families",
			    text);
			continue;
		}
		s->n_cluster_ips++;
	}
}

static void
check_service_families(struct vctx *v, struct cluster_service *s)
{
	const struct cluster_meta *m = &s->meta;
	size_t i;
	uint8_t fam[2] = {0, 0};

	if (s->n_ip_families_text > 2)
		ERR(v, m, &s->ip_families_text, NULL, "spec.ipFamilies",
		    "Too many: %zu: must have at most 2 items", s->n_ip_families_text);
	for (i = 0; i < s->n_ip_families_text && i < 2; i++) {
		char path[32];

		snprintf(path, sizeof(path), "spec.ipFamilies[%zu]", i);
		fam[i] = family_of_text(s->ip_families_text[i]);
		if (fam[i] == NETADDR_NONE)
			ERR(v, m, &s->ip_families_text[i], NULL, path,
			    "Unsupported value: \"%s\": supported values: \"IPv4\", \"IPv6\"",
			    s->ip_families_text[i]);
		else if (i == 1 && fam[0] == fam[1])
			ERR(v, m, &s->ip_families_text[i], NULL, path, "Duplicate value: \"%s\"",
			    s->ip_families_text[i]);
		else if (s->type != CLUSTER_SVC_EXTERNALNAME && cidr_for(v->cfg, fam[i]) == NULL &&
		         !(i == 1 && s->family_policy == CLUSTER_FAMILY_PREFER_DUAL))
			ERR(v, m, &s->ip_families_text[i], NULL, path,
			    "Invalid value: \"%s\": the cluster has no service CIDR of this family",
			    s->ip_families_text[i]);
		if (i < s->n_cluster_ips && fam[i] != NETADDR_NONE &&
		    s->cluster_ips[i].family != fam[i])
			ERR(v, m, &s->ip_families_text[i], NULL, path,
			    "Invalid value: \"%s\": must match the family of clusterIPs[%zu]",
			    s->ip_families_text[i], i);
	}
	if (s->n_ip_families_text > 1 && s->family_policy_set &&
	    s->family_policy == CLUSTER_FAMILY_SINGLE)
		ERR(v, m, &s->family_policy, NULL, "spec.ipFamilyPolicy",
		    "Invalid value: \"SingleStack\": two ipFamilies need PreferDualStack or "
		    "RequireDualStack");
	if (s->n_cluster_ips > 1 && s->family_policy_set &&
	    s->family_policy == CLUSTER_FAMILY_SINGLE)
		ERR(v, m, &s->family_policy, NULL, "spec.ipFamilyPolicy",
		    "Invalid value: \"SingleStack\": two clusterIPs need PreferDualStack or "
		    "RequireDualStack");
	if (s->family_policy == CLUSTER_FAMILY_REQUIRE_DUAL && v->cfg->n_service_cidrs < 2 &&
	    s->type != CLUSTER_SVC_EXTERNALNAME)
		ERR(v, m, &s->family_policy, NULL, "spec.ipFamilyPolicy",
		    "Invalid value: \"RequireDualStack\": the cluster has only one service CIDR");
	/* Defaults as the API server fills them. */
	if (!s->family_policy_set && (s->n_cluster_ips > 1 || s->n_ip_families_text > 1))
		s->family_policy = CLUSTER_FAMILY_REQUIRE_DUAL;
	/* A dual-stack policy naming one family on a dual-stack cluster gets the other one
	 * appended, so allocation and endpoints cover both (initIPFamilyFields). */
	if (s->family_policy != CLUSTER_FAMILY_SINGLE && s->n_ip_families_text == 1 &&
	    fam[0] != NETADDR_NONE && v->cfg->n_service_cidrs == 2 &&
	    s->type != CLUSTER_SVC_EXTERNALNAME) {
		const char **two = arena_calloc(&v->objs->arena, 2, sizeof(*two));

		if (two != NULL) {
			two[0] = s->ip_families_text[0];
			two[1] = fam[0] == NETADDR_V4 ? "IPv6" : "IPv4";
			s->ip_families_text = two;
			s->n_ip_families_text = 2;
		}
	}
}

static void
check_service_ports(struct vctx *v, struct cluster_service *s)
{
	const struct cluster_meta *m = &s->meta;
	char path[64];
	size_t i, j;

	if (s->n_ports == 0 && s->type != CLUSTER_SVC_EXTERNALNAME && !s->headless)
		ERR(v, m, &s->ports, s, "spec.ports", "Required value");
	for (i = 0; i < s->n_ports; i++) {
		struct cluster_port *p = &s->ports[i];

		snprintf(path, sizeof(path), "spec.ports[%zu].name", i);
		if (p->name == NULL && s->n_ports > 1)
			ERR(v, m, &p->name, p, path,
			    "Required value: a name is required when a service has more than one "
			    "port");
		if (p->name != NULL && !is_dns1123_label(p->name))
			ERR(v, m, &p->name, p, path,
			    "Invalid value: \"%s\": a port name must be a lowercase RFC 1123 label",
			    p->name);
		for (j = 0; p->name != NULL && j < i; j++)
			if (s->ports[j].name != NULL && !strcmp(s->ports[j].name, p->name))
				ERR(v, m, &p->name, p, path, "Duplicate value: \"%s\"", p->name);
		snprintf(path, sizeof(path), "spec.ports[%zu].port", i);
		/* A missing port was reported as Required by the decoder. */
		if ((p->port < 1 || p->port > 65535) && cluster_objects_has(v->objs, &p->port))
			ERR(v, m, &p->port, p, path,
			    "Invalid value: %d: must be between 1 and 65535, inclusive", p->port);
		for (j = 0; j < i; j++)
			if (s->ports[j].port == p->port && s->ports[j].proto == p->proto) {
				snprintf(path, sizeof(path), "spec.ports[%zu]", i);
				ERR(v, m, &p->port, p, path,
				    "Duplicate value: port %d/%s is already spec.ports[%zu]",
				    p->port, schema_proto_names[p->proto], j);
			}
		snprintf(path, sizeof(path), "spec.ports[%zu].targetPort", i);
		if (p->target_name != NULL) {
			if (!is_iana_svc_name(p->target_name))
				ERR(v, m, &p->target_port, p, path,
				    "Invalid value: \"%s\": a named port must be an IANA service "
				    "name (at most 15 lower-case alphanumerics or '-', with a "
				    "letter)",
				    p->target_name);
		} else if (p->target_port == 0) {
			p->target_port = p->port; /* targetPort defaults to port */
		} else if (p->target_port < 1 || p->target_port > 65535) {
			ERR(v, m, &p->target_port, p, path,
			    "Invalid value: %d: must be between 1 and 65535, inclusive",
			    p->target_port);
		}
		snprintf(path, sizeof(path), "spec.ports[%zu].nodePort", i);
		if (p->node_port != 0) {
			if (s->type != CLUSTER_SVC_NODEPORT && s->type != CLUSTER_SVC_LOADBALANCER)
				ERR(v, m, &p->node_port, p, path,
				    "Forbidden: may not be used when `type` is '%s'",
				    schema_svc_type_names[s->type]);
			else if (p->node_port < v->cfg->node_port_min ||
			         p->node_port > v->cfg->node_port_max)
				ERR(v, m, &p->node_port, p, path,
				    "Invalid value: %d: provided port is not in the valid range. "
				    "The range of valid ports is %d-%d",
				    p->node_port, v->cfg->node_port_min, v->cfg->node_port_max);
			for (j = 0; j < i; j++)
				if (s->ports[j].node_port == p->node_port &&
				    s->ports[j].proto == p->proto)
					ERR(v, m, &p->node_port, p, path,
					    "Duplicate value: %d/%s is already spec.ports[%zu]",
					    p->node_port, schema_proto_names[p->proto], j);
		}
		if (p->proto == CLUSTER_SCTP) {
			snprintf(path, sizeof(path), "spec.ports[%zu].protocol", i);
			WARN(v, m, &p->proto, p, path,
			     "SCTP is resolved by svcdns but not forwarded by svcfwd");
		}
	}
}

/* loadBalancerSourceRanges and healthCheckNodePort, after the traffic policies are defaulted. */
static void
check_service_lb(struct vctx *v, struct cluster_service *s)
{
	const struct cluster_meta *m = &s->meta;
	char path[64];
	size_t i;

	if (s->n_lb_source_ranges_text > 0) {
		if (s->type != CLUSTER_SVC_LOADBALANCER)
			ERR(v, m, &s->lb_source_ranges_text, NULL, "spec.loadBalancerSourceRanges",
			    "Forbidden: may only be used when `type` is 'LoadBalancer'");
		s->lb_source_ranges = arena_calloc(&v->objs->arena, s->n_lb_source_ranges_text,
		                                   sizeof(*s->lb_source_ranges));
		if (s->lb_source_ranges == NULL)
			ERR(v, m, NULL, s, "spec.loadBalancerSourceRanges", "out of memory");
		for (i = 0; s->lb_source_ranges != NULL && i < s->n_lb_source_ranges_text; i++) {
			const char *text = s->lb_source_ranges_text[i];

			snprintf(path, sizeof(path), "spec.loadBalancerSourceRanges[%zu]", i);
			if (parse_cidr_sloppy(text, &s->lb_source_ranges[s->n_lb_source_ranges]))
				s->n_lb_source_ranges++;
			else
				ERR(v, m, &s->lb_source_ranges_text[i], NULL, path,
				    "Invalid value: \"%s\": must be a valid CIDR value, (e.g. "
				    "10.9.8.0/24 or 2001:db8::/64)",
				    text);
		}
	}
	/* 0 is "not set"; build allocates one where it is needed. */
	if (s->health_check_node_port != 0) {
		if (s->type != CLUSTER_SVC_LOADBALANCER ||
		    s->external_policy != CLUSTER_POLICY_LOCAL)
			ERR(v, m, &s->health_check_node_port, NULL, "spec.healthCheckNodePort",
			    "Invalid value: %d: may only be set when `type` is 'LoadBalancer' and "
			    "`externalTrafficPolicy` is 'Local'",
			    s->health_check_node_port);
		else if (s->health_check_node_port < v->cfg->node_port_min ||
		         s->health_check_node_port > v->cfg->node_port_max)
			ERR(v, m, &s->health_check_node_port, NULL, "spec.healthCheckNodePort",
			    "Invalid value: %d: provided port is not in the valid range. The range "
			    "of valid ports is %d-%d",
			    s->health_check_node_port, v->cfg->node_port_min,
			    v->cfg->node_port_max);
	}
}

/* In etcd a service holds its allocations (cluster_config.require_allocated).
 * A LoadBalancer service without an address stays pending, as when the pool is full. */
static void
check_service_allocated(struct vctx *v, struct cluster_service *s)
{
	const struct cluster_meta *m = &s->meta;
	static const char why[] = "Required value: allocated and claimed by svcctl when it writes "
	                          "to etcd; the service is left out until then";
	char path[64];
	size_t i;
	bool node_ports = s->type == CLUSTER_SVC_NODEPORT || s->type == CLUSTER_SVC_LOADBALANCER;

	if (s->type != CLUSTER_SVC_EXTERNALNAME && s->cluster_ip_text == NULL &&
	    s->n_cluster_ips_text == 0)
		ERR(v, m, NULL, m, "spec.clusterIP", why);
	for (i = 0; node_ports && i < s->n_ports; i++) {
		snprintf(path, sizeof(path), "spec.ports[%zu].nodePort", i);
		if (s->ports[i].node_port == 0)
			ERR(v, m, NULL, &s->ports[i], path, why);
	}
	if (s->type == CLUSTER_SVC_LOADBALANCER && s->external_policy == CLUSTER_POLICY_LOCAL &&
	    s->health_check_node_port == 0)
		ERR(v, m, NULL, m, "spec.healthCheckNodePort", why);
}

static void
check_service(struct vctx *v, struct cluster_service *s)
{
	const struct cluster_meta *m = &s->meta;
	char path[64];
	size_t i;

	check_meta(v, m, true);
	check_labels(v, m, &s->selector, "spec.selector");
	s->has_selector = s->selector.n > 0;
	check_service_ips(v, s);
	check_service_families(v, s);
	check_service_ports(v, s);

	if (s->type == CLUSTER_SVC_EXTERNALNAME) {
		const char *en = s->external_name;
		char trimmed[256];

		if (en == NULL || *en == '\0') {
			ERR(v, m, &s->external_name, &s->meta, "spec.externalName",
			    "Required value");
		} else {
			snprintf(trimmed, sizeof(trimmed), "%s", en);
			if (strlen(trimmed) > 1 && trimmed[strlen(trimmed) - 1] == '.')
				trimmed[strlen(trimmed) - 1] = '\0';
			if (strlen(en) > 253 || !is_dns1123_subdomain(trimmed))
				ERR(v, m, &s->external_name, NULL, "spec.externalName",
				    "Invalid value: \"%s\": must be a valid lower-case DNS name",
				    en);
		}
		if (s->has_selector)
			WARN(v, m, &s->selector, NULL, "spec.selector",
			     "ignored for ExternalName services");
	} else if (s->external_name != NULL) {
		WARN(v, m, &s->external_name, NULL, "spec.externalName",
		     "ignored unless type is ExternalName");
	}

	if (s->affinity == CLUSTER_AFFINITY_CLIENTIP) {
		/* Only an absent timeoutSeconds defaults; an explicit 0 is out of range. */
		if (s->affinity_timeout == 0 && !cluster_objects_has(v->objs, &s->affinity_timeout))
			s->affinity_timeout = CLUSTER_AFFINITY_TIMEOUT_DEFAULT;
		else if (s->affinity_timeout < 1 ||
		         s->affinity_timeout > CLUSTER_AFFINITY_TIMEOUT_MAX)
			ERR(v, m, &s->affinity_timeout, NULL,
			    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
			    "Invalid value: %d: must be greater than 0 and less than %d",
			    s->affinity_timeout, CLUSTER_AFFINITY_TIMEOUT_MAX);
	} else if (s->affinity_timeout != 0) {
		ERR(v, m, &s->affinity_timeout, NULL, "spec.sessionAffinityConfig",
		    "Invalid value: must not be set when sessionAffinity is None");
	}

	if (s->n_external_ips_text > 0) {
		s->external_ips = arena_calloc(&v->objs->arena, s->n_external_ips_text,
		                               sizeof(*s->external_ips));
		for (i = 0; s->external_ips != NULL && i < s->n_external_ips_text; i++) {
			snprintf(path, sizeof(path), "spec.externalIPs[%zu]", i);
			parse_ip(v, m, &s->external_ips_text[i], path, &s->external_ips[i], true);
		}
	}
	if (s->external_policy != CLUSTER_POLICY_UNSET && s->type != CLUSTER_SVC_NODEPORT &&
	    s->type != CLUSTER_SVC_LOADBALANCER && s->n_external_ips_text == 0)
		ERR(v, m, &s->external_policy, NULL, "spec.externalTrafficPolicy",
		    "Invalid value: may only be set for externally-accessible services "
		    "(NodePort, LoadBalancer or with externalIPs)");
	if (s->external_policy == CLUSTER_POLICY_UNSET &&
	    (s->type == CLUSTER_SVC_NODEPORT || s->type == CLUSTER_SVC_LOADBALANCER ||
	     s->n_external_ips_text > 0))
		s->external_policy = CLUSTER_POLICY_CLUSTER;
	if (s->internal_policy == CLUSTER_POLICY_UNSET && s->type != CLUSTER_SVC_EXTERNALNAME)
		s->internal_policy = CLUSTER_POLICY_CLUSTER;

	if (s->load_balancer_ip_text != NULL && *s->load_balancer_ip_text != '\0') {
		if (s->type != CLUSTER_SVC_LOADBALANCER)
			WARN(v, m, &s->load_balancer_ip_text, NULL, "spec.loadBalancerIP",
			     "ignored unless type is LoadBalancer");
		parse_ip(v, m, &s->load_balancer_ip_text, "spec.loadBalancerIP",
		         &s->load_balancer_ip, true);
	}
	for (i = 0; i < s->n_ingress; i++) {
		struct cluster_lb_ingress *in = &s->ingress[i];

		snprintf(path, sizeof(path), "status.loadBalancer.ingress[%zu].ip", i);
		if (in->ip != NULL)
			parse_ip(v, m, &in->ip, path, &in->ip_addr, true);
		else if (in->hostname == NULL)
			ERR(v, m, NULL, in, path, "Required value: ip or hostname");
	}
	check_service_lb(v, s);
	if (v->cfg->require_allocated)
		check_service_allocated(v, s);
}

/* ---- Pod --------------------------------------------------------------------------------- */

static void
check_container_ports(struct vctx *v, struct cluster_pod *p, struct cluster_container *c,
                      const char *list, size_t ci)
{
	const struct cluster_meta *m = &p->meta;
	char path[96];
	size_t i;

	for (i = 0; i < c->n_ports; i++) {
		struct cluster_container_port *cp = &c->ports[i];

		snprintf(path, sizeof(path), "spec.%s[%zu].ports[%zu].containerPort", list, ci, i);
		if ((cp->port < 1 || cp->port > 65535) && cluster_objects_has(v->objs, &cp->port))
			ERR(v, m, &cp->port, cp, path,
			    "Invalid value: %d: must be between 1 and 65535, inclusive", cp->port);
		snprintf(path, sizeof(path), "spec.%s[%zu].ports[%zu].name", list, ci, i);
		if (cp->name != NULL && !is_iana_svc_name(cp->name))
			ERR(v, m, &cp->name, cp, path,
			    "Invalid value: \"%s\": must be an IANA service name", cp->name);
	}
}

/* A probe's port: a number, or a port of its container by name (which the kubelet resolves
 * when it probes: a name not found fails the probe). */
static void
check_probe_port(struct vctx *v, const struct cluster_meta *m, const struct cluster_container *c,
                 const int32_t *port, const char *const *name, const char *path)
{
	if (*name != NULL) {
		for (size_t i = 0; i < c->n_ports; i++)
			if (c->ports[i].name != NULL && !strcmp(c->ports[i].name, *name))
				return;
		WARN(v, m, name, NULL, path,
		     "container \"%s\" has no port named \"%s\": the probe fails and the pod "
		     "is not ready",
		     c->name ? c->name : "", *name);
	} else if (*port < 1 || *port > 65535) {
		ERR(v, m, port, NULL, path,
		    "Invalid value: %d: must be between 1 and 65535, inclusive", *port);
	}
}

static void
check_probe(struct vctx *v, const struct cluster_meta *m, const struct cluster_container *c,
            const char *at)
{
	const struct cluster_probe *pr = c->readiness;
	const int32_t *nums[] = {&pr->initial_delay_s, &pr->period_s, &pr->timeout_s,
	                         &pr->success_threshold, &pr->failure_threshold};
	static const char *const names[] = {"initialDelaySeconds", "periodSeconds",
	                                    "timeoutSeconds", "successThreshold",
	                                    "failureThreshold"};
	char path[160];

	for (size_t i = 0; i < 5; i++)
		if (*nums[i] < 0) {
			snprintf(path, sizeof(path), "%s.%s", at, names[i]);
			ERR(v, m, nums[i], NULL, path,
			    "Invalid value: %d: must be greater than or equal to 0", *nums[i]);
		}
	if (pr->http != NULL && pr->tcp != NULL) {
		ERR(v, m, pr, NULL, at, "may not specify more than 1 handler type");
		return;
	}
	if (pr->tcp != NULL) {
		snprintf(path, sizeof(path), "%s.tcpSocket.port", at);
		check_probe_port(v, m, c, &pr->tcp->port, &pr->tcp->port_name, path);
	}
	if (pr->http != NULL) {
		const char *scheme = pr->http->scheme;

		snprintf(path, sizeof(path), "%s.httpGet.port", at);
		check_probe_port(v, m, c, &pr->http->port, &pr->http->port_name, path);
		snprintf(path, sizeof(path), "%s.httpGet.scheme", at);
		if (scheme != NULL && strcmp(scheme, "HTTP") != 0 && strcmp(scheme, "HTTPS") != 0)
			ERR(v, m, &pr->http->scheme, NULL, path,
			    "Unsupported value: \"%s\": supported values: \"HTTP\", \"HTTPS\"",
			    scheme);
		else if (scheme != NULL && !strcmp(scheme, "HTTPS"))
			WARN(v, m, &pr->http->scheme, NULL, path,
			     "HTTPS probes are not run; the pod keeps the readiness its manifest "
			     "gives");
	}
}

static void
check_pod(struct vctx *v, struct cluster_pod *p)
{
	const struct cluster_meta *m = &p->meta;
	char path[64];
	size_t i;

	check_meta(v, m, false);
	for (i = 0; i < p->n_containers; i++)
		if (p->containers[i].readiness != NULL) {
			snprintf(path, sizeof(path), "spec.containers[%zu].readinessProbe", i);
			check_probe(v, m, &p->containers[i], path);
		}
	if (p->hostname != NULL && !is_dns1123_label(p->hostname))
		ERR(v, m, &p->hostname, NULL, "spec.hostname",
		    "Invalid value: \"%s\": must be a lowercase RFC 1123 label", p->hostname);
	if (p->subdomain != NULL && !is_dns1123_label(p->subdomain))
		ERR(v, m, &p->subdomain, NULL, "spec.subdomain",
		    "Invalid value: \"%s\": must be a lowercase RFC 1123 label", p->subdomain);
	for (i = 0; i < p->n_containers; i++)
		check_container_ports(v, p, &p->containers[i], "containers", i);
	for (i = 0; i < p->n_init_containers; i++)
		check_container_ports(v, p, &p->init_containers[i], "initContainers", i);
	if (p->pod_ip_text != NULL && *p->pod_ip_text != '\0' &&
	    parse_ip(v, m, &p->pod_ip_text, "status.podIP", &p->ips[0], !p->host_network))
		p->n_ips = 1;
	if (p->n_pod_ips_text > 2)
		ERR(v, m, &p->pod_ips_text, NULL, "status.podIPs",
		    "Too many: %zu: must have at most 2 items", p->n_pod_ips_text);
	for (i = 0; i < p->n_pod_ips_text && i < 2; i++) {
		struct netaddr a;

		snprintf(path, sizeof(path), "status.podIPs[%zu].ip", i);
		if (!parse_ip(v, m, &p->pod_ips_text[i].ip, path, &a, !p->host_network))
			continue;
		if (i == 0 && p->n_ips == 1) {
			if (!netaddr_equal(&a, &p->ips[0]))
				ERR(v, m, &p->pod_ips_text[i].ip, NULL, path,
				    "Invalid value: \"%s\": must match status.podIP \"%s\"",
				    p->pod_ips_text[i].ip, p->pod_ip_text);
			continue;
		}
		if (p->n_ips == 1 && p->ips[0].family == a.family) {
			ERR(v, m, &p->pod_ips_text[i].ip, NULL, path,
			    "Invalid value: \"%s\": a pod has at most one IP per family",
			    p->pod_ips_text[i].ip);
			continue;
		}
		if (p->n_ips < 2)
			p->ips[p->n_ips++] = a;
	}
	/* type and status are required, but validation also runs after decoding errors. */
	for (i = 0; i < p->n_conditions; i++)
		if (p->conditions[i].type != NULL && !strcmp(p->conditions[i].type, "Ready"))
			p->ready = p->conditions[i].status != NULL &&
			           !strcmp(p->conditions[i].status, "True");
}

/* ---- Endpoints and EndpointSlices -------------------------------------------------------- */

static void
check_ep_ports(struct vctx *v, const struct cluster_meta *m, struct cluster_ep_port *ports,
               size_t n, const char *prefix)
{
	char path[96];
	size_t i, j;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s%sports[%zu].port", prefix, *prefix ? "." : "", i);
		if ((ports[i].port < 1 || ports[i].port > 65535) &&
		    cluster_objects_has(v->objs, &ports[i].port))
			ERR(v, m, &ports[i].port, &ports[i], path,
			    "Invalid value: %d: must be between 1 and 65535, inclusive",
			    ports[i].port);
		snprintf(path, sizeof(path), "%s%sports[%zu].name", prefix, *prefix ? "." : "", i);
		if (ports[i].name != NULL && !is_dns1123_label(ports[i].name))
			ERR(v, m, &ports[i].name, &ports[i], path,
			    "Invalid value: \"%s\": must be a lowercase RFC 1123 label",
			    ports[i].name);
		for (j = 0; j < i; j++)
			if (!strcmp(ports[j].name ? ports[j].name : "",
			            ports[i].name ? ports[i].name : ""))
				ERR(v, m, &ports[i].name, &ports[i], path,
				    "Duplicate value: \"%s\"", ports[i].name ? ports[i].name : "");
	}
}

static void
check_endpoints(struct vctx *v, struct cluster_endpoints *e)
{
	const struct cluster_meta *m = &e->meta;
	char path[96];
	size_t i, j;
	struct netaddr a;

	check_meta(v, m, false);
	for (i = 0; i < e->n_subsets; i++) {
		struct cluster_ep_subset *ss = &e->subsets[i];

		for (j = 0; j < ss->n_addresses; j++) {
			snprintf(path, sizeof(path), "subsets[%zu].addresses[%zu].ip", i, j);
			parse_ip(v, m, &ss->addresses[j].ip, path, &a, true);
		}
		for (j = 0; j < ss->n_not_ready; j++) {
			snprintf(path, sizeof(path), "subsets[%zu].notReadyAddresses[%zu].ip", i,
			         j);
			parse_ip(v, m, &ss->not_ready[j].ip, path, &a, true);
		}
		snprintf(path, sizeof(path), "subsets[%zu]", i);
		check_ep_ports(v, m, ss->ports, ss->n_ports, path);
	}
}

static void
check_slice(struct vctx *v, struct cluster_endpointslice *sl)
{
	const struct cluster_meta *m = &sl->meta;
	char path[96];
	size_t i, j;
	uint8_t fam = NETADDR_NONE;
	bool fqdn = false;

	check_meta(v, m, false);
	if (sl->address_type != NULL) {
		fam = family_of_text(sl->address_type);
		fqdn = !strcmp(sl->address_type, "FQDN");
		if (fam == NETADDR_NONE && !fqdn)
			ERR(v, m, &sl->address_type, NULL, "addressType",
			    "Unsupported value: \"%s\": supported values: \"IPv4\", \"IPv6\", "
			    "\"FQDN\"",
			    sl->address_type);
		if (fqdn)
			WARN(v, m, &sl->address_type, NULL, "addressType",
			     "FQDN endpoints are not used for forwarding or DNS (as kube-proxy "
			     "and CoreDNS)");
	}
	for (i = 0; i < sl->n_endpoints; i++) {
		struct cluster_slice_endpoint *ep = &sl->endpoints[i];

		if (ep->n_addresses == 0 || ep->n_addresses > 100) {
			snprintf(path, sizeof(path), "endpoints[%zu].addresses", i);
			ERR(v, m, &ep->addresses, ep, path, "must have between 1 and 100 items");
		}
		for (j = 0; fam != NETADDR_NONE && j < ep->n_addresses; j++) {
			struct netaddr a;

			snprintf(path, sizeof(path), "endpoints[%zu].addresses[%zu]", i, j);
			if (parse_ip(v, m, &ep->addresses[j], path, &a, true) && a.family != fam)
				ERR(v, m, &ep->addresses[j], NULL, path,
				    "Invalid value: \"%s\": must be an %s address",
				    ep->addresses[j], sl->address_type);
		}
	}
	check_ep_ports(v, m, sl->ports, sl->n_ports, "");
	for (i = 0; i < sl->meta.labels.n; i++)
		if (!strcmp(sl->meta.labels.items[i].key, "kubernetes.io/service-name"))
			return;
	WARN(v, m, &sl->meta.labels, &sl->meta, "metadata.labels",
	     "no kubernetes.io/service-name label: this slice belongs to no service");
}

static void
check_namespace(struct vctx *v, struct cluster_namespace *ns)
{
	const struct cluster_meta *m = &ns->meta;

	if (!is_dns1123_label(m->name))
		ERR(v, m, &m->name, NULL, "metadata.name",
		    "Invalid value: \"%s\": a lowercase RFC 1123 label must consist of lower case "
		    "alphanumeric characters or '-' (at most 63)",
		    m->name);
	check_labels(v, m, &m->labels, "metadata.labels");
}

static void
check_node(struct vctx *v, struct cluster_node *n)
{
	const struct cluster_meta *m = &n->meta;
	char path[64];
	size_t i;

	if (!is_dns1123_subdomain(m->name))
		ERR(v, m, &m->name, NULL, "metadata.name",
		    "Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of lower "
		    "case "
		    "alphanumeric characters, '-' or '.' (at most 253)",
		    m->name);
	check_labels(v, m, &m->labels, "metadata.labels");
	for (i = 0; i < n->n_addresses; i++) {
		struct netaddr a;
		const char *t = n->addresses[i].type;

		snprintf(path, sizeof(path), "status.addresses[%zu].address", i);
		if (t != NULL && n->addresses[i].address != NULL &&
		    (!strcmp(t, "InternalIP") || !strcmp(t, "ExternalIP")) &&
		    netaddr_parse(&a, n->addresses[i].address) != SVC_OK)
			ERR(v, m, &n->addresses[i].address, NULL, path,
			    "Invalid value: \"%s\": must be a valid IP address",
			    n->addresses[i].address);
	}
	/* As a node without status means it (a manifest): ready, unless its Ready condition says
	 * otherwise (False, or Unknown: the node stopped reporting). */
	n->ready = true;
	for (i = 0; i < n->n_conditions; i++)
		if (n->conditions[i].type != NULL && !strcmp(n->conditions[i].type, "Ready"))
			n->ready = n->conditions[i].status != NULL &&
			           !strcmp(n->conditions[i].status, "True");
}

static void
check_lease(struct vctx *v, struct cluster_lease *l)
{
	const struct cluster_meta *m = &l->meta;

	if (!is_dns1123_subdomain(m->name))
		ERR(v, m, &m->name, NULL, "metadata.name",
		    "Invalid value: \"%s\": a node's lease is named after its node (a lowercase "
		    "RFC 1123 subdomain)",
		    m->name);
	if (l->duration_s < 0)
		ERR(v, m, &l->duration_s, NULL, "spec.leaseDurationSeconds",
		    "Invalid value: %d: must be greater than or equal to 0", l->duration_s);
}

static void
check_podstatus(struct vctx *v, struct cluster_podstatus *ps)
{
	const struct cluster_meta *m = &ps->meta;
	char path[64];

	ps->ready = -1;
	for (size_t i = 0; i < ps->n_conditions; i++) {
		const struct cluster_status_condition *c = &ps->conditions[i];

		if (c->type == NULL || c->status == NULL || strcmp(c->type, "Ready") != 0)
			continue;
		snprintf(path, sizeof(path), "status.conditions[%zu].status", i);
		if (strcmp(c->status, "True") != 0 && strcmp(c->status, "False") != 0 &&
		    strcmp(c->status, "Unknown") != 0)
			ERR(v, m, &c->status, NULL, path,
			    "Unsupported value: \"%s\": supported values: \"True\", \"False\", "
			    "\"Unknown\"",
			    c->status);
		else
			ps->ready = !strcmp(c->status, "True");
	}
}

/* ClusterIPs are unique across the cluster. Sorting (ip, service) pairs finds duplicates in
 * O(n log n) and reports them in a stable order. */
struct ip_owner {
	struct netaddr ip;
	struct cluster_service *svc;
	size_t i;
};

static int
ip_owner_cmp(const void *pa, const void *pb)
{
	const struct ip_owner *a = pa, *b = pb;
	int c = netaddr_cmp(&a->ip, &b->ip);

	return c ? c : meta_cmp(&a->svc, &b->svc);
}

static void
check_cluster_ips_unique(struct vctx *v)
{
	struct ip_owner *o;
	size_t n = 0, i, k;

	o = calloc(v->n_svcs * 2 + 1, sizeof(*o));
	if (o == NULL) {
		diag_add(v->d, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
		return;
	}
	for (i = 0; i < v->n_svcs; i++)
		for (k = 0; k < v->svcs[i]->n_cluster_ips; k++)
			o[n++] = (struct ip_owner){v->svcs[i]->cluster_ips[k], v->svcs[i], k};
	qsort(o, n, sizeof(*o), ip_owner_cmp);
	for (i = 1; i < n; i++) {
		struct cluster_service *a = o[i - 1].svc, *b = o[i].svc;
		char buf[NETADDR_STRLEN];
		const void *field;

		if (!netaddr_equal(&o[i - 1].ip, &o[i].ip))
			continue;
		field = o[i].i == 0 && b->cluster_ip_text
		                ? (const void *)&b->cluster_ip_text
		                : (const void *)&b->cluster_ips_text[o[i].i];
		ERR(v, &b->meta, field, NULL, o[i].i == 0 ? "spec.clusterIP" : "spec.clusterIPs[1]",
		    "Invalid value: \"%s\": provided IP is already allocated to service %s/%s "
		    "(%s:%u)",
		    netaddr_str(&o[i].ip, buf), a->meta.ns, a->meta.name, a->meta.origin.file,
		    a->meta.origin.line);
	}
	free(o);
}

/* nodePorts are unique per protocol across the cluster; one service may use a nodePort for the
 * same port number under two protocols. */
struct np_owner {
	int32_t port;
	int proto;
	size_t order; /* position in namespace/name order, so reports name the first owner */
	struct cluster_service *svc;
	size_t i;
};

static int
np_owner_cmp(const void *pa, const void *pb)
{
	const struct np_owner *a = pa, *b = pb;

	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static void
check_node_ports_unique(struct vctx *v)
{
	struct np_owner *o;
	size_t n = 0, i, k, cap = 0;

	for (i = 0; i < v->n_svcs; i++)
		cap += v->svcs[i]->n_ports;
	o = calloc(cap + 1, sizeof(*o));
	if (o == NULL) {
		diag_add(v->d, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
		return;
	}
	for (i = 0; i < v->n_svcs; i++) {
		struct cluster_service *s = v->svcs[i];

		for (k = 0; k < s->n_ports; k++) {
			if (s->ports[k].node_port == 0)
				continue;
			o[n] = (struct np_owner){s->ports[k].node_port, s->ports[k].proto, n, s, k};
			n++;
		}
	}
	if (n > 1)
		qsort(o, n, sizeof(*o), np_owner_cmp);
	for (i = 1; i < n; i++) {
		char path[64];

		if (o[i].port != o[i - 1].port || o[i].proto != o[i - 1].proto ||
		    o[i].svc == o[i - 1].svc)
			continue;
		snprintf(path, sizeof(path), "spec.ports[%zu].nodePort", o[i].i);
		ERR(v, &o[i].svc->meta, &o[i].svc->ports[o[i].i].node_port, NULL, path,
		    "Invalid value: %d: provided port is already allocated to service %s/%s "
		    "(%s:%u)",
		    o[i].port, o[i - 1].svc->meta.ns, o[i - 1].svc->meta.name,
		    o[i - 1].svc->meta.origin.file, o[i - 1].svc->meta.origin.line);
	}
	free(o);
}

/* A healthCheckNodePort comes from the node-port range too. As in Kubernetes, where one
 * allocator holds every node port whatever its protocol, it may equal no nodePort (the
 * service's own included) and no other healthCheckNodePort. */
struct hc_owner {
	int32_t port;
	size_t order;
	bool health; /* a healthCheckNodePort, else spec.ports[i].nodePort */
	struct cluster_service *svc;
	size_t i;
};

static int
hc_owner_cmp(const void *pa, const void *pb)
{
	const struct hc_owner *a = pa, *b = pb;

	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static void
check_health_ports_unique(struct vctx *v)
{
	struct hc_owner *o;
	size_t n = 0, i, k, start, cap = 0, n_health = 0;

	for (i = 0; i < v->n_svcs; i++) {
		cap += v->svcs[i]->n_ports + 1;
		n_health += v->svcs[i]->health_check_node_port != 0;
	}
	if (n_health == 0)
		return;
	o = calloc(cap + 1, sizeof(*o));
	if (o == NULL) {
		diag_add(v->d, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
		return;
	}
	for (i = 0; i < v->n_svcs; i++) {
		struct cluster_service *s = v->svcs[i];

		for (k = 0; k < s->n_ports; k++)
			if (s->ports[k].node_port != 0) {
				o[n] = (struct hc_owner){s->ports[k].node_port, n, false, s, k};
				n++;
			}
		if (s->health_check_node_port != 0) {
			o[n] = (struct hc_owner){s->health_check_node_port, n, true, s, 0};
			n++;
		}
	}
	qsort(o, n, sizeof(*o), hc_owner_cmp);
	for (start = 0; start < n; start = i) {
		for (i = start; i < n && o[i].port == o[start].port; i++)
			;
		for (k = start; k < i; k++) {
			const struct hc_owner *h = &o[k], *other = NULL;
			size_t j;

			if (!h->health)
				continue;
			/* A nodePort anywhere, or a healthCheckNodePort listed before this one. */
			for (j = start; j < i && other == NULL; j++)
				if (j != k && (!o[j].health || j < k))
					other = &o[j];
			if (other == NULL)
				continue;
			if (other->svc == h->svc)
				ERR(v, &h->svc->meta, &h->svc->health_check_node_port, NULL,
				    "spec.healthCheckNodePort",
				    "Invalid value: %d: provided port is already allocated to "
				    "spec.ports[%zu].nodePort",
				    h->port, other->i);
			else
				ERR(v, &h->svc->meta, &h->svc->health_check_node_port, NULL,
				    "spec.healthCheckNodePort",
				    "Invalid value: %d: provided port is already allocated to "
				    "service %s/%s (%s:%u)",
				    h->port, other->svc->meta.ns, other->svc->meta.name,
				    other->svc->meta.origin.file, other->svc->meta.origin.line);
		}
	}
	free(o);
}

/* A load-balancer pool overlapping a service CIDR would hand out clusterIPs. */
void
validate_config(const struct cluster_config *cfg, struct diag *d)
{
	struct vctx vv = {NULL, cfg, d, NULL, 0}, *v = &vv;
	size_t i, k;

	for (i = 0; i < v->cfg->n_lb_pools; i++)
		for (k = 0; k < v->cfg->n_service_cidrs; k++) {
			const struct netaddr_prefix *p = &v->cfg->lb_pools[i];
			const struct netaddr_prefix *c = &v->cfg->service_cidrs[k];
			char a[NETADDR_STRLEN + 4], b[NETADDR_STRLEN + 4];

			if (netaddr_in_prefix(&p->addr, c) || netaddr_in_prefix(&c->addr, p))
				diag_add(v->d, DIAG_ERROR, NULL, 0, 0, NULL,
				         "load-balancer pool %s overlaps the service CIDR %s",
				         netaddr_prefix_str(p, a), netaddr_prefix_str(c, b));
		}
}

/* The objects of kind K from FROM on: sorted by name, duplicates among them reported. */
static void
check_unique_from(struct vctx *v, enum cluster_kind k, size_t from, const char *kind)
{
	size_t n, tail;
	struct cluster_meta **items = cluster_objects_of(v->objs, k, &n);

	if (from >= n)
		return;
	tail = n - from;
	check_unique(v, (void **)(items + from), &tail, kind);
	/* Dropped objects left the tail: the array's count follows. */
	switch (k) {
	case CLUSTER_KIND_SERVICE:
		v->objs->n_services = from + tail;
		break;
	case CLUSTER_KIND_POD:
		v->objs->n_pods = from + tail;
		break;
	case CLUSTER_KIND_ENDPOINTS:
		v->objs->n_endpoints = from + tail;
		break;
	case CLUSTER_KIND_ENDPOINTSLICE:
		v->objs->n_slices = from + tail;
		break;
	case CLUSTER_KIND_NAMESPACE:
		v->objs->n_namespaces = from + tail;
		break;
	case CLUSTER_KIND_NODE:
		v->objs->n_nodes = from + tail;
		break;
	case CLUSTER_KIND_LEASE:
		v->objs->n_leases = from + tail;
		break;
	case CLUSTER_KIND_PODSTATUS:
		v->objs->n_podstatuses = from + tail;
		break;
	case CLUSTER_KIND_COUNT:
		break;
	}
}

void
validate_objects_from(struct cluster_objects *objs, const struct cluster_config *cfg,
                      struct diag *d, const size_t from[CLUSTER_KIND_COUNT])
{
	struct vctx v = {objs, cfg, d, NULL, 0};
	size_t i;

	check_unique_from(&v, CLUSTER_KIND_SERVICE, from[CLUSTER_KIND_SERVICE], "service");
	check_unique_from(&v, CLUSTER_KIND_POD, from[CLUSTER_KIND_POD], "pod");
	check_unique_from(&v, CLUSTER_KIND_ENDPOINTS, from[CLUSTER_KIND_ENDPOINTS], "endpoints");
	check_unique_from(&v, CLUSTER_KIND_ENDPOINTSLICE, from[CLUSTER_KIND_ENDPOINTSLICE],
	                  "endpointslice");
	check_unique_from(&v, CLUSTER_KIND_NAMESPACE, from[CLUSTER_KIND_NAMESPACE], "namespace");
	check_unique_from(&v, CLUSTER_KIND_NODE, from[CLUSTER_KIND_NODE], "node");
	check_unique_from(&v, CLUSTER_KIND_LEASE, from[CLUSTER_KIND_LEASE], "lease");
	check_unique_from(&v, CLUSTER_KIND_PODSTATUS, from[CLUSTER_KIND_PODSTATUS], "podstatus");
	for (i = from[CLUSTER_KIND_SERVICE]; i < objs->n_services; i++)
		check_service(&v, objs->services[i]);
	for (i = from[CLUSTER_KIND_POD]; i < objs->n_pods; i++)
		check_pod(&v, objs->pods[i]);
	for (i = from[CLUSTER_KIND_ENDPOINTS]; i < objs->n_endpoints; i++)
		check_endpoints(&v, objs->endpoints[i]);
	for (i = from[CLUSTER_KIND_ENDPOINTSLICE]; i < objs->n_slices; i++)
		check_slice(&v, objs->slices[i]);
	for (i = from[CLUSTER_KIND_NAMESPACE]; i < objs->n_namespaces; i++)
		check_namespace(&v, objs->namespaces[i]);
	for (i = from[CLUSTER_KIND_NODE]; i < objs->n_nodes; i++)
		check_node(&v, objs->nodes[i]);
	for (i = from[CLUSTER_KIND_LEASE]; i < objs->n_leases; i++)
		check_lease(&v, objs->leases[i]);
	for (i = from[CLUSTER_KIND_PODSTATUS]; i < objs->n_podstatuses; i++)
		check_podstatus(&v, objs->podstatuses[i]);
	if (from[CLUSTER_KIND_SERVICE] < objs->n_services) {
		v.svcs = objs->services + from[CLUSTER_KIND_SERVICE];
		v.n_svcs = objs->n_services - from[CLUSTER_KIND_SERVICE];
	}
	if (v.n_svcs > 0) { /* (a pod alone has none to check) */
		check_cluster_ips_unique(&v);
		check_node_ports_unique(&v);
		check_health_ports_unique(&v);
	}
}

void
validate_objects(struct cluster_objects *objs, const struct cluster_config *cfg, struct diag *d)
{
	static const size_t all[CLUSTER_KIND_COUNT];

	validate_objects_from(objs, cfg, d, all);
}
