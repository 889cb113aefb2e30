/* otf-top's fetcher thread: the only thread that talks to the service. Each refresh lists the
 * jobs, reads each job's document (model, precision, progress) and /metrics (jobs by phase,
 * queue depth per batch key, resident models, patch counters whose rate is patches/s), then
 * swaps the new snapshot in under the lock. Actions queued by the UI run between refreshes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps/otf-top/otf_top.h"
#include "core/core.h"

void otf_top_snap_free(struct otf_top_snap *s)
{
    if (!s)
        return;
    free(s->rows);
    free(s->queues);
    free(s);
}

void otf_top_init(struct otf_top *t, const struct otf_client_options *o, int interval_ms,
                  const char *out_dir)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    t->opts = *o;
    t->url = o->url ? otf_xstrdup(o->url) : NULL;
    t->token = o->token ? otf_xstrdup(o->token) : NULL;
    t->cacert = o->ca_file ? otf_xstrdup(o->ca_file) : NULL;
    t->opts.url = t->url;
    t->opts.token = t->token;
    t->opts.ca_file = t->cacert;
    t->out_dir = otf_xstrdup(out_dir ? out_dir : ".");
    t->interval_ms = interval_ms;
}

void otf_top_cleanup(struct otf_top *t)
{
    otf_top_snap_free(t->snap);
    free(t->details);
    free(t->url);
    free(t->token);
    free(t->cacert);
    free(t->out_dir);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
}

/* A display field: at most n - 1 bytes of src, cut where it does not fit. */
static void copy(char *dst, size_t n, const char *src)
{
    size_t len = src ? strnlen(src, n - 1) : 0;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

/* The caller holds the lock. */
static void set_message(struct otf_top *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_message(struct otf_top *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->message, sizeof t->message, fmt, ap);
    va_end(ap);
    t->message_seq++;
}

/* ---- refresh ---- */

struct rate_state {
    double last_total; /* sum of otf_patches_total at the last refresh, < 0 = none */
    int64_t last_us;   /* monotonic time of that sample */
};

static void read_metrics(const char *text, size_t len, struct otf_top_snap *s,
                         struct rate_state *rs)
{
    struct otf_client_metric *m = NULL;
    size_t n = 0, cap_q = 0;
    double patches = 0;
    int has_patches = 0;
    int64_t now = otf_time_mono_us();

    for (int p = 0; p < OTF_CLIENT_PHASE__COUNT; p++)
        s->by_phase[p] = -1;
    s->patches_per_s = -1;
    if (otf_client_parse_metrics(text, len, &m, &n) != OTF_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        char a[64], b[64];
        if (strcmp(m[i].name, "otf_jobs") == 0 &&
            otf_client_metric_label(m[i].labels, "phase", a, sizeof a)) {
            enum otf_client_phase p;
            if (otf_client_phase_parse(a, &p) == OTF_OK)
                s->by_phase[p] = (int64_t)m[i].value;
        } else if (strcmp(m[i].name, "otf_queue_depth") == 0 &&
                   otf_client_metric_label(m[i].labels, "model", a, sizeof a) &&
                   otf_client_metric_label(m[i].labels, "precision", b, sizeof b)) {
            if (s->n_queues == cap_q) {
                cap_q = cap_q ? cap_q * 2 : 8;
                s->queues = otf_xrealloc(s->queues, cap_q * sizeof *s->queues);
            }
            copy(s->queues[s->n_queues].model, sizeof s->queues[0].model, a);
            copy(s->queues[s->n_queues].precision, sizeof s->queues[0].precision, b);
            s->queues[s->n_queues].depth = (int64_t)m[i].value;
            s->n_queues++;
        } else if (strcmp(m[i].name, "otf_resident_models") == 0 &&
                   otf_client_metric_label(m[i].labels, "model", a, sizeof a) && m[i].value > 0) {
            s->has_resident = 1;
            if (!strstr(s->resident, a)) {
                size_t k = strlen(s->resident);
                snprintf(s->resident + k, sizeof s->resident - k, "%s%s", k ? ", " : "", a);
            }
        } else if (strcmp(m[i].name, "otf_patches_total") == 0) {
            patches += m[i].value;
            has_patches = 1;
        } else if (strcmp(m[i].name, "otf_batches_total") == 0) {
            s->has_resident = 1; /* workers report: an empty list means none resident */
        }
    }
    /* patches/s is the rate of the workers' counter between two refreshes. */
    if (has_patches) {
        if (rs->last_total >= 0 && now > rs->last_us && patches >= rs->last_total)
            s->patches_per_s = (patches - rs->last_total) / ((double)(now - rs->last_us) / 1e6);
        rs->last_total = patches;
        rs->last_us = now;
    }
    otf_client_metrics_free(m, n);
}

static int newest_first(const void *a, const void *b)
{
    const struct otf_top_row *x = a, *y = b;
    if (x->creation_us != y->creation_us)
        return x->creation_us > y->creation_us ? -1 : 1;
    return strcmp(x->id, y->id);
}

static struct otf_top_snap *refresh(struct otf_client *c, struct rate_state *rs,
                                    const struct otf_top_snap *prev)
{
    struct otf_top_snap *s = otf_xcalloc(1, sizeof *s);
    struct otf_client_list_filter f = {.last = OTF_TOP_MAX_JOBS};
    struct otf_client_job **jobs = NULL;
    struct otf_client_error e = {0};
    size_t n = 0;
    char *text = NULL;
    size_t len = 0;

    if (prev) {
        memcpy(s->history, prev->history, sizeof s->history);
        s->n_history = prev->n_history;
    }
    s->at_us = otf_time_now_us();
    if (otf_client_list_jobs(c, &f, &jobs, &n, &e) != OTF_OK) {
        copy(s->error, sizeof s->error, e.msg);
        return s;
    }
    s->rows = otf_xcalloc(n ? n : 1, sizeof *s->rows);
    for (size_t i = 0; i < n; i++) {
        struct otf_top_row *r = &s->rows[s->n_rows];
        struct otf_client_job *j = NULL;
        copy(r->id, sizeof r->id, jobs[i]->id);
        copy(r->owner, sizeof r->owner, jobs[i]->owner ? jobs[i]->owner : "-");
        r->phase = jobs[i]->phase;
        r->creation_us = jobs[i]->creation_us;
        copy(r->model, sizeof r->model, "?");
        copy(r->precision, sizeof r->precision, "?");
        /* The list has no model or progress: each job's document has. */
        if (otf_client_get_job(c, jobs[i]->id, &j, &e) == OTF_OK) {
            const char *m = otf_client_job_param(j, "model");
            const char *p = otf_client_job_param(j, "precision");
            copy(r->model, sizeof r->model, m ? m : "-");
            copy(r->precision, sizeof r->precision, p ? p : "FP32");
            copy(r->stage, sizeof r->stage, j->stage);
            r->phase = j->phase;
            r->patches_done = j->patches_done;
            r->patches_total = j->patches_total;
            r->has_error = j->error_summary != NULL;
            otf_client_job_free(j);
        } else if (e.code == OTF_E_NOTFOUND) {
            continue; /* deleted meanwhile */
        } else {
            copy(s->error, sizeof s->error, e.msg);
        }
        s->n_rows++;
    }
    otf_client_job_array_free(jobs, n);
    qsort(s->rows, s->n_rows, sizeof *s->rows, newest_first);
    if (otf_client_get_text(c, "/metrics", &text, &len, &e) == OTF_OK) {
        read_metrics(text, len, s, rs);
        free(text);
    } else {
        for (int p = 0; p < OTF_CLIENT_PHASE__COUNT; p++)
            s->by_phase[p] = -1;
        s->patches_per_s = -1;
        if (!s->error[0])
            snprintf(s->error, sizeof s->error, "/metrics: %s", e.msg);
    }
    if (s->patches_per_s >= 0) {
        if (s->n_history == OTF_TOP_HISTORY) {
            memmove(s->history, s->history + 1, (OTF_TOP_HISTORY - 1) * sizeof s->history[0]);
            s->n_history--;
        }
        s->history[s->n_history++] = s->patches_per_s;
    }
    return s;
}

/* ---- actions ---- */

static const char *ext_for(const char *name)
{
    if (strcmp(name, "catalog") == 0)
        return "vot";
    if (strcmp(name, "regions") == 0)
        return "reg";
    if (strcmp(name, "provenance") == 0)
        return "json";
    if (strcmp(name, "preview") == 0)
        return "png";
    return "dat";
}

static char *details_text(struct otf_client *c, const char *id, struct otf_client_error *e)
{
    struct otf_client_job *j = NULL;
    struct otf_buf b;
    char iso[OTF_TIME_ISO_LEN];
    char *err = NULL;

    if (otf_client_get_job(c, id, &j, e) != OTF_OK)
        return NULL;
    otf_buf_init(&b, 1 << 20);
    otf_buf_printf(&b, "job         %s\nphase       %s\nowner       %s\n", j->id,
                   otf_client_phase_name(j->phase), j->owner ? j->owner : "-");
    if (j->run_id)
        otf_buf_printf(&b, "run id      %s\n", j->run_id);
    otf_time_format_iso(j->creation_us, iso);
    otf_buf_printf(&b, "created     %s\n", iso);
    if (j->start_us) {
        otf_time_format_iso(j->start_us, iso);
        otf_buf_printf(&b, "started     %s\n", iso);
    }
    if (j->end_us) {
        otf_time_format_iso(j->end_us, iso);
        otf_buf_printf(&b, "ended       %s\n", iso);
    }
    otf_buf_printf(&b, "progress    %lld/%lld patches%s%s (attempts %d)\n",
                   (long long)j->patches_done, (long long)j->patches_total, j->stage ? ", " : "",
                   j->stage ? j->stage : "", j->attempts);
    for (size_t i = 0; i < j->n_params; i++)
        otf_buf_printf(&b, "%-11s %s = %s\n", i ? "" : "parameters", j->params[i].name,
                       j->params[i].value ? j->params[i].value : "");
    for (size_t i = 0; i < j->n_results; i++)
        otf_buf_printf(&b, "%-11s %s (%s, %lld bytes)\n", i ? "" : "results", j->results[i].id,
                       j->results[i].mime ? j->results[i].mime : "?",
                       (long long)j->results[i].size_bytes);
    if (j->error_summary) {
        /* The full message lives at {job}/error; the summary may be shorter. */
        if (otf_client_get_job_error(c, id, &err, e) != OTF_OK)
            err = NULL;
        otf_buf_printf(&b, "error       %s\n", err ? err : j->error_summary);
        free(err);
    }
    otf_client_job_free(j);
    return otf_buf_steal(&b, NULL);
}

static void save_results(struct otf_top *t, struct otf_client *c, const char *id, char *msg,
                         size_t n)
{
    struct otf_client_job *j = NULL;
    struct otf_client_error e = {0};
    struct otf_errbuf eb = {0};
    size_t ok = 0;

    if (otf_client_get_job(c, id, &j, &e) != OTF_OK) {
        snprintf(msg, n, "save %s: %s", id, e.msg);
        return;
    }
    if (j->n_results == 0) {
        snprintf(msg, n, "job %s has no results (phase %s)", id, otf_client_phase_name(j->phase));
        otf_client_job_free(j);
        return;
    }
    if (otf_fs_mkdirs(t->out_dir, 0, &eb) != OTF_OK) {
        snprintf(msg, n, "save: %s", eb.msg);
        otf_client_job_free(j);
        return;
    }
    for (size_t i = 0; i < j->n_results; i++) {
        char *path;
        if (!otf_str_is_safe_name(j->results[i].id))
            continue;
        path = otf_xasprintf("%s/%s_%s.%s", t->out_dir, id, j->results[i].id,
                             ext_for(j->results[i].id));
        if (otf_client_fetch_result(c, id, j->results[i].id, path, NULL, NULL, NULL, &e) == OTF_OK)
            ok++;
        else
            snprintf(msg, n, "save %s %s: %s", id, j->results[i].id, e.msg);
        free(path);
    }
    if (ok == j->n_results)
        snprintf(msg, n, "saved %zu results of %s to %s", ok, id, t->out_dir);
    otf_client_job_free(j);
}

static void run_action(struct otf_top *t, struct otf_client *c, enum otf_top_action act,
                       const char *id)
{
    struct otf_client_error e = {0};
    char msg[1024] = "";
    char *text = NULL;

    switch (act) {
    case OTF_TOP_ABORT:
        if (otf_client_abort_job(c, id, &e) == OTF_OK)
            snprintf(msg, sizeof msg, "job %s aborted", id);
        else
            snprintf(msg, sizeof msg, "abort %s: %s", id, e.msg);
        break;
    case OTF_TOP_DELETE:
        if (otf_client_delete_job(c, id, &e) == OTF_OK)
            snprintf(msg, sizeof msg, "job %s deleted", id);
        else
            snprintf(msg, sizeof msg, "delete %s: %s", id, e.msg);
        break;
    case OTF_TOP_DETAILS:
        text = details_text(c, id, &e);
        if (!text)
            snprintf(msg, sizeof msg, "details %s: %s", id, e.msg);
        break;
    case OTF_TOP_SAVE:
        save_results(t, c, id, msg, sizeof msg);
        break;
    }
    pthread_mutex_lock(&t->lock);
    if (text) {
        free(t->details);
        t->details = text;
        copy(t->details_id, sizeof t->details_id, id);
        t->details_seq++;
    }
    if (msg[0])
        set_message(t, "%s", msg);
    if (act == OTF_TOP_ABORT || act == OTF_TOP_DELETE)
        t->refresh_now = 1;
    pthread_mutex_unlock(&t->lock);
}

static void *fetcher(void *arg)
{
    struct otf_top *t = arg;
    struct otf_client *c = NULL;
    struct otf_client_error e = {0};
    struct rate_state rs = {-1, 0};
    int64_t next_us = 0;

    if (otf_client_open(&t->opts, &c, &e) != OTF_OK) {
        pthread_mutex_lock(&t->lock);
        set_message(t, "%s", e.msg);
        pthread_mutex_unlock(&t->lock);
        return NULL;
    }
    pthread_mutex_lock(&t->lock);
    while (!t->quit) {
        int64_t now = otf_time_mono_us();
        if (t->n_queue > 0) {
            enum otf_top_action act = t->queue[0].act;
            char id[48];
            copy(id, sizeof id, t->queue[0].id);
            memmove(t->queue, t->queue + 1, (t->n_queue - 1) * sizeof t->queue[0]);
            t->n_queue--;
            t->busy = 1;
            pthread_mutex_unlock(&t->lock);
            run_action(t, c, act, id);
            pthread_mutex_lock(&t->lock);
            t->busy = 0;
            continue;
        }
        if (t->refresh_now || now >= next_us) {
            struct otf_top_snap *prev = t->snap, *s;
            /* The previous snapshot stays owned by t: copy what refresh needs first. */
            struct otf_top_snap hist;
            hist.n_history = prev ? prev->n_history : 0;
            if (prev)
                memcpy(hist.history, prev->history, sizeof hist.history);
            t->refresh_now = 0;
            t->busy = 1;
            pthread_mutex_unlock(&t->lock);
            s = refresh(c, &rs, prev ? &hist : NULL);
            pthread_mutex_lock(&t->lock);
            t->busy = 0;
            /* A failed refresh keeps the last good table and shows why. */
            if (s->error[0] && !s->rows && t->snap) {
                copy(t->snap->error, sizeof t->snap->error, s->error);
                otf_top_snap_free(s);
            } else {
                otf_top_snap_free(t->snap);
                t->snap = s;
            }
            t->snap_seq++;
            next_us = otf_time_mono_us() + (int64_t)t->interval_ms * 1000;
            continue;
        }
        {
            struct timespec ts;
            int64_t wait_us = next_us - now;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(wait_us / 1000000);
            ts.tv_nsec += (long)(wait_us % 1000000) * 1000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&t->cond, &t->lock, &ts);
        }
    }
    pthread_mutex_unlock(&t->lock);
    otf_client_close(c);
    return NULL;
}

int otf_top_start(struct otf_top *t)
{
    if (pthread_create(&t->thread, NULL, fetcher, t) != 0) {
        snprintf(t->message, sizeof t->message, "cannot start a thread: %s", strerror(errno));
        return -1;
    }
    t->started = 1;
    return 0;
}

void otf_top_stop(struct otf_top *t)
{
    if (!t->started)
        return;
    pthread_mutex_lock(&t->lock);
    t->quit = 1;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    t->started = 0;
}

int otf_top_post(struct otf_top *t, enum otf_top_action act, const char *id)
{
    int rc = -1;
    pthread_mutex_lock(&t->lock);
    if (t->n_queue < OTF_TOP_QUEUE) {
        t->queue[t->n_queue].act = act;
        copy(t->queue[t->n_queue].id, sizeof t->queue[0].id, id);
        t->n_queue++;
        pthread_cond_signal(&t->cond);
        rc = 0;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void otf_top_refresh(struct otf_top *t)
{
    pthread_mutex_lock(&t->lock);
    t->refresh_now = 1;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}
