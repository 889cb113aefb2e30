/* detect: CIANNA's DIoU and the first (intra-patch) NMS of the SDC1 post-processing
 * (examples/SKAO_SDC1/aux_fct.py: fct_DIoU, first_NMS). The centre-distance penalty is d/c,
 * not the d^2/c^2 of the DIoU paper: the thresholds were tuned on this form. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"

/* The DIoU of two boxes given by their corners. Boxes are finite (the collector drops others),
 * so plain comparisons stand in for fmin/fmax: the same values, without a call each. */
static inline double diou4(double axmin, double aymin, double axmax, double aymax, double bxmin,
                           double bymin, double bxmax, double bymax)
{
    double inter_w = (axmax < bxmax ? axmax : bxmax) - (axmin > bxmin ? axmin : bxmin);
    double inter_h = (aymax < bymax ? aymax : bymax) - (aymin > bymin ? aymin : bymin);
    double inter, uni, enc_w, enc_h, dx, dy, diag, iou;

    inter_w = inter_w > 0 ? inter_w : 0;
    inter_h = inter_h > 0 ? inter_h : 0;
    inter = inter_w * inter_h;
    uni = fabs(axmax - axmin) * fabs(aymax - aymin) + fabs(bxmax - bxmin) * fabs(bymax - bymin) -
          inter;
    enc_w = (axmax > bxmax ? axmax : bxmax) - (axmin < bxmin ? axmin : bxmin);
    enc_h = (aymax > bymax ? aymax : bymax) - (aymin < bymin ? aymin : bymin);
    dx = (axmax + axmin) * 0.5 - (bxmax + bxmin) * 0.5;
    dy = (aymax + aymin) * 0.5 - (bymax + bymin) * 0.5;
    diag = sqrt(enc_w * enc_w + enc_h * enc_h);
    iou = uni > 0 ? inter / uni : 0.0;
    return iou - (diag > 0 ? sqrt(dx * dx + dy * dy) / diag : 0.0);
}

double otf_detect_diou(const struct otf_detect_box *a, const struct otf_detect_box *b)
{
    return diou4(a->xmin, a->ymin, a->xmax, a->ymax, b->xmin, b->ymin, b->xmax, b->ymax);
}

/* What the first NMS needs of a box, in visiting order: 40 bytes instead of a whole box. */
struct nbox {
    double xmin, ymin, xmax, ymax;
    float obj;
    uint32_t src; /* index in the caller's array */
};

/* need_overlap: every level's threshold is >= 0, so boxes that do not overlap (IoU 0, DIoU <= 0)
 * cannot be suppressed and skip the DIoU. */
static int suppressed(const struct nbox *keep, const struct nbox *other,
                      const struct otf_detect_level *levels, size_t n_levels, int need_overlap)
{
    int any = 0;
    for (size_t l = 0; l < n_levels; l++)
        any |= other->obj < levels[l].obj_below;
    if (!any)
        return 0;
    if (need_overlap && ((keep->xmax < other->xmax ? keep->xmax : other->xmax) <=
                             (keep->xmin > other->xmin ? keep->xmin : other->xmin) ||
                         (keep->ymax < other->ymax ? keep->ymax : other->ymax) <=
                             (keep->ymin > other->ymin ? keep->ymin : other->ymin)))
        return 0;
    double d = diou4(keep->xmin, keep->ymin, keep->xmax, keep->ymax, other->xmin, other->ymin,
                     other->xmax, other->ymax);
    for (size_t l = 0; l < n_levels; l++)
        if (d > levels[l].value && other->obj < levels[l].obj_below)
            return 1;
    return 0;
}

/* Distance beyond which no level can suppress, as a multiple of the sum of the two boxes'
 * half-diagonals: with c <= d + hd_a + hd_b, DIoU > t needs d < max(1, -t/(1+t)) (hd_a + hd_b)
 * (overlapping boxes have d < hd_a + hd_b; disjoint ones need d/c < -t). INFINITY when a level
 * lets every pair through (t <= -1). */
double detect_reach_factor(const struct otf_detect_level *levels, size_t n_levels)
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

/* Order of the boxes by objectness, highest first, ties in index order (the box np.argmax
 * picks first): keys hold the float's bits made monotonic (descending) above the index, and a
 * stable LSD radix sort on those upper 32 bits, 8 a pass, skips the passes where every key has
 * the same digit (objectness shares its top bits). keys[a] & 0xffffffff is then the index of
 * the a-th box; `tmp` is scratch of n keys. */
static void order_by_obj(const struct otf_detect_box *boxes, size_t n, uint64_t *keys,
                         uint64_t *tmp)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        float f = boxes[i].obj;
        memcpy(&u, &f, sizeof u);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending with the value */
        keys[i] = (uint64_t)~u << 32 | (uint64_t)i;     /* descending */
    }
    for (int shift = 32; shift < 64; shift += 8) {
        size_t count[256] = {0}, pos[256];
        size_t acc = 0;
        for (size_t i = 0; i < n; i++)
            count[keys[i] >> shift & 0xff]++;
        if (count[keys[0] >> shift & 0xff] == n)
            continue; /* one digit: the pass would change nothing */
        for (int d = 0; d < 256; d++) {
            pos[d] = acc;
            acc += count[d];
        }
        for (size_t i = 0; i < n; i++)
            tmp[pos[keys[i] >> shift & 0xff]++] = keys[i];
        memcpy(keys, tmp, n * sizeof *keys);
    }
}

size_t otf_detect_nms_first(struct otf_detect_box *boxes, size_t n,
                            const struct otf_detect_level *levels, size_t n_levels)
{
    struct nbox *nb;
    uint64_t *keys, *tmp_k;
    unsigned char *dead;
    size_t *head = NULL, *next = NULL, *cell = NULL;
    struct otf_detect_box *tmp;
    size_t n_keep = 0, gw = 1, gh = 1;
    double hd_max = 0, xlo = INFINITY, ylo = INFINITY, xhi = -INFINITY, yhi = -INFINITY, bucket;
    double factor = detect_reach_factor(levels, n_levels);
    int need_overlap = n_levels > 0;

    for (size_t l = 0; l < n_levels; l++)
        need_overlap &= levels[l].value >= 0;

    if (n == 0)
        return 0;
    OTF_ASSERT(n <= UINT32_MAX); /* one patch's candidates: grid cells x boxes per cell */
    keys = otf_xmalloc(n * sizeof(*keys));
    tmp_k = otf_xmalloc(n * sizeof(*tmp_k));
    nb = otf_xmalloc(n * sizeof(*nb));
    dead = otf_xcalloc(n, 1);
    tmp = otf_xmalloc(n * sizeof(*tmp));
    /* Visiting boxes by decreasing objectness is CIANNA's repeated argmax over the survivors:
     * a suppressed box is never picked, and every pick is the best box still alive. From here
     * on a box is known by its place a in that order. */
    order_by_obj(boxes, n, keys, tmp_k);
    for (size_t a = 0; a < n; a++) {
        const uint32_t src = (uint32_t)keys[a];
        const struct otf_detect_box *b = &boxes[src];
        double cx = (b->xmin + b->xmax) * 0.5, cy = (b->ymin + b->ymax) * 0.5;
        double w = b->xmax - b->xmin, h = b->ymax - b->ymin, hd = 0.5 * sqrt(w * w + h * h);
        nb[a] = (struct nbox){b->xmin, b->ymin, b->xmax, b->ymax, b->obj, src};
        hd_max = hd > hd_max ? hd : hd_max;
        xlo = cx < xlo ? cx : xlo;
        xhi = cx > xhi ? cx : xhi;
        ylo = cy < ylo ? cy : ylo;
        yhi = cy > yhi ? cy : yhi;
    }

    /* Buckets of side `bucket` >= the reach of any pair, so a box can only suppress boxes in
     * its own and the 8 surrounding buckets (one bucket when the reach is unbounded). The
     * margin covers the rounding of the half-diagonals. */
    bucket = factor * 2.0 * hd_max * (1.0 + 1e-9);
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
        for (size_t a = n; a-- > 0;) {
            const struct nbox *b = &nb[a];
            size_t bx = (size_t)floor(((b->xmin + b->xmax) * 0.5 - xlo) / bucket);
            size_t by = (size_t)floor(((b->ymin + b->ymax) * 0.5 - ylo) / bucket);
            bx = bx >= gw ? gw - 1 : bx;
            by = by >= gh ? gh - 1 : by;
            cell[a] = by * gw + bx;
            next[a] = head[cell[a]];
            head[cell[a]] = a;
        }
    }
    for (size_t a = 0; a < n; a++) {
        const struct nbox *k = &nb[a];
        if (dead[a])
            continue;
        tmp[n_keep++] = boxes[k->src];
        if (!head) {
            for (size_t b = a + 1; b < n; b++)
                if (!dead[b] && suppressed(k, &nb[b], levels, n_levels, need_overlap))
                    dead[b] = 1;
            continue;
        }
        /* A box is needed again only while it is alive and after the current one in the
         * order: the others (visited, or suppressed) leave their bucket's list as the walk meets
         * them, so each list shrinks as the NMS goes on instead of being walked whole for every
         * box kept near it. */
        size_t cx = cell[a] % gw, cy = cell[a] / gw;
        for (size_t y = cy ? cy - 1 : 0; y <= cy + 1 && y < gh; y++)
            for (size_t x = cx ? cx - 1 : 0; x <= cx + 1 && x < gw; x++)
                for (size_t *pj = &head[y * gw + x]; *pj != SIZE_MAX;) {
                    size_t j = *pj;
                    if (j > a && !dead[j] && suppressed(k, &nb[j], levels, n_levels, need_overlap))
                        dead[j] = 1;
                    if (j <= a || dead[j])
                        *pj = next[j]; /* unlinked */
                    else
                        pj = &next[j];
                }
    }
    memcpy(boxes, tmp, n_keep * sizeof(*tmp));
    free(keys);
    free(tmp_k);
    free(nb);
    free(dead);
    free(tmp);
    free(head);
    free(next);
    free(cell);
    return n_keep;
}
