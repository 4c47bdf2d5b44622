/* dnsx.h -- zone transfers of the cluster zone to secondaries (AXFR, RFC 5936; IXFR, RFC 1995)
 * and the NOTIFY that tells them of a change (RFC 1996). A transfer is a stream of messages made
 * one at a time, so the loop that sends a large zone can interleave other clients. No I/O.
 *
 * What is transferred is the forward cluster zone: every name's records (services, SRV,
 * endpoint hostnames, the apex's SOA and NS, dns-version), each once. Names made when asked
 * (pods' a-b-c-d names, reverse names) are not part of it. */
#ifndef DNSX_H
#define DNSX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsq.h"
#include "dnsz.h"
#include "svc_status.h"

#define DNSX_MSG_TARGET 16000 /* bytes a message is filled to: every pointer reaches back */
/* The journal IXFR answers from keeps the last changes, at most this many and this much. */
#define DNSX_JOURNAL_MAX   128
#define DNSX_JOURNAL_BYTES (32u << 20)

/* What one version of the zone took out and put in against the one before (the SOA aside).
 * Immutable, reference-counted. */
struct dnsx_diff;
/* The zone's last changes, consecutive, oldest first. Immutable, reference-counted. */
struct dnsx_journal;

/* The change from zone OLD to zone NEW, found among the names of the pieces they do not share
 * (dnsz_each_changed_node): its cost follows the change, not the zone. */
enum svc_status dnsx_diff_make(const struct dnsz *old, const struct dnsz *new,
                               struct dnsx_diff **out);
/* Records the change takes out and puts in. */
size_t dnsx_diff_deleted(const struct dnsx_diff *d);
size_t dnsx_diff_added(const struct dnsx_diff *d);
void dnsx_diff_unref(struct dnsx_diff *d);

/* J (NULL: empty) with D after it, into *OUT; J itself is unchanged. When D does not follow J's
 * last serial, *OUT holds D alone. A change of nothing but the serial is not kept: the serials
 * it spans have the same records. The oldest changes go beyond DNSX_JOURNAL_MAX or
 * DNSX_JOURNAL_BYTES (the newest always stays). Takes D's reference. */
enum svc_status dnsx_journal_add(const struct dnsx_journal *j, struct dnsx_diff *d,
                                 struct dnsx_journal **out);
size_t dnsx_journal_changes(const struct dnsx_journal *j);
/* The serial since which the zone's records are as they are now (a later one only moved the
 * serial). */
uint32_t dnsx_journal_changed(const struct dnsx_journal *j);
size_t dnsx_journal_bytes(const struct dnsx_journal *j);
struct dnsx_journal *dnsx_journal_ref(struct dnsx_journal *j);
void dnsx_journal_unref(struct dnsx_journal *j);

struct dnsx;

/* A transfer answering query Q (DNSQ_TRANSFER from dnsq_answer; QPKT its packet, header and
 * question) from zone Z, which it holds a reference to until dnsx_free. An IXFR is answered
 * from journal J (may be NULL) when it holds every change from the client's serial to Z's:
 * the changes (RFC 1995); a client as new as Z gets Z's SOA alone; any other, the whole zone. */
enum svc_status dnsx_start(struct dnsz *z, const struct dnsx_journal *j, const struct dnsq_query *q,
                           const uint8_t *qpkt, struct dnsx **out);
/* Whether X sends changes rather than the whole zone. */
bool dnsx_incremental(const struct dnsx *x);
/* The next message of X into OUT (DNSQ_OUT_MAX bytes): its length, 0 once the last was made. */
size_t dnsx_next(struct dnsx *x, uint8_t *out);
/* Records sent so far. */
size_t dnsx_records(const struct dnsx *x);
void dnsx_free(struct dnsx *x);

/* The NOTIFY for Z's current serial (opcode NOTIFY, AA, the apex's SOA as the question and
 * in the answer), with ID, into OUT (DNSQ_OUT_MAX bytes). Returns its length. */
size_t dnsx_notify(const struct dnsz *z, uint16_t id, uint8_t *out);

#endif
