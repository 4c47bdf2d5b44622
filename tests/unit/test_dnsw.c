/* test_dnsw.c -- DNS wire format: bounds-checked readers, names, pointers, writers. */
#include "testutil.h"

#include <string.h>

#include "dnsw.h"

static void
test_rd_ints(void **state)
{
	const uint8_t b[] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde};
	struct dnsw_rd rd;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;

	(void)state;
	dnsw_rd_init(&rd, b, sizeof(b));
	assert_true(dnsw_rd_u16(&rd, &v16));
	assert_int_equal(v16, 0x1234);
	assert_true(dnsw_rd_u32(&rd, &v32));
	assert_int_equal(v32, 0x56789abcu);
	/* One byte left: wider reads fail and leave the cursor alone. */
	assert_false(dnsw_rd_u16(&rd, &v16));
	assert_false(dnsw_rd_u32(&rd, &v32));
	assert_false(dnsw_rd_skip(&rd, 2));
	assert_int_equal(rd.off, 6);
	assert_true(dnsw_rd_u8(&rd, &v8));
	assert_int_equal(v8, 0xde);
	assert_false(dnsw_rd_u8(&rd, &v8));
	assert_true(dnsw_rd_skip(&rd, 0));
	assert_int_equal(rd.off, 7);
}

static void
test_rd_name_plain(void **state)
{
	const uint8_t b[] = {3, 'F', 'o', 'O', 3, 'b', 'A', 'r', 0, 0xff};
	uint8_t out[DNSW_NAME_MAX];
	size_t len = 0;
	struct dnsw_rd rd;

	(void)state;
	dnsw_rd_init(&rd, b, sizeof(b));
	assert_int_equal(dnsw_rd_name(&rd, false, out, &len), SVC_OK);
	assert_int_equal(len, 9);
	assert_memory_equal(out, "\3foo\3bar", 9);
	assert_int_equal(rd.off, 9);

	/* Truncated: the terminating root label is missing. */
	dnsw_rd_init(&rd, b, 8);
	assert_int_equal(dnsw_rd_name(&rd, false, out, &len), SVC_EINVAL);
	assert_int_equal(rd.off, 0);
	/* A label running past the end. */
	dnsw_rd_init(&rd, b, 3);
	assert_int_equal(dnsw_rd_name(&rd, false, NULL, NULL), SVC_EINVAL);
	/* Root only. */
	dnsw_rd_init(&rd, b + 8, 1);
	assert_int_equal(dnsw_rd_name(&rd, false, out, &len), SVC_OK);
	assert_int_equal(len, 1);
}

/* Names after a 12-byte header, as in a message: pointers may not point into the header. */
#define HDR 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0

static void
test_rd_name_pointers(void **state)
{
	/* 12: "example.com", 25: "www" + ptr to 12, 31: ptr to 25, 33: ptr to itself,
	 * 35: ptr into the header. */
	const uint8_t b[] = {HDR, 7, 'e', 'x', 'a', 'm',  'p', 'l',  'e', 3,    'c', 'o',  'm',
	                     0,   3, 'w', 'w', 'w', 0xc0, 12,  0xc0, 25,  0xc0, 33,  0xc0, 2};
	uint8_t out[DNSW_NAME_MAX];
	size_t len;
	struct dnsw_rd rd;

	(void)state;
	dnsw_rd_init(&rd, b, sizeof(b));
	rd.off = 25;
	assert_int_equal(dnsw_rd_name(&rd, true, out, &len), SVC_OK);
	assert_int_equal(len, 17);
	assert_memory_equal(out, "\3www\7example\3com", 17);
	assert_int_equal(rd.off, 31); /* just past the pointer */

	/* A pointer to a pointer, both backwards. */
	rd.off = 31;
	assert_int_equal(dnsw_rd_name(&rd, true, out, &len), SVC_OK);
	assert_int_equal(len, 17);
	assert_int_equal(rd.off, 33);

	/* Pointers not allowed here. */
	rd.off = 25;
	assert_int_equal(dnsw_rd_name(&rd, false, out, &len), SVC_EINVAL);
	assert_int_equal(rd.off, 25);

	/* A pointer to itself is a loop: rejected, not followed forever. */
	rd.off = 33;
	assert_int_equal(dnsw_rd_name(&rd, true, out, &len), SVC_EINVAL);

	/* Into the header: never a name (its bytes change when a message is relayed). */
	rd.off = 35;
	assert_int_equal(dnsw_rd_name(&rd, true, out, &len), SVC_EINVAL);

	/* A pointer cut in half. */
	dnsw_rd_init(&rd, b, 30);
	rd.off = 29;
	assert_int_equal(dnsw_rd_name(&rd, true, out, &len), SVC_EINVAL);
}

static void
test_rd_name_loops(void **state)
{
	/* Two pointers pointing at each other: 12 -> 14, 14 -> 12. */
	const uint8_t loop[] = {HDR, 0xc0, 14, 0xc0, 12};
	/* A forward pointer. */
	const uint8_t fwd[] = {HDR, 0xc0, 14, 0};
	/* A backwards pointer into the same name, which would loop: 1 'a' then ptr to 12. */
	const uint8_t self[] = {HDR, 1, 'a', 0xc0, 12};
	/* Extended label types 0x40 and 0x80. */
	const uint8_t ext1[] = {HDR, 0x41, 0};
	const uint8_t ext2[] = {HDR, 0x81, 0};
	struct dnsw_rd rd;

	(void)state;
	dnsw_rd_init(&rd, loop, sizeof(loop));
	rd.off = 12;
	assert_int_equal(dnsw_rd_name(&rd, true, NULL, NULL), SVC_EINVAL);
	rd.off = 14;
	assert_int_equal(dnsw_rd_name(&rd, true, NULL, NULL), SVC_EINVAL);
	dnsw_rd_init(&rd, fwd, sizeof(fwd));
	rd.off = 12;
	assert_int_equal(dnsw_rd_name(&rd, true, NULL, NULL), SVC_EINVAL);
	dnsw_rd_init(&rd, self, sizeof(self));
	rd.off = 12;
	assert_int_equal(dnsw_rd_name(&rd, true, NULL, NULL), SVC_EINVAL);
	dnsw_rd_init(&rd, ext1, sizeof(ext1));
	rd.off = 12;
	assert_int_equal(dnsw_rd_name(&rd, true, NULL, NULL), SVC_EINVAL);
	dnsw_rd_init(&rd, ext2, sizeof(ext2));
	rd.off = 12;
	assert_int_equal(dnsw_rd_name(&rd, true, NULL, NULL), SVC_EINVAL);
}

static void
test_rd_name_limits(void **state)
{
	uint8_t b[600];
	size_t o = 0, len;
	struct dnsw_rd rd;

	(void)state;
	/* 63-octet label: fine; 64 is an extended label type (0x40) and fails. */
	b[o++] = 63;
	memset(b + o, 'a', 63);
	o += 63;
	b[o++] = 0;
	dnsw_rd_init(&rd, b, o);
	assert_int_equal(dnsw_rd_name(&rd, false, NULL, &len), SVC_OK);
	assert_int_equal(len, 65);
	b[0] = 64;
	b[o - 1] = 'a';
	b[o++] = 0;
	dnsw_rd_init(&rd, b, o);
	assert_int_equal(dnsw_rd_name(&rd, false, NULL, &len), SVC_EINVAL);

	/* 255 octets exactly: 3 x 63-label (192) + one 61-label (62) + root = 255. */
	o = 0;
	for (int i = 0; i < 3; i++) {
		b[o++] = 63;
		memset(b + o, 'b', 63);
		o += 63;
	}
	b[o++] = 61;
	memset(b + o, 'c', 61);
	o += 61;
	b[o++] = 0;
	assert_int_equal(o, 255);
	dnsw_rd_init(&rd, b, o);
	assert_int_equal(dnsw_rd_name(&rd, false, NULL, &len), SVC_OK);
	assert_int_equal(len, 255);
	/* 256: one more octet in the last label. */
	o = 0;
	for (int i = 0; i < 3; i++) {
		b[o++] = 63;
		memset(b + o, 'b', 63);
		o += 63;
	}
	b[o++] = 62;
	memset(b + o, 'c', 62);
	o += 62;
	b[o++] = 0;
	dnsw_rd_init(&rd, b, o);
	assert_int_equal(dnsw_rd_name(&rd, false, NULL, &len), SVC_EINVAL);
}

static void
test_rd_name_too_long_via_pointers(void **state)
{
	/* A 201-octet name at 12, then a 60-octet label pointing at it: 262 octets in all. */
	uint8_t b[400];
	size_t o = 12, start;
	struct dnsw_rd rd;

	(void)state;
	memset(b, 0, 12);
	for (int i = 0; i < 4; i++) {
		b[o++] = 49;
		memset(b + o, 'x', 49);
		o += 49;
	}
	b[o++] = 0; /* 201 octets */
	start = o;
	b[o++] = 60;
	memset(b + o, 'y', 60);
	o += 60;
	b[o++] = 0xc0;
	b[o++] = 12;
	dnsw_rd_init(&rd, b, o);
	rd.off = start;
	assert_int_equal(dnsw_rd_name(&rd, true, NULL, NULL), SVC_EINVAL);
}

static void
test_rd_rr(void **state)
{
	/* A name after the header, then a record whose owner points at it. */
	const uint8_t b[] = {HDR, 3, 'f', 'o', 'o', 0, /* 12: foo. */
	                     0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 10, 0, 0, 1,
	                     /* 33: a record whose rdlen runs past the end */
	                     0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1};
	struct dnsw_rd rd;
	struct dnsw_rr rr;

	(void)state;
	dnsw_rd_init(&rd, b, sizeof(b));
	rd.off = 17;
	assert_int_equal(dnsw_rd_rr(&rd, &rr), SVC_OK);
	assert_int_equal(rr.start, 17);
	assert_int_equal(rr.type, DNSW_T_A);
	assert_int_equal(rr.rclass, DNSW_C_IN);
	assert_int_equal(rr.ttl, 3600);
	assert_int_equal(rr.ttl_off, 23);
	assert_int_equal(rr.rdlen, 4);
	assert_int_equal(rr.rdata_off, 29);
	assert_int_equal(rr.end, 33);
	assert_int_equal(rd.off, 33);
	assert_int_equal(dnsw_rd_rr(&rd, &rr), SVC_EINVAL);
	assert_int_equal(rd.off, 33); /* unchanged on failure */
}

static void
test_writer(void **state)
{
	uint8_t buf[8];
	struct dnsw_wr w;

	(void)state;
	dnsw_wr_init(&w, buf, sizeof(buf));
	dnsw_wr_u16(&w, 0xabcd);
	dnsw_wr_u32(&w, 0x01020304);
	assert_false(w.full);
	assert_int_equal(w.len, 6);
	assert_memory_equal(buf, "\xab\xcd\x01\x02\x03\x04", 6);
	dnsw_wr_ptr(&w, 0x123);
	assert_int_equal(w.len, 8);
	assert_int_equal(buf[6], 0xc1);
	assert_int_equal(buf[7], 0x23);
	/* Past the end: dropped, FULL set, length unchanged. */
	dnsw_wr_u8(&w, 1);
	assert_true(w.full);
	assert_int_equal(w.len, 8);
	/* Once full, even a write that would fit is dropped. */
	dnsw_wr_init(&w, buf, sizeof(buf));
	dnsw_wr_bytes(&w, "123456789", 9);
	assert_true(w.full);
	dnsw_wr_u8(&w, 1);
	assert_int_equal(w.len, 0);
}

/* A pointer has 14 bits of offset: one to 0x4000 or past it is refused, never masked into a
 * pointer to somewhere else (issue 9, item 3). */
static void
test_writer_ptr_reach(void **state)
{
	uint8_t buf[8];
	struct dnsw_wr w;

	(void)state;
	dnsw_wr_init(&w, buf, sizeof(buf));
	assert_true(dnsw_wr_ptr(&w, DNSW_PTR_MAX));
	assert_int_equal(w.len, 2);
	assert_memory_equal(buf, "\xff\xff", 2);
	assert_false(w.full);
	assert_false(dnsw_wr_ptr(&w, DNSW_PTR_MAX + 1));
	assert_true(w.full);
	assert_int_equal(w.len, 2);
	dnsw_wr_init(&w, buf, sizeof(buf));
	assert_false(dnsw_wr_ptr(&w, 0x4000 + 12));
	assert_false(dnsw_wr_ptr(&w, 12));
	assert_int_equal(w.len, 0);
	/* And a pointer that does not fit is no success either. */
	dnsw_wr_init(&w, buf, 1);
	assert_false(dnsw_wr_ptr(&w, 12));
	assert_true(w.full);
}

static void
test_name_from_str(void **state)
{
	uint8_t out[DNSW_NAME_MAX];
	size_t len;
	char long_label[70], long_name[300];

	(void)state;
	assert_int_equal(dnsw_name_from_str("Backend.Shop.svc.cluster.local", out, &len), SVC_OK);
	assert_int_equal(len, 32);
	assert_memory_equal(out, "\7backend\4shop\3svc\7cluster\5local\0", 32);
	/* A trailing dot changes nothing. */
	assert_int_equal(dnsw_name_from_str("a.b.", out, &len), SVC_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "\1a\1b\0", 5);
	assert_int_equal(dnsw_name_from_str(".", out, &len), SVC_OK);
	assert_int_equal(len, 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(dnsw_name_from_str("", out, &len), SVC_EINVAL);
	assert_int_equal(dnsw_name_from_str("a..b", out, &len), SVC_EINVAL);
	assert_int_equal(dnsw_name_from_str(".a", out, &len), SVC_EINVAL);
	memset(long_label, 'x', 64);
	long_label[64] = '\0';
	assert_int_equal(dnsw_name_from_str(long_label, out, &len), SVC_EINVAL);
	long_label[63] = '\0';
	assert_int_equal(dnsw_name_from_str(long_label, out, &len), SVC_OK);
	assert_int_equal(len, 65);
	/* 127 one-letter labels: 254 octets with the root; 128 would be 257. */
	long_name[0] = '\0';
	for (int i = 0; i < 127; i++)
		strcat(long_name, "a.");
	assert_int_equal(dnsw_name_from_str(long_name, out, &len), SVC_OK);
	assert_int_equal(len, 255);
	strcat(long_name, "a");
	assert_int_equal(dnsw_name_from_str(long_name, out, &len), SVC_EINVAL);
}

static void
test_name_to_str(void **state)
{
	const uint8_t name[] = {3, 'w', 'W', 'w', 4, 'a', '.', 0x01, '_', 0};
	char out[64];
	size_t n;

	(void)state;
	n = dnsw_name_to_str(name, sizeof(name), out, sizeof(out));
	assert_string_equal(out, "wWw.a\\046\\001_.");
	assert_int_equal(n, strlen(out));
	n = dnsw_name_to_str((const uint8_t *)"", 1, out, sizeof(out));
	assert_string_equal(out, ".");
	assert_int_equal(n, 1);
	/* Small buffers are cut, never overrun, and stay terminated. */
	memset(out, 'Z', sizeof(out));
	n = dnsw_name_to_str(name, sizeof(name), out, 4);
	assert_true(n < 4);
	assert_int_equal(out[n], '\0');
	assert_int_equal(out[4], 'Z');
}

static void
test_suffix_and_labels(void **state)
{
	uint8_t name[DNSW_NAME_MAX], zone[DNSW_NAME_MAX], other[DNSW_NAME_MAX];
	size_t nlen, zlen, olen;

	(void)state;
	assert_int_equal(dnsw_name_from_str("a.svc.cluster.local", name, &nlen), SVC_OK);
	assert_int_equal(dnsw_name_from_str("cluster.local", zone, &zlen), SVC_OK);
	assert_int_equal(dnsw_name_suffix_at(name, nlen, zone, zlen), 6);
	assert_int_equal(dnsw_name_suffix_at(name, nlen, name, nlen), 0);
	assert_int_equal(dnsw_name_suffix_at(zone, zlen, name, nlen), -1);
	/* Not on a label boundary: "ter.local" inside "cluster.local". */
	assert_int_equal(dnsw_name_from_str("ster.local", other, &olen), SVC_OK);
	assert_int_equal(dnsw_name_suffix_at(name, nlen, other, olen), -1);
	/* The root is a suffix of everything, at the end. */
	assert_int_equal(dnsw_name_suffix_at(name, nlen, (const uint8_t *)"", 1), (int)nlen - 1);
	assert_int_equal(dnsw_name_labels(name, nlen), 4);
	assert_int_equal(dnsw_name_labels((const uint8_t *)"", 1), 0);
}

static void
test_lower_hash(void **state)
{
	uint8_t a[] = {3, 'A', 'b', 'Z', 0};
	const uint8_t b[] = {3, 'a', 'b', 'z', 0};

	(void)state;
	assert_int_not_equal(dnsw_name_hash(a, 5), dnsw_name_hash(b, 5));
	dnsw_name_lower(a, 5);
	assert_memory_equal(a, b, 5);
	assert_int_equal(dnsw_name_hash(a, 5), dnsw_name_hash(b, 5));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rd_ints),
	        cmocka_unit_test(test_rd_name_plain),
	        cmocka_unit_test(test_rd_name_pointers),
	        cmocka_unit_test(test_rd_name_loops),
	        cmocka_unit_test(test_rd_name_limits),
	        cmocka_unit_test(test_rd_name_too_long_via_pointers),
	        cmocka_unit_test(test_rd_rr),
	        cmocka_unit_test(test_writer),
	        cmocka_unit_test(test_writer_ptr_reach),
	        cmocka_unit_test(test_name_from_str),
	        cmocka_unit_test(test_name_to_str),
	        cmocka_unit_test(test_suffix_and_labels),
	        cmocka_unit_test(test_lower_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
