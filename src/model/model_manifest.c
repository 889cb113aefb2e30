/* model: model folders — model.ini manifests (docs/formats/model-manifest.md), their card as
 * JSON, the whole-folder loader (weights checked against the stated SHA-256) and the scan of a
 * models directory. Manifests are strict: an unknown section or key is an error, so a typo never
 * silently falls back to a default. */
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model_int.h"

static const char *const known_precisions[] = {"fp32", "bf16", "fp16", "int8"};

static const char *const transform_names[] = {"identity",     "minmax", "ln_minmax",
                                              "log10_minmax", "cos_pa", "sin_pa_half"};

static const char *const border_names[] = {"keep", "drop", "partial"};

enum otf_status otf_model_param_transform_parse(const char *s, enum otf_model_param_transform *out)
{
    for (size_t i = 0; i < sizeof(transform_names) / sizeof(transform_names[0]); i++)
        if (strcmp(s, transform_names[i]) == 0) {
            *out = (enum otf_model_param_transform)i;
            return OTF_OK;
        }
    return OTF_E_INVAL;
}

const char *otf_model_param_transform_name(enum otf_model_param_transform t)
{
    if ((size_t)t < sizeof(transform_names) / sizeof(transform_names[0]))
        return transform_names[t];
    return "?";
}

const char *otf_model_border_policy_name(enum otf_model_border_policy b)
{
    if ((size_t)b < sizeof(border_names) / sizeof(border_names[0]))
        return border_names[b];
    return "?";
}

void otf_model_manifest_free(struct otf_model_manifest *m)
{
    if (!m)
        return;
    free(m->id);
    free(m->dir);
    free(m->description);
    free(m->licence);
    free(m->training_data);
    free(m->weights_file);
    free(m->obj_threshold);
    for (size_t i = 0; i < m->n_params; i++) {
        free(m->params[i].name);
        free(m->params[i].unit);
    }
    free(m->params);
    for (size_t i = 0; i < m->n_precisions; i++)
        free(m->precisions[i]);
    free(m->precisions);
    free(m);
}

void otf_model_manifests_free(struct otf_model_manifest **ms, size_t n)
{
    if (!ms)
        return;
    for (size_t i = 0; i < n; i++)
        otf_model_manifest_free(ms[i]);
    free(ms);
}

/* ---- parsing ---- */

struct ini_ctx {
    struct otf_model_manifest *m;
    struct otf_errbuf *eb;
    enum otf_status rc;
    int has_weights, has_channels, has_infer, has_train;
};

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = otf_xstrdup(v);
}

static int bad(struct ini_ctx *c, const char *sec, const char *key, const char *why)
{
    c->rc = OTF_FAIL(c->eb, OTF_E_FORMAT, "[%s] %s: %s", sec, key, why);
    return 0;
}

static int get_int(const char *v, int lo, int hi, int *out)
{
    int64_t x;
    if (otf_str_to_i64(v, &x) != OTF_OK || x < lo || x > hi)
        return 0;
    *out = (int)x;
    return 1;
}

static int get_dbl(const char *v, double *out)
{
    return otf_str_to_double(v, out) == OTF_OK;
}

/* "256x256" or "256" (square). */
static int get_size(const char *v, int *w, int *h)
{
    const char *x = strchr(v, 'x');
    char tmp[32];

    if (!x)
        return get_int(v, 1, OTF_MODEL_MAX_DIM, w) && get_int(v, 1, OTF_MODEL_MAX_DIM, h);
    if ((size_t)(x - v) >= sizeof(tmp))
        return 0;
    memcpy(tmp, v, (size_t)(x - v));
    tmp[x - v] = '\0';
    return get_int(tmp, 1, OTF_MODEL_MAX_DIM, w) && get_int(x + 1, 1, OTF_MODEL_MAX_DIM, h);
}

/* Comma-separated numbers, at most `max`. Returns the count or -1. */
static long get_list(const char *v, double *out, size_t max)
{
    char *dup = otf_xstrdup(v), *save = NULL, *tok;
    long n = 0;

    for (tok = strtok_r(dup, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if ((size_t)n >= max || !get_dbl(tok, &out[n])) {
            n = -1;
            break;
        }
        n++;
    }
    free(dup);
    return n;
}

static int on_model(struct ini_ctx *c, const char *key, const char *v)
{
    struct otf_model_manifest *m = c->m;

    if (strcmp(key, "description") == 0) {
        set_str(&m->description, v);
    } else if (strcmp(key, "licence") == 0 || strcmp(key, "license") == 0) {
        set_str(&m->licence, v);
    } else if (strcmp(key, "training_data") == 0) {
        set_str(&m->training_data, v);
    } else if (strcmp(key, "weights") == 0) {
        if (!otf_str_is_safe_name(v))
            return bad(c, "model", key, "must be a plain file name in the model folder");
        set_str(&m->weights_file, v);
        c->has_weights = 1;
    } else if (strcmp(key, "weights_sha256") == 0) {
        if (strlen(v) != 64 || strspn(v, "0123456789abcdefABCDEF") != 64)
            return bad(c, "model", key, "must be 64 hex digits");
        for (int i = 0; i < 64; i++)
            m->weights_sha256[i] = (char)((v[i] >= 'A' && v[i] <= 'F') ? v[i] + 32 : v[i]);
        m->weights_sha256[64] = '\0';
    } else if (strcmp(key, "format") == 0) {
        if (strcmp(v, "auto") == 0)
            m->weights_format = OTF_MODEL_FORMAT_AUTO;
        else if (strcmp(v, "binary") == 0)
            m->weights_format = OTF_MODEL_FORMAT_BINARY;
        else if (strcmp(v, "text") == 0)
            m->weights_format = OTF_MODEL_FORMAT_TEXT;
        else
            return bad(c, "model", key, "must be auto, binary or text");
    } else if (strcmp(key, "precisions") == 0) {
        char *dup = otf_xstrdup(v), *save = NULL, *tok;
        for (size_t i = 0; i < m->n_precisions; i++)
            free(m->precisions[i]);
        m->n_precisions = 0;
        for (tok = strtok_r(dup, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
            size_t k, nk = sizeof(known_precisions) / sizeof(known_precisions[0]);
            for (k = 0; k < nk && strcmp(tok, known_precisions[k]) != 0; k++)
                ;
            if (k == nk || m->n_precisions >= nk) {
                free(dup);
                return bad(c, "model", key, "must list fp32, bf16, fp16 or int8 once each");
            }
            for (size_t i = 0; i < m->n_precisions; i++)
                if (strcmp(m->precisions[i], tok) == 0) {
                    free(dup);
                    return bad(c, "model", key, "lists a precision twice");
                }
            m->precisions = otf_xrealloc(m->precisions, (m->n_precisions + 1) * sizeof(char *));
            m->precisions[m->n_precisions++] = otf_xstrdup(tok);
        }
        free(dup);
        if (m->n_precisions == 0)
            return bad(c, "model", key, "is empty");
    } else {
        return bad(c, "model", key, "unknown key");
    }
    return 1;
}

static int on_input(struct ini_ctx *c, const char *key, const char *v)
{
    struct otf_model_manifest *m = c->m;
    double d;

    if (strcmp(key, "channels") == 0) {
        if (!get_int(v, 1, OTF_MODEL_MAX_DIM, &m->in_channels))
            return bad(c, "input", key, "must be an integer >= 1");
        c->has_channels = 1;
    } else if (strcmp(key, "train_patch") == 0) {
        if (!get_size(v, &m->train_patch_w, &m->train_patch_h))
            return bad(c, "input", key, "must be WxH pixels");
        c->has_train = 1;
    } else if (strcmp(key, "infer_patch") == 0) {
        if (!get_size(v, &m->infer_patch_w, &m->infer_patch_h))
            return bad(c, "input", key, "must be WxH pixels");
        c->has_infer = 1;
    } else if (strcmp(key, "overlap") == 0) {
        if (!get_int(v, 0, OTF_MODEL_MAX_DIM, &m->overlap_pix))
            return bad(c, "input", key, "must be an integer >= 0 (pixels)");
    } else if (strcmp(key, "input_bias") == 0) {
        if (!get_dbl(v, &d) || fabs(d) > 1e6)
            return bad(c, "input", key, "must be a number");
        m->input_bias = (float)d;
    } else {
        return bad(c, "input", key, "unknown key");
    }
    return 1;
}

static int on_norm(struct ini_ctx *c, const char *key, const char *v)
{
    struct otf_model_manifest *m = c->m;

    if (strcmp(key, "gain") == 0) {
        if (!get_dbl(v, &m->norm_gain) || m->norm_gain <= 0)
            return bad(c, "normalisation", key, "must be a number > 0");
    } else if (strcmp(key, "bounds") == 0) {
        if (strcmp(v, "fixed") == 0)
            m->norm_bounds = OTF_MODEL_NORM_FIXED;
        else if (strcmp(v, "percentile") == 0)
            m->norm_bounds = OTF_MODEL_NORM_PERCENTILE;
        else
            return bad(c, "normalisation", key, "must be fixed or percentile");
    } else if (strcmp(key, "lo") == 0) {
        if (!get_dbl(v, &m->norm_lo))
            return bad(c, "normalisation", key, "must be a number");
    } else if (strcmp(key, "hi") == 0) {
        if (!get_dbl(v, &m->norm_hi))
            return bad(c, "normalisation", key, "must be a number");
    } else {
        return bad(c, "normalisation", key, "unknown key");
    }
    return 1;
}

static int on_yolo(struct ini_ctx *c, const char *key, const char *v)
{
    struct otf_model_manifest *m = c->m;

    if (strcmp(key, "nb_box") == 0) {
        if (!get_int(v, 1, OTF_MODEL_MAX_BOXES, &m->nb_box))
            return bad(c, "yolo", key, "must be an integer in [1, 64]");
    } else if (strcmp(key, "nb_class") == 0) {
        if (!get_int(v, 0, OTF_MODEL_MAX_DIM, &m->nb_class))
            return bad(c, "yolo", key, "must be an integer >= 0");
    } else if (strcmp(key, "nb_param") == 0) {
        if (!get_int(v, 0, OTF_MODEL_MAX_EXTRA, &m->nb_param))
            return bad(c, "yolo", key, "must be an integer in [0, 32]");
    } else if (strcmp(key, "min_box") == 0) {
        if (!get_dbl(v, &m->min_box_pix) || m->min_box_pix < 0)
            return bad(c, "yolo", key, "must be a number >= 0 (pixels)");
    } else if (strcmp(key, "max_obj") == 0) {
        if (!get_int(v, 0, 1 << 24, &m->max_obj_per_patch))
            return bad(c, "yolo", key, "must be an integer >= 0");
    } else {
        return bad(c, "yolo", key, "unknown key");
    }
    return 1;
}

static int on_post(struct ini_ctx *c, const char *key, const char *v)
{
    struct otf_model_manifest *m = c->m;
    double tmp[OTF_MODEL_MAX_BOXES];
    long n;

    if (strcmp(key, "obj_threshold") == 0) {
        n = get_list(v, tmp, OTF_MODEL_MAX_BOXES);
        if (n < 1)
            return bad(c, "postprocess", key, "must be 1 to 64 numbers in [0, 1]");
        for (long i = 0; i < n; i++)
            if (tmp[i] < 0 || tmp[i] > 1)
                return bad(c, "postprocess", key, "must be 1 to 64 numbers in [0, 1]");
        free(m->obj_threshold);
        m->obj_threshold = otf_xcalloc((size_t)n, sizeof(double));
        memcpy(m->obj_threshold, tmp, (size_t)n * sizeof(double));
        m->n_obj_threshold = (size_t)n;
    } else if (strcmp(key, "median_reject") == 0) {
        if (get_list(v, tmp, 2) != 2 || tmp[0] > tmp[1])
            return bad(c, "postprocess", key, "must be two numbers lo, hi with lo <= hi");
        m->median_reject_lo = tmp[0];
        m->median_reject_hi = tmp[1];
    } else if (strcmp(key, "nms_diou_first") == 0) {
        if (!get_dbl(v, &m->nms_diou_first) || m->nms_diou_first < -1 || m->nms_diou_first > 1)
            return bad(c, "postprocess", key, "must be a number in [-1, 1]");
    } else if (strcmp(key, "nms_diou_second") == 0) {
        if (!get_dbl(v, &m->nms_diou_second) || m->nms_diou_second < -1 || m->nms_diou_second > 1)
            return bad(c, "postprocess", key, "must be a number in [-1, 1]");
    } else if (strcmp(key, "border") == 0) {
        size_t k, nk = sizeof(border_names) / sizeof(border_names[0]);
        for (k = 0; k < nk && strcmp(v, border_names[k]) != 0; k++)
            ;
        if (k == nk)
            return bad(c, "postprocess", key, "must be keep, drop or partial");
        m->border = (enum otf_model_border_policy)k;
    } else if (strcmp(key, "border_pix") == 0) {
        if (!get_int(v, 0, OTF_MODEL_MAX_DIM, &m->border_pix))
            return bad(c, "postprocess", key, "must be an integer >= 0 (pixels)");
    } else {
        return bad(c, "postprocess", key, "unknown key");
    }
    return 1;
}

/* [param.NAME] sections, in file order = the YOLO parameter columns. */
static int on_param(struct ini_ctx *c, const char *sec, const char *key, const char *v)
{
    struct otf_model_manifest *m = c->m;
    const char *name = sec + 6;
    struct otf_model_param_desc *p = NULL;

    if (!otf_str_is_safe_name(name))
        return bad(c, sec, key, "parameter name must be [A-Za-z0-9_.-]");
    for (size_t i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0)
            p = &m->params[i];
    if (!p) {
        if (m->n_params >= OTF_MODEL_MAX_EXTRA)
            return bad(c, sec, key, "more than 32 parameters");
        m->params = otf_xrealloc(m->params, (m->n_params + 1) * sizeof(*m->params));
        p = &m->params[m->n_params++];
        memset(p, 0, sizeof(*p));
        p->name = otf_xstrdup(name);
        p->unit = otf_xstrdup("");
        p->max = 1.0;
    }
    if (strcmp(key, "unit") == 0) {
        set_str(&p->unit, v);
    } else if (strcmp(key, "transform") == 0) {
        if (otf_model_param_transform_parse(v, &p->transform) != OTF_OK)
            return bad(c, sec, key,
                       "must be identity, minmax, ln_minmax, log10_minmax, cos_pa or sin_pa_half");
    } else if (strcmp(key, "min") == 0) {
        if (!get_dbl(v, &p->min))
            return bad(c, sec, key, "must be a number");
    } else if (strcmp(key, "max") == 0) {
        if (!get_dbl(v, &p->max))
            return bad(c, sec, key, "must be a number");
    } else {
        return bad(c, sec, key, "unknown key");
    }
    return 1;
}

static int on_ini(void *user, const char *sec, const char *key, const char *v)
{
    struct ini_ctx *c = user;

    if (!key) /* inih reports a new section with key NULL only in some builds */
        return 1;
    if (strcmp(sec, "model") == 0)
        return on_model(c, key, v);
    if (strcmp(sec, "input") == 0)
        return on_input(c, key, v);
    if (strcmp(sec, "normalisation") == 0 || strcmp(sec, "normalization") == 0)
        return on_norm(c, key, v);
    if (strcmp(sec, "yolo") == 0)
        return on_yolo(c, key, v);
    if (strcmp(sec, "postprocess") == 0)
        return on_post(c, key, v);
    if (strncmp(sec, "param.", 6) == 0)
        return on_param(c, sec, key, v);
    return bad(c, sec, key, "unknown section");
}

static struct otf_model_manifest *manifest_defaults(const char *id, const char *dir)
{
    struct otf_model_manifest *m = otf_xcalloc(1, sizeof(*m));

    m->id = otf_xstrdup(id);
    m->dir = otf_xstrdup(dir ? dir : "");
    m->description = otf_xstrdup("");
    m->licence = otf_xstrdup("");
    m->training_data = otf_xstrdup("");
    m->weights_file = otf_xstrdup("");
    m->input_bias = 0.1f;
    m->norm_gain = 1.0;
    m->norm_bounds = OTF_MODEL_NORM_FIXED;
    m->norm_lo = 0.0;
    m->norm_hi = 1.0;
    m->nms_diou_first = 0.0;
    m->nms_diou_second = 0.0;
    m->border = OTF_MODEL_BORDER_KEEP;
    return m;
}

/* Cross-field checks once every key is read. */
static enum otf_status manifest_check(struct otf_model_manifest *m, const struct ini_ctx *c,
                                      struct otf_errbuf *eb)
{
    if (!c->has_weights)
        return OTF_FAIL(eb, OTF_E_FORMAT, "[model] weights is required");
    if (!c->has_channels)
        return OTF_FAIL(eb, OTF_E_FORMAT, "[input] channels is required");
    if (!c->has_infer)
        return OTF_FAIL(eb, OTF_E_FORMAT, "[input] infer_patch is required");
    if (!c->has_train) {
        m->train_patch_w = m->infer_patch_w;
        m->train_patch_h = m->infer_patch_h;
    }
    if (2 * m->overlap_pix >= m->infer_patch_w || 2 * m->overlap_pix >= m->infer_patch_h)
        return OTF_FAIL(eb, OTF_E_FORMAT, "[input] overlap %d too large for a %dx%d patch",
                        m->overlap_pix, m->infer_patch_w, m->infer_patch_h);
    if (!(m->norm_lo < m->norm_hi))
        return OTF_FAIL(eb, OTF_E_FORMAT, "[normalisation] lo must be below hi");
    if (m->norm_bounds == OTF_MODEL_NORM_PERCENTILE && (m->norm_lo < 0 || m->norm_hi > 100))
        return OTF_FAIL(eb, OTF_E_FORMAT, "[normalisation] percentiles must lie in [0, 100]");
    if (m->nb_box && m->n_obj_threshold > 1 && m->n_obj_threshold != (size_t)m->nb_box)
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "[postprocess] obj_threshold has %zu values for %d boxes (give 1 or %d)",
                        m->n_obj_threshold, m->nb_box, m->nb_box);
    if (m->nb_param && m->n_params && m->n_params != (size_t)m->nb_param)
        return OTF_FAIL(eb, OTF_E_FORMAT, "%zu [param.*] sections for nb_param %d", m->n_params,
                        m->nb_param);
    for (size_t i = 0; i < m->n_params; i++) {
        const struct otf_model_param_desc *p = &m->params[i];
        if ((p->transform == OTF_MODEL_PARAM_MINMAX || p->transform == OTF_MODEL_PARAM_LN_MINMAX ||
             p->transform == OTF_MODEL_PARAM_LOG10_MINMAX) &&
            !(p->min < p->max))
            return OTF_FAIL(eb, OTF_E_FORMAT, "[param.%s] min must be below max", p->name);
    }
    if (m->n_precisions == 0) {
        m->precisions = otf_xcalloc(1, sizeof(char *));
        m->precisions[0] = otf_xstrdup("fp32");
        m->n_precisions = 1;
    }
    return OTF_OK;
}

enum otf_status otf_model_manifest_parse(const char *text, size_t len, const char *id,
                                         const char *dir, struct otf_model_manifest **out,
                                         struct otf_errbuf *eb)
{
    struct ini_ctx c;
    enum otf_status rc;
    char *copy;
    int line;

    if (!id || !otf_str_is_safe_name(id))
        return OTF_FAIL(eb, OTF_E_FORMAT, "model id \"%s\" is not a safe name", id ? id : "");
    if (len > OTF_MODEL_MANIFEST_MAX)
        return OTF_FAIL(eb, OTF_E_LIMIT, "manifest of %zu bytes above the cap", len);
    if (memchr(text, '\0', len))
        return OTF_FAIL(eb, OTF_E_FORMAT, "manifest contains a NUL byte");
    memset(&c, 0, sizeof(c));
    c.m = manifest_defaults(id, dir);
    c.eb = eb;
    copy = otf_xstrndup(text, len);
    line = ini_parse_string(copy, on_ini, &c);
    free(copy);
    if (c.rc != OTF_OK) {
        rc = c.rc;
        if (eb && line > 0)
            otf_errbuf_prefix(eb, "%s line %d", OTF_MODEL_MANIFEST_NAME, line);
    } else if (line != 0) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "%s line %d: not an INI line", OTF_MODEL_MANIFEST_NAME,
                      line);
    } else {
        rc = manifest_check(c.m, &c, eb);
    }
    if (rc != OTF_OK) {
        otf_model_manifest_free(c.m);
        return rc;
    }
    *out = c.m;
    return OTF_OK;
}

static const char *base_name(const char *dir, char *buf, size_t cap)
{
    size_t n = strlen(dir);
    const char *s;

    while (n > 1 && dir[n - 1] == '/')
        n--;
    s = dir + n;
    while (s > dir && s[-1] != '/')
        s--;
    n = (size_t)(dir + n - s);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

enum otf_status otf_model_manifest_load(const char *model_dir, struct otf_model_manifest **out,
                                        struct otf_errbuf *eb)
{
    char id[256];
    char *path = otf_xasprintf("%s/%s", model_dir, OTF_MODEL_MANIFEST_NAME);
    char *text = NULL;
    size_t len = 0;
    enum otf_status rc = otf_fs_read_file(path, OTF_MODEL_MANIFEST_MAX, &text, &len, eb);

    if (rc == OTF_OK)
        rc = otf_model_manifest_parse(text ? text : "", len, base_name(model_dir, id, sizeof(id)),
                                      model_dir, out, eb);
    if (rc != OTF_OK && eb && rc != OTF_E_NOTFOUND && rc != OTF_E_IO)
        otf_errbuf_prefix(eb, "%s", model_dir);
    free(text);
    free(path);
    return rc;
}

/* ---- writing ---- */

/* The shortest decimal that reads back as the same float (0.1f prints as 0.1). */
static double float_short(float f)
{
    char b[32];

    for (int p = 6; p < 9; p++) {
        snprintf(b, sizeof(b), "%.*g", p, (double)f);
        if (strtof(b, NULL) == f)
            return strtod(b, NULL);
    }
    return (double)f;
}

/* The shortest "%g" that reads back as the same double. */
static const char *dbl_short(double v, char b[32])
{
    for (int p = 15; p <= 17; p++) {
        snprintf(b, 32, "%.*g", p, v);
        if (strtod(b, NULL) == v)
            break;
    }
    return b;
}

enum otf_status otf_model_manifest_write_ini(const struct otf_model_manifest *m, char **out,
                                             struct otf_errbuf *eb)
{
    struct otf_buf b;
    enum otf_status rc = OTF_OK;
    char t1[32], t2[32];

    otf_buf_init(&b, OTF_MODEL_MANIFEST_MAX);
#define P(...)                                                                                     \
    do {                                                                                           \
        if (rc == OTF_OK)                                                                          \
            rc = otf_buf_printf(&b, __VA_ARGS__);                                                  \
    } while (0)
    P("[model]\n");
    if (*m->description)
        P("description = %s\n", m->description);
    if (*m->licence)
        P("licence = %s\n", m->licence);
    if (*m->training_data)
        P("training_data = %s\n", m->training_data);
    P("weights = %s\n", m->weights_file);
    if (*m->weights_sha256)
        P("weights_sha256 = %s\n", m->weights_sha256);
    P("format = %s\n", m->weights_format == OTF_MODEL_FORMAT_BINARY ? "binary"
                       : m->weights_format == OTF_MODEL_FORMAT_TEXT ? "text"
                                                                    : "auto");
    P("precisions = ");
    for (size_t i = 0; i < m->n_precisions; i++)
        P("%s%s", i ? ", " : "", m->precisions[i]);
    P("\n\n[input]\nchannels = %d\ntrain_patch = %dx%d\ninfer_patch = %dx%d\noverlap = %d\n"
      "input_bias = %.9g\n",
      m->in_channels, m->train_patch_w, m->train_patch_h, m->infer_patch_w, m->infer_patch_h,
      m->overlap_pix, float_short(m->input_bias));
    P("\n[normalisation]\ngain = %s\nbounds = %s\n", dbl_short(m->norm_gain, t1),
      m->norm_bounds == OTF_MODEL_NORM_PERCENTILE ? "percentile" : "fixed");
    P("lo = %s\nhi = %s\n", dbl_short(m->norm_lo, t1), dbl_short(m->norm_hi, t2));
    P("\n[yolo]\n");
    if (m->nb_box)
        P("nb_box = %d\n", m->nb_box);
    if (m->nb_box || m->nb_class)
        P("nb_class = %d\n", m->nb_class);
    if (m->nb_param)
        P("nb_param = %d\n", m->nb_param);
    P("min_box = %s\nmax_obj = %d\n", dbl_short(m->min_box_pix, t1), m->max_obj_per_patch);
    P("\n[postprocess]\n");
    if (m->n_obj_threshold) {
        P("obj_threshold = ");
        for (size_t i = 0; i < m->n_obj_threshold; i++)
            P("%s%s", i ? ", " : "", dbl_short(m->obj_threshold[i], t1));
        P("\n");
    }
    P("median_reject = %s, %s\n", dbl_short(m->median_reject_lo, t1),
      dbl_short(m->median_reject_hi, t2));
    P("nms_diou_first = %s\nnms_diou_second = %s\n", dbl_short(m->nms_diou_first, t1),
      dbl_short(m->nms_diou_second, t2));
    P("border = %s\nborder_pix = %d\n", otf_model_border_policy_name(m->border), m->border_pix);
    for (size_t i = 0; i < m->n_params; i++)
        P("\n[param.%s]\nunit = %s\ntransform = %s\nmin = %s\nmax = %s\n", m->params[i].name,
          m->params[i].unit, otf_model_param_transform_name(m->params[i].transform),
          dbl_short(m->params[i].min, t1), dbl_short(m->params[i].max, t2));
#undef P
    if (rc != OTF_OK) {
        otf_buf_cleanup(&b);
        return OTF_FAIL(eb, rc, "manifest text above %zu bytes", OTF_MODEL_MANIFEST_MAX);
    }
    *out = otf_buf_steal(&b, NULL);
    return OTF_OK;
}

char *otf_model_manifest_card_json(const struct otf_model_manifest *m)
{
    json_t *o = json_object(), *a, *x;
    char *s;

    json_object_set_new(o, "id", json_string(m->id));
    json_object_set_new(o, "description", json_string(m->description));
    json_object_set_new(o, "licence", json_string(m->licence));
    json_object_set_new(o, "training_data", json_string(m->training_data));
    x = json_object();
    json_object_set_new(x, "channels", json_integer(m->in_channels));
    json_object_set_new(x, "train_patch", json_pack("[ii]", m->train_patch_w, m->train_patch_h));
    json_object_set_new(x, "infer_patch", json_pack("[ii]", m->infer_patch_w, m->infer_patch_h));
    json_object_set_new(x, "overlap", json_integer(m->overlap_pix));
    json_object_set_new(x, "input_bias", json_real(float_short(m->input_bias)));
    json_object_set_new(o, "input", x);
    x = json_object();
    json_object_set_new(x, "formula", json_string("tanh(gain*(clip(x,lo,hi)-lo)/(hi-lo))"));
    json_object_set_new(x, "gain", json_real(m->norm_gain));
    json_object_set_new(
        x, "bounds",
        json_string(m->norm_bounds == OTF_MODEL_NORM_PERCENTILE ? "percentile" : "fixed"));
    json_object_set_new(x, "lo", json_real(m->norm_lo));
    json_object_set_new(x, "hi", json_real(m->norm_hi));
    json_object_set_new(o, "normalisation", x);
    a = json_array();
    for (size_t i = 0; i < m->n_precisions; i++)
        json_array_append_new(a, json_string(m->precisions[i]));
    json_object_set_new(o, "precisions", a);
    x = json_object();
    json_object_set_new(x, "nb_box", json_integer(m->nb_box));
    json_object_set_new(x, "nb_class", json_integer(m->nb_class));
    json_object_set_new(x, "nb_param", json_integer(m->nb_param));
    json_object_set_new(x, "min_box", json_real(m->min_box_pix));
    json_object_set_new(x, "max_obj", json_integer(m->max_obj_per_patch));
    json_object_set_new(o, "yolo", x);
    /* Parameters a job may override, with the model's defaults. */
    x = json_object();
    a = json_array();
    for (size_t i = 0; i < m->n_obj_threshold; i++)
        json_array_append_new(a, json_real(m->obj_threshold[i]));
    json_object_set_new(x, "obj_threshold", a);
    json_object_set_new(x, "median_reject",
                        json_pack("[ff]", m->median_reject_lo, m->median_reject_hi));
    json_object_set_new(x, "nms_diou_first", json_real(m->nms_diou_first));
    json_object_set_new(x, "nms_diou_second", json_real(m->nms_diou_second));
    json_object_set_new(x, "border", json_string(otf_model_border_policy_name(m->border)));
    json_object_set_new(x, "border_pix", json_integer(m->border_pix));
    json_object_set_new(x, "overlap", json_integer(m->overlap_pix));
    json_object_set_new(x, "precision", json_string(m->precisions[0]));
    json_object_set_new(o, "parameters", x);
    a = json_array();
    for (size_t i = 0; i < m->n_params; i++) {
        const struct otf_model_param_desc *p = &m->params[i];
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(p->name));
        json_object_set_new(e, "unit", json_string(p->unit));
        json_object_set_new(e, "transform",
                            json_string(otf_model_param_transform_name(p->transform)));
        json_object_set_new(e, "min", json_real(p->min));
        json_object_set_new(e, "max", json_real(p->max));
        json_array_append_new(a, e);
    }
    json_object_set_new(o, "extra_parameters", a);
    x = json_object();
    json_object_set_new(x, "file", json_string(m->weights_file));
    json_object_set_new(x, "sha256",
                        *m->weights_sha256 ? json_string(m->weights_sha256) : json_null());
    json_object_set_new(o, "weights", x);
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(o);
    OTF_ASSERT(s != NULL);
    return s;
}

/* ---- folders ---- */

enum otf_status otf_model_load_dir(const char *model_dir, struct otf_model_manifest **m_out,
                                   struct otf_model_net **net_out, struct otf_errbuf *eb)
{
    struct otf_model_manifest *m = NULL;
    struct otf_model_net *net = NULL;
    struct otf_model_shape *sh = NULL;
    const struct otf_model_yolo *y;
    char *wpath = NULL;
    char hex[65];
    enum otf_status rc;

    rc = otf_model_manifest_load(model_dir, &m, eb);
    if (rc != OTF_OK)
        goto out;
    wpath = otf_xasprintf("%s/%s", model_dir, m->weights_file);
    if (*m->weights_sha256) {
        rc = otf_sha256_file(wpath, hex, eb);
        if (rc != OTF_OK)
            goto out;
        if (strcmp(hex, m->weights_sha256) != 0) {
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "%s: SHA-256 %s differs from the manifest's %s", wpath,
                          hex, m->weights_sha256);
            goto out;
        }
    }
    rc = otf_model_load_file(wpath, &net, eb);
    if (rc != OTF_OK)
        goto out;
    if (m->weights_format != OTF_MODEL_FORMAT_AUTO && net->format != m->weights_format) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "%s: not a %s save as the manifest says", wpath,
                      m->weights_format == OTF_MODEL_FORMAT_TEXT ? "text" : "binary");
        goto out;
    }
    if (net->in_dims[3] != m->in_channels) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "%s: weights take %d channels, manifest says %d", model_dir,
                      net->in_dims[3], m->in_channels);
        goto out;
    }
    y = otf_model_net_yolo(net);
    if ((m->nb_box || m->nb_param) && !y) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "%s: manifest has YOLO facts, the net no YOLO layer",
                      model_dir);
        goto out;
    }
    if (y && ((m->nb_box && m->nb_box != y->nb_box) ||
              ((m->nb_box || m->nb_class) && m->nb_class != y->nb_class) ||
              (m->nb_param && m->nb_param != y->nb_param) ||
              (m->n_params && m->n_params != (size_t)y->nb_param) ||
              (m->n_obj_threshold > 1 && m->n_obj_threshold != (size_t)y->nb_box))) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT,
                      "%s: manifest YOLO counts do not match the weights (%d boxes, %d classes, "
                      "%d params)",
                      model_dir, y->nb_box, y->nb_class, y->nb_param);
        goto out;
    }
    sh = otf_xcalloc(net->n_layers + 1, sizeof(*sh));
    rc = otf_model_infer_shapes(net, m->train_patch_w, m->train_patch_h, 1, sh, eb);
    if (rc == OTF_OK)
        rc = otf_model_infer_shapes(net, m->infer_patch_w, m->infer_patch_h, 1, sh, eb);
    if (rc != OTF_OK) {
        if (eb)
            otf_errbuf_prefix(eb, "%s: patch sizes do not fit the net", model_dir);
        rc = OTF_E_FORMAT;
        if (eb)
            eb->code = rc;
        goto out;
    }
    *m_out = m;
    *net_out = net;
    m = NULL;
    net = NULL;
out:
    free(sh);
    free(wpath);
    otf_model_manifest_free(m);
    otf_model_net_free(net);
    return rc;
}

static int card_cmp(const void *a, const void *b)
{
    return strcmp(((const struct otf_model_card *)a)->id, ((const struct otf_model_card *)b)->id);
}

void otf_model_cards_free(struct otf_model_card *cards, size_t n)
{
    if (!cards)
        return;
    for (size_t i = 0; i < n; i++) {
        free(cards[i].id);
        free(cards[i].description);
        for (size_t k = 0; k < cards[i].n_precisions; k++)
            free(cards[i].precisions[k]);
        free(cards[i].precisions);
        free(cards[i].card_json);
    }
    free(cards);
}

enum otf_status otf_model_scan_dir(const char *models_dir, struct otf_model_card **out,
                                   size_t *n_out, struct otf_errbuf *eb)
{
    struct otf_model_card *cards = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d = opendir(models_dir);

    if (!d)
        return OTF_FAIL(eb, errno == ENOENT ? OTF_E_NOTFOUND : OTF_E_IO, "models dir %s: %s",
                        models_dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        struct otf_errbuf e2 = {0};
        struct otf_model_manifest *m = NULL;
        struct stat st;
        char *path;

        if (de->d_name[0] == '.')
            continue;
        path = otf_xasprintf("%s/%s", models_dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            free(path);
            continue;
        }
        if (!otf_str_is_safe_name(de->d_name)) {
            otf_log_warn("model", "skipping %s: folder name is not a safe model id", path);
        } else if (n >= OTF_MODEL_MAX_MODELS) {
            otf_log_warn("model", "skipping %s: more than %d models", path, OTF_MODEL_MAX_MODELS);
        } else if (otf_model_manifest_load(path, &m, &e2) != OTF_OK) {
            otf_log_warn("model", "skipping %s: %s", path, e2.msg);
        } else {
            struct otf_model_card *c;
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                cards = otf_xrealloc(cards, cap * sizeof(*cards));
            }
            c = &cards[n++];
            c->id = otf_xstrdup(m->id);
            c->description = otf_xstrdup(m->description);
            c->patch_w = m->infer_patch_w;
            c->patch_h = m->infer_patch_h;
            c->in_channels = m->in_channels;
            c->n_precisions = m->n_precisions;
            c->precisions = otf_xcalloc(m->n_precisions, sizeof(char *));
            for (size_t k = 0; k < m->n_precisions; k++)
                c->precisions[k] = otf_xstrdup(m->precisions[k]);
            c->card_json = otf_model_manifest_card_json(m);
            otf_model_manifest_free(m);
        }
        free(path);
    }
    closedir(d);
    if (n > 1)
        qsort(cards, n, sizeof(*cards), card_cmp);
    *out = cards;
    *n_out = n;
    return OTF_OK;
}
