/* ctl_table.c -- kubectl-style tables and ages. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ctl.h"
#include "vec.h"

void
ctl_table_init(struct ctl_table *t, size_t cols)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
}

void
ctl_table_add(struct ctl_table *t, const char *const *row)
{
	size_t i;

	if (vec_reserve(&t->cells, &t->cap, t->rows * t->cols, (t->rows + 1) * t->cols,
	                sizeof(*t->cells), NULL) != SVC_OK) {
		perror("svcctl");
		exit(1);
	}
	for (i = 0; i < t->cols; i++) {
		t->cells[t->rows * t->cols + i] = strdup(row[i] ? row[i] : "");
		if (t->cells[t->rows * t->cols + i] == NULL) {
			perror("svcctl");
			exit(1);
		}
	}
	t->rows++;
}

void
ctl_table_add_column(struct ctl_table *t, const char *head, const char *const *values)
{
	size_t cols = t->cols + 1;
	char **cells = calloc(t->rows * cols + 1, sizeof(*cells));

	if (cells == NULL) {
		perror("svcctl");
		exit(1);
	}
	for (size_t r = 0; r < t->rows; r++) {
		memcpy(cells + r * cols, t->cells + r * t->cols, t->cols * sizeof(*cells));
		cells[r * cols + t->cols] = strdup(r == 0 ? head : values[r - 1]);
		if (cells[r * cols + t->cols] == NULL) {
			perror("svcctl");
			exit(1);
		}
	}
	free(t->cells);
	t->cells = cells;
	t->cols = cols;
	t->cap = t->rows * cols + 1;
}

void
ctl_table_print(const struct ctl_table *t, FILE *out)
{
	size_t *w = calloc(t->cols, sizeof(*w));
	size_t r, c;

	if (w == NULL)
		return;
	for (r = 0; r < t->rows; r++)
		for (c = 0; c < t->cols; c++) {
			size_t len = strlen(t->cells[r * t->cols + c]);

			if (len > w[c])
				w[c] = len;
		}
	for (r = 0; r < t->rows; r++) {
		for (c = 0; c < t->cols; c++) {
			const char *cell = t->cells[r * t->cols + c];

			if (c + 1 == t->cols)
				fprintf(out, "%s\n", cell);
			else
				fprintf(out, "%-*s   ", (int)w[c], cell);
		}
	}
	free(w);
}

void
ctl_table_deinit(struct ctl_table *t)
{
	size_t i;

	for (i = 0; i < t->rows * t->cols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* k8s.io/apimachinery/pkg/util/duration.HumanDuration */
void
ctl_age(int64_t since, char *buf, size_t len)
{
	int64_t s, m, h;

	if (since == 0) {
		snprintf(buf, len, "<unknown>");
		return;
	}
	s = (int64_t)time(NULL) - since;
	if (s < -1) {
		snprintf(buf, len, "<invalid>");
		return;
	}
	if (s < 0)
		s = 0;
	if (s < 120) {
		snprintf(buf, len, "%llds", (long long)s);
		return;
	}
	m = s / 60;
	if (m < 10) {
		if (s % 60 == 0)
			snprintf(buf, len, "%lldm", (long long)m);
		else
			snprintf(buf, len, "%lldm%llds", (long long)m, (long long)(s % 60));
		return;
	}
	if (m < 180) {
		snprintf(buf, len, "%lldm", (long long)m);
		return;
	}
	h = m / 60;
	if (h < 8) {
		if (m % 60 == 0)
			snprintf(buf, len, "%lldh", (long long)h);
		else
			snprintf(buf, len, "%lldh%lldm", (long long)h, (long long)(m % 60));
	} else if (h < 48) {
		snprintf(buf, len, "%lldh", (long long)h);
	} else if (h < 24 * 8) {
		if (h % 24 == 0)
			snprintf(buf, len, "%lldd", (long long)(h / 24));
		else
			snprintf(buf, len, "%lldd%lldh", (long long)(h / 24), (long long)(h % 24));
	} else if (h < 24 * 365 * 2) {
		snprintf(buf, len, "%lldd", (long long)(h / 24));
	} else if (h < 24 * 365 * 8) {
		int64_t dy = (h / 24) % 365;

		if (dy == 0)
			snprintf(buf, len, "%lldy", (long long)(h / 24 / 365));
		else
			snprintf(buf, len, "%lldy%lldd", (long long)(h / 24 / 365), (long long)dy);
	} else {
		snprintf(buf, len, "%lldy", (long long)(h / 24 / 365));
	}
}

int64_t
ctl_created(const struct cluster_meta *m)
{
	struct stat sb;

	if (m->created_unix != 0)
		return m->created_unix;
	if (m->origin.file != NULL && stat(m->origin.file, &sb) == 0)
		return (int64_t)sb.st_mtime;
	return 0;
}
