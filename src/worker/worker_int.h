/* worker internals shared by the files of src/worker/. */
#ifndef OTF_WORKER_INT_H
#define OTF_WORKER_INT_H

#include <stdatomic.h>

#include "detect/detect.h"
#include "engine/engine.h"
#include "fits/fits.h"
#include "model/model.h"
#include "model/model_manifest.h"
#include "sched/sched.h"
#include "store/store.h"
#include "worker/worker.h"

/* A loaded model, kept resident between batches (owned by the worker thread). */
struct wmodel {
    char key[160]; /* "model|PRECISION" */
    char *model_id;
    char *precision;
    struct otf_model_manifest *manifest;
    struct otf_model_net *net;
    struct otf_engine *engine;
    struct otf_detect_config dcfg;
    char weights_sha256[65];
    int64_t bytes;
};

struct wmodels {
    struct wmodel **m;
    size_t n;
    struct otf_sched_lru *lru;
};

void wmodels_init(struct wmodels *ms, const struct otf_worker_params *p);
void wmodels_cleanup(struct wmodels *ms);
/* The resident model for (model, precision), loading it (and evicting others) if needed.
 * *loaded is set when a load happened. */
enum otf_status wmodels_get(struct wmodels *ms, const struct otf_worker_params *p,
                            struct otf_worker_stats *stats, const char *model,
                            const char *precision, struct wmodel **out, int *loaded,
                            struct otf_errbuf *eb);
/* Comma-separated ids of the resident models (for the counters file). */
void wmodels_describe(const struct wmodels *ms, char *out, size_t n);

/* Job states shared between the worker thread and the reader thread. */
enum wjob_state {
    WJOB_ACTIVE = 0,   /* patches flow */
    WJOB_FAILED = 1,   /* an error was recorded; the worker thread ends it as ERROR */
    WJOB_DROPPED = 2,  /* aborted / deleted / out of time: stop silently */
    WJOB_DONE = 3,     /* ended (COMPLETED or ERROR written) */
    WJOB_FINISHING = 4 /* every patch collected; the finisher thread owns it now */
};

/* One job of a running batch. */
struct wjob {
    struct otf_job *job;                 /* the claimed record (worker thread) */
    struct otf_fits_image *img;          /* reader thread once the batch runs */
    struct otf_fits_wcs *wcs;            /* worker thread (NULL without WCS) */
    struct otf_fits_meta meta;           /* header facts for the outputs */
    struct otf_detect_config cfg;        /* model defaults + the job's overrides */
    struct otf_detect_source *src;       /* reader thread */
    struct otf_detect_collector *col;    /* worker thread */
    struct otf_formats_preview *preview; /* built from the rows the reader reads (NULL: none) */
    char *image_path;
    char image_sha256[65];
    int64_t roi[4];
    int64_t total;             /* patches of the job */
    int64_t produced;          /* patches read (reader thread) */
    _Atomic int64_t collected; /* patches collected (worker thread; read by the finisher) */
    int64_t last_progress_us;  /* finisher thread (or the worker thread without one) */
    int64_t started_us;
    _Atomic int state;           /* enum wjob_state */
    char error[OTF_ERRBUF_SIZE]; /* written before state becomes FAILED */
};

/* The batch id of the worker's batch number `batch_id` ("<worker id>/<run>-<n>": unique across
 * the worker's restarts), as the store (jobInfo) and the results (provenance) give it. */
#define WORKER_BATCH_LABEL 160
void worker_batch_label(const struct otf_worker_params *p, int64_t batch_id, char *out, size_t n);

/* Writes a finished job's result files (catalog, regions, provenance, preview) under
 * DATA/jobs/<id>/results/ and lists them in `j`, naming `batch`. *other_cpu_us receives the CPU
 * time spent on other threads than the caller's (the preview's), for the write stage's CPU
 * counter. */
enum otf_status worker_write_results(const struct otf_worker_params *p, const struct wmodel *m,
                                     struct wjob *w, const struct otf_detect_catalog *cat,
                                     struct otf_job *j, const char *batch, int64_t *other_cpu_us,
                                     struct otf_errbuf *eb);

#endif
