/* model: CIANNA saved networks (binary and text save formats) -> an immutable network
 * description, shape inference for any input size, and model folders (models/<id>/ with a
 * manifest, see model_manifest.h). No compute: the engine runs what this module describes.
 * Formats: docs/formats/cianna-model.md and docs/formats/model-manifest.md.
 *
 * Threads: a loaded struct otf_model_net is never modified; any number of threads may read it.
 * Loaders share no state and may run concurrently.
 *
 *   struct otf_errbuf eb = {0};
 *   struct otf_model_net *net = NULL;
 *   if (otf_model_load_file("net.dat", &net, &eb) != OTF_OK)
 *       otf_log_error("model", "%s", eb.msg);
 *   struct otf_model_shape *sh = otf_xcalloc(net->n_layers + 1, sizeof(*sh));
 *   otf_model_infer_shapes(net, 512, 512, 1, sh, &eb);   // sh[net->n_layers] = output
 *   otf_model_net_free(net);
 */
#ifndef OTF_MODEL_H
#define OTF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Hard caps applied by every loader before any allocation (STYLE §5). A file above them is
 * rejected with OTF_E_LIMIT. 2^29 floats = 2 GiB of weights (SDC1 has 12.6 M). */
#define OTF_MODEL_MAX_LAYERS 1024
#define OTF_MODEL_MAX_PARAMS ((size_t)1 << 29)
#define OTF_MODEL_MAX_DIM    65536 /* any single size, count or stride in a layer record */
#define OTF_MODEL_MAX_BOXES  64    /* YOLO nb_box */
#define OTF_MODEL_MAX_FILE   ((size_t)4 << 30) /* bytes, binary or text */

/* CIANNA layer record types ('C', 'P', 'N', 'L', 'D'). Values are stable. */
enum otf_model_layer_kind {
    OTF_MODEL_LAYER_CONV = 0,  /* also the YOLO output layer */
    OTF_MODEL_LAYER_POOL = 1,  /* max/avg, optionally global */
    OTF_MODEL_LAYER_NORM = 2,  /* group normalisation */
    OTF_MODEL_LAYER_LRN = 3,   /* local response normalisation (CUDA-only in CIANNA) */
    OTF_MODEL_LAYER_DENSE = 4, /* fully connected with CIANNA's bias node */
};

/* Activation, matched by prefix of the stored string as CIANNA does (anything else is LIN). */
enum otf_model_activ_kind {
    OTF_MODEL_ACTIV_LIN = 0,
    OTF_MODEL_ACTIV_RELU = 1, /* leaky and saturated: see relu_sat, relu_leak */
    OTF_MODEL_ACTIV_LOGI = 2, /* 1/(1+expf(min(-beta*x, sat))) */
    OTF_MODEL_ACTIV_SMAX = 3, /* dense: over N outputs; conv/pool: over the whole image volume */
    OTF_MODEL_ACTIV_YOLO = 4, /* conv only; parameters in struct otf_model_yolo */
};

struct otf_model_activ {
    enum otf_model_activ_kind kind;
    float relu_sat;  /* RELU saturation (default 800) */
    float relu_leak; /* RELU leak for x<=0 and x>sat (default 0.05) */
    float logi_sat;  /* LOGI bound on -beta*x (default 6) */
    float logi_beta; /* LOGI slope (default 1) */
    char name[41];   /* the stored string up to its NUL, e.g. "RELU_S800.00_L0.05" */
};

enum otf_model_pool_type {
    OTF_MODEL_POOL_MAX = 0,
    OTF_MODEL_POOL_AVG = 1,
};

/* Rows of the YOLO slope table; columns are OTF_MODEL_SM_SLOPE, _FMAX, _FMIN. */
enum otf_model_yolo_part {
    OTF_MODEL_YOLO_POS = 0,
    OTF_MODEL_YOLO_SIZE = 1,
    OTF_MODEL_YOLO_PROB = 2,
    OTF_MODEL_YOLO_OBJ = 3,
    OTF_MODEL_YOLO_CLASS = 4,
    OTF_MODEL_YOLO_PARAM = 5,
};
#define OTF_MODEL_SM_SLOPE 0
#define OTF_MODEL_SM_FMAX  1
#define OTF_MODEL_SM_FMIN  2

/* The YOLO block of a conv layer whose activation is "YOLO" (reference §3, §7). Per box the
 * filter columns are x, y, z, w, h, d, prob, obj, class[nb_class], param[nb_param]. */
struct otf_model_yolo {
    int nb_box;
    int nb_class;
    int nb_param;
    int fit_dim;                          /* number of spatial dims fitted (2 for images) */
    int class_softmax;                    /* 1: softmax over the classes of a box, else logistic */
    float priors[3][OTF_MODEL_MAX_BOXES]; /* [dim W,H,D][box], pixels, as stored (unclamped) */
    float sm[6][3];                       /* [part][slope,fmax,fmin] */
};

struct otf_model_conv {
    int nb_filters;     /* output channels F */
    int f_size[3];      /* fw, fh, fd */
    int stride[3];      /* sw, sh, sd */
    int padding[3];     /* zeros on each side: pw, ph, pd */
    int int_padding[3]; /* zeros inserted between input pixels: iw, ih, id */
    int prev_size[3];   /* input W,H,D at save time (used when the previous layer is dense) */
    int prev_depth;     /* input C at save time */
    int c_in;           /* input channels the weights were stored for */
    size_t flat_f_size; /* fw*fh*fd*c_in + 1 (the last one is the bias weight) */
};

struct otf_model_pool {
    int p_size[3];
    int stride[3];
    int padding[3];
    int is_global; /* window = stride = whole map, padding 0 */
    enum otf_model_pool_type type;
};

struct otf_model_norm {
    int group_size; /* channels per group */
    int set_off;    /* number of trailing groups passed through unchanged */
    int nb_group;   /* ceil(c_in / group_size) */
    int c_in;
};

struct otf_model_lrn {
    int range;
    float k;
    float alpha;
    float beta;
};

struct otf_model_dense {
    int nb_neurons; /* N; the layer outputs N+1 floats, the last is the bias node */
    size_t in_size; /* rows of the weight matrix: flattened previous output + 1 */
};

/* One layer. Only the member that matches `kind` is meaningful. */
struct otf_model_layer {
    enum otf_model_layer_kind kind;
    float dropout_rate; /* inference multiplies the pre-activation by (1-rate) when rate > 0.01 */
    float bias_value;   /* as stored; layer 0 uses the engine's input bias instead */
    struct otf_model_activ activ;
    struct otf_model_conv conv;
    struct otf_model_pool pool;
    struct otf_model_norm norm;
    struct otf_model_lrn lrn;
    struct otf_model_dense dense;
    int has_yolo; /* conv with activ YOLO; `yolo` is valid */
    struct otf_model_yolo yolo;
    /* Parameters in CIANNA's order (owned by the net):
     *   conv:  nb_filters rows of flat_f_size floats, w[f][((c*fd+kd)*fh+kh)*fw+kw], last = bias
     *   dense: in_size rows of nb_neurons+1 floats, W[j][i]
     *   norm:  gamma[nb_group] then beta[nb_group]
     *   pool, lrn: none (weights NULL, n_weights 0) */
    float *weights;
    size_t n_weights;
};

enum otf_model_format {
    OTF_MODEL_FORMAT_AUTO = 0, /* detect: a text file starts with "WxHxDxC\n" */
    OTF_MODEL_FORMAT_BINARY = 1,
    OTF_MODEL_FORMAT_TEXT = 2,
};

/* An immutable loaded network. */
struct otf_model_net {
    int in_dims[4]; /* W, H, D, C from the file header (save-time dims) */
    size_t n_layers;
    struct otf_model_layer *layers; /* [n_layers] */
    size_t n_params;                /* total floats of all layers' weights */
    enum otf_model_format format;   /* what the file was */
};

/* Per-image tensor shape between layers. Conv, pool, norm and lrn outputs are [c][d][h][w];
 * a dense output is w=h=d=1, c=N and holds N+1 floats (bias node last). */
struct otf_model_shape {
    int w, h, d, c;
    size_t size; /* floats per image */
};

/* Parses a CIANNA network from memory (`buf` is borrowed for the call; it need not be
 * NUL-terminated). `fmt` AUTO detects binary or text. Shapes at load time come from the file
 * header, as CIANNA's loader sees them with matching init dims. On success *out is a new net
 * freed with otf_model_net_free. Errors: OTF_E_FORMAT (malformed, truncated, inconsistent),
 * OTF_E_LIMIT (above the caps above), OTF_E_NOMEM; `eb` names the byte offset or line. */
enum otf_status otf_model_load_from_buffer(const void *buf, size_t len, enum otf_model_format fmt,
                                           struct otf_model_net **out, struct otf_errbuf *eb);

/* Same from a file (binary or text, detected). OTF_E_IO / OTF_E_NOTFOUND for file errors. */
enum otf_status otf_model_load_file(const char *path, struct otf_model_net **out,
                                    struct otf_errbuf *eb);

/* Frees a net and its weights; NULL is a no-op. */
void otf_model_net_free(struct otf_model_net *net);

/* Computes the per-image shapes for input W x H x D (the model's own channel count C):
 * shapes[0] = input, shapes[i+1] = output of layer i; `shapes` holds n_layers+1 entries.
 * Errors (OTF_E_INVAL): a layer whose output would be empty, a dense layer whose weights do
 * not fit the flattened size, a conv after dense whose prev_size does not match. */
enum otf_status otf_model_infer_shapes(const struct otf_model_net *net, int w, int h, int d,
                                       struct otf_model_shape *shapes, struct otf_errbuf *eb);

/* Same for the first n_layers layers only (<= net->n_layers): a prefix of the net may accept
 * sizes the whole net does not. `shapes` holds n_layers+1 entries. */
enum otf_status otf_model_infer_shapes_prefix(const struct otf_model_net *net, size_t n_layers,
                                              int w, int h, int d, struct otf_model_shape *shapes,
                                              struct otf_errbuf *eb);

/* Multiply-add FLOPs (2 per MAC, bias column excluded) of one image through layer `i` for the
 * shapes from otf_model_infer_shapes; norm/pool/activations count 0 except as noted in
 * docs/formats/cianna-model.md. */
double otf_model_layer_flops(const struct otf_model_net *net, size_t i,
                             const struct otf_model_shape *shapes);

/* Sum of otf_model_layer_flops over all layers. */
double otf_model_net_flops(const struct otf_model_net *net, const struct otf_model_shape *shapes);

/* The YOLO block of the last layer, or NULL when the net has no YOLO output. */
const struct otf_model_yolo *otf_model_net_yolo(const struct otf_model_net *net);

/* Short names for messages and `otf model info`: "conv", "pool", ...; never NULL. */
const char *otf_model_layer_kind_name(enum otf_model_layer_kind k);
const char *otf_model_activ_kind_name(enum otf_model_activ_kind k);

#include "model/model_manifest.h"

#endif
