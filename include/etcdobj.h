/* etcdobj.h -- how the cluster lives in etcd, for every program alike: the key of each object
 * ("<prefix>/<resource>/<namespace>/<name>", "<prefix>/namespaces/<name>"), its value (the
 * object as `svcctl get -o yaml` prints it, without what the store owns; JSON is YAML too), the
 * claims svcctl writes beside a service ("<prefix>/claims/<what>/<value>") and the cluster-wide
 * settings ("<prefix>/config"). */
#ifndef ETCDOBJ_H
#define ETCDOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "diag.h"
#include "svc_status.h"

#define ETCDOBJ_PREFIX_DEFAULT "/svcdns"
#define ETCDOBJ_KEY_MAX        1024
/* A value larger than this is reported, not parsed (etcd's own request limit is 1.5 MiB). */
#define ETCDOBJ_VALUE_MAX (2u << 20)

/* "services", "pods", "endpoints", "endpointslices", "namespaces". */
const char *etcdobj_resource(enum cluster_kind k);

/* The key of an object into BUF (ETCDOBJ_KEY_MAX); NS is ignored for namespaces. False when it
 * does not fit. */
bool etcdobj_key(const char *prefix, enum cluster_kind k, const char *ns, const char *name,
                 char *buf);
/* The key prefix of the objects of KIND (-1: every object; with NS: that namespace's only)
 * into BUF (ETCDOBJ_KEY_MAX). False when it does not fit. */
bool etcdobj_range(const char *prefix, int kind, const char *ns, char *buf);

enum etcdobj_key_type {
	ETCDOBJ_OBJECT,  /* an object's key: *KIND, NS and NAME are filled */
	ETCDOBJ_CONFIG,  /* <prefix>/config */
	ETCDOBJ_CLAIM,   /* <prefix>/claims/... */
	ETCDOBJ_HOLDER,  /* <prefix>/lbholders/<ip>: the node holding a LoadBalancer address */
	ETCDOBJ_UNKNOWN, /* under the prefix, but none of ours (reported by the caller) */
	ETCDOBJ_OUTSIDE, /* not under the prefix */
};

/* What KEY (LEN bytes) is. NS and NAME (each ETCDOBJ_KEY_MAX) get the key's parts. */
enum etcdobj_key_type etcdobj_key_parse(const char *prefix, const char *key, size_t len,
                                        enum cluster_kind *kind, char *ns, char *name);

/* The value VALUE (LEN bytes) of object key KEY into OBJS: one object whose kind, namespace and
 * name are the key's. Problems go to D with KEY as the file. With REVISION > 0 the object's
 * resourceVersion is set to it. SVC_EINVAL when invalid (OBJS then holds what was read). */
enum svc_status etcdobj_decode(const char *prefix, const char *key, const uint8_t *value,
                               size_t len, int64_t revision, struct cluster_objects *objs,
                               struct diag *d);

/* ---- claims ---- */

enum etcdobj_claim {
	ETCDOBJ_CLAIM_CLUSTER_IP, /* claims/clusterips/<ip> */
	ETCDOBJ_CLAIM_NODE_PORT,  /* claims/nodeports/<port>: nodePorts and healthCheckNodePorts */
	ETCDOBJ_CLAIM_LB_IP,      /* claims/lbips/<ip> */
};

/* The claims of built service S: the key of each (KEYS, an array of N * ETCDOBJ_KEY_MAX) and
 * *N. At most ETCDOBJ_MAX_CLAIMS. */
#define ETCDOBJ_MAX_CLAIMS 64
void etcdobj_claims(const char *prefix, const struct cluster_service *s,
                    char (*keys)[ETCDOBJ_KEY_MAX], size_t *n);
/* The value of a claim held by the service NS/NAME: "services/<ns>/<name>". */
bool etcdobj_claim_holder(const char *ns, const char *name, char *buf, size_t len);

/* ---- the cluster-wide settings ---- */

/* What <prefix>/config holds: a JSON object {"serviceCIDR", "loadBalancerPool", "nodePortRange",
 * "clusterDomain"} (the two CIDR lists comma-separated, as the flags take them). */
struct etcdobj_config {
	struct cluster_config cfg;
	char domain[256];
};

/* Parse VALUE (LEN bytes) into OUT; ERR gets why it is invalid (naming the field). */
enum svc_status etcdobj_config_parse(const uint8_t *value, size_t len, struct etcdobj_config *out,
                                     char *err, size_t errlen);
/* CFG as the value to store: a malloc'd NUL-terminated string, NULL when out of memory. */
char *etcdobj_config_dump(const struct etcdobj_config *cfg);
/* Where A (a program's flags) and B (the store's) disagree, in ERR: "serviceCIDR 10.0.0.0/16
 * (flag) != 10.96.0.0/12 (etcd)". What A leaves at its default (DEFAULT_DOMAIN for the domain,
 * cluster_config_init for the rest) never disagrees. False when they agree. */
bool etcdobj_config_differs(const struct etcdobj_config *a, const struct etcdobj_config *b,
                            char *err, size_t errlen);
/* Take what the store says where the flags left the default. */
void etcdobj_config_merge(struct etcdobj_config *flags, const struct etcdobj_config *store);

#endif
