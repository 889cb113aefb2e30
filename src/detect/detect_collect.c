/* detect: the collector. Per patch (any order): objectness thresholds with CIANNA's grid-border
 * penalty, the median-brightness rejection of false boxes over bright extended emission, and
 * the first NMS (aux_fct.py: tile_filter, first_NMS). At the end: the second NMS across the 8
 * neighbours of each patch (second_NMS_local, but order-independent), the border policy on the
 * distance to the image edge, pixel -> sky and the parameters in physical units. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"

struct patch_boxes {
    struct otf_detect_box *b; /* kept boxes, image coordinates (CIANNA convention) */
    size_t n;
    int done;
};

struct otf_detect_collector {
    struct otf_detect_config cfg;
    struct otf_detect_geometry g;
    struct patch_boxes *patches; /* [nx*ny] */
    int64_t n_patches, n_done;
    size_t n_rows;               /* boxes held over all patches */
    struct otf_detect_box *cand; /* scratch: grid_w*grid_h*nb_box */
    float *med;                  /* scratch for the median: patch_w*patch_h */
    size_t n_candidates, n_after_first;
};

enum otf_status otf_detect_collector_new(const struct otf_detect_config *cfg,
                                         const struct otf_detect_geometry *g,
                                         struct otf_detect_collector **out, struct otf_errbuf *eb)
{
    struct otf_detect_collector *c;
    enum otf_status rc = otf_detect_config_check(cfg, eb);

    if (rc != OTF_OK)
        return rc;
    if (g->patch_w != cfg->patch_w || g->patch_h != cfg->patch_h ||
        g->overlap_pix != cfg->overlap_pix || g->nx < 1 || g->ny < 1)
        return OTF_FAIL(eb, OTF_E_INVAL, "grid and config disagree on the patch geometry");
    c = otf_xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    c->g = *g;
    c->n_patches = g->nx * g->ny;
    c->patches = otf_xcalloc((size_t)c->n_patches, sizeof(*c->patches));
    c->cand = otf_xmalloc((size_t)cfg->grid_w * (size_t)cfg->grid_h * (size_t)cfg->nb_box *
                          sizeof(*c->cand));
    c->med = otf_xmalloc((size_t)cfg->patch_w * (size_t)cfg->patch_h * sizeof(float));
    *out = c;
    return OTF_OK;
}

void otf_detect_collector_free(struct otf_detect_collector *c)
{
    if (!c)
        return;
    for (int64_t i = 0; i < c->n_patches; i++)
        free(c->patches[i].b);
    free(c->patches);
    free(c->cand);
    free(c->med);
    free(c);
}

/* Median of the normalised patch over the box widened by `margin`, with Python's int()
 * truncation of the float bounds as in tile_filter; NaN for an empty window. */
static double box_median(struct otf_detect_collector *c, const float *patch, float xmin, float ymin,
                         float xmax, float ymax)
{
    const struct otf_detect_config *cfg = &c->cfg;
    float m = (float)cfg->median_margin_pix;
    long x0 = (long)(xmin - m), x1 = (long)(xmax + m), y0 = (long)(ymin - m), y1 = (long)(ymax + m);
    size_t n = 0;

    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > cfg->patch_w ? cfg->patch_w : x1;
    y1 = y1 > cfg->patch_h ? cfg->patch_h : y1;
    if (x1 <= x0 || y1 <= y0)
        return NAN;
    for (long y = y0; y < y1; y++)
        for (long x = x0; x < x1; x++)
            c->med[n++] = patch[(size_t)y * (size_t)cfg->patch_w + (size_t)x];
    return detect_median(c->med, n);
}

enum otf_status otf_detect_collector_add(struct otf_detect_collector *c, int64_t index,
                                         const float *patch, const float *decoded,
                                         struct otf_errbuf *eb)
{
    const struct otf_detect_config *cfg = &c->cfg;
    const int gw = cfg->grid_w, gh = cfg->grid_h;
    const size_t plane = (size_t)gw * (size_t)gh;
    const int ncol = 8 + cfg->nb_class + cfg->nb_param;
    size_t n = 0, kept;
    int64_t px0, py0;
    struct patch_boxes *pb;

    if (index < 0 || index >= c->n_patches || c->patches[index].done)
        return OTF_FAIL(eb, OTF_E_INVAL, "patch %lld out of range or given twice",
                        (long long)index);
    for (int gy = 0; gy < gh; gy++)
        for (int gx = 0; gx < gw; gx++) {
            const int is_edge = gx == 0 || gy == 0 || gx == gw - 1 || gy == gh - 1;
            const size_t cell = (size_t)gy * (size_t)gw + (size_t)gx;
            for (int b = 0; b < cfg->nb_box; b++) {
                const float *v = decoded + (size_t)b * (size_t)ncol * plane + cell;
#define COL(k) v[(size_t)(k)*plane]
                float prob = COL(6), obj = COL(7);
                if (is_edge && cfg->edge_cell_penalty > 0) {
                    prob = fmaxf(0.03f, prob - (float)cfg->edge_cell_penalty);
                    obj = fmaxf(0.03f, obj - (float)cfg->edge_cell_penalty);
                }
                if (!(obj >= (float)cfg->obj_threshold[b]))
                    continue;
                c->n_candidates++;
                float bx = (COL(0) + COL(3)) * 0.5f, by = (COL(1) + COL(4)) * 0.5f;
                float bw = fmaxf((float)cfg->min_box_pix, COL(3) - COL(0));
                float bh = fmaxf((float)cfg->min_box_pix, COL(4) - COL(1));
                struct otf_detect_box *o = &c->cand[n];
                o->xmin = bx - bw * 0.5f;
                o->ymin = by - bh * 0.5f;
                o->xmax = bx + bw * 0.5f;
                o->ymax = by + bh * 0.5f;
                if (!isfinite(o->xmin) || !isfinite(o->ymin) || !isfinite(o->xmax) ||
                    !isfinite(o->ymax))
                    continue;
                if (cfg->n_median > 0) {
                    double med = box_median(c, patch, (float)o->xmin, (float)o->ymin,
                                            (float)o->xmax, (float)o->ymax);
                    int reject = 0;
                    for (size_t l = 0; l < cfg->n_median; l++)
                        if (med > cfg->median[l].value && obj < cfg->median[l].obj_below)
                            reject = 1;
                    if (reject)
                        continue;
                }
                o->obj = obj;
                o->prob = prob;
                o->detector = b;
                o->patch = index;
                o->class_id = -1;
                for (int k = 0; k < cfg->nb_class; k++)
                    if (o->class_id < 0 || COL(8 + k) > COL(8 + o->class_id))
                        o->class_id = k;
                for (int k = 0; k < cfg->nb_param; k++)
                    o->params[k] = COL(8 + cfg->nb_class + k);
#undef COL
                n++;
            }
        }
    kept = otf_detect_nms_first(c->cand, n, cfg->nms_first, cfg->n_nms_first);
    c->n_after_first += kept;
    if (c->n_rows + kept > OTF_DETECT_MAX_ROWS)
        return OTF_FAIL(eb, OTF_E_LIMIT, "more than %zu detections in one image",
                        OTF_DETECT_MAX_ROWS);
    otf_detect_patch_origin(&c->g, index, &px0, &py0);
    pb = &c->patches[index];
    pb->b = kept ? otf_xmalloc(kept * sizeof(*pb->b)) : NULL;
    for (size_t i = 0; i < kept; i++) {
        pb->b[i] = c->cand[i];
        pb->b[i].xmin += (double)px0;
        pb->b[i].xmax += (double)px0;
        pb->b[i].ymin += (double)py0;
        pb->b[i].ymax += (double)py0;
    }
    pb->n = kept;
    pb->done = 1;
    c->n_rows += kept;
    c->n_done++;
    return OTF_OK;
}

/* Distance of a box centre to the centre of its own patch (the second NMS tie-break). */
static double centre_offset(const struct otf_detect_geometry *g, const struct otf_detect_box *b)
{
    int64_t x0, y0;
    otf_detect_patch_origin(g, b->patch, &x0, &y0);
    double dx = (b->xmin + b->xmax) * 0.5 - ((double)x0 + g->patch_w * 0.5);
    double dy = (b->ymin + b->ymax) * 0.5 - ((double)y0 + g->patch_h * 0.5);
    return dx * dx + dy * dy;
}

/* 1 when `c` wins over `b`: higher objectness; on a tie the box nearer its patch centre, then
 * the lower patch index, so exactly one of two equal duplicates survives. */
static int beats(const struct otf_detect_geometry *g, const struct otf_detect_box *c,
                 const struct otf_detect_box *b)
{
    if (c->obj != b->obj)
        return c->obj > b->obj;
    double oc = centre_offset(g, c), ob = centre_offset(g, b);
    if (oc != ob)
        return oc < ob;
    return c->patch < b->patch;
}

/* Second NMS: a box that reaches into the overlap margins of its patch is dropped when a box
 * of a neighbouring patch that reaches into this patch overlaps it (DIoU > threshold) and
 * beats it. Decisions use the first-NMS survivors of every patch, so the result does not
 * depend on the order patches are visited (CIANNA's loop updates in place). */
static unsigned char *second_nms(struct otf_detect_collector *c)
{
    const struct otf_detect_geometry *g = &c->g;
    const double ov = g->overlap_pix;
    const struct otf_detect_level lv = {c->cfg.nms_second, INFINITY};
    /* pairs farther apart than the threshold's reach skip the DIoU (the margin covers the
     * rounding of the half-diagonals) */
    const double reach = detect_reach_factor(&lv, 1) * (1.0 + 1e-9);
    unsigned char *drop = otf_xcalloc(c->n_rows ? c->n_rows : 1, 1);
    size_t base = 0;
    /* centre and half-diagonal of every box; first[p]: where patch p's boxes start, here and
     * in `drop` */
    double *geo = otf_xmalloc((c->n_rows ? c->n_rows : 1) * 3 * sizeof(*geo));
    size_t *first = otf_xmalloc((size_t)c->n_patches * sizeof(*first));
    /* per patch: the boxes of its neighbours that reach into it (the only ones its boxes can
     * meet), neighbour k's from near[at[k]] to near[at[k + 1]] */
    size_t *near = otf_xmalloc((c->n_rows ? c->n_rows : 1) * sizeof(*near)), at[9];
    int64_t nbr[8];

    for (int64_t p = 0; p < c->n_patches; p++) {
        const struct patch_boxes *pb = &c->patches[p];
        first[p] = base;
        for (size_t i = 0; i < pb->n; i++) {
            const struct otf_detect_box *b = &pb->b[i];
            double w = b->xmax - b->xmin, h = b->ymax - b->ymin;
            geo[3 * (base + i)] = (b->xmin + b->xmax) * 0.5;
            geo[3 * (base + i) + 1] = (b->ymin + b->ymax) * 0.5;
            geo[3 * (base + i) + 2] = 0.5 * sqrt(w * w + h * h);
        }
        base += pb->n;
    }
    for (int64_t p = 0; p < c->n_patches; p++) {
        const struct patch_boxes *pb = &c->patches[p];
        const size_t base_p = first[p];
        int64_t px = p % g->nx, py = p / g->nx, x0, y0;
        int n_nbr = 0;
        otf_detect_patch_origin(g, p, &x0, &y0);
        at[0] = 0;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int64_t qx = px + dx, qy = py + dy;
                if ((dx == 0 && dy == 0) || qx < 0 || qy < 0 || qx >= g->nx || qy >= g->ny)
                    continue;
                const struct patch_boxes *qb = &c->patches[qy * g->nx + qx];
                size_t m = at[n_nbr];
                for (size_t j = 0; j < qb->n; j++) {
                    const struct otf_detect_box *o = &qb->b[j];
                    if (!(o->xmin >= (double)(x0 + g->patch_w) || o->xmax <= (double)x0 ||
                          o->ymin >= (double)(y0 + g->patch_h) || o->ymax <= (double)y0))
                        near[m++] = j;
                }
                nbr[n_nbr++] = qy * g->nx + qx;
                at[n_nbr] = m;
            }
        for (size_t i = 0; i < pb->n; i++) {
            const struct otf_detect_box *b = &pb->b[i];
            const double *bg = geo + 3 * (base_p + i);
            double lx0 = b->xmin - (double)x0, lx1 = b->xmax - (double)x0;
            double ly0 = b->ymin - (double)y0, ly1 = b->ymax - (double)y0;
            int found = 0;
            if (lx0 > ov && lx1 < (double)g->shift_x && ly0 > ov && ly1 < (double)g->shift_y)
                continue; /* inside the patch core: no neighbour sees it better */
            for (int k = 0; k < n_nbr && !found; k++) {
                const struct patch_boxes *qb = &c->patches[nbr[k]];
                const double *qg = geo + 3 * first[nbr[k]];
                for (size_t t = at[k]; t < at[k + 1] && !found; t++) {
                    const size_t j = near[t];
                    const struct otf_detect_box *o = &qb->b[j];
                    double ddx = qg[3 * j] - bg[0], ddy = qg[3 * j + 1] - bg[1];
                    double lim = reach * (bg[2] + qg[3 * j + 2]);
                    if (ddx * ddx + ddy * ddy >= lim * lim)
                        continue;
                    if (otf_detect_diou(b, o) > c->cfg.nms_second && beats(g, o, b))
                        found = 1;
                }
            }
            drop[base_p + i] = (unsigned char)found;
        }
    }
    free(geo);
    free(first);
    free(near);
    return drop;
}

static int cmp_rows(const void *pa, const void *pb)
{
    const struct otf_detection *a = pa, *b = pb;
    if (a->objectness != b->objectness)
        return a->objectness > b->objectness ? -1 : 1;
    if (a->y != b->y)
        return a->y < b->y ? -1 : 1;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    if (a->detector != b->detector)
        return a->detector < b->detector ? -1 : 1;
    return a->patch < b->patch ? -1 : (a->patch > b->patch);
}

static double de_normalise(const struct otf_detect_param *p, double v)
{
    switch (p->transform) {
    case OTF_MODEL_PARAM_MINMAX:
        return p->min + v * (p->max - p->min);
    case OTF_MODEL_PARAM_LN_MINMAX:
        return exp(p->min + v * (p->max - p->min));
    case OTF_MODEL_PARAM_LOG10_MINMAX:
        return pow(10.0, p->min + v * (p->max - p->min));
    default:
        return v;
    }
}

static double clip01(double v)
{
    return v < 0 ? 0 : (v > 1 ? 1 : v);
}

/* PA into (-90, 90]: an ellipse is the same under a half turn. */
static double wrap_pa(double pa)
{
    pa = fmod(pa, 180.0);
    if (pa > 90.0)
        pa -= 180.0;
    if (pa <= -90.0)
        pa += 180.0;
    return pa;
}

/* Position angle of the +y pixel axis east of north at each row, and whether the image has
 * the usual parity (east to the left of north when displayed with y up), from the rows' sky
 * positions (lon, lat already set) and those of the pixels one step along +x and +y. */
static enum otf_status sky_axes(struct otf_fits_wcs *wcs, struct otf_detect_catalog *cat,
                                double *rot_deg, int *standard, struct otf_errbuf *eb)
{
    size_t n = cat->n;
    double *xy = otf_malloc(n * 4 * sizeof(double)), *rd = otf_malloc(n * 4 * sizeof(double));
    enum otf_status rc = OTF_OK;

    if (!xy || !rd) {
        rc = OTF_FAIL(eb, OTF_E_NOMEM, "no memory for %zu positions", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        double x = cat->rows[i].x, y = cat->rows[i].y;
        double p[4] = {x + 1, y, x, y + 1};
        memcpy(xy + 4 * i, p, sizeof(p));
    }
    rc = otf_fits_pix_to_sky(wcs, 2 * n, xy, rd, eb);
    if (rc != OTF_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const double s[6] = {cat->rows[i].lon, cat->rows[i].lat, rd[4 * i],
                             rd[4 * i + 1],    rd[4 * i + 2],    rd[4 * i + 3]};
        double cd = cos(s[1] * M_PI / 180.0);
        double ex = remainder(s[2] - s[0], 360.0) * cd, nx = s[3] - s[1];
        double ey = remainder(s[4] - s[0], 360.0) * cd, ny = s[5] - s[1];
        if (!isfinite(ex + nx + ey + ny)) {
            rot_deg[i] = NAN;
            standard[i] = 1;
            continue;
        }
        rot_deg[i] = atan2(ey, ny) * 180.0 / M_PI;
        standard[i] = ex * ny - nx * ey < 0;
    }
out:
    otf_free(xy);
    otf_free(rd);
    return rc;
}

enum otf_status otf_detect_collector_finish(struct otf_detect_collector *c,
                                            struct otf_fits_wcs *wcs,
                                            struct otf_detect_catalog **out, struct otf_errbuf *eb)
{
    const struct otf_detect_config *cfg = &c->cfg;
    const struct otf_detect_geometry *g = &c->g;
    struct otf_detect_catalog *cat = NULL;
    struct otf_detect_box **src = NULL;
    unsigned char *drop = NULL;
    double *xy = NULL, *rd = NULL, *rot = NULL;
    int *standard = NULL;
    int cos_i = -1, sin_i = -1;
    size_t base = 0, n = 0;
    enum otf_status rc = OTF_OK;

    if (c->n_done != c->n_patches)
        return OTF_FAIL(eb, OTF_E_STATE, "%lld of %lld patches collected", (long long)c->n_done,
                        (long long)c->n_patches);
    drop = second_nms(c);
    cat = otf_xcalloc(1, sizeof(*cat));
    cat->geometry = *g;
    cat->n_candidates = c->n_candidates;
    cat->n_after_first_nms = c->n_after_first;
    cat->has_classes = cfg->nb_class > 0;
    cat->has_partial = cfg->border == OTF_MODEL_BORDER_PARTIAL;
    cat->equinox = NAN;
    cat->pixel_scale_deg = NAN;
    cat->rows = otf_xcalloc(c->n_rows ? c->n_rows : 1, sizeof(*cat->rows));
    src = otf_xcalloc(c->n_rows ? c->n_rows : 1, sizeof(*src));

    for (int64_t p = 0; p < c->n_patches; p++) {
        struct patch_boxes *pb = &c->patches[p];
        for (size_t i = 0; i < pb->n; i++) {
            struct otf_detect_box *b = &pb->b[i];
            struct otf_detection *r = &cat->rows[n];
            if (drop[base + i])
                continue;
            /* CIANNA's patch coordinates put pixel i on [i, i+1): the centre is at -0.5 */
            r->x = (b->xmin + b->xmax) * 0.5 - 0.5;
            r->y = (b->ymin + b->ymax) * 0.5 - 0.5;
            double fx = floor(r->x + 0.5), fy = floor(r->y + 0.5);
            if (fx < (double)g->roi[0] || fx >= (double)g->roi[2] || fy < (double)g->roi[1] ||
                fy >= (double)g->roi[3])
                continue;
            double edge = fmin(fmin(r->x + 0.5, r->y + 0.5), fmin((double)g->img_w - (r->x + 0.5),
                                                                  (double)g->img_h - (r->y + 0.5)));
            int near_edge = edge < (double)cfg->border_pix;
            if (near_edge && cfg->border == OTF_MODEL_BORDER_DROP)
                continue;
            r->is_partial = near_edge && cfg->border == OTF_MODEL_BORDER_PARTIAL;
            r->width = (float)(b->xmax - b->xmin);
            r->height = (float)(b->ymax - b->ymin);
            r->objectness = b->obj;
            r->probability = b->prob;
            r->detector = b->detector;
            r->class_id = b->class_id;
            r->patch = b->patch;
            r->lon = r->lat = NAN;
            r->pa_image_deg = NAN;
            r->yaxis_pa_deg = NAN;
            src[n++] = b;
        }
        base += c->patches[p].n;
    }
    cat->n = n;

    /* sort rows and their source boxes together through an index */
    {
        struct otf_detection *tmp = otf_xmalloc((n ? n : 1) * sizeof(*tmp));
        struct otf_detect_box **stmp = otf_xmalloc((n ? n : 1) * sizeof(*stmp));
        for (size_t i = 0; i < n; i++) {
            tmp[i] = cat->rows[i];
            tmp[i].id = (int64_t)i; /* remember where it came from */
        }
        qsort(tmp, n, sizeof(*tmp), cmp_rows);
        for (size_t i = 0; i < n; i++) {
            stmp[i] = src[tmp[i].id];
            tmp[i].id = (int64_t)i + 1;
        }
        memcpy(cat->rows, tmp, n * sizeof(*tmp));
        memcpy(src, stmp, n * sizeof(*stmp));
        free(tmp);
        free(stmp);
    }

    /* value columns: one per parameter, the cos/sin pair folded into one PA column */
    for (size_t i = 0; i < cfg->n_params; i++) {
        if (cfg->params[i].transform == OTF_MODEL_PARAM_COS_PA && cos_i < 0)
            cos_i = (int)i;
        if (cfg->params[i].transform == OTF_MODEL_PARAM_SIN_PA_HALF && sin_i < 0)
            sin_i = (int)i;
    }
    if (cos_i < 0 || sin_i < 0)
        cos_i = sin_i = -1;
    int col_of[OTF_DETECT_MAX_PARAMS];
    int pa_col = -1;
    for (size_t i = 0; i < cfg->n_params; i++) {
        struct otf_detect_column *col = &cat->cols[cat->n_cols];
        if ((int)i == sin_i || (int)i == cos_i) {
            if ((int)i == (cos_i < sin_i ? cos_i : sin_i)) {
                snprintf(col->name, sizeof(col->name), "pa");
                snprintf(col->unit, sizeof(col->unit), "deg");
                col->kind = OTF_DETECT_COL_PA;
                pa_col = (int)cat->n_cols++;
            }
            col_of[i] = -1;
            continue;
        }
        memcpy(col->name, cfg->params[i].name, sizeof(col->name));
        memcpy(col->unit, cfg->params[i].unit, sizeof(col->unit));
        col->kind = OTF_DETECT_COL_VALUE;
        col_of[i] = (int)cat->n_cols++;
    }
    cat->values = otf_xcalloc((n ? n : 1) * (cat->n_cols ? cat->n_cols : 1), sizeof(float));
    for (size_t r = 0; r < n; r++) {
        float *vals = cat->values + r * cat->n_cols;
        for (size_t i = 0; i < cfg->n_params; i++)
            if (col_of[i] >= 0)
                vals[col_of[i]] = (float)de_normalise(&cfg->params[i], src[r]->params[i]);
        if (pa_col >= 0) {
            /* SDC1 targets: cos(PA) and (sin(PA)+1)/2 with PA in [-90, 90] (post_process.py) */
            double pa =
                atan2(clip01(src[r]->params[sin_i]) * 2.0 - 1.0, clip01(src[r]->params[cos_i])) *
                180.0 / M_PI;
            pa = pa < -90 ? -90 : (pa > 90 ? 90 : pa);
            cat->rows[r].pa_image_deg = (float)pa;
            vals[pa_col] = (float)pa;
        }
    }

    if (wcs) {
        snprintf(cat->frame, sizeof(cat->frame), "%s", otf_fits_wcs_frame(wcs));
        cat->equinox = otf_fits_wcs_equinox(wcs);
        cat->pixel_scale_deg = otf_fits_wcs_pixel_scale(wcs);
        cat->has_sky = 1;
        if (n > 0) {
            xy = otf_malloc(2 * n * sizeof(double));
            rd = otf_malloc(2 * n * sizeof(double));
            if (!xy || !rd) {
                rc = OTF_FAIL(eb, OTF_E_NOMEM, "no memory for %zu positions", n);
                goto out;
            }
            for (size_t i = 0; i < n; i++) {
                xy[2 * i] = cat->rows[i].x;
                xy[2 * i + 1] = cat->rows[i].y;
            }
            rc = otf_fits_pix_to_sky(wcs, n, xy, rd, eb);
            if (rc != OTF_OK)
                goto out;
            for (size_t i = 0; i < n; i++) {
                cat->rows[i].lon = rd[2 * i];
                cat->rows[i].lat = rd[2 * i + 1];
            }
            rot = otf_xmalloc(n * sizeof(double));
            standard = otf_xmalloc(n * sizeof(int));
            rc = sky_axes(wcs, cat, rot, standard, eb);
            if (rc != OTF_OK)
                goto out;
            for (size_t i = 0; i < n; i++) {
                double pa = cat->rows[i].pa_image_deg;
                cat->rows[i].yaxis_pa_deg = (float)rot[i];
                if (pa_col < 0 || !isfinite(rot[i]))
                    continue;
                pa = standard[i] ? rot[i] + pa : rot[i] - pa;
                cat->values[i * cat->n_cols + (size_t)pa_col] = (float)wrap_pa(pa);
            }
        }
    }
    *out = cat;
    cat = NULL;
out:
    otf_detect_catalog_free(cat);
    free(src);
    free(drop);
    otf_free(xy);
    otf_free(rd);
    free(rot);
    free(standard);
    return rc;
}

void otf_detect_catalog_free(struct otf_detect_catalog *cat)
{
    if (!cat)
        return;
    free(cat->rows);
    free(cat->values);
    free(cat);
}
