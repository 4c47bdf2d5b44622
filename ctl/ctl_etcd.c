/* ctl_etcd.c -- svcctl over etcd (ctl_etcd.h): the client's calls made one at a time on a loop
 * of our own, each waited for. */
#include "ctl_etcd.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcdc.h"
#include "store.h"

#define PAGE 10000
/* etcd's --max-txn-ops is 128 by default. */
#define TXN_MAX_OPS 120

struct ctl_etcd {
	struct event_base *base;
	struct etcdc *c;
	char prefix[ETCDOBJ_KEY_MAX];
	/* The call waited for. */
	bool done;
	enum svc_status st;
	json_t *resp;
	char why[512];
};

const char *
ctl_etcd_prefix(const struct ctl_etcd *e)
{
	return e->prefix;
}

int
ctl_etcd_open(const struct ctl *ctl, struct ctl_etcd **out)
{
	struct ctl_etcd *e = calloc(1, sizeof(*e));
	struct etcdc_tls tls = {ctl->etcd.cacert, ctl->etcd.cert, ctl->etcd.key};
	char err[512] = "";

	*out = NULL;
	if (e == NULL || (e->base = event_base_new()) == NULL) {
		fprintf(stderr, "error: out of memory\n");
		free(e);
		return -1;
	}
	snprintf(e->prefix, sizeof(e->prefix), "%s", ctl->etcd.prefix);
	while (strlen(e->prefix) > 1 && e->prefix[strlen(e->prefix) - 1] == '/')
		e->prefix[strlen(e->prefix) - 1] = '\0';
	if (etcdc_create_tls(e->base, ctl->etcd.urls, &tls, err, sizeof(err), &e->c) != SVC_OK) {
		fprintf(stderr, "error: --etcd %s: %s\n", ctl->etcd.urls, err);
		ctl_etcd_close(e);
		return -1;
	}
	*out = e;
	return 0;
}

void
ctl_etcd_close(struct ctl_etcd *e)
{
	if (e == NULL)
		return;
	etcdc_destroy(e->c);
	json_decref(e->resp);
	event_base_free(e->base);
	free(e);
}

static void
on_call(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct ctl_etcd *e = arg;

	e->done = true;
	e->st = st;
	e->resp = resp != NULL ? json_incref((json_t *)resp) : NULL;
	snprintf(e->why, sizeof(e->why), "%s", why ? why : "");
	event_base_loopbreak(e->base);
}

/* POST BODY to PATH and wait: the response (the caller's), or NULL with the reason printed. */
static json_t *
call(struct ctl_etcd *e, const char *path, json_t *body)
{
	json_decref(e->resp);
	e->resp = NULL;
	e->done = false;
	if (body == NULL || etcdc_call(e->c, path, body, on_call, e) != SVC_OK) {
		fprintf(stderr, "error: out of memory\n");
		return NULL;
	}
	while (!e->done)
		event_base_loop(e->base, EVLOOP_ONCE);
	if (e->st != SVC_OK) {
		fprintf(stderr, "error: etcd: %s\n", e->why);
		return NULL;
	}
	json_t *r = e->resp;

	e->resp = NULL;
	return r;
}

int
ctl_etcd_lb_holder(struct ctl_etcd *e, const char *ip, char *out, size_t size)
{
	char key[ETCDOBJ_KEY_MAX + NETADDR_STRLEN + 16];
	struct etcdc_kv d;
	json_t *r;

	out[0] = '\0';
	snprintf(key, sizeof(key), "%s/lbholders/%s", e->prefix, ip);
	r = call(e, "/v3/kv/range", json_pack("{s:o}", "key", etcdc_bytes(key, strlen(key))));
	if (r == NULL)
		return -1;
	if (etcdc_kv_decode(json_array_get(json_object_get(r, "kvs"), 0), &d) == SVC_OK) {
		snprintf(out, size, "%.*s", (int)d.value_len, (const char *)d.value);
		etcdc_kv_free(&d);
	}
	json_decref(r);
	return 0;
}

/* The body of a range of the one key KEY. */
static json_t *
key_body(const char *key)
{
	return json_pack("{s:o}", "key", etcdc_bytes(key, strlen(key)));
}

static int64_t
header_revision(const json_t *resp)
{
	int64_t rev = 0;

	(void)etcdc_int(json_object_get(resp, "header"), "revision", &rev);
	return rev;
}

/* ---- settings ---- */

int
ctl_etcd_config(struct ctl_etcd *e, struct ctl *ctl, bool write)
{
	char key[ETCDOBJ_KEY_MAX + 8], err[512];
	struct etcdobj_config flags = {.cfg = ctl->cfg}, stored;
	int tries, rc = -1;

	snprintf(key, sizeof(key), "%s/config", e->prefix);
	snprintf(flags.domain, sizeof(flags.domain), "%s", ctl->domain);
	/* In etcd every node keeps a lease: a node without one is NotReady. */
	ctl->cfg.node_leases = flags.cfg.node_leases = true;
	for (tries = 0; tries < 3; tries++) {
		json_t *r = call(e, "/v3/kv/range", key_body(key));
		const json_t *kv;
		struct etcdc_kv d = {0};
		char *value;

		if (r == NULL)
			return -1;
		kv = json_array_get(json_object_get(r, "kvs"), 0);
		if (kv != NULL) {
			if (etcdc_kv_decode(kv, &d) != SVC_OK ||
			    etcdobj_config_parse(d.value, d.value_len, &stored, err, sizeof(err)) !=
			            SVC_OK) {
				fprintf(stderr, "error: %s: %s\n", key,
				        d.key ? err : "not etcd's answer");
			} else if (etcdobj_config_differs(&flags, &stored, err, sizeof(err))) {
				fprintf(stderr, "error: %s: %s\n", key, err);
			} else {
				etcdobj_config_merge(&flags, &stored);
				ctl->cfg = flags.cfg;
				rc = 0;
			}
			etcdc_kv_free(&d);
			json_decref(r);
			return rc;
		}
		json_decref(r);
		if (!write)
			return 0; /* nobody wrote any yet: the flags (defaults) hold */
		/* The first writer puts the settings, if still nobody has. */
		value = etcdobj_config_dump(&flags);
		if (value == NULL) {
			fprintf(stderr, "error: out of memory\n");
			return -1;
		}
		struct ctl_etcd_write w = {
		        .kind = CLUSTER_KIND_NAMESPACE, .value = value, .len = strlen(value)};
		json_t *cmp =
		        json_pack("[{s:o, s:s, s:s, s:i}]", "key", etcdc_bytes(key, strlen(key)),
		                  "target", "MOD", "result", "EQUAL", "mod_revision", 0);
		json_t *put = json_pack("[{s:{s:o, s:o}}]", "request_put", "key",
		                        etcdc_bytes(key, strlen(key)), "value",
		                        etcdc_bytes(value, w.len));
		json_t *b = json_pack("{s:o, s:o}", "compare", cmp, "success", put);

		free(value);
		r = call(e, "/v3/kv/txn", b);
		if (r == NULL)
			return -1;
		if (json_is_true(json_object_get(r, "succeeded"))) {
			json_decref(r);
			return 0;
		}
		json_decref(r); /* another writer was first: read what it put */
	}
	fprintf(stderr, "error: %s: changing under us\n", key);
	return -1;
}

/* ---- reading ---- */

struct loader {
	struct ctl_etcd *e;
	struct cluster_objects *raw;
	struct store *s;
	struct diag d;
	int64_t rev;
};

/* One key: into the store (checked alone, as a daemon does) and into RAW unless invalid. */
static void
load_kv(struct loader *l, const struct etcdc_kv *kv)
{
	char ns[ETCDOBJ_KEY_MAX], name[ETCDOBJ_KEY_MAX];
	enum cluster_kind kind;
	const char *key = (const char *)kv->key;
	struct cluster_objects one;
	struct diag quiet; /* what RAW's copy would say twice */
	enum svc_status st;

	if (strlen(key) != kv->key_len ||
	    etcdobj_key_parse(l->e->prefix, key, kv->key_len, &kind, ns, name) != ETCDOBJ_OBJECT) {
		diag_add(&l->d, DIAG_WARNING, strlen(key) == kv->key_len ? key : "(a key)", 0, 0,
		         NULL, "not a key of an object: ignored");
		return;
	}
	cluster_objects_init(&one);
	st = etcdobj_decode(l->e->prefix, key, kv->value, kv->value_len, kv->mod_revision, &one,
	                    &l->d);
	st = store_put(l->s, key, &one, &l->d, st != SVC_OK);
	cluster_objects_deinit(&one);
	if (l->raw == NULL || st != SVC_OK)
		return;
	diag_init(&quiet);
	(void)etcdobj_decode(l->e->prefix, key, kv->value, kv->value_len, kv->mod_revision, l->raw,
	                     &quiet);
	diag_deinit(&quiet);
}

/* Every key under PREFIX at L->rev (0: now, which L->rev then becomes). */
static int
load_range(struct loader *l, const char *prefix)
{
	uint8_t *from = NULL;
	size_t from_len = 0;
	int rc = -1;

	for (;;) {
		json_t *r = call(l->e, "/v3/kv/range",
		                 etcdc_range_body(prefix, from, from_len, l->rev, PAGE));
		const json_t *kv;
		struct etcdc_kv last = {0};
		size_t i;

		if (r == NULL)
			break;
		if (l->rev == 0)
			l->rev = header_revision(r);
		json_array_foreach(json_object_get(r, "kvs"), i, kv)
		{
			struct etcdc_kv d;

			if (etcdc_kv_decode(kv, &d) != SVC_OK)
				continue;
			load_kv(l, &d);
			etcdc_kv_free(&last);
			last = d;
		}
		free(from);
		from = NULL;
		if (!json_is_true(json_object_get(r, "more")) || last.key == NULL) {
			etcdc_kv_free(&last);
			json_decref(r);
			rc = 0;
			break;
		}
		/* The next page starts just after the last key. */
		from = calloc(1, last.key_len + 1);
		if (from == NULL) {
			etcdc_kv_free(&last);
			json_decref(r);
			break;
		}
		memcpy(from, last.key, last.key_len);
		from_len = last.key_len + 1;
		etcdc_kv_free(&last);
		json_decref(r);
	}
	free(from);
	return rc;
}

int
ctl_etcd_load(struct ctl_etcd *e, const struct ctl *ctl, int kind, const char *ns,
              struct cluster_objects *raw, struct cluster **snap, size_t *errors)
{
	struct loader l = {.e = e, .raw = raw};
	char prefix[ETCDOBJ_KEY_MAX];
	int rc = -1;

	*errors = 0;
	if (snap != NULL)
		*snap = NULL;
	diag_init(&l.d);
	if (store_create(&ctl->cfg, &l.s) != SVC_OK) {
		fprintf(stderr, "error: out of memory\n");
		goto done;
	}
	for (int k = 0; k < CLUSTER_KIND_COUNT; k++) {
		/* A pod's readiness depends on its PodStatus and its node, a node's status on
		 * its lease. */
		bool scoped = ((kind == CLUSTER_KIND_POD || kind == CLUSTER_KIND_NODE) &&
		               (k == CLUSTER_KIND_NODE || k == CLUSTER_KIND_LEASE)) ||
		              (kind == CLUSTER_KIND_POD && k == CLUSTER_KIND_PODSTATUS);

		if (kind >= 0 && k != kind && !scoped)
			continue;
		if (!etcdobj_range(e->prefix, k, ns, prefix) || load_range(&l, prefix) != 0)
			goto done;
	}
	if (snap != NULL && store_snapshot(l.s, &l.d, snap) != SVC_OK) {
		fprintf(stderr, "error: out of memory\n");
		goto done;
	}
	rc = 0;
done:
	diag_sort(&l.d);
	diag_print(&l.d, stderr);
	*errors = l.d.errors;
	store_destroy(l.s);
	diag_deinit(&l.d);
	return rc;
}

/* ---- writing ---- */

static json_t *
op_put(const char *key, const void *value, size_t len)
{
	return json_pack("{s:{s:o, s:o}}", "request_put", "key", etcdc_bytes(key, strlen(key)),
	                 "value", etcdc_bytes(value, len));
}

static json_t *
op_delete(const char *key)
{
	return json_pack("{s:{s:o}}", "request_delete_range", "key", etcdc_bytes(key, strlen(key)));
}

static json_t *
op_range(const char *key)
{
	return json_pack("{s:{s:o}}", "request_range", "key", etcdc_bytes(key, strlen(key)));
}

static json_t *
cmp_rev(const char *key, int64_t rev)
{
	return json_pack("{s:o, s:s, s:s, s:I}", "key", etcdc_bytes(key, strlen(key)), "target",
	                 "MOD", "result", "EQUAL", "mod_revision", (json_int_t)rev);
}

static size_t
ops_of(const struct ctl_etcd_write *w)
{
	return 1 + w->n_claims + w->n_release;
}

/* Writes W[0..N) in one transaction; its failure branch reads every compared key back. 1 when
 * it succeeded, 0 when a compare failed (with N == 1: W's result says which), -1 when etcd
 * cannot be reached. */
static int
txn(struct ctl_etcd *e, struct ctl_etcd_write *w, size_t n)
{
	json_t *cmp = json_array(), *ok = json_array(), *fail = json_array(), *b, *r;
	char key[ETCDOBJ_KEY_MAX];
	char holder[ETCDOBJ_KEY_MAX];
	size_t i, k;
	int rc = -1;

	for (i = 0; i < n; i++) {
		if (!etcdobj_key(e->prefix, w[i].kind, w[i].ns, w[i].name, key))
			continue;
		json_array_append_new(cmp, cmp_rev(key, w[i].expect_rev));
		json_array_append_new(fail, op_range(key));
		json_array_append_new(ok, w[i].value ? op_put(key, w[i].value, w[i].len)
		                                     : op_delete(key));
		etcdobj_claim_holder(w[i].ns, w[i].name, holder, sizeof(holder));
		for (k = 0; k < w[i].n_claims; k++) {
			json_array_append_new(cmp, cmp_rev(w[i].claims[k], 0));
			json_array_append_new(fail, op_range(w[i].claims[k]));
			json_array_append_new(ok, op_put(w[i].claims[k], holder, strlen(holder)));
		}
		for (k = 0; k < w[i].n_release; k++)
			json_array_append_new(ok, op_delete(w[i].release[k]));
	}
	b = json_pack("{s:o, s:o, s:o}", "compare", cmp, "success", ok, "failure", fail);
	r = call(e, "/v3/kv/txn", b);
	if (r == NULL)
		return -1;
	if (json_is_true(json_object_get(r, "succeeded"))) {
		rc = 1;
	} else {
		rc = 0;
		if (n == 1) {
			/* Which compare failed: the object's first, then its claims. */
			const json_t *resps = json_object_get(r, "responses");
			const json_t *kvs = json_object_get(
			        json_object_get(json_array_get(resps, 0), "response_range"), "kvs");
			int64_t found = 0;

			(void)etcdc_int(json_array_get(kvs, 0), "mod_revision", &found);
			w->found_rev = found;
			w->result = found != w->expect_rev ? CTL_ETCD_CHANGED : CTL_ETCD_CLAIMED;
		}
	}
	json_decref(r);
	return rc;
}

int
ctl_etcd_commit(struct ctl_etcd *e, struct ctl_etcd_write *w, size_t n)
{
	size_t i = 0, j, ops;

	while (i < n) {
		int r;

		for (j = i, ops = 0; j < n && (j == i || ops + ops_of(&w[j]) <= TXN_MAX_OPS); j++)
			ops += ops_of(&w[j]);
		r = txn(e, &w[i], j - i);
		if (r < 0) {
			for (; i < n; i++)
				w[i].result = CTL_ETCD_FAILED;
			return -1;
		}
		if (r == 1) {
			for (; i < j; i++)
				w[i].result = CTL_ETCD_DONE;
			continue;
		}
		if (j - i == 1) {
			i++; /* its result says why */
			continue;
		}
		/* One of them failed: each alone, for its own result. */
		for (; i < j; i++) {
			r = txn(e, &w[i], 1);
			if (r < 0)
				return -1;
			if (r == 1)
				w[i].result = CTL_ETCD_DONE;
		}
	}
	return 0;
}
