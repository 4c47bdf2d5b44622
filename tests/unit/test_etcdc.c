/* test_etcdc.c -- the etcd client against a real member (Debian's etcd-server, started here on
 * loopback ports of its own): transactions that create only when absent and update only at a
 * revision, prefix ranges in pages, deletes, binary keys, a dead endpoint passed over, none
 * left, the gateway's errors. Exits 77 (skipped) where etcd is not installed. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcdc.h"

static pid_t etcd_pid = -1;
static char *etcd_dir;
static char url[64], dead_url[64];
static struct event_base *base;

/* A loopback port nothing listens on now. */
static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* ---- one call, run to its end ---- */

struct result {
	bool done;
	enum svc_status st;
	json_t *resp;
	char why[256];
};

static void
on_result(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct result *r = arg;

	r->done = true;
	r->st = st;
	r->resp = resp != NULL ? json_deep_copy(resp) : NULL;
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
}

static struct result
call(struct etcdc *c, const char *path, json_t *body)
{
	struct result r = {0};
	time_t t0 = time(NULL);

	assert_int_equal(etcdc_call(c, path, body, on_result, &r), SVC_OK);
	while (!r.done && time(NULL) - t0 < 30)
		event_base_loop(base, EVLOOP_ONCE);
	assert_true(r.done);
	return r;
}

static json_t *
key_range(const char *key, bool prefix, int64_t limit)
{
	uint8_t end[256];
	size_t n = etcdc_prefix_end((const uint8_t *)key, strlen(key), end);
	json_t *b = json_object();

	json_object_set_new(b, "key", etcdc_bytes(key, strlen(key)));
	if (prefix)
		json_object_set_new(b, "range_end", n ? etcdc_bytes(end, n) : etcdc_bytes("\0", 1));
	if (limit > 0)
		json_object_set_new(b, "limit", json_integer(limit));
	return b;
}

/* A txn: put KEY=VALUE if the key's mod_revision is REV (0: the key is absent). */
static json_t *
put_if(const char *key, const char *value, int64_t rev)
{
	json_t *cmp = json_object(), *put = json_object(), *b = json_object();

	json_object_set_new(cmp, "key", etcdc_bytes(key, strlen(key)));
	json_object_set_new(cmp, "target", json_string("MOD"));
	json_object_set_new(cmp, "result", json_string("EQUAL"));
	json_object_set_new(cmp, "mod_revision", json_integer(rev));
	json_object_set_new(put, "key", etcdc_bytes(key, strlen(key)));
	json_object_set_new(put, "value", etcdc_bytes(value, strlen(value)));
	json_object_set_new(b, "compare", json_pack("[o]", cmp));
	json_object_set_new(b, "success", json_pack("[{s:o}]", "request_put", put));
	return b;
}

static bool
succeeded(const struct result *r)
{
	return r->st == SVC_OK && json_is_true(json_object_get(r->resp, "succeeded"));
}

static int64_t
header_revision(const json_t *resp)
{
	int64_t rev;

	assert_int_equal(etcdc_int(json_object_get(resp, "header"), "revision", &rev), SVC_OK);
	return rev;
}

/* ---- the member ---- */

static int
start_etcd(void **state)
{
	char purl[64], tmpl[] = "/tmp/svc-etcd-XXXXXX";
	int cport = free_port(), pport = free_port();

	(void)state;
	etcd_dir = strdup(mkdtemp(tmpl));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
	snprintf(dead_url, sizeof(dead_url), "http://127.0.0.1:%d", free_port());
	etcd_pid = fork();
	assert_true(etcd_pid >= 0);
	if (etcd_pid == 0) {
		char log[4200], cluster[128];

		snprintf(log, sizeof(log), "%s/log", etcd_dir);
		snprintf(cluster, sizeof(cluster), "t=%s", purl);
		if (freopen(log, "w", stdout) == NULL || freopen(log, "a", stderr) == NULL)
			_exit(127);
		execlp("etcd", "etcd", "--name", "t", "--data-dir", etcd_dir,
		       "--listen-client-urls", url, "--advertise-client-urls", url,
		       "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
		       "--initial-cluster", cluster, (char *)NULL);
		_exit(127);
	}
	base = event_base_new();
	assert_non_null(base);
	/* Ready once a range answers. */
	{
		struct etcdc *c;
		bool ready = false;

		assert_int_equal(etcdc_create(base, url, &c), SVC_OK);
		for (int i = 0; i < 150 && !ready; i++) {
			struct result r = call(c, "/v3/kv/range", key_range("x", false, 0));

			ready = r.st == SVC_OK;
			json_decref(r.resp);
			if (!ready)
				usleep(100 * 1000);
		}
		etcdc_destroy(c);
		assert_true(ready);
	}
	return 0;
}

static int
stop_etcd(void **state)
{
	char cmd[4300];

	(void)state;
	if (etcd_pid > 0) {
		kill(etcd_pid, SIGTERM);
		waitpid(etcd_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", etcd_dir);
	if (system(cmd) != 0)
		return -1;
	free(etcd_dir);
	event_base_free(base);
	return 0;
}

/* ---- the tests ---- */

static void
test_create_and_update(void **state)
{
	struct etcdc *c;
	struct result r;
	struct etcdc_kv kv;
	int64_t rev;

	(void)state;
	assert_int_equal(etcdc_create(base, url, &c), SVC_OK);
	r = call(c, "/v3/kv/txn", put_if("/t/a", "one", 0));
	assert_true(succeeded(&r));
	rev = header_revision(r.resp);
	json_decref(r.resp);
	/* Created only when absent. */
	r = call(c, "/v3/kv/txn", put_if("/t/a", "two", 0));
	assert_int_equal(r.st, SVC_OK);
	assert_false(succeeded(&r));
	json_decref(r.resp);
	/* Updated only at the revision read; a stale one is refused. */
	r = call(c, "/v3/kv/txn", put_if("/t/a", "two", rev - 1));
	assert_false(succeeded(&r));
	json_decref(r.resp);
	r = call(c, "/v3/kv/txn", put_if("/t/a", "two", rev));
	assert_true(succeeded(&r));
	json_decref(r.resp);
	r = call(c, "/v3/kv/range", key_range("/t/a", false, 0));
	assert_int_equal(r.st, SVC_OK);
	assert_int_equal(json_array_size(json_object_get(r.resp, "kvs")), 1);
	assert_int_equal(etcdc_kv_decode(json_array_get(json_object_get(r.resp, "kvs"), 0), &kv),
	                 SVC_OK);
	assert_memory_equal(kv.key, "/t/a", 4);
	assert_string_equal((char *)kv.value, "two");
	assert_int_equal(kv.create_revision, rev);
	assert_true(kv.mod_revision > rev);
	assert_int_equal(kv.version, 2);
	etcdc_kv_free(&kv);
	json_decref(r.resp);
	etcdc_destroy(c);
}

static void
test_pages_and_delete(void **state)
{
	struct etcdc *c;
	struct result r;
	char key[32], from[64];
	size_t seen = 0, pages = 0;

	(void)state;
	assert_int_equal(etcdc_create(base, url, &c), SVC_OK);
	for (int i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "/p/k%d", i);
		r = call(c, "/v3/kv/txn", put_if(key, "v", 0));
		assert_true(succeeded(&r));
		json_decref(r.resp);
	}
	/* Pages of 3: each from the key after the last one seen. */
	snprintf(from, sizeof(from), "/p/");
	for (;;) {
		json_t *b = key_range("/p/", true, 3), *kvs;
		struct etcdc_kv kv;

		json_object_set_new(b, "key", etcdc_bytes(from, strlen(from) + (pages > 0)));
		r = call(c, "/v3/kv/range", b);
		assert_int_equal(r.st, SVC_OK);
		kvs = json_object_get(r.resp, "kvs");
		pages++;
		seen += json_array_size(kvs);
		assert_true(json_array_size(kvs) <= 3);
		assert_int_equal(
		        etcdc_kv_decode(json_array_get(kvs, json_array_size(kvs) - 1), &kv),
		        SVC_OK);
		snprintf(from, sizeof(from), "%s", (char *)kv.key); /* then its NUL: the next key */
		etcdc_kv_free(&kv);
		if (!json_is_true(json_object_get(r.resp, "more"))) {
			json_decref(r.resp);
			break;
		}
		json_decref(r.resp);
	}
	assert_int_equal(seen, 7);
	assert_int_equal(pages, 3);
	r = call(c, "/v3/kv/deleterange", key_range("/p/", true, 0));
	assert_int_equal(r.st, SVC_OK);
	{
		int64_t deleted;

		assert_int_equal(etcdc_int(r.resp, "deleted", &deleted), SVC_OK);
		assert_int_equal(deleted, 7);
	}
	json_decref(r.resp);
	etcdc_destroy(c);
}

static void
test_binary_keys(void **state)
{
	static const uint8_t key[] = {'/', 'b', 0x00, 0xff, 0xfe, 0xff};
	uint8_t end[8];
	struct etcdc *c;
	struct result r;
	json_t *put = json_object(), *b = json_object(), *kvs;
	struct etcdc_kv kv;

	(void)state;
	/* The range end of a prefix ending in 0xff drops it and carries. */
	assert_int_equal(etcdc_prefix_end(key, sizeof(key), end), 5);
	assert_memory_equal(end, "/b\0\xff\xff", 5);
	assert_int_equal(etcdc_prefix_end((const uint8_t *)"\xff\xff", 2, end), 0);
	assert_int_equal(etcdc_create(base, url, &c), SVC_OK);
	json_object_set_new(put, "key", etcdc_bytes(key, sizeof(key)));
	json_object_set_new(put, "value", etcdc_bytes("\0\1\2", 3));
	json_object_set_new(b, "success", json_pack("[{s:o}]", "request_put", put));
	r = call(c, "/v3/kv/txn", b);
	assert_true(succeeded(&r));
	json_decref(r.resp);
	b = json_object();
	json_object_set_new(b, "key", etcdc_bytes(key, sizeof(key)));
	r = call(c, "/v3/kv/range", b);
	kvs = json_object_get(r.resp, "kvs");
	assert_int_equal(etcdc_kv_decode(json_array_get(kvs, 0), &kv), SVC_OK);
	assert_int_equal(kv.key_len, sizeof(key));
	assert_memory_equal(kv.key, key, sizeof(key));
	assert_int_equal(kv.value_len, 3);
	assert_memory_equal(kv.value, "\0\1\2", 3);
	etcdc_kv_free(&kv);
	json_decref(r.resp);
	etcdc_destroy(c);
}

static void
test_endpoints_and_errors(void **state)
{
	char urls[160];
	struct etcdc *c;
	struct result r;

	(void)state;
	/* A dead member first: the call goes on to the live one. */
	snprintf(urls, sizeof(urls), "%s,%s", dead_url, url);
	assert_int_equal(etcdc_create(base, urls, &c), SVC_OK);
	r = call(c, "/v3/kv/range", key_range("/t/a", false, 0));
	assert_int_equal(r.st, SVC_OK);
	json_decref(r.resp);
	/* The gateway's own error: its message. */
	r = call(c, "/v3/kv/range", json_pack("{s:s}", "key", "not base64!"));
	assert_int_equal(r.st, SVC_EINVAL);
	assert_true(strlen(r.why) > 0);
	etcdc_destroy(c);
	/* None alive. */
	assert_int_equal(etcdc_create(base, dead_url, &c), SVC_OK);
	r = call(c, "/v3/kv/range", key_range("/t/a", false, 0));
	assert_int_equal(r.st, SVC_EIO);
	etcdc_destroy(c);
	/* URLs that are not http://host:port. */
	assert_int_equal(etcdc_create(base, "https://127.0.0.1:2379", &c), SVC_EINVAL);
	assert_int_equal(etcdc_create(base, "http://127.0.0.1", &c), SVC_EINVAL);
	assert_int_equal(etcdc_create(base, "http://127.0.0.1:0", &c), SVC_EINVAL);
	assert_int_equal(etcdc_create(base, "http://127.0.0.1:99999", &c), SVC_EINVAL);
	assert_int_equal(etcdc_create(base, "", &c), SVC_EINVAL);
	/* Calls in flight when the client goes end without their callbacks (ASan sees any leak). */
	assert_int_equal(etcdc_create(base, url, &c), SVC_OK);
	{
		struct result pending = {0};

		assert_int_equal(etcdc_call(c, "/v3/kv/range", key_range("/t/a", false, 0),
		                            on_result, &pending),
		                 SVC_OK);
		etcdc_destroy(c);
		assert_false(pending.done);
	}
}

/* ---- watch streams ---- */

struct seen {
	size_t messages, created, puts, deletes, ends;
	int64_t compact_revision;
	enum svc_status end_st;
	struct etcdc_watch *w;
	bool cancel_in_callback;
	char last_key[64];
};

static void
on_watch(void *arg, enum svc_status st, const json_t *result, const char *why)
{
	struct seen *v = arg;
	const json_t *events = json_object_get(result, "events");

	(void)why;
	if (st != SVC_OK) {
		v->ends++;
		v->end_st = st;
		v->w = NULL; /* freed after this */
		return;
	}
	v->messages++;
	v->created += json_is_true(json_object_get(result, "created"));
	assert_int_equal(etcdc_int(result, "compact_revision", &v->compact_revision), SVC_OK);
	for (size_t i = 0; i < json_array_size(events); i++) {
		const json_t *ev = json_array_get(events, i);
		const char *type = json_string_value(json_object_get(ev, "type"));
		struct etcdc_kv kv;

		assert_int_equal(etcdc_kv_decode(json_object_get(ev, "kv"), &kv), SVC_OK);
		snprintf(v->last_key, sizeof(v->last_key), "%s", (char *)kv.key);
		etcdc_kv_free(&kv);
		if (type != NULL && strcmp(type, "DELETE") == 0)
			v->deletes++;
		else
			v->puts++; /* PUT is the zero value: omitted */
	}
	if (v->cancel_in_callback && v->puts > 0) {
		etcdc_watch_cancel(v->w);
		v->w = NULL;
	}
}

static json_t *
watch_prefix(const char *prefix, int64_t from)
{
	json_t *b = key_range(prefix, true, 0);

	if (from > 0)
		json_object_set_new(b, "start_revision", json_integer(from));
	return b;
}

/* Run the loop until *WHAT reaches WANT (10 s at most). */
static void
spin(const size_t *what, size_t want)
{
	time_t t0 = time(NULL);

	while (*what < want && time(NULL) - t0 < 10) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static void
test_watch(void **state)
{
	struct etcdc *c;
	struct seen v = {0};
	struct result r;

	(void)state;
	assert_int_equal(etcdc_create(base, url, &c), SVC_OK);
	assert_int_equal(etcdc_watch(c, watch_prefix("/w/", 0), on_watch, &v, &v.w), SVC_OK);
	spin(&v.created, 1);
	assert_int_equal(v.created, 1);
	r = call(c, "/v3/kv/txn", put_if("/w/a", "1", 0));
	json_decref(r.resp);
	r = call(c, "/v3/kv/txn", put_if("/w/b", "2", 0));
	json_decref(r.resp);
	r = call(c, "/v3/kv/txn", put_if("/x/not-watched", "3", 0));
	json_decref(r.resp);
	r = call(c, "/v3/kv/deleterange", key_range("/w/a", false, 0));
	json_decref(r.resp);
	spin(&v.deletes, 1);
	assert_int_equal(v.puts, 2);
	assert_int_equal(v.deletes, 1);
	assert_string_equal(v.last_key, "/w/a");
	assert_int_equal(v.ends, 0);
	etcdc_watch_cancel(v.w);
	/* Nothing after a cancel. */
	r = call(c, "/v3/kv/txn", put_if("/w/c", "4", 0));
	json_decref(r.resp);
	assert_int_equal(v.puts, 2);

	/* Cancelled from within its callback. */
	memset(&v, 0, sizeof(v));
	v.cancel_in_callback = true;
	assert_int_equal(etcdc_watch(c, watch_prefix("/w/", 0), on_watch, &v, &v.w), SVC_OK);
	spin(&v.created, 1);
	r = call(c, "/v3/kv/txn", put_if("/w/d", "5", 0));
	json_decref(r.resp);
	spin(&v.puts, 1);
	assert_int_equal(v.puts, 1);
	assert_null(v.w);
	r = call(c, "/v3/kv/txn", put_if("/w/e", "6", 0));
	json_decref(r.resp);
	assert_int_equal(v.puts, 1);
	assert_int_equal(v.ends, 0);

	/* From a compacted revision: the member says from where it still has history. */
	{
		int64_t rev;

		r = call(c, "/v3/kv/range", key_range("/w/", true, 0));
		rev = header_revision(r.resp);
		json_decref(r.resp);
		r = call(c, "/v3/kv/compaction", json_pack("{s:I}", "revision", (json_int_t)rev));
		assert_int_equal(r.st, SVC_OK);
		json_decref(r.resp);
		memset(&v, 0, sizeof(v));
		assert_int_equal(etcdc_watch(c, watch_prefix("/w/", 2), on_watch, &v, &v.w),
		                 SVC_OK);
		spin(&v.messages, 2);
		assert_true(v.compact_revision > 0);
		if (v.w != NULL)
			etcdc_watch_cancel(v.w);
	}
	etcdc_destroy(c);

	/* No member: the stream ends, once, and the watch is gone. */
	assert_int_equal(etcdc_create(base, dead_url, &c), SVC_OK);
	memset(&v, 0, sizeof(v));
	assert_int_equal(etcdc_watch(c, watch_prefix("/w/", 0), on_watch, &v, &v.w), SVC_OK);
	spin(&v.ends, 1);
	assert_int_equal(v.ends, 1);
	assert_int_equal(v.end_st, SVC_EIO);
	assert_null(v.w);
	/* Let the deferred free run before the client goes. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	etcdc_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_create_and_update),
	        cmocka_unit_test(test_pages_and_delete),
	        cmocka_unit_test(test_binary_keys),
	        cmocka_unit_test(test_endpoints_and_errors),
	        cmocka_unit_test(test_watch),
	};

	if (system("command -v etcd >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_etcdc: no etcd on this machine: skipped\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, start_etcd, stop_etcd);
}
