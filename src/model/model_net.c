/* model: the network description shared by both file formats — layer validation and sizing
 * at load time, shape inference for any input size, FLOP counts, and the load entry points.
 * Invariant: a net that leaves this file is fully checked (shapes at the header dims, weight
 * counts, finite values), so the engine never re-validates untrusted numbers. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model_int.h"

#define MAX_IMAGE_FLOATS ((size_t)1 << 34) /* per-image activation cap for shape inference */

const char *otf_model_layer_kind_name(enum otf_model_layer_kind k)
{
    switch (k) {
    case OTF_MODEL_LAYER_CONV:
        return "conv";
    case OTF_MODEL_LAYER_POOL:
        return "pool";
    case OTF_MODEL_LAYER_NORM:
        return "norm";
    case OTF_MODEL_LAYER_LRN:
        return "lrn";
    case OTF_MODEL_LAYER_DENSE:
        return "dense";
    }
    return "?";
}

const char *otf_model_activ_kind_name(enum otf_model_activ_kind k)
{
    switch (k) {
    case OTF_MODEL_ACTIV_LIN:
        return "LIN";
    case OTF_MODEL_ACTIV_RELU:
        return "RELU";
    case OTF_MODEL_ACTIV_LOGI:
        return "LOGI";
    case OTF_MODEL_ACTIV_SMAX:
        return "SMAX";
    case OTF_MODEL_ACTIV_YOLO:
        return "YOLO";
    }
    return "?";
}

/* CIANNA reads the RELU/LOGI numbers with strstr("_S") + sscanf("%f") (reference §5). */
static int read_tagged(const char *s, const char *tag, float *v)
{
    const char *p = strstr(s, tag);
    char *end;
    float f;

    if (!p)
        return 0;
    errno = 0;
    f = strtof(p + strlen(tag), &end);
    if (end == p + strlen(tag))
        return -1;
    if (!isfinite(f))
        return -1;
    *v = f;
    return 1;
}

enum otf_status otf_model_activ_parse(const char *s, struct otf_model_activ *a,
                                      struct otf_errbuf *eb)
{
    size_t n = strnlen(s, 41);

    if (n == 0 || n > 39)
        return OTF_FAIL(eb, OTF_E_FORMAT, "activation string empty or too long");
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return OTF_FAIL(eb, OTF_E_FORMAT, "activation string has a non-printable byte");
    memset(a, 0, sizeof(*a));
    memcpy(a->name, s, n);
    a->relu_sat = 800.0f;
    a->relu_leak = 0.05f;
    a->logi_sat = 6.0f;
    a->logi_beta = 1.0f;
    if (strncmp(s, "LIN", 3) == 0) {
        a->kind = OTF_MODEL_ACTIV_LIN;
    } else if (strncmp(s, "SMAX", 4) == 0) {
        a->kind = OTF_MODEL_ACTIV_SMAX;
    } else if (strncmp(s, "YOLO", 4) == 0) {
        a->kind = OTF_MODEL_ACTIV_YOLO;
    } else if (strncmp(s, "RELU", 4) == 0) {
        a->kind = OTF_MODEL_ACTIV_RELU;
        if (read_tagged(a->name, "_S", &a->relu_sat) < 0 ||
            read_tagged(a->name, "_L", &a->relu_leak) < 0)
            return OTF_FAIL(eb, OTF_E_FORMAT, "bad RELU parameters in \"%s\"", a->name);
    } else if (strncmp(s, "LOGI", 4) == 0) {
        a->kind = OTF_MODEL_ACTIV_LOGI;
        if (read_tagged(a->name, "_S", &a->logi_sat) < 0 ||
            read_tagged(a->name, "_B", &a->logi_beta) < 0)
            return OTF_FAIL(eb, OTF_E_FORMAT, "bad LOGI parameters in \"%s\"", a->name);
    } else {
        return OTF_FAIL(eb, OTF_E_FORMAT, "unknown activation \"%s\"", a->name);
    }
    return OTF_OK;
}

static int dims_ok(const int *v, int n, int lo)
{
    for (int i = 0; i < n; i++)
        if (v[i] < lo || v[i] > OTF_MODEL_MAX_DIM)
            return 0;
    return 1;
}

static enum otf_status shape_set(struct otf_model_shape *o, int64_t w, int64_t h, int64_t d,
                                 int64_t c, size_t extra, size_t li, struct otf_errbuf *eb)
{
    size_t s;

    if (w < 1 || h < 1 || d < 1 || c < 1)
        return OTF_FAIL(eb, OTF_E_INVAL,
                        "layer %zu: output would be empty (%lld x %lld x %lld x %lld)", li + 1,
                        (long long)w, (long long)h, (long long)d, (long long)c);
    if (w > OTF_MODEL_MAX_DIM * 16 || h > OTF_MODEL_MAX_DIM * 16 || d > OTF_MODEL_MAX_DIM * 16 ||
        c > OTF_MODEL_MAX_DIM)
        return OTF_FAIL(eb, OTF_E_LIMIT, "layer %zu: output dims too large", li + 1);
    if (otf_mul_size((size_t)w * (size_t)h, (size_t)d * (size_t)c, &s) != 0 || s > MAX_IMAGE_FLOATS)
        return OTF_FAIL(eb, OTF_E_LIMIT, "layer %zu: output too large", li + 1);
    o->w = (int)w;
    o->h = (int)h;
    o->d = (int)d;
    o->c = (int)c;
    o->size = s + extra;
    return OTF_OK;
}

enum otf_status otf_model_layer_shape(const struct otf_model_net *net, size_t i,
                                      const struct otf_model_shape *in, struct otf_model_shape *out,
                                      struct otf_errbuf *eb)
{
    const struct otf_model_layer *L = &net->layers[i];
    const struct otf_model_layer *prev = i > 0 ? &net->layers[i - 1] : NULL;
    int after_dense = prev && prev->kind == OTF_MODEL_LAYER_DENSE;
    int64_t n[3] = {in->w, in->h, in->d}, o[3];

    switch (L->kind) {
    case OTF_MODEL_LAYER_CONV: {
        const struct otf_model_conv *c = &L->conv;
        int64_t c_in = in->c;
        if (after_dense) {
            /* CIANNA reinterprets the dense output as prev_size x prev_depth (reference §3). */
            int64_t want =
                (int64_t)c->prev_size[0] * c->prev_size[1] * c->prev_size[2] * c->prev_depth;
            if (want != in->c)
                return OTF_FAIL(eb, OTF_E_INVAL,
                                "layer %zu: conv after dense needs %lld neurons, got %d", i + 1,
                                (long long)want, in->c);
            for (int k = 0; k < 3; k++)
                n[k] = c->prev_size[k];
            c_in = c->prev_depth;
        }
        if (c_in != c->c_in)
            return OTF_FAIL(eb, OTF_E_INVAL,
                            "layer %zu: weights are for %d input channels, got %lld", i + 1,
                            c->c_in, (long long)c_in);
        for (int k = 0; k < 3; k++) {
            int64_t ne = n[k] + (n[k] - 1) * c->int_padding[k] + 2 * (int64_t)c->padding[k];
            if (ne < c->f_size[k])
                return OTF_FAIL(eb, OTF_E_INVAL,
                                "layer %zu: filter %d larger than the padded input %lld (dim %d)",
                                i + 1, c->f_size[k], (long long)ne, k);
            o[k] = (ne - c->f_size[k]) / c->stride[k] + 1;
        }
        return shape_set(out, o[0], o[1], o[2], c->nb_filters, 0, i, eb);
    }
    case OTF_MODEL_LAYER_POOL: {
        const struct otf_model_pool *p = &L->pool;
        if (after_dense)
            return OTF_FAIL(eb, OTF_E_INVAL, "layer %zu: pool after dense", i + 1);
        if (p->is_global)
            return shape_set(out, 1, 1, 1, in->c, 0, i, eb);
        for (int k = 0; k < 3; k++) {
            int64_t ne = n[k] + 2 * (int64_t)p->padding[k];
            if (ne < p->p_size[k])
                return OTF_FAIL(eb, OTF_E_INVAL, "layer %zu: pool window larger than the input",
                                i + 1);
            o[k] = (ne - p->p_size[k]) / p->stride[k] + 1;
        }
        return shape_set(out, o[0], o[1], o[2], in->c, 0, i, eb);
    }
    case OTF_MODEL_LAYER_NORM:
        if (after_dense || !prev)
            return OTF_FAIL(eb, OTF_E_INVAL, "layer %zu: norm must follow a conv or pool", i + 1);
        if (in->c != L->norm.c_in)
            return OTF_FAIL(eb, OTF_E_INVAL, "layer %zu: norm for %d channels, got %d", i + 1,
                            L->norm.c_in, in->c);
        return shape_set(out, in->w, in->h, in->d, in->c, 0, i, eb);
    case OTF_MODEL_LAYER_LRN:
        if (after_dense || !prev)
            return OTF_FAIL(eb, OTF_E_INVAL, "layer %zu: lrn must follow a conv or pool", i + 1);
        return shape_set(out, in->w, in->h, in->d, in->c, 0, i, eb);
    case OTF_MODEL_LAYER_DENSE: {
        /* Input vector: flattened previous output + the bias input; after a dense layer the
         * previous output already ends with its bias node (reference §6.5). */
        size_t in_size = after_dense ? in->size : in->size + 1;
        if (in_size != L->dense.in_size)
            return OTF_FAIL(eb, OTF_E_INVAL,
                            "layer %zu: dense weights take %zu inputs, this input size gives %zu",
                            i + 1, L->dense.in_size, in_size);
        return shape_set(out, 1, 1, 1, L->dense.nb_neurons, 1, i, eb);
    }
    }
    return OTF_FAIL(eb, OTF_E_INTERNAL, "layer %zu: bad kind", i + 1);
}

enum otf_status otf_model_infer_shapes(const struct otf_model_net *net, int w, int h, int d,
                                       struct otf_model_shape *shapes, struct otf_errbuf *eb)
{
    return otf_model_infer_shapes_prefix(net, net->n_layers, w, h, d, shapes, eb);
}

enum otf_status otf_model_infer_shapes_prefix(const struct otf_model_net *net, size_t n_layers,
                                              int w, int h, int d, struct otf_model_shape *shapes,
                                              struct otf_errbuf *eb)
{
    enum otf_status rc;

    if (n_layers > net->n_layers)
        return OTF_FAIL(eb, OTF_E_INVAL, "%zu layers asked, the net has %zu", n_layers,
                        net->n_layers);
    if (w < 1 || h < 1 || d < 1 || w > OTF_MODEL_MAX_DIM || h > OTF_MODEL_MAX_DIM ||
        d > OTF_MODEL_MAX_DIM)
        return OTF_FAIL(eb, OTF_E_INVAL, "input size %dx%dx%d out of range", w, h, d);
    rc = shape_set(&shapes[0], w, h, d, net->in_dims[3], 0, (size_t)-1, eb);
    for (size_t i = 0; rc == OTF_OK && i < n_layers; i++)
        rc = otf_model_layer_shape(net, i, &shapes[i], &shapes[i + 1], eb);
    return rc;
}

double otf_model_layer_flops(const struct otf_model_net *net, size_t i,
                             const struct otf_model_shape *shapes)
{
    const struct otf_model_layer *L = &net->layers[i];
    const struct otf_model_shape *o = &shapes[i + 1];

    if (L->kind == OTF_MODEL_LAYER_CONV)
        return 2.0 * o->w * o->h * o->d * (double)o->c * (double)(L->conv.flat_f_size - 1);
    if (L->kind == OTF_MODEL_LAYER_DENSE)
        return 2.0 * (double)(L->dense.in_size - 1) * L->dense.nb_neurons;
    return 0.0;
}

double otf_model_net_flops(const struct otf_model_net *net, const struct otf_model_shape *shapes)
{
    double f = 0.0;

    for (size_t i = 0; i < net->n_layers; i++)
        f += otf_model_layer_flops(net, i, shapes);
    return f;
}

const struct otf_model_yolo *otf_model_net_yolo(const struct otf_model_net *net)
{
    if (!net || net->n_layers == 0 || !net->layers[net->n_layers - 1].has_yolo)
        return NULL;
    return &net->layers[net->n_layers - 1].yolo;
}

void otf_model_net_free(struct otf_model_net *net)
{
    if (!net)
        return;
    for (size_t i = 0; i < net->n_layers; i++)
        otf_free(net->layers[i].weights);
    free(net->layers);
    free(net);
}

/* ---- builder ---- */

enum otf_status otf_model_builder_begin(struct otf_model_builder *b, const int dims[4],
                                        enum otf_model_format fmt, struct otf_errbuf *eb)
{
    memset(b, 0, sizeof(*b));
    if (!dims_ok(dims, 4, 1))
        return OTF_FAIL(eb, OTF_E_FORMAT, "header dims %d x %d x %d x %d out of range [1, %d]",
                        dims[0], dims[1], dims[2], dims[3], OTF_MODEL_MAX_DIM);
    b->net = otf_xcalloc(1, sizeof(*b->net));
    memcpy(b->net->in_dims, dims, sizeof(b->net->in_dims));
    b->net->format = fmt;
    b->cur.w = dims[0];
    b->cur.h = dims[1];
    b->cur.d = dims[2];
    b->cur.c = dims[3];
    b->cur.size = (size_t)dims[0] * (size_t)dims[1] * (size_t)dims[2] * (size_t)dims[3];
    return OTF_OK;
}

static enum otf_status check_yolo(const struct otf_model_layer *L, size_t li, struct otf_errbuf *eb)
{
    const struct otf_model_yolo *y = &L->yolo;
    int64_t per;

    if (y->nb_box < 1 || y->nb_box > OTF_MODEL_MAX_BOXES)
        return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: YOLO nb_box %d out of range [1, %d]", li + 1,
                        y->nb_box, OTF_MODEL_MAX_BOXES);
    if (y->nb_class < 0 || y->nb_class > OTF_MODEL_MAX_DIM || y->nb_param < 0 ||
        y->nb_param > OTF_MODEL_MAX_DIM)
        return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: YOLO nb_class %d / nb_param %d out of range",
                        li + 1, y->nb_class, y->nb_param);
    if (y->fit_dim < 0 || y->fit_dim > 3)
        return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: YOLO fit_dim %d not in [0, 3]", li + 1,
                        y->fit_dim);
    if (y->class_softmax != 0 && y->class_softmax != 1)
        return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: YOLO class_softmax %d not 0 or 1", li + 1,
                        y->class_softmax);
    per = 8 + (int64_t)y->nb_class + y->nb_param;
    if ((int64_t)L->conv.nb_filters != per * y->nb_box)
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "layer %zu: YOLO needs nb_box*(8+nb_class+nb_param) = %lld filters, has %d",
                        li + 1, (long long)(per * y->nb_box), L->conv.nb_filters);
    for (int k = 0; k < 3; k++)
        for (int bx = 0; bx < y->nb_box; bx++)
            if (!isfinite(y->priors[k][bx]))
                return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: non-finite YOLO prior", li + 1);
    for (int r = 0; r < 6; r++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(y->sm[r][k]))
                return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: non-finite YOLO slope table", li + 1);
    return OTF_OK;
}

/* Checks the hyper-parameters of `L` and sizes its weights against the running shape. */
static enum otf_status size_layer(struct otf_model_builder *b, struct otf_model_layer *L, size_t li,
                                  struct otf_errbuf *eb)
{
    const struct otf_model_layer *prev = li > 0 ? &b->net->layers[li - 1] : NULL;
    size_t nw = 0;

    if (!isfinite(L->dropout_rate) || L->dropout_rate < 0.0f || L->dropout_rate > 1.0f)
        return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: dropout rate %g not in [0, 1]", li + 1,
                        (double)L->dropout_rate);
    if (!isfinite(L->bias_value))
        return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: non-finite bias value", li + 1);
    if (L->activ.kind == OTF_MODEL_ACTIV_YOLO && L->kind != OTF_MODEL_LAYER_CONV)
        return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: YOLO activation on a %s layer", li + 1,
                        otf_model_layer_kind_name(L->kind));
    L->has_yolo = L->activ.kind == OTF_MODEL_ACTIV_YOLO;

    switch (L->kind) {
    case OTF_MODEL_LAYER_CONV: {
        struct otf_model_conv *c = &L->conv;
        int64_t c_in = b->cur.c;
        if (c->nb_filters < 1 || c->nb_filters > OTF_MODEL_MAX_DIM || !dims_ok(c->f_size, 3, 1) ||
            !dims_ok(c->stride, 3, 1) || !dims_ok(c->padding, 3, 0) ||
            !dims_ok(c->int_padding, 3, 0))
            return OTF_FAIL(eb, OTF_E_FORMAT,
                            "layer %zu: conv sizes out of range (filters %d, f %dx%dx%d, stride "
                            "%dx%dx%d, pad %dx%dx%d, int_pad %dx%dx%d)",
                            li + 1, c->nb_filters, c->f_size[0], c->f_size[1], c->f_size[2],
                            c->stride[0], c->stride[1], c->stride[2], c->padding[0], c->padding[1],
                            c->padding[2], c->int_padding[0], c->int_padding[1], c->int_padding[2]);
        if (prev && prev->kind == OTF_MODEL_LAYER_DENSE) {
            if (!dims_ok(c->prev_size, 3, 1) || c->prev_depth < 1 ||
                c->prev_depth > OTF_MODEL_MAX_DIM)
                return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: bad prev_size after dense", li + 1);
            c_in = c->prev_depth;
        }
        c->c_in = (int)c_in;
        c->flat_f_size =
            (size_t)c->f_size[0] * (size_t)c->f_size[1] * (size_t)c->f_size[2] * (size_t)c_in + 1;
        if (otf_mul_size((size_t)c->nb_filters, c->flat_f_size, &nw) != 0)
            return OTF_FAIL(eb, OTF_E_LIMIT, "layer %zu: weight count overflows", li + 1);
        if (L->has_yolo) {
            enum otf_status rc = check_yolo(L, li, eb);
            if (rc != OTF_OK)
                return rc;
        }
        break;
    }
    case OTF_MODEL_LAYER_POOL: {
        struct otf_model_pool *p = &L->pool;
        if (!li && b->cur.c > 1)
            /* CIANNA mis-strides a first-layer pool over several channels (reference §6.2). */
            return OTF_FAIL(eb, OTF_E_FORMAT, "layer 1: pool as first layer with %d channels",
                            b->cur.c);
        if (p->is_global != 0 && p->is_global != 1)
            return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: pool global flag %d", li + 1,
                            p->is_global);
        if (!p->is_global &&
            (!dims_ok(p->p_size, 3, 1) || !dims_ok(p->stride, 3, 1) || !dims_ok(p->padding, 3, 0)))
            return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: pool sizes out of range", li + 1);
        break;
    }
    case OTF_MODEL_LAYER_NORM: {
        struct otf_model_norm *n = &L->norm;
        if (n->group_size < 1 || n->group_size > OTF_MODEL_MAX_DIM)
            return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: group size %d out of range", li + 1,
                            n->group_size);
        if (b->cur.c % n->group_size != 0)
            /* CIANNA reads out of bounds in the last group (reference §6.3). */
            return OTF_FAIL(eb, OTF_E_FORMAT,
                            "layer %zu: %d channels not divisible by group size %d", li + 1,
                            b->cur.c, n->group_size);
        n->c_in = b->cur.c;
        n->nb_group = b->cur.c / n->group_size;
        if (n->set_off < 0 || n->set_off > n->nb_group)
            return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: set_off %d not in [0, %d]", li + 1,
                            n->set_off, n->nb_group);
        nw = 2 * (size_t)n->nb_group;
        break;
    }
    case OTF_MODEL_LAYER_LRN: {
        struct otf_model_lrn *r = &L->lrn;
        if (r->range < 1 || r->range > OTF_MODEL_MAX_DIM || !isfinite(r->k) ||
            !isfinite(r->alpha) || !isfinite(r->beta))
            return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: bad LRN parameters", li + 1);
        break;
    }
    case OTF_MODEL_LAYER_DENSE: {
        struct otf_model_dense *d = &L->dense;
        if (d->nb_neurons < 1 || d->nb_neurons > (1 << 24))
            return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: %d neurons out of range", li + 1,
                            d->nb_neurons);
        d->in_size = (prev && prev->kind == OTF_MODEL_LAYER_DENSE) ? b->cur.size : b->cur.size + 1;
        if (otf_mul_size(d->in_size, (size_t)d->nb_neurons + 1, &nw) != 0)
            return OTF_FAIL(eb, OTF_E_LIMIT, "layer %zu: weight count overflows", li + 1);
        break;
    }
    default:
        return OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: bad kind", li + 1);
    }
    L->n_weights = nw;
    return OTF_OK;
}

enum otf_status otf_model_builder_add(struct otf_model_builder *b, const struct otf_model_layer *L,
                                      size_t bytes_left, size_t min_bytes_per,
                                      struct otf_model_layer **added, struct otf_errbuf *eb)
{
    struct otf_model_net *net = b->net;
    size_t li = net->n_layers;
    struct otf_model_layer tmp = *L;
    struct otf_model_shape out;
    enum otf_status rc;

    if (li >= OTF_MODEL_MAX_LAYERS)
        return OTF_FAIL(eb, OTF_E_LIMIT, "more than %d layers", OTF_MODEL_MAX_LAYERS);
    tmp.weights = NULL;
    tmp.n_weights = 0;
    rc = size_layer(b, &tmp, li, eb);
    if (rc != OTF_OK)
        return rc;
    if (tmp.n_weights > OTF_MODEL_MAX_PARAMS ||
        net->n_params + tmp.n_weights > OTF_MODEL_MAX_PARAMS)
        return OTF_FAIL(eb, OTF_E_LIMIT, "layer %zu: %zu parameters, above the cap of %zu", li + 1,
                        net->n_params + tmp.n_weights, OTF_MODEL_MAX_PARAMS);
    if (min_bytes_per && tmp.n_weights > bytes_left / min_bytes_per)
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "layer %zu: %zu weights announced but the file is truncated", li + 1,
                        tmp.n_weights);
    if (li == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        net->layers = otf_xrealloc(net->layers, b->cap * sizeof(*net->layers));
    }
    net->layers[li] = tmp;
    net->n_layers = li + 1;
    /* The shape at the header dims must be valid: CIANNA would refuse (or crash) otherwise. */
    rc = otf_model_layer_shape(net, li, &b->cur, &out, eb);
    if (rc != OTF_OK) {
        net->n_layers = li;
        if (rc == OTF_E_INVAL) {
            /* At load time a bad shape is a property of the file. */
            rc = OTF_E_FORMAT;
            if (eb)
                eb->code = rc;
        }
        return rc;
    }
    b->cur = out;
    net->n_params += tmp.n_weights;
    *added = &net->layers[li];
    return OTF_OK;
}

enum otf_status otf_model_builder_alloc_weights(struct otf_model_layer *added,
                                                struct otf_errbuf *eb)
{
    if (added->n_weights == 0)
        return OTF_OK;
    added->weights = otf_malloc(added->n_weights * sizeof(float));
    if (!added->weights)
        return OTF_FAIL(eb, OTF_E_NOMEM, "cannot allocate %zu weights", added->n_weights);
    return OTF_OK;
}

enum otf_status otf_model_builder_end(struct otf_model_builder *b, enum otf_status rc,
                                      struct otf_model_net **out, struct otf_errbuf *eb)
{
    struct otf_model_net *net = b->net;

    if (rc == OTF_OK && net && net->n_layers == 0)
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "no layers after the header");
    for (size_t i = 0; rc == OTF_OK && i < net->n_layers; i++) {
        const struct otf_model_layer *L = &net->layers[i];
        for (size_t j = 0; j < L->n_weights; j++)
            if (!isfinite(L->weights[j])) {
                rc = OTF_FAIL(eb, OTF_E_FORMAT, "layer %zu: non-finite weight at index %zu", i + 1,
                              j);
                break;
            }
    }
    if (rc != OTF_OK) {
        otf_model_net_free(net);
        b->net = NULL;
        return rc;
    }
    *out = net;
    b->net = NULL;
    return OTF_OK;
}

/* ---- entry points ---- */

int otf_model_looks_text(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t i = 0;

    for (int k = 0; k < 4; k++) {
        size_t start = i;
        while (i < len && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == start || i >= len)
            return 0;
        if (k < 3 && p[i++] != 'x')
            return 0;
    }
    while (i < len && (p[i] == ' ' || p[i] == '\r'))
        i++;
    return i < len && p[i] == '\n';
}

enum otf_status otf_model_load_from_buffer(const void *buf, size_t len, enum otf_model_format fmt,
                                           struct otf_model_net **out, struct otf_errbuf *eb)
{
    if (!buf && len)
        return OTF_FAIL(eb, OTF_E_INVAL, "NULL buffer");
    if (len > OTF_MODEL_MAX_FILE)
        return OTF_FAIL(eb, OTF_E_LIMIT, "model of %zu bytes above the cap", len);
    if (fmt == OTF_MODEL_FORMAT_AUTO)
        fmt = otf_model_looks_text(buf, len) ? OTF_MODEL_FORMAT_TEXT : OTF_MODEL_FORMAT_BINARY;
    if (fmt == OTF_MODEL_FORMAT_TEXT)
        return otf_model_load_text(buf, len, out, eb);
    return otf_model_load_binary(buf, len, out, eb);
}

enum otf_status otf_model_load_file(const char *path, struct otf_model_net **out,
                                    struct otf_errbuf *eb)
{
    enum otf_status rc;
    struct stat st;
    void *map = MAP_FAILED;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return OTF_FAIL(eb, errno == ENOENT ? OTF_E_NOTFOUND : OTF_E_IO, "cannot open %s: %s", path,
                        strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = OTF_FAIL(eb, OTF_E_IO, "%s is not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > OTF_MODEL_MAX_FILE) {
        rc = OTF_FAIL(eb, OTF_E_LIMIT, "%s: %lld bytes above the model cap", path,
                      (long long)st.st_size);
        goto out;
    }
    if (st.st_size == 0) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "%s: empty file", path);
        goto out;
    }
    /* A read-only private mapping: no copy of a 50 MB file, and the loader copies the weights
     * out, so the mapping lives only for this call. */
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = OTF_FAIL(eb, OTF_E_IO, "cannot map %s: %s", path, strerror(errno));
        goto out;
    }
    rc = otf_model_load_from_buffer(map, (size_t)st.st_size, OTF_MODEL_FORMAT_AUTO, out, eb);
    if (rc != OTF_OK && eb)
        otf_errbuf_prefix(eb, "%s", path);
out:
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    close(fd);
    return rc;
}
