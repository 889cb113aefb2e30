/* engine backend interface: the small vtable every backend (reference, cpu, cuda) implements.
 * Backends are reached only through this header and the registry in engine_registry.c; nothing
 * outside the registry knows which backend runs (STYLE §2). engine.h is the caller's API.
 *
 * Contract: prepare() is called once per (net, input shape, batch_max, precision) and reserves
 * every buffer for batch_max images; forward() then runs 1..batch_max images without further
 * allocation of tensors. The engine core checks shapes and arguments before calling a backend.
 *
 * Threads: a backend state is owned by one thread at a time (the worker that created it);
 * different states may run concurrently. The vtable itself is immutable.
 */
#ifndef OTF_ENGINE_BACKEND_H
#define OTF_ENGINE_BACKEND_H

#include <stddef.h>

#include "core/core.h"
#include "model/model.h"

/* Compute precision. Values are stable (stored in configs and job records). */
enum otf_engine_precision {
    OTF_ENGINE_PRECISION_FP32 = 0,
    OTF_ENGINE_PRECISION_BF16 = 1, /* bf16 inputs and weights, fp32 accumulation */
    OTF_ENGINE_PRECISION_FP16 = 2,
    OTF_ENGINE_PRECISION_INT8 = 3,
};

/* What the last layer returns. Backends see only RAW and ACTIVATED; the engine core turns
 * ACTIVATED into DECODED for YOLO nets (engine_yolo.c, shared by every backend). */
enum otf_engine_stage {
    OTF_ENGINE_STAGE_RAW = 0,       /* last layer after dropout scaling, before its activation */
    OTF_ENGINE_STAGE_ACTIVATED = 1, /* after the activation (YOLO activation for YOLO nets) */
    OTF_ENGINE_STAGE_DECODED = 2,   /* YOLO boxes in input pixels (= ACTIVATED without YOLO) */
};

/* Everything prepare() needs. All pointers are borrowed and stay valid until free(). */
struct otf_engine_prepare_params {
    const struct otf_model_net *net;      /* immutable description with the weights */
    size_t n_layers;                      /* run layers [0, n_layers) (<= net->n_layers) */
    const struct otf_model_shape *shapes; /* [n_layers+1]: shapes[0] input, [i+1] layer i */
    int batch_max;                        /* >= 1: most images per forward() */
    enum otf_engine_precision precision;  /* one the backend said it supports */
    int n_threads;                        /* >= 1 */
    float input_bias;                     /* bias value of layer 0 (CIANNA init bias) */
    int winograd; /* 1: Winograd for the 3x3 fp32 convolutions where the backend has it */
};

struct otf_engine_backend {
    const char *name;        /* "reference", "cpu", "cuda" */
    const char *description; /* one line for `otf model info` / logs */

    /* 1 when this build and machine can run `p`; else 0 and a one-line reason in `why`
     * (may be NULL) such as "bf16 needs AVX512_BF16, this CPU has none". */
    int (*supports)(enum otf_engine_precision p, char *why, size_t why_len);

    /* Builds the state for p->net at the given shapes; reserves memory for p->batch_max.
     * *state is written only on success. Errors: OTF_E_NOMEM, OTF_E_BACKEND, OTF_E_INVAL
     * (a layer or precision this backend cannot run; the message says which). */
    enum otf_status (*prepare)(const struct otf_engine_prepare_params *p, void **state,
                               struct otf_errbuf *eb);

    /* Runs n (1..batch_max) images. `in` is [n][C][D][H][W] float32 (shapes[0].size floats
     * per image); `out` receives [n][shapes[n_layers].size] in CIANNA's dump layout.
     * stage is RAW or ACTIVATED. Both buffers are the caller's and may not alias. */
    enum otf_status (*forward)(void *state, const float *in, int n, float *out,
                               enum otf_engine_stage stage, struct otf_errbuf *eb);

    /* Releases the state; NULL is a no-op. */
    void (*free)(void *state);

    /* (optional) bytes held by the state (weights copies, activations, scratch). */
    size_t (*memory_bytes)(const void *state);

    /* (optional) layers that run as Winograd convolutions (p->winograd asked for them). */
    int (*winograd_layers)(const void *state);
};

/* ---- helpers shared by backends (library otf_engine_common; plain C, thread-safe) ---- */

/* CIANNA's leaky saturated RELU: x<=0: leak*x; x>sat: sat+(x-sat)*leak; else x. */
static inline float otf_engine_relu(float x, float sat, float leak)
{
    if (x <= 0.0f)
        return x * leak;
    if (x > sat)
        return sat + (x - sat) * leak;
    return x;
}

/* Applies layer `L`'s activation in place on n images of `shape` (the layer's output shape),
 * with CIANNA's semantics (reference §6.6, §7.2): element-wise for LIN/RELU/LOGI; SMAX over the
 * N dense outputs or over the whole per-image volume for conv/pool; YOLO activation; for a
 * dense layer the bias node is set to 0 after RELU, LOGI and SMAX. */
void otf_engine_activate(const struct otf_model_layer *L, const struct otf_model_shape *shape,
                         float *data, int n);

/* The YOLO activation of reference §7.2 on n images of `grid` (shape of the YOLO layer). */
void otf_engine_yolo_activate(const struct otf_model_yolo *y, const struct otf_model_shape *grid,
                              float *data, int n);

#endif
