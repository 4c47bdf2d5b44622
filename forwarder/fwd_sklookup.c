/* fwd_sklookup.c -- the sk_lookup program, its maps and their updates, through raw bpf(2). */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fwd_sklookup.h"

#define SOCKMAP_SLOTS 64   /* FWD_SKL_SLOTS now; room for per-worker slots later */
#define BATCH         4096 /* keys per batched system call */
#define MIN_ENTRIES   4096
#define MAX_INSNS     64
#define ENOTSUPP_K    524 /* the kernel's ENOTSUPP, which no libc header names */

_Static_assert(sizeof(struct fwd_sklookup_key) == 20, "the program builds a 20-byte key");

static int
sys_bpf(enum bpf_cmd cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static enum svc_status
failed(struct fwd_sklookup *sk, const char *what)
{
	int e = errno;

	snprintf(sk->err, sizeof(sk->err), "%s: %s", what, strerror(e));
	errno = e;
	return SVC_EIO;
}

void
fwd_sklookup_key(struct fwd_sklookup_key *k, enum cluster_proto proto, const struct netaddr *addr,
                 bool wildcard, uint16_t port)
{
	memset(k, 0, sizeof(*k));
	if (!wildcard)
		memcpy(k->addr, addr->bytes, addr->family == NETADDR_V6 ? 16 : 4);
	k->port = port;
	k->family = addr->family == NETADDR_V6 ? AF_INET6 : AF_INET;
	k->proto = proto == CLUSTER_UDP ? IPPROTO_UDP : IPPROTO_TCP;
}

enum fwd_sklookup_slot
fwd_sklookup_key_slot(const struct fwd_sklookup_key *k)
{
	bool v6 = k->family == AF_INET6;

	if (k->proto == IPPROTO_UDP)
		return v6 ? FWD_SKL_UDP6 : FWD_SKL_UDP4;
	return v6 ? FWD_SKL_TCP6 : FWD_SKL_TCP4;
}

static int
map_create(enum bpf_map_type type, uint32_t key_size, uint32_t value_size, uint32_t max,
           uint32_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = key_size;
	a.value_size = value_size;
	a.max_entries = max;
	a.map_flags = flags;
	return sys_bpf(BPF_MAP_CREATE, &a);
}

/* ---- the program ---------------------------------------------------------------------------- */

struct prog {
	struct bpf_insn insn[MAX_INSNS];
	int n;
};

static int
emit(struct prog *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn *i = &p->insn[p->n];

	memset(i, 0, sizeof(*i));
	i->code = code;
	i->dst_reg = dst & 0xf;
	i->src_reg = src & 0xf;
	i->off = off;
	i->imm = imm;
	return p->n++;
}

/* A 64-bit load of a map's address from its descriptor: two instructions. */
static void
emit_map(struct prog *p, uint8_t dst, int fd)
{
	emit(p, BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
	emit(p, 0, 0, 0, 0, 0);
}

/* Point the jump at index AT to the next instruction to be emitted. */
static void
land(struct prog *p, int at)
{
	p->insn[at].off = (int16_t)(p->n - at - 1);
}

#define CTX(field) ((int16_t)offsetof(struct bpf_sk_lookup, field))
#define KEY        (-24) /* the key on the stack: fp-24 .. fp-5 */
#define SLOT       (-32) /* the socket map's key: fp-32 */

/* r6: the context, r7: the socket found. In C:
 *   key = {local address, local_port, family, protocol};
 *   v = lookup(dests, key) ?: lookup(dests, key with the address zeroed);
 *   if (v && (sk = lookup(socks, *v))) { sk_assign(ctx, sk, 0); sk_release(sk); }
 *   return SK_PASS;
 * A failed assignment (a socket of another family) leaves the kernel's lookup to go on. */
static void
build(struct prog *p, int map_fd, int sockmap_fd)
{
	int v6, to_lookup, found, miss, no_sock;

	p->n = 0;
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
	emit(p, BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, KEY, 0);
	emit(p, BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, KEY + 8, 0);
	emit(p, BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, KEY + 16, 0);
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_6, CTX(family), 0);
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_6, CTX(protocol), 0);
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_6, CTX(local_port), 0);
	emit(p, BPF_STX | BPF_MEM | BPF_H, BPF_REG_10, BPF_REG_4,
	     (int16_t)(KEY + (int)offsetof(struct fwd_sklookup_key, port)), 0);
	emit(p, BPF_STX | BPF_MEM | BPF_B, BPF_REG_10, BPF_REG_2,
	     (int16_t)(KEY + (int)offsetof(struct fwd_sklookup_key, family)), 0);
	emit(p, BPF_STX | BPF_MEM | BPF_B, BPF_REG_10, BPF_REG_3,
	     (int16_t)(KEY + (int)offsetof(struct fwd_sklookup_key, proto)), 0);
	v6 = emit(p, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_2, 0, 0, AF_INET6);
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_6, CTX(local_ip4), 0);
	emit(p, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_5, KEY, 0);
	to_lookup = emit(p, BPF_JMP | BPF_JA, 0, 0, 0, 0);
	land(p, v6);
	for (int i = 0; i < 4; i++) {
		emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_6,
		     (int16_t)(CTX(local_ip6) + 4 * i), 0);
		emit(p, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_5, (int16_t)(KEY + 4 * i),
		     0);
	}
	land(p, to_lookup);
	emit_map(p, BPF_REG_1, map_fd);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	emit(p, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, KEY);
	emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
	found = emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, 0);
	/* Not a service address: a node port, on any local address? */
	emit(p, BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, KEY, 0);
	emit(p, BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, KEY + 8, 0);
	emit_map(p, BPF_REG_1, map_fd);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	emit(p, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, KEY);
	emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
	miss = emit(p, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0);
	land(p, found);
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_0, 0, 0);
	emit(p, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_2, SLOT, 0);
	emit_map(p, BPF_REG_1, sockmap_fd);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	emit(p, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, SLOT);
	emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
	no_sock = emit(p, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_7, BPF_REG_0, 0, 0);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_7, 0, 0);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, 0);
	emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_assign);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_7, 0, 0);
	emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_release);
	land(p, miss);
	land(p, no_sock);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, SK_PASS);
	emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* Load the program over MAP_FD; the verifier's log goes to SK->err when it refuses. */
static int
prog_load(struct fwd_sklookup *sk, int map_fd)
{
	static char log[4096];
	struct prog p;
	union bpf_attr a;
	int fd;

	build(&p, map_fd, sk->sockmap_fd);
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SK_LOOKUP;
	a.expected_attach_type = BPF_SK_LOOKUP;
	a.insns = (uint64_t)(uintptr_t)p.insn;
	a.insn_cnt = (uint32_t)p.n;
	a.license = (uint64_t)(uintptr_t) "Dual BSD/GPL";
	memcpy(a.prog_name, "svcfwd_lookup", sizeof("svcfwd_lookup"));
	fd = sys_bpf(BPF_PROG_LOAD, &a);
	if (fd >= 0 || errno != EACCES)
		return fd;
	/* Refused by the verifier: load again for its reason. */
	log[0] = '\0';
	a.log_buf = (uint64_t)(uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	fd = sys_bpf(BPF_PROG_LOAD, &a);
	if (fd < 0) {
		int e = errno;
		size_t len = strlen(log);

		while (len > 0 && log[len - 1] == '\n')
			log[--len] = '\0';
		/* The verifier's last words say why. */
		snprintf(sk->err, sizeof(sk->err), "BPF_PROG_LOAD: verifier: %.120s",
		         len > 120 ? log + len - 120 : log);
		errno = e;
	}
	return fd;
}

static int
dest_map(uint32_t max)
{
	/* Not preallocated: the map takes kernel memory for the entries it holds only. */
	return map_create(BPF_MAP_TYPE_HASH, sizeof(struct fwd_sklookup_key), sizeof(uint32_t), max,
	                  BPF_F_NO_PREALLOC);
}

enum svc_status
fwd_sklookup_open(struct fwd_sklookup *sk, uint32_t max_entries, bool attach)
{
	union bpf_attr a;
	int ns;

	memset(sk, 0, sizeof(*sk));
	sk->map_fd = sk->sockmap_fd = sk->prog_fd = sk->link_fd = -1;
	sk->max_entries = max_entries < MIN_ENTRIES ? MIN_ENTRIES : max_entries;
	sk->map_fd = dest_map(sk->max_entries);
	if (sk->map_fd < 0)
		return failed(sk, "BPF_MAP_CREATE (hash)");
	sk->sockmap_fd = map_create(BPF_MAP_TYPE_SOCKMAP, sizeof(uint32_t), sizeof(uint64_t),
	                            SOCKMAP_SLOTS, 0);
	if (sk->sockmap_fd < 0)
		return failed(sk, "BPF_MAP_CREATE (sockmap)");
	sk->prog_fd = prog_load(sk, sk->map_fd);
	if (sk->prog_fd < 0)
		return sk->err[0] != '\0' ? SVC_EIO : failed(sk, "BPF_PROG_LOAD (sk_lookup)");
	if (!attach)
		return SVC_OK;
	ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		return failed(sk, "/proc/self/ns/net");
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)sk->prog_fd;
	a.link_create.target_fd = (uint32_t)ns;
	a.link_create.attach_type = BPF_SK_LOOKUP;
	sk->link_fd = sys_bpf(BPF_LINK_CREATE, &a);
	if (sk->link_fd < 0) {
		enum svc_status st = failed(sk, "BPF_LINK_CREATE (network namespace)");

		close(ns);
		return st;
	}
	close(ns);
	return SVC_OK;
}

enum svc_status
fwd_sklookup_set_socket(struct fwd_sklookup *sk, enum fwd_sklookup_slot slot, int fd)
{
	union bpf_attr a;
	uint32_t key = (uint32_t)slot;
	uint64_t value = (uint64_t)fd;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)sk->sockmap_fd;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)&value;
	a.flags = BPF_ANY;
	if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) != 0)
		return failed(sk, "BPF_MAP_UPDATE_ELEM (sockmap)");
	return SVC_OK;
}

/* ---- updates -------------------------------------------------------------------------------- */

static int
put_one(int map_fd, const struct fwd_sklookup_key *k)
{
	union bpf_attr a;
	uint32_t slot = (uint32_t)fwd_sklookup_key_slot(k);

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)map_fd;
	a.key = (uint64_t)(uintptr_t)k;
	a.value = (uint64_t)(uintptr_t)&slot;
	a.flags = BPF_ANY;
	return sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

/* Put N keys into MAP_FD, a batch at a time (Linux 5.6+; one call per key before). *DONE: how
 * many went in before a failure. */
static int
put_keys(int map_fd, const struct fwd_sklookup_key *keys, size_t n, size_t *done)
{
	static uint32_t slots[BATCH];
	static bool no_batch;
	union bpf_attr a;

	*done = 0;
	while (*done < n) {
		uint32_t count = n - *done > BATCH ? BATCH : (uint32_t)(n - *done);

		if (no_batch) {
			if (put_one(map_fd, &keys[*done]) != 0)
				return -1;
			(*done)++;
			continue;
		}
		for (uint32_t i = 0; i < count; i++)
			slots[i] = (uint32_t)fwd_sklookup_key_slot(&keys[*done + i]);
		memset(&a, 0, sizeof(a));
		a.batch.map_fd = (uint32_t)map_fd;
		a.batch.keys = (uint64_t)(uintptr_t)&keys[*done];
		a.batch.values = (uint64_t)(uintptr_t)slots;
		a.batch.count = count;
		a.batch.elem_flags = BPF_ANY;
		if (sys_bpf(BPF_MAP_UPDATE_BATCH, &a) != 0) {
			if (errno == EINVAL || errno == ENOTSUP || errno == ENOTSUPP_K) {
				if (a.batch.count == 0) {
					no_batch = true;
					continue;
				}
			}
			*done += a.batch.count;
			return -1;
		}
		*done += count;
	}
	return 0;
}

/* Take N keys out of the map; keys not in it are skipped. */
static int
del_keys(int map_fd, const struct fwd_sklookup_key *keys, size_t n, size_t *gone)
{
	static bool no_batch;
	union bpf_attr a;
	size_t done = 0;

	*gone = 0;
	while (done < n) {
		uint32_t count = n - done > BATCH ? BATCH : (uint32_t)(n - done);

		memset(&a, 0, sizeof(a));
		a.batch.map_fd = (uint32_t)map_fd;
		a.batch.keys = (uint64_t)(uintptr_t)&keys[done];
		a.batch.count = count;
		if (no_batch) {
			errno = EINVAL;
			a.batch.count = 0;
		} else if (sys_bpf(BPF_MAP_DELETE_BATCH, &a) == 0) {
			done += count;
			*gone += count;
			continue;
		}
		/* The batch stops at the first key it cannot take out: go on after it. */
		done += a.batch.count;
		*gone += a.batch.count;
		if (errno == ENOENT) {
			done++;
			continue;
		}
		if (errno != EINVAL && errno != ENOTSUP && errno != ENOTSUPP_K)
			return -1;
		/* No batches (before Linux 5.6): one call per key from now on. */
		no_batch = true;
		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)map_fd;
		a.key = (uint64_t)(uintptr_t)&keys[done];
		if (sys_bpf(BPF_MAP_DELETE_ELEM, &a) == 0)
			(*gone)++;
		else if (errno != ENOENT)
			return -1;
		done++;
	}
	return 0;
}

/* Copy every entry of the current map into TO. */
static int
copy_map(struct fwd_sklookup *sk, int to)
{
	static struct fwd_sklookup_key keys[BATCH];
	struct fwd_sklookup_key cur, next;
	union bpf_attr a;
	size_t n = 0, done;
	bool first = true;

	for (;;) {
		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)sk->map_fd;
		a.key = first ? 0 : (uint64_t)(uintptr_t)&cur;
		a.next_key = (uint64_t)(uintptr_t)&next;
		if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &a) != 0) {
			if (errno != ENOENT)
				return -1;
			break;
		}
		first = false;
		cur = next;
		keys[n++] = next;
		if (n == BATCH) {
			if (put_keys(to, keys, n, &done) != 0)
				return -1;
			n = 0;
		}
	}
	return put_keys(to, keys, n, &done);
}

/* Replace the map by one for at least NEED entries: fill it, load the program over it, and
 * switch the attachment to that program in one step, so no lookup sees a half-filled map. */
static enum svc_status
grow(struct fwd_sklookup *sk, size_t need)
{
	uint64_t max = sk->max_entries;
	int map = -1, prog = -1;
	union bpf_attr a;
	enum svc_status st = SVC_EIO;

	while (max < need)
		max *= 2;
	if (max > UINT32_MAX / 2) {
		errno = E2BIG;
		return failed(sk, "growing the destination map");
	}
	map = dest_map((uint32_t)max);
	if (map < 0) {
		st = failed(sk, "BPF_MAP_CREATE (hash, growing)");
		goto done;
	}
	if (copy_map(sk, map) != 0) {
		st = failed(sk, "copying the destination map");
		goto done;
	}
	prog = prog_load(sk, map);
	if (prog < 0) {
		st = failed(sk, "BPF_PROG_LOAD (growing)");
		goto done;
	}
	if (sk->link_fd >= 0) {
		memset(&a, 0, sizeof(a));
		a.link_update.link_fd = (uint32_t)sk->link_fd;
		a.link_update.new_prog_fd = (uint32_t)prog;
		if (sys_bpf(BPF_LINK_UPDATE, &a) != 0) {
			st = failed(sk, "BPF_LINK_UPDATE");
			goto done;
		}
	}
	close_fd(&sk->map_fd);
	close_fd(&sk->prog_fd);
	sk->map_fd = map;
	sk->prog_fd = prog;
	map = prog = -1;
	sk->max_entries = (uint32_t)max;
	sk->grown++;
	st = SVC_OK;
done:
	close_fd(&map);
	close_fd(&prog);
	return st;
}

enum svc_status
fwd_sklookup_update(struct fwd_sklookup *sk, const struct fwd_sklookup_key *del, size_t n_del,
                    const struct fwd_sklookup_key *add, size_t n_add)
{
	size_t gone, done;
	enum svc_status st;

	if (n_del > 0) {
		if (del_keys(sk->map_fd, del, n_del, &gone) != 0)
			return failed(sk, "BPF_MAP_DELETE_BATCH");
		sk->n = gone > sk->n ? 0 : sk->n - gone;
	}
	/* Room for all first: growing mid-way would copy what was just added. The map holds at
	 * most half its size after growing, so growth is rare. */
	if (sk->n + n_add > sk->max_entries) {
		st = grow(sk, 2 * (sk->n + n_add));
		if (st != SVC_OK)
			return st;
	}
	while (n_add > 0) {
		if (put_keys(sk->map_fd, add, n_add, &done) == 0) {
			sk->n += done;
			break;
		}
		sk->n += done;
		if (errno != E2BIG)
			return failed(sk, "BPF_MAP_UPDATE_BATCH");
		/* Full after all (the map was changed behind our back): grow and go on. */
		add += done;
		n_add -= done;
		st = grow(sk, 2 * ((size_t)sk->max_entries + n_add));
		if (st != SVC_OK)
			return st;
	}
	return SVC_OK;
}

void
fwd_sklookup_close(struct fwd_sklookup *sk)
{
	close_fd(&sk->link_fd);
	close_fd(&sk->prog_fd);
	close_fd(&sk->sockmap_fd);
	close_fd(&sk->map_fd);
}
