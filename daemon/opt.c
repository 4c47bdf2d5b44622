/* opt.c -- options from one table. */
#include "opt.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OPT_MAX 64

const struct opt *
opt_find(const struct opt_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->opts[i].name, name) == 0)
			return &t->opts[i];
	}
	return NULL;
}

static void
store_uint(void *field, size_t size, unsigned long v)
{
	switch (size) {
	case sizeof(uint8_t):
		*(uint8_t *)field = (uint8_t)v;
		break;
	case sizeof(uint16_t):
		*(uint16_t *)field = (uint16_t)v;
		break;
	case sizeof(uint32_t):
		*(uint32_t *)field = (uint32_t)v;
		break;
	default:
		*(uint64_t *)field = (uint64_t)v;
		break;
	}
}

bool
opt_set(const struct opt *o, void *opts, const char *val, bool first, char *err, size_t errlen)
{
	char *field = (char *)opts + o->off;
	unsigned long n;
	char *end;

	switch (o->type) {
	case OPT_BOOL:
		if (val != NULL && strcmp(val, "true") != 0 && strcmp(val, "false") != 0)
			goto bad;
		*(bool *)field =
		        (val == NULL || strcmp(val, "true") == 0) != !!(o->flags & OPT_NEGATE);
		return true;
	case OPT_STR:
		if (val == NULL || (val[0] == '\0' && o->min > 0))
			goto bad;
		*(const char **)field = val;
		return true;
	case OPT_UINT:
		if (val == NULL || val[0] < '0' || val[0] > '9')
			goto bad;
		errno = 0;
		n = strtoul(val, &end, 10);
		if (errno != 0 || *end != '\0' || n < o->min || n > o->max)
			goto bad;
		store_uint(field, o->size, n * (o->scale ? o->scale : 1));
		return true;
	case OPT_FUNC:
		err[0] = '\0';
		if (val != NULL && o->parse(o, opts, val, first, err, errlen))
			return true;
		if (err[0] != '\0')
			return false;
		goto bad;
	case OPT_HELP:
	case OPT_VERSION:
	case OPT_MAN:
		break;
	}
bad:
	if (o->type == OPT_UINT)
		snprintf(err, errlen, "%s: invalid value \"%s\" (%lu to %lu)", o->name,
		         val ? val : "", o->min, o->max);
	else
		snprintf(err, errlen, "%s: invalid value \"%s\"", o->name, val ? val : "");
	return false;
}

enum svc_status
opt_parse_argv(const struct opt_table *t, void *opts, int argc, char **argv, int *args)
{
	struct option longopts[OPT_MAX + 1];
	char shortopts[2 * OPT_MAX + 2], err[256];
	bool seen[OPT_MAX] = {false};
	size_t ns = 0;
	int c, idx;

	if (t->n > OPT_MAX)
		return SVC_ELIMIT;
	shortopts[ns++] = ':'; /* a missing value is reported as such */
	for (size_t i = 0; i < t->n; i++) {
		const struct opt *o = &t->opts[i];

		longopts[i] = (struct option){o->name, o->metavar ? required_argument : no_argument,
		                              NULL, 256 + (int)i};
		if (o->short_name != 0) {
			shortopts[ns++] = o->short_name;
			if (o->metavar)
				shortopts[ns++] = ':';
		}
	}
	longopts[t->n] = (struct option){NULL, 0, NULL, 0};
	shortopts[ns] = '\0';
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		const struct opt *o = NULL;
		const char *val = optarg;

		if (c >= 256) {
			o = &t->opts[c - 256];
		} else if (c != '?' && c != ':') {
			for (size_t i = 0; i < t->n; i++) {
				if (t->opts[i].short_name == c)
					o = &t->opts[i];
			}
		}
		if (o == NULL) {
			if (c == ':')
				fprintf(stderr, "error: flag needs an argument: %s\n",
				        argv[optind - 1]);
			else
				fprintf(stderr, "error: unknown flag: %s\n", argv[optind - 1]);
			fprintf(stderr, "See '%.*s --help'.\n", (int)strcspn(t->synopsis, " "),
			        t->synopsis);
			return SVC_EINVAL;
		}
		if (o->type == OPT_HELP) {
			opt_usage(t, stdout);
			exit(0);
		}
		if (o->type == OPT_VERSION) {
			printf("%.*s %s\n", (int)strcspn(t->synopsis, " "), t->synopsis,
			       SVC_VERSION);
			exit(0);
		}
		if (o->type == OPT_MAN) {
			opt_man(t, stdout);
			exit(0);
		}
		/* kubectl (pflag) also takes "-n=NS". */
		if (val != NULL && val[0] == '=' && c < 256)
			val++;
		if (!opt_set(o, opts, val, !seen[o - t->opts], err, sizeof(err))) {
			fprintf(stderr, "error: --%s\n", err);
			return SVC_EINVAL;
		}
		seen[o - t->opts] = true;
	}
	*args = optind;
	return SVC_OK;
}

/* "-n, --namespace NS", or "    --zones DIR" in a table that has short flags. */
static void
opt_head(const struct opt_table *t, const struct opt *o, char *buf, size_t len)
{
	bool any_short = false;

	for (size_t i = 0; i < t->n; i++)
		any_short |= t->opts[i].short_name != 0;
	snprintf(buf, len, "%s%c%s--%s%s%s",
	         o->short_name ? "-"
	         : any_short   ? "  "
	                       : "",
	         o->short_name ? o->short_name : ' ',
	         o->short_name ? ", "
	         : any_short   ? " "
	                       : "",
	         o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
	if (!any_short)
		memmove(buf, buf + 1, strlen(buf)); /* the blank that stood for a short flag */
}

void
opt_usage(const struct opt_table *t, FILE *out)
{
	size_t width = 0;
	char head[160];

	fprintf(out, "usage: %s\n%s\n\noptions:\n", t->synopsis, t->about);
	for (size_t i = 0; i < t->n; i++) {
		opt_head(t, &t->opts[i], head, sizeof(head));
		if (!(t->opts[i].flags & OPT_HIDDEN) && strlen(head) > width)
			width = strlen(head);
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct opt *o = &t->opts[i];
		const char *line = o->help;

		if (o->flags & OPT_HIDDEN)
			continue;
		opt_head(t, o, head, sizeof(head));
		/* Help lines after the first start under the first one. */
		for (bool first = true; line != NULL; first = false) {
			const char *nl = strchr(line, '\n');
			int len = nl ? (int)(nl - line) : (int)strlen(line);

			fprintf(out, "  %-*s  %.*s\n", (int)width, first ? head : "", len, line);
			line = nl ? nl + 1 : NULL;
		}
	}
}

/* TEXT as roff: a backslash doubled, a line that starts with '.' or '\'' escaped. */
static void
roff_text(FILE *out, const char *text, size_t len)
{
	bool line_start = true;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (line_start && (c == '.' || c == '\''))
			fputs("\\&", out);
		if (c == '\\')
			fputs("\\e", out);
		else if (c == '-')
			fputs("\\-", out);
		else
			fputc(c, out);
		line_start = c == '\n';
	}
}

void
opt_man(const struct opt_table *t, FILE *out)
{
	size_t prog = strcspn(t->synopsis, " ");
	const char *summary = t->summary != NULL ? t->summary : "";
	char head[160];

	fprintf(out, ".TH %.*s %d \"\" \"svcdns %s\"\n.SH NAME\n%.*s \\- ", (int)prog, t->synopsis,
	        t->man_section, SVC_VERSION, (int)prog, t->synopsis);
	roff_text(out, summary, strlen(summary));
	fputs("\n.SH SYNOPSIS\n.nf\n", out);
	roff_text(out, t->synopsis, strlen(t->synopsis));
	fputs("\n.fi\n", out);
	if (t->about != NULL && t->about[0] != '\0') {
		/* The --help paragraph, kept as it is laid out. */
		fputs(".SH DESCRIPTION\n.nf\n", out);
		roff_text(out, t->about + (t->about[0] == '\n'),
		          strlen(t->about + (t->about[0] == '\n')));
		fputs("\n.fi\n", out);
	}
	fputs(".SH OPTIONS\n", out);
	for (size_t i = 0; i < t->n; i++) {
		const struct opt *o = &t->opts[i];

		if (o->flags & OPT_HIDDEN)
			continue;
		opt_head(t, o, head, sizeof(head));
		fputs(".TP\n.B ", out);
		roff_text(out, head, strlen(head));
		fputs("\n", out);
		if (o->help != NULL) {
			/* Lines of help are one paragraph in a man page. */
			for (const char *p = o->help; *p != '\0'; p++) {
				if (*p == '\n')
					fputc(' ', out);
				else
					roff_text(out, p, 1);
			}
		}
		if (t->config_keys && !(o->flags & OPT_FLAG_ONLY) && o->type != OPT_HELP &&
		    o->type != OPT_VERSION && o->type != OPT_MAN)
			fprintf(out, " (config key \\fB%s\\fP)", o->name);
		fputs("\n", out);
	}
	fprintf(out, ".SH SEE ALSO\nsvcctl(1), svcdns(8), svcfwd(8), and the README in "
	             "/usr/share/doc/svcdns.\n");
}
