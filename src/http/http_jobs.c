/* The UWS 1.1 resources under /jobs (DESIGN §3; reference/ivoa.md §1): job list and creation,
 * the job document with blocking WAIT, its sub-resources, phase changes and deletion. Every
 * state change is one store operation with a phase compare-and-set, so concurrent requests and
 * workers never lose an update. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http_int.h"

#define JOB_URL_MAX 1024

/* ---- helpers ---- */

static enum MHD_Result send_buf(struct http_request *r, unsigned status, const char *type,
                                struct otf_buf *b)
{
    enum MHD_Result ret = http_send(r, status, type, b->data ? b->data : "", b->len, NULL);
    otf_buf_cleanup(b);
    return ret;
}

static enum MHD_Result send_text(struct http_request *r, const char *text)
{
    return http_send(r, MHD_HTTP_OK, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

static int owner_matches(const struct http_request *r, const struct otf_job *j)
{
    if (r->is_admin)
        return 1;
    if (!r->owner || !j->owner)
        return !r->owner && !j->owner;
    return strcmp(r->owner, j->owner) == 0;
}

/* Loads a job the caller may see; answers 404 itself when not (*resp set). */
static struct otf_job *load_job(struct http_request *r, const char *id, enum MHD_Result *resp)
{
    struct otf_errbuf eb = {0};
    struct otf_store *st = http_store(r->srv, &eb);
    struct otf_job *j = NULL;
    enum otf_status rc;

    if (!st) {
        *resp = http_send_status(r, OTF_E_IO, &eb);
        return NULL;
    }
    if (!otf_str_is_safe_name(id)) {
        *resp = http_send_error(r, MHD_HTTP_NOT_FOUND, "no such job");
        return NULL;
    }
    rc = otf_store_get_job(st, id, &j, &eb);
    if (rc == OTF_E_NOTFOUND || (rc == OTF_OK && !owner_matches(r, j))) {
        otf_uws_job_free(j);
        *resp = http_send_error(r, MHD_HTTP_NOT_FOUND, "no such job: %s", id);
        return NULL;
    }
    if (rc != OTF_OK) {
        *resp = http_send_status(r, rc, &eb);
        return NULL;
    }
    return j;
}

static const struct otf_http_model *find_model(const struct otf_http_server *srv, const char *id)
{
    for (size_t i = 0; i < srv->p.n_models; i++) {
        if (strcmp(srv->p.models[i].id, id) == 0)
            return &srv->p.models[i];
    }
    return NULL;
}

static char *job_dir(const struct otf_http_server *srv, const char *id)
{
    return otf_xasprintf("%s/%s", srv->jobs_dir, id);
}

static char *job_image_path(const struct otf_http_server *srv, const char *id)
{
    return otf_xasprintf("%s/%s/image.fits", srv->jobs_dir, id);
}

static void job_url(struct http_request *r, const char *id, const char *suffix, char *out, size_t n)
{
    char base[512];
    http_base_url(r, base, sizeof base);
    snprintf(out, n, "%s/jobs/%s%s", base, id, suffix ? suffix : "");
}

/* Names that are request controls, not job parameters. */
static int is_control(const char *canon)
{
    static const char *ctl[] = {
        "phase",       "action", "runid",   "upload",  "responseformat", "executionduration",
        "destruction", "wait",   "request", "version", "lang",           NULL};
    for (int i = 0; ctl[i]; i++) {
        if (strcmp(canon, ctl[i]) == 0)
            return 1;
    }
    return 0;
}

/* DALI UPLOAD=name,param:part: which file part carries the image. */
static const char *upload_part_for_image(const struct http_request *r)
{
    const char *ups[16];
    size_t n = http_field_all(r, "UPLOAD", ups, 16);
    for (size_t i = 0; i < n; i++) {
        const char *comma = strchr(ups[i], ',');
        if (comma && (size_t)(comma - ups[i]) == 5 && strncasecmp(ups[i], "image", 5) == 0 &&
            strncmp(comma + 1, "param:", 6) == 0)
            return comma + 7;
    }
    return NULL;
}

/* Copies the request's parameters (description XML first, then fields, which win) into `j`. */
static enum otf_status collect_params(struct http_request *r, struct otf_job *j,
                                      struct otf_errbuf *eb)
{
    enum otf_status rc;

    if (r->has_desc) {
        struct otf_param *dp = NULL;
        size_t nd = 0;
        rc = otf_uws_parse_description(r->desc.data ? r->desc.data : "", r->desc.len, &dp, &nd, eb);
        if (rc != OTF_OK) {
            otf_errbuf_prefix(eb, "job description");
            return rc;
        }
        for (size_t i = 0; i < nd; i++) {
            char canon[OTF_UWS_NAME_MAX + 1];
            otf_uws_param_canonical(dp[i].name, canon, sizeof canon);
            if (strcmp(canon, "runid") == 0) {
                free(j->run_id);
                j->run_id = otf_xstrdup(dp[i].value);
                continue;
            }
            if ((rc = otf_uws_param_check(canon, dp[i].value, eb)) != OTF_OK) {
                otf_uws_params_free(dp, nd);
                return rc;
            }
            otf_uws_job_set_param(j, canon, dp[i].value, dp[i].by_reference);
        }
        otf_uws_params_free(dp, nd);
    }
    for (size_t i = 0; i < r->n_fields; i++) {
        char canon[OTF_UWS_NAME_MAX + 1];
        otf_uws_param_canonical(r->names[i], canon, sizeof canon);
        if (strcmp(canon, "runid") == 0) {
            free(j->run_id);
            j->run_id = otf_xstrdup(r->values[i]);
            continue;
        }
        if (is_control(canon) || strcmp(canon, "image") == 0)
            continue;
        if (strlen(canon) > 48)
            return OTF_FAIL(eb, OTF_E_INVAL, "parameter name too long");
        if ((rc = otf_uws_param_check(canon, r->values[i], eb)) != OTF_OK)
            return rc;
        otf_uws_job_set_param(j, canon, r->values[i], 0);
    }
    /* Normalise the precision to its canonical name (aliases accepted, DESIGN §3). */
    {
        const char *p = otf_uws_job_get_param(j, "precision");
        if (p) {
            const char *canon = otf_uws_precision_canonical(p);
            if (!canon)
                return OTF_FAIL(eb, OTF_E_INVAL, "PRECISION: unknown precision '%s'", p);
            otf_uws_job_set_param(j, "precision", canon, 0);
        }
    }
    return OTF_OK;
}

/* Moves the uploaded file (if any) into the job folder as its image. */
static enum otf_status adopt_upload(struct http_request *r, struct otf_job *j,
                                    struct otf_errbuf *eb)
{
    const char *want = upload_part_for_image(r);
    char *dir, *path;
    char url[JOB_URL_MAX];
    enum otf_status rc = OTF_OK;

    if (!r->upload_path)
        return OTF_OK;
    if (want && strcmp(want, r->upload_field) != 0)
        return OTF_FAIL(eb, OTF_E_INVAL, "UPLOAD names part '%s' but the file came as '%s'", want,
                        r->upload_field);
    if (r->upload_bytes == 0)
        return OTF_FAIL(eb, OTF_E_FORMAT, "the uploaded image is empty");
    dir = job_dir(r->srv, j->id);
    path = job_image_path(r->srv, j->id);
    if ((rc = otf_fs_mkdirs(dir, 1, eb)) == OTF_OK) {
        /* image.fits.sha256: the hash taken while the bytes arrived, so the worker need not
         * read the image once more for its provenance. An image that replaces another loses
         * the old hash first: the file never names other bytes than image.fits holds. */
        char *sha_path = otf_xasprintf("%s.sha256", path);
        if (unlink(sha_path) != 0 && errno != ENOENT) {
            rc = OTF_FAIL(eb, OTF_E_IO, "cannot replace %s: %s", sha_path, strerror(errno));
        } else if (rename(r->upload_path, path) != 0) {
            rc = OTF_FAIL(eb, OTF_E_IO, "cannot store the upload: %s", strerror(errno));
        } else {
            free(r->upload_path);
            r->upload_path = NULL;
            if (strlen(r->upload_sha256) == 64) {
                struct otf_errbuf seb = {0};
                char line[66];
                snprintf(line, sizeof line, "%s\n", r->upload_sha256);
                if (otf_fs_write_atomic(sha_path, line, 65, &seb) != OTF_OK)
                    otf_log_warn("http", "job %s: image hash not kept (%s): the worker hashes it",
                                 j->id, seb.msg);
            }
            rc = otf_fs_sync_parent(path, eb);
        }
        free(sha_path);
    }
    if (rc == OTF_OK) {
        job_url(r, j->id, "/parameters/image", url, sizeof url);
        otf_uws_job_set_param(j, "image", url, 1);
        j->upload_bytes = r->upload_bytes;
    }
    free(dir);
    free(path);
    return rc;
}

/* IMAGE_URL (DESIGN §3): fetched by the server off the HTTP threads (http_fetch_start); the
 * request runs again once the file is here, which then goes the way of an upload. Returns 1
 * when the request was suspended for the download, 0 to go on (`*rc` set on failure). */
static int need_image_url(struct http_request *r, const struct otf_job *j, enum otf_status *rc,
                          struct otf_errbuf *eb)
{
    const char *url = otf_uws_job_get_param(j, "image_url");

    if (r->fetch_done) {
        if (r->fetch_rc != OTF_OK)
            *rc = OTF_FAIL(eb, r->fetch_rc, "%s", r->fetch_msg);
        return 0;
    }
    if (!url || r->upload_path || otf_uws_job_get_param(j, "image"))
        return 0;
    if (http_fetch_start(r, url) == 0)
        return 1;
    *rc = OTF_FAIL(eb, OTF_E_BUSY, "too many IMAGE_URL downloads in progress: retry later");
    return 0;
}

/* Every check that needs all parameters, run when a job is queued (DESIGN §3). */
static enum otf_status check_runnable(struct http_request *r, struct otf_job *j,
                                      struct otf_errbuf *eb)
{
    const char *model = otf_uws_job_get_param(j, "model");
    const char *prec = otf_uws_job_get_param(j, "precision");
    const struct otf_http_model *m;
    struct otf_http_image_info info;
    char *path;
    struct stat sb;
    enum otf_status rc;
    int ok = 0;

    if (!model)
        return OTF_FAIL(eb, OTF_E_INVAL, "MODEL is required (see /models)");
    m = find_model(r->srv, model);
    if (!m)
        return OTF_FAIL(eb, OTF_E_NOTFOUND, "unknown model '%s' (see /models)", model);
    if (!prec)
        prec = "FP32";
    for (size_t i = 0; i < m->n_precisions; i++)
        ok |= strcmp(m->precisions[i], prec) == 0;
    if (!ok)
        return OTF_FAIL(eb, OTF_E_INVAL, "model '%s' does not offer precision %s", model, prec);
    if (!otf_uws_job_get_param(j, "image"))
        return OTF_FAIL(eb, OTF_E_INVAL,
                        "no image: upload a FITS file as part 'image' or give "
                        "IMAGE_URL");
    path = job_image_path(r->srv, j->id);
    if (stat(path, &sb) != 0) {
        free(path);
        return OTF_FAIL(eb, OTF_E_INVAL, "the job's image is missing");
    }
    memset(&info, 0, sizeof info);
    rc = r->srv->p.check_image(r->srv->p.check_image_user, path, j, &info, eb);
    free(path);
    return rc;
}

/* 1 when the caller is an owner with a job or disk quota to enforce. */
static int has_quota(const struct http_request *r)
{
    const struct otf_uws_params *u = &r->srv->p.uws;
    return r->owner && (u->owner_max_jobs != 0 || u->owner_max_bytes != 0);
}

/* Owner quota for a new job (`existing` NULL) or for a new image of an existing job, which
 * replaces that job's input bytes and adds no job. */
static enum otf_status check_quota(struct http_request *r, struct otf_store *st,
                                   const struct otf_job *existing, int64_t add_bytes,
                                   struct otf_errbuf *eb)
{
    const struct otf_uws_params *u = &r->srv->p.uws;
    const char *owner = existing ? existing->owner : r->owner;
    int64_t n = 0, bytes = 0;
    enum otf_status rc;

    if (!owner || (u->owner_max_jobs == 0 && u->owner_max_bytes == 0))
        return OTF_OK;
    if ((rc = otf_store_count_jobs(st, owner, 0, &n, &bytes, eb)) != OTF_OK)
        return rc;
    if (existing)
        bytes -= existing->upload_bytes;
    else if (u->owner_max_jobs && n >= u->owner_max_jobs)
        return OTF_FAIL(eb, OTF_E_AUTH, "quota: owner %s already has %lld jobs (limit %lld)", owner,
                        (long long)n, (long long)u->owner_max_jobs);
    if (u->owner_max_bytes && bytes + add_bytes > u->owner_max_bytes)
        return OTF_FAIL(eb, OTF_E_AUTH, "quota: owner %s would use %lld bytes (limit %lld)", owner,
                        (long long)(bytes + add_bytes), (long long)u->owner_max_bytes);
    return OTF_OK;
}

static enum otf_status check_queue_room(struct http_request *r, struct otf_store *st,
                                        struct otf_errbuf *eb)
{
    int64_t n = 0;
    enum otf_status rc =
        otf_store_count_jobs(st, NULL, OTF_PHASE_BIT(OTF_PHASE_QUEUED), &n, NULL, eb);
    if (rc != OTF_OK)
        return rc;
    if (n >= r->srv->p.queue_max_jobs)
        return OTF_FAIL(eb, OTF_E_BUSY, "the queue is full (%lld jobs): retry later", (long long)n);
    return OTF_OK;
}

static enum otf_status parse_duration(const struct http_request *r, const char *v, int64_t *out,
                                      struct otf_errbuf *eb)
{
    int64_t d;
    const struct otf_uws_params *u = &r->srv->p.uws;
    if (otf_str_to_i64(v, &d) != OTF_OK || d < 0)
        return OTF_FAIL(eb, OTF_E_INVAL,
                        "EXECUTIONDURATION must be a whole number of seconds >= 0, not '%s'", v);
    /* The server may clamp (UWS 1.1): 0 (unlimited) becomes the server's maximum. */
    if (u->exec_duration_max_s > 0 && (d == 0 || d > u->exec_duration_max_s))
        d = u->exec_duration_max_s;
    *out = d;
    return OTF_OK;
}

static enum otf_status parse_destruction(const struct http_request *r, const struct otf_job *j,
                                         const char *v, int64_t *out, struct otf_errbuf *eb)
{
    int64_t t, max;
    if (otf_time_parse_iso(v, &t) != OTF_OK)
        return OTF_FAIL(eb, OTF_E_INVAL, "DESTRUCTION must be an ISO 8601 time, not '%s'", v);
    max = j->creation_us + r->srv->p.uws.destruction_max_s * 1000000;
    *out = t > max ? max : t;
    return OTF_OK;
}

/* ---- POST /jobs ---- */

static enum MHD_Result create_job(struct http_request *r)
{
    struct otf_errbuf eb = {0};
    struct otf_store *st = http_store(r->srv, &eb);
    struct otf_job *j = NULL;
    const char *phase = http_field(r, "PHASE");
    const char *v;
    char loc[JOB_URL_MAX];
    enum otf_status rc;
    int run = 0;
    enum MHD_Result ret;

    if (!st)
        return http_send_status(r, OTF_E_IO, &eb);
    if (phase) {
        if (strcmp(phase, "RUN") != 0)
            return http_send_error(r, MHD_HTTP_BAD_REQUEST,
                                   "PHASE at creation must be RUN, not '%s'", phase);
        run = 1;
    }
    j = otf_uws_job_new();
    if (otf_random_id(j->id, HTTP_ID_LEN) != OTF_OK) {
        otf_uws_job_free(j);
        return http_send_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "no randomness for job ids");
    }
    j->owner = r->owner ? otf_xstrdup(r->owner) : NULL;
    j->creation_us = otf_time_now_us();
    j->exec_duration_s = r->srv->p.uws.exec_duration_default_s;
    j->destruction_us = j->creation_us + r->srv->p.uws.destruction_default_s * 1000000;
    j->phase = OTF_PHASE_PENDING;

    rc = collect_params(r, j, &eb);
    if (rc == OTF_OK && (v = http_field(r, "EXECUTIONDURATION")) != NULL)
        rc = parse_duration(r, v, &j->exec_duration_s, &eb);
    if (rc == OTF_OK && (v = http_field(r, "DESTRUCTION")) != NULL)
        rc = parse_destruction(r, j, v, &j->destruction_us, &eb);
    if (rc == OTF_OK && need_image_url(r, j, &rc, &eb)) {
        otf_uws_job_free(j);
        return MHD_YES; /* suspended: runs again when the download ends */
    }
    if (rc == OTF_OK)
        rc = check_quota(r, st, NULL, r->upload_bytes, &eb);
    if (rc == OTF_OK && run)
        rc = check_queue_room(r, st, &eb);
    if (rc == OTF_OK)
        rc = adopt_upload(r, j, &eb);
    if (rc == OTF_OK && run) {
        rc = check_runnable(r, j, &eb);
        if (rc == OTF_OK) {
            j->phase = OTF_PHASE_QUEUED;
            j->quote_us = 0;
        }
    }
    if (rc == OTF_OK && (run || has_quota(r))) {
        /* Quota and queue room are counted again, atomically with the insert (admit_lock). */
        pthread_mutex_lock(&r->srv->admit_lock);
        rc = check_quota(r, st, NULL, r->upload_bytes, &eb);
        if (rc == OTF_OK && run)
            rc = check_queue_room(r, st, &eb);
        if (rc == OTF_OK)
            rc = otf_store_insert_job(st, j, &eb);
        pthread_mutex_unlock(&r->srv->admit_lock);
    } else if (rc == OTF_OK) {
        rc = otf_store_insert_job(st, j, &eb);
    }
    if (rc != OTF_OK) {
        http_remove_job_files(r->srv, j->id); /* no job was created */
        ret = http_send_status(r, rc, &eb);
        otf_uws_job_free(j);
        return ret;
    }
    atomic_fetch_add(&r->srv->n_created, 1);
    otf_log_info("http", "job %s created phase=%s model=%s owner=%s bytes=%lld", j->id,
                 otf_uws_phase_name(j->phase),
                 otf_uws_job_get_param(j, "model") ? otf_uws_job_get_param(j, "model") : "-",
                 j->owner ? j->owner : "-", (long long)j->upload_bytes);
    if (run)
        otf_http_server_notify(r->srv);
    job_url(r, j->id, NULL, loc, sizeof loc);
    otf_uws_job_free(j);
    return http_send(r, MHD_HTTP_SEE_OTHER, "text/plain", "", 0, loc);
}

/* ---- GET /jobs ---- */

static enum MHD_Result list_jobs(struct http_request *r)
{
    struct otf_errbuf eb = {0};
    struct otf_store *st = http_store(r->srv, &eb);
    struct otf_store_filter f = {0};
    const char *phases[OTF_PHASE__COUNT * 2];
    size_t np = http_field_all(r, "PHASE", phases, OTF_PHASE__COUNT * 2);
    const char *v;
    struct otf_job **jobs = NULL;
    size_t n = 0;
    struct otf_buf b;
    char base[512];
    enum otf_status rc;

    if (!st)
        return http_send_status(r, OTF_E_IO, &eb);
    for (size_t i = 0; i < np; i++) {
        enum otf_phase p;
        if (otf_uws_phase_parse(phases[i], &p) != OTF_OK)
            return http_send_error(r, MHD_HTTP_BAD_REQUEST, "PHASE: unknown phase '%s'", phases[i]);
        f.phase_mask |= OTF_PHASE_BIT(p);
    }
    if ((v = http_field(r, "AFTER")) != NULL && otf_time_parse_iso(v, &f.after_us) != OTF_OK)
        return http_send_error(r, MHD_HTTP_BAD_REQUEST, "AFTER must be an ISO 8601 time, not '%s'",
                               v);
    if ((v = http_field(r, "LAST")) != NULL &&
        (otf_str_to_i64(v, &f.last) != OTF_OK || f.last <= 0))
        return http_send_error(r, MHD_HTTP_BAD_REQUEST, "LAST must be a positive integer, not '%s'",
                               v);
    f.owner = r->is_admin ? NULL : r->owner;
    f.limit = r->srv->p.uws.list_max;
    /* In anonymous mode every job is the anonymous user's; with tokens, owner filters. */
    rc = otf_store_list_jobs(st, &f, &jobs, &n, &eb);
    if (rc != OTF_OK)
        return http_send_status(r, rc, &eb);
    if (!r->is_admin && r->owner) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (owner_matches(r, jobs[i]))
                jobs[k++] = jobs[i];
            else
                otf_uws_job_free(jobs[i]);
        }
        n = k;
    }
    http_base_url(r, base, sizeof base);
    otf_buf_init(&b, (size_t)1 << 30);
    rc = r->want_json ? otf_uws_joblist_write_json(jobs, n, base, &b)
                      : otf_uws_joblist_write_xml(jobs, n, base, &b);
    otf_uws_job_array_free(jobs, n);
    if (rc != OTF_OK) {
        otf_buf_cleanup(&b);
        return http_send_status(r, rc, NULL);
    }
    return send_buf(r, MHD_HTTP_OK, r->want_json ? "application/json" : "text/xml; charset=utf-8",
                    &b);
}

/* ---- GET /jobs/{id} ---- */

static enum MHD_Result send_job(struct http_request *r, const struct otf_job *j)
{
    struct otf_buf b;
    char base[512];
    enum otf_status rc;

    http_base_url(r, base, sizeof base);
    otf_buf_init(&b, 64 << 20);
    rc = r->want_json ? otf_uws_job_write_json(j, base, &b) : otf_uws_job_write_xml(j, base, &b);
    if (rc != OTF_OK) {
        otf_buf_cleanup(&b);
        return http_send_status(r, rc, NULL);
    }
    return send_buf(r, MHD_HTTP_OK, r->want_json ? "application/json" : "text/xml; charset=utf-8",
                    &b);
}

static enum MHD_Result get_job(struct http_request *r, const char *id)
{
    enum MHD_Result resp = MHD_NO;
    struct otf_job *j = load_job(r, id, &resp);
    const char *wait = http_field(r, "WAIT");
    const char *want_phase = http_field(r, "PHASE");
    enum MHD_Result ret;

    if (!j)
        return resp;
    /* UWS 1.1 blocking: only in active phases, only if the client's view is current, and only
     * once per request (a resumed request answers with the job as it is now). */
    if (wait && !r->is_resumed && otf_uws_phase_is_active(j->phase)) {
        int64_t secs;
        enum otf_phase p;
        if (otf_str_to_i64(wait, &secs) != OTF_OK || secs < -1) {
            otf_uws_job_free(j);
            return http_send_error(r, MHD_HTTP_BAD_REQUEST,
                                   "WAIT must be an integer number of seconds (-1 = server "
                                   "maximum), not '%s'",
                                   wait);
        }
        if (want_phase && otf_uws_phase_parse(want_phase, &p) != OTF_OK) {
            otf_uws_job_free(j);
            return http_send_error(r, MHD_HTTP_BAD_REQUEST, "PHASE: unknown phase '%s'",
                                   want_phase);
        }
        if (secs == -1 || secs > r->srv->p.http.wait_max_s)
            secs = r->srv->p.http.wait_max_s;
        if (secs > 0 && (!want_phase || p == j->phase) &&
            http_wait_suspend(r, j->id, j->phase, secs) == 0) {
            otf_uws_job_free(j);
            return MHD_YES;
        }
    }
    ret = send_job(r, j);
    otf_uws_job_free(j);
    return ret;
}

/* ---- phase changes, deletion ---- */

static enum MHD_Result delete_job(struct http_request *r, const char *id)
{
    enum MHD_Result resp = MHD_NO;
    struct otf_job *j = load_job(r, id, &resp);
    struct otf_errbuf eb = {0};
    struct otf_store *st;
    enum otf_status rc;

    if (!j)
        return resp;
    st = http_store(r->srv, &eb);
    /* A running job is aborted first so that its worker stops at the next micro-batch. */
    otf_store_set_phase(st, id,
                        OTF_PHASE_BIT(OTF_PHASE_EXECUTING) | OTF_PHASE_BIT(OTF_PHASE_QUEUED),
                        OTF_PHASE_ABORTED, NULL, NULL, NULL);
    rc = otf_store_delete_job(st, id, &eb);
    otf_uws_job_free(j);
    if (rc != OTF_OK && rc != OTF_E_NOTFOUND)
        return http_send_status(r, rc, &eb);
    http_remove_job_files(r->srv, id);
    otf_log_info("http", "job %s deleted", id);
    otf_http_server_notify(r->srv);
    return http_redirect(r, "/jobs");
}

static enum MHD_Result change_phase(struct http_request *r, const char *id, const char *value)
{
    enum MHD_Result resp = MHD_NO;
    struct otf_errbuf eb = {0};
    struct otf_store *st;
    struct otf_job *j;
    enum otf_uws_action act;
    enum otf_phase to;
    enum otf_status rc;
    char path[128];

    if (strcmp(value, "RUN") == 0)
        act = OTF_UWS_ACTION_RUN;
    else if (strcmp(value, "ABORT") == 0)
        act = OTF_UWS_ACTION_ABORT;
    else
        return http_send_error(r, MHD_HTTP_BAD_REQUEST, "PHASE must be RUN or ABORT, not '%s'",
                               value);
    j = load_job(r, id, &resp);
    if (!j)
        return resp;
    st = http_store(r->srv, &eb);
    rc = otf_uws_phase_after(j->phase, act, &to, &eb);
    if (rc == OTF_OK && to != j->phase) {
        uint32_t from = OTF_PHASE_BIT(j->phase);
        if (act == OTF_UWS_ACTION_RUN) {
            rc = check_queue_room(r, st, &eb);
            if (rc == OTF_OK)
                rc = check_runnable(r, j, &eb);
            if (rc == OTF_OK) {
                pthread_mutex_lock(&r->srv->admit_lock);
                rc = check_queue_room(r, st, &eb);
                if (rc == OTF_OK)
                    rc = otf_store_set_phase(st, id, from, to, NULL, NULL, &eb);
                pthread_mutex_unlock(&r->srv->admit_lock);
            }
        } else {
            rc = otf_store_set_phase(st, id, from, to, NULL, NULL, &eb);
        }
        if (rc == OTF_OK) {
            otf_log_info("http", "job %s %s -> %s", id, otf_uws_phase_name(j->phase),
                         otf_uws_phase_name(to));
            otf_http_server_notify(r->srv);
        }
    }
    otf_uws_job_free(j);
    if (rc != OTF_OK)
        return http_send_status(r, rc, &eb);
    snprintf(path, sizeof path, "/jobs/%s", id);
    return http_redirect(r, path);
}

static enum MHD_Result post_job(struct http_request *r, const char *id)
{
    const char *action = http_field(r, "ACTION");
    const char *phase = http_field(r, "PHASE");
    if (action) {
        if (strcmp(action, "DELETE") == 0)
            return delete_job(r, id);
        return http_send_error(r, MHD_HTTP_BAD_REQUEST, "ACTION must be DELETE, not '%s'", action);
    }
    if (phase)
        return change_phase(r, id, phase);
    return http_send_error(r, MHD_HTTP_BAD_REQUEST,
                           "POST to a job needs ACTION=DELETE or PHASE=RUN|ABORT");
}

/* ---- sub-resources ---- */

static enum MHD_Result update_settable(struct http_request *r, const char *id, const char *what)
{
    enum MHD_Result resp = MHD_NO;
    struct otf_errbuf eb = {0};
    struct otf_job *j = load_job(r, id, &resp);
    struct otf_store *st;
    enum otf_status rc = OTF_OK;
    uint32_t mask;
    char path[128];

    if (!j)
        return resp;
    st = http_store(r->srv, &eb);
    if (strcmp(what, "executionduration") == 0) {
        const char *v = http_field(r, "EXECUTIONDURATION");
        mask = OTF_PHASE_BIT(OTF_PHASE_PENDING) | OTF_PHASE_BIT(OTF_PHASE_QUEUED) |
               OTF_PHASE_BIT(OTF_PHASE_HELD);
        if (!v)
            rc = OTF_FAIL(&eb, OTF_E_INVAL, "EXECUTIONDURATION is required");
        else
            rc = parse_duration(r, v, &j->exec_duration_s, &eb);
    } else if (strcmp(what, "destruction") == 0) {
        const char *v = http_field(r, "DESTRUCTION");
        mask = 0xffffffffu & ~OTF_PHASE_BIT(OTF_PHASE_ARCHIVED);
        if (!v)
            rc = OTF_FAIL(&eb, OTF_E_INVAL, "DESTRUCTION is required");
        else
            rc = parse_destruction(r, j, v, &j->destruction_us, &eb);
    } else { /* parameters: only while PENDING (UWS 1.1) */
        mask = OTF_PHASE_BIT(OTF_PHASE_PENDING);
        if (j->phase != OTF_PHASE_PENDING)
            rc = OTF_FAIL(&eb, OTF_E_STATE, "parameters can change only while PENDING (job is %s)",
                          otf_uws_phase_name(j->phase));
        if (rc == OTF_OK)
            rc = collect_params(r, j, &eb);
        if (rc == OTF_OK && need_image_url(r, j, &rc, &eb)) {
            otf_uws_job_free(j);
            return MHD_YES; /* suspended: runs again when the download ends */
        }
        if (rc == OTF_OK && r->upload_path)
            rc = check_quota(r, st, j, r->upload_bytes, &eb);
        if (rc == OTF_OK)
            rc = adopt_upload(r, j, &eb);
    }
    if (rc == OTF_OK)
        rc = otf_store_update_job(st, j, mask, &eb);
    otf_uws_job_free(j);
    if (rc != OTF_OK)
        return http_send_status(r, rc, &eb);
    otf_http_server_notify(r->srv);
    snprintf(path, sizeof path, "/jobs/%s", id);
    return http_redirect(r, path);
}

static enum MHD_Result send_file(struct http_request *r, const char *path, const char *type)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        return http_send_error(r, MHD_HTTP_NOT_FOUND, "no such result");
    }
    resp = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result get_result(struct http_request *r, const struct otf_job *j, const char *name)
{
    const char *acc = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    char *path;
    enum MHD_Result ret;

    if (!otf_str_is_safe_name(name))
        return http_send_error(r, MHD_HTTP_NOT_FOUND, "no such result");
    for (size_t i = 0; i < j->n_results; i++) {
        if (strcmp(j->results[i].id, name) != 0)
            continue;
        /* PROV-N as an alternative representation of the provenance (DESIGN §3). */
        if (strcmp(name, "provenance") == 0 && acc && strstr(acc, "text/provenance-notation")) {
            path = otf_xasprintf("%s/%s/results/provenance.provn", r->srv->jobs_dir, j->id);
            ret = send_file(r, path, "text/provenance-notation; charset=utf-8");
        } else {
            path = otf_xasprintf("%s/%s/results/%s", r->srv->jobs_dir, j->id, name);
            ret = send_file(r, path, j->results[i].mime);
        }
        free(path);
        return ret;
    }
    return http_send_error(r, MHD_HTTP_NOT_FOUND, "job %s has no result '%s'", j->id, name);
}

/* {job}/parameters and {job}/results as JSON: the same members as in the job's JSON document
 * (DESIGN §3: JSON carries the same content as XML). */
static enum MHD_Result send_job_part_json(struct http_request *r, const struct otf_job *j,
                                          const char *member)
{
    struct otf_buf b;
    char base[512];
    json_t *doc, *part;
    json_error_t err;
    char *text;
    enum MHD_Result ret;

    http_base_url(r, base, sizeof base);
    otf_buf_init(&b, 64 << 20);
    if (otf_uws_job_write_json(j, base, &b) != OTF_OK) {
        otf_buf_cleanup(&b);
        return http_send_status(r, OTF_E_INTERNAL, NULL);
    }
    doc = json_loadb(b.data, b.len, 0, &err);
    otf_buf_cleanup(&b);
    part = doc ? json_object_get(doc, member) : NULL;
    if (!part) {
        json_decref(doc);
        return http_send_status(r, OTF_E_INTERNAL, NULL);
    }
    text = json_dumps(part, JSON_PRESERVE_ORDER | JSON_INDENT(1));
    json_decref(doc);
    ret = http_send(r, MHD_HTTP_OK, "application/json", text, strlen(text), NULL);
    free(text);
    return ret;
}

static enum MHD_Result get_sub(struct http_request *r, const struct otf_job *j, const char *sub)
{
    struct otf_buf b;
    char base[512], t[OTF_TIME_ISO_LEN];

    if (strcmp(sub, "phase") == 0)
        return send_text(r, otf_uws_phase_name(j->phase));
    if (strcmp(sub, "executionduration") == 0) {
        char s[32];
        snprintf(s, sizeof s, "%lld", (long long)j->exec_duration_s);
        return send_text(r, s);
    }
    if (strcmp(sub, "destruction") == 0 || strcmp(sub, "quote") == 0) {
        int64_t v = sub[0] == 'd' ? j->destruction_us : j->quote_us;
        if (!v)
            return send_text(r, "");
        otf_time_format_iso(v, t);
        return send_text(r, t);
    }
    if (strcmp(sub, "owner") == 0)
        return send_text(r, j->owner ? j->owner : "");
    if (strcmp(sub, "error") == 0) {
        if (!j->error_summary)
            return http_send_error(r, MHD_HTTP_NOT_FOUND, "job %s has no error", j->id);
        otf_buf_init(&b, 1 << 20);
        if (r->want_json)
            otf_uws_error_write_json(j->error_summary, 200, &b);
        else
            otf_uws_error_write_votable(j->error_summary, &b);
        return send_buf(r, MHD_HTTP_OK,
                        r->want_json ? "application/json" : "application/x-votable+xml", &b);
    }
    if ((strcmp(sub, "parameters") == 0 || strcmp(sub, "results") == 0) && r->want_json)
        return send_job_part_json(r, j, sub);
    if (strcmp(sub, "parameters") == 0) {
        otf_buf_init(&b, 16 << 20);
        otf_uws_parameters_write_xml(j, &b);
        return send_buf(r, MHD_HTTP_OK, "text/xml; charset=utf-8", &b);
    }
    if (strcmp(sub, "results") == 0) {
        http_base_url(r, base, sizeof base);
        otf_buf_init(&b, 16 << 20);
        otf_uws_results_write_xml(j, base, &b);
        return send_buf(r, MHD_HTTP_OK, "text/xml; charset=utf-8", &b);
    }
    if (strcmp(sub, "parameters/image") == 0) {
        char *path = job_image_path(r->srv, j->id);
        enum MHD_Result ret = send_file(r, path, "application/fits");
        free(path);
        return ret;
    }
    if (strncmp(sub, "results/", 8) == 0)
        return get_result(r, j, sub + 8);
    return http_send_error(r, MHD_HTTP_NOT_FOUND, "no such resource: %s", sub);
}

static int is_settable(const char *sub)
{
    return strcmp(sub, "executionduration") == 0 || strcmp(sub, "destruction") == 0 ||
           strcmp(sub, "parameters") == 0;
}

enum MHD_Result http_route_jobs(struct http_request *r, const char *rest)
{
    const char *m = r->method;
    char id[64];
    const char *slash, *sub;
    size_t idlen;

    if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
        if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
            return list_jobs(r);
        if (strcmp(m, "POST") == 0)
            return create_job(r);
        r->allow = "GET, HEAD, POST";
        return http_send_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s not allowed on /jobs", m);
    }
    rest++; /* skip '/' */
    slash = strchr(rest, '/');
    idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (idlen == 0 || idlen >= sizeof id)
        return http_send_error(r, MHD_HTTP_NOT_FOUND, "no such job");
    memcpy(id, rest, idlen);
    id[idlen] = '\0';
    sub = slash ? slash + 1 : NULL;
    if (!sub || !*sub) {
        if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
            return get_job(r, id);
        if (strcmp(m, "POST") == 0)
            return post_job(r, id);
        if (strcmp(m, "DELETE") == 0)
            return delete_job(r, id);
        r->allow = "GET, HEAD, POST, DELETE";
        return http_send_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s not allowed on a job", m);
    }
    if (strcmp(m, "POST") == 0) {
        if (strcmp(sub, "phase") == 0) {
            const char *v = http_field(r, "PHASE");
            if (!v)
                return http_send_error(r, MHD_HTTP_BAD_REQUEST, "PHASE=RUN or PHASE=ABORT needed");
            return change_phase(r, id, v);
        }
        if (is_settable(sub))
            return update_settable(r, id, sub);
        r->allow = "GET, HEAD";
        return http_send_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "POST not allowed on %s", sub);
    }
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
        enum MHD_Result resp = MHD_NO, ret;
        struct otf_job *j = load_job(r, id, &resp);
        if (!j)
            return resp;
        ret = get_sub(r, j, sub);
        otf_uws_job_free(j);
        return ret;
    }
    r->allow = strcmp(sub, "phase") == 0 || is_settable(sub) ? "GET, HEAD, POST" : "GET, HEAD";
    return http_send_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s not allowed on %s", m, sub);
}
