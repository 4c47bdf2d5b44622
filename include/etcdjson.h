/* etcdjson.h -- etcd's answers as JSON trees, each allocated from an arena of its own.
 *
 * A page of a list is a tree of some 100,000 jansson values: allocated and freed one by one,
 * they cost a large share of a daemon's start. Parsed here, a tree takes its memory in large
 * blocks and gives it back in one piece when its root's last reference goes. */
#ifndef ETCDJSON_H
#define ETCDJSON_H

#include <jansson.h>
#include <stddef.h>

/* As json_loadb(TEXT, LEN, 0, JE). On first use, jansson's allocator hooks are set for the
 * whole process: a tree must be freed on the thread that parsed it (as every caller here
 * does: one event loop owns its etcd client), and any other jansson value keeps malloc's. */
json_t *etcdjson_load(const char *text, size_t len, json_error_t *je);

#endif
