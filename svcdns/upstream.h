/* upstream.h -- names outside the cluster: the cache, then one upstream query per distinct
 * question in flight (clients asking the same wait on it), sent with c-ares on the main loop. A
 * question gets a c-ares channel of its own while at most `sockets` are out, so each goes out
 * from a socket of its own, a random source port beside the random ID (RFC 5452). Every bound
 * holds: questions out (those past their deadline included until c-ares lets go), clients
 * waiting on one question and on all. A question unanswered by the deadline gets SERVFAIL,
 * never silence. The transports are not known here: a request carries its reply callback. */
#ifndef DNSD_UPSTREAM_H
#define DNSD_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "dnsc.h"
#include "dnsr.h"
#include "metrics.h"
#include "req.h"

#define DNSD_UPSTREAM_MAX_SERVERS 8
/* RFC 8767's client response timer: 1.8 s. */
#define DNSD_STALE_WAIT_MS 1800
/* Questions whose REFUSED answers are tallied at once (a table of 8 bytes each). */
#define DNSD_UPSTREAM_REFUSALS 1024

struct event_base;
struct dnsd_upstream;

struct dnsd_upstream_config {
	const struct daemon_addr *servers; /* copied */
	size_t n_servers;                  /* at most DNSD_UPSTREAM_MAX_SERVERS */
	uint32_t timeout_ms;               /* SERVFAIL after this */
	/* Serve-stale (RFC 8767): with a cache whose entries are kept this long past expiry
	 * (dnsc_set_stale), a failed question is answered from its expired entry, and one not
	 * answered within DNSD_STALE_WAIT_MS is answered from it at once. 0: off. */
	uint32_t stale_s;
	size_t max_inflight; /* distinct questions out; more get REFUSED */
	size_t sockets;      /* questions with a socket of their own; beyond, they share */
	size_t max_waiters;  /* clients on one question; more get SERVFAIL */
	size_t max_waiting;  /* clients waiting in all; more get SERVFAIL */
	struct dnsr_limits limits;
};

struct dnsd_upstream_stats {
	uint64_t sent, answered, timeouts, failures, refused, malformed, coalesced, shared;
	uint64_t stale;   /* answers from expired entries: upstreams failed, or slower than 1.8 s */
	size_t inflight;  /* questions out, unanswered */
	size_t lingering; /* past their deadline, still held by c-ares */
	size_t waiting;   /* clients waiting */
	size_t channels;  /* c-ares channels made (each holds up to two sockets per upstream) */
};

/* CACHE may be NULL. Answers are counted in M (the main loop's counters). */
enum svc_status dnsd_upstream_create(struct event_base *base,
                                     const struct dnsd_upstream_config *cfg, struct dnsc *cache,
                                     struct dnsd_metrics *m, struct dnsd_upstream **out);
/* Every request still waiting gets SERVFAIL. */
void dnsd_upstream_destroy(struct dnsd_upstream *up);
/* Answer R from the cache or upstream; takes R. Main loop only. */
void dnsd_upstream_submit(struct dnsd_upstream *up, struct dnsd_req *r);
void dnsd_upstream_stats(const struct dnsd_upstream *up, struct dnsd_upstream_stats *out);

#endif
