/* detect: CIANNA's DIoU and the first (intra-patch) NMS of the SDC1 post-processing
 * (examples/SKAO_SDC1/aux_fct.py: fct_DIoU, first_NMS). The centre-distance penalty is d/c,
 * not the d^2/c^2 of the DIoU paper: the thresholds were tuned on this form. */
#include <math.h>
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

static int suppressed(const struct otf_detect_box *keep, const struct otf_detect_box *other,
                      const struct otf_detect_level *levels, size_t n_levels)
{
    double d = otf_detect_diou(keep, other);
    for (size_t l = 0; l < n_levels; l++)
        if (d > levels[l].value && other->obj < levels[l].obj_below)
            return 1;
    return 0;
}

size_t otf_detect_nms_first(struct otf_detect_box *boxes, size_t n,
                            const struct otf_detect_level *levels, size_t n_levels)
{
    struct order *ord;
    unsigned char *dead;
    struct otf_detect_box *tmp;
    size_t n_keep = 0;

    if (n == 0)
        return 0;
    ord = otf_xmalloc(n * sizeof(*ord));
    dead = otf_xcalloc(n, 1);
    tmp = otf_xmalloc(n * sizeof(*tmp));
    for (size_t i = 0; i < n; i++) {
        ord[i].obj = boxes[i].obj;
        ord[i].i = i;
    }
    /* Visiting boxes by decreasing objectness is CIANNA's repeated argmax over the survivors:
     * a suppressed box is never picked, and every pick is the best box still alive. */
    qsort(ord, n, sizeof(*ord), cmp_order);
    for (size_t a = 0; a < n; a++) {
        const struct otf_detect_box *k = &boxes[ord[a].i];
        if (dead[ord[a].i])
            continue;
        tmp[n_keep++] = *k;
        for (size_t b = a + 1; b < n; b++) {
            size_t j = ord[b].i;
            if (!dead[j] && suppressed(k, &boxes[j], levels, n_levels))
                dead[j] = 1;
        }
    }
    memcpy(boxes, tmp, n_keep * sizeof(*tmp));
    free(ord);
    free(dead);
    free(tmp);
    return n_keep;
}
