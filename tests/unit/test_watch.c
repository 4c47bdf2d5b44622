/* test_watch.c -- rebuilding the model when manifest files change (inotify + libevent), and
 * following links as the loader does: a ConfigMap volume's "..data" swap, a zones directory that
 * is a link swapped to a new target or a directory moved away and replaced, a manifest linked
 * from outside the tree, link loops (issue 9, item 4). */
#include "testutil.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "watch.h"

struct wctx {
	struct event_base *base;
	int calls, target;
	struct cluster *last; /* the last good snapshot */
	bool last_was_null;
	size_t errors, warnings;
	char first_error[1024];
	uint64_t generation;
};

static void
on_change(struct cluster *fresh, const struct diag *d, void *arg)
{
	struct wctx *x = arg;

	x->calls++;
	x->errors = d->errors;
	x->warnings = d->warnings;
	x->first_error[0] = '\0';
	if (d->n > 0)
		diag_format(&d->entries[0], x->first_error, sizeof(x->first_error));
	x->last_was_null = fresh == NULL;
	if (fresh != NULL) {
		x->generation = fresh->generation;
		cluster_unref(x->last);
		x->last = fresh;
	}
	if (x->calls >= x->target)
		event_base_loopbreak(x->base);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Run the loop until the callback has run TARGET times in all or MS pass. The time taken, or -1
 * on timeout. */
static double
wait_calls(struct wctx *x, int target, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *t = evtimer_new(x->base, on_timeout, x->base);
	double start = now_ms();

	assert_non_null(t);
	x->target = target;
	evtimer_add(t, &tv);
	if (x->calls < target)
		event_base_dispatch(x->base);
	event_free(t);
	return x->calls >= target ? now_ms() - start : -1;
}

static const char *
service_yaml(const char *name)
{
	static char buf[256];

	snprintf(buf, sizeof(buf),
	         "apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec: {ports: [{port: "
	         "80}]}\n",
	         name);
	return buf;
}

static bool
has_service(const struct wctx *x, const char *name)
{
	return x->last != NULL && cluster_service_by_name(x->last, "default", name) != NULL;
}

static void
test_watch(void **state)
{
	char *dir = tu_tmpdir();
	char path[4096], path2[4096];
	struct cluster_config cfg;
	struct watch *w = NULL;
	struct wctx x = {0};
	double ms;

	(void)state;
	assert_non_null(dir);
	x.base = event_base_new();
	assert_non_null(x.base);
	cluster_config_init(&cfg);
	tu_write(dir, "a.yaml", service_yaml("a"));
	assert_int_equal(watch_create(x.base, dir, &cfg, 50, on_change, &x, &w), SVC_OK);
	assert_non_null(w);
	/* Nothing is built until asked. */
	assert_int_equal(x.calls, 0);
	assert_int_equal(watch_generation(w), 0);

	/* The first snapshot, synchronously. */
	watch_reload(w);
	assert_int_equal(x.calls, 1);
	assert_false(x.last_was_null);
	assert_true(has_service(&x, "a"));
	assert_int_equal(x.generation, 1);
	assert_int_equal(watch_generation(w), 1);

	/* A new file: a new snapshot with the new service, well within a second. */
	tu_write(dir, "b.yaml", service_yaml("b"));
	ms = wait_calls(&x, 2, 2000);
	assert_true(ms >= 0);
	assert_true(ms < 1000);
	assert_false(x.last_was_null);
	assert_true(has_service(&x, "a"));
	assert_true(has_service(&x, "b"));
	assert_int_equal(x.last->n_services, 2);
	assert_int_equal(x.generation, 2);

	/* A new invalid file: the error, and it is left out while the rest serves. */
	tu_write(dir, "c.yaml", service_yaml("Bad_Name"));
	ms = wait_calls(&x, 3, 2000);
	assert_true(ms >= 0 && ms < 1000);
	assert_false(x.last_was_null);
	assert_int_equal(x.last->n_services, 2);
	assert_int_equal(x.last->units_in_error, 1);
	assert_int_equal(x.errors, 1);
	assert_non_null(strstr(x.first_error, "/c.yaml:3:"));
	assert_non_null(strstr(x.first_error, "metadata.name: Invalid value: \"Bad_Name\""));
	assert_int_equal(watch_generation(w), 3);
	assert_true(has_service(&x, "b"));

	/* Fixed: valid again. */
	tu_write(dir, "c.yaml", service_yaml("c"));
	ms = wait_calls(&x, 4, 2000);
	assert_true(ms >= 0 && ms < 1000);
	assert_false(x.last_was_null);
	assert_int_equal(x.errors, 0);
	assert_true(has_service(&x, "c"));
	assert_int_equal(x.last->n_services, 3);
	assert_int_equal(x.last->generation, 4);
	assert_int_equal(x.last->units_in_error, 0);

	/* A file that turns invalid keeps its last good objects in service. */
	tu_write(dir, "c.yaml", service_yaml("Bad_Again"));
	ms = wait_calls(&x, 5, 2000);
	assert_true(ms >= 0 && ms < 1000);
	assert_false(x.last_was_null);
	assert_int_equal(x.errors, 1);
	assert_non_null(strstr(x.first_error, "/c.yaml:3:"));
	assert_true(has_service(&x, "c"));
	assert_int_equal(x.last->n_services, 3);
	assert_int_equal(x.last->units_in_error, 1);
	tu_write(dir, "c.yaml", service_yaml("c"));
	ms = wait_calls(&x, 6, 2000);
	assert_true(ms >= 0 && ms < 1000);
	assert_int_equal(x.errors, 0);
	assert_int_equal(x.last->units_in_error, 0);

	/* Dot files (editors', svcctl's temporary files) do not count... */
	tu_write(dir, ".c.yaml.tmp", service_yaml("tmp"));
	assert_true(wait_calls(&x, 7, 300) < 0);
	assert_int_equal(x.calls, 6);
	/* ...until renamed into place. */
	snprintf(path, sizeof(path), "%s/.c.yaml.tmp", dir);
	snprintf(path2, sizeof(path2), "%s/t.yaml", dir);
	assert_int_equal(rename(path, path2), 0);
	ms = wait_calls(&x, 7, 2000);
	assert_true(ms >= 0 && ms < 1000);
	assert_true(has_service(&x, "tmp"));

	/* A new subdirectory is watched too. */
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	tu_write(dir, "sub/d.yaml", service_yaml("d"));
	assert_true(wait_calls(&x, 8, 2000) >= 0);
	assert_true(has_service(&x, "d"));
	tu_write(dir, "sub/d.yaml", service_yaml("d2"));
	ms = wait_calls(&x, x.calls + 1, 2000);
	assert_true(ms >= 0 && ms < 1000);
	assert_true(has_service(&x, "d2"));
	assert_false(has_service(&x, "d"));

	/* Removing a file removes its objects. */
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	assert_int_equal(unlink(path), 0);
	ms = wait_calls(&x, x.calls + 1, 2000);
	assert_true(ms >= 0 && ms < 1000);
	assert_false(has_service(&x, "a"));
	assert_true(has_service(&x, "b"));

	watch_destroy(w);
	cluster_unref(x.last);
	event_base_free(x.base);
	tu_rmrf(dir);
	free(dir);
}

static void
test_debounce(void **state)
{
	char *dir = tu_tmpdir();
	struct cluster_config cfg;
	struct watch *w = NULL;
	struct wctx x = {0};
	char name[32];
	int i;

	(void)state;
	x.base = event_base_new();
	cluster_config_init(&cfg);
	assert_int_equal(watch_create(x.base, dir, &cfg, 200, on_change, &x, &w), SVC_OK);
	/* A burst of writes gives one rebuild. */
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "s%d.yaml", i);
		tu_write(dir, name, service_yaml("first"));
		tu_write(dir, name, service_yaml(i % 2 ? "odd" : "even"));
	}
	assert_true(wait_calls(&x, 1, 2000) >= 0);
	assert_int_equal(wait_calls(&x, 2, 500), -1);
	assert_int_equal(x.calls, 1);
	/* Two files define the same services: the error is reported, the first file keeps them. */
	assert_false(x.last_was_null);
	assert_int_equal(x.last->n_services, 2);
	assert_true(x.errors > 0);
	assert_non_null(strstr(x.first_error, "Duplicate value"));
	watch_destroy(w);
	cluster_unref(x.last);
	event_base_free(x.base);
	tu_rmrf(dir);
	free(dir);
}

static void
test_missing_dir(void **state)
{
	struct event_base *base = event_base_new();
	struct cluster_config cfg;
	struct watch *w = (struct watch *)1;
	struct wctx x = {0};

	(void)state;
	cluster_config_init(&cfg);
	assert_int_equal(
	        watch_create(base, "/nonexistent/svcdns-watch", &cfg, 50, on_change, &x, &w),
	        SVC_ENOENT);
	assert_null(w);
	watch_destroy(NULL);
	event_base_free(base);
}

/* Let the rebuilds that pending events cause happen (none, one or more). */
static void
settle(struct wctx *x)
{
	while (wait_calls(x, x->calls + 1, 400) >= 0)
		;
}

struct fixture {
	char *dir;
	struct wctx x;
	struct watch *w;
};

static void
start(struct fixture *f, const char *zones)
{
	struct cluster_config cfg;

	f->x.base = event_base_new();
	assert_non_null(f->x.base);
	cluster_config_init(&cfg);
	assert_int_equal(watch_create(f->x.base, zones, &cfg, 50, on_change, &f->x, &f->w), SVC_OK);
	watch_reload(f->w);
	assert_int_equal(f->x.calls, 1);
	assert_false(f->x.last_was_null);
}

static void
stop(struct fixture *f)
{
	watch_destroy(f->w);
	cluster_unref(f->x.last);
	event_base_free(f->x.base);
	tu_rmrf(f->dir);
	free(f->dir);
}

/* kubelet's update of a ConfigMap volume: a new hidden directory, a "..data_tmp" link to it
 * renamed over "..data", the old directory removed. The rename alone triggers a rebuild. */
static void
test_configmap_swap(void **state)
{
	struct fixture f = {.dir = tu_tmpdir()};

	(void)state;
	tu_mkdir(f.dir, "..2024_05_01_10_00_00.1");
	tu_write(f.dir, "..2024_05_01_10_00_00.1/svc.yaml", service_yaml("one"));
	tu_symlink(f.dir, "..data", "..2024_05_01_10_00_00.1");
	tu_symlink(f.dir, "svc.yaml", "..data/svc.yaml");
	start(&f, f.dir);
	assert_true(has_service(&f.x, "one"));

	tu_mkdir(f.dir, "..2024_05_01_10_05_00.2");
	tu_write(f.dir, "..2024_05_01_10_05_00.2/svc.yaml", service_yaml("two"));
	settle(&f.x); /* whatever the new directory caused, it still shows the old version */
	assert_true(has_service(&f.x, "one"));

	tu_symlink(f.dir, "..data_tmp", "..2024_05_01_10_05_00.2");
	tu_rename(f.dir, "..data_tmp", "..data");
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000) >= 0);
	assert_false(f.x.last_was_null);
	assert_true(has_service(&f.x, "two"));
	assert_false(has_service(&f.x, "one"));

	/* The old version goes; the new stays. */
	{
		char p[4096];

		snprintf(p, sizeof(p), "%s/%s", f.dir, "..2024_05_01_10_00_00.1");
		tu_rmrf(p);
	}
	settle(&f.x);
	assert_true(has_service(&f.x, "two"));
	stop(&f);
}

/* zones -> v1, swapped to v2 by renaming a new link over it: rebuilt from v2, and from then on
 * changes in v2 count and changes in v1 do not. */
static void
test_root_link_swap(void **state)
{
	struct fixture f = {.dir = tu_tmpdir()};
	char zones[4096];

	(void)state;
	tu_mkdir(f.dir, "v1");
	tu_mkdir(f.dir, "v2");
	tu_write(f.dir, "v1/a.yaml", service_yaml("one"));
	tu_write(f.dir, "v2/a.yaml", service_yaml("two"));
	tu_symlink(f.dir, "zones", "v1");
	snprintf(zones, sizeof(zones), "%s/%s", f.dir, "zones");
	start(&f, zones);
	assert_true(has_service(&f.x, "one"));

	tu_symlink(f.dir, ".zones.tmp", "v2"); /* as `ln -sfn v2 zones` through a rename */
	tu_rename(f.dir, ".zones.tmp", "zones");
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000) >= 0);
	assert_true(has_service(&f.x, "two"));
	assert_false(has_service(&f.x, "one"));
	settle(&f.x);

	tu_write(f.dir, "v2/b.yaml", service_yaml("three"));
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000) >= 0);
	assert_true(has_service(&f.x, "three"));
	settle(&f.x);

	tu_write(f.dir, "v1/b.yaml", service_yaml("old"));
	assert_int_equal(wait_calls(&f.x, f.x.calls + 1, 400), -1);
	stop(&f);
}

/* The zones directory moved away and another moved into its place (IN_MOVE_SELF). */
static void
test_root_dir_replaced(void **state)
{
	struct fixture f = {.dir = tu_tmpdir()};
	char zones[4096];

	(void)state;
	tu_mkdir(f.dir, "zones");
	tu_mkdir(f.dir, "next");
	tu_write(f.dir, "zones/a.yaml", service_yaml("one"));
	tu_write(f.dir, "next/a.yaml", service_yaml("two"));
	snprintf(zones, sizeof(zones), "%s/%s", f.dir, "zones");
	start(&f, zones);
	assert_true(has_service(&f.x, "one"));

	tu_rename(f.dir, "zones", "old");
	tu_rename(f.dir, "next", "zones");
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000) >= 0);
	settle(&f.x);
	assert_true(has_service(&f.x, "two"));

	tu_write(f.dir, "zones/b.yaml", service_yaml("three"));
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000) >= 0);
	assert_true(has_service(&f.x, "three"));
	stop(&f);
}

/* A manifest that is a link to a file outside the tree: editing that file counts. */
static void
test_linked_file_edited(void **state)
{
	struct fixture f = {.dir = tu_tmpdir()};
	char zones[4096];

	(void)state;
	tu_mkdir(f.dir, "zones");
	tu_mkdir(f.dir, "shared");
	tu_write(f.dir, "shared/a.yaml", service_yaml("one"));
	tu_symlink(f.dir, "zones/a.yaml", "../shared/a.yaml");
	snprintf(zones, sizeof(zones), "%s/%s", f.dir, "zones");
	start(&f, zones);
	assert_true(has_service(&f.x, "one"));

	tu_write(f.dir, "shared/a.yaml", service_yaml("two"));
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000) >= 0);
	assert_true(has_service(&f.x, "two"));
	stop(&f);
}

static void
on_alarm(int sig)
{
	static const char msg[] = "test_watch_links: watching hangs\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

/* Link loops: watching and rebuilding end, and changes below them still count. */
static void
test_loops_watched(void **state)
{
	struct fixture f = {.dir = tu_tmpdir()};
	time_t t0 = time(NULL);

	(void)state;
	tu_mkdir(f.dir, "ns1");
	tu_write(f.dir, "ns1/a.yaml", service_yaml("one"));
	tu_symlink(f.dir, "ns1/loop1", "..");
	tu_symlink(f.dir, "ns1/loop2", "..");
	tu_symlink(f.dir, "ns1/loop3", "..");
	signal(SIGALRM, on_alarm);
	alarm(20);
	start(&f, f.dir);
	alarm(0);
	assert_true(time(NULL) - t0 < 5);
	assert_true(has_service(&f.x, "one"));
	tu_write(f.dir, "ns1/b.yaml", service_yaml("two"));
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000) >= 0);
	assert_true(has_service(&f.x, "two"));
	stop(&f);
}

/* Writes that never pause for a debounce period still get rebuilds (at most 10 periods late). */
static void
test_endless_burst(void **state)
{
	struct fixture f = {.dir = tu_tmpdir()};
	char name[32];
	int i, before;

	(void)state;
	tu_write(f.dir, "a.yaml", service_yaml("a0"));
	start(&f, f.dir);
	before = f.x.calls;
	/* 1.5 s of a write every 20 ms, debounce 50 ms: without a bound, no rebuild at all. */
	for (i = 1; i <= 75; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		tu_write(f.dir, "a.yaml", service_yaml(name));
		wait_calls(&f.x, 1000, 20);
	}
	assert_true(f.x.calls > before);
	stop(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_watch),
	        cmocka_unit_test(test_debounce),
	        cmocka_unit_test(test_missing_dir),
	        cmocka_unit_test(test_configmap_swap),
	        cmocka_unit_test(test_root_link_swap),
	        cmocka_unit_test(test_root_dir_replaced),
	        cmocka_unit_test(test_linked_file_edited),
	        cmocka_unit_test(test_loops_watched),
	        cmocka_unit_test(test_endless_burst),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
