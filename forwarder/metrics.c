/* metrics.c -- svcfwd's counters as Prometheus text for /metrics: per service port, per
 * endpoint that carried traffic in the last FWD_BACKEND_IDLE_MS (the others have no state, and
 * a cluster lists a million), and for the process. */
#include <event2/buffer.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svcfwd.h"

struct counts {
	size_t tcp, udp;
};

static void
count_listener(struct fwd_listener *l, void *arg)
{
	struct counts *c = arg;

	if (l->proto == CLUSTER_UDP)
		c->udp++;
	else
		c->tcp++;
}

/* One sample of a per-service-port family: P's labels, value V. */
static void
pool_sample(struct evbuffer *b, const char *name, const struct fwd_pool *p, uint64_t v)
{
	evbuffer_add_printf(b,
	                    "%s{namespace=\"%s\",service=\"%s\",port=\"%s\",protocol=\"%s\","
	                    "scope=\"%s\",family=\"ipv%u\"} %lu\n",
	                    name, p->ns, p->name, p->port_name, cluster_proto_str(p->proto),
	                    fwd_scope_str(p->scope), p->family, (unsigned long)v);
}

/* The fast path's counters of a pool, read once per scrape. */
struct nat_snap {
	const struct fwd_pool *p;
	struct fnat_stats st;
};

static int
snap_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct nat_snap *)a)->p,
	          y = (uintptr_t)((const struct nat_snap *)b)->p;

	return x < y ? -1 : x > y;
}

/* Each pool the fast path has, with its counters, sorted by pool; *N of them. NULL: none. */
static struct nat_snap *
nat_snapshot(const struct fwd_server *s, size_t *n)
{
	struct htab_iter it;
	struct nat_snap *v;
	size_t k = 0;

	*n = 0;
	if (s->nat == NULL || s->pools.table.n == 0)
		return NULL;
	v = calloc(s->pools.table.n, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (struct htab_node *h = htab_first(&it, &s->pools.table); h != NULL;
	     h = htab_iter_next(&it)) {
		const struct fwd_pool *p = htab_item(h, struct fwd_pool, node);
		uint32_t id;

		if (fwd_nat_pool_id(s, p, &id) && fwd_nat_pool_stats(s->nat, id, &v[k].st))
			v[k++].p = p;
	}
	qsort(v, k, sizeof(*v), snap_cmp);
	*n = k;
	return v;
}

#define NO_NAT ((size_t)-1)

/* Each pool's FIELD (at OFFSET), plus the fast path's (at NAT_OFFSET in struct fnat_stats,
 * unless NO_NAT) when it has the pool. */
static void
pool_metric(struct evbuffer *b, const struct fwd_pools *ps, const struct nat_snap *snap,
            size_t n_snap, const char *name, size_t offset, size_t nat_offset)
{
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &ps->table); n != NULL;
	     n = htab_iter_next(&it)) {
		const struct fwd_pool *p = htab_item(n, struct fwd_pool, node);
		uint64_t v = *(const uint64_t *)((const char *)p + offset);
		struct nat_snap key = {.p = p};
		const struct nat_snap *k =
		        nat_offset != NO_NAT && n_snap > 0
		                ? bsearch(&key, snap, n_snap, sizeof(*snap), snap_cmp)
		                : NULL;

		if (k != NULL)
			v += *(const uint64_t *)((const char *)&k->st + nat_offset);
		pool_sample(b, name, p, v);
	}
}

static void
backend_metric(struct evbuffer *b, const struct fwd_backends *bs, const char *name, size_t offset,
               bool u32)
{
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &bs->table); n != NULL;
	     n = htab_iter_next(&it)) {
		const struct fwd_backend *e = htab_item(n, struct fwd_backend, node);
		const char *f = (const char *)e + offset;
		unsigned long v = u32 ? *(const uint32_t *)f : *(const uint64_t *)f;
		char label[FWD_BACKEND_LABEL_LEN];

		evbuffer_add_printf(b, "%s{endpoint=\"%s\",protocol=\"%s\"} %lu\n", name,
		                    fwd_backend_label(e, label), cluster_proto_str(e->proto), v);
	}
}

#define POOL(b, ps, name, help, type, field, nat_offset)                                           \
	do {                                                                                       \
		prom_family(b, name, type, help);                                                  \
		pool_metric(b, ps, snap, n_snap, name, offsetof(struct fwd_pool, field),           \
		            nat_offset);                                                           \
	} while (0)
#define NAT(field) offsetof(struct fnat_stats, field)
#define BACKEND(b, bs, name, help, type, field, u32)                                               \
	do {                                                                                       \
		prom_family(b, name, type, help);                                                  \
		backend_metric(b, bs, name, offsetof(struct fwd_backend, field), u32);             \
	} while (0)

/* A family of the descriptor budget's, one sample per kind. */
static void
fd_kinds(struct evbuffer *b, const char *name, const char *type, const char *help,
         const uint64_t v[FWD_FD_KINDS])
{
	prom_family(b, name, type, help);
	for (int k = 0; k < FWD_FD_KINDS; k++) {
		char labels[32];

		snprintf(labels, sizeof(labels), "{kind=\"%s\"}", fwd_fds_kind_name(k));
		prom_u64(b, name, labels, v[k]);
	}
}

/* The process-wide numbers, read once. */
struct snapshot {
	uint64_t idle_ports, unbound, local, sklookup, skl_entries, skl_grown, unclaimed, replies,
	        reply_errors, conns, accepted, accept_errors, accept_pauses, idle_closed, spliced,
	        pipes, flows, flows_created, flows_expired, flows_evicted, flows_answered, aside,
	        generation, udp_sockets, flows_no_socket, udp_send_drops, udp_strays, fd_limit,
	        fd_budget, nat_on, nat_ifs, nat_dests, nat_failed;
	uint64_t node_registered, node_registrations, node_renewals, node_failures;
	uint64_t probed_pods, probes, probed_ready, probe_attempts, probe_sockets, status_writes,
	        status_failures;
};

#define S(field) offsetof(struct snapshot, field)
static const struct prom_scalar scalars[] = {
        {"svcfwd_ports_without_endpoints", true,
         "Service ports left without a socket: nowhere to send their traffic.", S(idle_ports)},
        {"svcfwd_ports_unbound", true,
         "Service ports with endpoints but no socket or sk_lookup entry: over the descriptor "
         "budget, or failed.",
         S(unbound)},
        {"svcfwd_ports_served_locally", true,
         "ClusterIP ports that another process of this node serves itself (node-local DNS): "
         "svcfwd leaves them to it.",
         S(local)},
        {"svcfwd_sklookup", true,
         "1: an sk_lookup program hands every service port to a few shared sockets; 0: one "
         "socket per port.",
         S(sklookup)},
        {"svcfwd_sklookup_entries", true, "Service ports in the sk_lookup map.", S(skl_entries)},
        {"svcfwd_sklookup_map_grown_total", false,
         "Times the sk_lookup map was replaced by a "
         "bigger one.",
         S(skl_grown)},
        {"svcfwd_unclaimed_total", false,
         "Connections and datagrams on a shared socket for no service port (turned away).",
         S(unclaimed)},
        {"svcfwd_udp_reply_sockets", true,
         "Sockets bound to a service address and port that UDP replies leave from.", S(replies)},
        {"svcfwd_udp_reply_socket_errors_total", false,
         "UDP flows refused: no reply socket could be bound for their destination.",
         S(reply_errors)},
        {"svcfwd_tcp_connections", true, "TCP connections relayed now.", S(conns)},
        {"svcfwd_tcp_accepted_total", false, "TCP connections accepted.", S(accepted)},
        {"svcfwd_tcp_accept_errors_total", false, "accept(2) failures.", S(accept_errors)},
        {"svcfwd_tcp_accept_pauses_total", false,
         "Times accepting paused: at --max-conns, at the descriptor budget, or out of "
         "descriptors.",
         S(accept_pauses)},
        {"svcfwd_tcp_idle_closed_total", false, "TCP connections closed for idleness.",
         S(idle_closed)},
        {"svcfwd_tcp_spliced_bytes_total", false, "Bytes moved with splice(2).", S(spliced)},
        {"svcfwd_tcp_pipes", true, "Pipes held for splicing.", S(pipes)},
        {"svcfwd_udp_flows", true, "UDP flows now.", S(flows)},
        {"svcfwd_udp_flows_created_total", false, "UDP flows started.", S(flows_created)},
        {"svcfwd_udp_flows_expired_total", false, "UDP flows ended idle.", S(flows_expired)},
        {"svcfwd_udp_flows_evicted_total", false, "UDP flows pushed out by newer ones.",
         S(flows_evicted)},
        {"svcfwd_udp_flows_answered_total", false,
         "UDP flows of request/response ports (--udp-answer-ports) ended when answered.",
         S(flows_answered)},
        {"svcfwd_udp_sockets", true,
         "Sockets UDP flows send from (shared by flows to different endpoints).", S(udp_sockets)},
        {"svcfwd_udp_flows_refused_total", false,
         "UDP flows refused: no socket to send from within the descriptor budget.",
         S(flows_no_socket)},
        {"svcfwd_udp_send_drops_total", false,
         "UDP datagrams dropped: the kernel's send buffer was full.", S(udp_send_drops)},
        {"svcfwd_udp_strays_total", false,
         "UDP datagrams on a flow socket from no endpoint a flow sends to (dropped).",
         S(udp_strays)},
        {"svcfwd_fd_limit", true, "The process's descriptor limit (RLIMIT_NOFILE).", S(fd_limit)},
        {"svcfwd_fd_budget", true,
         "Descriptors that listeners, TCP connections and UDP sockets may hold together; the "
         "rest is the process's own.",
         S(fd_budget)},
        {"svcfwd_fast_path", true,
         "1: the tc program rewrites flows to local endpoints in the kernel; 0: the relay "
         "takes everything.",
         S(nat_on)},
        {"svcfwd_fast_path_interfaces", true, "Interfaces the fast path is attached to.",
         S(nat_ifs)},
        {"svcfwd_fast_path_destinations", true,
         "Service addresses and ports the fast path takes (the rest are relayed).", S(nat_dests)},
        {"svcfwd_fast_path_map_failures_total", false,
         "Destinations or endpoint lists the fast path's maps would not take (relayed).",
         S(nat_failed)},
        {"svcfwd_endpoints_set_aside", true, "Endpoints set aside after failures.", S(aside)},
        {"svcfwd_model_generation", true, "The model applied last.", S(generation)},
};

/* With --etcd: this node's registration (nodeagent.h). */
static const struct prom_scalar node_scalars[] = {
        {"svcfwd_node_registered", true,
         "1: this node's lease is alive (its last renewal said so); 0: its pods are out.",
         S(node_registered)},
        {"svcfwd_node_registrations_total", false,
         "Times the node was registered: at start, and after its lease lapsed.",
         S(node_registrations)},
        {"svcfwd_node_lease_renewals_total", false, "Lease renewals.", S(node_renewals)},
        {"svcfwd_node_etcd_failures_total", false,
         "Calls to etcd for the node's registration that failed.", S(node_failures)},
};

/* The readiness probes of this node's pods (podprobe.h). */
static const struct prom_scalar probe_scalars[] = {
        {"svcfwd_probed_pods", true, "Pods of this node with readiness probes run here.",
         S(probed_pods)},
        {"svcfwd_probed_pods_ready", true, "Of those, the ones their probes find ready.",
         S(probed_ready)},
        {"svcfwd_probes", true, "Readiness probes run.", S(probes)},
        {"svcfwd_probe_attempts_total", false, "Probe attempts started.", S(probe_attempts)},
        {"svcfwd_probe_sockets", true,
         "Descriptors the probes hold: attempts in flight, and sockets kept for the next ones "
         "(at most 256).",
         S(probe_sockets)},
        {"svcfwd_podstatus_writes_total", false,
         "PodStatus puts and deletes written to etcd (or status files written).", S(status_writes)},
        {"svcfwd_podstatus_write_failures_total", false,
         "Transactions of PodStatus writes that failed (and were tried again).",
         S(status_failures)},
};
#undef S

void
fwd_metrics_text(void *server, struct evbuffer *b)
{
	struct fwd_server *s = server;
	const struct fwd_pools *ps = &s->pools;
	struct snapshot v;
	uint64_t used[FWD_FD_KINDS], share[FWD_FD_KINDS], nat[FNAT_C_COUNTERS];
	struct nat_snap *snap;
	size_t n_snap;
	struct counts lc = {0};
	uint64_t now = now_ms();
	struct htab_iter it;
	size_t aside = 0;

	fwd_listen_each(s, count_listener, &lc);
	snap = nat_snapshot(s, &n_snap);
	POOL(b, ps, "svcfwd_service_connections_total",
	     "TCP connections relayed, or UDP flows started, per service port (the fast path's "
	     "included).",
	     "counter", conns, NAT(flows));
	POOL(b, ps, "svcfwd_service_received_bytes_total", "Bytes from clients.", "counter",
	     bytes_in, NAT(bytes_in));
	POOL(b, ps, "svcfwd_service_sent_bytes_total", "Bytes to clients.", "counter", bytes_out,
	     NAT(bytes_out));
	POOL(b, ps, "svcfwd_service_connect_failures_total",
	     "Connects to an endpoint that failed (refused or timed out; on the fast path, a SYN "
	     "refused or unanswered, or ICMP unreachable).",
	     "counter", connect_failures, NAT(failures));
	POOL(b, ps, "svcfwd_service_retries_total",
	     "Connects retried on another endpoint after a failure.", "counter", retries, NO_NAT);
	POOL(b, ps, "svcfwd_service_rejected_total",
	     "Clients turned away: no endpoint answered, or a source range excluded them.",
	     "counter", rejected, NO_NAT);
	POOL(b, ps, "svcfwd_service_received_packets_total",
	     "UDP datagrams from clients (and on the fast path, TCP segments).", "counter",
	     packets_in, NAT(packets_in));
	POOL(b, ps, "svcfwd_service_sent_packets_total",
	     "UDP datagrams to clients (and on the fast path, TCP segments).", "counter",
	     packets_out, NAT(packets_out));
	free(snap);
	prom_family(b, "svcfwd_service_endpoints", "gauge", "Endpoints taking new traffic.");
	for (struct htab_node *n = htab_first(&it, &ps->table); n != NULL;
	     n = htab_iter_next(&it)) {
		const struct fwd_pool *p = htab_item(n, struct fwd_pool, node);

		pool_sample(b, "svcfwd_service_endpoints", p, p->n_members);
	}
	prom_family(b, "svcfwd_service_no_local_endpoints", "gauge",
	            "1 when a Local traffic policy leaves the port without endpoints on this node "
	            "(its socket is closed).");
	for (struct htab_node *n = htab_first(&it, &ps->table); n != NULL;
	     n = htab_iter_next(&it)) {
		const struct fwd_pool *p = htab_item(n, struct fwd_pool, node);

		pool_sample(b, "svcfwd_service_no_local_endpoints", p, p->no_local ? 1 : 0);
	}
	BACKEND(b, &ps->backends, "svcfwd_endpoint_connections_total",
	        "Connections or UDP flows sent to the endpoint.", "counter", conns, false);
	BACKEND(b, &ps->backends, "svcfwd_endpoint_active_connections",
	        "Open connections and UDP flows to the endpoint.", "gauge", active, true);
	BACKEND(b, &ps->backends, "svcfwd_endpoint_sent_bytes_total", "Bytes to the endpoint.",
	        "counter", bytes_to, false);
	BACKEND(b, &ps->backends, "svcfwd_endpoint_received_bytes_total",
	        "Bytes from the endpoint.", "counter", bytes_from, false);
	BACKEND(b, &ps->backends, "svcfwd_endpoint_connect_failures_total",
	        "Failed connects to the endpoint.", "counter", connect_failures, false);
	prom_family(b, "svcfwd_endpoint_set_aside", "gauge",
	            "Whether the endpoint is set aside after failures.");
	for (struct htab_node *n = htab_first(&it, &ps->backends.table); n != NULL;
	     n = htab_iter_next(&it)) {
		const struct fwd_backend *e = htab_item(n, struct fwd_backend, node);
		bool a = fwd_backend_aside(e, now);
		char label[FWD_BACKEND_LABEL_LEN];

		aside += a;
		evbuffer_add_printf(b,
		                    "svcfwd_endpoint_set_aside{endpoint=\"%s\",protocol=\"%s\"}"
		                    " %d\n",
		                    fwd_backend_label(e, label), cluster_proto_str(e->proto),
		                    a ? 1 : 0);
	}
	prom_family(b, "svcfwd_listeners", "gauge", "Sockets listening, by protocol.");
	prom_u64(b, "svcfwd_listeners", "{protocol=\"TCP\"}", lc.tcp);
	prom_u64(b, "svcfwd_listeners", "{protocol=\"UDP\"}", lc.udp);
	prom_reloads(b, "svcfwd", &s->reload);
	prom_process(b);
	if (s->opts.etcd.urls != NULL)
		prom_store(b, "svcfwd", &s->store);
	v = (struct snapshot){
	        .idle_ports = s->n_idle,
	        .unbound = s->n_unbound,
	        .local = s->n_local,
	        .sklookup = s->sklookup,
	        .skl_entries = s->sklookup ? s->skl.n : 0,
	        .skl_grown = s->skl.grown,
	        .unclaimed = s->stats.unclaimed,
	        .replies = s->replies.n,
	        .reply_errors = s->stats.reply_socket_errors,
	        .conns = s->conns.n,
	        .accepted = s->stats.accepted,
	        .accept_errors = s->stats.accept_errors,
	        .accept_pauses = s->stats.accept_pauses,
	        .idle_closed = s->stats.conns_closed_idle,
	        .spliced = s->stats.splice_bytes,
	        .pipes = s->n_pipes,
	        .flows = s->flows.n,
	        .flows_created = s->stats.flows_created,
	        .flows_expired = s->stats.flows_expired,
	        .flows_evicted = s->stats.flows_evicted,
	        .flows_answered = s->stats.flows_answered,
	        .aside = aside,
	        .udp_sockets = fwd_udp_sockets(s),
	        .flows_no_socket = s->stats.flows_no_socket,
	        .udp_send_drops = s->stats.udp_send_drops,
	        .udp_strays = s->stats.udp_strays,
	        .fd_limit = s->fds.limit,
	        .fd_budget = s->fds.budget,
	        .nat_on = s->nat != NULL,
	        .nat_ifs = s->nat != NULL ? s->nat_ifs : 0,
	        .nat_dests = fwd_nat_dests(s),
	        .nat_failed = s->nat_failed,
	        .generation = s->reload.generation,
	        .node_registered = (uint64_t)atomic_load(&s->agent_status.registered),
	        .node_registrations = atomic_load(&s->agent_status.registrations),
	        .node_renewals = atomic_load(&s->agent_status.renewals),
	        .node_failures = atomic_load(&s->agent_status.failures),
	        .probed_pods = atomic_load(&s->agent_status.probed_pods),
	        .probes = atomic_load(&s->agent_status.probes),
	        .probed_ready = atomic_load(&s->agent_status.probed_ready),
	        .probe_attempts = atomic_load(&s->agent_status.probe_attempts),
	        .probe_sockets = atomic_load(&s->agent_status.probe_sockets),
	        .status_writes = atomic_load(&s->agent_status.status_writes),
	        .status_failures = atomic_load(&s->agent_status.status_failures),
	};
	prom_scalars(b, scalars, sizeof(scalars) / sizeof(scalars[0]), &v);
	if (s->opts.etcd.urls != NULL)
		prom_scalars(b, node_scalars, sizeof(node_scalars) / sizeof(node_scalars[0]), &v);
	prom_scalars(b, probe_scalars, sizeof(probe_scalars) / sizeof(probe_scalars[0]), &v);
	for (int k = 0; k < FWD_FD_KINDS; k++) {
		used[k] = s->fds.used[k];
		share[k] = s->fds.share[k];
	}
	if (s->nat != NULL) {
		static const char *const names[FNAT_C_COUNTERS] = {
		        [FNAT_C_FORWARD] = "forward",  [FNAT_C_REVERSE] = "reverse",
		        [FNAT_C_PASS] = "relayed",     [FNAT_C_NEW] = "new_flow",
		        [FNAT_C_REPICK] = "moved",     [FNAT_C_REFUSED] = "endpoint_refused",
		        [FNAT_C_NO_ROUTE] = "no_route"};

		fwd_nat_counters(s->nat, nat);
		prom_family(
		        b, "svcfwd_fast_path_packets_total", "counter",
		        "Packets the fast path saw, by what it did: rewrote toward an endpoint "
		        "(forward) or a client (reverse), left to the relay, started or moved a "
		        "flow, found an endpoint refusing, found no route.");
		for (int k = 0; k < FNAT_C_COUNTERS; k++) {
			char labels[48];

			snprintf(labels, sizeof(labels), "{event=\"%s\"}", names[k]);
			prom_u64(b, "svcfwd_fast_path_packets_total", labels, nat[k]);
		}
	}
	fd_kinds(b, "svcfwd_fd_used", "gauge", "Descriptors of the budget held, by kind.", used);
	fd_kinds(b, "svcfwd_fd_share", "gauge",
	         "The most each kind may hold of the budget (shares overlap).", share);
	fd_kinds(b, "svcfwd_fd_refused_total", "counter",
	         "Descriptors asked of the budget and refused, by kind.", s->fds.refused);
	prom_family(b, "svcfwd_port_served_locally", "gauge",
	            "Each ClusterIP port left to the process of this node that serves it.");
	for (size_t i = 0; i < s->n_local_ports; i++) {
		const struct fwd_local_port *p = &s->local_ports[i];
		struct fwd_listener *l = fwd_listen_find(s, p->proto, &p->addr, p->port);
		char a[NETADDR_STRLEN], labels[NETADDR_STRLEN + 64];

		if (l == NULL || !l->local || l->wildcard)
			continue;
		snprintf(labels, sizeof(labels), "{address=\"%s\",port=\"%u\",protocol=\"%s\"}",
		         netaddr_str(&p->addr, a), p->port, cluster_proto_str(p->proto));
		prom_u64(b, "svcfwd_port_served_locally", labels, 1);
	}
	if (s->opts.etcd.urls != NULL) {
		char lb[8192];

		prom_family(b, "svcfwd_lb_address_held", "gauge",
		            "LoadBalancer addresses: 1 where this node holds it (on its interface, "
		            "announced); holder names the node etcd says holds it.");
		nodeagent_lb_metrics(s->agent, lb, sizeof(lb));
		evbuffer_add(b, lb, strlen(lb));
	}
}
