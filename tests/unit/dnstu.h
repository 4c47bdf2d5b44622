/* dnstu.h -- helpers for the DNS unit tests: build query packets and parse answers with a
 * reader of their own (independent of dnsw.c), keeping the case of every name. */
#ifndef DNSTU_H
#define DNSTU_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* As many records as a 64 KiB message can hold (11 octets each at least), so any answer, a
 * TCP one of a big headless service too, parses whole. */
#define DT_MAXRR 6000

enum dt_section {
	DT_AN,
	DT_NS,
	DT_AR,
};

struct dt_rr {
	int section;
	char owner[300];
	uint16_t type, rclass, rdlen;
	uint32_t ttl;
	size_t rdata_off;
	char data[700]; /* rdata as text: address, name, "prio weight port target", ... */
};

struct dt_msg {
	uint16_t id, flags, qd, an, ns, ar;
	char qname[300];
	uint16_t qtype, qclass;
	size_t n;
	struct dt_rr rr[DT_MAXRR];
	size_t trailing; /* bytes after the last record */
	bool has_opt;
	uint16_t opt_size;
	uint32_t opt_ttl;
	size_t len;
};

/* A name at *OFF in B (LEN bytes), pointers followed (any direction, hop-limited), case kept. */
static inline bool
dt_name(const uint8_t *b, size_t len, size_t *off, char *out, size_t cap)
{
	size_t pos = *off, o = 0, after = 0, total = 0;
	bool jumped = false;
	int hops = 0;

	for (;;) {
		uint8_t c;

		if (pos >= len)
			return false;
		c = b[pos];
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++hops > 128)
				return false;
			if (!jumped) {
				after = pos + 2;
				jumped = true;
			}
			pos = (size_t)(c & 0x3f) << 8 | b[pos + 1];
			continue;
		}
		if (c & 0xc0)
			return false;
		if (c == 0) {
			pos++;
			break;
		}
		if (pos + 1 + c > len)
			return false;
		total += 1 + (size_t)c;
		if (total > 254)
			return false;
		for (size_t i = 0; i < c; i++) {
			if (o + 2 < cap)
				out[o++] = (char)b[pos + 1 + i];
		}
		if (o + 2 < cap)
			out[o++] = '.';
		pos += 1 + (size_t)c;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	*off = jumped ? after : pos;
	return true;
}

static inline bool
dt_u16(const uint8_t *b, size_t len, size_t *off, uint16_t *v)
{
	if (len - *off < 2 || *off > len)
		return false;
	*v = (uint16_t)(b[*off] << 8 | b[*off + 1]);
	*off += 2;
	return true;
}

static inline bool
dt_u32(const uint8_t *b, size_t len, size_t *off, uint32_t *v)
{
	uint16_t hi, lo;

	if (!dt_u16(b, len, off, &hi) || !dt_u16(b, len, off, &lo))
		return false;
	*v = (uint32_t)hi << 16 | lo;
	return true;
}

static inline bool
dt_rdata(const uint8_t *b, size_t len, struct dt_rr *r)
{
	size_t off = r->rdata_off, end = r->rdata_off + r->rdlen;
	char name[300];
	uint16_t p, w, port;
	uint32_t v[5];

	switch (r->type) {
	case 1:
	case 28:
		if (r->rdlen != (r->type == 1 ? 4 : 16))
			return false;
		inet_ntop(r->type == 1 ? AF_INET : AF_INET6, b + off, r->data, sizeof(r->data));
		return true;
	case 2:
	case 5:
	case 12:
		if (!dt_name(b, len, &off, r->data, sizeof(r->data)))
			return false;
		return off == end;
	case 33:
		if (!dt_u16(b, len, &off, &p) || !dt_u16(b, len, &off, &w) ||
		    !dt_u16(b, len, &off, &port) || !dt_name(b, len, &off, name, sizeof(name)))
			return false;
		snprintf(r->data, sizeof(r->data), "%u %u %u %s", p, w, port, name);
		return off == end;
	case 6: {
		char rname[300];

		if (!dt_name(b, len, &off, name, sizeof(name)) ||
		    !dt_name(b, len, &off, rname, sizeof(rname)))
			return false;
		for (int i = 0; i < 5; i++) {
			if (!dt_u32(b, len, &off, &v[i]))
				return false;
		}
		snprintf(r->data, sizeof(r->data), "%s %s %u %u %u %u %u", name, rname, v[0], v[1],
		         v[2], v[3], v[4]);
		return off == end;
	}
	case 16: {
		size_t o = 0;

		while (off < end) {
			uint8_t n = b[off++];

			if (off + n > end)
				return false;
			if (o + n + 3 < sizeof(r->data)) {
				r->data[o++] = '"';
				memcpy(r->data + o, b + off, n);
				o += n;
				r->data[o++] = '"';
			}
			off += n;
		}
		r->data[o] = '\0';
		return true;
	}
	default:
		r->data[0] = '\0';
		return true;
	}
}

/* Parse a whole message; NULL when it is malformed in any way. Free with free(). */
/* Parse B into M (reused: no allocation); false when it does not parse. */
static inline bool
dt_parse_into(struct dt_msg *m, const uint8_t *b, size_t len)
{
	size_t off = 0, total;

	memset(m, 0, offsetof(struct dt_msg, rr));
	m->trailing = 0;
	m->has_opt = false;
	m->opt_size = 0;
	m->opt_ttl = 0;
	m->len = len;
	if (!dt_u16(b, len, &off, &m->id) || !dt_u16(b, len, &off, &m->flags) ||
	    !dt_u16(b, len, &off, &m->qd) || !dt_u16(b, len, &off, &m->an) ||
	    !dt_u16(b, len, &off, &m->ns) || !dt_u16(b, len, &off, &m->ar))
		goto bad;
	if (m->qd > 1)
		goto bad;
	if (m->qd == 1 && (!dt_name(b, len, &off, m->qname, sizeof(m->qname)) ||
	                   !dt_u16(b, len, &off, &m->qtype) || !dt_u16(b, len, &off, &m->qclass)))
		goto bad;
	total = (size_t)m->an + m->ns + m->ar;
	if (total > DT_MAXRR)
		goto bad;
	for (size_t i = 0; i < total; i++) {
		struct dt_rr *r = &m->rr[i];

		r->section = i < m->an ? DT_AN : i < (size_t)m->an + m->ns ? DT_NS : DT_AR;
		if (!dt_name(b, len, &off, r->owner, sizeof(r->owner)) ||
		    !dt_u16(b, len, &off, &r->type) || !dt_u16(b, len, &off, &r->rclass) ||
		    !dt_u32(b, len, &off, &r->ttl) || !dt_u16(b, len, &off, &r->rdlen))
			goto bad;
		r->rdata_off = off;
		if (len - off < r->rdlen)
			goto bad;
		off += r->rdlen;
		if (!dt_rdata(b, len, r))
			goto bad;
		if (r->type == 41) {
			if (r->section != DT_AR || m->has_opt || strcmp(r->owner, ".") != 0)
				goto bad;
			m->has_opt = true;
			m->opt_size = r->rclass;
			m->opt_ttl = r->ttl;
		}
	}
	m->n = total;
	m->trailing = len - off;
	return true;
bad:
	return false;
}

static inline struct dt_msg *
dt_parse(const uint8_t *b, size_t len)
{
	struct dt_msg *m = calloc(1, sizeof(*m));

	if (m != NULL && !dt_parse_into(m, b, len)) {
		free(m);
		m = NULL;
	}
	return m;
}

static inline unsigned
dt_rcode(const struct dt_msg *m)
{
	return m->flags & 0xf;
}

/* Records of TYPE in SECTION. */
static inline size_t
dt_count(const struct dt_msg *m, int section, uint16_t type)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++) {
		if (m->rr[i].section == section && m->rr[i].type == type)
			n++;
	}
	return n;
}

/* The record of TYPE in SECTION whose rdata text is DATA (case-insensitive), or NULL. */
static inline const struct dt_rr *
dt_find(const struct dt_msg *m, int section, uint16_t type, const char *data)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct dt_rr *r = &m->rr[i];

		if (r->section == section && r->type == type &&
		    (data == NULL || strcasecmp(r->data, data) == 0))
			return r;
	}
	return NULL;
}

/* Write NAME (text, case kept, "." for the root) in wire form; returns bytes written. */
static inline size_t
dt_wire_name(uint8_t *out, const char *name)
{
	size_t o = 0;

	if (strcmp(name, ".") != 0) {
		while (*name != '\0') {
			const char *dot = strchr(name, '.');
			size_t n = dot ? (size_t)(dot - name) : strlen(name);

			out[o++] = (uint8_t)n;
			memcpy(out + o, name, n);
			o += n;
			name += n;
			if (*name == '.')
				name++;
		}
	}
	out[o++] = 0;
	return o;
}

/* A query: header (ID, FLAGS, QDCOUNT 1), NAME/QTYPE/QCLASS, and an OPT with payload EDNS_SIZE
 * and TTL field EDNS_TTL when EDNS_SIZE >= 0. Returns its length. */
static inline size_t
dt_query(uint8_t *buf, uint16_t id, uint16_t flags, const char *name, uint16_t qtype,
         uint16_t qclass, int edns_size, uint32_t edns_ttl)
{
	size_t o = 12;

	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = (uint8_t)(flags >> 8);
	buf[3] = (uint8_t)flags;
	buf[5] = 1;
	o += dt_wire_name(buf + o, name);
	buf[o++] = (uint8_t)(qtype >> 8);
	buf[o++] = (uint8_t)qtype;
	buf[o++] = (uint8_t)(qclass >> 8);
	buf[o++] = (uint8_t)qclass;
	if (edns_size >= 0) {
		buf[11] = 1;
		buf[o++] = 0;
		buf[o++] = 0;
		buf[o++] = 41;
		buf[o++] = (uint8_t)(edns_size >> 8);
		buf[o++] = (uint8_t)edns_size;
		buf[o++] = (uint8_t)(edns_ttl >> 24);
		buf[o++] = (uint8_t)(edns_ttl >> 16);
		buf[o++] = (uint8_t)(edns_ttl >> 8);
		buf[o++] = (uint8_t)edns_ttl;
		buf[o++] = 0;
		buf[o++] = 0;
	}
	return o;
}

/* The zone most tests use (after CoreDNS's handler_test fixture); needs the service CIDRs
 * DT_CIDRS. */
#define DT_CIDRS "10.96.0.0/12,fd00:96::/108"
#define DT_FIXTURE                                                                                 \
	"apiVersion: v1\n"                                                                         \
	"kind: Namespace\n"                                                                        \
	"metadata: {name: testns}\n"                                                               \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Namespace\n"                                                                        \
	"metadata: {name: podns}\n"                                                                \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: kube-dns, namespace: kube-system}\n"                                     \
	"spec:\n"                                                                                  \
	"  clusterIP: 10.96.0.10\n"                                                                \
	"  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53}]\n"             \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: svc1, namespace: testns}\n"                                              \
	"spec:\n"                                                                                  \
	"  clusterIP: 10.96.1.1\n"                                                                 \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Endpoints\n"                                                                        \
	"metadata: {name: svc1, namespace: testns}\n"                                              \
	"subsets:\n"                                                                               \
	"- addresses: [{ip: 172.0.0.1, hostname: ep1a}]\n"                                         \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: svcempty, namespace: testns}\n"                                          \
	"spec:\n"                                                                                  \
	"  clusterIP: 10.96.1.2\n"                                                                 \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: svc6, namespace: testns}\n"                                              \
	"spec:\n"                                                                                  \
	"  ipFamilies: [IPv6]\n"                                                                   \
	"  clusterIP: \"fd00:96::6\"\n"                                                            \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: svc-dual-stack, namespace: testns}\n"                                    \
	"spec:\n"                                                                                  \
	"  ipFamilyPolicy: RequireDualStack\n"                                                     \
	"  clusterIPs: [10.96.1.3, \"fd00:96::3\"]\n"                                              \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: svc2, namespace: testns}\n"                                              \
	"spec:\n"                                                                                  \
	"  clusterIP: 10.96.1.4\n"                                                                 \
	"  ports: [{name: http, port: 80}, {name: https, port: 443}]\n"                            \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Endpoints\n"                                                                        \
	"metadata: {name: svc2, namespace: testns}\n"                                              \
	"subsets:\n"                                                                               \
	"- addresses: [{ip: 172.0.0.1, hostname: ep1a}]\n"                                         \
	"  ports: [{name: http, port: 8080}, {name: https, port: 8443}]\n"                         \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: svc3, namespace: testns}\n"                                              \
	"spec:\n"                                                                                  \
	"  clusterIP: 10.96.1.5\n"                                                                 \
	"  ports: [{port: 8000}]\n"                                                                \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Endpoints\n"                                                                        \
	"metadata: {name: svc3, namespace: testns}\n"                                              \
	"subsets:\n"                                                                               \
	"- addresses: [{ip: 10.96.1.1, hostname: alias}]\n"                                        \
	"  ports: [{port: 8000}]\n"                                                                \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: hdls1, namespace: testns}\n"                                             \
	"spec:\n"                                                                                  \
	"  clusterIP: None\n"                                                                      \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Endpoints\n"                                                                        \
	"metadata: {name: hdls1, namespace: testns}\n"                                             \
	"subsets:\n"                                                                               \
	"- addresses:\n"                                                                           \
	"  - {ip: 172.0.0.2}\n"                                                                    \
	"  - {ip: 172.0.0.3}\n"                                                                    \
	"  - {ip: 172.0.0.4, hostname: dup-name}\n"                                                \
	"  - {ip: 172.0.0.5, hostname: dup-name}\n"                                                \
	"  - {ip: \"5678:abcd::1\"}\n"                                                             \
	"  - {ip: \"5678:abcd::2\"}\n"                                                             \
	"  notReadyAddresses:\n"                                                                   \
	"  - {ip: 172.0.0.9}\n"                                                                    \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: hdlsprtls, namespace: testns}\n"                                         \
	"spec:\n"                                                                                  \
	"  clusterIP: None\n"                                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Endpoints\n"                                                                        \
	"metadata: {name: hdlsprtls, namespace: testns}\n"                                         \
	"subsets:\n"                                                                               \
	"- addresses: [{ip: 172.0.0.20}]\n"                                                        \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: unready, namespace: testns}\n"                                           \
	"spec:\n"                                                                                  \
	"  clusterIP: None\n"                                                                      \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Endpoints\n"                                                                        \
	"metadata: {name: unready, namespace: testns}\n"                                           \
	"subsets:\n"                                                                               \
	"- notReadyAddresses: [{ip: 172.0.0.30}]\n"                                                \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: pubnr, namespace: testns}\n"                                             \
	"spec:\n"                                                                                  \
	"  clusterIP: None\n"                                                                      \
	"  publishNotReadyAddresses: true\n"                                                       \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Endpoints\n"                                                                        \
	"metadata: {name: pubnr, namespace: testns}\n"                                             \
	"subsets:\n"                                                                               \
	"- notReadyAddresses: [{ip: 172.0.0.31}]\n"                                                \
	"  ports: [{name: http, port: 80}]\n"                                                      \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: external, namespace: testns}\n"                                          \
	"spec:\n"                                                                                  \
	"  type: ExternalName\n"                                                                   \
	"  externalName: ext.interwebs.test\n"                                                     \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: external-to-service, namespace: testns}\n"                               \
	"spec:\n"                                                                                  \
	"  type: ExternalName\n"                                                                   \
	"  externalName: svc1.testns.svc.cluster.local\n"                                          \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata: {name: web, namespace: testns}\n"                                               \
	"spec:\n"                                                                                  \
	"  clusterIP: None\n"                                                                      \
	"  selector: {app: web}\n"                                                                 \
	"  ports: [{name: http, port: 80, targetPort: 8080}]\n"                                    \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Pod\n"                                                                              \
	"metadata: {name: web-0, namespace: testns, labels: {app: web}}\n"                         \
	"spec:\n"                                                                                  \
	"  hostname: web-0\n"                                                                      \
	"  subdomain: web\n"                                                                       \
	"  containers: [{name: c, image: nginx}]\n"                                                \
	"status:\n"                                                                                \
	"  podIP: 10.244.0.5\n"                                                                    \
	"  conditions: [{type: Ready, status: \"True\"}]\n"                                        \
	"---\n"                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Pod\n"                                                                              \
	"metadata: {name: web-1, namespace: testns, labels: {app: web}}\n"                         \
	"spec:\n"                                                                                  \
	"  hostname: web-1\n"                                                                      \
	"  subdomain: web\n"                                                                       \
	"  containers: [{name: c, image: nginx}]\n"                                                \
	"status:\n"                                                                                \
	"  podIP: 10.244.0.6\n"                                                                    \
	"  conditions: [{type: Ready, status: \"False\"}]\n"

/* Build YAML (service CIDRs DT_CIDRS) and its zone for DOMAIN with TTL; *CP gets the cluster.
 * Needs testutil.h (cmocka) and dnsz.h included first. */
static inline struct dnsz *
dt_build_zone(const char *yaml, const char *domain, uint32_t ttl, struct cluster **cp)
{
	struct cluster_config cfg;
	struct dnsz_options opts;
	struct diag d;
	struct dnsz *z = NULL;

	cluster_config_init(&cfg);
	assert_int_equal(cluster_config_set_cidrs(&cfg, DT_CIDRS), SVC_OK);
	*cp = tu_build_ok(yaml, &cfg, &d);
	diag_deinit(&d);
	memset(&opts, 0, sizeof(opts));
	opts.domain = domain;
	opts.ttl = ttl;
	assert_int_equal(netaddr_parse(&opts.ns_addrs[0], "127.0.0.1"), SVC_OK);
	opts.n_ns_addrs = 1;
	assert_int_equal(dnsz_build(*cp, &opts, &z), SVC_OK);
	assert_non_null(z);
	return z;
}

/* The shared fixture: DT_FIXTURE's zone for DT_ZONE with TTL DT_TTL, built once per test group:
 *   cmocka_run_group_tests(tests, dt_setup, dt_teardown)
 * and used as dt_zone (its cluster as dt_cluster). */
#define DT_ZONE "cluster.local"
#define DT_TTL  30

static struct dnsz *dt_zone __attribute__((unused));
static struct cluster *dt_cluster __attribute__((unused));

static inline int
dt_setup(void **state)
{
	(void)state;
	dt_zone = dt_build_zone(DT_FIXTURE, DT_ZONE, DT_TTL, &dt_cluster);
	return 0;
}

static inline int
dt_teardown(void **state)
{
	(void)state;
	dnsz_unref(dt_zone);
	cluster_unref(dt_cluster);
	dt_zone = NULL;
	dt_cluster = NULL;
	return 0;
}

#endif
