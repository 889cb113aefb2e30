/* Worker processes (DESIGN §2): inference runs outside the HTTP process, so a crash in a model
 * or a backend never takes the service down. The supervisor thread reaps dead workers, releases
 * their jobs at once (one retry, then ERROR with the cause), and restarts them with a backoff. */
#include "supervisor.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core_config.h"
#include "store/store.h"
#include "uws/uws.h"
#include "worker/worker.h"

extern char **environ;

#define MAX_ATTEMPTS     2   /* a job is run at most twice (one retry after a crash) */
#define TICK_MS          200 /* supervisor period */
#define STOP_GRACE_MS    5000
#define RESTART_DELAY_MS 1000

struct wproc {
    char id[96];
    char *stats_path;
    pid_t pid;
    int64_t restart_at_mono_us; /* 0 = running or not scheduled */
    int64_t restarts;
};

struct supervisor {
    struct wproc *w;
    int n;
    char **argv; /* NULL-terminated, with "--worker-id" "" at the end to fill in */
    int argc;
    char **envp; /* the workers' environment: ours, plus OMP_WAIT_POLICY (see make_env) */
    char *store_url;
    pthread_t thread;
    pthread_mutex_t lock; /* guards w[] pids and the stop flag */
    pthread_cond_t cond;
    int stop;
    atomic_llong n_restarts;
    atomic_llong n_crashes;
};

/* The workers' environment. A worker's engine threads (OpenMP) share 2 cores with its reader
 * and finisher threads: OpenMP's default spin-waiting between parallel regions takes CPU from
 * them, and passive waiting gave 8-11 % more patches/s through the server on this machine
 * (BENCHMARKS.md). OpenMP reads the variable when the library loads, so it must be in the
 * environment the worker starts with; an explicit OMP_WAIT_POLICY of the user's wins. */
static char **make_env(void)
{
    size_t n = 0, k = 0;
    int has = 0;
    char **env;
    while (environ[n]) {
        has |= strncmp(environ[n], "OMP_WAIT_POLICY=", 16) == 0;
        n++;
    }
    env = otf_xcalloc(n + 2, sizeof *env);
    for (size_t i = 0; i < n; i++)
        env[k++] = environ[i];
    if (!has)
        env[k++] = "OMP_WAIT_POLICY=PASSIVE";
    env[k] = NULL;
    return env;
}

static enum otf_status spawn(struct supervisor *sv, struct wproc *w)
{
    pid_t pid;
    int rc;
    sv->argv[sv->argc - 1] = w->id;
    rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, sv->argv, sv->envp);
    if (rc != 0) {
        otf_log_error("supervisor", "cannot start worker %s: %s", w->id, strerror(rc));
        return OTF_E_IO;
    }
    w->pid = pid;
    w->restart_at_mono_us = 0;
    otf_log_info("supervisor", "worker %s started (pid %d)", w->id, (int)pid);
    return OTF_OK;
}

static void describe_status(int status, char *out, size_t n)
{
    if (WIFSIGNALED(status))
        snprintf(out, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(out, n, "exited with status %d", WEXITSTATUS(status));
}

static void release(struct otf_store *st, const char *id, int max_attempts, const char *why)
{
    struct otf_errbuf eb = {0};
    int64_t nq = 0, nf = 0;
    char *msg = otf_xasprintf("the worker running this job %s, twice: giving up", why);
    if (otf_store_release_worker(st, id, max_attempts, msg, &nq, &nf, &eb) != OTF_OK)
        otf_log_error("supervisor", "releasing the jobs of %s: %s", id, eb.msg);
    else if (nq + nf > 0)
        otf_log_warn("supervisor", "worker %s %s: %lld jobs requeued, %lld failed", id, why,
                     (long long)nq, (long long)nf);
    free(msg);
}

static void *supervise(void *arg)
{
    struct supervisor *sv = arg;
    struct otf_store *st = NULL;
    struct otf_errbuf eb;

    if (otf_store_open(sv->store_url, &st, &eb) != OTF_OK) {
        otf_log_error("supervisor", "cannot open the store: %s", eb.msg);
        return NULL;
    }
    pthread_mutex_lock(&sv->lock);
    while (!sv->stop) {
        struct timespec ts;
        int status;
        pid_t pid;

        pthread_mutex_unlock(&sv->lock);
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < sv->n; i++) {
                char why[128];
                if (sv->w[i].pid != pid)
                    continue;
                describe_status(status, why, sizeof why);
                otf_log_error("supervisor", "worker %s (pid %d) %s", sv->w[i].id, (int)pid, why);
                atomic_fetch_add(&sv->n_crashes, 1);
                release(st, sv->w[i].id, MAX_ATTEMPTS, why);
                pthread_mutex_lock(&sv->lock);
                sv->w[i].pid = 0;
                sv->w[i].restart_at_mono_us = otf_time_mono_us() + RESTART_DELAY_MS * 1000;
                pthread_mutex_unlock(&sv->lock);
            }
        }
        pthread_mutex_lock(&sv->lock);
        for (int i = 0; i < sv->n && !sv->stop; i++) {
            struct wproc *w = &sv->w[i];
            if (w->pid == 0 && w->restart_at_mono_us &&
                otf_time_mono_us() >= w->restart_at_mono_us && spawn(sv, w) == OTF_OK) {
                w->restarts++;
                atomic_fetch_add(&sv->n_restarts, 1);
            }
        }
        pthread_mutex_unlock(&sv->lock);
        /* Workers on other machines have no supervisor here: their leases tell. */
        otf_store_recover_expired(st, MAX_ATTEMPTS, NULL, NULL, NULL, NULL);
        pthread_mutex_lock(&sv->lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!sv->stop)
            pthread_cond_timedwait(&sv->cond, &sv->lock, &ts);
    }
    pthread_mutex_unlock(&sv->lock);
    otf_store_close(st);
    return NULL;
}

enum otf_status supervisor_start(int n_workers, int argc, char **argv, const char *store_url,
                                 const char *data_dir, struct supervisor **out,
                                 struct otf_errbuf *eb)
{
    struct supervisor *sv = otf_xcalloc(1, sizeof *sv);
    struct otf_store *st = NULL;
    char host[HOST_NAME_MAX + 1] = "local";
    char *run_dir = otf_xasprintf("%s/run", data_dir);
    enum otf_status rc;

    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            *p = '_';
    }
    pthread_mutex_init(&sv->lock, NULL);
    pthread_cond_init(&sv->cond, NULL);
    sv->store_url = otf_xstrdup(store_url);
    sv->n = n_workers;
    sv->w = otf_xcalloc((size_t)(n_workers ? n_workers : 1), sizeof *sv->w);
    sv->argc = argc + 2;
    sv->argv = otf_xcalloc((size_t)sv->argc + 1, sizeof *sv->argv);
    for (int i = 0; i < argc; i++)
        sv->argv[i] = argv[i];
    sv->argv[argc] = "--worker-id";
    sv->envp = make_env();
    if ((rc = otf_fs_mkdirs(run_dir, 1, eb)) != OTF_OK)
        goto fail;
    if ((rc = otf_store_open(store_url, &st, eb)) != OTF_OK)
        goto fail;
    for (int i = 0; i < n_workers; i++) {
        struct wproc *w = &sv->w[i];
        snprintf(w->id, sizeof w->id, "%.60s-w%d", host, i + 1);
        w->stats_path = otf_xasprintf("%s/%s.stats", run_dir, w->id);
        /* Jobs a previous run of this server left EXECUTING: that run's workers are gone. */
        release(st, w->id, MAX_ATTEMPTS, "was stopped when the server stopped");
    }
    otf_store_close(st);
    st = NULL;
    for (int i = 0; i < n_workers; i++) {
        if ((rc = spawn(sv, &sv->w[i])) != OTF_OK) {
            OTF_FAIL(eb, rc, "cannot start worker processes");
            goto fail;
        }
    }
    if (pthread_create(&sv->thread, NULL, supervise, sv) != 0) {
        rc = OTF_FAIL(eb, OTF_E_INTERNAL, "cannot start the supervisor thread");
        goto fail;
    }
    free(run_dir);
    *out = sv;
    return OTF_OK;
fail:
    otf_store_close(st);
    free(run_dir);
    sv->stop = 1;
    for (int i = 0; i < sv->n; i++) {
        if (sv->w[i].pid > 0) {
            kill(sv->w[i].pid, SIGKILL);
            waitpid(sv->w[i].pid, NULL, 0);
        }
        free(sv->w[i].stats_path);
    }
    free(sv->w);
    free(sv->argv);
    free(sv->envp);
    free(sv->store_url);
    free(sv);
    return rc;
}

void supervisor_stop(struct supervisor *sv)
{
    struct otf_store *st = NULL;
    int64_t deadline;

    if (!sv)
        return;
    pthread_mutex_lock(&sv->lock);
    sv->stop = 1;
    pthread_cond_signal(&sv->cond);
    pthread_mutex_unlock(&sv->lock);
    pthread_join(sv->thread, NULL);
    for (int i = 0; i < sv->n; i++) {
        if (sv->w[i].pid > 0)
            kill(sv->w[i].pid, SIGTERM);
    }
    deadline = otf_time_mono_us() + STOP_GRACE_MS * 1000;
    for (int i = 0; i < sv->n; i++) {
        while (sv->w[i].pid > 0) {
            if (waitpid(sv->w[i].pid, NULL, WNOHANG) == sv->w[i].pid || errno == ECHILD) {
                sv->w[i].pid = 0;
                break;
            }
            if (otf_time_mono_us() > deadline) {
                otf_log_warn("supervisor", "worker %s did not stop: killed", sv->w[i].id);
                kill(sv->w[i].pid, SIGKILL);
                waitpid(sv->w[i].pid, NULL, 0);
                sv->w[i].pid = 0;
                break;
            }
            usleep(20000);
        }
    }
    /* A clean stop is not the job's fault: what was running goes back to the queue. */
    if (otf_store_open(sv->store_url, &st, NULL) == OTF_OK) {
        for (int i = 0; i < sv->n; i++)
            release(st, sv->w[i].id, INT_MAX, "was stopped when the server stopped");
        otf_store_close(st);
    }
    for (int i = 0; i < sv->n; i++)
        free(sv->w[i].stats_path);
    free(sv->w);
    free(sv->argv);
    free(sv->envp);
    free(sv->store_url);
    pthread_mutex_destroy(&sv->lock);
    pthread_cond_destroy(&sv->cond);
    free(sv);
}

void supervisor_metrics(void *user, struct otf_buf *out)
{
    struct supervisor *sv = user;
    const struct otf_worker_stats **st;
    const char **ids;
    size_t n = 0;
    int alive = 0;

    if (!sv)
        return;
    st = otf_xcalloc((size_t)sv->n + 1, sizeof *st);
    ids = otf_xcalloc((size_t)sv->n + 1, sizeof *ids);
    pthread_mutex_lock(&sv->lock);
    for (int i = 0; i < sv->n; i++) {
        struct otf_worker_stats *s = NULL;
        alive += sv->w[i].pid > 0;
        if (otf_worker_stats_open(sv->w[i].stats_path, 0, &s, NULL) == OTF_OK) {
            st[n] = s;
            ids[n] = sv->w[i].id;
            n++;
        }
    }
    pthread_mutex_unlock(&sv->lock);
    otf_buf_printf(out,
                   "# HELP otf_workers Worker processes configured and running.\n"
                   "# TYPE otf_workers gauge\n"
                   "otf_workers{state=\"configured\"} %d\n"
                   "otf_workers{state=\"running\"} %d\n"
                   "# HELP otf_worker_restarts_total Worker processes restarted after dying.\n"
                   "# TYPE otf_worker_restarts_total counter\n"
                   "otf_worker_restarts_total %lld\n",
                   sv->n, alive, (long long)atomic_load(&sv->n_restarts));
    otf_worker_stats_render(st, ids, n, out);
    for (size_t i = 0; i < n; i++)
        otf_worker_stats_close((struct otf_worker_stats *)st[i]);
    free(st);
    free(ids);
}

/* ---- worker side ---- */

static volatile sig_atomic_t worker_stop;

static void on_term(int sig)
{
    (void)sig;
    worker_stop = 1;
}

int supervisor_worker_main(const char *worker_id, int argc, char **argv)
{
    struct otf_config cfg;
    struct otf_errbuf eb = {0};
    struct otf_worker_params p;
    enum otf_log_level lvl = OTF_LOG_INFO;
    char *store_url = NULL, *stats = NULL;
    struct sigaction sa;
    sigset_t stop_set;
    int rc = 1;

    /* Die with the server: a worker never outlives the otfd that started it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* Started from /proc/self/exe, the worker and its engine threads would show as "exe" in
     * top, ps and perf; the name is inherited by the threads created from here. */
    prctl(PR_SET_NAME, "otf-worker");
    if (getppid() == 1)
        return 1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* otfd blocks SIGTERM and SIGINT for its sigwait() and posix_spawn passes the signal mask
     * on: unblocked here, or neither a stop request nor the parent-death signal above would ever
     * reach this worker (it would be SIGKILLed at every stop and outlive a killed otfd). */
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &stop_set, NULL);

    otf_config_defaults(&cfg);
    if (otf_config_load(&cfg, argc, argv, &eb) != OTF_OK) {
        fprintf(stderr, "otfd worker %s: %s\n", worker_id, eb.msg);
        goto out;
    }
    otf_log_level_parse(cfg.log_level, &lvl);
    otf_log_setup(lvl, stderr);
    otf_uws_global_init();
    store_url = *cfg.store_url ? otf_xstrdup(cfg.store_url)
                               : otf_xasprintf("sqlite:%s/otf.db", cfg.data_dir);
    stats = otf_xasprintf("%s/run/%s.stats", cfg.data_dir, worker_id);
    otf_worker_params_init(&p);
    p.worker_id = worker_id;
    p.store_url = store_url;
    p.data_dir = cfg.data_dir;
    p.models_dir = cfg.models_dir;
    p.sched = cfg.sched;
    p.backend = cfg.engine.backend;
    p.threads = cfg.engine.threads;
    p.helper_nice = cfg.engine.helper_nice;
    p.winograd = cfg.engine.winograd;
    p.streams = cfg.engine.streams;
    p.stats_path = stats;
    if (otf_worker_run(&p, &worker_stop, &eb) != OTF_OK) {
        otf_log_error("worker", "%s: %s", worker_id, eb.msg);
        goto out;
    }
    rc = 0;
out:
    free(store_url);
    free(stats);
    otf_config_cleanup(&cfg);
    return rc;
}
