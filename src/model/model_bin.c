/* model: CIANNA's binary save format (reference §3): a 16-byte header of four int32 dims, then
 * layer records until EOF, each a type byte and fixed fields, 40-byte string fields holding a
 * NUL-terminated string and garbage. Every read is bounds-checked against the buffer, and a
 * layer's weight count is checked against the bytes left before its weights are allocated. */
#include <math.h>
#include <string.h>

#include "model/model_int.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the CIANNA binary reader assumes a little-endian host (files are little-endian)"
#endif

#define S40 40

struct rd {
    const unsigned char *p;
    size_t len;
    size_t off;
};

static enum otf_status need(struct rd *r, size_t n, const char *what, struct otf_errbuf *eb)
{
    if (r->len - r->off < n)
        return OTF_FAIL(eb, OTF_E_FORMAT, "truncated at byte %zu reading %s (%zu bytes left)",
                        r->off, what, r->len - r->off);
    return OTF_OK;
}

static enum otf_status i32s(struct rd *r, int *v, int n, const char *what, struct otf_errbuf *eb)
{
    enum otf_status rc = need(r, 4 * (size_t)n, what, eb);
    if (rc != OTF_OK)
        return rc;
    for (int i = 0; i < n; i++) {
        int32_t x;
        memcpy(&x, r->p + r->off, 4);
        r->off += 4;
        v[i] = x;
    }
    return OTF_OK;
}

static enum otf_status f32s(struct rd *r, float *v, size_t n, const char *what,
                            struct otf_errbuf *eb)
{
    enum otf_status rc;

    if (n > (r->len - r->off) / 4)
        return need(r, SIZE_MAX, what, eb);
    rc = need(r, 4 * n, what, eb);
    if (rc != OTF_OK)
        return rc;
    memcpy(v, r->p + r->off, 4 * n);
    r->off += 4 * n;
    return OTF_OK;
}

/* A 40-byte string field: the string ends at the first NUL; what follows is garbage. */
static enum otf_status s40(struct rd *r, char out[S40 + 1], const char *what, struct otf_errbuf *eb)
{
    enum otf_status rc = need(r, S40, what, eb);
    size_t n;

    if (rc != OTF_OK)
        return rc;
    n = strnlen((const char *)r->p + r->off, S40);
    if (n == S40)
        return OTF_FAIL(eb, OTF_E_FORMAT, "%s at byte %zu has no NUL in its 40 bytes", what,
                        r->off);
    memcpy(out, r->p + r->off, n);
    out[n] = '\0';
    r->off += S40;
    return OTF_OK;
}

static enum otf_status activ(struct rd *r, struct otf_model_activ *a, struct otf_errbuf *eb)
{
    char s[S40 + 1];
    size_t at = r->off;
    enum otf_status rc = s40(r, s, "activation", eb);

    if (rc == OTF_OK && (rc = otf_model_activ_parse(s, a, eb)) != OTF_OK && eb)
        otf_errbuf_prefix(eb, "byte %zu", at);
    return rc;
}

static enum otf_status read_conv(struct rd *r, struct otf_model_layer *L, struct otf_errbuf *eb)
{
    struct otf_model_conv *c = &L->conv;
    enum otf_status rc;
    int v[17];

    rc = i32s(r, v, 17, "conv record", eb);
    if (rc != OTF_OK)
        return rc;
    c->nb_filters = v[0];
    memcpy(c->f_size, v + 1, sizeof(c->f_size));
    memcpy(c->stride, v + 4, sizeof(c->stride));
    memcpy(c->padding, v + 7, sizeof(c->padding));
    memcpy(c->int_padding, v + 10, sizeof(c->int_padding));
    memcpy(c->prev_size, v + 13, sizeof(c->prev_size));
    c->prev_depth = v[16];
    if ((rc = f32s(r, &L->dropout_rate, 1, "dropout", eb)) != OTF_OK ||
        (rc = f32s(r, &L->bias_value, 1, "bias value", eb)) != OTF_OK ||
        (rc = activ(r, &L->activ, eb)) != OTF_OK)
        return rc;
    if (L->activ.kind == OTF_MODEL_ACTIV_YOLO) {
        struct otf_model_yolo *y = &L->yolo;
        int h[5];
        if ((rc = i32s(r, h, 5, "YOLO header", eb)) != OTF_OK)
            return rc;
        y->nb_box = h[0];
        y->nb_class = h[1];
        y->nb_param = h[2];
        y->fit_dim = h[3];
        y->class_softmax = h[4];
        if (y->nb_box < 1 || y->nb_box > OTF_MODEL_MAX_BOXES)
            return OTF_FAIL(eb, OTF_E_FORMAT, "YOLO nb_box %d out of range [1, %d] at byte %zu",
                            y->nb_box, OTF_MODEL_MAX_BOXES, r->off - 20);
        for (int k = 0; k < 3; k++)
            if ((rc = f32s(r, y->priors[k], (size_t)y->nb_box, "YOLO priors", eb)) != OTF_OK)
                return rc;
        for (int k = 0; k < 6; k++)
            if ((rc = f32s(r, y->sm[k], 3, "YOLO slopes", eb)) != OTF_OK)
                return rc;
    }
    return OTF_OK;
}

static enum otf_status read_pool(struct rd *r, struct otf_model_layer *L, struct otf_errbuf *eb)
{
    struct otf_model_pool *p = &L->pool;
    char type[S40 + 1];
    enum otf_status rc;
    int v[10];

    if ((rc = i32s(r, v, 10, "pool record", eb)) != OTF_OK)
        return rc;
    memcpy(p->p_size, v, sizeof(p->p_size));
    memcpy(p->stride, v + 3, sizeof(p->stride));
    memcpy(p->padding, v + 6, sizeof(p->padding));
    p->is_global = v[9];
    if ((rc = f32s(r, &L->dropout_rate, 1, "dropout", eb)) != OTF_OK ||
        (rc = s40(r, type, "pool type", eb)) != OTF_OK)
        return rc;
    if (strcmp(type, "MAX") == 0)
        p->type = OTF_MODEL_POOL_MAX;
    else if (strcmp(type, "AVG") == 0)
        p->type = OTF_MODEL_POOL_AVG;
    else
        return OTF_FAIL(eb, OTF_E_FORMAT, "unknown pool type at byte %zu", r->off - S40);
    return activ(r, &L->activ, eb);
}

static enum otf_status read_norm(struct rd *r, struct otf_model_layer *L, struct otf_errbuf *eb)
{
    char type[S40 + 1];
    enum otf_status rc;
    int v[2];

    if ((rc = s40(r, type, "norm type", eb)) != OTF_OK)
        return rc;
    if (strcmp(type, "GN") != 0)
        return OTF_FAIL(eb, OTF_E_FORMAT, "unknown norm type at byte %zu (only GN exists)",
                        r->off - S40);
    if ((rc = i32s(r, v, 2, "norm record", eb)) != OTF_OK)
        return rc;
    L->norm.group_size = v[0];
    L->norm.set_off = v[1];
    return activ(r, &L->activ, eb);
}

static enum otf_status read_lrn(struct rd *r, struct otf_model_layer *L, struct otf_errbuf *eb)
{
    enum otf_status rc;
    float f[3];

    if ((rc = i32s(r, &L->lrn.range, 1, "lrn range", eb)) != OTF_OK ||
        (rc = f32s(r, f, 3, "lrn record", eb)) != OTF_OK)
        return rc;
    L->lrn.k = f[0];
    L->lrn.alpha = f[1];
    L->lrn.beta = f[2];
    return activ(r, &L->activ, eb);
}

static enum otf_status read_dense(struct rd *r, struct otf_model_layer *L, struct otf_errbuf *eb)
{
    enum otf_status rc;

    if ((rc = i32s(r, &L->dense.nb_neurons, 1, "dense record", eb)) != OTF_OK ||
        (rc = f32s(r, &L->dropout_rate, 1, "dropout", eb)) != OTF_OK ||
        (rc = f32s(r, &L->bias_value, 1, "bias value", eb)) != OTF_OK)
        return rc;
    return activ(r, &L->activ, eb);
}

enum otf_status otf_model_load_binary(const unsigned char *p, size_t len,
                                      struct otf_model_net **out, struct otf_errbuf *eb)
{
    struct rd r = {p, len, 0};
    struct otf_model_builder b;
    enum otf_status rc;
    int dims[4];

    if ((rc = i32s(&r, dims, 4, "header", eb)) != OTF_OK)
        return rc;
    if ((rc = otf_model_builder_begin(&b, dims, OTF_MODEL_FORMAT_BINARY, eb)) != OTF_OK)
        return rc;
    while (rc == OTF_OK && r.off < r.len) {
        struct otf_model_layer L;
        struct otf_model_layer *added = NULL;
        size_t at = r.off;
        unsigned char t = r.p[r.off++];

        memset(&L, 0, sizeof(L));
        switch (t) {
        case 'C':
            L.kind = OTF_MODEL_LAYER_CONV;
            rc = read_conv(&r, &L, eb);
            break;
        case 'P':
            L.kind = OTF_MODEL_LAYER_POOL;
            rc = read_pool(&r, &L, eb);
            break;
        case 'N':
            L.kind = OTF_MODEL_LAYER_NORM;
            rc = read_norm(&r, &L, eb);
            break;
        case 'L':
            L.kind = OTF_MODEL_LAYER_LRN;
            rc = read_lrn(&r, &L, eb);
            break;
        case 'D':
            L.kind = OTF_MODEL_LAYER_DENSE;
            rc = read_dense(&r, &L, eb);
            break;
        default:
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "unknown layer type 0x%02x at byte %zu (layer %zu)", t,
                          at, b.net->n_layers + 1);
            break;
        }
        if (rc == OTF_OK)
            rc = otf_model_builder_add(&b, &L, r.len - r.off, 4, &added, eb);
        if (rc == OTF_OK)
            rc = otf_model_builder_alloc_weights(added, eb);
        if (rc == OTF_OK && added->n_weights) {
            if (added->kind == OTF_MODEL_LAYER_NORM) {
                /* gamma[nb_group] then beta[nb_group]: already contiguous in our layout */
                rc = f32s(&r, added->weights, added->n_weights, "norm gamma/beta", eb);
            } else {
                rc = f32s(&r, added->weights, added->n_weights, "weights", eb);
            }
        }
    }
    return otf_model_builder_end(&b, rc, out, eb);
}
