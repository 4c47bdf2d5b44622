/* httpd.h -- a small HTTP/1.x server on a daemon's event loop, for status and health endpoints.
 * Everything a client can send is bounded: one request per connection, GET or HEAD, its request
 * line and headers in 8 KiB arriving within 5 s of the accept; a request that announces a body
 * gets 413 and the body is never read; every response is built whole, says "Connection: close"
 * and must be taken within 30 s, and while responses of more than 64 MiB wait to be taken, a
 * new request gets 503; at most 64 connections per server, the oldest closed to make room for
 * a new one (so idle sockets cannot lock out a scraper). (libevent's evhttp bounds none of
 * this: its timeouts restart with every byte and it takes any number of connections.) */
#ifndef HTTPD_H
#define HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "svc_status.h"

struct event_base;
struct evbuffer;

struct httpd_limits {
	size_t max_head;   /* bytes: request line and headers */
	uint64_t head_ms;  /* from accept until the headers are complete */
	uint64_t write_ms; /* from the request until the response is written */
	size_t max_conns;  /* connections at once */
	size_t max_output; /* bytes of responses not yet written, all connections together */
};

#define HTTPD_MAX_HEAD   8192
#define HTTPD_HEAD_MS    5000
#define HTTPD_WRITE_MS   30000
#define HTTPD_MAX_CONNS  64
#define HTTPD_MAX_OUTPUT (64u << 20)

/* A handler's answer: CODE (200 unless set), BODY (empty on entry; the server sends it with
 * its length, or only the length for HEAD), CONTENT_TYPE (a static string). */
struct httpd_reply {
	int code;
	const char *content_type;
	struct evbuffer *body;
};

/* PATH: the request target up to any '?', NUL-terminated, starting with '/'. */
typedef void (*httpd_handler_fn)(void *arg, const char *path, struct httpd_reply *r);

/* A request head, parsed: the method and the path. */
struct httpd_request {
	bool head;        /* HEAD, else GET */
	const char *path; /* into the parsed text: the target up to any '?' or '#' */
	size_t path_len;
};

/* Parse the request head (request line, header lines, blank line; CRLF or LF) of N bytes at P.
 * 0 with REQ filled in, else the status to answer: 400 malformed (bad request line, a target
 * not starting with '/', a header line without a name, folded or with control characters, an
 * invalid Content-Length), 505 not HTTP/1.x, 413 a body announced (Content-Length above 0, or
 * any Transfer-Encoding), 405 a method other than GET and HEAD. */
int httpd_parse(const char *p, size_t n, struct httpd_request *req);

struct httpd;

/* A server that answers with FN(ARG, ...) within LIMITS (NULL: the HTTPD_* defaults above); it
 * listens once httpd_listen is called. NULL when out of memory. */
struct httpd *httpd_new(struct event_base *base, const struct httpd_limits *limits,
                        httpd_handler_fn fn, void *arg);
/* Listen on SA as well; an IPv6 socket takes IPv6 only with V6ONLY, else (as the system
 * decides) IPv4 too. SVC_EIO with errno set when the socket cannot be bound, SVC_ENOMEM. */
enum svc_status httpd_listen(struct httpd *h, const struct sockaddr *sa, socklen_t len,
                             bool v6only);
/* Close the sockets and every connection. NULL is fine. */
void httpd_free(struct httpd *h);

#endif
