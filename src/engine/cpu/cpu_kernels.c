/* engine/cpu kernels for what oneDNN 2.6 does not provide: CIANNA's saturation fix-up, group
 * norm on blocked layouts, CIANNA activations, dense bias nodes and LRN. Every formula follows
 * shared/reference/cianna-format.md §6; loops are OpenMP-parallel and work on f32 or bf16. */
#include <math.h>
#include <string.h>

#include "engine/cpu/cpu_int.h"

int otf_engine_cpu_view_from_md(const dnnl_memory_desc_t *md, struct otf_engine_cpu_view *v)
{
    if (md->format_kind != dnnl_blocked || md->ndims != 4 || md->offset0 != 0)
        return 0;
    if (md->data_type != dnnl_f32 && md->data_type != dnnl_bf16)
        return 0;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    memset(v, 0, sizeof(*v));
    v->n = (int)md->dims[0];
    v->c = (int)md->dims[1];
    v->hw = (size_t)md->dims[2] * (size_t)md->dims[3];
    v->is_bf16 = md->data_type == dnnl_bf16;
    v->s_n = (size_t)b->strides[0];
    /* pixels must merge into one run: stride(y) == W * stride(x) */
    if (b->strides[2] != md->dims[3] * b->strides[3] && md->dims[2] > 1)
        return 0;
    v->s_p = (size_t)b->strides[3];
    if (b->inner_nblks == 0) {
        if (b->strides[1] == 1 && md->dims[1] > 1) { /* nhwc: one block holding every channel */
            v->blk = (int)md->padded_dims[1];
            v->s_cb = 0;
        } else {
            v->blk = 1;
            v->s_cb = (size_t)b->strides[1];
        }
        return 1;
    }
    if (b->inner_nblks == 1 && b->inner_idxs[0] == 1) {
        v->blk = (int)b->inner_blks[0];
        v->s_cb = (size_t)b->strides[1];
        return 1;
    }
    return 0;
}

static inline size_t view_off(const struct otf_engine_cpu_view *v, int n, int c, size_t p)
{
    return (size_t)n * v->s_n + (size_t)(c / v->blk) * v->s_cb + p * v->s_p + (size_t)(c % v->blk);
}

static inline float ld(const void *buf, int is_bf16, size_t i)
{
    return is_bf16 ? otf_engine_cpu_from_bf16(((const uint16_t *)buf)[i]) : ((const float *)buf)[i];
}

static inline void st(void *buf, int is_bf16, size_t i, float x)
{
    if (is_bf16)
        ((uint16_t *)buf)[i] = otf_engine_cpu_to_bf16(x);
    else
        ((float *)buf)[i] = x;
}

float otf_engine_cpu_max_abs(const float *x, size_t n)
{
    float m = 0.0f;
    int has_nan = 0;
#pragma omp parallel for reduction(max : m) reduction(| : has_nan) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        has_nan |= a != a;
        m = a > m ? a : m;
    }
    return has_nan ? INFINITY : m;
}

#define FIX_CHUNK 4096

/* The scans are the hot part of the saturation pass: cloned for AVX-512 and AVX2 (chosen at
 * load time by the ifunc resolver) since the project builds without -march. */
/* ThreadSanitizer's runtime is not ready when the ifunc resolvers of target_clones run (the
 * program crashes before main), so sanitizer builds get the portable version only. */
#if defined(__SANITIZE_THREAD__)
#define OTF_CLONES
#else
#define OTF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

OTF_CLONES static int any_above_f32(const float *p, size_t n, float sat)
{
    int hit = 0;
#pragma omp simd reduction(| : hit)
    for (size_t i = 0; i < n; i++)
        hit |= p[i] > sat;
    return hit;
}

/* bf16 order for positive values is the integer order of the bits: no conversion needed */
OTF_CLONES static int any_above_bf16(const uint16_t *p, size_t n, uint16_t lim)
{
    int hit = 0;
#pragma omp simd reduction(| : hit)
    for (size_t i = 0; i < n; i++)
        hit |= (p[i] < 0x8000u) & (p[i] > lim);
    return hit;
}

void otf_engine_cpu_fix_saturation(void *buf, size_t n, int is_bf16, float sat, float leak)
{
    size_t n_chunks = (n + FIX_CHUNK - 1) / FIX_CHUNK;
    /* bf16: values above `lim` are exactly those whose float value exceeds sat */
    uint16_t lim = otf_engine_cpu_to_bf16(sat);
    if (otf_engine_cpu_from_bf16(lim) > sat)
        lim--;
        /* Read-only scan of each chunk first: values above the saturation are rare, so the pass
         * costs one read of the tensor and writes only the chunks that need it. */
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n_chunks; k++) {
        size_t i0 = k * FIX_CHUNK, i1 = i0 + FIX_CHUNK < n ? i0 + FIX_CHUNK : n;
        if (is_bf16) {
            uint16_t *p = (uint16_t *)buf;
            if (!any_above_bf16(p + i0, i1 - i0, lim))
                continue;
            for (size_t i = i0; i < i1; i++) {
                float y = otf_engine_cpu_from_bf16(p[i]);
                if (y > sat)
                    p[i] = otf_engine_cpu_to_bf16(sat + (y - sat) * leak);
            }
        } else {
            float *p = (float *)buf;
            if (!any_above_f32(p + i0, i1 - i0, sat))
                continue;
            for (size_t i = i0; i < i1; i++) {
                float y = p[i];
                if (y > sat)
                    p[i] = sat + (y - sat) * leak;
            }
        }
    }
}

/* ---- group norm, fast path: channel lanes contiguous (nChw16c, nChw8c, nhwc) ---- */

#define GN_MAX_LANES 2048

OTF_CLONES static void lane_sum(const void *x, int bf, size_t hw, int blk, double *acc)
{
    for (size_t p = 0; p < hw; p++) {
        if (bf) {
            const uint16_t *r = (const uint16_t *)x + p * (size_t)blk;
#pragma omp simd
            for (int ci = 0; ci < blk; ci++)
                acc[ci] += (double)otf_engine_cpu_from_bf16(r[ci]);
        } else {
            const float *r = (const float *)x + p * (size_t)blk;
#pragma omp simd
            for (int ci = 0; ci < blk; ci++)
                acc[ci] += (double)r[ci];
        }
    }
}

OTF_CLONES static void lane_sq(const void *x, int bf, size_t hw, int blk, const float *mean,
                               double *acc)
{
    for (size_t p = 0; p < hw; p++) {
        if (bf) {
            const uint16_t *r = (const uint16_t *)x + p * (size_t)blk;
#pragma omp simd
            for (int ci = 0; ci < blk; ci++) {
                double d = (double)(otf_engine_cpu_from_bf16(r[ci]) - mean[ci]);
                acc[ci] += d * d;
            }
        } else {
            const float *r = (const float *)x + p * (size_t)blk;
#pragma omp simd
            for (int ci = 0; ci < blk; ci++) {
                double d = (double)(r[ci] - mean[ci]);
                acc[ci] += d * d;
            }
        }
    }
}

OTF_CLONES static void lane_apply(const void *x, void *y, int bf, size_t hw, int blk,
                                  const float *mean, const float *scale, const float *shift)
{
    for (size_t p = 0; p < hw; p++) {
        if (bf) {
            const uint16_t *r = (const uint16_t *)x + p * (size_t)blk;
            uint16_t *w = (uint16_t *)y + p * (size_t)blk;
#pragma omp simd
            for (int ci = 0; ci < blk; ci++)
                w[ci] = otf_engine_cpu_to_bf16(
                    (otf_engine_cpu_from_bf16(r[ci]) - mean[ci]) * scale[ci] + shift[ci]);
        } else {
            const float *r = (const float *)x + p * (size_t)blk;
            float *w = (float *)y + p * (size_t)blk;
#pragma omp simd
            for (int ci = 0; ci < blk; ci++)
                w[ci] = (r[ci] - mean[ci]) * scale[ci] + shift[ci];
        }
    }
}

/* Same maths as the generic path below (double sums, two passes, float apply), one task per
 * (image, channel block); needs every group inside one block or spanning whole blocks. */
static int group_norm_fast(const struct otf_engine_cpu_view *v, const void *src, void *dst, int gs,
                           int set_off, const float *gamma, const float *beta, double *stats)
{
    const int C = v->c, blk = v->blk, bf = v->is_bf16;
    const int nb_group = (C + gs - 1) / gs, n_norm = nb_group - set_off;
    const size_t esz = bf ? 2 : 4;
    if (v->s_p != (size_t)blk || C % blk != 0 || blk > GN_MAX_LANES || blk % gs != 0)
        return 0;
    const int n_cb = C / blk;
    (void)stats;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < v->n; n++)
        for (int cb = 0; cb < n_cb; cb++) {
            double acc[GN_MAX_LANES];
            float mean[GN_MAX_LANES], scale[GN_MAX_LANES], shift[GN_MAX_LANES];
            size_t o = (size_t)n * v->s_n + (size_t)cb * v->s_cb;
            const char *x = (const char *)src + o * esz;
            char *y = (char *)dst + o * esz;
            double cnt = (double)gs * (double)v->hw;
            for (int ci = 0; ci < blk; ci++)
                acc[ci] = 0.0;
            lane_sum(x, bf, v->hw, blk, acc);
            for (int g0 = 0; g0 < blk; g0 += gs) {
                double sum = 0.0;
                for (int ci = g0; ci < g0 + gs; ci++)
                    sum += acc[ci];
                for (int ci = g0; ci < g0 + gs; ci++)
                    mean[ci] = (float)(sum / cnt);
            }
            for (int ci = 0; ci < blk; ci++)
                acc[ci] = 0.0;
            lane_sq(x, bf, v->hw, blk, mean, acc);
            for (int g0 = 0; g0 < blk; g0 += gs) {
                int g = (cb * blk + g0) / gs;
                double sq = 0.0;
                for (int ci = g0; ci < g0 + gs; ci++)
                    sq += acc[ci];
                float var = (float)(sq / cnt);
                for (int ci = g0; ci < g0 + gs; ci++) {
                    if (g < n_norm) {
                        scale[ci] = gamma[g] / sqrtf(var + 0.001f);
                        shift[ci] = beta[g];
                    } else { /* set_off groups pass through: (x - 0) * 1 + 0 is exact */
                        mean[ci] = 0.0f;
                        scale[ci] = 1.0f;
                        shift[ci] = 0.0f;
                    }
                }
            }
            lane_apply(x, y, bf, v->hw, blk, mean, scale, shift);
        }
    return 1;
}

void otf_engine_cpu_group_norm(const struct otf_engine_cpu_view *v, const void *src, void *dst,
                               int group_size, int set_off, const float *gamma, const float *beta,
                               double *stats)
{
    if (group_norm_fast(v, src, dst, group_size, set_off, gamma, beta, stats))
        return;
    const int n_img = v->n, C = v->c, bf = v->is_bf16;
    const int nb_group = (C + group_size - 1) / group_size;
    const int n_norm = nb_group - set_off; /* groups that are normalised */
    double *ch_sum = stats, *grp = stats + (size_t)n_img * C;
    const size_t hw = v->hw;

    /* 1: per-channel sums (double, as CIANNA accumulates), then group means */
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < n_img; n++)
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            size_t o = view_off(v, n, c, 0);
            for (size_t p = 0; p < hw; p++)
                s += ld(src, bf, o + p * v->s_p);
            ch_sum[(size_t)n * C + c] = s;
        }
    for (int n = 0; n < n_img; n++)
        for (int g = 0; g < n_norm; g++) {
            double s = 0.0;
            int c1 = (g + 1) * group_size < C ? (g + 1) * group_size : C;
            for (int c = g * group_size; c < c1; c++)
                s += ch_sum[(size_t)n * C + c];
            grp[2 * ((size_t)n * nb_group + g)] = s / ((double)(c1 - g * group_size) * (double)hw);
        }
        /* 2: biased variance, two-pass like CIANNA: sum((x - mean)^2) over the group */
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < n_img; n++)
        for (int c = 0; c < C; c++) {
            int g = c / group_size;
            if (g >= n_norm)
                continue;
            float mean = (float)grp[2 * ((size_t)n * nb_group + g)];
            double s = 0.0;
            size_t o = view_off(v, n, c, 0);
            for (size_t p = 0; p < hw; p++) {
                double d = (double)(ld(src, bf, o + p * v->s_p) - mean);
                s += d * d;
            }
            ch_sum[(size_t)n * C + c] = s;
        }
    for (int n = 0; n < n_img; n++)
        for (int g = 0; g < n_norm; g++) {
            double s = 0.0;
            int c1 = (g + 1) * group_size < C ? (g + 1) * group_size : C;
            for (int c = g * group_size; c < c1; c++)
                s += ch_sum[(size_t)n * C + c];
            grp[2 * ((size_t)n * nb_group + g) + 1] =
                s / ((double)(c1 - g * group_size) * (double)hw);
        }
        /* 3: y = gamma*(x - mean)/sqrt(var + 0.001f) + beta, float maths as CIANNA */
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < n_img; n++)
        for (int c = 0; c < C; c++) {
            int g = c / group_size;
            size_t o = view_off(v, n, c, 0);
            if (g >= n_norm) {
                if (src != dst)
                    for (size_t p = 0; p < hw; p++)
                        st(dst, bf, o + p * v->s_p, ld(src, bf, o + p * v->s_p));
                continue;
            }
            float mean = (float)grp[2 * ((size_t)n * nb_group + g)];
            float var = (float)grp[2 * ((size_t)n * nb_group + g) + 1];
            float scale = gamma[g] / sqrtf(var + 0.001f), shift = beta[g];
            for (size_t p = 0; p < hw; p++) {
                size_t i = o + p * v->s_p;
                st(dst, bf, i, (ld(src, bf, i) - mean) * scale + shift);
            }
        }
}

static inline float act_relu(float x, float sat, float leak)
{
    if (x <= 0.0f)
        return leak * x;
    if (x > sat)
        return sat + (x - sat) * leak;
    return x;
}

static inline float act_logi(float x, float sat, float beta)
{
    float t = -beta * x;
    if (t > sat)
        t = sat;
    return 1.0f / (1.0f + expf(t));
}

void otf_engine_cpu_activate(const struct otf_engine_cpu_view *v, void *buf,
                             const struct otf_model_activ *act)
{
    const int bf = v->is_bf16;
    if (act->kind == OTF_MODEL_ACTIV_LIN || act->kind == OTF_MODEL_ACTIV_YOLO)
        return;
    if (act->kind == OTF_MODEL_ACTIV_SMAX) {
        /* one softmax over the whole per-image volume (reference §6.6) */
#pragma omp parallel for schedule(static)
        for (int n = 0; n < v->n; n++) {
            float mx = -INFINITY;
            for (int c = 0; c < v->c; c++)
                for (size_t p = 0; p < v->hw; p++) {
                    float x = ld(buf, bf, view_off(v, n, c, p));
                    mx = x > mx ? x : mx;
                }
            double sum = 0.0;
            for (int c = 0; c < v->c; c++)
                for (size_t p = 0; p < v->hw; p++) {
                    size_t i = view_off(v, n, c, p);
                    float e = expf(ld(buf, bf, i) - mx);
                    st(buf, bf, i, e);
                    sum += e;
                }
            float inv = (float)sum;
            for (int c = 0; c < v->c; c++)
                for (size_t p = 0; p < v->hw; p++) {
                    size_t i = view_off(v, n, c, p);
                    st(buf, bf, i, ld(buf, bf, i) / inv);
                }
        }
        return;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < v->n; n++)
        for (int c = 0; c < v->c; c++) {
            size_t o = view_off(v, n, c, 0);
            for (size_t p = 0; p < v->hw; p++) {
                size_t i = o + p * v->s_p;
                float x = ld(buf, bf, i);
                x = act->kind == OTF_MODEL_ACTIV_RELU ? act_relu(x, act->relu_sat, act->relu_leak)
                                                      : act_logi(x, act->logi_sat, act->logi_beta);
                st(buf, bf, i, x);
            }
        }
}

void otf_engine_cpu_dense_finish(float *buf, int n, int nb, const struct otf_model_activ *act,
                                 int apply_act)
{
    if (!apply_act)
        return;
    for (int b = 0; b < n; b++) {
        float *y = buf + (size_t)b * (size_t)(nb + 1);
        switch (act->kind) {
        case OTF_MODEL_ACTIV_RELU:
            for (int i = 0; i < nb; i++)
                y[i] = act_relu(y[i], act->relu_sat, act->relu_leak);
            y[nb] = 0.0f;
            break;
        case OTF_MODEL_ACTIV_LOGI:
            for (int i = 0; i < nb; i++)
                y[i] = act_logi(y[i], act->logi_sat, act->logi_beta);
            y[nb] = 0.0f;
            break;
        case OTF_MODEL_ACTIV_SMAX: {
            float mx = -INFINITY;
            for (int i = 0; i < nb; i++)
                mx = y[i] > mx ? y[i] : mx;
            double sum = 0.0;
            for (int i = 0; i < nb; i++) {
                y[i] = expf(y[i] - mx);
                sum += y[i];
            }
            for (int i = 0; i < nb; i++)
                y[i] = y[i] / (float)sum;
            y[nb] = 0.0f;
            break;
        }
        default: /* LIN keeps the bias node's GEMM value */
            break;
        }
    }
}

void otf_engine_cpu_lrn(const struct otf_engine_cpu_view *v, const float *src, float *dst,
                        int range, float k, float alpha, float beta)
{
    const int half = range / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < v->n; n++)
        for (int c = 0; c < v->c; c++) {
            int j0 = c - half < 0 ? 0 : c - half;
            int j1 = c + half > v->c - 1 ? v->c - 1 : c + half;
            for (size_t p = 0; p < v->hw; p++) {
                float sum = 0.0f;
                for (int j = j0; j <= j1; j++) {
                    float x = src[view_off(v, n, j, p)];
                    sum += x * x;
                }
                size_t i = view_off(v, n, c, p);
                dst[i] = src[i] / powf(k + alpha * sum / (float)range, beta);
            }
        }
}
