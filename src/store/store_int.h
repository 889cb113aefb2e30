/* store: declarations shared by the files of this folder only (STYLE §3). Every implementation
 * embeds `struct otf_store` as the FIRST member of its own handle struct and fills one
 * `struct otf_store_ops`; store.c (the registry) forwards each public call through it. */
#ifndef OTF_STORE_INT_H
#define OTF_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* One operation per public function, with the same arguments and meaning as in store.h (the
 * handle is the implementation's own struct, reached by casting `st`). Arguments are checked by
 * store.c before the call (non-NULL pointers, sane counts), so implementations need not repeat
 * those checks. Members marked (optional) may be NULL: store.c then supplies a generic fallback
 * built on the required members. */
struct otf_store_ops {
    const char *name; /* "sqlite", "postgresql": for logs and errors */

    /* Releases everything the handle holds, the handle included. */
    void (*close)(struct otf_store *st);

    enum otf_status (*insert_job)(struct otf_store *st, const struct otf_job *j,
                                  struct otf_errbuf *eb);
    enum otf_status (*get_job)(struct otf_store *st, const char *id, struct otf_job **out,
                               struct otf_errbuf *eb);
    enum otf_status (*list_jobs)(struct otf_store *st, const struct otf_store_filter *f,
                                 struct otf_job ***out, size_t *n_out, struct otf_errbuf *eb);
    enum otf_status (*count_jobs)(struct otf_store *st, const char *owner, uint32_t phase_mask,
                                  int64_t *n_jobs, int64_t *n_bytes, struct otf_errbuf *eb);
    enum otf_status (*update_job)(struct otf_store *st, const struct otf_job *j,
                                  uint32_t phase_mask, struct otf_errbuf *eb);
    enum otf_status (*set_phase)(struct otf_store *st, const char *id, uint32_t from_mask,
                                 enum otf_phase to, const char *error, enum otf_phase *old_phase,
                                 struct otf_errbuf *eb);
    enum otf_status (*delete_job)(struct otf_store *st, const char *id, struct otf_errbuf *eb);

    enum otf_status (*claim_jobs)(struct otf_store *st, const char *worker_id, const char *model,
                                  const char *precision, int max_jobs, int64_t lease_ms,
                                  struct otf_job ***out, size_t *n_out, struct otf_errbuf *eb);
    enum otf_status (*claim_job_ids)(struct otf_store *st, const char *worker_id, const char *batch,
                                     const char *const *ids, size_t n, int64_t lease_ms,
                                     struct otf_job ***out, size_t *n_out, struct otf_errbuf *eb);
    enum otf_status (*release_worker)(struct otf_store *st, const char *worker_id, int max_attempts,
                                      const char *error, int64_t *n_requeued, int64_t *n_failed,
                                      struct otf_errbuf *eb);
    enum otf_status (*renew_lease)(struct otf_store *st, const char *worker_id, int64_t lease_ms,
                                   struct otf_errbuf *eb);
    enum otf_status (*set_progress)(struct otf_store *st, const char *id, int64_t patches_done,
                                    int64_t patches_total, const char *stage,
                                    struct otf_errbuf *eb);
    enum otf_status (*finish_job)(struct otf_store *st, const char *worker_id,
                                  const struct otf_job *j, enum otf_phase to,
                                  struct otf_errbuf *eb);
    enum otf_status (*recover_expired)(struct otf_store *st, int max_attempts, const char *error,
                                       int64_t *n_requeued, int64_t *n_failed,
                                       struct otf_errbuf *eb);
    enum otf_status (*queue_summary)(struct otf_store *st, struct otf_store_queue **out,
                                     size_t *n_out, struct otf_errbuf *eb);

    enum otf_status (*list_destroyable)(struct otf_store *st, int64_t now_us, size_t max,
                                        char ***out, size_t *n_out, struct otf_errbuf *eb);
    enum otf_status (*list_overdue)(struct otf_store *st, int64_t now_us, size_t max, char ***out,
                                    size_t *n_out, struct otf_errbuf *eb);
    enum otf_status (*get_phases)(struct otf_store *st, const char *const *ids, size_t n,
                                  int *phases, struct otf_errbuf *eb);
    enum otf_status (*change_seq)(struct otf_store *st, int64_t *seq, struct otf_errbuf *eb);

    /* (optional) Blocks until the change counter differs from `seq` or `timeout_ms` passes,
     * writing the counter last read to *now_seq. PostgreSQL waits on LISTEN/NOTIFY; when NULL,
     * store.c polls change_seq. */
    enum otf_status (*wait_change)(struct otf_store *st, int64_t seq, int64_t timeout_ms,
                                   int64_t *now_seq, struct otf_errbuf *eb);
    /* (optional) A descriptor that polls readable soon after a change by any process on this
     * machine, owned by the handle, or -1 (none, or none available now). See
     * otf_store_change_fd. */
    int (*change_fd)(struct otf_store *st);
};

/* The common head of every implementation's handle. */
struct otf_store {
    const struct otf_store_ops *ops;
};

/* ---- implementations (only store.c calls these) ---- */

/* Opens the SQLite store at the file `path` (created and migrated if needed). */
enum otf_status otf_store_sqlite_open(const char *path, struct otf_store **out,
                                      struct otf_errbuf *eb);

/* ---- schema migrations, embedded at build time from src/store/migrations/NNN_name.sql ---- */

struct otf_store_migration {
    int version;      /* NNN of the file name: 1, 2, ... with no gap */
    const char *name; /* file name without .sql, e.g. "001_init" */
    const char *sql;  /* the whole file, NUL-terminated */
};

/* Every migration in version order (generated: store_migrations.c in the build folder). */
extern const struct otf_store_migration otf_store_sqlite_migrations[];
extern const size_t otf_store_sqlite_n_migrations;

/* ---- helpers shared by the implementations ---- */

/* Precision column value for a job: the canonical name of its "precision" parameter ("FP32"
 * when absent; an unknown value is kept as it is). Borrowed from `j` or static. */
const char *otf_store_job_precision(const struct otf_job *j);
/* Canonical precision for a claim key (NULL stays NULL). Borrowed from `s` or static. */
const char *otf_store_precision_key(const char *s);

#endif
