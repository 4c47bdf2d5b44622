/* mtree.h -- the manifest tree: which entries under a zones directory are read, and how. One
 * walk for the loader (objects.c) and the watcher (daemon/watch.c), so they agree on it:
 *
 * - Names starting with '.' are never listed: editors' and svcctl's temporary files, and the
 *   "..data" and "..<timestamp>" entries of a Kubernetes ConfigMap volume.
 * - Symbolic links are followed, to files and to directories, wherever they point; the zones
 *   directory itself may be one. So a ConfigMap volume's visible names (foo.yaml ->
 *   ..data/foo.yaml) are read through whatever ..data points to at the time.
 * - Each directory (device, inode) is read once per walk and each file read once: a link back to
 *   a directory being read (a loop), to a directory already read, or a second name of a file
 *   is skipped with a warning naming both paths. Directories nest at most MTREE_MAX_DEPTH deep.
 * - Only *.yaml and *.yml regular files are read. They are opened O_NONBLOCK (a FIFO swapped in
 *   between stat and open cannot block the caller's loop) and checked again on the open
 *   descriptor. Another file type under such a name, or a file or directory that cannot be
 *   opened or read, is an error naming its path; the rest of the tree still loads. A link to
 *   nothing or a loop of links is a warning.
 */
#ifndef MTREE_H
#define MTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "diag.h"
#include "svc_status.h"

#define MTREE_MAX_DEPTH 16

struct mtree_ops {
	/* Each manifest file, open read-only on FD (a regular file, ST its fstat; the walk
	 * closes FD). Anything but SVC_OK stops the walk and is its result. NULL: files are
	 * neither opened nor reported. */
	enum svc_status (*file)(void *arg, const char *path, int fd, const struct stat *st);
	/* Each directory read (ROOT first) with LISTED true, and the directory holding the
	 * target of each manifest name that is a link, LISTED false (only that file of it is
	 * read). The same directory may come more than once. May be NULL. */
	void (*dir)(void *arg, const char *path, bool listed);
	void *arg;
};

/* Walk ROOT (recursively, in name order) under the policy above. Problems go to D. SVC_EIO when
 * ROOT itself cannot be read, SVC_ENOMEM, the first result of OPS->file other than SVC_OK, or
 * SVC_OK. */
enum svc_status mtree_walk(const char *root, const struct mtree_ops *ops, struct diag *d);

/* Open PATH as a manifest or config file: read-only, non-blocking, close-on-exec, and a regular
 * file (checked on the descriptor). The descriptor (*ST its fstat), or -1 with an error naming
 * PATH in D. */
int mtree_open(const char *path, struct stat *st, struct diag *d);

/* Read all of the regular file FD (ST its fstat) into *BUF (malloc'd, NUL-terminated; the
 * caller frees it), *LEN bytes. Files over MAX bytes, read errors and out of memory are errors
 * in D naming PATH: SVC_ELIMIT, SVC_EIO, SVC_ENOMEM. */
enum svc_status mtree_read(int fd, const char *path, const struct stat *st, size_t max,
                           struct diag *d, char **buf, size_t *len);

#endif
