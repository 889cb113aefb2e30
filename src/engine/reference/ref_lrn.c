/* engine/reference: local response normalisation across channels (reference §6.4, CUDA-only in
 * CIANNA): y = x / (k + alpha*sum/range)^beta over channels c-range/2 .. c+range/2. */
#include <math.h>

#include "engine/reference/ref_int.h"

void otf_engine_ref_lrn(const struct otf_model_layer *L, const float *in,
                        const struct otf_model_shape *in_sh, float *out, int n)
{
    const struct otf_model_lrn *R = &L->lrn;
    const size_t plane = (size_t)in_sh->w * in_sh->h * in_sh->d;
    const int C = in_sh->c, half = R->range / 2;

    for (int b = 0; b < n; b++) {
        const float *x = in + (size_t)b * in_sh->size;
        float *y = out + (size_t)b * in_sh->size;
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < plane; p++) {
                int lo = c - half < 0 ? 0 : c - half;
                int hi = c + half > C - 1 ? C - 1 : c + half;
                double sum = 0.0;
                for (int j = lo; j <= hi; j++) {
                    double v = x[(size_t)j * plane + p];
                    sum += v * v;
                }
                y[(size_t)c * plane + p] =
                    x[(size_t)c * plane + p] /
                    powf(R->k + R->alpha * (float)sum / (float)R->range, R->beta);
            }
    }
}
