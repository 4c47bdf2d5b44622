/* tcp.c -- the TCP relay: accept, connect to an endpoint (retrying others when one fails),
 * then move bytes both ways. Reads go through one scratch buffer and are written on at once;
 * only what the other side cannot take yet is kept, and the source is not read again until it
 * is gone (backpressure). A flow whose reads fill the scratch buffer moves to splice(2) through
 * a pipe, so bulk data does not pass through user space. EOF on one side becomes a shutdown of
 * the other's write side, so half-closed connections keep working; a reset is passed on as a
 * reset. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svcfwd.h"

#define FWD_READ_SIZE  65536 /* one read; a full one marks a bulk flow for splice */
#define FWD_MAX_TRIES  4     /* connect attempts per connection, each to another endpoint */
#define FWD_ACCEPT_MAX 64    /* accepts per listener per wake-up */
#define PIPE_SIZE      (256 * 1024)
#define PAUSE_EMFILE   100 /* ms without accepting after running out of descriptors */
#define SPLICE_FLAGS   (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
#define MAX_FREE_CONN  1024

/* One direction of a relay: what was read from one socket and not yet written to the other,
 * in BUF or in a pipe. */
struct fwd_half {
	uint8_t *buf;
	uint32_t off, len;
	int pipe[2]; /* -1 until splicing */
	uint32_t piped;
	bool bulk; /* a read filled the scratch buffer: splice from now on */
	bool eof;  /* the source said it sends no more */
	bool shut; /* and that was passed on */
};

struct fwd_conn {
	struct lru_node lru; /* in the server's conns: idle order */
	struct fwd_server *srv;
	int cfd, bfd;
	struct event c_rd, c_wr, b_rd, b_wr;
	bool c_rd_on, c_wr_on, b_rd_on, b_wr_on;
	struct fwd_half up;   /* client to backend */
	struct fwd_half down; /* backend to client */
	struct fwd_pool *pool;
	struct fwd_backend *b; /* the one connecting or connected: the last of tried */
	struct fwd_backend *tried[FWD_MAX_TRIES]; /* each referenced */
	size_t n_tried;
	struct netaddr client;
	bool connecting;
	uint64_t last_ms;
	struct fwd_conn *free_next; /* in free_conns */
};

static struct fwd_conn *free_conns; /* kept for reuse */
static size_t n_free_conns;

static void on_client(evutil_socket_t fd, short what, void *arg);
static void on_backend(evutil_socket_t fd, short what, void *arg);
static void on_client_write(evutil_socket_t fd, short what, void *arg);
static void on_backend_write(evutil_socket_t fd, short what, void *arg);

static void
ev_set(struct event *ev, bool *on, bool want, const struct timeval *tv)
{
	if (want == *on && tv == NULL)
		return;
	if (want)
		event_add(ev, tv);
	else
		event_del(ev);
	*on = want;
}

/* Activity: to the young end of the idle order. */
static void
touch(struct fwd_conn *c)
{
	c->last_ms = now_ms();
	lru_touch(&c->srv->conns, &c->lru);
}

static void
half_release(struct fwd_server *s, struct fwd_half *h)
{
	free(h->buf);
	h->buf = NULL;
	if (h->pipe[0] >= 0) {
		close(h->pipe[0]);
		close(h->pipe[1]);
		h->pipe[0] = h->pipe[1] = -1;
		s->n_pipes--;
		fwd_fds_give(&s->fds, FWD_FD_PIPE, 2);
	}
}

/* Close both sockets. RESET: abortively (RST), as when one side reset its end. */
static void
conn_close(struct fwd_conn *c, bool reset)
{
	struct fwd_server *s = c->srv;

	if (c->c_rd_on)
		event_del(&c->c_rd);
	if (c->c_wr_on)
		event_del(&c->c_wr);
	if (c->b_rd_on)
		event_del(&c->b_rd);
	if (c->b_wr_on)
		event_del(&c->b_wr);
	if (reset) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(c->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (c->bfd >= 0)
			setsockopt(c->bfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->cfd);
	if (c->bfd >= 0)
		close(c->bfd);
	half_release(s, &c->up);
	half_release(s, &c->down);
	fwd_fds_give(&s->fds, FWD_FD_TCP, 2);
	lru_remove(&s->conns, &c->lru);
	if (c->b != NULL && !c->connecting)
		c->b->active--;
	for (size_t i = 0; i < c->n_tried; i++)
		fwd_backend_put(&s->pools.backends, c->tried[i]);
	fwd_pool_put(&s->pools, c->pool);
	if (s->accept_paused && s->conns.n < s->opts.max_conns &&
	    fwd_fds_room(&s->fds, FWD_FD_TCP) >= 2 && s->reserve_fd >= 0 &&
	    !evtimer_pending(s->resume_ev, NULL))
		fwd_listen_pause(s, false);
	if (n_free_conns < MAX_FREE_CONN) {
		c->free_next = free_conns;
		free_conns = c;
		n_free_conns++;
	} else {
		free(c);
	}
}

static struct fwd_conn *
conn_alloc(void)
{
	struct fwd_conn *c = free_conns;

	if (c != NULL) {
		free_conns = c->free_next;
		n_free_conns--;
	} else {
		c = malloc(sizeof(*c));
		if (c == NULL)
			return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->up.pipe[0] = c->up.pipe[1] = -1;
	c->down.pipe[0] = c->down.pipe[1] = -1;
	c->bfd = -1;
	return c;
}

static void
set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Stop accepting for a while: retrying now would spin, and closing connections will give
 * descriptors back. */
static void
out_of_fds(struct fwd_server *s, int err)
{
	struct timeval tv = {0, PAUSE_EMFILE * 1000};

	log_msg(LL_WARN, "out of file descriptors (%s); not accepting for %d ms", strerror(err),
	        PAUSE_EMFILE);
	fwd_listen_pause(s, true);
	s->stats.accept_pauses++;
	evtimer_add(s->resume_ev, &tv);
}

/* Start a connection to the next endpoint; false when none is left to try. */
static bool
connect_next(struct fwd_conn *c)
{
	struct fwd_server *s = c->srv;
	uint64_t now = now_ms();
	struct fwd_backend *b;
	struct sockaddr_storage sa;
	socklen_t sa_len;
	struct timeval tv;
	uint64_t timeout = s->opts.connect_timeout_ms;

	while (c->n_tried < FWD_MAX_TRIES) {
		b = fwd_pool_pick(&s->pools, c->pool, &c->client, now, c->tried, c->n_tried);
		if (b == NULL)
			return false;
		c->tried[c->n_tried++] = b;
		if (c->n_tried > 1)
			c->pool->retries++;
		sa_len = fwd_backend_sockaddr(b, &sa);
		c->bfd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->bfd < 0 && (errno == EMFILE || errno == ENFILE) && s->reserve_fd >= 0) {
			/* Out of descriptors with a client already accepted: spend the reserve on
			 * it, and accept no more until descriptors come back. */
			close(s->reserve_fd);
			s->reserve_fd = -1;
			out_of_fds(s, errno);
			c->bfd =
			        socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		}
		if (c->bfd < 0)
			return false;
		set_nodelay(c->bfd);
		if (connect(c->bfd, (struct sockaddr *)&sa, sa_len) == 0 || errno == EINPROGRESS) {
			c->b = b;
			c->connecting = true;
			for (size_t i = 1; i < c->n_tried; i++)
				timeout *= 2;
			tv.tv_sec = (time_t)(timeout / 1000);
			tv.tv_usec = (suseconds_t)(timeout % 1000) * 1000;
			event_assign(&c->b_rd, s->base, c->bfd, EV_READ | EV_PERSIST, on_backend,
			             c);
			event_assign(&c->b_wr, s->base, c->bfd, EV_WRITE | EV_PERSIST,
			             on_backend_write, c);
			ev_set(&c->b_wr, &c->b_wr_on, true, &tv);
			return true;
		}
		/* Refused at once (a local endpoint without a listener). */
		fwd_backend_failed(b, now);
		c->pool->connect_failures++;
		close(c->bfd);
		c->bfd = -1;
	}
	return false;
}

static void
connect_failed(struct fwd_conn *c)
{
	char label[FWD_BACKEND_LABEL_LEN];

	fwd_backend_failed(c->b, now_ms());
	c->pool->connect_failures++;
	log_msg(LL_DEBUG, "%s/%s: connect to %s failed", c->pool->ns, c->pool->name,
	        fwd_backend_label(c->b, label));
	ev_set(&c->b_wr, &c->b_wr_on, false, NULL);
	close(c->bfd);
	c->bfd = -1;
	c->b = NULL;
	c->connecting = false;
	if (!connect_next(c)) {
		c->pool->rejected++;
		conn_close(c, true);
	}
}

static void
connected(struct fwd_conn *c)
{
	struct fwd_server *s = c->srv;

	c->connecting = false;
	fwd_backend_succeeded(c->b);
	c->b->conns++;
	c->b->active++;
	c->pool->conns++;
	/* The write event was the connect's; from now on writes are attempted directly. */
	ev_set(&c->b_wr, &c->b_wr_on, false, NULL);
	event_assign(&c->c_rd, s->base, c->cfd, EV_READ | EV_PERSIST, on_client, c);
	event_assign(&c->c_wr, s->base, c->cfd, EV_WRITE | EV_PERSIST, on_client_write, c);
	ev_set(&c->c_rd, &c->c_rd_on, true, NULL);
	ev_set(&c->b_rd, &c->b_rd_on, true, NULL);
	touch(c);
}

static bool
pipe_open(struct fwd_server *s, struct fwd_half *h)
{
	if (!s->opts.splice || !fwd_fds_take(&s->fds, FWD_FD_PIPE, 2))
		return false;
	if (pipe2(h->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		h->pipe[0] = h->pipe[1] = -1;
		fwd_fds_give(&s->fds, FWD_FD_PIPE, 2);
		return false;
	}
	/* A bigger pipe moves more per call; the default 64 KiB is fine when refused. */
	fcntl(h->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	s->n_pipes++;
	return true;
}

enum xfer {
	XFER_MORE,  /* keep going */
	XFER_BLOCK, /* the destination is full: wait until it can take more */
	XFER_DONE,  /* the source ended and that was passed on */
	XFER_RESET, /* an error: tear down */
};

/* Write what H holds to DST. OTHER is the opposite direction: once it is shut too, the close
 * that follows sends DST's FIN, so the shutdown call is saved. */
static enum xfer
flush(struct fwd_half *h, int dst, const struct fwd_half *other)
{
	while (h->len > 0) {
		ssize_t w = send(dst, h->buf + h->off, h->len, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return XFER_BLOCK;
			return XFER_RESET;
		}
		h->off += (uint32_t)w;
		h->len -= (uint32_t)w;
	}
	while (h->piped > 0) {
		ssize_t w = splice(h->pipe[0], NULL, dst, NULL, h->piped, SPLICE_FLAGS);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return XFER_BLOCK;
			return XFER_RESET;
		}
		h->piped -= (uint32_t)w;
	}
	if (h->eof && !h->shut) {
		if (!other->shut)
			shutdown(dst, SHUT_WR);
		h->shut = true;
	}
	return h->eof ? XFER_DONE : XFER_MORE;
}

/* Move what SRC has to DST through H. BYTES counts what was read. */
static enum xfer
pump(struct fwd_server *s, struct fwd_half *h, int src, int dst, const struct fwd_half *other,
     uint64_t *bytes)
{
	ssize_t n;

	if (h->bulk && h->pipe[0] < 0 && h->len == 0 && !pipe_open(s, h))
		h->bulk = false;
	if (h->pipe[0] >= 0) {
		n = splice(src, NULL, h->pipe[1], NULL, PIPE_SIZE - h->piped, SPLICE_FLAGS);
		if (n > 0) {
			h->piped += (uint32_t)n;
			*bytes += (uint64_t)n;
			s->stats.splice_bytes += (uint64_t)n;
		}
	} else {
		n = recv(src, s->scratch, FWD_READ_SIZE, 0);
		if (n > 0) {
			ssize_t w = send(dst, s->scratch, (size_t)n, MSG_NOSIGNAL);

			*bytes += (uint64_t)n;
			if (w < 0) {
				if (errno != EAGAIN && errno != EINTR)
					return XFER_RESET;
				w = 0;
			}
			if (w < n) {
				uint32_t left = (uint32_t)(n - w);

				h->buf = malloc(left);
				if (h->buf == NULL)
					return XFER_RESET;
				memcpy(h->buf, s->scratch + w, left);
				h->off = 0;
				h->len = left;
			}
			if (n == FWD_READ_SIZE)
				h->bulk = true;
			if (h->len > 0)
				return XFER_BLOCK;
			return XFER_MORE;
		}
	}
	if (n == 0) {
		h->eof = true;
	} else if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return XFER_RESET;
	}
	return flush(h, dst, other);
}

/* After a flush: free an emptied buffer, and when both ways are done, close. */
static bool
settle(struct fwd_conn *c, struct fwd_half *h)
{
	if (h->len == 0 && h->buf != NULL) {
		free(h->buf);
		h->buf = NULL;
		h->off = 0;
	}
	if (c->up.shut && c->down.shut) {
		conn_close(c, false);
		return false;
	}
	return true;
}

/* Data (or EOF) from one side: pass it on, and stop reading that side while the other is full
 * or after EOF. */
static void
relay(struct fwd_conn *c, bool from_client)
{
	struct fwd_server *s = c->srv;
	struct fwd_half *h = from_client ? &c->up : &c->down;
	int src = from_client ? c->cfd : c->bfd, dst = from_client ? c->bfd : c->cfd;
	uint64_t *bytes = from_client ? &c->b->bytes_to : &c->b->bytes_from;
	uint64_t before = *bytes;
	enum xfer x = pump(s, h, src, dst, from_client ? &c->down : &c->up, bytes);

	if (from_client)
		c->pool->bytes_in += *bytes - before;
	else
		c->pool->bytes_out += *bytes - before;
	touch(c);
	switch (x) {
	case XFER_MORE:
		return;
	case XFER_RESET:
		conn_close(c, true);
		return;
	case XFER_BLOCK:
		if (from_client) {
			ev_set(&c->c_rd, &c->c_rd_on, false, NULL);
			ev_set(&c->b_wr, &c->b_wr_on, true, NULL);
		} else {
			ev_set(&c->b_rd, &c->b_rd_on, false, NULL);
			ev_set(&c->c_wr, &c->c_wr_on, true, NULL);
		}
		return;
	case XFER_DONE:
		if (from_client)
			ev_set(&c->c_rd, &c->c_rd_on, false, NULL);
		else
			ev_set(&c->b_rd, &c->b_rd_on, false, NULL);
		settle(c, h);
		return;
	}
}

/* The destination of H can take more: drain H, then read its source again. */
static void
drained(struct fwd_conn *c, bool to_backend)
{
	struct fwd_half *h = to_backend ? &c->up : &c->down;
	enum xfer x = flush(h, to_backend ? c->bfd : c->cfd, to_backend ? &c->down : &c->up);

	touch(c);
	if (x == XFER_BLOCK)
		return;
	if (x == XFER_RESET) {
		conn_close(c, true);
		return;
	}
	if (to_backend)
		ev_set(&c->b_wr, &c->b_wr_on, false, NULL);
	else
		ev_set(&c->c_wr, &c->c_wr_on, false, NULL);
	if (!settle(c, h))
		return;
	if (x == XFER_MORE) {
		if (to_backend)
			ev_set(&c->c_rd, &c->c_rd_on, true, NULL);
		else
			ev_set(&c->b_rd, &c->b_rd_on, true, NULL);
	}
}

static void
on_client(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	relay(arg, true);
}

static void
on_backend(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	relay(arg, false);
}

static void
on_client_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drained(arg, false);
}

static void
on_backend_write(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_conn *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)fd;
	if (!c->connecting) {
		drained(c, true);
		return;
	}
	if (what & EV_TIMEOUT) {
		connect_failed(c);
		return;
	}
	if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
		connect_failed(c);
		return;
	}
	connected(c);
}

/* Reset an accepted client that gets no connection, giving back what it was budgeted. */
static void
reject(struct fwd_server *s, int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	fwd_fds_give(&s->fds, FWD_FD_TCP, 2);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_server *s = arg;
	struct timeval tv = {0, PAUSE_EMFILE * 1000};
	(void)fd;
	(void)what;

	/* Resume only with the reserve back: then an accepted client can always be connected. */
	if (s->reserve_fd < 0)
		s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->reserve_fd < 0) {
		evtimer_add(s->resume_ev, &tv);
		return;
	}
	if (s->conns.n < s->opts.max_conns && fwd_fds_room(&s->fds, FWD_FD_TCP) >= 2)
		fwd_listen_pause(s, false);
}

static void
start(struct fwd_listener *l, int cfd, const struct sockaddr_storage *peer)
{
	struct fwd_server *s = l->srv;
	struct fwd_conn *c;
	struct netaddr client;

	addr_to_netaddr((const struct sockaddr *)peer, &client);
	if (!fwd_listen_admits(l, &client)) {
		l->pool->rejected++;
		reject(s, cfd);
		return;
	}
	c = conn_alloc();
	if (c == NULL) {
		reject(s, cfd);
		return;
	}
	c->srv = s;
	c->cfd = cfd;
	c->client = client;
	c->pool = fwd_pool_ref(l->pool);
	c->last_ms = now_ms();
	lru_push(&s->conns, &c->lru);
	set_nodelay(cfd);
	if (!connect_next(c)) {
		c->pool->rejected++;
		conn_close(c, true);
	}
}

/* The destination a connection accepted on a shared socket was for: sk_lookup keeps the
 * original destination as the connection's local address. NULL: none of the plan's (it just
 * left, or a client connected to the shared socket's own loopback port). */
static struct fwd_listener *
claimed(struct fwd_server *s, int cfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct netaddr a;
	uint16_t port;

	if (getsockname(cfd, (struct sockaddr *)&ss, &len) != 0)
		return NULL;
	addr_to_netaddr((const struct sockaddr *)&ss, &a);
	if (ss.ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
	else
		port = ntohs(((const struct sockaddr_in *)&ss)->sin_port);
	return fwd_listen_find(s, CLUSTER_TCP, &a, port);
}

void
fwd_tcp_accept(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_listener *l = arg;
	struct fwd_server *s = l->srv;
	(void)what;

	for (int i = 0; i < FWD_ACCEPT_MAX; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int cfd;

		if (s->conns.n >= s->opts.max_conns || !fwd_fds_take(&s->fds, FWD_FD_TCP, 2)) {
			/* At the cap, or the budget's: leave the rest in the kernel's queue until
			 * some close. */
			fwd_listen_pause(s, true);
			s->stats.accept_pauses++;
			return;
		}
		cfd = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			fwd_fds_give(&s->fds, FWD_FD_TCP, 2);
		if (cfd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			s->stats.accept_errors++;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				out_of_fds(s, errno);
				return;
			}
			continue;
		}
		s->stats.accepted++;
		if (l->shared) {
			struct fwd_listener *d = claimed(s, cfd);

			if (d == NULL || !d->bound) {
				s->stats.unclaimed++;
				reject(s, cfd);
				continue;
			}
			start(d, cfd, &peer);
			continue;
		}
		start(l, cfd, &peer);
	}
}

void
fwd_tcp_sweep(struct fwd_server *s, uint64_t now)
{
	struct fwd_conn *c;

	/* Paused at the budget: descriptors other kinds held may have come back. */
	if (s->accept_paused && s->conns.n < s->opts.max_conns &&
	    fwd_fds_room(&s->fds, FWD_FD_TCP) >= 2 && s->reserve_fd >= 0 &&
	    !evtimer_pending(s->resume_ev, NULL))
		fwd_listen_pause(s, false);
	while ((c = lru_item(s->conns.oldest, struct fwd_conn, lru)) != NULL &&
	       now - c->last_ms >= s->opts.tcp_idle_ms) {
		/* A connect in progress has its own timeout. */
		if (c->connecting) {
			c->last_ms = now;
			lru_touch(&s->conns, &c->lru);
			if (s->conns.oldest == &c->lru)
				break;
			continue;
		}
		s->stats.conns_closed_idle++;
		conn_close(c, false);
	}
}

enum svc_status
fwd_tcp_init(struct fwd_server *s)
{
	/* One descriptor kept in reserve for the backend socket of a client accepted just as the
	 * descriptors ran out. */
	lru_init(&s->conns);
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->scratch = malloc(FWD_READ_SIZE);
	s->resume_ev = evtimer_new(s->base, on_resume, s);
	if (s->scratch == NULL || s->resume_ev == NULL)
		return SVC_ENOMEM;
	return SVC_OK;
}

void
fwd_tcp_deinit(struct fwd_server *s)
{
	while (s->conns.oldest != NULL)
		conn_close(lru_item(s->conns.oldest, struct fwd_conn, lru), false);
	while (free_conns != NULL) {
		struct fwd_conn *c = free_conns;

		free_conns = c->free_next;
		free(c);
	}
	n_free_conns = 0;
	if (s->resume_ev != NULL)
		event_free(s->resume_ev);
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	free(s->scratch);
}
