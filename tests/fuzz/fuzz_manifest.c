/* fuzz_manifest.c -- libFuzzer target: any bytes as one manifest file.
 *
 * The input is loaded and built with the default config plus a small load-balancer pool
 * (192.0.2.0/29, so that it fills up), every diagnostic is formatted, and a
 * snapshot that builds is looked up, written back as YAML with cluster_yaml_dump and loaded
 * again. That round trip must build, with the same objects, and writing the rebuilt snapshot must
 * give the same YAML: anything else is a bug in the emitter or the loader, so it aborts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cluster *
build(const char *name, const char *buf, size_t len, struct diag *d)
{
	struct cluster_objects objs;
	struct cluster_config cfg;
	struct cluster *c = NULL;
	size_t errors = d->errors;

	cluster_config_init(&cfg);
	if (cluster_config_set_lb_pools(&cfg, "192.0.2.0/29") != SVC_OK)
		abort();
	cluster_objects_init(&objs);
	/* As cluster_load: validation runs after syntax errors too, so one run reports all, but
	 * the snapshot only counts when nothing at all was wrong. */
	if (cluster_objects_load_buffer(&objs, name, buf, len, d) == SVC_OK)
		cluster_build(&objs, &cfg, d, &c);
	if (c != NULL && d->errors != errors) {
		cluster_unref(c);
		c = NULL;
	}
	cluster_objects_deinit(&objs);
	return c;
}

static void
format_all(struct diag *d)
{
	char line[1024];
	size_t i;

	diag_sort(d);
	for (i = 0; i < d->n; i++)
		diag_format(&d->entries[i], line, sizeof(line));
}

static void
fail(const char *what, const char *yaml, struct diag *d)
{
	fprintf(stderr, "fuzz_manifest: %s\n--- dump:\n%s\n--- problems:\n", what,
	        yaml ? yaml : "(none)");
	if (d != NULL) {
		diag_sort(d);
		diag_print(d, stderr);
	}
	abort();
}

/* Every object of C, in kind order. *N gets the count; NULL when out of memory. */
static struct cluster_yaml_item *
all_items(const struct cluster *c, size_t *n)
{
	struct cluster_yaml_item *items = calloc(c->n_services + c->n_pods + c->n_endpoints +
	                                                 c->n_slices + c->n_namespaces + 1,
	                                         sizeof(*items));
	size_t i, k = 0;

	if (items == NULL)
		return NULL;
	for (i = 0; i < c->n_services; i++)
		items[k++] = (struct cluster_yaml_item){CLUSTER_KIND_SERVICE, c->services[i]};
	for (i = 0; i < c->n_pods; i++)
		items[k++] = (struct cluster_yaml_item){CLUSTER_KIND_POD, c->pods[i]};
	for (i = 0; i < c->n_endpoints; i++)
		items[k++] = (struct cluster_yaml_item){CLUSTER_KIND_ENDPOINTS, c->endpoints[i]};
	for (i = 0; i < c->n_slices; i++)
		items[k++] = (struct cluster_yaml_item){CLUSTER_KIND_ENDPOINTSLICE, c->slices[i]};
	for (i = 0; i < c->n_namespaces; i++)
		items[k++] = (struct cluster_yaml_item){CLUSTER_KIND_NAMESPACE, c->namespaces[i]};
	*n = k;
	return items;
}

static char *
dump(const struct cluster *c, bool as_list, size_t *len)
{
	struct cluster_yaml_item *items;
	size_t n;
	char *out = NULL;

	items = all_items(c, &n);
	if (items == NULL)
		return NULL;
	if (cluster_yaml_dump(items, n, as_list, &out, len) != SVC_OK)
		out = NULL;
	free(items);
	return out;
}

/* The lookups of a snapshot find what it holds. */
static void
lookups(const struct cluster *c)
{
	size_t i, k;

	for (i = 0; i < c->n_services; i++) {
		const struct cluster_service *s = c->services[i];

		if (cluster_service_by_name(c, s->meta.ns, s->meta.name) != s)
			fail("cluster_service_by_name misses a service", NULL, NULL);
		if (!cluster_namespace_exists(c, s->meta.ns))
			fail("a service's namespace does not exist", NULL, NULL);
		for (k = 0; k < s->n_cluster_ips; k++)
			if (cluster_service_by_ip(c, &s->cluster_ips[k]) != s)
				fail("cluster_service_by_ip misses a service", NULL, NULL);
		/* Load-balancer addresses: LoadBalancer services only; allocated ones from the
		 * pool, in the service's families, never twice. */
		if (s->n_lb_ips > 0 && s->type != CLUSTER_SVC_LOADBALANCER)
			fail("load-balancer IPs on a service of another type", NULL, NULL);
		if (s->lb_ip_allocated && (s->n_lb_ips == 0 || s->n_lb_ips > 2))
			fail("an allocated load-balancer IP count out of range", NULL, NULL);
		for (k = 0; k < s->n_lb_ips; k++) {
			size_t j, m;

			if (s->lb_ip_allocated &&
			    !netaddr_in_prefix(&s->lb_ips[k], &c->config.lb_pools[0]))
				fail("an allocated load-balancer IP outside the pool", NULL, NULL);
			for (j = 0; s->lb_ip_allocated && j < c->n_services; j++)
				for (m = 0; m < c->services[j]->n_lb_ips; m++)
					if ((j != i || m != k) &&
					    netaddr_equal(&c->services[j]->lb_ips[m],
					                  &s->lb_ips[k]))
						fail("a load-balancer IP allocated twice", NULL,
						     NULL);
		}
		if (s->health_check_node_port != 0 && (s->type != CLUSTER_SVC_LOADBALANCER ||
		                                       s->external_policy != CLUSTER_POLICY_LOCAL))
			fail("a healthCheckNodePort outside LoadBalancer + Local", NULL, NULL);
		for (k = 0; k < s->n_ports; k++) {
			if (s->health_check_node_port != 0 &&
			    s->ports[k].node_port == s->health_check_node_port)
				fail("a healthCheckNodePort equal to a nodePort", NULL, NULL);
			(void)cluster_endpoint_count(s, k, true);
			(void)cluster_endpoint_count(s, k, false);
			(void)cluster_service_port_index(s, s->ports[k].name, s->ports[k].proto);
		}
	}
	for (i = 0; i < c->n_pods; i++) {
		const struct cluster_pod *p = c->pods[i];

		if (cluster_pod_by_name(c, p->meta.ns, p->meta.name) != p)
			fail("cluster_pod_by_name misses a pod", NULL, NULL);
		for (k = 0; k < p->n_ips; k++)
			(void)cluster_pod_by_ip(c, &p->ips[k]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag d, d2;
	struct cluster *c, *c2;
	char *yaml, *yaml2;
	size_t len, len2;
	/* Both shapes get written: one document per object, or one List. */
	bool as_list = size % 2 == 1;

	diag_init(&d);
	c = build("fuzz.yaml", (const char *)data, size, &d);
	format_all(&d);
	if (c != NULL && d.errors != 0)
		fail("a snapshot was built despite errors", NULL, &d);
	if (c == NULL) {
		diag_deinit(&d);
		return 0;
	}
	lookups(c);

	yaml = dump(c, as_list, &len);
	if (yaml == NULL)
		fail("cluster_yaml_dump failed", NULL, NULL);
	if (strlen(yaml) != len)
		fail("cluster_yaml_dump: length differs from the text", yaml, NULL);
	diag_init(&d2);
	c2 = build("roundtrip.yaml", yaml, len, &d2);
	if (c2 == NULL)
		fail("the dump of a valid snapshot does not build", yaml, &d2);
	if (c2->n_services != c->n_services || c2->n_pods != c->n_pods ||
	    c2->n_endpoints != c->n_endpoints || c2->n_slices != c->n_slices ||
	    c2->n_namespaces != c->n_namespaces)
		fail("the dump of a valid snapshot builds with other objects", yaml, &d2);
	lookups(c2);
	yaml2 = dump(c2, as_list, &len2);
	if (yaml2 == NULL)
		fail("cluster_yaml_dump failed on the round trip", yaml, NULL);
	if (len2 != len || memcmp(yaml, yaml2, len) != 0) {
		fprintf(stderr, "--- second dump:\n%s\n", yaml2);
		fail("writing the rebuilt snapshot gives other YAML", yaml, &d2);
	}

	free(yaml2);
	free(yaml);
	cluster_unref(c2);
	cluster_unref(c);
	diag_deinit(&d2);
	diag_deinit(&d);
	return 0;
}
