/* otf-top: a live dashboard of a CIANNA On-The-Fly service. A fetcher thread owns the network
 * (its own libotfclient handle): it refreshes a snapshot of the jobs and /metrics every
 * interval and runs the user's actions (abort, delete, details, save results), so the ncurses
 * thread never waits on the network. They share struct otf_top under its lock.
 *
 *   struct otf_top t;  otf_top_init(&t, &opts, 2000, "."); otf_top_start(&t);
 *   ... UI: lock, read t.snap, unlock; otf_top_post(&t, OTF_TOP_ABORT, id) ...
 *   otf_top_stop(&t); otf_top_cleanup(&t);
 */
#ifndef OTF_TOP_H
#define OTF_TOP_H

#include <pthread.h>
#include <stdint.h>

#include "otf/otf_client.h"

#define OTF_TOP_HISTORY  120 /* throughput samples kept */
#define OTF_TOP_MAX_JOBS 500 /* jobs shown (most recent first) */

/* One row of the jobs table. */
struct otf_top_row {
    char id[48];
    char owner[48];
    char model[48];
    char precision[16];
    char stage[32];
    enum otf_client_phase phase;
    int64_t patches_done, patches_total;
    int64_t creation_us;
    int has_error;
};

/* A queue per batch key, from otf_queue_depth{model,precision}. */
struct otf_top_queue {
    char model[48];
    char precision[16];
    int64_t depth;
};

/* What the fetcher saw at one refresh. Owned by struct otf_top; replaced whole. */
struct otf_top_snap {
    struct otf_top_row *rows; /* newest first */
    size_t n_rows;
    struct otf_top_queue *queues;
    size_t n_queues;
    char resident[256];                        /* "tiny, demo" or "" (none reported) */
    int has_resident;                          /* /metrics carries otf_resident_models */
    double patches_per_s;                      /* < 0: not known (no worker counters yet) */
    int64_t by_phase[OTF_CLIENT_PHASE__COUNT]; /* from otf_jobs{phase}; -1 unknown */
    double history[OTF_TOP_HISTORY];           /* patches/s, oldest first */
    size_t n_history;
    int64_t at_us;   /* wall time of the refresh */
    char error[640]; /* the refresh failed: why (the rest is the last good data) */
};

enum otf_top_action { OTF_TOP_ABORT, OTF_TOP_DELETE, OTF_TOP_DETAILS, OTF_TOP_SAVE };

#define OTF_TOP_QUEUE 16

struct otf_top {
    pthread_mutex_t lock; /* guards every field below the options */
    pthread_cond_t cond;
    pthread_t thread;
    int started;
    /* options, read-only once started */
    struct otf_client_options opts;
    char *url, *token, *cacert; /* owned copies behind opts */
    char *out_dir;              /* where 's' saves results */
    /* shared */
    int interval_ms; /* refresh period */
    int quit, refresh_now;
    struct otf_top_snap *snap; /* latest, or NULL before the first refresh */
    int64_t snap_seq;          /* bumped at each new snapshot */
    struct {
        enum otf_top_action act;
        char id[48];
    } queue[OTF_TOP_QUEUE];
    size_t n_queue;
    char message[1024]; /* outcome of the last action, for the status line */
    int64_t message_seq;
    char *details; /* text of the details view (lines), or NULL */
    char details_id[48];
    int64_t details_seq;
    int busy; /* an action or a refresh is running */
};

/* Copies the options (strings too). */
void otf_top_init(struct otf_top *t, const struct otf_client_options *o, int interval_ms,
                  const char *out_dir);
/* Starts the fetcher thread. Returns 0, or -1 with a reason in t->message. */
int otf_top_start(struct otf_top *t);
/* Asks the fetcher to stop and joins it; it finishes the request in flight (bounded by the
 * client's timeouts). */
void otf_top_stop(struct otf_top *t);
void otf_top_cleanup(struct otf_top *t);
/* Queues an action on a job (takes the lock). Returns 0, or -1 if the queue is full. */
int otf_top_post(struct otf_top *t, enum otf_top_action act, const char *id);
/* Asks for a refresh now (takes the lock). */
void otf_top_refresh(struct otf_top *t);
void otf_top_snap_free(struct otf_top_snap *s);

#endif
