/* bench_engine: times otf_engine_forward on a CIANNA model (SDC1 with random weights from
 * tools/make_sdc1_random.py) and reports ms per patch, GFLOP/s, the fraction of this machine's
 * peak (measured here with oneDNN's own f32/bf16 matmul) and the peak RSS. One configuration
 * per process, so the RSS is that configuration's. Results go to stdout as one JSON line.
 *
 *   bench_engine --model sdc1.dat --size 256 --batch 8 --precision fp32 [--reps 10]
 *                [--threads 2] [--backend cpu] [--input in.f32 --output out.f32]
 *                [--stage raw|activated|decoded] [--winograd 0|1] [--gap-ms N]
 *                [--streams S]
 *   bench_engine --peak [--threads 2]        (matmul peak only)
 *
 * --streams S is the engine's n_streams: each forward of --batch images runs as S parts at once,
 * --threads / S threads each (engine.h).
 */
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/core.h"
#include "engine/engine.h"
#include "model/model.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* GFLOP/s of oneDNN's matmul M=N=K=`n` in data type `dt` (f32 or bf16, f32 output): the
 * machine's practical peak for that precision. Returns 0 when unsupported. */
static double matmul_peak(dnnl_data_type_t dt, int n)
{
    dnnl_engine_t eng = NULL;
    dnnl_stream_t st = NULL;
    dnnl_memory_desc_t a, b, c;
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL;
    dnnl_dims_t d = {n, n};
    double best = 0.0;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&st, eng, dnnl_stream_default_flags) != dnnl_success)
        goto out;
    dnnl_memory_desc_init_by_tag(&a, 2, d, dt, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b, 2, d, dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&c, 2, d, dnnl_f32, dnnl_ab);
    if (dnnl_matmul_desc_init(&md, &a, &b, NULL, &c) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL) != dnnl_success ||
        dnnl_primitive_create(&prim, pd) != dnnl_success)
        goto out;
    const dnnl_memory_desc_t *qb = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_create(&ma, &a, eng, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&mb, qb, eng, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&mc, &c, eng, DNNL_MEMORY_ALLOCATE);
    /* fill with small non-zero values (AMX/AVX timing does not depend on them, but be fair) */
    void *pa = NULL, *pb = NULL;
    dnnl_memory_get_data_handle(ma, &pa);
    dnnl_memory_get_data_handle(mb, &pb);
    memset(pa, 0x3c, dnnl_memory_desc_get_size(&a));
    memset(pb, 0x3c, dnnl_memory_desc_get_size(qb));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
    for (int r = 0; r < 12; r++) {
        int64_t t0 = otf_time_mono_us();
        dnnl_primitive_execute(prim, st, 3, args);
        dnnl_stream_wait(st);
        double s = (double)(otf_time_mono_us() - t0) / 1e6;
        double g = 2.0 * n * (double)n * n / s / 1e9;
        if (r > 1 && g > best)
            best = g;
    }
out:
    dnnl_memory_destroy(ma);
    dnnl_memory_destroy(mb);
    dnnl_memory_destroy(mc);
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
    return best;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_engine --model PATH [--size N] [--batch N] [--precision "
                    "fp32|bf16] [--reps N] [--threads N] [--backend NAME] [--input F --output "
                    "F] [--stage raw|activated|decoded] [--winograd 0|1] [--gap-ms N] [--streams "
                    "S] | --peak [--threads N]\n");
}

int main(int argc, char **argv)
{
    const char *model = NULL, *backend = "cpu", *in_path = NULL, *out_path = NULL;
    const char *prec_s = "fp32", *stage_s = "raw";
    int size = 256, batch = 8, reps = 10, threads = 2, peak_only = 0, winograd = 1, gap_ms = 0;
    int streams = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--peak") == 0) {
            peak_only = 1;
            continue;
        }
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--model") == 0)
            model = v;
        else if (strcmp(a, "--size") == 0)
            size = atoi(v);
        else if (strcmp(a, "--batch") == 0)
            batch = atoi(v);
        else if (strcmp(a, "--precision") == 0)
            prec_s = v;
        else if (strcmp(a, "--reps") == 0)
            reps = atoi(v);
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--backend") == 0)
            backend = v;
        else if (strcmp(a, "--input") == 0)
            in_path = v;
        else if (strcmp(a, "--output") == 0)
            out_path = v;
        else if (strcmp(a, "--stage") == 0)
            stage_s = v;
        else if (strcmp(a, "--winograd") == 0)
            winograd = atoi(v);
        else if (strcmp(a, "--gap-ms") == 0) /* idle time before each timed forward */
            gap_ms = atoi(v);
        else if (strcmp(a, "--streams") == 0)
            streams = atoi(v);
        else {
            usage();
            return 2;
        }
    }
    /* oneDNN here runs on OpenMP: the matmul peak honours OMP_NUM_THREADS */
    if (threads > 0) {
        char t[16];
        snprintf(t, sizeof(t), "%d", threads);
        setenv("OMP_NUM_THREADS", t, 0);
    }
    /* OTF_ENGINE_CPU_PROFILE logs every step at info level (docs/internals/engine-cpu.md) */
    otf_log_setup(getenv("OTF_ENGINE_CPU_PROFILE") ? OTF_LOG_INFO : OTF_LOG_WARN, NULL);
    if (peak_only) {
        double f = matmul_peak(dnnl_f32, 2048), b = matmul_peak(dnnl_bf16, 4096);
        printf("{\"peak_gflops_fp32\": %.1f, \"peak_gflops_bf16\": %.1f, \"threads\": %d}\n", f, b,
               threads);
        return 0;
    }
    if (!model || size < 16 || batch < 1 || reps < 1) {
        usage();
        return 2;
    }
    struct otf_errbuf eb = {0};
    struct otf_model_net *net = NULL;
    struct otf_engine *eng = NULL;
    struct otf_engine_params p;
    enum otf_engine_precision prec;
    enum otf_engine_stage stage;
    float *in = NULL, *out = NULL;
    double *t = NULL;
    int rc = 1;
    if (otf_engine_precision_parse(prec_s, &prec) != OTF_OK ||
        otf_engine_stage_parse(stage_s, &stage) != OTF_OK) {
        usage();
        return 2;
    }
    if (otf_model_load_file(model, &net, &eb) != OTF_OK) {
        fprintf(stderr, "bench_engine: %s\n", eb.msg);
        return 1;
    }
    otf_engine_params_init(&p);
    p.backend = backend;
    p.precision = prec;
    p.batch_max = batch;
    p.in_w = p.in_h = size;
    p.n_threads = threads;
    p.input_bias = 0.1f;
    p.winograd = winograd;
    p.n_streams = streams;
    int64_t t0 = otf_time_mono_us();
    if (otf_engine_new(net, &p, &eng, &eb) != OTF_OK) {
        fprintf(stderr, "bench_engine: %s\n", eb.msg);
        goto out;
    }
    double prepare_ms = (double)(otf_time_mono_us() - t0) / 1e3;
    size_t isz = otf_engine_input_size(eng), osz = otf_engine_output_size(eng);
    in = malloc((size_t)batch * isz * sizeof(float));
    out = malloc((size_t)batch * osz * sizeof(float));
    t = calloc((size_t)reps, sizeof(double));
    if (!in || !out || !t)
        goto out;
    if (in_path) {
        FILE *f = fopen(in_path, "rb");
        if (!f || fread(in, sizeof(float), (size_t)batch * isz, f) != (size_t)batch * isz) {
            fprintf(stderr, "bench_engine: cannot read %zu floats from %s\n", (size_t)batch * isz,
                    in_path);
            if (f)
                fclose(f);
            goto out;
        }
        fclose(f);
    } else {
        /* sky-like patches: faint noise plus a few bright pixels, tanh-normalised (§10) */
        uint64_t s = 12345;
        for (size_t i = 0; i < (size_t)batch * isz; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double u = (double)(s >> 11) / 9007199254740992.0;
            in[i] = (float)tanh(3.0 * (u < 0.001 ? u * 1000.0 : 0.02 * u));
        }
    }
    /* the first forward pays one-time costs (page faults in the arena): not timed */
    if (otf_engine_forward(eng, in, batch, out, stage, &eb) != OTF_OK) {
        fprintf(stderr, "bench_engine: %s\n", eb.msg);
        goto out;
    }
    for (int r = 0; r < reps; r++) {
        if (gap_ms > 0)
            usleep((useconds_t)gap_ms * 1000);
        int64_t a = otf_time_mono_us();
        if (otf_engine_forward(eng, in, batch, out, stage, &eb) != OTF_OK) {
            fprintf(stderr, "bench_engine: %s\n", eb.msg);
            goto out;
        }
        t[r] = (double)(otf_time_mono_us() - a) / 1e3;
    }
    if (out_path) {
        FILE *f = fopen(out_path, "wb");
        if (!f || fwrite(out, sizeof(float), (size_t)batch * osz, f) != (size_t)batch * osz) {
            fprintf(stderr, "bench_engine: cannot write %s\n", out_path);
            if (f)
                fclose(f);
            goto out;
        }
        fclose(f);
    }
    struct otf_model_shape *sh = otf_xcalloc(net->n_layers + 1, sizeof(*sh));
    otf_model_infer_shapes(net, size, size, 1, sh, &eb);
    double gflop = otf_model_net_flops(net, sh) / 1e9;
    free(sh);
    double best = t[0], sum = 0;
    for (int r = 0; r < reps; r++) {
        best = t[r] < best ? t[r] : best;
        sum += t[r];
    }
    double mean = sum / reps; /* the throughput of all reps back to back */
    double med = median(t, reps);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"backend\": \"%s\", \"precision\": \"%s\", \"size\": %d, \"batch\": %d, "
           "\"threads\": %d, \"streams\": %d, \"winograd_layers\": %d, \"reps\": %d, "
           "\"gflop_per_patch\": %.3f, "
           "\"prepare_ms\": %.1f, "
           "\"ms_per_batch_median\": %.3f, \"ms_per_patch_median\": %.3f, "
           "\"ms_per_patch_mean\": %.3f, "
           "\"ms_per_patch_best\": %.3f, \"gflops\": %.1f, \"engine_mib\": %.1f, "
           "\"peak_rss_mib\": %.1f}\n",
           backend, prec_s, size, batch, threads, otf_engine_streams(eng),
           otf_engine_winograd_layers(eng), reps, gflop, prepare_ms, med, med / batch, mean / batch,
           best / batch, gflop * batch / (med / 1e3),
           (double)otf_engine_memory_bytes(eng) / 1048576.0, (double)ru.ru_maxrss / 1024.0);
    rc = 0;
out:
    free(t);
    free(in);
    free(out);
    otf_engine_free(eng);
    otf_model_net_free(net);
    return rc;
}
