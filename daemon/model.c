/* model.c -- what both daemons do with the cluster model the same way: --check (load, build the
 * daemon's own view, report, exit status) and reloads (log the problems, count, apply the fresh
 * snapshot or keep serving the last good one, say how long it took). */
#include <errno.h>
#include <event2/event.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cluster.h"

#include "builder.h"
#include "daemon.h"
#include "etcdwatch.h"

#define CHECK_ETCD_TIMEOUT_S 30

static void
on_check_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* --check with --etcd: the first snapshot of a list, as the daemon would make it. */
struct check_etcd {
	struct event_base *base;
	struct cluster *c;
	struct diag *d;
};

static void
on_check_snapshot(struct cluster *fresh, const struct diag *d, void *arg)
{
	struct check_etcd *k = arg;

	k->c = fresh;
	for (size_t i = 0; i < d->n; i++)
		diag_add(k->d, d->entries[i].level, d->entries[i].file, d->entries[i].line,
		         d->entries[i].col, d->entries[i].field, "%s", d->entries[i].message);
	event_base_loopbreak(k->base);
}

static enum svc_status
check_load_etcd(const struct daemon_etcd *etcd, const struct cluster_config *cfg,
                const char *domain, struct diag *d, struct cluster **out)
{
	struct check_etcd k = {.d = d};
	struct etcdwatch_opts eo = {.etcd = etcd, .debounce_ms = 0};
	struct etcdwatch *w = NULL;
	struct event *deadline = NULL;
	enum svc_status st = SVC_ENOMEM;

	eo.flags.cfg = *cfg;
	eo.flags.cfg.require_allocated = true;
	eo.flags.cfg.node_leases = true;
	eo.flags.cfg.skip_endpoints_view = true;
	snprintf(eo.flags.domain, sizeof(eo.flags.domain), "%s", domain ? domain : "");
	k.base = event_base_new();
	if (k.base == NULL)
		goto done;
	st = etcdwatch_create(k.base, &eo, on_check_snapshot, &k, &w);
	if (st != SVC_OK)
		goto done;
	/* What cannot be read within this is reported as it is (the log says why). */
	deadline = evtimer_new(k.base, on_check_deadline, k.base);
	if (deadline == NULL ||
	    evtimer_add(deadline, &(struct timeval){.tv_sec = CHECK_ETCD_TIMEOUT_S}) != 0) {
		st = SVC_ENOMEM;
		goto done;
	}
	etcdwatch_reload(w);
	event_base_dispatch(k.base);
	/* As cluster_load: an invalid key makes the check fail, though the rest would serve. */
	st = k.c == NULL ? SVC_EIO : d->errors > 0 ? SVC_EINVAL : SVC_OK;
	*out = k.c;
done:
	if (deadline != NULL)
		event_free(deadline);
	etcdwatch_destroy(w);
	if (k.base != NULL)
		event_base_free(k.base);
	return st;
}

int
daemon_check(const char *zones, const struct daemon_etcd *etcd, const struct cluster_config *cfg,
             const char *domain, daemon_apply_fn view, void *arg, FILE *report)
{
	struct diag d;
	struct cluster *c = NULL;
	enum svc_status st;
	char summary[512] = "", name[300];
	int rc = 1;

	diag_init(&d);
	if (etcd->urls != NULL) {
		snprintf(name, sizeof(name), "etcd %.200s%.80s", etcd->urls, etcd->prefix);
		zones = name;
		st = check_load_etcd(etcd, cfg, domain, &d, &c);
	} else {
		st = cluster_load(zones, cfg, &d, &c);
	}
	if (st == SVC_OK && c != NULL)
		st = view(arg, c, &d, summary, sizeof(summary));
	diag_sort(&d);
	diag_print(&d, stderr);
	if (st != SVC_OK || c == NULL) {
		fprintf(stderr, "%s: %s\n", zones, st != SVC_OK ? svc_status_str(st) : "invalid");
		goto done;
	}
	fprintf(report, "%s: ok: %s\n", zones, summary);
	rc = 0;
done:
	cluster_unref(c);
	diag_deinit(&d);
	return rc;
}

void
daemon_reload_init(struct daemon_reload *r, const char *zones, daemon_apply_fn apply, void *arg)
{
	r->zones = zones;
	r->apply = apply;
	r->arg = arg;
	r->deferred = false;
	atomic_store(&r->ok, 0);
	atomic_store(&r->failed, 0);
	atomic_store(&r->ready, false);
	atomic_store(&r->last_ms, 0);
	atomic_store(&r->generation, 0);
}

void
daemon_reload_applied(struct daemon_reload *r, uint64_t generation, enum svc_status st,
                      const char *summary, uint64_t ms)
{
	if (st != SVC_OK) {
		atomic_fetch_add(&r->failed, 1);
		log_msg(LL_ERROR, "%s: %s; still serving the last good model", r->zones,
		        summary[0] ? summary : svc_status_str(st));
		return;
	}
	atomic_store(&r->generation, generation);
	atomic_store(&r->last_ms, ms);
	atomic_fetch_add(&r->ok, 1);
	atomic_store(&r->ready, true);
	log_msg(LL_INFO, "model %lu: %s (%lu ms)", (unsigned long)generation, summary,
	        (unsigned long)ms);
}

void
daemon_reload_cb(struct cluster *fresh, const struct diag *d, void *arg)
{
	struct daemon_reload *r = arg;
	char summary[512] = "";
	uint64_t t0 = now_ns();
	enum svc_status st;
	struct diag vd;

	log_diag(d);
	if (fresh == NULL) {
		atomic_fetch_add(&r->failed, 1);
		log_msg(LL_ERROR, "%s: cannot be read; still serving the last model", r->zones);
		return;
	}
	atomic_store(&r->files_in_error, fresh->files_in_error);
	/* Files in error keep their last good objects (or, new, are left out): the rest of the
	 * change serves, and the reload counts as one that found errors. */
	if (d->errors > 0) {
		atomic_fetch_add(&r->failed, 1);
		log_msg(LL_ERROR, "%s: %zu errors; %s in error keep their last good objects",
		        r->zones, d->errors, r->zones == r->source ? "keys" : "files");
	}
	diag_init(&vd);
	st = r->apply(r->arg, fresh, &vd, summary, sizeof(summary));
	log_diag(&vd);
	diag_deinit(&vd);
	/* Deferred: a failure to prepare is reported here, the rest where the model is applied. */
	if (st != SVC_OK || !r->deferred)
		daemon_reload_applied(r, fresh->generation, st, summary, (now_ns() - t0) / 1000000);
	cluster_unref(fresh);
	/* Loading needs several times the model's memory for a moment; give it back. */
	malloc_trim(0);
}

bool
daemon_reload_ready(struct daemon_reload *r)
{
	return atomic_load(&r->ready);
}

enum svc_status
daemon_builder_create(const struct daemon_etcd *etcd, const char *zones, const char *status_dir,
                      const struct cluster_config *cfg, const char *domain, unsigned debounce_ms,
                      struct daemon_reload *r, struct daemon_store *status, struct builder **out)
{
	struct etcdwatch_opts eo = {.etcd = etcd, .debounce_ms = debounce_ms, .status = status};
	enum svc_status st;

	if (etcd->urls == NULL) {
		st = builder_create(zones, cfg, debounce_ms, daemon_reload_cb, r, out);
		if (st != SVC_OK)
			log_msg(LL_ERROR, "%s: cannot watch: %s", zones, strerror(errno));
		if (st == SVC_OK && status_dir != NULL &&
		    (st = builder_set_status_dir(*out, status_dir)) != SVC_OK)
			log_msg(LL_ERROR, "%s: out of memory", status_dir);
		return st;
	}
	/* In etcd svcctl allocates; a daemon never reads the Endpoints view. */
	eo.flags.cfg = *cfg;
	eo.flags.cfg.require_allocated = true;
	eo.flags.cfg.node_leases = true;
	eo.flags.cfg.skip_endpoints_view = true;
	snprintf(eo.flags.domain, sizeof(eo.flags.domain), "%s", domain ? domain : "");
	snprintf(r->source, sizeof(r->source), "etcd %s%s", etcd->urls, etcd->prefix);
	r->zones = r->source;
	return builder_create_etcd(&eo, daemon_reload_cb, r, out);
}
