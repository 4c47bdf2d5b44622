/* emit.c -- write cluster objects as YAML by walking the same schema table that reads them. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cluster_yaml.h"
#include "schema.h"
#include "vec.h"

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static int
write_handler(void *data, unsigned char *buffer, size_t size)
{
	struct out *o = data;

	if (vec_reserve(&o->buf, &o->cap, o->len, o->len + size + 1, 1, NULL) != SVC_OK) {
		o->failed = true;
		return 0;
	}
	memcpy(o->buf + o->len, buffer, size);
	o->len += size;
	o->buf[o->len] = '\0';
	return 1;
}

static bool
emit(yaml_emitter_t *e, yaml_event_t *ev)
{
	return yaml_emitter_emit(e, ev) != 0;
}

static bool
emit_scalar(yaml_emitter_t *e, const char *s, bool quote_if_typed)
{
	yaml_event_t ev;
	yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;

	if (quote_if_typed && schema_plain_is_typed(s))
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s),
	                             style != YAML_DOUBLE_QUOTED_SCALAR_STYLE, 1, style);
	return emit(e, &ev);
}

static bool
emit_str(yaml_emitter_t *e, const char *s)
{
	return emit_scalar(e, s, true);
}

static bool
emit_int(yaml_emitter_t *e, long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%ld", v);
	return emit_scalar(e, buf, false);
}

static bool
map_start(yaml_emitter_t *e)
{
	yaml_event_t ev;

	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	return emit(e, &ev);
}

static bool
map_end(yaml_emitter_t *e)
{
	yaml_event_t ev;

	yaml_mapping_end_event_initialize(&ev);
	return emit(e, &ev);
}

static bool
seq_start(yaml_emitter_t *e)
{
	yaml_event_t ev;

	yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
	return emit(e, &ev);
}

static bool
seq_end(yaml_emitter_t *e)
{
	yaml_event_t ev;

	yaml_sequence_end_event_initialize(&ev);
	return emit(e, &ev);
}

static bool obj_empty(const struct schema_obj *so, const void *p);

/* Whether field F of the struct at P would write nothing. */
static bool
field_empty(const struct schema_field *f, const void *p)
{
	const char *at = (const char *)p + f->offset;

	switch (f->type) {
	case SCHEMA_STR:
		return *(const char *const *)at == NULL;
	case SCHEMA_INT:
		return *(const int32_t *)at == 0;
	case SCHEMA_BOOL:
		return !*(const bool *)at && !(f->flags & SCHEMA_EMIT_FALSE);
	case SCHEMA_TRIBOOL:
		return *(const enum cluster_tribool *)at == CLUSTER_NIL;
	case SCHEMA_ENUM:
		/* A SEEN enum has no value until it is given or defaulted. */
		if ((f->flags & SCHEMA_SEEN) && !*(const bool *)((const char *)p + f->offset2))
			return true;
		return f->names[*(const int *)at] == NULL;
	case SCHEMA_INTORSTR:
		return *(const int32_t *)at == 0 &&
		       *(const char *const *)((const char *)p + f->offset2) == NULL;
	case SCHEMA_STRLIST:
	case SCHEMA_LIST:
		return *(const size_t *)((const char *)p + f->offset2) == 0;
	case SCHEMA_LABELS:
		return ((const struct cluster_labels *)at)->n == 0;
	case SCHEMA_OBJ:
		return !(f->flags & SCHEMA_EMIT_EMPTY) && obj_empty(f->sub, at);
	case SCHEMA_OBJPTR:
		return *(void *const *)at == NULL || obj_empty(f->sub, *(void *const *)at);
	case SCHEMA_IGNORE:
	case SCHEMA_UNSUPPORTED:
		return true;
	}
	return true;
}

static bool
obj_empty(const struct schema_obj *so, const void *p)
{
	size_t i;

	for (i = 0; i < so->n_fields; i++)
		if (!field_empty(&so->fields[i], p))
			return false;
	return true;
}

static bool emit_obj(yaml_emitter_t *e, const struct schema_obj *so, const void *p,
                     const struct schema_kind *top);

static bool
emit_field(yaml_emitter_t *e, const struct schema_field *f, const void *p)
{
	const char *at = (const char *)p + f->offset;
	size_t i, n;

	switch (f->type) {
	case SCHEMA_STR:
		return emit_str(e, *(const char *const *)at);
	case SCHEMA_INT:
		return emit_int(e, *(const int32_t *)at);
	case SCHEMA_BOOL:
		return emit_scalar(e, *(const bool *)at ? "true" : "false", false);
	case SCHEMA_TRIBOOL:
		return emit_scalar(
		        e, *(const enum cluster_tribool *)at == CLUSTER_TRUE ? "true" : "false",
		        false);
	case SCHEMA_ENUM:
		return emit_str(e, f->names[*(const int *)at]);
	case SCHEMA_INTORSTR: {
		const char *name = *(const char *const *)((const char *)p + f->offset2);

		return name ? emit_str(e, name) : emit_int(e, *(const int32_t *)at);
	}
	case SCHEMA_STRLIST: {
		const char *const *arr = *(const char *const *const *)at;

		n = *(const size_t *)((const char *)p + f->offset2);
		if (!seq_start(e))
			return false;
		for (i = 0; i < n; i++)
			if (!emit_str(e, arr[i]))
				return false;
		return seq_end(e);
	}
	case SCHEMA_LABELS: {
		const struct cluster_labels *l = (const struct cluster_labels *)at;

		if (!map_start(e))
			return false;
		for (i = 0; i < l->n; i++)
			if (!emit_str(e, l->items[i].key) || !emit_str(e, l->items[i].value))
				return false;
		return map_end(e);
	}
	case SCHEMA_OBJ:
		return emit_obj(e, f->sub, at, NULL);
	case SCHEMA_OBJPTR:
		return emit_obj(e, f->sub, *(void *const *)at, NULL);
	case SCHEMA_LIST: {
		const char *arr = *(const char *const *)at;

		n = *(const size_t *)((const char *)p + f->offset2);
		if (!seq_start(e))
			return false;
		for (i = 0; i < n; i++)
			if (!emit_obj(e, f->sub, arr + i * f->sub->size, NULL))
				return false;
		return seq_end(e);
	}
	case SCHEMA_IGNORE:
	case SCHEMA_UNSUPPORTED:
		break;
	}
	return true;
}

/* TOP is set for a whole document: its apiVersion and kind rows write the kind's names. */
static bool
emit_obj(yaml_emitter_t *e, const struct schema_obj *so, const void *p,
         const struct schema_kind *top)
{
	size_t i;

	if (!map_start(e))
		return false;
	for (i = 0; i < so->n_fields; i++) {
		const struct schema_field *f = &so->fields[i];

		if (top != NULL && !strcmp(f->key, "apiVersion")) {
			if (!emit_str(e, "apiVersion") || !emit_str(e, top->api_version))
				return false;
			continue;
		}
		if (top != NULL && !strcmp(f->key, "kind")) {
			if (!emit_str(e, "kind") || !emit_str(e, top->kind))
				return false;
			continue;
		}
		if (field_empty(f, p))
			continue;
		if (!emit_str(e, f->key) || !emit_field(e, f, p))
			return false;
	}
	return map_end(e);
}

static bool
emit_item(yaml_emitter_t *e, const struct cluster_yaml_item *it)
{
	const struct schema_kind *sk = &schema_kinds[it->kind];

	return emit_obj(e, sk->doc, it->obj, sk);
}

static bool
doc_start(yaml_emitter_t *e, bool implicit)
{
	yaml_event_t ev;

	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, implicit);
	return emit(e, &ev);
}

static bool
doc_end(yaml_emitter_t *e)
{
	yaml_event_t ev;

	yaml_document_end_event_initialize(&ev, 1);
	return emit(e, &ev);
}

enum svc_status
cluster_yaml_dump(const struct cluster_yaml_item *items, size_t n, bool as_list, char **out,
                  size_t *len)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	struct out o = {0};
	bool ok = true;
	size_t i;

	*out = NULL;
	*len = 0;
	if (!yaml_emitter_initialize(&e))
		return SVC_ENOMEM;
	yaml_emitter_set_output(&e, write_handler, &o);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1);
	yaml_emitter_set_indent(&e, 2);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = emit(&e, &ev);
	if (as_list) {
		ok = ok && doc_start(&e, 1) && map_start(&e) && emit_str(&e, "apiVersion") &&
		     emit_str(&e, "v1") && emit_str(&e, "items") && seq_start(&e);
		for (i = 0; ok && i < n; i++)
			ok = emit_item(&e, &items[i]);
		ok = ok && seq_end(&e) && emit_str(&e, "kind") && emit_str(&e, "List") &&
		     map_end(&e) && doc_end(&e);
	} else {
		for (i = 0; ok && i < n; i++)
			ok = doc_start(&e, i == 0) && emit_item(&e, &items[i]) && doc_end(&e);
	}
	if (ok) {
		yaml_stream_end_event_initialize(&ev);
		ok = emit(&e, &ev) && yaml_emitter_flush(&e);
	}
	yaml_emitter_delete(&e);
	if (!ok || o.failed) {
		free(o.buf);
		return SVC_ENOMEM;
	}
	if (o.buf == NULL) {
		o.buf = calloc(1, 1);
		if (o.buf == NULL)
			return SVC_ENOMEM;
	}
	*out = o.buf;
	*len = o.len;
	return SVC_OK;
}
