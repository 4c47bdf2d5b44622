/* test_fwd_local.c -- finding the sockets of this node bound to service addresses: unconnected
 * UDP sockets and TCP listeners inside the CIDRs count; connected UDP sockets, TCP sockets not
 * listening, wildcard sockets and addresses outside do not. Loopback addresses stand for a
 * service CIDR (127.77.0.0/16), so no privilege is needed. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fwd_local.h"

/* A socket of TYPE bound to ADDR (port chosen by the kernel); *PORT gets the port. */
static int
bound(int type, const char *addr, uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, type, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static uint64_t
inode(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_ino;
}

static const struct fwd_local_port *
find(const struct fwd_local_port *v, size_t n, enum cluster_proto proto, uint16_t port)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].proto == proto && v[i].port == port)
			return &v[i];
	}
	return NULL;
}

static void
test_scan(void **state)
{
	struct netaddr_prefix cidr, other;
	struct fwd_local_port *v = NULL;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	uint16_t p_udp, p_tcp, p_idle, p_conn, p_any;
	int udp, tcp, idle, conn, any;
	const struct fwd_local_port *f;
	size_t n = 0;

	(void)state;
	assert_int_equal(netaddr_prefix_parse(&cidr, "127.77.0.0/16"), SVC_OK);
	assert_int_equal(netaddr_prefix_parse(&other, "127.78.0.0/16"), SVC_OK);
	udp = bound(SOCK_DGRAM, "127.77.0.1", &p_udp);
	tcp = bound(SOCK_STREAM, "127.77.0.2", &p_tcp);
	assert_int_equal(listen(tcp, 4), 0);
	idle = bound(SOCK_STREAM, "127.77.0.3", &p_idle); /* bound, not listening */
	conn = bound(SOCK_DGRAM, "127.77.0.4", &p_conn);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	assert_int_equal(connect(conn, (struct sockaddr *)&to, sizeof(to)), 0);
	any = bound(SOCK_DGRAM, "0.0.0.0", &p_any);

	assert_int_equal(fwd_local_scan(&cidr, 1, 1000, &v, &n), SVC_OK);
	f = find(v, n, CLUSTER_UDP, p_udp);
	assert_non_null(f);
	assert_string_equal(netaddr_str(&f->addr, (char[NETADDR_STRLEN]){0}), "127.77.0.1");
	assert_int_equal(f->ino, inode(udp));
	f = find(v, n, CLUSTER_TCP, p_tcp);
	assert_non_null(f);
	assert_int_equal(f->ino, inode(tcp));
	assert_null(find(v, n, CLUSTER_TCP, p_idle));
	assert_null(find(v, n, CLUSTER_UDP, p_conn));
	assert_null(find(v, n, CLUSTER_UDP, p_any));
	for (size_t i = 0; i < n; i++)
		assert_true(netaddr_in_prefix(&v[i].addr, &cidr));
	free(v);

	/* Outside the CIDRs: nothing. */
	assert_int_equal(fwd_local_scan(&other, 1, 1000, &v, &n), SVC_OK);
	assert_null(find(v, n, CLUSTER_UDP, p_udp));
	assert_null(find(v, n, CLUSTER_TCP, p_tcp));
	free(v);

	/* At most MAX. */
	assert_int_equal(fwd_local_scan(&cidr, 1, 1, &v, &n), SVC_OK);
	assert_int_equal(n, 1);
	free(v);

	/* Gone when closed. */
	close(udp);
	close(tcp);
	assert_int_equal(fwd_local_scan(&cidr, 1, 1000, &v, &n), SVC_OK);
	assert_null(find(v, n, CLUSTER_UDP, p_udp));
	assert_null(find(v, n, CLUSTER_TCP, p_tcp));
	free(v);
	close(idle);
	close(conn);
	close(any);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
