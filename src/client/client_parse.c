/* What libotfclient reads from the service: the JSON job document and job list (the JSON form
 * of UWS 1.1 uws:job / uws:jobs that the service serves), DALI error documents (JSON or
 * VOTable), Retry-After values (RFC 9110 §10.2.3), model cards and Prometheus text. Everything
 * here comes from the network: malformed input is OTF_E_FORMAT, never an assert. */
#include <curl/curl.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "uws/uws.h"

_Static_assert((int)OTF_CLIENT_PHASE__COUNT == (int)OTF_PHASE__COUNT,
               "client phases mirror the service's phases");
_Static_assert((int)OTF_CLIENT_PHASE_ARCHIVED == (int)OTF_PHASE_ARCHIVED &&
                   (int)OTF_CLIENT_PHASE_HELD == (int)OTF_PHASE_HELD,
               "client phase numbers are the service's");

const char *otf_client_phase_name(enum otf_client_phase p)
{
    if ((int)p < 0 || p >= OTF_CLIENT_PHASE__COUNT)
        return "UNKNOWN";
    return otf_uws_phase_name((enum otf_phase)p);
}

enum otf_status otf_client_phase_parse(const char *s, enum otf_client_phase *out)
{
    enum otf_phase p;
    if (!s || otf_uws_phase_parse(s, &p) != OTF_OK)
        return OTF_E_INVAL;
    *out = (enum otf_client_phase)p;
    return OTF_OK;
}

int otf_client_phase_is_final(enum otf_client_phase p)
{
    if ((int)p < 0 || p >= OTF_CLIENT_PHASE__COUNT)
        return 0;
    return otf_uws_phase_is_final((enum otf_phase)p);
}

/* ---- jobs ---- */

void otf_client_job_free(struct otf_client_job *j)
{
    if (!j)
        return;
    free(j->id);
    free(j->href);
    free(j->run_id);
    free(j->owner);
    for (size_t i = 0; i < j->n_params; i++) {
        free(j->params[i].name);
        free(j->params[i].value);
    }
    free(j->params);
    for (size_t i = 0; i < j->n_results; i++) {
        free(j->results[i].id);
        free(j->results[i].href);
        free(j->results[i].mime);
    }
    free(j->results);
    free(j->error_summary);
    free(j->stage);
    free(j->batch);
    free(j->json);
    free(j);
}

void otf_client_job_array_free(struct otf_client_job **jobs, size_t n)
{
    if (!jobs)
        return;
    for (size_t i = 0; i < n; i++)
        otf_client_job_free(jobs[i]);
    free(jobs);
}

const char *otf_client_job_param(const struct otf_client_job *j, const char *name)
{
    for (size_t i = 0; i < j->n_params; i++) {
        if (otf_str_ieq(j->params[i].name, name))
            return j->params[i].value;
    }
    return NULL;
}

/* A string member copied, or NULL when absent or null; -1 when present with another type. */
static int opt_str(json_t *o, const char *key, char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = otf_xstrdup(json_string_value(v));
    return 0;
}

static int opt_int(json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *out = (int64_t)json_real_value(v);
        return 0;
    }
    return -1;
}

/* ISO 8601 time member -> microseconds; null/absent -> 0. */
static int opt_time(json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || otf_time_parse_iso(json_string_value(v), out) != OTF_OK)
        return -1;
    return 0;
}

/* The members common to a job and a job reference. Returns the name of a bad member or NULL. */
static const char *fill_ref(json_t *o, struct otf_client_job *j)
{
    json_t *ph = json_object_get(o, "phase");
    enum otf_client_phase p;

    if (!json_is_string(json_object_get(o, "jobId")))
        return "jobId";
    j->id = otf_xstrdup(json_string_value(json_object_get(o, "jobId")));
    if (!json_is_string(ph))
        return "phase";
    /* A phase this client does not know is shown as UNKNOWN rather than refused. */
    j->phase =
        otf_client_phase_parse(json_string_value(ph), &p) == OTF_OK ? p : OTF_CLIENT_PHASE_UNKNOWN;
    if (opt_str(o, "href", &j->href) || opt_str(o, "runId", &j->run_id) ||
        opt_str(o, "ownerId", &j->owner))
        return "href/runId/ownerId";
    if (opt_time(o, "creationTime", &j->creation_us))
        return "creationTime";
    return NULL;
}

static const char *fill_job(json_t *o, struct otf_client_job *j)
{
    const char *bad = fill_ref(o, j);
    json_t *params, *results, *es, *info, *v;
    const char *k;
    size_t i;
    int64_t n;

    if (bad)
        return bad;
    if (opt_time(o, "startTime", &j->start_us) || opt_time(o, "endTime", &j->end_us) ||
        opt_time(o, "quote", &j->quote_us) || opt_time(o, "destruction", &j->destruction_us))
        return "startTime/endTime/quote/destruction";
    if (opt_int(o, "executionDuration", &j->exec_duration_s))
        return "executionDuration";
    params = json_object_get(o, "parameters");
    if (params && !json_is_null(params)) {
        if (!json_is_object(params))
            return "parameters";
        j->params = otf_xcalloc(json_object_size(params) + 1, sizeof *j->params);
        json_object_foreach(params, k, v)
        {
            struct otf_client_param *p = &j->params[j->n_params++];
            p->name = otf_xstrdup(k);
            if (json_is_string(v))
                p->value = otf_xstrdup(json_string_value(v));
            else if (!json_is_null(v))
                return "parameters";
        }
    }
    results = json_object_get(o, "results");
    if (results && !json_is_null(results)) {
        if (!json_is_array(results))
            return "results";
        j->results = otf_xcalloc(json_array_size(results) + 1, sizeof *j->results);
        json_array_foreach(results, i, v)
        {
            struct otf_client_result *r = &j->results[j->n_results++];
            json_t *sz;
            if (!json_is_object(v) || opt_str(v, "id", &r->id) || !r->id ||
                opt_str(v, "href", &r->href) || opt_str(v, "mimeType", &r->mime))
                return "results";
            sz = json_object_get(v, "size");
            r->size_bytes = json_is_integer(sz) ? (int64_t)json_integer_value(sz) : -1;
        }
    }
    es = json_object_get(o, "errorSummary");
    if (es && !json_is_null(es)) {
        char *type = NULL;
        if (!json_is_object(es) || opt_str(es, "message", &j->error_summary) ||
            opt_str(es, "type", &type))
            return "errorSummary";
        j->error_is_fatal = !type || strcmp(type, "transient") != 0;
        free(type);
    }
    info = json_object_get(o, "jobInfo");
    if (info && !json_is_null(info)) {
        if (!json_is_object(info) || opt_int(info, "patchesDone", &j->patches_done) ||
            opt_int(info, "patchesTotal", &j->patches_total) || opt_str(info, "stage", &j->stage) ||
            opt_int(info, "attempts", &n) || opt_str(info, "batch", &j->batch))
            return "jobInfo";
        j->attempts = (int)n;
    }
    return NULL;
}

static json_t *load(const char *text, size_t len, const char *what, struct otf_client_error *err)
{
    json_error_t je;
    json_t *root;
    if (!text)
        text = "";
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        client_fail(err, OTF_E_FORMAT, 0, "the server sent no valid %s (JSON error at line %d: %s)",
                    what, je.line, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        client_fail(err, OTF_E_FORMAT, 0, "the server sent no valid %s (not a JSON object)", what);
        return NULL;
    }
    return root;
}

enum otf_status otf_client_parse_job(const char *text, size_t len, struct otf_client_job **out,
                                     struct otf_client_error *err)
{
    json_t *root = load(text, len, "job document", err);
    struct otf_client_job *j;
    const char *bad;

    if (!root)
        return OTF_E_FORMAT;
    j = otf_xcalloc(1, sizeof *j);
    bad = fill_job(root, j);
    json_decref(root);
    if (bad) {
        otf_client_job_free(j);
        return client_fail(err, OTF_E_FORMAT, 0, "the server sent a bad job document ('%s')", bad);
    }
    j->json = otf_xstrndup(text, len);
    *out = j;
    return OTF_OK;
}

enum otf_status otf_client_parse_joblist(const char *text, size_t len, struct otf_client_job ***out,
                                         size_t *n_out, struct otf_client_error *err)
{
    json_t *root = load(text, len, "job list", err), *arr, *v;
    struct otf_client_job **jobs;
    size_t n = 0, i;

    if (!root)
        return OTF_E_FORMAT;
    arr = json_object_get(root, "jobs");
    if (!json_is_array(arr)) {
        json_decref(root);
        return client_fail(err, OTF_E_FORMAT, 0, "the server sent a bad job list (no 'jobs')");
    }
    jobs = otf_xcalloc(json_array_size(arr) + 1, sizeof *jobs);
    json_array_foreach(arr, i, v)
    {
        struct otf_client_job *j = otf_xcalloc(1, sizeof *j);
        jobs[n++] = j;
        if (!json_is_object(v) || fill_ref(v, j)) {
            otf_client_job_array_free(jobs, n);
            json_decref(root);
            return client_fail(err, OTF_E_FORMAT, 0, "the server sent a bad job list (entry %zu)",
                               i);
        }
        j->json = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    json_decref(root);
    *out = jobs;
    *n_out = n;
    return OTF_OK;
}

/* ---- error documents ---- */

/* Copies `s` into `out` as one line: control characters become spaces, trimmed. */
static void one_line(const char *s, size_t len, char *out, size_t n)
{
    size_t k = 0;
    while (len > 0 && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) {
        s++;
        len--;
    }
    for (size_t i = 0; i < len && k + 1 < n; i++)
        out[k++] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
    while (k > 0 && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

static int votable_error(const char *body, size_t len, char *msg, size_t n)
{
    xmlDocPtr doc;
    xmlNodePtr root, res, info;
    int found = 0;

    if (len > INT32_MAX)
        return 0;
    /* No network, no entity substitution; a DOCTYPE is refused below. */
    doc = xmlReadMemory(body, (int)len, "error.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return 0;
    root = xmlDocGetRootElement(doc);
    if (doc->intSubset || !root || xmlStrcmp(root->name, BAD_CAST "VOTABLE") != 0)
        goto out;
    /* DALI: RESOURCE type="results" / INFO name="QUERY_STATUS" value="ERROR">message</INFO> */
    for (res = root->children; res && !found; res = res->next) {
        if (res->type != XML_ELEMENT_NODE || xmlStrcmp(res->name, BAD_CAST "RESOURCE") != 0)
            continue;
        for (info = res->children; info && !found; info = info->next) {
            xmlChar *name, *value, *text;
            if (info->type != XML_ELEMENT_NODE || xmlStrcmp(info->name, BAD_CAST "INFO") != 0)
                continue;
            name = xmlGetProp(info, BAD_CAST "name");
            value = xmlGetProp(info, BAD_CAST "value");
            if (name && value && xmlStrcmp(name, BAD_CAST "QUERY_STATUS") == 0 &&
                xmlStrcmp(value, BAD_CAST "ERROR") == 0) {
                text = xmlNodeGetContent(info);
                one_line(text ? (const char *)text : "", text ? strlen((const char *)text) : 0, msg,
                         n);
                xmlFree(text);
                found = 1;
            }
            xmlFree(name);
            xmlFree(value);
        }
    }
out:
    xmlFreeDoc(doc);
    return found;
}

int otf_client_parse_error_doc(const char *body, size_t len, char *msg, size_t n)
{
    json_error_t je;
    json_t *root, *e;
    int ok = 0;

    if (!body || len == 0 || n == 0)
        return 0;
    root = json_loadb(body, len, 0, &je);
    if (root) {
        e = json_is_object(root) ? json_object_get(root, "error") : NULL;
        if (json_is_string(e)) {
            const char *s = json_string_value(e);
            one_line(s, strlen(s), msg, n);
            ok = 1;
        }
        json_decref(root);
        return ok;
    }
    return votable_error(body, len, msg, n);
}

long otf_client_parse_retry_after(const char *value, int64_t now_s)
{
    int64_t secs;
    time_t t;

    if (!value)
        return -1;
    while (*value == ' ')
        value++;
    if (*value >= '0' && *value <= '9') {
        if (otf_str_to_i64(value, &secs) != OTF_OK || secs < 0)
            return -1;
        return secs > 86400 * 365 ? 86400 * 365 : (long)secs;
    }
    t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return -1;
    return (int64_t)t > now_s ? (long)((int64_t)t - now_s) : 0;
}

/* ---- models ---- */

void otf_client_models_free(struct otf_client_model *m, size_t n)
{
    if (!m)
        return;
    for (size_t i = 0; i < n; i++) {
        free(m[i].id);
        free(m[i].description);
        for (size_t k = 0; k < m[i].n_precisions; k++)
            free(m[i].precisions[k]);
        free(m[i].precisions);
        free(m[i].card_json);
    }
    free(m);
}

enum otf_status client_parse_models(const char *text, size_t len, struct otf_client_model **out,
                                    size_t *n_out, struct otf_client_error *err)
{
    json_t *root = load(text, len, "model list", err), *arr, *card;
    struct otf_client_model *m;
    size_t n = 0, i;

    if (!root)
        return OTF_E_FORMAT;
    arr = json_object_get(root, "models");
    if (!json_is_array(arr)) {
        json_decref(root);
        return client_fail(err, OTF_E_FORMAT, 0, "the server sent a bad model list");
    }
    m = otf_xcalloc(json_array_size(arr) + 1, sizeof *m);
    json_array_foreach(arr, i, card)
    {
        struct otf_client_model *e = &m[n++];
        json_t *pr = json_object_get(card, "precisions"), *v;
        size_t k;
        if (!json_is_object(card) || opt_str(card, "id", &e->id) || !e->id ||
            opt_str(card, "description", &e->description)) {
            otf_client_models_free(m, n);
            json_decref(root);
            return client_fail(err, OTF_E_FORMAT, 0, "the server sent a bad model card (%zu)", i);
        }
        if (json_is_array(pr)) {
            e->precisions = otf_xcalloc(json_array_size(pr) + 1, sizeof *e->precisions);
            json_array_foreach(pr, k, v)
            {
                if (json_is_string(v))
                    e->precisions[e->n_precisions++] = otf_xstrdup(json_string_value(v));
            }
        }
        e->card_json = json_dumps(card, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    json_decref(root);
    *out = m;
    *n_out = n;
    return OTF_OK;
}

/* ---- Prometheus text ---- */

void otf_client_metrics_free(struct otf_client_metric *m, size_t n)
{
    if (!m)
        return;
    for (size_t i = 0; i < n; i++) {
        free(m[i].name);
        free(m[i].labels);
    }
    free(m);
}

enum otf_status otf_client_parse_metrics(const char *text, size_t len,
                                         struct otf_client_metric **out, size_t *n)
{
    struct otf_client_metric *m = NULL;
    size_t cnt = 0, cap = 0;
    const char *p = text ? text : "", *end = p + (text ? len : 0);

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *q, *name_start, *name_end, *lab = "", *lab_end = NULL;
        char num[64];
        size_t nl;
        double v;
        char *e;

        if (!eol)
            eol = end;
        q = p;
        while (q < eol && (*q == ' ' || *q == '\t'))
            q++;
        if (q == eol || *q == '#')
            goto next;
        name_start = name_end = q;
        while (name_end < eol && *name_end != '{' && *name_end != ' ')
            name_end++;
        if (name_end == q)
            goto next;
        if (name_end < eol && *name_end == '{') {
            lab = name_end + 1;
            lab_end = memchr(lab, '}', (size_t)(eol - lab));
            if (!lab_end)
                goto next;
            q = lab_end + 1;
        } else {
            q = name_end;
        }
        while (q < eol && *q == ' ')
            q++;
        nl = 0;
        while (q < eol && *q != ' ' && nl + 1 < sizeof num)
            num[nl++] = *q++;
        num[nl] = '\0';
        v = strtod(num, &e);
        if (nl == 0 || *e != '\0')
            goto next;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 32;
            m = otf_xrealloc(m, cap * sizeof *m);
        }
        m[cnt].name = otf_xstrndup(name_start, (size_t)(name_end - name_start));
        m[cnt].labels = lab_end ? otf_xstrndup(lab, (size_t)(lab_end - lab)) : otf_xstrdup("");
        m[cnt].value = v;
        cnt++;
    next:
        p = eol + 1;
    }
    *out = m;
    *n = cnt;
    return OTF_OK;
}

int otf_client_metric_label(const char *labels, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    const char *p = labels;

    while (p && *p) {
        while (*p == ',' || *p == ' ')
            p++;
        if (strncmp(p, key, kl) == 0 && p[kl] == '=' && p[kl + 1] == '"') {
            size_t k = 0;
            p += kl + 2;
            while (*p && *p != '"' && k + 1 < n) {
                if (*p == '\\' && p[1])
                    p++;
                out[k++] = *p++;
            }
            out[k] = '\0';
            return 1;
        }
        /* skip this label: name="value" with escapes */
        p = strchr(p, '"');
        if (!p)
            return 0;
        p++;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1])
                p++;
            p++;
        }
        if (*p == '"')
            p++;
    }
    return 0;
}
