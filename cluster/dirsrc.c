/* dirsrc.c -- the directory source: manifest files to store units, reading only what changed. */
#include "dirsrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "htab.h"
#include "mtree.h"
#include "vec.h"
#include "ytree.h"

#define DIRSRC_MAX_FILES 100000
/* Documents per chunk: a one-object change parses this many documents, not the whole file. */
#define DIRSRC_CHUNK_DOCS 32
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
	/* Its documents in chunks, each a store unit: a change parses only the chunks whose
	 * bytes changed (a pod's readiness in a file of hundreds of objects). */
	struct chunk_sum *chunks;
	size_t n_chunks;
	bool unreadable; /* its last read failed: its first unit is failing */
	bool in_error;   /* a unit of it is failing: counted in the source's files_in_error */
};

/* A chunk's bytes, summed (two 64-bit hashes and the length), and where it starts: a chunk
 * moved within its file keeps its objects, their positions moved along. */
struct chunk_sum {
	uint64_t a, b;
	size_t len, from, line;
	bool failing; /* the store keeps this chunk's unit failing (its last good objects serve) */
};

struct dirsrc {
	char *dir;
	struct htab files;
	uint64_t mark;
	int racy_ms;
	size_t chunk_docs;
	size_t files_in_error; /* files with a failing unit */
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
	ds->chunk_docs = DIRSRC_CHUNK_DOCS;
	*out = ds;
	return SVC_OK;
}

void
dirsrc_racy_window(struct dirsrc *ds, int ms)
{
	ds->racy_ms = ms;
}

void
dirsrc_chunk_docs(struct dirsrc *ds, size_t docs)
{
	ds->chunk_docs = docs > 0 ? docs : 1;
}

/* Whether F now has a failing unit, counted once in DS. */
static void
file_recount(struct dirsrc *ds, struct dirsrc_file *f)
{
	bool now = f->unreadable;

	for (size_t k = 0; k < f->n_chunks && !now; k++)
		now = f->chunks[k].failing;
	if (now != f->in_error)
		ds->files_in_error += now ? 1 : (size_t)-1;
	f->in_error = now;
}

size_t
dirsrc_files_in_error(const struct dirsrc *ds)
{
	return ds->files_in_error;
}

static void
file_free(struct dirsrc_file *f)
{
	free(f->chunks);
	free(f->path);
	free(f);
}

/* The store unit of chunk K of PATH: the path itself for the first, so a file of one chunk is
 * the unit it always was. */
static void
unit_name(const char *path, size_t k, char *buf, size_t len)
{
	if (k == 0)
		snprintf(buf, len, "%s", path);
	else
		snprintf(buf, len, "%s#%zu", path, k);
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

/* Whether the line at P (up to END) starts a document: "---" then a blank or the end. A valid
 * stream has no such line inside a scalar (YAML's c-forbidden), so a document starts there for
 * the parser too. */
static bool
marker_line(const char *p, const char *end)
{
	if (end - p < 3 || p[0] != '-' || p[1] != '-' || p[2] != '-')
		return false;
	return end - p == 3 || p[3] == ' ' || p[3] == '\t' || p[3] == '\n' || p[3] == '\r';
}

/* Whether BUF[0..END) holds only blank lines, comments and directives. */
static bool
only_comments(const char *buf, size_t end)
{
	bool line_start = true, in_comment = false;

	for (size_t i = 0; i < end; i++) {
		char c = buf[i];

		if (c == '\n') {
			line_start = true;
			in_comment = false;
		} else if (in_comment || c == ' ' || c == '\t' || c == '\r') {
			continue;
		} else if (c == '#' || (c == '%' && line_start)) {
			in_comment = true;
		} else {
			return false;
		}
		if (c != '\n')
			line_start = false;
	}
	return true;
}

static void
chunk_sum(const char *p, size_t len, size_t from, size_t line, struct chunk_sum *out)
{
	uint64_t a = 14695981039346656037ull, b = 0x9E3779B97F4A7C15ull;

	for (size_t i = 0; i < len; i++) {
		a = (a ^ (uint8_t)p[i]) * 1099511628211ull;
		b = (b + (uint8_t)p[i] + 1) * 0xff51afd7ed558ccdull;
		b ^= b >> 29;
	}
	*out = (struct chunk_sum){a, b, len, from, line, false};
}

/* Parse chunk [FROM, TO) of BUF (the file PATH), which starts after LINES lines: lines and
 * columns are the file's, and byte offsets and document numbers are made the file's after. */
static enum svc_status
load_chunk(struct scan *sc, const char *path, const char *buf, size_t from, size_t to, size_t lines,
           uint32_t first_doc, struct cluster_objects *objs)
{
	size_t i;
	char *tmp;
	enum svc_status st;

	/* libyaml wants a buffer to itself: the chunk, copied. */
	tmp = malloc((to - from) + 1);
	if (tmp == NULL)
		return SVC_ENOMEM;
	memcpy(tmp, buf + from, to - from);
	tmp[to - from] = '\0';
	st = cluster_objects_load_part(objs, path, tmp, to - from, (uint32_t)lines, sc->d);
	free(tmp);
	for (int kind = 0; kind < CLUSTER_KIND_COUNT; kind++) {
		size_t n;
		struct cluster_meta **items = cluster_objects_of(objs, (enum cluster_kind)kind, &n);

		for (i = 0; i < n; i++) {
			struct cluster_origin *o = &items[i]->origin;

			o->doc_start += (uint32_t)from;
			o->doc_end += (uint32_t)from;
			o->doc_index += first_doc;
		}
	}
	return st;
}

/* Read F (open on FD) and put the chunks whose bytes changed into the store. */
static enum svc_status
read_chunks(struct scan *sc, struct dirsrc_file *f, const char *path, int fd, const struct stat *st)
{
	size_t len = 0, n_docs = 0, cap_docs = 0, n_chunks, k, counted = 0, lines = 0;
	size_t *docs = NULL; /* where each document starts */
	struct chunk_sum *sums = NULL;
	char *buf = NULL, unit[4200];
	enum svc_status rst;

	rst = mtree_read(fd, path, st, YTREE_MAX_BYTES, sc->d, &buf, &len);
	if (rst != SVC_OK) {
		struct cluster_objects none;

		/* Unreadable now: every chunk keeps what it had, the first unit failing, and
		 * every chunk is put again once it can be read (clearing that). */
		cluster_objects_init(&none);
		if (rst == SVC_ENOMEM)
			return rst;
		rst = store_put(sc->s, path, &none, sc->d, true);
		f->unreadable = true;
		for (k = 0; k < f->n_chunks; k++)
			f->chunks[k].a = f->chunks[k].b = 0; /* no bytes sum to this: read again */
		file_recount(sc->ds, f);
		return rst == SVC_ENOMEM ? rst : SVC_OK;
	}
	for (size_t at = 0; at <= len; at++) {
		if (at == 0 || buf[at - 1] == '\n') {
			/* The first "---" after nothing but comments starts the first document,
			 * as the parser counts them. */
			if (at == 0 || (marker_line(buf + at, buf + len) &&
			                !(n_docs == 1 && only_comments(buf, at)))) {
				size_t *slot =
				        vec_push(&docs, &n_docs, &cap_docs, sizeof(*docs), NULL);

				if (slot == NULL) {
					rst = SVC_ENOMEM;
					goto done;
				}
				*slot = at;
			}
		}
	}
	n_chunks = (n_docs + sc->ds->chunk_docs - 1) / sc->ds->chunk_docs;
	if (n_chunks == 0)
		n_chunks = 1;
	sums = calloc(n_chunks, sizeof(*sums));
	if (sums == NULL) {
		rst = SVC_ENOMEM;
		goto done;
	}
	for (k = 0; k < n_chunks && rst == SVC_OK; k++) {
		size_t d0 = k * sc->ds->chunk_docs, d1 = d0 + sc->ds->chunk_docs;
		size_t from = d0 < n_docs ? docs[d0] : 0, to = d1 < n_docs ? docs[d1] : len;
		struct cluster_objects objs;
		size_t e0 = sc->d->errors;

		for (; counted < from; counted++)
			lines += buf[counted] == '\n';
		chunk_sum(buf + from, to - from, from, lines, &sums[k]);
		if (k < f->n_chunks && sums[k].a == f->chunks[k].a && sums[k].b == f->chunks[k].b &&
		    sums[k].len == f->chunks[k].len) {
			/* The same bytes as last time; perhaps further up or down the file (a
			 * value above it grew or shrank): its objects' positions move along. */
			if (sums[k].from != f->chunks[k].from ||
			    sums[k].line != f->chunks[k].line) {
				unit_name(path, k, unit, sizeof(unit));
				store_move(sc->s, unit,
				           (long)sums[k].line - (long)f->chunks[k].line,
				           (long)sums[k].from - (long)f->chunks[k].from);
			}
			sums[k].failing = f->chunks[k].failing;
			continue;
		}
		cluster_objects_init(&objs);
		rst = load_chunk(sc, path, buf, from, to, lines, (uint32_t)d0, &objs);
		if (rst == SVC_ENOMEM) {
			cluster_objects_deinit(&objs);
			break;
		}
		unit_name(path, k, unit, sizeof(unit));
		rst = store_put(sc->s, unit, &objs, sc->d, rst != SVC_OK || sc->d->errors != e0);
		sums[k].failing = rst == SVC_EINVAL;
		rst = rst == SVC_ENOMEM ? rst : SVC_OK;
	}
	if (rst != SVC_OK)
		goto done;
	for (k = n_chunks; k < f->n_chunks; k++) {
		unit_name(path, k, unit, sizeof(unit));
		store_delete(sc->s, unit);
	}
	free(f->chunks);
	f->chunks = sums;
	f->n_chunks = n_chunks;
	f->unreadable = false;
	file_recount(sc->ds, f);
	sums = NULL;
done:
	if (rst != SVC_OK) {
		/* Not all of it is in the store: read it all next time. */
		free(f->chunks);
		f->chunks = NULL;
		f->n_chunks = 0;
		f->size = -1;
	}
	free(sums);
	free(docs);
	free(buf);
	return rst;
}

static enum svc_status
on_file(void *arg, const char *path, int fd, const struct stat *st)
{
	struct scan *sc = arg;
	uint32_t h = htab_hash_str(path, 0);
	struct dirsrc_file *f = file_find(sc->ds, path, h);

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
	return read_chunks(sc, f, path, fd, st);
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
		for (size_t k = 0; k < f->n_chunks || k == 0; k++) {
			char unit[4200];

			unit_name(f->path, k, unit, sizeof(unit));
			store_delete(sc->s, unit);
		}
		if (f->in_error)
			sc->ds->files_in_error--;
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
