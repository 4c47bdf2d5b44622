/* netaddr.c -- IPv4/IPv6 addresses and prefixes. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum svc_status
netaddr_parse(struct netaddr *out, const char *s)
{
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return SVC_EINVAL;
	/* inet_pton accepts only the canonical dotted quad (no octal, no short forms), which is
	 * what Kubernetes accepts for IPs too. */
	if (inet_pton(AF_INET, s, out->bytes) == 1) {
		out->family = NETADDR_V4;
		return SVC_OK;
	}
	if (inet_pton(AF_INET6, s, out->bytes) == 1) {
		out->family = NETADDR_V6;
		return SVC_OK;
	}
	memset(out, 0, sizeof(*out));
	return SVC_EINVAL;
}

unsigned
netaddr_bits(const struct netaddr *a)
{
	return a->family == NETADDR_V4 ? 32 : 128;
}

enum svc_status
netaddr_prefix_parse(struct netaddr_prefix *out, const char *s)
{
	char buf[NETADDR_STRLEN + 8];
	const char *slash = strchr(s, '/');
	char *end;
	long len;
	size_t alen;
	unsigned i;

	memset(out, 0, sizeof(*out));
	if (slash == NULL || slash[1] == '\0')
		return SVC_EINVAL;
	alen = (size_t)(slash - s);
	if (alen >= sizeof(buf))
		return SVC_EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (netaddr_parse(&out->addr, buf) != SVC_OK)
		return SVC_EINVAL;
	if (slash[1] < '0' || slash[1] > '9')
		return SVC_EINVAL;
	len = strtol(slash + 1, &end, 10);
	if (*end != '\0' || len < 0 || (unsigned long)len > netaddr_bits(&out->addr))
		return SVC_EINVAL;
	out->len = (uint8_t)len;
	for (i = out->len; i < netaddr_bits(&out->addr); i++)
		if (out->addr.bytes[i / 8] & (0x80 >> (i % 8)))
			return SVC_EINVAL;
	return SVC_OK;
}

const char *
netaddr_str(const struct netaddr *a, char *buf)
{
	int af = a->family == NETADDR_V4 ? AF_INET : AF_INET6;

	if (a->family == NETADDR_V4) {
		/* inet_ntop's "%u.%u.%u.%u" without printf: a snapshot formats every endpoint. */
		char *p = buf;

		for (int i = 0; i < 4; i++) {
			unsigned v = a->bytes[i];

			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
			*p++ = i < 3 ? '.' : '\0';
		}
		return buf;
	}
	if (a->family == NETADDR_NONE || inet_ntop(af, a->bytes, buf, NETADDR_STRLEN) == NULL)
		memcpy(buf, "<none>", sizeof("<none>"));
	return buf;
}

const char *
netaddr_prefix_str(const struct netaddr_prefix *p, char *buf)
{
	char a[NETADDR_STRLEN];

	snprintf(buf, NETADDR_STRLEN + 4, "%s/%u", netaddr_str(&p->addr, a), p->len);
	return buf;
}

bool
netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
	return netaddr_cmp(a, b) == 0;
}

int
netaddr_cmp(const struct netaddr *a, const struct netaddr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, a->family == NETADDR_V4 ? 4 : 16);
}

bool
netaddr_in_prefix(const struct netaddr *a, const struct netaddr_prefix *p)
{
	unsigned full = p->len / 8, rem = p->len % 8;

	if (a->family != p->addr.family)
		return false;
	if (memcmp(a->bytes, p->addr.bytes, full) != 0)
		return false;
	if (rem == 0)
		return true;
	return ((a->bytes[full] ^ p->addr.bytes[full]) & (0xff << (8 - rem)) & 0xff) == 0;
}

uint64_t
netaddr_prefix_size(const struct netaddr_prefix *p)
{
	unsigned host = netaddr_bits(&p->addr) - p->len;

	return host >= 63 ? (uint64_t)1 << 63 : (uint64_t)1 << host;
}

/* Low 64 bits of the address as a number. */
static uint64_t
low64(const struct netaddr *a)
{
	const uint8_t *b = a->family == NETADDR_V4 ? a->bytes : a->bytes + 8;
	unsigned n = a->family == NETADDR_V4 ? 4 : 8, i;
	uint64_t v = 0;

	for (i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

uint64_t
netaddr_offset(const struct netaddr_prefix *p, const struct netaddr *a)
{
	uint64_t mask = netaddr_prefix_size(p) - 1;

	return (low64(a) - low64(&p->addr)) & mask;
}

void
netaddr_at(const struct netaddr_prefix *p, uint64_t offset, struct netaddr *out)
{
	uint64_t v;
	unsigned n, i;
	uint8_t *b;

	*out = p->addr;
	v = low64(&p->addr) + offset;
	n = out->family == NETADDR_V4 ? 4 : 8;
	b = out->family == NETADDR_V4 ? out->bytes : out->bytes + 8;
	for (i = 0; i < n; i++)
		b[n - 1 - i] = (uint8_t)(v >> (8 * i));
}

bool
netaddr_is_special(const struct netaddr *a)
{
	static const uint8_t zero[16];
	const uint8_t *b = a->bytes;

	if (a->family == NETADDR_V4)
		return b[0] == 0 || b[0] == 127 || (b[0] == 169 && b[1] == 254) || b[0] >= 224;
	if (!memcmp(b, zero, 15) && (b[15] == 0 || b[15] == 1))
		return true; /* :: and ::1 */
	return (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || b[0] == 0xff;
}

uint32_t
netaddr_hash(const struct netaddr *a)
{
	/* FNV-1a over the family and significant bytes. */
	uint32_t h = 2166136261u;
	unsigned n = a->family == NETADDR_V4 ? 4 : 16, i;

	h = (h ^ a->family) * 16777619u;
	for (i = 0; i < n; i++)
		h = (h ^ a->bytes[i]) * 16777619u;
	return h;
}
