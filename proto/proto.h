/*
 * proto: the messages that cross tribune's bus.
 *
 * Every message between two tribune processes is one msgpack array, the
 * envelope:
 *
 *     [ version, type, id, body ]
 *
 *   version  positive int, PROTO_VERSION; a peer built from another enum is
 *            refused (PROTO_EVERSION) rather than misread.
 *   type     positive int, a value of enum proto_type.
 *   id       positive int, the request id.  Calls carry a fresh one, the reply
 *            repeats it, events carry the publisher's sequence number.  nng's
 *            req socket resends pending requests after a peer restarts, so a
 *            handler can see one id twice (bus_req_once() in bus.h).
 *   body     an array of the message's fields in declaration order, each of
 *            the msgpack type its kind says:
 *               U64  positive int          I64  int
 *               BOOL bool                  STR  str or nil (NULL)
 *               BIN  bin                   STRS array of str
 *               BINS array of bin (e.g. whole envelopes: a batch of calls)
 *
 * Decoding is strict: a wrong msgpack type, a field count other than the
 * declared one, or bytes after the envelope is an error, never a guess.
 *
 * Messages are declared once, in the X-macro lists PROTO_MSGS_<GROUP>
 * (msg_<group>.h), as X(ENUM, lower, "name", fields) with the fields as
 * F(KIND, field).  From that one list come the enum, the C structs, the
 * descriptors the generic codec walks, the names the debug tap prints, and
 * the typed proto_pack_<lower>() / proto_unpack_<lower>() / proto_free_<lower>().
 * A message's name starts with its group ("raft.changed"); events are
 * published with the name as their topic, so a subscriber takes a group by
 * subscribing to its prefix.
 *
 * Bump PROTO_VERSION whenever a list changes.
 */
#ifndef TRIBUNE_PROTO_H
#define TRIBUNE_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define PROTO_VERSION 5

/* Error codes and their strings, from one list so they cannot drift. */
#define PROTO_ERRORS(E)                                                  \
	E(PROTO_OK, 0, "ok")                                             \
	E(PROTO_EMALFORMED, -1, "malformed msgpack")                     \
	E(PROTO_EVERSION, -2, "protocol version mismatch")               \
	E(PROTO_ETYPE, -3, "unknown message type")                       \
	E(PROTO_EFIELD, -4, "field has the wrong msgpack type")          \
	E(PROTO_ECOUNT, -5, "wrong number of fields")                    \
	E(PROTO_ETRAILING, -6, "trailing bytes after message")           \
	E(PROTO_ENOMEM, -7, "out of memory")                             \
	E(PROTO_EWRONGMSG, -8, "message is of another type")

enum proto_err {
#define PROTO_E_ENUM(name, val, str) name = val,
	PROTO_ERRORS(PROTO_E_ENUM)
#undef PROTO_E_ENUM
};

const char *proto_strerror(int err);

struct proto_bin {
	uint8_t *ptr;
	size_t   len;
};

struct proto_strs {
	char **v;
	size_t n;
};

struct proto_bins {
	struct proto_bin *v;
	size_t            n;
};

enum proto_kind { PK_U64, PK_I64, PK_BOOL, PK_STR, PK_BIN, PK_STRS, PK_BINS };

/* C types of the kinds. */
#define PROTO_CT_U64  uint64_t
#define PROTO_CT_I64  int64_t
#define PROTO_CT_BOOL bool
#define PROTO_CT_STR  char *
#define PROTO_CT_BIN  struct proto_bin
#define PROTO_CT_STRS struct proto_strs
#define PROTO_CT_BINS struct proto_bins

/* The groups.  Each file defines PROTO_MSGS_<GROUP>(X, F). */
#include "msg_ctl.h"
#if __has_include("msg_gossip.h")
#include "msg_gossip.h"
#endif
#if __has_include("msg_raft.h")
#include "msg_raft.h"
#endif
#if __has_include("msg_check.h")
#include "msg_check.h"
#endif
#if __has_include("msg_dns.h")
#include "msg_dns.h"
#endif
#if __has_include("msg_http.h")
#include "msg_http.h"
#endif
#ifndef PROTO_MSGS_GOSSIP
#define PROTO_MSGS_GOSSIP(X, F)
#endif
#ifndef PROTO_MSGS_RAFT
#define PROTO_MSGS_RAFT(X, F)
#endif
#ifndef PROTO_MSGS_CHECK
#define PROTO_MSGS_CHECK(X, F)
#endif
#ifndef PROTO_MSGS_DNS
#define PROTO_MSGS_DNS(X, F)
#endif
#ifndef PROTO_MSGS_HTTP
#define PROTO_MSGS_HTTP(X, F)
#endif

#define PROTO_MSGS(X, F)          \
	PROTO_MSGS_CTL(X, F)      \
	PROTO_MSGS_GOSSIP(X, F)   \
	PROTO_MSGS_RAFT(X, F)     \
	PROTO_MSGS_CHECK(X, F)    \
	PROTO_MSGS_DNS(X, F)      \
	PROTO_MSGS_HTTP(X, F)

enum proto_type {
	PROTO_NONE = 0,
#define PROTO_X_ENUM(E, lower, name, fields) PROTO_##E,
#define PROTO_F_NONE(kind, field)
	PROTO_MSGS(PROTO_X_ENUM, PROTO_F_NONE)
#undef PROTO_X_ENUM
	PROTO_NTYPES
};

/* One struct per message: struct proto_<lower>. */
#define PROTO_F_MEMBER(kind, field) PROTO_CT_##kind field;
#define PROTO_X_STRUCT(E, lower, name, fields) \
	struct proto_##lower {                 \
		fields                         \
	};
PROTO_MSGS(PROTO_X_STRUCT, PROTO_F_MEMBER)
#undef PROTO_X_STRUCT

struct proto_field {
	enum proto_kind kind;
	const char     *name;
	size_t          offset;
};

struct proto_desc {
	const char               *name;   /* "raft.changed" */
	size_t                    size;   /* sizeof(struct proto_<lower>) */
	size_t                    nfields;
	const struct proto_field *fields;
};

/* The descriptor of a type, or NULL when t is not one. */
const struct proto_desc *proto_desc(int t);
/* "raft.changed", or "unknown(<n>)" in a static buffer for strangers. */
const char *proto_name(int t);
/* The type whose name is exactly name, or PROTO_NONE. */
int proto_type_byname(const char *name);

/* A growable byte buffer; the packers append to it. */
struct proto_buf {
	char  *data;
	size_t len;
	size_t cap;
};
void proto_buf_free(struct proto_buf *b);

/* A decoded envelope.  body/body_len point into the caller's buffer. */
struct proto_env {
	uint64_t       version;
	int            type;
	uint64_t       id;
	const uint8_t *body;
	size_t         body_len;
};

/*
 * Generic codec over the descriptors.  proto_pack appends one envelope to
 * out (out is reset first).  proto_unpack_env splits an envelope, checking
 * version, type and trailing bytes but not the body.  proto_unpack_body
 * decodes env's body into msg (a struct proto_<lower> of env->type), which
 * then owns heap copies of every STR/BIN/STRS: release with proto_free.
 * On error msg holds nothing to free.
 */
int  proto_pack(int type, uint64_t id, const void *msg, struct proto_buf *out);
int  proto_unpack_env(const void *buf, size_t len, struct proto_env *env);
int  proto_unpack_body(const struct proto_env *env, void *msg);
void proto_free(int type, void *msg);

/*
 * The body as one line of JSON-like text, "{nonce=1 name="gossipd"}", for
 * logs and the tap; BIN fields print their length and a short prefix.
 * Returns a malloc'd string or NULL.
 */
char *proto_body_str(const struct proto_env *env);

/* Typed wrappers. */
#define PROTO_X_PROTOS(E, lower, name, fields)                                  \
	int  proto_pack_##lower(uint64_t id, const struct proto_##lower *m,     \
	    struct proto_buf *out);                                             \
	int  proto_unpack_##lower(const struct proto_env *env,                  \
	    struct proto_##lower *m);                                           \
	void proto_free_##lower(struct proto_##lower *m);
PROTO_MSGS(PROTO_X_PROTOS, PROTO_F_NONE)
#undef PROTO_X_PROTOS

/* Helpers for STRS fields owned by a message. */
int  proto_strs_push(struct proto_strs *s, const char *str);
void proto_strs_free(struct proto_strs *s);
/* BINS: appends a copy of ptr/len (the field owns it); frees them all. */
int  proto_bins_push(struct proto_bins *s, const void *ptr, size_t len);
void proto_bins_free(struct proto_bins *s);

#endif
