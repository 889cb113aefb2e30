/* engine: the backend-independent core — argument and shape checks, backend selection through
 * the registry, the once-per-engine prepare (memory for batch_max) and the YOLO decode after
 * the backend's forward. Invariant: a backend only ever sees checked shapes and 1..batch_max
 * images. */
#include "engine/engine.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BATCH   65536
#define MAX_STREAMS 64

/* One part of a split forward: what stream k runs, and how it went. */
struct part {
    const float *in;
    float *out;
    int n; /* 0: nothing for this stream this time */
    enum otf_engine_stage stage;
    enum otf_status rc;
    struct otf_errbuf eb;
};

/* The threads of streams 1..S-1 (stream 0 runs on the caller's thread). A forward publishes the
 * parts and bumps `gen`; each thread runs its part and counts itself in `done`. */
struct stream_pool {
    pthread_mutex_t lock;
    pthread_cond_t go, finished;
    uint64_t gen;
    int done, quit, n_threads;
    pthread_t *threads;
    struct part *parts; /* [n_streams] */
};

struct otf_engine {
    const struct otf_model_net *net; /* borrowed */
    const struct otf_engine_backend *be;
    struct otf_engine_params p;        /* resolved copy; p.backend points at be->name */
    size_t n_layers;                   /* layers run */
    struct otf_model_shape *shapes;    /* [n_layers+1] */
    const struct otf_model_yolo *yolo; /* the last layer run is YOLO, else NULL */
    int stream_batch;                  /* images each of the p.n_streams states is prepared for */
    void **states;            /* [p.n_streams]: the backend states, each freed with be->free */
    struct stream_pool *pool; /* NULL when p.n_streams == 1 */
};

struct stream_arg {
    struct otf_engine *eng;
    int k;
};

static enum otf_status run_part(struct otf_engine *eng, int k, struct part *pt);

static void *stream_main(void *arg)
{
    struct stream_arg a = *(struct stream_arg *)arg;
    struct stream_pool *sp = a.eng->pool;
    uint64_t seen = 0;

    free(arg);
    pthread_setname_np(pthread_self(), "otf-stream");
    pthread_mutex_lock(&sp->lock);
    for (;;) {
        while (!sp->quit && sp->gen == seen)
            pthread_cond_wait(&sp->go, &sp->lock);
        if (sp->quit)
            break;
        seen = sp->gen;
        pthread_mutex_unlock(&sp->lock);
        run_part(a.eng, a.k, &sp->parts[a.k]);
        pthread_mutex_lock(&sp->lock);
        if (++sp->done == sp->n_threads)
            pthread_cond_signal(&sp->finished);
    }
    pthread_mutex_unlock(&sp->lock);
    return NULL;
}

static void pool_stop(struct stream_pool *sp)
{
    if (!sp)
        return;
    pthread_mutex_lock(&sp->lock);
    sp->quit = 1;
    pthread_cond_broadcast(&sp->go);
    pthread_mutex_unlock(&sp->lock);
    for (int i = 0; i < sp->n_threads; i++)
        pthread_join(sp->threads[i], NULL);
    pthread_mutex_destroy(&sp->lock);
    pthread_cond_destroy(&sp->go);
    pthread_cond_destroy(&sp->finished);
    free(sp->threads);
    free(sp->parts);
    free(sp);
}

static enum otf_status pool_start(struct otf_engine *e, struct otf_errbuf *eb)
{
    struct stream_pool *sp = otf_xcalloc(1, sizeof(*sp));
    pthread_mutex_init(&sp->lock, NULL);
    pthread_cond_init(&sp->go, NULL);
    pthread_cond_init(&sp->finished, NULL);
    sp->threads = otf_xcalloc((size_t)e->p.n_streams - 1, sizeof(*sp->threads));
    sp->parts = otf_xcalloc((size_t)e->p.n_streams, sizeof(*sp->parts));
    e->pool = sp;
    for (int k = 1; k < e->p.n_streams; k++) {
        struct stream_arg *a = otf_xmalloc(sizeof(*a));
        *a = (struct stream_arg){e, k};
        if (pthread_create(&sp->threads[k - 1], NULL, stream_main, a) != 0) {
            free(a);
            pool_stop(sp);
            e->pool = NULL;
            return OTF_FAIL(eb, OTF_E_INTERNAL, "cannot start the thread of engine stream %d", k);
        }
        sp->n_threads++;
    }
    return OTF_OK;
}

void otf_engine_params_init(struct otf_engine_params *p)
{
    memset(p, 0, sizeof(*p));
    p->backend = "auto";
    p->precision = OTF_ENGINE_PRECISION_FP32;
    p->batch_max = 1;
    p->in_w = 256;
    p->in_h = 256;
    p->in_d = 1;
    p->n_threads = 0;
    p->input_bias = 0.1f;
    p->winograd = 1;
    p->n_layers = 0;
    p->n_streams = 1;
}

static const char *const precision_names[] = {"fp32", "bf16", "fp16", "int8"};
static const char *const stage_names[] = {"raw", "activated", "decoded"};

enum otf_status otf_engine_precision_parse(const char *s, enum otf_engine_precision *out)
{
    for (size_t i = 0; i < sizeof(precision_names) / sizeof(precision_names[0]); i++)
        if (otf_str_ieq(s, precision_names[i])) {
            *out = (enum otf_engine_precision)i;
            return OTF_OK;
        }
    return OTF_E_INVAL;
}

const char *otf_engine_precision_name(enum otf_engine_precision p)
{
    if ((size_t)p < sizeof(precision_names) / sizeof(precision_names[0]))
        return precision_names[p];
    return "?";
}

enum otf_status otf_engine_stage_parse(const char *s, enum otf_engine_stage *out)
{
    for (size_t i = 0; i < sizeof(stage_names) / sizeof(stage_names[0]); i++)
        if (otf_str_ieq(s, stage_names[i])) {
            *out = (enum otf_engine_stage)i;
            return OTF_OK;
        }
    return OTF_E_INVAL;
}

const char *otf_engine_stage_name(enum otf_engine_stage s)
{
    if ((size_t)s < sizeof(stage_names) / sizeof(stage_names[0]))
        return stage_names[s];
    return "?";
}

enum otf_status otf_engine_new(const struct otf_model_net *net, const struct otf_engine_params *p,
                               struct otf_engine **out, struct otf_errbuf *eb)
{
    struct otf_engine_prepare_params pp;
    const struct otf_engine_backend *be;
    struct otf_engine *e = NULL;
    const char *name = p->backend ? p->backend : "auto";
    char why[256] = "";
    enum otf_status rc;

    OTF_ASSERT(net && p && out);
    be = otf_engine_backend_find(name);
    if (!be)
        return OTF_FAIL(eb, OTF_E_NOTFOUND, "no engine backend \"%s\" in this build", name);
    if (p->batch_max < 1 || p->batch_max > MAX_BATCH)
        return OTF_FAIL(eb, OTF_E_INVAL, "batch_max %d not in [1, %d]", p->batch_max, MAX_BATCH);
    if (p->n_layers > net->n_layers)
        return OTF_FAIL(eb, OTF_E_INVAL, "%zu layers asked, the net has %zu", p->n_layers,
                        net->n_layers);
    if (p->n_threads < 0)
        return OTF_FAIL(eb, OTF_E_INVAL, "negative thread count");
    if (p->n_streams < 0 || p->n_streams > MAX_STREAMS)
        return OTF_FAIL(eb, OTF_E_INVAL, "%d streams not in [1, %d]", p->n_streams, MAX_STREAMS);
    if (!be->supports(p->precision, why, sizeof(why)))
        return OTF_FAIL(eb, OTF_E_INVAL, "backend %s cannot run %s: %s", be->name,
                        otf_engine_precision_name(p->precision), *why ? why : "not supported");

    e = otf_xcalloc(1, sizeof(*e));
    e->net = net;
    e->be = be;
    e->p = *p;
    e->p.backend = be->name;
    if (e->p.in_d < 1)
        e->p.in_d = 1;
    if (e->p.n_threads == 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        e->p.n_threads = nc > 0 ? (int)nc : 1;
    }
    e->n_layers = p->n_layers ? p->n_layers : net->n_layers;
    e->shapes = otf_xcalloc(e->n_layers + 1, sizeof(*e->shapes));
    rc = otf_model_infer_shapes_prefix(net, e->n_layers, e->p.in_w, e->p.in_h, e->p.in_d, e->shapes,
                                       eb);
    if (rc != OTF_OK) {
        if (eb)
            otf_errbuf_prefix(eb, "input %dx%d does not fit the net", e->p.in_w, e->p.in_h);
        goto out;
    }
    if (net->layers[e->n_layers - 1].has_yolo)
        e->yolo = &net->layers[e->n_layers - 1].yolo;

    /* Streams: never more than images in a batch, nor than threads to run them. */
    {
        int ns = e->p.n_streams < 1 ? 1 : e->p.n_streams;
        ns = ns > e->p.batch_max ? e->p.batch_max : ns;
        e->p.n_streams = ns > e->p.n_threads ? e->p.n_threads : ns;
    }
    e->stream_batch = (e->p.batch_max + e->p.n_streams - 1) / e->p.n_streams;
    e->states = otf_xcalloc((size_t)e->p.n_streams, sizeof(*e->states));

    memset(&pp, 0, sizeof(pp));
    pp.net = net;
    pp.n_layers = e->n_layers;
    pp.shapes = e->shapes;
    pp.batch_max = e->stream_batch;
    pp.precision = e->p.precision;
    pp.n_threads = e->p.n_threads / e->p.n_streams;
    pp.input_bias = e->p.input_bias;
    pp.winograd = e->p.winograd;
    for (int k = 0; k < e->p.n_streams && rc == OTF_OK; k++) {
        rc = be->prepare(&pp, &e->states[k], eb);
        if (rc != OTF_OK && eb)
            otf_errbuf_prefix(eb, "backend %s", be->name);
    }
    if (rc == OTF_OK && e->p.n_streams > 1)
        rc = pool_start(e, eb);
out:
    if (rc != OTF_OK) {
        for (int k = 0; e->states && k < e->p.n_streams; k++)
            be->free(e->states[k]);
        free(e->states);
        free(e->shapes);
        free(e);
        return rc;
    }
    *out = e;
    return OTF_OK;
}

/* Stream k's part: its images as power-of-two pieces, largest first (13 = 8 + 4 + 1). A backend
 * that builds per-batch-size state (the cpu backend's plans: oneDNN primitives, their JIT code,
 * Winograd scratchpads) then sees at most 1 + log2(batch) sizes, instead of up to batch of them
 * (each new one cost 10-680 ms in the middle of a server's batch). */
static enum otf_status run_part(struct otf_engine *eng, int k, struct part *pt)
{
    pt->rc = OTF_OK;
    for (int done = 0; done < pt->n;) {
        int m = pt->n - done;
        if (m != eng->stream_batch)
            while (m & (m - 1))
                m &= m - 1; /* the highest set bit */
        pt->rc = eng->be->forward(eng->states[k], pt->in + (size_t)done * eng->shapes[0].size, m,
                                  pt->out + (size_t)done * eng->shapes[eng->n_layers].size,
                                  pt->stage, &pt->eb);
        if (pt->rc != OTF_OK)
            break;
        done += m;
    }
    return pt->rc;
}

enum otf_status otf_engine_forward(struct otf_engine *eng, const float *in, int n, float *out,
                                   enum otf_engine_stage stage, struct otf_errbuf *eb)
{
    enum otf_status rc;

    if (n < 1 || n > eng->p.batch_max)
        return OTF_FAIL(eb, OTF_E_INVAL, "%d images for an engine of batch_max %d", n,
                        eng->p.batch_max);
    if (!in || !out)
        return OTF_FAIL(eb, OTF_E_INVAL, "NULL input or output");
    if ((unsigned)stage > OTF_ENGINE_STAGE_DECODED)
        return OTF_FAIL(eb, OTF_E_INVAL, "bad stage %d", (int)stage);
    const enum otf_engine_stage be_stage =
        stage == OTF_ENGINE_STAGE_DECODED ? OTF_ENGINE_STAGE_ACTIVATED : stage;
    if (eng->p.n_streams == 1) {
        struct part pt = {in, out, n, be_stage, OTF_OK, {0}};
        if ((rc = run_part(eng, 0, &pt)) != OTF_OK) {
            if (eb)
                *eb = pt.eb;
            return rc;
        }
    } else {
        /* n images in S nearly equal parts (the first n % S one larger), all at once */
        struct stream_pool *sp = eng->pool;
        const int S = eng->p.n_streams, base = n / S, extra = n % S;
        int at = 0;
        for (int k = 0; k < S; k++) {
            struct part *pt = &sp->parts[k];
            pt->n = base + (k < extra);
            pt->in = in + (size_t)at * eng->shapes[0].size;
            pt->out = out + (size_t)at * eng->shapes[eng->n_layers].size;
            pt->stage = be_stage;
            pt->eb.msg[0] = '\0';
            at += pt->n;
        }
        pthread_mutex_lock(&sp->lock);
        sp->done = 0;
        sp->gen++;
        pthread_cond_broadcast(&sp->go);
        pthread_mutex_unlock(&sp->lock);
        run_part(eng, 0, &sp->parts[0]);
        pthread_mutex_lock(&sp->lock);
        while (sp->done < sp->n_threads)
            pthread_cond_wait(&sp->finished, &sp->lock);
        pthread_mutex_unlock(&sp->lock);
        for (int k = 0; k < S; k++)
            if (sp->parts[k].rc != OTF_OK) {
                if (eb)
                    *eb = sp->parts[k].eb;
                return sp->parts[k].rc;
            }
    }
    if (stage == OTF_ENGINE_STAGE_DECODED && eng->yolo)
        otf_engine_yolo_decode(eng->yolo, &eng->shapes[eng->n_layers], eng->p.in_w, eng->p.in_h,
                               eng->p.in_d, out, n);
    return OTF_OK;
}

size_t otf_engine_input_size(const struct otf_engine *eng)
{
    return eng->shapes[0].size;
}

size_t otf_engine_output_size(const struct otf_engine *eng)
{
    return eng->shapes[eng->n_layers].size;
}

struct otf_model_shape otf_engine_output_shape(const struct otf_engine *eng)
{
    return eng->shapes[eng->n_layers];
}

const char *otf_engine_backend_name(const struct otf_engine *eng)
{
    return eng->be->name;
}

int otf_engine_winograd_layers(const struct otf_engine *eng)
{
    return eng->be->winograd_layers ? eng->be->winograd_layers(eng->states[0]) : 0;
}

size_t otf_engine_memory_bytes(const struct otf_engine *eng)
{
    size_t sum = 0;
    for (int k = 0; eng->be->memory_bytes && k < eng->p.n_streams; k++)
        sum += eng->be->memory_bytes(eng->states[k]);
    return sum;
}

int otf_engine_streams(const struct otf_engine *eng)
{
    return eng->p.n_streams;
}

void otf_engine_free(struct otf_engine *eng)
{
    if (!eng)
        return;
    pool_stop(eng->pool);
    for (int k = 0; k < eng->p.n_streams; k++)
        eng->be->free(eng->states[k]);
    free(eng->states);
    free(eng->shapes);
    free(eng);
}
