/* etcdwatch.c -- the cluster from etcd (etcdwatch.h), on the builder thread's loop.
 *
 * One step at a time: read <prefix>/config, list each resource (pages of PAGE keys, all at the
 * revision the config was read at), snapshot, then one watch stream over the whole prefix from
 * the next revision. Only one call is in flight, so a step never meets the answer of an older
 * one. Keys are grouped into store units (etcdgroups.h), which keep each key's mod_revision:
 * listing again parses only what changed and deletes the keys it did not meet. */
#include "etcdwatch.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcdc.h"
#include "etcdgroups.h"
#include "etcdrange.h"
#include "store.h"

/* etcd 3.4 counts every key left in the range for each page: large pages are cheaper. But
 * nothing is parsed until the first comes: a list starts with small pages, doubled after each. */
#define PAGE_DEFAULT   20000
#define PAGE_FIRST     500
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000

enum phase {
	P_IDLE,
	P_CONFIG,
	P_LIST,
	P_WATCH,
	P_WAIT, /* for the retry timer */
};

struct etcdwatch {
	struct event_base *base;
	struct etcdc *c;
	char prefix[ETCDOBJ_KEY_MAX];
	struct etcdwatch_opts o;
	struct daemon_store own_status; /* when the caller gives none */
	struct daemon_store *status;
	watch_cb cb;
	void *arg;
	struct store *store;
	struct etcdgroups *groups; /* over STORE */
	struct etcdobj_config cur; /* what STORE was made with */
	enum phase phase;
	bool busy;      /* a unary call is in flight */
	bool want_list; /* list again at the next step (SIGHUP, compaction, new settings) */
	bool listed;    /* a first snapshot was made */
	bool sweep;     /* the list under way follows an earlier one: mark and sweep */
	int64_t list_rev;
	int list_kind;
	/* Keys asked for per page: doubled after each page up to CAP. A page that failed (its
	 * answer may have been over ETCDC_MAX_BODY: a few large values) halves CAP for the lists
	 * after it; each list that completes doubles it back, up to the configured size. */
	uint32_t page, cap;
	uint8_t *list_next; /* the next page's first key; NULL: the kind's start */
	size_t list_next_len;
	/* A page received, parsed from the loop once the next page's request is on its way (a
	 * request made in a response's callback is written only when the loop polls again). */
	struct etcdrange held;
	bool holding;
	bool held_last; /* the list's last page */
	struct event *held_ev;
	int64_t rev; /* the last revision applied */
	struct etcdc_watch *wt;
	struct event *retry_ev, *debounce_ev;
	unsigned backoff_ms;
	struct diag diag; /* problems since the last snapshot */
	uint64_t generation;
	char said[512]; /* the last problem logged, so a retry loop logs it once */
};

static void step(struct etcdwatch *w);

static void
set_state(struct etcdwatch *w, enum daemon_store_state s)
{
	atomic_store(&w->status->state, (int)s);
}

/* Log WHY once until something else is said. */
static void
say(struct etcdwatch *w, enum log_level l, const char *why)
{
	if (strcmp(w->said, why) == 0)
		return;
	snprintf(w->said, sizeof(w->said), "%.*s", (int)sizeof(w->said) - 1, why);
	log_msg(l, "etcd %s: %s", w->prefix, why);
}

static void
arm(struct event *ev, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	evtimer_add(ev, &tv);
}

static void
retry_later(struct etcdwatch *w, const char *why)
{
	char msg[700];

	w->phase = P_WAIT;
	set_state(w, w->listed ? DAEMON_STORE_DOWN : DAEMON_STORE_CONNECTING);
	snprintf(msg, sizeof(msg), "%.400s; %s", why,
	         w->listed ? "serving the last state, trying again" : "not ready, trying again");
	say(w, LL_WARN, msg);
	arm(w->retry_ev, w->backoff_ms);
	w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	step(arg);
}

static void
publish(struct etcdwatch *w)
{
	struct cluster *c = NULL;

	evtimer_del(w->debounce_ev);
	if (store_snapshot(w->store, &w->diag, &c) == SVC_OK && c != NULL) {
		c->files_in_error = store_failing(w->store); /* not shared yet */
		c->generation = ++w->generation;
		c->revision = w->rev;
	}
	atomic_store(&w->status->invalid, store_failing(w->store));
	diag_sort(&w->diag);
	w->cb(c, &w->diag, w->arg);
	diag_deinit(&w->diag);
	diag_init(&w->diag);
}

static void
on_debounce(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	publish(arg);
}

static void
changed(struct etcdwatch *w)
{
	atomic_store(&w->status->last_update_ms, now_ms());
	if (w->listed && !evtimer_pending(w->debounce_ev, NULL))
		arm(w->debounce_ev, w->o.debounce_ms);
}

/* ---- objects ---- */

/* Key KEY (KEY_LEN bytes, a NUL after them) put (or listed) with VALUE at revision REV.
 * LISTING: a skip when the groups hold this very revision, and the mark of the sweep. */
static void
apply_put(struct etcdwatch *w, const uint8_t *key_bytes, size_t key_len, const uint8_t *value,
          size_t value_len, int64_t rev, bool listing)
{
	char ns[ETCDOBJ_KEY_MAX], name[ETCDOBJ_KEY_MAX];
	enum cluster_kind kind;
	const char *key = (const char *)key_bytes;

	if (strlen(key) != key_len ||
	    etcdobj_key_parse(w->prefix, key, key_len, &kind, ns, name) != ETCDOBJ_OBJECT) {
		if (key_len > 0 && strlen(key) == key_len &&
		    etcdobj_key_parse(w->prefix, key, key_len, &kind, ns, name) != ETCDOBJ_UNKNOWN)
			return; /* the settings and the claims are read elsewhere */
		diag_add(&w->diag, DIAG_WARNING, strlen(key) == key_len ? key : "(a key)", 0, 0,
		         NULL, "not a key of an object (%s/<resource>/<namespace>/<name>): ignored",
		         w->prefix);
		return;
	}
	if (listing && etcdgroups_rev(w->groups, key, w->sweep) == (uint64_t)rev)
		return;
	if (etcdgroups_put(w->groups, key, value, value_len, (uint64_t)rev, listing && w->sweep,
	                   &w->diag) == SVC_ENOMEM) {
		diag_add(&w->diag, DIAG_ERROR, key, 0, 0, NULL, "out of memory");
		w->want_list = true; /* it is not in the store: read it all again */
	}
}

static void
apply_delete(struct etcdwatch *w, const struct etcdc_kv *kv)
{
	char ns[ETCDOBJ_KEY_MAX], name[ETCDOBJ_KEY_MAX];
	enum cluster_kind kind;
	const char *key = (const char *)kv->key;

	if (strlen(key) == kv->key_len &&
	    etcdobj_key_parse(w->prefix, key, kv->key_len, &kind, ns, name) == ETCDOBJ_OBJECT &&
	    etcdgroups_delete(w->groups, key) != SVC_OK)
		w->want_list = true;
}

/* The changes so far into the store. */
static void
flush(struct etcdwatch *w)
{
	if (etcdgroups_flush(w->groups, &w->diag) != SVC_OK) {
		diag_add(&w->diag, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
		w->want_list = true;
	}
}

/* ---- the steps ---- */

static bool
is_compacted(const char *why)
{
	return why != NULL && strstr(why, "compacted") != NULL;
}

static int64_t
header_revision(const json_t *resp)
{
	int64_t rev = 0;

	(void)etcdc_int(json_object_get(resp, "header"), "revision", &rev);
	return rev;
}

static void on_list(void *arg, enum svc_status st, char *body, size_t len, const char *why);

static void
call(struct etcdwatch *w, const char *path, json_t *body, etcdc_cb cb)
{
	if (body == NULL || etcdc_call(w->c, path, body, cb, w) != SVC_OK) {
		retry_later(w, "out of memory");
		return;
	}
	w->busy = true;
}

static void
list_page(struct etcdwatch *w)
{
	char prefix[ETCDOBJ_KEY_MAX];

	w->phase = P_LIST;
	set_state(w, w->listed ? atomic_load(&w->status->state) : DAEMON_STORE_LISTING);
	if (!etcdobj_range(w->prefix, w->list_kind, NULL, prefix)) {
		retry_later(w, "the prefix is too long");
		return;
	}
	if (etcdc_call_raw(
	            w->c, "/v3/kv/range",
	            etcdc_range_body(prefix, w->list_next, w->list_next_len, w->list_rev, w->page),
	            on_list, w) != SVC_OK) {
		retry_later(w, "out of memory");
		return;
	}
	w->busy = true;
}

static void on_watch(void *arg, enum svc_status st, const json_t *result, const char *why);

static void
watch_start(struct etcdwatch *w)
{
	char prefix[ETCDOBJ_KEY_MAX + 1];
	json_t *b;

	w->phase = P_WATCH;
	snprintf(prefix, sizeof(prefix), "%s/", w->prefix);
	b = etcdc_range_body(prefix, NULL, 0, 0, 0);
	if (b != NULL) {
		json_object_set_new(b, "start_revision", json_integer(w->rev + 1));
		json_object_set_new(b, "progress_notify", json_true());
	}
	if (b == NULL || etcdc_watch(w->c, b, on_watch, w, &w->wt) != SVC_OK) {
		w->wt = NULL;
		retry_later(w, "out of memory");
	}
}

static void
list_done(struct etcdwatch *w)
{
	if (w->cap < w->o.page)
		w->cap = w->cap * 2 > w->o.page ? w->o.page : w->cap * 2;
	w->want_list = false;
	flush(w);
	/* The keys the list did not meet were deleted while nobody watched. */
	if (w->sweep && etcdgroups_sweep(w->groups) != SVC_OK)
		w->want_list = true;
	flush(w);
	w->rev = w->list_rev;
	atomic_store(&w->status->revision, w->rev);
	atomic_store(&w->status->last_update_ms, now_ms());
	w->listed = true;
	publish(w);
	watch_start(w);
}

/* The page held: its keys into the store; after the last page, the snapshot. */
static void
parse_held(struct etcdwatch *w)
{
	struct etcdrange page = w->held;
	bool last = w->held_last;

	w->holding = false;
	memset(&w->held, 0, sizeof(w->held));
	for (size_t i = 0; i < page.n_kvs; i++) {
		const struct etcdrange_kv *kv = &page.kvs[i];

		if (kv->bad) {
			diag_add(&w->diag, DIAG_ERROR, NULL, 0, 0, NULL,
			         "etcd listed a key that is not etcd's JSON");
			continue;
		}
		apply_put(w, kv->key, kv->key_len, kv->value, kv->value_len, kv->mod_revision,
		          true);
	}
	etcdrange_free(&page);
	flush(w);
	if (last)
		list_done(w);
}

static void
on_held(evutil_socket_t fd, short what, void *arg)
{
	struct etcdwatch *w = arg;
	(void)fd;
	(void)what;

	if (w->holding)
		parse_held(w);
}

static void
on_list(void *arg, enum svc_status st, char *body, size_t len, const char *why)
{
	struct etcdwatch *w = arg;
	struct etcdrange page;
	const struct etcdrange_kv *last;
	char err[512];
	bool done = false;

	w->busy = false;
	if (st == SVC_OK) {
		st = etcdrange_read(body, len, &page, err, sizeof(err));
		why = err;
		free(body);
	}
	if (st != SVC_OK) {
		w->cap = w->page > 1 ? w->page / 2 : 1;
		/* From the settings again (a compacted revision: at a newer one). */
		w->want_list = w->listed;
		retry_later(w, why ? why : "listing failed");
		return;
	}
	last = page.n_kvs > 0 ? &page.kvs[page.n_kvs - 1] : NULL;
	w->page = w->page * 2 > w->cap ? w->cap : w->page * 2;
	free(w->list_next);
	w->list_next = NULL;
	if (page.more && last != NULL && !last->bad) {
		/* The next page starts just after the last key: that key and a zero byte. */
		w->list_next = malloc(last->key_len + 1);
		if (w->list_next == NULL) {
			etcdrange_free(&page);
			retry_later(w, "out of memory");
			return;
		}
		memcpy(w->list_next, last->key, last->key_len);
		w->list_next[last->key_len] = 0;
		w->list_next_len = last->key_len + 1;
	} else if (++w->list_kind == CLUSTER_KIND_COUNT) {
		done = true;
	}
	/* Asked for now, so etcd reads the next page while this one is parsed. */
	if (!done)
		list_page(w);
	if (w->holding)
		parse_held(w);
	w->held = page;
	w->holding = true;
	w->held_last = done;
	/* Not at once: the request goes out when the loop next polls the socket, and a timer
	 * runs after that poll (an event made active now would run before it). */
	arm(w->held_ev, 1);
}

/* The settings at the start of a list: the store is made (again) when they change. */
static void
on_config(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct etcdwatch *w = arg;
	struct etcdobj_config stored, eff = w->o.flags;
	const json_t *kv = json_array_get(json_object_get(resp, "kvs"), 0);
	char err[512], msg[700];
	struct etcdc_kv d = {0};

	w->busy = false;
	w->want_list = w->listed; /* until this list is done, a retry starts from here */
	if (st != SVC_OK) {
		retry_later(w, why ? why : "reading the settings failed");
		return;
	}
	w->list_rev = header_revision(resp);
	if (kv != NULL) {
		if (etcdc_kv_decode(kv, &d) != SVC_OK ||
		    etcdobj_config_parse(d.value, d.value_len, &stored, err, sizeof(err)) !=
		            SVC_OK) {
			snprintf(msg, sizeof(msg), "%.100s/config: %.400s", w->prefix,
			         d.key ? err : "not etcd's answer");
			etcdc_kv_free(&d);
			set_state(w, DAEMON_STORE_CONFIG);
			say(w, LL_ERROR, msg);
			w->phase = P_WAIT;
			arm(w->retry_ev, BACKOFF_MAX_MS);
			return;
		}
		etcdc_kv_free(&d);
		/* A daemon without a cluster domain of its own (svcfwd) takes any. */
		if (eff.domain[0] == '\0')
			snprintf(eff.domain, sizeof(eff.domain), "%s", stored.domain);
		if (etcdobj_config_differs(&eff, &stored, err, sizeof(err)) ||
		    (w->o.flags.domain[0] != '\0' && strcmp(w->o.flags.domain, stored.domain))) {
			if (w->o.flags.domain[0] != '\0' &&
			    strcmp(w->o.flags.domain, stored.domain))
				snprintf(
				        err, sizeof(err),
				        "clusterDomain \"%.200s\" (flag) is not \"%.200s\" (etcd's "
				        "config)",
				        w->o.flags.domain, stored.domain);
			snprintf(msg, sizeof(msg), "%.100s/config: %.400s; %s", w->prefix, err,
			         w->listed ? "serving the last state" : "not ready");
			set_state(w, DAEMON_STORE_CONFIG);
			say(w, LL_ERROR, msg);
			/* Until the settings are put right: read them again now and then. */
			w->phase = P_WAIT;
			arm(w->retry_ev, BACKOFF_MAX_MS);
			return;
		}
		etcdobj_config_merge(&eff, &stored);
	}
	if (w->store != NULL && memcmp(&eff.cfg, &w->cur.cfg, sizeof(eff.cfg)) != 0) {
		/* Other ranges: every allocation and check is made again, from a new store. */
		log_msg(LL_INFO, "etcd %s: the cluster settings changed; reading everything again",
		        w->prefix);
		etcdgroups_destroy(w->groups);
		store_destroy(w->store);
		w->groups = NULL;
		w->store = NULL;
	}
	if (w->store == NULL) {
		w->cur = eff;
		if (store_create(&eff.cfg, &w->store) != SVC_OK ||
		    etcdgroups_create(w->store, w->prefix, w->o.group, &w->groups) != SVC_OK) {
			etcdgroups_destroy(w->groups);
			store_destroy(w->store);
			w->groups = NULL;
			w->store = NULL;
			retry_later(w, "out of memory");
			return;
		}
		w->sweep = false;
	} else {
		w->sweep = true;
		etcdgroups_unmark(w->groups);
	}
	w->list_kind = 0;
	free(w->list_next);
	w->list_next = NULL;
	w->page = w->cap < PAGE_FIRST ? w->cap : PAGE_FIRST;
	list_page(w);
}

static void
config_read(struct etcdwatch *w)
{
	char key[ETCDOBJ_KEY_MAX + 8];

	w->phase = P_CONFIG;
	snprintf(key, sizeof(key), "%s/config", w->prefix);
	call(w, "/v3/kv/range", json_pack("{s:o}", "key", etcdc_bytes(key, strlen(key))),
	     on_config);
}

/* Where to go from here: list (first, again) or watch from the last revision. */
static void
step(struct etcdwatch *w)
{
	if (w->busy || w->phase == P_CONFIG || w->phase == P_LIST)
		return; /* the call under way decides */
	evtimer_del(w->retry_ev);
	if (w->wt != NULL) {
		if (!w->want_list)
			return; /* watching */
		etcdc_watch_cancel(w->wt);
		w->wt = NULL;
	}
	if (!w->listed || w->want_list) {
		if (w->listed)
			atomic_fetch_add(&w->status->relists, 1);
		config_read(w);
	} else {
		atomic_fetch_add(&w->status->reconnects, 1);
		watch_start(w);
	}
}

static void
on_watch(void *arg, enum svc_status st, const json_t *result, const char *why)
{
	struct etcdwatch *w = arg;
	const json_t *events, *ev;
	int64_t compact = 0, rev;
	size_t i;
	bool any = false, config = false;

	if (st != SVC_OK) {
		w->wt = NULL; /* it frees itself */
		if (is_compacted(why))
			w->want_list = true;
		retry_later(w, why ? why : "the watch ended");
		return;
	}
	if (json_is_true(json_object_get(result, "created"))) {
		set_state(w, DAEMON_STORE_WATCHING);
		w->backoff_ms = BACKOFF_MIN_MS;
		if (w->said[0] != '\0')
			log_msg(LL_INFO, "etcd %s: following changes from revision %lld", w->prefix,
			        (long long)w->rev + 1);
		w->said[0] = '\0';
	}
	(void)etcdc_int(result, "compact_revision", &compact);
	if (json_is_true(json_object_get(result, "canceled")) || compact > 0) {
		etcdc_watch_cancel(w->wt);
		w->wt = NULL;
		if (compact > 0) {
			/* Changes we never saw are gone from etcd's history. */
			log_msg(LL_WARN,
			        "etcd %s: history from revision %lld was compacted (etcd keeps it "
			        "from %lld); listing again",
			        w->prefix, (long long)w->rev + 1, (long long)compact);
			w->want_list = true;
			step(w);
		} else {
			retry_later(w, "etcd canceled the watch");
		}
		return;
	}
	events = json_object_get(result, "events");
	json_array_foreach(events, i, ev)
	{
		const char *type = json_string_value(json_object_get(ev, "type"));
		struct etcdc_kv kv;
		char ns[ETCDOBJ_KEY_MAX], name[ETCDOBJ_KEY_MAX];
		enum cluster_kind kind;

		if (etcdc_kv_decode(json_object_get(ev, "kv"), &kv) != SVC_OK)
			continue;
		if (kv.key_len == strlen((const char *)kv.key) &&
		    etcdobj_key_parse(w->prefix, (const char *)kv.key, kv.key_len, &kind, ns,
		                      name) == ETCDOBJ_CONFIG)
			config = true;
		else if (type != NULL && !strcmp(type, "DELETE"))
			apply_delete(w, &kv);
		else
			apply_put(w, kv.key, kv.key_len, kv.value, kv.value_len, kv.mod_revision,
			          false);
		if (kv.mod_revision > w->rev)
			w->rev = kv.mod_revision;
		etcdc_kv_free(&kv);
		any = true;
	}
	rev = header_revision(result);
	/* A progress notice (no events, not the creation, whose header is merely the current
	 * revision): nothing before it is left to come. */
	if (rev > w->rev && json_array_size(events) == 0 &&
	    !json_is_true(json_object_get(result, "created")))
		w->rev = rev;
	atomic_store(&w->status->revision, w->rev);
	flush(w);
	if (any)
		changed(w);
	if (config || w->want_list) {
		/* New settings (or a change memory could not take): read them, list again. */
		w->want_list = true;
		if (w->diag.n > 0)
			publish(w);
		step(w);
	}
}

enum svc_status
etcdwatch_create(struct event_base *base, const struct etcdwatch_opts *o, watch_cb cb, void *arg,
                 struct etcdwatch **out)
{
	struct etcdwatch *w = calloc(1, sizeof(*w));
	struct etcdc_tls tls;
	char err[512];
	enum svc_status st;

	*out = NULL;
	if (w == NULL)
		return SVC_ENOMEM;
	w->base = base;
	w->o = *o;
	if (w->o.page == 0)
		w->o.page = PAGE_DEFAULT;
	w->cap = w->o.page;
	w->status = o->status != NULL ? o->status : &w->own_status;
	w->cb = cb;
	w->arg = arg;
	w->backoff_ms = BACKOFF_MIN_MS;
	diag_init(&w->diag);
	snprintf(w->prefix, sizeof(w->prefix), "%s", o->etcd->prefix);
	/* "/svcdns/" and "/svcdns" are one prefix. */
	while (strlen(w->prefix) > 1 && w->prefix[strlen(w->prefix) - 1] == '/')
		w->prefix[strlen(w->prefix) - 1] = '\0';
	tls = (struct etcdc_tls){o->etcd->cacert, o->etcd->cert, o->etcd->key};
	st = etcdc_create_tls(base, o->etcd->urls, &tls, err, sizeof(err), &w->c);
	if (st != SVC_OK) {
		log_msg(LL_ERROR, "--etcd %s: %s", o->etcd->urls, err);
		goto fail;
	}
	w->retry_ev = evtimer_new(base, on_retry, w);
	w->debounce_ev = evtimer_new(base, on_debounce, w);
	w->held_ev = evtimer_new(base, on_held, w);
	if (w->retry_ev == NULL || w->debounce_ev == NULL || w->held_ev == NULL) {
		st = SVC_ENOMEM;
		goto fail;
	}
	set_state(w, DAEMON_STORE_CONNECTING);
	*out = w;
	return SVC_OK;
fail:
	etcdwatch_destroy(w);
	return st;
}

void
etcdwatch_reload(struct etcdwatch *w)
{
	if (w->listed)
		w->want_list = true;
	step(w);
}

void
etcdwatch_destroy(struct etcdwatch *w)
{
	if (w == NULL)
		return;
	if (w->wt != NULL)
		etcdc_watch_cancel(w->wt);
	etcdc_destroy(w->c); /* its calls end without their callbacks */
	if (w->retry_ev != NULL)
		event_free(w->retry_ev);
	if (w->debounce_ev != NULL)
		event_free(w->debounce_ev);
	if (w->held_ev != NULL)
		event_free(w->held_ev);
	etcdrange_free(&w->held);
	etcdgroups_destroy(w->groups);
	store_destroy(w->store);
	free(w->list_next);
	diag_deinit(&w->diag);
	free(w);
}
