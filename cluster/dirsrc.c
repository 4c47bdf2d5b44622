/* dirsrc.c -- the directory source: manifest files to store units, reading only what changed. */
#include "dirsrc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "htab.h"
#include "mtree.h"

#define DIRSRC_MAX_FILES 100000
/* File times come from a coarse clock (a kernel tick, 1-10 ms) that may lag the wall clock by a
 * tick: a file changed within this long before it is read may change again unseen. */
#define DIRSRC_RACY_MS 100

/* A file as last read. Its identity changes with any write (mtime, ctime) or replacement
 * (inode), except a write of the same size within one tick of the file system's clock after the
 * read: a file changed that recently when it was read is read again by the next scan (git's
 * "racily clean" rule). */
struct dirsrc_file {
	struct htab_node hn;
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	uint64_t mark; /* the scan that last reached it */
	bool racy;     /* changed too close to its read to trust the identity */
};

struct dirsrc {
	char *dir;
	struct htab files;
	uint64_t mark;
	int racy_ms;
};

struct scan {
	struct dirsrc *ds;
	struct store *s;
	struct diag *d;
	size_t seen, read;
};

enum svc_status
dirsrc_create(const char *dir, struct dirsrc **out)
{
	struct dirsrc *ds = calloc(1, sizeof(*ds));

	*out = NULL;
	if (ds == NULL || (ds->dir = strdup(dir)) == NULL) {
		free(ds);
		return SVC_ENOMEM;
	}
	htab_init(&ds->files);
	ds->racy_ms = DIRSRC_RACY_MS;
	*out = ds;
	return SVC_OK;
}

void
dirsrc_racy_window(struct dirsrc *ds, int ms)
{
	ds->racy_ms = ms;
}

static void
file_free(struct dirsrc_file *f)
{
	free(f->path);
	free(f);
}

void
dirsrc_destroy(struct dirsrc *ds)
{
	struct htab_iter it;
	struct htab_node *n;

	if (ds == NULL)
		return;
	for (n = htab_first(&it, &ds->files); n != NULL; n = htab_iter_next(&it))
		file_free(htab_item(n, struct dirsrc_file, hn));
	htab_deinit(&ds->files);
	free(ds->dir);
	free(ds);
}

static struct dirsrc_file *
file_find(const struct dirsrc *ds, const char *path, uint32_t h)
{
	for (struct htab_node *n = htab_find(&ds->files, h); n != NULL; n = htab_next(n, h)) {
		struct dirsrc_file *f = htab_item(n, struct dirsrc_file, hn);

		if (strcmp(f->path, path) == 0)
			return f;
	}
	return NULL;
}

/* Whether T (a file time) is less than MS milliseconds before now (or after it). */
static bool
recent(const struct timespec *t, int ms)
{
	struct timespec now;
	int64_t age_ms;

	clock_gettime(CLOCK_REALTIME, &now);
	age_ms = (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
	return age_ms < ms;
}

static bool
same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static enum svc_status
on_file(void *arg, const char *path, int fd, const struct stat *st)
{
	struct scan *sc = arg;
	uint32_t h = htab_hash_str(path, 0);
	struct dirsrc_file *f = file_find(sc->ds, path, h);
	struct cluster_objects objs;
	size_t errors = sc->d->errors;
	enum svc_status rst;

	if (++sc->seen > DIRSRC_MAX_FILES) {
		diag_add(sc->d, DIAG_ERROR, path, 0, 0, NULL, "more than %d manifest files",
		         DIRSRC_MAX_FILES);
		return SVC_ELIMIT;
	}
	if (f != NULL) {
		bool same = f->dev == st->st_dev && f->ino == st->st_ino &&
		            f->size == st->st_size && same_time(&f->mtime, &st->st_mtim) &&
		            same_time(&f->ctime, &st->st_ctim);

		f->mark = sc->ds->mark;
		if (same && !f->racy)
			return SVC_OK;
	} else {
		f = calloc(1, sizeof(*f));
		if (f == NULL || (f->path = strdup(path)) == NULL ||
		    htab_insert(&sc->ds->files, &f->hn, h) != SVC_OK) {
			if (f != NULL)
				free(f->path);
			free(f);
			return SVC_ENOMEM;
		}
		f->mark = sc->ds->mark;
	}
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtime = st->st_mtim;
	f->ctime = st->st_ctim;
	f->racy = sc->ds->racy_ms >= 0 &&
	          (recent(&st->st_mtim, sc->ds->racy_ms) || recent(&st->st_ctim, sc->ds->racy_ms));
	sc->read++;
	cluster_objects_init(&objs);
	rst = cluster_objects_load_fd(&objs, path, fd, st, sc->d);
	if (rst == SVC_ENOMEM) {
		cluster_objects_deinit(&objs);
		return rst;
	}
	rst = store_put(sc->s, path, &objs, sc->d, rst != SVC_OK || sc->d->errors != errors);
	return rst == SVC_ENOMEM ? rst : SVC_OK;
}

/* Files the walk no longer reached: gone from the store too. */
static void
drop_unseen(struct scan *sc)
{
	struct htab_iter it;
	struct htab_node *n;

	for (n = htab_first(&it, &sc->ds->files); n != NULL; n = htab_iter_next(&it)) {
		struct dirsrc_file *f = htab_item(n, struct dirsrc_file, hn);

		if (f->mark == sc->ds->mark)
			continue;
		store_delete(sc->s, f->path);
		htab_remove(&sc->ds->files, &f->hn);
		file_free(f);
	}
}

enum svc_status
dirsrc_scan(struct dirsrc *ds, struct store *s, struct diag *d, size_t *read)
{
	struct scan sc = {ds, s, d, 0, 0};
	const struct mtree_ops ops = {.file = on_file, .arg = &sc};
	enum svc_status st;

	ds->mark++;
	st = mtree_walk(ds->dir, &ops, d);
	/* A tree that could not be walked to its end says nothing about the files not reached. */
	if (st == SVC_OK)
		drop_unseen(&sc);
	if (read != NULL)
		*read = sc.read;
	return st;
}
