/* addr.c -- socket addresses as the daemons' flags write them: ADDR[:PORT], [V6]:PORT. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "netaddr.h"

bool
addr_parse(const char *s, uint16_t default_port, struct daemon_addr *out)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port_s = NULL;
	long port = default_port;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			return false;
		hlen = (size_t)(end - s - 1);
		if (hlen >= sizeof(host))
			return false;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (end[1] == ':')
			port_s = end + 2;
		else if (end[1] != '\0')
			return false;
	} else {
		const char *colon = strchr(s, ':');

		/* One colon is a port; more is a bare IPv6 address. */
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			hlen = (size_t)(colon - s);
			port_s = colon + 1;
		} else {
			hlen = strlen(s);
		}
		if (hlen >= sizeof(host))
			return false;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (hlen == 0)
			strcpy(host, "0.0.0.0");
	}
	if (port_s != NULL) {
		char *end;

		errno = 0;
		port = strtol(port_s, &end, 10);
		if (errno != 0 || *end != '\0' || end == port_s || port < 1 || port > 65535)
			return false;
	}
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->sa;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return false;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return false;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		out->len = sizeof(*sin);
	}
	return true;
}

const char *
addr_str(const struct daemon_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (a->sa.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	}
	return buf;
}

uint16_t
addr_port(const struct daemon_addr *a)
{
	if (a->sa.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

bool
addr_is_any(const struct daemon_addr *a)
{
	if (a->sa.ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
	return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY);
}

void
addr_to_netaddr(const struct sockaddr *sa, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

		/* An IPv4 client on a dual-stack socket is an IPv4 client. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			out->family = NETADDR_V4;
			memcpy(out->bytes, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			out->family = NETADDR_V6;
			memcpy(out->bytes, &s6->sin6_addr, 16);
		}
	} else if (sa->sa_family == AF_INET) {
		out->family = NETADDR_V4;
		memcpy(out->bytes, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	}
}
