/* health.c -- healthCheckNodePort servers, as kube-proxy runs them: for a LoadBalancer service
 * with externalTrafficPolicy Local, GET on the port answers 200 while this node has ready
 * endpoints of the service and 503 while it has none, so the load balancer sends traffic only to
 * nodes that keep it local. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "svcfwd.h"

struct fwd_health {
	struct htab_node node; /* in the server's health, by port */
	uint16_t port;
	char *ns, *name;
	size_t n_local;
	bool live;
	struct evhttp *http;
};

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct fwd_health *h = arg;
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evbuffer_add_printf(b,
	                    "{\"service\":{\"namespace\":\"%s\",\"name\":\"%s\"},"
	                    "\"localEndpoints\":%zu,\"serviceProxyHealthy\":true}\n",
	                    h->ns, h->name, h->n_local);
	if (h->n_local > 0)
		evhttp_send_reply(req, 200, "OK", b);
	else
		evhttp_send_reply(req, 503, "Service Unavailable", b);
	evbuffer_free(b);
}

static void
health_free(struct fwd_health *h)
{
	if (h->http != NULL)
		evhttp_free(h->http);
	free(h->ns);
	free(h->name);
	free(h);
}

static struct fwd_health *
health_open(struct fwd_server *s, const struct fwd_plan_health *ph)
{
	struct fwd_health *h = calloc(1, sizeof(*h));
	bool any = false;

	if (h == NULL)
		return NULL;
	h->port = ph->port;
	h->http = evhttp_new(s->base);
	if (h->http == NULL)
		goto fail;
	evhttp_set_gencb(h->http, on_request, h);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	any |= evhttp_bind_socket(h->http, "0.0.0.0", ph->port) == 0;
	any |= evhttp_bind_socket(h->http, "::", ph->port) == 0;
	if (!any) {
		log_msg(LL_WARN, "health check port %u (%s/%s): cannot listen", ph->port, ph->ns,
		        ph->name);
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

void
fwd_health_apply(struct fwd_server *s, const struct fwd_plan *plan)
{
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &s->health); n != NULL; n = htab_iter_next(&it))
		htab_item(n, struct fwd_health, node)->live = false;
	for (size_t i = 0; i < plan->n_health; i++) {
		const struct fwd_plan_health *ph = &plan->health[i];
		struct fwd_health *h = health_find(s, ph->port);
		char *ns, *name;

		if (h == NULL) {
			h = health_open(s, ph);
			if (h == NULL)
				continue;
			if (htab_insert(&s->health, &h->node, htab_hash_u64(h->port)) != SVC_OK) {
				health_free(h);
				continue;
			}
		}
		ns = strdup(ph->ns);
		name = strdup(ph->name);
		if (ns == NULL || name == NULL) {
			free(ns);
			free(name);
			continue;
		}
		free(h->ns);
		free(h->name);
		h->ns = ns;
		h->name = name;
		h->n_local = ph->n_local;
		h->live = true;
	}
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
