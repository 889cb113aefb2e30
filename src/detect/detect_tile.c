/* detect: the patch grid (reference §10: SDC1 predicts on 512-px patches with a 32-px overlap,
 * one patch centred on the map). The grid is extended on every side until each pixel of the
 * region lies in the interior of a patch, so image edges are covered by a patch interior and
 * never only by the truncated border cells of one. */
#include "detect/detect_int.h"

/* One axis: region [r0, r0+len), patch p, overlap ov -> first patch start and count. */
static void plan_axis(int64_t r0, int64_t len, int p, int ov, int64_t *start, int64_t *n)
{
    int64_t shift = p - ov, half = ov / 2;
    int64_t centred = r0 + len / 2 - p / 2; /* start of the patch centred on the region */
    int64_t k_min = detect_floor_div(r0 - centred - half, shift);
    int64_t k_max = detect_floor_div(r0 + len - 1 - centred - half, shift);

    *start = centred + k_min * shift;
    *n = k_max - k_min + 1;
}

enum otf_status otf_detect_plan_tiles(int64_t img_w, int64_t img_h, const int64_t roi[4],
                                      int patch_w, int patch_h, int overlap_pix,
                                      struct otf_detect_geometry *g, struct otf_errbuf *eb)
{
    int64_t r[4] = {0, 0, img_w, img_h};

    if (img_w < 1 || img_h < 1 || img_w > OTF_FITS_MAX_AXIS_PIX || img_h > OTF_FITS_MAX_AXIS_PIX)
        return OTF_FAIL(eb, OTF_E_INVAL, "image size %lldx%lld out of range", (long long)img_w,
                        (long long)img_h);
    if (patch_w < 1 || patch_h < 1 || patch_w > OTF_DETECT_MAX_PATCH ||
        patch_h > OTF_DETECT_MAX_PATCH || overlap_pix < 0 || 2 * overlap_pix >= patch_w ||
        2 * overlap_pix >= patch_h)
        return OTF_FAIL(eb, OTF_E_INVAL, "patch %dx%d with overlap %d", patch_w, patch_h,
                        overlap_pix);
    if (roi) {
        if (roi[0] < 0 || roi[1] < 0 || roi[2] > img_w || roi[3] > img_h || roi[2] <= roi[0] ||
            roi[3] <= roi[1])
            return OTF_FAIL(eb, OTF_E_INVAL,
                            "region [%lld,%lld)x[%lld,%lld) empty or not inside the %lldx%lld "
                            "image",
                            (long long)roi[0], (long long)roi[2], (long long)roi[1],
                            (long long)roi[3], (long long)img_w, (long long)img_h);
        for (int i = 0; i < 4; i++)
            r[i] = roi[i];
    }
    g->img_w = img_w;
    g->img_h = img_h;
    for (int i = 0; i < 4; i++)
        g->roi[i] = r[i];
    g->patch_w = patch_w;
    g->patch_h = patch_h;
    g->overlap_pix = overlap_pix;
    g->shift_x = patch_w - overlap_pix;
    g->shift_y = patch_h - overlap_pix;
    plan_axis(r[0], r[2] - r[0], patch_w, overlap_pix, &g->x0, &g->nx);
    plan_axis(r[1], r[3] - r[1], patch_h, overlap_pix, &g->y0, &g->ny);
    if (g->nx > OTF_DETECT_MAX_PATCHES / g->ny)
        return OTF_FAIL(eb, OTF_E_LIMIT, "%lld x %lld patches (limit %lld)", (long long)g->nx,
                        (long long)g->ny, (long long)OTF_DETECT_MAX_PATCHES);
    return OTF_OK;
}

void otf_detect_patch_origin(const struct otf_detect_geometry *g, int64_t index, int64_t *x0,
                             int64_t *y0)
{
    *x0 = g->x0 + (index % g->nx) * g->shift_x;
    *y0 = g->y0 + (index / g->nx) * g->shift_y;
}
