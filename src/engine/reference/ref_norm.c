/* engine/reference: group normalisation (reference §6.3): per image and group, biased variance
 * with eps 0.001, gamma/beta per group; the last set_off groups pass through. Statistics are
 * accumulated in double and used as float, as CIANNA does. */
#include <math.h>
#include <string.h>

#include "engine/reference/ref_int.h"

void otf_engine_ref_norm(const struct otf_model_layer *L, const float *in,
                         const struct otf_model_shape *in_sh, float *out, int n)
{
    const struct otf_model_norm *N = &L->norm;
    const float *gamma = L->weights, *beta = L->weights + N->nb_group;
    const size_t plane = (size_t)in_sh->w * in_sh->h * in_sh->d;
    const size_t gsz = (size_t)N->group_size * plane;

    for (int b = 0; b < n; b++)
        for (int g = 0; g < N->nb_group; g++) {
            const float *x = in + (size_t)b * in_sh->size + (size_t)g * gsz;
            float *y = out + (size_t)b * in_sh->size + (size_t)g * gsz;
            double sum = 0.0, var = 0.0;
            float mean, den;
            if (g >= N->nb_group - N->set_off) {
                memcpy(y, x, gsz * sizeof(float));
                continue;
            }
            for (size_t i = 0; i < gsz; i++)
                sum += x[i];
            mean = (float)(sum / (double)gsz);
            for (size_t i = 0; i < gsz; i++)
                var += ((double)x[i] - mean) * ((double)x[i] - mean);
            den = sqrtf((float)(var / (double)gsz) + 0.001f);
            for (size_t i = 0; i < gsz; i++)
                y[i] = gamma[g] * (x[i] - mean) / den + beta[g];
        }
}
