/* Unit tests for uws: phases and transitions, parameters, the job-description parser (good and
 * hostile documents), and the UWS documents checked against golden files, the UWS 1.1 and
 * VOTable 1.4 schemas (local copies in tests/data/xsd) and jansson. OTF_UPDATE_GOLDEN=1 rewrites
 * the golden files from the current output. */
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlschemas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otf_test.h"
#include "uws/uws.h"

#define BASE "http://127.0.0.1:8080"
#define T0   INT64_C(1740830400123000) /* 2025-03-01T12:00:00.123Z */

/* ---- phases ---- */

static void test_phase_names(void **state)
{
    enum otf_phase p;
    (void)state;
    for (int i = 0; i < OTF_PHASE__COUNT; i++) {
        assert_int_equal(otf_uws_phase_parse(otf_uws_phase_name((enum otf_phase)i), &p), OTF_OK);
        assert_int_equal(p, i);
    }
    assert_string_equal(otf_uws_phase_name(OTF_PHASE_EXECUTING), "EXECUTING");
    assert_string_equal(otf_uws_phase_name((enum otf_phase)42), "UNKNOWN");
    /* DALI values are case-sensitive. */
    assert_int_equal(otf_uws_phase_parse("queued", &p), OTF_E_INVAL);
    assert_int_equal(otf_uws_phase_parse("RUN", &p), OTF_E_INVAL);
    assert_int_equal(otf_uws_phase_parse("", &p), OTF_E_INVAL);
    assert_int_equal(otf_uws_phase_parse("PENDING ", &p), OTF_E_INVAL);
    assert_int_equal(otf_uws_phase_parse(NULL, &p), OTF_E_INVAL);
}

static void test_phase_classes(void **state)
{
    static const struct {
        enum otf_phase p;
        int is_final, is_active;
    } t[] = {
        {OTF_PHASE_PENDING, 0, 1},   {OTF_PHASE_QUEUED, 0, 1}, {OTF_PHASE_EXECUTING, 0, 1},
        {OTF_PHASE_COMPLETED, 1, 0}, {OTF_PHASE_ERROR, 1, 0},  {OTF_PHASE_ABORTED, 1, 0},
        {OTF_PHASE_UNKNOWN, 0, 0},   {OTF_PHASE_HELD, 0, 0},   {OTF_PHASE_SUSPENDED, 0, 0},
        {OTF_PHASE_ARCHIVED, 1, 0},
    };
    (void)state;
    assert_int_equal(sizeof t / sizeof t[0], OTF_PHASE__COUNT);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        assert_int_equal(otf_uws_phase_is_final(t[i].p), t[i].is_final);
        assert_int_equal(otf_uws_phase_is_active(t[i].p), t[i].is_active);
    }
}

/* Expected result of RUN and ABORT from each phase; -1 = refused with OTF_E_STATE. */
static void test_phase_actions(void **state)
{
    static const int run_to[OTF_PHASE__COUNT] = {
        [OTF_PHASE_PENDING] = OTF_PHASE_QUEUED,
        [OTF_PHASE_QUEUED] = OTF_PHASE_QUEUED,
        [OTF_PHASE_EXECUTING] = OTF_PHASE_EXECUTING,
        [OTF_PHASE_COMPLETED] = -1,
        [OTF_PHASE_ERROR] = -1,
        [OTF_PHASE_ABORTED] = -1,
        [OTF_PHASE_UNKNOWN] = -1,
        [OTF_PHASE_HELD] = OTF_PHASE_QUEUED,
        [OTF_PHASE_SUSPENDED] = -1,
        [OTF_PHASE_ARCHIVED] = -1,
    };
    static const int abort_to[OTF_PHASE__COUNT] = {
        [OTF_PHASE_PENDING] = OTF_PHASE_ABORTED,
        [OTF_PHASE_QUEUED] = OTF_PHASE_ABORTED,
        [OTF_PHASE_EXECUTING] = OTF_PHASE_ABORTED,
        [OTF_PHASE_COMPLETED] = -1,
        [OTF_PHASE_ERROR] = -1,
        [OTF_PHASE_ABORTED] = -1,
        [OTF_PHASE_UNKNOWN] = -1,
        [OTF_PHASE_HELD] = OTF_PHASE_ABORTED,
        [OTF_PHASE_SUSPENDED] = OTF_PHASE_ABORTED,
        [OTF_PHASE_ARCHIVED] = -1,
    };
    (void)state;
    for (int i = 0; i < OTF_PHASE__COUNT; i++) {
        for (int a = 0; a < 2; a++) {
            struct otf_errbuf eb = {0};
            enum otf_phase to = OTF_PHASE__COUNT;
            int want = a == 0 ? run_to[i] : abort_to[i];
            enum otf_status rc = otf_uws_phase_after(
                (enum otf_phase)i, a == 0 ? OTF_UWS_ACTION_RUN : OTF_UWS_ACTION_ABORT, &to, &eb);
            if (want < 0) {
                assert_int_equal(rc, OTF_E_STATE);
                assert_int_equal(to, OTF_PHASE__COUNT); /* untouched */
                assert_non_null(strstr(eb.msg, otf_uws_phase_name((enum otf_phase)i)));
            } else {
                assert_int_equal(rc, OTF_OK);
                assert_int_equal(to, want);
            }
        }
    }
}

static void test_phase_can_change(void **state)
{
    (void)state;
    /* The server's path of a normal job. */
    assert_true(otf_uws_phase_can_change(OTF_PHASE_PENDING, OTF_PHASE_QUEUED));
    assert_true(otf_uws_phase_can_change(OTF_PHASE_QUEUED, OTF_PHASE_EXECUTING));
    assert_true(otf_uws_phase_can_change(OTF_PHASE_EXECUTING, OTF_PHASE_COMPLETED));
    assert_true(otf_uws_phase_can_change(OTF_PHASE_EXECUTING, OTF_PHASE_ERROR));
    assert_true(otf_uws_phase_can_change(OTF_PHASE_EXECUTING, OTF_PHASE_QUEUED)); /* retry */
    assert_true(otf_uws_phase_can_change(OTF_PHASE_QUEUED, OTF_PHASE_HELD));
    assert_true(otf_uws_phase_can_change(OTF_PHASE_HELD, OTF_PHASE_QUEUED));
    assert_true(otf_uws_phase_can_change(OTF_PHASE_EXECUTING, OTF_PHASE_SUSPENDED));
    assert_true(otf_uws_phase_can_change(OTF_PHASE_SUSPENDED, OTF_PHASE_EXECUTING));
    assert_true(otf_uws_phase_can_change(OTF_PHASE_QUEUED, OTF_PHASE_QUEUED));
    /* Skipping the queue, or running before RUN, is not a legal change. */
    assert_false(otf_uws_phase_can_change(OTF_PHASE_PENDING, OTF_PHASE_EXECUTING));
    assert_false(otf_uws_phase_can_change(OTF_PHASE_PENDING, OTF_PHASE_COMPLETED));
    assert_false(otf_uws_phase_can_change(OTF_PHASE_QUEUED, OTF_PHASE_COMPLETED));
    assert_false(otf_uws_phase_can_change(OTF_PHASE_QUEUED, OTF_PHASE_PENDING));
    /* Final phases never move, except to ARCHIVED; ARCHIVED never moves. */
    for (int f = 0; f < OTF_PHASE__COUNT; f++) {
        if (!otf_uws_phase_is_final((enum otf_phase)f))
            continue;
        for (int t = 0; t < OTF_PHASE__COUNT; t++) {
            int want = t == f || (t == OTF_PHASE_ARCHIVED);
            assert_int_equal(otf_uws_phase_can_change((enum otf_phase)f, (enum otf_phase)t), want);
        }
    }
    for (int f = 0; f < OTF_PHASE__COUNT; f++)
        assert_true(otf_uws_phase_can_change((enum otf_phase)f, OTF_PHASE_ARCHIVED));
    assert_false(otf_uws_phase_can_change((enum otf_phase)99, OTF_PHASE_QUEUED));
    assert_false(otf_uws_phase_can_change(OTF_PHASE_QUEUED, (enum otf_phase)99));
}

/* ---- jobs and parameters ---- */

static void test_param_canonical(void **state)
{
    char out[16];
    (void)state;
    assert_int_equal(otf_uws_param_canonical("Model", out, sizeof out), 1);
    assert_string_equal(out, "model");
    assert_int_equal(otf_uws_param_canonical("IMAGE_URL", out, sizeof out), 1);
    assert_string_equal(out, "image_url");
    assert_int_equal(otf_uws_param_canonical("RunId", out, sizeof out), 1);
    assert_int_equal(otf_uws_param_canonical("MyOption", out, sizeof out), 0);
    assert_string_equal(out, "myoption");
    /* Too long for `out`: truncated, never a known name. */
    assert_int_equal(otf_uws_param_canonical("precisionprecisionprecision", out, 10), 0);
    assert_string_equal(out, "precision");
}

static void test_job_params(void **state)
{
    struct otf_job *j = otf_uws_job_new();
    (void)state;
    assert_int_equal(j->phase, OTF_PHASE_PENDING);
    assert_int_equal(j->n_params, 0);
    otf_uws_job_set_param(j, "MODEL", "demo", 0);
    otf_uws_job_set_param(j, "Ra", "150.1", 0);
    otf_uws_job_set_param(j, "Extra", "Keep Case", 0);
    assert_int_equal(j->n_params, 3);
    assert_string_equal(j->params[0].name, "model");
    assert_string_equal(j->params[1].name, "ra");
    assert_string_equal(j->params[2].name, "extra");
    assert_string_equal(otf_uws_job_get_param(j, "model"), "demo");
    assert_string_equal(otf_uws_job_get_param(j, "MoDeL"), "demo");
    assert_string_equal(otf_uws_job_get_param(j, "EXTRA"), "Keep Case"); /* values keep case */
    assert_null(otf_uws_job_get_param(j, "dec"));
    /* Replacing keeps one entry, in place. */
    otf_uws_job_set_param(j, "model", "other", 1);
    assert_int_equal(j->n_params, 3);
    assert_string_equal(j->params[0].value, "other");
    assert_int_equal(j->params[0].by_reference, 1);
    /* RUNID mirrors run_id. */
    otf_uws_job_set_param(j, "RUNID", "r1", 0);
    assert_string_equal(j->run_id, "r1");
    otf_uws_job_set_param(j, "runid", "r2", 0);
    assert_string_equal(j->run_id, "r2");
    otf_uws_job_del_param(j, "RunID");
    assert_null(j->run_id);
    otf_uws_job_del_param(j, "Ra");
    otf_uws_job_del_param(j, "nothing");
    assert_int_equal(j->n_params, 2);
    assert_string_equal(j->params[0].name, "model");
    assert_string_equal(j->params[1].name, "extra");
    otf_uws_job_del_param(j, "model");
    otf_uws_job_del_param(j, "extra");
    assert_int_equal(j->n_params, 0);
    assert_null(j->params);
    otf_uws_job_free(j);
    otf_uws_job_free(NULL);
}

static void test_job_results_dup(void **state)
{
    struct otf_job *j = otf_uws_job_new(), *d, **arr;
    (void)state;
    strcpy(j->id, "abc123");
    otf_uws_job_set_owner(j, "alice");
    otf_uws_job_set_stage(j, "inference");
    otf_uws_job_set_error(j, "bad image", 1);
    otf_uws_job_set_param(j, "model", "demo", 0);
    otf_uws_job_set_param(j, "runid", "x", 0);
    otf_uws_job_set_result(j, "catalog", "application/x-votable+xml", 100);
    otf_uws_job_set_result(j, "regions", NULL, -1);
    otf_uws_job_set_result(j, "catalog", "application/x-votable+xml", 200);
    assert_int_equal(j->n_results, 2);
    assert_int_equal(j->results[0].size_bytes, 200);
    assert_null(j->results[1].mime);
    j->patches_done = 3;

    d = otf_uws_job_dup(j);
    /* Deep: changing the original leaves the copy alone. */
    otf_uws_job_set_param(j, "model", "changed", 0);
    otf_uws_job_set_owner(j, NULL);
    otf_uws_job_set_stage(j, j->stage); /* self-assignment is safe */
    otf_uws_job_set_error(j, NULL, 0);
    assert_string_equal(d->id, "abc123");
    assert_string_equal(d->owner, "alice");
    assert_string_equal(d->stage, "inference");
    assert_string_equal(d->error_summary, "bad image");
    assert_int_equal(d->error_is_fatal, 1);
    assert_string_equal(d->run_id, "x");
    assert_string_equal(otf_uws_job_get_param(d, "model"), "demo");
    assert_int_equal(d->n_results, 2);
    assert_string_equal(d->results[0].mime, "application/x-votable+xml");
    assert_int_equal(d->patches_done, 3);
    assert_null(j->owner);
    assert_null(j->error_summary);
    assert_string_equal(j->stage, "inference");

    arr = malloc(2 * sizeof *arr);
    assert_non_null(arr);
    arr[0] = j;
    arr[1] = d;
    otf_uws_job_array_free(arr, 2);
    otf_uws_job_array_free(NULL, 0);
}

static void test_urls(void **state)
{
    char *u;
    (void)state;
    u = otf_uws_job_url(BASE, "abc");
    assert_string_equal(u, BASE "/jobs/abc");
    free(u);
    u = otf_uws_result_url(BASE, "abc", "catalog");
    assert_string_equal(u, BASE "/jobs/abc/results/catalog");
    free(u);
    u = otf_uws_result_url("http://h", "a/b c", "x?y");
    assert_string_equal(u, "http://h/jobs/a%2Fb%20c/results/x%3Fy");
    free(u);
}

static void test_precision(void **state)
{
    static const char *const t[][2] = {
        {"FP32", "FP32"},        {"fp32", "FP32"},        {"BF16", "BF16"},
        {"FP16", "FP16"},        {"TF32", "TF32"},        {"int8", "INT8"},
        {"FP32C_FP32A", "FP32"}, {"fp16c_fp32a", "FP16"}, {"BF16C_FP32A", "BF16"},
        {"TF32C_FP32A", "TF32"}, {"FP16C_FP16A", "FP16"}, {"off", "FP32"},
        {"ON", "FP16"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        assert_string_equal(otf_uws_precision_canonical(t[i][0]), t[i][1]);
    assert_null(otf_uws_precision_canonical("FP64"));
    assert_null(otf_uws_precision_canonical("FP32 "));
    assert_null(otf_uws_precision_canonical(""));
    assert_null(otf_uws_precision_canonical(NULL));
}

static void test_param_check(void **state)
{
    static const char *const good[][2] = {
        {"RA", "0"},
        {"ra", "360"},
        {"ra", " 150.25 "},
        {"DEC", "-90"},
        {"dec", "89.999"},
        {"SIZE", "0.5"},
        {"size", "180"},
        {"ROI", "0,0,256,256"},
        {"roi", "10, 20, 30, 40"},
        {"PRECISION", "BF16C_FP32A"},
        {"HDU", "0"},
        {"hdu", "3"},
        {"hdu", "SCI"},
        {"THRESHOLD", "0"},
        {"threshold", "0.5"},
        {"NMS", "1"},
        {"MODEL", "demo"},
        {"model", "yolo-cianna_sdc1.v2"},
        {"IMAGE_URL", "https://archive.example.org/cutout?ra=1&dec=2"},
        {"image_url", "HTTP://host:8080/a.fits"},
        {"RUNID", "my run #1"},
        {"unknown_param", "any value, with <xml> & \"quotes\""},
        {"description", "line 1\nline 2\twith tab"},
        {"label", "\xC3\xA9toile \xE2\x98\x85"}, /* UTF-8 */
    };
    static const char *const bad[][2] = {
        {"ra", "-0.1"},
        {"ra", "360.5"},
        {"ra", "abc"},
        {"ra", ""},
        {"ra", "nan"},
        {"ra", "inf"},
        {"dec", "90.01"},
        {"dec", "1e400"},
        {"size", "0"},
        {"size", "-1"},
        {"size", "181"},
        {"roi", "0,0,10"},
        {"roi", "0,0,10,10,5"},
        {"roi", "10,0,10,10"},
        {"roi", "0,10,10,5"},
        {"roi", "-1,0,10,10"},
        {"roi", "0,0,1.5,10"},
        {"roi", "0,,10,10"},
        {"roi", ""},
        {"precision", "FP64"},
        {"precision", ""},
        {"hdu", "-1"},
        {"hdu", "../etc"},
        {"hdu", "a b"},
        {"threshold", "1.5"},
        {"nms", "-0.1"},
        {"model", "../../etc/passwd"},
        {"model", ""},
        {"model", "a/b"},
        {"image_url", "file:///etc/passwd"},
        {"image_url", "ftp://host/a.fits"},
        {"image_url", "http://"},
        {"image_url", "http:///path"},
        {"image_url", "http://host/a b.fits"},
        {"bad name", "x"},
        {"", "x"},
        {"name<", "x"},
        {"x", "ctrl\x01char"},
        {"x", "bad utf8 \xC3\x28"},
        {"x", "overlong \xC0\xAF"},
        {"x", "surrogate \xED\xA0\x80"},
    };
    char longname[OTF_UWS_NAME_MAX + 2];
    char *longval;
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct otf_errbuf eb = {0};
        enum otf_status rc = otf_uws_param_check(good[i][0], good[i][1], &eb);
        if (rc != OTF_OK)
            fail_msg("%s=%s refused: %s", good[i][0], good[i][1], eb.msg);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct otf_errbuf eb = {0};
        enum otf_status rc = otf_uws_param_check(bad[i][0], bad[i][1], &eb);
        if (rc != OTF_E_INVAL)
            fail_msg("%s=%s accepted", bad[i][0], bad[i][1]);
        assert_true(strlen(eb.msg) > 0);
    }
    /* Messages name the parameter. */
    {
        struct otf_errbuf eb = {0};
        assert_int_equal(otf_uws_param_check("DEC", "95", &eb), OTF_E_INVAL);
        assert_non_null(strstr(eb.msg, "dec"));
    }
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(otf_uws_param_check(longname, "x", NULL), OTF_E_INVAL);
    longname[OTF_UWS_NAME_MAX] = '\0';
    assert_int_equal(otf_uws_param_check(longname, "x", NULL), OTF_OK);
    longval = calloc(OTF_UWS_VALUE_MAX + 2, 1);
    memset(longval, 'v', OTF_UWS_VALUE_MAX + 1);
    assert_int_equal(otf_uws_param_check("x", longval, NULL), OTF_E_INVAL);
    longval[OTF_UWS_VALUE_MAX] = '\0';
    assert_int_equal(otf_uws_param_check("x", longval, NULL), OTF_OK);
    free(longval);
    assert_int_equal(otf_uws_param_check(NULL, "x", NULL), OTF_E_INVAL);
    assert_int_equal(otf_uws_param_check("x", NULL, NULL), OTF_E_INVAL);
}

/* ---- job-description XML ---- */

struct parsed {
    struct otf_param *p;
    size_t n;
    struct otf_errbuf eb;
    enum otf_status rc;
};

static void parse(struct parsed *r, const char *xml, size_t len)
{
    memset(r, 0, sizeof *r);
    r->rc = otf_uws_parse_description(xml, len, &r->p, &r->n, &r->eb);
}

static void parse_str(struct parsed *r, const char *xml)
{
    parse(r, xml, strlen(xml));
}

static const char *pval(const struct parsed *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->p[i].name, name) == 0)
            return r->p[i].value;
    }
    return NULL;
}

static void parsed_free(struct parsed *r)
{
    otf_uws_params_free(r->p, r->n);
    r->p = NULL;
    r->n = 0;
}

static void test_description_good(void **state)
{
    struct parsed r;
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<uws:job xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\">\n"
        "  <uws:jobId>ignored</uws:jobId>\n"
        "  <uws:parameters>\n"
        "    <uws:parameter id=\"ModelName\">demo</uws:parameter>\n"
        "    <uws:parameter id=\"Quantization\">FP16C_FP32A</uws:parameter>\n"
        "    <uws:parameter id=\"RA\"> 150.1 </uws:parameter>\n"
        "    <uws:parameter id=\"DEC\">2.2</uws:parameter>\n"
        "    <uws:parameter id=\"ROI_Width\">0.5</uws:parameter>\n"
        "    <uws:parameter id=\"ROI_Height\">0.75</uws:parameter>\n"
        "    <uws:parameter id=\"Threshold\">0.3</uws:parameter>\n"
        "    <uws:parameter id=\"Note\">a &amp; b &lt;c&gt; <![CDATA[<raw>]]></uws:parameter>\n"
        "    <uws:parameter id=\"IMAGE_URL\" byReference=\"true\">"
        "https://example.org/a.fits</uws:parameter>\n"
        "    <!-- a comment -->\n"
        "  </uws:parameters>\n"
        "</uws:job>\n";
    (void)state;
    parse_str(&r, doc);
    assert_int_equal(r.rc, OTF_OK);
    assert_int_equal(r.n, 8);
    assert_string_equal(pval(&r, "model"), "demo");
    /* The value is kept; canonicalising the precision is the checker's job at RUN. */
    assert_string_equal(pval(&r, "precision"), "FP16C_FP32A");
    assert_string_equal(pval(&r, "ra"), "150.1");
    assert_string_equal(pval(&r, "dec"), "2.2");
    assert_string_equal(pval(&r, "size"), "0.75"); /* max of width and height */
    assert_string_equal(pval(&r, "threshold"), "0.3");
    assert_string_equal(pval(&r, "note"), "a & b <c> <raw>");
    assert_string_equal(pval(&r, "image_url"), "https://example.org/a.fits");
    for (size_t i = 0; i < r.n; i++)
        assert_int_equal(r.p[i].by_reference, strcmp(r.p[i].name, "image_url") == 0);
    assert_null(pval(&r, "roi_width"));
    parsed_free(&r);

    /* Only one of the two ROI sides; width wins when larger. */
    parse_str(&r, "<uws:parameters xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\">"
                  "<uws:parameter id=\"ROI_Height\">1.5</uws:parameter></uws:parameters>");
    assert_int_equal(r.rc, OTF_OK);
    assert_string_equal(pval(&r, "size"), "1.5");
    parsed_free(&r);
    parse_str(&r, "<uws:parameters xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\">"
                  "<uws:parameter id=\"roi_width\">2</uws:parameter>"
                  "<uws:parameter id=\"ROI_HEIGHT\">1.5</uws:parameter></uws:parameters>");
    assert_int_equal(r.rc, OTF_OK);
    assert_string_equal(pval(&r, "size"), "2");
    parsed_free(&r);

    /* A job with no parameters at all. */
    parse_str(&r, "<job xmlns=\"http://www.ivoa.net/xml/UWS/v1.0\"><phase>PENDING</phase></job>");
    assert_int_equal(r.rc, OTF_OK);
    assert_int_equal(r.n, 0);
    assert_null(r.p);
}

static void test_description_namespaces(void **state)
{
    static const char *const docs[] = {
        /* another prefix */
        "<ns0:job xmlns:ns0=\"http://www.ivoa.net/xml/UWS/v1.0\"><ns0:parameters>"
        "<ns0:parameter id=\"ModelName\">demo</ns0:parameter></ns0:parameters></ns0:job>",
        /* default namespace */
        "<job xmlns=\"http://www.ivoa.net/xml/UWS/v1.0\"><parameters>"
        "<parameter id=\"ModelName\">demo</parameter></parameters></job>",
        /* no namespace (hand-written) */
        "<job><parameters><parameter id=\"ModelName\">demo</parameter></parameters></job>",
        /* bare parameters, UTF-8 BOM and declaration */
        "\xEF\xBB\xBF<?xml version=\"1.0\"?><uws:parameters "
        "xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\">"
        "<uws:parameter id=\"MODELNAME\">demo</uws:parameter></uws:parameters>",
        /* mixed prefixes */
        "<a:job xmlns:a=\"http://www.ivoa.net/xml/UWS/v1.0\" "
        "xmlns:b=\"http://www.ivoa.net/xml/UWS/v1.0\"><b:parameters>"
        "<a:parameter id=\"ModelName\">demo</a:parameter></b:parameters></a:job>",
    };
    (void)state;
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        struct parsed r;
        parse_str(&r, docs[i]);
        if (r.rc != OTF_OK)
            fail_msg("doc %zu refused: %s", i, r.eb.msg);
        assert_int_equal(r.n, 1);
        assert_string_equal(pval(&r, "model"), "demo");
        parsed_free(&r);
    }
}

/* Expects `rc` and a message containing `needle`. */
static void expect_refused(const char *xml, size_t len, enum otf_status rc, const char *needle)
{
    struct parsed r;
    parse(&r, xml, len);
    if (r.rc != rc)
        fail_msg("expected %s, got %s (%s) for: %.80s", otf_status_str(rc), otf_status_str(r.rc),
                 r.eb.msg, xml);
    assert_null(r.p);
    assert_int_equal(r.n, 0);
    if (needle && !strstr(r.eb.msg, needle))
        fail_msg("message '%s' lacks '%s'", r.eb.msg, needle);
}

static void expect_refused_str(const char *xml, enum otf_status rc, const char *needle)
{
    expect_refused(xml, strlen(xml), rc, needle);
}

/* UTF-16LE copy of an ASCII string with a BOM; the DOCTYPE pre-scan cannot see inside it. */
static char *to_utf16le(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *o = calloc(2 * n + 2, 1);
    o[0] = (char)0xFF;
    o[1] = (char)0xFE;
    for (size_t i = 0; i < n; i++)
        o[2 + 2 * i] = s[i];
    *len = 2 * n + 2;
    return o;
}

static void test_description_hostile(void **state)
{
    static const char *const laughs =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n"
        "<uws:job xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\"><uws:parameters>"
        "<uws:parameter id=\"ModelName\">&lol3;</uws:parameter></uws:parameters></uws:job>";
    static const char *const xxe =
        "<?xml version=\"1.0\"?><!DOCTYPE job [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
        "<job><parameters><parameter id=\"ModelName\">&x;</parameter></parameters></job>";
    static const char *const ext_dtd =
        "<?xml version=\"1.0\"?><!DOCTYPE job SYSTEM \"http://127.0.0.1:9/evil.dtd\">"
        "<job><parameters/></job>";
    char *buf;
    size_t len;
    (void)state;

    expect_refused_str(laughs, OTF_E_FORMAT, "DOCTYPE");
    expect_refused_str(xxe, OTF_E_FORMAT, "DOCTYPE");
    expect_refused_str(ext_dtd, OTF_E_FORMAT, "DOCTYPE");
    /* The same attacks in UTF-16 get past the byte scan and must be stopped by the parser
     * hooks. */
    buf = to_utf16le(laughs + strlen("<?xml version=\"1.0\"?>\n"), &len);
    expect_refused(buf, len, OTF_E_FORMAT, "DOCTYPE");
    free(buf);
    buf = to_utf16le(xxe + strlen("<?xml version=\"1.0\"?>"), &len);
    expect_refused(buf, len, OTF_E_FORMAT, "DOCTYPE");
    free(buf);
    buf = to_utf16le("<job><parameters><parameter id=\"ModelName\">demo</parameter>"
                     "</parameters></job>",
                     &len);
    {
        struct parsed r;
        parse(&r, buf, len); /* UTF-16 itself is fine */
        assert_int_equal(r.rc, OTF_OK);
        assert_string_equal(pval(&r, "model"), "demo");
        parsed_free(&r);
    }
    free(buf);

    /* An undeclared entity is not expanded and is an error. */
    expect_refused_str("<job><parameters><parameter id=\"a\">&x;</parameter></parameters></job>",
                       OTF_E_FORMAT, "well-formed");

    /* Empty, garbage, truncated, wrong root, wrong namespace, undeclared prefix. */
    expect_refused("", 0, OTF_E_FORMAT, "empty");
    expect_refused(NULL, 10, OTF_E_FORMAT, "empty");
    expect_refused_str("   ", OTF_E_FORMAT, NULL);
    expect_refused_str("not xml at all", OTF_E_FORMAT, "well-formed");
    expect_refused("\x00\x01\x02\xff\xfe", 5, OTF_E_FORMAT, NULL);
    expect_refused_str("<job><parameters><parameter id=\"a\">x</parameter>", OTF_E_FORMAT, "line");
    expect_refused_str("<html><body/></html>", OTF_E_FORMAT, "root element");
    expect_refused_str("<x:job xmlns:x=\"urn:other\"><x:parameters/></x:job>", OTF_E_FORMAT,
                       "root element");
    expect_refused_str("<uws:job><uws:parameters/></uws:job>", OTF_E_FORMAT, "namespace");

    /* Structure errors. */
    expect_refused_str("<job><parameters><parameter>x</parameter></parameters></job>", OTF_E_FORMAT,
                       "without an id");
    expect_refused_str("<job><parameters><parameter id=\"\">x</parameter></parameters></job>",
                       OTF_E_FORMAT, "without an id");
    expect_refused_str("<job><parameters><parameter id=\"a\"><b/></parameter></parameters></job>",
                       OTF_E_FORMAT, "elements");
    expect_refused_str("<job><parameters><foo/></parameters></job>", OTF_E_FORMAT, "foo");
    expect_refused_str("<job><parameters/><parameters/></job>", OTF_E_FORMAT, "more than one");
    expect_refused_str("<job><parameters><parameter id=\"ModelName\">a</parameter>"
                       "<parameter id=\"MODEL\">b</parameter></parameters></job>",
                       OTF_E_FORMAT, "twice");
    expect_refused_str("<job><parameters><parameter id=\"ROI_Width\">1</parameter>"
                       "<parameter id=\"ROI_Width\">2</parameter></parameters></job>",
                       OTF_E_FORMAT, "twice");
    expect_refused_str("<job><parameters><parameter id=\"ROI_Width\">1</parameter>"
                       "<parameter id=\"size\">2</parameter></parameters></job>",
                       OTF_E_FORMAT, "twice");
    /* Bad values: named, with the line. */
    expect_refused_str("<job>\n<parameters>\n<parameter id=\"RA\">400</parameter>"
                       "</parameters></job>",
                       OTF_E_INVAL, "line 3");
    expect_refused_str("<job><parameters><parameter id=\"ROI_Width\">wide</parameter>"
                       "</parameters></job>",
                       OTF_E_INVAL, "ROI_Width");
    expect_refused_str("<job><parameters><parameter id=\"ROI_Height\">-1</parameter>"
                       "</parameters></job>",
                       OTF_E_INVAL, "ROI_Height");
    expect_refused_str("<job><parameters><parameter id=\"ROI_Height\">200</parameter>"
                       "</parameters></job>",
                       OTF_E_INVAL, "size");
    expect_refused_str("<job><parameters><parameter id=\"Quantization\">FP64</parameter>"
                       "</parameters></job>",
                       OTF_E_INVAL, "precision");
    expect_refused_str("<job><parameters><parameter id=\"Image\">/etc/passwd</parameter>"
                       "</parameters></job>",
                       OTF_E_INVAL, "IMAGE_URL");
    expect_refused_str("<job><parameters><parameter id=\"bad id\">x</parameter>"
                       "</parameters></job>",
                       OTF_E_INVAL, "bad id");
    expect_refused_str("<job><parameters><parameter id=\"a\">&#1;</parameter>"
                       "</parameters></job>",
                       OTF_E_FORMAT, NULL); /* not an XML 1.0 character */
}

static void test_description_limits(void **state)
{
    struct otf_buf b;
    struct parsed r;
    (void)state;

    /* Too big: refused before parsing. */
    otf_buf_init(&b, 4u << 20);
    assert_int_equal(otf_buf_printf(&b, "<job><parameters>"), OTF_OK);
    while (b.len <= OTF_UWS_DESCRIPTION_MAX)
        assert_int_equal(otf_buf_printf(&b, "<!-- padding padding padding -->"), OTF_OK);
    assert_int_equal(otf_buf_printf(&b, "</parameters></job>"), OTF_OK);
    expect_refused(b.data, b.len, OTF_E_LIMIT, "bytes");
    otf_buf_cleanup(&b);

    /* Deep nesting, a little over our cap and far over libxml2's own. */
    for (int depth = OTF_UWS_DESCRIPTION_MAX_DEPTH + 1; depth <= 5000; depth *= 20) {
        otf_buf_init(&b, 1u << 20);
        otf_buf_printf(&b, "<job><parameters><parameter id=\"a\">x</parameter></parameters>");
        for (int i = 0; i < depth; i++)
            otf_buf_printf(&b, "<d>");
        for (int i = 0; i < depth; i++)
            otf_buf_printf(&b, "</d>");
        otf_buf_printf(&b, "</job>");
        expect_refused(b.data, b.len, OTF_E_FORMAT, NULL);
        otf_buf_cleanup(&b);
    }
    /* Nesting up to the cap is fine. */
    otf_buf_init(&b, 1u << 20);
    otf_buf_printf(&b, "<job><parameters><parameter id=\"a\">x</parameter></parameters>");
    for (int i = 0; i < OTF_UWS_DESCRIPTION_MAX_DEPTH - 1; i++)
        otf_buf_printf(&b, "<d>");
    for (int i = 0; i < OTF_UWS_DESCRIPTION_MAX_DEPTH - 1; i++)
        otf_buf_printf(&b, "</d>");
    otf_buf_printf(&b, "</job>");
    parse(&r, b.data, b.len);
    assert_int_equal(r.rc, OTF_OK);
    parsed_free(&r);
    otf_buf_cleanup(&b);

    /* Parameter count. */
    for (int n = OTF_UWS_DESCRIPTION_MAX_PARAMS; n <= OTF_UWS_DESCRIPTION_MAX_PARAMS + 1; n++) {
        otf_buf_init(&b, 1u << 20);
        otf_buf_printf(&b, "<job><parameters>");
        for (int i = 0; i < n; i++)
            otf_buf_printf(&b, "<parameter id=\"p%d\">%d</parameter>", i, i);
        otf_buf_printf(&b, "</parameters></job>");
        parse(&r, b.data, b.len);
        if (n <= OTF_UWS_DESCRIPTION_MAX_PARAMS) {
            assert_int_equal(r.rc, OTF_OK);
            assert_int_equal(r.n, (size_t)n);
        } else {
            assert_int_equal(r.rc, OTF_E_LIMIT);
            assert_null(r.p);
        }
        parsed_free(&r);
        otf_buf_cleanup(&b);
    }
}

/* ---- documents ---- */

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Schemas are local files; any attempt to load something else (a network URL) fails. */
static xmlParserInputPtr no_net_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    if (url && strncmp(url, "http:", 5) != 0 && strncmp(url, "https:", 6) != 0 &&
        strncmp(url, "ftp:", 4) != 0)
        return xmlNewInputFromFile(ctxt, url);
    (void)id;
    fail_msg("schema tried to load %s", url ? url : "(null)");
    return NULL;
}

/* Validates `doc` (len bytes) against tests/data/xsd/`xsd`; returns 0 when valid. */
static int validate(const char *xsd, const char *doc, size_t len)
{
    char *path = path_join(OTF_TEST_DATA_DIR, "xsd");
    char *file = path_join(path, xsd);
    xmlSchemaParserCtxtPtr pctxt;
    xmlSchemaPtr schema;
    xmlSchemaValidCtxtPtr vctxt;
    xmlDocPtr d;
    int rc;

    xmlSetExternalEntityLoader(no_net_loader);
    pctxt = xmlSchemaNewParserCtxt(file);
    assert_non_null(pctxt);
    schema = xmlSchemaParse(pctxt);
    if (!schema)
        fail_msg("cannot load schema %s", file);
    vctxt = xmlSchemaNewValidCtxt(schema);
    assert_non_null(vctxt);
    d = xmlReadMemory(doc, (int)len, "doc.xml", NULL, XML_PARSE_NONET);
    assert_non_null(d);
    rc = xmlSchemaValidateDoc(vctxt, d);
    xmlFreeDoc(d);
    xmlSchemaFreeValidCtxt(vctxt);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pctxt);
    free(file);
    free(path);
    return rc;
}

/* Compares with tests/golden/uws/`name` (or rewrites it under OTF_UPDATE_GOLDEN=1). */
static void check_golden(const char *name, const struct otf_buf *b)
{
    const char *src = getenv("OTF_SOURCE_DIR");
    char *dir = path_join(src ? src : ".", "tests/golden/uws");
    char *file = path_join(dir, name);
    struct otf_errbuf eb = {0};
    char *want = NULL;
    size_t want_len = 0;

    if (getenv("OTF_UPDATE_GOLDEN")) {
        assert_int_equal(otf_fs_write_atomic(file, b->data, b->len, &eb), OTF_OK);
    } else {
        if (otf_fs_read_file(file, 1 << 20, &want, &want_len, &eb) != OTF_OK)
            fail_msg("golden %s: %s", file, eb.msg);
        if (want_len != b->len || memcmp(want, b->data, b->len) != 0)
            fail_msg("%s differs from the output:\n%s", file, b->data);
    }
    free(want);
    free(file);
    free(dir);
}

/* The fixed job of the golden files: a COMPLETED job with every element present. */
static struct otf_job *golden_job(void)
{
    struct otf_job *j = otf_uws_job_new();
    strcpy(j->id, "a1b2c3");
    j->phase = OTF_PHASE_COMPLETED;
    j->creation_us = T0;
    j->start_us = T0 + 1000000;
    j->end_us = T0 + 9500000;
    j->quote_us = T0 + 30000000;
    j->exec_duration_s = 600;
    j->destruction_us = T0 + INT64_C(7) * 86400 * 1000000;
    otf_uws_job_set_owner(j, "alice");
    otf_uws_job_set_param(j, "MODEL", "demo", 0);
    otf_uws_job_set_param(j, "Precision", "FP16", 0);
    otf_uws_job_set_param(j, "ra", "150.1", 0);
    otf_uws_job_set_param(j, "dec", "2.2", 0);
    otf_uws_job_set_param(j, "size", "0.5", 0);
    otf_uws_job_set_param(j, "RUNID", "survey & <test>", 0);
    otf_uws_job_set_param(j, "image", BASE "/jobs/a1b2c3/inputs/image.fits", 1);
    otf_uws_job_set_result(j, "catalog", "application/x-votable+xml", 18234);
    otf_uws_job_set_result(j, "regions", "text/plain", 912);
    otf_uws_job_set_result(j, "provenance", "application/json", 2048);
    otf_uws_job_set_result(j, "preview", "image/png", 40960);
    j->patches_done = 16;
    j->patches_total = 16;
    otf_uws_job_set_stage(j, "done");
    j->attempts = 1;
    return j;
}

/* A fresh PENDING anonymous job: every nillable element nil. */
static struct otf_job *pending_job(void)
{
    struct otf_job *j = otf_uws_job_new();
    strcpy(j->id, "p0q1r2");
    j->creation_us = T0;
    otf_uws_job_set_param(j, "model", "demo", 0);
    return j;
}

static struct otf_job *error_job(void)
{
    struct otf_job *j = otf_uws_job_new();
    strcpy(j->id, "e9f8");
    j->phase = OTF_PHASE_ERROR;
    j->creation_us = T0;
    j->start_us = T0 + 2000000;
    j->end_us = T0 + 2500000;
    otf_uws_job_set_owner(j, "bob");
    otf_uws_job_set_param(j, "model", "demo", 0);
    otf_uws_job_set_error(j, "input is not a FITS file", 1);
    otf_uws_job_set_stage(j, "reading");
    j->attempts = 2;
    return j;
}

static void test_job_xml_golden(void **state)
{
    static const struct {
        struct otf_job *(*make)(void);
        const char *golden;
    } cases[] = {
        {golden_job, "job_completed.xml"},
        {pending_job, "job_pending.xml"},
        {error_job, "job_error.xml"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct otf_job *j = cases[i].make();
        struct otf_buf b;
        otf_buf_init(&b, 1 << 20);
        assert_int_equal(otf_uws_job_write_xml(j, BASE, &b), OTF_OK);
        check_golden(cases[i].golden, &b);
        if (validate("UWS-v1.1.xsd", b.data, b.len) != 0)
            fail_msg("%s is not valid UWS 1.1:\n%s", cases[i].golden, b.data);
        otf_buf_cleanup(&b);
        otf_uws_job_free(j);
    }
}

static void test_other_xml_golden(void **state)
{
    struct otf_job *jobs[3] = {golden_job(), pending_job(), error_job()};
    struct otf_buf b;
    (void)state;

    otf_buf_init(&b, 1 << 20);
    assert_int_equal(otf_uws_joblist_write_xml(jobs, 3, BASE, &b), OTF_OK);
    check_golden("jobs.xml", &b);
    assert_int_equal(validate("UWS-v1.1.xsd", b.data, b.len), 0);

    otf_buf_reset(&b);
    assert_int_equal(otf_uws_joblist_write_xml(NULL, 0, BASE, &b), OTF_OK);
    check_golden("jobs_empty.xml", &b);
    assert_int_equal(validate("UWS-v1.1.xsd", b.data, b.len), 0);

    otf_buf_reset(&b);
    assert_int_equal(otf_uws_parameters_write_xml(jobs[0], &b), OTF_OK);
    check_golden("parameters.xml", &b);
    assert_int_equal(validate("UWS-v1.1.xsd", b.data, b.len), 0);

    otf_buf_reset(&b);
    assert_int_equal(otf_uws_results_write_xml(jobs[0], BASE, &b), OTF_OK);
    check_golden("results.xml", &b);
    assert_int_equal(validate("UWS-v1.1.xsd", b.data, b.len), 0);

    otf_buf_reset(&b);
    assert_int_equal(otf_uws_results_write_xml(jobs[1], BASE, &b), OTF_OK);
    assert_int_equal(validate("UWS-v1.1.xsd", b.data, b.len), 0);

    otf_buf_reset(&b);
    assert_int_equal(
        otf_uws_error_write_votable("Uploaded file is not FITS: <bad> & \"worse\"", &b), OTF_OK);
    check_golden("error.vot", &b);
    assert_int_equal(validate("VOTable-v1.4.xsd", b.data, b.len), 0);

    otf_buf_cleanup(&b);
    for (int i = 0; i < 3; i++)
        otf_uws_job_free(jobs[i]);
}

/* The validator is not a rubber stamp: documents that break the schema are caught. */
static void test_schema_catches_errors(void **state)
{
    static const char *const bad[] = {
        /* startTime before creationTime: wrong order */
        "<uws:job xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" version=\"1.1\">"
        "<uws:jobId>a</uws:jobId><uws:ownerId>o</uws:ownerId><uws:phase>PENDING</uws:phase>"
        "<uws:startTime>2025-03-01T12:00:00Z</uws:startTime>"
        "<uws:creationTime>2025-03-01T12:00:00Z</uws:creationTime>"
        "<uws:endTime>2025-03-01T12:00:00Z</uws:endTime>"
        "<uws:executionDuration>0</uws:executionDuration>"
        "<uws:destruction>2025-03-01T12:00:00Z</uws:destruction><uws:results/></uws:job>",
        /* empty dateTime without xsi:nil */
        "<uws:job xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" version=\"1.1\">"
        "<uws:jobId>a</uws:jobId><uws:ownerId>o</uws:ownerId><uws:phase>PENDING</uws:phase>"
        "<uws:creationTime>2025-03-01T12:00:00Z</uws:creationTime><uws:startTime/>"
        "<uws:endTime>2025-03-01T12:00:00Z</uws:endTime>"
        "<uws:executionDuration>0</uws:executionDuration>"
        "<uws:destruction>2025-03-01T12:00:00Z</uws:destruction><uws:results/></uws:job>",
        /* lower-case phase */
        ("<uws:jobs xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\"><uws:jobref id=\"a\">"
         "<uws:phase>pending</uws:phase></uws:jobref></uws:jobs>"),
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(validate("UWS-v1.1.xsd", bad[i], strlen(bad[i])), 0);
}

/* Whatever bytes a job holds, the documents stay well-formed, valid and escaped. */
static void test_xml_hostile_values(void **state)
{
    struct otf_job *j = pending_job();
    struct otf_buf b;
    xmlDocPtr d;
    xmlNodePtr n;
    (void)state;
    otf_uws_job_set_param(j, "note", "</uws:parameter><evil/>&amp;\"'", 0);
    otf_uws_job_set_param(j, "bin", "a\x01\x02\xC3\x28z", 0);
    otf_uws_job_set_owner(j, "o\xFFwner");
    otf_uws_job_set_error(j, "oops <b>\x7F\x1B[31m", 0);
    otf_buf_init(&b, 1 << 20);
    assert_int_equal(otf_uws_job_write_xml(j, BASE, &b), OTF_OK);
    assert_int_equal(validate("UWS-v1.1.xsd", b.data, b.len), 0);
    assert_null(strstr(b.data, "<evil/>"));
    assert_non_null(strstr(b.data, "type=\"transient\""));
    /* Read back: the text is what was stored, bad bytes as U+FFFD. */
    d = xmlReadMemory(b.data, (int)b.len, "x.xml", NULL, XML_PARSE_NONET);
    assert_non_null(d);
    for (n = xmlDocGetRootElement(d)->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "parameters") == 0)
            break;
    }
    assert_non_null(n);
    {
        int seen = 0;
        for (xmlNodePtr p = n->children; p; p = p->next) {
            xmlChar *id, *v;
            if (p->type != XML_ELEMENT_NODE)
                continue;
            id = xmlGetProp(p, (const xmlChar *)"id");
            v = xmlNodeGetContent(p);
            if (strcmp((const char *)id, "note") == 0) {
                assert_string_equal((const char *)v, "</uws:parameter><evil/>&amp;\"'");
                seen++;
            } else if (strcmp((const char *)id, "bin") == 0) {
                assert_string_equal((const char *)v, "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD(z");
                seen++;
            }
            xmlFree(id);
            xmlFree(v);
        }
        assert_int_equal(seen, 2);
    }
    xmlFreeDoc(d);

    otf_buf_reset(&b);
    assert_int_equal(otf_uws_job_write_json(j, BASE, &b), OTF_OK);
    {
        json_error_t err;
        json_t *root = json_loadb(b.data, b.len, 0, &err);
        if (!root)
            fail_msg("JSON does not parse: %s\n%s", err.text, b.data);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(root, "parameters"), "note")),
            "</uws:parameter><evil/>&amp;\"'");
        json_decref(root);
    }
    otf_buf_cleanup(&b);
    otf_uws_job_free(j);
}

static void test_buffer_cap(void **state)
{
    struct otf_job *j = golden_job();
    struct otf_buf b;
    (void)state;
    /* Too small: OTF_E_LIMIT and the earlier content untouched. */
    otf_buf_init(&b, 300);
    assert_int_equal(otf_buf_printf(&b, "keep"), OTF_OK);
    assert_int_equal(otf_uws_job_write_xml(j, BASE, &b), OTF_E_LIMIT);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    assert_int_equal(otf_uws_job_write_json(j, BASE, &b), OTF_E_LIMIT);
    assert_string_equal(b.data, "keep");
    assert_int_equal(otf_uws_results_write_xml(j, BASE, &b), OTF_E_LIMIT);
    assert_string_equal(b.data, "keep");
    otf_buf_cleanup(&b);
    /* Appends after what is there. */
    otf_buf_init(&b, 1 << 20);
    assert_int_equal(otf_buf_printf(&b, "X"), OTF_OK);
    assert_int_equal(otf_uws_error_write_json("m", 400, &b), OTF_OK);
    assert_string_equal(b.data, "X{\"error\":\"m\",\"status\":400}");
    otf_buf_cleanup(&b);
    otf_uws_job_free(j);
}

/* ---- JSON ---- */

static json_t *load_json(const struct otf_buf *b)
{
    json_error_t err;
    json_t *root = json_loadb(b->data, b->len, 0, &err);
    if (!root)
        fail_msg("JSON does not parse: %s\n%s", err.text, b->data);
    return root;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

static void test_job_json(void **state)
{
    struct otf_job *j = golden_job(), *p = pending_job(), *e = error_job();
    struct otf_buf b;
    json_t *root, *v;
    char iso[OTF_TIME_ISO_LEN];
    (void)state;

    otf_buf_init(&b, 1 << 20);
    assert_int_equal(otf_uws_job_write_json(j, BASE, &b), OTF_OK);
    root = load_json(&b);
    assert_string_equal(jstr(root, "version"), "1.1");
    assert_string_equal(jstr(root, "jobId"), "a1b2c3");
    assert_string_equal(jstr(root, "href"), BASE "/jobs/a1b2c3");
    assert_string_equal(jstr(root, "runId"), "survey & <test>");
    assert_string_equal(jstr(root, "ownerId"), "alice");
    assert_string_equal(jstr(root, "phase"), "COMPLETED");
    otf_time_format_iso(j->creation_us, iso);
    assert_string_equal(jstr(root, "creationTime"), iso);
    assert_string_equal(jstr(root, "creationTime"), "2025-03-01T12:00:00.123Z");
    otf_time_format_iso(j->quote_us, iso);
    assert_string_equal(jstr(root, "quote"), iso);
    otf_time_format_iso(j->start_us, iso);
    assert_string_equal(jstr(root, "startTime"), iso);
    otf_time_format_iso(j->end_us, iso);
    assert_string_equal(jstr(root, "endTime"), iso);
    otf_time_format_iso(j->destruction_us, iso);
    assert_string_equal(jstr(root, "destruction"), iso);
    assert_int_equal(json_integer_value(json_object_get(root, "executionDuration")), 600);
    v = json_object_get(root, "parameters");
    assert_int_equal(json_object_size(v), j->n_params);
    for (size_t i = 0; i < j->n_params; i++)
        assert_string_equal(jstr(v, j->params[i].name), j->params[i].value);
    v = json_object_get(root, "results");
    assert_int_equal(json_array_size(v), j->n_results);
    for (size_t i = 0; i < j->n_results; i++) {
        json_t *r = json_array_get(v, i);
        char *href = otf_uws_result_url(BASE, j->id, j->results[i].id);
        assert_string_equal(jstr(r, "id"), j->results[i].id);
        assert_string_equal(jstr(r, "mimeType"), j->results[i].mime);
        assert_string_equal(jstr(r, "href"), href);
        assert_int_equal(json_integer_value(json_object_get(r, "size")), j->results[i].size_bytes);
        free(href);
    }
    assert_true(json_is_null(json_object_get(root, "errorSummary")));
    v = json_object_get(root, "jobInfo");
    assert_int_equal(json_integer_value(json_object_get(v, "patchesDone")), 16);
    assert_int_equal(json_integer_value(json_object_get(v, "patchesTotal")), 16);
    assert_int_equal(json_integer_value(json_object_get(v, "attempts")), 1);
    assert_string_equal(jstr(v, "stage"), "done");
    json_decref(root);

    /* Nil values are null. */
    otf_buf_reset(&b);
    assert_int_equal(otf_uws_job_write_json(p, BASE, &b), OTF_OK);
    root = load_json(&b);
    assert_string_equal(jstr(root, "phase"), "PENDING");
    for (const char *const *k = (const char *const[]){"runId", "ownerId", "quote", "startTime",
                                                      "endTime", "destruction", NULL};
         *k; k++) {
        v = json_object_get(root, *k);
        if (!json_is_null(v))
            fail_msg("%s should be null", *k);
    }
    assert_true(json_is_null(json_object_get(json_object_get(root, "jobInfo"), "stage")));
    assert_int_equal(json_array_size(json_object_get(root, "results")), 0);
    json_decref(root);

    /* errorSummary. */
    otf_buf_reset(&b);
    assert_int_equal(otf_uws_job_write_json(e, BASE, &b), OTF_OK);
    root = load_json(&b);
    v = json_object_get(root, "errorSummary");
    assert_string_equal(jstr(v, "type"), "fatal");
    assert_true(json_is_true(json_object_get(v, "hasDetail")));
    assert_string_equal(jstr(v, "message"), "input is not a FITS file");
    json_decref(root);

    otf_buf_cleanup(&b);
    otf_uws_job_free(j);
    otf_uws_job_free(p);
    otf_uws_job_free(e);
}

static void test_joblist_json(void **state)
{
    struct otf_job *jobs[2] = {golden_job(), pending_job()};
    struct otf_buf b;
    json_t *root, *arr;
    (void)state;
    otf_buf_init(&b, 1 << 20);
    assert_int_equal(otf_uws_joblist_write_json(jobs, 2, BASE, &b), OTF_OK);
    root = load_json(&b);
    assert_string_equal(jstr(root, "version"), "1.1");
    arr = json_object_get(root, "jobs");
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(jstr(json_array_get(arr, 0), "jobId"), "a1b2c3");
    assert_string_equal(jstr(json_array_get(arr, 0), "phase"), "COMPLETED");
    assert_string_equal(jstr(json_array_get(arr, 0), "runId"), "survey & <test>");
    assert_string_equal(jstr(json_array_get(arr, 0), "href"), BASE "/jobs/a1b2c3");
    assert_string_equal(jstr(json_array_get(arr, 0), "creationTime"), "2025-03-01T12:00:00.123Z");
    assert_string_equal(jstr(json_array_get(arr, 1), "phase"), "PENDING");
    assert_true(json_is_null(json_object_get(json_array_get(arr, 1), "ownerId")));
    json_decref(root);

    otf_buf_reset(&b);
    assert_int_equal(otf_uws_joblist_write_json(NULL, 0, BASE, &b), OTF_OK);
    root = load_json(&b);
    assert_int_equal(json_array_size(json_object_get(root, "jobs")), 0);
    json_decref(root);

    otf_buf_reset(&b);
    assert_int_equal(otf_uws_error_write_json("bad \"RA\"\n", 400, &b), OTF_OK);
    root = load_json(&b);
    assert_string_equal(jstr(root, "error"), "bad \"RA\"\n");
    assert_int_equal(json_integer_value(json_object_get(root, "status")), 400);
    json_decref(root);

    otf_buf_cleanup(&b);
    otf_uws_job_free(jobs[0]);
    otf_uws_job_free(jobs[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phase_names),
        cmocka_unit_test(test_phase_classes),
        cmocka_unit_test(test_phase_actions),
        cmocka_unit_test(test_phase_can_change),
        cmocka_unit_test(test_param_canonical),
        cmocka_unit_test(test_job_params),
        cmocka_unit_test(test_job_results_dup),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_precision),
        cmocka_unit_test(test_param_check),
        cmocka_unit_test(test_description_good),
        cmocka_unit_test(test_description_namespaces),
        cmocka_unit_test(test_description_hostile),
        cmocka_unit_test(test_description_limits),
        cmocka_unit_test(test_job_xml_golden),
        cmocka_unit_test(test_other_xml_golden),
        cmocka_unit_test(test_schema_catches_errors),
        cmocka_unit_test(test_xml_hostile_values),
        cmocka_unit_test(test_buffer_cap),
        cmocka_unit_test(test_job_json),
        cmocka_unit_test(test_joblist_json),
    };
    otf_uws_global_init();
    otf_log_setup(OTF_LOG_WARN, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
