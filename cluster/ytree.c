/* ytree.c -- YAML documents as small trees that keep every node's source position. */
#include "ytree.h"

#include <string.h>
#include <yaml.h>

struct frame {
	struct ynode *node;
	struct ynode *pending_key; /* maps: key waiting for its value */
	size_t cap;
};

struct builder {
	struct arena *arena;
	const char *file;
	struct diag *d;
	struct frame stack[YTREE_MAX_DEPTH + 1];
	int depth;
	size_t nodes;
	bool failed;
};

static struct ynode *
node_new(struct builder *b, enum ynode_type type, const yaml_mark_t *mark)
{
	struct ynode *n;

	if (++b->nodes > YTREE_MAX_NODES) {
		diag_add(b->d, DIAG_ERROR, b->file, mark->line + 1, mark->column + 1, NULL,
		         "more than %u YAML nodes", YTREE_MAX_NODES);
		b->failed = true;
		return NULL;
	}
	n = arena_alloc(b->arena, sizeof(*n));
	if (n == NULL) {
		b->failed = true;
		return NULL;
	}
	n->type = type;
	n->line = (uint32_t)mark->line + 1;
	n->col = (uint32_t)mark->column + 1;
	n->start = mark->index;
	return n;
}

/* Arrays grow by doubling into the arena; the old copy is left behind, which costs at most as
 * much again as the final array. */
static bool
grow(struct builder *b, void **arr, size_t n, size_t *cap, size_t elem)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 4;
	p = arena_calloc(b->arena, ncap, elem);
	if (p == NULL)
		return false;
	if (n)
		memcpy(p, *arr, n * elem);
	*arr = p;
	*cap = ncap;
	return true;
}

static bool
is_null_scalar(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	if (ev->data.scalar.tag != NULL)
		return false;
	return len == 0 || (len == 1 && v[0] == '~') ||
	       (len == 4 &&
	        (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

/* Attach CHILD to the innermost open collection, or make it the document root. */
static void
attach(struct builder *b, struct ynode *child, struct ydoc *doc)
{
	struct frame *f;
	struct ynode *parent;

	if (b->depth == 0) {
		doc->root = child;
		return;
	}
	f = &b->stack[b->depth - 1];
	parent = f->node;
	if (parent->type == YNODE_SEQ) {
		if (!grow(b, (void **)&parent->items, parent->n, &f->cap, sizeof(*parent->items))) {
			b->failed = true;
			return;
		}
		parent->items[parent->n++] = child;
		return;
	}
	if (f->pending_key == NULL) {
		size_t i;

		if (child->type != YNODE_SCALAR && child->type != YNODE_NULL) {
			diag_add(b->d, DIAG_ERROR, b->file, child->line, child->col, NULL,
			         "mapping keys must be plain scalars");
			b->failed = true;
			return;
		}
		for (i = 0; i < parent->n; i++) {
			if (!strcmp(parent->entries[i].key->text, child->text)) {
				diag_add(b->d, DIAG_ERROR, b->file, child->line, child->col, NULL,
				         "duplicate key \"%s\" (first at line %u)", child->text,
				         parent->entries[i].key->line);
				b->failed = true;
			}
		}
		f->pending_key = child;
		return;
	}
	if (!grow(b, (void **)&parent->entries, parent->n, &f->cap, sizeof(*parent->entries))) {
		b->failed = true;
		return;
	}
	parent->entries[parent->n].key = f->pending_key;
	parent->entries[parent->n].value = child;
	parent->n++;
	f->pending_key = NULL;
}

static void
report_parser(struct builder *b, const yaml_parser_t *p)
{
	const yaml_mark_t *m = &p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR) {
		diag_add(b->d, DIAG_ERROR, b->file, 0, 0, NULL, "out of memory reading YAML");
	} else if (p->context != NULL) {
		diag_add(b->d, DIAG_ERROR, b->file, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
		         NULL, "YAML syntax error: %s %s (line %zu)", p->problem ? p->problem : "",
		         p->context, p->context_mark.line + 1);
	} else {
		diag_add(b->d, DIAG_ERROR, b->file, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
		         NULL, "YAML syntax error: %s", p->problem ? p->problem : "unknown");
	}
	b->failed = true;
}

enum svc_status
ytree_parse(struct arena *arena, const char *file, const char *buf, size_t len, struct diag *d,
            struct ydoc **docs, size_t *n_docs)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct builder b = {.arena = arena, .file = file, .d = d};
	struct ydoc *out = NULL, *doc = NULL;
	size_t n = 0, cap = 0;
	bool done = false;
	enum svc_status st = SVC_OK;

	*docs = NULL;
	*n_docs = 0;
	if (len > YTREE_MAX_BYTES) {
		diag_add(d, DIAG_ERROR, file, 0, 0, NULL, "file is larger than %u MiB",
		         YTREE_MAX_BYTES >> 20);
		return SVC_ELIMIT;
	}
	if (!yaml_parser_initialize(&parser))
		return SVC_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && !b.failed) {
		struct ynode *node = NULL;

		if (!yaml_parser_parse(&parser, &ev)) {
			report_parser(&b, &parser);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (!grow(&b, (void **)&out, n, &cap, sizeof(*out))) {
				b.failed = true;
				break;
			}
			doc = &out[n];
			memset(doc, 0, sizeof(*doc));
			doc->start = ev.start_mark.index;
			doc->index = (uint32_t)n;
			n++;
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (doc != NULL)
				doc->end = ev.end_mark.index;
			doc = NULL;
			break;
		case YAML_ALIAS_EVENT:
			/* Aliases are what "billion laughs" expansions are made of, and kubectl
			 * never writes them. */
			diag_add(d, DIAG_ERROR, file, (uint32_t)ev.start_mark.line + 1,
			         (uint32_t)ev.start_mark.column + 1, NULL,
			         "YAML aliases (*%s) are not supported", ev.data.alias.anchor);
			b.failed = true;
			break;
		case YAML_SCALAR_EVENT:
			node = node_new(&b, is_null_scalar(&ev) ? YNODE_NULL : YNODE_SCALAR,
			                &ev.start_mark);
			if (node == NULL)
				break;
			node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			              ev.data.scalar.tag == NULL;
			node->len = ev.data.scalar.length;
			node->text = arena_strndup(arena, (const char *)ev.data.scalar.value,
			                           ev.data.scalar.length);
			node->end = ev.end_mark.index;
			if (node->text == NULL) {
				b.failed = true;
				break;
			}
			if (doc != NULL)
				attach(&b, node, doc);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (b.depth >= YTREE_MAX_DEPTH) {
				diag_add(d, DIAG_ERROR, file, (uint32_t)ev.start_mark.line + 1,
				         (uint32_t)ev.start_mark.column + 1, NULL,
				         "nesting deeper than %d levels", YTREE_MAX_DEPTH);
				b.failed = true;
				break;
			}
			node = node_new(
			        &b, ev.type == YAML_SEQUENCE_START_EVENT ? YNODE_SEQ : YNODE_MAP,
			        &ev.start_mark);
			if (node == NULL || doc == NULL)
				break;
			attach(&b, node, doc);
			b.stack[b.depth].node = node;
			b.stack[b.depth].pending_key = NULL;
			b.stack[b.depth].cap = 0;
			b.depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (b.depth > 0) {
				b.depth--;
				b.stack[b.depth].node->end = ev.end_mark.index;
			}
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (b.failed) {
		/* A document cut short by an error is not returned half-built. */
		if (doc != NULL && n > 0)
			n--;
		st = SVC_EINVAL;
	}
	*docs = out;
	*n_docs = n;
	return st;
}

const struct ynode *
ytree_get(const struct ynode *map, const char *key)
{
	size_t i;

	if (map == NULL || map->type != YNODE_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (!strcmp(map->entries[i].key->text, key))
			return map->entries[i].value;
	return NULL;
}
