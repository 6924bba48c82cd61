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
	bool               grpc;
	bool               tcp;           /* connect only (kind_tcp, names) */
	int                grpc_status;   /* grpc-status header, -1: none */
	char               grpc_message[128];
};


static const char *const grpc_codes[] = { "OK", "Canceled", "Unknown",
	"InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
	"PermissionDenied", "ResourceExhausted", "FailedPrecondition",
	"Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable",
	"DataLoss", "Unauthenticated" };
static const char *const grpc_serving[] = { "UNKNOWN", "SERVING",
	"NOT_SERVING", "SERVICE_UNKNOWN" };

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
	if (h->grpc) {
		/* One small framed message: keep its head. */
		size_t room = max > h->len ? max - h->len : 0;

		memcpy(h->buf + h->len, ptr, n < room ? n : room);
		h->len += n < room ? n : room;
		return n;
	}
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

/* Headers and, for gRPC over HTTP/2, trailers: grpc-status/message. */
static size_t
http_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_run *h = arg;
	size_t           n = size * nmemb;

	if (n > 12 && strncasecmp(ptr, "grpc-status:", 12) == 0)
		h->grpc_status = atoi(ptr + 12);
	else if (n > 13 && strncasecmp(ptr, "grpc-message:", 13) == 0) {
		size_t m = n - 13;

		while (m > 0 && (ptr[13 + m - 1] == '\r' ||
		    ptr[13 + m - 1] == '\n'))
			m--;
		snprintf(h->grpc_message, sizeof(h->grpc_message), "%.*s",
		    (int)m, ptr + 13);
	}
	return n;
}

/*
 * grpc.health.v1 HealthCheckResponse in its 5-byte gRPC frame: field 1
 * (varint) is the serving status.  -1 when the bytes are not that.
 */
int
kind_grpc_decode(const unsigned char *b, size_t len)
{
	size_t mlen, i;

	if (len < 5 || b[0] != 0)
		return -1;
	mlen = (size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 |
	    b[4];
	if (mlen > len - 5)
		return -1;
	if (mlen == 0)
		return 0;               /* all defaults: UNKNOWN */
	for (i = 5; i + 1 < 5 + mlen; ) {
		unsigned tag = b[i++];

		if (tag == 0x08)
			return b[i] & 0x7f;
		if ((tag & 7) == 2 && i < 5 + mlen)
			i += 1 + b[i];      /* skip a short length-delimited */
		else if ((tag & 7) == 0) {
			while (i < 5 + mlen && (b[i] & 0x80))
				i++;
			i++;
		} else
			return -1;
	}
	return -1;
}

static void
grpc_finish(struct http_run *h, CURLcode rc)
{
	struct checkd *cd = h->cd;
	struct chk    *c = h->c;
	const char    *target = json_string_value(json_object_get(c->def,
	    "GRPC"));
	char           out[512];
	long           code = 0;
	int            st;

	curl_easy_getinfo(h->e, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK) {
		snprintf(out, sizeof(out), "gRPC check %s: failed: %s", target,
		    rc == CURLE_OPERATION_TIMEDOUT ? "context deadline exceeded"
		    : h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(rc));
		st = -2;
	} else if (h->grpc_status > 0) {
		snprintf(out, sizeof(out), "gRPC check %s: failed: rpc error: "
		    "code = %s desc = %s", target, h->grpc_status < 17 ?
		    grpc_codes[h->grpc_status] : "Unknown", h->grpc_message);
		st = -2;
	} else if (code != 200) {
		snprintf(out, sizeof(out), "gRPC check %s: failed: HTTP status "
		    "%ld", target, code);
		st = -2;
	} else if ((st = kind_grpc_decode((const unsigned char *)h->buf,
	    h->len)) == 1) {
		snprintf(out, sizeof(out), "gRPC check %s: success", target);
	} else {
		snprintf(out, sizeof(out), "gRPC check %s: failed: serving "
		    "status %s", target, st >= 0 && st < 4 ? grpc_serving[st] :
		    "unreadable");
	}
	http_free(h);
	sched_result(cd, c, st == 1 ? "passing" : "critical", out);
}

/* A tcp check's connect-only transfer ended: Go's dialer's words. */
static void
tcp_finish(struct http_run *h, CURLcode rc)
{
	struct checkd *cd = h->cd;
	struct chk    *c = h->c;
	const char    *addr = json_string_value(json_object_get(c->def, "TCP"));
	char           out[600], reason[128];
	long           oserr = 0;

	if (rc == CURLE_OK) {
		snprintf(out, sizeof(out), "TCP connect %s: Success", addr);
		http_free(h);
		sched_result(cd, c, "passing", out);
		return;
	}
	curl_easy_getinfo(h->e, CURLINFO_OS_ERRNO, &oserr);
	if (rc == CURLE_COULDNT_RESOLVE_HOST) {
		char host[256];

		snprintf(host, sizeof(host), "%.*s", (int)strcspn(addr, ":"),
		    addr);
		snprintf(out, sizeof(out), "dial tcp: lookup %s: no such host",
		    host);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(out, sizeof(out), "dial tcp %s: i/o timeout", addr);
	} else {
		snprintf(reason, sizeof(reason), "%s", oserr != 0 ?
		    strerror((int)oserr) : curl_easy_strerror(rc));
		reason[0] = (char)tolower((unsigned char)reason[0]);
		snprintf(out, sizeof(out), "dial tcp %s: connect: %s", addr,
		    reason);
	}
	http_free(h);
	sched_result(cd, c, "critical", out);
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
		if (h != NULL && h->tcp)
			tcp_finish(h, msg->data.result);
		else if (h != NULL && h->grpc)
			grpc_finish(h, msg->data.result);
		else if (h != NULL)
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
	struct checkd *cd = arg;

	(void)m;
	cd->curl_due_ms = timeout_ms < 0 ? -1 :
	    (int64_t)(loop_now_ms() + (uint64_t)timeout_ms);
	return 0;
}

/* The scheduler's tick stands in for curl's timer (10 ms resolution). */

void
kind_http_tick(struct checkd *cd, uint64_t now)
{
	int running;

	if (cd->curlm == NULL || cd->curl_due_ms < 0 ||
	    (uint64_t)cd->curl_due_ms > now)
		return;
	cd->curl_due_ms = -1;
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
	cd->curl_due_ms = -1;
	return 0;
}

void
kind_http_fini(struct checkd *cd)
{
	if (cd->curlm != NULL)
		curl_multi_cleanup(cd->curlm);
	cd->curlm = NULL;
}

/* The gRPC health request: Check(HealthCheckRequest{service}). */
static int
grpc_setup(struct http_run *h, const json_t *d)
{
	const char   *target = json_string_value(json_object_get(d, "GRPC"));
	const char   *slash;
	char          url[600];
	unsigned char req[5 + 2 + 256];
	size_t        slen = 0, mlen;
	bool          tls = json_is_true(json_object_get(d, "GRPCUseTLS"));

	if (target == NULL)
		return -1;
	slash = strchr(target, '/');
	if (slash != NULL)
		slen = strlen(slash + 1);
	if (slen > 255)
		return -1;
	snprintf(url, sizeof(url), "%s://%.*s/grpc.health.v1.Health/Check",
	    tls ? "https" : "http", slash != NULL ? (int)(slash - target) :
	    (int)strlen(target), target);
	mlen = slen > 0 ? 2 + slen : 0;
	req[0] = 0;
	req[1] = req[2] = req[3] = 0;
	req[4] = (unsigned char)mlen;
	if (slen > 0) {
		req[5] = 0x0a;
		req[6] = (unsigned char)slen;
		memcpy(req + 7, slash + 1, slen);
	}
	curl_easy_setopt(h->e, CURLOPT_URL, url);
	curl_easy_setopt(h->e, CURLOPT_HTTP_VERSION, tls ?
	    (long)CURL_HTTP_VERSION_2TLS :
	    (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	curl_easy_setopt(h->e, CURLOPT_POSTFIELDSIZE, (long)(5 + mlen));
	curl_easy_setopt(h->e, CURLOPT_COPYPOSTFIELDS, req);
	h->hdrs = curl_slist_append(h->hdrs, "Content-Type: application/grpc");
	h->hdrs = curl_slist_append(h->hdrs, "TE: trailers");
	h->hdrs = curl_slist_append(h->hdrs, "User-Agent: Consul Health Check");
	if (tls) {
		curl_easy_setopt(h->e, CURLOPT_SSL_VERIFYPEER, json_is_true(
		    json_object_get(d, "TLSSkipVerify")) ? 0L : 1L);
		curl_easy_setopt(h->e, CURLOPT_SSL_VERIFYHOST, json_is_true(
		    json_object_get(d, "TLSSkipVerify")) ? 0L : 2L);
	}
	return 0;
}

static int
http_begin(struct checkd *cd, struct chk *c, bool grpc);

static int
http_start(struct checkd *cd, struct chk *c)
{
	return http_begin(cd, c, false);
}

static int
grpc_start(struct checkd *cd, struct chk *c)
{
	return http_begin(cd, c, true);
}

static int
http_begin(struct checkd *cd, struct chk *c, bool grpc)
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
	h->grpc = grpc;
	h->grpc_status = -1;
	if ((h->buf = malloc(c->output_max + 1)) == NULL ||
	    (h->e = curl_easy_init()) == NULL) {
		free(h->buf);
		free(h);
		return -1;
	}
	curl_easy_setopt(h->e, CURLOPT_HEADERFUNCTION, http_header);
	curl_easy_setopt(h->e, CURLOPT_HEADERDATA, h);
	if (grpc) {
		if (grpc_setup(h, d) != 0) {
			http_free(h);
			sched_result(cd, c, "critical", "gRPC check: bad target");
			return 0;
		}
		goto common;
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
common:
	curl_easy_setopt(h->e, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(h->e, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(h->e, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->e, CURLOPT_PRIVATE, h);
	curl_easy_setopt(h->e, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(h->e, CURLOPT_FOLLOWLOCATION, grpc ||
	    json_is_true(json_object_get(d, "DisableRedirects")) ? 0L : 1L);
	curl_easy_setopt(h->e, CURLOPT_MAXREDIRS, 10L);
	if (!grpc && json_is_true(json_object_get(d, "TLSSkipVerify"))) {
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

/*
 * A tcp check to a host name: curl resolves it in its threaded resolver and
 * connects without blocking (CONNECT_ONLY), so names cost the loop nothing.
 */
int
kind_http_connect(struct checkd *cd, struct chk *c, const char *host,
    const char *port)
{
	struct http_run *h;
	char             url[600];

	if (cd->curlm == NULL && kind_http_init(cd) != 0)
		return -1;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -1;
	h->cd = cd;
	h->c = c;
	h->tcp = true;
	if ((h->e = curl_easy_init()) == NULL) {
		free(h);
		return -1;
	}
	snprintf(url, sizeof(url), "http://%s:%s/", host, port);
	curl_easy_setopt(h->e, CURLOPT_URL, url);
	curl_easy_setopt(h->e, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(h->e, CURLOPT_PRIVATE, h);
	curl_easy_setopt(h->e, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(h->e, CURLOPT_FORBID_REUSE, 1L);
	if (curl_multi_add_handle(cd->curlm, h->e) != CURLM_OK) {
		http_free(h);
		return -1;
	}
	c->kpriv = h;
	c->kpriv_curl = true;
	return 0;
}

void
kind_http_cancel(struct checkd *cd, struct chk *c)
{
	(void)cd;
	if (c->kpriv != NULL)
		http_free(c->kpriv);
	c->kpriv = NULL;
	c->kpriv_curl = false;
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

const struct chk_kind kind_grpc = {
	.type = "grpc",
	.polled = true,
	.start = grpc_start,
	.cancel = http_cancel,
	.timeout_text = "gRPC check: failed: context deadline exceeded",
};
