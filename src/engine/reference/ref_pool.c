/* engine/reference: max/avg pooling (reference §6.2). Window taps outside the real input are
 * skipped (not -inf, not 0); MAX keeps the first maximum, AVG divides by the valid taps only,
 * and a window with no valid tap gives 0. */
#include <float.h>

#include "engine/reference/ref_int.h"

void otf_engine_ref_pool(const struct otf_model_layer *L, const float *in,
                         const struct otf_model_shape *in_sh, float *out,
                         const struct otf_model_shape *out_sh, int n)
{
    const struct otf_model_pool *P = &L->pool;
    int ps[3], st[3], pd[3];
    const int in_dim[3] = {in_sh->w, in_sh->h, in_sh->d};
    const float scale = otf_engine_ref_drop_scale(L->dropout_rate);

    for (int k = 0; k < 3; k++) {
        ps[k] = P->is_global ? in_dim[k] : P->p_size[k];
        st[k] = P->is_global ? in_dim[k] : P->stride[k];
        pd[k] = P->is_global ? 0 : P->padding[k];
    }
    for (int b = 0; b < n; b++)
        for (int c = 0; c < in_sh->c; c++) {
            const float *x =
                in + (size_t)b * in_sh->size + (size_t)c * in_sh->w * in_sh->h * in_sh->d;
            float *y =
                out + (size_t)b * out_sh->size + (size_t)c * out_sh->w * out_sh->h * out_sh->d;
            for (int oz = 0; oz < out_sh->d; oz++)
                for (int oy = 0; oy < out_sh->h; oy++)
                    for (int ox = 0; ox < out_sh->w; ox++) {
                        double sum = 0.0;
                        float vmax = -FLT_MAX;
                        long cnt = 0;
                        for (int kz = 0; kz < ps[2]; kz++)
                            for (int ky = 0; ky < ps[1]; ky++)
                                for (int kx = 0; kx < ps[0]; kx++) {
                                    int iz = oz * st[2] + kz - pd[2];
                                    int iy = oy * st[1] + ky - pd[1];
                                    int ix = ox * st[0] + kx - pd[0];
                                    float v;
                                    if (iz < 0 || iy < 0 || ix < 0 || iz >= in_sh->d ||
                                        iy >= in_sh->h || ix >= in_sh->w)
                                        continue;
                                    v = x[((size_t)iz * in_sh->h + iy) * in_sh->w + ix];
                                    if (cnt == 0 || v > vmax)
                                        vmax = v;
                                    sum += v;
                                    cnt++;
                                }
                        float r = 0.0f;
                        if (cnt > 0)
                            r = P->type == OTF_MODEL_POOL_MAX ? vmax : (float)(sum / (double)cnt);
                        y[((size_t)oz * out_sh->h + oy) * out_sh->w + ox] = r * scale;
                    }
        }
}
