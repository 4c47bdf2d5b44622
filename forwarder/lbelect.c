/* lbelect.c -- one node per LoadBalancer address, elected through etcd (lbelect.h). */
#include "lbelect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "etcdobj.h"
#include "htab.h"
#include "vip.h"

#define RETRY_MS   1000
#define HOLDER_MAX 256

/* A LoadBalancer address of the cluster. */
struct lbip {
	struct htab_node hn; /* by address */
	struct lbelect *le;  /* for the callbacks, which get the address */
	struct netaddr ip;
	char text[NETADDR_STRLEN];
	char key[ETCDOBJ_KEY_MAX];
	char holder[HOLDER_MAX]; /* the node its key names; "" none (as far as known) */
	bool eligible;           /* this node may hold it */
	bool held;               /* ours: the key names this node, the address is here */
	bool busy;               /* a transaction about it is in flight */
	bool seen;
};

struct lbelect {
	struct lbelect_opts o;
	char prefix[ETCDOBJ_KEY_MAX];
	struct htab ips;
	int64_t lease_id;
	struct etcdc_watch *wt;
	bool known;   /* the holders were read (a range, then the watch) */
	bool stopped; /* lbelect_stop */
	bool reading; /* the range is in flight */
	int64_t rev;  /* the range's revision: the watch follows from the next */
	struct event *retry;
};

static void holders_read(struct lbelect *le);

static struct lbip *
ip_find(const struct lbelect *le, const struct netaddr *a)
{
	uint32_t h = htab_hash_bytes(a, sizeof(*a), 0);

	for (struct htab_node *n = htab_find(&le->ips, h); n != NULL; n = htab_next(n, h)) {
		struct lbip *e = htab_item(n, struct lbip, hn);

		if (netaddr_equal(&e->ip, a))
			return e;
	}
	return NULL;
}

static struct lbip *
ip_by_text(const struct lbelect *le, const char *text)
{
	struct netaddr a;

	return netaddr_parse(&a, text) == SVC_OK ? ip_find(le, &a) : NULL;
}

static void
arm(struct event *ev, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (!evtimer_pending(ev, NULL))
		evtimer_add(ev, &tv);
}

/* The address is ours now: on the interface, announced. */
static void
take(struct lbelect *le, struct lbip *e)
{
	int err = vip_add(le->o.ifindex, &e->ip, le->o.lease_s);

	e->held = true;
	snprintf(e->holder, sizeof(e->holder), "%s", le->o.node);
	if (err != 0) {
		log_msg(LL_ERROR, "load balancer %s: cannot add it to the interface: %s", e->text,
		        strerror(err));
		return;
	}
	err = vip_announce(le->o.ifindex, &e->ip);
	log_msg(LL_INFO, "load balancer %s: held by this node (%s)%s%s", e->text, le->o.node,
	        err ? "; not announced: " : "", err ? strerror(err) : "");
}

/* The address is no longer ours (its key gone, or another node's). */
static void
drop(struct lbelect *le, struct lbip *e)
{
	int err;

	if (!e->held)
		return;
	e->held = false;
	err = vip_del(le->o.ifindex, &e->ip);
	log_msg(LL_INFO, "load balancer %s: let go%s%s", e->text, err ? ": " : "",
	        err ? strerror(err) : "");
}

/* ---- taking and letting go ---- */

static void
on_acquired(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct lbip *e = arg;
	struct lbelect *le = e->le;
	const json_t *kv;
	struct etcdc_kv d;

	e->busy = false;
	if (st != SVC_OK) {
		log_msg(LL_WARN, "load balancer %s: %s", e->text, why ? why : "etcd failed");
		arm(le->retry, RETRY_MS);
		return;
	}
	if (json_is_true(json_object_get(resp, "succeeded"))) {
		if (e->eligible && e->seen)
			take(le, e);
		return;
	}
	/* Someone holds it: whom. */
	kv = json_array_get(
	        json_object_get(
	                json_object_get(json_array_get(json_object_get(resp, "responses"), 0),
	                                "response_range"),
	                "kvs"),
	        0);
	if (kv != NULL && etcdc_kv_decode(kv, &d) == SVC_OK) {
		snprintf(e->holder, sizeof(e->holder), "%.*s", (int)d.value_len, (char *)d.value);
		etcdc_kv_free(&d);
	}
}

/* A transaction about E; CB gets E back. */
static void
txn(struct lbelect *le, struct lbip *e, json_t *body, etcdc_cb cb)
{
	if (body == NULL || etcdc_call(le->o.c, "/v3/kv/txn", body, cb, e) != SVC_OK) {
		arm(le->retry, RETRY_MS);
		return;
	}
	e->busy = true;
}

static void
acquire(struct lbelect *le, struct lbip *e)
{
	json_t *key;

	if (e->busy || e->held || !e->eligible || le->lease_id == 0 || !le->known || le->stopped ||
	    e->holder[0] != '\0')
		return;
	key = etcdc_bytes(e->key, strlen(e->key));
	txn(le, e,
	    json_pack("{s:[{s:O, s:s, s:s, s:s}], s:[{s:{s:O, s:o, s:I}}], s:[{s:{s:o}}]}",
	              "compare", "key", key, "target", "CREATE", "result", "EQUAL",
	              "create_revision", "0", "success", "request_put", "key", key, "value",
	              etcdc_bytes(le->o.node, strlen(le->o.node)), "lease",
	              (json_int_t)le->lease_id, "failure", "request_range", "key", key),
	    on_acquired);
}

static void
on_released(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct lbip *e = arg;
	struct lbelect *le = e->le;

	(void)resp;
	e->busy = false;
	if (st != SVC_OK) {
		log_msg(LL_WARN, "load balancer %s: %s", e->text, why ? why : "etcd failed");
		arm(le->retry, RETRY_MS);
	}
}

/* Let E go: its key, if it still names this node, then the address. */
static void
release(struct lbelect *le, struct lbip *e)
{
	json_t *key;

	drop(le, e);
	if (e->busy || strcmp(e->holder, le->o.node) != 0)
		return;
	e->holder[0] = '\0';
	key = etcdc_bytes(e->key, strlen(e->key));
	txn(le, e,
	    json_pack("{s:[{s:O, s:s, s:s, s:o}], s:[{s:{s:o}}]}", "compare", "key", key, "target",
	              "VALUE", "result", "EQUAL", "value",
	              etcdc_bytes(le->o.node, strlen(le->o.node)), "success",
	              "request_delete_range", "key", key),
	    on_released);
}

/* ---- the holders: a range, then a watch ---- */

static void
holder_set(struct lbelect *le, const char *key, size_t key_len, const uint8_t *value,
           size_t value_len, bool deleted)
{
	char text[NETADDR_STRLEN + 1];
	size_t pl = strlen(le->prefix);
	struct lbip *e;

	if (key_len <= pl || key_len - pl > NETADDR_STRLEN)
		return;
	memcpy(text, key + pl, key_len - pl);
	text[key_len - pl] = '\0';
	e = ip_by_text(le, text);
	if (e == NULL)
		return;
	if (deleted) {
		e->holder[0] = '\0';
		drop(le, e);
		acquire(le, e); /* a holder gone: the first eligible node takes it */
		return;
	}
	snprintf(e->holder, sizeof(e->holder), "%.*s", (int)value_len, (const char *)value);
	if (strcmp(e->holder, le->o.node) != 0)
		drop(le, e);
}

static void
on_watch(void *arg, enum svc_status st, const json_t *result, const char *why)
{
	struct lbelect *le = arg;
	const json_t *ev;
	size_t i;

	if (st != SVC_OK || json_is_true(json_object_get(result, "canceled"))) {
		if (st == SVC_OK)
			etcdc_watch_cancel(le->wt);
		le->wt = NULL;
		le->known = false;
		log_msg(LL_WARN, "load balancer holders: %s; reading them again",
		        why ? why : "the watch ended");
		arm(le->retry, RETRY_MS);
		return;
	}
	json_array_foreach(json_object_get(result, "events"), i, ev)
	{
		const char *type = json_string_value(json_object_get(ev, "type"));
		struct etcdc_kv kv;

		if (etcdc_kv_decode(json_object_get(ev, "kv"), &kv) != SVC_OK)
			continue;
		holder_set(le, (const char *)kv.key, kv.key_len, kv.value, kv.value_len,
		           type != NULL && !strcmp(type, "DELETE"));
		etcdc_kv_free(&kv);
	}
}

static void
on_holders(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct lbelect *le = arg;
	struct htab_iter it;
	const json_t *kv;
	size_t i;
	json_t *b;

	le->reading = false;
	if (st != SVC_OK) {
		log_msg(LL_WARN, "load balancer holders: %s", why ? why : "etcd failed");
		arm(le->retry, RETRY_MS);
		return;
	}
	for (struct htab_node *n = htab_first(&it, &le->ips); n != NULL; n = htab_iter_next(&it))
		htab_item(n, struct lbip, hn)->holder[0] = '\0';
	json_array_foreach(json_object_get(resp, "kvs"), i, kv)
	{
		struct etcdc_kv d;

		if (etcdc_kv_decode(kv, &d) != SVC_OK)
			continue;
		holder_set(le, (const char *)d.key, d.key_len, d.value, d.value_len, false);
		etcdc_kv_free(&d);
	}
	(void)etcdc_int(json_object_get(resp, "header"), "revision", &le->rev);
	b = etcdc_range_body(le->prefix, NULL, 0, 0, 0);
	if (b != NULL)
		json_object_set_new(b, "start_revision", json_integer(le->rev + 1));
	if (b == NULL || etcdc_watch(le->o.c, b, on_watch, le, &le->wt) != SVC_OK) {
		le->wt = NULL;
		arm(le->retry, RETRY_MS);
		return;
	}
	le->known = true;
	/* What we held and is no longer ours (or no one's) goes; the free ones are tried. */
	for (struct htab_node *n = htab_first(&it, &le->ips); n != NULL; n = htab_iter_next(&it)) {
		struct lbip *e = htab_item(n, struct lbip, hn);

		if (e->held && strcmp(e->holder, le->o.node) != 0)
			drop(le, e);
		acquire(le, e);
	}
}

static void
holders_read(struct lbelect *le)
{
	if (le->reading || le->wt != NULL)
		return;
	if (etcdc_call(le->o.c, "/v3/kv/range", etcdc_range_body(le->prefix, NULL, 0, 0, 0),
	               on_holders, le) != SVC_OK) {
		arm(le->retry, RETRY_MS);
		return;
	}
	le->reading = true;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	lbelect_tick(arg);
}

/* ---- what the agent tells ---- */

void
lbelect_tick(struct lbelect *le)
{
	struct htab_iter it;

	if (le->stopped)
		return;
	if (le->wt == NULL) {
		holders_read(le);
		return;
	}
	for (struct htab_node *n = htab_first(&it, &le->ips); n != NULL; n = htab_iter_next(&it)) {
		struct lbip *e = htab_item(n, struct lbip, hn);

		if (e->held)
			(void)vip_add(le->o.ifindex, &e->ip, le->o.lease_s);
		else
			acquire(le, e);
	}
}

void
lbelect_lease(struct lbelect *le, int64_t lease_id)
{
	struct htab_iter it;

	if (lease_id == le->lease_id)
		return;
	/* Keys bound to the old lease went with it. */
	for (struct htab_node *n = htab_first(&it, &le->ips); n != NULL; n = htab_iter_next(&it)) {
		struct lbip *e = htab_item(n, struct lbip, hn);

		if (e->held || !strcmp(e->holder, le->o.node)) {
			drop(le, e);
			e->holder[0] = '\0';
		}
	}
	le->lease_id = lease_id;
	lbelect_tick(le);
}

/* Whether this node may hold S's addresses: for Local, only with a ready endpoint here. */
static bool
eligible(const struct lbelect *le, const struct cluster_service *s)
{
	if (s->external_policy != CLUSTER_POLICY_LOCAL)
		return true;
	for (size_t i = 0; i < s->n_endpoints; i++)
		if (s->endpoints[i].ready && s->endpoints[i].node_name != NULL &&
		    !strcmp(s->endpoints[i].node_name, le->o.node))
			return true;
	return false;
}

void
lbelect_update(struct lbelect *le, const struct cluster *c)
{
	struct htab_iter it;
	struct htab_node *n;

	for (n = htab_first(&it, &le->ips); n != NULL; n = htab_iter_next(&it))
		htab_item(n, struct lbip, hn)->seen = false;
	for (size_t i = 0; i < c->n_services; i++) {
		const struct cluster_service *s = c->services[i];
		bool ok;

		if (s->type != CLUSTER_SVC_LOADBALANCER)
			continue;
		ok = eligible(le, s);
		for (size_t k = 0; k < s->n_lb_ips; k++) {
			struct lbip *e = ip_find(le, &s->lb_ips[k]);

			if (e == NULL) {
				e = calloc(1, sizeof(*e));
				if (e == NULL)
					continue;
				e->le = le;
				e->ip = s->lb_ips[k];
				netaddr_str(&e->ip, e->text);
				if (snprintf(e->key, sizeof(e->key), "%s%s", le->prefix, e->text) >=
				            (int)sizeof(e->key) ||
				    htab_insert(&le->ips, &e->hn,
				                htab_hash_bytes(&e->ip, sizeof(e->ip), 0)) !=
				            SVC_OK) {
					free(e);
					continue;
				}
			}
			/* An address two services share: either makes it eligible. */
			e->eligible = (e->seen && e->eligible) || ok;
			e->seen = true;
		}
	}
	for (n = htab_first(&it, &le->ips); n != NULL; n = htab_iter_next(&it)) {
		struct lbip *e = htab_item(n, struct lbip, hn);

		if (!e->seen || !e->eligible)
			release(le, e);
		if (!e->seen && !e->busy) {
			htab_remove(&le->ips, &e->hn);
			free(e);
		} else if (e->seen) {
			acquire(le, e);
		}
	}
}

enum svc_status
lbelect_create(const struct lbelect_opts *o, struct lbelect **out)
{
	struct lbelect *le = calloc(1, sizeof(*le));

	*out = NULL;
	if (le == NULL)
		return SVC_ENOMEM;
	le->o = *o;
	htab_init(&le->ips);
	snprintf(le->prefix, sizeof(le->prefix), "%s/lbholders/", o->prefix);
	le->retry = evtimer_new(o->base, on_retry, le);
	if (le->retry == NULL) {
		lbelect_destroy(le);
		return SVC_ENOMEM;
	}
	holders_read(le);
	*out = le;
	return SVC_OK;
}

void
lbelect_stop(struct lbelect *le)
{
	struct htab_iter it;

	le->stopped = true;
	if (le->wt != NULL)
		etcdc_watch_cancel(le->wt);
	le->wt = NULL;
	evtimer_del(le->retry);
	for (struct htab_node *n = htab_first(&it, &le->ips); n != NULL; n = htab_iter_next(&it))
		drop(le, htab_item(n, struct lbip, hn));
}

void
lbelect_destroy(struct lbelect *le)
{
	struct htab_iter it;

	if (le == NULL)
		return;
	if (le->wt != NULL)
		etcdc_watch_cancel(le->wt);
	for (struct htab_node *n = htab_first(&it, &le->ips); n != NULL; n = htab_iter_next(&it)) {
		struct lbip *e = htab_item(n, struct lbip, hn);

		drop(le, e);
		htab_remove(&le->ips, &e->hn);
		free(e);
	}
	if (le->retry != NULL)
		event_free(le->retry);
	htab_deinit(&le->ips);
	free(le);
}

size_t
lbelect_held(const struct lbelect *le)
{
	struct htab_iter it;
	size_t n = 0;

	for (struct htab_node *h = htab_first(&it, &le->ips); h != NULL; h = htab_iter_next(&it))
		n += htab_item(h, struct lbip, hn)->held;
	return n;
}

void
lbelect_metrics(const struct lbelect *le, char *buf, size_t size)
{
	struct htab_iter it;
	size_t at = 0;

	buf[0] = '\0';
	for (struct htab_node *h = htab_first(&it, &le->ips); h != NULL; h = htab_iter_next(&it)) {
		const struct lbip *e = htab_item(h, struct lbip, hn);
		int n = snprintf(buf + at, size - at,
		                 "svcfwd_lb_address_held{address=\"%s\",holder=\"%s\"} %d\n",
		                 e->text, e->holder, e->held ? 1 : 0);

		if (n < 0 || (size_t)n >= size - at) {
			buf[at] = '\0'; /* cut at a line */
			break;
		}
		at += (size_t)n;
	}
}
