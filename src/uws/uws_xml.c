/* UWS 1.1 XML documents (uws:job, uws:jobs, uws:parameters, uws:results) and the DALI error
 * VOTable, written with libxml2's xmlTextWriter straight into a capped otf_buf. Element order
 * follows the JobSummary / ShortJobDescription sequences of UWS-v1.1.xsd; every text passes
 * through otf_uws_text_clean so the output is well-formed whatever the stored bytes are. */
#include <libxml/xmlIO.h>
#include <libxml/xmlwriter.h>
#include <stdlib.h>
#include <string.h>

#include "uws/uws.h"
#include "uws/uws_int.h"

#define NS_UWS     "http://www.ivoa.net/xml/UWS/v1.0"
#define NS_XLINK   "http://www.w3.org/1999/xlink"
#define NS_XSI     "http://www.w3.org/2001/XMLSchema-instance"
#define NS_VOTABLE "http://www.ivoa.net/xml/VOTable/v1.3"

/* Output sink: appends to the caller's buffer and remembers why it stopped. */
struct sink {
    struct otf_buf *out;
    size_t start; /* out->len before this document, restored on failure */
    enum otf_status rc;
};

static int sink_write(void *ctx, const char *p, int n)
{
    struct sink *s = ctx;
    enum otf_status rc;

    if (s->rc != OTF_OK)
        return -1;
    rc = otf_buf_append(s->out, p, (size_t)n);
    if (rc != OTF_OK) {
        s->rc = rc;
        return -1;
    }
    return n;
}

static int sink_close(void *ctx)
{
    (void)ctx;
    return 0;
}

/* A writer whose every failed call is remembered, so the document code reads straight. */
struct doc {
    xmlTextWriterPtr w;
    struct sink sink;
    int failed;
    xmlGenericErrorFunc saved_fn; /* this thread's libxml2 error handler, restored at close */
    void *saved_ctx;
};

/* A full buffer is an expected outcome (OTF_E_LIMIT), not something for libxml2 to print. */
static void quiet(void *ctx, const char *fmt, ...)
{
    (void)ctx;
    (void)fmt;
}

static void doc_open(struct doc *d, struct otf_buf *out)
{
    xmlOutputBufferPtr ob;

    d->w = NULL;
    d->failed = 0;
    d->sink.out = out;
    d->sink.start = out->len;
    d->sink.rc = OTF_OK;
    /* libxml2 keeps the generic handler per thread, so swapping it here touches no other
     * thread. */
    d->saved_fn = xmlGenericError;
    d->saved_ctx = xmlGenericErrorContext;
    xmlSetGenericErrorFunc(NULL, quiet);
    ob = xmlOutputBufferCreateIO(sink_write, sink_close, &d->sink, NULL);
    if (!ob) {
        d->failed = 1;
        return;
    }
    /* The writer owns `ob` once created; if its creation fails, `ob` is still ours. */
    d->w = xmlNewTextWriter(ob);
    if (!d->w) {
        xmlOutputBufferClose(ob);
        d->failed = 1;
        return;
    }
    xmlTextWriterSetIndent(d->w, 1);
    xmlTextWriterSetIndentString(d->w, (const xmlChar *)" ");
    if (xmlTextWriterStartDocument(d->w, "1.0", "UTF-8", NULL) < 0)
        d->failed = 1;
}

static enum otf_status doc_close(struct doc *d)
{
    enum otf_status rc;

    if (d->w) {
        if (!d->failed && xmlTextWriterEndDocument(d->w) < 0)
            d->failed = 1;
        if (!d->failed && xmlTextWriterFlush(d->w) < 0)
            d->failed = 1;
        xmlFreeTextWriter(d->w); /* closes the output buffer */
        d->w = NULL;
    }
    xmlSetGenericErrorFunc(d->saved_ctx, d->saved_fn);
    rc = d->sink.rc != OTF_OK ? d->sink.rc : d->failed ? OTF_E_NOMEM : OTF_OK;
    if (rc != OTF_OK) {
        /* Leave the caller's buffer as it was before this document. */
        d->sink.out->len = d->sink.start;
        if (d->sink.out->data)
            d->sink.out->data[d->sink.start] = '\0';
    }
    return rc;
}

static void start(struct doc *d, const char *name)
{
    if (!d->failed && xmlTextWriterStartElement(d->w, (const xmlChar *)name) < 0)
        d->failed = 1;
}

static void end(struct doc *d)
{
    if (!d->failed && xmlTextWriterEndElement(d->w) < 0)
        d->failed = 1;
}

static void attr(struct doc *d, const char *name, const char *value)
{
    char *v;
    if (d->failed)
        return;
    v = otf_uws_text_clean(value);
    if (xmlTextWriterWriteAttribute(d->w, (const xmlChar *)name, (const xmlChar *)v) < 0)
        d->failed = 1;
    free(v);
}

static void text(struct doc *d, const char *value)
{
    char *v;
    if (d->failed)
        return;
    v = otf_uws_text_clean(value);
    if (xmlTextWriterWriteString(d->w, (const xmlChar *)v) < 0)
        d->failed = 1;
    free(v);
}

/* <name>value</name> */
static void elem(struct doc *d, const char *name, const char *value)
{
    start(d, name);
    text(d, value);
    end(d);
}

/* <name xsi:nil="true"/> (UWS 1.1: nillable elements with no value). */
static void elem_nil(struct doc *d, const char *name)
{
    start(d, name);
    attr(d, "xsi:nil", "true");
    end(d);
}

static void elem_time(struct doc *d, const char *name, int64_t t_us, int nil_if_zero)
{
    char iso[OTF_TIME_ISO_LEN];
    if (nil_if_zero && t_us == 0) {
        elem_nil(d, name);
        return;
    }
    otf_time_format_iso(t_us, iso);
    elem(d, name, iso);
}

static void elem_i64(struct doc *d, const char *name, int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)v);
    elem(d, name, s);
}

static void elem_owner(struct doc *d, const char *owner)
{
    if (owner)
        elem(d, "uws:ownerId", owner);
    else
        elem_nil(d, "uws:ownerId");
}

static void ns_decls(struct doc *d, int xlink, int xsi)
{
    attr(d, "xmlns:uws", NS_UWS);
    if (xlink)
        attr(d, "xmlns:xlink", NS_XLINK);
    if (xsi)
        attr(d, "xmlns:xsi", NS_XSI);
}

static void write_parameters(struct doc *d, const struct otf_job *j, int root)
{
    start(d, "uws:parameters");
    if (root)
        ns_decls(d, 0, 0);
    for (size_t i = 0; i < j->n_params; i++) {
        start(d, "uws:parameter");
        attr(d, "id", j->params[i].name);
        if (j->params[i].by_reference)
            attr(d, "byReference", "true");
        text(d, j->params[i].value);
        end(d);
    }
    end(d);
}

static void write_results(struct doc *d, const struct otf_job *j, const char *base_url, int root)
{
    start(d, "uws:results");
    if (root)
        ns_decls(d, 1, 0);
    for (size_t i = 0; i < j->n_results; i++) {
        const struct otf_result *r = &j->results[i];
        char *href = otf_uws_result_url(base_url, j->id, r->id);
        start(d, "uws:result");
        attr(d, "id", r->id);
        attr(d, "xlink:type", "simple");
        attr(d, "xlink:href", href);
        if (r->size_bytes >= 0) {
            char s[24];
            snprintf(s, sizeof s, "%lld", (long long)r->size_bytes);
            attr(d, "size", s);
        }
        if (r->mime)
            attr(d, "mime-type", r->mime);
        end(d);
        free(href);
    }
    end(d);
}

/* executionDuration is an xs:int: clamp rather than emit an invalid document. */
static int64_t clamp_int32(int64_t v)
{
    return v < 0 ? 0 : v > INT32_MAX ? INT32_MAX : v;
}

void otf_uws_global_init(void)
{
    xmlInitParser();
}

static void init_parser(void)
{
    /* Idempotent; covers single-threaded callers that skipped otf_uws_global_init(). */
    xmlInitParser();
}

enum otf_status otf_uws_job_write_xml(const struct otf_job *j, const char *base_url,
                                      struct otf_buf *out)
{
    struct doc d;

    OTF_ASSERT(j && base_url && out);
    init_parser();
    doc_open(&d, out);
    start(&d, "uws:job");
    ns_decls(&d, 1, 1);
    attr(&d, "xmlns:otf", OTF_UWS_NS_JOBINFO);
    attr(&d, "version", "1.1");
    elem(&d, "uws:jobId", j->id);
    if (j->run_id)
        elem(&d, "uws:runId", j->run_id);
    elem_owner(&d, j->owner);
    elem(&d, "uws:phase", otf_uws_phase_name(j->phase));
    elem_time(&d, "uws:quote", j->quote_us, 1);
    elem_time(&d, "uws:creationTime", j->creation_us, 0);
    elem_time(&d, "uws:startTime", j->start_us, 1);
    elem_time(&d, "uws:endTime", j->end_us, 1);
    elem_i64(&d, "uws:executionDuration", clamp_int32(j->exec_duration_s));
    elem_time(&d, "uws:destruction", j->destruction_us, 1);
    write_parameters(&d, j, 0);
    write_results(&d, j, base_url, 0);
    if (j->error_summary) {
        start(&d, "uws:errorSummary");
        attr(&d, "type", j->error_is_fatal ? "fatal" : "transient");
        /* {job}/error serves the message as a DALI error document. */
        attr(&d, "hasDetail", "true");
        elem(&d, "uws:message", j->error_summary);
        end(&d);
    }
    /* jobInfo: xs:any, lax; our progress lives in a namespace of ours. */
    start(&d, "uws:jobInfo");
    start(&d, "otf:progress");
    elem_i64(&d, "otf:patchesDone", j->patches_done);
    elem_i64(&d, "otf:patchesTotal", j->patches_total);
    if (j->stage)
        elem(&d, "otf:stage", j->stage);
    elem_i64(&d, "otf:attempts", j->attempts);
    if (j->batch)
        elem(&d, "otf:batch", j->batch);
    end(&d);
    end(&d);
    end(&d);
    return doc_close(&d);
}

enum otf_status otf_uws_joblist_write_xml(struct otf_job *const *jobs, size_t n,
                                          const char *base_url, struct otf_buf *out)
{
    struct doc d;

    OTF_ASSERT((jobs || n == 0) && base_url && out);
    init_parser();
    doc_open(&d, out);
    start(&d, "uws:jobs");
    ns_decls(&d, 1, 1);
    attr(&d, "version", "1.1");
    for (size_t i = 0; i < n && !d.failed; i++) {
        const struct otf_job *j = jobs[i];
        char *href = otf_uws_job_url(base_url, j->id);
        start(&d, "uws:jobref");
        attr(&d, "id", j->id);
        attr(&d, "xlink:type", "simple");
        attr(&d, "xlink:href", href);
        elem(&d, "uws:phase", otf_uws_phase_name(j->phase));
        if (j->run_id)
            elem(&d, "uws:runId", j->run_id);
        elem_owner(&d, j->owner);
        elem_time(&d, "uws:creationTime", j->creation_us, 0);
        end(&d);
        free(href);
    }
    end(&d);
    return doc_close(&d);
}

enum otf_status otf_uws_parameters_write_xml(const struct otf_job *j, struct otf_buf *out)
{
    struct doc d;

    OTF_ASSERT(j && out);
    init_parser();
    doc_open(&d, out);
    write_parameters(&d, j, 1);
    return doc_close(&d);
}

enum otf_status otf_uws_results_write_xml(const struct otf_job *j, const char *base_url,
                                          struct otf_buf *out)
{
    struct doc d;

    OTF_ASSERT(j && base_url && out);
    init_parser();
    doc_open(&d, out);
    write_results(&d, j, base_url, 1);
    return doc_close(&d);
}

enum otf_status otf_uws_error_write_votable(const char *message, struct otf_buf *out)
{
    struct doc d;

    OTF_ASSERT(message && out);
    init_parser();
    doc_open(&d, out);
    /* DALI 1.1 error document; VOTable 1.4 keeps the v1.3 namespace. */
    start(&d, "VOTABLE");
    attr(&d, "version", "1.4");
    attr(&d, "xmlns", NS_VOTABLE);
    start(&d, "RESOURCE");
    attr(&d, "type", "results");
    start(&d, "INFO");
    attr(&d, "name", "QUERY_STATUS");
    attr(&d, "value", "ERROR");
    text(&d, message);
    end(&d);
    end(&d);
    end(&d);
    return doc_close(&d);
}
