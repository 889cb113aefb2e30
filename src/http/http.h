/* http: the UWS 1.1 job service on libmicrohttpd (DESIGN §3). Routes requests to the UWS
 * resources, streams uploads to the data directory, validates jobs at the door, blocks WAIT
 * requests without holding a thread (suspend/resume), serves VOSI and the model registry, and
 * runs the reaper that enforces destruction times and execution durations.
 *
 * The server never runs inference; it only records jobs. What it must know of models and FITS
 * comes from its caller (otfd) as plain data and a callback, so http depends on uws, store and
 * core only (STYLE §2).
 *
 * Threads: otf_http_server_start spawns libmicrohttpd's thread pool, a waiter thread (WAIT) and
 * the reaper thread; each thread opens its own store handle. start/stop are called from one
 * thread (main).
 *
 *   struct otf_http_server *srv = NULL;
 *   if (otf_http_server_start(&params, &srv, &eb) != OTF_OK) ...
 *   ... wait for a signal ...
 *   otf_http_server_stop(srv);
 */
#ifndef OTF_HTTP_H
#define OTF_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "core/core_config.h"
#include "uws/uws.h"

/* A model as the server shows it (/models) and checks it (MODEL, PRECISION). Borrowed. */
struct otf_http_model {
    const char *id;
    const char *const *precisions; /* canonical names ("FP32", "BF16", ...) */
    size_t n_precisions;
    const char *card_json; /* the model card as a JSON object text */
};

/* Facts about an uploaded image that the validation callback reports. */
struct otf_http_image_info {
    int64_t width, height; /* pixels of the chosen image HDU */
    int64_t roi[4];        /* x0, y0, x1, y1 (0-based, exclusive end) of the region to process */
};

/* Validates the image of a job being queued: `path` is the FITS file, `j` the job with all its
 * parameters (hdu, ra/dec/size, roi). Returns OTF_OK and fills `info`, or an error status with a
 * message for the client in `eb` (OTF_E_FORMAT bad file, OTF_E_INVAL bad region). Called from
 * HTTP threads concurrently: must be thread-safe. */
typedef enum otf_status (*otf_http_check_image_fn)(void *user, const char *path,
                                                   const struct otf_job *j,
                                                   struct otf_http_image_info *info,
                                                   struct otf_errbuf *eb);

/* A hook that appends extra Prometheus lines to /metrics (e.g. worker statistics); optional. */
typedef void (*otf_http_metrics_fn)(void *user, struct otf_buf *out);

struct otf_http_server_params {
    struct otf_http_params http;         /* listen address, caps, auth, TLS */
    struct otf_uws_params uws;           /* durations, destruction, list size, reaper */
    int queue_max_jobs;                  /* QUEUED jobs beyond which creation answers 503 */
    const char *data_dir;                /* data directory (jobs/, tmp/) */
    const char *store_url;               /* store URL for otf_store_open */
    const struct otf_http_model *models; /* borrowed for the server's lifetime */
    size_t n_models;
    otf_http_check_image_fn check_image; /* required */
    void *check_image_user;
    otf_http_metrics_fn metrics_extra; /* optional */
    void *metrics_user;
    int run_reaper; /* 1: this server enforces destruction and execution duration */
};

struct otf_http_server;

/* Starts serving. Creates the data directory layout, opens the store (migrating it), loads the
 * token file, binds the socket. *out is written on success only. */
enum otf_status otf_http_server_start(const struct otf_http_server_params *p,
                                      struct otf_http_server **out, struct otf_errbuf *eb);
/* The port actually bound (useful with port 0). */
int otf_http_server_port(const struct otf_http_server *srv);
/* Stops accepting, releases blocked WAITs, joins threads, frees. NULL is a no-op. */
void otf_http_server_stop(struct otf_http_server *srv);
/* Wakes blocked WAIT requests now (e.g. after a change made by this process). Thread-safe. */
void otf_http_server_notify(struct otf_http_server *srv);

#endif
