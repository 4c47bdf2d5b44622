/* udp.h -- DNS over UDP: worker threads, each with its own SO_REUSEPORT socket per listen
 * address and its own event loop, answering batches with recvmmsg/sendmmsg. Questions for
 * upstream go to the main loop through the server's queue; their answers come back here as
 * requests' replies, sent from the main loop on the socket the query came in on. */
#ifndef DNSD_UDP_H
#define DNSD_UDP_H

#include "server.h"

struct dnsd_udp;

/* Open the sockets and start the threads. On failure nothing is left running or allocated. */
enum svc_status dnsd_udp_start(struct dnsd_server *s, struct dnsd_udp **out);
/* Stop the threads; the sockets stay open, so requests still upstream can be answered. */
void dnsd_udp_halt(struct dnsd_udp *u);
/* Halt, close the sockets and free. Requests upstream keep their socket numbers: answer them
 * (destroy the upstream) first. NULL is fine. */
void dnsd_udp_stop(struct dnsd_udp *u);
/* Each worker's counters, for /metrics; N gets how many. */
struct dnsd_metrics *dnsd_udp_metrics(struct dnsd_udp *u, size_t i);
size_t dnsd_udp_workers(const struct dnsd_udp *u);

#endif
