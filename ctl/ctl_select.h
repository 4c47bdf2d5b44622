/* ctl_select.h -- kubectl's label selectors (-l). */
#ifndef CTL_SELECT_H
#define CTL_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster.h"

#define CTL_SELECTOR_MAX    32 /* requirements */
#define CTL_SELECTOR_VALUES 32 /* values of one in/notin */

enum ctl_sel_op {
	CTL_SEL_EQUALS,
	CTL_SEL_NOT_EQUALS,
	CTL_SEL_IN,
	CTL_SEL_NOT_IN,
	CTL_SEL_EXISTS,
	CTL_SEL_NOT_EXISTS,
};

struct ctl_requirement {
	char key[254];
	enum ctl_sel_op op;
	char *values[CTL_SELECTOR_VALUES];
	size_t n_values;
};

struct ctl_selector {
	struct ctl_requirement r[CTL_SELECTOR_MAX];
	size_t n;
};

/* Parse TEXT into SEL; false with kubectl's message in ERR. */
bool ctl_selector_parse(const char *text, struct ctl_selector *sel, char *err, size_t errlen);
/* Whether labels L satisfy every requirement of SEL (none: everything matches). */
bool ctl_selector_match(const struct ctl_selector *sel, const struct cluster_labels *l);
void ctl_selector_free(struct ctl_selector *sel);

#endif
