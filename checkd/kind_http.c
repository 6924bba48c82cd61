/*
 * HTTP checks over libcurl's multi interface, driven by checkd's loop:
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION ->
 * loop_add_fd) and when it wants a timeout call (CURLMOPT_TIMERFUNCTION,
 * honoured by the scheduler's 10 ms tick), so no check ever waits on
 * another.  Names resolve in curl's threaded resolver.
 *
 * Output is Consul's: "HTTP GET <url>: 200 OK Output: <body>", the body cut
 * to the output cap (the tail, as Consul's circular buffer keeps it); a
 * transport error reads like Go's url.Error, `Get "<url>": <reason>`.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkd.h"
#include "log.h"
#include "loop.h"

struct http_run {
	struct checkd     *cd;
	struct chk        *c;
	CURL              *e;
	struct curl_slist *hdrs;
	char              *buf;        /* the last output_max bytes */
	size_t             len, total;
	char               errbuf[CURL_ERROR_SIZE];
};

static int64_t http_timer_due;          /* ms, -1: none */

const char *
kind_http_status_text(long code)
{
	static const struct { long code; const char *text; } t[] = {
		{ 100, "Continue" }, { 200, "OK" }, { 201, "Created" },
		{ 202, "Accepted" }, { 204, "No Content" },
		{ 206, "Partial Content" }, { 301, "Moved Permanently" },
		{ 302, "Found" }, { 304, "Not Modified" },
		{ 307, "Temporary Redirect" }, { 308, "Permanent Redirect" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 409, "Conflict" }, { 418, "I'm a teapot" },
		{ 429, "Too Many Requests" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" }, { 0, NULL }
	};

	for (size_t i = 0; t[i].text != NULL; i++)
		if (t[i].code == code)
			return t[i].text;
	return "";
}

const char *
kind_http_map(long code)
{
	if (code >= 200 && code <= 299)
		return "passing";
	if (code == 429)
		return "warning";
	return "critical";
}

static size_t
http_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_run *h = arg;
	size_t           n = size * nmemb, max = h->c->output_max;

	h->total += n;
	if (max == 0)
		return n;
	if (n >= max) {
		memcpy(h->buf, ptr + n - max, max);
		h->len = max;
	} else if (h->len + n <= max) {
		memcpy(h->buf + h->len, ptr, n);
		h->len += n;
	} else {
		size_t keep = max - n;

		memmove(h->buf, h->buf + h->len - keep, keep);
		memcpy(h->buf + keep, ptr, n);
		h->len = max;
	}
	return n;
}

static void
http_free(struct http_run *h)
{
	CURLM *m = h->cd->curlm;

	if (h->e != NULL) {
		curl_multi_remove_handle(m, h->e);
		curl_easy_cleanup(h->e);
	}
	curl_slist_free_all(h->hdrs);
	free(h->buf);
	free(h);
}

/* Go's url.Error prefix: the method with only its first letter upper. */
static void
http_op(const char *method, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; method[i] != '\0' && i + 1 < outlen; i++)
		out[i] = i == 0 ? (char)toupper((unsigned char)method[i]) :
		    (char)tolower((unsigned char)method[i]);
	out[i] = '\0';
}

static void
http_finish(struct http_run *h, CURLcode rc)
{
	struct checkd *cd = h->cd;
	struct chk    *c = h->c;
	const char    *url = json_string_value(json_object_get(c->def, "HTTP"));
	const char    *method = json_string_value(json_object_get(c->def,
	    "Method"));
	const char    *st;
	char          *out;
	char           op[16];
	long           code = 0;
	size_t         n;

	if (method == NULL)
		method = "GET";
	if (rc != CURLE_OK) {
		http_op(method, op, sizeof(op));
		n = strlen(url) + sizeof(h->errbuf) + 128;
		out = malloc(n);
		if (out != NULL) {
			if (rc == CURLE_OPERATION_TIMEDOUT)
				snprintf(out, n, "%s \"%s\": context deadline "
				    "exceeded (Client.Timeout exceeded while "
				    "awaiting headers)", op, url);
			else
				snprintf(out, n, "%s \"%s\": %s", op, url,
				    h->errbuf[0] != '\0' ? h->errbuf :
				    curl_easy_strerror(rc));
		}
		http_free(h);
		sched_result(cd, c, "critical", out != NULL ? out : "");
		free(out);
		return;
	}
	curl_easy_getinfo(h->e, CURLINFO_RESPONSE_CODE, &code);
	st = kind_http_map(code);
	n = strlen(url) + strlen(method) + h->len + 128;
	if ((out = malloc(n)) != NULL) {
		int k = snprintf(out, n, "HTTP %s %s: %ld %s Output: ", method,
		    url, code, kind_http_status_text(code));

		memcpy(out + k, h->buf, h->len);
		out[k + h->len] = '\0';
	}
	http_free(h);
	sched_result(cd, c, st, out != NULL ? out : "");
	free(out);
}

static void
http_drain(struct checkd *cd)
{
	CURLMsg *msg;
	int      left;

	while ((msg = curl_multi_info_read(cd->curlm, &left)) != NULL) {
		struct http_run *h = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &h);
		if (h != NULL)
			http_finish(h, msg->data.result);
	}
}

static void
http_on_fd(int fd, short revents, void *arg)
{
	struct checkd *cd = arg;
	int            ev = 0, running;

	if (revents & POLLIN)
		ev |= CURL_CSELECT_IN;
	if (revents & POLLOUT)
		ev |= CURL_CSELECT_OUT;
	if (revents & (POLLERR | POLLHUP))
		ev |= CURL_CSELECT_ERR;
	curl_multi_socket_action(cd->curlm, fd, ev, &running);
	http_drain(cd);
}

static int
http_socket_cb(CURL *e, curl_socket_t s, int what, void *arg, void *sp)
{
	struct checkd *cd = arg;
	short          ev = 0;

	(void)e;
	(void)sp;
	if (cd->loop == NULL)
		return 0;
	if (what == CURL_POLL_REMOVE) {
		loop_del_fd(cd->loop, s);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= POLLIN;
	if (what & CURL_POLL_OUT)
		ev |= POLLOUT;
	loop_add_fd(cd->loop, s, ev, http_on_fd, cd);
	return 0;
}

static int
http_timer_cb(CURLM *m, long timeout_ms, void *arg)
{
	(void)m;
	(void)arg;
	http_timer_due = timeout_ms < 0 ? -1 :
	    (int64_t)(loop_now_ms() + (uint64_t)timeout_ms);
	return 0;
}

/* The scheduler's tick stands in for curl's timer (10 ms resolution). */

void
kind_http_tick(struct checkd *cd, uint64_t now)
{
	int running;

	if (cd->curlm == NULL || http_timer_due < 0 ||
	    (uint64_t)http_timer_due > now)
		return;
	http_timer_due = -1;
	curl_multi_socket_action(cd->curlm, CURL_SOCKET_TIMEOUT, 0, &running);
	http_drain(cd);
}

int
kind_http_init(struct checkd *cd)
{
	CURLM *m;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((m = curl_multi_init()) == NULL)
		return -1;
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, cd);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, http_timer_cb);
	curl_multi_setopt(m, CURLMOPT_TIMERDATA, cd);
	cd->curlm = m;
	http_timer_due = -1;
	return 0;
}

void
kind_http_fini(struct checkd *cd)
{
	if (cd->curlm != NULL)
		curl_multi_cleanup(cd->curlm);
	cd->curlm = NULL;
}

static int
http_start(struct checkd *cd, struct chk *c)
{
	struct http_run *h;
	const json_t    *d = c->def, *hdr, *vals, *v;
	const char      *method, *body, *k;
	size_t           i;
	char             line[1024];
	bool             ua = false, accept = false;

	if (cd->curlm == NULL && kind_http_init(cd) != 0)
		return -1;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -1;
	h->cd = cd;
	h->c = c;
	if ((h->buf = malloc(c->output_max + 1)) == NULL ||
	    (h->e = curl_easy_init()) == NULL) {
		free(h->buf);
		free(h);
		return -1;
	}
	method = json_string_value(json_object_get(d, "Method"));
	if (method == NULL || *method == '\0')
		method = "GET";
	curl_easy_setopt(h->e, CURLOPT_URL, json_string_value(
	    json_object_get(d, "HTTP")));
	curl_easy_setopt(h->e, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h->e, CURLOPT_NOBODY, 1L);
	if ((body = json_string_value(json_object_get(d, "Body"))) != NULL &&
	    *body != '\0') {
		curl_easy_setopt(h->e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		curl_easy_setopt(h->e, CURLOPT_COPYPOSTFIELDS, body);
		curl_easy_setopt(h->e, CURLOPT_CUSTOMREQUEST, method);
	}
	hdr = json_object_get(d, "Header");
	json_object_foreach((json_t *)(uintptr_t)hdr, k, vals) {
		if (strcasecmp(k, "User-Agent") == 0)
			ua = true;
		if (strcasecmp(k, "Accept") == 0)
			accept = true;
		json_array_foreach(vals, i, v) {
			snprintf(line, sizeof(line), "%s: %s", k,
			    json_string_value(v) ? json_string_value(v) : "");
			h->hdrs = curl_slist_append(h->hdrs, line);
		}
	}
	if (!ua)
		h->hdrs = curl_slist_append(h->hdrs,
		    "User-Agent: Consul Health Check");
	if (!accept)
		h->hdrs = curl_slist_append(h->hdrs,
		    "Accept: text/plain, text/*, */*");
	curl_easy_setopt(h->e, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(h->e, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(h->e, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->e, CURLOPT_PRIVATE, h);
	curl_easy_setopt(h->e, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(h->e, CURLOPT_FOLLOWLOCATION,
	    json_is_true(json_object_get(d, "DisableRedirects")) ? 0L : 1L);
	curl_easy_setopt(h->e, CURLOPT_MAXREDIRS, 10L);
	if (json_is_true(json_object_get(d, "TLSSkipVerify"))) {
		curl_easy_setopt(h->e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h->e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	/* Connections are not kept: a check sees what a new client sees. */
	curl_easy_setopt(h->e, CURLOPT_FORBID_REUSE, 1L);
	if (curl_multi_add_handle(cd->curlm, h->e) != CURLM_OK) {
		curl_easy_cleanup(h->e);
		h->e = NULL;
		http_free(h);
		return -1;
	}
	c->kpriv = h;
	return 0;
}

static void
http_cancel(struct checkd *cd, struct chk *c)
{
	(void)cd;
	if (c->kpriv != NULL)
		http_free(c->kpriv);
	c->kpriv = NULL;
}

const struct chk_kind kind_http = {
	.type = "http",
	.polled = true,
	.start = http_start,
	.cancel = http_cancel,
	.timeout_text = "context deadline exceeded (Client.Timeout exceeded "
	    "while awaiting headers)",
};
