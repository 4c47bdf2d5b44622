/* listen.c -- where svcfwd's traffic comes in, whatever the number of services.
 *
 * Under sk_lookup (the default, when the kernel and the capabilities allow it): four sockets in
 * all, TCP and UDP for IPv4 and IPv6, bound to loopback; the program hands them every destination
 * of the plan (a service address and port, or a node port on any local address) and nothing
 * else, so a port no service claims is still refused by the kernel at once, and a host service
 * on a node address keeps its own traffic. A reload changes only the map entries that changed.
 *
 * Without it (--no-sklookup, no CAP_BPF or CAP_NET_ADMIN, a kernel before 5.9): one socket per
 * destination, as before, but within half the descriptor budget (fwd_fds.h); destinations beyond
 * it are left unbound, counted (svcfwd_ports_unbound) and logged once per reload.
 *
 * Either way a destination that stays in the plan keeps its socket or map entry, so a reload
 * drops nothing: not the backlog, not a UDP flow. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "svcfwd.h"
#include "vec.h"

#define BACKLOG         4096  /* per socket; the kernel caps it at net.core.somaxconn */
#define SKL_FIRST_SIZE  65536 /* map entries to start with; it doubles when full */
#define LOGGED_FAILURES 5     /* socket errors logged one by one per reload; then a count */
#define FWD_LOCAL_MAX   4096  /* service ports a scan reports at most */

static uint32_t
listener_hash(enum cluster_proto proto, const struct netaddr *a, bool wildcard, uint16_t port)
{
	return netaddr_hash(a) ^ ((uint32_t)port * 2654435761u) ^ ((uint32_t)proto << 24) ^
	       (wildcard ? 0x5bd1e995u : 0);
}

static struct fwd_listener *
lookup(struct fwd_server *s, enum cluster_proto proto, const struct netaddr *addr, bool wildcard,
       uint16_t port)
{
	uint32_t h = listener_hash(proto, addr, wildcard, port);

	for (struct htab_node *n = htab_find(&s->listeners, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_listener *l = htab_item(n, struct fwd_listener, node);

		if (l->proto == proto && l->port == port && l->wildcard == wildcard &&
		    netaddr_equal(&l->addr, addr))
			return l;
	}
	return NULL;
}

struct fwd_listener *
fwd_listen_find(struct fwd_server *s, enum cluster_proto proto, const struct netaddr *addr,
                uint16_t port)
{
	struct netaddr any = {.family = addr->family};
	struct fwd_listener *l = lookup(s, proto, addr, false, port);

	/* As the program decides: the address first, then a node port. */
	return l != NULL ? l : lookup(s, proto, &any, true, port);
}

const char *
fwd_listen_label(const struct fwd_listener *l, char *buf)
{
	char a[NETADDR_STRLEN];
	bool v6 = l->addr.family == NETADDR_V6;

	if (l->wildcard)
		snprintf(buf, FWD_LABEL_LEN, "%s:%u/%s", v6 ? "[::]" : "0.0.0.0", l->port,
		         cluster_proto_str(l->proto));
	else
		snprintf(buf, FWD_LABEL_LEN, v6 ? "[%s]:%u/%s" : "%s:%u/%s",
		         netaddr_str(&l->addr, a), l->port, cluster_proto_str(l->proto));
	return buf;
}

static socklen_t
to_sockaddr(const struct netaddr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == NETADDR_V6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->bytes, 16);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	memcpy(&s4->sin_addr, a->bytes, 4);
	return sizeof(*s4);
}

static int
close_keep_errno(int fd)
{
	int e = errno;

	close(fd);
	errno = e;
	return -1;
}

/* A socket bound to a destination (the fallback). FREEBIND: load-balancer and external IPs need
 * not be on this node (yet); traffic arrives once they are. REUSEPORT: a ClusterIP port may equal
 * a node port, whose wildcard socket would otherwise refuse the specific bind. */
static int
open_socket(const struct fwd_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(&l->addr, l->port, &ss);
	int v6 = l->addr.family == NETADDR_V6;
	int type = l->proto == CLUSTER_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) != 0)
		return close_keep_errno(fd);
	if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		return close_keep_errno(fd);
	if (l->proto == CLUSTER_UDP && l->wildcard) {
		/* Replies must leave from the address the client sent to. */
		if (v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))
		       : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)))
			return close_keep_errno(fd);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0)
		return close_keep_errno(fd);
	if (l->proto == CLUSTER_TCP && listen(fd, BACKLOG) != 0)
		return close_keep_errno(fd);
	return fd;
}

/* A socket sk_lookup hands destinations of SLOT to. Bound to loopback on a port of the kernel's
 * choosing (FREEBIND: even while lo is down); what arrives there directly matches no destination
 * and is turned away. UDP asks for each datagram's original destination. */
static int
open_shared_socket(enum fwd_sklookup_slot slot)
{
	bool v6 = slot == FWD_SKL_TCP6 || slot == FWD_SKL_UDP6;
	bool udp = slot == FWD_SKL_UDP4 || slot == FWD_SKL_UDP6;
	struct netaddr lo = {.family = v6 ? NETADDR_V6 : NETADDR_V4};
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(v6 ? AF_INET6 : AF_INET,
	                (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	if (v6)
		lo.bytes[15] = 1;
	else
		memcpy(lo.bytes, (const uint8_t[]){127, 0, 0, 1}, 4);
	len = to_sockaddr(&lo, 0, &ss);
	if (setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) != 0)
		return close_keep_errno(fd);
	if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		return close_keep_errno(fd);
	if (udp && (v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, &one, sizeof(one))
	               : setsockopt(fd, IPPROTO_IP, IP_RECVORIGDSTADDR, &one, sizeof(one))) != 0)
		return close_keep_errno(fd);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0)
		return close_keep_errno(fd);
	if (!udp && listen(fd, BACKLOG) != 0)
		return close_keep_errno(fd);
	return fd;
}

/* Watch L's socket (unless it is TCP and accepting is paused). */
static bool
watch_socket(struct fwd_server *s, struct fwd_listener *l)
{
	event_callback_fn cb = l->proto == CLUSTER_UDP ? fwd_udp_read : fwd_tcp_accept;

	l->ev = event_new(s->base, l->fd, EV_READ | EV_PERSIST, cb, l);
	if (l->ev == NULL)
		return false;
	if (!(l->proto == CLUSTER_TCP && s->accept_paused)) {
		event_add(l->ev, NULL);
		l->ev_on = true;
	}
	return true;
}

static void
unwatch_socket(struct fwd_listener *l)
{
	if (l->ev != NULL) {
		if (l->ev_on)
			event_del(l->ev);
		event_free(l->ev);
		l->ev = NULL;
	}
	l->ev_on = false;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* L's source ranges become PL's. *CHANGED: whether they differ from what L had. False when out
 * of memory (L keeps its ranges). */
static bool
set_ranges(struct fwd_listener *l, const struct fwd_plan_listener *pl, bool *changed)
{
	size_t n = pl->n_source_ranges;
	struct netaddr_prefix *r = NULL;

	*changed = l->n_ranges != n ||
	           (n > 0 && memcmp(l->ranges, pl->source_ranges, n * sizeof(*r)) != 0);
	if (!*changed)
		return true;
	if (n > 0) {
		r = malloc(n * sizeof(*r));
		if (r == NULL)
			return false;
		memcpy(r, pl->source_ranges, n * sizeof(*r));
	}
	free(l->ranges);
	l->ranges = r;
	l->n_ranges = n;
	return true;
}

/* A destination of the plan, not bound yet. */
static struct fwd_listener *
new_listener(struct fwd_server *s, const struct fwd_plan_listener *pl)
{
	struct fwd_listener *l = calloc(1, sizeof(*l));
	bool changed;

	if (l == NULL)
		return NULL;
	l->srv = s;
	l->proto = pl->proto;
	l->kind = pl->kind;
	l->addr = pl->addr;
	l->wildcard = pl->wildcard;
	l->port = pl->port;
	l->fd = -1;
	lru_init(&l->flows);
	if (!set_ranges(l, pl, &changed) ||
	    htab_insert(&s->listeners, &l->node,
	                listener_hash(l->proto, &l->addr, l->wildcard, l->port)) != SVC_OK) {
		free(l->ranges);
		free(l);
		return NULL;
	}
	return l;
}

static void set_unbound(struct fwd_server *s, struct fwd_listener *l, bool unbound);

static void
close_listener(struct fwd_server *s, struct fwd_listener *l)
{
	if (l->proto == CLUSTER_UDP)
		fwd_udp_listener_gone(s, l);
	fwd_nat_listener_gone(s, l);
	set_unbound(s, l, false);
	s->n_local -= l->local;
	if (l->fd >= 0)
		fwd_fds_give(&s->fds, FWD_FD_LISTEN, 1);
	unwatch_socket(l);
	fwd_pool_put(&s->pools, l->pool);
	free(l->ranges);
	free(l);
}

/* Without sk_lookup: L's own socket, if the budget has room. */
static bool
bind_own(struct fwd_server *s, struct fwd_listener *l, size_t *failed, size_t *over_budget)
{
	char label[FWD_LABEL_LEN];

	if (!fwd_fds_take(&s->fds, FWD_FD_LISTEN, 1)) {
		(*over_budget)++;
		return false;
	}
	l->fd = open_socket(l);
	if (l->fd < 0 && errno == EADDRINUSE && l->kind == FWD_CLUSTER_IP) {
		/* Another process of this node serves that address and port (node-local DNS
		 * started first): it keeps it; each update tries again. */
		log_msg(LL_INFO, "%s: served by a local process, left to it",
		        fwd_listen_label(l, label));
		fwd_fds_give(&s->fds, FWD_FD_LISTEN, 1);
		return false;
	}
	if (l->fd < 0) {
		fwd_fds_give(&s->fds, FWD_FD_LISTEN, 1);
		if ((*failed)++ < LOGGED_FAILURES)
			log_msg(LL_WARN, "%s (%s): cannot listen: %s", fwd_listen_label(l, label),
			        fwd_listener_kind_str(l->kind), strerror(errno));
		return false;
	}
	if (!watch_socket(s, l)) {
		unwatch_socket(l);
		fwd_fds_give(&s->fds, FWD_FD_LISTEN, 1);
		(*failed)++;
		return false;
	}
	l->bound = true;
	return true;
}

/* The map changes of one reload: keys out, keys in, and the destinations the keys in are for. */
struct changes {
	struct fwd_sklookup_key *del, *add;
	struct fwd_listener **added;
	size_t n_del, cap_del, n_add, cap_add, cap_added, n_added;
};

static bool
change(struct fwd_sklookup_key **v, size_t *n, size_t *cap, const struct fwd_listener *l)
{
	struct fwd_sklookup_key *k = vec_push(v, n, cap, sizeof(*k), NULL);

	if (k == NULL)
		return false;
	fwd_sklookup_key(k, l->proto, &l->addr, l->wildcard, l->port);
	return true;
}

/* L's key into C's keys to put in, L among those they are for; false when out of memory
 * (C unchanged). */
static bool
add_to_map(struct changes *c, struct fwd_listener *l)
{
	struct fwd_listener **slot =
	        vec_push(&c->added, &c->n_added, &c->cap_added, sizeof(*slot), NULL);

	if (slot == NULL)
		return false;
	if (!change(&c->add, &c->n_add, &c->cap_add, l)) {
		c->n_added--;
		return false;
	}
	*slot = l;
	return true;
}

static void
changes_free(struct changes *c)
{
	free(c->add);
	free(c->del);
	free(c->added);
}

/* Apply the map changes; the destinations put in are bound from now on. Returns how many could
 * not be put in. */
static size_t
commit(struct fwd_server *s, struct changes *c)
{
	if (c->n_del == 0 && c->n_add == 0)
		return 0;
	if (fwd_sklookup_update(&s->skl, c->del, c->n_del, c->add, c->n_add) != SVC_OK) {
		/* Some went in: they are put in again, harmlessly, by the next reload. */
		log_msg(LL_ERROR,
		        "sk_lookup map: %s; %zu service ports not served until the next "
		        "reload",
		        s->skl.err, c->n_add);
		return c->n_add;
	}
	for (size_t i = 0; i < c->n_added; i++) {
		c->added[i]->bound = true;
		set_unbound(s, c->added[i], false);
	}
	return 0;
}

/* Not bound: in the list of those to bind (each update tries them again). */
static void
set_unbound(struct fwd_server *s, struct fwd_listener *l, bool unbound)
{
	if (unbound && !l->in_unbound)
		lru_push(&s->unbound, &l->unbound_node);
	else if (!unbound && l->in_unbound)
		lru_remove(&s->unbound, &l->unbound_node);
	l->in_unbound = unbound;
}

/* L leaves the plan: out of the map (its key into C) or its socket closed. */
static bool
drop_listener(struct fwd_server *s, struct fwd_listener *l, struct changes *c, size_t *closed)
{
	if (s->sklookup && l->bound && !change(&c->del, &c->n_del, &c->cap_del, l))
		return false;
	htab_remove(&s->listeners, &l->node);
	*closed += l->bound;
	close_listener(s, l);
	return true;
}

/* ---- ports a local process serves ---------------------------------------------------------- */

/* Whether the last scan found a process of this node serving L (a ClusterIP port). */
static bool
served_locally(const struct fwd_server *s, const struct fwd_listener *l)
{
	if (l->kind != FWD_CLUSTER_IP || l->wildcard)
		return false;
	for (size_t i = 0; i < s->n_local_ports; i++) {
		const struct fwd_local_port *p = &s->local_ports[i];

		if (p->port == l->port && p->proto == l->proto && netaddr_equal(&p->addr, &l->addr))
			return true;
	}
	return false;
}

/* Leave L to the local process: its key out of the map (into C, when it is there), its UDP
 * flows ended (their replies would leave from a socket on the process's address and port). */
static bool
leave_local(struct fwd_server *s, struct fwd_listener *l, struct changes *c)
{
	char label[FWD_LABEL_LEN];

	if (l->bound && (c == NULL || !change(&c->del, &c->n_del, &c->cap_del, l)))
		return false;
	l->bound = false;
	set_unbound(s, l, false);
	if (l->proto == CLUSTER_UDP)
		fwd_udp_listener_gone(s, l);
	l->local = true;
	s->n_local++;
	fwd_nat_listener(s, l);
	log_msg(LL_INFO, "%s: served by a local process, left to it", fwd_listen_label(l, label));
	return true;
}

void
fwd_listen_sync_local(struct fwd_server *s)
{
	struct fwd_local_port *found = NULL, *old = s->local_ports;
	size_t n = 0, n_old = s->n_local_ports, keep = 0;
	struct changes c = {0};
	char label[FWD_LABEL_LEN];

	if (!s->sklookup || s->n_route_cidrs == 0)
		return;
	/* A node has few servers on service addresses; the bound keeps a scan small. */
	if (fwd_local_scan(s->route_cidrs, s->n_route_cidrs, FWD_LOCAL_MAX, &found, &n) != SVC_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		if (found[i].proto != CLUSTER_UDP ||
		    !fwd_udp_owns(s, &found[i].addr, found[i].port, found[i].ino))
			found[keep++] = found[i];
	}
	s->local_ports = found;
	s->n_local_ports = keep;
	/* Those no longer served: svcfwd takes them back. */
	for (size_t i = 0; i < n_old; i++) {
		struct fwd_listener *l = lookup(s, old[i].proto, &old[i].addr, false, old[i].port);

		if (l == NULL || !l->local || served_locally(s, l))
			continue;
		l->local = false;
		s->n_local--;
		fwd_nat_listener(s, l);
		set_unbound(s, l, true);
		log_msg(LL_INFO, "%s: no longer served by a local process, svcfwd serves it",
		        fwd_listen_label(l, label));
	}
	/* Those newly served: left to their process. */
	for (size_t i = 0; i < keep; i++) {
		struct fwd_listener *l =
		        lookup(s, found[i].proto, &found[i].addr, false, found[i].port);

		if (l != NULL && !l->local && served_locally(s, l) && !leave_local(s, l, &c))
			break;
	}
	free(old);
	/* The ones taken back go in with the next update's bind pass; do it now. */
	for (struct lru_node *u = s->unbound.oldest, *next; u != NULL; u = next) {
		struct fwd_listener *l = lru_item(u, struct fwd_listener, unbound_node);

		next = u->next;
		if (!served_locally(s, l) && !add_to_map(&c, l))
			break;
	}
	commit(s, &c);
	s->n_unbound = s->unbound.n;
	changes_free(&c);
}

enum svc_status
fwd_listen_update(struct fwd_server *s, const struct fwd_delta *d)
{
	struct changes c = {0};
	size_t opened = 0, closed = 0, failed = 0, over_budget = 0;
	uint64_t t0 = now_ms();
	enum svc_status st = SVC_ENOMEM;
	struct lru_node *next;

	/* A generation, not a flag to clear: only a full plan needs the pass over the rest. */
	if (d->full)
		s->listen_gen++;
	for (size_t i = 0; i < d->n_dests; i++) {
		const struct fwd_delta_dest *op = &d->dests[i];
		const struct fwd_plan_listener *pl = op->l;
		struct fwd_listener *l = lookup(s, op->proto, &op->addr, op->wildcard, op->port);
		struct fwd_pool *pool;
		bool ranges_changed = false;

		if (pl == NULL) {
			if (l != NULL && !drop_listener(s, l, &c, &closed))
				goto done;
			continue;
		}
		pool = fwd_pools_find(&s->pools, op->pool_key);
		if (pool == NULL || !pool->live) {
			st = SVC_EINVAL; /* the pools were updated first: cannot be */
			goto done;
		}
		if (l == NULL) {
			l = new_listener(s, pl);
			if (l == NULL)
				goto done;
			set_unbound(s, l, true);
		} else if (!set_ranges(l, pl, &ranges_changed)) {
			goto done;
		}
		l->kind = pl->kind;
		if (l->pool != pool) {
			fwd_pool_put(&s->pools, l->pool);
			l->pool = fwd_pool_ref(pool);
		}
		l->gen = s->listen_gen;
		fwd_nat_listener(s, l);
		/* The ranges admitted the flows it has: those they no longer admit end now. (A
		 * TCP connection, like a conntrack entry under kube-proxy, carries on.) */
		if (ranges_changed && l->proto == CLUSTER_UDP)
			fwd_udp_recheck(s, l);
	}
	if (d->full) {
		struct htab_iter it;

		for (struct htab_node *n = htab_first(&it, &s->listeners); n != NULL;
		     n = htab_iter_next(&it)) {
			struct fwd_listener *l = htab_item(n, struct fwd_listener, node);

			if (l->gen != s->listen_gen && !drop_listener(s, l, &c, &closed))
				goto done;
		}
	}
	/* New ones, and those left unbound before: bind them now. */
	for (struct lru_node *u = s->unbound.oldest; u != NULL; u = next) {
		struct fwd_listener *l = lru_item(u, struct fwd_listener, unbound_node);

		next = u->next;
		if (s->sklookup && served_locally(s, l)) {
			leave_local(s, l, NULL);
		} else if (s->sklookup) {
			if (!add_to_map(&c, l))
				goto done;
			opened++;
		} else if (fwd_fds_room(&s->fds, FWD_FD_LISTEN) == 0) {
			over_budget = s->unbound.n; /* the rest too: no need to walk them */
			break;
		} else if (bind_own(s, l, &failed, &over_budget)) {
			set_unbound(s, l, false);
			opened++;
		}
	}
	st = SVC_OK;
done:
	/* Even after running out of memory: what the table holds and the map must agree. */
	if (s->sklookup)
		failed += commit(s, &c);
	s->n_idle = d->n_idle;
	s->n_unbound = s->unbound.n;
	if (over_budget > 0)
		log_msg(LL_WARN,
		        "%zu service ports not bound: the share of %zu sockets for them (of "
		        "%zu descriptors) is used up; sk_lookup would need none",
		        over_budget, s->fds.share[FWD_FD_LISTEN], s->fds.limit);
	if (failed > LOGGED_FAILURES)
		log_msg(LL_WARN, "%zu service ports could not be bound (the first %d are logged)",
		        failed, LOGGED_FAILURES);
	if (s->sklookup)
		log_msg(LL_INFO,
		        "sk_lookup: %zu service ports (%zu added, %zu removed, %zu failed) in %lu "
		        "ms; %zu ports without endpoints left closed",
		        s->skl.n, opened, closed, failed, (unsigned long)(now_ms() - t0),
		        d->n_idle);
	else
		log_msg(LL_INFO,
		        "%zu sockets (%zu opened, %zu closed, %zu failed, %zu over budget); %zu "
		        "ports without endpoints left closed",
		        s->fds.used[FWD_FD_LISTEN], opened, closed, failed, over_budget, d->n_idle);
	changes_free(&c);
	return st;
}

static const char *
sklookup_hint(int err)
{
	if (err == EPERM || err == EACCES)
		return " (needs CAP_BPF and CAP_NET_ADMIN)";
	if (err == EINVAL || err == ENOSYS || err == EOPNOTSUPP)
		return " (needs Linux 5.9 or later with BPF)";
	return "";
}

static void
close_shared(struct fwd_server *s)
{
	for (int i = 0; i < FWD_SKL_SLOTS; i++) {
		if (s->shared[i] != NULL) {
			unwatch_socket(s->shared[i]);
			free(s->shared[i]);
			s->shared[i] = NULL;
		}
	}
	if (s->sklookup)
		fwd_sklookup_close(
		        &s->skl); /* never opened otherwise: its zeroed fds are not ours */
	s->sklookup = false;
}

/* The four shared sockets, in the socket map. IPv6 may be missing (no IPv6 in this kernel): its
 * destinations then find no socket and are refused, as they would be without svcfwd. */
static enum svc_status
open_shared(struct fwd_server *s)
{
	for (int i = 0; i < FWD_SKL_SLOTS; i++) {
		enum fwd_sklookup_slot slot = (enum fwd_sklookup_slot)i;
		bool v6 = slot == FWD_SKL_TCP6 || slot == FWD_SKL_UDP6;
		struct fwd_listener *l = calloc(1, sizeof(*l));

		if (l == NULL)
			return SVC_ENOMEM;
		l->srv = s;
		l->shared = true;
		l->bound = true;
		l->proto = slot == FWD_SKL_UDP4 || slot == FWD_SKL_UDP6 ? CLUSTER_UDP : CLUSTER_TCP;
		l->addr.family = v6 ? NETADDR_V6 : NETADDR_V4;
		lru_init(&l->flows);
		l->fd = open_shared_socket(slot);
		if (l->fd < 0 && v6 && errno == EAFNOSUPPORT) {
			log_msg(LL_INFO,
			        "sk_lookup: no IPv6 here; IPv6 service ports are not served");
			free(l);
			continue;
		}
		s->shared[i] = l;
		if (l->fd < 0) {
			log_msg(LL_ERROR, "sk_lookup: cannot open the shared socket: %s",
			        strerror(errno));
			return SVC_EIO;
		}
		if (fwd_sklookup_set_socket(&s->skl, slot, l->fd) != SVC_OK) {
			log_msg(LL_ERROR, "sk_lookup: %s", s->skl.err);
			return SVC_EIO;
		}
		if (!watch_socket(s, l))
			return SVC_ENOMEM;
	}
	return SVC_OK;
}

enum svc_status
fwd_listen_init(struct fwd_server *s)
{
	enum svc_status st;

	htab_init(&s->listeners);
	lru_init(&s->unbound);
	if (s->opts.no_sklookup) {
		log_msg(LL_INFO,
		        "--no-sklookup: one socket per service address and port, %zu at most",
		        s->fds.share[FWD_FD_LISTEN]);
		return SVC_OK;
	}
	if (fwd_sklookup_open(&s->skl, SKL_FIRST_SIZE, true) != SVC_OK) {
		log_msg(LL_WARN,
		        "sk_lookup unavailable: %s%s; one socket per service address and port "
		        "instead, %zu at most (half the descriptor budget)",
		        s->skl.err, sklookup_hint(errno), s->fds.share[FWD_FD_LISTEN]);
		fwd_sklookup_close(&s->skl);
		return SVC_OK;
	}
	s->sklookup = true;
	st = open_shared(s);
	if (st != SVC_OK) {
		close_shared(s);
		if (st == SVC_ENOMEM)
			return st;
		log_msg(LL_WARN,
		        "sk_lookup not used: one socket per service address and port "
		        "instead, %zu at most",
		        s->fds.share[FWD_FD_LISTEN]);
		return SVC_OK;
	}
	log_msg(LL_INFO, "sk_lookup attached to this network namespace: every service port goes "
	                 "to one TCP and one UDP socket per family");
	return SVC_OK;
}

void
fwd_listen_close_all(struct fwd_server *s)
{
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &s->listeners); n != NULL;
	     n = htab_iter_next(&it))
		close_listener(s, htab_item(n, struct fwd_listener, node));
	htab_deinit(&s->listeners);
	close_shared(s);
	free(s->local_ports);
	s->local_ports = NULL;
	s->n_local_ports = 0;
}

static void
pause_one(struct fwd_listener *l, bool pause)
{
	if (l->proto != CLUSTER_TCP || l->ev == NULL)
		return;
	if (pause && l->ev_on)
		event_del(l->ev);
	else if (!pause && !l->ev_on)
		event_add(l->ev, NULL);
	l->ev_on = !pause;
}

/* Stop or restart accepting TCP connections (out of descriptors, or at the connection cap):
 * the kernel queues new ones meanwhile. */
void
fwd_listen_pause(struct fwd_server *s, bool pause)
{
	struct htab_iter it;

	if (s->accept_paused == pause)
		return;
	s->accept_paused = pause;
	for (int i = 0; i < FWD_SKL_SLOTS; i++) {
		if (s->shared[i] != NULL)
			pause_one(s->shared[i], pause);
	}
	if (s->sklookup)
		return; /* the destinations have no sockets of their own */
	for (struct htab_node *n = htab_first(&it, &s->listeners); n != NULL;
	     n = htab_iter_next(&it))
		pause_one(htab_item(n, struct fwd_listener, node), pause);
}

void
fwd_listen_each(struct fwd_server *s, void (*fn)(struct fwd_listener *l, void *arg), void *arg)
{
	struct htab_iter it;

	for (int i = 0; i < FWD_SKL_SLOTS; i++) {
		if (s->shared[i] != NULL)
			fn(s->shared[i], arg);
	}
	if (s->sklookup)
		return;
	for (struct htab_node *n = htab_first(&it, &s->listeners); n != NULL;
	     n = htab_iter_next(&it)) {
		struct fwd_listener *l = htab_item(n, struct fwd_listener, node);

		if (l->fd >= 0)
			fn(l, arg);
	}
}

bool
fwd_listen_admits(const struct fwd_listener *l, const struct netaddr *client)
{
	if (l->n_ranges == 0)
		return true;
	for (size_t i = 0; i < l->n_ranges; i++) {
		if (netaddr_in_prefix(client, &l->ranges[i]))
			return true;
	}
	return false;
}
