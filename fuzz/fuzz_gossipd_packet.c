/*
 * Fuzz gossipd's packet decoding: every datagram and stream frame from the
 * network goes through these paths.  The first byte picks the path:
 *   0  a plaintext UDP datagram into an engine (compound, compress, CRC,
 *      every message, serf user messages)
 *   1  the same bytes sealed with the engine's key first, so the fuzzer
 *      reaches the decoders behind decryption
 *   2  raw bytes into an engine that has keys (decryption failures)
 *   3  a TCP stream frame (push/pull, ping, user), plain
 *   4  a TCP stream frame sealed with the key
 *   5  the serf and helper decoders directly (push/pull state, tags, LZW)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gossipd/gossipd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fz_clock = 1000000;

static uint64_t
fz_now(void *ctx)
{
	(void)ctx;
	return fz_clock;
}

static void
fz_send(void *ctx, const struct gd_addr *to, const uint8_t *p, size_t n)
{
	(void)ctx;
	(void)to;
	(void)p;
	(void)n;
}

static int
fz_stream(void *ctx, const struct gd_addr *to, const uint8_t *p, size_t n,
    uint8_t **reply, size_t *rl)
{
	(void)ctx;
	(void)to;
	(void)p;
	(void)n;
	(void)reply;
	(void)rl;
	return -1;
}

static void
fz_tag(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	(void)ctx;
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
}

static void
fz_engine(struct gd *g, bool keyed)
{
	struct gd_config c;
	struct gd_ops    o = { fz_now, fz_send, fz_stream, NULL, NULL, NULL,
		   NULL, NULL };

	memset(&c, 0, sizeof(c));
	gd_config_fast(&c);
	strcpy(c.name, "fuzz");
	c.advertise.len = 4;
	memcpy(c.advertise.ip, "\x7f\0\0\x01", 4);
	c.advertise.port = 7946;
	c.delegate_cur = 4;
	if (keyed)
		wire_keyring_add(&c.keyring,
		    "8olOmRMU+8t3t0L+tkxyZ5W3J0RkGZ5eD7NjbypW9bo=");
	swim_init(g, &c, &o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gd g;
	struct gd_addr   from = { { 127, 0, 0, 2 }, 4, 7946 };
	struct gd_buf    b = { 0 };
	uint8_t         *rep = NULL;
	size_t           rl = 0;
	int              mode;

	if (size < 1)
		return 0;
	mode = data[0] % 6;
	data++;
	size--;
	switch (mode) {
	case 0:
	case 1:
	case 2:
		fz_engine(&g, mode != 0);
		if (mode == 1 && wire_seal(&g.cfg.keyring, data, size, &b) == 0)
			swim_recv_udp(&g, &from, b.p, b.len);
		else
			swim_recv_udp(&g, &from, data, size);
		fz_clock += 10000;
		swim_tick(&g);
		swim_free(&g);
		break;
	case 3:
	case 4:
		fz_engine(&g, mode == 4);
		if (mode == 4 &&
		    wire_stream_seal(&g.cfg.keyring, data, size, &b) == 0) {
			size_t need;
			if (wire_stream_need(b.p, b.len, &need) == 0)
				swim_recv_stream(&g, &from, b.p, need, &rep, &rl);
		} else {
			size_t need;
			if (wire_stream_need(data, size, &need) == 0)
				swim_recv_stream(&g, &from, data, need, &rep, &rl);
		}
		free(rep);
		swim_free(&g);
		break;
	default: {
		struct wire_serf_pp pp;
		if (wire_dec_serf_pp(data, size, &pp) == 0)
			wire_serf_pp_free(&pp);
		wire_dec_tags(data, size, fz_tag, NULL);
		wire_lzw_decode(data, size, &b, 1 << 20);
		break;
	}
	}
	wire_buf_free(&b);
	return 0;
}
