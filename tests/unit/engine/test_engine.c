/* Engine tests: every registered backend against CIANNA's own outputs (tests/data/cianna,
 * cases A, B, E, every stage and every per-layer intermediate, with the README's tolerances),
 * hand-computed small nets for the layers the vectors do not cover, and every backend against
 * the reference on random nets of every layer kind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/cianna_build.h"
#include "engine/engine.h"
#include "model/model.h"
#include "otf_test.h"

/* ---- helpers ---- */

static float *read_f32(const char *rel, size_t want)
{
    char path[1024];
    float *v;
    size_t got;
    FILE *f;

    snprintf(path, sizeof(path), "%s/cianna/%s", OTF_TEST_DATA_DIR, rel);
    f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    v = malloc(want * sizeof(float) + 1);
    assert_non_null(v);
    got = fread(v, sizeof(float), want + 1, f);
    fclose(f);
    if (got != want)
        fail_msg("%s: %zu floats, expected %zu", path, got, want);
    return v;
}

static struct otf_model_net *load(const char *rel)
{
    char path[1024];
    struct otf_errbuf eb = {0};
    struct otf_model_net *net = NULL;

    snprintf(path, sizeof(path), "%s/cianna/%s", OTF_TEST_DATA_DIR, rel);
    if (otf_model_load_file(path, &net, &eb) != OTF_OK)
        fail_msg("load %s: %s", path, eb.msg);
    return net;
}

enum tol_kind { TOL_REL, TOL_ABS };

/* |out-ref| <= tol * (kind == REL ? max(1, |ref|) : 1) everywhere; reports the worst. */
static void compare(const char *what, const float *out, const float *ref, size_t n,
                    enum tol_kind kind, double tol)
{
    double worst = 0.0;
    size_t at = 0;

    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)out[i] - ref[i]);
        double lim = kind == TOL_REL ? fmax(1.0, fabs(ref[i])) : 1.0;
        if (!(d / lim <= worst)) {
            worst = d / lim;
            at = i;
        }
    }
    if (!(worst <= tol))
        fail_msg("%s: error %.3g > %.3g at %zu (out %.9g ref %.9g)", what, worst, tol, at,
                 (double)out[at], (double)ref[at]);
}

static int run_winograd = 1;       /* engine parameter of the next run() calls */
static int run_winograd_seen = -1; /* what the engine of the last run() reported */

/* Runs `net` on `n_img` images with backend `be`, batches of batch_max (the last partial). */
static float *run(const struct otf_engine_backend *be, const struct otf_model_net *net,
                  size_t n_layers, int w, int h, float bias, int batch_max, const float *in,
                  int n_img, enum otf_engine_stage stage, size_t *out_size)
{
    struct otf_engine_params p;
    struct otf_errbuf eb = {0};
    struct otf_engine *eng = NULL;
    float *out;
    size_t isz, osz;

    otf_engine_params_init(&p);
    p.backend = be->name;
    p.winograd = run_winograd;
    p.batch_max = batch_max;
    p.in_w = w;
    p.in_h = h;
    p.input_bias = bias;
    p.n_layers = n_layers;
    p.n_threads = 2;
    if (otf_engine_new(net, &p, &eng, &eb) != OTF_OK)
        fail_msg("%s: engine_new: %s", be->name, eb.msg);
    isz = otf_engine_input_size(eng);
    osz = otf_engine_output_size(eng);
    run_winograd_seen = otf_engine_winograd_layers(eng);
    out = malloc((size_t)n_img * osz * sizeof(float));
    assert_non_null(out);
    for (int b = 0; b < n_img; b += batch_max) {
        int k = n_img - b < batch_max ? n_img - b : batch_max;
        if (otf_engine_forward(eng, in + (size_t)b * isz, k, out + (size_t)b * osz, stage, &eb) !=
            OTF_OK)
            fail_msg("%s: forward: %s", be->name, eb.msg);
    }
    otf_engine_free(eng);
    *out_size = osz;
    return out;
}

struct vec {
    const char *file;
    size_t n_layers; /* 0 = all */
    enum otf_engine_stage stage;
    enum tol_kind kind;
    double tol;
};

static void check_case(const char *model, const char *input, int w, int h, int c, float bias,
                       const struct vec *v, size_t nv, const char *dir)
{
    struct otf_model_net *net = load(model);
    size_t nb;
    const struct otf_engine_backend *const *be = otf_engine_backend_list(&nb);
    float *in = read_f32(input, (size_t)3 * c * w * h);

    for (size_t b = 0; b < nb; b++)
        for (size_t i = 0; i < nv; i++)
            for (int bm = 1; bm <= 3; bm++) {
                size_t osz;
                char what[512], rel[256];
                float *out, *ref;
                if (bm == 1 && strcmp(be[b]->name, "reference") == 0 && i > 0)
                    continue; /* batch 1 once per case is enough for the slow oracle */
                out = run(be[b], net, v[i].n_layers, w, h, bias, bm, in, 3, v[i].stage, &osz);
                snprintf(rel, sizeof(rel), "%s/%s", dir, v[i].file);
                ref = read_f32(rel, 3 * osz);
                snprintf(what, sizeof(what), "%s %s batch_max %d", be[b]->name, rel, bm);
                compare(what, out, ref, 3 * osz, v[i].kind, v[i].tol);
                free(out);
                free(ref);
            }
    free(in);
    otf_model_net_free(net);
}

/* ---- CIANNA vectors ---- */

static void test_case_a(void **st)
{
    static const struct vec v[] = {
        {"out_prelin.f32", 0, OTF_ENGINE_STAGE_RAW, TOL_REL, 1e-4},
        {"out_activated.f32", 0, OTF_ENGINE_STAGE_ACTIVATED, TOL_ABS, 1e-4},
        {"out_decoded.f32", 0, OTF_ENGINE_STAGE_DECODED, TOL_ABS, 1e-3},
        {"inter_L1.f32", 1, OTF_ENGINE_STAGE_ACTIVATED, TOL_REL, 1e-4},
        {"inter_L2.f32", 2, OTF_ENGINE_STAGE_ACTIVATED, TOL_REL, 1e-4},
        {"inter_L3.f32", 3, OTF_ENGINE_STAGE_ACTIVATED, TOL_REL, 1e-4},
        {"inter_L4_norm.f32", 4, OTF_ENGINE_STAGE_ACTIVATED, TOL_REL, 1e-4},
        {"inter_L5.f32", 5, OTF_ENGINE_STAGE_ACTIVATED, TOL_REL, 1e-4},
    };
    static const struct vec lastlin[] = {
        {"out_prelin.f32", 0, OTF_ENGINE_STAGE_DECODED, TOL_REL, 1e-4},
    };
    (void)st;
    check_case("caseA/model_A.bin", "caseA/input_A.f32", 64, 64, 1, 0.1f, v,
               sizeof(v) / sizeof(v[0]), "caseA");
    /* the LIN copy of the last layer: DECODED is ACTIVATED without YOLO, = CIANNA's prelin */
    check_case("caseA/model_A_lastLIN.bin", "caseA/input_A.f32", 64, 64, 1, 0.1f, lastlin, 1,
               "caseA");
}

static void test_case_b(void **st)
{
    static const struct vec v[] = {
        {"out_prelin.f32", 0, OTF_ENGINE_STAGE_RAW, TOL_REL, 1e-4},
        {"out_activated.f32", 0, OTF_ENGINE_STAGE_ACTIVATED, TOL_ABS, 1e-4},
        {"out_decoded.f32", 0, OTF_ENGINE_STAGE_DECODED, TOL_ABS, 1e-3},
    };
    static const struct vec noyolo[] = {
        {"out_noyolo_L5.f32", 0, OTF_ENGINE_STAGE_ACTIVATED, TOL_REL, 1e-4},
    };
    (void)st;
    check_case("caseB/model_B.txt", "caseB/input_B.f32", 64, 64, 1, 0.1f, v,
               sizeof(v) / sizeof(v[0]), "caseB");
    check_case("caseB/model_B_noyolo.txt", "caseB/input_B.f32", 64, 64, 1, 0.1f, noyolo, 1,
               "caseB");
}

static void test_case_e(void **st)
{
    static const struct vec v[] = {
        {"out_final.f32", 0, OTF_ENGINE_STAGE_DECODED, TOL_ABS, 1e-5},
        {"inter_L1.f32", 1, OTF_ENGINE_STAGE_ACTIVATED, TOL_REL, 1e-4},
        {"inter_L2.f32", 2, OTF_ENGINE_STAGE_ACTIVATED, TOL_REL, 1e-4},
        {"inter_L3.f32", 3, OTF_ENGINE_STAGE_ACTIVATED, TOL_REL, 1e-4},
    };
    (void)st;
    check_case("caseE/model_E.bin", "caseE/input_E.f32", 12, 10, 3, 0.2f, v,
               sizeof(v) / sizeof(v[0]), "caseE");
}

/* ---- hand-computed nets for what the CIANNA vectors do not cover ---- */

static struct otf_model_net *from_cb(struct cb *b)
{
    struct otf_errbuf eb = {0};
    struct otf_model_net *net = NULL;

    if (otf_model_load_from_buffer(b->p, b->len, OTF_MODEL_FORMAT_BINARY, &net, &eb) != OTF_OK)
        fail_msg("built net rejected: %s", eb.msg);
    free(b->p);
    return net;
}

static void floats(struct cb *b, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cb_f32(b, v[i]);
}

static void dense_rec(struct cb *b, int n, float drop, float bias, const char *act)
{
    cb_put(b, "D", 1);
    cb_i32(b, n);
    cb_f32(b, drop);
    cb_f32(b, bias);
    cb_s40(b, act);
}

/* Runs one image on every backend and compares with `want` (abs 1e-5). */
static void expect_all(const struct otf_model_net *net, int w, int h, float bias, const float *in,
                       enum otf_engine_stage stage, const float *want, size_t n_want)
{
    size_t nb;
    const struct otf_engine_backend *const *be = otf_engine_backend_list(&nb);

    for (size_t b = 0; b < nb; b++) {
        size_t osz;
        float *out = run(be[b], net, 0, w, h, bias, 1, in, 1, stage, &osz);
        assert_int_equal(osz, n_want);
        compare(be[b]->name, out, want, n_want, TOL_ABS, 1e-5);
        free(out);
    }
}

/* Dense bias node (reference §6.5): zeroed after RELU, fed to the next dense layer as its bias
 * input, dropout not applied to it. */
static void test_dense_bias_node(void **st)
{
    static const float w1[9] = {1, 0, 2, 0, 1, 1, 1, -1, 3}, w2[6] = {2, 1, 4, 0, 10, 7};
    static const float in[2] = {1, -2};
    static const float want[2] = {1.25f, 1.5f};
    struct cb b;
    struct otf_model_net *net;

    (void)st;
    cb_begin(&b, 2, 1, 1, 1, 0);
    dense_rec(&b, 2, 0, 0.9f, "RELU_S800.00_L0.05"); /* bias value ignored: layer 1 */
    floats(&b, w1, 9);
    dense_rec(&b, 1, 0.5f, 0.3f, "LIN"); /* bias value unused after dense */
    floats(&b, w2, 6);
    net = from_cb(&b);
    /* v=[1,-2,0.5] -> [1.5,-2.5 | 1.5] -> RELU [1.5,-0.125 | 0] -> [2.5*0.5 | 1.5] */
    expect_all(net, 2, 1, 0.5f, in, OTF_ENGINE_STAGE_DECODED, want, 2);
    otf_model_net_free(net);
}

/* Pool windows skip padded taps (max and avg), then LRN across one channel. */
static void test_pool_lrn(void **st)
{
    static const float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float want_max[4], want_avg[4] = {1, 2.5f, 5.5f, 7};
    const float mx[4] = {1, 3, 7, 9};
    struct cb b;
    struct otf_model_net *net;

    (void)st;
    for (int i = 0; i < 4; i++)
        want_max[i] = mx[i] / sqrtf(1.0f + mx[i] * mx[i] / 3.0f);
    cb_begin(&b, 3, 3, 1, 1, 0);
    cb_pool(&b, 2, 2, 1, 0, 0, "MAX", "LIN");
    cb_lrn(&b, 3, 1.0f, 1.0f, 0.5f, "LIN");
    net = from_cb(&b);
    expect_all(net, 3, 3, 0.1f, in, OTF_ENGINE_STAGE_ACTIVATED, want_max, 4);
    otf_model_net_free(net);
    cb_begin(&b, 3, 3, 1, 1, 0);
    cb_pool(&b, 2, 2, 1, 0, 0.5f, "AVG", "LIN");
    net = from_cb(&b);
    for (int i = 0; i < 4; i++)
        want_avg[i] *= 0.5f;
    expect_all(net, 3, 3, 0.1f, in, OTF_ENGINE_STAGE_ACTIVATED, want_avg, 4);
    otf_model_net_free(net);
}

/* A conv after a dense layer reads the dense output as prev_size x prev_depth; SMAX on a conv
 * normalises over the whole volume. */
static void test_conv_after_dense(void **st)
{
    static const float wd[10] = {1, 2, 3, 4, 9, 0, 0, 0, 0, 0};
    static const float wc[2] = {2, 1};
    static const float in[1] = {1};
    float want[4] = {2.1f, 4.1f, 6.1f, 8.1f}, sm[4];
    int one[3] = {1, 1, 1}, zero[3] = {0, 0, 0}, prev[4] = {2, 2, 1, 1};
    struct cb b;
    struct otf_model_net *net;
    double sum = 0;

    (void)st;
    for (int pass = 0; pass < 2; pass++) {
        cb_begin(&b, 1, 1, 1, 1, 0);
        dense_rec(&b, 4, 0, 0, "LIN");
        floats(&b, wd, 10);
        b.is_dense = 1;
        cb_put(&b, "C", 1);
        cb_i32(&b, 1);
        for (int k = 0; k < 12; k++)
            cb_i32(&b, k < 3 ? one[k] : k < 6 ? one[k - 3] : zero[0]);
        for (int k = 0; k < 4; k++)
            cb_i32(&b, prev[k]);
        cb_f32(&b, 0);
        cb_f32(&b, 0.1f);
        cb_s40(&b, pass ? "SMAX" : "LIN");
        floats(&b, wc, 2);
        net = from_cb(&b);
        if (pass == 0) {
            expect_all(net, 1, 1, 0.0f, in, OTF_ENGINE_STAGE_ACTIVATED, want, 4);
        } else {
            for (int i = 0; i < 4; i++)
                sum += exp(want[i] - 8.1);
            for (int i = 0; i < 4; i++)
                sm[i] = (float)(exp(want[i] - 8.1) / sum);
            expect_all(net, 1, 1, 0.0f, in, OTF_ENGINE_STAGE_ACTIVATED, sm, 4);
            /* RAW stops before the softmax */
            expect_all(net, 1, 1, 0.0f, in, OTF_ENGINE_STAGE_RAW, want, 4);
        }
        otf_model_net_free(net);
    }
}

/* ---- random nets: batch invariance on every backend, every backend against the reference ---- */

static struct otf_model_net *random_net(int kind, uint64_t seed, int *w, int *h, int *c)
{
    struct cb b;
    int f3[3] = {3, 2, 1}, s[3] = {2, 1, 1}, p[3] = {1, 0, 0}, ip[3] = {1, 0, 0};
    struct cb_yolo y;

    memset(&y, 0, sizeof(y));
    switch (kind) {
    case 0: /* odd sizes, strides, int_padding, group norm with set_off, dropout, LOGI */
        *w = 13, *h = 11, *c = 3;
        cb_begin(&b, *w, *h, 1, *c, seed);
        cb_conv(&b, 8, f3, s, p, ip, NULL, 0, 0.1f, "RELU_S2.00_L0.10", NULL);
        cb_norm(&b, 2, 1, "LIN");
        cb_conv2(&b, 6, 3, 1, 1, 0.3f, 0.5f, "LOGI_S6.00_B1.00");
        cb_pool(&b, 3, 2, 1, 0, 0, "MAX", "LIN");
        cb_conv2(&b, 5, 1, 1, 0, 0, 0.1f, "SMAX");
        break;
    case 1: /* pool avg, dense RELU -> dense SMAX */
        *w = 9, *h = 7, *c = 2;
        cb_begin(&b, *w, *h, 1, *c, seed);
        cb_conv2(&b, 4, 3, 1, 1, 0, 0.1f, "RELU_S800.00_L0.05");
        cb_pool(&b, 2, 2, 0, 0, 0, "AVG", "LIN");
        cb_dense(&b, 7, 0.25f, 0.1f, "RELU_S800.00_L0.05");
        cb_dense(&b, 3, 0, 0.1f, "SMAX");
        break;
    default: /* a YOLO head with classes (softmax) and parameters */
        *w = 32, *h = 24, *c = 1;
        cb_begin(&b, *w, *h, 1, *c, seed);
        cb_conv2(&b, 8, 3, 2, 1, 0, 0.1f, "RELU_S800.00_L0.05");
        cb_conv2(&b, 12, 2, 2, 0, 0, 0.1f, "RELU_S800.00_L0.05");
        y.nb_box = 2;
        y.nb_class = 3;
        y.nb_param = 1;
        y.fit_dim = 2;
        y.class_softmax = 1;
        for (int i = 0; i < 2; i++)
            y.priors[0][i] = 4.0f + 3 * i, y.priors[1][i] = 5.0f + i;
        for (int r = 0; r < 6; r++)
            y.sm[r][0] = 0.5f, y.sm[r][1] = 4, y.sm[r][2] = -3;
        {
            int one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
            cb_conv(&b, 2 * 12, one, one, zero, zero, NULL, 0, 0.5f, "YOLO", &y);
        }
        break;
    }
    return from_cb(&b);
}

static void test_random_nets(void **st)
{
    size_t nb;
    const struct otf_engine_backend *const *be = otf_engine_backend_list(&nb);

    (void)st;
    for (int kind = 0; kind < 3; kind++)
        for (uint64_t seed = 1; seed <= 3; seed++) {
            int w, h, c;
            struct otf_model_net *net = random_net(kind, seed * 7919 + (uint64_t)kind, &w, &h, &c);
            size_t isz = (size_t)w * h * c, osz;
            float *in = malloc(3 * isz * sizeof(float)), *ref = NULL;
            struct cb r = {.rng = seed};
            assert_non_null(in);
            for (size_t i = 0; i < 3 * isz; i++)
                in[i] = cb_rand(&r);
            for (size_t b = 0; b < nb; b++)
                for (int st_i = 0; st_i < 3; st_i++) {
                    enum otf_engine_stage stage = (enum otf_engine_stage)st_i;
                    float *one = run(be[b], net, 0, w, h, 0.1f, 1, in, 3, stage, &osz);
                    float *two = run(be[b], net, 0, w, h, 0.1f, 2, in, 3, stage, &osz);
                    char what[128];
                    snprintf(what, sizeof(what), "%s kind %d seed %d stage %d batch", be[b]->name,
                             kind, (int)seed, st_i);
                    /* results do not depend on the batch composition (reference §2) */
                    compare(what, two, one, 3 * osz, TOL_REL, 1e-5);
                    if (b == 0 && st_i == 2) {
                        ref = one;
                        one = NULL;
                    } else if (st_i == 2) {
                        snprintf(what, sizeof(what), "%s kind %d seed %d vs reference", be[b]->name,
                                 kind, (int)seed);
                        compare(what, one, ref, 3 * osz, TOL_REL, 1e-4);
                    }
                    free(one);
                    free(two);
                }
            free(ref);
            free(in);
            otf_model_net_free(net);
        }
}

/* Winograd convolutions (cpu backend, fp32, 3x3 stride 1, >= 64 channels): the same outputs as
 * the double-precision reference backend and as direct convolutions, within the CIANNA
 * tolerance, on odd sizes (partial 4x4 tiles), with a fused-then-split leaky ReLU, a linear
 * layer and a batch that does not fill batch_max. */
static void test_winograd(void **st)
{
    const struct otf_engine_backend *cpu = otf_engine_backend_find("cpu"), *ref;
    const int w = 23, h = 18, n_img = 3;
    struct cb b, r = {.rng = 11};
    struct otf_model_net *net;
    size_t isz = (size_t)w * h, osz;
    float *in, *want, *direct, *one, *two;
    int n_wino;

    (void)st;
    if (!cpu) {
        print_message("no cpu backend in this build: nothing to check\n");
        return;
    }
    ref = otf_engine_backend_find("reference");
    assert_non_null(ref);
    cb_begin(&b, w, h, 1, 1, 4242);
    cb_conv2(&b, 64, 3, 1, 1, 0, 0.1f, "RELU_S800.00_L0.05");
    cb_conv2(&b, 64, 3, 1, 1, 0, 0.1f, "RELU_S800.00_L0.05"); /* Winograd + leaky ReLU */
    cb_conv2(&b, 72, 3, 1, 1, 0, 0.1f, "LIN");                /* Winograd, no activation */
    cb_conv2(&b, 5, 1, 1, 0, 0, 0.1f, "LIN");
    net = from_cb(&b);
    in = malloc((size_t)n_img * isz * sizeof(float));
    assert_non_null(in);
    for (size_t i = 0; i < (size_t)n_img * isz; i++)
        in[i] = cb_rand(&r);

    want = run(ref, net, 0, w, h, 0.1f, 1, in, n_img, OTF_ENGINE_STAGE_ACTIVATED, &osz);
    run_winograd = 0;
    direct = run(cpu, net, 0, w, h, 0.1f, 2, in, n_img, OTF_ENGINE_STAGE_ACTIVATED, &osz);
    assert_int_equal(run_winograd_seen, 0);
    run_winograd = 1;
    one = run(cpu, net, 0, w, h, 0.1f, 1, in, n_img, OTF_ENGINE_STAGE_ACTIVATED, &osz);
    two = run(cpu, net, 0, w, h, 0.1f, 4, in, n_img, OTF_ENGINE_STAGE_ACTIVATED, &osz);
    n_wino = run_winograd_seen;
    assert_true(n_wino == 0 || n_wino == 2); /* never the 1-channel first or 1x1 last layer */
    if (n_wino == 0)
        print_message("oneDNN has no Winograd kernel on this CPU: direct convolutions checked\n");
    compare("winograd vs reference", one, want, (size_t)n_img * osz, TOL_REL, 1e-4);
    compare("winograd vs direct", one, direct, (size_t)n_img * osz, TOL_REL, 1e-4);
    compare("winograd batch 4 vs 1", two, one, (size_t)n_img * osz, TOL_REL, 1e-5);
    free(want);
    free(direct);
    free(one);
    free(two);
    free(in);
    otf_model_net_free(net);
}

static void test_engine_args(void **st)
{
    struct otf_model_net *net = load("caseA/model_A.bin");
    struct otf_engine_params p;
    struct otf_errbuf eb = {0};
    struct otf_engine *eng = NULL;
    float in[64 * 64] = {0}, *out;
    size_t nb;

    (void)st;
    assert_non_null(otf_engine_backend_list(&nb));
    assert_true(nb >= 1);
    assert_non_null(otf_engine_backend_find("reference"));
    assert_non_null(otf_engine_backend_find("auto"));
    assert_null(otf_engine_backend_find("nope"));
    otf_engine_params_init(&p);
    p.backend = "nope";
    assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_E_NOTFOUND);
    p.backend = "reference";
    p.precision = OTF_ENGINE_PRECISION_BF16;
    assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_E_INVAL);
    p.precision = OTF_ENGINE_PRECISION_FP32;
    p.in_w = p.in_h = 1; /* too small for the net */
    assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_E_INVAL);
    p.in_w = p.in_h = 64;
    p.batch_max = 0;
    assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_E_INVAL);
    p.batch_max = 1;
    p.n_layers = 7;
    assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_E_INVAL);
    p.n_layers = 0;
    /* any size the net accepts: SDC1-like nets train at one size and infer at another */
    p.in_w = 96;
    p.in_h = 40;
    assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_OK);
    assert_int_equal(otf_engine_output_shape(eng).w, 24);
    assert_int_equal(otf_engine_output_shape(eng).h, 10);
    otf_engine_free(eng);
    p.in_w = p.in_h = 64;
    assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_OK);
    assert_string_equal(otf_engine_backend_name(eng), "reference");
    assert_int_equal(otf_engine_input_size(eng), 64 * 64);
    assert_int_equal(otf_engine_output_size(eng), 36 * 16 * 16);
    out = malloc(otf_engine_output_size(eng) * sizeof(float));
    assert_int_equal(otf_engine_forward(eng, in, 2, out, OTF_ENGINE_STAGE_RAW, &eb), OTF_E_INVAL);
    assert_int_equal(otf_engine_forward(eng, in, 0, out, OTF_ENGINE_STAGE_RAW, &eb), OTF_E_INVAL);
    assert_int_equal(otf_engine_forward(eng, in, 1, out, OTF_ENGINE_STAGE_RAW, &eb), OTF_OK);
    free(out);
    otf_engine_free(eng);
    otf_model_net_free(net);
}

/* n_streams: a forward split across streams gives what one state gives, on every backend,
 * for every count of images (parts of unequal size, streams left without images); the count is
 * clamped to batch_max and to the threads; out-of-range counts are refused. */
static void test_streams(void **st)
{
    struct otf_model_net *net = load("caseA/model_A.bin");
    const struct otf_engine_backend *const *bes;
    size_t n_be;
    struct otf_errbuf eb = {0};
    uint64_t rng = 99;

    (void)st;
    bes = otf_engine_backend_list(&n_be);
    for (size_t bi = 0; bi < n_be; bi++) {
        struct otf_engine_params p;
        struct otf_engine *one = NULL, *split = NULL, *eng = NULL;
        float *in, *want, *got;
        size_t isz, osz;

        otf_engine_params_init(&p);
        p.backend = bes[bi]->name;
        if (!bes[bi]->supports(p.precision, NULL, 0))
            continue;
        p.in_w = p.in_h = 64;
        p.batch_max = 5;
        p.n_threads = 3;
        if (otf_engine_new(net, &p, &one, &eb) != OTF_OK)
            fail_msg("%s: %s", p.backend, eb.msg);
        p.n_streams = 3;
        if (otf_engine_new(net, &p, &split, &eb) != OTF_OK)
            fail_msg("%s, 3 streams: %s", p.backend, eb.msg);
        assert_int_equal(otf_engine_streams(one), 1);
        assert_int_equal(otf_engine_streams(split), 3);
        isz = otf_engine_input_size(one);
        osz = otf_engine_output_size(one);
        in = malloc(5 * isz * sizeof(float));
        want = malloc(5 * osz * sizeof(float));
        got = malloc(5 * osz * sizeof(float));
        assert_true(in && want && got);
        for (size_t i = 0; i < 5 * isz; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            in[i] = (float)(rng >> 40) / (float)(1 << 24);
        }
        for (int n = 1; n <= 5; n++) {
            char what[64];
            assert_int_equal(otf_engine_forward(one, in, n, want, OTF_ENGINE_STAGE_DECODED, &eb),
                             OTF_OK);
            memset(got, 0xff, 5 * osz * sizeof(float));
            assert_int_equal(otf_engine_forward(split, in, n, got, OTF_ENGINE_STAGE_DECODED, &eb),
                             OTF_OK);
            snprintf(what, sizeof what, "%s, %d images in 3 streams", p.backend, n);
            compare(what, got, want, (size_t)n * osz, TOL_REL, 1e-5);
        }
        assert_true(otf_engine_memory_bytes(split) >= otf_engine_memory_bytes(one));
        otf_engine_free(one);
        otf_engine_free(split);
        /* clamped: no more streams than images per batch, nor than threads */
        p.n_streams = 8;
        assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_OK);
        assert_int_equal(otf_engine_streams(eng), 3);
        otf_engine_free(eng);
        p.batch_max = 2;
        assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_OK);
        assert_int_equal(otf_engine_streams(eng), 2);
        otf_engine_free(eng);
        p.n_streams = -1;
        assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_E_INVAL);
        p.n_streams = 65;
        assert_int_equal(otf_engine_new(net, &p, &eng, &eb), OTF_E_INVAL);
        free(in);
        free(want);
        free(got);
    }
    otf_model_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_a),      cmocka_unit_test(test_case_b),
        cmocka_unit_test(test_case_e),      cmocka_unit_test(test_dense_bias_node),
        cmocka_unit_test(test_pool_lrn),    cmocka_unit_test(test_conv_after_dense),
        cmocka_unit_test(test_random_nets), cmocka_unit_test(test_engine_args),
        cmocka_unit_test(test_winograd),    cmocka_unit_test(test_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
