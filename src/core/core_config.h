/* Configuration: one declarative table {name, type, default, min, max, offset, help} (STYLE §6)
 * parsed from file (INI: `[batch] max_jobs = 8` is `batch.max_jobs`), then environment
 * (`OTF_BATCH_MAX_JOBS`), then flags (`--batch.max_jobs 8`, `--batch.max-jobs=8`); later wins.
 * The same table prints --help and generates docs/config.md.
 *
 * Threads: build the config in main() before starting threads; it is immutable afterwards and
 * modules receive their sub-struct by value.
 *
 *   struct otf_config cfg;
 *   otf_config_defaults(&cfg);
 *   if (otf_config_load(&cfg, argc, argv, &eb) != OTF_OK) { fprintf(stderr, "%s\n", eb.msg); }
 *   ...
 *   otf_config_cleanup(&cfg);
 */
#ifndef OTF_CORE_CONFIG_H
#define OTF_CORE_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "core/core.h"

struct otf_http_params {
    char *listen;                /* HOST:PORT */
    char *public_url;            /* base URL used in Location/xlink:href; "" = from Host header */
    int threads;                 /* libmicrohttpd thread-pool size */
    int max_connections;         /* simultaneous connections */
    int64_t upload_max_bytes;    /* cap on one uploaded FITS, bytes (413 above) */
    int64_t form_max_bytes;      /* cap on the non-file part of a request, bytes */
    int wait_max_s;              /* server-side cap on UWS WAIT, seconds */
    int64_t image_url_max_bytes; /* cap on an IMAGE_URL download, bytes */
    char *image_url_allow;       /* comma-separated host allow-list for IMAGE_URL ("" = none) */
    char *tokens_file;           /* bearer tokens file ("" = anonymous mode) */
    char *tls_cert;              /* PEM certificate ("" = plain HTTP) */
    char *tls_key;               /* PEM private key */
};

struct otf_uws_params {
    int64_t exec_duration_default_s; /* executionDuration given to new jobs, s (0 = unlimited) */
    int64_t exec_duration_max_s;     /* clamp for requested executionDuration, s */
    int64_t destruction_default_s;   /* destruction = creation + this, s */
    int64_t destruction_max_s;       /* clamp for requested destruction, s after creation */
    int list_max;                    /* most jobs in one job-list answer */
    int reaper_interval_ms;          /* how often destruction and duration limits are enforced */
    int64_t owner_max_jobs;          /* jobs one owner may hold (0 = unlimited) */
    int64_t owner_max_bytes;         /* disk one owner may use, bytes (0 = unlimited) */
};

struct otf_sched_params {
    int min_jobs;       /* batch.min_jobs */
    int max_jobs;       /* batch.max_jobs */
    int max_wait_ms;    /* batch.max_wait_ms, from the first queued job of the key */
    int max_patches;    /* batch.max_patches per forward micro-batch */
    int queue_max_jobs; /* queue.max_jobs: QUEUED jobs beyond it get 503 */
    int max_resident;   /* models.max_resident */
    int64_t memory_mb;  /* models.memory_mb budget for resident models */
    int hold_ms;        /* models.hold_ms before switching away from a busy model */
    int join;           /* batch.join: queued jobs may join a running batch of their key */
    int join_after_ms;  /* batch.join_after_ms: how long a key's oldest job waits before */
};

struct otf_engine_settings {
    char *backend;   /* engine.backend: reference | cpu | cuda | auto */
    int threads;     /* engine.threads (0 = all cores) */
    int helper_nice; /* engine.helper_nice: nice value of the reader and finisher threads */
    int winograd;    /* engine.winograd: 1 = Winograd for wide 3x3 fp32 convolutions */
    int streams;     /* engine.streams: parts each forward runs as, at once */
};

struct otf_config {
    char *config_file; /* --config */
    char *data_dir;    /* --data */
    char *models_dir;  /* --models */
    char *store_url;   /* --store ("" = sqlite:<data>/otf.db) */
    int workers;       /* --workers: inference worker processes */
    char *log_level;   /* debug|info|warn|error */
    struct otf_http_params http;
    struct otf_uws_params uws;
    struct otf_sched_params sched;
    struct otf_engine_settings engine;
};

/* Fills every field with its default. */
void otf_config_defaults(struct otf_config *c);
/* Frees the strings. */
void otf_config_cleanup(struct otf_config *c);
/* Reads --config FILE (if given among argv), then OTF_* environment, then flags from argv[1..].
 * Non-option arguments and unknown flags are errors (OTF_E_INVAL with the flag in `eb`). */
enum otf_status otf_config_load(struct otf_config *c, int argc, char **argv, struct otf_errbuf *eb);
/* Sets one item by name ("batch.max_jobs"; '-' and '_' are equivalent). */
enum otf_status otf_config_set(struct otf_config *c, const char *name, const char *value,
                               struct otf_errbuf *eb);
/* Usage text from the table. */
void otf_config_print_help(FILE *f, const char *prog);
/* Markdown reference from the table (docs/config.md). */
void otf_config_write_doc(FILE *f);
/* Parses "123", "10k", "512M", "4G" (powers of 1024) into bytes. */
enum otf_status otf_config_parse_bytes(const char *s, int64_t *out);

#endif
