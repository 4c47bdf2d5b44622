/* test_watch_links.c -- the watcher follows links as the loader does: a ConfigMap volume's
 * "..data" swap, a zones directory that is a link swapped to a new target or a directory moved
 * away and replaced, a manifest linked from outside the tree, link loops (issue 9, item 4). */
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
};

static void
on_change(struct cluster *fresh, const struct diag *d, void *arg)
{
	struct wctx *x = arg;

	x->calls++;
	x->last_was_null = fresh == NULL;
	if (fresh == NULL)
		tu_dump(d);
	if (fresh != NULL) {
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

/* Run the loop until the callback has run TARGET times in all, or MS pass: true if it has. */
static bool
wait_calls(struct wctx *x, int target, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *t = evtimer_new(x->base, on_timeout, x->base);

	assert_non_null(t);
	x->target = target;
	evtimer_add(t, &tv);
	if (x->calls < target)
		event_base_dispatch(x->base);
	event_free(t);
	return x->calls >= target;
}

/* Let the rebuilds that pending events cause happen (none, one or more). */
static void
settle(struct wctx *x)
{
	while (wait_calls(x, x->calls + 1, 400))
		;
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
path_in(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void
mkdir_in(const char *dir, const char *name)
{
	char p[4096];

	path_in(p, sizeof(p), dir, name);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void
link_in(const char *dir, const char *name, const char *target)
{
	char p[4096];

	path_in(p, sizeof(p), dir, name);
	assert_int_equal(symlink(target, p), 0);
}

static void
rename_in(const char *dir, const char *from, const char *to)
{
	char a[4096], b[4096];

	path_in(a, sizeof(a), dir, from);
	path_in(b, sizeof(b), dir, to);
	assert_int_equal(rename(a, b), 0);
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
	mkdir_in(f.dir, "..2024_05_01_10_00_00.1");
	tu_write(f.dir, "..2024_05_01_10_00_00.1/svc.yaml", service_yaml("one"));
	link_in(f.dir, "..data", "..2024_05_01_10_00_00.1");
	link_in(f.dir, "svc.yaml", "..data/svc.yaml");
	start(&f, f.dir);
	assert_true(has_service(&f.x, "one"));

	mkdir_in(f.dir, "..2024_05_01_10_05_00.2");
	tu_write(f.dir, "..2024_05_01_10_05_00.2/svc.yaml", service_yaml("two"));
	settle(&f.x); /* whatever the new directory caused, it still shows the old version */
	assert_true(has_service(&f.x, "one"));

	link_in(f.dir, "..data_tmp", "..2024_05_01_10_05_00.2");
	rename_in(f.dir, "..data_tmp", "..data");
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000));
	assert_false(f.x.last_was_null);
	assert_true(has_service(&f.x, "two"));
	assert_false(has_service(&f.x, "one"));

	/* The old version goes; the new stays. */
	{
		char p[4096];

		path_in(p, sizeof(p), f.dir, "..2024_05_01_10_00_00.1");
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
	mkdir_in(f.dir, "v1");
	mkdir_in(f.dir, "v2");
	tu_write(f.dir, "v1/a.yaml", service_yaml("one"));
	tu_write(f.dir, "v2/a.yaml", service_yaml("two"));
	link_in(f.dir, "zones", "v1");
	path_in(zones, sizeof(zones), f.dir, "zones");
	start(&f, zones);
	assert_true(has_service(&f.x, "one"));

	link_in(f.dir, ".zones.tmp", "v2"); /* as `ln -sfn v2 zones` through a rename */
	rename_in(f.dir, ".zones.tmp", "zones");
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000));
	assert_true(has_service(&f.x, "two"));
	assert_false(has_service(&f.x, "one"));
	settle(&f.x);

	tu_write(f.dir, "v2/b.yaml", service_yaml("three"));
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000));
	assert_true(has_service(&f.x, "three"));
	settle(&f.x);

	tu_write(f.dir, "v1/b.yaml", service_yaml("old"));
	assert_false(wait_calls(&f.x, f.x.calls + 1, 400));
	stop(&f);
}

/* The zones directory moved away and another moved into its place (IN_MOVE_SELF). */
static void
test_root_dir_replaced(void **state)
{
	struct fixture f = {.dir = tu_tmpdir()};
	char zones[4096];

	(void)state;
	mkdir_in(f.dir, "zones");
	mkdir_in(f.dir, "next");
	tu_write(f.dir, "zones/a.yaml", service_yaml("one"));
	tu_write(f.dir, "next/a.yaml", service_yaml("two"));
	path_in(zones, sizeof(zones), f.dir, "zones");
	start(&f, zones);
	assert_true(has_service(&f.x, "one"));

	rename_in(f.dir, "zones", "old");
	rename_in(f.dir, "next", "zones");
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000));
	settle(&f.x);
	assert_true(has_service(&f.x, "two"));

	tu_write(f.dir, "zones/b.yaml", service_yaml("three"));
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000));
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
	mkdir_in(f.dir, "zones");
	mkdir_in(f.dir, "shared");
	tu_write(f.dir, "shared/a.yaml", service_yaml("one"));
	link_in(f.dir, "zones/a.yaml", "../shared/a.yaml");
	path_in(zones, sizeof(zones), f.dir, "zones");
	start(&f, zones);
	assert_true(has_service(&f.x, "one"));

	tu_write(f.dir, "shared/a.yaml", service_yaml("two"));
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000));
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
	mkdir_in(f.dir, "ns1");
	tu_write(f.dir, "ns1/a.yaml", service_yaml("one"));
	link_in(f.dir, "ns1/loop1", "..");
	link_in(f.dir, "ns1/loop2", "..");
	link_in(f.dir, "ns1/loop3", "..");
	signal(SIGALRM, on_alarm);
	alarm(20);
	start(&f, f.dir);
	alarm(0);
	assert_true(time(NULL) - t0 < 5);
	assert_true(has_service(&f.x, "one"));
	tu_write(f.dir, "ns1/b.yaml", service_yaml("two"));
	assert_true(wait_calls(&f.x, f.x.calls + 1, 1000));
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
	        cmocka_unit_test(test_configmap_swap),    cmocka_unit_test(test_root_link_swap),
	        cmocka_unit_test(test_root_dir_replaced), cmocka_unit_test(test_linked_file_edited),
	        cmocka_unit_test(test_loops_watched),     cmocka_unit_test(test_endless_burst),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
