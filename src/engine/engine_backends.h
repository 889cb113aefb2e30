/* The backend objects known to the registry (engine_registry.c is the only user). Each backend
 * folder defines exactly one of these; the registry lists the ones built into this binary. */
#ifndef OTF_ENGINE_BACKENDS_H
#define OTF_ENGINE_BACKENDS_H

#include "engine/backend.h"

/* Plain C loops, always built: the oracle for every other backend (src/engine/reference/). */
extern const struct otf_engine_backend otf_engine_backend_reference;

/* oneDNN (src/engine/cpu/), built when that folder exists (OTF_HAVE_ENGINE_CPU). */
extern const struct otf_engine_backend otf_engine_backend_cpu;

/* cuDNN + cuBLAS (src/engine/cuda/), built with OTF_WITH_CUDA. */
extern const struct otf_engine_backend otf_engine_backend_cuda;

#endif
