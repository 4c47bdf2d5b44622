/* daemon.h -- what the daemons (svcdns, svcfwd) share: the log, socket addresses, the config
 * file and flags, the HTTP status endpoint and clocks. Library code never logs; daemons do. */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "diag.h"
#include "opt.h"
#include "svc_status.h"

struct event_base;
struct event;
struct evbuffer;

enum log_level {
	LL_ERROR,
	LL_WARN,
	LL_INFO,
	LL_DEBUG,
};

/* PROG prefixes every line ("svcfwd: info: ..."). */
void log_init(const char *prog);
void log_set_level(enum log_level l);
bool log_enabled(enum log_level l);
bool log_parse_level(const char *s, enum log_level *out);
void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Every entry of D, errors as errors, the rest as warnings. */
void log_diag(const struct diag *d);

struct daemon_addr {
	struct sockaddr_storage sa;
	socklen_t len;
};

/* "ADDR", "ADDR:PORT", "[V6]:PORT" or a bare IPv6 address; DEFAULT_PORT when none is given. */
bool addr_parse(const char *s, uint16_t default_port, struct daemon_addr *out);
/* "1.2.3.4:53" or "[::1]:53" into BUF. */
const char *addr_str(const struct daemon_addr *a, char *buf, size_t len);
uint16_t addr_port(const struct daemon_addr *a);
/* 0.0.0.0 or ::. */
bool addr_is_any(const struct daemon_addr *a);
/* The address of SA (IPv4, IPv6, an IPv4-mapped IPv6 one as IPv4; else NETADDR_NONE). */
struct netaddr;
void addr_to_netaddr(const struct sockaddr *sa, struct netaddr *out);

/* Settings from, in order: the YAML config file named by --config (a mapping whose keys are the
 * long option names of table T, lists for repeatable ones), then the flags, so flags win.
 * Problems are logged; SVC_EINVAL then. */
enum svc_status daemon_args(const struct opt_table *t, void *opts, int argc, char **argv);
/* --log-level, for every daemon's table. */
bool daemon_opt_log_level(const struct opt *o, void *opts, const char *val, bool first, char *err,
                          size_t errlen);
/* Option readers every program's table shares (OPT_FUNC entries naming their field):
 * ADDR:PORT for a status endpoint (a const char *), service CIDRs and load-balancer pools (a
 * struct cluster_config). */
bool opt_parse_http(const struct opt *o, void *opts, const char *val, bool first, char *err,
                    size_t errlen);
bool opt_parse_service_cidrs(const struct opt *o, void *opts, const char *val, bool first,
                             char *err, size_t errlen);
bool opt_parse_lb_pools(const struct opt *o, void *opts, const char *val, bool first, char *err,
                        size_t errlen);
#define DAEMON_OPTS_COMMON(type)                                                                   \
	{"config",                                                                                 \
	 0,                                                                                        \
	 OPT_STR,                                                                                  \
	 OPT_FIELD(type, config),                                                                  \
	 .metavar = "FILE",                                                                        \
	 .help = "options from a YAML file whose keys are these long options; flags win",          \
	 .flags = OPT_FLAG_ONLY},                                                                  \
	        {"log-level",        0,                                                            \
	         OPT_FUNC,           .parse = daemon_opt_log_level,                                \
	         .metavar = "LEVEL", .help = "error, warning, info (default) or debug"},           \
	        {"check",                                                                          \
	         0,                                                                                \
	         OPT_BOOL,                                                                         \
	         OPT_FIELD(type, check),                                                           \
	         .help = "load and validate the manifests, report, and exit (1 if invalid)",       \
	         .flags = OPT_FLAG_ONLY},                                                          \
	        {"help", 'h', OPT_HELP, .help = "this text", .flags = OPT_FLAG_ONLY},              \
	        {"man", 0, OPT_MAN, .flags = OPT_FLAG_ONLY | OPT_HIDDEN},                          \
	{                                                                                          \
		"version", 0, OPT_VERSION, .help = "print the version and exit",                   \
		                           .flags = OPT_FLAG_ONLY                                  \
	}
/* The node probers' PodStatus files without etcd (podprobe.h): svcfwd writes <DIR>/<node>.yaml,
 * every program reads them all. */
#define DAEMON_STATUS_DIR_DEFAULT "/run/svcdns/status"
#define DAEMON_OPT_STATUS_DIR(type, field)                                                         \
	{                                                                                          \
		"status-dir", 0, OPT_STR, OPT_FIELD(type, field),                                  \
		        .min = 1, .metavar = "DIR",                                                \
		        .help = "without --etcd: the probers' PodStatus files, one per node "      \
		                "(default\n"                                                       \
		                "$SVCDNS_STATUS_DIR, " DAEMON_STATUS_DIR_DEFAULT ")"               \
	}
/* $SVCDNS_STATUS_DIR, else DAEMON_STATUS_DIR_DEFAULT. */
const char *daemon_default_status_dir(void);
/* etcd as the cluster store (etcdwatch.h): --etcd URL[,URL...] (else $SVCDNS_ETCD; none: the
 * directory), --etcd-prefix, and the TLS files. */
struct daemon_etcd {
	const char *urls;
	const char *prefix;
	const char *cacert, *cert, *key;
};
#define DAEMON_OPTS_ETCD(type, field)                                                              \
	{"etcd",                                                                                   \
	 0,                                                                                        \
	 OPT_STR,                                                                                  \
	 OPT_FIELD(type, field.urls),                                                              \
	 .min = 1,                                                                                 \
	 .metavar = "URL[,URL...]",                                                                \
	 .help = "read the cluster from etcd (default $SVCDNS_ETCD; none: the directory)"},        \
	        {"etcd-prefix",                                                                    \
	         0,                                                                                \
	         OPT_STR,                                                                          \
	         OPT_FIELD(type, field.prefix),                                                    \
	         .min = 1,                                                                         \
	         .metavar = "PREFIX",                                                              \
	         .help = "the cluster's keys in etcd (default /svcdns)"},                          \
	        {"etcd-cacert",                                                                    \
	         0,                                                                                \
	         OPT_STR,                                                                          \
	         OPT_FIELD(type, field.cacert),                                                    \
	         .min = 1,                                                                         \
	         .metavar = "FILE",                                                                \
	         .help = "CA certificate that verifies the etcd members"},                         \
	        {"etcd-cert",                                                                      \
	         0,                                                                                \
	         OPT_STR,                                                                          \
	         OPT_FIELD(type, field.cert),                                                      \
	         .min = 1,                                                                         \
	         .metavar = "FILE",                                                                \
	         .help = "client certificate for etcd"},                                           \
	{                                                                                          \
		"etcd-key", 0, OPT_STR, OPT_FIELD(type, field.key),                                \
		        .min = 1, .metavar = "FILE", .help = "the client certificate's key"        \
	}
/* $SVCDNS_ETCD where no --etcd was given; the default prefix. */
void daemon_etcd_defaults(struct daemon_etcd *e);

/* What a daemon reading etcd says about it (/metrics), written by the builder thread. */
enum daemon_store_state {
	DAEMON_STORE_CONNECTING, /* no state yet */
	DAEMON_STORE_LISTING,
	DAEMON_STORE_WATCHING, /* up to date, following changes */
	DAEMON_STORE_DOWN,     /* no member answers: serving the last state */
	DAEMON_STORE_CONFIG,   /* its settings disagree with the daemon's: serving the last state */
	DAEMON_STORE_STATES,
};
struct daemon_store {
	_Atomic int state;
	_Atomic uint64_t last_update_ms; /* now_ms() of the last list or change received; 0: none */
	_Atomic int64_t revision;        /* the last revision seen */
	_Atomic uint64_t relists, reconnects;
	_Atomic uint64_t invalid; /* keys whose last value is invalid */
};
/* PREFIX_store_state{state=...}, _store_up, _store_last_update_age_seconds, _store_revision,
 * _store_relists_total, _store_reconnects_total, _store_invalid_objects. */
void prom_store(struct evbuffer *b, const char *prefix, struct daemon_store *s);

/* The manifest directory when no --zones is given: $ENV_VAR, then ETC_DIR if readable, then
 * ./zones. */
const char *daemon_default_zones(const char *env_var, const char *etc_dir);

/* SIGHUP asks *BUILDER for a rebuild (it may be set after this call); SIGTERM and SIGINT end
 * BASE's loop. */
struct daemon_signals;
struct builder;
enum svc_status daemon_signals_start(struct event_base *base, struct builder *const *builder,
                                     const char *zones, struct daemon_signals **out);
void daemon_signals_stop(struct daemon_signals *s);

/* The status endpoint: /health, /ready (READY decides), /metrics (METRICS writes Prometheus
 * text), on httpd.h's server, which bounds what a client can send (and takes ADDR "[::]:PORT"
 * for IPv4 too, where the system allows). */
struct daemon_http;
typedef bool (*daemon_ready_fn)(void *arg);
typedef void (*daemon_metrics_fn)(void *arg, struct evbuffer *out);
enum svc_status daemon_http_start(struct event_base *base, const char *addr, daemon_ready_fn ready,
                                  daemon_metrics_fn metrics, void *arg, struct daemon_http **out);
void daemon_http_stop(struct daemon_http *h);

/* --check: load ZONES with CFG, let VIEW build the daemon's own view of it (its zone, its
 * plan; problems it finds go to D) and describe it, print every problem and "ZONES: ok:
 * <summary>". With ETCD naming members, what is checked is a list of etcd as the daemon makes
 * it (DOMAIN: the cluster domain its settings must have; NULL: any), given up after 30 s. The
 * exit status. */
struct cluster;
struct cluster_config;
typedef enum svc_status (*daemon_apply_fn)(void *arg, const struct cluster *c, struct diag *d,
                                           char *summary, size_t len);
struct daemon_etcd;
int daemon_check(const char *zones, const struct daemon_etcd *etcd,
                 const struct cluster_config *cfg, const char *domain, daemon_apply_fn view,
                 void *arg, FILE *report);

/* Reloads, the same in both daemons: the watcher's callback (on the builder thread) logs the
 * problems, applies a good snapshot with APPLY (whose summary is logged with the time taken) or
 * keeps the last good one, and counts both outcomes for /metrics. APPLY may fail (its summary
 * says why). With DEFERRED, APPLY only prepares and hands the result to a serving loop, which
 * reports the outcome with daemon_reload_applied. Every field may be read from any thread. */
struct daemon_reload {
	const char *zones; /* the source, for messages */
	char source[256];  /* what ZONES points to for etcd */
	daemon_apply_fn apply;
	void *arg;
	bool deferred;
	_Atomic uint64_t ok, failed;
	_Atomic uint64_t last_ms;        /* how long the last good reload took */
	_Atomic bool ready;              /* a model has been applied */
	_Atomic uint64_t generation;     /* of the model applied last */
	_Atomic uint64_t files_in_error; /* manifest files whose last version is invalid */
};
void daemon_reload_init(struct daemon_reload *r, const char *zones, daemon_apply_fn apply,
                        void *arg);
void daemon_reload_cb(struct cluster *fresh, const struct diag *d, void *arg); /* a watch_cb */
/* The outcome of model GENERATION, applied (or not, ST) in MS milliseconds: logged (SUMMARY),
 * counted, and the daemon is ready after the first good one. */
void daemon_reload_applied(struct daemon_reload *r, uint64_t generation, enum svc_status st,
                           const char *summary, uint64_t ms);
bool daemon_reload_ready(struct daemon_reload *r);
/* The builder (builder.h) of the daemon's source: ETCD when it names members, else the
 * directory ZONES. Snapshots go to daemon_reload_cb with R; STATUS follows etcd. DOMAIN: the
 * cluster domain etcd's settings must have (NULL: any). Failures are logged. */
struct daemon_store;
enum svc_status daemon_builder_create(const struct daemon_etcd *etcd, const char *zones,
                                      const char *status_dir, const struct cluster_config *cfg,
                                      const char *domain, unsigned debounce_ms,
                                      struct daemon_reload *r, struct daemon_store *status,
                                      struct builder **out);

/* Prometheus text: a family's HELP and TYPE lines; one sample (LABELS "{k=\"v\"}" or NULL);
 * and a table of unlabelled counters and gauges read from uint64_t fields of VALUES. */
void prom_family(struct evbuffer *b, const char *name, const char *type, const char *help);
void prom_u64(struct evbuffer *b, const char *name, const char *labels, uint64_t v);
struct prom_scalar {
	const char *name;
	bool gauge;
	const char *help;
	size_t off; /* of a uint64_t */
};
void prom_scalars(struct evbuffer *b, const struct prom_scalar *table, size_t n,
                  const void *values);
/* PREFIX_reloads_total{result="ok"|"error"} (a reload that found errors still applies the
 * rest), PREFIX_manifest_files_in_error and PREFIX_reload_duration_seconds: R's reloads. */
void prom_reloads(struct evbuffer *b, const char *prefix, struct daemon_reload *r);
/* The process metrics Prometheus's client libraries export: process_open_fds, _max_fds,
 * _resident_memory_bytes, _cpu_seconds_total, _start_time_seconds. */
void prom_process(struct evbuffer *b);

/* Monotonic clocks. */
uint64_t now_ns(void);
uint64_t now_ms(void);
uint64_t now_s(void);
/* The wall clock as Kubernetes writes timestamps: "2026-12-01T02:03:04Z" (21 bytes with the
 * NUL; SIZE less truncates). */
void wall_rfc3339(char *buf, size_t size);
/* (Re)arm the timer EV to fire MS milliseconds from now. */
void timer_arm_ms(struct event *ev, unsigned ms);

#endif
