/* http.c -- a daemon's status endpoint on its main loop: /health, /ready, /metrics. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

struct daemon_http {
	struct evhttp *http;
	daemon_ready_fn ready;
	daemon_metrics_fn metrics;
	void *arg;
};

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct daemon_http *h = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *b = evbuffer_new();
	int code = 200;
	const char *reason = "OK";

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (strcmp(uri, "/health") == 0) {
		evbuffer_add_printf(b, "OK\n");
	} else if (strcmp(uri, "/ready") == 0) {
		if (h->ready(h->arg)) {
			evbuffer_add_printf(b, "OK\n");
		} else {
			code = 503;
			reason = "Service Unavailable";
			evbuffer_add_printf(b, "no cluster model loaded yet\n");
		}
	} else if (strcmp(uri, "/metrics") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  "text/plain; version=0.0.4");
		h->metrics(h->arg, b);
	} else {
		code = 404;
		reason = "Not Found";
		evbuffer_add_printf(b, "not found\n");
	}
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

enum svc_status
daemon_http_start(struct event_base *base, const char *addr, daemon_ready_fn ready,
                  daemon_metrics_fn metrics, void *arg, struct daemon_http **out)
{
	struct daemon_http *h = NULL;
	struct daemon_addr a;
	char host[64];
	enum svc_status st = SVC_EINVAL;

	*out = NULL;
	if (!addr_parse(addr, 0, &a) || addr_port(&a) == 0)
		goto done;
	st = SVC_ENOMEM;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		goto done;
	h->ready = ready;
	h->metrics = metrics;
	h->arg = arg;
	h->http = evhttp_new(base);
	if (h->http == NULL)
		goto done;
	if (a.sa.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a.sa)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&a.sa)->sin_addr, host, sizeof(host));
	evhttp_set_gencb(h->http, on_request, h);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	st = SVC_EIO;
	if (evhttp_bind_socket(h->http, host, addr_port(&a)) != 0) {
		log_msg(LL_ERROR, "http %s: cannot listen", addr);
		goto done;
	}
	log_msg(LL_INFO, "http on %s", addr);
	*out = h;
	h = NULL;
	st = SVC_OK;
done:
	daemon_http_stop(h);
	return st;
}

void
daemon_http_stop(struct daemon_http *h)
{
	if (h == NULL)
		return;
	if (h->http != NULL)
		evhttp_free(h->http);
	free(h);
}
