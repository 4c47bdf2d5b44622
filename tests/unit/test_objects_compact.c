/* test_objects_compact.c -- what a loaded unit costs. Equal strings are decoded once. Its
 * objects are copied into one block of their size: every manifest of the example cluster and of
 * the fuzz corpus compacts (no pointer unknown to the schema walk is left behind), and reads
 * back field for field as loaded. Under the sanitizers the old blocks are freed, so any pointer
 * left into them is a reported use after free. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "build.h"
#include "cluster.h"
#include "schema.h"

static size_t n_files, n_objects, n_refused;

/* Load and validate PATH into O, as a store does; whether it was clean: no errors, and no
 * warnings (an object ignored with a warning stays in the arena, unreachable, and its pointers
 * there make compaction refuse: memory only). */
static bool
load(const char *path, struct cluster_objects *o, const struct cluster_config *cfg)
{
	struct diag d;
	bool bad;

	diag_init(&d);
	cluster_objects_init(o);
	bad = cluster_objects_load_file(o, path, &d) != SVC_OK;
	validate_objects(o, cfg, &d);
	bad |= d.n > 0;
	cluster_objects_forget_positions(o);
	diag_deinit(&d);
	return !bad;
}

static void
same_derived(enum cluster_kind k, const struct cluster_meta *a, const struct cluster_meta *b)
{
	assert_string_equal(a->origin.file, b->origin.file);
	assert_memory_equal(&a->name_pos, &b->name_pos, sizeof(a->name_pos));
	if (k == CLUSTER_KIND_SERVICE) {
		const struct cluster_service *x = (const void *)a, *y = (const void *)b;

		assert_int_equal(x->n_cluster_ips, y->n_cluster_ips);
		assert_memory_equal(x->cluster_ips, y->cluster_ips, sizeof(x->cluster_ips));
		for (size_t i = 0; i < x->n_external_ips_text && x->external_ips != NULL; i++)
			assert_true(netaddr_equal(&x->external_ips[i], &y->external_ips[i]));
		for (size_t i = 0; i < x->n_lb_source_ranges; i++)
			assert_memory_equal(&x->lb_source_ranges[i], &y->lb_source_ranges[i],
			                    sizeof(x->lb_source_ranges[i]));
		for (size_t i = 0; i < x->n_ip_families_text; i++)
			assert_string_equal(x->ip_families_text[i], y->ip_families_text[i]);
	}
	if (k == CLUSTER_KIND_POD) {
		const struct cluster_pod *x = (const void *)a, *y = (const void *)b;

		assert_int_equal(x->n_ips, y->n_ips);
		for (size_t i = 0; i < x->n_ips; i++)
			assert_true(netaddr_equal(&x->ips[i], &y->ips[i]));
		assert_int_equal(x->ready, y->ready);
	}
}

static void
check_file(const char *path)
{
	struct cluster_config cfg;
	struct cluster_objects a, b;
	bool valid;

	cluster_config_init(&cfg);
	if (cluster_config_set_lb_pools(&cfg, "192.0.2.0/29") != SVC_OK)
		fail();
	valid = load(path, &a, &cfg);
	load(path, &b, &cfg);
	/* A store keeps (and compacts) valid units only; one with problems may be refused, but
	 * what it compacts must read back the same too. */
	if (!cluster_objects_compact(&b)) {
		if (valid)
			fail_msg("%s: a pointer the walk does not know of", path);
		n_refused++;
	}
	for (int k = 0; k < CLUSTER_KIND_COUNT; k++) {
		size_t na, nb;
		struct cluster_meta **xa = cluster_objects_of(&a, (enum cluster_kind)k, &na);
		struct cluster_meta **xb = cluster_objects_of(&b, (enum cluster_kind)k, &nb);

		assert_int_equal(na, nb);
		for (size_t i = 0; i < na; i++) {
			if (!schema_equal(schema_kinds[k].doc, xa[i], xb[i]))
				fail_msg("%s: %s %s differs after compaction", path,
				         schema_kinds[k].kind, xa[i]->name ? xa[i]->name : "?");
			same_derived((enum cluster_kind)k, xa[i], xb[i]);
			n_objects++;
		}
	}
	cluster_objects_deinit(&a);
	cluster_objects_deinit(&b);
	n_files++;
}

static void
walk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode))
			walk(path);
		else if (S_ISREG(st.st_mode))
			check_file(path);
	}
	closedir(d);
}

static void
test_corpus(void **state)
{
	const char *src = getenv("SVC_SOURCE_DIR");
	char dir[4096];

	(void)state;
	assert_non_null(src); /* set by ctest */
	snprintf(dir, sizeof(dir), "%s/zones", src);
	walk(dir);
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/manifest.in", src);
	walk(dir);
	/* The corpus is there and holds objects of every kind. */
	assert_true(n_files > 20);
	assert_true(n_objects > 100);
	assert_true(n_refused < n_files / 4);
}

/* Equal strings decoded into one unit are one copy; their fields read as written. */
static void
test_strings_shared(void **state)
{
	static const char yaml[] =
	        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: shop, labels: {app: "
	        "web}}\n"
	        "status: {podIP: 10.0.0.1, conditions: [{type: Ready, status: \"True\"}]}\n"
	        "---\napiVersion: v1\nkind: Pod\n"
	        "metadata: {name: b, namespace: shop, labels: {app: web, tier: shop}}\n"
	        "status: {podIP: 10.0.0.2, conditions: [{type: Ready, status: \"False\"}]}\n";
	struct cluster_objects o;
	struct diag d;
	const struct cluster_pod *a, *b;

	(void)state;
	diag_init(&d);
	cluster_objects_init(&o);
	assert_int_equal(cluster_objects_load_buffer(&o, "mem.yaml", yaml, strlen(yaml), &d),
	                 SVC_OK);
	assert_int_equal(d.n, 0);
	assert_int_equal(o.n_pods, 2);
	a = strcmp(o.pods[0]->meta.name, "a") == 0 ? o.pods[0] : o.pods[1];
	b = a == o.pods[0] ? o.pods[1] : o.pods[0];
	assert_string_equal(a->meta.ns, "shop");
	assert_ptr_equal(a->meta.ns, b->meta.ns);
	assert_ptr_equal(a->meta.labels.items[0].key, b->meta.labels.items[0].key);
	assert_ptr_equal(a->meta.labels.items[0].value, b->meta.labels.items[0].value);
	assert_ptr_equal(b->meta.labels.items[1].value, b->meta.ns); /* "shop" twice */
	assert_string_equal(b->meta.labels.items[1].key, "tier");
	assert_ptr_equal(a->conditions[0].type, b->conditions[0].type);
	assert_string_equal(a->conditions[0].status, "True");
	assert_string_equal(b->conditions[0].status, "False");
	assert_ptr_not_equal(a->meta.name, b->meta.name);
	/* Sharing ends with loading: the table goes with the positions. */
	cluster_objects_forget_positions(&o);
	assert_int_equal(o.strings.n, 0);
	cluster_objects_deinit(&o);
	diag_deinit(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_corpus),
	        cmocka_unit_test(test_strings_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
