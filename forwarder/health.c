/* health.c -- healthCheckNodePort servers, as kube-proxy runs them: for a LoadBalancer service
 * with externalTrafficPolicy Local, GET on the port answers 200 while this node has ready
 * endpoints of the service and 503 while it has none, so the load balancer sends traffic only to
 * nodes that keep it local. The bounded server of daemon/httpd.c answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "svcfwd.h"

struct fwd_health {
	struct htab_node node; /* in the server's health, by port */
	uint16_t port;
	char *ns, *name;
	size_t n_local;
	bool live;
	struct httpd *http;
};

/* Any path, as kube-proxy's: the load balancer asks for "/" or "/healthz". */
static void
on_request(void *arg, const char *path, struct httpd_reply *r)
{
	struct fwd_health *h = arg;
	(void)path;

	r->content_type = "application/json";
	r->code = h->n_local > 0 ? 200 : 503;
	evbuffer_add_printf(r->body,
	                    "{\"service\":{\"namespace\":\"%s\",\"name\":\"%s\"},"
	                    "\"localEndpoints\":%zu,\"serviceProxyHealthy\":true}\n",
	                    h->ns, h->name, h->n_local);
}

static void
health_free(struct fwd_health *h)
{
	httpd_free(h->http);
	free(h->ns);
	free(h->name);
	free(h);
}

/* The port on every IPv4 and IPv6 address of the node. */
static struct fwd_health *
health_open(struct fwd_server *s, const struct fwd_plan_health *ph)
{
	struct fwd_health *h = calloc(1, sizeof(*h));
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(ph->port)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(ph->port)};
	enum svc_status st4, st6;
	int e4 = 0;

	if (h == NULL)
		return NULL;
	h->port = ph->port;
	h->http = httpd_new(s->base, NULL, on_request, h);
	if (h->http == NULL)
		goto fail;
	st4 = httpd_listen(h->http, (struct sockaddr *)&s4, sizeof(s4), true);
	e4 = errno;
	st6 = httpd_listen(h->http, (struct sockaddr *)&s6, sizeof(s6), true);
	if (st4 != SVC_OK && st6 != SVC_OK) {
		log_msg(LL_WARN, "health check port %u (%s/%s): cannot listen: %s", ph->port,
		        ph->ns, ph->name, strerror(e4));
		goto fail;
	}
	return h;
fail:
	health_free(h);
	return NULL;
}

static struct fwd_health *
health_find(struct fwd_server *s, uint16_t port)
{
	uint32_t h = htab_hash_u64(port);

	for (struct htab_node *n = htab_find(&s->health, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_health *x = htab_item(n, struct fwd_health, node);

		if (x->port == port)
			return x;
	}
	return NULL;
}

/* Port PH->port serves PH from now on: opened if new. */
static void
health_set(struct fwd_server *s, const struct fwd_plan_health *ph)
{
	struct fwd_health *h = health_find(s, ph->port);
	char *ns, *name;

	if (h == NULL) {
		h = health_open(s, ph);
		if (h == NULL)
			return;
		if (htab_insert(&s->health, &h->node, htab_hash_u64(h->port)) != SVC_OK) {
			health_free(h);
			return;
		}
	}
	ns = strdup(ph->ns);
	name = strdup(ph->name);
	if (ns == NULL || name == NULL) {
		free(ns);
		free(name);
		return;
	}
	free(h->ns);
	free(h->name);
	h->ns = ns;
	h->name = name;
	h->n_local = ph->n_local;
	h->live = true;
}

void
fwd_health_update(struct fwd_server *s, const struct fwd_delta *d)
{
	struct htab_iter it;

	if (d->full) {
		for (struct htab_node *n = htab_first(&it, &s->health); n != NULL;
		     n = htab_iter_next(&it))
			htab_item(n, struct fwd_health, node)->live = false;
	}
	for (size_t i = 0; i < d->n_health; i++) {
		struct fwd_health *h;

		if (d->health[i].h != NULL) {
			health_set(s, d->health[i].h);
			continue;
		}
		h = health_find(s, d->health[i].port);
		if (h != NULL) {
			htab_remove(&s->health, &h->node);
			health_free(h);
		}
	}
	if (!d->full)
		return;
	for (struct htab_node *n = htab_first(&it, &s->health); n != NULL;
	     n = htab_iter_next(&it)) {
		struct fwd_health *h = htab_item(n, struct fwd_health, node);

		if (h->live)
			continue;
		htab_remove(&s->health, &h->node);
		health_free(h);
	}
}

void
fwd_health_close_all(struct fwd_server *s)
{
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &s->health); n != NULL; n = htab_iter_next(&it))
		health_free(htab_item(n, struct fwd_health, node));
	htab_deinit(&s->health);
}
