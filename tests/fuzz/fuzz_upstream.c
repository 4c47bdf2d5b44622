/* fuzz_upstream.c -- libFuzzer target: any bytes as an upstream answer.
 *
 * The question is fixed: "ext.interwebs.test" A, which is both what a client asked (and is
 * forwarded) and the target of an ExternalName being chased. The input goes through dnsr_parse;
 * when it is accepted, it is rendered for a 512-byte UDP client, for a TCP client with EDNS and
 * as the end of the ExternalName answer (dnsr_render_chase). Every output must fit its client's
 * limit and parse record by record to its last byte; anything else aborts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "dnsq.h"
#include "dnsr.h"
#include "dnsw.h"
#include "dnsz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cluster_yaml[] =
        "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: testns}\nspec:\n"
        "  type: ExternalName\n  externalName: ext.interwebs.test\n";

/* A client: its packet and what dnsq made of it. */
struct client {
	uint8_t pkt[512];
	size_t len;
	struct dnsq_query q;
	struct dnsq_result res;
	uint8_t partial[DNSQ_OUT_MAX];
};

static struct client udp, tcp, chase, upq;
static uint8_t out[DNSQ_OUT_MAX];
static bool ready;
static const struct dnsr_limits lim = {.max_ttl = 3600, .max_neg_ttl = 1800};

static size_t
query(uint8_t *buf, uint16_t id, const char *name, bool edns)
{
	struct dnsq_query k = {.qtype = DNSW_T_A, .qclass = DNSW_C_IN, .flags = DNSW_F_RD};
	size_t n;

	if (dnsw_name_from_str(name, k.qname, &k.qname_len) != SVC_OK)
		abort();
	/* Without the OPT dnsr_make_query adds: the client's own, if any, comes below. */
	n = dnsr_make_query(&k, id, buf, 512) - 11;
	buf[11] = 0;
	/* The client's spelling differs from the upstream's. */
	buf[13] = (uint8_t)(buf[13] & ~0x20);
	if (edns) {
		static const uint8_t opt[] = {0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0};

		memcpy(buf + n, opt, sizeof(opt));
		buf[11] = 1;
		n += sizeof(opt);
	}
	return n;
}

static void
ask(const struct dnsz *z, struct client *c, enum dnsq_transport tr, enum dnsq_action want)
{
	dnsq_answer(z, c->pkt, c->len, tr, c->partial, &c->q, &c->res);
	if (c->res.action != want)
		abort();
}

static void
init(void)
{
	struct cluster_objects objs;
	struct cluster_config cfg;
	struct dnsz_options opts = {.domain = "cluster.local", .ttl = 30};
	struct cluster *c = NULL;
	struct dnsz *z;
	struct diag d;

	diag_init(&d);
	cluster_config_init(&cfg);
	cluster_objects_init(&objs);
	cluster_objects_load_buffer(&objs, "fuzz.yaml", cluster_yaml, sizeof(cluster_yaml) - 1, &d);
	if (d.errors != 0 || cluster_build(&objs, &cfg, &d, &c) != SVC_OK || c == NULL)
		abort();
	cluster_objects_deinit(&objs);
	diag_deinit(&d);
	if (dnsz_build(c, &opts, &z) != SVC_OK)
		abort();
	udp.len = query(udp.pkt, 0x1001, "ext.interwebs.test", false);
	ask(z, &udp, DNSQ_UDP, DNSQ_FORWARD);
	tcp.len = query(tcp.pkt, 0x1002, "ext.interwebs.test", true);
	ask(z, &tcp, DNSQ_TCP, DNSQ_FORWARD);
	chase.len = query(chase.pkt, 0x1003, "ext.testns.svc.cluster.local", false);
	ask(z, &chase, DNSQ_UDP, DNSQ_CHASE);
	{
		struct dnsq_query k = {.qtype = DNSW_T_A, .qclass = DNSW_C_IN, .flags = DNSW_F_RD};

		memcpy(k.qname, chase.q.chase, chase.q.chase_len);
		k.qname_len = chase.q.chase_len;
		upq.len = dnsr_make_query(&k, 0x1004, upq.pkt, sizeof(upq.pkt));
	}
	ask(z, &upq, DNSQ_UDP, DNSQ_FORWARD);
	dnsz_unref(z);
	cluster_unref(c);
	ready = true;
}

static void
check(const char *what, const uint8_t *msg, size_t len, const struct client *c)
{
	struct dnsw_rd rd;
	uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0, t, cl;
	uint32_t total;

	if (len < DNSW_HEADER || len > c->q.limit) {
		fprintf(stderr, "fuzz_upstream: %s: %zu bytes for a limit of %zu\n", what, len,
		        c->q.limit);
		abort();
	}
	dnsw_rd_init(&rd, msg, len);
	if (!dnsw_rd_u16(&rd, &id) || !dnsw_rd_u16(&rd, &flags) || !dnsw_rd_u16(&rd, &qd) ||
	    !dnsw_rd_u16(&rd, &an) || !dnsw_rd_u16(&rd, &ns) || !dnsw_rd_u16(&rd, &ar))
		abort();
	if (id != c->q.id || qd != 1 || !(flags & DNSW_F_QR) ||
	    memcmp(msg + DNSW_HEADER, c->pkt + DNSW_HEADER, c->q.query_len - DNSW_HEADER) != 0) {
		fprintf(stderr, "fuzz_upstream: %s: header or question not the client's\n", what);
		abort();
	}
	if (dnsw_rd_name(&rd, false, NULL, NULL) != SVC_OK || !dnsw_rd_u16(&rd, &t) ||
	    !dnsw_rd_u16(&rd, &cl))
		abort();
	total = (uint32_t)an + ns + ar;
	for (uint32_t i = 0; i < total; i++) {
		struct dnsw_rr rr;

		if (dnsw_rd_rr(&rd, &rr) != SVC_OK) {
			fprintf(stderr, "fuzz_upstream: %s: record %u of %u does not parse\n", what,
			        i, total);
			abort();
		}
		if (rr.type == DNSW_T_OPT && (i + 1 != total || !c->q.edns)) {
			fprintf(stderr, "fuzz_upstream: %s: an OPT that is not ours\n", what);
			abort();
		}
	}
	if (rd.off != len) {
		fprintf(stderr, "fuzz_upstream: %s: %zu bytes after the last record\n", what,
		        len - rd.off);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsr_msg *m = NULL;
	size_t n;

	if (!ready)
		init();
	if (dnsr_parse(data, size, &udp.q, &lim, &m) != SVC_OK) {
		if (m != NULL)
			abort();
		return 0;
	}
	if (m->cache_ttl > lim.max_ttl || m->n_rec != (size_t)m->an + m->ns + m->ar)
		abort();
	n = dnsr_render(m, &udp.q, udp.pkt, 0, out);
	check("render udp", out, n, &udp);
	n = dnsr_render(m, &tcp.q, tcp.pkt, 100, out);
	check("render tcp", out, n, &tcp);
	free(m);
	/* The same bytes as the answer to the chase's upstream query. */
	if (dnsr_parse(data, size, &upq.q, &lim, &m) != SVC_OK)
		return 0;
	n = dnsr_render_chase(m, &chase.q, chase.partial, chase.res.len, 7, out);
	check("render_chase", out, n, &chase);
	free(m);
	return 0;
}
