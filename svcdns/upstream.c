/* upstream.c -- names outside the cluster, asked upstream with c-ares on the main loop.
 *
 * c-ares 1.18 keeps one UDP socket per server and channel while any query of the channel is
 * out, so queries sharing a channel share a source port. Each question therefore takes a
 * channel of its own from a pool (channels left idle have closed their sockets: the next
 * question gets a fresh socket, a fresh random port from the kernel), up to `sockets` channels;
 * beyond that, questions share the least busy channel. c-ares calls back with the channel's
 * socket changes without saying which channel: every call into c-ares goes through chan_enter,
 * which notes the channel it is about. */
#include "upstream.h"

#include <ares.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "htab.h"
#include "lru.h"
#include "vec.h"

#define CHAN_SOCKS (2 * DNSD_UPSTREAM_MAX_SERVERS + 2) /* UDP and TCP per upstream, spare */

struct up_sock {
	ares_socket_t fd;
	struct event *ev; /* NULL: slot free */
};

struct up_chan {
	struct dnsd_upstream *up;
	ares_channel ch;
	struct event *timer;
	struct up_sock socks[CHAN_SOCKS];
	size_t queries;       /* out on this channel, lingering ones included */
	struct lru_node idle; /* in up->idle while QUERIES is 0 */
};

/* One question out. */
struct up_pend {
	struct htab_node hn; /* in up->pending until answered or past its deadline */
	struct dnsd_upstream *up;
	struct up_chan *chan;
	struct dnsq_query key;
	struct dnsd_req *waiters, **tail;
	size_t n_waiters;
	struct event *deadline;
	struct event *stale_wait; /* DNSD_STALE_WAIT_MS: waiters with a stale entry get it */
	bool done;                /* past its deadline: c-ares's callback only frees it */
};

struct dnsd_upstream {
	struct event_base *base;
	struct dnsd_upstream_config cfg;
	struct daemon_addr servers[DNSD_UPSTREAM_MAX_SERVERS]; /* cfg.servers points here */
	struct dnsc *cache;
	struct dnsd_metrics *m;
	struct up_chan **chans;
	size_t n_chans, cap_chans;
	struct lru idle;
	struct up_chan *cur; /* the channel the current c-ares call is about */
	bool closing;        /* channels are being freed: none goes back to IDLE */
	struct htab pending;
	size_t lingering, waiting;
	uint8_t rnd[256]; /* random bytes for query IDs */
	size_t rnd_left;
	uint8_t out[DNSQ_OUT_MAX];
	uint64_t sent, answered, timeouts, failures, refused, malformed, coalesced, shared, stale;
	const struct timeval *stale_tv; /* DNSD_STALE_WAIT_MS, a common timeout of the base */
	/* REFUSED answers seen, by the hash of their question (refusal_hash), in slots the hash
	 * picks: c-ares 1.18 moves on from an upstream that refuses and, when none is left, reports
	 * the same status as for an unreachable one. A collision or an overwritten slot only turns
	 * a failed question's REFUSED into SERVFAIL, or the reverse. */
	struct {
		uint32_t hash;
		uint32_t count;
	} refusals[DNSD_UPSTREAM_REFUSALS];
};

/* ---- refusals: c-ares's socket calls, with a look at each UDP answer's rcode ---- */

static uint32_t
refusal_hash(const uint8_t *qname, size_t len, uint16_t qtype, uint16_t qclass)
{
	return dnsw_name_hash(qname, len) ^ qtype * 31u ^ qclass * 7u;
}

static ares_socket_t
sock_open(int af, int type, int proto, void *arg)
{
	/* c-ares configures no socket these functions make: non-blocking (it reads until EAGAIN)
	 * and, for TCP, no Nagle, as it would set them. */
	int fd = socket(af, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);

	(void)arg;
	if (fd >= 0 && type == SOCK_STREAM)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	return fd;
}

static int
sock_close(ares_socket_t fd, void *arg)
{
	(void)arg;
	return close(fd);
}

static int
sock_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *arg)
{
	(void)arg;
	return connect(fd, sa, len);
}

static ares_ssize_t
sock_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *arg)
{
	(void)arg;
	return writev(fd, iov, n);
}

/* A datagram (FROM set: c-ares reads TCP with none) that answers REFUSED to one question is
 * counted for that question. */
static ares_ssize_t
sock_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags, struct sockaddr *from,
              ares_socklen_t *from_len, void *arg)
{
	struct dnsd_upstream *up = arg;
	ssize_t n = recvfrom(fd, buf, len, flags, from, from_len);
	const uint8_t *b = buf;
	uint8_t qname[DNSW_NAME_MAX];
	size_t qlen;
	uint16_t qtype, qclass;
	struct dnsw_rd rd;
	uint32_t h;

	if (from == NULL || n < DNSW_HEADER || !(b[2] & 0x80) || (b[3] & 0x0f) != DNSW_R_REFUSED ||
	    b[4] != 0 || b[5] != 1)
		return n;
	dnsw_rd_init(&rd, b, (size_t)n);
	if (!dnsw_rd_skip(&rd, DNSW_HEADER) || dnsw_rd_name(&rd, false, qname, &qlen) != SVC_OK ||
	    !dnsw_rd_u16(&rd, &qtype) || !dnsw_rd_u16(&rd, &qclass))
		return n;
	h = refusal_hash(qname, qlen, qtype, qclass);
	if (up->refusals[h % DNSD_UPSTREAM_REFUSALS].hash != h) {
		up->refusals[h % DNSD_UPSTREAM_REFUSALS].hash = h;
		up->refusals[h % DNSD_UPSTREAM_REFUSALS].count = 0;
	}
	up->refusals[h % DNSD_UPSTREAM_REFUSALS].count++;
	return n;
}

static const struct ares_socket_functions sock_funcs = {
        .asocket = sock_open,
        .aclose = sock_close,
        .aconnect = sock_connect,
        .arecvfrom = sock_recvfrom,
        .asendv = sock_sendv,
};

/* How many upstreams refused KEY's question since it was last asked; forgets them. */
static uint32_t
refusals_take(struct dnsd_upstream *up, const struct dnsq_query *key)
{
	uint32_t h = refusal_hash(key->qname, key->qname_len, key->qtype, key->qclass);
	uint32_t n = 0;

	if (up->refusals[h % DNSD_UPSTREAM_REFUSALS].hash == h) {
		n = up->refusals[h % DNSD_UPSTREAM_REFUSALS].count;
		up->refusals[h % DNSD_UPSTREAM_REFUSALS].count = 0;
	}
	return n;
}

/* ---- channels ---- */

static void chan_reschedule(struct up_chan *c);

/* Note the channel a c-ares call is about; returns the one noted before, for chan_leave. */
static struct up_chan *
chan_enter(struct up_chan *c)
{
	struct up_chan *prev = c->up->cur;

	c->up->cur = c;
	return prev;
}

static void
chan_leave(struct up_chan *c, struct up_chan *prev)
{
	c->up->cur = prev;
	chan_reschedule(c);
}

static void
on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct up_chan *c = arg;
	struct up_chan *prev = chan_enter(c);

	ares_process_fd(c->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	                (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	chan_leave(c, prev);
}

static void
on_chan_timer(evutil_socket_t fd, short what, void *arg)
{
	struct up_chan *c = arg;
	struct up_chan *prev = chan_enter(c);
	(void)fd;
	(void)what;

	ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	chan_leave(c, prev);
}

static void
chan_reschedule(struct up_chan *c)
{
	struct timeval tv, *t = ares_timeout(c->ch, NULL, &tv);

	if (t != NULL)
		evtimer_add(c->timer, t);
	else
		evtimer_del(c->timer);
}

/* c-ares: watch FD of the channel being called (or stop watching it). */
static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dnsd_upstream *up = data;
	struct up_chan *c = up->cur;
	struct up_sock *slot = NULL, *free_slot = NULL;

	if (c == NULL)
		return; /* cannot happen: every c-ares call is made through chan_enter */
	for (size_t i = 0; i < CHAN_SOCKS; i++) {
		if (c->socks[i].ev != NULL && c->socks[i].fd == fd)
			slot = &c->socks[i];
		else if (c->socks[i].ev == NULL && free_slot == NULL)
			free_slot = &c->socks[i];
	}
	if (slot != NULL) {
		event_free(slot->ev);
		slot->ev = NULL;
	}
	if (!readable && !writable)
		return;
	if (slot == NULL)
		slot = free_slot;
	if (slot == NULL)
		return; /* more sockets than c-ares opens for our servers: cannot happen */
	slot->fd = fd;
	slot->ev = event_new(
	        up->base, fd,
	        (short)(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0)), on_sock,
	        c);
	if (slot->ev != NULL)
		event_add(slot->ev, NULL);
}

static struct up_chan *
chan_new(struct dnsd_upstream *up)
{
	struct up_chan *c = calloc(1, sizeof(*c)), *prev;
	struct ares_options o;
	struct ares_addr_port_node nodes[DNSD_UPSTREAM_MAX_SERVERS];
	int rc;

	if (c == NULL)
		return NULL;
	c->up = up;
	c->timer = evtimer_new(up->base, on_chan_timer, c);
	if (c->timer == NULL)
		goto fail;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = up;
	/* A third of the deadline per try, twice: failover to the next upstream within it. */
	o.timeout = (int)(up->cfg.timeout_ms / 3 > 0 ? up->cfg.timeout_ms / 3 : 1);
	o.tries = 2;
	prev = chan_enter(c);
	rc = ares_init_options(&c->ch, &o,
	                       ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	                               ARES_OPT_ROTATE);
	up->cur = prev;
	if (rc != ARES_SUCCESS) {
		c->ch = NULL;
		goto fail;
	}
	memset(nodes, 0, sizeof(nodes));
	for (size_t i = 0; i < up->cfg.n_servers; i++) {
		const struct daemon_addr *a = &up->cfg.servers[i];

		nodes[i].next = i + 1 < up->cfg.n_servers ? &nodes[i + 1] : NULL;
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
	}
	if (ares_set_servers_ports(c->ch, up->cfg.n_servers ? nodes : NULL) != ARES_SUCCESS)
		goto fail;
	ares_set_socket_functions(c->ch, &sock_funcs, up);
	if (vec_push(&up->chans, &up->n_chans, &up->cap_chans, sizeof(*up->chans), NULL) == NULL)
		goto fail;
	up->chans[up->n_chans - 1] = c;
	return c;
fail:
	if (c->ch != NULL) {
		prev = chan_enter(c);
		ares_destroy(c->ch);
		up->cur = prev;
	}
	if (c->timer != NULL)
		event_free(c->timer);
	free(c);
	return NULL;
}

/* A channel for a new question: an idle one, a new one while under the limit, else the least
 * busy (then the question shares its sockets). NULL when none can be made. */
static struct up_chan *
chan_get(struct dnsd_upstream *up)
{
	struct up_chan *c = lru_item(up->idle.oldest, struct up_chan, idle), *best = NULL;

	if (c != NULL) {
		lru_remove(&up->idle, &c->idle);
		return c;
	}
	if (up->n_chans < up->cfg.sockets) {
		c = chan_new(up);
		if (c != NULL)
			return c;
	}
	for (size_t i = 0; i < up->n_chans; i++) {
		if (best == NULL || up->chans[i]->queries < best->queries)
			best = up->chans[i];
	}
	if (best != NULL)
		up->shared++;
	return best;
}

static void
chan_put(struct up_chan *c)
{
	if (--c->queries == 0 && !c->up->closing)
		lru_push(&c->up->idle, &c->idle);
}

static void
chan_free(struct up_chan *c)
{
	struct up_chan *prev = chan_enter(c);

	/* Calls back every query still out with ARES_EDESTRUCTION. */
	ares_destroy(c->ch);
	c->up->cur = prev;
	for (size_t i = 0; i < CHAN_SOCKS; i++) {
		if (c->socks[i].ev != NULL)
			event_free(c->socks[i].ev);
	}
	event_free(c->timer);
	free(c);
}

/* ---- answering clients ---- */

static uint16_t
random_id(struct dnsd_upstream *up)
{
	uint16_t id;

	if (up->rnd_left < 2) {
		ssize_t n = getrandom(up->rnd, sizeof(up->rnd), 0);

		up->rnd_left = n > 0 ? (size_t)n : 0;
		if (up->rnd_left < 2) {
			/* getrandom cannot fail on Linux once booted; stay unpredictable anyway. */
			up->rnd_left = 2;
			for (size_t i = 0; i < sizeof(up->rnd); i++)
				up->rnd[i] ^= (uint8_t)(now_ns() >> (i % 8 * 8));
		}
	}
	up->rnd_left -= 2;
	memcpy(&id, up->rnd + up->rnd_left, 2);
	return id;
}

static void
reply(struct dnsd_upstream *up, struct dnsd_req *r, const uint8_t *buf, size_t len)
{
	uint16_t flags = dnsw_get16(buf + 2);

	dnsd_metrics_answer(up->m, r->q.qtype, flags & DNSW_F_RCODE_MASK, (flags & DNSW_F_TC) != 0,
	                    now_ns() - r->start_ns);
	r->reply(r, buf, len);
	dnsd_req_free(r);
}

static void
reply_error(struct dnsd_upstream *up, struct dnsd_req *r, uint16_t rcode)
{
	size_t len = dnsq_error(&r->q, r->pkt, rcode, up->out);

	reply(up, r, up->out, len);
}

/* Take P's waiters out; they are the caller's to answer. */
static struct dnsd_req *
take_waiters(struct up_pend *p)
{
	struct dnsd_req *list = p->waiters;

	p->up->waiting -= p->n_waiters;
	p->waiters = NULL;
	p->tail = &p->waiters;
	p->n_waiters = 0;
	return list;
}

/* R's answer from an expired cache entry (every TTL 30), when serve-stale has one. */
static bool
reply_stale(struct dnsd_upstream *up, struct dnsd_req *r)
{
	size_t len;

	if (up->cfg.stale_s == 0)
		return false;
	len = dnsd_req_stale(up->cache, &r->q, &r->kq, r->pkt, r->partial, r->partial_len, now_s(),
	                     up->out);
	if (len == 0)
		return false;
	up->stale++;
	reply(up, r, up->out, len);
	return true;
}

/* Answer every request of LIST with RCODE; a failure (SERVFAIL) from a stale entry if any. */
static void
fail_all(struct dnsd_upstream *up, struct dnsd_req *list, uint16_t rcode)
{
	while (list != NULL) {
		struct dnsd_req *next = list->next;

		if (rcode != DNSW_R_SERVFAIL || !reply_stale(up, list))
			reply_error(up, list, rcode);
		list = next;
	}
}

/* 1.8 s without an answer (RFC 8767's client response timer): the waiters with a stale entry get
 * it now; the question goes on, to refresh the cache. */
static void
on_stale_wait(evutil_socket_t fd, short what, void *arg)
{
	struct up_pend *p = arg;
	struct dnsd_req *list = p->waiters, *keep = NULL, **tail = &keep;
	size_t kept = 0;
	(void)fd;
	(void)what;

	p->up->waiting -= p->n_waiters;
	while (list != NULL) {
		struct dnsd_req *r = list;

		list = r->next;
		r->next = NULL;
		if (!reply_stale(p->up, r)) {
			*tail = r;
			tail = &r->next;
			kept++;
		}
	}
	p->waiters = keep;
	p->tail = keep != NULL ? tail : &p->waiters; /* never the local KEEP */
	p->n_waiters = kept;
	p->up->waiting += kept;
}

/* ---- questions out ---- */

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

static struct up_pend *
pend_find(struct dnsd_upstream *up, const struct dnsq_query *k)
{
	uint32_t h = key_hash(k);

	for (struct htab_node *n = htab_find(&up->pending, h); n != NULL; n = htab_next(n, h)) {
		struct up_pend *p = htab_item(n, struct up_pend, hn);

		if (key_equal(&p->key, k))
			return p;
	}
	return NULL;
}

static void
pend_free(struct up_pend *p)
{
	if (p->deadline != NULL)
		event_free(p->deadline);
	if (p->stale_wait != NULL)
		event_free(p->stale_wait);
	free(p);
}

/* The deadline: the clients get SERVFAIL now. A channel of the question's own is cancelled
 * (c-ares calls back at once); a shared one cannot be, so the question lingers, counted, until
 * c-ares lets go of it. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct up_pend *p = arg;
	struct dnsd_upstream *up = p->up;
	struct up_chan *c = p->chan;
	(void)fd;
	(void)what;

	up->timeouts++;
	htab_remove(&up->pending, &p->hn);
	p->done = true;
	up->lingering++;
	if (p->stale_wait != NULL)
		event_del(p->stale_wait);
	fail_all(up, take_waiters(p), DNSW_R_SERVFAIL);
	if (c->queries == 1) {
		struct up_chan *prev = chan_enter(c);

		ares_cancel(c->ch); /* frees P through on_answer */
		chan_leave(c, prev);
	}
}

static void
on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct up_pend *p = arg;
	struct dnsd_upstream *up = p->up;
	struct dnsr_msg *m = NULL;
	struct dnsd_req *list;
	bool refused;
	(void)timeouts;

	chan_put(p->chan);
	if (p->done) {
		up->lingering--;
		pend_free(p);
		return;
	}
	htab_remove(&up->pending, &p->hn);
	list = take_waiters(p);
	refused = refusals_take(up, &p->key) >= up->cfg.n_servers && up->cfg.n_servers > 0;
	if (abuf == NULL || alen <= 0) {
		if (status == ARES_ETIMEOUT)
			up->timeouts++;
		else if (refused)
			up->refused++;
		else
			up->failures++;
		if (status != ARES_EDESTRUCTION)
			log_msg(LL_DEBUG, "upstream: %s",
			        refused ? "refused" : ares_strerror(status));
		/* Every upstream refused: REFUSED, as CoreDNS's forward relays it. A timeout, an
		 * unreachable upstream or a broken answer stays SERVFAIL. */
		fail_all(up, list,
		         refused && status != ARES_ETIMEOUT ? DNSW_R_REFUSED : DNSW_R_SERVFAIL);
		pend_free(p);
		return;
	}
	if (dnsr_parse(abuf, (size_t)alen, &p->key, &up->cfg.limits, &m) != SVC_OK) {
		up->malformed++;
		fail_all(up, list, DNSW_R_SERVFAIL);
		pend_free(p);
		return;
	}
	up->answered++;
	while (list != NULL) {
		struct dnsd_req *r = list;
		size_t len;

		list = r->next;
		len = r->partial != NULL
		              ? dnsr_render_chase(m, &r->q, r->partial, r->partial_len, 0, up->out)
		              : dnsr_render(m, &r->q, r->pkt, 0, up->out);
		reply(up, r, up->out, len);
	}
	if (up->cache != NULL && (p->key.flags & DNSW_F_RD))
		dnsc_insert(up->cache, &p->key, m, now_s());
	else
		free(m);
	pend_free(p);
}

void
dnsd_upstream_submit(struct dnsd_upstream *up, struct dnsd_req *r)
{
	struct timeval deadline = {up->cfg.timeout_ms / 1000, (up->cfg.timeout_ms % 1000) * 1000};
	uint8_t qbuf[DNSW_HEADER + DNSW_NAME_MAX + 4 + 11];
	struct up_chan *prev;
	struct up_pend *p;
	size_t len;

	dnsd_metrics_add(&up->m->forwarded, 1);
	r->next = NULL;
	len = dnsd_req_cached(up->cache, &r->q, &r->kq, r->pkt, r->partial, r->partial_len, now_s(),
	                      up->out);
	if (len > 0) {
		reply(up, r, up->out, len);
		return;
	}
	if (up->waiting >= up->cfg.max_waiting) {
		dnsd_metrics_add(&up->m->drops[DNSD_DROP_WAITING], 1);
		reply_error(up, r, DNSW_R_SERVFAIL);
		return;
	}
	p = pend_find(up, &r->kq);
	if (p != NULL) {
		/* The same question is on its way: wait for that answer. */
		if (p->n_waiters >= up->cfg.max_waiters) {
			dnsd_metrics_add(&up->m->drops[DNSD_DROP_WAITERS], 1);
			reply_error(up, r, DNSW_R_SERVFAIL);
			return;
		}
		/* Its stale wait is over: a stale answer now, if there is one. */
		if (p->stale_wait != NULL && !evtimer_pending(p->stale_wait, NULL) &&
		    reply_stale(up, r))
			return;
		*p->tail = r;
		p->tail = &r->next;
		p->n_waiters++;
		up->waiting++;
		up->coalesced++;
		return;
	}
	if (up->cfg.n_servers == 0) {
		reply_error(up, r, DNSW_R_SERVFAIL);
		return;
	}
	if (up->pending.n + up->lingering >= up->cfg.max_inflight) {
		dnsd_metrics_add(&up->m->drops[DNSD_DROP_INFLIGHT], 1);
		reply_error(up, r, DNSW_R_REFUSED);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->deadline = evtimer_new(up->base, on_deadline, p)) == NULL ||
	    (p->chan = chan_get(up)) == NULL) {
		if (p != NULL)
			pend_free(p);
		reply_error(up, r, DNSW_R_SERVFAIL);
		return;
	}
	p->up = up;
	p->key = r->kq;
	p->waiters = r;
	p->tail = &r->next;
	p->n_waiters = 1;
	up->waiting++;
	htab_insert(&up->pending, &p->hn, key_hash(&p->key));
	evtimer_add(p->deadline, &deadline);
	/* Serve-stale's wait, before the deadline: without a timer (out of memory) the deadline
	 * still answers, stale if it can. */
	if (up->cfg.stale_s > 0 && up->cache != NULL && up->stale_tv != NULL &&
	    up->cfg.timeout_ms > DNSD_STALE_WAIT_MS &&
	    (p->stale_wait = evtimer_new(up->base, on_stale_wait, p)) != NULL)
		evtimer_add(p->stale_wait, up->stale_tv);
	p->chan->queries++;
	len = dnsr_make_query(&p->key, random_id(up), qbuf, sizeof(qbuf));
	up->sent++;
	/* May call on_answer before returning (out of memory): P is not touched after this. */
	prev = chan_enter(p->chan);
	{
		struct up_chan *c = p->chan;

		ares_send(c->ch, qbuf, (int)len, on_answer, p);
		chan_leave(c, prev);
	}
}

void
dnsd_upstream_stats(const struct dnsd_upstream *up, struct dnsd_upstream_stats *out)
{
	out->sent = up->sent;
	out->answered = up->answered;
	out->timeouts = up->timeouts;
	out->failures = up->failures;
	out->stale = up->stale;
	out->refused = up->refused;
	out->malformed = up->malformed;
	out->coalesced = up->coalesced;
	out->shared = up->shared;
	out->inflight = up->pending.n;
	out->lingering = up->lingering;
	out->waiting = up->waiting;
	out->channels = up->n_chans;
}

enum svc_status
dnsd_upstream_create(struct event_base *base, const struct dnsd_upstream_config *cfg,
                     struct dnsc *cache, struct dnsd_metrics *m, struct dnsd_upstream **out)
{
	struct dnsd_upstream *up = calloc(1, sizeof(*up));
	int rc;

	*out = NULL;
	if (up == NULL)
		return SVC_ENOMEM;
	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		log_msg(LL_ERROR, "c-ares: %s", ares_strerror(rc));
		free(up);
		return SVC_EIO;
	}
	up->base = base;
	up->cfg = *cfg;
	if (up->cfg.n_servers > DNSD_UPSTREAM_MAX_SERVERS)
		up->cfg.n_servers = DNSD_UPSTREAM_MAX_SERVERS;
	memcpy(up->servers, cfg->servers, up->cfg.n_servers * sizeof(*up->servers));
	up->cfg.servers = up->servers;
	if (up->cfg.sockets == 0)
		up->cfg.sockets = 1;
	up->cache = cache;
	up->m = m;
	/* One queue for every question's stale wait: constant-time timers. */
	up->stale_tv = event_base_init_common_timeout(
	        base,
	        &(struct timeval){DNSD_STALE_WAIT_MS / 1000, DNSD_STALE_WAIT_MS % 1000 * 1000});
	lru_init(&up->idle);
	htab_init(&up->pending);
	*out = up;
	return SVC_OK;
}

void
dnsd_upstream_destroy(struct dnsd_upstream *up)
{
	struct htab_iter it;
	struct htab_node *n;

	if (up == NULL)
		return;
	/* Destroying a channel calls back its queries: their clients get SERVFAIL. */
	up->closing = true;
	for (size_t i = 0; i < up->n_chans; i++)
		chan_free(up->chans[i]);
	for (n = htab_first(&it, &up->pending); n != NULL; n = htab_iter_next(&it)) {
		struct up_pend *p = htab_item(n, struct up_pend, hn);

		htab_remove(&up->pending, n);
		fail_all(up, take_waiters(p), DNSW_R_SERVFAIL);
		pend_free(p);
	}
	htab_deinit(&up->pending);
	free(up->chans);
	ares_library_cleanup();
	free(up);
}
