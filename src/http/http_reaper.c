/* The reaper (UWS 1.1 destruction and executionDuration): removes jobs whose destruction time
 * has come (record and files) and stops EXECUTING jobs that ran past their executionDuration.
 * One thread, waking every uws.reaper_interval_ms; it uses its own store handle. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_int.h"

#define REAP_BATCH 256

void http_remove_job_files(struct otf_http_server *srv, const char *id)
{
    char *dir;
    struct otf_errbuf eb;
    if (!otf_str_is_safe_name(id))
        return;
    dir = otf_xasprintf("%s/%s", srv->jobs_dir, id);
    if (otf_fs_remove_tree(dir, &eb) != OTF_OK)
        otf_log_warn("reaper", "job %s: %s", id, eb.msg);
    free(dir);
}

static void reap_once(struct otf_http_server *srv, struct otf_store *st)
{
    struct otf_errbuf eb = {0};
    char **ids = NULL;
    size_t n = 0;
    int64_t now = otf_time_now_us();
    int changed = 0;

    if (otf_store_list_destroyable(st, now, REAP_BATCH, &ids, &n, &eb) == OTF_OK) {
        for (size_t i = 0; i < n; i++) {
            /* Abort first so that a worker still holding it stops at its next micro-batch. */
            otf_store_set_phase(
                st, ids[i], OTF_PHASE_BIT(OTF_PHASE_EXECUTING) | OTF_PHASE_BIT(OTF_PHASE_QUEUED),
                OTF_PHASE_ABORTED, "destruction time reached", NULL, NULL);
            if (otf_store_delete_job(st, ids[i], &eb) == OTF_OK) {
                http_remove_job_files(srv, ids[i]);
                atomic_fetch_add(&srv->n_destroyed, 1);
                otf_log_info("reaper", "job %s destroyed (destruction time reached)", ids[i]);
                changed = 1;
            }
        }
        otf_store_ids_free(ids, n);
    } else {
        otf_log_warn("reaper", "destruction scan failed: %s", eb.msg);
    }
    ids = NULL;
    n = 0;
    if (otf_store_list_overdue(st, now, REAP_BATCH, &ids, &n, &eb) == OTF_OK) {
        for (size_t i = 0; i < n; i++) {
            /* UWS: a job running longer than its executionDuration is aborted by the server. */
            if (otf_store_set_phase(
                    st, ids[i], OTF_PHASE_BIT(OTF_PHASE_EXECUTING), OTF_PHASE_ABORTED,
                    "execution duration exceeded: the job was stopped", NULL, &eb) == OTF_OK) {
                atomic_fetch_add(&srv->n_overdue, 1);
                otf_log_info("reaper", "job %s aborted (executionDuration exceeded)", ids[i]);
                changed = 1;
            }
        }
        otf_store_ids_free(ids, n);
    } else {
        otf_log_warn("reaper", "duration scan failed: %s", eb.msg);
    }
    if (changed)
        otf_http_server_notify(srv);
}

static void *reap_main(void *arg)
{
    struct otf_http_server *srv = arg;
    struct otf_store *st = NULL;
    struct otf_errbuf eb;

    if (otf_store_open(srv->p.store_url, &st, &eb) != OTF_OK) {
        otf_log_error("reaper", "cannot open the store: %s", eb.msg);
        return NULL;
    }
    pthread_mutex_lock(&srv->reap_lock);
    while (!srv->reap_stop) {
        struct timespec ts;
        int64_t ms = srv->p.uws.reaper_interval_ms;
        pthread_mutex_unlock(&srv->reap_lock);
        reap_once(srv, st);
        pthread_mutex_lock(&srv->reap_lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!srv->reap_stop)
            pthread_cond_timedwait(&srv->reap_cond, &srv->reap_lock, &ts);
    }
    pthread_mutex_unlock(&srv->reap_lock);
    otf_store_close(st);
    return NULL;
}

enum otf_status http_reaper_start(struct otf_http_server *srv, struct otf_errbuf *eb)
{
    if (pthread_create(&srv->reap_thread, NULL, reap_main, srv) != 0)
        return OTF_FAIL(eb, OTF_E_INTERNAL, "cannot start the reaper thread");
    srv->has_reap_thread = 1;
    return OTF_OK;
}

void http_reaper_stop(struct otf_http_server *srv)
{
    if (!srv->has_reap_thread)
        return;
    pthread_mutex_lock(&srv->reap_lock);
    srv->reap_stop = 1;
    pthread_cond_signal(&srv->reap_cond);
    pthread_mutex_unlock(&srv->reap_lock);
    pthread_join(srv->reap_thread, NULL);
    srv->has_reap_thread = 0;
}
