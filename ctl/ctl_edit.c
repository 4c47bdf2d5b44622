/* ctl_edit.c -- svcctl's writes: documents of files edited under the zones directory's lock, one
 * atomic write per file, never through a symbolic link.
 *
 * Whoever can write the zones directory must not be able to make root's svcctl write anywhere
 * else: every path is opened relative to the directory's descriptor one component at a time
 * with O_NOFOLLOW, temporary files get unpredictable names and O_EXCL, and a file reached
 * through a symbolic link is refused rather than written. */
#include "ctl_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "diag.h"
#include "htab.h"
#include "vec.h"

/* The model library's limit for one manifest file. */
#define EDIT_MAX_FILE (64u << 20)
/* Attempts at a fresh temporary name before giving up (each has 64 random bits). */
#define EDIT_TMP_TRIES 16

/* The edits of one file. */
struct edit_file {
	struct htab_node node;
	const char *path;  /* relative to the zones directory */
	const char *shown; /* zones/path, for messages */
	size_t *ops;       /* indices into the edit's ops; by document offset once prepared */
	size_t n_ops, cap_ops;
	bool create;
	/* What the check found and the write does. */
	struct stat sb; /* the existing file, as read */
	char *out;      /* its new content */
	size_t out_len;
	bool changed; /* OUT differs from the file */
	bool remove;  /* nothing but comments is left: the file goes */
};

/* An object's identity within one file, for comparing a file's objects before and after. */
struct edit_ident {
	const char *key; /* kind, namespace and name */
	const struct cluster_meta *meta;
};

const char *
ctl_kind_lower(enum cluster_kind k)
{
	static const char *const names[] = {"service", "pod", "endpoints", "endpointslice",
	                                    "namespace"};

	return k < CLUSTER_KIND_COUNT ? names[k] : "object";
}

char *
ctl_read_fd(int fd, const char *shown, size_t max, size_t *len)
{
	char *buf = NULL, *ret = NULL;
	size_t n = 0, cap = 0;

	for (;;) {
		ssize_t r;

		if (vec_reserve(&buf, &cap, n, n + 4096, 1, NULL) != SVC_OK) {
			fprintf(stderr, "error: %s: out of memory\n", shown);
			goto done;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "error: cannot read %s: %s\n", shown, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			fprintf(stderr, "error: %s is larger than %zu MiB\n", shown, max >> 20);
			goto done;
		}
	}
	buf[n] = '\0';
	*len = n;
	ret = buf;
	buf = NULL;
done:
	free(buf);
	return ret;
}

void
ctl_edit_init(struct ctl_edit *e, const char *zones)
{
	memset(e, 0, sizeof(*e));
	e->zones = zones;
	e->zfd = -1;
	arena_init(&e->arena);
	htab_init(&e->files);
}

int
ctl_edit_lock(struct ctl_edit *e)
{
	e->zfd = open(e->zones, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->zfd < 0) {
		fprintf(stderr, "error: cannot open the zones directory %s: %s\n", e->zones,
		        strerror(errno));
		return -1;
	}
	/* Another svcctl writing here holds it until it is done: wait, then read its result. */
	while (flock(e->zfd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			fprintf(stderr, "error: cannot lock %s: %s\n", e->zones, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
ctl_edit_read_lock(const char *zones)
{
	int fd = open(zones, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	while (fd >= 0 && flock(fd, LOCK_SH) != 0 && errno == EINTR)
		;
	return fd;
}

/* PATH (under the zones directory) relative to it, or NULL. */
static const char *
edit_rel(const struct ctl_edit *e, const char *path)
{
	size_t zl = strlen(e->zones);

	if (strncmp(path, e->zones, zl) != 0 || path[zl] != '/') {
		fprintf(stderr, "error: %s is not inside %s\n", path, e->zones);
		return NULL;
	}
	while (path[zl] == '/')
		zl++;
	return path + zl;
}

/* The record of the file PATH, made on its first edit. SVC_EEXIST when PATH is both a new file
 * and an existing one. */
static enum svc_status
edit_file_get(struct ctl_edit *e, const char *path, bool create, struct edit_file **out)
{
	uint32_t h = htab_hash_str(path, 0);
	struct htab_node *n;
	struct edit_file *f, **slot;

	for (n = htab_find(&e->files, h); n != NULL; n = htab_next(n, h)) {
		f = htab_item(n, struct edit_file, node);
		if (!strcmp(f->path, path)) {
			*out = f;
			return f->create == create ? SVC_OK : SVC_EEXIST;
		}
	}
	f = arena_alloc(&e->arena, sizeof(*f));
	if (f == NULL)
		return SVC_ENOMEM;
	f->path = arena_strdup(&e->arena, path);
	f->shown = arena_printf(&e->arena, "%s/%s", e->zones, path);
	f->create = create;
	if (f->path == NULL || f->shown == NULL)
		return SVC_ENOMEM;
	slot = vec_push(&e->file_list, &e->n_files, &e->cap_files, sizeof(*slot), NULL);
	if (slot == NULL)
		return SVC_ENOMEM;
	if (htab_insert(&e->files, &f->node, h) != SVC_OK) {
		e->n_files--;
		return SVC_ENOMEM;
	}
	*slot = f;
	*out = f;
	return SVC_OK;
}

static int
edit_add(struct ctl_edit *e, enum ctl_edit_type type, enum cluster_kind kind,
         const struct cluster_meta *meta, const char *path, char *text, size_t len)
{
	struct ctl_edit_op *op;
	struct edit_file *f = NULL;
	enum svc_status st;
	size_t *idx;

	op = vec_push(&e->ops, &e->n_ops, &e->cap_ops, sizeof(*op), NULL);
	if (op == NULL) {
		free(text);
		goto oom;
	}
	*op = (struct ctl_edit_op){type, kind, meta, text, len, NULL, NULL};
	st = edit_file_get(e, path, type == CTL_EDIT_CREATE, &f);
	if (st == SVC_EEXIST) {
		fprintf(stderr, "error: %s already exists; not overwritten\n", f->shown);
		return -1;
	}
	if (st != SVC_OK)
		goto oom;
	op->path = f->path;
	idx = vec_push(&f->ops, &f->n_ops, &f->cap_ops, sizeof(*idx), NULL);
	if (idx == NULL)
		goto oom;
	*idx = e->n_ops - 1;
	return 0;
oom:
	fprintf(stderr, "error: out of memory\n");
	return -1;
}

int
ctl_edit_replace(struct ctl_edit *e, enum cluster_kind kind, const struct cluster_meta *old,
                 char *text, size_t len)
{
	const char *rel = edit_rel(e, old->origin.file);

	if (rel == NULL) {
		free(text);
		return -1;
	}
	return edit_add(e, CTL_EDIT_REPLACE, kind, old, rel, text, len);
}

int
ctl_edit_remove(struct ctl_edit *e, enum cluster_kind kind, const struct cluster_meta *old)
{
	const char *rel = edit_rel(e, old->origin.file);

	if (rel == NULL)
		return -1;
	return edit_add(e, CTL_EDIT_REMOVE, kind, old, rel, NULL, 0);
}

/* A name that can be one component of a path (the model validates names; this is the last
 * guard before one becomes a file name). */
static bool
edit_name_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && s[0] != '.' && strchr(s, '/') == NULL;
}

int
ctl_edit_create(struct ctl_edit *e, enum cluster_kind kind, const struct cluster_meta *meta,
                char *text, size_t len)
{
	char *path;

	if (!edit_name_ok(meta->name) || (meta->ns != NULL && !edit_name_ok(meta->ns))) {
		fprintf(stderr, "error: %s \"%s\": the name cannot be a file name\n",
		        ctl_kind_lower(kind), meta->name ? meta->name : "");
		free(text);
		return -1;
	}
	if (meta->ns != NULL)
		path = arena_printf(&e->arena, "%s/%s.%s.yaml", meta->ns, meta->name,
		                    ctl_kind_lower(kind));
	else
		path = arena_printf(&e->arena, "%s.%s.yaml", meta->name, ctl_kind_lower(kind));
	if (path == NULL) {
		free(text);
		fprintf(stderr, "error: out of memory\n");
		return -1;
	}
	return edit_add(e, CTL_EDIT_CREATE, kind, meta, path, text, len);
}

/* Why opening NAME in DFD failed: a symbolic link gets a message of its own. */
static void
edit_open_error(int dfd, const char *name, const char *shown, int err)
{
	struct stat sb;

	if ((err == ELOOP || err == ENOTDIR) && fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(sb.st_mode))
		fprintf(stderr,
		        "error: %s is a symbolic link; svcctl does not write through symbolic\n"
		        "  links (edit the file it points to by hand)\n",
		        shown);
	else
		fprintf(stderr, "error: cannot open %s: %s\n", shown, strerror(err));
}

/* Open the directory holding F one component at a time from the zones directory, following no
 * symbolic link. MKDIR_OK: make missing directories. 0 and the descriptor in *DFD; 1 when a
 * directory is missing (and MKDIR_OK is false); -1 on error (printed). */
static int
edit_open_dir(struct ctl_edit *e, const struct edit_file *f, bool mkdir_ok, int *dfd)
{
	const char *p = f->path, *slash;
	size_t zl = strlen(e->zones) + 1;
	int cur, rc = -1;

	cur = openat(e->zfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0) {
		fprintf(stderr, "error: cannot open %s: %s\n", e->zones, strerror(errno));
		return -1;
	}
	while ((slash = strchr(p, '/')) != NULL) {
		char comp[NAME_MAX + 1];
		size_t len = (size_t)(slash - p);
		/* The message names the path up to this component. */
		int shown_len = (int)(zl + (size_t)(slash - f->path));
		int next;

		if (len == 0) {
			p = slash + 1;
			continue;
		}
		if (len > NAME_MAX || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.')) {
			fprintf(stderr, "error: %.*s: not a path svcctl writes to\n", shown_len,
			        f->shown);
			goto done;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && mkdir_ok) {
			if (mkdirat(cur, comp, 0755) != 0 && errno != EEXIST) {
				fprintf(stderr, "error: cannot create %.*s: %s\n", shown_len,
				        f->shown, strerror(errno));
				goto done;
			}
			/* The new directory's entry must survive a crash as its file will. */
			if (fsync(cur) != 0) {
				fprintf(stderr, "error: cannot sync %.*s: %s\n", shown_len,
				        f->shown, strerror(errno));
				goto done;
			}
			next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			char shown[PATH_MAX];

			if (errno == ENOENT) {
				rc = 1;
				goto done;
			}
			snprintf(shown, sizeof(shown), "%.*s", shown_len, f->shown);
			edit_open_error(cur, comp, shown, errno);
			goto done;
		}
		close(cur);
		cur = next;
		p = slash + 1;
	}
	*dfd = cur;
	cur = -1;
	rc = 0;
done:
	if (cur >= 0)
		close(cur);
	return rc;
}

static const char *
edit_base(const struct edit_file *f)
{
	const char *slash = strrchr(f->path, '/');

	return slash ? slash + 1 : f->path;
}

/* Load BUF as the manifests of one file into O: its objects' identities in *IDS (in ARENA), the
 * errors in *ERRORS.
 * -1 when out of memory. */
static int
edit_idents(struct arena *arena, const char *name, const char *buf, size_t len,
            struct cluster_objects *o, struct edit_ident **ids, size_t *n, size_t *errors)
{
	struct diag d;
	size_t k, i, cap = 0;
	int rc = -1;

	*ids = NULL;
	*n = 0;
	diag_init(&d);
	if (cluster_objects_load_buffer(o, name, buf, len, &d) != SVC_OK)
		goto done;
	*errors = d.errors;
	for (k = 0; k < CLUSTER_KIND_COUNT; k++) {
		size_t cnt;
		struct cluster_meta **arr = cluster_objects_of(o, (enum cluster_kind)k, &cnt);

		for (i = 0; i < cnt; i++) {
			struct edit_ident *id = vec_push(ids, n, &cap, sizeof(*id), arena);

			if (id == NULL)
				goto done;
			id->meta = arr[i];
			id->key = arena_printf(arena, "%zu\x01%s\x01%s", k,
			                       arr[i]->ns ? arr[i]->ns : "", arr[i]->name);
			if (id->key == NULL)
				goto done;
		}
	}
	rc = 0;
done:
	diag_deinit(&d);
	return rc;
}

static int
edit_ident_cmp(const void *a, const void *b)
{
	return strcmp(((const struct edit_ident *)a)->key, ((const struct edit_ident *)b)->key);
}

static int
edit_op_cmp(const void *a, const void *b, void *arg)
{
	const struct ctl_edit *e = arg;
	size_t sa = e->ops[*(const size_t *)a].obj->origin.doc_start;
	size_t sb = e->ops[*(const size_t *)b].obj->origin.doc_start;

	return (sa > sb) - (sa < sb);
}

/* The identity of OP's object, as edit_idents makes it. */
static const char *
edit_op_key(struct arena *arena, const struct ctl_edit_op *op)
{
	const struct cluster_meta *m = op->obj;

	return arena_printf(arena, "%zu\x01%s\x01%s", (size_t)op->kind, m->ns ? m->ns : "",
	                    m->name);
}

static bool
edit_starts_with(const char *s, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);

	return len >= pl && !memcmp(s, prefix, pl);
}

static bool
edit_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Whether the document [S, S+LEN) opens with "---" or closes with "...": its replacement must do
 * the same, or it would run into its neighbours. */
static bool
edit_doc_marked_start(const char *s, size_t len)
{
	return edit_starts_with(s, len, "---") && (len == 3 || s[3] == '\n' || edit_space(s[3]));
}

static bool
edit_doc_marked_end(const char *s, size_t len)
{
	while (len > 0 && (s[len - 1] == '\n' || edit_space(s[len - 1])))
		len--;
	return len >= 3 && !memcmp(s + len - 3, "...", 3) && (len == 3 || s[len - 4] == '\n');
}

/* Whether S holds no document: only blank lines, comments and document markers ("---" and
 * "..." at the start of a line, perhaps with a comment). */
static bool
edit_blank(const char *s, size_t len)
{
	const char *end = s + len;

	while (s < end) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		const char *p = s;

		if (eol == NULL)
			eol = end;
		if (eol - p >= 3 && (!memcmp(p, "---", 3) || !memcmp(p, "...", 3)) &&
		    (eol - p == 3 || edit_space(p[3])))
			p += 3;
		while (p < eol && edit_space(*p))
			p++;
		if (p < eol && *p != '#')
			return false;
		s = eol < end ? eol + 1 : end;
	}
	return true;
}

static bool
edit_append(char **buf, size_t *n, size_t *cap, const char *s, size_t len)
{
	if (vec_reserve(buf, cap, *n, *n + len + 1, 1, NULL) != SVC_OK)
		return false;
	memcpy(*buf + *n, s, len);
	*n += len;
	(*buf)[*n] = '\0';
	return true;
}

/* The piece that replaces document [S, S+LEN) with OP's text: the same markers around it. */
static bool
edit_piece(const struct ctl_edit_op *op, const char *s, size_t len, char **out, size_t *n)
{
	size_t cap = 0;
	bool ok = true;

	*out = NULL;
	*n = 0;
	if ((edit_doc_marked_start(s, len) || op->obj->origin.doc_index > 0) &&
	    !edit_doc_marked_start(op->text, op->len))
		ok = edit_append(out, n, &cap, "---\n", 4);
	ok = ok && edit_append(out, n, &cap, op->text, op->len);
	/* The parser's range ends right after "...": the line break that follows is not ours. */
	if (ok && edit_doc_marked_end(s, len) && !edit_doc_marked_end(op->text, op->len))
		ok = edit_append(out, n, &cap, "...\n", s[len - 1] == '\n' ? 4 : 3);
	if (!ok) {
		free(*out);
		*out = NULL;
	}
	return ok;
}

/* Whether the objects of the edited file (AFTER) are what the edits should leave: those BEFORE
 * but the GONE ones (a replacement keeps its identity). Both sorted by key. */
static bool
edit_expected(const struct edit_ident *before, const bool *gone, size_t n_before,
              const struct edit_ident *after, size_t n_after)
{
	size_t i, j = 0;

	for (i = 0; i < n_before; i++) {
		if (gone[i])
			continue;
		if (j >= n_after || strcmp(before[i].key, after[j].key) != 0)
			return false;
		j++;
	}
	return j == n_after;
}

/* Check F and compute its new content; nothing is written. */
static int
edit_prepare_existing(struct ctl_edit *e, struct edit_file *f)
{
	struct arena tmp;
	struct cluster_objects before, after;
	struct edit_ident *ids = NULL, *ids2 = NULL;
	bool *gone = NULL; /* by ids: the objects removed */
	size_t n_ids = 0, n_ids2 = 0, errs = 0, errs2 = 0, len = 0, pos = 0, cap = 0, i;
	char *buf = NULL;
	int dfd = -1, fd = -1, rc = -1, r;

	arena_init(&tmp);
	cluster_objects_init(&before);
	cluster_objects_init(&after);
	r = edit_open_dir(e, f, false, &dfd);
	if (r != 0) {
		if (r > 0)
			fprintf(stderr, "error: %s changed while svcctl was running\n", f->shown);
		goto done;
	}
	fd = openat(dfd, edit_base(f), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		edit_open_error(dfd, edit_base(f), f->shown, errno);
		goto done;
	}
	if (fstat(fd, &f->sb) != 0 || !S_ISREG(f->sb.st_mode)) {
		fprintf(stderr, "error: %s is not a regular file\n", f->shown);
		goto done;
	}
	buf = ctl_read_fd(fd, f->shown, EDIT_MAX_FILE, &len);
	if (buf == NULL)
		goto done;
	if (edit_idents(&tmp, f->shown, buf, len, &before, &ids, &n_ids, &errs) != 0)
		goto oom;
	if (n_ids > 1) /* qsort and bsearch take no NULL array, even empty */
		qsort(ids, n_ids, sizeof(*ids), edit_ident_cmp);
	gone = arena_calloc(&tmp, n_ids + 1, sizeof(*gone));
	if (gone == NULL)
		goto oom;
	/* The offsets are those of the one load: the file must still hold each object in the
	 * document it was loaded from. */
	for (i = 0; i < f->n_ops; i++) {
		const struct ctl_edit_op *op = &e->ops[f->ops[i]];
		struct edit_ident key = {edit_op_key(&tmp, op), NULL};
		const struct edit_ident *hit;
		bool same = false;

		if (key.key == NULL)
			goto oom;
		hit = n_ids ? bsearch(&key, ids, n_ids, sizeof(*ids), edit_ident_cmp) : NULL;
		while (hit != NULL && hit > ids && !strcmp(hit[-1].key, key.key))
			hit--;
		for (; !same && hit != NULL && hit < ids + n_ids && !strcmp(hit->key, key.key);
		     hit++) {
			same = hit->meta->origin.doc_start == op->obj->origin.doc_start &&
			       hit->meta->origin.doc_end == op->obj->origin.doc_end &&
			       op->obj->origin.doc_end <= len && !gone[hit - ids];
			if (same && op->type == CTL_EDIT_REMOVE)
				gone[hit - ids] = true;
		}
		if (!same) {
			fprintf(stderr, "error: %s changed while svcctl was running\n", f->shown);
			goto done;
		}
	}
	qsort_r(f->ops, f->n_ops, sizeof(*f->ops), edit_op_cmp, e);
	/* Build the new content front to back from the one buffer: every offset refers to BUF as
	 * loaded, so no edit can shift another's. */
	for (i = 0; i < f->n_ops; i++) {
		struct ctl_edit_op *op = &e->ops[f->ops[i]];
		size_t start = op->obj->origin.doc_start, end = op->obj->origin.doc_end;
		char *piece = NULL;
		size_t plen = 0;

		if (start < pos || start > end) {
			fprintf(stderr, "error: %s: two edits of one document (%s \"%s\")\n",
			        f->shown, ctl_kind_lower(op->kind), op->obj->name);
			goto done;
		}
		if (!edit_append(&f->out, &f->out_len, &cap, buf + pos, start - pos))
			goto oom;
		if (op->type == CTL_EDIT_REPLACE) {
			if (!edit_piece(op, buf + start, end - start, &piece, &plen))
				goto oom;
			op->result = plen == end - start && !memcmp(piece, buf + start, plen)
			                     ? "unchanged"
			                     : "configured";
			if (!edit_append(&f->out, &f->out_len, &cap, piece, plen)) {
				free(piece);
				goto oom;
			}
			free(piece);
		} else {
			op->result = "deleted";
		}
		f->changed |= strcmp(op->result, "unchanged") != 0;
		pos = end;
	}
	if (!edit_append(&f->out, &f->out_len, &cap, buf + pos, len - pos))
		goto oom;
	f->remove = f->changed && edit_blank(f->out, f->out_len);
	/* The result must load as the same file less the removed objects, and no worse. */
	if (edit_idents(&tmp, f->shown, f->out, f->out_len, &after, &ids2, &n_ids2, &errs2) != 0)
		goto oom;
	if (n_ids2 > 1)
		qsort(ids2, n_ids2, sizeof(*ids2), edit_ident_cmp);
	if (errs2 > errs || !edit_expected(ids, gone, n_ids, ids2, n_ids2)) {
		fprintf(stderr,
		        "error: %s: the edited file would not load as the same objects; nothing "
		        "was written (edit it by hand)\n",
		        f->shown);
		goto done;
	}
	rc = 0;
	goto done;
oom:
	fprintf(stderr, "error: %s: out of memory\n", f->shown);
done:
	if (rc != 0) {
		for (i = 0; i < f->n_ops; i++)
			e->ops[f->ops[i]].result = NULL;
	}
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	free(buf);
	cluster_objects_deinit(&before);
	cluster_objects_deinit(&after);
	arena_deinit(&tmp);
	return rc;
}

static int
edit_prepare_new(struct ctl_edit *e, struct edit_file *f)
{
	struct ctl_edit_op *op = &e->ops[f->ops[0]];
	struct stat sb;
	int dfd = -1, rc = -1, r;

	if (f->n_ops != 1) {
		fprintf(stderr, "error: %s: two new objects for one file\n", f->shown);
		return -1;
	}
	r = edit_open_dir(e, f, false, &dfd);
	if (r < 0)
		return -1;
	/* Anything there, a symbolic link too, stays as it is. */
	if (r == 0 && fstatat(dfd, edit_base(f), &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		fprintf(stderr, "error: %s already exists; not overwritten\n", f->shown);
		goto done;
	}
	if (r == 0 && errno != ENOENT) {
		fprintf(stderr, "error: cannot check %s: %s\n", f->shown, strerror(errno));
		goto done;
	}
	f->out = malloc(op->len + 1);
	if (f->out == NULL) {
		fprintf(stderr, "error: %s: out of memory\n", f->shown);
		goto done;
	}
	memcpy(f->out, op->text, op->len);
	f->out[op->len] = '\0';
	f->out_len = op->len;
	f->changed = true;
	rc = 0;
done:
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* Write DATA as BASE in DFD: a temporary file of an unpredictable name, created exclusively and
 * never through a symbolic link, synced, then renamed over BASE (OLD: the file it replaces, whose
 * mode and owner it keeps) or linked in only if BASE does not exist (OLD NULL), and the directory
 * synced. A reader sees the old file or the new one, never a part. */
static int
edit_write(int dfd, const char *base, const char *shown, const char *data, size_t len,
           const struct stat *old)
{
	char tmp[NAME_MAX + 1];
	int fd = -1, rc = -1, err = 0, i, cr;
	size_t off = 0;
	bool made = false;

	for (i = 0; i < EDIT_TMP_TRIES && fd < 0; i++) {
		uint64_t r;

		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
			err = errno;
			goto done;
		}
		/* A dot first: the loader skips it, so a crash leaves no extra manifest. */
		snprintf(tmp, sizeof(tmp), ".%.200s.tmp.%016llx", base, (unsigned long long)r);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST) {
			err = errno;
			goto done;
		}
	}
	if (fd < 0) {
		err = EEXIST;
		goto done;
	}
	made = true;
	if (old != NULL) {
		/* As an editor would: the file keeps its owner (when we may give it away) and mode.
		 */
		if (fchown(fd, old->st_uid, old->st_gid) != 0 && errno != EPERM) {
			err = errno;
			goto done;
		}
		if (fchmod(fd, old->st_mode & 0777) != 0) {
			err = errno;
			goto done;
		}
	}
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? errno : EIO;
			goto done;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		err = errno;
		goto done;
	}
	cr = close(fd);
	fd = -1;
	if (cr != 0) {
		err = errno;
		goto done;
	}
	if (old != NULL) {
		if (renameat(dfd, tmp, dfd, base) != 0) {
			err = errno;
			goto done;
		}
	} else if (renameat2(dfd, tmp, dfd, base, RENAME_NOREPLACE) != 0) {
		/* A file system without RENAME_NOREPLACE: link(2) never replaces either. */
		if (errno != EINVAL || linkat(dfd, tmp, dfd, base, 0) != 0) {
			err = errno;
			goto done;
		}
		unlinkat(dfd, tmp, 0);
	}
	made = false;
	if (fsync(dfd) != 0) {
		err = errno;
		goto done;
	}
	rc = 0;
done:
	if (rc != 0) {
		if (err == EEXIST && old == NULL)
			fprintf(stderr, "error: %s already exists; not overwritten\n", shown);
		else
			fprintf(stderr, "error: cannot write %s: %s\n", shown, strerror(err));
	}
	if (fd >= 0)
		close(fd);
	if (made)
		unlinkat(dfd, tmp, 0);
	return rc;
}

/* Carry out F's prepared edits. */
static int
edit_apply(struct ctl_edit *e, struct edit_file *f)
{
	struct stat sb;
	int dfd = -1, rc = -1, r;

	if (!f->changed)
		return 0;
	r = edit_open_dir(e, f, f->create, &dfd);
	if (r != 0) {
		if (r > 0)
			fprintf(stderr, "error: %s changed while svcctl was running\n", f->shown);
		goto done;
	}
	if (f->create) {
		rc = edit_write(dfd, edit_base(f), f->shown, f->out, f->out_len, NULL);
		if (rc == 0)
			e->ops[f->ops[0]].result = "created";
		goto done;
	}
	/* Still the file that was checked (svcctl runs hold the lock; this is for other editors).
	 */
	if (fstatat(dfd, edit_base(f), &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
	    sb.st_ino != f->sb.st_ino || sb.st_dev != f->sb.st_dev || sb.st_size != f->sb.st_size ||
	    sb.st_mtim.tv_sec != f->sb.st_mtim.tv_sec ||
	    sb.st_mtim.tv_nsec != f->sb.st_mtim.tv_nsec) {
		fprintf(stderr, "error: %s changed while svcctl was running\n", f->shown);
		goto done;
	}
	if (f->remove) {
		if (unlinkat(dfd, edit_base(f), 0) != 0 || fsync(dfd) != 0) {
			fprintf(stderr, "error: cannot remove %s: %s\n", f->shown, strerror(errno));
			goto done;
		}
		rc = 0;
	} else {
		rc = edit_write(dfd, edit_base(f), f->shown, f->out, f->out_len, &f->sb);
	}
done:
	if (rc != 0 && !f->create) {
		for (size_t i = 0; i < f->n_ops; i++)
			e->ops[f->ops[i]].result = NULL;
	}
	if (dfd >= 0)
		close(dfd);
	return rc;
}

int
ctl_edit_commit(struct ctl_edit *e)
{
	size_t i;
	int rc = 0;

	/* Every check first, so a refused edit leaves every file as it was. */
	for (i = 0; i < e->n_files; i++) {
		struct edit_file *f = e->file_list[i];

		if ((f->create ? edit_prepare_new(e, f) : edit_prepare_existing(e, f)) != 0)
			rc = -1;
	}
	if (rc != 0) {
		for (i = 0; i < e->n_ops; i++)
			e->ops[i].result = NULL;
		return -1;
	}
	for (i = 0; i < e->n_files; i++) {
		if (edit_apply(e, e->file_list[i]) != 0) {
			/* What is not written yet stays as it was; say so rather than go on. */
			for (size_t j = i + 1; j < e->n_files; j++) {
				struct edit_file *f = e->file_list[j];

				for (size_t k = 0; k < f->n_ops; k++)
					e->ops[f->ops[k]].result = NULL;
				if (f->changed)
					fprintf(stderr, "error: %s: not written\n", f->shown);
			}
			return -1;
		}
	}
	return 0;
}

void
ctl_edit_close(struct ctl_edit *e)
{
	size_t i;

	for (i = 0; i < e->n_ops; i++)
		free(e->ops[i].text);
	for (i = 0; i < e->n_files; i++) {
		free(e->file_list[i]->ops);
		free(e->file_list[i]->out);
	}
	free(e->ops);
	free(e->file_list);
	htab_deinit(&e->files);
	arena_deinit(&e->arena);
	/* Closing the descriptor releases the lock. */
	if (e->zfd >= 0)
		close(e->zfd);
	e->zfd = -1;
}
