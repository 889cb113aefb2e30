/* engine/cpu: the oneDNN backend object behind engine/backend.h (fp32 everywhere, bf16 where
 * the CPU has AVX512_BF16 or AMX). The work happens in cpu_plan.c and cpu_kernels.c. */
#include <stdatomic.h>
#include <stdio.h>

#include "engine/backend.h"
#include "engine/cpu/cpu_int.h"

static int cpu_supports(enum otf_engine_precision p, char *why, size_t why_len)
{
    if (p == OTF_ENGINE_PRECISION_FP32)
        return 1;
    if (p == OTF_ENGINE_PRECISION_BF16)
        return otf_engine_cpu_has_bf16(why, why_len);
    if (why && why_len)
        snprintf(why, why_len, "the cpu backend runs fp32 and bf16 only");
    return 0;
}

static enum otf_status cpu_prepare(const struct otf_engine_prepare_params *p, void **state,
                                   struct otf_errbuf *eb)
{
    static atomic_int warned;
    struct otf_engine_cpu_ctx *ctx = NULL;
    enum otf_status rc;

    /* bf16 without AMX runs, and gives the same results, but slower than fp32 on the machines
     * measured (66.8 against 36.5 ms per SDC1 patch): say so once, where people look. */
    if (p->precision == OTF_ENGINE_PRECISION_BF16 && !otf_engine_cpu_has_amx() &&
        atomic_exchange(&warned, 1) == 0)
        otf_log_warn("engine", "bf16 on this CPU runs on AVX512_BF16 without AMX: expect it to "
                               "be slower than fp32 here (BENCHMARKS.md, engine section)");
    rc = otf_engine_cpu_ctx_new(p, &ctx, eb);
    if (rc == OTF_OK)
        *state = ctx;
    return rc;
}

static enum otf_status cpu_forward(void *state, const float *in, int n, float *out,
                                   enum otf_engine_stage stage, struct otf_errbuf *eb)
{
    return otf_engine_cpu_ctx_forward(state, in, n, out, stage, eb);
}

static void cpu_free(void *state)
{
    otf_engine_cpu_ctx_free(state);
}

static int cpu_winograd_layers(const void *state)
{
    return otf_engine_cpu_ctx_winograd_layers(state);
}

static size_t cpu_memory_bytes(const void *state)
{
    return otf_engine_cpu_ctx_memory_bytes(state);
}

const struct otf_engine_backend otf_engine_backend_cpu = {
    .name = "cpu",
    .description = "oneDNN 2.6 on the CPU: blocked layouts, fused bias and activations, fp32 "
                   "and bf16",
    .supports = cpu_supports,
    .prepare = cpu_prepare,
    .forward = cpu_forward,
    .free = cpu_free,
    .memory_bytes = cpu_memory_bytes,
    .winograd_layers = cpu_winograd_layers,
};
