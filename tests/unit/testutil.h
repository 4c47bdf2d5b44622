/* testutil.h -- helpers shared by the unit tests. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include "cluster.h"

/* Build a snapshot from one YAML text (default config unless CFG). Returns NULL when invalid;
 * D (initialised by the caller) holds the problems either way. */
struct cluster *tu_build(const char *yaml, const struct cluster_config *cfg, struct diag *d);
/* As tu_build, but D is initialised here and the test fails (printing D) when the manifests are
 * rejected. */
struct cluster *tu_build_ok(const char *yaml, const struct cluster_config *cfg, struct diag *d);
/* The diagnostic lookup of every test. An entry matches when its level is LEVEL, its field
 * equals FIELD (or FIELD is NULL) and its message contains NEEDLE (or NEEDLE is NULL).
 * tu_diag_find: the first match, or NULL. tu_diag_count: how many match. */
const struct diag_entry *tu_diag_find(const struct diag *d, enum diag_level level,
                                      const char *field, const char *needle);
size_t tu_diag_count(const struct diag *d, enum diag_level level, const char *field,
                     const char *needle);
/* The first match, which must exist: else D is printed and the test fails at the caller's line. */
#define tu_diag_expect(d, level, field, needle)                                                    \
	tu_diag_expect_at((d), (level), (field), (needle), __FILE__, __LINE__)
const struct diag_entry *tu_diag_expect_at(const struct diag *d, enum diag_level level,
                                           const char *field, const char *needle, const char *file,
                                           int line);
/* Print D to stderr: for failing tests. */
void tu_dump(const struct diag *d);
/* A fresh temporary directory; caller removes it with tu_rmrf. */
char *tu_tmpdir(void);
void tu_rmrf(const char *path);
void tu_write(const char *dir, const char *name, const char *text);
/* DIR/NAME made as a directory, a symbolic link to TARGET, or renamed to DIR/TO; the test fails
 * when that fails. */
void tu_mkdir(const char *dir, const char *name);
void tu_symlink(const char *dir, const char *name, const char *target);
void tu_rename(const char *dir, const char *from, const char *to);

/* CPU time of the calling thread, in seconds: for timing checks, where time spent preempted by
 * other work on a busy machine must not count. */
double tu_cpu_s(void);

/* An etcd member of its own on free loopback ports, its data in a temporary directory: its
 * client URL in URL (64 bytes). False when etcd is not installed (the test then exits 77);
 * the test fails when it does not start. tu_etcd_stop ends it and removes its data. */
struct tu_etcd {
	int pid;
	char *dir;
	char url[64];
};
bool tu_etcd_start(struct tu_etcd *e);
void tu_etcd_stop(struct tu_etcd *e);
/* A free loopback TCP port now. */
int tu_free_port(void);

#endif
