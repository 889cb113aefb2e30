/* SQLite store: one connection per handle, WAL journal with synchronous=FULL (a committed write
 * is on disk before the call returns), every write inside BEGIN IMMEDIATE ... COMMIT, every
 * multi-statement read inside one read transaction (one snapshot). Invariant: each committed
 * write that changes a job bumps meta.change_seq and stamps the job's seq with the new value. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/inotify.h>
#include <sys/stat.h>
#endif

#include "store/store_int.h"

#define BUSY_TIMEOUT_MS 5000 /* SQLite's own wait on a locked database, per attempt */
#define BUSY_RETRIES    3    /* BEGIN IMMEDIATE / COMMIT attempts after the wait ran out */

/* All phase bits but ARCHIVED: the meaning of phase_mask 0 (UWS 1.1 §2.2.2.1: without a PHASE
 * filter ARCHIVED jobs are not listed). */
#define PHASES_DEFAULT (((1u << OTF_PHASE__COUNT) - 1u) & ~OTF_PHASE_BIT(OTF_PHASE_ARCHIVED))

/* Columns read into a struct otf_job, in the order row_to_job expects. */
#define JOB_COLS                                                                                   \
    "id, run_id, owner, phase, creation_us, start_us, end_us, quote_us, exec_duration_s, "         \
    "destruction_us, error_summary, error_is_fatal, patches_done, patches_total, stage, "          \
    "attempts, upload_bytes, batch"

#define LIST_WHERE "((?2 >> phase) & 1) AND creation_us > ?3"

/* Prepared statements, prepared on first use and kept for the life of the handle. */
enum stmt {
    S_BEGIN_READ,
    S_BEGIN_WRITE,
    S_COMMIT,
    S_ROLLBACK,
    S_BUMP_SEQ,
    S_GET_SEQ,
    S_INSERT_JOB,
    S_INSERT_PARAM,
    S_INSERT_RESULT,
    S_GET_JOB,
    S_GET_PARAMS,
    S_GET_RESULTS,
    S_LIST_ALL_ASC,
    S_LIST_ALL_DESC,
    S_LIST_OWNER_ASC,
    S_LIST_OWNER_DESC,
    S_COUNT_ALL,
    S_COUNT_OWNER,
    S_GET_STATE,
    S_GET_PHASE,
    S_UPDATE_JOB,
    S_DELETE_PARAMS,
    S_DELETE_RESULTS,
    S_SET_PHASE,
    S_DELETE_JOB,
    S_OLDEST_KEY,
    S_OLDEST_KEY_OF_MODEL,
    S_CLAIMABLE,
    S_CLAIM_ONE,
    S_RENEW,
    S_PROGRESS,
    S_FINISH,
    S_REQUEUE_EXPIRED,
    S_REQUEUE_WORKER,
    S_FAIL_WORKER,
    S_FAIL_EXPIRED,
    S_QUEUE_SUMMARY,
    S_DESTROYABLE,
    S_OVERDUE,
    S__COUNT
};

static const char *const stmt_sql[S__COUNT] = {
    [S_BEGIN_READ] = "BEGIN DEFERRED",
    [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_BUMP_SEQ] = "UPDATE meta SET value = value + 1 WHERE key = 'change_seq' RETURNING value",
    [S_GET_SEQ] = "SELECT value FROM meta WHERE key = 'change_seq'",
    [S_INSERT_JOB] =
        "INSERT INTO jobs (id, run_id, owner, phase, creation_us, start_us, end_us, quote_us,"
        " exec_duration_s, destruction_us, error_summary, error_is_fatal, patches_done,"
        " patches_total, stage, attempts, upload_bytes, model, precision, queued_us, seq)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21)",
    [S_INSERT_PARAM] = "INSERT INTO params (job_id, pos, name, value, by_reference)"
                       " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_INSERT_RESULT] = "INSERT INTO results (job_id, pos, id, mime, size_bytes)"
                        " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_GET_JOB] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
    [S_GET_PARAMS] = "SELECT name, value, by_reference FROM params WHERE job_id = ?1 ORDER BY pos",
    [S_GET_RESULTS] = "SELECT id, mime, size_bytes FROM results WHERE job_id = ?1 ORDER BY pos",
    [S_LIST_ALL_ASC] =
        "SELECT " JOB_COLS " FROM jobs WHERE " LIST_WHERE " ORDER BY creation_us, rowid LIMIT ?4",
    [S_LIST_ALL_DESC] = "SELECT " JOB_COLS " FROM jobs WHERE " LIST_WHERE
                        " ORDER BY creation_us DESC, rowid DESC LIMIT ?4",
    [S_LIST_OWNER_ASC] = "SELECT " JOB_COLS " FROM jobs WHERE owner = ?1 AND " LIST_WHERE
                         " ORDER BY creation_us, rowid LIMIT ?4",
    [S_LIST_OWNER_DESC] = "SELECT " JOB_COLS " FROM jobs WHERE owner = ?1 AND " LIST_WHERE
                          " ORDER BY creation_us DESC, rowid DESC LIMIT ?4",
    [S_COUNT_ALL] = "SELECT count(*), coalesce(sum(upload_bytes), 0) FROM jobs"
                    " WHERE ((?2 >> phase) & 1)",
    [S_COUNT_OWNER] = "SELECT count(*), coalesce(sum(upload_bytes), 0) FROM jobs"
                      " WHERE owner = ?1 AND ((?2 >> phase) & 1)",
    [S_GET_STATE] = "SELECT phase, worker_id FROM jobs WHERE id = ?1",
    [S_GET_PHASE] = "SELECT phase FROM jobs WHERE id = ?1",
    [S_UPDATE_JOB] = "UPDATE jobs SET run_id = ?2, exec_duration_s = ?3, destruction_us = ?4,"
                     " upload_bytes = ?5, model = ?6, precision = ?7, seq = ?8 WHERE id = ?1",
    [S_DELETE_PARAMS] = "DELETE FROM params WHERE job_id = ?1",
    [S_DELETE_RESULTS] = "DELETE FROM results WHERE job_id = ?1",
    /* ?3 is the new phase; ?4 now; ?5 the error (NULL keeps the old one); ?6 seq. Leaving
     * EXECUTING drops the lease so that recover_expired leaves the job alone. */
    [S_SET_PHASE] = "UPDATE jobs SET phase = ?3,"
                    " start_us = CASE WHEN ?3 = 2 THEN ?4 ELSE start_us END,"
                    " end_us = CASE WHEN ?3 IN (3, 4, 5, 9) THEN ?4 ELSE end_us END,"
                    " queued_us = CASE WHEN ?3 = 1 THEN ?4 ELSE queued_us END,"
                    " error_summary = coalesce(?5, error_summary),"
                    " error_is_fatal = CASE WHEN ?5 IS NULL THEN error_is_fatal ELSE 1 END,"
                    " lease_until_us = CASE WHEN ?3 = 2 THEN lease_until_us ELSE 0 END,"
                    " seq = ?6 WHERE id = ?1 AND phase = ?2",
    [S_DELETE_JOB] = "DELETE FROM jobs WHERE id = ?1",
    [S_OLDEST_KEY] = "SELECT model, precision FROM jobs WHERE phase = 1"
                     " ORDER BY queued_us, rowid LIMIT 1",
    [S_OLDEST_KEY_OF_MODEL] = "SELECT precision FROM jobs WHERE phase = 1 AND model = ?1"
                              " ORDER BY queued_us, rowid LIMIT 1",
    /* IS rather than =, so that a queued job without a model is still claimed (and then
     * failed by the worker) instead of blocking the queue. */
    [S_CLAIMABLE] = "SELECT id FROM jobs WHERE phase = 1 AND model IS ?1 AND precision = ?2"
                    " ORDER BY queued_us, rowid LIMIT ?3",
    [S_CLAIM_ONE] = "UPDATE jobs SET phase = 2, worker_id = ?2, lease_until_us = ?3,"
                    " attempts = attempts + 1, start_us = ?4, seq = ?5, batch = ?6"
                    " WHERE id = ?1 AND phase = 1",
    [S_RENEW] = "UPDATE jobs SET lease_until_us = ?2 WHERE worker_id = ?1 AND phase = 2",
    [S_PROGRESS] = "UPDATE jobs SET patches_done = ?2, patches_total = ?3,"
                   " stage = coalesce(?4, stage), seq = ?5 WHERE id = ?1 AND phase = 2",
    [S_FINISH] = "UPDATE jobs SET phase = ?3, end_us = ?4, error_summary = ?5,"
                 " error_is_fatal = ?6, lease_until_us = 0, seq = ?7"
                 " WHERE id = ?1 AND phase = 2 AND worker_id = ?2",
    /* A lease of 0 means "not leased" (EXECUTING set by set_phase, not by a claim). The
     * original queued_us is kept so that a retried job goes back to the head of its queue. */
    [S_REQUEUE_EXPIRED] =
        "UPDATE jobs SET phase = 1, worker_id = NULL, lease_until_us = 0, batch = NULL,"
        " seq = ?3 WHERE phase = 2 AND lease_until_us > 0"
        " AND lease_until_us <= ?1 AND attempts < ?2",
    [S_FAIL_EXPIRED] = "UPDATE jobs SET phase = 4, end_us = ?1, lease_until_us = 0,"
                       " error_summary = ?2, error_is_fatal = 1, seq = ?3"
                       " WHERE phase = 2 AND lease_until_us > 0 AND lease_until_us <= ?1",
    [S_REQUEUE_WORKER] =
        "UPDATE jobs SET phase = 1, worker_id = NULL, lease_until_us = 0, batch = NULL,"
        " seq = ?3 WHERE phase = 2 AND worker_id = ?1 AND attempts < ?2",
    [S_FAIL_WORKER] = "UPDATE jobs SET phase = 4, end_us = ?2, lease_until_us = 0,"
                      " error_summary = ?3, error_is_fatal = 1, seq = ?4"
                      " WHERE phase = 2 AND worker_id = ?1",
    [S_QUEUE_SUMMARY] = "SELECT model, precision, count(*), min(queued_us) FROM jobs"
                        " WHERE phase = 1 GROUP BY model, precision ORDER BY min(queued_us)",
    /* ARCHIVED jobs have been destroyed already (their record is kept on purpose). */
    [S_DESTROYABLE] = "SELECT id FROM jobs WHERE destruction_us > 0 AND destruction_us <= ?1"
                      " AND phase <> 9 ORDER BY destruction_us LIMIT ?2",
    [S_OVERDUE] = "SELECT id FROM jobs WHERE phase = 2 AND exec_duration_s > 0 AND start_us > 0"
                  " AND start_us + exec_duration_s * 1000000 <= ?1 ORDER BY start_us LIMIT ?2",
};

/* One handle: owned by one thread at a time (store.h). */
struct sq {
    struct otf_store base; /* first: the registry casts between the two */
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[S__COUNT];
    char *wal_path;      /* path + "-wal": its timestamps are the change bell (ring_bell) */
    int bumped;          /* the open transaction bumped the change counter */
    int change_fd;       /* sq_change_fd: inotify descriptor, or -1 */
    int change_fd_tried; /* 1 once sq_change_fd tried to make it */
};

static struct sq *sq_of(struct otf_store *st)
{
    return (struct sq *)st;
}

/* ---- errors ---- */

static enum otf_status status_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return OTF_E_BUSY;
    case SQLITE_NOMEM:
        return OTF_E_NOMEM;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return OTF_E_IO;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return OTF_E_FORMAT;
    case SQLITE_CONSTRAINT:
        return OTF_E_STATE;
    default:
        return OTF_E_BACKEND;
    }
}

/* Translates an SQLite result code at the module edge (STYLE §4). */
static enum otf_status sq_fail(struct sq *s, int rc, const char *what, const char *func, int line,
                               struct otf_errbuf *eb)
{
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        return otf_errbuf_set(eb, status_of(rc), func, line,
                              "%s: not an SQLite database or corrupt (%s)", s->path, msg);
    return otf_errbuf_set(eb, status_of(rc), func, line, "sqlite %s on %s: %s", what, s->path, msg);
}
#define SQ_FAIL(s, rc, what, eb) sq_fail((s), (rc), (what), __func__, __LINE__, (eb))

/* ---- statements ---- */

static enum otf_status prep(struct sq *s, enum stmt id, sqlite3_stmt **out, struct otf_errbuf *eb)
{
    if (!s->stmts[id]) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmts[id], NULL);
        if (rc != SQLITE_OK)
            return SQ_FAIL(s, rc, "prepare", eb);
    }
    *out = s->stmts[id];
    return OTF_OK;
}

/* Makes a cached statement ready for its next use. */
static void done(sqlite3_stmt *q)
{
    if (q) {
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
    }
}

static void bind_text(sqlite3_stmt *q, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i);
}

static char *col_dup(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? otf_xstrdup((const char *)t) : NULL;
}

/* Runs a statement that returns no row (or whose rows are ignored); resets it. */
static enum otf_status exec_stmt(struct sq *s, sqlite3_stmt *q, const char *what,
                                 struct otf_errbuf *eb)
{
    int rc;

    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        ;
    done(q);
    return rc == SQLITE_DONE ? OTF_OK : SQ_FAIL(s, rc, what, eb);
}

static enum otf_status exec_id(struct sq *s, enum stmt id, struct otf_errbuf *eb)
{
    sqlite3_stmt *q = NULL;
    enum otf_status rc = prep(s, id, &q, eb);
    return rc == OTF_OK ? exec_stmt(s, q, stmt_sql[id], eb) : rc;
}

/* ---- transactions ---- */

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* BEGIN with a few more tries once SQLite's busy handler has waited BUSY_TIMEOUT_MS. */
static enum otf_status tx_begin(struct sq *s, enum stmt begin, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;

    for (int attempt = 0; attempt <= BUSY_RETRIES; attempt++) {
        rc = exec_id(s, begin, eb);
        if (rc != OTF_E_BUSY)
            break;
        sleep_ms(10 << attempt);
    }
    if (rc == OTF_E_BUSY)
        otf_errbuf_prefix(eb, "store busy for %d s", BUSY_TIMEOUT_MS * (BUSY_RETRIES + 1) / 1000);
    return rc;
}

static void tx_rollback(struct sq *s)
{
    s->bumped = 0; /* a rolled-back bump changed nothing */
    if (!sqlite3_get_autocommit(s->db)) {
        struct otf_errbuf ignored = {0};
        /* A failed ROLLBACK leaves nothing to do but report the first error. */
        (void)exec_id(s, S_ROLLBACK, &ignored);
    }
}

/* The change bell: after a commit that bumped the counter, the -wal file's timestamps are set,
 * which inotify reports to the waiters of every process on this machine (sq_change_fd). The
 * commit's own writes to that file will not do: they come before the commit is visible, since
 * SQLite publishes it last, through shared memory, which inotify does not see. Best effort: a
 * waiter that misses it still polls the counter. */
static void ring_bell(struct sq *s)
{
#ifdef __linux__
    (void)utimensat(AT_FDCWD, s->wal_path, NULL, 0);
#else
    (void)s;
#endif
}

/* Commits when rc is OTF_OK, else rolls back (keeping rc and its message). */
static enum otf_status tx_end(struct sq *s, enum otf_status rc, struct otf_errbuf *eb)
{
    int bumped = s->bumped;

    s->bumped = 0;
    if (rc == OTF_OK) {
        /* A COMMIT answered BUSY leaves the transaction open and may be retried (SQLite
         * "COMMIT" docs); give up only after the retries. */
        for (int attempt = 0; attempt <= BUSY_RETRIES; attempt++) {
            rc = exec_id(s, S_COMMIT, eb);
            if (rc != OTF_E_BUSY)
                break;
            sleep_ms(10 << attempt);
        }
        if (rc == OTF_OK) {
            if (bumped)
                ring_bell(s);
            return OTF_OK;
        }
    }
    tx_rollback(s);
    return rc;
}

/* Runs `id` (S_BUMP_SEQ or S_GET_SEQ), which yields the change counter, into *seq. */
static enum otf_status seq_stmt(struct sq *s, enum stmt id, int64_t *seq, struct otf_errbuf *eb)
{
    sqlite3_stmt *q = NULL;
    enum otf_status rc = prep(s, id, &q, eb);
    int r;

    if (rc != OTF_OK)
        return rc;
    r = sqlite3_step(q);
    if (r == SQLITE_ROW) {
        *seq = sqlite3_column_int64(q, 0);
        s->bumped |= id == S_BUMP_SEQ;
    } else
        rc = r == SQLITE_DONE ? OTF_FAIL(eb, OTF_E_INTERNAL, "%s: meta.change_seq missing", s->path)
                              : SQ_FAIL(s, r, "change counter", eb);
    done(q);
    return rc;
}

/* Bumps the global change counter (inside a write transaction) and returns its new value. */
static enum otf_status bump_seq(struct sq *s, int64_t *seq, struct otf_errbuf *eb)
{
    return seq_stmt(s, S_BUMP_SEQ, seq, eb);
}

/* ---- rows <-> jobs ---- */

static struct otf_job *row_to_job(sqlite3_stmt *q)
{
    struct otf_job *j = otf_uws_job_new();
    const unsigned char *id = sqlite3_column_text(q, 0);
    int phase = sqlite3_column_int(q, 3);

    snprintf(j->id, sizeof j->id, "%s", id ? (const char *)id : "");
    j->run_id = col_dup(q, 1);
    j->owner = col_dup(q, 2);
    /* A phase written by a newer version reads as UNKNOWN rather than out of range. */
    j->phase = phase >= 0 && phase < OTF_PHASE__COUNT ? (enum otf_phase)phase : OTF_PHASE_UNKNOWN;
    j->creation_us = sqlite3_column_int64(q, 4);
    j->start_us = sqlite3_column_int64(q, 5);
    j->end_us = sqlite3_column_int64(q, 6);
    j->quote_us = sqlite3_column_int64(q, 7);
    j->exec_duration_s = sqlite3_column_int64(q, 8);
    j->destruction_us = sqlite3_column_int64(q, 9);
    j->error_summary = col_dup(q, 10);
    j->error_is_fatal = sqlite3_column_int(q, 11);
    j->patches_done = sqlite3_column_int64(q, 12);
    j->patches_total = sqlite3_column_int64(q, 13);
    j->stage = col_dup(q, 14);
    j->attempts = sqlite3_column_int(q, 15);
    j->upload_bytes = sqlite3_column_int64(q, 16);
    j->batch = col_dup(q, 17);
    return j;
}

/* Reads the parameters and results of `j` (inside the caller's transaction). */
static enum otf_status load_children(struct sq *s, struct otf_job *j, struct otf_errbuf *eb)
{
    sqlite3_stmt *q = NULL;
    enum otf_status rc;
    size_t cap = 0;
    int r;

    rc = prep(s, S_GET_PARAMS, &q, eb);
    if (rc != OTF_OK)
        goto out;
    sqlite3_bind_text(q, 1, j->id, -1, SQLITE_STATIC);
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        struct otf_param *p;
        if (j->n_params == cap) {
            cap = cap ? 2 * cap : 8;
            j->params = otf_xrealloc(j->params, cap * sizeof *j->params);
        }
        p = &j->params[j->n_params++];
        p->name = col_dup(q, 0);
        p->value = col_dup(q, 1);
        p->by_reference = sqlite3_column_int(q, 2);
        if (!p->name)
            p->name = otf_xstrdup("");
        if (!p->value)
            p->value = otf_xstrdup("");
    }
    done(q);
    q = NULL;
    if (r != SQLITE_DONE) {
        rc = SQ_FAIL(s, r, "read params", eb);
        goto out;
    }

    rc = prep(s, S_GET_RESULTS, &q, eb);
    if (rc != OTF_OK)
        goto out;
    sqlite3_bind_text(q, 1, j->id, -1, SQLITE_STATIC);
    cap = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        struct otf_result *res;
        if (j->n_results == cap) {
            cap = cap ? 2 * cap : 4;
            j->results = otf_xrealloc(j->results, cap * sizeof *j->results);
        }
        res = &j->results[j->n_results++];
        res->id = col_dup(q, 0);
        res->mime = col_dup(q, 1);
        res->size_bytes = sqlite3_column_int64(q, 2);
        if (!res->id)
            res->id = otf_xstrdup("");
    }
    done(q);
    q = NULL;
    if (r != SQLITE_DONE)
        rc = SQ_FAIL(s, r, "read results", eb);
out:
    done(q);
    return rc;
}

/* Reads one whole job (inside the caller's transaction). */
static enum otf_status load_job(struct sq *s, const char *id, struct otf_job **out,
                                struct otf_errbuf *eb)
{
    sqlite3_stmt *q = NULL;
    struct otf_job *j = NULL;
    enum otf_status rc;
    int r;

    rc = prep(s, S_GET_JOB, &q, eb);
    if (rc != OTF_OK)
        goto out;
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    r = sqlite3_step(q);
    if (r == SQLITE_ROW) {
        j = row_to_job(q);
    } else {
        rc = r == SQLITE_DONE ? OTF_FAIL(eb, OTF_E_NOTFOUND, "no job %s", id)
                              : SQ_FAIL(s, r, "read job", eb);
        goto out;
    }
    done(q);
    q = NULL;
    rc = load_children(s, j, eb);
    if (rc != OTF_OK)
        goto out;
    *out = j;
    j = NULL;
out:
    done(q);
    otf_uws_job_free(j);
    return rc;
}

/* Writes the parameters (and, with `with_results`, the results) of `j`. */
static enum otf_status insert_children(struct sq *s, const struct otf_job *j, int with_results,
                                       struct otf_errbuf *eb)
{
    sqlite3_stmt *q = NULL;
    enum otf_status rc;

    rc = prep(s, S_INSERT_PARAM, &q, eb);
    for (size_t i = 0; rc == OTF_OK && i < j->n_params; i++) {
        sqlite3_bind_text(q, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)i);
        bind_text(q, 3, j->params[i].name ? j->params[i].name : "");
        bind_text(q, 4, j->params[i].value ? j->params[i].value : "");
        sqlite3_bind_int(q, 5, j->params[i].by_reference ? 1 : 0);
        rc = exec_stmt(s, q, "insert param", eb);
    }
    if (rc != OTF_OK || !with_results)
        return rc;
    rc = prep(s, S_INSERT_RESULT, &q, eb);
    for (size_t i = 0; rc == OTF_OK && i < j->n_results; i++) {
        sqlite3_bind_text(q, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)i);
        bind_text(q, 3, j->results[i].id ? j->results[i].id : "");
        bind_text(q, 4, j->results[i].mime);
        sqlite3_bind_int64(q, 5, j->results[i].size_bytes);
        rc = exec_stmt(s, q, "insert result", eb);
    }
    return rc;
}

/* Phase and holder of a job (inside the caller's transaction); OTF_E_NOTFOUND if absent.
 * `worker` (may be NULL) receives a copy of worker_id, or NULL. */
static enum otf_status get_state(struct sq *s, const char *id, enum otf_phase *phase, char **worker,
                                 struct otf_errbuf *eb)
{
    sqlite3_stmt *q = NULL;
    enum otf_status rc = prep(s, S_GET_STATE, &q, eb);
    int r;

    if (rc != OTF_OK)
        return rc;
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    r = sqlite3_step(q);
    if (r == SQLITE_ROW) {
        int p = sqlite3_column_int(q, 0);
        *phase = p >= 0 && p < OTF_PHASE__COUNT ? (enum otf_phase)p : OTF_PHASE_UNKNOWN;
        if (worker)
            *worker = col_dup(q, 1);
    } else {
        rc = r == SQLITE_DONE ? OTF_FAIL(eb, OTF_E_NOTFOUND, "no job %s", id)
                              : SQ_FAIL(s, r, "read job phase", eb);
    }
    done(q);
    return rc;
}

/* ---- operations ---- */

static enum otf_status sq_insert_job(struct otf_store *st, const struct otf_job *j,
                                     struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    enum otf_status rc;
    int64_t seq = 0, now = otf_time_now_us();
    int r;

    rc = tx_begin(s, S_BEGIN_WRITE, eb);
    if (rc != OTF_OK)
        return rc;
    rc = bump_seq(s, &seq, eb);
    if (rc == OTF_OK)
        rc = prep(s, S_INSERT_JOB, &q, eb);
    if (rc != OTF_OK)
        goto out;
    sqlite3_bind_text(q, 1, j->id, -1, SQLITE_STATIC);
    bind_text(q, 2, j->run_id);
    bind_text(q, 3, j->owner);
    sqlite3_bind_int(q, 4, (int)j->phase);
    sqlite3_bind_int64(q, 5, j->creation_us ? j->creation_us : now);
    sqlite3_bind_int64(q, 6, j->start_us);
    sqlite3_bind_int64(q, 7, j->end_us);
    sqlite3_bind_int64(q, 8, j->quote_us);
    sqlite3_bind_int64(q, 9, j->exec_duration_s);
    sqlite3_bind_int64(q, 10, j->destruction_us);
    bind_text(q, 11, j->error_summary);
    sqlite3_bind_int(q, 12, j->error_is_fatal ? 1 : 0);
    sqlite3_bind_int64(q, 13, j->patches_done);
    sqlite3_bind_int64(q, 14, j->patches_total);
    bind_text(q, 15, j->stage);
    sqlite3_bind_int(q, 16, j->attempts);
    sqlite3_bind_int64(q, 17, j->upload_bytes);
    bind_text(q, 18, otf_uws_job_get_param(j, "model"));
    bind_text(q, 19, otf_store_job_precision(j));
    /* Created directly in QUEUED (PHASE=RUN in the creating POST): queued now. */
    sqlite3_bind_int64(q, 20, j->phase == OTF_PHASE_QUEUED ? now : 0);
    sqlite3_bind_int64(q, 21, seq);
    r = sqlite3_step(q);
    done(q);
    if (r != SQLITE_DONE) {
        if (r == SQLITE_CONSTRAINT_PRIMARYKEY || r == SQLITE_CONSTRAINT_UNIQUE)
            rc = OTF_FAIL(eb, OTF_E_STATE, "job %s already exists", j->id);
        else
            rc = SQ_FAIL(s, r, "insert job", eb);
        goto out;
    }
    rc = insert_children(s, j, 1, eb);
out:
    return tx_end(s, rc, eb);
}

static enum otf_status sq_get_job(struct otf_store *st, const char *id, struct otf_job **out,
                                  struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    enum otf_status rc = tx_begin(s, S_BEGIN_READ, eb);

    if (rc != OTF_OK)
        return rc;
    rc = load_job(s, id, out, eb);
    /* Nothing to commit; ending the read transaction lets the WAL be checkpointed. */
    return tx_end(s, rc, eb);
}

static enum otf_status sq_list_jobs(struct otf_store *st, const struct otf_store_filter *f,
                                    struct otf_job ***out, size_t *n_out, struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    struct otf_job **jobs = NULL;
    size_t n = 0, cap = 0;
    enum stmt id;
    int64_t limit = -1; /* SQLite: a negative LIMIT is no limit */
    enum otf_status rc;
    int r;

    if (f->last > 0)
        id = f->owner ? S_LIST_OWNER_DESC : S_LIST_ALL_DESC;
    else
        id = f->owner ? S_LIST_OWNER_ASC : S_LIST_ALL_ASC;
    if (f->last > 0)
        limit = f->last;
    if (f->limit > 0 && (limit < 0 || f->limit < limit))
        limit = f->limit;

    rc = tx_begin(s, S_BEGIN_READ, eb);
    if (rc != OTF_OK)
        return rc;
    rc = prep(s, id, &q, eb);
    if (rc != OTF_OK)
        goto out;
    if (f->owner)
        sqlite3_bind_text(q, 1, f->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, f->phase_mask ? f->phase_mask : PHASES_DEFAULT);
    sqlite3_bind_int64(q, 3, f->after_us);
    sqlite3_bind_int64(q, 4, limit);
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            jobs = otf_xrealloc(jobs, cap * sizeof *jobs);
        }
        jobs[n++] = row_to_job(q);
    }
    done(q);
    q = NULL;
    if (r != SQLITE_DONE) {
        rc = SQ_FAIL(s, r, "list jobs", eb);
        goto out;
    }
    for (size_t i = 0; rc == OTF_OK && i < n; i++)
        rc = load_children(s, jobs[i], eb);
out:
    done(q);
    rc = tx_end(s, rc, eb);
    if (rc != OTF_OK) {
        otf_uws_job_array_free(jobs, n);
        return rc;
    }
    if (!jobs)
        jobs = otf_xcalloc(1, sizeof *jobs); /* an empty list is still a new array */
    *out = jobs;
    *n_out = n;
    return OTF_OK;
}

static enum otf_status sq_count_jobs(struct otf_store *st, const char *owner, uint32_t phase_mask,
                                     int64_t *n_jobs, int64_t *n_bytes, struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    enum otf_status rc = prep(s, owner ? S_COUNT_OWNER : S_COUNT_ALL, &q, eb);
    int r;

    if (rc != OTF_OK)
        return rc;
    if (owner)
        sqlite3_bind_text(q, 1, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, phase_mask ? phase_mask : PHASES_DEFAULT);
    r = sqlite3_step(q);
    if (r == SQLITE_ROW) {
        if (n_jobs)
            *n_jobs = sqlite3_column_int64(q, 0);
        if (n_bytes)
            *n_bytes = sqlite3_column_int64(q, 1);
    } else {
        rc = SQ_FAIL(s, r, "count jobs", eb);
    }
    done(q);
    return rc;
}

static enum otf_status sq_update_job(struct otf_store *st, const struct otf_job *j,
                                     uint32_t phase_mask, struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    enum otf_phase phase = OTF_PHASE_PENDING;
    int64_t seq = 0;
    enum otf_status rc;

    rc = tx_begin(s, S_BEGIN_WRITE, eb);
    if (rc != OTF_OK)
        return rc;
    rc = get_state(s, j->id, &phase, NULL, eb);
    if (rc != OTF_OK)
        goto out;
    if (!(phase_mask & OTF_PHASE_BIT(phase))) {
        rc = OTF_FAIL(eb, OTF_E_STATE, "job %s is %s: it can no longer be changed", j->id,
                      otf_uws_phase_name(phase));
        goto out;
    }
    rc = bump_seq(s, &seq, eb);
    if (rc == OTF_OK)
        rc = prep(s, S_UPDATE_JOB, &q, eb);
    if (rc != OTF_OK)
        goto out;
    sqlite3_bind_text(q, 1, j->id, -1, SQLITE_STATIC);
    bind_text(q, 2, j->run_id);
    sqlite3_bind_int64(q, 3, j->exec_duration_s);
    sqlite3_bind_int64(q, 4, j->destruction_us);
    sqlite3_bind_int64(q, 5, j->upload_bytes);
    bind_text(q, 6, otf_uws_job_get_param(j, "model"));
    bind_text(q, 7, otf_store_job_precision(j));
    sqlite3_bind_int64(q, 8, seq);
    rc = exec_stmt(s, q, "update job", eb);
    if (rc == OTF_OK)
        rc = prep(s, S_DELETE_PARAMS, &q, eb);
    if (rc == OTF_OK) {
        sqlite3_bind_text(q, 1, j->id, -1, SQLITE_STATIC);
        rc = exec_stmt(s, q, "delete params", eb);
    }
    if (rc == OTF_OK)
        rc = insert_children(s, j, 0, eb);
out:
    return tx_end(s, rc, eb);
}

static int phase_is_final(enum otf_phase p)
{
    return p == OTF_PHASE_COMPLETED || p == OTF_PHASE_ERROR || p == OTF_PHASE_ABORTED ||
           p == OTF_PHASE_ARCHIVED;
}

static enum otf_status sq_set_phase(struct otf_store *st, const char *id, uint32_t from_mask,
                                    enum otf_phase to, const char *error, enum otf_phase *old_phase,
                                    struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    enum otf_phase phase = OTF_PHASE_PENDING;
    int64_t seq = 0;
    enum otf_status rc;

    rc = tx_begin(s, S_BEGIN_WRITE, eb);
    if (rc != OTF_OK)
        return rc;
    rc = get_state(s, id, &phase, NULL, eb);
    if (rc != OTF_OK)
        goto out;
    if (!(from_mask & OTF_PHASE_BIT(phase))) {
        rc = OTF_FAIL(eb, OTF_E_STATE, "job %s is %s: cannot move it to %s", id,
                      otf_uws_phase_name(phase), otf_uws_phase_name(to));
        goto out;
    }
    rc = bump_seq(s, &seq, eb);
    if (rc == OTF_OK)
        rc = prep(s, S_SET_PHASE, &q, eb);
    if (rc != OTF_OK)
        goto out;
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, (int)phase);
    sqlite3_bind_int(q, 3, (int)to);
    sqlite3_bind_int64(q, 4, otf_time_now_us());
    bind_text(q, 5, error);
    sqlite3_bind_int64(q, 6, seq);
    rc = exec_stmt(s, q, "set phase", eb);
out:
    rc = tx_end(s, rc, eb);
    /* The statement's CASE list of final phases must agree with the UWS module. */
    OTF_ASSERT(phase_is_final(to) == (otf_uws_phase_is_final(to) != 0));
    if (rc == OTF_OK && old_phase)
        *old_phase = phase;
    return rc;
}

static enum otf_status sq_delete_job(struct otf_store *st, const char *id, struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    int64_t seq = 0;
    enum otf_status rc;

    rc = tx_begin(s, S_BEGIN_WRITE, eb);
    if (rc != OTF_OK)
        return rc;
    rc = prep(s, S_DELETE_JOB, &q, eb);
    if (rc != OTF_OK)
        goto out;
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    rc = exec_stmt(s, q, "delete job", eb);
    if (rc != OTF_OK)
        goto out;
    if (sqlite3_changes(s->db) == 0) {
        rc = OTF_FAIL(eb, OTF_E_NOTFOUND, "no job %s", id);
        goto out;
    }
    rc = bump_seq(s, &seq, eb);
out:
    return tx_end(s, rc, eb);
}

/* Picks the claim key when the caller gave none (or only a model): the key of the oldest
 * queued job. *found = 0 when nothing is queued. Strings are new copies. */
static enum otf_status oldest_key(struct sq *s, const char *model, char **model_out,
                                  char **precision_out, int *found, struct otf_errbuf *eb)
{
    sqlite3_stmt *q = NULL;
    enum otf_status rc = prep(s, model ? S_OLDEST_KEY_OF_MODEL : S_OLDEST_KEY, &q, eb);
    int r;

    if (rc != OTF_OK)
        return rc;
    if (model)
        sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
    r = sqlite3_step(q);
    *found = r == SQLITE_ROW;
    if (r == SQLITE_ROW) {
        *model_out = model ? otf_xstrdup(model) : col_dup(q, 0);
        *precision_out = col_dup(q, model ? 0 : 1);
    } else if (r != SQLITE_DONE) {
        rc = SQ_FAIL(s, r, "oldest queued key", eb);
    }
    done(q);
    return rc;
}

/* Inside an open write transaction: claims the QUEUED jobs among ids[0..n) (others skipped),
 * loading each claimed job. *out is a new array (never NULL). */
static enum otf_status claim_in_tx(struct sq *s, const char *worker_id, const char *batch,
                                   const char *const *ids, size_t n, int64_t lease_ms,
                                   struct otf_job ***out, size_t *n_out, struct otf_errbuf *eb)
{
    sqlite3_stmt *q = NULL;
    struct otf_job **jobs = otf_xcalloc(n ? n : 1, sizeof *jobs);
    size_t k = 0;
    int64_t seq = 0, now = otf_time_now_us();
    enum otf_status rc = bump_seq(s, &seq, eb);

    for (size_t i = 0; rc == OTF_OK && i < n; i++) {
        rc = prep(s, S_CLAIM_ONE, &q, eb);
        if (rc != OTF_OK)
            break;
        sqlite3_bind_text(q, 1, ids[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, worker_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, now + lease_ms * 1000);
        sqlite3_bind_int64(q, 4, now);
        sqlite3_bind_int64(q, 5, seq);
        if (batch)
            sqlite3_bind_text(q, 6, batch, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 6);
        rc = exec_stmt(s, q, "claim job", eb);
        if (rc == OTF_OK && sqlite3_changes(s->db) == 1)
            rc = load_job(s, ids[i], &jobs[k++], eb);
    }
    if (rc != OTF_OK) {
        otf_uws_job_array_free(jobs, k);
        return rc;
    }
    *out = jobs;
    *n_out = k;
    return OTF_OK;
}

static enum otf_status sq_claim_jobs(struct otf_store *st, const char *worker_id, const char *model,
                                     const char *precision, int max_jobs, int64_t lease_ms,
                                     struct otf_job ***out, size_t *n_out, struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    char *key_model = NULL, *key_prec = NULL;
    char **ids = NULL;
    struct otf_job **jobs = NULL;
    size_t n = 0, n_jobs = 0;
    enum otf_status rc;
    int r = SQLITE_DONE, found = 1;

    /* The whole claim is one write transaction: no other handle, thread or process can take
     * the same job between the SELECT and the UPDATE (the write lock is held from BEGIN). */
    rc = tx_begin(s, S_BEGIN_WRITE, eb);
    if (rc != OTF_OK)
        return rc;
    if (model && precision) {
        key_model = otf_xstrdup(model);
        key_prec = otf_xstrdup(otf_store_precision_key(precision));
    } else {
        rc = oldest_key(s, model, &key_model, &key_prec, &found, eb);
        if (rc != OTF_OK || !found)
            goto out;
    }
    rc = prep(s, S_CLAIMABLE, &q, eb);
    if (rc != OTF_OK)
        goto out;
    bind_text(q, 1, key_model);
    bind_text(q, 2, key_prec);
    sqlite3_bind_int(q, 3, max_jobs);
    ids = otf_xcalloc((size_t)max_jobs, sizeof *ids);
    while (n < (size_t)max_jobs && (r = sqlite3_step(q)) == SQLITE_ROW)
        ids[n++] = col_dup(q, 0);
    done(q);
    q = NULL;
    if (n < (size_t)max_jobs && r != SQLITE_DONE) {
        rc = SQ_FAIL(s, r, "select queued jobs", eb);
        goto out;
    }
    if (n == 0)
        goto out;
    rc = claim_in_tx(s, worker_id, NULL, (const char *const *)ids, n, lease_ms, &jobs, &n_jobs, eb);
out:
    done(q);
    rc = tx_end(s, rc, eb);
    otf_store_ids_free(ids, n);
    free(key_model);
    free(key_prec);
    if (rc != OTF_OK) {
        otf_uws_job_array_free(jobs, n_jobs);
        return rc;
    }
    if (!jobs)
        jobs = otf_xcalloc(1, sizeof *jobs);
    *out = jobs;
    *n_out = n_jobs;
    return OTF_OK;
}

static enum otf_status sq_claim_job_ids(struct otf_store *st, const char *worker_id,
                                        const char *batch, const char *const *ids, size_t n,
                                        int64_t lease_ms, struct otf_job ***out, size_t *n_out,
                                        struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    enum otf_status rc = tx_begin(s, S_BEGIN_WRITE, eb);
    struct otf_job **jobs = NULL;
    size_t n_jobs = 0;

    if (rc != OTF_OK)
        return rc;
    rc = claim_in_tx(s, worker_id, batch, ids, n, lease_ms, &jobs, &n_jobs, eb);
    rc = tx_end(s, rc, eb);
    if (rc != OTF_OK) {
        otf_uws_job_array_free(jobs, n_jobs);
        return rc;
    }
    *out = jobs;
    *n_out = n_jobs;
    return OTF_OK;
}

static enum otf_status sq_release_worker(struct otf_store *st, const char *worker_id,
                                         int max_attempts, const char *error, int64_t *n_requeued,
                                         int64_t *n_failed, struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    int64_t seq = 0, requeued = 0, failed = 0;
    enum otf_status rc = tx_begin(s, S_BEGIN_WRITE, eb);

    if (rc != OTF_OK)
        return rc;
    rc = bump_seq(s, &seq, eb);
    if (rc == OTF_OK)
        rc = prep(s, S_REQUEUE_WORKER, &q, eb);
    if (rc == OTF_OK) {
        sqlite3_bind_text(q, 1, worker_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, max_attempts);
        sqlite3_bind_int64(q, 3, seq);
        rc = exec_stmt(s, q, "requeue worker jobs", eb);
        requeued = sqlite3_changes(s->db);
    }
    if (rc == OTF_OK)
        rc = prep(s, S_FAIL_WORKER, &q, eb);
    if (rc == OTF_OK) {
        sqlite3_bind_text(q, 1, worker_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, otf_time_now_us());
        sqlite3_bind_text(q, 3, error, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, seq);
        rc = exec_stmt(s, q, "fail worker jobs", eb);
        failed = sqlite3_changes(s->db);
    }
    if (rc == OTF_OK && requeued + failed == 0)
        tx_rollback(s); /* nothing held: no counter bump, no fsync */
    else
        rc = tx_end(s, rc, eb);
    if (rc == OTF_OK) {
        if (n_requeued)
            *n_requeued = requeued;
        if (n_failed)
            *n_failed = failed;
    }
    return rc;
}

static enum otf_status sq_renew_lease(struct otf_store *st, const char *worker_id, int64_t lease_ms,
                                      struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    enum otf_status rc;

    /* A lease renewal is not a change a client can see: the change counter stays put, so
     * blocked WAIT requests do not wake up for it. */
    rc = tx_begin(s, S_BEGIN_WRITE, eb);
    if (rc != OTF_OK)
        return rc;
    rc = prep(s, S_RENEW, &q, eb);
    if (rc == OTF_OK) {
        sqlite3_bind_text(q, 1, worker_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, otf_time_now_us() + lease_ms * 1000);
        rc = exec_stmt(s, q, "renew lease", eb);
    }
    return tx_end(s, rc, eb);
}

static enum otf_status exec_sql(struct sq *s, const char *sql, const char *what,
                                struct otf_errbuf *eb);

static enum otf_status sq_set_progress(struct otf_store *st, const char *id, int64_t patches_done,
                                       int64_t patches_total, const char *stage,
                                       struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    enum otf_phase phase = OTF_PHASE_PENDING;
    int64_t seq = 0;
    enum otf_status rc;

    /* Progress is advisory and rewritten every few hundred ms: its commit is not fsynced
     * (synchronous=NORMAL in WAL mode survives a process crash; a power failure may lose the
     * last update, which the next one or the job's end replaces). Every other write stays
     * FULL. */
    if (exec_sql(s, "PRAGMA synchronous = NORMAL", "relax sync", eb) != OTF_OK)
        return OTF_E_IO;
    rc = tx_begin(s, S_BEGIN_WRITE, eb);
    if (rc == OTF_OK) {
        rc = get_state(s, id, &phase, NULL, eb);
        if (rc == OTF_OK && phase != OTF_PHASE_EXECUTING)
            rc = OTF_FAIL(eb, OTF_E_STATE, "job %s is %s, not EXECUTING", id,
                          otf_uws_phase_name(phase));
        if (rc == OTF_OK)
            rc = bump_seq(s, &seq, eb);
        if (rc == OTF_OK)
            rc = prep(s, S_PROGRESS, &q, eb);
        if (rc == OTF_OK) {
            sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 2, patches_done);
            sqlite3_bind_int64(q, 3, patches_total);
            bind_text(q, 4, stage);
            sqlite3_bind_int64(q, 5, seq);
            rc = exec_stmt(s, q, "set progress", eb);
        }
        /* Nor does it ring the change bell: nobody waits for progress (WAIT waits for a phase,
         * an idle worker for a queued job), and running jobs write it several times a second.
         * The counter still moves for those who read it. */
        s->bumped = 0;
        rc = tx_end(s, rc, eb);
    }
    {
        struct otf_errbuf eb2 = {0};
        if (exec_sql(s, "PRAGMA synchronous = FULL", "restore sync", &eb2) != OTF_OK &&
            rc == OTF_OK)
            rc = OTF_FAIL(eb, OTF_E_IO, "%s", eb2.msg);
    }
    return rc;
}

static enum otf_status sq_finish_job(struct otf_store *st, const char *worker_id,
                                     const struct otf_job *j, enum otf_phase to,
                                     struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    enum otf_phase phase = OTF_PHASE_PENDING;
    char *holder = NULL;
    const char *error = NULL;
    int64_t seq = 0;
    enum otf_status rc;

    if (to == OTF_PHASE_ERROR)
        error = j->error_summary ? j->error_summary : "the job failed (no detail was recorded)";
    rc = tx_begin(s, S_BEGIN_WRITE, eb);
    if (rc != OTF_OK)
        return rc;
    rc = get_state(s, j->id, &phase, &holder, eb);
    if (rc != OTF_OK)
        goto out;
    if (phase != OTF_PHASE_EXECUTING) {
        rc = OTF_FAIL(eb, OTF_E_STATE, "job %s is %s, no longer EXECUTING", j->id,
                      otf_uws_phase_name(phase));
        goto out;
    }
    if (!holder || strcmp(holder, worker_id) != 0) {
        rc = OTF_FAIL(eb, OTF_E_STATE, "job %s is held by worker %s, not %s", j->id,
                      holder ? holder : "(none)", worker_id);
        goto out;
    }
    rc = bump_seq(s, &seq, eb);
    if (rc == OTF_OK)
        rc = prep(s, S_FINISH, &q, eb);
    if (rc != OTF_OK)
        goto out;
    sqlite3_bind_text(q, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, worker_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, (int)to);
    sqlite3_bind_int64(q, 4, otf_time_now_us());
    bind_text(q, 5, error);
    sqlite3_bind_int(q, 6, error && j->error_is_fatal ? 1 : 0);
    sqlite3_bind_int64(q, 7, seq);
    rc = exec_stmt(s, q, "finish job", eb);
    if (rc == OTF_OK)
        rc = prep(s, S_DELETE_RESULTS, &q, eb);
    if (rc == OTF_OK) {
        sqlite3_bind_text(q, 1, j->id, -1, SQLITE_STATIC);
        rc = exec_stmt(s, q, "delete results", eb);
    }
    if (rc != OTF_OK)
        goto out;
    /* Only the results: the parameters are the client's and stay as they are. */
    {
        struct otf_job only_results = {0};
        memcpy(only_results.id, j->id, sizeof only_results.id);
        only_results.results = j->results;
        only_results.n_results = j->n_results;
        rc = insert_children(s, &only_results, 1, eb);
    }
out:
    free(holder);
    return tx_end(s, rc, eb);
}

static enum otf_status sq_recover_expired(struct otf_store *st, int max_attempts, const char *error,
                                          int64_t *n_requeued, int64_t *n_failed,
                                          struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    int64_t seq = 0, now = otf_time_now_us(), requeued = 0, failed = 0;
    char *msg = NULL;
    enum otf_status rc;

    if (!error)
        error = msg = otf_xasprintf("the worker running this job stopped answering "
                                    "(lease expired) after %d attempt%s",
                                    max_attempts, max_attempts == 1 ? "" : "s");
    rc = tx_begin(s, S_BEGIN_WRITE, eb);
    if (rc != OTF_OK)
        goto out_free;
    /* The counter is bumped first and rolled back with everything else if nothing expired, so
     * an idle reaper pass costs no fsync: a write transaction with no change writes nothing. */
    rc = bump_seq(s, &seq, eb);
    if (rc == OTF_OK)
        rc = prep(s, S_REQUEUE_EXPIRED, &q, eb);
    if (rc == OTF_OK) {
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_int(q, 2, max_attempts);
        sqlite3_bind_int64(q, 3, seq);
        rc = exec_stmt(s, q, "requeue expired", eb);
        requeued = sqlite3_changes(s->db);
    }
    if (rc == OTF_OK)
        rc = prep(s, S_FAIL_EXPIRED, &q, eb);
    if (rc == OTF_OK) {
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_text(q, 2, error, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, seq);
        rc = exec_stmt(s, q, "fail expired", eb);
        failed = sqlite3_changes(s->db);
    }
    if (rc == OTF_OK && requeued + failed == 0)
        tx_rollback(s); /* nothing expired: drop the counter bump */
    else
        rc = tx_end(s, rc, eb);
    if (rc == OTF_OK) {
        if (requeued + failed > 0)
            otf_log_info("store", "recovered expired leases requeued=%lld failed=%lld",
                         (long long)requeued, (long long)failed);
        if (n_requeued)
            *n_requeued = requeued;
        if (n_failed)
            *n_failed = failed;
    }
out_free:
    free(msg);
    return rc;
}

static enum otf_status sq_queue_summary(struct otf_store *st, struct otf_store_queue **out,
                                        size_t *n_out, struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    struct otf_store_queue *v = NULL;
    size_t n = 0, cap = 0;
    enum otf_status rc = prep(s, S_QUEUE_SUMMARY, &q, eb);
    int r;

    if (rc != OTF_OK)
        return rc;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            v = otf_xrealloc(v, cap * sizeof *v);
        }
        v[n].model = col_dup(q, 0);
        v[n].precision = col_dup(q, 1);
        v[n].n_jobs = sqlite3_column_int64(q, 2);
        v[n].oldest_queued_us = sqlite3_column_int64(q, 3);
        n++;
    }
    done(q);
    if (r != SQLITE_DONE) {
        otf_store_queue_free(v, n);
        return SQ_FAIL(s, r, "queue summary", eb);
    }
    if (!v)
        v = otf_xcalloc(1, sizeof *v);
    *out = v;
    *n_out = n;
    return OTF_OK;
}

/* Runs an id-list query (?1 = now_us, ?2 = limit). */
static enum otf_status list_ids(struct sq *s, enum stmt id, int64_t now_us, size_t max, char ***out,
                                size_t *n_out, struct otf_errbuf *eb)
{
    sqlite3_stmt *q = NULL;
    char **ids = NULL;
    size_t n = 0, cap = 0;
    enum otf_status rc = prep(s, id, &q, eb);
    int r;

    if (rc != OTF_OK)
        return rc;
    sqlite3_bind_int64(q, 1, now_us);
    sqlite3_bind_int64(q, 2, max > 0 && max < INT64_MAX ? (sqlite3_int64)max : -1);
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            ids = otf_xrealloc(ids, cap * sizeof *ids);
        }
        ids[n++] = col_dup(q, 0);
    }
    done(q);
    if (r != SQLITE_DONE) {
        otf_store_ids_free(ids, n);
        return SQ_FAIL(s, r, "list ids", eb);
    }
    if (!ids)
        ids = otf_xcalloc(1, sizeof *ids);
    *out = ids;
    *n_out = n;
    return OTF_OK;
}

static enum otf_status sq_list_destroyable(struct otf_store *st, int64_t now_us, size_t max,
                                           char ***out, size_t *n_out, struct otf_errbuf *eb)
{
    return list_ids(sq_of(st), S_DESTROYABLE, now_us, max, out, n_out, eb);
}

static enum otf_status sq_list_overdue(struct otf_store *st, int64_t now_us, size_t max,
                                       char ***out, size_t *n_out, struct otf_errbuf *eb)
{
    return list_ids(sq_of(st), S_OVERDUE, now_us, max, out, n_out, eb);
}

static enum otf_status sq_get_phases(struct otf_store *st, const char *const *ids, size_t n,
                                     int *phases, struct otf_errbuf *eb)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *q = NULL;
    enum otf_status rc = tx_begin(s, S_BEGIN_READ, eb);

    if (rc != OTF_OK)
        return rc;
    rc = prep(s, S_GET_PHASE, &q, eb);
    for (size_t i = 0; i < n && rc == OTF_OK; i++) {
        int r;
        sqlite3_bind_text(q, 1, ids[i], -1, SQLITE_STATIC);
        r = sqlite3_step(q);
        if (r == SQLITE_ROW)
            phases[i] = sqlite3_column_int(q, 0);
        else if (r == SQLITE_DONE)
            phases[i] = -1;
        else
            rc = SQ_FAIL(s, r, "read phases", eb);
        done(q);
    }
    return tx_end(s, rc, eb);
}

static enum otf_status sq_change_seq(struct otf_store *st, int64_t *seq, struct otf_errbuf *eb)
{
    return seq_stmt(sq_of(st), S_GET_SEQ, seq, eb);
}

/* Rung by every commit that changes a job, whichever process makes it (ring_bell): inotify on
 * the database's folder (not on the -wal file, which comes and goes with the connections) for
 * attribute changes wakes a waiter at once. Made on first use; without inotify (another system,
 * or its per-user limit of instances reached) the waiters poll, as they do for changes made on
 * other machines. */
static int sq_change_fd(struct otf_store *st)
{
    struct sq *s = sq_of(st);

    if (s->change_fd_tried)
        return s->change_fd;
    s->change_fd_tried = 1;
#ifdef __linux__
    if (strcmp(s->path, ":memory:") != 0 && strncmp(s->path, "file:", 5) != 0) {
        char *copy = otf_xstrdup(s->path);
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd >= 0 && inotify_add_watch(fd, dirname(copy), IN_ATTRIB) < 0) {
            close(fd);
            fd = -1;
        }
        if (fd < 0)
            otf_log_debug("store", "%s: no change notification (%s): polling", s->path,
                          strerror(errno));
        s->change_fd = fd;
        free(copy);
    }
#endif
    return s->change_fd;
}

static void sq_close(struct otf_store *st)
{
    struct sq *s = sq_of(st);

    for (int i = 0; i < S__COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    /* Every statement is finalized above, so close cannot fail with SQLITE_BUSY. */
    sqlite3_close(s->db);
    if (s->change_fd >= 0)
        close(s->change_fd);
    free(s->wal_path);
    free(s->path);
    free(s);
}

static const struct otf_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .insert_job = sq_insert_job,
    .get_job = sq_get_job,
    .list_jobs = sq_list_jobs,
    .count_jobs = sq_count_jobs,
    .update_job = sq_update_job,
    .set_phase = sq_set_phase,
    .delete_job = sq_delete_job,
    .claim_jobs = sq_claim_jobs,
    .claim_job_ids = sq_claim_job_ids,
    .release_worker = sq_release_worker,
    .renew_lease = sq_renew_lease,
    .set_progress = sq_set_progress,
    .finish_job = sq_finish_job,
    .recover_expired = sq_recover_expired,
    .queue_summary = sq_queue_summary,
    .list_destroyable = sq_list_destroyable,
    .list_overdue = sq_list_overdue,
    .get_phases = sq_get_phases,
    .change_seq = sq_change_seq,
    .wait_change = NULL, /* store.c polls the counter, woken early by change_fd */
    .change_fd = sq_change_fd,
};

/* ---- open and migrate ---- */

static enum otf_status exec_sql(struct sq *s, const char *sql, const char *what,
                                struct otf_errbuf *eb)
{
    char *err = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);

    if (rc != SQLITE_OK) {
        enum otf_status st = SQ_FAIL(s, rc, what, eb);
        sqlite3_free(err);
        return st;
    }
    return OTF_OK;
}

/* PRAGMA application_id of an OTF store: "OTF:" (set by migration 001). */
#define OTF_APPLICATION_ID 0x4f54463a

/* Runs a query that yields one integer. */
static enum otf_status query_int(struct sq *s, const char *sql, int64_t *v, struct otf_errbuf *eb)
{
    sqlite3_stmt *q = NULL;
    int r = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL);

    if (r == SQLITE_OK)
        r = sqlite3_step(q);
    if (r == SQLITE_ROW)
        *v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return r == SQLITE_ROW ? OTF_OK : SQ_FAIL(s, r, sql, eb);
}

static enum otf_status user_version(struct sq *s, int *version, struct otf_errbuf *eb)
{
    int64_t v = 0;
    enum otf_status rc = query_int(s, "PRAGMA user_version", &v, eb);

    if (rc == OTF_OK)
        *version = (int)v;
    return rc;
}

/* Refuses an SQLite database that belongs to something else, rather than adding our tables to
 * it: a new store is either empty or carries our application_id. */
static enum otf_status check_owner(struct sq *s, int version, struct otf_errbuf *eb)
{
    int64_t app_id = 0, n_objects = 0;
    enum otf_status rc = query_int(s, "PRAGMA application_id", &app_id, eb);

    if (rc != OTF_OK)
        return rc;
    if (version == 0 && app_id == 0) {
        rc = query_int(s, "SELECT count(*) FROM sqlite_schema", &n_objects, eb);
        if (rc == OTF_OK && n_objects > 0)
            rc = OTF_FAIL(eb, OTF_E_FORMAT,
                          "%s: an SQLite database of another application (it has tables but no "
                          "OTF schema)",
                          s->path);
        return rc;
    }
    if (app_id != OTF_APPLICATION_ID)
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "%s: an SQLite database of another application (application_id %lld)",
                        s->path, (long long)app_id);
    return OTF_OK;
}

/* Brings the schema to the newest embedded migration, one transaction per migration; the
 * version is re-read under the write lock so that two processes opening a new file at the same
 * time apply each migration once. */
static enum otf_status migrate(struct sq *s, struct otf_errbuf *eb)
{
    int latest = (int)otf_store_sqlite_n_migrations, version = 0;
    enum otf_status rc = user_version(s, &version, eb);

    if (rc == OTF_OK)
        rc = check_owner(s, version, eb);
    if (rc != OTF_OK)
        return rc;
    if (version > latest)
        return OTF_FAIL(eb, OTF_E_STATE,
                        "%s: schema version %d is newer than this program's (%d): upgrade otf",
                        s->path, version, latest);
    while (rc == OTF_OK && version < latest) {
        const struct otf_store_migration *m = &otf_store_sqlite_migrations[version];
        char *bump = NULL;

        OTF_ASSERT(m->version == version + 1);
        rc = tx_begin(s, S_BEGIN_WRITE, eb);
        if (rc != OTF_OK)
            break;
        rc = user_version(s, &version, eb);
        if (rc == OTF_OK && version == m->version - 1) {
            rc = exec_sql(s, m->sql, m->name, eb);
            bump = otf_xasprintf("PRAGMA user_version = %d", m->version);
            if (rc == OTF_OK)
                rc = exec_sql(s, bump, "set schema version", eb);
            if (rc == OTF_OK) {
                otf_log_info("store", "applied migration %s to %s", m->name, s->path);
                version = m->version;
            }
        }
        free(bump);
        rc = tx_end(s, rc, eb);
    }
    return rc;
}

enum otf_status otf_store_sqlite_open(const char *path, struct otf_store **out,
                                      struct otf_errbuf *eb)
{
    struct sq *s = otf_xcalloc(1, sizeof *s);
    sqlite3_stmt *q = NULL;
    enum otf_status rc = OTF_OK;
    int r;

    s->base.ops = &sqlite_ops;
    s->path = otf_xstrdup(path);
    s->wal_path = otf_xasprintf("%s-wal", path);
    s->change_fd = -1;
    /* NOMUTEX: a handle belongs to one thread (store.h), so SQLite's own locking is not
     * needed; EXRESCODE: extended codes tell a duplicate id from other constraint failures. */
    r = sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                            SQLITE_OPEN_EXRESCODE,
                        NULL);
    if (r != SQLITE_OK) {
        rc = SQ_FAIL(s, r, "open", eb);
        goto out;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* The first statement reads the file header: a file that is not a database fails here
     * with SQLITE_NOTADB. WAL lets readers run during a write; it is persistent in the file. */
    r = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
    if (r == SQLITE_OK)
        r = sqlite3_step(q);
    if (r == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(q, 0);
        if (!mode || strcmp((const char *)mode, "wal") != 0)
            rc = OTF_FAIL(eb, OTF_E_BACKEND, "%s: cannot switch to WAL mode (got %s)", path,
                          mode ? (const char *)mode : "nothing");
    } else {
        rc = SQ_FAIL(s, r, "set WAL mode", eb);
    }
    sqlite3_finalize(q);
    if (rc != OTF_OK)
        goto out;
    /* synchronous=FULL in WAL mode fsyncs the WAL at every commit: a job accepted (303) is on
     * disk and survives power loss, not only a process crash. */
    rc = exec_sql(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", "set pragmas", eb);
    if (rc == OTF_OK)
        rc = migrate(s, eb);
out:
    if (rc != OTF_OK) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return OTF_OK;
}
