/*
 * libFuzzer target: any sequence of catalog changes applied to the view,
 * with the view's invariants checked after each one.  The view links every
 * service from its node's list and from its name's group, and caches
 * health; a wrong unlink there would answer from freed memory.
 *
 * Each input byte triple is one change: op, node/service/check choice,
 * name/status choice, over small name sets so changes collide.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsd/dnsd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *nodes[] = { "n0", "N0", "n1", "n2" };
static const char *ids[] = { "a", "b", "c", "" };
static const char *names[] = { "web", "WEB", "db", "api" };
static const char *statuses[] = { "passing", "warning", "critical",
	"maintenance" };
static const char *addrs[] = { "10.0.0.1", "::1", "host.example", "" };

static void
check(const struct view *v)
{
	size_t nsvc = 0, nchk = 0, ingroups = 0, nnodes = 0;

	for (size_t b = 0; b < v->group_buckets; b++)
		for (struct view_group *g = v->groups[b]; g; g = g->hnext) {
			if (g->n == 0)
				abort(); /* empty groups are removed */
			for (size_t i = 0; i < g->n; i++)
				if (g->inst[i]->group != g ||
				    g->inst[i]->group_idx != i)
					abort();
			ingroups += g->n;
		}
	for (size_t b = 0; b < v->node_buckets; b++)
		for (struct view_node *n = v->nodes[b]; n; n = n->hnext) {
			enum view_status ns = VIEW_PASSING;
			nnodes++;
			if (view_node_get(v, n->name, strlen(n->name)) != n)
				abort();
			for (struct view_check *c = n->checks; c; c = c->next) {
				nchk++;
				if (c->service_id[0] == '\0' && c->status > ns)
					ns = c->status;
			}
			if (n->status != ns)
				abort();
			for (struct view_service *s = n->services; s;
			    s = s->next) {
				enum view_status st = ns;
				nsvc++;
				if (s->node != n || s->group == NULL)
					abort();
				for (struct view_check *c = n->checks; c;
				    c = c->next)
					if (strcmp(c->service_id, s->id) == 0 &&
					    c->status > st)
						st = c->status;
				if (s->status != st)
					abort();
			}
		}
	if (nsvc != v->nservices || ingroups != nsvc || nchk != v->nchecks ||
	    nnodes != v->nnodes)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct view *v = view_new();

	for (size_t i = 0; i + 3 <= size; i += 3) {
		uint8_t     op = data[i] % 6, a = data[i + 1], b = data[i + 2];
		const char *node = nodes[a & 3];

		switch (op) {
		case 0: {
			struct view_node_row r = { .name = node,
				.address = addrs[b & 3], .datacenter = "dc1" };
			view_node_put(v, &r);
			break;
		}
		case 1:
			view_node_del(v, node);
			break;
		case 2: {
			const char *tags[] = { "v1", "V2" };
			struct view_service_row r = { .node = node,
				.id = ids[(a >> 2) & 3], .name = names[b & 3],
				.tags = tags, .ntags = (size_t)(b >> 6) % 3,
				.address = addrs[(b >> 2) & 3],
				.port = (uint16_t)b };
			view_service_put(v, &r);
			break;
		}
		case 3:
			view_service_del(v, node, ids[(a >> 2) & 3][0] ?
			    ids[(a >> 2) & 3] : names[b & 3]);
			break;
		case 4: {
			char cid[8];
			struct view_check_row r = { .node = node,
				.check_id = cid,
				.service_id = ids[(a >> 2) & 3],
				.status = statuses[b & 3] };
			snprintf(cid, sizeof(cid), "c%u", (b >> 2) & 7);
			view_check_put(v, &r);
			break;
		}
		case 5: {
			char cid[8];
			snprintf(cid, sizeof(cid), "c%u", (b >> 2) & 7);
			view_check_del(v, node, cid);
			break;
		}
		}
		check(v);
	}
	view_free(v);
	return 0;
}
