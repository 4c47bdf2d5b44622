/* dnsx.h -- zone transfers of the cluster zone to secondaries (AXFR, RFC 5936; IXFR, RFC 1995)
 * and the NOTIFY that tells them of a change (RFC 1996). A transfer is a stream of messages made
 * one at a time, so the loop that sends a large zone can interleave other clients. No I/O.
 *
 * What is transferred is the forward cluster zone: every name's records (services, SRV,
 * endpoint hostnames, the apex's SOA and NS, dns-version), each once. Names made when asked
 * (pods' a-b-c-d names, reverse names) are not part of it. */
#ifndef DNSX_H
#define DNSX_H

#include <stddef.h>
#include <stdint.h>

#include "dnsq.h"
#include "dnsz.h"
#include "svc_status.h"

#define DNSX_MSG_TARGET 16000 /* bytes a message is filled to: every pointer reaches back */

struct dnsx;

/* A transfer answering query Q (DNSQ_TRANSFER from dnsq_answer; QPKT its packet, header and
 * question) from zone Z, which it holds a reference to until dnsx_free. */
enum svc_status dnsx_start(struct dnsz *z, const struct dnsq_query *q, const uint8_t *qpkt,
                           struct dnsx **out);
/* The next message of X into OUT (DNSQ_OUT_MAX bytes): its length, 0 once the last was made. */
size_t dnsx_next(struct dnsx *x, uint8_t *out);
/* Records sent so far. */
size_t dnsx_records(const struct dnsx *x);
void dnsx_free(struct dnsx *x);

/* The NOTIFY for Z's current serial (opcode NOTIFY, AA, the apex's SOA as the question and
 * in the answer), with ID, into OUT (DNSQ_OUT_MAX bytes). Returns its length. */
size_t dnsx_notify(const struct dnsz *z, uint16_t id, uint8_t *out);

#endif
