/* http.c -- svcdns's counters and their Prometheus text for /metrics. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "svcdns.h"

/* Upper bounds of the latency buckets, in nanoseconds (the last is +Inf). */
static const uint64_t bucket_ns[METRIC_BUCKETS - 1] = {
        10000,   25000,   50000,    100000,   250000,    500000,     1000000,
        2500000, 5000000, 10000000, 50000000, 250000000, 1000000000,
};
static const char *const bucket_text[METRIC_BUCKETS - 1] = {
        "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001",
        "0.0025",  "0.005",    "0.01",    "0.05",   "0.25",    "1",
};
static const char *const type_names[METRIC_TYPES] = {
        "A", "AAAA", "SRV", "PTR", "TXT", "CNAME", "SOA", "NS", "ANY", "other", "unused"};
static const char *const rcode_names[METRIC_RCODES] = {
        "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",   "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",  "DSOTYPENI",
        "RCODE12",  "RCODE13", "RCODE14",  "RCODE15",  "BADVERS",  "BADKEY",
        "BADTIME",  "BADMODE", "BADNAME",  "BADALG",   "BADTRUNC", "BADCOOKIE"};

/* One writer per counter: a plain load and store is enough, and costs no locked instruction. */
void
metrics_add(struct metrics *m, _Atomic uint64_t *f, uint64_t n)
{
	(void)m;
	atomic_store_explicit(f, atomic_load_explicit(f, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

void
metrics_query(struct metrics *m, int tcp, uint16_t qtype)
{
	int t;

	switch (qtype) {
	case DNSW_T_A:
		t = 0;
		break;
	case DNSW_T_AAAA:
		t = 1;
		break;
	case DNSW_T_SRV:
		t = 2;
		break;
	case DNSW_T_PTR:
		t = 3;
		break;
	case DNSW_T_TXT:
		t = 4;
		break;
	case DNSW_T_CNAME:
		t = 5;
		break;
	case DNSW_T_SOA:
		t = 6;
		break;
	case DNSW_T_NS:
		t = 7;
		break;
	case DNSW_T_ANY:
		t = 8;
		break;
	default:
		t = 9;
	}
	metrics_add(m, &m->by_type[tcp ? 1 : 0][t], 1);
}

void
metrics_answer(struct metrics *m, uint16_t rcode, bool truncated, uint64_t ns)
{
	size_t b = 0;

	while (b < METRIC_BUCKETS - 1 && ns > bucket_ns[b])
		b++;
	metrics_add(m, &m->by_rcode[rcode < METRIC_RCODES ? rcode : 0], 1);
	metrics_add(m, &m->latency[b], 1);
	metrics_add(m, &m->latency_sum_ns, ns);
	if (truncated)
		metrics_add(m, &m->truncated, 1);
}

static uint64_t
rd(const _Atomic uint64_t *f)
{
	return atomic_load_explicit(f, memory_order_relaxed);
}

/* Sum every loop's counters. */
static void
collect(struct server *s, struct metrics *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (size_t i = 0; i <= s->n_workers; i++) {
		struct metrics *m = i < s->n_workers ? &s->workers[i].metrics : &s->metrics;

		for (int p = 0; p < 2; p++) {
			for (int t = 0; t < METRIC_TYPES; t++)
				sum->by_type[p][t] += rd(&m->by_type[p][t]);
		}
		for (int r = 0; r < METRIC_RCODES; r++)
			sum->by_rcode[r] += rd(&m->by_rcode[r]);
		for (int b = 0; b < METRIC_BUCKETS; b++)
			sum->latency[b] += rd(&m->latency[b]);
		sum->latency_sum_ns += rd(&m->latency_sum_ns);
		sum->truncated += rd(&m->truncated);
		sum->dropped += rd(&m->dropped);
		sum->forwarded += rd(&m->forwarded);
	}
}

void
metrics_text(void *server, struct evbuffer *b)
{
	struct server *s = server;
	struct metrics m;
	struct dnsc_stats cs = {0};
	struct upstream_stats us;
	struct dnsz *z = server_zone(s);
	uint64_t cum = 0;

	collect(s, &m);
	if (s->cache != NULL)
		dnsc_stats(s->cache, &cs);
	upstream_stats(s, &us);
	evbuffer_add_printf(b, "# HELP svcdns_dns_requests_total Queries received.\n"
	                       "# TYPE svcdns_dns_requests_total counter\n");
	for (int p = 0; p < 2; p++) {
		for (int t = 0; t < METRIC_TYPES - 1; t++)
			evbuffer_add_printf(
			        b, "svcdns_dns_requests_total{proto=\"%s\",type=\"%s\"} %lu\n",
			        p ? "tcp" : "udp", type_names[t], (unsigned long)m.by_type[p][t]);
	}
	evbuffer_add_printf(b, "# HELP svcdns_dns_responses_total Answers sent, by rcode.\n"
	                       "# TYPE svcdns_dns_responses_total counter\n");
	for (int r = 0; r < METRIC_RCODES; r++) {
		if (r <= 5 || m.by_rcode[r] > 0 || r == 16)
			evbuffer_add_printf(b, "svcdns_dns_responses_total{rcode=\"%s\"} %lu\n",
			                    rcode_names[r], (unsigned long)m.by_rcode[r]);
	}
	evbuffer_add_printf(b, "# HELP svcdns_dns_request_duration_seconds Time to answer.\n"
	                       "# TYPE svcdns_dns_request_duration_seconds histogram\n");
	for (int i = 0; i < METRIC_BUCKETS; i++) {
		cum += m.latency[i];
		evbuffer_add_printf(
		        b, "svcdns_dns_request_duration_seconds_bucket{le=\"%s\"} %lu\n",
		        i < METRIC_BUCKETS - 1 ? bucket_text[i] : "+Inf", (unsigned long)cum);
	}
	evbuffer_add_printf(b,
	                    "svcdns_dns_request_duration_seconds_sum %.9f\n"
	                    "svcdns_dns_request_duration_seconds_count %lu\n",
	                    (double)m.latency_sum_ns / 1e9, (unsigned long)cum);
	evbuffer_add_printf(
	        b,
	        "# TYPE svcdns_dns_truncated_total counter\nsvcdns_dns_truncated_total %lu\n"
	        "# TYPE svcdns_dns_dropped_total counter\nsvcdns_dns_dropped_total %lu\n"
	        "# TYPE svcdns_forward_requests_total counter\nsvcdns_forward_requests_total %lu\n"
	        "# TYPE svcdns_cache_hits_total counter\nsvcdns_cache_hits_total %lu\n"
	        "# TYPE svcdns_cache_misses_total counter\nsvcdns_cache_misses_total %lu\n"
	        "# TYPE svcdns_cache_evictions_total counter\nsvcdns_cache_evictions_total %lu\n"
	        "# TYPE svcdns_cache_entries gauge\nsvcdns_cache_entries %zu\n"
	        "# TYPE svcdns_upstream_requests_total counter\nsvcdns_upstream_requests_total "
	        "%lu\n"
	        "# TYPE svcdns_upstream_coalesced_total counter\nsvcdns_upstream_coalesced_total "
	        "%lu\n"
	        "# TYPE svcdns_upstream_errors_total counter\n"
	        "svcdns_upstream_errors_total{reason=\"timeout\"} %lu\n"
	        "svcdns_upstream_errors_total{reason=\"failure\"} %lu\n"
	        "svcdns_upstream_errors_total{reason=\"malformed\"} %lu\n"
	        "# TYPE svcdns_upstream_inflight gauge\nsvcdns_upstream_inflight %lu\n"
	        "# TYPE svcdns_tcp_connections gauge\nsvcdns_tcp_connections %zu\n"
	        "# TYPE svcdns_reloads_total counter\n"
	        "svcdns_reloads_total{result=\"ok\"} %lu\nsvcdns_reloads_total{result=\"error\"} "
	        "%lu\n"
	        "# TYPE svcdns_model_services gauge\nsvcdns_model_services %zu\n"
	        "# TYPE svcdns_model_pods gauge\nsvcdns_model_pods %zu\n"
	        "# TYPE svcdns_model_names gauge\nsvcdns_model_names %zu\n"
	        "# TYPE svcdns_model_bytes gauge\nsvcdns_model_bytes %zu\n"
	        "# TYPE svcdns_model_generation gauge\nsvcdns_model_generation %lu\n",
	        (unsigned long)m.truncated, (unsigned long)m.dropped, (unsigned long)m.forwarded,
	        (unsigned long)cs.hits, (unsigned long)cs.misses, (unsigned long)cs.evictions,
	        cs.entries, (unsigned long)us.sent, (unsigned long)us.coalesced,
	        (unsigned long)us.timeouts, (unsigned long)us.failures, (unsigned long)us.malformed,
	        (unsigned long)us.inflight, tcp_conn_count(s),
	        (unsigned long)atomic_load(&s->reloads_ok),
	        (unsigned long)atomic_load(&s->reloads_failed), z->n_services, z->n_pods,
	        z->n_nodes, z->arena.total, (unsigned long)z->generation);
	dnsz_unref(z);
}
