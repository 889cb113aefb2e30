/* engine: the backend registry — the only file that knows which backends exist in this build
 * and the only place allowed to test OTF_WITH_CUDA (STYLE §2). "reference" is always first. */
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_backends.h"
#include "otf_build_config.h"

static const struct otf_engine_backend *const backends[] = {
    &otf_engine_backend_reference,
#ifdef OTF_HAVE_ENGINE_CPU
    &otf_engine_backend_cpu,
#endif
#if OTF_WITH_CUDA
    &otf_engine_backend_cuda,
#endif
};

const struct otf_engine_backend *const *otf_engine_backend_list(size_t *n)
{
    *n = sizeof(backends) / sizeof(backends[0]);
    return backends;
}

const struct otf_engine_backend *otf_engine_backend_find(const char *name)
{
    if (!name || strcmp(name, "auto") == 0) {
        /* The fastest CPU backend built: oneDNN when present. */
        const struct otf_engine_backend *cpu = otf_engine_backend_find("cpu");
        return cpu ? cpu : &otf_engine_backend_reference;
    }
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}
