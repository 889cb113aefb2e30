/* Job records: lifetime, deep copy, parameters under canonical (lower-case) names, results.
 * Invariant: parameter names in a job are unique and already canonical. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "uws/uws.h"

/* DALI-style parameters this service understands (DESIGN §3). */
static const char *const known_params[] = {
    "image", "image_url", "model", "precision", "hdu", "ra",
    "dec",   "size",      "roi",   "threshold", "nms", "runid",
};

int otf_uws_param_canonical(const char *name, char *out, size_t n)
{
    size_t i;

    OTF_ASSERT(name && out && n > 0);
    for (i = 0; name[i] && i + 1 < n; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[i] = '\0';
    if (name[i])
        return 0; /* truncated: cannot be a known (short) name */
    for (size_t k = 0; k < sizeof known_params / sizeof known_params[0]; k++) {
        if (strcmp(out, known_params[k]) == 0)
            return 1;
    }
    return 0;
}

static char *lower_dup(const char *s)
{
    char *d = otf_xstrdup(s);
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

struct otf_job *otf_uws_job_new(void)
{
    struct otf_job *j = otf_xcalloc(1, sizeof *j);
    j->phase = OTF_PHASE_PENDING;
    return j;
}

static char *dup_or_null(const char *s)
{
    return s ? otf_xstrdup(s) : NULL;
}

struct otf_job *otf_uws_job_dup(const struct otf_job *j)
{
    struct otf_job *d;

    OTF_ASSERT(j);
    d = otf_xmalloc(sizeof *d);
    *d = *j;
    d->run_id = dup_or_null(j->run_id);
    d->owner = dup_or_null(j->owner);
    d->error_summary = dup_or_null(j->error_summary);
    d->stage = dup_or_null(j->stage);
    d->batch = dup_or_null(j->batch);
    d->params = NULL;
    d->results = NULL;
    if (j->n_params) {
        d->params = otf_xcalloc(j->n_params, sizeof *d->params);
        for (size_t i = 0; i < j->n_params; i++) {
            d->params[i].name = otf_xstrdup(j->params[i].name);
            d->params[i].value = otf_xstrdup(j->params[i].value);
            d->params[i].by_reference = j->params[i].by_reference;
        }
    }
    if (j->n_results) {
        d->results = otf_xcalloc(j->n_results, sizeof *d->results);
        for (size_t i = 0; i < j->n_results; i++) {
            d->results[i].id = otf_xstrdup(j->results[i].id);
            d->results[i].mime = dup_or_null(j->results[i].mime);
            d->results[i].size_bytes = j->results[i].size_bytes;
        }
    }
    return d;
}

void otf_uws_params_free(struct otf_param *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].value);
    }
    free(p);
}

void otf_uws_job_free(struct otf_job *j)
{
    if (!j)
        return;
    free(j->run_id);
    free(j->owner);
    free(j->error_summary);
    free(j->stage);
    free(j->batch);
    otf_uws_params_free(j->params, j->n_params);
    for (size_t i = 0; i < j->n_results; i++) {
        free(j->results[i].id);
        free(j->results[i].mime);
    }
    free(j->results);
    free(j);
}

void otf_uws_job_array_free(struct otf_job **jobs, size_t n)
{
    if (!jobs)
        return;
    for (size_t i = 0; i < n; i++)
        otf_uws_job_free(jobs[i]);
    free(jobs);
}

static struct otf_param *find_param(const struct otf_job *j, const char *name)
{
    for (size_t i = 0; i < j->n_params; i++) {
        if (otf_str_ieq(j->params[i].name, name))
            return &j->params[i];
    }
    return NULL;
}

void otf_uws_job_set_param(struct otf_job *j, const char *name, const char *value, int by_reference)
{
    struct otf_param *p;

    OTF_ASSERT(j && name && value);
    p = find_param(j, name);
    if (p) {
        free(p->value);
    } else {
        j->params = otf_xrealloc(j->params, (j->n_params + 1) * sizeof *j->params);
        p = &j->params[j->n_params++];
        p->name = lower_dup(name);
    }
    p->value = otf_xstrdup(value);
    p->by_reference = by_reference ? 1 : 0;
    /* runId mirrors the RUNID parameter (DALI), so the two never disagree. */
    if (strcmp(p->name, "runid") == 0) {
        free(j->run_id);
        j->run_id = otf_xstrdup(value);
    }
}

const char *otf_uws_job_get_param(const struct otf_job *j, const char *name)
{
    const struct otf_param *p;

    OTF_ASSERT(j && name);
    p = find_param(j, name);
    return p ? p->value : NULL;
}

void otf_uws_job_del_param(struct otf_job *j, const char *name)
{
    struct otf_param *p;
    size_t i;

    OTF_ASSERT(j && name);
    p = find_param(j, name);
    if (!p)
        return;
    if (strcmp(p->name, "runid") == 0) {
        free(j->run_id);
        j->run_id = NULL;
    }
    free(p->name);
    free(p->value);
    i = (size_t)(p - j->params);
    memmove(&j->params[i], &j->params[i + 1], (j->n_params - i - 1) * sizeof *j->params);
    j->n_params--;
    if (j->n_params == 0) {
        free(j->params);
        j->params = NULL;
    }
}

void otf_uws_job_set_result(struct otf_job *j, const char *id, const char *mime, int64_t size_bytes)
{
    struct otf_result *r = NULL;

    OTF_ASSERT(j && id);
    for (size_t i = 0; i < j->n_results; i++) {
        if (strcmp(j->results[i].id, id) == 0) {
            r = &j->results[i];
            break;
        }
    }
    if (r) {
        free(r->mime);
    } else {
        j->results = otf_xrealloc(j->results, (j->n_results + 1) * sizeof *j->results);
        r = &j->results[j->n_results++];
        r->id = otf_xstrdup(id);
    }
    r->mime = dup_or_null(mime);
    r->size_bytes = size_bytes;
}

static void replace_str(char **dst, const char *s)
{
    char *v = dup_or_null(s);
    free(*dst);
    *dst = v;
}

void otf_uws_job_set_error(struct otf_job *j, const char *message, int is_fatal)
{
    OTF_ASSERT(j);
    replace_str(&j->error_summary, message);
    j->error_is_fatal = is_fatal ? 1 : 0;
}

void otf_uws_job_set_stage(struct otf_job *j, const char *stage)
{
    OTF_ASSERT(j);
    replace_str(&j->stage, stage);
}

void otf_uws_job_set_owner(struct otf_job *j, const char *owner)
{
    OTF_ASSERT(j);
    replace_str(&j->owner, owner);
}

/* Writes `s` percent-encoded as one URL path segment (RFC 3986 unreserved characters kept) at
 * `o`; returns the end. The caller reserves 3 bytes per input byte. */
static char *put_segment(char *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    return o;
}

static char *build_url(const char *base_url, const char *job_id, const char *result_id)
{
    size_t nb, n;
    char *s, *o;

    OTF_ASSERT(base_url && job_id);
    nb = strlen(base_url);
    n = nb + sizeof "/jobs/" + 3 * strlen(job_id) + 1;
    if (result_id)
        n += sizeof "/results/" + 3 * strlen(result_id);
    s = otf_xmalloc(n);
    memcpy(s, base_url, nb);
    o = s + nb;
    memcpy(o, "/jobs/", 6);
    o = put_segment(o + 6, job_id);
    if (result_id) {
        memcpy(o, "/results/", 9);
        o = put_segment(o + 9, result_id);
    }
    *o = '\0';
    return s;
}

char *otf_uws_job_url(const char *base_url, const char *job_id)
{
    return build_url(base_url, job_id, NULL);
}

char *otf_uws_result_url(const char *base_url, const char *job_id, const char *result_id)
{
    OTF_ASSERT(result_id);
    return build_url(base_url, job_id, result_id);
}
