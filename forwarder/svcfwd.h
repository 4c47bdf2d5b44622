/* svcfwd.h -- the svcfwd daemon: options, the server state of its one event loop, and the
 * interfaces between its files (main, options, listen, tcp, udp, route, metrics). */
#ifndef SVCFWD_H
#define SVCFWD_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cluster.h"
#include "daemon.h"
#include "fwd_plan.h"
#include "fwd_pool.h"

#define FWD_READ_SIZE   65536 /* one read; a full one marks a bulk flow for splice */
#define FWD_MAX_TRIES   4     /* connect attempts per connection, each to another endpoint */
#define FWD_ACCEPT_MAX  64    /* accepts per listener per wake-up */
#define FWD_UDP_BATCH   32
#define FWD_UDP_MAX_PKT 65536

struct fwd_opts {
	const char *config;
	const char *zones;
	const char *node;
	const char *http;
	struct cluster_config ccfg;
	uint64_t udp_timeout_ms;
	uint64_t tcp_idle_ms;
	uint64_t connect_timeout_ms; /* the first attempt's; each retry doubles it */
	size_t max_conns;
	size_t max_flows;
	bool no_route;
	bool splice;
	bool check;
};

enum svc_status fwd_opts_parse(struct fwd_opts *o, int argc, char **argv);

struct fwd_server;

/* A bound socket for one address, port and protocol. */
struct fwd_listener {
	struct fwd_listener *next; /* hash chain */
	struct fwd_server *srv;
	enum cluster_proto proto;
	enum fwd_listener_kind kind;
	struct netaddr addr;
	bool wildcard;
	uint16_t port;
	int fd;
	struct event ev;
	bool ev_on;
	bool live; /* in the current plan */
	struct fwd_pool *pool;
	struct netaddr_prefix *ranges; /* load-balancer source ranges; none: any client */
	size_t n_ranges;
	struct fwd_flow *flows; /* UDP flows answered through this socket */
	char label[NETADDR_STRLEN + 16];
};

/* One direction of a TCP relay: what was read from one socket and not yet written to the
 * other, in BUF or in a pipe. */
struct fwd_half {
	uint8_t *buf;
	uint32_t off, len;
	int pipe[2]; /* -1 until splicing */
	uint32_t piped;
	bool bulk; /* a read filled the scratch buffer: splice from now on */
	bool eof;  /* the source said it sends no more */
	bool shut; /* and that was passed on */
};

struct fwd_conn {
	struct fwd_server *srv;
	int cfd, bfd;
	struct event c_rd, c_wr, b_rd, b_wr;
	bool c_rd_on, c_wr_on, b_rd_on, b_wr_on;
	struct fwd_half up;   /* client to backend */
	struct fwd_half down; /* backend to client */
	struct fwd_pool *pool;
	struct fwd_backend *b;
	struct fwd_backend *tried[FWD_MAX_TRIES];
	size_t n_tried;
	struct netaddr client;
	bool connecting;
	uint64_t last_ms;
	struct fwd_conn *prev, *next; /* idle order, oldest first */
};

struct fwd_flow {
	struct fwd_flow *hnext;
	struct fwd_flow *prev, *next;     /* idle order, oldest first */
	struct fwd_flow *l_prev, *l_next; /* the listener's flows */
	struct fwd_listener *l;
	struct sockaddr_storage client;
	socklen_t client_len;
	struct netaddr client_ip;
	struct netaddr local; /* a wildcard listener's address the client sent to */
	int fd;
	struct event ev;
	struct fwd_backend *b;
	uint32_t gen; /* the pool generation B was last checked against */
	bool b_failed;
	uint64_t last_ms;
};

struct fwd_stats {
	uint64_t reloads_ok, reloads_failed;
	uint64_t accepted, accept_errors, accept_pauses, conns_closed_idle;
	uint64_t flows_created, flows_expired, flows_evicted;
	uint64_t splice_bytes;
};

struct fwd_server {
	struct fwd_opts opts;
	struct event_base *base;
	struct watch *watch;
	struct daemon_http *http;
	struct fwd_pools pools;
	struct fwd_pool **held; /* the current plan's pools, one reference each */
	size_t n_held;
	struct fwd_listener **lbuckets;
	size_t n_lbuckets, n_listeners, n_idle;
	bool ready;
	uint64_t generation;
	struct fwd_route *route;
	struct fwd_health *health;
	/* TCP */
	struct fwd_conn *idle_head, *idle_tail;
	size_t n_conns;
	size_t n_pipes;
	bool accept_paused;
	int reserve_fd; /* /dev/null, given up when descriptors run out */
	struct event *resume_ev;
	struct event *sweep_ev;
	uint8_t *scratch;
	/* UDP */
	struct fwd_flow **fbuckets;
	size_t n_fbuckets, n_flows;
	struct fwd_flow *flow_head, *flow_tail;
	uint8_t *udp_buf; /* FWD_UDP_BATCH packets */
	struct fwd_stats stats;
};

/* listen.c: bring the sockets in line with a plan. */
enum svc_status fwd_listen_apply(struct fwd_server *s, const struct fwd_plan *plan,
                                 struct fwd_pool **pools);
void fwd_listen_close_all(struct fwd_server *s);
void fwd_listen_pause(struct fwd_server *s, bool pause);
/* Every listener, for metrics. */
void fwd_listen_each(struct fwd_server *s, void (*fn)(struct fwd_listener *l, void *arg),
                     void *arg);

/* tcp.c */
enum svc_status fwd_tcp_init(struct fwd_server *s);
void fwd_tcp_deinit(struct fwd_server *s);
void fwd_tcp_accept(evutil_socket_t fd, short what, void *arg);
void fwd_tcp_sweep(struct fwd_server *s, uint64_t now);

/* udp.c */
enum svc_status fwd_udp_init(struct fwd_server *s);
void fwd_udp_deinit(struct fwd_server *s);
void fwd_udp_read(evutil_socket_t fd, short what, void *arg);
/* Close the flows that answer through L (before L goes). */
void fwd_udp_listener_gone(struct fwd_server *s, struct fwd_listener *l);
void fwd_udp_sweep(struct fwd_server *s, uint64_t now);

/* health.c: healthCheckNodePort servers. */
struct fwd_health;
void fwd_health_apply(struct fwd_server *s, const struct fwd_plan *plan);
void fwd_health_close_all(struct fwd_server *s);

/* route.c: the service CIDRs as local routes on lo. */
struct fwd_route;
enum svc_status fwd_route_add(const struct netaddr_prefix *cidrs, size_t n, struct fwd_route **out);
void fwd_route_remove(struct fwd_route *r);

/* metrics.c */
void fwd_metrics_text(void *server, struct evbuffer *out);

#endif
