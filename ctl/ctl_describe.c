/* ctl_describe.c -- svcctl describe service: kubectl's page for a service, and, with etcd, the
 * node holding each LoadBalancer address (lbelect.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_etcd.h"

static void
row(const char *key, const char *value)
{
	printf("%-26s%s\n", key, value && *value ? value : "<none>");
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
	row("Events:", NULL);
}

int
ctl_describe(struct ctl *ctl)
{
	struct cluster *c;
	size_t errors = 0, shown = 0;
	int kind, rc = 0;

	kind = ctl->n_args > 0 ? ctl_kind_parse(ctl->args[0]) : -1;
	if (kind != CLUSTER_KIND_SERVICE) {
		fprintf(stderr,
		        "error: svcctl describe knows services: describe service [NAME...]\n");
		return 1;
	}
	/* A service's endpoints need the pods of its namespace (and their nodes). */
	ctl->scope_kind = CLUSTER_KIND_ENDPOINTS;
	c = ctl_load(ctl, &errors);
	if (c == NULL)
		return 1;
	for (size_t i = 0; i < c->n_services; i++) {
		const struct cluster_service *s = c->services[i];
		bool named = ctl->n_args <= 1;

		for (int a = 1; a < ctl->n_args && !named; a++)
			named = !strcmp(ctl->args[a], s->meta.name);
		if (!named || (!ctl->all_ns && strcmp(s->meta.ns, ctl->ns) != 0))
			continue;
		if (shown++ > 0)
			printf("\n\n");
		describe(ctl, s);
	}
	for (int a = 1; a < ctl->n_args; a++)
		if (cluster_service_by_name(c, ctl->ns, ctl->args[a]) == NULL) {
			fprintf(stderr, "Error from server (NotFound): services \"%s\" not found\n",
			        ctl->args[a]);
			rc = 1;
		}
	cluster_unref(c);
	return errors > 0 ? 1 : rc;
}
