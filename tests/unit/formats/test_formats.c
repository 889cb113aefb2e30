/* Unit tests for formats: VOTable (TABLEDATA and BINARY2) against golden files and the VOTable
 * 1.4 schema, the BINARY2 stream decoded back, DS9 regions and PROV-JSON/PROV-N against golden
 * files, the PNG preview read back with libpng, and the atomic output file.
 * OTF_UPDATE_GOLDEN=1 rewrites the golden files from the current output. */
#include <fcntl.h>
#include <fitsio.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats.h"
#include "otf_test.h"

#define T0 INT64_C(1740830400123000) /* 2025-03-01T12:00:00.123Z */

/* A hand-made catalogue: 3 rows in FK5, columns flux, bmaj, bmin, pa; row 3 has no flux. */
static struct otf_detect_catalog *make_cat(void)
{
    struct otf_detect_catalog *c = otf_xcalloc(1, sizeof(*c));
    static const char *names[4] = {"flux", "bmaj", "bmin", "pa"};
    static const char *units[4] = {"Jy", "arcsec", "arcsec", "deg"};
    const float vals[3][4] = {
        {1.5e-4f, 3.0f, 2.0f, 45.0f}, {2.5e-5f, 1.2f, 1.2f, -30.0f}, {NAN, 6.0f, 1.5f, 89.5f}};

    c->n = 3;
    c->rows = otf_xcalloc(3, sizeof(*c->rows));
    c->n_cols = 4;
    for (int i = 0; i < 4; i++) {
        snprintf(c->cols[i].name, sizeof(c->cols[i].name), "%s", names[i]);
        snprintf(c->cols[i].unit, sizeof(c->cols[i].unit), "%s", units[i]);
        c->cols[i].kind = i == 3 ? OTF_DETECT_COL_PA : OTF_DETECT_COL_VALUE;
    }
    c->values = otf_xcalloc(12, sizeof(float));
    for (int r = 0; r < 3; r++) {
        struct otf_detection *d = &c->rows[r];
        d->id = r + 1;
        d->x = 10.25 + 40 * r;
        d->y = 20.5 + 10 * r;
        d->lon = r == 1 ? 0.0012345 : 359.9876543 - r;
        d->lat = -29.5 - 0.01 * r;
        d->width = 6.0f + (float)r;
        d->height = 5.0f;
        d->objectness = 0.9f - 0.2f * (float)r;
        d->probability = 0.75f;
        d->detector = r;
        d->class_id = -1;
        d->patch = 4;
        d->pa_image_deg = vals[r][3];
        d->yaxis_pa_deg = 0.0f;
        memcpy(c->values + 4 * r, vals[r], sizeof(vals[r]));
    }
    c->has_sky = 1;
    snprintf(c->frame, sizeof(c->frame), "FK5");
    c->equinox = 2000.0;
    c->pixel_scale_deg = 0.6 / 3600.0;
    c->geometry.img_w = 174;
    c->geometry.img_h = 160;
    c->geometry.roi[2] = 174;
    c->geometry.roi[3] = 160;
    c->geometry.nx = 5;
    c->geometry.ny = 5;
    c->norm_lo = 4e-7;
    c->norm_hi = 4e-5;
    return c;
}

static const struct otf_formats_kv kv[2] = {{"obj_threshold", "0.5,0.5,0.6"},
                                            {"nms_second", "-0.15"}};
static struct otf_detect_timings timings = {1000, 2000, 300, 4000000, 5000, 6000, 4100000, 25, 7};

static void make_info(struct otf_formats_run_info *info, struct otf_fits_meta *meta)
{
    memset(info, 0, sizeof(*info));
    memset(meta, 0, sizeof(*meta));
    snprintf(meta->date_obs, sizeof(meta->date_obs), "2019-03-01T00:00:00");
    info->job_id = "a1b2c3";
    info->owner = "alice";
    info->batch_id = "b42";
    info->model_id = "tiny";
    info->model_sha256 = "429572bec2d5a9f868dd33330b2015ec8e45365e6250768bca2599dfc6e26f23";
    info->input_name = "B1 & <test>.fits";
    info->input_sha256 = "70937c3e0c9ca820fecc25ade704a0667400c86fd420622241dbea828bb82259";
    info->hdu = "0";
    info->backend = "reference";
    info->precision = "fp32";
    info->software = "otf 0.1.0";
    info->start_us = T0;
    info->end_us = T0 + 4100000;
    info->timings = &timings;
    info->meta = meta;
    info->params = kv;
    info->n_params = 2;
}

typedef enum otf_status (*write_fn)(FILE *f, const struct otf_detect_catalog *cat,
                                    const struct otf_formats_run_info *info, int variant);

static char *render(write_fn fn, const struct otf_detect_catalog *cat,
                    const struct otf_formats_run_info *info, int variant, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    assert_int_equal(fn(f, cat, info, variant), OTF_OK);
    fclose(f);
    return buf;
}

static enum otf_status w_vot(FILE *f, const struct otf_detect_catalog *cat,
                             const struct otf_formats_run_info *info, int variant)
{
    return otf_formats_write_votable(f, cat, info, (enum otf_formats_encoding)variant, NULL);
}

static enum otf_status w_ds9(FILE *f, const struct otf_detect_catalog *cat,
                             const struct otf_formats_run_info *info, int variant)
{
    (void)variant;
    return otf_formats_write_ds9(f, cat, info, NULL);
}

static enum otf_status w_prov(FILE *f, const struct otf_detect_catalog *cat,
                              const struct otf_formats_run_info *info, int variant)
{
    return variant ? otf_formats_write_prov_n(f, cat, info, NULL)
                   : otf_formats_write_prov_json(f, cat, info, NULL);
}

/* Compares with tests/golden/formats/<name>, or rewrites it under OTF_UPDATE_GOLDEN=1. */
static void golden(const char *name, const char *doc, size_t len)
{
    char *path = otf_xasprintf("%s/tests/golden/formats/%s",
                               getenv("OTF_SOURCE_DIR") ? getenv("OTF_SOURCE_DIR") : ".", name);
    char *want = NULL;
    size_t wlen = 0;

    if (getenv("OTF_UPDATE_GOLDEN")) {
        assert_int_equal(otf_fs_write_atomic(path, doc, len, NULL), OTF_OK);
    } else {
        assert_int_equal(otf_fs_read_file(path, 1 << 24, &want, &wlen, NULL), OTF_OK);
        if (wlen != len || memcmp(want, doc, len) != 0) {
            fprintf(stderr, "golden mismatch for %s; got:\n%.*s\n", name, (int)len, doc);
            fail();
        }
    }
    free(want);
    free(path);
}

static int validate_votable(const char *doc, size_t len)
{
    char *xsd = otf_xasprintf("%s/xsd/VOTable-v1.4.xsd", OTF_TEST_DATA_DIR);
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(xsd);
    xmlSchemaPtr schema = xmlSchemaParse(pc);
    xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
    xmlDocPtr d = xmlReadMemory(doc, (int)len, "catalogue.vot", NULL, XML_PARSE_NONET);
    int rc = d && schema ? xmlSchemaValidateDoc(vc, d) : -1;
    xmlFreeDoc(d);
    xmlSchemaFreeValidCtxt(vc);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pc);
    free(xsd);
    return rc;
}

static void test_votable_tabledata(void **state)
{
    struct otf_detect_catalog *cat = make_cat();
    struct otf_formats_run_info info;
    struct otf_fits_meta meta;
    size_t len;
    char *doc;
    (void)state;
    make_info(&info, &meta);
    doc = render(w_vot, cat, &info, OTF_FORMATS_TABLEDATA, &len);
    assert_int_equal(validate_votable(doc, len), 0);
    golden("catalogue_tabledata.vot", doc, len);
    /* what DESIGN §10 requires, independently of the golden file */
    assert_non_null(strstr(doc, "<INFO name=\"QUERY_STATUS\" value=\"OK\"/>"));
    assert_non_null(strstr(doc, "system=\"eq_FK5\" equinox=\"J2000\" epoch=\"J2019.1608\""));
    assert_non_null(strstr(doc, "ucd=\"pos.eq.ra;meta.main\" ref=\"sky_frame\""));
    assert_non_null(strstr(doc, "name=\"flux\" ID=\"flux\" datatype=\"float\" unit=\"Jy\""));
    assert_non_null(strstr(doc, "B1 &amp; &lt;test&gt;.fits"));
    assert_non_null(strstr(doc, "<TD>359.98765430</TD>"));
    assert_non_null(strstr(doc, "<TD>0.00123450</TD>")); /* RA just past 0 stays positive */
    assert_non_null(strstr(doc, "<TD></TD>"));           /* NaN flux -> null */
    free(doc);

    /* an empty catalogue and one without WCS are valid too */
    cat->n = 0;
    doc = render(w_vot, cat, &info, OTF_FORMATS_TABLEDATA, &len);
    assert_int_equal(validate_votable(doc, len), 0);
    assert_non_null(strstr(doc, "nrows=\"0\""));
    free(doc);
    cat->n = 3;
    cat->has_sky = 0;
    cat->frame[0] = '\0';
    doc = render(w_vot, cat, &info, OTF_FORMATS_BINARY2, &len);
    assert_int_equal(validate_votable(doc, len), 0);
    assert_null(strstr(doc, "COOSYS"));
    assert_null(strstr(doc, "name=\"ra\""));
    free(doc);
    otf_detect_catalog_free(cat);
}

static int b64val(int c)
{
    const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(t, c);
    return c && p ? (int)(p - t) : -1;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void test_votable_binary2(void **state)
{
    struct otf_detect_catalog *cat = make_cat();
    struct otf_formats_run_info info;
    struct otf_fits_meta meta;
    unsigned char raw[1024];
    size_t len, n = 0;
    uint32_t acc = 0;
    int bits = 0;
    char *doc, *s;
    (void)state;
    make_info(&info, &meta);
    doc = render(w_vot, cat, &info, OTF_FORMATS_BINARY2, &len);
    assert_int_equal(validate_votable(doc, len), 0);
    golden("catalogue_binary2.vot", doc, len);
    /* decode the stream: fields id(8) ra(8) dec(8) x(8) y(8) width(4) height(4) obj(4) prob(4)
     * flux bmaj bmin pa (4 each) detector(2): 2 mask bytes + 74 bytes per row */
    s = strstr(doc, "<STREAM encoding=\"base64\">");
    assert_non_null(s);
    for (s += 26; *s && *s != '<'; s++) {
        int v = b64val(*s);
        if (v < 0)
            continue;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[n++] = (unsigned char)(acc >> bits);
        }
    }
    assert_int_equal(n, 3 * 76);
    const unsigned char *r0 = raw, *r2 = raw + 152;
    assert_int_equal(r0[0], 0);
    assert_int_equal(r0[1], 0);
    assert_int_equal(be(r0 + 2, 8), 1); /* id */
    uint64_t u = be(r0 + 10, 8);
    double ra;
    memcpy(&ra, &u, 8);
    assert_float_equal(ra, 359.9876543, 1e-12);
    uint32_t fu = (uint32_t)be(r0 + 2 + 40 + 16, 4);
    float flux;
    memcpy(&flux, &fu, 4);
    assert_float_equal(flux, 1.5e-4, 1e-10);
    assert_int_equal(be(r0 + 2 + 40 + 32, 2), 0); /* detector */
    /* row 3: flux (field 10, 0-based 9) null -> bit 0x40 of the second mask byte */
    assert_int_equal(r2[0], 0);
    assert_int_equal(r2[1], 0x40);
    assert_int_equal(be(r2 + 2 + 40 + 32, 2), 2);
    free(doc);
    otf_detect_catalog_free(cat);
}

static void test_ds9(void **state)
{
    struct otf_detect_catalog *cat = make_cat();
    struct otf_formats_run_info info;
    struct otf_fits_meta meta;
    size_t len;
    char *doc;
    (void)state;
    make_info(&info, &meta);
    doc = render(w_ds9, cat, &info, 0, &len);
    golden("regions.reg", doc, len);
    assert_non_null(strstr(doc, "# Region file format: DS9 version 4.1\n"));
    assert_non_null(strstr(doc, "\nfk5\n"));
    /* semi-axes = FWHM / 2, angle = PA + 90 */
    assert_non_null(strstr(doc, "ellipse(359.9876543,-29.5000000,1.5000\",1.0000\",135.000)"));
    assert_non_null(strstr(doc, "ellipse(0.0012345,-29.5100000,0.6000\",0.6000\",60.000)"));
    free(doc);
    /* no WCS: 1-based image pixels, sizes in pixels */
    cat->has_sky = 0;
    cat->frame[0] = '\0';
    doc = render(w_ds9, cat, &info, 0, &len);
    assert_non_null(strstr(doc, "\nimage\n"));
    assert_non_null(strstr(doc, "ellipse(11.250,21.500,2.500,1.667,135.000)"));
    free(doc);
    /* no shape parameters: boxes */
    cat->n_cols = 0;
    doc = render(w_ds9, cat, &info, 0, &len);
    assert_non_null(strstr(doc, "box(11.250,21.500,6.000,5.000,0) # text={1}\n"));
    free(doc);
    /* a detection cut by the image edge (border = partial) */
    cat->rows[0].is_partial = 1;
    doc = render(w_ds9, cat, &info, 0, &len);
    assert_non_null(strstr(doc, "box(11.250,21.500,6.000,5.000,0) # text={1} color=yellow\n"));
    free(doc);
    otf_detect_catalog_free(cat);
}

static void test_prov(void **state)
{
    struct otf_detect_catalog *cat = make_cat();
    struct otf_formats_run_info info;
    struct otf_fits_meta meta;
    json_error_t jerr;
    size_t len;
    char *doc;
    (void)state;
    make_info(&info, &meta);
    doc = render(w_prov, cat, &info, 0, &len);
    golden("provenance.json", doc, len);
    json_t *j = json_loadb(doc, len, 0, &jerr);
    assert_non_null(j);
    assert_non_null(json_object_get(json_object_get(j, "activity"), "otf:a1b2c3"));
    assert_non_null(json_object_get(json_object_get(j, "entity"), "otf:a1b2c3_image"));
    assert_non_null(json_object_get(json_object_get(j, "entity"), "otf:a1b2c3_catalogue"));
    assert_non_null(json_object_get(json_object_get(j, "entity"), "otf:model_tiny"));
    assert_non_null(json_object_get(json_object_get(j, "agent"), "otf:owner_alice"));
    json_t *u1 = json_object_get(json_object_get(j, "used"), "_:u1");
    assert_string_equal(json_string_value(json_object_get(u1, "prov:role")), "image");
    json_t *act = json_object_get(json_object_get(j, "activity"), "otf:a1b2c3");
    assert_string_equal(json_string_value(json_object_get(act, "prov:startTime")),
                        "2025-03-01T12:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(act, "otf:param_nms_second")), "-0.15");
    json_decref(j);
    free(doc);
    doc = render(w_prov, cat, &info, 1, &len);
    golden("provenance.provn", doc, len);
    assert_non_null(strstr(doc, "activity(otf:a1b2c3, 2025-03-01T12:00:00.123Z, "
                                "2025-03-01T12:00:04.223Z"));
    assert_non_null(strstr(doc, "prov:location=\"B1 & <test>.fits\""));
    free(doc);
    otf_detect_catalog_free(cat);
}

/* ---- PNG ---- */

static char *make_fits_kind(int64_t w, int64_t h, int noise);

static char *make_fits(int64_t w, int64_t h)
{
    return make_fits_kind(w, h, 0);
}

/* noise = 0: a ten-level texture with a bright block at the top left; 1: white noise. */
static char *make_fits_kind(int64_t w, int64_t h, int noise)
{
    uint64_t x64 = 88172645463325252ULL;
    char *path = otf_xasprintf("/tmp/otf_test_formats_%d.fits", (int)getpid());
    fitsfile *f = NULL;
    int st = 0;
    long naxes[2] = {(long)w, (long)h};
    float *row = otf_xmalloc((size_t)w * sizeof(float));

    unlink(path);
    fits_create_file(&f, path, &st);
    fits_create_img(f, FLOAT_IMG, 2, naxes, &st);
    for (int64_t y = 0; y < h && st == 0; y++) {
        long fpix[2] = {1, (long)y + 1};
        for (int64_t x = 0; x < w; x++) { /* texture, a bright block at the top left */
            x64 ^= x64 << 13, x64 ^= x64 >> 7, x64 ^= x64 << 17;
            row[x] = noise                     ? (float)(x64 >> 40) / 16777216.0f
                     : (x < 30 && y >= h - 30) ? 100.0f
                                               : (float)((x * 7 + y * 13) % 10);
        }
        if (y == 0) { /* blank pixels: at the end of a row, and where 16 go at once */
            row[w - 1] = NAN;
            if (w > 16) {
                row[5] = NAN;
                row[6] = INFINITY;
                row[7] = -INFINITY;
            }
        }
        fits_write_pix(f, TFLOAT, fpix, (LONGLONG)w, row, &st);
    }
    fits_close_file(f, &st);
    free(row);
    assert_int_equal(st, 0);
    return path;
}

static unsigned char *read_png(const char *path, unsigned *w, unsigned *h)
{
    png_image im;
    unsigned char *buf;
    memset(&im, 0, sizeof(im));
    im.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&im, path));
    im.format = PNG_FORMAT_RGB;
    buf = otf_xmalloc(PNG_IMAGE_SIZE(im));
    assert_true(png_image_finish_read(&im, NULL, buf, 0, NULL));
    *w = im.width;
    *h = im.height;
    return buf;
}

/* The file at `path`, whole (freed by the caller). */
static char *slurp(const char *path, size_t *len)
{
    char *d = NULL;
    assert_int_equal(otf_fs_read_file(path, 1 << 26, &d, len, NULL), OTF_OK);
    return d;
}

/* A preview built from rows handed in, `chunk` at a time, is the PNG that otf_formats_write_png
 * makes from the image, byte for byte; rows out of order leave it incomplete for good. */
static void check_preview_from_rows(struct otf_fits_image *img,
                                    const struct otf_detect_catalog *cat,
                                    const struct otf_formats_png_params *p, int64_t chunk,
                                    const char *out)
{
    struct otf_formats_preview *pv = NULL;
    struct otf_formats_file of;
    struct otf_errbuf eb = {0};
    int64_t w, h;
    char *want, *got;
    size_t wlen, glen;
    float *rows;

    otf_fits_image_size(img, &w, &h);
    rows = otf_xmalloc((size_t)(chunk * w) * sizeof(float));
    assert_int_equal(otf_formats_file_open(&of, out, NULL), OTF_OK);
    assert_int_equal(otf_formats_write_png(of.f, img, cat, p, NULL), OTF_OK);
    assert_int_equal(otf_formats_file_commit(&of, NULL), OTF_OK);
    want = slurp(out, &wlen);
    assert_int_equal(otf_formats_preview_new(w, h, p, &pv, NULL), OTF_OK);
    for (int64_t y = 0; y < h; y += chunk) {
        int64_t n = h - y < chunk ? h - y : chunk;
        assert_false(otf_formats_preview_complete(pv));
        assert_int_equal(otf_fits_read_tile(img, 0, y, w, n, rows, NULL), OTF_OK);
        assert_int_equal(otf_formats_preview_add_rows(pv, y, n, rows), 0);
    }
    assert_true(otf_formats_preview_complete(pv));
    assert_int_equal(otf_formats_file_open(&of, out, NULL), OTF_OK);
    assert_int_equal(otf_formats_write_preview(of.f, pv, cat, NULL), OTF_OK);
    assert_int_equal(otf_formats_file_commit(&of, NULL), OTF_OK);
    got = slurp(out, &glen);
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
    assert_int_equal(otf_formats_preview_add_rows(pv, h - 1, 1, rows), -1); /* past the end */
    assert_false(otf_formats_preview_complete(pv));
    otf_formats_preview_free(pv);
    /* a row skipped: incomplete, and writing says so */
    assert_int_equal(otf_formats_preview_new(w, h, p, &pv, NULL), OTF_OK);
    assert_int_equal(otf_fits_read_tile(img, 0, 0, w, 1, rows, NULL), OTF_OK);
    assert_int_equal(otf_formats_preview_add_rows(pv, 1, 1, rows), -1);
    assert_int_equal(otf_formats_preview_add_rows(pv, 0, 1, rows), -1); /* broken for good */
    assert_int_equal(otf_formats_write_preview(stdout, pv, cat, &eb), OTF_E_STATE);
    assert_non_null(strstr(eb.msg, "incomplete"));
    otf_formats_preview_free(pv);
    free(want);
    free(got);
    free(rows);
}

static void test_png(void **state)
{
    char *path = make_fits(300, 200);
    char *out = otf_xasprintf("/tmp/otf_test_formats_%d.png", (int)getpid());
    struct otf_fits_image *img = NULL;
    struct otf_detect_catalog *cat = make_cat();
    struct otf_formats_png_params p;
    struct otf_formats_file of;
    unsigned w, h;
    unsigned char *px;
    (void)state;
    assert_int_equal(otf_fits_open_image(path, NULL, &img, NULL), OTF_OK);
    otf_formats_png_params_init(&p);
    p.max_side = 100; /* factor 3: 100 x 67 */
    cat->n_cols = 0;  /* boxes */
    cat->n = 1;
    cat->rows[0].x = 149;
    cat->rows[0].y = 98;
    cat->rows[0].width = 30;
    cat->rows[0].height = 30;
    cat->geometry.img_w = 300;
    cat->geometry.img_h = 200;
    cat->geometry.roi[2] = 300;
    cat->geometry.roi[3] = 200;
    assert_int_equal(otf_formats_file_open(&of, out, NULL), OTF_OK);
    assert_int_equal(otf_formats_write_png(of.f, img, cat, &p, NULL), OTF_OK);
    assert_int_equal(otf_formats_file_commit(&of, NULL), OTF_OK);
    px = read_png(out, &w, &h);
    assert_int_equal(w, 100);
    assert_int_equal(h, 67);
    /* the bright block (FITS top left, y high) is at the PNG's top left: north up */
    assert_int_equal(px[(2 * w + 2) * 3], 255);
    assert_int_equal(px[2 * 3], 255); /* the top row: the last block row, 2 image rows */
    assert_true(px[((h - 3) * w + 2) * 3] < 255);
    /* box centre (149, 98) -> reduced (49.5, 32.5); half size 5: left edge column 44/45 */
    int found = 0;
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 40; x < 50; x++) {
            unsigned char *c = px + (y * w + x) * 3;
            if (c[0] == 0 && c[1] == 255 && c[2] == 0)
                found = 1;
        }
    assert_true(found);
    free(px);
    /* asinh stretch and an out-of-range size */
    p.stretch = OTF_FORMATS_STRETCH_ASINH;
    assert_int_equal(otf_formats_file_open(&of, out, NULL), OTF_OK);
    assert_int_equal(otf_formats_write_png(of.f, img, NULL, &p, NULL), OTF_OK);
    assert_int_equal(otf_formats_file_commit(&of, NULL), OTF_OK);
    px = read_png(out, &w, &h);
    assert_int_equal(px[(2 * w + 2) * 3], 255);
    free(px);
    /* full resolution (no averaging): bright block white, the NaN pixel (FITS x 299, y 0 = PNG
     * bottom right) in the blank colour, the texture in greys */
    p.max_side = 300;
    p.stretch = OTF_FORMATS_STRETCH_ZSCALE;
    assert_int_equal(otf_formats_file_open(&of, out, NULL), OTF_OK);
    assert_int_equal(otf_formats_write_png(of.f, img, NULL, &p, NULL), OTF_OK);
    assert_int_equal(otf_formats_file_commit(&of, NULL), OTF_OK);
    px = read_png(out, &w, &h);
    assert_int_equal(w, 300);
    assert_int_equal(h, 200);
    {
        /* ten grey levels: Huffman-coded, well under a byte per pixel */
        struct stat sb;
        assert_int_equal(stat(out, &sb), 0);
        assert_true(sb.st_size < 300 * 200 / 2);
    }
    assert_int_equal(px[(5 * w + 5) * 3], 255);
    {
        unsigned char *tex = px + ((size_t)100 * w + 150) * 3;
        const unsigned blank_x[] = {5, 6, 7, w - 1};
        for (int k = 0; k < 4; k++) {
            unsigned char *nan = px + ((size_t)(h - 1) * w + blank_x[k]) * 3;
            assert_true(nan[0] == 24 && nan[1] == 24 && nan[2] == 64);
        }
        assert_true(px[((size_t)(h - 1) * w + 4) * 3 + 2] != 64); /* its neighbour is grey */
        assert_true(tex[0] == tex[1] && tex[1] == tex[2]);
    }
    free(px);
    /* from rows: full resolution, and averaged by 3 (a last block row of 2) and by 16 */
    check_preview_from_rows(img, cat, &p, 7, out);
    p.max_side = 100;
    check_preview_from_rows(img, cat, &p, 1, out);
    check_preview_from_rows(img, cat, &p, 64, out);
    p.max_side = 19;
    check_preview_from_rows(img, NULL, &p, 5, out);
    p.max_side = 8;
    assert_int_equal(otf_formats_write_png(stdout, img, NULL, &p, NULL), OTF_E_LIMIT);
    {
        struct otf_formats_preview *pv = NULL;
        assert_int_equal(otf_formats_preview_new(300, 200, &p, &pv, NULL), OTF_E_LIMIT);
        p.max_side = 100;
        assert_int_equal(otf_formats_preview_new(0, 200, &p, &pv, NULL), OTF_E_INVAL);
        assert_null(pv);
    }
    otf_fits_close_image(img);
    unlink(path);
    free(path);
    /* white noise: nothing for Huffman coding to gain, stored (a byte per pixel and a little);
     * every grey level still decodes, in the order of the values */
    path = make_fits_kind(256, 256, 1);
    assert_int_equal(otf_fits_open_image(path, NULL, &img, NULL), OTF_OK);
    p.max_side = 256;
    assert_int_equal(otf_formats_file_open(&of, out, NULL), OTF_OK);
    assert_int_equal(otf_formats_write_png(of.f, img, NULL, &p, NULL), OTF_OK);
    assert_int_equal(otf_formats_file_commit(&of, NULL), OTF_OK);
    {
        struct stat sb;
        float *v = otf_xmalloc(256 * 256 * sizeof(float));
        int64_t lo = 0, hi = 0;
        assert_int_equal(stat(out, &sb), 0);
        assert_true(sb.st_size >= 256 * 256 && sb.st_size < 256 * 256 + 2048);
        px = read_png(out, &w, &h);
        assert_int_equal(otf_fits_read_tile(img, 0, 0, 256, 256, v, NULL), OTF_OK);
        for (int i = 0; i < 256 * 256; i++) { /* PNG row 0 is FITS row 255 */
            int fx = i % 256, fy = 255 - i / 256;
            float f = v[fy * 256 + fx];
            lo += f < 0.1f && px[i * 3] < 128;
            hi += f > 0.9f && px[i * 3] > 128;
        }
        assert_true(lo > 256 * 256 / 20 && hi > 256 * 256 / 20);
        free(v);
        free(px);
    }
    otf_fits_close_image(img);
    otf_detect_catalog_free(cat);
    unlink(path);
    unlink(out);
    free(path);
    free(out);
}

static void test_file_atomic(void **state)
{
    char *out = otf_xasprintf("/tmp/otf_test_formats_atomic_%d.txt", (int)getpid());
    struct otf_formats_file of;
    struct stat st;
    struct otf_errbuf eb = {0};
    (void)state;
    unlink(out);
    assert_int_equal(otf_formats_file_open(&of, out, NULL), OTF_OK);
    fputs("partial", of.f);
    otf_formats_file_abort(&of);
    assert_int_not_equal(stat(out, &st), 0); /* nothing left behind */
    assert_int_equal(otf_formats_file_open(&of, out, NULL), OTF_OK);
    fputs("whole", of.f);
    assert_int_equal(otf_formats_file_commit(&of, NULL), OTF_OK);
    assert_int_equal(stat(out, &st), 0);
    assert_int_equal(st.st_size, 5);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(otf_formats_file_open(&of, "/nonexistent/dir/x.vot", &eb), OTF_E_IO);
    unlink(out);
    free(out);
}

/* Files committed together: all in place with their contents and no temp file left; when one
 * cannot be renamed, those before it stay, the others are removed, and the error names it. */
static int count_entries(const char *dir)
{
    char *cmd = otf_xasprintf("ls -A %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    free(cmd);
    return n;
}

static void test_file_commit_all(void **state)
{
    char *dir = otf_xasprintf("/tmp/otf_test_formats_all_%d", (int)getpid());
    char *path[3], *blocker;
    struct otf_formats_file of[3];
    struct otf_errbuf eb = {0};
    struct stat st;
    (void)state;
    assert_int_equal(mkdir(dir, 0755), 0);
    for (int i = 0; i < 3; i++)
        path[i] = otf_xasprintf("%s/f%d", dir, i);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(otf_formats_file_open(&of[i], path[i], NULL), OTF_OK);
        fprintf(of[i].f, "file %d", i);
    }
    assert_int_equal(otf_formats_file_commit_all(of, 3, NULL), OTF_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(stat(path[i], &st), 0);
        assert_int_equal(st.st_size, 6);
        assert_int_equal(unlink(path[i]), 0);
    }
    assert_int_equal(count_entries(dir), 0);

    /* f1 becomes a folder between open and commit: its rename fails */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(otf_formats_file_open(&of[i], path[i], NULL), OTF_OK);
        fprintf(of[i].f, "file %d", i);
    }
    assert_int_equal(mkdir(path[1], 0755), 0);
    blocker = otf_xasprintf("%s/keep", path[1]);
    assert_int_equal(otf_fs_write_atomic(blocker, "x", 1, NULL), OTF_OK);
    assert_int_equal(otf_formats_file_commit_all(of, 3, &eb), OTF_E_IO);
    assert_non_null(strstr(eb.msg, "f1"));
    assert_int_equal(stat(path[0], &st), 0); /* renamed before the failure: kept */
    assert_int_not_equal(stat(path[2], &st), 0);
    assert_int_equal(count_entries(dir), 2); /* f0 and the folder f1: no temp file */
    unlink(blocker);
    rmdir(path[1]);
    unlink(path[0]);
    rmdir(dir);
    for (int i = 0; i < 3; i++)
        free(path[i]);
    free(blocker);
    free(dir);
}

/* A device or FIFO is written in place: renaming a temp file over it would replace the node
 * (`otf detect -o /dev/null` run as root once turned /dev/null into a regular file). */
static void test_file_special(void **state)
{
    char *dir = otf_xasprintf("/tmp/otf_test_formats_fifo_%d", (int)getpid());
    char *fifo = otf_xasprintf("%s/out.fifo", dir);
    struct otf_formats_file of;
    struct otf_errbuf eb = {0};
    struct stat st;
    char buf[16] = {0};
    int rd;
    (void)state;
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    rd = open(fifo, O_RDWR | O_NONBLOCK); /* a reader, so that opening for writing succeeds */
    assert_true(rd >= 0);
    assert_int_equal(otf_formats_file_open(&of, fifo, &eb), OTF_OK);
    fputs("through", of.f);
    assert_int_equal(otf_formats_file_commit(&of, &eb), OTF_OK);
    assert_int_equal(read(rd, buf, sizeof buf - 1), 7);
    assert_string_equal(buf, "through");
    assert_int_equal(stat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode)); /* still the FIFO */
    close(rd);
    assert_int_equal(otf_formats_file_open(&of, dir, &eb), OTF_E_INVAL); /* a folder */
    unlink(fifo);
    rmdir(dir);
    free(fifo);
    free(dir);
}

static void test_column_ucd(void **state)
{
    (void)state;
    assert_string_equal(otf_formats_column_ucd("ra"), "pos.eq.ra;meta.main");
    assert_string_equal(otf_formats_column_ucd("bmaj"), "phys.angSize.smajAxis");
    assert_null(otf_formats_column_ucd("nonsense"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_votable_tabledata),
        cmocka_unit_test(test_votable_binary2),
        cmocka_unit_test(test_ds9),
        cmocka_unit_test(test_prov),
        cmocka_unit_test(test_png),
        cmocka_unit_test(test_file_atomic),
        cmocka_unit_test(test_file_special),
        cmocka_unit_test(test_file_commit_all),
        cmocka_unit_test(test_column_ucd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
