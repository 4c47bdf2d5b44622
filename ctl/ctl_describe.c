/* ctl_describe.c -- svcctl describe service|pod|endpoints|node: kubectl's pages; for a service
 * with etcd, the node holding each LoadBalancer address (lbelect.h); for a pod, the readiness its
 * node's prober found (PodStatus). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_etcd.h"

/* kubectl's column for the values: it differs by kind (tabwriter over each page's keys). */
static int width = 26;

static void
row(const char *key, const char *value)
{
	printf("%-*s%s\n", width, key, value && *value ? value : "<none>");
}

static void
labels(const char *key, const struct cluster_labels *l)
{
	if (l->n == 0) {
		row(key, NULL);
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		char kv[512];

		snprintf(kv, sizeof(kv), "%s=%s", l->items[i].key, l->items[i].value);
		row(i == 0 ? key : "", kv);
	}
}

/* The LoadBalancer addresses, each with the node holding it where etcd says. */
static void
ingress(struct ctl *ctl, const struct cluster_service *s)
{
	for (size_t i = 0; i < s->n_lb_ips; i++) {
		char ip[NETADDR_STRLEN], holder[256] = "", line[512];

		netaddr_str(&s->lb_ips[i], ip);
		if (ctl->e != NULL && ctl_etcd_lb_holder(ctl->e, ip, holder, sizeof(holder)) == 0)
			snprintf(line, sizeof(line), "%s (%s%s)", ip, holder[0] ? "held by " : "",
			         holder[0] ? holder : "no node holds it");
		else
			snprintf(line, sizeof(line), "%s", ip);
		row(i == 0 ? "LoadBalancer Ingress:" : "", line);
	}
}

static void
describe(struct ctl *ctl, const struct cluster_service *s)
{
	static const char *const families[] = {"SingleStack", "PreferDualStack",
	                                       "RequireDualStack"};
	char buf[2048], ip[NETADDR_STRLEN];
	size_t at = 0, n;

	row("Name:", s->meta.name);
	row("Namespace:", s->meta.ns);
	labels("Labels:", &s->meta.labels);
	labels("Annotations:", &s->meta.annotations);
	labels("Selector:", &s->selector);
	row("Type:", cluster_svc_type_str(s->type));
	if (s->type == CLUSTER_SVC_EXTERNALNAME) {
		row("External Name:", s->external_name);
	} else {
		row("IP Family Policy:", families[s->family_policy]);
		buf[0] = '\0';
		for (size_t i = 0; i < s->n_cluster_ips; i++)
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", i ? "," : "",
			                       s->cluster_ips[i].family == NETADDR_V6 ? "IPv6"
			                                                              : "IPv4");
		row("IP Families:", buf);
		row("IP:", s->headless        ? "None"
		           : s->n_cluster_ips ? netaddr_str(&s->cluster_ips[0], ip)
		                              : "");
		at = 0;
		buf[0] = '\0';
		for (size_t i = 0; i < s->n_cluster_ips && !s->headless; i++)
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", i ? "," : "",
			                       netaddr_str(&s->cluster_ips[i], ip));
		row("IPs:", s->headless ? "None" : buf);
	}
	ingress(ctl, s);
	for (size_t p = 0; p < s->n_ports; p++) {
		const struct cluster_port *pt = &s->ports[p];
		const char *proto = cluster_proto_str(pt->proto);
		const struct cluster_endpoint *const *eps = cluster_endpoints_of(s, p, true, &n);

		snprintf(buf, sizeof(buf), "%s  %d/%s", pt->name ? pt->name : "<unset>", pt->port,
		         proto);
		row("Port:", buf);
		if (pt->target_name)
			snprintf(buf, sizeof(buf), "%s/%s", pt->target_name, proto);
		else
			snprintf(buf, sizeof(buf), "%d/%s",
			         pt->target_port ? pt->target_port : pt->port, proto);
		row("TargetPort:", buf);
		if (pt->node_port) {
			snprintf(buf, sizeof(buf), "%s  %d/%s", pt->name ? pt->name : "<unset>",
			         pt->node_port, proto);
			row("NodePort:", buf);
		}
		at = 0;
		buf[0] = '\0';
		for (size_t i = 0; i < n && at < sizeof(buf) - 64; i++)
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s:%d", i ? "," : "",
			                       netaddr_str(&eps[i]->ip, ip), eps[i]->ports[p]);
		row("Endpoints:", buf);
	}
	row("Session Affinity:", s->affinity == CLUSTER_AFFINITY_CLIENTIP ? "ClientIP" : "None");
	if (s->type == CLUSTER_SVC_NODEPORT || s->type == CLUSTER_SVC_LOADBALANCER)
		row("External Traffic Policy:",
		    s->external_policy == CLUSTER_POLICY_LOCAL ? "Local" : "Cluster");
	if (s->health_check_node_port != 0) {
		snprintf(buf, sizeof(buf), "%d", s->health_check_node_port);
		row("HealthCheck NodePort:", buf);
	}
	row("Events:", NULL);
}

/* ---- pods ---- */

static void
probe(const struct cluster_probe *pr, char *buf, size_t len)
{
	char what[512];

	if (pr->http != NULL)
		snprintf(what, sizeof(what), "http-get %s://%s:%s%s",
		         pr->http->scheme ? "https" : "http", pr->http->host ? pr->http->host : "",
		         pr->http->port_name ? pr->http->port_name : "",
		         pr->http->path ? pr->http->path : "/");
	else if (pr->tcp != NULL)
		snprintf(what, sizeof(what), "tcp-socket %s:%s", pr->tcp->host ? pr->tcp->host : "",
		         pr->tcp->port_name ? pr->tcp->port_name : "");
	else
		snprintf(what, sizeof(what), "exec");
	/* A number port where no name is: "http-get http://:8080/healthz". */
	if (pr->http != NULL && pr->http->port_name == NULL)
		snprintf(what, sizeof(what), "http-get http://%s:%d%s",
		         pr->http->host ? pr->http->host : "", pr->http->port,
		         pr->http->path ? pr->http->path : "/");
	else if (pr->tcp != NULL && pr->tcp->port_name == NULL)
		snprintf(what, sizeof(what), "tcp-socket %s:%d", pr->tcp->host ? pr->tcp->host : "",
		         pr->tcp->port);
	/* The kubelet's defaults where the manifest gives none. */
	snprintf(buf, len, "%s delay=%ds timeout=%ds period=%ds #success=%d #failure=%d", what,
	         pr->initial_delay_s, pr->timeout_s ? pr->timeout_s : 1,
	         pr->period_s ? pr->period_s : 10,
	         pr->success_threshold ? pr->success_threshold : 1,
	         pr->failure_threshold ? pr->failure_threshold : 3);
}

static void
describe_pod(const struct cluster *c, const struct cluster_pod *p)
{
	static const char *const phase[] = {"Running",   "Pending", "Running",
	                                    "Succeeded", "Failed",  "Unknown"};
	const struct cluster_podstatus *ps = cluster_podstatus_of(c, p);
	char buf[1024];

	width = 18;
	row("Name:", p->meta.name);
	row("Namespace:", p->meta.ns);
	snprintf(buf, sizeof(buf), "%s/%s", p->node_name ? p->node_name : "<none>",
	         p->host_ip ? p->host_ip : "<none>");
	row("Node:", p->node_name ? buf : NULL);
	labels("Labels:", &p->meta.labels);
	labels("Annotations:", &p->meta.annotations);
	row("Status:", p->meta.deleted != NULL ? "Terminating" : phase[p->phase]);
	row("IP:", p->pod_ip_text);
	if (p->n_pod_ips_text == 0 && p->pod_ip_text == NULL) {
		row("IPs:", NULL);
	} else {
		printf("IPs:\n");
		for (size_t i = 0; i < p->n_pod_ips_text; i++)
			printf("  IP:  %s\n", p->pod_ips_text[i].ip);
		if (p->n_pod_ips_text == 0)
			printf("  IP:  %s\n", p->pod_ip_text);
	}
	printf("Containers:\n");
	for (size_t i = 0; i < p->n_containers; i++) {
		const struct cluster_container *ct = &p->containers[i];
		size_t at = 0;

		printf("  %s:\n", ct->name);
		printf("    %-16s%s\n", "Image:", ct->image ? ct->image : "");
		buf[0] = '\0';
		for (size_t k = 0; k < ct->n_ports; k++)
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%d/%s", k ? ", " : "",
			                       ct->ports[k].port,
			                       cluster_proto_str(ct->ports[k].proto));
		printf("    %-16s%s\n",
		       ct->n_ports > 1 ? "Ports:" : "Port:", ct->n_ports ? buf : "<none>");
		if (ct->readiness != NULL) {
			probe(ct->readiness, buf, sizeof(buf));
			printf("    %-16s%s\n", "Readiness:", buf);
		}
	}
	printf("Conditions:\n  %-16s%s\n", "Type", "Status");
	for (size_t i = 0; i < p->n_conditions; i++)
		printf("  %-16s%s\n", p->conditions[i].type, p->conditions[i].status);
	/* What the node's prober found: it decides readiness over the pod's own condition. */
	if (ps != NULL) {
		printf("Probe Results:    (%s, node %s)\n", "PodStatus",
		       ps->node_name ? ps->node_name : "<unknown>");
		printf("  %-16s%-8s%-22s%s\n", "Type", "Status", "Since", "Message");
		for (size_t i = 0; i < ps->n_conditions; i++) {
			const struct cluster_status_condition *sc = &ps->conditions[i];

			printf("  %-16s%-8s%-22s%s\n", sc->type, sc->status,
			       sc->last_transition ? sc->last_transition : "",
			       sc->message ? sc->message : (sc->reason ? sc->reason : ""));
		}
	} else {
		row("Probe Results:", NULL);
	}
	row("Events:", NULL);
}

/* ---- endpoints ---- */

static void
describe_endpoints(const struct cluster_endpoints *e)
{
	char buf[2048];

	width = 14;
	row("Name:", e->meta.name);
	row("Namespace:", e->meta.ns);
	labels("Labels:", &e->meta.labels);
	labels("Annotations:", &e->meta.annotations);
	printf("Subsets:\n");
	for (size_t i = 0; i < e->n_subsets; i++) {
		const struct cluster_ep_subset *sub = &e->subsets[i];
		size_t at = 0;

		buf[0] = '\0';
		for (size_t k = 0; k < sub->n_addresses; k++)
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", k ? "," : "",
			                       sub->addresses[k].ip);
		printf("  %-20s%s\n", "Addresses:", sub->n_addresses ? buf : "<none>");
		at = 0;
		buf[0] = '\0';
		for (size_t k = 0; k < sub->n_not_ready; k++)
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", k ? "," : "",
			                       sub->not_ready[k].ip);
		printf("  %-20s%s\n", "NotReadyAddresses:", sub->n_not_ready ? buf : "<none>");
		printf("  Ports:\n    %-6s%-6s%s\n    %-6s%-6s%s\n", "Name", "Port", "Protocol",
		       "----", "----", "--------");
		for (size_t k = 0; k < sub->n_ports; k++)
			printf("    %-6s%-6d%s\n",
			       sub->ports[k].name ? sub->ports[k].name : "<unset>",
			       sub->ports[k].port, cluster_proto_str(sub->ports[k].proto));
		printf("\n");
	}
	row("Events:", NULL);
}

/* ---- nodes ---- */

static void
describe_node(const struct cluster *c, const struct cluster_node *nd)
{
	width = 20;
	row("Name:", nd->meta.name);
	labels("Labels:", &nd->meta.labels);
	labels("Annotations:", &nd->meta.annotations);
	row("Unschedulable:", nd->unschedulable ? "true" : "false");
	printf("Conditions:\n  %-16s%s\n", "Type", "Status");
	for (size_t i = 0; i < nd->n_conditions; i++)
		printf("  %-16s%s\n", nd->conditions[i].type, nd->conditions[i].status);
	row("Ready:", cluster_node_ready(c, nd) ? "True" : "False");
	printf("Addresses:\n");
	for (size_t i = 0; i < nd->n_addresses; i++)
		printf("  %s:  %s\n", nd->addresses[i].type, nd->addresses[i].address);
	row("PodCIDR:", nd->pod_cidr);
	printf("System Info:\n  %-20s%s\n",
	       "Kubelet Version:", nd->kubelet_version ? nd->kubelet_version : "<none>");
	row("Events:", NULL);
}

static bool
wanted(const struct ctl *ctl, const struct cluster_meta *m, bool namespaced)
{
	bool named = ctl->n_args <= 1;

	for (int a = 1; a < ctl->n_args && !named; a++)
		named = !strcmp(ctl->args[a], m->name);
	return named && (!namespaced || ctl->all_ns || !strcmp(m->ns, ctl->ns));
}

int
ctl_describe(struct ctl *ctl)
{
	struct cluster *c;
	size_t errors = 0, shown = 0;
	int kind, rc = 0;

	kind = ctl->n_args > 0 ? ctl_kind_parse(ctl->args[0]) : -1;
	if (kind != CLUSTER_KIND_SERVICE && kind != CLUSTER_KIND_POD &&
	    kind != CLUSTER_KIND_ENDPOINTS && kind != CLUSTER_KIND_NODE) {
		fprintf(stderr, "error: svcctl describe knows service, pod, endpoints and node: "
		                "describe KIND [NAME...]\n");
		return 1;
	}
	/* A service's endpoints and a pod's readiness need the pods and statuses of the
	 * namespace (and their nodes). */
	ctl->scope_kind = kind == CLUSTER_KIND_NODE ? -1 : CLUSTER_KIND_ENDPOINTS;
	c = ctl_load(ctl, &errors);
	if (c == NULL)
		return 1;
#define SHOW(cond, call)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			if (shown++ > 0)                                                           \
				printf("\n\n");                                                    \
			call;                                                                      \
		}                                                                                  \
	} while (0)
	if (kind == CLUSTER_KIND_SERVICE)
		for (size_t i = 0; i < c->n_services; i++)
			SHOW(wanted(ctl, &c->services[i]->meta, true),
			     describe(ctl, c->services[i]));
	if (kind == CLUSTER_KIND_POD)
		for (size_t i = 0; i < c->n_pods; i++)
			SHOW(wanted(ctl, &c->pods[i]->meta, true), describe_pod(c, c->pods[i]));
	if (kind == CLUSTER_KIND_ENDPOINTS)
		for (size_t i = 0; i < c->n_endpoints; i++)
			SHOW(wanted(ctl, &c->endpoints[i]->meta, true),
			     describe_endpoints(c->endpoints[i]));
	if (kind == CLUSTER_KIND_NODE)
		for (size_t i = 0; i < c->n_nodes; i++)
			SHOW(wanted(ctl, &c->nodes[i]->meta, false), describe_node(c, c->nodes[i]));
#undef SHOW
	/* Names asked for and not shown: kubectl's NotFound. */
	for (int a = 1; a < ctl->n_args; a++) {
		bool found = false;

		for (size_t i = 0; i < c->n_services && kind == CLUSTER_KIND_SERVICE; i++)
			found |= wanted(ctl, &c->services[i]->meta, true) &&
			         !strcmp(c->services[i]->meta.name, ctl->args[a]);
		for (size_t i = 0; i < c->n_pods && kind == CLUSTER_KIND_POD; i++)
			found |= wanted(ctl, &c->pods[i]->meta, true) &&
			         !strcmp(c->pods[i]->meta.name, ctl->args[a]);
		for (size_t i = 0; i < c->n_endpoints && kind == CLUSTER_KIND_ENDPOINTS; i++)
			found |= wanted(ctl, &c->endpoints[i]->meta, true) &&
			         !strcmp(c->endpoints[i]->meta.name, ctl->args[a]);
		for (size_t i = 0; i < c->n_nodes && kind == CLUSTER_KIND_NODE; i++)
			found |= !strcmp(c->nodes[i]->meta.name, ctl->args[a]);
		if (!found) {
			fprintf(stderr, "Error from server (NotFound): %s \"%s\" not found\n",
			        ctl_kind_plural((enum cluster_kind)kind), ctl->args[a]);
			rc = 1;
		}
	}
	cluster_unref(c);
	return errors > 0 ? 1 : rc;
}
