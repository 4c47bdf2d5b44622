/* test_upstream.c -- the upstream layer with a fake transport (requests whose reply callback
 * records the answer) and fake upstream servers (UDP sockets on loopback, on the same event loop,
 * that answer, hold or ignore what they get): the cache, coalescing, the deadline's SERVFAIL,
 * failover, a socket (source port) per question with random IDs, and every bound. */
#include "testutil.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dnsz.h"
#include "upstream.h"

#include "dnstu.h"

#define MAX_SEEN 4096

enum fake_mode {
	FAKE_ANSWER, /* answer at once */
	FAKE_HOLD,   /* keep the queries; fake_release answers them */
	FAKE_SILENT, /* never answer */
	FAKE_REFUSE, /* answer REFUSED at once */
	FAKE_SHORT,  /* answer at once, with TTL 1 */
};

struct fake_up {
	int fd;
	struct daemon_addr addr;
	struct event *ev;
	enum fake_mode mode;
	size_t n; /* queries received */
	uint16_t port[MAX_SEEN], id[MAX_SEEN];
	struct sockaddr_storage from[MAX_SEEN];
	socklen_t from_len[MAX_SEEN];
	uint8_t pkt[MAX_SEEN][300];
	size_t len[MAX_SEEN];
	size_t released;
};

/* What the fake transport got. */
struct got {
	size_t n;
	uint16_t id[MAX_SEEN], rcode[MAX_SEEN], an[MAX_SEEN];
	uint32_t ttl[MAX_SEEN]; /* of the first record */
};

static struct event_base *base;
static struct dnsz *empty;
static struct got got;
static struct dnsd_metrics metrics;
static uint8_t out[DNSQ_OUT_MAX];

/* An answer to query Q (LEN bytes): its header and question, one A record 192.0.2.7. */
static size_t
make_answer(const uint8_t *q, size_t len, uint8_t *a)
{
	size_t o = 12;

	while (o < len && q[o] != 0)
		o += 1 + q[o];
	o += 5; /* the root label, type, class */
	memcpy(a, q, o);
	a[2] = (uint8_t)(0x80 | (q[2] & 0x01)); /* QR, RD as asked */
	a[3] = 0x80;                            /* RA */
	a[6] = 0;
	a[7] = 1;
	a[8] = a[9] = a[10] = a[11] = 0;
	memcpy(a + o, "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x07", 16);
	return o + 16;
}

static void
fake_reply(struct fake_up *f, size_t i)
{
	uint8_t a[400];
	size_t n = make_answer(f->pkt[i], f->len[i], a);

	sendto(f->fd, a, n, 0, (struct sockaddr *)&f->from[i], f->from_len[i]);
}

static void
on_fake(evutil_socket_t fd, short what, void *arg)
{
	struct fake_up *f = arg;
	(void)what;

	for (;;) {
		size_t i = f->n < MAX_SEEN ? f->n : MAX_SEEN - 1;
		ssize_t n;

		f->from_len[i] = sizeof(f->from[i]);
		n = recvfrom(fd, f->pkt[i], sizeof(f->pkt[i]), MSG_DONTWAIT,
		             (struct sockaddr *)&f->from[i], &f->from_len[i]);
		if (n < 12)
			return;
		f->len[i] = (size_t)n;
		f->port[i] = ntohs(((struct sockaddr_in *)&f->from[i])->sin_port);
		f->id[i] = (uint16_t)(f->pkt[i][0] << 8 | f->pkt[i][1]);
		f->n++;
		if (f->mode == FAKE_ANSWER)
			fake_reply(f, i);
		if (f->mode == FAKE_SHORT) {
			uint8_t a[400];
			size_t len = make_answer(f->pkt[i], f->len[i], a);

			a[len - 7] = 1; /* the A record's TTL: 60 -> 1 */
			sendto(f->fd, a, len, 0, (struct sockaddr *)&f->from[i], f->from_len[i]);
		}
		if (f->mode == FAKE_REFUSE) {
			uint8_t a[400];
			size_t len = make_answer(f->pkt[i], f->len[i], a) - 16;

			a[3] = 0x80 | DNSW_R_REFUSED;
			a[7] = 0; /* no answer */
			sendto(f->fd, a, len, 0, (struct sockaddr *)&f->from[i], f->from_len[i]);
		}
	}
}

static struct fake_up *
fake_new(enum fake_mode mode)
{
	struct fake_up *f = calloc(1, sizeof(*f));
	struct sockaddr_in *sin = (struct sockaddr_in *)&f->addr.sa;
	socklen_t len = sizeof(*sin);

	assert_non_null(f);
	f->mode = mode;
	f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(f->fd >= 0);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)sin, &len), 0);
	f->addr.len = sizeof(*sin);
	f->ev = event_new(base, f->fd, EV_READ | EV_PERSIST, on_fake, f);
	event_add(f->ev, NULL);
	return f;
}

/* Answer every query held so far. */
static void
fake_release(struct fake_up *f)
{
	for (; f->released < f->n; f->released++)
		fake_reply(f, f->released);
}

static void
fake_free(struct fake_up *f)
{
	event_free(f->ev);
	close(f->fd);
	free(f);
}

/* ---- the fake transport ---- */

static void
on_reply(struct dnsd_req *r, const uint8_t *buf, size_t len)
{
	struct dt_msg *m = dt_parse(buf, len);
	(void)r;

	assert_non_null(m);
	assert_true(got.n < MAX_SEEN);
	got.id[got.n] = m->id;
	got.rcode[got.n] = (uint16_t)dt_rcode(m);
	got.an[got.n] = m->an;
	got.ttl[got.n] = m->n > 0 ? m->rr[0].ttl : 0;
	got.n++;
	free(m);
}

/* A client's query for NAME (type A, recursion desired) with ID, as a request. */
static struct dnsd_req *
request(const char *name, uint16_t id)
{
	uint8_t pkt[512];
	size_t len = dt_query(pkt, id, DNSW_F_RD, name, DNSW_T_A, DNSW_C_IN, 1232, 0);
	struct dnsq_query q;
	struct dnsq_result res;
	struct dnsd_req *r;

	dnsq_answer(empty, pkt, len, DNSQ_UDP, out, &q, &res);
	assert_int_equal(res.action, DNSQ_FORWARD);
	r = dnsd_req_new(&q, &res, pkt, out, 0);
	assert_non_null(r);
	r->reply = on_reply;
	r->start_ns = now_ns();
	return r;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* Run the loop until *COUNT reaches WANT or MS pass; true when it did. */
static bool
run_until(const size_t *count, size_t want, int ms)
{
	bool expired = false;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *t = evtimer_new(base, on_timeout, &expired);

	evtimer_add(t, &tv);
	while (*count < want && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	return *count >= want;
}

/* Run the loop for MS. */
static void
run_for(int ms)
{
	size_t never = 0;

	run_until(&never, 1, ms);
}

static uint32_t stale_s; /* the next upstream's serve-stale window */

static struct dnsd_upstream *
upstream(struct fake_up **f, size_t n_servers, uint32_t timeout_ms, size_t max_inflight,
         size_t sockets, size_t max_waiters, size_t max_waiting, struct dnsc *cache)
{
	struct daemon_addr addrs[4];
	struct dnsd_upstream_config cfg = {
	        .servers = addrs,
	        .n_servers = n_servers,
	        .timeout_ms = timeout_ms,
	        .stale_s = stale_s,
	        .max_inflight = max_inflight,
	        .sockets = sockets,
	        .max_waiters = max_waiters,
	        .max_waiting = max_waiting,
	        .limits = {.max_ttl = 3600, .max_neg_ttl = 1800},
	};
	struct dnsd_upstream *up;

	for (size_t i = 0; i < n_servers; i++)
		addrs[i] = f[i]->addr;
	memset(&got, 0, sizeof(got));
	memset(&metrics, 0, sizeof(metrics));
	assert_int_equal(dnsd_upstream_create(base, &cfg, cache, &metrics, &up), SVC_OK);
	return up;
}

static size_t
count_rcode(uint16_t rcode)
{
	size_t n = 0;

	for (size_t i = 0; i < got.n; i++)
		n += got.rcode[i] == rcode;
	return n;
}

static int
setup(void **state)
{
	struct dnsz_options opts = {.domain = "cluster.local", .ttl = 5};

	(void)state;
	base = event_base_new();
	return base == NULL || dnsz_build(NULL, &opts, &empty) != SVC_OK;
}

static int
teardown(void **state)
{
	(void)state;
	dnsz_unref(empty);
	event_base_free(base);
	return 0;
}

/* ---- tests ---- */

/* An answer reaches the client with the client's ID; the upstream saw another, random one; the
 * same question again comes from the cache. */
static void
test_answer_and_cache(void **state)
{
	struct fake_up *f = fake_new(FAKE_ANSWER);
	struct dnsc *cache;
	struct dnsd_upstream *up;

	(void)state;
	assert_int_equal(dnsc_create(100, &cache), SVC_OK);
	up = upstream(&f, 1, 3000, 100, 16, 10, 100, cache);
	dnsd_upstream_submit(up, request("www.example.com", 0x1234));
	assert_true(run_until(&got.n, 1, 2000));
	assert_int_equal(got.id[0], 0x1234);
	assert_int_equal(got.rcode[0], DNSW_R_NOERROR);
	assert_int_equal(got.an[0], 1);
	assert_int_equal(f->n, 1);
	assert_int_not_equal(f->id[0], 0x1234);
	/* The query upstream has our OPT and the question, not the client's packet. */
	{
		struct dt_msg *m = dt_parse(f->pkt[0], f->len[0]);

		assert_non_null(m);
		assert_string_equal(m->qname, "www.example.com.");
		assert_true(m->has_opt);
		assert_int_equal(m->opt_size, DNSQ_UDP_MAX);
		free(m);
	}
	dnsd_upstream_submit(up, request("WWW.example.com", 0x4321));
	assert_int_equal(got.n, 2); /* at once, from the cache */
	assert_int_equal(got.id[1], 0x4321);
	assert_int_equal(got.an[1], 1);
	assert_int_equal(f->n, 1);
	dnsd_upstream_destroy(up);
	dnsc_destroy(cache);
	fake_free(f);
}

/* Fifty clients asking one question make one upstream query and all get the answer. */
static void
test_coalescing(void **state)
{
	struct fake_up *f = fake_new(FAKE_HOLD);
	struct dnsd_upstream *up = upstream(&f, 1, 3000, 100, 16, 100, 1000, NULL);
	struct dnsd_upstream_stats st;

	(void)state;
	for (uint16_t i = 0; i < 50; i++)
		dnsd_upstream_submit(up, request("same.example.com", (uint16_t)(100 + i)));
	assert_true(run_until(&f->n, 1, 1000));
	run_for(50);
	assert_int_equal(f->n, 1);
	dnsd_upstream_stats(up, &st);
	assert_int_equal(st.coalesced, 49);
	assert_int_equal(st.waiting, 50);
	fake_release(f);
	assert_true(run_until(&got.n, 50, 2000));
	assert_int_equal(count_rcode(DNSW_R_NOERROR), 50);
	for (size_t i = 0; i < 50; i++)
		assert_int_equal(got.id[i], 100 + i);
	dnsd_upstream_stats(up, &st);
	assert_int_equal(st.waiting, 0);
	assert_int_equal(st.inflight, 0);
	dnsd_upstream_destroy(up);
	fake_free(f);
}

/* A silent upstream: SERVFAIL at the deadline, not later, and nothing left behind. */
static void
test_deadline(void **state)
{
	struct fake_up *f = fake_new(FAKE_SILENT);
	struct dnsd_upstream *up = upstream(&f, 1, 300, 100, 16, 10, 100, NULL);
	struct dnsd_upstream_stats st;
	uint64_t t0 = now_ms(), took;

	(void)state;
	dnsd_upstream_submit(up, request("slow.example.com", 7));
	dnsd_upstream_submit(up, request("slow.example.com", 8));
	assert_true(run_until(&got.n, 2, 3000));
	took = now_ms() - t0;
	assert_int_equal(count_rcode(DNSW_R_SERVFAIL), 2);
	assert_true(took >= 250);
#ifndef SVC_SANITIZED
	assert_true(took < 1500);
#endif
	dnsd_upstream_stats(up, &st);
	assert_int_equal(st.timeouts, 1);
	/* Its channel was its own: cancelled at once, nothing lingers. */
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.lingering, 0);
	assert_int_equal(st.waiting, 0);
	dnsd_upstream_destroy(up);
	fake_free(f);
}

/* One upstream silent, the other answering: every question is answered, within the deadline. */
static void
test_failover(void **state)
{
	struct fake_up *f[2] = {fake_new(FAKE_SILENT), fake_new(FAKE_ANSWER)};
	struct dnsd_upstream *up = upstream(f, 2, 1500, 100, 16, 10, 100, NULL);
	char name[64];

	(void)state;
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "q%d.example.com", i);
		dnsd_upstream_submit(up, request(name, (uint16_t)i));
	}
	assert_true(run_until(&got.n, 6, 3000));
	assert_int_equal(count_rcode(DNSW_R_NOERROR), 6);
	assert_true(f[0]->n > 0); /* some went to the silent one first */
	dnsd_upstream_destroy(up);
	fake_free(f[0]);
	fake_free(f[1]);
}

/* Every upstream refuses: the client hears REFUSED (as from CoreDNS's forward), counted; one
 * refusing and one silent: SERVFAIL, as for any failure that is not every upstream's refusal;
 * nothing refused is cached. */
static void
test_refused(void **state)
{
	struct fake_up *f[2] = {fake_new(FAKE_REFUSE), fake_new(FAKE_REFUSE)};
	struct dnsd_upstream *up = upstream(f, 2, 1500, 100, 16, 10, 100, NULL);
	struct dnsd_upstream_stats st;

	(void)state;
	dnsd_upstream_submit(up, request("no.example.com", 1));
	assert_true(run_until(&got.n, 1, 3000));
	assert_int_equal(count_rcode(DNSW_R_REFUSED), 1);
	assert_int_equal(f[0]->n + f[1]->n, 2); /* each was asked */
	dnsd_upstream_submit(up, request("no.example.com", 2));
	assert_true(run_until(&got.n, 2, 3000));
	assert_int_equal(count_rcode(DNSW_R_REFUSED), 2);
	assert_int_equal(f[0]->n + f[1]->n, 4); /* asked again: not cached */
	dnsd_upstream_stats(up, &st);
	assert_int_equal(st.refused, 2);
	assert_int_equal(st.failures, 0);
	dnsd_upstream_destroy(up);
	fake_free(f[1]);
	f[1] = fake_new(FAKE_SILENT);
	up = upstream(f, 2, 600, 100, 16, 10, 100, NULL);
	dnsd_upstream_submit(up, request("half.example.com", 3));
	assert_true(run_until(&got.n, 1, 3000));
	assert_int_equal(count_rcode(DNSW_R_SERVFAIL), 1);
	dnsd_upstream_destroy(up);
	fake_free(f[0]);
	fake_free(f[1]);
}

/* Serve-stale: an entry past its TTL answers (TTL 30) when the upstream is silent, after the
 * 1.8 s client response timer and before the 3 s deadline, and again at once for a client that
 * comes after that timer; a question with no entry still gets SERVFAIL at the deadline; with
 * the window 0, an expired entry answers nothing. */
static void
test_serve_stale(void **state)
{
	struct fake_up *f = fake_new(FAKE_SHORT);
	struct dnsc *cache;
	struct dnsd_upstream *up;
	struct dnsd_upstream_stats st;
	uint64_t t0, took;

	(void)state;
	for (int window = 1; window >= 0; window--) {
		assert_int_equal(dnsc_create(100, &cache), SVC_OK);
		dnsc_set_stale(cache, window ? 60 : 0);
		stale_s = window ? 60 : 0;
		f->mode = FAKE_SHORT;
		up = upstream(&f, 1, 3000, 100, 16, 10, 100, cache);
		stale_s = 0;
		dnsd_upstream_submit(up, request("s.example.com", 1));
		assert_true(run_until(&got.n, 1, 2000));
		assert_int_equal(got.rcode[0], DNSW_R_NOERROR);
		assert_int_equal(got.ttl[0], 1);
		run_for(2100); /* past its TTL */
		f->mode = FAKE_SILENT;
		t0 = now_ms();
		dnsd_upstream_submit(up, request("s.example.com", 2));
		assert_true(run_until(&got.n, 2, 4000));
		took = now_ms() - t0;
		dnsd_upstream_stats(up, &st);
		if (window) {
			assert_int_equal(got.rcode[1], DNSW_R_NOERROR);
			assert_int_equal(got.an[1], 1);
			assert_int_equal(got.ttl[1], 30);
			assert_true(took >= 1700);
#ifndef SVC_SANITIZED
			assert_true(took < 2800);
#endif
			/* Another client of the same question, after the timer: stale at once. */
			t0 = now_ms();
			dnsd_upstream_submit(up, request("s.example.com", 3));
			assert_true(run_until(&got.n, 3, 1000));
			assert_int_equal(got.rcode[2], DNSW_R_NOERROR);
			assert_true(now_ms() - t0 < 500);
			dnsd_upstream_stats(up, &st);
			assert_int_equal(st.stale, 2);
			/* Its entry gone meanwhile (the window shrunk): that client waits, and gets
			 * SERVFAIL at the deadline like any other. */
			dnsc_set_stale(cache, 1);
			dnsd_upstream_submit(up, request("s.example.com", 5));
			assert_true(run_until(&got.n, 4, 2000));
			assert_int_equal(got.rcode[3], DNSW_R_SERVFAIL);
			assert_int_equal(got.id[3], 5);
			dnsc_set_stale(cache, 60);
			/* No entry: SERVFAIL at the deadline. */
			dnsd_upstream_submit(up, request("never.example.com", 4));
			assert_true(run_until(&got.n, 5, 4000));
			assert_int_equal(got.rcode[4], DNSW_R_SERVFAIL);
		} else {
			assert_int_equal(got.rcode[1], DNSW_R_SERVFAIL);
			assert_true(took >= 2500);
			assert_int_equal(st.stale, 0);
		}
		dnsd_upstream_destroy(up);
		dnsc_destroy(cache);
	}
	fake_free(f);
}

/* Each question in flight has its own source port; IDs are random, not the clients'. */
static void
test_ports_and_ids(void **state)
{
	struct fake_up *f = fake_new(FAKE_HOLD);
	struct dnsd_upstream *up = upstream(&f, 1, 3000, 200, 64, 10, 1000, NULL);
	struct dnsd_upstream_stats st;
	size_t distinct_ports = 0, sequential = 0, kept = 0;
	char name[64];

	(void)state;
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "p%d.example.org", i);
		dnsd_upstream_submit(up, request(name, (uint16_t)(1000 + i)));
	}
	assert_true(run_until(&f->n, 60, 2000));
	for (size_t i = 0; i < f->n; i++) {
		/* The question's own ID, from its name "p<k>.example.org" (sent with 1000 + k). A
		 * random ID equals it once in 65,536: one match in 60 may happen, not two. */
		int k = f->pkt[i][13] == 'p' ? atoi((const char *)f->pkt[i] + 14) : -1;
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= f->port[j] == f->port[i];
		distinct_ports += !seen;
		assert_in_range(k, 0, 59);
		kept += f->id[i] == 1000 + k;
		if (i > 0 && (uint16_t)(f->id[i - 1] + 1) == f->id[i])
			sequential++;
	}
	assert_int_equal(distinct_ports, 60);
	assert_true(kept < 2);
	assert_true(sequential < 3);
	dnsd_upstream_stats(up, &st);
	assert_int_equal(st.channels, 60);
	assert_int_equal(st.shared, 0);
	fake_release(f);
	assert_true(run_until(&got.n, 60, 2000));
	assert_int_equal(count_rcode(DNSW_R_NOERROR), 60);
	/* Channels left idle closed their sockets: the next question gets a fresh port. */
	dnsd_upstream_submit(up, request("again.example.org", 1));
	assert_true(run_until(&f->n, 61, 2000));
	for (size_t i = 0; i < 60; i++)
		assert_int_not_equal(f->port[60], f->port[i]);
	fake_release(f);
	assert_true(run_until(&got.n, 61, 2000));
	dnsd_upstream_destroy(up);
	fake_free(f);
}

/* More questions than max_inflight: the rest REFUSED at once, counted. */
static void
test_bound_inflight(void **state)
{
	struct fake_up *f = fake_new(FAKE_HOLD);
	struct dnsd_upstream *up = upstream(&f, 1, 3000, 5, 16, 10, 1000, NULL);
	struct dnsd_upstream_stats st;
	char name[64];

	(void)state;
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "i%d.example.org", i);
		dnsd_upstream_submit(up, request(name, (uint16_t)i));
	}
	assert_int_equal(got.n, 3);
	assert_int_equal(count_rcode(DNSW_R_REFUSED), 3);
	assert_int_equal(metrics.drops[DNSD_DROP_INFLIGHT], 3);
	dnsd_upstream_stats(up, &st);
	assert_int_equal(st.inflight, 5);
	assert_true(run_until(&f->n, 5, 2000));
	fake_release(f);
	assert_true(run_until(&got.n, 8, 2000));
	assert_int_equal(count_rcode(DNSW_R_NOERROR), 5);
	dnsd_upstream_destroy(up);
	fake_free(f);
}

/* More clients than max_waiters on one question, or than max_waiting in all: SERVFAIL at once. */
static void
test_bound_waiters(void **state)
{
	struct fake_up *f = fake_new(FAKE_HOLD);
	struct dnsd_upstream *up = upstream(&f, 1, 3000, 100, 16, 3, 5, NULL);
	char name[64];

	(void)state;
	for (int i = 0; i < 5; i++)
		dnsd_upstream_submit(up, request("w.example.org", (uint16_t)i));
	assert_int_equal(got.n, 2);
	assert_int_equal(count_rcode(DNSW_R_SERVFAIL), 2);
	assert_int_equal(metrics.drops[DNSD_DROP_WAITERS], 2);
	/* Three wait; two more distinct questions fill max_waiting (5), the next is refused. */
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "x%d.example.org", i);
		dnsd_upstream_submit(up, request(name, (uint16_t)(10 + i)));
	}
	assert_int_equal(got.n, 3);
	assert_int_equal(metrics.drops[DNSD_DROP_WAITING], 1);
	assert_true(run_until(&f->n, 3, 2000));
	fake_release(f);
	assert_true(run_until(&got.n, 8, 2000));
	assert_int_equal(count_rcode(DNSW_R_NOERROR), 5);
	dnsd_upstream_destroy(up);
	fake_free(f);
}

/* Questions past their deadline on a shared socket (c-ares cannot cancel one of a channel's
 * queries) still count against max_inflight until c-ares lets go: the bound holds. */
static void
test_bound_lingering(void **state)
{
	struct fake_up *f[2] = {fake_new(FAKE_SILENT), fake_new(FAKE_SILENT)};
	struct dnsd_upstream *up = upstream(f, 2, 300, 4, 1, 10, 100, NULL);
	struct dnsd_upstream_stats st;
	char name[64];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "l%d.example.org", i);
		dnsd_upstream_submit(up, request(name, (uint16_t)i));
	}
	dnsd_upstream_stats(up, &st);
	assert_int_equal(st.channels, 1);
	assert_int_equal(st.shared, 3);
	assert_true(run_until(&got.n, 4, 2000));
	assert_int_equal(count_rcode(DNSW_R_SERVFAIL), 4);
	dnsd_upstream_stats(up, &st);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.lingering, 4); /* two servers: c-ares tries for about 600 ms */
	dnsd_upstream_submit(up, request("more.example.org", 9));
	assert_int_equal(got.n, 5);
	assert_int_equal(got.rcode[4], DNSW_R_REFUSED);
	run_for(1500);
	dnsd_upstream_stats(up, &st);
	assert_int_equal(st.lingering, 0);
	dnsd_upstream_destroy(up);
	fake_free(f[0]);
	fake_free(f[1]);
}

/* Stopping answers everyone still waiting. */
static void
test_destroy_answers(void **state)
{
	struct fake_up *f = fake_new(FAKE_SILENT);
	struct dnsd_upstream *up = upstream(&f, 1, 3000, 100, 16, 10, 100, NULL);

	(void)state;
	dnsd_upstream_submit(up, request("a.example.org", 1));
	dnsd_upstream_submit(up, request("a.example.org", 2));
	dnsd_upstream_submit(up, request("b.example.org", 3));
	assert_true(run_until(&f->n, 2, 1000));
	dnsd_upstream_destroy(up);
	assert_int_equal(got.n, 3);
	assert_int_equal(count_rcode(DNSW_R_SERVFAIL), 3);
	fake_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_answer_and_cache), cmocka_unit_test(test_coalescing),
	        cmocka_unit_test(test_deadline),         cmocka_unit_test(test_failover),
	        cmocka_unit_test(test_ports_and_ids),    cmocka_unit_test(test_bound_inflight),
	        cmocka_unit_test(test_bound_waiters),    cmocka_unit_test(test_bound_lingering),
	        cmocka_unit_test(test_destroy_answers),  cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_serve_stale),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
