/* fwd_fds.c -- the descriptor budget (fwd_fds.h). */
#include "fwd_fds.h"

#include <string.h>

void
fwd_fds_init(struct fwd_fds *f, size_t limit)
{
	memset(f, 0, sizeof(*f));
	f->limit = limit;
	/* A small limit keeps a quarter for the rest; a large one FWD_FDS_RESERVE. */
	f->budget = limit > 4 * FWD_FDS_RESERVE ? limit - FWD_FDS_RESERVE : limit - limit / 4;
	/* Shares overlap (they add up to more than the budget): a kind can grow while the others
	 * are small, but never take what the others need most. Listeners had half the limit
	 * before this budget; TCP may use all of it; pipes only speed up bulk; UDP flows share
	 * their sockets, so they need few unless many clients talk to one endpoint at once
	 * (DNS lookups, each from a fresh port). */
	f->share[FWD_FD_LISTEN] = f->budget / 2;
	f->share[FWD_FD_TCP] = f->budget;
	f->share[FWD_FD_PIPE] = f->budget / 4;
	f->share[FWD_FD_UDP] = f->budget / 2;
}

size_t
fwd_fds_room(const struct fwd_fds *f, enum fwd_fd_kind k)
{
	size_t kind = f->share[k] - f->used[k], all = f->budget - f->total;

	return kind < all ? kind : all;
}

bool
fwd_fds_take(struct fwd_fds *f, enum fwd_fd_kind k, size_t n)
{
	if (fwd_fds_room(f, k) < n) {
		f->refused[k]++;
		return false;
	}
	f->used[k] += n;
	f->total += n;
	return true;
}

void
fwd_fds_give(struct fwd_fds *f, enum fwd_fd_kind k, size_t n)
{
	f->used[k] -= n;
	f->total -= n;
}

const char *
fwd_fds_kind_name(enum fwd_fd_kind k)
{
	static const char *const names[FWD_FD_KINDS] = {"listen", "tcp", "pipe", "udp"};

	return names[k];
}
