/* test_httpd.c -- the bounded HTTP server: its request-head parser (what is served, and the
 * status every malformed or unwanted request gets), and the server itself on loopback sockets
 * with small limits: the deadline, the head size, the connection cap and the output budget.
 * (tests/system/http_limits.sh checks the default limits on the real daemons.) */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"

/* The status for TEXT. */
static int
parse(const char *text)
{
	struct httpd_request r;

	return httpd_parse(text, strlen(text), &r);
}

static void
expect_ok(const char *text, const char *path, bool head)
{
	struct httpd_request r;

	assert_int_equal(httpd_parse(text, strlen(text), &r), 0);
	assert_int_equal(r.path_len, strlen(path));
	assert_memory_equal(r.path, path, r.path_len);
	assert_int_equal(r.head, head);
}

static void
test_served(void **state)
{
	(void)state;
	expect_ok("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", "/metrics", false);
	expect_ok("HEAD /ready HTTP/1.0\r\n\r\n", "/ready", true);
	/* Bare LFs, a query and a fragment, header whitespace, case-insensitive names. */
	expect_ok("GET /metrics?name[]=x HTTP/1.1\nHost:x\n\n", "/metrics", false);
	expect_ok("GET /a#frag HTTP/1.1\r\nUser-Agent: \t curl/7 \t\r\n\r\n", "/a", false);
	expect_ok("GET / HTTP/1.1\r\ncontent-LENGTH: 0\r\n\r\n", "/", false);
	expect_ok("GET / HTTP/1.1\r\nContent-Length: 000\r\n\r\n", "/", false);
	expect_ok("GET /health HTTP/1.1\r\nX-Empty:\r\n\r\n", "/health", false);
}

/* A body announced in any way is refused before it is read, whatever the method. */
static void
test_body_refused(void **state)
{
	(void)state;
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nContent-Length: 314572800\r\n\r\n"), 413);
	assert_int_equal(parse("GET / HTTP/1.1\r\ncontent-length: 1\r\n\r\n"), 413);
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 0001\r\n\r\n"), 413);
	assert_int_equal(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 413);
	assert_int_equal(parse("GET / HTTP/1.1\r\nTRANSFER-ENCODING: identity\r\n\r\n"), 413);
	assert_int_equal(parse("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), 413);
	/* Content-Length that is not a number is malformed, not "no body". */
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 1e9\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n"), 400);
}

static void
test_methods(void **state)
{
	(void)state;
	assert_int_equal(parse("POST /metrics HTTP/1.1\r\n\r\n"), 405);
	assert_int_equal(parse("DELETE / HTTP/1.1\r\n\r\n"), 405);
	assert_int_equal(parse("get / HTTP/1.1\r\n\r\n"), 405); /* methods are case-sensitive */
	assert_int_equal(parse("GETS / HTTP/1.1\r\n\r\n"), 405);
	assert_int_equal(parse("OPTIONS * HTTP/1.1\r\n\r\n"), 400); /* not origin-form */
}

static void
test_malformed(void **state)
{
	(void)state;
	assert_int_equal(parse(""), 400);
	assert_int_equal(parse("\r\n\r\n"), 400);
	assert_int_equal(parse("GET\r\n\r\n"), 400);
	assert_int_equal(parse("GET /\r\n\r\n"), 400);
	assert_int_equal(parse("GET  / HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1 \r\n\r\n"), 400);
	assert_int_equal(parse("GET /a b HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(parse("GET metrics HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(parse("GET http://x/metrics HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(parse("G(T / HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(parse("GET / FTP/1.0\r\n\r\n"), 400);
	assert_int_equal(parse("GET /\x01 HTTP/1.1\r\n\r\n"), 400);
	/* Versions: 1.0 and 1.1 only. */
	assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n"), 505);
	assert_int_equal(parse("GET / HTTP/1.10\r\n\r\n"), 505);
	assert_int_equal(parse("GET / HTTP/0.9\r\n\r\n"), 505);
	/* Header lines: a name, a colon, no folding, no control characters. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\n: value\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nName : x\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n"), 400);
	{
		/* A NUL inside a value (strlen would stop at it: the length is given). */
		static const char text[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
		struct httpd_request r;

		assert_int_equal(httpd_parse(text, sizeof(text) - 1, &r), 400);
	}
	/* A bad header is found even after a refused body: 400 first. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 9\r\nA b\r\n\r\n"), 400);
}

/* Only the N bytes given are read: a head cut anywhere parses without reading past it. */
static void
test_bounds(void **state)
{
	static const char text[] =
	        "GET /metrics HTTP/1.1\r\nHost: example\r\nContent-Length: 0\r\n\r\n";
	(void)state;

	for (size_t n = 0; n < sizeof(text) - 1; n++) {
		/* Exactly N bytes: ASan reports any read past them. */
		char *copy = malloc(n > 0 ? n : 1);
		struct httpd_request r;
		int st;

		assert_non_null(copy);
		memcpy(copy, text, n);
		st = httpd_parse(copy, n, &r);
		assert_true(st == 0 || st == 400 || st == 505);
		if (st == 0)
			assert_true(r.path + r.path_len <= copy + n);
		free(copy);
	}
}

/* ---- the server, on loopback ------------------------------------------------------------- */

struct srv {
	struct event_base *base;
	struct httpd *h;
	uint16_t port;
	size_t big; /* bytes of the answer to /big */
	unsigned calls;
};

static void
handler(void *arg, const char *path, struct httpd_reply *r)
{
	struct srv *s = arg;

	s->calls++;
	if (strcmp(path, "/big") == 0) {
		char block[4096];

		memset(block, 'x', sizeof(block));
		for (size_t n = 0; n < s->big; n += sizeof(block))
			evbuffer_add(r->body, block, sizeof(block));
	} else {
		evbuffer_add_printf(r->body, "path=%s\n", path);
	}
}

static struct srv *
srv_start(const struct httpd_limits *lim)
{
	struct srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->base = event_base_new();
	assert_non_null(s->base);
	s->h = httpd_new(s->base, lim, handler, s);
	assert_non_null(s->h);
	/* A port free a moment ago; another process may take it first, so try a few. */
	for (int i = 0; i < 20 && s->port == 0; i++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		socklen_t len = sizeof(a);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_true(fd >= 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
		close(fd);
		if (httpd_listen(s->h, (struct sockaddr *)&a, sizeof(a), false) == SVC_OK)
			s->port = ntohs(a.sin_port);
	}
	assert_true(s->port != 0);
	return s;
}

static void
srv_stop(struct srv *s)
{
	httpd_free(s->h);
	event_base_free(s->base);
	free(s);
}

/* Run the server's loop for MS milliseconds. */
static void
spin(struct srv *s, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(s->base, &tv);
	event_base_dispatch(s->base);
}

/* A connected, non-blocking client; RCVBUF > 0 keeps its receive window that small. */
static int
client(struct srv *s, int rcvbuf)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(s->port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The kernel completes the handshake from the backlog: no need for the loop yet. */
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

static void
say(int fd, const char *text)
{
	assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* A client's view of the server: what it has received and whether the server closed. */
struct seen {
	char *buf;
	size_t len;
	bool eof;
};

/* Take what FD has now, keeping the first CAP bytes. */
static void
take(int fd, struct seen *w, size_t cap)
{
	char tmp[65536];

	if (w->buf == NULL) {
		w->buf = calloc(1, cap + 1);
		assert_non_null(w->buf);
	}
	while (!w->eof) {
		ssize_t n = recv(fd, tmp, sizeof(tmp), 0);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			w->eof = true; /* EOF, or reset: closed either way */
			break;
		}
		if (w->len < cap)
			memcpy(w->buf + w->len, tmp,
			       (size_t)n < cap - w->len ? (size_t)n : cap - w->len);
		w->len += (size_t)n;
	}
}

/* Spin and take until every client in FDS has been closed, for up to MS. */
static void
take_all(struct srv *s, const int *fds, struct seen *w, size_t n, size_t cap, int ms)
{
	for (int t = 0; t < ms; t += 10) {
		bool all = true;

		spin(s, 10);
		for (size_t i = 0; i < n; i++) {
			take(fds[i], &w[i], cap);
			all = all && w[i].eof;
		}
		if (all)
			return;
	}
}

static void
test_server_basic(void **state)
{
	struct srv *s = srv_start(NULL);
	int fd = client(s, 0), fd2 = client(s, 0);
	struct seen w[2] = {{0}};
	int fds[2] = {fd, fd2};
	(void)state;

	say(fd, "GET /x?y=1 HTTP/1.1\r\nHost: t\r\n\r\n");
	say(fd2, "HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n");
	take_all(s, fds, w, 2, 4096, 2000);
	assert_true(w[0].eof);
	assert_non_null(strstr(w[0].buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(w[0].buf, "\r\nContent-Length: 8\r\n"));
	assert_non_null(strstr(w[0].buf, "\r\nConnection: close\r\n"));
	assert_non_null(strstr(w[0].buf, "\r\n\r\npath=/x\n"));
	/* HEAD: the length of the body, without it. */
	assert_true(w[1].eof);
	assert_non_null(strstr(w[1].buf, "\r\nContent-Length: 8\r\n"));
	assert_int_equal(strlen(strstr(w[1].buf, "\r\n\r\n")), 4);
	assert_int_equal(s->calls, 2);
	close(fd);
	close(fd2);
	free(w[0].buf);
	free(w[1].buf);
	srv_stop(s);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The deadline runs from the accept: a byte now and then does not restart it. */
static void
test_server_deadline(void **state)
{
	struct httpd_limits lim = {.max_head = 8192,
	                           .head_ms = 300,
	                           .write_ms = 1000,
	                           .max_conns = 8,
	                           .max_output = 1 << 20};
	struct srv *s = srv_start(&lim);
	uint64_t t0 = mono_ms();
	int fd = client(s, 0);
	struct seen w = {0};
	(void)state;

	say(fd, "GET / HTTP/1.1\r\n");
	/* A byte every 50 ms, for up to 3 s. */
	while (!w.eof && mono_ms() - t0 < 3000) {
		spin(s, 50);
		take(fd, &w, 4096);
		if (!w.eof && send(fd, "X", 1, MSG_NOSIGNAL) != 1)
			w.eof = true;
	}
	assert_true(w.eof);
	assert_int_equal(w.len, 0);
	/* Timers do not fire early: not closed before the deadline. */
	assert_true(mono_ms() - t0 >= 300);
	assert_int_equal(s->calls, 0);
	close(fd);
	free(w.buf);
	srv_stop(s);
}

/* Heads up to the limit are served; beyond it 431, with nothing more read. */
static void
test_server_head_limit(void **state)
{
	struct httpd_limits lim = {.max_head = 1024,
	                           .head_ms = 2000,
	                           .write_ms = 2000,
	                           .max_conns = 8,
	                           .max_output = 1 << 20};
	struct srv *s = srv_start(&lim);
	int fds[2] = {client(s, 0), client(s, 0)};
	struct seen w[2] = {{0}};
	char head[2048];
	(void)state;

	/* 1024 bytes exactly, the blank line included. */
	snprintf(head, sizeof(head), "GET /ok HTTP/1.1\r\nX: %0*d\r\n\r\n", 1024 - 25, 0);
	assert_int_equal(strlen(head), 1024);
	say(fds[0], head);
	snprintf(head, sizeof(head), "GET /no HTTP/1.1\r\nX: %0*d\r\n\r\n", 1025 - 25, 0);
	say(fds[1], head);
	take_all(s, fds, w, 2, 4096, 2000);
	assert_non_null(strstr(w[0].buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(w[1].buf, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
	assert_int_equal(s->calls, 1);
	close(fds[0]);
	close(fds[1]);
	free(w[0].buf);
	free(w[1].buf);
	srv_stop(s);
}

/* At the cap a new connection closes the oldest; one that has made its request counts as new. */
static void
test_server_cap(void **state)
{
	struct httpd_limits lim = {.max_head = 8192,
	                           .head_ms = 5000,
	                           .write_ms = 5000,
	                           .max_conns = 4,
	                           .max_output = 1 << 20};
	struct srv *s = srv_start(&lim);
	int idle[6], fd;
	struct seen w[6] = {{0}}, r = {0};
	(void)state;

	for (int i = 0; i < 6; i++) {
		idle[i] = client(s, 0);
		spin(s, 20); /* accepted in this order */
	}
	for (int i = 0; i < 6; i++)
		take(idle[i], &w[i], 16);
	for (int i = 0; i < 6; i++)
		assert_int_equal(w[i].eof, i < 2);
	/* A scraper still gets in, and the oldest idle one makes room. */
	fd = client(s, 0);
	say(fd, "GET /metrics HTTP/1.1\r\n\r\n");
	take_all(s, &fd, &r, 1, 4096, 2000);
	assert_non_null(strstr(r.buf, "HTTP/1.1 200 OK\r\n"));
	for (int i = 0; i < 6; i++) {
		take(idle[i], &w[i], 16);
		assert_int_equal(w[i].eof, i < 3);
		close(idle[i]);
		free(w[i].buf);
	}
	close(fd);
	free(r.buf);
	srv_stop(s);
}

/* Responses nobody reads count against the budget until written: past it, 503; once they are
 * taken, the budget is free again. */
static void
test_server_output_budget(void **state)
{
	enum { BIG = 8 << 20 };
	struct httpd_limits lim = {.max_head = 8192,
	                           .head_ms = 5000,
	                           .write_ms = 10000,
	                           .max_conns = 8,
	                           .max_output = 2 * BIG + (64 << 10)};
	struct srv *s = srv_start(&lim);
	int fds[4];
	struct seen w[4] = {{0}};
	(void)state;

	s->big = BIG;
	for (int i = 0; i < 3; i++) {
		/* A small window: an 8 MiB answer cannot be all written while it does not read. */
		fds[i] = client(s, 4096);
		say(fds[i], "GET /big HTTP/1.1\r\n\r\n");
		spin(s, 50);
	}
	take_all(s, fds, w, 3, 256, 10000);
	for (int i = 0; i < 3; i++)
		assert_true(w[i].eof);
	assert_non_null(strstr(w[0].buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(w[1].buf, "HTTP/1.1 200 OK\r\n"));
	assert_true(w[0].len > BIG && w[1].len > BIG);
	assert_non_null(strstr(w[2].buf, "HTTP/1.1 503 Service Unavailable\r\n"));
	assert_true(w[2].len < 1024);
	/* All taken: room again. */
	fds[3] = client(s, 0);
	say(fds[3], "GET /big HTTP/1.1\r\n\r\n");
	take_all(s, &fds[3], &w[3], 1, 256, 10000);
	assert_non_null(strstr(w[3].buf, "HTTP/1.1 200 OK\r\n"));
	for (int i = 0; i < 4; i++) {
		close(fds[i]);
		free(w[i].buf);
	}
	srv_stop(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_served),          cmocka_unit_test(test_body_refused),
	        cmocka_unit_test(test_methods),         cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_bounds),          cmocka_unit_test(test_server_basic),
	        cmocka_unit_test(test_server_deadline), cmocka_unit_test(test_server_head_limit),
	        cmocka_unit_test(test_server_cap),      cmocka_unit_test(test_server_output_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
