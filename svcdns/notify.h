/* notify.h -- NOTIFY to the secondaries of --notify after each new version of the zone. */
#ifndef DNSD_NOTIFY_H
#define DNSD_NOTIFY_H

#include <stdint.h>

#include "server.h"

struct dnsd_notify;

/* On S's main loop; *OUT stays NULL when there is no --notify. */
enum svc_status dnsd_notify_create(struct dnsd_server *s, struct dnsd_notify **out);
/* The zone now has SERIAL: tell every secondary (main loop). N may be NULL. */
void dnsd_notify_zone(struct dnsd_notify *n, uint32_t serial);
void dnsd_notify_destroy(struct dnsd_notify *n);

#endif
