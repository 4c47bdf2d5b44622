/* options.h -- svcdns's settings: defaults, then a YAML config file, then flags (flags win), all
 * from one option table. */
#ifndef DNSD_OPTIONS_H
#define DNSD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "daemon.h"

#define DNSD_MAX_LISTEN   8
#define DNSD_MAX_UPSTREAM 8
#define DNSD_MAX_ACL      64

struct dnsd_opts {
	const char *config;
	const char *zones;
	const char *status_dir;
	struct daemon_etcd etcd;
	const char *domain;
	const char *http;
	struct daemon_addr listen[DNSD_MAX_LISTEN];
	size_t n_listen;
	bool listen_default; /* no --listen: [::]:53 may fail on hosts without IPv6 */
	struct daemon_addr upstream[DNSD_MAX_UPSTREAM];
	size_t n_upstream;
	struct cluster_config ccfg;
	uint32_t ttl;
	uint32_t threads;
	uint64_t cache_size;
	uint32_t cache_max_ttl, cache_max_neg_ttl;
	/* Upstream: a question unanswered after the timeout gets SERVFAIL; at most max_inflight
	 * questions are out at once (more get REFUSED), each with its own socket, so its own
	 * random source port, while no more than `sockets` are out; at most max_waiters clients
	 * wait on one question, max_waiting on all. */
	uint32_t upstream_timeout_ms;
	uint64_t upstream_max_inflight;
	uint64_t upstream_sockets;
	uint64_t upstream_max_waiters;
	uint64_t upstream_max_waiting;
	uint64_t queue_max; /* questions the UDP workers hand to the main loop, waiting */
	/* TCP: idle connections close after tcp_idle_ms; a message must arrive whole within
	 * tcp_msg_ms of its first byte; at most tcp_max_conns connections (when full, the oldest
	 * idle or slowest one makes room). */
	uint32_t tcp_idle_ms;
	uint32_t tcp_msg_ms;
	uint64_t tcp_max_conns;
	/* Recursion is offered to these clients (and to the pods of the model). */
	struct netaddr_prefix acl[DNSD_MAX_ACL];
	size_t n_acl;
	bool acl_pods; /* and to the model's pods */
	bool acl_set;  /* --allow-recursion given: its list replaces the default */
	/* Response rate limiting for UDP, per source prefix and answer; 0 is off. */
	uint32_t rrl_rate;
	uint32_t rrl_slip;
	bool check;
	bool dump_zone;
	uint32_t serve_stale_s;
	bool autopath;           /* the server-side search path for the model's pods */
	const char *serial_file; /* where the last SOA serial is kept (directory mode) */
	/* Zone transfers: who may, and the secondaries told of each change. */
	struct netaddr_prefix xfr_acl[DNSD_MAX_ACL];
	size_t n_xfr_acl;
	struct daemon_addr notify[DNSD_MAX_LISTEN];
	size_t n_notify;
};

enum svc_status dnsd_opts_parse(struct dnsd_opts *o, int argc, char **argv);

#endif
