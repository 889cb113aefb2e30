/* otfd: the CIANNA On-The-Fly server. Reads the configuration, loads the model registry, and
 * runs the UWS job service until SIGINT/SIGTERM. Inference runs in worker processes. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/core_config.h"
#include "fits/fits.h"
#include "http/http.h"
#include "model/model.h"
#include "otf_build_config.h"
#include "supervisor.h"
#include "uws/uws.h"

/* The registry as the HTTP layer sees it; built once at start, read-only afterwards. */
struct registry {
    struct otf_model_card *cards;
    size_t n_cards;
    struct otf_http_model *models;
    const char ***precisions;
};

static void registry_free(struct registry *reg)
{
    for (size_t i = 0; i < reg->n_cards; i++)
        free(reg->precisions[i]);
    free(reg->precisions);
    free(reg->models);
    otf_model_cards_free(reg->cards, reg->n_cards);
}

static enum otf_status registry_load(const char *dir, struct registry *reg, struct otf_errbuf *eb)
{
    enum otf_status rc = otf_model_scan_dir(dir, &reg->cards, &reg->n_cards, eb);
    if (rc != OTF_OK)
        return rc;
    reg->models = otf_xcalloc(reg->n_cards ? reg->n_cards : 1, sizeof *reg->models);
    reg->precisions = otf_xcalloc(reg->n_cards ? reg->n_cards : 1, sizeof *reg->precisions);
    for (size_t i = 0; i < reg->n_cards; i++) {
        const struct otf_model_card *c = &reg->cards[i];
        size_t k = 0;
        reg->precisions[i] = otf_xcalloc(c->n_precisions + 1, sizeof(char *));
        /* The HTTP layer compares canonical upper-case names (FP32, BF16, ...). */
        for (size_t p = 0; p < c->n_precisions; p++) {
            const char *canon = otf_uws_precision_canonical(c->precisions[p]);
            if (canon)
                reg->precisions[i][k++] = canon;
        }
        reg->models[i].id = c->id;
        reg->models[i].precisions = reg->precisions[i];
        reg->models[i].n_precisions = k;
        reg->models[i].card_json = c->card_json;
    }
    return OTF_OK;
}

/* The check run when a job is queued: the FITS header, the HDU and the region (DESIGN §3). */
static enum otf_status check_image(void *user, const char *path, const struct otf_job *j,
                                   struct otf_http_image_info *info, struct otf_errbuf *eb)
{
    struct otf_fits_info fi;
    const char *hdu = otf_uws_job_get_param(j, "hdu");
    const char *roi = otf_uws_job_get_param(j, "roi");
    const char *ra = otf_uws_job_get_param(j, "ra");
    const char *dec = otf_uws_job_get_param(j, "dec");
    const char *size = otf_uws_job_get_param(j, "size");
    enum otf_status rc;
    (void)user;

    if ((rc = otf_fits_probe(path, hdu, &fi, eb)) != OTF_OK) {
        otf_errbuf_prefix(eb, "image");
        return rc;
    }
    info->width = fi.width;
    info->height = fi.height;
    info->roi[0] = info->roi[1] = 0;
    info->roi[2] = fi.width;
    info->roi[3] = fi.height;
    if (roi && (ra || dec || size))
        return OTF_FAIL(eb, OTF_E_INVAL, "give either ROI or RA/DEC/SIZE, not both");
    if (roi) {
        int64_t b[4];
        if ((rc = otf_uws_parse_roi(roi, b, eb)) != OTF_OK)
            return rc;
        if (b[0] < 0 || b[1] < 0 || b[2] > fi.width || b[3] > fi.height || b[0] >= b[2] ||
            b[1] >= b[3])
            return OTF_FAIL(eb, OTF_E_INVAL,
                            "ROI %s is not inside the %lldx%lld image (0-based x0,y0 inclusive, "
                            "x1,y1 exclusive)",
                            roi, (long long)fi.width, (long long)fi.height);
        memcpy(info->roi, b, sizeof b);
    } else if (ra || dec || size) {
        double r, d, s;
        if (!ra || !dec || !size)
            return OTF_FAIL(eb, OTF_E_INVAL, "RA, DEC and SIZE go together (degrees)");
        if (otf_str_to_double(ra, &r) != OTF_OK || otf_str_to_double(dec, &d) != OTF_OK ||
            otf_str_to_double(size, &s) != OTF_OK)
            return OTF_FAIL(eb, OTF_E_INVAL, "RA, DEC and SIZE must be numbers (degrees)");
        if ((rc = otf_fits_probe_roi(path, hdu, r, d, s, info->roi, eb)) != OTF_OK)
            return rc;
    }
    return OTF_OK;
}

static int write_ready_file(const char *path, int port, const char *host)
{
    char text[300];
    struct otf_errbuf eb;
    int n = snprintf(text, sizeof text, "http://%s:%d\n", host, port);
    if (otf_fs_write_atomic(path, text, (size_t)n, &eb) != OTF_OK) {
        fprintf(stderr, "otfd: %s\n", eb.msg);
        return -1;
    }
    return 0;
}

/* The supervisor exists only once the server runs; /metrics may be asked before. */
static _Atomic(struct supervisor *) the_supervisor;

static void metrics_hook(void *user, struct otf_buf *out)
{
    (void)user;
    supervisor_metrics(atomic_load(&the_supervisor), out);
}

static void usage(FILE *f)
{
    fprintf(f,
            "otfd %s — CIANNA On-The-Fly server: an IVOA UWS 1.1 service that runs YOLO-CIANNA\n"
            "source detection on FITS images and returns VOTable catalogues.\n\n",
            OTF_VERSION_STRING);
    otf_config_print_help(f, "otfd");
    fprintf(f, "  --%-28s %s\n", "ready-file PATH",
            "write the service URL to PATH once listening (for scripts)");
    fprintf(f, "  --%-28s %s\n", "config-doc", "print the configuration reference (Markdown)");
    fprintf(f, "  --%-28s %s\n", "version", "print the version");
}

int main(int argc, char **argv)
{
    struct otf_config cfg;
    struct otf_errbuf eb = {0};
    struct registry reg = {0};
    struct otf_http_server_params hp;
    struct otf_http_server *srv = NULL;
    enum otf_log_level lvl;
    char *store_url = NULL, *host = NULL;
    const char *ready_file = NULL, *worker_id = NULL;
    struct supervisor *sv = NULL;
    char **args = otf_xcalloc((size_t)argc + 1, sizeof *args);
    int nargs = 0, sig = 0, rc = 1;
    sigset_t set;

    /* Program-level flags first; the rest belongs to the configuration table. */
    for (int i = 0; i < argc; i++) {
        if (i > 0 && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
            usage(stdout);
            free(args);
            return 0;
        }
        if (i > 0 && strcmp(argv[i], "--version") == 0) {
            printf("otfd %s\n", OTF_VERSION_STRING);
            free(args);
            return 0;
        }
        if (i > 0 && strcmp(argv[i], "--config-doc") == 0) {
            otf_config_write_doc(stdout);
            free(args);
            return 0;
        }
        if (i > 0 && strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc) {
            ready_file = argv[++i];
            continue;
        }
        if (i > 0 && strcmp(argv[i], "--worker-id") == 0 && i + 1 < argc) {
            worker_id = argv[++i];
            continue;
        }
        args[nargs++] = argv[i];
    }
    if (worker_id) { /* a worker process started by the supervisor */
        rc = supervisor_worker_main(worker_id, nargs, args);
        free(args);
        return rc;
    }
    otf_config_defaults(&cfg);
    if (otf_config_load(&cfg, nargs, args, &eb) != OTF_OK) {
        fprintf(stderr, "otfd: %s\n", eb.msg);
        rc = 2;
        goto out;
    }
    if (otf_log_level_parse(cfg.log_level, &lvl) != OTF_OK) {
        fprintf(stderr, "otfd: log_level must be debug, info, warn or error\n");
        rc = 2;
        goto out;
    }
    otf_log_setup(lvl, stderr);
    otf_uws_global_init(); /* libxml2, before any thread */
    if (otf_fs_mkdirs(cfg.data_dir, 1, &eb) != OTF_OK) {
        fprintf(stderr, "otfd: data directory: %s\n", eb.msg);
        goto out;
    }
    store_url = *cfg.store_url ? otf_xstrdup(cfg.store_url)
                               : otf_xasprintf("sqlite:%s/otf.db", cfg.data_dir);
    if (registry_load(cfg.models_dir, &reg, &eb) != OTF_OK) {
        fprintf(stderr, "otfd: models: %s\n", eb.msg);
        goto out;
    }
    if (reg.n_cards == 0)
        otf_log_warn("otfd", "no model folders found in %s: jobs cannot be queued", cfg.models_dir);
    for (size_t i = 0; i < reg.n_cards; i++)
        otf_log_info("otfd", "model %s (%zu precisions)", reg.models[i].id,
                     reg.models[i].n_precisions);

    memset(&hp, 0, sizeof hp);
    hp.http = cfg.http;
    hp.uws = cfg.uws;
    hp.queue_max_jobs = cfg.sched.queue_max_jobs;
    hp.data_dir = cfg.data_dir;
    hp.store_url = store_url;
    hp.models = reg.models;
    hp.n_models = reg.n_cards;
    hp.check_image = check_image;
    hp.run_reaper = 1;
    hp.metrics_extra = metrics_hook;

    /* Signals are taken synchronously by main; every other thread has them blocked. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (otf_http_server_start(&hp, &srv, &eb) != OTF_OK) {
        fprintf(stderr, "otfd: %s\n", eb.msg);
        goto out;
    }
    host = otf_xstrndup(cfg.http.listen, (size_t)(strrchr(cfg.http.listen, ':') - cfg.http.listen));
    otf_log_info("otfd", "listening on http://%s:%d (data %s, store %s, %zu models)", host,
                 otf_http_server_port(srv), cfg.data_dir, store_url, reg.n_cards);
    if (cfg.workers > 0) {
        if (supervisor_start(cfg.workers, nargs, args, store_url, cfg.data_dir, &sv, &eb) !=
            OTF_OK) {
            fprintf(stderr, "otfd: workers: %s\n", eb.msg);
            goto out;
        }
        atomic_store(&the_supervisor, sv);
    } else {
        otf_log_warn("otfd", "--workers 0: jobs are accepted and queued but not run here");
    }
    if (ready_file && write_ready_file(ready_file, otf_http_server_port(srv), host) != 0)
        goto out;
    while (sigwait(&set, &sig) != 0)
        ;
    otf_log_info("otfd", "signal %d: shutting down", sig);
    rc = 0;
out:
    atomic_store(&the_supervisor, NULL);
    otf_http_server_stop(srv); /* first: no request may still read the supervisor */
    supervisor_stop(sv);
    registry_free(&reg);
    free(store_url);
    free(host);
    free(args);
    otf_config_cleanup(&cfg);
    return rc;
}
