/* client: private declarations shared by the files of libotfclient (include/otf/otf_client.h).
 * One struct otf_client holds one curl easy handle; it is used by one thread at a time. */
#ifndef OTF_CLIENT_INT_H
#define OTF_CLIENT_INT_H

#include <curl/curl.h>
#include <stdio.h>

#include "core/core.h"
#include "otf/otf_client.h"

/* Largest document (job, list, models, metrics) kept in memory, bytes. */
#define CLIENT_DOC_MAX ((size_t)64 << 20)

struct otf_client {
    CURL *curl;
    char *url;                   /* base URL without trailing '/' */
    char *auth;                  /* "Authorization: Bearer ..." or NULL */
    struct otf_client_options o; /* defaults applied; url/token/ca_file point at own copies */
    char *ca_file;
    char curl_err[CURL_ERROR_SIZE];
};

/* One HTTP exchange. Zero fields mean "not used". */
struct client_req {
    const char *method; /* "GET" (default), "POST", "DELETE" */
    const char *path;   /* path below the base URL, with its query, already encoded */
    const char *form;   /* application/x-www-form-urlencoded body */
    /* multipart body, built afresh for each attempt: a body already sent is not replayed */
    curl_mime *(*build_mime)(CURL *h, const void *ctx, struct otf_client_error *err);
    const void *mime_ctx;
    int is_create;         /* POST /jobs: retried only when nothing can have been created */
    long extra_timeout_ms; /* added to the request timeout (WAIT) */
    int is_transfer;       /* upload/download: stall timeout instead of a total timeout */
    FILE *sink;            /* 2xx body goes to this file instead of memory */
    otf_client_progress_fn progress;
    void *progress_user;
    int progress_upload; /* 1: report upload bytes, 0: download bytes */
};

struct client_resp {
    long status;         /* HTTP status, 0 when there was no answer */
    struct otf_buf body; /* body (error bodies always; 2xx bodies unless req.sink) */
    char *location;      /* Location header, or NULL */
    char *retry_after;   /* Retry-After header, or NULL */
    char *content_type;  /* Content-Type header, or NULL */
    int cancelled;       /* the progress callback asked to stop */
};

void client_resp_init(struct client_resp *r);
void client_resp_cleanup(struct client_resp *r);

/* Performs `q` with retries (otf_client.h) and fills `r`. Returns OTF_OK for 2xx and 3xx
 * answers, else the mapped status with a message in `err` (the server's one when it sent an
 * error document). */
enum otf_status client_perform(struct otf_client *c, const struct client_req *q,
                               struct client_resp *r, struct otf_client_error *err);

/* Records an error: fills `err` (may be NULL) and returns `code`. */
enum otf_status client_fail(struct otf_client_error *err, enum otf_status code, int http_status,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The otf_status for an HTTP error status. */
enum otf_status client_status_for_http(long status);

/* Parses the body of GET /models ({"models": [card, ...]}). */
enum otf_status client_parse_models(const char *text, size_t len, struct otf_client_model **out,
                                    size_t *n_out, struct otf_client_error *err);

/* libxmlrpc-c's globals for SAMP (client_samp.c); no-ops in a build without SAMP. */
enum otf_status client_samp_global_init(void);
void client_samp_global_cleanup(void);

/* 1 when `id` may be put in a URL path as one segment (job and result ids). */
int client_id_ok(const char *id);

#endif
