/* Model tests: CIANNA files of tests/data/cianna (binary and text), hostile inputs (truncation
 * at every offset, absurd sizes, wrong strings), allocation failure at every step of the
 * loaders, shape inference and FLOPs on the SDC1 architecture, model.ini manifests, cards and
 * the models-dir scan. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cianna_build.h"
#include "model/model.h"
#include "otf_test.h"

static char *slurp(const char *rel, size_t *len)
{
    char path[1024], *p = NULL;
    struct otf_errbuf eb = {0};

    snprintf(path, sizeof(path), "%s/%s", OTF_TEST_DATA_DIR, rel);
    if (otf_fs_read_file(path, (size_t)1 << 30, &p, len, &eb) != OTF_OK)
        fail_msg("%s", eb.msg);
    return p;
}

static enum otf_status load_buf(const void *p, size_t n, struct otf_model_net **net,
                                struct otf_errbuf *eb)
{
    *net = NULL;
    return otf_model_load_from_buffer(p, n, OTF_MODEL_FORMAT_AUTO, net, eb);
}

/* ---- the CIANNA files ---- */

static void test_case_files(void **st)
{
    struct otf_errbuf eb = {0};
    struct otf_model_net *a = NULL, *b = NULL, *e = NULL;
    char path[1024];
    const struct otf_model_yolo *y;

    (void)st;
    snprintf(path, sizeof(path), "%s/cianna/caseA/model_A.bin", OTF_TEST_DATA_DIR);
    assert_int_equal(otf_model_load_file(path, &a, &eb), OTF_OK);
    snprintf(path, sizeof(path), "%s/cianna/caseB/model_B.txt", OTF_TEST_DATA_DIR);
    assert_int_equal(otf_model_load_file(path, &b, &eb), OTF_OK);
    snprintf(path, sizeof(path), "%s/cianna/caseE/model_E.bin", OTF_TEST_DATA_DIR);
    assert_int_equal(otf_model_load_file(path, &e, &eb), OTF_OK);

    assert_int_equal(a->format, OTF_MODEL_FORMAT_BINARY);
    assert_int_equal(b->format, OTF_MODEL_FORMAT_TEXT);
    assert_int_equal(a->n_layers, 6);
    assert_int_equal(a->in_dims[0], 64);
    assert_int_equal(a->layers[3].kind, OTF_MODEL_LAYER_NORM);
    assert_int_equal(a->layers[3].norm.nb_group, 4);
    assert_int_equal(a->layers[4].activ.kind, OTF_MODEL_ACTIV_RELU);
    assert_float_equal(a->layers[4].activ.relu_sat, 2.0f, 1e-6);
    assert_float_equal(a->layers[4].activ.relu_leak, 0.1f, 1e-6);
    assert_float_equal(a->layers[2].bias_value, 0.5f, 1e-7);
    assert_int_equal(a->n_params, 6844);
    y = otf_model_net_yolo(a);
    assert_non_null(y);
    assert_int_equal(y->nb_box, 3);
    assert_int_equal(y->nb_class, 2);
    assert_int_equal(y->nb_param, 2);
    assert_int_equal(y->fit_dim, 2);
    assert_float_equal(y->priors[0][2], 16.0f, 0);
    assert_float_equal(y->priors[1][0], 6.0f, 0);
    assert_float_equal(y->sm[OTF_MODEL_YOLO_OBJ][OTF_MODEL_SM_FMAX], 4.0f, 0);
    assert_float_equal(y->sm[OTF_MODEL_YOLO_SIZE][OTF_MODEL_SM_FMIN], -1.4f, 1e-7);

    /* the text save holds the same net with weights printed as %g (6 significant digits) */
    assert_int_equal(b->n_layers, a->n_layers);
    assert_int_equal(b->n_params, a->n_params);
    assert_memory_equal(otf_model_net_yolo(b)->sm, y->sm, sizeof(y->sm));
    for (size_t i = 0; i < a->n_layers; i++)
        for (size_t j = 0; j < a->layers[i].n_weights; j++) {
            float wa = a->layers[i].weights[j], wb = b->layers[i].weights[j];
            if (fabsf(wa - wb) > 5e-6f * fmaxf(fabsf(wa), 1e-30f) + 1e-37f)
                fail_msg("layer %zu weight %zu: %g vs %g", i, j, (double)wa, (double)wb);
        }

    assert_int_equal(e->layers[0].conv.int_padding[0], 1);
    assert_int_equal(e->layers[0].activ.kind, OTF_MODEL_ACTIV_LOGI);
    assert_int_equal(e->layers[2].kind, OTF_MODEL_LAYER_POOL);
    assert_int_equal(e->layers[2].pool.is_global, 1);
    assert_int_equal(e->layers[2].pool.type, OTF_MODEL_POOL_AVG);
    assert_float_equal(e->layers[2].dropout_rate, 0.3f, 1e-7);
    assert_int_equal(e->layers[3].activ.kind, OTF_MODEL_ACTIV_SMAX);
    assert_null(otf_model_net_yolo(e));
    otf_model_net_free(a);
    otf_model_net_free(b);
    otf_model_net_free(e);
}

static void test_shapes(void **st)
{
    struct otf_errbuf eb = {0};
    struct otf_model_net *e = NULL;
    struct otf_model_shape sh[5];
    char path[1024];

    (void)st;
    snprintf(path, sizeof(path), "%s/cianna/caseE/model_E.bin", OTF_TEST_DATA_DIR);
    assert_int_equal(otf_model_load_file(path, &e, &eb), OTF_OK);
    assert_int_equal(otf_model_infer_shapes(e, 12, 10, 1, sh, &eb), OTF_OK);
    /* README case E: 23x18x4, 12x18x6, 1x1x6, 1x1x5 */
    assert_int_equal(sh[1].w, 23);
    assert_int_equal(sh[1].h, 18);
    assert_int_equal(sh[1].c, 4);
    assert_int_equal(sh[2].w, 12);
    assert_int_equal(sh[2].h, 18);
    assert_int_equal(sh[3].w, 1);
    assert_int_equal(sh[4].size, 5);
    /* another size: the global pool makes any size valid */
    assert_int_equal(otf_model_infer_shapes(e, 31, 7, 1, sh, &eb), OTF_OK);
    assert_int_equal(sh[1].w, 61);
    assert_int_equal(sh[1].h, 12);
    assert_int_equal(sh[2].w, 31);
    /* too small: the 2-row filter does not fit one row dilated */
    assert_int_equal(otf_model_infer_shapes(e, 5, 1, 1, sh, &eb), OTF_E_INVAL);
    assert_int_equal(otf_model_infer_shapes(e, 0, 10, 1, sh, &eb), OTF_E_INVAL);
    otf_model_net_free(e);
}

/* SDC1 (reference §10) with zero weights: parameter count, file size, FLOPs, output grids. */
static void test_sdc1_counts(void **st)
{
    static const int convs[15][4] = {{32, 5, 1, 2},  {16, 2, 2, 0},  {24, 3, 1, 1},  {32, 3, 1, 1},
                                     {64, 2, 2, 0},  {128, 1, 1, 0}, {192, 3, 1, 1}, {128, 2, 2, 0},
                                     {192, 1, 1, 0}, {384, 3, 1, 1}, {256, 1, 1, 0}, {384, 3, 1, 1},
                                     {512, 2, 2, 0}, {768, 1, 1, 0}, {1024, 3, 1, 1}};
    struct cb b;
    struct cb_yolo y;
    struct otf_errbuf eb = {0};
    struct otf_model_net *net = NULL;
    struct otf_model_shape sh[19];
    int one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};

    (void)st;
    cb_begin(&b, 256, 256, 1, 1, 0);
    for (int i = 0; i < 15; i++)
        cb_conv2(&b, convs[i][0], convs[i][1], convs[i][2], convs[i][3], 0, 0.1f,
                 "RELU_S800.00_L0.05");
    cb_norm(&b, 4, 0, "LIN");
    cb_conv2(&b, 2048, 1, 1, 0, 0.25f, 0.1f, "RELU_S800.00_L0.05");
    memset(&y, 0, sizeof(y));
    y.nb_box = 9;
    y.nb_param = 5;
    y.fit_dim = 2;
    for (int r = 0; r < 6; r++)
        y.sm[r][0] = 1, y.sm[r][1] = 6, y.sm[r][2] = -6;
    cb_conv(&b, 117, one, one, zero, zero, NULL, 0, 0.5f, "YOLO", &y);
    assert_int_equal(b.len, 50487786);
    assert_int_equal(load_buf(b.p, b.len, &net, &eb), OTF_OK);
    assert_int_equal(net->n_params, 12621373);
    assert_int_equal(otf_model_infer_shapes(net, 256, 256, 1, sh, &eb), OTF_OK);
    assert_true(fabs(otf_model_net_flops(net, sh) / 1e9 - 11.506) < 0.001);
    assert_int_equal(sh[18].w, 16);
    assert_int_equal(sh[18].c, 117);
    assert_int_equal(otf_model_infer_shapes(net, 512, 512, 1, sh, &eb), OTF_OK);
    assert_true(fabs(otf_model_net_flops(net, sh) / 1e9 - 46.02) < 0.01);
    assert_int_equal(sh[18].w, 32);
    otf_model_net_free(net);
    free(b.p);
}

/* ---- hostile input ---- */

static void test_truncated_binary(void **st)
{
    size_t len, n_ok = 0;
    char *p = slurp("cianna/caseA/model_A.bin", &len);

    (void)st;
    for (size_t n = 0; n < len; n++) {
        struct otf_errbuf eb = {0};
        struct otf_model_net *net;
        enum otf_status rc = load_buf(p, n, &net, &eb);
        if (rc == OTF_OK) {
            /* a cut exactly after a layer record leaves a shorter valid net */
            n_ok++;
            assert_true(net->n_layers < 6);
            otf_model_net_free(net);
        } else {
            assert_int_equal(rc, OTF_E_FORMAT);
            assert_null(net);
            assert_true(eb.msg[0] != '\0');
        }
    }
    assert_int_equal(n_ok, 5);
    free(p);
}

static void test_truncated_text(void **st)
{
    size_t len;
    char *p = slurp("cianna/caseB/model_B.txt", &len);

    (void)st;
    for (size_t n = 0; n < len; n += n < 4000 ? 1 : 37) {
        struct otf_errbuf eb = {0};
        struct otf_model_net *net;
        enum otf_status rc = otf_model_load_from_buffer(p, n, OTF_MODEL_FORMAT_TEXT, &net, &eb);
        if (rc == OTF_OK) {
            assert_true(net->n_layers <= 6);
            otf_model_net_free(net);
        } else {
            assert_int_equal(rc, OTF_E_FORMAT);
        }
    }
    free(p);
}

static void put_i32(char *p, size_t off, int v)
{
    int32_t x = v;
    memcpy(p + off, &x, 4);
}

/* Offsets in model_A.bin (docs/formats/cianna-model.md): header 0..15, layer 1 type at 16. */
#define L1 17 /* first field of layer 1 */

static enum otf_status patched_i32(const char *orig, size_t len, size_t off, int v)
{
    char *p = malloc(len);
    struct otf_errbuf eb = {0};
    struct otf_model_net *net;
    enum otf_status rc;

    memcpy(p, orig, len);
    put_i32(p, off, v);
    rc = load_buf(p, len, &net, &eb);
    otf_model_net_free(net);
    free(p);
    return rc;
}

static void test_absurd_sizes(void **st)
{
    size_t len;
    char *p = slurp("cianna/caseA/model_A.bin", &len);
    static const int vals[] = {0, -1, -2147483647 - 1, 2147483647, 1 << 30, 65537};
    /* header W,H,D,C then the 17 ints of layer 1: nb_filters, f_size[3], stride[3],
     * padding[3], int_padding[3], prev_size[3], prev_depth */
    size_t offs[4 + 17];

    (void)st;
    for (size_t i = 0; i < 4; i++)
        offs[i] = 4 * i;
    for (size_t i = 0; i < 17; i++)
        offs[4 + i] = L1 + 4 * i;
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
        for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
            enum otf_status rc = patched_i32(p, len, offs[i], vals[k]);
            size_t field = i >= 4 ? i - 4 : 99;
            if (field >= 13 && field < 17) {
                /* prev_size/prev_depth are informational unless a dense layer precedes */
                assert_int_equal(rc, OTF_OK);
            } else if (field >= 7 && field < 13 && vals[k] == 0) {
                /* no padding / no int_padding is valid: only the shapes change */
                assert_int_equal(rc, OTF_OK);
            } else if (rc != OTF_E_FORMAT && rc != OTF_E_LIMIT) {
                fail_msg("field at byte %zu = %d: rc %d", offs[i], vals[k], rc);
            }
        }
    free(p);
}

static void test_limits(void **st)
{
    struct cb b;
    struct otf_errbuf eb = {0};
    struct otf_model_net *net;

    (void)st;
    /* a dense layer announcing 2^31 weights with a tiny file: rejected before allocation */
    cb_begin(&b, 4096, 4096, 1, 16, 0);
    cb_put(&b, "D", 1);
    cb_i32(&b, 1 << 24);
    cb_f32(&b, 0);
    cb_f32(&b, 0.1f);
    cb_s40(&b, "LIN");
    assert_int_equal(load_buf(b.p, b.len, &net, &eb), OTF_E_LIMIT);
    free(b.p);
    /* weights announced beyond the file end */
    cb_begin(&b, 8, 8, 1, 1, 0);
    cb_put(&b, "D", 1);
    cb_i32(&b, 1000);
    cb_f32(&b, 0);
    cb_f32(&b, 0.1f);
    cb_s40(&b, "LIN");
    assert_int_equal(load_buf(b.p, b.len, &net, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "truncated"));
    free(b.p);
    /* more layers than the cap */
    cb_begin(&b, 8, 8, 1, 1, 0);
    for (int i = 0; i <= OTF_MODEL_MAX_LAYERS; i++)
        cb_pool(&b, 1, 1, 0, 0, 0, "MAX", "LIN");
    assert_int_equal(load_buf(b.p, b.len, &net, &eb), OTF_E_LIMIT);
    free(b.p);
    /* empty, header only */
    assert_int_equal(load_buf("", 0, &net, &eb), OTF_E_FORMAT);
    cb_begin(&b, 8, 8, 1, 1, 0);
    assert_int_equal(load_buf(b.p, b.len, &net, &eb), OTF_E_FORMAT);
    free(b.p);
}

static enum otf_status with_strings(const char *activ, const char *pool, int no_nul, float weight)
{
    struct cb b;
    struct otf_errbuf eb = {0};
    struct otf_model_net *net;
    enum otf_status rc;

    cb_begin(&b, 8, 8, 1, 1, 1);
    cb_conv2(&b, 2, 3, 1, 1, 0, 0.1f, activ);
    cb_pool(&b, 2, 2, 0, 0, 0, pool, "LIN");
    if (no_nul)
        memset(b.p + 16 + 1 + 17 * 4 + 8, 'A', 40);
    memcpy(b.p + 16 + 1 + 17 * 4 + 8 + 40, &weight, 4);
    rc = load_buf(b.p, b.len, &net, &eb);
    otf_model_net_free(net);
    free(b.p);
    return rc;
}

static void test_wrong_strings(void **st)
{
    (void)st;
    assert_int_equal(with_strings("RELU_S800.00_L0.05", "MAX", 0, 0.5f), OTF_OK);
    assert_int_equal(with_strings("LOGI_S6.00_B1.00", "AVG", 0, 0.5f), OTF_OK);
    assert_int_equal(with_strings("FOO", "MAX", 0, 0.5f), OTF_E_FORMAT);
    assert_int_equal(with_strings("", "MAX", 0, 0.5f), OTF_E_FORMAT);
    assert_int_equal(with_strings("RELU\x01", "MAX", 0, 0.5f), OTF_E_FORMAT);
    assert_int_equal(with_strings("RELU_Sx", "MAX", 0, 0.5f), OTF_E_FORMAT);
    assert_int_equal(with_strings("LIN", "MIN", 0, 0.5f), OTF_E_FORMAT);
    assert_int_equal(with_strings("LIN", "MAX", 1, 0.5f), OTF_E_FORMAT);
    assert_int_equal(with_strings("LIN", "MAX", 0, NAN), OTF_E_FORMAT);
    assert_int_equal(with_strings("LIN", "MAX", 0, INFINITY), OTF_E_FORMAT);
    /* YOLO on a conv without the right filter count */
    assert_int_equal(with_strings("YOLO", "MAX", 0, 0.5f), OTF_E_FORMAT);
}

static void test_garbage_text(void **st)
{
    static const char *const bad[] = {
        "64x64x1x1\nX",
        "64x64x1x1\nC8f3x3x1.1x1x1s1x1x0p0x0x0ip64x64x1x1idim0.0d0.1bRELU 1 2",
        "64x64x1x1\nC8f3x3x1.1x1x1s1x1x0p0x0x0ip64x64x1x1idim0.0d0.1bWHAT 1 2",
        "64x64x1x1\nC99999999999f3x3x1.1x1x1s1x1x0p0x0x0ip64x64x1x1idim0.0d0.1bLIN 1",
        "64x64x1x1\nC1f3x3x1.1x1x1s1x1x0p0x0x0ip64x64x1x1idim0.0d0.1bLIN 1 2 3 4 5 6 7 8 9 nan",
        "64x64x1x1\nC1f3x3x1.1x1x1s1x1x0p0x0x0ip64x64x1x1idim0.0d0.1bLIN 1 2 3 4 5 6 7 8 9 1e99",
        "64x64x1x1\nP2x2x1.2x2x1s0x0x0p0g_0.0dMEAN LIN",
        "64x64x1x1\nN GN S4_O0LIN 1 1",
        "64x64x1x1\nD5n0.0d0.1bLIN",
        "0x64x1x1\nP2x2x1.2x2x1s0x0x0p0g_0.0dMAX LIN",
    };
    (void)st;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct otf_errbuf eb = {0};
        struct otf_model_net *net = NULL;
        enum otf_status rc =
            otf_model_load_from_buffer(bad[i], strlen(bad[i]), OTF_MODEL_FORMAT_TEXT, &net, &eb);
        if (rc != OTF_E_FORMAT && rc != OTF_E_LIMIT)
            fail_msg("case %zu: rc %d (%s)", i, rc, eb.msg);
        assert_null(net);
    }
    /* the smallest valid text net, and auto-detection */
    {
        const char *ok = "8x8x1x1\nP2x2x1.2x2x1s0x0x0p0g_0.000000dMAX LIN \n\n";
        struct otf_errbuf eb = {0};
        struct otf_model_net *net = NULL;
        assert_int_equal(load_buf(ok, strlen(ok), &net, &eb), OTF_OK);
        assert_int_equal(net->format, OTF_MODEL_FORMAT_TEXT);
        otf_model_net_free(net);
    }
}

/* ---- allocation failures ---- */

/* Child mode: one pass of every loader; exit 0 all loaded, 3 some allocation failed cleanly. */
static int alloc_child(void)
{
    static const char *const files[] = {"cianna/caseA/model_A.bin", "cianna/caseB/model_B.txt",
                                        "cianna/caseE/model_E.bin"};
    int nomem = 0;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[1024];
        struct otf_errbuf eb = {0};
        struct otf_model_net *net = NULL;
        enum otf_status rc;
        snprintf(path, sizeof(path), "%s/%s", OTF_TEST_DATA_DIR, files[i]);
        rc = otf_model_load_file(path, &net, &eb);
        if (rc == OTF_E_NOMEM && net == NULL)
            nomem = 1;
        else if (rc != OTF_OK)
            return 1;
        otf_model_net_free(net);
    }
    {
        char path[1024];
        struct otf_errbuf eb = {0};
        struct otf_model_net *net = NULL;
        struct otf_model_manifest *m = NULL;
        enum otf_status rc;
        snprintf(path, sizeof(path), "%s/models/tiny", OTF_TEST_DATA_DIR);
        rc = otf_model_load_dir(path, &m, &net, &eb);
        if (rc == OTF_E_NOMEM && !net && !m)
            nomem = 1;
        else if (rc != OTF_OK)
            return 1;
        otf_model_net_free(net);
        otf_model_manifest_free(m);
    }
    return nomem ? 3 : 0;
}

static void test_alloc_failures(void **st)
{
    int k;

    (void)st;
    for (k = 1; k < 500; k++) {
        char at[16];
        int status;
        pid_t pid;
        snprintf(at, sizeof(at), "%d", k);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            setenv("OTF_TEST_FAIL_ALLOC_AT", at, 1);
            execl("/proc/self/exe", "test_model", "--alloc-child", (char *)NULL);
            _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 0)
            break;
        if (WEXITSTATUS(status) != 3)
            fail_msg("allocation %d: child exit %d", k, WEXITSTATUS(status));
    }
    /* every allocation of the loaders was failed once, and the next pass succeeded */
    assert_true(k > 10 && k < 500);
}

/* ---- manifests ---- */

static const char good_ini[] = "[model]\n"
                               "description = test\n"
                               "weights = net.dat\n"
                               "precisions = fp32, bf16\n"
                               "[input]\n"
                               "channels = 1\n"
                               "train_patch = 256x256\n"
                               "infer_patch = 512\n"
                               "overlap = 32\n"
                               "[normalisation]\n"
                               "gain = 3\n"
                               "lo = 4e-7\n"
                               "hi = 4e-5\n"
                               "[yolo]\n"
                               "nb_box = 9\n"
                               "nb_param = 2\n"
                               "[postprocess]\n"
                               "obj_threshold = 0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9\n"
                               "nms_diou_first = 0.1\n"
                               "border = drop\n"
                               "[param.flux]\n"
                               "unit = Jy\n"
                               "transform = ln_minmax\n"
                               "min = -14\n"
                               "max = -4\n"
                               "[param.pa_cos]\n"
                               "transform = cos_pa\n";

static enum otf_status parse(const char *text, struct otf_model_manifest **m, struct otf_errbuf *eb)
{
    *m = NULL;
    return otf_model_manifest_parse(text, strlen(text), "sdc1", NULL, m, eb);
}

static void test_manifest_parse(void **st)
{
    struct otf_errbuf eb = {0};
    struct otf_model_manifest *m, *m2;
    char *ini, *j1, *j2;

    (void)st;
    if (parse(good_ini, &m, &eb) != OTF_OK)
        fail_msg("%s", eb.msg);
    assert_string_equal(m->id, "sdc1");
    assert_int_equal(m->train_patch_w, 256);
    assert_int_equal(m->infer_patch_w, 512);
    assert_int_equal(m->infer_patch_h, 512);
    assert_int_equal(m->overlap_pix, 32);
    assert_int_equal(m->n_precisions, 2);
    assert_string_equal(m->precisions[1], "bf16");
    assert_int_equal(m->n_obj_threshold, 9);
    assert_int_equal(m->border, OTF_MODEL_BORDER_DROP);
    assert_int_equal(m->n_params, 2);
    assert_string_equal(m->params[0].name, "flux");
    assert_int_equal(m->params[0].transform, OTF_MODEL_PARAM_LN_MINMAX);
    assert_int_equal(m->params[1].transform, OTF_MODEL_PARAM_COS_PA);
    assert_float_equal(m->input_bias, 0.1f, 0);
    /* write -> parse gives the same card */
    assert_int_equal(otf_model_manifest_write_ini(m, &ini, &eb), OTF_OK);
    assert_int_equal(parse(ini, &m2, &eb), OTF_OK);
    j1 = otf_model_manifest_card_json(m);
    j2 = otf_model_manifest_card_json(m2);
    assert_string_equal(j1, j2);
    assert_non_null(strstr(j1, "\"infer_patch\":[512,512]"));
    assert_non_null(strstr(j1, "\"sha256\":null"));
    free(j1);
    free(j2);
    free(ini);
    otf_model_manifest_free(m);
    otf_model_manifest_free(m2);
}

static void test_manifest_errors(void **st)
{
    static const struct {
        const char *find, *replace;
    } bad[] = {
        {"description = test", "descripton = test"},
        {"[yolo]", "[yolov3]"},
        {"weights = net.dat", "weights = ../net.dat"},
        {"weights = net.dat", "format = text"},
        {"channels = 1", "channels = 0"},
        {"infer_patch = 512", "infer_patch = 512x"},
        {"overlap = 32", "overlap = 256"},
        {"hi = 4e-5", "hi = 1e-8"},
        {"precisions = fp32, bf16", "precisions = fp64"},
        {"precisions = fp32, bf16", "precisions = fp32, fp32"},
        {"0.1,0.2,0.3", "0.1,0.2"},
        {"0.1,0.2,0.3", "0.1,0.2,1.3"},
        {"border = drop", "border = maybe"},
        {"transform = ln_minmax", "transform = exp"},
        {"min = -14", "min = -3"},
        {"nb_param = 2", "nb_param = 3"},
        {"[model]", "model"},
        {"[param.flux]", "[param.f/x]"},
    };
    (void)st;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[4096];
        const char *at = strstr(good_ini, bad[i].find);
        struct otf_errbuf eb = {0};
        struct otf_model_manifest *m;
        assert_non_null(at);
        snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good_ini), good_ini, bad[i].replace,
                 at + strlen(bad[i].find));
        if (parse(text, &m, &eb) != OTF_E_FORMAT)
            fail_msg("case %zu (%s) accepted", i, bad[i].replace);
        assert_null(m);
        assert_true(eb.msg[0] != '\0');
    }
    {
        struct otf_errbuf eb = {0};
        struct otf_model_manifest *m = NULL;
        assert_int_equal(
            otf_model_manifest_parse(good_ini, strlen(good_ini), "../x", NULL, &m, &eb),
            OTF_E_FORMAT);
    }
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    char *p = NULL;
    struct otf_errbuf eb = {0};
    assert_int_equal(otf_fs_read_file(from, 1 << 26, &p, &len, &eb), OTF_OK);
    assert_int_equal(otf_fs_write_atomic(to, p, len, &eb), OTF_OK);
    free(p);
}

static void write_text(const char *path, const char *text)
{
    struct otf_errbuf eb = {0};
    assert_int_equal(otf_fs_write_atomic(path, text, strlen(text), &eb), OTF_OK);
}

static void test_model_dirs(void **st)
{
    char tmp[] = "/tmp/otf_model_XXXXXX", p1[256], p2[512], src[1024];
    struct otf_errbuf eb = {0};
    struct otf_model_card *cards = NULL;
    struct otf_model_manifest *m = NULL;
    struct otf_model_net *net = NULL;
    size_t n = 0, len;
    char *ini;

    (void)st;
    assert_non_null(mkdtemp(tmp));
    /* a good copy of tiny, a copy with a wrong SHA-256, a broken manifest, a stray file */
    snprintf(p1, sizeof(p1), "%s/tiny", tmp);
    assert_int_equal(otf_fs_mkdirs(p1, 0, &eb), OTF_OK);
    snprintf(src, sizeof(src), "%s/models/tiny/net.dat", OTF_TEST_DATA_DIR);
    snprintf(p2, sizeof(p2), "%s/net.dat", p1);
    copy_file(src, p2);
    snprintf(src, sizeof(src), "%s/models/tiny/model.ini", OTF_TEST_DATA_DIR);
    snprintf(p2, sizeof(p2), "%s/model.ini", p1);
    copy_file(src, p2);
    assert_int_equal(otf_model_load_dir(p1, &m, &net, &eb), OTF_OK);
    assert_string_equal(m->id, "tiny");
    assert_int_equal(net->n_layers, 6);
    otf_model_manifest_free(m);
    otf_model_net_free(net);

    snprintf(p1, sizeof(p1), "%s/badsha", tmp);
    assert_int_equal(otf_fs_mkdirs(p1, 0, &eb), OTF_OK);
    snprintf(src, sizeof(src), "%s/models/tiny/net.dat", OTF_TEST_DATA_DIR);
    snprintf(p2, sizeof(p2), "%s/net.dat", p1);
    copy_file(src, p2);
    ini = slurp("models/tiny/model.ini", &len);
    {
        char *h = strstr(ini, "weights_sha256 = ");
        assert_non_null(h);
        h[17] = h[17] == '0' ? '1' : '0';
    }
    snprintf(p2, sizeof(p2), "%s/model.ini", p1);
    write_text(p2, ini);
    free(ini);
    m = NULL;
    net = NULL;
    assert_int_equal(otf_model_load_dir(p1, &m, &net, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "SHA-256"));
    assert_null(m);
    assert_null(net);

    snprintf(p1, sizeof(p1), "%s/broken", tmp);
    assert_int_equal(otf_fs_mkdirs(p1, 0, &eb), OTF_OK);
    snprintf(p2, sizeof(p2), "%s/model.ini", p1);
    write_text(p2, "[model]\nweights = x.dat\n");
    snprintf(p1, sizeof(p1), "%s/bad name", tmp);
    assert_int_equal(otf_fs_mkdirs(p1, 0, &eb), OTF_OK);
    snprintf(p2, sizeof(p2), "%s/model.ini", p1);
    write_text(p2, good_ini);
    snprintf(p2, sizeof(p2), "%s/README", tmp);
    write_text(p2, "not a model\n");

    /* the scan reads manifests only: badsha is listed (its weights are not checked) */
    assert_int_equal(otf_model_scan_dir(tmp, &cards, &n, &eb), OTF_OK);
    assert_int_equal(n, 2);
    assert_string_equal(cards[0].id, "badsha");
    assert_string_equal(cards[1].id, "tiny");
    assert_int_equal(cards[1].patch_w, 64);
    assert_int_equal(cards[1].in_channels, 1);
    assert_int_equal(cards[1].n_precisions, 2);
    assert_non_null(strstr(cards[1].card_json, "\"id\":\"tiny\""));
    otf_model_cards_free(cards, n);

    snprintf(p1, sizeof(p1), "%s/none", tmp);
    assert_int_equal(otf_model_scan_dir(p1, &cards, &n, &eb), OTF_E_NOTFOUND);
    assert_int_equal(otf_fs_remove_tree(tmp, &eb), OTF_OK);
}

static void test_registry_xml(void **st)
{
    char path[1024];
    struct otf_errbuf eb = {0};
    struct otf_model_manifest **ms = NULL;
    size_t n = 0;

    (void)st;
    snprintf(path, sizeof(path), "%s/models/registry/CIANNA_models.xml", OTF_TEST_DATA_DIR);
    if (otf_model_registry_read_xml(path, &ms, &n, &eb) != OTF_OK)
        fail_msg("%s", eb.msg);
    assert_int_equal(n, 2);
    assert_string_equal(ms[0]->id, "SDC1_Cornu_2024");
    assert_string_equal(ms[0]->weights_file, "net0_s1800.dat");
    assert_int_equal(ms[0]->infer_patch_w, 256);
    assert_int_equal(ms[0]->overlap_pix, 16);
    assert_int_equal(ms[0]->nb_box, 8);
    assert_int_equal(ms[0]->nb_param, 5);
    assert_int_equal(ms[0]->n_precisions, 2);
    assert_string_equal(ms[0]->precisions[1], "fp16");
    assert_float_equal(ms[0]->norm_gain, 3.0, 0);
    assert_non_null(strstr(ms[0]->training_data, "SKA SDC1 Data: Synthetic"));
    assert_string_equal(ms[1]->id, "small");
    assert_int_equal(ms[1]->overlap_pix, 8);
    assert_int_equal(ms[1]->n_obj_threshold, 1);
    otf_model_manifests_free(ms, n);

    snprintf(path, sizeof(path), "%s/models/registry/CIANNA_models_uws.xml", OTF_TEST_DATA_DIR);
    if (otf_model_registry_read_xml(path, &ms, &n, &eb) != OTF_OK)
        fail_msg("%s", eb.msg);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0]->id, "net0_s1800");
    assert_int_equal(ms[0]->max_obj_per_patch, 280);
    /* per-box thresholds through BoxPriorClass */
    assert_int_equal(ms[0]->n_obj_threshold, 8);
    assert_float_equal(ms[0]->obj_threshold[0], 1.0, 0);
    assert_float_equal(ms[0]->obj_threshold[6], 0.8, 0);
    assert_float_equal(ms[0]->obj_threshold[7], 0.4, 0);
    assert_float_equal(ms[0]->nms_diou_first, 0.01, 0);
    assert_float_equal(ms[0]->nms_diou_second, -0.15, 0);
    otf_model_manifests_free(ms, n);

    /* not XML, no models */
    snprintf(path, sizeof(path), "%s/models/tiny/model.ini", OTF_TEST_DATA_DIR);
    assert_int_equal(otf_model_registry_read_xml(path, &ms, &n, &eb), OTF_E_FORMAT);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_files),     cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_sdc1_counts),    cmocka_unit_test(test_truncated_binary),
        cmocka_unit_test(test_truncated_text), cmocka_unit_test(test_absurd_sizes),
        cmocka_unit_test(test_limits),         cmocka_unit_test(test_wrong_strings),
        cmocka_unit_test(test_garbage_text),   cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_manifest_parse), cmocka_unit_test(test_manifest_errors),
        cmocka_unit_test(test_model_dirs),     cmocka_unit_test(test_registry_xml),
    };
    if (argc == 2 && strcmp(argv[1], "--alloc-child") == 0)
        return alloc_child();
    otf_log_setup(OTF_LOG_ERROR, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
