/* http internals shared by the files of src/http/ (never included elsewhere). */
#ifndef OTF_HTTP_INT_H
#define OTF_HTTP_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "http/http.h"
#include "store/store.h"

#define HTTP_MAX_FIELDS  256     /* form fields and query arguments per request */
#define HTTP_DESC_MAX    1048576 /* job-description XML part, bytes */
#define HTTP_ID_LEN      16      /* random job id length */
#define HTTP_MAX_WAITERS 4096    /* suspended WAIT requests at once */
#define HTTP_DRAIN_SLACK 65536   /* bytes drained past a refusal beyond http.form_max_bytes */
#define HTTP_MAX_FETCHES 64      /* IMAGE_URL downloads at once (each on a thread of its own) */

/* A bearer token mapped to an owner (tokens file: "sha256hex owner [admin]" per line). */
struct http_token {
    char sha256_hex[65];
    char *owner;
    int is_admin;
};

/* A suspended WAIT request; owned by the waiter list under srv->wait_lock. */
struct http_waiter {
    struct MHD_Connection *conn;
    struct http_request *req;
    char job_id[40];
    enum otf_phase phase; /* phase when the wait began */
    int64_t deadline_mono_us;
    struct http_waiter *next;
};

struct otf_http_server {
    struct otf_http_server_params p; /* strings borrowed from the caller */
    struct MHD_Daemon *mhd;
    int port;
    char *jobs_dir;          /* DATA/jobs */
    char *tmp_dir;           /* DATA/tmp */
    pthread_key_t store_key; /* per-thread store handle */
    struct http_token *tokens;
    size_t n_tokens;
    int anonymous; /* no tokens file: everybody is the anonymous owner */
    int64_t started_us;

    pthread_mutex_t wait_lock; /* guards waiters, n_waiters, stopping, notified */
    int wake_fd;               /* eventfd that wakes the WAIT thread (http_wait_wake), or -1 */
    struct http_waiter *waiters;
    size_t n_waiters;
    int stopping;
    int notified;
    pthread_t wait_thread;
    int has_wait_thread;

    pthread_mutex_t reap_lock; /* guards reap_stop */
    pthread_cond_t reap_cond;
    int reap_stop;
    pthread_t reap_thread;
    int has_reap_thread;

    /* Serialises the admission checks (room in the queue, owner quota) with the change they
     * admit (insert, queueing), so that concurrent requests of this process cannot overshoot
     * queue.max_jobs or uws.owner_max_jobs/owner_max_bytes. */
    pthread_mutex_t admit_lock;

    pthread_mutex_t fetch_lock; /* guards n_fetches; resumes of fetching requests */
    pthread_cond_t fetch_cond;
    int n_fetches;         /* IMAGE_URL downloads running */
    atomic_int fetch_stop; /* 1: abort downloads (server stopping) */

    atomic_llong n_requests; /* metrics */
    atomic_llong n_created;
    atomic_llong n_rejected;  /* 4xx/5xx answers */
    atomic_llong n_destroyed; /* jobs removed by the reaper */
    atomic_llong n_overdue;   /* jobs stopped for exceeding executionDuration */
};

/* One request; created on the first access-handler call, freed when MHD completes it. */
struct http_request {
    struct otf_http_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    struct MHD_PostProcessor *pp;

    char *names[HTTP_MAX_FIELDS]; /* form fields then query arguments, in arrival order */
    char *values[HTTP_MAX_FIELDS];
    size_t n_fields;
    size_t form_bytes;
    char *last_field;     /* the field the previous chunk belonged to */
    int last_empty_start; /* that chunk was an empty one at offset 0 (value still to come) */

    struct otf_buf desc; /* job-description XML part */
    int has_desc;
    struct otf_buf raw; /* raw XML body (POST /jobs with Content-Type text/xml) */
    int is_raw_xml;

    char *upload_path;  /* temp file receiving the image */
    char *upload_field; /* the part name it came in */
    int upload_fd;
    int64_t upload_bytes;
    struct otf_sha256 upload_sha; /* over the bytes as they are written */
    char upload_sha256[65];       /* its hex once the file is complete ("" = not known) */

    int err_status;        /* deferred error found while reading the body (413, 400, 415) */
    int64_t drained_bytes; /* body bytes discarded after err_status was set */
    int has_length;        /* the request declared a Content-Length (within the caps) */
    char err_msg[OTF_ERRBUF_SIZE];

    const char *allow; /* methods of the resource, for a 405's Allow header (RFC 9110) */
    int want_json;
    char *owner; /* NULL = anonymous */
    int is_admin;

    int is_suspended; /* WAIT: suspended, waiting for the waiter thread */
    int is_resumed;   /* released by the waiter thread or by the end of an IMAGE_URL download */

    int fetch_done;                  /* the IMAGE_URL download ended (see upload_* or below) */
    enum otf_status fetch_rc;        /* its failure, OTF_OK if it succeeded */
    char fetch_msg[OTF_ERRBUF_SIZE]; /* the failure's message for the client */
};

/* ---- http_server.c ---- */
struct otf_store *http_store(struct otf_http_server *srv, struct otf_errbuf *eb);
void http_base_url(struct http_request *r, char *out, size_t n);
enum MHD_Result http_send(struct http_request *r, unsigned status, const char *type,
                          const char *body, size_t len, const char *location);
enum MHD_Result http_send_error(struct http_request *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum MHD_Result http_send_status(struct http_request *r, enum otf_status st,
                                 const struct otf_errbuf *eb);
enum MHD_Result http_redirect(struct http_request *r, const char *path);
const char *http_field(const struct http_request *r, const char *name);
size_t http_field_all(const struct http_request *r, const char *name, const char **out, size_t max);
unsigned http_status_for(enum otf_status st);

/* ---- http_jobs.c ---- */
enum MHD_Result http_route_jobs(struct http_request *r, const char *rest);

/* ---- http_vosi.c ---- */
enum MHD_Result http_route_service(struct http_request *r, const char *path);

/* ---- http_wait.c ---- */
enum otf_status http_wait_start(struct otf_http_server *srv, struct otf_errbuf *eb);
void http_wait_stop(struct otf_http_server *srv);
/* Wakes the WAIT thread (a new waiter, a change made in this process, stop); any thread. */
void http_wait_wake(struct otf_http_server *srv);
/* Suspends the request until the job leaves `phase` or `timeout_s` passes. 0 on success. */
int http_wait_suspend(struct http_request *r, const char *job_id, enum otf_phase phase,
                      int64_t timeout_s);

/* ---- http_reaper.c ---- */
enum otf_status http_reaper_start(struct otf_http_server *srv, struct otf_errbuf *eb);
void http_reaper_stop(struct otf_http_server *srv);
/* Removes a job's files (DATA/jobs/ID). */
void http_remove_job_files(struct otf_http_server *srv, const char *id);

/* ---- http_auth.c ---- */
enum otf_status http_auth_load(struct otf_http_server *srv, struct otf_errbuf *eb);
void http_auth_free(struct otf_http_server *srv);
/* Sets r->owner / r->is_admin from the Authorization header; returns 0, or 401 when the
 * service requires a token and none (or a wrong one) was given. */
unsigned http_auth_check(struct http_request *r);

/* ---- http_fetch.c ---- */
/* Downloads IMAGE_URL to `path` under the allow-list and size cap. */
enum otf_status http_fetch_image(const struct otf_http_server *srv, const char *url,
                                 const char *path, int64_t *n_bytes, char sha256_hex[65],
                                 struct otf_errbuf *eb);
/* Downloads IMAGE_URL for request `r` on a thread of its own, the request suspended meanwhile
 * (a slow archive must not hold an HTTP thread). When the download ends the request is resumed
 * and routed again with r->fetch_done set and the file in r->upload_* as if it had been
 * uploaded, or the failure in r->fetch_rc/fetch_msg. Returns 0, or -1 when no download can
 * start now (too many, or stopping): the request is then not suspended. */
int http_fetch_start(struct http_request *r, const char *url);
/* Aborts running downloads and waits until their requests are resumed. */
void http_fetch_stop(struct otf_http_server *srv);

#endif
