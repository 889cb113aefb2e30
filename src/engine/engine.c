/* engine: the backend-independent core — argument and shape checks, backend selection through
 * the registry, the once-per-engine prepare (memory for batch_max) and the YOLO decode after
 * the backend's forward. Invariant: a backend only ever sees checked shapes and 1..batch_max
 * images. */
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BATCH 65536

struct otf_engine {
    const struct otf_model_net *net; /* borrowed */
    const struct otf_engine_backend *be;
    void *state;                       /* the backend's, freed with be->free */
    struct otf_engine_params p;        /* resolved copy; p.backend points at be->name */
    size_t n_layers;                   /* layers run */
    struct otf_model_shape *shapes;    /* [n_layers+1] */
    const struct otf_model_yolo *yolo; /* the last layer run is YOLO, else NULL */
};

void otf_engine_params_init(struct otf_engine_params *p)
{
    memset(p, 0, sizeof(*p));
    p->backend = "auto";
    p->precision = OTF_ENGINE_PRECISION_FP32;
    p->batch_max = 1;
    p->in_w = 256;
    p->in_h = 256;
    p->in_d = 1;
    p->n_threads = 0;
    p->input_bias = 0.1f;
    p->winograd = 1;
    p->n_layers = 0;
}

static const char *const precision_names[] = {"fp32", "bf16", "fp16", "int8"};
static const char *const stage_names[] = {"raw", "activated", "decoded"};

enum otf_status otf_engine_precision_parse(const char *s, enum otf_engine_precision *out)
{
    for (size_t i = 0; i < sizeof(precision_names) / sizeof(precision_names[0]); i++)
        if (otf_str_ieq(s, precision_names[i])) {
            *out = (enum otf_engine_precision)i;
            return OTF_OK;
        }
    return OTF_E_INVAL;
}

const char *otf_engine_precision_name(enum otf_engine_precision p)
{
    if ((size_t)p < sizeof(precision_names) / sizeof(precision_names[0]))
        return precision_names[p];
    return "?";
}

enum otf_status otf_engine_stage_parse(const char *s, enum otf_engine_stage *out)
{
    for (size_t i = 0; i < sizeof(stage_names) / sizeof(stage_names[0]); i++)
        if (otf_str_ieq(s, stage_names[i])) {
            *out = (enum otf_engine_stage)i;
            return OTF_OK;
        }
    return OTF_E_INVAL;
}

const char *otf_engine_stage_name(enum otf_engine_stage s)
{
    if ((size_t)s < sizeof(stage_names) / sizeof(stage_names[0]))
        return stage_names[s];
    return "?";
}

enum otf_status otf_engine_new(const struct otf_model_net *net, const struct otf_engine_params *p,
                               struct otf_engine **out, struct otf_errbuf *eb)
{
    struct otf_engine_prepare_params pp;
    const struct otf_engine_backend *be;
    struct otf_engine *e = NULL;
    const char *name = p->backend ? p->backend : "auto";
    char why[256] = "";
    enum otf_status rc;

    OTF_ASSERT(net && p && out);
    be = otf_engine_backend_find(name);
    if (!be)
        return OTF_FAIL(eb, OTF_E_NOTFOUND, "no engine backend \"%s\" in this build", name);
    if (p->batch_max < 1 || p->batch_max > MAX_BATCH)
        return OTF_FAIL(eb, OTF_E_INVAL, "batch_max %d not in [1, %d]", p->batch_max, MAX_BATCH);
    if (p->n_layers > net->n_layers)
        return OTF_FAIL(eb, OTF_E_INVAL, "%zu layers asked, the net has %zu", p->n_layers,
                        net->n_layers);
    if (p->n_threads < 0)
        return OTF_FAIL(eb, OTF_E_INVAL, "negative thread count");
    if (!be->supports(p->precision, why, sizeof(why)))
        return OTF_FAIL(eb, OTF_E_INVAL, "backend %s cannot run %s: %s", be->name,
                        otf_engine_precision_name(p->precision), *why ? why : "not supported");

    e = otf_xcalloc(1, sizeof(*e));
    e->net = net;
    e->be = be;
    e->p = *p;
    e->p.backend = be->name;
    if (e->p.in_d < 1)
        e->p.in_d = 1;
    if (e->p.n_threads == 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        e->p.n_threads = nc > 0 ? (int)nc : 1;
    }
    e->n_layers = p->n_layers ? p->n_layers : net->n_layers;
    e->shapes = otf_xcalloc(e->n_layers + 1, sizeof(*e->shapes));
    rc = otf_model_infer_shapes_prefix(net, e->n_layers, e->p.in_w, e->p.in_h, e->p.in_d, e->shapes,
                                       eb);
    if (rc != OTF_OK) {
        if (eb)
            otf_errbuf_prefix(eb, "input %dx%d does not fit the net", e->p.in_w, e->p.in_h);
        goto out;
    }
    if (net->layers[e->n_layers - 1].has_yolo)
        e->yolo = &net->layers[e->n_layers - 1].yolo;

    memset(&pp, 0, sizeof(pp));
    pp.net = net;
    pp.n_layers = e->n_layers;
    pp.shapes = e->shapes;
    pp.batch_max = e->p.batch_max;
    pp.precision = e->p.precision;
    pp.n_threads = e->p.n_threads;
    pp.input_bias = e->p.input_bias;
    pp.winograd = e->p.winograd;
    rc = be->prepare(&pp, &e->state, eb);
    if (rc != OTF_OK && eb)
        otf_errbuf_prefix(eb, "backend %s", be->name);
out:
    if (rc != OTF_OK) {
        free(e->shapes);
        free(e);
        return rc;
    }
    *out = e;
    return OTF_OK;
}

enum otf_status otf_engine_forward(struct otf_engine *eng, const float *in, int n, float *out,
                                   enum otf_engine_stage stage, struct otf_errbuf *eb)
{
    enum otf_status rc;

    if (n < 1 || n > eng->p.batch_max)
        return OTF_FAIL(eb, OTF_E_INVAL, "%d images for an engine of batch_max %d", n,
                        eng->p.batch_max);
    if (!in || !out)
        return OTF_FAIL(eb, OTF_E_INVAL, "NULL input or output");
    if ((unsigned)stage > OTF_ENGINE_STAGE_DECODED)
        return OTF_FAIL(eb, OTF_E_INVAL, "bad stage %d", (int)stage);
    /* A partial batch runs as power-of-two pieces, largest first (13 = 8 + 4 + 1): a backend
     * that builds per-batch-size state (the cpu backend's plans: oneDNN primitives, their JIT
     * code, Winograd scratchpads) then sees at most 1 + log2(batch_max) sizes, instead of up
     * to batch_max of them (each new one cost 10-680 ms in the middle of a server's batch). */
    for (int done = 0; done < n;) {
        int k = n - done;
        if (k != eng->p.batch_max)
            while (k & (k - 1))
                k &= k - 1; /* the highest set bit */
        rc = eng->be->forward(
            eng->state, in + (size_t)done * eng->shapes[0].size, k,
            out + (size_t)done * eng->shapes[eng->n_layers].size,
            stage == OTF_ENGINE_STAGE_DECODED ? OTF_ENGINE_STAGE_ACTIVATED : stage, eb);
        if (rc != OTF_OK)
            return rc;
        done += k;
    }
    if (stage == OTF_ENGINE_STAGE_DECODED && eng->yolo)
        otf_engine_yolo_decode(eng->yolo, &eng->shapes[eng->n_layers], eng->p.in_w, eng->p.in_h,
                               eng->p.in_d, out, n);
    return OTF_OK;
}

size_t otf_engine_input_size(const struct otf_engine *eng)
{
    return eng->shapes[0].size;
}

size_t otf_engine_output_size(const struct otf_engine *eng)
{
    return eng->shapes[eng->n_layers].size;
}

struct otf_model_shape otf_engine_output_shape(const struct otf_engine *eng)
{
    return eng->shapes[eng->n_layers];
}

const char *otf_engine_backend_name(const struct otf_engine *eng)
{
    return eng->be->name;
}

int otf_engine_winograd_layers(const struct otf_engine *eng)
{
    return eng->be->winograd_layers ? eng->be->winograd_layers(eng->state) : 0;
}

size_t otf_engine_memory_bytes(const struct otf_engine *eng)
{
    return eng->be->memory_bytes ? eng->be->memory_bytes(eng->state) : 0;
}

void otf_engine_free(struct otf_engine *eng)
{
    if (!eng)
        return;
    eng->be->free(eng->state);
    free(eng->shapes);
    free(eng);
}
