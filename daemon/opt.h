/* opt.h -- a program's options from one table: getopt_long's long options, the --help text and
 * the config-file keys all come from it, so they cannot disagree (and man pages can come from it
 * too). Each entry says where its value goes in the program's options struct and how to read
 * it, as cluster/schema.c does for manifest fields. */
#ifndef OPT_H
#define OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "svc_status.h"

enum opt_type {
	OPT_BOOL,    /* a flag without value; as a config key, true or false */
	OPT_STR,     /* const char *, the text as given (it outlives the parse) */
	OPT_UINT,    /* an unsigned number within [min, max], stored times scale */
	OPT_FUNC,    /* read by the entry's parse function */
	OPT_HELP,    /* print the usage and exit 0 */
	OPT_VERSION, /* print the program's name and version and exit 0 */
	OPT_MAN,     /* print the man page (opt_man) and exit 0: how the build makes them */
};

enum opt_flags {
	OPT_LIST = 1, /* repeatable: the values of one source (config file, flags) form a list */
	OPT_FLAG_ONLY = 2, /* a command-line flag, not a config key (--config, --check, --help) */
	OPT_NEGATE = 4,    /* OPT_BOOL: the flag stores false (--no-splice) */
	OPT_HIDDEN = 8,    /* left out of --help */
};

struct opt {
	const char *name; /* the long flag and the config key */
	char short_name;  /* 0: none */
	enum opt_type type;
	size_t off, size; /* the field, for OPT_BOOL, OPT_STR and OPT_UINT: OPT_FIELD() */
	unsigned long min, max, scale;
	/* OPT_FUNC: read VAL into OPTS (at O->off, when the entry names a field: OPT_AT). FIRST:
	 * the first value of a list option from this source, so the list starts afresh. False with
	 * a reason in ERR (else "invalid value" is said) when VAL is bad. */
	bool (*parse)(const struct opt *o, void *opts, const char *val, bool first, char *err,
	              size_t errlen);
	const char *metavar; /* "ADDR:PORT"; NULL for flags without value */
	const char *help;    /* what it does and its default; lines may continue with \n */
	unsigned flags;
};

#define OPT_FIELD(type, field) offsetof(type, field), sizeof(((type *)0)->field)
/* The field entry O names in OPTS, as a TYPE. */
#define OPT_AT(o, opts, type) ((type *)(void *)((char *)(opts) + (o)->off))

struct opt_table {
	const char *synopsis; /* "svcdns [OPTION]..." */
	const char *about;    /* a paragraph under the synopsis */
	const char *summary;  /* the man page's NAME line: "the cluster DNS server" */
	int man_section;
	bool config_keys; /* the options are also a config file's keys (--config) */
	const struct opt *opts;
	size_t n;
};

/* The option NAME, or NULL. */
const struct opt *opt_find(const struct opt_table *t, const char *name);
/* Apply option O with value VAL (NULL for a flag without value) to OPTS. False with a reason in
 * ERR ("ttl: invalid value \"x\" (0 to 3600)"). */
bool opt_set(const struct opt *o, void *opts, const char *val, bool first, char *err,
             size_t errlen);
/* Parse the flags of ARGV into OPTS (GNU getopt_long: flags and arguments may mix). The
 * arguments end up in ARGV[*ARGS ...]. Errors are printed to stderr with the usage hint;
 * SVC_EINVAL then. --help prints the usage to stdout and exits 0. */
enum svc_status opt_parse_argv(const struct opt_table *t, void *opts, int argc, char **argv,
                               int *args);
/* The --help text. */
void opt_usage(const struct opt_table *t, FILE *out);

/* T as a man page in roff (section T->man_section, "NAME - T->summary"): the synopsis, the about
 * paragraph and every option with its help, as --help gives them. */
void opt_man(const struct opt_table *t, FILE *out);

#endif
