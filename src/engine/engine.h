/* engine: runs a loaded CIANNA network (model/model.h) on batches of patches with one of the
 * registered backends (reference, cpu, cuda), and decodes YOLO outputs. Memory for batch_max
 * images is reserved once at otf_engine_new (STYLE §5); forward() does not allocate tensors.
 * Design notes: docs/internals/engine.md.
 *
 * Threads: an engine is used by one thread at a time (its worker). Distinct engines, also on
 * the same net, may run concurrently. The registry functions are thread-safe. An engine of
 * n_streams > 1 runs each forward as n_streams parts at once, on the caller's thread and
 * n_streams - 1 threads of its own.
 *
 *   struct otf_engine_params p;
 *   otf_engine_params_init(&p);               // auto backend, fp32, batch 1, 256x256
 *   p.batch_max = 8; p.in_w = p.in_h = 512;
 *   struct otf_engine *eng = NULL;
 *   if (otf_engine_new(net, &p, &eng, &eb) == OTF_OK) {
 *       otf_engine_forward(eng, in, 8, out, OTF_ENGINE_STAGE_DECODED, &eb);
 *       otf_engine_free(eng);
 *   }
 */
#ifndef OTF_ENGINE_H
#define OTF_ENGINE_H

#include <stddef.h>

#include "core/core.h"
#include "engine/backend.h"
#include "model/model.h"

struct otf_engine;

struct otf_engine_params {
    const char *backend;                 /* "reference", "cpu", "cuda" or "auto" (NULL = auto) */
    enum otf_engine_precision precision; /* default FP32 */
    int batch_max;                       /* most images per forward (default 1) */
    int in_w, in_h, in_d;                /* input patch size in pixels (default 256x256x1) */
    int n_threads;                       /* 0 = all online CPUs */
    float input_bias;                    /* CIANNA init bias for layer 0 (default 0.1) */
    size_t n_layers;                     /* run only the first n layers (0 = all), like
                                            CIANNA's load(nb_layers=n) */
    int winograd;                        /* 1 (default): Winograd F(4x4,3x3) for the wide 3x3
                                            stride-1 fp32 convolutions where the backend has it;
                                            0: direct only (docs/internals/engine-cpu.md) */
    int n_streams; /* 1 (default): one backend state runs the whole batch on n_threads threads.
                      S > 1: S states of ceil(batch_max / S) images and n_threads / S threads
                      each; a forward splits its images in S nearly equal parts run at once,
                      so that no part waits at a barrier of another (docs/internals/engine.md) */
};

/* Fills `p` with the defaults above. */
void otf_engine_params_init(struct otf_engine_params *p);

/* Creates an engine for `net` (borrowed: it must outlive the engine). "auto" picks cpu when
 * built, else reference. Errors: OTF_E_NOTFOUND (unknown backend), OTF_E_INVAL (bad sizes, a
 * net that does not accept this input size, precision not supported: `eb` says why),
 * OTF_E_NOMEM, OTF_E_BACKEND. *out is written only on success. */
enum otf_status otf_engine_new(const struct otf_model_net *net, const struct otf_engine_params *p,
                               struct otf_engine **out, struct otf_errbuf *eb);

/* Runs n (1..batch_max) images: `in` is [n][C][D][H][W] float32 (otf_engine_input_size floats
 * per image), `out` receives [n][otf_engine_output_size] floats in CIANNA's forward-dump layout
 * ([filter][z][y][x], or N+1 for a dense last layer). DECODED on a net without YOLO is the same
 * as ACTIVATED. n < batch_max runs as power-of-two pieces (the backend sees few batch sizes). */
enum otf_status otf_engine_forward(struct otf_engine *eng, const float *in, int n, float *out,
                                   enum otf_engine_stage stage, struct otf_errbuf *eb);

/* Floats per image of the input and of the output. */
size_t otf_engine_input_size(const struct otf_engine *eng);
size_t otf_engine_output_size(const struct otf_engine *eng);
/* Output shape of the last layer run (the YOLO grid for a YOLO net). */
struct otf_model_shape otf_engine_output_shape(const struct otf_engine *eng);
/* Name of the backend that runs, e.g. "cpu". */
const char *otf_engine_backend_name(const struct otf_engine *eng);
/* Bytes held by the backend state (0 when the backend does not say). */
size_t otf_engine_memory_bytes(const struct otf_engine *eng);

/* Streams the engine runs (n_streams, clamped to batch_max and n_threads). */
int otf_engine_streams(const struct otf_engine *eng);

/* Layers that run as Winograd convolutions (0 unless p.winograd and the backend has them). */
int otf_engine_winograd_layers(const struct otf_engine *eng);

/* Frees the engine and its backend state; NULL is a no-op. */
void otf_engine_free(struct otf_engine *eng);

/* The backends built into this binary, "reference" first; *n receives the count. */
const struct otf_engine_backend *const *otf_engine_backend_list(size_t *n);
/* A backend by name ("auto" resolves as in otf_engine_new); NULL when unknown. */
const struct otf_engine_backend *otf_engine_backend_find(const char *name);

/* "fp32", "bf16", "fp16", "int8" <-> enum; parse is case-insensitive, OTF_E_INVAL otherwise. */
enum otf_status otf_engine_precision_parse(const char *s, enum otf_engine_precision *out);
const char *otf_engine_precision_name(enum otf_engine_precision p);
/* "raw", "activated", "decoded" <-> enum. */
enum otf_status otf_engine_stage_parse(const char *s, enum otf_engine_stage *out);
const char *otf_engine_stage_name(enum otf_engine_stage s);

/* YOLO decode of reference §7.3 in place on n activated images: the min/max box corners in
 * input pixels of a patch of in_w x in_h x in_d (cell size = in_dim / grid, integer division). */
void otf_engine_yolo_decode(const struct otf_model_yolo *y, const struct otf_model_shape *grid,
                            int in_w, int in_h, int in_d, float *data, int n);

#endif
