/* ytree.h -- YAML documents as small trees that keep every node's source position. */
#ifndef YTREE_H
#define YTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"
#include "svc_status.h"

#define YTREE_MAX_DEPTH 64
#define YTREE_MAX_NODES 4000000
#define YTREE_MAX_BYTES (64u << 20)

enum ynode_type {
	YNODE_NULL, /* a plain "", "~" or "null" scalar */
	YNODE_SCALAR,
	YNODE_MAP,
	YNODE_SEQ,
};

struct ynode;

struct yentry {
	struct ynode *key; /* always a scalar */
	struct ynode *value;
};

struct ynode {
	enum ynode_type type;
	bool plain;        /* an unquoted scalar: subject to YAML's implicit typing */
	uint32_t line;     /* 1-based */
	uint32_t col;      /* 1-based */
	size_t start, end; /* byte offsets in the source */
	const char *text;  /* scalars: NUL-terminated value */
	size_t len;
	struct yentry *entries; /* maps */
	struct ynode **items;   /* sequences */
	size_t n;
};

struct ydoc {
	struct ynode *root; /* NULL for an empty document */
	size_t start, end;  /* byte range of the document, for rewriting it in place */
	uint32_t index;
};

/* Parse every document of BUF (LEN bytes) into trees in ARENA. Syntax errors, aliases, depth and
 * size limits are reported to D as FILE:line:col. *DOCS gets an arena array. Returns SVC_OK or
 * SVC_EINVAL (nothing usable; the documents before the error are still returned). */
enum svc_status ytree_parse(struct arena *arena, const char *file, const char *buf, size_t len,
                            struct diag *d, struct ydoc **docs, size_t *n_docs);
/* As ytree_parse, for text that starts at line FIRST_LINE + 1 of FILE (a chunk of it): lines in
 * nodes and reports are the file's; byte offsets stay the text's. */
enum svc_status ytree_parse_at(struct arena *arena, const char *file, const char *buf, size_t len,
                               uint32_t first_line, struct diag *d, struct ydoc **docs,
                               size_t *n_docs);

/* Value of KEY in MAP, or NULL. */
const struct ynode *ytree_get(const struct ynode *map, const char *key);

#endif
