/* fwd_fds.h -- svcfwd's descriptor budget: one count, derived from the process's limit, that
 * listening sockets, TCP connections (their sockets and splice pipes) and UDP sockets all take
 * from, each kind within a share so that none can starve the others. What is left over is for
 * the rest of the process (the metrics server, the store, probes, netlink). */
#ifndef FWD_FDS_H
#define FWD_FDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fwd_fd_kind {
	FWD_FD_LISTEN, /* a service port's own socket (without sk_lookup) */
	FWD_FD_TCP,    /* the two sockets of a relayed connection */
	FWD_FD_PIPE,   /* splice pipes (optional: a connection copies without) */
	FWD_FD_UDP,    /* sockets UDP flows send from, and reply sockets */
	FWD_FD_KINDS
};

struct fwd_fds {
	size_t limit;  /* the process's descriptor limit */
	size_t budget; /* what the kinds hold together at most */
	size_t share[FWD_FD_KINDS];
	size_t used[FWD_FD_KINDS];
	size_t total;
	uint64_t refused[FWD_FD_KINDS]; /* takes refused */
};

/* Descriptors kept out of the budget for the rest of the process. */
#define FWD_FDS_RESERVE 512

/* A budget for a process allowed LIMIT descriptors. */
void fwd_fds_init(struct fwd_fds *f, size_t limit);
/* Take N descriptors for kind K: false (counted) when K's share or the budget has no room. */
bool fwd_fds_take(struct fwd_fds *f, enum fwd_fd_kind k, size_t n);
void fwd_fds_give(struct fwd_fds *f, enum fwd_fd_kind k, size_t n);
/* How many K could take now. */
size_t fwd_fds_room(const struct fwd_fds *f, enum fwd_fd_kind k);
/* "listen", "tcp", "pipe", "udp": the metrics' label. */
const char *fwd_fds_kind_name(enum fwd_fd_kind k);

#endif
