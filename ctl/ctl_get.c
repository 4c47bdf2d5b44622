/* ctl_get.c -- svcctl get services|endpoints|pods and svcctl check. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_yaml.h"
#include "ctl.h"
#include "ctl_json.h"
#include "ctl_select.h"
#include "vec.h"

/* A growing string for table cells. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (vec_reserve(&b->s, &b->cap, b->len, b->len + (size_t)n + 1, 1, NULL) != SVC_OK) {
		perror("svcctl");
		exit(1);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static const char *
sb_str(struct sbuf *b, const char *empty)
{
	return b->len ? b->s : empty;
}

static void
sb_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

static bool
ns_selected(const struct ctl *ctl, const char *ns)
{
	return ctl->all_ns || ns == NULL || !strcmp(ns, ctl->ns);
}

static bool
name_selected(const struct ctl *ctl, const char *name)
{
	int i;

	if (ctl->n_args <= 1)
		return true;
	for (i = 1; i < ctl->n_args; i++)
		if (!strcmp(ctl->args[i], name))
			return true;
	return false;
}

/* The object of META: in the namespace, among the names, and matching the selector asked for. */
static bool
selected(const struct ctl *ctl, const struct cluster_meta *meta)
{
	return ns_selected(ctl, meta->ns) && name_selected(ctl, meta->name) &&
	       (ctl->selector == NULL || ctl_selector_match(ctl->selector, &meta->labels));
}

/* Whether any status ingress entry of S has an IP: then those are its load-balancer IPs. */
static bool
lb_ips_from_ingress(const struct cluster_service *s)
{
	size_t i;

	for (i = 0; i < s->n_ingress; i++)
		if (s->ingress[i].ip_addr.family != NETADDR_NONE)
			return true;
	return false;
}

/* kubectl prints long load-balancer lists shortened unless -o wide. Besides the status, a
 * LoadBalancer service shows the address it has from spec.loadBalancerIP or --lb-pool, as a
 * load-balancer controller would have written it there. */
static void
external_ip(const struct cluster_service *s, bool wide, struct sbuf *b)
{
	struct sbuf lb = {0};
	char buf[NETADDR_STRLEN];
	size_t i;

	switch (s->type) {
	case CLUSTER_SVC_EXTERNALNAME:
		sb_add(b, "%s", s->external_name ? s->external_name : "");
		return;
	case CLUSTER_SVC_CLUSTERIP:
	case CLUSTER_SVC_NODEPORT:
		for (i = 0; i < s->n_external_ips_text; i++)
			sb_add(b, "%s%s", i ? "," : "", s->external_ips_text[i]);
		return;
	case CLUSTER_SVC_LOADBALANCER:
		break;
	}
	for (i = 0; i < s->n_ingress; i++)
		sb_add(&lb, "%s%s", lb.len ? "," : "",
		       s->ingress[i].ip ? s->ingress[i].ip : s->ingress[i].hostname);
	for (i = 0; !lb_ips_from_ingress(s) && i < s->n_lb_ips; i++)
		sb_add(&lb, "%s%s", lb.len ? "," : "", netaddr_str(&s->lb_ips[i], buf));
	if (!wide && lb.len > 16) {
		lb.s[13] = '\0';
		lb.len = 13;
		sb_add(&lb, "...");
	}
	sb_add(b, "%s", lb.len ? lb.s : "");
	for (i = 0; i < s->n_external_ips_text; i++)
		sb_add(b, "%s%s", b->len ? "," : "", s->external_ips_text[i]);
	if (b->len == 0)
		sb_add(b, "<pending>");
	free(lb.s);
}

static void
port_list(const struct cluster_service *s, struct sbuf *b)
{
	size_t i;

	for (i = 0; i < s->n_ports; i++) {
		const struct cluster_port *p = &s->ports[i];

		if (p->node_port != 0)
			sb_add(b, "%s%d:%d/%s", i ? "," : "", p->port, p->node_port,
			       cluster_proto_str(p->proto));
		else
			sb_add(b, "%s%d/%s", i ? "," : "", p->port, cluster_proto_str(p->proto));
	}
}

static int
label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cluster_label *)a)->key,
	              ((const struct cluster_label *)b)->key);
}

static void
selector_str(const struct cluster_labels *l, struct sbuf *b)
{
	struct cluster_label *sorted = calloc(l->n + 1, sizeof(*sorted));
	size_t i;

	if (sorted == NULL)
		return;
	if (l->n > 0)
		memcpy(sorted, l->items, l->n * sizeof(*sorted));
	qsort(sorted, l->n, sizeof(*sorted), label_cmp);
	for (i = 0; i < l->n; i++)
		sb_add(b, "%s%s=%s", i ? "," : "", sorted[i].key, sorted[i].value);
	free(sorted);
}

static int
dump_yaml(struct cluster_yaml_item *items, size_t n, bool single)
{
	char *out;
	size_t len;

	if (cluster_yaml_dump(items, n, !single, &out, &len) != SVC_OK) {
		fprintf(stderr, "error: out of memory\n");
		return 1;
	}
	fwrite(out, 1, len, stdout);
	free(out);
	return 0;
}

/* --show-labels: each row's object's labels, sorted, as kubectl prints them. */
static void
add_labels_column(struct ctl_table *t, const struct cluster_yaml_item *items, size_t n)
{
	const char **v = calloc(n + 1, sizeof(*v));
	struct sbuf *b = calloc(n + 1, sizeof(*b));

	if (v == NULL || b == NULL || t->rows != n + 1) {
		free(v);
		free(b);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		selector_str(&((const struct cluster_meta *)items[i].obj)->labels, &b[i]);
		v[i] = sb_str(&b[i], "<none>");
	}
	ctl_table_add_column(t, "LABELS", v);
	for (size_t i = 0; i < n; i++)
		free(b[i].s);
	free(b);
	free(v);
}

/* -w: a last, hidden column CTL_DIGEST_HEAD with a hash of each row's object as -o yaml writes
 * it, so that a change the columns do not show still makes a row, as in kubectl. */
static void
add_digest_column(struct ctl_table *t, const struct cluster_yaml_item *items, size_t n)
{
	char(*v)[24] = calloc(n + 1, sizeof(*v));
	const char **cells = calloc(n + 1, sizeof(*cells));

	if (v == NULL || cells == NULL || t->rows != n + 1) {
		free(v);
		free(cells);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char *yaml = NULL;
		size_t len = 0;
		uint64_t h = 1469598103934665603ull;

		if (cluster_yaml_dump(&items[i], 1, false, &yaml, &len) == SVC_OK)
			for (size_t k = 0; k < len; k++)
				h = (h ^ (uint8_t)yaml[k]) * 1099511628211ull;
		free(yaml);
		snprintf(v[i], sizeof(v[i]), "%016llx", (unsigned long long)h);
		cells[i] = v[i];
	}
	ctl_table_add_column(t, CTL_DIGEST_HEAD, cells);
	free(cells);
	free(v);
}

/* After the table: kubectl's messages for nothing found. */
static int
finish(const struct ctl *ctl, struct ctl_table *t, struct cluster_yaml_item *items, size_t n,
       enum cluster_kind kind)
{
	int rc = 0, i;

	if (ctl->n_args > 1) {
		/* Named objects that do not exist are errors, as in kubectl. */
		for (i = 1; i < ctl->n_args; i++) {
			size_t k;
			bool found = false;

			for (k = 0; k < n; k++)
				if (!strcmp(((const struct cluster_meta *)items[k].obj)->name,
				            ctl->args[i]))
					found = true;
			if (!found) {
				fprintf(stderr,
				        "Error from server (NotFound): %s \"%s\" not found\n",
				        ctl_kind_plural(kind), ctl->args[i]);
				rc = 1;
			}
		}
	}
	if (ctl->output == CTL_OUT_YAML) {
		if (n > 0 || ctl->n_args <= 1)
			rc |= dump_yaml(items, n, ctl->n_args == 2 && n == 1);
	} else if (ctl->output == CTL_OUT_COLUMNS) {
		if (n > 0)
			rc |= ctl_print_columns(items, n, ctl->jsonpath, stdout);
	} else if (ctl->output == CTL_OUT_JSON || ctl->output == CTL_OUT_JSONPATH) {
		/* One named object is printed alone; anything else as a List, as kubectl. */
		if (n > 0 || ctl->n_args <= 1)
			rc |= ctl_print_json(items, n, !(ctl->n_args == 2 && n == 1),
			                     ctl->output == CTL_OUT_JSONPATH ? ctl->jsonpath : NULL,
			                     stdout);
	} else if (ctl->output == CTL_OUT_NAME) {
		/* kubectl prints the lower-case kind: service/NAME, endpoints/NAME. */
		static const char *const lower[CLUSTER_KIND_COUNT] = {
		        "service",
		        "pod",
		        "endpoints",
		        "endpointslice.discovery.k8s.io",
		        "namespace",
		        "node",
		        "lease.coordination.k8s.io",
		        "podstatus.svcdns.io"};
		size_t k;

		for (k = 0; k < n; k++)
			printf("%s/%s\n", kind < CLUSTER_KIND_COUNT ? lower[kind] : "object",
			       ((const struct cluster_meta *)items[k].obj)->name);
	} else if (ctl->capture != NULL) {
		/* -w: the table to compare with the last; the caller's T is left empty. */
		if (ctl->show_labels && t->rows > 1)
			add_labels_column(t, items, n);
		add_digest_column(t, items, n);
		*ctl->capture = *t;
		ctl_table_init(t, t->cols);
	} else if (t->rows > 1) {
		if (ctl->show_labels)
			add_labels_column(t, items, n);
		ctl_table_print(t, stdout);
	} else if (ctl->n_args <= 1) {
		if (ctl->all_ns || !cluster_kind_namespaced(kind))
			fprintf(stderr, "No resources found\n");
		else
			fprintf(stderr, "No resources found in %s namespace.\n", ctl->ns);
	}
	return rc;
}

/* For -o yaml: S as a load-balancer controller would have left it, with the addresses it has
 * from spec.loadBalancerIP or --lb-pool in status.loadBalancer.ingress. The copy and its
 * arrays are one malloc'd block; NULL when S needs no copy or memory is short. */
static struct cluster_service *
service_with_status(const struct cluster_service *s)
{
	struct cluster_service *copy;
	struct cluster_lb_ingress *in;
	char *text;
	size_t n, i;

	if (s->type != CLUSTER_SVC_LOADBALANCER || s->n_lb_ips == 0 || lb_ips_from_ingress(s))
		return NULL;
	n = s->n_ingress + s->n_lb_ips;
	copy = calloc(1, sizeof(*copy) + n * sizeof(*in) + s->n_lb_ips * NETADDR_STRLEN);
	if (copy == NULL)
		return NULL;
	*copy = *s;
	in = (struct cluster_lb_ingress *)(copy + 1);
	text = (char *)(in + n);
	if (s->n_ingress > 0)
		memcpy(in, s->ingress, s->n_ingress * sizeof(*in));
	for (i = 0; i < s->n_lb_ips; i++) {
		struct cluster_lb_ingress *e = &in[s->n_ingress + i];

		e->ip = netaddr_str(&s->lb_ips[i], text + i * NETADDR_STRLEN);
		e->ip_addr = s->lb_ips[i];
	}
	copy->ingress = in;
	copy->n_ingress = n;
	return copy;
}

static int
get_services(struct ctl *ctl, const struct cluster *c)
{
	static const char *const head[] = {"NAMESPACE",   "NAME",    "TYPE", "CLUSTER-IP",
	                                   "EXTERNAL-IP", "PORT(S)", "AGE",  "SELECTOR"};
	bool wide = ctl->output == CTL_OUT_WIDE;
	size_t cols = 6 + (ctl->all_ns ? 1 : 0) + (wide ? 1 : 0), i, n = 0;
	struct cluster_yaml_item *items = calloc(c->n_services + 1, sizeof(*items));
	struct cluster_service **copies = calloc(c->n_services + 1, sizeof(*copies));
	struct ctl_table t;
	struct sbuf ext = {0}, ports = {0}, sel = {0};
	int rc;

	if (items == NULL || copies == NULL) {
		free(items);
		free(copies);
		return 1;
	}
	ctl_table_init(&t, cols);
	ctl_table_add(&t, ctl->all_ns ? head : head + 1);
	for (i = 0; i < c->n_services; i++) {
		const struct cluster_service *s = c->services[i];
		const char *row[8];
		char age[32], name[300];
		size_t k = 0;

		if (!selected(ctl, &s->meta))
			continue;
		if (ctl->output == CTL_OUT_YAML)
			copies[n] = service_with_status(s);
		items[n] =
		        (struct cluster_yaml_item){CLUSTER_KIND_SERVICE, copies[n] ? copies[n] : s};
		n++;
		sb_reset(&ext);
		sb_reset(&ports);
		sb_reset(&sel);
		external_ip(s, wide, &ext);
		port_list(s, &ports);
		selector_str(&s->selector, &sel);
		ctl_age(ctl_created(&s->meta), age, sizeof(age));
		if (ctl->all_ns)
			row[k++] = s->meta.ns;
		snprintf(name, sizeof(name), "%s%s", ctl->kind_prefix ? "service/" : "",
		         s->meta.name);
		row[k++] = name;
		row[k++] = cluster_svc_type_str(s->type);
		row[k++] = s->headless          ? "None"
		           : s->cluster_ip_text ? s->cluster_ip_text
		                                : "<none>";
		row[k++] = sb_str(&ext, "<none>");
		row[k++] = sb_str(&ports, "<none>");
		row[k++] = age;
		if (wide)
			row[k++] = sb_str(&sel, "<none>");
		ctl_table_add(&t, row);
	}
	rc = finish(ctl, &t, items, n, CLUSTER_KIND_SERVICE);
	ctl_table_deinit(&t);
	for (i = 0; i < n; i++)
		free(copies[i]);
	free(copies);
	free(items);
	free(ext.s);
	free(ports.s);
	free(sel.s);
	return rc;
}

/* kubectl's formatEndpoints, without the "+ N more..." shortening. */
static void
endpoints_list(const struct cluster_endpoints *e, struct sbuf *b)
{
	size_t i, p, a;

	for (i = 0; i < e->n_subsets; i++) {
		const struct cluster_ep_subset *ss = &e->subsets[i];

		if (ss->n_ports == 0) {
			for (a = 0; a < ss->n_addresses; a++)
				sb_add(b, "%s%s", b->len ? "," : "", ss->addresses[a].ip);
			continue;
		}
		for (p = 0; p < ss->n_ports; p++)
			for (a = 0; a < ss->n_addresses; a++) {
				const char *ip = ss->addresses[a].ip;

				if (strchr(ip, ':'))
					sb_add(b, "%s[%s]:%d", b->len ? "," : "", ip,
					       ss->ports[p].port);
				else
					sb_add(b, "%s%s:%d", b->len ? "," : "", ip,
					       ss->ports[p].port);
			}
	}
}

static int
get_endpoints(struct ctl *ctl, const struct cluster *c)
{
	static const char *const head[] = {"NAMESPACE", "NAME", "ENDPOINTS", "AGE"};
	size_t cols = 3 + (ctl->all_ns ? 1 : 0), i, n = 0;
	struct cluster_yaml_item *items = calloc(c->n_endpoints + 1, sizeof(*items));
	struct ctl_table t;
	struct sbuf eps = {0};
	int rc;

	if (items == NULL)
		return 1;
	ctl_table_init(&t, cols);
	ctl_table_add(&t, ctl->all_ns ? head : head + 1);
	for (i = 0; i < c->n_endpoints; i++) {
		const struct cluster_endpoints *e = c->endpoints[i];
		const char *row[4];
		char age[32];
		size_t k = 0;

		if (!selected(ctl, &e->meta))
			continue;
		items[n++] = (struct cluster_yaml_item){CLUSTER_KIND_ENDPOINTS, e};
		sb_reset(&eps);
		endpoints_list(e, &eps);
		ctl_age(ctl_created(&e->meta), age, sizeof(age));
		if (ctl->all_ns)
			row[k++] = e->meta.ns;
		row[k++] = e->meta.name;
		row[k++] = sb_str(&eps, "<none>");
		row[k++] = age;
		ctl_table_add(&t, row);
	}
	rc = finish(ctl, &t, items, n, CLUSTER_KIND_ENDPOINTS);
	ctl_table_deinit(&t);
	free(items);
	free(eps.s);
	return rc;
}

static const char *
pod_status(const struct cluster_pod *p)
{
	static const char *const phase[] = {"Running",   "Pending", "Running",
	                                    "Succeeded", "Failed",  "Unknown"};

	if (p->meta.deleted != NULL)
		return "Terminating";
	if (p->phase == CLUSTER_POD_SUCCEEDED)
		return "Completed";
	if (p->phase == CLUSTER_POD_FAILED)
		return "Error";
	return phase[p->phase];
}

static int
get_pods(struct ctl *ctl, const struct cluster *c)
{
	static const char *const head[] = {
	        "NAMESPACE", "NAME", "READY", "STATUS",         "RESTARTS",
	        "AGE",       "IP",   "NODE",  "NOMINATED NODE", "READINESS GATES"};
	bool wide = ctl->output == CTL_OUT_WIDE;
	size_t cols = 5 + (ctl->all_ns ? 1 : 0) + (wide ? 4 : 0), i, n = 0;
	struct cluster_yaml_item *items = calloc(c->n_pods + 1, sizeof(*items));
	struct ctl_table t;
	int rc;

	if (items == NULL)
		return 1;
	ctl_table_init(&t, cols);
	ctl_table_add(&t, ctl->all_ns ? head : head + 1);
	for (i = 0; i < c->n_pods; i++) {
		const struct cluster_pod *p = c->pods[i];
		const char *row[10];
		char age[32], ready[32], ip[NETADDR_STRLEN], name[300];
		size_t k = 0;

		if (!selected(ctl, &p->meta))
			continue;
		items[n++] = (struct cluster_yaml_item){CLUSTER_KIND_POD, p};
		/* Without container statuses, readiness is the pod's Ready condition (and its
		 * node's state). */
		snprintf(ready, sizeof(ready), "%zu/%zu",
		         cluster_pod_ready(c, p) ? p->n_containers : 0, p->n_containers);
		ctl_age(ctl_created(&p->meta), age, sizeof(age));
		if (ctl->all_ns)
			row[k++] = p->meta.ns;
		snprintf(name, sizeof(name), "%s%s", ctl->kind_prefix ? "pod/" : "", p->meta.name);
		row[k++] = name;
		row[k++] = ready;
		row[k++] = pod_status(p);
		row[k++] = "0";
		row[k++] = age;
		if (wide) {
			row[k++] = p->n_ips ? netaddr_str(&p->ips[0], ip) : "<none>";
			row[k++] = p->node_name ? p->node_name : "<none>";
			row[k++] = "<none>";
			row[k++] = "<none>";
		}
		ctl_table_add(&t, row);
	}
	rc = finish(ctl, &t, items, n, CLUSTER_KIND_POD);
	ctl_table_deinit(&t);
	free(items);
	return rc;
}

static const char *
node_address(const struct cluster_node *n, const char *type)
{
	for (size_t i = 0; i < n->n_addresses; i++)
		if (n->addresses[i].type != NULL && !strcmp(n->addresses[i].type, type))
			return n->addresses[i].address;
	return "<none>";
}

/* The roles kubectl shows: node-role.kubernetes.io/<role> labels, comma-separated. */
static const char *
node_roles(const struct cluster_node *n, char *buf, size_t size)
{
	static const char pfx[] = "node-role.kubernetes.io/";
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n->meta.labels.n; i++) {
		const char *k = n->meta.labels.items[i].key;

		if (strncmp(k, pfx, sizeof(pfx) - 1) != 0 || k[sizeof(pfx) - 1] == '\0')
			continue;
		at += (size_t)snprintf(buf + at, at < size ? size - at : 0, "%s%s", at ? "," : "",
		                       k + sizeof(pfx) - 1);
	}
	return buf[0] ? buf : "<none>";
}

static int
get_nodes(struct ctl *ctl, const struct cluster *c)
{
	static const char *const head[] = {
	        "NAME",           "STATUS",           "ROLES",       "AGE",
	        "VERSION",        "INTERNAL-IP",      "EXTERNAL-IP", "OS-IMAGE",
	        "KERNEL-VERSION", "CONTAINER-RUNTIME"};
	bool wide = ctl->output == CTL_OUT_WIDE;
	struct cluster_yaml_item *items = calloc(c->n_nodes + 1, sizeof(*items));
	struct ctl_table t;
	size_t n = 0;
	int rc;

	if (items == NULL)
		return 1;
	ctl_table_init(&t, wide ? 10 : 5);
	ctl_table_add(&t, head);
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct cluster_node *nd = c->nodes[i];
		char age[32], roles[256], status[64];
		const char *row[10];
		size_t k = 0;

		if (!selected(ctl, &nd->meta))
			continue;
		items[n++] = (struct cluster_yaml_item){CLUSTER_KIND_NODE, nd};
		snprintf(status, sizeof(status), "%s%s",
		         cluster_node_ready(c, nd) ? "Ready" : "NotReady",
		         nd->unschedulable ? ",SchedulingDisabled" : "");
		ctl_age(ctl_created(&nd->meta), age, sizeof(age));
		row[k++] = nd->meta.name;
		row[k++] = status;
		row[k++] = node_roles(nd, roles, sizeof(roles));
		row[k++] = age;
		row[k++] = nd->kubelet_version ? nd->kubelet_version : "";
		if (wide) {
			row[k++] = node_address(nd, "InternalIP");
			row[k++] = node_address(nd, "ExternalIP");
			row[k++] = "<unknown>";
			row[k++] = "<unknown>";
			row[k++] = "<unknown>";
		}
		ctl_table_add(&t, row);
	}
	rc = finish(ctl, &t, items, n, CLUSTER_KIND_NODE);
	ctl_table_deinit(&t);
	free(items);
	return rc;
}

static int
get_namespaces(struct ctl *ctl, const struct cluster *c)
{
	static const char *const head[] = {"NAME", "STATUS", "AGE"};
	struct cluster_yaml_item *items = calloc(c->n_ns_names + 1, sizeof(*items));
	/* A namespace that holds objects but has no manifest exists all the same. */
	struct cluster_namespace *implied = calloc(c->n_ns_names + 1, sizeof(*implied));
	struct ctl_table t;
	size_t i, k, n = 0;
	int rc;

	if (items == NULL || implied == NULL) {
		free(items);
		free(implied);
		return 1;
	}
	ctl_table_init(&t, 3);
	ctl_table_add(&t, head);
	for (i = 0; i < c->n_ns_names; i++) {
		const struct cluster_namespace *ns = NULL;
		const char *row[3] = {c->ns_names[i], "Active", "<unknown>"};
		char age[32];

		for (k = 0; k < c->n_namespaces && ns == NULL; k++)
			if (!strcmp(c->namespaces[k]->meta.name, c->ns_names[i]))
				ns = c->namespaces[k];
		if (ns == NULL || ns->phase == NULL) {
			/* status.phase as kubectl shows it: Active. */
			if (ns != NULL)
				implied[i] = *ns;
			else
				implied[i].meta.name = c->ns_names[i];
			implied[i].phase = "Active";
			ns = &implied[i];
		}
		if (!name_selected(ctl, ns->meta.name) ||
		    (ctl->selector != NULL && !ctl_selector_match(ctl->selector, &ns->meta.labels)))
			continue;
		if (ns->meta.created != NULL || ns->meta.origin.file != NULL) {
			ctl_age(ctl_created(&ns->meta), age, sizeof(age));
			row[2] = age;
		}
		items[n++] = (struct cluster_yaml_item){CLUSTER_KIND_NAMESPACE, ns};
		ctl_table_add(&t, row);
	}
	rc = finish(ctl, &t, items, n, CLUSTER_KIND_NAMESPACE);
	ctl_table_deinit(&t);
	free(items);
	free(implied);
	return rc;
}

/* ---- EndpointSlices: the loaded ones, and those the controller would make ---- */

/* What one derived slice holds, apart from the slice itself. */
struct slice_mem {
	struct cluster_endpointslice s;
	struct cluster_label labels[2];
	struct cluster_slice_endpoint *eps;
	const char **addrs;
	char name[300];
};

/* The controller names a slice <service>-<5 random letters>; here the letters come from a hash
 * of the service and the slice's place, so the same cluster shows the same names. */
static void
slice_name(const struct cluster_endpoints *e, size_t subset, int family, char *buf, size_t len)
{
	static const char alpha[] = "bcdfghjklmnpqrstvwxz2456789";
	uint32_t h = 2166136261u;
	char key[600], suffix[6];

	snprintf(key, sizeof(key), "%s/%s/%zu/%d", e->meta.ns, e->meta.name, subset, family);
	for (const char *p = key; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (int i = 0; i < 5; i++, h /= (sizeof(alpha) - 1))
		suffix[i] = alpha[h % (sizeof(alpha) - 1)];
	suffix[5] = '\0';
	snprintf(buf, len, "%s-%s", e->meta.name, suffix);
}

static int
slice_ep_cmp(const void *a, const void *b)
{
	const struct cluster_slice_endpoint *x = a, *y = b;
	struct netaddr ax, ay;

	if (netaddr_parse(&ax, x->addresses[0]) != SVC_OK ||
	    netaddr_parse(&ay, y->addresses[0]) != SVC_OK)
		return strcmp(x->addresses[0], y->addresses[0]);
	return memcmp(ax.bytes, ay.bytes, sizeof(ax.bytes));
}

static bool
has_slices(const struct cluster *c, const struct cluster_endpoints *e)
{
	for (size_t i = 0; i < c->n_slices; i++) {
		const struct cluster_endpointslice *s = c->slices[i];

		if (!strcmp(s->meta.ns, e->meta.ns))
			for (size_t k = 0; k < s->meta.labels.n; k++)
				if (!strcmp(s->meta.labels.items[k].key,
				            "kubernetes.io/service-name") &&
				    !strcmp(s->meta.labels.items[k].value, e->meta.name))
					return true;
	}
	return false;
}

/* Subset SUB of E's addresses of FAMILY (ready first) as a slice into M; false when it has
 * none of that family. */
static bool
derive_slice(const struct cluster_endpoints *e, size_t subset, int family, struct slice_mem *m)
{
	const struct cluster_ep_subset *sub = &e->subsets[subset];
	size_t n = sub->n_addresses + sub->n_not_ready, k = 0;

	m->eps = calloc(n + 1, sizeof(*m->eps));
	m->addrs = calloc(n + 1, sizeof(*m->addrs));
	if (m->eps == NULL || m->addrs == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool ready = i < sub->n_addresses;
		const struct cluster_ep_address *a =
		        ready ? &sub->addresses[i] : &sub->not_ready[i - sub->n_addresses];
		struct netaddr ip;

		if (netaddr_parse(&ip, a->ip) != SVC_OK || (int)ip.family != family)
			continue;
		m->addrs[k] = a->ip;
		m->eps[k] = (struct cluster_slice_endpoint){
		        .addresses = &m->addrs[k],
		        .n_addresses = 1,
		        .conditions = {.ready = ready ? CLUSTER_TRUE : CLUSTER_FALSE},
		        .hostname = a->hostname,
		        .node_name = a->node_name,
		        .target = a->target,
		};
		k++;
	}
	if (k == 0)
		return false;
	/* By address, so that the order is the same whatever order the pods were read in. */
	qsort(m->eps, k, sizeof(*m->eps), slice_ep_cmp);
	slice_name(e, subset, family, m->name, sizeof(m->name));
	m->labels[0] = (struct cluster_label){"endpointslice.kubernetes.io/managed-by",
	                                      "endpointslice-controller.k8s.io"};
	m->labels[1] = (struct cluster_label){"kubernetes.io/service-name", e->meta.name};
	m->s.meta = e->meta;
	m->s.meta.name = m->name;
	m->s.meta.labels = (struct cluster_labels){m->labels, 2};
	m->s.meta.annotations = (struct cluster_labels){0};
	m->s.meta.resource_version = NULL;
	m->s.address_type = family == NETADDR_V6 ? "IPv6" : "IPv4";
	m->s.endpoints = m->eps;
	m->s.n_endpoints = k;
	m->s.ports = sub->ports;
	m->s.n_ports = sub->n_ports;
	return true;
}

static int
get_endpointslices(struct ctl *ctl, const struct cluster *c)
{
	static const char *const head[] = {"NAMESPACE", "NAME",      "ADDRESSTYPE",
	                                   "PORTS",     "ENDPOINTS", "AGE"};
	size_t cols = 5 + (ctl->all_ns ? 1 : 0), n = 0, n_mem = 0, cap = c->n_slices + 1;
	struct cluster_yaml_item *items;
	struct slice_mem *mem;
	struct ctl_table t;
	struct sbuf ports = {0}, eps = {0};
	int rc;

	for (size_t i = 0; i < c->n_endpoints; i++)
		for (size_t s = 0; s < c->endpoints[i]->n_subsets; s++)
			cap += 2;
	items = calloc(cap, sizeof(*items));
	mem = calloc(cap, sizeof(*mem));
	if (items == NULL || mem == NULL) {
		free(items);
		free(mem);
		return 1;
	}
	for (size_t i = 0; i < c->n_slices; i++)
		if (selected(ctl, &c->slices[i]->meta))
			items[n++] = (struct cluster_yaml_item){CLUSTER_KIND_ENDPOINTSLICE,
			                                        c->slices[i]};
	for (size_t i = 0; i < c->n_endpoints; i++) {
		const struct cluster_endpoints *e = c->endpoints[i];

		if (!ns_selected(ctl, e->meta.ns) || has_slices(c, e))
			continue;
		for (size_t s = 0; s < e->n_subsets; s++)
			for (int f = NETADDR_V4; f <= NETADDR_V6; f++) {
				struct slice_mem *m = &mem[n_mem];

				if (!derive_slice(e, s, f, m)) {
					free(m->eps);
					free(m->addrs);
					m->eps = NULL;
					m->addrs = NULL;
					continue;
				}
				n_mem++;
				if (selected(ctl, &m->s.meta))
					items[n++] = (struct cluster_yaml_item){
					        CLUSTER_KIND_ENDPOINTSLICE, &m->s};
			}
	}
	ctl_table_init(&t, cols);
	ctl_table_add(&t, ctl->all_ns ? head : head + 1);
	for (size_t i = 0; i < n; i++) {
		const struct cluster_endpointslice *s = items[i].obj;
		const char *row[6];
		char age[32];
		size_t k = 0;

		sb_reset(&ports);
		sb_reset(&eps);
		for (size_t p = 0; p < s->n_ports; p++)
			sb_add(&ports, "%s%d", p ? "," : "", s->ports[p].port);
		for (size_t e = 0; e < s->n_endpoints; e++)
			for (size_t a = 0; a < s->endpoints[e].n_addresses; a++)
				sb_add(&eps, "%s%s", eps.s && eps.s[0] ? "," : "",
				       s->endpoints[e].addresses[a]);
		ctl_age(ctl_created(&s->meta), age, sizeof(age));
		if (ctl->all_ns)
			row[k++] = s->meta.ns;
		row[k++] = s->meta.name;
		row[k++] = s->address_type;
		row[k++] = sb_str(&ports, "<unset>");
		row[k++] = sb_str(&eps, "<unset>");
		row[k++] = age;
		ctl_table_add(&t, row);
	}
	rc = finish(ctl, &t, items, n, CLUSTER_KIND_ENDPOINTSLICE);
	ctl_table_deinit(&t);
	for (size_t i = 0; i < n_mem; i++) {
		free(mem[i].eps);
		free(mem[i].addrs);
	}
	free(mem);
	free(items);
	free(ports.s);
	free(eps.s);
	return rc;
}

/* get all: the pods, then the services, as kubectl prints them (pod/NAME, service/NAME). */
static int
get_all(struct ctl *ctl)
{
	size_t errors = 0, pods = 0, svcs = 0;
	struct cluster *c;
	int rc = 0;

	if (ctl->output != CTL_OUT_TABLE && ctl->output != CTL_OUT_WIDE &&
	    ctl->output != CTL_OUT_NAME) {
		fprintf(stderr, "error: get all prints tables and -o name\n");
		return 1;
	}
	ctl->scope_kind = -1;
	ctl->kind_prefix = ctl->output != CTL_OUT_NAME; /* -o name has its own prefix */
	c = ctl_load(ctl, &errors);
	if (c == NULL)
		return 1;
	for (size_t i = 0; i < c->n_pods; i++)
		pods += selected(ctl, &c->pods[i]->meta);
	for (size_t i = 0; i < c->n_services; i++)
		svcs += selected(ctl, &c->services[i]->meta);
	if (pods > 0)
		rc |= get_pods(ctl, c);
	if (pods > 0 && svcs > 0 && ctl->output != CTL_OUT_NAME)
		printf("\n");
	if (svcs > 0)
		rc |= get_services(ctl, c);
	if (pods + svcs == 0) {
		if (ctl->all_ns)
			fprintf(stderr, "No resources found\n");
		else
			fprintf(stderr, "No resources found in %s namespace.\n", ctl->ns);
	}
	cluster_unref(c);
	return errors > 0 ? 1 : rc;
}

int
ctl_get(struct ctl *ctl)
{
	struct cluster *c;
	size_t errors = 0;
	int kind, rc = 1;

	if (ctl->n_args < 1) {
		fprintf(stderr, "error: you must specify the type of resource to get: services, "
		                "endpoints, pods, namespaces or nodes\n");
		return 1;
	}
	if (!strcmp(ctl->args[0], "all"))
		return get_all(ctl);
	kind = ctl_kind_parse(ctl->args[0]);
	if (kind < 0 || kind == CLUSTER_KIND_LEASE || kind == CLUSTER_KIND_PODSTATUS) {
		fprintf(stderr, "error: the server doesn't have a resource type \"%s\"\n",
		        ctl->args[0]);
		return 1;
	}
	if (ctl->watch) {
		static int (*const gets[CLUSTER_KIND_COUNT])(struct ctl *,
		                                             const struct cluster *) = {
		        [CLUSTER_KIND_SERVICE] = get_services,
		        [CLUSTER_KIND_ENDPOINTS] = get_endpoints,
		        [CLUSTER_KIND_POD] = get_pods,
		        [CLUSTER_KIND_NODE] = get_nodes,
		        [CLUSTER_KIND_ENDPOINTSLICE] = get_endpointslices,
		        [CLUSTER_KIND_NAMESPACE] = get_namespaces,
		};

		if (gets[kind] == NULL) {
			fprintf(stderr, "error: --watch: not for %s\n", ctl->args[0]);
			return 1;
		}
		return ctl_watch(ctl, gets[kind]);
	}
	/* What serves is shown even when some files are in error; the errors make it exit 1. */
	ctl->scope_kind = kind;
	c = ctl_load(ctl, &errors);
	if (c == NULL)
		return 1;
	switch ((enum cluster_kind)kind) {
	case CLUSTER_KIND_SERVICE:
		rc = get_services(ctl, c);
		break;
	case CLUSTER_KIND_ENDPOINTS:
		rc = get_endpoints(ctl, c);
		break;
	case CLUSTER_KIND_POD:
		rc = get_pods(ctl, c);
		break;
	case CLUSTER_KIND_NAMESPACE:
		rc = get_namespaces(ctl, c);
		break;
	case CLUSTER_KIND_NODE:
		rc = get_nodes(ctl, c);
		break;
	case CLUSTER_KIND_ENDPOINTSLICE:
		rc = get_endpointslices(ctl, c);
		break;
	case CLUSTER_KIND_LEASE:
	case CLUSTER_KIND_PODSTATUS:
	case CLUSTER_KIND_COUNT:
		break;
	}
	cluster_unref(c);
	return errors > 0 ? 1 : rc;
}

int
ctl_check(struct ctl *ctl)
{
	struct diag d;
	struct cluster *c = NULL;
	int rc;

	diag_init(&d);
	if (ctl->e != NULL) {
		/* Problems are printed as they are read (to stderr, as get does). */
		c = ctl_load(ctl, &d.errors);
	} else {
		cluster_load(ctl->zones, &ctl->cfg, &d, &c);
		diag_sort(&d);
		diag_print(&d, stdout);
	}
	if (c != NULL && d.errors == 0) {
		printf("%s: ok: %zu services, %zu pods, %zu endpoints, %zu namespaces",
		       ctl_source(ctl), c->n_services, c->n_pods, c->n_endpoints, c->n_ns_names);
		if (d.warnings)
			printf(", %zu warnings", d.warnings);
		printf("\n");
		rc = 0;
	} else {
		printf("%s: %zu errors, %zu warnings\n", ctl_source(ctl), d.errors, d.warnings);
		rc = 1;
	}
	cluster_unref(c);
	diag_deinit(&d);
	return rc;
}
