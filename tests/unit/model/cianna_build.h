/* Test helper: writes CIANNA binary model files in memory (docs/formats/cianna-model.md), with
 * the running shape tracked so that weight counts come out right, and weights drawn from a
 * seeded generator (or zeros). Header-only; used by the model and engine tests. */
#ifndef OTF_TEST_CIANNA_BUILD_H
#define OTF_TEST_CIANNA_BUILD_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cb {
    unsigned char *p;
    size_t len, cap;
    int w, h, d, c; /* running shape (dense: c = N, w=h=d=1) */
    int is_dense;   /* the last layer written is dense */
    int n_layers;
    uint64_t rng; /* 0 = zero weights */
    float wscale; /* weights ~ U(-1,1) * wscale / sqrt(fan_in) */
};

static inline void cb_put(struct cb *b, const void *v, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->len, v, n);
    b->len += n;
}

static inline void cb_i32(struct cb *b, int v)
{
    int32_t x = v;
    cb_put(b, &x, 4);
}

static inline void cb_f32(struct cb *b, float v)
{
    cb_put(b, &v, 4);
}

static inline void cb_s40(struct cb *b, const char *s)
{
    char f[40];
    memset(f, 0x5a, sizeof(f)); /* garbage after the NUL, as CIANNA leaves it */
    strncpy(f, s, 39);
    f[strlen(s) < 39 ? strlen(s) : 39] = '\0';
    cb_put(b, f, 40);
}

/* uniform in [-1, 1) from a 64-bit LCG */
static inline float cb_rand(struct cb *b)
{
    b->rng = b->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(b->rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static inline void cb_weights(struct cb *b, size_t n, size_t fan_in)
{
    float s = b->wscale / sqrtf((float)(fan_in ? fan_in : 1));
    for (size_t i = 0; i < n; i++)
        cb_f32(b, b->rng ? cb_rand(b) * s : 0.0f);
}

static inline void cb_begin(struct cb *b, int w, int h, int d, int c, uint64_t seed)
{
    memset(b, 0, sizeof(*b));
    b->w = w;
    b->h = h;
    b->d = d;
    b->c = c;
    b->rng = seed;
    b->wscale = 1.5f;
    cb_i32(b, w);
    cb_i32(b, h);
    cb_i32(b, d);
    cb_i32(b, c);
}

static inline int cb_out(int n, int f, int s, int p, int ip)
{
    return (n + (n - 1) * ip + 2 * p - f) / s + 1;
}

struct cb_yolo {
    int nb_box, nb_class, nb_param, fit_dim, class_softmax;
    float priors[3][16];
    float sm[6][3];
};

/* f, s, p, ip: {w, h, d}; prev: used after a dense layer ({W,H,D,C}), else the running shape */
static inline void cb_conv(struct cb *b, int nf, const int f[3], const int s[3], const int p[3],
                           const int ip[3], const int *prev, float drop, float bias,
                           const char *activ, const struct cb_yolo *y)
{
    int in[4] = {b->w, b->h, b->d, b->c};
    size_t flat;

    if (b->is_dense && prev)
        memcpy(in, prev, sizeof(in));
    cb_put(b, "C", 1);
    cb_i32(b, nf);
    for (int k = 0; k < 3; k++)
        cb_i32(b, f[k]);
    for (int k = 0; k < 3; k++)
        cb_i32(b, s[k]);
    for (int k = 0; k < 3; k++)
        cb_i32(b, p[k]);
    for (int k = 0; k < 3; k++)
        cb_i32(b, ip[k]);
    for (int k = 0; k < 4; k++)
        cb_i32(b, in[k]);
    cb_f32(b, drop);
    cb_f32(b, bias);
    cb_s40(b, activ);
    if (y) {
        cb_i32(b, y->nb_box);
        cb_i32(b, y->nb_class);
        cb_i32(b, y->nb_param);
        cb_i32(b, y->fit_dim);
        cb_i32(b, y->class_softmax);
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < y->nb_box; i++)
                cb_f32(b, y->priors[k][i]);
        for (int r = 0; r < 6; r++)
            for (int k = 0; k < 3; k++)
                cb_f32(b, y->sm[r][k]);
    }
    flat = (size_t)f[0] * f[1] * f[2] * in[3];
    for (int i = 0; i < nf; i++) {
        cb_weights(b, flat, flat);
        cb_weights(b, 1, 1);
    }
    b->w = cb_out(in[0], f[0], s[0], p[0], ip[0]);
    b->h = cb_out(in[1], f[1], s[1], p[1], ip[1]);
    b->d = cb_out(in[2], f[2], s[2], p[2], ip[2]);
    b->c = nf;
    b->is_dense = 0;
    b->n_layers++;
}

/* square 2-D conv shorthand */
static inline void cb_conv2(struct cb *b, int nf, int f, int s, int p, float drop, float bias,
                            const char *activ)
{
    int ff[3] = {f, f, 1}, ss[3] = {s, s, 1}, pp[3] = {p, p, 0}, ip[3] = {0, 0, 0};
    cb_conv(b, nf, ff, ss, pp, ip, NULL, drop, bias, activ, NULL);
}

static inline void cb_pool(struct cb *b, int ps, int s, int p, int global, float drop,
                           const char *type, const char *activ)
{
    cb_put(b, "P", 1);
    for (int k = 0; k < 3; k++)
        cb_i32(b, k < 2 ? ps : 1);
    for (int k = 0; k < 3; k++)
        cb_i32(b, k < 2 ? s : 1);
    for (int k = 0; k < 3; k++)
        cb_i32(b, k < 2 ? p : 0);
    cb_i32(b, global);
    cb_f32(b, drop);
    cb_s40(b, type);
    cb_s40(b, activ);
    if (global) {
        b->w = b->h = b->d = 1;
    } else {
        b->w = (b->w + 2 * p - ps) / s + 1;
        b->h = (b->h + 2 * p - ps) / s + 1;
    }
    b->n_layers++;
}

static inline void cb_norm(struct cb *b, int group_size, int set_off, const char *activ)
{
    int ng = b->c / group_size;
    cb_put(b, "N", 1);
    cb_s40(b, "GN");
    cb_i32(b, group_size);
    cb_i32(b, set_off);
    cb_s40(b, activ);
    for (int i = 0; i < ng; i++)
        cb_f32(b, b->rng ? 1.0f + 0.5f * cb_rand(b) : 1.0f);
    for (int i = 0; i < ng; i++)
        cb_f32(b, b->rng ? 0.3f * cb_rand(b) : 0.0f);
    b->n_layers++;
}

static inline void cb_lrn(struct cb *b, int range, float k, float alpha, float beta,
                          const char *activ)
{
    cb_put(b, "L", 1);
    cb_i32(b, range);
    cb_f32(b, k);
    cb_f32(b, alpha);
    cb_f32(b, beta);
    cb_s40(b, activ);
    b->n_layers++;
}

static inline void cb_dense(struct cb *b, int n, float drop, float bias, const char *activ)
{
    size_t in_size = b->is_dense ? (size_t)b->c + 1 : (size_t)b->w * b->h * b->d * b->c + 1;
    cb_put(b, "D", 1);
    cb_i32(b, n);
    cb_f32(b, drop);
    cb_f32(b, bias);
    cb_s40(b, activ);
    cb_weights(b, in_size * (size_t)(n + 1), in_size);
    b->w = b->h = b->d = 1;
    b->c = n;
    b->is_dense = 1;
    b->n_layers++;
}

#endif
