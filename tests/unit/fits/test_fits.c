/* Unit tests of the fits module: the real images of tests/data/real (SOURCES.md lists their
 * quirks), synthetic FITS files written here with cfitsio for every BITPIX and axis layout,
 * hand-made broken headers, tile reads at the edges, WCS conventions and regions of interest. */
#include <fitsio.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "fits/fits.h"
#include "otf_test.h"

#define REAL_1904 "real/1904-66_SIN.fits"
#define REAL_COMP "real/1904_comp.fits"
#define REAL_B1   "real/B1_1000h_0.05tr.fits"
#define REAL_GRB  "real/GRB201006A_final_2min_srcs-t0002-image-pb_cutout.fits"

static char g_tmp[PATH_MAX];

/* ---- helpers ---- */

static const char *data_path(const char *rel)
{
    static char buf[4][PATH_MAX];
    static int k;
    char *p = buf[k++ % 4];
    assert_true(snprintf(p, PATH_MAX, "%s/%s", OTF_TEST_DATA_DIR, rel) < PATH_MAX);
    return p;
}

static const char *tmp_path(const char *name)
{
    static char buf[4][PATH_MAX];
    static int k;
    char *p = buf[k++ % 4];
    assert_true(snprintf(p, PATH_MAX, "%s/%s", g_tmp, name) < PATH_MAX);
    return p;
}

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/otf-test-fits-XXXXXX");
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    return otf_fs_remove_tree(g_tmp, NULL) == OTF_OK ? 0 : -1;
}

static void check_fits(int st)
{
    char msg[FLEN_ERRMSG];
    if (st) {
        while (fits_read_errmsg(msg))
            fprintf(stderr, "cfitsio: %s\n", msg);
    }
    assert_int_equal(st, 0);
}

/* Writes a `naxis`-D image of BITPIX `bitpix` whose raw stored values are raw[i] (row-major,
 * NAXIS1 fastest), with BSCALE/BZERO when bscale != 1 or bzero != 0 and BLANK when has_blank.
 * Extra keys are "KEY=value" strings written as numbers or strings. */
static void write_image(const char *path, int bitpix, int naxis, const long *naxes,
                        const double *raw, double bscale, double bzero, int has_blank,
                        long long blank, const char *const *extra)
{
    fitsfile *f = NULL;
    int st = 0;
    long long n = 1;
    char name[PATH_MAX + 1];

    for (int i = 0; i < naxis; i++)
        n *= naxes[i];
    snprintf(name, sizeof name, "!%s", path);
    fits_create_file(&f, name, &st);
    fits_create_img(f, bitpix, naxis, (long *)naxes, &st);
    check_fits(st);
    if (bscale != 1.0 || bzero != 0.0) {
        fits_write_key(f, TDOUBLE, "BSCALE", &bscale, NULL, &st);
        fits_write_key(f, TDOUBLE, "BZERO", &bzero, NULL, &st);
    }
    if (has_blank)
        fits_write_key(f, TLONGLONG, "BLANK", &blank, NULL, &st);
    for (const char *const *e = extra; e && *e; e++) {
        char card[FLEN_CARD];
        int type = 0;
        fits_parse_template((char *)*e, card, &type, &st);
        fits_write_record(f, card, &st);
    }
    check_fits(st);
    /* Store the raw values exactly: no scaling on the way in. */
    fits_set_bscale(f, 1.0, 0.0, &st);
    fits_write_img(f, TDOUBLE, 1, n, (double *)raw, &st);
    fits_close_file(f, &st);
    check_fits(st);
}

/* A 2-D BITPIX -32 image with pixel (x, y) = x + 1000 y. */
static void write_ramp(const char *path, long w, long h, const char *const *extra)
{
    long naxes[2] = {w, h};
    double *v = malloc(sizeof *v * (size_t)(w * h));
    assert_non_null(v);
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++)
            v[y * w + x] = (double)x + 1000.0 * (double)y;
    write_image(path, -32, 2, naxes, v, 1.0, 0.0, 0, 0, extra);
    free(v);
}

/* Builds a FITS file from raw header cards (each padded to 80 columns, END added, header
 * padded to 2880) followed by `data_bytes` zero bytes padded to 2880. Returns its length. */
static size_t make_raw(unsigned char *buf, size_t cap, const char *const *cards, size_t data_bytes)
{
    size_t n = 0;
    for (const char *const *c = cards; *c; c++) {
        assert_true(n + 80 <= cap);
        memset(buf + n, ' ', 80);
        memcpy(buf + n, *c, strlen(*c));
        n += 80;
    }
    memset(buf + n, ' ', 80);
    memcpy(buf + n, "END", 3);
    n += 80;
    while (n % 2880) {
        assert_true(n < cap);
        buf[n++] = ' ';
    }
    data_bytes = (data_bytes + 2879) / 2880 * 2880;
    assert_true(n + data_bytes <= cap);
    memset(buf + n, 0, data_bytes);
    return n + data_bytes;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static float *read_all(struct otf_fits_image *img, int64_t *w, int64_t *h)
{
    struct otf_errbuf eb = {0};
    float *buf;
    otf_fits_image_size(img, w, h);
    buf = malloc(sizeof *buf * (size_t)(*w * *h));
    assert_non_null(buf);
    assert_int_equal(otf_fits_read_tile(img, 0, 0, *w, *h, buf, &eb), OTF_OK);
    return buf;
}

static long count_nan(const float *p, size_t n)
{
    long k = 0;
    for (size_t i = 0; i < n; i++)
        k += isnan(p[i]) ? 1 : 0;
    return k;
}

/* Angular distance in arcsec between two (ra, dec) positions in degrees. */
static double sep_arcsec(double ra1, double dec1, double ra2, double dec2)
{
    double d2r = M_PI / 180.0;
    double s = sin((dec2 - dec1) * d2r / 2), t = sin((ra2 - ra1) * d2r / 2);
    double a = s * s + cos(dec1 * d2r) * cos(dec2 * d2r) * t * t;
    return 2.0 * asin(sqrt(a)) / d2r * 3600.0;
}

/* ---- real images ---- */

static void test_real_1904(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    struct otf_fits_image *img = NULL;
    struct otf_fits_meta meta;
    int64_t w, h;
    float *all;
    (void)state;

    assert_int_equal(otf_fits_probe(data_path(REAL_1904), NULL, &info, &eb), OTF_OK);
    assert_int_equal(info.hdu, 1);
    assert_int_equal(info.hdu_index, 0);
    assert_int_equal(info.width, 192);
    assert_int_equal(info.height, 192);
    assert_int_equal(info.bitpix, -32);
    assert_int_equal(info.naxis, 2);
    assert_int_equal(info.has_celestial_wcs, 1);
    assert_string_equal(info.frame, "FK5"); /* EQUINOX 2000, no RADESYS: FK5 (Paper II) */

    assert_int_equal(otf_fits_open_image(data_path(REAL_1904), NULL, &img, &eb), OTF_OK);
    all = read_all(img, &w, &h);
    assert_int_equal(count_nan(all, (size_t)(w * h)), 14837);

    /* Tiles of 50 (edges included) give the same pixels as the whole read. */
    {
        float tile[50 * 50];
        long nan_tiles = 0;
        for (int64_t y0 = 0; y0 < h; y0 += 50)
            for (int64_t x0 = 0; x0 < w; x0 += 50) {
                assert_int_equal(otf_fits_read_tile(img, x0, y0, 50, 50, tile, &eb), OTF_OK);
                for (int64_t y = 0; y < 50; y++)
                    for (int64_t x = 0; x < 50; x++) {
                        float t = tile[y * 50 + x];
                        if (x0 + x >= w || y0 + y >= h) {
                            assert_true(isnan(t));
                            continue;
                        }
                        float a = all[(y0 + y) * w + x0 + x];
                        if (isnan(a)) {
                            assert_true(isnan(t));
                            nan_tiles++;
                        } else {
                            assert_true(a == t);
                        }
                    }
            }
        assert_int_equal(nan_tiles, 14837);
    }
    assert_int_equal(otf_fits_read_meta(img, &meta, &eb), OTF_OK);
    assert_string_equal(meta.bunit, "JY/BEAM");
    assert_float_equal(meta.bmaj_deg, 0.24, 1e-6);
    assert_float_equal(meta.bmin_deg, 0.24, 1e-6);
    assert_float_equal(meta.bpa_deg, 0.0, 1e-12);
    assert_float_equal(meta.equinox, 2000.0, 1e-9);
    assert_string_equal(meta.radesys, "");
    assert_true(isnan(meta.freq_hz));
    free(all);
    otf_fits_close_image(img);
}

static void test_real_b1_blank_and_wrap(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    struct otf_fits_meta meta;
    int64_t w, h;
    float *all;
    (void)state;

    assert_int_equal(otf_fits_probe(data_path(REAL_B1), NULL, &info, &eb), OTF_OK);
    assert_int_equal(info.width, 174);
    assert_int_equal(info.height, 160);
    assert_int_equal(info.naxis, 4);
    assert_string_equal(info.frame, "FK5"); /* EPOCH 2000, RADESYS only in HISTORY */

    assert_int_equal(otf_fits_open_image(data_path(REAL_B1), NULL, &img, &eb), OTF_OK);
    all = read_all(img, &w, &h);
    /* BLANK = -1 on float data is invalid and ignored: no pixel becomes NaN. */
    assert_int_equal(count_nan(all, (size_t)(w * h)), 0);
    assert_float_equal(all[0], -5.48031e-08, 1e-12);

    assert_int_equal(otf_fits_read_meta(img, &meta, &eb), OTF_OK);
    assert_float_equal(meta.equinox, 2000.0, 1e-9);
    assert_float_equal(meta.freq_hz, 5.6e8, 1.0);
    assert_float_equal(meta.bmaj_deg, 4.16666676756e-04, 1e-12);
    assert_true(isnan(meta.bpa_deg));
    assert_string_equal(meta.date_obs, "2000-01-01T12:00:00.0");

    /* CRVAL1 = 0: every pixel's RA is just below 360, never negative. */
    assert_int_equal(otf_fits_read_wcs(img, &wcs, &eb), OTF_OK);
    {
        double xy[2 * 4] = {0, 0, (double)w - 1, 0, 0, (double)h - 1, (double)w - 1, (double)h - 1};
        double rd[2 * 4], back[2 * 4];
        assert_int_equal(otf_fits_pix_to_sky(wcs, 4, xy, rd, &eb), OTF_OK);
        for (int i = 0; i < 4; i++) {
            assert_true(rd[2 * i] > 359.6 && rd[2 * i] < 359.7);
            assert_true(rd[2 * i + 1] > -29.7 && rd[2 * i + 1] < -29.6);
        }
        /* A negative RA (the truth catalogue's convention) maps to the same pixel. */
        for (int i = 0; i < 4; i++)
            rd[2 * i] -= 360.0;
        assert_int_equal(otf_fits_sky_to_pix(wcs, 4, rd, back, &eb), OTF_OK);
        for (int i = 0; i < 8; i++)
            assert_float_equal(back[i], xy[i], 1e-6);
        assert_float_equal(otf_fits_wcs_pixel_scale(wcs), 1.67847e-4, 1e-12);
        assert_float_equal(otf_fits_wcs_equinox(wcs), 2000.0, 1e-9);
    }
    otf_fits_free_wcs(wcs);
    free(all);
    otf_fits_close_image(img);
}

static void test_real_lofar(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    struct otf_fits_meta meta;
    int64_t w, h;
    float *all;
    (void)state;

    /* NAXIS = 2 with CTYPE3/CTYPE4 (and WCSAXES = 4) still present: a 2-D image. */
    assert_int_equal(otf_fits_probe(data_path(REAL_GRB), NULL, &info, &eb), OTF_OK);
    assert_int_equal(info.naxis, 2);
    assert_int_equal(info.width, 256);
    assert_int_equal(info.height, 256);
    assert_int_equal(info.has_celestial_wcs, 1);
    assert_string_equal(info.frame, "FK5");

    assert_int_equal(otf_fits_open_image(data_path(REAL_GRB), NULL, &img, &eb), OTF_OK);
    all = read_all(img, &w, &h);
    assert_int_equal(count_nan(all, (size_t)(w * h)), 0);
    assert_int_equal(otf_fits_read_meta(img, &meta, &eb), OTF_OK);
    assert_string_equal(meta.telescop, "LOFAR");
    assert_string_equal(meta.radesys, "FK5");
    assert_float_equal(meta.freq_hz, 143650817.871094, 1e-3);
    assert_float_equal(meta.bpa_deg, 38.6860542609271, 1e-9);
    assert_float_equal(meta.bmaj_deg, 0.00901909702591635, 1e-15);
    assert_string_equal(meta.date_obs, "2020-10-06T01:26:36.8");

    assert_int_equal(otf_fits_read_wcs(img, &wcs, &eb), OTF_OK);
    assert_float_equal(otf_fits_wcs_pixel_scale(wcs), 0.0013888888888889, 1e-15);
    {
        /* The reference pixel (CRPIX = -19, 1436, outside the cutout) is CRVAL. */
        double xy[2] = {-20.0, 1435.0}, rd[2];
        assert_int_equal(otf_fits_pix_to_sky(wcs, 1, xy, rd, &eb), OTF_OK);
        assert_float_equal(rd[0], 61.8805, 1e-9);
        assert_float_equal(rd[1], 65.1498, 1e-9);
    }
    otf_fits_free_wcs(wcs);
    free(all);
    otf_fits_close_image(img);
}

static void test_real_table_only(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    (void)state;

    assert_int_equal(otf_fits_probe(data_path(REAL_COMP), NULL, &info, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "no image HDU with 2 non-degenerate axes"));
    assert_non_null(strstr(eb.msg, "HDU 1 is a binary table"));
    assert_int_equal(otf_fits_probe(data_path(REAL_COMP), "1", &info, &eb), OTF_E_INVAL);
    assert_string_equal(eb.msg, "HDU 1 is a binary table, not an image");
    assert_int_equal(otf_fits_probe(data_path(REAL_COMP), "0", &info, &eb), OTF_E_INVAL);
    assert_non_null(strstr(eb.msg, "HDU 0 has no data"));
    assert_int_equal(otf_fits_probe(data_path(REAL_COMP), "3", &info, &eb), OTF_E_INVAL);
    assert_string_equal(eb.msg, "HDU 3 does not exist (the file has 2 HDUs)");
    assert_int_equal(otf_fits_probe(data_path(REAL_COMP), "SCIENCE", &info, &eb), OTF_E_INVAL);
    assert_string_equal(eb.msg, "no HDU named 'SCIENCE'");
}

static void test_memory_open(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_image *img = NULL;
    char *data = NULL;
    size_t len = 0;
    int64_t w, h;
    float *all;
    (void)state;

    assert_int_equal(otf_fs_read_file(data_path(REAL_1904), 1 << 20, &data, &len, &eb), OTF_OK);
    assert_int_equal(otf_fits_open_image_mem(data, len, NULL, &img, &eb), OTF_OK);
    all = read_all(img, &w, &h);
    assert_int_equal(count_nan(all, (size_t)(w * h)), 14837);
    free(all);
    otf_fits_close_image(img);
    img = NULL;

    /* Without the final padding: still read whole (cfitsio reads full 2880-byte records, which
     * must not run past the buffer: this failed under ASan before the padded copy). */
    assert_int_equal(len, 161280);
    assert_int_equal(otf_fits_open_image_mem(data, 11520 + 147456, NULL, &img, &eb), OTF_OK);
    all = read_all(img, &w, &h);
    assert_int_equal(count_nan(all, (size_t)(w * h)), 14837);
    free(all);
    otf_fits_close_image(img);
    img = NULL;

    /* The same bytes cut short: an error that says how much is missing. */
    assert_int_equal(otf_fits_open_image_mem(data, 2880 * 5, NULL, &img, &eb), OTF_E_FORMAT);
    assert_string_equal(eb.msg, "truncated: 147456 bytes of data expected, 2880 present");
    assert_null(img);
    assert_int_equal(otf_fits_open_image_mem(data, 100, NULL, &img, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "less than one 2880-byte FITS block"));
    assert_int_equal(otf_fits_open_image_mem(data, 0, NULL, &img, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "empty"));
    free(data);
}

/* ---- synthetic images ---- */

struct bitpix_case {
    int bitpix;
    double bscale, bzero;
    double raw[6];
};

static void test_every_bitpix(void **state)
{
    static const struct bitpix_case cases[] = {
        {8, 1.0, -128.0, {0, 1, 127, 128, 255, 200}}, /* signed bytes by the BZERO convention */
        {8, 0.5, 3.0, {0, 1, 2, 100, 254, 255}},
        {16, 1.0, 32768.0, {-32768, -1, 0, 1, 32767, 1000}}, /* unsigned 16-bit */
        {16, 2.5, -7.0, {-32768, -1, 0, 1, 32767, 1000}},
        {32, 1e-3, 1.0, {-2147483647.0, -1, 0, 1, 2147483647.0, 123456}},
        {64, 1.0, 0.0, {-1e15, -1, 0, 1, 1e15, 42}},
        {64, 0.25, 100.0, {-4e6, -1, 0, 1, 4e6, 42}},
        {-32, 1.0, 0.0, {-1.5, 0.0, 3.25, 1e30, -1e-30, 7}},
        {-32, 2.0, 1.0, {-1.5, 0.0, 3.25, 1e20, -1e-20, 7}},
        {-64, 1.0, 0.0, {-1.5, 0.0, 3.25, 1e300, -1e-30, 7}},
        {-64, 3.0, -1.0, {-1.5, 0.0, 3.25, 1e30, -1e-30, 7}},
    };
    long naxes[2] = {3, 2};
    (void)state;

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct bitpix_case *k = &cases[c];
        struct otf_errbuf eb = {0};
        struct otf_fits_image *img = NULL;
        float out[6];
        const char *path = tmp_path("bitpix.fits");

        write_image(path, k->bitpix, 2, naxes, k->raw, k->bscale, k->bzero, 0, 0, NULL);
        assert_int_equal(otf_fits_open_image(path, NULL, &img, &eb), OTF_OK);
        assert_int_equal(otf_fits_image_info(img)->bitpix, k->bitpix);
        assert_int_equal(otf_fits_read_tile(img, 0, 0, 3, 2, out, &eb), OTF_OK);
        for (int i = 0; i < 6; i++) {
            double want = k->raw[i] * k->bscale + k->bzero;
            if (k->bitpix == -64 && fabs(want) > 3e38)
                assert_true(isinf(out[i]) || isnan(out[i]));
            else
                assert_float_equal(out[i], want, fabs(want) * 1e-6 + 1e-30);
        }
        otf_fits_close_image(img);
    }
}

static void test_blank_and_nan(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_image *img = NULL;
    long naxes[2] = {2, 2};
    float out[4];
    const char *path = tmp_path("blank.fits");
    (void)state;

    /* Integer BLANK -> NaN, after BSCALE/BZERO for the others. */
    {
        double raw[4] = {-32768, 5, -32768, 7};
        write_image(path, 16, 2, naxes, raw, 2.0, 1.0, 1, -32768, NULL);
        assert_int_equal(otf_fits_open_image(path, NULL, &img, &eb), OTF_OK);
        assert_int_equal(otf_fits_read_tile(img, 0, 0, 2, 2, out, &eb), OTF_OK);
        assert_true(isnan(out[0]) && isnan(out[2]));
        assert_float_equal(out[1], 11.0, 0);
        assert_float_equal(out[3], 15.0, 0);
        otf_fits_close_image(img);
        img = NULL;
    }
    /* BLANK on float data is invalid and ignored: -1.0 stays -1.0; NaN stays NaN. */
    {
        double raw[4] = {-1.0, NAN, 2.0, -1.0};
        write_image(path, -32, 2, naxes, raw, 1.0, 0.0, 1, -1, NULL);
        assert_int_equal(otf_fits_open_image(path, NULL, &img, &eb), OTF_OK);
        assert_int_equal(otf_fits_read_tile(img, 0, 0, 2, 2, out, &eb), OTF_OK);
        assert_float_equal(out[0], -1.0, 0);
        assert_true(isnan(out[1]));
        assert_float_equal(out[2], 2.0, 0);
        assert_float_equal(out[3], -1.0, 0);
        otf_fits_close_image(img);
    }
}

static void test_degenerate_axes(void **state)
{
    double v[12];
    (void)state;

    for (int i = 0; i < 12; i++)
        v[i] = i;
    for (int naxis = 3; naxis <= 5; naxis++) {
        long naxes[5] = {4, 3, 1, 1, 1};
        struct otf_errbuf eb = {0};
        struct otf_fits_info info;
        struct otf_fits_image *img = NULL;
        float out[12];
        const char *path = tmp_path("deg.fits");

        write_image(path, -32, naxis, naxes, v, 1.0, 0.0, 0, 0, NULL);
        assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_OK);
        assert_int_equal(info.naxis, naxis);
        assert_int_equal(info.width, 4);
        assert_int_equal(info.height, 3);
        assert_int_equal(info.has_celestial_wcs, 0);
        assert_string_equal(info.frame, "");
        assert_int_equal(otf_fits_open_image(path, NULL, &img, &eb), OTF_OK);
        assert_int_equal(otf_fits_read_tile(img, 0, 0, 4, 3, out, &eb), OTF_OK);
        for (int i = 0; i < 12; i++)
            assert_float_equal(out[i], (double)i, 0);
        assert_int_equal(otf_fits_read_tile(img, 1, 1, 2, 2, out, &eb), OTF_OK);
        assert_float_equal(out[0], 5, 0);
        assert_float_equal(out[3], 10, 0);
        otf_fits_close_image(img);
    }
}

/* A non-degenerate third axis is a cube: refused, with the reason; an image in a later HDU is
 * still found by the default search. */
static void test_cube(void **state)
{
    long naxes[3] = {4, 3, 2};
    double v[24] = {0};
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    const char *path = tmp_path("cube.fits");
    (void)state;

    write_image(path, -32, 3, naxes, v, 1.0, 0.0, 0, 0, NULL);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "no image HDU with 2 non-degenerate axes"));
    assert_non_null(strstr(eb.msg, "HDU 0 is a 3-D cube (NAXIS3 = 2)"));
    assert_int_equal(otf_fits_probe(path, "0", &info, &eb), OTF_E_INVAL);
    assert_non_null(strstr(eb.msg, "HDU 0 is a 3-D cube"));

    /* Append a 2-D image extension named SKY, version 2. */
    {
        fitsfile *f = NULL;
        int st = 0;
        long n2[2] = {5, 6};
        float px[30] = {0};
        int ver = 2;
        fits_open_file(&f, path, READWRITE, &st);
        fits_create_img(f, FLOAT_IMG, 2, n2, &st);
        fits_write_key(f, TSTRING, "EXTNAME", "SKY", NULL, &st);
        fits_write_key(f, TINT, "EXTVER", &ver, NULL, &st);
        fits_write_img(f, TFLOAT, 1, 30, px, &st);
        fits_close_file(f, &st);
        check_fits(st);
    }
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_OK);
    assert_int_equal(info.hdu_index, 1);
    assert_int_equal(info.hdu, 2);
    assert_int_equal(info.width, 5);
    assert_int_equal(info.height, 6);
    assert_int_equal(otf_fits_probe(path, "sky", &info, &eb), OTF_OK);
    assert_int_equal(info.hdu_index, 1);
    assert_int_equal(otf_fits_probe(path, " SKY , 2 ", &info, &eb), OTF_OK);
    assert_int_equal(otf_fits_probe(path, "SKY,3", &info, &eb), OTF_E_INVAL);
    assert_string_equal(eb.msg, "no HDU named 'SKY' with EXTVER 3");
    assert_int_equal(otf_fits_probe(path, "PRIMARY", &info, &eb), OTF_E_INVAL);
    assert_non_null(strstr(eb.msg, "cube"));
    assert_int_equal(otf_fits_probe(path, "1", &info, &eb), OTF_OK);
    assert_int_equal(otf_fits_probe(path, "-1", &info, &eb), OTF_E_INVAL);
    assert_int_equal(otf_fits_probe(path, "SKY,", &info, &eb), OTF_E_INVAL);
    assert_int_equal(otf_fits_probe(path, "99999", &info, &eb), OTF_E_INVAL);
    assert_int_equal(otf_fits_probe(path, "SK\x01Y", &info, &eb), OTF_E_INVAL);
}

static void test_thin_image(void **state)
{
    long naxes[2] = {1, 10};
    double v[10] = {0};
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    const char *path = tmp_path("thin.fits");
    (void)state;

    write_image(path, 16, 2, naxes, v, 1.0, 0.0, 0, 0, NULL);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "1 x 10 pixels"));
}

static void test_table_only_synthetic(void **state)
{
    fitsfile *f = NULL;
    int st = 0;
    char *ttype[] = {"a"}, *tform_a[] = {"E12.4"}, *tform_b[] = {"E"};
    char name[PATH_MAX + 1];
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    const char *path = tmp_path("table.fits");
    (void)state;

    snprintf(name, sizeof name, "!%s", path);
    fits_create_file(&f, name, &st);
    fits_create_tbl(f, ASCII_TBL, 3, 1, ttype, tform_a, NULL, "T1", &st);
    fits_create_tbl(f, BINARY_TBL, 3, 1, ttype, tform_b, NULL, "T2", &st);
    fits_close_file(f, &st);
    check_fits(st);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "HDU 1 is an ASCII table, not an image"));
    assert_non_null(strstr(eb.msg, "HDU 2 is a binary table, not an image"));
    assert_int_equal(otf_fits_probe(path, "T2", &info, &eb), OTF_E_INVAL);
    assert_string_equal(eb.msg, "HDU 2 is a binary table, not an image");
}

static void test_truncated_file(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    const char *path = tmp_path("trunc.fits");
    (void)state;

    write_ramp(path, 100, 100, NULL); /* 2880 header + 40000 data (+ padding) */
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_OK);
    assert_int_equal(truncate(path, 2880 + 39999), 0);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_string_equal(eb.msg, "truncated: 40000 bytes of data expected, 39999 present");
    assert_int_equal(truncate(path, 2880), 0);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_string_equal(eb.msg, "truncated: 40000 bytes of data expected, 0 present");
    /* Missing only the final padding is accepted: all the data is there. */
    assert_int_equal(truncate(path, 2880 + 40000), 0);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_OK);
}

static void test_lying_headers(void **state)
{
    static unsigned char buf[8 * 2880];
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    struct otf_fits_image *img = NULL;
    size_t n;
    const char *path = tmp_path("lying.fits");
    (void)state;

    {
        /* NAXIS = 3 but no NAXIS3 card. */
        const char *cards[] = {"SIMPLE  =                    T", "BITPIX  =                  -32",
                               "NAXIS   =                    3", "NAXIS1  =                   10",
                               "NAXIS2  =                   10", NULL};
        n = make_raw(buf, sizeof buf, cards, 400);
        assert_int_equal(otf_fits_open_image_mem(buf, n, NULL, &img, &eb), OTF_E_FORMAT);
        assert_non_null(strstr(eb.msg, "not a valid FITS file"));
        assert_null(img);
    }
    {
        /* A small file announcing 1e6 x 1e6 pixels. */
        const char *cards[] = {"SIMPLE  =                    T", "BITPIX  =                  -32",
                               "NAXIS   =                    2", "NAXIS1  =              1000000",
                               "NAXIS2  =              1000000", NULL};
        n = make_raw(buf, sizeof buf, cards, 400);
        write_bytes(path, buf, n);
        assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
        assert_string_equal(eb.msg, "truncated: 4000000000000 bytes of data expected, 2880 "
                                    "present");
    }
    {
        /* Absurd dimensions. */
        const char *cards[] = {"SIMPLE  =                    T", "BITPIX  =                    8",
                               "NAXIS   =                    2", "NAXIS1  =              2097152",
                               "NAXIS2  =                    2", NULL};
        n = make_raw(buf, sizeof buf, cards, 0);
        assert_int_equal(otf_fits_open_image_mem(buf, n, NULL, &img, &eb), OTF_E_LIMIT);
        assert_non_null(strstr(eb.msg, "NAXIS1 = 2097152 exceeds the limit"));
    }
    {
        const char *cards[] = {"SIMPLE  =                    T", "BITPIX  =                    8",
                               "NAXIS   =                 1000", NULL};
        n = make_raw(buf, sizeof buf, cards, 0);
        assert_int_equal(otf_fits_open_image_mem(buf, n, NULL, &img, &eb), OTF_E_FORMAT);
    }
    {
        const char *cards[] = {"SIMPLE  =                    T", "BITPIX  =                   12",
                               "NAXIS   =                    2", "NAXIS1  =                    4",
                               "NAXIS2  =                    4", NULL};
        n = make_raw(buf, sizeof buf, cards, 64);
        assert_int_equal(otf_fits_open_image_mem(buf, n, NULL, &img, &eb), OTF_E_FORMAT);
    }
    {
        const char *cards[] = {"SIMPLE  =                    T", "BITPIX  =                  -32",
                               "NAXIS   =                    2", "NAXIS1  =                   -4",
                               "NAXIS2  =                    4", NULL};
        n = make_raw(buf, sizeof buf, cards, 64);
        assert_int_equal(otf_fits_open_image_mem(buf, n, NULL, &img, &eb), OTF_E_FORMAT);
    }
    {
        /* PCOUNT in a primary image header: cfitsio would place the pixels after 750 "group
         * parameters" and read past the data (a heap overflow on a memory file, found by
         * fuzzing). */
        const char *cards[] = {"SIMPLE  =                    T", "BITPIX  =                  -32",
                               "NAXIS   =                    2", "NAXIS1  =                   24",
                               "NAXIS2  =                   24", "PCOUNT  =                  750",
                               "GCOUNT  =                    1", NULL};
        n = make_raw(buf, sizeof buf, cards, 2304);
        assert_int_equal(otf_fits_open_image_mem(buf, n, NULL, &img, &eb), OTF_E_FORMAT);
        assert_non_null(strstr(eb.msg, "PCOUNT = 0 and GCOUNT = 1"));
        assert_null(img);
    }
    {
        /* A valid primary image whose extension header is garbage: the image is still used,
         * and an explicit request for the broken HDU fails cleanly. */
        const char *cards[] = {"SIMPLE  =                    T",
                               "BITPIX  =                  -32",
                               "NAXIS   =                    2",
                               "NAXIS1  =                    2",
                               "NAXIS2  =                    2",
                               "EXTEND  =                    T",
                               NULL};
        n = make_raw(buf, sizeof buf, cards, 16);
        memset(buf + n, 'x', 2880);
        n += 2880;
        assert_int_equal(otf_fits_open_image_mem(buf, n, NULL, &img, &eb), OTF_OK);
        otf_fits_close_image(img);
        img = NULL;
        assert_int_not_equal(otf_fits_open_image_mem(buf, n, "1", &img, &eb), OTF_OK);
        assert_null(img);
    }
}

static void test_not_fits(void **state)
{
    static const unsigned char gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3};
    static char junk[4 * 2880];
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    const char *path = tmp_path("junk.fits");
    (void)state;

    write_bytes(path, "hello world\n", 12);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "not a FITS file"));
    write_bytes(path, "", 0);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_string_equal(eb.msg, "not a FITS file: the file is empty");
    write_bytes(path, gz, sizeof gz);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "gzip"));
    write_bytes(path, "BZh91AY&SY", 10);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "bzip2"));

    /* Starts like FITS, then garbage: cfitsio's complaint, without the folder of the file. */
    memset(junk, 'z', sizeof junk);
    memcpy(junk, "SIMPLE  =                    T", 30);
    write_bytes(path, junk, sizeof junk);
    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "not a valid FITS file"));
    assert_null(strstr(eb.msg, g_tmp));
    assert_null(strchr(eb.msg, '/'));

    /* A keyword with a non-ASCII byte in an extension: cfitsio quotes it, we keep the message
     * printable ASCII (it goes into XML and JSON). */
    {
        static unsigned char raw[3 * 2880];
        const char *cards[] = {"SIMPLE  =                    T", "BITPIX  =                    8",
                               "NAXIS   =                    0", "EXTEND  =                    T",
                               NULL};
        size_t n = make_raw(raw, sizeof raw, cards, 0);
        const char *ext[] = {"XTENSION= 'IMAGE   '",           "BITP\xe9IX =                  -32",
                             "NAXIS   =                    2", "NAXIS1  =                    2",
                             "NAXIS2  =                    2", "PCOUNT  =                    0",
                             "GCOUNT  =                    1", NULL};
        n += make_raw(raw + n, sizeof raw - n, ext, 16);
        write_bytes(path, raw, n);
        assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
        assert_non_null(strstr(eb.msg, "HDU 1: malformed header"));
        for (const char *c = eb.msg; *c; c++)
            assert_true(*c >= 0x20 && *c <= 0x7e);
    }

    assert_int_equal(otf_fits_probe(tmp_path("missing.fits"), NULL, &info, &eb), OTF_E_NOTFOUND);
    assert_int_equal(otf_fits_probe(g_tmp, NULL, &info, &eb), OTF_E_IO);
}

static void test_tiles_at_edges(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_image *img = NULL;
    const long W = 37, H = 23;
    static float out[64 * 64];
    const char *path = tmp_path("ramp.fits");
    static const int64_t boxes[][4] = {
        {0, 0, 37, 23},  {5, 7, 10, 4},      {-3, -2, 8, 6}, {30, 20, 10, 10}, {-5, 10, 50, 3},
        {10, -4, 3, 40}, {-10, -10, 60, 60}, {36, 22, 1, 1}, {37, 0, 5, 5},    {0, 23, 5, 5},
        {-5, -5, 5, 5},  {100, 100, 3, 3},   {-1, 0, 1, 23}, {0, 22, 37, 1},
    };
    (void)state;

    write_ramp(path, W, H, NULL);
    assert_int_equal(otf_fits_open_image(path, NULL, &img, &eb), OTF_OK);
    for (size_t b = 0; b < sizeof boxes / sizeof boxes[0]; b++) {
        int64_t x0 = boxes[b][0], y0 = boxes[b][1], w = boxes[b][2], h = boxes[b][3];
        memset(out, 0x55, sizeof out);
        assert_int_equal(otf_fits_read_tile(img, x0, y0, w, h, out, &eb), OTF_OK);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                int64_t px = x0 + x, py = y0 + y;
                float v = out[y * w + x];
                if (px < 0 || py < 0 || px >= W || py >= H)
                    assert_true(isnan(v));
                else
                    assert_float_equal(v, (double)px + 1000.0 * (double)py, 0);
            }
        /* Nothing written past w * h floats. */
        {
            uint32_t guard;
            memcpy(&guard, &out[w * h], sizeof guard);
            assert_int_equal(guard, 0x55555555u);
        }
    }
    assert_int_equal(otf_fits_read_tile(img, 0, 0, 0, 5, out, &eb), OTF_E_INVAL);
    assert_int_equal(otf_fits_read_tile(img, 0, 0, 5, -1, out, &eb), OTF_E_INVAL);
    assert_int_equal(otf_fits_read_tile(img, INT64_MAX / 2, 0, 5, 5, out, &eb), OTF_E_INVAL);
    assert_int_equal(otf_fits_read_tile(img, 0, 0, (int64_t)1 << 23, 1, out, &eb), OTF_E_INVAL);
    otf_fits_close_image(img);
}

/* Tile-compressed images are refused (cfitsio's decompressors crash on crafted tiles), by the
 * default search and when named, without decompressing anything. */
static void test_tile_compressed_refused(void **state)
{
    fitsfile *f = NULL;
    int st = 0;
    long naxes[2] = {40, 30};
    int v[1200];
    char name[PATH_MAX + 32];
    struct otf_errbuf eb = {0};
    struct otf_fits_info info;
    struct otf_fits_image *img = NULL;
    const char *path = tmp_path("comp.fits");
    (void)state;

    for (int i = 0; i < 1200; i++)
        v[i] = i * 3 - 500;
    assert_true(snprintf(name, sizeof name, "!%s[compress R 10,10]", path) < (int)sizeof name);
    fits_create_file(&f, name, &st);
    fits_create_img(f, LONG_IMG, 2, naxes, &st);
    fits_write_img(f, TINT, 1, 1200, v, &st);
    fits_close_file(f, &st);
    check_fits(st);

    assert_int_equal(otf_fits_probe(path, NULL, &info, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "no image HDU with 2 non-degenerate axes"));
    assert_non_null(strstr(eb.msg, "HDU 1 is a tile-compressed image, which is not accepted"));
    assert_int_equal(otf_fits_open_image(path, "1", &img, &eb), OTF_E_INVAL);
    assert_non_null(strstr(eb.msg, "funpack"));
    assert_null(img);
}

/* A compressed-image header that crashes cfitsio as soon as it moves there (ZTILE2 = 0: a
 * division by zero, found by fuzzing) is recognised from its raw cards and never reached. */
static void test_compressed_header_never_parsed(void **state)
{
    static unsigned char buf[6 * 2880];
    static const char *const zimage[] = {"ZIMAGE  =                    T", "HIERARCH ZIMAGE = T",
                                         "zimage=T"};
    const char *prim[] = {"SIMPLE  =                    T", "BITPIX  =                    8",
                          "NAXIS   =                    0", "EXTEND  =                    T", NULL};
    (void)state;

    for (size_t z = 0; z < sizeof zimage / sizeof zimage[0]; z++) {
        const char *ext[] = {"XTENSION= 'BINTABLE'",
                             "BITPIX  =                    8",
                             "NAXIS   =                    2",
                             "NAXIS1  =                    8",
                             "NAXIS2  =                   20",
                             "PCOUNT  =                    0",
                             "GCOUNT  =                    1",
                             "TFIELDS =                    1",
                             "TTYPE1  = 'COMPRESSED_DATA'",
                             "TFORM1  = '1PB(38) '",
                             zimage[z],
                             "ZBITPIX =                   32",
                             "ZNAXIS  =                    2",
                             "ZNAXIS1 =                   24",
                             "ZNAXIS2 =                   20",
                             "ZTILE1  =                   24",
                             "ZTILE2  =                    0",
                             "ZCMPTYPE= 'RICE_1  '",
                             "EXTNAME = 'SKY     '",
                             NULL};
        struct otf_errbuf eb = {0};
        struct otf_fits_image *img = NULL;
        size_t n = make_raw(buf, sizeof buf, prim, 0);
        n += make_raw(buf + n, sizeof buf - n, ext, 160);

        assert_int_equal(otf_fits_open_image_mem(buf, n, NULL, &img, &eb), OTF_E_FORMAT);
        assert_non_null(strstr(eb.msg, "HDU 1 is a tile-compressed image"));
        assert_int_equal(otf_fits_open_image_mem(buf, n, "1", &img, &eb), OTF_E_INVAL);
        assert_non_null(strstr(eb.msg, "HDU 1 is a tile-compressed image"));
        assert_int_equal(otf_fits_open_image_mem(buf, n, "2", &img, &eb), OTF_E_INVAL);
        assert_non_null(strstr(eb.msg, "HDU 2 cannot be reached"));
        assert_int_equal(otf_fits_open_image_mem(buf, n, "SKY", &img, &eb), OTF_E_INVAL);
        assert_non_null(strstr(eb.msg, "no HDU named 'SKY' before HDU 1"));
        assert_null(img);
    }
}

static void test_meta_aips_history(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_image *img = NULL;
    struct otf_fits_meta meta;
    const char *extra[] = {"HISTORY AIPS   CLEAN BMAJ=  1.0000E-03 BMIN=  5.0000E-04 BPA=  10.00",
                           "HISTORY AIPS   CLEAN BMAJ=  2.0000E-03 BMIN=  1.0000E-03 BPA= -20.50",
                           "RADECSYS= 'FK4'",
                           "CTYPE3  = 'FREQ'",
                           "CRVAL3  = 1.4",
                           "CRPIX3  = 2",
                           "CDELT3  = 0.1",
                           "CUNIT3  = 'GHz'",
                           NULL};
    const char *path = tmp_path("aips.fits");
    (void)state;

    write_ramp(path, 4, 4, extra);
    assert_int_equal(otf_fits_open_image(path, NULL, &img, &eb), OTF_OK);
    assert_int_equal(otf_fits_read_meta(img, &meta, &eb), OTF_OK);
    assert_float_equal(meta.bmaj_deg, 2e-3, 1e-12);
    assert_float_equal(meta.bmin_deg, 1e-3, 1e-12);
    assert_float_equal(meta.bpa_deg, -20.5, 1e-12);
    assert_string_equal(meta.radesys, "FK4");
    assert_true(isnan(meta.equinox));
    assert_float_equal(meta.freq_hz, 1.3e9, 1e-3);
    assert_string_equal(meta.bunit, "");
    assert_string_equal(meta.telescop, "");
    otf_fits_close_image(img);
}

/* ---- WCS ---- */

/* Concatenates cards into an 80-column header; returns the number of cards. */
static int make_cards(char *out, size_t cap, const char *const *cards)
{
    int n = 0;
    for (const char *const *c = cards; *c; c++, n++) {
        assert_true((size_t)(n + 1) * 80 < cap);
        memset(out + n * 80, ' ', 80);
        memcpy(out + n * 80, *c, strlen(*c));
    }
    out[n * 80] = '\0';
    return n;
}

static struct otf_fits_wcs *wcs_of(const char *const *cards, enum otf_status want,
                                   struct otf_errbuf *eb)
{
    static char buf[80 * 64];
    struct otf_fits_wcs *w = NULL;
    int n = make_cards(buf, sizeof buf, cards);
    assert_int_equal(otf_fits_parse_wcs(buf, n, &w, eb), want);
    return w;
}

static void expect_same_sky(struct otf_fits_wcs *a, struct otf_fits_wcs *b, double tol_arcsec)
{
    struct otf_errbuf eb = {0};
    double xy[2 * 9], ra[2 * 9], rb[2 * 9];
    for (int i = 0; i < 9; i++) {
        xy[2 * i] = (i % 3) * 40.0 + 3.0;
        xy[2 * i + 1] = (i / 3) * 45.0 + 1.0;
    }
    assert_int_equal(otf_fits_pix_to_sky(a, 9, xy, ra, &eb), OTF_OK);
    assert_int_equal(otf_fits_pix_to_sky(b, 9, xy, rb, &eb), OTF_OK);
    for (int i = 0; i < 9; i++) {
        assert_false(isnan(ra[2 * i]));
        assert_true(sep_arcsec(ra[2 * i], ra[2 * i + 1], rb[2 * i], rb[2 * i + 1]) < tol_arcsec);
    }
}

static void test_wcs_ncp_is_sin(void **state)
{
    struct otf_errbuf eb = {0};
    char pv[81];
    const double dec0 = 40.0;
    const char *ncp[] = {"CTYPE1  = 'RA---NCP'", "CTYPE2  = 'DEC--NCP'", "CRPIX1  = 50",
                         "CRPIX2  = 50",         "CRVAL1  = 150.0",      "CRVAL2  = 40.0",
                         "CDELT1  = -0.01",      "CDELT2  = 0.01",       NULL};
    const char *sin[] = {"CTYPE1  = 'RA---SIN'",
                         "CTYPE2  = 'DEC--SIN'",
                         "CRPIX1  = 50",
                         "CRPIX2  = 50",
                         "CRVAL1  = 150.0",
                         "CRVAL2  = 40.0",
                         "CDELT1  = -0.01",
                         "CDELT2  = 0.01",
                         "PV2_1   = 0",
                         pv,
                         NULL};
    struct otf_fits_wcs *a, *b;
    (void)state;

    /* NCP = SIN with PV2_1 = 0, PV2_2 = cot(CRVAL2) (WCS Paper II §6.1.2). */
    snprintf(pv, sizeof pv, "PV2_2   = %.17g", 1.0 / tan(dec0 * M_PI / 180.0));
    a = wcs_of(ncp, OTF_OK, &eb);
    b = wcs_of(sin, OTF_OK, &eb);
    expect_same_sky(a, b, 1e-6);
    assert_string_equal(otf_fits_wcs_frame(a), "ICRS"); /* no RADESYS, no EQUINOX */
    assert_true(isnan(otf_fits_wcs_equinox(a)));
    otf_fits_free_wcs(a);
    otf_fits_free_wcs(b);
}

static void test_wcs_matrix_forms(void **state)
{
    struct otf_errbuf eb = {0};
    const double c = cos(30 * M_PI / 180), s = sin(30 * M_PI / 180);
    char pc[4][81], cd[4][81];
    const char *base[] = {"CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "CRPIX1  = 40",
                          "CRPIX2  = 60",         "CRVAL1  = 10.0",       "CRVAL2  = -45.0"};
    const char *with_pc[16], *with_cd[16], *with_old[16], *with_crota[16];
    char old[4][81];
    struct otf_fits_wcs *a, *b, *d, *e;
    int n = 0;
    (void)state;

    /* The same rotated 2"/pixel grid written four ways. */
    snprintf(pc[0], 81, "PC1_1   = %.17g", c);
    snprintf(pc[1], 81, "PC1_2   = %.17g", -s);
    snprintf(pc[2], 81, "PC2_1   = %.17g", s);
    snprintf(pc[3], 81, "PC2_2   = %.17g", c);
    snprintf(cd[0], 81, "CD1_1   = %.17g", -c / 1800);
    snprintf(cd[1], 81, "CD1_2   = %.17g", s / 1800);
    snprintf(cd[2], 81, "CD2_1   = %.17g", s / 1800);
    snprintf(cd[3], 81, "CD2_2   = %.17g", c / 1800);
    snprintf(old[0], 81, "PC001001= %.17g", c);
    snprintf(old[1], 81, "PC001002= %.17g", -s);
    snprintf(old[2], 81, "PC002001= %.17g", s);
    snprintf(old[3], 81, "PC002002= %.17g", c);
    for (int i = 0; i < 6; i++, n++)
        with_pc[n] = with_cd[n] = with_old[n] = with_crota[n] = base[i];
    with_pc[n] = "CDELT1  = -5.5555555555555556E-4";
    with_old[n] = with_pc[n];
    with_crota[n] = with_pc[n];
    with_pc[n + 1] = "CDELT2  = 5.5555555555555556E-4";
    with_old[n + 1] = with_pc[n + 1];
    with_crota[n + 1] = with_pc[n + 1];
    with_crota[n + 2] = "CROTA2  = -30.0"; /* PC1_2 = -sin: a rotation by -30 deg */
    with_crota[n + 3] = NULL;
    for (int i = 0; i < 4; i++) {
        with_pc[n + 2 + i] = pc[i];
        with_old[n + 2 + i] = old[i];
        with_cd[n + i] = cd[i];
    }
    with_pc[n + 6] = NULL;
    with_old[n + 6] = NULL;
    with_cd[n + 4] = NULL;
    a = wcs_of(with_pc, OTF_OK, &eb);
    b = wcs_of(with_cd, OTF_OK, &eb);
    d = wcs_of(with_old, OTF_OK, &eb);
    e = wcs_of(with_crota, OTF_OK, &eb);
    expect_same_sky(a, b, 1e-6);
    expect_same_sky(a, d, 1e-6);
    expect_same_sky(a, e, 1e-6);
    assert_float_equal(otf_fits_wcs_pixel_scale(a), 1.0 / 1800, 1e-12);
    assert_float_equal(otf_fits_wcs_pixel_scale(b), 1.0 / 1800, 1e-12);
    otf_fits_free_wcs(a);
    otf_fits_free_wcs(b);
    otf_fits_free_wcs(d);
    otf_fits_free_wcs(e);
}

static void test_wcs_frames(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_wcs *w;
    (void)state;

    {
        const char *h[] = {"CTYPE1  = 'GLON-CAR'", "CTYPE2  = 'GLAT-CAR'", "CRPIX1  = 10",
                           "CRPIX2  = 20",         "CRVAL1  = 120.0",      "CRVAL2  = 0.0",
                           "CDELT1  = -0.5",       "CDELT2  = 0.5",        NULL};
        double xy[2] = {9, 19}, rd[2];
        w = wcs_of(h, OTF_OK, &eb);
        assert_string_equal(otf_fits_wcs_frame(w), "GALACTIC");
        assert_true(isnan(otf_fits_wcs_equinox(w)));
        assert_int_equal(otf_fits_pix_to_sky(w, 1, xy, rd, &eb), OTF_OK);
        assert_float_equal(rd[0], 120.0, 1e-9);
        assert_float_equal(rd[1], 0.0, 1e-9);
        otf_fits_free_wcs(w);
    }
    {
        const char *h[] = {
            "CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "CRVAL1  = 1.0",    "CRVAL2  = 2.0",
            "CDELT1  = -0.1",       "CDELT2  = 0.1",        "EQUINOX = 1950.0", NULL};
        w = wcs_of(h, OTF_OK, &eb);
        assert_string_equal(otf_fits_wcs_frame(w), "FK4");
        assert_float_equal(otf_fits_wcs_equinox(w), 1950.0, 0);
        otf_fits_free_wcs(w);
    }
    {
        const char *h[] = {
            "CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "CRVAL1  = 1.0",   "CRVAL2  = 2.0",
            "CDELT1  = -0.1",       "CDELT2  = 0.1",        "RADESYS = 'FK5'", NULL};
        w = wcs_of(h, OTF_OK, &eb);
        assert_string_equal(otf_fits_wcs_frame(w), "FK5");
        assert_float_equal(otf_fits_wcs_equinox(w), 2000.0, 0);
        otf_fits_free_wcs(w);
    }
    {
        const char *h[] = {"CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "CRVAL1  = 1.0",
                           "CRVAL2  = 2.0",        "CDELT1  = -0.1",       "CDELT2  = 0.1",
                           "RADESYS = 'ICRS'",     "EQUINOX = 2000.0",     NULL};
        w = wcs_of(h, OTF_OK, &eb);
        assert_string_equal(otf_fits_wcs_frame(w), "ICRS");
        assert_true(isnan(otf_fits_wcs_equinox(w)));
        otf_fits_free_wcs(w);
    }
    {
        const char *h[] = {"CTYPE1  = 'ELON-AIT'",
                           "CTYPE2  = 'ELAT-AIT'",
                           "CRVAL1  = 0.0",
                           "CRVAL2  = 0.0",
                           "CDELT1  = -1",
                           "CDELT2  = 1",
                           NULL};
        w = wcs_of(h, OTF_OK, &eb);
        assert_string_equal(otf_fits_wcs_frame(w), "ECLIPTIC");
        otf_fits_free_wcs(w);
    }
}

/* Reference pixel -> CRVAL, and pixel -> sky -> pixel round trips, for several projections. */
static void test_wcs_projections(void **state)
{
    static const char *const proj[] = {"SIN", "TAN", "AIT", "AZP", "ZEA", "ARC",
                                       "STG", "CAR", "MER", "SFL", "NCP"};
    (void)state;

    for (size_t p = 0; p < sizeof proj / sizeof proj[0]; p++) {
        struct otf_errbuf eb = {0};
        char c1[81], c2[81];
        const char *h[] = {c1,
                           c2,
                           "CRPIX1  = 50.5",
                           "CRPIX2  = 40",
                           "CRVAL1  = 0.0",
                           "CRVAL2  = 30.0",
                           "CDELT1  = -0.05",
                           "CDELT2  = 0.05",
                           "RADESYS = 'FK5'",
                           NULL};
        struct otf_fits_wcs *w;
        double xy[2 * 5] = {49.5, 39, 0, 0, 99, 99, 10, 80, 70, 5}, rd[2 * 5], back[2 * 5];

        snprintf(c1, sizeof c1, "CTYPE1  = 'RA---%s'", proj[p]);
        snprintf(c2, sizeof c2, "CTYPE2  = 'DEC--%s'", proj[p]);
        w = wcs_of(h, OTF_OK, &eb);
        assert_int_equal(otf_fits_pix_to_sky(w, 5, xy, rd, &eb), OTF_OK);
        assert_float_equal(rd[0], 0.0, 1e-9);
        assert_float_equal(rd[1], 30.0, 1e-9);
        for (int i = 0; i < 5; i++) {
            assert_true(rd[2 * i] >= 0.0 && rd[2 * i] < 360.0);
        }
        assert_int_equal(otf_fits_sky_to_pix(w, 5, rd, back, &eb), OTF_OK);
        for (int i = 0; i < 10; i++)
            assert_float_equal(back[i], xy[i], 1e-7);
        otf_fits_free_wcs(w);
    }
}

static void test_wcs_axes_and_invalid(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_wcs *w;
    (void)state;

    {
        /* Latitude first: the output is still (longitude, latitude). */
        const char *h[] = {"CTYPE1  = 'DEC--TAN'", "CTYPE2  = 'RA---TAN'", "CRPIX1  = 1",
                           "CRPIX2  = 1",          "CRVAL1  = -20.0",      "CRVAL2  = 200.0",
                           "CDELT1  = 0.01",       "CDELT2  = -0.01",      NULL};
        double xy[4] = {0, 0, 10, 0}, rd[4];
        w = wcs_of(h, OTF_OK, &eb);
        assert_int_equal(otf_fits_pix_to_sky(w, 2, xy, rd, &eb), OTF_OK);
        assert_float_equal(rd[0], 200.0, 1e-9);
        assert_float_equal(rd[1], -20.0, 1e-9);
        assert_float_equal(rd[3], -19.9, 1e-6); /* x moves in declination */
        otf_fits_free_wcs(w);
    }
    {
        /* SIN: pixels beyond the projection's disk and NaN input give NaN, not an error. */
        const char *h[] = {"CTYPE1  = 'RA---SIN'", "CTYPE2  = 'DEC--SIN'", "CRPIX1  = 1",
                           "CRPIX2  = 1",          "CRVAL1  = 0.0",        "CRVAL2  = 0.0",
                           "CDELT1  = -1",         "CDELT2  = 1",          NULL};
        double xy[6] = {0, 0, 200, 0, NAN, 3}, rd[6];
        double sky[6] = {180.0, 0.0, 10.0, 95.0, 10.0, 10.0}, px[6];
        w = wcs_of(h, OTF_OK, &eb);
        assert_int_equal(otf_fits_pix_to_sky(w, 3, xy, rd, &eb), OTF_OK);
        assert_false(isnan(rd[0]));
        assert_true(isnan(rd[2]) && isnan(rd[3]));
        assert_true(isnan(rd[4]) && isnan(rd[5]));
        /* The far hemisphere and |dec| > 90 have no pixel. */
        assert_int_equal(otf_fits_sky_to_pix(w, 3, sky, px, &eb), OTF_OK);
        assert_true(isnan(px[0]) && isnan(px[1]));
        assert_true(isnan(px[2]) && isnan(px[3]));
        assert_false(isnan(px[4]));
        otf_fits_free_wcs(w);
    }
    {
        /* Celestial axes on 3 and 4: axes 1-2 carry no celestial WCS. */
        const char *h[] = {"WCSAXES =  4",         "CTYPE1  = 'FREQ'",     "CTYPE2  = 'STOKES'",
                           "CTYPE3  = 'RA---SIN'", "CTYPE4  = 'DEC--SIN'", NULL};
        w = wcs_of(h, OTF_E_FORMAT, &eb);
        assert_null(w);
        assert_non_null(strstr(eb.msg, "no celestial WCS"));
    }
    {
        /* An unterminated string followed by another string card: wcslib 7.12's scanner ran
         * the first string on into the next card and overflowed ctype[72] (an abort). */
        const char *h[] = {"CTYPE1  = 'RA", "CTYPE2  = 'DEC--ZEA'", "CRPIX1  = 1",
                           "CTYPE3  = 'it''s'", NULL};
        w = wcs_of(h, OTF_E_FORMAT, &eb);
        assert_null(w);
    }
    {
        /* Quotes inside a string ('') and control bytes do not blank a good card. */
        const char *h[] = {"CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "OBJECT  = 'M''31\t'",
                           "CDELT1  = -0.1",       "CDELT2  = 0.1",        NULL};
        w = wcs_of(h, OTF_OK, &eb);
        otf_fits_free_wcs(w);
    }
    {
        /* DSS plate keys and SIP coefficients without a matching CTYPE: wcslib 7.12 ends in a
         * double free; they never reach it. */
        const char *dss[] = {"CNPIX1  = 8.5", "CRVAL1  = 0.0", NULL};
        const char *sip[] = {"A_0_2   = 1.0", "CRVAL1  = 0.0", NULL};
        const char *amd[] = {"AMDX20  = 1", "PLTRAH  = 1", "XPIXELSZ= 1", NULL};
        assert_null(wcs_of(dss, OTF_E_FORMAT, &eb));
        assert_null(wcs_of(sip, OTF_E_FORMAT, &eb));
        assert_null(wcs_of(amd, OTF_E_FORMAT, &eb));
    }
    {
        /* A SIP header still gives its linear TAN solution (distortion not applied). */
        const char *h[] = {"CTYPE1  = 'RA---TAN-SIP'",
                           "CTYPE2  = 'DEC--TAN-SIP'",
                           "CRPIX1  = 1",
                           "CRPIX2  = 1",
                           "CRVAL1  = 10.0",
                           "CRVAL2  = 20.0",
                           "CDELT1  = -0.001",
                           "CDELT2  = 0.001",
                           "A_ORDER = 2",
                           "A_0_2   = 1e-6",
                           NULL};
        double xy[2] = {0, 0}, rd[2];
        w = wcs_of(h, OTF_OK, &eb);
        assert_int_equal(otf_fits_pix_to_sky(w, 1, xy, rd, &eb), OTF_OK);
        assert_float_equal(rd[0], 10.0, 1e-9);
        assert_float_equal(rd[1], 20.0, 1e-9);
        otf_fits_free_wcs(w);
    }
    {
        const char *h[] = {"OBJECT  = 'nothing'", NULL};
        w = wcs_of(h, OTF_E_FORMAT, &eb);
        assert_null(w);
        assert_non_null(strstr(eb.msg, "no celestial WCS"));
    }
    {
        /* A singular matrix is reported, not crashed on. */
        const char *h[] = {"CTYPE1  = 'RA---TAN'",
                           "CTYPE2  = 'DEC--TAN'",
                           "CD1_1   = 0.001",
                           "CD1_2   = 0.001",
                           "CD2_1   = 0.001",
                           "CD2_2   = 0.001",
                           NULL};
        w = wcs_of(h, OTF_E_FORMAT, &eb);
        assert_null(w);
    }
}

struct thread_arg {
    struct otf_fits_wcs *wcs;
    double out[2 * 64];
    enum otf_status rc;
};

static void *convert_thread(void *p)
{
    struct thread_arg *a = p;
    double xy[2 * 64];
    for (int r = 0; r < 200; r++) {
        for (int i = 0; i < 64; i++) {
            xy[2 * i] = i * 2.5;
            xy[2 * i + 1] = i * 1.5;
        }
        a->rc = otf_fits_pix_to_sky(a->wcs, 64, xy, a->out, NULL);
        if (a->rc != OTF_OK)
            break;
    }
    return NULL;
}

/* The process's first opens, from four threads at once (two uploads probed together): cfitsio
 * creates its own mutex on its first open, so the module does one open first under
 * pthread_once. Listed first so that no earlier test has opened a file; run under
 * ThreadSanitizer in CI (label tsan). */
struct open_arg {
    char path[PATH_MAX];
    int ok;
};

static void *open_thread(void *arg)
{
    struct open_arg *a = arg;
    struct otf_fits_info info;
    struct otf_errbuf eb = {0};
    a->ok = otf_fits_probe(a->path, NULL, &info, &eb) == OTF_OK && info.width == 174 &&
            info.height == 160;
    if (!a->ok)
        print_message("probe of %s: %s\n", a->path, eb.msg);
    return NULL;
}

static void test_first_opens_concurrent(void **state)
{
    pthread_t th[4];
    struct open_arg args[4];
    (void)state;
    for (int t = 0; t < 4; t++) { /* data_path's buffers are not for threads */
        snprintf(args[t].path, sizeof args[t].path, "%s", data_path(REAL_B1));
        args[t].ok = 0;
    }
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_create(&th[t], NULL, open_thread, &args[t]), 0);
    for (int t = 0; t < 4; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_true(args[t].ok);
    }
}

static void test_wcs_dup_threads(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    struct thread_arg args[3];
    pthread_t th[3];
    (void)state;

    assert_int_equal(otf_fits_open_image(data_path(REAL_1904), NULL, &img, &eb), OTF_OK);
    assert_int_equal(otf_fits_read_wcs(img, &wcs, &eb), OTF_OK);
    for (int t = 0; t < 3; t++) {
        args[t].wcs = NULL;
        assert_int_equal(otf_fits_dup_wcs(wcs, &args[t].wcs, &eb), OTF_OK);
        assert_string_equal(otf_fits_wcs_frame(args[t].wcs), "FK5");
    }
    for (int t = 0; t < 3; t++)
        assert_int_equal(pthread_create(&th[t], NULL, convert_thread, &args[t]), 0);
    convert_thread(&(struct thread_arg){.wcs = wcs});
    for (int t = 0; t < 3; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(args[t].rc, OTF_OK);
        assert_memory_equal(args[t].out, args[0].out, sizeof args[0].out);
        otf_fits_free_wcs(args[t].wcs);
    }
    otf_fits_free_wcs(wcs);
    otf_fits_close_image(img);
}

/* ---- regions of interest ---- */

static void test_clip_roi(void **state)
{
    struct otf_errbuf eb = {0};
    int64_t r[4];
    (void)state;

    assert_int_equal(otf_fits_clip_roi(100, 50, (int64_t[]){10, 5, 20, 15}, r, &eb), OTF_OK);
    assert_memory_equal(r, ((int64_t[]){10, 5, 20, 15}), sizeof r);
    assert_int_equal(otf_fits_clip_roi(100, 50, (int64_t[]){-10, -5, 200, 150}, r, &eb), OTF_OK);
    assert_memory_equal(r, ((int64_t[]){0, 0, 100, 50}), sizeof r);
    assert_int_equal(otf_fits_clip_roi(100, 50, (int64_t[]){99, 49, 1000, 1000}, r, &eb), OTF_OK);
    assert_memory_equal(r, ((int64_t[]){99, 49, 100, 50}), sizeof r);
    assert_int_equal(otf_fits_clip_roi(100, 50, (int64_t[]){100, 0, 110, 10}, r, &eb), OTF_E_INVAL);
    assert_non_null(strstr(eb.msg, "region outside the image"));
    assert_int_equal(otf_fits_clip_roi(100, 50, (int64_t[]){-10, 0, 0, 10}, r, &eb), OTF_E_INVAL);
    assert_int_equal(otf_fits_clip_roi(100, 50, (int64_t[]){10, 10, 10, 20}, r, &eb), OTF_E_INVAL);
    assert_non_null(strstr(eb.msg, "empty region"));
    assert_int_equal(otf_fits_clip_roi(100, 50, (int64_t[]){10, 30, 20, 20}, r, &eb), OTF_E_INVAL);
}

static void test_roi_from_sky(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    int64_t r[4], r2[4];
    double xy[2] = {80.0, 70.0}, rd[2], scale;
    (void)state;

    assert_int_equal(otf_fits_open_image(data_path(REAL_B1), NULL, &img, &eb), OTF_OK);
    assert_int_equal(otf_fits_read_wcs(img, &wcs, &eb), OTF_OK);
    scale = otf_fits_wcs_pixel_scale(wcs);
    assert_int_equal(otf_fits_pix_to_sky(wcs, 1, xy, rd, &eb), OTF_OK);

    /* 20 pixels on the sky around pixel (80, 70): x 70..90, y 60..80. */
    assert_int_equal(otf_fits_roi_from_sky(wcs, 174, 160, rd[0], rd[1], 20 * scale, r, &eb),
                     OTF_OK);
    assert_true(r[0] >= 69 && r[0] <= 70 && r[2] >= 91 && r[2] <= 92);
    assert_true(r[1] >= 59 && r[1] <= 60 && r[3] >= 81 && r[3] <= 82);
    /* The same with a negative RA. */
    assert_int_equal(
        otf_fits_roi_from_sky(wcs, 174, 160, rd[0] - 360.0, rd[1], 20 * scale, r2, &eb), OTF_OK);
    assert_memory_equal(r, r2, sizeof r);
    /* Near the corner: clipped. */
    xy[0] = 2;
    xy[1] = 3;
    assert_int_equal(otf_fits_pix_to_sky(wcs, 1, xy, rd, &eb), OTF_OK);
    assert_int_equal(otf_fits_roi_from_sky(wcs, 174, 160, rd[0], rd[1], 20 * scale, r, &eb),
                     OTF_OK);
    assert_int_equal(r[0], 0);
    assert_int_equal(r[1], 0);
    assert_true(r[2] >= 13 && r[2] <= 14);
    /* Whole image and more. */
    assert_int_equal(otf_fits_roi_from_sky(wcs, 174, 160, rd[0], rd[1], 1.0, r, &eb), OTF_OK);
    assert_memory_equal(r, ((int64_t[]){0, 0, 174, 160}), sizeof r);
    /* Outside. */
    assert_int_equal(otf_fits_roi_from_sky(wcs, 174, 160, 359.0, -29.67, 0.01, r, &eb),
                     OTF_E_INVAL);
    assert_non_null(strstr(eb.msg, "region outside the image"));
    assert_int_equal(otf_fits_roi_from_sky(wcs, 174, 160, 180.0, 30.0, 0.01, r, &eb), OTF_E_INVAL);
    assert_non_null(strstr(eb.msg, "region outside the image"));
    /* Bad numbers. */
    assert_int_equal(otf_fits_roi_from_sky(wcs, 174, 160, rd[0], 91.0, 0.01, r, &eb), OTF_E_INVAL);
    assert_int_equal(otf_fits_roi_from_sky(wcs, 174, 160, rd[0], rd[1], 0.0, r, &eb), OTF_E_INVAL);
    assert_int_equal(otf_fits_roi_from_sky(wcs, 174, 160, rd[0], rd[1], 91.0, r, &eb), OTF_E_INVAL);
    assert_int_equal(otf_fits_roi_from_sky(wcs, 174, 160, NAN, rd[1], 0.1, r, &eb), OTF_E_INVAL);
    otf_fits_free_wcs(wcs);
    otf_fits_close_image(img);
}

static void test_probe_roi(void **state)
{
    struct otf_errbuf eb = {0};
    int64_t r[4];
    const char *path = tmp_path("nowcs.fits");
    (void)state;

    assert_int_equal(otf_fits_probe_roi(data_path(REAL_B1), NULL, -0.336, -29.673, 0.005, r, &eb),
                     OTF_OK);
    assert_true(r[0] >= 0 && r[2] <= 174 && r[0] < r[2]);
    assert_true(r[1] >= 0 && r[3] <= 160 && r[1] < r[3]);
    assert_int_equal(otf_fits_probe_roi(data_path(REAL_B1), NULL, 10.0, -29.673, 0.005, r, &eb),
                     OTF_E_INVAL);
    assert_non_null(strstr(eb.msg, "region outside the image"));
    write_ramp(path, 8, 8, NULL);
    assert_int_equal(otf_fits_probe_roi(path, NULL, 10.0, 10.0, 0.1, r, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "image has no celestial WCS"));
    assert_int_equal(otf_fits_probe_roi(data_path(REAL_COMP), NULL, 10.0, 10.0, 0.1, r, &eb),
                     OTF_E_FORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_opens_concurrent),
        cmocka_unit_test(test_real_1904),
        cmocka_unit_test(test_real_b1_blank_and_wrap),
        cmocka_unit_test(test_real_lofar),
        cmocka_unit_test(test_real_table_only),
        cmocka_unit_test(test_memory_open),
        cmocka_unit_test(test_every_bitpix),
        cmocka_unit_test(test_blank_and_nan),
        cmocka_unit_test(test_degenerate_axes),
        cmocka_unit_test(test_cube),
        cmocka_unit_test(test_thin_image),
        cmocka_unit_test(test_table_only_synthetic),
        cmocka_unit_test(test_truncated_file),
        cmocka_unit_test(test_lying_headers),
        cmocka_unit_test(test_not_fits),
        cmocka_unit_test(test_tiles_at_edges),
        cmocka_unit_test(test_tile_compressed_refused),
        cmocka_unit_test(test_compressed_header_never_parsed),
        cmocka_unit_test(test_meta_aips_history),
        cmocka_unit_test(test_wcs_ncp_is_sin),
        cmocka_unit_test(test_wcs_matrix_forms),
        cmocka_unit_test(test_wcs_frames),
        cmocka_unit_test(test_wcs_projections),
        cmocka_unit_test(test_wcs_axes_and_invalid),
        cmocka_unit_test(test_wcs_dup_threads),
        cmocka_unit_test(test_clip_roi),
        cmocka_unit_test(test_roi_from_sky),
        cmocka_unit_test(test_probe_roi),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
