/* The worker loop (DESIGN §4): pick a batch with the scheduler, claim it, run the patches of all
 * its images through forward micro-batches, publish each job as soon as its patches are done.
 *
 * Two threads per batch: the reader thread owns the images and patch sources and fills the next
 * micro-batch buffer while this thread runs the engine on the current one (two buffers, handed
 * over under a mutex). This thread owns the engine, the collectors, the WCS and the store. A
 * finisher thread (with its own store handle) takes each job whose patches are all collected:
 * second NMS, catalogue, result files, publication — so writing results never stalls the
 * engine. Between micro-batches the reader also lets queued jobs of the batch's key join it
 * while it holds fewer than batch.max_jobs jobs (batch.join; its own store handle, and the
 * scheduler, which the worker thread leaves alone while a batch runs). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "formats/formats.h"
#include "worker/worker_int.h"

#define N_BUFS     3    /* micro-batches in flight: being read, in the forward pass, collected */
#define QUEUE_SCAN 4096 /* queued jobs looked at per decision */

void otf_worker_params_init(struct otf_worker_params *p)
{
    memset(p, 0, sizeof *p);
    p->backend = "auto";
    p->lease_ms = 15000;
    p->progress_ms = 200;
    p->helper_nice = 19;
    p->winograd = 1;
    p->streams = 1;
    p->sched.min_jobs = 1;
    p->sched.max_jobs = 8;
    p->sched.max_wait_ms = 50;
    p->sched.max_patches = 16;
    p->sched.queue_max_jobs = 1000;
    p->sched.max_resident = 2;
    p->sched.memory_mb = 8192;
    p->sched.hold_ms = 200;
    p->sched.join = 1;
    p->sched.join_after_ms = 50;
}

/* ---- a running batch ---- */

struct mbuf {
    float *in;         /* [max_patches][patch_h * patch_w] */
    int *job_of;       /* slot -> index in batch->jobs */
    int64_t *patch_of; /* slot -> patch index in its job's grid */
    float *out;        /* [max_patches][engine output] */
    int n;             /* slots filled */
    int full;          /* 1: read (reader -> worker thread); 0 again once collected */
    int forwarded;     /* 1: out holds its forward pass (worker thread -> collector) */
};

struct batch {
    const struct otf_worker_params *p;
    struct otf_worker_stats *stats;
    struct wmodel *m;
    struct wjob *jobs;              /* [cap]; jobs[0..n_jobs) are in the batch */
    _Atomic size_t n_jobs;          /* grows (reader thread) as jobs join; a slot is set up first */
    size_t cap;                     /* batch.max_jobs, or the jobs claimed if more */
    int64_t id;                     /* for logs */
    char label[WORKER_BATCH_LABEL]; /* the batch id of jobInfo and provenance */
    struct otf_sched *sched;   /* the worker's, used by the reader alone while the batch runs */
    struct otf_store *join_st; /* the reader's store handle for joins, or NULL */
    struct otf_sched_decision *join_d; /* the reader's join decision (large) */
    int join_off;                      /* joins stopped: no store handle for them */

    size_t patch_floats;
    struct mbuf bufs[N_BUFS];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int reader_done;      /* no more buffers will be filled */
    int forward_done;     /* no more buffers will be forwarded */
    int stop;             /* the worker thread asks the reader to stop */
    struct otf_store *st; /* the worker thread's store (end_finished on the collector) */

    /* finisher queue: indices of FINISHING jobs (each job enters once), under fin_lock */
    pthread_mutex_t fin_lock;
    pthread_cond_t fin_cond;
    size_t *fin_q;
    size_t fin_head, fin_tail;
    int fin_closed;
    int fin_started;
    _Atomic int fin_done; /* the finisher thread has ended */
    pthread_t fin_thread;
    struct otf_store *fin_st;
    int64_t t0_us; /* when the batch started, for the busy time */
};

static void job_fail(struct wjob *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void job_fail(struct wjob *w, const char *fmt, ...)
{
    int expect = WJOB_ACTIVE;
    va_list ap;
    if (atomic_load(&w->state) != WJOB_ACTIVE)
        return;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
    atomic_compare_exchange_strong(&w->state, &expect, WJOB_FAILED);
}

/* The reader and finisher threads yield to the forward pass: an engine thread preempted by them
 * stalls its partners at every barrier of the parallel region, so a millisecond taken from it
 * costs up to a millisecond per engine thread. At a lower priority they run mostly when a core
 * is idle (between forward passes, while the worker thread collects). */
static void helper_thread_start(const struct otf_worker_params *p, const char *name)
{
    pthread_setname_np(pthread_self(), name); /* top -H, perf and gdb show it */
    if (p->helper_nice > 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), p->helper_nice) != 0)
        otf_log_debug("worker", "helper thread priority unchanged");
}

static void join_queued(struct batch *b);

static void *reader_main(void *arg)
{
    struct batch *b = arg;
    struct otf_sched_stream *streams = otf_xcalloc(b->cap, sizeof *streams);
    helper_thread_start(b->p, "otf-reader");
    int64_t *deficit = otf_xcalloc(b->cap, sizeof *deficit);
    int64_t *take = otf_xcalloc(b->cap, sizeof *take);
    int next = 0;

    for (;;) {
        struct mbuf *mb = &b->bufs[next];
        int64_t total;
        int k = 0;
        size_t n;

        pthread_mutex_lock(&b->lock);
        while (!b->stop && mb->full)
            pthread_cond_wait(&b->cond, &b->lock);
        if (b->stop) {
            pthread_mutex_unlock(&b->lock);
            break;
        }
        pthread_mutex_unlock(&b->lock);

        if (b->p->sched.join && b->n_jobs < b->cap)
            join_queued(b);
        n = b->n_jobs;
        for (size_t i = 0; i < n; i++) {
            struct wjob *w = &b->jobs[i];
            streams[i].owner = w->job->owner;
            streams[i].remaining =
                atomic_load(&w->state) == WJOB_ACTIVE ? w->total - w->produced : 0;
        }
        total = otf_sched_fill_microbatch(streams, n, b->p->sched.max_patches, deficit, take);
        if (total == 0)
            break;
        {
            int64_t start = otf_time_mono_us(), cpu0 = otf_time_thread_cpu_us();
            for (size_t i = 0; i < n; i++) {
                struct wjob *w = &b->jobs[i];
                for (int64_t t = 0; t < take[i] && atomic_load(&w->state) == WJOB_ACTIVE; t++) {
                    struct otf_errbuf eb = {0};
                    int64_t idx = -1;
                    if (otf_detect_source_next(w->src, mb->in + (size_t)k * b->patch_floats, &idx,
                                               &eb) != OTF_OK) {
                        job_fail(w, "reading the image failed: %s", eb.msg);
                        break;
                    }
                    if (idx < 0) { /* the source ran dry early: a bug, not bad input */
                        job_fail(w, "internal error: %lld of %lld patches produced",
                                 (long long)w->produced, (long long)w->total);
                        break;
                    }
                    mb->job_of[k] = (int)i;
                    mb->patch_of[k] = idx;
                    k++;
                    w->produced++;
                }
            }
            atomic_fetch_add(&b->stats->read_us, otf_time_mono_us() - start);
            atomic_fetch_add(&b->stats->read_cpu_us, otf_time_thread_cpu_us() - cpu0);
        }
        pthread_mutex_lock(&b->lock);
        mb->n = k;
        mb->full = 1;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        next = (next + 1) % N_BUFS;
    }
    pthread_mutex_lock(&b->lock);
    b->reader_done = 1;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    otf_store_close(b->join_st);
    b->join_st = NULL;
    free(b->join_d);
    b->join_d = NULL;
    free(streams);
    free(deficit);
    free(take);
    return NULL;
}

/* ---- per-job setup and end ---- */

/* The job's overrides of the model's post-processing defaults (DESIGN §3). */
static enum otf_status apply_overrides(const struct otf_job *j, struct otf_detect_config *cfg,
                                       struct otf_errbuf *eb)
{
    const char *thr = otf_uws_job_get_param(j, "threshold");
    const char *nms = otf_uws_job_get_param(j, "nms");
    double v;

    if (thr) {
        if (otf_str_to_double(thr, &v) != OTF_OK || v < 0 || v > 1)
            return OTF_FAIL(eb, OTF_E_INVAL, "THRESHOLD must be in [0, 1]");
        for (int d = 0; d < OTF_DETECT_MAX_BOX; d++)
            cfg->obj_threshold[d] = v;
    }
    if (nms) {
        if (otf_str_to_double(nms, &v) != OTF_OK || v < -1 || v > 1)
            return OTF_FAIL(eb, OTF_E_INVAL, "NMS must be a DIoU threshold in [-1, 1]");
        cfg->nms_second = v;
        for (size_t l = 0; l < cfg->n_nms_first; l++)
            cfg->nms_first[l].value = v;
    }
    return otf_detect_config_check(cfg, eb);
}

/* The image's SHA-256 for the provenance: from image.fits.sha256, which otfd writes from the
 * bytes as they arrive, or read and hashed here when that file is missing or malformed. */
static enum otf_status image_hash(const char *image_path, char hex[65], struct otf_errbuf *eb)
{
    char *side = otf_xasprintf("%s.sha256", image_path);
    char *text = NULL;
    size_t len = 0;
    int ok = 0;

    if (otf_fs_read_file(side, 128, &text, &len, NULL) == OTF_OK && len >= 64) {
        ok = len == 64 || (len == 65 && text[64] == '\n');
        for (int i = 0; ok && i < 64; i++)
            ok = (text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f');
        if (ok) {
            memcpy(hex, text, 64);
            hex[64] = '\0';
        }
    }
    free(text);
    free(side);
    return ok ? OTF_OK : otf_sha256_file(image_path, hex, eb);
}

/* otf_detect_source_on_row: a whole row of the image goes into the job's preview; anything
 * else (a band narrower than the image) leaves the preview incomplete, to be made from the
 * image instead. Reader thread. */
static void preview_row(void *user, int64_t y, int64_t x0, int64_t n, const float *row)
{
    struct wjob *w = user;
    int64_t width, height;

    otf_fits_image_size(w->img, &width, &height);
    otf_formats_preview_add_rows(w->preview, x0 == 0 && n == width ? y : -1, 1, row);
}

static enum otf_status job_setup(const struct otf_worker_params *p, const struct wmodel *m,
                                 struct wjob *w, struct otf_errbuf *eb)
{
    const struct otf_job *j = w->job;
    const char *hdu = otf_uws_job_get_param(j, "hdu");
    const char *roi = otf_uws_job_get_param(j, "roi");
    const char *ra = otf_uws_job_get_param(j, "ra");
    const char *dec = otf_uws_job_get_param(j, "dec");
    const char *size = otf_uws_job_get_param(j, "size");
    int64_t width, height;
    const struct otf_detect_geometry *g;
    enum otf_status rc;
    struct otf_errbuf web = {0};

    w->image_path = otf_xasprintf("%s/jobs/%s/image.fits", p->data_dir, j->id);
    w->cfg = m->dcfg;
    if ((rc = apply_overrides(j, &w->cfg, eb)) != OTF_OK)
        return rc;
    if ((rc = image_hash(w->image_path, w->image_sha256, eb)) != OTF_OK)
        return rc;
    if ((rc = otf_fits_open_image(w->image_path, hdu, &w->img, eb)) != OTF_OK)
        return rc;
    otf_fits_image_size(w->img, &width, &height);
    if (otf_fits_read_meta(w->img, &w->meta, &web) != OTF_OK)
        otf_log_warn("worker", "job %s: header facts unavailable: %s", j->id, web.msg);
    if (otf_fits_read_wcs(w->img, &w->wcs, &web) != OTF_OK) {
        w->wcs = NULL; /* positions stay in pixels; the catalogue says so */
        otf_log_info("worker", "job %s: no celestial WCS (%s): pixel positions only", j->id,
                     web.msg);
    }
    w->roi[0] = w->roi[1] = 0;
    w->roi[2] = width;
    w->roi[3] = height;
    if (roi) {
        int64_t box[4];
        if ((rc = otf_uws_parse_roi(roi, box, eb)) != OTF_OK ||
            (rc = otf_fits_clip_roi(width, height, box, w->roi, eb)) != OTF_OK)
            return rc;
    } else if (ra && dec && size) {
        double r, d, s;
        if (!w->wcs)
            return OTF_FAIL(eb, OTF_E_FORMAT, "RA/DEC/SIZE given but the image has no WCS");
        if (otf_str_to_double(ra, &r) != OTF_OK || otf_str_to_double(dec, &d) != OTF_OK ||
            otf_str_to_double(size, &s) != OTF_OK)
            return OTF_FAIL(eb, OTF_E_INVAL, "RA, DEC and SIZE must be numbers");
        if ((rc = otf_fits_roi_from_sky(w->wcs, width, height, r, d, s, w->roi, eb)) != OTF_OK)
            return rc;
    }
    if ((rc = otf_detect_source_new(w->img, &w->cfg, w->roi, &w->src, eb)) != OTF_OK)
        return rc;
    /* The preview shows the whole image: when the patches cover it, their reader's rows build
     * it and the image is not read a second time for it (otherwise the finisher reads it). */
    if (w->roi[0] == 0 && w->roi[1] == 0 && w->roi[2] == width && w->roi[3] == height) {
        struct otf_formats_png_params pp;
        otf_formats_png_params_init(&pp);
        if (otf_formats_preview_new(width, height, &pp, &w->preview, &web) == OTF_OK)
            otf_detect_source_on_row(w->src, preview_row, w);
        else
            otf_log_info("worker", "job %s: preview from the image (%s)", j->id, web.msg);
    }
    g = otf_detect_source_geometry(w->src);
    w->total = g->nx * g->ny;
    return otf_detect_collector_new(&w->cfg, g, &w->col, eb);
}

/* Sets up one job of a batch with its progress stages ("reading", then "inference"), on the
 * caller's store handle; a setup error fails the job (end_finished ends it as ERROR). */
static void job_start(struct otf_store *st, const struct otf_worker_params *p,
                      const struct wmodel *m, struct otf_worker_stats *stats, struct wjob *w)
{
    int64_t s0 = otf_time_mono_us(), c0 = otf_time_thread_cpu_us();
    struct otf_errbuf eb = {0};

    otf_store_set_progress(st, w->job->id, 0, 0, "reading", NULL);
    if (job_setup(p, m, w, &eb) != OTF_OK)
        job_fail(w, "%s", eb.msg);
    else
        otf_store_set_progress(st, w->job->id, 0, w->total, "inference", NULL);
    atomic_fetch_add(&stats->setup_us, otf_time_mono_us() - s0);
    atomic_fetch_add(&stats->setup_cpu_us, otf_time_thread_cpu_us() - c0);
}

static void job_cleanup(struct wjob *w)
{
    otf_formats_preview_free(w->preview);
    otf_detect_source_free(w->src);
    otf_detect_collector_free(w->col);
    otf_fits_free_wcs(w->wcs);
    otf_fits_close_image(w->img);
    otf_uws_job_free(w->job);
    free(w->image_path);
    memset(w, 0, sizeof *w);
}

static void end_error(struct otf_store *st, const struct otf_worker_params *p,
                      struct otf_worker_stats *stats, struct wjob *w, const char *msg)
{
    struct otf_errbuf eb = {0};
    otf_uws_job_set_error(w->job, msg, 1);
    if (otf_store_finish_job(st, p->worker_id, w->job, OTF_PHASE_ERROR, &eb) == OTF_OK) {
        atomic_fetch_add(&stats->jobs_failed, 1);
        otf_log_warn("worker", "job %s ERROR: %s", w->job->id, msg);
    } else {
        otf_log_info("worker", "job %s not ended as ERROR: %s", w->job->id, eb.msg);
    }
    atomic_store(&w->state, WJOB_DONE);
}

static void end_completed(struct otf_store *st, struct batch *b, struct wjob *w)
{
    struct otf_errbuf eb = {0};
    struct otf_detect_catalog *cat = NULL;
    int64_t t0 = otf_time_mono_us(), c0 = otf_time_thread_cpu_us(), t1, c1;
    enum otf_status rc;

    rc = otf_detect_collector_finish(w->col, w->wcs, &cat, &eb);
    t1 = otf_time_mono_us();
    c1 = otf_time_thread_cpu_us();
    atomic_fetch_add(&b->stats->finish_us, t1 - t0);
    atomic_fetch_add(&b->stats->finish_cpu_us, c1 - c0);
    if (rc == OTF_OK) {
        int64_t other_cpu_us = 0;
        rc = worker_write_results(b->p, b->m, w, cat, w->job, b->label, &other_cpu_us, &eb);
        atomic_fetch_add(&b->stats->write_us, otf_time_mono_us() - t1);
        atomic_fetch_add(&b->stats->write_cpu_us, otf_time_thread_cpu_us() - c1 + other_cpu_us);
    }
    if (rc != OTF_OK) {
        char msg[OTF_ERRBUF_SIZE];
        snprintf(msg, sizeof msg, "%s", eb.msg);
        otf_detect_catalog_free(cat);
        end_error(st, b->p, b->stats, w, msg);
        return;
    }
    otf_store_set_progress(st, w->job->id, w->total, w->total, "completed", NULL);
    if (otf_store_finish_job(st, b->p->worker_id, w->job, OTF_PHASE_COMPLETED, &eb) == OTF_OK) {
        atomic_fetch_add(&b->stats->jobs_completed, 1);
        otf_log_info("worker", "job %s COMPLETED batch=%lld sources=%zu patches=%lld in %.2f s",
                     w->job->id, (long long)b->id, cat->n, (long long)w->total,
                     (double)(otf_time_now_us() - w->started_us) / 1e6);
    } else {
        /* Aborted or deleted while finishing: its files go with it. */
        atomic_fetch_add(&b->stats->jobs_aborted, 1);
        otf_log_info("worker", "job %s finished but not published: %s", w->job->id, eb.msg);
    }
    otf_detect_catalog_free(cat);
    atomic_store(&w->state, WJOB_DONE);
}

/* Publishes progress and learns of aborts: the store refuses progress on a job that is no longer
 * EXECUTING (ABORT, deletion, execution duration exceeded). */
static void check_jobs(struct otf_store *st, struct batch *b, int force)
{
    int64_t now = otf_time_mono_us();
    for (size_t i = 0; i < b->n_jobs; i++) {
        struct wjob *w = &b->jobs[i];
        struct otf_errbuf eb = {0};
        enum otf_status rc;
        if (atomic_load(&w->state) != WJOB_ACTIVE)
            continue;
        if (!force && now - w->last_progress_us < (int64_t)b->p->progress_ms * 1000)
            continue;
        w->last_progress_us = now;
        rc = otf_store_set_progress(st, w->job->id, w->collected, w->total, "inference", &eb);
        if (rc == OTF_E_STATE || rc == OTF_E_NOTFOUND) {
            int expect = WJOB_ACTIVE;
            if (atomic_compare_exchange_strong(&w->state, &expect, WJOB_DROPPED)) {
                atomic_fetch_add(&b->stats->jobs_aborted, 1);
                otf_log_info("worker", "job %s stopped between micro-batches: %s", w->job->id,
                             eb.msg);
            }
        }
    }
}

/* The finisher thread publishes finished jobs and, every progress_ms, the progress of the others
 * (which is also how it learns of aborts): store writes stay off the forward path. */
static void *finisher_main(void *arg)
{
    struct batch *b = arg;
    const int64_t tick_ns = (int64_t)(b->p->progress_ms > 0 ? b->p->progress_ms : 200) * 1000000;
    helper_thread_start(b->p, "otf-finish");
    pthread_mutex_lock(&b->fin_lock);
    for (;;) {
        size_t i;
        while (b->fin_head == b->fin_tail && !b->fin_closed) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += (time_t)((ts.tv_nsec + tick_ns) / 1000000000);
            ts.tv_nsec = (long)((ts.tv_nsec + tick_ns) % 1000000000);
            if (pthread_cond_timedwait(&b->fin_cond, &b->fin_lock, &ts) == ETIMEDOUT) {
                pthread_mutex_unlock(&b->fin_lock);
                check_jobs(b->fin_st, b, 0);
                pthread_mutex_lock(&b->fin_lock);
            }
        }
        if (b->fin_head == b->fin_tail)
            break;
        i = b->fin_q[b->fin_head++];
        pthread_mutex_unlock(&b->fin_lock);
        end_completed(b->fin_st, b, &b->jobs[i]);
        check_jobs(b->fin_st, b, 0);
        pthread_mutex_lock(&b->fin_lock);
    }
    pthread_mutex_unlock(&b->fin_lock);
    atomic_store(&b->fin_done, 1);
    return NULL;
}

static void finisher_start(struct batch *b)
{
    struct otf_errbuf eb = {0};
    pthread_condattr_t ca;
    pthread_mutex_init(&b->fin_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->fin_cond, &ca);
    pthread_condattr_destroy(&ca);
    b->fin_q = otf_xcalloc(b->cap ? b->cap : 1, sizeof *b->fin_q);
    if (otf_store_open(b->p->store_url, &b->fin_st, &eb) != OTF_OK) {
        otf_log_warn("worker", "finisher without its own store (%s): results written inline",
                     eb.msg);
        return;
    }
    b->fin_started = pthread_create(&b->fin_thread, NULL, finisher_main, b) == 0;
}

/* No more jobs for the finisher: it ends once it has published those it holds. The batch keeps
 * running on it while the worker thread goes on with the next batch (batch_release joins). */
static void finisher_close(struct batch *b)
{
    pthread_mutex_lock(&b->fin_lock);
    b->fin_closed = 1;
    pthread_cond_broadcast(&b->fin_cond);
    pthread_mutex_unlock(&b->fin_lock);
}

static void end_finished(struct otf_store *st, struct batch *b)
{
    for (size_t i = 0; i < b->n_jobs; i++) {
        struct wjob *w = &b->jobs[i];
        int s = atomic_load(&w->state);
        if (s == WJOB_FAILED) {
            end_error(st, b->p, b->stats, w, w->error);
        } else if (s == WJOB_ACTIVE && w->collected == w->total) {
            int expect = WJOB_ACTIVE;
            if (!atomic_compare_exchange_strong(&w->state, &expect, WJOB_FINISHING))
                continue;
            if (!b->fin_started) {
                end_completed(st, b, w);
                continue;
            }
            pthread_mutex_lock(&b->fin_lock);
            b->fin_q[b->fin_tail++] = i;
            pthread_cond_signal(&b->fin_cond);
            pthread_mutex_unlock(&b->fin_lock);
        }
    }
}

/* The collector thread: decodes and first-NMSes each forwarded micro-batch into its jobs'
 * collectors, frees the buffer for the reader and hands finished jobs to the finisher, while the
 * worker thread runs the next forward pass. */
static void *collector_main(void *arg)
{
    struct batch *b = arg;
    const size_t out_floats = otf_engine_output_size(b->m->engine);
    int next = 0;

    helper_thread_start(b->p, "otf-collect");
    for (;;) {
        struct mbuf *mb = &b->bufs[next];
        struct otf_errbuf eb = {0};
        int64_t t0, c0;

        pthread_mutex_lock(&b->lock);
        while (!mb->forwarded && !b->forward_done)
            pthread_cond_wait(&b->cond, &b->lock);
        if (!mb->forwarded) {
            pthread_mutex_unlock(&b->lock);
            break;
        }
        pthread_mutex_unlock(&b->lock);
        t0 = otf_time_mono_us();
        c0 = otf_time_thread_cpu_us();
        for (int k = 0; k < mb->n; k++) {
            struct wjob *w = &b->jobs[mb->job_of[k]];
            if (atomic_load(&w->state) != WJOB_ACTIVE)
                continue;
            if (otf_detect_collector_add(w->col, mb->patch_of[k],
                                         mb->in + (size_t)k * b->patch_floats,
                                         mb->out + (size_t)k * out_floats, &eb) != OTF_OK)
                job_fail(w, "post-processing failed: %s", eb.msg);
            else
                w->collected++;
        }
        atomic_fetch_add(&b->stats->collect_us, otf_time_mono_us() - t0);
        atomic_fetch_add(&b->stats->collect_cpu_us, otf_time_thread_cpu_us() - c0);
        pthread_mutex_lock(&b->lock);
        mb->forwarded = 0;
        mb->full = 0;
        mb->n = 0;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        next = (next + 1) % N_BUFS;
        end_finished(b->st, b); /* a job is published as soon as its own patches are done */
        if (!b->fin_started)
            check_jobs(b->st, b, 0);
    }
    return NULL;
}

static enum otf_status run_batch(struct otf_store *st, struct batch *b, volatile sig_atomic_t *stop)
{
    struct otf_engine *eng = b->m->engine;
    const size_t out_floats = otf_engine_output_size(eng);
    pthread_t reader, collector;
    int next = 0, reader_started = 0, collector_started = 0;
    enum otf_status rc = OTF_OK;

    b->st = st;
    b->patch_floats = (size_t)b->m->dcfg.patch_w * (size_t)b->m->dcfg.patch_h;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    finisher_start(b);
    for (int i = 0; i < N_BUFS; i++) {
        b->bufs[i].in =
            otf_malloc((size_t)b->p->sched.max_patches * b->patch_floats * sizeof(float));
        b->bufs[i].out = otf_malloc((size_t)b->p->sched.max_patches * out_floats * sizeof(float));
        b->bufs[i].job_of = otf_xcalloc((size_t)b->p->sched.max_patches, sizeof(int));
        b->bufs[i].patch_of = otf_xcalloc((size_t)b->p->sched.max_patches, sizeof(int64_t));
        if (!b->bufs[i].in || !b->bufs[i].out)
            rc = OTF_E_NOMEM;
    }
    if (rc != OTF_OK) {
        for (size_t i = 0; i < b->n_jobs; i++)
            job_fail(&b->jobs[i], "out of memory for the micro-batch buffers");
        goto out;
    }
    if (pthread_create(&collector, NULL, collector_main, b) != 0) {
        for (size_t i = 0; i < b->n_jobs; i++)
            job_fail(&b->jobs[i], "cannot start the collector thread");
        goto out;
    }
    collector_started = 1;
    if (pthread_create(&reader, NULL, reader_main, b) != 0) {
        for (size_t i = 0; i < b->n_jobs; i++)
            job_fail(&b->jobs[i], "cannot start the reader thread");
        goto out;
    }
    reader_started = 1;
    for (;;) {
        struct mbuf *mb = &b->bufs[next];
        struct otf_errbuf eb = {0};
        int64_t t0, t1;

        pthread_mutex_lock(&b->lock);
        while (!(mb->full && !mb->forwarded) && !(b->reader_done && !mb->full))
            pthread_cond_wait(&b->cond, &b->lock);
        if (!mb->full) {
            pthread_mutex_unlock(&b->lock);
            break;
        }
        pthread_mutex_unlock(&b->lock);
        t0 = otf_time_mono_us();
        if (mb->n > 0 && otf_engine_forward(eng, mb->in, mb->n, mb->out, OTF_ENGINE_STAGE_DECODED,
                                            &eb) != OTF_OK) {
            for (size_t i = 0; i < b->n_jobs; i++)
                job_fail(&b->jobs[i], "inference failed: %s", eb.msg);
        }
        t1 = otf_time_mono_us();
        otf_log_debug("worker", "batch %lld: forward of %d patches in %.1f ms", (long long)b->id,
                      mb->n, (double)(t1 - t0) / 1e3);
        atomic_fetch_add(&b->stats->forward_us, t1 - t0);
        atomic_fetch_add(&b->stats->microbatches, 1);
        atomic_fetch_add(&b->stats->patches, mb->n);
        pthread_mutex_lock(&b->lock);
        mb->forwarded = 1;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        next = (next + 1) % N_BUFS;
        if (*stop) {
            /* Shutting down: stop feeding; the supervisor requeues what is left. */
            pthread_mutex_lock(&b->lock);
            b->stop = 1;
            pthread_cond_broadcast(&b->cond);
            pthread_mutex_unlock(&b->lock);
        }
    }
out:
    pthread_mutex_lock(&b->lock);
    b->stop = 1;
    b->forward_done = 1;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    if (collector_started)
        pthread_join(collector, NULL); /* every forwarded buffer is collected first */
    if (reader_started)
        pthread_join(reader, NULL);
    if (!*stop)
        end_finished(st, b);
    finisher_close(b); /* its thread publishes the jobs still queued, overlapping the next batch */
    for (int i = 0; i < N_BUFS; i++) {
        otf_free(b->bufs[i].in);
        otf_free(b->bufs[i].out);
        free(b->bufs[i].job_of);
        free(b->bufs[i].patch_of);
    }
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    return rc;
}

/* ---- the lease heartbeat ----
 *
 * The claims of this worker are leased (lease_ms); the supervisor takes back the jobs of a worker
 * whose lease ran out. Renewal runs on its own thread and store connection, every lease_ms / 3,
 * so that no single long step of the worker thread (a model load, the setup of a batch's images,
 * a slow forward pass, the final NMS and catalogue of a large image) lets the lease expire while
 * the worker is alive and the job is rerun or failed under it. A worker that dies stops renewing;
 * a hung one is still bounded by the job's executionDuration. */

struct heartbeat {
    const struct otf_worker_params *p;
    struct otf_store *st;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
};

static void *heartbeat_main(void *arg)
{
    struct heartbeat *h = arg;
    int64_t period_us = h->p->lease_ms * 1000 / 3;

    pthread_mutex_lock(&h->lock);
    while (!h->stop) {
        struct otf_errbuf eb = {0};
        struct timespec ts;
        int64_t until;

        pthread_mutex_unlock(&h->lock);
        if (otf_store_renew_lease(h->st, h->p->worker_id, h->p->lease_ms, &eb) != OTF_OK)
            otf_log_warn("worker", "lease renewal failed: %s", eb.msg);
        pthread_mutex_lock(&h->lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        until = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + (period_us > 0 ? period_us : 1);
        ts.tv_sec = (time_t)(until / 1000000);
        ts.tv_nsec = (long)(until % 1000000) * 1000;
        while (!h->stop && pthread_cond_timedwait(&h->cond, &h->lock, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static enum otf_status heartbeat_start(struct heartbeat *h, const struct otf_worker_params *p,
                                       struct otf_errbuf *eb)
{
    enum otf_status rc;

    memset(h, 0, sizeof *h);
    h->p = p;
    if ((rc = otf_store_open(p->store_url, &h->st, eb)) != OTF_OK)
        return rc;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    if (pthread_create(&h->thread, NULL, heartbeat_main, h) != 0) {
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->cond);
        otf_store_close(h->st);
        h->st = NULL;
        return OTF_FAIL(eb, OTF_E_INTERNAL, "cannot start the lease heartbeat thread");
    }
    return OTF_OK;
}

static void heartbeat_stop(struct heartbeat *h)
{
    if (!h->st)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = 1;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    otf_store_close(h->st);
    h->st = NULL;
}

/* ---- the loop ---- */

/* The queue as the scheduler sees it. Strings point into `jobs`. */
static size_t queue_view(struct otf_job **jobs, size_t n, const struct otf_store_queue *q,
                         size_t nq, struct otf_sched_job *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *model = otf_uws_job_get_param(jobs[i], "model");
        const char *prec = otf_uws_job_get_param(jobs[i], "precision");
        int64_t t = jobs[i]->creation_us;
        prec = prec ? prec : "FP32";
        /* A key's wait counts from when its first job was queued (the store knows), never
         * from an earlier creation. */
        for (size_t k = 0; k < nq; k++) {
            if (model && q[k].model && strcmp(q[k].model, model) == 0 &&
                otf_str_ieq(q[k].precision, prec) && t < q[k].oldest_queued_us)
                t = q[k].oldest_queued_us;
        }
        out[i].id = jobs[i]->id;
        out[i].owner = jobs[i]->owner;
        out[i].model = model ? model : "";
        out[i].precision = prec;
        out[i].queued_us = t;
        out[i].n_patches = jobs[i]->patches_total;
    }
    return n;
}

/* The QUEUED jobs (oldest first, up to QUEUE_SCAN) as the scheduler sees them: *queued is a new
 * array (otf_uws_job_array_free) and *view, grown to fit, points into it. */
static enum otf_status list_queue(struct otf_store *st, const struct otf_store_queue *q, size_t nq,
                                  struct otf_job ***queued, size_t *n, struct otf_sched_job **view,
                                  struct otf_errbuf *eb)
{
    struct otf_store_filter f = {0};
    enum otf_status rc;

    f.phase_mask = OTF_PHASE_BIT(OTF_PHASE_QUEUED);
    f.limit = QUEUE_SCAN;
    if ((rc = otf_store_list_jobs(st, &f, queued, n, eb)) != OTF_OK)
        return rc;
    *view = otf_xrealloc(*view, (*n ? *n : 1) * sizeof **view);
    queue_view(*queued, *n, q, nq, *view);
    return OTF_OK;
}

/* Claims the jobs of a scheduler decision (indices into `view`) for batch `label`. */
static enum otf_status claim_decision(struct otf_store *st, const struct otf_worker_params *p,
                                      const char *label, const struct otf_sched_job *view,
                                      const struct otf_sched_decision *d, struct otf_job ***claimed,
                                      size_t *n_claimed, struct otf_errbuf *eb)
{
    const char **ids = otf_xcalloc(d->n_jobs ? d->n_jobs : 1, sizeof *ids);
    enum otf_status rc;

    for (size_t i = 0; i < d->n_jobs; i++)
        ids[i] = view[d->job_idx[i]].id;
    rc = otf_store_claim_job_ids(st, p->worker_id, label, ids, d->n_jobs, p->lease_ms, claimed,
                                 n_claimed, eb);
    free(ids);
    return rc;
}

/* Sets up a job claimed into the running batch (batch.join) in the batch's next slot, then makes
 * the slot visible to the batch's threads. The reader thread. */
static void join_one(struct batch *b, struct otf_job *job)
{
    size_t i = b->n_jobs;
    struct wjob *w = &b->jobs[i];

    w->job = job;
    w->started_us = otf_time_now_us();
    job_start(b->join_st, b->p, b->m, b->stats, w);
    atomic_fetch_add(&b->stats->batch_jobs, 1);
    atomic_fetch_add(&b->stats->batch_joins, 1);
    otf_log_info("worker", "batch %lld: job %s joins (%zu of at most %zu jobs)", (long long)b->id,
                 job->id, i + 1, b->cap);
    atomic_store(&b->n_jobs, i + 1);
}

/* Lets queued jobs of the batch's key join it while it has room, when the scheduler would pick
 * them now (otf_sched_pick_join: the same readiness, stickiness and owner fairness as a new
 * batch), so that a job arriving while its model runs starts with the next micro-batch instead
 * of after the whole batch (a 32768^2 image runs for minutes). The reader thread, between
 * micro-batches: the queue is listed only when its summary shows queued jobs of the key. */
static void join_queued(struct batch *b)
{
    struct otf_store_queue *q = NULL;
    struct otf_job **queued = NULL, **claimed = NULL;
    struct otf_sched_job *view = NULL;
    size_t nq = 0, n = 0, n_claimed = 0, room = b->cap - b->n_jobs;
    struct otf_errbuf eb = {0};
    int waiting = 0;
    int64_t now = otf_time_now_us();

    if (b->join_off)
        return;
    if (!b->join_st) {
        if (otf_store_open(b->p->store_url, &b->join_st, &eb) != OTF_OK) {
            otf_log_warn("worker", "batch %lld: no jobs join it (store: %s)", (long long)b->id,
                         eb.msg);
            b->join_off = 1;
            return;
        }
        b->join_d = otf_xmalloc(sizeof *b->join_d);
    }
    if (otf_store_queue_summary(b->join_st, &q, &nq, &eb) != OTF_OK)
        goto out;
    for (size_t k = 0; k < nq; k++)
        waiting |= q[k].model && strcmp(q[k].model, b->m->model_id) == 0 &&
                   otf_str_ieq(q[k].precision, b->m->precision) && q[k].n_jobs > 0;
    if (!waiting || list_queue(b->join_st, q, nq, &queued, &n, &view, &eb) != OTF_OK)
        goto out;
    otf_sched_pick_join(b->sched, view, n, now, b->m->model_id, b->m->precision, room, b->join_d);
    if (b->join_d->n_jobs == 0)
        goto out;
    if (claim_decision(b->join_st, b->p, b->label, view, b->join_d, &claimed, &n_claimed, &eb) !=
        OTF_OK)
        goto out;
    for (size_t i = 0; i < n_claimed; i++) { /* at most `room`: the pick took no more */
        join_one(b, claimed[i]);
        claimed[i] = NULL; /* the batch owns it */
    }
out:
    if (eb.msg[0])
        otf_log_warn("worker", "batch %lld: joining queued jobs failed: %s", (long long)b->id,
                     eb.msg);
    free(view);
    otf_uws_job_array_free(claimed, n_claimed);
    otf_uws_job_array_free(queued, n);
    otf_store_queue_free(q, nq);
}

/* Ends a batch for good: waits for its finisher to publish the jobs it still holds, then frees
 * the jobs' images, collectors and the batch. */
static void batch_release(struct batch *b)
{
    if (!b)
        return;
    if (b->fin_started) {
        pthread_join(b->fin_thread, NULL);
        b->fin_started = 0;
    }
    if (b->fin_q) { /* finisher_start ran: its lock, condition and store exist */
        otf_store_close(b->fin_st);
        free(b->fin_q);
        pthread_mutex_destroy(&b->fin_lock);
        pthread_cond_destroy(&b->fin_cond);
    }
    for (size_t i = 0; i < b->n_jobs; i++)
        job_cleanup(&b->jobs[i]);
    free(b->jobs);
    free(b);
}

/* Runs batch number batch_id, claimed as `label`. Its last jobs may still be publishing when this
 * returns: the batch is left in *pending, and the previous pending batch released first (at most
 * one batch finishing behind the running one). A batch on another model releases the pending one
 * before the model is fetched, so that no eviction takes a model its finisher still describes. */
static void run_one(struct otf_store *st, const struct otf_worker_params *p,
                    struct otf_worker_stats *stats, struct wmodels *ms, struct otf_sched *sched,
                    struct otf_job **claimed, size_t n, const char *model, const char *precision,
                    int64_t batch_id, const char *label, struct batch **pending,
                    volatile sig_atomic_t *stop)
{
    struct batch *b = otf_xcalloc(1, sizeof *b);
    struct wmodel *m = NULL;
    struct otf_errbuf eb = {0};
    int loaded = 0;

    b->t0_us = otf_time_mono_us();
    b->p = p;
    b->stats = stats;
    b->id = batch_id;
    snprintf(b->label, sizeof b->label, "%s", label);
    b->cap = n > (size_t)p->sched.max_jobs ? n : (size_t)p->sched.max_jobs;
    b->jobs = otf_xcalloc(b->cap, sizeof *b->jobs);
    b->n_jobs = n;
    b->sched = sched;
    for (size_t i = 0; i < n; i++) {
        b->jobs[i].job = claimed[i];
        b->jobs[i].started_us = otf_time_now_us();
        claimed[i] = NULL;
    }
    atomic_fetch_add(&stats->batches, 1);
    atomic_fetch_add(&stats->batch_jobs, (int64_t)n);
    otf_log_info("worker", "batch %lld: %zu jobs model=%s precision=%s", (long long)batch_id, n,
                 model, precision);
    if (*pending && (strcmp((*pending)->m->model_id, model) != 0 ||
                     strcmp((*pending)->m->precision, precision) != 0)) {
        batch_release(*pending);
        *pending = NULL;
    }
    if (wmodels_get(ms, p, stats, model, precision, &m, &loaded, &eb) != OTF_OK) {
        for (size_t i = 0; i < n; i++)
            end_error(st, p, stats, &b->jobs[i], eb.msg);
        goto out;
    }
    /* A switch to another key starts its hold time, whether or not the model was resident. */
    if (loaded || !otf_sched_is_loaded(sched, model, precision))
        otf_sched_set_loaded(sched, model, precision, otf_time_now_us());
    wmodels_describe(ms, stats->resident, sizeof stats->resident);
    b->m = m;
    for (size_t i = 0; i < n; i++)
        job_start(st, p, m, stats, &b->jobs[i]);
    end_finished(st, b); /* jobs whose setup failed end now */
    run_batch(st, b, stop);
out:
    atomic_fetch_add(&stats->busy_us, otf_time_mono_us() - b->t0_us);
    atomic_store(&stats->process_cpu_us, otf_time_process_cpu_us());
    atomic_store(&stats->updated_us, otf_time_now_us());
    batch_release(*pending);
    *pending = b->m ? b : NULL;
    if (!b->m)
        batch_release(b);
}

enum otf_status otf_worker_run(const struct otf_worker_params *p, volatile sig_atomic_t *stop,
                               struct otf_errbuf *eb)
{
    struct otf_store *st = NULL;
    struct otf_worker_stats *stats = NULL, local;
    struct otf_sched *sched = otf_sched_new(&p->sched);
    struct otf_sched_job *view = NULL;
    static struct otf_sched_decision d; /* large: not on the stack */
    struct wmodels ms;
    struct heartbeat hb;
    int64_t seq = 0, batch_seq = 0;
    struct batch *pending = NULL; /* the last batch, possibly still publishing its jobs */
    enum otf_status rc;

    memset(&hb, 0, sizeof hb);
    wmodels_init(&ms, p);
    if ((rc = otf_store_open(p->store_url, &st, eb)) != OTF_OK)
        goto out;
    if ((rc = heartbeat_start(&hb, p, eb)) != OTF_OK)
        goto out;
    if (!p->stats_path || otf_worker_stats_open(p->stats_path, 1, &stats, NULL) != OTF_OK) {
        memset(&local, 0, sizeof local);
        stats = &local;
    }
    otf_log_info("worker",
                 "worker %s ready (backend %s, micro-batch %d patches, up to %d jobs "
                 "per batch)",
                 p->worker_id, p->backend, p->sched.max_patches, p->sched.max_jobs);
    while (!*stop) {
        struct otf_job **queued = NULL, **claimed = NULL;
        struct otf_store_queue *q = NULL;
        size_t n = 0, nq = 0, n_claimed = 0;
        struct otf_errbuf leb = {0};

        if (otf_store_queue_summary(st, &q, &nq, &leb) != OTF_OK ||
            list_queue(st, q, nq, &queued, &n, &view, &leb) != OTF_OK) {
            otf_log_warn("worker", "queue scan failed: %s", leb.msg);
            otf_store_queue_free(q, nq);
            otf_store_wait_change(st, seq, 1000, &seq, NULL);
            continue;
        }
        otf_sched_pick_batch(sched, view, n, otf_time_now_us(), &d);
        if (d.n_jobs > 0) {
            char model[128], prec[32], label[WORKER_BATCH_LABEL];
            worker_batch_label(p, batch_seq + 1, label, sizeof label);
            snprintf(model, sizeof model, "%s", d.model);
            snprintf(prec, sizeof prec, "%s", d.precision);
            rc = claim_decision(st, p, label, view, &d, &claimed, &n_claimed, &leb);
            otf_store_queue_free(q, nq);
            otf_uws_job_array_free(queued, n);
            if (rc != OTF_OK) {
                otf_log_warn("worker", "claim failed: %s", leb.msg);
                continue;
            }
            if (n_claimed > 0)
                run_one(st, p, stats, &ms, sched, claimed, n_claimed, model, prec, ++batch_seq,
                        label, &pending, stop);
            otf_uws_job_array_free(claimed, n_claimed);
            continue;
        }
        otf_store_queue_free(q, nq);
        otf_uws_job_array_free(queued, n);
        if (pending && (!pending->fin_started || atomic_load(&pending->fin_done))) {
            /* idle: free what has been published */
            batch_release(pending);
            pending = NULL;
        }
        {
            int64_t wait_ms = 1000;
            if (d.wake_at_us > 0) {
                wait_ms = (d.wake_at_us - otf_time_now_us()) / 1000 + 1;
                if (wait_ms < 1)
                    wait_ms = 1;
                if (wait_ms > 1000)
                    wait_ms = 1000;
            }
            /* Sleeps until any job changes (a new QUEUED job wakes us at once). */
            otf_store_wait_change(st, seq, wait_ms, &seq, NULL);
            atomic_store(&stats->process_cpu_us, otf_time_process_cpu_us());
            atomic_store(&stats->updated_us, otf_time_now_us());
        }
    }
    rc = OTF_OK;
out:
    batch_release(pending); /* its jobs are published before the worker ends */
    heartbeat_stop(&hb);
    free(view);
    wmodels_cleanup(&ms);
    otf_sched_free(sched);
    otf_store_close(st);
    if (stats && stats != &local)
        otf_worker_stats_close(stats);
    return rc;
}
