/* engine/reference: dense layer with CIANNA's bias node (reference §6.5). The input vector is
 * the flattened previous output plus one bias input (bias_value), or, after a dense layer, that
 * layer's output including its bias node. out[N] is this layer's bias node; dropout scales
 * out[0..N-1] only. */
#include "engine/reference/ref_int.h"

void otf_engine_ref_dense(const struct otf_model_layer *L, int prev_is_dense, float bias_value,
                          const float *in, size_t in_stride, float *out, int n)
{
    const struct otf_model_dense *D = &L->dense;
    const size_t in_size = D->in_size, nout = (size_t)D->nb_neurons + 1;
    const size_t n_data = prev_is_dense ? in_size : in_size - 1;
    const float scale = otf_engine_ref_drop_scale(L->dropout_rate);

    for (int b = 0; b < n; b++) {
        const float *v = in + (size_t)b * in_stride;
        float *y = out + (size_t)b * nout;
        for (size_t i = 0; i < nout; i++) {
            double acc = 0.0;
            for (size_t j = 0; j < n_data; j++)
                acc += (double)L->weights[j * nout + i] * v[j];
            if (!prev_is_dense)
                acc += (double)L->weights[(in_size - 1) * nout + i] * bias_value;
            y[i] = (float)acc;
            if (i + 1 < nout)
                y[i] *= scale;
        }
    }
}
