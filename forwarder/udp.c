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
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "svcfwd.h"

#define FWD_UDP_BATCH      32 /* datagrams per read */
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
};

struct fwd_flow {
	struct htab_node node;  /* in the server's flows */
	struct lru_node lru;    /* in the server's idle order */
	struct lru_node l_node; /* in the listener's flows */
	struct fwd_listener *l;
	struct sockaddr_storage client;
	socklen_t client_len;
	struct netaddr client_ip;
	struct netaddr local; /* the address the client sent to */
	struct fwd_reply *rs; /* under sk_lookup: where replies leave from */
	int fd;               /* connected to B; -1 before the first */
	sa_family_t family;   /* FD's */
	struct event ev;
	struct fwd_backend *b;
	uint64_t gen; /* the pool generation B was last found a member in */
	bool b_failed;
	bool answer_ends;    /* a request/response protocol (--udp-answer-ports) */
	uint32_t unanswered; /* its datagrams sent on, not yet answered */
	uint64_t last_ms;
};

static void on_reply(evutil_socket_t fd, short what, void *arg);

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
			r->refs++;
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
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
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
reply_put(struct fwd_server *s, struct fwd_reply *r)
{
	if (r == NULL || --r->refs > 0)
		return;
	htab_remove(&s->replies, &r->node);
	close(r->fd);
	free(r);
}

static uint32_t
flow_hash(const struct fwd_listener *l, const struct sockaddr_storage *sa, socklen_t len,
          const struct netaddr *local)
{
	return htab_hash_bytes(sa, len, (uint32_t)(uintptr_t)l) ^ netaddr_hash(local);
}

static void
flow_touch(struct fwd_server *s, struct fwd_flow *f)
{
	f->last_ms = now_ms();
	lru_touch(&s->flow_lru, &f->lru);
}

static void
flow_destroy(struct fwd_server *s, struct fwd_flow *f)
{
	htab_remove(&s->flows, &f->node);
	lru_remove(&s->flow_lru, &f->lru);
	lru_remove(&f->l->flows, &f->l_node);
	event_del(&f->ev);
	close(f->fd);
	if (f->b != NULL) {
		f->b->active--;
		fwd_backend_put(&s->pools.backends, f->b);
	}
	reply_put(s, f->rs);
	free(f);
}

/* Connect F to B, on a new socket when B's family is not the socket's (the first time, or when
 * the pool now holds the other family). */
static bool
flow_connect(struct fwd_server *s, struct fwd_flow *f, const struct fwd_backend *b)
{
	struct sockaddr_storage sa;
	socklen_t sa_len = fwd_backend_sockaddr(b, &sa);
	int fd;

	if (f->fd >= 0 && f->family == sa.ss_family)
		return connect(f->fd, (const struct sockaddr *)&sa, sa_len) == 0;
	fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (connect(fd, (const struct sockaddr *)&sa, sa_len) != 0) {
		close(fd);
		return false;
	}
	if (f->fd >= 0) {
		event_del(&f->ev);
		close(f->fd);
	}
	f->fd = fd;
	f->family = sa.ss_family;
	event_assign(&f->ev, s->base, fd, EV_READ | EV_PERSIST, on_reply, f);
	event_add(&f->ev, NULL);
	return true;
}

/* Point F at a backend of its listener's pool: a new one when it has none, its own is not in
 * that pool (it left, or the listener moved to another pool), or it failed. False when the
 * pool has nowhere to send. */
static bool
flow_route(struct fwd_server *s, struct fwd_flow *f)
{
	struct fwd_pool *pool = f->l->pool;
	struct fwd_backend *b, *tried[1];
	size_t n_tried = 0;

	if (f->b != NULL && !f->b_failed && fwd_pool_keeps(pool, f->b, &f->gen))
		return true;
	if (f->b != NULL && f->b_failed)
		tried[n_tried++] = f->b;
	b = fwd_pool_pick(&s->pools, pool, &f->client_ip, now_ms(), tried, n_tried);
	if (b == NULL && n_tried > 0)
		b = fwd_pool_pick(&s->pools, pool, &f->client_ip, now_ms(), NULL, 0);
	if (b == NULL)
		return false;
	if (!flow_connect(s, f, b)) {
		fwd_backend_put(&s->pools.backends, b);
		return false;
	}
	if (f->b != NULL) {
		f->b->active--;
		fwd_backend_put(&s->pools.backends, f->b);
	}
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
         socklen_t len, const struct netaddr *local)
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
	f->fd = -1;
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
	if (htab_insert(&s->flows, &f->node, flow_hash(l, sa, len, local)) != SVC_OK ||
	    !flow_route(s, f)) {
		htab_remove(&s->flows, &f->node);
		if (f->fd >= 0) {
			event_del(&f->ev);
			close(f->fd);
		}
		reply_put(s, f->rs);
		free(f);
		return NULL;
	}
	lru_push(&l->flows, &f->l_node);
	for (size_t i = 0; i < s->opts.n_udp_answer_ports; i++)
		f->answer_ends |= s->opts.udp_answer_ports[i] == l->port;
	f->last_ms = now_ms();
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

static void
send_to_backend(struct fwd_server *s, struct fwd_flow *f, const uint8_t *buf, size_t len)
{
	struct fwd_pool *pool = f->l->pool;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!flow_route(s, f))
			return;
		if (send(f->fd, buf, len, 0) >= 0) {
			f->b->bytes_to += len;
			pool->bytes_in += len;
			pool->packets_in++;
			f->unanswered++;
			return;
		}
		if (errno != ECONNREFUSED && errno != EHOSTUNREACH && errno != ENETUNREACH)
			return;
		/* An ICMP error from an earlier datagram: the endpoint is not listening. */
		fwd_backend_failed(f->b, now_ms());
		pool->connect_failures++;
		f->b_failed = true;
	}
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
			f = flow_new(s, l, &peers[i], plen, &local);
			if (f == NULL) {
				l->pool->rejected++;
				continue;
			}
		}
		flow_touch(s, f);
		send_to_backend(s, f, iov[i].iov_base, msgs[i].msg_len);
	}
}

/* Send BUF to F's client from the listener, from the address the client used. */
static void
reply(struct fwd_flow *f, const uint8_t *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	uint8_t ctl[CMSG_SPACE_PKTINFO];
	struct msghdr h = {
	        .msg_name = &f->client,
	        .msg_namelen = f->client_len,
	        .msg_iov = &iov,
	        .msg_iovlen = 1,
	};

	if (f->rs != NULL) {
		sendto(f->rs->fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)&f->client,
		       f->client_len);
		return;
	}
	if (f->l->wildcard && f->local.family != NETADDR_NONE) {
		struct cmsghdr *cm;

		memset(ctl, 0, sizeof(ctl));
		h.msg_control = ctl;
		cm = (struct cmsghdr *)ctl;
		if (f->local.family == NETADDR_V4) {
			struct in_pktinfo pi = {0};

			memcpy(&pi.ipi_spec_dst, f->local.bytes, 4);
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			h.msg_controllen = CMSG_SPACE(sizeof(pi));
		} else {
			struct in6_pktinfo pi = {0};

			memcpy(&pi.ipi6_addr, f->local.bytes, 16);
			cm->cmsg_level = IPPROTO_IPV6;
			cm->cmsg_type = IPV6_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			h.msg_controllen = CMSG_SPACE(sizeof(pi));
		}
	}
	sendmsg(f->l->fd, &h, MSG_DONTWAIT);
}

static void
on_reply(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_flow *f = arg;
	struct fwd_server *s = f->l->srv;
	(void)what;

	for (int i = 0; i < FWD_UDP_BATCH; i++) {
		ssize_t n = recv(fd, s->udp_buf, FWD_UDP_MAX_PKT, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == ECONNREFUSED || errno == EHOSTUNREACH) {
				fwd_backend_failed(f->b, now_ms());
				f->l->pool->connect_failures++;
				f->b_failed = true;
				continue;
			}
			break;
		}
		f->b->bytes_from += (uint64_t)n;
		f->l->pool->bytes_out += (uint64_t)n;
		f->l->pool->packets_out++;
		fwd_backend_succeeded(f->b);
		reply(f, s->udp_buf, (size_t)n);
		if (f->unanswered > 0)
			f->unanswered--;
		if (f->answer_ends && f->unanswered == 0) {
			/* Answered: the client's next lookup comes from another port anyway. */
			s->stats.flows_answered++;
			flow_destroy(s, f);
			return;
		}
	}
	flow_touch(s, f);
}

void
fwd_udp_listener_gone(struct fwd_server *s, struct fwd_listener *l)
{
	while (l->flows.oldest != NULL)
		flow_destroy(s, lru_item(l->flows.oldest, struct fwd_flow, l_node));
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

	while ((f = lru_item(s->flow_lru.oldest, struct fwd_flow, lru)) != NULL &&
	       now - f->last_ms >= s->opts.udp_timeout_ms) {
		s->stats.flows_expired++;
		flow_destroy(s, f);
	}
}

enum svc_status
fwd_udp_init(struct fwd_server *s)
{
	htab_init(&s->flows);
	htab_init(&s->replies);
	lru_init(&s->flow_lru);
	s->udp_buf = malloc((size_t)FWD_UDP_BATCH * FWD_UDP_MAX_PKT);
	return s->udp_buf != NULL ? SVC_OK : SVC_ENOMEM;
}

void
fwd_udp_deinit(struct fwd_server *s)
{
	while (s->flow_lru.oldest != NULL)
		flow_destroy(s, lru_item(s->flow_lru.oldest, struct fwd_flow, lru));
	htab_deinit(&s->flows);
	htab_deinit(&s->replies);
	free(s->udp_buf);
	s->udp_buf = NULL;
}
