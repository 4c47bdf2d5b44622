/* schema.c -- the one table that describes every manifest field we read and write, and the
 * decoder that walks YAML trees with it. Rows are in kubectl's (alphabetical) key order so the
 * same table also writes objects the way `kubectl get -o yaml` prints them. */
#include "schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define OBJ(name, type, fields)                                                                    \
	{                                                                                          \
		name, sizeof(type), fields, N(fields)                                              \
	}
#define F_STR(k, t, m)                                                                             \
	{                                                                                          \
		k, SCHEMA_STR, offsetof(t, m), 0, NULL, NULL, 0, NULL                              \
	}
#define F_INT(k, t, m)                                                                             \
	{                                                                                          \
		k, SCHEMA_INT, offsetof(t, m), 0, NULL, NULL, 0, NULL                              \
	}
#define F_BOOL(k, t, m)                                                                            \
	{                                                                                          \
		k, SCHEMA_BOOL, offsetof(t, m), 0, NULL, NULL, 0, NULL                             \
	}
#define F_TRI(k, t, m)                                                                             \
	{                                                                                          \
		k, SCHEMA_TRIBOOL, offsetof(t, m), 0, NULL, NULL, 0, NULL                          \
	}
#define F_ENUM(k, t, m, names)                                                                     \
	{                                                                                          \
		k, SCHEMA_ENUM, offsetof(t, m), 0, NULL, names, 0, NULL                            \
	}
#define F_STRLIST(k, t, m, n)                                                                      \
	{                                                                                          \
		k, SCHEMA_STRLIST, offsetof(t, m), offsetof(t, n), NULL, NULL, 0, NULL             \
	}
#define F_LABELS(k, t, m)                                                                          \
	{                                                                                          \
		k, SCHEMA_LABELS, offsetof(t, m), 0, NULL, NULL, 0, NULL                           \
	}
#define F_OBJ(k, t, m, sub)                                                                        \
	{                                                                                          \
		k, SCHEMA_OBJ, offsetof(t, m), 0, &sub, NULL, 0, NULL                              \
	}
/* metadata: without it an object has no name, and is refused as such, not dropped unseen. */
#define F_META(t)                                                                                  \
	{                                                                                          \
		"metadata", SCHEMA_OBJ, offsetof(t, meta), 0, &meta_obj, NULL, SCHEMA_REQUIRED,    \
		        NULL                                                                       \
	}
#define F_OBJPTR(k, t, m, sub)                                                                     \
	{                                                                                          \
		k, SCHEMA_OBJPTR, offsetof(t, m), 0, &sub, NULL, 0, NULL                           \
	}
#define F_LIST(k, t, m, n, sub)                                                                    \
	{                                                                                          \
		k, SCHEMA_LIST, offsetof(t, m), offsetof(t, n), &sub, NULL, 0, NULL                \
	}
#define F_IGNORE(k)                                                                                \
	{                                                                                          \
		k, SCHEMA_IGNORE, 0, 0, NULL, NULL, 0, NULL                                        \
	}
#define F_UNSUP(k, why)                                                                            \
	{                                                                                          \
		k, SCHEMA_UNSUPPORTED, 0, 0, NULL, NULL, 0, why                                    \
	}

const char *const schema_proto_names[] = {"TCP", "UDP", "SCTP", NULL};
const char *const schema_svc_type_names[] = {"ClusterIP", "NodePort", "LoadBalancer",
                                             "ExternalName", NULL};
static const char *const affinity_names[] = {"None", "ClientIP", NULL};
static const char *const policy_names[] = {NULL, "Cluster", "Local", NULL};
static const char *const family_policy_names[] = {"SingleStack", "PreferDualStack",
                                                  "RequireDualStack", NULL};
static const char *const phase_names[] = {NULL,     "Pending", "Running", "Succeeded",
                                          "Failed", "Unknown", NULL};

/* ---- metadata, shared by every kind ---------------------------------------------------- */

static const struct schema_field meta_fields[] = {
        F_LABELS("annotations", struct cluster_meta, annotations),
        F_STR("creationTimestamp", struct cluster_meta, created),
        F_IGNORE("deletionGracePeriodSeconds"),
        F_STR("deletionTimestamp", struct cluster_meta, deleted),
        F_IGNORE("finalizers"),
        F_UNSUP("generateName", "names are not generated; set metadata.name"),
        F_IGNORE("generation"),
        F_LABELS("labels", struct cluster_meta, labels),
        F_IGNORE("managedFields"),
        {"name", SCHEMA_STR, offsetof(struct cluster_meta, name), 0, NULL, NULL, SCHEMA_REQUIRED,
         NULL},
        F_STR("namespace", struct cluster_meta, ns),
        F_IGNORE("ownerReferences"),
        F_STR("resourceVersion", struct cluster_meta, resource_version),
        F_IGNORE("selfLink"),
        F_IGNORE("uid"),
};
static const struct schema_obj meta_obj = OBJ("metadata", struct cluster_meta, meta_fields);

/* ---- Service ----------------------------------------------------------------------------- */

static const struct schema_field port_fields[] = {
        F_STR("appProtocol", struct cluster_port, app_protocol),
        F_STR("name", struct cluster_port, name),
        F_INT("nodePort", struct cluster_port, node_port),
        {"port", SCHEMA_INT, offsetof(struct cluster_port, port), 0, NULL, NULL, SCHEMA_REQUIRED,
         NULL},
        F_ENUM("protocol", struct cluster_port, proto, schema_proto_names),
        {"targetPort", SCHEMA_INTORSTR, offsetof(struct cluster_port, target_port),
         offsetof(struct cluster_port, target_name), NULL, NULL, 0, NULL},
};
static const struct schema_obj port_obj = OBJ("ServicePort", struct cluster_port, port_fields);

struct affinity_client_ip {
	int32_t timeout;
};
static const struct schema_field client_ip_fields[] = {
        F_INT("timeoutSeconds", struct affinity_client_ip, timeout),
};
static const struct schema_obj client_ip_obj =
        OBJ("ClientIPConfig", struct affinity_client_ip, client_ip_fields);
static const struct schema_field affinity_config_fields[] = {
        {"clientIP", SCHEMA_OBJ, 0, 0, &client_ip_obj, NULL, 0, NULL},
};
static const struct schema_obj affinity_config_obj =
        OBJ("SessionAffinityConfig", struct affinity_client_ip, affinity_config_fields);

static const struct schema_field service_spec_fields[] = {
        F_UNSUP("allocateLoadBalancerNodePorts", "node ports are always allocated"),
        F_STR("clusterIP", struct cluster_service, cluster_ip_text),
        F_STRLIST("clusterIPs", struct cluster_service, cluster_ips_text, n_cluster_ips_text),
        F_STRLIST("externalIPs", struct cluster_service, external_ips_text, n_external_ips_text),
        F_STR("externalName", struct cluster_service, external_name),
        F_ENUM("externalTrafficPolicy", struct cluster_service, external_policy, policy_names),
        F_INT("healthCheckNodePort", struct cluster_service, health_check_node_port),
        F_ENUM("internalTrafficPolicy", struct cluster_service, internal_policy, policy_names),
        F_STRLIST("ipFamilies", struct cluster_service, ip_families_text, n_ip_families_text),
        {"ipFamilyPolicy", SCHEMA_ENUM, offsetof(struct cluster_service, family_policy),
         offsetof(struct cluster_service, family_policy_set), NULL, family_policy_names,
         SCHEMA_SEEN, NULL},
        F_UNSUP("loadBalancerClass", "every LoadBalancer service is handled by svcfwd"),
        F_STR("loadBalancerIP", struct cluster_service, load_balancer_ip_text),
        F_STRLIST("loadBalancerSourceRanges", struct cluster_service, lb_source_ranges_text,
                  n_lb_source_ranges_text),
        F_LIST("ports", struct cluster_service, ports, n_ports, port_obj),
        {"publishNotReadyAddresses", SCHEMA_BOOL,
         offsetof(struct cluster_service, publish_not_ready), 0, NULL, NULL, 0, NULL},
        F_LABELS("selector", struct cluster_service, selector),
        F_ENUM("sessionAffinity", struct cluster_service, affinity, affinity_names),
        F_OBJ("sessionAffinityConfig", struct cluster_service, affinity_timeout,
              affinity_config_obj),
        F_UNSUP("trafficDistribution", "endpoints are not preferred by zone"),
        F_ENUM("type", struct cluster_service, type, schema_svc_type_names),
};
static const struct schema_obj service_spec_obj =
        OBJ("ServiceSpec", struct cluster_service, service_spec_fields);

static const struct schema_field ingress_fields[] = {
        F_STR("hostname", struct cluster_lb_ingress, hostname),
        F_STR("ip", struct cluster_lb_ingress, ip),
        F_IGNORE("ipMode"),
        F_IGNORE("ports"),
};
static const struct schema_obj ingress_obj =
        OBJ("LoadBalancerIngress", struct cluster_lb_ingress, ingress_fields);
static const struct schema_field lb_status_fields[] = {
        F_LIST("ingress", struct cluster_service, ingress, n_ingress, ingress_obj),
};
static const struct schema_obj lb_status_obj =
        OBJ("LoadBalancerStatus", struct cluster_service, lb_status_fields);
static const struct schema_field service_status_fields[] = {
        F_IGNORE("conditions"),
        /* kubectl shows status.loadBalancer of every service, {} when it has no ingress. */
        {"loadBalancer", SCHEMA_OBJ, 0, 0, &lb_status_obj, NULL, SCHEMA_EMIT_EMPTY, NULL},
};
static const struct schema_obj service_status_obj =
        OBJ("ServiceStatus", struct cluster_service, service_status_fields);

static const struct schema_field service_fields[] = {
        F_IGNORE("apiVersion"),
        F_IGNORE("kind"),
        F_META(struct cluster_service),
        {"spec", SCHEMA_OBJ, 0, 0, &service_spec_obj, NULL, 0, NULL},
        {"status", SCHEMA_OBJ, 0, 0, &service_status_obj, NULL, SCHEMA_EMIT_EMPTY, NULL},
};
static const struct schema_obj service_obj = OBJ("Service", struct cluster_service, service_fields);

/* ---- Pod --------------------------------------------------------------------------------- */

static const struct schema_field container_port_fields[] = {
        {"containerPort", SCHEMA_INT, offsetof(struct cluster_container_port, port), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
        F_STR("hostIP", struct cluster_container_port, host_ip),
        F_INT("hostPort", struct cluster_container_port, host_port),
        F_STR("name", struct cluster_container_port, name),
        F_ENUM("protocol", struct cluster_container_port, proto, schema_proto_names),
};
static const struct schema_obj container_port_obj =
        OBJ("ContainerPort", struct cluster_container_port, container_port_fields);

/* Container fields that describe how a process runs; none of them changes what a service
 * resolves to or where its traffic goes. */
#define CONTAINER_RUNTIME_FIELDS                                                                   \
	F_IGNORE("args"), F_IGNORE("command"), F_IGNORE("env"), F_IGNORE("envFrom"),               \
	        F_IGNORE("imagePullPolicy"), F_IGNORE("lifecycle"), F_IGNORE("resizePolicy"),      \
	        F_IGNORE("resources"), F_IGNORE("securityContext"), F_IGNORE("stdin"),             \
	        F_IGNORE("stdinOnce"), F_IGNORE("terminationMessagePath"),                         \
	        F_IGNORE("terminationMessagePolicy"), F_IGNORE("tty"), F_IGNORE("volumeDevices"),  \
	        F_IGNORE("volumeMounts"), F_IGNORE("workingDir")

/* Probes: svcfwd runs readiness probes (tcpSocket, httpGet) for the pods of its node. */
static const struct schema_field probe_header_fields[] = {
        {"name", SCHEMA_STR, offsetof(struct cluster_probe_header, name), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
        {"value", SCHEMA_STR, offsetof(struct cluster_probe_header, value), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
};
static const struct schema_obj probe_header_obj =
        OBJ("HTTPHeader", struct cluster_probe_header, probe_header_fields);
static const struct schema_field probe_http_fields[] = {
        F_STR("host", struct cluster_probe_http, host),
        F_LIST("httpHeaders", struct cluster_probe_http, headers, n_headers, probe_header_obj),
        F_STR("path", struct cluster_probe_http, path),
        {"port", SCHEMA_INTORSTR, offsetof(struct cluster_probe_http, port),
         offsetof(struct cluster_probe_http, port_name), NULL, NULL, SCHEMA_REQUIRED, NULL},
        F_STR("scheme", struct cluster_probe_http, scheme),
};
static const struct schema_obj probe_http_obj =
        OBJ("HTTPGetAction", struct cluster_probe_http, probe_http_fields);
static const struct schema_field probe_tcp_fields[] = {
        F_STR("host", struct cluster_probe_tcp, host),
        {"port", SCHEMA_INTORSTR, offsetof(struct cluster_probe_tcp, port),
         offsetof(struct cluster_probe_tcp, port_name), NULL, NULL, SCHEMA_REQUIRED, NULL},
};
static const struct schema_obj probe_tcp_obj =
        OBJ("TCPSocketAction", struct cluster_probe_tcp, probe_tcp_fields);
static const struct schema_field probe_fields[] = {
        F_UNSUP("exec", "exec probes are not run (svcfwd runs no commands in pods); the pod "
                        "keeps the readiness its manifest gives"),
        F_INT("failureThreshold", struct cluster_probe, failure_threshold),
        F_UNSUP("grpc", "gRPC probes are not run; the pod keeps the readiness its manifest "
                        "gives"),
        F_OBJPTR("httpGet", struct cluster_probe, http, probe_http_obj),
        F_INT("initialDelaySeconds", struct cluster_probe, initial_delay_s),
        F_INT("periodSeconds", struct cluster_probe, period_s),
        F_INT("successThreshold", struct cluster_probe, success_threshold),
        F_OBJPTR("tcpSocket", struct cluster_probe, tcp, probe_tcp_obj),
        F_IGNORE("terminationGracePeriodSeconds"),
        F_INT("timeoutSeconds", struct cluster_probe, timeout_s),
};
static const struct schema_obj probe_obj = OBJ("Probe", struct cluster_probe, probe_fields);

static const struct schema_field container_fields[] = {
        CONTAINER_RUNTIME_FIELDS,
        F_STR("image", struct cluster_container, image),
        F_UNSUP("livenessProbe", "containers are not restarted: there is nothing to restart"),
        {"name", SCHEMA_STR, offsetof(struct cluster_container, name), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
        F_LIST("ports", struct cluster_container, ports, n_ports, container_port_obj),
        F_OBJPTR("readinessProbe", struct cluster_container, readiness, probe_obj),
        F_STR("restartPolicy", struct cluster_container, restart_policy),
        F_UNSUP("startupProbe", "containers are not restarted: there is nothing to restart"),
};
static const struct schema_obj container_obj =
        OBJ("Container", struct cluster_container, container_fields);

static const struct schema_field pod_spec_fields[] = {
        F_IGNORE("activeDeadlineSeconds"),
        F_IGNORE("affinity"),
        F_IGNORE("automountServiceAccountToken"),
        F_LIST("containers", struct cluster_pod, containers, n_containers, container_obj),
        F_UNSUP("dnsConfig", "pods are not given a resolv.conf by svcdns"),
        F_UNSUP("dnsPolicy", "pods are not given a resolv.conf by svcdns"),
        F_IGNORE("enableServiceLinks"),
        F_IGNORE("ephemeralContainers"),
        F_UNSUP("hostAliases", "no /etc/hosts is written for pods"),
        F_IGNORE("hostIPC"),
        {"hostNetwork", SCHEMA_BOOL, offsetof(struct cluster_pod, host_network), 0, NULL, NULL, 0,
         NULL},
        F_IGNORE("hostPID"),
        F_IGNORE("hostUsers"),
        F_STR("hostname", struct cluster_pod, hostname),
        F_IGNORE("imagePullSecrets"),
        F_LIST("initContainers", struct cluster_pod, init_containers, n_init_containers,
               container_obj),
        F_STR("nodeName", struct cluster_pod, node_name),
        F_IGNORE("nodeSelector"),
        F_IGNORE("os"),
        F_IGNORE("overhead"),
        F_IGNORE("preemptionPolicy"),
        F_IGNORE("priority"),
        F_IGNORE("priorityClassName"),
        F_UNSUP("readinessGates", "readiness is read from the Ready condition only"),
        F_IGNORE("resourceClaims"),
        F_IGNORE("restartPolicy"),
        F_IGNORE("runtimeClassName"),
        F_IGNORE("schedulerName"),
        F_IGNORE("schedulingGates"),
        F_IGNORE("securityContext"),
        F_IGNORE("serviceAccount"),
        F_IGNORE("serviceAccountName"),
        F_UNSUP("setHostnameAsFQDN", "pods are not run by svcdns"),
        F_IGNORE("shareProcessNamespace"),
        F_STR("subdomain", struct cluster_pod, subdomain),
        F_IGNORE("terminationGracePeriodSeconds"),
        F_IGNORE("tolerations"),
        F_IGNORE("topologySpreadConstraints"),
        F_IGNORE("volumes"),
};
static const struct schema_obj pod_spec_obj = OBJ("PodSpec", struct cluster_pod, pod_spec_fields);

static const struct schema_field condition_fields[] = {
        F_IGNORE("lastProbeTime"),
        F_IGNORE("lastTransitionTime"),
        F_IGNORE("message"),
        F_IGNORE("observedGeneration"),
        F_IGNORE("reason"),
        {"status", SCHEMA_STR, offsetof(struct cluster_condition, status), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
        {"type", SCHEMA_STR, offsetof(struct cluster_condition, type), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
};
static const struct schema_obj condition_obj =
        OBJ("PodCondition", struct cluster_condition, condition_fields);
static const struct schema_field ip_entry_fields[] = {
        {"ip", SCHEMA_STR, offsetof(struct cluster_ip_entry, ip), 0, NULL, NULL, SCHEMA_REQUIRED,
         NULL},
};
static const struct schema_obj ip_entry_obj =
        OBJ("PodIP", struct cluster_ip_entry, ip_entry_fields);

static const struct schema_field pod_status_fields[] = {
        F_LIST("conditions", struct cluster_pod, conditions, n_conditions, condition_obj),
        F_IGNORE("containerStatuses"),
        F_IGNORE("ephemeralContainerStatuses"),
        F_STR("hostIP", struct cluster_pod, host_ip),
        F_IGNORE("hostIPs"),
        F_IGNORE("initContainerStatuses"),
        F_IGNORE("message"),
        F_IGNORE("nominatedNodeName"),
        F_IGNORE("observedGeneration"),
        F_ENUM("phase", struct cluster_pod, phase, phase_names),
        F_STR("podIP", struct cluster_pod, pod_ip_text),
        F_LIST("podIPs", struct cluster_pod, pod_ips_text, n_pod_ips_text, ip_entry_obj),
        F_IGNORE("qosClass"),
        F_IGNORE("reason"),
        F_IGNORE("resize"),
        F_IGNORE("resourceClaimStatuses"),
        F_IGNORE("startTime"),
};
static const struct schema_obj pod_status_obj =
        OBJ("PodStatus", struct cluster_pod, pod_status_fields);

static const struct schema_field pod_fields[] = {
        F_IGNORE("apiVersion"),
        F_IGNORE("kind"),
        F_META(struct cluster_pod),
        {"spec", SCHEMA_OBJ, 0, 0, &pod_spec_obj, NULL, 0, NULL},
        {"status", SCHEMA_OBJ, 0, 0, &pod_status_obj, NULL, 0, NULL},
};
static const struct schema_obj pod_obj = OBJ("Pod", struct cluster_pod, pod_fields);

/* ---- Endpoints (v1) -------------------------------------------------------------------- */

static const struct schema_field target_fields[] = {
        F_IGNORE("apiVersion"),
        F_IGNORE("fieldPath"),
        F_STR("kind", struct cluster_ep_target, kind),
        F_STR("name", struct cluster_ep_target, name),
        F_STR("namespace", struct cluster_ep_target, ns),
        F_IGNORE("resourceVersion"),
        F_IGNORE("uid"),
};
static const struct schema_obj target_obj =
        OBJ("ObjectReference", struct cluster_ep_target, target_fields);

static const struct schema_field ep_address_fields[] = {
        F_STR("hostname", struct cluster_ep_address, hostname),
        {"ip", SCHEMA_STR, offsetof(struct cluster_ep_address, ip), 0, NULL, NULL, SCHEMA_REQUIRED,
         NULL},
        F_STR("nodeName", struct cluster_ep_address, node_name),
        F_OBJPTR("targetRef", struct cluster_ep_address, target, target_obj),
};
static const struct schema_obj ep_address_obj =
        OBJ("EndpointAddress", struct cluster_ep_address, ep_address_fields);

static const struct schema_field ep_port_fields[] = {
        F_STR("appProtocol", struct cluster_ep_port, app_protocol),
        F_STR("name", struct cluster_ep_port, name),
        {"port", SCHEMA_INT, offsetof(struct cluster_ep_port, port), 0, NULL, NULL, SCHEMA_REQUIRED,
         NULL},
        F_ENUM("protocol", struct cluster_ep_port, proto, schema_proto_names),
};
static const struct schema_obj ep_port_obj =
        OBJ("EndpointPort", struct cluster_ep_port, ep_port_fields);

static const struct schema_field subset_fields[] = {
        F_LIST("addresses", struct cluster_ep_subset, addresses, n_addresses, ep_address_obj),
        F_LIST("notReadyAddresses", struct cluster_ep_subset, not_ready, n_not_ready,
               ep_address_obj),
        F_LIST("ports", struct cluster_ep_subset, ports, n_ports, ep_port_obj),
};
static const struct schema_obj subset_obj =
        OBJ("EndpointSubset", struct cluster_ep_subset, subset_fields);

static const struct schema_field endpoints_fields[] = {
        F_IGNORE("apiVersion"),
        F_IGNORE("kind"),
        F_META(struct cluster_endpoints),
        F_LIST("subsets", struct cluster_endpoints, subsets, n_subsets, subset_obj),
};
static const struct schema_obj endpoints_obj =
        OBJ("Endpoints", struct cluster_endpoints, endpoints_fields);

/* ---- EndpointSlice (discovery.k8s.io/v1) ------------------------------------------------ */

static const struct schema_field slice_conditions_fields[] = {
        F_TRI("ready", struct cluster_slice_conditions, ready),
        F_TRI("serving", struct cluster_slice_conditions, serving),
        F_TRI("terminating", struct cluster_slice_conditions, terminating),
};
static const struct schema_obj slice_conditions_obj =
        OBJ("EndpointConditions", struct cluster_slice_conditions, slice_conditions_fields);

static const struct schema_field slice_endpoint_fields[] = {
        {"addresses", SCHEMA_STRLIST, offsetof(struct cluster_slice_endpoint, addresses),
         offsetof(struct cluster_slice_endpoint, n_addresses), NULL, NULL, SCHEMA_REQUIRED, NULL},
        F_OBJ("conditions", struct cluster_slice_endpoint, conditions, slice_conditions_obj),
        F_IGNORE("deprecatedTopology"),
        F_UNSUP("hints", "endpoints are not preferred by zone"),
        F_STR("hostname", struct cluster_slice_endpoint, hostname),
        F_STR("nodeName", struct cluster_slice_endpoint, node_name),
        F_OBJPTR("targetRef", struct cluster_slice_endpoint, target, target_obj),
        F_STR("zone", struct cluster_slice_endpoint, zone),
};
static const struct schema_obj slice_endpoint_obj =
        OBJ("Endpoint", struct cluster_slice_endpoint, slice_endpoint_fields);

static const struct schema_field slice_fields[] = {
        {"addressType", SCHEMA_STR, offsetof(struct cluster_endpointslice, address_type), 0, NULL,
         NULL, SCHEMA_REQUIRED, NULL},
        F_IGNORE("apiVersion"),
        F_LIST("endpoints", struct cluster_endpointslice, endpoints, n_endpoints,
               slice_endpoint_obj),
        F_IGNORE("kind"),
        F_META(struct cluster_endpointslice),
        F_LIST("ports", struct cluster_endpointslice, ports, n_ports, ep_port_obj),
};
static const struct schema_obj slice_obj =
        OBJ("EndpointSlice", struct cluster_endpointslice, slice_fields);

/* ---- Namespace --------------------------------------------------------------------------- */

static const struct schema_field ns_spec_fields[] = {
        F_IGNORE("finalizers"),
};
static const struct schema_obj ns_spec_obj =
        OBJ("NamespaceSpec", struct cluster_namespace, ns_spec_fields);
static const struct schema_field ns_status_fields[] = {
        F_IGNORE("conditions"),
        F_STR("phase", struct cluster_namespace, phase),
};
static const struct schema_obj ns_status_obj =
        OBJ("NamespaceStatus", struct cluster_namespace, ns_status_fields);
static const struct schema_field ns_fields[] = {
        F_IGNORE("apiVersion"),
        F_IGNORE("kind"),
        F_META(struct cluster_namespace),
        {"spec", SCHEMA_OBJ, 0, 0, &ns_spec_obj, NULL, 0, NULL},
        {"status", SCHEMA_OBJ, 0, 0, &ns_status_obj, NULL, 0, NULL},
};
static const struct schema_obj ns_obj = OBJ("Namespace", struct cluster_namespace, ns_fields);

/* ---- Node ---------------------------------------------------------------------------------- */

/* Scheduling and capacity: nothing of them changes where a service's traffic goes. */
static const struct schema_field node_spec_fields[] = {
        F_IGNORE("configSource"),
        F_IGNORE("externalID"),
        F_STR("podCIDR", struct cluster_node, pod_cidr),
        F_IGNORE("podCIDRs"),
        F_IGNORE("providerID"),
        F_IGNORE("taints"),
        F_BOOL("unschedulable", struct cluster_node, unschedulable),
};
static const struct schema_obj node_spec_obj =
        OBJ("NodeSpec", struct cluster_node, node_spec_fields);
static const struct schema_field node_address_fields[] = {
        {"address", SCHEMA_STR, offsetof(struct cluster_node_address, address), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
        {"type", SCHEMA_STR, offsetof(struct cluster_node_address, type), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
};
static const struct schema_obj node_address_obj =
        OBJ("NodeAddress", struct cluster_node_address, node_address_fields);
static const struct schema_field node_condition_fields[] = {
        F_IGNORE("lastHeartbeatTime"),
        F_IGNORE("lastTransitionTime"),
        F_IGNORE("message"),
        F_IGNORE("reason"),
        {"status", SCHEMA_STR, offsetof(struct cluster_condition, status), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
        {"type", SCHEMA_STR, offsetof(struct cluster_condition, type), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
};
static const struct schema_obj node_condition_obj =
        OBJ("NodeCondition", struct cluster_condition, node_condition_fields);
static const struct schema_field node_info_fields[] = {
        F_IGNORE("architecture"),
        F_IGNORE("bootID"),
        F_IGNORE("containerRuntimeVersion"),
        F_IGNORE("kernelVersion"),
        F_IGNORE("kubeProxyVersion"),
        F_STR("kubeletVersion", struct cluster_node, kubelet_version),
        F_IGNORE("machineID"),
        F_IGNORE("operatingSystem"),
        F_IGNORE("osImage"),
        F_IGNORE("systemUUID"),
};
static const struct schema_obj node_info_obj =
        OBJ("NodeSystemInfo", struct cluster_node, node_info_fields);
static const struct schema_field node_status_fields[] = {
        F_LIST("addresses", struct cluster_node, addresses, n_addresses, node_address_obj),
        F_IGNORE("allocatable"),
        F_IGNORE("capacity"),
        F_LIST("conditions", struct cluster_node, conditions, n_conditions, node_condition_obj),
        F_IGNORE("config"),
        F_IGNORE("daemonEndpoints"),
        F_IGNORE("images"),
        {"nodeInfo", SCHEMA_OBJ, 0, 0, &node_info_obj, NULL, 0, NULL},
        F_IGNORE("phase"),
        F_IGNORE("volumesAttached"),
        F_IGNORE("volumesInUse"),
};
static const struct schema_obj node_status_obj =
        OBJ("NodeStatus", struct cluster_node, node_status_fields);
static const struct schema_field node_fields[] = {
        F_IGNORE("apiVersion"),
        F_IGNORE("kind"),
        F_META(struct cluster_node),
        {"spec", SCHEMA_OBJ, 0, 0, &node_spec_obj, NULL, 0, NULL},
        {"status", SCHEMA_OBJ, 0, 0, &node_status_obj, NULL, 0, NULL},
};
static const struct schema_obj node_obj = OBJ("Node", struct cluster_node, node_fields);

/* ---- Lease (coordination.k8s.io/v1): a node's heartbeat --------------------------------- */

static const struct schema_field lease_spec_fields[] = {
        F_IGNORE("acquireTime"),
        F_STR("holderIdentity", struct cluster_lease, holder),
        F_INT("leaseDurationSeconds", struct cluster_lease, duration_s),
        F_IGNORE("leaseTransitions"),
        F_IGNORE("renewTime"),
};
static const struct schema_obj lease_spec_obj =
        OBJ("LeaseSpec", struct cluster_lease, lease_spec_fields);
static const struct schema_field lease_fields[] = {
        F_IGNORE("apiVersion"),
        F_IGNORE("kind"),
        F_META(struct cluster_lease),
        {"spec", SCHEMA_OBJ, 0, 0, &lease_spec_obj, NULL, 0, NULL},
};
static const struct schema_obj lease_obj = OBJ("Lease", struct cluster_lease, lease_fields);

/* ---- PodStatus (svcdns.io/v1): what a node's prober found ------------------------------- */

static const struct schema_field status_condition_fields[] = {
        F_IGNORE("lastProbeTime"),
        F_STR("lastTransitionTime", struct cluster_status_condition, last_transition),
        F_STR("message", struct cluster_status_condition, message),
        F_STR("reason", struct cluster_status_condition, reason),
        {"status", SCHEMA_STR, offsetof(struct cluster_status_condition, status), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
        {"type", SCHEMA_STR, offsetof(struct cluster_status_condition, type), 0, NULL, NULL,
         SCHEMA_REQUIRED, NULL},
};
static const struct schema_obj status_condition_obj =
        OBJ("PodCondition", struct cluster_status_condition, status_condition_fields);
static const struct schema_field podstatus_status_fields[] = {
        F_LIST("conditions", struct cluster_podstatus, conditions, n_conditions,
               status_condition_obj),
        F_STR("nodeName", struct cluster_podstatus, node_name),
};
static const struct schema_obj podstatus_status_obj =
        OBJ("PodStatusStatus", struct cluster_podstatus, podstatus_status_fields);
static const struct schema_field podstatus_fields[] = {
        F_IGNORE("apiVersion"),
        F_IGNORE("kind"),
        F_META(struct cluster_podstatus),
        {"status", SCHEMA_OBJ, 0, 0, &podstatus_status_obj, NULL, 0, NULL},
};
static const struct schema_obj podstatus_obj =
        OBJ("PodStatus", struct cluster_podstatus, podstatus_fields);

const struct schema_kind schema_kinds[CLUSTER_KIND_COUNT] = {
        [CLUSTER_KIND_SERVICE] = {CLUSTER_KIND_SERVICE, "Service", "v1", true, &service_obj},
        [CLUSTER_KIND_POD] = {CLUSTER_KIND_POD, "Pod", "v1", true, &pod_obj},
        [CLUSTER_KIND_ENDPOINTS] = {CLUSTER_KIND_ENDPOINTS, "Endpoints", "v1", true,
                                    &endpoints_obj},
        [CLUSTER_KIND_ENDPOINTSLICE] = {CLUSTER_KIND_ENDPOINTSLICE, "EndpointSlice",
                                        "discovery.k8s.io/v1", true, &slice_obj},
        [CLUSTER_KIND_NAMESPACE] = {CLUSTER_KIND_NAMESPACE, "Namespace", "v1", false, &ns_obj},
        [CLUSTER_KIND_NODE] = {CLUSTER_KIND_NODE, "Node", "v1", false, &node_obj},
        /* Node leases only: cluster-scoped here (Kubernetes keeps them in kube-node-lease). */
        [CLUSTER_KIND_LEASE] = {CLUSTER_KIND_LEASE, "Lease", "coordination.k8s.io/v1", false,
                                &lease_obj},
        [CLUSTER_KIND_PODSTATUS] = {CLUSTER_KIND_PODSTATUS, "PodStatus", "svcdns.io/v1", true,
                                    &podstatus_obj},
};

const struct schema_kind *
schema_kind_find(const char *kind)
{
	size_t i;

	for (i = 0; i < N(schema_kinds); i++)
		if (!strcmp(schema_kinds[i].kind, kind))
			return &schema_kinds[i];
	return NULL;
}

/* ---- decoder ----------------------------------------------------------------------------- */

static void dec_report(struct schema_decoder *dec, enum diag_level level, const struct ynode *at,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
dec_report(struct schema_decoder *dec, enum diag_level level, const struct ynode *at,
           const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(dec->d, level, dec->file, at ? at->line : 0, at ? at->col : 0,
	         dec->plen ? dec->path : NULL, "%s", msg);
	if (level == DIAG_ERROR)
		dec->failed = true;
}

static size_t path_push(struct schema_decoder *dec, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static size_t
path_push(struct schema_decoder *dec, const char *fmt, ...)
{
	size_t old = dec->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dec->path + dec->plen, sizeof(dec->path) - dec->plen, fmt, ap);
	va_end(ap);
	if (n > 0)
		dec->plen += (size_t)n < sizeof(dec->path) - dec->plen
		                     ? (size_t)n
		                     : sizeof(dec->path) - dec->plen - 1;
	return old;
}

/* Append ".KEY" (just KEY at the start), cut to fit as path_push cuts: the formatting-free
 * path_push of every mapping key decoded. */
static size_t
path_key(struct schema_decoder *dec, const char *key)
{
	size_t old = dec->plen, room = sizeof(dec->path) - 1 - dec->plen;
	size_t len = strlen(key);

	if (dec->plen > 0 && room > 0) {
		dec->path[dec->plen++] = '.';
		room--;
	}
	if (len > room)
		len = room;
	memcpy(dec->path + dec->plen, key, len);
	dec->plen += len;
	dec->path[dec->plen] = '\0';
	return old;
}

static void
path_pop(struct schema_decoder *dec, size_t old)
{
	dec->plen = old;
	dec->path[old] = '\0';
}

static const char *
node_type_name(const struct ynode *n)
{
	switch (n->type) {
	case YNODE_MAP:
		return "a mapping";
	case YNODE_SEQ:
		return "a list";
	case YNODE_NULL:
		return "null";
	case YNODE_SCALAR:
		break;
	}
	return "a scalar";
}

static bool
is_int_text(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9')
		s++;
	return *s == '\0';
}

static bool
is_bool_text(const char *s)
{
	/* YAML 1.1 booleans, as the Kubernetes YAML reader resolves them. */
	static const char *const words[] = {
	        "y",    "Y",    "yes",   "Yes",   "YES",   "n",  "N",  "no", "No",  "NO",  "true",
	        "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"};
	size_t i;

	/* Every word is 1 to 5 octets and starts with one of these: most strings stop here. */
	if (s[0] == '\0' || strchr("yYnNtTfFoO", s[0]) == NULL || strlen(s) > 5)
		return false;
	for (i = 0; i < N(words); i++)
		if (!strcmp(s, words[i]))
			return true;
	return false;
}

static bool
is_float_text(const char *s)
{
	char *end;

	if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == '.'))
		return false;
	if (!strcmp(s, ".inf") || !strcmp(s, "-.inf") || !strcmp(s, ".nan") || !strcmp(s, ".Inf") ||
	    !strcmp(s, ".NaN"))
		return true;
	if (strchr(s, '.') == NULL && strchr(s, 'e') == NULL && strchr(s, 'E') == NULL)
		return false;
	errno = 0;
	(void)strtod(s, &end);
	return *end == '\0' && end != s;
}

/* Other plain forms the Kubernetes YAML reader (go-yaml, YAML 1.1) resolves to numbers or
 * timestamps: 0x1F, 0o17, 0b101, 1_000 and dates such as 2024-01-01. */
static bool
is_yaml11_typed(const char *s)
{
	const char *p = s;
	const char *digits = "0123456789";
	size_t n = 0;

	if (strspn(s, digits) == 4 && s[4] == '-' && s[5] >= '0' && s[5] <= '9')
		return true;
	if (*p == '-' || *p == '+')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b')) {
		digits = p[1] == 'x' ? "0123456789abcdefABCDEF" : p[1] == 'o' ? "01234567" : "01";
		p += 2;
	}
	for (; *p; p++) {
		if (*p == '_')
			continue;
		if (strchr(digits, *p) == NULL)
			return false;
		n++;
	}
	return n > 0;
}

bool
schema_plain_is_typed(const char *s)
{
	return *s == '\0' || !strcmp(s, "~") || !strcasecmp(s, "null") || is_int_text(s) ||
	       is_bool_text(s) || is_float_text(s) || is_yaml11_typed(s);
}

static bool
want_scalar(struct schema_decoder *dec, const struct ynode *n, const char *what)
{
	if (n->type == YNODE_SCALAR)
		return true;
	dec_report(dec, DIAG_ERROR, n, "expected %s, got %s", what, node_type_name(n));
	return false;
}

static void
record(struct schema_decoder *dec, const void *addr, enum posmap_tag tag, const struct ynode *n)
{
	if (dec->positions != NULL &&
	    posmap_put(dec->positions, addr, tag, n->line, n->col) != SVC_OK)
		dec_report(dec, DIAG_ERROR, n, "out of memory");
}

/* An entry of the decoder's table of strings. */
struct shared_str {
	struct htab_node hn;
	const char *s;
	size_t len;
};

void
schema_share(struct schema_decoder *dec, const char *s, size_t len)
{
	struct shared_str *e = arena_alloc(dec->strings_mem, sizeof(*e));

	if (e == NULL)
		return; /* not shared: decoded strings are copied */
	e->s = s;
	e->len = len;
	(void)htab_insert(dec->strings, &e->hn, htab_hash_bytes(s, len, 0));
}

/* TEXT (LEN bytes) in the arena: the copy made for an equal string before, when the decoder
 * shares them. Decoded strings are never written to, so sharing is safe. */
static char *
str_copy(struct schema_decoder *dec, const char *text, size_t len)
{
	uint32_t h;
	struct shared_str *e;
	char *s;

	if (dec->strings == NULL)
		return arena_strndup(dec->arena, text, len);
	h = htab_hash_bytes(text, len, 0);
	for (struct htab_node *n = htab_find(dec->strings, h); n != NULL; n = htab_next(n, h)) {
		e = htab_item(n, struct shared_str, hn);
		if (e->len == len && memcmp(e->s, text, len) == 0)
			return (char *)e->s;
	}
	s = arena_strndup(dec->arena, text, len);
	e = s != NULL ? arena_alloc(dec->strings_mem, sizeof(*e)) : NULL;
	if (e != NULL) {
		e->s = s;
		e->len = len;
		if (htab_insert(dec->strings, &e->hn, h) != SVC_OK)
			return s; /* not shared, still a copy */
	}
	return s;
}

static const char *
dec_string(struct schema_decoder *dec, const struct ynode *n)
{
	char *s;

	if (!want_scalar(dec, n, "a string"))
		return NULL;
	if (n->plain && (is_int_text(n->text) || is_bool_text(n->text) || is_float_text(n->text))) {
		dec_report(dec, DIAG_ERROR, n,
		           "expected a string, got the %s %s (quote it: \"%s\")",
		           is_bool_text(n->text) ? "boolean" : "number", n->text, n->text);
		return NULL;
	}
	s = str_copy(dec, n->text, n->len);
	if (s == NULL)
		dec_report(dec, DIAG_ERROR, n, "out of memory");
	else if (strlen(s) != n->len)
		dec_report(dec, DIAG_ERROR, n, "string contains a NUL character");
	return s;
}

static bool
dec_int(struct schema_decoder *dec, const struct ynode *n, int32_t *out)
{
	long long v;
	char *end;

	if (!want_scalar(dec, n, "an integer"))
		return false;
	if (!n->plain || !is_int_text(n->text)) {
		dec_report(dec, DIAG_ERROR, n, "expected an integer, got \"%s\"", n->text);
		return false;
	}
	errno = 0;
	v = strtoll(n->text, &end, 10);
	if (errno != 0 || v < INT32_MIN || v > INT32_MAX) {
		dec_report(dec, DIAG_ERROR, n, "integer %s is out of range", n->text);
		return false;
	}
	*out = (int32_t)v;
	return true;
}

static bool
dec_bool(struct schema_decoder *dec, const struct ynode *n, bool *out)
{
	static const char *const t[] = {"true", "True", "TRUE"};
	static const char *const f[] = {"false", "False", "FALSE"};
	size_t i;

	if (!want_scalar(dec, n, "a boolean"))
		return false;
	for (i = 0; n->plain && i < N(t); i++) {
		if (!strcmp(n->text, t[i])) {
			*out = true;
			return true;
		}
		if (!strcmp(n->text, f[i])) {
			*out = false;
			return true;
		}
	}
	dec_report(dec, DIAG_ERROR, n, "expected true or false, got \"%s\"", n->text);
	return false;
}

static void
dec_enum(struct schema_decoder *dec, const struct schema_field *f, const struct ynode *n, void *out)
{
	const char *s = dec_string(dec, n);
	char supported[256] = "";
	size_t i, off = 0;

	if (s == NULL)
		return;
	for (i = 0; f->names[i] != NULL || i == 0; i++) {
		if (f->names[i] == NULL)
			continue;
		if (!strcmp(f->names[i], s)) {
			*(int *)((char *)out + f->offset) = (int)i;
			if (f->flags & SCHEMA_SEEN)
				*(bool *)((char *)out + f->offset2) = true;
			return;
		}
		off += (size_t)snprintf(supported + off, sizeof(supported) - off, "%s\"%s\"",
		                        off ? ", " : "", f->names[i]);
		if (off >= sizeof(supported))
			off = sizeof(supported) - 1;
	}
	dec_report(dec, DIAG_ERROR, n, "Unsupported value: \"%s\": supported values: %s", s,
	           supported);
}

static void
dec_strlist(struct schema_decoder *dec, const struct schema_field *f, const struct ynode *n,
            void *out)
{
	const char **arr;
	size_t i;

	if (n->type != YNODE_SEQ) {
		dec_report(dec, DIAG_ERROR, n, "expected a list of strings, got %s",
		           node_type_name(n));
		return;
	}
	arr = arena_calloc(dec->arena, n->n, sizeof(*arr));
	if (arr == NULL) {
		dec_report(dec, DIAG_ERROR, n, "out of memory");
		return;
	}
	for (i = 0; i < n->n; i++) {
		size_t old = path_push(dec, "[%zu]", i);

		arr[i] = dec_string(dec, n->items[i]);
		if (arr[i] != NULL)
			record(dec, &arr[i], POSMAP_FIELD, n->items[i]);
		else
			arr[i] = "";
		path_pop(dec, old);
	}
	*(const char ***)((char *)out + f->offset) = arr;
	*(size_t *)((char *)out + f->offset2) = n->n;
}

static void
dec_labels(struct schema_decoder *dec, const struct ynode *n, struct cluster_labels *out)
{
	size_t i;

	if (n->type != YNODE_MAP) {
		dec_report(dec, DIAG_ERROR, n, "expected a mapping of strings, got %s",
		           node_type_name(n));
		return;
	}
	out->items = arena_calloc(dec->arena, n->n, sizeof(*out->items));
	if (out->items == NULL) {
		dec_report(dec, DIAG_ERROR, n, "out of memory");
		return;
	}
	for (i = 0; i < n->n; i++) {
		const struct ynode *v = n->entries[i].value;
		struct cluster_label *l = &out->items[out->n];
		size_t old = path_push(dec, "[%s]", n->entries[i].key->text);

		l->key = str_copy(dec, n->entries[i].key->text, strlen(n->entries[i].key->text));
		l->value = v->type == YNODE_NULL ? "" : dec_string(dec, v);
		if (l->key != NULL && l->value != NULL) {
			record(dec, l, POSMAP_FIELD, n->entries[i].key);
			out->n++;
		}
		path_pop(dec, old);
	}
}

static void decode_field(struct schema_decoder *dec, const struct schema_field *f,
                         const struct ynode *v, void *out);

static void
dec_list(struct schema_decoder *dec, const struct schema_field *f, const struct ynode *n, void *out)
{
	char *arr;
	size_t i;

	if (n->type != YNODE_SEQ) {
		dec_report(dec, DIAG_ERROR, n, "expected a list, got %s", node_type_name(n));
		return;
	}
	arr = arena_calloc(dec->arena, n->n, f->sub->size);
	if (arr == NULL) {
		dec_report(dec, DIAG_ERROR, n, "out of memory");
		return;
	}
	for (i = 0; i < n->n; i++) {
		size_t old = path_push(dec, "[%zu]", i);

		schema_decode(dec, f->sub, n->items[i], arr + i * f->sub->size);
		path_pop(dec, old);
	}
	*(void **)((char *)out + f->offset) = arr;
	*(size_t *)((char *)out + f->offset2) = n->n;
}

static void
decode_field(struct schema_decoder *dec, const struct schema_field *f, const struct ynode *v,
             void *out)
{
	char *at = (char *)out + f->offset;

	switch (f->type) {
	case SCHEMA_STR: {
		const char *s = dec_string(dec, v);

		if (s != NULL) {
			*(const char **)at = s;
			record(dec, at, POSMAP_FIELD, v);
		}
		break;
	}
	case SCHEMA_INT:
		if (dec_int(dec, v, (int32_t *)at))
			record(dec, at, POSMAP_FIELD, v);
		break;
	case SCHEMA_BOOL:
		if (dec_bool(dec, v, (bool *)at))
			record(dec, at, POSMAP_FIELD, v);
		break;
	case SCHEMA_TRIBOOL: {
		bool b;

		if (dec_bool(dec, v, &b)) {
			*(enum cluster_tribool *)at = b ? CLUSTER_TRUE : CLUSTER_FALSE;
			record(dec, at, POSMAP_FIELD, v);
		}
		break;
	}
	case SCHEMA_ENUM:
		dec_enum(dec, f, v, out);
		record(dec, at, POSMAP_FIELD, v);
		break;
	case SCHEMA_INTORSTR:
		record(dec, at, POSMAP_FIELD, v);
		record(dec, (char *)out + f->offset2, POSMAP_FIELD, v);
		if (!want_scalar(dec, v, "a port number or name"))
			break;
		if (v->plain && is_int_text(v->text)) {
			dec_int(dec, v, (int32_t *)at);
		} else {
			char *s = str_copy(dec, v->text, v->len);

			if (s == NULL)
				dec_report(dec, DIAG_ERROR, v, "out of memory");
			*(const char **)((char *)out + f->offset2) = s;
		}
		break;
	case SCHEMA_STRLIST:
		record(dec, at, POSMAP_FIELD, v);
		dec_strlist(dec, f, v, out);
		break;
	case SCHEMA_LABELS:
		record(dec, at, POSMAP_FIELD, v);
		dec_labels(dec, v, (struct cluster_labels *)at);
		break;
	case SCHEMA_OBJ:
		schema_decode(dec, f->sub, v, at);
		break;
	case SCHEMA_OBJPTR: {
		void *p = arena_alloc(dec->arena, f->sub->size);

		if (p == NULL) {
			dec_report(dec, DIAG_ERROR, v, "out of memory");
			break;
		}
		*(void **)at = p;
		schema_decode(dec, f->sub, v, p);
		break;
	}
	case SCHEMA_LIST:
		record(dec, at, POSMAP_FIELD, v);
		dec_list(dec, f, v, out);
		break;
	case SCHEMA_IGNORE:
		break;
	case SCHEMA_UNSUPPORTED:
		dec_report(dec, DIAG_WARNING, v, "field is not supported and is ignored: %s",
		           f->why);
		break;
	}
}

void
schema_decode(struct schema_decoder *dec, const struct schema_obj *so, const struct ynode *map,
              void *out)
{
	size_t i, j;
	const void *outer;

	if (map->type != YNODE_MAP) {
		dec_report(dec, DIAG_ERROR, map, "expected a mapping (%s), got %s", so->name,
		           node_type_name(map));
		return;
	}
	/* spec and status decode into the struct holding them, at the same address: the
	 * outermost mapping, where the object starts, keeps the object's position. */
	if (out != dec->obj_at)
		record(dec, out, POSMAP_OBJECT, map);
	outer = dec->obj_at;
	dec->obj_at = out;
	for (i = 0; i < map->n; i++) {
		const struct ynode *k = map->entries[i].key, *v = map->entries[i].value;
		const struct schema_field *f = NULL;
		size_t old;

		for (j = 0; j < so->n_fields; j++) {
			/* The first octet rules out nearly every row without a call. */
			if (so->fields[j].key[0] == k->text[0] &&
			    !strcmp(so->fields[j].key, k->text)) {
				f = &so->fields[j];
				break;
			}
		}
		old = path_key(dec, k->text);
		if (f == NULL) {
			dec_report(dec, DIAG_WARNING, k, "unknown field in %s; ignored", so->name);
		} else if (v->type == YNODE_NULL) {
			/* null means "not set", as the API server reads it */
		} else {
			decode_field(dec, f, v, out);
		}
		path_pop(dec, old);
	}
	for (j = 0; j < so->n_fields; j++) {
		const struct schema_field *f = &so->fields[j];
		const struct ynode *v;

		if (!(f->flags & SCHEMA_REQUIRED))
			continue;
		v = ytree_get(map, f->key);
		if (v == NULL || v->type == YNODE_NULL) {
			size_t old = path_key(dec, f->key);

			dec_report(dec, DIAG_ERROR, map, "Required value");
			path_pop(dec, old);
		}
	}
	dec->obj_at = outer;
}

/* ---- comparison -------------------------------------------------------------------------- */

static bool
str_equal(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
field_equal(const struct schema_field *f, const char *a, const char *b)
{
	const char *pa = a + f->offset, *pb = b + f->offset;
	size_t i, n;

	switch (f->type) {
	case SCHEMA_STR:
		return str_equal(*(const char *const *)pa, *(const char *const *)pb);
	case SCHEMA_INT:
		return *(const int32_t *)pa == *(const int32_t *)pb;
	case SCHEMA_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	case SCHEMA_TRIBOOL:
		return *(const enum cluster_tribool *)pa == *(const enum cluster_tribool *)pb;
	case SCHEMA_ENUM:
		return *(const int *)pa == *(const int *)pb &&
		       (!(f->flags & SCHEMA_SEEN) ||
		        *(const bool *)(a + f->offset2) == *(const bool *)(b + f->offset2));
	case SCHEMA_INTORSTR:
		return *(const int32_t *)pa == *(const int32_t *)pb &&
		       str_equal(*(const char *const *)(a + f->offset2),
		                 *(const char *const *)(b + f->offset2));
	case SCHEMA_STRLIST:
		n = *(const size_t *)(a + f->offset2);
		if (n != *(const size_t *)(b + f->offset2))
			return false;
		for (i = 0; i < n; i++)
			if (!str_equal((*(const char *const *const *)pa)[i],
			               (*(const char *const *const *)pb)[i]))
				return false;
		return true;
	case SCHEMA_LABELS: {
		const struct cluster_labels *la = (const void *)pa, *lb = (const void *)pb;

		if (la->n != lb->n)
			return false;
		for (i = 0; i < la->n; i++)
			if (!str_equal(la->items[i].key, lb->items[i].key) ||
			    !str_equal(la->items[i].value, lb->items[i].value))
				return false;
		return true;
	}
	case SCHEMA_OBJ:
		return schema_equal(f->sub, pa, pb);
	case SCHEMA_OBJPTR: {
		const void *oa = *(const void *const *)pa, *ob = *(const void *const *)pb;

		if (oa == NULL || ob == NULL)
			return oa == ob;
		return schema_equal(f->sub, oa, ob);
	}
	case SCHEMA_LIST:
		n = *(const size_t *)(a + f->offset2);
		if (n != *(const size_t *)(b + f->offset2))
			return false;
		for (i = 0; i < n; i++)
			if (!schema_equal(f->sub, *(const char *const *)pa + i * f->sub->size,
			                  *(const char *const *)pb + i * f->sub->size))
				return false;
		return true;
	case SCHEMA_IGNORE:
	case SCHEMA_UNSUPPORTED:
		return true;
	}
	return false;
}

/* Written only when it moves: the walk also reads what other arenas own and other threads
 * read (a snapshot's service copy points at its unit's fields). */
static void *
moved(const struct arena_moved *m, void *at)
{
	void **p = at;
	void *to = arena_moved_ptr(m, *p);

	if (to != *p)
		*p = to;
	return to;
}

static void
field_relocate(const struct schema_field *f, char *obj, const struct arena_moved *m)
{
	char *p = obj + f->offset;
	size_t n;

	switch (f->type) {
	case SCHEMA_STR:
		moved(m, p);
		break;
	case SCHEMA_INTORSTR:
		moved(m, obj + f->offset2);
		break;
	case SCHEMA_STRLIST: {
		const char **arr = moved(m, p);

		n = *(const size_t *)(obj + f->offset2);
		for (size_t i = 0; arr != NULL && i < n; i++)
			moved(m, &arr[i]);
		break;
	}
	case SCHEMA_LABELS: {
		struct cluster_labels *l = (void *)p;

		moved(m, &l->items);
		for (size_t i = 0; l->items != NULL && i < l->n; i++) {
			moved(m, &l->items[i].key);
			moved(m, &l->items[i].value);
		}
		break;
	}
	case SCHEMA_OBJ:
		schema_relocate(f->sub, p, m);
		break;
	case SCHEMA_OBJPTR: {
		void *sub = moved(m, p);

		if (sub != NULL)
			schema_relocate(f->sub, sub, m);
		break;
	}
	case SCHEMA_LIST: {
		char *arr = moved(m, p);

		n = *(const size_t *)(obj + f->offset2);
		for (size_t i = 0; arr != NULL && i < n; i++)
			schema_relocate(f->sub, arr + i * f->sub->size, m);
		break;
	}
	case SCHEMA_INT:
	case SCHEMA_BOOL:
	case SCHEMA_TRIBOOL:
	case SCHEMA_ENUM:
	case SCHEMA_IGNORE:
	case SCHEMA_UNSUPPORTED:
		break;
	}
}

void
schema_relocate(const struct schema_obj *so, void *obj, const struct arena_moved *m)
{
	for (size_t i = 0; i < so->n_fields; i++)
		field_relocate(&so->fields[i], obj, m);
}

bool
schema_equal(const struct schema_obj *so, const void *a, const void *b)
{
	for (size_t i = 0; i < so->n_fields; i++)
		if (!field_equal(&so->fields[i], a, b))
			return false;
	return true;
}

/* ---- deep copy ---------------------------------------------------------------------------- */

static const char *
copy_str(struct schema_decoder *dec, const char *s)
{
	char *c;

	if (s == NULL)
		return NULL;
	c = str_copy(dec, s, strlen(s));
	if (c == NULL)
		dec->failed = true;
	return c != NULL ? c : s;
}

/* N elements of SIZE bytes at SRC, copied into the arena (NULL stays NULL). */
static void *
copy_array(struct schema_decoder *dec, const void *src, size_t n, size_t size)
{
	void *c;

	if (src == NULL || n == 0)
		return (void *)src;
	c = arena_calloc(dec->arena, n, size);
	if (c == NULL) {
		dec->failed = true;
		return (void *)src;
	}
	memcpy(c, src, n * size);
	return c;
}

static void
field_copy(struct schema_decoder *dec, const struct schema_field *f, char *dst, const char *src)
{
	char *p = dst + f->offset;
	const char *q = src + f->offset;
	size_t n, i;

	switch (f->type) {
	case SCHEMA_STR:
		*(const char **)p = copy_str(dec, *(const char *const *)q);
		break;
	case SCHEMA_INTORSTR:
		*(const char **)(dst + f->offset2) =
		        copy_str(dec, *(const char *const *)(src + f->offset2));
		break;
	case SCHEMA_STRLIST: {
		const char **arr;

		n = *(const size_t *)(src + f->offset2);
		arr = copy_array(dec, *(const char *const *const *)q, n, sizeof(*arr));
		*(const char ***)p = arr;
		for (i = 0; arr != NULL && !dec->failed && i < n; i++)
			arr[i] = copy_str(dec, arr[i]);
		break;
	}
	case SCHEMA_LABELS: {
		struct cluster_labels *l = (void *)p;

		l->items = copy_array(dec, l->items, l->n, sizeof(*l->items));
		for (i = 0; l->items != NULL && !dec->failed && i < l->n; i++) {
			l->items[i].key = copy_str(dec, l->items[i].key);
			l->items[i].value = copy_str(dec, l->items[i].value);
		}
		break;
	}
	case SCHEMA_OBJ:
		schema_copy(dec, f->sub, p, q);
		break;
	case SCHEMA_OBJPTR: {
		const void *sub = *(const void *const *)q;
		void *c = copy_array(dec, sub, 1, f->sub->size);

		*(void **)p = c;
		if (sub != NULL && !dec->failed)
			schema_copy(dec, f->sub, c, sub);
		break;
	}
	case SCHEMA_LIST: {
		const char *arr = *(const char *const *)q;
		char *c;

		n = *(const size_t *)(src + f->offset2);
		c = copy_array(dec, arr, n, f->sub->size);
		*(char **)p = c;
		for (i = 0; arr != NULL && !dec->failed && i < n; i++)
			schema_copy(dec, f->sub, c + i * f->sub->size, arr + i * f->sub->size);
		break;
	}
	case SCHEMA_INT:
	case SCHEMA_BOOL:
	case SCHEMA_TRIBOOL:
	case SCHEMA_ENUM:
	case SCHEMA_IGNORE:
	case SCHEMA_UNSUPPORTED:
		break;
	}
}

void
schema_copy(struct schema_decoder *dec, const struct schema_obj *so, void *dst, const void *src)
{
	for (size_t i = 0; i < so->n_fields && !dec->failed; i++)
		field_copy(dec, &so->fields[i], dst, src);
}
