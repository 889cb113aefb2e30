/* Fuzz target: CIANNA model bytes (binary or text save, detected) through the loader, shape
 * inference at two sizes, and, for small accepted nets, one reference forward on a zero input
 * (so every configuration the loader accepts is also run). Bytes starting with '[' or '#' are
 * also parsed as a model.ini manifest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_small(const struct otf_model_net *net)
{
    struct otf_model_shape *sh = calloc(net->n_layers + 1, sizeof(*sh));
    struct otf_errbuf eb = {0};
    struct otf_engine_params p;
    struct otf_engine *eng = NULL;
    float *in = NULL, *out = NULL;

    if (!sh)
        return;
    if (otf_model_infer_shapes(net, net->in_dims[0], net->in_dims[1], net->in_dims[2], sh, &eb) !=
            OTF_OK ||
        otf_model_net_flops(net, sh) > 2e6 || sh[0].size > 65536)
        goto out;
    for (size_t i = 0; i <= net->n_layers; i++)
        if (sh[i].size > 65536)
            goto out;
    otf_engine_params_init(&p);
    p.backend = "reference";
    p.in_w = net->in_dims[0];
    p.in_h = net->in_dims[1];
    p.in_d = net->in_dims[2];
    p.n_threads = 1;
    if (otf_engine_new(net, &p, &eng, &eb) != OTF_OK)
        goto out;
    in = calloc(otf_engine_input_size(eng), sizeof(float));
    out = calloc(otf_engine_output_size(eng), sizeof(float));
    if (in && out)
        otf_engine_forward(eng, in, 1, out, OTF_ENGINE_STAGE_DECODED, &eb);
out:
    otf_engine_free(eng);
    free(in);
    free(out);
    free(sh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otf_errbuf eb = {0};
    struct otf_model_net *net = NULL;

    otf_log_setup(OTF_LOG_OFF, NULL);
    if (otf_model_load_from_buffer(data, size, OTF_MODEL_FORMAT_AUTO, &net, &eb) == OTF_OK) {
        struct otf_model_shape *sh = calloc(net->n_layers + 1, sizeof(*sh));
        if (sh) {
            if (otf_model_infer_shapes(net, 2 * net->in_dims[0] + 1, net->in_dims[1] + 3, 1, sh,
                                       &eb) == OTF_OK)
                (void)otf_model_net_flops(net, sh);
            free(sh);
        }
        run_small(net);
        otf_model_net_free(net);
    }
    if (size > 0 && (data[0] == '[' || data[0] == '#')) {
        struct otf_model_manifest *m = NULL;
        if (otf_model_manifest_parse((const char *)data, size, "fuzz", NULL, &m, &eb) == OTF_OK) {
            char *ini = NULL, *json = otf_model_manifest_card_json(m);
            free(json);
            if (otf_model_manifest_write_ini(m, &ini, &eb) == OTF_OK)
                free(ini);
            otf_model_manifest_free(m);
        }
    }
    return 0;
}
