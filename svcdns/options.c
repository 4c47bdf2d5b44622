/* options.c -- svcdns's settings: defaults, a YAML config file, then flags (flags win). */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnsw.h"
#include "options.h"

#define RESOLV_CONF "/etc/resolv.conf"

static bool
addr_same_host(const struct daemon_addr *a, const struct sockaddr *b)
{
	if (a->sa.ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr,
		              &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr ==
	       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

/* Is upstream U one of our own listening sockets? Forwarding there would loop. */
static bool
is_self(const struct dnsd_opts *o, const struct daemon_addr *u, struct ifaddrs *ifs)
{
	for (size_t i = 0; i < o->n_listen; i++) {
		const struct daemon_addr *l = &o->listen[i];

		if (addr_port(l) != addr_port(u))
			continue;
		if (addr_same_host(l, (const struct sockaddr *)&u->sa))
			return true;
		if (!addr_is_any(l))
			continue;
		if (u->sa.ss_family == AF_INET &&
		    (ntohl(((const struct sockaddr_in *)&u->sa)->sin_addr.s_addr) >> 24) == 127)
			return true;
		for (struct ifaddrs *f = ifs; f != NULL; f = f->ifa_next) {
			if (f->ifa_addr != NULL && addr_same_host(u, f->ifa_addr))
				return true;
		}
	}
	return false;
}

/* Upstreams from resolv.conf's nameserver lines, leaving out svcdns itself. */
static void
default_upstreams(struct dnsd_opts *o)
{
	FILE *f = fopen(RESOLV_CONF, "r");
	struct ifaddrs *ifs = NULL;
	char line[512];

	if (f == NULL) {
		log_msg(LL_WARN, "%s: %s; no upstream: names outside the cluster fail", RESOLV_CONF,
		        strerror(errno));
		return;
	}
	if (getifaddrs(&ifs) != 0)
		ifs = NULL;
	while (fgets(line, sizeof(line), f) != NULL && o->n_upstream < DNSD_MAX_UPSTREAM) {
		char word[64], addr[INET6_ADDRSTRLEN + 1];
		struct daemon_addr u;
		char *pct;

		if (sscanf(line, "%63s %46s", word, addr) != 2 || strcmp(word, "nameserver") != 0)
			continue;
		pct = strchr(addr, '%'); /* a zone index: not for us */
		if (pct != NULL)
			*pct = '\0';
		if (!addr_parse(addr, 53, &u))
			continue;
		/* A bare IPv6 address with one colon is impossible, so "::1" parses as IPv6. */
		if (is_self(o, &u, ifs)) {
			log_msg(LL_INFO, "%s: skipping nameserver %s: that is svcdns itself",
			        RESOLV_CONF, addr);
			continue;
		}
		o->upstream[o->n_upstream++] = u;
	}
	fclose(f);
	if (ifs != NULL)
		freeifaddrs(ifs);
	if (o->n_upstream == 0)
		log_msg(LL_WARN, "%s: no usable nameserver; names outside the cluster fail",
		        RESOLV_CONF);
}

static bool
parse_addrs(struct daemon_addr *list, size_t *n, const char *val, bool first, char *err,
            size_t errlen)
{
	if (first)
		*n = 0;
	if (*n == DNSD_MAX_LISTEN) {
		snprintf(err, errlen, "at most %d addresses", DNSD_MAX_LISTEN);
		return false;
	}
	if (!addr_parse(val, 53, &list[*n]))
		return false;
	(*n)++;
	return true;
}

static bool
parse_listen(const struct opt *opt, void *opts, const char *val, bool first, char *err,
             size_t errlen)
{
	struct dnsd_opts *o = opts;
	(void)opt;

	o->listen_default = false;
	return parse_addrs(o->listen, &o->n_listen, val, first, err, errlen);
}

static bool
parse_upstream(const struct opt *opt, void *opts, const char *val, bool first, char *err,
               size_t errlen)
{
	struct dnsd_opts *o = opts;
	(void)opt;

	return parse_addrs(o->upstream, &o->n_upstream, val, first, err, errlen);
}

static bool
parse_domain(const struct opt *opt, void *opts, const char *val, bool first, char *err,
             size_t errlen)
{
	struct dnsd_opts *o = opts;
	uint8_t wire[DNSW_NAME_MAX];
	size_t len;
	(void)opt;
	(void)first;
	(void)err;
	(void)errlen;

	if (dnsw_name_from_str(val, wire, &len) != SVC_OK || len < 2)
		return false;
	o->domain = val;
	return true;
}

/* The clients recursion is offered to by default: this host, private and link-local ranges
 * (a node's address, from which svcfwd relays pods' queries, is one in a private cluster); the
 * service CIDRs are added at start and the model's pods at query time. */
static const char *const default_acl[] = {
        "127.0.0.0/8",   "::1/128",        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
        "100.64.0.0/10", "169.254.0.0/16", "fc00::/7",   "fe80::/10",
};

/* A comma-separated list of CIDRs for option NAME into LIST (*N of at most DNSD_MAX_ACL);
 * "none" adds nothing; "pods" sets *PODS, where the option takes it (PODS not NULL). */
static bool
parse_cidrs(const char *name, const char *val, struct netaddr_prefix *list, size_t *n, bool *pods,
            char *err, size_t errlen)
{
	char buf[128];
	const char *p = val;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");

		if (len == 0 || len >= sizeof(buf))
			return false;
		memcpy(buf, p, len);
		buf[len] = '\0';
		p += len;
		if (*p == ',')
			p++;
		if (strcmp(buf, "none") == 0)
			continue;
		if (pods != NULL && strcmp(buf, "pods") == 0) {
			*pods = true;
			continue;
		}
		if (*n == DNSD_MAX_ACL) {
			snprintf(err, errlen, "%s: at most %d ranges", name, DNSD_MAX_ACL);
			return false;
		}
		if (netaddr_prefix_parse(&list[*n], buf) != SVC_OK) {
			snprintf(err, errlen, "%s: \"%s\" is not a CIDR", name, buf);
			return false;
		}
		(*n)++;
	}
	return true;
}

static bool
parse_acl(const struct opt *opt, void *opts, const char *val, bool first, char *err, size_t errlen)
{
	struct dnsd_opts *o = opts;
	(void)opt;

	if (first) {
		o->n_acl = 0;
		o->acl_pods = false;
	}
	o->acl_set = true;
	return parse_cidrs("allow-recursion", val, o->acl, &o->n_acl, &o->acl_pods, err, errlen);
}

static bool
parse_transfer_acl(const struct opt *opt, void *opts, const char *val, bool first, char *err,
                   size_t errlen)
{
	struct dnsd_opts *o = opts;
	(void)opt;

	if (first)
		o->n_xfr_acl = 0;
	return parse_cidrs("transfer-allow", val, o->xfr_acl, &o->n_xfr_acl, NULL, err, errlen);
}

static bool
parse_notify(const struct opt *opt, void *opts, const char *val, bool first, char *err,
             size_t errlen)
{
	struct dnsd_opts *o = opts;
	(void)opt;

	return parse_addrs(o->notify, &o->n_notify, val, first, err, errlen);
}

#define F(field) OPT_FIELD(struct dnsd_opts, field)
static const struct opt options[] = {
        {"zones", 0, OPT_STR, F(zones), .min = 1, .metavar = "DIR",
         .help = "manifests (default $SVCDNS_ZONES, /etc/svcdns/zones, ./zones)"},
        {"listen", 0, OPT_FUNC, .parse = parse_listen, .metavar = "ADDR[:PORT]",
         .help = "UDP and TCP, repeatable (default 0.0.0.0:53 and [::]:53)", .flags = OPT_LIST},
        {"domain", 0, OPT_FUNC, .parse = parse_domain, .metavar = "DOMAIN",
         .help = "cluster domain (default cluster.local)"},
        {"upstream", 0, OPT_FUNC, .parse = parse_upstream, .metavar = "ADDR[:PORT]",
         .help = "forward other names here, repeatable\n(default: the nameservers of "
                 "/etc/resolv.conf but svcdns itself)",
         .flags = OPT_LIST},
        {"service-cidr", 0, OPT_FUNC, F(ccfg), .parse = opt_parse_service_cidrs,
         .metavar = "CIDR[,CIDR]",
         .help = "ClusterIP range(s), one per family (default 10.96.0.0/12)"},
        {"ttl", 0, OPT_UINT, F(ttl), .max = 3600, .metavar = "SECONDS",
         .help = "TTL of cluster records (default 5)"},
        {"threads", 0, OPT_UINT, F(threads), .min = 1, .max = 256, .metavar = "N",
         .help = "UDP worker threads (default: one per CPU)"},
        {"http", 0, OPT_FUNC, F(http), .parse = opt_parse_http, .metavar = "ADDR:PORT",
         .help = "/health, /ready and /metrics"},
        {"cache-size", 0, OPT_UINT, F(cache_size), .max = 10000000, .metavar = "N",
         .help = "forwarded answers kept (default 10000, 0 disables)"},
        {"allow-recursion", 0, OPT_FUNC, .parse = parse_acl, .metavar = "CIDR[,CIDR]...",
         .help = "clients whose other names are forwarded, repeatable; \"pods\" stands for\n"
                 "the model's pods, \"none\" for nobody (default: loopback, 10/8, 172.16/12,\n"
                 "192.168/16, 100.64/10, 169.254/16, fc00::/7, fe80::/10, the service CIDRs\n"
                 "and pods); others get REFUSED for names outside the cluster",
         .flags = OPT_LIST},
        {"rrl", 0, OPT_UINT, F(rrl_rate), .max = 1000000, .metavar = "RATE",
         .help = "response rate limit over UDP: answers per second per source /24 (IPv6 /56)\n"
                 "and answer; clients allowed recursion are exempt (default 0: off)"},
        {"rrl-slip", 0, OPT_UINT, F(rrl_slip), .max = 100, .metavar = "N",
         .help = "of the answers over the rate, every Nth goes out truncated (TC) so real\n"
                 "clients retry over TCP; 0 drops them all (default 2)"},
        {"tcp-max-conns", 0, OPT_UINT, F(tcp_max_conns), .min = 1, .max = 1000000, .metavar = "N",
         .help = "TCP connections at once (default 1024); when full, the oldest idle or\n"
                 "slowest makes room for a new one"},
        {"tcp-idle-timeout", 0, OPT_UINT, F(tcp_idle_ms), .min = 1, .max = 3600, .scale = 1000,
         .metavar = "SECONDS", .help = "an idle TCP connection closes (default 10)"},
        {"tcp-message-timeout", 0, OPT_UINT, F(tcp_msg_ms), .min = 100, .max = 60000,
         .metavar = "MS",
         .help = "a TCP message must arrive whole within this of its first byte (default 2000)"},
        {"upstream-timeout", 0, OPT_UINT, F(upstream_timeout_ms), .min = 100, .max = 60000,
         .metavar = "MS", .help = "an unanswered forwarded question gets SERVFAIL (default 3000)"},
        {"upstream-max-inflight", 0, OPT_UINT, F(upstream_max_inflight), .min = 1, .max = 1000000,
         .metavar = "N",
         .help = "distinct questions upstream at once; more get REFUSED (default 2000)"},
        {"upstream-sockets", 0, OPT_UINT, F(upstream_sockets), .min = 1, .max = 4096,
         .metavar = "N",
         .help = "questions that each get a socket, so a random source port, of their own;\n"
                 "beyond, questions share sockets (default 256)"},
        {"serve-stale", 0, OPT_UINT, F(serve_stale_s), .max = 604800, .metavar = "SECONDS",
         .help = "answer from expired cache entries (TTL 30) for this long past expiry when\n"
                 "the upstreams fail or take over 1.8 s (RFC 8767); 0: off (default 86400)"},
        {"autopath", 0, OPT_BOOL, F(autopath),
         .help = "a pod's query for a name under the first domain of its search path\n"
                 "(<name>.<ns>.svc.<zone>) that does not exist is answered through the rest of\n"
                 "that path: a CNAME to <name>.svc.<zone>, <name>.<zone> or <name> (upstream)\n"
                 "and its records; the pod is known by its address (default on)"},
        {"no-autopath", 0, OPT_BOOL, F(autopath), .flags = OPT_NEGATE | OPT_FLAG_ONLY,
         .help = "turn --autopath off: every query gets the plain answer"},
        {"serial-file", 0, OPT_STR, F(serial_file), .min = 1, .metavar = "FILE",
         .help = "without --etcd: keep the zone's last SOA serial here, so that it never goes\n"
                 "back across restarts (the serial is the larger of the last + 1 and the time;\n"
                 "with --etcd it is the store's revision)"},
        {"transfer-allow", 0, OPT_FUNC, .parse = parse_transfer_acl, .metavar = "CIDR[,CIDR]...",
         .help = "clients that may transfer the cluster zone (AXFR, IXFR) over TCP\n"
                 "(default none: REFUSED)",
         .flags = OPT_LIST},
        {"notify", 0, OPT_FUNC, .parse = parse_notify, .metavar = "ADDR[:PORT]",
         .help = "send NOTIFY to this secondary after every change of the zone, repeatable",
         .flags = OPT_LIST},
        {"dump-zone", 0, OPT_BOOL, F(dump_zone),
         .help = "load the manifests, write the cluster zone in master file format to stdout\n"
                 "(no pod or reverse names: those are made when asked), and exit",
         .flags = OPT_FLAG_ONLY},
        DAEMON_OPT_STATUS_DIR(struct dnsd_opts, status_dir),
        DAEMON_OPTS_ETCD(struct dnsd_opts, etcd),
        DAEMON_OPTS_COMMON(struct dnsd_opts),
};
#undef F

static const struct opt_table table = {
        .synopsis = "svcdns [OPTION]...",
        .summary = "the cluster DNS server of the svcdns cluster model",
        .man_section = 8,
        .config_keys = true,
        .about = "Serves the Kubernetes DNS schema for the manifests in DIR and forwards other "
                 "names.",
        .opts = options,
        .n = sizeof(options) / sizeof(options[0]),
};

enum svc_status
dnsd_opts_parse(struct dnsd_opts *o, int argc, char **argv)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(o, 0, sizeof(*o));
	cluster_config_init(&o->ccfg);
	o->domain = "cluster.local";
	o->ttl = 5;
	o->threads = cpus > 0 ? (unsigned)cpus : 1;
	o->cache_size = 10000;
	o->cache_max_ttl = 3600;
	o->cache_max_neg_ttl = 1800;
	o->upstream_timeout_ms = 3000;
	o->serve_stale_s = 86400;
	o->autopath = true;
	o->upstream_max_inflight = 2000;
	o->upstream_sockets = 256;
	o->upstream_max_waiters = 100;
	o->upstream_max_waiting = 20000;
	o->queue_max = 4096;
	o->tcp_idle_ms = 10000;
	o->tcp_msg_ms = 2000;
	o->tcp_max_conns = 1024;
	o->rrl_slip = 2;
	o->acl_pods = true;
	addr_parse("0.0.0.0:53", 53, &o->listen[0]);
	addr_parse("[::]:53", 53, &o->listen[1]);
	o->n_listen = 2;
	o->listen_default = true;
	if (daemon_args(&table, o, argc, argv) != SVC_OK)
		return SVC_EINVAL;
	if (o->zones == NULL)
		o->zones = daemon_default_zones("SVCDNS_ZONES", "/etc/svcdns/zones");
	daemon_etcd_defaults(&o->etcd);
	if (o->status_dir == NULL)
		o->status_dir = daemon_default_status_dir();
	if (o->n_upstream == 0 && !o->check && !o->dump_zone)
		default_upstreams(o);
	if (!o->acl_set) {
		for (size_t i = 0; i < sizeof(default_acl) / sizeof(default_acl[0]); i++)
			netaddr_prefix_parse(&o->acl[o->n_acl++], default_acl[i]);
		for (size_t i = 0; i < o->ccfg.n_service_cidrs; i++)
			o->acl[o->n_acl++] = o->ccfg.service_cidrs[i];
	}
	return SVC_OK;
}
