/* cluster.h -- the cluster model: an immutable snapshot of services, pods and endpoints built
 * from Kubernetes-style manifests, shared by svcctl, svcdns and svcfwd. */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/stat.h>

#include "arena.h"
#include "diag.h"
#include "htab.h"
#include "netaddr.h"
#include "svc_status.h"

#define CLUSTER_NODE_PORT_MIN            30000
#define CLUSTER_NODE_PORT_MAX            32767
#define CLUSTER_AFFINITY_TIMEOUT_DEFAULT 10800
#define CLUSTER_AFFINITY_TIMEOUT_MAX     86400

enum cluster_kind {
	CLUSTER_KIND_SERVICE,
	CLUSTER_KIND_POD,
	CLUSTER_KIND_ENDPOINTS,
	CLUSTER_KIND_ENDPOINTSLICE,
	CLUSTER_KIND_NAMESPACE,
	CLUSTER_KIND_NODE,
	CLUSTER_KIND_LEASE,
	CLUSTER_KIND_PODSTATUS,
	CLUSTER_KIND_COUNT,
};

enum cluster_proto {
	CLUSTER_TCP,
	CLUSTER_UDP,
	CLUSTER_SCTP,
};

enum cluster_svc_type {
	CLUSTER_SVC_CLUSTERIP,
	CLUSTER_SVC_NODEPORT,
	CLUSTER_SVC_LOADBALANCER,
	CLUSTER_SVC_EXTERNALNAME,
};

enum cluster_affinity {
	CLUSTER_AFFINITY_NONE,
	CLUSTER_AFFINITY_CLIENTIP,
};

enum cluster_policy {
	CLUSTER_POLICY_UNSET, /* not given; build sets the default where the type uses it */
	CLUSTER_POLICY_CLUSTER,
	CLUSTER_POLICY_LOCAL,
};

enum cluster_family_policy {
	CLUSTER_FAMILY_SINGLE,
	CLUSTER_FAMILY_PREFER_DUAL,
	CLUSTER_FAMILY_REQUIRE_DUAL,
};

enum cluster_pod_phase {
	CLUSTER_POD_UNSET, /* no status.phase given: treated as Running */
	CLUSTER_POD_PENDING,
	CLUSTER_POD_RUNNING,
	CLUSTER_POD_SUCCEEDED,
	CLUSTER_POD_FAILED,
	CLUSTER_POD_UNKNOWN,
};

/* A nil-able boolean, as EndpointSlice conditions are. */
enum cluster_tribool {
	CLUSTER_NIL = 0,
	CLUSTER_FALSE,
	CLUSTER_TRUE,
};

/* Where an object came from, so svcctl can rewrite it in place. */
struct cluster_origin {
	const char *file;
	uint32_t line; /* line of the object's first key */
	/* Byte range of the YAML document holding it (a file has at most YTREE_MAX_BYTES). */
	uint32_t doc_start, doc_end;
	/* Bit fields: a struct kept per object, and 24 bytes where a bool beside would take 32. */
	uint32_t doc_index : 31; /* 0-based document number within the file */
	uint32_t in_list : 1;    /* an item of a kind: List document */
};

/* A source position (1-based; 0 when unknown), kept for the fields that objects of different
 * files can contest, where the source positions of everything else are gone. */
struct cluster_pos {
	uint32_t line, col;
};

struct cluster_label {
	const char *key;
	const char *value;
};

struct cluster_labels {
	struct cluster_label *items;
	size_t n;
};

struct cluster_meta {
	const char *name;
	const char *ns; /* "default" when not given; NULL for cluster-scoped kinds */
	struct cluster_labels labels;
	struct cluster_labels annotations;
	const char *created; /* creationTimestamp text (RFC 3339), NULL when absent */
	const char *deleted; /* deletionTimestamp text, NULL when not being deleted */
	/* metadata.resourceVersion: in etcd the key's mod_revision, set when read (the store owns
	 * it; svcctl compares it on apply). NULL when not known. */
	const char *resource_version;
	struct cluster_origin origin;
	/* In a store (store.h): the store generation since which this object has held its name
	 * and claims unchanged. The older holder of a contested claim keeps it. 0 elsewhere. */
	uint64_t since;
	struct cluster_pos name_pos;
	/* creationTimestamp in seconds since the epoch, 0 when unknown (or not in 1970-2106): 32
	 * bits, so a pod takes 272 bytes of an arena, not 288. */
	uint32_t created_unix;
	bool dropped; /* removed by the caller before build (svcctl apply/delete) */
};

/* Members ordered by size (here and in the other structs kept per object): no padding. */
struct cluster_port {
	const char *name;        /* NULL when unnamed */
	const char *target_name; /* named targetPort, resolved per pod, or NULL */
	const char *app_protocol;
	enum cluster_proto proto;
	int32_t port;
	int32_t target_port; /* number; 0 when target_name is used */
	int32_t node_port;   /* 0: none */
	struct cluster_pos pos, node_port_pos;
	bool node_port_allocated; /* filled in by allocation, not by the manifest */
};

struct cluster_lb_ingress {
	const char *ip; /* text as given; parsed into ip_addr */
	const char *hostname;
	struct netaddr ip_addr;
};

struct cluster_endpoint {
	struct netaddr ip;
	bool ready;
	bool serving;
	bool terminating;
	const char *hostname;          /* DNS hostname of the endpoint, or NULL */
	const char *node_name;         /* NULL when unknown */
	const struct cluster_pod *pod; /* NULL for endpoints from Endpoints/EndpointSlice objects */
	/* One entry per service port: the endpoint's port number for it, 0 when it has none. */
	int32_t *ports;
};

/* The endpoints serving one service port: ready ones first, each group in address order. */
struct cluster_port_endpoints {
	const struct cluster_endpoint **items;
	size_t n;       /* all with a port number for this service port */
	size_t n_ready; /* items[0 .. n_ready) are ready */
};

struct cluster_service {
	struct cluster_meta meta;
	/* As written: "None" marks a headless service. */
	const char *cluster_ip_text;
	const char **cluster_ips_text;
	size_t n_cluster_ips_text;
	const char **ip_families_text;
	size_t n_ip_families_text;
	size_t n_cluster_ips;
	struct cluster_port *ports;
	size_t n_ports;
	struct cluster_labels selector;
	const char *external_name;
	const char **external_ips_text;
	size_t n_external_ips_text;
	struct netaddr *external_ips;
	const char *load_balancer_ip_text;
	struct cluster_lb_ingress *ingress;
	size_t n_ingress;
	/* spec.loadBalancerSourceRanges: as written, and parsed (host bits cleared, as the API
	 * server's sloppy CIDR parser reads them). Only type LoadBalancer may have them. */
	const char **lb_source_ranges_text;
	size_t n_lb_source_ranges_text;
	struct netaddr_prefix *lb_source_ranges;
	size_t n_lb_source_ranges;

	/* Derived at build, for type LoadBalancer only: the addresses the load balancer answers
	 * on. The ingress IPs of the status when there are any (hostname-only entries have none),
	 * else spec.loadBalancerIP, else one per family of the service's clusterIPs allocated from
	 * the configured --lb-pool (lb_ip_allocated). None while pending. */
	struct netaddr *lb_ips;
	size_t n_lb_ips;

	/* Derived at build: endpoints sorted by address, ready ones included or not per flag. */
	struct cluster_endpoint *endpoints;
	size_t n_endpoints;
	struct cluster_port_endpoints *port_endpoints; /* one per service port */

	enum cluster_svc_type type;
	enum cluster_family_policy family_policy;
	enum cluster_affinity affinity;
	int32_t affinity_timeout; /* seconds; defaulted to 10800 for ClientIP */
	enum cluster_policy external_policy;
	enum cluster_policy internal_policy;
	/* spec.healthCheckNodePort: only for type LoadBalancer with externalTrafficPolicy Local,
	 * where build allocates one from the node-port range when not given. 0: none. */
	int32_t health_check_node_port;
	/* Where the contestable claims were written (spec.clusterIP or clusterIPs[i], the
	 * healthCheckNodePort), for reports of conflicts between files. */
	struct cluster_pos cluster_ip_pos[2];
	struct cluster_pos health_check_node_port_pos;
	/* Where allocation's reports point (spec.type, spec.externalTrafficPolicy). */
	struct cluster_pos type_pos, external_policy_pos;
	struct netaddr cluster_ips[2];   /* resolved or allocated; [0] is primary */
	struct netaddr load_balancer_ip; /* family NETADDR_NONE when unset */
	bool family_policy_set;
	bool headless;
	bool cluster_ip_allocated;
	bool has_selector; /* a non-empty selector: endpoints come from pods */
	bool publish_not_ready;
	bool health_check_node_port_allocated;
	bool lb_ip_allocated;
	bool has_endpoints_object; /* an Endpoints object exists (controller-made or user-made) */
};

struct cluster_container_port {
	const char *name;
	enum cluster_proto proto;
	int32_t port;
	const char *host_ip;
	int32_t host_port;
};

struct cluster_probe_header {
	const char *name;
	const char *value;
};

/* A probe's target port: a number, or the name of one of its container's ports. */
struct cluster_probe_http {
	const char *host;
	struct cluster_probe_header *headers;
	size_t n_headers;
	const char *path;
	const char *port_name;
	const char *scheme; /* HTTP (default) or HTTPS (not run) */
	int32_t port;
};

struct cluster_probe_tcp {
	const char *host;
	const char *port_name;
	int32_t port;
};

/* A container's readinessProbe (0 where a number is not given: the kubelet's default). */
struct cluster_probe {
	struct cluster_probe_http *http;
	struct cluster_probe_tcp *tcp;
	int32_t initial_delay_s, period_s, timeout_s, success_threshold, failure_threshold;
};

struct cluster_container {
	const char *name;
	const char *image;
	const char *restart_policy; /* init containers: "Always" marks a sidecar */
	struct cluster_container_port *ports;
	size_t n_ports;
	struct cluster_probe *readiness; /* NULL: none */
};

struct cluster_ip_entry {
	const char *ip;
};

struct cluster_condition {
	const char *type;
	const char *status;
};

struct cluster_pod {
	struct cluster_meta meta;
	const char *node_name;
	const char *hostname;
	const char *subdomain;
	struct cluster_container *containers;
	size_t n_containers;
	struct cluster_container *init_containers;
	size_t n_init_containers;
	const char *pod_ip_text;
	struct cluster_ip_entry *pod_ips_text;
	size_t n_pod_ips_text;
	const char *host_ip;
	struct cluster_condition *conditions;
	size_t n_conditions;
	struct netaddr ips[2]; /* derived, as n_ips and ready */
	uint8_t n_ips;
	bool host_network;
	bool ready;
	enum cluster_pod_phase phase;
};

struct cluster_ep_target {
	const char *kind;
	const char *name;
	const char *ns;
};

/* One address of a v1 Endpoints subset. */
struct cluster_ep_address {
	const char *ip;
	const char *hostname;
	const char *node_name;
	struct cluster_ep_target *target;
};

struct cluster_ep_port {
	const char *name;
	enum cluster_proto proto;
	int32_t port;
	const char *app_protocol;
};

struct cluster_ep_subset {
	struct cluster_ep_address *addresses;
	size_t n_addresses;
	struct cluster_ep_address *not_ready;
	size_t n_not_ready;
	struct cluster_ep_port *ports;
	size_t n_ports;
};

struct cluster_endpoints {
	struct cluster_meta meta;
	struct cluster_ep_subset *subsets;
	size_t n_subsets;
	bool generated; /* made by build for a service with a selector, not loaded */
};

struct cluster_slice_conditions {
	enum cluster_tribool ready; /* nil means ready */
	enum cluster_tribool serving;
	enum cluster_tribool terminating;
};

/* A discovery.k8s.io/v1 EndpointSlice endpoint. */
struct cluster_slice_endpoint {
	const char **addresses;
	size_t n_addresses;
	struct cluster_slice_conditions conditions;
	const char *hostname;
	const char *node_name;
	const char *zone;
	struct cluster_ep_target *target;
};

struct cluster_endpointslice {
	struct cluster_meta meta;
	const char *address_type; /* IPv4, IPv6 or FQDN */
	struct cluster_slice_endpoint *endpoints;
	size_t n_endpoints;
	struct cluster_ep_port *ports;
	size_t n_ports;
};

struct cluster_namespace {
	struct cluster_meta meta;
	const char *phase;
};

struct cluster_node_address {
	const char *type; /* InternalIP, ExternalIP, Hostname, ... */
	const char *address;
};

/* A node: registered by its svcfwd (in etcd) or written as a manifest. */
struct cluster_node {
	struct cluster_meta meta;
	struct cluster_node_address *addresses;
	size_t n_addresses;
	struct cluster_condition *conditions;
	size_t n_conditions;
	const char *kubelet_version; /* status.nodeInfo.kubeletVersion: the svcfwd version */
	const char *pod_cidr;
	/* Derived: its Ready condition is not False or Unknown (none: ready, as a manifest without
	 * a status means it). Whether its lease is alive is the snapshot's (cluster_node_ready). */
	bool ready;
	bool unschedulable;
};

/* A condition as a prober reports it. */
struct cluster_status_condition {
	const char *type;
	const char *status;
	const char *last_transition; /* RFC 3339 */
	const char *reason;
	const char *message;
};

/* What a node's svcfwd found probing a pod of its node (svcdns.io/v1 PodStatus, named after
 * the pod): its Ready condition overrides the pod's own. Apart from the pod, so a probe never
 * changes the pod's revision nor conflicts with a user's apply. */
struct cluster_podstatus {
	struct cluster_meta meta;
	struct cluster_status_condition *conditions;
	size_t n_conditions;
	const char *node_name; /* the node whose svcfwd wrote it */
	/* Derived: -1 no Ready condition (the pod's own holds), 0 not ready, 1 ready. */
	int8_t ready;
};

/* A node's heartbeat (coordination.k8s.io/v1 Lease, named after its node): in etcd, a key bound
 * to an etcd lease that its svcfwd keeps alive, gone when it lapses. */
struct cluster_lease {
	struct cluster_meta meta;
	const char *holder;
	int32_t duration_s;
};

/* The objects of any kind start with their meta, so generic code can take a meta pointer. */

/* Settings every program shares. */
struct cluster_config {
	struct netaddr_prefix service_cidrs[2]; /* [0] is the primary family */
	size_t n_service_cidrs;
	int32_t node_port_min, node_port_max;
	/* Load-balancer address pools, at most one per family; none by default (LoadBalancer
	 * services without an address stay pending). */
	struct netaddr_prefix lb_pools[2];
	size_t n_lb_pools;
	/* Leave out the Endpoints objects the controller would write for services with a selector
	 * (the view svcctl prints; loaded Endpoints objects stay): the daemons never read them,
	 * and they cost about 130 bytes an endpoint. */
	bool skip_endpoints_view;
	/* Services must carry what allocation gives them (clusterIP, nodePorts where their type
	 * needs them, healthCheckNodePort, a pool's load-balancer IP): in etcd svcctl allocates
	 * and claims them, and a node that allocated on its own could disagree with the rest. */
	bool require_allocated;
	/* Nodes keep leases (etcd): a node without its Lease is down, as Kubernetes' node
	 * lifecycle controller takes a node whose lease was not renewed. */
	bool node_leases;
};

struct posmap;

/* Objects as loaded, before validation, allocation and endpoint computation. The caller may add,
 * drop (meta.dropped) or edit objects before cluster_build. */
struct cluster_objects {
	struct arena arena;   /* object data; moved into the snapshot by cluster_build */
	struct arena scratch; /* source positions; freed with the objects */
	struct cluster_service **services;
	size_t n_services, cap_services;
	struct cluster_pod **pods;
	size_t n_pods, cap_pods;
	struct cluster_endpoints **endpoints;
	size_t n_endpoints, cap_endpoints;
	struct cluster_endpointslice **slices;
	size_t n_slices, cap_slices;
	struct cluster_namespace **namespaces;
	size_t n_namespaces, cap_namespaces;
	struct cluster_node **nodes;
	size_t n_nodes, cap_nodes;
	struct cluster_lease **leases;
	size_t n_leases, cap_leases;
	struct cluster_podstatus **podstatuses;
	size_t n_podstatuses, cap_podstatuses;
	struct posmap *positions;
	/* While loading: the strings decoded so far, so an equal one is shared, not copied again
	 * (a namespace, a label key, "Ready" on each pod). Entries live in scratch. */
	struct htab strings;
	size_t n_files;
};

/* Validated objects of one source unit (a manifest file), shared by the store that loaded them
 * and every snapshot built from them: never modified once shared. */
struct cluster_unit {
	int refs; /* atomic */
	struct cluster_objects objs;
};

struct cluster_unit *cluster_unit_ref(struct cluster_unit *u);
void cluster_unit_unref(struct cluster_unit *u);

struct cluster_index; /* hash tables of a snapshot */

/* The objects of one namespace in a snapshot and what is derived from them (service copies with
 * their allocation and endpoints, the Endpoints view). Consecutive snapshots share the shards of
 * namespaces where nothing changed. */
struct cluster_shard {
	int refs; /* atomic */
	const char *ns;
	struct arena arena;
	struct cluster_service **services; /* by name */
	size_t n_services;
	struct cluster_pod **pods;
	size_t n_pods;
	struct cluster_endpoints **endpoints; /* the view: controller-made and loaded ones */
	size_t n_endpoints;
	struct cluster_endpointslice **slices;
	size_t n_slices;
	struct cluster_podstatus **podstatuses; /* by name */
	size_t n_podstatuses;
	struct cluster_unit **units; /* whose objects it points at, a reference each */
	size_t n_units;
};

/* An immutable, reference-counted snapshot. Readers hold a reference; a reload builds a new one
 * and swaps the pointer, so no reader ever sees a half-built model. */
struct cluster {
	int refs; /* atomic */
	struct arena arena;
	struct cluster_config config;
	struct cluster_service **services; /* sorted by namespace, then name */
	size_t n_services;
	struct cluster_pod **pods; /* sorted by namespace, then name */
	size_t n_pods;
	struct cluster_endpoints **endpoints;
	size_t n_endpoints;
	struct cluster_endpointslice **slices;
	size_t n_slices;
	struct cluster_namespace **namespaces;
	size_t n_namespaces;
	struct cluster_node **nodes; /* by name */
	size_t n_nodes;
	struct cluster_lease **leases; /* by name */
	size_t n_leases;
	struct cluster_podstatus **podstatuses; /* sorted by namespace, then name */
	size_t n_podstatuses;
	/* The nodes that are down, by name: registered (a Node) and not ready, or without their
	 * lease where nodes keep leases. The pods on them are not ready. */
	const char **nodes_down;
	size_t n_nodes_down;
	const char *
	        *ns_names; /* every namespace that exists: declared or holding an object; sorted */
	size_t n_ns_names;
	struct cluster_index *index; /* by address, port, namespace: made on first use */
	/* The units whose objects it uses (a snapshot made by a store). */
	struct cluster_unit **units;
	size_t n_units;
	/* By namespace; the arrays above are their concatenation. */
	struct cluster_shard **shards;
	size_t n_shards;
	uint64_t generation; /* set by the caller (watcher); 0 for a one-off load */
	int64_t revision;    /* the store revision it holds (etcd's watcher); 0 from a directory */
	size_t units_in_error; /* source units (a file's chunks) whose last version is invalid */
	size_t files_in_error; /* files with such a unit: set by the directory source's watcher */
};

/* Defaults: service CIDR 10.96.0.0/12, node ports 30000-32767. */
void cluster_config_init(struct cluster_config *cfg);
/* Parse a comma-separated list of one or two CIDRs (one per family) into CFG. */
enum svc_status cluster_config_set_cidrs(struct cluster_config *cfg, const char *list);
/* Parse a comma-separated list of one or two load-balancer pools (one per family) into CFG;
 * an empty list clears them. SVC_EINVAL for bad text, CFG unchanged. IPv4 pools of 4 or more
 * addresses skip their network and broadcast addresses, IPv6 pools of 2 or more their first
 * address; only the first 2^24 addresses of a larger pool are used. */
enum svc_status cluster_config_set_lb_pools(struct cluster_config *cfg, const char *list);

void cluster_objects_init(struct cluster_objects *objs);
void cluster_objects_deinit(struct cluster_objects *objs);
/* Load every *.yaml and *.yml regular file under DIR (recursively, in name order; links
 * followed, each directory and file read once: cluster/mtree.h). Problems go to D; the return is
 * SVC_OK unless DIR itself cannot be read (SVC_EIO), there are too many files (SVC_ELIMIT) or
 * memory runs out. */
enum svc_status cluster_objects_load_dir(struct cluster_objects *objs, const char *dir,
                                         struct diag *d);
/* Load manifests from memory; NAME is used in diagnostics and origins. */
enum svc_status cluster_objects_load_buffer(struct cluster_objects *objs, const char *name,
                                            const char *buf, size_t len, struct diag *d);
/* As cluster_objects_load_buffer for a part of file NAME that starts at line FIRST_LINE + 1:
 * lines are the file's, byte offsets the part's. */
enum svc_status cluster_objects_load_part(struct cluster_objects *objs, const char *name,
                                          const char *buf, size_t len, uint32_t first_line,
                                          struct diag *d);
/* Load the regular file open on FD (ST its fstat), named PATH in diagnostics and origins. */
enum svc_status cluster_objects_load_fd(struct cluster_objects *objs, const char *path, int fd,
                                        const struct stat *st, struct diag *d);
/* The objects of kind K (each starts with its meta): *N of them. */
struct cluster_meta **cluster_objects_of(const struct cluster_objects *o, enum cluster_kind k,
                                         size_t *n);
/* Drop source positions (after validation: only the checks read them). */
void cluster_objects_forget_positions(struct cluster_objects *objs);
/* The objects are complete (validated, positions gone): copy their arena into one block of the
 * size it holds and move every pointer into it, so objects kept for long (a store's) cost what
 * they hold, not the free room of the blocks they were parsed into. Checked: when a word of the
 * copy still points into the old blocks (a pointer this does not know of), the copy is dropped
 * and the objects stay as they were (false). Pointers to the objects held elsewhere go stale. */
bool cluster_objects_compact(struct cluster_objects *objs);
/* Add to OBJS a deep copy of SRC (an object of kind K, validated, held by other objects): its
 * strings shared with OBJS's equal ones, what validation derived kept, what a build derives
 * left out. The copy keeps SRC's store stamp (since). */
enum svc_status cluster_objects_copy(struct cluster_objects *objs, enum cluster_kind k,
                                     const struct cluster_meta *src);
/* Load one file: a regular file, opened without blocking (a FIFO is an error, not a wait). */
enum svc_status cluster_objects_load_file(struct cluster_objects *objs, const char *path,
                                          struct diag *d);
/* Source position of a decoded field (any field address inside a loaded object), or of the
 * object holding it. Returns false when unknown. */
bool cluster_objects_pos(const struct cluster_objects *objs, const void *field, uint32_t *line,
                         uint32_t *col);
/* Source position of the mapping an object (or sub-object, such as a port) was decoded from. An
 * object and its first field share an address, so this is a lookup of its own. */
bool cluster_objects_object_pos(const struct cluster_objects *objs, const void *obj, uint32_t *line,
                                uint32_t *col);
/* Whether FIELD was given in the manifest (as opposed to left zero). */
bool cluster_objects_has(const struct cluster_objects *objs, const void *field);

/* Validate, allocate addresses and ports, compute endpoints and index. When this call reports an
 * error to D the result is SVC_EINVAL and *OUT is NULL (errors already in D from loading do not
 * count: cluster_load checks those). OBJS keeps its positions for the caller's reports; its
 * object data now belongs to the snapshot (OBJS must not be built twice). */
enum svc_status cluster_build(struct cluster_objects *objs, const struct cluster_config *cfg,
                              struct diag *d, struct cluster **out);

/* Load DIR as a daemon starts from it (store.h): each file is valid on its own or left out, a
 * contested name or claim goes to the older object. *OUT is what serves (NULL only when DIR
 * cannot be read or memory runs out); the result is SVC_EINVAL when anything was reported as
 * an error, so a check fails while the rest still serves. */
enum svc_status cluster_load(const char *dir, const struct cluster_config *cfg, struct diag *d,
                             struct cluster **out);
/* As cluster_load, with the PodStatus files node probers write in STATUS_DIR (NULL, or a
 * directory not there: none). */
enum svc_status cluster_load_status(const char *dir, const char *status_dir,
                                    const struct cluster_config *cfg, struct diag *d,
                                    struct cluster **out);

/* The namespaces whose objects or derived state differ between snapshots OLD (NULL: none) and
 * NEW: FN gets each namespace whose shard came, went or was rebuilt, in namespace order. A
 * consumer that keeps its own state per namespace patches only those. */
void cluster_diff_shards(const struct cluster *old, const struct cluster *new,
                         void (*fn)(void *arg, const char *ns), void *arg);

struct cluster *cluster_ref(struct cluster *c);
void cluster_unref(struct cluster *c);

/* Lookups: by name a binary search, the others O(1) expected. Names compare exactly (Kubernetes
 * names are lower case). */
const struct cluster_service *cluster_service_by_name(const struct cluster *c, const char *ns,
                                                      const char *name);
/* By ClusterIP (either family). */
const struct cluster_service *cluster_service_by_ip(const struct cluster *c,
                                                    const struct netaddr *ip);
/* By nodePort and protocol; *PORT_INDEX gets the index into the service's ports. */
const struct cluster_service *cluster_service_by_node_port(const struct cluster *c,
                                                           enum cluster_proto proto,
                                                           int32_t node_port, size_t *port_index);
const struct cluster_pod *cluster_pod_by_ip(const struct cluster *c, const struct netaddr *ip);
const struct cluster_pod *cluster_pod_by_name(const struct cluster *c, const char *ns,
                                              const char *name);
bool cluster_namespace_exists(const struct cluster *c, const char *ns);
/* Whether node NAME is down in C (cluster.nodes_down). */
bool cluster_node_down(const struct cluster *c, const char *name);
/* The PodStatus of pod P in C (what its node's prober found), or NULL. */
const struct cluster_podstatus *cluster_podstatus_of(const struct cluster *c,
                                                     const struct cluster_pod *p);
/* Pod P as the endpoints controller sees it: its Ready condition (or its probes', from its
 * PodStatus), and its node not down. */
bool cluster_pod_ready(const struct cluster *c, const struct cluster_pod *p);
/* Node N as `kubectl get nodes` shows it: Ready, its lease alive where nodes keep leases. */
bool cluster_node_ready(const struct cluster *c, const struct cluster_node *n);
/* Index of the service port named NAME with protocol PROTO, or -1. */
int cluster_service_port_index(const struct cluster_service *svc, const char *name,
                               enum cluster_proto proto);

/* Endpoints of SVC serving its port PORT_INDEX: *N gets how many; only ready ones when
 * READY_ONLY (else ready ones first, then not-ready). NULL with *N = 0 when there are none. */
const struct cluster_endpoint *const *cluster_endpoints_of(const struct cluster_service *svc,
                                                           size_t port_index, bool ready_only,
                                                           size_t *n);
/* How many of SVC's endpoints serve port PORT_INDEX (ready ones only, or any). */
size_t cluster_endpoint_count(const struct cluster_service *svc, size_t port_index,
                              bool ready_only);

const char *cluster_proto_str(enum cluster_proto p);
const char *cluster_svc_type_str(enum cluster_svc_type t);
const char *cluster_kind_str(enum cluster_kind k);
/* Whether objects of kind K live in a namespace (Namespace, Node and Lease do not). */
bool cluster_kind_namespaced(enum cluster_kind k);

#endif
