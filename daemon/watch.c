/* watch.c -- rebuild the cluster model when manifest files change (inotify on libevent). In the
 * daemons it runs on the builder thread (builder.h), which owns it: its loop, the walk, the load.
 *
 * What is watched follows the loader's walk (cluster/mtree.h), redone before every rebuild:
 * every directory the loader reads, the directory holding the target of every manifest name
 * that is a link, and the directory holding the zones directory, for its own entry (a zones
 * path that is a link swapped to a new target, or a directory replaced, triggers a rebuild and
 * the watches move to the new tree). Watches on directories the walk no longer reaches are
 * removed. Dot names are editors' and svcctl's temporary files and do not count, except those
 * that are (or were) directories or links to directories: a ConfigMap volume updates by
 * renaming a new "..data" link over the old one. */
#include "watch.h"

#include <errno.h>
#include <event2/event.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "dirsrc.h"
#include "htab.h"
#include "mtree.h"

#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF |   \
	 IN_MOVE_SELF | IN_MODIFY | IN_ONLYDIR)
/* Events that keep coming delay a rebuild at most this many debounce periods. */
#define WATCH_MAX_DELAY 3

/* Why a directory is watched: any entry of it counts, or only the zones entry of its parent. */
enum {
	WATCH_TREE = 1,
	WATCH_PARENT = 2,
	WATCH_STATUS_PARENT = 4, /* only the status directory's entry of it */
};

/* One inotify watch, by its descriptor. */
struct watch_dir {
	struct htab_node hn;
	int wd;
	unsigned flags; /* WATCH_TREE, WATCH_PARENT */
	uint64_t mark;  /* the sync that last reached it */
	char *path;     /* the path it was last added by */
};

struct watch {
	struct event_base *base;
	char *dir;
	char *parent; /* the directory holding DIR's entry */
	char *entry;  /* DIR's last component */
	struct cluster_config cfg;
	int fd;
	struct event *ev_inotify;
	struct event *ev_debounce;
	struct timeval debounce;
	struct timeval pending_since; /* first change not yet rebuilt; tv_sec 0: none */
	watch_cb cb;
	void *arg;
	uint64_t generation;
	struct htab dirs; /* of struct watch_dir, by wd */
	uint64_t mark;
	bool warned; /* a watch could not be added (logged once) */
	/* Every object as last read, file by file: a rebuild reads only the changed files. */
	struct store *store;
	struct dirsrc *src;
	/* The probers' PodStatus files, flat (watch_set_status_dir); NULL: none. */
	char *status_dir, *status_parent, *status_entry;
	struct dirsrc *status_src;
};

static struct watch_dir *
watch_find(const struct watch *w, int wd)
{
	uint32_t h = htab_hash_u64((uint64_t)(unsigned)wd);
	struct htab_node *hn;

	for (hn = htab_find(&w->dirs, h); hn != NULL; hn = htab_next(hn, h)) {
		struct watch_dir *e = htab_item(hn, struct watch_dir, hn);

		if (e->wd == wd)
			return e;
	}
	return NULL;
}

static void
watch_forget(struct watch *w, struct watch_dir *e)
{
	htab_remove(&w->dirs, &e->hn);
	free(e->path);
	free(e);
}

/* Watch PATH for FLAGS in this sync. inotify gives a directory one descriptor however it is
 * reached, so a directory met twice is one entry. */
static void
watch_add(struct watch *w, const char *path, unsigned flags)
{
	int wd = inotify_add_watch(w->fd, path, WATCH_MASK);
	struct watch_dir *e;
	char *p;

	if (wd < 0) {
		/* ENOSPC: fs.inotify.max_user_watches is used up. Changes there go unseen. */
		if (errno != ENOENT && errno != ENOTDIR && !w->warned) {
			log_msg(LL_WARN, "cannot watch %s: %s; changes there need SIGHUP", path,
			        strerror(errno));
			w->warned = true;
		}
		return;
	}
	e = watch_find(w, wd);
	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL || htab_insert(&w->dirs, &e->hn, htab_hash_u64((unsigned)wd))) {
			free(e);
			inotify_rm_watch(w->fd, wd);
			return;
		}
		e->wd = wd;
	}
	if (e->path == NULL || strcmp(e->path, path) != 0) {
		p = strdup(path);
		if (p != NULL) {
			free(e->path);
			e->path = p;
		}
	}
	if (e->mark != w->mark)
		e->flags = 0;
	e->mark = w->mark;
	e->flags |= flags;
}

static void
on_walk_dir(void *arg, const char *path, bool listed)
{
	(void)listed;
	watch_add(arg, path, WATCH_TREE);
}

/* Make the watches those of the tree as it is now. */
static void
watch_sync(struct watch *w)
{
	const struct mtree_ops ops = {.dir = on_walk_dir, .arg = w};
	struct htab_iter it;
	struct htab_node *hn;
	struct diag d;

	w->mark++;
	watch_add(w, w->parent, WATCH_PARENT);
	if (w->status_dir != NULL) {
		watch_add(w, w->status_parent, WATCH_STATUS_PARENT);
		watch_add(w, w->status_dir, WATCH_TREE);
	}
	/* The loader reports the tree's problems; here they would only be said twice. */
	diag_init(&d);
	mtree_walk(w->dir, &ops, &d);
	diag_deinit(&d);
	for (hn = htab_first(&it, &w->dirs); hn != NULL; hn = htab_iter_next(&it)) {
		struct watch_dir *e = htab_item(hn, struct watch_dir, hn);

		if (e->mark != w->mark) {
			inotify_rm_watch(w->fd, e->wd);
			watch_forget(w, e);
		}
	}
}

/* The one place a snapshot is produced, on the thread that owns W (in the daemons the builder
 * thread): the files that changed are read into W's store, which makes the snapshot. A directory
 * that cannot be read gives NULL: the caller keeps serving what it has. */
static void
watch_load(struct watch *w, struct diag *d, struct cluster **out)
{
	struct stat st;

	if (dirsrc_scan(w->src, w->store, d, NULL) == SVC_EIO)
		return;
	/* Not there (no prober wrote yet): what was read from it stays, as with a zones file
	 * that cannot be read. */
	if (w->status_src != NULL && stat(w->status_dir, &st) == 0 && S_ISDIR(st.st_mode))
		(void)dirsrc_scan(w->status_src, w->store, d, NULL);
	if (store_snapshot(w->store, d, out) == SVC_OK && *out != NULL)
		(*out)->files_in_error = dirsrc_files_in_error(w->src); /* not shared yet */
}

void
watch_reload(struct watch *w)
{
	struct diag d;
	struct cluster *c = NULL;

	diag_init(&d);
	/* This build covers every change seen so far; those seen from now on (the events are read
	 * after it) arm the timer again. */
	w->pending_since.tv_sec = 0;
	evtimer_del(w->ev_debounce);
	/* Watch first: a change made while loading then still triggers a rebuild. */
	watch_sync(w);
	watch_load(w, &d, &c);
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

/* Whether event IE on E is a change of the manifests. */
static bool
watch_counts(const struct watch *w, const struct watch_dir *e, const struct inotify_event *ie)
{
	char path[4096];
	struct stat st;

	if (ie->len == 0 || ie->name[0] == '\0')
		return true; /* the directory itself moved or went */
	if ((e->flags & WATCH_PARENT) && strcmp(ie->name, w->entry) == 0)
		return true;
	if ((e->flags & WATCH_STATUS_PARENT) && strcmp(ie->name, w->status_entry) == 0)
		return true;
	if (!(e->flags & WATCH_TREE))
		return false;
	if (ie->name[0] != '.' || (ie->mask & IN_ISDIR) || e->path == NULL)
		return true;
	/* A dot name counts if it leads to a directory: "..data" renamed into place. */
	return snprintf(path, sizeof(path), "%s/%s", e->path, ie->name) < (int)sizeof(path) &&
	       stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	struct timeval now, max, waited;

	(void)what;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		char *p;

		if (n <= 0)
			break;
		for (p = buf; p < buf + n;) {
			const struct inotify_event *ie = (const struct inotify_event *)p;
			struct watch_dir *e = watch_find(w, ie->wd);

			p += sizeof(*ie) + ie->len;
			if (ie->mask & IN_Q_OVERFLOW) {
				changed = true; /* events were lost: assume anything changed */
			} else if (ie->mask & IN_IGNORED) {
				if (e != NULL)
					watch_forget(w, e); /* the kernel dropped it */
			} else if (e != NULL && !changed) {
				changed = watch_counts(w, e, ie);
			}
		}
	}
	if (!changed)
		return;
	/* Restarting the timer on every event gives one rebuild after a burst of writes; a
	 * burst that never ends still gets one every WATCH_MAX_DELAY periods. */
	event_base_gettimeofday_cached(w->base, &now);
	if (w->pending_since.tv_sec == 0)
		w->pending_since = now;
	max.tv_sec = w->debounce.tv_sec * WATCH_MAX_DELAY;
	max.tv_usec = w->debounce.tv_usec * WATCH_MAX_DELAY;
	max.tv_sec += max.tv_usec / 1000000;
	max.tv_usec %= 1000000;
	timersub(&now, &w->pending_since, &waited);
	if (!timercmp(&waited, &max, >) || !evtimer_pending(w->ev_debounce, NULL))
		evtimer_add(w->ev_debounce, &w->debounce);
}

enum svc_status
watch_create(struct event_base *base, const char *dir, const struct cluster_config *cfg,
             unsigned debounce_ms, watch_cb cb, void *arg, struct watch **out)
{
	struct watch *w;
	enum svc_status st = SVC_OK;
	struct cluster_config scfg;
	char *tmp = NULL;
	int err;

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
	htab_init(&w->dirs);
	/* dirname and basename write into their argument: each gets a copy of DIR. */
	w->dir = strdup(dir);
	tmp = strdup(dir);
	if (w->dir == NULL || tmp == NULL || (w->parent = strdup(dirname(tmp))) == NULL) {
		st = SVC_ENOMEM;
		goto fail;
	}
	free(tmp);
	tmp = strdup(dir);
	if (tmp == NULL || (w->entry = strdup(basename(tmp))) == NULL) {
		st = SVC_ENOMEM;
		goto fail;
	}
	/* The daemons never read the Endpoints view (svcctl's): their snapshots leave it out. */
	scfg = *cfg;
	scfg.skip_endpoints_view = true;
	st = store_create(&scfg, &w->store);
	if (st == SVC_OK)
		st = dirsrc_create(dir, &w->src);
	if (st != SVC_OK)
		goto fail;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		st = SVC_EIO;
		goto fail;
	}
	/* The zones directory must be there at the start. Only it and its parent are watched
	 * until the first rebuild walks the tree (on the thread that owns W, not the caller's). */
	if (inotify_add_watch(w->fd, dir, WATCH_MASK) < 0) {
		st = errno == ENOENT || errno == ENOTDIR ? SVC_ENOENT : SVC_EIO;
		goto fail;
	}
	w->mark++;
	watch_add(w, w->parent, WATCH_PARENT);
	watch_add(w, w->dir, WATCH_TREE);
	w->ev_inotify = event_new(base, w->fd, EV_READ | EV_PERSIST, on_inotify, w);
	w->ev_debounce = evtimer_new(base, on_debounce, w);
	if (w->ev_inotify == NULL || w->ev_debounce == NULL ||
	    event_add(w->ev_inotify, NULL) != 0) {
		st = SVC_ENOMEM;
		goto fail;
	}
	free(tmp);
	*out = w;
	return SVC_OK;
fail:
	err = errno;
	free(tmp);
	watch_destroy(w);
	errno = err; /* for the caller's message */
	return st;
}

enum svc_status
watch_set_status_dir(struct watch *w, const char *status_dir)
{
	char *a = strdup(status_dir), *b = strdup(status_dir);
	enum svc_status st = SVC_ENOMEM;

	if (a == NULL || b == NULL)
		goto done;
	w->status_dir = strdup(status_dir);
	w->status_parent = strdup(dirname(a));
	w->status_entry = strdup(basename(b));
	if (w->status_dir == NULL || w->status_parent == NULL || w->status_entry == NULL)
		goto done;
	st = dirsrc_create(status_dir, &w->status_src);
done:
	free(a);
	free(b);
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
	struct htab_iter it;
	struct htab_node *hn;

	if (w == NULL)
		return;
	if (w->ev_inotify != NULL)
		event_free(w->ev_inotify);
	if (w->ev_debounce != NULL)
		event_free(w->ev_debounce);
	if (w->fd >= 0)
		close(w->fd);
	for (hn = htab_first(&it, &w->dirs); hn != NULL; hn = htab_iter_next(&it))
		watch_forget(w, htab_item(hn, struct watch_dir, hn));
	htab_deinit(&w->dirs);
	dirsrc_destroy(w->src);
	dirsrc_destroy(w->status_src);
	store_destroy(w->store);
	free(w->status_dir);
	free(w->status_parent);
	free(w->status_entry);
	free(w->dir);
	free(w->parent);
	free(w->entry);
	free(w);
}
