/* otf-gui: the view transform (widget device pixels <-> image pixels, image y drawn upwards),
 * the image pyramid built in one streaming pass, and the per-frame renderer that samples only
 * the widget's pixels from the level that matches the zoom. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/otf-gui/gui_logic.h"

void otf_gui_view_to_image(const struct otf_gui_view *v, double sx, double sy, double *x, double *y)
{
    *x = v->cx + (sx - v->w / 2.0) / v->zoom;
    *y = v->cy - (sy - v->h / 2.0) / v->zoom;
}

void otf_gui_view_from_image(const struct otf_gui_view *v, double x, double y, double *sx,
                             double *sy)
{
    *sx = v->w / 2.0 + (x - v->cx) * v->zoom;
    *sy = v->h / 2.0 - (y - v->cy) * v->zoom;
}

static double clamp_zoom(double z)
{
    return z < OTF_GUI_ZOOM_MIN ? OTF_GUI_ZOOM_MIN : (z > OTF_GUI_ZOOM_MAX ? OTF_GUI_ZOOM_MAX : z);
}

void otf_gui_view_fit(struct otf_gui_view *v, int64_t img_w, int64_t img_h, int widget_w,
                      int widget_h)
{
    double zx, zy;
    v->w = widget_w > 1 ? widget_w : 1;
    v->h = widget_h > 1 ? widget_h : 1;
    zx = (double)v->w / (double)(img_w > 0 ? img_w : 1);
    zy = (double)v->h / (double)(img_h > 0 ? img_h : 1);
    v->zoom = clamp_zoom(zx < zy ? zx : zy);
    /* the image spans [-0.5, w - 0.5): its middle is (w - 1) / 2 */
    v->cx = ((double)img_w - 1) / 2;
    v->cy = ((double)img_h - 1) / 2;
}

void otf_gui_view_zoom_at(struct otf_gui_view *v, double factor, double sx, double sy)
{
    double x, y, z = clamp_zoom(v->zoom * factor);
    otf_gui_view_to_image(v, sx, sy, &x, &y);
    v->zoom = z;
    /* choose the centre so that (x, y) maps back to (sx, sy) */
    v->cx = x - (sx - v->w / 2.0) / z;
    v->cy = y + (sy - v->h / 2.0) / z;
}

void otf_gui_view_pan(struct otf_gui_view *v, double dsx, double dsy)
{
    v->cx -= dsx / v->zoom;
    v->cy += dsy / v->zoom;
}

void otf_gui_view_clamp(struct otf_gui_view *v, int64_t img_w, int64_t img_h)
{
    if (v->cx < -0.5)
        v->cx = -0.5;
    if (v->cx > (double)img_w - 0.5)
        v->cx = (double)img_w - 0.5;
    if (v->cy < -0.5)
        v->cy = -0.5;
    if (v->cy > (double)img_h - 0.5)
        v->cy = (double)img_h - 0.5;
}

int otf_gui_view_level(const struct otf_gui_view *v, int n_levels)
{
    int level = 0;
    while (level + 1 < n_levels && (double)(1 << (level + 1)) * v->zoom <= 1.0 + 1e-9)
        level++;
    return level;
}

int otf_gui_view_visible(const struct otf_gui_view *v, int64_t img_w, int64_t img_h, int64_t box[4])
{
    double x0, y0, x1, y1;
    otf_gui_view_to_image(v, 0, v->h, &x0, &y0); /* bottom-left of the widget */
    otf_gui_view_to_image(v, v->w, 0, &x1, &y1); /* top-right */
    box[0] = (int64_t)floor(x0 + 0.5);
    box[1] = (int64_t)floor(y0 + 0.5);
    box[2] = (int64_t)ceil(x1 + 0.5);
    box[3] = (int64_t)ceil(y1 + 0.5);
    box[0] = box[0] < 0 ? 0 : box[0];
    box[1] = box[1] < 0 ? 0 : box[1];
    box[2] = box[2] > img_w ? img_w : box[2];
    box[3] = box[3] > img_h ? img_h : box[3];
    return box[2] > box[0] && box[3] > box[1];
}

/* ---- pyramid ---- */

void otf_gui_pyramid_free(struct otf_gui_pyramid *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_levels; i++)
        free(p->levels[i].data);
    free(p);
}

/* Running block sums of one level: the row of the next level being accumulated. */
struct acc {
    double *sum;
    double *cnt;
    int64_t row; /* level row being accumulated */
};

/* A finished row `r` of level `l` (sums and counts over its blocks) goes into level l's data (as
 * means) and is added into level l+1's accumulator; finishing that one recurses upwards. */
static void push_row(struct otf_gui_pyramid *p, struct acc *acc, int l, int64_t r,
                     const double *sum, const double *cnt)
{
    struct otf_gui_level *lv = &p->levels[l];
    if (lv->data) {
        float *dst = lv->data + r * lv->w;
        for (int64_t x = 0; x < lv->w; x++)
            dst[x] = cnt[x] > 0 ? (float)(sum[x] / cnt[x]) : NAN;
    }
    if (l + 1 >= p->n_levels)
        return;
    {
        struct acc *a = &acc[l + 1];
        const struct otf_gui_level *up = &p->levels[l + 1];
        for (int64_t x = 0; x < lv->w; x++) {
            a->sum[x >> 1] += sum[x];
            a->cnt[x >> 1] += cnt[x];
        }
        /* an up row is complete after its second source row, or the last one of level l */
        if ((r & 1) || r == lv->h - 1) {
            push_row(p, acc, l + 1, r >> 1, a->sum, a->cnt);
            memset(a->sum, 0, (size_t)up->w * sizeof(double));
            memset(a->cnt, 0, (size_t)up->w * sizeof(double));
        }
    }
}

enum otf_status otf_gui_pyramid_build(int64_t w, int64_t h, otf_gui_read_rows_fn *read, void *user,
                                      size_t budget_bytes, otf_gui_progress_fn *progress,
                                      void *progress_user, struct otf_gui_pyramid **out,
                                      struct otf_errbuf *eb)
{
    struct otf_gui_pyramid *p = NULL;
    struct acc acc[OTF_GUI_MAX_LEVELS];
    float *band = NULL;
    double *sum0 = NULL, *cnt0 = NULL;
    enum otf_status rc = OTF_OK;
    size_t held = 0;
    int64_t band_rows;

    memset(acc, 0, sizeof acc);
    if (w < 1 || h < 1 || w > ((int64_t)1 << 24) || h > ((int64_t)1 << 24))
        return OTF_FAIL(eb, OTF_E_INVAL, "image size %lldx%lld out of range", (long long)w,
                        (long long)h);
    p = calloc(1, sizeof *p);
    if (!p)
        return OTF_FAIL(eb, OTF_E_NOMEM, "out of memory");
    p->w = w;
    p->h = h;
    for (int l = 0; l < OTF_GUI_MAX_LEVELS; l++) {
        p->levels[l].w = (w + ((int64_t)1 << l) - 1) >> l;
        p->levels[l].h = (h + ((int64_t)1 << l) - 1) >> l;
        p->n_levels = l + 1;
        if (p->levels[l].w <= 512 && p->levels[l].h <= 512)
            break;
    }
    /* keep the coarsest levels first, so the finest ones are dropped when over budget */
    p->base = p->n_levels - 1;
    for (int l = p->n_levels - 1; l >= 0; l--) {
        size_t bytes = (size_t)p->levels[l].w * (size_t)p->levels[l].h * sizeof(float);
        if (l != p->n_levels - 1 && held + bytes > budget_bytes)
            break;
        p->levels[l].data = malloc(bytes);
        if (!p->levels[l].data) {
            rc = OTF_FAIL(eb, OTF_E_NOMEM, "out of memory for the image (%zu MiB)", bytes >> 20);
            goto out;
        }
        held += bytes;
        p->base = l;
    }
    for (int l = 1; l < p->n_levels; l++) {
        acc[l].sum = calloc((size_t)p->levels[l].w, sizeof(double));
        acc[l].cnt = calloc((size_t)p->levels[l].w, sizeof(double));
        if (!acc[l].sum || !acc[l].cnt) {
            rc = OTF_FAIL(eb, OTF_E_NOMEM, "out of memory");
            goto out;
        }
    }
    band_rows = ((int64_t)4 << 20) / w; /* bands of about 16 MiB */
    band_rows = band_rows < 1 ? 1 : (band_rows > h ? h : band_rows);
    band = malloc((size_t)band_rows * (size_t)w * sizeof(float));
    sum0 = malloc((size_t)w * sizeof(double));
    cnt0 = malloc((size_t)w * sizeof(double));
    if (!band || !sum0 || !cnt0) {
        rc = OTF_FAIL(eb, OTF_E_NOMEM, "out of memory");
        goto out;
    }
    for (int64_t y0 = 0; y0 < h; y0 += band_rows) {
        int64_t n = h - y0 < band_rows ? h - y0 : band_rows;
        if (read(user, y0, n, band) != 0) {
            rc = OTF_FAIL(eb, OTF_E_IO, "cannot read image rows %lld..%lld", (long long)y0,
                          (long long)(y0 + n - 1));
            goto out;
        }
        for (int64_t r = 0; r < n; r++) {
            const float *src = band + r * w;
            for (int64_t x = 0; x < w; x++) {
                int ok = isfinite(src[x]);
                sum0[x] = ok ? src[x] : 0;
                cnt0[x] = ok;
            }
            push_row(p, acc, 0, y0 + r, sum0, cnt0);
        }
        if (progress && progress(progress_user, y0 + n, h) != 0) {
            rc = OTF_FAIL(eb, OTF_E_STATE, "cancelled");
            goto out;
        }
    }
    *out = p;
    p = NULL;
out:
    for (int l = 0; l < OTF_GUI_MAX_LEVELS; l++) {
        free(acc[l].sum);
        free(acc[l].cnt);
    }
    free(band);
    free(sum0);
    free(cnt0);
    otf_gui_pyramid_free(p);
    return rc;
}

float otf_gui_pyramid_value(const struct otf_gui_pyramid *p, int64_t x, int64_t y)
{
    const struct otf_gui_level *lv = &p->levels[p->base];
    if (x < 0 || y < 0 || x >= p->w || y >= p->h)
        return NAN;
    return lv->data[(y >> p->base) * lv->w + (x >> p->base)];
}

size_t otf_gui_pyramid_sample(const struct otf_gui_pyramid *p, float *out, size_t n)
{
    int l = p->n_levels - 1;
    const struct otf_gui_level *lv;
    size_t total, k = 0;

    while (l > p->base && (size_t)p->levels[l].w * (size_t)p->levels[l].h < n)
        l--;
    lv = &p->levels[l];
    total = (size_t)lv->w * (size_t)lv->h;
    if (total <= n) {
        memcpy(out, lv->data, total * sizeof(float));
        return total;
    }
    /* a regular stride over the level: every row and column region is represented */
    for (size_t i = 0; i < n; i++) {
        out[k++] = lv->data[(size_t)((double)i * (double)total / (double)n)];
    }
    return k;
}

void otf_gui_render(const struct otf_gui_pyramid *p, const struct otf_gui_view *v,
                    const struct otf_gui_lut *lut, uint32_t background, uint32_t *argb,
                    int stride_px)
{
    int level = otf_gui_view_level(v, p->n_levels);
    const struct otf_gui_level *lv;
    int64_t *col = malloc((size_t)(v->w > 0 ? v->w : 1) * sizeof(int64_t));
    double f;

    if (level < p->base)
        level = p->base;
    lv = &p->levels[level];
    f = (double)((int64_t)1 << level);
    if (!col) {
        for (int sy = 0; sy < v->h; sy++)
            for (int sx = 0; sx < v->w; sx++)
                argb[(size_t)sy * (size_t)stride_px + (size_t)sx] = background;
        return;
    }
    /* column index of each widget column in the level, -1 outside the image */
    for (int sx = 0; sx < v->w; sx++) {
        double x, y, xl;
        otf_gui_view_to_image(v, sx + 0.5, 0, &x, &y);
        /* level pixel j covers image [j*f - 0.5, (j+1)*f - 0.5) */
        xl = floor((x + 0.5) / f);
        col[sx] =
            (x + 0.5 < 0 || x + 0.5 >= (double)p->w || xl >= (double)lv->w) ? -1 : (int64_t)xl;
    }
    for (int sy = 0; sy < v->h; sy++) {
        uint32_t *dst = argb + (size_t)sy * (size_t)stride_px;
        double x, y, yl;
        const float *row;
        otf_gui_view_to_image(v, 0, sy + 0.5, &x, &y);
        yl = floor((y + 0.5) / f);
        if (y + 0.5 < 0 || y + 0.5 >= (double)p->h || yl >= (double)lv->h) {
            for (int sx = 0; sx < v->w; sx++)
                dst[sx] = background;
            continue;
        }
        row = lv->data + (int64_t)yl * lv->w;
        for (int sx = 0; sx < v->w; sx++)
            dst[sx] = col[sx] < 0 ? background : otf_gui_lut_map(lut, row[col[sx]]);
    }
    free(col);
}

/* ---- sky coordinates ---- */

static void sexa(double v, double units_per_deg, int sign, int frac_digits, char *out, size_t n)
{
    double a = fabs(v) * units_per_deg, scale = pow(10, frac_digits);
    long long total = llround(a * 3600 * scale); /* in 1/scale of a second */
    long long s_int = total / (long long)scale, frac = total % (long long)scale;
    long long hh = s_int / 3600, mm = (s_int / 60) % 60, ss = s_int % 60;
    if (sign)
        snprintf(out, n, "%c%02lld:%02lld:%02lld.%0*lld", v < 0 ? '-' : '+', hh, mm, ss,
                 frac_digits, frac);
    else
        snprintf(out, n, "%02lld:%02lld:%02lld.%0*lld", hh, mm, ss, frac_digits, frac);
}

void otf_gui_format_ra(double ra_deg, char *out, size_t n)
{
    if (!isfinite(ra_deg)) {
        snprintf(out, n, "%s", "");
        return;
    }
    ra_deg = fmod(ra_deg, 360.0);
    if (ra_deg < 0)
        ra_deg += 360.0;
    /* rounding up to 24h00m00s wraps to 0 */
    if (llround(ra_deg / 15.0 * 3600 * 100) >= 24LL * 3600 * 100)
        ra_deg = 0;
    sexa(ra_deg, 1.0 / 15.0, 0, 2, out, n);
}

void otf_gui_format_dec(double dec_deg, char *out, size_t n)
{
    if (!isfinite(dec_deg)) {
        snprintf(out, n, "%s", "");
        return;
    }
    sexa(dec_deg, 1.0, 1, 1, out, n);
}
