/* test_fwd_probe.c -- readiness probes against real servers on 127.0.0.1 and ::1, on the test's
 * own loop: TCP success and refusal; HTTP codes (3xx a success), timeouts, an endless status
 * line, malformed and boundary status lines; the request's headers as the server sees them;
 * thresholds, transitions reported once; the initial delay and the first period's jitter;
 * removal (before a run, in flight, queued, from the callback); the in-flight bound; out of
 * descriptors; destroy with attempts in flight. Periods are milliseconds (period_ms and co.). */
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fwd_probe.h"

/* ---- clock and loop ------------------------------------------------------------------------ */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run BASE for MS milliseconds. */
static void
spin(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Run F's loop until COND holds or MS milliseconds pass. */
#define WAIT(f, cond, ms)                                                                          \
	do {                                                                                       \
		uint64_t t0_ = mono_ms();                                                          \
		while (!(cond) && mono_ms() - t0_ < (uint64_t)(ms))                                \
			spin((f)->base, 2);                                                        \
	} while (0)

/* Descriptors open now. */
static int
fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own */
}

/* The highest descriptor number open now. */
static int
fd_max(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int m = -1;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		int fd = (int)strtol(e->d_name, NULL, 10);

		if (e->d_name[0] != '.' && fd != dirfd(d) && fd > m)
			m = fd;
	}
	closedir(d);
	return m;
}

/* ---- servers ------------------------------------------------------------------------------- */

enum srv_mode {
	SRV_TCP,     /* accept, then wait for the client to go */
	SRV_CODE,    /* answer every request with CODE */
	SRV_PATH,    /* the path's number is the code: "/404" gets 404 */
	SRV_SCRIPT,  /* request N gets SCRIPT[N], then the last entry for ever */
	SRV_SILENT,  /* read the request, never answer */
	SRV_ENDLESS, /* a status line that never ends */
	SRV_RAW,     /* RAW[path's number] as the whole answer, then FIN */
};

struct srv;

struct sconn {
	struct srv *s;
	int fd;
	struct event rd, wr;
	char buf[4096];
	size_t len;
	bool answered;
	struct sconn *next;
};

struct srv {
	struct event_base *base;
	int family;
	int lfd;
	struct event acc;
	bool accepting;
	uint16_t port;
	enum srv_mode mode;
	int code;
	const int *script;
	size_t n_script;
	const char *const *raw;
	size_t n_raw;
	unsigned accepted, requests, open;
	unsigned eofs, resets; /* how clients went: FIN or RST */
	uint64_t first_req_ms;
	char last[4096]; /* the latest request's head */
	struct sconn *conns;
};

static void
sconn_close(struct sconn *c)
{
	struct srv *s = c->s;

	for (struct sconn **pp = &s->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	event_del(&c->rd);
	event_del(&c->wr);
	close(c->fd);
	s->open--;
	free(c);
}

/* The number after "GET /". */
static long
req_number(const char *req)
{
	return strncmp(req, "GET /", 5) == 0 ? strtol(req + 5, NULL, 10) : -1;
}

static void
say(int fd, const char *text)
{
	(void)send(fd, text, strlen(text), MSG_NOSIGNAL);
}

static void
answer_code(struct sconn *c, int code)
{
	char text[128];

	snprintf(text, sizeof(text), "HTTP/1.1 %d Whatever\r\nContent-Length: 0\r\n\r\n", code);
	say(c->fd, text);
}

static void
on_endless(evutil_socket_t fd, short what, void *arg)
{
	char xs[4096];
	(void)what;

	memset(xs, 'x', sizeof(xs));
	if (send(fd, xs, sizeof(xs), MSG_NOSIGNAL) < 0 && errno != EAGAIN)
		sconn_close(arg);
}

static void
srv_answer(struct sconn *c)
{
	struct srv *s = c->s;
	long n = req_number(c->buf);

	switch (s->mode) {
	case SRV_CODE:
		answer_code(c, s->code);
		break;
	case SRV_PATH:
		answer_code(c, (int)n);
		break;
	case SRV_SCRIPT:
		answer_code(
		        c,
		        s->script[s->requests <= s->n_script ? s->requests - 1 : s->n_script - 1]);
		break;
	case SRV_ENDLESS:
		say(c->fd, "HTTP/1.1 200 ");
		event_add(&c->wr, NULL);
		break;
	case SRV_RAW:
		if (n >= 0 && (size_t)n < s->n_raw)
			say(c->fd, s->raw[n]);
		shutdown(c->fd, SHUT_WR);
		break;
	default:
		break;
	}
}

static void
on_sconn(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *c = arg;
	struct srv *s = c->s;
	ssize_t n = recv(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	char *end;
	(void)what;

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0 || c->len + (size_t)n == sizeof(c->buf) - 1) {
		s->eofs += n == 0;
		s->resets += n < 0 && errno == ECONNRESET;
		sconn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	end = strstr(c->buf, "\r\n\r\n");
	if (c->answered || s->mode == SRV_TCP || end == NULL)
		return;
	c->answered = true;
	if (s->requests++ == 0)
		s->first_req_ms = mono_ms();
	snprintf(s->last, sizeof(s->last), "%.*s", (int)(end + 4 - c->buf), c->buf);
	srv_answer(c);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct srv *s = arg;
	int fd;
	(void)what;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct sconn *c = calloc(1, sizeof(*c));

		assert_non_null(c);
		c->s = s;
		c->fd = fd;
		event_assign(&c->rd, s->base, fd, EV_READ | EV_PERSIST, on_sconn, c);
		event_assign(&c->wr, s->base, fd, EV_WRITE | EV_PERSIST, on_endless, c);
		event_add(&c->rd, NULL);
		c->next = s->conns;
		s->conns = c;
		s->accepted++;
		s->open++;
	}
}

/* A server on loopback of FAMILY (AF_INET, AF_INET6), accepting or not (then the kernel
 * completes a few handshakes and nothing is ever answered). NULL when FAMILY has no loopback. */
static struct srv *
srv_start(struct event_base *base, int family, enum srv_mode mode, bool accepting)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	socklen_t len =
	        family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	assert_non_null(s);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	else
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->base = base;
	s->family = family;
	s->mode = mode;
	s->accepting = accepting;
	s->lfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&ss, len) != 0) {
		if (s->lfd >= 0)
			close(s->lfd);
		free(s);
		return NULL;
	}
	assert_int_equal(listen(s->lfd, 128), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&ss, &len), 0);
	s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                   : ((struct sockaddr_in *)&ss)->sin_port);
	event_assign(&s->acc, base, s->lfd, EV_READ | EV_PERSIST, on_accept, s);
	if (accepting)
		event_add(&s->acc, NULL);
	return s;
}

static void
srv_stop(struct srv *s)
{
	if (s == NULL)
		return;
	while (s->conns != NULL)
		sconn_close(s->conns);
	event_del(&s->acc);
	close(s->lfd);
	free(s);
}

/* A port nothing listens on: connections to it are refused. */
static uint16_t
closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd); /* bound, never listened: nothing takes the port meanwhile on loopback */
	return port;
}

/* ---- fixture ------------------------------------------------------------------------------- */

struct call {
	uint64_t id;
	bool ready;
	bool in_api;       /* made from inside fwd_probe_add or _remove: must never be */
	unsigned requests; /* the watched server's requests when it came */
};

#define FX_CALLS   512
#define FX_SERVERS 4

struct fx {
	struct event_base *base;
	struct fwd_prober *p;
	struct srv *srv[FX_SERVERS]; /* srv[0] is the one calls note */
	struct call calls[FX_CALLS];
	size_t n_calls;
	bool in_api;
	/* Removed by the callback, on any call. */
	uint64_t remove_ids[4];
	size_t n_remove;
};

static void
on_change(void *arg, uint64_t id, bool ready)
{
	struct fx *f = arg;

	if (f->n_calls < FX_CALLS) {
		struct call *c = &f->calls[f->n_calls];

		c->id = id;
		c->ready = ready;
		c->in_api = f->in_api;
		c->requests = f->srv[0] != NULL ? f->srv[0]->requests : 0;
	}
	f->n_calls++;
	for (size_t i = 0; i < f->n_remove; i++)
		fwd_probe_remove(f->p, f->remove_ids[i]);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->base = event_base_new();
	assert_non_null(f->base);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fwd_probe_destroy(f->p);
	for (int i = 0; i < FX_SERVERS; i++)
		srv_stop(f->srv[i]);
	event_base_free(f->base);
	for (size_t i = 0; i < f->n_calls && i < FX_CALLS; i++)
		assert_false(f->calls[i].in_api);
	free(f);
	return 0;
}

static void
prober(struct fx *f, size_t max_in_flight)
{
	assert_int_equal(fwd_probe_create(f->base, max_in_flight, on_change, f, &f->p), SVC_OK);
}

static enum svc_status
add(struct fx *f, uint64_t id, const struct fwd_probe_spec *sp)
{
	enum svc_status st;

	f->in_api = true;
	st = fwd_probe_add(f->p, id, sp);
	f->in_api = false;
	return st;
}

static void
add_ok(struct fx *f, uint64_t id, const struct fwd_probe_spec *sp)
{
	assert_int_equal(add(f, id, sp), SVC_OK);
}

static void
rm(struct fx *f, uint64_t id)
{
	f->in_api = true;
	fwd_probe_remove(f->p, id);
	f->in_api = false;
}

static struct fwd_probe_stats
stats(const struct fx *f)
{
	struct fwd_probe_stats s;

	fwd_probe_stats(f->p, &s);
	return s;
}

static size_t
calls_for(const struct fx *f, uint64_t id)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n_calls && i < FX_CALLS; i++)
		n += f->calls[i].id == id;
	return n;
}

static struct netaddr
loopback(int family)
{
	struct netaddr a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(netaddr_parse(&a, family == AF_INET6 ? "::1" : "127.0.0.1"), SVC_OK);
	return a;
}

/* A probe of S: every 50 ms, 1 s to answer, one result moves the state. */
static struct fwd_probe_spec
spec_for(const struct srv *s, enum fwd_probe_kind kind)
{
	struct fwd_probe_spec sp;

	memset(&sp, 0, sizeof(sp));
	sp.kind = kind;
	sp.addr = loopback(s != NULL ? s->family : AF_INET);
	sp.port = s != NULL ? s->port : 0;
	sp.period_ms = 50;
	sp.timeout_ms = 1000;
	sp.success_threshold = 1;
	sp.failure_threshold = 1;
	return sp;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* ---- TCP ----------------------------------------------------------------------------------- */

/* Periods in seconds here, the fields the caller normally gives. */
static void
test_tcp(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec ok, refused;
	struct fwd_probe_stats st;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_TCP, true);
	prober(f, 0);
	ok = spec_for(f->srv[0], FWD_PROBE_TCP);
	ok.period_ms = ok.timeout_ms = 0;
	ok.period_s = ok.timeout_s = 1;
	refused = ok;
	refused.port = closed_port();
	add_ok(f, 1, &ok);
	add_ok(f, 2, &refused);
	assert_int_equal(fwd_probe_state(f->p, 1), 0); /* not ready until proven */
	WAIT(f, fwd_probe_state(f->p, 1) == 1 && stats(f).failures >= 1, 2500);
	assert_int_equal(fwd_probe_state(f->p, 1), 1);
	assert_int_equal(fwd_probe_state(f->p, 2), 0);
	assert_int_equal(f->n_calls, 1);
	assert_int_equal(f->calls[0].id, 1);
	assert_true(f->calls[0].ready);
	st = stats(f);
	assert_true(st.successes >= 1);
	assert_true(st.failures >= 1);
	assert_int_equal(st.timeouts, 0); /* refused is a failure at once, not a timeout */
	assert_int_equal(st.probes, 2);
	assert_int_equal(st.ready, 1);
	/* The connection is closed at once: the server sees it go long before the next period. */
	WAIT(f, f->srv[0]->open == 0, 500);
	assert_true(f->srv[0]->accepted >= 1);
	assert_int_equal(f->srv[0]->open, 0);
	/* By a reset (SO_LINGER 0): no TIME_WAIT left on the prober's side. */
	assert_int_equal(f->srv[0]->resets, f->srv[0]->accepted);
	assert_int_equal(f->srv[0]->eofs, 0);
}

static void
test_tcp_v6(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;

	f->srv[0] = srv_start(f->base, AF_INET6, SRV_TCP, true);
	if (f->srv[0] == NULL) {
		print_message("no ::1 here\n");
		skip();
	}
	prober(f, 0);
	sp = spec_for(f->srv[0], FWD_PROBE_TCP);
	add_ok(f, 6, &sp);
	WAIT(f, f->n_calls >= 1, 1000);
	assert_int_equal(fwd_probe_state(f->p, 6), 1);
	assert_true(f->srv[0]->accepted >= 1);
}

/* ---- HTTP answers ---------------------------------------------------------------------------- */

static void
test_http_codes(void **state)
{
	static const int codes[] = {200, 204, 302, 399, 199, 400, 404, 500, 503};
	struct fx *f = *state;
	size_t n = sizeof(codes) / sizeof(codes[0]);

	f->srv[0] = srv_start(f->base, AF_INET, SRV_PATH, true);
	prober(f, 0);
	for (size_t i = 0; i < n; i++) {
		struct fwd_probe_spec sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
		char path[16];

		snprintf(path, sizeof(path), "/%d", codes[i]);
		sp.path = path; /* copied by add */
		add_ok(f, (uint64_t)codes[i], &sp);
	}
	/* Two attempts each at least. */
	WAIT(f, stats(f).successes + stats(f).failures >= 2 * n, 2000);
	for (size_t i = 0; i < n; i++) {
		bool ok = codes[i] >= 200 && codes[i] < 400; /* redirects not followed: success */

		assert_int_equal(fwd_probe_state(f->p, (uint64_t)codes[i]), ok);
		assert_int_equal(calls_for(f, (uint64_t)codes[i]), ok); /* once, not per attempt */
	}
	assert_int_equal(stats(f).timeouts, 0);
	assert_int_equal(stats(f).ready, 4);
}

/* Ready, then a server that accepts and never answers: timeouts, which fail. */
static void
test_http_timeout(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;
	struct fwd_probe_stats st;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_CODE, true);
	f->srv[0]->code = 200;
	prober(f, 0);
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	sp.timeout_ms = 100;
	sp.failure_threshold = 2;
	add_ok(f, 1, &sp);
	WAIT(f, f->n_calls == 1, 1000);
	assert_int_equal(fwd_probe_state(f->p, 1), 1);
	f->srv[0]->mode = SRV_SILENT;
	WAIT(f, f->n_calls == 2, 2000);
	assert_int_equal(f->n_calls, 2);
	assert_false(f->calls[1].ready);
	st = stats(f);
	assert_true(st.timeouts >= 2);
	assert_int_equal(st.failures, st.timeouts);
	assert_int_equal(fwd_probe_state(f->p, 1), 0);
}

/* A connection that is not made when connect returns (the listener's queue is full, so the SYN
 * is dropped and sent again a second later): the request goes when it is made, and the probe
 * passes within its timeout. */
static void
test_http_late_connect(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;
	struct sockaddr_in a = {.sin_family = AF_INET};
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint64_t t0;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_CODE, false);
	f->srv[0]->code = 200;
	assert_int_equal(listen(f->srv[0]->lfd, 0), 0); /* a queue of one */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(f->srv[0]->port);
	assert_true(filler >= 0);
	assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof(a)), 0); /* fills it */
	prober(f, 0);
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	sp.timeout_ms = 4000;
	sp.period_ms = 50; /* the first run within 50 ms; later ones skip while it runs */
	t0 = mono_ms();
	add_ok(f, 1, &sp);
	WAIT(f, stats(f).in_flight == 1, 1000);
	spin(f->base, 200);
	assert_int_equal(stats(f).in_flight, 1); /* still connecting */
	assert_int_equal(f->srv[0]->requests, 0);
	event_add(&f->srv[0]->acc, NULL); /* the queue drains; the next SYN gets in */
	WAIT(f, f->n_calls == 1, 3500);
	assert_int_equal(f->n_calls, 1);
	assert_true(f->calls[0].ready);
	assert_true(mono_ms() - t0 >= 500);
	assert_int_equal(stats(f).timeouts, 0);
	assert_int_equal(stats(f).failures, 0);
	assert_true(stats(f).skipped > 0);
	close(filler);
}

/* A status line that never ends fails at FWD_PROBE_STATUS_MAX bytes, long before the timeout. */
static void
test_http_endless(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_ENDLESS, true);
	prober(f, 0);
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	sp.timeout_ms = 5000;
	add_ok(f, 1, &sp);
	WAIT(f, stats(f).failures >= 3, 2000);
	assert_true(stats(f).failures >= 3);
	assert_int_equal(stats(f).timeouts, 0);
	assert_int_equal(stats(f).successes, 0);
	assert_int_equal(f->n_calls, 0);
}

/* Status lines as Go's client reads them, and the 1024-byte bound, line end included. */
static void
test_http_status_lines(void **state)
{
	static char fits[FWD_PROBE_STATUS_MAX + 1], over[FWD_PROBE_STATUS_MAX + 2];
	static const char *const raw[] = {
	        "HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.0 204 No Content\r\n", "HTTP/1.1 200\r\n",
	        "HTTP/1.1 301 Moved\n",            /* a bare LF ends a line too */
	        "HTTP/1.1    200 OK\r\n",          /* extra spaces before the code */
	        "HTTP/2.0 200 OK\r\nX: y\r\n\r\n", /* any one-digit version */
	        "HTTP/1.1 200 OK\rstill\r\n",      /* a CR inside the reason */
	        fits,
	        /* Failures from here (index 8 on). */
	        "HTTP/1.1 200 OK", /* closed before the line's end */
	        "",                /* closed at once */
	        "HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1 099 OK\r\n",
	        "HTTP/1.1 200x\r\n", "HTTP/1.1 200\rX\r\n", "HTTP/11 200 OK\r\n",
	        "http/1.1 200 OK\r\n", "HTTP/1.1\t200 OK\r\n", "HTTP/1.1 \r\n", "ICY 200 OK\r\n",
	        "HTTP/1.10 200 OK\r\n", over};
	const size_t n = sizeof(raw) / sizeof(raw[0]), n_ok = 8;
	struct fx *f = *state;

	/* 1024 bytes with the CRLF; then one more. */
	memset(fits, 'x', sizeof(fits) - 1);
	memcpy(fits, "HTTP/1.1 200 ", 13);
	memcpy(fits + FWD_PROBE_STATUS_MAX - 2, "\r\n", 3);
	assert_int_equal(strlen(fits), FWD_PROBE_STATUS_MAX);
	memset(over, 'x', sizeof(over) - 1);
	memcpy(over, "HTTP/1.1 200 ", 13);
	memcpy(over + FWD_PROBE_STATUS_MAX - 1, "\r\n", 3);
	assert_int_equal(strlen(over), FWD_PROBE_STATUS_MAX + 1);

	f->srv[0] = srv_start(f->base, AF_INET, SRV_RAW, true);
	f->srv[0]->raw = raw;
	f->srv[0]->n_raw = n;
	prober(f, 0);
	for (size_t i = 0; i < n; i++) {
		struct fwd_probe_spec sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
		char path[16];

		snprintf(path, sizeof(path), "/%zu", i);
		sp.path = path;
		add_ok(f, i, &sp);
	}
	WAIT(f, stats(f).successes + stats(f).failures >= 2 * n, 3000);
	for (size_t i = 0; i < n; i++) {
		if (fwd_probe_state(f->p, i) != (i < n_ok))
			print_error("answer %zu: \"%.40s\"\n", i, raw[i]);
		assert_int_equal(fwd_probe_state(f->p, i), i < n_ok);
	}
	assert_int_equal(stats(f).timeouts, 0);
}

/* ---- the request ----------------------------------------------------------------------------- */

/* Probe ID with SP until the server has one request more; its head is then in srv->last. */
static void
one_request(struct fx *f, struct srv *s, uint64_t id, const struct fwd_probe_spec *sp)
{
	unsigned before = s->requests;

	add_ok(f, id, sp);
	WAIT(f, s->requests > before, 1000);
	assert_true(s->requests > before);
	rm(f, id);
}

static void
test_http_headers(void **state)
{
	static const struct fwd_probe_header custom[] = {
	        {"Host", "example.com"},  {"X-Probe", "yes"},           {"user-agent", "custom/1"},
	        {"X-Probe", "twice"},     {"Connection", "keep-alive"}, {"Content-Length", "5"},
	        {"Host", "ignored.test"},
	};
	static const struct fwd_probe_header no_accept[] = {{"Accept", ""}};
	static const struct fwd_probe_header accept[] = {{"accept", "application/json"}};
	struct fx *f = *state;
	struct fwd_probe_spec sp;
	struct srv *s, *s6;
	char want[128];

	s = f->srv[0] = srv_start(f->base, AF_INET, SRV_CODE, true);
	s->code = 200;
	prober(f, 0);

	/* The defaults. */
	sp = spec_for(s, FWD_PROBE_HTTP);
	one_request(f, s, 1, &sp);
	assert_int_equal(strncmp(s->last, "GET / HTTP/1.1\r\n", 16), 0);
	snprintf(want, sizeof(want), "\r\nHost: 127.0.0.1:%u\r\n", s->port);
	assert_int_equal(count(s->last, want), 1);
	assert_int_equal(count(s->last, "\r\nUser-Agent: kube-probe/1.29\r\n"), 1);
	assert_int_equal(count(s->last, "\r\nAccept: */*\r\n"), 1);
	assert_int_equal(count(s->last, "\r\nConnection: close\r\n"), 1);
	assert_int_equal(count(s->last, "\r\n"), 6); /* 4 headers: nothing else */

	/* The caller's: Host and User-Agent replace the defaults, the first Host wins, repeated
	 * headers all go, Connection and Content-Length do not. */
	sp.path = "/healthz?x=1";
	sp.headers = custom;
	sp.n_headers = sizeof(custom) / sizeof(custom[0]);
	one_request(f, s, 2, &sp);
	assert_int_equal(strncmp(s->last, "GET /healthz?x=1 HTTP/1.1\r\n", 27), 0);
	assert_int_equal(count(s->last, "\r\nHost: "), 1);
	assert_int_equal(count(s->last, "\r\nHost: example.com\r\n"), 1);
	assert_int_equal(count(s->last, "\r\nUser-Agent: "), 1);
	assert_int_equal(count(s->last, "\r\nUser-Agent: custom/1\r\n"), 1);
	assert_int_equal(count(s->last, "\r\nX-Probe: yes\r\n"), 1);
	assert_int_equal(count(s->last, "\r\nX-Probe: twice\r\n"), 1);
	assert_int_equal(count(s->last, "\r\nConnection: "), 1);
	assert_int_equal(count(s->last, "\r\nConnection: close\r\n"), 1);
	assert_int_equal(count(s->last, "Content-Length"), 0);
	assert_int_equal(count(s->last, "\r\nAccept: */*\r\n"), 1);

	/* A host of the caller's gets the port; the path gets its "/", loses its fragment and has
	 * its space encoded; an empty Accept sends none. */
	sp = spec_for(s, FWD_PROBE_HTTP);
	sp.host = "svc.example";
	sp.path = "ready now#frag";
	sp.headers = no_accept;
	sp.n_headers = 1;
	one_request(f, s, 3, &sp);
	assert_int_equal(strncmp(s->last, "GET /ready%20now HTTP/1.1\r\n", 27), 0);
	snprintf(want, sizeof(want), "\r\nHost: svc.example:%u\r\n", s->port);
	assert_int_equal(count(s->last, want), 1);
	assert_int_equal(count(s->last, "Accept"), 0);

	/* An Accept of the caller's replaces the default. */
	sp = spec_for(s, FWD_PROBE_HTTP);
	sp.headers = accept;
	sp.n_headers = 1;
	one_request(f, s, 4, &sp);
	assert_int_equal(count(s->last, "\r\nAccept: "), 0);
	assert_int_equal(count(s->last, "\r\naccept: application/json\r\n"), 1);

	/* IPv6: the address in brackets. */
	s6 = f->srv[1] = srv_start(f->base, AF_INET6, SRV_CODE, true);
	if (s6 != NULL) {
		s6->code = 200;
		sp = spec_for(s6, FWD_PROBE_HTTP);
		one_request(f, s6, 5, &sp);
		snprintf(want, sizeof(want), "\r\nHost: [::1]:%u\r\n", s6->port);
		assert_int_equal(count(s6->last, want), 1);
	}
}

static void
test_add_errors(void **state)
{
	static const struct fwd_probe_header bad_name[] = {{"Bad Name", "x"}};
	static const struct fwd_probe_header empty_name[] = {{"", "x"}};
	static const struct fwd_probe_header colon[] = {{"X:", "x"}};
	static const struct fwd_probe_header crlf[] = {{"X-Evil", "a\r\nInjected: 1"}};
	static const struct fwd_probe_header bad_host[] = {{"Host", "a b"}};
	static struct fwd_probe_header big[] = {{"X-Big", NULL}};
	static char value[FWD_PROBE_REQUEST_MAX];
	struct fx *f = *state;
	struct fwd_probe_spec sp, bad;
	struct fwd_prober *p2 = NULL;

	assert_int_equal(
	        fwd_probe_create(f->base, FWD_PROBE_MAX_IN_FLIGHT_LIMIT + 1, on_change, f, &p2),
	        SVC_ERANGE);
	assert_null(p2);
	prober(f, 0);
	sp = spec_for(NULL, FWD_PROBE_HTTP);
	sp.port = 80;
	add_ok(f, 7, &sp);
	assert_int_equal(add(f, 7, &sp), SVC_EEXIST);

	bad = sp;
	bad.port = 0;
	assert_int_equal(add(f, 8, &bad), SVC_EINVAL);
	bad = sp;
	bad.addr.family = NETADDR_NONE;
	assert_int_equal(add(f, 8, &bad), SVC_EINVAL);
	bad = sp;
	bad.kind = (enum fwd_probe_kind)7;
	assert_int_equal(add(f, 8, &bad), SVC_EINVAL);
	bad = sp;
	bad.host = "bad host";
	assert_int_equal(add(f, 8, &bad), SVC_EINVAL);
	bad = sp;
	bad.n_headers = 1;
	assert_int_equal(add(f, 8, &bad), SVC_EINVAL); /* headers NULL */
	bad.headers = bad_name;
	assert_int_equal(add(f, 8, &bad), SVC_EINVAL);
	bad.headers = empty_name;
	assert_int_equal(add(f, 8, &bad), SVC_EINVAL);
	bad.headers = colon;
	assert_int_equal(add(f, 8, &bad), SVC_EINVAL);
	bad.headers = crlf;
	assert_int_equal(add(f, 8, &bad), SVC_EINVAL);
	bad.headers = bad_host;
	assert_int_equal(add(f, 8, &bad), SVC_EINVAL);
	memset(value, 'v', sizeof(value) - 1);
	big[0].value = value;
	bad.headers = big;
	assert_int_equal(add(f, 8, &bad), SVC_ELIMIT);
	/* TCP probes have no request: their HTTP fields are not looked at. */
	bad.kind = FWD_PROBE_TCP;
	add_ok(f, 8, &bad);

	assert_int_equal(fwd_probe_state(f->p, 7), 0);
	assert_int_equal(fwd_probe_state(f->p, 8), 0);
	assert_int_equal(fwd_probe_state(f->p, 9), -1);
	assert_int_equal(stats(f).probes, 2);
	rm(f, 9); /* unknown: nothing */
	rm(f, 7);
	assert_int_equal(fwd_probe_state(f->p, 7), -1);
	assert_int_equal(stats(f).probes, 1);
	add_ok(f, 7, &sp); /* the id is free again */
}

/* ---- timing and counting ----------------------------------------------------------------- */

/* successThreshold 2, failureThreshold 3: a transition only after that many in a row, each
 * reported once, at the attempt that completes the run. */
static void
test_thresholds(void **state)
{
	/* F S F S S | F F S F F F | F ... : ready at request 5, not ready at request 11. */
	static const int script[] = {500, 200, 500, 200, 200, 500, 500, 200, 500, 500, 500};
	struct fx *f = *state;
	struct fwd_probe_spec sp;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_SCRIPT, true);
	f->srv[0]->script = script;
	f->srv[0]->n_script = sizeof(script) / sizeof(script[0]);
	prober(f, 0);
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	sp.period_ms = 30;
	sp.success_threshold = 2;
	sp.failure_threshold = 3;
	add_ok(f, 42, &sp);
	WAIT(f, f->srv[0]->requests >= 16 && stats(f).successes + stats(f).failures >= 16, 3000);
	assert_true(f->srv[0]->requests >= 16);
	assert_int_equal(f->n_calls, 2);
	assert_int_equal(f->calls[0].id, 42);
	assert_true(f->calls[0].ready);
	assert_int_equal(f->calls[0].requests, 5);
	assert_false(f->calls[1].ready);
	assert_int_equal(f->calls[1].requests, 11);
	assert_int_equal(fwd_probe_state(f->p, 42), 0);
	assert_int_equal(stats(f).successes, 4);
}

static void
test_initial_delay(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;
	uint64_t t0;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_CODE, true);
	f->srv[0]->code = 200;
	prober(f, 0);
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	sp.initial_delay_ms = 400;
	t0 = mono_ms();
	add_ok(f, 1, &sp);
	WAIT(f, f->n_calls == 1, 2000);
	assert_int_equal(f->n_calls, 1);
	assert_true(f->srv[0]->first_req_ms >= t0 + 400);
#ifndef SVC_SANITIZED
	/* Within the first period after the delay (plus the loop's slack). */
	assert_true(f->srv[0]->first_req_ms <= t0 + 400 + 50 + 100);
#endif
}

/* 200 probes added at once start spread over their first period, not together. */
static void
test_jitter(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;
	uint64_t after_250ms;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_TCP, true);
	prober(f, 0);
	sp = spec_for(f->srv[0], FWD_PROBE_TCP);
	sp.period_ms = 1000;
	for (uint64_t id = 0; id < 200; id++)
		add_ok(f, id, &sp);
	assert_int_equal(stats(f).attempts, 0); /* nothing from inside add */
	spin(f->base, 250);
	after_250ms = stats(f).attempts;
	WAIT(f, stats(f).successes >= 200, 1500);
	/* About 40 expected after 250 ms (the first of five 200 ms slots); all together would be
	 * 200. */
	assert_true(after_250ms >= 1);
	assert_true(after_250ms < 120);
	assert_true(stats(f).successes >= 200);
	assert_int_equal(stats(f).ready, 200);
	assert_int_equal(f->n_calls, 200);
}

/* ---- removal ------------------------------------------------------------------------------- */

static void
test_remove(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;
	struct srv *silent;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_CODE, true);
	f->srv[0]->code = 200;
	silent = f->srv[1] = srv_start(f->base, AF_INET, SRV_SILENT, true);
	prober(f, 0);

	/* Before its first run: no attempt, no callback. */
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	add_ok(f, 1, &sp);
	rm(f, 1);
	spin(f->base, 150);
	assert_int_equal(f->srv[0]->accepted, 0);
	assert_int_equal(f->n_calls, 0);

	/* In flight: its socket closes at once, its slot frees, nothing is reported. */
	sp = spec_for(silent, FWD_PROBE_HTTP);
	sp.timeout_ms = 5000;
	add_ok(f, 2, &sp);
	WAIT(f, silent->requests == 1, 1000);
	assert_int_equal(stats(f).in_flight, 1);
	rm(f, 2);
	assert_int_equal(stats(f).in_flight, 0);
	WAIT(f, silent->open == 0, 500);
	assert_int_equal(silent->open, 0);
	spin(f->base, 100);
	assert_int_equal(f->n_calls, 0);
	assert_int_equal(stats(f).probes, 0);
}

/* The callback removes its own probe and another: no use of either afterwards (ASan). */
static void
test_remove_from_callback(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_CODE, true);
	f->srv[0]->code = 200;
	prober(f, 0);
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	add_ok(f, 1, &sp);
	add_ok(f, 2, &sp);
	f->remove_ids[0] = 1;
	f->remove_ids[1] = 2;
	f->n_remove = 2;
	WAIT(f, f->n_calls >= 1, 1000);
	spin(f->base, 200);
	assert_int_equal(f->n_calls, 1);
	assert_int_equal(stats(f).probes, 0);
	assert_int_equal(stats(f).in_flight, 0);
	assert_int_equal(stats(f).ready, 0);
}

/* With one slot: the second probe waits; removing it empties the queue, removing the first
 * frees the slot. */
static void
test_remove_queued(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_SILENT, true);
	prober(f, 1);
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	sp.timeout_ms = 5000;
	add_ok(f, 1, &sp);
	add_ok(f, 2, &sp);
	WAIT(f, stats(f).queued == 1, 1000);
	assert_int_equal(stats(f).in_flight, 1);
	assert_int_equal(stats(f).queued, 1);
	spin(f->base, 120); /* periods pass: skipped, never queued twice */
	assert_int_equal(stats(f).queued, 1);
	assert_true(stats(f).skipped >= 2);
	assert_int_equal(f->srv[0]->requests, 1);
	rm(f, 2); /* the queued one first: it leaves the queue and never runs */
	assert_int_equal(stats(f).queued, 0);
	assert_int_equal(stats(f).in_flight, 1);
	rm(f, 1);
	assert_int_equal(stats(f).in_flight, 0);
	spin(f->base, 100);
	assert_int_equal(f->srv[0]->requests, 1);
	assert_int_equal(f->srv[0]->open, 0);
}

/* Sockets outlive attempts: one slot, an HTTP probe on IPv4, a TCP probe on IPv4 and one on
 * IPv6 (when ::1 is here), every 20 ms. Each attempt is a connection of its own (the servers
 * accept one per attempt), never more sockets than slots, and none left once nothing is
 * probed. */
static void
test_socket_reuse(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;
	struct fwd_probe_stats st;
	int base_fds;
	bool kept = false; /* seen: no attempt in flight, its socket still open */
	uint64_t t0;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_CODE, true);
	f->srv[0]->code = 200;
	f->srv[1] = srv_start(f->base, AF_INET, SRV_TCP, true);
	f->srv[2] = srv_start(f->base, AF_INET6, SRV_TCP, true);
	base_fds = fd_count();
	prober(f, 1);
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	sp.period_ms = 20;
	add_ok(f, 1, &sp);
	sp = spec_for(f->srv[1], FWD_PROBE_TCP);
	sp.period_ms = 20;
	add_ok(f, 2, &sp);
	if (f->srv[2] != NULL) {
		sp = spec_for(f->srv[2], FWD_PROBE_TCP);
		sp.period_ms = 20;
		add_ok(f, 3, &sp);
	}
	t0 = mono_ms();
	while (mono_ms() - t0 < 400) {
		spin(f->base, 1);
		st = stats(f);
		assert_true(st.sockets <= 1);
		kept |= st.in_flight == 0 && st.sockets == 1;
	}
	assert_true(kept);
	st = stats(f);
	assert_int_equal(st.ready, f->srv[2] != NULL ? 3 : 2);
	assert_int_equal(st.failures, 0);
	assert_true(f->srv[0]->requests >= 5);
	assert_true(f->srv[1]->accepted >= 5);
	assert_true(f->srv[0]->accepted >= f->srv[0]->requests);
	assert_true(st.successes >= f->srv[0]->requests + f->srv[1]->accepted);
	rm(f, 1);
	rm(f, 2);
	assert_true(stats(f).sockets <= 1);
	rm(f, 3);
	assert_int_equal(stats(f).sockets, 0);
	spin(f->base, 50);
	assert_int_equal(fd_count(), base_fds); /* the servers saw the resets and closed */
}

/* ---- bounds -------------------------------------------------------------------------------- */

/* 50 probes, 4 slots, a server that never answers: never more than 4 sockets, the rest queue,
 * and each queued attempt gets its whole timeout once started. */
static void
test_in_flight_bound(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;
	int base_fds, max_fds = 0;
	size_t max_in_flight = 0, max_queued = 0;
	uint64_t t0, t_done;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_SILENT, false);
	prober(f, 4);
	base_fds = fd_count();
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	sp.timeout_ms = 100;
	t0 = mono_ms();
	for (uint64_t id = 0; id < 50; id++)
		add_ok(f, id, &sp);
	/* A probe is never queued twice and the queue is first in, first out, so the first 50
	 * timeouts are one of each probe. */
	while (stats(f).timeouts < 50 && mono_ms() - t0 < 4000) {
		struct fwd_probe_stats st;
		int fds;

		spin(f->base, 1);
		st = stats(f);
		fds = fd_count() - base_fds;
		max_fds = fds > max_fds ? fds : max_fds;
		max_in_flight = st.in_flight > max_in_flight ? st.in_flight : max_in_flight;
		max_queued = st.queued > max_queued ? st.queued : max_queued;
	}
	t_done = mono_ms();
	assert_true(stats(f).timeouts >= 50);
	assert_true(max_fds <= 4);
	assert_int_equal(max_in_flight, 4);
	assert_true(max_fds >= 1);
	assert_true(max_queued >= 40);
	/* 50 attempts of 100 ms through 4 slots: 13 rounds; timeouts counted from the queue
	 * would end most of them at once. */
	assert_true(t_done - t0 >= 1100);
	assert_int_equal(f->n_calls, 0);
}

/* Out of descriptors: attempts fail (socket() gets EMFILE), nothing breaks, and probes recover
 * once descriptors are back. */
static void
test_emfile(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;
	struct rlimit old, low;
	int hold[256], n_hold = 0, fd;

	/* Accepting: while descriptors lack, no probe connects, so the server never tries. */
	f->srv[0] = srv_start(f->base, AF_INET, SRV_TCP, true);
	prober(f, 0);
	sp = spec_for(f->srv[0], FWD_PROBE_TCP);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)fd_max() + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* Fill the holes below the limit: then no new descriptor at all. */
	while (n_hold < 256 && (fd = dup(0)) >= 0)
		hold[n_hold++] = fd;
	assert_true(n_hold < 256);
	for (uint64_t id = 0; id < 10; id++)
		add_ok(f, id, &sp);
	WAIT(f, stats(f).failures >= 20, 1000);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (int i = 0; i < n_hold; i++)
		close(hold[i]);
	assert_true(stats(f).failures >= 20);
	assert_int_equal(stats(f).successes, 0);
	assert_int_equal(stats(f).timeouts, 0);
	assert_int_equal(stats(f).ready, 0);
	WAIT(f, stats(f).ready == 10, 1000);
	assert_int_equal(stats(f).ready, 10);
	assert_int_equal(f->n_calls, 10);
}

/* Destroy with every slot busy and attempts queued: every socket closed, no callback, and
 * (under ASan) nothing leaked. */
static void
test_destroy_in_flight(void **state)
{
	struct fx *f = *state;
	struct fwd_probe_spec sp;
	int base_fds;

	f->srv[0] = srv_start(f->base, AF_INET, SRV_SILENT, true);
	base_fds = fd_count();
	prober(f, 8);
	sp = spec_for(f->srv[0], FWD_PROBE_HTTP);
	sp.timeout_ms = 5000;
	for (uint64_t id = 0; id < 20; id++)
		add_ok(f, id, &sp);
	WAIT(f, stats(f).queued == 12 && f->srv[0]->requests == 8, 1000);
	assert_int_equal(stats(f).in_flight, 8);
	assert_int_equal(stats(f).queued, 12);
	assert_int_equal(fd_count() - base_fds, 16); /* both ends of 8 connections */
	fwd_probe_destroy(f->p);
	f->p = NULL;
	assert_int_equal(fd_count() - base_fds, 8); /* the server's ends, until it sees the RSTs */
	WAIT(f, f->srv[0]->open == 0, 500);
	assert_int_equal(fd_count(), base_fds);
	spin(f->base, 100);
	assert_int_equal(f->n_calls, 0);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_tcp),
	        T(test_tcp_v6),
	        T(test_http_codes),
	        T(test_http_timeout),
	        T(test_http_late_connect),
	        T(test_http_endless),
	        T(test_http_status_lines),
	        T(test_http_headers),
	        T(test_add_errors),
	        T(test_thresholds),
	        T(test_initial_delay),
	        T(test_jitter),
	        T(test_remove),
	        T(test_remove_from_callback),
	        T(test_remove_queued),
	        T(test_socket_reuse),
	        T(test_in_flight_bound),
	        T(test_emfile),
	        T(test_destroy_in_flight),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
