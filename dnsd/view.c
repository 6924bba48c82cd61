/*
 * The catalog view: see view.h for its layout and contracts.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "view.h"

#define VIEW_MIN_BUCKETS 64

static char *
view_strdup(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static char *
view_lower(const char *s)
{
	char *l = view_strdup(s);

	if (l == NULL)
		return NULL;
	for (char *p = l; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return l;
}

/* FNV-1a over the lowercased bytes, so "Web" and "web" share a bucket. */
static uint64_t
view_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		h = (h ^ c) * 1099511628211ULL;
	}
	return h;
}

/*
 * lname is already lowercase; name is compared case-insensitively.  name
 * comes off the wire and may hold NUL bytes, so lname's end is checked before
 * each byte rather than only after the loop.
 */
static int
view_name_eq(const char *lname, const char *name, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (lname[i] == '\0')
			return 0;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		if ((unsigned char)lname[i] != c)
			return 0;
	}
	return lname[len] == '\0';
}

int
view_addr_parse(const char *s, struct view_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (s == NULL || *s == '\0')
		return -1;
	if (inet_pton(AF_INET, s, a->ip) == 1) {
		a->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->ip) == 1) {
		a->family = 6;
		return 0;
	}
	return -1;
}

enum view_status
view_status_parse(const char *s)
{
	/* "maintenance" and anything unknown count as critical: when in
	 * doubt, keep an instance out of DNS. */
	if (s != NULL && strcasecmp(s, "passing") == 0)
		return VIEW_PASSING;
	if (s != NULL && strcasecmp(s, "warning") == 0)
		return VIEW_WARNING;
	return VIEW_CRITICAL;
}

const char *
view_status_str(enum view_status s)
{
	switch (s) {
	case VIEW_PASSING:
		return "passing";
	case VIEW_WARNING:
		return "warning";
	default:
		return "critical";
	}
}

struct view *
view_new(void)
{
	struct view *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->node_buckets = v->group_buckets = VIEW_MIN_BUCKETS;
	v->nodes = calloc(v->node_buckets, sizeof(*v->nodes));
	v->groups = calloc(v->group_buckets, sizeof(*v->groups));
	if (v->nodes == NULL || v->groups == NULL) {
		free(v->nodes);
		free(v->groups);
		free(v);
		return NULL;
	}
	return v;
}

static void
view_kv_free(struct view_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].val);
	}
	free(kv);
}

static struct view_kv *
view_kv_dup(const struct view_kv *src, size_t n)
{
	struct view_kv *kv;

	if (n == 0)
		return NULL;
	if ((kv = calloc(n, sizeof(*kv))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		kv[i].key = view_strdup(src[i].key);
		kv[i].val = view_strdup(src[i].val);
		if (kv[i].key == NULL || kv[i].val == NULL) {
			view_kv_free(kv, n);
			return NULL;
		}
	}
	return kv;
}

static void
view_service_free(struct view_service *s)
{
	for (size_t i = 0; i < s->ntags; i++)
		free(s->tags[i]);
	free(s->tags);
	free(s->id);
	free(s->name);
	free(s->address);
	free(s);
}

static void
view_check_free(struct view_check *c)
{
	free(c->id);
	free(c->service_id);
	free(c);
}

static void
view_node_free(struct view_node *n)
{
	struct view_service *s, *sn;
	struct view_check   *c, *cn;

	for (s = n->services; s != NULL; s = sn) {
		sn = s->next;
		view_service_free(s);
	}
	for (c = n->checks; c != NULL; c = cn) {
		cn = c->next;
		view_check_free(c);
	}
	view_kv_free(n->meta, n->nmeta);
	view_kv_free(n->tagged, n->ntagged);
	free(n->name);
	free(n->lname);
	free(n->dc);
	free(n->address);
	free(n);
}

void
view_free(struct view *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->node_buckets; i++) {
		struct view_node *n, *nn;
		for (n = v->nodes[i]; n != NULL; n = nn) {
			nn = n->hnext;
			view_node_free(n);
		}
	}
	for (size_t i = 0; i < v->group_buckets; i++) {
		struct view_group *g, *gn;
		for (g = v->groups[i]; g != NULL; g = gn) {
			gn = g->hnext;
			free(g->inst);
			free(g->lname);
			free(g);
		}
	}
	free(v->nodes);
	free(v->groups);
	free(v);
}

/* --- hash tables --------------------------------------------------------- */

/* Doubles the bucket array when the load passes 1; a failed grow is
 * harmless (chains just get longer). */
static void
view_node_grow(struct view *v)
{
	size_t             nb = v->node_buckets * 2;
	struct view_node **nt;

	if (v->nnodes < v->node_buckets || (nt = calloc(nb, sizeof(*nt))) == NULL)
		return;
	for (size_t i = 0; i < v->node_buckets; i++) {
		struct view_node *n, *nn;
		for (n = v->nodes[i]; n != NULL; n = nn) {
			size_t b = view_hash(n->lname, strlen(n->lname)) & (nb - 1);
			nn = n->hnext;
			n->hnext = nt[b];
			nt[b] = n;
		}
	}
	free(v->nodes);
	v->nodes = nt;
	v->node_buckets = nb;
}

static void
view_group_grow(struct view *v)
{
	size_t              nb = v->group_buckets * 2;
	struct view_group **nt;

	if (v->ngroups < v->group_buckets || (nt = calloc(nb, sizeof(*nt))) == NULL)
		return;
	for (size_t i = 0; i < v->group_buckets; i++) {
		struct view_group *g, *gn;
		for (g = v->groups[i]; g != NULL; g = gn) {
			size_t b = view_hash(g->lname, strlen(g->lname)) & (nb - 1);
			gn = g->hnext;
			g->hnext = nt[b];
			nt[b] = g;
		}
	}
	free(v->groups);
	v->groups = nt;
	v->group_buckets = nb;
}

struct view_node *
view_node_get(const struct view *v, const char *name, size_t len)
{
	size_t b = view_hash(name, len) & (v->node_buckets - 1);

	for (struct view_node *n = v->nodes[b]; n != NULL; n = n->hnext)
		if (view_name_eq(n->lname, name, len))
			return n;
	return NULL;
}

const struct view_group *
view_group_get(const struct view *v, const char *name, size_t len)
{
	size_t b = view_hash(name, len) & (v->group_buckets - 1);

	for (struct view_group *g = v->groups[b]; g != NULL; g = g->hnext)
		if (view_name_eq(g->lname, name, len))
			return g;
	return NULL;
}

static struct view_group *
view_group_find(struct view *v, const char *name)
{
	return (struct view_group *)(uintptr_t)view_group_get(v, name,
	    strlen(name));
}

static int
view_group_add(struct view *v, struct view_service *s)
{
	struct view_group *g = view_group_find(v, s->name);

	if (g == NULL) {
		size_t b;
		if ((g = calloc(1, sizeof(*g))) == NULL)
			return -1;
		if ((g->lname = view_lower(s->name)) == NULL) {
			free(g);
			return -1;
		}
		b = view_hash(g->lname, strlen(g->lname)) & (v->group_buckets - 1);
		g->hnext = v->groups[b];
		v->groups[b] = g;
		v->ngroups++;
		view_group_grow(v);
	}
	if (g->n == g->cap) {
		size_t                nc = g->cap ? g->cap * 2 : 4;
		struct view_service **ni = realloc(g->inst, nc * sizeof(*ni));
		if (ni == NULL)
			return -1; /* an empty new group stays; harmless */
		g->inst = ni;
		g->cap = nc;
	}
	s->group = g;
	s->group_idx = g->n;
	g->inst[g->n++] = s;
	return 0;
}

static void
view_group_remove(struct view *v, struct view_service *s)
{
	struct view_group  *g = s->group;
	struct view_group **pp;

	if (g == NULL)
		return;
	/* Swap-remove keeps the array dense; order does not matter, answers
	 * are shuffled anyway. */
	g->inst[s->group_idx] = g->inst[--g->n];
	g->inst[s->group_idx]->group_idx = s->group_idx;
	s->group = NULL;
	if (g->n > 0)
		return;
	pp = &v->groups[view_hash(g->lname, strlen(g->lname)) &
	    (v->group_buckets - 1)];
	while (*pp != g)
		pp = &(*pp)->hnext;
	*pp = g->hnext;
	v->ngroups--;
	free(g->inst);
	free(g->lname);
	free(g);
}

/* --- health -------------------------------------------------------------- */

/* Recomputes the node's status and the status of every service on it. */
static void
view_health(struct view_node *n)
{
	n->status = VIEW_PASSING;
	for (struct view_check *c = n->checks; c != NULL; c = c->next)
		if (c->service_id[0] == '\0' && c->status > n->status)
			n->status = c->status;
	for (struct view_service *s = n->services; s != NULL; s = s->next) {
		s->status = n->status;
		for (struct view_check *c = n->checks; c != NULL; c = c->next)
			if (c->status > s->status &&
			    strcmp(c->service_id, s->id) == 0)
				s->status = c->status;
	}
}

/* --- nodes --------------------------------------------------------------- */

int
view_node_put(struct view *v, const struct view_node_row *r)
{
	struct view_node *n, tmp;
	size_t            len;

	if (r->name == NULL || *r->name == '\0')
		return -1;
	len = strlen(r->name);
	memset(&tmp, 0, sizeof(tmp));
	tmp.dc = view_lower(r->datacenter);
	tmp.address = view_strdup(r->address);
	tmp.meta = view_kv_dup(r->meta, r->nmeta);
	tmp.tagged = view_kv_dup(r->tagged, r->ntagged);
	if (tmp.dc == NULL || tmp.address == NULL ||
	    (r->nmeta > 0 && tmp.meta == NULL) ||
	    (r->ntagged > 0 && tmp.tagged == NULL))
		goto fail;
	tmp.nmeta = r->nmeta;
	tmp.ntagged = r->ntagged;
	view_addr_parse(tmp.address, &tmp.addr);

	if ((n = view_node_get(v, r->name, len)) == NULL) {
		size_t b;
		if ((n = calloc(1, sizeof(*n))) == NULL)
			goto fail;
		n->name = view_strdup(r->name);
		n->lname = view_lower(r->name);
		if (n->name == NULL || n->lname == NULL) {
			free(n->name);
			free(n->lname);
			free(n);
			goto fail;
		}
		b = view_hash(n->lname, len) & (v->node_buckets - 1);
		n->hnext = v->nodes[b];
		v->nodes[b] = n;
		v->nnodes++;
		view_node_grow(v);
	} else {
		/* Keep the original spelling of the name: Consul's catalog
		 * does not rename a node on re-register either. */
		free(n->dc);
		free(n->address);
		view_kv_free(n->meta, n->nmeta);
		view_kv_free(n->tagged, n->ntagged);
	}
	n->dc = tmp.dc;
	n->address = tmp.address;
	n->addr = tmp.addr;
	n->meta = tmp.meta;
	n->nmeta = tmp.nmeta;
	n->tagged = tmp.tagged;
	n->ntagged = tmp.ntagged;
	v->generation++;
	return 0;
fail:
	free(tmp.dc);
	free(tmp.address);
	view_kv_free(tmp.meta, tmp.meta ? r->nmeta : 0);
	view_kv_free(tmp.tagged, tmp.tagged ? r->ntagged : 0);
	return -1;
}

int
view_node_del(struct view *v, const char *node)
{
	struct view_node **pp, *n;
	size_t             len;

	if (node == NULL)
		return 0;
	len = strlen(node);
	pp = &v->nodes[view_hash(node, len) & (v->node_buckets - 1)];
	for (; (n = *pp) != NULL; pp = &n->hnext)
		if (view_name_eq(n->lname, node, len))
			break;
	if (n == NULL)
		return 0;
	*pp = n->hnext;
	for (struct view_service *s = n->services; s != NULL; s = s->next) {
		view_group_remove(v, s);
		v->nservices--;
	}
	for (struct view_check *c = n->checks; c != NULL; c = c->next)
		v->nchecks--;
	view_node_free(n);
	v->nnodes--;
	v->generation++;
	return 0;
}

int
view_node_each(const struct view *v, int (*fn)(struct view_node *, void *),
    void *arg)
{
	for (size_t i = 0; i < v->node_buckets; i++)
		for (struct view_node *n = v->nodes[i]; n != NULL; n = n->hnext)
			if (fn(n, arg) != 0)
				return 1;
	return 0;
}

struct view_node *
view_node_byaddr(const struct view *v, const struct view_addr *a)
{
	size_t alen = a->family == 4 ? 4 : 16;

	if (a->family == 0)
		return NULL;
	for (size_t i = 0; i < v->node_buckets; i++)
		for (struct view_node *n = v->nodes[i]; n != NULL; n = n->hnext)
			if (n->addr.family == a->family &&
			    memcmp(n->addr.ip, a->ip, alen) == 0)
				return n;
	return NULL;
}

/* --- services ------------------------------------------------------------ */

struct view_service *
view_service_get(const struct view *v, const char *node, const char *id)
{
	struct view_node *n;

	if (node == NULL || id == NULL ||
	    (n = view_node_get(v, node, strlen(node))) == NULL)
		return NULL;
	for (struct view_service *s = n->services; s != NULL; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

int
view_service_put(struct view *v, const struct view_service_row *r)
{
	struct view_node    *n;
	struct view_service *s, *old;
	const char          *id;

	if (r->node == NULL || r->name == NULL || *r->name == '\0')
		return -1;
	if ((n = view_node_get(v, r->node, strlen(r->node))) == NULL)
		return -1;
	id = (r->id != NULL && *r->id != '\0') ? r->id : r->name;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->node = n;
	s->id = view_strdup(id);
	s->name = view_strdup(r->name);
	s->address = view_strdup(r->address);
	if (r->ntags > 0 && (s->tags = calloc(r->ntags, sizeof(char *))) == NULL)
		goto fail;
	for (size_t i = 0; i < r->ntags; i++, s->ntags++)
		if ((s->tags[i] = view_strdup(r->tags[i])) == NULL)
			goto fail;
	if (s->id == NULL || s->name == NULL || s->address == NULL)
		goto fail;
	view_addr_parse(s->address, &s->addr);
	s->port = r->port;
	s->w_passing = r->w_passing ? r->w_passing : 1;
	s->w_warning = r->w_warning ? r->w_warning : 1;
	if (view_group_add(v, s) != 0)
		goto fail;

	/* Replace in place so the node's list keeps its order. */
	if ((old = view_service_get(v, r->node, s->id)) != NULL) {
		struct view_service **pp = &n->services;
		while (*pp != old)
			pp = &(*pp)->next;
		s->next = old->next;
		*pp = s;
		view_group_remove(v, old);
		view_service_free(old);
	} else {
		s->next = n->services;
		n->services = s;
		v->nservices++;
	}
	view_health(n);
	v->generation++;
	return 0;
fail:
	view_service_free(s);
	return -1;
}

int
view_service_del(struct view *v, const char *node, const char *id)
{
	struct view_service  *s = view_service_get(v, node, id);
	struct view_service **pp;

	if (s == NULL)
		return 0;
	pp = &s->node->services;
	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	view_group_remove(v, s);
	view_service_free(s);
	v->nservices--;
	v->generation++;
	return 0;
}

/* --- checks -------------------------------------------------------------- */

int
view_check_put(struct view *v, const struct view_check_row *r)
{
	struct view_node  *n;
	struct view_check *c;
	char              *sid;

	if (r->node == NULL || r->check_id == NULL || *r->check_id == '\0')
		return -1;
	if ((n = view_node_get(v, r->node, strlen(r->node))) == NULL)
		return -1;
	if ((sid = view_strdup(r->service_id)) == NULL)
		return -1;
	for (c = n->checks; c != NULL; c = c->next)
		if (strcmp(c->id, r->check_id) == 0)
			break;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->id = view_strdup(r->check_id)) == NULL) {
			free(c);
			free(sid);
			return -1;
		}
		c->next = n->checks;
		n->checks = c;
		v->nchecks++;
	} else {
		free(c->service_id);
	}
	c->service_id = sid;
	c->status = view_status_parse(r->status);
	view_health(n);
	v->generation++;
	return 0;
}

int
view_check_del(struct view *v, const char *node, const char *check_id)
{
	struct view_node   *n;
	struct view_check **pp, *c;

	if (node == NULL || check_id == NULL ||
	    (n = view_node_get(v, node, strlen(node))) == NULL)
		return 0;
	for (pp = &n->checks; (c = *pp) != NULL; pp = &c->next)
		if (strcmp(c->id, check_id) == 0)
			break;
	if (c == NULL)
		return 0;
	*pp = c->next;
	view_check_free(c);
	v->nchecks--;
	view_health(n);
	v->generation++;
	return 0;
}
