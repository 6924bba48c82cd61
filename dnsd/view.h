/*
 * dnsd's in-memory view of the catalog.
 *
 * dnsd answers every query from this view, never from an IPC round trip.
 * It holds the three catalog tables DNS needs, linked for the two lookups
 * DNS makes on every query:
 *
 *   nodes     hashed by lowercased node name (node lookups, SRV targets);
 *             each node owns its services and its checks.
 *   groups    hashed by lowercased service name; a group is the array of
 *             every instance of that service, on any node, so a service
 *             lookup is one hash probe plus a walk over its instances.
 *
 * Health is precomputed: every check change recomputes its node's worst
 * node-level status and, from it and their own checks, the status of each
 * service on that node.  A query then only compares one enum per instance.
 *
 * The view is updated row by row (view_*_put / view_*_del, the shape of
 * raftd's catalog changes) or replaced whole (build a new view, then
 * catalog_replace() in dnsd.h swaps it in).  Single-threaded: dnsd's one loop
 * both updates and reads it.
 *
 * Ownership: the view copies every string and array it is given; row
 * structs stay the caller's.  Pointers returned by lookups are valid until
 * the next update of the view.
 */
#ifndef TRIBUNE_DNSD_VIEW_H
#define TRIBUNE_DNSD_VIEW_H

#include <stddef.h>
#include <stdint.h>

/* Ordered by severity so the worst of several is their max. */
enum view_status {
	VIEW_PASSING = 0,
	VIEW_WARNING = 1,
	VIEW_CRITICAL = 2,
};

struct view_kv {
	char *key;
	char *val;
};

/* An address parsed once at update time: family 4 or 6, 0 = not an IP. */
struct view_addr {
	uint8_t family;
	uint8_t ip[16];
};

struct view_check {
	struct view_check *next;     /* in its node's list */
	char              *id;
	char              *service_id; /* "" for a node-level check */
	enum view_status   status;
};

struct view_group;

struct view_service {
	struct view_service *next;   /* in its node's list */
	struct view_node    *node;
	struct view_group   *group;
	size_t               group_idx; /* position in group->inst */
	char                *id;
	char                *name;
	char               **tags;
	size_t               ntags;
	char                *address; /* "" = use the node's */
	struct view_addr     addr;
	uint16_t             port;
	uint32_t             w_passing;
	uint32_t             w_warning;
	enum view_status     status;  /* worst of node and own checks */
};

struct view_node {
	struct view_node    *hnext;  /* hash chain */
	char                *name;
	char                *lname;  /* lowercased, the hash key */
	char                *dc;
	char                *address;
	struct view_addr     addr;
	struct view_kv      *meta;
	size_t               nmeta;
	struct view_kv      *tagged;
	size_t               ntagged;
	struct view_service *services;
	struct view_check   *checks;
	enum view_status     status; /* worst node-level check */
};

struct view_group {
	struct view_group    *hnext;
	char                 *lname;
	struct view_service **inst;
	size_t                n, cap;
};

struct view {
	struct view_node  **nodes;
	size_t              node_buckets, nnodes;
	struct view_group **groups;
	size_t              group_buckets, ngroups;
	size_t              nservices, nchecks;
	uint64_t            index;      /* Raft index of the newest change */
	uint64_t            generation; /* bumped by every update */
};

/* Rows: what one catalog change carries.  Strings may be NULL = "". */
struct view_node_row {
	const char           *name;
	const char           *address;
	const char           *datacenter;
	const struct view_kv *meta;
	size_t                nmeta;
	const struct view_kv *tagged;
	size_t                ntagged;
};

struct view_service_row {
	const char        *node;
	const char        *id;      /* NULL or "" = name */
	const char        *name;
	const char *const *tags;
	size_t             ntags;
	const char        *address;
	uint16_t           port;
	uint32_t           w_passing; /* 0 = Consul's default 1 */
	uint32_t           w_warning;
};

struct view_check_row {
	const char *node;
	const char *check_id;
	const char *service_id;  /* NULL or "" = a node check */
	const char *status;      /* "passing" | "warning" | anything else = critical */
};

struct view *view_new(void);
void         view_free(struct view *v);

/*
 * Upserts and deletes.  0 on success, -1 on a bad row (missing name) or
 * out of memory, leaving the view as it was.  A service or check whose node
 * is unknown is refused (-1): the catalog registers the node first.
 * Deleting a node deletes its services and checks.  Deleting what is not
 * there succeeds.
 */
int view_node_put(struct view *v, const struct view_node_row *r);
int view_node_del(struct view *v, const char *node);
int view_service_put(struct view *v, const struct view_service_row *r);
int view_service_del(struct view *v, const char *node, const char *id);
int view_check_put(struct view *v, const struct view_check_row *r);
int view_check_del(struct view *v, const char *node, const char *check_id);

/* Case-insensitive lookups by a name that need not be NUL-terminated. */
struct view_node        *view_node_get(const struct view *v, const char *name,
                             size_t len);
const struct view_group *view_group_get(const struct view *v, const char *name,
                             size_t len);
struct view_service     *view_service_get(const struct view *v,
                             const char *node, const char *id);
/* The first node whose address is a; PTR lookups are rare, so a scan. */
struct view_node        *view_node_byaddr(const struct view *v,
                             const struct view_addr *a);
/* Calls fn on each node; stops when it returns non-zero. */
int view_node_each(const struct view *v,
    int (*fn)(struct view_node *, void *), void *arg);

int              view_addr_parse(const char *s, struct view_addr *a);
enum view_status view_status_parse(const char *s);
const char      *view_status_str(enum view_status s);

#endif
