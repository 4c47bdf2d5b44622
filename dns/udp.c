/* udp.c -- UDP workers: each thread owns one SO_REUSEPORT socket per listen address and its own
 * event loop, and answers batches of queries with recvmmsg/sendmmsg. Cluster names and cache
 * hits are answered here; other names go to the main loop, which owns the upstream queries. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svcdns.h"

#define BATCH   32
#define IN_MAX  4096
#define CTL_MAX 64

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

struct udp_sock {
	struct worker *w;
	int fd;
	struct udp_batch *b;
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

void
udp_dst_from_msg(struct msghdr *h, struct udp_dst *dst)
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

/* Control data so the answer leaves from the address the query was sent to (the socket may be
 * bound to a wildcard address on a host with many). Returns its length. */
size_t
udp_dst_to_ctl(const struct udp_dst *dst, uint8_t *buf, size_t cap)
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

void
udp_send(int fd, const struct daemon_addr *peer, const struct udp_dst *dst, const uint8_t *buf,
         size_t len)
{
	uint8_t ctl[CTL_MAX];
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr h = {
	        .msg_name = (void *)&peer->sa,
	        .msg_namelen = peer->len,
	        .msg_iov = &iov,
	        .msg_iovlen = 1,
	        .msg_control = ctl,
	        .msg_controllen = udp_dst_to_ctl(dst, ctl, sizeof(ctl)),
	};

	if (h.msg_controllen == 0)
		h.msg_control = NULL;
	(void)sendmsg(fd, &h, MSG_DONTWAIT);
}

static void
udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct udp_sock *us = arg;
	struct worker *w = us->w;
	struct udp_batch *b = us->b;
	(void)what;

	/* A few batches per wake-up, then let the loop breathe. */
	for (int round = 0; round < 8; round++) {
		struct dnsq_query q;
		struct dnsq_result res;
		struct dnsz *z;
		int n, nout = 0, sent = 0;
		uint16_t rcode[BATCH];
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
		z = server_zone(w->srv);
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &b->msg_in[i].msg_hdr;
			size_t len = b->msg_in[i].msg_len;
			uint8_t *out = b->out[nout];
			struct udp_dst dst;

			/* An oversized datagram was cut: parse what arrived, which then fails. */
			dnsq_answer(z, b->in[i], len, DNSQ_UDP, b->scratch, &q, &res);
			if (res.action == DNSQ_DROP) {
				metrics_add(&w->metrics, &w->metrics.dropped, 1);
				continue;
			}
			metrics_query(&w->metrics, 0, q.qtype);
			udp_dst_from_msg(h, &dst);
			if (res.action == DNSQ_FORWARD || res.action == DNSQ_CHASE) {
				struct fwd_req *r =
				        fwd_req_new(&q, &res, b->in[i], len, b->scratch);
				size_t alen;

				if (r == NULL)
					continue;
				r->udp_fd = fd;
				memcpy(&r->peer.sa, &b->peer[i], h->msg_namelen);
				r->peer.len = h->msg_namelen;
				r->dst = dst;
				r->metrics = &w->metrics;
				r->start_ns = t0;
				alen = fwd_from_cache(w->srv, r, b->scratch);
				if (alen == 0) {
					server_enqueue(w->srv, r);
					continue;
				}
				fwd_req_free(r);
				res.len = alen;
				res.rcode = dnsw_get16(b->scratch + 2) & DNSW_F_RCODE_MASK;
				res.truncated = (dnsw_get16(b->scratch + 2) & DNSW_F_TC) != 0;
			}
			if (res.len > sizeof(b->out[0]))
				continue; /* cannot happen: UDP answers respect the limit */
			memcpy(out, b->scratch, res.len);
			rcode[nout] = res.rcode;
			tc[nout] = res.truncated;
			b->iov_out[nout] = (struct iovec){out, res.len};
			b->msg_out[nout].msg_hdr = (struct msghdr){
			        .msg_name = &b->peer[i],
			        .msg_namelen = h->msg_namelen,
			        .msg_iov = &b->iov_out[nout],
			        .msg_iovlen = 1,
			        .msg_control = b->ctl_out[nout],
			        .msg_controllen = udp_dst_to_ctl(&dst, b->ctl_out[nout], CTL_MAX),
			};
			if (b->msg_out[nout].msg_hdr.msg_controllen == 0)
				b->msg_out[nout].msg_hdr.msg_control = NULL;
			nout++;
		}
		dnsz_unref(z);
		t1 = now_ns();
		for (int i = 0; i < nout; i++)
			metrics_answer(&w->metrics, rcode[i], tc[i], t1 - t0);
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
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

enum svc_status
udp_start(struct server *s)
{
	enum svc_status st = SVC_EIO;
	size_t opened = 0;

	s->workers = calloc((size_t)s->opts.threads, sizeof(*s->workers));
	if (s->workers == NULL)
		return SVC_ENOMEM;
	s->n_workers = (size_t)s->opts.threads;
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];

		w->srv = s;
		w->base = event_base_new();
		if (w->base == NULL)
			return SVC_ENOMEM;
		for (size_t j = 0; j < s->opts.n_listen; j++) {
			char name[80];
			int fd = open_socket(&s->opts.listen[j]);
			struct udp_sock *us;

			w->fds[j] = fd;
			if (fd < 0) {
				addr_str(&s->opts.listen[j], name, sizeof(name));
				if (s->opts.listen_default &&
				    s->opts.listen[j].sa.ss_family == AF_INET6) {
					if (i == 0)
						log_msg(LL_WARN, "udp %s: %s (skipped)", name,
						        strerror(errno));
					continue;
				}
				log_msg(LL_ERROR, "udp %s: %s", name, strerror(errno));
				return SVC_EIO;
			}
			us = calloc(1, sizeof(*us));
			if (us == NULL)
				return SVC_ENOMEM;
			us->w = w;
			us->fd = fd;
			us->b = calloc(1, sizeof(*us->b));
			w->ev[j] = event_new(w->base, fd, EV_READ | EV_PERSIST, udp_read, us);
			if (us->b == NULL || w->ev[j] == NULL || event_add(w->ev[j], NULL) != 0)
				return SVC_ENOMEM;
			opened++;
		}
		w->n_fds = s->opts.n_listen;
	}
	if (opened == 0) {
		log_msg(LL_ERROR, "no UDP socket could be opened");
		return st;
	}
	for (size_t i = 0; i < s->n_workers; i++) {
		if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0)
			return SVC_ENOMEM;
	}
	return SVC_OK;
}

void
udp_stop(struct server *s)
{
	for (size_t i = 0; i < s->n_workers; i++)
		event_base_loopbreak(s->workers[i].base);
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];

		pthread_join(w->thread, NULL);
		for (size_t j = 0; j < w->n_fds; j++) {
			if (w->ev[j] != NULL) {
				struct udp_sock *us = event_get_callback_arg(w->ev[j]);

				event_free(w->ev[j]);
				free(us->b);
				free(us);
			}
			if (w->fds[j] >= 0)
				close(w->fds[j]);
		}
		event_base_free(w->base);
	}
	free(s->workers);
	s->workers = NULL;
	s->n_workers = 0;
}
