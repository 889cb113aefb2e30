/* engine: CIANNA's activations (reference §6.6), shared by every backend through backend.h.
 * Float maths with expf as CIANNA does; sums of the softmax in double. */
#include <math.h>

#include "engine/backend.h"

static void logistic(float *v, size_t n, float sat, float beta)
{
    for (size_t i = 0; i < n; i++) {
        float t = -beta * v[i];
        if (t > sat)
            t = sat;
        v[i] = 1.0f / (1.0f + expf(t));
    }
}

static void softmax(float *v, size_t n)
{
    float vmax = v[0];
    double sum = 0.0;

    for (size_t i = 1; i < n; i++)
        if (v[i] > vmax)
            vmax = v[i];
    for (size_t i = 0; i < n; i++) {
        v[i] = expf(v[i] - vmax);
        sum += v[i];
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(v[i] / sum);
}

void otf_engine_activate(const struct otf_model_layer *L, const struct otf_model_shape *shape,
                         float *data, int n)
{
    const struct otf_model_activ *a = &L->activ;
    int is_dense = L->kind == OTF_MODEL_LAYER_DENSE;
    /* A dense output ends with the bias node, which the activation does not touch. */
    size_t m = is_dense ? (size_t)L->dense.nb_neurons : shape->size;

    if (a->kind == OTF_MODEL_ACTIV_YOLO) {
        otf_engine_yolo_activate(&L->yolo, shape, data, n);
        return;
    }
    for (int b = 0; b < n; b++) {
        float *v = data + (size_t)b * shape->size;
        switch (a->kind) {
        case OTF_MODEL_ACTIV_LIN:
            break;
        case OTF_MODEL_ACTIV_RELU:
            for (size_t i = 0; i < m; i++)
                v[i] = otf_engine_relu(v[i], a->relu_sat, a->relu_leak);
            break;
        case OTF_MODEL_ACTIV_LOGI:
            logistic(v, m, a->logi_sat, a->logi_beta);
            break;
        case OTF_MODEL_ACTIV_SMAX:
            /* dense: over the N outputs; conv/pool: over the whole image volume (§6.6) */
            softmax(v, m);
            break;
        case OTF_MODEL_ACTIV_YOLO:
            break;
        }
        /* The bias node is zeroed after RELU, LOGI and SMAX and kept after LIN (§6.5). */
        if (is_dense && a->kind != OTF_MODEL_ACTIV_LIN)
            v[m] = 0.0f;
    }
}
