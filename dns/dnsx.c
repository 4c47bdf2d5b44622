/* dnsx.c -- zone transfers and NOTIFY (dnsx.h). A transfer walks the zone's names with a
 * cursor (dnsz_next_node) and reads each name's ready answers back record by record (dnsa.h):
 * the records of its own name, from the answer section, once per type. */
#include "dnsx.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dnsa.h"

enum phase {
	PHASE_FIRST_SOA,
	PHASE_NAMES,
	PHASE_LAST_SOA,
	PHASE_DONE,
};

struct dnsx {
	struct dnsz *z;
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

/* The apex's SOA record. */
static bool
read_soa(const struct dnsz *z, struct dnsa_rr *soa)
{
	const struct dnsz_node *apex = dnsz_find(z, z->apex, z->apex_len,
	                                         dnsw_name_hash(z->apex, z->apex_len));
	const struct dnsz_answer *a = apex != NULL ? dnsz_rr(apex, DNSZ_SOA) : NULL;
	struct dnsa_reader r;

	if (a == NULL || a->an < 1)
		return false;
	dnsa_reader_init(&r, a, z->apex, z->apex_len);
	return dnsa_next(&r, soa) && soa->type == DNSW_T_SOA;
}

enum svc_status
dnsx_start(struct dnsz *z, const struct dnsq_query *q, const uint8_t *qpkt, struct dnsx **out)
{
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
	*out = x;
	return SVC_OK;
}

void
dnsx_free(struct dnsx *x)
{
	if (x == NULL)
		return;
	atomic_fetch_sub_explicit((_Atomic int *)&x->z->holders, 1, memory_order_release);
	dnsz_unref(x->z);
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
			x->phase = PHASE_NAMES;
			continue;
		}
		if (x->phase == PHASE_NAMES) {
			if (!x->have_rr && !(x->have_rr = next_record(x))) {
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
