/* build.h -- the stages that turn loaded objects into a snapshot: validate, allocate, endpoints. */
#ifndef BUILD_H
#define BUILD_H

#include "cluster.h"

/* Check every object as the API server would, report all problems to D, and fill the parsed and
 * defaulted fields (addresses, families, policies, target ports). */
void validate_objects(struct cluster_objects *objs, const struct cluster_config *cfg,
                      struct diag *d);

/* Check the settings themselves (a load-balancer pool overlapping a service CIDR). */
void validate_config(const struct cluster_config *cfg, struct diag *d);

/* Give every service without a clusterIP one from the service CIDR, every NodePort and
 * LoadBalancer port without a nodePort one from the node-port range, every LoadBalancer service
 * with externalTrafficPolicy Local a healthCheckNodePort, and fill each LoadBalancer service's
 * lb_ips (allocating from the configured pools when none is given). Deterministic: the result
 * depends only on the set of objects, never on load order. */
void alloc_objects(struct cluster_objects *objs, const struct cluster_config *cfg, struct diag *d);

/* Compute each service's endpoints from pods (selector) or from Endpoints/EndpointSlices, and the
 * Endpoints view svcctl prints. Results are allocated in ARENA. */
enum svc_status endpoints_compute(struct cluster *c, struct arena *arena, struct diag *d);

/* Allocate, index and compute endpoints for VIEW (validated objects sorted by namespace and name,
 * no name twice): its arena moves into the snapshot, which takes UNITS (a reference each, and the
 * malloc'd array). With STRICT any error reported fails the build; else problems are reported
 * and the rest serves. */
enum svc_status build_snapshot(struct cluster_objects *view, const struct cluster_config *cfg,
                               struct diag *d, bool strict, struct cluster_unit **units,
                               size_t n_units, struct cluster **out);

/* Report a problem at the source position of FIELD (or of OBJ when FIELD has none). */
void build_report(const struct cluster_objects *objs, struct diag *d, enum diag_level level,
                  const struct cluster_meta *meta, const void *field, const void *obj,
                  const char *path, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

#endif
