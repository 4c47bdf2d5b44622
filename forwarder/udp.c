/* udp.c -- UDP flows: each client address (per destination and, for a node port, per local
 * address) gets its own socket connected to the endpoint chosen for it, so replies come back
 * on that socket and leave from the address and port the client sent to: through the
 * destination's own socket, or under sk_lookup (one shared socket per family, which learns each
 * datagram's original destination) through a reply socket bound to that address and port, opened
 * while flows use it (its count is bounded by the flows'; sk_lookup, which runs before the
 * kernel's own lookup, keeps sending what arrives there to the shared socket). Flows
 * idle for the timeout expire; the table is bounded, the oldest flow making room. A flow whose
 * endpoint is not in its listener's pool (it left, or a reload gave the listener another pool),
 * or stopped answering with ICMP errors, moves to another endpoint; a flow whose client the
 * listener's source ranges no longer admit is closed. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "svcfwd.h"

#define FWD_UDP_BATCH      32    /* datagrams per read */
#define FWD_UPORTS_MAX     8192  /* sockets to send from, per family */
#define FWD_UPORT_PROBES   8     /* sockets tried for a new flow before opening another */
#define FWD_UPORT_IDLE_MS  10000 /* an unused socket to send from, or reply socket, closes then */
#define FWD_UDP_MAX_PKT    65536
#define CMSG_SPACE_PKTINFO CMSG_SPACE(sizeof(struct in6_pktinfo))
/* Room for one IPV6_PKTINFO or one IPV6_ORIGDSTADDR (the larger ones). */
#define CMSG_SPACE_DST                                                                             \
	(CMSG_SPACE(sizeof(struct sockaddr_in6)) > CMSG_SPACE_PKTINFO                              \
	         ? CMSG_SPACE(sizeof(struct sockaddr_in6))                                         \
	         : CMSG_SPACE_PKTINFO)

/* A socket bound to a service address and port, which replies leave from. */
struct fwd_reply {
	struct htab_node node; /* in the server's replies */
	struct netaddr addr;
	uint16_t port;
	int fd;
	uint64_t ino; /* its inode: fwd_udp_owns */
	size_t refs;  /* flows */
	/* Without flows it stays open a while (in the server's idle replies): a DNS flow lasts one
	 * lookup, and a socket per lookup would cost more than the lookup. */
	struct lru_node idle;
	uint64_t idle_since_ms;
};

/* A socket flows send from: unconnected, on a port of its own, shared by flows to different
 * endpoints (at most one flow per endpoint), so that a reply's source names its flow. One read
 * takes the replies of many flows, one write sends many datagrams. */
struct fwd_uport {
	struct fwd_server *srv;
	int fd;
	int fam; /* 0: IPv4, 1: IPv6 */
	size_t flows;
	uint64_t idle_since_ms; /* when FLOWS went to 0 */
	struct event ev;
};

struct fwd_flow {
	struct htab_node node;    /* in the server's flows */
	struct htab_node up_node; /* in the server's flow_ups, by uport and endpoint */
	struct lru_node lru;      /* in the server's idle order */
	struct lru_node l_node;   /* in the listener's flows */
	struct fwd_listener *l;
	struct sockaddr_storage client;
	socklen_t client_len;
	struct netaddr client_ip;
	struct netaddr local; /* the address the client sent to */
	struct fwd_reply *rs; /* under sk_lookup: where replies leave from */
	struct fwd_uport *up; /* where datagrams to B leave from; NULL before the first */
	struct fwd_backend *b;
	uint64_t gen; /* the pool generation B was last found a member in */
	bool b_failed;
	bool answer_ends;    /* a request/response protocol (--udp-answer-ports) */
	bool ending;         /* answered: destroyed once this batch of replies is sent */
	uint32_t unanswered; /* its datagrams sent on, not yet answered */
	uint64_t last_ms;
};

static uint32_t
reply_hash(const struct netaddr *a, uint16_t port)
{
	return netaddr_hash(a) ^ ((uint32_t)port * 2654435761u);
}

/* The reply socket for ADDR:PORT, opened on first use. FREEBIND: a load-balancer address need
 * not be local; REUSEADDR: a listener of the fallback may hold the address too. NULL (errno set)
 * when it cannot be bound, as when a host service holds that address and port already. */
static struct fwd_reply *
reply_get(struct fwd_server *s, const struct netaddr *addr, uint16_t port)
{
	uint32_t h = reply_hash(addr, port);
	struct sockaddr_storage ss;
	socklen_t len;
	struct fwd_reply *r;
	struct stat st;
	int one = 1, small = 1024, fd;

	for (struct htab_node *n = htab_find(&s->replies, h); n != NULL; n = htab_next(n, h)) {
		r = htab_item(n, struct fwd_reply, node);
		if (r->port == port && netaddr_equal(&r->addr, addr)) {
			if (r->refs++ == 0)
				lru_remove(&s->reply_idle, &r->idle);
			return r;
		}
	}
	memset(&ss, 0, sizeof(ss));
	if (addr->family == NETADDR_V6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, addr->bytes, 16);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, addr->bytes, 4);
		len = sizeof(*s4);
	}
	if (!fwd_fds_take(&s->fds, FWD_FD_UDP, 1)) {
		errno = EMFILE;
		return NULL;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fwd_fds_give(&s->fds, FWD_FD_UDP, 1);
		return NULL;
	}
	/* It receives nothing (sk_lookup takes the destination's datagrams): a small buffer. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) != 0 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0)
		goto fail;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto fail;
	r->addr = *addr;
	r->port = port;
	r->fd = fd;
	r->refs = 1;
	if (fstat(fd, &st) == 0)
		r->ino = (uint64_t)st.st_ino;
	if (htab_insert(&s->replies, &r->node, h) != SVC_OK) {
		free(r);
		goto fail;
	}
	return r;
fail : {
	int e = errno;

	close(fd);
	fwd_fds_give(&s->fds, FWD_FD_UDP, 1);
	errno = e;
}
	return NULL;
}

bool
fwd_udp_owns(struct fwd_server *s, const struct netaddr *addr, uint16_t port, uint64_t ino)
{
	uint32_t h = reply_hash(addr, port);

	for (struct htab_node *n = htab_find(&s->replies, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_reply *r = htab_item(n, struct fwd_reply, node);

		if (r->port == port && r->ino == ino && netaddr_equal(&r->addr, addr))
			return true;
	}
	return false;
}

static void
reply_close(struct fwd_server *s, struct fwd_reply *r)
{
	lru_remove(&s->reply_idle, &r->idle);
	htab_remove(&s->replies, &r->node);
	close(r->fd);
	fwd_fds_give(&s->fds, FWD_FD_UDP, 1);
	free(r);
}

static void
reply_put(struct fwd_server *s, struct fwd_reply *r)
{
	if (r == NULL || --r->refs > 0)
		return;
	r->idle_since_ms = now_ms();
	lru_push(&s->reply_idle, &r->idle);
}

static uint32_t
flow_hash(const struct fwd_listener *l, const struct sockaddr_storage *sa, socklen_t len,
          const struct netaddr *local)
{
	return htab_hash_bytes(sa, len, (uint32_t)(uintptr_t)l) ^ netaddr_hash(local);
}

static uint32_t
up_hash(const struct fwd_uport *up, const struct netaddr *ip, uint16_t port)
{
	return netaddr_hash(ip) ^ ((uint32_t)port * 2654435761u) ^
	       htab_hash_u64((uint64_t)(uintptr_t)up);
}

/* The flow that sends to IP:PORT from UP. */
static struct fwd_flow *
up_find(struct fwd_server *s, const struct fwd_uport *up, const struct netaddr *ip, uint16_t port)
{
	uint32_t h = up_hash(up, ip, port);

	for (struct htab_node *n = htab_find(&s->flow_ups, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_flow *f = htab_item(n, struct fwd_flow, up_node);

		if (f->up == up && f->b->port == port && netaddr_equal(&f->b->ip, ip))
			return f;
	}
	return NULL;
}

static void on_uport(evutil_socket_t fd, short what, void *arg);

/* A new socket to send from, for endpoints of family FAM; NULL when the descriptor budget has
 * none left or the socket cannot be made. IP_RECVERR: ICMP errors for any endpoint are queued
 * with the address they concern. */
static struct fwd_uport *
uport_open(struct fwd_server *s, int fam)
{
	struct fwd_uport *up = NULL, **v;
	int one = 1, fd = -1;

	if (s->n_uports[fam] >= FWD_UPORTS_MAX || !fwd_fds_take(&s->fds, FWD_FD_UDP, 1))
		return NULL;
	fd = socket(fam ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if ((fam ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one))
	         : setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one))) != 0)
		goto fail;
	if (s->n_uports[fam] == s->cap_uports[fam]) {
		size_t cap = s->cap_uports[fam] ? s->cap_uports[fam] * 2 : 16;

		v = realloc(s->uports[fam], cap * sizeof(*v));
		if (v == NULL)
			goto fail;
		s->uports[fam] = v;
		s->cap_uports[fam] = cap;
	}
	up = calloc(1, sizeof(*up));
	if (up == NULL)
		goto fail;
	up->srv = s;
	up->fd = fd;
	up->fam = fam;
	event_assign(&up->ev, s->base, fd, EV_READ | EV_PERSIST, on_uport, up);
	if (event_add(&up->ev, NULL) != 0)
		goto fail;
	s->uports[fam][s->n_uports[fam]++] = up;
	return up;
fail:
	free(up);
	if (fd >= 0)
		close(fd);
	fwd_fds_give(&s->fds, FWD_FD_UDP, 1);
	return NULL;
}

static void
uport_close(struct fwd_server *s, struct fwd_uport *up)
{
	event_del(&up->ev);
	close(up->fd);
	fwd_fds_give(&s->fds, FWD_FD_UDP, 1);
	free(up);
}

/* A socket no other flow sends to B from. Probes from a random start; when the first few are
 * taken, a new socket is cheaper than a long search, as long as the budget allows. */
static struct fwd_uport *
uport_for(struct fwd_server *s, const struct fwd_backend *b)
{
	int fam = b->ip.family == NETADDR_V6;
	size_t n = s->n_uports[fam], start;
	struct fwd_uport *up;

	s->rng = s->rng * 6364136223846793005u + 1442695040888963407u;
	start = n > 0 ? (size_t)(s->rng >> 33) % n : 0;
	for (size_t i = 0; i < n; i++) {
		if (i == FWD_UPORT_PROBES && (up = uport_open(s, fam)) != NULL)
			return up;
		up = s->uports[fam][(start + i) % n];
		if (up_find(s, up, &b->ip, b->port) == NULL)
			return up;
	}
	return uport_open(s, fam);
}

static void
flow_touch(struct fwd_server *s, struct fwd_flow *f, uint64_t now)
{
	f->last_ms = now;
	lru_touch(&s->flow_lru, &f->lru);
}

/* Take F off its endpoint: its socket and the endpoint's counts. */
static void
flow_unlink(struct fwd_server *s, struct fwd_flow *f)
{
	if (f->up != NULL) {
		htab_remove(&s->flow_ups, &f->up_node);
		if (--f->up->flows == 0)
			f->up->idle_since_ms = now_ms();
		f->up = NULL;
	}
	if (f->b != NULL) {
		f->b->active--;
		fwd_backend_put(&s->pools.backends, f->b);
		f->b = NULL;
	}
}

static void
flow_destroy(struct fwd_server *s, struct fwd_flow *f)
{
	htab_remove(&s->flows, &f->node);
	lru_remove(&s->flow_lru, &f->lru);
	lru_remove(&f->l->flows, &f->l_node);
	flow_unlink(s, f);
	reply_put(s, f->rs);
	free(f);
}

/* Point F at a backend of its listener's pool: a new one when it has none, its own is not in
 * that pool (it left, or the listener moved to another pool), or it failed. False when the
 * pool has nowhere to send, or no socket is left to send from. */
static bool
flow_route(struct fwd_server *s, struct fwd_flow *f, uint64_t now)
{
	struct fwd_pool *pool = f->l->pool;
	struct fwd_backend *b, *tried[1];
	struct fwd_uport *up;
	size_t n_tried = 0;

	if (f->b != NULL && !f->b_failed && fwd_pool_keeps(pool, f->b, &f->gen))
		return true;
	if (f->b != NULL && f->b_failed)
		tried[n_tried++] = f->b;
	b = fwd_pool_pick(&s->pools, pool, &f->client_ip, now, tried, n_tried);
	if (b == NULL && n_tried > 0)
		b = fwd_pool_pick(&s->pools, pool, &f->client_ip, now, NULL, 0);
	if (b == NULL)
		return false;
	flow_unlink(s, f);
	up = uport_for(s, b);
	if (up == NULL ||
	    htab_insert(&s->flow_ups, &f->up_node, up_hash(up, &b->ip, b->port)) != SVC_OK) {
		s->stats.flows_no_socket++;
		fwd_backend_put(&s->pools.backends, b);
		return false;
	}
	up->flows++;
	f->up = up;
	f->b = b; /* with the pick's reference */
	b->active++;
	b->conns++;
	f->gen = pool->gen;
	f->b_failed = false;
	return true;
}

static struct fwd_flow *
flow_find(struct fwd_server *s, struct fwd_listener *l, const struct sockaddr_storage *sa,
          socklen_t len, const struct netaddr *local)
{
	uint32_t h = flow_hash(l, sa, len, local);

	for (struct htab_node *n = htab_find(&s->flows, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_flow *f = htab_item(n, struct fwd_flow, node);

		if (f->l == l && f->client_len == len && memcmp(&f->client, sa, len) == 0 &&
		    netaddr_equal(&f->local, local))
			return f;
	}
	return NULL;
}

static struct fwd_flow *
flow_new(struct fwd_server *s, struct fwd_listener *l, const struct sockaddr_storage *sa,
         socklen_t len, const struct netaddr *local, uint64_t now)
{
	struct fwd_flow *f;

	if (s->flows.n >= s->opts.max_flows && s->flow_lru.oldest != NULL) {
		s->stats.flows_evicted++;
		flow_destroy(s, lru_item(s->flow_lru.oldest, struct fwd_flow, lru));
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->l = l;
	memcpy(&f->client, sa, len);
	f->client_len = len;
	addr_to_netaddr((const struct sockaddr *)sa, &f->client_ip);
	f->local = *local;
	if (l->fd < 0) {
		char label[FWD_LABEL_LEN];

		f->rs = reply_get(s, local, l->port);
		if (f->rs == NULL) {
			s->stats.reply_socket_errors++;
			log_msg(LL_DEBUG, "%s: cannot bind a reply socket: %s",
			        fwd_listen_label(l, label), strerror(errno));
			free(f);
			return NULL;
		}
	}
	if (htab_insert(&s->flows, &f->node, flow_hash(l, sa, len, local)) != SVC_OK) {
		reply_put(s, f->rs);
		free(f);
		return NULL;
	}
	if (!flow_route(s, f, now)) {
		htab_remove(&s->flows, &f->node);
		reply_put(s, f->rs);
		free(f);
		return NULL;
	}
	lru_push(&l->flows, &f->l_node);
	for (size_t i = 0; i < s->opts.n_udp_answer_ports; i++)
		f->answer_ends |= s->opts.udp_answer_ports[i] == l->port;
	f->last_ms = now;
	lru_push(&s->flow_lru, &f->lru);
	s->stats.flows_created++;
	l->pool->conns++;
	return f;
}

/* The local address a datagram was sent to, on a wildcard socket. */
static void
dst_of(struct msghdr *h, struct netaddr *local)
{
	memset(local, 0, sizeof(*local));
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			local->family = NETADDR_V4;
			memcpy(local->bytes, &pi.ipi_addr, 4);
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			local->family = NETADDR_V6;
			memcpy(local->bytes, &pi.ipi6_addr, 16);
		}
	}
}

/* The original destination of a datagram on a shared socket (IP_RECVORIGDSTADDR). */
static bool
orig_dst_of(struct msghdr *h, struct netaddr *dst, uint16_t *port)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
		struct sockaddr_storage ss;
		size_t n = cm->cmsg_len - CMSG_LEN(0);

		if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_ORIGDSTADDR) ||
		      (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_ORIGDSTADDR)))
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, CMSG_DATA(cm), n < sizeof(ss) ? n : sizeof(ss));
		addr_to_netaddr((const struct sockaddr *)&ss, dst);
		if (ss.ss_family == AF_INET6)
			*port = ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
		else
			*port = ntohs(((const struct sockaddr_in *)&ss)->sin_port);
		return dst->family != NETADDR_NONE;
	}
	return false;
}

/* Datagrams to send, gathered over one read and sent with one sendmmsg per socket. */
struct out_batch {
	size_t n;
	int fd[FWD_UDP_BATCH];
	struct mmsghdr msg[FWD_UDP_BATCH];
	struct iovec iov[FWD_UDP_BATCH];
	struct sockaddr_storage to[FWD_UDP_BATCH];
	uint8_t ctl[FWD_UDP_BATCH][CMSG_SPACE_PKTINFO];
};

/* A slot of O for LEN bytes at BUF to TO (TO_LEN) from socket FD; its control room is empty. */
static struct msghdr *
out_add(struct out_batch *o, int fd, const void *buf, size_t len, const void *to, socklen_t to_len)
{
	size_t i = o->n++;
	struct msghdr *h = &o->msg[i].msg_hdr;

	o->fd[i] = fd;
	o->iov[i].iov_base = (void *)buf;
	o->iov[i].iov_len = len;
	memcpy(&o->to[i], to, to_len);
	memset(h, 0, sizeof(*h));
	h->msg_name = &o->to[i];
	h->msg_namelen = to_len;
	h->msg_iov = &o->iov[i];
	h->msg_iovlen = 1;
	return h;
}

/* Send what O holds: the datagrams of one socket together (sorted by socket first, which keeps
 * each socket's datagrams in the order they came). A datagram the kernel refuses (its buffer
 * full) is dropped, as a router would. */
static void
out_flush(struct fwd_server *s, struct out_batch *o)
{
	struct mmsghdr sorted[FWD_UDP_BATCH];
	int fds[FWD_UDP_BATCH];
	size_t i, j;

	for (i = 0; i < o->n; i++) {
		for (j = i; j > 0 && fds[j - 1] > o->fd[i]; j--) {
			fds[j] = fds[j - 1];
			sorted[j] = sorted[j - 1];
		}
		fds[j] = o->fd[i];
		sorted[j] = o->msg[i];
	}
	for (i = 0; i < o->n;) {
		size_t run = 1;
		int r;

		while (i + run < o->n && fds[i + run] == fds[i])
			run++;
		r = sendmmsg(fds[i], sorted + i, (unsigned)run, MSG_DONTWAIT);
		if (r <= 0) {
			s->stats.udp_send_drops++;
			r = 1;
		}
		i += (size_t)r;
	}
	o->n = 0;
}

/* Queue BUF for F's backend; false when F has nowhere to send it. */
static bool
send_to_backend(struct fwd_server *s, struct out_batch *o, struct fwd_flow *f, const uint8_t *buf,
                size_t len, uint64_t now)
{
	struct fwd_pool *pool = f->l->pool;
	struct sockaddr_storage sa;
	socklen_t sa_len;

	if (!flow_route(s, f, now))
		return false;
	sa_len = fwd_backend_sockaddr(f->b, &sa);
	out_add(o, f->up->fd, buf, len, &sa, sa_len);
	f->b->bytes_to += len;
	pool->bytes_in += len;
	pool->packets_in++;
	f->unanswered++;
	return true;
}

void
fwd_udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_listener *sl = arg;
	struct fwd_server *s = sl->srv;
	struct mmsghdr msgs[FWD_UDP_BATCH];
	struct iovec iov[FWD_UDP_BATCH];
	struct sockaddr_storage peers[FWD_UDP_BATCH];
	uint8_t ctl[FWD_UDP_BATCH][CMSG_SPACE_DST];
	struct out_batch *o = s->udp_out;
	uint64_t now;
	int n;
	(void)what;

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < FWD_UDP_BATCH; i++) {
		iov[i].iov_base = s->udp_buf + (size_t)i * FWD_UDP_MAX_PKT;
		iov[i].iov_len = FWD_UDP_MAX_PKT;
		msgs[i].msg_hdr.msg_name = &peers[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		if (sl->wildcard || sl->shared) {
			msgs[i].msg_hdr.msg_control = ctl[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
	}
	n = recvmmsg(fd, msgs, FWD_UDP_BATCH, MSG_DONTWAIT, NULL);
	now = now_ms();
	for (int i = 0; i < n; i++) {
		struct fwd_listener *l = sl;
		struct netaddr local = l->addr;
		struct fwd_flow *f;
		socklen_t plen = msgs[i].msg_hdr.msg_namelen;

		if (sl->shared) {
			/* Which destination of the plan it was sent to. */
			uint16_t port;

			l = NULL;
			if (orig_dst_of(&msgs[i].msg_hdr, &local, &port))
				l = fwd_listen_find(s, CLUSTER_UDP, &local, port);
			if (l == NULL || !l->bound) {
				s->stats.unclaimed++;
				continue;
			}
		} else if (l->wildcard) {
			dst_of(&msgs[i].msg_hdr, &local);
		}
		f = flow_find(s, l, &peers[i], plen, &local);
		if (f == NULL) {
			struct netaddr c;

			addr_to_netaddr((const struct sockaddr *)&peers[i], &c);
			if (!fwd_listen_admits(l, &c)) {
				l->pool->rejected++;
				continue;
			}
			f = flow_new(s, l, &peers[i], plen, &local, now);
			if (f == NULL) {
				l->pool->rejected++;
				continue;
			}
		}
		flow_touch(s, f, now);
		send_to_backend(s, o, f, iov[i].iov_base, msgs[i].msg_len, now);
	}
	out_flush(s, o);
}

/* Queue BUF for F's client, from the address and port the client sent to. */
static void
reply(struct out_batch *o, struct fwd_flow *f, const uint8_t *buf, size_t len)
{
	struct msghdr *h;
	struct cmsghdr *cm;
	size_t i = o->n;

	if (f->rs != NULL) {
		out_add(o, f->rs->fd, buf, len, &f->client, f->client_len);
		return;
	}
	h = out_add(o, f->l->fd, buf, len, &f->client, f->client_len);
	if (!f->l->wildcard || f->local.family == NETADDR_NONE)
		return;
	memset(o->ctl[i], 0, sizeof(o->ctl[i]));
	h->msg_control = o->ctl[i];
	cm = (struct cmsghdr *)o->ctl[i];
	if (f->local.family == NETADDR_V4) {
		struct in_pktinfo pi = {0};

		memcpy(&pi.ipi_spec_dst, f->local.bytes, 4);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		h->msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi = {0};

		memcpy(&pi.ipi6_addr, f->local.bytes, 16);
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		h->msg_controllen = CMSG_SPACE(sizeof(pi));
	}
}

/* ICMP errors queued on UP (IP_RECVERR), each naming the endpoint it concerns: the flow that
 * sends there moves to another endpoint with its next datagram. At most one batch a call: the
 * queue is the kernel's, bounded by the socket's buffer. */
static void
uport_errors(struct fwd_server *s, struct fwd_uport *up)
{
	uint8_t ctl[512];

	for (int i = 0; i < FWD_UDP_BATCH; i++) {
		struct sockaddr_storage ss;
		struct msghdr h = {
		        .msg_name = &ss,
		        .msg_namelen = sizeof(ss),
		        .msg_control = ctl,
		        .msg_controllen = sizeof(ctl),
		};
		struct netaddr ip;
		struct fwd_flow *f;
		uint16_t port;
		bool refused = false;

		memset(&ss, 0, sizeof(ss));
		if (recvmsg(up->fd, &h, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&h); cm != NULL; cm = CMSG_NXTHDR(&h, cm)) {
			struct sock_extended_err ee;

			if (!((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR)) ||
			    cm->cmsg_len < CMSG_LEN(sizeof(ee)))
				continue;
			memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
			refused = ee.ee_errno == ECONNREFUSED || ee.ee_errno == EHOSTUNREACH ||
			          ee.ee_errno == ENETUNREACH;
		}
		addr_to_netaddr((const struct sockaddr *)&ss, &ip);
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                      : ((struct sockaddr_in *)&ss)->sin_port);
		if (!refused || (f = up_find(s, up, &ip, port)) == NULL)
			continue;
		/* The endpoint is not listening (or not reachable). */
		fwd_backend_failed(f->b, now_ms());
		f->l->pool->connect_failures++;
		f->b_failed = true;
	}
}

static void
on_uport(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_uport *up = arg;
	struct fwd_server *s = up->srv;
	struct mmsghdr msgs[FWD_UDP_BATCH];
	struct iovec iov[FWD_UDP_BATCH];
	struct sockaddr_storage peers[FWD_UDP_BATCH];
	struct fwd_flow *ending[FWD_UDP_BATCH];
	struct out_batch *o = s->udp_out;
	size_t n_ending = 0;
	uint64_t now;
	int n;
	(void)what;

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < FWD_UDP_BATCH; i++) {
		iov[i].iov_base = s->udp_buf + (size_t)i * FWD_UDP_MAX_PKT;
		iov[i].iov_len = FWD_UDP_MAX_PKT;
		msgs[i].msg_hdr.msg_name = &peers[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(fd, msgs, FWD_UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0) {
		/* Woken with nothing to read: an ICMP error is waiting (the socket's error, which
		 * this read cleared, and the queue that says which endpoint it was for). */
		uport_errors(s, up);
		return;
	}
	now = now_ms();
	for (int i = 0; i < n; i++) {
		struct netaddr ip;
		struct fwd_flow *f;
		uint16_t port;
		size_t len = msgs[i].msg_len;

		addr_to_netaddr((const struct sockaddr *)&peers[i], &ip);
		port = ntohs(peers[i].ss_family == AF_INET6
		                     ? ((struct sockaddr_in6 *)&peers[i])->sin6_port
		                     : ((struct sockaddr_in *)&peers[i])->sin_port);
		f = up_find(s, up, &ip, port);
		if (f == NULL) {
			/* From no endpoint a flow sends to here (a flow that ended, or a stranger).
			 */
			s->stats.udp_strays++;
			continue;
		}
		f->b->bytes_from += len;
		f->l->pool->bytes_out += len;
		f->l->pool->packets_out++;
		fwd_backend_succeeded(f->b);
		reply(o, f, iov[i].iov_base, len);
		if (f->unanswered > 0)
			f->unanswered--;
		if (f->answer_ends && f->unanswered == 0 && !f->ending) {
			/* Answered: the client's next lookup comes from another port anyway. Ended
			 * after the batch is sent: its reply socket may be the one sending. */
			f->ending = true;
			ending[n_ending++] = f;
		} else if (!f->ending) {
			flow_touch(s, f, now);
		}
	}
	out_flush(s, o);
	for (size_t i = 0; i < n_ending; i++) {
		s->stats.flows_answered++;
		flow_destroy(s, ending[i]);
	}
}

void
fwd_udp_listener_gone(struct fwd_server *s, struct fwd_listener *l)
{
	struct lru_node *n;

	while (l->flows.oldest != NULL)
		flow_destroy(s, lru_item(l->flows.oldest, struct fwd_flow, l_node));
	/* Its reply sockets too: a local process may be about to bind that address and port. */
	for (n = s->reply_idle.oldest; n != NULL;) {
		struct fwd_reply *r = lru_item(n, struct fwd_reply, idle);

		n = n->next;
		if (r->port == l->port && (l->wildcard || netaddr_equal(&r->addr, &l->addr)))
			reply_close(s, r);
	}
}

void
fwd_udp_recheck(struct fwd_server *s, struct fwd_listener *l)
{
	struct lru_node *n = l->flows.oldest;
	size_t closed = 0;
	char label[FWD_LABEL_LEN];

	while (n != NULL) {
		struct fwd_flow *f = lru_item(n, struct fwd_flow, l_node);

		n = n->next;
		if (!fwd_listen_admits(l, &f->client_ip)) {
			flow_destroy(s, f);
			closed++;
		}
	}
	if (closed > 0)
		log_msg(LL_DEBUG,
		        "%s: %zu flows closed: their clients are outside the new source ranges",
		        fwd_listen_label(l, label), closed);
}

void
fwd_udp_sweep(struct fwd_server *s, uint64_t now)
{
	struct fwd_flow *f;
	struct fwd_reply *r;

	while ((f = lru_item(s->flow_lru.oldest, struct fwd_flow, lru)) != NULL &&
	       now - f->last_ms >= s->opts.udp_timeout_ms) {
		s->stats.flows_expired++;
		flow_destroy(s, f);
	}
	while ((r = lru_item(s->reply_idle.oldest, struct fwd_reply, idle)) != NULL &&
	       now - r->idle_since_ms >= FWD_UPORT_IDLE_MS)
		reply_close(s, r);
	/* Give back the sockets a past burst needed: the last ones, while unused for a while. */
	for (int fam = 0; fam < 2; fam++) {
		struct fwd_uport *up;

		while (s->n_uports[fam] > 0 &&
		       (up = s->uports[fam][s->n_uports[fam] - 1])->flows == 0 &&
		       now - up->idle_since_ms >= FWD_UPORT_IDLE_MS) {
			s->n_uports[fam]--;
			uport_close(s, up);
		}
	}
}

size_t
fwd_udp_sockets(const struct fwd_server *s)
{
	return s->n_uports[0] + s->n_uports[1];
}

enum svc_status
fwd_udp_init(struct fwd_server *s)
{
	htab_init(&s->flows);
	htab_init(&s->flow_ups);
	htab_init(&s->replies);
	lru_init(&s->reply_idle);
	lru_init(&s->flow_lru);
	s->rng = (uint64_t)now_ms() ^ (uint64_t)getpid() << 32;
	s->udp_buf = malloc((size_t)FWD_UDP_BATCH * FWD_UDP_MAX_PKT);
	s->udp_out = malloc(sizeof(*s->udp_out));
	if (s->udp_out != NULL)
		s->udp_out->n = 0;
	return s->udp_buf != NULL && s->udp_out != NULL ? SVC_OK : SVC_ENOMEM;
}

void
fwd_udp_deinit(struct fwd_server *s)
{
	while (s->flow_lru.oldest != NULL)
		flow_destroy(s, lru_item(s->flow_lru.oldest, struct fwd_flow, lru));
	while (s->reply_idle.oldest != NULL)
		reply_close(s, lru_item(s->reply_idle.oldest, struct fwd_reply, idle));
	for (int fam = 0; fam < 2; fam++) {
		while (s->n_uports[fam] > 0)
			uport_close(s, s->uports[fam][--s->n_uports[fam]]);
		free(s->uports[fam]);
		s->uports[fam] = NULL;
		s->cap_uports[fam] = 0;
	}
	htab_deinit(&s->flows);
	htab_deinit(&s->flow_ups);
	htab_deinit(&s->replies);
	free(s->udp_buf);
	s->udp_buf = NULL;
	free(s->udp_out);
	s->udp_out = NULL;
}
