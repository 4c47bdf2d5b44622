/* zonedump.c -- the cluster zone as a master file: each of the zone's names is asked for each type
 * the zone answers, through dnsq_answer (what a secondary or a client gets), and ldns reads the
 * answers and prints them. */
#include "zonedump.h"

#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#include "dnsq.h"
#include "dnsr.h"
#include "dnsw.h"

static const uint16_t types[] = {DNSW_T_SOA, DNSW_T_NS,  DNSW_T_A,   DNSW_T_AAAA,
                                 DNSW_T_SRV, DNSW_T_TXT, DNSW_T_PTR, DNSW_T_CNAME};

struct walk {
	const struct dnsz *z;
	ldns_rr_list *rrs;
	uint8_t *in, *out;
	enum svc_status st;
};

static bool
is_reverse(const uint8_t *name, size_t len)
{
	static const uint8_t v4[] = "\7in-addr\4arpa", v6[] = "\3ip6\4arpa";

	return (len >= sizeof(v4) && memcmp(name + len - sizeof(v4), v4, sizeof(v4)) == 0) ||
	       (len >= sizeof(v6) && memcmp(name + len - sizeof(v6), v6, sizeof(v6)) == 0);
}

/* Ask the zone NAME (LEN bytes) TYPE; the answer section's records go to W->rrs. */
static void
ask(struct walk *w, const uint8_t *name, size_t len, uint16_t type)
{
	struct dnsq_query k, q;
	struct dnsq_result res;
	ldns_pkt *pkt = NULL;
	ldns_rr_list *an;
	size_t qlen;

	memset(&k, 0, sizeof(k));
	memcpy(k.qname, name, len);
	k.qname_len = len;
	k.qtype = type;
	k.qclass = DNSW_C_IN;
	qlen = dnsr_make_query(&k, 0, w->in, DNSQ_OUT_MAX);
	if (qlen == 0) {
		w->st = SVC_EINVAL;
		return;
	}
	dnsq_answer(w->z, w->in, qlen, DNSQ_TCP, w->out, &q, &res);
	if ((res.action != DNSQ_REPLY && res.action != DNSQ_CHASE) || res.rcode != DNSW_R_NOERROR)
		return;
	if (res.action == DNSQ_CHASE) /* the CNAME only: its target is not the zone's */
		dnsw_put16(w->out + 10, 0);
	if (ldns_wire2pkt(&pkt, w->out, res.len) != LDNS_STATUS_OK) {
		w->st = SVC_EINVAL;
		return;
	}
	an = ldns_pkt_answer(pkt);
	for (size_t i = 0; an != NULL && i < ldns_rr_list_rr_count(an); i++) {
		ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(an, i));

		if (rr == NULL || !ldns_rr_list_push_rr(w->rrs, rr)) {
			ldns_rr_free(rr);
			w->st = SVC_ENOMEM;
			break;
		}
	}
	ldns_pkt_free(pkt);
}

static void
each_node(void *arg, const struct dnsz_node *n)
{
	struct walk *w = arg;

	if (w->st != SVC_OK || is_reverse(dnsz_node_name(n), n->name_len))
		return;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]) && w->st == SVC_OK; i++)
		ask(w, dnsz_node_name(n), n->name_len, types[i]);
}

enum svc_status
zonedump_write(const struct dnsz *z, FILE *f)
{
	struct walk w = {.z = z, .st = SVC_ENOMEM};
	ldns_rr *prev = NULL;
	size_t n;

	w.rrs = ldns_rr_list_new();
	w.in = malloc(DNSQ_OUT_MAX);
	w.out = malloc(DNSQ_OUT_MAX);
	if (w.rrs == NULL || w.in == NULL || w.out == NULL)
		goto done;
	w.st = SVC_OK;
	dnsz_each_node(z, each_node, &w);
	if (w.st != SVC_OK)
		goto done;
	ldns_rr_list_sort(w.rrs);
	n = ldns_rr_list_rr_count(w.rrs);
	/* The SOA first, as a master file starts; then each record once (an A is met again behind
	 * a CNAME of the zone's that points at it). */
	for (size_t i = 0; i < n; i++) {
		ldns_rr *rr = ldns_rr_list_rr(w.rrs, i);

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
			ldns_rr_print(f, rr);
			break;
		}
	}
	for (size_t i = 0; i < n; i++) {
		ldns_rr *rr = ldns_rr_list_rr(w.rrs, i);

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA ||
		    (prev != NULL && ldns_rr_compare(prev, rr) == 0))
			continue;
		ldns_rr_print(f, rr);
		prev = rr;
	}
	if (fflush(f) != 0 || ferror(f))
		w.st = SVC_EIO;
done:
	ldns_rr_list_deep_free(w.rrs);
	free(w.in);
	free(w.out);
	return w.st;
}
