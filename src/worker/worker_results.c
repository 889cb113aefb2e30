/* A finished job's result files (DESIGN §10): catalog (VOTable 1.4), regions (DS9), provenance
 * (PROV-JSON, with PROV-N beside it) and preview (PNG), each written atomically under
 * DATA/jobs/<id>/results/ before the job is published as COMPLETED. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/formats.h"
#include "otf_build_config.h"
#include "worker/worker_int.h"

typedef enum otf_status (*writer_fn)(FILE *f, const struct otf_detect_catalog *cat,
                                     const struct otf_formats_run_info *info,
                                     struct otf_errbuf *eb);

static enum otf_status write_one(const char *path, writer_fn fn,
                                 const struct otf_detect_catalog *cat,
                                 const struct otf_formats_run_info *info, int64_t *size,
                                 struct otf_errbuf *eb)
{
    struct otf_formats_file of;
    struct stat sb;
    enum otf_status rc = otf_formats_file_open(&of, path, eb);
    if (rc != OTF_OK)
        return rc;
    rc = fn(of.f, cat, info, eb);
    if (rc != OTF_OK) {
        otf_formats_file_abort(&of);
        return rc;
    }
    if ((rc = otf_formats_file_commit(&of, eb)) != OTF_OK)
        return rc;
    *size = stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
    return OTF_OK;
}

static enum otf_status votable_tabledata(FILE *f, const struct otf_detect_catalog *cat,
                                         const struct otf_formats_run_info *info,
                                         struct otf_errbuf *eb)
{
    return otf_formats_write_votable(f, cat, info, OTF_FORMATS_TABLEDATA, eb);
}

/* Batch numbers restart with the worker process, so a batch id names the process run too:
 * "<worker id>/<run>-<n>", where <run> is the time (us, base 36) of this process's first published
 * batch. Without it the batches of a restarted worker reused the ids of the previous run's. */
static const char *run_tag(void)
{
    static char tag[16];
    if (!tag[0]) {
        static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
        uint64_t t = (uint64_t)otf_time_now_us();
        char rev[16];
        int n = 0;
        do {
            rev[n++] = digits[t % 36];
            t /= 36;
        } while (t && n < (int)sizeof rev - 1);
        for (int i = 0; i < n; i++)
            tag[i] = rev[n - 1 - i];
        tag[n] = '\0';
    }
    return tag;
}

enum otf_status worker_write_results(const struct otf_worker_params *p, const struct wmodel *m,
                                     struct wjob *w, const struct otf_detect_catalog *cat,
                                     struct otf_job *j, int64_t batch_id, struct otf_errbuf *eb)
{
    char *dir = otf_xasprintf("%s/jobs/%s/results", p->data_dir, j->id);
    char *path = NULL;
    char batch[160], hdu[16];
    struct otf_formats_run_info info;
    struct otf_formats_kv *kv = otf_xcalloc(j->n_params + 1, sizeof *kv);
    struct otf_detect_timings t;
    int64_t size = 0;
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
    snprintf(batch, sizeof batch, "%s/%s-%lld", p->worker_id, run_tag(), (long long)batch_id);
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

    rc = otf_fs_mkdirs(dir, 1, eb);
    if (rc == OTF_OK) {
        path = otf_xasprintf("%s/catalog", dir);
        rc = write_one(path, votable_tabledata, cat, &info, &size, eb);
        if (rc == OTF_OK)
            otf_uws_job_set_result(j, "catalog", "application/x-votable+xml", size);
        free(path);
    }
    if (rc == OTF_OK) {
        path = otf_xasprintf("%s/regions", dir);
        rc = write_one(path, otf_formats_write_ds9, cat, &info, &size, eb);
        if (rc == OTF_OK)
            otf_uws_job_set_result(j, "regions", "text/plain; charset=utf-8", size);
        free(path);
    }
    if (rc == OTF_OK) {
        path = otf_xasprintf("%s/provenance.provn", dir);
        rc = write_one(path, otf_formats_write_prov_n, cat, &info, &size, eb);
        free(path);
    }
    if (rc == OTF_OK) {
        path = otf_xasprintf("%s/provenance", dir);
        rc = write_one(path, otf_formats_write_prov_json, cat, &info, &size, eb);
        if (rc == OTF_OK)
            otf_uws_job_set_result(j, "provenance", "application/json", size);
        free(path);
    }
    if (rc == OTF_OK) {
        struct otf_formats_file of;
        struct otf_formats_png_params pp;
        struct stat sb;
        otf_formats_png_params_init(&pp);
        path = otf_xasprintf("%s/preview", dir);
        rc = otf_formats_file_open(&of, path, eb);
        if (rc == OTF_OK) {
            rc = otf_formats_write_png(of.f, w->img, cat, &pp, eb);
            if (rc == OTF_OK)
                rc = otf_formats_file_commit(&of, eb);
            else
                otf_formats_file_abort(&of);
        }
        if (rc == OTF_OK)
            otf_uws_job_set_result(j, "preview", "image/png",
                                   stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0);
        free(path);
    }
    if (rc != OTF_OK)
        otf_errbuf_prefix(eb, "writing the results");
    free(kv);
    free(dir);
    return rc;
}
