/* options.c -- svcfwd's settings: defaults, a YAML config file, then flags (flags win). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "svcfwd.h"

static bool
parse_answer_ports(const struct opt *opt, void *opts, const char *val, bool first, char *err,
                   size_t errlen)
{
	struct fwd_opts *o = opts;
	const char *p = val;
	(void)opt;
	(void)first;

	o->n_udp_answer_ports = 0;
	if (!strcmp(val, "none"))
		return true;
	while (*p != '\0') {
		char *end;
		unsigned long port = strtoul(p, &end, 10);

		if (end == p || port == 0 || port > 65535 || (*end != ',' && *end != '\0')) {
			snprintf(err, errlen, "udp-answer-ports: \"%s\" is not a list of ports",
			         val);
			return false;
		}
		if (o->n_udp_answer_ports ==
		    sizeof(o->udp_answer_ports) / sizeof(o->udp_answer_ports[0])) {
			snprintf(err, errlen, "udp-answer-ports: at most %zu ports",
			         sizeof(o->udp_answer_ports) / sizeof(o->udp_answer_ports[0]));
			return false;
		}
		o->udp_answer_ports[o->n_udp_answer_ports++] = (uint16_t)port;
		p = *end == ',' ? end + 1 : end;
	}
	return true;
}

#define F(field) OPT_FIELD(struct fwd_opts, field)
static const struct opt options[] = {
        {"zones", 0, OPT_STR, F(zones), .min = 1, .metavar = "DIR",
         .help = "manifests (default $SVCFWD_ZONES, /etc/svcfwd/zones, ./zones)"},
        {"node", 0, OPT_STR, F(node), .min = 1, .metavar = "NAME",
         .help = "this node, as pods' spec.nodeName says (default: host name)"},
        {"service-cidr", 0, OPT_FUNC, F(ccfg), .parse = opt_parse_service_cidrs,
         .metavar = "CIDR[,CIDR]",
         .help = "ClusterIP range(s), made local on lo (default 10.96.0.0/12)"},
        {"lb-pool", 0, OPT_FUNC, F(ccfg), .parse = opt_parse_lb_pools, .metavar = "CIDR[,CIDR]",
         .help = "load-balancer IPs for services without one"},
        {"http", 0, OPT_FUNC, F(http), .parse = opt_parse_http, .metavar = "ADDR:PORT",
         .help = "/health, /ready and /metrics"},
        {"node-lease-seconds", 0, OPT_UINT, F(node_lease_s), .min = 2, .max = 3600,
         .metavar = "SECONDS",
         .help = "with --etcd: this node's lease, renewed at a third of it; when it\nlapses the "
                 "node's pods leave every answer (default 10)"},
        {"lb-interface", 0, OPT_STR, F(lb_interface), .min = 1, .metavar = "NAME",
         .help = "with --etcd: the interface a LoadBalancer address this node is\nelected to "
                 "hold goes on, and is announced from (default: the\ndefault route's)"},
        {"udp-timeout", 0, OPT_UINT, F(udp_timeout_ms), .min = 1, .max = 86400, .scale = 1000,
         .metavar = "SECONDS", .help = "idle UDP flows expire (default 30)"},
        {"tcp-idle-timeout", 0, OPT_UINT, F(tcp_idle_ms), .min = 1, .max = 7 * 86400, .scale = 1000,
         .metavar = "SECONDS", .help = "idle TCP connections close (default 3600)"},
        {"connect-timeout", 0, OPT_UINT, F(connect_timeout_ms), .min = 10, .max = 60000,
         .metavar = "MS",
         .help = "first connect attempt to an endpoint (default 250; doubles\non each retry, up "
                 "to 4 endpoints)"},
        {"max-conns", 0, OPT_UINT, F(max_conns), .min = 1, .max = 10000000, .metavar = "N",
         .help = "TCP connections at once (default: as many as the descriptor\nbudget allows, two "
                 "sockets each)"},
        {"max-flows", 0, OPT_UINT, F(max_flows), .min = 1, .max = 10000000, .metavar = "N",
         .help = "UDP flows at once (default 65536)"},
        {"udp-answer-ports", 0, OPT_FUNC, .parse = parse_answer_ports, .metavar = "PORT[,PORT]...",
         .help = "UDP service ports of request/response protocols: a flow ends as\nsoon as each "
                 "of its datagrams is answered, not when idle (default 53;\n\"none\": none)"},
        {"no-route", 0, OPT_BOOL, F(no_route),
         .help = "do not add the local route for the service CIDR"},
        {"no-sklookup", 0, OPT_BOOL, F(no_sklookup),
         .help = "one socket per service address and port instead of an sk_lookup\nprogram "
                 "(which needs CAP_BPF, CAP_NET_ADMIN, Linux 5.9+)"},
        {"no-fast-path", 0, OPT_BOOL, F(no_fast_path),
         .help = "relay every service in the process: no tc program rewriting\npackets to "
                 "local endpoints in the kernel (which needs\nCAP_BPF, CAP_NET_ADMIN, "
                 "CAP_PERFMON, Linux 5.10+)"},
        {"no-splice", 0, OPT_BOOL, F(splice), .flags = OPT_NEGATE,
         .help = "copy through user space even for bulk transfers"},
        DAEMON_OPT_STATUS_DIR(struct fwd_opts, status_dir),
        DAEMON_OPTS_ETCD(struct fwd_opts, etcd),
        DAEMON_OPTS_COMMON(struct fwd_opts),
};
#undef F

static const struct opt_table table = {
        .synopsis = "svcfwd [OPTION]...",
        .summary = "the per-node service forwarder of the svcdns cluster model",
        .man_section = 8,
        .config_keys = true,
        .about = "Forwards this node's traffic for service ClusterIPs, node ports, load-balancer "
                 "IPs and\nexternal IPs to the ready pods of the manifests in DIR.",
        .opts = options,
        .n = sizeof(options) / sizeof(options[0]),
};

enum svc_status
fwd_opts_parse(struct fwd_opts *o, int argc, char **argv)
{
	static char host[256];
	struct rlimit rl;

	memset(o, 0, sizeof(*o));
	cluster_config_init(&o->ccfg);
	o->udp_timeout_ms = 30000;
	o->tcp_idle_ms = 3600000;
	o->connect_timeout_ms = 250;
	o->max_flows = 65536;
	o->udp_answer_ports[0] = 53;
	o->n_udp_answer_ports = 1;
	o->splice = true;
	o->node_lease_s = NODEAGENT_LEASE_DEFAULT_S;
	if (daemon_args(&table, o, argc, argv) != SVC_OK)
		return SVC_EINVAL;
	if (o->zones == NULL)
		o->zones = daemon_default_zones("SVCFWD_ZONES", "/etc/svcfwd/zones");
	daemon_etcd_defaults(&o->etcd);
	if (o->status_dir == NULL)
		o->status_dir = daemon_default_status_dir();
	if (o->node == NULL) {
		if (gethostname(host, sizeof(host) - 1) != 0)
			strcpy(host, "localhost");
		o->node = host;
	}
	if (o->max_conns == 0) {
		/* The descriptor budget (fwd_fds.h) bounds them: two sockets each. */
		rlim_t lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;

		o->max_conns = (size_t)lim / 2;
	}
	return SVC_OK;
}
