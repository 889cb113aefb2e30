/* The UWS 1.1 operations of libotfclient (reference/ivoa.md §1): job creation with a streamed
 * multipart upload, job documents, blocking WAIT, job lists, phase changes, deletion, results
 * and the service's other resources (/models, /metrics). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/client_int.h"

static enum otf_status bad_id(struct otf_client_error *err, const char *what, const char *id)
{
    return client_fail(err, OTF_E_INVAL, 0, "'%s' is not a valid %s id", id ? id : "", what);
}

/* GET of a JSON document into memory. */
static enum otf_status get_doc(struct otf_client *c, const char *path, long extra_ms,
                               struct client_resp *r, struct otf_client_error *err)
{
    struct client_req q = {.path = path, .extra_timeout_ms = extra_ms};
    return client_perform(c, &q, r, err);
}

/* ---- creation ---- */

static enum otf_status add_field(curl_mime *m, const char *name, const char *value,
                                 struct otf_client_error *err)
{
    curl_mimepart *part;
    if (!value)
        return OTF_OK;
    part = curl_mime_addpart(m);
    if (!part || curl_mime_name(part, name) != CURLE_OK ||
        curl_mime_data(part, value, CURL_ZERO_TERMINATED) != CURLE_OK)
        return client_fail(err, OTF_E_NOMEM, 0, "cannot build the request");
    return OTF_OK;
}

/* The job id from the Location of the 303 answer: its last path segment. */
static enum otf_status id_from_location(const char *loc, char **out, struct otf_client_error *err)
{
    const char *end, *start;
    if (!loc || !*loc)
        return client_fail(err, OTF_E_FORMAT, 303, "the server created a job but sent no Location");
    end = loc + strcspn(loc, "?#");
    while (end > loc && end[-1] == '/')
        end--;
    start = end;
    while (start > loc && start[-1] != '/')
        start--;
    *out = otf_xstrndup(start, (size_t)(end - start));
    if (!client_id_ok(*out)) {
        free(*out);
        *out = NULL;
        return client_fail(err, OTF_E_FORMAT, 303, "the server sent a bad Location '%s'", loc);
    }
    return OTF_OK;
}

static curl_mime *build_submit(CURL *h, const void *ctx, struct otf_client_error *err)
{
    const struct otf_client_submit *s = ctx;
    curl_mime *m = curl_mime_init(h);
    curl_mimepart *part;

    if (!m) {
        client_fail(err, OTF_E_NOMEM, 0, "cannot build the request");
        return NULL;
    }
    if (add_field(m, "MODEL", s->model, err) != OTF_OK ||
        add_field(m, "PRECISION", s->precision, err) != OTF_OK ||
        add_field(m, "RUNID", s->run_id, err) != OTF_OK ||
        add_field(m, "IMAGE_URL", s->image_url, err) != OTF_OK)
        goto fail;
    for (size_t i = 0; i < s->n_params; i++) {
        if (add_field(m, s->params[i].name, s->params[i].value ? s->params[i].value : "", err) !=
            OTF_OK)
            goto fail;
    }
    if (s->run && add_field(m, "PHASE", "RUN", err) != OTF_OK)
        goto fail;
    if (s->image_path) {
        /* curl reads the file as it sends it: the upload is never held in memory. */
        part = curl_mime_addpart(m);
        if (!part || curl_mime_name(part, "image") != CURLE_OK ||
            curl_mime_filedata(part, s->image_path) != CURLE_OK ||
            curl_mime_type(part, "application/fits") != CURLE_OK) {
            client_fail(err, OTF_E_IO, 0, "cannot attach %s", s->image_path);
            goto fail;
        }
    }
    return m;
fail:
    curl_mime_free(m);
    return NULL;
}

enum otf_status otf_client_create_job(struct otf_client *c, const struct otf_client_submit *s,
                                      char **job_id, struct otf_client_error *err)
{
    struct client_req q = {.method = "POST", .path = "/jobs", .is_create = 1};
    struct client_resp r;
    struct stat sb;
    FILE *f;
    enum otf_status rc = OTF_OK;

    client_resp_init(&r);
    for (size_t i = 0; i < s->n_params; i++) {
        if (!s->params[i].name || !*s->params[i].name) {
            rc = client_fail(err, OTF_E_INVAL, 0, "empty parameter name");
            goto out;
        }
    }
    if (s->image_path) {
        /* Fail here, with the file's name, rather than half-way into a transfer. */
        f = fopen(s->image_path, "rb");
        if (!f || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
            rc = client_fail(err, OTF_E_IO, 0, "cannot read %s: %s", s->image_path,
                             f ? "not a regular file" : strerror(errno));
            if (f)
                fclose(f);
            goto out;
        }
        fclose(f);
        q.is_transfer = 1;
    }
    q.build_mime = build_submit;
    q.mime_ctx = s;
    q.progress = s->progress;
    q.progress_user = s->progress_user;
    q.progress_upload = 1;
    rc = client_perform(c, &q, &r, err);
    if (rc != OTF_OK)
        goto out;
    if (r.status != 303 && r.status != 201 && r.status != 200) {
        rc = client_fail(err, OTF_E_FORMAT, (int)r.status,
                         "unexpected answer to the job creation (HTTP %ld)", r.status);
        goto out;
    }
    rc = id_from_location(r.location, job_id, err);
out:
    client_resp_cleanup(&r);
    return rc;
}

/* ---- job documents ---- */

enum otf_status otf_client_get_job(struct otf_client *c, const char *id,
                                   struct otf_client_job **out, struct otf_client_error *err)
{
    return otf_client_wait_job(c, id, 0, -1, out, err);
}

enum otf_status otf_client_wait_job(struct otf_client *c, const char *id, int wait_s, int phase,
                                    struct otf_client_job **out, struct otf_client_error *err)
{
    struct client_resp r;
    char path[512];
    enum otf_status rc;

    if (!client_id_ok(id))
        return bad_id(err, "job", id);
    if (wait_s > 0 && phase >= 0 && phase < OTF_CLIENT_PHASE__COUNT)
        snprintf(path, sizeof path, "/jobs/%s?WAIT=%d&PHASE=%s", id, wait_s,
                 otf_client_phase_name((enum otf_client_phase)phase));
    else if (wait_s > 0)
        snprintf(path, sizeof path, "/jobs/%s?WAIT=%d", id, wait_s);
    else
        snprintf(path, sizeof path, "/jobs/%s", id);
    client_resp_init(&r);
    rc = get_doc(c, path, wait_s > 0 ? (long)wait_s * 1000 : 0, &r, err);
    if (rc == OTF_OK)
        rc = otf_client_parse_job(r.body.data, r.body.len, out, err);
    client_resp_cleanup(&r);
    return rc;
}

static int same_state(const struct otf_client_job *a, const struct otf_client_job *b)
{
    return a && b && a->phase == b->phase && a->patches_done == b->patches_done &&
           a->patches_total == b->patches_total &&
           ((!a->stage && !b->stage) || (a->stage && b->stage && !strcmp(a->stage, b->stage)));
}

static void nap_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

enum otf_status otf_client_wait_final(struct otf_client *c, const char *id, int64_t timeout_ms,
                                      int step_s, otf_client_job_fn on_change, void *user,
                                      struct otf_client_job **out, struct otf_client_error *err)
{
    int64_t deadline = timeout_ms >= 0 ? otf_time_mono_us() + timeout_ms * 1000 : INT64_MAX;
    struct otf_client_job *j = NULL, *next = NULL;
    enum otf_status rc;

    if (step_s <= 0)
        step_s = 10;
    rc = otf_client_get_job(c, id, &j, err);
    if (rc != OTF_OK)
        return rc;
    if (on_change && on_change(user, j))
        goto done;
    while (!otf_client_phase_is_final(j->phase)) {
        int64_t now = otf_time_mono_us(), left_ms, t0;
        int w;
        if (now >= deadline) {
            rc = client_fail(err, OTF_E_TIMEOUT, 0, "job %s is still %s after %lld s", id,
                             otf_client_phase_name(j->phase), (long long)(timeout_ms / 1000));
            goto done;
        }
        left_ms = deadline == INT64_MAX ? INT64_MAX : (deadline - now) / 1000;
        w = left_ms >= (int64_t)step_s * 1000 ? step_s : (int)((left_ms + 999) / 1000);
        if (w < 1)
            w = 1;
        t0 = now;
        rc = otf_client_wait_job(c, id, w, (int)j->phase, &next, err);
        if (rc != OTF_OK)
            goto done;
        /* The server does not block in phases like HELD: do not spin. */
        if (same_state(j, next) && otf_time_mono_us() - t0 < 200000) {
            int64_t nap = 500;
            if (left_ms != INT64_MAX && left_ms < nap)
                nap = left_ms > 0 ? left_ms : 0;
            nap_ms(nap);
        }
        if (!same_state(j, next) && on_change && on_change(user, next)) {
            otf_client_job_free(j);
            j = next;
            next = NULL;
            goto done;
        }
        otf_client_job_free(j);
        j = next;
        next = NULL;
    }
done:
    if (out && (rc == OTF_OK || rc == OTF_E_TIMEOUT)) {
        *out = j;
        j = NULL;
    }
    otf_client_job_free(j);
    return rc;
}

/* ---- lists ---- */

enum otf_status otf_client_list_jobs(struct otf_client *c, const struct otf_client_list_filter *f,
                                     struct otf_client_job ***jobs, size_t *n,
                                     struct otf_client_error *err)
{
    struct otf_buf path;
    struct client_resp r;
    enum otf_status rc;
    char sep = '?';

    otf_buf_init(&path, 4096);
    otf_buf_printf(&path, "/jobs");
    for (int p = 0; f && p < OTF_CLIENT_PHASE__COUNT; p++) {
        if (f->phase_mask & (1u << p)) {
            otf_buf_printf(&path, "%cPHASE=%s", sep, otf_client_phase_name(p));
            sep = '&';
        }
    }
    if (f && f->after_us > 0) {
        char iso[OTF_TIME_ISO_LEN];
        otf_time_format_iso(f->after_us, iso);
        otf_buf_printf(&path, "%cAFTER=%s", sep, iso); /* ISO with Z: URL-safe as it is */
        sep = '&';
    }
    if (f && f->last > 0)
        otf_buf_printf(&path, "%cLAST=%lld", sep, (long long)f->last);
    client_resp_init(&r);
    rc = get_doc(c, path.data, 0, &r, err);
    if (rc == OTF_OK)
        rc = otf_client_parse_joblist(r.body.data, r.body.len, jobs, n, err);
    client_resp_cleanup(&r);
    otf_buf_cleanup(&path);
    return rc;
}

/* ---- phase changes, deletion ---- */

static enum otf_status post_phase(struct otf_client *c, const char *id, const char *phase,
                                  struct otf_client_error *err)
{
    struct client_req q = {.method = "POST", .form = NULL};
    struct client_resp r;
    char path[512], form[32];
    enum otf_status rc;

    if (!client_id_ok(id))
        return bad_id(err, "job", id);
    snprintf(path, sizeof path, "/jobs/%s/phase", id);
    snprintf(form, sizeof form, "PHASE=%s", phase);
    q.path = path;
    q.form = form;
    client_resp_init(&r);
    rc = client_perform(c, &q, &r, err);
    client_resp_cleanup(&r);
    return rc;
}

enum otf_status otf_client_run_job(struct otf_client *c, const char *id,
                                   struct otf_client_error *err)
{
    return post_phase(c, id, "RUN", err);
}

enum otf_status otf_client_abort_job(struct otf_client *c, const char *id,
                                     struct otf_client_error *err)
{
    return post_phase(c, id, "ABORT", err);
}

enum otf_status otf_client_delete_job(struct otf_client *c, const char *id,
                                      struct otf_client_error *err)
{
    struct client_req q = {.method = "DELETE"};
    struct client_resp r;
    char path[512];
    enum otf_status rc;

    if (!client_id_ok(id))
        return bad_id(err, "job", id);
    snprintf(path, sizeof path, "/jobs/%s", id);
    q.path = path;
    client_resp_init(&r);
    rc = client_perform(c, &q, &r, err);
    client_resp_cleanup(&r);
    return rc;
}

enum otf_status otf_client_get_job_error(struct otf_client *c, const char *id, char **msg,
                                         struct otf_client_error *err)
{
    struct client_resp r;
    char path[512], text[OTF_CLIENT_ERROR_SIZE * 4];
    enum otf_status rc;

    if (!client_id_ok(id))
        return bad_id(err, "job", id);
    snprintf(path, sizeof path, "/jobs/%s/error", id);
    client_resp_init(&r);
    rc = get_doc(c, path, 0, &r, err);
    if (rc == OTF_OK) {
        if (otf_client_parse_error_doc(r.body.data, r.body.len, text, sizeof text))
            *msg = otf_xstrdup(text);
        else
            rc = client_fail(err, OTF_E_FORMAT, (int)r.status,
                             "the server sent an unreadable error document");
    }
    client_resp_cleanup(&r);
    return rc;
}

/* ---- results ---- */

enum otf_status otf_client_fetch_result(struct otf_client *c, const char *id, const char *name,
                                        const char *path, otf_client_progress_fn progress,
                                        void *user, int64_t *size_out, struct otf_client_error *err)
{
    struct client_req q = {.is_transfer = 1, .progress = progress, .progress_user = user};
    struct client_resp r;
    char url[768];
    char *tmp;
    FILE *f = NULL;
    int fd;
    long size;
    enum otf_status rc;

    if (!client_id_ok(id))
        return bad_id(err, "job", id);
    if (!client_id_ok(name))
        return bad_id(err, "result", name);
    snprintf(url, sizeof url, "/jobs/%s/results/%s", id, name);
    q.path = url;
    /* A temporary file beside the target: the rename is atomic, no partial result remains. */
    tmp = otf_xasprintf("%s.part-XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = client_fail(err, OTF_E_IO, 0, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    f = fdopen(fd, "w+b");
    if (!f) {
        close(fd);
        rc = client_fail(err, OTF_E_IO, 0, "cannot open %s: %s", tmp, strerror(errno));
        goto out;
    }
    q.sink = f;
    client_resp_init(&r);
    rc = client_perform(c, &q, &r, err);
    client_resp_cleanup(&r);
    if (rc != OTF_OK)
        goto out;
    if (fflush(f) != 0 || (size = ftell(f)) < 0 || fsync(fileno(f)) != 0) {
        rc = client_fail(err, OTF_E_IO, 0, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    if (fclose(f) != 0) {
        f = NULL;
        rc = client_fail(err, OTF_E_IO, 0, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        rc = client_fail(err, OTF_E_IO, 0, "cannot rename to %s: %s", path, strerror(errno));
        goto out;
    }
    if (size_out)
        *size_out = size;
out:
    if (f)
        fclose(f);
    if (rc != OTF_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* ---- service resources ---- */

enum otf_status otf_client_list_models(struct otf_client *c, struct otf_client_model **models,
                                       size_t *n, struct otf_client_error *err)
{
    struct client_resp r;
    enum otf_status rc;

    client_resp_init(&r);
    rc = get_doc(c, "/models", 0, &r, err);
    if (rc == OTF_OK)
        rc = client_parse_models(r.body.data, r.body.len, models, n, err);
    client_resp_cleanup(&r);
    return rc;
}

enum otf_status otf_client_get_text(struct otf_client *c, const char *path, char **body,
                                    size_t *len, struct otf_client_error *err)
{
    struct client_resp r;
    enum otf_status rc;

    if (!path || path[0] != '/')
        return client_fail(err, OTF_E_INVAL, 0, "path must start with '/'");
    client_resp_init(&r);
    rc = get_doc(c, path, 0, &r, err);
    if (rc == OTF_OK) {
        size_t n = r.body.len;
        *body = r.body.data ? otf_buf_steal(&r.body, &n) : otf_xstrdup("");
        if (len)
            *len = n;
    }
    client_resp_cleanup(&r);
    return rc;
}
