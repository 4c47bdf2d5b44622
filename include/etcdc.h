/* etcdc.h -- an etcd v3 client over its JSON gateway (etcd 3.4: POST /v3/kv/range, /v3/kv/txn,
 * /v3/kv/deleterange, /v3/lease/..., a JSON body each), on the caller's libevent loop, over http
 * or https (TLS 1.2 or later, the member's certificate verified against its host, optionally a
 * client certificate). Keys and values are bytes (base64 on the wire); int64s come back as
 * strings. A call that fails on one endpoint (no connection, a failed TLS handshake, an HTTP
 * error from a member without quorum) is tried on the next; every call ends in exactly one
 * callback. Calls to a member go one at a time over one kept-alive connection (a closed one is
 * replaced by a new one, with a new TLS handshake). Responses are bounded (ETCDC_MAX_BODY) and
 * time out (ETCDC_TIMEOUT_S). Writing to a connection the member closed raises SIGPIPE: the
 * process must ignore it. */
#ifndef ETCDC_H
#define ETCDC_H

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_status.h"

#define ETCDC_MAX_ENDPOINTS 16
#define ETCDC_MAX_BODY      (64u << 20) /* a page of a list; lists are paginated */
#define ETCDC_TIMEOUT_S     10

struct etcdc;

/* A client of the members at URLS ("http://127.0.0.1:2379,http://10.0.0.2:2379"). SVC_EINVAL
 * for a URL that is not http://host:port (https: etcdc_create_tls), or too many of them. */
enum svc_status etcdc_create(struct event_base *base, const char *urls, struct etcdc **out);

/* Files for TLS (NULL: not given). CACERT verifies the members; CERT and KEY are the client's
 * certificate (client-certificate authentication, as Kubernetes runs etcd). */
struct etcdc_tls {
	const char *cacert, *cert, *key;
};
/* As etcdc_create, with TLS for https:// URLs. ERR (ERRLEN bytes; "" on success) gets a
 * one-line reason on failure, naming the file for a certificate or key that cannot be loaded
 * (SVC_EIO) or the URL that is not http(s)://host:port (SVC_EINVAL). An https URL with TLS == NULL
 * uses the system's CA store; CERT without KEY (or the reverse) is SVC_EINVAL. Files given are
 * loaded (and checked) even when every URL is http. A member's certificate must name the URL's
 * host: a DNS name (also sent as SNI) or, for an address, an IP address SAN. */
enum svc_status etcdc_create_tls(struct event_base *base, const char *urls,
                                 const struct etcdc_tls *tls, char *err, size_t errlen,
                                 struct etcdc **out);
/* Calls in flight end without their callbacks. Cancel the watches first. */
void etcdc_destroy(struct etcdc *c);

/* ST SVC_OK: RESP is the response body, valid during the callback. Else RESP is NULL and WHY
 * says what failed (SVC_EIO: no member answered, with the last TLS failure on the way if any,
 * "TLS with host:port: ..."; SVC_EINVAL: an answer that is not the JSON object asked for, or
 * the gateway's error, whose message is WHY). The callback may destroy the client. */
typedef void (*etcdc_cb)(void *arg, enum svc_status st, const json_t *resp, const char *why);

/* POST BODY (taken, even on failure) to PATH ("/v3/kv/range"). SVC_ENOMEM: no callback. */
enum svc_status etcdc_call(struct etcdc *c, const char *path, json_t *body, etcdc_cb cb, void *arg);

/* As etcdc_cb, for etcdc_call_raw: ST SVC_OK with BODY, the bytes of an HTTP 200 answer (LEN
 * of them, a NUL after them), which the callback owns (free). Else BODY is NULL and WHY says
 * what failed, as for etcdc_cb. */
typedef void (*etcdc_raw_cb)(void *arg, enum svc_status st, char *body, size_t len,
                             const char *why);

/* As etcdc_call, with the answer's bytes for the caller to read (a page of a list, for
 * etcdrange_read): an answer other than HTTP 200 is still read here, into WHY. */
enum svc_status etcdc_call_raw(struct etcdc *c, const char *path, json_t *body, etcdc_raw_cb cb,
                               void *arg);

/* ---- watch streams ---- */

struct etcdc_watch;

/* A message of a watch stream: ST SVC_OK with RESULT, a WatchResponse ({"header", "created",
 * "events", "compact_revision", "canceled", ...}), valid during the callback. The end of the
 * stream (the member closed it, went away, sent an error, or a message over ETCDC_MAX_BODY)
 * comes once as ST != SVC_OK with WHY; it is the last, and the watch is freed after it: forget
 * it then, and open another from the last revision seen. */
typedef void (*etcdc_watch_cb)(void *arg, enum svc_status st, const json_t *result,
                               const char *why);

/* Open a watch: CREATE (taken) is the create_request ({"key", "range_end", "start_revision",
 * "progress_notify", ...}). Each watch has a connection of its own; it waits for messages up
 * to ETCDC_WATCH_IDLE_S (ask for progress_notify, which etcd sends every 10 minutes). */
enum svc_status etcdc_watch(struct etcdc *c, json_t *create, etcdc_watch_cb cb, void *arg,
                            struct etcdc_watch **out);
/* Close W (before its end): no callback after this, even from within one. */
void etcdc_watch_cancel(struct etcdc_watch *w);

#define ETCDC_WATCH_IDLE_S 660

/* ---- the gateway's encodings ---- */

/* N bytes at P as the gateway wants them: a base64 string. NULL when out of memory. */
json_t *etcdc_bytes(const void *p, size_t n);
/* The bytes of base64 string V (NULL or absent: none), in a malloc'd buffer with a NUL after
 * them. SVC_EINVAL when V is not base64. */
enum svc_status etcdc_bytes_of(const json_t *v, uint8_t **out, size_t *len);
/* An int64 field: a string of digits (as the gateway writes them) or a number; 0 when absent
 * (a zero value is omitted). SVC_EINVAL for anything else. */
enum svc_status etcdc_int(const json_t *obj, const char *key, int64_t *out);
/* The range_end that makes a range of every key starting with PREFIX (N bytes) into OUT (N
 * bytes); its length (0: to the end of the keyspace, "\0" on the wire). */
size_t etcdc_prefix_end(const uint8_t *prefix, size_t n, uint8_t *out);

/* The body of a range over every key starting with PREFIX (NUL-terminated, at most 1024
 * bytes), from key FROM (FROM_LEN bytes; NULL: the first), at revision REV (0: the newest), at
 * most LIMIT keys (0: no limit). NULL when out of memory. */
json_t *etcdc_range_body(const char *prefix, const uint8_t *from, size_t from_len, int64_t rev,
                         uint32_t limit);

/* One key-value of a response (kvs[], an event's kv). */
struct etcdc_kv {
	uint8_t *key, *value; /* malloc'd, NUL after them */
	size_t key_len, value_len;
	int64_t create_revision, mod_revision, version, lease;
};

enum svc_status etcdc_kv_decode(const json_t *kv, struct etcdc_kv *out);
void etcdc_kv_free(struct etcdc_kv *kv);

#endif
