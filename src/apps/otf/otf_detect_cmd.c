/* otf detect: the detection pipeline without a server (DESIGN §11): FITS image + model ->
 * VOTable catalogue, and on request DS9 regions, PROV-JSON/PROV-N provenance and a PNG preview.
 * A progress bar goes to stderr when it is a terminal; errors are one line on stderr. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/otf/otf_cli.h"
#include "core/core.h"
#include "detect/detect.h"
#include "engine/engine.h"
#include "fits/fits.h"
#include "formats/formats.h"
#include "model/model.h"
#include "otf_build_config.h"
#include "uws/uws.h"

static void usage_detect(FILE *f)
{
    fprintf(f,
            "usage: otf detect FILE.fits --model ID|DIR [options]\n"
            "Detects sources in a FITS image with a YOLO-CIANNA model, without a server.\n\n"
            "  -m, --model ID|DIR      model folder, or a model id looked up in --models\n"
            "      --models DIR        folder of model folders (default: $OTF_MODELS or ./models)\n"
            "  -o, --output OUT.vot    VOTable catalogue (default: FILE stem + .vot; - = stdout)\n"
            "      --binary2           write the VOTable rows as BINARY2 (default TABLEDATA)\n"
            "      --regions R.reg     DS9 region file\n"
            "      --preview P.png     PNG preview with the detections drawn\n"
            "      --stretch zscale|asinh   preview stretch (default zscale)\n"
            "      --provenance P.json IVOA provenance, PROV-JSON (P.provn: PROV-N)\n"
            "      --roi x0,y0,x1,y1   pixel region, 0-based, end exclusive\n"
            "      --ra DEG --dec DEG --size DEG   region centred on a sky position\n"
            "      --hdu N|EXTNAME     HDU to read (default: the first 2-D image)\n"
            "      --precision fp32|bf16   inference precision (default fp32)\n"
            "      --backend auto|cpu|reference   engine backend (default auto)\n"
            "      --batch N           patches per forward pass (default 4)\n"
            "      --threads N         CPU threads (default: all)\n"
            "      --direct            direct convolutions only (default: Winograd for the wide\n"
            "                          3x3 fp32 ones, faster, within 3e-6 of direct)\n"
            "  -q, --quiet             no progress bar and no summary\n"
            "  -h, --help              this help\n\n"
            "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

struct progress {
    int enabled;
    int last_pct;
    int64_t t0;
};

static void on_progress(void *user, int64_t done, int64_t total, const char *stage)
{
    struct progress *p = user;
    int pct, width = 30, fill;

    if (!p->enabled || total <= 0)
        return;
    pct = (int)(100 * done / total);
    if (strcmp(stage, "patches") != 0) {
        fprintf(stderr, "\r%-12s %s%-40s", stage, done >= total ? "done" : "...", "");
        if (strcmp(stage, "finish") == 0 && done >= total)
            fprintf(stderr, "\n");
        fflush(stderr);
        return;
    }
    if (pct == p->last_pct && done != total)
        return;
    p->last_pct = pct;
    fill = (int)(width * done / total);
    fprintf(stderr, "\rpatches      [%.*s%*s] %3d%% %lld/%lld %.1fs", fill,
            "##############################", width - fill, "", pct, (long long)done,
            (long long)total, (double)(otf_time_mono_us() - p->t0) / 1e6);
    fflush(stderr);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int parse_double(const char *s, double *out)
{
    return otf_str_to_double(s, out) == OTF_OK ? 0 : -1;
}

/* FILE stem + ext in the current folder: "data/img.fits" -> "img.vot". */
static char *default_output(const char *in, const char *ext)
{
    const char *base = strrchr(in, '/');
    const char *dot;
    base = base ? base + 1 : in;
    dot = strrchr(base, '.');
    if (dot && dot != base && (strcmp(dot, ".fz") == 0 || strcmp(dot, ".gz") == 0)) {
        const char *d2 = dot;
        while (d2 > base && *--d2 != '.')
            ;
        if (d2 > base)
            dot = d2;
    }
    return otf_xasprintf("%.*s%s", (int)(dot && dot != base ? dot - base : (long)strlen(base)),
                         base, ext);
}

static char *fmt_list(const double *v, size_t n)
{
    struct otf_buf b;
    otf_buf_init(&b, 4096);
    for (size_t i = 0; i < n; i++)
        (void)otf_buf_printf(&b, "%s%g", i ? "," : "", v[i]);
    return otf_buf_steal(&b, NULL);
}

static char *fmt_levels(const struct otf_detect_level *l, size_t n)
{
    struct otf_buf b;
    otf_buf_init(&b, 4096);
    for (size_t i = 0; i < n; i++)
        (void)otf_buf_printf(&b, "%s%g@%g", i ? "," : "", l[i].value, l[i].obj_below);
    return otf_buf_steal(&b, NULL);
}

typedef enum otf_status (*writer_fn)(FILE *f, void *ctx, struct otf_errbuf *eb);

static enum otf_status save(const char *path, writer_fn fn, void *ctx, struct otf_errbuf *eb)
{
    struct otf_formats_file of;
    enum otf_status rc = otf_formats_file_open(&of, path, eb);
    if (rc != OTF_OK)
        return rc;
    rc = fn(of.f, ctx, eb);
    if (rc != OTF_OK) {
        otf_formats_file_abort(&of);
        return rc;
    }
    return otf_formats_file_commit(&of, eb);
}

struct out_ctx {
    const struct otf_detect_catalog *cat;
    const struct otf_formats_run_info *info;
    int binary2;
    struct otf_fits_image *img;
    const struct otf_formats_png_params *png;
};

static enum otf_status w_vot(FILE *f, void *c, struct otf_errbuf *eb)
{
    struct out_ctx *o = c;
    return otf_formats_write_votable(f, o->cat, o->info,
                                     o->binary2 ? OTF_FORMATS_BINARY2 : OTF_FORMATS_TABLEDATA, eb);
}

static enum otf_status w_ds9(FILE *f, void *c, struct otf_errbuf *eb)
{
    struct out_ctx *o = c;
    return otf_formats_write_ds9(f, o->cat, o->info, eb);
}

static enum otf_status w_prov_json(FILE *f, void *c, struct otf_errbuf *eb)
{
    struct out_ctx *o = c;
    return otf_formats_write_prov_json(f, o->cat, o->info, eb);
}

static enum otf_status w_prov_n(FILE *f, void *c, struct otf_errbuf *eb)
{
    struct out_ctx *o = c;
    return otf_formats_write_prov_n(f, o->cat, o->info, eb);
}

static enum otf_status w_png(FILE *f, void *c, struct otf_errbuf *eb)
{
    struct out_ctx *o = c;
    return otf_formats_write_png(f, o->img, o->cat, o->png, eb);
}

enum {
    OPT_MODELS = 256,
    OPT_REGIONS,
    OPT_PREVIEW,
    OPT_PROV,
    OPT_ROI,
    OPT_RA,
    OPT_DEC,
    OPT_SIZE,
    OPT_HDU,
    OPT_PRECISION,
    OPT_BACKEND,
    OPT_BINARY2,
    OPT_BATCH,
    OPT_THREADS,
    OPT_STRETCH,
    OPT_DIRECT,
};

int otf_cli_detect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"models", required_argument, NULL, OPT_MODELS},
        {"output", required_argument, NULL, 'o'},
        {"regions", required_argument, NULL, OPT_REGIONS},
        {"preview", required_argument, NULL, OPT_PREVIEW},
        {"provenance", required_argument, NULL, OPT_PROV},
        {"roi", required_argument, NULL, OPT_ROI},
        {"ra", required_argument, NULL, OPT_RA},
        {"dec", required_argument, NULL, OPT_DEC},
        {"size", required_argument, NULL, OPT_SIZE},
        {"hdu", required_argument, NULL, OPT_HDU},
        {"precision", required_argument, NULL, OPT_PRECISION},
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"binary2", no_argument, NULL, OPT_BINARY2},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"stretch", required_argument, NULL, OPT_STRETCH},
        {"direct", no_argument, NULL, OPT_DIRECT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *models = getenv("OTF_MODELS"), *output = NULL, *regions = NULL;
    const char *preview = NULL, *prov = NULL, *hdu = NULL, *backend = "auto";
    const char *precision = "fp32", *input;
    char *model_dir = NULL, *out_default = NULL, *prov_n = NULL;
    int64_t roi[4];
    int has_roi = 0, has_ra = 0, has_dec = 0, has_size = 0, binary2 = 0, quiet = 0;
    int batch = 4, threads = 0, direct = 0;
    double ra = 0, dec = 0, size = 0;
    struct otf_formats_png_params png;
    struct otf_errbuf eb = {0};
    struct otf_model_manifest *man = NULL;
    struct otf_model_net *net = NULL;
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    struct otf_engine *eng = NULL;
    struct otf_detect_catalog *cat = NULL;
    struct otf_detect_config cfg;
    struct otf_detect_timings tm = {0};
    struct otf_fits_meta meta;
    enum otf_engine_precision prec;
    char in_sha[65] = "", job_id[32], hdu_txt[16];
    char *p_obj = NULL, *p_nms1 = NULL, *p_med = NULL, *p_misc[8] = {0};
    int ret = OTF_CLI_EXIT_FAIL, c;
    enum otf_status rc;

    otf_formats_png_params_init(&png);
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case OPT_MODELS:
            models = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case OPT_REGIONS:
            regions = optarg;
            break;
        case OPT_PREVIEW:
            preview = optarg;
            break;
        case OPT_PROV:
            prov = optarg;
            break;
        case OPT_ROI:
            if (otf_uws_parse_roi(optarg, roi, NULL) != OTF_OK) {
                fprintf(stderr, "otf detect: --roi wants x0,y0,x1,y1 (integers)\n");
                return OTF_CLI_EXIT_USAGE;
            }
            has_roi = 1;
            break;
        case OPT_RA:
        case OPT_DEC:
        case OPT_SIZE: {
            double v;
            if (parse_double(optarg, &v) != 0) {
                fprintf(stderr, "otf detect: --%s wants a number of degrees\n",
                        c == OPT_RA ? "ra" : (c == OPT_DEC ? "dec" : "size"));
                return OTF_CLI_EXIT_USAGE;
            }
            if (c == OPT_RA)
                ra = v, has_ra = 1;
            else if (c == OPT_DEC)
                dec = v, has_dec = 1;
            else
                size = v, has_size = 1;
            break;
        }
        case OPT_HDU:
            hdu = optarg;
            break;
        case OPT_PRECISION:
            precision = optarg;
            break;
        case OPT_BACKEND:
            backend = optarg;
            break;
        case OPT_BINARY2:
            binary2 = 1;
            break;
        case OPT_DIRECT:
            direct = 1;
            break;
        case OPT_BATCH:
        case OPT_THREADS: {
            int64_t v;
            if (otf_str_to_i64(optarg, &v) != OTF_OK || v < (c == OPT_BATCH ? 1 : 0) || v > 4096) {
                fprintf(stderr, "otf detect: --%s wants an integer\n",
                        c == OPT_BATCH ? "batch" : "threads");
                return OTF_CLI_EXIT_USAGE;
            }
            if (c == OPT_BATCH)
                batch = (int)v;
            else
                threads = (int)v;
            break;
        }
        case OPT_STRETCH:
            if (strcmp(optarg, "zscale") == 0)
                png.stretch = OTF_FORMATS_STRETCH_ZSCALE;
            else if (strcmp(optarg, "asinh") == 0)
                png.stretch = OTF_FORMATS_STRETCH_ASINH;
            else {
                fprintf(stderr, "otf detect: --stretch wants zscale or asinh\n");
                return OTF_CLI_EXIT_USAGE;
            }
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage_detect(stdout);
            return OTF_CLI_EXIT_OK;
        default:
            fprintf(stderr, "otf detect: see otf detect --help\n");
            return OTF_CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "otf detect: %s (see otf detect --help)\n",
                optind >= argc ? "missing FILE.fits" : "only one FILE.fits at a time");
        return OTF_CLI_EXIT_USAGE;
    }
    input = argv[optind];
    if (!model) {
        fprintf(stderr, "otf detect: --model ID|DIR is required\n");
        return OTF_CLI_EXIT_USAGE;
    }
    if ((has_ra || has_dec || has_size) && !(has_ra && has_dec && has_size)) {
        fprintf(stderr, "otf detect: --ra, --dec and --size go together\n");
        return OTF_CLI_EXIT_USAGE;
    }
    if (has_ra && has_roi) {
        fprintf(stderr, "otf detect: give --roi or --ra/--dec/--size, not both\n");
        return OTF_CLI_EXIT_USAGE;
    }
    if (otf_engine_precision_parse(precision, &prec) != OTF_OK) {
        fprintf(stderr, "otf detect: unknown precision '%s' (fp32, bf16)\n", precision);
        return OTF_CLI_EXIT_USAGE;
    }

    /* model: a folder path, else an id in the models folder */
    if (is_dir(model) || strchr(model, '/'))
        model_dir = otf_xstrdup(model);
    else if (otf_str_is_safe_name(model))
        model_dir = otf_xasprintf("%s/%s", models ? models : "models", model);
    else {
        fprintf(stderr, "otf detect: '%s' is neither a model folder nor a model id\n", model);
        return OTF_CLI_EXIT_USAGE;
    }
    if (!is_dir(model_dir)) {
        fprintf(stderr, "otf detect: model %s: no such folder\n", model_dir);
        goto out;
    }
    rc = otf_model_load_dir(model_dir, &man, &net, &eb);
    if (rc == OTF_OK)
        rc = otf_detect_config_from_model(man, net, &cfg, &eb);
    if (rc != OTF_OK) {
        fprintf(stderr, "otf detect: model %s: %s\n", model_dir, eb.msg);
        goto out;
    }

    rc = otf_fits_open_image(input, hdu, &img, &eb);
    if (rc != OTF_OK) {
        fprintf(stderr, "otf detect: %s: %s\n", input, eb.msg);
        ret = rc == OTF_E_INVAL ? OTF_CLI_EXIT_USAGE : OTF_CLI_EXIT_FAIL;
        goto out;
    }
    if (otf_fits_read_wcs(img, &wcs, &eb) != OTF_OK) {
        wcs = NULL;
        if (!quiet)
            fprintf(stderr, "otf detect: %s: %s; the catalogue has pixel positions only\n", input,
                    eb.msg);
    }
    if (otf_fits_read_meta(img, &meta, &eb) != OTF_OK) {
        fprintf(stderr, "otf detect: %s: %s\n", input, eb.msg);
        goto out;
    }
    {
        int64_t w, h;
        otf_fits_image_size(img, &w, &h);
        if (has_roi)
            rc = otf_fits_clip_roi(w, h, roi, roi, &eb);
        else if (has_ra) {
            if (!wcs) {
                fprintf(stderr, "otf detect: --ra/--dec/--size need an image with a WCS\n");
                ret = OTF_CLI_EXIT_USAGE;
                goto out;
            }
            rc = otf_fits_roi_from_sky(wcs, w, h, ra, dec, size, roi, &eb);
        }
        if (rc != OTF_OK) {
            fprintf(stderr, "otf detect: region: %s\n", eb.msg);
            ret = OTF_CLI_EXIT_USAGE;
            goto out;
        }
    }

    {
        struct otf_engine_params ep;
        otf_engine_params_init(&ep);
        ep.backend = backend;
        ep.precision = prec;
        ep.batch_max = batch;
        ep.in_w = cfg.patch_w;
        ep.in_h = cfg.patch_h;
        ep.in_d = 1;
        ep.n_threads = threads;
        ep.input_bias = man->input_bias;
        ep.winograd = !direct;
        rc = otf_engine_new(net, &ep, &eng, &eb);
        if (rc != OTF_OK) {
            fprintf(stderr, "otf detect: engine: %s\n", eb.msg);
            ret =
                rc == OTF_E_NOTFOUND || rc == OTF_E_INVAL ? OTF_CLI_EXIT_USAGE : OTF_CLI_EXIT_FAIL;
            goto out;
        }
    }

    {
        struct progress pg = {!quiet && isatty(STDERR_FILENO), -1, otf_time_mono_us()};
        struct otf_detect_run_params rp = {0};
        int64_t t_start = otf_time_now_us();
        struct otf_formats_kv kv[16];
        size_t nkv = 0;
        struct otf_formats_run_info info = {0};
        char software[64];
        struct out_ctx oc;

        rp.roi = (has_roi || has_ra) ? roi : NULL;
        rp.batch = batch;
        rp.progress = on_progress;
        rp.user = &pg;
        rc = otf_detect_run_image(eng, img, wcs, &cfg, &rp, &cat, &tm, &eb);
        if (rc != OTF_OK) {
            if (pg.enabled)
                fprintf(stderr, "\n");
            fprintf(stderr, "otf detect: %s: %s\n", input, eb.msg);
            goto out;
        }
        rc = otf_sha256_file(input, in_sha, &eb);
        if (rc != OTF_OK) {
            fprintf(stderr, "otf detect: %s: %s\n", input, eb.msg);
            goto out;
        }
        if (otf_random_id(job_id + 6, 12) != OTF_OK)
            snprintf(job_id + 6, sizeof(job_id) - 6, "%lld", (long long)t_start);
        memcpy(job_id, "local-", 6);
        snprintf(hdu_txt, sizeof(hdu_txt), "%d", otf_fits_image_info(img)->hdu_index);
        snprintf(software, sizeof(software), "otf %s", OTF_VERSION_STRING);

        p_obj = fmt_list(cfg.obj_threshold, (size_t)cfg.nb_box);
        p_nms1 = fmt_levels(cfg.nms_first, cfg.n_nms_first);
        p_med = fmt_levels(cfg.median, cfg.n_median);
        p_misc[0] = otf_xasprintf("%dx%d", cfg.patch_w, cfg.patch_h);
        p_misc[1] = otf_xasprintf("%d", cfg.overlap_pix);
        p_misc[2] =
            otf_xasprintf("%s %g %g gain %g",
                          cfg.norm_bounds == OTF_MODEL_NORM_PERCENTILE ? "percentile" : "fixed",
                          cfg.norm_lo, cfg.norm_hi, cfg.norm_gain);
        p_misc[3] = otf_xasprintf("%g", cfg.nms_second);
        p_misc[4] =
            otf_xasprintf("%s %d", otf_model_border_policy_name(cfg.border), cfg.border_pix);
        p_misc[5] = otf_xasprintf("%d", batch);
        p_misc[6] = otf_xasprintf("%g", cfg.min_box_pix);
        kv[nkv++] = (struct otf_formats_kv){"patch", p_misc[0]};
        kv[nkv++] = (struct otf_formats_kv){"overlap", p_misc[1]};
        kv[nkv++] = (struct otf_formats_kv){"normalisation", p_misc[2]};
        kv[nkv++] = (struct otf_formats_kv){"obj_threshold", p_obj};
        kv[nkv++] = (struct otf_formats_kv){"median_reject", p_med};
        kv[nkv++] = (struct otf_formats_kv){"nms_first", p_nms1};
        kv[nkv++] = (struct otf_formats_kv){"nms_second", p_misc[3]};
        kv[nkv++] = (struct otf_formats_kv){"border", p_misc[4]};
        kv[nkv++] = (struct otf_formats_kv){"min_box", p_misc[6]};
        kv[nkv++] = (struct otf_formats_kv){"batch", p_misc[5]};

        info.job_id = job_id;
        info.model_id = man->id;
        info.model_sha256 = man->weights_sha256[0] ? man->weights_sha256 : NULL;
        {
            const char *b = strrchr(input, '/');
            info.input_name = b ? b + 1 : input;
        }
        info.input_sha256 = in_sha;
        info.hdu = hdu_txt;
        info.backend = otf_engine_backend_name(eng);
        info.winograd_layers = otf_engine_winograd_layers(eng);
        info.precision = otf_engine_precision_name(prec);
        info.software = software;
        info.start_us = t_start;
        info.end_us = otf_time_now_us();
        info.timings = &tm;
        info.meta = &meta;
        info.params = kv;
        info.n_params = nkv;

        oc = (struct out_ctx){cat, &info, binary2, img, &png};
        if (!output)
            output = out_default = default_output(input, ".vot");
        rc = save(output, w_vot, &oc, &eb);
        if (rc == OTF_OK && regions)
            rc = save(regions, w_ds9, &oc, &eb);
        if (rc == OTF_OK && prov) {
            const char *dot = strrchr(prov, '.');
            rc = save(prov, dot && strcmp(dot, ".provn") == 0 ? w_prov_n : w_prov_json, &oc, &eb);
        }
        if (rc == OTF_OK && preview)
            rc = save(preview, w_png, &oc, &eb);
        if (rc != OTF_OK) {
            fprintf(stderr, "otf detect: %s\n", eb.msg);
            goto out;
        }
        if (!quiet)
            fprintf(stderr, "otf detect: %zu sources in %s (%lld patches, %.1f s) -> %s\n", cat->n,
                    info.input_name, (long long)tm.n_patches, (double)tm.total_us / 1e6,
                    strcmp(output, "-") == 0 ? "stdout" : output);
    }
    ret = OTF_CLI_EXIT_OK;
out:
    free(p_obj);
    free(p_nms1);
    free(p_med);
    for (size_t i = 0; i < sizeof(p_misc) / sizeof(p_misc[0]); i++)
        free(p_misc[i]);
    free(prov_n);
    free(out_default);
    free(model_dir);
    otf_detect_catalog_free(cat);
    otf_engine_free(eng);
    otf_fits_free_wcs(wcs);
    otf_fits_close_image(img);
    otf_model_net_free(net);
    otf_model_manifest_free(man);
    return ret;
}
