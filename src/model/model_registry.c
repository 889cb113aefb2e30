/* model: import of the original CIANNA OTF registry file CIANNA_models.xml, in its two known
 * shapes — <CIANNAModels><Model id=".."><Key>value</Key>..</Model>..</CIANNAModels>, and a
 * uws:job whose <uws:parameter id="Key">value</uws:parameter> describe one model. Both use the
 * same keys; the mapping to struct otf_model_manifest is in docs/formats/model-manifest.md. */
#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_int.h"

#define REG_MAX_BYTES ((size_t)4 << 20)
#define REG_MAX_KEYS  128

struct kv {
    char *key[REG_MAX_KEYS];
    char *val[REG_MAX_KEYS];
    int n;
};

/* Trims blanks and one pair of surrounding double quotes ("256x256x1x1" in old files). */
static char *clean(const xmlChar *s)
{
    const char *p = (const char *)s;
    size_t n;

    while (*p && isspace((unsigned char)*p))
        p++;
    n = strlen(p);
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p++;
        n -= 2;
    }
    return otf_xstrndup(p, n);
}

static void kv_add(struct kv *kv, const char *key, const xmlChar *text)
{
    if (kv->n >= REG_MAX_KEYS)
        return;
    kv->key[kv->n] = otf_xstrdup(key);
    kv->val[kv->n] = clean(text ? text : (const xmlChar *)"");
    kv->n++;
}

static void kv_clear(struct kv *kv)
{
    for (int i = 0; i < kv->n; i++) {
        free(kv->key[i]);
        free(kv->val[i]);
    }
    kv->n = 0;
}

static const char *kv_get(const struct kv *kv, const char *key)
{
    for (int i = 0; i < kv->n; i++)
        if (strcmp(kv->key[i], key) == 0)
            return kv->val[i];
    return NULL;
}

static int has_element_child(const xmlNode *n)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return 1;
    return 0;
}

/* Element children of a <Model> (nested <TrainingDatasets> children become
 * TrainingDatasets.<Name>). */
static void collect_children(xmlNode *parent, const char *prefix, struct kv *kv)
{
    for (xmlNode *c = parent->children; c; c = c->next) {
        char key[160];
        if (c->type != XML_ELEMENT_NODE)
            continue;
        snprintf(key, sizeof(key), "%s%s", prefix, (const char *)c->name);
        if (has_element_child(c)) {
            char sub[168];
            snprintf(sub, sizeof(sub), "%s.", key);
            collect_children(c, sub, kv);
        } else {
            xmlChar *t = xmlNodeGetContent(c);
            kv_add(kv, key, t);
            xmlFree(t);
        }
    }
}

static void collect_uws(xmlNode *job, struct kv *kv)
{
    for (xmlNode *c = job->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "parameters") != 0)
            continue;
        for (xmlNode *p = c->children; p; p = p->next) {
            xmlChar *id, *t;
            if (p->type != XML_ELEMENT_NODE || strcmp((const char *)p->name, "parameter") != 0)
                continue;
            id = xmlGetProp(p, (const xmlChar *)"id");
            t = xmlNodeGetContent(p);
            if (id)
                kv_add(kv, (const char *)id, t);
            xmlFree(id);
            xmlFree(t);
        }
    }
}

static int dims4(const char *s, int *w, int *h, int *c)
{
    int d;
    return s && sscanf(s, "%dx%dx%dx%d", w, h, &d, c) == 4 && *w > 0 && *h > 0 && *c > 0 &&
           *w <= OTF_MODEL_MAX_DIM && *h <= OTF_MODEL_MAX_DIM && *c <= OTF_MODEL_MAX_DIM;
}

static long numlist(const char *s, double *out, long max)
{
    char *dup, *save = NULL, *tok;
    long n = 0;

    if (!s)
        return 0;
    dup = otf_xstrdup(s);
    for (tok = strtok_r(dup, ", \t\n", &save); tok; tok = strtok_r(NULL, ", \t\n", &save)) {
        if (n >= max || otf_str_to_double(tok, &out[n]) != OTF_OK) {
            n = -1;
            break;
        }
        n++;
    }
    free(dup);
    return n;
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Builds a manifest through the INI parser, so an imported model obeys the same checks. */
static enum otf_status to_manifest(const char *id_in, const struct kv *kv,
                                   struct otf_model_manifest **out, struct otf_errbuf *eb)
{
    struct otf_buf b;
    const char *v, *file;
    char id[128], *text = NULL;
    int w, h, c;
    enum otf_status rc;
    double thr[OTF_MODEL_MAX_BOXES], cls[OTF_MODEL_MAX_BOXES];
    long n_thr, n_cls;
    int nb_box = 0;

    file = kv_get(kv, "CheckpointPath");
    if (!file || !*file)
        file = kv_get(kv, "Name");
    if (!file || !*file)
        file = kv_get(kv, "ModelName");
    if (!file || !*file || !otf_str_is_safe_name(base(file)))
        return OTF_FAIL(eb, OTF_E_FORMAT, "model %s: no usable CheckpointPath/Name",
                        id_in ? id_in : "?");
    if (id_in) {
        snprintf(id, sizeof(id), "%s", id_in);
    } else {
        /* uws variant: the weight file name without its extension */
        snprintf(id, sizeof(id), "%s", base(file));
        if (strrchr(id, '.'))
            *strrchr(id, '.') = '\0';
    }
    if (!dims4(kv_get(kv, "OriginalInputDim"), &w, &h, &c))
        return OTF_FAIL(eb, OTF_E_FORMAT, "model %s: OriginalInputDim must be WxHxDxC", id);

    otf_buf_init(&b, OTF_MODEL_MANIFEST_MAX);
    otf_buf_printf(&b, "[model]\n");
    v = kv_get(kv, "Comments");
    otf_buf_printf(&b, "description = %s%s%s\n", v ? v : "", v && *v ? " " : "",
                   kv_get(kv, "ModelURL")   ? kv_get(kv, "ModelURL")
                   : kv_get(kv, "URL_Link") ? kv_get(kv, "URL_Link")
                                            : "");
    v = kv_get(kv, "TrainingDatasetName");
    if (!v)
        v = kv_get(kv, "TrainingDatasets.Name");
    if (v) {
        const char *d = kv_get(kv, "TrainingDatasetDescription");
        if (!d)
            d = kv_get(kv, "TrainingDatasets.Description");
        otf_buf_printf(&b, "training_data = %s%s%s\n", v, d ? ": " : "", d ? d : "");
    }
    otf_buf_printf(&b, "weights = %s\n", base(file));
    /* CIANNA quantisation names -> our precisions; fp32 (the saved master weights) always. */
    v = kv_get(kv, "InferenceQuantization");
    otf_buf_printf(&b, "precisions = fp32%s%s", v && strstr(v, "BF16") ? ", bf16" : "",
                   v && strstr(v, "FP16") ? ", fp16" : "");
    otf_buf_printf(&b, "\n[input]\nchannels = %d\ntrain_patch = %dx%d\ninfer_patch = %dx%d\n", c, w,
                   h, w, h);
    v = kv_get(kv, "InferencePatchShift");
    if (v) {
        int64_t shift;
        if (otf_str_to_i64(v, &shift) != OTF_OK || shift < 1 || shift > w || shift > h) {
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "model %s: bad InferencePatchShift '%s'", id, v);
            goto out;
        }
        otf_buf_printf(&b, "overlap = %d\n", (int)(w - shift));
    }
    v = kv_get(kv, "BiasInit");
    if (v)
        otf_buf_printf(&b, "input_bias = %s\n", v);
    v = kv_get(kv, "DataNormalizationType");
    if (v && strstr(v, "tanh"))
        /* the CIANNA OTF client defaults (min_pix, max_pix) with the SDC1 gain */
        otf_buf_printf(&b, "[normalisation]\ngain = 3\nbounds = fixed\nlo = 4e-7\nhi = 4e-5\n");
    otf_buf_printf(&b, "[yolo]\n");
    v = kv_get(kv, "YOLOBoxCount");
    if (v) {
        int64_t x;
        if (otf_str_to_i64(v, &x) != OTF_OK || x < 1 || x > OTF_MODEL_MAX_BOXES) {
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "model %s: bad YOLOBoxCount '%s'", id, v);
            goto out;
        }
        nb_box = (int)x;
        otf_buf_printf(&b, "nb_box = %d\n", nb_box);
    }
    if ((v = kv_get(kv, "YOLOParamCount")))
        otf_buf_printf(&b, "nb_param = %s\n", v);
    if ((v = kv_get(kv, "MaxNbObjPerImage")))
        otf_buf_printf(&b, "max_obj = %s\n", v);
    otf_buf_printf(&b, "[postprocess]\n");
    /* ObjThresholds are per prior class; BoxPriorClass maps each box to its class. */
    n_thr = numlist(kv_get(kv, "ObjThresholds"), thr, OTF_MODEL_MAX_BOXES);
    n_cls = numlist(kv_get(kv, "BoxPriorClass"), cls, OTF_MODEL_MAX_BOXES);
    if (n_thr > 0 && n_cls > 0 && nb_box && n_cls == nb_box) {
        int ok = 1;
        for (long i = 0; i < n_cls; i++)
            if (cls[i] < 0 || cls[i] >= (double)n_thr || cls[i] != (double)(long)cls[i])
                ok = 0;
        if (ok) {
            otf_buf_printf(&b, "obj_threshold = ");
            for (long i = 0; i < n_cls; i++)
                otf_buf_printf(&b, "%s%.17g", i ? ", " : "", thr[(long)cls[i]]);
            otf_buf_printf(&b, "\n");
        }
    } else if (n_thr == 1 || (nb_box && n_thr == nb_box)) {
        otf_buf_printf(&b, "obj_threshold = %s\n", kv_get(kv, "ObjThresholds"));
    }
    if (numlist(kv_get(kv, "FirstNMSThresholds"), thr, OTF_MODEL_MAX_BOXES) > 0)
        otf_buf_printf(&b, "nms_diou_first = %.17g\n", thr[0]);
    if ((v = kv_get(kv, "SecondNMSThreshold")))
        otf_buf_printf(&b, "nms_diou_second = %s\n", v);
    text = otf_buf_steal(&b, NULL);
    rc = otf_model_manifest_parse(text, strlen(text), id, NULL, out, eb);
    if (rc != OTF_OK && eb)
        otf_errbuf_prefix(eb, "registry model %s", id);
out:
    free(text);
    otf_buf_cleanup(&b);
    return rc;
}

enum otf_status otf_model_registry_read_xml(const char *path, struct otf_model_manifest ***out,
                                            size_t *n_out, struct otf_errbuf *eb)
{
    struct otf_model_manifest **ms = NULL;
    size_t n = 0;
    char *text = NULL;
    size_t len = 0;
    xmlDoc *doc = NULL;
    xmlNode *root;
    struct kv kv = {0};
    enum otf_status rc = otf_fs_read_file(path, REG_MAX_BYTES, &text, &len, eb);

    if (rc != OTF_OK)
        return rc;
    /* no network, no entity expansion, no DTD loading: the file is untrusted */
    doc = xmlReadMemory(text, (int)len, path, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc || !(root = xmlDocGetRootElement(doc))) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "%s: not well-formed XML", path);
        goto out;
    }
    if (strcmp((const char *)root->name, "job") == 0) {
        struct otf_model_manifest *m = NULL;
        collect_uws(root, &kv);
        rc = to_manifest(kv_get(&kv, "ModelId"), &kv, &m, eb);
        kv_clear(&kv);
        if (rc != OTF_OK)
            goto out;
        ms = otf_xcalloc(1, sizeof(*ms));
        ms[n++] = m;
    } else {
        for (xmlNode *c = root->children; c; c = c->next) {
            struct otf_model_manifest *m = NULL;
            xmlChar *id;
            if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "Model") != 0)
                continue;
            if (n >= OTF_MODEL_MAX_MODELS) {
                rc = OTF_FAIL(eb, OTF_E_LIMIT, "%s: more than %d models", path,
                              OTF_MODEL_MAX_MODELS);
                goto out;
            }
            id = xmlGetProp(c, (const xmlChar *)"id");
            collect_children(c, "", &kv);
            if (!id || !otf_str_is_safe_name((const char *)id))
                rc = OTF_FAIL(eb, OTF_E_FORMAT, "%s: <Model> without a safe id attribute", path);
            else
                rc = to_manifest((const char *)id, &kv, &m, eb);
            xmlFree(id);
            kv_clear(&kv);
            if (rc != OTF_OK)
                goto out;
            ms = otf_xrealloc(ms, (n + 1) * sizeof(*ms));
            ms[n++] = m;
        }
        if (n == 0) {
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "%s: no <Model> entries", path);
            goto out;
        }
    }
    *out = ms;
    *n_out = n;
    ms = NULL;
    n = 0;
out:
    kv_clear(&kv);
    otf_model_manifests_free(ms, n);
    xmlFreeDoc(doc);
    free(text);
    return rc;
}
