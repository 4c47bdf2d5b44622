/* ctl.h -- svcctl, the kubectl-style command line over the cluster model. */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>
#include <stdio.h>

#include "cluster.h"
#include "daemon.h"

enum ctl_output {
	CTL_OUT_TABLE,
	CTL_OUT_WIDE,
	CTL_OUT_YAML,
	CTL_OUT_NAME,
	CTL_OUT_JSON,
	CTL_OUT_JSONPATH, /* ctl.jsonpath is the template */
	CTL_OUT_COLUMNS,  /* custom-columns=: ctl.jsonpath is the spec */
};

struct ctl_selector;

/* expose's flags. */
struct ctl_expose {
	const char *port, *target_port, *type, *name, *protocol;
};

struct ctl_etcd;

struct ctl {
	const char *zones;
	const char *status_dir; /* the probers' PodStatus files, without etcd */
	const char *ns;         /* -n; "default" when not given */
	bool all_ns;            /* -A */
	enum ctl_output output;
	const char *jsonpath;          /* -o jsonpath=TEMPLATE */
	struct ctl_selector *selector; /* -l; NULL: every object */
	bool show_labels;              /* --show-labels: a LABELS column */
	bool kind_prefix;              /* get all: names as pod/NAME, service/NAME */
	bool watch;                    /* get -w */
	struct ctl_table *capture;     /* get: the table goes here instead of stdout (-w) */
	struct ctl_expose expose;
	const char *result_word; /* what a write says it did instead of "created" (expose) */
	const char *file;        /* -f */
	struct cluster_config cfg;
	struct daemon_etcd etcd; /* urls NULL: the directory */
	const char *domain;      /* the cluster domain, for etcd's settings */
	struct ctl_etcd *e;      /* connected, with --etcd */
	int scope_kind;          /* get: the kind asked for (-1: all), so etcd reads only it */
	char **args;             /* positional arguments after the verb */
	int n_args;
};

/* A table printed with kubectl's layout: left-aligned columns, three spaces apart. */
struct ctl_table {
	size_t cols;
	char **cells;     /* rows * cols, heap strings */
	size_t rows, cap; /* cap: cells */
};

void ctl_table_init(struct ctl_table *t, size_t cols);
void ctl_table_add(struct ctl_table *t, const char *const *row);
/* A column more at the right: HEAD over the values of VALUES, one per row after the first. */
void ctl_table_add_column(struct ctl_table *t, const char *head, const char *const *values);
void ctl_table_print(const struct ctl_table *t, FILE *out);
void ctl_table_deinit(struct ctl_table *t);
/* kubectl's age: "45s", "3m20s", "5h", "12d"... from a Unix time; "<unknown>" for 0. */
void ctl_age(int64_t since, char *buf, size_t len);
/* Creation time of an object: creationTimestamp, else its file's modification time. */
int64_t ctl_created(const struct cluster_meta *m);

/* Load the zones directory as the daemons do, printing problems to stderr: what serves (NULL
 * only when the directory cannot be read), *ERRORS the number of errors reported. */
struct cluster *ctl_load(const struct ctl *ctl, size_t *errors);
/* What messages call the source: the zones directory, or "etcd PREFIX". */
const char *ctl_source(const struct ctl *ctl);

int ctl_get(struct ctl *ctl);
int ctl_describe(struct ctl *ctl);
int ctl_check(struct ctl *ctl);
int ctl_create(struct ctl *ctl, bool apply);
int ctl_delete(struct ctl *ctl);
int ctl_expose(struct ctl *ctl);
#define CTL_DIGEST_HEAD "#DIGEST" /* -w's hidden last column: the object's hash */
/* get -w: GET's table of each snapshot from the watcher of the directory or etcd, the rows of
 * what changed after the first; until SIGINT or SIGTERM. */
int ctl_watch(struct ctl *ctl, int (*get)(struct ctl *ctl, const struct cluster *c));
struct opt_table;
/* `completion SHELL`: the completion script for SHELL (bash), its flags from table T. */
int ctl_completion(const struct opt_table *t, const char *shell);

/* Kind from a kubectl resource word: "services", "svc", "service" ... -1 when unknown. */
int ctl_kind_parse(const char *word);
/* kubectl's plural resource name for messages: "services", "pods"... */
const char *ctl_kind_plural(enum cluster_kind k);

#endif
