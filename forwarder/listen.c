/* listen.c -- the sockets svcfwd listens on, opened and closed as the plan changes. Sockets that
 * stay in the plan are kept, so a reload drops nothing: not the backlog, not a UDP flow. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svcfwd.h"

static uint32_t
listener_hash(enum cluster_proto proto, const struct netaddr *a, bool wildcard, uint16_t port)
{
	return netaddr_hash(a) ^ ((uint32_t)port * 2654435761u) ^ ((uint32_t)proto << 24) ^
	       (wildcard ? 0x5bd1e995u : 0);
}

static struct fwd_listener *
find(struct fwd_server *s, const struct fwd_plan_listener *pl)
{
	uint32_t h = listener_hash(pl->proto, &pl->addr, pl->wildcard, pl->port);

	for (struct htab_node *n = htab_find(&s->listeners, h); n != NULL; n = htab_next(n, h)) {
		struct fwd_listener *l = htab_item(n, struct fwd_listener, node);

		if (l->proto == pl->proto && l->port == pl->port && l->wildcard == pl->wildcard &&
		    netaddr_equal(&l->addr, &pl->addr))
			return l;
	}
	return NULL;
}

static socklen_t
to_sockaddr(const struct netaddr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == NETADDR_V6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->bytes, 16);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	memcpy(&s4->sin_addr, a->bytes, 4);
	return sizeof(*s4);
}

/* A socket bound to the listener's address. FREEBIND: load-balancer and external IPs need not
 * be on this node (yet); traffic arrives once they are. REUSEPORT: a ClusterIP port may equal a
 * node port, whose wildcard socket would otherwise refuse the specific bind. */
static int
open_socket(const struct fwd_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(&l->addr, l->port, &ss);
	int v6 = l->addr.family == NETADDR_V6;
	int type = l->proto == CLUSTER_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) != 0)
		goto fail;
	if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		goto fail;
	if (l->proto == CLUSTER_UDP && l->wildcard) {
		/* Replies must leave from the address the client sent to. */
		if (v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))
		       : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)))
			goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0)
		goto fail;
	if (l->proto == CLUSTER_TCP && listen(fd, 4096) != 0)
		goto fail;
	return fd;
fail : {
	int e = errno;

	close(fd);
	errno = e;
}
	return -1;
}

static void
set_label(struct fwd_listener *l)
{
	char a[NETADDR_STRLEN];

	if (l->wildcard)
		snprintf(l->label, sizeof(l->label), "%s:%u/%s",
		         l->addr.family == NETADDR_V6 ? "[::]" : "0.0.0.0", l->port,
		         cluster_proto_str(l->proto));
	else if (l->addr.family == NETADDR_V6)
		snprintf(l->label, sizeof(l->label), "[%s]:%u/%s", netaddr_str(&l->addr, a),
		         l->port, cluster_proto_str(l->proto));
	else
		snprintf(l->label, sizeof(l->label), "%s:%u/%s", netaddr_str(&l->addr, a), l->port,
		         cluster_proto_str(l->proto));
}

/* L's source ranges become PL's. *CHANGED: whether they differ from what L had. False when out
 * of memory (L keeps its ranges). */
static bool
set_ranges(struct fwd_listener *l, const struct fwd_plan_listener *pl, bool *changed)
{
	size_t n = pl->n_source_ranges;
	struct netaddr_prefix *r = NULL;

	*changed = l->n_ranges != n ||
	           (n > 0 && memcmp(l->ranges, pl->source_ranges, n * sizeof(*r)) != 0);
	if (!*changed)
		return true;
	if (n > 0) {
		r = malloc(n * sizeof(*r));
		if (r == NULL)
			return false;
		memcpy(r, pl->source_ranges, n * sizeof(*r));
	}
	free(l->ranges);
	l->ranges = r;
	l->n_ranges = n;
	return true;
}

static struct fwd_listener *
open_listener(struct fwd_server *s, const struct fwd_plan_listener *pl)
{
	struct fwd_listener *l = calloc(1, sizeof(*l));
	event_callback_fn cb = pl->proto == CLUSTER_UDP ? fwd_udp_read : fwd_tcp_accept;
	bool changed;

	if (l == NULL)
		return NULL;
	l->srv = s;
	l->proto = pl->proto;
	l->kind = pl->kind;
	l->addr = pl->addr;
	l->wildcard = pl->wildcard;
	l->port = pl->port;
	lru_init(&l->flows);
	set_label(l);
	l->fd = open_socket(l);
	if (l->fd < 0) {
		log_msg(LL_WARN, "%s (%s): cannot listen: %s", l->label,
		        fwd_listener_kind_str(l->kind), strerror(errno));
		free(l);
		return NULL;
	}
	if (!set_ranges(l, pl, &changed)) {
		close(l->fd);
		free(l);
		return NULL;
	}
	event_assign(&l->ev, s->base, l->fd, EV_READ | EV_PERSIST, cb, l);
	if (!(pl->proto == CLUSTER_TCP && s->accept_paused)) {
		event_add(&l->ev, NULL);
		l->ev_on = true;
	}
	return l;
}

static void
close_listener(struct fwd_server *s, struct fwd_listener *l)
{
	if (l->proto == CLUSTER_UDP)
		fwd_udp_listener_gone(s, l);
	if (l->ev_on)
		event_del(&l->ev);
	close(l->fd);
	fwd_pool_put(&s->pools, l->pool);
	free(l->ranges);
	free(l);
}

enum svc_status
fwd_listen_apply(struct fwd_server *s, const struct fwd_plan *plan, struct fwd_pool **pools)
{
	size_t opened = 0, closed = 0, failed = 0;
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &s->listeners); n != NULL;
	     n = htab_iter_next(&it))
		htab_item(n, struct fwd_listener, node)->live = false;
	for (size_t i = 0; i < plan->n_listeners; i++) {
		const struct fwd_plan_listener *pl = &plan->listeners[i];
		struct fwd_listener *l = find(s, pl);
		struct fwd_pool *pool = pools[pl->pool];
		bool ranges_changed = false;

		if (l == NULL) {
			l = open_listener(s, pl);
			if (l == NULL) {
				failed++;
				continue;
			}
			if (htab_insert(&s->listeners, &l->node,
			                listener_hash(l->proto, &l->addr, l->wildcard, l->port)) !=
			    SVC_OK) {
				close_listener(s, l);
				return SVC_ENOMEM;
			}
			opened++;
			log_msg(LL_DEBUG, "listening on %s (%s %s/%s:%s)", l->label,
			        fwd_listener_kind_str(l->kind), pool->ns, pool->name,
			        pool->port_name);
		} else if (!set_ranges(l, pl, &ranges_changed)) {
			return SVC_ENOMEM;
		}
		l->kind = pl->kind;
		if (l->pool != pool) {
			fwd_pool_put(&s->pools, l->pool);
			l->pool = fwd_pool_ref(pool);
		}
		l->live = true;
		/* The ranges admitted the flows it has: those they no longer admit end now. (A
		 * TCP connection, like a conntrack entry under kube-proxy, carries on.) */
		if (ranges_changed && l->proto == CLUSTER_UDP)
			fwd_udp_recheck(s, l);
	}
	for (struct htab_node *n = htab_first(&it, &s->listeners); n != NULL;
	     n = htab_iter_next(&it)) {
		struct fwd_listener *l = htab_item(n, struct fwd_listener, node);

		if (l->live)
			continue;
		htab_remove(&s->listeners, &l->node);
		closed++;
		log_msg(LL_DEBUG, "closing %s", l->label);
		close_listener(s, l);
	}
	s->n_idle = plan->n_idle;
	log_msg(LL_INFO,
	        "%zu sockets (%zu opened, %zu closed, %zu failed); %zu ports without "
	        "endpoints left closed",
	        s->listeners.n, opened, closed, failed, plan->n_idle);
	return SVC_OK;
}

void
fwd_listen_close_all(struct fwd_server *s)
{
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &s->listeners); n != NULL;
	     n = htab_iter_next(&it))
		close_listener(s, htab_item(n, struct fwd_listener, node));
	htab_deinit(&s->listeners);
}

/* Stop or restart accepting TCP connections (out of descriptors, or at the connection cap):
 * the kernel queues new ones meanwhile. */
void
fwd_listen_pause(struct fwd_server *s, bool pause)
{
	struct htab_iter it;

	if (s->accept_paused == pause)
		return;
	s->accept_paused = pause;
	for (struct htab_node *n = htab_first(&it, &s->listeners); n != NULL;
	     n = htab_iter_next(&it)) {
		struct fwd_listener *l = htab_item(n, struct fwd_listener, node);

		if (l->proto != CLUSTER_TCP)
			continue;
		if (pause && l->ev_on)
			event_del(&l->ev);
		else if (!pause && !l->ev_on)
			event_add(&l->ev, NULL);
		l->ev_on = !pause;
	}
}

void
fwd_listen_each(struct fwd_server *s, void (*fn)(struct fwd_listener *l, void *arg), void *arg)
{
	struct htab_iter it;

	for (struct htab_node *n = htab_first(&it, &s->listeners); n != NULL;
	     n = htab_iter_next(&it))
		fn(htab_item(n, struct fwd_listener, node), arg);
}

bool
fwd_listen_admits(const struct fwd_listener *l, const struct netaddr *client)
{
	if (l->n_ranges == 0)
		return true;
	for (size_t i = 0; i < l->n_ranges; i++) {
		if (netaddr_in_prefix(client, &l->ranges[i]))
			return true;
	}
	return false;
}
