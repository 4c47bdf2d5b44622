/* ctl_watch.c -- `svcctl get KIND -w`: the table once, then a row for each object that is added,
 * changed or deleted, as each change arrives: from the directory's watcher (inotify) or from
 * etcd's watch, the same builder thread the daemons run (builder.h). Rows are compared without
 * their AGE, which changes by itself. Runs until interrupted. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "ctl.h"
#include "etcdwatch.h"

struct watcher {
	struct ctl *ctl;
	int (*get)(struct ctl *ctl, const struct cluster *c);
	struct ctl_table last; /* the rows shown: header first */
	bool shown;
	size_t *widths; /* of the first table, for the rows after */
	size_t key_cols;
	int age_col;
};

static const char *
cell(const struct ctl_table *t, size_t r, size_t c)
{
	return t->cells[r * t->cols + c];
}

/* Whether rows A of T and B of U are the same object (the NAMESPACE and NAME columns). */
static bool
same_object(const struct watcher *w, const struct ctl_table *t, size_t a, const struct ctl_table *u,
            size_t b)
{
	for (size_t c = 0; c < w->key_cols; c++)
		if (strcmp(cell(t, a, c), cell(u, b, c)) != 0)
			return false;
	return true;
}

static bool
same_row(const struct watcher *w, const struct ctl_table *t, size_t a, const struct ctl_table *u,
         size_t b)
{
	for (size_t c = 0; c < t->cols; c++)
		if ((int)c != w->age_col && strcmp(cell(t, a, c), cell(u, b, c)) != 0)
			return false;
	return true;
}

/* The columns shown: all but the digest (CTL_DIGEST_HEAD), last. */
static size_t
shown_cols(const struct ctl_table *t)
{
	return t->cols > 0 && !strcmp(cell(t, 0, t->cols - 1), CTL_DIGEST_HEAD) ? t->cols - 1
	                                                                        : t->cols;
}

static void
print_row(const struct watcher *w, const struct ctl_table *t, size_t r)
{
	size_t cols = shown_cols(t);

	for (size_t c = 0; c < cols; c++) {
		if (c + 1 == cols)
			printf("%s\n", cell(t, r, c));
		else
			printf("%-*s   ", (int)w->widths[c], cell(t, r, c));
	}
}

/* Row R of T in U (from row 1), or 0. */
static size_t
find(const struct watcher *w, const struct ctl_table *t, size_t r, const struct ctl_table *u)
{
	for (size_t k = 1; k < u->rows; k++)
		if (same_object(w, t, r, u, k))
			return k;
	return 0;
}

static void
on_snapshot(struct cluster *fresh, const struct diag *d, void *arg)
{
	struct watcher *w = arg;
	struct ctl_table now;

	diag_print((struct diag *)d, stderr);
	if (fresh == NULL)
		return;
	memset(&now, 0, sizeof(now));
	w->ctl->capture = &now;
	w->get(w->ctl, fresh);
	w->ctl->capture = NULL;
	cluster_unref(fresh);
	if (now.rows == 0)
		return; /* nothing selected yet, not even a header */
	if (!w->shown) {
		/* The first: the whole table, whose columns the rows after keep. */
		w->widths = calloc(now.cols, sizeof(*w->widths));
		if (w->widths == NULL)
			exit(1);
		for (size_t r = 0; r < now.rows; r++)
			for (size_t c = 0; c < now.cols; c++)
				if (strlen(cell(&now, r, c)) > w->widths[c])
					w->widths[c] = strlen(cell(&now, r, c));
		w->age_col = -1;
		for (size_t c = 0; c < now.cols; c++) {
			if (!strcmp(cell(&now, 0, c), "AGE"))
				w->age_col = (int)c;
			if (!strcmp(cell(&now, 0, c), "NAMESPACE") ||
			    !strcmp(cell(&now, 0, c), "NAME"))
				w->key_cols = c + 1;
		}
		for (size_t r = 0; r < now.rows; r++)
			print_row(w, &now, r);
		w->shown = true;
	} else {
		/* Added or changed, then deleted (their last row). */
		for (size_t r = 1; r < now.rows; r++) {
			size_t k = find(w, &now, r, &w->last);

			if (k == 0 || !same_row(w, &now, r, &w->last, k))
				print_row(w, &now, r);
		}
		for (size_t k = 1; k < w->last.rows; k++)
			if (find(w, &w->last, k, &now) == 0)
				print_row(w, &w->last, k);
	}
	fflush(stdout);
	ctl_table_deinit(&w->last);
	w->last = now;
}

int
ctl_watch(struct ctl *ctl, int (*get)(struct ctl *ctl, const struct cluster *c))
{
	static struct watcher w;
	struct builder *b = NULL;
	struct cluster_config cfg = ctl->cfg;
	struct etcdwatch_opts eo = {.etcd = &ctl->etcd, .debounce_ms = 50};
	sigset_t set;
	int sig;

	if (ctl->output != CTL_OUT_TABLE && ctl->output != CTL_OUT_WIDE) {
		fprintf(stderr, "error: --watch prints tables (and -o wide)\n");
		return 1;
	}
	w.ctl = ctl;
	w.get = get;
	/* The signals that end it are taken by this thread alone, not by the builder's. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (ctl->etcd.urls == NULL) {
		if (builder_create(ctl->zones, &cfg, 50, on_snapshot, &w, &b) != SVC_OK ||
		    builder_set_status_dir(b, ctl->status_dir) != SVC_OK) {
			fprintf(stderr, "error: %s: cannot watch\n", ctl->zones);
			builder_destroy(b);
			return 1;
		}
	} else {
		eo.flags.cfg = cfg;
		eo.flags.cfg.require_allocated = true;
		eo.flags.cfg.node_leases = true;
		snprintf(eo.flags.domain, sizeof(eo.flags.domain), "%s", ctl->domain);
		if (builder_create_etcd(&eo, on_snapshot, &w, &b) != SVC_OK) {
			fprintf(stderr, "error: %s: cannot watch\n", ctl_source(ctl));
			return 1;
		}
	}
	if (builder_start(b) != SVC_OK) {
		builder_destroy(b);
		return 1;
	}
	sigwait(&set, &sig);
	builder_destroy(b);
	ctl_table_deinit(&w.last);
	free(w.widths);
	return 0;
}
