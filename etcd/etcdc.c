/* etcdc.c -- etcd v3 over its JSON gateway (etcdc.h). */
#include "etcdc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "etcdjson.h"
#include "lru.h"

/* Room for "TLS with HOST:PORT: ...". */
#define TLS_WHY_LEN 400

struct call;
struct conn;

struct endpoint {
	char host[256];
	uint16_t port;
	bool tls;
	struct conn *conn;   /* open, or opening; NULL: the next call opens one */
	struct call *active; /* the call on CONN: one at a time, as evhttp does on a connection */
	struct lru queue;    /* calls waiting for it, oldest first */
};

/* One TCP connection to a member, on a bufferevent of its own (with an SSL of its own for
 * https). evhttp reconnects a connection that closed on the same bufferevent, so the same SSL:
 * a conn is never reconnected. Once its TCP connection is over (failed, closed by the member)
 * it is retired, and the next call opens another. */
struct conn {
	struct etcdc *c;
	struct endpoint *ep; /* NULL: a watch's */
	struct evhttp_connection *evcon;
	struct bufferevent *bev; /* evcon's, freed with it (and its SSL) */
	long verify_err;         /* the first check of the member's certificate that failed */
	bool handshaken;         /* TLS: the handshake completed */
	bool answered;           /* a response came on it */
	bool closed;
	struct lru_node node; /* in the client's retired conns */
};

struct call {
	struct etcdc *c;
	struct lru_node node;    /* in the client's calls in flight (the order unused) */
	struct lru_node wait;    /* in QUEUED's queue */
	struct endpoint *queued; /* the endpoint it waits for, or NULL */
	struct endpoint *at;     /* the endpoint it is on, or NULL */
	char *path;
	char *body; /* the request, kept to try the next endpoint */
	size_t len;
	size_t tries;
	char tls_why[TLS_WHY_LEN]; /* the last TLS failure on the way, for the end's WHY */
	etcdc_cb cb;
	etcdc_raw_cb raw; /* instead of CB */
	void *arg;
};

struct etcdc {
	struct event_base *base;
	SSL_CTX *ssl; /* NULL: neither https members nor TLS files */
	struct endpoint ep[ETCDC_MAX_ENDPOINTS];
	size_t n_ep;
	size_t next; /* the endpoint the next call starts on: the last that answered */
	struct lru calls;
	struct lru retired; /* conns to free once out of evhttp's callbacks */
	struct lru dying;   /* watches cancelled or ended, to free from the loop */
	struct event *tick; /* frees RETIRED, starts calls waiting for an endpoint now free */
};

static void __attribute__((format(printf, 3, 4)))
say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* "http://host:port" or "https://host:port" into E. */
static bool
parse_url(const char *url, size_t len, struct endpoint *e)
{
	const char *p = url, *end = url + len, *colon;
	char port[8];
	long v;
	char *stop;

	e->tls = len > 8 && strncmp(p, "https://", 8) == 0;
	if (e->tls)
		p += 8;
	else if (len > 7 && strncmp(p, "http://", 7) == 0)
		p += 7;
	else
		return false;
	if (end > p && end[-1] == '/')
		end--;
	colon = end;
	while (colon > p && colon[-1] != ':')
		colon--;
	if (colon <= p + 1 || (size_t)(colon - 1 - p) >= sizeof(e->host) ||
	    (size_t)(end - colon) >= sizeof(port) || end == colon)
		return false;
	memcpy(e->host, p, (size_t)(colon - 1 - p));
	e->host[colon - 1 - p] = '\0';
	memcpy(port, colon, (size_t)(end - colon));
	port[end - colon] = '\0';
	errno = 0;
	v = strtol(port, &stop, 10);
	if (*stop != '\0' || errno != 0 || v < 1 || v > 65535)
		return false;
	e->port = (uint16_t)v;
	return true;
}

/* ---- TLS ---- */

/* Keeps the first failed check for the conn's WHY: the handshake's own error only says that
 * verification failed, and evhttp clears the SSL (SSL_clear) before the request hears of it. */
static int
on_verify(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct conn *k = ssl != NULL ? SSL_get_app_data(ssl) : NULL;

	if (!ok && k != NULL && k->verify_err == X509_V_OK)
		k->verify_err = X509_STORE_CTX_get_error(store);
	return ok;
}

static void
on_tls_info(const SSL *ssl, int where, int ret)
{
	struct conn *k = SSL_get_app_data(ssl);

	(void)ret;
	if ((where & SSL_CB_HANDSHAKE_DONE) && k != NULL)
		k->handshaken = true;
}

/* An encrypted key would have OpenSSL prompt on the terminal: refuse instead. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* The reason of OpenSSL's oldest error (the cause; later ones say what it broke). */
static const char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *r = ERR_reason_error_string(e);

	/* A file that cannot be opened is a system error, its reason the errno. */
	if (r == NULL && ERR_GET_LIB(e) == ERR_LIB_SYS)
		return strerror(ERR_GET_REASON(e));
	return r != NULL ? r : "unknown error";
}

/* The client's SSL_CTX: TLS 1.2 or later, members verified against CACERT (NULL: the system's
 * store), the client's certificate and key when given. */
static enum svc_status
tls_ctx(const struct etcdc_tls *tls, SSL_CTX **out, char *err, size_t errlen)
{
	const char *cacert = tls ? tls->cacert : NULL, *cert = tls ? tls->cert : NULL,
	           *key = tls ? tls->key : NULL;
	SSL_CTX *ctx = NULL;
	enum svc_status st = SVC_EINVAL;

	*out = NULL;
	if ((cert == NULL) != (key == NULL)) {
		say(err, errlen, "a client certificate needs its key, and a key its certificate");
		goto done;
	}
	st = SVC_ENOMEM;
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		say(err, errlen, "out of memory");
		goto done;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
	SSL_CTX_set_info_callback(ctx, on_tls_info);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	st = SVC_EIO;
	if (cacert != NULL ? SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1
	                   : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		say(err, errlen, "cannot load the CA certificates %s: %s",
		    cacert ? cacert : "(the system's)", ssl_reason());
		goto done;
	}
	if (cert != NULL && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		say(err, errlen, "cannot load the client certificate %s: %s", cert, ssl_reason());
		goto done;
	}
	if (key != NULL && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		say(err, errlen, "cannot load the client key %s: %s", key, ssl_reason());
		goto done;
	}
	if (key != NULL && SSL_CTX_check_private_key(ctx) != 1) {
		say(err, errlen, "the client key %s does not match the certificate %s: %s", key,
		    cert, ssl_reason());
		goto done;
	}
	*out = ctx;
	ctx = NULL;
	st = SVC_OK;
done:
	SSL_CTX_free(ctx);
	ERR_clear_error(); /* nothing of ours left for the next OpenSSL user to misread */
	return st;
}

/* A fresh SSL for a connection to E: the member's certificate must name E's host (an address
 * as an IP SAN), and a name goes in SNI (RFC 6066 has no SNI for addresses). */
static SSL *
tls_new(SSL_CTX *ctx, const struct endpoint *e, struct conn *k)
{
	SSL *ssl = SSL_new(ctx);
	X509_VERIFY_PARAM *vp = ssl != NULL ? SSL_get0_param(ssl) : NULL;
	unsigned char ip[16];
	bool ok;

	if (ssl == NULL)
		return NULL;
	SSL_set_app_data(ssl, k);
	if (inet_pton(AF_INET, e->host, ip) == 1 || inet_pton(AF_INET6, e->host, ip) == 1) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(vp, e->host) == 1;
	} else {
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = X509_VERIFY_PARAM_set1_host(vp, e->host, 0) == 1 &&
		     SSL_set_tlsext_host_name(ssl, e->host) == 1;
	}
	if (!ok) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

/* Why TLS failed on K, a conn to E that failed, into WHY: false when TLS saw nothing wrong
 * (the TCP connection failed or was closed). */
static bool
tls_failure(struct conn *k, const struct endpoint *e, char *why, size_t size)
{
	unsigned long err, cause = 0;

	if (!e->tls)
		return false;
	/* Newest first: the last taken is the earliest, the cause (the bufferevent also keeps
	 * SSL_get_error's code, which is no library's error). */
	while ((err = bufferevent_get_openssl_error(k->bev)) != 0)
		if (ERR_GET_LIB(err) != 0)
			cause = err;
	if (k->verify_err != X509_V_OK)
		snprintf(why, size, "TLS with %s:%u: the member's certificate: %s", e->host,
		         e->port, X509_verify_cert_error_string(k->verify_err));
	else if (cause != 0)
		snprintf(why, size, "TLS with %s:%u: %s", e->host, e->port,
		         ERR_reason_error_string(cause) ? ERR_reason_error_string(cause)
		                                        : "an error");
	else if (k->handshaken && !k->answered)
		/* With TLS 1.3 the member checks the client's certificate after the client is done
		 * with the handshake; its alert may be lost when it resets the connection. */
		snprintf(why, size, "TLS with %s:%u: the member dropped the connection after %s",
		         e->host, e->port,
		         SSL_CTX_get0_certificate(k->c->ssl) == NULL
		                 ? "the handshake (it may want a client certificate)"
		                 : "the handshake");
	else
		return false;
	return true;
}

/* ---- connections ---- */

static void on_close(struct evhttp_connection *evcon, void *arg);

/* A connection to E (not yet connected: the first request connects it), timing out after
 * TIMEOUT_S; EP (NULL for a watch's) hears when it closes. */
static struct conn *
conn_new(struct etcdc *c, struct endpoint *e, struct endpoint *ep, int timeout_s)
{
	struct conn *k = calloc(1, sizeof(*k));
	/* Deferred callbacks: a connection that fails at once (refused, no such host) reports it
	 * from the loop, never from within evhttp_make_request. */
	int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	SSL *ssl;

	if (k == NULL)
		return NULL;
	k->c = c;
	k->ep = ep;
	k->verify_err = X509_V_OK;
	if (!e->tls) {
		k->bev = bufferevent_socket_new(c->base, -1, opts);
	} else if ((ssl = tls_new(c->ssl, e, k)) != NULL) {
		/* CLOSE_ON_FREE: the SSL goes with the bufferevent, on failure here too. */
		k->bev = bufferevent_openssl_socket_new(c->base, -1, ssl,
		                                        BUFFEREVENT_SSL_CONNECTING, opts);
		/* The gateway sizes every body (Content-Length or chunks), so a close without
		 * close_notify cannot cut one short: let it be the end of file it is. */
		if (k->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(k->bev, 1);
	}
	k->evcon = k->bev ? evhttp_connection_base_bufferevent_new(c->base, NULL, k->bev, e->host,
	                                                           e->port)
	                  : NULL;
	if (k->evcon == NULL) {
		if (k->bev != NULL)
			bufferevent_free(k->bev);
		free(k);
		return NULL;
	}
	evhttp_connection_set_timeout(k->evcon, timeout_s);
	if (ep != NULL) {
		/* Not on a watch's: evhttp counts the size over all of a stream's chunks. */
		evhttp_connection_set_max_body_size(k->evcon, ETCDC_MAX_BODY);
		evhttp_connection_set_max_headers_size(k->evcon, 64 * 1024);
		evhttp_connection_set_closecb(k->evcon, on_close, k);
	}
	return k;
}

/* A request is written in pieces (16 KiB at a time): without TCP_NODELAY the last one waits
 * for the member's delayed ACK, some 40 ms a call. The socket exists once a request was made
 * on the connection (it connects then). */
static void
no_delay(struct conn *k)
{
	int fd = (int)bufferevent_getfd(k->bev), one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Free K now: a request on it goes without its callback. */
static void
conn_free(struct conn *k)
{
	SSL *ssl = bufferevent_openssl_get_ssl(k->bev);

	/* The SSL may outlive K a moment: the bufferevent is freed from the loop. */
	if (ssl != NULL)
		SSL_set_app_data(ssl, NULL);
	evhttp_connection_set_closecb(k->evcon, NULL, NULL);
	evhttp_connection_free(k->evcon);
	free(k);
}

/* E's connection is over: freed from the loop (we may be in its callbacks). */
static void
conn_retire(struct endpoint *e)
{
	struct conn *k = e->conn;

	e->conn = NULL;
	lru_push(&k->c->retired, &k->node);
	event_active(k->c->tick, EV_TIMEOUT, 0);
}

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct conn *k = arg;

	(void)evcon;
	k->closed = true;
	/* Idle: retire it now. With a request on it, the request fails (or ends, when the member
	 * said it closes) and its end retires it. */
	if (k->ep->conn == k && k->ep->active == NULL)
		conn_retire(k->ep);
}

/* ---- the client ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg);

static enum svc_status
create(struct event_base *base, const char *urls, bool https, const struct etcdc_tls *tls,
       char *err, size_t errlen, struct etcdc **out)
{
	struct etcdc *c = calloc(1, sizeof(*c));
	const char *p = urls;
	bool any_tls = false;
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	say(err, errlen, "%s", "");
	if (c == NULL || (c->tick = event_new(base, -1, 0, on_tick, c)) == NULL) {
		say(err, errlen, "out of memory");
		goto done;
	}
	c->base = base;
	lru_init(&c->calls);
	lru_init(&c->dying);
	lru_init(&c->retired);
	st = SVC_EINVAL;
	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		struct endpoint *e;

		if (c->n_ep == ETCDC_MAX_ENDPOINTS) {
			say(err, errlen, "more than %d etcd URLs", ETCDC_MAX_ENDPOINTS);
			goto done;
		}
		e = &c->ep[c->n_ep];
		if (!parse_url(p, len, e) || (e->tls && !https)) {
			say(err, errlen, "not an http%s://host:port URL: %.*s", https ? "(s)" : "",
			    (int)(len < 200 ? len : 200), p);
			goto done;
		}
		any_tls |= e->tls;
		lru_init(&e->queue);
		c->n_ep++;
		p += len;
		if (*p == ',')
			p++;
	}
	if (c->n_ep == 0) {
		say(err, errlen, "no etcd URL");
		goto done;
	}
	/* Files given are loaded even for http members only: a mistake shows now, not later. */
	if (any_tls ||
	    (tls != NULL && (tls->cacert != NULL || tls->cert != NULL || tls->key != NULL))) {
		st = tls_ctx(tls, &c->ssl, err, errlen);
		if (st != SVC_OK)
			goto done;
	}
	*out = c;
	c = NULL;
	st = SVC_OK;
done:
	if (c != NULL) {
		if (c->tick != NULL)
			event_free(c->tick);
		free(c);
	}
	return st;
}

enum svc_status
etcdc_create(struct event_base *base, const char *urls, struct etcdc **out)
{
	return create(base, urls, false, NULL, NULL, 0, out);
}

enum svc_status
etcdc_create_tls(struct event_base *base, const char *urls, const struct etcdc_tls *tls, char *err,
                 size_t errlen, struct etcdc **out)
{
	return create(base, urls, true, tls, err, errlen, out);
}

static void
call_free(struct call *k)
{
	lru_remove(&k->c->calls, &k->node);
	if (k->queued != NULL)
		lru_remove(&k->queued->queue, &k->wait);
	free(k->path);
	free(k->body);
	free(k);
}

static void free_dying(struct etcdc *c);

void
etcdc_destroy(struct etcdc *c)
{
	if (c == NULL)
		return;
	/* Freeing a connection frees its request without its callback. */
	for (size_t i = 0; i < c->n_ep; i++)
		if (c->ep[i].conn != NULL)
			conn_free(c->ep[i].conn);
	while (c->retired.oldest != NULL) {
		struct conn *k = lru_item(c->retired.oldest, struct conn, node);

		lru_remove(&c->retired, &k->node);
		conn_free(k);
	}
	while (c->calls.oldest != NULL)
		call_free(lru_item(c->calls.oldest, struct call, node));
	free_dying(c);
	event_free(c->tick);
	SSL_CTX_free(c->ssl); /* the SSLs of connections still being freed hold their own count */
	free(c);
}

static void send_call(struct call *k);

/* The call ends: its callback, then it goes. The callback may destroy the client: callers do
 * nothing after this. */
static void
finish(struct call *k, enum svc_status st, const json_t *resp, const char *why)
{
	etcdc_cb cb = k->cb;
	etcdc_raw_cb raw = k->raw;
	void *arg = k->arg;

	call_free(k);
	if (raw != NULL)
		raw(arg, st, NULL, 0, why);
	else
		cb(arg, st, resp, why);
}

/* A raw call's HTTP 200 answer: its bytes to the callback. */
static void
finish_raw(struct call *k, struct evbuffer *in)
{
	etcdc_raw_cb raw = k->raw;
	void *arg = k->arg;
	size_t len = evbuffer_get_length(in);
	char *body = malloc(len + 1);

	if (body == NULL) {
		finish(k, SVC_ENOMEM, NULL, "out of memory");
		return;
	}
	evbuffer_remove(in, body, len);
	body[len] = '\0';
	call_free(k);
	raw(arg, SVC_OK, body, len, NULL);
}

static void
on_response(struct evhttp_request *req, void *arg)
{
	struct call *k = arg;
	struct etcdc *c = k->c;
	struct endpoint *e = k->at;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	json_t *resp = NULL, *err;
	json_error_t je;
	char why[TLS_WHY_LEN + 64];

	k->at = NULL;
	e->active = NULL;
	if (code != 0)
		e->conn->answered = true;
	if (code == 0)
		tls_failure(e->conn, e, k->tls_why, sizeof(k->tls_why));
	if (code == 0 || e->conn->closed)
		conn_retire(e);
	else if (e->queue.oldest != NULL)
		event_active(c->tick, EV_TIMEOUT, 0);
	if (code == 0 || code == 503 || code == 502) {
		/* No answer, or a member without a leader: the next member. */
		k->tries++;
		if (k->tries < c->n_ep) {
			c->next = (c->next + 1) % c->n_ep;
			send_call(k);
			return;
		}
		snprintf(why, sizeof(why), "%s%s%s",
		         code == 0 ? "no etcd member answered" : "no etcd member has a leader",
		         k->tls_why[0] ? "; " : "", k->tls_why);
		finish(k, SVC_EIO, NULL, why);
		return;
	}
	if (code == 200 && k->raw != NULL) {
		finish_raw(k, evhttp_request_get_input_buffer(req));
		return;
	}
	{
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		const char *text = (const char *)evbuffer_pullup(in, -1);

		resp = text != NULL || len == 0 ? etcdjson_load(text ? text : "", len, &je) : NULL;
	}
	if (resp == NULL || !json_is_object(resp)) {
		snprintf(why, sizeof(why), "etcd answered HTTP %d with no JSON object", code);
		json_decref(resp);
		finish(k, SVC_EINVAL, NULL, why);
		return;
	}
	err = json_object_get(resp, "error");
	if (code != 200 || err != NULL) {
		const char *msg = json_string_value(json_object_get(resp, "message"));

		snprintf(why, sizeof(why), "%s",
		         msg                   ? msg
		         : json_is_string(err) ? json_string_value(err)
		                               : "etcd error");
		json_decref(resp);
		finish(k, SVC_EINVAL, NULL, why);
		return;
	}
	finish(k, SVC_OK, resp, NULL);
	json_decref(resp);
}

/* K on E, which is free. */
static void
start(struct endpoint *e, struct call *k)
{
	struct etcdc *c = k->c;
	struct evhttp_request *req;
	struct evkeyvalq *h;
	char host[300];

	if (e->conn == NULL)
		e->conn = conn_new(c, e, e, ETCDC_TIMEOUT_S);
	req = e->conn ? evhttp_request_new(on_response, k) : NULL;
	if (req == NULL) {
		event_active(c->tick, EV_TIMEOUT, 0); /* for the calls waiting for E */
		finish(k, SVC_ENOMEM, NULL, "out of memory");
		return;
	}
	h = evhttp_request_get_output_headers(req);
	snprintf(host, sizeof(host), "%s:%u", e->host, e->port);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(req), k->body, k->len);
	e->active = k;
	k->at = e;
	/* 0 even when it cannot connect: that comes to on_response, from the loop. */
	if (evhttp_make_request(e->conn->evcon, req, EVHTTP_REQ_POST, k->path) != 0) {
		/* Out of memory: REQ is freed by libevent (or, failing to connect, lost). */
		e->active = NULL;
		k->at = NULL;
		conn_retire(e);
		finish(k, SVC_EIO, NULL, "cannot send to etcd");
		return;
	}
	no_delay(e->conn);
}

/* To the endpoint the next call starts on: now when it is free, else after the calls on it
 * and waiting for it (an endpoint free with calls waiting has a tick coming to start them). */
static void
send_call(struct call *k)
{
	struct endpoint *e = &k->c->ep[k->c->next];

	if (e->active == NULL && e->queue.oldest == NULL) {
		start(e, k);
		return;
	}
	k->queued = e;
	lru_push(&e->queue, &k->wait);
}

/* Out of evhttp's callbacks: free the retired conns, and start a waiting call on an endpoint
 * now free (one per tick, since starting it may end it: the next tick does the rest). */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct etcdc *c = arg;
	struct endpoint *e = NULL;

	(void)fd;
	(void)what;
	while (c->retired.oldest != NULL) {
		struct conn *k = lru_item(c->retired.oldest, struct conn, node);

		lru_remove(&c->retired, &k->node);
		conn_free(k);
	}
	for (size_t i = 0; i < c->n_ep; i++) {
		struct endpoint *x = &c->ep[i];

		if (x->active != NULL || x->queue.oldest == NULL)
			continue;
		if (e != NULL) {
			event_active(c->tick, EV_TIMEOUT, 0);
			break;
		}
		e = x;
	}
	if (e != NULL) {
		struct call *k = lru_item(e->queue.oldest, struct call, wait);

		lru_remove(&e->queue, &k->wait);
		k->queued = NULL;
		start(e, k);
	}
}

static enum svc_status
submit(struct etcdc *c, const char *path, json_t *body, etcdc_cb cb, etcdc_raw_cb raw, void *arg)
{
	struct call *k = calloc(1, sizeof(*k));
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (k == NULL || text == NULL || (k->path = strdup(path)) == NULL) {
		free(text);
		if (k != NULL)
			free(k->path);
		free(k);
		return SVC_ENOMEM;
	}
	k->c = c;
	k->body = text;
	k->len = strlen(text);
	k->cb = cb;
	k->raw = raw;
	k->arg = arg;
	lru_push(&c->calls, &k->node);
	send_call(k);
	return SVC_OK;
}

enum svc_status
etcdc_call(struct etcdc *c, const char *path, json_t *body, etcdc_cb cb, void *arg)
{
	return submit(c, path, body, cb, NULL, arg);
}

enum svc_status
etcdc_call_raw(struct etcdc *c, const char *path, json_t *body, etcdc_raw_cb cb, void *arg)
{
	return submit(c, path, body, NULL, cb, arg);
}

/* ---- watch streams ---- */

struct etcdc_watch {
	struct etcdc *c;
	const struct endpoint *e;
	struct conn *conn;
	struct evhttp_request *req;
	struct evbuffer *line; /* what came of a message not yet whole */
	etcdc_watch_cb cb;
	void *arg;
	bool busy;      /* in its callback */
	bool cancelled; /* cancelled from within it */
	bool ended;
	/* Freed from the loop (out of its connection's callbacks), or by etcdc_destroy if the
	 * loop never runs again: in the client's dying list meanwhile. */
	struct event *free_ev;
	struct lru_node node;
};

static void
watch_free_now(evutil_socket_t fd, short what, void *arg)
{
	struct etcdc_watch *w = arg;

	(void)fd;
	(void)what;
	if (w->free_ev != NULL) {
		lru_remove(&w->c->dying, &w->node);
		event_free(w->free_ev);
	}
	if (w->conn != NULL)
		conn_free(w->conn); /* its request too, without a callback */
	evbuffer_free(w->line);
	free(w);
}

/* Watches cancelled or ended whose free the loop has not run yet (C is being destroyed). */
static void
free_dying(struct etcdc *c)
{
	while (c->dying.oldest != NULL)
		watch_free_now(-1, 0, lru_item(c->dying.oldest, struct etcdc_watch, node));
}

/* Free W once the loop is out of its connection's callbacks. */
static void
watch_free_later(struct etcdc_watch *w)
{
	if (w->free_ev != NULL)
		return; /* on its way already */
	w->free_ev = evtimer_new(w->c->base, watch_free_now, w);
	if (w->free_ev == NULL) {
		watch_free_now(-1, 0, w); /* cannot defer: only out of memory gets here */
		return;
	}
	lru_push(&w->c->dying, &w->node);
	event_active(w->free_ev, EV_TIMEOUT, 0);
}

/* The callback, for a message or the end; false when W is gone or over. */
static bool
deliver(struct etcdc_watch *w, enum svc_status st, const json_t *result, const char *why)
{
	w->busy = true;
	w->cb(w->arg, st, result, why);
	w->busy = false;
	if (w->cancelled) {
		watch_free_later(w);
		return false;
	}
	return true;
}

/* The stream is over (from a chunk: its request cancelled first). */
static void
watch_end(struct etcdc_watch *w, enum svc_status st, const char *why)
{
	if (w->ended)
		return;
	w->ended = true;
	if (!deliver(w, st, NULL, why))
		return;
	watch_free_later(w);
}

static void
on_watch_chunk(struct evhttp_request *req, void *arg)
{
	struct etcdc_watch *w = arg;
	char *text;
	size_t len;

	if (w->ended)
		return;
	evbuffer_add_buffer(w->line, evhttp_request_get_input_buffer(req));
	while ((text = evbuffer_readln(w->line, &len, EVBUFFER_EOL_LF)) != NULL) {
		json_error_t je;
		json_t *msg = len > 0 ? etcdjson_load(text, len, &je) : NULL;
		const json_t *result = json_object_get(msg, "result");
		bool more;

		free(text);
		if (len == 0)
			continue;
		if (result == NULL || !json_is_object(result)) {
			const char *m = json_string_value(
			        json_object_get(json_object_get(msg, "error"), "message"));
			char why[256];

			snprintf(why, sizeof(why), "watch: %s",
			         m     ? m
			         : msg ? "a message without a result"
			               : "not JSON");
			json_decref(msg);
			evhttp_cancel_request(req);
			w->req = NULL;
			watch_end(w, SVC_EINVAL, why);
			return;
		}
		more = deliver(w, SVC_OK, result, NULL);
		json_decref(msg);
		if (!more)
			return;
	}
	if (evbuffer_get_length(w->line) > ETCDC_MAX_BODY) {
		evhttp_cancel_request(req);
		w->req = NULL;
		watch_end(w, SVC_ELIMIT, "watch: a message over the size limit");
	}
}

static void
on_watch_done(struct evhttp_request *req, void *arg)
{
	struct etcdc_watch *w = arg;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	char why[TLS_WHY_LEN + 16], tls[TLS_WHY_LEN];

	w->req = NULL;
	if (code == 0)
		w->c->next = (w->c->next + 1) % w->c->n_ep; /* the next open tries another */
	if (code == 0 && tls_failure(w->conn, w->e, tls, sizeof(tls)))
		snprintf(why, sizeof(why), "watch: %s", tls);
	else if (code == 0)
		snprintf(why, sizeof(why), "watch: no answer from etcd");
	else
		snprintf(why, sizeof(why), "watch: the stream ended (HTTP %d)", code);
	watch_end(w, SVC_EIO, why);
}

enum svc_status
etcdc_watch(struct etcdc *c, json_t *create, etcdc_watch_cb cb, void *arg, struct etcdc_watch **out)
{
	struct etcdc_watch *w = calloc(1, sizeof(*w));
	json_t *body = json_pack("{s:o}", "create_request", create);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct endpoint *e = &c->ep[c->next];
	struct evkeyvalq *h;
	char host[300];

	*out = NULL;
	json_decref(body);
	if (w == NULL || text == NULL || (w->line = evbuffer_new()) == NULL)
		goto fail;
	w->c = c;
	w->e = e;
	w->cb = cb;
	w->arg = arg;
	w->conn = conn_new(c, e, NULL, ETCDC_WATCH_IDLE_S);
	w->req = w->conn ? evhttp_request_new(on_watch_done, w) : NULL;
	if (w->req == NULL)
		goto fail;
	evhttp_request_set_chunked_cb(w->req, on_watch_chunk);
	h = evhttp_request_get_output_headers(w->req);
	snprintf(host, sizeof(host), "%s:%u", e->host, e->port);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(w->req), text, strlen(text));
	free(text);
	text = NULL;
	if (evhttp_make_request(w->conn->evcon, w->req, EVHTTP_REQ_POST, "/v3/watch") != 0) {
		w->req = NULL; /* freed by libevent */
		goto fail;
	}
	no_delay(w->conn);
	*out = w;
	return SVC_OK;
fail:
	free(text);
	if (w != NULL) {
		if (w->req != NULL)
			evhttp_request_free(w->req);
		if (w->conn != NULL)
			conn_free(w->conn);
		if (w->line != NULL)
			evbuffer_free(w->line);
		free(w);
	}
	return SVC_ENOMEM;
}

void
etcdc_watch_cancel(struct etcdc_watch *w)
{
	if (w == NULL)
		return;
	if (w->busy) {
		w->cancelled = true;
		return;
	}
	w->ended = true;
	watch_free_later(w);
}

/* ---- encodings ---- */

json_t *
etcdc_bytes(const void *p, size_t n)
{
	char *s = malloc(B64_ENCODED_LEN(n));
	json_t *v;

	if (s == NULL)
		return NULL;
	b64_encode(p, n, s);
	v = json_string(s);
	free(s);
	return v;
}

enum svc_status
etcdc_bytes_of(const json_t *v, uint8_t **out, size_t *len)
{
	const char *s = v != NULL ? json_string_value(v) : "";
	size_t n;
	enum svc_status st;

	*out = NULL;
	*len = 0;
	if (s == NULL)
		return SVC_EINVAL;
	n = strlen(s);
	*out = malloc(n / 4 * 3 + 1);
	if (*out == NULL)
		return SVC_ENOMEM;
	st = b64_decode(s, n, *out, n / 4 * 3, len);
	if (st != SVC_OK) {
		free(*out);
		*out = NULL;
		return SVC_EINVAL;
	}
	(*out)[*len] = '\0';
	return SVC_OK;
}

enum svc_status
etcdc_int(const json_t *obj, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(obj, key);
	const char *s;
	char *end;
	long long n;

	*out = 0;
	if (v == NULL)
		return SVC_OK;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return SVC_OK;
	}
	s = json_string_value(v);
	if (s == NULL || *s == '\0')
		return SVC_EINVAL;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0)
		return SVC_EINVAL;
	*out = (int64_t)n;
	return SVC_OK;
}

size_t
etcdc_prefix_end(const uint8_t *prefix, size_t n, uint8_t *out)
{
	memcpy(out, prefix, n);
	while (n > 0) {
		if (out[n - 1] < 0xff) {
			out[n - 1]++;
			return n;
		}
		n--; /* 0xff: drop it and carry into the byte before */
	}
	return 0;
}

enum svc_status
etcdc_kv_decode(const json_t *kv, struct etcdc_kv *out)
{
	enum svc_status st;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(kv))
		return SVC_EINVAL;
	st = etcdc_bytes_of(json_object_get(kv, "key"), &out->key, &out->key_len);
	if (st == SVC_OK)
		st = etcdc_bytes_of(json_object_get(kv, "value"), &out->value, &out->value_len);
	if (st == SVC_OK)
		st = etcdc_int(kv, "create_revision", &out->create_revision);
	if (st == SVC_OK)
		st = etcdc_int(kv, "mod_revision", &out->mod_revision);
	if (st == SVC_OK)
		st = etcdc_int(kv, "version", &out->version);
	if (st == SVC_OK)
		st = etcdc_int(kv, "lease", &out->lease);
	if (st != SVC_OK)
		etcdc_kv_free(out);
	return st;
}

void
etcdc_kv_free(struct etcdc_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

json_t *
etcdc_range_body(const char *prefix, const uint8_t *from, size_t from_len, int64_t rev,
                 uint32_t limit)
{
	uint8_t end[1024];
	size_t n = strlen(prefix), elen;
	json_t *b;

	if (n > sizeof(end) || (b = json_object()) == NULL)
		return NULL;
	elen = etcdc_prefix_end((const uint8_t *)prefix, n, end);
	json_object_set_new(b, "key", from ? etcdc_bytes(from, from_len) : etcdc_bytes(prefix, n));
	/* No end above the prefix (all 0xff): to the end of the keyspace, "\0" on the wire. */
	json_object_set_new(b, "range_end", elen ? etcdc_bytes(end, elen) : etcdc_bytes("\0", 1));
	if (limit > 0)
		json_object_set_new(b, "limit", json_integer(limit));
	if (rev > 0)
		json_object_set_new(b, "revision", json_integer(rev));
	return b;
}
