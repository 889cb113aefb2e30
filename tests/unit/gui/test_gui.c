/* Unit tests for the otf-gui logic: stretches and colour maps, display limits (percentiles and
 * zscale), the view transform and pyramid level choice, the pyramid and the renderer, the
 * catalogue read from a VOTable, overlay geometry, hit tests and table order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/otf-gui/gui_logic.h"
#include "otf_test.h"

/* ---- stretches, colour maps, limits ---- */

static void test_stretch_shapes(void **state)
{
    (void)state;
    for (int s = 0; s < OTF_GUI_STRETCH__COUNT; s++) {
        double prev = -1;
        assert_float_equal(otf_gui_stretch_apply(s, 0), 0, 1e-12);
        assert_float_equal(otf_gui_stretch_apply(s, 1), 1, 1e-12);
        assert_float_equal(otf_gui_stretch_apply(s, -3), 0, 1e-12);
        assert_float_equal(otf_gui_stretch_apply(s, 7), 1, 1e-12);
        for (int i = 0; i <= 1000; i++) {
            double v = otf_gui_stretch_apply(s, i / 1000.0);
            assert_true(v >= prev);
            prev = v;
        }
        assert_int_equal(otf_gui_stretch_parse(otf_gui_stretch_name(s)), s);
    }
    assert_float_equal(otf_gui_stretch_apply(OTF_GUI_STRETCH_LINEAR, 0.3), 0.3, 1e-12);
    assert_float_equal(otf_gui_stretch_apply(OTF_GUI_STRETCH_SQRT, 0.25), 0.5, 1e-12);
    assert_float_equal(otf_gui_stretch_apply(OTF_GUI_STRETCH_ASINH, 0.1), asinh(1) / asinh(10),
                       1e-12);
    /* asinh and log lift the faint end above linear */
    assert_true(otf_gui_stretch_apply(OTF_GUI_STRETCH_ASINH, 0.05) > 0.15);
    assert_true(otf_gui_stretch_apply(OTF_GUI_STRETCH_LOG, 0.05) > 0.5);
    assert_int_equal(otf_gui_stretch_parse("cubic"), -1);
    for (int l = 0; l < OTF_GUI_LIMITS__COUNT; l++)
        assert_int_equal(otf_gui_limits_parse(otf_gui_limits_name(l)), l);
    for (int c = 0; c < OTF_GUI_CMAP__COUNT; c++)
        assert_int_equal(otf_gui_cmap_parse(otf_gui_cmap_name(c)), c);
}

static struct otf_gui_lut lut; /* 16 KiB: not on the stack */

static void test_lut(void **state)
{
    (void)state;
    for (int c = 0; c < OTF_GUI_CMAP__COUNT; c++) {
        otf_gui_lut_build(&lut, 10, 20, OTF_GUI_STRETCH_LINEAR, c, 0);
        for (int i = 0; i < OTF_GUI_LUT_SIZE; i++) {
            assert_true(lut.table[i] != lut.nan); /* NaN is never a map colour */
            assert_true((lut.table[i] >> 24) == 0xff);
        }
        assert_int_equal(otf_gui_lut_map(&lut, NAN), lut.nan);
        assert_int_equal(otf_gui_lut_map(&lut, 10), lut.table[0]);
        assert_int_equal(otf_gui_lut_map(&lut, -1e30f), lut.table[0]);
        assert_int_equal(otf_gui_lut_map(&lut, 20), lut.table[OTF_GUI_LUT_SIZE - 1]);
        assert_int_equal(otf_gui_lut_map(&lut, INFINITY), lut.table[OTF_GUI_LUT_SIZE - 1]);
    }
    otf_gui_lut_build(&lut, 0, 1, OTF_GUI_STRETCH_LINEAR, OTF_GUI_CMAP_GREY, 0);
    assert_int_equal(otf_gui_lut_map(&lut, 0), 0xff000000u);
    assert_int_equal(otf_gui_lut_map(&lut, 1), 0xffffffffu);
    assert_int_equal(otf_gui_lut_map(&lut, 0.5f) & 0xff, 128);
    otf_gui_lut_build(&lut, 0, 1, OTF_GUI_STRETCH_SQRT, OTF_GUI_CMAP_GREY, 0);
    assert_int_equal(otf_gui_lut_map(&lut, 0.25f) & 0xff, 128);
    otf_gui_lut_build(&lut, 0, 1, OTF_GUI_STRETCH_LINEAR, OTF_GUI_CMAP_GREY, 1);
    assert_int_equal(otf_gui_lut_map(&lut, 0), 0xffffffffu);
    /* a flat image still gets a usable table */
    otf_gui_lut_build(&lut, 5, 5, OTF_GUI_STRETCH_LINEAR, OTF_GUI_CMAP_GREY, 0);
    assert_float_equal(lut.hi, 6, 0);
}

static uint64_t rng = 88172645463325252ull;
static double uniform(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void)
{
    return sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
}

static void test_limits(void **state)
{
    float v[1000], *big;
    double lo, hi;
    (void)state;
    for (int i = 0; i < 1000; i++)
        v[i] = (float)((i * 7919) % 1000); /* 0..999 shuffled */
    assert_int_equal(otf_gui_limits_compute(v, 1000, OTF_GUI_LIMITS_P95, &lo, &hi), 0);
    assert_float_equal(lo, 0.025 * 999, 1e-9);
    assert_float_equal(hi, 0.975 * 999, 1e-9);
    for (int i = 0; i < 1000; i++)
        v[i] = i % 3 ? (float)i : NAN;
    assert_int_equal(otf_gui_limits_compute(v, 1000, OTF_GUI_LIMITS_MINMAX, &lo, &hi), 0);
    assert_float_equal(lo, 1, 0);
    assert_float_equal(hi, 998, 0);
    for (int i = 0; i < 10; i++)
        v[i] = NAN;
    assert_int_equal(otf_gui_limits_compute(v, 10, OTF_GUI_LIMITS_ZSCALE, &lo, &hi), -1);
    for (int i = 0; i < 10; i++)
        v[i] = 3;
    assert_int_equal(otf_gui_limits_compute(v, 10, OTF_GUI_LIMITS_ZSCALE, &lo, &hi), 0);
    assert_float_equal(lo, 3, 0);
    assert_float_equal(hi, 4, 0);

    /* zscale on noise (sigma 1) with 2 % very bright sources: the limits follow the noise,
     * not the sources. astropy's ZScaleInterval on the same 1000 sorted samples gives
     * -3.951, 6.130. */
    big = malloc(20000 * sizeof(float));
    for (int i = 0; i < 20000; i++)
        big[i] = (float)(i % 50 == 0 ? 1000 + 100 * uniform() : gauss());
    assert_int_equal(otf_gui_limits_compute(big, 20000, OTF_GUI_LIMITS_ZSCALE, &lo, &hi), 0);
    assert_float_equal(lo, -3.951, 0.01);
    assert_float_equal(hi, 6.130, 0.01);
    free(big);
}

/* ---- view ---- */

static void test_view(void **state)
{
    struct otf_gui_view v = {0};
    double x, y, sx, sy;
    int64_t box[4];
    (void)state;

    otf_gui_view_fit(&v, 174, 160, 348, 320);
    assert_float_equal(v.zoom, 2, 1e-12);
    otf_gui_view_from_image(&v, 0, 0, &sx, &sy);
    assert_float_equal(sx, 1, 1e-12); /* pixel (0,0) is bottom-left, centre 1 px in */
    assert_float_equal(sy, 319, 1e-12);
    otf_gui_view_to_image(&v, 0, 320, &x, &y);
    assert_float_equal(x, -0.5, 1e-12);
    assert_float_equal(y, -0.5, 1e-12);
    assert_int_equal(otf_gui_view_visible(&v, 174, 160, box), 1);
    assert_int_equal(box[0], 0);
    assert_int_equal(box[2], 174);
    assert_int_equal(box[3], 160);

    /* zooming keeps the point under the pointer */
    otf_gui_view_to_image(&v, 100, 50, &x, &y);
    otf_gui_view_zoom_at(&v, 3.7, 100, 50);
    assert_float_equal(v.zoom, 7.4, 1e-12);
    otf_gui_view_from_image(&v, x, y, &sx, &sy);
    assert_float_equal(sx, 100, 1e-9);
    assert_float_equal(sy, 50, 1e-9);
    otf_gui_view_zoom_at(&v, 1e9, 0, 0);
    assert_float_equal(v.zoom, OTF_GUI_ZOOM_MAX, 0);

    /* a drag right and down moves the image right and down: the centre goes left and up */
    v.zoom = 2;
    v.cx = 50, v.cy = 50;
    otf_gui_view_pan(&v, 20, 10);
    assert_float_equal(v.cx, 40, 1e-12);
    assert_float_equal(v.cy, 55, 1e-12);
    v.cx = -100, v.cy = 1000;
    otf_gui_view_clamp(&v, 174, 160);
    assert_float_equal(v.cx, -0.5, 0);
    assert_float_equal(v.cy, 159.5, 0);

    v.zoom = 1;
    assert_int_equal(otf_gui_view_level(&v, 8), 0);
    v.zoom = 0.5;
    assert_int_equal(otf_gui_view_level(&v, 8), 1);
    v.zoom = 0.3;
    assert_int_equal(otf_gui_view_level(&v, 8), 1);
    v.zoom = 0.25;
    assert_int_equal(otf_gui_view_level(&v, 8), 2);
    v.zoom = 1.0 / 1024;
    assert_int_equal(otf_gui_view_level(&v, 4), 3);
    v.zoom = 4;
    assert_int_equal(otf_gui_view_level(&v, 4), 0);

    {
        int64_t roi[4];
        assert_int_equal(otf_gui_roi_from_drag(10.2, 20.7, 3.6, 5.0, 174, 160, roi), 0);
        assert_int_equal(roi[0], 4);
        assert_int_equal(roi[1], 5);
        assert_int_equal(roi[2], 11);
        assert_int_equal(roi[3], 21);
        assert_int_equal(otf_gui_roi_from_drag(-20, -20, 1000, 1000, 174, 160, roi), 0);
        assert_int_equal(roi[2], 174);
        assert_int_equal(roi[3], 160);
        assert_int_equal(otf_gui_roi_from_drag(3.1, 3.1, 3.4, 3.4, 174, 160, roi), -1);
        assert_int_equal(otf_gui_roi_from_drag(200, 0, 300, 10, 174, 160, roi), -1);
    }
}

/* ---- pyramid and renderer ---- */

struct src {
    int64_t w, h;
    const float *px;
    int64_t fail_at; /* first row whose read fails, -1 none */
    int reads;
};

static int read_rows(void *user, int64_t y0, int64_t n, float *out)
{
    struct src *s = user;
    s->reads++;
    if (s->fail_at >= 0 && y0 + n > s->fail_at)
        return -1;
    memcpy(out, s->px + y0 * s->w, (size_t)(n * s->w) * sizeof(float));
    return 0;
}

static int cancel_half(void *user, int64_t done, int64_t total)
{
    (void)user;
    return done * 2 >= total;
}

static void test_pyramid(void **state)
{
    /* 5 x 3: row y = 0 is 0..4, row 1 is 10..14 with a NaN at x = 1, row 2 is 20..24 */
    float px[15];
    struct src s = {5, 3, px, -1, 0};
    struct otf_gui_pyramid *p = NULL;
    struct otf_errbuf eb = {0};
    (void)state;
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++)
            px[y * 5 + x] = (float)(10 * y + x);
    px[5 + 1] = NAN;
    assert_int_equal(otf_gui_pyramid_build(5, 3, read_rows, &s, 1 << 20, NULL, NULL, &p, &eb),
                     OTF_OK);
    assert_int_equal(p->n_levels, 1); /* already fits in 512 x 512 */
    otf_gui_pyramid_free(p);

    {
        /* 1100 x 3 needs levels down to 1100 / 4 = 275 <= 512: levels 0, 1, 2 */
        float *wide = malloc(1100 * 3 * sizeof(float));
        struct src sw = {1100, 3, wide, -1, 0};
        for (int i = 0; i < 3300; i++)
            wide[i] = (float)(i % 1100);
        wide[1100 + 1] = NAN;
        assert_int_equal(
            otf_gui_pyramid_build(1100, 3, read_rows, &sw, 1 << 30, NULL, NULL, &p, &eb), OTF_OK);
        assert_int_equal(p->n_levels, 3);
        assert_int_equal(p->base, 0);
        assert_int_equal(p->levels[1].w, 550);
        assert_int_equal(p->levels[1].h, 2);
        /* block (0,0): 0,1,0,NaN -> mean of finite = 1/3 */
        assert_float_equal(p->levels[1].data[0], 1.0 / 3.0, 1e-6);
        assert_float_equal(p->levels[1].data[1], 2.5, 1e-6);
        /* last row of level 1 averages the single image row 2 */
        assert_float_equal(p->levels[1].data[550 + 3], 6.5, 1e-6);
        assert_true(isnan(otf_gui_pyramid_value(p, 1, 1)));
        assert_float_equal(otf_gui_pyramid_value(p, 7, 2), 7, 0);
        assert_true(isnan(otf_gui_pyramid_value(p, 1100, 0)));
        {
            float sample[100];
            size_t n = otf_gui_pyramid_sample(p, sample, 100);
            assert_int_equal(n, 100);
        }
        otf_gui_pyramid_free(p);
        p = NULL;

        /* over the memory budget: only the coarse level is held */
        assert_int_equal(otf_gui_pyramid_build(1100, 3, read_rows, &sw, 8000, NULL, NULL, &p, &eb),
                         OTF_OK);
        assert_int_equal(p->base, 1);
        assert_null(p->levels[0].data);
        assert_float_equal(otf_gui_pyramid_value(p, 2, 0), 2.5, 1e-6);
        otf_gui_pyramid_free(p);
        p = NULL;

        sw.fail_at = 2;
        assert_int_equal(
            otf_gui_pyramid_build(1100, 3, read_rows, &sw, 1 << 30, NULL, NULL, &p, &eb), OTF_E_IO);
        assert_null(p);
        free(wide);
    }
    {
        /* cancellation through the progress callback: a tall image read in several bands */
        int64_t h = 5000, w = 2000;
        float *tall = calloc((size_t)(w * h), sizeof(float));
        struct src st = {w, h, tall, -1, 0};
        assert_int_equal(otf_gui_pyramid_build(w, h, read_rows, &st, (size_t)1 << 30, cancel_half,
                                               NULL, &p, &eb),
                         OTF_E_STATE);
        assert_null(p);
        assert_true(st.reads >= 2);
        free(tall);
    }
    assert_int_equal(otf_gui_pyramid_build(0, 3, read_rows, &s, 1 << 20, NULL, NULL, &p, &eb),
                     OTF_E_INVAL);
}

static void test_render(void **state)
{
    float px[1100 * 4];
    struct src s = {1100, 4, px, -1, 0};
    struct otf_gui_pyramid *p = NULL;
    struct otf_gui_view v = {0};
    uint32_t out[8 * 4];
    (void)state;
    for (int i = 0; i < 1100 * 4; i++)
        px[i] = (float)(i % 1100) + 1000.0f * (float)(i / 1100);
    px[1100 * 3 + 2] = NAN;
    assert_int_equal(otf_gui_pyramid_build(1100, 4, read_rows, &s, 1 << 30, NULL, NULL, &p, NULL),
                     OTF_OK);
    otf_gui_lut_build(&lut, 0, 4000, OTF_GUI_STRETCH_LINEAR, OTF_GUI_CMAP_GREY, 0);

    /* zoom 1, widget 8 x 4 centred so that widget column c shows image x = c - 2 and widget
     * row r shows image y = 3 - r */
    v.w = 8, v.h = 4, v.zoom = 1;
    v.cx = 1.5, v.cy = 1.5;
    otf_gui_render(p, &v, &lut, 0xff202020u, out, 8);
    assert_int_equal(out[0], 0xff202020u); /* x = -2: outside */
    assert_int_equal(out[1], 0xff202020u);
    assert_int_equal(out[2], otf_gui_lut_map(&lut, px[1100 * 3 + 0]));
    assert_int_equal(out[4], lut.nan); /* image (2, 3) is NaN */
    assert_int_equal(out[3 * 8 + 5], otf_gui_lut_map(&lut, px[3]));

    /* zoom 1/2: from level 1, each widget pixel a 2 x 2 block mean */
    v.zoom = 0.5;
    v.cx = 7.5, v.cy = 1.5;
    otf_gui_render(p, &v, &lut, 0xff202020u, out, 8);
    /* widget (4, 2) -> image (8.5.., ...) -> level-1 pixel (4, 0): mean of x 8,9 rows 0,1 */
    assert_int_equal(out[2 * 8 + 4], otf_gui_lut_map(&lut, (8 + 9 + 1008 + 1009) / 4.0f));
    otf_gui_pyramid_free(p);
}

/* ---- catalogue ---- */

static const char votable[] =
    "<?xml version=\"1.0\"?>\n"
    "<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">"
    "<RESOURCE type=\"results\"><INFO name=\"QUERY_STATUS\" value=\"OK\"/>"
    "<TABLE><FIELD name=\"objectness\" datatype=\"float\"/>"
    "<FIELD name=\"x\" datatype=\"double\" unit=\"pixel\"/>"
    "<FIELD name=\"y\" datatype=\"double\" unit=\"pixel\"/>"
    "<FIELD name=\"width\" datatype=\"float\"/><FIELD name=\"height\" datatype=\"float\"/>"
    "<FIELD name=\"bmaj\" datatype=\"float\" unit=\"arcsec\"/>"
    "<FIELD name=\"bmin\" datatype=\"float\" unit=\"arcsec\"/>"
    "<FIELD name=\"pa\" datatype=\"float\" unit=\"deg\"/>"
    "<FIELD name=\"id\" datatype=\"long\"/>"
    "<DATA><TABLEDATA>\n"
    "<TR><TD>0.9</TD><TD>10</TD><TD>20</TD><TD>4</TD><TD>6</TD><TD>3</TD><TD>1</TD>"
    "<TD>0</TD><TD>1</TD></TR>\n"
    "<TR><TD>0.6</TD><TD>30.5</TD><TD>20</TD><TD>8</TD><TD>2</TD><TD></TD><TD/>"
    "<TD>90</TD><TD>2</TD></TR>\n"
    "<TR><TD>0.75</TD><TD> 12 </TD><TD>20</TD><TD>4</TD><TD>4</TD><TD>nan</TD><TD>x</TD>"
    "<TD>45</TD><TD>3</TD></TR>\n"
    "</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>\n";

static struct otf_gui_catalog *load(void)
{
    struct otf_gui_catalog *cat = NULL;
    struct otf_errbuf eb = {0};
    assert_int_equal(otf_gui_catalog_parse_votable(votable, strlen(votable), &cat, &eb), OTF_OK);
    return cat;
}

static void test_catalog_read(void **state)
{
    struct otf_gui_catalog *cat = load(), *bad = NULL;
    struct otf_errbuf eb = {0};
    char *doc;
    (void)state;
    assert_int_equal(cat->n_rows, 3);
    assert_int_equal(cat->n_cols, 9);
    assert_int_equal(cat->role[OTF_GUI_ROLE_OBJECTNESS], 0);
    assert_int_equal(cat->role[OTF_GUI_ROLE_ID], 8);
    assert_int_equal(cat->role[OTF_GUI_ROLE_RA], -1);
    assert_string_equal(cat->cols[1].unit, "pixel");
    assert_string_equal(cat->cols[8].datatype, "long");
    assert_float_equal(otf_gui_catalog_get(cat, 1, OTF_GUI_ROLE_X), 30.5, 0);
    assert_float_equal(otf_gui_catalog_get(cat, 2, OTF_GUI_ROLE_X), 12, 0);
    assert_true(isnan(otf_gui_catalog_get(cat, 1, OTF_GUI_ROLE_BMAJ))); /* empty = null */
    assert_true(isnan(otf_gui_catalog_get(cat, 1, OTF_GUI_ROLE_BMIN)));
    assert_true(isnan(otf_gui_catalog_get(cat, 2, OTF_GUI_ROLE_BMIN))); /* not a number */
    assert_true(isnan(otf_gui_catalog_get(cat, 0, OTF_GUI_ROLE_RA)));
    otf_gui_catalog_free(cat);

    /* a row with a missing cell */
    doc = otf_xstrdup(votable);
    memcpy(strstr(doc, "<TD>1</TD></TR>"), "<!---->  ", 9);
    assert_int_equal(otf_gui_catalog_parse_votable(doc, strlen(doc), &bad, &eb), OTF_E_FORMAT);
    assert_non_null(strstr(eb.msg, "row 1"));
    assert_null(bad);
    free(doc);
    assert_int_equal(otf_gui_catalog_parse_votable("<a/>", 4, &bad, &eb), OTF_E_FORMAT);
    assert_int_equal(otf_gui_catalog_parse_votable("<VOTABLE", 8, &bad, &eb), OTF_E_FORMAT);
    {
        static const char bin[] = "<VOTABLE><RESOURCE><TABLE><FIELD name=\"x\" datatype=\"int\"/>"
                                  "<DATA><BINARY2><STREAM encoding=\"base64\">AAAA</STREAM>"
                                  "</BINARY2></DATA></TABLE></RESOURCE></VOTABLE>";
        assert_int_equal(otf_gui_catalog_parse_votable(bin, strlen(bin), &bad, &eb), OTF_E_FORMAT);
        assert_non_null(strstr(eb.msg, "BINARY2"));
    }
    assert_int_equal(otf_gui_catalog_read_votable("/nonexistent/c.vot", &bad, &eb), OTF_E_IO);
}

static void test_overlay_geometry(void **state)
{
    struct otf_gui_catalog *cat = load();
    struct otf_gui_shape s;
    double north[3] = {M_PI / 2, M_PI / 2, M_PI / 2}, east[3] = {M_PI, M_PI, 0};
    (void)state;

    /* without a pixel scale every row is its box */
    assert_int_equal(otf_gui_catalog_shape(cat, 0, &s), 0);
    assert_int_equal(s.is_ellipse, 0);
    assert_float_equal(s.cx, 10, 0);
    assert_float_equal(s.a, 2, 0);
    assert_float_equal(s.b, 3, 0);

    /* PA east of north -> image angle, both parities */
    assert_float_equal(otf_gui_pa_to_image_angle(0, M_PI / 2, M_PI), M_PI / 2, 1e-12);
    assert_float_equal(otf_gui_pa_to_image_angle(90, M_PI / 2, M_PI), M_PI, 1e-12);
    assert_float_equal(otf_gui_pa_to_image_angle(90, M_PI / 2, 0), 0, 1e-12);
    assert_float_equal(otf_gui_pa_to_image_angle(45, M_PI / 2, M_PI), 3 * M_PI / 4, 1e-12);

    otf_gui_catalog_set_sky(cat, 0.5, north, east);
    assert_int_equal(otf_gui_catalog_shape(cat, 0, &s), 0);
    assert_int_equal(s.is_ellipse, 1);
    assert_float_equal(s.a, 3.0, 1e-12); /* 3" FWHM at 0.5"/px: semi-axis 3 px */
    assert_float_equal(s.b, 1.0, 1e-12);
    assert_float_equal(s.angle, M_PI / 2, 1e-12); /* PA 0: along north */
    /* row 1 has no bmaj: its box */
    assert_int_equal(otf_gui_catalog_shape(cat, 1, &s), 0);
    assert_int_equal(s.is_ellipse, 0);
    assert_float_equal(s.a, 4, 0);
    assert_float_equal(s.b, 1, 0);
    otf_gui_catalog_free(cat);
}

static void test_selection(void **state)
{
    struct otf_gui_catalog *cat = load();
    struct otf_gui_view v = {0};
    double sx, sy;
    (void)state;
    v.w = 200, v.h = 100, v.zoom = 4, v.cx = 20, v.cy = 20;

    /* image -> table: a click on source 1 (x 30.5, box 8 x 2) */
    otf_gui_view_from_image(&v, 33, 20.5, &sx, &sy);
    assert_int_equal(otf_gui_catalog_hit(cat, &v, sx, sy, 0, 3), 1);
    /* the same point with source 1 filtered out by objectness */
    assert_int_equal(otf_gui_catalog_hit(cat, &v, sx, sy, 0.7, 3), -1);
    /* sources 0 (x 10, box 4 x 6) and 2 (x 12, box 4 x 4) overlap at x 11: nearest centre */
    otf_gui_view_from_image(&v, 11.2, 20, &sx, &sy);
    assert_int_equal(otf_gui_catalog_hit(cat, &v, sx, sy, 0, 3), 2);
    otf_gui_view_from_image(&v, 10.8, 21, &sx, &sy);
    assert_int_equal(otf_gui_catalog_hit(cat, &v, sx, sy, 0, 3), 0);
    /* empty sky; but within the slop of a small source's centre */
    otf_gui_view_from_image(&v, 20, 30, &sx, &sy);
    assert_int_equal(otf_gui_catalog_hit(cat, &v, sx, sy, 0, 3), -1);
    otf_gui_view_from_image(&v, 30.5, 21.8, &sx, &sy);
    assert_int_equal(otf_gui_catalog_hit(cat, &v, sx, sy, 0, 3), -1);
    assert_int_equal(otf_gui_catalog_hit(cat, &v, sx, sy, 0, 8), 1);

    /* table -> image: the row is centred and the view zooms in to at least min_zoom */
    v.zoom = 0.5;
    assert_int_equal(otf_gui_view_center_on(&v, cat, 1, 2), 0);
    assert_float_equal(v.cx, 30.5, 0);
    assert_float_equal(v.cy, 20, 0);
    assert_float_equal(v.zoom, 2, 0);
    otf_gui_view_from_image(&v, 30.5, 20, &sx, &sy);
    assert_int_equal(otf_gui_catalog_hit(cat, &v, sx, sy, 0, 3), 1); /* round trip */

    /* visibility filter */
    assert_true(otf_gui_catalog_visible(cat, 1, 0.6));
    assert_false(otf_gui_catalog_visible(cat, 1, 0.61));

    /* table order: objectness ascending is rows 1, 2, 0; NaN sorts last; ties by row */
    assert_true(otf_gui_catalog_compare(cat, 0, 1, 2) < 0);
    assert_true(otf_gui_catalog_compare(cat, 0, 0, 2) > 0);
    assert_true(otf_gui_catalog_compare(cat, 5, 1, 0) > 0); /* bmaj NaN after 3 */
    assert_true(otf_gui_catalog_compare(cat, 5, 1, 2) < 0); /* NaN vs NaN: by row */
    assert_true(otf_gui_catalog_compare(cat, 2, 0, 1) < 0); /* equal y: by row */
    assert_int_equal(otf_gui_catalog_compare(cat, 2, 1, 1), 0);
    otf_gui_catalog_free(cat);

    assert_int_equal(otf_gui_obj_colour(0.5, 0.5), 0xff0020u);
    assert_int_equal(otf_gui_obj_colour(1.0, 0.5), 0x00ff20u);
    assert_int_equal(otf_gui_obj_colour(0.75, 0.5), 0xffff20u);
}

static void test_format_sky(void **state)
{
    char s[32];
    (void)state;
    otf_gui_format_ra(0, s, sizeof s);
    assert_string_equal(s, "00:00:00.00");
    otf_gui_format_ra(359.66615807, s, sizeof s);
    assert_string_equal(s, "23:58:39.88");
    otf_gui_format_ra(359.9999999, s, sizeof s);
    assert_string_equal(s, "00:00:00.00");
    otf_gui_format_ra(-15, s, sizeof s);
    assert_string_equal(s, "23:00:00.00");
    otf_gui_format_dec(-29.68581001, s, sizeof s);
    assert_string_equal(s, "-29:41:08.9");
    otf_gui_format_dec(-0.5, s, sizeof s);
    assert_string_equal(s, "-00:30:00.0");
    otf_gui_format_dec(89.99999999, s, sizeof s);
    assert_string_equal(s, "+90:00:00.0");
    otf_gui_format_dec(NAN, s, sizeof s);
    assert_string_equal(s, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stretch_shapes), cmocka_unit_test(test_lut),
        cmocka_unit_test(test_limits),         cmocka_unit_test(test_view),
        cmocka_unit_test(test_pyramid),        cmocka_unit_test(test_render),
        cmocka_unit_test(test_catalog_read),   cmocka_unit_test(test_overlay_geometry),
        cmocka_unit_test(test_selection),      cmocka_unit_test(test_format_sky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
