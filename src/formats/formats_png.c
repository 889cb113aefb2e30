/* formats: PNG preview. The image is read in chunks of rows and block-averaged (finite pixels
 * only) to at most max_side pixels, so a 32768^2 image needs a few MB; the stretch limits come
 * from a subsample of the reduced image. North (+y) is up: PNG rows run top-down, FITS rows
 * bottom-up. The PNG is indexed: 252 grey levels and the overlay colours in one palette, a third
 * of the bytes of RGB (every job writes one). Its zlib stream is Huffman-coded only where the
 * histogram of the indices says that saves a tenth of the bytes (blank areas, flat stretches);
 * a noise-dominated sky would gain ~2 % for ten times the work, and is stored as it is. */
#include <math.h>
#include <png.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/formats_int.h"

#define CHUNK_BYTES ((size_t)8 << 20) /* most bytes of image rows read at once */
#define MAX_SAMPLES 5000 /* pixels sampled for the stretch limits (IRAF zscale uses 1000) */

/* palette: grey levels 0..N_GREY-1, then the fixed colours */
enum { N_GREY = 252, PAL_BLANK = 252, PAL_GREEN, PAL_YELLOW, PAL_CYAN, N_PAL };
static const unsigned char pal_fixed[N_PAL - N_GREY][3] = {{24, 24, 64}, /* blank: dark blue */
                                                           {0, 255, 0},
                                                           {255, 220, 0},
                                                           {0, 200, 255}};

void otf_formats_png_params_init(struct otf_formats_png_params *p)
{
    p->max_side = 1024;
    p->stretch = OTF_FORMATS_STRETCH_ZSCALE;
    p->draw = 1;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : (x > y);
}

/* IRAF zscale (contrast 0.25): fit a line to the sorted sample with k-sigma rejection and
 * take the range the line spans over the sample, divided by the contrast, around the median. */
static void zscale(const float *s, size_t n, double *z1, double *z2)
{
    const double contrast = 0.25, krej = 2.5;
    const size_t min_good = n / 2 > 5 ? n / 2 : 5;
    unsigned char *bad = calloc(n, 1);
    double center = (double)(n - 1) / 2.0;
    double median = n % 2 ? s[n / 2] : 0.5 * ((double)s[n / 2 - 1] + s[n / 2]);
    double slope = 0, icpt = median;
    size_t ngood = n;

    *z1 = s[0];
    *z2 = s[n - 1];
    if (!bad || n < 5) {
        free(bad);
        return;
    }
    for (int iter = 0; iter < 5; iter++) {
        double sx = 0, sy = 0, sxx = 0, sxy = 0, m = 0, ss = 0, sigma;
        size_t rejected = 0;
        for (size_t i = 0; i < n; i++)
            if (!bad[i]) {
                double x = (double)i - center;
                sx += x;
                sy += s[i];
                sxx += x * x;
                sxy += x * s[i];
                m += 1;
            }
        if (m < 2)
            break;
        double den = m * sxx - sx * sx;
        slope = den != 0 ? (m * sxy - sx * sy) / den : 0;
        icpt = (sy - slope * sx) / m;
        for (size_t i = 0; i < n; i++)
            if (!bad[i]) {
                double r = s[i] - (icpt + slope * ((double)i - center));
                ss += r * r;
            }
        sigma = sqrt(ss / m);
        for (size_t i = 0; i < n; i++)
            if (!bad[i] && fabs(s[i] - (icpt + slope * ((double)i - center))) > krej * sigma) {
                bad[i] = 1;
                rejected++;
            }
        ngood -= rejected;
        if (rejected == 0 || ngood < min_good)
            break;
    }
    free(bad);
    if (ngood < min_good)
        return;
    slope /= contrast;
    *z1 = fmax((double)s[0], median - center * slope);
    *z2 = fmin((double)s[n - 1], median + ((double)n - 1 - center) * slope);
}

static void put_px(unsigned char *px, int w, int h, long x, long y, unsigned char c)
{
    if (x < 0 || y < 0 || x >= w || y >= h)
        return;
    px[(size_t)y * (size_t)w + (size_t)x] = c;
}

/* Ellipse outline centred at (cx, cy) in reduced image coordinates (y up), semi-axes a, b,
 * major axis at `pa` deg from +y towards -x (east on a standard-parity image). */
static void draw_ellipse(unsigned char *rgb, int w, int h, double cx, double cy, double a, double b,
                         double pa, unsigned char c)
{
    double t = pa * M_PI / 180.0, mx = -sin(t), my = cos(t);
    int steps = (int)fmin(4096, fmax(24, 8 * a));
    /* (cu, su) = (cos u, sin u) advanced by a rotation of 2 pi / steps: one sincos per ellipse,
     * not one per outline point (thousands of detections are drawn per job) */
    double du = 2 * M_PI / steps, cd = cos(du), sd = sin(du), cu = 1, su = 0;
    for (int i = 0; i < steps; i++) {
        double x = cx + a * cu * mx + b * su * my;
        double y = cy + a * cu * my - b * su * mx;
        double nc = cu * cd - su * sd;
        put_px(rgb, w, h, (long)floor(x + 0.5), h - 1 - (long)floor(y + 0.5), c);
        su = su * cd + cu * sd;
        cu = nc;
    }
}

static void draw_rect(unsigned char *rgb, int w, int h, double x0, double y0, double x1, double y1,
                      unsigned char c)
{
    long ix0 = lround(x0), ix1 = lround(x1), iy0 = lround(y0), iy1 = lround(y1);
    for (long x = ix0; x <= ix1; x++) {
        put_px(rgb, w, h, x, h - 1 - iy0, c);
        put_px(rgb, w, h, x, h - 1 - iy1, c);
    }
    for (long y = iy0; y <= iy1; y++) {
        put_px(rgb, w, h, ix0, h - 1 - y, c);
        put_px(rgb, w, h, ix1, h - 1 - y, c);
    }
}

static void draw_catalog(unsigned char *rgb, int w, int h, int64_t fct,
                         const struct otf_detect_catalog *cat)
{
    const int c_bmaj = formats_find_col(cat, "bmaj"), c_bmin = formats_find_col(cat, "bmin");
    const double scale = cat->pixel_scale_deg * 3600.0;
    const struct otf_detect_geometry *g = &cat->geometry;
    const double f = (double)fct;

    if (g->roi[0] != 0 || g->roi[1] != 0 || g->roi[2] != g->img_w || g->roi[3] != g->img_h)
        draw_rect(rgb, w, h, (double)g->roi[0] / f - 0.5, (double)g->roi[1] / f - 0.5,
                  (double)g->roi[2] / f - 0.5, (double)g->roi[3] / f - 0.5, PAL_CYAN);
    for (size_t k = cat->n; k-- > 0;) { /* best detections drawn last, on top */
        const struct otf_detection *d = &cat->rows[k];
        const float *v = cat->values + k * cat->n_cols;
        const unsigned char c = d->is_partial ? PAL_YELLOW : PAL_GREEN;
        double cx = (d->x + 0.5) / f - 0.5, cy = (d->y + 0.5) / f - 0.5;
        double bmaj = c_bmaj >= 0 ? v[c_bmaj] : NAN, bmin = c_bmin >= 0 ? v[c_bmin] : NAN;
        if (isfinite(bmaj) && isfinite(bmin) && bmaj > 0 && bmin > 0 && isfinite(scale) &&
            scale > 0) {
            double pa = isfinite(d->pa_image_deg) ? d->pa_image_deg : 0.0;
            draw_ellipse(rgb, w, h, cx, cy, fmax(2.0, bmaj / scale / 2 / f),
                         fmax(2.0, bmin / scale / 2 / f), pa, c);
        } else {
            double hw = fmax(1.5, d->width / f / 2), hh = fmax(1.5, d->height / f / 2);
            draw_rect(rgb, w, h, cx - hw, cy - hh, cx + hw, cy + hh, c);
        }
    }
}

/* Whether Huffman coding is worth its time on these palette indices: the entropy of their
 * histogram bounds what an order-0 code can do; below 7.2 bits per pixel it saves >= 10 %. */
static int worth_coding(const unsigned char *px, size_t n)
{
    size_t hist[4][256];
    double bits = 0;
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i + 4 <= n; i += 4) { /* four tables: no store-to-load chain */
        hist[0][px[i]]++;
        hist[1][px[i + 1]]++;
        hist[2][px[i + 2]]++;
        hist[3][px[i + 3]]++;
    }
    for (size_t i = n - n % 4; i < n; i++)
        hist[0][px[i]]++;
    for (int v = 0; v < 256; v++) {
        size_t c = hist[0][v] + hist[1][v] + hist[2][v] + hist[3][v];
        if (c)
            bits -= (double)c * log2((double)c / (double)n);
    }
    return bits < 7.2 * (double)n;
}

/* libpng reports errors by longjmp: keep this function free of state that outlives it. */
static int png_emit(FILE *f, const unsigned char *rgb, int w, int h, const char *software)
{
    const int code = worth_coding(rgb, (size_t)w * (size_t)h);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_text text[1];
    png_color pal[N_PAL];

    if (!png || !info) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    /* a preview is written once per job beside the forward pass: no filter (sky noise does not
     * predict) and at most Huffman coding (LZ77 finds little: level 1 is 3x slower, no smaller) */
    png_set_compression_level(png, code ? 1 : 0);
    png_set_compression_strategy(png, code ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_PALETTE,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int i = 0; i < N_PAL; i++) {
        if (i < N_GREY) {
            png_byte v = (png_byte)((i * 255 + (N_GREY - 1) / 2) / (N_GREY - 1));
            pal[i].red = pal[i].green = pal[i].blue = v;
        } else {
            pal[i].red = pal_fixed[i - N_GREY][0];
            pal[i].green = pal_fixed[i - N_GREY][1];
            pal[i].blue = pal_fixed[i - N_GREY][2];
        }
    }
    png_set_PLTE(png, info, pal, N_PAL);
    text[0].compression = PNG_TEXT_COMPRESSION_NONE;
    text[0].key = (png_charp) "Software";
    text[0].text = (png_charp)software;
    png_set_text(png, info, text, 1);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * (size_t)w));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

/* The linear stretch of one row: grey level (x - z1) * inv rounded and clamped to
 * 0..N_GREY-1, PAL_BLANK for a non-finite pixel. Single precision (a grey level is 1/251 of the
 * range: float rounding moves a pixel by one level at most), 16 pixels at a time with SSE2,
 * x86-64's baseline (the compiler leaves the plain loop scalar at -O2: the char output may
 * alias the input). */
static void grey_linear(const float *in, unsigned char *o, int64_t n, float z1, float inv)
{
    int64_t i = 0;
#ifdef __SSE2__
    const __m128 vz1 = _mm_set1_ps(z1), vinv = _mm_set1_ps(inv), zero = _mm_setzero_ps();
    const __m128 top = _mm_set1_ps((float)(N_GREY - 1)), half = _mm_set1_ps(0.5f);
    const __m128i blank = _mm_set1_epi32(PAL_BLANK);
    for (; i + 16 <= n; i += 16) {
        __m128i g[4];
        for (int k = 0; k < 4; k++) {
            __m128 x = _mm_loadu_ps(in + i + 4 * k);
            /* x - x is 0 for a finite x, NaN for an infinite or NaN one */
            __m128i fin = _mm_castps_si128(_mm_cmpeq_ps(_mm_sub_ps(x, x), zero));
            /* max/min return their second operand for a NaN: 0 here, painted blank below */
            __m128 t = _mm_min_ps(_mm_max_ps(_mm_mul_ps(_mm_sub_ps(x, vz1), vinv), zero), top);
            __m128i v = _mm_cvttps_epi32(_mm_add_ps(t, half));
            g[k] = _mm_or_si128(_mm_and_si128(fin, v), _mm_andnot_si128(fin, blank));
        }
        _mm_storeu_si128((__m128i *)(o + i), _mm_packus_epi16(_mm_packs_epi32(g[0], g[1]),
                                                              _mm_packs_epi32(g[2], g[3])));
    }
#endif
    for (; i < n; i++) {
        float t = (in[i] - z1) * inv;
        t = t > 0 ? t : 0;
        t = t < (float)(N_GREY - 1) ? t : (float)(N_GREY - 1);
        o[i] = isfinite(in[i]) ? (unsigned char)(int)(t + 0.5f) : (unsigned char)PAL_BLANK;
    }
}

struct otf_formats_preview {
    struct otf_formats_png_params p;
    int64_t w, h, fct, pw, ph; /* image size, block side, preview size */
    int64_t next_y;            /* the image row expected next */
    int broken;                /* a row came out of order */
    float *red;                /* [ph][pw] block means (NaN: no finite pixel in the block) */
    double *sum;               /* the block row being summed: sums and finite counts */
    int64_t *cnt;
};

enum otf_status otf_formats_preview_new(int64_t w, int64_t h,
                                        const struct otf_formats_png_params *p,
                                        struct otf_formats_preview **out, struct otf_errbuf *eb)
{
    struct otf_formats_preview *pv;
    struct otf_formats_png_params def;

    if (!p) {
        otf_formats_png_params_init(&def);
        p = &def;
    }
    if (p->max_side < 16 || p->max_side > 16384)
        return OTF_FAIL(eb, OTF_E_LIMIT, "preview size %d not in 16..16384", p->max_side);
    if (w < 1 || h < 1)
        return OTF_FAIL(eb, OTF_E_INVAL, "no preview of a %lldx%lld image", (long long)w,
                        (long long)h);
    pv = otf_xcalloc(1, sizeof *pv);
    pv->p = *p;
    pv->w = w;
    pv->h = h;
    pv->fct = ((w > h ? w : h) + p->max_side - 1) / p->max_side;
    pv->fct = pv->fct < 1 ? 1 : pv->fct;
    pv->pw = (w + pv->fct - 1) / pv->fct;
    pv->ph = (h + pv->fct - 1) / pv->fct;
    pv->red = otf_malloc((size_t)pv->pw * (size_t)pv->ph * sizeof(float));
    pv->sum = otf_calloc((size_t)pv->pw, sizeof(double));
    pv->cnt = otf_calloc((size_t)pv->pw, sizeof(int64_t));
    if (!pv->red || !pv->sum || !pv->cnt) {
        otf_formats_preview_free(pv);
        return OTF_FAIL(eb, OTF_E_NOMEM, "no memory for a %lldx%lld preview", (long long)w,
                        (long long)h);
    }
    *out = pv;
    return OTF_OK;
}

int otf_formats_preview_add_rows(struct otf_formats_preview *pv, int64_t y, int64_t n,
                                 const float *rows)
{
    const int64_t w = pv->w, fct = pv->fct, pw = pv->pw;

    if (pv->broken || y != pv->next_y || n < 0 || y + n > pv->h) {
        pv->broken = 1;
        return -1;
    }
    for (int64_t r = 0; r < n; r++, pv->next_y++) {
        const float *row = rows + (size_t)r * (size_t)w;
        int64_t j = pv->next_y / fct;
        if (fct == 1) { /* full resolution: nothing to average (the stretch paints every
                         * non-finite value blank) */
            memcpy(pv->red + (size_t)j * (size_t)pw, row, (size_t)w * sizeof(float));
            continue;
        }
        /* block by block: no division per pixel */
        for (int64_t i = 0, x0 = 0; x0 < w; i++, x0 += fct) {
            int64_t x1 = x0 + fct < w ? x0 + fct : w;
            double acc = 0;
            int64_t k = 0;
            for (int64_t x = x0; x < x1; x++)
                if (isfinite(row[x])) {
                    acc += row[x];
                    k++;
                }
            pv->sum[i] += acc;
            pv->cnt[i] += k;
        }
        if ((pv->next_y + 1) % fct == 0 || pv->next_y + 1 == pv->h) { /* the block row ends */
            for (int64_t i = 0; i < pw; i++)
                pv->red[(size_t)j * (size_t)pw + (size_t)i] =
                    pv->cnt[i] ? (float)(pv->sum[i] / (double)pv->cnt[i]) : NAN;
            memset(pv->sum, 0, (size_t)pw * sizeof(double));
            memset(pv->cnt, 0, (size_t)pw * sizeof(int64_t));
        }
    }
    return 0;
}

int otf_formats_preview_complete(const struct otf_formats_preview *pv)
{
    return pv && !pv->broken && pv->next_y == pv->h;
}

void otf_formats_preview_free(struct otf_formats_preview *pv)
{
    if (!pv)
        return;
    otf_free(pv->red);
    otf_free(pv->sum);
    otf_free(pv->cnt);
    free(pv);
}

enum otf_status otf_formats_write_preview(FILE *f, const struct otf_formats_preview *pv,
                                          const struct otf_detect_catalog *cat,
                                          struct otf_errbuf *eb)
{
    const int64_t pw = pv->pw, ph = pv->ph;
    float *smp = NULL;
    unsigned char *rgb = NULL;
    size_t ns = 0;
    double z1 = 0, z2 = 1;
    enum otf_status rc = OTF_OK;

    if (!otf_formats_preview_complete(pv))
        return OTF_FAIL(eb, OTF_E_STATE, "preview incomplete: %lld of %lld image rows%s",
                        (long long)pv->next_y, (long long)pv->h,
                        pv->broken ? ", one out of order" : "");
    smp = otf_malloc(MAX_SAMPLES * sizeof(float));
    rgb = otf_malloc((size_t)pw * (size_t)ph);
    if (!smp || !rgb) {
        rc = OTF_FAIL(eb, OTF_E_NOMEM, "no memory for a %lldx%lld preview", (long long)pw,
                      (long long)ph);
        goto out;
    }
    {
        size_t total = (size_t)pw * (size_t)ph, step = total / MAX_SAMPLES + 1;
        for (size_t i = 0; i < total && ns < MAX_SAMPLES; i += step)
            if (isfinite(pv->red[i]))
                smp[ns++] = pv->red[i];
    }
    if (ns > 0) {
        qsort(smp, ns, sizeof(float), cmp_float);
        if (pv->p.stretch == OTF_FORMATS_STRETCH_ASINH) {
            z1 = smp[(size_t)(0.005 * (double)(ns - 1))];
            z2 = smp[(size_t)(0.995 * (double)(ns - 1))];
        } else {
            zscale(smp, ns, &z1, &z2);
        }
    }
    if (!(z2 > z1))
        z2 = z1 + 1;
    const double inv = 1.0 / (z2 - z1), inv_asinh10 = 1.0 / asinh(10.0);
    for (int64_t j = 0; j < ph; j++) {
        const float *in = pv->red + (size_t)j * (size_t)pw;
        unsigned char *o = rgb + (size_t)(ph - 1 - j) * (size_t)pw;
        if (pv->p.stretch == OTF_FORMATS_STRETCH_ASINH) {
            for (int64_t i = 0; i < pw; i++) {
                double t = ((double)in[i] - z1) * inv;
                t = t > 0 ? t : 0; /* NaN -> 0, painted blank below */
                t = t < 1 ? t : 1;
                t = asinh(10 * t) * inv_asinh10;
                o[i] = isfinite(in[i]) ? (unsigned char)(t * (N_GREY - 1) + 0.5) : PAL_BLANK;
            }
            continue;
        }
        grey_linear(in, o, pw, (float)z1, (float)(inv * (N_GREY - 1)));
    }
    if (cat && pv->p.draw)
        draw_catalog(rgb, (int)pw, (int)ph, pv->fct, cat);
    if (png_emit(f, rgb, (int)pw, (int)ph, "CIANNA On-The-Fly") != 0 || fflush(f) != 0)
        rc = OTF_FAIL(eb, OTF_E_IO, "PNG write failed");
out:
    otf_free(smp);
    otf_free(rgb);
    return rc;
}

enum otf_status otf_formats_write_png(FILE *f, struct otf_fits_image *img,
                                      const struct otf_detect_catalog *cat,
                                      const struct otf_formats_png_params *p, struct otf_errbuf *eb)
{
    struct otf_formats_preview *pv = NULL;
    int64_t w, h, rows_per_read;
    float *chunk = NULL;
    enum otf_status rc;

    otf_fits_image_size(img, &w, &h);
    if ((rc = otf_formats_preview_new(w, h, p, &pv, eb)) != OTF_OK)
        return rc;
    rows_per_read = (int64_t)(CHUNK_BYTES / ((size_t)w * sizeof(float)));
    rows_per_read = rows_per_read < 1 ? 1 : rows_per_read;
    chunk = otf_malloc((size_t)rows_per_read * (size_t)w * sizeof(float));
    if (!chunk)
        rc = OTF_FAIL(eb, OTF_E_NOMEM, "no memory for %lld image rows", (long long)rows_per_read);
    for (int64_t y = 0; y < h && rc == OTF_OK; y += rows_per_read) {
        int64_t nr = h - y < rows_per_read ? h - y : rows_per_read;
        rc = otf_fits_read_tile(img, 0, y, w, nr, chunk, eb);
        if (rc == OTF_OK)
            otf_formats_preview_add_rows(pv, y, nr, chunk);
    }
    if (rc == OTF_OK)
        rc = otf_formats_write_preview(f, pv, cat, eb);
    otf_free(chunk);
    otf_formats_preview_free(pv);
    return rc;
}
