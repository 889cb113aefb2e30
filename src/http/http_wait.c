/* Blocking WAIT (UWS 1.1): a waiting request is suspended (it holds no thread) and put on a
 * list. One waiter thread releases requests whose job left its phase or whose time ran out. It
 * learns of changes from this process at once (otf_http_server_notify, through an eventfd), of
 * changes made by other processes on this machine (workers) at once too, through the store's
 * change descriptor, and of any other change through the store's change counter, read at least
 * every POLL_MS while requests wait. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "http/http_int.h"

#define POLL_MS 50

void http_wait_wake(struct otf_http_server *srv)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is at its maximum, so the thread wakes anyway */
    if (srv->wake_fd >= 0 && write(srv->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        otf_log_warn("http", "cannot wake the WAIT thread: %s", strerror(errno));
}

/* Sleeps until http_wait_wake, a change signalled by the store's descriptor (only when `st`
 * is given) or `timeout_ms` (-1: no limit). Called without the lock. */
static void sleep_until_woken(struct otf_http_server *srv, struct otf_store *st, int timeout_ms)
{
    struct pollfd pfd[2] = {{.fd = srv->wake_fd, .events = POLLIN},
                            {.fd = st ? otf_store_change_fd(st) : -1, .events = POLLIN}};
    uint64_t v;

    if (poll(pfd, 2, timeout_ms) <= 0) /* poll skips the negative descriptor */
        return;
    if ((pfd[0].revents & POLLIN) && read(srv->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        otf_log_warn("http", "WAIT thread: %s", strerror(errno));
    if (pfd[1].revents & POLLIN)
        otf_store_change_fd_drain(st);
}

static void resume(struct http_waiter *w)
{
    w->req->is_resumed = 1;
    MHD_resume_connection(w->conn);
    free(w);
}

int http_wait_suspend(struct http_request *r, const char *job_id, enum otf_phase phase,
                      int64_t timeout_s)
{
    struct otf_http_server *srv = r->srv;
    struct http_waiter *w;

    pthread_mutex_lock(&srv->wait_lock);
    if (srv->stopping || srv->n_waiters >= HTTP_MAX_WAITERS) {
        pthread_mutex_unlock(&srv->wait_lock);
        return -1; /* answer at once: still correct, only less efficient for the client */
    }
    w = otf_xcalloc(1, sizeof *w);
    w->conn = r->conn;
    w->req = r;
    snprintf(w->job_id, sizeof w->job_id, "%s", job_id);
    w->phase = phase;
    w->deadline_mono_us = otf_time_mono_us() + timeout_s * 1000000;
    r->is_suspended = 1;
    /* Suspend under the lock so the waiter thread cannot resume before the suspension. */
    MHD_suspend_connection(r->conn);
    w->next = srv->waiters;
    srv->waiters = w;
    srv->n_waiters++;
    pthread_mutex_unlock(&srv->wait_lock);
    http_wait_wake(srv);
    return 0;
}

/* The phases of every waiting request's job now (-1: gone), in one read of the store. Returns
 * 0, or -1 when the store could not be read (the waits then go on until the next change or
 * their timeout). */
static int current_phases(struct otf_store *st, struct http_waiter *list, size_t n,
                          const char ***ids, int **phases, size_t *cap)
{
    size_t k = 0;
    if (n > *cap) {
        *ids = otf_xrealloc(*ids, n * sizeof **ids);
        *phases = otf_xrealloc(*phases, n * sizeof **phases);
        *cap = n;
    }
    for (struct http_waiter *w = list; w && k < n; w = w->next)
        (*ids)[k++] = w->job_id;
    return otf_store_get_phases(st, *ids, k, *phases, NULL) == OTF_OK ? 0 : -1;
}

static void *wait_main(void *arg)
{
    struct otf_http_server *srv = arg;
    struct otf_store *st = NULL;
    struct otf_errbuf eb;
    int64_t last_seq = -1;
    const char **ids = NULL;
    int *phases = NULL;
    size_t cap = 0;

    if (otf_store_open(srv->p.store_url, &st, &eb) != OTF_OK)
        otf_log_error("http", "WAIT thread without store (%s): waits end at their timeout", eb.msg);
    else
        otf_store_change_fd(st); /* made before the first read of the counter */
    pthread_mutex_lock(&srv->wait_lock);
    while (!srv->stopping) {
        int64_t now, seq = last_seq;
        int changed, have;
        struct http_waiter **pw;

        if (!srv->waiters) { /* nobody waits: the store's changes do not matter */
            pthread_mutex_unlock(&srv->wait_lock);
            sleep_until_woken(srv, NULL, -1);
            pthread_mutex_lock(&srv->wait_lock);
            continue;
        }
        if (!srv->notified) {
            pthread_mutex_unlock(&srv->wait_lock);
            sleep_until_woken(srv, st, POLL_MS);
            pthread_mutex_lock(&srv->wait_lock);
        }
        changed = srv->notified;
        srv->notified = 0;
        if (srv->stopping)
            break;
        if (st && otf_store_change_seq(st, &seq, NULL) == OTF_OK && seq != last_seq) {
            changed = 1;
            last_seq = seq;
        }
        now = otf_time_mono_us();
        /* One read of the store for all the waits: a job that went, or left the phase its
         * request waits on, releases it. Checked only when something changed. */
        have = changed && st &&
               current_phases(st, srv->waiters, srv->n_waiters, &ids, &phases, &cap) == 0;
        pw = &srv->waiters;
        for (size_t k = 0; *pw; k++) {
            struct http_waiter *w = *pw;
            int done = now >= w->deadline_mono_us;
            if (!done && have)
                done = phases[k] < 0 || phases[k] != (int)w->phase;
            if (done) {
                *pw = w->next;
                srv->n_waiters--;
                resume(w);
            } else {
                pw = &w->next;
            }
        }
    }
    /* Stopping: release everybody so the daemon can close their connections. */
    while (srv->waiters) {
        struct http_waiter *w = srv->waiters;
        srv->waiters = w->next;
        srv->n_waiters--;
        resume(w);
    }
    pthread_mutex_unlock(&srv->wait_lock);
    otf_store_close(st);
    free(ids);
    free(phases);
    return NULL;
}

enum otf_status http_wait_start(struct otf_http_server *srv, struct otf_errbuf *eb)
{
    srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->wake_fd < 0)
        return OTF_FAIL(eb, OTF_E_INTERNAL, "cannot make the WAIT thread's eventfd: %s",
                        strerror(errno));
    if (pthread_create(&srv->wait_thread, NULL, wait_main, srv) != 0) {
        close(srv->wake_fd);
        srv->wake_fd = -1;
        return OTF_FAIL(eb, OTF_E_INTERNAL, "cannot start the WAIT thread");
    }
    srv->has_wait_thread = 1;
    return OTF_OK;
}

void http_wait_stop(struct otf_http_server *srv)
{
    if (!srv->has_wait_thread)
        return;
    pthread_mutex_lock(&srv->wait_lock);
    srv->stopping = 1;
    pthread_mutex_unlock(&srv->wait_lock);
    http_wait_wake(srv);
    pthread_join(srv->wait_thread, NULL);
    srv->has_wait_thread = 0; /* wake_fd stays open: requests still running may notify */
}
