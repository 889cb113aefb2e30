/* otf: the service commands over libotfclient (DESIGN §9, §11; docs/cli.md). Every command
 * takes the common options (otf_client_util.h) anywhere on its line, prints results on stdout
 * (tables for people, one JSON document with --json), notes and progress on stderr, and exits
 * with the codes of otf_client_cmd.h. Several jobs in one call: each is handled, and the exit
 * code is that of the first one (in command-line order) that did not succeed. */
#include "apps/otf/otf_client_cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/otf/otf_cli.h"
#include "apps/otf/otf_client_util.h"
#include "core/core.h"

#define HELP_SHOWN (-1)

/* What one command adds to the common options. */
struct cmd_spec {
    const char *usage;         /* the usage text */
    const struct option *opts; /* local options (zero-terminated), or NULL */
    const char *shorts;        /* short options besides "qh" */
    int (*on_opt)(struct otf_cli *cl, void *state, int id, const char *arg); /* 0 or exit code */
};

/* Parses argv; positional arguments end up in argv[*first..argc). Returns 0, HELP_SHOWN or an
 * exit code. */
static int parse_args(struct otf_cli *cl, const struct cmd_spec *spec, void *state, int argc,
                      char **argv, int *first)
{
    struct option *opts = otf_cli_options(spec->opts);
    char shorts[64];
    int id, rc = 0;

    snprintf(shorts, sizeof shorts, "qh%s", spec->shorts ? spec->shorts : "");
    optind = 0; /* GNU: start afresh (the table differs from one command to the next) */
    opterr = 1;
    while ((id = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        int r;
        if (id == 'h') {
            fputs(spec->usage, stdout);
            fputs(otf_cli_common_help, stdout);
            rc = HELP_SHOWN;
            goto out;
        }
        if (id == '?' || id == ':') {
            fprintf(stderr, "(see 'otf %s --help')\n", cl->cmd);
            rc = OTF_CLI_EXIT_USAGE;
            goto out;
        }
        r = otf_cli_common_option(cl, id, optarg);
        if (r < 0) {
            rc = OTF_CLI_EXIT_USAGE;
            goto out;
        }
        if (r == 1)
            continue;
        if (!spec->on_opt || (rc = spec->on_opt(cl, state, id, optarg)) != 0)
            goto out;
    }
    *first = optind;
    cl->progress = !cl->quiet && isatty(STDERR_FILENO);
out:
    free(opts);
    return rc;
}

static int parse_num(const char *s, double *out)
{
    return otf_str_to_double(s, out) == OTF_OK ? 0 : -1;
}

/* --timeout S -> ms */
static int parse_timeout(struct otf_cli *cl, const char *arg, int64_t *out)
{
    double v;
    if (parse_num(arg, &v) != 0 || v < 0 || v > 1e8)
        return otf_cli_usage_error(cl, "--timeout needs a number of seconds >= 0, not '%s'", arg);
    *out = (int64_t)(v * 1000.0 + 0.5);
    return 0;
}

static const char *ext_for(const char *name, const char *mime)
{
    if (strcmp(name, "catalog") == 0)
        return "vot";
    if (strcmp(name, "regions") == 0)
        return "reg";
    if (strcmp(name, "provenance") == 0)
        return "json";
    if (strcmp(name, "preview") == 0)
        return "png";
    if (mime && strstr(mime, "votable"))
        return "vot";
    if (mime && strstr(mime, "json"))
        return "json";
    if (mime && strstr(mime, "png"))
        return "png";
    return "dat";
}

static int ensure_dir(struct otf_cli *cl, const char *dir)
{
    struct otf_errbuf eb = {0};
    if (otf_fs_mkdirs(dir, 0, &eb) != OTF_OK) {
        otf_cli_error(cl, "cannot create %s: %s", dir, eb.msg);
        return OTF_CLI_EXIT_FAIL;
    }
    return 0;
}

/* ---- waiting ---- */

struct wait_view {
    struct otf_cli_bar bar;
    char label[96];
};

static int on_job_change(void *user, const struct otf_client_job *j)
{
    struct wait_view *v = user;
    char right[160];
    double frac = j->patches_total > 0 ? (double)j->patches_done / (double)j->patches_total : 0;
    if (j->patches_total > 0)
        snprintf(right, sizeof right, "%s %lld/%lld patches%s%s", otf_client_phase_name(j->phase),
                 (long long)j->patches_done, (long long)j->patches_total, j->stage ? " " : "",
                 j->stage ? j->stage : "");
    else
        snprintf(right, sizeof right, "%s%s%s", otf_client_phase_name(j->phase),
                 j->stage ? " " : "", j->stage ? j->stage : "");
    if (j->phase == OTF_CLIENT_PHASE_COMPLETED)
        frac = 1;
    otf_cli_bar_draw(&v->bar, frac, right, 1);
    return 0;
}

/* Waits for one job until a final phase or the deadline (monotonic us, INT64_MAX = none).
 * *out receives the last state when known. Returns the exit code. */
static int wait_one(struct otf_cli *cl, const char *id, int64_t deadline_us,
                    struct otf_client_job **out, struct otf_client_error *e)
{
    struct wait_view v;
    int64_t left = -1;
    enum otf_status st;

    *out = NULL;
    if (deadline_us != INT64_MAX) {
        left = (deadline_us - otf_time_mono_us()) / 1000;
        if (left < 0)
            left = 0;
    }
    snprintf(v.label, sizeof v.label, "job %s", id);
    otf_cli_bar_init(&v.bar, cl, v.label);
    /* Short WAIT steps on a terminal keep the patch counter moving. */
    st = otf_client_wait_final(cl->c, id, left, cl->progress ? 2 : 30, on_job_change, &v, out, e);
    otf_cli_bar_done(&v.bar);
    if (st == OTF_E_TIMEOUT && *out) {
        snprintf(e->msg, sizeof e->msg, "timed out: job %s is still %s", id,
                 otf_client_phase_name((*out)->phase));
        return OTF_CLI_EXIT_TIMEOUT;
    }
    if (st != OTF_OK)
        return otf_cli_exit_for(st, e);
    return otf_cli_exit_for_phase((*out)->phase);
}

/* Downloads every result of `j` into `dir` as {id}_{name}.{ext}; appends {"name","path","size"}
 * to `files` and the paths to `line`. Returns 0 or the exit code of the first failure. */
static int fetch_all(struct otf_cli *cl, const struct otf_client_job *j, const char *dir,
                     const char *const *names, size_t n_names, json_t *files, struct otf_buf *line,
                     struct otf_client_error *e)
{
    int code = 0;
    size_t n = names ? n_names : j->n_results;

    for (size_t i = 0; i < n; i++) {
        const char *name = names ? names[i] : j->results[i].id;
        const char *mime = NULL;
        struct otf_cli_bar bar;
        char label[160], *path;
        int64_t size = 0;
        enum otf_status st;

        for (size_t k = 0; k < j->n_results; k++) {
            if (strcmp(j->results[k].id, name) == 0)
                mime = j->results[k].mime;
        }
        if (!otf_str_is_safe_name(name)) {
            otf_cli_error(cl, "'%s' is not a result name", name);
            if (!code)
                code = OTF_CLI_EXIT_USAGE;
            continue;
        }
        path = otf_xasprintf("%s/%s_%s.%s", dir, j->id, name, ext_for(name, mime));
        snprintf(label, sizeof label, "%s %s", j->id, name);
        otf_cli_bar_init(&bar, cl, label);
        st = otf_client_fetch_result(cl->c, j->id, name, path,
                                     cl->progress ? otf_cli_bar_bytes : NULL, &bar, &size, e);
        otf_cli_bar_done(&bar);
        if (st != OTF_OK) {
            otf_cli_error(cl, "%s", e->msg);
            if (files)
                json_array_append_new(files, json_pack("{s:s,s:s,s:i}", "name", name, "error",
                                                       e->msg, "exit", otf_cli_exit_for(st, e)));
            if (!code)
                code = otf_cli_exit_for(st, e);
        } else {
            if (files)
                json_array_append_new(files, json_pack("{s:s,s:s,s:I}", "name", name, "path", path,
                                                       "size", (json_int_t)size));
            if (line)
                otf_buf_printf(line, "%s%s", line->len ? " " : "", path);
        }
        free(path);
    }
    return code;
}

/* Sends the catalogue of the COMPLETED job `j` to the SAMP hub as table.load.votable with its
 * service URL (the receiver downloads it). `name` (may be NULL) is the name shown there. Returns
 * 0 or the exit code with the message in `e`; *n_out receives the number of receivers. */
static int samp_send_job(const struct otf_cli *cl, const struct otf_client_job *j, const char *name,
                         int *n_out, struct otf_client_error *e)
{
    struct otf_client_samp_send s = {0};
    const char *href = NULL;
    char table_id[160], def_name[160];
    enum otf_status st;
    int n = 0;

    for (size_t k = 0; k < j->n_results; k++) {
        if (strcmp(j->results[k].id, "catalog") == 0)
            href = j->results[k].href;
    }
    if (!href) {
        snprintf(e->msg, sizeof e->msg, "job %s has no catalogue (phase %s)", j->id,
                 otf_client_phase_name(j->phase));
        return OTF_CLI_EXIT_NOTFOUND;
    }
    snprintf(table_id, sizeof table_id, "%s-catalog", j->id);
    snprintf(def_name, sizeof def_name, "otf job %s", j->id);
    s.table_url = href;
    s.table_id = table_id;
    s.table_name = name ? name : def_name;
    st = otf_client_samp_notify(&s, &n, NULL, e);
    if (st != OTF_OK)
        return OTF_CLI_EXIT_SAMP;
    *n_out = n;
    if (!cl->quiet && !cl->json) {
        if (n > 0)
            fprintf(stderr, "otf %s: sent the catalogue of job %s to %d SAMP client%s\n", cl->cmd,
                    j->id, n, n == 1 ? "" : "s");
        else
            fprintf(stderr,
                    "otf %s: the SAMP hub has no client for table.load.votable (start "
                    "TOPCAT or Aladin)\n",
                    cl->cmd);
    }
    return 0;
}

/* Before any upload or request: is there a hub to send to? Returns 0 or OTF_CLI_EXIT_SAMP with
 * the one line printed. */
static int samp_check(const struct otf_cli *cl)
{
    struct otf_client_samp_hub h;
    struct otf_client_error e = {0};

    if (!otf_client_samp_available())
        snprintf(e.msg, sizeof e.msg,
                 "built without SAMP support (libxmlrpc-c was missing at build time)");
    else if (otf_client_samp_find_hub(&h, &e) == OTF_OK)
        return 0;
    otf_cli_error(cl, "%s", e.msg);
    if (cl->json)
        otf_cli_print_json(json_pack("{s:s,s:i,s:s,s:i}", "error", e.msg, "exit", OTF_CLI_EXIT_SAMP,
                                     "kind", otf_cli_exit_name(OTF_CLI_EXIT_SAMP), "http", 0));
    return OTF_CLI_EXIT_SAMP;
}

/* ---- submit ---- */

enum {
    SUB_MODEL = OTF_CLI_OPT_FIRST_LOCAL,
    SUB_PRECISION,
    SUB_PARAM,
    SUB_ROI,
    SUB_RA,
    SUB_DEC,
    SUB_SIZE,
    SUB_RUNID,
    SUB_IMAGE_URL,
    SUB_WAIT,
    SUB_TIMEOUT,
    SUB_OUTPUT,
    SUB_PENDING,
    SUB_SAMP
};

struct submit_state {
    const char *model, *precision, *roi, *ra, *dec, *size, *run_id, *dir;
    struct otf_client_param params[64];
    size_t n_params;
    const char *urls[256];
    size_t n_urls;
    int wait, pending, samp;
    int64_t timeout_ms;
};

static const char submit_usage[] =
    "usage: otf submit FILE... --model ID [options]\n"
    "       otf submit --image-url URL... --model ID [options]\n"
    "Uploads each FITS file (or names each image URL) as a new job and queues it.\n"
    "Prints one job id per line; with --wait, 'ID PHASE FILES...' once the jobs end.\n"
    "  -m, --model ID          model id (see 'otf models'); required\n"
    "  -p, --precision P       FP32 (default), BF16, FP16, TF32, INT8 or a CIANNA alias\n"
    "  -P, --param NAME=VALUE  any job parameter (THRESHOLD, NMS, HDU, ...); repeatable\n"
    "  --roi x0,y0,x1,y1       region of interest in pixels\n"
    "  --ra DEG --dec DEG [--size DEG]  region of interest on the sky\n"
    "  --run-id TEXT           UWS runId\n"
    "  --image-url URL         image fetched by the server instead of an upload; repeatable\n"
    "  --pending               create the jobs PENDING instead of queueing them\n"
    "  -w, --wait              wait for every job and fetch its results\n"
    "  --timeout S             with --wait: give up after S seconds (exit 5)\n"
    "  -o, --output DIR        with --wait: where results go (default .)\n"
    "  --samp                  with --wait: send each catalogue to the SAMP hub (exit 11 when\n"
    "                          that fails: no hub running, bad lockfile, hub refused)\n";

static const struct option submit_opts[] = {
    {"model", required_argument, NULL, 'm'},
    {"precision", required_argument, NULL, 'p'},
    {"param", required_argument, NULL, 'P'},
    {"roi", required_argument, NULL, SUB_ROI},
    {"ra", required_argument, NULL, SUB_RA},
    {"dec", required_argument, NULL, SUB_DEC},
    {"size", required_argument, NULL, SUB_SIZE},
    {"run-id", required_argument, NULL, SUB_RUNID},
    {"image-url", required_argument, NULL, SUB_IMAGE_URL},
    {"pending", no_argument, NULL, SUB_PENDING},
    {"wait", no_argument, NULL, 'w'},
    {"timeout", required_argument, NULL, SUB_TIMEOUT},
    {"output", required_argument, NULL, 'o'},
    {"samp", no_argument, NULL, SUB_SAMP},
    {NULL, 0, NULL, 0},
};

static int submit_opt(struct otf_cli *cl, void *state, int id, const char *arg)
{
    struct submit_state *s = state;
    double v;
    const char *eq;

    switch (id) {
    case 'm':
        s->model = arg;
        return 0;
    case 'p':
        s->precision = arg;
        return 0;
    case 'P':
        eq = strchr(arg, '=');
        if (!eq || eq == arg)
            return otf_cli_usage_error(cl, "--param needs NAME=VALUE, not '%s'", arg);
        if (s->n_params >= sizeof s->params / sizeof s->params[0])
            return otf_cli_usage_error(cl, "too many --param");
        s->params[s->n_params].name = otf_xstrndup(arg, (size_t)(eq - arg));
        s->params[s->n_params].value = otf_xstrdup(eq + 1);
        s->n_params++;
        return 0;
    case SUB_ROI: {
        long long a, b, c, d;
        char tail;
        if (sscanf(arg, "%lld,%lld,%lld,%lld%c", &a, &b, &c, &d, &tail) != 4)
            return otf_cli_usage_error(cl, "--roi needs x0,y0,x1,y1 in pixels, not '%s'", arg);
        s->roi = arg;
        return 0;
    }
    case SUB_RA:
    case SUB_DEC:
    case SUB_SIZE:
        if (parse_num(arg, &v) != 0)
            return otf_cli_usage_error(cl, "--%s needs a number of degrees, not '%s'",
                                       id == SUB_RA    ? "ra"
                                       : id == SUB_DEC ? "dec"
                                                       : "size",
                                       arg);
        if (id == SUB_RA)
            s->ra = arg;
        else if (id == SUB_DEC)
            s->dec = arg;
        else
            s->size = arg;
        return 0;
    case SUB_RUNID:
        s->run_id = arg;
        return 0;
    case SUB_IMAGE_URL:
        if (s->n_urls >= sizeof s->urls / sizeof s->urls[0])
            return otf_cli_usage_error(cl, "too many --image-url");
        s->urls[s->n_urls++] = arg;
        return 0;
    case SUB_PENDING:
        s->pending = 1;
        return 0;
    case SUB_SAMP:
        s->samp = 1;
        return 0;
    case 'w':
        s->wait = 1;
        return 0;
    case SUB_TIMEOUT:
        return parse_timeout(cl, arg, &s->timeout_ms);
    case 'o':
        s->dir = arg;
        return 0;
    default:
        return OTF_CLI_EXIT_USAGE;
    }
}

struct item {
    const char *src; /* file or URL */
    char *id;
    int code;
    char msg[OTF_CLIENT_ERROR_SIZE + 4096]; /* "SOURCE: message" */
    struct otf_client_job *job;             /* final state (--wait) */
    json_t *files;
    struct otf_buf paths;
    int samp_sent; /* --samp: receivers of the catalogue, -1 = not sent */
};

static int cmd_submit(const struct otf_cli *preset, int argc, char **argv)
{
    static const struct cmd_spec spec = {submit_usage, submit_opts, "m:p:P:wo:", submit_opt};
    struct submit_state s = {0};
    struct otf_cli cl;
    struct otf_client_param params[80];
    struct item *items = NULL;
    size_t n_items = 0, np = 0;
    int first = 0, rc, code = 0;
    int64_t deadline;

    otf_cli_init(&cl, "submit", preset);
    s.timeout_ms = -1;
    s.dir = ".";
    rc = parse_args(&cl, &spec, &s, argc, argv, &first);
    if (rc != 0)
        goto out;
    n_items = (size_t)(argc - first) + s.n_urls;
    if (n_items == 0) {
        rc = otf_cli_usage_error(&cl, "no FITS file (or --image-url) to submit");
        goto out;
    }
    if (!s.model) {
        rc = otf_cli_usage_error(&cl, "--model is required (see 'otf models')");
        goto out;
    }
    if (s.roi && (s.ra || s.dec || s.size)) {
        rc = otf_cli_usage_error(&cl, "give either --roi or --ra/--dec/--size, not both");
        goto out;
    }
    if ((s.ra || s.dec || s.size) && !(s.ra && s.dec)) {
        rc = otf_cli_usage_error(&cl, "--ra and --dec go together");
        goto out;
    }
    if (!s.wait && (s.timeout_ms >= 0 || strcmp(s.dir, ".") != 0 || s.samp)) {
        rc = otf_cli_usage_error(&cl, "--timeout, --output and --samp need --wait");
        goto out;
    }
    if (s.wait && s.pending) {
        rc = otf_cli_usage_error(&cl, "--wait and --pending exclude each other");
        goto out;
    }
    if (s.wait && (rc = ensure_dir(&cl, s.dir)) != 0)
        goto out;
    if (s.samp && (rc = samp_check(&cl)) != 0)
        goto out;
    if ((rc = otf_cli_connect(&cl)) != 0)
        goto out;
    /* Region and extra parameters, the same for every job of this call. */
    if (s.roi)
        params[np++] = (struct otf_client_param){"ROI", (char *)s.roi};
    if (s.ra) {
        params[np++] = (struct otf_client_param){"RA", (char *)s.ra};
        params[np++] = (struct otf_client_param){"DEC", (char *)s.dec};
    }
    if (s.size)
        params[np++] = (struct otf_client_param){"SIZE", (char *)s.size};
    for (size_t i = 0; i < s.n_params; i++)
        params[np++] = s.params[i];

    items = otf_xcalloc(n_items, sizeof *items);
    for (size_t i = 0; i < n_items; i++) {
        struct item *it = &items[i];
        int is_file = i < (size_t)(argc - first);
        struct otf_client_submit sub = {0};
        struct otf_client_error e = {0};
        struct otf_cli_bar bar;
        enum otf_status st;

        it->src = is_file ? argv[first + (int)i] : s.urls[i - (size_t)(argc - first)];
        it->samp_sent = -1;
        otf_buf_init(&it->paths, 1 << 16);
        sub.image_path = is_file ? it->src : NULL;
        sub.image_url = is_file ? NULL : it->src;
        sub.model = s.model;
        sub.precision = s.precision;
        sub.run_id = s.run_id;
        sub.params = params;
        sub.n_params = np;
        sub.run = !s.pending;
        otf_cli_bar_init(&bar, &cl, it->src);
        if (cl.progress && is_file) {
            sub.progress = otf_cli_bar_bytes;
            sub.progress_user = &bar;
        }
        st = otf_client_create_job(cl.c, &sub, &it->id, &e);
        otf_cli_bar_done(&bar);
        if (st != OTF_OK) {
            it->code = otf_cli_exit_for(st, &e);
            if (st == OTF_E_IO)
                it->code = OTF_CLI_EXIT_FAIL;
            snprintf(it->msg, sizeof it->msg, "%s: %s", it->src, e.msg);
            otf_cli_error(&cl, "%s", it->msg);
        } else if (!s.wait && !cl.json) {
            printf("%s\n", it->id);
            fflush(stdout);
        }
    }
    if (s.wait) {
        deadline = s.timeout_ms >= 0 ? otf_time_mono_us() + s.timeout_ms * 1000 : INT64_MAX;
        for (size_t i = 0; i < n_items; i++) {
            struct item *it = &items[i];
            struct otf_client_error e = {0};
            if (!it->id)
                continue;
            it->code = wait_one(&cl, it->id, deadline, &it->job, &e);
            if (it->code != 0 && !it->job) {
                snprintf(it->msg, sizeof it->msg, "%s", e.msg);
                otf_cli_error(&cl, "%s", e.msg);
                continue;
            }
            if (it->code == OTF_CLI_EXIT_TIMEOUT) {
                snprintf(it->msg, sizeof it->msg, "%s", e.msg);
                otf_cli_error(&cl, "%s", e.msg);
                continue;
            }
            if (it->job->phase == OTF_CLIENT_PHASE_ERROR) {
                snprintf(it->msg, sizeof it->msg, "job %s failed: %s", it->id,
                         it->job->error_summary ? it->job->error_summary : "(no message)");
                otf_cli_error(&cl, "%s", it->msg);
            }
            if (it->job->phase == OTF_CLIENT_PHASE_COMPLETED) {
                int fc;
                it->files = json_array();
                fc = fetch_all(&cl, it->job, s.dir, NULL, 0, it->files, &it->paths, &e);
                if (fc && !it->code) {
                    it->code = fc;
                    snprintf(it->msg, sizeof it->msg, "%s", e.msg);
                }
            }
            if (it->job->phase == OTF_CLIENT_PHASE_COMPLETED && s.samp) {
                int sc = samp_send_job(&cl, it->job, NULL, &it->samp_sent, &e);
                if (sc) {
                    otf_cli_error(&cl, "%s", e.msg);
                    if (!it->code) {
                        it->code = sc;
                        snprintf(it->msg, sizeof it->msg, "%s", e.msg);
                    }
                }
            }
        }
    }
    for (size_t i = 0; i < n_items && !code; i++)
        code = items[i].code;
    if (cl.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n_items; i++) {
            struct item *it = &items[i];
            json_t *o = json_pack("{s:s,s:s?}", "source", it->src, "jobId", it->id);
            if (it->job) {
                json_object_set_new(o, "phase", json_string(otf_client_phase_name(it->job->phase)));
                json_object_set_new(o, "job", otf_cli_job_json(it->job));
            } else if (it->id) {
                json_object_set_new(o, "phase", json_string(s.pending ? "PENDING" : "QUEUED"));
            }
            if (it->files)
                json_object_set(o, "files", it->files);
            if (s.samp && it->samp_sent >= 0)
                json_object_set_new(o, "sampReceivers", json_integer(it->samp_sent));
            json_object_set_new(o, "exit", json_integer(it->code));
            json_object_set_new(o, "error", it->code ? json_string(it->msg) : json_null());
            json_array_append_new(arr, o);
        }
        otf_cli_print_json(json_pack("{s:o,s:i}", "jobs", arr, "exit", code));
    } else if (s.wait) {
        for (size_t i = 0; i < n_items; i++) {
            struct item *it = &items[i];
            if (it->job)
                printf("%s %s%s%s\n", it->id, otf_client_phase_name(it->job->phase),
                       it->paths.len ? " " : "", it->paths.len ? it->paths.data : "");
        }
    }
    rc = code;
out:
    for (size_t i = 0; i < n_items && items; i++) {
        free(items[i].id);
        otf_client_job_free(items[i].job);
        json_decref(items[i].files);
        otf_buf_cleanup(&items[i].paths);
    }
    free(items);
    for (size_t i = 0; i < s.n_params; i++) {
        free(s.params[i].name);
        free(s.params[i].value);
    }
    otf_cli_cleanup(&cl);
    return rc == HELP_SHOWN ? OTF_CLI_EXIT_OK : rc;
}

/* ---- status ---- */

static const char status_usage[] = "usage: otf status ID [options]\n"
                                   "Shows a job: phase, parameters, progress, error, results.\n"
                                   "Exits 0 whenever the job could be read (see 'otf wait').\n";

static void print_time(const char *label, int64_t t_us)
{
    char iso[OTF_TIME_ISO_LEN], age[32];
    if (!t_us) {
        printf("%-12s -\n", label);
        return;
    }
    otf_time_format_iso(t_us, iso);
    otf_cli_fmt_age((otf_time_now_us() - t_us) / 1000000, age, sizeof age);
    printf("%-12s %s (%s ago)\n", label, iso, age);
}

static void print_job(const struct otf_client_job *j)
{
    printf("%-12s %s\n", "job", j->id);
    printf("%-12s %s\n", "phase", otf_client_phase_name(j->phase));
    printf("%-12s %s\n", "owner", j->owner ? j->owner : "-");
    if (j->run_id)
        printf("%-12s %s\n", "run id", j->run_id);
    print_time("created", j->creation_us);
    print_time("started", j->start_us);
    print_time("ended", j->end_us);
    if (j->destruction_us) {
        char iso[OTF_TIME_ISO_LEN];
        otf_time_format_iso(j->destruction_us, iso);
        printf("%-12s %s\n", "destruction", iso);
    }
    if (j->patches_total > 0)
        printf("%-12s %lld/%lld patches%s%s\n", "progress", (long long)j->patches_done,
               (long long)j->patches_total, j->stage ? ", " : "", j->stage ? j->stage : "");
    else if (j->stage)
        printf("%-12s %s\n", "stage", j->stage);
    if (j->batch)
        printf("%-12s %s\n", "batch", j->batch);
    for (size_t i = 0; i < j->n_params; i++) {
        /* The image parameter is a long URL back to the upload: shown last. */
        if (strcmp(j->params[i].name, "image") != 0)
            printf("%-12s %s = %s\n", i == 0 ? "parameters" : "", j->params[i].name,
                   j->params[i].value ? j->params[i].value : "");
    }
    if (j->error_summary)
        printf("%-12s %s\n", "error", j->error_summary);
    for (size_t i = 0; i < j->n_results; i++)
        printf("%-12s %s %s\n", i == 0 ? "results" : "", j->results[i].id,
               j->results[i].href ? j->results[i].href : "");
}

static int cmd_status(const struct otf_cli *preset, int argc, char **argv)
{
    static const struct cmd_spec spec = {status_usage, NULL, NULL, NULL};
    struct otf_cli cl;
    struct otf_client_job *j = NULL;
    struct otf_client_error e = {0};
    enum otf_status st;
    int first = 0, rc;

    otf_cli_init(&cl, "status", preset);
    if ((rc = parse_args(&cl, &spec, NULL, argc, argv, &first)) != 0)
        goto out;
    if (argc - first != 1) {
        rc = otf_cli_usage_error(&cl, "give exactly one job id");
        goto out;
    }
    if ((rc = otf_cli_connect(&cl)) != 0)
        goto out;
    st = otf_client_get_job(cl.c, argv[first], &j, &e);
    if (st != OTF_OK) {
        rc = otf_cli_fail(&cl, st, &e);
        goto out;
    }
    if (cl.json)
        otf_cli_print_json(otf_cli_job_json(j));
    else
        print_job(j);
out:
    otf_client_job_free(j);
    otf_cli_cleanup(&cl);
    return rc == HELP_SHOWN ? OTF_CLI_EXIT_OK : rc;
}

/* ---- list ---- */

enum { LIST_PHASE = OTF_CLI_OPT_FIRST_LOCAL, LIST_LAST, LIST_AFTER };

static const char list_usage[] =
    "usage: otf list [--phase P]... [--last N] [--after TIME] [options]\n"
    "Lists your jobs (all jobs for an admin token): ID PHASE CREATED RUNID OWNER.\n"
    "  --phase P     only jobs in phase P (PENDING, QUEUED, EXECUTING, COMPLETED, ERROR,\n"
    "                ABORTED, HELD, ...); repeatable, or comma-separated\n"
    "  --last N      only the N most recent jobs\n"
    "  --after TIME  only jobs created after TIME (ISO 8601, e.g. 2025-03-01T12:00:00Z)\n";

static const struct option list_opts[] = {
    {"phase", required_argument, NULL, LIST_PHASE},
    {"last", required_argument, NULL, LIST_LAST},
    {"after", required_argument, NULL, LIST_AFTER},
    {NULL, 0, NULL, 0},
};

static int list_opt(struct otf_cli *cl, void *state, int id, const char *arg)
{
    struct otf_client_list_filter *f = state;
    switch (id) {
    case LIST_PHASE: {
        char *copy = otf_xstrdup(arg), *save = NULL, *tok;
        for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            enum otf_client_phase p;
            for (char *c = tok; *c; c++)
                *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
            if (otf_client_phase_parse(tok, &p) != OTF_OK) {
                free(copy);
                return otf_cli_usage_error(cl, "unknown phase '%s'", arg);
            }
            f->phase_mask |= 1u << p;
        }
        free(copy);
        return 0;
    }
    case LIST_LAST:
        if (otf_str_to_i64(arg, &f->last) != OTF_OK || f->last <= 0)
            return otf_cli_usage_error(cl, "--last needs a positive integer, not '%s'", arg);
        return 0;
    case LIST_AFTER:
        if (otf_time_parse_iso(arg, &f->after_us) != OTF_OK)
            return otf_cli_usage_error(cl, "--after needs an ISO 8601 time, not '%s'", arg);
        return 0;
    default:
        return OTF_CLI_EXIT_USAGE;
    }
}

static int cmd_list(const struct otf_cli *preset, int argc, char **argv)
{
    static const struct cmd_spec spec = {list_usage, list_opts, NULL, list_opt};
    struct otf_client_list_filter f = {0};
    struct otf_cli cl;
    struct otf_client_job **jobs = NULL;
    struct otf_client_error e = {0};
    size_t n = 0;
    enum otf_status st;
    int first = 0, rc;

    otf_cli_init(&cl, "list", preset);
    if ((rc = parse_args(&cl, &spec, &f, argc, argv, &first)) != 0)
        goto out;
    if (argc - first != 0) {
        rc = otf_cli_usage_error(&cl, "unexpected argument '%s'", argv[first]);
        goto out;
    }
    if ((rc = otf_cli_connect(&cl)) != 0)
        goto out;
    st = otf_client_list_jobs(cl.c, &f, &jobs, &n, &e);
    if (st != OTF_OK) {
        rc = otf_cli_fail(&cl, st, &e);
        goto out;
    }
    if (cl.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, otf_cli_job_json(jobs[i]));
        otf_cli_print_json(json_pack("{s:o}", "jobs", arr));
    } else {
        for (size_t i = 0; i < n; i++) {
            char iso[OTF_TIME_ISO_LEN];
            otf_time_format_iso(jobs[i]->creation_us, iso);
            printf("%-20s %-10s %s %s %s\n", jobs[i]->id, otf_client_phase_name(jobs[i]->phase),
                   iso, jobs[i]->run_id ? jobs[i]->run_id : "-",
                   jobs[i]->owner ? jobs[i]->owner : "-");
        }
    }
out:
    otf_client_job_array_free(jobs, n);
    otf_cli_cleanup(&cl);
    return rc == HELP_SHOWN ? OTF_CLI_EXIT_OK : rc;
}

/* ---- wait ---- */

enum { WAIT_TIMEOUT = OTF_CLI_OPT_FIRST_LOCAL };

static const char wait_usage[] =
    "usage: otf wait ID... [--timeout S] [options]\n"
    "Blocks until every job ends (UWS WAIT); prints 'ID PHASE' for each.\n"
    "Exit 0 when all COMPLETED, else the code of the first job that did not:\n"
    "3 ERROR, 4 ABORTED, 5 still running at the timeout.\n"
    "  --timeout S   give up after S seconds in all (default: no limit)\n";

static const struct option wait_opts[] = {
    {"timeout", required_argument, NULL, WAIT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

static int wait_opt(struct otf_cli *cl, void *state, int id, const char *arg)
{
    if (id == WAIT_TIMEOUT)
        return parse_timeout(cl, arg, state);
    return OTF_CLI_EXIT_USAGE;
}

static int cmd_wait(const struct otf_cli *preset, int argc, char **argv)
{
    static const struct cmd_spec spec = {wait_usage, wait_opts, NULL, wait_opt};
    struct otf_cli cl;
    int64_t timeout_ms = -1, deadline;
    json_t *arr = NULL;
    int first = 0, rc, code = 0;

    otf_cli_init(&cl, "wait", preset);
    if ((rc = parse_args(&cl, &spec, &timeout_ms, argc, argv, &first)) != 0)
        goto out;
    if (argc - first < 1) {
        rc = otf_cli_usage_error(&cl, "give at least one job id");
        goto out;
    }
    if ((rc = otf_cli_connect(&cl)) != 0)
        goto out;
    deadline = timeout_ms >= 0 ? otf_time_mono_us() + timeout_ms * 1000 : INT64_MAX;
    arr = json_array();
    for (int i = first; i < argc; i++) {
        struct otf_client_job *j = NULL;
        struct otf_client_error e = {0};
        int c = wait_one(&cl, argv[i], deadline, &j, &e);
        json_t *o;
        if (j) {
            o = json_pack("{s:s,s:s,s:i,s:o}", "jobId", j->id, "phase",
                          otf_client_phase_name(j->phase), "exit", c, "job", otf_cli_job_json(j));
            if (!cl.json)
                printf("%s %s\n", j->id, otf_client_phase_name(j->phase));
            if (c == OTF_CLI_EXIT_TIMEOUT)
                otf_cli_error(&cl, "%s", e.msg);
            else if (j->phase == OTF_CLIENT_PHASE_ERROR)
                otf_cli_error(&cl, "job %s failed: %s", j->id,
                              j->error_summary ? j->error_summary : "(no message)");
        } else {
            o = json_pack("{s:s,s:i,s:s}", "jobId", argv[i], "exit", c, "error", e.msg);
            otf_cli_error(&cl, "%s", e.msg);
        }
        json_array_append_new(arr, o);
        otf_client_job_free(j);
        if (!code)
            code = c;
    }
    if (cl.json) {
        otf_cli_print_json(json_pack("{s:O,s:i}", "jobs", arr, "exit", code));
    }
    rc = code;
out:
    json_decref(arr);
    otf_cli_cleanup(&cl);
    return rc == HELP_SHOWN ? OTF_CLI_EXIT_OK : rc;
}

/* ---- results, fetch ---- */

static const char results_usage[] =
    "usage: otf results ID [options]\n"
    "Lists a job's results: NAME MIME-TYPE SIZE URL (none until the job has completed).\n";

static int cmd_results(const struct otf_cli *preset, int argc, char **argv)
{
    static const struct cmd_spec spec = {results_usage, NULL, NULL, NULL};
    struct otf_cli cl;
    struct otf_client_job *j = NULL;
    struct otf_client_error e = {0};
    enum otf_status st;
    int first = 0, rc;

    otf_cli_init(&cl, "results", preset);
    if ((rc = parse_args(&cl, &spec, NULL, argc, argv, &first)) != 0)
        goto out;
    if (argc - first != 1) {
        rc = otf_cli_usage_error(&cl, "give exactly one job id");
        goto out;
    }
    if ((rc = otf_cli_connect(&cl)) != 0)
        goto out;
    st = otf_client_get_job(cl.c, argv[first], &j, &e);
    if (st != OTF_OK) {
        rc = otf_cli_fail(&cl, st, &e);
        goto out;
    }
    if (cl.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < j->n_results; i++) {
            const struct otf_client_result *r = &j->results[i];
            json_array_append_new(arr, json_pack("{s:s,s:s?,s:s?,s:I}", "id", r->id, "href",
                                                 r->href, "mimeType", r->mime, "size",
                                                 (json_int_t)r->size_bytes));
        }
        otf_cli_print_json(json_pack("{s:s,s:s,s:o}", "jobId", j->id, "phase",
                                     otf_client_phase_name(j->phase), "results", arr));
    } else {
        for (size_t i = 0; i < j->n_results; i++) {
            const struct otf_client_result *r = &j->results[i];
            printf("%-12s %-28s %10lld %s\n", r->id, r->mime ? r->mime : "-",
                   (long long)r->size_bytes, r->href ? r->href : "");
        }
        if (j->n_results == 0 && !cl.quiet)
            fprintf(stderr, "otf results: job %s has no results (phase %s)\n", j->id,
                    otf_client_phase_name(j->phase));
    }
out:
    otf_client_job_free(j);
    otf_cli_cleanup(&cl);
    return rc == HELP_SHOWN ? OTF_CLI_EXIT_OK : rc;
}

static const char fetch_usage[] =
    "usage: otf fetch ID [NAME...] [-o DIR] [options]\n"
    "Downloads a job's results (all of them, or the NAMEs: catalog, regions, provenance,\n"
    "preview) into DIR as ID_NAME.EXT; prints each file's path.\n"
    "  -o, --output DIR   destination folder (default .)\n";

static const struct option fetch_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {NULL, 0, NULL, 0},
};

static int fetch_opt(struct otf_cli *cl, void *state, int id, const char *arg)
{
    (void)cl;
    if (id == 'o') {
        *(const char **)state = arg;
        return 0;
    }
    return OTF_CLI_EXIT_USAGE;
}

static int cmd_fetch(const struct otf_cli *preset, int argc, char **argv)
{
    static const struct cmd_spec spec = {fetch_usage, fetch_opts, "o:", fetch_opt};
    struct otf_cli cl;
    struct otf_client_job *j = NULL;
    struct otf_client_error e = {0};
    const char *dir = ".";
    json_t *files = NULL;
    struct otf_buf line;
    enum otf_status st;
    int first = 0, rc;

    otf_cli_init(&cl, "fetch", preset);
    otf_buf_init(&line, 1 << 16);
    if ((rc = parse_args(&cl, &spec, &dir, argc, argv, &first)) != 0)
        goto out;
    if (argc - first < 1) {
        rc = otf_cli_usage_error(&cl, "give a job id");
        goto out;
    }
    if ((rc = ensure_dir(&cl, dir)) != 0)
        goto out;
    if ((rc = otf_cli_connect(&cl)) != 0)
        goto out;
    st = otf_client_get_job(cl.c, argv[first], &j, &e);
    if (st != OTF_OK) {
        rc = otf_cli_fail(&cl, st, &e);
        goto out;
    }
    if (argc - first == 1 && j->n_results == 0) {
        e.code = OTF_E_NOTFOUND;
        e.http_status = 0;
        snprintf(e.msg, sizeof e.msg, "job %s has no results (phase %s)", j->id,
                 otf_client_phase_name(j->phase));
        rc = otf_cli_fail(&cl, OTF_E_NOTFOUND, &e);
        goto out;
    }
    files = json_array();
    rc = fetch_all(&cl, j, dir, argc - first > 1 ? (const char *const *)argv + first + 1 : NULL,
                   (size_t)(argc - first - 1), files, &line, &e);
    if (cl.json) {
        otf_cli_print_json(json_pack("{s:s,s:s,s:O,s:i}", "jobId", j->id, "phase",
                                     otf_client_phase_name(j->phase), "files", files, "exit", rc));
    } else {
        size_t i;
        json_t *f;
        json_array_foreach(files, i, f)
        {
            if (json_object_get(f, "path"))
                printf("%s\n", json_string_value(json_object_get(f, "path")));
        }
    }
out:
    json_decref(files);
    otf_buf_cleanup(&line);
    otf_client_job_free(j);
    otf_cli_cleanup(&cl);
    return rc == HELP_SHOWN ? OTF_CLI_EXIT_OK : rc;
}

/* ---- abort, delete ---- */

static const char abort_usage[] = "usage: otf abort ID... [options]\n"
                                  "Aborts jobs (PHASE=ABORT); prints 'ID PHASE' for each.\n"
                                  "A job that has already ended cannot be aborted (exit 9).\n";
static const char delete_usage[] = "usage: otf delete ID... [options]\n"
                                   "Deletes jobs and their files (aborting running ones).\n";

static int abort_or_delete(const struct otf_cli *preset, int argc, char **argv, int is_delete)
{
    static const struct cmd_spec abort_spec = {abort_usage, NULL, NULL, NULL};
    static const struct cmd_spec delete_spec = {delete_usage, NULL, NULL, NULL};
    struct otf_cli cl;
    json_t *arr = NULL;
    int first = 0, rc, code = 0;

    otf_cli_init(&cl, is_delete ? "delete" : "abort", preset);
    if ((rc = parse_args(&cl, is_delete ? &delete_spec : &abort_spec, NULL, argc, argv, &first)) !=
        0)
        goto out;
    if (argc - first < 1) {
        rc = otf_cli_usage_error(&cl, "give at least one job id");
        goto out;
    }
    if ((rc = otf_cli_connect(&cl)) != 0)
        goto out;
    arr = json_array();
    for (int i = first; i < argc; i++) {
        struct otf_client_error e = {0};
        struct otf_client_job *j = NULL;
        enum otf_status st = is_delete ? otf_client_delete_job(cl.c, argv[i], &e)
                                       : otf_client_abort_job(cl.c, argv[i], &e);
        int c = 0;
        if (st == OTF_OK && !is_delete)
            st = otf_client_get_job(cl.c, argv[i], &j, &e);
        if (st != OTF_OK) {
            c = otf_cli_exit_for(st, &e);
            otf_cli_error(&cl, "%s: %s", argv[i], e.msg);
            json_array_append_new(
                arr, json_pack("{s:s,s:i,s:s}", "jobId", argv[i], "exit", c, "error", e.msg));
        } else if (is_delete) {
            if (!cl.json)
                printf("%s deleted\n", argv[i]);
            json_array_append_new(
                arr, json_pack("{s:s,s:b,s:i}", "jobId", argv[i], "deleted", 1, "exit", 0));
        } else {
            if (!cl.json)
                printf("%s %s\n", j->id, otf_client_phase_name(j->phase));
            json_array_append_new(arr, json_pack("{s:s,s:s,s:i}", "jobId", j->id, "phase",
                                                 otf_client_phase_name(j->phase), "exit", 0));
        }
        otf_client_job_free(j);
        if (!code)
            code = c;
    }
    if (cl.json)
        otf_cli_print_json(json_pack("{s:O,s:i}", "jobs", arr, "exit", code));
    rc = code;
out:
    json_decref(arr);
    otf_cli_cleanup(&cl);
    return rc == HELP_SHOWN ? OTF_CLI_EXIT_OK : rc;
}

static int cmd_abort(const struct otf_cli *preset, int argc, char **argv)
{
    return abort_or_delete(preset, argc, argv, 0);
}

static int cmd_delete(const struct otf_cli *preset, int argc, char **argv)
{
    return abort_or_delete(preset, argc, argv, 1);
}

/* ---- models ---- */

static const char models_usage[] = "usage: otf models [options]\n"
                                   "Lists the service's models: ID PRECISIONS DESCRIPTION.\n"
                                   "With --json, the full model cards.\n";

static int cmd_models(const struct otf_cli *preset, int argc, char **argv)
{
    static const struct cmd_spec spec = {models_usage, NULL, NULL, NULL};
    struct otf_cli cl;
    struct otf_client_model *m = NULL;
    struct otf_client_error e = {0};
    size_t n = 0;
    enum otf_status st;
    int first = 0, rc;

    otf_cli_init(&cl, "models", preset);
    if ((rc = parse_args(&cl, &spec, NULL, argc, argv, &first)) != 0)
        goto out;
    if (argc - first != 0) {
        rc = otf_cli_usage_error(&cl, "unexpected argument '%s'", argv[first]);
        goto out;
    }
    if ((rc = otf_cli_connect(&cl)) != 0)
        goto out;
    st = otf_client_list_models(cl.c, &m, &n, &e);
    if (st != OTF_OK) {
        rc = otf_cli_fail(&cl, st, &e);
        goto out;
    }
    if (cl.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_error_t je;
            json_t *card = json_loads(m[i].card_json, 0, &je);
            json_array_append_new(arr, card ? card : json_pack("{s:s}", "id", m[i].id));
        }
        otf_cli_print_json(json_pack("{s:o}", "models", arr));
    } else {
        for (size_t i = 0; i < n; i++) {
            char prec[128] = "";
            size_t k = 0;
            for (size_t p = 0; p < m[i].n_precisions && k + 1 < sizeof prec; p++)
                k += (size_t)snprintf(prec + k, sizeof prec - k, "%s%s", p ? "," : "",
                                      m[i].precisions[p]);
            printf("%-16s %-16s %s\n", m[i].id, prec[0] ? prec : "-",
                   m[i].description ? m[i].description : "");
        }
    }
out:
    otf_client_models_free(m, n);
    otf_cli_cleanup(&cl);
    return rc == HELP_SHOWN ? OTF_CLI_EXIT_OK : rc;
}

/* ---- samp ---- */

enum { SAMP_NAME = OTF_CLI_OPT_FIRST_LOCAL };

static const char samp_usage[] =
    "usage: otf samp ID... [--name TEXT] [options]\n"
    "Sends the catalogue of each COMPLETED job to the desktop tools (TOPCAT, Aladin) registered\n"
    "with the SAMP hub of this session (SAMP_HUB or ~/.samp), as table.load.votable with the\n"
    "catalogue's URL on the service; the tools download it from there.\n"
    "  --name TEXT             table name shown by the tools (default 'otf job ID')\n";

static const struct option samp_opts[] = {
    {"name", required_argument, NULL, SAMP_NAME},
    {NULL, 0, NULL, 0},
};

static int samp_opt(struct otf_cli *cl, void *state, int id, const char *arg)
{
    (void)cl;
    if (id != SAMP_NAME)
        return OTF_CLI_EXIT_USAGE;
    *(const char **)state = arg;
    return 0;
}

static int cmd_samp(const struct otf_cli *preset, int argc, char **argv)
{
    static const struct cmd_spec spec = {samp_usage, samp_opts, NULL, samp_opt};
    struct otf_cli cl;
    const char *name = NULL;
    json_t *arr = NULL;
    int first = 0, rc, code = 0;

    otf_cli_init(&cl, "samp", preset);
    if ((rc = parse_args(&cl, &spec, &name, argc, argv, &first)) != 0)
        goto out;
    if (argc - first < 1) {
        rc = otf_cli_usage_error(&cl, "give at least one job id");
        goto out;
    }
    if ((rc = samp_check(&cl)) != 0 || (rc = otf_cli_connect(&cl)) != 0)
        goto out;
    arr = json_array();
    for (int i = first; i < argc; i++) {
        struct otf_client_job *j = NULL;
        struct otf_client_error e = {0};
        enum otf_status st = otf_client_get_job(cl.c, argv[i], &j, &e);
        int c = 0, n = -1;
        if (st != OTF_OK)
            c = otf_cli_exit_for(st, &e);
        else if (j->phase != OTF_CLIENT_PHASE_COMPLETED) {
            c = otf_client_phase_is_final(j->phase) ? otf_cli_exit_for_phase(j->phase)
                                                    : OTF_CLI_EXIT_NOTFOUND;
            snprintf(e.msg, sizeof e.msg, "job %s is %s: no catalogue to send", j->id,
                     otf_client_phase_name(j->phase));
        } else {
            c = samp_send_job(&cl, j, name, &n, &e);
        }
        if (c)
            otf_cli_error(&cl, "%s", e.msg);
        json_array_append_new(arr, json_pack("{s:s,s:i,s:i,s:s?}", "jobId", argv[i], "exit", c,
                                             "sampReceivers", n, "error", c ? e.msg : NULL));
        if (!code)
            code = c;
        otf_client_job_free(j);
    }
    if (cl.json)
        otf_cli_print_json(json_pack("{s:O,s:i}", "jobs", arr, "exit", code));
    rc = code;
out:
    json_decref(arr);
    otf_cli_cleanup(&cl);
    return rc == HELP_SHOWN ? OTF_CLI_EXIT_OK : rc;
}

/* ---- entry points ---- */

struct entry {
    const char *name;
    int (*run)(const struct otf_cli *preset, int argc, char **argv);
};

static const struct entry entries[] = {
    {"submit", cmd_submit},   {"status", cmd_status}, {"list", cmd_list},   {"wait", cmd_wait},
    {"results", cmd_results}, {"fetch", cmd_fetch},   {"abort", cmd_abort}, {"delete", cmd_delete},
    {"models", cmd_models},   {"samp", cmd_samp},
};

int otf_cli_submit(int argc, char **argv)
{
    return cmd_submit(NULL, argc, argv);
}

int otf_cli_status(int argc, char **argv)
{
    return cmd_status(NULL, argc, argv);
}

int otf_cli_list(int argc, char **argv)
{
    return cmd_list(NULL, argc, argv);
}

int otf_cli_wait(int argc, char **argv)
{
    return cmd_wait(NULL, argc, argv);
}

int otf_cli_results(int argc, char **argv)
{
    return cmd_results(NULL, argc, argv);
}

int otf_cli_fetch(int argc, char **argv)
{
    return cmd_fetch(NULL, argc, argv);
}

int otf_cli_abort(int argc, char **argv)
{
    return cmd_abort(NULL, argc, argv);
}

int otf_cli_delete(int argc, char **argv)
{
    return cmd_delete(NULL, argc, argv);
}

int otf_cli_models(int argc, char **argv)
{
    return cmd_models(NULL, argc, argv);
}

int otf_cli_samp(int argc, char **argv)
{
    return cmd_samp(NULL, argc, argv);
}

/* Global options that take a value, and those that do not. */
static const char *const global_with_arg[] = {
    "--url",     "--token",  "--cacert", "--request-timeout", "--connect-timeout",
    "--retries", "--config", NULL};
static const char *const global_flags[] = {"--json", "--quiet", "-q", "--insecure", NULL};

static int match(const char *arg, const char *const *names, const char **value)
{
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        if (strcmp(arg, names[i]) == 0) {
            *value = NULL;
            return 1;
        }
        if (value && strncmp(arg, names[i], n) == 0 && arg[n] == '=') {
            *value = arg + n + 1;
            return 1;
        }
    }
    return 0;
}

int otf_cli_client_is_global(const char *arg)
{
    const char *v;
    return arg && (match(arg, global_with_arg, &v) || match(arg, global_flags, &v));
}

int otf_cli_client_main(int argc, char **argv)
{
    struct otf_cli pre;
    int i = 1, rc = OTF_CLI_EXIT_USAGE;

    otf_cli_init(&pre, "", NULL);
    /* `otf --url URL --json submit ...`: the same options as after the command. */
    while (i < argc && argv[i][0] == '-') {
        const char *v = NULL;
        int id = 0;
        struct option *opts = otf_cli_options(NULL);
        if (match(argv[i], global_flags, &v)) {
            for (struct option *o = opts; o->name; o++) {
                if (strcmp(argv[i] + 2, o->name) == 0)
                    id = o->val;
            }
            if (strcmp(argv[i], "-q") == 0)
                id = 'q';
        } else if (match(argv[i], global_with_arg, &v)) {
            size_t n = strcspn(argv[i] + 2, "=");
            for (struct option *o = opts; o->name; o++) {
                if (strlen(o->name) == n && strncmp(argv[i] + 2, o->name, n) == 0)
                    id = o->val;
            }
            if (!v) {
                if (i + 1 >= argc) {
                    free(opts);
                    fprintf(stderr, "otf: %s needs a value (see otf --help)\n", argv[i]);
                    goto out;
                }
                v = argv[++i];
            }
        }
        free(opts);
        if (!id) {
            fprintf(stderr, "otf: unknown option '%s' (see otf --help)\n", argv[i]);
            goto out;
        }
        pre.cmd = "";
        if (otf_cli_common_option(&pre, id, v) < 0)
            goto out;
        i++;
    }
    if (i >= argc) {
        fprintf(stderr, "otf: no command after the options (see otf --help)\n");
        goto out;
    }
    for (size_t k = 0; k < sizeof entries / sizeof entries[0]; k++) {
        if (strcmp(argv[i], entries[k].name) == 0) {
            rc = entries[k].run(&pre, argc - i, argv + i);
            goto out;
        }
    }
    fprintf(stderr, "otf: '%s' is not a service command (see otf --help)\n", argv[i]);
out:
    otf_cli_cleanup(&pre);
    return rc;
}
