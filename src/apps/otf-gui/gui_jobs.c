/* otf-gui: everything that talks to the service or runs the local pipeline, on worker threads.
 * Each thread opens its own client (a struct otf_client belongs to one thread) with the
 * library's retries off: this file retries 503s and network failures itself so that every
 * wait is reported in the status line and can be cancelled. Results come back to the main
 * thread through g_idle_add(); the window never waits on the network. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "apps/otf-gui/gui.h"
#include "detect/detect.h"
#include "engine/engine.h"
#include "formats/formats.h"
#include "model/model.h"
#include "otf_build_config.h"

#define POLL_MS     3000
#define WAIT_STEP_S 5
#define LOCAL_TAG   "local:"

struct net_cfg {
    char *url, *token;
};

static void cfg_copy(struct net_cfg *c, const struct otf_gui *g)
{
    c->url = g_strdup(g->url);
    c->token = g->token && g->token[0] ? g_strdup(g->token) : NULL;
}

static void cfg_clear(struct net_cfg *c)
{
    g_free(c->url);
    g_free(c->token);
}

static enum otf_status open_client(const struct net_cfg *cfg, struct otf_client **c,
                                   struct otf_client_error *e)
{
    struct otf_client_options o = {0};
    o.url = cfg->url;
    o.token = cfg->token;
    o.connect_timeout_ms = 5000;
    o.timeout_ms = 20000;
    o.max_retries = -1; /* retried here, with the wait shown */
    return otf_client_open(&o, c, e);
}

static int retryable(enum otf_status st)
{
    return st == OTF_E_BUSY || st == OTF_E_NET || st == OTF_E_TIMEOUT;
}

static const char *why(enum otf_status st, const struct otf_client_error *e)
{
    if (st == OTF_E_BUSY)
        return "server busy";
    if (st == OTF_E_NET)
        return e->http_status ? "network error" : "server not reachable";
    if (st == OTF_E_TIMEOUT)
        return "server not answering";
    return otf_status_str(st);
}

/* ---- status messages from threads ---- */

struct text_msg {
    struct otf_gui *g;
    char *text;
    int is_net; /* network condition for the status line ("" clears it) */
};

static gboolean text_idle(gpointer data)
{
    struct text_msg *m = data;
    if (m->is_net) {
        g_free(m->g->net_status);
        m->g->net_status = g_strdup(m->text);
        gtk_label_set_text(GTK_LABEL(m->g->conn_label),
                           m->text[0] ? m->text : (m->g->url ? "connected" : "no server"));
        otf_gui_write_state(m->g);
    } else {
        otf_gui_set_status(m->g, "%s", m->text);
    }
    g_free(m->text);
    g_free(m);
    return G_SOURCE_REMOVE;
}

static void post_text(struct otf_gui *g, int is_net, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void post_text(struct otf_gui *g, int is_net, const char *fmt, ...)
{
    struct text_msg *m = g_new0(struct text_msg, 1);
    va_list ap;
    va_start(ap, fmt);
    m->g = g;
    m->is_net = is_net;
    m->text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_idle_add(text_idle, m);
}

/* ---- model list ---- */

struct models_msg {
    struct otf_gui *g;
    GPtrArray *ids, *cards; /* char * */
    char *error;
};

static gboolean models_idle(gpointer data)
{
    struct models_msg *m = data;
    struct otf_gui *g = m->g;
    guint old = g_list_model_get_n_items(G_LIST_MODEL(g->model_list)), sel = 0;
    g->models_in_flight = 0;
    g_ptr_array_add(m->ids, NULL);
    /* the cards first: the list change re-shows the selected model's card */
    g_ptr_array_unref(g->model_cards);
    g->model_cards = m->cards;
    g->syncing = 1;
    gtk_string_list_splice(g->model_list, 0, old, (const char *const *)m->ids->pdata);
    g->syncing = 0;
    for (guint i = 0; i + 1 < m->ids->len; i++)
        if (g->model && strcmp(g->model, m->ids->pdata[i]) == 0)
            sel = i;
    if (m->ids->len > 1) {
        gtk_drop_down_set_selected(GTK_DROP_DOWN(g->model_dd), sel);
        g_object_notify(G_OBJECT(g->model_dd), "selected"); /* same index: show its card */
    }
    if (m->error)
        otf_gui_set_status(g, "models: %s", m->error);
    otf_gui_write_state(g);
    g_ptr_array_unref(m->ids);
    g_free(m->error);
    g_free(m);
    return G_SOURCE_REMOVE;
}

struct models_job {
    struct otf_gui *g;
    struct net_cfg cfg;
    char *models_dir;
};

static gpointer models_thread(gpointer data)
{
    struct models_job *j = data;
    struct models_msg *m = g_new0(struct models_msg, 1);
    m->g = j->g;
    m->ids = g_ptr_array_new_with_free_func(g_free);
    m->cards = g_ptr_array_new_with_free_func(g_free);
    if (j->cfg.url && j->cfg.url[0]) {
        struct otf_client *c = NULL;
        struct otf_client_error e = {0};
        struct otf_client_model *models = NULL;
        size_t n = 0;
        enum otf_status st = open_client(&j->cfg, &c, &e);
        if (st == OTF_OK)
            st = otf_client_list_models(c, &models, &n, &e);
        if (st == OTF_OK) {
            for (size_t i = 0; i < n; i++) {
                g_ptr_array_add(m->ids, g_strdup(models[i].id));
                g_ptr_array_add(m->cards, g_strdup(models[i].card_json ? models[i].card_json
                                                                       : models[i].description));
            }
            post_text(j->g, 1, "%s", "");
        } else {
            m->error = g_strdup_printf("%s (%s)", e.msg, j->cfg.url);
            post_text(j->g, 1, "%s: %s", why(st, &e), e.msg);
        }
        otf_client_models_free(models, n);
        otf_client_close(c);
    }
    if (j->models_dir && j->models_dir[0]) {
        struct otf_model_card *cards = NULL;
        size_t n = 0;
        if (otf_model_scan_dir(j->models_dir, &cards, &n, NULL) == OTF_OK) {
            for (size_t i = 0; i < n; i++) {
                g_ptr_array_add(m->ids, g_strconcat(LOCAL_TAG, cards[i].id, NULL));
                g_ptr_array_add(m->cards,
                                g_strdup_printf("Local model (offline pipeline, no server) in "
                                                "%s\n%s",
                                                j->models_dir, cards[i].card_json));
            }
        }
        otf_model_cards_free(cards, n);
    }
    g_idle_add(models_idle, m);
    cfg_clear(&j->cfg);
    g_free(j->models_dir);
    g_free(j);
    return NULL;
}

void otf_gui_refresh_models(struct otf_gui *g)
{
    struct models_job *j;
    if (g->models_in_flight)
        return;
    g->models_in_flight = 1;
    j = g_new0(struct models_job, 1);
    j->g = g;
    cfg_copy(&j->cfg, g);
    j->models_dir = g_strdup(g->models_dir);
    g_thread_unref(g_thread_new("otf-gui-models", models_thread, j));
}

/* ---- job list ---- */

struct list_msg {
    struct otf_gui *g;
    GPtrArray *lines, *ids;
    int ok;
};

static void job_row_activated(GtkListBox *box, GtkListBoxRow *row, gpointer data)
{
    struct otf_gui *g = data;
    const char *id = g_object_get_data(G_OBJECT(row), "otf-job");
    const char *phase = g_object_get_data(G_OBJECT(row), "otf-phase");
    (void)box;
    if (!id)
        return;
    if (phase && strcmp(phase, "COMPLETED") == 0)
        otf_gui_load_job(g, id);
    else
        otf_gui_set_status(g, "job %s is %s", id, phase ? phase : "?");
}

static gboolean list_idle(gpointer data)
{
    struct list_msg *m = data;
    struct otf_gui *g = m->g;
    GtkListBox *box = GTK_LIST_BOX(g->jobs_box);
    GtkListBoxRow *sel = gtk_list_box_get_selected_row(box);
    char *sel_id = sel ? g_strdup(g_object_get_data(G_OBJECT(sel), "otf-job")) : NULL;
    GtkWidget *child;

    g->list_in_flight = 0;
    if (m->ok) {
        while ((child = gtk_widget_get_first_child(g->jobs_box)))
            gtk_list_box_remove(box, child);
        for (guint i = 0; i < m->lines->len; i++) {
            GtkWidget *l = gtk_label_new(m->lines->pdata[i]);
            GtkWidget *row = gtk_list_box_row_new();
            char **parts = g_strsplit(m->ids->pdata[i], " ", 2);
            gtk_label_set_xalign(GTK_LABEL(l), 0);
            gtk_widget_add_css_class(l, "monospace");
            gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(row), l);
            g_object_set_data_full(G_OBJECT(row), "otf-job", g_strdup(parts[0]), g_free);
            g_object_set_data_full(G_OBJECT(row), "otf-phase", g_strdup(parts[1]), g_free);
            gtk_list_box_append(box, row);
            if (sel_id && strcmp(sel_id, parts[0]) == 0)
                gtk_list_box_select_row(box, GTK_LIST_BOX_ROW(row));
            g_strfreev(parts);
        }
    }
    g_free(sel_id);
    g_ptr_array_unref(m->lines);
    g_ptr_array_unref(m->ids);
    g_free(m);
    return G_SOURCE_REMOVE;
}

static gpointer list_thread(gpointer data)
{
    struct models_job *j = data; /* same fields: g and the connection */
    struct list_msg *m = g_new0(struct list_msg, 1);
    struct otf_client *c = NULL;
    struct otf_client_error e = {0};
    struct otf_client_job **jobs = NULL;
    struct otf_client_list_filter f = {0};
    size_t n = 0;
    enum otf_status st;

    m->g = j->g;
    m->lines = g_ptr_array_new_with_free_func(g_free);
    m->ids = g_ptr_array_new_with_free_func(g_free);
    f.last = 50;
    st = open_client(&j->cfg, &c, &e);
    if (st == OTF_OK)
        st = otf_client_list_jobs(c, &f, &jobs, &n, &e);
    if (st == OTF_OK) {
        m->ok = 1;
        for (size_t i = 0; i < n; i++) {
            char when[32] = "";
            const char *ph = otf_client_phase_name(jobs[i]->phase);
            if (jobs[i]->creation_us) {
                GDateTime *dt = g_date_time_new_from_unix_local(jobs[i]->creation_us / 1000000);
                char *s = dt ? g_date_time_format(dt, "%m-%d %H:%M:%S") : NULL;
                snprintf(when, sizeof when, "%s", s ? s : "");
                g_free(s);
                if (dt)
                    g_date_time_unref(dt);
            }
            g_ptr_array_add(m->lines, g_strdup_printf("%-14s %-10s %s %s", jobs[i]->id, ph, when,
                                                      jobs[i]->run_id ? jobs[i]->run_id : ""));
            g_ptr_array_add(m->ids, g_strdup_printf("%s %s", jobs[i]->id, ph));
        }
        post_text(j->g, 1, "%s", "");
    } else {
        post_text(j->g, 1, "%s: %s", why(st, &e), e.msg);
    }
    otf_client_job_array_free(jobs, n);
    otf_client_close(c);
    g_idle_add(list_idle, m);
    cfg_clear(&j->cfg);
    g_free(j);
    return NULL;
}

static gboolean poll_cb(gpointer data)
{
    struct otf_gui *g = data;
    struct models_job *j;
    if (!g->url || !g->url[0] || g->list_in_flight)
        return G_SOURCE_CONTINUE;
    g->list_in_flight = 1;
    j = g_new0(struct models_job, 1);
    j->g = g;
    cfg_copy(&j->cfg, g);
    g_thread_unref(g_thread_new("otf-gui-jobs", list_thread, j));
    return G_SOURCE_CONTINUE;
}

void otf_gui_jobs_start(struct otf_gui *g)
{
    g_signal_connect(g->jobs_box, "row-activated", G_CALLBACK(job_row_activated), g);
    otf_gui_refresh_models(g);
    poll_cb(g);
    if (!g->poll_source)
        g->poll_source = g_timeout_add(POLL_MS, poll_cb, g);
}

/* ---- submissions ---- */

static void sub_unref(struct otf_gui_sub *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        g_free(s);
}

struct sub_job {
    struct otf_gui *g;
    struct otf_gui_sub *sub;
    struct net_cfg cfg;
    char *path, *hdu, *model, *precision, *models_dir;
    int64_t roi[4];
    int has_roi;
    int index, count; /* image index and count of a multi-image submission */
    int64_t last_post_us;
};

struct state_msg {
    struct otf_gui *g;
    struct otf_gui_sub *sub;
    char *job_id, *phase, *text;
    double frac; /* < 0: pulse */
};

static gboolean state_idle(gpointer data)
{
    struct state_msg *m = data;
    struct otf_gui *g = m->g;
    if (m->sub == g->sub) {
        if (m->job_id) {
            g_free(g->job_id);
            g->job_id = g_strdup(m->job_id);
        }
        if (m->phase) {
            g_free(g->job_phase);
            g->job_phase = g_strdup(m->phase);
        }
        if (m->frac >= 0)
            gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(g->progress), m->frac);
        else
            gtk_progress_bar_pulse(GTK_PROGRESS_BAR(g->progress));
        gtk_progress_bar_set_text(GTK_PROGRESS_BAR(g->progress), m->text);
        if (g->job_id) {
            char *t = g_strdup_printf("job %s %s", g->job_id, g->job_phase ? g->job_phase : "");
            gtk_label_set_text(GTK_LABEL(g->job_label), t);
            g_free(t);
        }
        otf_gui_write_state(g);
    }
    sub_unref(m->sub);
    g_free(m->job_id);
    g_free(m->phase);
    g_free(m->text);
    g_free(m);
    return G_SOURCE_REMOVE;
}

static void post_state(struct sub_job *s, const char *job_id, const char *phase, double frac,
                       const char *fmt, ...) G_GNUC_PRINTF(5, 6);
static void post_state(struct sub_job *s, const char *job_id, const char *phase, double frac,
                       const char *fmt, ...)
{
    struct state_msg *m = g_new0(struct state_msg, 1);
    va_list ap;
    va_start(ap, fmt);
    m->g = s->g;
    m->sub = s->sub;
    atomic_fetch_add(&s->sub->refs, 1);
    m->job_id = g_strdup(job_id);
    m->phase = g_strdup(phase);
    m->frac = frac;
    m->text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_idle_add(state_idle, m);
}

struct result_msg {
    struct otf_gui *g;
    struct otf_gui_sub *sub;
    char *path, *hdu;
    struct otf_gui_catalog *cat;
    char *cat_file, *reg_file, *source;
};

static gboolean result_idle(gpointer data)
{
    struct result_msg *m = data;
    struct otf_gui *g = m->g;
    /* only a catalogue of the image on screen is drawn over it */
    if (g->path && strcmp(g->path, m->path) == 0) {
        size_t n = m->cat->n_rows;
        otf_gui_set_catalog(g, m->cat, m->cat_file, m->reg_file, m->source);
        m->cat = NULL;
        otf_gui_set_status(g, "%zu sources from %s", n, m->source);
    } else {
        otf_gui_set_status(g, "%s: %zu sources (not the image shown: open it to see them)",
                           m->source, m->cat->n_rows);
    }
    otf_gui_catalog_free(m->cat);
    sub_unref(m->sub);
    g_free(m->path);
    g_free(m->hdu);
    g_free(m->cat_file);
    g_free(m->reg_file);
    g_free(m->source);
    g_free(m);
    return G_SOURCE_REMOVE;
}

static void post_result(struct otf_gui *g, struct otf_gui_sub *sub, const char *path,
                        struct otf_gui_catalog *cat, const char *cat_file, const char *reg_file,
                        const char *source)
{
    struct result_msg *m = g_new0(struct result_msg, 1);
    m->g = g;
    m->sub = sub;
    if (sub)
        atomic_fetch_add(&sub->refs, 1);
    m->path = g_strdup(path);
    m->cat = cat;
    m->cat_file = g_strdup(cat_file);
    m->reg_file = g_strdup(reg_file);
    m->source = g_strdup(source);
    g_idle_add(result_idle, m);
}

/* Sleeps `secs` in short steps; returns nonzero when cancelled meanwhile. */
static int pause_s(struct otf_gui_sub *sub, int secs)
{
    for (int i = 0; i < secs * 10; i++) {
        if (sub && atomic_load(&sub->cancel))
            return 1;
        g_usleep(100000);
    }
    return sub && atomic_load(&sub->cancel);
}

static int upload_progress(void *user, int64_t done, int64_t total)
{
    struct sub_job *s = user;
    int64_t now = g_get_monotonic_time();
    if (atomic_load(&s->sub->cancel))
        return 1;
    if (now - s->last_post_us > 100000 || (total > 0 && done == total)) {
        s->last_post_us = now;
        post_state(s, NULL, NULL, total > 0 ? (double)done / (double)total : -1,
                   "uploading %d/%d: %.1f of %.1f MiB", s->index + 1, s->count,
                   (double)done / 1048576.0, (double)total / 1048576.0);
    }
    return 0;
}

/* Downloads the catalogue and regions of a completed job and reads the catalogue. */
static enum otf_status fetch_results(struct otf_client *c, const char *id,
                                     struct otf_gui_catalog **cat, char **cat_file, char **reg_file,
                                     struct otf_client_error *e)
{
    char *dir = g_build_filename(g_get_user_cache_dir(), "otf-gui", id, NULL);
    char *cf = g_build_filename(dir, "catalog.vot", NULL);
    char *rf = g_build_filename(dir, "regions.reg", NULL);
    struct otf_errbuf eb = {0};
    enum otf_status st;

    g_mkdir_with_parents(dir, 0700);
    st = otf_client_fetch_result(c, id, "catalog", cf, NULL, NULL, NULL, e);
    if (st == OTF_OK &&
        otf_client_fetch_result(c, id, "regions", rf, NULL, NULL, NULL, NULL) != OTF_OK) {
        g_free(rf);
        rf = NULL;
    }
    if (st == OTF_OK) {
        st = otf_gui_catalog_read_votable(cf, cat, &eb);
        if (st != OTF_OK) {
            e->code = st;
            snprintf(e->msg, sizeof e->msg, "catalogue: %.480s", eb.msg);
        }
    }
    if (st == OTF_OK) {
        *cat_file = cf;
        *reg_file = rf;
        cf = rf = NULL;
    }
    g_free(dir);
    g_free(cf);
    g_free(rf);
    return st;
}

static void run_remote(struct sub_job *s)
{
    struct otf_client *c = NULL;
    struct otf_client_error e = {0};
    struct otf_client_job *j = NULL;
    struct otf_client_param params[2];
    struct otf_client_submit sub = {0};
    char *id = NULL, roi_txt[96], hdu_txt[16];
    char *base = g_path_get_basename(s->path);
    enum otf_status st;
    int attempt = 0, aborted = 0;

    st = open_client(&s->cfg, &c, &e);
    if (st != OTF_OK) {
        post_state(s, NULL, "ERROR", 0, "%s", e.msg);
        goto out;
    }
    sub.image_path = s->path;
    sub.model = s->model;
    sub.precision = s->precision;
    sub.run_id = base;
    sub.run = 1;
    sub.progress = upload_progress;
    sub.progress_user = s;
    if (s->has_roi) {
        snprintf(roi_txt, sizeof roi_txt, "%lld,%lld,%lld,%lld", (long long)s->roi[0],
                 (long long)s->roi[1], (long long)s->roi[2], (long long)s->roi[3]);
        params[sub.n_params++] = (struct otf_client_param){"ROI", roi_txt};
    }
    if (s->hdu && s->hdu[0]) {
        snprintf(hdu_txt, sizeof hdu_txt, "%s", s->hdu);
        params[sub.n_params++] = (struct otf_client_param){"HDU", hdu_txt};
    }
    sub.params = params;
    for (;;) {
        st = otf_client_create_job(c, &sub, &id, &e);
        /* Only a 503/429 proves the job was not created; after a timeout or a broken
         * connection it may exist, so it is not created a second time (the job list shows). */
        if (st == OTF_OK || atomic_load(&s->sub->cancel) || st != OTF_E_BUSY)
            break;
        {
            int secs = attempt < 5 ? 1 << attempt : 30;
            attempt++;
            post_state(s, NULL, NULL, -1, "%s: retrying in %d s", why(st, &e), secs);
            post_text(s->g, 1, "%s (HTTP %d): %s — retrying in %d s", why(st, &e), e.http_status,
                      e.msg, secs);
            if (pause_s(s->sub, secs))
                break;
        }
    }
    if (st != OTF_OK || !id) {
        if (atomic_load(&s->sub->cancel))
            post_state(s, NULL, "ABORTED", 0, "upload cancelled");
        else
            post_state(s, NULL, "ERROR", 0, "%s: %s", base, e.msg);
        post_text(s->g, 0, "submission of %s failed: %s", base,
                  atomic_load(&s->sub->cancel) ? "cancelled" : e.msg);
        if (retryable(st) && !atomic_load(&s->sub->cancel))
            post_text(s->g, 1, "%s: %s", why(st, &e), e.msg);
        goto out;
    }
    post_text(s->g, 1, "%s", "");
    post_state(s, id, "QUEUED", 0, "job %s queued", id);
    attempt = 0;
    for (;;) {
        struct otf_client_job *nj = NULL;
        if (atomic_load(&s->sub->cancel) && !aborted) {
            st = otf_client_abort_job(c, id, &e);
            aborted = st == OTF_OK || st == OTF_E_STATE;
            if (!aborted && !retryable(st)) {
                post_state(s, id, NULL, -1, "abort refused: %s", e.msg);
                aborted = 1;
            }
        }
        st = otf_client_wait_job(c, id, WAIT_STEP_S, -1, &nj, &e);
        if (st != OTF_OK) {
            int secs = attempt < 5 ? 1 << attempt : 30;
            if (!retryable(st)) {
                post_state(s, id, "ERROR", 0, "%s", e.msg);
                goto out;
            }
            attempt++;
            post_text(s->g, 1, "%s: %s — retrying in %d s", why(st, &e), e.msg, secs);
            post_state(s, id, NULL, -1, "waiting for the server");
            pause_s(NULL, secs);
            continue;
        }
        attempt = 0;
        post_text(s->g, 1, "%s", "");
        otf_client_job_free(j);
        j = nj;
        {
            const char *ph = otf_client_phase_name(j->phase);
            if (j->patches_total > 0)
                post_state(s, id, ph, (double)j->patches_done / (double)j->patches_total,
                           "%s %s: %lld/%lld patches%s%s", id, ph, (long long)j->patches_done,
                           (long long)j->patches_total, j->stage ? ", " : "",
                           j->stage ? j->stage : "");
            else
                post_state(s, id, ph, -1, "%s %s%s%s", id, ph, j->stage ? ", " : "",
                           j->stage ? j->stage : "");
        }
        if (otf_client_phase_is_final(j->phase))
            break;
    }
    if (j->phase == OTF_CLIENT_PHASE_COMPLETED) {
        struct otf_gui_catalog *cat = NULL;
        char *cf = NULL, *rf = NULL, *source = g_strdup_printf("job %s", id);
        post_state(s, id, "COMPLETED", 1, "downloading the catalogue of %s", id);
        st = fetch_results(c, id, &cat, &cf, &rf, &e);
        if (st == OTF_OK) {
            post_state(s, id, "COMPLETED", 1, "%s: %zu sources", id, cat->n_rows);
            post_result(s->g, s->sub, s->path, cat, cf, rf, source);
        } else {
            post_state(s, id, "COMPLETED", 1, "results of %s: %s", id, e.msg);
        }
        g_free(cf);
        g_free(rf);
        g_free(source);
    } else if (j->phase == OTF_CLIENT_PHASE_ERROR) {
        post_state(s, id, "ERROR", 0, "%s failed: %s", id,
                   j->error_summary ? j->error_summary : "no error summary");
        post_text(s->g, 0, "job %s failed: %s", id,
                  j->error_summary ? j->error_summary : "no error summary");
    } else {
        post_state(s, id, otf_client_phase_name(j->phase), 0, "%s %s", id,
                   otf_client_phase_name(j->phase));
    }
out:
    otf_client_job_free(j);
    otf_client_close(c);
    free(id);
    g_free(base);
}

/* ---- the local pipeline (otf detect without a server) ---- */

static void local_progress(void *user, int64_t done, int64_t total, const char *stage)
{
    struct sub_job *s = user;
    if (strcmp(stage, "patches") == 0 && total > 0)
        post_state(s, NULL, "EXECUTING", (double)done / (double)total, "local: %lld/%lld patches",
                   (long long)done, (long long)total);
}

static int local_abort(void *user)
{
    struct sub_job *s = user;
    return atomic_load(&s->sub->cancel);
}

static enum otf_status write_outputs(const char *cf, const char *rf,
                                     const struct otf_detect_catalog *cat,
                                     const struct otf_formats_run_info *info, struct otf_errbuf *eb)
{
    struct otf_formats_file of;
    enum otf_status rc = otf_formats_file_open(&of, cf, eb);
    if (rc != OTF_OK)
        return rc;
    rc = otf_formats_write_votable(of.f, cat, info, OTF_FORMATS_TABLEDATA, eb);
    rc = rc == OTF_OK ? otf_formats_file_commit(&of, eb) : (otf_formats_file_abort(&of), rc);
    if (rc != OTF_OK)
        return rc;
    rc = otf_formats_file_open(&of, rf, eb);
    if (rc != OTF_OK)
        return rc;
    rc = otf_formats_write_ds9(of.f, cat, info, eb);
    return rc == OTF_OK ? otf_formats_file_commit(&of, eb) : (otf_formats_file_abort(&of), rc);
}

static void run_local(struct sub_job *s)
{
    const char *id_model = s->model + strlen(LOCAL_TAG);
    char *dir = g_build_filename(s->models_dir, id_model, NULL);
    struct otf_errbuf eb = {0};
    struct otf_model_manifest *man = NULL;
    struct otf_model_net *net = NULL;
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    struct otf_engine *eng = NULL;
    struct otf_detect_catalog *cat = NULL;
    struct otf_gui_catalog *gcat = NULL;
    struct otf_detect_config cfg;
    struct otf_detect_timings tm = {0};
    struct otf_fits_meta meta;
    enum otf_engine_precision prec;
    char job_id[32], hdu_txt[16], *cache = NULL, *cf = NULL, *rf = NULL, *source = NULL;
    char *base = g_path_get_basename(s->path);
    enum otf_status rc;
    int64_t t0 = otf_time_now_us();

    rc = otf_engine_precision_parse(s->precision ? s->precision : "fp32", &prec);
    if (rc != OTF_OK)
        prec = OTF_ENGINE_PRECISION_FP32;
    post_state(s, NULL, "EXECUTING", -1, "local: loading model %s", id_model);
    rc = otf_model_load_dir(dir, &man, &net, &eb);
    if (rc == OTF_OK)
        rc = otf_detect_config_from_model(man, net, &cfg, &eb);
    if (rc == OTF_OK)
        rc = otf_fits_open_image(s->path, s->hdu && s->hdu[0] ? s->hdu : NULL, &img, &eb);
    if (rc == OTF_OK && otf_fits_read_wcs(img, &wcs, NULL) != OTF_OK)
        wcs = NULL;
    if (rc == OTF_OK)
        rc = otf_fits_read_meta(img, &meta, &eb);
    if (rc == OTF_OK) {
        struct otf_engine_params ep;
        otf_engine_params_init(&ep);
        ep.precision = prec;
        ep.batch_max = 4;
        ep.in_w = cfg.patch_w;
        ep.in_h = cfg.patch_h;
        ep.in_d = 1;
        ep.input_bias = man->input_bias;
        rc = otf_engine_new(net, &ep, &eng, &eb);
    }
    if (rc == OTF_OK) {
        struct otf_detect_run_params rp = {0};
        rp.roi = s->has_roi ? s->roi : NULL;
        rp.batch = 4;
        rp.progress = local_progress;
        rp.abort = local_abort;
        rp.user = s;
        rc = otf_detect_run_image(eng, img, wcs, &cfg, &rp, &cat, &tm, &eb);
    }
    if (rc == OTF_OK) {
        struct otf_formats_run_info info = {0};
        char software[64];
        if (otf_random_id(job_id + 6, 12) != OTF_OK)
            snprintf(job_id + 6, sizeof job_id - 6, "%lld", (long long)t0);
        memcpy(job_id, "local-", 6);
        snprintf(hdu_txt, sizeof hdu_txt, "%d", otf_fits_image_info(img)->hdu_index);
        snprintf(software, sizeof software, "otf-gui %s", OTF_VERSION_STRING);
        info.job_id = job_id;
        info.model_id = man->id;
        info.model_sha256 = man->weights_sha256[0] ? man->weights_sha256 : NULL;
        info.input_name = base;
        info.hdu = hdu_txt;
        info.backend = otf_engine_backend_name(eng);
        info.winograd_layers = otf_engine_winograd_layers(eng);
        info.precision = otf_engine_precision_name(prec);
        info.software = software;
        info.start_us = t0;
        info.end_us = otf_time_now_us();
        info.timings = &tm;
        info.meta = &meta;
        cache = g_build_filename(g_get_user_cache_dir(), "otf-gui", job_id, NULL);
        g_mkdir_with_parents(cache, 0700);
        cf = g_build_filename(cache, "catalog.vot", NULL);
        rf = g_build_filename(cache, "regions.reg", NULL);
        rc = write_outputs(cf, rf, cat, &info, &eb);
    }
    if (rc == OTF_OK)
        rc = otf_gui_catalog_read_votable(cf, &gcat, &eb);
    if (rc == OTF_OK) {
        source = g_strdup_printf("local model %s", id_model);
        post_state(s, NULL, "COMPLETED", 1, "local: %zu sources in %.1f s", gcat->n_rows,
                   (double)tm.total_us / 1e6);
        post_result(s->g, s->sub, s->path, gcat, cf, rf, source);
    } else {
        int cancelled = atomic_load(&s->sub->cancel);
        post_state(s, NULL, cancelled ? "ABORTED" : "ERROR", 0, "local: %s",
                   cancelled ? "aborted" : eb.msg);
        post_text(s->g, 0, "local detection on %s: %s", base, cancelled ? "aborted" : eb.msg);
    }
    g_free(source);
    g_free(cache);
    g_free(cf);
    g_free(rf);
    g_free(base);
    g_free(dir);
    otf_detect_catalog_free(cat);
    otf_engine_free(eng);
    otf_fits_free_wcs(wcs);
    otf_fits_close_image(img);
    otf_model_net_free(net);
    otf_model_manifest_free(man);
}

struct sub_batch {
    GPtrArray *jobs; /* struct sub_job *, run one after another */
};

static gpointer submit_thread(gpointer data)
{
    struct sub_batch *b = data;
    for (guint i = 0; i < b->jobs->len; i++) {
        struct sub_job *s = b->jobs->pdata[i];
        if (!atomic_load(&s->sub->cancel)) {
            if (g_str_has_prefix(s->model, LOCAL_TAG))
                run_local(s);
            else
                run_remote(s);
        }
        sub_unref(s->sub);
        cfg_clear(&s->cfg);
        g_free(s->path);
        g_free(s->hdu);
        g_free(s->model);
        g_free(s->precision);
        g_free(s->models_dir);
        g_free(s);
    }
    g_ptr_array_unref(b->jobs);
    g_free(b);
    return NULL;
}

void otf_gui_submit(struct otf_gui *g, char **paths, int n, int use_roi)
{
    struct sub_batch *b;
    struct otf_gui_sub *sub;
    guint sel = gtk_drop_down_get_selected(GTK_DROP_DOWN(g->model_dd));
    const char *model =
        sel != GTK_INVALID_LIST_POSITION ? gtk_string_list_get_string(g->model_list, sel) : NULL;
    const char *prec = gtk_string_list_get_string(
        GTK_STRING_LIST(gtk_drop_down_get_model(GTK_DROP_DOWN(g->prec_dd))),
        gtk_drop_down_get_selected(GTK_DROP_DOWN(g->prec_dd)));

    if (n < 1) {
        otf_gui_set_status(g, "open an image first");
        return;
    }
    if (!model) {
        otf_gui_set_status(g, "no model: connect to a server or set a local models folder");
        return;
    }
    if (!g_str_has_prefix(model, LOCAL_TAG) && (!g->url || !g->url[0])) {
        otf_gui_set_status(g, "no server URL");
        return;
    }
    sub_unref(g->sub); /* an earlier submission keeps running; its progress is no longer shown */
    sub = g_new0(struct otf_gui_sub, 1);
    atomic_init(&sub->refs, 1);
    atomic_init(&sub->cancel, 0);
    g->sub = sub;
    g_free(g->job_id);
    g->job_id = NULL;
    g_free(g->job_phase);
    g->job_phase = g_strdup("SUBMITTING");
    g_free(g->model);
    g->model = g_strdup(model);
    g_free(g->precision);
    g->precision = g_strdup(prec);
    otf_gui_save_settings(g);
    b = g_new0(struct sub_batch, 1);
    b->jobs = g_ptr_array_new();
    for (int i = 0; i < n; i++) {
        struct sub_job *s = g_new0(struct sub_job, 1);
        s->g = g;
        s->sub = sub;
        atomic_fetch_add(&sub->refs, 1);
        cfg_copy(&s->cfg, g);
        s->path = g_strdup(paths[i]);
        /* the HDU and region drawn apply to the image on screen only */
        s->has_roi = use_roi && g->has_roi && g->path && strcmp(paths[i], g->path) == 0;
        if (s->has_roi)
            memcpy(s->roi, g->roi, sizeof s->roi);
        s->hdu = g->path && strcmp(paths[i], g->path) == 0 ? g_strdup(g->hdu) : NULL;
        s->model = g_strdup(model);
        s->precision = g_strdup(prec);
        s->models_dir = g_strdup(g->models_dir);
        s->index = i;
        s->count = n;
        g_ptr_array_add(b->jobs, s);
    }
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(g->progress), 0);
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(g->progress), "submitting");
    otf_gui_set_status(g, "submitting %d image%s with %s (%s)%s", n, n > 1 ? "s" : "", model, prec,
                       use_roi && g->has_roi ? ", region of interest" : "");
    otf_gui_write_state(g);
    g_thread_unref(g_thread_new("otf-gui-submit", submit_thread, b));
}

/* ---- abort, and results of a job from the list ---- */

struct one_job {
    struct otf_gui *g;
    struct net_cfg cfg;
    char *id, *path;
    int abort;
};

static gpointer one_job_thread(gpointer data)
{
    struct one_job *o = data;
    struct otf_client *c = NULL;
    struct otf_client_error e = {0};
    enum otf_status st = open_client(&o->cfg, &c, &e);
    if (st == OTF_OK && o->abort) {
        st = otf_client_abort_job(c, o->id, &e);
        post_text(o->g, 0, "job %s: %s", o->id, st == OTF_OK ? "abort requested" : e.msg);
    } else if (st == OTF_OK) {
        struct otf_gui_catalog *cat = NULL;
        char *cf = NULL, *rf = NULL, *source = g_strdup_printf("job %s", o->id);
        st = fetch_results(c, o->id, &cat, &cf, &rf, &e);
        if (st == OTF_OK)
            post_result(o->g, NULL, o->path ? o->path : "", cat, cf, rf, source);
        else
            post_text(o->g, 0, "results of %s: %s", o->id, e.msg);
        g_free(cf);
        g_free(rf);
        g_free(source);
    } else {
        post_text(o->g, 0, "%s: %s", why(st, &e), e.msg);
    }
    otf_client_close(c);
    cfg_clear(&o->cfg);
    g_free(o->id);
    g_free(o->path);
    g_free(o);
    return NULL;
}

static void start_one(struct otf_gui *g, const char *id, int abort)
{
    struct one_job *o = g_new0(struct one_job, 1);
    o->g = g;
    cfg_copy(&o->cfg, g);
    o->id = g_strdup(id);
    o->path = g_strdup(g->path);
    o->abort = abort;
    g_thread_unref(g_thread_new("otf-gui-job", one_job_thread, o));
}

void otf_gui_load_job(struct otf_gui *g, const char *job_id)
{
    otf_gui_set_status(g, "downloading the catalogue of job %s", job_id);
    start_one(g, job_id, 0);
}

void otf_gui_abort(struct otf_gui *g)
{
    GtkListBoxRow *row = gtk_list_box_get_selected_row(GTK_LIST_BOX(g->jobs_box));
    if (g->sub && g->job_phase && strcmp(g->job_phase, "COMPLETED") != 0 &&
        strcmp(g->job_phase, "ERROR") != 0 && strcmp(g->job_phase, "ABORTED") != 0) {
        atomic_store(&g->sub->cancel, 1);
        otf_gui_set_status(g, "aborting%s%s", g->job_id ? " job " : "", g->job_id ? g->job_id : "");
    } else if (row && g_object_get_data(G_OBJECT(row), "otf-job")) {
        start_one(g, g_object_get_data(G_OBJECT(row), "otf-job"), 1);
    } else {
        otf_gui_set_status(g, "nothing to abort");
    }
}
