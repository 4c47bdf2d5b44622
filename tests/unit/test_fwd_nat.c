/* test_fwd_nat.c -- the fast path's program, packets run through it by the kernel
 * (BPF_PROG_TEST_RUN) in a network namespace of the test's own (two veth ends: c0 toward the
 * clients, p0 toward the pods, forwarding on):
 *   - a SYN to a service address and port leaves for the endpoint, its IPv4 and TCP checksums
 *     right, out of the pods' interface; the endpoint's SYN-ACK comes back from the service;
 *   - a UDP datagram without a checksum keeps none, one with a checksum gets a right one;
 *   - an endpoint on another node, and a packet that starts no TCP connection, are left alone;
 *   - the flow table is bounded: 6,000 clients through a table of 2,048 entries leave at most
 *     2,048, and the newest clients' flows are there and work;
 *   - random packets (property): nothing not to a service is changed, whatever its bytes.
 * Needs root (a network namespace, CAP_BPF) and a kernel that loads the program: else skipped
 * (exit 77). */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef SVC_HAVE_FNAT
#include <bpf/bpf.h>
#endif

#include "fwd_nat.h"

static struct fwd_nat *nat;
static int if_clients, if_pods;

#define PKT_MAX 256

/* The Internet checksum of N bytes at P, starting from SUM. */
static uint32_t
sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)(p[n - 1] << 8);
	return sum;
}

static uint16_t
fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An Ethernet + IPv4 + TCP or UDP packet into P; its length. */
static size_t
packet(uint8_t *p, uint8_t proto, const char *src, uint16_t sport, const char *dst, uint16_t dport,
       uint8_t tcp_flags, bool udp_csum)
{
	size_t l4 = proto == IPPROTO_TCP ? 20 : 8, len = 14 + 20 + l4 + 4;
	uint8_t *ip = p + 14, *th = ip + 20;
	uint32_t s;

	memset(p, 0, len);
	p[12] = 0x08; /* IPv4 */
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[8] = 64;
	ip[9] = proto;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	s = fold(sum16(ip, 20, 0));
	ip[10] = (uint8_t)(s >> 8);
	ip[11] = (uint8_t)s;
	th[0] = (uint8_t)(sport >> 8);
	th[1] = (uint8_t)sport;
	th[2] = (uint8_t)(dport >> 8);
	th[3] = (uint8_t)dport;
	memcpy(th + l4, "ping", 4);
	if (proto == IPPROTO_TCP) {
		th[12] = 5 << 4;
		th[13] = tcp_flags;
		th[14] = 0xff;
	} else {
		th[4] = 0;
		th[5] = (uint8_t)(l4 + 4);
	}
	if (proto == IPPROTO_TCP || udp_csum) {
		uint8_t ph[12];
		uint16_t c;
		size_t ll = l4 + 4;

		memcpy(ph, ip + 12, 8);
		ph[8] = 0;
		ph[9] = proto;
		ph[10] = (uint8_t)(ll >> 8);
		ph[11] = (uint8_t)ll;
		c = fold(sum16(th, ll, sum16(ph, 12, 0)));
		if (proto == IPPROTO_UDP && c == 0)
			c = 0xffff;
		th[proto == IPPROTO_TCP ? 16 : 6] = (uint8_t)(c >> 8);
		th[proto == IPPROTO_TCP ? 17 : 7] = (uint8_t)c;
	}
	return len;
}

/* Whether P's IPv4 header and L4 checksums verify (a UDP checksum of 0: none). */
static bool
checksums_ok(const uint8_t *p, size_t len)
{
	const uint8_t *ip = p + 14, *th = ip + 20;
	uint8_t ph[12];
	size_t ll = len - 34;

	if (fold(sum16(ip, 20, 0)) != 0)
		return false;
	if (ip[9] == IPPROTO_UDP && th[6] == 0 && th[7] == 0)
		return true;
	memcpy(ph, ip + 12, 8);
	ph[8] = 0;
	ph[9] = ip[9];
	ph[10] = (uint8_t)(ll >> 8);
	ph[11] = (uint8_t)ll;
	return fold(sum16(th, ll, sum16(ph, 12, 0))) == 0;
}

/* Run IN (LEN bytes) through the program as if it came in on IFINDEX: the verdict, and the
 * packet as it leaves in OUT. -1: the kernel's test harness refuses such a frame (it checks
 * some headers before any program runs). */
static int
run(const uint8_t *in, size_t len, int ifindex, uint8_t *out)
{
#ifdef SVC_HAVE_FNAT
	struct __sk_buff ctx = {.ifindex = (uint32_t)ifindex, .ingress_ifindex = (uint32_t)ifindex};
	struct bpf_test_run_opts o = {
	        .sz = sizeof(o),
	        .data_in = in,
	        .data_size_in = (uint32_t)len,
	        .data_out = out,
	        .data_size_out = PKT_MAX,
	        .ctx_in = &ctx,
	        .ctx_size_in = sizeof(ctx),
	        .repeat = 1,
	};

	if (bpf_prog_test_run_opts(fwd_nat_prog_fd(nat), &o) != 0) {
		if (errno == EINVAL)
			return -1;
		print_error("test run of %zu bytes: %s\n", len, strerror(errno));
		fail();
	}
	assert_int_equal(o.data_size_out, len);
	return (int)o.retval;
#else
	(void)in, (void)len, (void)ifindex, (void)out;
	fail();
	return -1;
#endif
}

static void
member(struct fwd_member *m, const char *ip, uint16_t port, bool local)
{
	memset(m, 0, sizeof(*m));
	assert_int_equal(netaddr_parse(&m->ip, ip), SVC_OK);
	m->port = port;
	m->local = local;
}

static void
dest(enum cluster_proto proto, const char *ip, uint16_t port, uint32_t id)
{
	struct netaddr a;

	assert_int_equal(netaddr_parse(&a, ip), SVC_OK);
	assert_int_equal(fwd_nat_dest_set(nat, proto, &a, port, id), SVC_OK);
}

static void
test_tcp_both_ways(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct fwd_member m;
	size_t len;
	(void)state;

	member(&m, "10.244.1.10", 8080, true);
	assert_int_equal(fwd_nat_pool_set(nat, 1, &m, 1, 0, 1), SVC_OK);
	dest(CLUSTER_TCP, "10.96.0.10", 80, 1);
	len = packet(in, IPPROTO_TCP, "10.251.0.2", 40000, "10.96.0.10", 80, 0x02, false);
	assert_true(checksums_ok(in, len));
	assert_int_equal(run(in, len, if_clients, out), TC_ACT_REDIRECT);
	assert_memory_equal(out + 14 + 16, "\x0a\xf4\x01\x0a", 4); /* 10.244.1.10 */
	assert_int_equal(out[34 + 2] << 8 | out[34 + 3], 8080);
	assert_memory_equal(out + 14 + 12, in + 14 + 12, 4); /* the client's address stays */
	assert_true(checksums_ok(out, len));

	/* The endpoint's SYN-ACK, back from the service's address and port. */
	len = packet(in, IPPROTO_TCP, "10.244.1.10", 8080, "10.251.0.2", 40000, 0x12, false);
	assert_int_equal(run(in, len, if_pods, out), TC_ACT_REDIRECT);
	assert_memory_equal(out + 14 + 12, "\x0a\x60\x00\x0a", 4); /* 10.96.0.10 */
	assert_int_equal(out[34] << 8 | out[35], 80);
	assert_true(checksums_ok(out, len));

	/* A packet that starts no connection, from another client: left to the relay. */
	len = packet(in, IPPROTO_TCP, "10.251.0.3", 40001, "10.96.0.10", 80, 0x10, false);
	assert_int_equal(run(in, len, if_clients, out), TC_ACT_OK);
	assert_memory_equal(out, in, len);
}

static void
test_udp_checksums(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct fwd_member m;
	size_t len;
	(void)state;

	member(&m, "10.244.1.11", 5300, true);
	assert_int_equal(fwd_nat_pool_set(nat, 2, &m, 1, 0, 1), SVC_OK);
	dest(CLUSTER_UDP, "10.96.0.53", 53, 2);
	for (int with = 0; with < 2; with++) {
		len = packet(in, IPPROTO_UDP, "10.251.0.2", (uint16_t)(41000 + with), "10.96.0.53",
		             53, 0, with);
		assert_int_equal(run(in, len, if_clients, out), TC_ACT_REDIRECT);
		assert_memory_equal(out + 14 + 16, "\x0a\xf4\x01\x0b", 4);
		assert_int_equal(out[34 + 2] << 8 | out[34 + 3], 5300);
		assert_true(checksums_ok(out, len));
		/* None stays none. */
		assert_int_equal(out[34 + 6] == 0 && out[34 + 7] == 0, !with);
	}
}

static void
test_remote_endpoint_relayed(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct fwd_member m;
	size_t len;
	(void)state;

	member(&m, "10.244.2.10", 8080, false);
	assert_int_equal(fwd_nat_pool_set(nat, 3, &m, 1, 0, 1), SVC_OK);
	dest(CLUSTER_TCP, "10.96.0.20", 80, 3);
	len = packet(in, IPPROTO_TCP, "10.251.0.2", 40002, "10.96.0.20", 80, 0x02, false);
	assert_int_equal(run(in, len, if_clients, out), TC_ACT_OK);
	assert_memory_equal(out, in, len);
}

static void
test_flow_table_bounded(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct fwd_member m;
	char client[32];
	size_t len, entries;
	(void)state;

	member(&m, "10.244.1.12", 5300, true);
	assert_int_equal(fwd_nat_pool_set(nat, 4, &m, 1, 0, 1), SVC_OK);
	dest(CLUSTER_UDP, "10.96.0.54", 53, 4);
	for (int i = 0; i < 6000; i++) {
		snprintf(client, sizeof(client), "10.251.%d.%d", 1 + i / 250, 1 + i % 250);
		len = packet(in, IPPROTO_UDP, client, 42000, "10.96.0.54", 53, 0, true);
		assert_int_equal(run(in, len, if_clients, out), TC_ACT_REDIRECT);
	}
	entries = fwd_nat_flow_entries(nat);
	/* fwd_nat_open(1024): room for 2,048 entries, two a flow. */
	assert_true(entries > 0 && entries <= 2048);
	/* The last client's flow is there: its endpoint's answer goes back from the service. */
	len = packet(in, IPPROTO_UDP, "10.244.1.12", 5300, client, 42000, 0, true);
	assert_int_equal(run(in, len, if_pods, out), TC_ACT_REDIRECT);
	assert_memory_equal(out + 14 + 12, "\x0a\x60\x00\x36", 4); /* 10.96.0.54 */
	assert_true(checksums_ok(out, len));
}

/* Property: a packet to no service, whatever its bytes past a few fixed ones, comes out as it
 * went in, and the program lets it through. */
static void
test_random_packets_untouched(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	unsigned seed = getenv("SEED") ? (unsigned)atoi(getenv("SEED")) : (unsigned)time(NULL);
	int ran = 0;
	(void)state;

	srand(seed);
	for (int i = 0; i < 3000; i++) {
		size_t len = 14 + (size_t)(rand() % (PKT_MAX - 14));

		for (size_t k = 0; k < len; k++)
			in[k] = (uint8_t)rand();
		/* Mostly IPv4 or IPv6, TCP, UDP or ICMP, so the parser goes deep. */
		if (rand() % 4 != 0) {
			static const uint8_t protos[] = {6, 17, 1, 58};

			in[12] = rand() % 2 ? 0x08 : 0x86;
			in[13] = in[12] == 0x08 ? 0x00 : 0xdd;
			in[14] = in[12] == 0x08 ? 0x45 : 0x60;
			in[14 + (in[12] == 0x08 ? 9 : 6)] = protos[rand() % 4];
			in[14 + (in[12] == 0x08 ? 16 : 24)] = 192;  /* no service there */
			in[14 + 6] &= in[12] == 0x08 ? 0x00 : 0xff; /* not a fragment */
		}
		int rc = run(in, len, if_clients, out);

		if (rc == -1)
			continue;
		ran++;
		if (rc != TC_ACT_OK || memcmp(in, out, len) != 0) {
			print_error("packet %d (SEED=%u) changed or not passed: verdict %d\n", i,
			            seed, rc);
			fail();
		}
	}
	/* The harness refuses few frames: most of them met the program. */
	assert_true(ran > 2700);
}

static int
setup(void **state)
{
	char err[256];
	(void)state;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "SKIP: needs root for a network namespace of its own\n");
		exit(77);
	}
	if (system("ip link set lo up && ip link add c0 type veth peer name c1 && "
	           "ip link add p0 type veth peer name p1 && "
	           "ip addr add 10.251.0.1/16 dev c0 && ip addr add 10.244.1.1/24 dev p0 && "
	           "ip link set c0 up && ip link set c1 up && ip link set p0 up && "
	           "ip link set p1 up && ip route add local 10.96.0.0/12 dev lo && "
	           "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.forwarding=1") != 0) {
		fprintf(stderr, "SKIP: cannot set up the namespace's links\n");
		exit(77);
	}
	if (fwd_nat_open(1024, &nat, err, sizeof(err)) != SVC_OK) {
		fprintf(stderr, "SKIP: the fast path does not load: %s\n", err);
		exit(77);
	}
	if_clients = (int)if_nametoindex("c0");
	if_pods = (int)if_nametoindex("p0");
	return if_clients > 0 && if_pods > 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	fwd_nat_close(nat);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tcp_both_ways),
	        cmocka_unit_test(test_udp_checksums),
	        cmocka_unit_test(test_remote_endpoint_relayed),
	        cmocka_unit_test(test_flow_table_bounded),
	        cmocka_unit_test(test_random_packets_untouched),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
