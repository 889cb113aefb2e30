/* otf: settings, errors, JSON output and progress bars shared by the service commands. Settings
 * come from the config file (INI, url= token= ...), then OTF_URL/OTF_TOKEN, then the command
 * line; each later source wins. */
#include "apps/otf/otf_client_util.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "apps/otf/otf_cli.h"
#include "apps/otf/otf_client_cmd.h"
#include "core/core.h"

const char otf_cli_common_help[] =
    "common options:\n"
    "  --url URL             service base URL (env OTF_URL, config url=)\n"
    "  --token TOKEN         bearer token (env OTF_TOKEN, config token=)\n"
    "  --json                machine-readable JSON on stdout\n"
    "  -q, --quiet           no progress bars or notes\n"
    "  --request-timeout S   seconds to wait for an answer (default 30; config "
    "request_timeout=)\n"
    "  --connect-timeout S   seconds to connect (default 10)\n"
    "  --retries N           retries on 503 and network failures (default 3, 0 = none)\n"
    "  --cacert FILE         CA bundle for https (config cacert=)\n"
    "  --insecure            do not verify the server's TLS certificate\n"
    "  --config FILE         config file (default $XDG_CONFIG_HOME/otf/config or "
    "~/.config/otf/config)\n"
    "  -h, --help            this help\n";

static const struct option common_opts[] = {
    {"url", required_argument, NULL, OTF_CLI_OPT_URL},
    {"token", required_argument, NULL, OTF_CLI_OPT_TOKEN},
    {"json", no_argument, NULL, OTF_CLI_OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"insecure", no_argument, NULL, OTF_CLI_OPT_INSECURE},
    {"cacert", required_argument, NULL, OTF_CLI_OPT_CACERT},
    {"request-timeout", required_argument, NULL, OTF_CLI_OPT_REQ_TIMEOUT},
    {"connect-timeout", required_argument, NULL, OTF_CLI_OPT_CONN_TIMEOUT},
    {"retries", required_argument, NULL, OTF_CLI_OPT_RETRIES},
    {"config", required_argument, NULL, OTF_CLI_OPT_CONFIG},
    {"help", no_argument, NULL, 'h'},
};
#define N_COMMON (sizeof common_opts / sizeof common_opts[0])

void otf_cli_init(struct otf_cli *cl, const char *cmd, const struct otf_cli *preset)
{
    memset(cl, 0, sizeof *cl);
    cl->retries = -2;
    if (preset) {
        cl->json = preset->json;
        cl->quiet = preset->quiet;
        cl->insecure = preset->insecure;
        cl->request_timeout_ms = preset->request_timeout_ms;
        cl->connect_timeout_ms = preset->connect_timeout_ms;
        cl->retries = preset->retries;
        cl->opt_url = preset->opt_url;
        cl->opt_token = preset->opt_token;
        cl->opt_config = preset->opt_config;
        cl->cacert = preset->cacert ? otf_xstrdup(preset->cacert) : NULL;
    }
    cl->cmd = cmd;
}

void otf_cli_cleanup(struct otf_cli *cl)
{
    otf_client_close(cl->c);
    free(cl->url);
    free(cl->token);
    free(cl->cacert);
    memset(cl, 0, sizeof *cl);
}

struct option *otf_cli_options(const struct option *local)
{
    size_t n = 0;
    struct option *o;
    while (local && local[n].name)
        n++;
    o = otf_xcalloc(N_COMMON + n + 1, sizeof *o);
    memcpy(o, common_opts, sizeof common_opts);
    if (n)
        memcpy(o + N_COMMON, local, n * sizeof *o);
    return o;
}

static int parse_secs(const char *s, long *out)
{
    double v;
    if (otf_str_to_double(s, &v) != OTF_OK || v < 0 || v > 1e7)
        return -1;
    *out = (long)(v * 1000.0 + 0.5); /* milliseconds */
    return 0;
}

int otf_cli_common_option(struct otf_cli *cl, int id, const char *arg)
{
    long ms;
    int64_t n;
    switch (id) {
    case OTF_CLI_OPT_URL:
        cl->opt_url = arg;
        return 1;
    case OTF_CLI_OPT_TOKEN:
        cl->opt_token = arg;
        return 1;
    case OTF_CLI_OPT_CONFIG:
        cl->opt_config = arg;
        return 1;
    case OTF_CLI_OPT_JSON:
        cl->json = 1;
        return 1;
    case 'q':
        cl->quiet = 1;
        return 1;
    case OTF_CLI_OPT_INSECURE:
        cl->insecure = 1;
        return 1;
    case OTF_CLI_OPT_CACERT:
        free(cl->cacert);
        cl->cacert = otf_xstrdup(arg);
        return 1;
    case OTF_CLI_OPT_REQ_TIMEOUT:
    case OTF_CLI_OPT_CONN_TIMEOUT:
        if (parse_secs(arg, &ms) != 0 || ms == 0) {
            otf_cli_usage_error(
                cl, "%s needs a positive number of seconds, not '%s'",
                id == OTF_CLI_OPT_REQ_TIMEOUT ? "--request-timeout" : "--connect-timeout", arg);
            return -1;
        }
        if (id == OTF_CLI_OPT_REQ_TIMEOUT)
            cl->request_timeout_ms = ms;
        else
            cl->connect_timeout_ms = ms;
        return 1;
    case OTF_CLI_OPT_RETRIES:
        if (otf_str_to_i64(arg, &n) != OTF_OK || n < 0 || n > 100) {
            otf_cli_usage_error(cl, "--retries needs a number from 0 to 100, not '%s'", arg);
            return -1;
        }
        cl->retries = n == 0 ? -1 : (int)n;
        return 1;
    default:
        return 0;
    }
}

/* ---- config file ---- */

struct cfg {
    char *url, *token, *cacert, *timeout;
    const char *path;
    int bad_line;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct cfg *c = user;
    char **slot = NULL;
    (void)section; /* keys are accepted at the top or in any section ([otf], [default]) */
    if (strcmp(name, "url") == 0)
        slot = &c->url;
    else if (strcmp(name, "token") == 0)
        slot = &c->token;
    else if (strcmp(name, "cacert") == 0)
        slot = &c->cacert;
    else if (strcmp(name, "request_timeout") == 0)
        slot = &c->timeout;
    if (!slot)
        return 1; /* unknown keys are left for other tools and later versions */
    free(*slot);
    *slot = otf_xstrdup(value);
    return 1;
}

static char *config_path(const struct otf_cli *cl)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (cl->opt_config)
        return otf_xstrdup(cl->opt_config);
    if (getenv("OTF_CONFIG"))
        return otf_xstrdup(getenv("OTF_CONFIG"));
    if (xdg && *xdg)
        return otf_xasprintf("%s/otf/config", xdg);
    if (home && *home)
        return otf_xasprintf("%s/.config/otf/config", home);
    return NULL;
}

static int load_config(struct otf_cli *cl, struct cfg *c)
{
    char *path = config_path(cl);
    FILE *f;
    int line;

    memset(c, 0, sizeof *c);
    if (!path)
        return 0;
    f = fopen(path, "r");
    if (!f) {
        /* A missing default file is normal; a file named on purpose must exist. */
        int named = cl->opt_config || getenv("OTF_CONFIG");
        if (named)
            otf_cli_error(cl, "cannot read config file %s: %s", path, strerror(errno));
        free(path);
        return named ? -1 : 0;
    }
    line = ini_parse_file(f, on_ini, c);
    fclose(f);
    if (line != 0) {
        otf_cli_error(cl, "config file %s: syntax error on line %d", path, line);
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

int otf_cli_connect(struct otf_cli *cl)
{
    struct otf_client_options o = {0};
    struct otf_client_error e = {0};
    struct cfg c;
    const char *env;
    enum otf_status st;
    long ms;
    int rc = 0;

    if (load_config(cl, &c) != 0)
        return OTF_CLI_EXIT_USAGE;
    cl->url = c.url;
    cl->token = c.token;
    c.url = c.token = NULL;
    if (c.cacert && !cl->cacert) {
        cl->cacert = c.cacert;
        c.cacert = NULL;
    }
    if (c.timeout && !cl->request_timeout_ms) {
        if (parse_secs(c.timeout, &ms) != 0 || ms == 0) {
            rc = otf_cli_usage_error(cl, "config request_timeout '%s' is not a number of seconds",
                                     c.timeout);
            goto out;
        }
        cl->request_timeout_ms = ms;
    }
    if ((env = getenv("OTF_URL")) != NULL && *env) {
        free(cl->url);
        cl->url = otf_xstrdup(env);
    }
    if ((env = getenv("OTF_TOKEN")) != NULL && *env) {
        free(cl->token);
        cl->token = otf_xstrdup(env);
    }
    if (cl->opt_url) {
        free(cl->url);
        cl->url = otf_xstrdup(cl->opt_url);
    }
    if (cl->opt_token) {
        free(cl->token);
        cl->token = otf_xstrdup(cl->opt_token);
    }
    if (!cl->url) {
        rc = otf_cli_usage_error(cl, "no service URL: give --url, set OTF_URL or put url= in "
                                     "~/.config/otf/config");
        goto out;
    }
    o.url = cl->url;
    o.token = cl->token;
    o.ca_file = cl->cacert;
    o.tls_insecure = cl->insecure;
    o.timeout_ms = cl->request_timeout_ms;
    o.connect_timeout_ms = cl->connect_timeout_ms;
    o.max_retries = cl->retries == -2 ? 0 : cl->retries;
    /* A short request timeout also bounds stalled transfers. */
    if (cl->request_timeout_ms)
        o.stall_timeout_s = (cl->request_timeout_ms + 999) / 1000;
    if (otf_client_global_init() != OTF_OK) {
        otf_cli_error(cl, "cannot initialise libcurl");
        rc = OTF_CLI_EXIT_FAIL;
        goto out;
    }
    st = otf_client_open(&o, &cl->c, &e);
    if (st != OTF_OK) {
        rc = otf_cli_fail(cl, st, &e);
        if (st == OTF_E_INVAL)
            rc = OTF_CLI_EXIT_USAGE;
    }
out:
    free(c.url);
    free(c.token);
    free(c.cacert);
    free(c.timeout);
    return rc;
}

/* ---- errors and exit codes ---- */

int otf_cli_exit_for(enum otf_status st, const struct otf_client_error *e)
{
    int http = e ? e->http_status : 0;
    switch (st) {
    case OTF_OK:
        return OTF_CLI_EXIT_OK;
    case OTF_E_NOTFOUND:
        return OTF_CLI_EXIT_NOTFOUND;
    case OTF_E_TIMEOUT:
        return OTF_CLI_EXIT_TIMEOUT;
    case OTF_E_NET:
        return OTF_CLI_EXIT_NETWORK;
    case OTF_E_AUTH:
        return OTF_CLI_EXIT_AUTH;
    case OTF_E_INVAL:
    case OTF_E_STATE:
        return http ? OTF_CLI_EXIT_REFUSED : OTF_CLI_EXIT_USAGE;
    case OTF_E_LIMIT:
        return http >= 400 && http < 500 ? OTF_CLI_EXIT_REFUSED : OTF_CLI_EXIT_SERVER;
    case OTF_E_BUSY:
    case OTF_E_BACKEND:
    case OTF_E_FORMAT:
        return OTF_CLI_EXIT_SERVER;
    default:
        return OTF_CLI_EXIT_FAIL;
    }
}

int otf_cli_exit_for_phase(enum otf_client_phase p)
{
    switch (p) {
    case OTF_CLIENT_PHASE_COMPLETED:
        return OTF_CLI_EXIT_OK;
    case OTF_CLIENT_PHASE_ERROR:
        return OTF_CLI_EXIT_JOB_ERROR;
    case OTF_CLIENT_PHASE_ABORTED:
    case OTF_CLIENT_PHASE_ARCHIVED:
        return OTF_CLI_EXIT_JOB_ABORTED;
    default:
        return OTF_CLI_EXIT_TIMEOUT;
    }
}

const char *otf_cli_exit_name(int code)
{
    switch (code) {
    case OTF_CLI_EXIT_OK:
        return "ok";
    case OTF_CLI_EXIT_USAGE:
        return "usage";
    case OTF_CLI_EXIT_JOB_ERROR:
        return "job_error";
    case OTF_CLI_EXIT_JOB_ABORTED:
        return "job_aborted";
    case OTF_CLI_EXIT_TIMEOUT:
        return "timeout";
    case OTF_CLI_EXIT_NOTFOUND:
        return "not_found";
    case OTF_CLI_EXIT_NETWORK:
        return "network";
    case OTF_CLI_EXIT_SERVER:
        return "server";
    case OTF_CLI_EXIT_REFUSED:
        return "refused";
    case OTF_CLI_EXIT_SAMP:
        return "samp";
    case OTF_CLI_EXIT_AUTH:
        return "auth";
    default:
        return "failure";
    }
}

static void verror(const struct otf_cli *cl, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* One line, whatever the message holds. */
    for (char *p = msg; *p; p++) {
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    }
    fprintf(stderr, "otf %s: %s\n", cl->cmd, msg);
}

void otf_cli_error(const struct otf_cli *cl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(cl, fmt, ap);
    va_end(ap);
}

int otf_cli_fail(const struct otf_cli *cl, enum otf_status st, const struct otf_client_error *e)
{
    int code = otf_cli_exit_for(st, e);
    const char *msg = e && e->msg[0] ? e->msg : otf_status_str(st);
    otf_cli_error(cl, "%s", msg);
    if (cl->json)
        otf_cli_print_json(json_pack("{s:s,s:i,s:s,s:i}", "error", msg, "exit", code, "kind",
                                     otf_cli_exit_name(code), "http", e ? e->http_status : 0));
    return code;
}

int otf_cli_usage_error(const struct otf_cli *cl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(cl, fmt, ap);
    va_end(ap);
    fprintf(stderr, "(see 'otf %s --help')\n", cl->cmd);
    return OTF_CLI_EXIT_USAGE;
}

/* ---- JSON ---- */

void otf_cli_print_json(json_t *v)
{
    if (!v)
        return;
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(v);
}

json_t *otf_cli_job_json(const struct otf_client_job *j)
{
    json_error_t je;
    json_t *v = j->json ? json_loads(j->json, 0, &je) : NULL;
    if (v)
        return v;
    return json_pack("{s:s,s:s}", "jobId", j->id, "phase", otf_client_phase_name(j->phase));
}

/* ---- progress ---- */

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

void otf_cli_bar_init(struct otf_cli_bar *b, const struct otf_cli *cl, const char *label)
{
    memset(b, 0, sizeof *b);
    b->cl = cl;
    b->label = label;
}

void otf_cli_bar_draw(struct otf_cli_bar *b, double frac, const char *right, int force)
{
    int64_t now = otf_time_mono_us();
    int w = term_width(), bar_w, fill;
    char line[512];
    size_t n = 0;

    if (!b->cl->progress || (!force && b->drawn && now - b->last_us < 100000))
        return;
    b->last_us = now;
    if (frac < 0)
        frac = 0;
    if (frac > 1)
        frac = 1;
    /* label [#####.....] 45% right — fitted to the terminal's width */
    bar_w = w - (int)strlen(b->label) - (int)strlen(right ? right : "") - 10;
    if (bar_w > 40)
        bar_w = 40;
    if (bar_w < 5)
        bar_w = 5;
    fill = (int)(frac * bar_w + 0.5);
    n += (size_t)snprintf(line + n, sizeof line - n, "%s [", b->label);
    for (int i = 0; i < bar_w && n + 2 < sizeof line; i++)
        line[n++] = i < fill ? '#' : '.';
    if (n < sizeof line)
        n += (size_t)snprintf(line + n, sizeof line - n, "] %3d%% %s", (int)(frac * 100),
                              right ? right : "");
    if ((int)strlen(line) >= w)
        line[w - 1] = '\0';
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    b->drawn = 1;
}

void otf_cli_bar_done(struct otf_cli_bar *b)
{
    if (b->cl->progress && b->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    b->drawn = 0;
}

int otf_cli_bar_bytes(void *user, int64_t done, int64_t total)
{
    struct otf_cli_bar *b = user;
    char a[32], t[32], right[80];
    otf_cli_fmt_bytes(done, a, sizeof a);
    otf_cli_fmt_bytes(total, t, sizeof t);
    snprintf(right, sizeof right, "%s/%s", a, t);
    otf_cli_bar_draw(b, total > 0 ? (double)done / (double)total : 0.0, right, done == total);
    return 0;
}

void otf_cli_fmt_bytes(int64_t n, char *out, size_t size)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%lld B", (long long)n);
    else
        snprintf(out, size, "%.1f %s", v, unit[u]);
}

void otf_cli_fmt_age(int64_t s, char *out, size_t size)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(out, size, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, size, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(out, size, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(out, size, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}
