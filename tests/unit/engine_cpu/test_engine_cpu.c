/* engine/cpu tests: the oneDNN backend against the reference backend on random networks
 * written in CIANNA's binary format (every layer kind, odd sizes, strides that drop rows,
 * int_padding, saturation reached, dropout, dense bias nodes, partial batches), in fp32 and in
 * bf16 (skipped without AVX512_BF16), plus the saturation kernel on its own.
 *
 * Tolerances (docs/internals/engine-cpu.md): fp32 NMSE <= 1e-10 and every value within
 * 1e-4 * max(1, |ref|) (measured: 3e-13, 6e-6); bf16 NMSE <= 1e-3 (measured <= 1.1e-4; bf16 keeps
 * 8 significant bits). OTF_TEST_VERBOSE=1 prints every comparison. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_int.h"
#include "engine/engine.h"
#include "model/model.h"
#include "otf_test.h"

#define TOL_NMSE_FP32 1e-10
#define TOL_REL_FP32  1e-4
#define TOL_NMSE_BF16 1e-3

/* ---- a tiny CIANNA binary writer (reference §3) ---- */

struct wr {
    unsigned char *p;
    size_t len, cap;
    uint64_t rng;
    int w, h, c;      /* current shape while layers are added */
    int prev_dense_n; /* nb_neurons of the previous dense layer, else 0 */
};

static void put(struct wr *w, const void *d, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2;
        w->p = realloc(w->p, w->cap);
        assert_non_null(w->p);
    }
    memcpy(w->p + w->len, d, n);
    w->len += n;
}

static void put_i(struct wr *w, int v)
{
    int32_t x = v;
    put(w, &x, 4);
}

static void put_f(struct wr *w, float v)
{
    put(w, &v, 4);
}

static void put_s40(struct wr *w, const char *s)
{
    char b[40];
    memset(b, 0x5a, sizeof(b)); /* CIANNA leaves garbage after the NUL */
    snprintf(b, sizeof(b), "%s", s);
    put(w, b, 40);
}

static double urand(struct wr *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return (double)(w->rng >> 11) / 9007199254740992.0;
}

static float nrand(struct wr *w, double sd)
{
    double u = urand(w) + 1e-12, v = urand(w);
    return (float)(sd * sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static void wr_init(struct wr *w, int W, int H, int C, uint64_t seed)
{
    memset(w, 0, sizeof(*w));
    w->rng = seed * 2654435761u + 1;
    w->w = W;
    w->h = H;
    w->c = C;
    put_i(w, W);
    put_i(w, H);
    put_i(w, 1);
    put_i(w, C);
}

/* conv with square-or-not filter fw x fh, stride, padding, int_padding (same in x and y) */
static void conv(struct wr *w, int F, int fw, int fh, int sx, int sy, int px, int py, int ip,
                 float drop, const char *act)
{
    int cin = w->c;
    w->prev_dense_n = 0;
    put(w, "C", 1);
    put_i(w, F);
    put_i(w, fw);
    put_i(w, fh);
    put_i(w, 1);
    put_i(w, sx);
    put_i(w, sy);
    put_i(w, 1);
    put_i(w, px);
    put_i(w, py);
    put_i(w, 0);
    put_i(w, ip);
    put_i(w, ip);
    put_i(w, 0);
    put_i(w, w->w);
    put_i(w, w->h);
    put_i(w, 1);
    put_i(w, cin);
    put_f(w, drop);
    put_f(w, 0.3f); /* bias value (layer 0 uses the engine's input bias) */
    put_s40(w, act);
    if (strncmp(act, "YOLO", 4) == 0) {
        /* 2 boxes, 1 class, 1 param: F must be 2*(8+1+1) = 20 */
        static const float sm[6][3] = {{0.5f, 6, -6}, {0.5f, 1.2f, -1.4f}, {0.2f, 6, -6},
                                       {0.5f, 4, -5}, {1, 3, -6},          {0.5f, 1.5f, -0.2f}};
        put_i(w, 2);
        put_i(w, 1);
        put_i(w, 1);
        put_i(w, 2);
        put_i(w, 0);
        float pr[6] = {4, 8, 6, 5, 0, 0};
        for (int i = 0; i < 6; i++)
            put_f(w, pr[i]);
        for (int r = 0; r < 6; r++)
            for (int k = 0; k < 3; k++)
                put_f(w, sm[r][k]);
    }
    int K = fw * fh * cin;
    for (int f = 0; f < F; f++) {
        for (int k = 0; k < K; k++)
            put_f(w, nrand(w, sqrt(2.0 / K)));
        put_f(w, nrand(w, 1.0));
    }
    int we = w->w + (w->w - 1) * ip, he = w->h + (w->h - 1) * ip;
    w->w = (we + 2 * px - fw) / sx + 1;
    w->h = (he + 2 * py - fh) / sy + 1;
    w->c = F;
}

static void pool(struct wr *w, int ps, int s, int p, int global, float drop, const char *type,
                 const char *act)
{
    put(w, "P", 1);
    for (int i = 0; i < 2; i++)
        put_i(w, ps);
    put_i(w, 1);
    for (int i = 0; i < 2; i++)
        put_i(w, s);
    put_i(w, 1);
    for (int i = 0; i < 2; i++)
        put_i(w, p);
    put_i(w, 0);
    put_i(w, global);
    put_f(w, drop);
    put_s40(w, type);
    put_s40(w, act);
    if (global) {
        w->w = w->h = 1;
    } else {
        w->w = (w->w + 2 * p - ps) / s + 1;
        w->h = (w->h + 2 * p - ps) / s + 1;
    }
}

static void norm(struct wr *w, int gs, int set_off, const char *act)
{
    int ng = (w->c + gs - 1) / gs;
    put(w, "N", 1);
    put_s40(w, "GN");
    put_i(w, gs);
    put_i(w, set_off);
    put_s40(w, act);
    for (int g = 0; g < ng; g++)
        put_f(w, 0.5f + (float)urand(w));
    for (int g = 0; g < ng; g++)
        put_f(w, nrand(w, 0.3));
}

static void lrn(struct wr *w, int range, const char *act)
{
    put(w, "L", 1);
    put_i(w, range);
    put_f(w, 2.0f);
    put_f(w, 0.5f);
    put_f(w, 0.75f);
    put_s40(w, act);
}

static void dense(struct wr *w, int N, float drop, const char *act)
{
    int in_size = w->prev_dense_n ? w->prev_dense_n + 1 : w->w * w->h * w->c + 1;
    put(w, "D", 1);
    put_i(w, N);
    put_f(w, drop);
    put_f(w, 0.4f);
    put_s40(w, act);
    for (int j = 0; j < in_size; j++)
        for (int i = 0; i <= N; i++)
            put_f(w, nrand(w, j == in_size - 1 || i == N ? 1.0 : sqrt(2.0 / (in_size - 1))));
    w->prev_dense_n = N;
    w->w = w->h = 1;
    w->c = N;
}

/* dense -> conv: the conv reads the dense output as a W x H x C image (prev_size) */
static void as_image(struct wr *w, int W, int H, int C)
{
    OTF_ASSERT(w->prev_dense_n == W * H * C);
    w->w = W;
    w->h = H;
    w->c = C;
}

static struct otf_model_net *wr_load(struct wr *w)
{
    struct otf_model_net *net = NULL;
    struct otf_errbuf eb = {0};
    if (otf_model_load_from_buffer(w->p, w->len, OTF_MODEL_FORMAT_BINARY, &net, &eb) != OTF_OK)
        fail_msg("model: %s", eb.msg);
    free(w->p);
    w->p = NULL;
    return net;
}

/* ---- running and comparing ---- */

static float *forward_all(const char *backend, enum otf_engine_precision prec,
                          const struct otf_model_net *net, int W, int H, int batch_max,
                          const float *in, int n_img, enum otf_engine_stage stage, size_t *osz)
{
    struct otf_engine_params p;
    struct otf_errbuf eb = {0};
    struct otf_engine *eng = NULL;
    otf_engine_params_init(&p);
    p.backend = backend;
    p.precision = prec;
    p.batch_max = batch_max;
    p.in_w = W;
    p.in_h = H;
    p.input_bias = 0.1f;
    p.n_threads = 2;
    if (otf_engine_new(net, &p, &eng, &eb) != OTF_OK)
        fail_msg("%s: engine_new: %s", backend, eb.msg);
    size_t isz = otf_engine_input_size(eng);
    *osz = otf_engine_output_size(eng);
    float *out = calloc((size_t)n_img * *osz, sizeof(float));
    assert_non_null(out);
    for (int b = 0; b < n_img; b += batch_max) {
        int k = n_img - b < batch_max ? n_img - b : batch_max;
        if (otf_engine_forward(eng, in + (size_t)b * isz, k, out + (size_t)b * *osz, stage, &eb) !=
            OTF_OK)
            fail_msg("%s: forward: %s", backend, eb.msg);
    }
    otf_engine_free(eng);
    return out;
}

struct cmp {
    double nmse, max_rel;
};

static struct cmp compare(const float *out, const float *ref, size_t n)
{
    double se = 0.0, sr = 0.0, mr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)out[i] - ref[i];
        se += d * d;
        sr += (double)ref[i] * ref[i];
        double r = fabs(d) / fmax(1.0, fabs(ref[i]));
        if (!(r <= mr))
            mr = r;
    }
    struct cmp c = {sr > 0 ? se / sr : se, mr};
    if (isnan(se))
        c.nmse = INFINITY;
    return c;
}

/* Random inputs in [0, 1) like tanh-normalised sky patches, with a few bright pixels. */
static float *make_input(int n, int C, int W, int H, uint64_t seed)
{
    struct wr r = {.rng = seed * 7919 + 3};
    size_t sz = (size_t)n * C * W * H;
    float *in = malloc(sz * sizeof(float));
    assert_non_null(in);
    for (size_t i = 0; i < sz; i++)
        in[i] = (float)tanh(3.0 * urand(&r) * (urand(&r) < 0.02 ? 1.0 : 0.2));
    return in;
}

/* cpu vs reference for every stage, batch_max 1..3 over 5 images (partial last batches). */
static void check_net(const char *what, struct otf_model_net *net, int W, int H, int C,
                      enum otf_engine_precision prec)
{
    const int n_img = 5;
    float *in = make_input(n_img, C, W, H, (uint64_t)W * 31 + H);
    static const enum otf_engine_stage stages[] = {OTF_ENGINE_STAGE_RAW, OTF_ENGINE_STAGE_ACTIVATED,
                                                   OTF_ENGINE_STAGE_DECODED};
    for (size_t s = 0; s < 3; s++) {
        size_t osz, osz2;
        float *ref = forward_all("reference", OTF_ENGINE_PRECISION_FP32, net, W, H, 2, in, n_img,
                                 stages[s], &osz);
        for (int bm = 1; bm <= 3; bm++) {
            if (prec == OTF_ENGINE_PRECISION_BF16 && bm != 3)
                continue;
            float *out = forward_all("cpu", prec, net, W, H, bm, in, n_img, stages[s], &osz2);
            assert_int_equal(osz, osz2);
            struct cmp c = compare(out, ref, (size_t)n_img * osz);
            int ok = prec == OTF_ENGINE_PRECISION_BF16
                         ? c.nmse <= TOL_NMSE_BF16
                         : c.nmse <= TOL_NMSE_FP32 && c.max_rel <= TOL_REL_FP32;
            if (getenv("OTF_TEST_VERBOSE") || !ok)
                print_message("%s %s stage %d batch_max %d: nmse %.3g max_rel %.3g\n", what,
                              prec == OTF_ENGINE_PRECISION_BF16 ? "bf16" : "fp32", (int)s, bm,
                              c.nmse, c.max_rel);
            if (!ok)
                fail_msg("%s: cpu differs from reference", what);
            free(out);
        }
        free(ref);
    }
    free(in);
}

/* ---- the random networks ---- */

static struct otf_model_net *net_convs(int *W, int *H, int *C, uint64_t seed)
{
    struct wr w;
    *W = 37;
    *H = 29;
    *C = 2;
    wr_init(&w, *W, *H, *C, seed);
    conv(&w, 8, 3, 3, 1, 1, 1, 1, 0, 0.0f, "RELU_S800.00_L0.05");
    conv(&w, 16, 2, 2, 2, 2, 0, 0, 0, 0.0f, "LIN");               /* 37 -> 18: drops a column */
    conv(&w, 12, 5, 3, 1, 2, 2, 1, 0, 0.25f, "RELU_S0.50_L0.10"); /* saturates */
    conv(&w, 10, 3, 3, 2, 1, 1, 0, 0, 0.0f, "LOGI_S2.00_B1.50");
    conv(&w, 6, 1, 1, 1, 1, 0, 0, 0, 0.0f, "RELU_S1.00_L0.00");
    return wr_load(&w);
}

static struct otf_model_net *net_pools_norm(int *W, int *H, int *C, uint64_t seed)
{
    struct wr w;
    *W = 15;
    *H = 11;
    *C = 3;
    wr_init(&w, *W, *H, *C, seed);
    conv(&w, 16, 3, 2, 1, 1, 1, 0, 1, 0.0f, "RELU_S800.00_L0.05"); /* int_padding 1 */
    pool(&w, 3, 2, 1, 0, 0.0f, "MAX", "LIN");
    norm(&w, 4, 1, "LIN");
    conv(&w, 24, 3, 3, 1, 1, 1, 1, 0, 0.0f, "RELU_S3.00_L0.20");
    pool(&w, 2, 2, 0, 0, 0.3f, "AVG", "RELU_S0.50_L0.10");
    norm(&w, 8, 0, "RELU_S800.00_L0.05");
    conv(&w, 7, 3, 3, 1, 1, 1, 1, 0, 0.0f, "SMAX");
    return wr_load(&w);
}

static struct otf_model_net *net_dense(int *W, int *H, int *C, uint64_t seed)
{
    struct wr w;
    *W = 9;
    *H = 7;
    *C = 1;
    wr_init(&w, *W, *H, *C, seed);
    conv(&w, 6, 3, 3, 1, 1, 1, 1, 0, 0.0f, "RELU_S800.00_L0.05");
    pool(&w, 2, 2, 0, 0, 0.0f, "MAX", "LIN");
    dense(&w, 24, 0.2f, "RELU_S2.00_L0.05");
    dense(&w, 17, 0.0f, "LIN");
    dense(&w, 12, 0.0f, "LOGI_S6.00_B1.00");
    dense(&w, 9, 0.0f, "SMAX");
    return wr_load(&w);
}

static struct otf_model_net *net_dense_conv(int *W, int *H, int *C, uint64_t seed)
{
    struct wr w;
    *W = 8;
    *H = 6;
    *C = 2;
    wr_init(&w, *W, *H, *C, seed);
    dense(&w, 30, 0.0f, "LIN"); /* first layer dense: the input bias feeds it */
    as_image(&w, 5, 3, 2);
    conv(&w, 4, 3, 3, 1, 1, 1, 1, 0, 0.0f, "RELU_S800.00_L0.05");
    pool(&w, 0, 0, 0, 1, 0.0f, "MAX", "LIN"); /* global */
    lrn(&w, 3, "LIN");
    dense(&w, 5, 0.0f, "LIN");
    return wr_load(&w);
}

static struct otf_model_net *net_yolo(int *W, int *H, int *C, uint64_t seed)
{
    struct wr w;
    *W = 33;
    *H = 32;
    *C = 1;
    wr_init(&w, *W, *H, *C, seed);
    conv(&w, 16, 5, 5, 1, 1, 2, 2, 0, 0.0f, "RELU_S800.00_L0.05");
    conv(&w, 16, 2, 2, 2, 2, 0, 0, 0, 0.0f, "RELU_S800.00_L0.05");
    conv(&w, 32, 3, 3, 1, 1, 1, 1, 0, 0.0f, "RELU_S800.00_L0.05");
    conv(&w, 32, 2, 2, 2, 2, 0, 0, 0, 0.0f, "RELU_S800.00_L0.05");
    norm(&w, 4, 0, "LIN");
    conv(&w, 64, 1, 1, 1, 1, 0, 0, 0, 0.25f, "RELU_S800.00_L0.05");
    conv(&w, 20, 1, 1, 1, 1, 0, 0, 0, 0.0f, "YOLO");
    return wr_load(&w);
}

typedef struct otf_model_net *(*net_fn)(int *, int *, int *, uint64_t);

static void run_nets(enum otf_engine_precision prec)
{
    static const struct {
        const char *name;
        net_fn fn;
    } nets[] = {{"convs", net_convs},
                {"pools_norm", net_pools_norm},
                {"dense", net_dense},
                {"dense_conv", net_dense_conv},
                {"yolo", net_yolo}};
    for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
        for (uint64_t seed = 1; seed <= 2; seed++) {
            int W, H, C;
            struct otf_model_net *net = nets[i].fn(&W, &H, &C, seed);
            char what[64];
            snprintf(what, sizeof(what), "%s seed %d", nets[i].name, (int)seed);
            check_net(what, net, W, H, C, prec);
            otf_model_net_free(net);
        }
}

static int cpu_registered(void)
{
    return otf_engine_backend_find("cpu") != NULL &&
           strcmp(otf_engine_backend_find("cpu")->name, "cpu") == 0;
}

static void test_random_nets_fp32(void **st)
{
    (void)st;
    assert_true(cpu_registered());
    run_nets(OTF_ENGINE_PRECISION_FP32);
}

static void test_random_nets_bf16(void **st)
{
    (void)st;
    run_nets(OTF_ENGINE_PRECISION_BF16);
}

/* The bf16 refusal message names the missing ISA, and fp32 is always supported. */
static void test_supports(void **st)
{
    char why[200] = "";
    (void)st;
    const struct otf_engine_backend *be = otf_engine_backend_find("cpu");
    assert_non_null(be);
    assert_true(be->supports(OTF_ENGINE_PRECISION_FP32, why, sizeof(why)));
    assert_false(be->supports(OTF_ENGINE_PRECISION_INT8, why, sizeof(why)));
    if (!be->supports(OTF_ENGINE_PRECISION_BF16, why, sizeof(why)))
        assert_non_null(strstr(why, "AVX512_BF16"));
}

/* Saturation fix-up: exactly CIANNA's formula above sat, untouched elsewhere, both types. */
static void test_fix_saturation(void **st)
{
    (void)st;
    const size_t n = 10007;
    float *f = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    uint16_t *h = malloc(n * sizeof(uint16_t));
    assert_true(f && g && h);
    for (size_t i = 0; i < n; i++) {
        float x = (float)((double)i * 0.37 - 1000.0);
        g[i] = x <= 0.0f ? 0.05f * x : x; /* what the fused eltwise_relu produced */
        f[i] = g[i];
        h[i] = otf_engine_cpu_to_bf16(g[i]);
    }
    otf_engine_cpu_fix_saturation(f, n, 0, 800.0f, 0.05f);
    otf_engine_cpu_fix_saturation(h, n, 1, 800.0f, 0.05f);
    for (size_t i = 0; i < n; i++) {
        float x = (float)((double)i * 0.37 - 1000.0);
        float want = x <= 0.0f ? x * 0.05f : (x > 800.0f ? 800.0f + (x - 800.0f) * 0.05f : x);
        assert_true(f[i] == want); /* bit-exact */
        float hb = otf_engine_cpu_from_bf16(otf_engine_cpu_to_bf16(g[i]));
        float wb = hb > 800.0f ? 800.0f + (hb - 800.0f) * 0.05f : hb;
        assert_true(otf_engine_cpu_from_bf16(h[i]) ==
                    otf_engine_cpu_from_bf16(otf_engine_cpu_to_bf16(wb)));
    }
    free(f);
    free(g);
    free(h);
}

/* `test_engine_cpu` runs the fp32 tests; `test_engine_cpu bf16` the bf16 ones, exiting 77
 * (CTest SKIP) on a CPU without AVX512_BF16. */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_supports),
        cmocka_unit_test(test_fix_saturation),
        cmocka_unit_test(test_random_nets_fp32),
    };
    const struct CMUnitTest tests_bf16[] = {
        cmocka_unit_test(test_random_nets_bf16),
    };
    otf_log_setup(getenv("OTF_ENGINE_CPU_PROFILE") ? OTF_LOG_DEBUG : OTF_LOG_WARN, NULL);
    if (argc > 1 && strcmp(argv[1], "bf16") == 0) {
        char why[200] = "";
        const struct otf_engine_backend *be = otf_engine_backend_find("cpu");
        if (!be || !be->supports(OTF_ENGINE_PRECISION_BF16, why, sizeof(why))) {
            fprintf(stderr, "skip: %s\n", why);
            return 77;
        }
        return cmocka_run_group_tests_name("engine_cpu_bf16", tests_bf16, NULL, NULL);
    }
    return cmocka_run_group_tests_name("engine_cpu", tests, NULL, NULL);
}
