/* build.h -- the stages that turn loaded objects into a snapshot: validate, allocate, endpoints. */
#ifndef BUILD_H
#define BUILD_H

#include "cluster.h"

/* Check every object as the API server would, report all problems to D, and fill the parsed and
 * defaulted fields (addresses, families, policies, target ports). */
void validate_objects(struct cluster_objects *objs, const struct cluster_config *cfg,
                      struct diag *d);
/* As validate_objects, for the objects of each kind K from FROM[K] on (added to objects
 * validated before): they are checked alone and against each other, not against the rest. */
void validate_objects_from(struct cluster_objects *objs, const struct cluster_config *cfg,
                           struct diag *d, const size_t from[CLUSTER_KIND_COUNT]);

/* After arena_compact of the arena holding object M of kind K (or the copies and derived data
 * of a snapshot's shard): move every pointer in M and what it owns, the schema's fields and
 * what loading, validation, allocation and the endpoints controller add. Pointers elsewhere
 * are left as they are, and unwritten. */
void objects_relocate(enum cluster_kind k, struct cluster_meta *m, const struct arena_moved *mv);

/* Check the settings themselves (a load-balancer pool overlapping a service CIDR). */
void validate_config(const struct cluster_config *cfg, struct diag *d);

/* Give every service without a clusterIP one from the service CIDR, every NodePort and
 * LoadBalancer port without a nodePort one from the node-port range, every LoadBalancer service
 * with externalTrafficPolicy Local a healthCheckNodePort, and fill each LoadBalancer service's
 * lb_ips (allocating from the configured pools when none is given). Deterministic: the result
 * depends only on the set of objects, never on load order. */
void alloc_objects(struct cluster_objects *objs, const struct cluster_config *cfg, struct diag *d);
/* What allocation wrote into SRC (addresses, ports, load-balancer IPs), into DST, a copy of the
 * same manifest whose ports array DST owns. DST shares SRC's load-balancer IPs. */
void alloc_copy_results(struct cluster_service *dst, const struct cluster_service *src);

/* Compute each service's endpoints from pods (selector) or from Endpoints/EndpointSlices, and the
 * Endpoints view svcctl prints. Results are allocated in ARENA. */
enum svc_status endpoints_compute(struct cluster *c, struct arena *arena, struct diag *d);

/* What a namespace's shard is built from: allocated services (copied into the shard), and
 * pods, loaded Endpoints and EndpointSlices of namespace NS; each list by name, no name twice. */
struct shard_input {
	const char *ns;
	const char *const *nodes_down; /* sorted: the pods on them are not ready */
	size_t n_nodes_down;
	struct cluster_service *const *services;
	size_t n_services;
	struct cluster_pod *const *pods;
	size_t n_pods;
	struct cluster_endpoints *const *endpoints;
	size_t n_endpoints;
	struct cluster_endpointslice *const *slices;
	size_t n_slices;
	struct cluster_podstatus *const *podstatuses;
	size_t n_podstatuses;
};

/* Build the shard for IN; it takes a reference to each of UNITS (those IN's objects live in). */
enum svc_status shard_build(const struct cluster_config *cfg, const struct shard_input *in,
                            struct cluster_unit *const *units, size_t n_units, struct diag *d,
                            struct cluster_shard **out);
struct cluster_shard *shard_ref(struct cluster_shard *sh);
void shard_unref(struct cluster_shard *sh);

/* The cluster-scoped objects of a snapshot, each list by name, no name twice. */
struct build_scoped {
	struct cluster_namespace *const *namespaces;
	size_t n_namespaces;
	struct cluster_node *const *nodes;
	size_t n_nodes;
	struct cluster_lease *const *leases;
	size_t n_leases;
};

/* The names of the nodes of IN that are down (cluster.nodes_down), sorted, into *OUT (malloc'd;
 * the names are the nodes'), *N of them. */
enum svc_status build_nodes_down(const struct cluster_config *cfg, const struct build_scoped *in,
                                 const char ***out, size_t *n);

/* A snapshot of SHARDS (in namespace order) and the cluster-scoped objects IN. It takes the
 * references and the malloc'd arrays SHARDS and UNITS (the units every object lives in), also
 * on failure. */
enum svc_status build_assemble(const struct cluster_config *cfg, struct cluster_shard **shards,
                               size_t n_shards, const struct build_scoped *in,
                               struct cluster_unit **units, size_t n_units, struct cluster **out);

/* Write allocated and defaulted values back into S's manifest fields (A: S's arena). */
enum svc_status build_fill_service(struct arena *a, struct cluster_service *s);

/* Report a problem at the source position of FIELD (or of OBJ when FIELD has none). */
void build_report(const struct cluster_objects *objs, struct diag *d, enum diag_level level,
                  const struct cluster_meta *meta, const void *field, const void *obj,
                  const char *path, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

#endif
