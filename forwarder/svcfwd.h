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
#include "nodeagent.h"
#include "fwd_fds.h"
#include "fwd_inc.h"
#include "fwd_plan.h"
#include "fwd_local.h"
#include "fwd_nat.h"
#include "fwd_pool.h"
#include "fwd_sklookup.h"
#include "htab.h"
#include "lru.h"

struct fwd_opts {
	const char *config;
	const char *zones;
	const char *status_dir;
	struct daemon_etcd etcd;
	const char *node;
	const char *http;
	unsigned node_lease_s;    /* with --etcd: the node's lease */
	const char *lb_interface; /* with --etcd: where held LoadBalancer addresses go */
	struct cluster_config ccfg;
	uint64_t udp_timeout_ms;
	uint64_t tcp_idle_ms;
	uint64_t connect_timeout_ms; /* the first attempt's; each retry doubles it */
	size_t max_conns;
	size_t max_flows;
	/* Service ports of request/response protocols: a flow ends when each of its datagrams
	 * is answered, as nginx's proxy_responses (DNS: a fresh source port per lookup). */
	uint16_t udp_answer_ports[16];
	size_t n_udp_answer_ports;
	bool no_route;
	bool no_sklookup;  /* one socket per service address and port, as without sk_lookup */
	bool no_fast_path; /* the relay only: no tc program (fwd_nat.h) */
	bool splice;
	bool check;
};

enum svc_status fwd_opts_parse(struct fwd_opts *o, int argc, char **argv);

struct fwd_server;

/* One destination of the plan (a service address or node port, with its protocol) and what
 * serves it: under sk_lookup its key in the map, and one of the shared sockets takes its traffic;
 * without, a socket of its own. Shared sockets are listeners too (SHARED), not in the table: the
 * destination of what they receive is looked up per connection or datagram. */
struct fwd_listener {
	struct htab_node node; /* in the server's listeners, by protocol, address and port */
	struct fwd_server *srv;
	enum cluster_proto proto;
	enum fwd_listener_kind kind;
	struct netaddr addr; /* for a wildcard: the family, all-zero bytes */
	uint16_t port;
	bool wildcard;
	bool shared;
	bool bound; /* its socket is open, or its key is in the map */
	bool local; /* a process of this node serves it (fwd_listen_sync_local): left to it */
	bool ev_on;
	uint32_t gen; /* the last plan it was in (the server's listen_gen: the current one) */
	int fd;       /* its own socket, or the shared one's; -1: none */
	struct event *ev;
	struct fwd_pool *pool;
	struct netaddr_prefix *ranges; /* load-balancer source ranges; none: any client */
	size_t n_ranges;
	struct lru flows;             /* the UDP flows of this destination (udp.c; order unused) */
	struct lru_node unbound_node; /* in the server's unbound, while not bound */
	bool in_unbound;
	struct fwd_nat_pool *nat; /* the fast path takes it, to this pool (nat.c); NULL: not */
};

#define FWD_LABEL_LEN (NETADDR_STRLEN + 16)

struct fwd_stats {
	uint64_t accepted, accept_errors, accept_pauses, conns_closed_idle;
	uint64_t flows_created, flows_expired, flows_evicted, flows_answered;
	uint64_t splice_bytes;
	uint64_t unclaimed; /* connections and datagrams for no destination of the plan */
	uint64_t reply_socket_errors;
	uint64_t flows_no_socket; /* flows refused: no socket to send from (the budget) */
	uint64_t udp_send_drops;  /* datagrams the kernel would not take (a full buffer) */
	uint64_t udp_strays;      /* datagrams on a flow socket from no endpoint it sends to */
};

struct fwd_uport;
struct out_batch;

struct fwd_server {
	struct fwd_opts opts;
	struct event_base *base;
	struct builder *builder;         /* builds plans off this loop (builder.h) */
	struct builder_handoff *handoff; /* brings them here */
	struct daemon_http *http;
	struct fwd_pools pools;
	/* The builder thread's: the plan kept per namespace, and the last delta posted (composed
	 * into the next while the main loop has not taken it). */
	struct fwd_inc *inc;
	struct fwd_delta *posted;
	atomic_bool want_full; /* the main loop failed to apply a delta: the next is whole */
	struct htab listeners; /* struct fwd_listener by protocol, address and port */
	size_t n_idle;
	size_t n_unbound;   /* destinations of the plan without a socket or map entry */
	struct lru unbound; /* those, to be bound at the next update */
	/* listen.c: sk_lookup, or (when it cannot load) one socket per destination within a budget
	 * of descriptors */
	bool sklookup;
	struct fwd_sklookup skl;
	struct fwd_listener *shared[FWD_SKL_SLOTS];
	struct fwd_fds fds;  /* the descriptor budget: listeners, connections, UDP sockets */
	uint32_t listen_gen; /* plans applied */
	/* Service ports another process of this node serves, from the last scan (fwd_local.h),
	 * and how many destinations of the plan are left to it. */
	struct fwd_local_port *local_ports;
	size_t n_local_ports;
	size_t n_local;
	struct daemon_reload reload;
	struct daemon_store store; /* with --etcd */
	struct nodeagent *agent;   /* with --etcd: this node's Node and Lease */
	struct nodeagent_status agent_status;
	struct fwd_route *route;
	struct netaddr_prefix route_cidrs[2]; /* what ROUTE covers */
	size_t n_route_cidrs;
	struct htab health; /* health-check servers by port (health.c) */
	struct event *sweep_ev;
	/* TCP (tcp.c) */
	struct lru conns; /* every connection, least recently active first */
	size_t n_pipes;
	bool accept_paused;
	int reserve_fd; /* /dev/null, given up when descriptors run out */
	struct event *resume_ev;
	uint8_t *scratch; /* one read's worth */
	/* The fast path (nat.c), when it loaded */
	struct fwd_nat *nat;
	struct htab nat_pools; /* struct fwd_nat_pool by pool */
	uint32_t nat_last_id;
	uint32_t *nat_free; /* ids given back */
	size_t n_nat_free, cap_nat_free;
	uint64_t nat_failed; /* destinations or pools the maps would not take */
	size_t nat_ifs;      /* interfaces it is attached to */
	/* UDP (udp.c) */
	struct htab flows;     /* by listener, client and local address */
	struct htab flow_ups;  /* the same, by the socket they send from and their endpoint */
	struct lru flow_lru;   /* the same, least recently active first */
	struct htab replies;   /* sockets bound to a service address and port, for replies */
	struct lru reply_idle; /* those without flows, longest first */
	struct fwd_uport **uports[2]; /* sockets flows send from, per family (v4, v6) */
	size_t n_uports[2], cap_uports[2];
	uint64_t rng;
	uint8_t *udp_buf;          /* one batch of datagrams */
	struct out_batch *udp_out; /* the datagrams of one batch to send */
	struct fwd_stats stats;
};

/* listen.c: sk_lookup (unless --no-sklookup) or the fallback, chosen once at start. */
enum svc_status fwd_listen_init(struct fwd_server *s);
/* Bring the destinations in line with a delta of the plan (the pools first: fwd_pools_update),
 * at a cost that follows the delta (a full one: the plan). */
enum svc_status fwd_listen_update(struct fwd_server *s, const struct fwd_delta *d);
void fwd_listen_close_all(struct fwd_server *s);
void fwd_listen_pause(struct fwd_server *s, bool pause);
/* Whether L's source ranges admit CLIENT. */
bool fwd_listen_admits(const struct fwd_listener *l, const struct netaddr *client);
/* Every open listening socket, for metrics. */
void fwd_listen_each(struct fwd_server *s, void (*fn)(struct fwd_listener *l, void *arg),
                     void *arg);
/* The destination ADDR:PORT/PROTO of the plan: its address, else a node port. NULL: none. */
struct fwd_listener *fwd_listen_find(struct fwd_server *s, enum cluster_proto proto,
                                     const struct netaddr *addr, uint16_t port);
/* Under sk_lookup: scan for ClusterIP ports that another process of this node serves itself
 * (as svcdns in node-local mode serves the kube-dns ClusterIP); leave those to it (out of the
 * map, their UDP flows ended) and take back those it no longer serves. Once a second. */
void fwd_listen_sync_local(struct fwd_server *s);
/* "10.96.0.1:80/TCP" into BUF (FWD_LABEL_LEN bytes); returns BUF. */
const char *fwd_listen_label(const struct fwd_listener *l, char *buf);

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
/* Close the flows of L whose client L's source ranges no longer admit. */
void fwd_udp_recheck(struct fwd_server *s, struct fwd_listener *l);
void fwd_udp_sweep(struct fwd_server *s, uint64_t now);
/* Sockets UDP flows send from. */
size_t fwd_udp_sockets(const struct fwd_server *s);
/* Whether the socket of inode INO bound to ADDR:PORT is one of svcfwd's reply sockets. */
bool fwd_udp_owns(struct fwd_server *s, const struct netaddr *addr, uint16_t port, uint64_t ino);

/* nat.c: the fast path's destinations and pools. */
struct fwd_nat_pool;
/* Bring L's entry in line: in the maps when the fast path can take it, out otherwise. */
void fwd_nat_listener(struct fwd_server *s, struct fwd_listener *l);
void fwd_nat_listener_gone(struct fwd_server *s, struct fwd_listener *l);
/* P's endpoints changed. */
void fwd_nat_pool_changed(struct fwd_server *s, struct fwd_pool *p);
/* Destinations the fast path takes. */
size_t fwd_nat_dests(const struct fwd_server *s);
/* P's id in the maps, if the fast path has it. */
bool fwd_nat_pool_id(const struct fwd_server *s, const struct fwd_pool *p, uint32_t *id);

/* health.c: healthCheckNodePort servers. */
void fwd_health_update(struct fwd_server *s, const struct fwd_delta *d);
void fwd_health_close_all(struct fwd_server *s);

/* route.c: the service CIDRs as local routes on lo. */
struct fwd_route;
enum svc_status fwd_route_add(const struct netaddr_prefix *cidrs, size_t n, struct fwd_route **out);
void fwd_route_remove(struct fwd_route *r);

/* metrics.c */
void fwd_metrics_text(void *server, struct evbuffer *out);

#endif
