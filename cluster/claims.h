/* claims.h -- names and claims contested between source units: the older holder keeps them. */
#ifndef CLAIMS_H
#define CLAIMS_H

#include "cluster.h"

/* Sort V's objects of each kind by namespace and name, keeping the oldest of each name, and leave
 * out the services whose explicit ClusterIP, nodePort or healthCheckNodePort an older service
 * holds. V's services are the caller's copies (their meta.dropped is written). Every object left
 * out is reported to D as an error. */
enum svc_status claims_resolve(struct cluster_objects *v, struct diag *d);

#endif
