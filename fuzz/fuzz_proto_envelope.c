/*
 * libFuzzer: the bus's decoder.  Any bytes into proto_unpack_env and, when
 * the envelope holds, into the body decoder and the tap's printer.
 */
#include <stdint.h>
#include <stdlib.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_env env;
	union {
		char     raw[4096];
		uint64_t align;
	} m;

	if (proto_unpack_env(data, size, &env) != PROTO_OK)
		return 0;
	if (proto_unpack_body(&env, m.raw) == PROTO_OK)
		proto_free(env.type, m.raw);
	free(proto_body_str(&env));
	return 0;
}
