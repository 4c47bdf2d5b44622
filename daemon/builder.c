/* builder.c -- the builder thread and its hand-off to a serving loop (builder.h).
 *
 * Wake-ups cross threads through eventfds, not libevent's own cross-thread calls, so a serving
 * loop may run without libevent's locks (svcfwd's does). The builder thread blocks every signal:
 * they are the serving loop's. It runs at a lower priority (nice +BUILDER_NICE), so that on a
 * busy machine the serving threads get the processor first: a build may take longer, a query
 * must not. */
#include "builder.h"

#include <errno.h>
#include <event2/event.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "daemon.h"
#include "etcdwatch.h"

#define BUILDER_NICE 10
/* Memory freed outside a build (what the serving loop is done with, a zone its last reader let
 * go late) goes back to the system within this: a build trims when it ends, but such frees come
 * after. A trim with nothing to give back takes ~0.2 ms at 100,000 services. */
#define BUILDER_TRIM_S 5

struct builder_handoff {
	struct builder *b;
	int efd; /* wakes the loop */
	struct event *ev;
	builder_take_fn take;
	builder_free_fn free_item;
	void *arg;
	/* Under the builder's lock. */
	struct builder_item *pending; /* posted, not taken yet: at most one */
	struct builder_item *spent;   /* taken and done with, for the builder thread to free */
};

struct builder {
	struct event_base *base; /* the builder thread's */
	/* The source, one of two: the directory or etcd. */
	struct watch *watch;
	struct etcdwatch *etcd;
	int efd; /* wakes the builder thread */
	struct event *ev;
	struct event *trim_ev;
	pthread_t thread;
	bool started;
	atomic_bool reload, stop;
	pthread_mutex_t lock;
	struct builder_handoff *h;
};

static void
wake(int efd)
{
	uint64_t one = 1;

	/* Fails only when the counter would overflow, and then a wake-up is pending anyway. */
	(void)!write(efd, &one, sizeof(one));
}

static void
drain(int efd)
{
	uint64_t n;

	(void)!read(efd, &n, sizeof(n));
}

static void
free_list(struct builder_handoff *h, struct builder_item *it)
{
	while (it != NULL) {
		struct builder_item *next = it->next;

		h->free_item(it);
		it = next;
	}
}

/* Builder thread: free what the loop is done with. */
static void
free_spent(struct builder *b)
{
	struct builder_item *list;

	if (b->h == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	list = b->h->spent;
	b->h->spent = NULL;
	pthread_mutex_unlock(&b->lock);
	free_list(b->h, list);
}

/* The first build, and a request for one (SIGHUP). */
static void
source_reload(struct builder *b)
{
	if (b->etcd != NULL)
		etcdwatch_reload(b->etcd);
	else
		watch_reload(b->watch);
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct builder *b = arg;
	(void)what;

	drain(fd);
	if (atomic_load(&b->stop)) {
		event_base_loopbreak(b->base);
		return;
	}
	free_spent(b);
	/* However many requests came in since the last build, one build. */
	if (atomic_exchange(&b->reload, false))
		source_reload(b);
}

static void
on_trim(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

static void *
builder_main(void *arg)
{
	struct builder *b = arg;
	id_t tid = (id_t)gettid();
	int prio;

	/* Linux: a thread's own nice value. Raising it needs no privilege; a failure only leaves
	 * the thread at the daemon's priority. */
	errno = 0;
	prio = getpriority(PRIO_PROCESS, tid);
	if (errno == 0 && prio < 19)
		(void)setpriority(PRIO_PROCESS, tid,
		                  prio + BUILDER_NICE > 19 ? 19 : prio + BUILDER_NICE);
	if (!atomic_load(&b->stop))
		source_reload(b); /* the first snapshot */
	event_base_dispatch(b->base);
	return NULL;
}

/* DIR's watcher, or with ETCD etcd's. */
static enum svc_status
builder_new(const char *dir, const struct etcdwatch_opts *etcd, const struct cluster_config *cfg,
            unsigned debounce_ms, watch_cb cb, void *arg, struct builder **out)
{
	struct builder *b = calloc(1, sizeof(*b));
	enum svc_status st = SVC_ENOMEM;
	int err;

	*out = NULL;
	if (b == NULL)
		return SVC_ENOMEM;
	b->efd = -1;
	pthread_mutex_init(&b->lock, NULL);
	atomic_init(&b->reload, false);
	atomic_init(&b->stop, false);
	b->base = event_base_new();
	if (b->base == NULL)
		goto fail;
	if (etcd != NULL)
		st = etcdwatch_create(b->base, etcd, cb, arg, &b->etcd);
	else
		st = watch_create(b->base, dir, cfg, debounce_ms, cb, arg, &b->watch);
	if (st != SVC_OK)
		goto fail;
	st = SVC_EIO;
	b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->efd < 0)
		goto fail;
	st = SVC_ENOMEM;
	b->ev = event_new(b->base, b->efd, EV_READ | EV_PERSIST, on_wake, b);
	if (b->ev == NULL || event_add(b->ev, NULL) != 0)
		goto fail;
	b->trim_ev = event_new(b->base, -1, EV_PERSIST, on_trim, b);
	if (b->trim_ev == NULL ||
	    event_add(b->trim_ev, &(struct timeval){.tv_sec = BUILDER_TRIM_S}) != 0)
		goto fail;
	*out = b;
	return SVC_OK;
fail:
	err = errno;
	builder_destroy(b);
	errno = err; /* for the caller's message */
	return st;
}

enum svc_status
builder_create(const char *dir, const struct cluster_config *cfg, unsigned debounce_ms, watch_cb cb,
               void *arg, struct builder **out)
{
	return builder_new(dir, NULL, cfg, debounce_ms, cb, arg, out);
}

enum svc_status
builder_set_status_dir(struct builder *b, const char *status_dir)
{
	return b->watch != NULL ? watch_set_status_dir(b->watch, status_dir) : SVC_OK;
}

enum svc_status
builder_create_etcd(const struct etcdwatch_opts *o, watch_cb cb, void *arg, struct builder **out)
{
	return builder_new(NULL, o, NULL, o->debounce_ms, cb, arg, out);
}

enum svc_status
builder_start(struct builder *b)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&b->thread, NULL, builder_main, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return SVC_EIO;
	}
	b->started = true;
	return SVC_OK;
}

void
builder_reload(struct builder *b)
{
	atomic_store(&b->reload, true);
	wake(b->efd);
}

void
builder_destroy(struct builder *b)
{
	struct builder_handoff *h;

	if (b == NULL)
		return;
	if (b->started) {
		atomic_store(&b->stop, true);
		wake(b->efd);
		pthread_join(b->thread, NULL);
	}
	h = b->h;
	if (h != NULL) {
		free_list(h, h->pending);
		free_list(h, h->spent);
		if (h->ev != NULL)
			event_free(h->ev);
		if (h->efd >= 0)
			close(h->efd);
		free(h);
	}
	watch_destroy(b->watch);
	etcdwatch_destroy(b->etcd);
	if (b->ev != NULL)
		event_free(b->ev);
	if (b->trim_ev != NULL)
		event_free(b->trim_ev);
	if (b->base != NULL)
		event_base_free(b->base);
	if (b->efd >= 0)
		close(b->efd);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* The loop: take the newest item, apply it, give it back to be freed. */
static void
on_handoff(evutil_socket_t fd, short what, void *arg)
{
	struct builder_handoff *h = arg;
	struct builder *b = h->b;
	struct builder_item *it;
	(void)what;

	drain(fd);
	pthread_mutex_lock(&b->lock);
	it = h->pending;
	h->pending = NULL;
	pthread_mutex_unlock(&b->lock);
	if (it == NULL)
		return;
	h->take(it, h->arg);
	pthread_mutex_lock(&b->lock);
	it->next = h->spent;
	h->spent = it;
	pthread_mutex_unlock(&b->lock);
	wake(b->efd);
}

enum svc_status
builder_handoff_new(struct builder *b, struct event_base *loop, builder_take_fn take,
                    builder_free_fn free_item, void *arg, struct builder_handoff **out)
{
	struct builder_handoff *h;

	*out = NULL;
	if (b->h != NULL || b->started)
		return SVC_EINVAL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return SVC_ENOMEM;
	h->b = b;
	h->take = take;
	h->free_item = free_item;
	h->arg = arg;
	h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->efd < 0) {
		free(h);
		return SVC_EIO;
	}
	h->ev = event_new(loop, h->efd, EV_READ | EV_PERSIST, on_handoff, h);
	if (h->ev == NULL || event_add(h->ev, NULL) != 0) {
		if (h->ev != NULL)
			event_free(h->ev);
		close(h->efd);
		free(h);
		return SVC_ENOMEM;
	}
	b->h = h;
	*out = h;
	return SVC_OK;
}

void
builder_handoff_post(struct builder_handoff *h, struct builder_item *item)
{
	struct builder *b = h->b;
	struct builder_item *old, *spent;

	item->next = NULL;
	pthread_mutex_lock(&b->lock);
	old = h->pending;
	h->pending = item;
	spent = h->spent;
	h->spent = NULL;
	pthread_mutex_unlock(&b->lock);
	/* The loop had not taken OLD: ITEM, newer, replaces it. */
	if (old != NULL)
		h->free_item(old);
	free_list(h, spent);
	wake(h->efd);
}
