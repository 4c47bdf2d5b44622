/* svcdns.h -- the svcdns daemon: options, the server state shared by its loops, and the
 * interfaces between its files (main, udp, tcp, upstream, http, log). */
#ifndef SVCDNS_H
#define SVCDNS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "cluster.h"
#include "daemon.h"
#include "dnsc.h"
#include "dnsq.h"
#include "dnsr.h"
#include "dnsz.h"

#define SVCDNS_MAX_LISTEN   8
#define SVCDNS_MAX_UPSTREAM 8

struct svcdns_opts {
	const char *config;
	const char *zones;
	const char *domain;
	const char *http;
	struct daemon_addr listen[SVCDNS_MAX_LISTEN];
	size_t n_listen;
	bool listen_default; /* no --listen: [::]:53 may fail on hosts without IPv6 */
	struct daemon_addr upstream[SVCDNS_MAX_UPSTREAM];
	size_t n_upstream;
	struct cluster_config ccfg;
	uint32_t ttl;
	unsigned threads;
	size_t cache_size;
	uint32_t cache_max_ttl, cache_max_neg_ttl;
	unsigned upstream_timeout_ms; /* an unanswered query gets SERVFAIL after this */
	unsigned tcp_idle_ms;
	size_t tcp_max_conns;
	bool check;
};

/* Counters; each has one writer (a worker, or the main loop), the HTTP handler reads them. */
#define METRIC_TYPES   11 /* A AAAA SRV PTR TXT CNAME SOA NS ANY other + (unused) */
#define METRIC_RCODES  24
#define METRIC_BUCKETS 14
struct metrics {
	_Atomic uint64_t by_type[2][METRIC_TYPES]; /* [udp, tcp] */
	_Atomic uint64_t by_rcode[METRIC_RCODES];
	_Atomic uint64_t latency[METRIC_BUCKETS];
	_Atomic uint64_t latency_sum_ns;
	_Atomic uint64_t truncated;
	_Atomic uint64_t dropped;
	_Atomic uint64_t forwarded;
};

void metrics_query(struct metrics *m, int tcp, uint16_t qtype);
void metrics_answer(struct metrics *m, uint16_t rcode, bool truncated, uint64_t ns);
void metrics_add(struct metrics *m, _Atomic uint64_t *f, uint64_t n);

struct server;

/* The local address a UDP query arrived at, so its answer leaves from there. */
struct udp_dst {
	int family; /* 0: unknown */
	struct in_pktinfo v4;
	struct in6_pktinfo v6;
};

void udp_dst_from_msg(struct msghdr *h, struct udp_dst *dst);
size_t udp_dst_to_ctl(const struct udp_dst *dst, uint8_t *buf, size_t cap);
void udp_send(int fd, const struct daemon_addr *peer, const struct udp_dst *dst, const uint8_t *buf,
              size_t len);

/* A query on its way upstream (or into the cache), from a UDP worker or a TCP connection. */
struct fwd_req {
	struct fwd_req *next;
	struct dnsq_query q;  /* the client's question */
	struct dnsq_query kq; /* what is asked upstream and cached: Q, or the CNAME target's */
	uint8_t *pkt;         /* the client's query, PKT_LEN bytes */
	size_t pkt_len;
	uint8_t *partial; /* DNSQ_CHASE: the answer so far */
	size_t partial_len;
	uint8_t chase[DNSW_NAME_MAX];
	int udp_fd; /* UDP: the socket to answer from */
	struct daemon_addr peer;
	struct udp_dst dst;
	struct tcp_conn *tcp; /* TCP: the connection (holds a reference) */
	struct metrics *metrics;
	uint64_t start_ns;
};

struct worker {
	struct server *srv;
	pthread_t thread;
	struct event_base *base;
	struct event *ev[SVCDNS_MAX_LISTEN];
	int fds[SVCDNS_MAX_LISTEN];
	size_t n_fds;
	struct metrics metrics;
};

struct server {
	struct svcdns_opts opts;
	struct event_base *base;
	pthread_mutex_t zone_lock;
	struct dnsz *zone; /* current model; swapped under zone_lock */
	struct dnsz_options zopts;
	struct dnsc *cache;
	struct watch *watch;
	struct upstream *up;
	struct tcp_server *tcp;
	struct daemon_http *http;
	struct worker *workers;
	size_t n_workers;
	struct metrics metrics; /* main loop: TCP and forwarded answers */
	/* Forward requests from workers to the main loop. */
	pthread_mutex_t q_lock;
	struct fwd_req *q_head, *q_tail;
	struct event *q_ev;
	_Atomic uint64_t reloads_ok, reloads_failed;
	_Atomic bool ready;
	struct dnsr_limits limits;
};

/* The current zone, referenced; release with dnsz_unref. */
struct dnsz *server_zone(struct server *s);
/* Hand a forward request to the main loop (any thread). */
void server_enqueue(struct server *s, struct fwd_req *r);
/* Build a forward request for a query dnsq_answer did not answer itself. */
struct fwd_req *fwd_req_new(const struct dnsq_query *q, const struct dnsq_result *res,
                            const uint8_t *pkt, size_t len, const uint8_t *out);
void fwd_req_free(struct fwd_req *r);
/* Render a cached answer for a forward or chase; 0 on a miss. OUT holds DNSQ_OUT_MAX. */
size_t fwd_from_cache(struct server *s, struct fwd_req *r, uint8_t *out);

/* udp.c */
enum svc_status udp_start(struct server *s);
void udp_stop(struct server *s);

/* tcp.c */
struct tcp_conn;
enum svc_status tcp_start(struct server *s);
void tcp_stop(struct server *s);
void tcp_reply(struct tcp_conn *c, const uint8_t *buf, size_t len);
void tcp_conn_release(struct tcp_conn *c);
size_t tcp_conn_count(struct server *s);

/* upstream.c */
enum svc_status upstream_start(struct server *s);
void upstream_stop(struct server *s);
/* Answer R from the cache or upstream; takes ownership of R. Main loop only. */
void upstream_submit(struct server *s, struct fwd_req *r);
/* Send an answer to R's client. */
void fwd_reply(struct server *s, struct fwd_req *r, const uint8_t *buf, size_t len, uint16_t rcode,
               bool truncated);
struct upstream_stats {
	uint64_t sent, answered, timeouts, failures, malformed, coalesced, inflight;
};
void upstream_stats(struct server *s, struct upstream_stats *out);

/* http.c */
/* The metrics text, for daemon_http. */
void metrics_text(void *server, struct evbuffer *out);

/* options.c */
enum svc_status opts_parse(struct svcdns_opts *o, int argc, char **argv);

#endif
