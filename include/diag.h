/* diag.h -- diagnostics collected while loading manifests: every problem, not only the first. */
#ifndef DIAG_H
#define DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum diag_level {
	DIAG_WARNING,
	DIAG_ERROR,
};

struct diag_entry {
	enum diag_level level;
	char *file;         /* may be NULL for problems that have no source */
	uint32_t line, col; /* 1-based, 0 when unknown */
	char *field;        /* field path such as spec.ports[0].nodePort, may be NULL */
	char *message;
};

struct diag {
	struct diag_entry *entries;
	size_t n, cap;
	size_t errors, warnings;
	bool truncated; /* MAX entries reached; later ones are counted only */
};

#define DIAG_MAX 10000

void diag_init(struct diag *d);
void diag_deinit(struct diag *d);
void diag_clear(struct diag *d);

/* Record a problem. FILE and FIELD may be NULL. Never fails: out of memory drops the text, not
 * the count, so an error can never be lost and let a broken model through. */
void diag_add(struct diag *d, enum diag_level level, const char *file, uint32_t line, uint32_t col,
              const char *field, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Record every problem SRC holds (and counts) in D too. */
void diag_append(struct diag *d, const struct diag *src);

/* Sort by file, line and column, so reports read in source order. */
void diag_sort(struct diag *d);

/* Print "file:line:col: field: message" lines (with "warning: " before warnings). */
void diag_print(const struct diag *d, FILE *out);
/* Format one entry the same way into BUF. */
void diag_format(const struct diag_entry *e, char *buf, size_t len);

#endif
