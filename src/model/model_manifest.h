/* model folders: models/<id>/model.ini (DESIGN §5) next to a CIANNA weight file. The manifest
 * holds what the weights do not: patch sizes, normalisation, post-processing thresholds,
 * extra-parameter meaning, precisions, weights SHA-256, licence and training-data card.
 * Specified in docs/formats/model-manifest.md. Included by model/model.h.
 *
 * Threads: no shared state; a loaded manifest is read-only.
 *
 *   struct otf_model_card *cards = NULL; size_t n = 0;
 *   if (otf_model_scan_dir("models", &cards, &n, &eb) == OTF_OK)
 *       for (size_t i = 0; i < n; i++) puts(cards[i].card_json);
 *   otf_model_cards_free(cards, n);
 */
#ifndef OTF_MODEL_MANIFEST_H
#define OTF_MODEL_MANIFEST_H

#include <stddef.h>

#include "core/core.h"

struct otf_model_net;

#define OTF_MODEL_MANIFEST_NAME "model.ini"
#define OTF_MODEL_MANIFEST_MAX  ((size_t)1 << 20) /* bytes of model.ini */
#define OTF_MODEL_MAX_EXTRA     32                /* extra YOLO parameters described */
#define OTF_MODEL_MAX_MODELS    4096              /* folders scanned in one models dir */

enum otf_model_norm_bounds {
    OTF_MODEL_NORM_FIXED = 0,      /* lo and hi in image units (e.g. Jy/beam) */
    OTF_MODEL_NORM_PERCENTILE = 1, /* lo and hi are percentiles (0..100) of the image */
};

/* How an extra YOLO parameter p (trained in about [0,1]) maps back to a physical value. */
enum otf_model_param_transform {
    OTF_MODEL_PARAM_IDENTITY = 0,     /* v = p */
    OTF_MODEL_PARAM_MINMAX = 1,       /* v = min + p*(max-min) */
    OTF_MODEL_PARAM_LN_MINMAX = 2,    /* v = exp(min + p*(max-min)) */
    OTF_MODEL_PARAM_LOG10_MINMAX = 3, /* v = 10^(min + p*(max-min)) */
    OTF_MODEL_PARAM_COS_PA = 4,       /* p = cos(PA); combined with SIN_PA_HALF into PA */
    OTF_MODEL_PARAM_SIN_PA_HALF = 5,  /* p = (sin(PA)+1)/2 */
};

enum otf_model_border_policy {
    OTF_MODEL_BORDER_KEEP = 0,    /* keep detections touching the image edge */
    OTF_MODEL_BORDER_DROP = 1,    /* drop detections whose centre lies within border_pix */
    OTF_MODEL_BORDER_PARTIAL = 2, /* keep, flagged as partial in the catalogue */
};

struct otf_model_param_desc {
    char *name; /* e.g. "flux" */
    char *unit; /* e.g. "Jy", "arcsec", "deg"; "" if none */
    enum otf_model_param_transform transform;
    double min, max; /* for the *_MINMAX transforms */
};

/* A parsed model.ini. Every string is owned by the manifest; "" when absent. */
struct otf_model_manifest {
    char *id;  /* folder name (a safe name) */
    char *dir; /* folder path as given to the loader */
    char *description;
    char *licence;
    char *training_data;                  /* training-data card, free text */
    char *weights_file;                   /* file name inside dir (no '/') */
    char weights_sha256[65];              /* lower-case hex, "" when the manifest states none */
    enum otf_model_format weights_format; /* from "format", AUTO by default */

    int in_channels;                  /* C */
    int train_patch_w, train_patch_h; /* pixels */
    int infer_patch_w, infer_patch_h; /* pixels */
    int overlap_pix;                  /* between inference patches */
    float input_bias;                 /* CIANNA init bias (default 0.1) */

    /* normalisation: x = tanh(gain*(clip(v,lo,hi)-lo)/(hi-lo)) */
    double norm_gain;
    enum otf_model_norm_bounds norm_bounds;
    double norm_lo, norm_hi;

    /* YOLO facts not in the weights; 0 = not stated (the weights tell nb_box etc.) */
    int nb_box, nb_class, nb_param;
    double min_box_pix; /* minimum box side when boxes are rebuilt from min/max */
    int max_obj_per_patch;

    /* post-processing */
    double *obj_threshold; /* [n_obj_threshold], per detector (box); one value = all boxes */
    size_t n_obj_threshold;
    double median_reject_lo, median_reject_hi; /* 0,0 = no median-brightness rejection */
    double nms_diou_first, nms_diou_second;    /* DIoU thresholds of the two NMS passes */
    enum otf_model_border_policy border;
    int border_pix;

    struct otf_model_param_desc *params; /* [n_params], extra YOLO parameters in column order */
    size_t n_params;

    char **precisions; /* e.g. "fp32", "bf16"; at least "fp32" */
    size_t n_precisions;
};

/* The public card of a model, served by the HTTP API (fast: no weights are read). */
struct otf_model_card {
    char *id;
    char *description;
    int patch_w, patch_h; /* inference patch size, pixels */
    int in_channels;
    char **precisions;
    size_t n_precisions;
    char *card_json; /* the full card as a JSON object text (id, description, input and
                        inference sizes, precisions, parameters with defaults, licence,
                        weights sha256 as stated in the manifest); never weights */
};

/* Reads and validates <model_dir>/model.ini (no weights are read). id = last component of
 * model_dir and must be a safe name. *out is freed with otf_model_manifest_free.
 * Errors: OTF_E_NOTFOUND (no model.ini), OTF_E_FORMAT (bad value, `eb` names the key),
 * OTF_E_LIMIT, OTF_E_IO. */
enum otf_status otf_model_manifest_load(const char *model_dir, struct otf_model_manifest **out,
                                        struct otf_errbuf *eb);

/* Parses manifest text (INI) for folder `id`; `dir` may be NULL. Same errors as above. */
enum otf_status otf_model_manifest_parse(const char *text, size_t len, const char *id,
                                         const char *dir, struct otf_model_manifest **out,
                                         struct otf_errbuf *eb);

void otf_model_manifest_free(struct otf_model_manifest *m);

/* Writes `m` as model.ini text (the inverse of parse); caller frees *out with free(). */
enum otf_status otf_model_manifest_write_ini(const struct otf_model_manifest *m, char **out,
                                             struct otf_errbuf *eb);

/* The card JSON object of `m` (text, caller frees with free()). */
char *otf_model_manifest_card_json(const struct otf_model_manifest *m);

/* Loads a whole model folder: manifest, weights (SHA-256 checked when stated, mismatch is
 * OTF_E_FORMAT) and consistency (channels, YOLO counts vs the weights, both patch sizes give
 * valid shapes). *m_out and *net_out are written only on success. */
enum otf_status otf_model_load_dir(const char *model_dir, struct otf_model_manifest **m_out,
                                   struct otf_model_net **net_out, struct otf_errbuf *eb);

/* One card per valid models_dir/<id>/ folder, sorted by id; invalid folders are skipped with
 * otf_log_warn. Reads manifests only. A missing or unreadable models_dir is OTF_E_NOTFOUND /
 * OTF_E_IO. *out (possibly NULL with *n_out 0) is freed with otf_model_cards_free. */
enum otf_status otf_model_scan_dir(const char *models_dir, struct otf_model_card **out,
                                   size_t *n_out, struct otf_errbuf *eb);

void otf_model_cards_free(struct otf_model_card *cards, size_t n);

/* Reads the original OTF registry file CIANNA_models.xml (format in
 * docs/formats/model-manifest.md) into manifests, one per <Model> entry; `dir` of each is
 * NULL and weights_file is the entry's file name. *out is freed with
 * otf_model_manifests_free. OTF_E_FORMAT on malformed XML or missing required fields. */
enum otf_status otf_model_registry_read_xml(const char *path, struct otf_model_manifest ***out,
                                            size_t *n_out, struct otf_errbuf *eb);

void otf_model_manifests_free(struct otf_model_manifest **ms, size_t n);

/* Parses/prints the names used in model.ini: "identity", "minmax", "ln_minmax",
 * "log10_minmax", "cos_pa", "sin_pa_half" and "keep", "drop", "partial". */
enum otf_status otf_model_param_transform_parse(const char *s, enum otf_model_param_transform *out);
const char *otf_model_param_transform_name(enum otf_model_param_transform t);
const char *otf_model_border_policy_name(enum otf_model_border_policy b);

#endif
