/* fwd_probe.c -- readiness probes: one timer per probe for its periods, one socket per attempt
 * in flight (kept between attempts, disconnected), and a FIFO of the attempts due while every
 * slot is taken. Each probe embeds its attempt (its deadline and a little parser state), so an
 * attempt allocates nothing. An attempt always ends in an event callback, even one that fails
 * while starting (EMFILE, an immediate refusal), so starting one never reports: add, remove and
 * the queue may start attempts anywhere. */
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fwd_probe.h"
#include "htab.h"
#include "lru.h"

enum probe_phase {
	PH_IDLE,       /* waiting for its next period */
	PH_QUEUED,     /* due, waiting for a slot */
	PH_CONNECTING, /* the socket connects: waiting until writable */
	PH_SENDING,    /* HTTP: the request is partly sent */
	PH_READING,    /* HTTP: the status line is partly read */
	PH_FAILED,     /* failed while starting: the deadline event was made active to end it */
};

/* Where the status line parser is: "HTTP/d.d" SP+ ddd [SP reason] (CR) LF, as Go's client reads
 * it (RFC 9112 section 4, with Go's leniency for a bare LF and extra spaces). */
enum line_state {
	LS_VERSION, /* "HTTP/d.d", byte LINE_LEN of it */
	LS_SP,      /* the space after the version */
	LS_SPACES,  /* more spaces, until the code's first digit */
	LS_CODE,    /* the code's other two digits */
	LS_AFTER,   /* a space before the reason, or the line's end */
	LS_REASON,  /* anything, up to the line's end */
	LS_CR,      /* a CR right after the code: the LF must follow */
};

/* A socket of the prober's, which outlives attempts. Between two it is disconnected (a connect
 * to AF_UNSPEC, which resets the connection as a close with SO_LINGER 0 does) and kept idle, so
 * an attempt costs no socket, no close and no epoll registration: its event is in the loop for
 * the socket's whole life, edge-triggered. An edge that finds it idle, or one left from its last
 * attempt, finds nothing to do: every handler looks at the socket's state, not at the edge. */
struct probe_sock {
	struct event ev;
	struct fwd_prober *p;
	struct fwd_probe *pr; /* the attempt on it; NULL while idle */
	int fd;               /* -1: no socket in this entry */
	uint32_t idx;         /* in the prober's socks */
};

struct fwd_probe {
	struct htab_node node;  /* in the prober's probes, by id */
	struct lru_node queued; /* in the prober's queue while PH_QUEUED */
	struct fwd_prober *p;
	uint64_t id;
	struct event tick;       /* the next period's start; the first after delay and jitter */
	struct probe_sock *sock; /* the attempt's socket, NULL when none */
	struct event deadline;   /* the attempt's timeout */
	struct timeval period, timeout;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} to;
	socklen_t to_len;
	uint32_t success_threshold, failure_threshold;
	uint32_t run; /* results in a row equal to last_ok; 0: none yet */
	uint16_t req_len;
	uint16_t sent;     /* bytes of req sent */
	uint16_t line_len; /* bytes of the status line read */
	uint16_t code;     /* the status code, as its digits arrive */
	uint8_t phase;     /* enum probe_phase */
	uint8_t line;      /* enum line_state */
	uint8_t digits;    /* of the code, so far */
	uint8_t kind;      /* enum fwd_probe_kind */
	bool last_ok;      /* the latest result */
	bool ready;
	bool periodic; /* tick now fires every period */
	char req[];    /* the HTTP request, req_len bytes */
};

struct fwd_prober {
	struct event_base *base;
	fwd_probe_cb cb;
	void *arg;
	size_t max_in_flight;
	struct htab probes; /* struct fwd_probe by id */
	struct lru queue;   /* PH_QUEUED probes, first due first */
	/* max_in_flight entries, so never more sockets than slots; spare: entries without a
	 * socket, idle[0] / idle[1]: entries with an idle IPv4 / IPv6 socket (stacks of indices).
	 */
	struct probe_sock *socks;
	uint32_t *spare, *idle[2];
	uint32_t n_spare, n_idle[2];
	uint64_t rng;                 /* xorshift64* state, for the jitter */
	struct fwd_probe_stats stats; /* but queued: the queue's length */
};

static void on_tick(evutil_socket_t fd, short what, void *arg);
static void on_deadline(evutil_socket_t fd, short what, void *arg);

/* ---- helpers --------------------------------------------------------------------------- */

static struct timeval
us_tv(uint64_t us)
{
	struct timeval tv = {.tv_sec = (time_t)(us / 1000000),
	                     .tv_usec = (suseconds_t)(us % 1000000)};

	return tv;
}

/* MS when given, else S seconds, else DEF_S seconds. */
static uint64_t
span_ms(uint32_t s, uint32_t ms, uint32_t def_s)
{
	if (ms != 0)
		return ms;
	return (uint64_t)(s != 0 ? s : def_s) * 1000;
}

static uint64_t
rng_next(struct fwd_prober *p)
{
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return p->rng * 2685821657736338717ull;
}

static struct fwd_probe *
probe_find(const struct fwd_prober *p, uint64_t id)
{
	uint32_t h = htab_hash_u64(id);

	for (struct htab_node *n = htab_find(&p->probes, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_probe *pr = htab_item(n, struct fwd_probe, node);

		if (pr->id == id)
			return pr;
	}
	return NULL;
}

/* ---- the HTTP request, built once per probe ---------------------------------------------- */

/* A bounded text under construction; FULL once something did not fit. */
struct req_buf {
	char *b;
	size_t len, cap;
	bool full;
};

static void
rb_put(struct req_buf *rb, const char *s, size_t n)
{
	if (rb->full || n > rb->cap - rb->len) {
		rb->full = true;
		return;
	}
	memcpy(rb->b + rb->len, s, n);
	rb->len += n;
}

static void
rb_str(struct req_buf *rb, const char *s)
{
	rb_put(rb, s, strlen(s));
}

static void
rb_header(struct req_buf *rb, const char *name, const char *value)
{
	rb_str(rb, name);
	rb_put(rb, ": ", 2);
	rb_str(rb, value);
	rb_put(rb, "\r\n", 2);
}

/* A token (RFC 9110 section 5.6.2): what Go's client accepts as a header name. */
static bool
name_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
			return false;
	}
	return true;
}

/* No control characters but tab: no CR or LF to end the header early. */
static bool
value_ok(const char *s)
{
	if (s == NULL)
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* What a URL's host (with userinfo, port, brackets) may hold, as Go's client checks Host. */
static bool
host_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!$%&'()*+,-.:;=@[]_~", c) != NULL))
			return false;
	}
	return true;
}

/* The first of HEADERS named NAME, or NULL. */
static const struct fwd_probe_header *
header_find(const struct fwd_probe_spec *spec, const char *name)
{
	for (size_t i = 0; i < spec->n_headers; i++) {
		if (strcasecmp(spec->headers[i].name, name) == 0)
			return &spec->headers[i];
	}
	return NULL;
}

/* Headers the request writes itself (or, for a request without a body, must not carry). */
static bool
header_own(const char *name)
{
	static const char *const own[] = {"Host",           "User-Agent",        "Connection",
	                                  "Content-Length", "Transfer-Encoding", "Trailer"};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (strcasecmp(name, own[i]) == 0)
			return true;
	}
	return false;
}

/* The request target: a leading "/", no fragment, unsafe bytes percent-encoded. */
static void
rb_path(struct req_buf *rb, const char *path)
{
	static const char hex[] = "0123456789ABCDEF";

	if (path == NULL || *path != '/')
		rb_put(rb, "/", 1);
	for (; path != NULL && *path != '\0' && *path != '#'; path++) {
		unsigned char c = (unsigned char)*path;
		char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

		if (c <= 0x20 || c >= 0x7f)
			rb_put(rb, esc, 3);
		else
			rb_put(rb, path, 1);
	}
}

/* "HOST:PORT", HOST bracketed when it is an IPv6 address, as Go's net.JoinHostPort. */
static void
rb_hostport(struct req_buf *rb, const char *host, uint16_t port)
{
	char num[8];
	bool v6 = strchr(host, ':') != NULL;

	snprintf(num, sizeof(num), ":%u", (unsigned)port);
	if (v6)
		rb_put(rb, "[", 1);
	rb_str(rb, host);
	if (v6)
		rb_put(rb, "]", 1);
	rb_str(rb, num);
}

/* The request of SPEC into RB: the kubelet's headers, then the caller's (RFC 9112 section 3). */
static enum svc_status
request_build(const struct fwd_probe_spec *spec, struct req_buf *rb)
{
	const struct fwd_probe_header *host = header_find(spec, "Host");
	const struct fwd_probe_header *ua = header_find(spec, "User-Agent");
	const struct fwd_probe_header *accept = header_find(spec, "Accept");
	char addr[NETADDR_STRLEN];

	rb_str(rb, "GET ");
	rb_path(rb, spec->path);
	rb_str(rb, " HTTP/1.1\r\nHost: ");
	/* An empty Host header leaves the URL's host, as Go's client does. */
	if (host != NULL && host->value[0] != '\0') {
		if (!host_ok(host->value))
			return SVC_EINVAL;
		rb_str(rb, host->value);
	} else if (spec->host != NULL) {
		if (!host_ok(spec->host))
			return SVC_EINVAL;
		rb_hostport(rb, spec->host, spec->port);
	} else {
		rb_hostport(rb, netaddr_str(&spec->addr, addr), spec->port);
	}
	rb_put(rb, "\r\n", 2);
	/* An empty User-Agent sends none, an empty Accept none either: the kubelet's rules. */
	if (ua == NULL)
		rb_header(rb, "User-Agent", FWD_PROBE_USER_AGENT);
	else if (ua->value[0] != '\0')
		rb_header(rb, "User-Agent", ua->value);
	if (accept == NULL)
		rb_header(rb, "Accept", "*/*");
	for (size_t i = 0; i < spec->n_headers; i++) {
		const struct fwd_probe_header *h = &spec->headers[i];

		if (header_own(h->name))
			continue;
		if (strcasecmp(h->name, "Accept") == 0 && accept->value[0] == '\0')
			continue;
		rb_header(rb, h->name, h->value);
	}
	rb_str(rb, "Connection: close\r\n\r\n");
	return rb->full ? SVC_ELIMIT : SVC_OK;
}

static enum svc_status
spec_check(const struct fwd_probe_spec *spec)
{
	if (spec->kind != FWD_PROBE_TCP && spec->kind != FWD_PROBE_HTTP)
		return SVC_EINVAL;
	if ((spec->addr.family != NETADDR_V4 && spec->addr.family != NETADDR_V6) || spec->port == 0)
		return SVC_EINVAL;
	if (spec->kind == FWD_PROBE_TCP)
		return SVC_OK;
	if (spec->n_headers > 0 && spec->headers == NULL)
		return SVC_EINVAL;
	for (size_t i = 0; i < spec->n_headers; i++) {
		if (!name_ok(spec->headers[i].name) || !value_ok(spec->headers[i].value))
			return SVC_EINVAL;
	}
	return SVC_OK;
}

static void
sockaddr_set(struct fwd_probe *pr, const struct netaddr *a, uint16_t port)
{
	memset(&pr->to, 0, sizeof(pr->to));
	if (a->family == NETADDR_V6) {
		pr->to.in6.sin6_family = AF_INET6;
		pr->to.in6.sin6_port = htons(port);
		memcpy(&pr->to.in6.sin6_addr, a->bytes, 16);
		pr->to_len = sizeof(pr->to.in6);
	} else {
		pr->to.in4.sin_family = AF_INET;
		pr->to.in4.sin_port = htons(port);
		memcpy(&pr->to.in4.sin_addr, a->bytes, 4);
		pr->to_len = sizeof(pr->to.in4);
	}
}

/* ---- the status line --------------------------------------------------------------------- */

/* Feed BUF (N bytes) to PR's status line parser: 1 when the line is complete and well formed
 * (its code in PR->code), -1 when it cannot be, 0 when more is needed. */
static int
line_feed(struct fwd_probe *pr, const char *buf, size_t n)
{
	static const char version[] = "HTTP/d.d";

	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		bool digit = c >= '0' && c <= '9';

		switch (pr->line) {
		case LS_VERSION:
			if (version[pr->line_len] == 'd' ? !digit : c != version[pr->line_len])
				return -1;
			if (pr->line_len == sizeof(version) - 2)
				pr->line = LS_SP;
			break;
		case LS_SP:
			if (c != ' ')
				return -1;
			pr->line = LS_SPACES;
			break;
		case LS_SPACES:
			if (c == ' ')
				break;
			if (!digit)
				return -1;
			pr->code = (uint16_t)(c - '0');
			pr->digits = 1;
			pr->line = LS_CODE;
			break;
		case LS_CODE:
			if (!digit)
				return -1;
			pr->code = (uint16_t)(pr->code * 10 + (c - '0'));
			if (++pr->digits == 3)
				pr->line = LS_AFTER;
			break;
		case LS_AFTER:
			if (c == '\n')
				return 1;
			if (c == '\r')
				pr->line = LS_CR;
			else if (c == ' ')
				pr->line = LS_REASON;
			else
				return -1;
			break;
		case LS_CR:
			return c == '\n' ? 1 : -1;
		case LS_REASON:
			if (c == '\n')
				return 1;
			break;
		}
		pr->line_len++;
	}
	return 0;
}

/* ---- sockets ------------------------------------------------------------------------------ */

static void on_io(evutil_socket_t fd, short what, void *arg);

static unsigned
family_idx(int family)
{
	return family == AF_INET6 ? 1 : 0;
}

/* Close S's socket for good: its entry becomes spare. */
static void
sock_close(struct fwd_prober *p, struct probe_sock *s)
{
	event_del(&s->ev);
	close(s->fd);
	s->fd = -1;
	s->pr = NULL;
	p->stats.sockets--;
	p->spare[p->n_spare++] = s->idx;
}

/* Close every idle socket: nothing is probed any more. */
static void
sock_close_idle(struct fwd_prober *p)
{
	for (unsigned f = 0; f < 2; f++) {
		while (p->n_idle[f] > 0)
			sock_close(p, &p->socks[p->idle[f][--p->n_idle[f]]]);
	}
}

/* A socket of FAMILY for an attempt: an idle one, else a new one in a spare entry (made spare
 * by closing an idle socket of the other family when none is: a slot is free, so the entries
 * are not all in flight). NULL, errno set, when no socket can be had. */
static struct probe_sock *
sock_get(struct fwd_prober *p, int family)
{
	/* A reset on close: no TIME_WAIT left behind by 1,000 probes a second. */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	unsigned f = family_idx(family);
	struct probe_sock *s;

	if (p->n_idle[f] > 0)
		return &p->socks[p->idle[f][--p->n_idle[f]]];
	if (p->n_spare == 0 && p->n_idle[1 - f] > 0)
		sock_close(p, &p->socks[p->idle[1 - f][--p->n_idle[1 - f]]]);
	if (p->n_spare == 0) { /* cannot happen while a slot is free */
		errno = ENOBUFS;
		return NULL;
	}
	s = &p->socks[p->spare[p->n_spare - 1]];
	s->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) /* out of descriptors (EMFILE, ENFILE) or memory */
		return NULL;
	(void)setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	event_assign(&s->ev, p->base, s->fd, EV_READ | EV_WRITE | EV_ET | EV_PERSIST, on_io, s);
	if (event_add(&s->ev, NULL) != 0) {
		close(s->fd);
		s->fd = -1;
		errno = ENOMEM;
		return NULL;
	}
	p->n_spare--;
	p->stats.sockets++;
	return s;
}

/* S's attempt is over: reset its connection and keep it idle, or close it when it cannot be. */
static void
sock_put(struct fwd_prober *p, struct probe_sock *s, int family)
{
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	unsigned f = family_idx(family);

	s->pr = NULL;
	if (connect(s->fd, &unspec, sizeof(unspec)) != 0) {
		sock_close(p, s);
		return;
	}
	p->idle[f][p->n_idle[f]++] = s->idx;
}

/* ---- attempts ------------------------------------------------------------------------------ */

/* Close PR's attempt, if any: its socket goes back to the prober, its deadline is dropped. */
static void
attempt_close(struct fwd_probe *pr)
{
	event_del(&pr->deadline);
	if (pr->sock != NULL)
		sock_put(pr->p, pr->sock, pr->to.sa.sa_family);
	pr->sock = NULL;
	pr->phase = PH_IDLE;
}

/* Send what is left of PR's request. 1: all of it is sent; 0: the socket is not ready (still
 * connecting, or its buffer is full); -1: the connection failed (a refused or reset connect
 * reports here, so no SO_ERROR is asked for). */
static int
request_send(struct fwd_probe *pr)
{
	ssize_t n = send(pr->sock->fd, pr->req + pr->sent, pr->req_len - pr->sent, MSG_NOSIGNAL);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	pr->sent = (uint16_t)(pr->sent + n);
	return pr->sent == pr->req_len ? 1 : 0;
}

/* Start PR's attempt in a slot of its own. Never reports: a failure found here ends through the
 * deadline event, made active, so it is reported from the loop. */
static void
attempt_start(struct fwd_probe *pr)
{
	struct fwd_prober *p = pr->p;

	p->stats.attempts++;
	p->stats.in_flight++;
	pr->sent = 0;
	pr->line_len = 0;
	pr->code = 0;
	pr->line = LS_VERSION;
	pr->sock = sock_get(p, pr->to.sa.sa_family);
	if (pr->sock == NULL) /* out of descriptors or memory: this attempt fails */
		goto fail;
	pr->sock->pr = pr;
	/* HTTP: the handshake's last ACK waits to ride on the request, and the answer's ACK on
	 * nothing (the reset ends it): 7 segments a check instead of 9, each crossing two stacks.
	 * (Set for each attempt: a disconnect clears it.) */
	if (pr->kind == FWD_PROBE_HTTP)
		(void)setsockopt(pr->sock->fd, IPPROTO_TCP, TCP_QUICKACK, &(int){0}, sizeof(int));
	if (connect(pr->sock->fd, &pr->to.sa, pr->to_len) != 0 && errno != EINPROGRESS)
		goto fail;
	pr->phase = PH_CONNECTING;
	if (pr->kind == FWD_PROBE_HTTP) {
		/* A pod on this node is a veth (or loopback) away, and the handshake is over by the
		 * time connect returns: the request goes at once, and only its answer is waited
		 * for. Else the edge of the connection made sends it. */
		int sent = request_send(pr);

		if (sent < 0)
			goto fail;
		if (sent > 0)
			pr->phase = PH_READING;
	}
	if (evtimer_add(&pr->deadline, &pr->timeout) != 0)
		goto fail;
	return;
fail:
	attempt_close(pr);
	pr->phase = PH_FAILED;
	event_active(&pr->deadline, EV_TIMEOUT, 1);
}

/* Start queued attempts while slots are free. */
static void
queue_run(struct fwd_prober *p)
{
	while (p->stats.in_flight < p->max_in_flight && p->queue.oldest != NULL) {
		struct fwd_probe *pr = lru_item(p->queue.oldest, struct fwd_probe, queued);

		lru_remove(&p->queue, &pr->queued);
		attempt_start(pr);
	}
}

/* PR's next period: an attempt now, later when every slot is taken, none when the last one
 * still runs or waits. */
static void
probe_due(struct fwd_probe *pr)
{
	struct fwd_prober *p = pr->p;

	if (pr->phase != PH_IDLE) {
		p->stats.skipped++;
		return;
	}
	if (p->stats.in_flight < p->max_in_flight) {
		attempt_start(pr);
		return;
	}
	pr->phase = PH_QUEUED;
	lru_push(&p->queue, &pr->queued);
}

/* The kubelet's counting: a result moves the state only after its threshold of the same result
 * in a row. True when the state changed. */
static bool
probe_record(struct fwd_probe *pr, bool ok)
{
	if (pr->run > 0 && pr->last_ok == ok) {
		if (pr->run < UINT32_MAX)
			pr->run++;
	} else {
		pr->last_ok = ok;
		pr->run = 1;
	}
	if (pr->run < (ok ? pr->success_threshold : pr->failure_threshold) || pr->ready == ok)
		return false;
	pr->ready = ok;
	if (ok)
		pr->p->stats.ready++;
	else
		pr->p->stats.ready--;
	return true;
}

/* End PR's attempt with its result, free its slot, and report a change last: the callback may
 * remove PR. */
static void
attempt_end(struct fwd_probe *pr, bool ok, bool timed_out)
{
	struct fwd_prober *p = pr->p;

	attempt_close(pr);
	p->stats.in_flight--;
	if (ok)
		p->stats.successes++;
	else
		p->stats.failures++;
	if (timed_out)
		p->stats.timeouts++;
	queue_run(p);
	if (probe_record(pr, ok) && p->cb != NULL)
		p->cb(p->arg, pr->id, ok);
}

/* A TCP probe's socket has an edge: connected (done), failed (SO_ERROR says so), or neither
 * yet (an edge left from the socket's last attempt). */
static void
on_connected(struct fwd_probe *pr)
{
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof(peer);
	int err = 0;
	socklen_t len = sizeof(err);

	if (getpeername(pr->sock->fd, (struct sockaddr *)&peer, &peer_len) == 0) {
		attempt_end(pr, true, false);
		return;
	}
	if (getsockopt(pr->sock->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		attempt_end(pr, false, false);
}

/* An HTTP probe's socket, with its request not all sent, has an edge: send the rest. */
static void
on_writable(struct fwd_probe *pr)
{
	int sent = request_send(pr);

	if (sent < 0)
		attempt_end(pr, false, false);
	else if (sent > 0)
		pr->phase = PH_READING; /* the edge-triggered event stays, for the answer */
	else
		pr->phase = pr->sent > 0 ? PH_SENDING : PH_CONNECTING;
}

/* Read no further than the status line's bound; whatever follows the line is not looked at. */
static void
on_readable(struct fwd_probe *pr)
{
	char buf[FWD_PROBE_STATUS_MAX];
	ssize_t n = recv(pr->sock->fd, buf, FWD_PROBE_STATUS_MAX - pr->line_len, 0);
	int done;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) { /* closed or reset before the line's end */
		attempt_end(pr, false, false);
		return;
	}
	done = line_feed(pr, buf, (size_t)n);
	if (done > 0)
		attempt_end(pr, pr->code >= 200 && pr->code < 400, false);
	else if (done < 0 || pr->line_len >= FWD_PROBE_STATUS_MAX)
		attempt_end(pr, false, false);
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	struct probe_sock *s = arg;
	struct fwd_probe *pr = s->pr;

	(void)fd;
	if (pr == NULL) /* idle: the edge of its own reset */
		return;
	switch (pr->phase) {
	case PH_CONNECTING:
	case PH_SENDING:
		if (pr->kind == FWD_PROBE_TCP)
			on_connected(pr);
		else
			on_writable(pr);
		break;
	case PH_READING:
		if (what & EV_READ)
			on_readable(pr);
		break;
	default:
		break;
	}
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_probe *pr = arg;

	(void)fd;
	(void)what;
	attempt_end(pr, false, pr->phase != PH_FAILED);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_probe *pr = arg;

	(void)fd;
	(void)what;
	if (!pr->periodic) {
		/* From the first run on, every period: a persistent timer keeps the beat without
		 * drift and skips beats the loop missed, as the kubelet's ticker. */
		event_assign(&pr->tick, pr->p->base, -1, EV_PERSIST, on_tick, pr);
		event_add(&pr->tick, &pr->period);
		pr->periodic = true;
	}
	probe_due(pr);
}

/* ---- the API ------------------------------------------------------------------------------- */

enum svc_status
fwd_probe_create(struct event_base *base, size_t max_in_flight, fwd_probe_cb cb, void *arg,
                 struct fwd_prober **out)
{
	struct fwd_prober *p;

	*out = NULL;
	if (max_in_flight > FWD_PROBE_MAX_IN_FLIGHT_LIMIT)
		return SVC_ERANGE;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return SVC_ENOMEM;
	p->base = base;
	p->cb = cb;
	p->arg = arg;
	p->max_in_flight = max_in_flight != 0 ? max_in_flight : FWD_PROBE_MAX_IN_FLIGHT;
	htab_init(&p->probes);
	lru_init(&p->queue);
	p->socks = calloc(p->max_in_flight, sizeof(*p->socks));
	p->spare = calloc(p->max_in_flight, sizeof(*p->spare));
	p->idle[0] = calloc(p->max_in_flight, sizeof(*p->idle[0]));
	p->idle[1] = calloc(p->max_in_flight, sizeof(*p->idle[1]));
	if (p->socks == NULL || p->spare == NULL || p->idle[0] == NULL || p->idle[1] == NULL) {
		fwd_probe_destroy(p);
		return SVC_ENOMEM;
	}
	for (size_t i = 0; i < p->max_in_flight; i++) {
		p->socks[i].p = p;
		p->socks[i].fd = -1;
		p->socks[i].idx = (uint32_t)i;
		p->spare[p->n_spare++] = (uint32_t)(p->max_in_flight - 1 - i);
	}
	/* The jitter needs spread, not secrecy: any seed but 0 does. */
	if (getrandom(&p->rng, sizeof(p->rng), GRND_NONBLOCK) != (ssize_t)sizeof(p->rng))
		p->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)p;
	p->rng |= 1;
	*out = p;
	return SVC_OK;
}

static void
probe_free(struct fwd_prober *p, struct fwd_probe *pr)
{
	if (pr->phase == PH_QUEUED)
		lru_remove(&p->queue, &pr->queued);
	else if (pr->phase != PH_IDLE)
		p->stats.in_flight--;
	attempt_close(pr);
	event_del(&pr->tick);
	htab_remove(&p->probes, &pr->node);
	p->stats.probes--;
	if (pr->ready)
		p->stats.ready--;
	free(pr);
	if (p->stats.probes == 0) /* nothing left to probe: no descriptor kept for it */
		sock_close_idle(p);
}

void
fwd_probe_destroy(struct fwd_prober *p)
{
	struct htab_iter it;

	if (p == NULL)
		return;
	for (struct htab_node *n = htab_first(&it, &p->probes); n != NULL; n = htab_iter_next(&it))
		probe_free(p, htab_item(n, struct fwd_probe, node));
	htab_deinit(&p->probes);
	if (p->socks != NULL && p->idle[0] != NULL && p->idle[1] != NULL)
		sock_close_idle(p); /* all are idle now */
	free(p->socks);
	free(p->spare);
	free(p->idle[0]);
	free(p->idle[1]);
	free(p);
}

enum svc_status
fwd_probe_add(struct fwd_prober *p, uint64_t id, const struct fwd_probe_spec *spec)
{
	char text[FWD_PROBE_REQUEST_MAX];
	struct req_buf rb = {.b = text, .cap = sizeof(text)};
	struct fwd_probe *pr = NULL;
	uint64_t period_ms, delay_ms;
	struct timeval first;
	const struct timeval *common;
	uint64_t slot;
	enum svc_status st;

	if (probe_find(p, id) != NULL)
		return SVC_EEXIST;
	st = spec_check(spec);
	if (st == SVC_OK && spec->kind == FWD_PROBE_HTTP)
		st = request_build(spec, &rb);
	if (st != SVC_OK)
		goto done;
	pr = calloc(1, sizeof(*pr) + rb.len);
	if (pr == NULL) {
		st = SVC_ENOMEM;
		goto done;
	}
	pr->p = p;
	pr->id = id;
	pr->kind = (uint8_t)spec->kind;
	pr->req_len = (uint16_t)rb.len;
	memcpy(pr->req, text, rb.len);
	sockaddr_set(pr, &spec->addr, spec->port);
	period_ms = span_ms(spec->period_s, spec->period_ms, FWD_PROBE_PERIOD_S);
	delay_ms = span_ms(spec->initial_delay_s, spec->initial_delay_ms, 0);
	pr->period = us_tv(period_ms * 1000);
	pr->timeout = us_tv(span_ms(spec->timeout_s, spec->timeout_ms, FWD_PROBE_TIMEOUT_S) * 1000);
	/* Probes of one period (one timeout) share a queue of libevent's: adding and removing
	 * their timers costs a constant, not a walk of a heap of thousands. */
	if ((common = event_base_init_common_timeout(p->base, &pr->period)) != NULL)
		pr->period = *common;
	if ((common = event_base_init_common_timeout(p->base, &pr->timeout)) != NULL)
		pr->timeout = *common;
	pr->success_threshold =
	        spec->success_threshold ? spec->success_threshold : FWD_PROBE_SUCCESS_THRESHOLD;
	pr->failure_threshold =
	        spec->failure_threshold ? spec->failure_threshold : FWD_PROBE_FAILURE_THRESHOLD;
	evtimer_assign(&pr->tick, p->base, on_tick, pr);
	evtimer_assign(&pr->deadline, p->base, on_deadline, pr);
	/* The first run somewhere in the first period after the delay, at the end of a slot of
	 * FWD_PROBE_SLOT_MS: probes of one slot (and one period) then tick together, many
	 * attempts to a wake-up of the loop rather than one each. (The slot's end, not its
	 * start: libevent's coarse clock may fire a timer a tick early, never before the delay.) */
	slot = (rng_next(p) % (period_ms * 1000) / (FWD_PROBE_SLOT_MS * 1000) + 1) *
	       (FWD_PROBE_SLOT_MS * 1000);
	first = us_tv(delay_ms * 1000 + (slot < period_ms * 1000 ? slot : period_ms * 1000));
	if (htab_insert(&p->probes, &pr->node, htab_hash_u64(id)) != SVC_OK) {
		st = SVC_ENOMEM;
		goto done;
	}
	/* From now, not from the loop's cached time (its last wake-up): never before the delay. */
	event_base_update_cache_time(p->base);
	if (evtimer_add(&pr->tick, &first) != 0) {
		htab_remove(&p->probes, &pr->node);
		st = SVC_EIO;
		goto done;
	}
	p->stats.probes++;
	pr = NULL;
done:
	free(pr);
	return st;
}

void
fwd_probe_remove(struct fwd_prober *p, uint64_t id)
{
	struct fwd_probe *pr = probe_find(p, id);
	bool held;

	if (pr == NULL)
		return;
	held = pr->phase != PH_IDLE && pr->phase != PH_QUEUED;
	probe_free(p, pr);
	/* Its slot goes to the next in line; starting reports nothing, so this is safe here. */
	if (held)
		queue_run(p);
}

int
fwd_probe_state(const struct fwd_prober *p, uint64_t id)
{
	const struct fwd_probe *pr = probe_find(p, id);

	if (pr == NULL)
		return -1;
	return pr->ready ? 1 : 0;
}

void
fwd_probe_stats(const struct fwd_prober *p, struct fwd_probe_stats *out)
{
	*out = p->stats;
	out->queued = p->queue.n;
}
