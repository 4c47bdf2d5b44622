/* options.c -- svcfwd's settings: defaults, a YAML config file, then flags (flags win). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "svcfwd.h"

static const char usage[] =
        "usage: svcfwd [--config FILE] [--zones DIR] [--node NAME] [--service-cidr CIDR[,CIDR]]\n"
        "              [--lb-pool CIDR[,CIDR]] [--http ADDR:PORT] [--log-level LEVEL]\n"
        "              [--udp-timeout SECONDS] [--tcp-idle-timeout SECONDS]\n"
        "              [--connect-timeout MS] [--max-conns N] [--max-flows N] [--no-route]\n"
        "              [--no-splice] [--check]\n"
        "Forwards this node's traffic for service ClusterIPs, node ports, load-balancer IPs and\n"
        "external IPs to the ready pods of the manifests in DIR.\n"
        "  --zones DIR              manifests (default $SVCFWD_ZONES, /etc/svcfwd/zones, ./zones)\n"
        "  --node NAME              this node, as pods' spec.nodeName says (default: host name)\n"
        "  --service-cidr CIDR      ClusterIP range, made local on lo (default 10.96.0.0/12)\n"
        "  --lb-pool CIDR           load-balancer IPs for services without one\n"
        "  --http ADDR:PORT         /health, /ready and /metrics\n"
        "  --udp-timeout SECONDS    idle UDP flows expire (default 30)\n"
        "  --tcp-idle-timeout SECONDS idle TCP connections close (default 3600)\n"
        "  --connect-timeout MS     first connect attempt to an endpoint (default 250; doubles\n"
        "                           on each retry, up to 4 endpoints)\n"
        "  --max-conns N            TCP connections at once (default: from the file limit)\n"
        "  --max-flows N            UDP flows at once (default 65536)\n"
        "  --no-route               do not add the local route for the service CIDR\n"
        "  --no-splice              copy through user space even for bulk transfers\n"
        "  --log-level LEVEL        error, warning, info (default) or debug\n"
        "  --check                  load and validate the manifests, show the plan, exit\n";

static bool
apply(void *arg, const char *key, const char *val, char *err, size_t errlen)
{
	struct fwd_opts *o = arg;
	unsigned long n;

	if (key == NULL)
		return true;
	if (strcmp(key, "zones") == 0) {
		o->zones = val;
	} else if (strcmp(key, "node") == 0) {
		if (val[0] == '\0')
			goto bad;
		o->node = val;
	} else if (strcmp(key, "http") == 0) {
		struct daemon_addr a;

		if (!addr_parse(val, 0, &a) || addr_port(&a) == 0)
			goto bad;
		o->http = val;
	} else if (strcmp(key, "service-cidr") == 0) {
		if (cluster_config_set_cidrs(&o->ccfg, val) != SVC_OK)
			goto bad;
	} else if (strcmp(key, "lb-pool") == 0) {
		if (cluster_config_set_lb_pools(&o->ccfg, val) != SVC_OK)
			goto bad;
	} else if (strcmp(key, "udp-timeout") == 0) {
		if (!daemon_parse_uint(val, 86400, &n) || n == 0)
			goto bad;
		o->udp_timeout_ms = n * 1000;
	} else if (strcmp(key, "tcp-idle-timeout") == 0) {
		if (!daemon_parse_uint(val, 7 * 86400, &n) || n == 0)
			goto bad;
		o->tcp_idle_ms = n * 1000;
	} else if (strcmp(key, "connect-timeout") == 0) {
		if (!daemon_parse_uint(val, 60000, &n) || n < 10)
			goto bad;
		o->connect_timeout_ms = n;
	} else if (strcmp(key, "max-conns") == 0) {
		if (!daemon_parse_uint(val, 10000000, &n) || n == 0)
			goto bad;
		o->max_conns = n;
	} else if (strcmp(key, "max-flows") == 0) {
		if (!daemon_parse_uint(val, 10000000, &n) || n == 0)
			goto bad;
		o->max_flows = n;
	} else if (strcmp(key, "no-route") == 0) {
		if (strcmp(val, "true") != 0 && strcmp(val, "false") != 0)
			goto bad;
		o->no_route = strcmp(val, "true") == 0;
	} else if (strcmp(key, "no-splice") == 0) {
		if (strcmp(val, "true") != 0 && strcmp(val, "false") != 0)
			goto bad;
		o->splice = strcmp(val, "true") != 0;
	} else {
		snprintf(err, errlen, "%s: unknown option", key);
		return false;
	}
	return true;
bad:
	snprintf(err, errlen, "%s: invalid value \"%s\"", key, val);
	return false;
}

enum svc_status
fwd_opts_parse(struct fwd_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"zones", required_argument, NULL, 'z'},
	        {"node", required_argument, NULL, 'n'},
	        {"service-cidr", required_argument, NULL, 's'},
	        {"lb-pool", required_argument, NULL, 'p'},
	        {"http", required_argument, NULL, 'H'},
	        {"udp-timeout", required_argument, NULL, 'u'},
	        {"tcp-idle-timeout", required_argument, NULL, 'i'},
	        {"connect-timeout", required_argument, NULL, 't'},
	        {"max-conns", required_argument, NULL, 'm'},
	        {"max-flows", required_argument, NULL, 'f'},
	        {"no-route", no_argument, NULL, 'R'},
	        {"no-splice", no_argument, NULL, 'S'},
	        {"log-level", required_argument, NULL, 'L'},
	        {"check", no_argument, NULL, 'k'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	static char host[256];
	struct rlimit rl;

	memset(o, 0, sizeof(*o));
	cluster_config_init(&o->ccfg);
	o->udp_timeout_ms = 30000;
	o->tcp_idle_ms = 3600000;
	o->connect_timeout_ms = 250;
	o->max_flows = 65536;
	o->splice = true;
	if (daemon_args(argc, argv, longopts, usage, apply, o, &o->check) != SVC_OK)
		return SVC_EINVAL;
	if (o->zones == NULL)
		o->zones = daemon_default_zones("SVCFWD_ZONES", "/etc/svcfwd/zones");
	if (o->node == NULL) {
		if (gethostname(host, sizeof(host) - 1) != 0)
			strcpy(host, "localhost");
		o->node = host;
	}
	if (o->max_conns == 0) {
		/* Each connection holds two sockets and, splicing, up to four pipe ends: keep
		 * headroom for listeners and UDP flows. */
		rlim_t lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;

		o->max_conns = lim > 256 ? (size_t)(lim - 128) / 4 : 32;
	}
	return SVC_OK;
}
