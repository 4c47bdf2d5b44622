/* daemon.h -- what the daemons (svcdns, svcfwd) share: the log, socket addresses, the config
 * file and flags, the HTTP status endpoint and clocks. Library code never logs; daemons do. */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "diag.h"
#include "opt.h"
#include "svc_status.h"

struct event_base;
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

/* Settings from, in order: the YAML config file named by --config (a mapping whose keys are the
 * long option names of table T, lists for repeatable ones), then the flags, so flags win.
 * Problems are logged; SVC_EINVAL then. */
enum svc_status daemon_args(const struct opt_table *t, void *opts, int argc, char **argv);
/* --log-level, for every daemon's table. */
bool daemon_opt_log_level(void *opts, const char *val, bool first, char *err, size_t errlen);
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
	{                                                                                          \
		"help", 'h', OPT_HELP, .help = "this text", .flags = OPT_FLAG_ONLY                 \
	}
/* The manifest directory when no --zones is given: $ENV_VAR, then ETC_DIR if readable, then
 * ./zones. */
const char *daemon_default_zones(const char *env_var, const char *etc_dir);

/* SIGHUP reloads *WATCH (it may be set after this call); SIGTERM and SIGINT end BASE's loop. */
struct daemon_signals;
struct watch;
enum svc_status daemon_signals_start(struct event_base *base, struct watch *const *watch,
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

/* Monotonic clocks. */
uint64_t now_ns(void);
uint64_t now_ms(void);
uint64_t now_s(void);

#endif
