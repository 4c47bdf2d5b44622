/* tcp.c -- DNS over TCP on the main loop (RFC 7766): two-byte length framing, pipelined queries
 * answered as they complete, an idle timeout, a connection cap, and back-pressure against
 * clients that send without reading. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>

#include "svcdns.h"

#define TCP_MAX_PENDING 64        /* queries in flight per connection before reading pauses */
#define TCP_OUT_HIGH    (1 << 20) /* unread answers before reading pauses */

struct tcp_conn {
	struct tcp_server *ts;
	struct bufferevent *bev; /* NULL once closed */
	int refs;                /* the connection itself, plus one per query upstream */
	size_t pending;
	bool reading; /* inside conn_read: replies must not re-enter it */
	struct tcp_conn *prev, *next;
};

struct tcp_server {
	struct server *srv;
	struct evconnlistener *listeners[SVCDNS_MAX_LISTEN];
	size_t n_listeners;
	struct tcp_conn *conns;
	size_t n_conns;
	uint8_t in[DNSW_MSG_MAX];
	uint8_t out[DNSQ_OUT_MAX];
};

static void conn_read(struct bufferevent *bev, void *arg);

static void
conn_update_reading(struct tcp_conn *c)
{
	struct evbuffer *out;

	if (c->bev == NULL)
		return;
	out = bufferevent_get_output(c->bev);
	if (c->pending >= TCP_MAX_PENDING || evbuffer_get_length(out) >= TCP_OUT_HIGH)
		bufferevent_disable(c->bev, EV_READ);
	else
		bufferevent_enable(c->bev, EV_READ);
}

static void
conn_close(struct tcp_conn *c)
{
	struct tcp_server *ts = c->ts;

	if (c->bev == NULL)
		return;
	bufferevent_free(c->bev);
	c->bev = NULL;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ts->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ts->n_conns--;
	tcp_conn_release(c);
}

void
tcp_conn_release(struct tcp_conn *c)
{
	if (--c->refs == 0)
		free(c);
}

void
tcp_reply(struct tcp_conn *c, const uint8_t *buf, size_t len)
{
	uint8_t framing[2];

	if (c->pending > 0)
		c->pending--;
	if (c->bev == NULL)
		return; /* the client left */
	dnsw_put16(framing, (uint16_t)len);
	bufferevent_write(c->bev, framing, 2);
	bufferevent_write(c->bev, buf, len);
	conn_update_reading(c);
	/* Reading paused at the pipelining limit: frames already buffered will not raise another
	 * read event, so pick them up here. */
	if (!c->reading && c->pending == TCP_MAX_PENDING - 1 &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) >= 2)
		conn_read(c->bev, c);
}

static void
conn_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_update_reading(arg);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	/* EOF, error or the idle timeout. */
	conn_close(arg);
}

/* Answer every complete frame in the input. */
static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	struct tcp_server *ts = c->ts;
	struct server *s = ts->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	bool close = false;

	c->reading = true;
	while (c->pending < TCP_MAX_PENDING) {
		uint8_t hdr[2];
		size_t len;
		struct dnsq_query q;
		struct dnsq_result res;
		struct dnsz *z;
		uint64_t t0;

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
		evbuffer_remove(in, ts->in, len);
		t0 = now_ns();
		z = server_zone(s);
		dnsq_answer(z, ts->in, len, DNSQ_TCP, ts->out, &q, &res);
		if (res.action == DNSQ_DROP) {
			dnsz_unref(z);
			metrics_add(&s->metrics, &s->metrics.dropped, 1);
			close = true; /* an answer sent as a query */
			break;
		}
		metrics_query(&s->metrics, 1, q.qtype);
		if (res.action == DNSQ_FORWARD || res.action == DNSQ_CHASE) {
			struct fwd_req *r = fwd_req_new(&q, &res, ts->in, len, ts->out);

			dnsz_unref(z);
			if (r == NULL)
				continue;
			r->tcp = c;
			c->refs++;
			c->pending++;
			r->start_ns = t0;
			upstream_submit(s, r);
			continue;
		}
		dnsz_unref(z);
		metrics_answer(&s->metrics, res.rcode, res.truncated, now_ns() - t0);
		c->pending++;
		tcp_reply(c, ts->out, res.len);
	}
	c->reading = false;
	if (close)
		conn_close(c);
	else
		conn_update_reading(c);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
	struct tcp_server *ts = arg;
	struct server *s = ts->srv;
	struct tcp_conn *c;
	struct timeval idle = {s->opts.tcp_idle_ms / 1000, (s->opts.tcp_idle_ms % 1000) * 1000};
	(void)l;
	(void)sa;
	(void)socklen;

	if (ts->n_conns >= s->opts.tcp_max_conns) {
		/* Accept and close, so the kernel backlog does not grow (NSD's
		 * tcp-reject-overflow). */
		evutil_closesocket(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->ts = ts;
	c->refs = 1;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->next = ts->conns;
	if (ts->conns != NULL)
		ts->conns->prev = c;
	ts->conns = c;
	ts->n_conns++;
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

size_t
tcp_conn_count(struct server *s)
{
	return s->tcp != NULL ? s->tcp->n_conns : 0;
}

enum svc_status
tcp_start(struct server *s)
{
	struct tcp_server *ts = calloc(1, sizeof(*ts));

	if (ts == NULL)
		return SVC_ENOMEM;
	ts->srv = s;
	s->tcp = ts;
	for (size_t i = 0; i < s->opts.n_listen; i++) {
		const struct daemon_addr *a = &s->opts.listen[i];
		char name[80];
		struct evconnlistener *l = evconnlistener_new_bind(
		        s->base, on_accept, ts,
		        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
		                (a->sa.ss_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0),
		        256, (const struct sockaddr *)&a->sa, (int)a->len);

		addr_str(a, name, sizeof(name));
		if (l == NULL) {
			if (s->opts.listen_default && a->sa.ss_family == AF_INET6) {
				log_msg(LL_WARN, "tcp %s: cannot listen (skipped)", name);
				continue;
			}
			log_msg(LL_ERROR, "tcp %s: cannot listen", name);
			return SVC_EIO;
		}
		log_msg(LL_INFO, "listening on %s (udp, tcp)", name);
		ts->listeners[ts->n_listeners++] = l;
	}
	return SVC_OK;
}

void
tcp_stop(struct server *s)
{
	struct tcp_server *ts = s->tcp;

	if (ts == NULL)
		return;
	for (size_t i = 0; i < ts->n_listeners; i++)
		evconnlistener_free(ts->listeners[i]);
	while (ts->conns != NULL)
		conn_close(ts->conns);
	free(ts);
	s->tcp = NULL;
}
