/* A finished job's result files (DESIGN §10): catalog (VOTable 1.4), regions (DS9), provenance
 * (PROV-JSON, with PROV-N beside it) and preview (PNG), each written atomically under
 * DATA/jobs/<id>/results/ before the job is published as COMPLETED. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"
#include "otf_build_config.h"
#include "worker/worker_int.h"

/* Batch numbers restart with the worker process, so a batch id names the process run too:
 * "<worker id>/<run>-<n>", where <run> is the time (us, base 36) of this process's first batch.
 * Without it the batches of a restarted worker reused the ids of the previous run's. */
static char run_tag[16];

static void run_tag_init(void)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint64_t t = (uint64_t)otf_time_now_us();
    char rev[16];
    int n = 0;
    do {
        rev[n++] = digits[t % 36];
        t /= 36;
    } while (t && n < (int)sizeof rev - 1);
    for (int i = 0; i < n; i++)
        run_tag[i] = rev[n - 1 - i];
    run_tag[n] = '\0';
}

void worker_batch_label(const struct otf_worker_params *p, int64_t batch_id, char *out, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, run_tag_init);
    snprintf(out, n, "%s/%s-%lld", p->worker_id, run_tag, (long long)batch_id);
}

/* The result files, in the order uws:results lists them (the file name is the result id). */
enum { OUT_CATALOG, OUT_REGIONS, OUT_PROVN, OUT_PROV, OUT_PREVIEW, N_OUT };
static const struct {
    const char *file;
    const char *mime; /* NULL: written, not listed as a result */
} outputs[N_OUT] = {
    [OUT_CATALOG] = {"catalog", "application/x-votable+xml"},
    [OUT_REGIONS] = {"regions", "text/plain; charset=utf-8"},
    [OUT_PROVN] = {"provenance.provn", NULL},
    [OUT_PROV] = {"provenance", "application/json"},
    [OUT_PREVIEW] = {"preview", "image/png"},
};

/* The PNG preview, written on its own thread (it inherits the finisher's priority): from the
 * rows the reader handed over when they made the whole image, else from the image. */
struct preview {
    FILE *f;
    struct otf_fits_image *img; /* no other thread reads it now: its patches are all read */
    const struct otf_formats_preview *built;
    const struct otf_detect_catalog *cat;
    enum otf_status rc;
    struct otf_errbuf eb;
    int64_t cpu_us; /* this thread's CPU time for it */
};

static void *preview_main(void *arg)
{
    struct preview *pv = arg;
    struct otf_formats_png_params pp;
    int64_t c0 = otf_time_thread_cpu_us();

    otf_formats_png_params_init(&pp);
    if (otf_formats_preview_complete(pv->built)) {
        pv->rc = otf_formats_write_preview(pv->f, pv->built, pv->cat, &pv->eb);
    } else {
        otf_log_debug("worker", "preview read from the image (the patches' rows did not make it)");
        pv->rc = otf_formats_write_png(pv->f, pv->img, pv->cat, &pp, &pv->eb);
    }
    pv->cpu_us = otf_time_thread_cpu_us() - c0;
    return NULL;
}

enum otf_status worker_write_results(const struct otf_worker_params *p, const struct wmodel *m,
                                     struct wjob *w, const struct otf_detect_catalog *cat,
                                     struct otf_job *j, const char *batch, int64_t *other_cpu_us,
                                     struct otf_errbuf *eb)
{
    char *dir = otf_xasprintf("%s/jobs/%s/results", p->data_dir, j->id);
    char *path = NULL;
    char hdu[16];
    struct otf_formats_run_info info;
    struct otf_formats_kv *kv = otf_xcalloc(j->n_params + 1, sizeof *kv);
    struct otf_detect_timings t;
    struct otf_formats_file of[N_OUT];
    int64_t size[N_OUT] = {0};
    int n_open = 0;
    size_t n_kv = 0;
    enum otf_status rc;

    for (size_t i = 0; i < j->n_params; i++) {
        if (j->params[i].by_reference)
            continue; /* the image: identified by its SHA-256 instead */
        kv[n_kv].name = j->params[i].name;
        kv[n_kv].value = j->params[i].value;
        n_kv++;
    }
    memset(&t, 0, sizeof t);
    t.total_us = otf_time_now_us() - w->started_us;
    t.n_patches = w->total;
    snprintf(hdu, sizeof hdu, "%d", otf_fits_image_info(w->img)->hdu_index);
    memset(&info, 0, sizeof info);
    info.job_id = j->id;
    info.owner = j->owner;
    info.batch_id = batch;
    info.model_id = m->model_id;
    info.model_sha256 = m->weights_sha256[0] ? m->weights_sha256 : NULL;
    info.input_name = "image.fits";
    info.input_sha256 = w->image_sha256;
    info.hdu = hdu;
    info.backend = otf_engine_backend_name(m->engine);
    info.winograd_layers = otf_engine_winograd_layers(m->engine);
    info.precision = m->precision;
    info.software = "otfd " OTF_VERSION_STRING;
    info.start_us = w->started_us;
    info.end_us = otf_time_now_us();
    info.timings = &t;
    info.meta = &w->meta;
    info.params = kv;
    info.n_params = n_kv;

    /* Every file is written to its temp file first, then all are committed together: one
     * journal commit for their data instead of one per file (otf_formats_file_commit_all). */
    rc = otf_fs_mkdirs(dir, 1, eb);
    for (int i = 0; i < N_OUT && rc == OTF_OK; i++) {
        path = otf_xasprintf("%s/%s", dir, outputs[i].file);
        rc = otf_formats_file_open(&of[i], path, eb);
        free(path);
        if (rc == OTF_OK)
            n_open = i + 1;
    }
    if (rc == OTF_OK) {
        /* The preview, the longest to make (and, for a region smaller than the image, a second
         * read of it), is drawn on a thread of its own while this one writes the others: the
         * job is published that much sooner. */
        struct preview pv = {
            .f = of[OUT_PREVIEW].f, .img = w->img, .built = w->preview, .cat = cat};
        pthread_t th;
        int threaded = pthread_create(&th, NULL, preview_main, &pv) == 0;

        for (int i = 0; i < N_OUT && rc == OTF_OK; i++) {
            if (i == OUT_CATALOG)
                rc = otf_formats_write_votable(of[i].f, cat, &info, OTF_FORMATS_TABLEDATA, eb);
            else if (i == OUT_REGIONS)
                rc = otf_formats_write_ds9(of[i].f, cat, &info, eb);
            else if (i == OUT_PROVN)
                rc = otf_formats_write_prov_n(of[i].f, cat, &info, eb);
            else if (i == OUT_PROV)
                rc = otf_formats_write_prov_json(of[i].f, cat, &info, eb);
        }
        if (threaded) {
            pthread_join(th, NULL);
            *other_cpu_us += pv.cpu_us;
        } else {
            preview_main(&pv);
        }
        if (rc == OTF_OK && pv.rc != OTF_OK) {
            if (eb)
                *eb = pv.eb;
            rc = pv.rc;
        }
    }
    if (rc == OTF_OK) {
        for (int i = 0; i < N_OUT; i++) { /* every byte is written: the size is the position */
            off_t at = ftello(of[i].f);
            size[i] = at > 0 ? (int64_t)at : 0;
        }
        rc = otf_formats_file_commit_all(of, (size_t)n_open, eb);
        n_open = 0; /* committed, or removed on failure */
    }
    for (int i = 0; i < n_open; i++)
        otf_formats_file_abort(&of[i]);
    for (int i = 0; i < N_OUT && rc == OTF_OK; i++)
        if (outputs[i].mime) /* PROV-N: beside the PROV-JSON result, not listed */
            otf_uws_job_set_result(j, outputs[i].file, outputs[i].mime, size[i]);
    if (rc != OTF_OK)
        otf_errbuf_prefix(eb, "writing the results");
    free(kv);
    free(dir);
    return rc;
}
