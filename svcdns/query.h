/* query.h -- one query, whatever transport brought it: answered from the zone or the cache, or
 * refused (the recursion ACL), or rate-limited (UDP), or to be asked upstream. The transports
 * (udp.c, tcp.c) do only I/O around this, as Knot's handlers around its query layer. */
#ifndef DNSD_QUERY_H
#define DNSD_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "dnsq.h"
#include "metrics.h"
#include "netaddr.h"
#include "server.h"

enum dnsd_verdict {
	DNSD_SEND,     /* OUT holds the answer */
	DNSD_SILENT,   /* nothing to send (not a query, or rate-limited) */
	DNSD_UPSTREAM, /* ask upstream: make a request from Q, RES, IN and OUT */
	DNSD_TRANSFER, /* a zone transfer the client may have: stream it (dnsx.h) */
};

struct dnsd_query {
	struct dnsq_query q;
	struct dnsq_result res;
	size_t len; /* DNSD_SEND: bytes in OUT */
};

/* Process the LEN bytes of IN from CLIENT over TR, with zone Z; counts the query and what the
 * rules turned away in M (the calling thread's). OUT holds DNSQ_OUT_MAX bytes. The caller
 * counts a DNSD_SEND answer (dnsd_metrics_answer) when it has sent it, with the time taken. */
enum dnsd_verdict dnsd_query_process(struct dnsd_server *s, struct dnsd_metrics *m,
                                     const struct dnsz *z, enum dnsq_transport tr,
                                     const struct netaddr *client, const uint8_t *in, size_t len,
                                     uint8_t *out, struct dnsd_query *dq);

#endif
