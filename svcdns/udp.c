/* udp.c -- UDP workers: each thread owns one SO_REUSEPORT socket per listen address and its own
 * event loop, and answers batches of queries with recvmmsg/sendmmsg. Cluster names and cache
 * hits are answered here; other names go to the main loop, which owns the upstream queries. */
#include "udp.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query.h"
#include "upstream.h"

#define BATCH   32
#define IN_MAX  4096
#define CTL_MAX 64

/* Where a query arrived, so its answer leaves from there (a wildcard socket on a host with many
 * addresses). */
struct udp_dst {
	int family; /* 0: unknown */
	struct in_pktinfo v4;
	struct in6_pktinfo v6;
};

struct udp_batch {
	uint8_t in[BATCH][IN_MAX];
	uint8_t out[BATCH][DNSQ_UDP_MAX + DNSW_NAME_MAX + 64];
	uint8_t scratch[DNSQ_OUT_MAX]; /* answers dnsq writes past a UDP limit (never sent) */
	struct sockaddr_storage peer[BATCH];
	uint8_t ctl_in[BATCH][CTL_MAX];
	uint8_t ctl_out[BATCH][CTL_MAX];
	struct iovec iov_in[BATCH], iov_out[BATCH];
	struct mmsghdr msg_in[BATCH], msg_out[BATCH];
};

struct udp_worker;

struct udp_sock {
	struct udp_worker *w;
	int fd;
	struct event *ev;
};

struct udp_worker {
	struct dnsd_server *srv;
	pthread_t thread;
	bool running;
	struct event_base *base;
	struct udp_sock socks[DNSD_MAX_LISTEN];
	size_t n_socks;
	struct udp_batch *b;
	struct dnsd_metrics metrics;
};

struct dnsd_udp {
	struct udp_worker *workers;
	size_t n;
};

/* What a request waiting on upstream keeps to be answered: the socket, the client, the local
 * address. */
struct udp_req {
	int fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	struct udp_dst dst;
};

static int
open_socket(const struct daemon_addr *a)
{
	int fd = socket(a->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, rcvbuf = 4 << 20;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* Room for a burst while the main loop swaps models. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (a->sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* An address need not be the node's yet: the kube-dns ClusterIP in node-local mode
	 * becomes local when svcfwd routes the service CIDR to lo. */
	if (!addr_is_any(a))
		setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
	/* Only a wildcard socket needs to learn where a query went, to answer from there. */
	if (addr_is_any(a) && a->sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	else if (addr_is_any(a))
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->sa, a->len) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void
dst_from_msg(struct msghdr *h, struct udp_dst *dst)
{
	memset(dst, 0, sizeof(*dst));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			memcpy(&dst->v4, CMSG_DATA(c), sizeof(dst->v4));
			dst->family = AF_INET;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			memcpy(&dst->v6, CMSG_DATA(c), sizeof(dst->v6));
			dst->family = AF_INET6;
		}
	}
}

/* Control data so the answer leaves from the address the query was sent to. Its length. */
static size_t
dst_to_ctl(const struct udp_dst *dst, uint8_t *buf, size_t cap)
{
	struct msghdr h = {.msg_control = buf, .msg_controllen = cap};
	struct cmsghdr *c;

	memset(buf, 0, cap);
	if (dst->family == AF_INET && cap >= CMSG_SPACE(sizeof(struct in_pktinfo))) {
		struct in_pktinfo pi = dst->v4;

		h.msg_controllen = CMSG_SPACE(sizeof(pi));
		c = CMSG_FIRSTHDR(&h);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		pi.ipi_spec_dst = pi.ipi_addr;
		pi.ipi_ifindex = 0;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	if (dst->family == AF_INET6 && cap >= CMSG_SPACE(sizeof(struct in6_pktinfo))) {
		struct in6_pktinfo pi = dst->v6;

		h.msg_controllen = CMSG_SPACE(sizeof(pi));
		c = CMSG_FIRSTHDR(&h);
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	return 0;
}

/* A request's reply: from the main loop, on the worker's socket (sendmsg is thread-safe). */
static void
req_reply(struct dnsd_req *r, const uint8_t *buf, size_t len)
{
	struct udp_req *u = r->ctx;
	uint8_t ctl[CTL_MAX];
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr h = {
	        .msg_name = &u->peer,
	        .msg_namelen = u->peer_len,
	        .msg_iov = &iov,
	        .msg_iovlen = 1,
	        .msg_control = ctl,
	        .msg_controllen = dst_to_ctl(&u->dst, ctl, sizeof(ctl)),
	};

	if (h.msg_controllen == 0)
		h.msg_control = NULL;
	(void)sendmsg(u->fd, &h, MSG_DONTWAIT);
}

/* Hand a question to the main loop; when its queue is full, SERVFAIL now. */
static void
pass_upstream(struct udp_worker *w, int fd, int i, const struct dnsd_query *dq, uint64_t t0,
              struct udp_dst *dst)
{
	struct udp_batch *b = w->b;
	struct dnsd_req *r =
	        dnsd_req_new(&dq->q, &dq->res, b->in[i], b->scratch, sizeof(struct udp_req));
	struct udp_req *u;

	if (r == NULL)
		return;
	u = r->ctx;
	u->fd = fd;
	memcpy(&u->peer, &b->peer[i], b->msg_in[i].msg_hdr.msg_namelen);
	u->peer_len = b->msg_in[i].msg_hdr.msg_namelen;
	u->dst = *dst;
	r->reply = req_reply;
	r->start_ns = t0;
	if (dnsd_server_enqueue(w->srv, r))
		return;
	dnsd_metrics_add(&w->metrics.drops[DNSD_DROP_QUEUE], 1);
	{
		size_t len = dnsq_error(&r->q, r->pkt, DNSW_R_SERVFAIL, b->scratch);

		dnsd_metrics_answer(&w->metrics, r->q.qtype, DNSW_R_SERVFAIL, false, now_ns() - t0);
		req_reply(r, b->scratch, len);
	}
	dnsd_req_free(r);
}

static void
udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct udp_sock *us = arg;
	struct udp_worker *w = us->w;
	struct udp_batch *b = w->b;
	(void)what;

	/* A few batches per wake-up, then let the loop breathe. */
	for (int round = 0; round < 8; round++) {
		struct dnsz *z;
		int n, nout = 0, sent = 0;
		uint16_t rcode[BATCH], qtype[BATCH];
		bool tc[BATCH];
		uint64_t t0, t1;

		for (int i = 0; i < BATCH; i++) {
			b->iov_in[i] = (struct iovec){b->in[i], IN_MAX};
			b->msg_in[i].msg_hdr = (struct msghdr){
			        .msg_name = &b->peer[i],
			        .msg_namelen = sizeof(b->peer[i]),
			        .msg_iov = &b->iov_in[i],
			        .msg_iovlen = 1,
			        .msg_control = b->ctl_in[i],
			        .msg_controllen = CTL_MAX,
			};
		}
		n = recvmmsg(fd, b->msg_in, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		t0 = now_ns();
		z = dnsd_server_zone(w->srv);
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &b->msg_in[i].msg_hdr;
			struct dnsd_query dq;
			struct netaddr client;
			struct udp_dst dst;

			addr_to_netaddr((const struct sockaddr *)&b->peer[i], &client);
			dst_from_msg(h, &dst);
			/* An oversized datagram was cut: parse what arrived, which then fails. */
			switch (dnsd_query_process(w->srv, &w->metrics, z, DNSQ_UDP, &client,
			                           b->in[i], b->msg_in[i].msg_len, b->scratch,
			                           &dq)) {
			case DNSD_SILENT:
			case DNSD_TRANSFER: /* cannot be: transfers are TCP only (dnsq) */
				continue;
			case DNSD_UPSTREAM:
				pass_upstream(w, fd, i, &dq, t0, &dst);
				continue;
			case DNSD_SEND:
				break;
			}
			if (dq.len > sizeof(b->out[0]))
				continue; /* cannot happen: UDP answers respect the limit */
			memcpy(b->out[nout], b->scratch, dq.len);
			rcode[nout] = dq.res.rcode;
			qtype[nout] = dq.q.qtype;
			tc[nout] = dq.res.truncated;
			b->iov_out[nout] = (struct iovec){b->out[nout], dq.len};
			b->msg_out[nout].msg_hdr = (struct msghdr){
			        .msg_name = &b->peer[i],
			        .msg_namelen = h->msg_namelen,
			        .msg_iov = &b->iov_out[nout],
			        .msg_iovlen = 1,
			        .msg_control = b->ctl_out[nout],
			        .msg_controllen = dst_to_ctl(&dst, b->ctl_out[nout], CTL_MAX),
			};
			if (b->msg_out[nout].msg_hdr.msg_controllen == 0)
				b->msg_out[nout].msg_hdr.msg_control = NULL;
			nout++;
		}
		dnsz_unref(z);
		/* One clock read per batch, not two per query. */
		t1 = now_ns();
		for (int i = 0; i < nout; i++)
			dnsd_metrics_answer(&w->metrics, qtype[i], rcode[i], tc[i], t1 - t0);
		while (sent < nout) {
			int k = sendmmsg(fd, b->msg_out + sent, (unsigned)(nout - sent),
			                 MSG_DONTWAIT);

			if (k <= 0) {
				if (k < 0 && errno == EINTR)
					continue;
				/* A full socket buffer: skip that datagram, as the network might.
				 */
				sent++;
				continue;
			}
			sent += k;
		}
		if (n < BATCH)
			return;
	}
}

static void *
worker_main(void *arg)
{
	struct udp_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

/* Open worker W's sockets; false when one that must open does not. */
static bool
worker_open(struct udp_worker *w, size_t index)
{
	struct dnsd_server *s = w->srv;

	w->base = event_base_new();
	w->b = calloc(1, sizeof(*w->b));
	if (w->base == NULL || w->b == NULL)
		return false;
	for (size_t j = 0; j < s->opts.n_listen; j++) {
		struct udp_sock *us = &w->socks[w->n_socks];
		char name[80];
		int fd = open_socket(&s->opts.listen[j]);

		if (fd < 0) {
			addr_str(&s->opts.listen[j], name, sizeof(name));
			if (s->opts.listen_default && s->opts.listen[j].sa.ss_family == AF_INET6) {
				if (index == 0)
					log_msg(LL_WARN, "udp %s: %s (skipped)", name,
					        strerror(errno));
				continue;
			}
			log_msg(LL_ERROR, "udp %s: %s", name, strerror(errno));
			return false;
		}
		us->w = w;
		us->fd = fd;
		w->n_socks++;
		us->ev = event_new(w->base, fd, EV_READ | EV_PERSIST, udp_read, us);
		if (us->ev == NULL || event_add(us->ev, NULL) != 0)
			return false;
	}
	return true;
}

static void
worker_close(struct udp_worker *w)
{
	for (size_t j = 0; j < w->n_socks; j++) {
		if (w->socks[j].ev != NULL)
			event_free(w->socks[j].ev);
		close(w->socks[j].fd);
	}
	w->n_socks = 0;
	if (w->base != NULL)
		event_base_free(w->base);
	w->base = NULL;
	free(w->b);
	w->b = NULL;
}

enum svc_status
dnsd_udp_start(struct dnsd_server *s, struct dnsd_udp **out)
{
	struct dnsd_udp *u = calloc(1, sizeof(*u));
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	if (u == NULL)
		return SVC_ENOMEM;
	u->workers = calloc(s->opts.threads, sizeof(*u->workers));
	if (u->workers == NULL)
		goto fail;
	u->n = s->opts.threads;
	for (size_t i = 0; i < u->n; i++) {
		u->workers[i].srv = s;
		if (!worker_open(&u->workers[i], i)) {
			st = SVC_EIO;
			goto fail;
		}
	}
	if (u->workers[0].n_socks == 0) {
		log_msg(LL_ERROR, "no UDP socket could be opened");
		st = SVC_EIO;
		goto fail;
	}
	for (size_t i = 0; i < u->n; i++) {
		if (pthread_create(&u->workers[i].thread, NULL, worker_main, &u->workers[i]) != 0)
			goto fail;
		u->workers[i].running = true;
	}
	*out = u;
	return SVC_OK;
fail:
	dnsd_udp_stop(u);
	return st;
}

void
dnsd_udp_halt(struct dnsd_udp *u)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->n; i++) {
		if (u->workers[i].running)
			event_base_loopbreak(u->workers[i].base);
	}
	for (size_t i = 0; i < u->n; i++) {
		if (u->workers[i].running)
			pthread_join(u->workers[i].thread, NULL);
		u->workers[i].running = false;
	}
}

void
dnsd_udp_stop(struct dnsd_udp *u)
{
	if (u == NULL)
		return;
	dnsd_udp_halt(u);
	for (size_t i = 0; i < u->n; i++)
		worker_close(&u->workers[i]);
	free(u->workers);
	free(u);
}

struct dnsd_metrics *
dnsd_udp_metrics(struct dnsd_udp *u, size_t i)
{
	return &u->workers[i].metrics;
}

size_t
dnsd_udp_workers(const struct dnsd_udp *u)
{
	return u != NULL ? u->n : 0;
}
