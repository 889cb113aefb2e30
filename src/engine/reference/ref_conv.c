/* engine/reference: convolution as CIANNA defines it (reference §6.1): cross-correlation over
 * the input dilated by int_padding and zero-padded by padding, plus the bias weight times the
 * layer's bias value. Written from the formula, not for speed: the oracle of other backends. */
#include <stdlib.h>
#include <string.h>

#include "engine/reference/ref_int.h"

/* Input coordinate of expanded coordinate e (0-based in the padded, dilated axis), or -1 when
 * e falls on padding or on an inserted zero. */
static int src_index(int e, int pad, int ipad, int n)
{
    int t = e - pad;
    if (t < 0 || t % (ipad + 1) != 0)
        return -1;
    t /= ipad + 1;
    return t < n ? t : -1;
}

void otf_engine_ref_conv(const struct otf_model_layer *L, float bias_value, const float *in,
                         size_t in_stride, const struct otf_model_shape *in_sh, float *out,
                         const struct otf_model_shape *out_sh, int n)
{
    const struct otf_model_conv *c = &L->conv;
    const int fw = c->f_size[0], fh = c->f_size[1], fd = c->f_size[2];
    const size_t plane = (size_t)out_sh->w * out_sh->h * out_sh->d;
    const float scale = otf_engine_ref_drop_scale(L->dropout_rate);
    double *acc = malloc(plane * sizeof(double));

    OTF_ASSERT(acc != NULL);
    for (int b = 0; b < n; b++) {
        const float *x = in + (size_t)b * in_stride;
        for (int f = 0; f < c->nb_filters; f++) {
            const float *w = L->weights + (size_t)f * c->flat_f_size;
            float *y = out + (size_t)b * out_sh->size + (size_t)f * plane;
            for (size_t p = 0; p < plane; p++)
                acc[p] = 0.0;
            for (int ci = 0; ci < c->c_in; ci++)
                for (int kd = 0; kd < fd; kd++)
                    for (int kh = 0; kh < fh; kh++)
                        for (int kw = 0; kw < fw; kw++) {
                            double wv = w[((ci * fd + kd) * fh + kh) * fw + kw];
                            size_t p = 0;
                            for (int oz = 0; oz < out_sh->d; oz++) {
                                int iz = src_index(oz * c->stride[2] + kd, c->padding[2],
                                                   c->int_padding[2], in_sh->d);
                                for (int oy = 0; oy < out_sh->h; oy++) {
                                    int iy = src_index(oy * c->stride[1] + kh, c->padding[1],
                                                       c->int_padding[1], in_sh->h);
                                    for (int ox = 0; ox < out_sh->w; ox++, p++) {
                                        int ix = src_index(ox * c->stride[0] + kw, c->padding[0],
                                                           c->int_padding[0], in_sh->w);
                                        if (iz < 0 || iy < 0 || ix < 0)
                                            continue;
                                        acc[p] +=
                                            wv * x[(((size_t)ci * in_sh->d + iz) * in_sh->h + iy) *
                                                       in_sh->w +
                                                   ix];
                                    }
                                }
                            }
                        }
            for (size_t p = 0; p < plane; p++) {
                float v = (float)(acc[p] + (double)w[c->flat_f_size - 1] * bias_value);
                y[p] = v * scale;
            }
        }
    }
    free(acc);
}
