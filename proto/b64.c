/*
 * b64.c: base64, see b64.h.  One encoder and one strict decoder for every
 * daemon and the CLI.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
b64_encode(char *out, const uint8_t *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

static int
b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
b64_decode(uint8_t *out, size_t max, const char *s, size_t len)
{
	size_t   pad = 0, n, o = 0;
	uint32_t v = 0;

	if (len % 4 != 0 || len / 4 * 3 > INT_MAX)
		return B64_EBAD;
	while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
		pad++;
	if ((n = len / 4 * 3 - pad) > max)
		return B64_EBIG;
	for (size_t i = 0; i < len; i++) {
		int d = i >= len - pad ? 0 : b64_val(s[i]);

		if (d < 0)
			return B64_EBAD;
		v = v << 6 | (uint32_t)d;
		for (int k = 16; i % 4 == 3 && k >= 0 && o < n; k -= 8)
			out[o++] = (uint8_t)(v >> k);
	}
	return (int)n;
}

int
b64_decode_alloc(const char *s, uint8_t **out, size_t *outlen)
{
	size_t   len = strlen(s);
	uint8_t *p = malloc(len / 4 * 3 + 1);
	int      n;

	if (p == NULL)
		return -1;
	if ((n = b64_decode(p, len / 4 * 3, s, len)) < 0) {
		free(p);
		return -1;
	}
	p[n] = '\0';
	*out = p;
	*outlen = (size_t)n;
	return 0;
}
