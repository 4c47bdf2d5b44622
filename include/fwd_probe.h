/* fwd_probe.h -- readiness probes as the kubelet runs them, on the caller's libevent loop.
 *
 * A probe is a tcpSocket or httpGet check of one address and port, known by the caller's 64-bit
 * id. It starts not ready; successThreshold successes in a row make it ready and
 * failureThreshold failures in a row not ready again, and only these transitions are reported.
 * The first attempt comes initialDelaySeconds after it is added plus a random part of a period
 * (so probes added together do not fire together), then one every periodSeconds; an attempt
 * still running (or waiting for a slot) when the next is due makes that one skipped, so a probe
 * never has two at once. An attempt that takes longer than timeoutSeconds fails.
 *
 * Whatever a pod's server does, a probe costs bounded time, memory and descriptors: at most
 * MAX_IN_FLIGHT attempts (one socket each) run at once, the others wait their turn in order,
 * and their timeout runs from when they start; no more sockets than that are kept between
 * attempts, and none once no probe is left; HTTP reads stop at the status line or at
 * FWD_PROBE_STATUS_MAX bytes. A socket that cannot be had (EMFILE) fails that attempt. No DNS:
 * the caller gives addresses. Single-threaded: everything runs on the loop's thread. */
#ifndef FWD_PROBE_H
#define FWD_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"
#include "svc_status.h"

struct event_base;

/* The kubelet's defaults, for a field given as 0. */
#define FWD_PROBE_PERIOD_S          10
#define FWD_PROBE_TIMEOUT_S         1
#define FWD_PROBE_SUCCESS_THRESHOLD 1
#define FWD_PROBE_FAILURE_THRESHOLD 3
/* Attempts in flight at once when create is given 0, and the most it accepts: a fifth of the
 * 20,000 descriptors svcfwd may hold. */
#define FWD_PROBE_MAX_IN_FLIGHT       256
#define FWD_PROBE_MAX_IN_FLIGHT_LIMIT 4096
/* First attempts start on slots of this many milliseconds (or the period, when shorter): probes
 * that share one share the loop's wake-ups, and the pods' servers see their requests in a burst.
 * 200 ms: at 10,000 pods every 10 s, bursts of about 200, within the 256 attempts in flight
 * (bench/probe_bench.sh: 3.97% of a core against 5.00% with 50 ms slots, in one interleaved
 * run). The kubelet spreads first runs over the period too; only their phase is rounded. */
#define FWD_PROBE_SLOT_MS 200
/* Bytes read of an HTTP answer at most: its status line, line end included, must fit. */
#define FWD_PROBE_STATUS_MAX 1024
/* Bytes of an HTTP request at most (request line and headers). */
#define FWD_PROBE_REQUEST_MAX 8192
/* The User-Agent sent unless the caller gives one, as the kubelet's. */
#define FWD_PROBE_USER_AGENT "kube-probe/1.29"

enum fwd_probe_kind {
	FWD_PROBE_TCP,  /* tcpSocket: the connection completes */
	FWD_PROBE_HTTP, /* httpGet over plain HTTP: a status 200 to 399 */
};

/* An httpHeaders entry. */
struct fwd_probe_header {
	const char *name, *value;
};

/* What to probe and how often; fwd_probe_add copies it, strings included. */
struct fwd_probe_spec {
	enum fwd_probe_kind kind;
	struct netaddr addr; /* IPv4 or IPv6 */
	uint16_t port;       /* 1 to 65535 */
	/* HTTP only. PATH: the request target, "/" when NULL or empty; a leading "/" is added when
	 * missing, a fragment ("#...") is dropped and bytes that cannot go in a request line
	 * (controls, space, non-ASCII) are percent-encoded, as the kubelet's URL does. HOST: the
	 * URL's host (httpGet.host), sent with the port as the kubelet does ("svc.example:8080");
	 * NULL: the address ("10.0.0.1:8080", "[fd00::1]:8080"). HEADERS: sent as given, except
	 * that a Host (the first; it wins over HOST), User-Agent or Accept among them replaces the
	 * default (an Accept with an empty value removes it), and Connection, Content-Length,
	 * Transfer-Encoding and Trailer are not sent (the request has no body and the connection
	 * is closed after the status line). */
	const char *path;
	const char *host;
	const struct fwd_probe_header *headers;
	size_t n_headers;
	/* 0: the defaults above (initial delay: none). */
	uint32_t initial_delay_s, period_s, timeout_s;
	uint32_t success_threshold, failure_threshold;
	/* For tests and benchmarks: milliseconds, used instead of the seconds when not 0. */
	uint32_t initial_delay_ms, period_ms, timeout_ms;
};

/* ID's state changed to READY. Called from the loop only, never from inside fwd_probe_add or
 * fwd_probe_remove. It may add and remove probes (ID included), not destroy the prober. */
typedef void (*fwd_probe_cb)(void *arg, uint64_t id, bool ready);

struct fwd_prober;

/* A prober on BASE running at most MAX_IN_FLIGHT attempts at once (0: FWD_PROBE_MAX_IN_FLIGHT),
 * reporting to CB with ARG (NULL: no reports). SVC_ERANGE above FWD_PROBE_MAX_IN_FLIGHT_LIMIT;
 * SVC_ENOMEM. */
enum svc_status fwd_probe_create(struct event_base *base, size_t max_in_flight, fwd_probe_cb cb,
                                 void *arg, struct fwd_prober **out);
/* Stop every probe and close every socket, without callbacks. Not from inside the callback. */
void fwd_probe_destroy(struct fwd_prober *p);

/* Start probing SPEC (copied) as ID, not ready until proven. SVC_EEXIST: ID is in use.
 * SVC_EINVAL: no address, port 0, an unknown kind, or a header name, header value or host the
 * kubelet's HTTP client would refuse (it would then fail every attempt). SVC_ELIMIT: the
 * request would exceed FWD_PROBE_REQUEST_MAX. SVC_ENOMEM. */
enum svc_status fwd_probe_add(struct fwd_prober *p, uint64_t id, const struct fwd_probe_spec *spec);
/* Stop probing ID (closing its attempt, if one runs): no callback for it after this. Nothing
 * happens for an unknown ID. */
void fwd_probe_remove(struct fwd_prober *p, uint64_t id);
/* ID's state now: 1 ready, 0 not ready, -1 no such probe. */
int fwd_probe_state(const struct fwd_prober *p, uint64_t id);

/* Counters for /metrics. An attempt removed or destroyed while in flight counts as started
 * only. */
struct fwd_probe_stats {
	uint64_t attempts;  /* started */
	uint64_t successes; /* attempts that succeeded */
	uint64_t failures;  /* attempts that failed, timeouts included */
	uint64_t timeouts;  /* attempts that failed by running out of time */
	uint64_t skipped;   /* periods with no attempt: the last one still queued or in flight */
	size_t probes;      /* probes now */
	size_t ready;       /* of which ready */
	size_t in_flight;   /* attempts running now (each holds at most one socket) */
	size_t sockets;     /* sockets open now: in flight, or idle and kept for the next attempts
	                     * (never more than max_in_flight; none once nothing is probed) */
	size_t queued;      /* attempts due, waiting for a slot */
};
void fwd_probe_stats(const struct fwd_prober *p, struct fwd_probe_stats *out);

#endif
