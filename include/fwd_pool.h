/* fwd_pool.h -- endpoints and how traffic is spread over them. A pool is one service port's
 * candidate endpoints (IP and port) as seen by one scope and family, with its round-robin
 * cursor and client-IP affinity. A backend is the state of one endpoint address (IP, port,
 * protocol) that traffic went to: its health and counters, shared by every pool that lists it.
 * It is made when a pick first chooses the endpoint and freed once unused for
 * FWD_BACKEND_IDLE_MS, so memory follows the endpoints in use, not the million a large cluster
 * lists. Pure: time comes in as an argument, so tests drive it. */
#ifndef FWD_POOL_H
#define FWD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cluster.h"
#include "fwd_plan.h"
#include "htab.h"
#include "lru.h"

/* A failed endpoint is set aside for FWD_ASIDE_MIN_MS, doubling with each failure in a row up to
 * FWD_ASIDE_MAX_MS; the first connection after that is its probe. */
#define FWD_ASIDE_MIN_MS 1000
#define FWD_ASIDE_MAX_MS 30000
/* Client-IP affinity entries kept per pool at most; beyond, new clients get none. */
#define FWD_AFFINITY_MAX 65536
/* A backend nothing holds is kept this long: its counters and failure streak outlive a
 * connection, and it outlives any set-aside (FWD_ASIDE_MAX_MS). */
#define FWD_BACKEND_IDLE_MS 60000

/* One endpoint a pool lists: 20 bytes where a backend is 112. */
struct fwd_member {
	struct netaddr ip;
	uint16_t port;
	bool local; /* on this node (the fast path takes only these) */
};

struct fwd_backend {
	struct htab_node node;   /* in fwd_backends, by address, port and protocol */
	struct lru_node idle;    /* in fwd_backends' idle list while refs is 0 */
	uint64_t idle_since_ms;  /* when refs went to 0 */
	uint64_t aside_until_ms; /* not chosen before this, unless nothing else is left */
	uint64_t conns, connect_failures, bytes_to, bytes_from;
	uint32_t refs;        /* connections and flows using it, affinity entries naming it */
	uint32_t active;      /* open connections or UDP flows */
	uint32_t fail_streak; /* connect failures in a row */
	struct netaddr ip;
	uint16_t port;
	uint8_t proto; /* enum cluster_proto */
};

/* Room for fwd_backend_label. */
#define FWD_BACKEND_LABEL_LEN (NETADDR_STRLEN + 8)

struct fwd_backends {
	struct htab table; /* struct fwd_backend */
	struct lru idle;   /* those with no reference, longest unused first */
	uint64_t now_ms;   /* the latest time given to a pick or to fwd_backends_expire */
};

/* A client's endpoint under sessionAffinity: ClientIP. */
struct fwd_affinity {
	struct htab_node node; /* in the pool's table, by client */
	struct lru_node lru;   /* in the pool's order of last use */
	struct netaddr client;
	struct fwd_backend *b;
	uint64_t last_ms;
};

/* A pool's remembered clients, while it has any. */
struct fwd_affinities {
	struct htab table;     /* struct fwd_affinity by client; at most FWD_AFFINITY_MAX */
	struct lru lru;        /* the same, least recently used first */
	struct lru_node link;  /* in fwd_pools' with_aff */
	struct fwd_pool *pool; /* whose */
};

/* 180,000 of them at 100,000 services: members ordered by size, no padding. */
struct fwd_pool {
	struct htab_node node; /* in fwd_pools, by key */
	const char *key;       /* these four: behind the struct, in its allocation */
	const char *ns, *name, *port_name;
	struct fwd_member *members;
	struct fwd_affinities *aff; /* NULL: no client remembered */
	/* New whenever the members change, and unique across all pools: a UDP flow that checked
	 * its backend against one generation checked it against one pool's members at one time,
	 * so a listener moving to another pool cannot look unchanged to it. */
	uint64_t gen;
	uint64_t affinity_ms; /* 0: none */
	uint64_t conns, bytes_in, bytes_out, connect_failures, retries, rejected;
	uint64_t packets_in, packets_out;
	uint32_t refs; /* listeners and connections (and the plan, under fwd_pools_update) */
	uint32_t mark; /* fwd_pools_update: in the full plan being applied */
	uint32_t n_members;
	uint32_t rr;
	uint8_t proto; /* enum cluster_proto */
	uint8_t scope; /* enum fwd_scope */
	uint8_t family;
	bool live;     /* in the current plan */
	bool no_local; /* empty because a Local policy found no endpoint on this node */
};

struct fwd_pools {
	struct htab table;   /* struct fwd_pool by key */
	struct lru with_aff; /* the pools' struct fwd_affinities: what fwd_pools_expire walks */
	struct fwd_backends backends;
	uint64_t gen;  /* the last pool generation handed out */
	uint32_t mark; /* fwd_pools_update's last full plan */
};

void fwd_backends_init(struct fwd_backends *s);
void fwd_backends_deinit(struct fwd_backends *s);
/* The backend for IP:PORT/PROTO, made if new, with one more reference; NULL when out of memory. */
struct fwd_backend *fwd_backend_get(struct fwd_backends *s, const struct netaddr *ip, uint16_t port,
                                    enum cluster_proto proto);
/* The backend for IP:PORT/PROTO if it has one, without a reference. */
struct fwd_backend *fwd_backend_find(const struct fwd_backends *s, const struct netaddr *ip,
                                     uint16_t port, enum cluster_proto proto);
/* Drop a reference; with the last the backend waits FWD_BACKEND_IDLE_MS, then goes. */
void fwd_backend_put(struct fwd_backends *s, struct fwd_backend *b);
/* Free the backends unused for FWD_BACKEND_IDLE_MS at NOW_MS (never going back). */
void fwd_backends_expire(struct fwd_backends *s, uint64_t now_ms);
/* "10.0.0.1:80", "[fd00::1]:80" in BUF (FWD_BACKEND_LABEL_LEN bytes), which it returns. Made
 * when asked, not kept. */
const char *fwd_backend_label(const struct fwd_backend *b, char *buf);
const char *fwd_member_label(const struct fwd_member *m, char *buf);
/* B's address for socket() and connect(): into SA, the length returned. */
socklen_t fwd_backend_sockaddr(const struct fwd_backend *b, struct sockaddr_storage *sa);
void fwd_backend_failed(struct fwd_backend *b, uint64_t now_ms);
void fwd_backend_succeeded(struct fwd_backend *b);
bool fwd_backend_aside(const struct fwd_backend *b, uint64_t now_ms);

void fwd_pools_init(struct fwd_pools *ps);
void fwd_pools_deinit(struct fwd_pools *ps);
/* Bring the pools in line with PLAN: pools are found by key, so a service port keeps its
 * cursor, affinity and counters across snapshots. OUT (PLAN->n_pools entries) gets the pool of
 * each plan pool, referenced once; pools not in the plan lose their live mark. On failure no
 * pool changed. */
enum svc_status fwd_pools_apply(struct fwd_pools *ps, const struct fwd_plan *plan,
                                struct fwd_pool **out);
/* The same for one delta of the plan (fwd_inc.h), at a cost that follows the delta: UP (pools
 * new or changed) are found by key or made, and become live with a reference of the plan's
 * own; the live pools named in GONE lose it and their members, as pools left out above. FULL: UP
 * is the whole plan, and every other live pool goes too. On failure no pool changed. Not to be
 * mixed with fwd_pools_apply on one set of pools. */
enum svc_status fwd_pools_update(struct fwd_pools *ps, const struct fwd_plan_pool *const *up,
                                 size_t n_up, const char *const *gone, size_t n_gone, bool full);
/* The pool of KEY, live or still held; NULL: none. */
struct fwd_pool *fwd_pools_find(struct fwd_pools *ps, const char *key);
struct fwd_pool *fwd_pool_ref(struct fwd_pool *p);
void fwd_pool_put(struct fwd_pools *ps, struct fwd_pool *p);
/* Whether P lists B's endpoint. */
bool fwd_pool_has(const struct fwd_pool *p, const struct fwd_backend *b);
/* Whether B, found a member at generation *CHECKED, may still take P's traffic: at once while
 * P still has that generation, else when B is a member of P (*CHECKED then becomes P's). A UDP
 * flow keeps its backend this way across plans, and moves when its backend leaves the pool or
 * its listener moves to another pool. */
bool fwd_pool_keeps(const struct fwd_pool *p, const struct fwd_backend *b, uint64_t *checked);
/* The backend for a new connection or flow from CLIENT, with a reference for the caller: the
 * client's affinity backend while it lasts, else the next member in round robin, skipping the
 * N_TRIED already tried (backends the caller holds) and, while any other is left, those set
 * aside. NULL when every member was tried (or out of memory). */
struct fwd_backend *fwd_pool_pick(struct fwd_pools *ps, struct fwd_pool *p,
                                  const struct netaddr *client, uint64_t now_ms,
                                  struct fwd_backend *const *tried, size_t n_tried);
/* Forget affinity entries idle past their timeout. NOW_MS, here and in fwd_pool_pick, never
 * goes back (a monotonic clock): entries expire oldest first. */
void fwd_pool_expire(struct fwd_pools *ps, struct fwd_pool *p, uint64_t now_ms);
/* The same for every pool that remembers clients, then fwd_backends_expire: the work follows
 * the clients remembered and the backends in use, not the pools (180,000 at 100k services). */
void fwd_pools_expire(struct fwd_pools *ps, uint64_t now_ms);

#endif
