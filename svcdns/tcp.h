/* tcp.h -- DNS over TCP on the main loop (RFC 7766): two-byte length framing, pipelined queries
 * answered as they complete, everything received answered before a half-closed connection
 * closes. Bounded against hostile clients: a message must arrive whole within a deadline of its
 * first byte; an idle connection closes; reading pauses while answers pile up unread or too many
 * queries are out; when every slot is taken, the oldest connection that is owed nothing makes
 * room for the newcomer; when descriptors run out, accepting pauses instead of spinning. */
#ifndef DNSD_TCP_H
#define DNSD_TCP_H

#include "server.h"

#define DNSD_TCP_MAX_PENDING 64        /* queries upstream per connection before reading pauses */
#define DNSD_TCP_OUT_HIGH    (1 << 20) /* unread answers before reading pauses */

struct dnsd_tcp;

struct dnsd_tcp_stats {
	size_t conns;
	uint64_t accepted, accept_pauses;
};

enum svc_status dnsd_tcp_start(struct dnsd_server *s, struct dnsd_tcp **out);
/* Close every connection and listener. NULL is fine. */
void dnsd_tcp_stop(struct dnsd_tcp *t);
void dnsd_tcp_stats(const struct dnsd_tcp *t, struct dnsd_tcp_stats *out);

#endif
