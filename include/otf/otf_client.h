/* libotfclient: a client of the CIANNA On-The-Fly UWS 1.1 job service (DESIGN §3) on libcurl.
 * Creates jobs (streaming a FITS upload from a file), reads job documents (JSON), lists jobs,
 * blocks with UWS WAIT, changes phases, deletes, downloads results and reads the model registry.
 * Every call sends `Accept: application/json`; HTTP errors are turned into an enum otf_status
 * plus the server's own message (from its JSON or DALI VOTable error document).
 *
 * Requests are retried, a bounded number of times with exponential backoff, when the server
 * answers 503 (honouring Retry-After) and on transient network failures (connection refused or
 * reset, empty reply). A job creation is only retried when the server cannot have created the
 * job (503, or no connection at all).
 *
 * Threads: call otf_client_global_init() once from the main thread before any other thread
 * starts. A struct otf_client belongs to one thread at a time (it holds one curl handle);
 * distinct clients may be used by distinct threads at once. Callbacks run on the calling thread.
 *
 * Ownership: `const` pointer arguments are borrowed for the call. `**out` results are written
 * only on success and are freed with the matching _free function.
 *
 *   struct otf_client_options o = {.url = "http://127.0.0.1:8080"};
 *   struct otf_client *c = NULL;
 *   struct otf_client_error err;
 *   char *id = NULL;
 *   struct otf_client_submit s = {.image_path = "field.fits", .model = "demo", .run = 1};
 *   otf_client_global_init();
 *   if (otf_client_open(&o, &c, &err) != OTF_OK || otf_client_create_job(c, &s, &id, &err))
 *       fprintf(stderr, "%s\n", err.msg);
 */
#ifndef OTF_CLIENT_H
#define OTF_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "otf/otf_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error detail of a failed call: fixed size, never allocated. Pass NULL where not wanted. */
#define OTF_CLIENT_ERROR_SIZE 512
struct otf_client_error {
    enum otf_status code;            /* the status the call returned */
    int http_status;                 /* the server's HTTP status, 0 when no answer was read */
    char msg[OTF_CLIENT_ERROR_SIZE]; /* one line for a person, e.g. the server's message */
};

/* UWS 1.1 phases. The numbers are those of the service (stable; never renumbered). */
enum otf_client_phase {
    OTF_CLIENT_PHASE_PENDING = 0,
    OTF_CLIENT_PHASE_QUEUED = 1,
    OTF_CLIENT_PHASE_EXECUTING = 2,
    OTF_CLIENT_PHASE_COMPLETED = 3,
    OTF_CLIENT_PHASE_ERROR = 4,
    OTF_CLIENT_PHASE_ABORTED = 5,
    OTF_CLIENT_PHASE_UNKNOWN = 6,
    OTF_CLIENT_PHASE_HELD = 7,
    OTF_CLIENT_PHASE_SUSPENDED = 8,
    OTF_CLIENT_PHASE_ARCHIVED = 9,
    OTF_CLIENT_PHASE__COUNT
};

/* "PENDING", ...; never NULL ("UNKNOWN" for out-of-range values). */
OTF_API const char *otf_client_phase_name(enum otf_client_phase p);
/* Exact UWS phase name -> value; OTF_E_INVAL for anything else. */
OTF_API enum otf_status otf_client_phase_parse(const char *s, enum otf_client_phase *out);
/* 1 for COMPLETED, ERROR, ABORTED, ARCHIVED: the job will not change any more. */
OTF_API int otf_client_phase_is_final(enum otf_client_phase p);

/* Connection settings. Zero fields take the defaults given in brackets. */
struct otf_client_options {
    const char *url;         /* service base URL, e.g. "https://host:8443" (required) */
    const char *token;       /* bearer token sent as Authorization, or NULL (anonymous) */
    long connect_timeout_ms; /* TCP+TLS connection [10000] */
    long timeout_ms;         /* whole answer of a short request [30000]; WAIT adds its wait */
    long stall_timeout_s;    /* uploads/downloads: give up after this long without a byte [60] */
    int max_retries;         /* retries after the first attempt; -1 for none [3] */
    long retry_base_ms;      /* first backoff; doubles each retry [500] */
    long retry_max_ms;       /* cap on one backoff or Retry-After wait [30000] */
    const char *ca_file;     /* CA bundle for TLS instead of the system one, or NULL */
    int tls_insecure;        /* 1: do not verify the server certificate (testing only) */
};

struct otf_client;

/* Initialises libcurl's globals; once, from the main thread, before threads. Idempotent. */
OTF_API enum otf_status otf_client_global_init(void);
OTF_API void otf_client_global_cleanup(void);

/* Opens a client for `o->url` (copied, trailing '/' removed). No request is made yet.
 * OTF_E_INVAL for a missing or non-http(s) URL. */
OTF_API enum otf_status otf_client_open(const struct otf_client_options *o, struct otf_client **out,
                                        struct otf_client_error *err);
/* Frees the client; NULL is a no-op. */
OTF_API void otf_client_close(struct otf_client *c);
/* The base URL in use (borrowed from the client). */
OTF_API const char *otf_client_url(const struct otf_client *c);

/* One job parameter (name and value as the service shows them). */
struct otf_client_param {
    char *name;
    char *value;
};

/* One result of a job: GET `href` returns it. */
struct otf_client_result {
    char *id;           /* "catalog", "regions", "provenance", "preview" */
    char *href;         /* absolute URL */
    char *mime;         /* media type, or NULL */
    int64_t size_bytes; /* -1 when not known */
};

/* A job as the service shows it. Times are microseconds since the Unix epoch, 0 = nil. In
 * job lists only id, href, phase, run_id, owner and creation_us are filled. All strings are
 * owned by the job (NULL when absent); free with otf_client_job_free. */
struct otf_client_job {
    char *id;
    char *href;
    char *run_id;
    char *owner;
    enum otf_client_phase phase;
    int64_t creation_us, start_us, end_us, quote_us, destruction_us;
    int64_t exec_duration_s; /* 0 = unlimited */
    struct otf_client_param *params;
    size_t n_params;
    struct otf_client_result *results;
    size_t n_results;
    char *error_summary; /* errorSummary message, or NULL */
    int error_is_fatal;
    int64_t patches_done;  /* progress (jobInfo) */
    int64_t patches_total; /* 0 = not known yet */
    char *stage;           /* "queued", "inference", ..., or NULL */
    int attempts;
    char *json;  /* the document as received (JSON text) */
    char *batch; /* the worker batch running it (jobInfo), or NULL (added last: the layout of
                    the members above is kept) */
};

OTF_API void otf_client_job_free(struct otf_client_job *j);
OTF_API void otf_client_job_array_free(struct otf_client_job **jobs, size_t n);
/* Value of a parameter by case-insensitive name, or NULL (borrowed from the job). */
OTF_API const char *otf_client_job_param(const struct otf_client_job *j, const char *name);

/* Parses a JSON job document (the body of GET /jobs/{id} with Accept: application/json).
 * OTF_E_FORMAT with a message when it is not one. */
OTF_API enum otf_status otf_client_parse_job(const char *text, size_t len,
                                             struct otf_client_job **out,
                                             struct otf_client_error *err);
/* Parses a JSON job list ({"jobs": [...]}) into an array of n jobs. */
OTF_API enum otf_status otf_client_parse_joblist(const char *text, size_t len,
                                                 struct otf_client_job ***out, size_t *n_out,
                                                 struct otf_client_error *err);
/* The message of an error document: JSON {"error": msg, "status": n} or a DALI VOTable with
 * INFO name="QUERY_STATUS" value="ERROR". Returns 1 and fills `msg` (size `n`), or 0 when the
 * body is neither. */
OTF_API int otf_client_parse_error_doc(const char *body, size_t len, char *msg, size_t n);
/* Seconds to wait from a Retry-After value (delta-seconds or an HTTP-date, relative to
 * `now_s`, Unix seconds); -1 when the value is neither. Never negative otherwise. */
OTF_API long otf_client_parse_retry_after(const char *value, int64_t now_s);

/* Upload progress: bytes sent so far and in all (0 if not known). Return non-zero to cancel
 * the transfer (the call then fails with OTF_E_IO "cancelled"). */
typedef int (*otf_client_progress_fn)(void *user, int64_t done_bytes, int64_t total_bytes);

/* What a new job is made of. Every string is borrowed for the call; NULL = not sent. */
struct otf_client_submit {
    const char *image_path;                /* FITS file streamed as the multipart part "image" */
    const char *image_url;                 /* IMAGE_URL: the server fetches the image */
    const char *model;                     /* MODEL */
    const char *precision;                 /* PRECISION */
    const char *run_id;                    /* RUNID */
    const struct otf_client_param *params; /* further parameters (ROI, RA, THRESHOLD, ...) */
    size_t n_params;
    int run;                         /* 1: PHASE=RUN, queue the job at once */
    otf_client_progress_fn progress; /* optional */
    void *progress_user;
};

/* POST /jobs (multipart/form-data). On success *job_id receives the new id (free()). Errors:
 * the server's (OTF_E_INVAL bad parameter, OTF_E_NOTFOUND unknown model, OTF_E_LIMIT too
 * large, OTF_E_AUTH, OTF_E_BUSY queue still full after the retries), OTF_E_IO for an
 * unreadable image file, OTF_E_NET, OTF_E_TIMEOUT. */
OTF_API enum otf_status otf_client_create_job(struct otf_client *c,
                                              const struct otf_client_submit *s, char **job_id,
                                              struct otf_client_error *err);

/* GET /jobs/{id}. OTF_E_NOTFOUND for an unknown job. */
OTF_API enum otf_status otf_client_get_job(struct otf_client *c, const char *id,
                                           struct otf_client_job **out,
                                           struct otf_client_error *err);

/* One UWS blocking request: GET /jobs/{id}?WAIT=wait_s[&PHASE=phase]. The server answers when
 * the job leaves `phase` (its current phase when `phase` is negative) or after wait_s seconds
 * (capped by the server); *out is the job as it is then. */
OTF_API enum otf_status otf_client_wait_job(struct otf_client *c, const char *id, int wait_s,
                                            int phase, struct otf_client_job **out,
                                            struct otf_client_error *err);

/* Called with each new state of a job while waiting; return non-zero to stop waiting (the
 * call then returns OTF_OK with the last state). */
typedef int (*otf_client_job_fn)(void *user, const struct otf_client_job *j);

/* Waits until the job reaches a final phase or `timeout_ms` passes (< 0: no limit), with
 * repeated WAIT requests of at most `step_s` seconds (<= 0: 10) so that `on_change` sees the
 * progress. *out (optional) receives the last state. OTF_E_TIMEOUT when time ran out (then
 * *out is still written). */
OTF_API enum otf_status otf_client_wait_final(struct otf_client *c, const char *id,
                                              int64_t timeout_ms, int step_s,
                                              otf_client_job_fn on_change, void *user,
                                              struct otf_client_job **out,
                                              struct otf_client_error *err);

/* Filters of GET /jobs (UWS 1.1 §2.2.2.1). */
struct otf_client_list_filter {
    uint32_t phase_mask; /* bit (1u << phase) per wanted phase; 0 = all */
    int64_t after_us;    /* AFTER (creation time), 0 = none */
    int64_t last;        /* LAST n most recent, 0 = none */
};

/* GET /jobs with filters; *jobs is an array of *n jobs (jobref fields only). */
OTF_API enum otf_status otf_client_list_jobs(struct otf_client *c,
                                             const struct otf_client_list_filter *f,
                                             struct otf_client_job ***jobs, size_t *n,
                                             struct otf_client_error *err);

/* POST /jobs/{id}/phase PHASE=RUN. OTF_E_STATE when the job cannot run (e.g. COMPLETED). */
OTF_API enum otf_status otf_client_run_job(struct otf_client *c, const char *id,
                                           struct otf_client_error *err);
/* POST /jobs/{id}/phase PHASE=ABORT. OTF_E_STATE when the job is already final. */
OTF_API enum otf_status otf_client_abort_job(struct otf_client *c, const char *id,
                                             struct otf_client_error *err);
/* DELETE /jobs/{id}: the job and its files. */
OTF_API enum otf_status otf_client_delete_job(struct otf_client *c, const char *id,
                                              struct otf_client_error *err);

/* GET /jobs/{id}/error: the job's error message (*msg, free()). OTF_E_NOTFOUND if none. */
OTF_API enum otf_status otf_client_get_job_error(struct otf_client *c, const char *id, char **msg,
                                                 struct otf_client_error *err);

/* Downloads GET /jobs/{id}/results/{name} into `path`: written to a temporary file beside it
 * and renamed when complete, so `path` never holds a partial result. `progress` (optional)
 * sees bytes received. *size_out (optional) receives the size. OTF_E_NOTFOUND when the job has
 * no such result. */
OTF_API enum otf_status otf_client_fetch_result(struct otf_client *c, const char *id,
                                                const char *name, const char *path,
                                                otf_client_progress_fn progress, void *user,
                                                int64_t *size_out, struct otf_client_error *err);

/* A model card from GET /models. */
struct otf_client_model {
    char *id;
    char *description;
    char **precisions;
    size_t n_precisions;
    char *card_json; /* the whole card, compact JSON */
};

/* GET /models: *models is an array of *n cards; free with otf_client_models_free. */
OTF_API enum otf_status otf_client_list_models(struct otf_client *c,
                                               struct otf_client_model **models, size_t *n,
                                               struct otf_client_error *err);
OTF_API void otf_client_models_free(struct otf_client_model *models, size_t n);

/* GET `path` (e.g. "/metrics", "/health") of the service as text: *body (free()) and its
 * length. Non-2xx answers are errors as above. */
OTF_API enum otf_status otf_client_get_text(struct otf_client *c, const char *path, char **body,
                                            size_t *len, struct otf_client_error *err);

/* One sample of /metrics (Prometheus text format). */
struct otf_client_metric {
    char *name;   /* e.g. "otf_queue_depth" */
    char *labels; /* the text inside {} (e.g. model="tiny",precision="FP32"), or "" */
    double value;
};

/* Parses Prometheus text (comments skipped, malformed lines ignored) into an array. */
OTF_API enum otf_status otf_client_parse_metrics(const char *text, size_t len,
                                                 struct otf_client_metric **out, size_t *n);
OTF_API void otf_client_metrics_free(struct otf_client_metric *m, size_t n);
/* Value of label `key` in a labels text ("a=\"x\",b=\"y\""), copied into `out` (size n);
 * returns 1 if found. */
OTF_API int otf_client_metric_label(const char *labels, const char *key, char *out, size_t n);

/* ---- SAMP (IVOA SAMP 1.3 Standard Profile; docs/cli.md "SAMP") ----
 * Sends a table or an image to the desktop tools (TOPCAT, Aladin, DS9) registered with the SAMP
 * hub of the user's session: finds the hub from SAMP_HUB (std-lockurl:file://...) or ~/.samp,
 * registers as "otf", notifies every subscribed client, unregisters. The receivers download the
 * URLs themselves, so they must be readable from their machine (file:// or an unprotected
 * http URL). Needs a build with libxmlrpc-c; otherwise every send fails with a clear message. */

/* What a hub's lockfile says (strings are NUL-terminated, empty when absent). */
struct otf_client_samp_hub {
    char secret[256];         /* samp.secret */
    char xmlrpc_url[1024];    /* samp.hub.xmlrpc.url */
    char profile_version[32]; /* samp.profile.version */
    char lockfile[1024];      /* where it was read (otf_client_samp_find_hub), or "" */
};

/* Parses the text of a Standard Profile lockfile (key=value lines, '#' comments). OTF_E_FORMAT
 * when samp.secret or samp.hub.xmlrpc.url is missing or too long, or a line is not key=value. */
OTF_API enum otf_status otf_client_samp_parse_lockfile(const char *text, size_t len,
                                                       struct otf_client_samp_hub *out,
                                                       struct otf_client_error *err);
/* Path of the lockfile named by a SAMP_HUB value (NULL or "" means `home`/.samp) into `path`
 * (size n). OTF_E_INVAL for a value that is not "std-lockurl:file:..."; OTF_E_LIMIT if too
 * long. */
OTF_API enum otf_status otf_client_samp_lockfile_path(const char *samp_hub, const char *home,
                                                      char *path, size_t n,
                                                      struct otf_client_error *err);
/* Reads the lockfile of the running hub (SAMP_HUB, else $HOME/.samp). OTF_E_NOTFOUND when there
 * is none ("no SAMP hub running"), OTF_E_FORMAT for a bad one. */
OTF_API enum otf_status otf_client_samp_find_hub(struct otf_client_samp_hub *out,
                                                 struct otf_client_error *err);
/* 1 when this build can send over SAMP (it was built with libxmlrpc-c). */
OTF_API int otf_client_samp_available(void);

/* What to send: a table (table.load.votable) and/or an image (image.load.fits). Strings are
 * borrowed; a NULL url skips that message, NULL ids and names are left out. */
struct otf_client_samp_send {
    const char *table_url;  /* VOTable URL */
    const char *table_id;   /* "table-id" */
    const char *table_name; /* "name" shown by the receiver */
    const char *image_url;  /* FITS URL */
    const char *image_id;   /* "image-id" */
    const char *image_name; /* "name" */
    long timeout_ms;        /* limit on each call to the hub [5000] */
};

/* Registers with the hub, declares samp.name "otf", sends samp.hub.notifyAll for each message,
 * unregisters. *n_table and *n_image (optional) receive how many clients the hub forwarded each
 * message to (0: nobody subscribed). Errors: OTF_E_NOTFOUND no hub (no lockfile), OTF_E_FORMAT
 * bad lockfile, OTF_E_NET hub not answering (stale lockfile), OTF_E_TIMEOUT, OTF_E_AUTH the hub
 * refused the registration, OTF_E_STATE the hub refused a message or SAMP is not built in,
 * OTF_E_INVAL nothing to send. Blocks for at most a few timeouts; any thread (a call creates
 * and destroys its own connection), after otf_client_global_init(). */
OTF_API enum otf_status otf_client_samp_notify(const struct otf_client_samp_send *s, int *n_table,
                                               int *n_image, struct otf_client_error *err);

#ifdef __cplusplus
}
#endif

#endif
