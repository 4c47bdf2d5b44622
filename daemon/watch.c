/* watch.c -- rebuild the cluster model when manifest files change (inotify on libevent). */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF |   \
	 IN_MODIFY)
#define MAX_WATCH_DEPTH 16

struct watch {
	struct event_base *base;
	char *dir;
	struct cluster_config cfg;
	int fd;
	struct event *ev_inotify;
	struct event *ev_debounce;
	struct timeval debounce;
	watch_cb cb;
	void *arg;
	uint64_t generation;
};

/* Watch DIR and every directory below it; adding a watch twice is harmless. */
static void
add_watches(int fd, const char *dir, int depth)
{
	DIR *dp;
	struct dirent *de;

	if (depth > MAX_WATCH_DEPTH || inotify_add_watch(fd, dir, WATCH_MASK) < 0)
		return;
	dp = opendir(dir);
	if (dp == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		char path[4096];
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			add_watches(fd, path, depth + 1);
	}
	closedir(dp);
}

void
watch_reload(struct watch *w)
{
	struct diag d;
	struct cluster *c = NULL;

	diag_init(&d);
	/* New directories may have appeared since the last rebuild. */
	add_watches(w->fd, w->dir, 0);
	cluster_load(w->dir, &w->cfg, &d, &c);
	diag_sort(&d);
	w->generation++;
	if (c != NULL)
		c->generation = w->generation;
	w->cb(c, &d, w->arg);
	diag_deinit(&d);
}

static void
on_debounce(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	watch_reload(arg);
}

static void
on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;

	(void)what;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		char *p;

		if (n <= 0)
			break;
		for (p = buf; p < buf + n;) {
			const struct inotify_event *ie = (const struct inotify_event *)p;

			/* Our own temporary files (svcctl writes .name.tmp then renames) and
			 * editors' dot files do not count until they are renamed into place. */
			if (ie->len == 0 || ie->name[0] != '.' || (ie->mask & IN_ISDIR))
				changed = true;
			p += sizeof(*ie) + ie->len;
		}
	}
	/* Restarting the timer on every event gives one rebuild after a burst of writes. */
	if (changed)
		evtimer_add(w->ev_debounce, &w->debounce);
}

enum svc_status
watch_create(struct event_base *base, const char *dir, const struct cluster_config *cfg,
             unsigned debounce_ms, watch_cb cb, void *arg, struct watch **out)
{
	struct watch *w;
	enum svc_status st = SVC_OK;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return SVC_ENOMEM;
	w->fd = -1;
	w->base = base;
	w->cfg = *cfg;
	w->cb = cb;
	w->arg = arg;
	w->debounce.tv_sec = debounce_ms / 1000;
	w->debounce.tv_usec = (debounce_ms % 1000) * 1000;
	w->dir = strdup(dir);
	if (w->dir == NULL) {
		st = SVC_ENOMEM;
		goto fail;
	}
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		st = SVC_EIO;
		goto fail;
	}
	if (inotify_add_watch(w->fd, dir, WATCH_MASK) < 0) {
		st = errno == ENOENT ? SVC_ENOENT : SVC_EIO;
		goto fail;
	}
	add_watches(w->fd, dir, 0);
	w->ev_inotify = event_new(base, w->fd, EV_READ | EV_PERSIST, on_inotify, w);
	w->ev_debounce = evtimer_new(base, on_debounce, w);
	if (w->ev_inotify == NULL || w->ev_debounce == NULL ||
	    event_add(w->ev_inotify, NULL) != 0) {
		st = SVC_ENOMEM;
		goto fail;
	}
	*out = w;
	return SVC_OK;
fail:
	watch_destroy(w);
	return st;
}

uint64_t
watch_generation(const struct watch *w)
{
	return w->generation;
}

void
watch_destroy(struct watch *w)
{
	if (w == NULL)
		return;
	if (w->ev_inotify != NULL)
		event_free(w->ev_inotify);
	if (w->ev_debounce != NULL)
		event_free(w->ev_debounce);
	if (w->fd >= 0)
		close(w->fd);
	free(w->dir);
	free(w);
}
