/* detect: a FITS image -> a catalogue of detections, the way YOLO-CIANNA's SDC1 pipeline does it
 * (DESIGN §2, §5; reference cianna-format.md §7.3 and §10): normalise, tile into overlapping
 * patches that cover the whole image or region, batched forward through the engine, YOLO decode,
 * per-detector objectness thresholds, median-brightness rejection, DIoU NMS inside each patch
 * and across neighbouring patches, a border policy on the distance to the image edge, then
 * pixel -> sky and extra parameters in physical units. Design notes: docs/internals/detect.md.
 *
 * Streaming: an image is read in bands of patch_h rows, so memory is bounded by one band plus
 * the micro-batch, never the whole image. Patch production and collection are two objects so a
 * caller may interleave patches of several images in one micro-batch:
 *   - a patch source (one per image) yields normalised patches in index order;
 *   - a collector (one per image) takes each patch's decoded engine output, keeps the boxes
 *     that survive the first NMS, and at the end runs the second NMS and builds the catalogue.
 * otf_detect_run_image() drives both through one engine for one image.
 *
 * Threads: a source borrows an open struct otf_fits_image and a collector borrows nothing
 * but its config; each belongs to one thread at a time (the image's rules, fits.h). Pure
 * functions (tiling, NMS, normalisation) are thread-safe.
 *
 *   struct otf_detect_config cfg;
 *   otf_detect_config_from_model(manifest, net, &cfg, eb);
 *   struct otf_detect_run_params rp = {0};
 *   struct otf_detect_catalog *cat = NULL;
 *   if (otf_detect_run_image(eng, img, wcs, &cfg, &rp, &cat, NULL, eb) == OTF_OK)
 *       printf("%zu sources\n", cat->n);
 *   otf_detect_catalog_free(cat);
 */
#ifndef OTF_DETECT_H
#define OTF_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "engine/engine.h"
#include "fits/fits.h"
#include "model/model.h"

#define OTF_DETECT_MAX_LEVELS  8                   /* levels of the median and first-NMS tables */
#define OTF_DETECT_MAX_BOX     OTF_MODEL_MAX_BOXES /* detectors (YOLO boxes) per cell */
#define OTF_DETECT_MAX_PARAMS  OTF_MODEL_MAX_EXTRA /* extra YOLO parameters */
#define OTF_DETECT_MAX_CLASSES 256
#define OTF_DETECT_MAX_PATCH   8192               /* largest patch side, pixels */
#define OTF_DETECT_MAX_PATCHES ((int64_t)1 << 24) /* patches per image */
#define OTF_DETECT_MAX_BAND    ((size_t)1 << 30)  /* bytes of one band of rows */
#define OTF_DETECT_MAX_ROWS    ((size_t)64 << 20) /* detections kept per image */
#define OTF_DETECT_SAMPLES     ((size_t)1 << 20)  /* default percentile subsample size */

/* One level of a threshold table: the test fires when a measure exceeds `value` while the box's
 * objectness is below `obj_below` (CIANNA's val_med_lims/val_med_obj and
 * first_nms_thresholds/first_nms_obj_thresholds pairs). */
struct otf_detect_level {
    double value;
    double obj_below;
};

/* How an extra-parameter column is turned into a catalogue column. */
struct otf_detect_param {
    char name[32];                            /* e.g. "flux" */
    char unit[32];                            /* VOUnit, e.g. "Jy"; "" if none */
    enum otf_model_param_transform transform; /* from the manifest */
    double min, max;                          /* of the *_MINMAX transforms */
};

/* Effective detection parameters (plain values, copied by value). Filled from a model by
 * otf_detect_config_from_model(); callers may then override fields. */
struct otf_detect_config {
    /* tiling (reference §10: 512-px patches, 32-px overlap, centred origin) */
    int patch_w, patch_h; /* inference patch, pixels */
    int overlap_pix;      /* between neighbouring patches, pixels (< patch/2) */

    /* normalisation x = tanh(gain*(clip(v,lo,hi)-lo)/(hi-lo)) */
    double norm_gain;
    enum otf_model_norm_bounds norm_bounds; /* FIXED: lo/hi in image units; PERCENTILE: 0..100 */
    double norm_lo, norm_hi;
    float fill_value;          /* normalised value given to NaN/blank pixels (default 0) */
    size_t percentile_samples; /* target subsample size for percentile bounds */

    /* YOLO layout of the engine's decoded output */
    int nb_box, nb_class, nb_param;
    int grid_w, grid_h; /* output grid of one patch */

    /* post-processing */
    double obj_threshold[OTF_DETECT_MAX_BOX]; /* per detector: keep when obj >= threshold */
    double min_box_pix;                       /* boxes rebuilt from min/max are at least this */
    double edge_cell_penalty; /* subtracted from prob and obj of grid-border cells (>= 0.03) */
    int median_margin_pix;    /* margin around a box for the median test, pixels */
    size_t n_median;          /* levels of the median-brightness rejection (0 = off) */
    struct otf_detect_level median[OTF_DETECT_MAX_LEVELS];
    size_t n_nms_first; /* levels of the first (intra-patch) NMS; DIoU thresholds */
    struct otf_detect_level nms_first[OTF_DETECT_MAX_LEVELS];
    double nms_second; /* DIoU threshold of the second (inter-patch) NMS */
    enum otf_model_border_policy border;
    int border_pix; /* distance of a centre to the image edge, pixels */

    /* extra parameters, in YOLO column order */
    size_t n_params;
    struct otf_detect_param params[OTF_DETECT_MAX_PARAMS];
};

/* Fills `cfg` from a model: patch sizes, overlap, normalisation, thresholds, border policy and
 * parameter transforms from the manifest; the YOLO layout and output grid from the net at the
 * inference patch size. Manifest scalars map to one-level tables (docs/internals/detect.md).
 * Errors: OTF_E_FORMAT (net without a YOLO output, counts that disagree with the manifest,
 * patch sizes out of range), OTF_E_INVAL. */
enum otf_status otf_detect_config_from_model(const struct otf_model_manifest *m,
                                             const struct otf_model_net *net,
                                             struct otf_detect_config *cfg, struct otf_errbuf *eb);

/* Checks a config's values (sizes, overlap, thresholds, table lengths). OTF_E_INVAL with the
 * field named in `eb`. */
enum otf_status otf_detect_config_check(const struct otf_detect_config *cfg, struct otf_errbuf *eb);

/* ---- tiling ---- */

/* The patch grid of an image or region. Patch (px, py), index py*nx + px, covers pixels
 * [x0 + px*shift_x, + patch_w) x [y0 + py*shift_y, + patch_h); pixels outside the image are
 * zero. One patch is centred on the region's centre, and every region pixel lies in the
 * interior [start + overlap/2, start + overlap/2 + shift) of exactly one patch. */
struct otf_detect_geometry {
    int64_t img_w, img_h; /* image size, pixels */
    int64_t roi[4];       /* region covered: x0, y0, x1, y1 (0-based, end exclusive) */
    int patch_w, patch_h, overlap_pix;
    int64_t shift_x, shift_y; /* patch step: patch - overlap */
    int64_t x0, y0;           /* first pixel of patch (0, 0); may be negative */
    int64_t nx, ny;           /* patches per row and per column */
};

/* Plans the patch grid for an img_w x img_h image and region `roi` (NULL = whole image; else
 * x0, y0, x1, y1, end exclusive, inside the image). Errors: OTF_E_INVAL (bad sizes, empty or
 * outside region), OTF_E_LIMIT (more than OTF_DETECT_MAX_PATCHES patches). */
enum otf_status otf_detect_plan_tiles(int64_t img_w, int64_t img_h, const int64_t roi[4],
                                      int patch_w, int patch_h, int overlap_pix,
                                      struct otf_detect_geometry *g, struct otf_errbuf *eb);

/* Image position of the first pixel of patch `index`. */
void otf_detect_patch_origin(const struct otf_detect_geometry *g, int64_t index, int64_t *x0,
                             int64_t *y0);

/* ---- normalisation ---- */

/* v -> tanh(gain*(clip(v,lo,hi)-lo)/(hi-lo)); NaN -> fill. In place on n values. */
void otf_detect_normalise(float *v, size_t n, double lo, double hi, double gain, float fill);

/* The q-th percentile (0..100) of n values with numpy's default linear interpolation between
 * order statistics; reorders `v`. n >= 1. */
double otf_detect_percentile(float *v, size_t n, double q);

/* Percentile bounds of the region of `img`, computed on a regular subsample of about
 * `n_samples` finite pixels read row by row (never the whole image). Errors: OTF_E_FORMAT when
 * the region holds no finite pixel, read errors from fits. */
enum otf_status otf_detect_percentile_bounds(struct otf_fits_image *img, const int64_t roi[4],
                                             double q_lo, double q_hi, size_t n_samples, double *lo,
                                             double *hi, struct otf_errbuf *eb);

/* ---- boxes and NMS (exposed for tests and for the worker's batching) ---- */

/* A box in pixel coordinates of CIANNA's convention (pixel i spans [i, i+1)). */
struct otf_detect_box {
    double xmin, ymin, xmax, ymax;
    float obj, prob;
    int detector; /* YOLO box index */
    int class_id; /* argmax class, -1 when the model has none */
    int64_t patch;
    float params[OTF_DETECT_MAX_PARAMS]; /* raw network values, [0, nb_param) */
};

/* CIANNA's DIoU: IoU - d/c with d the (unsquared) distance between the centres and c the
 * diagonal of the enclosing box. */
double otf_detect_diou(const struct otf_detect_box *a, const struct otf_detect_box *b);

/* First NMS over n candidate boxes of one patch: repeatedly keeps the highest objectness (ties:
 * the earlier box) and removes every remaining box i for which some level l has
 * DIoU > levels[l].value and obj_i < levels[l].obj_below. Kept boxes are moved to the front in
 * keep order; returns their count. n < 2^32 (the candidates of one patch). */
size_t otf_detect_nms_first(struct otf_detect_box *boxes, size_t n,
                            const struct otf_detect_level *levels, size_t n_levels);

/* ---- patch source ---- */

struct otf_detect_source;

/* A source of normalised patches for `img` (borrowed; must outlive the source and is used by
 * the source's thread only) and region `roi` (NULL = whole image). With percentile bounds this
 * first streams a subsample of the region. *out is freed with otf_detect_source_free. Errors:
 * as otf_detect_plan_tiles and otf_detect_percentile_bounds, OTF_E_NOMEM. */
enum otf_status otf_detect_source_new(struct otf_fits_image *img,
                                      const struct otf_detect_config *cfg, const int64_t roi[4],
                                      struct otf_detect_source **out, struct otf_errbuf *eb);

/* The grid being produced (borrowed; valid until the source is freed). */
const struct otf_detect_geometry *otf_detect_source_geometry(const struct otf_detect_source *s);

/* Effective normalisation bounds in image units (the percentiles resolved). */
void otf_detect_source_bounds(const struct otf_detect_source *s, double *lo, double *hi);

/* Writes the next patch (patch_h rows of patch_w floats, row-major: what the engine takes for
 * one channel) into `patch` and its index into *index; *index = -1 when every patch was given.
 * Reads a new band of rows when the patch row changes. Errors: fits read errors, OTF_E_NOMEM. */
enum otf_status otf_detect_source_next(struct otf_detect_source *s, float *patch, int64_t *index,
                                       struct otf_errbuf *eb);

/* Has `fn(user, y, x0, n, row)` called for every image row the source reads, before it is
 * normalised: `n` pixels of image row `y` from column `x0` (blank pixels still NaN). Each row
 * comes once, in increasing y (the rows that bands share are moved, not read again), on the
 * thread that calls otf_detect_source_next. NULL fn: none. */
void otf_detect_source_on_row(struct otf_detect_source *s,
                              void (*fn)(void *user, int64_t y, int64_t x0, int64_t n,
                                         const float *row),
                              void *user);

/* Microseconds spent reading and normalising bands so far. */
int64_t otf_detect_source_read_us(const struct otf_detect_source *s);

void otf_detect_source_free(struct otf_detect_source *s);

/* ---- collector and catalogue ---- */

/* One catalogue row. Positions are 0-based pixel centres of the image (FITS pixel - 1). */
struct otf_detection {
    int64_t id;          /* 1-based, in catalogue order */
    double x, y;         /* box centre, pixels */
    double lon, lat;     /* sky position, deg, image frame (RA/Dec for equatorial); NaN
                            without WCS */
    float width, height; /* box size, pixels */
    float objectness;    /* YOLO objectness (0..1) */
    float probability;   /* YOLO probability column (0..1) */
    int detector;        /* YOLO box index (0-based) */
    int class_id;        /* argmax class, -1 without classes */
    int is_partial;      /* centre within border_pix of the image edge (border=partial) */
    int64_t patch;       /* index of the patch it came from */
    float pa_image_deg;  /* PA in the image frame (from cos/sin), NaN when not predicted */
    float yaxis_pa_deg;  /* PA east of north of the +y pixel axis here, NaN without WCS */
};

/* Kind of a de-normalised value column. */
enum otf_detect_col_kind {
    OTF_DETECT_COL_VALUE = 0, /* plain de-normalised value */
    OTF_DETECT_COL_PA = 1,    /* position angle east of north on the sky, deg, (-180, 180] */
};

struct otf_detect_column {
    char name[32];
    char unit[32];
    enum otf_detect_col_kind kind;
};

/* The catalogue of one image. */
struct otf_detect_catalog {
    size_t n;                   /* rows */
    struct otf_detection *rows; /* [n], objectness descending, ties by y, x, detector */
    size_t n_cols;              /* extra value columns */
    struct otf_detect_column cols[OTF_DETECT_MAX_PARAMS];
    float *values;                       /* [n][n_cols]; NaN where not defined */
    int has_classes;                     /* the model predicts classes (class_id meaningful) */
    int has_partial;                     /* border policy PARTIAL (is_partial meaningful) */
    int has_sky;                         /* lon/lat filled from a WCS */
    char frame[16];                      /* otf_fits_wcs_frame(); "" without WCS */
    double equinox;                      /* years, NaN when not applicable */
    double pixel_scale_deg;              /* deg/pixel at the reference pixel; NaN without WCS */
    struct otf_detect_geometry geometry; /* the grid that produced it */
    double norm_lo, norm_hi;             /* effective normalisation bounds, image units */
    size_t n_candidates;                 /* boxes above threshold before any rejection */
    size_t n_after_first_nms;            /* boxes after the first NMS */
};

void otf_detect_catalog_free(struct otf_detect_catalog *cat);

struct otf_detect_collector;

/* A collector for the patches of one grid (copied). *out is freed with
 * otf_detect_collector_free. Errors: OTF_E_INVAL (config). */
enum otf_status otf_detect_collector_new(const struct otf_detect_config *cfg,
                                         const struct otf_detect_geometry *g,
                                         struct otf_detect_collector **out, struct otf_errbuf *eb);

/* Takes patch `index`'s normalised input (borrowed, patch_h x patch_w) and its decoded engine
 * output (borrowed; [nb_box*(8+nb_class+nb_param)][grid_h][grid_w], engine.h DECODED): keeps
 * boxes at or above their detector's threshold, drops those over bright extended emission,
 * runs the first NMS and stores the survivors. Patches may arrive in any order, each once.
 * Errors: OTF_E_INVAL (index out of range or given twice), OTF_E_LIMIT (too many rows). */
enum otf_status otf_detect_collector_add(struct otf_detect_collector *c, int64_t index,
                                         const float *patch, const float *decoded,
                                         struct otf_errbuf *eb);

/* Runs the second NMS across neighbouring patches, applies the border policy and the region,
 * converts to image pixels and, with `wcs` (may be NULL; used by this thread only), to the sky,
 * de-normalises the extra parameters and sorts. *out is written only on success. Errors:
 * OTF_E_STATE (a patch is missing), OTF_E_FORMAT (WCS failure), OTF_E_NOMEM. */
enum otf_status otf_detect_collector_finish(struct otf_detect_collector *c,
                                            struct otf_fits_wcs *wcs,
                                            struct otf_detect_catalog **out, struct otf_errbuf *eb);

void otf_detect_collector_free(struct otf_detect_collector *c);

/* ---- one image through one engine ---- */

/* Progress: `done` of `total` units of `stage` ("bounds", "patches", "finish"). */
typedef void otf_detect_progress_fn(void *user, int64_t done, int64_t total, const char *stage);
/* Abort check, called between micro-batches: nonzero stops the run. */
typedef int otf_detect_abort_fn(void *user);

struct otf_detect_run_params {
    const int64_t *roi;               /* x0, y0, x1, y1 or NULL for the whole image */
    int batch;                        /* patches per forward, <= the engine's batch_max (0 = 1) */
    otf_detect_progress_fn *progress; /* (optional) */
    otf_detect_abort_fn *abort;       /* (optional) */
    void *user;                       /* passed to both */
};

/* Time spent per stage, microseconds (wall clock, this thread). */
struct otf_detect_timings {
    int64_t bounds_us;  /* percentile subsample pass */
    int64_t read_us;    /* band reads and normalisation */
    int64_t patch_us;   /* copying patches into the batch */
    int64_t forward_us; /* engine forward, decode included */
    int64_t collect_us; /* thresholds, median test, first NMS */
    int64_t finish_us;  /* second NMS, border, sky, parameters, sort */
    int64_t total_us;
    int64_t n_patches, n_batches;
};

/* Runs the whole pipeline on `img` with `eng` (whose input size must be cfg's patch size) and
 * returns the catalogue. `wcs` may be NULL (pixel positions only). Calls rp->progress after
 * every micro-batch and rp->abort before each. *out is written only on success; `t` (may be
 * NULL) is filled either way. Errors: OTF_E_INVAL (engine/config mismatch), OTF_E_STATE
 * "aborted" when rp->abort asked for it, and the errors of the steps above. */
enum otf_status otf_detect_run_image(struct otf_engine *eng, struct otf_fits_image *img,
                                     struct otf_fits_wcs *wcs, const struct otf_detect_config *cfg,
                                     const struct otf_detect_run_params *rp,
                                     struct otf_detect_catalog **out, struct otf_detect_timings *t,
                                     struct otf_errbuf *eb);

#endif
