/* ctl_expose.c -- `svcctl expose pod|service NAME`: a service selecting what the object
 * selects (a pod's labels, a service's selector), as kubectl expose makes it, then created as
 * `create -f` creates: checked against the cluster, allocated, written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* S as a YAML double-quoted scalar (JSON's quoting is YAML's). */
static void
quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
labels(FILE *f, const char *indent, const struct cluster_labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		fprintf(f, "%s", indent);
		quoted(f, l->items[i].key);
		fputs(": ", f);
		quoted(f, l->items[i].value);
		fputc('\n', f);
	}
}

static bool
is_number(const char *s)
{
	return s != NULL && *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* A port: PORT (with NAME when several), to TARGET (a number or a port's name). */
static void
port_entry(FILE *f, const char *name, const char *proto, int32_t port, const char *target)
{
	fputs("  - ", f);
	if (name != NULL) {
		fputs("name: ", f);
		quoted(f, name);
		fputs("\n    ", f);
	}
	fprintf(f, "port: %d\n    protocol: %s\n    targetPort: ", port, proto);
	if (is_number(target))
		fprintf(f, "%s\n", target);
	else
		quoted(f, target), fputc('\n', f);
}

/* The manifest into F; false after an error message. */
static bool
manifest(struct ctl *ctl, const struct cluster *c, FILE *f)
{
	const struct ctl_expose *x = &ctl->expose;
	int kind = ctl->n_args > 0 ? ctl_kind_parse(ctl->args[0]) : -1;
	const char *obj = ctl->n_args > 1 ? ctl->args[1] : NULL;
	const struct cluster_labels *sel = NULL, *own = NULL;
	const struct cluster_service *svc = NULL;
	const struct cluster_pod *pod = NULL;
	const char *proto = x->protocol != NULL ? x->protocol : "TCP";
	char target[16];

	if ((kind != CLUSTER_KIND_POD && kind != CLUSTER_KIND_SERVICE) || obj == NULL) {
		fprintf(stderr,
		        "error: usage: svcctl expose pod|service NAME [--port PORT] "
		        "[--target-port PORT] [--type TYPE] [--name NAME] [--protocol PROTO]\n");
		return false;
	}
	if (kind == CLUSTER_KIND_POD && (pod = cluster_pod_by_name(c, ctl->ns, obj)) != NULL) {
		sel = own = &pod->meta.labels;
	} else if (kind == CLUSTER_KIND_SERVICE &&
	           (svc = cluster_service_by_name(c, ctl->ns, obj)) != NULL) {
		sel = &svc->selector;
		own = &svc->meta.labels;
	} else {
		fprintf(stderr, "Error from server (NotFound): %s \"%s\" not found\n",
		        ctl_kind_plural((enum cluster_kind)kind), obj);
		return false;
	}
	if (sel->n == 0) {
		/* kubectl's words. */
		fprintf(stderr,
		        "error: couldn't retrieve selectors via --selector flag or introspection: "
		        "the %s has no %s\n",
		        pod != NULL ? "pod" : "service", pod != NULL ? "labels" : "selector");
		return false;
	}
	fputs("apiVersion: v1\nkind: Service\nmetadata:\n  name: ", f);
	quoted(f, x->name != NULL ? x->name : obj);
	fputs("\n  namespace: ", f);
	quoted(f, ctl->ns);
	if (own->n > 0) {
		fputs("\n  labels:\n", f);
		labels(f, "    ", own);
	} else {
		fputc('\n', f);
	}
	fputs("spec:\n  selector:\n", f);
	labels(f, "    ", sel);
	if (x->type != NULL)
		fprintf(f, "  type: %s\n", x->type);
	fputs("  ports:\n", f);
	if (x->port != NULL) {
		if (!is_number(x->port)) {
			fprintf(stderr, "error: --port: \"%s\" is not a port number\n", x->port);
			return false;
		}
		port_entry(f, NULL, proto, atoi(x->port),
		           x->target_port ? x->target_port : x->port);
		return true;
	}
	/* Copied from the object: a service's ports, a pod's container ports. */
	if (svc != NULL && svc->n_ports > 0) {
		for (size_t i = 0; i < svc->n_ports; i++) {
			const struct cluster_port *p = &svc->ports[i];

			snprintf(target, sizeof(target), "%d",
			         p->target_port ? p->target_port : p->port);
			port_entry(f, svc->n_ports > 1 ? p->name : NULL,
			           cluster_proto_str(p->proto), p->port,
			           p->target_name ? p->target_name : target);
		}
		return true;
	}
	if (pod != NULL) {
		size_t n = 0, k = 0;

		for (size_t i = 0; i < pod->n_containers; i++)
			n += pod->containers[i].n_ports;
		for (size_t i = 0; i < pod->n_containers; i++) {
			for (size_t j = 0; j < pod->containers[i].n_ports; j++) {
				const struct cluster_container_port *p =
				        &pod->containers[i].ports[j];
				char name[32];

				snprintf(name, sizeof(name), "port-%zu", ++k);
				snprintf(target, sizeof(target), "%d", p->port);
				port_entry(f, n > 1 ? name : NULL, cluster_proto_str(p->proto),
				           p->port, target);
			}
		}
		if (n > 0)
			return true;
	}
	fprintf(stderr, "error: couldn't find port via --port flag or introspection\n");
	return false;
}

int
ctl_expose(struct ctl *ctl)
{
	char path[] = "/tmp/svcctl-expose-XXXXXX";
	size_t errors = 0;
	struct cluster *c = ctl_load(ctl, &errors);
	int fd = -1, rc = 1;
	FILE *f = NULL;
	bool made = false, written;

	if (c == NULL)
		goto done;
	fd = mkstemp(path);
	made = fd >= 0;
	f = made ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		perror("svcctl: expose");
		if (made)
			close(fd);
		goto done;
	}
	written = manifest(ctl, c, f);
	if (fclose(f) != 0 && written) { /* F owned FD */
		perror("svcctl: expose");
		written = false;
	}
	if (!written)
		goto done;
	ctl->file = path;
	ctl->result_word = "exposed";
	rc = ctl_create(ctl, false);
done:
	if (made)
		unlink(path);
	cluster_unref(c);
	return rc;
}
