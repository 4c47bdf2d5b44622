/* ctl_write.c -- svcctl create, apply and delete: validate against the whole cluster, allocate,
 * and write the completed objects into the zones directory atomically. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster_yaml.h"
#include "ctl.h"

#define MAX_INPUT (64u << 20)

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL) {
		fprintf(stderr, "error: the path \"%s\" cannot be read: %s\n", path,
		        strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t r;

		if (n + 4096 > cap) {
			char *p;

			cap = cap ? cap * 2 : 65536;
			if (cap > MAX_INPUT + 4096) {
				fprintf(stderr, "error: %s is larger than %u MiB\n", path,
				        MAX_INPUT >> 20);
				free(buf);
				buf = NULL;
				break;
			}
			p = realloc(buf, cap);
			if (p == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = p;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (f != stdin)
		fclose(f);
	if (buf != NULL) {
		buf[n] = '\0';
		*len = n;
	}
	return buf;
}

/* Write DATA to PATH through a temporary file and rename(2), so a reader (svcdns, svcfwd, a
 * concurrent svcctl) sees the old file or the new one, never a part. */
static int
write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[4200];
	const char *slash = strrchr(path, '/');
	int fd, rc = -1;
	size_t off = 0;

	if (slash)
		snprintf(tmp, sizeof(tmp), "%.*s/.%s.tmp.%ld", (int)(slash - path), path, slash + 1,
		         (long)getpid());
	else
		snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto done;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto done;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto done;
	if (close(fd) != 0) {
		fd = -1;
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto done;
	rc = 0;
done:
	if (rc != 0) {
		fprintf(stderr, "error: cannot write %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	}
	return rc;
}

/* Remove bytes [START, END) of PATH: one document of a multi-document file. */
static int
splice_out(const char *path, size_t start, size_t end)
{
	size_t len;
	char *buf = read_all(path, &len);
	int rc;

	if (buf == NULL)
		return -1;
	if (start > end || end > len) {
		fprintf(stderr, "error: %s changed while svcctl was running\n", path);
		free(buf);
		return -1;
	}
	memmove(buf + start, buf + end, len - end);
	rc = write_atomic(path, buf, len - (end - start));
	free(buf);
	return rc;
}

struct objref {
	enum cluster_kind kind;
	struct cluster_meta *meta;
};

static struct cluster_meta **
kind_array(struct cluster_objects *o, enum cluster_kind k, size_t *n)
{
	switch (k) {
	case CLUSTER_KIND_SERVICE:
		*n = o->n_services;
		return (struct cluster_meta **)o->services;
	case CLUSTER_KIND_POD:
		*n = o->n_pods;
		return (struct cluster_meta **)o->pods;
	case CLUSTER_KIND_ENDPOINTS:
		*n = o->n_endpoints;
		return (struct cluster_meta **)o->endpoints;
	case CLUSTER_KIND_ENDPOINTSLICE:
		*n = o->n_slices;
		return (struct cluster_meta **)o->slices;
	case CLUSTER_KIND_NAMESPACE:
		*n = o->n_namespaces;
		return (struct cluster_meta **)o->namespaces;
	case CLUSTER_KIND_COUNT:
		break;
	}
	*n = 0;
	return NULL;
}

static bool
same_object(const struct cluster_meta *a, const struct cluster_meta *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->ns ? a->ns : "", b->ns ? b->ns : "");
}

/* Objects of the zones directory that live in FILE. */
static size_t
objects_in_file(struct cluster_objects *o, const char *file, size_t *counts)
{
	size_t k, i, n, total = 0;

	for (k = 0; k < CLUSTER_KIND_COUNT; k++) {
		struct cluster_meta **arr = kind_array(o, (enum cluster_kind)k, &n);

		for (i = 0; i < counts[k] && i < n; i++)
			if (!strcmp(arr[i]->origin.file, file))
				total++;
	}
	return total;
}

static const char *
kind_lower(enum cluster_kind k)
{
	static const char *const names[] = {"service", "pod", "endpoints", "endpointslice",
	                                    "namespace"};

	return k < CLUSTER_KIND_COUNT ? names[k] : "object";
}

/* Carry over what the API server keeps on update: allocated clusterIPs, nodePorts and
 * healthCheckNodePort, and the creation time. OLD is the built (allocated) object of the
 * current snapshot. */
static void
inherit_service(struct cluster_objects *o, struct cluster_service *s,
                const struct cluster_service *old)
{
	size_t i, k;

	if (s->cluster_ip_text == NULL && s->n_cluster_ips_text == 0 && !old->headless &&
	    s->type != CLUSTER_SVC_EXTERNALNAME) {
		s->cluster_ip_text = old->cluster_ip_text;
		s->cluster_ips_text = old->cluster_ips_text;
		s->n_cluster_ips_text = old->n_cluster_ips_text;
	}
	if (s->type == CLUSTER_SVC_NODEPORT || s->type == CLUSTER_SVC_LOADBALANCER) {
		for (i = 0; i < s->n_ports; i++) {
			struct cluster_port *p = &s->ports[i];

			for (k = 0; p->node_port == 0 && k < old->n_ports; k++) {
				const struct cluster_port *q = &old->ports[k];
				bool named = p->name && q->name && !strcmp(p->name, q->name);

				if (q->proto == p->proto && (named || q->port == p->port))
					p->node_port = q->node_port;
			}
		}
	}
	if (s->type == CLUSTER_SVC_LOADBALANCER && s->external_policy == CLUSTER_POLICY_LOCAL &&
	    s->health_check_node_port == 0)
		s->health_check_node_port = old->health_check_node_port;
	if (s->meta.created == NULL && old->meta.created != NULL) {
		s->meta.created = arena_strdup(&o->arena, old->meta.created);
		s->meta.created_unix = old->meta.created_unix;
	}
}

static void
stamp_now(struct cluster_objects *o, struct cluster_meta *m)
{
	char buf[32];
	time_t now = time(NULL);
	struct tm tm;

	if (m->created != NULL)
		return;
	gmtime_r(&now, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	m->created = arena_strdup(&o->arena, buf);
	m->created_unix = (int64_t)now;
}

static int
ensure_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	fprintf(stderr, "error: cannot create %s: %s\n", path, strerror(errno));
	return -1;
}

struct plan {
	struct objref in;         /* the object from the input */
	struct cluster_meta *old; /* the object it replaces, or NULL */
	size_t old_file_objects;  /* objects in old's file */
};

int
ctl_create(struct ctl *ctl, bool apply)
{
	struct cluster_objects o;
	struct cluster *cur = NULL, *c = NULL;
	struct diag d;
	struct plan *plan = NULL;
	size_t counts[CLUSTER_KIND_COUNT], n_plan = 0, k, i, j, len;
	char *input = NULL;
	const char *verb = apply ? "apply" : "create";
	int rc = 1;

	cluster_objects_init(&o);
	diag_init(&d);
	if (ctl->file == NULL) {
		fprintf(stderr, "error: must specify -f FILE (or -f - for standard input)\n");
		goto done;
	}
	input = read_all(ctl->file, &len);
	if (input == NULL)
		goto done;
	/* The current cluster must be valid: it is what the new objects are checked against. */
	cur = ctl_load(ctl);
	if (cur == NULL)
		goto done;
	cluster_objects_load_dir(&o, ctl->zones, &d);
	for (k = 0; k < CLUSTER_KIND_COUNT; k++)
		kind_array(&o, (enum cluster_kind)k, &counts[k]);
	cluster_objects_load_buffer(&o, strcmp(ctl->file, "-") ? ctl->file : "<stdin>", input, len,
	                            &d);
	if (d.errors > 0) {
		diag_sort(&d);
		diag_print(&d, stderr);
		goto done;
	}
	plan = calloc(o.n_services + o.n_pods + o.n_endpoints + o.n_slices + o.n_namespaces + 1,
	              sizeof(*plan));
	if (plan == NULL)
		goto done;
	rc = 0;
	for (k = 0; k < CLUSTER_KIND_COUNT; k++) {
		size_t n;
		struct cluster_meta **arr = kind_array(&o, (enum cluster_kind)k, &n);

		for (i = counts[k]; i < n; i++) {
			struct plan *p = &plan[n_plan++];

			p->in = (struct objref){(enum cluster_kind)k, arr[i]};
			for (j = 0; j < counts[k]; j++)
				if (!arr[j]->dropped && same_object(arr[j], arr[i]))
					p->old = arr[j];
			if (p->old == NULL) {
				stamp_now(&o, arr[i]);
				continue;
			}
			if (!apply) {
				fprintf(stderr,
				        "Error from server (AlreadyExists): %s \"%s\" already "
				        "exists "
				        "(%s:%u)\n",
				        ctl_kind_plural((enum cluster_kind)k), arr[i]->name,
				        p->old->origin.file, p->old->origin.line);
				rc = 1;
				continue;
			}
			if (p->old->origin.in_list) {
				fprintf(stderr,
				        "error: %s \"%s\" is an item of a List in %s:%u; edit it "
				        "there\n",
				        kind_lower((enum cluster_kind)k), arr[i]->name,
				        p->old->origin.file, p->old->origin.line);
				rc = 1;
				continue;
			}
			p->old->dropped = true;
			p->old_file_objects = objects_in_file(&o, p->old->origin.file, counts);
			if (k == CLUSTER_KIND_SERVICE) {
				const struct cluster_service *built =
				        cluster_service_by_name(cur, arr[i]->ns, arr[i]->name);

				if (built != NULL)
					inherit_service(&o, (struct cluster_service *)arr[i],
					                built);
			}
		}
	}
	if (n_plan == 0) {
		fprintf(stderr, "error: no objects passed to %s\n", verb);
		rc = 1;
	}
	if (rc != 0)
		goto done;
	if (cluster_build(&o, &ctl->cfg, &d, &c) != SVC_OK) {
		diag_sort(&d);
		diag_print(&d, stderr);
		rc = 1;
		goto done;
	}
	for (i = 0; i < n_plan && rc == 0; i++) {
		struct plan *p = &plan[i];
		struct cluster_yaml_item item = {p->in.kind, p->in.meta};
		char path[4096], *yaml = NULL, *before = NULL;
		size_t ylen, blen = 0;
		const char *what = "created";

		if (cluster_yaml_dump(&item, 1, false, &yaml, &ylen) != SVC_OK) {
			rc = 1;
			break;
		}
		if (p->old != NULL && p->old_file_objects == 1) {
			snprintf(path, sizeof(path), "%s", p->old->origin.file);
			before = read_all(path, &blen);
			what = before && blen == ylen && !memcmp(before, yaml, ylen) ? "unchanged"
			                                                             : "configured";
			if (strcmp(what, "unchanged") != 0 && write_atomic(path, yaml, ylen) != 0)
				rc = 1;
		} else {
			if (p->in.meta->ns != NULL) {
				snprintf(path, sizeof(path), "%s/%s", ctl->zones, p->in.meta->ns);
				if (ensure_dir(path) != 0) {
					rc = 1;
					free(yaml);
					break;
				}
				snprintf(path, sizeof(path), "%s/%s/%s.%s.yaml", ctl->zones,
				         p->in.meta->ns, p->in.meta->name, kind_lower(p->in.kind));
			} else {
				snprintf(path, sizeof(path), "%s/%s.%s.yaml", ctl->zones,
				         p->in.meta->name, kind_lower(p->in.kind));
			}
			if (access(path, F_OK) == 0 &&
			    !(p->old != NULL && !strcmp(p->old->origin.file, path))) {
				fprintf(stderr, "error: %s already exists; not overwritten\n",
				        path);
				rc = 1;
			} else if (p->old != NULL) {
				what = "configured";
				/* The new version goes to its own file first, so a failure leaves
				 * the old one in place. */
				if (write_atomic(path, yaml, ylen) != 0 ||
				    splice_out(p->old->origin.file, p->old->origin.doc_start,
				               p->old->origin.doc_end) != 0)
					rc = 1;
			} else if (write_atomic(path, yaml, ylen) != 0) {
				rc = 1;
			}
		}
		if (rc == 0)
			printf("%s/%s %s\n", kind_lower(p->in.kind), p->in.meta->name, what);
		free(yaml);
		free(before);
	}
done:
	cluster_unref(c);
	cluster_unref(cur);
	free(plan);
	free(input);
	cluster_objects_deinit(&o);
	diag_deinit(&d);
	return rc;
}

int
ctl_delete(struct ctl *ctl)
{
	struct cluster_objects o;
	struct diag d;
	int kind, a, rc = 0;
	size_t counts[CLUSTER_KIND_COUNT], k, n, i;

	if (ctl->n_args < 2) {
		fprintf(stderr,
		        "error: usage: svcctl delete (service|pod|endpoints|namespace) NAME... "
		        "[-n NAMESPACE]\n");
		return 1;
	}
	kind = ctl_kind_parse(ctl->args[0]);
	if (kind < 0) {
		fprintf(stderr, "error: the server doesn't have a resource type \"%s\"\n",
		        ctl->args[0]);
		return 1;
	}
	cluster_objects_init(&o);
	diag_init(&d);
	cluster_objects_load_dir(&o, ctl->zones, &d);
	for (k = 0; k < CLUSTER_KIND_COUNT; k++)
		kind_array(&o, (enum cluster_kind)k, &counts[k]);
	for (a = 1; a < ctl->n_args; a++) {
		struct cluster_meta **arr = kind_array(&o, (enum cluster_kind)kind, &n);
		struct cluster_meta *found = NULL;

		for (i = 0; i < n; i++)
			if (!strcmp(arr[i]->name, ctl->args[a]) &&
			    (kind == CLUSTER_KIND_NAMESPACE || !strcmp(arr[i]->ns, ctl->ns)))
				found = arr[i];
		if (found == NULL) {
			fprintf(stderr, "Error from server (NotFound): %s \"%s\" not found\n",
			        ctl_kind_plural((enum cluster_kind)kind), ctl->args[a]);
			rc = 1;
			continue;
		}
		if (found->origin.in_list) {
			fprintf(stderr,
			        "error: %s \"%s\" is an item of a List in %s:%u; edit it there\n",
			        kind_lower((enum cluster_kind)kind), found->name,
			        found->origin.file, found->origin.line);
			rc = 1;
			continue;
		}
		if (objects_in_file(&o, found->origin.file, counts) == 1) {
			if (unlink(found->origin.file) != 0) {
				fprintf(stderr, "error: cannot remove %s: %s\n", found->origin.file,
				        strerror(errno));
				rc = 1;
				continue;
			}
		} else if (splice_out(found->origin.file, found->origin.doc_start,
		                      found->origin.doc_end) != 0) {
			rc = 1;
			continue;
		}
		printf("%s \"%s\" deleted\n", kind_lower((enum cluster_kind)kind), found->name);
		/* Later deletions from the same file need fresh byte offsets. */
		cluster_objects_deinit(&o);
		cluster_objects_init(&o);
		diag_clear(&d);
		cluster_objects_load_dir(&o, ctl->zones, &d);
		for (k = 0; k < CLUSTER_KIND_COUNT; k++)
			kind_array(&o, (enum cluster_kind)k, &counts[k]);
	}
	cluster_objects_deinit(&o);
	diag_deinit(&d);
	return rc;
}
