/* ctl_select.c -- kubectl's label selectors (-l, --selector): requirements joined by commas, each
 * `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key` (exists)
 * or `!key` (does not exist); every one must hold. */
#include "ctl_select.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A key or value at *P: letters, digits and "-_./" (a label's characters). */
static bool
word(const char **p, char *out, size_t cap)
{
	size_t n = 0;

	*p = skip_space(*p);
	while (**p != '\0' && (isalnum((unsigned char)**p) || strchr("-_./", **p) != NULL)) {
		if (n + 1 >= cap)
			return false;
		out[n++] = *(*p)++;
	}
	out[n] = '\0';
	return n > 0;
}

static bool
add_value(struct ctl_requirement *r, const char *v)
{
	char *dup;

	if (r->n_values == CTL_SELECTOR_VALUES || (dup = strdup(v)) == NULL)
		return false;
	r->values[r->n_values++] = dup;
	return true;
}

bool
ctl_selector_parse(const char *text, struct ctl_selector *sel, char *err, size_t errlen)
{
	const char *p = text;

	memset(sel, 0, sizeof(*sel));
	while (*(p = skip_space(p)) != '\0') {
		struct ctl_requirement *r;
		char v[256];

		if (sel->n == CTL_SELECTOR_MAX) {
			snprintf(err, errlen, "at most %d requirements", CTL_SELECTOR_MAX);
			return false;
		}
		r = &sel->r[sel->n++];
		if (*p == '!') {
			r->op = CTL_SEL_NOT_EXISTS;
			p++;
		}
		if (!word(&p, r->key, sizeof(r->key)))
			goto bad;
		p = skip_space(p);
		if (r->op == CTL_SEL_NOT_EXISTS) {
			/* nothing follows the key */
		} else if (p[0] == '!' && p[1] == '=') {
			r->op = CTL_SEL_NOT_EQUALS;
			p += 2;
		} else if (p[0] == '=') {
			r->op = CTL_SEL_EQUALS;
			p += p[1] == '=' ? 2 : 1;
		} else if (!strncmp(p, "in", 2) && (p[2] == ' ' || p[2] == '(')) {
			r->op = CTL_SEL_IN;
			p += 2;
		} else if (!strncmp(p, "notin", 5) && (p[5] == ' ' || p[5] == '(')) {
			r->op = CTL_SEL_NOT_IN;
			p += 5;
		} else {
			r->op = CTL_SEL_EXISTS;
		}
		if (r->op == CTL_SEL_EQUALS || r->op == CTL_SEL_NOT_EQUALS) {
			/* An empty value is a value: "key=" selects key set to "". */
			v[0] = '\0';
			if (!word(&p, v, sizeof(v)) && v[0] != '\0')
				goto bad;
			if (!add_value(r, v))
				goto bad;
		} else if (r->op == CTL_SEL_IN || r->op == CTL_SEL_NOT_IN) {
			p = skip_space(p);
			if (*p++ != '(')
				goto bad;
			for (;;) {
				if (!word(&p, v, sizeof(v)) || !add_value(r, v))
					goto bad;
				p = skip_space(p);
				if (*p == ',') {
					p++;
					continue;
				}
				if (*p++ != ')')
					goto bad;
				break;
			}
		}
		p = skip_space(p);
		if (*p == ',')
			p++;
		else if (*p != '\0')
			goto bad;
	}
	return true;
bad:
	/* kubectl: "unable to parse requirement: ..." */
	snprintf(err, errlen, "unable to parse requirement: \"%s\"", text);
	ctl_selector_free(sel);
	return false;
}

static const char *
label(const struct cluster_labels *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->items[i].key, key))
			return l->items[i].value;
	}
	return NULL;
}

static bool
one_of(const struct ctl_requirement *r, const char *v)
{
	for (size_t i = 0; i < r->n_values; i++) {
		if (!strcmp(r->values[i], v))
			return true;
	}
	return false;
}

bool
ctl_selector_match(const struct ctl_selector *sel, const struct cluster_labels *l)
{
	for (size_t i = 0; i < sel->n; i++) {
		const struct ctl_requirement *r = &sel->r[i];
		const char *v = label(l, r->key);
		bool ok = false;

		switch (r->op) {
		case CTL_SEL_EQUALS:
		case CTL_SEL_IN:
			ok = v != NULL && one_of(r, v);
			break;
		case CTL_SEL_NOT_EQUALS:
		case CTL_SEL_NOT_IN:
			/* As Kubernetes: an object without the key matches != and notin. */
			ok = v == NULL || !one_of(r, v);
			break;
		case CTL_SEL_EXISTS:
			ok = v != NULL;
			break;
		case CTL_SEL_NOT_EXISTS:
			ok = v == NULL;
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

void
ctl_selector_free(struct ctl_selector *sel)
{
	for (size_t i = 0; i < sel->n; i++) {
		for (size_t k = 0; k < sel->r[i].n_values; k++)
			free(sel->r[i].values[k]);
		sel->r[i].n_values = 0;
	}
	sel->n = 0;
}
