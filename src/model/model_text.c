/* model: CIANNA's text save format (reference §4): the same records as the binary format,
 * printed with fprintf in the C locale. Numbers are tokens separated by blanks, weights are
 * "%g". Unlike CIANNA 1.0 this reader consumes the YOLO slope block (6 lines of 3 numbers), so
 * text files with a YOLO layer load. Every read is bounded by the buffer length; the buffer
 * need not be NUL-terminated. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_int.h"

struct tx {
    const char *p;
    size_t len;
    size_t off;
    size_t line; /* 1-based, for messages */
};

static void skip_ws(struct tx *t)
{
    while (t->off < t->len && (t->p[t->off] == ' ' || t->p[t->off] == '\t' ||
                               t->p[t->off] == '\n' || t->p[t->off] == '\r')) {
        if (t->p[t->off] == '\n')
            t->line++;
        t->off++;
    }
}

static enum otf_status fail_at(struct tx *t, struct otf_errbuf *eb, const char *what)
{
    if (t->off >= t->len)
        return OTF_FAIL(eb, OTF_E_FORMAT, "line %zu: end of file while reading %s", t->line, what);
    return OTF_FAIL(eb, OTF_E_FORMAT, "line %zu: expected %s at byte %zu", t->line, what, t->off);
}

static enum otf_status lit(struct tx *t, const char *s, struct otf_errbuf *eb)
{
    size_t n = strlen(s);

    if (t->len - t->off < n || memcmp(t->p + t->off, s, n) != 0)
        return fail_at(t, eb, s);
    t->off += n;
    return OTF_OK;
}

/* A decimal int as fscanf("%d") reads it (leading blanks allowed). */
static enum otf_status num_i(struct tx *t, int *v, const char *what, struct otf_errbuf *eb)
{
    long long x = 0;
    int neg = 0;
    size_t start;

    skip_ws(t);
    if (t->off < t->len && (t->p[t->off] == '-' || t->p[t->off] == '+'))
        neg = t->p[t->off++] == '-';
    start = t->off;
    while (t->off < t->len && t->p[t->off] >= '0' && t->p[t->off] <= '9') {
        x = x * 10 + (t->p[t->off++] - '0');
        if (x > 0x7fffffffLL)
            return OTF_FAIL(eb, OTF_E_FORMAT, "line %zu: %s too large", t->line, what);
    }
    if (t->off == start)
        return fail_at(t, eb, what);
    *v = (int)(neg ? -x : x);
    return OTF_OK;
}

/* A float as fscanf("%f") reads it, via strtof on a bounded copy of the token. */
static enum otf_status num_f(struct tx *t, float *v, const char *what, struct otf_errbuf *eb)
{
    char tok[64];
    size_t n = 0;
    char *end;

    skip_ws(t);
    while (t->off + n < t->len && n < sizeof(tok) - 1) {
        char c = t->p[t->off + n];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
            break;
        tok[n++] = c;
    }
    tok[n] = '\0';
    errno = 0;
    *v = strtof(tok, &end);
    if (end == tok)
        return fail_at(t, eb, what);
    if (!isfinite(*v))
        return OTF_FAIL(eb, OTF_E_FORMAT, "line %zu: %s out of float range", t->line, what);
    t->off += (size_t)(end - tok);
    return OTF_OK;
}

/* A blank-delimited word of at most 39 bytes (fscanf "%s" into CIANNA's 40-byte buffer). */
static enum otf_status word(struct tx *t, char out[41], const char *what, struct otf_errbuf *eb)
{
    size_t n = 0;

    skip_ws(t);
    while (t->off < t->len && t->p[t->off] != ' ' && t->p[t->off] != '\n' && t->p[t->off] != '\r' &&
           t->p[t->off] != '\t') {
        if (n == 39)
            return OTF_FAIL(eb, OTF_E_FORMAT, "line %zu: %s longer than 39 bytes", t->line, what);
        out[n++] = t->p[t->off++];
    }
    out[n] = '\0';
    if (n == 0)
        return fail_at(t, eb, what);
    return OTF_OK;
}

static enum otf_status activ(struct tx *t, struct otf_model_activ *a, struct otf_errbuf *eb)
{
    char s[41];
    enum otf_status rc = word(t, s, "activation", eb);

    if (rc == OTF_OK && (rc = otf_model_activ_parse(s, a, eb)) != OTF_OK && eb)
        otf_errbuf_prefix(eb, "line %zu", t->line);
    return rc;
}

/* "{a}x{b}x{c}" followed by `suffix`. */
static enum otf_status triple(struct tx *t, int v[3], const char *suffix, const char *what,
                              struct otf_errbuf *eb)
{
    enum otf_status rc;

    if ((rc = num_i(t, &v[0], what, eb)) != OTF_OK || (rc = lit(t, "x", eb)) != OTF_OK ||
        (rc = num_i(t, &v[1], what, eb)) != OTF_OK || (rc = lit(t, "x", eb)) != OTF_OK ||
        (rc = num_i(t, &v[2], what, eb)) != OTF_OK)
        return rc;
    return lit(t, suffix, eb);
}

/* C{nf}f{fw}x{fh}x{fd}.{sw}x..s{pw}x..p{iw}x..ip{W}x{H}x{D}x{C}idim{drop}d{bias}b{ACTIV} */
static enum otf_status read_conv(struct tx *t, struct otf_model_layer *L, struct otf_errbuf *eb)
{
    struct otf_model_conv *c = &L->conv;
    enum otf_status rc;

    if ((rc = num_i(t, &c->nb_filters, "filter count", eb)) != OTF_OK ||
        (rc = lit(t, "f", eb)) != OTF_OK ||
        (rc = triple(t, c->f_size, ".", "filter size", eb)) != OTF_OK ||
        (rc = triple(t, c->stride, "s", "stride", eb)) != OTF_OK ||
        (rc = triple(t, c->padding, "p", "padding", eb)) != OTF_OK ||
        (rc = triple(t, c->int_padding, "ip", "int_padding", eb)) != OTF_OK ||
        (rc = triple(t, c->prev_size, "x", "input dims", eb)) != OTF_OK ||
        (rc = num_i(t, &c->prev_depth, "input depth", eb)) != OTF_OK ||
        (rc = lit(t, "idim", eb)) != OTF_OK ||
        (rc = num_f(t, &L->dropout_rate, "dropout", eb)) != OTF_OK ||
        (rc = lit(t, "d", eb)) != OTF_OK ||
        (rc = num_f(t, &L->bias_value, "bias value", eb)) != OTF_OK ||
        (rc = lit(t, "b", eb)) != OTF_OK || (rc = activ(t, &L->activ, eb)) != OTF_OK)
        return rc;
    if (L->activ.kind == OTF_MODEL_ACTIV_YOLO) {
        struct otf_model_yolo *y = &L->yolo;
        if ((rc = num_i(t, &y->nb_box, "YOLO nb_box", eb)) != OTF_OK ||
            (rc = num_i(t, &y->nb_class, "YOLO nb_class", eb)) != OTF_OK ||
            (rc = num_i(t, &y->nb_param, "YOLO nb_param", eb)) != OTF_OK ||
            (rc = num_i(t, &y->fit_dim, "YOLO fit_dim", eb)) != OTF_OK ||
            (rc = num_i(t, &y->class_softmax, "YOLO class_softmax", eb)) != OTF_OK)
            return rc;
        if (y->nb_box < 1 || y->nb_box > OTF_MODEL_MAX_BOXES)
            return OTF_FAIL(eb, OTF_E_FORMAT, "line %zu: YOLO nb_box %d out of range [1, %d]",
                            t->line, y->nb_box, OTF_MODEL_MAX_BOXES);
        for (int k = 0; k < 3; k++)
            for (int b = 0; b < y->nb_box; b++)
                if ((rc = num_f(t, &y->priors[k][b], "YOLO prior", eb)) != OTF_OK)
                    return rc;
        /* The slope block CIANNA 1.0 writes but does not read back (reference §4). */
        for (int k = 0; k < 6; k++)
            for (int j = 0; j < 3; j++)
                if ((rc = num_f(t, &y->sm[k][j], "YOLO slope table", eb)) != OTF_OK)
                    return rc;
    }
    return OTF_OK;
}

/* P{px}x{py}x{pz}.{sw}x{sh}x{sd}s{pw}x{ph}x{pd}p{global}g_{drop}d{MAX|AVG} {ACTIV} */
static enum otf_status read_pool(struct tx *t, struct otf_model_layer *L, struct otf_errbuf *eb)
{
    struct otf_model_pool *p = &L->pool;
    enum otf_status rc;
    char type[41];

    if ((rc = triple(t, p->p_size, ".", "pool size", eb)) != OTF_OK ||
        (rc = triple(t, p->stride, "s", "pool stride", eb)) != OTF_OK ||
        (rc = triple(t, p->padding, "p", "pool padding", eb)) != OTF_OK ||
        (rc = num_i(t, &p->is_global, "global flag", eb)) != OTF_OK ||
        (rc = lit(t, "g_", eb)) != OTF_OK ||
        (rc = num_f(t, &L->dropout_rate, "dropout", eb)) != OTF_OK ||
        (rc = lit(t, "d", eb)) != OTF_OK || (rc = word(t, type, "pool type", eb)) != OTF_OK)
        return rc;
    if (strcmp(type, "MAX") == 0)
        p->type = OTF_MODEL_POOL_MAX;
    else if (strcmp(type, "AVG") == 0)
        p->type = OTF_MODEL_POOL_AVG;
    else
        return OTF_FAIL(eb, OTF_E_FORMAT, "line %zu: unknown pool type \"%s\"", t->line, type);
    return activ(t, &L->activ, eb);
}

/* N GN S{group_size}_O{set_off}{ACTIV} */
static enum otf_status read_norm(struct tx *t, struct otf_model_layer *L, struct otf_errbuf *eb)
{
    enum otf_status rc;
    char type[41];

    if ((rc = word(t, type, "norm type", eb)) != OTF_OK)
        return rc;
    if (strcmp(type, "GN") != 0)
        return OTF_FAIL(eb, OTF_E_FORMAT, "line %zu: unknown norm type \"%s\"", t->line, type);
    skip_ws(t);
    if ((rc = lit(t, "S", eb)) != OTF_OK ||
        (rc = num_i(t, &L->norm.group_size, "group size", eb)) != OTF_OK ||
        (rc = lit(t, "_O", eb)) != OTF_OK ||
        (rc = num_i(t, &L->norm.set_off, "set_off", eb)) != OTF_OK)
        return rc;
    return activ(t, &L->activ, eb);
}

/* L {range} {k} {alpha} {beta} {ACTIV} */
static enum otf_status read_lrn(struct tx *t, struct otf_model_layer *L, struct otf_errbuf *eb)
{
    enum otf_status rc;

    if ((rc = num_i(t, &L->lrn.range, "lrn range", eb)) != OTF_OK ||
        (rc = num_f(t, &L->lrn.k, "lrn k", eb)) != OTF_OK ||
        (rc = num_f(t, &L->lrn.alpha, "lrn alpha", eb)) != OTF_OK ||
        (rc = num_f(t, &L->lrn.beta, "lrn beta", eb)) != OTF_OK)
        return rc;
    return activ(t, &L->activ, eb);
}

/* D{nb}n{drop}d{bias}b{ACTIV} */
static enum otf_status read_dense(struct tx *t, struct otf_model_layer *L, struct otf_errbuf *eb)
{
    enum otf_status rc;

    if ((rc = num_i(t, &L->dense.nb_neurons, "neuron count", eb)) != OTF_OK ||
        (rc = lit(t, "n", eb)) != OTF_OK ||
        (rc = num_f(t, &L->dropout_rate, "dropout", eb)) != OTF_OK ||
        (rc = lit(t, "d", eb)) != OTF_OK ||
        (rc = num_f(t, &L->bias_value, "bias value", eb)) != OTF_OK ||
        (rc = lit(t, "b", eb)) != OTF_OK)
        return rc;
    return activ(t, &L->activ, eb);
}

enum otf_status otf_model_load_text(const char *p, size_t len, struct otf_model_net **out,
                                    struct otf_errbuf *eb)
{
    struct tx t = {p, len, 0, 1};
    struct otf_model_builder b;
    enum otf_status rc;
    int dims[4];

    if ((rc = num_i(&t, &dims[0], "header W", eb)) != OTF_OK || (rc = lit(&t, "x", eb)) ||
        (rc = num_i(&t, &dims[1], "header H", eb)) != OTF_OK || (rc = lit(&t, "x", eb)) ||
        (rc = num_i(&t, &dims[2], "header D", eb)) != OTF_OK || (rc = lit(&t, "x", eb)) ||
        (rc = num_i(&t, &dims[3], "header C", eb)) != OTF_OK)
        return rc;
    if ((rc = otf_model_builder_begin(&b, dims, OTF_MODEL_FORMAT_TEXT, eb)) != OTF_OK)
        return rc;
    for (;;) {
        struct otf_model_layer L;
        struct otf_model_layer *added = NULL;
        char type;

        skip_ws(&t);
        if (t.off >= t.len)
            break;
        memset(&L, 0, sizeof(L));
        type = t.p[t.off++];
        switch (type) {
        case 'C':
            L.kind = OTF_MODEL_LAYER_CONV;
            rc = read_conv(&t, &L, eb);
            break;
        case 'P':
            L.kind = OTF_MODEL_LAYER_POOL;
            rc = read_pool(&t, &L, eb);
            break;
        case 'N':
            L.kind = OTF_MODEL_LAYER_NORM;
            rc = read_norm(&t, &L, eb);
            break;
        case 'L':
            L.kind = OTF_MODEL_LAYER_LRN;
            rc = read_lrn(&t, &L, eb);
            break;
        case 'D':
            L.kind = OTF_MODEL_LAYER_DENSE;
            rc = read_dense(&t, &L, eb);
            break;
        default:
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "line %zu: unknown layer type 0x%02x (layer %zu)",
                          t.line, (unsigned char)type, b.net->n_layers + 1);
            break;
        }
        /* The shortest weight is "0 ": 2 bytes each. */
        if (rc == OTF_OK)
            rc = otf_model_builder_add(&b, &L, t.len - t.off, 2, &added, eb);
        if (rc == OTF_OK)
            rc = otf_model_builder_alloc_weights(added, eb);
        for (size_t j = 0; rc == OTF_OK && j < added->n_weights; j++)
            rc = num_f(&t, &added->weights[j], "weight", eb);
        if (rc != OTF_OK)
            break;
    }
    return otf_model_builder_end(&b, rc, out, eb);
}
