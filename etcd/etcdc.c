/* etcdc.c -- etcd v3 over its JSON gateway (etcdc.h). */
#include "etcdc.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "lru.h"

struct endpoint {
	char host[256];
	uint16_t port;
	struct evhttp_connection *conn;
};

struct call {
	struct etcdc *c;
	struct lru_node node; /* in the client's calls in flight (the order unused) */
	char *path;
	char *body; /* the request, kept to try the next endpoint */
	size_t len;
	size_t tries;
	etcdc_cb cb;
	void *arg;
};

struct etcdc {
	struct event_base *base;
	struct endpoint ep[ETCDC_MAX_ENDPOINTS];
	size_t n_ep;
	size_t next; /* the endpoint the next call starts on: the last that answered */
	struct lru calls;
};

/* "http://host:port" into E. */
static bool
parse_url(const char *url, size_t len, struct endpoint *e)
{
	const char *p = url, *end = url + len, *colon;
	char port[8];
	long v;
	char *stop;

	if (len < 8 || strncmp(p, "http://", 7) != 0)
		return false;
	p += 7;
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

enum svc_status
etcdc_create(struct event_base *base, const char *urls, struct etcdc **out)
{
	struct etcdc *c = calloc(1, sizeof(*c));
	const char *p = urls;

	*out = NULL;
	if (c == NULL)
		return SVC_ENOMEM;
	c->base = base;
	lru_init(&c->calls);
	while (*p != '\0') {
		size_t len = strcspn(p, ",");

		if (c->n_ep == ETCDC_MAX_ENDPOINTS || !parse_url(p, len, &c->ep[c->n_ep])) {
			free(c);
			return SVC_EINVAL;
		}
		c->n_ep++;
		p += len;
		if (*p == ',')
			p++;
	}
	if (c->n_ep == 0) {
		free(c);
		return SVC_EINVAL;
	}
	*out = c;
	return SVC_OK;
}

static void
call_free(struct call *k)
{
	lru_remove(&k->c->calls, &k->node);
	free(k->path);
	free(k->body);
	free(k);
}

void
etcdc_destroy(struct etcdc *c)
{
	if (c == NULL)
		return;
	/* Freeing a connection frees its requests without their callbacks. */
	for (size_t i = 0; i < c->n_ep; i++)
		if (c->ep[i].conn != NULL)
			evhttp_connection_free(c->ep[i].conn);
	while (c->calls.oldest != NULL)
		call_free(lru_item(c->calls.oldest, struct call, node));
	free(c);
}

static struct evhttp_connection *
conn_of(struct etcdc *c, size_t i)
{
	struct endpoint *e = &c->ep[i];

	if (e->conn == NULL) {
		e->conn = evhttp_connection_base_new(c->base, NULL, e->host, e->port);
		if (e->conn != NULL) {
			evhttp_connection_set_timeout(e->conn, ETCDC_TIMEOUT_S);
			evhttp_connection_set_max_body_size(e->conn, ETCDC_MAX_BODY);
			evhttp_connection_set_max_headers_size(e->conn, 64 * 1024);
		}
	}
	return e->conn;
}

static void send_call(struct call *k);

/* The call ends: its callback, then it goes. */
static void
finish(struct call *k, enum svc_status st, const json_t *resp, const char *why)
{
	etcdc_cb cb = k->cb;
	void *arg = k->arg;

	call_free(k);
	cb(arg, st, resp, why);
}

static void
on_response(struct evhttp_request *req, void *arg)
{
	struct call *k = arg;
	struct etcdc *c = k->c;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	json_t *resp = NULL, *err;
	json_error_t je;
	char why[256];

	if (code == 0 || code == 503 || code == 502) {
		/* No answer, or a member without a leader: the next member. */
		k->tries++;
		if (k->tries < c->n_ep) {
			c->next = (c->next + 1) % c->n_ep;
			send_call(k);
			return;
		}
		finish(k, SVC_EIO, NULL,
		       code == 0 ? "no etcd member answered" : "no etcd member has a leader");
		return;
	}
	{
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		const char *text = (const char *)evbuffer_pullup(in, -1);

		resp = text != NULL || len == 0 ? json_loadb(text ? text : "", len, 0, &je) : NULL;
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

static void
send_call(struct call *k)
{
	struct etcdc *c = k->c;
	size_t i = c->next;
	struct evhttp_connection *conn = conn_of(c, i);
	struct evhttp_request *req = conn ? evhttp_request_new(on_response, k) : NULL;
	struct evkeyvalq *h;
	char host[300];

	if (req == NULL) {
		finish(k, SVC_ENOMEM, NULL, "out of memory");
		return;
	}
	h = evhttp_request_get_output_headers(req);
	snprintf(host, sizeof(host), "%s:%u", c->ep[i].host, c->ep[i].port);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(req), k->body, k->len);
	if (evhttp_make_request(conn, req, EVHTTP_REQ_POST, k->path) != 0)
		finish(k, SVC_EIO, NULL, "cannot send to etcd"); /* REQ is freed by libevent */
}

enum svc_status
etcdc_call(struct etcdc *c, const char *path, json_t *body, etcdc_cb cb, void *arg)
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
	k->arg = arg;
	lru_push(&c->calls, &k->node);
	send_call(k);
	return SVC_OK;
}

/* ---- watch streams ---- */

struct etcdc_watch {
	struct etcdc *c;
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	struct evbuffer *line; /* what came of a message not yet whole */
	etcdc_watch_cb cb;
	void *arg;
	bool busy;      /* in its callback */
	bool cancelled; /* cancelled from within it */
	bool ended;
};

static void
watch_free_now(evutil_socket_t fd, short what, void *arg)
{
	struct etcdc_watch *w = arg;

	(void)fd;
	(void)what;
	if (w->conn != NULL)
		evhttp_connection_free(w->conn); /* its request too, without a callback */
	evbuffer_free(w->line);
	free(w);
}

/* Free W once the loop is out of its connection's callbacks. */
static void
watch_free_later(struct etcdc_watch *w)
{
	if (event_base_once(w->c->base, -1, EV_TIMEOUT, watch_free_now, w, NULL) != 0)
		watch_free_now(-1, 0, w); /* cannot defer: only out of memory gets here */
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
		json_t *msg = len > 0 ? json_loadb(text, len, 0, &je) : NULL;
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
	char why[96];

	w->req = NULL;
	if (code == 0)
		w->c->next = (w->c->next + 1) % w->c->n_ep; /* the next open tries another */
	snprintf(why, sizeof(why),
	         code == 0 ? "watch: no answer from etcd" : "watch: the stream ended (HTTP %d)",
	         code);
	watch_end(w, SVC_EIO, why);
}

enum svc_status
etcdc_watch(struct etcdc *c, json_t *create, etcdc_watch_cb cb, void *arg, struct etcdc_watch **out)
{
	struct etcdc_watch *w = calloc(1, sizeof(*w));
	json_t *body = json_pack("{s:o}", "create_request", create);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	const struct endpoint *e = &c->ep[c->next];
	struct evkeyvalq *h;
	char host[300];

	*out = NULL;
	json_decref(body);
	if (w == NULL || text == NULL || (w->line = evbuffer_new()) == NULL)
		goto fail;
	w->c = c;
	w->cb = cb;
	w->arg = arg;
	w->conn = evhttp_connection_base_new(c->base, NULL, e->host, e->port);
	w->req = w->conn ? evhttp_request_new(on_watch_done, w) : NULL;
	if (w->req == NULL)
		goto fail;
	evhttp_connection_set_timeout(w->conn, ETCDC_WATCH_IDLE_S);
	evhttp_request_set_chunked_cb(w->req, on_watch_chunk);
	h = evhttp_request_get_output_headers(w->req);
	snprintf(host, sizeof(host), "%s:%u", e->host, e->port);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(w->req), text, strlen(text));
	free(text);
	text = NULL;
	if (evhttp_make_request(w->conn, w->req, EVHTTP_REQ_POST, "/v3/watch") != 0) {
		w->req = NULL; /* freed by libevent */
		goto fail;
	}
	*out = w;
	return SVC_OK;
fail:
	free(text);
	if (w != NULL) {
		if (w->req != NULL)
			evhttp_request_free(w->req);
		if (w->conn != NULL)
			evhttp_connection_free(w->conn);
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
