/* notify.c -- NOTIFY (RFC 1996) to the secondaries of --notify after each new version of the
 * zone, on the main loop: one datagram per secondary, sent again every 2 s until it is answered,
 * 5 tries at most; a newer version replaces a NOTIFY still unanswered. */
#include "notify.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dnsx.h"

#define NOTIFY_RETRY_MS 2000
#define NOTIFY_TRIES    5

struct target {
	struct dnsd_notify *n;
	const struct daemon_addr *addr;
	struct event *timer;
	uint16_t id;
	uint32_t serial;
	int tries; /* left; 0: nothing unanswered */
};

struct dnsd_notify {
	struct dnsd_server *srv;
	int fd4, fd6;
	struct event *ev4, *ev6;
	struct target *t;
	size_t n;
	uint8_t buf[DNSQ_OUT_MAX];
};

static void
send_one(struct target *t)
{
	struct dnsd_notify *n = t->n;
	struct dnsz *z = dnsd_server_zone(n->srv);
	size_t len = dnsx_notify(z, t->id, n->buf);
	int fd = t->addr->sa.ss_family == AF_INET6 ? n->fd6 : n->fd4;
	struct timeval tv = {NOTIFY_RETRY_MS / 1000, (NOTIFY_RETRY_MS % 1000) * 1000};

	dnsz_unref(z);
	if (fd >= 0)
		(void)sendto(fd, n->buf, len, MSG_DONTWAIT, (const struct sockaddr *)&t->addr->sa,
		             t->addr->len);
	dnsd_metrics_add(&n->srv->metrics.xfr[DNSD_XFR_NOTIFY], 1);
	t->tries--;
	evtimer_add(t->timer, &tv);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct target *t = arg;
	char name[80];
	(void)fd;
	(void)what;

	if (t->tries > 0) {
		send_one(t);
		return;
	}
	dnsd_metrics_add(&t->n->srv->metrics.xfr[DNSD_XFR_NOTIFY_LOST], 1);
	log_msg(LL_WARN, "NOTIFY of serial %u to %s: no answer after %d tries", t->serial,
	        addr_str(t->addr, name, sizeof(name)), NOTIFY_TRIES);
}

static bool
same_addr(const struct sockaddr_storage *a, const struct daemon_addr *b)
{
	struct netaddr x, y;
	uint16_t px, py;

	if (a->ss_family != b->sa.ss_family)
		return false;
	addr_to_netaddr((const struct sockaddr *)a, &x);
	addr_to_netaddr((const struct sockaddr *)&b->sa, &y);
	px = a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
	                              : ((const struct sockaddr_in *)a)->sin_port;
	py = b->sa.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&b->sa)->sin6_port
	                                 : ((const struct sockaddr_in *)&b->sa)->sin_port;
	return px == py && netaddr_equal(&x, &y);
}

/* An answer: from the secondary it was sent to, with its ID, a NOTIFY response. */
static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct dnsd_notify *n = arg;
	(void)what;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		uint8_t msg[512];
		ssize_t len = recvfrom(fd, msg, sizeof(msg), MSG_DONTWAIT, (struct sockaddr *)&from,
		                       &flen);
		uint16_t id, flags;

		if (len < 0)
			return;
		if (len < DNSW_HEADER)
			continue;
		id = dnsw_get16(msg);
		flags = dnsw_get16(msg + 2);
		if (!(flags & DNSW_F_QR) || ((flags & DNSW_F_OPCODE_MASK) >> 11) != 4)
			continue;
		for (size_t k = 0; k < n->n; k++) {
			struct target *t = &n->t[k];

			if (t->tries < NOTIFY_TRIES && t->id == id && same_addr(&from, t->addr) &&
			    evtimer_pending(t->timer, NULL)) {
				evtimer_del(t->timer);
				t->tries = 0;
				dnsd_metrics_add(&n->srv->metrics.xfr[DNSD_XFR_NOTIFY_ACK], 1);
			}
		}
	}
}

static int
open_socket(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd >= 0 && family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	return fd;
}

enum svc_status
dnsd_notify_create(struct dnsd_server *s, struct dnsd_notify **out)
{
	struct dnsd_notify *n;
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	if (s->opts.n_notify == 0)
		return SVC_OK;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return SVC_ENOMEM;
	n->srv = s;
	n->fd4 = open_socket(AF_INET);
	n->fd6 = open_socket(AF_INET6);
	n->t = calloc(s->opts.n_notify, sizeof(*n->t));
	if (n->t == NULL)
		goto done;
	if (n->fd4 >= 0 &&
	    ((n->ev4 = event_new(s->base, n->fd4, EV_READ | EV_PERSIST, on_read, n)) == NULL ||
	     event_add(n->ev4, NULL) != 0))
		goto done;
	if (n->fd6 >= 0 &&
	    ((n->ev6 = event_new(s->base, n->fd6, EV_READ | EV_PERSIST, on_read, n)) == NULL ||
	     event_add(n->ev6, NULL) != 0))
		goto done;
	for (size_t i = 0; i < s->opts.n_notify; i++) {
		struct target *t = &n->t[n->n];

		t->n = n;
		t->addr = &s->opts.notify[i];
		t->timer = evtimer_new(s->base, on_timer, t);
		if (t->timer == NULL)
			goto done;
		n->n++;
	}
	*out = n;
	n = NULL;
	st = SVC_OK;
done:
	dnsd_notify_destroy(n);
	return st;
}

void
dnsd_notify_zone(struct dnsd_notify *n, uint32_t serial)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++) {
		struct target *t = &n->t[i];

		evtimer_del(t->timer);
		if (getrandom(&t->id, sizeof(t->id), GRND_NONBLOCK) != sizeof(t->id))
			t->id = (uint16_t)(t->id * 31421u + 6927u);
		t->serial = serial;
		t->tries = NOTIFY_TRIES;
		send_one(t);
	}
}

void
dnsd_notify_destroy(struct dnsd_notify *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++)
		event_free(n->t[i].timer);
	if (n->ev4 != NULL)
		event_free(n->ev4);
	if (n->ev6 != NULL)
		event_free(n->ev6);
	if (n->fd4 >= 0)
		close(n->fd4);
	if (n->fd6 >= 0)
		close(n->fd6);
	free(n->t);
	free(n);
}
