/* upstream.c -- names outside the cluster: the cache, then one upstream query per distinct
 * question in flight (others wait on it), sent with c-ares's ares_send on the main event loop.
 * c-ares rotates and fails over between upstreams; a question unanswered after the deadline
 * gets SERVFAIL, never silence. */
#include <ares.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "svcdns.h"

#define PEND_BUCKETS 4096
#define MAX_INFLIGHT 10000
#define MAX_SOCKS    64

struct pend {
	struct pend *next_hash;
	struct upstream *up;
	struct dnsq_query key;
	uint32_t khash;
	struct fwd_req *waiters;
	struct event *timer;
	bool done; /* answered by the deadline: the c-ares callback only frees it */
};

struct up_sock {
	ares_socket_t fd;
	struct event *ev;
};

struct upstream {
	struct server *srv;
	ares_channel channel;
	struct event *timer;
	struct up_sock socks[MAX_SOCKS];
	struct pend *table[PEND_BUCKETS];
	size_t inflight;
	uint16_t next_id;
	uint8_t out[DNSQ_OUT_MAX];
	_Atomic uint64_t sent, answered, timeouts, failures, malformed, coalesced;
};

static void
bump(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ---- requests ---- */

struct fwd_req *
fwd_req_new(const struct dnsq_query *q, const struct dnsq_result *res, const uint8_t *pkt,
            size_t len, const uint8_t *out)
{
	size_t partial = res->action == DNSQ_CHASE ? res->len : 0;
	struct fwd_req *r = calloc(1, sizeof(*r) + len + partial);

	if (r == NULL)
		return NULL;
	r->q = *q;
	r->pkt = (uint8_t *)(r + 1);
	memcpy(r->pkt, pkt, len);
	r->pkt_len = len;
	r->udp_fd = -1;
	r->kq = *q;
	if (partial > 0) {
		r->partial = r->pkt + len;
		memcpy(r->partial, out, partial);
		r->partial_len = partial;
		/* The CNAME target's question, as a resolver would ask it. */
		memcpy(r->kq.qname, q->chase, q->chase_len);
		r->kq.qname_len = q->chase_len;
		r->kq.hash = dnsw_name_hash(q->chase, q->chase_len);
		r->kq.qclass = DNSW_C_IN;
		r->kq.flags = DNSW_F_RD;
		r->kq.edns = false;
		r->kq.edns_do = false;
	}
	r->kq.chase = NULL;
	r->q.chase = NULL;
	return r;
}

void
fwd_req_free(struct fwd_req *r)
{
	if (r == NULL)
		return;
	if (r->tcp != NULL)
		tcp_conn_release(r->tcp);
	free(r);
}

struct render_ctx {
	struct fwd_req *r;
	uint8_t *out;
};

static size_t
render(const struct dnsr_msg *m, uint32_t age, void *arg)
{
	struct render_ctx *c = arg;

	if (c->r->partial != NULL)
		return dnsr_render_chase(m, &c->r->q, c->r->partial, c->r->partial_len, age,
		                         c->out);
	return dnsr_render(m, &c->r->q, c->r->pkt, age, c->out);
}

size_t
fwd_from_cache(struct server *s, struct fwd_req *r, uint8_t *out)
{
	struct render_ctx ctx = {r, out};

	if (s->cache == NULL || !(r->kq.flags & DNSW_F_RD))
		return 0;
	return dnsc_lookup(s->cache, &r->kq, now_s(), render, &ctx);
}

void
fwd_reply(struct server *s, struct fwd_req *r, const uint8_t *buf, size_t len, uint16_t rcode,
          bool truncated)
{
	metrics_answer(&s->metrics, rcode, truncated, now_ns() - r->start_ns);
	if (r->tcp != NULL)
		tcp_reply(r->tcp, buf, len);
	else
		udp_send(r->udp_fd, &r->peer, &r->dst, buf, len);
}

static void
reply_rendered(struct server *s, struct fwd_req *r, const uint8_t *buf, size_t len)
{
	uint16_t flags = dnsw_get16(buf + 2);

	fwd_reply(s, r, buf, len, flags & DNSW_F_RCODE_MASK, (flags & DNSW_F_TC) != 0);
}

static void
reply_error(struct upstream *up, struct fwd_req *r, uint16_t rcode)
{
	size_t len = dnsq_error(&r->q, r->pkt, rcode, up->out);

	fwd_reply(up->srv, r, up->out, len, rcode, false);
}

/* ---- c-ares on the event loop ---- */

static void reschedule(struct upstream *up);

static void
on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *up = arg;

	ares_process_fd(up->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	                (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	reschedule(up);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *up = arg;
	(void)fd;
	(void)what;

	ares_process_fd(up->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	reschedule(up);
}

static void
reschedule(struct upstream *up)
{
	struct timeval tv, *t = ares_timeout(up->channel, NULL, &tv);

	if (t != NULL)
		evtimer_add(up->timer, t);
	else
		evtimer_del(up->timer);
}

/* c-ares tells us which sockets to watch. */
static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct upstream *up = data;
	struct up_sock *slot = NULL, *free_slot = NULL;

	for (size_t i = 0; i < MAX_SOCKS; i++) {
		if (up->socks[i].ev != NULL && up->socks[i].fd == fd)
			slot = &up->socks[i];
		else if (up->socks[i].ev == NULL && free_slot == NULL)
			free_slot = &up->socks[i];
	}
	if (slot != NULL) {
		event_free(slot->ev);
		slot->ev = NULL;
	}
	if (!readable && !writable)
		return;
	if (slot == NULL)
		slot = free_slot;
	if (slot == NULL) {
		log_msg(LL_ERROR, "upstream: too many sockets");
		return;
	}
	slot->fd = fd;
	slot->ev = event_new(
	        up->srv->base, fd,
	        (short)(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0)), on_sock,
	        up);
	if (slot->ev != NULL)
		event_add(slot->ev, NULL);
}

/* ---- questions in flight ---- */

static uint32_t
key_hash(const struct dnsq_query *k)
{
	return k->hash ^ k->qtype * 31u ^ k->qclass * 7u ^ dnsc_key_flags(k) * 131u ^
	       (k->flags & DNSW_F_RD);
}

static bool
key_equal(const struct dnsq_query *a, const struct dnsq_query *b)
{
	return a->qtype == b->qtype && a->qclass == b->qclass &&
	       dnsc_key_flags(a) == dnsc_key_flags(b) &&
	       (a->flags & DNSW_F_RD) == (b->flags & DNSW_F_RD) && a->qname_len == b->qname_len &&
	       memcmp(a->qname, b->qname, a->qname_len) == 0;
}

static void
pend_unlink(struct upstream *up, struct pend *p)
{
	struct pend **pp = &up->table[p->khash % PEND_BUCKETS];

	while (*pp != NULL && *pp != p)
		pp = &(*pp)->next_hash;
	if (*pp == p) {
		*pp = p->next_hash;
		up->inflight--;
	}
	if (p->timer != NULL)
		evtimer_del(p->timer);
}

static void
pend_fail(struct upstream *up, struct pend *p, uint16_t rcode)
{
	while (p->waiters != NULL) {
		struct fwd_req *r = p->waiters;

		p->waiters = r->next;
		reply_error(up, r, rcode);
		fwd_req_free(r);
	}
}

static void
pend_free(struct pend *p)
{
	if (p->timer != NULL)
		event_free(p->timer);
	free(p);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct pend *p = arg;
	(void)fd;
	(void)what;

	bump(&p->up->timeouts);
	pend_unlink(p->up, p);
	p->done = true;
	pend_fail(p->up, p, DNSW_R_SERVFAIL);
}

static void
on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct pend *p = arg;
	struct upstream *up = p->up;
	struct dnsr_msg *m = NULL;
	(void)timeouts;

	if (p->done) {
		pend_free(p);
		return;
	}
	pend_unlink(up, p);
	if (abuf == NULL || alen <= 0) {
		bump(status == ARES_ETIMEOUT ? &up->timeouts : &up->failures);
		if (status != ARES_EDESTRUCTION)
			log_msg(LL_DEBUG, "upstream: %s", ares_strerror(status));
		pend_fail(up, p, DNSW_R_SERVFAIL);
		pend_free(p);
		return;
	}
	if (dnsr_parse(abuf, (size_t)alen, &p->key, &up->srv->limits, &m) != SVC_OK) {
		bump(&up->malformed);
		pend_fail(up, p, DNSW_R_SERVFAIL);
		pend_free(p);
		return;
	}
	bump(&up->answered);
	while (p->waiters != NULL) {
		struct fwd_req *r = p->waiters;
		struct render_ctx ctx = {r, up->out};
		size_t len;

		p->waiters = r->next;
		len = render(m, 0, &ctx);
		reply_rendered(up->srv, r, up->out, len);
		fwd_req_free(r);
	}
	if (up->srv->cache != NULL && (p->key.flags & DNSW_F_RD))
		dnsc_insert(up->srv->cache, &p->key, m, now_s());
	else
		free(m);
	pend_free(p);
}

void
upstream_submit(struct server *s, struct fwd_req *r)
{
	struct upstream *up = s->up;
	uint32_t h = key_hash(&r->kq);
	struct pend *p;
	uint8_t qbuf[DNSQ_OUT_MAX];
	const uint8_t *q = r->pkt;
	size_t qlen = r->pkt_len, len;
	struct timeval deadline = {s->opts.upstream_timeout_ms / 1000,
	                           (s->opts.upstream_timeout_ms % 1000) * 1000};

	metrics_add(&s->metrics, &s->metrics.forwarded, 1);
	len = fwd_from_cache(s, r, up->out);
	if (len > 0) {
		reply_rendered(s, r, up->out, len);
		fwd_req_free(r);
		return;
	}
	for (p = up->table[h % PEND_BUCKETS]; p != NULL; p = p->next_hash) {
		if (p->khash == h && key_equal(&p->key, &r->kq)) {
			/* The same question is on its way: wait for that answer. */
			r->next = p->waiters;
			p->waiters = r;
			bump(&up->coalesced);
			return;
		}
	}
	if (up->inflight >= MAX_INFLIGHT || s->opts.n_upstream == 0) {
		reply_error(up, r, up->inflight >= MAX_INFLIGHT ? DNSW_R_REFUSED : DNSW_R_SERVFAIL);
		fwd_req_free(r);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		reply_error(up, r, DNSW_R_SERVFAIL);
		fwd_req_free(r);
		return;
	}
	p->up = up;
	p->key = r->kq;
	p->khash = h;
	p->waiters = r;
	r->next = NULL;
	p->timer = evtimer_new(s->base, on_deadline, p);
	if (p->timer == NULL) {
		pend_fail(up, p, DNSW_R_SERVFAIL);
		pend_free(p);
		return;
	}
	evtimer_add(p->timer, &deadline);
	p->next_hash = up->table[h % PEND_BUCKETS];
	up->table[h % PEND_BUCKETS] = p;
	up->inflight++;
	if (r->partial != NULL) {
		qlen = dnsr_make_query(up->next_id++, r->kq.qname, r->kq.qname_len, r->kq.qtype,
		                       qbuf, sizeof(qbuf));
		q = qbuf;
	}
	bump(&up->sent);
	/* May call on_answer before returning (no servers, out of memory): P is not touched
	 * after this. */
	ares_send(up->channel, q, (int)qlen, on_answer, p);
	reschedule(up);
}

void
upstream_stats(struct server *s, struct upstream_stats *out)
{
	struct upstream *up = s->up;

	out->sent = atomic_load(&up->sent);
	out->answered = atomic_load(&up->answered);
	out->timeouts = atomic_load(&up->timeouts);
	out->failures = atomic_load(&up->failures);
	out->malformed = atomic_load(&up->malformed);
	out->coalesced = atomic_load(&up->coalesced);
	out->inflight = up->inflight;
}

enum svc_status
upstream_start(struct server *s)
{
	struct upstream *up = calloc(1, sizeof(*up));
	struct ares_options o;
	struct ares_addr_port_node nodes[SVCDNS_MAX_UPSTREAM];
	int rc;

	if (up == NULL)
		return SVC_ENOMEM;
	s->up = up;
	up->srv = s;
	up->timer = evtimer_new(s->base, on_timer, up);
	if (up->timer == NULL)
		return SVC_ENOMEM;
	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS)
		goto fail;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = up;
	/* 1 s, then 2 s: about 3 s per question with one upstream, as the deadline. */
	o.timeout = 1000;
	o.tries = 2;
	rc = ares_init_options(&up->channel, &o,
	                       ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	                               ARES_OPT_ROTATE);
	if (rc != ARES_SUCCESS)
		goto fail;
	memset(nodes, 0, sizeof(nodes));
	for (size_t i = 0; i < s->opts.n_upstream; i++) {
		const struct daemon_addr *a = &s->opts.upstream[i];
		char name[80];

		nodes[i].next = i + 1 < s->opts.n_upstream ? &nodes[i + 1] : NULL;
		nodes[i].family = a->sa.ss_family;
		if (a->sa.ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;

			memcpy(&nodes[i].addr.addr6, &s6->sin6_addr, 16);
			nodes[i].udp_port = nodes[i].tcp_port = ntohs(s6->sin6_port);
		} else {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;

			memcpy(&nodes[i].addr.addr4, &s4->sin_addr, 4);
			nodes[i].udp_port = nodes[i].tcp_port = ntohs(s4->sin_port);
		}
		log_msg(LL_INFO, "upstream %s", addr_str(a, name, sizeof(name)));
	}
	rc = ares_set_servers_ports(up->channel, s->opts.n_upstream ? nodes : NULL);
	if (rc != ARES_SUCCESS)
		goto fail;
	return SVC_OK;
fail:
	log_msg(LL_ERROR, "c-ares: %s", ares_strerror(rc));
	return SVC_EIO;
}

void
upstream_stop(struct server *s)
{
	struct upstream *up = s->up;

	if (up == NULL)
		return;
	/* Fails every query in flight: their callbacks answer SERVFAIL and free them. */
	if (up->channel != NULL)
		ares_destroy(up->channel);
	for (size_t i = 0; i < PEND_BUCKETS; i++) {
		while (up->table[i] != NULL) {
			struct pend *p = up->table[i];

			pend_unlink(up, p);
			pend_fail(up, p, DNSW_R_SERVFAIL);
			pend_free(p);
		}
	}
	for (size_t i = 0; i < MAX_SOCKS; i++) {
		if (up->socks[i].ev != NULL)
			event_free(up->socks[i].ev);
	}
	if (up->timer != NULL)
		event_free(up->timer);
	ares_library_cleanup();
	free(up);
	s->up = NULL;
}
