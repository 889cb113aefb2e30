/* The store registry: parses a store URL, opens the matching implementation and forwards every
 * public call through its vtable. Only this file knows which implementations exist (STYLE §2). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

/* Poll period of the generic wait_change fallback, ms: short enough for WAIT to feel immediate,
 * long enough that a waiting client costs nothing measurable. */
#define WAIT_POLL_MS 20

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum otf_status otf_store_open(const char *url, struct otf_store **out, struct otf_errbuf *eb)
{
    const char *path = NULL;

    OTF_ASSERT(url && out);
    if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://"))
        return OTF_FAIL(eb, OTF_E_INVAL, "PostgreSQL store not built in this version");
    if (has_prefix(url, "sqlite:")) {
        path = url + strlen("sqlite:");
        /* "sqlite:///abs/file.db" is the usual URL spelling of "sqlite:/abs/file.db". */
        if (has_prefix(path, "//"))
            path += 2;
    } else if (has_suffix(url, ".db") && !strstr(url, "://")) {
        path = url;
    } else {
        return OTF_FAIL(eb, OTF_E_INVAL,
                        "unknown store URL \"%s\": expected sqlite:PATH or a path ending in .db",
                        url);
    }
    if (path[0] == '\0')
        return OTF_FAIL(eb, OTF_E_INVAL, "store URL \"%s\" has an empty path", url);
    return otf_store_sqlite_open(path, out, eb);
}

void otf_store_close(struct otf_store *st)
{
    if (st)
        st->ops->close(st);
}

enum otf_status otf_store_insert_job(struct otf_store *st, const struct otf_job *j,
                                     struct otf_errbuf *eb)
{
    OTF_ASSERT(st && j);
    if (j->id[0] == '\0')
        return OTF_FAIL(eb, OTF_E_INVAL, "job has no id");
    return st->ops->insert_job(st, j, eb);
}

enum otf_status otf_store_get_job(struct otf_store *st, const char *id, struct otf_job **out,
                                  struct otf_errbuf *eb)
{
    OTF_ASSERT(st && id && out);
    return st->ops->get_job(st, id, out, eb);
}

enum otf_status otf_store_list_jobs(struct otf_store *st, const struct otf_store_filter *f,
                                    struct otf_job ***out, size_t *n_out, struct otf_errbuf *eb)
{
    static const struct otf_store_filter all = {0};

    OTF_ASSERT(st && out && n_out);
    if (f && (f->last < 0 || f->limit < 0 || f->after_us < 0))
        return OTF_FAIL(eb, OTF_E_INVAL, "negative job-list filter value");
    return st->ops->list_jobs(st, f ? f : &all, out, n_out, eb);
}

enum otf_status otf_store_count_jobs(struct otf_store *st, const char *owner, uint32_t phase_mask,
                                     int64_t *n_jobs, int64_t *n_bytes, struct otf_errbuf *eb)
{
    OTF_ASSERT(st);
    return st->ops->count_jobs(st, owner, phase_mask, n_jobs, n_bytes, eb);
}

enum otf_status otf_store_update_job(struct otf_store *st, const struct otf_job *j,
                                     uint32_t phase_mask, struct otf_errbuf *eb)
{
    OTF_ASSERT(st && j);
    return st->ops->update_job(st, j, phase_mask, eb);
}

enum otf_status otf_store_set_phase(struct otf_store *st, const char *id, uint32_t from_mask,
                                    enum otf_phase to, const char *error, enum otf_phase *old_phase,
                                    struct otf_errbuf *eb)
{
    OTF_ASSERT(st && id);
    if ((unsigned)to >= OTF_PHASE__COUNT)
        return OTF_FAIL(eb, OTF_E_INVAL, "invalid phase %d", (int)to);
    return st->ops->set_phase(st, id, from_mask, to, error, old_phase, eb);
}

enum otf_status otf_store_delete_job(struct otf_store *st, const char *id, struct otf_errbuf *eb)
{
    OTF_ASSERT(st && id);
    return st->ops->delete_job(st, id, eb);
}

enum otf_status otf_store_claim_jobs(struct otf_store *st, const char *worker_id, const char *model,
                                     const char *precision, int max_jobs, int64_t lease_ms,
                                     struct otf_job ***out, size_t *n_out, struct otf_errbuf *eb)
{
    OTF_ASSERT(st && worker_id && out && n_out);
    if (max_jobs < 1 || lease_ms < 1)
        return OTF_FAIL(eb, OTF_E_INVAL, "claim needs max_jobs >= 1 and lease_ms >= 1 (%d, %lld)",
                        max_jobs, (long long)lease_ms);
    if (!model && precision)
        return OTF_FAIL(eb, OTF_E_INVAL, "claim by precision needs a model");
    return st->ops->claim_jobs(st, worker_id, model, precision, max_jobs, lease_ms, out, n_out, eb);
}

enum otf_status otf_store_claim_job_ids(struct otf_store *st, const char *worker_id,
                                        const char *batch, const char *const *ids, size_t n,
                                        int64_t lease_ms, struct otf_job ***out, size_t *n_out,
                                        struct otf_errbuf *eb)
{
    OTF_ASSERT(st && worker_id && out && n_out && (ids || n == 0));
    if (lease_ms < 1)
        return OTF_FAIL(eb, OTF_E_INVAL, "claim needs lease_ms >= 1");
    return st->ops->claim_job_ids(st, worker_id, batch, ids, n, lease_ms, out, n_out, eb);
}

enum otf_status otf_store_release_worker(struct otf_store *st, const char *worker_id,
                                         int max_attempts, const char *error, int64_t *n_requeued,
                                         int64_t *n_failed, struct otf_errbuf *eb)
{
    OTF_ASSERT(st && worker_id && error);
    if (max_attempts < 1)
        return OTF_FAIL(eb, OTF_E_INVAL, "max_attempts must be >= 1");
    return st->ops->release_worker(st, worker_id, max_attempts, error, n_requeued, n_failed, eb);
}

enum otf_status otf_store_renew_lease(struct otf_store *st, const char *worker_id, int64_t lease_ms,
                                      struct otf_errbuf *eb)
{
    OTF_ASSERT(st && worker_id);
    if (lease_ms < 1)
        return OTF_FAIL(eb, OTF_E_INVAL, "lease_ms must be >= 1");
    return st->ops->renew_lease(st, worker_id, lease_ms, eb);
}

enum otf_status otf_store_set_progress(struct otf_store *st, const char *id, int64_t patches_done,
                                       int64_t patches_total, const char *stage,
                                       struct otf_errbuf *eb)
{
    OTF_ASSERT(st && id);
    return st->ops->set_progress(st, id, patches_done, patches_total, stage, eb);
}

enum otf_status otf_store_finish_job(struct otf_store *st, const char *worker_id,
                                     const struct otf_job *j, enum otf_phase to,
                                     struct otf_errbuf *eb)
{
    OTF_ASSERT(st && worker_id && j);
    if (to != OTF_PHASE_COMPLETED && to != OTF_PHASE_ERROR)
        return OTF_FAIL(eb, OTF_E_INVAL, "a worker finishes a job as COMPLETED or ERROR, not %s",
                        otf_uws_phase_name(to));
    return st->ops->finish_job(st, worker_id, j, to, eb);
}

enum otf_status otf_store_recover_expired(struct otf_store *st, int max_attempts, const char *error,
                                          int64_t *n_requeued, int64_t *n_failed,
                                          struct otf_errbuf *eb)
{
    OTF_ASSERT(st);
    if (max_attempts < 1)
        return OTF_FAIL(eb, OTF_E_INVAL, "max_attempts must be >= 1");
    return st->ops->recover_expired(st, max_attempts, error, n_requeued, n_failed, eb);
}

enum otf_status otf_store_queue_summary(struct otf_store *st, struct otf_store_queue **out,
                                        size_t *n_out, struct otf_errbuf *eb)
{
    OTF_ASSERT(st && out && n_out);
    return st->ops->queue_summary(st, out, n_out, eb);
}

void otf_store_queue_free(struct otf_store_queue *q, size_t n)
{
    if (!q)
        return;
    for (size_t i = 0; i < n; i++) {
        free(q[i].model);
        free(q[i].precision);
    }
    free(q);
}

enum otf_status otf_store_list_destroyable(struct otf_store *st, int64_t now_us, size_t max,
                                           char ***out, size_t *n_out, struct otf_errbuf *eb)
{
    OTF_ASSERT(st && out && n_out);
    return st->ops->list_destroyable(st, now_us, max, out, n_out, eb);
}

enum otf_status otf_store_list_overdue(struct otf_store *st, int64_t now_us, size_t max,
                                       char ***out, size_t *n_out, struct otf_errbuf *eb)
{
    OTF_ASSERT(st && out && n_out);
    return st->ops->list_overdue(st, now_us, max, out, n_out, eb);
}

void otf_store_ids_free(char **ids, size_t n)
{
    if (!ids)
        return;
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

enum otf_status otf_store_get_phases(struct otf_store *st, const char *const *ids, size_t n,
                                     int *phases, struct otf_errbuf *eb)
{
    OTF_ASSERT(st && (n == 0 || (ids && phases)));
    if (n == 0)
        return OTF_OK;
    return st->ops->get_phases(st, ids, n, phases, eb);
}

enum otf_status otf_store_change_seq(struct otf_store *st, int64_t *seq, struct otf_errbuf *eb)
{
    OTF_ASSERT(st && seq);
    return st->ops->change_seq(st, seq, eb);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

enum otf_status otf_store_wait_change(struct otf_store *st, int64_t seq, int64_t timeout_ms,
                                      int64_t *now_seq, struct otf_errbuf *eb)
{
    enum otf_status rc;
    int64_t cur = 0, deadline_us;
    int fd;

    OTF_ASSERT(st);
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (st->ops->wait_change)
        return st->ops->wait_change(st, seq, timeout_ms, now_seq ? now_seq : &cur, eb);
    deadline_us = otf_time_mono_us() + timeout_ms * 1000;
    /* Taken before the first read of the counter: a change after that read leaves the
     * descriptor readable, so the poll below cannot sleep through it. */
    fd = timeout_ms > 0 ? otf_store_change_fd(st) : -1;
    for (;;) {
        int64_t left_ms;

        rc = st->ops->change_seq(st, &cur, eb);
        if (rc != OTF_OK)
            return rc;
        left_ms = (deadline_us - otf_time_mono_us() + 999) / 1000;
        if (cur != seq || left_ms <= 0)
            break;
        if (fd >= 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (poll(&pfd, 1, (int)(left_ms < WAIT_POLL_MS ? left_ms : WAIT_POLL_MS)) > 0)
                otf_store_change_fd_drain(st);
        } else {
            sleep_ms(left_ms < WAIT_POLL_MS ? left_ms : WAIT_POLL_MS);
        }
    }
    if (now_seq)
        *now_seq = cur;
    return OTF_OK;
}

int otf_store_change_fd(struct otf_store *st)
{
    OTF_ASSERT(st);
    return st->ops->change_fd ? st->ops->change_fd(st) : -1;
}

void otf_store_change_fd_drain(struct otf_store *st)
{
    char buf[4096];
    int fd = otf_store_change_fd(st);

    if (fd < 0)
        return;
    /* non-blocking: reads until nothing is left (or an error other than EINTR) */
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        break;
    }
}

const char *otf_store_precision_key(const char *s)
{
    const char *c;

    if (!s)
        return NULL;
    c = otf_uws_precision_canonical(s);
    return c ? c : s;
}

const char *otf_store_job_precision(const struct otf_job *j)
{
    const char *p = otf_uws_job_get_param(j, "precision");
    return p && p[0] ? otf_store_precision_key(p) : "FP32";
}
