/* query.c -- one query through the rules, whatever transport brought it. */
#include "query.h"

#include <stdbool.h>
#include <string.h>

/* The RRL bucket of an answer: positive answers and NODATA by name, NXDOMAIN by the zone (so
 * random names share one), errors by rcode. */
static enum rrl_verdict
rate_limit(struct dnsd_server *s, const struct dnsz *z, const struct netaddr *client,
           const struct dnsd_query *dq, const uint8_t *out)
{
	uint16_t rcode = dq->res.rcode;
	const uint8_t *name = dq->q.qname;
	size_t len = dq->q.qname_len;
	enum rrl_class cls;
	uint8_t code;

	if (rcode == DNSW_R_NOERROR) {
		cls = dnsw_get16(out + 6) > 0 ? RRL_ANSWER : RRL_NODATA;
	} else if (rcode == DNSW_R_NXDOMAIN) {
		int at = dnsw_name_suffix_at(name, len, z->apex, z->apex_len);

		cls = RRL_NXDOMAIN;
		if (at >= 0) {
			name += at;
			len -= (size_t)at;
		}
	} else {
		cls = RRL_ERROR;
		code = (uint8_t)rcode;
		name = &code;
		len = 1;
	}
	return rrl_check(s->rrl, client, cls, name, len, now_s());
}

/* Zone transfers go to --transfer-allow only. */
static bool
transfer_allowed(const struct dnsd_server *s, const struct netaddr *client)
{
	for (size_t i = 0; i < s->opts.n_xfr_acl; i++) {
		if (netaddr_in_prefix(client, &s->opts.xfr_acl[i]))
			return true;
	}
	return false;
}

enum dnsd_verdict
dnsd_query_process(struct dnsd_server *s, struct dnsd_metrics *m, const struct dnsz *z,
                   enum dnsq_transport tr, const struct netaddr *client, const uint8_t *in,
                   size_t len, uint8_t *out, struct dnsd_query *dq)
{
	int recurse = -1; /* not decided yet */

	dnsq_answer_from(z, in, len, tr, s->opts.autopath ? client : NULL, out, &dq->q, &dq->res);
	if (dq->res.action == DNSQ_DROP) {
		dnsd_metrics_add(&m->drops[DNSD_DROP_MALFORMED], 1);
		return DNSD_SILENT;
	}
	if (dq->res.autopath == DNSQ_AUTOPATH_UPSTREAM &&
	    !(recurse = dnsd_server_may_recurse(s, z, client))) {
		/* The bare name is not ours to resolve for this client: the plain answer, and
		 * the client walks its own search list. */
		dnsq_answer(z, in, len, tr, out, &dq->q, &dq->res);
	}
	if (dq->res.autopath != DNSQ_AUTOPATH_NONE)
		dnsd_metrics_add(&m->autopath[dq->res.autopath == DNSQ_AUTOPATH_UPSTREAM], 1);
	dnsd_metrics_query(m, tr == DNSQ_TCP, client->family == NETADDR_V6, dq->q.qtype);
	if (dq->res.action == DNSQ_TRANSFER) {
		if (transfer_allowed(s, client))
			return DNSD_TRANSFER;
		dnsd_metrics_add(&m->xfr[DNSD_XFR_REFUSED], 1);
		dq->res.action = DNSQ_REPLY;
		dq->res.rcode = DNSW_R_REFUSED;
		dq->res.len = dnsq_error(&dq->q, in, DNSW_R_REFUSED, out);
	}
	if (dq->res.action == DNSQ_FORWARD || dq->res.action == DNSQ_CHASE) {
		struct dnsq_query kq;
		size_t n;

		if (recurse < 0)
			recurse = dnsd_server_may_recurse(s, z, client);
		if (!recurse) {
			/* Cluster names are answered to anyone; names outside only to clients
			 * allowed recursion. An ExternalName's CNAME is ours to give, its target
			 * is not ours to chase. */
			dnsd_metrics_add(&m->drops[DNSD_DROP_RECURSION], 1);
			if (dq->res.action == DNSQ_CHASE)
				dq->res.len = dnsq_chase_stop(&dq->q, out, dq->res.len);
			else
				dq->res.len = dnsq_error(&dq->q, in, DNSW_R_REFUSED, out);
			dq->res.rcode =
			        dq->res.action == DNSQ_CHASE ? DNSW_R_NOERROR : DNSW_R_REFUSED;
			dq->res.action = DNSQ_REPLY;
		} else {
			/* The CNAME answer so far is small: a header, the question, one record (two
			 * when the search path led to an ExternalName). */
			uint8_t partial[DNSW_HEADER + 3 * DNSW_NAME_MAX + 48];
			bool chase = dq->res.action == DNSQ_CHASE;

			if (chase && dq->res.len > sizeof(partial))
				return DNSD_UPSTREAM;
			if (chase)
				memcpy(partial, out, dq->res.len);
			dnsd_req_key(&dq->q, &dq->res, &kq);
			n = dnsd_req_cached(s->cache, &dq->q, &kq, in, chase ? partial : NULL,
			                    chase ? dq->res.len : 0, now_s(), out);
			if (n == 0)
				return DNSD_UPSTREAM;
			dq->res.len = n;
			dq->res.rcode = dnsw_get16(out + 2) & DNSW_F_RCODE_MASK;
			dq->res.truncated = (dnsw_get16(out + 2) & DNSW_F_TC) != 0;
			dq->res.action = DNSQ_REPLY;
		}
	}
	if (s->rrl != NULL && tr == DNSQ_UDP) {
		if (recurse < 0)
			recurse = dnsd_server_may_recurse(s, z, client);
		/* Clients allowed recursion are exempt: every pod's query arrives from its node's
		 * address, and a limit per source would throttle a whole node. */
		if (!recurse) {
			switch (rate_limit(s, z, client, dq, out)) {
			case RRL_PASS:
				break;
			case RRL_DROP:
				dnsd_metrics_add(&m->drops[DNSD_DROP_RRL], 1);
				return DNSD_SILENT;
			case RRL_SLIP:
				dnsd_metrics_add(&m->drops[DNSD_DROP_RRL_SLIP], 1);
				dq->res.len = dnsq_slip(&dq->q, in, out);
				dq->res.truncated = true;
				dq->res.rcode = DNSW_R_NOERROR;
				break;
			}
		}
	}
	dq->len = dq->res.len;
	return DNSD_SEND;
}
