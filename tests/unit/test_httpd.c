/* test_httpd.c -- the HTTP request-head parser of the bounded server: what is served, and the
 * status every malformed or unwanted request gets. (The limits on time, size and connections
 * are checked on the real daemons by tests/system/http_limits.sh.) */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "httpd.h"

/* The status for TEXT. */
static int
parse(const char *text)
{
	struct httpd_request r;

	return httpd_parse(text, strlen(text), &r);
}

static void
expect_ok(const char *text, const char *path, bool head)
{
	struct httpd_request r;

	assert_int_equal(httpd_parse(text, strlen(text), &r), 0);
	assert_int_equal(r.path_len, strlen(path));
	assert_memory_equal(r.path, path, r.path_len);
	assert_int_equal(r.head, head);
}

static void
test_served(void **state)
{
	(void)state;
	expect_ok("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", "/metrics", false);
	expect_ok("HEAD /ready HTTP/1.0\r\n\r\n", "/ready", true);
	/* Bare LFs, a query and a fragment, header whitespace, case-insensitive names. */
	expect_ok("GET /metrics?name[]=x HTTP/1.1\nHost:x\n\n", "/metrics", false);
	expect_ok("GET /a#frag HTTP/1.1\r\nUser-Agent: \t curl/7 \t\r\n\r\n", "/a", false);
	expect_ok("GET / HTTP/1.1\r\ncontent-LENGTH: 0\r\n\r\n", "/", false);
	expect_ok("GET / HTTP/1.1\r\nContent-Length: 000\r\n\r\n", "/", false);
	expect_ok("GET /health HTTP/1.1\r\nX-Empty:\r\n\r\n", "/health", false);
}

/* A body announced in any way is refused before it is read, whatever the method. */
static void
test_body_refused(void **state)
{
	(void)state;
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nContent-Length: 314572800\r\n\r\n"), 413);
	assert_int_equal(parse("GET / HTTP/1.1\r\ncontent-length: 1\r\n\r\n"), 413);
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 0001\r\n\r\n"), 413);
	assert_int_equal(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 413);
	assert_int_equal(parse("GET / HTTP/1.1\r\nTRANSFER-ENCODING: identity\r\n\r\n"), 413);
	assert_int_equal(parse("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), 413);
	/* Content-Length that is not a number is malformed, not "no body". */
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 1e9\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n"), 400);
}

static void
test_methods(void **state)
{
	(void)state;
	assert_int_equal(parse("POST /metrics HTTP/1.1\r\n\r\n"), 405);
	assert_int_equal(parse("DELETE / HTTP/1.1\r\n\r\n"), 405);
	assert_int_equal(parse("get / HTTP/1.1\r\n\r\n"), 405); /* methods are case-sensitive */
	assert_int_equal(parse("GETS / HTTP/1.1\r\n\r\n"), 405);
	assert_int_equal(parse("OPTIONS * HTTP/1.1\r\n\r\n"), 400); /* not origin-form */
}

static void
test_malformed(void **state)
{
	(void)state;
	assert_int_equal(parse(""), 400);
	assert_int_equal(parse("\r\n\r\n"), 400);
	assert_int_equal(parse("GET\r\n\r\n"), 400);
	assert_int_equal(parse("GET /\r\n\r\n"), 400);
	assert_int_equal(parse("GET  / HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1 \r\n\r\n"), 400);
	assert_int_equal(parse("GET /a b HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(parse("GET metrics HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(parse("GET http://x/metrics HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(parse("G(T / HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(parse("GET / FTP/1.0\r\n\r\n"), 400);
	assert_int_equal(parse("GET /\x01 HTTP/1.1\r\n\r\n"), 400);
	/* Versions: 1.0 and 1.1 only. */
	assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n"), 505);
	assert_int_equal(parse("GET / HTTP/1.10\r\n\r\n"), 505);
	assert_int_equal(parse("GET / HTTP/0.9\r\n\r\n"), 505);
	/* Header lines: a name, a colon, no folding, no control characters. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\n: value\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nName : x\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n"), 400);
	{
		/* A NUL inside a value (strlen would stop at it: the length is given). */
		static const char text[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
		struct httpd_request r;

		assert_int_equal(httpd_parse(text, sizeof(text) - 1, &r), 400);
	}
	/* A bad header is found even after a refused body: 400 first. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 9\r\nA b\r\n\r\n"), 400);
}

/* Only the N bytes given are read: a head cut anywhere parses without reading past it. */
static void
test_bounds(void **state)
{
	static const char text[] =
	        "GET /metrics HTTP/1.1\r\nHost: example\r\nContent-Length: 0\r\n\r\n";
	(void)state;

	for (size_t n = 0; n < sizeof(text) - 1; n++) {
		/* Exactly N bytes: ASan reports any read past them. */
		char *copy = malloc(n > 0 ? n : 1);
		struct httpd_request r;
		int st;

		assert_non_null(copy);
		memcpy(copy, text, n);
		st = httpd_parse(copy, n, &r);
		assert_true(st == 0 || st == 400 || st == 505);
		if (st == 0)
			assert_true(r.path + r.path_len <= copy + n);
		free(copy);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_served),  cmocka_unit_test(test_body_refused),
	        cmocka_unit_test(test_methods), cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
