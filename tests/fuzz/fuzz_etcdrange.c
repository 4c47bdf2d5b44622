/* fuzz_etcdrange.c -- libFuzzer target: any bytes as etcd's answer to a range.
 *
 * The input is read by etcdrange_read (where it lies when it can, else as a tree) and by
 * etcdrange_read_tree alone. Both must return the same status with the same reason, and on
 * success the same revision, "more" and key-values byte for byte, each key and value with its
 * NUL; anything else aborts. The input is copied to a buffer of its own size, so a read past its
 * end is caught by ASan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcdrange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
kv_same(const struct etcdrange_kv *x, const struct etcdrange_kv *y)
{
	return x->bad == y->bad && x->key_len == y->key_len && x->value_len == y->value_len &&
	       memcmp(x->key, y->key, x->key_len + 1) == 0 &&
	       memcmp(x->value, y->value, x->value_len + 1) == 0 &&
	       x->create_revision == y->create_revision && x->mod_revision == y->mod_revision &&
	       x->version == y->version && x->lease == y->lease;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size ? size : 1), wa[256], wb[256];
	struct etcdrange a, b;
	enum svc_status sa, sb;

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	sa = etcdrange_read(body, size, &a, wa, sizeof(wa));
	sb = etcdrange_read_tree(body, size, &b, wb, sizeof(wb));
	if (sa != sb || (sa != SVC_OK && strcmp(wa, wb) != 0))
		abort();
	if (sa == SVC_OK) {
		if (a.revision != b.revision || a.more != b.more || a.n_kvs != b.n_kvs)
			abort();
		for (size_t i = 0; i < a.n_kvs; i++)
			if (!kv_same(&a.kvs[i], &b.kvs[i]))
				abort();
	}
	etcdrange_free(&a);
	etcdrange_free(&b);
	free(body);
	return 0;
}
