/*
 * The web UI (DESIGN.md: httpd serves it; ui/ holds its page).  With the UI
 * on (-ui, -dev, "ui": true or ui_config.enabled), Consul's paths:
 *
 *   GET /        301 to /ui/
 *   GET /ui      301 to /ui/
 *   GET /ui/...  the page (one HTML file: it routes /ui/<dc>/services,
 *                /ui/<dc>/nodes, /ui/<dc>/kv/... itself and reads the HTTP
 *                API like any client)
 *
 * With it off, / answers Consul's "UI disabled" text and /ui/ is a 404.
 * The page is compiled in (ui_index_html, generated from ui/index.html by
 * the Makefile), so an installed binary needs no files beside it.
 */
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

static bool
ui_enabled(const struct httpd_req *r)
{
	return r->h->d->cfg.ui;
}

static void
ui_redirect(struct httpd_req *r, const char *to)
{
	server_answer_text(r, 301, "");
	r->ans.location = to;
}

bool
ui_dispatch(struct httpd_req *r)
{
	const char *u = r->url;
	struct httpd_answer *a = &r->ans;

	if (strcmp(u, "/") != 0 && strcmp(u, "/ui") != 0 &&
	    strncmp(u, "/ui/", 4) != 0)
		return false;
	if (r->method != HTTPD_M_GET && r->method != HTTPD_M_HEAD) {
		server_answer_text(r, 405, "method not allowed\n");
		a->allow = "GET, HEAD";
		return true;
	}
	if (!ui_enabled(r)) {
		if (strcmp(u, "/") != 0)
			return false;
		server_answer_text(r, 200, "Consul Agent: UI disabled. To enable, "
		    "set ui_config.enabled=true in the agent configuration and "
		    "restart.");
		return true;
	}
	if (strncmp(u, "/ui/", 4) != 0) {
		ui_redirect(r, "/ui/");
		return true;
	}
	server_answer_text(r, 200, "");
	free(a->body);
	a->body = (char *)(uintptr_t)ui_index_html;
	a->len = ui_index_html_len;
	a->persistent = true;
	a->ctype = "text/html; charset=utf-8";
	return true;
}
