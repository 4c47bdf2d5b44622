/* etcdrange.h -- a range response of etcd's JSON gateway (POST /v3/kv/range) as key-values:
 * the header's revision, "more", and kvs[] with keys and values decoded from base64.
 *
 * A page of a list is tens of megabytes of base64 in JSON strings. As a tree (jansson) it is
 * read one character at a time, each string copied, each value allocated: a quarter of a
 * daemon's start from etcd. etcdrange_read walks the shape the gateway writes where it lies,
 * finds each string's end with memchr and decodes its base64 straight from the body. A body
 * outside that shape (an escape or a byte outside printable ASCII in a string, a number that is
 * not a small integer, a member named twice, "error", nesting past ETCDRANGE_DEPTH) is read as
 * a tree instead. The tree is the reference: both give the same result on every input
 * (test_etcdrange, fuzz_etcdrange). */
#ifndef ETCDRANGE_H
#define ETCDRANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_status.h"

#define ETCDRANGE_DEPTH 32

struct etcdrange_kv {
	const uint8_t *key, *value; /* NUL after each; in the range's bytes (or a static "") */
	size_t key_len, value_len;
	int64_t create_revision, mod_revision, version, lease;
	bool bad; /* not etcd's key-value JSON: empty key and value, numbers 0 */
};

struct etcdrange {
	int64_t revision; /* the header's; 0 when absent or not an int64 */
	bool more;        /* true: keys are left past the last */
	struct etcdrange_kv *kvs;
	size_t n_kvs, cap_kvs;
	bool tree;      /* read by jansson: the body was outside the fast reader's shape */
	uint8_t *bytes; /* the keys and values */
};

/* BODY (LEN bytes) into OUT. SVC_EINVAL when BODY is not a JSON object, or is the gateway's
 * error ({"error": ..., "message": ...}): WHY (WHYLEN bytes) says which. SVC_ENOMEM. On
 * failure OUT holds nothing to free. */
enum svc_status etcdrange_read(const char *body, size_t len, struct etcdrange *out, char *why,
                               size_t whylen);
/* The same, always as a tree: the reference etcdrange_read is checked against. */
enum svc_status etcdrange_read_tree(const char *body, size_t len, struct etcdrange *out, char *why,
                                    size_t whylen);
void etcdrange_free(struct etcdrange *r);

#endif
