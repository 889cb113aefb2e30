/* The configuration table (STYLE §6, after redis standardConfig): every setting is one row, and
 * the parser, --help and docs/config.md are all driven by it. */
#include "core/core_config.h"

#include <ctype.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum cfg_type { CFG_STR, CFG_INT, CFG_I64, CFG_BYTES };

struct cfg_item {
    const char *name;
    enum cfg_type type;
    const char *def;
    double min, max;
    size_t offset;
    const char *help;
};

#define OFF(f) offsetof(struct otf_config, f)
#define GIB    (1024.0 * 1024 * 1024)

static const struct cfg_item items[] = {
    {"listen", CFG_STR, "127.0.0.1:8080", 0, 0, OFF(http.listen), "address and port to serve on"},
    {"data", CFG_STR, "./var", 0, 0, OFF(data_dir), "data directory (uploads, results, store)"},
    {"models", CFG_STR, "./models", 0, 0, OFF(models_dir), "folder of model folders"},
    {"store", CFG_STR, "", 0, 0, OFF(store_url),
     "job store URL: sqlite:PATH (default: sqlite:DATA/otf.db)"},
    {"workers", CFG_INT, "1", 0, 64, OFF(workers), "inference worker processes"},
    {"log_level", CFG_STR, "info", 0, 0, OFF(log_level), "debug, info, warn or error"},
    {"http.public_url", CFG_STR, "", 0, 0, OFF(http.public_url),
     "base URL in Location and xlink:href (default: from the Host header)"},
    {"http.threads", CFG_INT, "4", 1, 256, OFF(http.threads), "HTTP thread-pool size"},
    {"http.max_connections", CFG_INT, "512", 4, 65536, OFF(http.max_connections),
     "simultaneous connections"},
    {"http.upload_max_bytes", CFG_BYTES, "4608M", 1024, 1024 * GIB, OFF(http.upload_max_bytes),
     "largest accepted FITS upload (413 above)"},
    {"http.form_max_bytes", CFG_BYTES, "1M", 1024, GIB, OFF(http.form_max_bytes),
     "largest non-file part of a request"},
    {"http.wait_max_s", CFG_INT, "60", 0, 3600, OFF(http.wait_max_s),
     "server-side cap on UWS WAIT, seconds"},
    {"http.image_url_max_bytes", CFG_BYTES, "4608M", 1024, 1024 * GIB,
     OFF(http.image_url_max_bytes), "largest IMAGE_URL download"},
    {"http.image_url_allow", CFG_STR, "", 0, 0, OFF(http.image_url_allow),
     "comma-separated hosts IMAGE_URL may name (empty: IMAGE_URL disabled)"},
    {"http.tokens_file", CFG_STR, "", 0, 0, OFF(http.tokens_file),
     "bearer-token file (empty: anonymous mode)"},
    {"http.tls_cert", CFG_STR, "", 0, 0, OFF(http.tls_cert), "PEM certificate for HTTPS"},
    {"http.tls_key", CFG_STR, "", 0, 0, OFF(http.tls_key), "PEM private key for HTTPS"},
    {"uws.exec_duration_default_s", CFG_I64, "3600", 0, 31536000, OFF(uws.exec_duration_default_s),
     "executionDuration of new jobs, s (0 = unlimited)"},
    {"uws.exec_duration_max_s", CFG_I64, "86400", 0, 31536000, OFF(uws.exec_duration_max_s),
     "largest executionDuration a client may set, s"},
    {"uws.destruction_default_s", CFG_I64, "604800", 60, 315360000, OFF(uws.destruction_default_s),
     "destruction time of new jobs, s after creation"},
    {"uws.destruction_max_s", CFG_I64, "2592000", 60, 315360000, OFF(uws.destruction_max_s),
     "latest destruction a client may set, s after creation"},
    {"uws.list_max", CFG_INT, "10000", 1, 1000000, OFF(uws.list_max), "most jobs in one job list"},
    {"uws.reaper_interval_ms", CFG_INT, "1000", 10, 3600000, OFF(uws.reaper_interval_ms),
     "how often destruction and execution limits are enforced, ms"},
    {"uws.owner_max_jobs", CFG_I64, "0", 0, 1e9, OFF(uws.owner_max_jobs),
     "jobs one owner may hold (0 = unlimited)"},
    {"uws.owner_max_bytes", CFG_BYTES, "0", 0, 1e15, OFF(uws.owner_max_bytes),
     "disk one owner may use (0 = unlimited)"},
    {"batch.min_jobs", CFG_INT, "1", 1, 4096, OFF(sched.min_jobs), "jobs needed to form a batch"},
    {"batch.max_jobs", CFG_INT, "8", 1, 4096, OFF(sched.max_jobs), "most jobs in one batch"},
    {"batch.max_wait_ms", CFG_INT, "50", 0, 600000, OFF(sched.max_wait_ms),
     "longest wait for a batch to fill, from its first queued job, ms"},
    {"batch.max_patches", CFG_INT, "16", 1, 4096, OFF(sched.max_patches),
     "patches per forward micro-batch"},
    {"batch.join", CFG_INT, "1", 0, 1, OFF(sched.join),
     "1: a queued job joins a running batch of its model and precision that holds fewer than "
     "batch.max_jobs jobs, between micro-batches, when the batch rules would pick it now; 0: a "
     "batch keeps the jobs it was claimed with"},
    {"batch.join_after_ms", CFG_INT, "50", 0, 600000, OFF(sched.join_after_ms),
     "how long the oldest queued job of a key waits before jobs of that key may join a running "
     "batch (batch.join), ms: an idle worker claims a new job within milliseconds, so jobs "
     "still queued by then have no idle worker to go to"},
    {"queue.max_jobs", CFG_INT, "1000", 1, 10000000, OFF(sched.queue_max_jobs),
     "queued jobs before new ones get 503"},
    {"models.max_resident", CFG_INT, "2", 1, 64, OFF(sched.max_resident),
     "models kept loaded per worker"},
    {"models.memory_mb", CFG_I64, "8192", 16, 1048576, OFF(sched.memory_mb),
     "memory budget for resident models per worker, MiB"},
    {"models.hold_ms", CFG_INT, "200", 0, 600000, OFF(sched.hold_ms),
     "time to stay on a busy model before switching away, ms"},
    {"engine.backend", CFG_STR, "auto", 0, 0, OFF(engine.backend),
     "inference backend: auto, cpu, reference or cuda"},
    {"engine.threads", CFG_INT, "0", 0, 1024, OFF(engine.threads),
     "threads per worker for inference (0 = all cores)"},
    {"engine.helper_nice", CFG_INT, "19", 0, 19, OFF(engine.helper_nice),
     "nice value of a worker's reader, collector and finisher threads, so that they yield to the "
     "inference threads (0 = same priority)"},
    {"engine.winograd", CFG_INT, "1", 0, 1, OFF(engine.winograd),
     "1: wide 3x3 fp32 convolutions run as Winograd F(4x4,3x3) on the cpu backend (1.7x faster "
     "on SDC1, outputs within 3e-6 of direct, more engine memory); 0: direct convolutions only"},
    {"engine.streams", CFG_INT, "1", 1, 64, OFF(engine.streams),
     "parts each forward pass runs as, at once, on engine.threads / streams threads each (the "
     "patches split evenly; at most one per thread); each stream holds its own plans and "
     "weights. On 2 cores, 2 left the cores less idle but gave no more throughput and a slower "
     "lone job (docs/internals/engine.md)"},
};

#define N_ITEMS (sizeof items / sizeof items[0])

static int name_eq(const char *a, const char *b, size_t blen)
{
    size_t i;
    for (i = 0; i < blen && a[i]; i++) {
        char x = a[i] == '-' ? '_' : (char)tolower((unsigned char)a[i]);
        char y = b[i] == '-' ? '_' : (char)tolower((unsigned char)b[i]);
        if (x != y)
            return 0;
    }
    return i == blen && a[i] == '\0';
}

static const struct cfg_item *find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_ITEMS; i++) {
        if (name_eq(items[i].name, name, len))
            return &items[i];
    }
    return NULL;
}

enum otf_status otf_config_parse_bytes(const char *s, int64_t *out)
{
    char *end;
    double v, mul = 1;
    if (!s || !*s)
        return OTF_E_INVAL;
    v = strtod(s, &end);
    if (end == s)
        return OTF_E_INVAL;
    switch (toupper((unsigned char)*end)) {
    case '\0':
        break;
    case 'K':
        mul = 1024.0;
        break;
    case 'M':
        mul = 1024.0 * 1024;
        break;
    case 'G':
        mul = GIB;
        break;
    case 'T':
        mul = GIB * 1024;
        break;
    default:
        return OTF_E_INVAL;
    }
    if (*end) {
        end++;
        if (toupper((unsigned char)*end) == 'B' || toupper((unsigned char)*end) == 'I')
            end++;
        if (toupper((unsigned char)*end) == 'B')
            end++;
        if (*end)
            return OTF_E_INVAL;
    }
    v *= mul;
    if (!(v >= 0 && v < 9.2e18))
        return OTF_E_INVAL;
    *out = (int64_t)v;
    return OTF_OK;
}

static enum otf_status apply(struct otf_config *c, const struct cfg_item *it, const char *value,
                             struct otf_errbuf *eb)
{
    char *base = (char *)c;
    int64_t v;

    if (it->type == CFG_STR) {
        char **slot = (char **)(base + it->offset);
        free(*slot);
        *slot = otf_xstrdup(value);
        return OTF_OK;
    }
    if (it->type == CFG_BYTES) {
        if (otf_config_parse_bytes(value, &v) != OTF_OK)
            return OTF_FAIL(eb, OTF_E_INVAL, "%s: '%s' is not a size (e.g. 512M, 4G)", it->name,
                            value);
    } else if (otf_str_to_i64(value, &v) != OTF_OK) {
        return OTF_FAIL(eb, OTF_E_INVAL, "%s: '%s' is not an integer", it->name, value);
    }
    if ((double)v < it->min || (double)v > it->max)
        return OTF_FAIL(eb, OTF_E_INVAL, "%s: %s is outside [%.0f, %.0f]", it->name, value, it->min,
                        it->max);
    if (it->type == CFG_INT)
        *(int *)(base + it->offset) = (int)v;
    else
        *(int64_t *)(base + it->offset) = v;
    return OTF_OK;
}

enum otf_status otf_config_set(struct otf_config *c, const char *name, const char *value,
                               struct otf_errbuf *eb)
{
    const struct cfg_item *it = find(name, strlen(name));
    if (!it)
        return OTF_FAIL(eb, OTF_E_INVAL, "unknown setting '%s'", name);
    return apply(c, it, value, eb);
}

void otf_config_defaults(struct otf_config *c)
{
    memset(c, 0, sizeof *c);
    c->config_file = otf_xstrdup("");
    for (size_t i = 0; i < N_ITEMS; i++) {
        enum otf_status rc = apply(c, &items[i], items[i].def, NULL);
        OTF_ASSERT(rc == OTF_OK);
    }
}

void otf_config_cleanup(struct otf_config *c)
{
    free(c->config_file);
    for (size_t i = 0; i < N_ITEMS; i++) {
        if (items[i].type == CFG_STR)
            free(*(char **)((char *)c + items[i].offset));
    }
    memset(c, 0, sizeof *c);
}

struct ini_ctx {
    struct otf_config *c;
    struct otf_errbuf *eb;
    enum otf_status rc;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    char full[256];
    if (x->rc != OTF_OK)
        return 0;
    snprintf(full, sizeof full, "%s%s%s", section, *section ? "." : "", name);
    x->rc = otf_config_set(x->c, full, value, x->eb);
    return x->rc == OTF_OK;
}

static enum otf_status load_file(struct otf_config *c, const char *path, struct otf_errbuf *eb)
{
    struct ini_ctx x = {c, eb, OTF_OK};
    int r = ini_parse(path, on_ini, &x);
    if (r < 0)
        return OTF_FAIL(eb, OTF_E_IO, "cannot read config file %s", path);
    if (x.rc != OTF_OK) {
        otf_errbuf_prefix(eb, "%s", path);
        return x.rc;
    }
    if (r > 0)
        return OTF_FAIL(eb, OTF_E_FORMAT, "%s:%d: syntax error", path, r);
    return OTF_OK;
}

static void load_env(struct otf_config *c)
{
    for (size_t i = 0; i < N_ITEMS; i++) {
        char env[128] = "OTF_";
        size_t k = 4;
        const char *v;
        for (const char *p = items[i].name; *p && k < sizeof env - 1; p++)
            env[k++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
        env[k] = '\0';
        v = getenv(env);
        if (v && *v) {
            struct otf_errbuf eb;
            if (apply(c, &items[i], v, &eb) != OTF_OK)
                otf_log_warn("config", "ignoring %s: %s", env, eb.msg);
        }
    }
}

enum otf_status otf_config_load(struct otf_config *c, int argc, char **argv, struct otf_errbuf *eb)
{
    enum otf_status rc;

    /* --config is found first so that the file is read before env and flags. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            free(c->config_file);
            c->config_file = otf_xstrdup(argv[i + 1]);
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            free(c->config_file);
            c->config_file = otf_xstrdup(argv[i] + 9);
        }
    }
    if (*c->config_file && (rc = load_file(c, c->config_file, eb)) != OTF_OK)
        return rc;
    load_env(c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        size_t nlen;
        const struct cfg_item *it;

        if (strncmp(a, "--", 2) != 0)
            return OTF_FAIL(eb, OTF_E_INVAL, "unexpected argument '%s'", a);
        a += 2;
        eq = strchr(a, '=');
        nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (name_eq("config", a, nlen)) {
            if (!eq)
                i++;
            continue;
        }
        it = find(a, nlen);
        if (!it)
            return OTF_FAIL(eb, OTF_E_INVAL, "unknown option '%s' (see --help)", argv[i]);
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return OTF_FAIL(eb, OTF_E_INVAL, "option '%s' needs a value", argv[i]);
            val = argv[++i];
        }
        if ((rc = apply(c, it, val, eb)) != OTF_OK)
            return rc;
    }
    return OTF_OK;
}

static const char *type_name(enum cfg_type t)
{
    switch (t) {
    case CFG_STR:
        return "text";
    case CFG_INT:
    case CFG_I64:
        return "integer";
    case CFG_BYTES:
        return "size";
    }
    return "?";
}

void otf_config_print_help(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s [--config FILE] [--NAME VALUE]...\n\n"
            "Settings come from the INI file (sections give the prefix: [batch] max_jobs = 8),\n"
            "then OTF_NAME environment variables (OTF_BATCH_MAX_JOBS), then flags; later wins.\n\n",
            prog);
    for (size_t i = 0; i < N_ITEMS; i++)
        fprintf(f, "  --%-28s %s (default: %s)\n", items[i].name, items[i].help,
                *items[i].def ? items[i].def : "\"\"");
    fprintf(f, "  --%-28s %s\n", "config FILE", "read settings from an INI file first");
}

void otf_config_write_doc(FILE *f)
{
    fprintf(f, "# Configuration reference\n\n"
               "Generated from the configuration table in `src/core/core_config.c` by\n"
               "`otfd --config-doc`; do not edit by hand.\n\n"
               "Every setting can be given in the INI file named by `--config` (the part before\n"
               "the first dot is the section: `[batch]` then `max_jobs = 8`), as an environment\n"
               "variable (`OTF_` + the name in capitals with `.` as `_`: `OTF_BATCH_MAX_JOBS`),\n"
               "or as a flag (`--batch.max_jobs 8` or `--batch.max-jobs=8`). Later sources win:\n"
               "file, then environment, then flags. Sizes take K, M, G, T suffixes (powers of "
               "1024).\n\n"
               "| name | type | default | range | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < N_ITEMS; i++) {
        char range[64] = "";
        if (items[i].type != CFG_STR)
            snprintf(range, sizeof range, "%.0f – %.0f", items[i].min, items[i].max);
        fprintf(f, "| `%s` | %s | `%s` | %s | %s |\n", items[i].name, type_name(items[i].type),
                items[i].def, range, items[i].help);
    }
}
