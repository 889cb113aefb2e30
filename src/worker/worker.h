/* worker: an inference worker process (DESIGN §2, §4). It finds work through the store, so the
 * same code serves workers started by otfd and, later, workers on other machines sharing the
 * store and the data directory. One loop: ask the scheduler which batch (model, precision, jobs)
 * to run, claim those jobs atomically, keep the model resident, stream the patches of all the
 * batch's images through forward micro-batches (a reader thread prepares the next micro-batch
 * while the engine runs the current one), publish each job's results as soon as its own patches
 * are done, and honour ABORT and the execution-duration limit between micro-batches.
 *
 * Threads: otf_worker_run uses the calling thread plus one reader thread per batch. Counters are
 * published in a small shared file (struct otf_worker_stats) that otfd reads for /metrics.
 *
 *   struct otf_worker_params p; otf_worker_params_init(&p);
 *   p.worker_id = "host/w1"; p.store_url = ...; p.data_dir = ...; p.models_dir = ...;
 *   otf_worker_run(&p, &stop_flag, &eb);
 */
#ifndef OTF_WORKER_H
#define OTF_WORKER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/core.h"
#include "core/core_config.h"

struct otf_worker_params {
    const char *worker_id;  /* unique among the workers sharing the store */
    const char *store_url;  /* otf_store_open URL */
    const char *data_dir;   /* DATA: jobs/<id>/image.fits in, jobs/<id>/results/ out */
    const char *models_dir; /* models/<id>/ folders */
    struct otf_sched_params sched;
    const char *backend;    /* engine backend name ("auto", "cpu", "reference") */
    int threads;            /* engine threads (0 = all cores) */
    int64_t lease_ms;       /* claim lease; renewed every lease_ms/3 */
    int progress_ms;        /* smallest interval between progress updates (and abort checks) */
    int helper_nice;        /* nice value of the reader and finisher threads (0 = unchanged) */
    int winograd;           /* engine: Winograd for wide 3x3 fp32 convolutions (default 1) */
    int streams;            /* engine: parts each forward runs as, at once (default 1) */
    const char *stats_path; /* shared counters file (NULL = none) */
};

/* Defaults: lease 15 s, progress every 200 ms, backend auto, helper threads at nice 19. */
void otf_worker_params_init(struct otf_worker_params *p);

/* Runs until *stop becomes nonzero (checked between micro-batches and while idle). Returns
 * OTF_OK on a requested stop; an error only when the worker cannot run at all (store). */
enum otf_status otf_worker_run(const struct otf_worker_params *p, volatile sig_atomic_t *stop,
                               struct otf_errbuf *eb);

/* ---- shared counters (one small file per worker, mapped by the worker and by otfd) ---- */

#define OTF_WORKER_STATS_MAGIC 0x4f54465753544133ULL /* "OTFWSTA3" */

struct otf_worker_stats {
    uint64_t magic;
    int64_t pid;
    _Atomic int64_t updated_us;   /* last write, wall clock */
    _Atomic int64_t batches;      /* batches claimed */
    _Atomic int64_t batch_jobs;   /* jobs in those batches, joiners included */
    _Atomic int64_t batch_joins;  /* jobs that joined a running batch (batch.join) */
    _Atomic int64_t microbatches; /* forward passes */
    _Atomic int64_t patches;      /* patches through the engine */
    _Atomic int64_t jobs_completed;
    _Atomic int64_t jobs_failed;
    _Atomic int64_t jobs_aborted; /* dropped because ABORTED / deleted / over duration */
    _Atomic int64_t model_loads;
    _Atomic int64_t model_evictions;
    _Atomic int64_t setup_us;   /* opening images, WCS, bounds, tiling */
    _Atomic int64_t read_us;    /* reading and normalising patches (reader thread) */
    _Atomic int64_t forward_us; /* engine forward passes */
    _Atomic int64_t collect_us; /* thresholds, median test, first NMS */
    _Atomic int64_t finish_us;  /* second NMS, sky, catalogue */
    _Atomic int64_t write_us;   /* result files */
    _Atomic int64_t load_us;    /* model loads */
    _Atomic int64_t busy_us;    /* time inside batches */
    /* CPU time (thread CPU clock) of the stages that run beside the forward pass, and of the
     * whole worker process (every thread; refreshed after each batch and while idle). */
    _Atomic int64_t setup_cpu_us;
    _Atomic int64_t read_cpu_us;
    _Atomic int64_t collect_cpu_us;
    _Atomic int64_t finish_cpu_us;
    _Atomic int64_t write_cpu_us;
    _Atomic int64_t process_cpu_us;
    char resident[256]; /* resident models, comma-separated (informative) */
};

/* Maps (creating when `create`) the counters file at `path`. *out is unmapped with
 * otf_worker_stats_close. */
enum otf_status otf_worker_stats_open(const char *path, int create, struct otf_worker_stats **out,
                                      struct otf_errbuf *eb);
void otf_worker_stats_close(struct otf_worker_stats *s);
/* Appends the Prometheus lines for `n` workers' counters (label worker="id"), each metric
 * family once. */
void otf_worker_stats_render(const struct otf_worker_stats *const *s, const char *const *ids,
                             size_t n, struct otf_buf *out);

#endif
