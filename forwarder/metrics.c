/* metrics.c -- svcfwd's counters as Prometheus text for /metrics: per service port, per
 * endpoint, and for the process. */
#include <event2/buffer.h>
#include <stdio.h>

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

static void
pool_metric(struct evbuffer *b, const struct fwd_pools *ps, const char *name, size_t offset)
{
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &ps->table); n != NULL;
	     n = htab_iter_next(&it)) {
		const struct fwd_pool *p = htab_item(n, struct fwd_pool, node);
		uint64_t v = *(const uint64_t *)((const char *)p + offset);

		evbuffer_add_printf(b,
		                    "%s{namespace=\"%s\",service=\"%s\",port=\"%s\","
		                    "protocol=\"%s\",scope=\"%s\",family=\"ipv%u\"} %lu\n",
		                    name, p->ns, p->name, p->port_name, cluster_proto_str(p->proto),
		                    fwd_scope_str(p->scope), p->family, (unsigned long)v);
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

		evbuffer_add_printf(b, "%s{endpoint=\"%s\",protocol=\"%s\"} %lu\n", name, e->label,
		                    cluster_proto_str(e->proto), v);
	}
}

#define POOL(b, ps, name, help, type, field)                                                       \
	do {                                                                                       \
		evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);    \
		pool_metric(b, ps, name, offsetof(struct fwd_pool, field));                        \
	} while (0)
#define BACKEND(b, bs, name, help, type, field, u32)                                               \
	do {                                                                                       \
		evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);    \
		backend_metric(b, bs, name, offsetof(struct fwd_backend, field), u32);             \
	} while (0)

void
fwd_metrics_text(void *server, struct evbuffer *b)
{
	struct fwd_server *s = server;
	const struct fwd_pools *ps = &s->pools;
	struct counts lc = {0};
	uint64_t now = now_ms();
	struct htab_iter it;
	size_t aside = 0;

	fwd_listen_each(s, count_listener, &lc);
	POOL(b, ps, "svcfwd_service_connections_total",
	     "TCP connections relayed, or UDP flows started, per service port.", "counter", conns);
	POOL(b, ps, "svcfwd_service_received_bytes_total", "Bytes from clients.", "counter",
	     bytes_in);
	POOL(b, ps, "svcfwd_service_sent_bytes_total", "Bytes to clients.", "counter", bytes_out);
	POOL(b, ps, "svcfwd_service_connect_failures_total",
	     "Connects to an endpoint that failed (refused or timed out).", "counter",
	     connect_failures);
	POOL(b, ps, "svcfwd_service_retries_total",
	     "Connects retried on another endpoint after a failure.", "counter", retries);
	POOL(b, ps, "svcfwd_service_rejected_total",
	     "Clients turned away: no endpoint answered, or a source range excluded them.",
	     "counter", rejected);
	POOL(b, ps, "svcfwd_service_received_packets_total", "UDP datagrams from clients.",
	     "counter", packets_in);
	POOL(b, ps, "svcfwd_service_sent_packets_total", "UDP datagrams to clients.", "counter",
	     packets_out);
	evbuffer_add_printf(b, "# HELP svcfwd_service_endpoints Endpoints taking new traffic.\n"
	                       "# TYPE svcfwd_service_endpoints gauge\n");
	for (struct htab_node *n = htab_first(&it, &ps->table); n != NULL;
	     n = htab_iter_next(&it)) {
		const struct fwd_pool *p = htab_item(n, struct fwd_pool, node);

		evbuffer_add_printf(b,
		                    "svcfwd_service_endpoints{namespace=\"%s\",service=\"%s\","
		                    "port=\"%s\",protocol=\"%s\",scope=\"%s\",family=\"ipv%u\"}"
		                    " %zu\n",
		                    p->ns, p->name, p->port_name, cluster_proto_str(p->proto),
		                    fwd_scope_str(p->scope), p->family, p->n_members);
	}
	evbuffer_add_printf(b, "# HELP svcfwd_service_no_local_endpoints 1 when a Local traffic "
	                       "policy leaves the port without endpoints on this node (its socket "
	                       "is closed).\n# TYPE svcfwd_service_no_local_endpoints gauge\n");
	for (struct htab_node *n = htab_first(&it, &ps->table); n != NULL;
	     n = htab_iter_next(&it)) {
		const struct fwd_pool *p = htab_item(n, struct fwd_pool, node);

		evbuffer_add_printf(b,
		                    "svcfwd_service_no_local_endpoints{namespace=\"%s\","
		                    "service=\"%s\",port=\"%s\",protocol=\"%s\",scope=\"%s\","
		                    "family=\"ipv%u\"} %d\n",
		                    p->ns, p->name, p->port_name, cluster_proto_str(p->proto),
		                    fwd_scope_str(p->scope), p->family, p->no_local ? 1 : 0);
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
	evbuffer_add_printf(b, "# HELP svcfwd_endpoint_set_aside Whether the endpoint is set "
	                       "aside after failures.\n# TYPE svcfwd_endpoint_set_aside gauge\n");
	for (struct htab_node *n = htab_first(&it, &ps->backends.table); n != NULL;
	     n = htab_iter_next(&it)) {
		const struct fwd_backend *e = htab_item(n, struct fwd_backend, node);
		bool a = fwd_backend_aside(e, now);

		aside += a;
		evbuffer_add_printf(b,
		                    "svcfwd_endpoint_set_aside{endpoint=\"%s\",protocol=\"%s\"}"
		                    " %d\n",
		                    e->label, cluster_proto_str(e->proto), a ? 1 : 0);
	}
	evbuffer_add_printf(
	        b,
	        "# TYPE svcfwd_listeners gauge\nsvcfwd_listeners{protocol=\"TCP\"} %zu\n"
	        "svcfwd_listeners{protocol=\"UDP\"} %zu\n"
	        "# TYPE svcfwd_ports_without_endpoints gauge\nsvcfwd_ports_without_endpoints %zu\n"
	        "# TYPE svcfwd_tcp_connections gauge\nsvcfwd_tcp_connections %zu\n"
	        "# TYPE svcfwd_tcp_accepted_total counter\nsvcfwd_tcp_accepted_total %lu\n"
	        "# TYPE svcfwd_tcp_accept_errors_total counter\nsvcfwd_tcp_accept_errors_total "
	        "%lu\n"
	        "# TYPE svcfwd_tcp_accept_pauses_total counter\nsvcfwd_tcp_accept_pauses_total "
	        "%lu\n"
	        "# TYPE svcfwd_tcp_idle_closed_total counter\nsvcfwd_tcp_idle_closed_total %lu\n"
	        "# TYPE svcfwd_tcp_spliced_bytes_total counter\nsvcfwd_tcp_spliced_bytes_total "
	        "%lu\n"
	        "# TYPE svcfwd_tcp_pipes gauge\nsvcfwd_tcp_pipes %zu\n"
	        "# TYPE svcfwd_udp_flows gauge\nsvcfwd_udp_flows %zu\n"
	        "# TYPE svcfwd_udp_flows_created_total counter\nsvcfwd_udp_flows_created_total "
	        "%lu\n"
	        "# TYPE svcfwd_udp_flows_expired_total counter\nsvcfwd_udp_flows_expired_total "
	        "%lu\n"
	        "# TYPE svcfwd_udp_flows_evicted_total counter\nsvcfwd_udp_flows_evicted_total "
	        "%lu\n"
	        "# TYPE svcfwd_endpoints_set_aside gauge\nsvcfwd_endpoints_set_aside %zu\n"
	        "# TYPE svcfwd_reloads_total counter\nsvcfwd_reloads_total{result=\"ok\"} %lu\n"
	        "svcfwd_reloads_total{result=\"error\"} %lu\n"
	        "# TYPE svcfwd_model_generation gauge\nsvcfwd_model_generation %lu\n",
	        lc.tcp, lc.udp, s->n_idle, s->conns.n, (unsigned long)s->stats.accepted,
	        (unsigned long)s->stats.accept_errors, (unsigned long)s->stats.accept_pauses,
	        (unsigned long)s->stats.conns_closed_idle, (unsigned long)s->stats.splice_bytes,
	        s->n_pipes, s->flows.n, (unsigned long)s->stats.flows_created,
	        (unsigned long)s->stats.flows_expired, (unsigned long)s->stats.flows_evicted, aside,
	        (unsigned long)s->stats.reloads_ok, (unsigned long)s->stats.reloads_failed,
	        (unsigned long)s->generation);
}
