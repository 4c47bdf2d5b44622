/* zonedump.h -- the cluster zone in master file format (RFC 1035 section 5), for --dump-zone:
 * every name the zone holds, asked of the zone as a client would ask it, the answers printed by
 * ldns. Names made on demand (pods' a-b-c-d names, reverse names) are not in it. */
#ifndef ZONEDUMP_H
#define ZONEDUMP_H

#include <stdio.h>

#include "dnsz.h"
#include "svc_status.h"

/* Write Z's records to F: the SOA first, then every other record once, in canonical order.
 * SVC_ENOMEM, SVC_EIO (F failed) or SVC_EINVAL (an answer ldns cannot read) on failure. */
enum svc_status zonedump_write(const struct dnsz *z, FILE *f);

#endif
