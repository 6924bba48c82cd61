/*
 * The CLI's HTTP client (libcurl) and output helpers.
 */
#include <curl/curl.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static void
cli_set_addr(struct cli_http *h, const char *addr)
{
	if (strncmp(addr, "http://", 7) == 0 || strncmp(addr, "https://", 8) == 0 ||
	    strncmp(addr, "unix://", 7) == 0)
		snprintf(h->addr, sizeof(h->addr), "%s", addr);
	else
		snprintf(h->addr, sizeof(h->addr), "http://%s", addr);
	/* No trailing slash: paths start with one. */
	size_t n = strlen(h->addr);
	if (n > 0 && h->addr[n - 1] == '/')
		h->addr[n - 1] = '\0';
}

void
cli_http_init(struct cli_http *h)
{
	const char *a = getenv("TRIBUNE_HTTP_ADDR");
	const char *t = getenv("TRIBUNE_HTTP_TOKEN");

	memset(h, 0, sizeof(*h));
	if (a == NULL || *a == '\0')
		a = getenv("CONSUL_HTTP_ADDR");
	if (a == NULL || *a == '\0')
		a = "127.0.0.1:8500";
	cli_set_addr(h, a);
	if (t == NULL)
		t = getenv("CONSUL_HTTP_TOKEN");
	if (t != NULL)
		snprintf(h->token, sizeof(h->token), "%s", t);
}

int
cli_http_flag(struct cli_http *h, int argc, char **argv, int *i)
{
	static const char *const names[] = { "http-addr", "token", "datacenter",
		"stale" };
	const char *a = argv[*i], *val = NULL, *eq;
	size_t      n;
	int         which = -1;

	if (a[0] != '-')
		return 0;
	a += a[1] == '-' ? 2 : 1;
	n = strcspn(a, "=");
	for (int k = 0; k < 4; k++)
		if (strlen(names[k]) == n && strncmp(a, names[k], n) == 0)
			which = k;
	if (which < 0)
		return 0;
	eq = strchr(a, '=');
	if (which == 3) {
		h->stale = eq == NULL || strcmp(eq + 1, "true") == 0;
		return 1;
	}
	if (eq != NULL)
		val = eq + 1;
	else if (*i + 1 < argc)
		val = argv[++*i];
	else {
		fprintf(stderr, "flag needs an argument: -%s\n", names[which]);
		return -1;
	}
	if (which == 0)
		cli_set_addr(h, val);
	else if (which == 1)
		snprintf(h->token, sizeof(h->token), "%s", val);
	else
		snprintf(h->datacenter, sizeof(h->datacenter), "%s", val);
	return 1;
}

struct cli_sink {
	struct cli_resp *r;
	size_t           cap;
};

static size_t
cli_write(char *p, size_t sz, size_t nm, void *arg)
{
	struct cli_sink *s = arg;
	size_t           n = sz * nm;

	if (s->r->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->r->len + n + 1)
			cap *= 2;
		char *nb = realloc(s->r->body, cap);
		if (nb == NULL)
			return 0;
		s->r->body = nb;
		s->cap = cap;
	}
	memcpy(s->r->body + s->r->len, p, n);
	s->r->len += n;
	s->r->body[s->r->len] = '\0';
	return n;
}

static size_t
cli_header(char *p, size_t sz, size_t nm, void *arg)
{
	struct cli_resp *r = arg;
	size_t           n = sz * nm;

	if (n > 16 && strncasecmp(p, "X-Consul-Index:", 15) == 0) {
		const char *v = p + 15;
		while (*v == ' ')
			v++;
		snprintf(r->index, sizeof(r->index), "%.*s",
		    (int)strcspn(v, "\r\n"), v);
	}
	return n;
}

int
cli_request(const struct cli_http *h, const char *method, const char *path,
    const void *body, size_t body_len, struct cli_resp *resp)
{
	CURL              *c;
	CURLcode           rc;
	struct curl_slist *hdrs = NULL;
	struct cli_sink    sink = { resp, 0 };
	char               url[4096], tok[300];
	const char        *base = h->addr;
	char               dc[96] = "";

	memset(resp, 0, sizeof(*resp));
	if ((c = curl_easy_init()) == NULL) {
		snprintf(resp->error, sizeof(resp->error), "curl init failed");
		return -1;
	}
	if (h->datacenter[0])
		snprintf(dc, sizeof(dc), "%sdc=%s", strchr(path, '?') ? "&" : "?",
		    h->datacenter);
	if (strncmp(base, "unix://", 7) == 0) {
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, base + 7);
		base = "http://localhost";
	}
	snprintf(url, sizeof(url), "%s%s%s%s", base, path, dc,
	    h->stale ? (strchr(path, '?') || dc[0] ? "&stale" : "?stale") : "");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cli_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, cli_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (body != NULL || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(body ? body_len : 0));
		hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
		hdrs = curl_slist_append(hdrs, "Expect:");
	}
	if (h->token[0]) {
		snprintf(tok, sizeof(tok), "X-Consul-Token: %s", h->token);
		hdrs = curl_slist_append(hdrs, tok);
	}
	if (hdrs != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(resp->error, sizeof(resp->error), "%.8s %.170s: %.70s", method, url,
		    curl_easy_strerror(rc));
		curl_slist_free_all(hdrs);
		curl_easy_cleanup(c);
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (resp->body == NULL) {
		resp->body = calloc(1, 1);
		resp->len = 0;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return 0;
}

const char *
cli_flag_value(const char *flag, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	size_t      n = strlen(flag);

	if (a[0] == '-' && a[1] == '-')
		a++;
	if (strncmp(a, flag, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

void
cli_resp_free(struct cli_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

void
cli_report_error(const char *what, const struct cli_resp *r)
{
	if (r->status == 0)
		fprintf(stderr, "Error %s: %s\n", what, r->error);
	else
		fprintf(stderr, "Error %s: Unexpected response code: %ld (%s)\n",
		    what, r->status, r->body ? r->body : "");
}

char *
cli_escape(const char *s)
{
	char  *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("-_.~/", c))
			*o++ = (char)c;
		else
			o += sprintf(o, "%%%02X", c);
	}
	*o = '\0';
	return out;
}

struct cli_table {
	char  ***rows;
	size_t   nrows;
	size_t   ncols;
};

struct cli_table *
cli_table_new(void)
{
	return calloc(1, sizeof(struct cli_table));
}

void
cli_table_row(struct cli_table *t, ...)
{
	va_list     ap;
	const char *cell;
	size_t      n = 0;
	char      **row = calloc(64, sizeof(char *));

	va_start(ap, t);
	while ((cell = va_arg(ap, const char *)) != NULL && n < 63)
		row[n++] = strdup(cell);
	va_end(ap);
	if (n > t->ncols)
		t->ncols = n;
	t->rows = realloc(t->rows, (t->nrows + 1) * sizeof(char **));
	t->rows[t->nrows++] = row;
}

void
cli_table_print(struct cli_table *t)
{
	size_t w[64] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; t->rows[r][c]; c++)
			if (strlen(t->rows[r][c]) > w[c])
				w[c] = strlen(t->rows[r][c]);
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; t->rows[r][c]; c++) {
			if (t->rows[r][c + 1] == NULL)
				printf("%s", t->rows[r][c]);
			else
				printf("%-*s  ", (int)w[c], t->rows[r][c]);
		}
		printf("\n");
	}
}

void
cli_table_free(struct cli_table *t)
{
	if (t == NULL)
		return;
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; t->rows[r][c]; c++)
			free(t->rows[r][c]);
		free(t->rows[r]);
	}
	free(t->rows);
	free(t);
}
