/*
 * b64.h: standard base64 with padding (RFC 4648 section 4, Go's
 * StdEncoding), the one spelling Consul uses on the wire: KV values in
 * JSON, txn bodies, gossip keys, event payloads.
 */
#ifndef TRIBUNE_B64_H
#define TRIBUNE_B64_H

#include <stddef.h>
#include <stdint.h>

#define B64_ENC_LEN(n) (4 * (((n) + 2) / 3))   /* without the NUL */
#define B64_EBAD  (-1)                         /* character, length, padding */
#define B64_EBIG  (-2)                         /* more than max bytes */

/* Writes B64_ENC_LEN(n) characters and a NUL to out; returns the length. */
size_t b64_encode(char *out, const uint8_t *p, size_t n);
/* Decodes s[0..len) into out (room for max bytes): the byte count, or
 * B64_EBAD / B64_EBIG.  Strict: padding only at the end, no whitespace. */
int    b64_decode(uint8_t *out, size_t max, const char *s, size_t len);
/* The same into a new NUL-terminated buffer; 0, or -1 (bad input, no
 * memory).  Free *out. */
int    b64_decode_alloc(const char *s, uint8_t **out, size_t *outlen);

#endif
