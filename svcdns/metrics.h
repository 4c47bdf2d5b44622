/* metrics.h -- svcdns's counters: each struct has one writer (a UDP worker, or the main loop),
 * so counting is a plain store; the HTTP handler sums them into Prometheus text. */
#ifndef DNSD_METRICS_H
#define DNSD_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define DNSD_METRIC_TYPES   10 /* A AAAA SRV PTR TXT CNAME SOA NS ANY other */
#define DNSD_METRIC_RCODES  24
#define DNSD_METRIC_BUCKETS 14

/* Why a query got no answer of its own (refused or dropped): each a counter. */
enum dnsd_drop {
	DNSD_DROP_MALFORMED,   /* not a query: no answer at all */
	DNSD_DROP_RECURSION,   /* a name outside the cluster from a client not allowed recursion */
	DNSD_DROP_RRL,         /* over the response rate limit: dropped */
	DNSD_DROP_RRL_SLIP,    /* over the response rate limit: sent truncated */
	DNSD_DROP_QUEUE,       /* the queue to the main loop was full: SERVFAIL */
	DNSD_DROP_INFLIGHT,    /* too many questions upstream: REFUSED */
	DNSD_DROP_WAITERS,     /* too many clients waiting on one question: SERVFAIL */
	DNSD_DROP_WAITING,     /* too many clients waiting on upstreams in all: SERVFAIL */
	DNSD_DROP_TCP_FULL,    /* a TCP connection refused: every slot busy */
	DNSD_DROP_TCP_EVICTED, /* a TCP connection closed to make room */
	DNSD_DROP_TCP_SLOW,    /* a TCP connection closed: a message did not arrive in time */
	DNSD_DROP_COUNT,
};

enum dnsd_xfr {
	DNSD_XFR_AXFR,        /* full transfers sent (AXFR, and IXFR answered in full) */
	DNSD_XFR_IXFR,        /* incremental transfers sent */
	DNSD_XFR_REFUSED,     /* asked by a client not in --transfer-allow */
	DNSD_XFR_RECORDS,     /* records sent in transfers */
	DNSD_XFR_NOTIFY,      /* NOTIFY messages sent */
	DNSD_XFR_NOTIFY_ACK,  /* NOTIFY answered by the secondary */
	DNSD_XFR_NOTIFY_LOST, /* NOTIFY given up after its tries */
	DNSD_XFR_COUNT,
};

/* CoreDNS's metrics and labels, under the svcdns_ prefix, so that its dashboards port: requests
 * by proto, family and type; responses by rcode; latency by type. */
struct dnsd_metrics {
	_Atomic uint64_t by_type[2][2][DNSD_METRIC_TYPES]; /* [udp, tcp][IPv4, IPv6] */
	_Atomic uint64_t by_rcode[DNSD_METRIC_RCODES];
	_Atomic uint64_t latency[DNSD_METRIC_TYPES][DNSD_METRIC_BUCKETS];
	_Atomic uint64_t latency_sum_ns[DNSD_METRIC_TYPES];
	_Atomic uint64_t truncated;
	_Atomic uint64_t forwarded;
	_Atomic uint64_t drops[DNSD_DROP_COUNT];
	/* Server-side search path answers: [0] a name of the cluster, [1] a name upstream. */
	_Atomic uint64_t autopath[2];
	/* Zone transfers (main loop) and NOTIFY. */
	_Atomic uint64_t xfr[DNSD_XFR_COUNT];
};

void dnsd_metrics_query(struct dnsd_metrics *m, bool tcp, bool v6, uint16_t qtype);
/* An answer of RCODE to a query of QTYPE, sent NS after it came. */
void dnsd_metrics_answer(struct dnsd_metrics *m, uint16_t qtype, uint16_t rcode, bool truncated,
                         uint64_t ns);
void dnsd_metrics_add(_Atomic uint64_t *counter, uint64_t n);

struct evbuffer;
/* /metrics: ARG is the struct dnsd_server. */
void dnsd_metrics_text(void *arg, struct evbuffer *out);

#endif
