/* dnsz.c -- build the cluster domain's answers from a cluster snapshot.
 *
 * Names and records follow the Kubernetes DNS specification 1.1.0 and, where it is silent,
 * CoreDNS's kubernetes plugin with "pods insecure" and reverse zones (kubeadm's Corefile): <zone>
 * SOA, NS (kube-dns.kube-system or ns.dns.<zone>) dns-version.<zone>          TXT "1.1.0"
 *   <svc>.<ns>.svc.<zone>       A/AAAA (ClusterIPs, or ready endpoints when headless), SRV per port
 *   _<port>._<proto>.<svc>...   SRV for each named port
 *   <host>.<svc>.<ns>.svc...    A/AAAA of ready endpoints with that hostname (else dashed IP)
 *   <svc>... (ExternalName)     CNAME
 *   reverse names               PTR for ClusterIPs, else for every endpoint name with that IP
 * Every name with a name below it exists (svc, pod, namespaces, _<proto>.<svc>, dns.<zone>), if
 * only as an empty non-terminal. Every answer is serialised here, once per snapshot, for a query
 * whose name is the owner; sorting, never pairwise comparison, finds what endpoints share, so a
 * big headless service builds in n log n. */
#include "dnsz.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vec.h"

#define ZB_SCRATCH  DNSW_MSG_MAX
#define ZB_MAX_RECS DNSZ_MAX_RECS
_Static_assert(DNSZ_MAX_RECS < (1 << 13) && DNSZ_NTYPES <= (1 << 3),
               "struct dnsz_answer's bit fields hold the counts and the type");
#define ZB_OPT_SPACE 11 /* an OPT record without options, appended at query time */

/* One (address, owner name) pair for PTR records; sorted and grouped at the end. */
struct zb_ptr {
	const uint8_t *name;
	uint32_t bucket; /* of the reverse names (ZB_BUCKETS): the piece that holds its name */
	struct netaddr addr;
	bool cluster_ip; /* ClusterIP PTRs win over endpoint PTRs */
	uint8_t len;
}; /* 32 bytes: a piece keeps one for each address it names, 590,000 at 100k services */

/* Reverse names are built in this many pieces, by address: a change rebuilds the pieces of the
 * addresses it touches (a few dozen names each at a million names). */
#define ZB_BUCKET_BITS 14
#define ZB_BUCKETS     (1u << ZB_BUCKET_BITS)

static uint32_t
ptr_bucket(const struct netaddr *a)
{
	return (netaddr_hash(a) * 2654435769u) >> (32 - ZB_BUCKET_BITS);
}

/* A piece of a zone, built from one source and shared by every version of the zone until that
 * source changes: the names of one namespace's services (from its shard), the apex with every
 * namespace's name, or the reverse names of one bucket of addresses. */
struct dnsz_part {
	int refs;                 /* atomic */
	struct arena arena;       /* its nodes and answers */
	const void *source;       /* the shard it was built from (a namespace's piece) */
	char *ns;                 /* a namespace's piece: the namespace */
	struct pmap_entry *names; /* its nodes, under their names' hashes */
	size_t n_names, cap_names;
	struct dnsz_podset *pods; /* its pods' addresses; NULL: none */
	struct zb_ptr *ptrs;      /* the PTR owners it gives, by reverse bucket, then address */
	size_t n_ptrs, cap_ptrs;
	/* A bucket's piece: the PTR owners of its addresses, in the pieces that give them (GIVERS,
	 * a reference each), in ptr_cmp's order. Its reverse names are made when asked
	 * (dnsz_find): 590,000 at 100k services, they were a third of the zone. */
	const struct zb_ptr **rev;
	size_t n_rev;
	struct dnsz_part **givers;
	size_t n_givers;
	char **targets; /* namespaces its ExternalNames' answers come from */
	size_t n_targets, cap_targets;
	size_t n_services;
	uint64_t update; /* the builder's update that made it */
};

/* A name of the piece being built, for finding it again while building. */
struct zb_local {
	struct htab_node hn;
	struct dnsz_node *node;
};

struct zb {
	struct dnsz *z; /* the version being made: apex, TTL, serial */
	const struct cluster *c;
	const struct dnsz_options *opts;
	struct dnsz_part *part; /* what is being built */
	struct htab local;      /* the part's names (struct zb_local) */
	struct arena local_mem;
	struct arena work; /* the piece being built gets it, and gives it back compacted */
	uint8_t *scratch;
	uint16_t *ends;
	uint8_t svc_apex[DNSW_NAME_MAX]; /* svc.<zone> */
	size_t svc_apex_len;
	uint8_t pod_apex[DNSW_NAME_MAX]; /* pod.<zone> */
	size_t pod_apex_len;
	enum svc_status status;
};

/* An answer being written: records go into the scratch buffer at message offset BASE. */
struct zb_blob {
	struct zb *zb;
	struct dnsw_wr w;
	size_t base;
	const uint8_t *owner;
	size_t owner_len;
	uint16_t n_rec;
	uint16_t counts[3];
	int section;
	bool stopped; /* a record did not fit: later ones are left out too */
	bool cut;     /* an answer or authority record was left out: the answer says TC */
	size_t rec_start;
	size_t rdlen_at;
};

static const uint8_t in_addr_arpa[] = {7,   'i', 'n', '-', 'a', 'd', 'd',
                                       'r', 4,   'a', 'r', 'p', 'a', 0};
static const uint8_t ip6_arpa[] = {3, 'i', 'p', '6', 4, 'a', 'r', 'p', 'a', 0};

struct dnsz *
dnsz_ref(struct dnsz *z)
{
	atomic_fetch_add_explicit((_Atomic int *)&z->refs, 1, memory_order_relaxed);
	return z;
}

static struct dnsz_part *
part_ref(struct dnsz_part *p)
{
	atomic_fetch_add_explicit((_Atomic int *)&p->refs, 1, memory_order_relaxed);
	return p;
}

/* A pod's address: an entry of dnsz.pods. */
struct dnsz_pod {
	struct netaddr ip;
	const char *ns;
};

/* A namespace's pods by address, apart from its piece: a piece built again with the same
 * addresses keeps the last one's set, and dnsz.pods stays as it was. */
struct dnsz_podset {
	int refs; /* atomic */
	char *ns;
	struct pmap_entry *entries; /* under netaddr_hash, each to one of ITEMS */
	size_t n;
	struct dnsz_pod items[];
};

static struct dnsz_podset *
podset_ref(struct dnsz_podset *ps)
{
	if (ps != NULL)
		atomic_fetch_add_explicit((_Atomic int *)&ps->refs, 1, memory_order_relaxed);
	return ps;
}

static void
podset_unref(struct dnsz_podset *ps)
{
	if (ps == NULL ||
	    atomic_fetch_sub_explicit((_Atomic int *)&ps->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(ps->entries);
	free(ps->ns);
	free(ps);
}

/* Whether A and B hold the same addresses (in the same order, as a shard's pods give them). */
static bool
podset_same(const struct dnsz_podset *a, const struct dnsz_podset *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;

	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!netaddr_equal(&a->items[i].ip, &b->items[i].ip))
			return false;
	return true;
}

static void
part_unref(struct dnsz_part *p)
{
	if (p == NULL ||
	    atomic_fetch_sub_explicit((_Atomic int *)&p->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < p->n_targets; i++)
		free(p->targets[i]);
	free(p->targets);
	free(p->names);
	podset_unref(p->pods);
	free(p->ptrs);
	free(p->rev);
	for (size_t i = 0; i < p->n_givers; i++)
		part_unref(p->givers[i]);
	free(p->givers);
	free(p->ns);
	arena_deinit(&p->arena);
	free(p);
}

static struct dnsz_part *
part_new(void)
{
	struct dnsz_part *p = calloc(1, sizeof(*p));

	if (p != NULL) {
		p->refs = 1;
		/* Most pieces are small: the reverse names of a few dozen addresses. */
		arena_init_small(&p->arena);
	}
	return p;
}

void
dnsz_unref(struct dnsz *z)
{
	if (z == NULL)
		return;
	if (atomic_fetch_sub_explicit((_Atomic int *)&z->refs, 1, memory_order_acq_rel) != 1)
		return;
	pmap_deinit(&z->names);
	pmap_deinit(&z->spaces);
	pmap_deinit(&z->pods);
	free(z->rev);
	for (size_t i = 0; i < z->n_parts; i++)
		part_unref(z->parts[i]);
	free(z->parts);
	free(z);
}

/* The key of namespace NS's piece in dnsz.spaces: the hash of its label in wire form. 0 for a
 * name that is no label (it has no names). */
static uint32_t
space_hash(const char *ns)
{
	uint8_t label[64];
	size_t len = strlen(ns);

	if (len == 0 || len > 63)
		return 0;
	label[0] = (uint8_t)len;
	memcpy(label + 1, ns, len);
	return dnsw_name_hash(label, len + 1);
}

/* Where the namespace label of NAME starts when NAME is a namespace piece's: under
 * <ns>.svc.<zone> with a label more. 0 otherwise (a namespace label never starts a piece's
 * name). */
static size_t
space_label_at(const struct dnsz *z, const uint8_t *name, size_t len)
{
	size_t prev = 0, pos = 0;

	while (pos < len && name[pos] != 0) {
		if (len - pos == z->apex_len + 4 && name[pos] == 3 &&
		    memcmp(name + pos + 1, "svc", 3) == 0 &&
		    memcmp(name + pos + 4, z->apex, z->apex_len) == 0)
			return prev; /* 0 when the namespace label is the first */
		prev = pos;
		pos += 1 + (size_t)name[pos];
	}
	return 0;
}

/* Node NAME (under HASH) in the names of piece P, which are in hash order. */
static const struct dnsz_node *
part_find(const struct dnsz_part *p, const uint8_t *name, size_t len, uint32_t hash)
{
	size_t lo = 0, hi = p->n_names;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->names[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < p->n_names && p->names[lo].hash == hash; lo++) {
		const struct dnsz_node *n = p->names[lo].item;

		if (n->name_len == len && memcmp(dnsz_node_name(n), name, len) == 0)
			return n;
	}
	return NULL;
}

static const struct dnsz_node *find_reverse(const struct dnsz *z, const uint8_t *name, size_t len);

const struct dnsz_node *
dnsz_find(const struct dnsz *z, const uint8_t *name, size_t len, uint32_t hash)
{
	const struct pmap_entry *e, *end;
	size_t at = space_label_at(z, name, len);

	if (at > 0) {
		/* A namespace's name: in its piece alone. */
		size_t llen = name[at];

		end = pmap_find(&z->spaces, dnsw_name_hash(name + at, llen + 1), &e);
		for (; e != NULL && e < end; e++) {
			const struct dnsz_part *p = e->item;

			if (strlen(p->ns) == llen && memcmp(p->ns, name + at + 1, llen) == 0)
				return part_find(p, name, len, hash);
		}
		return NULL;
	}
	end = pmap_find(&z->names, hash, &e);
	for (; e != NULL && e < end; e++) {
		const struct dnsz_node *n = e->item;

		if (n->name_len == len && memcmp(dnsz_node_name(n), name, len) == 0)
			return n;
	}
	return find_reverse(z, name, len);
}

struct each_node {
	void (*fn)(void *arg, const struct dnsz_node *n);
	void *arg;
};

static void
on_each_node(void *arg, const struct pmap_entry *e)
{
	struct each_node *en = arg;

	en->fn(en->arg, e->item);
}

static void
on_each_space(void *arg, const struct pmap_entry *e)
{
	const struct dnsz_part *p = e->item;

	for (size_t i = 0; i < p->n_names; i++)
		on_each_node(arg, &p->names[i]);
}

void
dnsz_each_node(const struct dnsz *z, void (*fn)(void *arg, const struct dnsz_node *n), void *arg)
{
	struct each_node en = {fn, arg};

	pmap_each(&z->names, on_each_node, &en);
	pmap_each(&z->spaces, on_each_space, &en);
}

const struct dnsz_node *
dnsz_next_node(const struct dnsz *z, struct dnsz_cursor *c)
{
	/* Every name is in one piece's list: the apex piece's are the names map, the namespace
	 * pieces' the spaces map (dnsz_update). */
	while (c->part < z->n_parts) {
		const struct dnsz_part *p = z->parts[c->part];

		if (c->name < p->n_names)
			return p->names[c->name++].item;
		c->part++;
		c->name = 0;
	}
	return NULL;
}

static int
cmp_part(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (struct dnsz_part *const *)a;
	uintptr_t y = (uintptr_t) * (struct dnsz_part *const *)b;

	return x < y ? -1 : x > y;
}

void
dnsz_each_changed_node(const struct dnsz *z, const struct dnsz *other,
                       void (*fn)(void *arg, const struct dnsz_node *n), void *arg)
{
	struct dnsz_part **theirs = NULL;
	size_t n = other != NULL ? other->n_parts : 0;

	if (n > 0) {
		theirs = malloc(n * sizeof(*theirs));
		if (theirs == NULL) {
			n = 0; /* then every name: more than needed, never less */
		} else {
			memcpy(theirs, other->parts, n * sizeof(*theirs));
			qsort(theirs, n, sizeof(*theirs), cmp_part);
		}
	}
	for (size_t i = 0; i < z->n_parts; i++) {
		const struct dnsz_part *p = z->parts[i];

		if (n > 0 && bsearch(&z->parts[i], theirs, n, sizeof(*theirs), cmp_part) != NULL)
			continue;
		for (size_t k = 0; k < p->n_names; k++)
			fn(arg, p->names[k].item);
	}
	free(theirs);
}

const char *
dnsz_pod_ns(const struct dnsz *z, const struct netaddr *ip)
{
	const struct pmap_entry *e, *end = pmap_find(&z->pods, netaddr_hash(ip), &e);
	const char *ns = NULL;

	/* Each namespace's piece keeps the first of its pods with an address; between
	 * namespaces the first in namespace order wins. */
	for (; e != NULL && e < end; e++) {
		const struct dnsz_pod *p = e->item;

		if (netaddr_equal(&p->ip, ip) && (ns == NULL || strcmp(p->ns, ns) < 0))
			ns = p->ns;
	}
	return ns;
}

size_t
dnsz_dashed_ip(const struct netaddr *a, char *buf)
{
	size_t n;

	netaddr_str(a, buf);
	n = strlen(buf);
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '.' || buf[i] == ':')
			buf[i] = '-';
	}
	/* A label may not end in '-' ("fd00::" -> "fd00--0"). */
	if (n > 0 && buf[n - 1] == '-') {
		buf[n++] = '0';
		buf[n] = '\0';
	}
	if (n > 0 && buf[0] == '-') {
		memmove(buf + 1, buf, n + 1);
		buf[0] = '0';
		n++;
	}
	return n;
}

bool
dnsz_parse_dashed_ip(const uint8_t *label, size_t len, struct netaddr *out)
{
	char text[DNSW_LABEL_MAX + 1];
	unsigned dashes = 0;
	bool double_dash = false;

	if (len == 0 || len > DNSW_LABEL_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = (char)label[i];

		if (ch == '-') {
			dashes++;
			if (i > 0 && label[i - 1] == '-')
				double_dash = true;
		}
		text[i] = ch;
	}
	text[len] = '\0';
	if (dashes == 3 && !double_dash) {
		for (size_t i = 0; i < len; i++) {
			if (text[i] == '-')
				text[i] = '.';
		}
		return netaddr_parse(out, text) == SVC_OK && out->family == NETADDR_V4;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '-')
			text[i] = ':';
	}
	return netaddr_parse(out, text) == SVC_OK && out->family == NETADDR_V6;
}

/* ---- names ---- */

/* OUT = LABEL . SUFFIX; false when it would exceed 255 octets or LABEL is not a label. */
static bool
name_prepend(uint8_t *out, size_t *out_len, const char *label, size_t llen, const uint8_t *suffix,
             size_t slen)
{
	if (llen == 0 || llen > DNSW_LABEL_MAX || 1 + llen + slen > DNSW_NAME_MAX)
		return false;
	memmove(out + 1 + llen, suffix, slen);
	out[0] = (uint8_t)llen;
	memcpy(out + 1, label, llen);
	dnsw_name_lower(out, 1 + llen);
	*out_len = 1 + llen + slen;
	return true;
}

static bool
name_prepend_str(uint8_t *out, size_t *out_len, const char *label, const uint8_t *suffix,
                 size_t slen)
{
	return name_prepend(out, out_len, label, strlen(label), suffix, slen);
}

/* ---- the node table ---- */

static bool
entry_push(struct pmap_entry **arr, size_t *n, size_t *cap, uint32_t hash, const void *item)
{
	struct pmap_entry *e = vec_push(arr, n, cap, sizeof(**arr), NULL);

	if (e == NULL)
		return false;
	*e = (struct pmap_entry){hash, item};
	return true;
}

/* A new node for NAME (under HASH), which the piece must not have yet; NULL when out of memory.
 */
static struct dnsz_node *
zb_node_add(struct zb *zb, const uint8_t *name, size_t len, size_t apex_len, uint32_t hash)
{
	struct dnsz_part *part = zb->part;
	struct dnsz_node *n;
	struct zb_local *l;
	uint8_t *copy;

	/* The name right behind its node: a lookup that finds the node finds the name in the
	 * same or the next cache line. */
	n = arena_alloc_aligned(&part->arena, sizeof(*n) + len, _Alignof(struct dnsz_node));
	l = arena_alloc(&zb->local_mem, sizeof(*l));
	if (n == NULL || l == NULL || htab_insert(&zb->local, &l->hn, hash) != SVC_OK ||
	    !entry_push(&part->names, &part->n_names, &part->cap_names, hash, n)) {
		zb->status = SVC_ENOMEM;
		return NULL;
	}
	l->node = n;
	copy = (uint8_t *)(n + 1);
	memcpy(copy, name, len);
	n->name_len = (uint8_t)len;
	n->apex_len = (uint8_t)apex_len;
	return n;
}

/* The node for NAME, made when missing; NULL only when out of memory. */
static struct dnsz_node *
zb_node(struct zb *zb, const uint8_t *name, size_t len, size_t apex_len)
{
	uint32_t hash = dnsw_name_hash(name, len);

	for (struct htab_node *hn = htab_find(&zb->local, hash); hn != NULL;
	     hn = htab_next(hn, hash)) {
		struct dnsz_node *n = htab_item(hn, struct zb_local, hn)->node;

		if (n->name_len == len && memcmp(dnsz_node_name(n), name, len) == 0)
			return n; /* the piece's own node: building may still add to it */
	}
	return zb_node_add(zb, name, len, apex_len, hash);
}

/* ---- answers ---- */

static void
blob_begin(struct zb_blob *b, struct zb *zb, const uint8_t *owner, size_t owner_len)
{
	memset(b, 0, sizeof(*b));
	b->zb = zb;
	b->owner = owner;
	b->owner_len = owner_len;
	b->base = DNSW_HEADER + owner_len + 4;
	/* Leave room for the header, the question and an OPT, so the answer always fits TCP. */
	dnsw_wr_init(&b->w, zb->scratch, ZB_SCRATCH - b->base - ZB_OPT_SPACE);
}

/* Write NAME, compressed against the owner (which is the query name at offset 12, so always in
 * reach of a pointer). */
static void
blob_name(struct zb_blob *b, const uint8_t *name, size_t len)
{
	size_t pos = 0;

	while (pos < len && name[pos] != 0) {
		int at = dnsw_name_suffix_at(b->owner, b->owner_len, name + pos, len - pos);

		if (at >= 0) {
			dnsw_wr_bytes(&b->w, name, pos);
			dnsw_wr_ptr(&b->w, DNSW_HEADER + (size_t)at);
			return;
		}
		pos += 1 + (size_t)name[pos];
	}
	dnsw_wr_bytes(&b->w, name, len);
}

/* The message offset the next byte written goes to. */
static size_t
blob_at(const struct zb_blob *b)
{
	return b->base + b->w.len;
}

/* Write NAME, a copy of which is at message offset AT (0: none yet): a pointer to it when one
 * reaches that far (DNSW_PTR_MAX), else the name itself, compressed against the owner. A big
 * answer has names past 16 KiB; pointing at them would need more than 14 bits. */
static void
blob_ref(struct zb_blob *b, const uint8_t *name, size_t len, size_t at)
{
	if (at != 0 && at <= DNSW_PTR_MAX)
		dnsw_wr_ptr(&b->w, at);
	else
		blob_name(b, name, len);
}

/* Start a record in SECTION (0 answer, 1 authority, 2 additional) owned by NAME, a copy of
 * which is at message offset AT (DNSW_HEADER for the answer's own owner). Returns false once the
 * answer is full. */
static bool
blob_rr(struct zb_blob *b, int section, const uint8_t *name, size_t len, size_t at, uint16_t type,
        uint32_t ttl)
{
	if (b->stopped || b->n_rec >= ZB_MAX_RECS) {
		b->cut |= section < 2;
		return false;
	}
	b->section = section;
	b->rec_start = b->w.len;
	blob_ref(b, name, len, at);
	dnsw_wr_u16(&b->w, type);
	dnsw_wr_u16(&b->w, DNSW_C_IN);
	dnsw_wr_u32(&b->w, ttl);
	b->rdlen_at = b->w.len;
	dnsw_wr_u16(&b->w, 0);
	return true;
}

static void
blob_rr_end(struct zb_blob *b)
{
	if (b->w.full) {
		/* Drop the partial record; the answer keeps every record before it. */
		b->w.full = false;
		b->w.len = b->rec_start;
		b->stopped = true;
		b->cut |= b->section < 2;
		return;
	}
	dnsw_put16(b->w.buf + b->rdlen_at, (uint16_t)(b->w.len - b->rdlen_at - 2));
	b->zb->ends[b->n_rec++] = (uint16_t)b->w.len;
	b->counts[b->section]++;
}

/* An A or AAAA record owned by NAME (a copy at AT), as blob_rr. */
static void
blob_addr(struct zb_blob *b, int section, const uint8_t *name, size_t len, size_t at,
          const struct netaddr *a, uint32_t ttl)
{
	bool v4 = a->family == NETADDR_V4;

	if (!blob_rr(b, section, name, len, at, v4 ? DNSW_T_A : DNSW_T_AAAA, ttl))
		return;
	dnsw_wr_bytes(&b->w, a->bytes, v4 ? 4 : 16);
	blob_rr_end(b);
}

static size_t
blob_size(const struct zb_blob *b)
{
	return sizeof(struct dnsz_answer) + b->n_rec * sizeof(uint16_t) + b->w.len;
}

/* The answer B wrote into ANS (blob_size bytes): the header, its record ends, its wire. */
static struct dnsz_answer *
blob_put(const struct zb_blob *b, struct dnsz_answer *ans)
{
	uint16_t *ends;
	uint8_t *wire;

	ends = (uint16_t *)(ans + 1);
	wire = (uint8_t *)(ends + b->n_rec);
	/* dnsz_answer_wire finds the wire bytes behind an + ns + ar ends. */
	memcpy(wire, b->w.buf, b->w.len);
	memcpy(ends, b->zb->ends, b->n_rec * sizeof(*ends));
	ans->len = (uint16_t)b->w.len;
	ans->an = b->counts[0];
	ans->ns = b->counts[1];
	ans->ar = b->counts[2];
	ans->cut = b->cut ? 1 : 0;
	return ans;
}

static struct dnsz_answer *
blob_end(struct zb_blob *b)
{
	/* One allocation: the answer, its record ends, then its wire bytes. */
	struct dnsz_answer *ans = arena_alloc_aligned(&b->zb->part->arena, blob_size(b),
	                                              _Alignof(struct dnsz_answer));

	if (ans == NULL) {
		b->zb->status = SVC_ENOMEM;
		return NULL;
	}
	return blob_put(b, ans);
}

/* Make A the answer of NODE for TYPE, replacing any; A NULL removes it. */
static void
node_set(struct dnsz_node *node, enum dnsz_rtype type, struct dnsz_answer *a)
{
	const struct dnsz_answer **pp = &node->answers;

	/* Answers are the zone's own, writable while it is built. */
	while (*pp != NULL && (*pp)->type != type)
		pp = &((struct dnsz_answer *)(uintptr_t)*pp)->next;
	if (*pp != NULL)
		*pp = (*pp)->next;
	if (a != NULL) {
		a->type = (uint8_t)type;
		a->next = node->answers;
		node->answers = a;
	}
}

/* ---- record sets ---- */

static bool
addr_in(const struct netaddr *list, size_t n, const struct netaddr *a)
{
	for (size_t i = 0; i < n; i++) {
		if (netaddr_equal(&list[i], a))
			return true;
	}
	return false;
}

/* An address and its place in a list: sorting these finds repeats in n log n. */
struct addr_pos {
	struct netaddr a;
	size_t pos;
};

static int
addr_pos_cmp(const void *x, const void *y)
{
	const struct addr_pos *a = x, *b = y;
	int c = netaddr_cmp(&a->a, &b->a);

	if (c != 0)
		return c;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* REPEAT[I] (N entries, zeroed by the caller) becomes true when LIST[I] equals an earlier entry.
 * False when out of memory. */
static bool
mark_repeats(const struct netaddr *list, size_t n, bool *repeat)
{
	struct addr_pos *s;

	if (n < 2)
		return true;
	s = malloc(n * sizeof(*s));
	if (s == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		s[i] = (struct addr_pos){list[i], i};
	qsort(s, n, sizeof(*s), addr_pos_cmp);
	for (size_t i = 1; i < n; i++) {
		if (netaddr_equal(&s[i].a, &s[i - 1].a))
			repeat[s[i].pos] = true;
	}
	free(s);
	return true;
}

/* A and AAAA answers at NODE for the addresses in LIST, in list order, each once. */
static void
set_addrs(struct zb *zb, struct dnsz_node *node, const struct netaddr *list, size_t n)
{
	bool *repeat = calloc(n ? n : 1, sizeof(*repeat));

	if (repeat == NULL || !mark_repeats(list, n, repeat)) {
		zb->status = SVC_ENOMEM;
		goto done;
	}
	for (int fam = 0; fam < 2; fam++) {
		uint8_t family = fam == 0 ? NETADDR_V4 : NETADDR_V6;
		struct zb_blob b;
		size_t count = 0;

		blob_begin(&b, zb, dnsz_node_name(node), node->name_len);
		for (size_t i = 0; i < n; i++) {
			if (list[i].family != family || repeat[i])
				continue;
			blob_addr(&b, 0, dnsz_node_name(node), node->name_len, DNSW_HEADER,
			          &list[i], zb->z->ttl);
			count++;
		}
		if (count > 0)
			node_set(node, fam == 0 ? DNSZ_A : DNSZ_AAAA, blob_end(&b));
	}
done:
	free(repeat);
}

/* One SRV backend: a port on a target name, with the target's addresses. */
struct srv_entry {
	uint16_t port;
	const uint8_t *target;
	size_t target_len;
	const struct netaddr *addr;
	size_t at; /* message offset of the target's first copy in the answer; 0 before */
};

static int
name_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return a == b ? 0 : memcmp(a, b, alen);
}

/* By target, then port, then address: equal (target, port) pairs are neighbours. */
static int
srv_by_port(const void *a, const void *b)
{
	const struct srv_entry *x = a, *y = b;
	int c = name_cmp(x->target, x->target_len, y->target, y->target_len);

	if (c != 0)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return netaddr_cmp(x->addr, y->addr);
}

/* By target, then address: equal (target, address) pairs are neighbours. */
static int
srv_by_addr(const void *a, const void *b)
{
	const struct srv_entry *x = a, *y = b;
	int c = name_cmp(x->target, x->target_len, y->target, y->target_len);

	if (c != 0)
		return c;
	c = netaddr_cmp(x->addr, y->addr);
	if (c != 0)
		return c;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* SRV answer at NODE from N entries: priority 0, weight floor(100 / N) as CoreDNS (N counts
 * entries before deduplication), one SRV per (target, port), one address per (target, address)
 * in the additional section. Both are deduplicated by sorting: n log n for a big headless
 * service. */
static void
set_srv(struct zb *zb, struct dnsz_node *node, struct srv_entry *e, size_t n)
{
	struct zb_blob b;
	uint16_t weight;
	size_t done = 0; /* e[0 .. done) have their SRV in the answer */

	if (n == 0)
		return;
	qsort(e, n, sizeof(*e), srv_by_port);
	weight = (uint16_t)(100 / n > 0 ? 100 / n : 1);
	blob_begin(&b, zb, dnsz_node_name(node), node->name_len);
	for (; done < n; done++) {
		const struct srv_entry *prev = done > 0 ? &e[done - 1] : NULL;
		bool same_target = prev != NULL && name_cmp(e[done].target, e[done].target_len,
		                                            prev->target, prev->target_len) == 0;

		e[done].at = same_target ? prev->at : 0;
		if (same_target && e[done].port == prev->port)
			continue;
		if (!blob_rr(&b, 0, dnsz_node_name(node), node->name_len, DNSW_HEADER, DNSW_T_SRV,
		             zb->z->ttl))
			break;
		dnsw_wr_u16(&b.w, 0);
		dnsw_wr_u16(&b.w, weight);
		dnsw_wr_u16(&b.w, e[done].port);
		if (e[done].at != 0) {
			blob_ref(&b, e[done].target, e[done].target_len, e[done].at);
		} else {
			e[done].at = blob_at(&b);
			blob_name(&b, e[done].target, e[done].target_len);
		}
		blob_rr_end(&b);
		if (b.stopped)
			break; /* this record was dropped, and with it its AT */
	}
	qsort(e, done, sizeof(*e), srv_by_addr);
	for (size_t i = 0; i < done && !b.stopped; i++) {
		if (i > 0 &&
		    name_cmp(e[i].target, e[i].target_len, e[i - 1].target, e[i - 1].target_len) ==
		            0 &&
		    netaddr_equal(e[i].addr, e[i - 1].addr))
			continue;
		blob_addr(&b, 2, e[i].target, e[i].target_len, e[i].at, e[i].addr, zb->z->ttl);
	}
	node_set(node, DNSZ_SRV, blob_end(&b));
}

static void
add_ptr(struct zb *zb, const struct netaddr *a, bool cluster_ip, const struct dnsz_node *owner)
{
	struct dnsz_part *part = zb->part;
	struct zb_ptr *p = vec_push(&part->ptrs, &part->n_ptrs, &part->cap_ptrs, sizeof(*p), NULL);

	if (p == NULL) {
		zb->status = SVC_ENOMEM;
		return;
	}
	*p = (struct zb_ptr){dnsz_node_name(owner), ptr_bucket(a), *a, cluster_ip, owner->name_len};
}

static int
ptr_cmp(const void *a, const void *b)
{
	const struct zb_ptr *x = a, *y = b;
	int c = x->bucket != y->bucket ? (x->bucket < y->bucket ? -1 : 1)
	                               : netaddr_cmp(&x->addr, &y->addr);

	if (c != 0)
		return c;
	if (x->cluster_ip != y->cluster_ip)
		return x->cluster_ip ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->name, y->name, x->len);
}

/* The reverse name of A: "4.3.2.1.in-addr.arpa" or 32 nibbles under ip6.arpa. */
static size_t
reverse_name(const struct netaddr *a, uint8_t *out, size_t *apex_len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (a->family == NETADDR_V4) {
		for (int i = 3; i >= 0; i--) {
			char buf[4];
			int len = 0;
			unsigned v = a->bytes[i];

			if (v >= 100)
				buf[len++] = (char)('0' + v / 100);
			if (v >= 10)
				buf[len++] = (char)('0' + v / 10 % 10);
			buf[len++] = (char)('0' + v % 10);
			out[n++] = (uint8_t)len;
			memcpy(out + n, buf, (size_t)len);
			n += (size_t)len;
		}
		memcpy(out + n, in_addr_arpa, sizeof(in_addr_arpa));
		*apex_len = sizeof(in_addr_arpa);
		return n + sizeof(in_addr_arpa);
	}
	for (int i = 15; i >= 0; i--) {
		out[n++] = 1;
		out[n++] = (uint8_t)hex[a->bytes[i] & 0xf];
		out[n++] = 1;
		out[n++] = (uint8_t)hex[a->bytes[i] >> 4];
	}
	memcpy(out + n, ip6_arpa, sizeof(ip6_arpa));
	*apex_len = sizeof(ip6_arpa);
	return n + sizeof(ip6_arpa);
}

/* Where a reverse name is made when asked: the node, its name right behind it (as
 * dnsz_node_name wants), and its PTR answer. One per thread, valid until its next lookup. */
struct rev_buf {
	struct dnsz_node node;
	uint8_t name[DNSW_NAME_MAX];
	uint8_t scratch[ZB_SCRATCH];
	uint16_t ends[ZB_MAX_RECS];
	_Alignas(struct dnsz_answer) uint8_t
	        answer[sizeof(struct dnsz_answer) + ZB_MAX_RECS * sizeof(uint16_t) + ZB_SCRATCH];
};

static _Thread_local struct rev_buf rev_buf;

/* Address A from reverse name NAME (LEN bytes): true only for the very name reverse_name
 * gives, so every other spelling stays a name the zone does not have. */
static bool
reverse_addr(const uint8_t *name, size_t len, struct netaddr *a, size_t *apex_len)
{
	uint8_t again[DNSW_NAME_MAX];
	size_t pos = 0;

	memset(a, 0, sizeof(*a));
	if (len > sizeof(in_addr_arpa) &&
	    memcmp(name + len - sizeof(in_addr_arpa), in_addr_arpa, sizeof(in_addr_arpa)) == 0) {
		a->family = NETADDR_V4;
		for (int i = 3; i >= 0; i--) {
			unsigned v = 0, l = name[pos];

			if (l < 1 || l > 3 || pos + 1 + l > len - sizeof(in_addr_arpa))
				return false;
			for (unsigned k = 0; k < l; k++) {
				uint8_t c = name[pos + 1 + k];

				if (c < '0' || c > '9')
					return false;
				v = v * 10 + (unsigned)(c - '0');
			}
			if (v > 255)
				return false;
			a->bytes[i] = (uint8_t)v;
			pos += 1 + l;
		}
	} else if (len > sizeof(ip6_arpa) &&
	           memcmp(name + len - sizeof(ip6_arpa), ip6_arpa, sizeof(ip6_arpa)) == 0) {
		a->family = NETADDR_V6;
		for (int t = 0; t < 32; t++) { /* the low nibble of the last byte first */
			uint8_t c;
			unsigned v;

			if (pos + 2 > len - sizeof(ip6_arpa) || name[pos] != 1)
				return false;
			c = name[pos + 1];
			if (c >= '0' && c <= '9')
				v = (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = (unsigned)(c - 'a' + 10);
			else
				return false;
			a->bytes[15 - t / 2] |= (uint8_t)(t % 2 ? v << 4 : v);
			pos += 2;
		}
	} else {
		return false;
	}
	return reverse_name(a, again, apex_len) == len && memcmp(again, name, len) == 0;
}

/* The reverse name NAME (LEN bytes, under APEX_LEN bytes of its apex) with its PTR answer, in
 * this thread's buffer, from the N owners of its address in ptr_cmp's order. A ClusterIP names
 * its service only; duplicates collapse. */
static const struct dnsz_node *
reverse_node(const struct dnsz *z, const uint8_t *name, size_t len, size_t apex_len,
             const struct zb_ptr *const *ptrs, size_t n)
{
	struct rev_buf *rb = &rev_buf;
	struct dnsz_answer *ans;
	struct zb zq;
	struct zb_blob b;

	memset(&zq, 0, sizeof(zq));
	zq.scratch = rb->scratch;
	zq.ends = rb->ends;
	blob_begin(&b, &zq, name, len);
	for (size_t j = 0; j < n; j++) {
		const struct zb_ptr *p = ptrs[j];

		if (j > 0 &&
		    (ptrs[0]->cluster_ip || (p->len == ptrs[j - 1]->len &&
		                             memcmp(p->name, ptrs[j - 1]->name, p->len) == 0)))
			continue;
		if (!blob_rr(&b, 0, name, len, DNSW_HEADER, DNSW_T_PTR, z->ttl))
			break;
		dnsw_wr_bytes(&b.w, p->name, p->len);
		blob_rr_end(&b);
	}
	memset(&rb->node, 0, sizeof(rb->node));
	ans = blob_put(&b, (struct dnsz_answer *)(void *)rb->answer);
	ans->next = NULL;
	ans->type = DNSZ_PTR;
	rb->node.answers = ans;
	rb->node.name_len = (uint8_t)len;
	rb->node.flags = DNSZ_NODE_REVERSE;
	rb->node.apex_len = (uint8_t)apex_len;
	memcpy(rb->name, name, len);
	return &rb->node;
}

size_t
dnsz_reverse_owned(const struct dnsz *z, const uint8_t *name, size_t len)
{
	struct netaddr a;
	size_t apex_len, pos = 0;

	if (!reverse_addr(name, len, &a, &apex_len))
		return 0;
	for (size_t i = 0; i < z->n_service_cidrs; i++) {
		const struct netaddr_prefix *p = &z->service_cidrs[i];
		unsigned all = a.family == NETADDR_V4 ? 4 : 32;
		unsigned keep = a.family == NETADDR_V4 ? p->len / 8u : p->len / 4u;

		if (p->addr.family != a.family || !netaddr_in_prefix(&a, p))
			continue;
		/* Skip the address labels below the zone's: the least significant come first. */
		for (unsigned k = 0; k < all - keep; k++)
			pos += 1u + name[pos];
		return len - pos;
	}
	return 0;
}

/* NAME's node when it is the reverse name of an address with PTR owners, made here. */
static const struct dnsz_node *
find_reverse(const struct dnsz *z, const uint8_t *name, size_t len)
{
	struct netaddr a;
	size_t apex_len, lo = 0, hi;
	const struct dnsz_part *p;

	if (z->rev == NULL || !reverse_addr(name, len, &a, &apex_len))
		return NULL;
	p = z->rev[ptr_bucket(&a)];
	if (p == NULL)
		return NULL;
	/* One bucket: in address order. */
	hi = p->n_rev;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (netaddr_cmp(&p->rev[mid]->addr, &a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (hi = lo; hi < p->n_rev && netaddr_equal(&p->rev[hi]->addr, &a); hi++)
		;
	return lo < hi ? reverse_node(z, name, len, apex_len, p->rev + lo, hi - lo) : NULL;
}

/* ---- services ---- */

/* Endpoint name under the service: its hostname, else its dashed IP. */
static bool
endpoint_name(const struct cluster_endpoint *ep, const uint8_t *svc, size_t svc_len, uint8_t *out,
              size_t *out_len)
{
	char dashed[64];

	if (ep->hostname != NULL && ep->hostname[0] != '\0')
		return name_prepend_str(out, out_len, ep->hostname, svc, svc_len);
	dnsz_dashed_ip(&ep->ip, dashed);
	return name_prepend_str(out, out_len, dashed, svc, svc_len);
}

static const char *
proto_label(enum cluster_proto p)
{
	switch (p) {
	case CLUSTER_UDP:
		return "_udp";
	case CLUSTER_SCTP:
		return "_sctp";
	case CLUSTER_TCP:
	default:
		return "_tcp";
	}
}

/* An endpoint with its name: sorting these groups the endpoints that share a name. */
struct ep_name {
	struct dnsz_node *node;
	size_t i; /* index into the service's endpoints */
};

static int
ep_name_cmp(const void *a, const void *b)
{
	const struct ep_name *x = a, *y = b;

	if (x->node != y->node)
		return (uintptr_t)x->node < (uintptr_t)y->node ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Ready endpoints' names, A/AAAA at each, and PTRs for their addresses. The name of endpoint I
 * goes to NAMES[I] (NULL when it has none). Several endpoints may share a hostname: the name
 * gets all their addresses, in endpoint order; grouping them by sorting keeps this n log n. */
static void
build_endpoint_names(struct zb *zb, const struct cluster_service *s, const struct dnsz_node *svc,
                     const struct dnsz_node **names)
{
	struct netaddr *addrs = calloc(s->n_endpoints ? s->n_endpoints : 1, sizeof(*addrs));
	struct ep_name *eps = calloc(s->n_endpoints ? s->n_endpoints : 1, sizeof(*eps));
	size_t n_eps = 0;

	if (addrs == NULL || eps == NULL) {
		zb->status = SVC_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < s->n_endpoints && zb->status == SVC_OK; i++) {
		const struct cluster_endpoint *ep = &s->endpoints[i];
		uint8_t name[DNSW_NAME_MAX];
		size_t len;
		struct dnsz_node *node;

		names[i] = NULL;
		if (!ep->ready ||
		    !endpoint_name(ep, dnsz_node_name(svc), svc->name_len, name, &len))
			continue;
		node = zb_node(zb, name, len, zb->z->apex_len);
		if (node == NULL)
			break;
		names[i] = node;
		/* Every ready address names its endpoint, also when a hostname is shared. */
		add_ptr(zb, &ep->ip, false, node);
		eps[n_eps++] = (struct ep_name){node, i};
	}
	qsort(eps, n_eps, sizeof(*eps), ep_name_cmp);
	for (size_t g = 0, end; g < n_eps && zb->status == SVC_OK; g = end) {
		size_t n = 0;

		for (end = g; end < n_eps && eps[end].node == eps[g].node; end++)
			addrs[n++] = s->endpoints[eps[end].i].ip;
		set_addrs(zb, eps[g].node, addrs, n);
	}
done:
	free(addrs);
	free(eps);
}

static void
build_service(struct zb *zb, const struct cluster_service *s, const uint8_t *ns_name, size_t ns_len)
{
	uint8_t name[DNSW_NAME_MAX];
	size_t len, n_srv = 0;
	struct dnsz_node *node;
	const struct dnsz_node **ep_names = NULL;
	struct srv_entry *srv = NULL;
	struct netaddr *ready = NULL;
	size_t n_ready = 0;

	if (s->type == CLUSTER_SVC_EXTERNALNAME)
		return; /* after every other service: its CNAME may point at one */
	if (!name_prepend_str(name, &len, s->meta.name, ns_name, ns_len))
		return;
	ready = calloc(s->n_endpoints + 1, sizeof(*ready));
	ep_names = calloc(s->n_endpoints + 1, sizeof(*ep_names));
	srv = calloc((s->n_endpoints + 2) * (s->n_ports + 1), sizeof(*srv));
	if (ready == NULL || ep_names == NULL || srv == NULL) {
		zb->status = SVC_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < s->n_endpoints; i++) {
		if (s->endpoints[i].ready)
			ready[n_ready++] = s->endpoints[i].ip;
	}
	/* A headless service with no ready endpoints does not exist in DNS (spec 2.4.1). */
	if (s->headless && n_ready == 0)
		goto done;
	node = zb_node(zb, name, len, zb->z->apex_len);
	if (node == NULL)
		goto done;
	zb->part->n_services++;
	build_endpoint_names(zb, s, node, ep_names);
	if (zb->status != SVC_OK)
		goto done;
	if (s->headless) {
		set_addrs(zb, node, ready, n_ready);
	} else {
		set_addrs(zb, node, s->cluster_ips, s->n_cluster_ips);
		for (size_t i = 0; i < s->n_cluster_ips; i++)
			add_ptr(zb, &s->cluster_ips[i], true, node);
	}

	/* SRV: on the bare name for every port, on _port._proto for each named one. */
	for (size_t pass = 0; pass <= s->n_ports; pass++) {
		const struct cluster_port *only = pass > 0 ? &s->ports[pass - 1] : NULL;
		struct dnsz_node *at = node;

		n_srv = 0;
		if (only != NULL) {
			uint8_t proto[DNSW_NAME_MAX], pname[DNSW_NAME_MAX];
			char label[DNSW_LABEL_MAX + 1];
			size_t prlen, plen;
			int w;

			if (only->name == NULL)
				continue;
			w = snprintf(label, sizeof(label), "_%s", only->name);
			if (w <= 0 ||
			    !name_prepend_str(proto, &prlen, proto_label(only->proto), name, len) ||
			    !name_prepend(pname, &plen, label, (size_t)w, proto, prlen))
				continue;
			/* With a name below it, _<proto>.<svc> exists, empty: NODATA, not the
			 * NXDOMAIN RFC 8020 resolvers take for "nothing below". */
			if (zb_node(zb, proto, prlen, zb->z->apex_len) == NULL)
				goto done;
			at = zb_node(zb, pname, plen, zb->z->apex_len);
			if (at == NULL)
				goto done;
		}
		for (size_t p = 0; p < s->n_ports; p++) {
			if (only != NULL && only != &s->ports[p])
				continue;
			if (!s->headless) {
				for (size_t i = 0; i < s->n_cluster_ips; i++)
					srv[n_srv++] = (struct srv_entry){
					        .port = (uint16_t)s->ports[p].port,
					        .target = dnsz_node_name(node),
					        .target_len = node->name_len,
					        .addr = &s->cluster_ips[i]};
				continue;
			}
			for (size_t i = 0; i < s->n_endpoints; i++) {
				const struct cluster_endpoint *ep = &s->endpoints[i];

				if (ep_names[i] == NULL || ep->ports[p] <= 0)
					continue;
				srv[n_srv++] =
				        (struct srv_entry){.port = (uint16_t)ep->ports[p],
				                           .target = dnsz_node_name(ep_names[i]),
				                           .target_len = ep_names[i]->name_len,
				                           .addr = &ep->ip};
			}
		}
		set_srv(zb, at, srv, n_srv);
	}
done:
	free(ready);
	free(ep_names);
	free(srv);
}

static void
part_depends(struct zb *zb, const char *ns)
{
	struct dnsz_part *p = zb->part;
	char **slot, *copy;

	for (size_t i = 0; i < p->n_targets; i++)
		if (strcmp(p->targets[i], ns) == 0)
			return;
	copy = strdup(ns);
	slot = copy ? vec_push(&p->targets, &p->n_targets, &p->cap_targets, sizeof(*slot), NULL)
	            : NULL;
	if (slot == NULL) {
		free(copy);
		zb->status = SVC_ENOMEM;
		return;
	}
	*slot = copy;
}

/* The addresses a name inside the zone stands for, when it is a service: for an ExternalName
 * that points back into the cluster. */
static size_t
service_addrs(struct zb *zb, const uint8_t *target, size_t tlen, struct netaddr *out, size_t cap)
{
	char text[DNSW_NAME_MAX * 4 + 1], *svc, *ns, *dot;
	int at = dnsw_name_suffix_at(target, tlen, zb->svc_apex, zb->svc_apex_len);
	const struct cluster_service *s;
	size_t n = 0;

	/* Exactly <svc>.<ns> before svc.<zone>: the labels in the first AT octets. */
	if (at <= 0 || dnsw_name_labels(target, (size_t)at) != 2)
		return 0;
	dnsw_name_to_str(target, (size_t)at + 1, text, sizeof(text));
	svc = text;
	dot = strchr(svc, '.');
	if (dot == NULL)
		return 0;
	*dot = '\0';
	ns = dot + 1;
	dot = strchr(ns, '.');
	if (dot != NULL)
		*dot = '\0';
	/* The answer follows that namespace: when it changes, so must this piece. */
	part_depends(zb, ns);
	s = cluster_service_by_name(zb->c, ns, svc);
	if (s == NULL || s->type == CLUSTER_SVC_EXTERNALNAME)
		return 0;
	if (!s->headless) {
		for (size_t i = 0; i < s->n_cluster_ips && n < cap; i++)
			out[n++] = s->cluster_ips[i];
		return n;
	}
	for (size_t i = 0; i < s->n_endpoints && n < cap; i++) {
		if (s->endpoints[i].ready && !addr_in(out, n, &s->endpoints[i].ip))
			out[n++] = s->endpoints[i].ip;
	}
	return n;
}

static void
build_external(struct zb *zb, const struct cluster_service *s, const uint8_t *ns_name,
               size_t ns_len)
{
	uint8_t name[DNSW_NAME_MAX], target[DNSW_NAME_MAX];
	size_t len, tlen, n_addrs;
	struct netaddr ip, addrs[64];
	struct dnsz_node *node;
	struct zb_blob b;

	/* An ExternalName that is an IP address is not served (CoreDNS ignores it). */
	if (s->external_name == NULL || netaddr_parse(&ip, s->external_name) == SVC_OK)
		return;
	if (dnsw_name_from_str(s->external_name, target, &tlen) != SVC_OK)
		return;
	if (!name_prepend_str(name, &len, s->meta.name, ns_name, ns_len))
		return;
	node = zb_node(zb, name, len, zb->z->apex_len);
	if (node == NULL)
		return;
	zb->part->n_services++;
	for (int t = 0; t < 3; t++) {
		size_t cname_at;

		blob_begin(&b, zb, dnsz_node_name(node), node->name_len);
		blob_rr(&b, 0, dnsz_node_name(node), node->name_len, DNSW_HEADER, DNSW_T_CNAME,
		        zb->z->ttl);
		cname_at = blob_at(&b);
		dnsw_wr_bytes(&b.w, target, tlen); /* uncompressed: later owners point here */
		blob_rr_end(&b);
		if (t > 0) {
			uint8_t fam = t == 1 ? NETADDR_V4 : NETADDR_V6;

			n_addrs = service_addrs(zb, target, tlen, addrs, 64);
			for (size_t i = 0; i < n_addrs; i++) {
				if (addrs[i].family == fam)
					blob_addr(&b, 0, target, tlen, cname_at, &addrs[i],
					          zb->z->ttl);
			}
		}
		node_set(node, t == 0 ? DNSZ_CNAME : t == 1 ? DNSZ_A : DNSZ_AAAA, blob_end(&b));
	}
	if (dnsw_name_suffix_at(target, tlen, zb->z->apex, zb->z->apex_len) < 0) {
		/* Outside the zone: A and AAAA are followed upstream at query time. */
		/* The target is in the CNAME answer (dnsz_node_chase). */
		node->flags |= DNSZ_NODE_CHASE;
		node_set(node, DNSZ_A, NULL);
		node_set(node, DNSZ_AAAA, NULL);
	}
}

/* ---- apex ---- */

static void
build_apex(struct zb *zb)
{
	struct dnsz *z = zb->z;
	struct dnsz_node *apex = zb_node(zb, z->apex, z->apex_len, z->apex_len);
	const struct cluster_service *dns_svc =
	        cluster_service_by_name(zb->c, "kube-system", "kube-dns");
	uint8_t name[DNSW_NAME_MAX], ns_target[DNSW_NAME_MAX];
	size_t len, ns_len;
	struct dnsz_node *node;
	struct zb_blob b;
	const struct netaddr *glue;
	size_t n_glue, target_at;

	if (apex == NULL)
		return;
	blob_begin(&b, zb, dnsz_node_name(apex), apex->name_len);
	blob_rr(&b, 0, dnsz_node_name(apex), apex->name_len, DNSW_HEADER, DNSW_T_SOA, z->ttl);
	dnsw_wr_bytes(&b.w, "\2ns\3dns", 7);
	dnsw_wr_ptr(&b.w, DNSW_HEADER);
	dnsw_wr_bytes(&b.w, "\12hostmaster", 11);
	dnsw_wr_ptr(&b.w, DNSW_HEADER);
	dnsw_wr_u32(&b.w, z->serial);
	dnsw_wr_u32(&b.w, 7200);
	dnsw_wr_u32(&b.w, 1800);
	dnsw_wr_u32(&b.w, 86400);
	dnsw_wr_u32(&b.w, z->ttl);
	blob_rr_end(&b);
	node_set(apex, DNSZ_SOA, blob_end(&b));

	/* NS: the Service in front of the cluster DNS, else ns.dns.<zone> with the listen address.
	 */
	if (dns_svc != NULL && !dns_svc->headless && dns_svc->n_cluster_ips > 0 &&
	    name_prepend_str(name, &len, "kube-system", zb->svc_apex, zb->svc_apex_len) &&
	    name_prepend_str(ns_target, &ns_len, "kube-dns", name, len)) {
		glue = dns_svc->cluster_ips;
		n_glue = dns_svc->n_cluster_ips;
	} else {
		if (!name_prepend_str(name, &len, "dns", z->apex, z->apex_len) ||
		    !name_prepend_str(ns_target, &ns_len, "ns", name, len))
			return;
		glue = zb->opts->ns_addrs;
		n_glue = zb->opts->n_ns_addrs;
		node = zb_node(zb, ns_target, ns_len, z->apex_len);
		if (zb_node(zb, name, len, z->apex_len) == NULL || node == NULL)
			return;
		set_addrs(zb, node, glue, n_glue);
	}
	blob_begin(&b, zb, dnsz_node_name(apex), apex->name_len);
	blob_rr(&b, 0, dnsz_node_name(apex), apex->name_len, DNSW_HEADER, DNSW_T_NS, z->ttl);
	target_at = blob_at(&b);
	blob_name(&b, ns_target, ns_len);
	blob_rr_end(&b);
	for (size_t i = 0; i < n_glue; i++)
		blob_addr(&b, 2, ns_target, ns_len, target_at, &glue[i], z->ttl);
	node_set(apex, DNSZ_NS, blob_end(&b));

	if (!name_prepend_str(name, &len, "dns-version", z->apex, z->apex_len))
		return;
	node = zb_node(zb, name, len, z->apex_len);
	if (node == NULL)
		return;
	blob_begin(&b, zb, dnsz_node_name(node), node->name_len);
	blob_rr(&b, 0, dnsz_node_name(node), node->name_len, DNSW_HEADER, DNSW_T_TXT,
	        DNSZ_VERSION_TTL);
	dnsw_wr_bytes(&b.w, "\0051.1.0", 6);
	blob_rr_end(&b);
	node_set(node, DNSZ_TXT, blob_end(&b));
}

/* ---- pieces ---- */

#define ZB_WORK_BLOCK (1u << 20)

static void
zb_begin(struct zb *zb, struct dnsz_part *part)
{
	zb->part = part;
	arena_deinit(&part->arena);
	part->arena = zb->work;
	arena_init_sized(&zb->work, ZB_WORK_BLOCK);
	htab_init(&zb->local);
	arena_init(&zb->local_mem);
}

/* ARR's capacity down to its N elements of SIZE: a piece lives long, its arrays are final. */
static void
shrink(void *arr, size_t n, size_t *cap, size_t size)
{
	void **p = arr, *smaller;

	if (*p == NULL || n == *cap)
		return;
	smaller = realloc(*p, (n ? n : 1) * size);
	if (smaller != NULL) {
		*p = smaller;
		*cap = n ? n : 1;
	}
}

/* P's nodes and answers, built in ZB's working arena, into one block of their size
 * (arena_compact), and the working arena back to ZB: a zone is ~17,000 pieces at 100,000
 * services, whose own doubling blocks were a third empty (90 MB) and left the heap full of
 * holes when pieces were built again. Every pointer into the arena is in a node (its name,
 * CNAME target, answers), an answer (the next) or a PTR owner. */
static void
part_compact(struct zb *zb, struct dnsz_part *p)
{
	struct arena_moved m;

	if (arena_compact(&p->arena, &m) != SVC_OK)
		return; /* kept as it is: only its room is wasted */
	for (size_t i = 0; i < p->n_names; i++) {
		struct dnsz_node *n = arena_moved_ptr(&m, p->names[i].item);

		p->names[i].item = n;
		n->answers = arena_moved_ptr(&m, n->answers);
		for (const struct dnsz_answer *a = n->answers; a != NULL; a = a->next)
			((struct dnsz_answer *)a)->next = arena_moved_ptr(&m, a->next);
	}
	for (size_t i = 0; i < p->n_ptrs; i++)
		p->ptrs[i].name = arena_moved_ptr(&m, p->ptrs[i].name);
	arena_moved_recycle(&m, &zb->work);
}

static void
zb_end(struct zb *zb)
{
	struct dnsz_part *p = zb->part;

	htab_deinit(&zb->local);
	arena_deinit(&zb->local_mem);
	shrink(&p->names, p->n_names, &p->cap_names, sizeof(*p->names));
	shrink(&p->ptrs, p->n_ptrs, &p->cap_ptrs, sizeof(*p->ptrs));
	if (zb->status == SVC_OK)
		part_compact(zb, p);
	zb->part = NULL;
}

/* An address seen while building a podset. */
struct seen_ip {
	struct htab_node hn;
	struct netaddr ip;
};

/* The pods of namespace piece P by address: the first of its pods (in name order) with an
 * address has it. */
static void
build_pods(struct zb *zb, const struct cluster_shard *sh)
{
	struct dnsz_part *part = zb->part;
	struct netaddr *ips = NULL;
	size_t n = 0, cap = 0;
	struct dnsz_podset *ps = NULL;
	struct htab seen;

	htab_init(&seen);
	for (size_t i = 0; i < sh->n_pods && zb->status == SVC_OK; i++) {
		const struct cluster_pod *p = sh->pods[i];

		if (p->host_network || p->phase == CLUSTER_POD_SUCCEEDED ||
		    p->phase == CLUSTER_POD_FAILED)
			continue;
		for (size_t k = 0; k < p->n_ips && zb->status == SVC_OK; k++) {
			uint32_t h = netaddr_hash(&p->ips[k]);
			struct seen_ip *e;
			struct netaddr *slot;
			bool dup = false;

			for (struct htab_node *hn = htab_find(&seen, h); hn != NULL && !dup;
			     hn = htab_next(hn, h))
				dup = netaddr_equal(&htab_item(hn, struct seen_ip, hn)->ip,
				                    &p->ips[k]);
			if (dup)
				continue;
			e = arena_alloc(&zb->local_mem, sizeof(*e));
			slot = vec_push(&ips, &n, &cap, sizeof(*ips), NULL);
			if (e == NULL || slot == NULL || htab_insert(&seen, &e->hn, h) != SVC_OK) {
				zb->status = SVC_ENOMEM;
				break;
			}
			e->ip = *slot = p->ips[k];
		}
	}
	htab_deinit(&seen);
	if (zb->status != SVC_OK || n == 0)
		goto done;
	ps = calloc(1, sizeof(*ps) + n * sizeof(ps->items[0]));
	if (ps == NULL || (ps->ns = strdup(part->ns)) == NULL ||
	    (ps->entries = malloc(n * sizeof(*ps->entries))) == NULL) {
		zb->status = SVC_ENOMEM;
		goto done;
	}
	ps->refs = 1;
	for (size_t i = 0; i < n; i++) {
		ps->items[i] = (struct dnsz_pod){ips[i], ps->ns};
		ps->entries[i] = (struct pmap_entry){netaddr_hash(&ips[i]), &ps->items[i]};
	}
	ps->n = n;
	part->pods = ps;
	ps = NULL;
done:
	if (ps != NULL) {
		free(ps->ns);
		free(ps);
	}
	free(ips);
}

static int
hash_cmp(const void *pa, const void *pb)
{
	const struct pmap_entry *a = pa, *b = pb;

	return a->hash < b->hash ? -1 : a->hash > b->hash;
}

/* The piece of namespace shard SH: its services' names, its pods, the PTR owners it gives. */
static struct dnsz_part *
build_ns_part(struct zb *zb, const struct cluster_shard *sh)
{
	struct dnsz_part *part = part_new();
	uint8_t name[DNSW_NAME_MAX];
	size_t len;

	if (part == NULL || (part->ns = strdup(sh->ns)) == NULL) {
		part_unref(part);
		zb->status = SVC_ENOMEM;
		return NULL;
	}
	part->source = sh;
	zb_begin(zb, part);
	if (name_prepend_str(name, &len, sh->ns, zb->svc_apex, zb->svc_apex_len)) {
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < sh->n_services && zb->status == SVC_OK; i++) {
				const struct cluster_service *s = sh->services[i];

				if (pass == 0)
					build_service(zb, s, name, len);
				else if (s->type == CLUSTER_SVC_EXTERNALNAME)
					build_external(zb, s, name, len);
			}
	}
	if (zb->status == SVC_OK)
		build_pods(zb, sh);
	zb_end(zb);
	if (zb->status != SVC_OK) {
		part_unref(part);
		return NULL;
	}
	if (part->n_ptrs > 0)
		qsort(part->ptrs, part->n_ptrs, sizeof(*part->ptrs), ptr_cmp);
	/* Looked up in the piece itself (dnsz_find): by hash. */
	if (part->n_names > 0)
		qsort(part->names, part->n_names, sizeof(*part->names), hash_cmp);
	return part;
}

/* The apex piece: SOA, NS, dns-version, svc and pod, and every namespace's two names. */
static struct dnsz_part *
build_apex_part(struct zb *zb)
{
	struct dnsz_part *part = part_new();
	uint8_t name[DNSW_NAME_MAX];
	size_t len;

	if (part == NULL) {
		zb->status = SVC_ENOMEM;
		return NULL;
	}
	zb_begin(zb, part);
	build_apex(zb);
	zb_node(zb, zb->svc_apex, zb->svc_apex_len, zb->z->apex_len);
	zb_node(zb, zb->pod_apex, zb->pod_apex_len, zb->z->apex_len);
	for (size_t i = 0; i < zb->c->n_ns_names && zb->status == SVC_OK; i++) {
		struct dnsz_node *pn;

		if (name_prepend_str(name, &len, zb->c->ns_names[i], zb->svc_apex,
		                     zb->svc_apex_len))
			zb_node(zb, name, len, zb->z->apex_len);
		if (name_prepend_str(name, &len, zb->c->ns_names[i], zb->pod_apex,
		                     zb->pod_apex_len)) {
			pn = zb_node(zb, name, len, zb->z->apex_len);
			if (pn != NULL)
				pn->flags |= DNSZ_NODE_POD_NS;
		}
	}
	zb_end(zb);
	if (zb->status != SVC_OK) {
		part_unref(part);
		return NULL;
	}
	return part;
}

/* ---- versions ---- */

/* A namespace's current piece, by name. */
struct ns_slot {
	struct htab_node hn;
	struct dnsz_part *part; /* one reference */
};

struct dnsz_builder {
	struct dnsz_options opts;
	struct cluster *last_c; /* the snapshot the last zone was made from */
	struct dnsz *last;
	struct htab ns; /* struct ns_slot by namespace */
	struct dnsz_part *apex;
	struct dnsz_part *buckets[ZB_BUCKETS];
	/* The namespace pieces that give PTR owners to each bucket. */
	struct dnsz_part **givers[ZB_BUCKETS];
	uint16_t n_givers[ZB_BUCKETS], cap_givers[ZB_BUCKETS];
	size_t n_services;
	size_t n_ns_names; /* in the namespace pieces */
	uint64_t update;   /* counts updates */
};

enum svc_status
dnsz_builder_create(const struct dnsz_options *opts, struct dnsz_builder **out)
{
	struct dnsz_builder *b = calloc(1, sizeof(*b));

	*out = b;
	if (b == NULL)
		return SVC_ENOMEM;
	b->opts = *opts;
	htab_init(&b->ns);
	return SVC_OK;
}

/* Forget everything: the next update builds every piece. */
static void
builder_reset(struct dnsz_builder *b)
{
	struct htab_iter it;
	struct htab_node *hn;

	for (hn = htab_first(&it, &b->ns); hn != NULL; hn = htab_iter_next(&it)) {
		struct ns_slot *sl = htab_item(hn, struct ns_slot, hn);

		htab_remove(&b->ns, hn);
		part_unref(sl->part);
		free(sl);
	}
	for (size_t i = 0; i < ZB_BUCKETS; i++) {
		part_unref(b->buckets[i]);
		b->buckets[i] = NULL;
		free(b->givers[i]);
		b->givers[i] = NULL;
		b->n_givers[i] = b->cap_givers[i] = 0;
	}
	part_unref(b->apex);
	b->apex = NULL;
	cluster_unref(b->last_c);
	b->last_c = NULL;
	dnsz_unref(b->last);
	b->last = NULL;
	b->n_services = 0;
	b->n_ns_names = 0;
}

void
dnsz_builder_destroy(struct dnsz_builder *b)
{
	if (b == NULL)
		return;
	builder_reset(b);
	htab_deinit(&b->ns);
	free(b);
}

static struct ns_slot *
ns_find(const struct dnsz_builder *b, const char *ns)
{
	uint32_t h = htab_hash_str(ns, 0);

	for (struct htab_node *hn = htab_find(&b->ns, h); hn != NULL; hn = htab_next(hn, h)) {
		struct ns_slot *sl = htab_item(hn, struct ns_slot, hn);

		if (strcmp(sl->part->ns, ns) == 0)
			return sl;
	}
	return NULL;
}

/* What one update changes, gathered before the maps are made. */
/* What a bucket's piece needs in an update. */
enum bucket_change {
	BUCKET_SAME,
	BUCKET_REPOINT, /* givers were replaced, with the same owners there: new pointers only */
	BUCKET_REBUILD, /* its owners changed */
};

/* In bucket K, the N owners OLD gave from OLD->ptrs[FROM] are NEW's from NEW->ptrs[TO]. */
struct repoint {
	uint32_t k;
	const struct dnsz_part *old, *new;
	size_t from, to, n;
};

struct change {
	struct dnsz_builder *b;
	const struct cluster *c;
	struct zb *zb;
	const char **dirty; /* namespaces to build again */
	size_t n_dirty, cap_dirty;
	struct pmap_entry *rem_names, *add_names, *rem_pods, *add_pods, *rem_spaces, *add_spaces;
	size_t n_rem_names, cap_rem_names, n_add_names, cap_add_names;
	size_t n_rem_spaces, cap_rem_spaces, n_add_spaces, cap_add_spaces;
	size_t n_rem_pods, cap_rem_pods, n_add_pods, cap_add_pods;
	uint8_t *bucket_dirty; /* enum bucket_change */
	struct repoint *repoints;
	size_t n_repoints, cap_repoints;
	enum svc_status st;
};

static void
on_dirty(void *arg, const char *ns)
{
	struct change *ch = arg;
	const char **slot = vec_push(&ch->dirty, &ch->n_dirty, &ch->cap_dirty, sizeof(*slot), NULL);

	if (slot == NULL)
		ch->st = SVC_ENOMEM;
	else
		*slot = ns;
}

static void
entries_append(struct change *ch, struct pmap_entry **arr, size_t *n, size_t *cap,
               const struct pmap_entry *src, size_t count)
{
	if (count == 0)
		return;
	if (vec_reserve(arr, cap, *n, *n + count, sizeof(**arr), NULL) != SVC_OK) {
		ch->st = SVC_ENOMEM;
		return;
	}
	memcpy(*arr + *n, src, count * sizeof(*src));
	*n += count;
}

/* P's PTR owners leave (GIVE false) or join (true) their buckets' givers. */
static void
givers_update(struct change *ch, struct dnsz_part *p, bool give)
{
	struct dnsz_builder *b = ch->b;

	for (size_t i = 0; i < p->n_ptrs; i++) {
		uint32_t k = p->ptrs[i].bucket;

		if (i > 0 && p->ptrs[i - 1].bucket == k)
			continue;
		if (!give) {
			for (size_t g = 0; g < b->n_givers[k]; g++)
				if (b->givers[k][g] == p) {
					b->givers[k][g] = b->givers[k][--b->n_givers[k]];
					break;
				}
			continue;
		}
		if (b->n_givers[k] == b->cap_givers[k]) {
			size_t cap = b->cap_givers[k] ? 2u * b->cap_givers[k] : 2u;
			struct dnsz_part **g =
			        cap > UINT16_MAX ? NULL : realloc(b->givers[k], cap * sizeof(*g));

			if (g == NULL) {
				ch->st = SVC_ENOMEM;
				return;
			}
			b->givers[k] = g;
			b->cap_givers[k] = (uint16_t)cap;
		}
		b->givers[k][b->n_givers[k]++] = p;
	}
}

static const struct cluster_shard *
shard_of(const struct cluster *c, const char *ns)
{
	size_t lo = 0, hi = c->n_shards;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(c->shards[mid]->ns, ns);

		if (cmp == 0)
			return c->shards[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool
same_ptr(const struct zb_ptr *a, const struct zb_ptr *b)
{
	return a->cluster_ip == b->cluster_ip && a->len == b->len &&
	       netaddr_equal(&a->addr, &b->addr) && memcmp(a->name, b->name, a->len) == 0;
}

/* Mark the buckets OLD's PTR owners and NEW's are in (either may be NULL). A bucket's piece
 * points at its givers' owners, so every bucket of a piece replaced needs a new piece, to point
 * at the new piece's owners (and to let the old one go): built again where the owners differ,
 * else a copy with the pointers moved (most buckets: a pod that turns ready changes one). Both
 * lists are in ptr_cmp's order. */
static void
mark_ptr_changes(struct change *ch, const struct dnsz_part *old, const struct dnsz_part *new)
{
	size_t i = 0, k = 0, n_old = old ? old->n_ptrs : 0, n_new = new ? new->n_ptrs : 0;

	while (i < n_old || k < n_new) {
		uint32_t b = i == n_old   ? new->ptrs[k].bucket
		             : k == n_new ? old->ptrs[i].bucket
		                          : (old->ptrs[i].bucket < new->ptrs[k].bucket
		                                     ? old->ptrs[i].bucket
		                                     : new->ptrs[k].bucket);
		size_t i0 = i, k0 = k;
		bool differ;
		struct repoint *r;

		while (i < n_old && old->ptrs[i].bucket == b)
			i++;
		while (k < n_new && new->ptrs[k].bucket == b)
			k++;
		differ = i - i0 != k - k0;
		for (size_t j = 0; !differ && j < i - i0; j++)
			differ = !same_ptr(&old->ptrs[i0 + j], &new->ptrs[k0 + j]);
		if (differ) {
			ch->bucket_dirty[b] = BUCKET_REBUILD;
			continue;
		}
		if (ch->bucket_dirty[b] == BUCKET_SAME)
			ch->bucket_dirty[b] = BUCKET_REPOINT;
		r = vec_push(&ch->repoints, &ch->n_repoints, &ch->cap_repoints, sizeof(*r), NULL);
		if (r == NULL) {
			ch->st = SVC_ENOMEM;
			return;
		}
		*r = (struct repoint){b, old, new, i0, k0, i - i0};
	}
}

static int
repoint_cmp(const void *a, const void *b)
{
	const struct repoint *x = a, *y = b;

	return x->k < y->k ? -1 : x->k > y->k;
}

/* Bucket K's piece again with the same owners, some now in new pieces: R (N of them, all of
 * bucket K) says which. False when it cannot be done so (then it is built again). */
static bool
repoint_bucket(struct change *ch, uint32_t k, const struct repoint *r, size_t n)
{
	struct dnsz_builder *b = ch->b;
	struct dnsz_part *old = b->buckets[k], *part;

	if (old == NULL)
		return false;
	part = part_new();
	if (part == NULL || (part->rev = malloc(old->n_rev * sizeof(*part->rev))) == NULL ||
	    (part->givers = malloc(b->n_givers[k] * sizeof(*part->givers))) == NULL) {
		part_unref(part);
		ch->st = SVC_ENOMEM;
		return true;
	}
	memcpy(part->rev, old->rev, old->n_rev * sizeof(*part->rev));
	part->n_rev = old->n_rev;
	for (size_t j = 0; j < n; j++) {
		const struct zb_ptr *lo = &r[j].old->ptrs[r[j].from], *hi = lo + r[j].n;

		for (size_t e = 0; e < part->n_rev; e++)
			if (part->rev[e] >= lo && part->rev[e] < hi)
				part->rev[e] =
				        &r[j].new->ptrs[r[j].to + (size_t)(part->rev[e] - lo)];
	}
	for (size_t g = 0; g < b->n_givers[k]; g++)
		part->givers[part->n_givers++] = part_ref(b->givers[k][g]);
	b->buckets[k] = part;
	part_unref(old);
	return true;
}

/* Namespace piece P's entry in dnsz.spaces onto a list of the change. */
static void
space_entry(struct change *ch, struct pmap_entry **arr, size_t *n, size_t *cap, struct dnsz_part *p)
{
	struct pmap_entry e = {.hash = space_hash(p->ns), .item = p};

	entries_append(ch, arr, n, cap, &e, 1);
}

/* Build namespace NS's piece again (or drop it when its shard is gone). */
static void
replace_ns(struct change *ch, const char *ns)
{
	struct dnsz_builder *b = ch->b;
	struct ns_slot *sl = ns_find(b, ns);
	const struct cluster_shard *sh = shard_of(ch->c, ns);
	struct dnsz_part *part = NULL;

	if (sl != NULL && sl->part->update == b->update)
		return; /* listed twice: built in this update already */
	if (sh != NULL) {
		part = build_ns_part(ch->zb, sh);
		if (part == NULL) {
			ch->st = SVC_ENOMEM;
			return;
		}
		part->update = b->update;
		mark_ptr_changes(ch, sl != NULL ? sl->part : NULL, part);
		space_entry(ch, &ch->add_spaces, &ch->n_add_spaces, &ch->cap_add_spaces, part);
		if (sl != NULL && podset_same(sl->part->pods, part->pods)) {
			/* Pods flip ready far more often than they change address. */
			podset_unref(part->pods);
			part->pods = podset_ref(sl->part->pods);
		} else if (part->pods != NULL) {
			entries_append(ch, &ch->add_pods, &ch->n_add_pods, &ch->cap_add_pods,
			               part->pods->entries, part->pods->n);
		}
		givers_update(ch, part, true);
		b->n_services += part->n_services;
		b->n_ns_names += part->n_names;
	}
	if (sl != NULL) {
		struct dnsz_part *old = sl->part;

		if (part == NULL)
			mark_ptr_changes(ch, old, NULL);
		space_entry(ch, &ch->rem_spaces, &ch->n_rem_spaces, &ch->cap_rem_spaces, old);
		if (old->pods != NULL && (part == NULL || part->pods != old->pods))
			entries_append(ch, &ch->rem_pods, &ch->n_rem_pods, &ch->cap_rem_pods,
			               old->pods->entries, old->pods->n);
		givers_update(ch, old, false);
		b->n_services -= old->n_services;
		b->n_ns_names -= old->n_names;
		if (part != NULL) {
			sl->part = part;
		} else {
			htab_remove(&b->ns, &sl->hn);
			free(sl);
		}
		part_unref(old);
	} else if (part != NULL) {
		sl = calloc(1, sizeof(*sl));
		if (sl == NULL ||
		    htab_insert(&b->ns, &sl->hn, htab_hash_str(part->ns, 0)) != SVC_OK) {
			free(sl);
			part_unref(part);
			ch->st = SVC_ENOMEM;
			return;
		}
		sl->part = part;
	}
}

static int
ptr_ref_cmp(const void *a, const void *b)
{
	return ptr_cmp(*(const struct zb_ptr *const *)a, *(const struct zb_ptr *const *)b);
}

/* Bucket K's piece again: the PTR owners every piece that gives it has there. */
static void
rebuild_bucket(struct change *ch, uint32_t k)
{
	struct dnsz_builder *b = ch->b;
	struct dnsz_part *old = b->buckets[k], *part = NULL;
	const struct zb_ptr **all = NULL;
	size_t n = 0, cap = 0;

	for (size_t g = 0; g < b->n_givers[k] && ch->st == SVC_OK; g++) {
		const struct dnsz_part *p = b->givers[k][g];
		size_t lo = 0, hi = p->n_ptrs;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (p->ptrs[mid].bucket < k)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < p->n_ptrs && p->ptrs[lo].bucket == k; lo++) {
			const struct zb_ptr **slot = vec_push(&all, &n, &cap, sizeof(*all), NULL);

			if (slot == NULL) {
				ch->st = SVC_ENOMEM;
				break;
			}
			*slot = &p->ptrs[lo];
		}
	}
	if (ch->st == SVC_OK && n > 0) {
		qsort(all, n, sizeof(*all), ptr_ref_cmp);
		part = part_new();
		if (part != NULL)
			part->givers = malloc(b->n_givers[k] * sizeof(*part->givers));
		if (part == NULL || part->givers == NULL) {
			ch->st = SVC_ENOMEM;
		} else {
			for (size_t g = 0; g < b->n_givers[k]; g++)
				part->givers[part->n_givers++] = part_ref(b->givers[k][g]);
			part->rev = all;
			part->n_rev = n;
			all = NULL;
		}
	}
	free(all);
	if (ch->st != SVC_OK) {
		part_unref(part);
		return;
	}
	b->buckets[k] = part;
	part_unref(old);
}

/* Whether piece P's ExternalNames answer from a namespace of the change. */
static bool
depends_on_dirty(const struct change *ch, const struct dnsz_part *p)
{
	for (size_t i = 0; i < p->n_targets; i++)
		for (size_t k = 0; k < ch->n_dirty; k++)
			if (strcmp(p->targets[i], ch->dirty[k]) == 0)
				return true;
	return false;
}

static bool
zb_init(struct zb *zb, struct dnsz *z, const struct cluster *c, const struct dnsz_options *opts)
{
	memset(zb, 0, sizeof(*zb));
	zb->z = z;
	zb->c = c;
	zb->opts = opts;
	zb->scratch = malloc(ZB_SCRATCH);
	zb->ends = malloc(ZB_MAX_RECS * sizeof(*zb->ends));
	return zb->scratch != NULL && zb->ends != NULL &&
	       name_prepend_str(zb->svc_apex, &zb->svc_apex_len, "svc", z->apex, z->apex_len) &&
	       name_prepend_str(zb->pod_apex, &zb->pod_apex_len, "pod", z->apex, z->apex_len);
}

/* A zone under arpa could hold a reverse name and a cluster name alike: the pieces would not be
 * disjoint. Such a zone is built whole each time. */
static bool
apex_under_arpa(const struct dnsz *z)
{
	return dnsw_name_suffix_at(z->apex, z->apex_len, in_addr_arpa + 8,
	                           sizeof(in_addr_arpa) - 8) >= 0;
}

enum svc_status
dnsz_update(struct dnsz_builder *b, const struct cluster *c, struct dnsz **out)
{
	struct dnsz *z = calloc(1, sizeof(*z));
	struct change ch = {.b = b, .c = c, .st = SVC_OK};
	struct dnsz_part *apex = NULL;
	struct zb zb;
	struct htab_iter it;
	struct htab_node *hn;
	size_t i, k;
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	memset(&zb, 0, sizeof(zb));
	if (z == NULL)
		goto done;
	z->refs = 1;
	z->ttl = b->opts.ttl;
	z->serial = b->opts.serial ? b->opts.serial : (uint32_t)time(NULL);
	z->generation = c != NULL ? c->generation : 0;
	if (c != NULL) {
		z->n_service_cidrs = c->config.n_service_cidrs;
		memcpy(z->service_cidrs, c->config.service_cidrs, sizeof(z->service_cidrs));
	}
	st = SVC_EINVAL;
	if (dnsw_name_from_str(b->opts.domain, z->apex, &z->apex_len) != SVC_OK)
		goto done;
	st = SVC_ENOMEM;
	if (!zb_init(&zb, z, c, &b->opts)) {
		st = zb.scratch != NULL && zb.ends != NULL ? SVC_EINVAL : SVC_ENOMEM;
		goto done;
	}
	st = SVC_OK;
	if (c == NULL) {
		*out = z;
		z = NULL;
		goto done;
	}
	z->loaded = true;
	st = SVC_ENOMEM;
	ch.zb = &zb;
	ch.bucket_dirty = calloc(ZB_BUCKETS, sizeof(*ch.bucket_dirty));
	if (ch.bucket_dirty == NULL)
		goto done;
	if (b->last == NULL || apex_under_arpa(z))
		builder_reset(b);
	b->update++;
	/* The namespaces whose shard changed, and those whose ExternalNames answer from them. */
	cluster_diff_shards(b->last_c, c, on_dirty, &ch);
	for (hn = htab_first(&it, &b->ns); hn != NULL && ch.st == SVC_OK;
	     hn = htab_iter_next(&it)) {
		struct dnsz_part *p = htab_item(hn, struct ns_slot, hn)->part;

		if (p->n_targets > 0 && depends_on_dirty(&ch, p) && shard_of(c, p->ns) != NULL)
			on_dirty(&ch, shard_of(c, p->ns)->ns);
	}
	/* The names come from the snapshots' shards (the last one is held until the end). */
	for (i = 0; i < ch.n_dirty && ch.st == SVC_OK; i++)
		replace_ns(&ch, ch.dirty[i]);
	if (ch.n_repoints > 0)
		qsort(ch.repoints, ch.n_repoints, sizeof(*ch.repoints), repoint_cmp);
	for (k = 0, i = 0; k < ZB_BUCKETS && ch.st == SVC_OK; k++) {
		size_t r0;

		while (i < ch.n_repoints && ch.repoints[i].k < k)
			i++;
		for (r0 = i; i < ch.n_repoints && ch.repoints[i].k == k; i++)
			;
		if (ch.bucket_dirty[k] == BUCKET_REBUILD ||
		    (ch.bucket_dirty[k] == BUCKET_REPOINT &&
		     !repoint_bucket(&ch, (uint32_t)k, ch.repoints + r0, i - r0)))
			rebuild_bucket(&ch, (uint32_t)k);
	}
	/* The apex piece every time: the serial, kube-dns's addresses, the namespaces. */
	if (ch.st == SVC_OK) {
		apex = build_apex_part(&zb);
		if (apex == NULL)
			ch.st = zb.status != SVC_OK ? zb.status : SVC_ENOMEM;
	}
	if (ch.st == SVC_OK) {
		if (b->apex != NULL)
			entries_append(&ch, &ch.rem_names, &ch.n_rem_names, &ch.cap_rem_names,
			               b->apex->names, b->apex->n_names);
		entries_append(&ch, &ch.add_names, &ch.n_add_names, &ch.cap_add_names, apex->names,
		               apex->n_names);
	}
	st = ch.st;
	if (st != SVC_OK)
		goto done;
	st = pmap_update(b->last ? &b->last->names : &z->names, ch.rem_names, ch.n_rem_names,
	                 ch.add_names, ch.n_add_names, &z->names);
	if (st == SVC_OK)
		st = pmap_update(b->last ? &b->last->spaces : &z->spaces, ch.rem_spaces,
		                 ch.n_rem_spaces, ch.add_spaces, ch.n_add_spaces, &z->spaces);
	if (st == SVC_OK)
		st = pmap_update(b->last ? &b->last->pods : &z->pods, ch.rem_pods, ch.n_rem_pods,
		                 ch.add_pods, ch.n_add_pods, &z->pods);
	if (st != SVC_OK)
		goto done;
	part_unref(b->apex);
	b->apex = apex;
	apex = NULL;
	/* The version holds every piece its maps point into. */
	z->parts = malloc((1 + b->ns.n + ZB_BUCKETS) * sizeof(*z->parts));
	if (z->parts == NULL) {
		st = SVC_ENOMEM;
		goto done;
	}
	z->parts[z->n_parts++] = part_ref(b->apex);
	for (hn = htab_first(&it, &b->ns); hn != NULL; hn = htab_iter_next(&it))
		z->parts[z->n_parts++] = part_ref(htab_item(hn, struct ns_slot, hn)->part);
	for (k = 0; k < ZB_BUCKETS; k++)
		if (b->buckets[k] != NULL)
			z->parts[z->n_parts++] = part_ref(b->buckets[k]);
	z->rev = malloc(ZB_BUCKETS * sizeof(*z->rev));
	if (z->rev == NULL) {
		st = SVC_ENOMEM;
		goto done;
	}
	memcpy(z->rev, b->buckets, ZB_BUCKETS * sizeof(*z->rev));
	for (i = 0; i < z->n_parts; i++)
		z->bytes += z->parts[i]->arena.total;
	z->n_nodes = z->names.n + b->n_ns_names;
	z->n_services = b->n_services;
	z->n_pods = c->n_pods;
	dnsz_unref(b->last);
	b->last = dnsz_ref(z);
	cluster_unref(b->last_c);
	b->last_c = cluster_ref((struct cluster *)c);
	*out = z;
	z = NULL;
done:
	if (st != SVC_OK && c != NULL)
		builder_reset(b); /* the pieces may no longer match the last zone */
	part_unref(apex);
	dnsz_unref(z);
	free(zb.scratch);
	free(zb.ends);
	arena_deinit(&zb.work);
	free(ch.dirty);
	free(ch.rem_names);
	free(ch.add_names);
	free(ch.rem_pods);
	free(ch.add_pods);
	free(ch.rem_spaces);
	free(ch.add_spaces);
	free(ch.bucket_dirty);
	free(ch.repoints);
	return st;
}

void
dnsz_builder_set_serial(struct dnsz_builder *b, uint32_t serial)
{
	b->opts.serial = serial;
}

enum svc_status
dnsz_build(const struct cluster *c, const struct dnsz_options *opts, struct dnsz **out)
{
	struct dnsz_builder *b;
	enum svc_status st = dnsz_builder_create(opts, &b);

	*out = NULL;
	if (st == SVC_OK)
		st = dnsz_update(b, c, out);
	dnsz_builder_destroy(b);
	return st;
}
