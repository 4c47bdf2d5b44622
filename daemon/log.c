/* log.c -- a daemon's log: one line per event on stderr, for the journal. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"

static enum log_level level = LL_INFO;
static const char *prog = "svc";
static const char *const names[] = {"error", "warning", "info", "debug"};

void
log_init(const char *name)
{
	prog = name;
}

void
log_set_level(enum log_level l)
{
	level = l;
}

bool
log_enabled(enum log_level l)
{
	return l <= level;
}

bool
log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0 || (i == LL_WARN && strcmp(s, "warn") == 0)) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

void
log_msg(enum log_level l, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (l > level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so lines from threads do not interleave. */
	fprintf(stderr, "%s: %s: %s\n", prog, names[l], line);
}

void
log_diag(const struct diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char line[1024];

		diag_format(&d->entries[i], line, sizeof(line));
		log_msg(d->entries[i].level == DIAG_ERROR ? LL_ERROR : LL_WARN, "%s", line);
	}
}
