/* nodeagent.c -- this node's Node and Lease in etcd (nodeagent.h).
 *
 * Steps, one call at a time: grant a lease; put the Lease key (bound to it) and the Node in one
 * transaction; then renew every third of the lease time. A renewal that finds the lease gone
 * (svcfwd was paused past it, or etcd lost it) starts again from the grant. A failed call is
 * tried again a second later (or sooner, for short leases). */
#include "nodeagent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcdc.h"
#include "etcdobj.h"
#include "lbelect.h"
#include "podprobe.h"
#include "vip.h"

enum phase {
	P_READ, /* the Node as etcd has it: its creationTimestamp outlives a restart */
	P_GRANT,
	P_REGISTER,
	P_RENEW,
};

struct nodeagent {
	struct nodeagent_opts o;
	struct nodeagent_status own, *status;
	pthread_t th;
	bool started;
	int stop_fd[2];
	int wake_fd[2]; /* a new cluster to read */
	struct event_base *base;
	struct etcdc *c;
	struct event *tick, *stop_ev, *deadline, *wake_ev, *stats_ev;
	struct podprobe *probes;
	struct lbelect *lb;   /* NULL: no interface for LoadBalancer addresses (or no etcd) */
	char lb_text[8192];   /* lbelect_metrics, copied every second under LOCK */
	pthread_mutex_t lock; /* over NEXT */
	struct cluster *next; /* given by nodeagent_cluster, not read yet */
	char prefix[ETCDOBJ_KEY_MAX], node_key[ETCDOBJ_KEY_MAX], lease_key[ETCDOBJ_KEY_MAX];
	char status_file[4096]; /* without etcd: where the probes' results go */
	char created[32]; /* the Node's creationTimestamp: etcd's when it had one, else the first
	                   * registration's time */
	enum phase phase;
	bool busy, stopping;
	int64_t lease_id;
	char said[256]; /* the last problem logged, so a retry loop logs it once */
};

static void step(struct nodeagent *a);

static unsigned
renew_ms(const struct nodeagent *a)
{
	return a->o.lease_s * 1000 / 3;
}

static void
say(struct nodeagent *a, enum log_level l, const char *msg)
{
	if (strcmp(a->said, msg) == 0)
		return;
	snprintf(a->said, sizeof(a->said), "%s", msg);
	log_msg(l, "node %s: %s", a->o.node, msg);
}

/* The node's addresses: every address of an interface that is up, not loopback and not
 * link-local, as InternalIP; then its name as Hostname. */
static void
addresses(FILE *f, const char *node)
{
	struct ifaddrs *ifs = NULL;

	fprintf(f, "  addresses:\n");
	if (getifaddrs(&ifs) == 0) {
		for (const struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
			char buf[INET6_ADDRSTRLEN];
			const struct sockaddr *sa = i->ifa_addr;

			if (sa == NULL || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			if (sa->sa_family == AF_INET) {
				const struct in_addr *in =
				        &((const struct sockaddr_in *)sa)->sin_addr;

				if ((ntohl(in->s_addr) >> 16) == 0xa9fe) /* 169.254/16 */
					continue;
				inet_ntop(AF_INET, in, buf, sizeof(buf));
			} else if (sa->sa_family == AF_INET6) {
				const struct in6_addr *in =
				        &((const struct sockaddr_in6 *)sa)->sin6_addr;

				if (IN6_IS_ADDR_LINKLOCAL(in))
					continue;
				inet_ntop(AF_INET6, in, buf, sizeof(buf));
			} else {
				continue;
			}
			fprintf(f, "  - address: %s\n    type: InternalIP\n", buf);
		}
		freeifaddrs(ifs);
	}
	fprintf(f, "  - address: %s\n    type: Hostname\n", node);
}

/* The Node as svcfwd reports it: READY or, at a clean stop, not. */
static char *
node_yaml(const struct nodeagent *a, bool ready)
{
	char *text = NULL, now[32];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	wall_rfc3339(now, sizeof(now));
	fprintf(f,
	        "apiVersion: v1\nkind: Node\nmetadata:\n  creationTimestamp: \"%s\"\n"
	        "  labels:\n    kubernetes.io/hostname: %s\n  name: %s\nstatus:\n",
	        a->created, a->o.node, a->o.node);
	addresses(f, a->o.node);
	fprintf(f,
	        "  conditions:\n  - lastHeartbeatTime: \"%s\"\n    lastTransitionTime: \"%s\"\n"
	        "    message: %s\n    reason: %s\n    status: \"%s\"\n    type: Ready\n"
	        "  nodeInfo:\n    kubeletVersion: svcfwd-%s\n",
	        now, now, ready ? "svcfwd is running" : "svcfwd stopped",
	        ready ? "SvcfwdReady" : "SvcfwdStopped", ready ? "True" : "False",
	        a->o.version ? a->o.version : "");
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static char *
lease_yaml(const struct nodeagent *a)
{
	char *text = NULL;

	if (asprintf(&text,
	             "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: %s\n"
	             "spec:\n  holderIdentity: %s\n  leaseDurationSeconds: %u\n",
	             a->o.node, a->o.node, a->o.lease_s) < 0)
		return NULL;
	return text;
}

/* {"request_put": {"key", "value"[, "lease"]}}; NULL when out of memory. */
static json_t *
put_op(const char *key, const char *value, int64_t lease)
{
	json_t *put = json_object(), *op = json_object();

	if (put == NULL || op == NULL || value == NULL) {
		json_decref(put);
		json_decref(op);
		return NULL;
	}
	json_object_set_new(put, "key", etcdc_bytes(key, strlen(key)));
	json_object_set_new(put, "value", etcdc_bytes(value, strlen(value)));
	if (lease != 0)
		json_object_set_new(put, "lease", json_integer(lease));
	json_object_set_new(op, "request_put", put);
	return op;
}

/* A transaction of OP1 and, when TWO, OP2 (taken), with no condition. */
static json_t *
txn(json_t *op1, json_t *op2, bool two)
{
	json_t *ops = json_array(), *body = json_object();

	if (ops == NULL || body == NULL || op1 == NULL || (two && op2 == NULL)) {
		json_decref(ops);
		json_decref(body);
		json_decref(op1);
		json_decref(op2);
		return NULL;
	}
	json_array_append_new(ops, op1);
	if (op2 != NULL)
		json_array_append_new(ops, op2);
	json_object_set_new(body, "success", ops);
	return body;
}

static void
call(struct nodeagent *a, const char *path, json_t *body, etcdc_cb cb)
{
	if (body == NULL || etcdc_call(a->c, path, body, cb, a) != SVC_OK) {
		atomic_fetch_add(&a->status->failures, 1);
		say(a, LL_WARN, "out of memory; trying again");
		timer_arm_ms(a->tick, 1000);
		return;
	}
	a->busy = true;
}

/* A call failed: the same step again soon. */
static void
failed(struct nodeagent *a, const char *what, const char *why)
{
	char msg[256];
	unsigned ms = renew_ms(a) < 1000 ? renew_ms(a) : 1000;

	atomic_fetch_add(&a->status->failures, 1);
	snprintf(msg, sizeof(msg), "%s: %.180s; trying again", what, why ? why : "failed");
	say(a, LL_WARN, msg);
	timer_arm_ms(a->tick, ms);
}

static void
on_renew(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct nodeagent *a = arg;
	int64_t ttl = 0;

	a->busy = false;
	if (a->stopping)
		return;
	if (st != SVC_OK) {
		failed(a, "renewing the lease", why);
		return;
	}
	(void)etcdc_int(json_object_get(resp, "result"), "TTL", &ttl);
	if (ttl <= 0) {
		/* Gone: paused past it, or etcd lost it. The key went with it: register again. */
		atomic_store(&a->status->registered, 0);
		if (a->lb != NULL)
			lbelect_lease(a->lb, 0);
		say(a, LL_WARN, "the lease lapsed; registering again");
		a->phase = P_GRANT;
		step(a);
		return;
	}
	atomic_fetch_add(&a->status->renewals, 1);
	if (a->lb != NULL)
		lbelect_tick(a->lb);
	timer_arm_ms(a->tick, renew_ms(a));
}

static void
on_register(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct nodeagent *a = arg;
	char msg[128];

	(void)resp;
	a->busy = false;
	if (a->stopping)
		return;
	if (st != SVC_OK) {
		failed(a, "writing the node", why);
		return;
	}
	atomic_store(&a->status->registered, 1);
	atomic_fetch_add(&a->status->registrations, 1);
	if (a->lb != NULL)
		lbelect_lease(a->lb, a->lease_id);
	snprintf(msg, sizeof(msg), "registered, Ready (lease of %u s)", a->o.lease_s);
	say(a, LL_INFO, msg);
	a->phase = P_RENEW;
	timer_arm_ms(a->tick, renew_ms(a));
}

/* The Node in etcd, if any: keep its creationTimestamp. What cannot be read is written over. */
static void
on_read(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct nodeagent *a = arg;
	const json_t *kv = json_array_get(json_object_get(resp, "kvs"), 0);
	struct etcdc_kv one = {0};
	struct cluster_objects objs;
	struct diag quiet;

	a->busy = false;
	if (a->stopping)
		return;
	if (st != SVC_OK) {
		failed(a, "reading the node", why);
		return;
	}
	cluster_objects_init(&objs);
	diag_init(&quiet);
	if (kv != NULL && etcdc_kv_decode(kv, &one) == SVC_OK &&
	    etcdobj_decode(a->prefix, (const char *)one.key, one.value, one.value_len, 0, &objs,
	                   &quiet) == SVC_OK &&
	    objs.n_nodes == 1 && objs.nodes[0]->meta.created != NULL &&
	    strlen(objs.nodes[0]->meta.created) < sizeof(a->created))
		snprintf(a->created, sizeof(a->created), "%s", objs.nodes[0]->meta.created);
	etcdc_kv_free(&one);
	diag_deinit(&quiet);
	cluster_objects_deinit(&objs);
	a->phase = P_GRANT;
	step(a);
}

static void
on_grant(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct nodeagent *a = arg;
	int64_t id = 0;

	a->busy = false;
	if (a->stopping)
		return;
	if (st == SVC_OK && (etcdc_int(resp, "ID", &id) != SVC_OK || id == 0)) {
		st = SVC_EINVAL;
		why = "etcd granted no lease";
	}
	if (st != SVC_OK) {
		failed(a, "asking for a lease", why);
		return;
	}
	a->lease_id = id;
	a->phase = P_REGISTER;
	step(a);
}

static void
step(struct nodeagent *a)
{
	json_t *b;

	if (a->busy || a->stopping)
		return;
	switch (a->phase) {
	case P_READ:
		call(a, "/v3/kv/range",
		     json_pack("{s:o}", "key", etcdc_bytes(a->node_key, strlen(a->node_key))),
		     on_read);
		break;
	case P_GRANT:
		call(a, "/v3/lease/grant", json_pack("{s:I}", "TTL", (json_int_t)a->o.lease_s),
		     on_grant);
		break;
	case P_REGISTER: {
		char *node = node_yaml(a, true), *lease = lease_yaml(a);

		call(a, "/v3/kv/txn",
		     txn(put_op(a->lease_key, lease, a->lease_id), put_op(a->node_key, node, 0),
		         true),
		     on_register);
		free(node);
		free(lease);
		break;
	}
	case P_RENEW:
		b = json_pack("{s:I}", "ID", (json_int_t)a->lease_id);
		call(a, "/v3/lease/keepalive", b, on_renew);
		break;
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	step(arg);
}

/* ---- a clean stop ---- */

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct nodeagent *a = arg;

	(void)fd;
	(void)what;
	say(a, LL_WARN, "etcd did not answer in time: the lease will lapse by itself");
	event_base_loopexit(a->base, NULL);
}

static void
on_revoked(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct nodeagent *a = arg;

	(void)resp;
	if (st != SVC_OK)
		say(a, LL_WARN, why ? why : "revoking the lease failed");
	else
		log_msg(LL_INFO, "node %s: marked NotReady, lease revoked", a->o.node);
	atomic_store(&a->status->registered, 0);
	event_base_loopexit(a->base, NULL);
}

static void
on_marked(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct nodeagent *a = arg;

	(void)resp;
	if (st != SVC_OK)
		say(a, LL_WARN, why ? why : "marking the node NotReady failed");
	if (etcdc_call(a->c, "/v3/lease/revoke", json_pack("{s:I}", "ID", (json_int_t)a->lease_id),
	               on_revoked, a) != SVC_OK)
		event_base_loopexit(a->base, NULL);
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct nodeagent *a = arg;
	char *node;

	(void)fd;
	(void)what;
	a->stopping = true;
	evtimer_del(a->tick);
	if (a->lb != NULL)
		lbelect_stop(a->lb); /* the others take the addresses when the lease goes, next */
	timer_arm_ms(a->deadline, NODEAGENT_STOP_MS);
	if (a->lease_id == 0) {
		event_base_loopexit(a->base, NULL); /* never registered */
		return;
	}
	node = node_yaml(a, false);
	if (etcdc_call(a->c, "/v3/kv/txn", txn(put_op(a->node_key, node, 0), NULL, false),
	               on_marked, a) != SVC_OK)
		event_base_loopexit(a->base, NULL);
	free(node);
}

/* ---- the probes ---- */

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct nodeagent *a = arg;
	struct cluster *c;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&a->lock);
	c = a->next;
	a->next = NULL;
	pthread_mutex_unlock(&a->lock);
	if (c != NULL && !a->stopping) {
		podprobe_update(a->probes, c);
		if (a->lb != NULL)
			lbelect_update(a->lb, c);
	}
	cluster_unref(c);
}

static void
on_stats(evutil_socket_t fd, short what, void *arg)
{
	struct nodeagent *a = arg;
	struct podprobe_stats st;

	(void)fd;
	(void)what;
	podprobe_stats(a->probes, &st);
	atomic_store(&a->status->probed_pods, st.pods);
	atomic_store(&a->status->probes, st.probes);
	atomic_store(&a->status->probed_ready, st.ready);
	atomic_store(&a->status->probe_attempts, st.attempts);
	atomic_store(&a->status->probe_sockets, st.sockets);
	atomic_store(&a->status->status_writes, st.writes);
	atomic_store(&a->status->status_failures, st.failures);
	if (a->lb != NULL) {
		char text[sizeof(a->lb_text)];

		lbelect_metrics(a->lb, text, sizeof(text));
		pthread_mutex_lock(&a->lock);
		memcpy(a->lb_text, text, sizeof(text));
		pthread_mutex_unlock(&a->lock);
	}
}

void
nodeagent_lb_metrics(struct nodeagent *a, char *buf, size_t size)
{
	buf[0] = '\0';
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	snprintf(buf, size, "%s", a->lb_text);
	pthread_mutex_unlock(&a->lock);
}

void
nodeagent_cluster(struct nodeagent *a, struct cluster *c)
{
	struct cluster *old;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	old = a->next;
	a->next = cluster_ref(c);
	pthread_mutex_unlock(&a->lock);
	cluster_unref(old);
	/* A full pipe already says there is something to read. */
	(void)!write(a->wake_fd[1], "", 1);
}

/* Without etcd: <status dir>/<node>.yaml (podprobe makes the directory when it first writes). */
static bool
status_file(struct nodeagent *a)
{
	if (a->o.status_dir == NULL ||
	    snprintf(a->status_file, sizeof(a->status_file), "%s/%s.yaml", a->o.status_dir,
	             a->o.node) >= (int)sizeof(a->status_file)) {
		log_msg(LL_ERROR, "node %s: no status directory for the probes", a->o.node);
		return false;
	}
	return true;
}

static void *
run(void *arg)
{
	struct nodeagent *a = arg;

	if (a->c == NULL) {
		log_msg(LL_INFO, "node %s: probing its pods, results in %s", a->o.node,
		        a->status_file);
		event_base_dispatch(a->base);
		return NULL;
	}
	step(a);
	event_base_dispatch(a->base);
	return NULL;
}

static void
agent_free(struct nodeagent *a)
{
	podprobe_destroy(a->probes);
	lbelect_destroy(a->lb); /* before the client: it cancels its watch */
	etcdc_destroy(a->c);
	if (a->wake_ev != NULL)
		event_free(a->wake_ev);
	if (a->stats_ev != NULL)
		event_free(a->stats_ev);
	for (int i = 0; i < 2; i++)
		if (a->wake_fd[i] >= 0)
			close(a->wake_fd[i]);
	cluster_unref(a->next);
	pthread_mutex_destroy(&a->lock);
	if (a->tick != NULL)
		event_free(a->tick);
	if (a->stop_ev != NULL)
		event_free(a->stop_ev);
	if (a->deadline != NULL)
		event_free(a->deadline);
	if (a->base != NULL)
		event_base_free(a->base);
	for (int i = 0; i < 2; i++)
		if (a->stop_fd[i] >= 0)
			close(a->stop_fd[i]);
	free(a);
}

enum svc_status
nodeagent_start(const struct nodeagent_opts *o, struct nodeagent_status *status,
                struct nodeagent **out)
{
	struct nodeagent *a = calloc(1, sizeof(*a));
	struct etcdc_tls tls;
	char err[512], *prefix = a ? a->prefix : NULL;
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	if (a == NULL)
		return SVC_ENOMEM;
	a->stop_fd[0] = a->stop_fd[1] = a->wake_fd[0] = a->wake_fd[1] = -1;
	pthread_mutex_init(&a->lock, NULL);
	a->o = *o;
	if (a->o.lease_s == 0)
		a->o.lease_s = NODEAGENT_LEASE_DEFAULT_S;
	a->status = status != NULL ? status : &a->own;
	wall_rfc3339(a->created, sizeof(a->created));
	snprintf(prefix, sizeof(a->prefix), "%s", o->etcd->prefix);
	while (strlen(prefix) > 1 && prefix[strlen(prefix) - 1] == '/')
		prefix[strlen(prefix) - 1] = '\0';
	if (!etcdobj_key(prefix, CLUSTER_KIND_NODE, NULL, o->node, a->node_key) ||
	    !etcdobj_key(prefix, CLUSTER_KIND_LEASE, NULL, o->node, a->lease_key)) {
		log_msg(LL_ERROR, "node %s: the name is too long for a key", o->node);
		st = SVC_EINVAL;
		goto fail;
	}
	if (pipe(a->stop_fd) != 0 || pipe2(a->wake_fd, O_NONBLOCK | O_CLOEXEC) != 0 ||
	    (a->base = event_base_new()) == NULL)
		goto fail;
	if (o->etcd->urls != NULL) {
		tls = (struct etcdc_tls){o->etcd->cacert, o->etcd->cert, o->etcd->key};
		st = etcdc_create_tls(a->base, o->etcd->urls, &tls, err, sizeof(err), &a->c);
		if (st != SVC_OK) {
			log_msg(LL_ERROR, "--etcd %s: %s", o->etcd->urls, err);
			goto fail;
		}
	} else if (!status_file(a)) {
		st = SVC_EINVAL;
		goto fail;
	}
	st = SVC_ENOMEM;
	a->tick = evtimer_new(a->base, on_tick, a);
	a->deadline = evtimer_new(a->base, on_deadline, a);
	a->stop_ev = event_new(a->base, a->stop_fd[0], EV_READ, on_stop, a);
	a->wake_ev = event_new(a->base, a->wake_fd[0], EV_READ | EV_PERSIST, on_wake, a);
	a->stats_ev = event_new(a->base, -1, EV_PERSIST, on_stats, a);
	if (a->tick == NULL || a->deadline == NULL || a->stop_ev == NULL || a->wake_ev == NULL ||
	    a->stats_ev == NULL || event_add(a->stop_ev, NULL) != 0 ||
	    event_add(a->wake_ev, NULL) != 0 ||
	    event_add(a->stats_ev, &(struct timeval){1, 0}) != 0)
		goto fail;
	{
		struct podprobe_opts po = {.base = a->base,
		                           .c = a->c,
		                           .prefix = prefix,
		                           .node = o->node,
		                           .status_file = a->status_file};

		if (podprobe_create(&po, &a->probes) != SVC_OK)
			goto fail;
	}
	if (a->c != NULL) {
		unsigned ifindex =
		        o->lb_interface ? if_nametoindex(o->lb_interface) : vip_default_ifindex();
		struct lbelect_opts lo = {.base = a->base,
		                          .c = a->c,
		                          .prefix = prefix,
		                          .node = o->node,
		                          .ifindex = ifindex,
		                          .lease_s = a->o.lease_s};

		if (ifindex == 0)
			log_msg(LL_WARN,
			        "node %s: %s: no interface for LoadBalancer addresses; this node "
			        "holds none",
			        o->node, o->lb_interface ? o->lb_interface : "no default route");
		else if (lbelect_create(&lo, &a->lb) != SVC_OK)
			goto fail;
	}
	if (pthread_create(&a->th, NULL, run, a) != 0) {
		st = SVC_EIO;
		goto fail;
	}
	a->started = true;
	*out = a;
	return SVC_OK;
fail:
	agent_free(a);
	return st;
}

void
nodeagent_stop(struct nodeagent *a)
{
	if (a == NULL)
		return;
	if (a->started) {
		/* The end of the pipe is what the agent's loop waits for. */
		close(a->stop_fd[1]);
		a->stop_fd[1] = -1;
		pthread_join(a->th, NULL);
	}
	agent_free(a);
}
