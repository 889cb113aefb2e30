/* Unit tests for detect: tiling geometry and coverage (100^2 to 33000^2, non-square, regions),
 * normalisation and percentiles, DIoU and the first NMS, the patch source on synthetic FITS
 * files, the collector (thresholds, median rejection, second NMS, border policy, region,
 * de-normalisation, order), RA wrap on a real image, and a whole run with the tiny model. */
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect/detect.h"
#include "otf_test.h"

#ifdef OTF_HAVE_MVEC
#include <immintrin.h>
__m128 _ZGVbN4v_tanhf(__m128 x);
#endif

/* ---- helpers ---- */

/* Writes a w x h float32 FITS image with pixel (x, y) = fn(x, y); returns a temp path. */
static char *make_fits(int64_t w, int64_t h, float (*fn)(int64_t x, int64_t y))
{
    char *path = otf_xasprintf("/tmp/otf_test_detect_%d_%lldx%lld.fits", (int)getpid(),
                               (long long)w, (long long)h);
    fitsfile *f = NULL;
    int st = 0;
    long naxes[2] = {(long)w, (long)h};
    float *row = otf_xmalloc((size_t)w * sizeof(float));

    unlink(path);
    fits_create_file(&f, path, &st);
    fits_create_img(f, FLOAT_IMG, 2, naxes, &st);
    for (int64_t y = 0; y < h && st == 0; y++) {
        long fpix[2] = {1, (long)y + 1};
        for (int64_t x = 0; x < w; x++)
            row[x] = fn(x, y);
        fits_write_pix(f, TFLOAT, fpix, (LONGLONG)w, row, &st);
    }
    fits_close_file(f, &st);
    free(row);
    assert_int_equal(st, 0);
    return path;
}

static float ramp_nan(int64_t x, int64_t y)
{
    return (x == 3 && y == 2) ? NAN : (float)(x + 1000 * y);
}

/* ---- tiling ---- */

static void check_axis_cover(int64_t r0, int64_t len, int64_t start, int64_t n, int64_t shift,
                             int ov)
{
    /* every region pixel lies in the interior [s + ov/2, s + ov/2 + shift) of exactly one
     * patch; the first and last interiors touch the region (no useless patch) */
    int64_t first_in = start + ov / 2, last_in_end = start + (n - 1) * shift + ov / 2 + shift;
    assert_true(first_in <= r0);
    assert_true(first_in + shift > r0);
    assert_true(last_in_end >= r0 + len);
    assert_true(last_in_end - shift < r0 + len);
}

static void test_tiles_sdc1(void **state)
{
    struct otf_detect_geometry g;
    (void)state;
    /* reference §10: 69 x 69 = 4761 patches from -192 for the 32768^2 SDC1 map */
    assert_int_equal(otf_detect_plan_tiles(32768, 32768, NULL, 512, 512, 32, &g, NULL), OTF_OK);
    assert_int_equal(g.nx, 69);
    assert_int_equal(g.ny, 69);
    assert_int_equal(g.x0, -192);
    assert_int_equal(g.y0, -192);
    assert_int_equal(g.shift_x, 480);
    /* patch 34 is centred on the map: [16128, 16640) */
    int64_t x0, y0;
    otf_detect_patch_origin(&g, 34 * 69 + 34, &x0, &y0);
    assert_int_equal(x0, 16128);
    assert_int_equal(y0, 16128);
    otf_detect_patch_origin(&g, 69 * 69 - 1, &x0, &y0);
    assert_int_equal(x0, -192 + 68 * 480);
    assert_int_equal(y0, 32448);
}

static void test_tiles_sizes(void **state)
{
    static const struct {
        int64_t w, h, nx, ny, x0, y0;
    } t[] = {
        /* hand-computed: centred start c = len/2 - 256, k_min = floor((-c - 16)/480),
         * k_max = floor((len - 1 - c - 16)/480), x0 = c + 480 k_min */
        {100, 100, 1, 1, -206, -206},     {512, 512, 3, 3, -480, -480},
        {4096, 4096, 9, 9, -128, -128},   {16384, 16384, 35, 35, -224, -224},
        {33000, 33000, 69, 69, -76, -76}, {1000, 300, 3, 1, -236, -106},
        {300, 1000, 1, 3, -106, -236},    {480, 100, 1, 1, -16, -206},
        {497, 100, 3, 1, -488, -206},     {32768, 100, 69, 1, -192, -206},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct otf_detect_geometry g;
        assert_int_equal(otf_detect_plan_tiles(t[i].w, t[i].h, NULL, 512, 512, 32, &g, NULL),
                         OTF_OK);
        assert_int_equal(g.nx, t[i].nx);
        assert_int_equal(g.ny, t[i].ny);
        assert_int_equal(g.x0, t[i].x0);
        assert_int_equal(g.y0, t[i].y0);
    }
}

static void test_tiles_cover(void **state)
{
    (void)state;
    /* all sizes from 100 to 33000 on both axes (and the tiny model's 64/8 geometry) */
    for (int64_t n = 100; n <= 33000; n += (n < 2000 ? 1 : 97)) {
        struct otf_detect_geometry g;
        int64_t m = 100 + (n * 7919) % 32900; /* a different, non-square height */
        assert_int_equal(otf_detect_plan_tiles(n, m, NULL, 512, 512, 32, &g, NULL), OTF_OK);
        check_axis_cover(0, n, g.x0, g.nx, g.shift_x, 32);
        check_axis_cover(0, m, g.y0, g.ny, g.shift_y, 32);
        /* one patch is centred on the image */
        assert_int_equal((n / 2 - 256 - g.x0) % 480, 0);
        assert_int_equal(otf_detect_plan_tiles(n, m, NULL, 64, 64, 8, &g, NULL), OTF_OK);
        check_axis_cover(0, n, g.x0, g.nx, g.shift_x, 8);
        check_axis_cover(0, m, g.y0, g.ny, g.shift_y, 8);
    }
}

static void test_tiles_roi(void **state)
{
    struct otf_detect_geometry g;
    int64_t roi[4] = {1000, 500, 2000, 700};
    (void)state;
    assert_int_equal(otf_detect_plan_tiles(4096, 4096, roi, 512, 512, 32, &g, NULL), OTF_OK);
    /* x: c = 1000 + 500 - 256 = 1244, k in [-1, 1]; y: c = 344, k = 0 */
    assert_int_equal(g.nx, 3);
    assert_int_equal(g.ny, 1);
    assert_int_equal(g.x0, 764);
    assert_int_equal(g.y0, 344);
    assert_int_equal(g.roi[2], 2000);
    check_axis_cover(1000, 1000, g.x0, g.nx, g.shift_x, 32);
    check_axis_cover(500, 200, g.y0, g.ny, g.shift_y, 32);
    /* bad regions */
    int64_t empty[4] = {10, 10, 10, 20}, out[4] = {0, 0, 5000, 10};
    assert_int_equal(otf_detect_plan_tiles(4096, 4096, empty, 512, 512, 32, &g, NULL), OTF_E_INVAL);
    assert_int_equal(otf_detect_plan_tiles(4096, 4096, out, 512, 512, 32, &g, NULL), OTF_E_INVAL);
    assert_int_equal(otf_detect_plan_tiles(4096, 4096, NULL, 512, 512, 256, &g, NULL), OTF_E_INVAL);
    assert_int_equal(otf_detect_plan_tiles(0, 4096, NULL, 512, 512, 32, &g, NULL), OTF_E_INVAL);
}

/* ---- normalisation and percentiles ---- */

static void test_normalise(void **state)
{
    float v[5] = {5.0f, -1.0f, 20.0f, NAN, 0.0f};
    (void)state;
    otf_detect_normalise(v, 5, 0.0, 10.0, 3.0, 0.25f);
    assert_float_equal(v[0], tanh(1.5), 1e-6); /* 0.905148 */
    assert_float_equal(v[1], 0.0, 1e-7);       /* clipped to lo */
    assert_float_equal(v[2], tanh(3.0), 1e-6); /* clipped to hi */
    assert_float_equal(v[3], 0.25, 0);         /* NaN -> fill */
    assert_float_equal(v[4], 0.0, 0);
    /* SDC1 bounds (reference §10): 2.02e-5 is halfway -> tanh(1.5) */
    float s = 2.02e-5f;
    otf_detect_normalise(&s, 1, 0.4e-6, 0.4e-4, 3.0, 0.0f);
    assert_float_equal(s, tanh(1.5), 1e-5);
    /* every lane position of the vector path and the scalar tail (1003 values), NaN and
     * infinities included: within 2 ulp-ish of the scalar formula */
    float w[1003];
    for (int i = 0; i < 1003; i++)
        w[i] = (float)(i - 100) * 5e-8f;
    w[5] = NAN, w[6] = INFINITY, w[7] = -INFINITY, w[1001] = NAN;
    otf_detect_normalise(w, 1003, -2e-6, 4e-5, 3.0, -7.0f);
    for (int i = 0; i < 1003; i++) {
        float x = (float)(i - 100) * 5e-8f, lo = -2e-6f, hi = 4e-5f;
        float k = (float)(3.0 / (4e-5 - -2e-6));
        if (i == 5 || i == 1001) {
            assert_float_equal(w[i], -7.0, 0);
            continue;
        }
        if (i == 6)
            x = INFINITY;
        if (i == 7)
            x = -INFINITY;
        x = x < lo ? lo : (x > hi ? hi : x);
        assert_float_equal(w[i], tanhf(k * (x - lo)), 3e-7);
    }
}

/* The normalised values do not depend on the CPU's vector width: whichever loop runs here
 * (8 lanes with AVX2, else 4), every value is bit for bit what libmvec's 4-lane tanhf gives,
 * and the scalar tail what tanhf gives. */
static void test_normalise_lanes(void **state)
{
#ifdef OTF_HAVE_MVEC
    enum { N = 4099 }; /* 512 blocks of 8, then 3 for the tail */
    const double lo = -2e-6, hi = 4e-5, gain = 3.0;
    const float flo = (float)lo, fhi = (float)hi, k = (float)(gain / (hi - lo));
    float *v = malloc(N * sizeof *v), *want = malloc(N * sizeof *want);
    (void)state;
    for (int i = 0; i < N; i++)
        v[i] = (float)(i - 200) * 1.1e-8f * (float)(1 + i % 7); /* below, inside and above */
    v[9] = NAN;
    v[4097] = NAN;
    for (int i = 0; i < N; i++) {
        float x = isnan(v[i]) ? flo : v[i];
        want[i] = k * ((x < flo ? flo : (x > fhi ? fhi : x)) - flo);
    }
    for (int i = 0; i + 4 <= N; i += 4)
        _mm_storeu_ps(want + i, _ZGVbN4v_tanhf(_mm_loadu_ps(want + i)));
    for (int i = N - N % 4; i < N; i++)
        want[i] = tanhf(want[i]);
    want[9] = want[4097] = -3.0f;
    otf_detect_normalise(v, N, lo, hi, gain, -3.0f);
    for (int i = 0; i < N; i++)
        if (memcmp(&v[i], &want[i], sizeof(float)) != 0)
            fail_msg("value %d: %.9g, 4-lane tanhf gives %.9g", i, v[i], want[i]);
    free(v);
    free(want);
#else
    skip();
#endif
}

static void test_percentile(void **state)
{
    float v[100], w[4] = {4, 1, 3, 2}, u[3] = {3, 1, 2};
    (void)state;
    for (int i = 0; i < 100; i++)
        v[i] = (float)(100 - i); /* 100..1, unsorted order */
    assert_float_equal(otf_detect_percentile(v, 100, 0), 1.0, 0);
    assert_float_equal(otf_detect_percentile(v, 100, 100), 100.0, 0);
    assert_float_equal(otf_detect_percentile(v, 100, 50), 50.5, 1e-9);  /* numpy: 50.5 */
    assert_float_equal(otf_detect_percentile(v, 100, 25), 25.75, 1e-9); /* 24.75 -> 25.75 */
    assert_float_equal(otf_detect_percentile(v, 100, 99.5), 99.505, 1e-6);
    assert_float_equal(otf_detect_percentile(w, 4, 50), 2.5, 0);
    assert_float_equal(otf_detect_percentile(u, 3, 50), 2.0, 0);
    float one = 7;
    assert_float_equal(otf_detect_percentile(&one, 1, 30), 7.0, 0);
    /* many ties */
    float t[9] = {1, 1, 1, 1, 5, 5, 5, 5, 5};
    assert_float_equal(otf_detect_percentile(t, 9, 50), 5.0, 0);
}

static void test_percentile_bounds(void **state)
{
    char *path = make_fits(200, 100, ramp_nan);
    struct otf_fits_image *img = NULL;
    double lo, hi;
    int64_t roi[4] = {10, 20, 30, 40};
    (void)state;
    assert_int_equal(otf_fits_open_image(path, NULL, &img, NULL), OTF_OK);
    /* every pixel sampled (step 1): values x + 1000 y, NaN ignored */
    assert_int_equal(otf_detect_percentile_bounds(img, NULL, 0, 100, 1 << 20, &lo, &hi, NULL),
                     OTF_OK);
    assert_float_equal(lo, 0, 0);
    assert_float_equal(hi, 99199, 0);
    /* 19999 finite values: the median is order statistic 9999; pixel 403 (x 3, y 2) is NaN, so
     * order statistic k >= 403 is pixel k + 1: pixel 10000 = (0, 50) = 50000 */
    assert_int_equal(otf_detect_percentile_bounds(img, NULL, 50, 50, 1 << 20, &lo, &hi, NULL),
                     OTF_OK);
    assert_float_equal(lo, 50000.0, 0);
    /* subsample of ~100: step floor(sqrt(20000/100)) = 14 from offset 6 in x and y */
    assert_int_equal(otf_detect_percentile_bounds(img, NULL, 0, 100, 100, &lo, &hi, NULL), OTF_OK);
    assert_float_equal(lo, 6006, 0);
    assert_float_equal(hi, 90188, 0);
    /* region only */
    assert_int_equal(otf_detect_percentile_bounds(img, roi, 0, 100, 1 << 20, &lo, &hi, NULL),
                     OTF_OK);
    assert_float_equal(lo, 20010, 0);
    assert_float_equal(hi, 39029, 0);
    otf_fits_close_image(img);
    unlink(path);
    free(path);
}

/* ---- DIoU and first NMS ---- */

static struct otf_detect_box bx(double x0, double y0, double x1, double y1, float obj)
{
    struct otf_detect_box b;
    memset(&b, 0, sizeof(b));
    b.xmin = x0, b.ymin = y0, b.xmax = x1, b.ymax = y1, b.obj = obj;
    return b;
}

static void test_diou(void **state)
{
    struct otf_detect_box a = bx(0, 0, 10, 10, 1), b = bx(5, 0, 15, 10, 1), c = bx(4, 0, 6, 2, 1);
    struct otf_detect_box d = bx(0, 0, 2, 2, 1);
    (void)state;
    /* IoU 50/150, centre distance 5, enclosing diagonal sqrt(15^2+10^2): unsquared d/c */
    assert_float_equal(otf_detect_diou(&a, &b), 1.0 / 3.0 - 5.0 / sqrt(325.0), 1e-12);
    assert_float_equal(otf_detect_diou(&a, &b), 0.0559830, 1e-6);
    assert_float_equal(otf_detect_diou(&a, &a), 1.0, 1e-12);
    /* disjoint: -4/sqrt(40) */
    assert_float_equal(otf_detect_diou(&d, &c), -0.6324555, 1e-6);
    assert_float_equal(otf_detect_diou(&c, &d), otf_detect_diou(&d, &c), 0);
}

static void test_nms_first(void **state)
{
    struct otf_detect_box in[4], b[4];
    struct otf_detect_level one[1] = {{0.05, INFINITY}}, loose[1] = {{0.1, INFINITY}};
    struct otf_detect_level two[2] = {{0.1, INFINITY}, {0.0, 0.85}};
    (void)state;
    in[0] = bx(0, 0, 10, 10, 0.9f);       /* A */
    in[1] = bx(5, 0, 15, 10, 0.8f);       /* B: DIoU(A,B) = 0.056 */
    in[2] = bx(100, 100, 110, 110, 0.7f); /* C: far away */
    in[3] = bx(10, 0, 20, 10, 0.7f);      /* D: DIoU(A,D) = -0.447, DIoU(B,D) = 0.056 */

    memcpy(b, in, sizeof(b));
    assert_int_equal(otf_detect_nms_first(b, 4, one, 1), 3);
    /* A kept first; B suppressed by A, so D survives; C before D on the tie (input order) */
    assert_float_equal(b[0].xmin, 0, 0);
    assert_float_equal(b[1].xmin, 100, 0);
    assert_float_equal(b[2].xmin, 10, 0);

    memcpy(b, in, sizeof(b));
    assert_int_equal(otf_detect_nms_first(b, 4, loose, 1), 4);

    /* objectness-dependent level: B (0.8 < 0.85) with DIoU 0.056 > 0 goes */
    memcpy(b, in, sizeof(b));
    assert_int_equal(otf_detect_nms_first(b, 4, two, 2), 3);
    in[1].obj = 0.86f; /* now only the 0.1 level applies to B */
    memcpy(b, in, sizeof(b));
    assert_int_equal(otf_detect_nms_first(b, 4, two, 2), 3); /* D falls to B at level 2 */
    assert_float_equal(b[1].xmin, 5, 0);
    assert_int_equal(otf_detect_nms_first(b, 0, two, 2), 0);
}

/* The plain O(n^2) greedy NMS, as CIANNA's first_NMS, to check the bucketed one against. */
static size_t nms_brute(struct otf_detect_box *b, size_t n, const struct otf_detect_level *lv,
                        size_t nl)
{
    unsigned char *dead = otf_xcalloc(n, 1);
    struct otf_detect_box *keep = otf_xmalloc(n * sizeof(*keep));
    size_t nk = 0;
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++)
            if (!dead[i] && (best == SIZE_MAX || b[i].obj > b[best].obj))
                best = i;
        if (best == SIZE_MAX)
            break;
        dead[best] = 1;
        keep[nk++] = b[best];
        for (size_t i = 0; i < n; i++) {
            if (dead[i])
                continue;
            double d = otf_detect_diou(&b[best], &b[i]);
            for (size_t l = 0; l < nl; l++)
                if (d > lv[l].value && b[i].obj < lv[l].obj_below)
                    dead[i] = 1;
        }
    }
    memcpy(b, keep, nk * sizeof(*keep));
    free(dead);
    free(keep);
    return nk;
}

static void test_nms_buckets(void **state)
{
    const struct otf_detect_level tables[4][4] = {
        {{0.05, INFINITY}, {-0.1, 0.7}, {-0.3, 0.5}, {-0.5, 0.3}}, /* CIANNA SDC1 */
        {{0.2, INFINITY}},
        {{-0.8, INFINITY}},
        {{-1.0, 0.4}},
    };
    const size_t nl[4] = {4, 1, 1, 1};
    uint64_t s = 42;
    (void)state;
    for (int rep = 0; rep < 8; rep++) {
        size_t n = 200 + (size_t)rep * 300;
        struct otf_detect_box *a = otf_xmalloc(n * sizeof(*a)), *b = otf_xmalloc(n * sizeof(*b));
        for (size_t i = 0; i < n; i++) {
            double r[5];
            for (int k = 0; k < 5; k++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                r[k] = (double)(s >> 11) / 9007199254740992.0;
            }
            double cx = r[0] * 512, cy = r[1] * 512, w = 2 + r[2] * (rep % 2 ? 60 : 12),
                   h = 2 + r[3] * 12;
            a[i] = bx(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2,
                      (float)(0.01 * floor(r[4] * 100))); /* many ties */
        }
        for (int t = 0; t < 4; t++) {
            memcpy(b, a, n * sizeof(*a));
            struct otf_detect_box *c = otf_xmalloc(n * sizeof(*c));
            memcpy(c, a, n * sizeof(*a));
            size_t k1 = otf_detect_nms_first(b, n, tables[t], nl[t]);
            size_t k2 = nms_brute(c, n, tables[t], nl[t]);
            assert_int_equal(k1, k2);
            for (size_t i = 0; i < k1; i++) {
                assert_float_equal(b[i].xmin, c[i].xmin, 0);
                assert_float_equal(b[i].ymin, c[i].ymin, 0);
            }
            free(c);
        }
        free(a);
        free(b);
    }
}

/* ---- patch source ---- */

static void base_config(struct otf_detect_config *c)
{
    memset(c, 0, sizeof(*c));
    c->patch_w = c->patch_h = 64;
    c->overlap_pix = 8;
    c->norm_gain = 1.0;
    c->norm_bounds = OTF_MODEL_NORM_FIXED;
    c->norm_lo = 0;
    c->norm_hi = 1e6;
    c->fill_value = -0.5f;
    c->percentile_samples = 1 << 20;
    c->nb_box = 2;
    c->nb_param = 4;
    c->grid_w = c->grid_h = 4;
    c->obj_threshold[0] = c->obj_threshold[1] = 0.5;
    c->min_box_pix = 5;
    c->edge_cell_penalty = 0.05;
    c->median_margin_pix = 5;
    c->n_nms_first = 1;
    c->nms_first[0] = (struct otf_detect_level){0.05, INFINITY};
    c->nms_second = -0.15;
    c->border = OTF_MODEL_BORDER_KEEP;
    c->n_params = 4;
    c->params[0] = (struct otf_detect_param){"flux", "Jy", OTF_MODEL_PARAM_LN_MINMAX, -14, -4};
    c->params[1] = (struct otf_detect_param){"size", "arcsec", OTF_MODEL_PARAM_MINMAX, 0, 40};
    c->params[2] = (struct otf_detect_param){"cpa", "", OTF_MODEL_PARAM_COS_PA, 0, 1};
    c->params[3] = (struct otf_detect_param){"spa", "", OTF_MODEL_PARAM_SIN_PA_HALF, 0, 1};
}

/* otf_detect_source_on_row: what the rows handed over were */
struct rows_seen {
    int64_t next_y, bad;
};

static void see_row(void *user, int64_t y, int64_t x0, int64_t n, const float *row)
{
    struct rows_seen *rs = user;
    rs->bad += y != rs->next_y || x0 != 0 || n != 100; /* in order, each once, whole */
    for (int64_t x = 0; x < n; x++) {
        float v = ramp_nan(x0 + x, y);
        rs->bad += isnan(v) ? !isnan(row[x]) : row[x] != v; /* raw: not normalised */
    }
    rs->next_y = y + 1;
}

static void test_source_patches(void **state)
{
    char *path = make_fits(100, 80, ramp_nan);
    struct otf_fits_image *img = NULL;
    struct otf_detect_source *s = NULL;
    struct otf_detect_config cfg;
    float *patch = otf_xmalloc(64 * 64 * sizeof(float));
    int64_t idx, n = 0;
    (void)state;
    base_config(&cfg);
    assert_int_equal(otf_fits_open_image(path, NULL, &img, NULL), OTF_OK);
    assert_int_equal(otf_detect_source_new(img, &cfg, NULL, &s, NULL), OTF_OK);
    const struct otf_detect_geometry *g = otf_detect_source_geometry(s);
    struct rows_seen rs = {0, 0};
    otf_detect_source_on_row(s, see_row, &rs);
    /* x: c = 50 - 32 = 18, k in [-1, 1] -> x0 = -38, 3 patches; y: c = 8 -> y0 = -48, 3 */
    assert_int_equal(g->nx, 3);
    assert_int_equal(g->ny, 3);
    assert_int_equal(g->x0, -38);
    assert_int_equal(g->y0, -48);
    for (;;) {
        int64_t px0, py0;
        assert_int_equal(otf_detect_source_next(s, patch, &idx, NULL), OTF_OK);
        if (idx < 0)
            break;
        assert_int_equal(idx, n);
        otf_detect_patch_origin(g, idx, &px0, &py0);
        for (int r = 0; r < 64; r++)
            for (int c = 0; c < 64; c++) {
                int64_t x = px0 + c, y = py0 + r;
                float want;
                if (x < 0 || y < 0 || x >= 100 || y >= 80)
                    want = 0.0f; /* zero padding outside the image */
                else if (x == 3 && y == 2)
                    want = -0.5f; /* NaN -> fill */
                else
                    want = tanhf((float)(x + 1000 * y) * 1e-6f);
                assert_float_equal(patch[r * 64 + c], want, 1e-6);
            }
        n++;
    }
    assert_int_equal(n, 9);
    assert_int_equal(otf_detect_source_next(s, patch, &idx, NULL), OTF_OK);
    assert_int_equal(idx, -1);
    /* three bands sharing rows: every image row was handed over once, in order, raw */
    assert_int_equal(rs.next_y, 80);
    assert_int_equal(rs.bad, 0);
    otf_detect_source_free(s);

    /* percentile bounds resolved by the source */
    cfg.norm_bounds = OTF_MODEL_NORM_PERCENTILE;
    cfg.norm_lo = 0;
    cfg.norm_hi = 100;
    assert_int_equal(otf_detect_source_new(img, &cfg, NULL, &s, NULL), OTF_OK);
    double lo, hi;
    otf_detect_source_bounds(s, &lo, &hi);
    assert_float_equal(lo, 0, 0);
    assert_float_equal(hi, 79099, 0);
    otf_detect_source_free(s);
    otf_fits_close_image(img);
    unlink(path);
    free(path);
    free(patch);
}

/* ---- collector ---- */

#define NCOL  12 /* 8 + 0 classes + 4 params */
#define PLANE 16 /* 4 x 4 grid */

/* Sets box `b` of cell (gx, gy) in a decoded patch: local min/max corners, prob, obj, params. */
static void put_box(float *dec, int b, int gx, int gy, float x0, float y0, float x1, float y1,
                    float prob, float obj, const float p[4])
{
    float *v = dec + (size_t)b * NCOL * PLANE + (size_t)gy * 4 + (size_t)gx;
    v[0 * PLANE] = x0;
    v[1 * PLANE] = y0;
    v[2 * PLANE] = 0.5f;
    v[3 * PLANE] = x1;
    v[4 * PLANE] = y1;
    v[5 * PLANE] = 0.5f;
    v[6 * PLANE] = prob;
    v[7 * PLANE] = obj;
    for (int k = 0; k < 4; k++)
        v[(8 + k) * PLANE] = p[k];
}

struct world {
    struct otf_detect_config cfg;
    struct otf_detect_geometry g;
    float dec[9][2 * NCOL * PLANE];
    float patch[9][64 * 64];
};

static void world_init(struct world *w, const int64_t *roi)
{
    memset(w, 0, sizeof(*w));
    base_config(&w->cfg);
    assert_int_equal(otf_detect_plan_tiles(100, 80, roi, 64, 64, 8, &w->g, NULL), OTF_OK);
}

static enum otf_status world_run(struct world *w, struct otf_detect_catalog **cat)
{
    struct otf_detect_collector *c = NULL;
    enum otf_status rc;
    assert_int_equal(otf_detect_collector_new(&w->cfg, &w->g, &c, NULL), OTF_OK);
    for (int i = 8; i >= 0; i--) /* any order */
        assert_int_equal(otf_detect_collector_add(c, i, w->patch[i], w->dec[i], NULL), OTF_OK);
    rc = otf_detect_collector_finish(c, NULL, cat, NULL);
    otf_detect_collector_free(c);
    return rc;
}

static void test_collect_basic(void **state)
{
    struct world *w = otf_xmalloc(sizeof(*w));
    struct otf_detect_catalog *cat = NULL;
    const float p1[4] = {0.5f, 0.25f, 1.0f, 0.5f}, p2[4] = {1.0f, 1.0f, 0.5f, 1.0f};
    (void)state;
    world_init(w, NULL);
    /* patch 4 = (1, 1), origin (18, 8). Cell (1,1) box 0: centre local (25, 23) -> image
     * (18 + 25 - 0.5, 8 + 23 - 0.5) = (42.5, 30.5); 10 x 10 */
    put_box(w->dec[4], 0, 1, 1, 20, 18, 30, 28, 0.8f, 0.9f, p1);
    /* same cell, box 1: a 2 x 2 box grown to min_box 5, centre local (40, 40) -> (57.5, 47.5);
     * objectness exactly at the threshold is kept */
    put_box(w->dec[4], 1, 1, 1, 39, 39, 41, 41, 0.6f, 0.5f, p2);
    /* below threshold */
    put_box(w->dec[4], 0, 2, 2, 40, 40, 50, 50, 0.6f, 0.49f, p2);
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 2);
    assert_int_equal(cat->n_candidates, 2);
    assert_int_equal(cat->rows[0].id, 1);
    assert_float_equal(cat->rows[0].x, 42.5, 1e-9);
    assert_float_equal(cat->rows[0].y, 30.5, 1e-9);
    assert_float_equal(cat->rows[0].width, 10, 1e-6);
    assert_float_equal(cat->rows[0].objectness, 0.9, 1e-6);
    assert_float_equal(cat->rows[0].probability, 0.8, 1e-6);
    assert_int_equal(cat->rows[0].detector, 0);
    assert_int_equal(cat->rows[0].patch, 4);
    assert_true(isnan(cat->rows[0].lon));
    assert_float_equal(cat->rows[1].x, 57.5, 1e-9);
    assert_float_equal(cat->rows[1].width, 5, 1e-6);
    assert_float_equal(cat->rows[1].height, 5, 1e-6);
    assert_int_equal(cat->rows[1].detector, 1);
    /* columns: flux, size, pa (cos/sin pair folded) */
    assert_int_equal(cat->n_cols, 3);
    assert_string_equal(cat->cols[0].name, "flux");
    assert_string_equal(cat->cols[1].name, "size");
    assert_string_equal(cat->cols[2].name, "pa");
    assert_int_equal(cat->cols[2].kind, OTF_DETECT_COL_PA);
    assert_float_equal(cat->values[0], exp(-9.0), 1e-9); /* ln-min-max: exp(-14 + 0.5*10) */
    assert_float_equal(cat->values[1], 10.0, 1e-5);      /* min-max: 0 + 0.25*40 */
    assert_float_equal(cat->values[2], 0.0, 1e-5);       /* cos 1, sin 0 */
    assert_float_equal(cat->values[3], exp(-4.0), 1e-7);
    assert_float_equal(cat->values[4], 40.0, 1e-5);
    /* cos 0.5, (sin+1)/2 = 1: atan2(1, 0.5) = 63.435 deg */
    assert_float_equal(cat->values[5], atan2(1.0, 0.5) * 180 / M_PI, 1e-4);
    assert_float_equal(cat->rows[1].pa_image_deg, 63.4349, 1e-3);
    otf_detect_catalog_free(cat);
    free(w);
}

static void test_collect_edge_and_second_nms(void **state)
{
    struct world *w = otf_xmalloc(sizeof(*w));
    struct otf_detect_catalog *cat = NULL;
    const float p[4] = {0.5f, 0.5f, 1.0f, 0.5f};
    (void)state;
    world_init(w, NULL);
    /* One source at image centre x = 22.0, y = 30.5 seen by patch 3 (origin (-38, 8), cell
     * gx = 3, a grid-border cell) and patch 4 (origin (18, 8), gx = 0, also a border cell).
     * Scores drop by the 0.05 penalty: 0.80 -> 0.75 and 0.70 -> 0.65. */
    put_box(w->dec[3], 0, 3, 1, 55.5f, 18, 65.5f, 28, 0.9f, 0.80f, p);
    put_box(w->dec[4], 0, 0, 1, -0.5f, 18, 9.5f, 28, 0.9f, 0.70f, p);
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n_after_first_nms, 2);
    assert_int_equal(cat->n, 1); /* the second NMS keeps the better copy */
    assert_int_equal(cat->rows[0].patch, 3);
    assert_float_equal(cat->rows[0].x, 22.0, 1e-6);
    assert_float_equal(cat->rows[0].objectness, 0.75, 1e-6);
    assert_float_equal(cat->rows[0].probability, 0.85, 1e-6);
    otf_detect_catalog_free(cat);

    /* equal scores: exactly one survives (the copy nearer its patch centre: patch 4's centre
     * x is 18 + 32 = 50 -> distance 27.5; patch 3's is -6 -> 28.5) */
    put_box(w->dec[3], 0, 3, 1, 55.5f, 18, 65.5f, 28, 0.9f, 0.70f, p);
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 1);
    assert_int_equal(cat->rows[0].patch, 4);
    otf_detect_catalog_free(cat);

    /* two distinct sources 30 px apart in neighbouring patches both survive */
    put_box(w->dec[4], 0, 0, 1, 29.5f, 18, 39.5f, 28, 0.9f, 0.70f, p);
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 2);
    otf_detect_catalog_free(cat);

    /* without the penalty the raw scores are reported */
    w->cfg.edge_cell_penalty = 0;
    put_box(w->dec[4], 0, 0, 1, -0.5f, 18, 9.5f, 28, 0.9f, 0.70f, p);
    put_box(w->dec[3], 0, 3, 1, 55.5f, 18, 65.5f, 28, 0.9f, 0.80f, p);
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 1);
    assert_float_equal(cat->rows[0].objectness, 0.80, 1e-6);
    otf_detect_catalog_free(cat);
    free(w);
}

static void test_collect_median_border_roi(void **state)
{
    struct world *w = otf_xmalloc(sizeof(*w));
    struct otf_detect_catalog *cat = NULL;
    const float p[4] = {0.5f, 0.5f, 1.0f, 0.5f};
    int64_t roi[4] = {0, 0, 50, 80};
    (void)state;
    world_init(w, NULL);
    /* bright extended emission under a box of patch 4: median 0.9 */
    for (int i = 0; i < 64 * 64; i++)
        w->patch[4][i] = 0.9f;
    w->cfg.n_median = 3; /* CIANNA's SDC1 table */
    w->cfg.median[0] = (struct otf_detect_level){0.6, 0.9};
    w->cfg.median[1] = (struct otf_detect_level){0.3, 0.7};
    w->cfg.median[2] = (struct otf_detect_level){0.1, 0.5};
    put_box(w->dec[4], 0, 1, 1, 20, 18, 30, 28, 0.8f, 0.85f, p); /* rejected */
    put_box(w->dec[4], 1, 2, 2, 36, 36, 46, 46, 0.8f, 0.95f, p); /* bright enough: kept */
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 1);
    assert_float_equal(cat->rows[0].objectness, 0.95, 1e-6);
    otf_detect_catalog_free(cat);

    /* the median window is the box widened by 5 px: a box whose widened window is half
     * bright (left) and half dark keeps median (0.9+0)/2 = 0.45 -> level 2 (0.3, 0.7) */
    for (int r = 0; r < 64; r++)
        for (int c = 0; c < 64; c++)
            w->patch[4][r * 64 + c] = c < 25 ? 0.9f : 0.0f;
    put_box(w->dec[4], 0, 1, 1, 20, 18, 30, 28, 0.8f, 0.65f, p); /* window x [15, 35) */
    put_box(w->dec[4], 1, 2, 2, 36, 36, 46, 46, 0.8f, 0.0f, p);
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 0);
    otf_detect_catalog_free(cat);
    put_box(w->dec[4], 0, 1, 1, 20, 18, 30, 28, 0.8f, 0.75f, p);
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 1);
    otf_detect_catalog_free(cat);
    w->cfg.n_median = 0;

    /* border policy on the distance to the image edge: a centre at x = 2.0 (patch 3, origin
     * (-38, 8): local centre 40.5) is 2.5 px from the edge */
    put_box(w->dec[3], 0, 2, 1, 35.5f, 18, 45.5f, 28, 0.8f, 0.9f, p);
    w->cfg.border = OTF_MODEL_BORDER_DROP;
    w->cfg.border_pix = 3;
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 1); /* only the box of patch 4 at x = 42.5 */
    assert_float_equal(cat->rows[0].x, 42.5, 1e-9);
    otf_detect_catalog_free(cat);
    w->cfg.border_pix = 2;
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 2);
    otf_detect_catalog_free(cat);
    w->cfg.border = OTF_MODEL_BORDER_PARTIAL;
    w->cfg.border_pix = 3;
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 2);
    assert_true(cat->has_partial);
    assert_float_equal(cat->rows[0].x, 2.0, 1e-9); /* 0.9 > 0.75 */
    assert_int_equal(cat->rows[0].is_partial, 1);
    assert_int_equal(cat->rows[1].is_partial, 0);
    otf_detect_catalog_free(cat);

    /* a centre outside the image (zero padding) is never reported */
    w->cfg.border = OTF_MODEL_BORDER_KEEP;
    put_box(w->dec[3], 1, 1, 1, 20, 18, 30, 28, 0.8f, 0.99f, p); /* x = 25 - 38 - 0.5 */
    assert_int_equal(world_run(w, &cat), OTF_OK);
    assert_int_equal(cat->n, 2);
    otf_detect_catalog_free(cat);

    free(w);

    /* region: only centres in [0, 50) x [0, 80) are reported; the patches still see the
     * image beyond it */
    struct world *w2 = otf_xmalloc(sizeof(*w2));
    struct otf_detect_collector *c = NULL;
    world_init(w2, roi);
    assert_int_equal(w2->g.nx * w2->g.ny, 3); /* x: c = 25 - 32 = -7, one patch; y: 3 */
    assert_int_equal(w2->g.x0, -7);
    put_box(w2->dec[1], 0, 1, 1, 25, 18, 35, 28, 0.8f, 0.9f, p); /* x = -7 + 30 - 0.5 */
    put_box(w2->dec[1], 1, 3, 2, 55, 36, 65, 46, 0.8f, 0.9f, p); /* x = -7 + 60 - 0.5 */
    assert_int_equal(otf_detect_collector_new(&w2->cfg, &w2->g, &c, NULL), OTF_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(otf_detect_collector_add(c, i, w2->patch[i], w2->dec[i], NULL), OTF_OK);
    assert_int_equal(otf_detect_collector_finish(c, NULL, &cat, NULL), OTF_OK);
    assert_int_equal(cat->n, 1);
    assert_float_equal(cat->rows[0].x, 22.5, 1e-9);
    assert_int_equal(cat->geometry.roi[2], 50);
    otf_detect_catalog_free(cat);
    otf_detect_collector_free(c);
    free(w2);
}

static void test_collect_errors(void **state)
{
    struct world *w = otf_xmalloc(sizeof(*w));
    struct otf_detect_collector *c = NULL;
    struct otf_detect_catalog *cat = NULL;
    struct otf_errbuf eb = {0};
    (void)state;
    world_init(w, NULL);
    assert_int_equal(otf_detect_collector_new(&w->cfg, &w->g, &c, NULL), OTF_OK);
    assert_int_equal(otf_detect_collector_add(c, 0, w->patch[0], w->dec[0], &eb), OTF_OK);
    assert_int_equal(otf_detect_collector_add(c, 0, w->patch[0], w->dec[0], &eb), OTF_E_INVAL);
    assert_int_equal(otf_detect_collector_add(c, 9, w->patch[0], w->dec[0], &eb), OTF_E_INVAL);
    assert_int_equal(otf_detect_collector_finish(c, NULL, &cat, &eb), OTF_E_STATE);
    assert_null(cat);
    otf_detect_collector_free(c);
    w->cfg.overlap_pix = 40;
    assert_int_equal(otf_detect_collector_new(&w->cfg, &w->g, &c, &eb), OTF_E_INVAL);
    free(w);
}

/* ---- sky: RA wrap at 0/360 on the SDC1 cutout (CRVAL1 = 0) ---- */

static void test_sky_ra_wrap(void **state)
{
    char *path = otf_xasprintf("%s/real/B1_1000h_0.05tr.fits", OTF_TEST_DATA_DIR);
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    struct world *w = otf_xmalloc(sizeof(*w));
    struct otf_detect_collector *c = NULL;
    struct otf_detect_catalog *cat = NULL;
    const float p[4] = {0.5f, 0.5f, 1.0f, 0.5f};
    double xy[2], rd[2];
    (void)state;
    assert_int_equal(otf_fits_open_image(path, NULL, &img, NULL), OTF_OK);
    assert_int_equal(otf_fits_read_wcs(img, &wcs, NULL), OTF_OK);
    memset(w, 0, sizeof(*w));
    base_config(&w->cfg);
    assert_int_equal(otf_detect_plan_tiles(174, 160, NULL, 64, 64, 8, &w->g, NULL), OTF_OK);
    assert_int_equal(otf_detect_collector_new(&w->cfg, &w->g, &c, NULL), OTF_OK);
    float *dec = otf_xcalloc(2 * NCOL * PLANE, sizeof(float));
    float *patch = otf_xcalloc(64 * 64, sizeof(float));
    int64_t centre = (w->g.ny / 2) * w->g.nx + w->g.nx / 2;
    for (int64_t i = 0; i < w->g.nx * w->g.ny; i++) {
        memset(dec, 0, 2 * NCOL * PLANE * sizeof(float));
        if (i == centre)
            put_box(dec, 0, 1, 1, 20, 18, 30, 28, 0.8f, 0.9f, p);
        assert_int_equal(otf_detect_collector_add(c, i, patch, dec, NULL), OTF_OK);
    }
    assert_int_equal(otf_detect_collector_finish(c, wcs, &cat, NULL), OTF_OK);
    assert_int_equal(cat->n, 1);
    assert_true(cat->has_sky);
    /* pixel RAs of this cutout are about 359.65 deg: never negative, never >= 360 */
    assert_true(cat->rows[0].lon > 359.0 && cat->rows[0].lon < 360.0);
    assert_true(cat->rows[0].lat < -29.0 && cat->rows[0].lat > -30.5);
    xy[0] = cat->rows[0].x;
    xy[1] = cat->rows[0].y;
    assert_int_equal(otf_fits_pix_to_sky(wcs, 1, xy, rd, NULL), OTF_OK);
    assert_float_equal(cat->rows[0].lon, rd[0], 1e-12);
    /* north-up SIN image near its reference point: +y points north, PA unchanged */
    assert_float_equal(cat->rows[0].yaxis_pa_deg, 0.0, 0.5);
    assert_float_equal(cat->values[2], 0.0, 0.5);
    assert_float_equal(cat->pixel_scale_deg * 3600, 0.6, 0.01);
    otf_detect_catalog_free(cat);
    otf_detect_collector_free(c);
    otf_fits_free_wcs(wcs);
    otf_fits_close_image(img);
    free(dec);
    free(patch);
    free(w);
    free(path);
}

/* ---- whole run with the tiny fixture model ---- */

struct run_state {
    int64_t last_done, last_total;
    int calls, abort_after;
};

static void prog(void *user, int64_t done, int64_t total, const char *stage)
{
    struct run_state *s = user;
    if (strcmp(stage, "patches") == 0) {
        assert_true(done >= s->last_done);
        s->last_done = done;
        s->last_total = total;
    }
    s->calls++;
}

static int stop(void *user)
{
    struct run_state *s = user;
    return s->abort_after >= 0 && s->last_done >= s->abort_after;
}

static void test_run_tiny(void **state)
{
    char *mdir = otf_xasprintf("%s/models/tiny", OTF_TEST_DATA_DIR);
    char *path = otf_xasprintf("%s/real/GRB201006A_final_2min_srcs-t0002-image-pb_cutout.fits",
                               OTF_TEST_DATA_DIR);
    struct otf_model_manifest *m = NULL;
    struct otf_model_net *net = NULL;
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    struct otf_engine *eng = NULL;
    struct otf_engine_params ep;
    struct otf_detect_config cfg;
    struct otf_detect_catalog *a = NULL, *b = NULL;
    struct otf_detect_timings t;
    struct otf_errbuf eb = {0};
    struct run_state rs = {0, 0, 0, -1};
    struct otf_detect_run_params rp = {0};
    (void)state;
    if (access(mdir, R_OK) != 0) {
        free(mdir);
        free(path);
        skip();
    }
    assert_int_equal(otf_model_load_dir(mdir, &m, &net, &eb), OTF_OK);
    assert_int_equal(otf_detect_config_from_model(m, net, &cfg, &eb), OTF_OK);
    assert_int_equal(cfg.patch_w, 64);
    assert_int_equal(cfg.grid_w, 16);
    assert_int_equal(cfg.nb_box, 3);
    assert_int_equal(cfg.nb_class, 2);
    assert_float_equal(cfg.obj_threshold[2], 0.6, 0);
    otf_engine_params_init(&ep);
    ep.backend = "reference";
    ep.batch_max = 4;
    ep.in_w = ep.in_h = 64;
    assert_int_equal(otf_engine_new(net, &ep, &eng, &eb), OTF_OK);
    assert_int_equal(otf_fits_open_image(path, NULL, &img, &eb), OTF_OK);
    assert_int_equal(otf_fits_read_wcs(img, &wcs, &eb), OTF_OK);

    rp.batch = 4;
    rp.progress = prog;
    rp.abort = stop;
    rp.user = &rs;
    assert_int_equal(otf_detect_run_image(eng, img, wcs, &cfg, &rp, &a, &t, &eb), OTF_OK);
    /* 256^2 with 64/8: c = 96, k in [-2, 2] -> 5 x 5 patches, 7 forwards of <= 4 */
    assert_int_equal(t.n_patches, 25);
    assert_int_equal(t.n_batches, 7);
    assert_int_equal(rs.last_done, 25);
    assert_int_equal(rs.last_total, 25);
    assert_true(t.forward_us > 0 && t.total_us >= t.forward_us);
    assert_true(a->has_sky && a->has_classes);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->rows[i].id, (int64_t)i + 1);
        assert_true(a->rows[i].x >= -0.5 && a->rows[i].x < 255.5);
        assert_true(a->rows[i].y >= -0.5 && a->rows[i].y < 255.5);
        assert_true(a->rows[i].objectness >= cfg.obj_threshold[a->rows[i].detector] - 1e-6);
        if (i > 0)
            assert_true(a->rows[i].objectness <= a->rows[i - 1].objectness);
        assert_true(a->rows[i].class_id >= 0 && a->rows[i].class_id < 2);
        /* border = drop, border_pix 2 in the manifest */
        assert_true(a->rows[i].x + 0.5 >= 2 && a->rows[i].y + 0.5 >= 2);
    }

    /* the micro-batch size does not change the result */
    rp.batch = 1;
    rs.last_done = 0;
    assert_int_equal(otf_detect_run_image(eng, img, wcs, &cfg, &rp, &b, &t, &eb), OTF_OK);
    assert_int_equal(t.n_batches, 25);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_float_equal(a->rows[i].x, b->rows[i].x, 0);
        assert_float_equal(a->rows[i].objectness, b->rows[i].objectness, 0);
    }
    otf_detect_catalog_free(b);
    b = NULL;

    /* abort between micro-batches */
    rs.abort_after = 8;
    rs.last_done = 0;
    rp.batch = 4;
    assert_int_equal(otf_detect_run_image(eng, img, wcs, &cfg, &rp, &b, &t, &eb), OTF_E_STATE);
    assert_null(b);
    assert_int_equal(t.n_patches, 8);

    /* an engine for another patch size is refused */
    struct otf_engine *e2 = NULL;
    ep.in_w = ep.in_h = 32;
    assert_int_equal(otf_engine_new(net, &ep, &e2, &eb), OTF_OK);
    rs.abort_after = -1;
    assert_int_equal(otf_detect_run_image(e2, img, wcs, &cfg, &rp, &b, &t, &eb), OTF_E_INVAL);
    otf_engine_free(e2);

    otf_detect_catalog_free(a);
    otf_engine_free(eng);
    otf_fits_free_wcs(wcs);
    otf_fits_close_image(img);
    otf_model_net_free(net);
    otf_model_manifest_free(m);
    free(mdir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiles_sdc1),
        cmocka_unit_test(test_tiles_sizes),
        cmocka_unit_test(test_tiles_cover),
        cmocka_unit_test(test_tiles_roi),
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_normalise_lanes),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_percentile_bounds),
        cmocka_unit_test(test_diou),
        cmocka_unit_test(test_nms_first),
        cmocka_unit_test(test_nms_buckets),
        cmocka_unit_test(test_source_patches),
        cmocka_unit_test(test_collect_basic),
        cmocka_unit_test(test_collect_edge_and_second_nms),
        cmocka_unit_test(test_collect_median_border_roi),
        cmocka_unit_test(test_collect_errors),
        cmocka_unit_test(test_sky_ra_wrap),
        cmocka_unit_test(test_run_tiny),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
