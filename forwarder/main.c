/* main.c -- svcfwd: the per-node forwarder for service ClusterIPs, node ports, load-balancer IPs
 * and external IPs. The main loop serves: the listeners, the TCP relays, the UDP flows and the
 * status endpoint. The builder thread (builder.h) watches the manifests, loads them and turns a
 * new model into a plan; the plan reaches the main loop through the builder's hand-off (a newer
 * plan replaces one not applied yet), where it updates the pools and sockets in place, and open
 * connections carry on untouched. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "builder.h"
#include "svcfwd.h"

#define RELOAD_DEBOUNCE_MS 50

static void
plan_summary(const struct fwd_plan *p, size_t *endpoints)
{
	*endpoints = 0;
	for (size_t i = 0; i < p->n_pools; i++)
		*endpoints += p->pools[i].n_targets;
}

/* A delta of the plan on its way from the builder thread to the main loop. */
struct fwd_next {
	struct builder_item item; /* first: the hand-off's */
	struct fwd_delta *delta;
	uint64_t generation;
	size_t n_services;
	uint64_t plan_ns; /* how long planning took */
};

/* Builder thread: a new snapshot becomes a delta of the plan for the main loop: only the
 * namespaces it changed are planned again. */
/* The service CIDR comes from etcd's settings where no flag gave one: the local route follows
 * it (on the builder thread: a few netlink calls, never on the serving loop). */
static void
follow_route(struct fwd_server *s, const struct cluster *c)
{
	char buf[NETADDR_STRLEN + 4];

	if (s->opts.no_route || (c->config.n_service_cidrs == s->n_route_cidrs &&
	                         !memcmp(c->config.service_cidrs, s->route_cidrs,
	                                 s->n_route_cidrs * sizeof(s->route_cidrs[0]))))
		return;
	fwd_route_remove(s->route);
	s->route = NULL;
	memcpy(s->route_cidrs, c->config.service_cidrs, sizeof(s->route_cidrs));
	s->n_route_cidrs = c->config.n_service_cidrs;
	if (fwd_route_add(s->route_cidrs, s->n_route_cidrs, &s->route) != SVC_OK)
		log_msg(LL_ERROR, "cannot add the local route for the service CIDR %s",
		        netaddr_prefix_str(&s->route_cidrs[0], buf));
	else
		log_msg(LL_INFO, "the service CIDR is now %s (the cluster's settings)",
		        netaddr_prefix_str(&s->route_cidrs[0], buf));
}

static enum svc_status
plan_model(void *arg, const struct cluster *c, struct diag *d, char *summary, size_t len)
{
	struct fwd_server *s = arg;
	struct fwd_next *n = calloc(1, sizeof(*n));
	struct fwd_delta *delta = NULL;
	uint64_t t0 = now_ns();
	bool full = atomic_exchange(&s->want_full, false);
	enum svc_status st = SVC_ENOMEM;

	if (n == NULL)
		goto done;
	follow_route(s, c);
	/* The probes follow the pods, on the agent's own loop. */
	nodeagent_cluster(s->agent, (struct cluster *)c);
	st = fwd_inc_update(s->inc, (struct cluster *)c, full, d, &delta);
	if (st != SVC_OK)
		goto done;
	/* The main loop has not taken the last one: this one replaces it, so it carries its
	 * changes too. (Taken meanwhile, the last is applied and then this: the same state.) */
	if (s->posted != NULL && !atomic_load(&s->posted->taken)) {
		struct fwd_delta *both = fwd_delta_compose(s->posted, delta);

		fwd_delta_unref(delta);
		delta = both;
		if (delta == NULL) {
			st = SVC_ENOMEM;
			goto done;
		}
	}
	fwd_delta_unref(s->posted);
	s->posted = fwd_delta_ref(delta);
	n->delta = delta;
	delta = NULL;
	n->generation = c->generation;
	n->n_services = c->n_services;
	n->plan_ns = now_ns() - t0;
	builder_handoff_post(s->handoff, &n->item);
	n = NULL;
done:
	if (st != SVC_OK) {
		/* What the main loop holds is no longer known from here: whole next time. */
		atomic_store(&s->want_full, true);
		snprintf(summary, len, "planning: %s", svc_status_str(st));
	}
	free(n);
	return st;
}

/* Builder thread: the main loop is done with N (or a newer delta replaced it). */
static void
free_next(struct builder_item *item)
{
	struct fwd_next *n = (struct fwd_next *)item;

	fwd_delta_unref(n->delta);
	free(n);
	/* Often the last reference to parts of the plan, and the update before let a model go:
	 * give the memory back, as after a load. */
	malloc_trim(0);
}

/* Main loop: update pools, destinations and health ports by the delta. On failure what was
 * applied stays, and the builder thread is asked for the whole plan. */
static void
apply_plan(struct builder_item *item, void *arg)
{
	struct fwd_server *s = arg;
	struct fwd_next *n = (struct fwd_next *)item;
	const struct fwd_delta *d = n->delta;
	uint64_t t0 = now_ns(), t1 = 0, main_ns;
	char summary[512];
	enum svc_status st;

	atomic_store(&n->delta->taken, true);
	st = fwd_pools_update(&s->pools, d->pools, d->n_pools, d->gone, d->n_gone, d->full);
	for (size_t i = 0; st == SVC_OK && s->nat != NULL && i < d->n_pools; i++) {
		struct fwd_pool *p = fwd_pools_find(&s->pools, d->pools[i]->key);

		if (p != NULL)
			fwd_nat_pool_changed(s, p);
	}
	t1 = now_ns();
	if (st == SVC_OK)
		st = fwd_listen_update(s, d);
	if (st == SVC_OK)
		fwd_health_update(s, d);
	main_ns = now_ns() - t0;
	if (st != SVC_OK) {
		atomic_store(&s->want_full, true);
		builder_reload(s->builder);
		snprintf(summary, sizeof(summary), "applying the model: %s", svc_status_str(st));
	} else {
		snprintf(summary, sizeof(summary),
		         "node %s: %zu services, %zu service ports, %zu endpoints; planned in "
		         "%lu.%03lu ms, applied in %lu.%03lu ms on the main loop (pools %lu.%03lu "
		         "ms; %s: %zu pools, %zu gone, %zu destinations, %zu health ports)",
		         s->opts.node, n->n_services, d->n_plan_pools, d->n_endpoints,
		         (unsigned long)(n->plan_ns / 1000000),
		         (unsigned long)(n->plan_ns / 1000 % 1000),
		         (unsigned long)(main_ns / 1000000), (unsigned long)(main_ns / 1000 % 1000),
		         (unsigned long)((t1 - t0) / 1000000),
		         (unsigned long)((t1 - t0) / 1000 % 1000), d->full ? "whole" : "changed",
		         d->n_pools, d->n_gone, d->n_dests, d->n_health);
	}
	daemon_reload_applied(&s->reload, n->generation, st, summary,
	                      (n->plan_ns + main_ns) / 1000000);
}

/* --check: the plan this node would follow. */
static enum svc_status
check_model(void *arg, const struct cluster *c, struct diag *d, char *summary, size_t len)
{
	const struct fwd_opts *o = arg;
	struct fwd_plan plan;
	enum svc_status st = fwd_plan_build(c, o->node, d, &plan);
	size_t eps;

	if (st != SVC_OK)
		return st;
	plan_summary(&plan, &eps);
	snprintf(summary, len,
	         "%zu services; node %s: %zu sockets, %zu service ports, %zu endpoints, %zu ports "
	         "without endpoints",
	         c->n_services, o->node, plan.n_listeners, plan.n_pools, eps, plan.n_idle);
	fwd_plan_deinit(&plan);
	return SVC_OK;
}

static bool
is_ready(void *arg)
{
	struct fwd_server *s = arg;

	return daemon_reload_ready(&s->reload);
}

/* Once a second: idle TCP connections, idle UDP flows, stale affinity, and the ClusterIP ports
 * a local process serves. */
static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_server *s = arg;
	uint64_t now = now_ms();
	(void)fd;
	(void)what;

	fwd_tcp_sweep(s, now);
	fwd_udp_sweep(s, now);
	fwd_pools_expire(&s->pools, now);
	fwd_listen_sync_local(s);
	if (s->nat != NULL)
		s->nat_ifs = fwd_nat_attach(s->nat);
}

/* The fast path, unless --no-fast-path or it cannot load: then the relay takes everything. */
static void
start_fast_path(struct fwd_server *s)
{
	char err[256];

	htab_init(&s->nat_pools);
	if (s->opts.no_fast_path) {
		log_msg(LL_INFO, "--no-fast-path: every service is relayed");
		return;
	}
	if (fwd_nat_open(s->opts.max_flows + s->opts.max_conns, &s->nat, err, sizeof(err)) !=
	    SVC_OK) {
		log_msg(LL_WARN, "fast path unavailable: %s; every service is relayed", err);
		return;
	}
	s->nat_ifs = fwd_nat_attach(s->nat);
	log_msg(LL_INFO,
	        "fast path: a tc program on %zu interfaces rewrites flows to local endpoints "
	        "of ClusterIPs and LoadBalancer IPs in the kernel",
	        s->nat_ifs);
}

/* Sockets are the forwarder's working material: take all the kernel allows. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static struct fwd_server srv;
	struct fwd_server *s = &srv;
	struct daemon_signals *sig = NULL;
	struct event_config *cfg = NULL;
	struct timeval second = {1, 0};
	struct rlimit rl;
	int rc = 1;

	log_init("svcfwd");
	s->reserve_fd = -1;
	raise_fd_limit();
	if (fwd_opts_parse(&s->opts, argc, argv) != SVC_OK)
		return 2;
	if (s->opts.check)
		return daemon_check(s->opts.zones, &s->opts.etcd, &s->opts.ccfg, NULL, check_model,
		                    &s->opts, stdout);
	daemon_reload_init(&s->reload, s->opts.zones, plan_model, s);
	s->reload.deferred = true; /* applied on the main loop, by apply_plan */
	signal(SIGPIPE, SIG_IGN);
	fwd_pools_init(&s->pools);
	atomic_init(&s->want_full, false);
	if (fwd_inc_new(s->opts.node, &s->inc) != SVC_OK)
		goto done;
	cfg = event_config_new();
	if (cfg == NULL)
		goto done;
	/* One thread; and batch epoll changes, as relays switch events on and off. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	s->base = event_base_new_with_config(cfg);
	if (s->base == NULL)
		goto done;
	fwd_fds_init(&s->fds, getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (size_t)rl.rlim_cur : 1024);
	if (fwd_tcp_init(s) != SVC_OK || fwd_udp_init(s) != SVC_OK || fwd_listen_init(s) != SVC_OK)
		goto done;
	start_fast_path(s);
	if (daemon_signals_start(s->base, &s->builder, s->opts.zones, &sig) != SVC_OK)
		goto done;
	s->sweep_ev = event_new(s->base, -1, EV_PERSIST, on_sweep, s);
	if (s->sweep_ev == NULL || event_add(s->sweep_ev, &second) != 0)
		goto done;
	if (!s->opts.no_route && fwd_route_add(s->opts.ccfg.service_cidrs,
	                                       s->opts.ccfg.n_service_cidrs, &s->route) != SVC_OK)
		goto done;
	memcpy(s->route_cidrs, s->opts.ccfg.service_cidrs, sizeof(s->route_cidrs));
	s->n_route_cidrs = s->opts.ccfg.n_service_cidrs;
	if (daemon_builder_create(&s->opts.etcd, s->opts.zones, s->opts.status_dir, &s->opts.ccfg,
	                          NULL, RELOAD_DEBOUNCE_MS, &s->reload, &s->store,
	                          &s->builder) != SVC_OK)
		goto done;
	if (builder_handoff_new(s->builder, s->base, apply_plan, free_next, s, &s->handoff) !=
	    SVC_OK)
		goto done;
	if (s->opts.http != NULL && daemon_http_start(s->base, s->opts.http, is_ready,
	                                              fwd_metrics_text, s, &s->http) != SVC_OK)
		goto done;
	/* Before the builder: its first model goes to the agent too. Without etcd it only runs
	 * the probes. */
	{
		struct nodeagent_opts ao = {.etcd = &s->opts.etcd,
		                            .status_dir = s->opts.status_dir,
		                            .lb_interface = s->opts.lb_interface,
		                            .node = s->opts.node,
		                            .lease_s = (unsigned)s->opts.node_lease_s,
		                            .version = SVC_VERSION};

		if (nodeagent_start(&ao, &s->agent_status, &s->agent) != SVC_OK)
			goto done;
	}
	/* The first plan too comes from the builder thread; /ready says 503 until it is applied. */
	if (builder_start(s->builder) != SVC_OK) {
		log_msg(LL_ERROR, "cannot start the builder thread: %s", strerror(errno));
		goto done;
	}
	log_msg(LL_INFO, "forwarding for node %s from %s (%zu connections at most)", s->opts.node,
	        s->reload.zones, s->opts.max_conns);
	event_base_dispatch(s->base);
	rc = 0;
done:
	/* First: a build under way is finished (it may hand the agent a model); plans not
	 * applied are freed. */
	builder_destroy(s->builder);
	s->builder = NULL;
	/* Then, before the sockets close: NotReady, so traffic goes elsewhere. */
	nodeagent_stop(s->agent);
	s->agent = NULL;
	daemon_http_stop(s->http);
	fwd_tcp_deinit(s);
	fwd_listen_close_all(s);
	fwd_nat_close(s->nat); /* after the listeners: they took their entries out */
	s->nat = NULL;
	htab_deinit(&s->nat_pools);
	free(s->nat_free);
	fwd_health_close_all(s);
	fwd_udp_deinit(s);
	fwd_pools_deinit(&s->pools);
	fwd_delta_unref(s->posted);
	fwd_inc_free(s->inc);
	fwd_route_remove(s->route);
	if (s->sweep_ev != NULL)
		event_free(s->sweep_ev);
	daemon_signals_stop(sig);
	if (s->base != NULL)
		event_base_free(s->base);
	if (cfg != NULL)
		event_config_free(cfg);
	return rc;
}
