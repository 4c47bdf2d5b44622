/* fwd_nat.h -- svcfwd's fast path (forwarder/bpf/fwd_nat.bpf.c): the program loaded, attached
 * at tc ingress to every interface of this network namespace but loopback, and its maps kept:
 * service addresses and ports, each to a pool of endpoints. Flows to local endpoints are then
 * rewritten in the kernel; everything else still reaches svcfwd's relay. Built only with libbpf,
 * clang and bpftool (SVC_HAVE_FNAT); without, fwd_nat_open says so. */
#ifndef FWD_NAT_H
#define FWD_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "fwd_nat_abi.h"
#include "fwd_pool.h"
#include "netaddr.h"
#include "svc_status.h"

struct fwd_nat;

/* Load the program with room for MAX_FLOWS flows (two entries each). *OUT stays NULL on failure,
 * and ERR (LEN bytes) says why. */
enum svc_status fwd_nat_open(size_t max_flows, struct fwd_nat **out, char *err, size_t len);
/* Detach from every interface, and unload. */
void fwd_nat_close(struct fwd_nat *n);
/* Attach to the interfaces not attached yet (new pods' veths appear at any time); forget those
 * gone. The number attached now. */
size_t fwd_nat_attach(struct fwd_nat *n);

/* Pool ID's endpoints from now on: M (COUNT of them, OLD_COUNT before), generation GEN. */
enum svc_status fwd_nat_pool_set(struct fwd_nat *n, uint32_t id, const struct fwd_member *m,
                                 size_t count, size_t old_count, uint32_t gen);
/* Pool ID gone (OLD_COUNT endpoints). */
void fwd_nat_pool_del(struct fwd_nat *n, uint32_t id, size_t old_count);
/* ADDR:PORT/PROTO leads to pool ID. */
enum svc_status fwd_nat_dest_set(struct fwd_nat *n, enum cluster_proto proto,
                                 const struct netaddr *addr, uint16_t port, uint32_t id);
void fwd_nat_dest_del(struct fwd_nat *n, enum cluster_proto proto, const struct netaddr *addr,
                      uint16_t port);
/* Pool ID's counters, summed over the CPUs; false: none. */
bool fwd_nat_pool_stats(struct fwd_nat *n, uint32_t id, struct fnat_stats *out);
/* Entries in the flow table (two a flow), counted by walking it: for tests. */
size_t fwd_nat_flow_entries(struct fwd_nat *n);
/* The program, for tests that run packets through it (BPF_PROG_TEST_RUN); -1 without one. */
int fwd_nat_prog_fd(const struct fwd_nat *n);
/* The program's counters (enum fnat_counter), summed over the CPUs. */
void fwd_nat_counters(struct fwd_nat *n, uint64_t out[FNAT_C_COUNTERS]);

#endif
