/* podprobe.c -- this node's pods probed, their PodStatus written (podprobe.h). */
#include "podprobe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "etcdobj.h"
#include "fwd_probe.h"
#include "htab.h"
#include "vec.h"

#define RETRY_MS 1000
#define SWEEP_MS 1000

/* A probed pod. */
struct pentry {
	struct htab_node hn; /* in pods, by namespace and name */
	char *ns, *name;
	uint64_t sig;      /* of what its probes were made from */
	uint64_t *ids;     /* its probes (0: one that cannot run, never ready) */
	char **containers; /* the container of each */
	size_t n;
	int8_t published;    /* this node's PodStatus in etcd: -1 none, 0, 1 */
	int8_t ready;        /* what the probes say */
	bool dirty;          /* READY may differ from PUBLISHED: a write is due */
	bool seen;           /* in the last update */
	uint64_t hold_until; /* a restart's grace: PUBLISHED holds until then (ms) */
	char since[32];      /* when READY last changed */
};

/* A probe, by its id: which pod it belongs to. */
struct pprobe {
	struct htab_node hn;
	uint64_t id;
	struct pentry *e;
};

/* A change in the transaction in flight: a PodStatus put (VALUE 0 or 1) or deleted (-1). */
struct change {
	char *ns, *name;
	int8_t value;
};

struct podprobe {
	struct podprobe_opts o;
	struct fwd_prober *prober;
	struct htab pods, probes;
	uint64_t next_id;
	struct event *flush_ev, *sweep_ev;
	bool flushing; /* a transaction is in flight */
	/* PodStatus keys to delete (namespace and name), not yet in a transaction. */
	struct change *deletes;
	size_t n_deletes, cap_deletes;
	struct change *sent; /* the transaction in flight */
	size_t n_sent, cap_sent;
	uint64_t writes, failures;
	/* Pods whose probes all pass, and pods in a restart's grace: kept as they change, so
	 * neither /metrics nor the sweep walks 10,000 entries a second. */
	size_t n_ready, n_held;
};

static uint32_t
pod_hash(const char *ns, const char *name)
{
	return htab_hash_str(name, htab_hash_str(ns, 0));
}

static struct pentry *
pod_find(const struct podprobe *pp, const char *ns, const char *name)
{
	uint32_t h = pod_hash(ns, name);

	for (struct htab_node *n = htab_find(&pp->pods, h); n != NULL; n = htab_next(n, h)) {
		struct pentry *e = htab_item(n, struct pentry, hn);

		if (!strcmp(e->ns, ns) && !strcmp(e->name, name))
			return e;
	}
	return NULL;
}

static struct pprobe *
probe_find(const struct podprobe *pp, uint64_t id)
{
	uint32_t h = htab_hash_u64(id);

	for (struct htab_node *n = htab_find(&pp->probes, h); n != NULL; n = htab_next(n, h)) {
		struct pprobe *p = htab_item(n, struct pprobe, hn);

		if (p->id == id)
			return p;
	}
	return NULL;
}

static void
arm(struct event *ev, unsigned ms)
{
	if (!evtimer_pending(ev, NULL))
		timer_arm_ms(ev, ms);
}

/* E's readiness from its probes; a change is recorded and a write scheduled. */
static void
recompute(struct podprobe *pp, struct pentry *e)
{
	int8_t ready = 1;

	for (size_t k = 0; k < e->n && ready; k++)
		ready = e->ids[k] != 0 && fwd_probe_state(pp->prober, e->ids[k]) == 1;
	if (ready != e->ready) {
		pp->n_ready = pp->n_ready - (e->ready == 1) + (ready == 1);
		e->ready = ready;
		wall_rfc3339(e->since, sizeof(e->since));
	}
	if (e->ready != e->published && !e->dirty) {
		e->dirty = true;
		arm(pp->flush_ev, PODPROBE_FLUSH_MS);
	}
}

static void
on_probe(void *arg, uint64_t id, bool ready)
{
	struct podprobe *pp = arg;
	struct pprobe *p = probe_find(pp, id);

	(void)ready;
	if (p != NULL)
		recompute(pp, p->e);
}

static void
probes_stop(struct podprobe *pp, struct pentry *e)
{
	for (size_t k = 0; k < e->n; k++) {
		struct pprobe *p = e->ids[k] ? probe_find(pp, e->ids[k]) : NULL;

		if (e->ids[k] != 0)
			fwd_probe_remove(pp->prober, e->ids[k]);
		if (p != NULL) {
			htab_remove(&pp->probes, &p->hn);
			free(p);
		}
		free(e->containers[k]);
	}
	free(e->ids);
	free(e->containers);
	e->ids = NULL;
	e->containers = NULL;
	e->n = 0;
}

static void
entry_free(struct podprobe *pp, struct pentry *e)
{
	probes_stop(pp, e);
	pp->n_ready -= e->ready == 1;
	pp->n_held -= e->hold_until != 0;
	htab_remove(&pp->pods, &e->hn);
	free(e->ns);
	free(e->name);
	free(e);
}

/* ---- from a pod's manifest to probes ---- */

/* Port PORT or NAME of container C; 0 when the name is not one of its ports. */
static uint16_t
probe_port(const struct cluster_container *c, int32_t port, const char *name)
{
	if (name == NULL)
		return port > 0 && port < 65536 ? (uint16_t)port : 0;
	for (size_t i = 0; i < c->n_ports; i++)
		if (c->ports[i].name != NULL && !strcmp(c->ports[i].name, name))
			return (uint16_t)c->ports[i].port;
	return 0;
}

/* Whether C's readinessProbe is one svcfwd runs: tcpSocket, or httpGet over plain HTTP. */
static bool
runnable(const struct cluster_container *c)
{
	const struct cluster_probe *r = c->readiness;

	if (r == NULL || (r->http == NULL) == (r->tcp == NULL))
		return false;
	return r->tcp != NULL || r->http->scheme == NULL || !strcmp(r->http->scheme, "HTTP");
}

static uint64_t
mix(uint64_t h, const void *p, size_t n)
{
	return (h ^ htab_hash_bytes(p, n, (uint32_t)h)) * 0x100000001b3ull;
}

static uint64_t
mix_str(uint64_t h, const char *s)
{
	return s ? mix(h, s, strlen(s) + 1) : mix(h, "", 0);
}

/* What P's probes are made of: when it changes, they start again. */
static uint64_t
signature(const struct cluster_pod *p)
{
	uint64_t h = mix(0xcbf29ce484222325ull, &p->ips[0], sizeof(p->ips[0]));

	for (size_t i = 0; i < p->n_containers; i++) {
		const struct cluster_container *c = &p->containers[i];
		const struct cluster_probe *r = c->readiness;

		if (!runnable(c))
			continue;
		h = mix_str(h, c->name);
		h = mix(h, &r->initial_delay_s, 5 * sizeof(int32_t));
		if (r->tcp != NULL) {
			h = mix(h, "t", 1);
			h = mix(h, &(uint16_t){probe_port(c, r->tcp->port, r->tcp->port_name)}, 2);
		} else {
			h = mix(h, "h", 1);
			h = mix(h, &(uint16_t){probe_port(c, r->http->port, r->http->port_name)},
			        2);
			h = mix_str(h, r->http->path);
			h = mix_str(h, r->http->host);
			for (size_t k = 0; k < r->http->n_headers; k++) {
				h = mix_str(h, r->http->headers[k].name);
				h = mix_str(h, r->http->headers[k].value);
			}
		}
	}
	return h;
}

static size_t
count_runnable(const struct cluster_pod *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_containers; i++)
		n += runnable(&p->containers[i]);
	return n;
}

/* Start E's probes from P's manifest. A probe that cannot run (a port name that is not the
 * container's, a header the kubelet would refuse) keeps id 0: never ready, as the kubelet's
 * would fail. The first attempt comes by the longest grace of them. */
static enum svc_status
probes_start(struct podprobe *pp, struct pentry *e, const struct cluster_pod *p, uint64_t *grace_ms)
{
	size_t n = count_runnable(p);

	*grace_ms = 0;
	e->ids = calloc(n, sizeof(*e->ids));
	e->containers = calloc(n, sizeof(*e->containers));
	if (e->ids == NULL || e->containers == NULL)
		return SVC_ENOMEM;
	for (size_t i = 0; i < p->n_containers; i++) {
		const struct cluster_container *c = &p->containers[i];
		const struct cluster_probe *r = c->readiness;
		struct fwd_probe_spec spec = {0};
		struct fwd_probe_header *hdrs = NULL;
		struct pprobe *pr;
		size_t k = e->n;
		uint64_t g;

		if (!runnable(c))
			continue;
		e->containers[k] = strdup(c->name ? c->name : "");
		e->n++;
		if (e->containers[k] == NULL)
			return SVC_ENOMEM;
		spec.addr = p->ips[0];
		spec.initial_delay_s = (uint32_t)r->initial_delay_s;
		spec.period_s = (uint32_t)r->period_s;
		spec.timeout_s = (uint32_t)r->timeout_s;
		spec.success_threshold = (uint32_t)r->success_threshold;
		spec.failure_threshold = (uint32_t)r->failure_threshold;
		g = ((uint64_t)spec.initial_delay_s +
		     (spec.period_s ? spec.period_s : FWD_PROBE_PERIOD_S) +
		     (spec.timeout_s ? spec.timeout_s : FWD_PROBE_TIMEOUT_S)) *
		    1000;
		*grace_ms = g > *grace_ms ? g : *grace_ms;
		if (r->tcp != NULL) {
			spec.kind = FWD_PROBE_TCP;
			spec.port = probe_port(c, r->tcp->port, r->tcp->port_name);
		} else {
			spec.kind = FWD_PROBE_HTTP;
			spec.port = probe_port(c, r->http->port, r->http->port_name);
			spec.path = r->http->path;
			spec.host = r->http->host;
			if (r->http->n_headers > 0) {
				hdrs = calloc(r->http->n_headers, sizeof(*hdrs));
				if (hdrs == NULL)
					return SVC_ENOMEM;
				for (size_t h = 0; h < r->http->n_headers; h++)
					hdrs[h] = (struct fwd_probe_header){
					        r->http->headers[h].name,
					        r->http->headers[h].value};
				spec.headers = hdrs;
				spec.n_headers = r->http->n_headers;
			}
		}
		pr = calloc(1, sizeof(*pr));
		if (pr == NULL) {
			free(hdrs);
			return SVC_ENOMEM;
		}
		pr->id = ++pp->next_id;
		pr->e = e;
		if (spec.port == 0 || fwd_probe_add(pp->prober, pr->id, &spec) != SVC_OK ||
		    htab_insert(&pp->probes, &pr->hn, htab_hash_u64(pr->id)) != SVC_OK) {
			fwd_probe_remove(pp->prober, pr->id);
			free(pr);
		} else {
			e->ids[k] = pr->id;
		}
		free(hdrs);
	}
	return SVC_OK;
}

/* ---- writing ---- */

static bool
change_add(struct change **arr, size_t *n, size_t *cap, const char *ns, const char *name,
           int8_t value)
{
	struct change *c = vec_push(arr, n, cap, sizeof(**arr), NULL);

	if (c == NULL)
		return false;
	c->ns = strdup(ns);
	c->name = strdup(name);
	c->value = value;
	if (c->ns == NULL || c->name == NULL) {
		free(c->ns);
		free(c->name);
		(*n)--;
		return false;
	}
	return true;
}

static void
changes_clear(struct change *arr, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free(arr[i].ns);
		free(arr[i].name);
	}
	*n = 0;
}

static bool
delete_queued(const struct podprobe *pp, const char *ns, const char *name)
{
	for (size_t i = 0; i < pp->n_deletes; i++)
		if (!strcmp(pp->deletes[i].ns, ns) && !strcmp(pp->deletes[i].name, name))
			return true;
	for (size_t i = 0; i < pp->n_sent; i++)
		if (pp->sent[i].value < 0 && !strcmp(pp->sent[i].ns, ns) &&
		    !strcmp(pp->sent[i].name, name))
			return true;
	return false;
}

static char *
podstatus_yaml(const struct podprobe *pp, const struct pentry *e, int8_t ready)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	fprintf(f,
	        "apiVersion: svcdns.io/v1\nkind: PodStatus\nmetadata:\n  name: %s\n  namespace: "
	        "%s\n"
	        "status:\n  conditions:\n  - lastTransitionTime: \"%s\"\n",
	        e->name, e->ns, e->since);
	if (!ready) {
		fprintf(f, "    message: 'containers with unready status: [");
		for (size_t k = 0, first = 1; k < e->n; k++)
			if (e->ids[k] == 0 || fwd_probe_state(pp->prober, e->ids[k]) != 1) {
				fprintf(f, "%s%s", first ? "" : " ", e->containers[k]);
				first = 0;
			}
		fprintf(f, "]'\n    reason: ContainersNotReady\n");
	}
	fprintf(f, "    status: \"%s\"\n    type: Ready\n  nodeName: %s\n",
	        e->ready ? "True" : "False", pp->o.node);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static json_t *
op_for(const struct podprobe *pp, const char *ns, const char *name, const char *value)
{
	char key[ETCDOBJ_KEY_MAX];
	json_t *req;

	if (!etcdobj_key(pp->o.prefix, CLUSTER_KIND_PODSTATUS, ns, name, key))
		return NULL;
	if (value == NULL)
		return json_pack("{s:{s:o}}", "request_delete_range", "key",
		                 etcdc_bytes(key, strlen(key)));
	req = json_pack("{s:{s:o, s:o}}", "request_put", "key", etcdc_bytes(key, strlen(key)),
	                "value", etcdc_bytes(value, strlen(value)));
	return req;
}

static void flush(struct podprobe *pp);

static void
on_written(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct podprobe *pp = arg;

	(void)resp;
	(void)why;
	pp->flushing = false;
	for (size_t i = 0; i < pp->n_sent; i++) {
		struct change *c = &pp->sent[i];
		struct pentry *e = pod_find(pp, c->ns, c->name);

		if (st == SVC_OK) {
			pp->writes++;
			if (e != NULL && c->value >= 0)
				e->published = c->value;
		} else if (c->value < 0) {
			if (!change_add(&pp->deletes, &pp->n_deletes, &pp->cap_deletes, c->ns,
			                c->name, -1))
				continue; /* out of memory: the next update queues it again */
		}
		if (e != NULL && e->ready != e->published)
			e->dirty = true;
	}
	changes_clear(pp->sent, &pp->n_sent);
	if (st != SVC_OK) {
		pp->failures++;
		arm(pp->flush_ev, RETRY_MS);
		return;
	}
	flush(pp);
}

/* DIR and the directories above it, where missing. */
static void
make_dirs(char *dir)
{
	for (char *p = dir + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(dir, 0755);
			*p = '/';
		}
	(void)mkdir(dir, 0755);
}

/* Without etcd: the whole file again, each pod as its probes say (a pod in its grace as
 * written before), to a dot name (which no reader reads) renamed over the last. */
static void
flush_file(struct podprobe *pp)
{
	const char *file = pp->o.status_file, *base = strrchr(file, '/');
	char tmp[4096];
	struct htab_iter it;
	uint64_t now = now_ms();
	FILE *f;
	bool ok;

	changes_clear(pp->deletes, &pp->n_deletes); /* a pod left out of the file is deleted */
	base = base ? base + 1 : file;
	if (snprintf(tmp, sizeof(tmp), "%.*s", (int)(base - file), file) < (int)sizeof(tmp))
		make_dirs(tmp); /* 0755: every program on the machine reads it */
	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp", (int)(base - file), file, base) >=
	            (int)sizeof(tmp) ||
	    (f = fopen(tmp, "w")) == NULL) {
		pp->failures++;
		arm(pp->flush_ev, RETRY_MS);
		return;
	}
	for (struct htab_node *n = htab_first(&it, &pp->pods); n != NULL; n = htab_iter_next(&it)) {
		struct pentry *e = htab_item(n, struct pentry, hn);
		int8_t value = now < e->hold_until ? e->published : e->ready;
		char *text = value >= 0 ? podstatus_yaml(pp, e, value) : NULL;

		if (text != NULL)
			fprintf(f, "---\n%s", text);
		free(text);
	}
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok && rename(tmp, file) == 0;
	if (!ok) {
		unlink(tmp);
		pp->failures++;
		arm(pp->flush_ev, RETRY_MS);
		return;
	}
	pp->writes++;
	for (struct htab_node *n = htab_first(&it, &pp->pods); n != NULL; n = htab_iter_next(&it)) {
		struct pentry *e = htab_item(n, struct pentry, hn);

		if (now >= e->hold_until) {
			e->published = e->ready;
			e->dirty = false;
		}
	}
}

/* Up to PODPROBE_TXN_OPS changes in one transaction: deletes first, then the pods whose
 * readiness differs from what etcd holds and whose grace is over. */
static void
flush(struct podprobe *pp)
{
	json_t *ops = json_array(), *op;
	struct htab_iter it;
	struct htab_node *n;
	uint64_t now = now_ms();

	if (pp->o.c == NULL) {
		json_decref(ops);
		flush_file(pp);
		return;
	}
	if (pp->flushing || ops == NULL) {
		json_decref(ops);
		return;
	}
	while (pp->n_deletes > 0 && json_array_size(ops) < PODPROBE_TXN_OPS) {
		struct change *c = &pp->deletes[--pp->n_deletes];

		op = op_for(pp, c->ns, c->name, NULL);
		if (op == NULL || json_array_append_new(ops, op) != 0 ||
		    !change_add(&pp->sent, &pp->n_sent, &pp->cap_sent, c->ns, c->name, -1)) {
			free(c->ns);
			free(c->name);
			break;
		}
		free(c->ns);
		free(c->name);
	}
	for (n = htab_first(&it, &pp->pods); n != NULL && json_array_size(ops) < PODPROBE_TXN_OPS;
	     n = htab_iter_next(&it)) {
		struct pentry *e = htab_item(n, struct pentry, hn);
		char *value;

		if (!e->dirty || e->ready == e->published || now < e->hold_until)
			continue;
		value = podstatus_yaml(pp, e, e->ready);
		op = value ? op_for(pp, e->ns, e->name, value) : NULL;
		free(value);
		if (op == NULL || json_array_append_new(ops, op) != 0 ||
		    !change_add(&pp->sent, &pp->n_sent, &pp->cap_sent, e->ns, e->name, e->ready))
			break;
		e->dirty = false;
	}
	if (json_array_size(ops) == 0) {
		json_decref(ops);
		return;
	}
	if (etcdc_call(pp->o.c, "/v3/kv/txn", json_pack("{s:o}", "success", ops), on_written, pp) !=
	    SVC_OK) {
		/* Out of memory: the same changes again later. */
		on_written(pp, SVC_ENOMEM, NULL, "out of memory");
		return;
	}
	pp->flushing = true;
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush(arg);
}

/* Graces that ended: what the probes say is written now. */
static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct podprobe *pp = arg;
	struct htab_iter it;
	uint64_t now = now_ms();
	bool due = false;

	(void)fd;
	(void)what;
	if (pp->n_held == 0)
		return;
	for (struct htab_node *n = htab_first(&it, &pp->pods); n != NULL; n = htab_iter_next(&it)) {
		struct pentry *e = htab_item(n, struct pentry, hn);

		if (e->hold_until != 0 && now >= e->hold_until) {
			e->hold_until = 0;
			pp->n_held--;
			due = due || e->dirty;
		}
	}
	if (due)
		arm(pp->flush_ev, 0);
}

/* ---- the cluster ---- */

static bool
probed_here(const struct podprobe *pp, const struct cluster_pod *p)
{
	return p->node_name != NULL && !strcmp(p->node_name, pp->o.node) && p->n_ips > 0 &&
	       p->phase != CLUSTER_POD_SUCCEEDED && p->phase != CLUSTER_POD_FAILED &&
	       count_runnable(p) > 0;
}

static void
update_pod(struct podprobe *pp, const struct cluster *c, const struct cluster_pod *p)
{
	struct pentry *e = pod_find(pp, p->meta.ns, p->meta.name);
	uint64_t sig = signature(p), grace;
	const struct cluster_podstatus *ps;

	if (e != NULL && e->sig == sig) {
		e->seen = true;
		return;
	}
	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return;
		e->ns = strdup(p->meta.ns);
		e->name = strdup(p->meta.name);
		if (e->ns == NULL || e->name == NULL ||
		    htab_insert(&pp->pods, &e->hn, pod_hash(e->ns, e->name)) != SVC_OK) {
			free(e->ns);
			free(e->name);
			free(e);
			return;
		}
		/* What this node wrote before it restarted holds through the first attempts. */
		ps = cluster_podstatus_of(c, p);
		e->published = ps != NULL && ps->node_name != NULL &&
		                               !strcmp(ps->node_name, pp->o.node) && ps->ready >= 0
		                       ? ps->ready
		                       : -1;
		e->ready = -1;
	} else {
		probes_stop(pp, e);
	}
	e->seen = true;
	e->sig = sig;
	if (probes_start(pp, e, p, &grace) != SVC_OK) {
		entry_free(pp, e);
		return;
	}
	if (e->published >= 0 && e->ready == -1) {
		pp->n_held += e->hold_until == 0;
		e->hold_until = now_ms() + grace;
	}
	recompute(pp, e);
}

void
podprobe_update(struct podprobe *pp, const struct cluster *c)
{
	struct htab_iter it;
	struct htab_node *n;

	for (n = htab_first(&it, &pp->pods); n != NULL; n = htab_iter_next(&it))
		htab_item(n, struct pentry, hn)->seen = false;
	for (size_t i = 0; i < c->n_pods; i++)
		if (probed_here(pp, c->pods[i]))
			update_pod(pp, c, c->pods[i]);
	for (n = htab_first(&it, &pp->pods); n != NULL; n = htab_iter_next(&it)) {
		struct pentry *e = htab_item(n, struct pentry, hn);

		if (!e->seen)
			entry_free(pp, e);
	}
	/* What this node wrote for pods it no longer probes goes. */
	for (size_t i = 0; i < c->n_podstatuses; i++) {
		const struct cluster_podstatus *ps = c->podstatuses[i];

		if (ps->node_name == NULL || strcmp(ps->node_name, pp->o.node) != 0 ||
		    pod_find(pp, ps->meta.ns, ps->meta.name) != NULL ||
		    delete_queued(pp, ps->meta.ns, ps->meta.name))
			continue;
		if (change_add(&pp->deletes, &pp->n_deletes, &pp->cap_deletes, ps->meta.ns,
		               ps->meta.name, -1))
			arm(pp->flush_ev, PODPROBE_FLUSH_MS);
	}
}

enum svc_status
podprobe_create(const struct podprobe_opts *o, struct podprobe **out)
{
	struct podprobe *pp = calloc(1, sizeof(*pp));
	struct timeval sweep = {SWEEP_MS / 1000, 0};
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	if (pp == NULL)
		return SVC_ENOMEM;
	pp->o = *o;
	htab_init(&pp->pods);
	htab_init(&pp->probes);
	st = fwd_probe_create(o->base, o->max_in_flight, on_probe, pp, &pp->prober);
	if (st != SVC_OK)
		goto fail;
	st = SVC_ENOMEM;
	pp->flush_ev = evtimer_new(o->base, on_flush, pp);
	pp->sweep_ev = event_new(o->base, -1, EV_PERSIST, on_sweep, pp);
	if (pp->flush_ev == NULL || pp->sweep_ev == NULL || event_add(pp->sweep_ev, &sweep) != 0)
		goto fail;
	*out = pp;
	return SVC_OK;
fail:
	podprobe_destroy(pp);
	return st;
}

void
podprobe_destroy(struct podprobe *pp)
{
	struct htab_iter it;

	if (pp == NULL)
		return;
	for (struct htab_node *n = htab_first(&it, &pp->pods); n != NULL; n = htab_iter_next(&it))
		entry_free(pp, htab_item(n, struct pentry, hn));
	fwd_probe_destroy(pp->prober);
	if (pp->flush_ev != NULL)
		event_free(pp->flush_ev);
	if (pp->sweep_ev != NULL)
		event_free(pp->sweep_ev);
	changes_clear(pp->deletes, &pp->n_deletes);
	changes_clear(pp->sent, &pp->n_sent);
	free(pp->deletes);
	free(pp->sent);
	htab_deinit(&pp->pods);
	htab_deinit(&pp->probes);
	free(pp);
}

void
podprobe_stats(const struct podprobe *pp, struct podprobe_stats *out)
{
	struct fwd_probe_stats ps;

	memset(out, 0, sizeof(*out));
	fwd_probe_stats(pp->prober, &ps);
	out->pods = pp->pods.n;
	out->probes = ps.probes;
	out->attempts = ps.attempts;
	out->in_flight = ps.in_flight;
	out->sockets = ps.sockets;
	out->writes = pp->writes;
	out->failures = pp->failures;
	out->ready = pp->n_ready;
}
