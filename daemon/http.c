/* http.c -- a daemon's status endpoint on its main loop: /health, /ready, /metrics, served by
 * the bounded server of httpd.c. */
#include <errno.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "httpd.h"

struct daemon_http {
	struct httpd *httpd;
	daemon_ready_fn ready;
	daemon_metrics_fn metrics;
	void *arg;
};

static void
on_request(void *arg, const char *path, struct httpd_reply *r)
{
	struct daemon_http *h = arg;

	if (strcmp(path, "/health") == 0) {
		evbuffer_add_printf(r->body, "OK\n");
	} else if (strcmp(path, "/ready") == 0) {
		if (h->ready(h->arg)) {
			evbuffer_add_printf(r->body, "OK\n");
		} else {
			r->code = 503;
			evbuffer_add_printf(r->body, "no cluster model loaded yet\n");
		}
	} else if (strcmp(path, "/metrics") == 0) {
		r->content_type = "text/plain; version=0.0.4";
		h->metrics(h->arg, r->body);
	} else {
		r->code = 404;
		evbuffer_add_printf(r->body, "not found\n");
	}
}

enum svc_status
daemon_http_start(struct event_base *base, const char *addr, daemon_ready_fn ready,
                  daemon_metrics_fn metrics, void *arg, struct daemon_http **out)
{
	struct daemon_http *h = NULL;
	struct daemon_addr a;
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
	h->httpd = httpd_new(base, NULL, on_request, h);
	if (h->httpd == NULL)
		goto done;
	st = httpd_listen(h->httpd, (const struct sockaddr *)&a.sa, a.len, false);
	if (st != SVC_OK) {
		log_msg(LL_ERROR, "http %s: cannot listen: %s", addr,
		        st == SVC_EIO ? strerror(errno) : svc_status_str(st));
		goto done;
	}
	log_msg(LL_INFO, "http on %s", addr);
	*out = h;
	h = NULL;
done:
	daemon_http_stop(h);
	return st;
}

void
daemon_http_stop(struct daemon_http *h)
{
	if (h == NULL)
		return;
	httpd_free(h->httpd);
	free(h);
}
