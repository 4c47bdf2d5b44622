/* test_etcdc.c -- the etcd client against a real member (Debian's etcd-server, started here on
 * loopback ports of its own): transactions that create only when absent and update only at a
 * revision, prefix ranges in pages, deletes, binary keys, a dead endpoint passed over, none
 * left, the gateway's errors; then over TLS, against a member that wants client certificates
 * (a CA and certificates made here by the openssl command): calls, a watch, calls after the
 * member restarted, and the failures: no client certificate, another CA, a host the member's
 * certificate does not name, files that cannot be loaded. Exits 77 (skipped) where etcd is not
 * installed, or after the plain tests where the openssl command is not. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcdc.h"

static pid_t etcd_pid = -1;
static char *etcd_dir;
static char url[64], dead_url[64];
static struct event_base *base;

/* ---- one call, run to its end ---- */

struct result {
	bool done;
	enum svc_status st;
	json_t *resp;
	char why[512];
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

/* etcd with its data in DATA and its log in DATA.log, serving clients on LISTEN (the first
 * advertised), raft on loopback port PPORT, with the flags EXTRA (pairs of a flag and its value
 * or NULL, ending with a NULL flag; may be NULL). */
static pid_t
spawn_etcd(const char *data, const char *listen, int pport, const char *const (*extra)[2])
{
	pid_t parent = getpid(), pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char log[4200], purl[64], cluster[128], adv[128];
		const char *flags[][2] = {
		        {"--name", "t"},
		        {"--data-dir", data},
		        {"--listen-client-urls", listen},
		        {"--advertise-client-urls", adv},
		        {"--listen-peer-urls", purl},
		        {"--initial-advertise-peer-urls", purl},
		        {"--initial-cluster", cluster},
		};
		const char *argv[40] = {"etcd"};
		size_t n = 1;

		/* Gone with the test, even when it crashes. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
			_exit(127);
		snprintf(log, sizeof(log), "%s.log", data);
		snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
		snprintf(cluster, sizeof(cluster), "t=%s", purl);
		snprintf(adv, sizeof(adv), "%.*s", (int)strcspn(listen, ","), listen);
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			argv[n++] = flags[i][0];
			argv[n++] = flags[i][1];
		}
		for (size_t i = 0; extra != NULL && extra[i][0] != NULL && n < 38; i++) {
			argv[n++] = extra[i][0];
			if (extra[i][1] != NULL)
				argv[n++] = extra[i][1];
		}
		argv[n] = NULL;
		if (freopen(log, "a", stdout) == NULL || freopen(log, "a", stderr) == NULL)
			_exit(127);
		execvp("etcd", (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Whether the member at U answers a range (within 15 s). */
static bool
member_ready(const char *u, const struct etcdc_tls *tls)
{
	struct etcdc *c;
	char err[256];
	bool ready = false;

	assert_int_equal(etcdc_create_tls(base, u, tls, err, sizeof(err), &c), SVC_OK);
	for (int i = 0; i < 150 && !ready; i++) {
		struct result r = call(c, "/v3/kv/range", key_range("x", false, 0));

		ready = r.st == SVC_OK;
		json_decref(r.resp);
		if (!ready)
			usleep(100 * 1000);
	}
	etcdc_destroy(c);
	return ready;
}

/* What a member that did not start said (its log goes with the test's directory). */
static void
show_log(const char *data)
{
	char cmd[4300];

	snprintf(cmd, sizeof(cmd), "tail -n 5 '%s.log' >&2", data);
	if (system(cmd) != 0)
		fprintf(stderr, "no log at %s.log\n", data);
}

static void
stop_member(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
	}
	*pid = -1;
}

static int
start_etcd(void **state)
{
	char data[4200], tmpl[] = "/tmp/svc-etcd-XXXXXX";
	int cport = tu_free_port();

	(void)state;
	etcd_dir = strdup(mkdtemp(tmpl));
	snprintf(data, sizeof(data), "%s/data", etcd_dir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", cport);
	snprintf(dead_url, sizeof(dead_url), "http://127.0.0.1:%d", tu_free_port());
	etcd_pid = spawn_etcd(data, url, tu_free_port(), NULL);
	base = event_base_new();
	assert_non_null(base);
	if (member_ready(url, NULL))
		return 0;
	show_log(data);
	return -1;
}

static int
stop_etcd(void **state)
{
	(void)state;
	stop_member(&etcd_pid);
	tu_rmrf(etcd_dir);
	free(etcd_dir);
	if (base != NULL)
		event_base_free(base);
	base = NULL;
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
	char end_why[512];
};

static void
on_watch(void *arg, enum svc_status st, const json_t *result, const char *why)
{
	struct seen *v = arg;
	const json_t *events = json_object_get(result, "events");

	if (st != SVC_OK) {
		v->ends++;
		v->end_st = st;
		snprintf(v->end_why, sizeof(v->end_why), "%s", why);
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

/* ---- TLS ---- */

static pid_t tls_pid = -1;
static char *tls_dir;
static char tls_data[4200], tls_listen[160];
static int tls_pport;
static char tls_url[64], alt_url[64], name_url[64], tls_dead_url[64];
static char ca[4200], other_ca[4200], client_crt[4200], client_key[4200], server_key[4200],
        missing[4200];
static struct etcdc_tls full;

/* A CA, another CA, a server certificate for IP 127.0.0.1 only (for clients too: the gateway in
 * the member calls its gRPC side with it) and a client certificate, in the script's directory. */
static const char gen_certs[] =
        "set -e; cd \"$(dirname \"$0\")\"\n"
        "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$1\"; }\n"
        "ca() { key \"$1.key\"; openssl req -x509 -new -key \"$1.key\" -out \"$1.crt\" -days 2 \\\n"
        "  -subj \"/CN=$2\" -addext basicConstraints=critical,CA:TRUE \\\n"
        "  -addext keyUsage=critical,keyCertSign,cRLSign; }\n"
        "leaf() { key \"$1.key\"; printf '%s\\n' \"$2\" >\"$1.ext\"\n"
        "  openssl req -new -key \"$1.key\" -out \"$1.csr\" -subj \"/CN=$1\"\n"
        "  openssl x509 -req -in \"$1.csr\" -CA ca.crt -CAkey ca.key -set_serial \"$3\" \\\n"
        "    -days 2 -extfile \"$1.ext\" -out \"$1.crt\"; }\n"
        "ca ca svc-test-ca\n"
        "ca other svc-other-ca\n"
        "leaf server 'subjectAltName=IP:127.0.0.1\n"
        "extendedKeyUsage=serverAuth,clientAuth' 2\n"
        "leaf client extendedKeyUsage=clientAuth 3\n";

static void
tls_path(char *out, const char *name)
{
	snprintf(out, 4200, "%s/%s", tls_dir, name);
}

static bool
start_tls_member(void)
{
	char cacert[4300], cert[4300], key[4300];
	const char *const flags[][2] = {
	        {"--client-cert-auth", NULL}, /* a Go boolean flag: no value after it */
	        {"--trusted-ca-file", cacert}, {"--cert-file", cert},
	        {"--key-file", key},           {NULL, NULL},
	};

	snprintf(cacert, sizeof(cacert), "%s/ca.crt", tls_dir);
	snprintf(cert, sizeof(cert), "%s/server.crt", tls_dir);
	snprintf(key, sizeof(key), "%s/server.key", tls_dir);
	tls_pid = spawn_etcd(tls_data, tls_listen, tls_pport, flags);
	if (member_ready(tls_url, &full))
		return true;
	show_log(tls_data);
	stop_member(&tls_pid);
	return false;
}

static int
start_tls(void **state)
{
	char cmd[4400];
	int cport = tu_free_port(), aport = tu_free_port();

	(void)state;
	base = event_base_new();
	tls_dir = tu_tmpdir();
	assert_non_null(base);
	assert_non_null(tls_dir);
	tu_write(tls_dir, "gen.sh", gen_certs);
	snprintf(cmd, sizeof(cmd), "sh '%s/gen.sh' >'%s/gen.log' 2>&1", tls_dir, tls_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot make the certificates (%s/gen.log)\n", tls_dir);
		return -1;
	}
	tls_path(ca, "ca.crt");
	tls_path(other_ca, "other.crt");
	tls_path(client_crt, "client.crt");
	tls_path(client_key, "client.key");
	tls_path(server_key, "server.key");
	tls_path(missing, "no-such.key");
	tls_path(tls_data, "data");
	full = (struct etcdc_tls){.cacert = ca, .cert = client_crt, .key = client_key};
	snprintf(tls_url, sizeof(tls_url), "https://127.0.0.1:%d", cport);
	snprintf(alt_url, sizeof(alt_url), "https://127.0.0.2:%d", aport);
	snprintf(name_url, sizeof(name_url), "https://localhost:%d", cport);
	snprintf(tls_dead_url, sizeof(tls_dead_url), "http://127.0.0.1:%d", tu_free_port());
	/* Also on 127.0.0.2, an address its certificate does not name. */
	snprintf(tls_listen, sizeof(tls_listen), "%s,%s", tls_url, alt_url);
	tls_pport = tu_free_port();
	return start_tls_member() ? 0 : -1;
}

static int
stop_tls(void **state)
{
	(void)state;
	stop_member(&tls_pid);
	if (tls_dir != NULL)
		tu_rmrf(tls_dir);
	free(tls_dir);
	if (base != NULL)
		event_base_free(base);
	base = NULL;
	return 0;
}

/* One call on a client of U with TLS, which must end in SVC_EIO. */
static struct result
call_fails(const char *u, const struct etcdc_tls *tls)
{
	struct etcdc *c;
	struct result r;
	char err[256];
	time_t t0 = time(NULL);

	assert_int_equal(etcdc_create_tls(base, u, tls, err, sizeof(err), &c), SVC_OK);
	r = call(c, "/v3/kv/range", key_range("/tls/a", false, 0));
	etcdc_destroy(c);
	assert_int_equal(r.st, SVC_EIO);
	/* Refused as it connects, not timed out. */
	assert_true(time(NULL) - t0 < ETCDC_TIMEOUT_S / 2);
	return r;
}

static void
assert_contains(const char *s, const char *needle)
{
	if (strstr(s, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", s, needle);
}

static void
test_tls_calls(void **state)
{
	struct etcdc *c;
	struct result r, many[5] = {{0}};
	struct etcdc_kv kv;
	char err[256], urls[160];
	time_t t0;

	(void)state;
	assert_int_equal(etcdc_create_tls(base, tls_url, &full, err, sizeof(err), &c), SVC_OK);
	assert_string_equal(err, "");
	r = call(c, "/v3/kv/txn", put_if("/tls/a", "sealed", 0));
	assert_true(succeeded(&r));
	json_decref(r.resp);
	r = call(c, "/v3/kv/range", key_range("/tls/a", false, 0));
	assert_int_equal(r.st, SVC_OK);
	assert_int_equal(etcdc_kv_decode(json_array_get(json_object_get(r.resp, "kvs"), 0), &kv),
	                 SVC_OK);
	assert_string_equal((char *)kv.value, "sealed");
	etcdc_kv_free(&kv);
	json_decref(r.resp);
	/* Several at once: they take turns on the member's connection. */
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(etcdc_call(c, "/v3/kv/range", key_range("/tls/", true, 0),
		                            on_result, &many[i]),
		                 SVC_OK);
	t0 = time(NULL);
	while (!many[4].done && time(NULL) - t0 < 10)
		event_base_loop(base, EVLOOP_ONCE);
	for (size_t i = 0; i < 5; i++) {
		assert_true(many[i].done);
		assert_int_equal(many[i].st, SVC_OK);
		json_decref(many[i].resp);
	}
	etcdc_destroy(c);

	/* A dead http member, then the TLS one. */
	snprintf(urls, sizeof(urls), "%s,%s", tls_dead_url, tls_url);
	assert_int_equal(etcdc_create_tls(base, urls, &full, err, sizeof(err), &c), SVC_OK);
	r = call(c, "/v3/kv/range", key_range("/tls/a", false, 0));
	assert_int_equal(r.st, SVC_OK);
	json_decref(r.resp);
	etcdc_destroy(c);
}

/* A call whose callback destroys its client. */
struct doomed {
	struct etcdc *c;
	struct result r;
};

static void
on_result_destroy(void *arg, enum svc_status st, const json_t *resp, const char *why)
{
	struct doomed *d = arg;

	on_result(&d->r, st, resp, why);
	etcdc_destroy(d->c);
}

/* The client goes with calls in flight and waiting, and from a callback, as the call worked or
 * failed (ASan sees what that leaves behind). */
static void
test_tls_client_goes(void **state)
{
	const struct etcdc_tls no_cert = {.cacert = ca};
	struct {
		const char *u;
		const struct etcdc_tls *tls;
		enum svc_status st;
	} cases[] = {{tls_url, &full, SVC_OK},
	             {tls_url, &no_cert, SVC_EIO},
	             {tls_dead_url, &full, SVC_EIO}};
	struct result pending[3] = {{0}};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct doomed d = {0};
		time_t t0 = time(NULL);

		assert_int_equal(
		        etcdc_create_tls(base, cases[i].u, cases[i].tls, err, sizeof(err), &d.c),
		        SVC_OK);
		assert_int_equal(etcdc_call(d.c, "/v3/kv/range", key_range("/tls/a", false, 0),
		                            on_result_destroy, &d),
		                 SVC_OK);
		assert_int_equal(etcdc_call(d.c, "/v3/kv/range", key_range("/tls/a", false, 0),
		                            on_result, &pending[i]),
		                 SVC_OK);
		while (!d.r.done && time(NULL) - t0 < 10)
			event_base_loop(base, EVLOOP_ONCE);
		assert_true(d.r.done);
		assert_int_equal(d.r.st, cases[i].st);
		json_decref(d.r.resp);
		/* The call that waited its turn went with the client. */
		for (int j = 0; j < 20; j++)
			event_base_loop(base, EVLOOP_NONBLOCK);
		assert_false(pending[i].done);
	}
}

static void
test_tls_member_restart(void **state)
{
	struct etcdc *c;
	struct result r;
	char err[256];

	(void)state;
	assert_int_equal(etcdc_create_tls(base, tls_url, &full, err, sizeof(err), &c), SVC_OK);
	r = call(c, "/v3/kv/range", key_range("/tls/a", false, 0));
	assert_int_equal(r.st, SVC_OK);
	json_decref(r.resp);
	/* The member goes, closing the kept-alive connection; the client sees it close. */
	stop_member(&tls_pid);
	for (int i = 0; i < 20; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(5 * 1000);
	}
	assert_true(start_tls_member());
	/* A new connection, with a new TLS session. */
	r = call(c, "/v3/kv/range", key_range("/tls/a", false, 0));
	assert_int_equal(r.st, SVC_OK);
	assert_int_equal(json_array_size(json_object_get(r.resp, "kvs")), 1);
	json_decref(r.resp);
	etcdc_destroy(c);
}

static void
test_tls_watch(void **state)
{
	struct etcdc *c;
	struct seen v = {0};
	struct result r;
	char err[256];
	const struct etcdc_tls no_cert = {.cacert = ca};

	(void)state;
	assert_int_equal(etcdc_create_tls(base, tls_url, &full, err, sizeof(err), &c), SVC_OK);
	assert_int_equal(etcdc_watch(c, watch_prefix("/tw/", 0), on_watch, &v, &v.w), SVC_OK);
	spin(&v.created, 1);
	assert_int_equal(v.created, 1);
	r = call(c, "/v3/kv/txn", put_if("/tw/a", "1", 0));
	assert_true(succeeded(&r));
	json_decref(r.resp);
	spin(&v.puts, 1);
	assert_int_equal(v.puts, 1);
	assert_string_equal(v.last_key, "/tw/a");
	assert_int_equal(v.ends, 0);
	etcdc_watch_cancel(v.w);
	event_base_loop(base, EVLOOP_NONBLOCK); /* the deferred free */
	etcdc_destroy(c);

	/* Without a client certificate: the stream ends, once, saying why. */
	assert_int_equal(etcdc_create_tls(base, tls_url, &no_cert, err, sizeof(err), &c), SVC_OK);
	memset(&v, 0, sizeof(v));
	assert_int_equal(etcdc_watch(c, watch_prefix("/tw/", 0), on_watch, &v, &v.w), SVC_OK);
	spin(&v.ends, 1);
	assert_int_equal(v.ends, 1);
	assert_int_equal(v.end_st, SVC_EIO);
	assert_int_equal(v.messages, 0);
	assert_null(v.w);
	assert_contains(v.end_why, "TLS");
	event_base_loop(base, EVLOOP_NONBLOCK);
	etcdc_destroy(c);
}

static void
test_tls_refused(void **state)
{
	const struct etcdc_tls no_cert = {.cacert = ca};
	const struct etcdc_tls wrong_ca = {
	        .cacert = other_ca, .cert = client_crt, .key = client_key};
	struct result r;

	(void)state;
	/* The member wants a client certificate. */
	r = call_fails(tls_url, &no_cert);
	assert_contains(r.why, "TLS with 127.0.0.1:");
	/* The member's certificate is not from the CA given. */
	r = call_fails(tls_url, &wrong_ca);
	assert_contains(r.why, "TLS with 127.0.0.1:");
	assert_contains(r.why, "certificate");
	/* Nor from one in the system's store. */
	r = call_fails(tls_url, NULL);
	assert_contains(r.why, "TLS");
	/* Then the next member is tried, as for a connection refused. */
	{
		char urls[160];
		struct etcdc *c;
		char err[256];

		snprintf(urls, sizeof(urls), "%s,%s", alt_url, tls_url);
		assert_int_equal(etcdc_create_tls(base, urls, &full, err, sizeof(err), &c), SVC_OK);
		r = call(c, "/v3/kv/range", key_range("/tls/a", false, 0));
		assert_int_equal(r.st, SVC_OK);
		json_decref(r.resp);
		etcdc_destroy(c);
	}
}

static void
test_tls_host_checked(void **state)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP}, *ai;
	struct result r;

	(void)state;
	/* 127.0.0.2 is the member, but its certificate names 127.0.0.1 only. */
	r = call_fails(alt_url, &full);
	assert_contains(r.why, "IP address mismatch");
	/* "localhost": a name, which the certificate (an IP SAN only) does not have. Where it
	 * resolves to ::1 first, the member (on 127.0.0.1 only) refuses the connection instead. */
	r = call_fails(name_url, &full);
	assert_int_equal(getaddrinfo("localhost", NULL, &hints, &ai), 0);
	if (ai->ai_family == AF_INET)
		assert_contains(r.why, "hostname mismatch");
	freeaddrinfo(ai);
}

static void
test_tls_create_errors(void **state)
{
	struct etcdc *c = NULL;
	char err[256];
	const struct etcdc_tls no_key = {.cacert = ca, .cert = client_crt, .key = missing},
	                       no_ca = {.cacert = missing, .cert = client_crt, .key = client_key},
	                       other_key = {.cacert = ca, .cert = client_crt, .key = server_key},
	                       cert_only = {.cacert = ca, .cert = client_crt},
	                       key_only = {.cacert = ca, .key = client_key},
	                       bad_ca = {.cacert = client_key};

	(void)state;
	assert_int_equal(etcdc_create_tls(base, tls_url, &no_key, err, sizeof(err), &c), SVC_EIO);
	assert_null(c);
	assert_contains(err, missing);
	assert_int_equal(etcdc_create_tls(base, tls_url, &no_ca, err, sizeof(err), &c), SVC_EIO);
	assert_contains(err, missing);
	assert_int_equal(etcdc_create_tls(base, tls_url, &other_key, err, sizeof(err), &c),
	                 SVC_EIO);
	assert_contains(err, server_key);
	assert_int_equal(etcdc_create_tls(base, tls_url, &bad_ca, err, sizeof(err), &c), SVC_EIO);
	assert_contains(err, client_key);
	assert_int_equal(etcdc_create_tls(base, tls_url, &cert_only, err, sizeof(err), &c),
	                 SVC_EINVAL);
	assert_int_equal(etcdc_create_tls(base, tls_url, &key_only, err, sizeof(err), &c),
	                 SVC_EINVAL);
	/* Files given are checked with http members too. */
	assert_int_equal(etcdc_create_tls(base, tls_dead_url, &no_key, err, sizeof(err), &c),
	                 SVC_EIO);
	/* URLs: the one that is not http(s)://host:port named. */
	assert_int_equal(etcdc_create_tls(base, "https://127.0.0.1:2379,ftp://127.0.0.1:21", &full,
	                                  err, sizeof(err), &c),
	                 SVC_EINVAL);
	assert_contains(err, "ftp://127.0.0.1:21");
	assert_int_equal(etcdc_create_tls(base, "https://127.0.0.1", NULL, err, sizeof(err), &c),
	                 SVC_EINVAL);
	assert_int_equal(etcdc_create_tls(base, "https://", NULL, NULL, 0, &c), SVC_EINVAL);
	assert_int_equal(etcdc_create_tls(base, "", NULL, err, sizeof(err), &c), SVC_EINVAL);
	/* An https URL without files: the system's store. */
	assert_int_equal(etcdc_create_tls(base, tls_url, NULL, err, sizeof(err), &c), SVC_OK);
	etcdc_destroy(c);
	/* etcdc_create is http only. */
	assert_int_equal(etcdc_create(base, tls_url, &c), SVC_EINVAL);
}

/* ---- bounds: a member that sends more than a response may hold ---- */

/* A server on a free loopback port (into *PORT) that answers one request with HEAD, then keeps
 * sending 1 MiB pieces of BODY_BYTE (as chunks when CHUNKED) until the client goes or LIMIT
 * bytes were sent. Its pid. */
static pid_t
flood_server(int *port, const char *head, bool chunked, size_t limit)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pid_t pid;

	assert_true(ls >= 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(ls, 4), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static char piece[1 << 20];
		char req[8192], size[32];
		int fd = accept(ls, NULL, NULL);
		size_t sent = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		memset(piece, 'x', sizeof(piece));
		if (fd < 0 || read(fd, req, sizeof(req)) <= 0 || write(fd, head, strlen(head)) < 0)
			_exit(1);
		snprintf(size, sizeof(size), "%x\r\n", (unsigned)sizeof(piece));
		while (sent < limit) {
			if ((chunked && write(fd, size, strlen(size)) < 0) ||
			    write(fd, piece, sizeof(piece)) < 0 ||
			    (chunked && write(fd, "\r\n", 2) < 0))
				_exit(0); /* the client went */
			sent += sizeof(piece);
		}
		_exit(0);
	}
	close(ls);
	return pid;
}

/* What the client takes from a member is bounded by ETCDC_MAX_BODY: a longer response, or a
 * watch message that never ends, fails the call or ends the watch; memory does not follow. */
static void
test_bounds(void **state)
{
	char u[64], head[256];
	struct etcdc *c;
	struct result r;
	struct seen v = {0};
	int port, status;
	pid_t pid;
	(void)state;

	/* A unary answer announcing more than the bound. */
	snprintf(head, sizeof(head),
	         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %u\r\n\r\n",
	         ETCDC_MAX_BODY + 1);
	pid = flood_server(&port, head, false, ETCDC_MAX_BODY + (2u << 20));
	snprintf(u, sizeof(u), "http://127.0.0.1:%d", port);
	assert_int_equal(etcdc_create(base, u, &c), SVC_OK);
	r = call(c, "/v3/kv/range", key_range("x", false, 0));
	assert_int_equal(r.st, SVC_EIO);
	etcdc_destroy(c);
	waitpid(pid, &status, 0);

	/* A watch stream whose one message (no newline) grows past the bound. */
	pid = flood_server(&port,
	                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	                   "Transfer-Encoding: chunked\r\n\r\n",
	                   true, ETCDC_MAX_BODY + (8u << 20));
	snprintf(u, sizeof(u), "http://127.0.0.1:%d", port);
	assert_int_equal(etcdc_create(base, u, &c), SVC_OK);
	assert_int_equal(etcdc_watch(c, watch_prefix("/b/", 0), on_watch, &v, &v.w), SVC_OK);
	/* Blocking turns: 64 MiB arrive in about a second (spin()'s pauses would take minutes). */
	for (time_t t0 = time(NULL); v.ends < 1 && time(NULL) - t0 < 30;)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(v.ends, 1);
	assert_int_not_equal(v.end_st, SVC_OK);
	assert_int_equal(v.messages, 0);
	assert_non_null(strstr(v.end_why, "size limit"));
	etcdc_destroy(c);
	waitpid(pid, &status, 0);
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
	        cmocka_unit_test(test_bounds),
	};
	const struct CMUnitTest tls_tests[] = {
	        cmocka_unit_test(test_tls_calls),          cmocka_unit_test(test_tls_client_goes),
	        cmocka_unit_test(test_tls_member_restart), cmocka_unit_test(test_tls_watch),
	        cmocka_unit_test(test_tls_refused),        cmocka_unit_test(test_tls_host_checked),
	        cmocka_unit_test(test_tls_create_errors),
	};
	int failed;

	if (system("command -v etcd >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_etcdc: no etcd on this machine: skipped\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	failed = cmocka_run_group_tests(tests, start_etcd, stop_etcd);
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_etcdc: no openssl command on this machine: TLS skipped\n");
		return failed != 0 ? failed : 77;
	}
	return failed + cmocka_run_group_tests(tls_tests, start_tls, stop_tls);
}
