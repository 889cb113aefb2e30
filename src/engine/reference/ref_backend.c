/* engine/reference: the "reference" backend — plain C loops over the layers with two
 * ping-pong activation buffers reserved for batch_max at prepare. Single-threaded and slow on
 * purpose: it is the oracle every other backend is tested against. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_backends.h"
#include "engine/reference/ref_int.h"

struct ref_state {
    struct otf_engine_prepare_params p;
    float *buf[2]; /* [batch_max * largest intermediate size] each */
    size_t buf_floats;
};

static int ref_supports(enum otf_engine_precision p, char *why, size_t why_len)
{
    if (p == OTF_ENGINE_PRECISION_FP32)
        return 1;
    if (why && why_len)
        snprintf(why, why_len, "the reference backend computes in fp32 only");
    return 0;
}

static void ref_free(void *state)
{
    struct ref_state *s = state;

    if (!s)
        return;
    otf_free(s->buf[0]);
    otf_free(s->buf[1]);
    free(s);
}

static enum otf_status ref_prepare(const struct otf_engine_prepare_params *p, void **state,
                                   struct otf_errbuf *eb)
{
    struct ref_state *s = otf_xcalloc(1, sizeof(*s));
    size_t largest = 1, bytes;

    if (p->precision != OTF_ENGINE_PRECISION_FP32) {
        free(s);
        return OTF_FAIL(eb, OTF_E_INVAL, "the reference backend computes in fp32 only");
    }
    s->p = *p;
    /* Intermediate outputs only: the last layer writes straight into the caller's buffer. */
    for (size_t i = 1; i < p->n_layers; i++)
        if (p->shapes[i].size > largest)
            largest = p->shapes[i].size;
    if (otf_mul_size(largest, (size_t)p->batch_max, &s->buf_floats) != 0 ||
        otf_mul_size(s->buf_floats, sizeof(float), &bytes) != 0) {
        free(s);
        return OTF_FAIL(eb, OTF_E_LIMIT, "activation buffers overflow");
    }
    s->buf[0] = otf_malloc(bytes);
    s->buf[1] = otf_malloc(bytes);
    if (!s->buf[0] || !s->buf[1]) {
        ref_free(s);
        return OTF_FAIL(eb, OTF_E_NOMEM, "cannot reserve 2 x %zu bytes of activations", bytes);
    }
    *state = s;
    return OTF_OK;
}

static enum otf_status ref_forward(void *state, const float *in, int n, float *out,
                                   enum otf_engine_stage stage, struct otf_errbuf *eb)
{
    struct ref_state *s = state;
    const struct otf_engine_prepare_params *p = &s->p;
    const float *x = in;

    (void)eb;
    for (size_t i = 0; i < p->n_layers; i++) {
        const struct otf_model_layer *L = &p->net->layers[i];
        const struct otf_model_layer *prev = i ? &p->net->layers[i - 1] : NULL;
        const struct otf_model_shape *ish = &p->shapes[i], *osh = &p->shapes[i + 1];
        int last = i + 1 == p->n_layers;
        float *y = last ? out : s->buf[i % 2];
        float bias = i == 0 ? p->input_bias : L->bias_value;

        switch (L->kind) {
        case OTF_MODEL_LAYER_CONV:
            if (prev && prev->kind == OTF_MODEL_LAYER_DENSE) {
                /* the dense output read as prev_size x prev_depth (its bias node ignored) */
                struct otf_model_shape v = {L->conv.prev_size[0], L->conv.prev_size[1],
                                            L->conv.prev_size[2], L->conv.prev_depth, 0};
                v.size = (size_t)v.w * v.h * v.d * v.c;
                otf_engine_ref_conv(L, bias, x, ish->size, &v, y, osh, n);
            } else {
                otf_engine_ref_conv(L, bias, x, ish->size, ish, y, osh, n);
            }
            break;
        case OTF_MODEL_LAYER_POOL:
            otf_engine_ref_pool(L, x, ish, y, osh, n);
            break;
        case OTF_MODEL_LAYER_NORM:
            otf_engine_ref_norm(L, x, ish, y, n);
            break;
        case OTF_MODEL_LAYER_LRN:
            otf_engine_ref_lrn(L, x, ish, y, n);
            break;
        case OTF_MODEL_LAYER_DENSE:
            otf_engine_ref_dense(L, prev && prev->kind == OTF_MODEL_LAYER_DENSE, bias, x, ish->size,
                                 y, n);
            break;
        }
        /* The norm activation follows the CUDA (trained) behaviour (reference §6.3). */
        if (!last || stage != OTF_ENGINE_STAGE_RAW)
            otf_engine_activate(L, osh, y, n);
        x = y;
    }
    return OTF_OK;
}

static size_t ref_memory_bytes(const void *state)
{
    const struct ref_state *s = state;
    return 2 * s->buf_floats * sizeof(float);
}

const struct otf_engine_backend otf_engine_backend_reference = {
    .name = "reference",
    .description = "plain C loops, fp32, single thread (the test oracle)",
    .supports = ref_supports,
    .prepare = ref_prepare,
    .forward = ref_forward,
    .free = ref_free,
    .memory_bytes = ref_memory_bytes,
};
