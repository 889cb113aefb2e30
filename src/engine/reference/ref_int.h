/* engine/reference: one plain-C function per layer kind. Each computes n images of its layer up
 * to and including the dropout scaling; the activation is applied by the caller
 * (otf_engine_activate). Inputs are per image [c][d][h][w] (or a dense vector) at `in_stride`
 * floats apart; outputs are at out_sh->size floats apart. Accumulation is in double. */
#ifndef OTF_ENGINE_REF_INT_H
#define OTF_ENGINE_REF_INT_H

#include "engine/backend.h"

/* CIANNA's AVG_MODEL dropout: the pre-activation is multiplied by 1-rate when rate > 0.01. */
static inline float otf_engine_ref_drop_scale(float rate)
{
    return rate > 0.01f ? 1.0f - rate : 1.0f;
}

void otf_engine_ref_conv(const struct otf_model_layer *L, float bias_value, const float *in,
                         size_t in_stride, const struct otf_model_shape *in_sh, float *out,
                         const struct otf_model_shape *out_sh, int n);
void otf_engine_ref_pool(const struct otf_model_layer *L, const float *in,
                         const struct otf_model_shape *in_sh, float *out,
                         const struct otf_model_shape *out_sh, int n);
void otf_engine_ref_norm(const struct otf_model_layer *L, const float *in,
                         const struct otf_model_shape *in_sh, float *out, int n);
void otf_engine_ref_lrn(const struct otf_model_layer *L, const float *in,
                        const struct otf_model_shape *in_sh, float *out, int n);
/* `in` holds in_size-1 values per image (in_size after a dense layer, whose bias node is then
 * the bias input) at in_stride floats apart; otherwise bias_value is the bias input. */
void otf_engine_ref_dense(const struct otf_model_layer *L, int prev_is_dense, float bias_value,
                          const float *in, size_t in_stride, float *out, int n);

#endif
