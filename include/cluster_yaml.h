/* cluster_yaml.h -- write cluster objects as YAML, in the shape `kubectl get -o yaml` prints. */
#ifndef CLUSTER_YAML_H
#define CLUSTER_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster.h"

struct cluster_yaml_item {
	enum cluster_kind kind;
	const void *obj; /* struct cluster_service, cluster_pod, ... */
};

/* Write N objects: one YAML document each, or one `kind: List` document when AS_LIST. *OUT is
 * a NUL-terminated malloc'd buffer the caller frees. */
enum svc_status cluster_yaml_dump(const struct cluster_yaml_item *items, size_t n, bool as_list,
                                  char **out, size_t *len);

#endif
