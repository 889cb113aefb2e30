/* engine/cpu private declarations: the oneDNN execution plan (a list of steps built once per
 * (input shape, batch) and reused) and the hand-written kernels for what oneDNN 2.6 lacks
 * (group norm, CIANNA's saturation, bias nodes, whole-volume softmax, LRN).
 * Design note: docs/internals/engine-cpu.md.
 *
 * Threads: a struct otf_engine_cpu_ctx is used by one thread at a time (its owner, the worker
 * thread that opened it); the kernels parallelise internally with OpenMP, the same runtime
 * oneDNN uses here, so both share one thread pool.
 */
#ifndef OTF_ENGINE_CPU_INT_H
#define OTF_ENGINE_CPU_INT_H

#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "engine/backend.h"
#include "model/model.h"

/* ---- context: one per engine/backend.h prepare() ---- */

struct otf_engine_cpu_ctx; /* opaque; see cpu_plan.c */

/* Builds the per-layer weights (dropout folded, CIANNA bias rows split off), the plan for
 * p->batch_max images and reserves its activation arena. Everything `p` points to is borrowed
 * and must outlive the context. Errors: OTF_E_INVAL (a layer, shape or precision this backend
 * cannot run), OTF_E_BACKEND (oneDNN), OTF_E_NOMEM. *out is freed with ..._ctx_free. */
enum otf_status otf_engine_cpu_ctx_new(const struct otf_engine_prepare_params *p,
                                       struct otf_engine_cpu_ctx **out, struct otf_errbuf *eb);
void otf_engine_cpu_ctx_free(struct otf_engine_cpu_ctx *ctx);

/* Runs n (1..batch_max) images, `in` [n][C][H][W] into `out` [n][output size] (CIANNA's dump
 * layout); see backend.h forward(). A plan per (n, stage) is built on first use and cached;
 * the activation arena reserved at creation is reused. */
enum otf_status otf_engine_cpu_ctx_forward(struct otf_engine_cpu_ctx *ctx, const float *in, int n,
                                           float *out, enum otf_engine_stage stage,
                                           struct otf_errbuf *eb);

/* Bytes held: weights copies, arena, scratchpad. */
size_t otf_engine_cpu_ctx_memory_bytes(const struct otf_engine_cpu_ctx *ctx);
int otf_engine_cpu_ctx_winograd_layers(const struct otf_engine_cpu_ctx *ctx);

/* 1 when this CPU runs oneDNN bf16 natively (AVX512_BF16 or AMX), with a message otherwise. */
int otf_engine_cpu_has_bf16(char *why, size_t why_len);
/* 1 when oneDNN runs bf16 on AMX tiles here (else on AVX512_BF16 vectors, which on the CPUs
 * measured so far gives bf16 about half the speed of fp32, BENCHMARKS.md). */
int otf_engine_cpu_has_amx(void);

/* Sets the OpenMP thread count of the calling thread (oneDNN reads it at creation and
 * execution); n <= 0 leaves the runtime default. */
void otf_engine_cpu_set_threads(int n);

/* ---- strided view of a 4-D activation tensor, the only layouts the kernels touch ----
 * Element (n, c, p) with p = y*W + x lies at n*s_n + (c/blk)*s_cb + p*s_p + c%blk: this covers
 * nchw (blk 1), nhwc (blk = C, one block) and oneDNN's nChw8c/nChw16c. */
struct otf_engine_cpu_view {
    int n, c;    /* images, channels (logical) */
    size_t hw;   /* pixels per channel */
    int blk;     /* channels per innermost block */
    size_t s_n;  /* elements between images */
    size_t s_cb; /* elements between channel blocks */
    size_t s_p;  /* elements between pixels */
    int is_bf16; /* element type: bf16 (uint16) else f32 */
};

/* Fills a view from a oneDNN memory descriptor; 0 when the layout is not one of the above. */
int otf_engine_cpu_view_from_md(const dnnl_memory_desc_t *md, struct otf_engine_cpu_view *v);

/* ---- kernels (all parallel over OpenMP threads) ---- */

/* Largest |x| of n floats (NaN counts as +inf): the input bound of the saturation check. */
float otf_engine_cpu_max_abs(const float *x, size_t n);

/* CIANNA's saturation applied after a fused leaky ReLU: y > sat -> sat + (y - sat)*leak, in
 * place over `n` elements of `buf` (f32 or bf16). Padding zeros stay zero. */
void otf_engine_cpu_fix_saturation(void *buf, size_t n, int is_bf16, float sat, float leak);

/* Group norm (reference §6.3): per image and group of `group_size` channels, biased variance in
 * double, eps 0.001, gamma/beta per group, the last `set_off` groups copied. `src` and `dst`
 * may be the same buffer; both use view `v`. `stats` holds 2*n*c doubles of scratch. */
void otf_engine_cpu_group_norm(const struct otf_engine_cpu_view *v, const void *src, void *dst,
                               int group_size, int set_off, const float *gamma, const float *beta,
                               double *stats);

/* Applies a CIANNA activation (reference §6.6) element-wise over view `v` in place; SMAX is a
 * softmax over each image's whole volume. YOLO is not handled here. */
void otf_engine_cpu_activate(const struct otf_engine_cpu_view *v, void *buf,
                             const struct otf_model_activ *act);

/* Dense output [n][nb+1] f32: dropout is already folded into the weights; applies `act` to the
 * first nb values and zeroes the bias node unless the activation is LIN (reference §6.5). */
void otf_engine_cpu_dense_finish(float *buf, int n, int nb, const struct otf_model_activ *act,
                                 int apply_act);

/* LRN across channels (reference §6.4) from view `v` (f32) src into dst (distinct buffers). */
void otf_engine_cpu_lrn(const struct otf_engine_cpu_view *v, const float *src, float *dst,
                        int range, float k, float alpha, float beta);

/* bf16 helpers (round to nearest even, NaN kept quiet). */
static inline uint16_t otf_engine_cpu_to_bf16(float f)
{
    union {
        float f;
        uint32_t u;
    } c = {.f = f};
    if ((c.u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((c.u >> 16) | 0x40);
    c.u += 0x7fffu + ((c.u >> 16) & 1u);
    return (uint16_t)(c.u >> 16);
}

static inline float otf_engine_cpu_from_bf16(uint16_t h)
{
    union {
        float f;
        uint32_t u;
    } c = {.u = (uint32_t)h << 16};
    return c.f;
}

#endif
