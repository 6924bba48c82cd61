/*
 * libFuzzer target: any bytes as a DNS query, answered from a small fixed
 * view over UDP and TCP.  The first byte picks the options (transport,
 * only_passing, recursors on, a_record_limit, a small output buffer,
 * compression off, udp_answer_limit 1); the rest is the
 * packet.  Beyond "no crash, no sanitizer report" it checks that a UDP
 * answer never exceeds what the query allowed and that the ID is echoed.
 *
 *   make BUILD=build-dns-fuzz FUZZ=1 build-dns-fuzz/fuzz/fuzz_dnsd_packet
 *   build-dns-fuzz/fuzz/fuzz_dnsd_packet fuzz/seeds/fuzz_dnsd_packet
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsd/dnsd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dnsd D;
static uint8_t     out[65535];

static void
fuzz_setup(void)
{
	static const struct view_kv meta[] = { { "rack", "r1" },
		{ "rfc1035-x", "y" } };
	static const char *tags[] = { "v1", "primary" };
	char               name[32], addr[32], id[32];

	dnsd_init(&D);
	free(D.conf.alt_domain);
	D.conf.alt_domain = strdup("alt.test");
	D.conf.node_name = strdup("n0");
	D.fixed_now = 1700000000u;
	answer_seed(&D, 1);
	for (int i = 0; i < 40; i++) {
		struct view_node_row    nr = { .name = name, .address = addr,
			.datacenter = "dc1", .meta = meta, .nmeta = 2 };
		struct view_service_row sr = { .node = name, .id = id,
			.name = i % 3 ? "web" : "consul", .tags = tags,
			.ntags = (size_t)(i % 3), .port = (uint16_t)(80 + i),
			.address = i % 7 == 0 ? "192.168.0.9" : "" };
		struct view_check_row   cr = { .node = name,
			.check_id = "serfHealth",
			.status = i % 5 == 0 ? "critical" : i % 4 ? "passing" :
			    "warning" };
		snprintf(name, sizeof(name), "n%d", i);
		if (i % 6 == 5)
			snprintf(addr, sizeof(addr), "2001:db8::%x", i);
		else
			snprintf(addr, sizeof(addr), "10.0.0.%d", i);
		snprintf(id, sizeof(id), "s%d", i);
		view_node_put(D.view, &nr);
		view_service_put(D.view, &sr);
		view_check_put(D.view, &cr);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	uint8_t    opt;
	size_t     cap;
	int        n;
	bool       tcp;

	if (!ready) {
		fuzz_setup();
		ready = 1;
	}
	if (size < 1)
		return 0;
	opt = data[0];
	data++;
	size--;
	tcp = opt & 1;
	D.conf.only_passing = (opt & 2) != 0;
	D.conf.nrecursors = (opt & 4) ? 1 : 0;
	D.conf.a_record_limit = (opt & 8) ? 2 : 0;
	cap = (opt & 16) ? 512 : sizeof(out);
	D.conf.no_compression = (opt & 32) != 0;
	D.conf.udp_answer_limit = (opt & 64) ? 1 : 3;

	n = answer_query(&D, data, size, tcp, out, cap);
	if (n > 0) {
		if ((size_t)n > cap || n < 12)
			abort();
		if (memcmp(out, data, 2) != 0) /* the ID */
			abort();
		if (!tcp) {
			/* Without EDNS 512; with it, at most what was asked
			 * (>= 512).  ar>0 in the query is needed for EDNS. */
			size_t ar = (size_t)(data[10] << 8 | data[11]);
			if (ar == 0 && n > 512)
				abort();
		}
	}
	return 0;
}
