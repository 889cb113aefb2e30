/* IMAGE_URL (DESIGN §3): the server fetches a FITS file by reference with libcurl — http and
 * https only, hosts from a configured allow-list only, no redirects, a size cap enforced while
 * receiving, written to disk as it arrives and fsync'ed. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http_int.h"
#include "otf_build_config.h"

struct sink {
    int fd;
    int64_t n, max;
    int too_big;
    struct otf_sha256 sha; /* the image's SHA-256 as it arrives (the worker need not reread) */
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *user)
{
    struct sink *s = user;
    size_t len = size * nmemb, done = 0;
    if (s->n + (int64_t)len > s->max) {
        s->too_big = 1;
        return 0; /* aborts the transfer */
    }
    while (done < len) {
        ssize_t w = write(s->fd, p + done, len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        done += (size_t)w;
    }
    otf_sha256_update(&s->sha, p, len);
    s->n += (int64_t)len;
    return len;
}

/* libcurl progress hook: a non-zero answer aborts the transfer (the server is stopping). */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const struct otf_http_server *srv = user;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&((struct otf_http_server *)srv)->fetch_stop) != 0;
}

static int host_allowed(const char *allow, const char *host)
{
    const char *p = allow;
    size_t hl = strlen(host);
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && *p == ' ')
            p++, n--;
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n == hl && strncasecmp(p, host, n) == 0)
            return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

enum otf_status http_fetch_image(const struct otf_http_server *srv, const char *url,
                                 const char *path, int64_t *n_bytes, char sha256_hex[65],
                                 struct otf_errbuf *eb)
{
    CURLU *u = NULL;
    CURL *c = NULL;
    char *scheme = NULL, *host = NULL;
    struct sink s;
    long code = 0;
    CURLcode cc;
    enum otf_status rc = OTF_OK;

    memset(&s, 0, sizeof s);
    s.fd = -1;
    s.max = srv->p.http.image_url_max_bytes;
    otf_sha256_init(&s.sha);
    if (!*srv->p.http.image_url_allow)
        return OTF_FAIL(eb, OTF_E_INVAL,
                        "IMAGE_URL is disabled on this server (no allowed hosts configured)");
    u = curl_url();
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = OTF_FAIL(eb, OTF_E_INVAL, "IMAGE_URL is not a valid URL");
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        rc = OTF_FAIL(eb, OTF_E_INVAL, "IMAGE_URL must be http or https, not %s", scheme);
        goto out;
    }
    if (!host_allowed(srv->p.http.image_url_allow, host)) {
        rc = OTF_FAIL(eb, OTF_E_INVAL, "IMAGE_URL host '%s' is not in the allow-list", host);
        goto out;
    }
    s.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (s.fd < 0) {
        rc = OTF_FAIL(eb, OTF_E_IO, "cannot store the image: %s", strerror(errno));
        goto out;
    }
    c = curl_easy_init();
    if (!c) {
        rc = OTF_FAIL(eb, OTF_E_NOMEM, "cannot start a download");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_CURLU, u);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s.max);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "otfd/" OTF_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)srv);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (s.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = OTF_FAIL(eb, OTF_E_LIMIT, "IMAGE_URL: the file is larger than %lld bytes",
                      (long long)s.max);
    } else if (cc != CURLE_OK) {
        rc = OTF_FAIL(eb, OTF_E_NET, "IMAGE_URL: %s", curl_easy_strerror(cc));
    } else if (code != 200) {
        rc = OTF_FAIL(eb, OTF_E_NET, "IMAGE_URL: the server answered HTTP %ld%s", code,
                      code >= 300 && code < 400 ? " (redirects are not followed)" : "");
    } else if (s.n == 0) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "IMAGE_URL: the file is empty");
    } else if (fsync(s.fd) != 0) {
        rc = OTF_FAIL(eb, OTF_E_IO, "cannot store the image: %s", strerror(errno));
    }
    *n_bytes = s.n;
    if (rc == OTF_OK) {
        uint8_t dg[32];
        otf_sha256_final(&s.sha, dg);
        otf_sha256_hex(dg, sha256_hex);
    }
out:
    if (s.fd >= 0)
        close(s.fd);
    if (rc != OTF_OK)
        unlink(path);
    curl_easy_cleanup(c);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* ---- downloads off the HTTP threads ---- */

struct fetch_task {
    struct http_request *r;
    char *url;
    char *path; /* DATA/tmp/fetch-ID.fits */
};

static void *fetch_main(void *arg)
{
    struct fetch_task *t = arg;
    struct http_request *r = t->r;
    struct otf_http_server *srv = r->srv;
    struct otf_errbuf eb = {0};
    int64_t n = 0;
    char hex[65] = "";
    enum otf_status rc = http_fetch_image(srv, t->url, t->path, &n, hex, &eb);

    /* The request is suspended: nothing else touches it until it is resumed below. */
    if (rc == OTF_OK) {
        r->upload_path = t->path;
        t->path = NULL;
        r->upload_field = otf_xstrdup("image");
        r->upload_bytes = n;
        memcpy(r->upload_sha256, hex, sizeof hex);
    } else {
        r->fetch_rc = rc;
        snprintf(r->fetch_msg, sizeof r->fetch_msg, "%s", eb.msg[0] ? eb.msg : "IMAGE_URL failed");
    }
    r->fetch_done = 1;
    r->is_resumed = 1;
    free(t->url);
    free(t->path);
    free(t);
    /* Under the lock, so that the starter has suspended the request before this resume. */
    pthread_mutex_lock(&srv->fetch_lock);
    MHD_resume_connection(r->conn); /* r may be freed from here on */
    srv->n_fetches--;
    pthread_cond_broadcast(&srv->fetch_cond);
    pthread_mutex_unlock(&srv->fetch_lock);
    return NULL;
}

int http_fetch_start(struct http_request *r, const char *url)
{
    struct otf_http_server *srv = r->srv;
    struct fetch_task *t;
    pthread_attr_t attr;
    pthread_t th;
    char id[17];
    int ok;

    if (otf_random_id(id, 16) != OTF_OK)
        return -1;
    t = otf_xcalloc(1, sizeof *t);
    t->r = r;
    t->url = otf_xstrdup(url);
    t->path = otf_xasprintf("%s/fetch-%s.fits", srv->tmp_dir, id);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&srv->fetch_lock);
    ok = !atomic_load(&srv->fetch_stop) && srv->n_fetches < HTTP_MAX_FETCHES &&
         pthread_create(&th, &attr, fetch_main, t) == 0;
    if (ok) {
        MHD_suspend_connection(r->conn);
        srv->n_fetches++;
    }
    pthread_mutex_unlock(&srv->fetch_lock);
    pthread_attr_destroy(&attr);
    if (!ok) {
        free(t->url);
        free(t->path);
        free(t);
        return -1;
    }
    return 0;
}

void http_fetch_stop(struct otf_http_server *srv)
{
    pthread_mutex_lock(&srv->fetch_lock);
    atomic_store(&srv->fetch_stop, 1);
    while (srv->n_fetches > 0)
        pthread_cond_wait(&srv->fetch_cond, &srv->fetch_lock);
    pthread_mutex_unlock(&srv->fetch_lock);
}
