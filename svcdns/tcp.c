/* tcp.c -- DNS over TCP on the main loop. */
#include "tcp.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "dnsx.h"
#include "lru.h"
#include "query.h"
#include "upstream.h"

#define ACCEPT_PAUSE_MS 100 /* out of descriptors: accept again after this, or a close */
/* Accepts per wake-up of a listener: a connection just accepted gets its first read before a
 * flood of newcomers can make it the oldest and close it for room. */
#define ACCEPT_BATCH   16
#define LISTEN_BACKLOG 256
/* A zone transfer makes its messages while less than this waits unsent: a large zone goes out
 * in slices between other clients' work, and holds at most this much. */
#define XFR_OUT_CHUNK (256 * 1024)

struct tcp_conn {
	struct dnsd_tcp *t;
	struct bufferevent *bev; /* NULL once closed */
	int refs;                /* the connection itself, plus one per query upstream */
	size_t pending;          /* queries upstream */
	bool eof;                /* the client sends no more: answer what came, then close */
	bool processing;         /* inside conn_process: replies must not re-enter it */
	struct netaddr client;
	struct event *msg_timer; /* running while a message has begun and not ended */
	struct event *resume;    /* process buffered messages again, from the loop */
	struct lru_node ln;      /* every connection, the one that made progress last newest */
	struct dnsx *xfr;        /* a zone transfer being sent: no other message meanwhile */
	bool xfr_ixfr;
};

struct tcp_listener {
	struct dnsd_tcp *t;
	int fd;
	struct event *ev;
};

struct dnsd_tcp {
	struct dnsd_server *srv;
	struct tcp_listener listeners[DNSD_MAX_LISTEN];
	size_t n_listeners;
	struct lru conns;
	bool paused;
	struct event *unpause;
	uint64_t pause_logged_ms; /* one line per episode, not one per retry */
	uint64_t accepted, accept_pauses;
	uint8_t in[DNSW_MSG_MAX];
	uint8_t out[DNSQ_OUT_MAX];
};

/* What a request waiting on upstream holds: its connection. */
struct tcp_req {
	struct tcp_conn *c;
};

static void conn_process(struct tcp_conn *c);

static void
conn_release(struct tcp_conn *c)
{
	if (--c->refs > 0)
		return;
	event_free(c->msg_timer);
	event_free(c->resume);
	free(c);
}

static void
accept_resume(struct dnsd_tcp *t)
{
	if (!t->paused)
		return;
	t->paused = false;
	evtimer_del(t->unpause);
	for (size_t i = 0; i < t->n_listeners; i++)
		event_add(t->listeners[i].ev, NULL);
}

static void
conn_close(struct tcp_conn *c)
{
	struct dnsd_tcp *t = c->t;

	if (c->bev == NULL)
		return;
	dnsx_free(c->xfr);
	c->xfr = NULL;
	bufferevent_free(c->bev);
	c->bev = NULL;
	evtimer_del(c->msg_timer);
	event_del(c->resume);
	lru_remove(&t->conns, &c->ln);
	/* A descriptor came free. */
	accept_resume(t);
	conn_release(c);
}

static size_t
out_len(const struct tcp_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static bool
may_process(const struct tcp_conn *c)
{
	return c->xfr == NULL && c->pending < DNSD_TCP_MAX_PENDING &&
	       out_len(c) < DNSD_TCP_OUT_HIGH;
}

/* Whether a whole message is waiting in the input. */
static bool
has_message(const struct tcp_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	uint8_t hdr[2];

	return evbuffer_copyout(in, hdr, 2) == 2 &&
	       evbuffer_get_length(in) >= (size_t)dnsw_get16(hdr) + 2;
}

/* After any change: after the client's EOF, close once every whole message received is answered
 * and sent (a part of one can never end); read while there is room; time a message that has
 * begun, while reading. */
static void
conn_update(struct tcp_conn *c)
{
	size_t in;
	bool reading;

	if (c->bev == NULL)
		return;
	if (c->eof && c->pending == 0 && c->xfr == NULL && out_len(c) == 0 && !has_message(c)) {
		conn_close(c);
		return;
	}
	reading = !c->eof && may_process(c);
	if (reading)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
	in = evbuffer_get_length(bufferevent_get_input(c->bev));
	if (reading && in > 0) {
		if (!evtimer_pending(c->msg_timer, NULL)) {
			uint32_t ms = c->t->srv->opts.tcp_msg_ms;
			struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

			evtimer_add(c->msg_timer, &tv);
		}
	} else {
		evtimer_del(c->msg_timer);
	}
}

static void
conn_write_answer(struct tcp_conn *c, const uint8_t *buf, size_t len)
{
	uint8_t framing[2];

	dnsw_put16(framing, (uint16_t)len);
	bufferevent_write(c->bev, framing, 2);
	bufferevent_write(c->bev, buf, len);
	lru_touch(&c->t->conns, &c->ln);
}

static void
req_reply(struct dnsd_req *r, const uint8_t *buf, size_t len)
{
	struct tcp_conn *c = ((struct tcp_req *)r->ctx)->c;

	c->pending--;
	if (c->bev == NULL)
		return; /* the client left */
	conn_write_answer(c, buf, len);
	if (c->processing)
		return; /* conn_process goes on and updates */
	/* Messages buffered while the limits held: from the loop, not from inside upstream. */
	if (may_process(c) && has_message(c))
		event_active(c->resume, EV_READ, 0);
	conn_update(c);
}

static void
req_release(struct dnsd_req *r)
{
	conn_release(((struct tcp_req *)r->ctx)->c);
}

/* The zone transfer's next messages, while little waits unsent; the last ends it. */
static void
xfr_pump(struct tcp_conn *c)
{
	struct dnsd_metrics *m = &c->t->srv->metrics;

	while (c->xfr != NULL && c->bev != NULL && out_len(c) < XFR_OUT_CHUNK) {
		size_t n = dnsx_next(c->xfr, c->t->out);

		if (n == 0) {
			dnsd_metrics_add(&m->xfr[DNSD_XFR_RECORDS], dnsx_records(c->xfr));
			dnsd_metrics_add(&m->xfr[c->xfr_ixfr ? DNSD_XFR_IXFR : DNSD_XFR_AXFR], 1);
			dnsx_free(c->xfr);
			c->xfr = NULL;
			break;
		}
		conn_write_answer(c, c->t->out, n);
	}
}

/* Start the transfer DQ asks for (from zone Z); SERVFAIL when it cannot start. */
static void
xfr_start(struct tcp_conn *c, struct dnsz *z, struct dnsd_query *dq)
{
	struct dnsd_tcp *t = c->t;
	struct dnsx_journal *j = dnsd_server_journal(t->srv);
	enum svc_status st = dnsx_start(z, j, &dq->q, t->in, &c->xfr);

	dnsx_journal_unref(j);
	if (st != SVC_OK) {
		size_t n = dnsq_error(&dq->q, t->in, DNSW_R_SERVFAIL, t->out);

		conn_write_answer(c, t->out, n);
		return;
	}
	c->xfr_ixfr = dnsx_incremental(c->xfr);
	xfr_pump(c);
}

/* Answer every whole message in the input while the limits allow (pipelined queries, answered
 * as they complete: cluster names at once, others when upstream answers). */
static void
conn_process(struct tcp_conn *c)
{
	struct dnsd_tcp *t = c->t;
	struct dnsd_server *s = t->srv;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	bool close = false;

	c->processing = true;
	c->refs++; /* upstream may answer, and a failed write close, while we work */
	while (c->bev != NULL && may_process(c)) {
		uint8_t hdr[2];
		size_t len;
		struct dnsd_query dq;
		struct dnsz *z;
		struct dnsd_req *r;
		uint64_t t0 = now_ns();

		if (evbuffer_copyout(in, hdr, 2) != 2)
			break;
		len = dnsw_get16(hdr);
		if (len < DNSW_HEADER) {
			close = true; /* a frame too short for a header: not DNS */
			break;
		}
		if (evbuffer_get_length(in) < len + 2)
			break;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, t->in, len);
		evtimer_del(c->msg_timer); /* a message ended: the next one gets its own time */
		lru_touch(&t->conns, &c->ln);
		z = dnsd_server_zone(s);
		switch (dnsd_query_process(s, &s->metrics, z, DNSQ_TCP, &c->client, t->in, len,
		                           t->out, &dq)) {
		case DNSD_SILENT:
			close = true; /* an answer sent as a query */
			break;
		case DNSD_SEND:
			conn_write_answer(c, t->out, dq.len);
			dnsd_metrics_answer(&s->metrics, dq.q.qtype, dq.res.rcode, dq.res.truncated,
			                    now_ns() - t0);
			break;
		case DNSD_TRANSFER:
			xfr_start(c, z, &dq);
			break;
		case DNSD_UPSTREAM:
			r = dnsd_req_new(&dq.q, &dq.res, t->in, t->out, sizeof(struct tcp_req));
			if (r == NULL)
				break;
			((struct tcp_req *)r->ctx)->c = c;
			r->reply = req_reply;
			r->release = req_release;
			r->start_ns = t0;
			c->refs++;
			c->pending++;
			dnsd_upstream_submit(s->up, r);
			break;
		}
		dnsz_unref(z);
		if (close)
			break;
	}
	c->processing = false;
	if (close)
		conn_close(c);
	else
		conn_update(c);
	conn_release(c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_conn *c = arg;
	(void)fd;
	(void)what;

	if (c->bev != NULL)
		conn_process(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	(void)bev;

	/* The output drained: a transfer goes on, and messages held back by it can be answered
	 * now. */
	xfr_pump(c);
	if (has_message(c) && may_process(c))
		conn_process(c);
	else
		conn_update(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct tcp_conn *c = arg;
	(void)bev;

	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING)) {
		/* A half-close: everything received still gets its answer. */
		c->eof = true;
		conn_update(c);
		return;
	}
	/* An error, or the idle timeout (no byte in or out for that long). */
	conn_close(c);
}

static void
on_msg_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_conn *c = arg;
	(void)fd;
	(void)what;

	dnsd_metrics_add(&c->t->srv->metrics.drops[DNSD_DROP_TCP_SLOW], 1);
	conn_close(c);
}

/* The connection to close for a newcomer when every slot is taken: the least recently active
 * one that is owed nothing (idle, or sending a message too slowly). NULL when all are busy. */
static struct tcp_conn *
victim(struct dnsd_tcp *t)
{
	for (struct lru_node *n = t->conns.oldest; n != NULL; n = n->next) {
		struct tcp_conn *c = lru_item(n, struct tcp_conn, ln);

		if (c->pending == 0 && c->xfr == NULL && out_len(c) == 0)
			return c;
	}
	return NULL;
}

/* A connection accepted on FD from SA. */
static void
conn_new(struct dnsd_tcp *t, int fd, const struct sockaddr *sa)
{
	struct dnsd_server *s = t->srv;
	struct timeval idle = {s->opts.tcp_idle_ms / 1000, (s->opts.tcp_idle_ms % 1000) * 1000};
	struct tcp_conn *c;

	if (t->conns.n >= s->opts.tcp_max_conns) {
		struct tcp_conn *v = victim(t);

		if (v == NULL) {
			/* Everyone is owed answers: the newcomer is closed (the kernel backlog must
			 * not grow, NSD's tcp-reject-overflow). */
			dnsd_metrics_add(&s->metrics.drops[DNSD_DROP_TCP_FULL], 1);
			evutil_closesocket(fd);
			return;
		}
		dnsd_metrics_add(&s->metrics.drops[DNSD_DROP_TCP_EVICTED], 1);
		conn_close(v);
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->t = t;
	c->refs = 1;
	addr_to_netaddr(sa, &c->client);
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->msg_timer = evtimer_new(s->base, on_msg_timeout, c);
	c->resume = event_new(s->base, -1, 0, on_resume, c);
	if (c->bev == NULL || c->msg_timer == NULL || c->resume == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->msg_timer != NULL)
			event_free(c->msg_timer);
		if (c->resume != NULL)
			event_free(c->resume);
		free(c);
		return;
	}
	lru_push(&t->conns, &c->ln);
	t->accepted++;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	/* Never more input than one message beyond what is being answered. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, DNSW_MSG_MAX + 2);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
on_unpause(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	accept_resume(arg);
}

/* accept(2) failed with E: out of descriptors (or memory) would fail again at once, and the
 * loop would spin. Stop accepting until a connection closes or a moment passes. */
static void
accept_pause(struct dnsd_tcp *t, int e)
{
	struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};

	if (!t->paused) {
		t->paused = true;
		t->accept_pauses++;
		if (now_ms() - t->pause_logged_ms >= 10000 || t->pause_logged_ms == 0) {
			t->pause_logged_ms = now_ms();
			log_msg(LL_WARN,
			        "tcp: cannot accept: %s; pausing for %d ms (%lu times so far)",
			        strerror(e), ACCEPT_PAUSE_MS, (unsigned long)t->accept_pauses);
		}
		for (size_t i = 0; i < t->n_listeners; i++)
			event_del(t->listeners[i].ev);
	}
	evtimer_add(t->unpause, &tv);
}

static void
on_listener(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_listener *l = arg;
	struct dnsd_tcp *t = l->t;
	(void)what;

	for (int i = 0; i < ACCEPT_BATCH && !t->paused; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c >= 0) {
			conn_new(t, c, (const struct sockaddr *)&ss);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			accept_pause(t, errno);
		if (errno != EINTR && errno != ECONNABORTED && errno != EPROTO)
			break; /* EAGAIN: nothing more; the rest: the client went away */
	}
}

/* A listening socket for A; -1 with errno set when it cannot be made. */
static int
listen_socket(const struct daemon_addr *a)
{
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, e;

	if (fd < 0)
		return -1;
	/* FREEBIND: as for UDP (udp.c), the address may become local later. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
	    (addr_is_any(a) || setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) == 0) &&
	    (a->sa.ss_family != AF_INET6 ||
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0) &&
	    bind(fd, (const struct sockaddr *)&a->sa, a->len) == 0 &&
	    listen(fd, LISTEN_BACKLOG) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

enum svc_status
dnsd_tcp_start(struct dnsd_server *s, struct dnsd_tcp **out)
{
	struct dnsd_tcp *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (t == NULL)
		return SVC_ENOMEM;
	t->srv = s;
	lru_init(&t->conns);
	t->unpause = evtimer_new(s->base, on_unpause, t);
	if (t->unpause == NULL) {
		free(t);
		return SVC_ENOMEM;
	}
	for (size_t i = 0; i < s->opts.n_listen; i++) {
		const struct daemon_addr *a = &s->opts.listen[i];
		struct tcp_listener *l = &t->listeners[t->n_listeners];
		char name[80];
		int fd = listen_socket(a);

		addr_str(a, name, sizeof(name));
		if (fd < 0) {
			if (s->opts.listen_default && a->sa.ss_family == AF_INET6) {
				log_msg(LL_WARN, "tcp %s: %s (skipped)", name, strerror(errno));
				continue;
			}
			log_msg(LL_ERROR, "tcp %s: %s", name, strerror(errno));
			dnsd_tcp_stop(t);
			return SVC_EIO;
		}
		l->t = t;
		l->fd = fd;
		l->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_listener, l);
		t->n_listeners++;
		if (l->ev == NULL || event_add(l->ev, NULL) != 0) {
			dnsd_tcp_stop(t);
			return SVC_ENOMEM;
		}
		log_msg(LL_INFO, "listening on %s (udp, tcp)", name);
	}
	*out = t;
	return SVC_OK;
}

void
dnsd_tcp_stop(struct dnsd_tcp *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_listeners; i++) {
		if (t->listeners[i].ev != NULL)
			event_free(t->listeners[i].ev);
		close(t->listeners[i].fd);
	}
	t->n_listeners = 0;
	while (t->conns.oldest != NULL)
		conn_close(lru_item(t->conns.oldest, struct tcp_conn, ln));
	event_free(t->unpause);
	free(t);
}

void
dnsd_tcp_stats(const struct dnsd_tcp *t, struct dnsd_tcp_stats *out)
{
	out->conns = t != NULL ? t->conns.n : 0;
	out->accepted = t != NULL ? t->accepted : 0;
	out->accept_pauses = t != NULL ? t->accept_pauses : 0;
}
