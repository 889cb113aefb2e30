/* detect: one image through one engine. Patches go through the engine in micro-batches of
 * `batch`; progress is reported and the abort check runs between micro-batches, so a worker
 * can stop a job within one forward. */
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"

enum otf_status otf_detect_run_image(struct otf_engine *eng, struct otf_fits_image *img,
                                     struct otf_fits_wcs *wcs, const struct otf_detect_config *cfg,
                                     const struct otf_detect_run_params *rp,
                                     struct otf_detect_catalog **out, struct otf_detect_timings *t,
                                     struct otf_errbuf *eb)
{
    struct otf_detect_run_params none = {0};
    struct otf_detect_timings tm = {0};
    struct otf_detect_source *src = NULL;
    struct otf_detect_collector *col = NULL;
    struct otf_detect_catalog *cat = NULL;
    const struct otf_detect_geometry *g;
    float *in = NULL, *res = NULL;
    int64_t *idx = NULL, total, done = 0;
    size_t in_sz, out_sz, patch_sz;
    int batch;
    int64_t t_start = otf_time_mono_us(), t0;
    struct otf_model_shape osh;
    enum otf_status rc;

    if (!rp)
        rp = &none;
    rc = otf_detect_config_check(cfg, eb);
    if (rc != OTF_OK)
        goto out;
    patch_sz = (size_t)cfg->patch_w * (size_t)cfg->patch_h;
    in_sz = otf_engine_input_size(eng);
    out_sz = otf_engine_output_size(eng);
    osh = otf_engine_output_shape(eng);
    if (in_sz != patch_sz || osh.w != cfg->grid_w || osh.h != cfg->grid_h ||
        out_sz != (size_t)cfg->nb_box * (size_t)(8 + cfg->nb_class + cfg->nb_param) *
                      (size_t)cfg->grid_w * (size_t)cfg->grid_h) {
        rc = OTF_FAIL(eb, OTF_E_INVAL,
                      "engine takes %zu floats and gives a %dx%d grid; detection expects a %dx%d "
                      "patch and a %dx%d grid",
                      in_sz, osh.w, osh.h, cfg->patch_w, cfg->patch_h, cfg->grid_w, cfg->grid_h);
        goto out;
    }
    batch = rp->batch > 0 ? rp->batch : 1;

    t0 = otf_time_mono_us();
    if (rp->progress)
        rp->progress(rp->user, 0, 1, "bounds");
    rc = otf_detect_source_new(img, cfg, rp->roi, &src, eb);
    tm.bounds_us = otf_time_mono_us() - t0;
    if (rc != OTF_OK)
        goto out;
    g = otf_detect_source_geometry(src);
    rc = otf_detect_collector_new(cfg, g, &col, eb);
    if (rc != OTF_OK)
        goto out;
    total = g->nx * g->ny;
    if (batch > total)
        batch = (int)total;
    in = otf_malloc((size_t)batch * patch_sz * sizeof(float));
    res = otf_malloc((size_t)batch * out_sz * sizeof(float));
    idx = otf_xmalloc((size_t)batch * sizeof(*idx));
    if (!in || !res) {
        rc = OTF_FAIL(eb, OTF_E_NOMEM, "no memory for a batch of %d patches", batch);
        goto out;
    }
    if (rp->progress)
        rp->progress(rp->user, 0, total, "patches");
    while (done < total) {
        int n = 0;
        if (rp->abort && rp->abort(rp->user)) {
            rc = OTF_FAIL(eb, OTF_E_STATE, "aborted after %lld of %lld patches", (long long)done,
                          (long long)total);
            goto out;
        }
        t0 = otf_time_mono_us();
        int64_t r0 = otf_detect_source_read_us(src);
        while (n < batch) {
            rc = otf_detect_source_next(src, in + (size_t)n * patch_sz, &idx[n], eb);
            if (rc != OTF_OK)
                goto out;
            if (idx[n] < 0)
                break;
            n++;
        }
        int64_t dr = otf_detect_source_read_us(src) - r0;
        tm.read_us += dr;
        tm.patch_us += otf_time_mono_us() - t0 - dr;
        if (n == 0)
            break;
        t0 = otf_time_mono_us();
        rc = otf_engine_forward(eng, in, n, res, OTF_ENGINE_STAGE_DECODED, eb);
        tm.forward_us += otf_time_mono_us() - t0;
        if (rc != OTF_OK)
            goto out;
        tm.n_batches++;
        t0 = otf_time_mono_us();
        for (int i = 0; i < n; i++) {
            rc = otf_detect_collector_add(col, idx[i], in + (size_t)i * patch_sz,
                                          res + (size_t)i * out_sz, eb);
            if (rc != OTF_OK)
                goto out;
        }
        tm.collect_us += otf_time_mono_us() - t0;
        done += n;
        tm.n_patches = done;
        if (rp->progress)
            rp->progress(rp->user, done, total, "patches");
    }
    t0 = otf_time_mono_us();
    if (rp->progress)
        rp->progress(rp->user, 0, 1, "finish");
    rc = otf_detect_collector_finish(col, wcs, &cat, eb);
    tm.finish_us = otf_time_mono_us() - t0;
    if (rc != OTF_OK)
        goto out;
    otf_detect_source_bounds(src, &cat->norm_lo, &cat->norm_hi);
    if (rp->progress)
        rp->progress(rp->user, 1, 1, "finish");
    *out = cat;
    cat = NULL;
out:
    tm.total_us = otf_time_mono_us() - t_start;
    if (t)
        *t = tm;
    otf_detect_catalog_free(cat);
    otf_detect_collector_free(col);
    otf_detect_source_free(src);
    otf_free(in);
    otf_free(res);
    free(idx);
    return rc;
}
