/* etcdrange.c -- a range response read where it lies, or as a tree (etcdrange.h).
 *
 * The fast reader accepts a subset of JSON that means the same to jansson, and answers "not
 * mine" for anything else rather than deciding it: so every error and every odd case is the
 * tree's, and the two agree by construction where the fast reader answers at all. */
#include "etcdrange.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "etcdc.h"
#include "etcdjson.h"
#include "vec.h"

enum fast {
	FAST_OK,
	FAST_NO, /* outside the shape: read it as a tree */
	FAST_ENOMEM,
};

/* A reader over [p, end). */
struct rd {
	const char *p, *end;
	struct etcdrange *out;
	size_t used; /* of out->bytes */
	bool enomem;
};

static const uint8_t empty[1];

static void
ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
		r->p++;
}

static bool
eat(struct rd *r, char c)
{
	ws(r);
	if (r->p < r->end && *r->p == c) {
		r->p++;
		return true;
	}
	return false;
}

static bool
word(struct rd *r, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
		return false;
	r->p += n;
	return true;
}

/* A string of printable ASCII without escapes (as every name and number etcd writes): its
 * characters at *S, *N of them. */
static bool
plain(struct rd *r, const char **s, size_t *n)
{
	const char *q;

	if (!eat(r, '"'))
		return false;
	for (q = r->p; q < r->end && *q != '"'; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f || *q == '\\')
			return false;
	if (q == r->end)
		return false;
	*s = r->p;
	*n = (size_t)(q - r->p);
	r->p = q + 1;
	return true;
}

static bool
is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(s, name, n) == 0;
}

/* Digits at *Q, into *V: false for none, or more than INT64_MAX (19 digits never overflow
 * 64 unsigned bits). */
static bool
digits(struct rd *r, const char **q, int64_t *v)
{
	const char *s = *q;
	uint64_t x = 0;

	while (*q < r->end && **q >= '0' && **q <= '9' && *q - s < 20)
		x = x * 10 + (uint64_t)(*(*q)++ - '0');
	*v = (int64_t)x;
	return *q > s && *q - s <= 19 && x <= INT64_MAX;
}

/* A number as jansson reads an integer: no leading zero, no fraction or exponent after it. */
static bool
integer(struct rd *r, int64_t *v)
{
	const char *q = r->p, *d;
	bool neg = q < r->end && *q == '-';

	q += neg;
	d = q;
	if (!digits(r, &q, v) || (*d == '0' && (neg || q - d > 1)))
		return false;
	if (q < r->end && (*q == '.' || *q == 'e' || *q == 'E'))
		return false;
	if (neg)
		*v = -*v;
	r->p = q;
	return true;
}

/* An int64 as etcdc_int reads it: a string of digits (perhaps signed), or an integer. */
static bool
int64_field(struct rd *r, int64_t *v)
{
	const char *q;
	bool neg;

	ws(r);
	if (r->p == r->end)
		return false;
	if (*r->p != '"')
		return integer(r, v);
	q = r->p + 1;
	neg = q < r->end && *q == '-';
	q += neg;
	if (!digits(r, &q, v) || q == r->end || *q != '"')
		return false;
	if (neg)
		*v = -*v;
	r->p = q + 1;
	return true;
}

/* A base64 string, decoded into the range's bytes with a NUL after it. A string takes its
 * length plus two quotes in the body and at most three quarters of it plus the NUL decoded:
 * bytes as large as the body always suffice. */
static bool
bytes(struct rd *r, const uint8_t **out, size_t *len)
{
	const char *s, *q;
	uint8_t *dst = r->out->bytes + r->used;
	size_t n;

	if (!eat(r, '"'))
		return false;
	s = r->p;
	q = memchr(s, '"', (size_t)(r->end - s));
	/* An escape or a character outside the alphabet fails the decoding. */
	if (q == NULL || b64_decode(s, (size_t)(q - s), dst, (size_t)(q - s) / 4 * 3, &n) != SVC_OK)
		return false;
	dst[n] = '\0';
	r->used += n + 1;
	*out = dst;
	*len = n;
	r->p = q + 1;
	return true;
}

/* A member of ours met for the first time: a name met twice is not ours (jansson keeps the
 * last; this reader would have read both). */
static bool
once(unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return false;
	*seen |= bit;
	return true;
}

/* An object: each member's value read by EACH, given its name (S, N) and a bit per name. */
typedef bool (*member_fn)(struct rd *r, const char *s, size_t n, unsigned *seen, void *arg);

static bool skip_member(struct rd *r, const char *s, size_t n, unsigned *seen, void *arg);

static bool
object(struct rd *r, member_fn each, void *arg)
{
	const char *s;
	size_t n;
	unsigned seen = 0;

	if (!eat(r, '{'))
		return false;
	if (eat(r, '}'))
		return true;
	do
		if (!plain(r, &s, &n) || !eat(r, ':') || !each(r, s, n, &seen, arg))
			return false;
	while (eat(r, ','));
	return eat(r, '}');
}

static bool
skip(struct rd *r, int depth)
{
	const char *s;
	size_t n;
	int64_t v;

	ws(r);
	if (r->p == r->end || depth > ETCDRANGE_DEPTH)
		return false;
	switch (*r->p) {
	case '"':
		return plain(r, &s, &n);
	case '{':
		return object(r, skip_member, &depth);
	case '[':
		r->p++;
		if (eat(r, ']'))
			return true;
		do
			if (!skip(r, depth + 1))
				return false;
		while (eat(r, ','));
		return eat(r, ']');
	case 't':
		return word(r, "true");
	case 'f':
		return word(r, "false");
	case 'n':
		return word(r, "null");
	default:
		return integer(r, &v);
	}
}

static bool
skip_member(struct rd *r, const char *s, size_t n, unsigned *seen, void *arg)
{
	(void)s;
	(void)n;
	(void)seen;
	return skip(r, *(const int *)arg + 1);
}

static bool
header_member(struct rd *r, const char *s, size_t n, unsigned *seen, void *arg)
{
	(void)arg;
	if (is(s, n, "revision"))
		return once(seen, 1) && int64_field(r, &r->out->revision);
	return skip(r, 2);
}

static bool
kv_member(struct rd *r, const char *s, size_t n, unsigned *seen, void *arg)
{
	static const char *const ints[] = {"create_revision", "mod_revision", "version", "lease"};
	struct etcdrange_kv *kv = arg;
	int64_t *const at[] = {&kv->create_revision, &kv->mod_revision, &kv->version, &kv->lease};

	if (is(s, n, "key"))
		return once(seen, 1) && bytes(r, &kv->key, &kv->key_len);
	if (is(s, n, "value"))
		return once(seen, 2) && bytes(r, &kv->value, &kv->value_len);
	for (size_t i = 0; i < 4; i++)
		if (is(s, n, ints[i]))
			return once(seen, 4u << i) && int64_field(r, at[i]);
	return skip(r, 3);
}

static bool
kvs(struct rd *r)
{
	struct etcdrange *o = r->out;
	struct etcdrange_kv *k;

	if (!eat(r, '['))
		return false;
	if (eat(r, ']'))
		return true;
	do {
		k = vec_push(&o->kvs, &o->n_kvs, &o->cap_kvs, sizeof(*k), NULL);
		if (k == NULL) {
			r->enomem = true;
			return false;
		}
		k->key = k->value = empty;
		if (!object(r, kv_member, k))
			return false;
	} while (eat(r, ','));
	return eat(r, ']');
}

static bool
top_member(struct rd *r, const char *s, size_t n, unsigned *seen, void *arg)
{
	(void)arg;
	if (is(s, n, "error"))
		return false;
	if (is(s, n, "header"))
		return once(seen, 1) && object(r, header_member, NULL);
	if (is(s, n, "kvs"))
		return once(seen, 2) && kvs(r);
	if (is(s, n, "more")) {
		ws(r);
		if (!once(seen, 4))
			return false;
		r->out->more = word(r, "true");
		return r->out->more || word(r, "false");
	}
	return skip(r, 1);
}

static enum fast
read_fast(const char *body, size_t len, struct etcdrange *out)
{
	struct rd r = {.p = body, .end = body + len, .out = out};

	if (!object(&r, top_member, NULL))
		return r.enomem ? FAST_ENOMEM : FAST_NO;
	ws(&r);
	return r.p == r.end ? FAST_OK : FAST_NO;
}

void
etcdrange_free(struct etcdrange *r)
{
	if (r == NULL)
		return;
	free(r->kvs);
	free(r->bytes);
	memset(r, 0, sizeof(*r));
}

/* Key or value V (N bytes, a NUL after them) of a tree into the range's bytes. */
static void
tree_bytes(struct etcdrange *o, size_t *used, const uint8_t *v, size_t n, const uint8_t **at)
{
	if (n == 0)
		return; /* *AT stays "": an absent key takes no room in the body either */
	memcpy(o->bytes + *used, v, n + 1);
	*at = o->bytes + *used;
	*used += n + 1;
}

enum svc_status
etcdrange_read_tree(const char *body, size_t len, struct etcdrange *out, char *why, size_t whylen)
{
	json_error_t je;
	json_t *resp = etcdjson_load(body, len, &je);
	const json_t *item, *err;
	enum svc_status st = SVC_EINVAL;
	size_t i, used = 0;

	memset(out, 0, sizeof(*out));
	out->tree = true;
	if (resp == NULL || !json_is_object(resp)) {
		snprintf(why, whylen, "etcd answered with no JSON object");
		goto done;
	}
	err = json_object_get(resp, "error");
	if (err != NULL) {
		const char *msg = json_string_value(json_object_get(resp, "message"));

		snprintf(why, whylen, "%s",
		         msg                   ? msg
		         : json_is_string(err) ? json_string_value(err)
		                               : "etcd error");
		goto done;
	}
	st = SVC_ENOMEM;
	/* As in the fast reader: what a tree decodes is never longer than its JSON. */
	out->bytes = malloc(len + 1);
	if (out->bytes == NULL)
		goto done;
	(void)etcdc_int(json_object_get(resp, "header"), "revision", &out->revision);
	out->more = json_is_true(json_object_get(resp, "more"));
	json_array_foreach(json_object_get(resp, "kvs"), i, item)
	{
		struct etcdrange_kv *k =
		        vec_push(&out->kvs, &out->n_kvs, &out->cap_kvs, sizeof(*k), NULL);
		struct etcdc_kv d;

		if (k == NULL)
			goto done;
		k->key = k->value = empty;
		if (etcdc_kv_decode(item, &d) != SVC_OK) {
			k->bad = true;
			continue;
		}
		tree_bytes(out, &used, d.key, d.key_len, &k->key);
		tree_bytes(out, &used, d.value, d.value_len, &k->value);
		k->key_len = d.key_len;
		k->value_len = d.value_len;
		k->create_revision = d.create_revision;
		k->mod_revision = d.mod_revision;
		k->version = d.version;
		k->lease = d.lease;
		etcdc_kv_free(&d);
	}
	st = SVC_OK;
done:
	json_decref(resp);
	if (st != SVC_OK)
		etcdrange_free(out);
	if (st == SVC_ENOMEM)
		snprintf(why, whylen, "out of memory");
	return st;
}

enum svc_status
etcdrange_read(const char *body, size_t len, struct etcdrange *out, char *why, size_t whylen)
{
	enum fast f;

	memset(out, 0, sizeof(*out));
	out->bytes = malloc(len + 1);
	if (out->bytes == NULL) {
		snprintf(why, whylen, "out of memory");
		return SVC_ENOMEM;
	}
	f = read_fast(body, len, out);
	if (f == FAST_OK)
		return SVC_OK;
	etcdrange_free(out);
	if (f == FAST_ENOMEM) {
		snprintf(why, whylen, "out of memory");
		return SVC_ENOMEM;
	}
	return etcdrange_read_tree(body, len, out, why, whylen);
}
