/* mtree.c -- the manifest tree: which entries under a zones directory are read, and how (the
 * policy is in mtree.h). */
#include "mtree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "htab.h"
#include "vec.h"

/* A directory or file met in this walk, by (device, inode). */
struct mtree_seen {
	struct htab_node hn;
	dev_t dev;
	ino_t ino;
	const char *path; /* where it was first met */
	bool open;        /* a directory being read: meeting it again is a loop */
};

struct mtree_walker {
	const struct mtree_ops *ops;
	struct diag *d;
	struct arena arena; /* names, paths and seen entries, for one walk */
	struct htab dirs, files;
	enum svc_status stop; /* set when a callback or memory stops the walk */
};

static bool
mtree_is_manifest(const char *name)
{
	size_t len = strlen(name);

	if (name[0] == '.')
		return false;
	return (len > 5 && !strcmp(name + len - 5, ".yaml")) ||
	       (len > 4 && !strcmp(name + len - 4, ".yml"));
}

static uint32_t
mtree_hash(dev_t dev, ino_t ino)
{
	return htab_hash_u64((uint64_t)ino * 31 + (uint64_t)dev);
}

static struct mtree_seen *
mtree_find(const struct htab *t, const struct stat *st)
{
	uint32_t h = mtree_hash(st->st_dev, st->st_ino);
	struct htab_node *hn;

	for (hn = htab_find(t, h); hn != NULL; hn = htab_next(hn, h)) {
		struct mtree_seen *s = htab_item(hn, struct mtree_seen, hn);

		if (s->dev == st->st_dev && s->ino == st->st_ino)
			return s;
	}
	return NULL;
}

static struct mtree_seen *
mtree_add(struct mtree_walker *w, struct htab *t, const struct stat *st, const char *path)
{
	struct mtree_seen *s = arena_alloc(&w->arena, sizeof(*s));

	if (s == NULL || (s->path = arena_strdup(&w->arena, path)) == NULL ||
	    htab_insert(t, &s->hn, mtree_hash(st->st_dev, st->st_ino)) != SVC_OK) {
		w->stop = SVC_ENOMEM;
		return NULL;
	}
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	return s;
}

int
mtree_open(const char *path, struct stat *st, struct diag *d)
{
	/* O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		diag_add(d, DIAG_ERROR, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, st) != 0) {
		diag_add(d, DIAG_ERROR, path, 0, 0, NULL, "cannot stat: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		diag_add(d, DIAG_ERROR, path, 0, 0, NULL, "not a regular file");
		close(fd);
		return -1;
	}
	return fd;
}

enum svc_status
mtree_read(int fd, const char *path, const struct stat *st, size_t max, struct diag *d, char **buf,
           size_t *len)
{
	size_t size = (size_t)st->st_size, off = 0;
	char *b;

	*buf = NULL;
	*len = 0;
	if (st->st_size < 0 || (uint64_t)st->st_size > max) {
		if (max % (1u << 20) == 0)
			diag_add(d, DIAG_ERROR, path, 0, 0, NULL, "file is larger than %zu MiB",
			         max >> 20);
		else
			diag_add(d, DIAG_ERROR, path, 0, 0, NULL, "file is larger than %zu bytes",
			         max);
		return SVC_ELIMIT;
	}
	b = malloc(size + 1);
	if (b == NULL) {
		diag_add(d, DIAG_ERROR, path, 0, 0, NULL, "out of memory");
		return SVC_ENOMEM;
	}
	/* Up to the size seen by fstat: a file growing meanwhile is read as it was. */
	while (off < size) {
		ssize_t r = read(fd, b + off, size - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			diag_add(d, DIAG_ERROR, path, 0, 0, NULL, "cannot read: %s",
			         strerror(errno));
			free(b);
			return SVC_EIO;
		}
		if (r == 0)
			break; /* shrunk meanwhile */
		off += (size_t)r;
	}
	b[off] = '\0';
	*buf = b;
	*len = off;
	return SVC_OK;
}

static int
mtree_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of DP but dot names, sorted: name order makes loading, and so allocation order
 * and reports, the same everywhere. */
static char **
mtree_list(struct mtree_walker *w, DIR *dp, size_t *n)
{
	char **names = NULL;
	size_t cap = 0;
	struct dirent *de;

	*n = 0;
	while ((de = readdir(dp)) != NULL) {
		char **slot;

		if (de->d_name[0] == '.')
			continue;
		slot = vec_push(&names, n, &cap, sizeof(*names), &w->arena);
		if (slot == NULL || (*slot = arena_strdup(&w->arena, de->d_name)) == NULL) {
			w->stop = SVC_ENOMEM;
			return NULL;
		}
	}
	if (*n > 1)
		qsort(names, *n, sizeof(*names), mtree_name_cmp);
	return names;
}

/* A name that stat cannot follow: a link to nothing, a loop of links, or gone meanwhile. */
static void
mtree_unfollowable(struct mtree_walker *w, const char *path, const char *name, int err)
{
	struct stat lst;

	if (err == ELOOP) {
		diag_add(w->d, DIAG_WARNING, path, 0, 0, NULL, "symbolic link loop; skipped");
	} else if (err == ENOENT || err == ENOTDIR) {
		/* Only a link left pointing at nothing is worth a word; a file removed since
		 * the listing is simply gone. */
		if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && mtree_is_manifest(name))
			diag_add(w->d, DIAG_WARNING, path, 0, 0, NULL,
			         "symbolic link to nothing; skipped");
	} else {
		diag_add(w->d, DIAG_ERROR, path, 0, 0, NULL, "cannot read: %s", strerror(err));
	}
}

/* The directory of the file a link at PATH leads to, for the watcher. */
static void
mtree_link_dir(struct mtree_walker *w, const char *path)
{
	struct stat lst;
	char *real;

	if (w->ops->dir == NULL || lstat(path, &lst) != 0 || !S_ISLNK(lst.st_mode))
		return;
	real = realpath(path, NULL);
	if (real != NULL)
		w->ops->dir(w->ops->arg, dirname(real), false);
	free(real);
}

/* Whether PATH (links followed) is still the file ST describes. */
static bool
mtree_still(const char *path, const struct stat *st)
{
	struct stat now;

	return stat(path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino;
}

static void
mtree_read_file(struct mtree_walker *w, const char *path, int fd, const struct stat *st)
{
	enum svc_status st2 = w->ops->file(w->ops->arg, path, fd, st);

	if (st2 != SVC_OK)
		w->stop = st2;
}

static void
mtree_file(struct mtree_walker *w, const char *path, const char *name, const struct stat *st)
{
	struct mtree_seen *seen;
	struct stat fst;
	int fd;

	if (!mtree_is_manifest(name))
		return;
	mtree_link_dir(w, path);
	if (w->ops->file == NULL)
		return;
	if (!S_ISREG(st->st_mode)) {
		diag_add(w->d, DIAG_ERROR, path, 0, 0, NULL, "not a regular file");
		return;
	}
	fd = mtree_open(path, &fst, w->d);
	if (fd < 0)
		return;
	seen = mtree_find(&w->files, &fst);
	/* The file read earlier may have been replaced since and its inode number given to this
	 * one: the same file only if the earlier name still leads to it. */
	if (seen != NULL && !mtree_still(seen->path, &fst)) {
		seen->path = arena_strdup(&w->arena, path);
		if (seen->path == NULL)
			w->stop = SVC_ENOMEM;
		else
			mtree_read_file(w, path, fd, &fst);
	} else if (seen != NULL) {
		diag_add(w->d, DIAG_WARNING, path, 0, 0, NULL, "same file as %s; read once",
		         seen->path);
	} else if (mtree_add(w, &w->files, &fst, path) != NULL) {
		mtree_read_file(w, path, fd, &fst);
	}
	close(fd);
}

static void
mtree_dir(struct mtree_walker *w, const char *path, int depth)
{
	struct mtree_seen *seen;
	struct stat st;
	char **names = NULL;
	size_t n = 0, i;
	DIR *dp;

	if (depth > MTREE_MAX_DEPTH) {
		diag_add(w->d, DIAG_WARNING, path, 0, 0, NULL,
		         "directories nested more than %d deep; skipped", MTREE_MAX_DEPTH);
		return;
	}
	dp = opendir(path);
	if (dp == NULL) {
		diag_add(w->d, DIAG_ERROR, path, 0, 0, NULL, "cannot read directory: %s",
		         strerror(errno));
		if (depth == 0)
			w->stop = SVC_EIO;
		return;
	}
	/* The directory actually opened, whatever replaced the name since. */
	if (fstat(dirfd(dp), &st) != 0) {
		diag_add(w->d, DIAG_ERROR, path, 0, 0, NULL, "cannot stat: %s", strerror(errno));
		closedir(dp);
		if (depth == 0)
			w->stop = SVC_EIO;
		return;
	}
	seen = mtree_find(&w->dirs, &st);
	if (seen != NULL) {
		if (seen->open)
			diag_add(w->d, DIAG_WARNING, path, 0, 0, NULL,
			         "symbolic link loop: leads back to %s; skipped", seen->path);
		else
			diag_add(w->d, DIAG_WARNING, path, 0, 0, NULL,
			         "same directory as %s; read once", seen->path);
		closedir(dp);
		return;
	}
	seen = mtree_add(w, &w->dirs, &st, path);
	if (seen != NULL)
		names = mtree_list(w, dp, &n);
	closedir(dp);
	if (w->stop != SVC_OK)
		return; /* out of memory */
	if (w->ops->dir != NULL)
		w->ops->dir(w->ops->arg, path, true);
	seen->open = true;
	for (i = 0; i < n && w->stop == SVC_OK; i++) {
		char *child = arena_printf(&w->arena, "%s/%s", path, names[i]);

		if (child == NULL) {
			w->stop = SVC_ENOMEM;
			break;
		}
		if (strlen(child) >= PATH_MAX) {
			diag_add(w->d, DIAG_ERROR, child, 0, 0, NULL, "path too long; skipped");
			continue;
		}
		if (stat(child, &st) != 0)
			mtree_unfollowable(w, child, names[i], errno);
		else if (S_ISDIR(st.st_mode))
			mtree_dir(w, child, depth + 1);
		else
			mtree_file(w, child, names[i], &st);
	}
	seen->open = false;
}

enum svc_status
mtree_walk(const char *root, const struct mtree_ops *ops, struct diag *d)
{
	struct mtree_walker w = {.ops = ops, .d = d, .stop = SVC_OK};

	arena_init(&w.arena);
	htab_init(&w.dirs);
	htab_init(&w.files);
	mtree_dir(&w, root, 0);
	htab_deinit(&w.dirs);
	htab_deinit(&w.files);
	arena_deinit(&w.arena);
	return w.stop;
}
