/* ctl_json.c -- `-o json` and `-o jsonpath=TEMPLATE`. The objects are written as YAML
 * (cluster_yaml_dump, the -o yaml shape), read back (ytree) and built into a jansson tree, which
 * jansson prints: JSON is never written by hand. Keys come sorted, four spaces of indent, as
 * kubectl prints. JSONPath takes kubectl's subset: {.a.b}, [N], [*], {range ...}...{end} and
 * string literals; several results are joined by a space. */
#include "ctl_json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ctl.h"
#include "ytree.h"

/* A plain scalar as YAML's core schema types it: null, a boolean, an integer, else a string. */
static json_t *
scalar(const struct ynode *n)
{
	const char *t = n->text;
	char *end;
	long long v;

	if (n->plain) {
		if (!strcmp(t, "true") || !strcmp(t, "True") || !strcmp(t, "TRUE"))
			return json_true();
		if (!strcmp(t, "false") || !strcmp(t, "False") || !strcmp(t, "FALSE"))
			return json_false();
		if (t[0] != '\0' && (t[0] == '-' || (t[0] >= '0' && t[0] <= '9'))) {
			v = strtoll(t, &end, 10);
			/* No leading zeros but "0": "007" stays text, as in YAML 1.2. */
			if (*end == '\0' && !(t[0] == '0' && t[1] != '\0') &&
			    !(t[0] == '-' && (t[1] == '\0' || t[1] == '0')))
				return json_integer(v);
		}
	}
	return json_stringn(t, n->len);
}

static json_t *
to_json(const struct ynode *n)
{
	json_t *j = NULL;

	if (n == NULL || n->type == YNODE_NULL)
		return json_null();
	switch (n->type) {
	case YNODE_SCALAR:
		return scalar(n);
	case YNODE_MAP:
		j = json_object();
		for (size_t i = 0; j != NULL && i < n->n; i++) {
			if (json_object_set_new(j, n->entries[i].key->text,
			                        to_json(n->entries[i].value)) != 0) {
				json_decref(j);
				j = NULL;
			}
		}
		return j;
	case YNODE_SEQ:
		j = json_array();
		for (size_t i = 0; j != NULL && i < n->n; i++) {
			if (json_array_append_new(j, to_json(n->items[i])) != 0) {
				json_decref(j);
				j = NULL;
			}
		}
		return j;
	default:
		return json_null();
	}
}

/* The objects as one JSON value: the object itself, or a List of them. */
static json_t *
objects(const struct cluster_yaml_item *items, size_t n, bool as_list)
{
	struct arena a;
	struct diag d;
	struct ydoc *docs = NULL;
	size_t n_docs = 0, len;
	char *yaml = NULL;
	json_t *j = NULL;

	arena_init(&a);
	diag_init(&d);
	if (cluster_yaml_dump(items, n, as_list, &yaml, &len) == SVC_OK &&
	    ytree_parse(&a, "-o json", yaml, len, &d, &docs, &n_docs) == SVC_OK && n_docs >= 1)
		j = to_json(docs[0].root);
	/* kubectl's List carries an empty resourceVersion. */
	if (j != NULL && as_list && json_object_get(j, "metadata") == NULL &&
	    json_object_set_new(j, "metadata", json_pack("{s:s}", "resourceVersion", "")) != 0) {
		json_decref(j);
		j = NULL;
	}
	free(yaml);
	diag_deinit(&d);
	arena_deinit(&a);
	return j;
}

/* ---- JSONPath -------------------------------------------------------------------------------- */

struct jp_nodes {
	json_t **v;
	size_t n, cap;
};

static bool
push(struct jp_nodes *s, json_t *j)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		json_t **v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL)
			return false;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = j;
	return true;
}

/* The nodes PATH (LEN bytes: ".a.b[0][*]", "$" or "@" first, or nothing: the start) names,
 * from START, into OUT. False when PATH does not parse. */
static bool
select_path(json_t *start, const char *path, size_t len, struct jp_nodes *out)
{
	struct jp_nodes cur = {0}, next = {0};
	size_t i = 0;
	bool ok = push(&cur, start);

	if (i < len && (path[i] == '$' || path[i] == '@'))
		i++;
	while (ok && i < len) {
		next.n = 0;
		if (path[i] == '.') {
			size_t k = ++i;
			char key[256];

			while (i < len && path[i] != '.' && path[i] != '[')
				i++;
			if (i == k || i - k >= sizeof(key)) {
				ok = false;
				break;
			}
			memcpy(key, path + k, i - k);
			key[i - k] = '\0';
			for (size_t c = 0; ok && c < cur.n; c++) {
				json_t *m = json_is_object(cur.v[c])
				                    ? json_object_get(cur.v[c], key)
				                    : NULL;

				if (m != NULL)
					ok = push(&next, m);
			}
		} else if (path[i] == '[') {
			const char *close = memchr(path + i, ']', len - i);

			if (close == NULL) {
				ok = false;
				break;
			}
			if (close - (path + i) == 2 && path[i + 1] == '*') {
				for (size_t c = 0; ok && c < cur.n; c++) {
					size_t x;
					json_t *e;
					const char *k;

					if (json_is_array(cur.v[c]))
						json_array_foreach(cur.v[c], x, e) ok =
						        ok && push(&next, e);
					else if (json_is_object(cur.v[c]))
						json_object_foreach(cur.v[c], k, e) ok =
						        ok && push(&next, e);
				}
			} else {
				char *end;
				long idx = strtol(path + i + 1, &end, 10);

				if (end != close) {
					ok = false;
					break;
				}
				for (size_t c = 0; ok && c < cur.n; c++) {
					long size = json_is_array(cur.v[c])
					                    ? (long)json_array_size(cur.v[c])
					                    : 0;
					long at = idx < 0 ? size + idx : idx;

					if (at >= 0 && at < size)
						ok = push(&next,
						          json_array_get(cur.v[c], (size_t)at));
				}
			}
			i = (size_t)(close - path) + 1;
		} else {
			ok = false;
			break;
		}
		{
			struct jp_nodes t = cur;

			cur = next;
			next = t;
		}
	}
	for (size_t c = 0; ok && c < cur.n; c++)
		ok = push(out, cur.v[c]);
	free(cur.v);
	free(next.v);
	return ok;
}

static void
print_value(json_t *j, FILE *out)
{
	if (json_is_string(j)) {
		fwrite(json_string_value(j), 1, json_string_length(j), out);
	} else {
		char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

		if (s != NULL)
			fputs(s, out);
		free(s);
	}
}

/* A string literal's text, its escapes (\n \t \\ \" \') read. */
static void
print_literal(const char *s, size_t len, FILE *out)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < len) {
			c = s[++i];
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
		}
		fputc(c, out);
	}
}

/* Run TEMPLATE[*AT...] with CUR as @ until its end or an {end}, printing to OUT (NULL: only
 * moving past); false on a syntax error. */
static bool
run(const char *t, size_t *at, json_t *root, json_t *cur, FILE *out, bool in_range)
{
	size_t len = strlen(t);

	while (*at < len) {
		const char *open = strchr(t + *at, '{'), *close;
		const char *e;
		size_t elen;

		if (open == NULL) {
			if (out != NULL)
				fputs(t + *at, out);
			*at = len;
			break;
		}
		if (out != NULL)
			fwrite(t + *at, 1, (size_t)(open - (t + *at)), out);
		close = strchr(open, '}');
		if (close == NULL)
			return false;
		e = open + 1;
		elen = (size_t)(close - e);
		while (elen > 0 && *e == ' ')
			e++, elen--;
		while (elen > 0 && e[elen - 1] == ' ')
			elen--;
		*at = (size_t)(close - t) + 1;
		if (elen >= 2 && (e[0] == '"' || e[0] == '\'') && e[elen - 1] == e[0]) {
			if (out != NULL)
				print_literal(e + 1, elen - 2, out);
		} else if (elen == 3 && !strncmp(e, "end", 3)) {
			return in_range;
		} else if (elen > 6 && !strncmp(e, "range ", 6)) {
			struct jp_nodes items = {0};
			size_t body = *at;
			bool ok = select_path(e[6] == '$' ? root : cur, e + 6, elen - 6, &items);

			for (size_t i = 0; ok && i < items.n; i++) {
				*at = body;
				ok = run(t, at, root, items.v[i], out, true);
			}
			if (ok && items.n == 0) {
				/* Past the body, printing nothing. */
				*at = body;
				ok = run(t, at, root, json_null(), NULL, true);
			}
			free(items.v);
			if (!ok)
				return false;
		} else {
			struct jp_nodes r = {0};
			bool ok = select_path(elen > 0 && e[0] == '$' ? root : cur, e, elen, &r);

			for (size_t i = 0; ok && out != NULL && i < r.n; i++) {
				if (i > 0)
					fputc(' ', out);
				print_value(r.v[i], out);
			}
			free(r.v);
			if (!ok)
				return false;
		}
	}
	return !in_range;
}

int
ctl_print_json(const struct cluster_yaml_item *items, size_t n, bool as_list, const char *jsonpath,
               FILE *out)
{
	json_t *j = objects(items, n, as_list);
	size_t at = 0;
	int rc = 0;

	if (j == NULL) {
		fprintf(stderr, "error: out of memory\n");
		return 1;
	}
	if (jsonpath == NULL) {
		if (json_dumpf(j, out, JSON_INDENT(4) | JSON_SORT_KEYS) != 0)
			rc = 1;
		fputc('\n', out);
	} else if (!run(jsonpath, &at, j, j, out, false)) {
		fprintf(stderr, "error: error parsing jsonpath %s\n", jsonpath);
		rc = 1;
	}
	json_decref(j);
	return rc;
}

/* A column's value: the values its path finds, comma-separated; "<none>" for none. */
static char *
column_value(json_t *obj, const char *path, size_t len)
{
	struct jp_nodes r = {0};
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (f == NULL)
		return NULL;
	if (select_path(obj, path, len, &r)) {
		for (size_t i = 0; i < r.n; i++) {
			if (i > 0)
				fputc(',', f);
			print_value(r.v[i], f);
		}
	}
	if (r.n == 0)
		fputs("<none>", f);
	free(r.v);
	fclose(f);
	return buf;
}

int
ctl_print_columns(const struct cluster_yaml_item *items, size_t n, const char *spec, FILE *out)
{
	json_t *list = objects(items, n, true), *obj;
	char *cols[64], *heads[64];
	const char *p = spec;
	size_t n_cols = 0, i;
	struct ctl_table t;
	int rc = 0;

	if (list == NULL) {
		fprintf(stderr, "error: out of memory\n");
		return 1;
	}
	/* NAME:PATH[,NAME:PATH]...; a path may be written with or without its braces. */
	while (*p != '\0' && n_cols < 64) {
		size_t len = strcspn(p, ","), colon = strcspn(p, ":");

		if (colon >= len || colon == 0) {
			fprintf(stderr,
			        "error: expected <header>:<json-path-expr> for column \"%.*s\"\n",
			        (int)len, p);
			rc = 1;
			break;
		}
		heads[n_cols] = strndup(p, colon);
		cols[n_cols] = strndup(p + colon + 1, len - colon - 1);
		n_cols++;
		p += len + (p[len] == ',');
	}
	if (rc == 0) {
		ctl_table_init(&t, n_cols);
		ctl_table_add(&t, (const char *const *)heads);
		json_array_foreach(json_object_get(list, "items"), i, obj)
		{
			char *row[64];

			for (size_t c = 0; c < n_cols; c++) {
				const char *e = cols[c];
				size_t len = strlen(e);

				if (len >= 2 && e[0] == '{' && e[len - 1] == '}')
					e++, len -= 2;
				row[c] = column_value(obj, e, len);
			}
			ctl_table_add(&t, (const char *const *)row);
			for (size_t c = 0; c < n_cols; c++)
				free(row[c]);
		}
		ctl_table_print(&t, out);
		ctl_table_deinit(&t);
	}
	for (i = 0; i < n_cols; i++) {
		free(heads[i]);
		free(cols[i]);
	}
	json_decref(list);
	return rc;
}
