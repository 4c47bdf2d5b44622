/* claims.c -- what two source units (files) may both claim: an object's name, a ClusterIP, a
 * nodePort, a healthCheckNodePort. Each unit was validated on its own, so a claim contested within
 * one unit never gets here. Between units the older holder keeps the claim and the newcomer is
 * left out and reported: older means held since an earlier store generation, then the older
 * creationTimestamp (none counts as oldest, as allocation does), then file order, so every node
 * that reads the same files decides the same way. */
#include "claims.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "htab.h"

static const char *
ns_of(const struct cluster_meta *m)
{
	return m->ns ? m->ns : "";
}

/* Whether A holds its claims from before B. */
static int
older_cmp(const struct cluster_meta *a, const struct cluster_meta *b)
{
	int c;

	if (a->since != b->since)
		return a->since < b->since ? -1 : 1;
	if (a->created_unix != b->created_unix)
		return a->created_unix < b->created_unix ? -1 : 1;
	c = strcmp(a->origin.file ? a->origin.file : "", b->origin.file ? b->origin.file : "");
	if (c == 0)
		c = a->origin.line < b->origin.line ? -1 : a->origin.line > b->origin.line;
	return c;
}

static int
name_cmp(const void *pa, const void *pb)
{
	const struct cluster_meta *a = *(const struct cluster_meta *const *)pa;
	const struct cluster_meta *b = *(const struct cluster_meta *const *)pb;
	int c = strcmp(ns_of(a), ns_of(b));

	if (c == 0)
		c = strcmp(a->name, b->name);
	return c ? c : older_cmp(a, b);
}

void
claims_resolve_names(void **items, size_t *n, const char *kind, struct diag *d)
{
	size_t i, k = 0;
	bool sorted = true;

	/* Units hand their objects over in name order: often the whole list already is. */
	for (i = 1; i < *n && sorted; i++) {
		const struct cluster_meta *a = items[i - 1], *b = items[i];
		int c = strcmp(ns_of(a), ns_of(b));

		sorted = c < 0 || (c == 0 && strcmp(a->name, b->name) < 0);
	}
	if (sorted)
		return;
	qsort(items, *n, sizeof(*items), name_cmp);
	for (i = 0; i < *n; i++) {
		const struct cluster_meta *b = items[i], *a = k ? items[k - 1] : NULL;

		if (a != NULL && strcmp(a->name, b->name) == 0 && strcmp(ns_of(a), ns_of(b)) == 0) {
			diag_add(d, DIAG_ERROR, b->origin.file,
			         b->name_pos.line ? b->name_pos.line : b->origin.line,
			         b->name_pos.col, "metadata.name",
			         "Duplicate value: %s %s%s%s is already defined at %s:%u; this one "
			         "is left out",
			         kind, a->ns ? a->ns : "", a->ns ? "/" : "", a->name,
			         a->origin.file, a->origin.line);
			continue;
		}
		items[k++] = items[i];
	}
	*n = k;
}

/* A claim held by a service already kept. */
struct held {
	struct htab_node hn;
	struct netaddr ip; /* ClusterIP claims */
	int32_t port;      /* port claims */
	int proto;         /* a nodePort's protocol; -1 for a healthCheckNodePort */
	size_t index;      /* which address or port of the service */
	const struct cluster_service *svc;
};

struct claims {
	struct htab ips, ports;
	struct held *held;
	size_t n_held;
};

static int
service_age_cmp(const void *pa, const void *pb)
{
	return older_cmp(*(const struct cluster_meta *const *)pa,
	                 *(const struct cluster_meta *const *)pb);
}

static uint32_t
port_hash(int32_t port)
{
	return htab_hash_u64((uint64_t)(uint32_t)port);
}

/* Two claims of one port number collide unless they are nodePorts of different protocols (a
 * healthCheckNodePort collides with every claim of its number). */
/* The held claim of a service other than NOT that the claim given collides with, or NULL. */
static const struct held *
port_holder(const struct claims *cl, int32_t port, int proto, const struct cluster_service * not )
{
	uint32_t h = port_hash(port);

	for (struct htab_node *n = htab_find(&cl->ports, h); n != NULL; n = htab_next(n, h)) {
		const struct held *e = htab_item(n, struct held, hn);

		if (e->port == port &&
		    e->svc != not &&(e->proto < 0 || proto < 0 || e->proto == proto))
			return e;
	}
	return NULL;
}

static const struct held *
ip_holder(const struct claims *cl, const struct netaddr *ip, const struct cluster_service * not )
{
	uint32_t h = netaddr_hash(ip);

	for (struct htab_node *n = htab_find(&cl->ips, h); n != NULL; n = htab_next(n, h)) {
		const struct held *e = htab_item(n, struct held, hn);

		if (netaddr_equal(&e->ip, ip) && e->svc != not )
			return e;
	}
	return NULL;
}

static void
report_ip(struct diag *d, const struct cluster_service *b, size_t index, const struct held *a)
{
	char buf[NETADDR_STRLEN], path[64];

	const struct cluster_pos *p = &b->cluster_ip_pos[index < 2 ? index : 0];

	snprintf(path, sizeof(path), index == 0 ? "spec.clusterIP" : "spec.clusterIPs[%zu]", index);
	diag_add(
	        d, DIAG_ERROR, b->meta.origin.file, p->line ? p->line : b->meta.origin.line, p->col,
	        path,
	        "Invalid value: \"%s\": provided IP is already allocated to service %s/%s (%s:%u); "
	        "service %s/%s is left out",
	        netaddr_str(&a->ip, buf), a->svc->meta.ns, a->svc->meta.name,
	        a->svc->meta.origin.file, a->svc->meta.origin.line, b->meta.ns, b->meta.name);
}

static void
report_port(struct diag *d, const struct cluster_service *b, int32_t port, int proto, size_t index,
            const struct held *a)
{
	const struct cluster_pos *p =
	        proto < 0 ? &b->health_check_node_port_pos : &b->ports[index].node_port_pos;
	char path[64];

	if (proto < 0)
		snprintf(path, sizeof(path), "spec.healthCheckNodePort");
	else
		snprintf(path, sizeof(path), "spec.ports[%zu].nodePort", index);
	diag_add(d, DIAG_ERROR, b->meta.origin.file, p->line ? p->line : b->meta.origin.line,
	         p->col, path,
	         "Invalid value: %d: provided port is already allocated to service %s/%s (%s:%u); "
	         "service %s/%s is left out",
	         port, a->svc->meta.ns, a->svc->meta.name, a->svc->meta.origin.file,
	         a->svc->meta.origin.line, b->meta.ns, b->meta.name);
}

/* Whether S's explicit claims are free of other services' held ones; the first one taken is
 * reported to D (when D is not NULL). */
static bool
claims_free(const struct claims *cl, const struct cluster_service *s, struct diag *d)
{
	const struct held *h;
	size_t k;

	for (k = 0; k < s->n_cluster_ips; k++)
		if ((h = ip_holder(cl, &s->cluster_ips[k], s)) != NULL) {
			if (d != NULL)
				report_ip(d, s, k, h);
			return false;
		}
	for (k = 0; k < s->n_ports; k++)
		if (s->ports[k].node_port != 0 &&
		    (h = port_holder(cl, s->ports[k].node_port, (int)s->ports[k].proto, s)) !=
		            NULL) {
			if (d != NULL)
				report_port(d, s, s->ports[k].node_port, (int)s->ports[k].proto, k,
				            h);
			return false;
		}
	if (s->health_check_node_port != 0 &&
	    (h = port_holder(cl, s->health_check_node_port, -1, s)) != NULL) {
		if (d != NULL)
			report_port(d, s, s->health_check_node_port, -1, 0, h);
		return false;
	}
	return true;
}

static void
hold(struct claims *cl, const struct cluster_service *s)
{
	size_t k;
	struct held *e;

	for (k = 0; k < s->n_cluster_ips; k++) {
		e = &cl->held[cl->n_held++];
		*e = (struct held){.ip = s->cluster_ips[k], .index = k, .svc = s};
		htab_insert(&cl->ips, &e->hn, netaddr_hash(&e->ip));
	}
	for (k = 0; k < s->n_ports; k++) {
		if (s->ports[k].node_port == 0)
			continue;
		e = &cl->held[cl->n_held++];
		*e = (struct held){.port = s->ports[k].node_port,
		                   .proto = (int)s->ports[k].proto,
		                   .index = k,
		                   .svc = s};
		htab_insert(&cl->ports, &e->hn, port_hash(e->port));
	}
	if (s->health_check_node_port != 0) {
		e = &cl->held[cl->n_held++];
		*e = (struct held){.port = s->health_check_node_port, .proto = -1, .svc = s};
		htab_insert(&cl->ports, &e->hn, port_hash(e->port));
	}
}

static void
claims_reset(struct claims *cl)
{
	htab_deinit(&cl->ips);
	htab_deinit(&cl->ports);
	cl->n_held = 0;
}

/* Keep the services whose claims are free when the older ones have taken theirs. Taking them
 * in age order makes the outcome independent of the order of the input. Only services with a
 * claim another one shares take part: the others keep all of theirs whatever the order. */
enum svc_status
claims_resolve_services(struct cluster_service **svcs, size_t *n_svcs, struct diag *d)
{
	struct cluster_service **byage = NULL;
	struct claims cl = {0};
	size_t n_claims = 0, n_contested = 0, i, k;
	enum svc_status st = SVC_ENOMEM;

	htab_init(&cl.ips);
	htab_init(&cl.ports);
	for (i = 0; i < *n_svcs; i++)
		n_claims += svcs[i]->n_cluster_ips + svcs[i]->n_ports + 1;
	byage = malloc((*n_svcs + 1) * sizeof(*byage));
	cl.held = malloc((n_claims + 1) * sizeof(*cl.held));
	if (byage == NULL || cl.held == NULL || htab_reserve(&cl.ips, *n_svcs) != SVC_OK ||
	    htab_reserve(&cl.ports, 64) != SVC_OK)
		goto done;
	/* Every claim, to find the contested ones. */
	for (i = 0; i < *n_svcs; i++)
		hold(&cl, svcs[i]);
	for (i = 0; i < *n_svcs; i++)
		if (!claims_free(&cl, svcs[i], NULL))
			byage[n_contested++] = svcs[i];
	claims_reset(&cl);
	if (htab_reserve(&cl.ips, n_contested) != SVC_OK || htab_reserve(&cl.ports, 64) != SVC_OK)
		goto done;
	qsort(byage, n_contested, sizeof(*byage), service_age_cmp);
	for (i = 0; i < n_contested; i++) {
		if (claims_free(&cl, byage[i], d))
			hold(&cl, byage[i]);
		else
			byage[i]->meta.dropped = true;
	}
	/* Keep name order. */
	for (i = k = 0; n_contested > 0 && i < *n_svcs; i++)
		if (!svcs[i]->meta.dropped)
			svcs[k++] = svcs[i];
	if (n_contested > 0)
		*n_svcs = k;
	st = SVC_OK;
done:
	htab_deinit(&cl.ips);
	htab_deinit(&cl.ports);
	free(cl.held);
	free(byage);
	return st;
}
