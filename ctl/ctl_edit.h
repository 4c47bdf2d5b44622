/* ctl_edit.h -- the one way svcctl changes the zones directory. A run locks the directory before
 * reading it, queues edits of documents (replace document k of file F, remove it, write a new
 * file), then commits them: every edit of one file in one atomic write whose byte offsets all
 * come from the one load, never through a symbolic link. */
#ifndef CTL_EDIT_H
#define CTL_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "cluster.h"
#include "htab.h"

enum ctl_edit_type {
	CTL_EDIT_REPLACE, /* OLD's document gets TEXT */
	CTL_EDIT_REMOVE,  /* OLD's document goes; its file too when nothing else is left */
	CTL_EDIT_CREATE,  /* a new file <ns>/<name>.<kind>.yaml holding TEXT */
};

struct ctl_edit_op {
	enum ctl_edit_type type;
	enum cluster_kind kind;
	const struct cluster_meta *obj; /* REPLACE, REMOVE: the object as loaded (its origin says
	                                 * where); CREATE: the new object */
	char *text;                     /* REPLACE, CREATE: one YAML document, owned */
	size_t len;
	const char *path;   /* the file, relative to the zones directory */
	const char *result; /* after the commit: "created", "configured", "unchanged", "deleted";
	                     * NULL when it was not carried out */
};

struct edit_file;

struct ctl_edit {
	const char *zones;
	int zfd; /* the zones directory, locked (flock LOCK_EX) until ctl_edit_close */
	struct ctl_edit_op *ops;
	size_t n_ops, cap_ops;
	struct htab files;            /* struct edit_file by path */
	struct edit_file **file_list; /* in the order of their first edit */
	size_t n_files, cap_files;
	struct arena arena; /* paths and file records */
};

/* An empty edit of ZONES, not locked yet; ctl_edit_close may be called on it. */
void ctl_edit_init(struct ctl_edit *e, const char *zones);
/* Open the zones directory and take its exclusive lock, waiting while another svcctl holds it.
 * Call before the directory is read, so what is read is what the edits apply to. -1 on error
 * (printed). */
int ctl_edit_lock(struct ctl_edit *e);
/* For a run that only reads: a shared lock on ZONES, so it waits while another svcctl writes
 * and never sees half of a run. The descriptor to close when done, or -1 (then the loader
 * reports what is wrong with the directory). */
int ctl_edit_read_lock(const char *zones);
/* Queue an edit. TEXT (malloc'd) becomes the edit's own, also on failure. OLD must stay valid
 * until the commit. -1 when out of memory or a name cannot be a file name (printed). */
int ctl_edit_replace(struct ctl_edit *e, enum cluster_kind kind, const struct cluster_meta *old,
                     char *text, size_t len);
int ctl_edit_remove(struct ctl_edit *e, enum cluster_kind kind, const struct cluster_meta *old);
int ctl_edit_create(struct ctl_edit *e, enum cluster_kind kind, const struct cluster_meta *meta,
                    char *text, size_t len);
/* Check every queued edit (files unchanged since the load, no symbolic links, new files absent),
 * then write file by file. Nothing is written when a check fails. 0 when all were carried out;
 * each op's result says what happened. Errors are printed. */
int ctl_edit_commit(struct ctl_edit *e);
/* Free the edits and release the lock. */
void ctl_edit_close(struct ctl_edit *e);

/* All of FD, at most MAX bytes, NUL-terminated; SHOWN names it in errors (printed). NULL on
 * error. */
char *ctl_read_fd(int fd, const char *shown, size_t max, size_t *len);
/* "service", "endpoints", ...: messages and file names. */
const char *ctl_kind_lower(enum cluster_kind k);

#endif
