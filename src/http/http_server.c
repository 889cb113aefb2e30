/* The libmicrohttpd adapter: daemon setup, request lifecycle, body streaming (uploads go to a
 * temp file as they arrive, never buffered whole), answers and routing. Every answer to a client
 * mistake is a 4xx with a DALI error document; the server keeps serving. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http_int.h"

/* ---- per-thread store handles (STYLE §5: never share a connection) ---- */

static void store_destroy(void *p)
{
    otf_store_close(p);
}

struct otf_store *http_store(struct otf_http_server *srv, struct otf_errbuf *eb)
{
    struct otf_store *st = pthread_getspecific(srv->store_key);
    if (st)
        return st;
    if (otf_store_open(srv->p.store_url, &st, eb) != OTF_OK)
        return NULL;
    pthread_setspecific(srv->store_key, st);
    return st;
}

/* ---- answers ---- */

unsigned http_status_for(enum otf_status st)
{
    switch (st) {
    case OTF_OK:
        return MHD_HTTP_OK;
    case OTF_E_FORMAT:
    case OTF_E_INVAL:
        return MHD_HTTP_BAD_REQUEST;
    case OTF_E_NOTFOUND:
        return MHD_HTTP_NOT_FOUND;
    case OTF_E_LIMIT:
        return MHD_HTTP_CONTENT_TOO_LARGE;
    case OTF_E_STATE:
        return MHD_HTTP_CONFLICT;
    case OTF_E_AUTH:
        return MHD_HTTP_FORBIDDEN;
    case OTF_E_BUSY:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    case OTF_E_TIMEOUT:
        return MHD_HTTP_GATEWAY_TIMEOUT;
    case OTF_E_NET:
        return MHD_HTTP_BAD_GATEWAY;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static int host_is_sane(const char *h)
{
    if (!h || !*h || strlen(h) > 255)
        return 0;
    for (; *h; h++) {
        char c = *h;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return 0;
    }
    return 1;
}

void http_base_url(struct http_request *r, char *out, size_t n)
{
    const char *pub = r->srv->p.http.public_url;
    const char *host;
    size_t len;

    if (pub && *pub) {
        snprintf(out, n, "%s", pub);
    } else {
        host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        if (host_is_sane(host))
            snprintf(out, n, "%s://%s", *r->srv->p.http.tls_cert ? "https" : "http", host);
        else
            snprintf(out, n, "%s://%s", *r->srv->p.http.tls_cert ? "https" : "http",
                     r->srv->p.http.listen);
    }
    len = strlen(out);
    while (len > 0 && out[len - 1] == '/')
        out[--len] = '\0';
}

enum MHD_Result http_send(struct http_request *r, unsigned status, const char *type,
                          const char *body, size_t len, const char *location)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED && r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"cianna-otf\"");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status >= 400)
        atomic_fetch_add(&r->srv->n_rejected, 1);
    ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_send_error(struct http_request *r, unsigned status, const char *fmt, ...)
{
    char msg[OTF_ERRBUF_SIZE];
    struct otf_buf b;
    enum MHD_Result ret;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    otf_buf_init(&b, 1 << 16);
    if (r->want_json)
        otf_uws_error_write_json(msg, (int)status, &b);
    else
        otf_uws_error_write_votable(msg, &b);
    otf_log_debug("http", "%s %s -> %u %s", r->method, r->url, status, msg);
    ret = http_send(r, status, r->want_json ? "application/json" : "application/x-votable+xml",
                    b.data ? b.data : "", b.len, NULL);
    otf_buf_cleanup(&b);
    return ret;
}

enum MHD_Result http_send_status(struct http_request *r, enum otf_status st,
                                 const struct otf_errbuf *eb)
{
    const char *msg = eb && eb->msg[0] ? eb->msg : otf_status_str(st);
    if (http_status_for(st) >= 500)
        otf_log_error("http", "%s %s: %s", r->method, r->url, msg);
    return http_send_error(r, http_status_for(st), "%s", msg);
}

enum MHD_Result http_redirect(struct http_request *r, const char *path)
{
    char base[512], loc[1024];
    http_base_url(r, base, sizeof base);
    snprintf(loc, sizeof loc, "%s%s", base, path);
    return http_send(r, MHD_HTTP_SEE_OTHER, "text/plain", "", 0, loc);
}

/* ---- fields (form, query): names are case-insensitive (DALI) ---- */

const char *http_field(const struct http_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_fields; i++) {
        if (otf_str_ieq(r->names[i], name))
            return r->values[i];
    }
    return NULL;
}

size_t http_field_all(const struct http_request *r, const char *name, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_fields && n < max; i++) {
        if (otf_str_ieq(r->names[i], name))
            out[n++] = r->values[i];
    }
    return n;
}

static void fail_body(struct http_request *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_body(struct http_request *r, int status, const char *fmt, ...)
{
    va_list ap;
    if (r->err_status)
        return;
    r->err_status = status;
    va_start(ap, fmt);
    vsnprintf(r->err_msg, sizeof r->err_msg, fmt, ap);
    va_end(ap);
}

static int add_field(struct http_request *r, const char *name, const char *value, size_t len)
{
    if (r->n_fields >= HTTP_MAX_FIELDS) {
        fail_body(r, MHD_HTTP_BAD_REQUEST, "too many parameters (at most %d)", HTTP_MAX_FIELDS);
        return -1;
    }
    r->names[r->n_fields] = otf_xstrdup(name);
    r->values[r->n_fields] = otf_xstrndup(value ? value : "", len);
    r->n_fields++;
    return 0;
}

static enum MHD_Result on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct http_request *r = cls;
    (void)kind;
    if (add_field(r, key, value ? value : "", value ? strlen(value) : 0) != 0)
        return MHD_NO;
    return MHD_YES;
}

/* ---- body streaming ---- */

static int is_description_part(const char *key, const char *content_type)
{
    if (otf_str_ieq(key, "description") || otf_str_ieq(key, "jobdescription") ||
        otf_str_ieq(key, "job_description"))
        return 1;
    return content_type && strstr(content_type, "xml") != NULL && !otf_str_ieq(key, "image");
}

static int upload_open(struct http_request *r, const char *key)
{
    char path[4096];
    char id[17];

    if (r->upload_path) {
        if (strcmp(r->upload_field, key) != 0)
            fail_body(r, MHD_HTTP_BAD_REQUEST,
                      "more than one file part ('%s' and '%s'): one image per job", r->upload_field,
                      key);
        return -1;
    }
    if (otf_random_id(id, 16) != OTF_OK) {
        fail_body(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "no randomness for a temp file");
        return -1;
    }
    snprintf(path, sizeof path, "%s/upload-%s.fits", r->srv->tmp_dir, id);
    r->upload_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (r->upload_fd < 0) {
        otf_log_error("http", "create %s: %s", path, strerror(errno));
        fail_body(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
        return -1;
    }
    r->upload_path = otf_xstrdup(path);
    r->upload_field = otf_xstrdup(key);
    otf_sha256_init(&r->upload_sha);
    return 0;
}

static enum MHD_Result on_post_data(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size)
{
    struct http_request *r = cls;
    (void)kind;
    (void)transfer_encoding;

    if (r->err_status)
        return MHD_YES; /* keep draining; the error is answered at the end */
    if (!key)
        return MHD_YES;
    if (filename && !is_description_part(key, content_type)) {
        r->last_empty_start = 0;
        free(r->last_field);
        r->last_field = NULL;
        if (off == 0 && !r->upload_path && upload_open(r, key) != 0)
            return MHD_YES;
        if (!r->upload_path || strcmp(r->upload_field, key) != 0) {
            upload_open(r, key); /* records the "one image per job" error */
            return MHD_YES;
        }
        if ((int64_t)size > r->srv->p.http.upload_max_bytes - r->upload_bytes) {
            fail_body(r, MHD_HTTP_CONTENT_TOO_LARGE, "upload larger than the limit of %lld bytes",
                      (long long)r->srv->p.http.upload_max_bytes);
            return MHD_YES;
        }
        while (size > 0) {
            ssize_t w = write(r->upload_fd, data, size);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                otf_log_error("http", "write %s: %s", r->upload_path, strerror(errno));
                fail_body(r,
                          errno == ENOSPC ? MHD_HTTP_INSUFFICIENT_STORAGE
                                          : MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "cannot store the upload: %s", strerror(errno));
                return MHD_YES;
            }
            otf_sha256_update(&r->upload_sha, data, (size_t)w);
            data += w;
            size -= (size_t)w;
            r->upload_bytes += w;
        }
        return MHD_YES;
    }
    if ((int64_t)(r->form_bytes + size) > r->srv->p.http.form_max_bytes) {
        fail_body(r, MHD_HTTP_CONTENT_TOO_LARGE, "form fields larger than %lld bytes",
                  (long long)r->srv->p.http.form_max_bytes);
        return MHD_YES;
    }
    r->form_bytes += size;
    if (is_description_part(key, content_type)) {
        r->last_empty_start = 0;
        free(r->last_field);
        r->last_field = NULL;
        r->has_desc = 1;
        if (otf_buf_append(&r->desc, data, size) != OTF_OK)
            fail_body(r, MHD_HTTP_CONTENT_TOO_LARGE, "job description larger than %d bytes",
                      HTTP_DESC_MAX);
        return MHD_YES;
    }
    /* A field value may arrive in several chunks: continue the last one. libmicrohttpd also
     * announces a multipart value with an empty chunk at offset 0 when the part's headers and its
     * value come in different reads, then delivers the value from offset 0 again. */
    if ((off > 0 || r->last_empty_start) && r->n_fields > 0 && r->last_field &&
        strcmp(r->last_field, key) == 0) {
        char *v = r->values[r->n_fields - 1];
        size_t old = strlen(v);
        v = otf_xrealloc(v, old + size + 1);
        memcpy(v + old, data, size);
        v[old + size] = '\0';
        r->values[r->n_fields - 1] = v;
        r->last_empty_start = old + size == 0;
        return MHD_YES;
    }
    if (add_field(r, key, data, size) == 0) {
        free(r->last_field);
        r->last_field = otf_xstrdup(key);
        r->last_empty_start = size == 0;
    }
    return MHD_YES;
}

static int accepts_json(struct MHD_Connection *conn)
{
    const char *acc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    const char *fmt = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "RESPONSEFORMAT");
    if (fmt)
        return strstr(fmt, "json") != NULL;
    return acc && strstr(acc, "application/json") != NULL && !strstr(acc, "xml");
}

static struct http_request *request_new(struct otf_http_server *srv, struct MHD_Connection *conn,
                                        const char *method, const char *url)
{
    struct http_request *r = otf_xcalloc(1, sizeof *r);
    r->srv = srv;
    r->conn = conn;
    r->method = method;
    r->url = url;
    r->upload_fd = -1;
    otf_buf_init(&r->desc, HTTP_DESC_MAX);
    otf_buf_init(&r->raw, HTTP_DESC_MAX);
    r->want_json = accepts_json(conn);
    return r;
}

static void request_free(struct http_request *r)
{
    if (!r)
        return;
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    for (size_t i = 0; i < r->n_fields; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->last_field);
    otf_buf_cleanup(&r->desc);
    otf_buf_cleanup(&r->raw);
    if (r->upload_fd >= 0)
        close(r->upload_fd);
    if (r->upload_path) {
        unlink(r->upload_path); /* still here: the job was not created */
        free(r->upload_path);
    }
    free(r->upload_field);
    free(r->owner);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request_free(*con_cls);
    *con_cls = NULL;
}

/* First call of a request: check the declared size, set up the body parser. */
static void request_begin(struct http_request *r)
{
    const char *ct =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t len = 0;

    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, on_query_arg, r);
    r->has_length = cl && otf_str_to_i64(cl, &len) == OTF_OK;
    if (r->has_length && len > r->srv->p.http.upload_max_bytes + r->srv->p.http.form_max_bytes) {
        fail_body(r, MHD_HTTP_CONTENT_TOO_LARGE,
                  "request body of %lld bytes is larger than the limit of %lld bytes",
                  (long long)len, (long long)r->srv->p.http.upload_max_bytes);
        return;
    }
    if (strcmp(r->method, "POST") != 0 && strcmp(r->method, "PUT") != 0)
        return;
    if (ct &&
        (strncasecmp(ct, "text/xml", 8) == 0 || strncasecmp(ct, "application/xml", 15) == 0)) {
        r->is_raw_xml = 1;
        return;
    }
    if (ct && (strncasecmp(ct, MHD_HTTP_POST_ENCODING_FORM_URLENCODED,
                           strlen(MHD_HTTP_POST_ENCODING_FORM_URLENCODED)) == 0 ||
               strncasecmp(ct, MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA,
                           strlen(MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA)) == 0)) {
        r->pp = MHD_create_post_processor(r->conn, 65536, on_post_data, r);
        if (!r->pp)
            fail_body(r, MHD_HTTP_BAD_REQUEST,
                      "malformed Content-Type '%s' (multipart needs a "
                      "boundary)",
                      ct);
        return;
    }
    if (ct && *ct && len > 0)
        fail_body(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                  "unsupported Content-Type '%s': use multipart/form-data, "
                  "application/x-www-form-urlencoded or text/xml",
                  ct);
}

static void request_body(struct http_request *r, const char *data, size_t size)
{
    if (r->err_status)
        return;
    if (r->is_raw_xml) {
        if (otf_buf_append(&r->raw, data, size) != OTF_OK)
            fail_body(r, MHD_HTTP_CONTENT_TOO_LARGE, "XML body larger than %d bytes",
                      HTTP_DESC_MAX);
        return;
    }
    if (r->pp) {
        if (MHD_post_process(r->pp, data, size) != MHD_YES)
            fail_body(r, MHD_HTTP_BAD_REQUEST, "malformed request body");
        return;
    }
    if (size > 0 && strcmp(r->method, "POST") == 0)
        fail_body(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                  "a POST body needs Content-Type multipart/form-data, "
                  "application/x-www-form-urlencoded or text/xml");
}

/* Body complete: finish the upload file (fsync, so the job never points at lost bytes). */
static void request_end(struct http_request *r)
{
    if (r->pp) {
        /* Flushes the last field; MHD_NO when the body stopped inside a part (no closing
         * boundary): a cut-off upload must not become a job with part of an image. */
        if (MHD_destroy_post_processor(r->pp) != MHD_YES)
            fail_body(r, MHD_HTTP_BAD_REQUEST,
                      "malformed request body: it ends inside a field or part (truncated upload?)");
        r->pp = NULL;
    }
    if (r->upload_fd >= 0) {
        uint8_t dg[32];
        if (fsync(r->upload_fd) != 0)
            fail_body(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload: %s",
                      strerror(errno));
        close(r->upload_fd);
        r->upload_fd = -1;
        otf_sha256_final(&r->upload_sha, dg);
        otf_sha256_hex(dg, r->upload_sha256);
    }
    if (r->is_raw_xml) {
        r->has_desc = 1;
        if (otf_buf_append(&r->desc, r->raw.data ? r->raw.data : "", r->raw.len) != OTF_OK)
            fail_body(r, MHD_HTTP_CONTENT_TOO_LARGE, "XML body too large");
    }
}

static enum MHD_Result route(struct http_request *r)
{
    const char *u = r->url;

    if (strncmp(u, "/jobs", 5) == 0 && (u[5] == '\0' || u[5] == '/'))
        return http_route_jobs(r, u + 5);
    return http_route_service(r, u);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct otf_http_server *srv = cls;
    struct http_request *r = *con_cls;
    unsigned auth;
    (void)version;

    if (!r) {
        r = request_new(srv, conn, method, url);
        *con_cls = r;
        atomic_fetch_add(&srv->n_requests, 1);
        request_begin(r);
        /* A caller without a valid token, and an oversized declared body, are refused before a
         * byte of the body is read (or stored). */
        auth = http_auth_check(r);
        if (auth)
            return http_send_error(r, auth, "a valid bearer token is required");
        if (r->err_status == MHD_HTTP_CONTENT_TOO_LARGE)
            return http_send_error(r, (unsigned)r->err_status, "%s", r->err_msg);
        return MHD_YES;
    }
    if (r->is_resumed)
        return route(r); /* a WAIT that the waiter thread released */
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!r->err_status) {
            request_body(r, upload_data, n);
            return MHD_YES;
        }
        /* libmicrohttpd answers only before the body or after all of it (MHD_queue_response
         * fails in between), so a body refused half-way is drained without being stored and
         * answered at its end. A declared Content-Length is capped before the body starts
         * (above), which bounds the drain; a chunked body that goes on is cut off. */
        r->drained_bytes += (int64_t)n;
        if (!r->has_length && r->drained_bytes > r->srv->p.http.form_max_bytes + HTTP_DRAIN_SLACK) {
            otf_log_info("http", "%s %s: dropping the connection after %lld refused bytes (%s)",
                         r->method, r->url, (long long)r->drained_bytes, r->err_msg);
            return MHD_NO;
        }
        return MHD_YES;
    }
    request_end(r);
    if (r->err_status)
        return http_send_error(r, (unsigned)r->err_status, "%s", r->err_msg);
    return route(r);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[1024];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    otf_log_debug("mhd", "%s", msg);
}

static enum otf_status parse_listen(const char *listen, struct sockaddr_storage *ss,
                                    struct otf_errbuf *eb)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    int64_t port;
    size_t hl;

    memset(ss, 0, sizeof *ss);
    if (!colon || otf_str_to_i64(colon + 1, &port) != OTF_OK || port < 0 || port > 65535)
        return OTF_FAIL(eb, OTF_E_INVAL, "listen address '%s' is not HOST:PORT", listen);
    hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return OTF_FAIL(eb, OTF_E_INVAL, "listen host too long");
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return OTF_FAIL(eb, OTF_E_INVAL, "bad IPv6 address in '%s'", listen);
        return OTF_OK;
    }
    {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0 || hl == 0)
            strcpy(host, hl == 0 ? "0.0.0.0" : "127.0.0.1");
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return OTF_FAIL(eb, OTF_E_INVAL, "bad IPv4 address in '%s' (use a numeric address)",
                            listen);
    }
    return OTF_OK;
}

/* Removes temp uploads left by a crash (they belong to no job). */
static void sweep_tmp(const char *dir)
{
    struct otf_errbuf eb;
    if (otf_fs_remove_tree(dir, &eb) != OTF_OK)
        otf_log_warn("http", "cannot clean %s: %s", dir, eb.msg);
}

static enum otf_status read_pem(const char *path, char **out, struct otf_errbuf *eb)
{
    size_t len;
    return otf_fs_read_file(path, 1 << 20, out, &len, eb);
}

enum otf_status otf_http_server_start(const struct otf_http_server_params *p,
                                      struct otf_http_server **out, struct otf_errbuf *eb)
{
    struct otf_http_server *srv = otf_xcalloc(1, sizeof *srv);
    struct sockaddr_storage ss;
    struct otf_store *st;
    char *cert = NULL, *key = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    enum otf_status rc;
    const union MHD_DaemonInfo *info;

    OTF_ASSERT(p->check_image != NULL);
    srv->p = *p;
    srv->started_us = otf_time_now_us();
    pthread_mutex_init(&srv->wait_lock, NULL);
    srv->wake_fd = -1;
    pthread_mutex_init(&srv->reap_lock, NULL);
    pthread_mutex_init(&srv->admit_lock, NULL);
    pthread_mutex_init(&srv->fetch_lock, NULL);
    pthread_cond_init(&srv->fetch_cond, NULL);
    pthread_cond_init(&srv->reap_cond, NULL);
    pthread_key_create(&srv->store_key, store_destroy);
    srv->jobs_dir = otf_xasprintf("%s/jobs", p->data_dir);
    srv->tmp_dir = otf_xasprintf("%s/tmp", p->data_dir);
    sweep_tmp(srv->tmp_dir);
    if ((rc = otf_fs_mkdirs(srv->jobs_dir, 1, eb)) != OTF_OK ||
        (rc = otf_fs_mkdirs(srv->tmp_dir, 1, eb)) != OTF_OK)
        goto fail;
    st = http_store(srv, eb); /* opens and migrates the store once, before threads */
    if (!st) {
        rc = eb ? eb->code : OTF_E_IO;
        goto fail;
    }
    if ((rc = http_auth_load(srv, eb)) != OTF_OK)
        goto fail;
    if ((rc = parse_listen(p->http.listen, &ss, eb)) != OTF_OK)
        goto fail;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (*p->http.tls_cert) {
        flags |= MHD_USE_TLS;
        if ((rc = read_pem(p->http.tls_cert, &cert, eb)) != OTF_OK ||
            (rc = read_pem(p->http.tls_key, &key, eb)) != OTF_OK)
            goto fail;
    }
    if ((rc = http_wait_start(srv, eb)) != OTF_OK)
        goto fail;
    if (cert) {
        srv->mhd = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)p->http.threads, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)p->http.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
            srv, MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    } else {
        srv->mhd = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)p->http.threads, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)p->http.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
            srv, MHD_OPTION_END);
    }
    free(cert);
    free(key);
    cert = key = NULL;
    if (!srv->mhd) {
        rc = OTF_FAIL(eb, OTF_E_IO, "cannot listen on %s (address in use or not permitted?)",
                      p->http.listen);
        goto fail;
    }
    info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    if (p->run_reaper && (rc = http_reaper_start(srv, eb)) != OTF_OK)
        goto fail;
    *out = srv;
    return OTF_OK;
fail:
    free(cert);
    free(key);
    otf_http_server_stop(srv);
    return rc;
}

int otf_http_server_port(const struct otf_http_server *srv)
{
    return srv->port;
}

void otf_http_server_notify(struct otf_http_server *srv)
{
    pthread_mutex_lock(&srv->wait_lock);
    srv->notified = 1;
    pthread_mutex_unlock(&srv->wait_lock);
    http_wait_wake(srv);
}

void otf_http_server_stop(struct otf_http_server *srv)
{
    struct otf_store *st;
    if (!srv)
        return;
    http_reaper_stop(srv);
    if (srv->mhd)
        MHD_quiesce_daemon(srv->mhd);
    http_wait_stop(srv);  /* resumes every suspended WAIT before the daemon stops */
    http_fetch_stop(srv); /* and every request suspended on an IMAGE_URL download */
    if (srv->mhd)
        MHD_stop_daemon(srv->mhd);
    http_auth_free(srv);
    st = pthread_getspecific(srv->store_key);
    otf_store_close(st);
    pthread_setspecific(srv->store_key, NULL);
    pthread_key_delete(srv->store_key);
    pthread_mutex_destroy(&srv->wait_lock);
    if (srv->wake_fd >= 0)
        close(srv->wake_fd); /* no request runs any more: none can notify */
    pthread_mutex_destroy(&srv->reap_lock);
    pthread_mutex_destroy(&srv->admit_lock);
    pthread_mutex_destroy(&srv->fetch_lock);
    pthread_cond_destroy(&srv->fetch_cond);
    pthread_cond_destroy(&srv->reap_cond);
    free(srv->jobs_dir);
    free(srv->tmp_dir);
    free(srv);
}
