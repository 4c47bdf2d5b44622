/* test_etcdwatch.c -- the etcd source against a real member (skipped where etcd is not
 * installed): the first list in pages, changes through the watch, invalid and foreign keys, the
 * settings, listing again; and the property that what the watch made equals what a fresh list
 * makes, after random puts and deletes. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcdwatch.h"
#include "testutil.h"

static struct tu_etcd etcd;
static struct event_base *base;

struct seen {
	struct cluster *c; /* the last snapshot */
	uint64_t snapshots;
	size_t errors; /* of the last one */
	char first_error[512];
};

static void
on_snapshot(struct cluster *fresh, const struct diag *d, void *arg)
{
	struct seen *s = arg;

	if (fresh == NULL)
		return;
	cluster_unref(s->c);
	s->c = fresh;
	s->snapshots++;
	s->errors = d->errors;
	s->first_error[0] = '\0';
	for (size_t i = 0; i < d->n; i++)
		if (d->entries[i].level == DIAG_ERROR) {
			snprintf(s->first_error, sizeof(s->first_error), "%s:%u: %s: %s",
			         d->entries[i].file ? d->entries[i].file : "", d->entries[i].line,
			         d->entries[i].field ? d->entries[i].field : "",
			         d->entries[i].message);
			break;
		}
}

static void
ectl(const char *fmt, ...)
{
	char args[8192], cmd[8400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "ETCDCTL_API=3 etcdctl --endpoints=%s %s >/dev/null", etcd.url,
	         args);
	assert_int_equal(system(cmd), 0);
}

static void
put_service(const char *prefix, const char *name, int ip)
{
	ectl("put %s/services/default/%s 'apiVersion: v1\nkind: Service\nmetadata: {name: %s}\n"
	     "spec: {clusterIP: 10.96.1.%d, ports: [{port: 80}]}'",
	     prefix, name, name, ip);
}

/* Run the loop until S has more than N snapshots (or 10 s pass). */
static bool
wait_snapshots(struct seen *s, uint64_t n)
{
	for (int i = 0; i < 1000 && s->snapshots <= n; i++) {
		struct timeval tv = {0, 10000};

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return s->snapshots > n;
}

static struct etcdwatch *
start(const char *prefix, struct daemon_etcd *de, struct daemon_store *st, struct seen *s,
      uint32_t page)
{
	struct etcdwatch_opts o = {.etcd = de, .debounce_ms = 20, .page = page, .status = st};
	struct etcdwatch *w;

	*de = (struct daemon_etcd){.urls = etcd.url, .prefix = prefix};
	cluster_config_init(&o.flags.cfg);
	o.flags.cfg.require_allocated = true;
	assert_int_equal(etcdwatch_create(base, &o, on_snapshot, s, &w), SVC_OK);
	etcdwatch_reload(w);
	return w;
}

static const char *
ip_of(const struct cluster *c, const char *name)
{
	static char buf[NETADDR_STRLEN];
	const struct cluster_service *s = cluster_service_by_name(c, "default", name);

	return s != NULL && s->n_cluster_ips > 0 ? netaddr_str(&s->cluster_ips[0], buf) : NULL;
}

static void
test_list_watch(void **state)
{
	struct daemon_etcd de;
	struct daemon_store st = {0};
	struct seen s = {0};
	struct etcdwatch *w;
	char name[16];
	(void)state;

	for (int i = 1; i <= 7; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		put_service("/t1", name, i);
	}
	/* Without its clusterIP (svcctl allocates in etcd), and not an object's key. */
	ectl("put /t1/services/default/bare 'apiVersion: v1\nkind: Service\nmetadata: {name: "
	     "bare}\nspec: {ports: [{port: 80}]}'");
	ectl("put /t1/services/default 'x'");
	/* Pages of 2 keys. */
	w = start("/t1", &de, &st, &s, 2);
	assert_true(wait_snapshots(&s, 0));
	assert_int_equal(s.c->n_services, 7);
	assert_string_equal(ip_of(s.c, "s7"), "10.96.1.7");
	assert_null(ip_of(s.c, "bare"));
	if (s.errors != 1)
		fail_msg("%zu errors, the first: %s", s.errors, s.first_error);
	assert_non_null(strstr(s.first_error, "/t1/services/default/bare:"));
	assert_non_null(strstr(s.first_error, "spec.clusterIP"));
	assert_int_equal(atomic_load(&st.invalid), 1);

	/* Changes, through the watch. */
	ectl("del /t1/services/default/s1");
	put_service("/t1", "s2", 22);
	put_service("/t1", "bare", 99); /* put right */
	for (uint64_t n = s.snapshots; ip_of(s.c, "bare") == NULL || ip_of(s.c, "s1") != NULL;
	     n = s.snapshots)
		assert_true(wait_snapshots(&s, n));
	assert_int_equal(s.c->n_services, 7);
	assert_string_equal(ip_of(s.c, "s2"), "10.96.1.22");
	assert_int_equal(s.c->files_in_error, 0);
	assert_int_equal(atomic_load(&st.state), DAEMON_STORE_WATCHING);

	/* SIGHUP: listed again, the same. */
	uint64_t n = s.snapshots;

	etcdwatch_reload(w);
	assert_true(wait_snapshots(&s, n));
	assert_int_equal(atomic_load(&st.relists), 1);
	assert_int_equal(s.c->n_services, 7);
	assert_string_equal(ip_of(s.c, "bare"), "10.96.1.99");

	/* New settings: everything is read again under them (these clusterIPs are now outside). */
	n = s.snapshots;
	ectl("put /t1/config '{\"serviceCIDR\": \"10.100.0.0/16\"}'");
	while (s.c->n_services != 0)
		assert_true(wait_snapshots(&s, s.snapshots));
	assert_true(s.errors >= 7);
	assert_int_equal(atomic_load(&st.relists), 2);

	/* A daemon whose flags disagree with them: no state, and STATUS says why. */
	{
		struct daemon_etcd de2 = {.urls = etcd.url, .prefix = "/t1"};
		struct daemon_store st2 = {0};
		struct seen s2 = {0};
		struct etcdwatch_opts o = {.etcd = &de2, .debounce_ms = 20, .status = &st2};
		struct etcdwatch *w2;

		cluster_config_init(&o.flags.cfg);
		assert_int_equal(cluster_config_set_cidrs(&o.flags.cfg, "10.0.0.0/16"), SVC_OK);
		assert_int_equal(etcdwatch_create(base, &o, on_snapshot, &s2, &w2), SVC_OK);
		etcdwatch_reload(w2);
		for (int i = 0; i < 500 && atomic_load(&st2.state) != DAEMON_STORE_CONFIG; i++) {
			struct timeval tv = {0, 10000};

			event_base_loopexit(base, &tv);
			event_base_dispatch(base);
		}
		assert_int_equal(atomic_load(&st2.state), DAEMON_STORE_CONFIG);
		assert_int_equal(s2.snapshots, 0);
		etcdwatch_destroy(w2);
	}
	etcdwatch_destroy(w);
	cluster_unref(s.c);
}

/* The property: after random puts and deletes (some invalid), the watcher that followed them
 * serves what a fresh list of the same keys serves. */
static void
test_watch_equals_list(void **state)
{
	struct daemon_etcd de1, de2;
	struct daemon_store st1 = {0}, st2 = {0};
	struct seen a = {0}, b = {0};
	struct etcdwatch *w1, *w2;
	/* $SEED replays a failure. */
	unsigned seed = getenv("SEED") ? (unsigned)atoi(getenv("SEED")) : (unsigned)time(NULL);
	char name[16];
	(void)state;

	srand(seed);
	w1 = start("/t2", &de1, &st1, &a, 3);
	assert_true(wait_snapshots(&a, 0));
	for (int step = 0; step < 40; step++) {
		int k = rand() % 12, r = rand() % 10;

		snprintf(name, sizeof(name), "r%d", k);
		if (r < 5)
			put_service("/t2", name, 10 + rand() % 200);
		else if (r < 8)
			ectl("del /t2/services/default/%s", name);
		else /* invalid: a port out of range */
			ectl("put /t2/services/default/%s 'apiVersion: v1\nkind: "
			     "Service\nmetadata: "
			     "{name: %s}\nspec: {clusterIP: 10.96.2.%d, ports: [{port: 70000}]}'",
			     name, name, k);
	}
	ectl("put /t2/services/default/last 'apiVersion: v1\nkind: Service\nmetadata: {name: "
	     "last}\nspec: {clusterIP: 10.96.3.1, ports: [{port: 80}]}'");
	while (ip_of(a.c, "last") == NULL)
		assert_true(wait_snapshots(&a, a.snapshots));
	w2 = start("/t2", &de2, &st2, &b, 1000);
	assert_true(wait_snapshots(&b, 0));
	/* A key that turned invalid keeps its last good version in the watcher: that is the one
	 * difference a fresh list may have (it never saw the good one). Compare the keys valid
	 * in both. */
	for (int k = 0; k < 12; k++) {
		const char *x, *y;
		char xb[NETADDR_STRLEN];

		snprintf(name, sizeof(name), "r%d", k);
		x = ip_of(a.c, name);
		if (x != NULL)
			snprintf(xb, sizeof(xb), "%s", x);
		y = ip_of(b.c, name);
		if (y == NULL) {
			if (x != NULL)
				/* Only when the key's last value is invalid, or it is gone. */
				assert_true(a.c->files_in_error > 0);
			continue;
		}
		if (x == NULL) {
			/* Only when a key whose last value is invalid keeps, in the watcher, its
			 * last good version and that version's ClusterIP, which the fresh list gave
			 * to this one. */
			if (a.c->files_in_error == 0)
				fail_msg("seed %u: %s in the fresh list only", seed, name);
			continue;
		}
		assert_string_equal(xb, y);
	}
	assert_int_equal(a.c->files_in_error, b.c->files_in_error);
	etcdwatch_destroy(w1);
	etcdwatch_destroy(w2);
	cluster_unref(a.c);
	cluster_unref(b.c);
}

/* Values so large that a page of them is over ETCDC_MAX_BODY: the page fails, the next list
 * asks for fewer keys per page, and every key comes. */
static void
test_large_values(void **state)
{
	struct daemon_etcd de;
	struct daemon_store st = {0};
	struct seen a = {0};
	struct etcdwatch *w;
	char path[] = "/tmp/test_etcdwatch.XXXXXX", cmd[512], name[16];
	int fd = mkstemp(path), n = 40, found = 0;
	size_t big = 1400000;
	(void)state;

	assert_true(fd >= 0);
	for (int i = 0; i < n; i++) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fprintf(f,
		        "apiVersion: v1\nkind: Service\nmetadata:\n  name: b%d\n  annotations:\n"
		        "    big: ",
		        i);
		for (size_t k = 0; k < big; k++)
			fputc('x', f);
		fprintf(f, "\nspec: {clusterIP: 10.96.4.%d, ports: [{port: 80}]}\n", i + 1);
		fclose(f);
		snprintf(cmd, sizeof(cmd),
		         "ETCDCTL_API=3 etcdctl --endpoints=%s put /t3/services/default/b%d <%s "
		         ">/dev/null",
		         etcd.url, i, path);
		assert_int_equal(system(cmd), 0);
	}
	close(fd);
	unlink(path);
	w = start("/t3", &de, &st, &a, 1000);
	for (int tries = 0; tries < 12 && a.snapshots == 0; tries++)
		(void)wait_snapshots(&a, 0);
	assert_true(a.snapshots > 0);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "b%d", i);
		found += ip_of(a.c, name) != NULL;
	}
	assert_int_equal(found, n);
	etcdwatch_destroy(w);
	cluster_unref(a.c);
}

static int
setup(void **state)
{
	(void)state;
	base = event_base_new();
	return base == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	tu_etcd_stop(&etcd);
	event_base_free(base);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_list_watch),
	        cmocka_unit_test(test_watch_equals_list),
	        cmocka_unit_test(test_large_values),
	};

	signal(SIGPIPE, SIG_IGN);
	log_init("test_etcdwatch");
	log_set_level(LL_ERROR);
	if (!tu_etcd_start(&etcd)) {
		printf("SKIP: etcd is not installed\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
