/* The UWS documents as JSON (DESIGN §3: `Accept: application/json` gets the same content as
 * the XML), built with jansson. Times are ISO 8601 UTC strings or null; strings are cleaned to
 * valid UTF-8 first, since jansson refuses anything else. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "uws/uws.h"
#include "uws/uws_int.h"

/* Every builder below returns NULL only on out-of-memory; json_object_set_new() and
 * json_array_append_new() free a NULL-or-valid value and report the failure. */

static json_t *str(const char *s)
{
    json_t *v;
    char *c;
    if (!s)
        return json_null();
    c = otf_uws_text_clean(s);
    v = json_string(c);
    free(c);
    return v;
}

static json_t *time_or_null(int64_t t_us, int nil_if_zero)
{
    char iso[OTF_TIME_ISO_LEN];
    if (nil_if_zero && t_us == 0)
        return json_null();
    otf_time_format_iso(t_us, iso);
    return json_string(iso);
}

/* Sets key, counting failures in *bad. */
static void put(json_t *o, const char *key, json_t *v, int *bad)
{
    if (!o || json_object_set_new(o, key, v) != 0)
        (*bad)++;
}

static void push(json_t *a, json_t *v, int *bad)
{
    if (!a || json_array_append_new(a, v) != 0)
        (*bad)++;
}

/* Output sink: appends to the caller's buffer. */
struct sink {
    struct otf_buf *out;
    enum otf_status rc;
};

static int sink_write(const char *p, size_t n, void *ctx)
{
    struct sink *s = ctx;
    enum otf_status rc = otf_buf_append(s->out, p, n);
    if (rc != OTF_OK) {
        s->rc = rc;
        return -1;
    }
    return 0;
}

/* Serialises `root` (consumed) into `out`; on failure `out` keeps its earlier content. */
static enum otf_status emit(json_t *root, int bad, struct otf_buf *out)
{
    struct sink s = {out, OTF_OK};
    size_t start = out->len;
    enum otf_status rc = OTF_OK;

    if (!root || bad) {
        rc = OTF_E_NOMEM;
        goto out;
    }
    if (json_dump_callback(root, sink_write, &s, JSON_COMPACT) != 0)
        rc = s.rc != OTF_OK ? s.rc : OTF_E_NOMEM;
out:
    if (rc != OTF_OK) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    json_decref(root);
    return rc;
}

static json_t *parameters_obj(const struct otf_job *j, int *bad)
{
    json_t *o = json_object();
    for (size_t i = 0; i < j->n_params; i++) {
        char *k = otf_uws_text_clean(j->params[i].name);
        put(o, k, str(j->params[i].value), bad);
        free(k);
    }
    return o;
}

static json_t *results_arr(const struct otf_job *j, const char *base_url, int *bad)
{
    json_t *a = json_array();
    for (size_t i = 0; i < j->n_results; i++) {
        const struct otf_result *r = &j->results[i];
        char *href = otf_uws_result_url(base_url, j->id, r->id);
        json_t *o = json_object();
        put(o, "id", str(r->id), bad);
        put(o, "href", str(href), bad);
        put(o, "mimeType", str(r->mime), bad);
        put(o, "size", r->size_bytes >= 0 ? json_integer(r->size_bytes) : json_null(), bad);
        push(a, o, bad);
        free(href);
    }
    return a;
}

enum otf_status otf_uws_job_write_json(const struct otf_job *j, const char *base_url,
                                       struct otf_buf *out)
{
    json_t *root = json_object(), *info = json_object(), *err;
    char *href;
    int bad = 0;

    OTF_ASSERT(j && base_url && out);
    href = otf_uws_job_url(base_url, j->id);
    put(root, "version", json_string("1.1"), &bad);
    put(root, "jobId", str(j->id), &bad);
    put(root, "href", str(href), &bad);
    put(root, "runId", str(j->run_id), &bad);
    put(root, "ownerId", str(j->owner), &bad);
    put(root, "phase", json_string(otf_uws_phase_name(j->phase)), &bad);
    put(root, "quote", time_or_null(j->quote_us, 1), &bad);
    put(root, "creationTime", time_or_null(j->creation_us, 0), &bad);
    put(root, "startTime", time_or_null(j->start_us, 1), &bad);
    put(root, "endTime", time_or_null(j->end_us, 1), &bad);
    put(root, "executionDuration", json_integer(j->exec_duration_s), &bad);
    put(root, "destruction", time_or_null(j->destruction_us, 1), &bad);
    put(root, "parameters", parameters_obj(j, &bad), &bad);
    put(root, "results", results_arr(j, base_url, &bad), &bad);
    if (j->error_summary) {
        err = json_object();
        put(err, "type", json_string(j->error_is_fatal ? "fatal" : "transient"), &bad);
        put(err, "hasDetail", json_true(), &bad);
        put(err, "message", str(j->error_summary), &bad);
    } else {
        err = json_null();
    }
    put(root, "errorSummary", err, &bad);
    put(info, "patchesDone", json_integer(j->patches_done), &bad);
    put(info, "patchesTotal", json_integer(j->patches_total), &bad);
    put(info, "stage", str(j->stage), &bad);
    put(info, "attempts", json_integer(j->attempts), &bad);
    put(info, "batch", str(j->batch), &bad);
    put(root, "jobInfo", info, &bad);
    free(href);
    return emit(root, bad, out);
}

enum otf_status otf_uws_joblist_write_json(struct otf_job *const *jobs, size_t n,
                                           const char *base_url, struct otf_buf *out)
{
    json_t *root = json_object(), *arr = json_array();
    int bad = 0;

    OTF_ASSERT((jobs || n == 0) && base_url && out);
    for (size_t i = 0; i < n && !bad; i++) {
        const struct otf_job *j = jobs[i];
        char *href = otf_uws_job_url(base_url, j->id);
        json_t *o = json_object();
        put(o, "jobId", str(j->id), &bad);
        put(o, "href", str(href), &bad);
        put(o, "phase", json_string(otf_uws_phase_name(j->phase)), &bad);
        put(o, "runId", str(j->run_id), &bad);
        put(o, "ownerId", str(j->owner), &bad);
        put(o, "creationTime", time_or_null(j->creation_us, 0), &bad);
        push(arr, o, &bad);
        free(href);
    }
    put(root, "version", json_string("1.1"), &bad);
    put(root, "jobs", arr, &bad);
    return emit(root, bad, out);
}

enum otf_status otf_uws_error_write_json(const char *message, int http_status, struct otf_buf *out)
{
    json_t *root = json_object();
    int bad = 0;

    OTF_ASSERT(message && out);
    put(root, "error", str(message), &bad);
    put(root, "status", json_integer(http_status), &bad);
    return emit(root, bad, out);
}
