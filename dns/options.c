/* options.c -- svcdns's settings: defaults, a YAML config file, then flags (flags win). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svcdns.h"

#define RESOLV_CONF "/etc/resolv.conf"

static const char usage[] =
        "usage: svcdns [--config FILE] [--zones DIR] [--listen ADDR:PORT]... [--domain DOMAIN]\n"
        "              [--upstream ADDR[:PORT]]... [--service-cidr CIDR[,CIDR]] [--ttl SECONDS]\n"
        "              [--threads N] [--http ADDR:PORT] [--cache-size N] [--log-level LEVEL]\n"
        "              [--check]\n"
        "Serves the Kubernetes DNS schema for the manifests in DIR and forwards other names.\n"
        "  --zones DIR        manifests (default $SVCDNS_ZONES, /etc/svcdns/zones, ./zones)\n"
        "  --listen ADDR:PORT UDP and TCP (default 0.0.0.0:53 and [::]:53)\n"
        "  --domain DOMAIN    cluster domain (default cluster.local)\n"
        "  --upstream ADDR    forward other names here (default: nameservers of " RESOLV_CONF ")\n"
        "  --ttl SECONDS      TTL of cluster records (default 5, 0..3600)\n"
        "  --threads N        UDP worker threads (default: one per CPU)\n"
        "  --http ADDR:PORT   /health, /ready and /metrics\n"
        "  --cache-size N     forwarded answers kept (default 10000, 0 disables)\n"
        "  --log-level LEVEL  error, warning, info (default) or debug\n"
        "  --check            load and validate the manifests, then exit\n";

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
is_self(const struct svcdns_opts *o, const struct daemon_addr *u, struct ifaddrs *ifs)
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
default_upstreams(struct svcdns_opts *o)
{
	FILE *f = fopen(RESOLV_CONF, "r");
	struct ifaddrs *ifs = NULL;
	char line[512];

	if (f == NULL) {
		log_msg(LOG_WARN, "%s: %s; no upstream: names outside the cluster fail",
		        RESOLV_CONF, strerror(errno));
		return;
	}
	if (getifaddrs(&ifs) != 0)
		ifs = NULL;
	while (fgets(line, sizeof(line), f) != NULL && o->n_upstream < SVCDNS_MAX_UPSTREAM) {
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
			log_msg(LOG_INFO, "%s: skipping nameserver %s: that is svcdns itself",
			        RESOLV_CONF, addr);
			continue;
		}
		o->upstream[o->n_upstream++] = u;
	}
	fclose(f);
	if (ifs != NULL)
		freeifaddrs(ifs);
	if (o->n_upstream == 0)
		log_msg(LOG_WARN, "%s: no usable nameserver; names outside the cluster fail",
		        RESOLV_CONF);
}

/* What daemon_args applies options to. A list option starts afresh at its first item from each
 * source (the config file, then the flags). */
struct opts_ctx {
	struct svcdns_opts *o;
	bool listen_reset, upstream_reset;
};

/* One option, from a flag or a config key; KEY NULL starts a new source. */
static bool
apply(void *arg, const char *key, const char *val, char *err, size_t errlen)
{
	struct opts_ctx *ctx = arg;
	struct svcdns_opts *o = ctx->o;
	bool *listen_reset = &ctx->listen_reset, *upstream_reset = &ctx->upstream_reset;
	unsigned long n;

	if (key == NULL) {
		*listen_reset = *upstream_reset = false;
		return true;
	}
	if (strcmp(key, "zones") == 0) {
		o->zones = val;
	} else if (strcmp(key, "domain") == 0) {
		uint8_t wire[DNSW_NAME_MAX];
		size_t len;

		if (dnsw_name_from_str(val, wire, &len) != SVC_OK || len < 2)
			goto bad;
		o->domain = val;
	} else if (strcmp(key, "http") == 0) {
		struct daemon_addr a;

		if (!addr_parse(val, 0, &a) || addr_port(&a) == 0)
			goto bad;
		o->http = val;
	} else if (strcmp(key, "listen") == 0) {
		if (!*listen_reset) {
			o->n_listen = 0;
			o->listen_default = false;
			*listen_reset = true;
		}
		if (o->n_listen == SVCDNS_MAX_LISTEN) {
			snprintf(err, errlen, "%s: at most %d addresses", key, SVCDNS_MAX_LISTEN);
			return false;
		}
		if (!addr_parse(val, 53, &o->listen[o->n_listen]))
			goto bad;
		o->n_listen++;
	} else if (strcmp(key, "upstream") == 0) {
		if (!*upstream_reset) {
			o->n_upstream = 0;
			*upstream_reset = true;
		}
		if (o->n_upstream == SVCDNS_MAX_UPSTREAM) {
			snprintf(err, errlen, "%s: at most %d addresses", key, SVCDNS_MAX_UPSTREAM);
			return false;
		}
		if (!addr_parse(val, 53, &o->upstream[o->n_upstream]))
			goto bad;
		o->n_upstream++;
	} else if (strcmp(key, "service-cidr") == 0) {
		if (cluster_config_set_cidrs(&o->ccfg, val) != SVC_OK)
			goto bad;
	} else if (strcmp(key, "ttl") == 0) {
		if (!daemon_parse_uint(val, 3600, &n))
			goto bad;
		o->ttl = (uint32_t)n;
	} else if (strcmp(key, "threads") == 0) {
		if (!daemon_parse_uint(val, 256, &n) || n == 0)
			goto bad;
		o->threads = (int)n;
	} else if (strcmp(key, "cache-size") == 0) {
		if (!daemon_parse_uint(val, 10000000, &n))
			goto bad;
		o->cache_size = n;
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
opts_parse(struct svcdns_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"zones", required_argument, NULL, 'z'},
	        {"listen", required_argument, NULL, 'l'},
	        {"domain", required_argument, NULL, 'd'},
	        {"upstream", required_argument, NULL, 'u'},
	        {"service-cidr", required_argument, NULL, 's'},
	        {"ttl", required_argument, NULL, 't'},
	        {"threads", required_argument, NULL, 'n'},
	        {"http", required_argument, NULL, 'H'},
	        {"cache-size", required_argument, NULL, 'C'},
	        {"log-level", required_argument, NULL, 'L'},
	        {"check", no_argument, NULL, 'k'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct opts_ctx ctx = {.o = o};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(o, 0, sizeof(*o));
	cluster_config_init(&o->ccfg);
	o->domain = "cluster.local";
	o->ttl = 5;
	o->threads = cpus > 0 ? (int)cpus : 1;
	o->cache_size = 10000;
	o->cache_max_ttl = 3600;
	o->cache_max_neg_ttl = 1800;
	o->upstream_timeout_ms = 3000;
	o->tcp_idle_ms = 10000;
	o->tcp_max_conns = 1024;
	addr_parse("0.0.0.0:53", 53, &o->listen[0]);
	addr_parse("[::]:53", 53, &o->listen[1]);
	o->n_listen = 2;
	o->listen_default = true;
	if (daemon_args(argc, argv, longopts, usage, apply, &ctx, &o->check) != SVC_OK)
		return SVC_EINVAL;
	if (o->zones == NULL)
		o->zones = daemon_default_zones("SVCDNS_ZONES", "/etc/svcdns/zones");
	if (o->n_upstream == 0 && !o->check)
		default_upstreams(o);
	return SVC_OK;
}
