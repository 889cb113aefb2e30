/* engine: the YOLO output layer of CIANNA (reference §7): the activation (sigmoid parts clip
 * -slope*x, size and parameter parts stay linear) and the decode into box corners in input
 * pixels. Shared by every backend, so every backend decodes identically. */
#include <math.h>

#include "engine/engine.h"

/* clamp as CIANNA writes it: if (v > hi) v = hi; else if (v < lo) v = lo; */
static float clampf(float v, float lo, float hi)
{
    if (v > hi)
        v = hi;
    else if (v < lo)
        v = lo;
    return v;
}

static float sig(float x, const float sm[3])
{
    float t = clampf(-sm[OTF_MODEL_SM_SLOPE] * x, sm[OTF_MODEL_SM_FMIN], sm[OTF_MODEL_SM_FMAX]);
    return 1.0f / (1.0f + expf(t));
}

static float lin(float x, const float sm[3])
{
    return clampf(sm[OTF_MODEL_SM_SLOPE] * x, sm[OTF_MODEL_SM_FMIN], sm[OTF_MODEL_SM_FMAX]);
}

void otf_engine_yolo_activate(const struct otf_model_yolo *y, const struct otf_model_shape *grid,
                              float *data, int n)
{
    size_t cells = (size_t)grid->w * grid->h * grid->d;
    int per = 8 + y->nb_class + y->nb_param;

    for (int b = 0; b < n; b++) {
        float *img = data + (size_t)b * grid->size;
        for (int box = 0; box < y->nb_box; box++) {
            float *col = img + (size_t)box * per * cells; /* column k at col + k*cells */
            for (size_t p = 0; p < cells; p++) {
                for (int k = 0; k < 3; k++) {
                    float *v = &col[k * cells + p];
                    *v = y->fit_dim > k ? sig(*v, y->sm[OTF_MODEL_YOLO_POS]) : 0.5f;
                }
                for (int k = 3; k < 6; k++) {
                    float *v = &col[k * cells + p];
                    *v = y->fit_dim > k - 3 ? lin(*v, y->sm[OTF_MODEL_YOLO_SIZE]) : 0.0f;
                }
                col[6 * cells + p] = sig(col[6 * cells + p], y->sm[OTF_MODEL_YOLO_PROB]);
                col[7 * cells + p] = sig(col[7 * cells + p], y->sm[OTF_MODEL_YOLO_OBJ]);
                if (y->class_softmax && y->nb_class > 0) {
                    float vmax = col[8 * cells + p];
                    double sum = 0.0;
                    for (int c = 1; c < y->nb_class; c++)
                        if (col[(8 + c) * cells + p] > vmax)
                            vmax = col[(8 + c) * cells + p];
                    for (int c = 0; c < y->nb_class; c++) {
                        float *v = &col[(8 + c) * cells + p];
                        *v = expf(*v - vmax);
                        sum += *v;
                    }
                    for (int c = 0; c < y->nb_class; c++)
                        col[(8 + c) * cells + p] = (float)(col[(8 + c) * cells + p] / sum);
                } else {
                    for (int c = 0; c < y->nb_class; c++)
                        col[(8 + c) * cells + p] =
                            sig(col[(8 + c) * cells + p], y->sm[OTF_MODEL_YOLO_CLASS]);
                }
                for (int q = 0; q < y->nb_param; q++) {
                    float *v = &col[(8 + y->nb_class + q) * cells + p];
                    *v = lin(*v, y->sm[OTF_MODEL_YOLO_PARAM]);
                }
            }
        }
    }
}

void otf_engine_yolo_decode(const struct otf_model_yolo *y, const struct otf_model_shape *grid,
                            int in_w, int in_h, int in_d, float *data, int n)
{
    size_t cells = (size_t)grid->w * grid->h * grid->d;
    int per = 8 + y->nb_class + y->nb_param;
    /* integer division of the init dims by the grid (reference §7.3, quirk 7) */
    float cs[3] = {(float)(in_w / grid->w), (float)(in_h / grid->h), (float)(in_d / grid->d)};

    for (int b = 0; b < n; b++) {
        float *img = data + (size_t)b * grid->size;
        for (int box = 0; box < y->nb_box; box++) {
            float *col = img + (size_t)box * per * cells;
            size_t p = 0;
            for (int gz = 0; gz < grid->d; gz++)
                for (int gy = 0; gy < grid->h; gy++)
                    for (int gx = 0; gx < grid->w; gx++, p++) {
                        int g[3] = {gx, gy, gz};
                        float a[6];
                        for (int k = 0; k < 6; k++)
                            a[k] = col[k * cells + p];
                        for (int k = 0; k < 3; k++) {
                            float l = (float)g[k] * cs[k];
                            float hsz = 0.5f * y->priors[k][box] * expf(a[k + 3]);
                            l += a[k] * cs[k];
                            col[k * cells + p] = l - hsz;
                            col[(k + 3) * cells + p] = l + hsz;
                        }
                    }
        }
    }
}
