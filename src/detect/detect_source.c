/* detect: the patch source. The image is read in bands of patch_h rows spanning the whole
 * patch row; consecutive bands share `overlap` rows, which are moved instead of re-read. Pixels
 * outside the image are 0 (SDC1's zero fill, reference §10); NaN/blank pixels inside it get the
 * fill value. Memory: one band (patch_h x band width floats) whatever the image size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"

struct otf_detect_source {
    struct otf_fits_image *img; /* borrowed */
    struct otf_detect_config cfg;
    struct otf_detect_geometry g;
    double lo, hi;    /* effective bounds, image units */
    float *band;      /* [patch_h][band_w] normalised */
    int64_t band_w;   /* (nx-1)*shift_x + patch_w */
    int64_t band_row; /* patch row held in `band`, -1 none */
    int64_t next;     /* next patch index */
    int64_t read_us;
    void (*on_row)(void *user, int64_t y, int64_t x0, int64_t n, const float *row);
    void *on_row_user;
};

enum otf_status otf_detect_source_new(struct otf_fits_image *img,
                                      const struct otf_detect_config *cfg, const int64_t roi[4],
                                      struct otf_detect_source **out, struct otf_errbuf *eb)
{
    struct otf_detect_source *s = NULL;
    int64_t w, h;
    size_t bytes;
    enum otf_status rc;

    rc = otf_detect_config_check(cfg, eb);
    if (rc != OTF_OK)
        return rc;
    s = otf_xcalloc(1, sizeof(*s));
    s->img = img;
    s->cfg = *cfg;
    s->band_row = -1;
    otf_fits_image_size(img, &w, &h);
    rc = otf_detect_plan_tiles(w, h, roi, cfg->patch_w, cfg->patch_h, cfg->overlap_pix, &s->g, eb);
    if (rc != OTF_OK)
        goto out;
    s->band_w = (s->g.nx - 1) * s->g.shift_x + s->g.patch_w;
    if (otf_mul_size((size_t)s->band_w, (size_t)s->g.patch_h * sizeof(float), &bytes) != 0 ||
        bytes > OTF_DETECT_MAX_BAND) {
        rc = OTF_FAIL(eb, OTF_E_LIMIT, "a band of %d x %lld pixels is too large", s->g.patch_h,
                      (long long)s->band_w);
        goto out;
    }
    s->band = otf_malloc(bytes);
    if (!s->band) {
        rc = OTF_FAIL(eb, OTF_E_NOMEM, "no memory for a band of %zu bytes", bytes);
        goto out;
    }
    if (cfg->norm_bounds == OTF_MODEL_NORM_PERCENTILE) {
        rc = otf_detect_percentile_bounds(img, s->g.roi, cfg->norm_lo, cfg->norm_hi,
                                          cfg->percentile_samples, &s->lo, &s->hi, eb);
        if (rc != OTF_OK)
            goto out;
    } else {
        s->lo = cfg->norm_lo;
        s->hi = cfg->norm_hi;
    }
    *out = s;
    s = NULL;
out:
    otf_detect_source_free(s);
    return rc;
}

const struct otf_detect_geometry *otf_detect_source_geometry(const struct otf_detect_source *s)
{
    return &s->g;
}

void otf_detect_source_bounds(const struct otf_detect_source *s, double *lo, double *hi)
{
    *lo = s->lo;
    *hi = s->hi;
}

void otf_detect_source_on_row(struct otf_detect_source *s,
                              void (*fn)(void *user, int64_t y, int64_t x0, int64_t n,
                                         const float *row),
                              void *user)
{
    s->on_row = fn;
    s->on_row_user = user;
}

int64_t otf_detect_source_read_us(const struct otf_detect_source *s)
{
    return s->read_us;
}

/* Reads band rows [r_from, patch_h) of the band starting at image row y0b. */
static enum otf_status read_rows(struct otf_detect_source *s, int64_t y0b, int r_from,
                                 struct otf_errbuf *eb)
{
    const struct otf_detect_geometry *g = &s->g;
    int64_t bx0 = g->x0, cx0 = bx0 < 0 ? 0 : bx0;
    int64_t cx1 = bx0 + s->band_w > g->img_w ? g->img_w : bx0 + s->band_w;
    int64_t cw = cx1 - cx0;

    for (int r = r_from; r < g->patch_h; r++) {
        float *dst = s->band + (size_t)r * (size_t)s->band_w;
        int64_t y = y0b + r;
        if (y < 0 || y >= g->img_h || cw <= 0) {
            memset(dst, 0, (size_t)s->band_w * sizeof(float));
            continue;
        }
        if (cx0 > bx0)
            memset(dst, 0, (size_t)(cx0 - bx0) * sizeof(float));
        if (bx0 + s->band_w > cx1)
            memset(dst + (cx1 - bx0), 0, (size_t)(bx0 + s->band_w - cx1) * sizeof(float));
        enum otf_status rc = otf_fits_read_tile(s->img, cx0, y, cw, 1, dst + (cx0 - bx0), eb);
        if (rc != OTF_OK)
            return rc;
        if (s->on_row)
            s->on_row(s->on_row_user, y, cx0, cw, dst + (cx0 - bx0));
        otf_detect_normalise(dst + (cx0 - bx0), (size_t)cw, s->lo, s->hi, s->cfg.norm_gain,
                             s->cfg.fill_value);
    }
    return OTF_OK;
}

static enum otf_status load_band(struct otf_detect_source *s, int64_t row, struct otf_errbuf *eb)
{
    const struct otf_detect_geometry *g = &s->g;
    int64_t y0b = g->y0 + row * g->shift_y;
    int r_from = 0;
    int64_t t0 = otf_time_mono_us();
    enum otf_status rc;

    if (s->band_row == row - 1 && row > 0) {
        /* rows [shift_y, patch_h) of the previous band are rows [0, overlap) of this one */
        memmove(s->band, s->band + (size_t)g->shift_y * (size_t)s->band_w,
                (size_t)g->overlap_pix * (size_t)s->band_w * sizeof(float));
        r_from = g->overlap_pix;
    }
    rc = read_rows(s, y0b, r_from, eb);
    s->band_row = rc == OTF_OK ? row : -1;
    s->read_us += otf_time_mono_us() - t0;
    return rc;
}

enum otf_status otf_detect_source_next(struct otf_detect_source *s, float *patch, int64_t *index,
                                       struct otf_errbuf *eb)
{
    const struct otf_detect_geometry *g = &s->g;
    int64_t row, col;

    if (s->next >= g->nx * g->ny) {
        *index = -1;
        return OTF_OK;
    }
    row = s->next / g->nx;
    col = s->next % g->nx;
    if (s->band_row != row) {
        enum otf_status rc = load_band(s, row, eb);
        if (rc != OTF_OK)
            return rc;
    }
    for (int r = 0; r < g->patch_h; r++)
        memcpy(patch + (size_t)r * (size_t)g->patch_w,
               s->band + (size_t)r * (size_t)s->band_w + (size_t)(col * g->shift_x),
               (size_t)g->patch_w * sizeof(float));
    *index = s->next++;
    return OTF_OK;
}

void otf_detect_source_free(struct otf_detect_source *s)
{
    if (!s)
        return;
    otf_free(s->band);
    free(s);
}
