/* main.c -- svcdns: the cluster DNS server. The main loop owns TCP, the upstream queries and
 * HTTP; UDP workers answer from the current zone. The builder thread (builder.h) watches the
 * manifests, loads them, builds each new zone and swaps it in (readers keep the zone they
 * started a batch with), so no query waits for a build. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"
#include "tcp.h"
#include "udp.h"
#include "upstream.h"
#include "notify.h"
#include "zonedump.h"
#include "builder.h"

#define RELOAD_DEBOUNCE_MS 50
#define RRL_SLOTS          65536

/* Questions the UDP workers queued for upstream. */
static void
on_queue(evutil_socket_t fd, short what, void *arg)
{
	struct dnsd_server *s = arg;
	struct dnsd_req *r = dnsd_server_dequeue(s);
	(void)fd;
	(void)what;

	while (r != NULL) {
		struct dnsd_req *next = r->next;

		dnsd_upstream_submit(s->up, r);
		r = next;
	}
}

/* A new zone is served (main loop): tell the secondaries when its records changed, not when
 * only its serial moved (with etcd, every write moves it). */
static void
on_zone(evutil_socket_t fd, short what, void *arg)
{
	struct dnsd_server *s = arg;
	struct dnsz *z = dnsd_server_zone(s);
	struct dnsx_journal *j = dnsd_server_journal(s);
	uint32_t changed = j != NULL ? dnsx_journal_changed(j) : z->serial;
	(void)fd;
	(void)what;

	if (z->loaded && (changed != s->notified || !s->notified_once)) {
		s->notified = changed;
		s->notified_once = true;
		dnsd_notify_zone(s->notify, z->serial);
	}
	dnsx_journal_unref(j);
	dnsz_unref(z);
}

/* RFC 1982: whether serial A is after B. */
static bool
serial_after(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(a - b) < 0x80000000u;
}

/* The last serial kept in --serial-file, so a restart never goes back. */
static void
serial_load(struct dnsd_server *s)
{
	FILE *f = s->opts.serial_file != NULL ? fopen(s->opts.serial_file, "r") : NULL;
	unsigned long v;

	if (f == NULL)
		return;
	if (fscanf(f, "%lu", &v) == 1 && v <= UINT32_MAX)
		s->serial = (uint32_t)v;
	fclose(f);
}

static void
serial_save(struct dnsd_server *s)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (s->opts.serial_file == NULL ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", s->opts.serial_file) >= (int)sizeof(tmp))
		return;
	f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%u\n", s->serial) < 0 || fclose(f) != 0 ||
	    rename(tmp, s->opts.serial_file) != 0) {
		if (!s->serial_file_failed)
			log_msg(LL_WARN,
			        "serial file %s: %s (the SOA serial may go back at a restart)",
			        s->opts.serial_file, strerror(errno));
		s->serial_file_failed = true;
		return;
	}
	s->serial_file_failed = false;
}

/* The SOA serial of snapshot C's zone: it grows with every new zone and never goes back. With
 * etcd, the store revision the snapshot holds: the same on every node for the same state. From
 * a directory, the larger of the last serial + 1 and the time, the last kept in --serial-file
 * across restarts. (Builder thread.) */
static uint32_t
next_serial(struct dnsd_server *s, const struct cluster *c)
{
	uint32_t now = (uint32_t)time(NULL);

	if (c->revision > 0) {
		s->serial = (uint32_t)c->revision;
		return s->serial;
	}
	s->serial = serial_after(now, s->serial) ? now : s->serial + 1;
	serial_save(s);
	return s->serial;
}

/* The zone of C: made from the last one when S has a zone builder (the daemon), else whole
 * (--check). */
static enum svc_status
build_zone(struct dnsd_server *s, const struct cluster *c, bool incremental, struct dnsz **z,
           char *summary, size_t len)
{
	enum svc_status st;

	if (incremental && s->zbuilder == NULL &&
	    dnsz_builder_create(&s->zopts, &s->zbuilder) != SVC_OK)
		s->zbuilder = NULL;
	if (incremental && s->zbuilder != NULL)
		dnsz_builder_set_serial(s->zbuilder, next_serial(s, c));
	st = incremental && s->zbuilder != NULL ? dnsz_update(s->zbuilder, c, z)
	                                        : dnsz_build(c, &s->zopts, z);

	if (st != SVC_OK) {
		snprintf(summary, len, "building the zone: %s", svc_status_str(st));
		return st;
	}
	snprintf(summary, len, "%zu services, %zu pods, %zu DNS names under %s", (*z)->n_services,
	         c->n_pods, (*z)->n_nodes, s->opts.domain);
	return SVC_OK;
}

/* A new snapshot (on the builder thread): its zone serves from now on. */
static enum svc_status
apply_model(void *arg, const struct cluster *c, struct diag *d, char *summary, size_t len)
{
	struct dnsd_server *s = arg;
	struct dnsz *z = NULL;
	enum svc_status st = build_zone(s, c, true, &z, summary, len);
	(void)d;

	if (st == SVC_OK)
		dnsd_server_set_zone(s, z);
	return st;
}

/* --check: the zone is built, then thrown away. */
static enum svc_status
check_model(void *arg, const struct cluster *c, struct diag *d, char *summary, size_t len)
{
	struct dnsz *z = NULL;
	enum svc_status st = build_zone(arg, c, false, &z, summary, len);
	(void)d;

	dnsz_unref(z);
	return st;
}

/* --dump-zone: the zone built, written to stdout. */
static enum svc_status
dump_model(void *arg, const struct cluster *c, struct diag *d, char *summary, size_t len)
{
	struct dnsz *z = NULL;
	enum svc_status st = build_zone(arg, c, false, &z, summary, len);
	(void)d;

	if (st == SVC_OK)
		st = zonedump_write(z, stdout);
	dnsz_unref(z);
	return st;
}

/* Glue for ns.<dns>.<zone>: the specific listen addresses. */
static void
ns_glue(struct dnsd_server *s)
{
	for (size_t i = 0; i < s->opts.n_listen && s->zopts.n_ns_addrs < 4; i++) {
		const struct daemon_addr *a = &s->opts.listen[i];
		struct netaddr *n = &s->zopts.ns_addrs[s->zopts.n_ns_addrs];

		if (addr_is_any(a))
			continue;
		if (a->sa.ss_family == AF_INET) {
			n->family = NETADDR_V4;
			memcpy(n->bytes, &((const struct sockaddr_in *)&a->sa)->sin_addr, 4);
		} else {
			n->family = NETADDR_V6;
			memcpy(n->bytes, &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, 16);
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

static bool
is_ready(void *arg)
{
	struct dnsd_server *s = arg;

	return daemon_reload_ready(&s->reload);
}

static enum svc_status
start_upstream(struct dnsd_server *s)
{
	struct dnsd_upstream_config uc = {
	        .servers = s->opts.upstream,
	        .n_servers = s->opts.n_upstream,
	        .timeout_ms = s->opts.upstream_timeout_ms,
	        .stale_s = s->opts.serve_stale_s,
	        .max_inflight = s->opts.upstream_max_inflight,
	        .sockets = s->opts.upstream_sockets,
	        .max_waiters = s->opts.upstream_max_waiters,
	        .max_waiting = s->opts.upstream_max_waiting,
	        .limits = {.max_ttl = s->opts.cache_max_ttl,
	                   .max_neg_ttl = s->opts.cache_max_neg_ttl},
	};

	for (size_t i = 0; i < s->opts.n_upstream; i++) {
		char name[80];

		log_msg(LL_INFO, "upstream %s", addr_str(&s->opts.upstream[i], name, sizeof(name)));
	}
	return dnsd_upstream_create(s->base, &uc, s->cache, &s->metrics, &s->up);
}

int
main(int argc, char **argv)
{
	static struct dnsd_server srv;
	struct dnsd_server *s = &srv;
	struct daemon_signals *sig = NULL;
	int rc = 1;

	log_init("svcdns");
	if (dnsd_opts_parse(&s->opts, argc, argv) != SVC_OK)
		return 2;
	ns_glue(s);
	if (dnsd_server_init(s) != SVC_OK)
		return 1;
	serial_load(s);
	if (s->opts.check || s->opts.dump_zone) {
		rc = daemon_check(s->opts.zones, &s->opts.etcd, &s->opts.ccfg, s->opts.domain,
		                  s->opts.dump_zone ? dump_model : check_model, s,
		                  s->opts.dump_zone ? stderr : stdout);
		dnsd_server_deinit(s);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() != 0) {
		log_msg(LL_ERROR, "libevent without thread support");
		return 1;
	}
	daemon_reload_init(&s->reload, s->opts.zones, apply_model, s);
	s->base = event_base_new();
	if (s->base == NULL)
		goto done;
	if (s->opts.cache_size > 0 && dnsc_create(s->opts.cache_size, &s->cache) != SVC_OK)
		goto done;
	if (s->cache != NULL)
		dnsc_set_stale(s->cache, s->opts.serve_stale_s);
	if (s->opts.rrl_rate > 0 &&
	    rrl_create(s->opts.rrl_rate, s->opts.rrl_slip, RRL_SLOTS, &s->rrl) != SVC_OK)
		goto done;
	s->q_ev = event_new(s->base, -1, EV_READ, on_queue, s);
	s->zone_ev = event_new(s->base, -1, EV_READ, on_zone, s);
	if (s->q_ev == NULL || s->zone_ev == NULL)
		goto done;
	if (dnsd_notify_create(s, &s->notify) != SVC_OK)
		goto done;
	if (daemon_signals_start(s->base, &s->builder, s->opts.zones, &sig) != SVC_OK)
		goto done;
	if (daemon_builder_create(&s->opts.etcd, s->opts.zones, s->opts.status_dir, &s->opts.ccfg,
	                          s->opts.domain, RELOAD_DEBOUNCE_MS, &s->reload, &s->store,
	                          &s->builder) != SVC_OK)
		goto done;
	if (start_upstream(s) != SVC_OK || dnsd_tcp_start(s, &s->tcp) != SVC_OK)
		goto done;
	if (s->opts.http != NULL && daemon_http_start(s->base, s->opts.http, is_ready,
	                                              dnsd_metrics_text, s, &s->http) != SVC_OK)
		goto done;
	if (dnsd_udp_start(s, &s->udp) != SVC_OK)
		goto done;
	/* The first model is built on the builder thread too; until it is in, cluster names get
	 * SERVFAIL (the placeholder zone) and /ready says 503. */
	if (builder_start(s->builder) != SVC_OK) {
		log_msg(LL_ERROR, "cannot start the builder thread: %s", strerror(errno));
		goto done;
	}
	log_msg(LL_INFO, "serving %s from %s with %u UDP threads", s->opts.domain, s->reload.zones,
	        s->opts.threads);
	event_base_dispatch(s->base);
	rc = 0;
done:
	/* First, as it swaps zones and logs: a build under way is finished. */
	builder_destroy(s->builder);
	s->builder = NULL;
	/* No new questions; those queued and those upstream get SERVFAIL on sockets still open. */
	dnsd_udp_halt(s->udp);
	if (s->up != NULL)
		on_queue(-1, 0, s);
	dnsd_upstream_destroy(s->up);
	s->up = NULL;
	dnsd_udp_stop(s->udp);
	s->udp = NULL;
	daemon_http_stop(s->http);
	dnsd_tcp_stop(s->tcp);
	s->tcp = NULL;
	daemon_signals_stop(sig);
	if (s->q_ev != NULL)
		event_free(s->q_ev);
	if (s->zone_ev != NULL)
		event_free(s->zone_ev);
	s->zone_ev = NULL;
	dnsd_notify_destroy(s->notify);
	dnsc_destroy(s->cache);
	rrl_destroy(s->rrl);
	dnsd_server_deinit(s);
	if (s->base != NULL)
		event_base_free(s->base);
	return rc;
}
