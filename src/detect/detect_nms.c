/* detect: CIANNA's DIoU and the first (intra-patch) NMS of the SDC1 post-processing
 * (examples/SKAO_SDC1/aux_fct.py: fct_DIoU, first_NMS). The centre-distance penalty is d/c,
 * not the d^2/c^2 of the DIoU paper: the thresholds were tuned on this form. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"

double otf_detect_diou(const struct otf_detect_box *a, const struct otf_detect_box *b)
{
    double inter_w = fmin(a->xmax, b->xmax) - fmax(a->xmin, b->xmin);
    double inter_h = fmin(a->ymax, b->ymax) - fmax(a->ymin, b->ymin);
    double inter, uni, enc_w, enc_h, dx, dy, diag, iou;

    inter_w = inter_w > 0 ? inter_w : 0;
    inter_h = inter_h > 0 ? inter_h : 0;
    inter = inter_w * inter_h;
    uni = fabs(a->xmax - a->xmin) * fabs(a->ymax - a->ymin) +
          fabs(b->xmax - b->xmin) * fabs(b->ymax - b->ymin) - inter;
    enc_w = fmax(a->xmax, b->xmax) - fmin(a->xmin, b->xmin);
    enc_h = fmax(a->ymax, b->ymax) - fmin(a->ymin, b->ymin);
    dx = (a->xmax + a->xmin) * 0.5 - (b->xmax + b->xmin) * 0.5;
    dy = (a->ymax + a->ymin) * 0.5 - (b->ymax + b->ymin) * 0.5;
    diag = sqrt(enc_w * enc_w + enc_h * enc_h);
    iou = uni > 0 ? inter / uni : 0.0;
    return iou - (diag > 0 ? sqrt(dx * dx + dy * dy) / diag : 0.0);
}

struct order {
    float obj;
    size_t i;
};

/* Objectness descending, then original position: the box np.argmax would pick first. */
static int cmp_order(const void *pa, const void *pb)
{
    const struct order *a = pa, *b = pb;
    if (a->obj != b->obj)
        return a->obj > b->obj ? -1 : 1;
    return a->i < b->i ? -1 : (a->i > b->i);
}

/* need_overlap: every level's threshold is >= 0, so boxes that do not overlap (IoU 0, DIoU <= 0)
 * cannot be suppressed and skip the DIoU. */
static int suppressed(const struct otf_detect_box *keep, const struct otf_detect_box *other,
                      const struct otf_detect_level *levels, size_t n_levels, int need_overlap)
{
    int any = 0;
    for (size_t l = 0; l < n_levels; l++)
        any |= other->obj < levels[l].obj_below;
    if (!any)
        return 0;
    if (need_overlap && (fmin(keep->xmax, other->xmax) <= fmax(keep->xmin, other->xmin) ||
                         fmin(keep->ymax, other->ymax) <= fmax(keep->ymin, other->ymin)))
        return 0;
    double d = otf_detect_diou(keep, other);
    for (size_t l = 0; l < n_levels; l++)
        if (d > levels[l].value && other->obj < levels[l].obj_below)
            return 1;
    return 0;
}

/* Distance beyond which no level can suppress, as a multiple of the sum of the two boxes'
 * half-diagonals: with c <= d + hd_a + hd_b, DIoU > t needs d < max(1, -t/(1+t)) (hd_a + hd_b)
 * (overlapping boxes have d < hd_a + hd_b; disjoint ones need d/c < -t). INFINITY when a level
 * lets every pair through (t <= -1). */
static double reach_factor(const struct otf_detect_level *levels, size_t n_levels)
{
    double t = INFINITY;
    for (size_t l = 0; l < n_levels; l++)
        if (levels[l].value < t)
            t = levels[l].value;
    if (n_levels == 0)
        return 0;
    if (t <= -1)
        return INFINITY;
    return t >= 0 ? 1.0 : fmax(1.0, -t / (1.0 + t));
}

size_t otf_detect_nms_first(struct otf_detect_box *boxes, size_t n,
                            const struct otf_detect_level *levels, size_t n_levels)
{
    struct order *ord;
    unsigned char *dead;
    size_t *rank, *head = NULL, *next = NULL, *cell = NULL;
    struct otf_detect_box *tmp;
    size_t n_keep = 0, gw = 1, gh = 1;
    double hd_max = 0, xlo = INFINITY, ylo = INFINITY, xhi = -INFINITY, yhi = -INFINITY, bucket;
    double factor = reach_factor(levels, n_levels);
    int need_overlap = n_levels > 0;

    for (size_t l = 0; l < n_levels; l++)
        need_overlap &= levels[l].value >= 0;

    if (n == 0)
        return 0;
    ord = otf_xmalloc(n * sizeof(*ord));
    dead = otf_xcalloc(n, 1);
    rank = otf_xmalloc(n * sizeof(*rank));
    tmp = otf_xmalloc(n * sizeof(*tmp));
    for (size_t i = 0; i < n; i++) {
        const struct otf_detect_box *b = &boxes[i];
        double cx = (b->xmin + b->xmax) * 0.5, cy = (b->ymin + b->ymax) * 0.5;
        ord[i].obj = b->obj;
        ord[i].i = i;
        hd_max = fmax(hd_max, 0.5 * hypot(b->xmax - b->xmin, b->ymax - b->ymin));
        xlo = fmin(xlo, cx), xhi = fmax(xhi, cx), ylo = fmin(ylo, cy), yhi = fmax(yhi, cy);
    }
    /* Visiting boxes by decreasing objectness is CIANNA's repeated argmax over the survivors:
     * a suppressed box is never picked, and every pick is the best box still alive. */
    qsort(ord, n, sizeof(*ord), cmp_order);
    for (size_t a = 0; a < n; a++)
        rank[ord[a].i] = a;

    /* Buckets of side `bucket` >= the reach of any pair, so a box can only suppress boxes in
     * its own and the 8 surrounding buckets (one bucket when the reach is unbounded). */
    bucket = factor * 2.0 * hd_max;
    if (isfinite(bucket) && bucket > 0) {
        double fw = floor((xhi - xlo) / bucket) + 1, fh = floor((yhi - ylo) / bucket) + 1;
        if (fw * fh <= (double)(4 * n + 16)) {
            gw = (size_t)fw;
            gh = (size_t)fh;
        }
    }
    if (gw * gh > 1) {
        head = otf_xmalloc(gw * gh * sizeof(*head));
        next = otf_xmalloc(n * sizeof(*next));
        cell = otf_xmalloc(n * sizeof(*cell));
        for (size_t k = 0; k < gw * gh; k++)
            head[k] = SIZE_MAX;
        for (size_t i = n; i-- > 0;) {
            const struct otf_detect_box *b = &boxes[i];
            size_t bx = (size_t)floor(((b->xmin + b->xmax) * 0.5 - xlo) / bucket);
            size_t by = (size_t)floor(((b->ymin + b->ymax) * 0.5 - ylo) / bucket);
            bx = bx >= gw ? gw - 1 : bx;
            by = by >= gh ? gh - 1 : by;
            cell[i] = by * gw + bx;
            next[i] = head[cell[i]];
            head[cell[i]] = i;
        }
    }
    for (size_t a = 0; a < n; a++) {
        size_t ki = ord[a].i;
        const struct otf_detect_box *k = &boxes[ki];
        if (dead[ki])
            continue;
        tmp[n_keep++] = *k;
        if (!head) {
            for (size_t b = a + 1; b < n; b++) {
                size_t j = ord[b].i;
                if (!dead[j] && suppressed(k, &boxes[j], levels, n_levels, need_overlap))
                    dead[j] = 1;
            }
            continue;
        }
        size_t cx = cell[ki] % gw, cy = cell[ki] / gw;
        for (size_t y = cy ? cy - 1 : 0; y <= cy + 1 && y < gh; y++)
            for (size_t x = cx ? cx - 1 : 0; x <= cx + 1 && x < gw; x++)
                for (size_t j = head[y * gw + x]; j != SIZE_MAX; j = next[j])
                    if (rank[j] > a && !dead[j] &&
                        suppressed(k, &boxes[j], levels, n_levels, need_overlap))
                        dead[j] = 1;
    }
    memcpy(boxes, tmp, n_keep * sizeof(*tmp));
    free(ord);
    free(dead);
    free(rank);
    free(tmp);
    free(head);
    free(next);
    free(cell);
    return n_keep;
}
