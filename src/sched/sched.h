/* sched: batch formation policy (DESIGN §4), pure logic after redis's bio: it decides what a
 * worker runs next from plain job records and a clock, and knows nothing of FITS, CNNs, stores
 * or sockets. Three decisions live here:
 *   1. which batch to claim next: keys (model, precision), min/max jobs, max wait counted from
 *      the first queued job of a key, stickiness to the loaded model for models.hold_ms, fairness
 *      across owners inside a batch (deficit round robin by patches);
 *   2. how to fill forward micro-batches with the patches of a batch's images (DRR across owners,
 *      first-come order inside an owner, so each job finishes as early as possible);
 *   3. which resident models to evict (LRU within a count and a memory budget).
 *
 * Threads: a struct otf_sched / otf_sched_lru is owned by one worker thread; no locking.
 *
 *   struct otf_sched *s = otf_sched_new(&params);
 *   struct otf_sched_decision d;
 *   otf_sched_pick_batch(s, queued, n, now_us, &d);
 *   if (d.n_jobs > 0) claim d.job_idx[...]; else sleep until d.wake_at_us;
 *   otf_sched_free(s);
 */
#ifndef OTF_SCHED_H
#define OTF_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "core/core_config.h"

/* A queued job as the scheduler sees it. Borrowed strings. */
struct otf_sched_job {
    const char *id;
    const char *owner;     /* NULL = anonymous (one owner for fairness) */
    const char *model;     /* batch key, part 1 */
    const char *precision; /* batch key, part 2 */
    int64_t queued_us;     /* when it entered QUEUED (wall clock, us) */
    int64_t n_patches;     /* forward patches it needs (0 = unknown: one quantum) */
};

#define OTF_SCHED_MAX_BATCH 4096

/* The outcome of otf_sched_pick_batch. */
struct otf_sched_decision {
    size_t n_jobs;                       /* 0: nothing to run now */
    size_t job_idx[OTF_SCHED_MAX_BATCH]; /* indices into the caller's array, claim order */
    const char *model;                   /* the chosen key (borrowed from the job array) */
    const char *precision;
    int64_t wake_at_us; /* when n_jobs == 0 and jobs wait: the next time a batch may form
                           (0 = nothing queued: sleep until notified) */
    int is_switch;      /* 1 when the chosen key differs from the loaded model's key */
};

struct otf_sched;

/* A scheduler with the knobs of `p` (copied). Never NULL. */
struct otf_sched *otf_sched_new(const struct otf_sched_params *p);
void otf_sched_free(struct otf_sched *s);

/* Tells the scheduler which key the worker has loaded and since when (us); model NULL = none. */
void otf_sched_set_loaded(struct otf_sched *s, const char *model, const char *precision,
                          int64_t since_us);

/* 1 when (model, precision) is the key last given to otf_sched_set_loaded. */
int otf_sched_is_loaded(const struct otf_sched *s, const char *model, const char *precision);

/* Decides the next batch from the `n` queued jobs at time `now_us`:
 *  - a key is ready when it has >= max_jobs jobs, or >= min_jobs jobs, or its oldest job has
 *    waited >= max_wait_ms (so a lone job on an idle worker never waits for a batch that cannot
 *    form longer than max_wait_ms, and with min_jobs = 1 not at all);
 *  - the loaded key keeps the worker while it is ready and was loaded < hold_ms ago, or while no
 *    other key is ready; otherwise the ready key with the oldest job wins (FIFO across keys);
 *  - inside the key, up to max_jobs jobs are taken by deficit round robin across owners
 *    (quantum = max_patches patches), oldest first within an owner; the deficits persist across
 *    calls so no owner starves another.
 * Jobs with a NULL model are ignored. */
void otf_sched_pick_batch(struct otf_sched *s, const struct otf_sched_job *jobs, size_t n,
                          int64_t now_us, struct otf_sched_decision *d);

/* Jobs to add to a running batch of (model, precision) that has room for `room` more jobs
 * (batch.join): the queued jobs of that key which otf_sched_pick_batch would take now, at most
 * `room` (and max_jobs) of them, by the same rules (readiness, stickiness to the loaded model for
 * hold_ms, FIFO across keys, deficit round robin across owners, whose deficits it updates).
 * None when the decision now would be another key (a batch takes no more jobs once the worker
 * owes another key its turn, so it ends and the worker switches), nor before the key's oldest
 * job has waited join_after_ms (an idle worker claims a new job within milliseconds: it goes
 * first). wake_at_us is always 0. */
void otf_sched_pick_join(struct otf_sched *s, const struct otf_sched_job *jobs, size_t n,
                         int64_t now_us, const char *model, const char *precision, size_t room,
                         struct otf_sched_decision *d);

/* ---- micro-batches: patches of several images in one forward pass ---- */

/* One image of a running batch as the patch packer sees it. */
struct otf_sched_stream {
    const char *owner;
    int64_t remaining; /* patches still to run */
};

/* Fills one micro-batch of at most `max_patches` patches from `n` streams: take[i] receives the
 * number of patches to take from stream i (0..remaining). Owners share the micro-batch by deficit
 * round robin (state in `deficit`, one slot per stream's owner position, persisting between
 * calls; pass an array of n zeros at the start of the batch); within an owner, the stream with
 * the fewest patches left is served first (shortest remaining first; ties in order), so streams
 * of one size finish one after the other, in order, and a small stream added behind a large one
 * (a job joining the batch) finishes first. Returns the total taken (0 when all are done). */
int64_t otf_sched_fill_microbatch(const struct otf_sched_stream *streams, size_t n,
                                  int64_t max_patches, int64_t *deficit, int64_t *take);

/* ---- model residency: LRU within a count and a memory budget ---- */

struct otf_sched_lru;

/* A residency list holding at most `max_models` models and `budget_bytes` bytes. */
struct otf_sched_lru *otf_sched_lru_new(int max_models, int64_t budget_bytes);
void otf_sched_lru_free(struct otf_sched_lru *l);
/* Marks `key` used now (most recent). If it is not resident, it becomes resident with `bytes`;
 * the least recently used others are evicted until both limits hold: their keys are written to
 * evicted[] (otf_xstrdup'ed; caller frees each) up to `max_evicted`, count returned. A model
 * larger than the whole budget stays resident alone. */
size_t otf_sched_lru_touch(struct otf_sched_lru *l, const char *key, int64_t bytes, char **evicted,
                           size_t max_evicted);
/* 1 if `key` is resident. */
int otf_sched_lru_has(const struct otf_sched_lru *l, const char *key);
/* Removes `key` (e.g. its load failed). */
void otf_sched_lru_remove(struct otf_sched_lru *l, const char *key);
/* Resident count and bytes. */
size_t otf_sched_lru_count(const struct otf_sched_lru *l);
int64_t otf_sched_lru_bytes(const struct otf_sched_lru *l);

#endif
