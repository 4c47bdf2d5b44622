/* test_etcdrange.c -- a range response read where it lies: the gateway's own answer read without
 * a tree, what goes to the tree instead (escapes, duplicates, errors, numbers), and the property
 * that both readers give the same result on random answers and random damage to them ($SEED). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64.h"
#include "etcdrange.h"
#include "testutil.h"

/* What etcd 3.4.23 answered for a page of two services (values cut short). */
static const char gateway[] =
        "{\"header\":{\"cluster_id\":\"7801232528081817440\",\"member_id\":"
        "\"13458989633860879742\",\"revision\":\"5756\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":"
        "\"L3N2Y2Rucy9zZXJ2aWNlcy9ucy0wL3N2Yy0w\",\"create_revision\":\"3\",\"mod_revision\":"
        "\"3\",\"version\":\"1\",\"value\":\"YXBpVmVyc2lvbjogdjEKa2luZDogU2VydmljZQo=\"},{\"key\":"
        "\"L3N2Y2Rucy9zZXJ2aWNlcy9ucy0wL3N2Yy0x\",\"create_revision\":\"3\",\"mod_revision\":"
        "\"7\",\"version\":\"2\",\"lease\":\"7587870000000000001\"}],\"more\":true,\"count\":"
        "\"100000\"}";

static enum svc_status
rd(const char *body, struct etcdrange *r, char *why)
{
	return etcdrange_read(body, strlen(body), r, why, 256);
}

static void
test_gateway(void **state)
{
	struct etcdrange r;
	char why[256];
	(void)state;

	assert_int_equal(rd(gateway, &r, why), SVC_OK);
	assert_false(r.tree);
	assert_int_equal(r.revision, 5756);
	assert_true(r.more);
	assert_int_equal(r.n_kvs, 2);
	assert_string_equal((const char *)r.kvs[0].key, "/svcdns/services/ns-0/svc-0");
	assert_int_equal(r.kvs[0].key_len, strlen("/svcdns/services/ns-0/svc-0"));
	assert_string_equal((const char *)r.kvs[0].value, "apiVersion: v1\nkind: Service\n");
	assert_int_equal(r.kvs[0].create_revision, 3);
	assert_int_equal(r.kvs[0].mod_revision, 3);
	assert_int_equal(r.kvs[0].version, 1);
	/* An empty value is left out by the gateway. */
	assert_int_equal(r.kvs[1].value_len, 0);
	assert_string_equal((const char *)r.kvs[1].value, "");
	assert_int_equal(r.kvs[1].mod_revision, 7);
	assert_int_equal(r.kvs[1].lease, 7587870000000000001);
	etcdrange_free(&r);

	/* The last page, and an empty range. */
	assert_int_equal(rd("{\"header\":{\"revision\":\"9\"},\"count\":\"0\"}", &r, why), SVC_OK);
	assert_false(r.tree);
	assert_false(r.more);
	assert_int_equal(r.n_kvs, 0);
	assert_int_equal(r.revision, 9);
	etcdrange_free(&r);
	assert_int_equal(rd(" {\"kvs\": [ ], \"more\" : false}\n", &r, why), SVC_OK);
	assert_false(r.tree);
	etcdrange_free(&r);
}

static void
test_tree(void **state)
{
	struct etcdrange r;
	char why[256];
	(void)state;

	/* JSON may escape '/': the tree reads it, and the value is the same. */
	assert_int_equal(rd("{\"kvs\":[{\"key\":\"L3Q\\/YQ==\",\"value\":\"eA==\"}]}", &r, why),
	                 SVC_OK);
	assert_true(r.tree);
	assert_int_equal(r.n_kvs, 1);
	assert_false(r.kvs[0].bad);
	assert_string_equal((const char *)r.kvs[0].key, "/t?a");
	assert_string_equal((const char *)r.kvs[0].value, "x");
	etcdrange_free(&r);

	/* A name twice: jansson keeps the last. */
	assert_int_equal(rd("{\"kvs\":[{\"key\":\"eA==\"}],\"kvs\":[]}", &r, why), SVC_OK);
	assert_true(r.tree);
	assert_int_equal(r.n_kvs, 0);
	etcdrange_free(&r);

	/* A key that is not base64, a kv that is not an object: bad, the others read. */
	assert_int_equal(rd("{\"kvs\":[{\"key\":\"e!==\"},5,{\"key\":\"eQ==\",\"version\":1.5},"
	                    "{\"key\":\"eg==\",\"version\":\"+4\"}],\"more\":1}",
	                    &r, why),
	                 SVC_OK);
	assert_true(r.tree);
	assert_int_equal(r.n_kvs, 4);
	assert_true(r.kvs[0].bad);
	assert_true(r.kvs[1].bad);
	assert_true(r.kvs[2].bad);
	assert_false(r.kvs[3].bad);
	assert_int_equal(r.kvs[3].version, 4);
	assert_false(r.more);
	etcdrange_free(&r);

	/* The gateway's error, and answers that are not a JSON object. */
	assert_int_equal(rd("{\"error\":\"etcdserver: mvcc: required revision has been "
	                    "compacted\",\"code\":11,\"message\":\"etcdserver: mvcc: required "
	                    "revision has been compacted\"}",
	                    &r, why),
	                 SVC_EINVAL);
	assert_string_equal(why, "etcdserver: mvcc: required revision has been compacted");
	assert_null(r.kvs);
	assert_null(r.bytes);
	const char *not_objects[] = {"",
	                             "[]",
	                             "{\"kvs\":[]",
	                             "{} x",
	                             "{\"a\":1e999999}",
	                             "{\"a\":123456789012345678901234567890}",
	                             "\"x\""};
	for (size_t i = 0; i < sizeof(not_objects) / sizeof(*not_objects); i++) {
		assert_int_equal(rd(not_objects[i], &r, why), SVC_EINVAL);
		assert_string_equal(why, "etcd answered with no JSON object");
	}
}

/* ---- the property: both readers agree ---- */

struct gen {
	char *buf;
	size_t len, cap;
};

static void
put(struct gen *g, const char *s, size_t n)
{
	if (g->len + n + 1 > g->cap) {
		g->cap = (g->len + n + 1) * 2;
		g->buf = realloc(g->buf, g->cap);
		assert_non_null(g->buf);
	}
	memcpy(g->buf + g->len, s, n);
	g->len += n;
	g->buf[g->len] = '\0';
}

static void
puts_(struct gen *g, const char *s)
{
	put(g, s, strlen(s));
}

static void
space(struct gen *g)
{
	static const char *const ws[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};

	puts_(g, ws[rand() % 7]);
}

static void
name(struct gen *g, const char *n)
{
	space(g);
	puts_(g, "\"");
	puts_(g, n);
	puts_(g, "\"");
	space(g);
	puts_(g, ":");
	space(g);
}

static void
b64(struct gen *g)
{
	uint8_t raw[40];
	char enc[B64_ENCODED_LEN(sizeof(raw))];
	size_t n = (size_t)rand() % sizeof(raw);

	for (size_t i = 0; i < n; i++)
		raw[i] = (uint8_t)(rand() % 4 == 0 ? rand() : 'a' + rand() % 26);
	b64_encode(raw, n, enc);
	puts_(g, "\"");
	puts_(g, enc);
	puts_(g, "\"");
}

static void
int64(struct gen *g)
{
	static const char *const odd[] = {"\"-3\"",
	                                  "-3",
	                                  "0",
	                                  "\"007\"",
	                                  "\"\"",
	                                  "\"-\"",
	                                  "\"9223372036854775807\"",
	                                  "1234567890123456789",
	                                  "\" 5\"",
	                                  "1.0",
	                                  "2e3",
	                                  "null",
	                                  "-0"};
	char n[32];

	if (rand() % 6 == 0) {
		puts_(g, odd[rand() % (sizeof(odd) / sizeof(*odd))]);
		return;
	}
	snprintf(n, sizeof(n), rand() % 2 ? "\"%d\"" : "%d", rand() % 100000);
	puts_(g, n);
}

/* Any JSON value, of the kinds the fast reader skips and some it does not. */
static void
value(struct gen *g, int depth)
{
	static const char *const leaves[] = {"true",       "false", "null",  "0",
	                                     "17",         "-4",    "\"x\"", "\"caf\xc3\xa9\"",
	                                     "\"a\\\"b\"", "3.5",   "\"\""};
	int k = depth > 3 ? 0 : rand() % 4;

	if (k == 0) {
		puts_(g, leaves[rand() % (sizeof(leaves) / sizeof(*leaves))]);
	} else if (k == 1) {
		int n = rand() % 3;

		puts_(g, "[");
		for (int i = 0; i < n; i++) {
			if (i)
				puts_(g, ",");
			space(g);
			value(g, depth + 1);
		}
		puts_(g, "]");
	} else {
		int n = rand() % 3;

		puts_(g, "{");
		for (int i = 0; i < n; i++) {
			if (i)
				puts_(g, ",");
			name(g, i % 2 ? "k" : "other");
			value(g, depth + 1);
		}
		puts_(g, "}");
	}
}

/* Members in a random order, some left out, some twice, some unknown. */
static void
object(struct gen *g, const char *const *names, size_t n, void (*each)(struct gen *, size_t))
{
	size_t order[16], m = 0;

	for (size_t i = 0; i < n; i++)
		if (rand() % 8 != 0)
			order[m++] = i;
	if (rand() % 20 == 0 && m > 0)
		order[m++] = order[0];
	for (size_t i = m; i > 1; i--) {
		size_t j = (size_t)rand() % i, t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	puts_(g, "{");
	for (size_t i = 0; i < m; i++) {
		if (i)
			puts_(g, ",");
		name(g, names[order[i]]);
		each(g, order[i]);
	}
	if (rand() % 5 == 0) {
		puts_(g, m ? "," : "");
		name(g, "unknown");
		value(g, 0);
	}
	space(g);
	puts_(g, "}");
}

static void
kv_member(struct gen *g, size_t i)
{
	if (i < 2)
		b64(g);
	else
		int64(g);
}

static void
header_member(struct gen *g, size_t i)
{
	if (i == 0)
		int64(g);
	else
		puts_(g, "\"14841639068965178418\"");
}

static void
top_member(struct gen *g, size_t i)
{
	static const char *const kv_names[] = {"key",          "value",   "create_revision",
	                                       "mod_revision", "version", "lease"};
	static const char *const header_names[] = {"revision", "cluster_id"};

	if (i == 0) {
		object(g, header_names, 2, header_member);
	} else if (i == 1) {
		int n = rand() % 5;

		puts_(g, "[");
		for (int k = 0; k < n; k++) {
			if (k)
				puts_(g, ",");
			space(g);
			if (rand() % 30 == 0)
				value(g, 0);
			else
				object(g, kv_names, 6, kv_member);
		}
		space(g);
		puts_(g, "]");
	} else if (i == 2) {
		puts_(g, rand() % 10 == 0 ? "1" : rand() % 2 ? "true" : "false");
	} else {
		int64(g);
	}
}

/* Damage: a byte changed, inserted, taken out; the end cut off; base64's '/' escaped. */
static void
damage(struct gen *g)
{
	static const char set[] = "\"\\{}[],:0-.eE \t/\x80\xff";
	size_t at = g->len ? (size_t)rand() % g->len : 0;

	switch (rand() % 6) {
	case 0:
		if (g->len)
			g->buf[at] = set[rand() % (sizeof(set) - 1)];
		break;
	case 1:
		put(g, " ", 1);
		memmove(g->buf + at + 1, g->buf + at, g->len - at - 1);
		g->buf[at] = rand() % 8 == 0 ? '\0' : set[rand() % (sizeof(set) - 1)];
		break;
	case 2:
		if (g->len) {
			memmove(g->buf + at, g->buf + at + 1, g->len - at - 1);
			g->len--;
		}
		break;
	case 3:
		g->len = at;
		break;
	default: {
		char *slash = memchr(g->buf + at, '/', g->len - at);

		if (slash != NULL) {
			size_t o = (size_t)(slash - g->buf);

			put(g, " ", 1);
			memmove(g->buf + o + 1, g->buf + o, g->len - o - 1);
			g->buf[o] = '\\';
		}
	}
	}
}

static void
same(const struct etcdrange *a, const struct etcdrange *b, const char *body)
{
	if (a->revision != b->revision || a->more != b->more || a->n_kvs != b->n_kvs)
		fail_msg("the readers differ on %s", body);
	for (size_t i = 0; i < a->n_kvs; i++) {
		const struct etcdrange_kv *x = &a->kvs[i], *y = &b->kvs[i];

		if (x->bad != y->bad || x->key_len != y->key_len || x->value_len != y->value_len ||
		    memcmp(x->key, y->key, x->key_len + 1) != 0 ||
		    memcmp(x->value, y->value, x->value_len + 1) != 0 ||
		    x->create_revision != y->create_revision ||
		    x->mod_revision != y->mod_revision || x->version != y->version ||
		    x->lease != y->lease)
			fail_msg("the readers differ on kv %zu of %s", i, body);
	}
}

static void
test_same_as_tree(void **state)
{
	static const char *const top[] = {"header", "kvs", "more", "count"};
	unsigned seed = getenv("SEED") ? (unsigned)atoi(getenv("SEED")) : (unsigned)time(NULL);
	struct gen g = {0};
	size_t fast = 0, tree = 0, failed = 0;
	(void)state;

	srand(seed);
	for (int round = 0; round < 20000; round++) {
		struct etcdrange a, b;
		char wa[256], wb[256];
		enum svc_status sa, sb;

		g.len = 0;
		space(&g);
		object(&g, top, 4, top_member);
		space(&g);
		for (int d = rand() % 4 == 0 ? 1 + rand() % 3 : 0; d > 0; d--)
			damage(&g);
		sa = etcdrange_read(g.buf, g.len, &a, wa, sizeof(wa));
		sb = etcdrange_read_tree(g.buf, g.len, &b, wb, sizeof(wb));
		if (sa != sb)
			fail_msg("seed %u: status %d, the tree's %d, on %.*s", seed, sa, sb,
			         (int)g.len, g.buf);
		if (sa == SVC_OK) {
			same(&a, &b, g.buf);
			fast += !a.tree;
			tree += a.tree;
		} else {
			assert_string_equal(wa, wb);
			failed++;
		}
		etcdrange_free(&a);
		etcdrange_free(&b);
	}
	/* Each way was taken often enough to have been compared. */
	printf("seed %u: %zu fast, %zu as trees, %zu failed\n", seed, fast, tree, failed);
	assert_true(fast > 2000 && tree > 2000 && failed > 500);
	free(g.buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_gateway),
	        cmocka_unit_test(test_tree),
	        cmocka_unit_test(test_same_as_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
