/* httpd.c -- the bounded HTTP/1.x server: connections on bufferevents, a deadline timer each,
 * the oldest closed when a new one would pass the cap. */
#include "httpd.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "daemon.h"
#include "lru.h"
#include "vec.h"

#define HTTPD_BACKLOG  128
#define HTTPD_PAUSE_MS 100 /* without accepting after accept() failed (out of descriptors) */

struct httpd {
	struct event_base *base;
	struct httpd_limits lim;
	httpd_handler_fn fn;
	void *arg;
	struct evconnlistener **listeners;
	size_t n_listeners, cap_listeners;
	struct event resume; /* accepting again after a pause */
	struct lru conns;    /* oldest first */
	size_t committed;    /* bytes of responses queued on connections still open */
};

struct httpd_conn {
	struct lru_node lru; /* in the server's conns */
	struct httpd *h;
	struct bufferevent *bev;
	struct event deadline;
	size_t scanned;   /* bytes of the head seen to hold no blank line */
	size_t committed; /* its response's bytes, counted in the server's */
	bool replied;
};

/* ---- parsing ------------------------------------------------------------------------------- */

/* The text at P (N bytes) split into lines ending in LF, a CR before it dropped. */
struct lines {
	const char *p;
	size_t n, off;
};

static bool
next_line(struct lines *ls, const char **line, size_t *len)
{
	const char *nl;
	size_t end;

	if (ls->off >= ls->n)
		return false;
	nl = memchr(ls->p + ls->off, '\n', ls->n - ls->off);
	end = nl != NULL ? (size_t)(nl - ls->p) : ls->n;
	*line = ls->p + ls->off;
	*len = end - ls->off;
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	ls->off = nl != NULL ? end + 1 : ls->n;
	return true;
}

/* RFC 9110 tchar: what a method or a field name is made of. */
static bool
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
all_tchar(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_tchar((unsigned char)s[i]))
			return false;
	}
	return n > 0;
}

/* Visible characters and, in field values, spaces and tabs. */
static bool
all_text(const char *s, size_t n, bool blanks)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0x7f || (c < 0x21 && !(blanks && (c == ' ' || c == '\t'))))
			return false;
	}
	return true;
}

static bool
ieq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* A header line NAME: VALUE; sets *BODY when it announces a body. 0 or 400. */
static int
parse_field(const char *line, size_t len, bool *body)
{
	const char *colon = memchr(line, ':', len);
	const char *v;
	size_t vlen;

	/* No name, a space before the colon, or a folded continuation line (RFC 9112 5.2). */
	if (colon == NULL || !all_tchar(line, (size_t)(colon - line)))
		return 400;
	v = colon + 1;
	vlen = len - (size_t)(v - line);
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (!all_text(v, vlen, true))
		return 400;
	if (ieq(line, (size_t)(colon - line), "content-length")) {
		if (vlen == 0)
			return 400;
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return 400;
			if (v[i] != '0')
				*body = true;
		}
	} else if (ieq(line, (size_t)(colon - line), "transfer-encoding")) {
		*body = true;
	}
	return 0;
}

int
httpd_parse(const char *p, size_t n, struct httpd_request *req)
{
	struct lines ls = {.p = p, .n = n, .off = 0};
	const char *line, *sp1, *sp2, *target, *version;
	size_t len, mlen, tlen, vlen;
	bool body = false, get, head;
	int st;

	memset(req, 0, sizeof(*req));
	/* METHOD SP TARGET SP VERSION (RFC 9112 3). */
	if (!next_line(&ls, &line, &len))
		return 400;
	sp1 = memchr(line, ' ', len);
	if (sp1 == NULL)
		return 400;
	mlen = (size_t)(sp1 - line);
	target = sp1 + 1;
	sp2 = memchr(target, ' ', len - (size_t)(target - line));
	if (sp2 == NULL)
		return 400;
	tlen = (size_t)(sp2 - target);
	version = sp2 + 1;
	vlen = len - (size_t)(version - line);
	if (!all_tchar(line, mlen) || tlen == 0 || target[0] != '/' ||
	    !all_text(target, tlen, false) || !all_text(version, vlen, false))
		return 400;
	if (!(vlen == 8 &&
	      (memcmp(version, "HTTP/1.0", 8) == 0 || memcmp(version, "HTTP/1.1", 8) == 0)))
		return vlen >= 5 && memcmp(version, "HTTP/", 5) == 0 ? 505 : 400;
	while (next_line(&ls, &line, &len) && len > 0) {
		st = parse_field(line, len, &body);
		if (st != 0)
			return st;
	}
	/* A body is refused before it is read, whatever the method. */
	if (body)
		return 413;
	get = mlen == 3 && memcmp(p, "GET", 3) == 0;
	head = mlen == 4 && memcmp(p, "HEAD", 4) == 0;
	if (!get && !head)
		return 405;
	req->head = head;
	req->path = target;
	req->path_len = tlen;
	for (size_t i = 0; i < tlen; i++) {
		if (target[i] == '?' || target[i] == '#') {
			req->path_len = i;
			break;
		}
	}
	return 0;
}

/* ---- connections --------------------------------------------------------------------------- */

static const char *
reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

static void
conn_close(struct httpd_conn *c)
{
	lru_remove(&c->h->conns, &c->lru);
	c->h->committed -= c->committed;
	event_del(&c->deadline);
	bufferevent_free(c->bev); /* and its socket */
	free(c);
}

static void
set_deadline(struct httpd_conn *c, uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(&c->deadline, &tv);
}

/* Queue the whole response and stop reading: the connection closes once it is written. BODY
 * may be NULL (no body); HEAD sends only its length. */
static void
respond(struct httpd_conn *c, int code, const char *content_type, struct evbuffer *body, bool head)
{
	static const char busy[] = "too many responses waiting to be read\n";
	struct httpd *h = c->h;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t blen = body != NULL ? evbuffer_get_length(body) : 0;
	size_t before = evbuffer_get_length(out);
	bool refuse = false;

	/* Responses that clients do not take must not pile up. */
	if (!head && blen > 0 && h->committed + blen > h->lim.max_output) {
		refuse = true;
		code = 503;
		content_type = "text/plain; charset=utf-8";
		blen = sizeof(busy) - 1;
	}
	c->replied = true;
	bufferevent_disable(c->bev, EV_READ);
	evbuffer_add_printf(out,
	                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
	                    "Connection: close\r\n\r\n",
	                    code, reason(code), content_type, blen,
	                    code == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (refuse)
		evbuffer_add(out, busy, blen);
	else if (body != NULL && !head)
		evbuffer_add_buffer(out, body);
	c->committed = evbuffer_get_length(out) - before;
	h->committed += c->committed;
	/* It has made its request: a scraper being answered is not the oldest idle socket. */
	lru_touch(&h->conns, &c->lru);
	set_deadline(c, h->lim.write_ms);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_enable(c->bev, EV_WRITE);
}

static void
respond_error(struct httpd_conn *c, int code)
{
	struct evbuffer *b = evbuffer_new();

	if (b != NULL)
		evbuffer_add_printf(b, "%s\n", reason(code));
	respond(c, code, "text/plain; charset=utf-8", b, false);
	if (b != NULL)
		evbuffer_free(b);
}

/* The head is complete in its first END bytes. */
static void
handle(struct httpd_conn *c, size_t end)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)end);
	struct httpd_request req;
	struct httpd_reply r = {.code = 200, .content_type = "text/plain; charset=utf-8"};
	char *path = NULL;
	int st = p != NULL ? httpd_parse(p, end, &req) : 500;

	if (st == 0) {
		path = strndup(req.path, req.path_len);
		r.body = evbuffer_new();
		if (path == NULL || r.body == NULL)
			st = 500;
	}
	if (st != 0) {
		respond_error(c, st);
		goto done;
	}
	c->h->fn(c->h->arg, path, &r);
	respond(c, r.code, r.content_type, r.body, req.head);
done:
	if (r.body != NULL)
		evbuffer_free(r.body);
	free(path);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct httpd_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);

	if (c->replied)
		return;
	/* Find the blank line that ends the head, looking only at lines not seen before. */
	while (c->scanned < len) {
		struct evbuffer_ptr from, nl;
		char first = 0;
		size_t line;

		if (evbuffer_ptr_set(in, &from, c->scanned, EVBUFFER_PTR_SET) != 0)
			break;
		nl = evbuffer_search(in, "\n", 1, &from);
		if (nl.pos < 0)
			break;
		line = (size_t)nl.pos - c->scanned;
		if (line == 1)
			evbuffer_copyout_from(in, &from, &first, 1);
		if (line == 0 || (line == 1 && first == '\r')) {
			handle(c, (size_t)nl.pos + 1);
			return;
		}
		c->scanned = (size_t)nl.pos + 1;
	}
	/* The read watermark stops reading at the limit: no more will come. */
	if (len >= c->h->lim.max_head)
		respond_error(c, 431);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct httpd_conn *c = arg;

	if (c->replied && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_close(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	/* EOF before a whole request, or an error: nothing more to do. */
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_close(arg);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_close(arg);
}

static void
on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct httpd *h = arg;
	struct httpd_conn *c;
	(void)lis;
	(void)sa;
	(void)len;

	if (h->conns.n >= h->lim.max_conns)
		conn_close(lru_item(h->conns.oldest, struct httpd_conn, lru));
	c = calloc(1, sizeof(*c));
	if (c != NULL)
		c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c == NULL || c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	c->h = h;
	/* Reading stops at the head's limit: nothing beyond it is ever buffered. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, h->lim.max_head);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	evtimer_assign(&c->deadline, h->base, on_deadline, c);
	set_deadline(c, h->lim.head_ms);
	lru_push(&h->conns, &c->lru);
	bufferevent_enable(c->bev, EV_READ);
}

/* accept() failed for want of descriptors or memory: pause rather than spin on the ready
 * socket. */
static void
on_accept_error(struct evconnlistener *lis, void *arg)
{
	struct httpd *h = arg;
	struct timeval tv = {0, HTTPD_PAUSE_MS * 1000};
	int e = EVUTIL_SOCKET_ERROR();
	(void)lis;

	if (e == EINTR || e == EAGAIN || e == ECONNABORTED)
		return;
	log_msg(LL_WARN, "http: accept: %s; pausing for %d ms", strerror(e), HTTPD_PAUSE_MS);
	for (size_t i = 0; i < h->n_listeners; i++)
		evconnlistener_disable(h->listeners[i]);
	evtimer_add(&h->resume, &tv);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;
	(void)fd;
	(void)what;

	for (size_t i = 0; i < h->n_listeners; i++)
		evconnlistener_enable(h->listeners[i]);
}

struct httpd *
httpd_new(struct event_base *base, const struct httpd_limits *limits, httpd_handler_fn fn,
          void *arg)
{
	static const struct httpd_limits defaults = {
	        .max_head = HTTPD_MAX_HEAD,
	        .head_ms = HTTPD_HEAD_MS,
	        .write_ms = HTTPD_WRITE_MS,
	        .max_conns = HTTPD_MAX_CONNS,
	        .max_output = HTTPD_MAX_OUTPUT,
	};
	struct httpd *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->base = base;
	h->lim = limits != NULL ? *limits : defaults;
	if (h->lim.max_conns == 0)
		h->lim.max_conns = 1;
	h->fn = fn;
	h->arg = arg;
	lru_init(&h->conns);
	evtimer_assign(&h->resume, base, on_resume, h);
	return h;
}

enum svc_status
httpd_listen(struct httpd *h, const struct sockaddr *sa, socklen_t len, bool v6only)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	enum svc_status st = SVC_EIO;
	struct evconnlistener *lis;
	int one = 1, e;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (sa->sa_family == AF_INET6 && v6only &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, sa, len) != 0 || listen(fd, HTTPD_BACKLOG) != 0)
		goto done;
	st = SVC_ENOMEM;
	if (vec_reserve(&h->listeners, &h->cap_listeners, h->n_listeners, h->n_listeners + 1,
	                sizeof(*h->listeners), NULL) != SVC_OK)
		goto done;
	/* Backlog 0: the socket is listening already. */
	lis = evconnlistener_new(h->base, on_accept, h,
	                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (lis == NULL)
		goto done;
	evconnlistener_set_error_cb(lis, on_accept_error);
	h->listeners[h->n_listeners++] = lis;
	fd = -1; /* the listener's now */
	st = SVC_OK;
done:
	if (fd >= 0) {
		e = errno;
		close(fd);
		errno = e;
	}
	return st;
}

void
httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	while (h->conns.oldest != NULL)
		conn_close(lru_item(h->conns.oldest, struct httpd_conn, lru));
	for (size_t i = 0; i < h->n_listeners; i++)
		evconnlistener_free(h->listeners[i]);
	free(h->listeners);
	event_del(&h->resume);
	free(h);
}
