/* The HTTP layer of libotfclient: one curl easy handle per client, reset before each request,
 * redirects never followed (the 303 of UWS carries the answer in Location), and a bounded retry
 * loop with exponential backoff for 503/429 (Retry-After honoured, capped) and for network
 * failures that leave the request unsent or unanswered. */
#include <errno.h>
#include <libxml/parser.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "client/client_int.h"
#include "otf_build_config.h"

#define DEF_CONNECT_MS 10000L
#define DEF_TIMEOUT_MS 30000L
#define DEF_STALL_S    60L
#define DEF_RETRIES    3
#define DEF_BASE_MS    500L
#define DEF_MAX_MS     30000L

enum otf_status client_fail(struct otf_client_error *err, enum otf_status code, int http_status,
                            const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return code;
    err->code = code;
    err->http_status = http_status;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

enum otf_status client_status_for_http(long status)
{
    switch (status) {
    case 400:
    case 405:
    case 415:
    case 422:
        return OTF_E_INVAL;
    case 401:
    case 403:
        return OTF_E_AUTH;
    case 404:
    case 410:
        return OTF_E_NOTFOUND;
    case 409:
        return OTF_E_STATE;
    case 413:
    case 507:
        return OTF_E_LIMIT;
    case 429:
    case 503:
        return OTF_E_BUSY;
    case 504:
        return OTF_E_TIMEOUT;
    default:
        return status >= 500 ? OTF_E_BACKEND : OTF_E_FORMAT;
    }
}

int client_id_ok(const char *id)
{
    return id && otf_str_is_safe_name(id) && strlen(id) < 256;
}

enum otf_status otf_client_global_init(void)
{
    static int done;
    if (done)
        return OTF_OK;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return OTF_E_INTERNAL;
    xmlInitParser(); /* error documents may be VOTables; libxml2 wants this before threads */
    if (client_samp_global_init() != OTF_OK)
        return OTF_E_INTERNAL;
    done = 1;
    return OTF_OK;
}

void otf_client_global_cleanup(void)
{
    client_samp_global_cleanup();
    curl_global_cleanup();
}

static int has_ctl(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    }
    return 0;
}

enum otf_status otf_client_open(const struct otf_client_options *o, struct otf_client **out,
                                struct otf_client_error *err)
{
    struct otf_client *c;
    size_t n;

    if (!o || !o->url || !*o->url)
        return client_fail(err, OTF_E_INVAL, 0,
                           "no service URL (use --url, OTF_URL or url= in the config file)");
    if (strncasecmp(o->url, "http://", 7) != 0 && strncasecmp(o->url, "https://", 8) != 0)
        return client_fail(err, OTF_E_INVAL, 0,
                           "service URL '%s' must start with http:// or "
                           "https://",
                           o->url);
    if (has_ctl(o->url) || (o->token && (has_ctl(o->token) || strchr(o->token, ' '))))
        return client_fail(err, OTF_E_INVAL, 0, "URL or token contains control characters");
    c = otf_xcalloc(1, sizeof *c);
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return client_fail(err, OTF_E_NOMEM, 0, "cannot create a curl handle");
    }
    c->o = *o;
    c->url = otf_xstrdup(o->url);
    n = strlen(c->url);
    while (n > 0 && c->url[n - 1] == '/')
        c->url[--n] = '\0';
    c->o.url = c->url;
    c->o.token = NULL;
    if (o->token && *o->token)
        c->auth = otf_xasprintf("Authorization: Bearer %s", o->token);
    c->ca_file = o->ca_file ? otf_xstrdup(o->ca_file) : NULL;
    c->o.ca_file = c->ca_file;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = DEF_CONNECT_MS;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = DEF_TIMEOUT_MS;
    if (c->o.stall_timeout_s <= 0)
        c->o.stall_timeout_s = DEF_STALL_S;
    if (c->o.max_retries == 0)
        c->o.max_retries = DEF_RETRIES;
    else if (c->o.max_retries < 0)
        c->o.max_retries = 0;
    if (c->o.retry_base_ms <= 0)
        c->o.retry_base_ms = DEF_BASE_MS;
    if (c->o.retry_max_ms <= 0)
        c->o.retry_max_ms = DEF_MAX_MS;
    *out = c;
    return OTF_OK;
}

void otf_client_close(struct otf_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c->url);
    free(c->auth);
    free(c->ca_file);
    free(c);
}

const char *otf_client_url(const struct otf_client *c)
{
    return c->url;
}

void client_resp_init(struct client_resp *r)
{
    memset(r, 0, sizeof *r);
    otf_buf_init(&r->body, CLIENT_DOC_MAX);
}

void client_resp_cleanup(struct client_resp *r)
{
    otf_buf_cleanup(&r->body);
    free(r->location);
    free(r->retry_after);
    free(r->content_type);
    memset(r, 0, sizeof *r);
}

static void resp_reset(struct client_resp *r)
{
    otf_buf_reset(&r->body);
    free(r->location);
    free(r->retry_after);
    free(r->content_type);
    r->location = r->retry_after = r->content_type = NULL;
    r->status = 0;
    r->cancelled = 0;
}

/* ---- curl callbacks ---- */

struct xfer {
    struct client_resp *r;
    const struct client_req *q;
    long status;     /* status of the answer being received (from the status line) */
    int body_limit;  /* the in-memory body passed CLIENT_DOC_MAX */
    int sink_failed; /* writing to q->sink failed */
};

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb, k;
    char **slot = NULL;
    const char *v;

    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* A new status line (e.g. after 100 Continue): forget earlier headers. */
        const char *sp = memchr(p, ' ', n);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return n;
    }
    if (n > 9 && strncasecmp(p, "Location:", 9) == 0) {
        slot = &x->r->location;
        k = 9;
    } else if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        slot = &x->r->retry_after;
        k = 12;
    } else if (n > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        slot = &x->r->content_type;
        k = 13;
    } else {
        return n;
    }
    v = p + k;
    while (v < p + n && (*v == ' ' || *v == '\t'))
        v++;
    k = (size_t)(p + n - v);
    while (k > 0 && (v[k - 1] == '\r' || v[k - 1] == '\n' || v[k - 1] == ' '))
        k--;
    free(*slot);
    *slot = otf_xstrndup(v, k);
    return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;

    /* Successful answers may stream to a file; error documents always stay in memory. */
    if (x->q->sink && x->status >= 200 && x->status < 300) {
        if (fwrite(p, 1, n, x->q->sink) != n) {
            x->sink_failed = 1;
            return 0;
        }
        return n;
    }
    if (otf_buf_append(&x->r->body, p, n) != OTF_OK) {
        x->body_limit = 1;
        return 0;
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = ud;
    int stop;
    if (!x->q->progress)
        return 0;
    if (x->q->progress_upload)
        stop = x->q->progress(x->q->progress_user, (int64_t)ulnow, (int64_t)ultotal);
    else
        stop = x->q->progress(x->q->progress_user, (int64_t)dlnow, (int64_t)dltotal);
    if (stop)
        x->r->cancelled = 1;
    return stop ? 1 : 0;
}

/* ---- one attempt ---- */

static CURLcode attempt(struct otf_client *c, const struct client_req *q, curl_mime *mime,
                        struct xfer *x, struct curl_slist *hdrs)
{
    CURL *h = c->curl;
    char *url = otf_xasprintf("%s%s", c->url, q->path);
    const char *method = q->method ? q->method : "GET";
    CURLcode cc;

    curl_easy_reset(h);
    c->curl_err[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "otf/" OTF_VERSION_STRING);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
    if (q->is_transfer) {
        /* Large bodies over slow links: no total limit, but never stall for long. */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->o.stall_timeout_s);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->o.timeout_ms + q->extra_timeout_ms);
    }
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->o.tls_insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, q->progress ? 0L : 1L);
    if (mime) {
        curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
    } else if (q->form) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->form);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    if (strcmp(method, "DELETE") == 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    cc = curl_easy_perform(h);
    free(url);
    return cc;
}

/* Network failures worth another try. For a job creation only those where the request surely
 * did not reach the server: a second attempt must not create a second job. */
static int transient(CURLcode cc, int is_create)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        return 1;
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        return !is_create;
    default:
        return 0;
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static long backoff_ms(const struct otf_client *c, int n)
{
    long ms = c->o.retry_base_ms;
    uint16_t jitter = 0;
    for (int i = 0; i < n && ms < c->o.retry_max_ms; i++)
        ms *= 2;
    if (ms > c->o.retry_max_ms)
        ms = c->o.retry_max_ms;
    /* Up to 25 % jitter so that many clients do not come back in step. */
    if (otf_random_bytes(&jitter, sizeof jitter) == OTF_OK)
        ms += (long)((double)ms * 0.25 * jitter / 65535.0);
    return ms;
}

/* Error message for a non-2xx/3xx answer: the server's own text when it sent an error
 * document, else the status line. */
static enum otf_status http_error(const struct client_resp *r, struct otf_client_error *err)
{
    char msg[OTF_CLIENT_ERROR_SIZE - 32];
    enum otf_status code = client_status_for_http(r->status);
    const char *what;

    if (r->body.len > 0 && otf_client_parse_error_doc(r->body.data, r->body.len, msg, sizeof msg))
        return client_fail(err, code, (int)r->status, "%s (HTTP %ld)", msg, r->status);
    switch (r->status) {
    case 400:
        what = "bad request";
        break;
    case 401:
    case 403:
        what = "not authorised (check the token)";
        break;
    case 404:
        what = "not found";
        break;
    case 409:
        what = "conflict with the job's state";
        break;
    case 413:
        what = "request too large";
        break;
    case 503:
        what = "service unavailable";
        break;
    default:
        what = r->status >= 500 ? "server error" : "unexpected answer";
    }
    return client_fail(err, code, (int)r->status, "%s (HTTP %ld)", what, r->status);
}

enum otf_status client_perform(struct otf_client *c, const struct client_req *q,
                               struct client_resp *r, struct otf_client_error *err)
{
    struct curl_slist *hdrs = NULL;
    curl_mime *mime = NULL;
    enum otf_status rc = OTF_OK;
    CURLcode cc = CURLE_OK;

    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (c->auth)
        hdrs = curl_slist_append(hdrs, c->auth);
    if (q->build_mime || q->form)
        hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    if (!hdrs)
        return client_fail(err, OTF_E_NOMEM, 0, "out of memory");

    for (int n = 0;; n++) {
        struct xfer x = {.r = r, .q = q};
        int more = n < c->o.max_retries;
        long wait;

        resp_reset(r);
        if (q->sink) {
            rewind(q->sink);
            if (ftruncate(fileno(q->sink), 0) != 0) {
                rc = client_fail(err, OTF_E_IO, 0, "cannot truncate the output file: %s",
                                 strerror(errno));
                goto out;
            }
        }
        if (q->build_mime) {
            curl_easy_reset(c->curl); /* drops the handle's pointer to the previous body */
            curl_mime_free(mime);
            mime = q->build_mime(c->curl, q->mime_ctx, err);
            if (!mime) {
                rc = err ? err->code : OTF_E_NOMEM;
                goto out;
            }
        }
        cc = attempt(c, q, mime, &x, hdrs);
        r->status = x.status;
        if (cc != CURLE_OK) {
            if (r->cancelled) {
                rc = client_fail(err, OTF_E_IO, 0, "cancelled");
                goto out;
            }
            if (x.sink_failed) {
                rc = client_fail(err, OTF_E_IO, 0, "cannot write the output file: %s",
                                 strerror(errno));
                goto out;
            }
            if (x.body_limit) {
                rc = client_fail(err, OTF_E_LIMIT, (int)r->status,
                                 "answer from the server larger than %zu bytes", CLIENT_DOC_MAX);
                goto out;
            }
            if (more && transient(cc, q->is_create)) {
                sleep_ms(backoff_ms(c, n));
                continue;
            }
            switch (cc) {
            case CURLE_OPERATION_TIMEDOUT:
                rc = client_fail(err, OTF_E_TIMEOUT, 0, "%s: no answer in time (%s)", c->url,
                                 c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
                break;
            case CURLE_READ_ERROR:
                rc = client_fail(err, OTF_E_IO, 0, "cannot read the file to upload: %s",
                                 c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
                break;
            case CURLE_URL_MALFORMAT:
            case CURLE_UNSUPPORTED_PROTOCOL:
                rc = client_fail(err, OTF_E_INVAL, 0, "bad URL %s: %s", c->url,
                                 curl_easy_strerror(cc));
                break;
            default:
                rc = client_fail(err, OTF_E_NET, 0, "%s: %s", c->url,
                                 c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
            }
            goto out;
        }
        if ((r->status == 503 || r->status == 429) && more) {
            long ra = r->retry_after
                          ? otf_client_parse_retry_after(r->retry_after, (int64_t)time(NULL))
                          : -1;
            wait = ra >= 0 ? ra * 1000 : backoff_ms(c, n);
            if (wait > c->o.retry_max_ms)
                wait = c->o.retry_max_ms;
            sleep_ms(wait);
            continue;
        }
        break;
    }
    if (r->status >= 200 && r->status < 400) {
        rc = OTF_OK;
        if (err)
            err->code = OTF_OK;
    } else if (r->status == 0) {
        rc = client_fail(err, OTF_E_FORMAT, 0, "%s: no HTTP answer", c->url);
    } else {
        rc = http_error(r, err);
    }
out:
    /* The handle keeps a pointer to the last body until its next reset. */
    curl_easy_reset(c->curl);
    curl_mime_free(mime);
    curl_slist_free_all(hdrs);
    return rc;
}
