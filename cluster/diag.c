/* diag.c -- diagnostics collected while loading manifests. */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

void
diag_init(struct diag *d)
{
	memset(d, 0, sizeof(*d));
}

void
diag_clear(struct diag *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->entries[i].file);
		free(d->entries[i].field);
		free(d->entries[i].message);
	}
	d->n = 0;
	d->errors = 0;
	d->warnings = 0;
	d->truncated = false;
}

void
diag_deinit(struct diag *d)
{
	diag_clear(d);
	free(d->entries);
	diag_init(d);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

void
diag_add(struct diag *d, enum diag_level level, const char *file, uint32_t line, uint32_t col,
         const char *field, const char *fmt, ...)
{
	struct diag_entry *e;
	va_list ap;
	char buf[1024];

	if (level == DIAG_ERROR)
		d->errors++;
	else
		d->warnings++;
	if (d->n >= DIAG_MAX) {
		d->truncated = true;
		return;
	}
	e = vec_push(&d->entries, &d->n, &d->cap, sizeof(*d->entries), NULL);
	if (e == NULL)
		return; /* counted all the same */
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->level = level;
	e->file = dup_or_null(file);
	e->line = line;
	e->col = col;
	e->field = dup_or_null(field);
	e->message = strdup(buf);
}

static int
entry_cmp(const void *pa, const void *pb)
{
	const struct diag_entry *a = pa, *b = pb;
	int c = strcmp(a->file ? a->file : "", b->file ? b->file : "");

	if (c != 0)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	/* Keep insertion order for equal positions: compare addresses. */
	return a < b ? -1 : a > b;
}

void
diag_sort(struct diag *d)
{
	if (d->n > 1)
		qsort(d->entries, d->n, sizeof(*d->entries), entry_cmp);
}

void
diag_format(const struct diag_entry *e, char *buf, size_t len)
{
	size_t off = 0;
	int n;

	buf[0] = '\0';
	if (e->file != NULL) {
		if (e->line > 0 && e->col > 0)
			n = snprintf(buf, len, "%s:%u:%u: ", e->file, e->line, e->col);
		else if (e->line > 0)
			n = snprintf(buf, len, "%s:%u: ", e->file, e->line);
		else
			n = snprintf(buf, len, "%s: ", e->file);
		if (n > 0)
			off = (size_t)n < len ? (size_t)n : len - 1;
	}
	snprintf(buf + off, len - off, "%s%s%s%s", e->level == DIAG_WARNING ? "warning: " : "",
	         e->field ? e->field : "", e->field ? ": " : "", e->message ? e->message : "");
}

void
diag_print(const struct diag *d, FILE *out)
{
	char buf[2048];
	size_t i;

	for (i = 0; i < d->n; i++) {
		diag_format(&d->entries[i], buf, sizeof(buf));
		fprintf(out, "%s\n", buf);
	}
	if (d->truncated)
		fprintf(out, "(%zu more problems not shown)\n", d->errors + d->warnings - d->n);
}

void
diag_append(struct diag *d, const struct diag *src)
{
	size_t errors = 0, warnings = 0;

	for (size_t i = 0; i < src->n; i++) {
		const struct diag_entry *e = &src->entries[i];

		diag_add(d, e->level, e->file, e->line, e->col, e->field, "%s",
		         e->message ? e->message : "");
		if (e->level == DIAG_ERROR)
			errors++;
		else
			warnings++;
	}
	/* Those SRC only counted. */
	d->errors += src->errors - errors;
	d->warnings += src->warnings - warnings;
	d->truncated = d->truncated || src->truncated;
}
