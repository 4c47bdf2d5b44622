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
#include "ytree.h"

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

bool
addr_parse(const char *s, uint16_t default_port, struct svcdns_addr *out)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port_s = NULL;
	long port = default_port;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			return false;
		hlen = (size_t)(end - s - 1);
		if (hlen >= sizeof(host))
			return false;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (end[1] == ':')
			port_s = end + 2;
		else if (end[1] != '\0')
			return false;
	} else {
		const char *colon = strchr(s, ':');

		/* One colon is a port; more is a bare IPv6 address. */
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			hlen = (size_t)(colon - s);
			port_s = colon + 1;
		} else {
			hlen = strlen(s);
		}
		if (hlen >= sizeof(host))
			return false;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (hlen == 0)
			strcpy(host, "0.0.0.0");
	}
	if (port_s != NULL) {
		char *end;

		errno = 0;
		port = strtol(port_s, &end, 10);
		if (errno != 0 || *end != '\0' || end == port_s || port < 1 || port > 65535)
			return false;
	}
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->sa;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return false;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return false;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		out->len = sizeof(*sin);
	}
	return true;
}

const char *
addr_str(const struct svcdns_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (a->sa.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	}
	return buf;
}

static uint16_t
addr_port(const struct svcdns_addr *a)
{
	if (a->sa.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

bool
addr_is_any(const struct svcdns_addr *a)
{
	if (a->sa.ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
	return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY);
}

static bool
addr_same_host(const struct svcdns_addr *a, const struct sockaddr *b)
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
is_self(const struct svcdns_opts *o, const struct svcdns_addr *u, struct ifaddrs *ifs)
{
	for (size_t i = 0; i < o->n_listen; i++) {
		const struct svcdns_addr *l = &o->listen[i];

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
		struct svcdns_addr u;
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

static bool
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && end != s && s[0] != '-' && *out <= max;
}

/* One option, from a flag or a config key. LIST_RESET clears a list option before its first
 * item from this source. */
static bool
apply(struct svcdns_opts *o, const char *key, const char *val, bool *listen_reset,
      bool *upstream_reset, char *err, size_t errlen)
{
	unsigned long n;
	enum log_level lvl;

	if (strcmp(key, "zones") == 0) {
		o->zones = val;
	} else if (strcmp(key, "domain") == 0) {
		uint8_t wire[DNSW_NAME_MAX];
		size_t len;

		if (dnsw_name_from_str(val, wire, &len) != SVC_OK || len < 2)
			goto bad;
		o->domain = val;
	} else if (strcmp(key, "http") == 0) {
		struct svcdns_addr a;

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
		if (!parse_uint(val, 3600, &n))
			goto bad;
		o->ttl = (uint32_t)n;
	} else if (strcmp(key, "threads") == 0) {
		if (!parse_uint(val, 256, &n) || n == 0)
			goto bad;
		o->threads = (int)n;
	} else if (strcmp(key, "cache-size") == 0) {
		if (!parse_uint(val, 10000000, &n))
			goto bad;
		o->cache_size = n;
	} else if (strcmp(key, "log-level") == 0) {
		if (!log_parse_level(val, &lvl))
			goto bad;
		log_set_level(lvl);
	} else {
		snprintf(err, errlen, "%s: unknown option", key);
		return false;
	}
	return true;
bad:
	snprintf(err, errlen, "%s: invalid value \"%s\"", key, val);
	return false;
}

/* The config file: a YAML mapping whose keys are the long flag names. */
static enum svc_status
load_config(struct svcdns_opts *o, const char *path, struct arena *a)
{
	struct diag d;
	struct ydoc *docs = NULL;
	size_t n_docs = 0, len = 0;
	char *buf = NULL;
	enum svc_status st = SVC_EINVAL;
	bool lr = false, ur = false;
	FILE *f = fopen(path, "r");
	long size;

	diag_init(&d);
	if (f == NULL) {
		log_msg(LOG_ERROR, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto done;
	buf = arena_alloc(a, (size_t)size + 1);
	if (buf == NULL)
		goto done;
	len = fread(buf, 1, (size_t)size, f);
	buf[len] = '\0';
	if (ytree_parse(a, path, buf, len, &d, &docs, &n_docs) != SVC_OK || n_docs > 1) {
		diag_print(&d, stderr);
		if (n_docs > 1)
			log_msg(LOG_ERROR, "%s: one document expected", path);
		goto done;
	}
	if (n_docs == 0 || docs[0].root == NULL) {
		st = SVC_OK;
		goto done;
	}
	if (docs[0].root->type != YNODE_MAP) {
		log_msg(LOG_ERROR, "%s:%u: a mapping of option: value expected", path,
		        docs[0].root->line);
		goto done;
	}
	for (size_t i = 0; i < docs[0].root->n; i++) {
		const struct yentry *e = &docs[0].root->entries[i];
		const struct ynode *v = e->value;
		size_t n = v->type == YNODE_SEQ ? v->n : 1;
		char err[256];

		for (size_t j = 0; j < n; j++) {
			const struct ynode *item = v->type == YNODE_SEQ ? v->items[j] : v;

			if (item->type != YNODE_SCALAR) {
				log_msg(LOG_ERROR, "%s:%u:%u: %s: a value expected", path,
				        item->line, item->col, e->key->text);
				goto done;
			}
			if (!apply(o, e->key->text, item->text, &lr, &ur, err, sizeof(err))) {
				log_msg(LOG_ERROR, "%s:%u:%u: %s", path, item->line, item->col,
				        err);
				goto done;
			}
		}
	}
	st = SVC_OK;
done:
	if (f != NULL)
		fclose(f);
	diag_deinit(&d);
	return st;
}

static const char *
default_zones(void)
{
	const char *env = getenv("SVCDNS_ZONES");

	if (env != NULL && env[0] != '\0')
		return env;
	if (access("/etc/svcdns/zones", R_OK) == 0)
		return "/etc/svcdns/zones";
	return "zones";
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
	static struct arena config_arena; /* config strings live as long as the process */
	bool lr = false, ur = false;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int c;

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

	/* The config file first, so flags override it. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			o->config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			o->config = argv[i] + 9;
	}
	arena_init(&config_arena);
	if (o->config != NULL && load_config(o, o->config, &config_arena) != SVC_OK)
		return SVC_EINVAL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char err[256];
		const char *key = NULL;

		switch (c) {
		case 'c':
			continue;
		case 'k':
			o->check = true;
			continue;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case '?':
			fputs(usage, stderr);
			return SVC_EINVAL;
		default:
			for (const struct option *lo = longopts; lo->name != NULL; lo++) {
				if (lo->val == c)
					key = lo->name;
			}
		}
		if (key == NULL || !apply(o, key, optarg, &lr, &ur, err, sizeof(err))) {
			log_msg(LOG_ERROR, "--%s", key != NULL ? err : "?");
			return SVC_EINVAL;
		}
	}
	if (optind < argc) {
		log_msg(LOG_ERROR, "unexpected argument \"%s\"", argv[optind]);
		fputs(usage, stderr);
		return SVC_EINVAL;
	}
	if (o->zones == NULL)
		o->zones = default_zones();
	if (o->n_upstream == 0 && !o->check)
		default_upstreams(o);
	return SVC_OK;
}
