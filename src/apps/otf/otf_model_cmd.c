/* otf model: `info` prints a network (layers, shapes, parameters, FLOPs, manifest) and
 * `forward` runs it on raw little-endian float32 input in CIANNA's layout, writing what CIANNA's
 * forward(saving=2) would write, so a model can be checked against CIANNA's fwd_res files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apps/otf/otf_cli.h"
#include "core/core.h"
#include "engine/engine.h"
#include "model/model.h"

static void usage_model(FILE *f)
{
    fprintf(f, "usage: otf model info PATH [--size WxH]\n"
               "       otf model forward --model PATH --input IN.f32 --shape N,C,H,W "
               "--output OUT.f32\n"
               "                         [--stage raw|activated|decoded] [--backend NAME]\n"
               "                         [--precision fp32|bf16] [--input-bias X] [--batch B] "
               "[--threads T]\n"
               "PATH is a CIANNA weight file (binary or text save) or a model folder with "
               "model.ini.\n");
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Loads a weight file or a model folder (manifest + weights checked). */
static enum otf_status load_any(const char *path, struct otf_model_manifest **m,
                                struct otf_model_net **net, struct otf_errbuf *eb)
{
    *m = NULL;
    if (is_dir(path))
        return otf_model_load_dir(path, m, net, eb);
    return otf_model_load_file(path, net, eb);
}

static int parse_size(const char *s, int *w, int *h)
{
    char *end;
    long a = strtol(s, &end, 10), b;

    if (end == s || a < 1 || a > OTF_MODEL_MAX_DIM)
        return -1;
    if (*end == '\0') {
        *w = *h = (int)a;
        return 0;
    }
    if (*end != 'x')
        return -1;
    s = end + 1;
    b = strtol(s, &end, 10);
    if (end == s || *end || b < 1 || b > OTF_MODEL_MAX_DIM)
        return -1;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

static void describe_layer(const struct otf_model_layer *L, char *out, size_t cap)
{
    switch (L->kind) {
    case OTF_MODEL_LAYER_CONV: {
        const struct otf_model_conv *c = &L->conv;
        int n = snprintf(out, cap, "%d f%dx%d s%dx%d p%dx%d", c->nb_filters, c->f_size[0],
                         c->f_size[1], c->stride[0], c->stride[1], c->padding[0], c->padding[1]);
        if (n > 0 && (size_t)n < cap && (c->int_padding[0] || c->int_padding[1]))
            snprintf(out + n, cap - (size_t)n, " ip%dx%d", c->int_padding[0], c->int_padding[1]);
        break;
    }
    case OTF_MODEL_LAYER_POOL:
        if (L->pool.is_global)
            snprintf(out, cap, "%s global", L->pool.type == OTF_MODEL_POOL_MAX ? "max" : "avg");
        else
            snprintf(out, cap, "%s %dx%d s%dx%d p%dx%d",
                     L->pool.type == OTF_MODEL_POOL_MAX ? "max" : "avg", L->pool.p_size[0],
                     L->pool.p_size[1], L->pool.stride[0], L->pool.stride[1], L->pool.padding[0],
                     L->pool.padding[1]);
        break;
    case OTF_MODEL_LAYER_NORM:
        snprintf(out, cap, "GN group %d (%d groups, %d off)", L->norm.group_size, L->norm.nb_group,
                 L->norm.set_off);
        break;
    case OTF_MODEL_LAYER_LRN:
        snprintf(out, cap, "range %d k %g a %g b %g", L->lrn.range, (double)L->lrn.k,
                 (double)L->lrn.alpha, (double)L->lrn.beta);
        break;
    case OTF_MODEL_LAYER_DENSE:
        snprintf(out, cap, "%d neurons (+ bias node)", L->dense.nb_neurons);
        break;
    }
}

static void print_manifest(const struct otf_model_manifest *m)
{
    printf("model %s: %s\n", m->id, m->description);
    printf("  licence: %s\n  training data: %s\n", m->licence, m->training_data);
    printf("  weights: %s (%s), sha256 %s\n", m->weights_file,
           m->weights_format == OTF_MODEL_FORMAT_TEXT     ? "text"
           : m->weights_format == OTF_MODEL_FORMAT_BINARY ? "binary"
                                                          : "auto",
           *m->weights_sha256 ? m->weights_sha256 : "(not stated)");
    printf("  patches: train %dx%d, inference %dx%d, overlap %d px, %d channel(s), input bias "
           "%g\n",
           m->train_patch_w, m->train_patch_h, m->infer_patch_w, m->infer_patch_h, m->overlap_pix,
           m->in_channels, (double)m->input_bias);
    printf("  normalisation: tanh(%g*(clip(x,lo,hi)-lo)/(hi-lo)), %s lo %g hi %g\n", m->norm_gain,
           m->norm_bounds == OTF_MODEL_NORM_PERCENTILE ? "percentile" : "fixed", m->norm_lo,
           m->norm_hi);
    printf("  precisions:");
    for (size_t i = 0; i < m->n_precisions; i++)
        printf(" %s", m->precisions[i]);
    printf("\n  post-processing: obj threshold");
    for (size_t i = 0; i < m->n_obj_threshold; i++)
        printf("%s%g", i ? "," : " ", m->obj_threshold[i]);
    printf(", NMS DIoU %g / %g, median reject [%g, %g], border %s (%d px)\n", m->nms_diou_first,
           m->nms_diou_second, m->median_reject_lo, m->median_reject_hi,
           otf_model_border_policy_name(m->border), m->border_pix);
    for (size_t i = 0; i < m->n_params; i++)
        printf("  param %zu: %s [%s] %s min %g max %g\n", i, m->params[i].name, m->params[i].unit,
               otf_model_param_transform_name(m->params[i].transform), m->params[i].min,
               m->params[i].max);
}

static int print_net(const struct otf_model_net *net, int w, int h)
{
    struct otf_errbuf eb = {0};
    struct otf_model_shape *sh = otf_xcalloc(net->n_layers + 1, sizeof(*sh));
    const struct otf_model_yolo *y = otf_model_net_yolo(net);
    int rc = OTF_CLI_EXIT_OK;

    if (otf_model_infer_shapes(net, w, h, 1, sh, &eb) != OTF_OK) {
        fprintf(stderr, "otf model info: input %dx%d: %s\n", w, h, eb.msg);
        free(sh);
        return OTF_CLI_EXIT_FAIL;
    }
    printf("network: %s save, header dims %dx%dx%dx%d (WxHxDxC), %zu layers, %zu parameters\n",
           net->format == OTF_MODEL_FORMAT_TEXT ? "text" : "binary", net->in_dims[0],
           net->in_dims[1], net->in_dims[2], net->in_dims[3], net->n_layers, net->n_params);
    printf("%3s %-5s %-34s %-20s %-16s %10s %10s\n", "#", "kind", "hyper-parameters", "activation",
           "output WxHxC", "params", "MFLOP");
    printf("%3s %-5s %-34s %-20s %4dx%-4dx%-6d\n", "in", "", "", "", sh[0].w, sh[0].h, sh[0].c);
    for (size_t i = 0; i < net->n_layers; i++) {
        const struct otf_model_layer *L = &net->layers[i];
        char desc[128], act[64], shape[32];
        describe_layer(L, desc, sizeof(desc));
        snprintf(act, sizeof(act), "%s%s", L->activ.name, L->dropout_rate > 0.01f ? " drop" : "");
        snprintf(shape, sizeof(shape), "%dx%dx%d%s", sh[i + 1].w, sh[i + 1].h, sh[i + 1].c,
                 L->kind == OTF_MODEL_LAYER_DENSE ? "+1" : "");
        printf("%3zu %-5s %-34s %-20s %-16s %10zu %10.1f\n", i + 1,
               otf_model_layer_kind_name(L->kind), desc, act, shape, L->n_weights,
               otf_model_layer_flops(net, i, sh) / 1e6);
    }
    printf("total: %zu parameters, %.2f GFLOP per %dx%d patch\n", net->n_params,
           otf_model_net_flops(net, sh) / 1e9, w, h);
    if (y) {
        const struct otf_model_shape *g = &sh[net->n_layers];
        printf("YOLO: %d boxes x (8 + %d classes + %d params) on a %dx%d grid, cell %dx%d px, "
               "fit_dim %d, class softmax %d\n",
               y->nb_box, y->nb_class, y->nb_param, g->w, g->h, w / g->w, h / g->h, y->fit_dim,
               y->class_softmax);
        printf("  priors W:");
        for (int b = 0; b < y->nb_box; b++)
            printf(" %g", (double)y->priors[0][b]);
        printf("\n  priors H:");
        for (int b = 0; b < y->nb_box; b++)
            printf(" %g", (double)y->priors[1][b]);
        printf("\n");
        static const char *const part[6] = {"position",   "size",  "prob",
                                            "objectness", "class", "param"};
        for (int r = 0; r < 6; r++)
            printf("  %-10s slope %g max %g min %g\n", part[r], (double)y->sm[r][0],
                   (double)y->sm[r][1], (double)y->sm[r][2]);
    }
    free(sh);
    return rc;
}

static int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"size", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
    struct otf_errbuf eb = {0};
    struct otf_model_manifest *m = NULL;
    struct otf_model_net *net = NULL;
    int w = 0, h = 0, c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (parse_size(optarg, &w, &h) != 0) {
                fprintf(stderr, "otf model info: --size wants WxH, got '%s'\n", optarg);
                return OTF_CLI_EXIT_USAGE;
            }
            break;
        case 'h':
            printf("usage: otf model info PATH [--size WxH]\n"
                   "Prints the layers, output shapes, parameters and FLOPs per patch of a CIANNA\n"
                   "network (at the header dims, the manifest's patch sizes, or --size), and the\n"
                   "manifest when PATH is a model folder.\n");
            return OTF_CLI_EXIT_OK;
        default:
            return OTF_CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "otf model info: exactly one PATH expected\n");
        return OTF_CLI_EXIT_USAGE;
    }
    if (load_any(argv[optind], &m, &net, &eb) != OTF_OK) {
        fprintf(stderr, "otf model info: %s\n", eb.msg);
        return OTF_CLI_EXIT_FAIL;
    }
    if (m)
        print_manifest(m);
    if (w) {
        rc = print_net(net, w, h);
    } else if (m) {
        rc = print_net(net, m->train_patch_w, m->train_patch_h);
        if (rc == OTF_CLI_EXIT_OK &&
            (m->infer_patch_w != m->train_patch_w || m->infer_patch_h != m->train_patch_h)) {
            printf("\nat the inference patch size:\n");
            rc = print_net(net, m->infer_patch_w, m->infer_patch_h);
        }
    } else {
        rc = print_net(net, net->in_dims[0], net->in_dims[1]);
    }
    otf_model_manifest_free(m);
    otf_model_net_free(net);
    return rc;
}

static int parse_shape(const char *s, long v[4])
{
    const char *p = s;

    for (int i = 0; i < 4; i++) {
        char *end;
        v[i] = strtol(p, &end, 10);
        if (end == p || v[i] < 1 || v[i] > OTF_MODEL_MAX_DIM)
            return -1;
        if (i < 3 && *end != ',')
            return -1;
        if (i == 3 && *end)
            return -1;
        p = end + 1;
    }
    return 0;
}

static int cmd_forward(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"input", required_argument, NULL, 'i'},
                                         {"shape", required_argument, NULL, 's'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"stage", required_argument, NULL, 'S'},
                                         {"backend", required_argument, NULL, 'b'},
                                         {"precision", required_argument, NULL, 'p'},
                                         {"input-bias", required_argument, NULL, 'B'},
                                         {"batch", required_argument, NULL, 'n'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *model = NULL, *input = NULL, *output = NULL, *shape = NULL;
    struct otf_engine_params ep;
    enum otf_engine_stage stage = OTF_ENGINE_STAGE_DECODED;
    struct otf_errbuf eb = {0};
    struct otf_model_manifest *m = NULL;
    struct otf_model_net *net = NULL;
    struct otf_engine *eng = NULL;
    char *in_bytes = NULL;
    float *in = NULL, *out = NULL;
    size_t in_len = 0, isz, osz, total;
    long sh[4];
    int c, bias_set = 0, batch = 8, rc = OTF_CLI_EXIT_FAIL;
    double bias = 0.1;
    int64_t t0;

    otf_engine_params_init(&ep);
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:s:o:S:b:p:B:n:t:h", opts, NULL)) != -1) {
        int64_t v;
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case 's':
            shape = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'S':
            if (otf_engine_stage_parse(optarg, &stage) != OTF_OK) {
                fprintf(stderr, "otf model forward: --stage is raw, activated or decoded\n");
                return OTF_CLI_EXIT_USAGE;
            }
            break;
        case 'b':
            ep.backend = optarg;
            break;
        case 'p':
            if (otf_engine_precision_parse(optarg, &ep.precision) != OTF_OK) {
                fprintf(stderr, "otf model forward: unknown precision '%s'\n", optarg);
                return OTF_CLI_EXIT_USAGE;
            }
            break;
        case 'B':
            if (otf_str_to_double(optarg, &bias) != OTF_OK) {
                fprintf(stderr, "otf model forward: --input-bias wants a number\n");
                return OTF_CLI_EXIT_USAGE;
            }
            bias_set = 1;
            break;
        case 'n':
        case 't':
            if (otf_str_to_i64(optarg, &v) != OTF_OK || v < (c == 'n') || v > 4096) {
                fprintf(stderr, "otf model forward: bad --%s '%s'\n",
                        c == 'n' ? "batch" : "threads", optarg);
                return OTF_CLI_EXIT_USAGE;
            }
            if (c == 'n')
                batch = (int)v;
            else
                ep.n_threads = (int)v;
            break;
        case 'h':
            printf("usage: otf model forward --model PATH --input IN.f32 --shape N,C,H,W "
                   "--output OUT.f32\n"
                   "         [--stage raw|activated|decoded] [--backend reference|cpu|auto]\n"
                   "         [--precision fp32|bf16] [--input-bias X] [--batch B] [--threads T]\n"
                   "Runs the network on N images of raw little-endian float32 [N][C][H][W] and\n"
                   "writes [N][filters][H][W] (or N+1 floats per image for a dense last layer)\n"
                   "as CIANNA's forward(saving=2) does. --stage: raw = before the last "
                   "activation,\n"
                   "activated, decoded (YOLO boxes in pixels; default). --input-bias defaults to\n"
                   "the manifest's, else 0.1 (CIANNA's init bias). --batch: images per forward\n"
                   "(default 8).\n");
            return OTF_CLI_EXIT_OK;
        default:
            return OTF_CLI_EXIT_USAGE;
        }
    }
    if (optind != argc || !model || !input || !output || !shape) {
        fprintf(stderr, "otf model forward: --model, --input, --shape and --output are required "
                        "(see --help)\n");
        return OTF_CLI_EXIT_USAGE;
    }
    if (parse_shape(shape, sh) != 0) {
        fprintf(stderr, "otf model forward: --shape wants N,C,H,W positive integers\n");
        return OTF_CLI_EXIT_USAGE;
    }
    if (load_any(model, &m, &net, &eb) != OTF_OK) {
        fprintf(stderr, "otf model forward: %s\n", eb.msg);
        goto out;
    }
    if (sh[1] != net->in_dims[3]) {
        fprintf(stderr, "otf model forward: the model takes %d channel(s), --shape gives %ld\n",
                net->in_dims[3], sh[1]);
        goto out;
    }
    ep.batch_max = batch < sh[0] ? batch : (int)sh[0];
    ep.in_w = (int)sh[3];
    ep.in_h = (int)sh[2];
    ep.input_bias = bias_set ? (float)bias : m ? m->input_bias : 0.1f;
    if (otf_engine_new(net, &ep, &eng, &eb) != OTF_OK) {
        fprintf(stderr, "otf model forward: %s\n", eb.msg);
        goto out;
    }
    isz = otf_engine_input_size(eng);
    osz = otf_engine_output_size(eng);
    if (otf_fs_read_file(input, (size_t)1 << 34, &in_bytes, &in_len, &eb) != OTF_OK) {
        fprintf(stderr, "otf model forward: %s\n", eb.msg);
        goto out;
    }
    if (in_len != (size_t)sh[0] * isz * sizeof(float)) {
        fprintf(stderr, "otf model forward: %s has %zu bytes, --shape %s needs %zu\n", input,
                in_len, shape, (size_t)sh[0] * isz * sizeof(float));
        goto out;
    }
    /* an aligned copy: the file buffer is only byte-aligned */
    in = otf_malloc(in_len);
    if (otf_mul_size((size_t)sh[0], osz * sizeof(float), &total) != 0 || !in ||
        !(out = otf_malloc(total))) {
        fprintf(stderr, "otf model forward: out of memory\n");
        goto out;
    }
    memcpy(in, in_bytes, in_len);
    t0 = otf_time_mono_us();
    for (long b = 0; b < sh[0]; b += ep.batch_max) {
        int k = (int)(sh[0] - b < ep.batch_max ? sh[0] - b : ep.batch_max);
        if (otf_engine_forward(eng, in + (size_t)b * isz, k, out + (size_t)b * osz, stage, &eb) !=
            OTF_OK) {
            fprintf(stderr, "otf model forward: %s\n", eb.msg);
            goto out;
        }
    }
    if (otf_fs_write_atomic(output, out, total, &eb) != OTF_OK) {
        fprintf(stderr, "otf model forward: %s\n", eb.msg);
        goto out;
    }
    fprintf(stderr,
            "otf model forward: %ld image(s) %ldx%ld, backend %s %s, stage %s, %.1f ms, "
            "%zu floats per image -> %s\n",
            sh[0], sh[3], sh[2], otf_engine_backend_name(eng),
            otf_engine_precision_name(ep.precision), otf_engine_stage_name(stage),
            (double)(otf_time_mono_us() - t0) / 1e3, osz, output);
    rc = OTF_CLI_EXIT_OK;
out:
    otf_free(in);
    otf_free(out);
    free(in_bytes);
    otf_engine_free(eng);
    otf_model_manifest_free(m);
    otf_model_net_free(net);
    return rc;
}

int otf_cli_model(int argc, char **argv)
{
    if (argc < 2) {
        usage_model(stderr);
        return OTF_CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage_model(stdout);
        return OTF_CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(argv[1], "forward") == 0)
        return cmd_forward(argc - 1, argv + 1);
    fprintf(stderr, "otf model: unknown subcommand '%s' (info, forward)\n", argv[1]);
    return OTF_CLI_EXIT_USAGE;
}
