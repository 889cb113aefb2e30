/* engine/cpu plans: the oneDNN primitives and hand-written steps that run one batch size,
 * created once and reused. Activations stay in the layouts oneDNN picks (format_tag_any, e.g.
 * nChw16c) from the first layer to the last; reorders happen only where a layout or data type
 * changes (network input, bf16 <-> f32 around fp32-only steps, network output). Buffers: the
 * caller's input, two arena halves A/B used alternately, the caller's output, and one shared
 * scratchpad. Semantics: shared/reference/cianna-format.md §6. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_int.h"

#define MOD "engine.cpu"

enum buf_id { BUF_NONE = -1, BUF_IN = 0, BUF_A = 1, BUF_B = 2, BUF_OUT = 3, BUF_SCRATCH = 4 };

enum step_kind {
    STEP_PRIM,         /* a oneDNN primitive */
    STEP_FIX_SAT,      /* CIANNA saturation after a fused leaky ReLU */
    STEP_GROUP_NORM,   /* group norm */
    STEP_ACTIVATE,     /* custom activation on a view */
    STEP_DENSE_FINISH, /* dense activation and bias node */
    STEP_DENSE_TO_IMG, /* dense output -> image for a following conv */
    STEP_LRN,          /* local response normalisation */
};

#define MAX_ARGS 6

struct step {
    enum step_kind kind;
    int layer; /* model layer index (for bounds and messages) */
    dnnl_primitive_t prim;
    int n_args;
    dnnl_exec_arg_t args[MAX_ARGS];
    int arg_buf[MAX_ARGS]; /* buffer of each argument, BUF_NONE for fixed weights/bias */
    int in_buf, out_buf;   /* custom steps */
    struct otf_engine_cpu_view view;
    size_t n_elems;
    float sat, leak;
    int nb, img_c, img_h, img_w; /* dense sizes */
    double *stats;               /* group norm scratch (owned) */
    void *own_data;              /* data of own_mem (owned) */
    dnnl_memory_t own_mem;       /* a constant argument owned by the step */
};

/* Per-layer data prepared once: weights in oneDNN's user layout (oihw / oi), dropout folded. */
struct layer_prep {
    float *w_user; /* user-layout f32 weights (freed once the first plan is built) */
    dnnl_memory_desc_t w_user_md;
    float *bias; /* [F] or [N+1]; NULL for dense after dense */
    dnnl_memory_t bias_mem;
    /* weights reordered for the primitives, one per distinct descriptor (usually one) */
    struct {
        dnnl_memory_desc_t md;
        dnnl_memory_t mem;
        void *data;
    } w[8];
    int n_w;
    dnnl_memory_desc_t wino_md; /* Winograd weights layout of the first plan (has_wino_md) */
    int has_wino_md;
    double gain, offset; /* |out| <= gain*|in| + offset (conv, dense): saturation bound */
};

struct plan {
    int n;        /* batch */
    int last_raw; /* last layer without activation */
    int n_wino;   /* convolutions run as Winograd */
    struct step *steps;
    size_t n_steps, cap;
    size_t need[3]; /* bytes: A, B, scratchpad */
    dnnl_memory_desc_t out_md;
    unsigned long last_use;
};

#define MAX_PLANS         16 /* the engine core asks for batch_max and powers of two below it */
#define WINO_MIN_CHANNELS 64 /* narrower 3x3 convolutions stay direct (faster here) */

struct otf_engine_cpu_ctx {
    struct otf_engine_prepare_params p;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    int is_bf16;
    struct layer_prep *lp; /* [n_layers] */
    struct plan *plans[MAX_PLANS];
    unsigned long use_clock;
    void *arena_raw[3];
    void *arena[3];       /* A, B, scratchpad (64-byte aligned) */
    size_t arena_size[3]; /* bytes reserved */
    size_t weights_bytes;
    double *bounds; /* [n_layers+1] runtime bound of |activation| after each layer */
    int profile;    /* OTF_ENGINE_CPU_PROFILE set: log the time of every step */
};

#define DN(call, what)                                                                             \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success) {                                                                  \
            rc = OTF_FAIL(eb, OTF_E_BACKEND, "oneDNN %s failed (status %d)", (what), (int)s_);     \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

void otf_engine_cpu_set_threads(int n)
{
    if (n > 0)
        omp_set_num_threads(n);
}

int otf_engine_cpu_has_bf16(char *why, size_t why_len)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    /* ISA values are bit sets: every avx512_core_bf16 bit must be present (AMX includes them) */
    if (((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
        (unsigned)dnnl_cpu_isa_avx512_core_bf16)
        return 1;
    if (why && why_len)
        snprintf(why, why_len,
                 "bf16 needs AVX512_BF16 (or AMX); oneDNN reports ISA 0x%x on this CPU, so use "
                 "fp32",
                 (unsigned)isa);
    return 0;
}

int otf_engine_cpu_has_amx(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_amx) ==
           (unsigned)dnnl_cpu_isa_avx512_core_amx;
}

/* ---- plan construction ---- */

static struct step *add_step(struct plan *pl, enum step_kind kind, int layer)
{
    if (pl->n_steps == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 16;
        pl->steps = otf_xrealloc(pl->steps, pl->cap * sizeof(*pl->steps));
    }
    struct step *s = &pl->steps[pl->n_steps++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->layer = layer;
    s->in_buf = s->out_buf = BUF_NONE;
    return s;
}

static void need_buf(struct plan *pl, int buf, size_t bytes)
{
    if (buf == BUF_A || buf == BUF_B || buf == BUF_SCRATCH) {
        int i = buf == BUF_SCRATCH ? 2 : buf - BUF_A;
        if (bytes > pl->need[i])
            pl->need[i] = bytes;
    }
}

static int other_buf(int b)
{
    return b == BUF_A ? BUF_B : BUF_A;
}

/* Adds a data argument backed by buffer `buf` (handle set at execution). */
static enum otf_status add_arg(struct otf_engine_cpu_ctx *ctx, struct plan *pl, struct step *s,
                               int arg, const dnnl_memory_desc_t *md, int buf,
                               struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    OTF_ASSERT(s->n_args < MAX_ARGS);
    dnnl_memory_t m = NULL;
    DN(dnnl_memory_create(&m, md, ctx->eng, DNNL_MEMORY_NONE), "memory_create");
    s->args[s->n_args].arg = arg;
    s->args[s->n_args].memory = m;
    s->arg_buf[s->n_args] = buf;
    s->n_args++;
    need_buf(pl, buf, dnnl_memory_desc_get_size(md));
out:
    return rc;
}

static void add_fixed_arg(struct step *s, int arg, dnnl_memory_t m)
{
    OTF_ASSERT(s->n_args < MAX_ARGS);
    s->args[s->n_args].arg = arg;
    s->args[s->n_args].memory = m;
    s->arg_buf[s->n_args] = BUF_NONE;
    s->n_args++;
}

/* Creates the primitive of `pd` as a step, with its scratchpad in the shared arena. */
static enum otf_status add_prim(struct otf_engine_cpu_ctx *ctx, struct plan *pl, int layer,
                                const_dnnl_primitive_desc_t pd, struct step **out,
                                struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    struct step *s = add_step(pl, STEP_PRIM, layer);
    DN(dnnl_primitive_create(&s->prim, pd), "primitive_create");
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (sp && dnnl_memory_desc_get_size(sp) > 0)
        rc = add_arg(ctx, pl, s, DNNL_ARG_SCRATCHPAD, sp, BUF_SCRATCH, eb);
    *out = s;
out:
    return rc;
}

static enum otf_status make_attr(dnnl_primitive_attr_t *attr, const dnnl_post_ops_t po,
                                 struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    DN(dnnl_primitive_attr_create(attr), "attr_create");
    DN(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user), "scratchpad");
    if (po)
        DN(dnnl_primitive_attr_set_post_ops(*attr, po), "set_post_ops");
out:
    return rc;
}

/* Adds a reorder of the tensor in `*cur_buf` (layout `*cur_md`) to layout `to`, unless equal. */
static enum otf_status reorder_to(struct otf_engine_cpu_ctx *ctx, struct plan *pl, int layer,
                                  dnnl_memory_desc_t *cur_md, int *cur_buf,
                                  const dnnl_memory_desc_t *to, int to_buf, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_memory_desc_equal(cur_md, to) && to_buf != BUF_OUT)
        return OTF_OK;
    if (to_buf == BUF_NONE)
        to_buf = other_buf(*cur_buf);
    rc = make_attr(&attr, NULL, eb);
    if (rc != OTF_OK)
        goto out;
    DN(dnnl_reorder_primitive_desc_create(&pd, cur_md, ctx->eng, to, ctx->eng, attr),
       "reorder_primitive_desc_create");
    struct step *s = NULL;
    rc = add_prim(ctx, pl, layer, pd, &s, eb);
    if (rc == OTF_OK)
        rc = add_arg(ctx, pl, s, DNNL_ARG_FROM, cur_md, *cur_buf, eb);
    if (rc == OTF_OK)
        rc = add_arg(ctx, pl, s, DNNL_ARG_TO, to, to_buf, eb);
    if (rc != OTF_OK)
        goto out;
    *cur_md = *to;
    *cur_buf = to_buf;
out:
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Makes the tensor readable by the custom kernels: a layout the view understands, in f32 when
 * `want_f32`, and not in the caller's read-only input buffer when `writable`. */
static enum otf_status make_viewable(struct otf_engine_cpu_ctx *ctx, struct plan *pl, int layer,
                                     dnnl_memory_desc_t *cur_md, int *cur_buf, int want_f32,
                                     int writable, struct otf_errbuf *eb)
{
    struct otf_engine_cpu_view v;
    int ok = otf_engine_cpu_view_from_md(cur_md, &v);
    if (ok && !(want_f32 && cur_md->data_type != dnnl_f32) && !(writable && *cur_buf == BUF_IN))
        return OTF_OK;
    dnnl_memory_desc_t to = *cur_md;
    if (!ok || (want_f32 && cur_md->data_type != dnnl_f32))
        if (dnnl_memory_desc_init_by_tag(&to, 4, cur_md->dims,
                                         want_f32 ? dnnl_f32 : cur_md->data_type,
                                         dnnl_nchw) != dnnl_success)
            return OTF_FAIL(NULL, OTF_E_BACKEND, "memory_desc_init");
    if (dnnl_memory_desc_equal(&to, cur_md)) {
        /* only the buffer must change: a plain copy through a reorder into the other half */
        dnnl_memory_desc_t from = *cur_md;
        enum otf_status rc = OTF_OK;
        dnnl_primitive_desc_t pd = NULL;
        dnnl_primitive_attr_t attr = NULL;
        int to_buf = other_buf(*cur_buf);
        rc = make_attr(&attr, NULL, eb);
        if (rc != OTF_OK)
            goto out;
        DN(dnnl_reorder_primitive_desc_create(&pd, &from, ctx->eng, &to, ctx->eng, attr),
           "reorder_primitive_desc_create");
        struct step *s = NULL;
        rc = add_prim(ctx, pl, layer, pd, &s, eb);
        if (rc == OTF_OK)
            rc = add_arg(ctx, pl, s, DNNL_ARG_FROM, &from, *cur_buf, eb);
        if (rc == OTF_OK)
            rc = add_arg(ctx, pl, s, DNNL_ARG_TO, &to, to_buf, eb);
        if (rc == OTF_OK)
            *cur_buf = to_buf;
    out:
        dnnl_primitive_desc_destroy(pd);
        dnnl_primitive_attr_destroy(attr);
        return rc;
    }
    return reorder_to(ctx, pl, layer, cur_md, cur_buf, &to, BUF_NONE, eb);
}

static enum otf_status prep_layer(struct otf_engine_cpu_ctx *ctx, size_t li, struct otf_errbuf *eb);

/* The weights of layer `li` in layout `md`: reordered once from the user copy and shared by
 * every plan whose primitive wants the same layout. */
static enum otf_status get_weights(struct otf_engine_cpu_ctx *ctx, int li,
                                   const dnnl_memory_desc_t *md, dnnl_memory_t *out,
                                   struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    struct layer_prep *lp = &ctx->lp[li];
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    void *data = NULL;
    for (int i = 0; i < lp->n_w; i++)
        if (dnnl_memory_desc_equal(&lp->w[i].md, md)) {
            *out = lp->w[i].mem;
            return OTF_OK;
        }
    if (lp->n_w == (int)(sizeof(lp->w) / sizeof(lp->w[0])))
        return OTF_FAIL(eb, OTF_E_BACKEND, "layer %d: too many weight layouts", li);
    if (!lp->w_user) {
        rc = prep_layer(ctx, (size_t)li, eb);
        if (rc != OTF_OK)
            return rc;
    }
    const dnnl_memory_desc_t *src_md = &lp->w_user_md;
    void *src_data = lp->w_user;
    size_t bytes = dnnl_memory_desc_get_size(md);
    data = otf_malloc(bytes + 64);
    if (!data)
        return OTF_FAIL(eb, OTF_E_NOMEM, "layer %d: weights (%zu bytes)", li, bytes);
    void *aligned = (void *)(((uintptr_t)data + 63) & ~(uintptr_t)63);
    DN(dnnl_memory_create(&src, src_md, ctx->eng, src_data), "memory_create");
    DN(dnnl_memory_create(&dst, md, ctx->eng, aligned), "memory_create");
    DN(dnnl_reorder_primitive_desc_create(&pd, src_md, ctx->eng, md, ctx->eng, NULL),
       "weights reorder");
    DN(dnnl_primitive_create(&prim, pd), "primitive_create");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    DN(dnnl_primitive_execute(prim, ctx->stream, 2, args), "weights reorder");
    DN(dnnl_stream_wait(ctx->stream), "stream_wait");
    lp->w[lp->n_w].md = *md;
    lp->w[lp->n_w].mem = dst;
    lp->w[lp->n_w].data = data;
    lp->n_w++;
    ctx->weights_bytes += bytes;
    *out = dst;
    dst = NULL;
    data = NULL;
out:
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(src);
    dnnl_memory_destroy(dst);
    otf_free(data);
    return rc;
}

static int impl_is_ref(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
        return 1;
    return strncmp(impl, "ref", 3) == 0;
}

/* How the activation of layer L is applied after its conv/pool primitive. */
enum act_plan { ACT_NONE, ACT_POSTOP_RELU_FIX, ACT_POSTOP_LOGI, ACT_CUSTOM };

static enum act_plan plan_activation(const struct otf_model_activ *a, int raw)
{
    if (raw || a->kind == OTF_MODEL_ACTIV_LIN || a->kind == OTF_MODEL_ACTIV_YOLO)
        return ACT_NONE;
    if (a->kind == OTF_MODEL_ACTIV_RELU)
        /* eltwise_relu(alpha=leak) is CIANNA's x<=0 branch bit for bit; the rare x>sat branch
         * is fixed after (exact only when it cannot trigger on the negative side) */
        return a->relu_sat > 0.0f && a->relu_leak >= 0.0f ? ACT_POSTOP_RELU_FIX : ACT_CUSTOM;
    if (a->kind == OTF_MODEL_ACTIV_LOGI)
        return ACT_POSTOP_LOGI;
    return ACT_CUSTOM; /* SMAX over the whole volume */
}

static enum otf_status append_act_postops(dnnl_post_ops_t po, const struct otf_model_activ *a,
                                          enum act_plan ap, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    if (ap == ACT_POSTOP_RELU_FIX) {
        DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, a->relu_leak, 0.0f), "relu");
    } else if (ap == ACT_POSTOP_LOGI) {
        /* 1/(1+expf(min(-beta*x, sat))) = logistic(max(beta*x, -sat)) */
        DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, a->logi_beta, 0.0f),
           "linear");
        DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, -a->logi_sat, FLT_MAX),
           "clip");
        DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_logistic, 0.0f, 0.0f), "logistic");
    }
out:
    return rc;
}

/* Steps that follow a primitive writing `md` in `buf` for activation plan `ap`. */
static void add_act_steps(struct plan *pl, int li, const struct otf_model_activ *a,
                          enum act_plan ap, const dnnl_memory_desc_t *md, int buf)
{
    if (ap == ACT_POSTOP_RELU_FIX) {
        struct step *s = add_step(pl, STEP_FIX_SAT, li);
        s->in_buf = s->out_buf = buf;
        s->n_elems = dnnl_memory_desc_get_size(md) / (md->data_type == dnnl_bf16 ? 2 : 4);
        s->view.is_bf16 = md->data_type == dnnl_bf16;
        s->sat = a->relu_sat;
        s->leak = a->relu_leak;
    } else if (ap == ACT_CUSTOM) {
        struct step *s = add_step(pl, STEP_ACTIVATE, li);
        s->in_buf = s->out_buf = buf;
        OTF_ASSERT(otf_engine_cpu_view_from_md(md, &s->view));
    }
}

static void dims4(dnnl_dims_t d, dnnl_dim_t a, dnnl_dim_t b, dnnl_dim_t c, dnnl_dim_t e)
{
    d[0] = a;
    d[1] = b;
    d[2] = c;
    d[3] = e;
}

/* Fills a step-owned constant tensor of layout `md` with ones (from user layout `user_md`). */
static enum otf_status make_ones(struct otf_engine_cpu_ctx *ctx, struct step *s,
                                 const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *md,
                                 int count, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    dnnl_memory_t user = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    float *u = otf_xmalloc((size_t)count * sizeof(float));
    for (int c = 0; c < count; c++)
        u[c] = 1.0f;
    s->own_data = otf_malloc(dnnl_memory_desc_get_size(md) + 64);
    if (!s->own_data) {
        rc = OTF_FAIL(eb, OTF_E_NOMEM, "int_padding weights");
        goto out;
    }
    void *aligned = (void *)(((uintptr_t)s->own_data + 63) & ~(uintptr_t)63);
    DN(dnnl_memory_create(&user, user_md, ctx->eng, u), "memory_create");
    DN(dnnl_memory_create(&s->own_mem, md, ctx->eng, aligned), "memory_create");
    DN(dnnl_reorder_primitive_desc_create(&pd, user_md, ctx->eng, md, ctx->eng, NULL), "reorder");
    DN(dnnl_primitive_create(&prim, pd), "primitive_create");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, s->own_mem}};
    DN(dnnl_primitive_execute(prim, ctx->stream, 2, args), "reorder");
    DN(dnnl_stream_wait(ctx->stream), "stream_wait");
    add_fixed_arg(s, DNNL_ARG_WEIGHTS, s->own_mem);
out:
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(user);
    free(u);
    return rc;
}

static enum otf_status build_conv(struct otf_engine_cpu_ctx *ctx, struct plan *pl, int li, int raw,
                                  dnnl_memory_desc_t *cur_md, int *cur_buf, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    const struct otf_model_layer *L = &ctx->p.net->layers[li];
    const struct otf_model_conv *cv = &L->conv;
    const struct otf_model_shape *in = &ctx->p.shapes[li], *os = &ctx->p.shapes[li + 1];
    dnnl_data_type_t dt = ctx->is_bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    int last = (size_t)li + 1 == ctx->p.n_layers;
    int ih = in->h, iw = in->w;

    if (li > 0 && ctx->p.net->layers[li - 1].kind == OTF_MODEL_LAYER_DENSE) {
        /* the dense output (N+1 floats) is read as an image of prev_size (reference §3) */
        struct step *s = add_step(pl, STEP_DENSE_TO_IMG, li);
        s->in_buf = *cur_buf;
        s->out_buf = other_buf(*cur_buf);
        s->nb = ctx->p.net->layers[li - 1].dense.nb_neurons;
        s->img_c = cv->prev_depth;
        s->img_h = cv->prev_size[1];
        s->img_w = cv->prev_size[0];
        dnnl_dims_t d;
        dims4(d, pl->n, s->img_c, s->img_h, s->img_w);
        DN(dnnl_memory_desc_init_by_tag(cur_md, 4, d, dnnl_f32, dnnl_nchw), "md");
        need_buf(pl, s->out_buf, dnnl_memory_desc_get_size(cur_md));
        *cur_buf = s->out_buf;
        ih = s->img_h;
        iw = s->img_w;
    }

    if (cv->int_padding[0] > 0 || cv->int_padding[1] > 0) {
        /* int_padding inserts zeros between pixels (reference §6.1): a depthwise 1x1
         * deconvolution with stride ip+1 and weights 1 does exactly that (x*1 + 0). */
        int C = (int)cur_md->dims[1];
        int eh = ih + (ih - 1) * cv->int_padding[1], ew = iw + (iw - 1) * cv->int_padding[0];
        dnnl_dims_t wd = {C, 1, 1, 1, 1}, dd,
                    strides = {cv->int_padding[1] + 1, cv->int_padding[0] + 1};
        dnnl_dims_t pad0 = {0, 0};
        dims4(dd, pl->n, C, eh, ew);
        dnnl_memory_desc_t wmd, dmd, smd = *cur_md;
        dnnl_deconvolution_desc_t dc;
        DN(dnnl_memory_desc_init_by_tag(&wmd, 5, wd, dnnl_f32, dnnl_goihw), "md");
        DN(dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_f32, dnnl_format_tag_any), "md");
        if (smd.data_type != dnnl_f32) {
            rc = make_viewable(ctx, pl, li, cur_md, cur_buf, 1, 0, eb);
            if (rc != OTF_OK)
                goto out;
            smd = *cur_md;
        }
        DN(dnnl_deconvolution_forward_desc_init(&dc, dnnl_forward_inference,
                                                dnnl_deconvolution_direct, &smd, &wmd, NULL, &dmd,
                                                strides, pad0, pad0),
           "deconvolution_desc");
        rc = make_attr(&attr, NULL, eb);
        if (rc != OTF_OK)
            goto out;
        DN(dnnl_primitive_desc_create(&pd, &dc, attr, ctx->eng, NULL), "int_padding deconv");
        /* ones in the deconvolution's own layout, owned by a tiny per-step buffer */
        const dnnl_memory_desc_t *qw = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *qd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        struct step *s = NULL;
        rc = add_prim(ctx, pl, li, pd, &s, eb);
        if (rc != OTF_OK)
            goto out;
        rc = make_ones(ctx, s, &wmd, qw, C, eb);
        if (rc != OTF_OK)
            goto out;
        rc = add_arg(ctx, pl, s, DNNL_ARG_SRC, cur_md, *cur_buf, eb);
        int ob = other_buf(*cur_buf);
        if (rc == OTF_OK)
            rc = add_arg(ctx, pl, s, DNNL_ARG_DST, qd, ob, eb);
        if (rc != OTF_OK)
            goto out;
        *cur_md = *qd;
        *cur_buf = ob;
        ih = eh;
        iw = ew;
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        dnnl_primitive_attr_destroy(attr);
        attr = NULL;
    }

    int C = (int)cur_md->dims[1], F = cv->nb_filters;
    int fh = cv->f_size[1], fw = cv->f_size[0], sh = cv->stride[1], sw = cv->stride[0];
    int ph = cv->padding[1], pw = cv->padding[0];
    int oh = os->h, ow = os->w;
    dnnl_dims_t sd, wd, dd, bd = {F}, strides = {sh, sw}, pl_ = {ph, pw},
                            pr = {(oh - 1) * sh + fh - ih - ph, (ow - 1) * sw + fw - iw - pw};
    dims4(sd, pl->n, C, ih, iw);
    dims4(wd, F, C, fh, fw);
    dims4(dd, pl->n, F, oh, ow);
    dnnl_memory_desc_t smd, wmd, bmd, dmd;
    enum act_plan ap = plan_activation(&L->activ, last && raw);
    dnnl_data_type_t odt = last ? dnnl_f32 : dt;
    DN(dnnl_post_ops_create(&po), "post_ops");
    rc = append_act_postops(po, &L->activ, ap, eb);
    if (rc == OTF_OK)
        rc = make_attr(&attr, po, eb);
    if (rc != OTF_OK)
        goto out;
    DN(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dt, dnnl_format_tag_any), "md");
    DN(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a), "md");
    DN(dnnl_memory_desc_init_by_tag(&dmd, 4, dd, odt, dnnl_format_tag_any), "md");
    /* Winograd F(4x4, 3x3) when asked for: fp32 only, 3x3 stride 1, wide layers (below 64
     * channels it was slower than direct here), and without oneDNN post-ops (its Winograd
     * kernel takes none), so a leaky ReLU follows as an in-place eltwise primitive. */
    int wino = 0;
    if (ctx->p.winograd && !ctx->is_bf16 && !last && fh == 3 && fw == 3 && sh == 1 && sw == 1 &&
        C >= WINO_MIN_CHANNELS && F >= WINO_MIN_CHANNELS &&
        (ap == ACT_NONE || ap == ACT_POSTOP_RELU_FIX)) {
        /* Every plan takes the Winograd weights of the first (batch_max) one: oneDNN picks
         * their blocking per batch size, and each layout would be another transformed copy
         * (113 MiB for SDC1's widest layer) and another transform (180 ms). A batch size whose
         * kernel cannot take that layout runs the layer direct. */
        dnnl_convolution_desc_t cd;
        dnnl_primitive_attr_t wattr = NULL;
        const struct layer_prep *lw = &ctx->lp[li];
        DN(dnnl_memory_desc_init_by_tag(&smd, 4, sd, dt, dnnl_format_tag_any), "md");
        DN(dnnl_convolution_forward_desc_init(
               &cd, dnnl_forward_inference, dnnl_convolution_winograd, &smd,
               lw->has_wino_md ? &lw->wino_md : &wmd, &bmd, &dmd, strides, pl_, pr),
           "convolution_desc");
        rc = make_attr(&wattr, NULL, eb);
        if (rc != OTF_OK)
            goto out;
        if (dnnl_primitive_desc_create(&pd, &cd, wattr, ctx->eng, NULL) == dnnl_success &&
            !impl_is_ref(pd)) {
            wino = 1;
            pl->n_wino++;
            if (!lw->has_wino_md) {
                ctx->lp[li].wino_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
                ctx->lp[li].has_wino_md = 1;
            }
        } else {
            dnnl_primitive_desc_destroy(pd);
            pd = NULL;
        }
        dnnl_primitive_attr_destroy(wattr);
    }
    /* Source layout: oneDNN's choice (format_tag_any), which chains without reorders since
     * every conv then picks the layout its neighbours picked; the tensor's current layout is
     * kept only when oneDNN would pick a reference kernel for "any". */
    for (int attempt = 0; attempt < 2 && !wino; attempt++) {
        dnnl_convolution_desc_t cd;
        if (attempt == 0) {
            DN(dnnl_memory_desc_init_by_tag(&smd, 4, sd, dt, dnnl_format_tag_any), "md");
        } else {
            smd = *cur_md;
            smd.data_type = dt; /* strides are in elements: the layout stays valid */
        }
        DN(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                              &smd, &wmd, &bmd, &dmd, strides, pl_, pr),
           "convolution_desc");
        dnnl_primitive_desc_t cand = NULL;
        dnnl_status_t st = dnnl_primitive_desc_create(&cand, &cd, attr, ctx->eng, NULL);
        if (st == dnnl_success && (pd == NULL || !impl_is_ref(cand))) {
            dnnl_primitive_desc_destroy(pd);
            pd = cand;
        } else {
            dnnl_primitive_desc_destroy(cand);
        }
        if (pd && !impl_is_ref(pd))
            break;
    }
    if (!pd) {
        rc = OTF_FAIL(eb, OTF_E_BACKEND, "layer %d: no oneDNN convolution for this shape", li);
        goto out;
    }
    const dnnl_memory_desc_t *qs = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *qw = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *qd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_memory_desc_t qs_copy = *qs, qd_copy = *qd;
    rc = reorder_to(ctx, pl, li, cur_md, cur_buf, &qs_copy, BUF_NONE, eb);
    if (rc != OTF_OK)
        goto out;
    dnnl_memory_t wmem = NULL;
    rc = get_weights(ctx, li, qw, &wmem, eb);
    if (rc != OTF_OK)
        goto out;
    struct step *s = NULL;
    rc = add_prim(ctx, pl, li, pd, &s, eb);
    if (rc != OTF_OK)
        goto out;
    add_fixed_arg(s, DNNL_ARG_WEIGHTS, wmem);
    add_fixed_arg(s, DNNL_ARG_BIAS, ctx->lp[li].bias_mem);
    int ob = other_buf(*cur_buf);
    rc = add_arg(ctx, pl, s, DNNL_ARG_SRC, &qs_copy, *cur_buf, eb);
    if (rc == OTF_OK)
        rc = add_arg(ctx, pl, s, DNNL_ARG_DST, &qd_copy, ob, eb);
    if (rc != OTF_OK)
        goto out;
    *cur_md = qd_copy;
    *cur_buf = ob;
    if (wino && ap == ACT_POSTOP_RELU_FIX) {
        dnnl_eltwise_desc_t ed;
        dnnl_primitive_attr_t eattr = NULL;
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        DN(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, dnnl_eltwise_relu, cur_md,
                                          L->activ.relu_leak, 0.0f),
           "eltwise_desc");
        rc = make_attr(&eattr, NULL, eb);
        if (rc != OTF_OK)
            goto out;
        if (dnnl_primitive_desc_create(&pd, &ed, eattr, ctx->eng, NULL) != dnnl_success)
            rc = OTF_FAIL(eb, OTF_E_BACKEND, "layer %d: no oneDNN leaky ReLU after Winograd", li);
        dnnl_primitive_attr_destroy(eattr);
        if (rc == OTF_OK)
            rc = add_prim(ctx, pl, li, pd, &s, eb);
        if (rc == OTF_OK)
            rc = add_arg(ctx, pl, s, DNNL_ARG_SRC, cur_md, *cur_buf, eb);
        if (rc == OTF_OK)
            rc = add_arg(ctx, pl, s, DNNL_ARG_DST, cur_md, *cur_buf, eb);
        if (rc != OTF_OK)
            goto out;
    }
    add_act_steps(pl, li, &L->activ, ap, cur_md, *cur_buf);
out:
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    dnnl_post_ops_destroy(po);
    return rc;
}

static enum otf_status build_pool(struct otf_engine_cpu_ctx *ctx, struct plan *pl, int li, int raw,
                                  dnnl_memory_desc_t *cur_md, int *cur_buf, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    const struct otf_model_layer *L = &ctx->p.net->layers[li];
    const struct otf_model_pool *pp = &L->pool;
    const struct otf_model_shape *in = &ctx->p.shapes[li], *os = &ctx->p.shapes[li + 1];
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    int last = (size_t)li + 1 == ctx->p.n_layers;
    int C = in->c;
    dnnl_dims_t kernel, strides, pad_l, pad_r, dil = {0, 0}, dd;
    if (pp->is_global) {
        kernel[0] = strides[0] = in->h;
        kernel[1] = strides[1] = in->w;
        pad_l[0] = pad_l[1] = 0;
    } else {
        kernel[0] = pp->p_size[1];
        kernel[1] = pp->p_size[0];
        strides[0] = pp->stride[1];
        strides[1] = pp->stride[0];
        pad_l[0] = pp->padding[1];
        pad_l[1] = pp->padding[0];
    }
    pad_r[0] = (os->h - 1) * strides[0] + kernel[0] - in->h - pad_l[0];
    pad_r[1] = (os->w - 1) * strides[1] + kernel[1] - in->w - pad_l[1];
    if (*cur_buf == BUF_IN && ctx->is_bf16) {
        rc = make_viewable(ctx, pl, li, cur_md, cur_buf, 0, 0, eb);
        if (rc != OTF_OK)
            goto out;
    }
    dnnl_data_type_t odt = cur_md->data_type; /* pooling keeps the data type */
    dims4(dd, pl->n, C, os->h, os->w);
    dnnl_memory_desc_t dmd;
    enum act_plan ap = plan_activation(&L->activ, last && raw);
    DN(dnnl_memory_desc_init_by_tag(&dmd, 4, dd, odt, dnnl_format_tag_any), "md");
    DN(dnnl_post_ops_create(&po), "post_ops");
    if (L->dropout_rate > 0.01f) /* AVG_MODEL: scale the pre-activation by (1 - rate) */
        DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, 1.0f - L->dropout_rate,
                                        0.0f),
           "linear");
    rc = append_act_postops(po, &L->activ, ap, eb);
    if (rc == OTF_OK)
        rc = make_attr(&attr, po, eb);
    if (rc != OTF_OK)
        goto out;
    dnnl_pooling_v2_desc_t pdsc;
    DN(dnnl_pooling_v2_forward_desc_init(
           &pdsc, dnnl_forward_inference,
           pp->type == OTF_MODEL_POOL_AVG ? dnnl_pooling_avg_exclude_padding : dnnl_pooling_max,
           cur_md, &dmd, strides, kernel, dil, pad_l, pad_r),
       "pooling_desc");
    DN(dnnl_primitive_desc_create(&pd, &pdsc, attr, ctx->eng, NULL), "pooling");
    const dnnl_memory_desc_t *qd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_memory_desc_t qd_copy = *qd;
    struct step *s = NULL;
    rc = add_prim(ctx, pl, li, pd, &s, eb);
    int ob = other_buf(*cur_buf);
    if (rc == OTF_OK)
        rc = add_arg(ctx, pl, s, DNNL_ARG_SRC, cur_md, *cur_buf, eb);
    if (rc == OTF_OK)
        rc = add_arg(ctx, pl, s, DNNL_ARG_DST, &qd_copy, ob, eb);
    if (rc != OTF_OK)
        goto out;
    *cur_md = qd_copy;
    *cur_buf = ob;
    if (ap == ACT_CUSTOM) {
        rc = make_viewable(ctx, pl, li, cur_md, cur_buf, 0, 1, eb);
        if (rc != OTF_OK)
            goto out;
    }
    add_act_steps(pl, li, &L->activ, ap, cur_md, *cur_buf);
out:
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    dnnl_post_ops_destroy(po);
    return rc;
}

static enum otf_status build_dense(struct otf_engine_cpu_ctx *ctx, struct plan *pl, int li, int raw,
                                   dnnl_memory_desc_t *cur_md, int *cur_buf, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    const struct otf_model_layer *L = &ctx->p.net->layers[li];
    dnnl_data_type_t dt = ctx->is_bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    int last = (size_t)li + 1 == ctx->p.n_layers;
    int N1 = L->dense.nb_neurons + 1;
    struct layer_prep *lp = &ctx->lp[li];
    dnnl_memory_desc_t smd = *cur_md, wmd, bmd, dmd;
    dnnl_dims_t dd = {pl->n, N1}, bd = {N1};
    smd.data_type = dt;
    dnnl_dims_t wd;
    if (cur_md->ndims == 4) {
        dims4(wd, N1, cur_md->dims[1], cur_md->dims[2], cur_md->dims[3]);
        DN(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dt, dnnl_format_tag_any), "md");
    } else {
        wd[0] = N1;
        wd[1] = cur_md->dims[1];
        DN(dnnl_memory_desc_init_by_tag(&wmd, 2, wd, dt, dnnl_format_tag_any), "md");
    }
    DN(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a), "md");
    DN(dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dnnl_f32, dnnl_nc), "md");
    rc = make_attr(&attr, NULL, eb);
    if (rc != OTF_OK)
        goto out;
    for (int attempt = 0; attempt < 2; attempt++) {
        dnnl_inner_product_desc_t ipd;
        if (attempt == 1) {
            smd.format_kind = dnnl_format_kind_any;
        }
        DN(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &smd, &wmd,
                                                lp->bias ? &bmd : NULL, &dmd),
           "inner_product_desc");
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        dnnl_status_t st = dnnl_primitive_desc_create(&pd, &ipd, attr, ctx->eng, NULL);
        if (st == dnnl_success && (attempt == 1 || !impl_is_ref(pd)))
            break;
        if (attempt == 1) {
            rc = OTF_FAIL(eb, OTF_E_BACKEND, "layer %d: no oneDNN inner product (status %d)", li,
                          (int)st);
            goto out;
        }
    }
    const dnnl_memory_desc_t *qs = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *qw = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t qs_copy = *qs;
    rc = reorder_to(ctx, pl, li, cur_md, cur_buf, &qs_copy, BUF_NONE, eb);
    if (rc != OTF_OK)
        goto out;
    dnnl_memory_t wmem = NULL;
    rc = get_weights(ctx, li, qw, &wmem, eb);
    if (rc != OTF_OK)
        goto out;
    struct step *s = NULL;
    rc = add_prim(ctx, pl, li, pd, &s, eb);
    if (rc != OTF_OK)
        goto out;
    add_fixed_arg(s, DNNL_ARG_WEIGHTS, wmem);
    if (lp->bias)
        add_fixed_arg(s, DNNL_ARG_BIAS, lp->bias_mem);
    int ob = other_buf(*cur_buf);
    rc = add_arg(ctx, pl, s, DNNL_ARG_SRC, &qs_copy, *cur_buf, eb);
    if (rc == OTF_OK)
        rc = add_arg(ctx, pl, s, DNNL_ARG_DST, &dmd, ob, eb);
    if (rc != OTF_OK)
        goto out;
    *cur_md = dmd;
    *cur_buf = ob;
    if (!(last && raw)) {
        struct step *f = add_step(pl, STEP_DENSE_FINISH, li);
        f->in_buf = f->out_buf = ob;
        f->nb = L->dense.nb_neurons;
    }
out:
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

static enum otf_status build_norm_lrn(struct otf_engine_cpu_ctx *ctx, struct plan *pl, int li,
                                      int raw, dnnl_memory_desc_t *cur_md, int *cur_buf,
                                      struct otf_errbuf *eb)
{
    const struct otf_model_layer *L = &ctx->p.net->layers[li];
    int last = (size_t)li + 1 == ctx->p.n_layers;
    int is_lrn = L->kind == OTF_MODEL_LAYER_LRN;
    /* group norm runs in place on f32 or bf16; LRN reads neighbours, so it goes out of place
     * in f32 */
    enum otf_status rc = make_viewable(ctx, pl, li, cur_md, cur_buf, is_lrn, !is_lrn, eb);
    if (rc != OTF_OK)
        return rc;
    struct step *s = add_step(pl, is_lrn ? STEP_LRN : STEP_GROUP_NORM, li);
    OTF_ASSERT(otf_engine_cpu_view_from_md(cur_md, &s->view));
    s->in_buf = *cur_buf;
    s->out_buf = is_lrn ? other_buf(*cur_buf) : *cur_buf;
    need_buf(pl, s->out_buf, dnnl_memory_desc_get_size(cur_md));
    if (!is_lrn) {
        int nbg = L->norm.nb_group;
        s->stats =
            otf_xcalloc((size_t)pl->n * ((size_t)s->view.c + 2 * (size_t)nbg) + 1, sizeof(double));
    }
    *cur_buf = s->out_buf;
    /* CIANNA's CPU build skips a norm layer's activation, its CUDA build (with which models
     * are trained) applies it; the engine follows the CUDA build (reference §6.3). */
    enum act_plan ap = plan_activation(&L->activ, last && raw);
    if (ap != ACT_NONE) {
        struct step *a = add_step(pl, STEP_ACTIVATE, li);
        a->in_buf = a->out_buf = *cur_buf;
        a->view = s->view;
    }
    return OTF_OK;
}

static void plan_free(struct plan *pl)
{
    if (!pl)
        return;
    for (size_t i = 0; i < pl->n_steps; i++) {
        struct step *s = &pl->steps[i];
        for (int a = 0; a < s->n_args; a++)
            if (s->arg_buf[a] != BUF_NONE)
                dnnl_memory_destroy(s->args[a].memory);
        dnnl_memory_destroy(s->own_mem);
        otf_free(s->own_data);
        dnnl_primitive_destroy(s->prim);
        free(s->stats);
    }
    free(pl->steps);
    free(pl);
}

static enum otf_status plan_build(struct otf_engine_cpu_ctx *ctx, int n, int last_raw,
                                  struct plan **out, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    struct plan *pl = otf_xcalloc(1, sizeof(*pl));
    pl->n = n;
    pl->last_raw = last_raw;
    const struct otf_model_shape *s0 = &ctx->p.shapes[0];
    dnnl_memory_desc_t cur;
    dnnl_dims_t d;
    int cur_buf = BUF_IN;
    dims4(d, n, s0->c, s0->h, s0->w);
    DN(dnnl_memory_desc_init_by_tag(&cur, 4, d, dnnl_f32, dnnl_nchw), "md");
    for (size_t li = 0; li < ctx->p.n_layers && rc == OTF_OK; li++) {
        const struct otf_model_layer *L = &ctx->p.net->layers[li];
        switch (L->kind) {
        case OTF_MODEL_LAYER_CONV:
            rc = build_conv(ctx, pl, (int)li, last_raw, &cur, &cur_buf, eb);
            break;
        case OTF_MODEL_LAYER_POOL:
            rc = build_pool(ctx, pl, (int)li, last_raw, &cur, &cur_buf, eb);
            break;
        case OTF_MODEL_LAYER_DENSE:
            rc = build_dense(ctx, pl, (int)li, last_raw, &cur, &cur_buf, eb);
            break;
        case OTF_MODEL_LAYER_NORM:
        case OTF_MODEL_LAYER_LRN:
            rc = build_norm_lrn(ctx, pl, (int)li, last_raw, &cur, &cur_buf, eb);
            break;
        }
    }
    if (rc != OTF_OK)
        goto out;
    /* the output in CIANNA's dump layout: [n][F][H][W] or [n][N+1], f32 */
    dnnl_memory_desc_t omd = cur;
    if (cur.ndims == 4)
        DN(dnnl_memory_desc_init_by_tag(&omd, 4, cur.dims, dnnl_f32, dnnl_nchw), "md");
    else
        DN(dnnl_memory_desc_init_by_tag(&omd, 2, cur.dims, dnnl_f32, dnnl_nc), "md");
    rc = reorder_to(ctx, pl, (int)ctx->p.n_layers - 1, &cur, &cur_buf, &omd, BUF_OUT, eb);
    if (rc != OTF_OK)
        goto out;
    pl->out_md = omd;
    *out = pl;
    pl = NULL;
out:
    if (rc != OTF_OK && eb)
        otf_errbuf_prefix(eb, "cpu backend, batch %d", n);
    plan_free(pl);
    return rc;
}

/* ---- context ---- */

/* Builds layer `li`'s user-layout weights from the model (again when a later plan needs them:
 * oneDNN reorders from the user layout only, since a reorder out of an inner-product weights
 * layout chosen for another batch size is not faithful), its bias and its saturation bound. */
static enum otf_status prep_layer(struct otf_engine_cpu_ctx *ctx, size_t li, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    const struct otf_engine_prepare_params *p = &ctx->p;
    {
        const struct otf_model_layer *L = &p->net->layers[li];
        struct layer_prep *lp = &ctx->lp[li];
        float bias_v = li == 0 ? p->input_bias : L->bias_value;
        float scale = L->dropout_rate > 0.01f ? 1.0f - L->dropout_rate : 1.0f;
        if (p->shapes[li].d != 1 || p->shapes[li + 1].d != 1)
            return OTF_FAIL(eb, OTF_E_INVAL,
                            "cpu backend: layer %zu is 3-D (d=%d); only 2-D "
                            "networks are supported",
                            li, p->shapes[li + 1].d);
        if (L->kind == OTF_MODEL_LAYER_CONV) {
            const struct otf_model_conv *cv = &L->conv;
            if (cv->f_size[2] != 1 || cv->stride[2] != 1 || cv->padding[2] != 0 ||
                cv->int_padding[2] != 0)
                return OTF_FAIL(eb, OTF_E_INVAL, "cpu backend: layer %zu has a 3-D filter", li);
            if (L->has_yolo && li + 1 != p->n_layers)
                return OTF_FAIL(eb, OTF_E_INVAL, "cpu backend: YOLO layer %zu is not last", li);
            size_t F = (size_t)cv->nb_filters, K = cv->flat_f_size - 1;
            OTF_ASSERT(K == (size_t)cv->f_size[0] * (size_t)cv->f_size[1] * (size_t)cv->c_in);
            OTF_ASSERT(L->n_weights == F * (K + 1));
            lp->w_user = otf_malloc(F * K * sizeof(float));
            if (!lp->bias)
                lp->bias = otf_malloc(F * sizeof(float));
            if (!lp->w_user || !lp->bias)
                return OTF_FAIL(eb, OTF_E_NOMEM, "layer %zu weights", li);
            double gain = 0.0, off = 0.0;
            for (size_t f = 0; f < F; f++) {
                const float *row = L->weights + f * (K + 1);
                double g = 0.0;
                /* CIANNA's row order c, kh, kw is oihw; dropout (AVG_MODEL) scales the
                 * pre-activation, folded here into weights and bias */
                for (size_t k = 0; k < K; k++) {
                    lp->w_user[f * K + k] = row[k] * scale;
                    g += fabs((double)lp->w_user[f * K + k]);
                }
                lp->bias[f] = row[K] * bias_v * scale;
                gain = g > gain ? g : gain;
                off = fabs((double)lp->bias[f]) > off ? fabs((double)lp->bias[f]) : off;
            }
            lp->gain = gain;
            lp->offset = off;
            dnnl_dims_t wd = {cv->nb_filters, cv->c_in, cv->f_size[1], cv->f_size[0]};
            DN(dnnl_memory_desc_init_by_tag(&lp->w_user_md, 4, wd, dnnl_f32, dnnl_oihw), "md");
            dnnl_dims_t bd = {cv->nb_filters};
            dnnl_memory_desc_t bmd;
            DN(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a), "md");
            if (!lp->bias_mem)
                DN(dnnl_memory_create(&lp->bias_mem, &bmd, ctx->eng, lp->bias), "memory_create");
        } else if (L->kind == OTF_MODEL_LAYER_DENSE) {
            int after_dense = li > 0 && p->net->layers[li - 1].kind == OTF_MODEL_LAYER_DENSE;
            size_t N1 = (size_t)L->dense.nb_neurons + 1, in_size = L->dense.in_size;
            size_t I = after_dense ? in_size : in_size - 1;
            const struct otf_model_shape *is = &p->shapes[li];
            OTF_ASSERT(L->n_weights == in_size * N1);
            if (!after_dense && I != (size_t)is->c * (size_t)is->h * (size_t)is->w)
                return OTF_FAIL(eb, OTF_E_INVAL,
                                "cpu backend: dense layer %zu expects %zu "
                                "inputs, gets %d x %d x %d",
                                li, I, is->c, is->h, is->w);
            lp->w_user = otf_malloc(N1 * I * sizeof(float));
            if (!after_dense && !lp->bias)
                lp->bias = otf_malloc(N1 * sizeof(float));
            if (!lp->w_user || (!after_dense && !lp->bias))
                return OTF_FAIL(eb, OTF_E_NOMEM, "layer %zu weights", li);
            double gain = 0.0, off = 0.0;
            for (size_t i = 0; i < N1; i++) {
                /* dropout scales the N outputs, not the bias node (reference §6.5) */
                float si = i < N1 - 1 ? scale : 1.0f;
                double g = 0.0;
                for (size_t j = 0; j < I; j++) {
                    float w = L->weights[j * N1 + i] * si;
                    lp->w_user[i * I + j] = w;
                    g += fabs((double)w);
                }
                if (lp->bias) {
                    lp->bias[i] = L->weights[(in_size - 1) * N1 + i] * bias_v * si;
                    off = fabs((double)lp->bias[i]) > off ? fabs((double)lp->bias[i]) : off;
                }
                gain = g > gain ? g : gain;
            }
            lp->gain = gain;
            lp->offset = off;
            if (after_dense) {
                dnnl_dims_t wd = {(dnnl_dim_t)N1, (dnnl_dim_t)I};
                DN(dnnl_memory_desc_init_by_tag(&lp->w_user_md, 2, wd, dnnl_f32, dnnl_oi), "md");
            } else {
                dnnl_dims_t wd = {(dnnl_dim_t)N1, is->c, is->h, is->w};
                DN(dnnl_memory_desc_init_by_tag(&lp->w_user_md, 4, wd, dnnl_f32, dnnl_oihw), "md");
                dnnl_dims_t bd = {(dnnl_dim_t)N1};
                dnnl_memory_desc_t bmd;
                DN(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a), "md");
                if (!lp->bias_mem)
                    DN(dnnl_memory_create(&lp->bias_mem, &bmd, ctx->eng, lp->bias),
                       "memory_create");
            }
        } else if (L->kind == OTF_MODEL_LAYER_NORM) {
            /* |x - mean| / sqrt(var) <= sqrt(n - 1) for n values (Samuelson) */
            const float *gamma = L->weights, *beta = L->weights + L->norm.nb_group;
            double n = (double)L->norm.group_size * (double)p->shapes[li].h * p->shapes[li].w;
            double g = 0.0;
            for (int k = 0; k < L->norm.nb_group - L->norm.set_off; k++) {
                double b = fabs((double)gamma[k]) * sqrt(n > 1 ? n - 1 : 0) + fabs((double)beta[k]);
                g = b > g ? b : g;
            }
            lp->offset = g;
        }
    }
out:
    return rc;
}

static enum otf_status prep_layers(struct otf_engine_cpu_ctx *ctx, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    for (size_t li = 0; li < ctx->p.n_layers && rc == OTF_OK; li++)
        rc = prep_layer(ctx, li, eb);
    return rc;
}

/* Drops the user-layout weights once every plan has its reordered copies. */
static void drop_user_weights(struct otf_engine_cpu_ctx *ctx)
{
    for (size_t li = 0; li < ctx->p.n_layers; li++) {
        otf_free(ctx->lp[li].w_user);
        ctx->lp[li].w_user = NULL;
    }
}

/* Bounds of |pre-activation| per layer for this input: a layer whose bound stays at or below
 * the ReLU saturation cannot saturate, so its fix-up pass is skipped (exactly). */
static void compute_bounds(struct otf_engine_cpu_ctx *ctx, const float *in, int n)
{
    const struct otf_engine_prepare_params *p = &ctx->p;
    const double margin = 1.02; /* covers fp32 accumulation and bf16 rounding */
    double b = otf_engine_cpu_max_abs(in, (size_t)n * p->shapes[0].size);
    for (size_t li = 0; li < p->n_layers; li++) {
        const struct otf_model_layer *L = &p->net->layers[li];
        const struct layer_prep *lp = &ctx->lp[li];
        switch (L->kind) {
        case OTF_MODEL_LAYER_CONV:
        case OTF_MODEL_LAYER_DENSE:
            b = (lp->gain * b + lp->offset) * margin;
            break;
        case OTF_MODEL_LAYER_NORM:
            b = L->norm.set_off > 0 ? fmax(b, lp->offset) : lp->offset;
            b *= margin;
            break;
        case OTF_MODEL_LAYER_LRN:
            b = INFINITY;
            break;
        case OTF_MODEL_LAYER_POOL:
            break;
        }
        if (isnan(b))
            b = INFINITY;
        ctx->bounds[li] = b;
        switch (L->activ.kind) {
        case OTF_MODEL_ACTIV_RELU:
            if (!(L->activ.relu_leak >= 0.0f && L->activ.relu_leak <= 1.0f))
                b = INFINITY;
            break;
        case OTF_MODEL_ACTIV_LOGI:
        case OTF_MODEL_ACTIV_SMAX:
            b = 1.0;
            break;
        default:
            break;
        }
    }
}

static enum otf_status arena_reserve(struct otf_engine_cpu_ctx *ctx, const struct plan *pl,
                                     struct otf_errbuf *eb)
{
    for (int i = 0; i < 3; i++) {
        if (pl->need[i] <= ctx->arena_size[i])
            continue;
        void *raw = otf_malloc(pl->need[i] + 64);
        if (!raw)
            return OTF_FAIL(eb, OTF_E_NOMEM, "cpu backend: %zu bytes of activations", pl->need[i]);
        otf_free(ctx->arena_raw[i]);
        ctx->arena_raw[i] = raw;
        ctx->arena[i] = (void *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
        ctx->arena_size[i] = pl->need[i];
    }
    return OTF_OK;
}

void otf_engine_cpu_ctx_free(struct otf_engine_cpu_ctx *ctx)
{
    if (!ctx)
        return;
    for (int i = 0; i < MAX_PLANS; i++)
        plan_free(ctx->plans[i]);
    if (ctx->lp) {
        for (size_t li = 0; li < ctx->p.n_layers; li++) {
            struct layer_prep *lp = &ctx->lp[li];
            otf_free(lp->w_user);
            otf_free(lp->bias);
            dnnl_memory_destroy(lp->bias_mem);
            for (int k = 0; k < lp->n_w; k++) {
                dnnl_memory_destroy(lp->w[k].mem);
                otf_free(lp->w[k].data);
            }
        }
        free(ctx->lp);
    }
    for (int i = 0; i < 3; i++)
        otf_free(ctx->arena_raw[i]);
    free(ctx->bounds);
    dnnl_stream_destroy(ctx->stream);
    dnnl_engine_destroy(ctx->eng);
    free(ctx);
}

static enum otf_status get_plan(struct otf_engine_cpu_ctx *ctx, int n, int raw, struct plan **out,
                                struct otf_errbuf *eb)
{
    int slot = -1;
    for (int i = 0; i < MAX_PLANS; i++) {
        struct plan *pl = ctx->plans[i];
        if (pl && pl->n == n && pl->last_raw == raw) {
            pl->last_use = ++ctx->use_clock;
            *out = pl;
            return OTF_OK;
        }
        if (!pl && slot < 0)
            slot = i;
    }
    if (slot < 0) { /* evict the least recently used plan, never the batch_max one (slot 0) */
        slot = 1;
        for (int i = 2; i < MAX_PLANS; i++)
            if (ctx->plans[i]->last_use < ctx->plans[slot]->last_use)
                slot = i;
        plan_free(ctx->plans[slot]);
        ctx->plans[slot] = NULL;
    }
    struct plan *pl = NULL;
    int64_t t0 = otf_time_mono_us();
    enum otf_status rc = plan_build(ctx, n, raw, &pl, eb);
    if (rc == OTF_OK)
        rc = arena_reserve(ctx, pl, eb);
    if (rc != OTF_OK) {
        plan_free(pl);
        return rc;
    }
    drop_user_weights(ctx);
    otf_log_debug(MOD, "plan batch=%d raw=%d steps=%zu winograd=%d built in %.1f ms", n, raw,
                  pl->n_steps, pl->n_wino, (double)(otf_time_mono_us() - t0) / 1e3);
    pl->last_use = ++ctx->use_clock;
    ctx->plans[slot] = pl;
    *out = pl;
    return OTF_OK;
}

enum otf_status otf_engine_cpu_ctx_new(const struct otf_engine_prepare_params *p,
                                       struct otf_engine_cpu_ctx **out, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    struct otf_engine_cpu_ctx *ctx = otf_xcalloc(1, sizeof(*ctx));
    char why[160];
    ctx->p = *p;
    ctx->profile = getenv("OTF_ENGINE_CPU_PROFILE") != NULL;
    if (p->precision != OTF_ENGINE_PRECISION_FP32 && p->precision != OTF_ENGINE_PRECISION_BF16) {
        rc = OTF_FAIL(eb, OTF_E_INVAL, "cpu backend: precision %d not supported (fp32, bf16)",
                      (int)p->precision);
        goto out;
    }
    ctx->is_bf16 = p->precision == OTF_ENGINE_PRECISION_BF16;
    if (ctx->is_bf16 && !otf_engine_cpu_has_bf16(why, sizeof(why))) {
        rc = OTF_FAIL(eb, OTF_E_INVAL, "cpu backend: %s", why);
        goto out;
    }
    if (p->n_layers == 0 || p->batch_max < 1) {
        rc = OTF_FAIL(eb, OTF_E_INVAL, "cpu backend: empty network or batch");
        goto out;
    }
    otf_engine_cpu_set_threads(p->n_threads);
    DN(dnnl_engine_create(&ctx->eng, dnnl_cpu, 0), "engine_create");
    DN(dnnl_stream_create(&ctx->stream, ctx->eng, dnnl_stream_default_flags), "stream_create");
    ctx->lp = otf_xcalloc(p->n_layers, sizeof(*ctx->lp));
    ctx->bounds = otf_xcalloc(p->n_layers + 1, sizeof(double));
    rc = prep_layers(ctx, eb);
    if (rc != OTF_OK)
        goto out;
    struct plan *pl = NULL;
    rc = get_plan(ctx, p->batch_max, 0, &pl, eb);
    /* and every smaller size the engine core's power-of-two pieces ask for, so that a partial
     * micro-batch never waits for a plan build (10-12 ms each, their JIT code included) */
    for (int n = 1; n < p->batch_max && rc == OTF_OK; n <<= 1)
        rc = get_plan(ctx, n, 0, &pl, eb);
    if (rc != OTF_OK)
        goto out;
    drop_user_weights(ctx);
    otf_log_debug(MOD, "prepared: %zu layers, batch %d, %s, %d threads, %zu MiB", p->n_layers,
                  p->batch_max, ctx->is_bf16 ? "bf16" : "fp32", p->n_threads,
                  otf_engine_cpu_ctx_memory_bytes(ctx) >> 20);
    *out = ctx;
    ctx = NULL;
out:
    otf_engine_cpu_ctx_free(ctx);
    return rc;
}

int otf_engine_cpu_ctx_winograd_layers(const struct otf_engine_cpu_ctx *ctx)
{
    return ctx->plans[0] ? ctx->plans[0]->n_wino : 0; /* slot 0: the batch_max plan */
}

size_t otf_engine_cpu_ctx_memory_bytes(const struct otf_engine_cpu_ctx *ctx)
{
    size_t b = ctx->weights_bytes + ctx->arena_size[0] + ctx->arena_size[1] + ctx->arena_size[2];
    for (size_t li = 0; li < ctx->p.n_layers; li++) {
        const struct layer_prep *lp = &ctx->lp[li];
        if (lp->w_user)
            b += dnnl_memory_desc_get_size(&lp->w_user_md);
    }
    return b;
}

static void *buf_ptr(struct otf_engine_cpu_ctx *ctx, int buf, const float *in, float *out)
{
    switch (buf) {
    case BUF_IN:
        return (void *)(uintptr_t)in; /* oneDNN only reads its sources */
    case BUF_OUT:
        return out;
    case BUF_A:
        return ctx->arena[0];
    case BUF_B:
        return ctx->arena[1];
    case BUF_SCRATCH:
        return ctx->arena[2];
    default:
        return NULL;
    }
}

static void log_step(struct otf_engine_cpu_ctx *ctx, const struct step *s, int64_t t0)
{
    static const char *names[] = {"prim",         "fix_sat",      "group_norm", "activate",
                                  "dense_finish", "dense_to_img", "lrn"};
    const char *impl = "";
    dnnl_stream_wait(ctx->stream);
    if (s->prim) {
        const_dnnl_primitive_desc_t pd = NULL;
        if (dnnl_primitive_get_primitive_desc(s->prim, &pd) == dnnl_success)
            dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    }
    otf_log_info(MOD, "profile layer=%d step=%s impl=%s ms=%.3f", s->layer, names[s->kind],
                 impl ? impl : "", (double)(otf_time_mono_us() - t0) / 1e3);
}

enum otf_status otf_engine_cpu_ctx_forward(struct otf_engine_cpu_ctx *ctx, const float *in, int n,
                                           float *out, enum otf_engine_stage stage,
                                           struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    const struct otf_engine_prepare_params *p = &ctx->p;
    const struct otf_model_layer *last = &p->net->layers[p->n_layers - 1];
    int raw = stage == OTF_ENGINE_STAGE_RAW;
    struct plan *pl = NULL;
    if (n < 1 || n > p->batch_max)
        return OTF_FAIL(eb, OTF_E_INVAL, "cpu backend: batch %d outside 1..%d", n, p->batch_max);
    otf_engine_cpu_set_threads(p->n_threads);
    rc = get_plan(ctx, n, raw, &pl, eb);
    if (rc != OTF_OK)
        return rc;
    compute_bounds(ctx, in, n);
    for (size_t i = 0; i < pl->n_steps; i++) {
        struct step *s = &pl->steps[i];
        int64_t t0 = ctx->profile ? otf_time_mono_us() : 0;
        if (s->kind == STEP_PRIM) {
            for (int a = 0; a < s->n_args; a++)
                if (s->arg_buf[a] != BUF_NONE)
                    DN(dnnl_memory_set_data_handle(s->args[a].memory,
                                                   buf_ptr(ctx, s->arg_buf[a], in, out)),
                       "set_data_handle");
            DN(dnnl_primitive_execute(s->prim, ctx->stream, s->n_args, s->args), "execute");
            if (ctx->profile)
                log_step(ctx, s, t0);
            continue;
        }
        DN(dnnl_stream_wait(ctx->stream), "stream_wait");
        void *ib = buf_ptr(ctx, s->in_buf, in, out), *ob = buf_ptr(ctx, s->out_buf, in, out);
        const struct otf_model_layer *L = &p->net->layers[s->layer];
        switch (s->kind) {
        case STEP_FIX_SAT:
            if (ctx->bounds[s->layer] > (double)s->sat)
                otf_engine_cpu_fix_saturation(ob, s->n_elems, s->view.is_bf16, s->sat, s->leak);
            break;
        case STEP_GROUP_NORM:
            s->view.n = n;
            otf_engine_cpu_group_norm(&s->view, ib, ob, L->norm.group_size, L->norm.set_off,
                                      L->weights, L->weights + L->norm.nb_group, s->stats);
            break;
        case STEP_ACTIVATE:
            otf_engine_cpu_activate(&s->view, ob, &L->activ);
            break;
        case STEP_DENSE_FINISH:
            otf_engine_cpu_dense_finish(ob, n, s->nb, &L->activ, 1);
            break;
        case STEP_DENSE_TO_IMG: {
            size_t img = (size_t)s->img_c * (size_t)s->img_h * (size_t)s->img_w;
            for (int b = 0; b < n; b++)
                memcpy((float *)ob + (size_t)b * img, (const float *)ib + (size_t)b * (s->nb + 1),
                       img * sizeof(float));
            break;
        }
        case STEP_LRN:
            otf_engine_cpu_lrn(&s->view, ib, ob, L->lrn.range, L->lrn.k, L->lrn.alpha, L->lrn.beta);
            break;
        case STEP_PRIM:
            break;
        }
        if (ctx->profile)
            log_step(ctx, s, t0);
    }
    DN(dnnl_stream_wait(ctx->stream), "stream_wait");
    if (!raw && last->has_yolo)
        otf_engine_yolo_activate(&last->yolo, &p->shapes[p->n_layers], out, n);
out:
    return rc;
}
