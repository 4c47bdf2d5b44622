/* server.h -- the svcdns daemon's state, shared by its loops: the options, the zone every query
 * is answered from (swapped whole on a reload; a reader keeps the zone it took), the cache, the
 * upstream, the transports, the counters, and the queue on which UDP workers hand questions for
 * upstream to the main loop. */
#ifndef DNSD_SERVER_H
#define DNSD_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"
#include "dnsc.h"
#include "dnsr.h"
#include "dnsx.h"
#include "dnsz.h"
#include "metrics.h"
#include "options.h"
#include "req.h"
#include "rrl.h"

struct event;
struct event_base;
struct builder;
struct dnsd_upstream;
struct dnsd_tcp;
struct dnsd_udp;
struct dnsd_notify;

struct dnsd_server {
	struct dnsd_opts opts;
	struct event_base *base;
	pthread_mutex_t zone_lock;
	struct dnsz *zone; /* current model; swapped under zone_lock */
	/* The zone's last changes, for IXFR (with --transfer-allow); under zone_lock. */
	struct dnsx_journal *journal;
	struct dnsz_options zopts;
	/* The last SOA serial (builder thread); see next_serial in main.c. */
	uint32_t serial;
	bool serial_file_failed;
	/* Makes each zone from the last (builder thread only); made with the first model. */
	struct dnsz_builder *zbuilder;
	struct dnsc *cache;
	struct rrl *rrl; /* NULL: off */
	struct daemon_reload reload;
	struct daemon_store store; /* with --etcd */
	struct builder *builder;   /* rebuilds the model off the serving loops */
	struct dnsd_upstream *up;
	struct dnsd_tcp *tcp;
	struct dnsd_udp *udp;
	struct dnsd_notify *notify; /* --notify */
	struct event *zone_ev;      /* a new zone is served: the main loop's turn (NOTIFY) */
	uint32_t notified;          /* the serial since which the records are as last told */
	bool notified_once;
	struct daemon_http *http;
	struct dnsd_metrics metrics; /* the main loop's: TCP and forwarded answers */
	/* Questions from the UDP workers for the main loop, at most opts.queue_max. */
	pthread_mutex_t q_lock;
	struct dnsd_req *q_head, **q_tail;
	size_t q_len;
	struct event *q_ev;
};

enum svc_status dnsd_server_init(struct dnsd_server *s);
void dnsd_server_deinit(struct dnsd_server *s);
/* The current zone, referenced; release with dnsz_unref. Any thread. */
struct dnsz *dnsd_server_zone(struct dnsd_server *s);
/* The journal of the zone's changes, referenced (NULL: none); release with
 * dnsx_journal_unref. Any thread. */
struct dnsx_journal *dnsd_server_journal(struct dnsd_server *s);
/* Serve Z from now on (takes the reference). The zone it replaces is released once the readers
 * that hold it are done (a batch of queries), so it is freed here: on the builder thread, not
 * on a serving loop. */
void dnsd_server_set_zone(struct dnsd_server *s, struct dnsz *z);
/* Hand R to the main loop for upstream (any thread); false when the queue is full (R is still
 * the caller's). */
bool dnsd_server_enqueue(struct dnsd_server *s, struct dnsd_req *r);
/* Take everything queued (main loop). */
struct dnsd_req *dnsd_server_dequeue(struct dnsd_server *s);
/* Whether CLIENT may have names outside the cluster resolved (the recursion ACL): by its
 * address, or as a pod of zone Z. */
bool dnsd_server_may_recurse(const struct dnsd_server *s, const struct dnsz *z,
                             const struct netaddr *client);

#endif
