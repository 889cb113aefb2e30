/* store: durable job records behind one small interface, with implementations chosen by URL
 * ("sqlite:/path/otf.db"; later "postgresql://..."). The HTTP service, the reaper and the
 * workers (local or on other machines) all go through it; nothing else knows which database
 * runs. Files (uploads, results) live in the data directory, not here.
 *
 * Threads: a struct otf_store is one database connection and belongs to one thread at a time
 * (never share it); open one per thread. Different handles on the same URL may be used
 * concurrently, from threads or processes: every operation is one transaction, and every
 * write is durable (on disk) when the call returns OTF_OK.
 *
 * Errors: OTF_E_NOTFOUND (no such job), OTF_E_STATE (phase compare-and-set failed, duplicate id),
 * OTF_E_INVAL (bad URL or argument), OTF_E_BUSY (database locked too long: retry later),
 * OTF_E_IO (disk), OTF_E_FORMAT (not a store database / corrupt), OTF_E_BACKEND (other).
 * Arrays returned through `out` are always non-NULL on success, also when empty.
 *
 *   struct otf_store *st = NULL;
 *   if (otf_store_open("sqlite:/var/otf/otf.db", &st, &eb) != OTF_OK) ...
 *   otf_store_insert_job(st, job, &eb);
 *   otf_store_close(st);
 */
#ifndef OTF_STORE_H
#define OTF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "uws/uws.h"

struct otf_store;

/* A job-list query (UWS 1.1 job list filters). */
struct otf_store_filter {
    const char *owner;   /* only this owner's jobs; NULL = every owner (admin, reaper) */
    uint32_t phase_mask; /* OR of OTF_PHASE_BIT(p); 0 = every phase except ARCHIVED */
    int64_t after_us;    /* creationTime > after_us; 0 = no bound */
    int64_t last;        /* the `last` most recent (newest first); 0 = all, oldest first */
    int64_t limit;       /* hard cap on rows returned (0 = none) */
};

/* Opens (creating and migrating the schema if needed) the store at `url`: "sqlite:PATH"
 * ("sqlite:///abs/path" also works) or a bare path ending in .db. *out receives the handle on
 * success. "postgresql://..." is OTF_E_INVAL in a build without PostgreSQL; a file that is not
 * an SQLite database is OTF_E_FORMAT; a schema newer than this program is OTF_E_STATE. */
enum otf_status otf_store_open(const char *url, struct otf_store **out, struct otf_errbuf *eb);
/* Closes the handle; NULL is a no-op. */
void otf_store_close(struct otf_store *st);

/* Inserts a new job (its id must be unique: OTF_E_STATE otherwise) with its parameters and
 * results. creation_us 0 means now; a job inserted QUEUED counts as queued now. The batch key
 * is taken from the parameters "model" and "precision" (canonical name; FP32 when absent).
 * `j` is borrowed. */
enum otf_status otf_store_insert_job(struct otf_store *st, const struct otf_job *j,
                                     struct otf_errbuf *eb);
/* Reads a job; *out is a new job freed with otf_uws_job_free. OTF_E_NOTFOUND if absent. */
enum otf_status otf_store_get_job(struct otf_store *st, const char *id, struct otf_job **out,
                                  struct otf_errbuf *eb);
/* Lists jobs matching `f` (NULL = all but ARCHIVED, oldest first) with their parameters and
 * results; *out is a new array of new jobs (otf_uws_job_array_free). */
enum otf_status otf_store_list_jobs(struct otf_store *st, const struct otf_store_filter *f,
                                    struct otf_job ***out, size_t *n_out, struct otf_errbuf *eb);
/* Counts jobs of an owner (NULL = all) in the phases of `phase_mask` (0 = all but ARCHIVED),
 * and the sum of their upload_bytes (either out-pointer may be NULL). */
enum otf_status otf_store_count_jobs(struct otf_store *st, const char *owner, uint32_t phase_mask,
                                     int64_t *n_jobs, int64_t *n_bytes, struct otf_errbuf *eb);

/* Replaces the client-settable fields of job `j->id` (parameters, run_id, exec_duration_s,
 * destruction_us, upload_bytes) only while its phase is in `phase_mask`; OTF_E_STATE otherwise
 * (with the current phase in the message), OTF_E_NOTFOUND if absent. Other fields of `j` are
 * ignored. Borrowed. */
enum otf_status otf_store_update_job(struct otf_store *st, const struct otf_job *j,
                                     uint32_t phase_mask, struct otf_errbuf *eb);

/* Moves a job to `to` only if its current phase is in `from_mask` (compare-and-set), setting
 * start_us when entering EXECUTING, end_us when entering a final phase and the queue time when
 * entering QUEUED; leaving EXECUTING drops the worker's lease. `error` (may be NULL = keep)
 * becomes the errorSummary (fatal). *old_phase (may be NULL) receives the phase before.
 * OTF_E_STATE if the phase was not in the mask, OTF_E_NOTFOUND if absent. */
enum otf_status otf_store_set_phase(struct otf_store *st, const char *id, uint32_t from_mask,
                                    enum otf_phase to, const char *error, enum otf_phase *old_phase,
                                    struct otf_errbuf *eb);

/* Deletes a job record with its parameters and results. OTF_E_NOTFOUND if absent. */
enum otf_status otf_store_delete_job(struct otf_store *st, const char *id, struct otf_errbuf *eb);

/* ---- for workers (claims with leases, so workers on other machines can share one store) ---- */

/* Atomically claims up to `max_jobs` (>= 1) QUEUED jobs with parameter model=`model` and
 * precision=`precision` (both NULL: the key of the oldest QUEUED job; only `precision` NULL:
 * the precision of that model's oldest QUEUED job), oldest queued first, moving them to
 * EXECUTING under `worker_id` with a lease until now+lease_ms (>= 1), attempts+1 and start_us.
 * No two claims, from any handle or process, ever return the same job. *out receives a new
 * array of new jobs (possibly empty; otf_uws_job_array_free). */
enum otf_status otf_store_claim_jobs(struct otf_store *st, const char *worker_id, const char *model,
                                     const char *precision, int max_jobs, int64_t lease_ms,
                                     struct otf_job ***out, size_t *n_out, struct otf_errbuf *eb);
/* Claims exactly the jobs named in ids[0..n) that are still QUEUED (the others are skipped: a
 * job may have been aborted or claimed meanwhile), in one transaction, as otf_store_claim_jobs
 * does, and records `batch` (may be NULL) as the batch running them (jobInfo; cleared when a
 * job goes back to the queue). The scheduler picks the jobs (fairness across owners); this
 * makes its choice atomic. *out receives the claimed jobs in the order of `ids` (possibly
 * none). */
enum otf_status otf_store_claim_job_ids(struct otf_store *st, const char *worker_id,
                                        const char *batch, const char *const *ids, size_t n,
                                        int64_t lease_ms, struct otf_job ***out, size_t *n_out,
                                        struct otf_errbuf *eb);
/* Releases at once every EXECUTING job held by `worker_id` (its process is known to be dead):
 * jobs with attempts < max_attempts go back to QUEUED, the others to ERROR with `error`.
 * n_requeued and n_failed may be NULL. */
enum otf_status otf_store_release_worker(struct otf_store *st, const char *worker_id,
                                         int max_attempts, const char *error, int64_t *n_requeued,
                                         int64_t *n_failed, struct otf_errbuf *eb);
/* Extends the lease of every EXECUTING job held by `worker_id` to now+lease_ms (a heartbeat;
 * it does not move the change counter). */
enum otf_status otf_store_renew_lease(struct otf_store *st, const char *worker_id, int64_t lease_ms,
                                      struct otf_errbuf *eb);
/* Publishes progress of an EXECUTING job (stage may be NULL = unchanged). OTF_E_STATE if the
 * job is no longer EXECUTING (e.g. aborted: the worker should stop it). */
enum otf_status otf_store_set_progress(struct otf_store *st, const char *id, int64_t patches_done,
                                       int64_t patches_total, const char *stage,
                                       struct otf_errbuf *eb);
/* Ends an EXECUTING job held by `worker_id`: COMPLETED with its results (from `j->results`), or
 * ERROR with `j->error_summary` (type from `j->error_is_fatal`; results, if any, are kept too).
 * Only id, results and the error of `j` are used; the parameters are left as stored.
 * OTF_E_STATE if the job is no longer EXECUTING (e.g. aborted) or held by another worker;
 * OTF_E_INVAL if `to` is neither COMPLETED nor ERROR. */
enum otf_status otf_store_finish_job(struct otf_store *st, const char *worker_id,
                                     const struct otf_job *j, enum otf_phase to,
                                     struct otf_errbuf *eb);
/* Jobs whose lease ran out (their worker died): EXECUTING jobs with attempts < max_attempts go
 * back to the head of their queue (QUEUED, their original queue time); the others go to ERROR
 * with `error` (NULL: a standard message). EXECUTING jobs without a lease (set by
 * otf_store_set_phase, not claimed) are left alone. n_requeued, n_failed may be NULL. */
enum otf_status otf_store_recover_expired(struct otf_store *st, int max_attempts, const char *error,
                                          int64_t *n_requeued, int64_t *n_failed,
                                          struct otf_errbuf *eb);
/* The keys (model, precision) with QUEUED jobs, their counts and the time the oldest job of each
 * entered QUEUED (for batch formation: batch.max_wait_ms counts from it), oldest key first.
 * *out is a new array freed with otf_store_queue_free. */
struct otf_store_queue {
    char *model;              /* NULL for queued jobs without a model parameter */
    char *precision;          /* canonical: "FP32", "BF16", ... */
    int64_t n_jobs;           /* QUEUED jobs of this key */
    int64_t oldest_queued_us; /* when the oldest of them entered QUEUED, us since the epoch */
};
enum otf_status otf_store_queue_summary(struct otf_store *st, struct otf_store_queue **out,
                                        size_t *n_out, struct otf_errbuf *eb);
void otf_store_queue_free(struct otf_store_queue *q, size_t n);

/* ---- for the reaper ---- */

/* Ids of jobs whose destruction time (non-zero) is <= now_us, soonest first, up to `max`
 * (0 = no cap); ARCHIVED jobs are left out (already destroyed). *out is a new array of
 * otf_xstrdup'ed strings, freed with otf_store_ids_free. */
enum otf_status otf_store_list_destroyable(struct otf_store *st, int64_t now_us, size_t max,
                                           char ***out, size_t *n_out, struct otf_errbuf *eb);
/* Ids of EXECUTING jobs whose executionDuration (non-zero) has run out at now_us, counted from
 * start_us (the start of the current attempt); up to `max` (0 = no cap). */
enum otf_status otf_store_list_overdue(struct otf_store *st, int64_t now_us, size_t max,
                                       char ***out, size_t *n_out, struct otf_errbuf *eb);
void otf_store_ids_free(char **ids, size_t n);

/* The phase of each job of `ids` in phases[i] (an enum otf_phase number, -1 when there is no
 * such job), read in one transaction without loading the jobs: what a WAIT needs to see, for
 * thousands of waiting requests at a time. */
enum otf_status otf_store_get_phases(struct otf_store *st, const char *const *ids, size_t n,
                                     int *phases, struct otf_errbuf *eb);

/* A counter that grows on every change to any job (for WAIT: a cheap "did anything change?"
 * poll that also sees changes made by other processes). */
enum otf_status otf_store_change_seq(struct otf_store *st, int64_t *seq, struct otf_errbuf *eb);
/* Blocks the calling thread until the change counter differs from `seq` or `timeout_ms`
 * passes (0 = just read it); *now_seq (may be NULL) receives the counter last seen. A timeout
 * is not an error: compare *now_seq with `seq`. */
enum otf_status otf_store_wait_change(struct otf_store *st, int64_t seq, int64_t timeout_ms,
                                      int64_t *now_seq, struct otf_errbuf *eb);
/* A descriptor to poll(2) for POLLIN beside other descriptors: it becomes readable soon after
 * a change to the store made by any process on this machine (SQLite: inotify on the database's
 * folder), so a waiter need not poll the counter to learn of it at once. It is a hint, never
 * proof: callers read otf_store_change_seq again, and call otf_store_change_fd_drain before the
 * next wait. A change made on another machine (a network file system) is not signalled: keep a
 * polling period as well. -1 where the store has none. The handle owns the descriptor. */
int otf_store_change_fd(struct otf_store *st);
/* Empties the descriptor of otf_store_change_fd (does nothing when there is none). */
void otf_store_change_fd_drain(struct otf_store *st);

#endif
