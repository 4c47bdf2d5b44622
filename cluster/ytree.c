/* ytree.c -- YAML documents as small trees that keep every node's source position. */
#include "ytree.h"

#include <string.h>
#include <yaml.h>

#include "htab.h"
#include "vec.h"

/* Maps with more keys than this find duplicates through a hash table of their keys; smaller
 * ones (nearly all) just compare with each earlier key. */
#define YTREE_HASH_MIN 8

/* A key of a large map, in its frame's table (in the tree's arena). */
struct ykey {
	struct htab_node hn;
	const struct ynode *key;
};

struct frame {
	struct ynode *node;
	struct ynode *pending_key; /* maps: key waiting for its value */
	size_t cap;
	struct htab keys; /* maps past YTREE_HASH_MIN keys: every key so far */
};

struct builder {
	struct arena *arena;
	const char *file;
	struct diag *d;
	struct frame stack[YTREE_MAX_DEPTH + 1];
	int depth;
	size_t nodes;
	bool failed;
	uint32_t line0; /* lines before the text given (a chunk of a file) */
};

static void
oom(struct builder *b)
{
	if (!b->failed)
		diag_add(b->d, DIAG_ERROR, b->file, 0, 0, NULL, "out of memory reading YAML");
	b->failed = true;
}

static struct ynode *
node_new(struct builder *b, enum ynode_type type, const yaml_mark_t *mark)
{
	struct ynode *n;

	if (++b->nodes > YTREE_MAX_NODES) {
		diag_add(b->d, DIAG_ERROR, b->file, b->line0 + mark->line + 1, mark->column + 1,
		         NULL, "more than %u YAML nodes", YTREE_MAX_NODES);
		b->failed = true;
		return NULL;
	}
	n = arena_alloc(b->arena, sizeof(*n));
	if (n == NULL) {
		oom(b);
		return NULL;
	}
	n->type = type;
	n->line = b->line0 + (uint32_t)mark->line + 1;
	n->col = (uint32_t)mark->column + 1;
	n->start = mark->index;
	return n;
}

static bool
key_index(struct builder *b, struct frame *f, const struct ynode *key)
{
	struct ykey *k = arena_alloc(b->arena, sizeof(*k));

	if (k == NULL || htab_insert(&f->keys, &k->hn, htab_hash_str(key->text, 0)) != SVC_OK) {
		oom(b);
		return false;
	}
	k->key = key;
	return true;
}

/* The earlier key of F's map equal to KEY, or NULL; KEY then counts among the map's keys. Each
 * call takes constant time once the map is large, so a map of n keys costs O(n), not O(n^2). */
static const struct ynode *
key_seen(struct builder *b, struct frame *f, const struct ynode *key)
{
	const struct ynode *map = f->node;
	uint32_t h = htab_hash_str(key->text, 0);
	struct htab_node *hn;
	size_t i;

	if (f->keys.n == 0) {
		for (i = 0; i < map->n; i++)
			if (!strcmp(map->entries[i].key->text, key->text))
				return map->entries[i].key;
		if (map->n < YTREE_HASH_MIN)
			return NULL;
		/* The map has grown large: index the keys it has, then hash from now on. */
		if (htab_reserve(&f->keys, 2 * map->n) != SVC_OK) {
			oom(b);
			return NULL;
		}
		for (i = 0; i < map->n; i++)
			if (!key_index(b, f, map->entries[i].key))
				return NULL;
		key_index(b, f, key);
		return NULL;
	}
	for (hn = htab_find(&f->keys, h); hn != NULL; hn = htab_next(hn, h)) {
		const struct ykey *k = htab_item(hn, struct ykey, hn);

		if (!strcmp(k->key->text, key->text))
			return k->key;
	}
	key_index(b, f, key);
	return NULL;
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
	struct yentry *e;

	if (b->depth == 0) {
		doc->root = child;
		return;
	}
	f = &b->stack[b->depth - 1];
	parent = f->node;
	if (parent->type == YNODE_SEQ) {
		struct ynode **slot = vec_push(&parent->items, &parent->n, &f->cap,
		                               sizeof(*parent->items), b->arena);

		if (slot == NULL) {
			oom(b);
			return;
		}
		*slot = child;
		return;
	}
	if (f->pending_key == NULL) {
		const struct ynode *first;

		if (child->type != YNODE_SCALAR && child->type != YNODE_NULL) {
			diag_add(b->d, DIAG_ERROR, b->file, child->line, child->col, NULL,
			         "mapping keys must be plain scalars");
			b->failed = true;
			return;
		}
		first = key_seen(b, f, child);
		if (first != NULL) {
			diag_add(b->d, DIAG_ERROR, b->file, child->line, child->col, NULL,
			         "duplicate key \"%s\" (first at line %u)", child->text,
			         first->line);
			b->failed = true;
		}
		f->pending_key = child;
		return;
	}
	e = vec_push(&parent->entries, &parent->n, &f->cap, sizeof(*parent->entries), b->arena);
	if (e == NULL) {
		oom(b);
		return;
	}
	e->key = f->pending_key;
	e->value = child;
	f->pending_key = NULL;
}

static void
report_parser(struct builder *b, const yaml_parser_t *p)
{
	const yaml_mark_t *m = &p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR) {
		diag_add(b->d, DIAG_ERROR, b->file, 0, 0, NULL, "out of memory reading YAML");
	} else if (p->context != NULL) {
		diag_add(b->d, DIAG_ERROR, b->file, b->line0 + (uint32_t)m->line + 1,
		         (uint32_t)m->column + 1, NULL, "YAML syntax error: %s %s (line %zu)",
		         p->problem ? p->problem : "", p->context,
		         b->line0 + p->context_mark.line + 1);
	} else {
		diag_add(b->d, DIAG_ERROR, b->file, b->line0 + (uint32_t)m->line + 1,
		         (uint32_t)m->column + 1, NULL, "YAML syntax error: %s",
		         p->problem ? p->problem : "unknown");
	}
	b->failed = true;
}

enum svc_status
ytree_parse(struct arena *arena, const char *file, const char *buf, size_t len, struct diag *d,
            struct ydoc **docs_out, size_t *n_out)
{
	return ytree_parse_at(arena, file, buf, len, 0, d, docs_out, n_out);
}

enum svc_status
ytree_parse_at(struct arena *arena, const char *file, const char *buf, size_t len,
               uint32_t first_line, struct diag *d, struct ydoc **docs, size_t *n_docs)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct builder b = {.arena = arena, .file = file, .d = d, .line0 = first_line};
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
			/* DOC points into OUT only until its end, before OUT can move. */
			doc = vec_push(&out, &n, &cap, sizeof(*out), arena);
			if (doc == NULL) {
				oom(&b);
				break;
			}
			doc->start = ev.start_mark.index;
			doc->index = (uint32_t)(n - 1);
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (doc != NULL)
				doc->end = ev.end_mark.index;
			doc = NULL;
			break;
		case YAML_ALIAS_EVENT:
			/* Aliases are what "billion laughs" expansions are made of, and kubectl
			 * never writes them. */
			diag_add(d, DIAG_ERROR, file, b.line0 + (uint32_t)ev.start_mark.line + 1,
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
				oom(&b);
				break;
			}
			if (doc != NULL)
				attach(&b, node, doc);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (b.depth >= YTREE_MAX_DEPTH) {
				diag_add(d, DIAG_ERROR, file,
				         b.line0 + (uint32_t)ev.start_mark.line + 1,
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
			htab_init(&b.stack[b.depth].keys);
			b.depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (b.depth > 0) {
				b.depth--;
				b.stack[b.depth].node->end = ev.end_mark.index;
				htab_deinit(&b.stack[b.depth].keys);
			}
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	while (b.depth > 0)
		htab_deinit(&b.stack[--b.depth].keys);
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
