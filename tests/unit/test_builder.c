/* test_builder.c -- the builder thread (daemon/builder.c): builds run on it, never on the
 * caller's thread; requests and changes that arrive during a build make one next build; the
 * hand-off to a serving loop keeps only the newest item, and every item is freed on the builder
 * thread; stopping waits for a build under way. */
#include "testutil.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"

struct bctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls;
	bool off_thread; /* every call so far ran on another thread than the test's */
	pthread_t test_thread;
	unsigned sleep_ms; /* in the first call: a long build */
	size_t last_services;
	struct builder_handoff *h; /* when set, each build posts POSTS items */
	int posts;
	int next_seq;
};

struct item {
	struct builder_item it;
	int seq;
};

/* What the hand-off did, for the checks. */
static pthread_mutex_t ilock = PTHREAD_MUTEX_INITIALIZER;
static int taken_seq[16], n_taken, n_freed, freed_on_test_thread;
static pthread_t test_thread;

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void
on_build(struct cluster *fresh, const struct diag *d, void *arg)
{
	struct bctx *x = arg;
	bool first;

	(void)d;
	pthread_mutex_lock(&x->lock);
	first = x->calls == 0;
	pthread_mutex_unlock(&x->lock);
	if (first && x->sleep_ms > 0)
		sleep_ms(x->sleep_ms);
	for (int i = 0; x->h != NULL && i < x->posts; i++) {
		struct item *it = calloc(1, sizeof(*it));

		assert_non_null(it);
		it->seq = ++x->next_seq;
		builder_handoff_post(x->h, &it->it);
	}
	pthread_mutex_lock(&x->lock);
	x->calls++;
	if (pthread_equal(pthread_self(), x->test_thread))
		x->off_thread = false;
	x->last_services = fresh != NULL ? fresh->n_services : 0;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	cluster_unref(fresh);
}

/* Until the callback has run N times or MS pass: the calls so far. */
static int
wait_calls(struct bctx *x, int n, unsigned ms)
{
	struct timespec end;
	int calls;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (long)(ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&x->lock);
	while (x->calls < n && pthread_cond_timedwait(&x->cond, &x->lock, &end) == 0)
		;
	calls = x->calls;
	pthread_mutex_unlock(&x->lock);
	return calls;
}

static void
bctx_init(struct bctx *x)
{
	memset(x, 0, sizeof(*x));
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	x->off_thread = true;
	x->test_thread = pthread_self();
}

static void
bctx_deinit(struct bctx *x)
{
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->cond);
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

static struct builder *
make(struct bctx *x, const char *dir, unsigned debounce_ms)
{
	struct cluster_config cfg;
	struct builder *b = NULL;

	cluster_config_init(&cfg);
	assert_int_equal(builder_create(dir, &cfg, debounce_ms, on_build, x, &b), SVC_OK);
	assert_non_null(b);
	return b;
}

/* The first build runs at start, on the builder thread; a reload request makes another. */
static void
test_first_build(void **state)
{
	char *dir = tu_tmpdir();
	struct bctx x;
	struct builder *b;

	(void)state;
	bctx_init(&x);
	tu_write(dir, "a.yaml", service_yaml("a"));
	b = make(&x, dir, 50);
	sleep_ms(100);
	assert_int_equal(x.calls, 0); /* nothing before builder_start */
	assert_int_equal(builder_start(b), SVC_OK);
	assert_int_equal(wait_calls(&x, 1, 5000), 1);
	assert_true(x.off_thread);
	assert_int_equal(x.last_services, 1);
	/* A change is seen by the watcher, now on the builder thread. */
	tu_write(dir, "b.yaml", service_yaml("b"));
	assert_int_equal(wait_calls(&x, 2, 5000), 2);
	assert_int_equal(x.last_services, 2);
	builder_reload(b);
	assert_int_equal(wait_calls(&x, 3, 5000), 3);
	assert_true(x.off_thread);
	builder_destroy(b);
	bctx_deinit(&x);
	tu_rmrf(dir);
	free(dir);
}

/* Requests made while a build runs give one next build, however many. */
static void
test_requests_coalesce(void **state)
{
	char *dir = tu_tmpdir();
	struct bctx x;
	struct builder *b;

	(void)state;
	bctx_init(&x);
	x.sleep_ms = 400;
	tu_write(dir, "a.yaml", service_yaml("a"));
	b = make(&x, dir, 50);
	assert_int_equal(builder_start(b), SVC_OK);
	sleep_ms(100); /* the first build is under way */
	for (int i = 0; i < 50; i++)
		builder_reload(b);
	assert_int_equal(wait_calls(&x, 2, 5000), 2);
	assert_int_equal(wait_calls(&x, 3, 500), 2);
	builder_destroy(b);
	bctx_deinit(&x);
	tu_rmrf(dir);
	free(dir);
}

/* Changes made while a build runs give one next build, which has them all. */
static void
test_changes_coalesce(void **state)
{
	char *dir = tu_tmpdir();
	char file[32], name[32];
	struct bctx x;
	struct builder *b;

	(void)state;
	bctx_init(&x);
	x.sleep_ms = 1000; /* the writes below end long before it does */
	tu_write(dir, "a.yaml", service_yaml("a"));
	b = make(&x, dir, 50);
	assert_int_equal(builder_start(b), SVC_OK);
	sleep_ms(100);
	for (int i = 0; i < 5; i++) {
		snprintf(file, sizeof(file), "s%d.yaml", i);
		snprintf(name, sizeof(name), "s%d", i);
		tu_write(dir, file, service_yaml(name));
		sleep_ms(60); /* longer than the debounce: without coalescing, five builds */
	}
	assert_int_equal(wait_calls(&x, 2, 5000), 2);
	assert_int_equal(wait_calls(&x, 3, 500), 2);
	assert_int_equal(x.last_services, 6);
	builder_destroy(b);
	bctx_deinit(&x);
	tu_rmrf(dir);
	free(dir);
}

static void
take_item(struct builder_item *it, void *arg)
{
	struct event_base *loop = arg;

	pthread_mutex_lock(&ilock);
	if (n_taken < 16)
		taken_seq[n_taken++] = ((struct item *)it)->seq;
	pthread_mutex_unlock(&ilock);
	event_base_loopbreak(loop);
}

static void
free_item(struct builder_item *it)
{
	pthread_mutex_lock(&ilock);
	n_freed++;
	if (pthread_equal(pthread_self(), test_thread))
		freed_on_test_thread++;
	pthread_mutex_unlock(&ilock);
	free(it);
}

static int
freed(void)
{
	int n;

	pthread_mutex_lock(&ilock);
	n = n_freed;
	pthread_mutex_unlock(&ilock);
	return n;
}

/* The loop gets the newest item only; every item is freed on the builder thread. */
static void
test_handoff(void **state)
{
	char *dir = tu_tmpdir();
	struct event_base *loop = event_base_new();
	struct bctx x;
	struct builder *b;
	struct timeval tv = {5, 0};

	(void)state;
	test_thread = pthread_self();
	n_taken = n_freed = freed_on_test_thread = 0;
	bctx_init(&x);
	x.posts = 3; /* each build posts three: the loop is not running, so two are replaced */
	tu_write(dir, "a.yaml", service_yaml("a"));
	b = make(&x, dir, 50);
	assert_int_equal(builder_handoff_new(b, loop, take_item, free_item, loop, &x.h), SVC_OK);
	assert_int_equal(builder_start(b), SVC_OK);
	assert_int_equal(wait_calls(&x, 1, 5000), 1);
	assert_int_equal(freed(), 2);
	event_base_loopexit(loop, &tv);
	event_base_dispatch(loop);
	assert_int_equal(n_taken, 1);
	assert_int_equal(taken_seq[0], 3);
	/* The taken item goes back to the builder thread to be freed. */
	for (int i = 0; i < 500 && freed() < 3; i++)
		sleep_ms(10);
	assert_int_equal(freed(), 3);

	/* A second build: again the newest only. */
	builder_reload(b);
	assert_int_equal(wait_calls(&x, 2, 5000), 2);
	event_base_loopexit(loop, &tv);
	event_base_dispatch(loop);
	assert_int_equal(n_taken, 2);
	assert_int_equal(taken_seq[1], 6);
	for (int i = 0; i < 500 && freed() < 6; i++)
		sleep_ms(10);
	assert_int_equal(freed(), 6);
	assert_int_equal(freed_on_test_thread, 0);

	/* Posted, never taken: freed with the builder. */
	builder_reload(b);
	assert_int_equal(wait_calls(&x, 3, 5000), 3);
	builder_destroy(b);
	assert_int_equal(freed(), 9);
	event_base_free(loop);
	bctx_deinit(&x);
	tu_rmrf(dir);
	free(dir);
}

/* Stopping during a build waits for it, then no more builds. */
static void
test_stop_during_build(void **state)
{
	char *dir = tu_tmpdir();
	struct bctx x;
	struct builder *b;

	(void)state;
	bctx_init(&x);
	x.sleep_ms = 300;
	tu_write(dir, "a.yaml", service_yaml("a"));
	b = make(&x, dir, 50);
	assert_int_equal(builder_start(b), SVC_OK);
	sleep_ms(50);
	builder_reload(b);
	builder_destroy(b);
	assert_int_equal(x.calls, 1);
	bctx_deinit(&x);
	tu_rmrf(dir);
	free(dir);
}

static void
test_missing_dir(void **state)
{
	struct cluster_config cfg;
	struct builder *b = (struct builder *)1;
	struct bctx x;

	(void)state;
	bctx_init(&x);
	cluster_config_init(&cfg);
	assert_int_equal(builder_create("/nonexistent/svcdns-builder", &cfg, 50, on_build, &x, &b),
	                 SVC_ENOENT);
	assert_null(b);
	builder_destroy(NULL);
	bctx_deinit(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_first_build),       cmocka_unit_test(test_requests_coalesce),
	        cmocka_unit_test(test_changes_coalesce),  cmocka_unit_test(test_handoff),
	        cmocka_unit_test(test_stop_during_build), cmocka_unit_test(test_missing_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
