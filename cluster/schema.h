/* schema.h -- the one table that describes every manifest field we read and write. */
#ifndef SCHEMA_H
#define SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "cluster.h"
#include "diag.h"
#include "posmap.h"
#include "ytree.h"

enum schema_type {
	SCHEMA_STR,         /* const char * at offset */
	SCHEMA_INT,         /* int32_t at offset */
	SCHEMA_BOOL,        /* bool at offset */
	SCHEMA_TRIBOOL,     /* enum cluster_tribool at offset */
	SCHEMA_ENUM,        /* int-sized enum at offset; names[] indexes its values */
	SCHEMA_INTORSTR,    /* int32_t at offset, or const char * at offset2 */
	SCHEMA_STRLIST,     /* const char ** at offset, size_t count at offset2 */
	SCHEMA_LABELS,      /* struct cluster_labels at offset */
	SCHEMA_OBJ,         /* struct of schema sub, inline at offset */
	SCHEMA_OBJPTR,      /* pointer to a struct of schema sub at offset */
	SCHEMA_LIST,        /* array of structs of schema sub at offset, size_t count at offset2 */
	SCHEMA_IGNORE,      /* known and irrelevant to services: accepted silently */
	SCHEMA_UNSUPPORTED, /* known and meaningful, but not implemented: a warning */
};

#define SCHEMA_REQUIRED 0x1u /* "Required value" when absent */
#define SCHEMA_SEEN                                                                                \
	0x2u /* ENUM: a bool at offset2 says the field has a value (given or defaulted) */
#define SCHEMA_EMIT_FALSE 0x4u /* BOOL: written even when false */
#define SCHEMA_EMIT_EMPTY 0x8u /* OBJ: written even when empty, as {} (kubectl's status) */

struct schema_obj;

struct schema_field {
	const char *key;
	enum schema_type type;
	size_t offset;
	size_t offset2;
	const struct schema_obj *sub;
	const char *const *names; /* ENUM: value i is names[i]; a NULL name is never written */
	unsigned flags;
	const char *why; /* UNSUPPORTED: what the user loses */
};

struct schema_obj {
	const char *name;
	size_t size;
	const struct schema_field *fields;
	size_t n_fields;
};

struct schema_kind {
	enum cluster_kind id;
	const char *kind;
	const char *api_version;
	bool namespaced;
	const struct schema_obj *doc; /* the whole document: metadata, spec, status... */
};

extern const struct schema_kind schema_kinds[CLUSTER_KIND_COUNT];

/* The kind named KIND, or NULL. */
const struct schema_kind *schema_kind_find(const char *kind);

struct schema_decoder {
	struct arena *arena; /* decoded strings and arrays */
	/* When set: decoded strings equal to one decoded before are that one (schema_string);
	 * its entries are allocated from STRINGS_MEM. */
	struct htab *strings;
	struct arena *strings_mem;
	struct posmap *positions;
	struct diag *d;
	const char *file;
	char path[512]; /* field path of the node being decoded */
	size_t plen;
	bool failed; /* an error was reported */
	/* The struct the innermost schema_decode fills: a mapping decoded into the same address
	 * (spec, status, metadata at offset 0) leaves the object's position as it is. */
	const void *obj_at;
};

/* Decoded strings equal to the LEN bytes at S (in DEC's arena; the end of a NUL-terminated
 * string there) are S itself. */
void schema_share(struct schema_decoder *dec, const char *s, size_t len);

/* Fill OUT (a zeroed struct of schema SO) from the mapping MAP. Errors and warnings go to the
 * decoder's diag with the field path; decoding goes on past them so all are reported. */
void schema_decode(struct schema_decoder *dec, const struct schema_obj *so, const struct ynode *map,
                   void *out);

/* Whether A and B, structs of schema SO, hold the same values in every field the schema reads
 * (what a manifest says; not what is derived from it or where it was written). */
bool schema_equal(const struct schema_obj *so, const void *a, const void *b);
/* Make DST (a struct of schema SO holding a bytewise copy of SRC) a deep copy: every string and
 * array it points at is copied again into DEC's arena (strings shared through DEC's table when
 * it has one). DEC->failed: memory ran out (DST then points at some of SRC's data). */
void schema_copy(struct schema_decoder *dec, const struct schema_obj *so, void *dst,
                 const void *src);

/* Move every pointer the schema knows in OBJ (a struct of schema SO, already moved), and in
 * what it points to, to where arena_compact moved its target (arena_moved_ptr). */
void schema_relocate(const struct schema_obj *so, void *obj, const struct arena_moved *m);

/* ENUM names shared with printing code. */
extern const char *const schema_proto_names[];
extern const char *const schema_svc_type_names[];

/* True when S written as a plain YAML scalar would read back as something other than a string
 * (a number, boolean or null), so it must be quoted. */
bool schema_plain_is_typed(const char *s);

#endif
