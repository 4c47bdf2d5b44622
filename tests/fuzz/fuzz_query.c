/* fuzz_query.c -- libFuzzer target: any bytes as a query packet.
 *
 * One zone is built once from the embedded cluster below (every kind of DNS name: ClusterIP,
 * dual-stack, headless with hostnames, ExternalName in and out of the zone, pods, PTRs), plus
 * the placeholder zone served before the first model. The input goes through dnsq_answer over
 * UDP and TCP in both, and from a pod of the cluster (its search path answered by the server).
 * Whatever the input, an answer must fit the client's limit and parse record by record to its last
 * byte, echo the ID, and a chase must name a target; anything else aborts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "dnsq.h"
#include "dnsw.h"
#include "dnsx.h"
#include "dnsz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cluster_yaml[] =
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: testns}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: kube-dns, namespace: "
        "kube-system}\nspec:\n  clusterIP: 10.96.0.10\n  ports: [{name: dns, port: 53, "
        "protocol: UDP}, {name: dns-tcp, port: 53}]\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc1, namespace: testns}\nspec:\n"
        "  clusterIP: 10.96.1.1\n  ports: [{name: http, port: 80}, {name: https, port: 443}]\n"
        "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: svc1, namespace: testns}\n"
        "subsets:\n- addresses: [{ip: 172.0.0.1, hostname: ep1a}]\n"
        "  ports: [{name: http, port: 80}, {name: https, port: 443}]\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: dual, namespace: testns}\nspec:\n"
        "  ipFamilyPolicy: RequireDualStack\n  clusterIPs: [10.96.1.3, \"fd00:96::3\"]\n"
        "  ports: [{port: 80}]\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: hdls, namespace: testns}\nspec:\n"
        "  clusterIP: None\n  ports: [{name: http, port: 80}]\n"
        "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: hdls, namespace: testns}\n"
        "subsets:\n- addresses:\n  - {ip: 172.0.0.2}\n  - {ip: 172.0.0.3, hostname: db}\n"
        "  - {ip: 172.0.0.4, hostname: db}\n  - {ip: \"5678:abcd::1\"}\n"
        "  notReadyAddresses: [{ip: 172.0.0.9}]\n  ports: [{name: http, port: 80}]\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: testns}\nspec:\n"
        "  type: ExternalName\n  externalName: ext.interwebs.test\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext-in, namespace: testns}\nspec:\n"
        "  type: ExternalName\n  externalName: hdls.testns.svc.cluster.local\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: testns}\n"
        "spec: {containers: [{name: c, image: i}]}\nstatus: {podIP: 10.244.0.5}\n";

/* The zone before the last change: one service more. */
static const char old_extra[] =
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: gone, namespace: testns}\nspec:\n"
        "  clusterIP: 10.96.9.9\n  ports: [{name: http, port: 80}]\n";
#define OLD_SERIAL 100 /* an IXFR from this serial gets the change (seed ixfr-100) */
#define NEW_SERIAL 200

static struct dnsz *zone, *placeholder;
static struct dnsx_journal *journal; /* the change from OLD_SERIAL to NEW_SERIAL */
static struct netaddr pod;           /* the pod above: its queries may take the search path */
static uint8_t out[DNSQ_OUT_MAX];

static _Noreturn void
die(const char *what, const struct dnsq_query *q, const struct dnsq_result *res)
{
	fprintf(stderr, "fuzz_query: %s (action %d, len %zu, limit %zu)\n", what, res->action,
	        res->len, q->limit);
	abort();
}

static struct cluster *
load(const char *yaml, size_t len)
{
	struct cluster_objects objs;
	struct cluster_config cfg;
	struct cluster *c = NULL;
	struct diag d;

	diag_init(&d);
	cluster_config_init(&cfg);
	if (cluster_config_set_cidrs(&cfg, "10.96.0.0/12,fd00:96::/108") != SVC_OK)
		abort();
	cluster_objects_init(&objs);
	cluster_objects_load_buffer(&objs, "fuzz.yaml", yaml, len, &d);
	if (d.errors != 0 || cluster_build(&objs, &cfg, &d, &c) != SVC_OK || c == NULL) {
		diag_print(&d, stderr);
		abort();
	}
	cluster_objects_deinit(&objs);
	diag_deinit(&d);
	return c;
}

static void
init(void)
{
	struct dnsz_options opts;
	struct dnsz_builder *b;
	struct dnsz *old;
	struct dnsx_diff *diff;
	struct cluster *c, *c_old;
	char *yaml_old = malloc(sizeof(cluster_yaml) + sizeof(old_extra));

	if (yaml_old == NULL)
		abort();
	memcpy(yaml_old, cluster_yaml, sizeof(cluster_yaml) - 1);
	memcpy(yaml_old + sizeof(cluster_yaml) - 1, old_extra, sizeof(old_extra));
	c = load(cluster_yaml, sizeof(cluster_yaml) - 1);
	c_old = load(yaml_old, strlen(yaml_old));
	free(yaml_old);
	memset(&opts, 0, sizeof(opts));
	opts.domain = "cluster.local";
	opts.ttl = 30;
	netaddr_parse(&opts.ns_addrs[0], "127.0.0.1");
	opts.n_ns_addrs = 1;
	if (netaddr_parse(&pod, "10.244.0.5") != SVC_OK)
		abort();
	opts.serial = OLD_SERIAL;
	if (dnsz_builder_create(&opts, &b) != SVC_OK || dnsz_update(b, c_old, &old) != SVC_OK)
		abort();
	dnsz_builder_set_serial(b, NEW_SERIAL);
	if (dnsz_update(b, c, &zone) != SVC_OK || dnsz_build(NULL, &opts, &placeholder) != SVC_OK ||
	    dnsx_diff_make(old, zone, &diff) != SVC_OK ||
	    dnsx_journal_add(NULL, diff, &journal) != SVC_OK || dnsx_diff_deleted(diff) == 0)
		abort();
	dnsz_builder_destroy(b);
	dnsz_unref(old);
	cluster_unref(c); /* the zone keeps no reference */
	cluster_unref(c_old);
}

/* The answer in OUT parses: header, at most one question without pointers, then exactly the
 * records its counts announce, ending at its last byte. */
static void
check_answer(const uint8_t *in, size_t size, const struct dnsq_query *q,
             const struct dnsq_result *res)
{
	struct dnsw_rd rd;
	uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0, t, c;

	if (res->len < DNSW_HEADER || res->len > q->limit)
		die("answer over the limit", q, res);
	dnsw_rd_init(&rd, out, res->len);
	if (!dnsw_rd_u16(&rd, &id) || !dnsw_rd_u16(&rd, &flags) || !dnsw_rd_u16(&rd, &qd) ||
	    !dnsw_rd_u16(&rd, &an) || !dnsw_rd_u16(&rd, &ns) || !dnsw_rd_u16(&rd, &ar))
		die("no header", q, res);
	if (size < 2 || id != (uint16_t)(in[0] << 8 | in[1]))
		die("ID not echoed", q, res);
	if (!(flags & DNSW_F_QR) || qd > 1)
		die("bad header", q, res);
	if (qd == 1 && (dnsw_rd_name(&rd, false, NULL, NULL) != SVC_OK || !dnsw_rd_u16(&rd, &t) ||
	                !dnsw_rd_u16(&rd, &c)))
		die("bad question", q, res);
	for (uint32_t i = 0; i < (uint32_t)an + ns + ar; i++) {
		struct dnsw_rr rr;

		if (dnsw_rd_rr(&rd, &rr) != SVC_OK)
			die("a record does not parse", q, res);
		if (rr.type == DNSW_T_OPT && i + 1 != (uint32_t)an + ns + ar)
			die("OPT not last", q, res);
	}
	if (rd.off != res->len)
		die("bytes after the last record", q, res);
	if (((flags & DNSW_F_TC) != 0) != res->truncated)
		die("TC and result disagree", q, res);
}

/* A transfer: every message parses, the first and the last record are the zone's SOA. */
static void
transfer(const struct dnsz *z, const uint8_t *data, const struct dnsq_query *q)
{
	struct dnsq_result res = {.action = DNSQ_TRANSFER};
	struct dnsx *x;
	size_t n, messages = 0;
	uint16_t first = 0, last = 0;

	if (q->qtype != DNSW_T_AXFR && q->qtype != DNSW_T_IXFR)
		die("transfer of another type", q, &res);
	if (dnsx_start((struct dnsz *)z, journal, q, data, &x) != SVC_OK)
		die("transfer did not start", q, &res);
	while ((n = dnsx_next(x, out)) > 0) {
		struct dnsw_rd rd;
		uint16_t an;

		if (n > DNSQ_OUT_MAX || ++messages > 1000)
			die("transfer message too big, or too many", q, &res);
		dnsw_rd_init(&rd, out, n);
		if (!dnsw_rd_skip(&rd, 6) || !dnsw_rd_u16(&rd, &an) || !dnsw_rd_skip(&rd, 4) ||
		    dnsw_rd_name(&rd, false, NULL, NULL) != SVC_OK || !dnsw_rd_skip(&rd, 4))
			die("transfer message header", q, &res);
		for (uint16_t i = 0; i < an; i++) {
			struct dnsw_rr rr;

			if (dnsw_rd_rr(&rd, &rr) != SVC_OK)
				die("transfer record does not parse", q, &res);
			if (messages == 1 && i == 0)
				first = rr.type;
			last = rr.type;
		}
		if (rd.off != n)
			die("bytes after the transfer's records", q, &res);
	}
	/* A full transfer has the SOA and more; an IXFR of a client as new gets the SOA alone. */
	if (first != DNSW_T_SOA || last != DNSW_T_SOA ||
	    dnsx_records(x) < (q->ixfr && q->xfr_serial == NEW_SERIAL ? 1u : 3u))
		die("transfer not framed by the SOA", q, &res);
	dnsx_free(x);
}

static void
run(const struct dnsz *z, const uint8_t *data, size_t size, enum dnsq_transport tr,
    const struct netaddr *client)
{
	struct dnsq_query q;
	struct dnsq_result res;

	dnsq_answer_from(z, data, size, tr, client, out, &q, &res);
	switch (res.action) {
	case DNSQ_DROP:
		break;
	case DNSQ_CHASE:
		if (q.chase == NULL || q.chase_len == 0 || q.chase_len > DNSW_NAME_MAX)
			die("chase without a target", &q, &res);
		check_answer(data, size, &q, &res); /* the partial answer parses too */
		break;
	case DNSQ_REPLY:
		check_answer(data, size, &q, &res);
		break;
	case DNSQ_TRANSFER:
		transfer(z, data, &q);
		break;
	case DNSQ_FORWARD:
		if (q.qname_len == 0 || q.qname_len > DNSW_NAME_MAX || q.query_len > size ||
		    q.limit < DNSQ_UDP_PLAIN)
			die("bad forward", &q, &res);
		break;
	default:
		die("unknown action", &q, &res);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (zone == NULL)
		init();
	run(zone, data, size, DNSQ_UDP, NULL);
	run(zone, data, size, DNSQ_TCP, NULL);
	run(zone, data, size, DNSQ_UDP, &pod);
	run(zone, data, size, DNSQ_TCP, &pod);
	run(placeholder, data, size, DNSQ_UDP, &pod);
	return 0;
}
