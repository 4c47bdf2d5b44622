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
#include "ctl_edit.h"
#include "ctl_etcd.h"
#include "htab.h"
#include "netaddr.h"

#define MAX_INPUT (64u << 20)

/* The -f file, or standard input for "-". */
static char *
read_input(const char *path, size_t *len)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	char *buf;

	if (fd < 0) {
		fprintf(stderr, "error: the path \"%s\" cannot be read: %s\n", path,
		        strerror(errno));
		return NULL;
	}
	buf = ctl_read_fd(fd, path, MAX_INPUT, len);
	if (fd != STDIN_FILENO)
		close(fd);
	return buf;
}

/* The objects of the zones directory by kind, namespace and name. */
struct objidx_entry {
	struct htab_node node;
	enum cluster_kind kind;
	struct cluster_meta *meta;
};

struct objidx {
	struct htab tab;
	struct objidx_entry *entries;
};

static uint32_t
objidx_hash(enum cluster_kind kind, const char *ns, const char *name)
{
	return htab_hash_str(name, htab_hash_str(ns ? ns : "", (uint32_t)kind + 1));
}

/* Index the first COUNTS[k] objects of each kind of O. -1 when out of memory. */
static int
objidx_build(struct objidx *x, struct cluster_objects *o, const size_t *counts)
{
	size_t total = 0, k, i, n, used = 0;

	htab_init(&x->tab);
	for (k = 0; k < CLUSTER_KIND_COUNT; k++)
		total += counts[k];
	x->entries = calloc(total + 1, sizeof(*x->entries));
	if (x->entries == NULL || htab_reserve(&x->tab, total) != SVC_OK)
		return -1;
	for (k = 0; k < CLUSTER_KIND_COUNT; k++) {
		struct cluster_meta **arr = cluster_objects_of(o, (enum cluster_kind)k, &n);

		for (i = 0; i < counts[k] && i < n; i++) {
			struct objidx_entry *en = &x->entries[used++];

			en->kind = (enum cluster_kind)k;
			en->meta = arr[i];
			htab_insert(&x->tab, &en->node,
			            objidx_hash(en->kind, arr[i]->ns, arr[i]->name));
		}
	}
	return 0;
}

/* The object of KIND named NAME in NS (NULL: not namespaced) not yet dropped, or NULL. */
static struct cluster_meta *
objidx_find(const struct objidx *x, enum cluster_kind kind, const char *ns, const char *name)
{
	uint32_t h = objidx_hash(kind, ns, name);
	struct htab_node *n;
	struct cluster_meta *found = NULL;

	for (n = htab_find(&x->tab, h); n != NULL; n = htab_next(n, h)) {
		struct objidx_entry *en = htab_item(n, struct objidx_entry, node);

		if (en->kind == kind && !en->meta->dropped && !strcmp(en->meta->name, name) &&
		    !strcmp(en->meta->ns ? en->meta->ns : "", ns ? ns : ""))
			found = en->meta;
	}
	return found;
}

static void
objidx_deinit(struct objidx *x)
{
	htab_deinit(&x->tab);
	free(x->entries);
	x->entries = NULL;
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

/* An update keeps the object's creation time, as the API server does. */
static void
keep_created(struct cluster_objects *o, struct cluster_meta *in, const struct cluster_meta *old)
{
	if (in->created == NULL && old->created != NULL) {
		in->created = arena_strdup(&o->arena, old->created);
		in->created_unix = old->created_unix;
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
	m->created_unix = (uint32_t)now;
}

struct plan {
	enum cluster_kind kind;
	struct cluster_meta *in;  /* the object from the input */
	struct cluster_meta *old; /* the object it replaces, or NULL */
};

static bool
is_dir(const char *path)
{
	struct stat sb;

	return strcmp(path, "-") != 0 && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The -f input: a directory (recursively, as the daemons read one) or the bytes read. */
static void
load_input(const struct ctl *ctl, struct cluster_objects *o, const char *input, size_t len,
           struct diag *d)
{
	if (input == NULL)
		cluster_objects_load_dir(o, ctl->file, d);
	else
		cluster_objects_load_buffer(o, strcmp(ctl->file, "-") ? ctl->file : "<stdin>",
		                            input, len, d);
}

/* After what O holds (COUNTS of each kind): the input, an index of the objects before it, and
 * room for a plan of every object. -1 when the input is invalid or memory runs out (printed). */
static int
prepare(const struct ctl *ctl, struct cluster_objects *o, const char *input, size_t len,
        struct diag *d, size_t *counts, struct objidx *idx, struct plan **plan)
{
	for (size_t k = 0; k < CLUSTER_KIND_COUNT; k++)
		cluster_objects_of(o, (enum cluster_kind)k, &counts[k]);
	load_input(ctl, o, input, len, d);
	if (d->errors > 0) {
		diag_sort(d);
		diag_print(d, stderr);
		return -1;
	}
	*plan = calloc(o->n_services + o->n_pods + o->n_endpoints + o->n_slices + o->n_namespaces +
	                       1,
	               sizeof(**plan));
	if (*plan == NULL || objidx_build(idx, o, counts) != 0) {
		fprintf(stderr, "error: out of memory\n");
		return -1;
	}
	return 0;
}

/* ---- etcd ---- */

/* Attempts of a create or apply whose claims another writer took first, each on a fresh read. */
#define ETCD_ATTEMPTS 8

static int64_t
rev_of(const struct cluster_meta *m)
{
	return m != NULL && m->resource_version != NULL ? strtoll(m->resource_version, NULL, 10)
	                                                : 0;
}

/* The claims of NEW not among OLD's (TAKE), and OLD's not among NEW's (LET GO). */
static void
claims_diff(const char *prefix, const struct cluster_service *new,
            const struct cluster_service *old, struct ctl_etcd_write *w)
{
	char(*a)[ETCDOBJ_KEY_MAX] = malloc(2 * ETCDOBJ_MAX_CLAIMS * ETCDOBJ_KEY_MAX);
	char(*b)[ETCDOBJ_KEY_MAX] = a != NULL ? a + ETCDOBJ_MAX_CLAIMS : NULL;
	size_t na = 0, nb = 0, i, k;

	w->claims = w->release = NULL;
	w->n_claims = w->n_release = 0;
	if (a == NULL)
		return;
	if (new != NULL)
		etcdobj_claims(prefix, new, a, &na);
	if (old != NULL)
		etcdobj_claims(prefix, old, b, &nb);
	w->claims = calloc(na + 1, ETCDOBJ_KEY_MAX);
	w->release = calloc(nb + 1, ETCDOBJ_KEY_MAX);
	for (i = 0; w->claims != NULL && i < na; i++) {
		for (k = 0; k < nb && strcmp(a[i], b[k]) != 0; k++)
			;
		if (k == nb)
			memcpy(w->claims[w->n_claims++], a[i], ETCDOBJ_KEY_MAX);
	}
	for (i = 0; w->release != NULL && i < nb; i++) {
		for (k = 0; k < na && strcmp(b[i], a[k]) != 0; k++)
			;
		if (k == na)
			memcpy(w->release[w->n_release++], b[i], ETCDOBJ_KEY_MAX);
	}
	free(a);
}

static void
writes_free(struct ctl_etcd_write *w, size_t n)
{
	for (size_t i = 0; w != NULL && i < n; i++) {
		free(w[i].value);
		free(w[i].claims);
		free(w[i].release);
	}
	free(w);
}

/* What is written for object IN: as built (a service with what allocation gave it, its
 * load-balancer addresses in its status, as etcd's readers take them), without what the store
 * owns. NULL when out of memory. */
static char *
etcd_value(const struct cluster *c, enum cluster_kind kind, const struct cluster_meta *in,
           size_t *len)
{
	struct cluster_yaml_item item = {kind, in};
	struct cluster_service svc;
	struct cluster_lb_ingress ing[2];
	char ips[2][NETADDR_STRLEN];
	const struct cluster_service *built;
	char *yaml = NULL;
	const char *rv = in->resource_version;

	if (kind == CLUSTER_KIND_SERVICE &&
	    (built = cluster_service_by_name(c, in->ns, in->name)) != NULL) {
		svc = *built;
		if (svc.lb_ip_allocated && svc.n_lb_ips > 0) {
			for (size_t i = 0; i < svc.n_lb_ips && i < 2; i++) {
				ing[i] = (struct cluster_lb_ingress){
				        .ip = netaddr_str(&svc.lb_ips[i], ips[i]),
				        .ip_addr = svc.lb_ips[i]};
			}
			svc.ingress = ing;
			svc.n_ingress = svc.n_lb_ips < 2 ? svc.n_lb_ips : 2;
		}
		svc.meta.resource_version = NULL;
		item.obj = &svc;
		if (cluster_yaml_dump(&item, 1, false, &yaml, len) != SVC_OK)
			yaml = NULL;
		return yaml;
	}
	((struct cluster_meta *)in)->resource_version = NULL;
	if (cluster_yaml_dump(&item, 1, false, &yaml, len) != SVC_OK)
		yaml = NULL;
	((struct cluster_meta *)in)->resource_version = rv;
	return yaml;
}

static void
print_conflict(enum cluster_kind kind, const char *name)
{
	fprintf(stderr,
	        "Error from server (Conflict): Operation cannot be fulfilled on %s \"%s\": the "
	        "object has been modified; please apply your changes to the latest version and "
	        "try again\n",
	        ctl_kind_plural(kind), name);
}

/* Objects of the input already written (or refused) by an earlier attempt: their kind, namespace
 * and name. */
static bool
settled(char **keys, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i], key))
			return true;
	return false;
}

/* One attempt: read etcd, plan the input against it, write. *RETRY: some claims were taken
 * by another writer first (those objects are tried again). */
static int
create_etcd_once(struct ctl *ctl, bool apply, const char *input, size_t len, char ***done,
                 size_t *n_done, bool *retry)
{
	const char *prefix = ctl_etcd_prefix(ctl->e);
	struct cluster_objects o;
	struct cluster *cur = NULL, *c = NULL;
	struct diag d;
	struct objidx idx = {0};
	struct plan *plan = NULL;
	struct ctl_etcd_write *w = NULL;
	size_t counts[CLUSTER_KIND_COUNT], n_plan = 0, n_write = 0, k, i, errors = 0;
	char key[ETCDOBJ_KEY_MAX];
	int rc = 1;

	*retry = false;
	cluster_objects_init(&o);
	diag_init(&d);
	if (ctl_etcd_load(ctl->e, ctl, -1, NULL, &o, &cur, &errors) != 0 || cur == NULL)
		goto done;
	if (prepare(ctl, &o, input, len, &d, counts, &idx, &plan) != 0)
		goto done;
	rc = 0;
	for (k = 0; k < CLUSTER_KIND_COUNT; k++) {
		size_t n;
		struct cluster_meta **arr = cluster_objects_of(&o, (enum cluster_kind)k, &n);

		for (i = counts[k]; i < n; i++) {
			struct cluster_meta *in = arr[i], *old;

			etcdobj_key(prefix, (enum cluster_kind)k, in->ns, in->name, key);
			if (settled(*done, *n_done, key)) {
				in->dropped = true;
				continue;
			}
			old = objidx_find(&idx, (enum cluster_kind)k, in->ns, in->name);
			if (old != NULL && !apply) {
				fprintf(stderr,
				        "Error from server (AlreadyExists): %s \"%s\" already "
				        "exists\n",
				        ctl_kind_plural((enum cluster_kind)k), in->name);
				in->dropped = true;
				rc = 1;
				continue;
			}
			if (old != NULL && in->resource_version != NULL &&
			    strcmp(in->resource_version, old->resource_version) != 0) {
				print_conflict((enum cluster_kind)k, in->name);
				in->dropped = true;
				rc = 1;
				continue;
			}
			plan[n_plan++] = (struct plan){(enum cluster_kind)k, in, old};
			if (old == NULL) {
				stamp_now(&o, in);
				continue;
			}
			old->dropped = true;
			keep_created(&o, in, old);
			if (k == CLUSTER_KIND_SERVICE) {
				const struct cluster_service *built =
				        cluster_service_by_name(cur, in->ns, in->name);

				if (built != NULL)
					inherit_service(&o, (struct cluster_service *)in, built);
			}
		}
	}
	if (n_plan == 0) {
		if (rc == 0 && *n_done == 0) {
			fprintf(stderr, "error: no objects passed to %s\n",
			        apply ? "apply" : "create");
			rc = 1;
		}
		goto done;
	}
	if (cluster_build(&o, &ctl->cfg, &d, &c) != SVC_OK || d.errors > 0) {
		diag_sort(&d);
		diag_print(&d, stderr);
		rc = 1;
		goto done;
	}
	w = calloc(n_plan, sizeof(*w));
	if (w == NULL)
		goto oom;
	for (i = 0; i < n_plan; i++) {
		struct plan *p = &plan[i];
		struct ctl_etcd_write *x = &w[n_write];
		const struct cluster_service *nsvc = NULL, *osvc = NULL;
		char *was = NULL;
		size_t was_len = 0;

		*x = (struct ctl_etcd_write){.kind = p->kind,
		                             .ns = p->in->ns,
		                             .name = p->in->name,
		                             .expect_rev = rev_of(p->old)};
		x->value = etcd_value(c, p->kind, p->in, &x->len);
		if (x->value == NULL)
			goto oom;
		/* What etcd holds already, as it would be written: nothing to do. */
		if (p->old != NULL && (was = etcd_value(cur, p->kind, p->old, &was_len)) != NULL &&
		    was_len == x->len && memcmp(was, x->value, was_len) == 0) {
			printf("%s/%s unchanged\n", ctl_kind_lower(p->kind), p->in->name);
			free(was);
			free(x->value);
			x->value = NULL;
			continue;
		}
		free(was);
		plan[n_write++] = *p; /* the writes and their plans, in step */
		if (p->kind == CLUSTER_KIND_SERVICE) {
			nsvc = cluster_service_by_name(c, x->ns, x->name);
			if (plan[n_write - 1].old != NULL)
				osvc = cluster_service_by_name(cur, x->ns, x->name);
			claims_diff(prefix, nsvc, osvc, x);
			if (x->claims == NULL || x->release == NULL)
				goto oom;
		}
	}
	if (n_write > 0 && ctl_etcd_commit(ctl->e, w, n_write) != 0)
		rc = 1;
	for (i = 0; i < n_write; i++) {
		const char *what = plan[i].old != NULL ? "configured" : "created";

		etcdobj_key(prefix, w[i].kind, w[i].ns, w[i].name, key);
		switch (w[i].result) {
		case CTL_ETCD_DONE:
			printf("%s/%s %s\n", ctl_kind_lower(w[i].kind), w[i].name,
			       ctl->result_word != NULL ? ctl->result_word : what);
			break;
		case CTL_ETCD_CHANGED:
			/* Written by another since we read it. */
			if (!apply && plan[i].old == NULL)
				fprintf(stderr,
				        "Error from server (AlreadyExists): %s \"%s\" already "
				        "exists\n",
				        ctl_kind_plural(w[i].kind), w[i].name);
			else if (plan[i].in->resource_version != NULL)
				print_conflict(w[i].kind, w[i].name);
			else {
				*retry = true; /* read it again and apply on what it is now */
				continue;
			}
			rc = 1;
			break;
		case CTL_ETCD_CLAIMED:
			*retry = true;
			continue;
		case CTL_ETCD_FAILED:
			rc = 1;
			continue;
		}
		char **grown = realloc(*done, (*n_done + 1) * sizeof(**done));

		if (grown == NULL || (grown[*n_done] = strdup(key)) == NULL) {
			if (grown != NULL)
				*done = grown;
			goto oom;
		}
		*done = grown;
		(*n_done)++;
	}
	goto done;
oom:
	fprintf(stderr, "error: out of memory\n");
	rc = 1;
done:
	writes_free(w, n_write);
	objidx_deinit(&idx);
	cluster_unref(c);
	cluster_unref(cur);
	free(plan);
	cluster_objects_deinit(&o);
	diag_deinit(&d);
	return rc;
}

static int
create_etcd(struct ctl *ctl, bool apply)
{
	char *input = NULL, **done = NULL;
	size_t len = 0, n_done = 0, i;
	bool retry = true;
	int rc = 1, attempt;

	if (!is_dir(ctl->file) && (input = read_input(ctl->file, &len)) == NULL)
		return 1;
	for (attempt = 0; retry && attempt < ETCD_ATTEMPTS; attempt++) {
		int r = create_etcd_once(ctl, apply, input, len, &done, &n_done, &retry);

		rc = attempt == 0 ? r : (rc | r);
		if (r != 0 && !retry)
			break;
	}
	if (retry) {
		fprintf(stderr,
		        "error: other writers kept taking the same addresses; %zu objects "
		        "were written, run it again for the rest\n",
		        n_done);
		rc = 1;
	}
	for (i = 0; i < n_done; i++)
		free(done[i]);
	free(done);
	free(input);
	return rc;
}

static int
delete_etcd(struct ctl *ctl, enum cluster_kind kind)
{
	struct cluster_objects o;
	struct cluster *cur = NULL;
	struct objidx idx = {0};
	struct ctl_etcd_write *w = NULL;
	size_t counts[CLUSTER_KIND_COUNT], k, n = 0, errors;
	int a, rc = 0;

	cluster_objects_init(&o);
	if (ctl_etcd_load(ctl->e, ctl, -1, NULL, &o, &cur, &errors) != 0 || cur == NULL) {
		rc = 1;
		goto done;
	}
	for (k = 0; k < CLUSTER_KIND_COUNT; k++)
		cluster_objects_of(&o, (enum cluster_kind)k, &counts[k]);
	w = calloc((size_t)ctl->n_args, sizeof(*w));
	if (w == NULL || objidx_build(&idx, &o, counts) != 0) {
		fprintf(stderr, "error: out of memory\n");
		rc = 1;
		goto done;
	}
	for (a = 1; a < ctl->n_args; a++) {
		struct cluster_meta *found = objidx_find(
		        &idx, kind, kind == CLUSTER_KIND_NAMESPACE ? NULL : ctl->ns, ctl->args[a]);

		if (found == NULL) {
			fprintf(stderr, "Error from server (NotFound): %s \"%s\" not found\n",
			        ctl_kind_plural(kind), ctl->args[a]);
			rc = 1;
			continue;
		}
		found->dropped = true; /* named twice: the second one is already gone */
		w[n] = (struct ctl_etcd_write){.kind = kind,
		                               .ns = found->ns,
		                               .name = found->name,
		                               .expect_rev = rev_of(found)};
		if (kind == CLUSTER_KIND_SERVICE) {
			claims_diff(ctl_etcd_prefix(ctl->e), NULL,
			            cluster_service_by_name(cur, found->ns, found->name), &w[n]);
			if (w[n].claims == NULL || w[n].release == NULL) {
				n++;
				rc = 1;
				goto done;
			}
		}
		n++;
	}
	if (n > 0 && ctl_etcd_commit(ctl->e, w, n) != 0)
		rc = 1;
	for (k = 0; k < n; k++) {
		if (w[k].result == CTL_ETCD_DONE) {
			printf("%s \"%s\" deleted\n", ctl_kind_lower(kind), w[k].name);
		} else if (w[k].result == CTL_ETCD_CHANGED) {
			print_conflict(kind, w[k].name);
			rc = 1;
		}
	}
done:
	writes_free(w, n);
	objidx_deinit(&idx);
	cluster_unref(cur);
	cluster_objects_deinit(&o);
	return rc;
}

int
ctl_create(struct ctl *ctl, bool apply)
{
	struct cluster_objects o;
	struct cluster *cur = NULL, *c = NULL;
	struct diag d;
	struct objidx idx = {0};
	struct ctl_edit e;
	struct plan *plan = NULL;
	size_t counts[CLUSTER_KIND_COUNT], n_plan = 0, k, i, len, errors = 0;
	char *input = NULL;
	const char *verb = apply ? "apply" : "create";
	int rc = 1;

	cluster_objects_init(&o);
	diag_init(&d);
	ctl_edit_init(&e, ctl->zones);
	if (ctl->file == NULL) {
		fprintf(stderr, "error: must specify -f FILE (or -f - for standard input)\n");
		goto done;
	}
	if (ctl->e != NULL) {
		rc = create_etcd(ctl, apply);
		goto done;
	}
	if (!is_dir(ctl->file) && (input = read_input(ctl->file, &len)) == NULL)
		goto done;
	/* Locked before anything is read: a concurrent svcctl has finished, and what we check
	 * against is what we write into. */
	if (ctl_edit_lock(&e) != 0)
		goto done;
	/* The current cluster must be valid: it is what the new objects are checked against. */
	cur = ctl_load(ctl, &errors);
	if (cur == NULL || errors > 0) {
		fprintf(stderr, "error: %s: %zu errors; nothing was changed\n", ctl->zones, errors);
		goto done;
	}
	cluster_objects_load_dir(&o, ctl->zones, &d);
	if (prepare(ctl, &o, input, len, &d, counts, &idx, &plan) != 0)
		goto done;
	rc = 0;
	for (k = 0; k < CLUSTER_KIND_COUNT; k++) {
		size_t n;
		struct cluster_meta **arr = cluster_objects_of(&o, (enum cluster_kind)k, &n);

		for (i = counts[k]; i < n; i++) {
			struct plan *p = &plan[n_plan++];

			p->kind = (enum cluster_kind)k;
			p->in = arr[i];
			p->old = objidx_find(&idx, p->kind, arr[i]->ns, arr[i]->name);
			if (p->old == NULL) {
				stamp_now(&o, arr[i]);
				continue;
			}
			if (!apply) {
				fprintf(stderr,
				        "Error from server (AlreadyExists): %s \"%s\" already "
				        "exists (%s:%u)\n",
				        ctl_kind_plural(p->kind), arr[i]->name, p->old->origin.file,
				        p->old->origin.line);
				rc = 1;
				continue;
			}
			if (p->old->origin.in_list) {
				fprintf(stderr,
				        "error: %s \"%s\" is an item of a List in %s:%u; edit it "
				        "there\n",
				        ctl_kind_lower(p->kind), arr[i]->name, p->old->origin.file,
				        p->old->origin.line);
				rc = 1;
				continue;
			}
			p->old->dropped = true;
			keep_created(&o, arr[i], p->old);
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
	/* Every object becomes one edit: its document replaced in place, or a new file. */
	for (i = 0; i < n_plan && rc == 0; i++) {
		struct plan *p = &plan[i];
		struct cluster_yaml_item item = {p->kind, p->in};
		const struct cluster_service *built_svc;

		/* A service is written as the snapshot holds it: with what allocation gave it. */
		if (p->kind == CLUSTER_KIND_SERVICE &&
		    (built_svc = cluster_service_by_name(c, p->in->ns, p->in->name)) != NULL)
			item.obj = built_svc;
		char *yaml = NULL;
		size_t ylen;

		if (cluster_yaml_dump(&item, 1, false, &yaml, &ylen) != SVC_OK) {
			fprintf(stderr, "error: %s \"%s\": out of memory\n",
			        ctl_kind_lower(p->kind), p->in->name);
			rc = 1;
		} else if (p->old != NULL) {
			rc = ctl_edit_replace(&e, p->kind, p->old, yaml, ylen) != 0;
		} else {
			rc = ctl_edit_create(&e, p->kind, p->in, yaml, ylen) != 0;
		}
	}
	if (rc == 0 && ctl_edit_commit(&e) != 0)
		rc = 1;
	for (i = 0; i < e.n_ops; i++) {
		const struct ctl_edit_op *op = &e.ops[i];

		if (op->result != NULL)
			printf("%s/%s %s\n", ctl_kind_lower(op->kind), op->obj->name,
			       ctl->result_word != NULL ? ctl->result_word : op->result);
	}
done:
	ctl_edit_close(&e);
	objidx_deinit(&idx);
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
	struct objidx idx = {0};
	struct ctl_edit e;
	int kind, a, rc = 0;
	size_t counts[CLUSTER_KIND_COUNT], k, i;

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
	ctl_edit_init(&e, ctl->zones);
	if (ctl->e != NULL) {
		rc = delete_etcd(ctl, (enum cluster_kind)kind);
		goto done;
	}
	if (ctl_edit_lock(&e) != 0) {
		rc = 1;
		goto done;
	}
	cluster_objects_load_dir(&o, ctl->zones, &d);
	for (k = 0; k < CLUSTER_KIND_COUNT; k++)
		cluster_objects_of(&o, (enum cluster_kind)k, &counts[k]);
	if (objidx_build(&idx, &o, counts) != 0) {
		fprintf(stderr, "error: out of memory\n");
		rc = 1;
		goto done;
	}
	for (a = 1; a < ctl->n_args; a++) {
		struct cluster_meta *found =
		        objidx_find(&idx, (enum cluster_kind)kind,
		                    kind == CLUSTER_KIND_NAMESPACE ? NULL : ctl->ns, ctl->args[a]);

		if (found == NULL) {
			fprintf(stderr, "Error from server (NotFound): %s \"%s\" not found\n",
			        ctl_kind_plural((enum cluster_kind)kind), ctl->args[a]);
			rc = 1;
			continue;
		}
		if (found->origin.in_list) {
			fprintf(stderr,
			        "error: %s \"%s\" is an item of a List in %s:%u; edit it there\n",
			        ctl_kind_lower((enum cluster_kind)kind), found->name,
			        found->origin.file, found->origin.line);
			rc = 1;
			continue;
		}
		/* Named twice: the second one is already gone. */
		found->dropped = true;
		if (ctl_edit_remove(&e, (enum cluster_kind)kind, found) != 0) {
			rc = 1;
			goto done;
		}
	}
	/* The objects found are deleted even when another name was not, as kubectl does. */
	if (e.n_ops > 0 && ctl_edit_commit(&e) != 0)
		rc = 1;
	for (i = 0; i < e.n_ops; i++) {
		if (e.ops[i].result != NULL)
			printf("%s \"%s\" deleted\n", ctl_kind_lower(e.ops[i].kind),
			       e.ops[i].obj->name);
	}
done:
	ctl_edit_close(&e);
	objidx_deinit(&idx);
	cluster_objects_deinit(&o);
	diag_deinit(&d);
	return rc;
}
