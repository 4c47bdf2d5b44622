/* claims.h -- names and claims contested between source units: the older holder keeps them. */
#ifndef CLAIMS_H
#define CLAIMS_H

#include "cluster.h"

/* Sort ITEMS (N objects of one kind, each starting with its meta; KIND names it in reports) by
 * namespace and name, keeping the oldest of each name. */
void claims_resolve_names(void **items, size_t *n, const char *kind, struct diag *d);
/* Leave out of SVCS (the caller's copies, in name order: their meta.dropped is written; order
 * kept) the services whose explicit ClusterIP, nodePort or healthCheckNodePort an older service
 * holds. Every object left out is reported to D as an error. */
enum svc_status claims_resolve_services(struct cluster_service **svcs, size_t *n_svcs,
                                        struct diag *d);

#endif
