/*
 * libFuzzer: proto/b64.c, the base64 decoder behind KV values in /v1/txn
 * bodies, `tribune kv import` and gossip keys.  Any bytes are decoded
 * (into exactly enough room and into too little); what decodes must
 * encode and decode back to the same bytes, and any bytes must survive
 * an encode/decode round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t   room = size / 4 * 3;
	uint8_t *out = malloc(room + 1), *back = malloc(room + 1);
	char    *enc = malloc(B64_ENC_LEN(size > room ? size : room) + 1);
	int      n, m;

	if (out == NULL || back == NULL || enc == NULL)
		abort();
	n = b64_decode(out, room, (const char *)data, size);
	if (n > (int)room || (n < 0 && n != B64_EBAD && n != B64_EBIG))
		abort();
	if (n > 0 && b64_decode(out, (size_t)n - 1, (const char *)data, size) != B64_EBIG)
		abort();
	if (n >= 0) {
		b64_encode(enc, out, (size_t)n);
		m = b64_decode(back, room, enc, strlen(enc));
		if (m != n || memcmp(back, out, (size_t)n) != 0)
			abort();
	}
	b64_encode(enc, data, size > room ? room : size);
	m = b64_decode(back, room, enc, strlen(enc));
	if (m != (int)(size > room ? room : size) || memcmp(back, data, (size_t)m) != 0)
		abort();
	free(out);
	free(back);
	free(enc);
	return 0;
}
