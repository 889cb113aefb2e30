/* uws: the IVOA UWS 1.1 job model — phases and their transitions, job parameters (DALI names,
 * case-insensitive), the job-description XML of the original CIANNA OTF client, and the UWS
 * documents (uws:job, uws:jobs, uws:parameters, uws:results) in XML and JSON. No I/O: callers
 * (http, store, worker) own sockets, files and databases.
 *
 * Threads: no shared state; every function may be called from any thread on distinct objects,
 * once otf_uws_global_init() has run (libxml2 must be initialised before threads use it).
 *
 *   struct otf_job *j = otf_uws_job_new();
 *   otf_uws_job_set_param(j, "MODEL", "demo", 0);
 *   struct otf_buf out; otf_buf_init(&out, 1 << 20);
 *   otf_uws_job_write_xml(j, "http://127.0.0.1:8080", &out);
 *   otf_uws_job_free(j);
 */
#ifndef OTF_UWS_H
#define OTF_UWS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Initialises libxml2's globals. Call once from the main thread before starting threads that
 * use this module (otfd, the worker); idempotent. */
void otf_uws_global_init(void);

/* UWS 1.1 execution phases; the numbers are stored in databases: never renumber. */
enum otf_phase {
    OTF_PHASE_PENDING = 0,
    OTF_PHASE_QUEUED = 1,
    OTF_PHASE_EXECUTING = 2,
    OTF_PHASE_COMPLETED = 3,
    OTF_PHASE_ERROR = 4,
    OTF_PHASE_ABORTED = 5,
    OTF_PHASE_UNKNOWN = 6,
    OTF_PHASE_HELD = 7,
    OTF_PHASE_SUSPENDED = 8,
    OTF_PHASE_ARCHIVED = 9,
    OTF_PHASE__COUNT
};

#define OTF_PHASE_BIT(p) (1u << (p))

/* "PENDING", ...; never NULL. */
const char *otf_uws_phase_name(enum otf_phase p);
/* Exact (case-sensitive, as DALI values are) phase name; OTF_E_INVAL otherwise. */
enum otf_status otf_uws_phase_parse(const char *s, enum otf_phase *out);
/* COMPLETED, ERROR, ABORTED, ARCHIVED. */
int otf_uws_phase_is_final(enum otf_phase p);
/* PENDING, QUEUED, EXECUTING: the phases in which WAIT blocks (UWS 1.1 blocking behaviour). */
int otf_uws_phase_is_active(enum otf_phase p);

/* Client actions on {job}/phase. */
enum otf_uws_action { OTF_UWS_ACTION_RUN, OTF_UWS_ACTION_ABORT };

/* 1 when the server may move a job from `from` to `to` (worker, scheduler, reaper): PENDING ->
 * QUEUED|HELD|ABORTED|ERROR; QUEUED -> EXECUTING|HELD|ABORTED|ERROR; EXECUTING -> COMPLETED|
 * ERROR|ABORTED|SUSPENDED|QUEUED (retry after a worker crash); HELD -> QUEUED|ABORTED|ERROR;
 * SUSPENDED -> EXECUTING|QUEUED|ABORTED|ERROR; UNKNOWN -> ERROR|ABORTED; every phase but
 * ARCHIVED -> ARCHIVED (destruction). from == to is allowed (no change). Final phases never move
 * except to ARCHIVED. */
int otf_uws_phase_can_change(enum otf_phase from, enum otf_phase to);

/* The phase a client action leads to from `from`: RUN from PENDING or HELD -> QUEUED; ABORT from
 * PENDING, QUEUED, EXECUTING, HELD, SUSPENDED -> ABORTED. RUN on QUEUED/EXECUTING is a no-op
 * (*to = from). Anything else is OTF_E_STATE with a message in `eb`. */
enum otf_status otf_uws_phase_after(enum otf_phase from, enum otf_uws_action act,
                                    enum otf_phase *to, struct otf_errbuf *eb);

/* Longest parameter name and value accepted by otf_uws_param_check, bytes. */
#define OTF_UWS_NAME_MAX  64
#define OTF_UWS_VALUE_MAX 8192

/* One job parameter. `name` is canonical lower case for known parameters (see
 * otf_uws_param_canonical), else lower case of what the client sent. */
struct otf_param {
    char *name;
    char *value;
    int by_reference; /* 1: value is a URL (e.g. the uploaded image) */
};

/* One result of a COMPLETED job; its URL is {base}/jobs/{id}/results/{id}. */
struct otf_result {
    char *id;   /* "catalog", "regions", "provenance", "preview" */
    char *mime; /* e.g. "application/x-votable+xml" */
    int64_t size_bytes;
};

/* A job as stored and as shown. Times are microseconds since the Unix epoch; 0 means nil.
 * All strings are owned by the job and freed by otf_uws_job_free. */
struct otf_job {
    char id[40];              /* [a-z0-9]+ */
    char *run_id;             /* RUNID, or NULL */
    char *owner;              /* owner id, or NULL in anonymous mode */
    enum otf_phase phase;     /* current phase */
    int64_t creation_us;      /* creationTime */
    int64_t start_us;         /* startTime, 0 = nil */
    int64_t end_us;           /* endTime, 0 = nil */
    int64_t quote_us;         /* quote, 0 = nil (unknown) */
    int64_t exec_duration_s;  /* executionDuration, s, 0 = unlimited */
    int64_t destruction_us;   /* destruction, 0 = nil */
    struct otf_param *params; /* parameters in insertion order */
    size_t n_params;          /* entries in params */
    struct otf_result *results;
    size_t n_results;
    char *error_summary;   /* errorSummary message, NULL if none */
    int error_is_fatal;    /* errorSummary type: 1 fatal, 0 transient */
    int64_t patches_done;  /* progress, shown in jobInfo */
    int64_t patches_total; /* 0 = not known yet */
    char *stage;           /* current stage ("queued", "reading", "inference", ...), or NULL */
    int attempts;          /* executions started (worker retries) */
    int64_t upload_bytes;  /* bytes of input files kept for this job (owner quota) */
    char *batch;           /* the worker batch running it ("worker/run-n"), or NULL */
};

/* Allocates an empty PENDING job (never NULL; aborts on OOM). */
struct otf_job *otf_uws_job_new(void);
/* Deep copy. */
struct otf_job *otf_uws_job_dup(const struct otf_job *j);
/* Frees the job and everything it owns; NULL is a no-op. */
void otf_uws_job_free(struct otf_job *j);
/* Frees an array of n jobs and the array itself. */
void otf_uws_job_array_free(struct otf_job **jobs, size_t n);

/* Canonical name of a parameter: DALI names are case-insensitive, so "Model", "MODEL" -> "model".
 * Known names: image, image_url, model, precision, hdu, ra, dec, size, roi, threshold, nms, runid.
 * Writes lower case into `out` (size `n`); returns 1 if the name is a known parameter. */
int otf_uws_param_canonical(const char *name, char *out, size_t n);
/* Sets (replaces) a parameter by canonical name; `by_reference` as in uws:parameter. Copies
 * `name` and `value`. Setting "runid" also sets j->run_id (and deleting it clears run_id). */
void otf_uws_job_set_param(struct otf_job *j, const char *name, const char *value,
                           int by_reference);
/* Value of a parameter by any-case name, or NULL. Borrowed from the job. */
const char *otf_uws_job_get_param(const struct otf_job *j, const char *name);
/* Removes a parameter if present. */
void otf_uws_job_del_param(struct otf_job *j, const char *name);
/* Adds or replaces a result entry. */
void otf_uws_job_set_result(struct otf_job *j, const char *id, const char *mime,
                            int64_t size_bytes);

/* Sets (replaces, NULL clears) errorSummary's message and type. */
void otf_uws_job_set_error(struct otf_job *j, const char *message, int is_fatal);
/* Sets (replaces, NULL clears) the progress stage shown in jobInfo. */
void otf_uws_job_set_stage(struct otf_job *j, const char *stage);
/* Sets (replaces, NULL clears) the owner id. */
void otf_uws_job_set_owner(struct otf_job *j, const char *owner);

/* Checks one parameter value's syntax (numbers finite, RA in [0,360], DEC in [-90,90], SIZE > 0,
 * ROI "x0,y0,x1,y1" integers with x0<x1, y0<y1, PRECISION a known name or CIANNA alias, HDU a
 * number >= 0 or a safe name, THRESHOLD/NMS in [0,1], MODEL a safe name, IMAGE_URL http(s)).
 * Every name must be 1..OTF_UWS_NAME_MAX of [A-Za-z0-9_.-] and every value at most
 * OTF_UWS_VALUE_MAX bytes of UTF-8 text without control characters (so that the UWS documents
 * stay well-formed). Unknown names are accepted (DALI), their values only get the text check.
 * OTF_E_INVAL with a message naming the parameter otherwise. */
enum otf_status otf_uws_param_check(const char *name, const char *value, struct otf_errbuf *eb);

/* Parses ROI "x0,y0,x1,y1" (0-based pixel indices, x1/y1 excluded, x0 < x1, y0 < y1) into
 * c[4]; OTF_E_INVAL with a message otherwise. Whether the box lies inside an image is the
 * caller's check. */
enum otf_status otf_uws_parse_roi(const char *value, int64_t c[4], struct otf_errbuf *eb);

/* Canonical precision name ("FP32", "BF16", "FP16", "TF32", "INT8") for a precision or a CIANNA
 * alias (FP32C_FP32A -> FP32, BF16C_FP32A -> BF16, FP16C_FP32A -> FP16, TF32C_FP32A -> TF32),
 * case-insensitive; NULL if unknown. */
const char *otf_uws_precision_canonical(const char *s);

/* Limits on a job-description document: bytes, parameters, element nesting. */
#define OTF_UWS_DESCRIPTION_MAX        (1 << 20)
#define OTF_UWS_DESCRIPTION_MAX_PARAMS 256
#define OTF_UWS_DESCRIPTION_MAX_DEPTH  16

/* Parses the job-description XML of the original CIANNA OTF client: a uws:job (or bare
 * uws:parameters) whose uws:parameter elements carry id="ModelName|Quantization|RA|DEC|
 * ROI_Width|ROI_Height|..." and map onto model, precision, ra, dec, size (the larger of
 * ROI_Width/ROI_Height, in degrees) and any other parameter by its own name, except IMAGE
 * (OTF_E_INVAL: the server sets it from the upload). Parsed with no
 * network access and no entity expansion (any DOCTYPE is refused). Names come out canonical
 * (lower case) and every value has passed otf_uws_param_check.
 * On success *out and *n_out receive a new array (NULL and 0 when there is no parameter; free
 * it with otf_uws_params_free). Errors: OTF_E_FORMAT for malformed or hostile XML (DOCTYPE,
 * entities, nesting over OTF_UWS_DESCRIPTION_MAX_DEPTH, wrong root, repeated parameter),
 * OTF_E_LIMIT for more than OTF_UWS_DESCRIPTION_MAX bytes or OTF_UWS_DESCRIPTION_MAX_PARAMS
 * parameters, OTF_E_INVAL for a bad value; `eb` says which and where (line). */
enum otf_status otf_uws_parse_description(const char *xml, size_t len, struct otf_param **out,
                                          size_t *n_out, struct otf_errbuf *eb);
void otf_uws_params_free(struct otf_param *p, size_t n);

/* {base_url}/jobs/{job_id} and {base_url}/jobs/{job_id}/results/{result_id}, the ids
 * percent-encoded as path segments. New strings (free()); never NULL. */
char *otf_uws_job_url(const char *base_url, const char *job_id);
char *otf_uws_result_url(const char *base_url, const char *job_id, const char *result_id);

/* ---- documents. `base_url` is "http://host:port" with no trailing slash; job URLs are
 * {base_url}/jobs/{id}. Appends to `out`; OTF_E_LIMIT if its cap is reached. ---- */

/* Namespace of the progress element inside uws:jobInfo. */
#define OTF_UWS_NS_JOBINFO "urn:cianna-otf"

/* uws:job, version="1.1", children in XSD order, xsi:nil where empty, UTC times with Z;
 * uws:jobInfo carries <otf:progress> (xmlns:otf=OTF_UWS_NS_JOBINFO) with patchesDone,
 * patchesTotal (0 = not known yet), stage (if any) and attempts. errorSummary has
 * hasDetail="true": {job}/error serves the message. Bytes that are not XML text (bad UTF-8,
 * control characters) are written as U+FFFD. On failure `out` is left as it was. */
enum otf_status otf_uws_job_write_xml(const struct otf_job *j, const char *base_url,
                                      struct otf_buf *out);
/* The same content as JSON, one compact object: {"version":"1.1", "jobId", "href", "runId",
 * "ownerId", "phase", "quote", "creationTime", "startTime", "endTime", "executionDuration",
 * "destruction", "parameters":{name: value}, "results":[{"id","href","mimeType","size"}],
 * "errorSummary":{"type","hasDetail","message"}, "jobInfo":{"patchesDone","patchesTotal",
 * "stage","attempts"}}; absent values and nil times are null. */
enum otf_status otf_uws_job_write_json(const struct otf_job *j, const char *base_url,
                                       struct otf_buf *out);
/* uws:jobs with one uws:jobref (phase, runId?, ownerId, creationTime) per job; as JSON
 * {"version":"1.1","jobs":[{"jobId","href","phase","runId","ownerId","creationTime"}]}. */
enum otf_status otf_uws_joblist_write_xml(struct otf_job *const *jobs, size_t n,
                                          const char *base_url, struct otf_buf *out);
enum otf_status otf_uws_joblist_write_json(struct otf_job *const *jobs, size_t n,
                                           const char *base_url, struct otf_buf *out);
/* uws:parameters and uws:results documents (the {job}/parameters and {job}/results resources). */
enum otf_status otf_uws_parameters_write_xml(const struct otf_job *j, struct otf_buf *out);
enum otf_status otf_uws_results_write_xml(const struct otf_job *j, const char *base_url,
                                          struct otf_buf *out);
/* A DALI error document: VOTable 1.4 with INFO name="QUERY_STATUS" value="ERROR" and the
 * message; or {"error": message, "status": http_status} as JSON. */
enum otf_status otf_uws_error_write_votable(const char *message, struct otf_buf *out);
enum otf_status otf_uws_error_write_json(const char *message, int http_status, struct otf_buf *out);

#endif
