/* Model residency for one worker: loaded models (weights, detection config, engine with its
 * buffers for the largest micro-batch) stay resident in an LRU within models.max_resident and
 * models.memory_mb, so switching between resident models costs no reload (DESIGN §4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/worker_int.h"

void wmodels_init(struct wmodels *ms, const struct otf_worker_params *p)
{
    memset(ms, 0, sizeof *ms);
    ms->lru = otf_sched_lru_new(p->sched.max_resident, p->sched.memory_mb * 1024 * 1024);
}

static void wmodel_free(struct wmodel *m)
{
    if (!m)
        return;
    otf_engine_free(m->engine);
    otf_model_net_free(m->net);
    otf_model_manifest_free(m->manifest);
    free(m->model_id);
    free(m->precision);
    free(m);
}

void wmodels_cleanup(struct wmodels *ms)
{
    for (size_t i = 0; i < ms->n; i++)
        wmodel_free(ms->m[i]);
    free(ms->m);
    otf_sched_lru_free(ms->lru);
    memset(ms, 0, sizeof *ms);
}

static void drop(struct wmodels *ms, const char *key)
{
    for (size_t i = 0; i < ms->n; i++) {
        if (strcmp(ms->m[i]->key, key) == 0) {
            otf_log_info("worker", "model %s evicted", key);
            wmodel_free(ms->m[i]);
            ms->m[i] = ms->m[--ms->n];
            return;
        }
    }
}

static enum otf_status load(const struct otf_worker_params *p, const char *model,
                            const char *precision, struct wmodel **out, struct otf_errbuf *eb)
{
    struct wmodel *m = otf_xcalloc(1, sizeof *m);
    struct otf_engine_params ep;
    char *dir = NULL;
    enum otf_status rc;

    snprintf(m->key, sizeof m->key, "%s|%s", model, precision);
    m->model_id = otf_xstrdup(model);
    m->precision = otf_xstrdup(precision);
    if (!otf_str_is_safe_name(model)) {
        rc = OTF_FAIL(eb, OTF_E_NOTFOUND, "unknown model '%s'", model);
        goto out;
    }
    dir = otf_xasprintf("%s/%s", p->models_dir, model);
    rc = otf_model_load_dir(dir, &m->manifest, &m->net, eb);
    if (rc != OTF_OK) {
        otf_errbuf_prefix(eb, "model %s", model);
        goto out;
    }
    if (m->manifest->weights_sha256[0])
        memcpy(m->weights_sha256, m->manifest->weights_sha256, sizeof m->weights_sha256);
    rc = otf_detect_config_from_model(m->manifest, m->net, &m->dcfg, eb);
    if (rc != OTF_OK)
        goto out;
    otf_engine_params_init(&ep);
    ep.backend = p->backend;
    ep.batch_max = p->sched.max_patches;
    ep.in_w = m->dcfg.patch_w;
    ep.in_h = m->dcfg.patch_h;
    ep.in_d = 1;
    ep.n_threads = p->threads;
    ep.winograd = p->winograd;
    ep.n_streams = p->streams;
    ep.input_bias = m->manifest->input_bias;
    if (otf_engine_precision_parse(precision, &ep.precision) != OTF_OK)
        rc = OTF_FAIL(eb, OTF_E_INVAL, "unknown precision '%s'", precision);
    else
        rc = otf_engine_new(m->net, &ep, &m->engine, eb);
    if (rc != OTF_OK) {
        otf_errbuf_prefix(eb, "model %s at %s", model, precision);
        goto out;
    }
    m->bytes = (int64_t)(m->net->n_params * sizeof(float) + otf_engine_memory_bytes(m->engine));
    *out = m;
    m = NULL;
out:
    free(dir);
    wmodel_free(m);
    return rc;
}

enum otf_status wmodels_get(struct wmodels *ms, const struct otf_worker_params *p,
                            struct otf_worker_stats *stats, const char *model,
                            const char *precision, struct wmodel **out, int *loaded,
                            struct otf_errbuf *eb)
{
    char key[160];
    char *evicted[16];
    size_t n_ev;
    struct wmodel *m = NULL;
    int64_t t0;
    enum otf_status rc;

    *loaded = 0;
    snprintf(key, sizeof key, "%s|%s", model, precision);
    for (size_t i = 0; i < ms->n; i++) {
        if (strcmp(ms->m[i]->key, key) == 0) {
            otf_sched_lru_touch(ms->lru, key, ms->m[i]->bytes, evicted, 0);
            *out = ms->m[i];
            return OTF_OK;
        }
    }
    t0 = otf_time_mono_us();
    rc = load(p, model, precision, &m, eb);
    if (stats)
        atomic_fetch_add(&stats->load_us, otf_time_mono_us() - t0);
    if (rc != OTF_OK)
        return rc;
    ms->m = otf_xrealloc(ms->m, (ms->n + 1) * sizeof *ms->m);
    ms->m[ms->n++] = m;
    n_ev = otf_sched_lru_touch(ms->lru, key, m->bytes, evicted, 16);
    for (size_t i = 0; i < n_ev; i++) {
        drop(ms, evicted[i]);
        free(evicted[i]);
        if (stats)
            atomic_fetch_add(&stats->model_evictions, 1);
    }
    if (stats)
        atomic_fetch_add(&stats->model_loads, 1);
    otf_log_info("worker", "model %s loaded: backend %s, %d stream(s), %.1f MiB, %.0f ms", key,
                 otf_engine_backend_name(m->engine), otf_engine_streams(m->engine),
                 (double)m->bytes / 1048576.0, (double)(otf_time_mono_us() - t0) / 1000.0);
    *loaded = 1;
    *out = m;
    return OTF_OK;
}

void wmodels_describe(const struct wmodels *ms, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ms->n && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "," : "", ms->m[i]->key);
}
