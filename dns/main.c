/* main.c -- svcdns: the cluster DNS server. The main loop owns the manifest watcher, TCP, the
 * upstream queries and HTTP; UDP workers answer from the current zone, which a reload replaces
 * atomically (readers keep the zone they started a batch with). */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watch.h"
#include "svcdns.h"

#define RELOAD_DEBOUNCE_MS 100

struct dnsz *
server_zone(struct server *s)
{
	struct dnsz *z;

	pthread_mutex_lock(&s->zone_lock);
	z = dnsz_ref(s->zone);
	pthread_mutex_unlock(&s->zone_lock);
	return z;
}

static void
server_set_zone(struct server *s, struct dnsz *z)
{
	struct dnsz *old;

	pthread_mutex_lock(&s->zone_lock);
	old = s->zone;
	s->zone = z;
	pthread_mutex_unlock(&s->zone_lock);
	dnsz_unref(old);
}

void
server_enqueue(struct server *s, struct fwd_req *r)
{
	r->next = NULL;
	pthread_mutex_lock(&s->q_lock);
	if (s->q_tail != NULL)
		s->q_tail->next = r;
	else
		s->q_head = r;
	s->q_tail = r;
	pthread_mutex_unlock(&s->q_lock);
	event_active(s->q_ev, EV_READ, 0);
}

static struct fwd_req *
take_queue(struct server *s)
{
	struct fwd_req *list;

	pthread_mutex_lock(&s->q_lock);
	list = s->q_head;
	s->q_head = s->q_tail = NULL;
	pthread_mutex_unlock(&s->q_lock);
	return list;
}

static void
on_queue(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct fwd_req *r = take_queue(s);
	(void)fd;
	(void)what;

	while (r != NULL) {
		struct fwd_req *next = r->next;

		if (s->up != NULL)
			upstream_submit(s, r);
		else
			fwd_req_free(r);
		r = next;
	}
}

static void
on_model(struct cluster *fresh, const struct diag *d, void *arg)
{
	struct server *s = arg;
	struct dnsz *z = NULL;
	enum svc_status st;
	uint64_t t0 = now_ns();

	log_diag(d);
	if (fresh == NULL) {
		atomic_fetch_add(&s->reloads_failed, 1);
		log_msg(LL_ERROR, "%s: manifests rejected; still serving the last good model",
		        s->opts.zones);
		return;
	}
	st = dnsz_build(fresh, &s->zopts, &z);
	if (st != SVC_OK) {
		atomic_fetch_add(&s->reloads_failed, 1);
		log_msg(LL_ERROR, "building the zone: %s; still serving the last good model",
		        svc_status_str(st));
		cluster_unref(fresh);
		return;
	}
	z->n_pods = fresh->n_pods;
	cluster_unref(fresh);
	server_set_zone(s, z);
	/* Loading needs several times the model's memory for a moment; give it back. */
	malloc_trim(0);
	atomic_fetch_add(&s->reloads_ok, 1);
	atomic_store(&s->ready, true);
	log_msg(LL_INFO, "model %lu: %zu services, %zu pods, %zu names (%.1f ms)",
	        (unsigned long)z->generation, z->n_services, z->n_pods, z->n_nodes,
	        (double)(now_ns() - t0) / 1e6);
}

static bool
is_ready(void *arg)
{
	struct server *s = arg;

	return atomic_load(&s->ready);
}

/* --check: load, report, exit. */
static int
check(const struct svcdns_opts *o)
{
	struct diag d;
	struct cluster *c = NULL;
	struct dnsz *z = NULL;
	struct dnsz_options zo = {.domain = o->domain, .ttl = o->ttl};
	enum svc_status st;
	int rc = 1;

	diag_init(&d);
	st = cluster_load(o->zones, &o->ccfg, &d, &c);
	diag_sort(&d);
	diag_print(&d, stderr);
	if (st != SVC_OK || c == NULL) {
		fprintf(stderr, "%s: %s\n", o->zones,
		        st != SVC_OK ? svc_status_str(st) : "invalid");
		goto done;
	}
	if (dnsz_build(c, &zo, &z) != SVC_OK) {
		fprintf(stderr, "%s: cannot build the zone\n", o->zones);
		goto done;
	}
	printf("%s: ok: %zu services, %zu pods, %zu DNS names under %s\n", o->zones, z->n_services,
	       c->n_pods, z->n_nodes, o->domain);
	rc = 0;
done:
	dnsz_unref(z);
	if (c != NULL)
		cluster_unref(c);
	diag_deinit(&d);
	return rc;
}

/* Glue for ns.<dns>.<zone>: the specific listen addresses. */
static void
ns_glue(struct server *s)
{
	for (size_t i = 0; i < s->opts.n_listen && s->zopts.n_ns_addrs < 4; i++) {
		const struct daemon_addr *a = &s->opts.listen[i];
		struct netaddr *n = &s->zopts.ns_addrs[s->zopts.n_ns_addrs];

		if (a->sa.ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;

			if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
				continue;
			n->family = NETADDR_V4;
			memcpy(n->bytes, &s4->sin_addr, 4);
		} else {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;

			if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
				continue;
			n->family = NETADDR_V6;
			memcpy(n->bytes, &s6->sin6_addr, 16);
		}
		s->zopts.n_ns_addrs++;
	}
	if (s->zopts.n_ns_addrs == 0) {
		s->zopts.ns_addrs[0].family = NETADDR_V4;
		s->zopts.ns_addrs[0].bytes[0] = 127;
		s->zopts.ns_addrs[0].bytes[3] = 1;
		s->zopts.n_ns_addrs = 1;
	}
}

int
main(int argc, char **argv)
{
	static struct server srv;
	struct server *s = &srv;
	struct daemon_signals *sig = NULL;
	struct dnsz *empty = NULL;
	int rc = 1;

	log_init("svcdns");
	if (opts_parse(&s->opts, argc, argv) != SVC_OK)
		return 2;
	if (s->opts.check)
		return check(&s->opts);
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() != 0) {
		log_msg(LL_ERROR, "libevent without thread support");
		return 1;
	}
	pthread_mutex_init(&s->zone_lock, NULL);
	pthread_mutex_init(&s->q_lock, NULL);
	s->zopts.domain = s->opts.domain;
	s->zopts.ttl = s->opts.ttl;
	ns_glue(s);
	s->limits.max_ttl = s->opts.cache_max_ttl;
	s->limits.max_neg_ttl = s->opts.cache_max_neg_ttl;
	/* Until the first model: cluster names SERVFAIL, other names are forwarded. */
	if (dnsz_build(NULL, &s->zopts, &empty) != SVC_OK)
		return 1;
	s->zone = empty;
	s->base = event_base_new();
	if (s->base == NULL)
		return 1;
	if (s->opts.cache_size > 0 && dnsc_create(s->opts.cache_size, &s->cache) != SVC_OK)
		goto done;
	s->q_ev = event_new(s->base, -1, EV_READ, on_queue, s);
	if (s->q_ev == NULL)
		goto done;
	if (daemon_signals_start(s->base, &s->watch, s->opts.zones, &sig) != SVC_OK)
		goto done;
	if (watch_create(s->base, s->opts.zones, &s->opts.ccfg, RELOAD_DEBOUNCE_MS,
	                         on_model, s, &s->watch) != SVC_OK) {
		log_msg(LL_ERROR, "%s: cannot watch: %s", s->opts.zones, strerror(errno));
		goto done;
	}
	if (upstream_start(s) != SVC_OK || tcp_start(s) != SVC_OK)
		goto done;
	if (s->opts.http != NULL &&
	    daemon_http_start(s->base, s->opts.http, is_ready, metrics_text, s, &s->http) != SVC_OK)
		goto done;
	/* The first model before the first query: a restart does not answer SERVFAIL for long. */
	watch_reload(s->watch);
	if (udp_start(s) != SVC_OK)
		goto done;
	log_msg(LL_INFO, "serving %s from %s with %zu UDP threads", s->opts.domain, s->opts.zones,
	        s->n_workers);
	event_base_dispatch(s->base);
	rc = 0;
done:
	udp_stop(s);
	on_queue(-1, 0, s); /* requests the workers left behind */
	upstream_stop(s);
	daemon_http_stop(s->http);
	tcp_stop(s);
	if (s->watch != NULL)
		watch_destroy(s->watch);
	daemon_signals_stop(sig);
	if (s->q_ev != NULL)
		event_free(s->q_ev);
	dnsc_destroy(s->cache);
	dnsz_unref(s->zone);
	if (s->base != NULL)
		event_base_free(s->base);
	return rc;
}
