/* bench_detect: the detection pipeline's time per stage and its memory on one image.
 *
 *   bench_detect field OUT.fits N [SEED]     writes an N x N float32 SDC1-like test field
 *                                            (noise + Gaussian sources), row by row
 *   bench_detect patches --model DIR --image F.fits --out P.f32
 *                                            the normalised patches the worker would feed the
 *                                            engine, raw float32 (for bench_engine --input)
 *   bench_detect run --model DIR --image F.fits [--backend B] [--batch N] [--threads N]
 *                [--precision P] [--patch P --overlap O] [--obj-threshold T] [--outputs N]
 *
 * `run` prints one JSON line: every stage's wall time (bounds, read, patch, forward, collect,
 * finish), the share of everything but the forward pass, patches, rows, and the process's peak
 * RSS above the RSS measured once the model and the engine are loaded (the model's own
 * memory). --patch/--overlap override the manifest (same network, other patch size).
 * --post N replays the post-processing alone N times on the forward outputs of every patch,
 * kept in memory (collector: thresholds, decoding, first NMS per patch; finish: second NMS,
 * border, pixel -> sky, parameters, sort) and adds its median CPU times.
 * --outputs N then writes the job's result files from that catalogue N times each (VOTable,
 * DS9 regions, PROV-JSON, PROV-N, PNG preview: what a worker writes per job) into memory and
 * adds each writer's median CPU time (thread clock) and output size. */
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "detect/detect.h"
#include "formats/formats.h"

static double rss_now_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static double rss_peak_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* xorshift64* uniform in (0, 1) */
static double urand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return ((double)((*s * 2685821657736338717ULL) >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(uint64_t *s)
{
    return sqrt(-2 * log(urand(s))) * cos(2 * M_PI * urand(s));
}

/* Noise of 0.36 uJy/beam (SDC1 B1 1000 h) plus one 2.5-px-beam source per ~2000 pixels with
 * peak fluxes from 2 to 200 uJy; a SIN header centred on RA 0, Dec -30 with 0.6" pixels. */
static int make_field(const char *path, long n, uint64_t seed)
{
    fitsfile *f = NULL;
    int st = 0;
    long naxes[2] = {n, n};
    long n_src = n * n / 2000, band = 64;
    float *rows = malloc((size_t)n * (size_t)band * sizeof(float));
    double *sx = malloc((size_t)n_src * sizeof(double)),
           *sy = malloc((size_t)n_src * sizeof(double));
    double *sf = malloc((size_t)n_src * sizeof(double));
    double sigma = 2.5 / 2.3548, crpix = n / 2.0 + 1;
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;

    if (!rows || !sx || !sy || !sf)
        return 1;
    for (long i = 0; i < n_src; i++) {
        sx[i] = urand(&s) * (double)n;
        sy[i] = urand(&s) * (double)n;
        sf[i] = 2e-6 * pow(100.0, urand(&s));
    }
    remove(path);
    fits_create_file(&f, path, &st);
    fits_create_img(f, FLOAT_IMG, 2, naxes, &st);
    fits_update_key_str(f, "CTYPE1", "RA---SIN", NULL, &st);
    fits_update_key_str(f, "CTYPE2", "DEC--SIN", NULL, &st);
    fits_update_key_dbl(f, "CRVAL1", 0.0, -12, NULL, &st);
    fits_update_key_dbl(f, "CRVAL2", -30.0, -12, NULL, &st);
    fits_update_key_dbl(f, "CRPIX1", crpix, -12, NULL, &st);
    fits_update_key_dbl(f, "CRPIX2", crpix, -12, NULL, &st);
    fits_update_key_dbl(f, "CDELT1", -0.6 / 3600, -12, NULL, &st);
    fits_update_key_dbl(f, "CDELT2", 0.6 / 3600, -12, NULL, &st);
    fits_update_key_str(f, "RADESYS", "FK5", NULL, &st);
    fits_update_key_dbl(f, "EQUINOX", 2000.0, -6, NULL, &st);
    fits_update_key_str(f, "BUNIT", "JY/BEAM", NULL, &st);
    for (long y0 = 0; y0 < n && st == 0; y0 += band) {
        long nb = y0 + band > n ? n - y0 : band;
        for (long i = 0; i < n * nb; i++)
            rows[i] = (float)(0.36e-6 * gauss(&s));
        for (long k = 0; k < n_src; k++) { /* sources whose 4-sigma box reaches this band */
            if (sy[k] + 5 * sigma < (double)y0 || sy[k] - 5 * sigma >= (double)(y0 + nb))
                continue;
            long xa = (long)fmax(0, sx[k] - 5 * sigma), xb = (long)fmin(n - 1, sx[k] + 5 * sigma);
            long ya = (long)fmax(y0, sy[k] - 5 * sigma),
                 yb = (long)fmin(y0 + nb - 1, sy[k] + 5 * sigma);
            for (long y = ya; y <= yb; y++)
                for (long x = xa; x <= xb; x++) {
                    double dx = x - sx[k], dy = y - sy[k];
                    rows[(y - y0) * n + x] +=
                        (float)(sf[k] * exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)));
                }
        }
        long fpix[2] = {1, y0 + 1};
        fits_write_pix(f, TFLOAT, fpix, (LONGLONG)(n * nb), rows, &st);
    }
    fits_close_file(f, &st);
    free(rows);
    free(sx);
    free(sy);
    free(sf);
    if (st) {
        fits_report_error(stderr, st);
        return 1;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : (x > y);
}

enum { OUT_VOTABLE, OUT_DS9, OUT_PROV_JSON, OUT_PROV_N, OUT_PNG, N_OUT };
static const char *const out_names[N_OUT] = {"votable", "ds9", "prov_json", "prov_n", "png"};

/* Each result writer `reps` times into a memory stream: median thread CPU time and size. */
static int time_outputs(struct otf_fits_image *img, const struct otf_detect_catalog *cat,
                        const struct otf_detect_timings *t, int reps, double *cpu_ms, size_t *bytes,
                        struct otf_errbuf *eb)
{
    struct otf_formats_run_info info;
    struct otf_formats_png_params pp;
    int64_t *v = calloc((size_t)reps, sizeof *v);

    memset(&info, 0, sizeof info);
    info.job_id = "bench";
    info.software = "bench_detect";
    info.input_name = "image.fits";
    info.precision = "fp32";
    info.timings = t;
    otf_formats_png_params_init(&pp);
    for (int o = 0; o < N_OUT && v; o++) {
        for (int r = 0; r < reps; r++) {
            char *mem = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&mem, &len);
            enum otf_status rc;
            int64_t c0 = otf_time_thread_cpu_us();
            if (!f)
                return OTF_FAIL(eb, OTF_E_NOMEM, "open_memstream failed"), -1;
            switch (o) {
            case OUT_VOTABLE:
                rc = otf_formats_write_votable(f, cat, &info, OTF_FORMATS_TABLEDATA, eb);
                break;
            case OUT_DS9:
                rc = otf_formats_write_ds9(f, cat, &info, eb);
                break;
            case OUT_PROV_JSON:
                rc = otf_formats_write_prov_json(f, cat, &info, eb);
                break;
            case OUT_PROV_N:
                rc = otf_formats_write_prov_n(f, cat, &info, eb);
                break;
            default:
                rc = otf_formats_write_png(f, img, cat, &pp, eb);
                break;
            }
            fflush(f);
            v[r] = otf_time_thread_cpu_us() - c0;
            fclose(f);
            bytes[o] = len;
            free(mem);
            if (rc != OTF_OK) {
                free(v);
                return -1;
            }
        }
        qsort(v, (size_t)reps, sizeof *v, cmp_i64);
        cpu_ms[o] = (double)v[reps / 2] / 1000.0;
    }
    free(v);
    return v ? 0 : -1;
}

/* The post-processing alone, `reps` times over stored forward outputs: median CPU ms of the
 * collect (every patch added) and finish stages. */
static int time_post(struct otf_engine *eng, struct otf_fits_image *img, struct otf_fits_wcs *wcs,
                     const struct otf_detect_config *cfg, int reps, double *collect_ms,
                     double *finish_ms, struct otf_errbuf *eb)
{
    struct otf_detect_source *src = NULL;
    const struct otf_detect_geometry *g;
    size_t in_sz = otf_engine_input_size(eng), out_sz = otf_engine_output_size(eng);
    float *in = NULL, *res = NULL;
    int64_t total, *vc = NULL, *vf = NULL;
    int ok = -1;

    if (otf_detect_source_new(img, cfg, NULL, &src, eb) != OTF_OK)
        return -1;
    g = otf_detect_source_geometry(src);
    total = g->nx * g->ny;
    in = otf_malloc((size_t)total * in_sz * sizeof(float));
    res = otf_malloc((size_t)total * out_sz * sizeof(float));
    vc = calloc((size_t)reps, sizeof *vc);
    vf = calloc((size_t)reps, sizeof *vf);
    if (!in || !res || !vc || !vf) {
        OTF_FAIL(eb, OTF_E_NOMEM, "no memory for %lld stored patches", (long long)total);
        goto out;
    }
    for (int64_t k = 0; k < total; k++) {
        int64_t idx;
        if (otf_detect_source_next(src, in + (size_t)k * in_sz, &idx, eb) != OTF_OK)
            goto out;
        if (idx != k) {
            OTF_FAIL(eb, OTF_E_STATE, "patch %lld came as %lld", (long long)k, (long long)idx);
            goto out;
        }
        if (otf_engine_forward(eng, in + (size_t)k * in_sz, 1, res + (size_t)k * out_sz,
                               OTF_ENGINE_STAGE_DECODED, eb) != OTF_OK)
            goto out;
    }
    for (int r = 0; r < reps; r++) {
        struct otf_detect_collector *col = NULL;
        struct otf_detect_catalog *cat = NULL;
        int64_t c0 = otf_time_thread_cpu_us(), c1;
        if (otf_detect_collector_new(cfg, g, &col, eb) != OTF_OK)
            goto out;
        for (int64_t k = 0; k < total; k++)
            if (otf_detect_collector_add(col, k, in + (size_t)k * in_sz, res + (size_t)k * out_sz,
                                         eb) != OTF_OK) {
                otf_detect_collector_free(col);
                goto out;
            }
        c1 = otf_time_thread_cpu_us();
        if (otf_detect_collector_finish(col, wcs, &cat, eb) != OTF_OK) {
            otf_detect_collector_free(col);
            goto out;
        }
        vc[r] = c1 - c0;
        vf[r] = otf_time_thread_cpu_us() - c1;
        otf_detect_catalog_free(cat);
        otf_detect_collector_free(col);
    }
    qsort(vc, (size_t)reps, sizeof *vc, cmp_i64);
    qsort(vf, (size_t)reps, sizeof *vf, cmp_i64);
    *collect_ms = (double)vc[reps / 2] / 1000.0;
    *finish_ms = (double)vf[reps / 2] / 1000.0;
    ok = 0;
out:
    otf_detect_source_free(src);
    otf_free(in);
    otf_free(res);
    free(vc);
    free(vf);
    return ok;
}

static int run(int argc, char **argv)
{
    const char *model = NULL, *image = NULL, *backend = "auto", *precision = "fp32";
    int batch = 8, threads = 0, patch = 0, overlap = -1;
    double obj = -1;
    int outputs = 0, post = 0;
    struct otf_errbuf eb = {0};
    struct otf_model_manifest *m = NULL;
    struct otf_model_net *net = NULL;
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    struct otf_engine *eng = NULL;
    struct otf_engine_params ep;
    struct otf_detect_config cfg;
    struct otf_detect_catalog *cat = NULL;
    struct otf_detect_timings t;
    struct otf_detect_run_params rp = {0};
    double rss_model;

    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--model") == 0)
            model = argv[i + 1];
        else if (strcmp(argv[i], "--image") == 0)
            image = argv[i + 1];
        else if (strcmp(argv[i], "--backend") == 0)
            backend = argv[i + 1];
        else if (strcmp(argv[i], "--precision") == 0)
            precision = argv[i + 1];
        else if (strcmp(argv[i], "--batch") == 0)
            batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--patch") == 0)
            patch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--overlap") == 0)
            overlap = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--obj-threshold") == 0)
            obj = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--outputs") == 0)
            outputs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--post") == 0)
            post = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_detect: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!model || !image) {
        fprintf(stderr, "bench_detect run --model DIR --image F.fits [...]\n");
        return 2;
    }
    if (otf_model_load_dir(model, &m, &net, &eb) != OTF_OK) {
        fprintf(stderr, "bench_detect: %s\n", eb.msg);
        return 1;
    }
    if (patch > 0) {
        m->infer_patch_w = m->infer_patch_h = patch;
        if (overlap >= 0)
            m->overlap_pix = overlap;
    }
    otf_engine_params_init(&ep);
    ep.backend = backend;
    if (otf_engine_precision_parse(precision, &ep.precision) != OTF_OK ||
        otf_detect_config_from_model(m, net, &cfg, &eb) != OTF_OK) {
        fprintf(stderr, "bench_detect: %s\n", eb.msg);
        return 1;
    }
    if (obj >= 0) /* e.g. to keep a random network's catalogue out of a memory measurement */
        for (int b = 0; b < cfg.nb_box; b++)
            cfg.obj_threshold[b] = obj;
    ep.batch_max = batch;
    ep.in_w = cfg.patch_w;
    ep.in_h = cfg.patch_h;
    ep.n_threads = threads;
    ep.input_bias = m->input_bias;
    if (otf_engine_new(net, &ep, &eng, &eb) != OTF_OK ||
        otf_fits_open_image(image, NULL, &img, &eb) != OTF_OK ||
        otf_fits_read_wcs(img, &wcs, &eb) != OTF_OK) {
        fprintf(stderr, "bench_detect: %s\n", eb.msg);
        return 1;
    }
    rss_model = rss_now_mib(); /* model weights + engine buffers, before any pixel is read */
    rp.batch = batch;
    if (otf_detect_run_image(eng, img, wcs, &cfg, &rp, &cat, &t, &eb) != OTF_OK) {
        fprintf(stderr, "bench_detect: %s\n", eb.msg);
        return 1;
    }
    int64_t w, h;
    otf_fits_image_size(img, &w, &h);
    int64_t other = t.bounds_us + t.read_us + t.patch_us + t.collect_us + t.finish_us;
    printf("{\"image\": \"%lldx%lld\", \"patch\": %d, \"overlap\": %d, \"backend\": \"%s\", "
           "\"precision\": \"%s\", \"batch\": %d, \"patches\": %lld, \"rows\": %zu, "
           "\"candidates\": %zu, \"bounds_s\": %.4f, \"read_s\": %.4f, \"patch_s\": %.4f, "
           "\"forward_s\": %.3f, \"collect_s\": %.4f, \"finish_s\": %.4f, \"total_s\": %.3f, "
           "\"non_forward_pct\": %.2f, \"engine_mib\": %.1f, \"rss_model_mib\": %.1f, "
           "\"rss_peak_mib\": %.1f, \"rss_above_model_mib\": %.1f",
           (long long)w, (long long)h, cfg.patch_w, cfg.overlap_pix, otf_engine_backend_name(eng),
           precision, batch, (long long)t.n_patches, cat->n, cat->n_candidates, t.bounds_us / 1e6,
           t.read_us / 1e6, t.patch_us / 1e6, t.forward_us / 1e6, t.collect_us / 1e6,
           t.finish_us / 1e6, t.total_us / 1e6,
           t.forward_us > 0 ? 100.0 * (double)other / (double)t.forward_us : 0.0,
           (double)otf_engine_memory_bytes(eng) / 1048576.0, rss_model, rss_peak_mib(),
           rss_peak_mib() - rss_model);
    if (post > 0) {
        double cm = 0, fm = 0;
        if (time_post(eng, img, wcs, &cfg, post, &cm, &fm, &eb) != 0) {
            fprintf(stderr, "bench_detect: replaying the post-processing: %s\n", eb.msg);
            return 1;
        }
        printf(", \"post_reps\": %d, \"collect_cpu_ms\": %.2f, \"finish_cpu_ms\": %.2f", post, cm,
               fm);
    }
    if (outputs > 0) {
        double cpu_ms[N_OUT] = {0}, sum = 0;
        size_t bytes[N_OUT] = {0};
        if (time_outputs(img, cat, &t, outputs, cpu_ms, bytes, &eb) != 0) {
            fprintf(stderr, "bench_detect: writing the outputs: %s\n", eb.msg);
            return 1;
        }
        printf(", \"outputs_reps\": %d", outputs);
        for (int o = 0; o < N_OUT; o++) {
            printf(", \"%s_cpu_ms\": %.2f, \"%s_bytes\": %zu", out_names[o], cpu_ms[o],
                   out_names[o], bytes[o]);
            sum += cpu_ms[o];
        }
        printf(", \"outputs_cpu_ms\": %.2f", sum);
    }
    printf("}\n");
    otf_detect_catalog_free(cat);
    otf_engine_free(eng);
    otf_fits_free_wcs(wcs);
    otf_fits_close_image(img);
    otf_model_net_free(net);
    otf_model_manifest_free(m);
    return 0;
}

/* The normalised patches of an image, as the worker feeds them to the engine, written as raw
 * float32 ([patch][h][w], row-major) for bench_engine --input. */
static int patches(int argc, char **argv)
{
    const char *model = NULL, *image = NULL, *out = NULL;
    struct otf_errbuf eb = {0};
    struct otf_model_manifest *m = NULL;
    struct otf_model_net *net = NULL;
    struct otf_fits_image *img = NULL;
    struct otf_detect_config cfg;
    struct otf_detect_source *src = NULL;
    float *buf = NULL;
    FILE *f = NULL;
    int64_t n = 0;
    int rc = 1;

    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--model") == 0)
            model = argv[i + 1];
        else if (strcmp(argv[i], "--image") == 0)
            image = argv[i + 1];
        else if (strcmp(argv[i], "--out") == 0)
            out = argv[i + 1];
    }
    if (!model || !image || !out) {
        fprintf(stderr, "bench_detect patches --model DIR --image F.fits --out P.f32\n");
        return 2;
    }
    if (otf_model_load_dir(model, &m, &net, &eb) != OTF_OK ||
        otf_detect_config_from_model(m, net, &cfg, &eb) != OTF_OK ||
        otf_fits_open_image(image, NULL, &img, &eb) != OTF_OK ||
        otf_detect_source_new(img, &cfg, NULL, &src, &eb) != OTF_OK)
        goto out;
    buf = malloc((size_t)cfg.patch_w * (size_t)cfg.patch_h * sizeof(float));
    f = fopen(out, "wb");
    if (!buf || !f) {
        fprintf(stderr, "bench_detect: cannot write %s\n", out);
        goto out;
    }
    for (;;) {
        int64_t idx;
        if (otf_detect_source_next(src, buf, &idx, &eb) != OTF_OK)
            goto out;
        if (idx < 0)
            break;
        if (fwrite(buf, sizeof(float), (size_t)cfg.patch_w * (size_t)cfg.patch_h, f) !=
            (size_t)cfg.patch_w * (size_t)cfg.patch_h) {
            fprintf(stderr, "bench_detect: cannot write %s\n", out);
            goto out;
        }
        n++;
    }
    printf("{\"patches\": %lld, \"patch\": %d, \"out\": \"%s\"}\n", (long long)n, cfg.patch_w, out);
    rc = 0;
out:
    if (rc && eb.msg[0])
        fprintf(stderr, "bench_detect: %s\n", eb.msg);
    if (f && fclose(f) != 0)
        rc = 1;
    free(buf);
    otf_detect_source_free(src);
    otf_fits_close_image(img);
    otf_model_net_free(net);
    otf_model_manifest_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "field") == 0)
        return make_field(argv[2], atol(argv[3]), argc > 4 ? (uint64_t)atoll(argv[4]) : 1);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return run(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "patches") == 0)
        return patches(argc - 2, argv + 2);
    fprintf(stderr, "usage: bench_detect field OUT.fits N [SEED] | run --model DIR --image F "
                    "[--backend B] [--batch N] [--threads N] [--precision P] [--patch P "
                    "--overlap O] [--obj-threshold T] [--post N] [--outputs N] | patches --model "
                    "DIR --image F --out P.f32\n");
    return 2;
}
