/* b64.h -- base64 (RFC 4648, standard alphabet, padded), as etcd's JSON gateway writes keys and
 * values. */
#ifndef B64_H
#define B64_H

#include <stddef.h>
#include <stdint.h>

#include "svc_status.h"

/* Room b64_encode needs for N bytes, its NUL included. */
#define B64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4 + 1)

/* IN (N bytes) into OUT (B64_ENCODED_LEN(N) bytes), NUL-terminated; the length without it. */
size_t b64_encode(const uint8_t *in, size_t n, char *out);
/* IN (LEN characters) into OUT (CAP bytes); *OUT_LEN gets the bytes written. SVC_EINVAL for
 * anything but canonical padded base64 (a stray character, bad padding, bits left over),
 * SVC_ELIMIT when OUT is too small. (LEN / 4) * 3 bytes always suffice. */
enum svc_status b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#endif
