/* test_ytree.c -- YAML documents as trees with source positions. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "ytree.h"

struct parsed {
	struct arena arena;
	struct diag d;
	struct ydoc *docs;
	size_t n;
	enum svc_status st;
};

static void
parse(struct parsed *p, const char *text)
{
	arena_init(&p->arena);
	diag_init(&p->d);
	p->st = ytree_parse(&p->arena, "t.yaml", text, strlen(text), &p->d, &p->docs, &p->n);
}

static void
done(struct parsed *p)
{
	arena_deinit(&p->arena);
	diag_deinit(&p->d);
}

static const char *
first_message(const struct parsed *p, char *buf, size_t len)
{
	assert_true(p->d.n > 0);
	diag_format(&p->d.entries[0], buf, len);
	return buf;
}

static void
test_positions(void **state)
{
	struct parsed p;
	const struct ynode *root, *b, *c, *seq;

	(void)state;
	parse(&p, "a: 1\n"
	          "b:\n"
	          "  c: hello world\n"
	          "  d:\n"
	          "    - x\n"
	          "    -   y\n");
	assert_int_equal(p.st, SVC_OK);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.d.n, 0);
	root = p.docs[0].root;
	assert_int_equal(root->type, YNODE_MAP);
	assert_int_equal(root->n, 2);
	assert_int_equal(root->line, 1);
	assert_int_equal(root->col, 1);
	assert_string_equal(root->entries[0].key->text, "a");
	assert_int_equal(root->entries[0].value->line, 1);
	assert_int_equal(root->entries[0].value->col, 4);
	b = ytree_get(root, "b");
	assert_non_null(b);
	assert_int_equal(b->type, YNODE_MAP);
	assert_int_equal(b->line, 3);
	assert_int_equal(b->col, 3);
	c = ytree_get(b, "c");
	assert_int_equal(c->type, YNODE_SCALAR);
	assert_string_equal(c->text, "hello world");
	assert_int_equal(c->len, 11);
	assert_int_equal(c->line, 3);
	assert_int_equal(c->col, 6);
	/* Byte range of the scalar in the source. */
	assert_int_equal(c->start, 13);
	assert_int_equal(c->end, 24);
	seq = ytree_get(b, "d");
	assert_int_equal(seq->type, YNODE_SEQ);
	assert_int_equal(seq->n, 2);
	assert_string_equal(seq->items[1]->text, "y");
	assert_int_equal(seq->items[1]->line, 6);
	assert_int_equal(seq->items[1]->col, 9);
	assert_null(ytree_get(root, "zzz"));
	assert_null(ytree_get(c, "a")); /* not a map */
	assert_null(ytree_get(NULL, "a"));
	done(&p);
}

static void
test_multi_doc(void **state)
{
	struct parsed p;
	const char *text = "a: 1\n"
	                   "---\n"
	                   "b: 2\n"
	                   "---\n"
	                   "---\n"
	                   "c: 3\n";

	(void)state;
	parse(&p, text);
	assert_int_equal(p.st, SVC_OK);
	assert_int_equal(p.n, 4);
	assert_int_equal(p.docs[0].index, 0);
	assert_int_equal(p.docs[0].start, 0);
	assert_int_equal(p.docs[0].end, 5);
	assert_int_equal(p.docs[1].index, 1);
	assert_int_equal(p.docs[1].start, 5);
	assert_int_equal(p.docs[1].end, 14);
	assert_memory_equal(text + p.docs[1].start, "---\nb: 2\n", 9);
	/* An empty document after "---" is one null scalar. */
	assert_non_null(p.docs[2].root);
	assert_int_equal(p.docs[2].root->type, YNODE_NULL);
	assert_int_equal(p.docs[3].index, 3);
	assert_string_equal(ytree_get(p.docs[3].root, "c")->text, "3");
	assert_int_equal(ytree_get(p.docs[3].root, "c")->line, 6);
	/* The documents tile the file. */
	assert_int_equal(p.docs[2].start, p.docs[1].end);
	assert_int_equal(p.docs[3].end, strlen(text));
	done(&p);
}

static void
test_explicit_doc_end(void **state)
{
	struct parsed p;
	const char *text = "---\na: 1\n...\n---\nb: 2\n";

	(void)state;
	parse(&p, text);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.docs[0].start, 0);
	assert_int_equal(p.docs[0].end, 12); /* through "..." */
	assert_int_equal(p.docs[1].start, 13);
	assert_int_equal(p.docs[1].end, strlen(text));
	done(&p);
}

static void
test_duplicate_key(void **state)
{
	struct parsed p;
	char buf[256];

	(void)state;
	parse(&p, "a: 1\nb:\n  x: 1\n  x: 2\n");
	assert_int_equal(p.st, SVC_EINVAL);
	assert_int_equal(p.d.errors, 1);
	assert_string_equal(first_message(&p, buf, sizeof(buf)),
	                    "t.yaml:4:3: duplicate key \"x\" (first at line 3)");
	/* A broken document is not returned. */
	assert_int_equal(p.n, 0);
	done(&p);
}

static void
test_alias_rejected(void **state)
{
	struct parsed p;
	char buf[256];

	(void)state;
	parse(&p, "a: &anc 1\nb: *anc\n");
	assert_int_equal(p.st, SVC_EINVAL);
	assert_int_equal(p.d.errors, 1);
	assert_string_equal(first_message(&p, buf, sizeof(buf)),
	                    "t.yaml:2:4: YAML aliases (*anc) are not supported");
	done(&p);
}

static char *
nested(int levels, bool flow)
{
	size_t cap = (size_t)levels * (size_t)(levels + 8) + 64, off = 0;
	char *s = malloc(cap);
	int i, k;

	assert_non_null(s);
	if (flow) {
		for (i = 0; i < levels; i++)
			s[off++] = '[';
		for (i = 0; i < levels; i++)
			s[off++] = ']';
		s[off++] = '\n';
	} else {
		for (i = 0; i < levels; i++) {
			for (k = 0; k < i; k++)
				s[off++] = ' ';
			off += (size_t)snprintf(s + off, cap - off, "k:\n");
		}
		for (k = 0; k < levels; k++)
			s[off++] = ' ';
		off += (size_t)snprintf(s + off, cap - off, "v\n");
	}
	s[off] = '\0';
	return s;
}

static void
test_depth_limit(void **state)
{
	struct parsed p;
	char buf[256];
	char *text;

	(void)state;
	/* 100 nested mappings: the 65th is too deep. */
	text = nested(100, false);
	parse(&p, text);
	assert_int_equal(p.st, SVC_EINVAL);
	assert_int_equal(p.d.errors, 1);
	assert_string_equal(first_message(&p, buf, sizeof(buf)),
	                    "t.yaml:65:65: nesting deeper than 64 levels");
	done(&p);
	free(text);

	text = nested(100, true);
	parse(&p, text);
	assert_int_equal(p.st, SVC_EINVAL);
	tu_diag_expect(&p.d, DIAG_ERROR, NULL, "nesting deeper than 64 levels");
	assert_int_equal(p.d.entries[0].line, 1);
	assert_int_equal(p.d.entries[0].col, 65);
	done(&p);
	free(text);

	/* Exactly 64 levels are fine. */
	text = nested(64, true);
	parse(&p, text);
	assert_int_equal(p.st, SVC_OK);
	assert_int_equal(p.d.n, 0);
	done(&p);
	free(text);
}

static void
test_syntax_error(void **state)
{
	struct parsed p;
	char buf[256];

	(void)state;
	parse(&p, "a: 1\nb: 2\n  c: 3\n");
	assert_int_equal(p.st, SVC_EINVAL);
	assert_int_equal(p.d.errors, 1);
	assert_string_equal(first_message(&p, buf, sizeof(buf)),
	                    "t.yaml:3:4: YAML syntax error: mapping values are not allowed in this "
	                    "context");
	done(&p);

	parse(&p, "a: [1, 2\nb: 3\n");
	assert_int_equal(p.st, SVC_EINVAL);
	assert_string_equal(p.d.entries[0].file, "t.yaml");
	assert_int_equal(p.d.entries[0].line, 2);
	assert_int_equal(p.d.entries[0].col, 2);
	assert_non_null(strstr(p.d.entries[0].message, "while parsing a flow sequence (line 1)"));
	done(&p);

	/* Documents before the error are still returned. */
	parse(&p, "a: 1\n---\nb: [\n");
	assert_int_equal(p.st, SVC_EINVAL);
	assert_int_equal(p.n, 1);
	assert_string_equal(ytree_get(p.docs[0].root, "a")->text, "1");
	assert_int_equal(p.d.entries[0].line, 4);
	done(&p);
}

static void
test_complex_key(void **state)
{
	struct parsed p;
	char buf[256];

	(void)state;
	parse(&p, "? [a]\n: 1\n");
	assert_int_equal(p.st, SVC_EINVAL);
	assert_string_equal(first_message(&p, buf, sizeof(buf)),
	                    "t.yaml:1:3: mapping keys must be plain scalars");
	done(&p);
}

static void
test_null_and_quoting(void **state)
{
	struct parsed p;
	const struct ynode *r;
	static const char *const nulls[] = {"a", "b", "c", "d", "e", "f"};
	size_t i;

	(void)state;
	parse(&p, "a:\n"
	          "b: ~\n"
	          "c: null\n"
	          "d: Null\n"
	          "e: NULL\n"
	          "f: \n"
	          "g: \"\"\n"
	          "h: 'null'\n"
	          "i: !!null null\n"
	          "j: 80\n"
	          "k: \"80\"\n"
	          "l: '80'\n"
	          "m: !!str 80\n"
	          "n: nUll\n"
	          "o: |\n"
	          "  two\n"
	          "  lines\n");
	assert_int_equal(p.st, SVC_OK);
	r = p.docs[0].root;
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (ytree_get(r, nulls[i])->type != YNODE_NULL)
			fail_msg("%s should be null", nulls[i]);
	assert_int_equal(ytree_get(r, "g")->type, YNODE_SCALAR);
	assert_false(ytree_get(r, "g")->plain);
	assert_string_equal(ytree_get(r, "g")->text, "");
	assert_int_equal(ytree_get(r, "h")->type, YNODE_SCALAR);
	assert_string_equal(ytree_get(r, "h")->text, "null");
	assert_false(ytree_get(r, "h")->plain);
	/* A tagged scalar is not an implicitly typed one. */
	assert_int_equal(ytree_get(r, "i")->type, YNODE_SCALAR);
	assert_false(ytree_get(r, "i")->plain);
	assert_true(ytree_get(r, "j")->plain);
	assert_string_equal(ytree_get(r, "j")->text, "80");
	assert_false(ytree_get(r, "k")->plain);
	assert_string_equal(ytree_get(r, "k")->text, "80");
	assert_false(ytree_get(r, "l")->plain);
	assert_false(ytree_get(r, "m")->plain);
	assert_string_equal(ytree_get(r, "m")->text, "80");
	assert_int_equal(ytree_get(r, "n")->type, YNODE_SCALAR);
	assert_true(ytree_get(r, "n")->plain);
	assert_string_equal(ytree_get(r, "o")->text, "two\nlines\n");
	assert_false(ytree_get(r, "o")->plain);
	done(&p);
}

static void
test_empty_input(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "");
	assert_int_equal(p.st, SVC_OK);
	assert_int_equal(p.n, 0);
	done(&p);
	parse(&p, "# only a comment\n");
	assert_int_equal(p.st, SVC_OK);
	assert_int_equal(p.n, 0);
	done(&p);
	parse(&p, "just a scalar\n");
	assert_int_equal(p.st, SVC_OK);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.docs[0].root->type, YNODE_SCALAR);
	assert_string_equal(p.docs[0].root->text, "just a scalar");
	done(&p);
}

static void
test_size_limit(void **state)
{
	struct arena a;
	struct diag d;
	struct ydoc *docs;
	size_t n;

	(void)state;
	arena_init(&a);
	diag_init(&d);
	/* The length is checked before the buffer is read. */
	assert_int_equal(
	        ytree_parse(&a, "big.yaml", "", (size_t)YTREE_MAX_BYTES + 1, &d, &docs, &n),
	        SVC_ELIMIT);
	assert_int_equal(n, 0);
	tu_diag_expect(&d, DIAG_ERROR, NULL, "larger than 64 MiB");
	diag_deinit(&d);
	arena_deinit(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_positions),        cmocka_unit_test(test_multi_doc),
	        cmocka_unit_test(test_explicit_doc_end), cmocka_unit_test(test_duplicate_key),
	        cmocka_unit_test(test_alias_rejected),   cmocka_unit_test(test_depth_limit),
	        cmocka_unit_test(test_syntax_error),     cmocka_unit_test(test_complex_key),
	        cmocka_unit_test(test_null_and_quoting), cmocka_unit_test(test_empty_input),
	        cmocka_unit_test(test_size_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
