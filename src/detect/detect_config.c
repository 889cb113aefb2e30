/* detect: effective detection parameters from a model folder (manifest + net). The manifest
 * gives single values for the median rejection and the first NMS; they become one-level tables
 * (docs/internals/detect.md says how CIANNA's multi-level tables map). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

enum otf_status otf_detect_config_from_model(const struct otf_model_manifest *m,
                                             const struct otf_model_net *net,
                                             struct otf_detect_config *cfg, struct otf_errbuf *eb)
{
    const struct otf_model_yolo *y = otf_model_net_yolo(net);
    struct otf_model_shape *sh = NULL;
    enum otf_status rc = OTF_OK;

    memset(cfg, 0, sizeof(*cfg));
    if (!y)
        return OTF_FAIL(eb, OTF_E_FORMAT, "model %s has no YOLO output layer", m->id);
    if ((m->nb_box && m->nb_box != y->nb_box) || (m->nb_class && m->nb_class != y->nb_class) ||
        (m->nb_param && m->nb_param != y->nb_param))
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "model %s: manifest YOLO counts (%d boxes, %d classes, %d params) differ "
                        "from the weights (%d, %d, %d)",
                        m->id, m->nb_box, m->nb_class, m->nb_param, y->nb_box, y->nb_class,
                        y->nb_param);
    if (y->nb_box < 1 || y->nb_box > OTF_DETECT_MAX_BOX || y->nb_param > OTF_DETECT_MAX_PARAMS ||
        y->nb_class > OTF_DETECT_MAX_CLASSES || y->nb_param < 0 || y->nb_class < 0)
        return OTF_FAIL(eb, OTF_E_FORMAT, "model %s: unsupported YOLO layout", m->id);
    if (m->n_params && m->n_params != (size_t)y->nb_param)
        return OTF_FAIL(eb, OTF_E_FORMAT, "model %s: %zu parameters described for %d predicted",
                        m->id, m->n_params, y->nb_param);

    cfg->patch_w = m->infer_patch_w;
    cfg->patch_h = m->infer_patch_h;
    cfg->overlap_pix = m->overlap_pix;
    cfg->norm_gain = m->norm_gain;
    cfg->norm_bounds = m->norm_bounds;
    cfg->norm_lo = m->norm_lo;
    cfg->norm_hi = m->norm_hi;
    cfg->fill_value = 0.0f;
    cfg->percentile_samples = OTF_DETECT_SAMPLES;
    cfg->nb_box = y->nb_box;
    cfg->nb_class = y->nb_class;
    cfg->nb_param = y->nb_param;

    sh = otf_xcalloc(net->n_layers + 1, sizeof(*sh));
    rc = otf_model_infer_shapes(net, cfg->patch_w, cfg->patch_h, 1, sh, eb);
    if (rc != OTF_OK)
        goto out;
    cfg->grid_w = sh[net->n_layers].w;
    cfg->grid_h = sh[net->n_layers].h;
    if (sh[net->n_layers].c != y->nb_box * (8 + y->nb_class + y->nb_param) ||
        sh[net->n_layers].d != 1) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "model %s: YOLO output has %d channels x %d depth", m->id,
                      sh[net->n_layers].c, sh[net->n_layers].d);
        goto out;
    }

    for (int b = 0; b < cfg->nb_box; b++) {
        if (m->n_obj_threshold == 0)
            cfg->obj_threshold[b] = 0.5;
        else if (m->n_obj_threshold == 1)
            cfg->obj_threshold[b] = m->obj_threshold[0];
        else if ((size_t)b < m->n_obj_threshold)
            cfg->obj_threshold[b] = m->obj_threshold[b];
        else
            cfg->obj_threshold[b] = m->obj_threshold[m->n_obj_threshold - 1];
    }
    cfg->min_box_pix = m->min_box_pix;
    /* CIANNA's SDC1 post-processing lowers the scores of grid-border cells by 0.05 (floor
     * 0.03): those cells see a truncated field, and the neighbouring patch sees them whole. */
    cfg->edge_cell_penalty = 0.05;
    cfg->median_margin_pix = 5;
    if (m->median_reject_lo > 0 || m->median_reject_hi > 0) {
        cfg->n_median = 1;
        cfg->median[0].value = m->median_reject_lo;
        cfg->median[0].obj_below = m->median_reject_hi;
    }
    cfg->n_nms_first = 1;
    cfg->nms_first[0].value = m->nms_diou_first;
    cfg->nms_first[0].obj_below = INFINITY; /* applies whatever the objectness */
    cfg->nms_second = m->nms_diou_second;
    cfg->border = m->border;
    cfg->border_pix = m->border_pix;

    cfg->n_params = (size_t)y->nb_param;
    for (size_t i = 0; i < cfg->n_params; i++) {
        struct otf_detect_param *p = &cfg->params[i];
        if (i < m->n_params) {
            copy_str(p->name, sizeof(p->name), m->params[i].name);
            copy_str(p->unit, sizeof(p->unit), m->params[i].unit);
            p->transform = m->params[i].transform;
            p->min = m->params[i].min;
            p->max = m->params[i].max;
        } else {
            snprintf(p->name, sizeof(p->name), "param%zu", i + 1);
            p->transform = OTF_MODEL_PARAM_IDENTITY;
            p->min = 0;
            p->max = 1;
        }
    }
    rc = otf_detect_config_check(cfg, eb);
out:
    free(sh);
    return rc;
}

enum otf_status otf_detect_config_check(const struct otf_detect_config *c, struct otf_errbuf *eb)
{
    if (c->patch_w < 1 || c->patch_h < 1 || c->patch_w > OTF_DETECT_MAX_PATCH ||
        c->patch_h > OTF_DETECT_MAX_PATCH)
        return OTF_FAIL(eb, OTF_E_INVAL, "patch size %dx%d out of range", c->patch_w, c->patch_h);
    if (c->overlap_pix < 0 || 2 * c->overlap_pix >= c->patch_w || 2 * c->overlap_pix >= c->patch_h)
        return OTF_FAIL(eb, OTF_E_INVAL, "overlap %d too large for a %dx%d patch", c->overlap_pix,
                        c->patch_w, c->patch_h);
    if (!(c->norm_lo < c->norm_hi) || !isfinite(c->norm_lo) || !isfinite(c->norm_hi))
        return OTF_FAIL(eb, OTF_E_INVAL, "normalisation bounds must satisfy lo < hi");
    if (c->norm_bounds == OTF_MODEL_NORM_PERCENTILE && (c->norm_lo < 0 || c->norm_hi > 100))
        return OTF_FAIL(eb, OTF_E_INVAL, "normalisation percentiles must lie in [0, 100]");
    if (!isfinite(c->norm_gain) || c->norm_gain <= 0)
        return OTF_FAIL(eb, OTF_E_INVAL, "normalisation gain must be > 0");
    if (c->nb_box < 1 || c->nb_box > OTF_DETECT_MAX_BOX || c->nb_class < 0 ||
        c->nb_class > OTF_DETECT_MAX_CLASSES || c->nb_param < 0 ||
        c->nb_param > OTF_DETECT_MAX_PARAMS || (size_t)c->nb_param != c->n_params)
        return OTF_FAIL(eb, OTF_E_INVAL, "YOLO layout: %d boxes, %d classes, %d parameters",
                        c->nb_box, c->nb_class, c->nb_param);
    if (c->grid_w < 1 || c->grid_h < 1 || c->grid_w > c->patch_w || c->grid_h > c->patch_h)
        return OTF_FAIL(eb, OTF_E_INVAL, "output grid %dx%d for a %dx%d patch", c->grid_w,
                        c->grid_h, c->patch_w, c->patch_h);
    for (int b = 0; b < c->nb_box; b++)
        if (!(c->obj_threshold[b] >= 0 && c->obj_threshold[b] <= 1))
            return OTF_FAIL(eb, OTF_E_INVAL, "objectness threshold of detector %d not in [0, 1]",
                            b);
    if (c->n_median > OTF_DETECT_MAX_LEVELS || c->n_nms_first > OTF_DETECT_MAX_LEVELS)
        return OTF_FAIL(eb, OTF_E_INVAL, "at most %d threshold levels", OTF_DETECT_MAX_LEVELS);
    if (!(c->min_box_pix >= 0) || !(c->edge_cell_penalty >= 0) || c->median_margin_pix < 0 ||
        c->border_pix < 0 || isnan(c->nms_second))
        return OTF_FAIL(eb, OTF_E_INVAL, "negative or NaN post-processing value");
    if (c->percentile_samples < 1)
        return OTF_FAIL(eb, OTF_E_INVAL, "percentile_samples must be >= 1");
    return OTF_OK;
}
