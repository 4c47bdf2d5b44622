/* test_fwd_sklookup.c -- the sk_lookup keys, and the hand-assembled program run by the kernel
 * (BPF_PROG_TEST_RUN, Linux 5.13+): which destinations it hands to which socket, that a miss
 * assigns nothing, that deletions take effect, that the map grows without losing entries, and
 * how long a full fill of 180,000 destinations takes. The kernel part needs CAP_BPF and
 * CAP_NET_ADMIN: without them (or without sk_lookup) those tests are skipped. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fwd_sklookup.h"

static struct netaddr
ip(const char *text)
{
	struct netaddr a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(netaddr_parse(&a, text), SVC_OK);
	return a;
}

/* ---- keys (pure) ---------------------------------------------------------------------------- */

static void
test_key_v4(void **state)
{
	struct netaddr a = ip("10.96.0.10");
	struct fwd_sklookup_key k;
	static const uint8_t want[16] = {10, 96, 0, 10};

	(void)state;
	fwd_sklookup_key(&k, CLUSTER_TCP, &a, false, 443);
	assert_memory_equal(k.addr, want, 16);
	assert_int_equal(k.port, 443);
	assert_int_equal(k.family, AF_INET);
	assert_int_equal(k.proto, IPPROTO_TCP);
	assert_int_equal(fwd_sklookup_key_slot(&k), FWD_SKL_TCP4);
	fwd_sklookup_key(&k, CLUSTER_UDP, &a, false, 53);
	assert_int_equal(k.proto, IPPROTO_UDP);
	assert_int_equal(fwd_sklookup_key_slot(&k), FWD_SKL_UDP4);
}

static void
test_key_v6_and_wildcard(void **state)
{
	struct netaddr a = ip("fd00::a");
	struct netaddr any6 = {.family = NETADDR_V6};
	struct fwd_sklookup_key k, w;
	static const uint8_t zero[16];

	(void)state;
	fwd_sklookup_key(&k, CLUSTER_UDP, &a, false, 5353);
	assert_memory_equal(k.addr, a.bytes, 16);
	assert_int_equal(k.family, AF_INET6);
	assert_int_equal(fwd_sklookup_key_slot(&k), FWD_SKL_UDP6);
	/* A node port: any local address, whatever bytes the address carries. */
	fwd_sklookup_key(&w, CLUSTER_TCP, &a, true, 30080);
	assert_memory_equal(w.addr, zero, 16);
	assert_int_equal(w.family, AF_INET6);
	assert_int_equal(fwd_sklookup_key_slot(&w), FWD_SKL_TCP6);
	fwd_sklookup_key(&k, CLUSTER_TCP, &any6, true, 30080);
	assert_memory_equal(&k, &w, sizeof(k));
}

/* ---- the program, run by the kernel -----------------------------------------------------------
 */

struct fx {
	struct fwd_sklookup sk;
	int fd[FWD_SKL_SLOTS];
	uint64_t cookie[FWD_SKL_SLOTS];
};

static int
sock_for(enum fwd_sklookup_slot slot)
{
	bool v6 = slot == FWD_SKL_TCP6 || slot == FWD_SKL_UDP6;
	bool udp = slot == FWD_SKL_UDP4 || slot == FWD_SKL_UDP6;
	int fd =
	        socket(v6 ? AF_INET6 : AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int one = 1;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)), 0);
	if (v6)
		assert_int_equal(bind(fd, (struct sockaddr *)&s6, sizeof(s6)), 0);
	else
		assert_int_equal(bind(fd, (struct sockaddr *)&s4, sizeof(s4)), 0);
	if (!udp)
		assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	*state = f;
	for (int i = 0; i < FWD_SKL_SLOTS; i++)
		f->fd[i] = -1;
	if (fwd_sklookup_open(&f->sk, 0, false) != SVC_OK) {
		fprintf(stderr, "sk_lookup unavailable here (%s): kernel tests skipped\n",
		        f->sk.err);
		fwd_sklookup_close(&f->sk);
		f->sk.prog_fd = -1;
		return 0;
	}
	for (int i = 0; i < FWD_SKL_SLOTS; i++) {
		socklen_t len = sizeof(f->cookie[i]);

		f->fd[i] = sock_for((enum fwd_sklookup_slot)i);
		if (getsockopt(f->fd[i], SOL_SOCKET, SO_COOKIE, &f->cookie[i], &len) != 0 ||
		    fwd_sklookup_set_socket(&f->sk, (enum fwd_sklookup_slot)i, f->fd[i]) != SVC_OK)
			return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fwd_sklookup_close(&f->sk);
	for (int i = 0; i < FWD_SKL_SLOTS; i++) {
		if (f->fd[i] >= 0)
			close(f->fd[i]);
	}
	free(f);
	return 0;
}

#define NEED_BPF(f)                                                                                \
	do {                                                                                       \
		if ((f)->sk.prog_fd < 0)                                                           \
			skip();                                                                    \
	} while (0)

/* The cookie of the socket the program picks for a packet to DST:PORT/PROTO (0: none). */
static uint64_t
run(struct fx *f, const char *dst, uint16_t port, int proto)
{
	struct netaddr a = ip(dst);
	struct bpf_sk_lookup ctx;
	union bpf_attr attr;

	memset(&ctx, 0, sizeof(ctx));
	ctx.family = a.family == NETADDR_V6 ? AF_INET6 : AF_INET;
	ctx.protocol = (uint32_t)proto;
	if (a.family == NETADDR_V6) {
		memcpy(ctx.local_ip6, a.bytes, 16);
		ctx.remote_ip6[0] = htonl(0xfd000000);
		ctx.remote_ip6[3] = htonl(2);
	} else {
		memcpy(&ctx.local_ip4, a.bytes, 4);
		ctx.remote_ip4 = htonl(0x0a000002);
	}
	ctx.local_port = port;
	ctx.remote_port = htons(40000);
	memset(&attr, 0, sizeof(attr));
	attr.test.prog_fd = (uint32_t)f->sk.prog_fd;
	attr.test.ctx_in = (uint64_t)(uintptr_t)&ctx;
	attr.test.ctx_size_in = sizeof(ctx);
	attr.test.ctx_out = (uint64_t)(uintptr_t)&ctx;
	attr.test.ctx_size_out = sizeof(ctx);
	if (syscall(__NR_bpf, BPF_PROG_TEST_RUN, &attr, sizeof(attr)) != 0)
		fail_msg("BPF_PROG_TEST_RUN: %s", strerror(errno));
	assert_int_equal(attr.test.retval, SK_PASS);
	return ctx.cookie;
}

static void
add(struct fx *f, enum cluster_proto proto, const char *addr, bool wildcard, uint16_t port)
{
	struct netaddr a = ip(addr);
	struct fwd_sklookup_key k;

	fwd_sklookup_key(&k, proto, &a, wildcard, port);
	assert_int_equal(fwd_sklookup_update(&f->sk, NULL, 0, &k, 1), SVC_OK);
}

static void
test_program_hands_service_ports_over(void **state)
{
	struct fx *f = *state;

	NEED_BPF(f);
	add(f, CLUSTER_TCP, "10.96.0.10", false, 80);
	add(f, CLUSTER_UDP, "10.96.0.10", false, 53);
	add(f, CLUSTER_TCP, "fd00:96::10", false, 80);
	add(f, CLUSTER_UDP, "fd00:96::10", false, 53);
	assert_int_equal(f->sk.n, 4);
	assert_true(run(f, "10.96.0.10", 80, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
	assert_true(run(f, "10.96.0.10", 53, IPPROTO_UDP) == f->cookie[FWD_SKL_UDP4]);
	assert_true(run(f, "fd00:96::10", 80, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP6]);
	assert_true(run(f, "fd00:96::10", 53, IPPROTO_UDP) == f->cookie[FWD_SKL_UDP6]);
	/* Misses: another port, protocol or address of the same service is not taken, so the
	 * kernel refuses it as before. */
	assert_true(run(f, "10.96.0.10", 81, IPPROTO_TCP) == 0);
	assert_true(run(f, "10.96.0.10", 80, IPPROTO_UDP) == 0);
	assert_true(run(f, "10.96.0.11", 80, IPPROTO_TCP) == 0);
	assert_true(run(f, "fd00:96::11", 80, IPPROTO_TCP) == 0);
	/* An IPv4 address whose bytes start an IPv6 key is not that key. */
	assert_true(run(f, "253.0.0.150", 80, IPPROTO_TCP) == 0);
}

static void
test_program_node_ports_on_any_address(void **state)
{
	struct fx *f = *state;

	NEED_BPF(f);
	add(f, CLUSTER_TCP, "0.0.0.0", true, 30080);
	add(f, CLUSTER_UDP, "::", true, 30053);
	add(f, CLUSTER_TCP, "10.96.0.10", false, 80);
	assert_true(run(f, "192.168.1.7", 30080, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
	assert_true(run(f, "127.0.0.1", 30080, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
	assert_true(run(f, "fd00:1::7", 30053, IPPROTO_UDP) == f->cookie[FWD_SKL_UDP6]);
	/* Per family and protocol. */
	assert_true(run(f, "fd00:1::7", 30080, IPPROTO_TCP) == 0);
	assert_true(run(f, "192.168.1.7", 30053, IPPROTO_UDP) == 0);
	assert_true(run(f, "192.168.1.7", 30080, IPPROTO_UDP) == 0);
	/* The exact key still decides for its own address. */
	assert_true(run(f, "10.96.0.10", 80, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
	assert_true(run(f, "192.168.1.7", 80, IPPROTO_TCP) == 0);
}

static void
test_program_follows_deletions(void **state)
{
	struct fx *f = *state;
	struct netaddr a = ip("10.96.0.20"), b = ip("10.96.0.21");
	struct fwd_sklookup_key k[3];

	NEED_BPF(f);
	fwd_sklookup_key(&k[0], CLUSTER_TCP, &a, false, 80);
	fwd_sklookup_key(&k[1], CLUSTER_TCP, &b, false, 80);
	fwd_sklookup_key(&k[2], CLUSTER_TCP, &b, false, 8080); /* never added */
	assert_int_equal(fwd_sklookup_update(&f->sk, NULL, 0, k, 2), SVC_OK);
	assert_true(run(f, "10.96.0.21", 80, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
	/* Taking out a key that is not in is no error, and the batch goes on past it. */
	assert_int_equal(fwd_sklookup_update(&f->sk, &k[1], 2, NULL, 0), SVC_OK);
	assert_int_equal(f->sk.n, 1);
	assert_true(run(f, "10.96.0.21", 80, IPPROTO_TCP) == 0);
	assert_true(run(f, "10.96.0.20", 80, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
	/* Out and in again in one update: in. */
	assert_int_equal(fwd_sklookup_update(&f->sk, &k[0], 1, &k[0], 1), SVC_OK);
	assert_true(run(f, "10.96.0.20", 80, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
}

/* ClusterIP number I: 10.96.0.0/12 from its start, two ports each. */
static void
nth_key(struct fwd_sklookup_key *k, size_t i)
{
	struct netaddr a = {.family = NETADDR_V4};
	uint32_t v = 0x0a600000u + (uint32_t)(i / 2);

	a.bytes[0] = (uint8_t)(v >> 24);
	a.bytes[1] = (uint8_t)(v >> 16);
	a.bytes[2] = (uint8_t)(v >> 8);
	a.bytes[3] = (uint8_t)v;
	fwd_sklookup_key(k, CLUSTER_TCP, &a, false, i % 2 ? 443 : 80);
}

static double
secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_map_grows_and_fills_fast(void **state)
{
	struct fx *f = *state;
	enum { N = 180000 };
	struct fwd_sklookup_key *keys = calloc(N, sizeof(*keys));
	double t0, fill, del;
	char last[32];
	uint32_t v;

	NEED_BPF(f);
	assert_non_null(keys);
	for (size_t i = 0; i < N; i++)
		nth_key(&keys[i], i);
	/* Growing on the way: from the first small map, one key at a time for the first ones. */
	for (size_t i = 0; i < 5000; i++)
		assert_int_equal(fwd_sklookup_update(&f->sk, NULL, 0, &keys[i], 1), SVC_OK);
	assert_true(f->sk.grown >= 1);
	assert_true(run(f, "10.96.0.0", 80, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
	v = 0x0a600000u + 4999 / 2;
	snprintf(last, sizeof(last), "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255,
	         v & 255);
	assert_true(run(f, last, 443, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
	/* The rest in one update, as a start-up at 100,000 services does. */
	t0 = secs();
	assert_int_equal(fwd_sklookup_update(&f->sk, NULL, 0, &keys[5000], N - 5000), SVC_OK);
	fill = secs() - t0;
	assert_int_equal(f->sk.n, N);
	v = 0x0a600000u + (N - 1) / 2;
	snprintf(last, sizeof(last), "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255,
	         v & 255);
	assert_true(run(f, last, 443, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
	assert_true(run(f, "10.96.0.1", 80, IPPROTO_TCP) == f->cookie[FWD_SKL_TCP4]);
	t0 = secs();
	assert_int_equal(fwd_sklookup_update(&f->sk, keys, N, NULL, 0), SVC_OK);
	del = secs() - t0;
	assert_int_equal(f->sk.n, 0);
	assert_true(run(f, last, 443, IPPROTO_TCP) == 0);
	fprintf(stderr,
	        "sk_lookup map: %d entries in %.3f s (%u times grown, to %u), all out in %.3f s\n",
	        N - 5000, fill, f->sk.grown, f->sk.max_entries, del);
#ifndef SVC_SANITIZED
	/* About 0.1 s here; a second is far off even on a loaded machine. */
	assert_true(fill < 1.5);
	assert_true(del < 1.5);
#endif
	free(keys);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_key_v4),
	        cmocka_unit_test(test_key_v6_and_wildcard),
	        cmocka_unit_test_setup_teardown(test_program_hands_service_ports_over, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_program_node_ports_on_any_address, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_program_follows_deletions, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_map_grows_and_fills_fast, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
