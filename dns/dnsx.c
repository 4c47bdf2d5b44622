/* dnsx.c -- zone transfers and NOTIFY (dnsx.h). A full transfer walks the zone's names with a
 * cursor (dnsz_next_node) and reads each name's ready answers back record by record (dnsa.h):
 * the records of its own name, from the answer section, once per type. An incremental one
 * sends the journal's changes: each a sorted list of records out and one of records in, in a
 * flat form compared byte by byte. */
#include "dnsx.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dnsa.h"

enum phase {
	PHASE_FIRST_SOA,
	PHASE_NAMES,   /* a full transfer: every name's records */
	PHASE_CHANGES, /* an incremental one: the journal's changes */
	PHASE_LAST_SOA,
	PHASE_DONE,
};

struct dnsx_diff {
	int refs; /* atomic */
	uint32_t from, to;
	uint8_t *del, *add; /* flat records, sorted */
	size_t del_len, add_len, n_del, n_add;
};

/* Changes D[0..N) and the serials between them: versions that changed nothing (only the serial:
 * with etcd every write bumps it) are not changes. The zone's records are the same at every
 * serial of a run: [START, D[0].from], [D[i-1].to, D[i].from], [D[N-1].to, TAIL]. */
struct dnsx_journal {
	int refs; /* atomic */
	struct dnsx_diff **d;
	size_t n;
	size_t bytes;
	uint32_t start, tail;
};

struct dnsx {
	struct dnsz *z;
	/* An incremental transfer: the journal, where it is in it (the change, J->n for the
	 * empty change of a client in the last run; its stage: 0 the old SOA, 1 the records out,
	 * 2 the new SOA, 3 the records in; the offset in the stage's records). */
	struct dnsx_journal *j;
	uint32_t client; /* the client's serial: the first change's old SOA */
	size_t first, at_change, at_off;
	int stage;
	bool incremental;
	uint16_t id, flags;
	uint8_t question[DNSW_NAME_MAX + 4];
	size_t question_len;
	enum phase phase;
	struct dnsa_rr soa;
	/* Where the walk is: the name, its answer being read, the reader over it. */
	struct dnsz_cursor cursor;
	const struct dnsz_node *node;
	const struct dnsz_answer *answer;
	struct dnsa_reader reader;
	uint16_t left; /* answer-section records of ANSWER still to read */
	struct dnsa_rr rr;
	bool have_rr; /* RR is read and waits for a message with room */
	size_t records;
};

/* ---- records in flat form: owner length, owner, type, class, TTL, RDATA length, RDATA ---- */

struct flat {
	uint8_t *buf;
	size_t len, cap, n;
	bool failed;
};

/* Room for NEED bytes more at the end of F: where they go, or NULL (F failed). */
static uint8_t *
flat_room(struct flat *f, size_t need)
{
	if (!f->failed && f->len + need > f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4096;
		uint8_t *p;

		while (cap < f->len + need)
			cap *= 2;
		p = realloc(f->buf, cap);
		if (p == NULL) {
			f->failed = true;
		} else {
			f->buf = p;
			f->cap = cap;
		}
	}
	return f->failed ? NULL : f->buf + f->len;
}

static void
flat_put(struct flat *f, const struct dnsa_rr *rr)
{
	size_t need = 1 + rr->owner_len + 10 + rr->rdlen;
	uint8_t *p = flat_room(f, need);

	if (p == NULL)
		return;
	*p++ = (uint8_t)rr->owner_len;
	memcpy(p, rr->owner, rr->owner_len);
	p += rr->owner_len;
	dnsw_put16(p, rr->type);
	dnsw_put16(p + 2, rr->rclass);
	dnsw_put32(p + 4, rr->ttl);
	dnsw_put16(p + 8, (uint16_t)rr->rdlen);
	memcpy(p + 10, rr->rdata, rr->rdlen);
	f->len += need;
	f->n++;
}

/* The length of the flat record at P, which the caller wrote. */
static size_t
flat_len(const uint8_t *p)
{
	return 1 + (size_t)p[0] + 10 + dnsw_get16(p + 1 + p[0] + 8);
}

static void
flat_get(const uint8_t *p, struct dnsa_rr *rr)
{
	rr->owner_len = p[0];
	memcpy(rr->owner, p + 1, rr->owner_len);
	p += 1 + rr->owner_len;
	rr->type = dnsw_get16(p);
	rr->rclass = dnsw_get16(p + 2);
	rr->ttl = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	rr->rdlen = dnsw_get16(p + 8);
	memcpy(rr->rdata, p + 10, rr->rdlen);
}

static int
flat_cmp(const void *a, const void *b)
{
	const uint8_t *x = *(const uint8_t *const *)a, *y = *(const uint8_t *const *)b;
	size_t nx = flat_len(x), ny = flat_len(y);
	int c = memcmp(x, y, nx < ny ? nx : ny);

	return c != 0 ? c : (nx > ny) - (nx < ny);
}

/* F's records in order: an array of pointers into F (NULL when out of memory). */
static const uint8_t **
flat_sorted(const struct flat *f)
{
	const uint8_t **v = malloc((f->n ? f->n : 1) * sizeof(*v));
	size_t off = 0;

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < f->n; i++) {
		v[i] = f->buf + off;
		off += flat_len(f->buf + off);
	}
	qsort(v, f->n, sizeof(*v), flat_cmp);
	return v;
}

/* The apex's SOA record. */
static bool
read_soa(const struct dnsz *z, struct dnsa_rr *soa)
{
	const struct dnsz_node *apex =
	        dnsz_find(z, z->apex, z->apex_len, dnsw_name_hash(z->apex, z->apex_len));
	const struct dnsz_answer *a = apex != NULL ? dnsz_rr(apex, DNSZ_SOA) : NULL;
	struct dnsa_reader r;

	if (a == NULL || a->an < 1)
		return false;
	dnsa_reader_init(&r, a, z->apex, z->apex_len);
	return dnsa_next(&r, soa) && soa->type == DNSW_T_SOA;
}

/* RFC 1982: serial A at or before B. */
static bool
serial_le(uint32_t a, uint32_t b)
{
	return a == b || (uint32_t)(b - a) < 0x80000000u;
}

/* The run of J's serials SERIAL is in: the changes from *FIRST on lead from it to TO (J->n:
 * none, the records are the same). False when J does not hold SERIAL or does not end at TO. */
static bool
chain_from(const struct dnsx_journal *j, uint32_t serial, uint32_t to, size_t *first)
{
	if (j == NULL || j->tail != to)
		return false;
	for (size_t k = 0; k <= j->n; k++) {
		uint32_t lo = k == 0 ? j->start : j->d[k - 1]->to;
		uint32_t hi = k == j->n ? j->tail : j->d[k]->from;

		if (serial_le(lo, serial) && serial_le(serial, hi)) {
			*first = k;
			return true;
		}
	}
	return false;
}

enum svc_status
dnsx_start(struct dnsz *z, const struct dnsx_journal *j, const struct dnsq_query *q,
           const uint8_t *qpkt, struct dnsx **out)
{
	size_t first;
	struct dnsx *x;

	*out = NULL;
	if (q->query_len < DNSW_HEADER || q->query_len - DNSW_HEADER > sizeof(x->question))
		return SVC_EINVAL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return SVC_ENOMEM;
	if (!read_soa(z, &x->soa)) {
		free(x);
		return SVC_EINVAL;
	}
	x->z = dnsz_ref(z);
	atomic_fetch_add_explicit((_Atomic int *)&z->holders, 1, memory_order_release);
	x->id = q->id;
	x->flags = DNSW_F_QR | DNSW_F_AA | (q->flags & DNSW_F_RD);
	x->question_len = q->query_len - DNSW_HEADER;
	memcpy(x->question, qpkt + DNSW_HEADER, x->question_len);
	if (q->ixfr && q->xfr_serial == z->serial) {
		/* As new as the zone: the SOA alone (RFC 1995 section 2). */
		x->incremental = true;
		x->phase = PHASE_LAST_SOA;
	} else if (q->ixfr && chain_from(j, q->xfr_serial, z->serial, &first)) {
		x->incremental = true;
		x->j = dnsx_journal_ref((struct dnsx_journal *)j);
		x->client = q->xfr_serial;
		x->first = x->at_change = first;
	}
	*out = x;
	return SVC_OK;
}

bool
dnsx_incremental(const struct dnsx *x)
{
	return x->incremental;
}

void
dnsx_free(struct dnsx *x)
{
	if (x == NULL)
		return;
	atomic_fetch_sub_explicit((_Atomic int *)&x->z->holders, 1, memory_order_release);
	dnsz_unref(x->z);
	dnsx_journal_unref(x->j);
	free(x);
}

size_t
dnsx_records(const struct dnsx *x)
{
	return x->records;
}

static bool
is_reverse(const struct dnsz_node *n)
{
	return (n->flags & DNSZ_NODE_REVERSE) != 0;
}

/* Whether answer A of NODE is read for the transfer: the SOA goes first and last on its own;
 * at a CNAME, only the CNAME (the other types' answers repeat it, followed by its target's
 * records, which belong to the target's name). */
static bool
transferred(const struct dnsz_node *node, const struct dnsz_answer *a)
{
	if (a->type == DNSZ_SOA)
		return false;
	return dnsz_rr(node, DNSZ_CNAME) == NULL || a->type == DNSZ_CNAME;
}

/* A, or the first answer after it of NODE that is transferred; NULL: none. */
static const struct dnsz_answer *
first_transferred(const struct dnsz_node *node, const struct dnsz_answer *a)
{
	while (a != NULL && !transferred(node, a))
		a = a->next;
	return a;
}

static void
start_answer(struct dnsx *x, const struct dnsz_answer *a)
{
	x->answer = a;
	if (a == NULL)
		return;
	dnsa_reader_init(&x->reader, a, dnsz_node_name(x->node), x->node->name_len);
	x->left = a->an;
}

/* The next record of the walk into X->rr; false when the names are done. */
static bool
next_record(struct dnsx *x)
{
	for (;;) {
		if (x->answer != NULL) {
			while (x->left > 0) {
				x->left--;
				if (!dnsa_next(&x->reader, &x->rr))
					break;
				/* Only the name's own: a CNAME's target may follow it. */
				if (x->rr.owner_len == x->node->name_len &&
				    memcmp(x->rr.owner, dnsz_node_name(x->node), x->rr.owner_len) ==
				            0)
					return true;
			}
			start_answer(x, first_transferred(x->node, x->answer->next));
			continue;
		}
		do {
			x->node = dnsz_next_node(x->z, &x->cursor);
		} while (x->node != NULL && is_reverse(x->node));
		if (x->node == NULL)
			return false;
		start_answer(x, first_transferred(x->node, x->node->answers));
	}
}

/* ---- changes: what one version took out and put in --------------------------------------- */

/* Every record of NODE a transfer holds into F. */
static void
node_records(void *arg, const struct dnsz_node *node)
{
	struct flat *f = arg;
	struct dnsa_reader r;
	struct dnsa_rr rr;

	if (is_reverse(node))
		return;
	for (const struct dnsz_answer *a = first_transferred(node, node->answers); a != NULL;
	     a = first_transferred(node, a->next)) {
		dnsa_reader_init(&r, a, dnsz_node_name(node), node->name_len);
		for (uint16_t i = 0; i < a->an && dnsa_next(&r, &rr); i++) {
			if (rr.owner_len == node->name_len &&
			    memcmp(rr.owner, dnsz_node_name(node), rr.owner_len) == 0)
				flat_put(f, &rr);
		}
	}
}

/* The records of sorted A not in sorted B (N and M of them), flat into OUT. */
static void
minus(const uint8_t **a, size_t n, const uint8_t **b, size_t m, struct flat *out)
{
	size_t j = 0;
	uint8_t *p;

	for (size_t i = 0; i < n; i++) {
		int c = 1;

		while (j < m && (c = flat_cmp(&b[j], &a[i])) < 0)
			j++;
		if (j < m && c == 0)
			continue;
		p = flat_room(out, flat_len(a[i]));
		if (p == NULL)
			return;
		memcpy(p, a[i], flat_len(a[i]));
		out->len += flat_len(a[i]);
		out->n++;
	}
}

enum svc_status
dnsx_diff_make(const struct dnsz *old, const struct dnsz *new, struct dnsx_diff **out)
{
	struct flat was = {0}, is = {0}, del = {0}, add = {0};
	const uint8_t **vw = NULL, **vi = NULL;
	struct dnsx_diff *d = NULL;
	enum svc_status st = SVC_ENOMEM;

	*out = NULL;
	/* A name may hold the same records in both: what both lists hold is no change. */
	dnsz_each_changed_node(old, new, node_records, &was);
	dnsz_each_changed_node(new, old, node_records, &is);
	if (was.failed || is.failed)
		goto done;
	vw = flat_sorted(&was);
	vi = flat_sorted(&is);
	if (vw == NULL || vi == NULL)
		goto done;
	minus(vw, was.n, vi, is.n, &del);
	minus(vi, is.n, vw, was.n, &add);
	d = calloc(1, sizeof(*d));
	if (del.failed || add.failed || d == NULL)
		goto done;
	d->refs = 1;
	d->from = old->serial;
	d->to = new->serial;
	d->del = del.buf;
	d->del_len = del.len;
	d->n_del = del.n;
	d->add = add.buf;
	d->add_len = add.len;
	d->n_add = add.n;
	del.buf = add.buf = NULL;
	*out = d;
	d = NULL;
	st = SVC_OK;
done:
	free(d);
	free(vw);
	free(vi);
	free(was.buf);
	free(is.buf);
	free(del.buf);
	free(add.buf);
	return st;
}

size_t
dnsx_diff_deleted(const struct dnsx_diff *d)
{
	return d->n_del;
}

size_t
dnsx_diff_added(const struct dnsx_diff *d)
{
	return d->n_add;
}

void
dnsx_diff_unref(struct dnsx_diff *d)
{
	if (d == NULL ||
	    atomic_fetch_sub_explicit((_Atomic int *)&d->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(d->del);
	free(d->add);
	free(d);
}

static size_t
diff_bytes(const struct dnsx_diff *d)
{
	return sizeof(*d) + d->del_len + d->add_len;
}

enum svc_status
dnsx_journal_add(const struct dnsx_journal *j, struct dnsx_diff *d, struct dnsx_journal **out)
{
	struct dnsx_journal *n = calloc(1, sizeof(*n));
	bool follows = j != NULL && j->tail == d->from, empty = d->n_del == 0 && d->n_add == 0;
	size_t keep = follows ? j->n : 0, first = 0, bytes = empty ? 0 : diff_bytes(d);

	*out = NULL;
	/* The oldest go first, down to the bounds; the newest always stays. */
	for (size_t i = 0; i < keep; i++)
		bytes += diff_bytes(j->d[i]);
	while (first < keep &&
	       (keep - first + !empty > DNSX_JOURNAL_MAX || bytes > DNSX_JOURNAL_BYTES))
		bytes -= diff_bytes(j->d[first++]);
	if (n != NULL)
		n->d = malloc((keep - first + 1) * sizeof(*n->d));
	if (n == NULL || n->d == NULL) {
		free(n);
		dnsx_diff_unref(d);
		return SVC_ENOMEM;
	}
	n->refs = 1;
	/* Serials dropped with the oldest changes are not held any more. */
	n->start = !follows ? d->from : first > 0 ? j->d[first - 1]->to : j->start;
	n->tail = d->to;
	for (size_t i = first; i < keep; i++) {
		atomic_fetch_add_explicit((_Atomic int *)&j->d[i]->refs, 1, memory_order_relaxed);
		n->d[n->n++] = j->d[i];
	}
	if (empty)
		dnsx_diff_unref(d); /* only the serial moved: the last run goes on */
	else
		n->d[n->n++] = d;
	n->bytes = bytes;
	*out = n;
	return SVC_OK;
}

uint32_t
dnsx_journal_changed(const struct dnsx_journal *j)
{
	return j->n > 0 ? j->d[j->n - 1]->to : j->start;
}

size_t
dnsx_journal_changes(const struct dnsx_journal *j)
{
	return j != NULL ? j->n : 0;
}

size_t
dnsx_journal_bytes(const struct dnsx_journal *j)
{
	return j != NULL ? j->bytes : 0;
}

struct dnsx_journal *
dnsx_journal_ref(struct dnsx_journal *j)
{
	if (j != NULL)
		atomic_fetch_add_explicit((_Atomic int *)&j->refs, 1, memory_order_relaxed);
	return j;
}

void
dnsx_journal_unref(struct dnsx_journal *j)
{
	if (j == NULL ||
	    atomic_fetch_sub_explicit((_Atomic int *)&j->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < j->n; i++)
		dnsx_diff_unref(j->d[i]);
	free(j->d);
	free(j);
}

/* The zone's SOA with another SERIAL: the old and new versions framing a change. */
static void
soa_serial(const struct dnsa_rr *soa, uint32_t serial, struct dnsa_rr *out)
{
	size_t at = 0;

	*out = *soa;
	for (int i = 0; i < 2; i++) {
		while (at < out->rdlen && out->rdata[at] != 0)
			at += 1 + (size_t)out->rdata[at];
		at++;
	}
	if (at + 4 <= out->rdlen)
		dnsw_put32(out->rdata + at, serial);
}

/* The next record of an incremental transfer into X->rr; false when the changes are done. */
static bool
next_change(struct dnsx *x)
{
	static const struct dnsx_diff none; /* a client in the last run: only the serial moves */
	const struct dnsx_journal *j = x->j;

	while (x->at_change < j->n || (x->at_change == j->n && x->first == j->n)) {
		const struct dnsx_diff *d = x->at_change < j->n ? j->d[x->at_change] : &none;
		const uint8_t *recs = x->stage == 1 ? d->del : d->add;
		size_t len = x->stage == 1 ? d->del_len : d->add_len;
		/* Each change's SOAs name the runs it leads from and to, so that they chain: the
		 * client's serial, then the first serial of each next run, the zone's last. */
		uint32_t from = x->at_change == x->first ? x->client : d->from;
		uint32_t to = x->at_change + 1 < j->n ? j->d[x->at_change + 1]->from : j->tail;

		switch (x->stage) {
		case 0:
		case 2:
			soa_serial(&x->soa, x->stage == 0 ? from : to, &x->rr);
			x->stage++;
			x->at_off = 0;
			return true;
		default:
			if (x->at_off < len) {
				flat_get(recs + x->at_off, &x->rr);
				x->at_off += flat_len(recs + x->at_off);
				return true;
			}
			if (x->stage == 1) {
				x->stage = 2;
			} else {
				x->stage = 0;
				x->at_change++;
				if (d == &none)
					return false;
			}
		}
	}
	return false;
}

/* Put RR in the message W, unless it would pass the target size (a message's first record
 * always goes in). K[1] follows the last owner written. */
static bool
put(struct dnsw_wr *w, const struct dnsa_rr *rr, struct dnsa_known *k, uint16_t *an)
{
	struct dnsw_wr save = *w;
	size_t owner_at = w->len, literal;

	literal = dnsa_put_rr(w, rr, k, 2);
	if (w->full || (w->len > DNSX_MSG_TARGET && *an > 0)) {
		*w = save;
		return false;
	}
	if (k[1].name == NULL || k[1].len != rr->owner_len ||
	    memcmp(k[1].name, rr->owner, rr->owner_len) != 0 || literal > k[1].literal)
		k[1] = (struct dnsa_known){owner_at, rr->owner, rr->owner_len, literal};
	(*an)++;
	return true;
}

size_t
dnsx_next(struct dnsx *x, uint8_t *out)
{
	struct dnsw_wr w;
	struct dnsa_known k[2] = {{DNSW_HEADER, x->soa.owner, x->soa.owner_len, x->soa.owner_len}};
	/* K[1]'s name must outlive the message: owners are copied here as they are written. */
	uint8_t owner[DNSW_NAME_MAX];
	uint16_t an = 0;

	if (x->phase == PHASE_DONE)
		return 0;
	dnsw_wr_init(&w, out, DNSQ_OUT_MAX);
	dnsw_wr_u16(&w, x->id);
	dnsw_wr_u16(&w, x->flags);
	dnsw_wr_u16(&w, 1);
	dnsw_wr_u16(&w, 0);
	dnsw_wr_u16(&w, 0);
	dnsw_wr_u16(&w, 0);
	dnsw_wr_bytes(&w, x->question, x->question_len);
	for (;;) {
		if (x->phase == PHASE_FIRST_SOA) {
			if (!put(&w, &x->soa, k, &an))
				break;
			x->phase = x->j != NULL ? PHASE_CHANGES : PHASE_NAMES;
			continue;
		}
		if (x->phase == PHASE_NAMES || x->phase == PHASE_CHANGES) {
			if (!x->have_rr &&
			    !(x->have_rr =
			              x->phase == PHASE_NAMES ? next_record(x) : next_change(x))) {
				x->phase = PHASE_LAST_SOA;
				continue;
			}
			if (!put(&w, &x->rr, k, &an))
				break;
			if (k[1].name == x->rr.owner) {
				memcpy(owner, x->rr.owner, x->rr.owner_len);
				k[1].name = owner;
			}
			x->have_rr = false;
			continue;
		}
		if (x->phase == PHASE_LAST_SOA && put(&w, &x->soa, k, &an))
			x->phase = PHASE_DONE;
		break;
	}
	x->records += an;
	dnsw_put16(out + 6, an);
	return w.len;
}

size_t
dnsx_notify(const struct dnsz *z, uint16_t id, uint8_t *out)
{
	struct dnsw_wr w;
	struct dnsa_rr soa;
	struct dnsa_known k[1] = {{DNSW_HEADER, z->apex, z->apex_len, z->apex_len}};
	uint16_t an = 0;

	dnsw_wr_init(&w, out, DNSQ_OUT_MAX);
	dnsw_wr_u16(&w, id);
	dnsw_wr_u16(&w, (uint16_t)(4u << 11) | DNSW_F_AA); /* opcode NOTIFY */
	dnsw_wr_u16(&w, 1);
	dnsw_wr_u16(&w, 0);
	dnsw_wr_u16(&w, 0);
	dnsw_wr_u16(&w, 0);
	dnsw_wr_bytes(&w, z->apex, z->apex_len);
	dnsw_wr_u16(&w, DNSW_T_SOA);
	dnsw_wr_u16(&w, DNSW_C_IN);
	/* The new serial, as a hint (RFC 1996 3.7). */
	if (read_soa(z, &soa)) {
		dnsa_put_rr(&w, &soa, k, 1);
		an = 1;
	}
	dnsw_put16(out + 6, an);
	return w.len;
}
