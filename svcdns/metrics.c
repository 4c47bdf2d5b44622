/* metrics.c -- svcdns's counters and their Prometheus text for /metrics. */
#include "metrics.h"

#include <event2/buffer.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "server.h"
#include "tcp.h"
#include "udp.h"
#include "upstream.h"

/* Upper bounds of the latency buckets, in nanoseconds (the last is +Inf). */
static const uint64_t bucket_ns[DNSD_METRIC_BUCKETS - 1] = {
        10000,   25000,   50000,    100000,   250000,    500000,     1000000,
        2500000, 5000000, 10000000, 50000000, 250000000, 1000000000,
};
static const char *const bucket_text[DNSD_METRIC_BUCKETS - 1] = {
        "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001",
        "0.0025",  "0.005",    "0.01",    "0.05",   "0.25",    "1",
};
static const char *const type_names[DNSD_METRIC_TYPES] = {"A",     "AAAA", "SRV", "PTR", "TXT",
                                                          "CNAME", "SOA",  "NS",  "ANY", "other"};
static const char *const rcode_names[DNSD_METRIC_RCODES] = {
        "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",   "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",  "DSOTYPENI",
        "RCODE12",  "RCODE13", "RCODE14",  "RCODE15",  "BADVERS",  "BADKEY",
        "BADTIME",  "BADMODE", "BADNAME",  "BADALG",   "BADTRUNC", "BADCOOKIE"};
/* svcdns_limit_total{limit=...}: every bound that turned something away. */
static const char *const drop_names[DNSD_DROP_COUNT] = {
        [DNSD_DROP_MALFORMED] = "malformed",       [DNSD_DROP_RECURSION] = "recursion_refused",
        [DNSD_DROP_RRL] = "rrl_dropped",           [DNSD_DROP_RRL_SLIP] = "rrl_truncated",
        [DNSD_DROP_QUEUE] = "queue_full",          [DNSD_DROP_INFLIGHT] = "upstream_inflight",
        [DNSD_DROP_WAITERS] = "upstream_waiters",  [DNSD_DROP_WAITING] = "upstream_waiting",
        [DNSD_DROP_TCP_FULL] = "tcp_full",         [DNSD_DROP_TCP_EVICTED] = "tcp_evicted",
        [DNSD_DROP_TCP_SLOW] = "tcp_slow_message",
};

/* One writer per counter: a plain load and store is enough, and costs no locked instruction. */
void
dnsd_metrics_add(_Atomic uint64_t *f, uint64_t n)
{
	atomic_store_explicit(f, atomic_load_explicit(f, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

/* The index of QTYPE among type_names. */
static int
type_index(uint16_t qtype)
{
	static const uint16_t types[DNSD_METRIC_TYPES - 1] = {DNSW_T_A,   DNSW_T_AAAA, DNSW_T_SRV,
	                                                      DNSW_T_PTR, DNSW_T_TXT,  DNSW_T_CNAME,
	                                                      DNSW_T_SOA, DNSW_T_NS,   DNSW_T_ANY};
	int t = 0;

	while (t < DNSD_METRIC_TYPES - 1 && types[t] != qtype)
		t++;
	return t;
}

void
dnsd_metrics_query(struct dnsd_metrics *m, bool tcp, bool v6, uint16_t qtype)
{
	dnsd_metrics_add(&m->by_type[tcp ? 1 : 0][v6 ? 1 : 0][type_index(qtype)], 1);
}

void
dnsd_metrics_answer(struct dnsd_metrics *m, uint16_t qtype, uint16_t rcode, bool truncated,
                    uint64_t ns)
{
	int t = type_index(qtype);
	size_t b = 0;

	while (b < DNSD_METRIC_BUCKETS - 1 && ns > bucket_ns[b])
		b++;
	dnsd_metrics_add(&m->by_rcode[rcode < DNSD_METRIC_RCODES ? rcode : 0], 1);
	dnsd_metrics_add(&m->latency[t][b], 1);
	dnsd_metrics_add(&m->latency_sum_ns[t], ns);
	if (truncated)
		dnsd_metrics_add(&m->truncated, 1);
}

static uint64_t
rd(const _Atomic uint64_t *f)
{
	return atomic_load_explicit(f, memory_order_relaxed);
}

/* Every unlabelled number /metrics shows, read once. */
struct snapshot {
	uint64_t truncated, forwarded;
	uint64_t cache_hits, cache_misses, cache_evictions, cache_entries;
	uint64_t up_sent, up_coalesced, up_shared, up_inflight, up_lingering, up_waiting,
	        up_channels;
	uint64_t queue;
	uint64_t tcp_conns, tcp_accepted, tcp_pauses;
	uint64_t rrl_passed;
	uint64_t services, pods, names, bytes, generation;
	uint64_t serial, journal_changes, journal_bytes;
};

#define S(field) offsetof(struct snapshot, field)
static const struct prom_scalar scalars[] = {
        {"svcdns_dns_truncated_total", false, "Answers sent with TC set.", S(truncated)},
        {"svcdns_forward_requests_total", false, "Queries for names outside the cluster.",
         S(forwarded)},
        {"svcdns_cache_hits_total", false, "Forwarded questions answered from the cache.",
         S(cache_hits)},
        {"svcdns_cache_misses_total", false, "Forwarded questions not in the cache.",
         S(cache_misses)},
        {"svcdns_cache_evictions_total", false, "Cache entries pushed out by newer ones.",
         S(cache_evictions)},
        {"svcdns_cache_entries", true, "Answers in the cache.", S(cache_entries)},
        {"svcdns_upstream_requests_total", false, "Questions sent upstream.", S(up_sent)},
        {"svcdns_upstream_coalesced_total", false,
         "Queries that waited on the same question already upstream.", S(up_coalesced)},
        {"svcdns_upstream_shared_socket_total", false,
         "Questions sent on a socket shared with others (more out than --upstream-sockets).",
         S(up_shared)},
        {"svcdns_upstream_inflight", true, "Questions upstream, unanswered.", S(up_inflight)},
        {"svcdns_upstream_lingering", true,
         "Questions past their deadline that c-ares still holds.", S(up_lingering)},
        {"svcdns_upstream_waiting", true, "Queries waiting on an upstream answer.", S(up_waiting)},
        {"svcdns_upstream_channels", true, "c-ares channels open.", S(up_channels)},
        {"svcdns_queue_length", true, "Questions the UDP workers handed to the main loop.",
         S(queue)},
        {"svcdns_tcp_connections", true, "Open TCP connections.", S(tcp_conns)},
        {"svcdns_tcp_accepted_total", false, "TCP connections accepted.", S(tcp_accepted)},
        {"svcdns_tcp_accept_pauses_total", false,
         "Times accepting paused because descriptors ran out.", S(tcp_pauses)},
        {"svcdns_rrl_passed_total", false, "Answers within the response rate limit.",
         S(rrl_passed)},
        {"svcdns_model_services", true, "Services in the model.", S(services)},
        {"svcdns_model_pods", true, "Pods in the model.", S(pods)},
        {"svcdns_model_names", true, "DNS names in the zone.", S(names)},
        {"svcdns_model_bytes", true, "Memory of the zone's answers.", S(bytes)},
        {"svcdns_model_generation", true, "Reloads so far, good or bad.", S(generation)},
        {"svcdns_zone_serial", true, "The SOA serial of the zone served.", S(serial)},
        {"svcdns_ixfr_journal_changes", true,
         "Changes of the zone kept for incremental transfers (IXFR).", S(journal_changes)},
        {"svcdns_ixfr_journal_bytes", true, "Memory of those changes.", S(journal_bytes)},
};
#undef S

/* CoreDNS's "dns://:53": the first address svcdns listens on. */
static void
server_label(const struct dnsd_server *s, char *buf, size_t len)
{
	char addr[80];

	if (s->opts.n_listen == 0) {
		snprintf(buf, len, "dns://:53");
		return;
	}
	addr_str(&s->opts.listen[0], addr, sizeof(addr));
	if (addr_is_any(&s->opts.listen[0]))
		snprintf(buf, len, "dns://%s",
		         strrchr(addr, ':') != NULL ? strrchr(addr, ':') : addr);
	else
		snprintf(buf, len, "dns://%s", addr);
}

/* Sum every loop's counters. */
static void
collect(struct dnsd_server *s, struct dnsd_metrics *sum)
{
	size_t n = dnsd_udp_workers(s->udp);

	memset(sum, 0, sizeof(*sum));
	for (size_t i = 0; i <= n; i++) {
		struct dnsd_metrics *m = i < n ? dnsd_udp_metrics(s->udp, i) : &s->metrics;

		for (int p = 0; p < 2; p++) {
			for (int f = 0; f < 2; f++) {
				for (int t = 0; t < DNSD_METRIC_TYPES; t++)
					sum->by_type[p][f][t] += rd(&m->by_type[p][f][t]);
			}
		}
		for (int r = 0; r < DNSD_METRIC_RCODES; r++)
			sum->by_rcode[r] += rd(&m->by_rcode[r]);
		for (int t = 0; t < DNSD_METRIC_TYPES; t++) {
			for (int b = 0; b < DNSD_METRIC_BUCKETS; b++)
				sum->latency[t][b] += rd(&m->latency[t][b]);
			sum->latency_sum_ns[t] += rd(&m->latency_sum_ns[t]);
		}
		for (int d = 0; d < DNSD_DROP_COUNT; d++)
			sum->drops[d] += rd(&m->drops[d]);
		sum->truncated += rd(&m->truncated);
		sum->forwarded += rd(&m->forwarded);
		for (int a = 0; a < 2; a++)
			sum->autopath[a] += rd(&m->autopath[a]);
		for (int x = 0; x < DNSD_XFR_COUNT; x++)
			sum->xfr[x] += rd(&m->xfr[x]);
	}
}

static void
snapshot(struct dnsd_server *s, const struct dnsd_metrics *m, struct snapshot *v)
{
	struct dnsc_stats cs = {0};
	struct dnsd_upstream_stats us = {0};
	struct dnsd_tcp_stats ts;
	struct rrl_stats rs = {0};
	struct dnsz *z = dnsd_server_zone(s);

	if (s->cache != NULL)
		dnsc_stats(s->cache, &cs);
	if (s->up != NULL)
		dnsd_upstream_stats(s->up, &us);
	if (s->rrl != NULL)
		rrl_stats(s->rrl, &rs);
	dnsd_tcp_stats(s->tcp, &ts);
	*v = (struct snapshot){
	        .truncated = m->truncated,
	        .forwarded = m->forwarded,
	        .cache_hits = cs.hits,
	        .cache_misses = cs.misses,
	        .cache_evictions = cs.evictions,
	        .cache_entries = cs.entries,
	        .up_sent = us.sent,
	        .up_coalesced = us.coalesced,
	        .up_shared = us.shared,
	        .up_inflight = us.inflight,
	        .up_lingering = us.lingering,
	        .up_waiting = us.waiting,
	        .up_channels = us.channels,
	        .tcp_conns = ts.conns,
	        .tcp_accepted = ts.accepted,
	        .tcp_pauses = ts.accept_pauses,
	        .rrl_passed = rs.passed,
	        .services = z->n_services,
	        .pods = z->n_pods,
	        .names = z->n_nodes,
	        .bytes = z->bytes,
	        .generation = z->generation,
	        .serial = z->serial,
	};
	dnsz_unref(z);
	{
		struct dnsx_journal *j = dnsd_server_journal(s);

		v->journal_changes = dnsx_journal_changes(j);
		v->journal_bytes = dnsx_journal_bytes(j);
		dnsx_journal_unref(j);
	}
	pthread_mutex_lock(&s->q_lock);
	v->queue = s->q_len;
	pthread_mutex_unlock(&s->q_lock);
}

void
dnsd_metrics_text(void *arg, struct evbuffer *b)
{
	struct dnsd_server *s = arg;
	struct dnsd_metrics m;
	struct dnsd_upstream_stats us = {0};
	struct snapshot v;
	char labels[256], server[128];

	collect(s, &m);
	snapshot(s, &m, &v);
	if (s->up != NULL)
		dnsd_upstream_stats(s->up, &us);
	/* CoreDNS's server and zone labels: one server, for the whole tree. */
	server_label(s, server, sizeof(server));
	prom_family(b, "svcdns_dns_requests_total", "counter",
	            "Queries received, by transport, address family (1 IPv4, 2 IPv6) and type.");
	for (int p = 0; p < 2; p++) {
		for (int f = 0; f < 2; f++) {
			for (int t = 0; t < DNSD_METRIC_TYPES; t++) {
				snprintf(labels, sizeof(labels),
				         "{server=\"%s\",zone=\".\",proto=\"%s\",family=\"%d\","
				         "type=\"%s\"}",
				         server, p ? "tcp" : "udp", f + 1, type_names[t]);
				prom_u64(b, "svcdns_dns_requests_total", labels,
				         m.by_type[p][f][t]);
			}
		}
	}
	prom_family(b, "svcdns_dns_responses_total", "counter", "Answers sent, by rcode.");
	for (int r = 0; r < DNSD_METRIC_RCODES; r++) {
		if (r <= 5 || m.by_rcode[r] > 0 || r == 16) {
			snprintf(labels, sizeof(labels), "{server=\"%s\",zone=\".\",rcode=\"%s\"}",
			         server, rcode_names[r]);
			prom_u64(b, "svcdns_dns_responses_total", labels, m.by_rcode[r]);
		}
	}
	prom_family(b, "svcdns_dns_request_duration_seconds", "histogram",
	            "Time from a query's arrival to its answer, by type.");
	for (int t = 0; t < DNSD_METRIC_TYPES; t++) {
		uint64_t cum = 0;

		for (int i = 0; i < DNSD_METRIC_BUCKETS; i++) {
			cum += m.latency[t][i];
			snprintf(labels, sizeof(labels),
			         "{server=\"%s\",zone=\".\",type=\"%s\",le=\"%s\"}", server,
			         type_names[t],
			         i < DNSD_METRIC_BUCKETS - 1 ? bucket_text[i] : "+Inf");
			prom_u64(b, "svcdns_dns_request_duration_seconds_bucket", labels, cum);
		}
		snprintf(labels, sizeof(labels), "{server=\"%s\",zone=\".\",type=\"%s\"}", server,
		         type_names[t]);
		evbuffer_add_printf(b, "svcdns_dns_request_duration_seconds_sum%s %.9f\n", labels,
		                    (double)m.latency_sum_ns[t] / 1e9);
		prom_u64(b, "svcdns_dns_request_duration_seconds_count", labels, cum);
	}
	prom_family(b, "svcdns_dns_dropped_total", "counter",
	            "Packets that were not queries: no answer.");
	prom_u64(b, "svcdns_dns_dropped_total", NULL, m.drops[DNSD_DROP_MALFORMED]);
	prom_family(b, "svcdns_limit_total", "counter",
	            "Queries refused or dropped, and TCP connections closed, by a limit.");
	for (int d = 1; d < DNSD_DROP_COUNT; d++) {
		snprintf(labels, sizeof(labels), "{limit=\"%s\"}", drop_names[d]);
		prom_u64(b, "svcdns_limit_total", labels, m.drops[d]);
	}
	prom_scalars(b, scalars, sizeof(scalars) / sizeof(scalars[0]), &v);
	prom_family(b, "svcdns_upstream_errors_total", "counter",
	            "Upstream questions that got no usable answer.");
	prom_u64(b, "svcdns_upstream_errors_total", "{reason=\"timeout\"}", us.timeouts);
	prom_u64(b, "svcdns_upstream_errors_total", "{reason=\"failure\"}", us.failures);
	prom_u64(b, "svcdns_upstream_errors_total", "{reason=\"refused\"}", us.refused);
	prom_u64(b, "svcdns_upstream_errors_total", "{reason=\"malformed\"}", us.malformed);
	prom_family(b, "svcdns_cache_stale_answers_total", "counter",
	            "Answers from expired cache entries (RFC 8767): the upstreams failed or were "
	            "slower than 1.8 s.");
	prom_u64(b, "svcdns_cache_stale_answers_total", NULL, us.stale);
	prom_family(b, "svcdns_autopath_answers_total", "counter",
	            "Queries a pod made through its search path, answered with a CNAME to the name "
	            "that exists: of the cluster, or resolved upstream.");
	prom_u64(b, "svcdns_autopath_answers_total", "{to=\"cluster\"}", m.autopath[0]);
	prom_u64(b, "svcdns_autopath_answers_total", "{to=\"upstream\"}", m.autopath[1]);
	prom_family(b, "svcdns_zone_transfers_total", "counter",
	            "Zone transfers asked of svcdns, by how they were answered.");
	prom_u64(b, "svcdns_zone_transfers_total", "{type=\"full\"}", m.xfr[DNSD_XFR_AXFR]);
	prom_u64(b, "svcdns_zone_transfers_total", "{type=\"incremental\"}", m.xfr[DNSD_XFR_IXFR]);
	prom_u64(b, "svcdns_zone_transfers_total", "{type=\"refused\"}", m.xfr[DNSD_XFR_REFUSED]);
	prom_family(b, "svcdns_zone_transfer_records_total", "counter",
	            "Records sent in zone transfers.");
	prom_u64(b, "svcdns_zone_transfer_records_total", NULL, m.xfr[DNSD_XFR_RECORDS]);
	prom_family(b, "svcdns_notify_total", "counter",
	            "NOTIFY messages to secondaries: sent (each try), answered, given up.");
	prom_u64(b, "svcdns_notify_total", "{result=\"sent\"}", m.xfr[DNSD_XFR_NOTIFY]);
	prom_u64(b, "svcdns_notify_total", "{result=\"answered\"}", m.xfr[DNSD_XFR_NOTIFY_ACK]);
	prom_u64(b, "svcdns_notify_total", "{result=\"lost\"}", m.xfr[DNSD_XFR_NOTIFY_LOST]);
	prom_reloads(b, "svcdns", &s->reload);
	prom_process(b);
	if (s->opts.etcd.urls != NULL)
		prom_store(b, "svcdns", &s->store);
}
