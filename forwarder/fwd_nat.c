/* fwd_nat.c -- the fast path's program and maps (fwd_nat.h), through libbpf and the skeleton
 * bpftool makes of forwarder/bpf/fwd_nat.bpf.c at build time. */
#include "fwd_nat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef SVC_HAVE_FNAT

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <unistd.h>

#include "fwd_nat.skel.h"

#define TC_HANDLE   0x5f5 /* svcfwd's filter on each interface: a restart replaces it */
#define TC_PRIORITY 1
#define MAX_IFS     4096

struct fwd_nat {
	struct fwd_nat_bpf *skel;
	int prog_fd;
	int services, pools, backends, flows, stats, counters;
	int ncpu;
	/* Interfaces attached: ifindex, and whether the clsact qdisc was ours to remove. */
	struct {
		int ifindex;
		bool made_hook;
		bool seen;
	} ifs[MAX_IFS];
	size_t n_ifs;
};

static int
silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

enum svc_status
fwd_nat_open(size_t max_flows, struct fwd_nat **out, char *err, size_t len)
{
	struct fwd_nat *n = calloc(1, sizeof(*n));
	int rc;

	*out = NULL;
	if (n == NULL)
		return SVC_ENOMEM;
	libbpf_set_print(silent);
	n->skel = fwd_nat_bpf__open();
	if (n->skel == NULL) {
		snprintf(err, len, "cannot open the program: %s", strerror(errno));
		goto fail;
	}
	/* Two entries a flow, and room to spare: LRU evicts the oldest when full. */
	if (max_flows < 1024)
		max_flows = 1024;
	bpf_map__set_max_entries(n->skel->maps.fnat_flows, (uint32_t)(2 * max_flows));
	rc = fwd_nat_bpf__load(n->skel);
	if (rc != 0) {
		snprintf(err, len, "cannot load the program: %s%s", strerror(-rc),
		         rc == -EPERM || rc == -EACCES
		                 ? " (needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)"
		                 : "");
		goto fail;
	}
	n->prog_fd = bpf_program__fd(n->skel->progs.fwd_nat_ingress);
	n->services = bpf_map__fd(n->skel->maps.fnat_services);
	n->pools = bpf_map__fd(n->skel->maps.fnat_pools);
	n->backends = bpf_map__fd(n->skel->maps.fnat_backends);
	n->flows = bpf_map__fd(n->skel->maps.fnat_flows);
	n->stats = bpf_map__fd(n->skel->maps.fnat_svc_stats);
	n->counters = bpf_map__fd(n->skel->maps.fnat_counters);
	n->ncpu = libbpf_num_possible_cpus();
	if (n->ncpu <= 0) {
		snprintf(err, len, "cannot count the CPUs");
		goto fail;
	}
	*out = n;
	return SVC_OK;
fail:
	fwd_nat_bpf__destroy(n->skel);
	free(n);
	return SVC_EIO;
}

static void
detach(struct fwd_nat *n, size_t i)
{
	struct bpf_tc_hook hook = {
	        .sz = sizeof(hook), .ifindex = n->ifs[i].ifindex, .attach_point = BPF_TC_INGRESS};
	struct bpf_tc_opts opts = {
	        .sz = sizeof(opts), .handle = TC_HANDLE, .priority = TC_PRIORITY};

	bpf_tc_detach(&hook, &opts);
	if (n->ifs[i].made_hook) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
}

void
fwd_nat_close(struct fwd_nat *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n_ifs; i++)
		detach(n, i);
	fwd_nat_bpf__destroy(n->skel);
	free(n);
}

size_t
fwd_nat_attach(struct fwd_nat *n)
{
	struct if_nameindex *ifs = if_nameindex();
	size_t keep = 0;

	if (ifs == NULL)
		return n->n_ifs;
	for (size_t i = 0; i < n->n_ifs; i++)
		n->ifs[i].seen = false;
	for (struct if_nameindex *it = ifs; it->if_index != 0; it++) {
		struct bpf_tc_hook hook = {.sz = sizeof(hook),
		                           .ifindex = (int)it->if_index,
		                           .attach_point = BPF_TC_INGRESS};
		struct bpf_tc_opts opts = {.sz = sizeof(opts),
		                           .prog_fd = n->prog_fd,
		                           .handle = TC_HANDLE,
		                           .priority = TC_PRIORITY,
		                           .flags = BPF_TC_F_REPLACE};
		bool found = false, made;
		int rc;

		if (strcmp(it->if_name, "lo") == 0)
			continue;
		for (size_t i = 0; i < n->n_ifs && !found; i++) {
			if (n->ifs[i].ifindex == (int)it->if_index) {
				n->ifs[i].seen = true;
				found = true;
			}
		}
		if (found || n->n_ifs == MAX_IFS)
			continue;
		rc = bpf_tc_hook_create(&hook);
		if (rc != 0 && rc != -EEXIST)
			continue;
		made = rc == 0;
		if (bpf_tc_attach(&hook, &opts) != 0) {
			if (made) {
				hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
				bpf_tc_hook_destroy(&hook);
			}
			continue;
		}
		n->ifs[n->n_ifs].ifindex = (int)it->if_index;
		n->ifs[n->n_ifs].made_hook = made;
		n->ifs[n->n_ifs].seen = true;
		n->n_ifs++;
	}
	if_freenameindex(ifs);
	/* Those gone took their filter with them. */
	for (size_t i = 0; i < n->n_ifs; i++) {
		if (n->ifs[i].seen)
			n->ifs[keep++] = n->ifs[i];
	}
	n->n_ifs = keep;
	return n->n_ifs;
}

enum svc_status
fwd_nat_pool_set(struct fwd_nat *n, uint32_t id, const struct fwd_member *m, size_t count,
                 size_t old_count, uint32_t gen)
{
	struct fnat_pool pool = {.n = (uint32_t)count, .gen = gen};
	size_t most = count > old_count ? count : old_count;
	struct fnat_be_key *keys = calloc(most ? most : 1, sizeof(*keys));
	struct fnat_be *bes = calloc(count ? count : 1, sizeof(*bes));
	struct fnat_stats *z = calloc((size_t)n->ncpu, sizeof(*z));
	enum svc_status st = SVC_ENOMEM;
	uint32_t done;

	if (keys == NULL || bes == NULL || z == NULL)
		goto out;
	for (size_t i = 0; i < most; i++) {
		keys[i].id = id;
		keys[i].idx = (uint32_t)i;
	}
	for (size_t i = 0; i < count; i++) {
		memcpy(bes[i].addr, m[i].ip.bytes, m[i].ip.family == NETADDR_V6 ? 16 : 4);
		bes[i].port = htons(m[i].port);
		bes[i].family = m[i].ip.family == NETADDR_V6 ? AF_INET6 : AF_INET;
		bes[i].flags = m[i].local ? FNAT_BE_LOCAL : 0;
	}
	/* The endpoints first (one call), then the count: a packet reading the old count meanwhile
	 * finds an endpoint of one list or the other. */
	st = SVC_EIO;
	done = (uint32_t)count;
	if (count > 0 && bpf_map_update_batch(n->backends, keys, bes, &done, NULL) != 0)
		goto out;
	if (bpf_map_update_elem(n->pools, &id, &pool, BPF_ANY) != 0)
		goto out;
	if (old_count > count) {
		done = (uint32_t)(old_count - count);
		bpf_map_delete_batch(n->backends, keys + count, &done, NULL);
	}
	/* Its counters, at zero on every CPU, unless it has them already. */
	bpf_map_update_elem(n->stats, &id, z, BPF_NOEXIST);
	st = SVC_OK;
out:
	free(keys);
	free(bes);
	free(z);
	return st;
}

void
fwd_nat_pool_del(struct fwd_nat *n, uint32_t id, size_t old_count)
{
	struct fnat_be_key *keys = calloc(old_count ? old_count : 1, sizeof(*keys));
	uint32_t done = (uint32_t)old_count;

	bpf_map_delete_elem(n->pools, &id);
	if (keys != NULL) {
		for (size_t i = 0; i < old_count; i++) {
			keys[i].id = id;
			keys[i].idx = (uint32_t)i;
		}
		if (old_count > 0)
			bpf_map_delete_batch(n->backends, keys, &done, NULL);
		free(keys);
	}
	bpf_map_delete_elem(n->stats, &id);
}

static void
dest_key(struct fnat_svc_key *k, enum cluster_proto proto, const struct netaddr *addr,
         uint16_t port)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->addr, addr->bytes, addr->family == NETADDR_V6 ? 16 : 4);
	k->port = htons(port);
	k->family = addr->family == NETADDR_V6 ? AF_INET6 : AF_INET;
	k->proto = proto == CLUSTER_UDP ? IPPROTO_UDP : IPPROTO_TCP;
}

enum svc_status
fwd_nat_dest_set(struct fwd_nat *n, enum cluster_proto proto, const struct netaddr *addr,
                 uint16_t port, uint32_t id)
{
	struct fnat_svc_key k;
	struct fnat_svc v = {.id = id};

	dest_key(&k, proto, addr, port);
	return bpf_map_update_elem(n->services, &k, &v, BPF_ANY) == 0 ? SVC_OK : SVC_EIO;
}

void
fwd_nat_dest_del(struct fwd_nat *n, enum cluster_proto proto, const struct netaddr *addr,
                 uint16_t port)
{
	struct fnat_svc_key k;

	dest_key(&k, proto, addr, port);
	bpf_map_delete_elem(n->services, &k);
}

bool
fwd_nat_pool_stats(struct fwd_nat *n, uint32_t id, struct fnat_stats *out)
{
	struct fnat_stats v[256];

	memset(out, 0, sizeof(*out));
	if (n->ncpu > 256 || bpf_map_lookup_elem(n->stats, &id, v) != 0)
		return false;
	for (int c = 0; c < n->ncpu; c++) {
		out->flows += v[c].flows;
		out->packets_in += v[c].packets_in;
		out->bytes_in += v[c].bytes_in;
		out->packets_out += v[c].packets_out;
		out->bytes_out += v[c].bytes_out;
		out->failures += v[c].failures;
	}
	return true;
}

int
fwd_nat_prog_fd(const struct fwd_nat *n)
{
	return n->prog_fd;
}

size_t
fwd_nat_flow_entries(struct fwd_nat *n)
{
	struct fnat_ct_key k[2];
	size_t count = 0;

	/* Bounded: the walk ends with the table, which is bounded. */
	for (int r = bpf_map_get_next_key(n->flows, NULL, &k[0]); r == 0;
	     r = bpf_map_get_next_key(n->flows, &k[count % 2], &k[(count + 1) % 2]))
		count++;
	return count;
}

void
fwd_nat_counters(struct fwd_nat *n, uint64_t out[FNAT_C_COUNTERS])
{
	uint64_t v[256];

	for (uint32_t k = 0; k < FNAT_C_COUNTERS; k++) {
		out[k] = 0;
		if (n->ncpu > 256 || bpf_map_lookup_elem(n->counters, &k, v) != 0)
			continue;
		for (int c = 0; c < n->ncpu; c++)
			out[k] += v[c];
	}
}

#else /* !SVC_HAVE_FNAT */

struct fwd_nat {
	int unused;
};

enum svc_status
fwd_nat_open(size_t max_flows, struct fwd_nat **out, char *err, size_t len)
{
	(void)max_flows;
	*out = NULL;
	snprintf(err, len, "svcfwd was built without it (libbpf, clang or bpftool missing)");
	return SVC_EIO;
}

void
fwd_nat_close(struct fwd_nat *n)
{
	(void)n;
}

size_t
fwd_nat_attach(struct fwd_nat *n)
{
	(void)n;
	return 0;
}

enum svc_status
fwd_nat_pool_set(struct fwd_nat *n, uint32_t id, const struct fwd_member *m, size_t count,
                 size_t old_count, uint32_t gen)
{
	(void)n, (void)id, (void)m, (void)count, (void)old_count, (void)gen;
	return SVC_EIO;
}

void
fwd_nat_pool_del(struct fwd_nat *n, uint32_t id, size_t old_count)
{
	(void)n, (void)id, (void)old_count;
}

enum svc_status
fwd_nat_dest_set(struct fwd_nat *n, enum cluster_proto proto, const struct netaddr *addr,
                 uint16_t port, uint32_t id)
{
	(void)n, (void)proto, (void)addr, (void)port, (void)id;
	return SVC_EIO;
}

void
fwd_nat_dest_del(struct fwd_nat *n, enum cluster_proto proto, const struct netaddr *addr,
                 uint16_t port)
{
	(void)n, (void)proto, (void)addr, (void)port;
}

bool
fwd_nat_pool_stats(struct fwd_nat *n, uint32_t id, struct fnat_stats *out)
{
	(void)n, (void)id;
	memset(out, 0, sizeof(*out));
	return false;
}

int
fwd_nat_prog_fd(const struct fwd_nat *n)
{
	(void)n;
	return -1;
}

size_t
fwd_nat_flow_entries(struct fwd_nat *n)
{
	(void)n;
	return 0;
}

void
fwd_nat_counters(struct fwd_nat *n, uint64_t out[FNAT_C_COUNTERS])
{
	(void)n;
	memset(out, 0, sizeof(uint64_t) * FNAT_C_COUNTERS);
}

#endif
