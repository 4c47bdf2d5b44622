/* dirsrc.h -- the directory source: a zones directory fed to a store file by file. A scan walks
 * the tree (mtree.h) and reads again only the files whose identity (device, inode, size,
 * modification and change times) differs from what it read last; files no longer reached are
 * deleted from the store. */
#ifndef DIRSRC_H
#define DIRSRC_H

#include "diag.h"
#include "store.h"
#include "svc_status.h"

struct dirsrc;

enum svc_status dirsrc_create(const char *dir, struct dirsrc **out);
void dirsrc_destroy(struct dirsrc *ds);

/* Files changed less than MS milliseconds before they are read are read again by the next scan
 * (default 100; -1: never, for tests whose every change makes a new inode). */
void dirsrc_racy_window(struct dirsrc *ds, int ms);

/* Documents per store unit within a file (default 32): a change parses the chunks whose bytes
 * changed. Tests set small values to make files of several chunks. */
void dirsrc_chunk_docs(struct dirsrc *ds, size_t docs);

/* Bring S in line with the directory. Problems go to D (only those of files read again: a file
 * that stays invalid is reported once). SVC_EIO when the directory cannot be read (S unchanged),
 * SVC_ELIMIT for too many files, SVC_ENOMEM. *READ (may be NULL) gets how many files were read. */
enum svc_status dirsrc_scan(struct dirsrc *ds, struct store *s, struct diag *d, size_t *read);
/* Files of which a part is invalid (its last good objects serving), as of the last scan. A
 * file counts once however many of its chunks are. */
size_t dirsrc_files_in_error(const struct dirsrc *ds);

#endif
